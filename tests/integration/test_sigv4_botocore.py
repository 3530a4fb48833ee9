"""s3/sigv4 against botocore's S3SigV4Auth: the same random requests signed by both.

A seeded generator makes a few thousand S3 requests whose keys hold spaces, '+',
'=', '~', '%', '//', dot segments, unicode and very long names, with multipart
queries (uploads=, partNumber/uploadId), list queries, session tokens, regions
including R2's 'auto', path-style and virtual-hosted addressing, custom headers with
odd whitespace, repeated names and never-signed ones, signed bodies and
UNSIGNED-PAYLOAD. zig-out/tools/sigv4_sign (built by `zig build tools`) signs the
raw request; botocore signs the same request built the way botocore builds it (key
percent-encoded by Python into the URL, query as params). The Authorization
header, X-Amz-Date, X-Amz-Content-SHA256 and the request-target must match byte
for byte."""
import datetime
import hashlib
import os
import random
import string
import subprocess
from unittest import mock
from urllib.parse import quote

import pytest

botocore = pytest.importorskip("botocore")
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

SEED = int(os.environ.get("LW_SIGV4_SEED", "20240229"))
COUNT = int(os.environ.get("LW_SIGV4_CASES", "3000"))

ENDPOINTS = [
    # (host as sent, TLS, allows virtual-hosted)
    ("s3.us-east-1.amazonaws.com", True, True),
    ("s3.eu-west-1.amazonaws.com", True, True),
    ("0123456789abcdef.r2.cloudflarestorage.com", True, False),
    ("127.0.0.1:9000", False, False),
    ("minio.internal:9000", True, False),
    ("localhost", False, False),
]
REGIONS = ["us-east-1", "eu-west-1", "auto", "ap-southeast-2", "us-gov-west-1", "eu-central-2"]
KEY_PIECES = [
    "a", "Z", "0", "events", "dt=2024-01-01", "hour=07", "part-00001.parquet", " ", "  ",
    "+", "=", "~", "%", "%20", "%2F", "/", "//", ".", "..", "./", "../", "!", "*", "'", "(", ")",
    "&", "$", "@", ":", ",", ";", "?", "#", "[", "]", "{", "}", "^", "`", "|", "\\", '"', "<", ">",
    "é", "€", "日本語", "ключ", "😀", "\u00a0", "\u200b", "ß", "ﬁ", "\t", "-_.",
]
QUERY_CHARS = string.ascii_letters + string.digits + "-_.~ +=/%&?:@!$'()*,;é€😀"


def random_key(rng):
    if rng.random() < 0.05:
        # Very long: close to S3's 1024-byte limit once encoded as UTF-8.
        parts, size = [], 0
        while True:
            p = rng.choice(KEY_PIECES)
            if size + len(p.encode()) > 1024:
                break
            parts.append(p)
            size += len(p.encode())
        return "".join(parts)
    return "".join(rng.choice(KEY_PIECES) for _ in range(rng.randint(1, 12)))


def random_text(rng, chars, lo, hi):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def random_header_value(rng):
    core = random_text(rng, string.ascii_letters + string.digits + "-_.:/=+;,\"'()", 0, 20)
    words = [core] + [random_text(rng, string.ascii_letters, 1, 6) for _ in range(rng.randint(0, 3))]
    seps = [" ", "  ", "\t", " \t "]
    v = "".join(w + rng.choice(seps) for w in words).rstrip(" \t")
    return rng.choice(["", " ", "\t", "   "]) + v + rng.choice(["", " ", "\t "])


def random_query(rng):
    kind = rng.random()
    if kind < 0.2:
        return []
    if kind < 0.35:
        return [("uploads", "")]
    upload_id = random_text(rng, string.ascii_letters + string.digits + "+/=-_.~", 20, 80)
    if kind < 0.6:
        return [("partNumber", str(rng.randint(1, 10000))), ("uploadId", upload_id)]
    if kind < 0.7:
        return [("uploadId", upload_id)]
    if kind < 0.85:
        q = [("list-type", "2"), ("prefix", random_key(rng)[:200])]
        if rng.random() < 0.5:
            q.append(("continuation-token", random_text(rng, QUERY_CHARS, 1, 40)))
        if rng.random() < 0.3:
            q.append(("max-keys", str(rng.randint(0, 1000))))
        return q
    q = []
    for _ in range(rng.randint(1, 5)):
        name = random_text(rng, QUERY_CHARS, 1, 12)
        q.append((name, random_text(rng, QUERY_CHARS, 0, 16)))
        if rng.random() < 0.3:
            q.append((name, random_text(rng, QUERY_CHARS, 0, 16)))  # repeated name
    return q


