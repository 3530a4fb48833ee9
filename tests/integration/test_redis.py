"""The Redis client (src/redis.h) through tests/tools/redis_probe, against the test
Redis of scripts/services (and a TLS redis-server started here), checked with redis-py.

The probe takes a redis:// URL through lakewriter's own configuration loader, so these
tests also cover URL -> connection settings (user, password, db, rediss://). The shared
server is used with a db of its own and unique key and user names."""
import json
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import redis

from conftest import ROOT, run

PORT = int(os.environ.get("LW_REDIS_PORT", "6390"))
DB = 9


@pytest.fixture(scope="module")
def server():
    r = run([ROOT / "scripts" / "services", "start", "redis"], timeout=60)
    assert r.returncode == 0, r.stderr
    return PORT


@pytest.fixture(scope="module")
def probe(tools):
    path = tools / "redis_probe"
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `scripts/zig build tools` first")
    return path


@pytest.fixture()
def r(server):
    return redis.Redis(host="127.0.0.1", port=server, db=DB)


@pytest.fixture()
def key():
    return f"lwtest:{uuid.uuid4().hex[:12]}"


def url(db=DB, userinfo=""):
    return f"redis://{userinfo}127.0.0.1:{PORT}/{db}"


def run_probe(probe, *args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "LAKEWRITER_"))}
    env.update(env_extra or {})
    return run([probe, *args], env=env, timeout=120)


def entries_of(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def fields_of(entry):
    return {bytes.fromhex(f): bytes.fromhex(v) for f, v in entry["fields"]}


def test_url_db_and_one_command(probe, r, key):
    p = run_probe(probe, url(), "cmd", "HSET", key, "f", "in db 9")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "1"
    assert r.hget(key, "f") == b"in db 9"
    assert redis.Redis(host="127.0.0.1", port=PORT, db=0).exists(key) == 0
    r.delete(key)


def test_pipelined_xadd_is_what_redis_py_reads(probe, r, key):
    n = 5000
    p = run_probe(probe, url(), "xadd", key, str(n))
    assert p.returncode == 0, p.stderr
    rows = r.xrange(key)
    assert len(rows) == n
    for i, (entry_id, fields) in enumerate(rows):
        assert fields == {b"n": str(i).encode(), b"data": json.dumps({"i": i}, separators=(",", ":")).encode()}
    assert p.stdout.strip() == f"added {n} last={rows[-1][0].decode()}"
    r.delete(key)


def test_read_pending_first_trimmed_entries_nil_then_ack(probe, r, key):
    values = [b"plain", b"nul\x00byte", b"crlf\r\nin it", "unicod\u00e9 \u2603".encode(), b"", b"\xff\xfe"]
    ids = [r.xadd(key, {"v": v, "i": str(i)}) for i, v in enumerate(values)]

    # First read: the group is created at 0; everything is new.
    p = run_probe(probe, url(), "read", key, "g", "c1")
    assert p.returncode == 0, p.stderr
    got = entries_of(p.stdout)
    assert [e["id"] for e in got] == [i.decode() for i in ids]
    for e, i, v in zip(got, range(len(values)), values):
        assert not e["deleted"]
        assert fields_of(e) == {b"v": v, b"i": str(i).encode()}
    assert r.xpending(key, "g")["pending"] == len(values)

    # Two entries vanish while pending: read again, they come back with nil fields.
    assert r.xdel(key, ids[1], ids[4]) == 2
    p = run_probe(probe, url(), "read", key, "g", "c1", "ack")
    assert p.returncode == 0, p.stderr
    got = entries_of(p.stdout)
    assert [e["id"] for e in got] == [i.decode() for i in ids]
    assert [e["deleted"] for e in got] == [False, True, False, False, True, False]
    assert got[1]["fields"] == [] and got[4]["fields"] == []
    assert p.stdout.strip().splitlines()[-1] == f"acked {len(values)}"
    assert r.xpending(key, "g")["pending"] == 0
    r.delete(key)


def test_nogroup_is_a_typed_server_error(probe, key):
    p = run_probe(probe, url(), "cmd", "XREADGROUP", "GROUP", "nogroup", "c", "STREAMS", key, ">")
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert json.loads(p.stdout)["error"].startswith(f"NOGROUP No such key '{key}' or consumer group 'nogroup'")


@pytest.fixture()
def acl_user(r):
    name = f"lw{uuid.uuid4().hex[:8]}"
    assert r.acl_setuser(name, enabled=True, passwords=["+pw secret"], keys=["*"], channels=["*"],
                         commands=["+@all"])
    yield name
    r.acl_deluser(name)


def test_acl_user_from_the_url_and_from_redis_password(probe, acl_user):
    p = run_probe(probe, url(userinfo=f"{acl_user}:pw%20secret@"), "cmd", "ACL", "WHOAMI")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == acl_user
    p = run_probe(probe, url(userinfo=f"{acl_user}@"), "cmd", "ACL", "WHOAMI",
                  env_extra={"REDIS_PASSWORD": "pw secret"})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == acl_user


def test_wrong_password_is_a_clear_error(probe, acl_user):
    p = run_probe(probe, url(userinfo=f"{acl_user}:not-it@"), "ping")
    assert p.returncode == 1
    assert f"redis 127.0.0.1:{PORT}: AUTH: WRONGPASS invalid username-password pair" in p.stderr
    assert "not-it" not in p.stderr + p.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A redis-server with TLS only, its certificate from tests/tls/make_certs.sh."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/bootstrap installs it)")
    certs = tmp_path_factory.mktemp("redis-tls") / "certs"
    r = run(["sh", ROOT / "tests" / "tls" / "make_certs.sh", certs], timeout=120)
    assert r.returncode == 0, r.stderr
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(certs.parent),
         "--tls-cert-file", str(certs / "leaf-ec.pem"), "--tls-key-file", str(certs / "leaf-ec.key"),
         "--tls-ca-cert-file", str(certs / "ca.pem"), "--tls-auth-clients", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the TLS redis-server did not start")
    yield port, certs
    proc.terminate()
    proc.wait(timeout=10)


def test_rediss(probe, tls_server):
    port, certs = tls_server
    p = run_probe(probe, f"rediss://localhost:{port}/0", "ping",
                  env_extra={"LAKEWRITER_CA_FILE": str(certs / "bundle.pem")})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"status": "PONG"}
    # The same server with a bundle that does not hold its CA.
    p = run_probe(probe, f"rediss://localhost:{port}/0", "ping",
                  env_extra={"LAKEWRITER_CA_FILE": str(certs / "other-ca.pem")})
    assert p.returncode == 1
    assert f"redis localhost:{port}: cannot connect: TLS handshake with localhost:{port}" in p.stderr
    assert "not trusted" in p.stderr
