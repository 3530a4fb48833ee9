"""SigV4 verification for the front, the way S3 does it, with botocore as the oracle.

The front receives a raw request and rebuilds what S3 would sign:

    CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
                       \n SignedHeaders \n x-amz-content-sha256
    CanonicalURI     = uri-encode(percent-decode(raw path))      (no normalisation, S3 flavour)
    CanonicalQuery   = sorted uri-encode(decode(name))=uri-encode(decode(value)), '&'-joined
    CanonicalHeaders = the headers named in SignedHeaders, as received (values trimmed)

then lets botocore's `S3SigV4Auth` compute the canonical request, string to sign
and signature from an `AWSRequest` holding exactly those pieces. A mismatch is
S3's 403 SignatureDoesNotMatch, carrying the canonical request and string to
sign the front computed.

aws-chunked bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER],
STREAMING-UNSIGNED-PAYLOAD-TRAILER) are decoded by `decode_aws_chunked`, which
checks each chunk signature (seeded by the request signature) and the trailer
signature. botocore has no server side for those; they are computed here with
hmac from the same signing key."""
import binascii
import calendar
import datetime
import email.utils
import hashlib
import hmac
import re
from urllib.parse import quote, unquote_to_bytes

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from .errors import S3Error

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_ECDSA = ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
                   "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")
STREAMING = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER) + STREAMING_ECDSA
MAX_SKEW_S = 15 * 60

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")


def canonical_uri(raw_path):
    """S3's canonical URI: the path decoded once and encoded again (RFC 3986 unreserved
    characters and '/' kept), so a request whose path is not encoded the canonical way
    is signed over the canonical form, as S3 does."""
    return quote(unquote_to_bytes(raw_path), safe="/-_.~")


def canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&"):
        if part == "":
            continue
        name, _, value = part.partition("=")
        pairs.append((quote(unquote_to_bytes(name), safe="-_.~"),
                      quote(unquote_to_bytes(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request,
    SignedHeaders=host;x-amz-date, Signature=hex' -> dict, or S3Error."""
    if not value.startswith("AWS4-HMAC-SHA256 "):
        if value.startswith("AWS "):
            raise S3Error(400, "InvalidRequest", "The authorization mechanism you have provided is "
                          "not supported. Please use AWS4-HMAC-SHA256.")
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; the authorization header requires "
                      "the algorithm AWS4-HMAC-SHA256 followed by a space.")
    fields = {}
    for item in value[len("AWS4-HMAC-SHA256 "):].split(","):
        item = item.strip()
        name, eq, val = item.partition("=")
        if not eq or name in fields:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          f"The authorization header is malformed; bad component '{item}'.")
        fields[name] = val
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    extra = [n for n in fields if n not in ("Credential", "SignedHeaders", "Signature")]
    if missing or extra:
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; it needs exactly Credential, "
                      f"SignedHeaders and Signature (missing {missing}, unknown {extra}).")
    cred = fields["Credential"].split("/")
    if len(cred) != 5:
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; the Credential is mal-formed; "
                      "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
    signed = fields["SignedHeaders"].split(";")
    if signed != sorted(signed) or any(h != h.lower() or h == "" for h in signed) \
            or len(set(signed)) != len(signed):
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; SignedHeaders must be lowercase "
                      f"names, sorted, ';'-separated, without repeats: '{fields['SignedHeaders']}'.")
    if not re.fullmatch(r"[0-9a-f]{64}", fields["Signature"]):
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; the Signature must be 64 lowercase "
                      "hex digits.")
    return {"akid": cred[0], "date": cred[1], "region": cred[2], "service": cred[3],
            "terminator": cred[4], "signed_headers": signed, "signature": fields["Signature"]}


