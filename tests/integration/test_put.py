"""`lakewriter put` end to end through the strict S3 front (tests/s3front) in R2 mode:
PUT and multipart over HTTP and TLS, every fault kind retried, give-up with the
multipart upload aborted, no retry on 403, and TLS failures that send no request.

Every object is read back directly from moto with boto3 and compared byte for byte."""
import hashlib
import os
import pathlib
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run

sys.path.insert(0, str(ROOT / "tests"))
from s3front.control import ACCESS_KEY_ID, BUCKET, REGION, SECRET_ACCESS_KEY, Instance  # noqa: E402

MiB = 1 << 20


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    with Instance(tmp_path_factory.mktemp("s3front")) as inst:
        inst.control.settings(r2=True)  # reject what R2 rejects
        yield inst


@pytest.fixture(autouse=True)
def clean_front(front):
    front.control.clear_faults()
    yield
    front.control.clear_faults()


def write_config(path, **s3):
    """The example config with [s3] settings replaced or added (part_size, request_timeout...)."""
    import re
    text = (ROOT / "examples" / "lakewriter.toml").read_text()
    assert "\n[s3]\n" in text
    for k, v in s3.items():
        line = f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
        text, n = re.subn(rf"(?m)^{k}\s*=.*$", line, text)
        if n == 0:
            text = text.replace("\n[s3]\n", "\n[s3]\n" + line + "\n", 1)
    path.write_text(text)
    return path


def put(lakewriter, front, tmp_path, src, key, tls=True, env_extra=None, timeout=180, **s3):
    config = write_config(tmp_path / "lakewriter.toml", part_size="5MiB", **s3)
    endpoint = front.tls_endpoint if tls else front.endpoint
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
           "PATH": os.environ.get("PATH", "")}
    env.update(env_extra or {})
    cmd = [lakewriter, "put", "--config", config, "--s3-endpoint", endpoint, "--bucket", BUCKET,
           "--region", REGION, "--ca-file", front.ca_file, src, key]
    return run(cmd, env=env, timeout=timeout)