def random_headers(rng):
    headers = []
    if rng.random() < 0.5:
        md5 = hashlib.md5(rng.randbytes(8)).digest()
        import base64
        headers.append(("Content-MD5", base64.b64encode(md5).decode()))
    if rng.random() < 0.4:
        headers.append((rng.choice(["Content-Type", "content-type"]),
                        rng.choice(["application/vnd.apache.parquet", "application/xml",
                                    "text/plain; charset=utf-8"])))
    for _ in range(rng.randint(0, 4)):
        name = "X-Amz-Meta-" + random_text(rng, string.ascii_letters + string.digits + "-", 1, 10)
        headers.append((name, random_header_value(rng)))
        if rng.random() < 0.25:
            # the same name again, in another case: joined with ',' in order
            headers.append((name.upper() if rng.random() < 0.5 else name.lower(),
                            random_header_value(rng)))
    if rng.random() < 0.2:
        headers.append(("x-amz-storage-class", "REDUCED_REDUNDANCY"))
    if rng.random() < 0.2:
        headers.append(("Range", f"bytes=0-{rng.randint(0, 99999)}"))
    if rng.random() < 0.2:
        headers.append(("User-Agent", "lakewriter/0.1"))  # never signed, by either
    if rng.random() < 0.1:
        headers.append(("Expect", "100-continue"))
    rng.shuffle(headers)
    return headers


def make_case(rng, i):
    host, tls, virtual_ok = rng.choice(ENDPOINTS)
    bucket = rng.choice(["lake", "examplebucket", "my-bucket-01", "b.with.dots"])
    virtual = virtual_ok and bucket.find(".") < 0 and rng.random() < 0.5
    key = random_key(rng) if rng.random() < 0.97 else ""
    if virtual:
        host = f"{bucket}.{host}"
        raw_path = "/" + key
    else:
        raw_path = f"/{bucket}/{key}" if key else f"/{bucket}"
    # Times from 2000 to 2037, some right at a day boundary (the key cache).
    t = rng.randint(946684800, 2145916800)
    if rng.random() < 0.1:
        t = t - t % 86400 + rng.choice([0, 86399])
    case = {
        "method": rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"]),
        "virtual": virtual,
        "host": host,
        "tls": tls,
        "raw_path": raw_path,
        "region": rng.choice(REGIONS),
        "key_id": rng.choice(["AKIAIOSFODNN7EXAMPLE", "minioadmin", "0123456789abcdef0123456789abcdef"]),
        "secret": rng.choice(["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "minioadmin",
                              random_text(rng, string.ascii_letters + string.digits + "+/", 40, 64)]),
        "token": random_text(rng, string.ascii_letters + string.digits + "+/=", 100, 900)
        if rng.random() < 0.3 else None,
        "time": t,
        "query": random_query(rng),
        "headers": random_headers(rng),
        "unsigned": rng.random() < 0.15,
        "body": rng.randbytes(rng.randint(0, 300)) if rng.random() < 0.7 else b"",
    }
    return case


def tool_line(c):
    def h(s):
        return (s.encode() if isinstance(s, str) else s).hex()

    fields = [f"m={h(c['method'])}", f"h={h(c['host'])}", f"p={h(c['raw_path'])}",
              f"r={h(c['region'])}", f"k={h(c['key_id'])}", f"s={h(c['secret'])}",
              f"x={h(str(c['time']))}"]
    if c["token"]:
        fields.append(f"t={h(c['token'])}")
    if c["unsigned"]:
        fields.append(f"ph={h('UNSIGNED-PAYLOAD')}")
    else:
        fields.append(f"b={h(c['body'])}")
    for name, value in c["query"]:
        fields.append(f"q={h(name)}:{h(value)}")
    for name, value in c["headers"]:
        fields.append(f"hd={h(name)}:{h(value)}")
    return " ".join(fields)


