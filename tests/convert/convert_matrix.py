"""Generated tables for the cross-reader suite of `lakewriter convert`
(tests/integration/test_convert_matrix.py).

Each file spec is a table (columns, [parquet] settings, metadata columns) and a
deterministic list of rows in canonical form. `write_case` writes

  <name>.toml     a config holding only that table and [parquet]
  <name>.input    JSON lines: each value in one of the forms docs/data-contract.md
                  accepts, chosen at random (numbers as numbers or strings, decimals
                  with extra zeros or exponents, timestamps with offsets, fractions
                  of 0..9 digits or as epoch numbers in the table's unit, escaped
                  or raw UTF-8, base64 with or without padding, null or a missing
                  key for null, ...), plus blank lines and unknown keys

and `expected_file` writes <name>.jsonl in the format of tests/tools/pq_matrix (a
header with the columns and writer options, then one row of canonical values per
line), so that the encoder's suite (tests/integration/test_parquet_matrix.py) can
check the converted file: values through pyarrow, DuckDB and polars, the footer
byte by byte, brute-force statistics, the page index, fastparquet's raw footer.

Canonical values: ints; floats (exactly representable in the column's width);
decimals as the unscaled int; dates as days and timestamps as microseconds since
1970-01-01 (UTC for `timestamp`); uuid and binary as bytes; json as its text;
lists as Python lists; None for null.
"""
import base64
import datetime as dt
import json
import math
import random
import struct
from decimal import Decimal

EPOCH = dt.datetime(1970, 1, 1)
DAY_US = 86_400_000_000
TS_MIN = -719162 * DAY_US                  # 0001-01-01T00:00:00
TS_MAX = 2932897 * DAY_US - 1              # 9999-12-31T23:59:59.999999
DATE_MIN, DATE_MAX = -719162, 2932896
UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


# ---------------------------------------------------------------------------
# Columns

class Col:
    def __init__(self, name, type_, gen, nullable=True, list_=False, precision=0, scale=0, expect_dict=-1,
                 null_pct=0):
        self.name, self.type, self.gen = name, type_, gen
        self.nullable, self.list = nullable, list_
        self.precision, self.scale = precision, scale
        self.expect_dict = expect_dict
        self.null_pct = null_pct if nullable else 0

    def type_text(self):
        t = f"decimal({self.precision},{self.scale})" if self.type == "decimal" else self.type
        if self.list:
            t = f"list<{t}>"
        return t + ("" if self.nullable else " not null")

    def header(self):
        return {"name": self.name, "type": self.type, "nullable": self.nullable, "list": self.list,
                "element_nullable": self.list, "precision": self.precision, "scale": self.scale,
                "expect_dict": self.expect_dict}


