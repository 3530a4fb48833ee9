"""The Parquet encoder (parquet/) proven by independent readers.

tests/tools/pq_matrix writes a deterministic set of files covering the matrix
and the edge cases of reference/parquet.md §7.4, each with the values it holds
(<name>.jsonl). Here every file is
  - read by pyarrow, DuckDB and polars and compared value by value;
  - taken apart byte by byte with an independent compact-Thrift decoder
    (tests/parquet/thrift_compact.py): exact field presence, offsets, sizes,
    every page header, encodings, encoding_stats, the page index;
  - checked against a brute-force recomputation of every statistic (chunk and
    page index), with the sort-order, NaN, ±0, truncation and exactness rules;
  - cross-checked with pyarrow's metadata and fastparquet's raw footer.
"""
import decimal
import functools
import json
import math
import pathlib
import struct
import subprocess
import sys

import duckdb
import fastparquet
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "parquet"))
import thrift_compact as tc  # noqa: E402

FILES = [
    "dict_required", "dict_nullable", "plain_required", "plain_nullable", "uncompressed",
    "many_pages", "small_pages", "row_groups", "all_null", "one_distinct", "special",
    "special_plain", "floats", "strings", "extremes", "decimals", "dates", "empty",
    "one_row", "lists", "long_lists", "wide", "big",
]

TRUNCATE = 64
PAGE_BYTES_DEFAULT = 1 << 20

# Thrift enum values.
PHYS = {"bool": 0, "int8": 1, "int16": 1, "int32": 1, "date": 1, "int64": 2, "timestamp": 2,
        "timestamp_ntz": 2, "float": 4, "double": 5, "string": 6, "json": 6, "binary": 6,
        "decimal": 7, "uuid": 7}
CONVERTED = {"string": 0, "int8": 15, "int16": 16, "decimal": 5, "date": 6, "timestamp": 10,
             "timestamp_ntz": 10, "json": 19}
ENC_PLAIN, ENC_RLE, ENC_RLE_DICTIONARY = 0, 3, 8
PT_DATA, PT_DICT = 0, 2


def decimal_bytes(precision):
    n = 1
    while math.floor(math.log10(2 ** (8 * n - 1) - 1)) < precision:
        n += 1
    return n


# ---------------------------------------------------------------------------
# The files and their expected values