def botocore_sign(c):
    """Signs the case the way botocore's S3 client would send it."""
    path = quote(c["raw_path"], safe="/~")
    scheme = "https" if c["tls"] else "http"
    request = AWSRequest(method=c["method"], url=f"{scheme}://{c['host']}{path}",
                         data=c["body"], params=list(c["query"]))
    for name, value in c["headers"]:
        request.headers[name] = value  # HTTPHeaders appends: repeated names stay
    request.context["client_config"] = Config(s3={"payload_signing_enabled": not c["unsigned"]})
    creds = Credentials(c["key_id"], c["secret"], c["token"])
    when = datetime.datetime.fromtimestamp(c["time"], datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        S3SigV4Auth(creds, "s3", c["region"]).add_auth(request)
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in c["query"])
    target = path + ("?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else "")
    return {
        "target": target,
        "date": request.headers["X-Amz-Date"],
        "sha": request.headers["X-Amz-Content-SHA256"],
        "auth": request.headers["Authorization"],
    }


@pytest.fixture(scope="module")
def signer(tools):
    path = tools / "sigv4_sign"
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `scripts/zig build tools` first")
    return path


def run_tool(signer, cases):
    text = "".join(tool_line(c) + "\n" for c in cases)
    r = subprocess.run([str(signer)], input=text.encode(), capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().split("\n")[:-1]
    assert len(lines) == len(cases)
    return lines


def test_published_s3_example_through_the_tool(signer):
    """The tool and botocore agree on the S3 docs' GET object example."""
    c = {"method": "GET", "virtual": True, "host": "examplebucket.s3.amazonaws.com", "tls": True,
         "raw_path": "/test.txt", "region": "us-east-1", "key_id": "AKIAIOSFODNN7EXAMPLE",
         "secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "token": None,
         "time": 1369353600, "query": [], "headers": [("Range", "bytes=0-9")],
         "unsigned": False, "body": b""}
    out = run_tool(signer, [c])[0].split("\t")
    assert out[0] == "OK", out
    assert out[4].endswith("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    assert out[4] == botocore_sign(c)["auth"]


def test_random_requests_match_botocore(signer):
    rng = random.Random(SEED)
    cases = [make_case(rng, i) for i in range(COUNT)]
    lines = run_tool(signer, cases)
    mismatches = []
    features = {"space": 0, "plus": 0, "unicode": 0, "double_slash": 0, "long": 0,
                "token": 0, "auto": 0, "uploads": 0, "part": 0, "unsigned": 0, "virtual": 0}
    for c, line in zip(cases, lines):
        fields = line.split("\t")
        assert fields[0] == "OK", (line, tool_line(c))
        got = {"target": fields[1], "date": fields[2], "sha": fields[3], "auth": fields[4]}
        want = botocore_sign(c)
        if got != want:
            mismatches.append((c, got, want))
        key = c["raw_path"]
        features["space"] += " " in key
        features["plus"] += "+" in key
        features["unicode"] += any(ord(ch) > 127 for ch in key)
        features["double_slash"] += "//" in key
        features["long"] += len(key.encode()) > 900
        features["token"] += c["token"] is not None
        features["auto"] += c["region"] == "auto"
        features["uploads"] += ("uploads", "") in c["query"]
        features["part"] += any(k == "partNumber" for k, _ in c["query"])
        features["unsigned"] += c["unsigned"]
        features["virtual"] += c["virtual"]
    assert not mismatches, "\n".join(
        f"{m[0]!r}\n got  {m[1]!r}\n want {m[2]!r}" for m in mismatches[:3]) + f"\n{len(mismatches)} of {COUNT} differ"
    # The generator really covered what it is meant to cover.
    for name, n in features.items():
        assert n >= COUNT // 100, (name, n)
    print(f"{COUNT} random requests signed identically by s3/sigv4 and botocore; {features}")
