"""The strict S3 front (tests/s3front) tested with boto3 and raw sockets.

Most tests run against a private moto + front pair on free ports (s3front.control.
Instance), so settings and faults never disturb other tests; one test starts the
shared pair with `scripts/services start s3` and uses what `scripts/services env`
prints. Bytes written through the front are read back straight from moto."""
import base64
import datetime
import hashlib
import hmac
import http.client
import io
import os
import pathlib
import random
import socket
import ssl
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from unittest import mock

import pytest

boto3 = pytest.importorskip("boto3")
import botocore.exceptions  # noqa: E402
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from s3front.control import (ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Instance,  # noqa: E402
                             boto3_client, services_env)

MiB = 1 << 20


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    with Instance(tmp_path_factory.mktemp("s3front")) as i:
        yield i
        # every request of the module, however malformed, was handled without a bug
        assert i.control.state()["internal_errors"] == 0, \
            (i.workdir / "front.log").read_text()[-5000:]


@pytest.fixture(autouse=True)
def _reset(request):
    yield
    if "inst" in request.fixturenames:
        request.getfixturevalue("inst").control.reset()


_names = iter(range(10**6))


@pytest.fixture
def bucket(inst):
    """A fresh bucket (created in moto directly)."""
    name = f"b{next(_names):04d}-{random.randrange(16**6):06x}"
    inst.moto_client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def moto(inst):
    return inst.moto_client()


def client(inst, tls=False, **kw):
    return inst.boto3_client(tls=tls, **kw)


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def data(n, seed=1):
    return random.Random(seed).randbytes(n)


# ---------------------------------------------------------------------------------------
# raw requests: signed by botocore, then sent byte for byte (optionally tampered)


def sign(inst, method, path, query="", body=b"", headers=None, secret=SECRET_ACCESS_KEY,
         when=None, akid=ACCESS_KEY_ID, region=REGION):
    host = f"127.0.0.1:{inst.port}"
    url = f"http://{host}{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    req.headers["Host"] = host
    when = when or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer = S3SigV4Auth(Credentials(akid, secret), "s3", region)
        signer.add_auth(req)
    authorization = req.headers["Authorization"]
    del req.headers["Authorization"]
    req.canonical = signer.canonical_request(req)
    req.headers["Authorization"] = authorization
    return req


