"""`lakewriter convert` as a command: the smackz tables end to end (values read
back by pyarrow and DuckDB and compared with the generator's rows), the smackz
bad cases in the rejects file, exit statuses, usage and configuration errors,
atomic output, the memory limit, standard input, odd lines."""
import base64
import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import uuid
from decimal import Decimal

import duckdb
import pyarrow.parquet as pq
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import smackz  # noqa: E402

EXAMPLE = ROOT / "examples" / "lakewriter.toml"
# No S3 credentials, no Redis: convert does not need them.
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_", "REDIS_", "LAKEWRITER_"))}

ORDERS_ONLY = """
[tables.orders]
metadata = ["_ingested_at"]
[tables.orders.columns]
order_id = "uuid not null"
subtotal = "decimal(10,2) not null"
note = "string"
"""


def convert(lakewriter, *args, stdin=None, config=EXAMPLE, env=None):
    cmd = [str(lakewriter), "convert"] + (["--config", str(config)] if config else []) + [str(a) for a in args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=isinstance(stdin, str) or stdin is None,
                          timeout=300, env=env or ENV)


def rejects(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


def smackz_lines(table, count, seed=3):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "smackz.py"), "--count", str(count), "--seed",
                        str(seed), "--table", table, "--data-only"], capture_output=True, text=True, check=True)
    return r.stdout


def micros(text):
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def expected_value(column_type, v):
    """A smackz JSON value in the form the readers give back (after plain())."""
    if v is None:
        return None
    if column_type.startswith("uuid"):
        return uuid.UUID(v).bytes
    if column_type.startswith("decimal"):
        return Decimal(str(v))
    if column_type.startswith("timestamp"):
        return micros(v)
    if column_type.startswith("json"):
        return v  # the raw text, compared separately
    return v