def request_time(headers):
    """(amz-date string 'YYYYMMDDTHHMMSSZ', unix seconds) from X-Amz-Date or else Date."""
    amz = headers.get("x-amz-date")
    if amz is not None:
        if not _AMZ_DATE.match(amz):
            raise S3Error(403, "AccessDenied",
                          f"AWS authentication requires a valid Date or x-amz-date header "
                          f"(x-amz-date '{amz}' is not YYYYMMDD'T'HHMMSS'Z').")
        try:
            t = calendar.timegm(datetime.datetime.strptime(amz, "%Y%m%dT%H%M%SZ").timetuple())
        except ValueError:
            raise S3Error(403, "AccessDenied",
                          f"AWS authentication requires a valid Date or x-amz-date header "
                          f"(x-amz-date '{amz}' is not a date).") from None
        return amz, t
    date = headers.get("date")
    if date is None:
        raise S3Error(403, "AccessDenied",
                      "AWS authentication requires a valid Date or x-amz-date header")
    try:
        t = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        raise S3Error(403, "AccessDenied",
                      f"AWS authentication requires a valid Date or x-amz-date header "
                      f"(Date '{date}' is not an RFC 1123 date).") from None
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"), t


class _Verifier(S3SigV4Auth):
    """botocore's S3 signer, told which headers the client signed (botocore would
    otherwise choose them itself, and leave out e.g. user-agent)."""

    def __init__(self, credentials, region, signed):
        super().__init__(credentials, "s3", region)
        self._signed = signed

    def headers_to_sign(self, request):
        return self._signed


def signing_key(secret, date, region, service="s3"):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for piece in (region, service, "aws4_request"):
        k = hmac.new(k, piece.encode(), hashlib.sha256).digest()
    return k


class AuthResult:
    def __init__(self, akid, region, amz_date, scope, signature, content_sha256, key):
        self.akid = akid
        self.region = region
        self.amz_date = amz_date
        self.scope = scope
        self.signature = signature
        self.content_sha256 = content_sha256
        self.key = key


def _bytes_hex(text):
    return " ".join(f"{b:02x}" for b in text.encode("utf-8"))