def send_raw(port, raw, tls_ca=None, timeout=10):
    """Sends bytes, returns (status, {header: value}, body) of the first response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls_ca:
        sock = ssl.create_default_context(cafile=tls_ca).wrap_socket(sock, server_hostname="localhost")
    try:
        sock.sendall(raw)
        resp = http.client.HTTPResponse(sock, method=raw.split(b" ", 1)[0].decode("latin-1"))
        resp.begin()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        sock.close()


def raw_bytes(req, body=None, headers_override=None, drop=()):
    body = req.body if body is None else body
    body = body or b""
    split = req.url.split("/", 3)
    target = "/" + split[3]
    lines = [f"{req.method} {target} HTTP/1.1"]
    headers = dict(req.headers.items())
    headers.update(headers_override or {})
    for name, value in headers.items():
        if name.lower() not in drop:
            lines.append(f"{name}: {value}")
    if "Content-Length" not in headers and "content-length" not in drop:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def xml_field(body, name):
    root = ET.fromstring(body)
    el = root.find(name)
    return None if el is None else el.text


# ---------------------------------------------------------------------------------------
# scripts/services


def test_services_start_s3_and_env(tmp_path):
    env = services_env(ROOT)
    for name in ("LW_S3_ENDPOINT", "LW_S3_TLS_ENDPOINT", "LW_S3_CA_FILE", "LW_S3_BUCKET",
                 "LW_S3_ACCESS_KEY_ID", "LW_S3_SECRET_ACCESS_KEY", "LW_S3_MOTO_ENDPOINT",
                 "LW_S3_REGION", "LW_S3_CONTROL"):
        assert env.get(name), name
    assert os.path.exists(env["LW_S3_CA_FILE"])
    assert env["LW_S3_TLS_ENDPOINT"].startswith("https://localhost:")
    # idempotent: a second start finds it running
    again = services_env(ROOT)
    assert again == env
    body = os.urandom(100_000)
    key = f"services/{os.getpid()}-{time.time_ns()}"
    for endpoint in (env["LW_S3_ENDPOINT"], env["LW_S3_TLS_ENDPOINT"]):
        s3 = boto3_client(endpoint, env["LW_S3_CA_FILE"])
        s3.put_object(Bucket=env["LW_S3_BUCKET"], Key=key, Body=body)
        assert s3.get_object(Bucket=env["LW_S3_BUCKET"], Key=key)["Body"].read() == body
        got = boto3_client(env["LW_S3_MOTO_ENDPOINT"]).get_object(Bucket=env["LW_S3_BUCKET"], Key=key)
        assert got["Body"].read() == body
    # the test CA is needed: the system trust store does not know it
    s3 = boto3_client(env["LW_S3_TLS_ENDPOINT"], None)
    s3._endpoint.http_session._verify = True
    with pytest.raises(botocore.exceptions.SSLError):
        s3.head_bucket(Bucket=env["LW_S3_BUCKET"])


# ---------------------------------------------------------------------------------------
# valid requests pass, bytes land in moto


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_put_get_roundtrip(inst, bucket, moto, tls):
    s3 = client(inst, tls)
    keys = {"empty": b"", "one": b"x", "small": data(1000),
            "dt=2024-01-01/part 00+01=ü~!.parquet": data(70_000, 2),
            "streamed": data(3 * MiB + 17, 3)}
    seq = inst.control.seq()
    for key, body in keys.items():
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5)
    for key, body in keys.items():
        assert moto.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(keys)
    log = inst.control.log(since=seq, bucket=bucket)
    assert [e["op"] for e in log[:len(keys)]] == ["PutObject"] * len(keys)
    assert all(e["status"] == 200 and e["port"] == ("https" if tls else "http") for e in log)
    assert log[len(keys) - 1]["body_bytes"] == 3 * MiB + 17
    # boto3 keeps the connection: several requests on one
    assert max(e["conn_request"] for e in log) > 1


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_multipart_roundtrip(inst, bucket, moto, tls):
    s3 = client(inst, tls)
    parts = [data(5 * MiB, 10), data(5 * MiB, 11), data(MiB + 3, 12)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp/obj")["UploadId"]
    etags = []
    for n, p in enumerate(parts, 1):
        md5 = base64.b64encode(hashlib.md5(p).digest()).decode()
        r = s3.upload_part(Bucket=bucket, Key="mp/obj", UploadId=up, PartNumber=n, Body=p,
                           ContentMD5=md5)
        assert r["ETag"] == '"%s"' % hashlib.md5(p).hexdigest()
        etags.append(r["ETag"])
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp/obj", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-3"
    assert r["ETag"].strip('"') == want
    assert moto.get_object(Bucket=bucket, Key="mp/obj")["Body"].read() == b"".join(parts)
    ops = [e["op"] for e in inst.control.log(bucket=bucket)]
    assert ops == ["CreateMultipartUpload", "UploadPart", "UploadPart", "UploadPart",
                   "CompleteMultipartUpload"]


# ---------------------------------------------------------------------------------------
# what S3 rejects


def test_tampered_signature_is_rejected_with_the_canonical_request(inst, bucket, moto):
    req = sign(inst, "PUT", f"/{bucket}/k", body=b"payload", headers={"Content-Type": "text/plain"})
    good = req.headers["Authorization"]
    sig = good[-64:]
    bad = good[:-64] + ("0" if sig[0] != "0" else "1") + sig[1:]
    status, _, body = send_raw(inst.port, raw_bytes(req, headers_override={"Authorization": bad}))
    assert status == 403
    assert xml_field(body, "Code") == "SignatureDoesNotMatch"
    # the canonical request the front computed is the one botocore signed
    assert xml_field(body, "CanonicalRequest") == req.canonical
    assert xml_field(body, "SignatureProvided") == bad[-64:]
    # a header changed after signing, and the wrong secret
    status, _, body = send_raw(inst.port, raw_bytes(req, headers_override={"Content-Type": "text/html"}))
    assert (status, xml_field(body, "Code")) == (403, "SignatureDoesNotMatch")
    s3 = boto3_client(inst.endpoint)
    s3._request_signer._credentials = Credentials(ACCESS_KEY_ID, "not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_code(e) == "SignatureDoesNotMatch"
    # unchanged, it passes
    status, _, _ = send_raw(inst.port, raw_bytes(req))
    assert status == 200
    assert moto.get_object(Bucket=bucket, Key="k")["Body"].read() == b"payload"


def test_unknown_key_missing_auth_and_unsigned_amz_header(inst, bucket):
    req = sign(inst, "GET", f"/{bucket}", query="list-type=2", akid="AKIDNOTKNOWN")
    status, _, body = send_raw(inst.port, raw_bytes(req))
    assert (status, xml_field(body, "Code")) == (403, "InvalidAccessKeyId")
    req = sign(inst, "GET", f"/{bucket}", query="list-type=2")
    status, _, body = send_raw(inst.port, raw_bytes(req, drop={"authorization"}))
    assert (status, xml_field(body, "Code")) == (403, "AccessDenied")
    status, _, body = send_raw(inst.port, raw_bytes(req, headers_override={"x-amz-meta-late": "1"}))
    assert (status, xml_field(body, "Code")) == (403, "AccessDenied")
    assert "x-amz-meta-late" in xml_field(body, "HeadersNotSigned")
    req = sign(inst, "GET", f"/{bucket}", query="list-type=2", region="eu-west-1")
    status, _, body = send_raw(inst.port, raw_bytes(req))
    assert (status, xml_field(body, "Code")) == (400, "AuthorizationHeaderMalformed")
    req = sign(inst, "GET", f"/{bucket}", query="list-type=2")
    status, _, body = send_raw(inst.port, raw_bytes(req, drop={"x-amz-content-sha256"}))
    assert status == 403     # a signed header is missing


def test_a_path_not_encoded_the_canonical_way_is_refused(inst, bucket):
    # botocore signs the path as given (S3SigV4Auth does not re-encode); S3 signs the
    # canonical encoding, so a client that leaves '!' raw in its canonical URI is wrong.
    req = sign(inst, "PUT", f"/{bucket}/a!b", body=b"x")
    status, _, body = send_raw(inst.port, raw_bytes(req))
    assert (status, xml_field(body, "Code")) == (403, "SignatureDoesNotMatch")
    assert "canonical encoding" in xml_field(body, "Message")
    req = sign(inst, "PUT", f"/{bucket}/a%21b", body=b"x")
    status, _, _ = send_raw(inst.port, raw_bytes(req))
    assert status == 200


@pytest.mark.parametrize("size", [1000, 3 * MiB], ids=["buffered", "streamed"])
def test_wrong_content_sha256_is_rejected_and_nothing_stored(inst, bucket, moto, size):
    body = data(size, 5)
    req = sign(inst, "PUT", f"/{bucket}/k", body=body)
    tampered = bytearray(body)
    tampered[-1] ^= 1
    status, _, resp = send_raw(inst.port, raw_bytes(req, body=bytes(tampered)))
    assert (status, xml_field(resp, "Code")) == (400, "XAmzContentSHA256Mismatch")
    assert xml_field(resp, "S3ComputedContentSHA256") == hashlib.sha256(tampered).hexdigest()
    with pytest.raises(botocore.exceptions.ClientError):
        moto.head_object(Bucket=bucket, Key="k")
    # a value that is no hash at all
    status, _, resp = send_raw(inst.port, raw_bytes(req, headers_override={"X-Amz-Content-SHA256": "abc"}))
    assert (status, xml_field(resp, "Code")) == (400, "InvalidArgument")


def test_bad_content_md5(inst, bucket, moto):
    s3 = client(inst)
    body = data(4000, 6)
    wrong = base64.b64encode(hashlib.md5(body + b"!").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=body, ContentMD5=wrong)
    assert error_code(e) == "BadDigest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=body, ContentMD5="not base64 of 16 bytes")
    assert error_code(e) == "InvalidDigest"
    with pytest.raises(botocore.exceptions.ClientError) as e:   # streamed path
        s3.put_object(Bucket=bucket, Key="big", Body=data(2 * MiB), ContentMD5=wrong)
    assert error_code(e) == "BadDigest"
    for key in ("k", "big"):
        with pytest.raises(botocore.exceptions.ClientError):
            moto.head_object(Bucket=bucket, Key=key)


def test_skewed_date(inst, bucket):
    old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=16)
    req = sign(inst, "GET", f"/{bucket}", query="list-type=2", when=old)
    status, headers, body = send_raw(inst.port, raw_bytes(req))
    assert (status, xml_field(body, "Code")) == (403, "RequestTimeTooSkewed")
    assert xml_field(body, "MaxAllowedSkewMilliseconds") == "900000"
    assert "date" in headers
    recent = old + datetime.timedelta(minutes=2)   # 14 minutes off: accepted
    status, _, _ = send_raw(inst.port, raw_bytes(sign(inst, "GET", f"/{bucket}", query="list-type=2",
                                                       when=recent)))
    assert status == 200
    # the server clock can be moved instead: boto3 with a correct clock is now refused
    inst.control.settings(clock_offset_s=3600)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(inst).list_objects_v2(Bucket=bucket)
    assert error_code(e) == "RequestTimeTooSkewed"


def test_flexible_checksums_are_verified_in_s3_mode(inst, bucket, moto):
    # boto3's defaults: x-amz-checksum-crc32 in a header over HTTP, in an aws-chunked
    # trailer (Transfer-Encoding: chunked, STREAMING-UNSIGNED-PAYLOAD-TRAILER) over TLS
    for tls in (False, True):
        s3 = client(inst, tls, r2_compatible=False)
        body = data(200_000, 7)
        s3.put_object(Bucket=bucket, Key=f"crc-{tls}", Body=body)
        assert moto.get_object(Bucket=bucket, Key=f"crc-{tls}")["Body"].read() == body
    log = inst.control.log(bucket=bucket, op="PutObject")
    assert "x-amz-checksum-crc32" in log[0]["headers"]
    assert log[1]["headers"]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert log[1]["headers"]["transfer-encoding"] == "chunked"
    # a wrong CRC32 header is caught
    body = b"checksummed"
    req = sign(inst, "PUT", f"/{bucket}/bad-crc", body=body,
               headers={"x-amz-checksum-crc32": base64.b64encode(b"\0\0\0\0").decode()})
    status, _, resp = send_raw(inst.port, raw_bytes(req))
    assert (status, xml_field(resp, "Code")) == (400, "BadDigest")
    # SHA-256 and CRC32C (pure Python here): right values pass, a wrong body fails
    req = sign(inst, "PUT", f"/{bucket}/sha256", body=body,
               headers={"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(body).digest()).decode()})
    assert send_raw(inst.port, raw_bytes(req))[0] == 200
    crc32c_check = base64.b64encode(bytes.fromhex("e3069283")).decode()   # CRC32C("123456789")
    req = sign(inst, "PUT", f"/{bucket}/crc32c", body=b"123456789",
               headers={"x-amz-checksum-crc32c": crc32c_check})
    assert send_raw(inst.port, raw_bytes(req))[0] == 200
    req = sign(inst, "PUT", f"/{bucket}/crc32c", body=b"123456780",
               headers={"x-amz-checksum-crc32c": crc32c_check})
    status, _, resp = send_raw(inst.port, raw_bytes(req))
    assert (status, xml_field(resp, "Code")) == (400, "BadDigest")


def _signed_chunked(inst, bucket, key, body, chunk=64 * 1024, tamper_chunk=None):
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD request: the seed signature by botocore's
    S3SigV4Auth over the streaming marker, the chunk signatures computed here."""
    host = f"127.0.0.1:{inst.port}"
    amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Host": host, "X-Amz-Date": amz, "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(body)),
               "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}
    r = AWSRequest(method="PUT", url=f"http://{host}/{bucket}/{key}", headers=headers)
    r.context["timestamp"] = amz
    signer = S3SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "s3", REGION)
    seed = signer.signature(signer.string_to_sign(r, signer.canonical_request(r)), r)
    signed = signer.signed_headers(signer.headers_to_sign(r))
    r.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{amz[:8]}/"
                                  f"{REGION}/s3/aws4_request, SignedHeaders={signed}, "
                                  f"Signature={seed}")
    k = ("AWS4" + SECRET_ACCESS_KEY).encode()
    for piece in (amz[:8], REGION, "s3", "aws4_request"):
        k = hmac.new(k, piece.encode(), hashlib.sha256).digest()
    scope = f"{amz[:8]}/{REGION}/s3/aws4_request"
    out, prev = bytearray(), seed
    pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)] + [b""]
    for i, piece in enumerate(pieces):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prev,
                         hashlib.sha256(b"").hexdigest(), hashlib.sha256(piece).hexdigest()])
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        sent = piece if i != tamper_chunk else bytes([piece[0] ^ 1]) + piece[1:]
        out += f"{len(piece):x};chunk-signature={sig}\r\n".encode() + sent + b"\r\n"
        prev = sig
    return raw_bytes(r, body=bytes(out))


