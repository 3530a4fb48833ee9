"""The strict S3 front: an HTTP/1.1 server (one thread per connection, keep-alive)
that checks every request the way S3 (or R2) would, then forwards it to moto.

    client ──HTTP or TLS──> front ──plain HTTP, no auth──> moto_server
                             │ 1. parse the raw request (strict HTTP/1.1 framing)
                             │ 2. /_front/... -> control API (settings, faults, log)
                             │ 3. R2 rules (aws-chunked, checksums, trailers, ...)
                             │ 4. SigV4 with botocore, clock skew
                             │ 5. fault? (reset, stall, 500, 503, ...)
                             │ 6. body: SHA-256, Content-MD5, checksums
                             │ 7. R2 part sizes at CompleteMultipartUpload
                             └ 8. forward to moto, relay the answer

Large PutObject/UploadPart bodies stream to moto as they arrive, except the last
piece, which is sent only once the digests match: a body that fails a check never
reaches moto complete, and moto (werkzeug) drops a request whose body ends early."""
import email.utils
import http.client
import json
import queue
import select
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from http import HTTPStatus
from urllib.parse import parse_qsl, quote, unquote

from . import auth as sigv4
from .checksums import BodyChecker
from .errors import S3Error, bad_request, error_xml, not_implemented
from .state import ControlError, State

MAX_LINE = 16 << 10
MAX_HEAD = 64 << 10
MAX_HEADERS = 200
CHUNK = 1 << 20
STREAM_MIN = 1 << 20
STREAM_BUFFERS = 8
DRAIN_MAX = 1 << 30
MAX_BODY = 5 << 30
IDLE_TIMEOUT_S = 60
HOLD_MAX_S = 3600
CHECKSUM_ALGS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect"}
TOKEN = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
R2_UNSUPPORTED_PREFIXES = ("x-amz-grant-", "x-amz-object-lock-")
R2_UNSUPPORTED = ("x-amz-tagging", "x-amz-expected-bucket-owner", "x-amz-request-payer",
                  "x-amz-trailer")


class _Closed(Exception):
    """The client went away (EOF, reset or timeout): nothing more to send."""


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers            # [(name, value)] as received
        self.h = {}
        for name, value in headers:
            self.h.setdefault(name.lower(), []).append(value)
        self.path, _, self.query = target.partition("?")
        self.params = dict(parse_qsl(self.query, keep_blank_values=True))
        self.host = self.get("host") or ""
        self.bucket, self.key = _bucket_key(self.host, self.path)
        self.op = _operation(self.method, self.bucket, self.key, self.params, self.h)

    def get(self, name):
        values = self.h.get(name)
        return None if values is None else ",".join(values)


def _bucket_key(host, path):
    """(bucket, key) for path-style hosts (IP literals, localhost) or virtual-hosted."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    path = unquote(path)
    ip_like = name.startswith("[") or all(p.isdigit() for p in name.split(".")) or \
        name.startswith("localhost") or "." not in name
    if ip_like:
        bucket, _, key = path[1:].partition("/")
        return bucket or None, key or None
    return name.split(".")[0], path[1:] or None


def _operation(method, bucket, key, params, h):
    if bucket is None:
        return "ListBuckets" if method == "GET" else f"{method}Service"
    if key is None:
        if method == "PUT":
            return "CreateBucket" if not params else "PutBucket" + _sub(params)
        if method == "DELETE":
            return "DeleteBucket" if not params else "DeleteBucket" + _sub(params)
        if method == "HEAD":
            return "HeadBucket"
        if method == "POST" and "delete" in params:
            return "DeleteObjects"
        if method == "GET":
            if params.get("list-type") == "2":
                return "ListObjectsV2"
            if "uploads" in params:
                return "ListMultipartUploads"
            if "location" in params:
                return "GetBucketLocation"
            return "ListObjects" if not (set(params) - {"prefix", "delimiter", "marker",
                                                          "max-keys", "encoding-type"}) \
                else "GetBucket" + _sub(params)
        return f"{method}Bucket"
    if method == "PUT":
        if "partNumber" in params and "uploadId" in params:
            return "UploadPartCopy" if "x-amz-copy-source" in h else "UploadPart"
        if params:
            return "PutObject" + _sub(params)
        return "CopyObject" if "x-amz-copy-source" in h else "PutObject"
    if method == "POST":
        if "uploads" in params:
            return "CreateMultipartUpload"
        if "uploadId" in params:
            return "CompleteMultipartUpload"
        return "PostObject"
    if method == "GET":
        if "uploadId" in params:
            return "ListParts"
        return "GetObject" + (_sub(params) if "versionId" not in params and params
                              and not all(p.startswith("response-") or p == "partNumber"
                                          for p in params) else "")
    if method == "HEAD":
        return "HeadObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in params else "DeleteObject"
    return f"{method}Object"


def _sub(params):
    return "".join(p[:1].upper() + p[1:] for p in sorted(params))


# ------------------------------------------------------------------------------------
# connection


class Conn:
    def __init__(self, sock, tls, cid):
        self.sock = sock
        self.tls = tls
        self.id = cid
        self.rfile = sock.makefile("rb", buffering=256 << 10)
        self.requests = 0
        self.closed = False

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (OSError, ValueError) as e:
            raise _Closed(f"send: {e}") from None

    def read_into(self, mv):
        got = 0
        while got < len(mv):
            try:
                n = self.rfile.readinto(mv[got:])
            except (OSError, ValueError) as e:
                raise _Closed(f"read: {e}") from None
            if not n:
                raise _Closed("EOF in the body")
            got += n
        return got

    def readline(self):
        try:
            return self.rfile.readline(MAX_LINE + 1)
        except (OSError, ValueError) as e:
            raise _Closed(f"read: {e}") from None

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            if self.tls:      # send close_notify, do not wait for the peer's
                self.sock.setblocking(False)
                try:
                    self.sock.unwrap()
                except (OSError, ValueError):
                    pass
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Abortive close: RST instead of FIN."""
        self.closed = True
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------
# upstream (moto)