def verify(method, raw_path, raw_query, headers, credentials, regions, now):
    """Checks the SigV4 Authorization header of a request as received.

    headers: list of (name, value) as received; credentials: {akid: secret};
    regions: accepted signing regions (the first is the one named in errors);
    now: the server's unix time. Returns an AuthResult or raises S3Error."""
    lower = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)

    def one(name):
        values = lower.get(name)
        return None if values is None else ",".join(values)

    names = {unquote_to_bytes(p.partition("=")[0]).decode("latin-1").lower()
             for p in raw_query.split("&")}
    if "x-amz-algorithm" in names or {"signature", "awsaccesskeyid"} <= names:
        raise S3Error(403, "AccessDenied",
                      "Query-string (presigned) authentication is not supported by the test front; "
                      "sign with the Authorization header.")
    auth = one("authorization")
    if auth is None:
        raise S3Error(403, "AccessDenied", "Access Denied (the request carries no Authorization "
                      "header; anonymous requests are refused).")
    a = parse_authorization(auth)
    amz_date, t = request_time({k: one(k) for k in ("x-amz-date", "date")})
    if a["akid"] not in credentials:
        raise S3Error(403, "InvalidAccessKeyId",
                      "The AWS Access Key Id you provided does not exist in our records.",
                      AWSAccessKeyId=a["akid"])
    if a["date"] != amz_date[:8]:
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      f"The authorization header is malformed; Invalid credential date "
                      f"'{a['date']}'. Date is not the same as X-Amz-Date '{amz_date[:8]}'.")
    if a["region"] not in regions:
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      f"The authorization header is malformed; the region '{a['region']}' is "
                      f"wrong; expecting '{regions[0]}'", Region=regions[0])
    if a["service"] != "s3" or a["terminator"] != "aws4_request":
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      f"The authorization header is malformed; incorrect service "
                      f"'{a['service']}' or terminal '{a['terminator']}'; expecting 's3' and "
                      "'aws4_request'.")
    if abs(now - t) > MAX_SKEW_S:
        server = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        raise S3Error(403, "RequestTimeTooSkewed",
                      "The difference between the request time and the current time is too large.",
                      RequestTime=amz_date, ServerTime=server.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      MaxAllowedSkewMilliseconds=MAX_SKEW_S * 1000)
    signed = a["signed_headers"]
    if "host" not in signed:
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; 'host' must be a signed header.")
    unsigned = sorted(n for n in lower if n.startswith("x-amz-") and n not in signed)
    if unsigned:
        raise S3Error(403, "AccessDenied",
                      "There were headers present in the request which were not signed",
                      HeadersNotSigned=", ".join(unsigned))
    absent = [n for n in signed if n not in lower]
    if absent:
        raise S3Error(403, "AccessDenied",
                      f"Headers named in SignedHeaders are not in the request: {', '.join(absent)}")
    content_sha = one("x-amz-content-sha256")
    if content_sha is None:
        raise S3Error(400, "InvalidRequest",
                      "Missing required header for this request: x-amz-content-sha256")
    if not (_HEX64.match(content_sha) or content_sha == UNSIGNED_PAYLOAD or content_sha in STREAMING):
        raise S3Error(400, "InvalidArgument",
                      "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.",
                      ArgumentName="x-amz-content-sha256", ArgumentValue=content_sha)

    to_sign = HTTPHeaders()
    for name, value in headers:
        if name.lower() in signed:
            to_sign[name.lower()] = value
    secret = credentials[a["akid"]]
    verifier = _Verifier(Credentials(a["akid"], secret), a["region"], to_sign)

    def compute(path):
        query = canonical_query(raw_query)
        req = AWSRequest(method=method, url="http://front" + path + ("?" + query if query else ""),
                         headers={"X-Amz-Content-SHA256": content_sha})
        req.context["timestamp"] = amz_date
        creq = verifier.canonical_request(req)
        sts = verifier.string_to_sign(req, creq)
        return creq, sts, verifier.signature(sts, req)

    creq, sts, expected = compute(canonical_uri(raw_path))
    if not hmac.compare_digest(expected, a["signature"]):
        message = ("The request signature we calculated does not match the signature you "
                   "provided. Check your key and signing method.")
        if canonical_uri(raw_path) != raw_path and \
                hmac.compare_digest(compute(raw_path)[2], a["signature"]):
            message += (f" (The signature matches the path as sent, '{raw_path}', but S3 signs the "
                        f"canonical encoding '{canonical_uri(raw_path)}': encode every byte outside "
                        "A-Za-z0-9-_.~/ as %XX, once.)")
        raise S3Error(403, "SignatureDoesNotMatch", message,
                      AWSAccessKeyId=a["akid"], StringToSign=sts, SignatureProvided=a["signature"],
                      StringToSignBytes=_bytes_hex(sts), CanonicalRequest=creq,
                      CanonicalRequestBytes=_bytes_hex(creq))
    scope = f"{a['date']}/{a['region']}/s3/aws4_request"
    return AuthResult(a["akid"], a["region"], amz_date, scope, a["signature"], content_sha,
                      signing_key(secret, a["date"], a["region"]))


# ---------------------------------------------------------------------------------------
# aws-chunked bodies
#
#   <hex size>[;chunk-signature=<64 hex>]\r\n <size bytes> \r\n      (repeated)
#   0[;chunk-signature=<64 hex>]\r\n                                  (final chunk)
#   [x-amz-checksum-crc32:<base64>\r\n [x-amz-trailer-signature:<hex>\r\n]]   (trailer)
#   \r\n
#
# chunk signature = HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" date \n scope \n previous
#                   signature \n sha256("") \n sha256(chunk data)), seeded by the request
#                   signature; trailer signature = HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n"
#                   date \n scope \n last chunk signature \n sha256(trailer lines)).

def _chunk_error(message):
    return S3Error(400, "IncompleteBody", f"aws-chunked body: {message}")