def test_signed_aws_chunked_in_s3_mode(inst, bucket, moto):
    body = data(300_000, 8)
    status, _, resp = send_raw(inst.port, _signed_chunked(inst, bucket, "chunked", body))
    assert status == 200, resp
    assert moto.get_object(Bucket=bucket, Key="chunked")["Body"].read() == body
    status, _, resp = send_raw(inst.port, _signed_chunked(inst, bucket, "tampered", body, tamper_chunk=2))
    assert (status, xml_field(resp, "Code")) == (403, "SignatureDoesNotMatch")
    # R2 does not implement it
    inst.control.settings(r2_buckets=[bucket])
    status, _, resp = send_raw(inst.port, _signed_chunked(inst, bucket, "r2", body))
    assert (status, xml_field(resp, "Code")) == (501, "NotImplemented")


# ---------------------------------------------------------------------------------------
# R2 rules


def test_r2_rejects_boto3_defaults_and_accepts_the_r2_config(inst, bucket, moto):
    inst.control.settings(r2_buckets=[bucket])
    # boto3's defaults: CRC32 header over HTTP, aws-chunked trailer over TLS -> 501
    for tls in (False, True):
        s3 = client(inst, tls, r2_compatible=False)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"data")
        assert error_code(e) == "NotImplemented"
        with pytest.raises(botocore.exceptions.ClientError) as e:   # x-amz-checksum-algorithm
            s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")
        assert error_code(e) == "NotImplemented"
    log = inst.control.log(bucket=bucket)
    assert all(e["status"] == 501 and e["r2"] for e in log)
    assert log[2]["headers"]["content-encoding"] == "aws-chunked"
    # the R2-compatible boto3 config (request_checksum_calculation="when_required",
    # response_checksum_validation="when_required") passes, over both
    for tls in (False, True):
        s3 = client(inst, tls)
        s3.put_object(Bucket=bucket, Key=f"ok-{tls}", Body=b"data")
        assert moto.get_object(Bucket=bucket, Key=f"ok-{tls}")["Body"].read() == b"data"
    # other buckets keep S3 rules
    other = f"{bucket}-s3"
    moto.create_bucket(Bucket=other)
    client(inst, False, r2_compatible=False).put_object(Bucket=other, Key="k", Body=b"data")


