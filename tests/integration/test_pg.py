"""The PostgreSQL client (src/pg.h) through tests/tools/pg_probe, against the SCRAM server
of scripts/services (127.0.0.1:5440, user lakewriter), checked with psycopg; and against
small fake servers written here for the failures a real server does not produce on
demand (no TLS, silence, a reset in the middle of a COPY, not PostgreSQL at all).

Logins with trust, MD5 and cleartext passwords, and TLS, are in test_pg_server.py (a
server of its own)."""
import datetime
import decimal
import hashlib
import json
import os
import socket
import struct
import threading
import time
import uuid

import psycopg
import pytest

from conftest import ROOT, run

PORT = int(os.environ.get("LW_PG_PORT", "5440"))
URL = f"postgres://lakewriter@127.0.0.1:{PORT}/postgres"
DSN = f"host=127.0.0.1 port={PORT} user=lakewriter password=lakewriter dbname=postgres"


@pytest.fixture(scope="module")
def server():
    r = run([ROOT / "scripts" / "services", "start", "postgres"], timeout=120)
    assert r.returncode == 0, r.stderr
    return PORT


@pytest.fixture(scope="module")
def probe(tools):
    path = tools / "pg_probe"
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `scripts/zig build tools` first")
    return path


@pytest.fixture(scope="module")
def db(server):
    conn = psycopg.connect(DSN, autocommit=True)
    yield conn
    conn.close()