def f32(x):
    """x rounded to the nearest float32, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# ---------------------------------------------------------------------------
# Value generators: (rng, row index) -> canonical value

def ints(bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def g(rng, i):
        r = rng.random()
        if r < 0.15:
            return rng.choice([lo, hi, lo + 1, hi - 1, 0, -1, 1])
        if r < 0.5:
            return rng.randint(max(lo, -1000), min(hi, 1000))
        return rng.randint(lo, hi)
    return g


def floats(width):
    special = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0]
    if width == 32:
        special += [f32(3.4028234663852886e38), f32(-3.4028234663852886e38), f32(1.401298464324817e-45),
                    f32(1.1754943508222875e-38), f32(0.1)]
    else:
        special += [1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, 0.1]

    def g(rng, i):
        r = rng.random()
        if r < 0.15:
            return rng.choice(special)
        v = rng.uniform(-1e6, 1e6) if r < 0.6 else rng.choice([-1, 1]) * 10 ** rng.uniform(-30, 30)
        return f32(v) if width == 32 else v
    return g


def decimals(p, s):
    top = 10 ** p - 1

    def g(rng, i):
        r = rng.random()
        if r < 0.15:
            return rng.choice([top, -top, 0, 1, -1, 10 ** s if s < p else 1])
        if r < 0.5:
            small = 10 ** min(p, 6) - 1
            return rng.randint(-small, small)
        return rng.randint(-top, top)
    return g


def dates(rng, i):
    r = rng.random()
    if r < 0.1:
        return rng.choice([DATE_MIN, DATE_MAX, 0, -1, 11016, 19782])   # 2000-02-29, 2024-02-29
    if r < 0.4:
        return rng.randint(-40000, -1)                                  # before 1970
    return rng.randint(DATE_MIN, DATE_MAX)


def timestamps(rng, i):
    r = rng.random()
    if r < 0.1:
        return rng.choice([TS_MIN, TS_MAX, 0, -1, 1, -DAY_US, 951782400 * 1_000_000])
    if r < 0.4:
        return rng.randint(-2_000_000_000_000_000, -1)                 # before 1970
    if r < 0.6:
        return rng.randint(TS_MIN, TS_MAX)
    return 1_790_000_000_000_000 + rng.randint(0, 86_400_000_000)


def strings(rng, i):
    r = rng.random()
    if r < 0.1:
        return ""
    if r < 0.2:
        # longer than 64 bytes, with a multibyte character across byte 64
        return "a" * rng.randint(60, 64) + "é寿😀" + "z" * rng.randint(0, 30)
    if r < 0.25:
        return "\U0010ffff" * rng.randint(17, 20)                       # max cannot be incremented
    if r < 0.3:
        return "nul\x00tab\tquote\"back\\slash/\x7f\x01"
    alphabet = "abcXYZ09 _-éüßçπ寿司😀\u2028"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))


def low_card(values):
    return lambda rng, i: rng.choice(values)


def uuids(rng, i):
    return rng.getrandbits(128).to_bytes(16, "big")


def binaries(rng, i):
    r = rng.random()
    if r < 0.1:
        return b""
    if r < 0.15:
        return b"\xff" * rng.randint(65, 80)
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 90)))


JSON_SAMPLES = ['{"a": [1, 2.50]}', '"text"', '12', 'true', 'false', '[]', '{}', '{"k": {"n": null}}',
                '-0.5e-3', '"caf\\u00e9"', '[ 1 , "x" ]', '"寿司"']


def jsons(rng, i):
    if rng.random() < 0.3:
        return json.dumps({"i": i, "tag": rng.choice(["red", "blue"]), "v": rng.randint(-9, 9)})
    return rng.choice(JSON_SAMPLES)


def bools(rng, i):
    return rng.random() < 0.3


def lists_of(gen, max_len=5):
    def g(rng, i):
        n = rng.choice([0, 0, 1, 2, 3, max_len])
        return [None if rng.random() < 0.15 else gen(rng, i) for _ in range(n)]
    return g


def constant(v):
    return lambda rng, i: v


# ---------------------------------------------------------------------------
# JSON forms of canonical values

def enc_string(rng, v):
    return json.dumps(v, ensure_ascii=rng.random() < 0.5)


def enc_int(rng, v):
    r = rng.random()
    if r < 0.2:
        return f'"{v}"'
    if r < 0.3:
        return f"{v}.0"
    if r < 0.4 and v != 0 and v % 100 == 0:
        return f"{v // 100}e2"
    if r < 0.45 and v != 0:
        return f"{v}00e-2"
    return str(v)


def enc_float(rng, v, width):
    if math.isnan(v):
        return '"NaN"'
    if math.isinf(v):
        return '"Infinity"' if v > 0 else '"-Infinity"'
    text = repr(v)
    if rng.random() < 0.2:
        return f'"{text}"'
    return text


def decimal_text(u, scale, extra_zeros=0):
    sign = "-" if u < 0 else ""
    digits = str(abs(u)).rjust(scale + 1, "0")
    if scale == 0:
        return sign + digits + ("." + "0" * extra_zeros if extra_zeros else "")
    return sign + digits[:-scale] + "." + digits[-scale:] + "0" * extra_zeros


def enc_decimal(rng, u, scale):
    r = rng.random()
    if r < 0.2:
        return '"' + decimal_text(u, scale) + '"'
    if r < 0.35:
        return decimal_text(u, scale, extra_zeros=rng.randint(1, 3))
    if r < 0.5:
        return f"{u}e-{scale}" if scale else f"{u}e0"
    if r < 0.6 and u != 0:
        # fewer fraction digits when the value allows it: 12.30 -> 12.3
        t = decimal_text(u, scale)
        if "." in t:
            t = t.rstrip("0").rstrip(".")
        return t
    return decimal_text(u, scale)


def iso_date(days):
    return (dt.date(1970, 1, 1) + dt.timedelta(days=days)).isoformat()


def iso_local(us, frac_digits, sep, rng):
    """The wall-clock text of `us` (microseconds since 1970 in some zone)."""
    days, rem = divmod(us, DAY_US)
    d = dt.date(1970, 1, 1) + dt.timedelta(days=days)
    secs, micros = divmod(rem, 1_000_000)
    h, m, s = secs // 3600, secs // 60 % 60, secs % 60
    text = f"{d.isoformat()}{sep}{h:02d}:{m:02d}:{s:02d}"
    if frac_digits == 0 and micros != 0:
        frac_digits = 6
    if frac_digits:
        f = f"{micros:06d}"
        if frac_digits < 6:
            if f[frac_digits:] != "0" * (6 - frac_digits):
                frac_digits = 6
        if frac_digits <= 6:
            text += "." + f[:frac_digits]
        else:
            # nanoseconds: digits past the sixth are dropped by the decoder
            text += "." + f + "".join(rng.choice("0123456789") for _ in range(frac_digits - 6))
    return text


def enc_epoch(rng, us, unit):
    if unit == "ns":
        n = us * 1000 + rng.randint(0, 999)           # floor(n / 1000) == us
        return str(n) if rng.random() < 0.8 else f'"{n}"'
    per = UNIT_US[unit]
    q = Decimal(us) / Decimal(per)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if rng.random() < 0.8 else f'"{text}"'


def enc_timestamp(rng, us, utc, unit):
    if rng.random() < 0.25:
        return enc_epoch(rng, us, unit)
    sep = rng.choice(["T", "T", " ", "t"])
    frac = rng.choice([0, 1, 3, 6, 9])
    if not utc:
        return json.dumps(iso_local(us, frac, sep, rng))
    off_min = rng.choice([0, 0, 60, -300, 330, -570, 840, -720, 23 * 60 + 59])
    local = us + off_min * 60_000_000
    if not (TS_MIN <= local <= TS_MAX):
        off_min, local = 0, us
    text = iso_local(local, frac, sep, rng)
    if off_min == 0 and rng.random() < 0.7:
        text += rng.choice(["Z", "z"])
    else:
        sign = "-" if off_min < 0 else "+"
        a = abs(off_min)
        text += rng.choice([f"{sign}{a // 60:02d}:{a % 60:02d}", f"{sign}{a // 60:02d}{a % 60:02d}"])
    return json.dumps(text)


def enc_uuid(rng, b):
    t = "%08x-%04x-%04x-%04x-%012x" % (int.from_bytes(b[:4], "big"), int.from_bytes(b[4:6], "big"),
                                       int.from_bytes(b[6:8], "big"), int.from_bytes(b[8:10], "big"),
                                       int.from_bytes(b[10:], "big"))
    return json.dumps(t.upper() if rng.random() < 0.3 else t)


def enc_binary(rng, b):
    r = rng.random()
    if r < 0.2:
        t = base64.urlsafe_b64encode(b).decode()
    else:
        t = base64.b64encode(b).decode()
    if rng.random() < 0.3:
        t = t.rstrip("=")
    s = json.dumps(t)
    if rng.random() < 0.2:
        s = s.replace("/", "\\/")                     # as PHP's json_encode writes it
    return s


def encode_scalar(rng, col, v, unit):
    t = col.type
    if t == "string":
        return enc_string(rng, v)
    if t == "bool":
        if rng.random() < 0.2:
            return '"true"' if v else '"false"'
        return "true" if v else "false"
    if t in ("int8", "int16", "int32", "int64"):
        return enc_int(rng, v)
    if t == "float":
        return enc_float(rng, v, 32)
    if t == "double":
        return enc_float(rng, v, 64)
    if t == "decimal":
        return enc_decimal(rng, v, col.scale)
    if t == "date":
        return json.dumps(iso_date(v))
    if t in ("timestamp", "timestamp_ntz"):
        return enc_timestamp(rng, v, t == "timestamp", unit)
    if t == "json":
        return v
    if t == "uuid":
        return enc_uuid(rng, v)
    if t == "binary":
        return enc_binary(rng, v)
    raise ValueError(t)


def encode_value(rng, col, v, unit):
    if v is None:
        return "null"
    if col.list:
        return "[" + ", ".join("null" if e is None else encode_scalar(rng, col, e, unit) for e in v) + "]"
    return encode_scalar(rng, col, v, unit)


# ---------------------------------------------------------------------------
# Canonical values in the pq_matrix .jsonl format

def canon_scalar(col, v):
    t = col.type
    if v is None:
        return None
    if t in ("float", "double"):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return float.hex(v)
    if t in ("uuid", "binary"):
        return v.hex()
    return v


def canon(col, v):
    if v is None:
        return None
    if col.list:
        return [canon_scalar(col, e) for e in v]
    return canon_scalar(col, v)


# ---------------------------------------------------------------------------
# The cases

class Case:
    def __init__(self, name, cols, rows, seed=1, parquet=None, metadata=(), epoch_unit="ms", blank_every=0,
                 unknown_keys=False):
        self.name, self.cols, self.nrows, self.seed = name, cols, rows, seed
        self.parquet = parquet or {}
        self.metadata = list(metadata)
        self.epoch_unit = epoch_unit
        self.blank_every = blank_every
        self.unknown_keys = unknown_keys
        if rows < 200:
            for c in cols:
                c.expect_dict = -1 if c.expect_dict == 1 else c.expect_dict

    def rows(self):
        rng = random.Random(self.seed)
        out = []
        for i in range(self.nrows):
            row = []
            for c in self.cols:
                if c.nullable and c.null_pct and rng.random() * 100 < c.null_pct:
                    row.append(None)
                else:
                    row.append(c.gen(rng, i))
            out.append(row)
        return out


def every_type(nullable, null_pct=0, prefix=""):
    n = nullable
    return [
        Col(prefix + "s", "string", strings, n, null_pct=null_pct),
        Col(prefix + "s_low", "string", low_card(["placed", "accepted", "délivré", ""]), n, expect_dict=1,
            null_pct=null_pct),
        Col(prefix + "b", "bool", bools, n, null_pct=null_pct),
        Col(prefix + "i8", "int8", ints(8), n, null_pct=null_pct),
        Col(prefix + "i16", "int16", ints(16), n, null_pct=null_pct),
        Col(prefix + "i32", "int32", ints(32), n, null_pct=null_pct),
        Col(prefix + "i64", "int64", ints(64), n, null_pct=null_pct),
        Col(prefix + "i64_low", "int64", low_card([7, -7, 1 << 40]), n, expect_dict=1, null_pct=null_pct),
        Col(prefix + "f", "float", floats(32), n, null_pct=null_pct),
        Col(prefix + "d", "double", floats(64), n, null_pct=null_pct),
        Col(prefix + "dec9", "decimal", decimals(9, 2), n, precision=9, scale=2, null_pct=null_pct),
        Col(prefix + "dec18", "decimal", decimals(18, 6), n, precision=18, scale=6, null_pct=null_pct),
        Col(prefix + "dec38", "decimal", decimals(38, 10), n, precision=38, scale=10, null_pct=null_pct),
        Col(prefix + "dec1", "decimal", decimals(1, 0), n, precision=1, scale=0, null_pct=null_pct),
        Col(prefix + "dt", "date", dates, n, null_pct=null_pct),
        Col(prefix + "ts", "timestamp", timestamps, n, null_pct=null_pct),
        Col(prefix + "tn", "timestamp_ntz", timestamps, n, null_pct=null_pct),
        Col(prefix + "j", "json", jsons, n, null_pct=null_pct),
        Col(prefix + "u", "uuid", uuids, n, expect_dict=0, null_pct=null_pct),
        Col(prefix + "bin", "binary", binaries, n, null_pct=null_pct),
    ]


def list_columns(nullable):
    n = nullable
    return [
        Col("l_i32", "int32", lists_of(ints(32)), n, list_=True, null_pct=20 if n else 0),
        Col("l_s", "string", lists_of(strings), n, list_=True, null_pct=20 if n else 0),
        Col("l_dec", "decimal", lists_of(decimals(18, 3)), n, list_=True, precision=18, scale=3,
            null_pct=20 if n else 0),
        Col("l_ts", "timestamp", lists_of(timestamps), n, list_=True, null_pct=20 if n else 0),
        Col("l_dt", "date", lists_of(dates), n, list_=True),
        Col("l_b", "bool", lists_of(bools), n, list_=True),
        Col("l_d", "double", lists_of(floats(64)), n, list_=True),
        Col("l_f", "float", lists_of(floats(32)), n, list_=True),
        Col("l_u", "uuid", lists_of(uuids), n, list_=True),
        Col("l_bin", "binary", lists_of(binaries), n, list_=True),
        Col("l_j", "json", lists_of(jsons), n, list_=True),
        Col("l_i8", "int8", lists_of(ints(8)), n, list_=True),
    ]


CASES = [
    Case("required_types", every_type(False), 3000, seed=11,
         parquet={"row_group_rows": 1000, "page_rows": 300}, metadata=["_stream", "_ingested_at"],
         blank_every=97, unknown_keys=True),
    Case("nullable_types", every_type(True, null_pct=30) + [
        Col("all_null", "string", constant(None), True),
        Col("all_null_dec", "decimal", constant(None), True, precision=38, scale=0),
        Col("one_value", "int32", constant(42), True, expect_dict=1),
        Col("one_string", "string", constant("same"), False, expect_dict=1),
        Col("zeros", "double", low_card([0.0, -0.0, 0.5, 2.25]), False),
        Col("zeros_f", "float", low_card([-0.0, 0.0, 0.5]), True, null_pct=10),
    ], 2500, seed=12, parquet={"page_rows": 400}, metadata=["_ingested_at"]),
    Case("many_pages", [
        Col("id", "int64", lambda rng, i: i * 7919 - 10 ** 9, False, expect_dict=0),
        Col("status", "string", low_card(["a", "b", "c", "dé"]), False, expect_dict=1),
        Col("amount", "decimal", decimals(12, 2), True, precision=12, scale=2, null_pct=10),
        Col("at", "timestamp", timestamps, False),
    ], 25_000, seed=13),
    Case("many_row_groups", every_type(True, null_pct=10)[:12], 1050, seed=14,
         parquet={"row_group_rows": 100, "page_rows": 40}),
    Case("uncompressed", every_type(True, null_pct=20)[:10], 700, seed=15,
         parquet={"compression": "none", "page_rows": 250}),
    Case("lists", list_columns(True), 1500, seed=16, parquet={"page_rows": 500}),
    Case("lists_required", list_columns(False)[:6], 800, seed=17),
    Case("epoch_seconds", [Col("at", "timestamp", timestamps, False), Col("tn", "timestamp_ntz", timestamps)],
         400, seed=18, epoch_unit="s"),
    Case("epoch_nanos", [Col("at", "timestamp", timestamps, False), Col("tn", "timestamp_ntz", timestamps)],
         400, seed=19, epoch_unit="ns"),
    Case("epoch_micros", [Col("at", "timestamp", timestamps, False)], 300, seed=20, epoch_unit="us"),
    Case("one_row", every_type(False), 1, seed=21),
    Case("empty", every_type(True), 0, seed=22),
]

NAMES = [c.name for c in CASES]


def toml_string(s):
    return json.dumps(s, ensure_ascii=False)


def config_text(case):
    lines = []
    if case.parquet:
        lines.append("[parquet]")
        for k, v in case.parquet.items():
            lines.append(f"{k} = {toml_string(v) if isinstance(v, str) else v}")
        lines.append("")
    lines.append(f"[tables.{case.name}]")
    lines.append(f"epoch_unit = {toml_string(case.epoch_unit)}")
    if case.metadata:
        lines.append("metadata = [" + ", ".join(toml_string(m) for m in case.metadata) + "]")
    lines.append(f"[tables.{case.name}.columns]")
    for c in case.cols:
        lines.append(f"{toml_string(c.name)} = {toml_string(c.type_text())}")
    return "\n".join(lines) + "\n"


def input_lines(case, rows):
    """The JSON lines and, for each row, its line number (blank lines included)."""
    rng = random.Random(case.seed * 7 + 1)
    out, numbers = [], []
    for i, row in enumerate(rows):
        if case.blank_every and i % case.blank_every == 5:
            out.append(rng.choice(["", "   ", "\t"]))
        members = []
        for c, v in zip(case.cols, row):
            if v is None and rng.random() < 0.5:
                continue                                  # missing: null too
            members.append((json.dumps(c.name), encode_value(rng, c, v, case.epoch_unit)))
        if case.unknown_keys and rng.random() < 0.3:
            members.append(('"unknown_%d"' % rng.randint(0, 9), '{"ignored": [1, 2]}'))
        rng.shuffle(members)
        out.append("{" + ", ".join(f"{k}: {v}" for k, v in members) + "}")
        numbers.append(len(out))
    return out, numbers


def write_case(case, directory):
    rows = case.rows()
    (directory / f"{case.name}.toml").write_text(config_text(case), encoding="utf-8")
    lines, numbers = input_lines(case, rows)
    with open(directory / f"{case.name}.input", "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + ("\r\n" if case.seed % 2 and len(line) % 3 == 0 else "\n"))
    return rows, numbers


def expected_file(case, rows, numbers, directory, created_by, ingested_at):
    """<name>.jsonl for test_parquet_matrix: the declared columns, then the metadata."""
    p = case.parquet
    meta = [Col("_stream_id", "string", None, False)]
    if "_stream" in case.metadata:
        meta.append(Col("_stream", "string", None, True))
    if "_ingested_at" in case.metadata:
        meta.append(Col("_ingested_at", "timestamp", None, True))
    cols = case.cols + meta
    header = {
        "file": case.name, "rows": len(rows),
        "codec": 0 if p.get("compression") == "none" else 6,
        "page_rows_max": p.get("page_rows", 20000), "page_bytes_max": 1 << 20,
        "row_group_rows_max": p.get("row_group_rows", 1_000_000),
        "created_by": created_by,
        "columns": [c.header() for c in cols],
    }
    with open(directory / f"{case.name}.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for row, n in zip(rows, numbers):
            vals = [canon(c, v) for c, v in zip(case.cols, row)]
            vals.append(f"0-{n}")
            if "_stream" in case.metadata:
                vals.append(None)
            if "_ingested_at" in case.metadata:
                vals.append(ingested_at)
            f.write(json.dumps(vals) + "\n")