def test_r2_rejects_checksum_and_trailer_headers(inst, bucket):
    inst.control.settings(r2=True)
    for headers in ({"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(b"x").digest()).decode()},
                    {"x-amz-sdk-checksum-algorithm": "CRC32"},
                    {"x-amz-trailer": "x-amz-checksum-crc32"},
                    {"x-amz-tagging": "a=b"}):
        req = sign(inst, "PUT", f"/{bucket}/k", body=b"x", headers=headers)
        status, _, resp = send_raw(inst.port, raw_bytes(req))
        assert (status, xml_field(resp, "Code")) == (501, "NotImplemented"), headers
        assert xml_field(resp, "Header").lower() == next(iter(headers)).lower()
    # Transfer-Encoding: chunked is refused in both modes without aws-chunked
    req = sign(inst, "PUT", f"/{bucket}/k", body=b"x")
    raw = raw_bytes(req, body=b"1\r\nx\r\n0\r\n\r\n", drop={"content-length"},
                    headers_override={"Transfer-Encoding": "chunked"})
    raw = raw.replace(b"Content-Length: 15\r\n", b"")
    status, headers, _ = send_raw(inst.port, raw)
    assert status == 501 and headers.get("connection") == "close"


def _multipart(s3, bucket, key, sizes, seed=20):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for n, size in enumerate(sizes, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=data(size, seed + n))
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    return lambda: s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up,
                                                MultipartUpload={"Parts": parts})