def decode_aws_chunked(body, auth, trailer_names):
    """Decodes an aws-chunked body (bytes-like) -> (decoded bytes, {trailer name: value}).
    Verifies chunk and trailer signatures for the signed variants."""
    signed = auth.content_sha256 in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
    with_trailer = auth.content_sha256 in (STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
    mv = memoryview(body)
    pos = 0
    out = bytearray()
    prev = auth.signature
    while True:
        end = bytes(mv[pos:pos + 200]).find(b"\r\n")
        if end < 0:
            raise _chunk_error(f"no chunk header line at offset {pos}")
        line = bytes(mv[pos:pos + end]).decode("latin-1")
        pos += end + 2
        size_text, _, ext = line.partition(";")
        if not re.fullmatch(r"[0-9a-fA-F]{1,16}", size_text):
            raise _chunk_error(f"bad chunk size '{size_text}' at offset {pos - end - 2}")
        size = int(size_text, 16)
        if signed:
            if not ext.startswith("chunk-signature=") or \
                    not re.fullmatch(r"[0-9a-f]{64}", ext[len("chunk-signature="):]):
                raise S3Error(403, "SignatureDoesNotMatch",
                              f"aws-chunked chunk at offset {pos - end - 2} has no chunk-signature")
            data = mv[pos:pos + size]
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", auth.amz_date, auth.scope, prev,
                             EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
            want = hmac.new(auth.key, sts.encode(), hashlib.sha256).hexdigest()
            got = ext[len("chunk-signature="):]
            if not hmac.compare_digest(want, got):
                raise S3Error(403, "SignatureDoesNotMatch",
                              "The request signature we calculated does not match the signature "
                              f"you provided (aws-chunked chunk at offset {pos - end - 2}).",
                              StringToSign=sts, SignatureProvided=got)
            prev = got
        elif ext:
            raise _chunk_error(f"unexpected chunk extension '{ext}' in an unsigned payload")
        if pos + size > len(mv):
            raise _chunk_error(f"chunk of {size} bytes at offset {pos} runs past the body end")
        out += mv[pos:pos + size]
        pos += size
        if size == 0:
            break
        if bytes(mv[pos:pos + 2]) != b"\r\n":
            raise _chunk_error(f"no CRLF after the chunk data at offset {pos}")
        pos += 2
    trailers = {}
    if with_trailer:
        rest = bytes(mv[pos:])
        lines = rest.split(b"\r\n")
        if len(lines) < 2 or lines[-1] != b"" or lines[-2] != b"":
            raise _chunk_error("the trailer does not end with an empty line")
        canonical = []
        trailer_sig = None
        for raw in lines[:-2]:
            name, colon, value = raw.decode("latin-1").partition(":")
            if not colon:
                raise _chunk_error(f"bad trailer line '{raw[:80]!r}'")
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                trailer_sig = value.strip()
                continue
            trailers[name] = value.strip()
            canonical.append(f"{name}:{value.strip()}\n")
        if set(trailers) != set(trailer_names):
            raise _chunk_error(f"trailer holds {sorted(trailers)} but x-amz-trailer announced "
                               f"{sorted(trailer_names)}")
        if signed:
            if trailer_sig is None:
                raise S3Error(403, "SignatureDoesNotMatch", "aws-chunked trailer has no signature")
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", auth.amz_date, auth.scope, prev,
                             hashlib.sha256("".join(canonical).encode()).hexdigest()])
            want = hmac.new(auth.key, sts.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, trailer_sig):
                raise S3Error(403, "SignatureDoesNotMatch",
                              "The trailer signature we calculated does not match the signature "
                              "you provided.", StringToSign=sts, SignatureProvided=trailer_sig)
        pos = len(mv)
    else:
        if bytes(mv[pos:pos + 2]) != b"\r\n":
            raise _chunk_error(f"no CRLF after the final chunk at offset {pos}")
        pos += 2
    if pos != len(mv):
        raise _chunk_error(f"{len(mv) - pos} bytes after the end of the aws-chunked body")
    return bytes(out), trailers


def b64_md5_ok(value):
    """Content-MD5 must be base64 of 16 bytes."""
    try:
        raw = binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if len(raw) == 16 else None