class Upstream:
    def __init__(self, host, port, timeout=600):
        self.c = http.client.HTTPConnection(host, port, timeout=timeout)

    def start(self, method, target, headers):
        self.c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            self.c.putheader(name, value)
        self.c.endheaders()

    def send(self, data):
        self.c.send(data)

    def response(self):
        return self.c.getresponse()

    def close(self):
        self.c.close()


def _forward_headers(req, content_length, drop=(), add=()):
    out = []
    drop = set(drop) | HOP_BY_HOP | {"content-length"}
    for name, value in req.headers:
        if name.lower() not in drop:
            out.append((name, value))
    out.extend(add)
    out.append(("Content-Length", str(content_length)))
    return out


# ------------------------------------------------------------------------------------
# the front


class Front:
    """config: upstream (host, port), credentials {akid: secret}, region."""

    def __init__(self, upstream, credentials, region="us-east-1", state=None, quiet=False):
        self.upstream = upstream
        self.credentials = dict(credentials)
        self.region = region
        self.state = state or State()
        self.quiet = quiet
        self.stopping = threading.Event()
        self.servers = []

    # servers -------------------------------------------------------------------------
    def listen(self, host, port, tls_context=None):
        front = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                front.serve_connection(self.request, tls_context)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

            def shutdown_request(self, request):
                try:
                    request.close()
                except OSError:
                    pass

        srv = Server((host, port), Handler)
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        t.start()
        self.servers.append(srv)
        return srv.server_address[1]

    def stop(self):
        self.stopping.set()
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()

    def note(self, msg):
        if not self.quiet:
            print(f"s3front: {msg}", file=sys.stderr, flush=True)

    # per connection ------------------------------------------------------------------
    def serve_connection(self, sock, tls_context):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_context is not None:
            sock.settimeout(10)
            try:
                sock = tls_context.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError) as e:
                self.note(f"TLS handshake failed: {e}")
                sock.close()
                return
        sock.settimeout(IDLE_TIMEOUT_S)
        conn = Conn(sock, tls_context is not None, self.state.next_conn())
        try:
            while not conn.closed and not self.stopping.is_set():
                if not self.serve_request(conn):
                    break
        except _Closed:
            pass
        except Exception:  # never let one request take the server down
            with self.state.lock:
                self.state.internal_errors += 1
            print("s3front: internal error:\n" + traceback.format_exc(), file=sys.stderr,
                  flush=True)
            try:
                self._send_error(conn, None, S3Error(500, "InternalError",
                                                     "the test front failed; see its log",
                                                     close=True))
            except _Closed:
                pass
        finally:
            conn.close()

    def read_head(self, conn):
        line = conn.readline()
        if line == b"\r\n":          # one empty line before a request line is tolerated
            line = conn.readline()
        if not line:
            return None
        if len(line) > MAX_LINE:
            raise bad_request("request line too long")
        if not line.endswith(b"\r\n"):
            raise bad_request("request line does not end with CRLF")
        parts = line[:-2].split(b" ")
        if len(parts) != 3:
            raise bad_request(f"malformed request line {line[:-2][:200]!r}")
        method, target, version = (p.decode("latin-1") for p in parts)
        if not method or not set(method) <= TOKEN or method != method.upper():
            raise bad_request(f"malformed method {method[:40]!r}")
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise S3Error(505, "HttpVersionNotSupported",
                          f"HTTP version {version[:20]!r} is not supported", close=True)
        if not target.startswith("/") or any(not (0x21 <= ord(c) <= 0x7E) for c in target) \
                or "#" in target:
            raise bad_request(f"request-target must be origin-form visible ASCII: {target[:200]!r}")
        headers = []
        total = len(line)
        while True:
            line = conn.readline()
            total += len(line)
            if total > MAX_HEAD:
                raise bad_request("header section larger than 64 KiB")
            if not line:
                raise _Closed("EOF in the header section")
            if not line.endswith(b"\r\n"):
                raise bad_request("header line does not end with CRLF")
            if line == b"\r\n":
                break
            if line[:1] in (b" ", b"\t"):
                raise bad_request("obsolete header line folding is not accepted")
            text = line[:-2].decode("latin-1")
            name, colon, value = text.partition(":")
            if not colon or not name or not set(name) <= TOKEN:
                raise bad_request(f"malformed header line {text[:200]!r}")
            value = value.strip(" \t")
            if any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in value):
                raise bad_request(f"control character in header {name!r}")
            headers.append((name, value))
            if len(headers) > MAX_HEADERS:
                raise bad_request("too many header fields")
        req = Request(method, target, version, headers)
        hosts = req.h.get("host", [])
        if len(hosts) != 1 and version == "HTTP/1.1":
            raise bad_request("an HTTP/1.1 request needs exactly one Host header")
        return req

    def serve_request(self, conn):
        """One request on a connection; False when the connection must close."""
        conn.sock.settimeout(IDLE_TIMEOUT_S)
        try:
            req = self.read_head(conn)
        except S3Error as e:
            self._send_error(conn, None, e)
            return False
        if req is None:
            return False
        conn.requests += 1
        if req.path.startswith("/_front/") or req.path == "/_front":
            return self.control(conn, req)
        t0 = time.time()
        entry = self.state.log_start({
            "t": t0, "port": "https" if conn.tls else "http", "conn": conn.id,
            "conn_request": conn.requests, "method": req.method, "target": req.target,
            "path": req.path, "query": req.query, "op": req.op, "bucket": req.bucket,
            "key": req.key, "headers": {k: ",".join(v) for k, v in req.h.items()},
            "content_length": None, "body_bytes": 0, "status": None, "code": None,
            "fault": None, "r2": self.state.r2_for(req.bucket), "expect_100": None,
            "upstream_status": None, "unverified_checksums": [], "state": "active",
            "duration_ms": None})
        ctx = {"req": req, "entry": entry, "body_read": False, "continue_sent": False,
               "cl": 0}
        keep = False
        try:
            keep = self.process(conn, ctx)
        except S3Error as e:
            keep = self._answer_error(conn, ctx, e)
        except _Closed as e:
            self.state.log_update(entry, state="client_closed", error=str(e))
            keep = False
        finally:
            self.state.log_update(entry, duration_ms=round((time.time() - t0) * 1000, 3))
            if entry["state"] == "active":
                self.state.log_update(entry, state="done")
        conn_hdr = (req.get("connection") or "").lower()
        if "close" in conn_hdr or (req.version == "HTTP/1.0" and "keep-alive" not in conn_hdr):
            keep = False
        return keep

    # errors --------------------------------------------------------------------------
    def _answer_error(self, conn, ctx, e):
        """Answers an S3Error; drains an unread body to keep the connection if possible."""
        req, entry = ctx["req"], ctx["entry"]
        close = e.close or (ctx.get("http_chunked") and not ctx["body_read"])
        if not ctx["body_read"] and not close:
            cl = ctx["cl"]
            expecting = (req.get("expect") or "").lower() == "100-continue"
            if cl and (expecting and not ctx["continue_sent"] or cl > DRAIN_MAX):
                close = True          # the client waits for our answer before sending
            elif cl:
                self._discard(conn, cl, entry)
        if close:
            e.close = True
        self.state.log_update(entry, status=e.status, code=e.code, message=e.message)
        self._send_error(conn, req, e)
        return not close

    def _send_error(self, conn, req, e, status=None):
        rid = f"FRONT{int(time.time() * 1000) % 10**10:010d}"
        body = error_xml(e.code, e.message, resource=req.path if req else "", request_id=rid,
                         extra=e.extra)
        head = req is not None and req.method == "HEAD"
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid)]
        if e.close:
            headers.append(("Connection", "close"))
        self._send(conn, status or e.status, headers, b"" if head else body,
                   content_length=len(body))

    def _send(self, conn, status, headers, body=b"", content_length=None):
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines.append("Date: " + email.utils.formatdate(self.state.now(), usegmt=True))
        lines.append("Server: lakewriter-s3front")
        for name, value in headers:
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _discard(self, conn, n, entry=None):
        buf = memoryview(bytearray(min(n, CHUNK)))
        while n:
            k = min(n, len(buf))
            conn.read_into(buf[:k])
            n -= k
            if entry is not None:
                entry["body_bytes"] += k

    # the S3 path ---------------------------------------------------------------------
    def process(self, conn, ctx):
        req, entry = ctx["req"], ctx["entry"]
        st = self.state
        r2 = st.r2_for(req.bucket)

        # 1. framing
        content_sha = req.get("x-amz-content-sha256") or ""
        encodings = [e.strip().lower() for e in (req.get("content-encoding") or "").split(",")
                     if e.strip()]
        chunked = "aws-chunked" in encodings or content_sha in sigv4.STREAMING
        cls = req.h.get("content-length", [])
        te = req.get("transfer-encoding")
        if te is not None:
            # S3 takes HTTP chunked framing only around an aws-chunked body (what botocore
            # sends for trailing checksums over TLS); R2 takes none of it.
            if cls:
                raise bad_request("both Transfer-Encoding and Content-Length")
            if te.strip().lower() != "chunked" or not chunked or r2:
                hint = "R2 takes Content-Length bodies only" if r2 else "send Content-Length"
                raise not_implemented("A header you provided implies functionality that is not "
                                      f"implemented (Transfer-Encoding: {te[:40]}; {hint}).",
                                      header="Transfer-Encoding", close=True)
            ctx["http_chunked"] = True
        if len(cls) > 1:
            raise bad_request("more than one Content-Length header")
        if cls:
            if not cls[0].isdigit() or len(cls[0]) > 15:
                raise bad_request(f"invalid Content-Length {cls[0][:40]!r}")
            cl = int(cls[0])
            if cl > MAX_BODY:
                raise S3Error(400, "EntityTooLarge",
                              "Your proposed upload exceeds the maximum allowed size",
                              ProposedSize=cl, MaxSizeAllowed=MAX_BODY, close=True)
        else:
            cl = 0
            if req.method == "PUT" and te is None:
                raise S3Error(411, "MissingContentLength",
                              "You must provide the Content-Length HTTP header.")
        ctx["cl"] = cl
        st.log_update(entry, content_length=cl if cls else None)
        expect = req.get("expect")
        mode = st.settings["expect"]
        if mode == "auto":
            mode = "ignore" if r2 else "continue"
        if expect is not None:
            if expect.lower() != "100-continue":
                raise S3Error(417, "ExpectationFailed",
                              f"Expect: {expect[:60]} is not supported", close=True)
            if mode == "reject":
                st.log_update(entry, expect_100="rejected")
                raise S3Error(417, "ExpectationFailed",
                              "Expect: 100-continue is refused by this front (expect=reject)",
                              close=True)

        # 2. R2 rules that only need the headers
        if r2:
            self._r2_headers(req, content_sha, encodings)
        if content_sha in sigv4.STREAMING_ECDSA:
            raise not_implemented(f"{content_sha} is not implemented by the test front")

        # 3. SigV4
        regions = [self.region] + (["auto", "us-east-1", ""] if r2 else [])
        auth = sigv4.verify(req.method, req.path, req.query, req.headers, self.credentials,
                            regions, st.now())
        md5 = None
        if "content-md5" in req.h:
            md5 = sigv4.b64_md5_ok(req.get("content-md5"))
            if md5 is None:
                raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.",
                              **{"Content-MD5": req.get("content-md5")})
        if chunked and "x-amz-decoded-content-length" not in req.h:
            raise S3Error(411, "MissingContentLength",
                          "You must provide the x-amz-decoded-content-length header with "
                          "aws-chunked bodies.")

        # 4. faults
        fault = st.take_fault(req.method, req.op, req.bucket, req.key)
        if fault is not None:
            st.log_update(entry, fault=fault["kind"], fault_id=fault["id"])
            if fault["kind"] == "stall" and fault["phase"] == "headers":
                st.log_update(entry, state="stalled")
                if not self._hold(conn, fault["seconds"]):
                    st.log_update(entry, state="stalled_closed")
                    return False
                st.log_update(entry, state="active")

        # 5. Expect: 100-continue
        if expect is not None:
            if mode == "continue":
                conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                ctx["continue_sent"] = True
                st.log_update(entry, expect_100="sent")
            else:
                st.log_update(entry, expect_100="ignored")

        if fault is not None and fault["kind"] == "reset":
            n = cl // 2 if fault["after_bytes"] is None else min(int(fault["after_bytes"]), cl)
            self._discard(conn, n, entry)
            st.log_update(entry, state="reset", status=None)
            conn.reset()
            return False
        if fault is not None and fault["kind"] == "request_timeout":
            n = cl if fault["after_bytes"] is None else min(int(fault["after_bytes"]), cl)
            self._discard(conn, n, entry)
            ctx["body_read"] = n == cl
            raise S3Error(400, "RequestTimeout",
                          "Your socket connection to the server was not read from or written to "
                          "within the timeout period. Idle connections will be closed.",
                          close=True)

        # 6. body
        checksums = {}
        for alg in sigv4_checksum_algs(req):
            checksums[alg] = req.get("x-amz-checksum-" + alg)
        rate = fault["rate_bytes_per_s"] if fault is not None and fault["kind"] == "slow" else None
        if chunked:
            fwd_body, fwd_headers, checker = self._read_chunked(conn, ctx, auth, md5, checksums)
        elif fault is None and req.op in ("PutObject", "UploadPart") and cl >= STREAM_MIN:
            checker = BodyChecker(content_sha if len(content_sha) == 64 else None, md5, checksums)
            return self._stream(conn, ctx, checker)
        else:
            checker = BodyChecker(content_sha if len(content_sha) == 64 else None, md5, checksums)
            fwd_body = self._read_body(conn, ctx, cl, checker, rate)
            fwd_headers = _forward_headers(req, cl)
            checker.finish()
        if checker.unverified:
            st.log_update(entry, unverified_checksums=checker.unverified)

        # 7. R2: part sizes
        if r2 and req.op == "CompleteMultipartUpload":
            self._r2_complete(req, fwd_body)

        # 8. faults that answer instead of moto, or moto
        if fault is not None and fault["kind"] not in ("slow", "close"):
            return self._fault_answer(conn, ctx, fault, fwd_headers, fwd_body)
        keep = self._forward(conn, ctx, fwd_headers, fwd_body)
        if fault is not None and fault["kind"] == "close":
            self.state.log_update(entry, state="closed_after")
            return False       # answered normally, then the connection closes unannounced
        return keep

    def _r2_headers(self, req, content_sha, encodings):
        if content_sha in sigv4.STREAMING:
            raise not_implemented(f"{content_sha} not implemented", header="x-amz-content-sha256")
        if "aws-chunked" in encodings:
            raise not_implemented("Content-Encoding aws-chunked not implemented",
                                  header="Content-Encoding")
        for name, value in req.headers:
            n = name.lower()
            if n.startswith("x-amz-checksum-") or n == "x-amz-sdk-checksum-algorithm" \
                    or n in R2_UNSUPPORTED or n.startswith(R2_UNSUPPORTED_PREFIXES) \
                    or (n == "x-amz-server-side-encryption" and value.lower() == "aws:kms") \
                    or n == "x-amz-server-side-encryption-aws-kms-key-id":
                raise not_implemented(f"Header '{name}' with value '{value}' not implemented",
                                      header=name)

    def _read_body(self, conn, ctx, cl, checker, rate=None):
        body = bytearray(cl)
        mv = memoryview(body)
        pos = 0
        step = CHUNK if rate is None else max(1, min(CHUNK, int(rate // 10) or 1))
        start = time.time()
        try:
            while pos < cl:
                n = min(step, cl - pos)
                conn.read_into(mv[pos:pos + n])
                if checker is not None:
                    checker.update(mv[pos:pos + n])
                pos += n
                ctx["entry"]["body_bytes"] = pos
                if rate:
                    ahead = pos / rate - (time.time() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        except _Closed as e:
            if "timed out" in str(e):
                ctx["body_read"] = True
                raise S3Error(400, "RequestTimeout", "Your socket connection to the server was "
                              "not read from or written to within the timeout period.",
                              close=True) from None
            raise
        ctx["body_read"] = True
        return body

    def _read_http_chunked(self, conn, ctx, limit=5 << 30):
        """An HTTP/1.1 chunked body (RFC 9112 7.1): size lines, data, CRLF, ..., 0, trailer."""
        out = bytearray()
        while True:
            line = conn.readline()
            if not line.endswith(b"\r\n"):
                raise bad_request("chunked body: chunk-size line without CRLF")
            size_text = line[:-2].split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 15 or \
                    any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                raise bad_request(f"chunked body: bad chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if len(out) + size > limit:
                raise bad_request("chunked body larger than 5 GiB")
            if size == 0:
                break
            start = len(out)
            out += bytes(size)
            conn.read_into(memoryview(out)[start:])
            if conn.readline() != b"\r\n":
                raise bad_request("chunked body: no CRLF after chunk data")
            ctx["entry"]["body_bytes"] = len(out)
        while True:               # trailer section (HTTP level; aws trailers are inside)
            line = conn.readline()
            if line == b"\r\n":
                break
            if not line.endswith(b"\r\n"):
                raise bad_request("chunked body: bad trailer line")
        ctx["body_read"] = True
        return out

    def _read_chunked(self, conn, ctx, auth, md5, header_checksums):
        req = ctx["req"]
        if ctx.get("http_chunked"):
            raw = self._read_http_chunked(conn, ctx)
        else:
            raw = self._read_body(conn, ctx, ctx["cl"], None)
        trailer_names = [t.strip().lower() for t in (req.get("x-amz-trailer") or "").split(",")
                         if t.strip()]
        decoded, trailers = sigv4.decode_aws_chunked(raw, auth, trailer_names)
        want = req.get("x-amz-decoded-content-length")
        if not want.isdigit() or int(want) != len(decoded):
            raise S3Error(400, "IncompleteBody",
                          f"You did not provide the number of bytes specified by the "
                          f"x-amz-decoded-content-length header ({want}; the chunks hold "
                          f"{len(decoded)}).")
        checker = BodyChecker(None, md5, header_checksums)
        extra = []
        for name, value in trailers.items():
            if name.startswith("x-amz-checksum-") and name[15:] in CHECKSUM_ALGS:
                checker.add_checksum(name[15:], value)
                extra.append((name, value))
        checker.update(decoded)
        checker.finish()
        encodings = [e.strip() for e in (req.get("content-encoding") or "").split(",")
                     if e.strip() and e.strip().lower() != "aws-chunked"]
        add = extra + [("x-amz-content-sha256", sigv4.hashlib.sha256(decoded).hexdigest())]
        if encodings:
            add.append(("Content-Encoding", ", ".join(encodings)))
        headers = _forward_headers(req, len(decoded), add=add,
                                   drop={"content-encoding", "x-amz-decoded-content-length",
                                         "x-amz-trailer", "x-amz-content-sha256"})
        return decoded, headers, checker

    def _stream(self, conn, ctx, checker):
        """PutObject/UploadPart without a fault: the body goes to moto as it arrives (a
        sender thread overlaps the two sockets), except the last piece, sent only once
        the digests matched."""
        req, entry, cl = ctx["req"], ctx["entry"], ctx["cl"]
        up = Upstream(*self.upstream)
        up_error = []
        try:
            up.start(req.method, req.target, _forward_headers(req, cl))
        except OSError as e:
            up_error.append(e)
        free = queue.Queue()
        for _ in range(STREAM_BUFFERS):
            free.put(bytearray(CHUNK))
        full = queue.Queue()

        def sender():
            while True:
                item = full.get()
                if item is None:
                    return
                buf, n = item
                if not up_error:
                    try:
                        up.send(memoryview(buf)[:n])
                    except OSError as e:
                        up_error.append(e)
                free.put(buf)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        pos = 0
        held = None
        try:
            while pos < cl:
                n = min(CHUNK, cl - pos)
                buf = free.get()
                mv = memoryview(buf)[:n]
                conn.read_into(mv)
                checker.update(mv)
                pos += n
                entry["body_bytes"] = pos
                if pos == cl:
                    held = bytes(mv)
                else:
                    full.put((buf, n))
        except _Closed:
            full.put(None)
            t.join()
            up.close()
            raise
        full.put(None)
        t.join()
        ctx["body_read"] = True
        try:
            checker.finish()
        except S3Error:
            up.close()   # moto sees a short body and stores nothing
            raise
        if checker.unverified:
            self.state.log_update(entry, unverified_checksums=checker.unverified)
        if not up_error:
            try:
                up.send(held)
                resp = up.response()
            except (OSError, http.client.HTTPException) as e:
                up_error.append(e)
        if up_error:
            up.close()
            raise S3Error(500, "InternalError", f"the front could not reach moto: {up_error[0]}")
        try:
            return self._relay(conn, ctx, resp)
        finally:
            up.close()

    def _exchange(self, req, headers, body):
        """Sends a request to moto; returns an http.client response (caller closes)."""
        up = Upstream(*self.upstream)
        try:
            up.start(req.method, req.target, headers)
            if body:
                up.send(body)
            return up, up.response()
        except (OSError, http.client.HTTPException) as e:
            up.close()
            raise S3Error(500, "InternalError", f"the front could not reach moto: {e}") from None

    def _forward(self, conn, ctx, headers, body):
        up, resp = self._exchange(ctx["req"], headers, body)
        try:
            return self._relay(conn, ctx, resp)
        finally:
            up.close()

    def _relay(self, conn, ctx, resp):
        req, entry = ctx["req"], ctx["entry"]
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server")]
        lengths = [v for k, v in headers if k.lower() == "content-length"]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        code = None
        no_body = req.method == "HEAD" or resp.status in (204, 304)
        if no_body:
            body = b""
            length = int(lengths[0]) if lengths else 0
        elif lengths and resp.status < 300:
            length = int(lengths[0])
            body = None
        else:
            body = resp.read()
            length = len(body)
            if resp.status >= 300:
                code = _error_code(body)
        self.state.log_update(entry, status=resp.status, code=code, upstream_status=resp.status,
                              etag=resp.getheader("ETag"))
        if body is not None:
            self._send(conn, resp.status, headers, body, content_length=length)
            return True
        self._send(conn, resp.status, headers, b"", content_length=length)
        left = length
        while left:
            piece = resp.read(min(CHUNK, left))
            if not piece:
                raise _Closed("moto ended a response body early")
            conn.send(piece)
            left -= len(piece)
        return True

    def _fault_answer(self, conn, ctx, fault, headers, body):
        """Answers a request that drew a fault (its body was read and checked)."""
        req, entry = ctx["req"], ctx["entry"]
        kind = fault["kind"]
        if fault["forward"]:      # moto executes it; its answer is replaced (lost)
            up, resp = self._exchange(req, headers, body)
            try:
                resp.read()
            finally:
                up.close()
            self.state.log_update(entry, upstream_status=resp.status)
        if kind == "stall":
            self.state.log_update(entry, state="stalled")
            if not self._hold(conn, fault["seconds"]) or fault["forward"]:
                self.state.log_update(entry, state="stalled_closed")
                return False
            self.state.log_update(entry, state="active")
            return self._forward(conn, ctx, headers, body)      # a late answer
        if kind == "internal_error":
            raise S3Error(500, "InternalError", "We encountered an internal error. Please try again.")
        if kind == "slow_down":
            raise S3Error(503, "SlowDown", "Please reduce your request rate.")
        if kind == "error":
            raise S3Error(int(fault["status"]), fault["code"], fault["message"] or fault["code"])
        if kind == "complete_error":
            rid = f"FRONT{entry['seq']:010d}"
            xml = error_xml("InternalError", "We encountered an internal error. Please try again.",
                            request_id=rid)
            self.state.log_update(entry, status=200, code="InternalError")
            self._send(conn, 200, [("Content-Type", "application/xml"),
                                   ("x-amz-request-id", rid)], xml)
            return True
        raise AssertionError(kind)

    def _hold(self, conn, seconds):
        """Waits `seconds` (None: until the client closes). False if the client closed."""
        end = time.time() + (HOLD_MAX_S if seconds is None else seconds)
        while not self.stopping.is_set():
            left = end - time.time()
            if left <= 0:
                return seconds is not None
            try:
                r, _, _ = select.select([conn.sock], [], [], min(0.2, left))
            except (OSError, ValueError):
                return False
            if r:
                if seconds is not None:
                    time.sleep(min(0.05, left))
                    continue     # the client may send the body meanwhile: leave it unread
                try:
                    data = conn.sock.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                except (OSError, ValueError):
                    return False
                if not data:
                    return False
        return False

    def _r2_complete(self, req, body):
        """R2 checks part sizes at CompleteMultipartUpload: all but the last part the same
        size, at least 5 MiB; the last no larger than the others."""
        try:
            root = ET.fromstring(bytes(body))
        except ET.ParseError:
            return            # moto answers MalformedXML
        numbers = []
        for part in root:
            if part.tag.rsplit("}", 1)[-1] != "Part":
                continue
            for child in part:
                if child.tag.rsplit("}", 1)[-1] == "PartNumber" and (child.text or "").isdigit():
                    numbers.append(int(child.text))
        if not numbers:
            return
        try:
            sizes = self._list_part_sizes(req)
        except (OSError, http.client.HTTPException, ET.ParseError, ValueError, KeyError) as e:
            self.note(f"ListParts at moto failed ({e}); part sizes not checked")
            return
        if any(n not in sizes for n in numbers):
            return            # moto answers InvalidPart
        minimum = int(self.state.settings["r2_min_part_bytes"])
        for n in numbers[:-1]:
            if sizes[n] < minimum:
                raise S3Error(400, "EntityTooSmall",
                              "Your proposed upload is smaller than the minimum allowed object size.",
                              ProposedSize=sizes[n], MinSizeAllowed=minimum, PartNumber=n)
        first = sizes[numbers[0]]
        for i, n in enumerate(numbers[1:], start=1):
            last = i == len(numbers) - 1
            if (not last and sizes[n] != first) or (last and sizes[n] > first):
                raise S3Error(400, "InvalidPart",
                              "All non-trailing parts must have the same length. Non Uniform Part "
                              f"Sizes: Expected part {n} to have size {first}, found {sizes[n]}")

    def _list_part_sizes(self, req):
        sizes = {}
        marker = 0
        upload_id = req.params.get("uploadId", "")
        for _ in range(100):
            target = (f"{req.path}?uploadId={quote(upload_id, safe='')}&max-parts=1000"
                      f"&part-number-marker={marker}")
            up = Upstream(*self.upstream, timeout=60)
            try:
                up.start("GET", target, [("Host", req.host), ("Content-Length", "0")])
                resp = up.response()
                data = resp.read()
            finally:
                up.close()
            if resp.status != 200:
                return sizes
            root = ET.fromstring(data)
            truncated = False
            for el in root:
                tag = el.tag.rsplit("}", 1)[-1]
                if tag == "Part":
                    fields = {c.tag.rsplit("}", 1)[-1]: c.text for c in el}
                    sizes[int(fields["PartNumber"])] = int(fields["Size"])
                elif tag == "IsTruncated":
                    truncated = (el.text or "").lower() == "true"
                elif tag == "NextPartNumberMarker":
                    marker = int(el.text or 0)
            if not truncated:
                break
        return sizes

    # control API ---------------------------------------------------------------------
    def control(self, conn, req):
        cl_text = req.get("content-length") or "0"
        if "transfer-encoding" in req.h or not cl_text.isdigit() or int(cl_text) > (1 << 20):
            self._send_json(conn, 400, {"error": "control requests need a Content-Length <= 1 MiB"},
                            close=True)
            return False
        raw = bytearray(int(cl_text))
        if raw:
            conn.read_into(memoryview(raw))
        try:
            data = json.loads(raw) if raw else None
        except ValueError as e:
            self._send_json(conn, 400, {"error": f"body is not JSON: {e}"})
            return True
        q = dict(parse_qsl(req.query, keep_blank_values=True))
        route = (req.method, req.path.rstrip("/"))
        st = self.state
        try:
            if route == ("GET", "/_front/health"):
                out = {"ok": True, "upstream": f"http://{self.upstream[0]}:{self.upstream[1]}"}
            elif route == ("GET", "/_front/state"):
                out = st.snapshot()
            elif route in (("PUT", "/_front/settings"), ("POST", "/_front/settings")):
                out = {"settings": st.update_settings(data or {})}
            elif route == ("GET", "/_front/settings"):
                out = {"settings": dict(st.settings)}
            elif route == ("POST", "/_front/faults"):
                out = {"ids": st.add_faults(data)}
            elif route == ("GET", "/_front/faults"):
                out = {"faults": st.list_faults()}
            elif route == ("DELETE", "/_front/faults"):
                out = {"cleared": st.clear_faults(q.get("bucket"))}
            elif route == ("GET", "/_front/log"):
                entries, seq = st.log_query(int(q.get("since", 0)), q.get("bucket"), q.get("op"))
                out = {"entries": entries, "seq": seq}
            elif route == ("DELETE", "/_front/log"):
                out = {"cleared": st.clear_log()}
            elif route == ("POST", "/_front/reset"):
                st.reset()
                out = {"ok": True}
            else:
                self._send_json(conn, 404, {"error": f"no control route {req.method} {req.path}",
                                            "routes": CONTROL_ROUTES})
                return True
        except (ControlError, ValueError, TypeError) as e:
            self._send_json(conn, 400, {"error": str(e)})
            return True
        self._send_json(conn, 200, out)
        return "close" not in (req.get("connection") or "").lower()

    def _send_json(self, conn, status, obj, close=False):
        body = json.dumps(obj, default=str).encode()
        headers = [("Content-Type", "application/json")]
        if close:
            headers.append(("Connection", "close"))
        self._send(conn, status, headers, body)


CONTROL_ROUTES = [
    "GET /_front/health", "GET /_front/state", "GET|PUT /_front/settings",
    "POST|GET|DELETE /_front/faults[?bucket=B]", "GET /_front/log[?since=N&bucket=B&op=Op]",
    "DELETE /_front/log", "POST /_front/reset"]


def sigv4_checksum_algs(req):
    return [n[len("x-amz-checksum-"):] for n in req.h
            if n.startswith("x-amz-checksum-") and n[len("x-amz-checksum-"):] in CHECKSUM_ALGS]


def _error_code(body):
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Code":
            return el.text
    return None


def tls_context(cert_file, key_file):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    # No TLS 1.3 session tickets: they arrive after the handshake and make the socket
    # readable with no HTTP bytes, which fools clients waiting for `100 Continue`
    # (botocore then blocks reading a status line that never comes).
    ctx.num_tickets = 0
    return ctx