def test_r2_part_sizes(inst, bucket, moto):
    s3 = client(inst)
    inst.control.settings(r2_buckets=[bucket])
    # unequal non-trailing parts
    complete = _multipart(s3, bucket, "unequal", [5 * MiB + 1, 5 * MiB, 100])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        complete()
    assert error_code(e) == "InvalidPart"
    assert "All non-trailing parts must have the same length" in e.value.response["Error"]["Message"]
    # last part larger than the others
    complete_last = _multipart(s3, bucket, "last-larger", [5 * MiB, 5 * MiB + 1])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        complete_last()
    assert error_code(e) == "InvalidPart"
    assert "Expected part 2 to have size 5242880, found 5242881" in e.value.response["Error"]["Message"]
    # parts under 5 MiB (not the last)
    complete_small = _multipart(s3, bucket, "small", [MiB, MiB, 10])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        complete_small()
    assert error_code(e) == "EntityTooSmall"
    log = inst.control.log(bucket=bucket, op="CompleteMultipartUpload")
    assert [x["upstream_status"] for x in log] == [None, None, None]   # the front answered
    # equal parts with a smaller last one, and a single small part, pass
    _multipart(s3, bucket, "good", [5 * MiB, 5 * MiB, 3])()
    _multipart(s3, bucket, "single", [10])()
    assert len(moto.get_object(Bucket=bucket, Key="good")["Body"].read()) == 10 * MiB + 3
    # S3 rules take the unequal (but large enough) parts: the same uploads complete
    inst.control.settings(r2_buckets=[])
    complete()
    complete_last()
    assert len(moto.get_object(Bucket=bucket, Key="unequal")["Body"].read()) == 10 * MiB + 101


def test_r2_with_upload_file_and_expect_100(inst, bucket, moto, tmp_path):
    """boto3's transfer manager with the R2 config: equal part sizes, no checksums. It
    sends `Expect: 100-continue` for file bodies; R2 never answers 100, so botocore
    sends the body after its own one-second wait."""
    from boto3.s3.transfer import TransferConfig
    inst.control.settings(r2_buckets=[bucket])
    path = tmp_path / "file.bin"
    body = data(11 * MiB, 30)
    path.write_bytes(body)
    s3 = client(inst, True)
    s3.upload_file(str(path), bucket, "file.bin",
                   Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                                         max_concurrency=3))
    assert moto.get_object(Bucket=bucket, Key="file.bin")["Body"].read() == body
    parts = inst.control.log(bucket=bucket, op="UploadPart")
    assert len(parts) == 3 and all(p["expect_100"] == "ignored" for p in parts)
    assert sorted(p["body_bytes"] for p in parts) == [MiB, 5 * MiB, 5 * MiB]
    # S3 rules answer 100 Continue; expect=reject answers 417
    inst.control.settings(r2_buckets=[])
    s3.upload_fileobj(io.BytesIO(b"abc"), bucket, "small")
    assert inst.control.log(bucket=bucket, op="PutObject")[-1]["expect_100"] == "sent"
    inst.control.settings(expect="reject")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_fileobj(io.BytesIO(b"abc"), bucket, "small2")
    assert "417" in str(e.value) or error_code(e) == "ExpectationFailed"


# ---------------------------------------------------------------------------------------
# faults


@pytest.mark.parametrize("kind,status,code", [("internal_error", 500, "InternalError"),
                                              ("slow_down", 503, "SlowDown")])
def test_error_faults_then_retry(inst, bucket, moto, kind, status, code):
    inst.control.fault(kind, op="PutObject", bucket=bucket)
    s3 = client(inst)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error_code(e) == code
    with pytest.raises(botocore.exceptions.ClientError):
        moto.head_object(Bucket=bucket, Key="k")
    # armed for two requests: boto3 with 3 attempts gets through on the third
    inst.control.fault(kind, op="PutObject", bucket=bucket, count=2)
    client(inst, retries={"total_max_attempts": 3, "mode": "standard"}).put_object(
        Bucket=bucket, Key="k", Body=b"v2")
    assert moto.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    log = inst.control.log(bucket=bucket)
    assert [(x["fault"], x["status"]) for x in log] == [(kind, status)] * 3 + [(None, 200)]
    assert inst.control.faults() == []