@pytest.fixture(scope="session")
def matrix(tmp_path_factory):
    tool = ROOT / "zig-out" / "tools" / "pq_matrix"
    if not tool.exists():
        subprocess.run([str(ROOT / "scripts" / "zig"), "build", "tools"], cwd=ROOT, check=True)
    out = tmp_path_factory.mktemp("pq_matrix")
    r = subprocess.run([str(tool), str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == FILES
    return out


def scalar(col, v):
    """A value of the .jsonl file in canonical form."""
    if v is None:
        return None
    t = col["type"]
    if t in ("float", "double"):
        return float(v) if v in ("nan", "inf", "-inf") else float.fromhex(v)
    if t == "decimal":
        return int(v)
    if t in ("binary", "uuid"):
        return bytes.fromhex(v)
    return v


class Expected:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.header = json.loads(f.readline())
            raw = [json.loads(line) for line in f]
        self.columns = self.header["columns"]
        self.rows = [[self.canon(c, r[j]) for j, c in enumerate(self.columns)] for r in raw]
        assert len(self.rows) == self.header["rows"]

    @staticmethod
    def canon(col, v):
        if col["list"] and v is not None:
            return [scalar(col, e) for e in v]
        return scalar(col, v)

    def column(self, j):
        return [r[j] for r in self.rows]


@functools.lru_cache(maxsize=None)
def _load(path):
    return Expected(path)


def load(matrix, name):
    return _load(str(matrix / f"{name}.jsonl"))


def same(a, b):
    """Equality of canonical values: NaN equals NaN, -0.0 differs from +0.0."""
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(
            same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, float) and isinstance(b, float)):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b and type(a) is type(b)


def unscaled(d, scale):
    """The unscaled integer of a Decimal with `scale` digits after the point."""
    sign, digits, exp = d.as_tuple()
    n = int("".join(map(str, digits)) or "0")
    shift = exp + scale
    n = n * 10 ** shift if shift >= 0 else n // 10 ** (-shift)
    return -n if sign else n


def compare_column(reader, name, col, got, want):
    assert len(got) == len(want), f"{reader}: {name}: {len(got)} rows, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if not same(g, w):
            raise AssertionError(f"{reader}: column {name!r} row {i}: got {g!r}, expected {w!r}")


# ---------------------------------------------------------------------------
# Readers -> canonical values


def from_reader(col, v):
    if v is None:
        return None
    if col["list"]:
        return [from_reader_scalar(col, e) for e in v]
    return from_reader_scalar(col, v)


def from_reader_scalar(col, v):
    if v is None:
        return None
    t = col["type"]
    if t == "decimal":
        return unscaled(v, col["scale"])
    if t == "uuid" and not isinstance(v, bytes):
        return v.bytes  # DuckDB's uuid.UUID
    if t == "json" and isinstance(v, bytes):
        return v.decode("utf-8")  # polars reads JSON as binary
    return v


def plain_arrow_type(t):
    """Arrow type with timestamps and dates as integers (exact, no datetime)."""
    if pa.types.is_timestamp(t):
        return pa.int64()
    if pa.types.is_date32(t):
        return pa.int32()
    if pa.types.is_list(t):
        return pa.list_(pa.field("element", plain_arrow_type(t.value_type), t.value_field.nullable))
    return t


def read_pyarrow(path, exp):
    t = pq.read_table(path, arrow_extensions_enabled=False)
    assert t.num_rows == len(exp.rows)
    assert t.column_names == [c["name"] for c in exp.columns]
    out = []
    for j, col in enumerate(exp.columns):
        arr = t.column(j)
        arr = arr.cast(plain_arrow_type(arr.type))
        out.append([from_reader(col, v) for v in arr.to_pylist()])
    return out


def duck_expr(col):
    n = '"' + col["name"] + '"'
    t = col["type"]
    conv = None
    if t in ("timestamp", "timestamp_ntz"):
        conv = "epoch_us({})"
    elif t == "date":
        conv = "({} - DATE '1970-01-01')"
    if conv is None:
        return n
    if col["list"]:
        return f"list_transform({n}, lambda x: {conv.format('x')})"
    return conv.format(n)


def read_duckdb(path, exp):
    con = duckdb.connect()
    cols = ", ".join(duck_expr(c) for c in exp.columns)
    rows = con.execute(
        f"SELECT {cols} FROM read_parquet(?, file_row_number=true) ORDER BY file_row_number",
        [str(path)]).fetchall()
    con.close()
    assert len(rows) == len(exp.rows)
    return [[from_reader(c, r[j]) for r in rows] for j, c in enumerate(exp.columns)]


def read_polars(path, exp):
    df = pl.read_parquet(path)
    assert df.height == len(exp.rows)
    out = []
    for col in exp.columns:
        s = df[col["name"]]
        if col["type"] in ("timestamp", "timestamp_ntz", "date"):
            target = pl.Int32 if col["type"] == "date" else pl.Int64
            s = s.list.eval(pl.element().cast(target)) if col["list"] else s.cast(target)
        out.append([from_reader(col, v) for v in s.to_list()])
    return out


@pytest.mark.parametrize("reader", ["pyarrow", "duckdb", "polars"])
@pytest.mark.parametrize("name", FILES)
def test_values(matrix, name, reader):
    exp = load(matrix, name)
    path = matrix / f"{name}.parquet"
    got = {"pyarrow": read_pyarrow, "duckdb": read_duckdb, "polars": read_polars}[reader](path, exp)
    for j, col in enumerate(exp.columns):
        compare_column(reader, name, col, got[j], exp.column(j))


# ---------------------------------------------------------------------------
# Brute-force statistics


def plain(col, v):
    t = col["type"]
    if t == "bool":
        return bytes([1 if v else 0])
    if t in ("int8", "int16", "int32", "date"):
        return struct.pack("<i", v)
    if t in ("int64", "timestamp", "timestamp_ntz"):
        return struct.pack("<q", v)
    if t == "float":
        return struct.pack("<f", v)
    if t == "double":
        return struct.pack("<d", v)
    if t == "decimal":
        return v.to_bytes(decimal_bytes(col["precision"]), "big", signed=True)
    if t in ("string", "json"):
        return v.encode("utf-8")
    return v  # binary, uuid


def sort_key(col, v):
    t = col["type"]
    if t in ("string", "json"):
        return v.encode("utf-8")
    return v  # numbers, bools and bytes compare in their sort order


def truncate_min(b, utf8):
    if len(b) <= TRUNCATE:
        return b
    k = TRUNCATE
    if utf8:
        while k > 0 and (b[k] & 0xC0) == 0x80:
            k -= 1
    return b[:k]


def truncate_max(b, utf8):
    """The smallest-effort upper bound of at most TRUNCATE bytes, or None."""
    if len(b) <= TRUNCATE:
        return b
    if utf8:
        k = TRUNCATE
        while k > 0 and (b[k] & 0xC0) == 0x80:
            k -= 1
        s = b[:k].decode("utf-8")
        for i in range(len(s) - 1, -1, -1):
            cp = ord(s[i]) + 1
            if cp == 0xD800:
                cp = 0xE000
            if cp > 0x10FFFF:
                continue
            cand = s[:i].encode("utf-8") + chr(cp).encode("utf-8")
            if len(cand) <= TRUNCATE:
                return cand
        return None
    p = bytearray(b[:TRUNCATE])
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


def bounds(col, values):
    """Expected (min, max, min_exact, max_exact, nan_count) of non-null values;
    min/max None when none is written."""
    t = col["type"]
    nans = 0
    if t in ("float", "double"):
        nans = sum(1 for v in values if math.isnan(v))
        values = [v for v in values if not math.isnan(v)]
    if not values:
        return None, None, None, None, nans
    lo = min(values, key=lambda v: sort_key(col, v))
    hi = max(values, key=lambda v: sort_key(col, v))
    if t in ("float", "double"):
        if lo == 0:
            lo = -0.0
        if hi == 0:
            hi = 0.0
    lo_b, hi_b = plain(col, lo), plain(col, hi)
    if t in ("string", "json", "binary"):
        utf8 = t != "binary"
        hi_t = truncate_max(hi_b, utf8)
        if hi_t is None:
            return None, None, None, None, nans
        lo_t = truncate_min(lo_b, utf8)
        return lo_t, hi_t, lo_t == lo_b, hi_t == hi_b, nans
    return lo_b, hi_b, True, True, nans


def leaf_slots(col, cells):
    """The leaf slots of some cells: None for a slot without a value (null,
    empty or null list, null element), else the value."""
    out = []
    for v in cells:
        if not col["list"]:
            out.append(v)
        elif v is None or len(v) == 0:
            out.append(None)
        else:
            out.extend(v)
    return out


def cmp_plain(col, a, b):
    """Compares two PLAIN stat values in the column's order."""
    t = col["type"]
    fmt = {"int8": "<i", "int16": "<i", "int32": "<i", "date": "<i", "int64": "<q",
           "timestamp": "<q", "timestamp_ntz": "<q", "float": "<f", "double": "<d"}.get(t)
    if fmt:
        x, y = struct.unpack(fmt, a)[0], struct.unpack(fmt, b)[0]
    elif t == "decimal":
        x, y = int.from_bytes(a, "big", signed=True), int.from_bytes(b, "big", signed=True)
    else:
        x, y = a, b
    return (x > y) - (x < y)


# ---------------------------------------------------------------------------
# The footer, byte by byte


def schema_elements_expected(exp):
    els = [{4: b"schema", 5: len(exp.columns)}]
    for c in exp.columns:
        leaf = {1: PHYS[c["type"]], 4: b"element" if c["list"] else c["name"].encode()}
        if c["type"] in ("decimal", "uuid"):
            leaf[2] = 16 if c["type"] == "uuid" else decimal_bytes(c["precision"])
        optional = c["element_nullable"] if c["list"] else c["nullable"]
        leaf[3] = 1 if optional else 0
        if c["type"] in CONVERTED:
            leaf[6] = CONVERTED[c["type"]]
        if c["type"] == "decimal":
            leaf[7], leaf[8] = c["scale"], c["precision"]
        logical = {
            "string": {1: {}}, "int8": {10: {1: 8, 2: True}}, "int16": {10: {1: 16, 2: True}},
            "decimal": {5: {1: c["scale"], 2: c["precision"]}}, "date": {6: {}},
            "timestamp": {8: {1: True, 2: {2: {}}}}, "timestamp_ntz": {8: {1: False, 2: {2: {}}}},
            "json": {12: {}}, "uuid": {14: {}},
        }.get(c["type"])
        if logical is not None:
            leaf[10] = logical
        if c["list"]:
            els.append({3: 1 if c["nullable"] else 0, 4: c["name"].encode(), 5: 1, 6: 3, 10: {3: {}}})
            els.append({3: 2, 4: b"list", 5: 1})
        els.append(leaf)
    return els


def walk_chunk(data, start, size, codec):
    """Parses every page of a chunk; returns the list of (offset, header, header
    length)."""
    pages = []
    pos = start
    while pos < start + size:
        h, end = tc.decode_struct(data, pos)
        hlen = end - pos
        assert set(h) >= {1, 2, 3}, h
        if codec == 0:
            assert h[2] == h[3]
        pages.append((pos, h, hlen))
        pos = end + h[3]
    assert pos == start + size, f"pages end at {pos}, chunk at {start + size}"
    return pages


@pytest.mark.parametrize("name", FILES)
def test_footer(matrix, name):
    exp = load(matrix, name)
    hdr = exp.header
    data = (matrix / f"{name}.parquet").read_bytes()
    fmd, footer_start = tc.footer(data)
    ncols = len(exp.columns)
    page_bytes_max = hdr.get("page_bytes_max") or PAGE_BYTES_DEFAULT

    assert set(fmd) == {1, 2, 3, 4, 6, 7}
    assert fmd[1] == 1
    assert fmd[3] == len(exp.rows)
    assert fmd[6] == hdr["created_by"].encode()
    assert fmd[7] == [{1: {}}] * ncols and fmd[7].etype == tc.STRUCT
    assert fmd[2] == schema_elements_expected(exp)

    rgs = fmd[4]
    if not exp.rows:
        assert rgs == [] and footer_start == 4
        return
    assert sum(rg[3] for rg in rgs) == len(exp.rows)
    assert max(rg[3] for rg in rgs) <= hdr["row_group_rows_max"]

    pos = 4
    row0 = 0
    ci_list, oi_list = [], []
    for g, rg in enumerate(rgs):
        assert set(rg) == {1, 2, 3, 5, 6, 7}
        assert rg[7] == g and rg[3] > 0 and rg[5] == pos
        rows = exp.rows[row0:row0 + rg[3]]
        assert len(rg[1]) == ncols
        for j, (cc, col) in enumerate(zip(rg[1], exp.columns)):
            where = f"row group {g} column {col['name']!r}"
            assert set(cc) in ({2, 3, 4, 5}, {2, 3, 4, 5, 6, 7}), where
            assert cc[2] == 0
            md = cc[3]
            has_dict = 11 in md
            assert set(md) == {1, 2, 3, 4, 5, 6, 7, 9, 12, 13} | ({11} if has_dict else set()), where
            assert md[1] == PHYS[col["type"]]
            assert md[3] == ([col["name"].encode(), b"list", b"element"] if col["list"] else [col["name"].encode()])
            assert md[4] == hdr["codec"]
            start = md[11] if has_dict else md[9]
            assert start == pos, where
            if has_dict:
                assert 0 < md[11] < md[9]
            if col["expect_dict"] == 1:
                assert has_dict, where
            if col["expect_dict"] == 0 or col["type"] == "bool":
                assert not has_dict, where

            pages = walk_chunk(data, start, md[7], hdr["codec"])
            dict_pages = [p for p in pages if p[1][1] == PT_DICT]
            data_pages = [p for p in pages if p[1][1] == PT_DATA]
            assert len(dict_pages) + len(data_pages) == len(pages)
            if has_dict:
                assert len(dict_pages) == 1 and pages[0][0] == md[11]
                dh = pages[0][1]
                assert set(dh) == {1, 2, 3, 7} and set(dh[7]) == {1, 2} and dh[7][2] == ENC_PLAIN
            else:
                assert not dict_pages
            assert data_pages[0][0] == md[9]
            for off, h, hlen in data_pages:
                assert set(h) == {1, 2, 3, 5}, where  # no page-header statistics
                assert set(h[5]) == {1, 2, 3, 4}
                assert h[5][2] == (ENC_RLE_DICTIONARY if has_dict else ENC_PLAIN)
                assert h[5][3] == ENC_RLE and h[5][4] == ENC_RLE
                assert h[2] <= page_bytes_max + 16384, f"{where}: page of {h[2]} bytes"
            assert sum(h[5][1] for _, h, _ in data_pages) == md[5]
            assert sum(hl + h[2] for _, h, hl in pages) == md[6]
            assert sum(hl + h[3] for _, h, hl in pages) == md[7]
            assert sorted(md[2]) == sorted([ENC_PLAIN, ENC_RLE] + ([ENC_RLE_DICTIONARY] if has_dict else []))
            want_es = ([{1: PT_DICT, 2: ENC_PLAIN, 3: 1}] if has_dict else []) + [
                {1: PT_DATA, 2: ENC_RLE_DICTIONARY if has_dict else ENC_PLAIN, 3: len(data_pages)}]
            assert md[13] == want_es, where

            slots = leaf_slots(col, [r[j] for r in rows])
            assert md[5] == len(slots)
            check_statistics(col, md[12], slots, where)

            oi_list.append((cc[4], cc[5], col, rows, j, data_pages, where))
            if 6 in cc:
                ci_list.append((cc[6], cc[7], col, rows, j, data_pages, where))
            pos = start + md[7]
        assert sum(cc[3][7] for cc in rg[1]) == rg[6]
        assert sum(cc[3][6] for cc in rg[1]) == rg[2]
        row0 += rg[3]

    # The page index: every ColumnIndex, then every OffsetIndex, then the footer.
    for off, length, *_ in ci_list + oi_list:
        assert off == pos, "page index structures are not contiguous"
        pos += length
    assert pos == footer_start
    for off, length, col, rows, j, data_pages, where in oi_list:
        page_rows = check_offset_index(data, off, length, rows, data_pages, where, hdr["page_rows_max"])
        ci = [c for c in ci_list if c[0] is not None and c[6] == where]
        check_column_index(data, ci[0] if ci else None, col, rows, j, page_rows, where)


def check_statistics(col, st, slots, where):
    values = [v for v in slots if v is not None]
    lo, hi, lo_exact, hi_exact, nans = bounds(col, values)
    keys = {3}
    if lo is not None:
        keys |= {5, 6, 7, 8}
        if PHYS[col["type"]] in (1, 2, 4, 5):
            keys |= {1, 2}
    if col["type"] in ("float", "double"):
        keys |= {9}
    assert set(st) == keys, f"{where}: statistics fields {sorted(st)}, expected {sorted(keys)}"
    assert st[3] == len(slots) - len(values), where
    if lo is not None:
        assert st[6] == lo and st[5] == hi, f"{where}: min/max {st[6]!r}/{st[5]!r}, expected {lo!r}/{hi!r}"
        assert st[8] == lo_exact and st[7] == hi_exact, where
        if 1 in keys:
            assert st[2] == lo and st[1] == hi
    if 9 in keys:
        assert st[9] == nans, where


def check_offset_index(data, off, length, rows, data_pages, where, page_rows_max):
    oi, end = tc.decode_struct(data, off)
    assert end - off == length
    assert set(oi) == {1}
    locs = oi[1]
    assert len(locs) == len(data_pages), where
    for loc, (poff, h, hlen) in zip(locs, data_pages):
        assert set(loc) == {1, 2, 3}
        assert loc[1] == poff and loc[2] == hlen + h[3], where
    firsts = [loc[3] for loc in locs]
    assert firsts[0] == 0 and all(a < b for a, b in zip(firsts, firsts[1:])), where
    bounds_ = firsts + [len(rows)]
    page_rows = [(bounds_[i], bounds_[i + 1]) for i in range(len(locs))]
    assert all(b - a <= page_rows_max for a, b in page_rows), where
    return page_rows


def check_column_index(data, ci_entry, col, rows, j, page_rows, where):
    pages = []
    can_index = True
    for a, b in page_rows:
        slots = leaf_slots(col, [r[j] for r in rows[a:b]])
        values = [v for v in slots if v is not None]
        lo, hi, *_ = bounds(col, values)
        if values and lo is None:
            can_index = False  # an all-NaN page, or no bound fits
        pages.append((not values, lo or b"", hi or b"", len(slots) - len(values)))
    if not can_index:
        assert ci_entry is None, f"{where}: a ColumnIndex for a chunk with a page without bounds"
        return
    assert ci_entry is not None, f"{where}: no ColumnIndex"
    off, length = ci_entry[0], ci_entry[1]
    ci, end = tc.decode_struct(data, off)
    assert end - off == length
    assert set(ci) == {1, 2, 3, 4, 5}
    assert ci[1].etype == 1 and set(ci[1].raw_bools) <= {1, 2}, "list<bool> must be type 1 with 1/2 bytes"
    assert list(ci[1]) == [p[0] for p in pages], where
    assert list(ci[2]) == [p[1] for p in pages], where
    assert list(ci[3]) == [p[2] for p in pages], where
    assert list(ci[5]) == [p[3] for p in pages], where
    nonnull = [p for p in pages if not p[0]]
    asc = all(cmp_plain(col, a[1], b[1]) <= 0 and cmp_plain(col, a[2], b[2]) <= 0
              for a, b in zip(nonnull, nonnull[1:]))
    desc = all(cmp_plain(col, a[1], b[1]) >= 0 and cmp_plain(col, a[2], b[2]) >= 0
               for a, b in zip(nonnull, nonnull[1:]))
    assert ci[4] == (1 if asc else 2 if desc else 0), where


# ---------------------------------------------------------------------------
# The same facts through pyarrow's and fastparquet's metadata


def raw_stat(col, b):
    """A PLAIN stat value as pyarrow's min_raw/max_raw shows it."""
    t = col["type"]
    if t == "bool":
        return bool(b[0])
    if PHYS[t] == 1:
        return struct.unpack("<i", b)[0]
    if PHYS[t] == 2:
        return struct.unpack("<q", b)[0]
    if t == "float":
        return struct.unpack("<f", b)[0]
    if t == "double":
        return struct.unpack("<d", b)[0]
    return b


@pytest.mark.parametrize("name", FILES)
def test_pyarrow_metadata(matrix, name):
    exp = load(matrix, name)
    path = matrix / f"{name}.parquet"
    data = path.read_bytes()
    fmd, _ = tc.footer(data)
    md = pq.ParquetFile(path).metadata
    assert md.created_by == exp.header["created_by"]
    assert md.format_version == "1.0"
    assert md.num_rows == len(exp.rows)
    assert md.num_row_groups == len(fmd[4])
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        raw = fmd[4][g]
        assert rg.num_rows == raw[3] and rg.total_byte_size == raw[2]
        for j, col in enumerate(exp.columns):
            c = rg.column(j)
            m = raw[1][j][3]
            assert c.data_page_offset == m[9]
            assert c.has_dictionary_page == (11 in m)
            assert c.dictionary_page_offset == m.get(11)
            assert c.total_compressed_size == m[7] and c.total_uncompressed_size == m[6]
            assert c.num_values == m[5]
            assert c.has_offset_index
            assert c.has_column_index == (6 in raw[1][j])
            assert c.compression == ("ZSTD" if exp.header["codec"] == 6 else "UNCOMPRESSED")
            st = c.statistics
            assert st is not None and st.null_count == m[12][3]
            assert st.has_min_max == (5 in m[12]), f"{name}: {col['name']}"
            if st.has_min_max:
                want_min, want_max = raw_stat(col, m[12][6]), raw_stat(col, m[12][5])
                assert same(st.min_raw, want_min) and same(st.max_raw, want_max), col["name"]


@pytest.mark.parametrize("name", FILES)
def test_fastparquet_footer(matrix, name):
    exp = load(matrix, name)
    path = matrix / f"{name}.parquet"
    fmd = fastparquet.ParquetFile(str(path)).fmd
    assert fmd.version == 1
    created_by = fmd.created_by.decode() if isinstance(fmd.created_by, bytes) else fmd.created_by
    assert created_by == exp.header["created_by"]
    assert fmd.num_rows == len(exp.rows)
    assert len(fmd.column_orders) == len(exp.columns)
    assert all(o.TYPE_ORDER is not None for o in fmd.column_orders)
    assert fmd.key_value_metadata is None
    for rg in fmd.row_groups:
        assert rg.file_offset is not None and rg.total_compressed_size is not None
        assert rg.ordinal is not None and rg.num_rows > 0
        for cc, col in zip(rg.columns, exp.columns):
            assert cc.file_offset == 0 and cc.file_path is None
            m = cc.meta_data
            assert m is not None and m.encoding_stats is not None
            assert m.statistics is not None and m.statistics.null_count is not None
            assert m.index_page_offset is None
            if col["type"] in ("string", "json", "binary", "uuid", "decimal", "bool"):
                assert m.statistics.min is None and m.statistics.max is None
            assert cc.offset_index_offset is not None
    if exp.rows:
        # fastparquet decodes PLAIN and dictionary data of flat columns itself.
        flat = [c["name"] for c in exp.columns if not c["list"] and c["type"] in ("int32", "int64", "double", "string")]
        if flat:
            df = fastparquet.ParquetFile(str(path)).to_pandas(columns=flat)
            assert len(df) == len(exp.rows)


# ---------------------------------------------------------------------------
# The edge cases really occur (a matrix that never reaches them proves nothing)


def page_body(data, off, h, hlen, codec):
    body = data[off + hlen:off + hlen + h[3]]
    if codec == 6:
        return pa.Codec("zstd").decompress(body, decompressed_size=h[2]).to_pybytes()
    return bytes(body)


def uleb(b, i):
    n = shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift
        i += 1
        if b[i - 1] < 0x80:
            return n, i
        shift += 7


def test_matrix_coverage(matrix):
    seen = set()
    for name in FILES:
        exp = load(matrix, name)
        data = (matrix / f"{name}.parquet").read_bytes()
        fmd, _ = tc.footer(data)
        seen.add("empty file" if not fmd[4] else "row groups")
        if len(fmd[4]) > 5:
            seen.add("many row groups")
        for rg in fmd[4]:
            for cc, col in zip(rg[1], exp.columns):
                md = cc[3]
                st = md[12]
                if 6 not in cc:
                    seen.add("no column index")
                if 5 in st and (not st[7] or not st[8]):
                    seen.add("truncated inexact " + col["type"])
                if 5 not in st and col["type"] in ("string", "binary") and st[3] < md[5]:
                    seen.add("omitted " + col["type"] + " bounds")
                if st.get(9):
                    seen.add("nan_count")
                if col["type"] in ("float", "double") and 6 in st and st[6] == plain(col, -0.0):
                    seen.add("-0.0 min")
                if st[3] == md[5]:
                    seen.add("all null chunk")
                pages = walk_chunk(data, md.get(11, md[9]), md[7], md[4])
                if len(pages) > 5:
                    seen.add("many pages")
                seen.add("dictionary" if 11 in md else "plain")
                if 11 not in md or col["list"] or col["nullable"]:
                    continue
                for off, h, hlen in pages:
                    if h[1] != PT_DATA:
                        continue
                    body = page_body(data, off, h, hlen, md[4])
                    if body[0] == 0:
                        # bit width 0: still one RLE run header for every value
                        run, end = uleb(body, 1)
                        assert run == h[5][1] << 1 and end == len(body), name
                        seen.add("bit width 0")
    want = {"empty file", "row groups", "many row groups", "no column index",
            "truncated inexact string", "truncated inexact binary", "omitted string bounds",
            "omitted binary bounds", "nan_count", "-0.0 min", "all null chunk", "many pages",
            "dictionary", "plain", "bit width 0"}
    assert want <= seen, f"never reached: {sorted(want - seen)}"