def plain(v):
    if isinstance(v, uuid.UUID):
        return v.bytes
    if isinstance(v, dt.datetime):
        return (v - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
    return v


def raw_members(line):
    """The raw text of each top-level value of a JSON object line (for json columns)."""
    dec = json.JSONDecoder()
    out = {}
    i = 1
    while True:
        while line[i] in " ,":
            i += 1
        if line[i] == "}":
            return out
        key, i = dec.raw_decode(line, i)
        i = line.index(":", i) + 1
        while line[i] == " ":
            i += 1
        _, end = dec.raw_decode(line, i)
        out[key] = line[i:end]
        i = end


@pytest.mark.parametrize("table", ["orders", "order_items", "app_events"])
def test_smackz_tables_read_back_by_pyarrow_and_duckdb(lakewriter, tmp_path, table):
    text = smackz_lines(table, 3000)
    (tmp_path / "in.jsonl").write_text(text)
    out = tmp_path / f"{table}.parquet"
    r = convert(lakewriter, "--table", table, "--input", tmp_path / "in.jsonl", "--output", out,
                "--rejects", tmp_path / "rej.jsonl")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rej.jsonl").read_text() == ""
    lines = text.splitlines()
    types = {}
    section = None
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == f"tables.{table}.columns" and "=" in line:
            k, v = line.split("=", 1)
            types[k.strip()] = v.split("#")[0].strip().strip('"')
    md = pq.ParquetFile(out).metadata
    assert md.num_rows == len(lines)
    assert md.created_by.startswith("lakewriter version ")
    t = pq.read_table(out)
    con = duckdb.connect()
    duck = con.execute("SELECT * FROM read_parquet(?, file_row_number=true) ORDER BY file_row_number",
                       [str(out)]).fetchall()
    duck_cols = [d[0] for d in con.description]
    assert t.column_names[:len(types)] == list(types)
    assert t.column("_stream_id").to_pylist() == [f"0-{i + 1}" for i in range(len(lines))]
    for name, ctype in types.items():
        got_pa = [plain(v) for v in t.column(name).to_pylist()]
        j = duck_cols.index(name)
        got_duck = [plain(row[j]) for row in duck]
        for i, line in enumerate(lines):
            data = json.loads(line, parse_float=Decimal)
            want = expected_value(ctype, data.get(name))
            if ctype.startswith("json") and want is not None:
                want = raw_members(line)[name]  # stored verbatim
            if ctype.startswith("double"):
                want = float(want)
            assert got_pa[i] == want, f"pyarrow {table}.{name} row {i}: {got_pa[i]!r} != {want!r}"
            assert got_duck[i] == want, f"duckdb {table}.{name} row {i}: {got_duck[i]!r} != {want!r}"


def test_smackz_bad_entries_land_in_the_rejects_file(lakewriter, tmp_path):
    good = smackz_lines("orders", 50).splitlines()
    bad = {reason: fields for reason, fields in smackz.Smackz.bad_events()}
    # A data object per line: the bad kinds that have a data field. The unknown
    # entity's data ({"id": 1}) read as an order lacks every required column.
    cases = [
        ("invalid JSON", "invalid JSON", None),
        ("missing required column", "missing required column", "order_id"),
        ("bad decimal", "bad value", "subtotal"),
        ("bad timestamp", "bad value", "created_at"),
        ("unknown entity", "missing required column", "order_id"),
    ]
    lines = list(good)
    where = {}
    for k, (kind, _, _) in enumerate(cases):
        at = 7 + 9 * k
        lines.insert(at, bad[kind]["data"])
        where[kind] = at + 1
    assert "data" not in bad["no data field"]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "orders.parquet"
    r = convert(lakewriter, "--table", "orders", "--input", tmp_path / "in.jsonl", "--output", out,
                "--rejects", tmp_path / "rej.jsonl")
    assert r.returncode == 1, r.stderr
    assert "5 rejected" in r.stderr
    got = rejects(tmp_path / "rej.jsonl")
    assert [g["line"] for g in got] == sorted(where.values())
    for (kind, reason, column), g in zip(cases, got):
        assert g["line"] == where[kind]
        assert g["error"] == reason, (kind, g)
        assert g["table"] == "orders"
        assert g.get("column") == column, (kind, g)
        assert g["input"] == bad[kind]["data"]
        assert g["message"].startswith("table orders")
    by_kind = {kind: g for (kind, _, _), g in zip(cases, got)}
    assert "'12.3.4' is not a decimal(10,2)" in by_kind["bad decimal"]["message"]
    assert "'2026-13-01T00:00:00Z' is not a timestamp (month out of range" in by_kind["bad timestamp"]["message"]
    # the good rows are all there, in order, with their line numbers
    t = pq.read_table(out)
    assert t.num_rows == len(good)
    bad_lines = set(where.values())
    assert t.column("_stream_id").to_pylist() == [f"0-{n}" for n in range(1, len(lines) + 1) if n not in bad_lines]
    assert t.column("order_id").to_pylist()[0] == uuid.UUID(json.loads(good[0])["order_id"])


def test_minimal_config_stdin_and_odd_lines(lakewriter, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(ORDERS_ONLY)
    lines = [
        '{"order_id": "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10", "subtotal": 1.5}',
        "",
        '  {"order_id": "6F1C1D1E-8E5B-4C9A-9A7E-0B7D3F1C2A10", "subtotal": "2", "note": "caf\\u00e9", "x": 1}\r',
        "   ",
        '{"order_id": "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10", "subtotal": 3, "note": "\xff"}',
        '{"order_id": "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10", "subtotal": 4, "subtotal": 5}',
        '{"order_id": "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10", "subtotal": 4.001}',
        "[]",
    ]
    data = ("\n".join(lines)).encode("latin-1")  # the \xff is a raw invalid byte; no final newline
    out = tmp_path / "o.parquet"
    r = convert(lakewriter, "--table", "orders", "--input", "-", "--output", out, "--rejects",
                tmp_path / "rej.jsonl", stdin=data, config=cfg)
    assert r.returncode == 1, r.stderr
    err = r.stderr.decode()
    assert "8 lines from standard input -> 2 rows" in err
    assert "2 blank lines skipped" in err and "1 unknown keys ignored" in err
    t = pq.read_table(out)
    assert t.column("subtotal").to_pylist() == [Decimal("1.50"), Decimal("2.00")]
    assert t.column("note").to_pylist() == [None, "café"]
    assert t.column("_stream_id").to_pylist() == ["0-1", "0-3"]
    got = rejects(tmp_path / "rej.jsonl")
    assert [(g["line"], g["error"]) for g in got] == [(5, "invalid JSON"), (6, "duplicate key"), (7, "bad value"),
                                                      (8, "invalid JSON")]
    assert "input" not in got[0] and base64.b64decode(got[0]["input_base64"]) == lines[4].encode("latin-1")
    assert got[1]["input"] == lines[5] and got[1]["column"] == "subtotal"
    assert "more fractional digits than the scale" in got[2]["message"]
    assert "not a JSON object" in got[3]["message"]


def test_rejections_go_to_stderr_without_a_rejects_file(lakewriter, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(ORDERS_ONLY)
    text = "".join('{"order_id": "x%d", "subtotal": 1}\n' % i for i in range(15))
    r = convert(lakewriter, "--table", "orders", "--output", tmp_path / "o.parquet", stdin=text, config=cfg)
    assert r.returncode == 1
    shown = [ln for ln in r.stderr.splitlines() if ln.startswith("lakewriter convert: line ")]
    assert len(shown) == 10
    assert shown[0] == ("lakewriter convert: line 1: table orders, column order_id: 'x0' is not a uuid "
                        "(expected 8-4-4-4-12 hex digits)")
    assert "5 more rejected lines not shown (use --rejects FILE)" in r.stderr
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 0


def test_empty_input_gives_an_empty_valid_file(lakewriter, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(ORDERS_ONLY)
    (tmp_path / "empty").write_text("")
    r = convert(lakewriter, "--table", "orders", "--input", tmp_path / "empty", "--output", tmp_path / "o.parquet",
                config=cfg)
    assert r.returncode == 0, r.stderr
    t = pq.read_table(tmp_path / "o.parquet")
    assert t.num_rows == 0 and t.column_names == ["order_id", "subtotal", "note", "_stream_id", "_ingested_at"]
    con = duckdb.connect()
    assert con.execute("SELECT count(*) FROM read_parquet(?)", [str(tmp_path / "o.parquet")]).fetchall() == [(0,)]


def test_row_groups_and_compression_follow_the_parquet_section(lakewriter, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[parquet]\ncompression = "none"\nrow_group_rows = 400\npage_rows = 100\n' + ORDERS_ONLY)
    text = "".join('{"order_id": "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10", "subtotal": %d.25}\n' % i for i in range(1000))
    r = convert(lakewriter, "--table", "orders", "--output", tmp_path / "o.parquet", stdin=text, config=cfg)
    assert r.returncode == 0, r.stderr
    md = pq.ParquetFile(tmp_path / "o.parquet").metadata
    assert md.num_row_groups == 3 and max(md.row_group(i).num_rows for i in range(3)) <= 400
    assert md.row_group(0).column(0).compression == "UNCOMPRESSED"
    assert pq.read_table(tmp_path / "o.parquet").column("subtotal").to_pylist()[999] == Decimal("999.25")


def test_usage_and_configuration_errors_exit_2(lakewriter, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(ORDERS_ONLY)
    (tmp_path / "in").write_text('{"order_id": "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10", "subtotal": 1}\n')
    out = tmp_path / "o.parquet"
    cases = [
        (["--table", "ordrs", "--input", tmp_path / "in", "--output", out], "unknown table 'ordrs' (did you mean orders?)"),
        (["--table", "zzz", "--input", tmp_path / "in", "--output", out], "unknown table 'zzz'"),
        (["--input", tmp_path / "in", "--output", out], "--table NAME is required"),
        (["--table", "orders", "--input", tmp_path / "in"], "--output FILE is required"),
        (["--table", "orders", "--input", tmp_path / "nope", "--output", out], "cannot read"),
        (["--table", "orders", "--input", tmp_path, "--output", out], "is a directory"),
        (["--table", "orders", "--input", tmp_path / "in", "--output", tmp_path / "no" / "dir" / "o.parquet"],
         "cannot create"),
        (["--table", "orders", "--input", tmp_path / "in", "--output", out, "--rejects", tmp_path / "no" / "r"],
         "cannot create"),
        (["--table", "orders", "--table", "orders", "--output", out], "flag --table is given twice"),
        (["--table", "orders", "--output", out, "extra"], "unexpected argument 'extra'"),
        (["--table", "orders", "--output", out, "--print"], "--print"),
    ]
    for args, message in cases:
        r = convert(lakewriter, *args, config=cfg)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert not out.exists(), args
    # the command's flags do not apply to other commands
    r = subprocess.run([str(lakewriter), "check", "--config", str(cfg), "--table", "orders"], capture_output=True,
                       text=True, env=ENV)
    assert r.returncode == 2 and "flag --table does not apply to this command" in r.stderr
    # a broken [tables] or [parquet] section stops convert; missing S3/Redis settings do not
    broken = tmp_path / "broken.toml"
    broken.write_text('[parquet]\npage_rows = 0\n' + ORDERS_ONLY.replace('"string"', '"strnig"'))
    r = convert(lakewriter, "--table", "orders", "--input", tmp_path / "in", "--output", out, config=broken)
    assert r.returncode == 2
    assert "parquet.page_rows" in r.stderr and "tables.orders.columns.note" in r.stderr
    assert "s3." not in r.stderr and "streams" not in r.stderr
    assert "the configuration is not usable (2 problems above)" in r.stderr
    assert not out.exists()
    assert list(tmp_path.glob("*.tmp.*")) == []


def test_help(lakewriter):
    r = subprocess.run([str(lakewriter), "convert", "--help"], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: lakewriter convert [--table NAME] [--input FILE] [--output FILE] "
                               "[--rejects FILE] [GLOBAL FLAGS]")
    for part in ("--table NAME", "--rejects FILE", "_stream_id is \"0-<line number>\"", "docs/data-contract.md",
                 "Exit status: 0"):
        assert part in r.stdout, part


def test_memory_limit_fails_cleanly_and_keeps_an_old_output(lakewriter, tmp_path):
    text = smackz_lines("app_events", 60000)
    assert len(text) > 16 << 20
    (tmp_path / "in.jsonl").write_text(text)
    out = tmp_path / "ae.parquet"
    out.write_bytes(b"old")
    r = convert(lakewriter, "--table", "app_events", "--input", tmp_path / "in.jsonl", "--output", out,
                "--memory-limit", "16MiB")
    assert r.returncode == 2, r.stderr
    assert "fill the memory limit" in r.stderr and "raise --memory-limit or split the input" in r.stderr
    assert out.read_bytes() == b"old"
    assert list(tmp_path.glob("*.tmp.*")) == []
    r = convert(lakewriter, "--table", "app_events", "--input", tmp_path / "in.jsonl", "--output", out,
                "--memory-limit", "256MiB")
    assert r.returncode == 0, r.stderr
    assert pq.ParquetFile(out).metadata.num_rows == 60000
    assert list(tmp_path.glob("*.tmp.*")) == []