def test_fault_matching_skip_count_and_other_ops(inst, bucket):
    s3 = client(inst)
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    inst.control.fault("slow_down", op="UploadPart", bucket=bucket, skip=1, count=2)
    results = []
    for n in range(1, 5):
        try:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=n, Body=b"p")
            results.append("ok")
        except botocore.exceptions.ClientError as e:
            results.append(e.response["Error"]["Code"])
    assert results == ["ok", "SlowDown", "SlowDown", "ok"]
    # a fault for another bucket or operation does not fire
    inst.control.fault("internal_error", op="PutObject", bucket=bucket + "-other")
    inst.control.fault("internal_error", op="CreateMultipartUpload", bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k2", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError):
        s3.create_multipart_upload(Bucket=bucket, Key="k3")
    assert [f["bucket"] for f in inst.control.faults()] == [bucket + "-other"]
    inst.control.fault("error", op="PutObject", status=429, code="TooManyRequests", message="slow")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k4", Body=b"x")
    assert error_code(e) == "TooManyRequests"


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_reset_mid_body(inst, bucket, moto, tls):
    s3 = client(inst, tls)
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    inst.control.fault("reset", op="UploadPart", bucket=bucket, after_bytes=65536)
    with pytest.raises((botocore.exceptions.ConnectionClosedError,
                        botocore.exceptions.EndpointConnectionError,
                        botocore.exceptions.SSLError)):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=data(4 * MiB))
    entry = inst.control.log(bucket=bucket, op="UploadPart")[-1]
    assert entry["fault"] == "reset" and entry["state"] == "reset"
    assert entry["body_bytes"] == 65536
    assert moto.list_parts(Bucket=bucket, Key="k", UploadId=up).get("Parts", []) == []
    # the next attempt goes through
    s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=data(4 * MiB))
    assert len(moto.list_parts(Bucket=bucket, Key="k", UploadId=up)["Parts"]) == 1


def test_reset_observed_on_a_raw_socket(inst, bucket):
    inst.control.fault("reset", op="PutObject", bucket=bucket, after_bytes=10)
    req = sign(inst, "PUT", f"/{bucket}/k", body=b"x" * 100)
    sock = socket.create_connection(("127.0.0.1", inst.port), timeout=5)
    sock.sendall(raw_bytes(req))
    with pytest.raises(ConnectionResetError):
        while sock.recv(4096):
            pass
    sock.close()


def test_stall_forever_meets_the_client_timeout(inst, bucket, moto):
    inst.control.fault("stall", op="PutObject", bucket=bucket)
    s3 = client(inst, read_timeout=1.5)
    t0 = time.monotonic()
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 1000)
    assert time.monotonic() - t0 >= 1.4
    with pytest.raises(botocore.exceptions.ClientError):
        moto.head_object(Bucket=bucket, Key="k")
    for _ in range(50):                      # the front notices the client left
        entry = inst.control.log(bucket=bucket)[-1]
        if entry["state"] == "stalled_closed":
            break
        time.sleep(0.1)
    assert entry["fault"] == "stall" and entry["state"] == "stalled_closed"
    assert entry["body_bytes"] == 1000


def test_stall_then_answer_and_stall_before_the_body(inst, bucket, moto):
    inst.control.fault("stall", op="PutObject", bucket=bucket, seconds=1.0)
    t0 = time.monotonic()
    client(inst).put_object(Bucket=bucket, Key="late", Body=b"late")
    assert time.monotonic() - t0 >= 0.95
    assert moto.get_object(Bucket=bucket, Key="late")["Body"].read() == b"late"
    inst.control.fault("stall", op="UploadPart", bucket=bucket, phase="headers")
    s3 = client(inst, read_timeout=1)
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"p" * 1000)
    entry = inst.control.log(bucket=bucket, op="UploadPart")[-1]
    assert entry["body_bytes"] == 0


def test_complete_200_with_error_body(inst, bucket, moto):
    s3 = client(inst)
    complete = _multipart(s3, bucket, "k", [5 * MiB, 10])
    inst.control.fault("complete_error", op="CompleteMultipartUpload", bucket=bucket)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        complete()                   # botocore turns 200-with-<Error> into an error
    assert error_code(e) == "InternalError"
    entry = inst.control.log(bucket=bucket, op="CompleteMultipartUpload")[-1]
    assert (entry["status"], entry["fault"]) == (200, "complete_error")
    assert moto.list_multipart_uploads(Bucket=bucket).get("Uploads")     # still open
    complete()                                                           # the retry
    assert len(moto.get_object(Bucket=bucket, Key="k")["Body"].read()) == 5 * MiB + 10
    # forward=True: moto completes it, the client gets the error (a lost answer). moto,
    # like S3 for a while, answers a retried Complete with success; the other answer
    # S3 may give (404 NoSuchUpload) is a fault of kind "error".
    complete2 = _multipart(s3, bucket, "k2", [5 * MiB, 10])
    inst.control.fault("complete_error", op="CompleteMultipartUpload", bucket=bucket, forward=True)
    with pytest.raises(botocore.exceptions.ClientError):
        complete2()
    assert len(moto.get_object(Bucket=bucket, Key="k2")["Body"].read()) == 5 * MiB + 10
    entry = inst.control.log(bucket=bucket, op="CompleteMultipartUpload")[-1]
    assert (entry["status"], entry["upstream_status"]) == (200, 200)
    inst.control.fault("error", op="CompleteMultipartUpload", bucket=bucket, status=404,
                       code="NoSuchUpload", message="The specified upload does not exist.")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        complete2()
    assert error_code(e) == "NoSuchUpload"
    assert complete2()["ETag"] == moto.head_object(Bucket=bucket, Key="k2")["ETag"]


