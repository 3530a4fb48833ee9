"""`lakewriter convert` proven by independent readers.

tests/convert/convert_matrix.py generates tables covering the matrix and the edge
cases of reference/parquet.md §7.4 (every type, required and nullable, dictionary
and PLAIN fallback, one and many pages, many row groups, all-null columns, one
distinct value, empty strings, long strings with multibyte UTF-8 at the 64-byte
cut, NaN/±0/±inf, integer extremes, negative decimals at precision 1/9/18/38,
dates and timestamps before 1970 and at years 0001/9999, lists with empty, null
and null elements, zero rows), written as JSON lines in every accepted form and a
config. Each goes through `lakewriter convert`; then the encoder's own suite
(tests/integration/test_parquet_matrix.py, imported, not copied) checks the file:
values through pyarrow, DuckDB and polars compared one by one with the input
(decimals exact, timestamps as UTC microseconds, NaN equal to NaN, -0.0 apart from
+0.0), the footer byte by byte with brute-force statistics and the page index,
and pyarrow's and fastparquet's views of the footer.
"""
import pathlib
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "convert"))
sys.path.insert(0, str(ROOT / "tests" / "parquet"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import convert_matrix as cm  # noqa: E402
import test_parquet_matrix as tpm  # noqa: E402
import thrift_compact as tc  # noqa: E402


def created_by(lakewriter):
    first = subprocess.run([str(lakewriter), "version"], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    # "lakewriter 0.1.0 (commit 6f84223055d5)"
    _, version, commit = first.split(" ", 2)
    return f"lakewriter version {version} (build {commit.strip('()').split(' ')[1]})"


@pytest.fixture(scope="session")
def converted(lakewriter, tmp_path_factory):
    out = tmp_path_factory.mktemp("convert_matrix")
    cb = created_by(lakewriter)
    runs = {}
    for case in cm.CASES:
        rows, numbers = cm.write_case(case, out)
        t0 = time.time_ns() // 1000
        r = subprocess.run(
            [str(lakewriter), "convert", "--config", str(out / f"{case.name}.toml"), "--table", case.name,
             "--input", str(out / f"{case.name}.input"), "--output", str(out / f"{case.name}.parquet"),
             "--rejects", str(out / f"{case.name}.rejects")],
            capture_output=True, text=True, timeout=600)
        t1 = time.time_ns() // 1000
        assert r.returncode == 0, f"{case.name}: {r.stderr}"
        assert (out / f"{case.name}.rejects").read_text() == "", case.name
        ingested = None
        if "_ingested_at" in case.metadata and rows:
            col = pq.read_table(out / f"{case.name}.parquet", columns=["_ingested_at"]).column(0)
            vals = set(col.cast("int64").to_pylist())
            assert len(vals) == 1, f"{case.name}: _ingested_at differs between rows"
            ingested = vals.pop()
            assert t0 - 1_000_000 <= ingested <= t1, "_ingested_at is not the time of the run"
        cm.expected_file(case, rows, numbers, out, cb, ingested)
        runs[case.name] = (r, rows, numbers)
    return out, runs


@pytest.mark.parametrize("reader", ["pyarrow", "duckdb", "polars"])
@pytest.mark.parametrize("name", cm.NAMES)
def test_values(converted, name, reader):
    tpm.test_values(converted[0], name, reader)


@pytest.mark.parametrize("name", cm.NAMES)
def test_footer(converted, name):
    tpm.test_footer(converted[0], name)


@pytest.mark.parametrize("name", cm.NAMES)
def test_pyarrow_metadata(converted, name):
    tpm.test_pyarrow_metadata(converted[0], name)


@pytest.mark.parametrize("name", cm.NAMES)
def test_fastparquet_footer(converted, name):
    tpm.test_fastparquet_footer(converted[0], name)


def test_summary_and_metadata_columns(converted):
    out, runs = converted
    r, rows, numbers = runs["required_types"]
    # blank lines skipped (counted), unknown keys ignored (counted), line numbers kept
    assert numbers[-1] > len(rows)
    assert f"-> {len(rows)} rows in" in r.stderr
    assert f"{numbers[-1]} lines from" in r.stderr
    assert f"{numbers[-1] - len(rows)} blank lines skipped" in r.stderr
    assert " 0 unknown keys ignored" not in r.stderr
    t = pq.read_table(out / "required_types.parquet", columns=["_stream_id", "_stream"])
    assert t.column("_stream_id").to_pylist() == [f"0-{n}" for n in numbers]
    assert t.column("_stream").null_count == len(rows)
    schema = pq.ParquetFile(out / "required_types.parquet").schema_arrow
    assert not schema.field("_stream_id").nullable
    assert schema.field("_stream").nullable and schema.field("_ingested_at").nullable


def test_edge_cases_are_reached(converted):
    """The files really contain what the matrix claims (a matrix that never
    reaches an edge proves nothing)."""
    out, _ = converted
    seen = set()
    for name in cm.NAMES:
        exp = tpm.load(out, name)
        data = (out / f"{name}.parquet").read_bytes()
        fmd, _ = tc.footer(data)
        seen.add("empty file" if not fmd[4] else "row groups")
        if len(fmd[4]) >= 10:
            seen.add("many row groups")
        for rg in fmd[4]:
            for cc, col in zip(rg[1], exp.columns):
                md = cc[3]
                st = md[12]
                seen.add("dictionary" if 11 in md else "plain")
                if st[3] == md[5]:
                    seen.add("all null chunk")
                if 5 in st and (not st[7] or not st[8]):
                    seen.add("truncated " + col["type"])
                if 5 not in st and st[3] < md[5] and col["type"] in ("string", "binary"):
                    seen.add("omitted bounds " + col["type"])
                if st.get(9):
                    seen.add("nan_count")
                if col["type"] in ("float", "double") and 6 in st and st[6] == tpm.plain(col, -0.0):
                    seen.add("-0.0 min")
                pages = tpm.walk_chunk(data, md.get(11, md[9]), md[7], md[4])
                if len(pages) > 1 + (11 in md):
                    seen.add("many pages")
                if md[5] > 20000 and 11 in md:
                    seen.add("over 20,000 values")
                if 11 in md and not col["nullable"] and not col["list"]:
                    for off, h, hlen in pages:
                        if h[1] == tpm.PT_DATA and tpm.page_body(data, off, h, hlen, md[4])[0] == 0:
                            seen.add("bit width 0")
        for j, col in enumerate(exp.columns):
            vals = exp.column(j)
            if col["type"] == "decimal" and any(v is not None and not col["list"] and v < 0 for v in vals):
                seen.add(f"negative decimal({col['precision']})")
            if col["type"] in ("timestamp", "date") and not col["list"] and any(v is not None and v < 0 for v in vals):
                seen.add(f"pre-1970 {col['type']}")
            if col["list"]:
                if any(v == [] for v in vals):
                    seen.add("empty list")
                if any(v is None for v in vals):
                    seen.add("null list")
                if any(v and None in v for v in vals):
                    seen.add("null element")
            if col["type"] == "string" and any(v == "" for v in vals):
                seen.add("empty string")
    want = {"empty file", "row groups", "many row groups", "dictionary", "plain", "all null chunk",
            "truncated string", "truncated binary", "omitted bounds string", "omitted bounds binary", "nan_count",
            "-0.0 min", "many pages", "over 20,000 values", "bit width 0", "negative decimal(9)",
            "negative decimal(18)", "negative decimal(38)", "negative decimal(1)", "pre-1970 timestamp",
            "pre-1970 date", "empty list", "null list", "null element", "empty string"}
    assert want <= seen, f"never reached: {sorted(want - seen)}"
