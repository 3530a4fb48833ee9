"""The PostgreSQL client (src/pg.h, through tests/tools/pg_probe) against a server of
its own, started here in a temporary directory on 127.0.0.1 and a free port: trust,
MD5 and cleartext-password logins, and TLS (ssl=on with a certificate from
tests/tls/make_certs.sh) under every sslmode, including a user that may only connect
over TLS (hostssl)."""
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile

import psycopg
import pytest

from conftest import ROOT, run

HBA = """\
local all all trust
host all trustuser 127.0.0.1/32 trust
host all md5user 127.0.0.1/32 md5
host all pwuser 127.0.0.1/32 password
hostssl all sslonly 127.0.0.1/32 scram-sha-256
host all lakewriter 127.0.0.1/32 scram-sha-256
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(cmd, **kw):
    """Runs a PostgreSQL program as the `postgres` user when we are root (it refuses
    to run as root), as scripts/services does."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return run(cmd, **kw)


@pytest.fixture(scope="module")
def own():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not bins:
        pytest.fail("PostgreSQL is not installed (scripts/bootstrap installs it)")
    pg_bin = bins[-1]
    base = tempfile.mkdtemp(prefix="lw-pg-test-")   # not under pytest's 0700 tmp: postgres must reach it
    os.chmod(base, 0o755)
    certs = os.path.join(base, "certs")
    r = run(["sh", ROOT / "tests" / "tls" / "make_certs.sh", certs], timeout=120)
    assert r.returncode == 0, r.stderr
    data = os.path.join(base, "data")
    os.mkdir(data)
    pwfile = os.path.join(base, "pw")
    with open(pwfile, "w") as f:
        f.write("lakewriter\n")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        shutil.chown(pwfile, "postgres")
    r = as_postgres([f"{pg_bin}/initdb", "-D", data, "-U", "lakewriter", f"--pwfile={pwfile}", "--auth-local=trust",
                     "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"], timeout=120)
    assert r.returncode == 0, r.stderr
    port = free_port()
    for name, dst in (("leaf-rsa.pem", "server.pem"), ("leaf-rsa.key", "server.key")):
        shutil.copy(os.path.join(certs, name), os.path.join(data, dst))
        os.chmod(os.path.join(data, dst), 0o600)
        if os.geteuid() == 0:
            shutil.chown(os.path.join(data, dst), "postgres")
    with open(os.path.join(data, "pg_hba.conf"), "w") as f:
        f.write(HBA)
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{data}'\n"
                "ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n"
                "max_connections = 20\nshared_buffers = 16MB\n")
    log = os.path.join(base, "postgres.log")
    if os.geteuid() == 0:
        open(log, "w").close()
        shutil.chown(log, "postgres")
    r = as_postgres([f"{pg_bin}/pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start"], timeout=90)
    assert r.returncode == 0, r.stderr + open(log).read()
    try:
        with psycopg.connect(host=data, port=port, user="lakewriter", dbname="postgres", autocommit=True) as c:
            c.execute("SET password_encryption = 'md5'")
            c.execute("CREATE ROLE md5user LOGIN PASSWORD 'md5pass'")
            c.execute("SET password_encryption = 'scram-sha-256'")
            c.execute("CREATE ROLE pwuser LOGIN PASSWORD 'pw pass'")
            c.execute("CREATE ROLE sslonly LOGIN PASSWORD 'sslpass'")
            c.execute("CREATE ROLE trustuser LOGIN")
            c.execute("CREATE TABLE lw_tls_rows AS SELECT i, md5(i::text) AS v FROM generate_series(1, 50000) i")
            c.execute("GRANT SELECT ON lw_tls_rows TO sslonly, trustuser, md5user, pwuser")
        yield {"port": port, "certs": certs, "data": data}
    finally:
        as_postgres([f"{pg_bin}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def probe(tools):
    path = tools / "pg_probe"
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `scripts/zig build tools` first")
    return path


def run_probe(probe, *args, password=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["HOME"] = "/nonexistent"
    if password is not None:
        env["PGPASSWORD"] = password
    return run([probe, *args], env=env, timeout=120, errors="replace")


def summary(p):
    lines = [l for l in p.stderr.splitlines() if l.startswith("SUMMARY ")]
    assert p.returncode == 0 and lines, p.stderr
    return json.loads(lines[-1][len("SUMMARY "):])


def error_line(p):
    lines = [l for l in p.stderr.splitlines() if l.startswith("ERROR ")]
    assert p.returncode == 1 and lines, (p.returncode, p.stderr)
    return lines[-1]


def url(own, user, host="127.0.0.1", **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgres://{user}@{host}:{own['port']}/postgres" + (f"?{q}" if q else "")


def test_trust_login(probe, own):
    p = run_probe(probe, url(own, "trustuser", sslmode="disable"), "query", "SELECT current_user")
    s = summary(p)
    assert s["auth"] == "trust" and s["tls"] is False
    assert json.loads(p.stdout)["rows"] == [["trustuser"]]


def test_md5_login(probe, own):
    p = run_probe(probe, url(own, "md5user", sslmode="disable"), "query", "SELECT current_user", password="md5pass")
    assert summary(p)["auth"] == "md5"
    assert json.loads(p.stdout)["rows"] == [["md5user"]]
    p = run_probe(probe, url(own, "md5user", sslmode="disable"), "connect", password="nope")
    line = error_line(p)
    assert " 28P01 " in line and "password authentication failed for user \"md5user\"" in line


def test_cleartext_login(probe, own):
    p = run_probe(probe, url(own, "pwuser", sslmode="disable"), "connect", password="pw pass")
    assert summary(p)["auth"] == "password"
    p = run_probe(probe, url(own, "pwuser", sslmode="disable"), "connect", password="pw-pass")
    assert " 28P01 " in error_line(p)
    p = run_probe(probe, url(own, "pwuser", sslmode="disable"), "connect")
    assert "the server asks for a password (password authentication of user \"pwuser\")" in error_line(p)


def test_scram_login_on_this_server_too(probe, own):
    p = run_probe(probe, url(own, "lakewriter", sslmode="disable"), "connect", password="lakewriter")
    assert summary(p)["auth"] == "scram-sha-256"


def tls_sha(own):
    h = hashlib.sha256()
    with psycopg.connect(host=own["data"], port=own["port"], user="lakewriter", dbname="postgres") as c:
        for i, v in c.execute("SELECT i, v FROM lw_tls_rows ORDER BY i"):
            h.update(f"{i}\t{v}\n".encode())
    return h.hexdigest()


def test_tls_verify_full_with_the_test_ca(probe, own):
    bundle = os.path.join(own["certs"], "bundle.pem")
    u = url(own, "sslonly", host="localhost", sslmode="verify-full", sslrootcert=bundle)
    p = run_probe(probe, u, "copy-sum", "SELECT i, v FROM lw_tls_rows ORDER BY i", password="sslpass")
    s = summary(p)
    assert s["tls"] is True and s["auth"] == "scram-sha-256"
    assert s["rows"] == 50000 and s["sha256"] == tls_sha(own)
    # on the server side too
    p = run_probe(probe, u, "query", "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                  password="sslpass")
    assert json.loads(p.stdout)["rows"] == [["t", "TLSv1.2"]]
    # the name on the certificate, with the address given apart
    p = run_probe(probe, url(own, "sslonly", host="localhost", sslmode="verify-full", sslrootcert=bundle,
                             hostaddr="127.0.0.1"), "connect", password="sslpass")
    assert summary(p)["tls"] is True


def test_tls_with_the_wrong_ca(probe, own):
    other = os.path.join(own["certs"], "other-ca.pem")
    for mode in ("verify-full", "verify-ca", "require"):
        p = run_probe(probe, url(own, "sslonly", host="localhost", sslmode=mode, sslrootcert=other), "connect",
                      password="sslpass")
        line = error_line(p)
        assert f"postgres: TLS handshake with localhost:{own['port']}" in line, line
        assert "not trusted" in line, line
        assert "sslpass" not in p.stderr


def test_require_encrypts_and_verifies(probe, own):
    bundle = os.path.join(own["certs"], "bundle.pem")
    p = run_probe(probe, url(own, "sslonly", host="localhost", sslmode="require", sslrootcert=bundle), "connect",
                  password="sslpass")
    assert summary(p)["tls"] is True
    # an IP address cannot be verified: refused before connecting
    p = run_probe(probe, url(own, "sslonly", sslmode="require", sslrootcert=bundle), "connect", password="sslpass")
    assert "127.0.0.1 is an IP address, which lakewriter cannot check" in error_line(p)


def test_disable_against_a_hostssl_only_user(probe, own):
    p = run_probe(probe, url(own, "sslonly", host="localhost", sslmode="disable"), "connect", password="sslpass")
    line = error_line(p)
    assert " 28000 " in line
    assert "no pg_hba.conf entry for host \"127.0.0.1\", user \"sslonly\", database \"postgres\", no encryption" in line


def test_prefer(probe, own):
    bundle = os.path.join(own["certs"], "bundle.pem")
    other = os.path.join(own["certs"], "other-ca.pem")
    # a trusted certificate: TLS
    p = run_probe(probe, url(own, "trustuser", host="localhost", sslrootcert=bundle), "connect")
    assert summary(p)["tls"] is True
    # an untrusted one: a warning, then plain text, as libpq's prefer falls back
    p = run_probe(probe, url(own, "trustuser", host="localhost", sslrootcert=other), "connect")
    s = summary(p)
    assert s["tls"] is False and s["auth"] == "trust"
    warnings = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{") and "TLS failed" in l]
    assert warnings and warnings[0]["level"] == "warn" and "not trusted" in warnings[0]["error"]
    # ... which a hostssl-only user cannot use
    p = run_probe(probe, url(own, "sslonly", host="localhost", sslrootcert=other), "connect", password="sslpass")
    assert " 28000 " in error_line(p)
    # an IP address: TLS skipped at once (nothing to verify the certificate against)
    p = run_probe(probe, url(own, "trustuser", sslrootcert=bundle), "connect")
    assert summary(p)["tls"] is False
    assert not [l for l in p.stderr.splitlines() if "TLS failed" in l]