def test_request_timeout_and_slow_fault(inst, bucket, moto):
    inst.control.fault("request_timeout", op="PutObject", bucket=bucket, after_bytes=100)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(inst).put_object(Bucket=bucket, Key="k", Body=b"x" * 200)
    assert error_code(e) == "RequestTimeout"
    inst.control.fault("slow", op="PutObject", bucket=bucket, rate_bytes_per_s=MiB)
    t0 = time.monotonic()
    client(inst).put_object(Bucket=bucket, Key="k", Body=b"y" * (MiB // 2))
    assert time.monotonic() - t0 >= 0.4
    assert moto.get_object(Bucket=bucket, Key="k")["Body"].read() == b"y" * (MiB // 2)


def test_close_fault_and_a_fresh_connection(inst, bucket, moto):
    s3 = client(inst, retries={"total_max_attempts": 2, "mode": "standard"})
    s3.put_object(Bucket=bucket, Key="k0", Body=b"0")
    inst.control.fault("close", op="PutObject", bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k1", Body=b"1")      # answered, then closed
    s3.put_object(Bucket=bucket, Key="k2", Body=b"2")
    log = inst.control.log(bucket=bucket)
    assert [e["status"] for e in log] == [200, 200, 200]
    assert log[1]["state"] == "closed_after"
    assert log[0]["conn"] == log[1]["conn"] != log[2]["conn"]
    assert moto.get_object(Bucket=bucket, Key="k1")["Body"].read() == b"1"


def test_control_api_validates(inst):
    with pytest.raises(RuntimeError, match="kind"):
        inst.control.fault("explode")
    with pytest.raises(RuntimeError, match="unknown setting"):
        inst.control.settings(nonsense=1)
    with pytest.raises(RuntimeError, match="404"):
        inst.control.call("GET", "/_front/nothing")


# ---------------------------------------------------------------------------------------
# request log


def test_request_log(inst, bucket):
    s3 = client(inst)
    inst.control.clear_log()
    assert inst.control.log() == []
    seq = inst.control.seq()
    s3.put_object(Bucket=bucket, Key="a b", Body=b"12345", ContentType="text/plain")
    assert s3.get_object(Bucket=bucket, Key="a b")["Body"].read() == b"12345"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.get_object(Bucket=bucket, Key="missing")
    log = inst.control.log(since=seq)
    assert [(e["method"], e["op"], e["status"], e["code"]) for e in log] == [
        ("PUT", "PutObject", 200, None), ("GET", "GetObject", 200, None),
        ("GET", "GetObject", 404, "NoSuchKey")]
    put = log[0]
    assert put["path"] == f"/{bucket}/a%20b" and put["key"] == "a b" and put["bucket"] == bucket
    assert put["body_bytes"] == 5 and put["content_length"] == 5
    assert put["headers"]["content-type"] == "text/plain"
    assert put["headers"]["x-amz-content-sha256"] == hashlib.sha256(b"12345").hexdigest()
    assert put["etag"] == '"%s"' % hashlib.md5(b"12345").hexdigest()
    assert put["fault"] is None and put["duration_ms"] >= 0
    assert len({e["conn"] for e in log}) == 1           # keep-alive
    assert inst.control.log(since=log[1]["seq"]) == log[2:]
    assert inst.control.log(since=seq, op="GetObject") == log[1:]
    assert inst.control.log(bucket="no-such-bucket") == []
    inst.control.clear_log()
    assert inst.control.log() == []
    assert inst.control.seq() == log[-1]["seq"]          # numbering continues


# ---------------------------------------------------------------------------------------
# robustness: malformed requests get a 400 and the front keeps serving


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
    b"GET /x HTTP/1.1\r\n\r\n",                                       # no Host
    b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET /x HTTP/1.1\nHost: a\n\n",                                   # bare LF
    b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",                    # absolute form
    b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
    b"get /x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHo st: a\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999\r\n\r\n",
]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests_get_400(inst, raw):
    status, headers, body = send_raw(inst.port, raw)
    assert status == 400, body
    assert headers.get("connection") == "close"
    assert inst.control.health()["ok"]


def test_other_protocol_errors(inst, bucket):
    status, _, _ = send_raw(inst.port, b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n")
    assert status == 505
    req = sign(inst, "PUT", f"/{bucket}/k", body=b"")
    raw = raw_bytes(req, drop={"content-length"})
    status, _, body = send_raw(inst.port, raw)
    assert (status, xml_field(body, "Code")) == (411, "MissingContentLength")
    # HEAD errors carry no body
    req = sign(inst, "HEAD", f"/{bucket}/k", akid="NOPE")
    status, headers, body = send_raw(inst.port, raw_bytes(req))
    assert status == 403 and body == b""
    # presigned URLs are refused with a clear message
    url = client(inst).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    target = url.split(str(inst.port), 1)[1]
    status, _, body = send_raw(inst.port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{inst.port}\r\n\r\n".encode())
    assert status == 403 and b"presigned" in body


def test_random_garbage_never_crashes_the_front(inst, bucket):
    rng = random.Random(1234)
    valid = raw_bytes(sign(inst, "PUT", f"/{bucket}/k", body=b"hello"))
    for i in range(300):
        kind = i % 3
        if kind == 0:
            raw = rng.randbytes(rng.randrange(1, 300))
        elif kind == 1:      # a valid request cut or flipped somewhere
            raw = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            raw = bytes(raw)
        else:
            raw = valid[:rng.randrange(len(valid))]
        sock = socket.create_connection(("127.0.0.1", inst.port), timeout=5)
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        finally:
            sock.close()
    assert inst.control.health()["ok"]
    client(inst).put_object(Bucket=bucket, Key="after", Body=b"still fine")
    assert inst.control.state()["internal_errors"] == 0, \
        (inst.workdir / "front.log").read_text()[-3000:]


def test_plain_http_on_the_tls_port_and_tls_on_the_plain_port(inst):
    sock = socket.create_connection(("127.0.0.1", inst.tls_port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    try:
        assert not sock.recv(100).startswith(b"HTTP/1.1 200")
    except ConnectionResetError:
        pass
    sock.close()
    ctx = ssl.create_default_context(cafile=inst.ca_file)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        with socket.create_connection(("127.0.0.1", inst.port), timeout=5) as s:
            ctx.wrap_socket(s, server_hostname="localhost")
    assert inst.control.health()["ok"]


@pytest.mark.skipif(not os.environ.get("LW_S3_BENCH"), reason="set LW_S3_BENCH=1 to measure")
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_throughput_256mib_put(inst, bucket, tls, capsys):
    """Not an assertion on speed: prints MiB/s of a 256 MiB PutObject through the front."""
    body = os.urandom(256 * MiB)
    s3 = client(inst, tls, read_timeout=300)
    t0 = time.monotonic()
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    dt = time.monotonic() - t0
    with capsys.disabled():
        print(f"\n256 MiB PutObject through the front ({'https' if tls else 'http'}): "
              f"{dt:.2f} s, {256 / dt:.0f} MiB/s")


# ---------------------------------------------------------------------------------------
# requests signed by lakewriter's own s3/sigv4 (zig-out/tools/sigv4_sign) pass the front


def _tool_sign(signer, port, method, raw_path, body=b"", query=(), headers=()):
    def h(x):
        return (x if isinstance(x, bytes) else x.encode()).hex()
    host = f"127.0.0.1:{port}"
    fields = [f"m={h(method)}", f"h={h(host)}", f"p={h(raw_path)}", f"r={h(REGION)}",
              f"k={h(ACCESS_KEY_ID)}", f"s={h(SECRET_ACCESS_KEY)}", f"x={h(str(int(time.time())))}",
              f"b={h(body)}"]
    fields += [f"q={h(k)}:{h(v)}" for k, v in query]
    fields += [f"hd={h(k)}:{h(v)}" for k, v in headers]
    r = subprocess.run([str(signer)], input=(" ".join(fields) + "\n").encode(),
                       capture_output=True, timeout=60)
    out = r.stdout.decode().rstrip("\n").split("\t")
    assert out[0] == "OK", (out, r.stderr)
    _, target, date, sha, auth = out
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"X-Amz-Date: {date}",
             f"X-Amz-Content-SHA256: {sha}", f"Authorization: {auth}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_lakewriter_sigv4_signatures_pass_the_front(inst, bucket, moto):
    signer = ROOT / "zig-out" / "tools" / "sigv4_sign"
    if not signer.exists():
        pytest.skip("zig-out/tools/sigv4_sign not built (scripts/zig build tools)")
    keys = ["plain.parquet", "dt=2024-01-01/hour=07/part 0001+x.parquet", "ü/日本語/😀",
            "a!b*c'd(e)f~g", "percent%20literal", "semi;colon,comma@at$dollar&amp"]
    for i, key in enumerate(keys):
        body = data(1000 + i, i)
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        raw = _tool_sign(signer, inst.port, "PUT", f"/{bucket}/{key}", body,
                         headers=[("Content-MD5", md5), ("Content-Type", "application/octet-stream")])
        status, _, resp = send_raw(inst.port, raw)
        assert status == 200, (key, resp)
        assert moto.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    raw = _tool_sign(signer, inst.port, "GET", f"/{bucket}",
                     query=[("list-type", "2"), ("prefix", "dt=2024-01-01/")])
    status, _, resp = send_raw(inst.port, raw)
    assert status == 200 and b"part 0001+x.parquet" in resp
    raw = _tool_sign(signer, inst.port, "POST", f"/{bucket}/multi part", query=[("uploads", "")])
    status, _, resp = send_raw(inst.port, raw)
    assert status == 200 and b"<UploadId>" in resp
    # and a body it did not sign is refused
    raw = _tool_sign(signer, inst.port, "PUT", f"/{bucket}/x", b"signed")
    status, _, resp = send_raw(inst.port, raw[:-len(b"signed")] + b"forged")
    assert (status, xml_field(resp, "Code")) == (400, "XAmzContentSHA256Mismatch")