def run_probe(probe, *args, password="lakewriter", env_extra=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    env.update(env_extra or {})
    return run([probe, *args], env=env, timeout=timeout, errors="replace")


def summary(p):
    lines = [l for l in p.stderr.splitlines() if l.startswith("SUMMARY ")]
    assert lines, p.stderr
    return json.loads(lines[-1][len("SUMMARY "):])


def error_line(p):
    lines = [l for l in p.stderr.splitlines() if l.startswith("ERROR ")]
    assert p.returncode == 1 and lines, (p.returncode, p.stderr)
    return lines[-1]


# ---------------------------------------------------------------------------
# Against the real server


def test_scram_login_and_catalog_query(probe, db):
    db.execute("DROP TABLE IF EXISTS lw_pg_catalog")
    db.execute("""CREATE TABLE lw_pg_catalog (
        id int8 PRIMARY KEY, "Name" varchar(20) NOT NULL, amount numeric(12,2), ratio numeric,
        scaled numeric(5,-2), seen timestamptz(3), tags text[], doc jsonb)""")
    sql = """SELECT a.attnum::text, a.attname::text, a.atttypid::text, a.atttypmod::text, a.attnotnull::text,
                    format_type(a.atttypid, a.atttypmod), coalesce(i.indisprimary, false)::text
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey)
             WHERE n.nspname = 'public' AND c.relname = 'lw_pg_catalog' AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum"""
    p = run_probe(probe, URL, "query", sql)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    want = db.execute(sql).fetchall()
    assert [tuple(r) for r in got["rows"]] == want
    assert got["tag"] == "SELECT 8"
    assert [c["type"] for c in got["columns"]] == [25, 25, 25, 25, 25, 25, 25]
    by_name = {r[1]: r for r in got["rows"]}
    assert by_name["amount"][3] == str(((12 << 16) | 2) + 4)
    assert by_name["scaled"][3] == str(((5 << 16) | (-2 & 0x7FF)) + 4)
    assert by_name["Name"][3] == str(20 + 4)
    assert by_name["id"][6] == "true" and by_name["Name"][4] == "true"
    s = summary(p)
    assert s["auth"] == "scram-sha-256" and s["tls"] is False
    log = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{")]
    connected = [l for l in log if l["msg"] == "postgres connected"]
    assert connected and connected[0]["auth"] == "scram-sha-256" and connected[0]["user"] == "lakewriter"
    assert "lakewriter" not in json.dumps([l for l in log if "password" in json.dumps(l)])


def test_query_values_nulls_and_column_types(probe, db):
    sql = "SELECT 1::int4 AS a, NULL::text AS b, 'x''y' AS c, ''::text AS d, 1.50::numeric(4,2) AS e"
    p = run_probe(probe, URL, "query", sql)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["rows"] == [["1", None, "x'y", "", "1.50"]]
    cur = db.execute(sql)
    assert [c["type"] for c in got["columns"]] == [d.type_code for d in cur.description]
    assert [c["name"] for c in got["columns"]] == [d.name for d in cur.description]
    assert got["columns"][4]["typmod"] == ((4 << 16) | 2) + 4


def test_wrong_password_is_28P01(probe, server):
    p = run_probe(probe, URL, "connect", password="not-the-password")
    line = error_line(p)
    assert f"postgres 127.0.0.1:{PORT}: 28P01 password authentication failed for user \"lakewriter\"" in line
    assert " 28P01 " in line
    assert "not-the-password" not in p.stderr


def test_no_password_at_all(probe, server, tmp_path):
    p = run_probe(probe, URL, "connect", password=None, env_extra={"HOME": str(tmp_path)})
    line = error_line(p)
    assert "the server asks for a password (scram-sha-256 authentication of user \"lakewriter\")" in line
    assert "none was given" in line


def test_password_file_and_pgpass(probe, server, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("lakewriter\n")
    p = run_probe(probe, "--password-file", pw, URL, "connect", password="wrong")   # the file wins
    assert p.returncode == 0, p.stderr
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"# comment\nother:*:*:*:nope\n127.0.0.1:{PORT}:postgres:lakewriter:lakewriter\n")
    pgpass.chmod(0o600)
    p = run_probe(probe, URL, "connect", password=None, env_extra={"PGPASSFILE": str(pgpass)})
    assert p.returncode == 0, p.stderr
    pgpass.chmod(0o644)   # readable by others: ignored, as libpq does
    p = run_probe(probe, URL, "connect", password=None, env_extra={"PGPASSFILE": str(pgpass)})
    assert "group or world access" in p.stderr
    assert "none was given" in error_line(p)
    pw.write_text("")
    p = run_probe(probe, "--password-file", pw, URL, "connect")
    assert "the password file is empty" in error_line(p)


def test_missing_table_is_42P01(probe, server):
    p = run_probe(probe, URL, "query", "SELECT * FROM public.nope")
    line = error_line(p)
    assert line.startswith("ERROR 200 42P01 ")
    assert f"postgres 127.0.0.1:{PORT}: 42P01 relation \"public.nope\" does not exist" in line
    p = run_probe(probe, URL, "copy-raw", "SELECT * FROM public.nope")
    assert "42P01 relation \"public.nope\" does not exist" in error_line(p)


def test_unknown_database_and_syntax_error(probe, server):
    p = run_probe(probe, f"postgres://lakewriter@127.0.0.1:{PORT}/no_such_db", "connect")
    assert "3D000 database \"no_such_db\" does not exist" in error_line(p)
    p = run_probe(probe, URL, "query", "SELEC 1")
    line = error_line(p)
    assert "42601 syntax error at or near \"SELEC\" (at character 1)" in line


def test_notices_are_logged(probe, server):
    p = run_probe(probe, URL, "query", "DO $$ BEGIN RAISE WARNING 'careful: %', 42 USING HINT = 'be careful'; END $$")
    assert p.returncode == 0, p.stderr
    notices = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{") and "postgres notice" in l]
    assert notices, p.stderr
    assert notices[0]["level"] == "warn"
    assert notices[0]["message"] == "careful: 42"
    assert notices[0]["hint"] == "be careful"
    assert notices[0]["sqlstate"] == "01000"


def test_wrong_result_kinds_and_limits(probe, server):
    p = run_probe(probe, URL, "query", "COPY (SELECT 1) TO STDOUT")
    assert "returned COPY data: use pg_copy_out" in error_line(p)
    p = run_probe(probe, "--result-bytes", "10000", URL, "query", "SELECT repeat('x', 1000) FROM generate_series(1, 100)")
    assert "the query's rows are over 10000 bytes" in error_line(p)
    # a DataRow over message_bytes_max is refused...
    p = run_probe(probe, "--message-bytes", "4096", URL, "query", "SELECT repeat('x', 10000)")
    assert "message 'D' from the server is 10006 bytes, over the limit of 4096" in error_line(p)
    # ... but CopyData of any size is streamed
    p = run_probe(probe, "--message-bytes", "4096", URL, "copy-decode", "SELECT repeat('x', 100000) AS big")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == ["x" * 100000]
    # a statement after the connection is usable again: two statements, second fails
    p = run_probe(probe, URL, "query", "SELECT 1; SELECT 2")
    assert "several result sets" in error_line(p)


def test_copy_raw_bytes_equal_psycopg(probe, db):
    sql = ("SELECT i, 'row ' || i AS t, CASE WHEN i % 7 = 0 THEN NULL ELSE i * 1.25 END AS n, "
           "now()::date + i AS d FROM generate_series(1, 20000) i")
    p = run([probe, URL, "copy-raw", sql], env={**os.environ, "PGPASSWORD": "lakewriter"}, timeout=120,
            capture_output=True, text=False)
    assert p.returncode == 0, p.stderr
    want = b""
    with db.cursor().copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as cp:
        for chunk in cp:
            want += bytes(chunk)
    assert len(p.stdout) > 500000
    assert p.stdout == want


def test_server_error_in_the_middle_of_a_copy(probe, server):
    p = run_probe(probe, URL, "copy-sum", "SELECT i, 1 / (i - 50000) AS boom FROM generate_series(1, 100000) i")
    line = error_line(p)
    assert "22012 division by zero" in line


# ---------------------------------------------------------------------------
# Every supported type, decoded as psycopg reads it

TYPES_TABLE = """CREATE TABLE lw_pg_types (
    id int4 PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
    n numeric, n2 numeric(12,2), t text, vc varchar(10), bc char(5), nm name, u uuid, j json, jb jsonb,
    by bytea, d date, ts timestamp, tstz timestamptz, tm time,
    ai int4[], at text[], an numeric[], ad date[], a2 int8[], ab bool[], au uuid[], ats timestamptz[])"""

TYPES_ROWS = [
    """(1, true, 12, 123456, 1234567890123, 1.5, 3.141592653589793, 12345.678, 99.95, 'hello', 'héllo', 'ab',
        'pg_class', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, null]}', '{"b": 1, "a": [1, 2.50]}',
        '\\x00ff10', '2024-02-29', '2024-02-29 12:34:56.789012', '2024-03-10 12:00:00+05:30', '13:14:15.161718',
        '{1,2,NULL}', '{"a","b c",NULL,""}', '{1.5,NULL,-2}', '{2000-01-01,1969-07-20}', '{{1,2,3},{4,5,6}}',
        '{true,false}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{"2020-01-01 00:00:00+00"}')""",
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    """(3, false, -32768, -2147483648, -9223372036854775808, 'NaN', '-Infinity', 'NaN', -0.01, '', '', 'a', '',
        '00000000-0000-0000-0000-000000000000', '[]', '{"a": null}', '', '1969-12-31',
        '1900-01-01 00:00:00.000001', '1960-06-01 12:00:00+02', '00:00:00', '{}', '{}', '{}', '{}', '{}', '{}',
        '{}', '{}')""",
    """(4, true, 32767, 2147483647, 9223372036854775807, 1e-45, 5e-324, 0.00000000000000000001,
        9999999999.99, E'tab\\there\\nnewline "quoted" \\\\ back', 'x', 'abcde', 'x',
        'ffffffff-ffff-ffff-ffff-ffffffffffff', '"just a string"', '[1, "two", {"three": 3.0}]', '\\xdeadbeef',
        '2000-01-01', '1970-01-01 00:00:00', '2038-01-19 03:14:08+00', '23:59:59.999999', '{NULL}',
        '{"😀"}', '{NaN,Infinity,-Infinity,0.000}', '{NULL,0001-01-01}', '{{7},{8}}', '{NULL}',
        '{NULL}', '{NULL}')""",
    """(5, false, 0, 0, 0, 3.4028235e38, -1.7976931348623157e308, 1e100, 0, 'ω', '😀😀', ' ', 'nm',
        '12345678-1234-5678-1234-567812345678', '{}', '{}', '\\x00', '9999-12-31', '9999-12-31 23:59:59.999999',
        '0001-01-01 00:00:00+00', '00:00:00.000001', '{-1}', '{"\\\\"}', '{123456789012345678901234567890.123456789}',
        '{9999-12-31}', '{}', '{false}', '{}', '{}')""",
]

EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH = datetime.datetime(1970, 1, 1)
EPOCH_TZ = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
US = datetime.timedelta(microseconds=1)


def f4(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def canon(value, type_name):
    """psycopg's value in the probe's canonical form (see tests/tools/pg_probe.c)."""
    if value is None:
        return None
    if type_name.startswith("_"):
        flat = []

        def walk(v):
            for x in v:
                if isinstance(x, list):
                    walk(x)
                else:
                    flat.append(canon(x, type_name[1:]))
        walk(value)
        return flat
    if type_name in ("float4", "float8"):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return f4(value) if type_name == "float4" else value
    if type_name == "numeric":
        if value.is_nan():
            return "NaN"
        if value.is_infinite():
            return "Infinity" if value > 0 else "-Infinity"
        return format(value, "f")
    if type_name == "date":
        return f"d:{(value - EPOCH_DATE).days}"
    if type_name == "timestamp":
        return f"us:{(value - EPOCH) // US}"
    if type_name == "timestamptz":
        return f"us:{(value - EPOCH_TZ) // US}"
    if type_name == "time":
        return f"us:{((value.hour * 60 + value.minute) * 60 + value.second) * 1000000 + value.microsecond}"
    if type_name == "uuid":
        return str(value)
    if type_name == "bytea":
        return "\\x" + bytes(value).hex()
    return value


def probe_value(value, type_name):
    """The probe's JSON value, made comparable with canon()."""
    if value is None:
        return None
    if isinstance(value, dict):   # an array
        return [probe_value(v, type_name[1:]) for v in value["values"]]
    if type_name in ("json", "jsonb"):
        return json.loads(value)
    if type_name == "float4" and isinstance(value, float):
        return f4(value)
    return value


def test_every_type_decoded_as_psycopg_reads_it(probe, db):
    db.execute("DROP TABLE IF EXISTS lw_pg_types")
    db.execute(TYPES_TABLE)
    for row in TYPES_ROWS:
        db.execute("INSERT INTO lw_pg_types VALUES " + row)
    cur = db.execute("SELECT * FROM lw_pg_types ORDER BY id")
    types = [db.execute("SELECT typname FROM pg_type WHERE oid = %s", (d.type_code,)).fetchone()[0]
             for d in cur.description]
    want = cur.fetchall()
    p = run_probe(probe, URL, "copy-decode", "SELECT * FROM lw_pg_types ORDER BY id")
    assert p.returncode == 0, p.stderr
    got = [json.loads(l) for l in p.stdout.splitlines()]
    assert len(got) == len(want) == len(TYPES_ROWS)
    checked = set()
    for g, w in zip(got, want):
        assert len(g) == len(w) == len(types)
        for gv, wv, name, col in zip(g, w, types, cur.description):
            if name in ("json", "jsonb"):
                assert probe_value(gv, name) == wv, (col.name, gv, wv)
            elif name.startswith("_") and isinstance(gv, dict):
                assert probe_value(gv, name) == canon(wv, name), (col.name, gv, wv)
                sizes = [d[1] for d in gv["dims"]]
                nested = wv
                for size in sizes:   # the dimensions psycopg's nested lists show
                    assert isinstance(nested, list) and len(nested) == size, (col.name, gv["dims"], wv)
                    nested = nested[0] if size > 0 else nested
            else:
                assert probe_value(gv, name) == canon(wv, name), (col.name, name, gv, wv)
            checked.add(name)
    assert {"bool", "int2", "int4", "int8", "float4", "float8", "numeric", "text", "varchar", "bpchar", "name",
            "uuid", "json", "jsonb", "bytea", "date", "timestamp", "timestamptz", "time", "_int4", "_text",
            "_numeric", "_date", "_int8", "_bool", "_uuid", "_timestamptz"} <= checked


def test_values_psycopg_cannot_hold_match_the_servers_text(probe, db):
    """Infinities, BC dates and years past 9999: psycopg refuses them, so compare with
    the server's own arithmetic."""
    sql = """SELECT 'infinity'::date, '-infinity'::date, '4714-11-24 BC'::date, '5874897-12-31'::date,
                    'infinity'::timestamp, '-infinity'::timestamptz, '4714-11-24 00:00:00 BC'::timestamp,
                    '200000-01-01 00:00:00'::timestamp, '24:00:00'::time, 'Infinity'::numeric,
                    12345::numeric(5,-2), 1e-200::numeric"""
    p = run_probe(probe, URL, "copy-decode", sql)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    days = db.execute("SELECT '4714-11-24 BC'::date - DATE '1970-01-01', '5874897-12-31'::date - DATE '1970-01-01'"
                      ).fetchone()
    us = db.execute("SELECT (EXTRACT(EPOCH FROM '4714-11-24 00:00:00 BC'::timestamp) * 1000000)::int8, "
                    "(EXTRACT(EPOCH FROM '200000-01-01 00:00:00'::timestamp) * 1000000)::int8").fetchone()
    text = db.execute("SELECT (12345::numeric(5,-2))::text, (1e-200::numeric)::text").fetchone()
    assert got == ["infinity", "-infinity", f"d:{days[0]}", f"d:{days[1]}", "infinity", "-infinity",
                   f"us:{us[0]}", f"us:{us[1]}", "us:86400000000", "Infinity", text[0], text[1]]


# ---------------------------------------------------------------------------
# A million rows, streamed


MILLION = 1_000_000


@pytest.fixture(scope="module")
def million(db):
    have = db.execute("SELECT to_regclass('public.lw_pg_million') IS NOT NULL").fetchone()[0]
    if have and db.execute("SELECT count(*) FROM lw_pg_million").fetchone()[0] == MILLION:
        return "lw_pg_million"
    db.execute("DROP TABLE IF EXISTS lw_pg_million")
    db.execute("""CREATE TABLE lw_pg_million AS
        SELECT i::int8 AS id,
               CASE WHEN i % 1000 = 0 THEN NULL ELSE md5(i::text) END AS val,
               (i * 0.01)::numeric(12,2) AS amount,
               timestamptz '2020-01-01 00:00:00+00' + i * interval '1.5 second' AS ts,
               i % 3 = 0 AS flag
        FROM generate_series(1, 1000000) i""")
    return "lw_pg_million"


def psycopg_sha256(dsn, sql):
    """The probe's canonical lines (copy-sum) computed from what psycopg reads."""
    h = hashlib.sha256()
    rows = 0
    with psycopg.connect(dsn) as conn:
        with conn.cursor(name="lw_sum") as cur:
            cur.itersize = 20000
            cur.execute(sql)
            for id_, val, amount, ts, flag in cur:
                line = "%d\t%s\t%s\tus:%d\t%s\n" % (id_, val if val is not None else "\\N", format(amount, "f"),
                                                     (ts - EPOCH_TZ) // US, "t" if flag else "f")
                h.update(line.encode())
                rows += 1
    return h.hexdigest(), rows


def test_copy_a_million_rows_with_bounded_memory(probe, million):
    sql = f"SELECT id, val, amount, ts, flag FROM {million} ORDER BY id"
    t0 = time.monotonic()
    # Paused every 200 slices and resumed 1 ms later: back-pressure on the way.
    p = run_probe(probe, "--pause-every", "200", URL, "copy-sum", sql)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    s = summary(p)
    want, rows = psycopg_sha256(DSN, sql)
    assert rows == MILLION
    assert s["rows"] == MILLION and s["copy_rows"] == MILLION
    assert s["sha256"] == want
    assert s["bytes"] > 60_000_000          # the stream is far larger than ...
    assert s["maxrss_kb"] < 16 * 1024       # ... the process ever was
    print(f"\n1M rows, {s['bytes']} bytes in {elapsed:.2f} s, max RSS {s['maxrss_kb']} KiB, "
          f"{s['calls']} data callbacks")


def test_cancel_a_copy_by_closing(probe, db):
    marker = f"lw_cancel_{uuid.uuid4().hex[:8]}"
    sql = f"SELECT i, '{marker}' AS m, repeat('x', 200) AS pad FROM generate_series(1, 200000000) i"
    p = run_probe(probe, "--cancel-after-bytes", "2000000", URL, "copy-sum", sql)
    assert p.returncode == 0, p.stderr
    assert "CANCELED postgres 127.0.0.1:" in p.stderr and "canceled by closing the connection" in p.stderr
    # The server gives the statement up once its writes fail.
    deadline = time.time() + 30
    while time.time() < deadline:
        n = db.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
                       (f"%{marker}%",)).fetchone()[0]
        if n == 0:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the canceled COPY still runs on the server")


# ---------------------------------------------------------------------------
# Fake servers


def backend(type_, body=b""):
    return type_ + struct.pack(">I", len(body) + 4) + body


AUTH_OK = backend(b"R", struct.pack(">I", 0))
READY = (backend(b"S", b"client_encoding\0UTF8\0") + backend(b"S", b"server_version\x0016.0 fake\0")
         + backend(b"K", struct.pack(">II", 1, 2)) + backend(b"Z", b"I"))


class Fake:
    """A one-connection TCP server on 127.0.0.1 running `handler(sock)` in a thread."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.seen = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(30)
        try:
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(30)
                    try:
                        self.handler(self, conn)
                    except (OSError, EOFError):
                        pass
        except OSError:
            return

    def close(self):
        self.sock.close()


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_startup(conn):
    n = struct.unpack(">I", read_exactly(conn, 4))[0]
    return read_exactly(conn, n - 4)


def read_message(conn):
    head = read_exactly(conn, 5)
    return head[:1], read_exactly(conn, struct.unpack(">I", head[1:])[0] - 4)


def fake_url(port, **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgres://fake@localhost:{port}/db" + (f"?{q}" if q else "")


def test_server_without_tls(probe, tmp_path):
    def handler(fake, conn):
        first = read_startup(conn)
        fake.seen.append(first)
        if first == struct.pack(">I", 80877103):   # SSLRequest
            conn.sendall(b"N")
            first = read_startup(conn)
            fake.seen.append(first)
        conn.sendall(AUTH_OK + READY)
        try:
            read_message(conn)   # Terminate
        except EOFError:
            pass

    fake = Fake(handler)
    try:
        p = run_probe(probe, "--ca", "/etc/ssl/certs/ca-certificates.crt", fake_url(fake.port, sslmode="require"),
                      "connect")
        line = error_line(p)
        assert "the server does not accept TLS (it answered 'N' to SSLRequest), but sslmode=require" in line
        p = run_probe(probe, "--ca", "/etc/ssl/certs/ca-certificates.crt", fake_url(fake.port), "connect")
        assert p.returncode == 0, p.stderr
        assert "server declined TLS" in p.stderr
        startup = fake.seen[-1]
        assert startup.startswith(struct.pack(">I", 196608))
        assert b"user\0fake\0database\0db\0application_name\0lakewriter\0client_encoding\0UTF8\0DateStyle\0ISO\0\0" \
            in startup
        assert summary(p)["auth"] == "trust"
    finally:
        fake.close()


def test_not_postgres_and_silence(probe):
    def http(fake, conn):
        conn.recv(100)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    fake = Fake(http)
    try:
        p = run_probe(probe, fake_url(fake.port, sslmode="disable"), "connect")
        assert "the server did not answer like PostgreSQL (first byte 'H'): is this the right port?" in error_line(p)
        p = run_probe(probe, "--ca", "/etc/ssl/certs/ca-certificates.crt", fake_url(fake.port), "connect")
        assert "did not answer SSLRequest like PostgreSQL (byte 0x48)" in error_line(p)
    finally:
        fake.close()

    def silent(fake, conn):
        time.sleep(5)

    fake = Fake(silent)
    try:
        t0 = time.monotonic()
        p = run_probe(probe, fake_url(fake.port, sslmode="disable", connect_timeout=1), "connect")
        assert "not connected and logged in within connect_timeout (1000 ms)" in error_line(p)
        assert time.monotonic() - t0 < 4
    finally:
        fake.close()


def test_io_timeout_and_reset_during_a_copy(probe):
    def stalls(fake, conn):
        read_startup(conn)
        conn.sendall(AUTH_OK + READY)
        read_message(conn)   # the Query
        conn.sendall(backend(b"H", b"\x01\x00\x01\x00\x01") + backend(b"d", b"PGCOPY\n\xff\r\n\0"))
        time.sleep(5)

    fake = Fake(stalls)
    try:
        p = run_probe(probe, "--io-timeout-ms", "500", fake_url(fake.port, sslmode="disable"), "copy-raw", "SELECT 1")
        assert "no data from the server for 500 ms (io timeout)" in error_line(p)
    finally:
        fake.close()

    def resets(fake, conn):
        read_startup(conn)
        conn.sendall(AUTH_OK + READY)
        read_message(conn)
        conn.sendall(backend(b"H", b"\x01\x00\x01\x00\x01") + backend(b"d", b"PGCOPY\n\xff\r\n\0"))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    fake = Fake(resets)
    try:
        p = run_probe(probe, fake_url(fake.port, sslmode="disable"), "copy-raw", "SELECT 1")
        line = error_line(p)
        assert "connection reset" in line or "closed the connection" in line, line
    finally:
        fake.close()