def make_file(path, size, seed):
    """Deterministic bytes that do not compress: a SHA-256 counter stream."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest()
        i += 1
    path.write_bytes(bytes(out[:size]))
    return path


def read_back(front, key):
    return front.moto_client().get_object(Bucket=BUCKET, Key=key)["Body"].read()


def multipart_etag(data, part):
    md5s = [hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part)]
    return hashlib.md5(b"".join(md5s)).hexdigest() + f"-{len(md5s)}"


def parse_output(stdout):
    """size=.. etag=.. parts=.. key=<the rest of the line>"""
    line = stdout.rstrip("\n")
    head, key = line.split(" key=", 1)
    fields = dict(f.split("=", 1) for f in head.split())
    fields["key"] = key
    return fields


@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls"])
@pytest.mark.parametrize("size", [0, 1000, 5 * MiB, 23 * MiB + 17], ids=["empty", "small", "one-part", "multipart"])
def test_put_roundtrip(lakewriter, front, tmp_path, tls, size):
    src = make_file(tmp_path / "data.bin", size, seed=size)
    key = f"put/{'tls' if tls else 'http'}/{size}/a b+c=d~é.bin"
    r = put(lakewriter, front, tmp_path, src, key, tls=tls)
    assert r.returncode == 0, r.stderr
    out = parse_output(r.stdout)
    data = src.read_bytes()
    assert out["key"] == key and int(out["size"]) == size
    if size > 5 * MiB:
        assert out["etag"] == multipart_etag(data, 5 * MiB)
        assert int(out["parts"]) == -(-size // (5 * MiB))
    else:
        assert out["etag"] == hashlib.md5(data).hexdigest()
        assert out["parts"] == "1"
    assert read_back(front, key) == data
    head = front.moto_client().head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"].strip('"') == out["etag"]


FAULTS = [
    ("internal_error", dict(op="UploadPart")),
    ("slow_down", dict(op="UploadPart")),
    ("internal_error", dict(op="CreateMultipartUpload")),
    ("slow_down", dict(op="CompleteMultipartUpload")),
    ("reset", dict(op="UploadPart", after_bytes=65536)),
    ("stall", dict(op="UploadPart", phase="response", seconds=30)),
    ("complete_error", dict(op="CompleteMultipartUpload")),
    ("request_timeout", dict(op="UploadPart", after_bytes=65536)),
    ("internal_error", dict(op="PutObject")),
    ("reset", dict(op="PutObject", after_bytes=1000)),
]


@pytest.mark.parametrize("kind,match", FAULTS, ids=[f"{k}-{m['op']}" for k, m in FAULTS])
def test_faults_are_retried_until_success(lakewriter, front, tmp_path, kind, match):
    size = 2 * MiB if match["op"] == "PutObject" else 12 * MiB
    src = make_file(tmp_path / "data.bin", size, seed=7)
    key = f"faults/{kind}-{match['op']}.bin"
    front.control.fault(kind, bucket=BUCKET, count=1, **match)
    seq = front.control.seq()
    r = put(lakewriter, front, tmp_path, src, key, request_timeout="2s")
    assert r.returncode == 0, r.stderr
    assert read_back(front, key) == src.read_bytes()
    log = front.control.log(since=seq, bucket=BUCKET)
    faulted = [e for e in log if e.get("fault")]
    assert len(faulted) == 1, [(e["op"], e.get("fault"), e.get("status")) for e in log]
    assert faulted[0]["op"] == match["op"]
    retried = [e for e in log if e["op"] == match["op"] and not e.get("fault") and e.get("status") == 200]
    assert retried, "the faulted request was never retried successfully"
    assert "retrying" in r.stderr


def test_give_up_aborts_the_multipart_upload(lakewriter, front, tmp_path):
    src = make_file(tmp_path / "data.bin", 12 * MiB, seed=9)
    key = "giveup/never.bin"
    front.control.fault("internal_error", bucket=BUCKET, op="UploadPart", count=-1)
    seq = front.control.seq()
    t0 = time.monotonic()
    r = put(lakewriter, front, tmp_path, src, key, max_attempts=3)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "3" in r.stderr and "InternalError" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 120
    log = front.control.log(since=seq, bucket=BUCKET)
    ops = [e["op"] for e in log]
    assert ops.count("AbortMultipartUpload") >= 1, ops
    assert "CompleteMultipartUpload" not in ops
    moto = front.moto_client()
    assert moto.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    with pytest.raises(Exception):
        moto.head_object(Bucket=BUCKET, Key=key)


def test_wrong_secret_is_not_retried(lakewriter, front, tmp_path):
    src = make_file(tmp_path / "data.bin", 1000, seed=1)
    seq = front.control.seq()
    r = put(lakewriter, front, tmp_path, src, "denied/x.bin",
            env_extra={"AWS_SECRET_ACCESS_KEY": "not-the-secret"})
    assert r.returncode == 1
    assert "SignatureDoesNotMatch" in r.stderr
    assert "secret" in r.stderr.lower()
    assert "not-the-secret" not in r.stdout + r.stderr
    assert len(front.control.log(since=seq, bucket=BUCKET)) == 1  # no retry


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    out = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", str(ROOT / "tests" / "tls" / "make_certs.sh"), str(out)], check=True)
    return out


def tls_peer(mode, certs, leaf):
    cmd = [sys.executable, str(ROOT / "tests" / "tls" / "peer.py"), mode, "--connections", "3"]
    if leaf:
        cmd += ["--cert", str(certs / f"{leaf}.pem"), "--key", str(certs / f"{leaf}.key")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("port "), line + p.stderr.read()
    return p, int(line.split()[1])


@pytest.mark.parametrize("mode,leaf,message", [
    ("echo", "leaf-other", "not trusted"),
    ("echo", "leaf-wrong", "wrong.example"),
    ("echo", "leaf-expired", "expired"),
    ("http", None, "did not answer with TLS"),
])
def test_tls_failures_are_clear_and_send_no_request(lakewriter, tmp_path, certs, mode, leaf, message):
    peer, port = tls_peer(mode, certs, leaf)
    try:
        src = make_file(tmp_path / "data.bin", 1000, seed=2)
        config = write_config(tmp_path / "c.toml", part_size="5MiB")
        env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
        r = run([lakewriter, "put", "--config", config, "--s3-endpoint", f"https://localhost:{port}",
                 "--bucket", BUCKET, "--region", REGION, "--ca-file", certs / "bundle.pem", src, "k.bin"],
                env=env, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert message in r.stderr, r.stderr
        assert f"localhost:{port}" in r.stderr
        # A certificate problem is not retried (one connection, no second handshake).
        assert "retrying" not in r.stderr
    finally:
        peer.kill()
        peer.wait()
