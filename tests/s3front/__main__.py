"""Command line of the strict S3 front (run with PYTHONPATH=tests):

  python -m s3front serve --upstream http://127.0.0.1:9020 --port 9021 \\
        [--tls-port 9022 --cert server.pem --key server.key] [--bucket NAME ...] \\
        [--access-key-id ID --secret-access-key SECRET] [--region us-east-1] [--r2] \\
        [--host 127.0.0.1] [--ready-file FILE] [--quiet]
  python -m s3front certs DIR                 CA + server certificate (openssl)
  python -m s3front ctl [--url URL] COMMAND   drive a running front:
        health | state | reset
        settings [name=value ...]             e.g. settings r2=true, settings expect=reject
        fault KIND [name=value ...]           e.g. fault reset op=UploadPart after_bytes=65536
        faults [--clear]
        log [--since N] [--bucket B] [--op OP] [--clear]
  (values are JSON when they parse as JSON, strings otherwise; --url defaults to
   $LW_S3_ENDPOINT or http://127.0.0.1:9021)"""
import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

from .certs import make_certs
from .control import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, FrontClient
from .server import Front, tls_context


def _wait_upstream(host, port, timeout_s=60):
    deadline = time.time() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/moto-api/", timeout=2):
                return
        except urllib.error.HTTPError:
            return       # it answers
        except OSError:
            if time.time() > deadline:
                raise SystemExit(f"s3front: moto at {host}:{port} did not answer in {timeout_s} s")
            time.sleep(0.1)


def _create_bucket(host, port, bucket):
    req = urllib.request.Request(f"http://{host}:{port}/{bucket}", method="PUT", data=b"",
                                 headers={"Host": f"{host}:{port}"})
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except urllib.error.HTTPError as e:
        body = e.read()
        if b"BucketAlreadyOwnedByYou" not in body and b"BucketAlreadyExists" not in body:
            raise SystemExit(f"s3front: cannot create bucket {bucket}: {e.code} {body[:300]!r}")


def serve(args):
    up = args.upstream.removeprefix("http://").rstrip("/")
    host, _, port = up.rpartition(":")
    upstream = (host, int(port))
    _wait_upstream(*upstream)
    for b in args.bucket:
        _create_bucket(upstream[0], upstream[1], b)
    front = Front(upstream, {args.access_key_id: args.secret_access_key}, region=args.region,
                  quiet=args.quiet)
    if args.r2:
        front.state.update_settings({"r2": True})
    port = front.listen(args.host, args.port)
    tls_port = None
    if args.tls_port is not None:
        if not (args.cert and args.key):
            raise SystemExit("s3front: --tls-port needs --cert and --key")
        tls_port = front.listen(args.host, args.tls_port, tls_context(args.cert, args.key))
    front.note(f"listening on http://{args.host}:{port}"
               + (f" and https://{args.host}:{tls_port}" if tls_port else "")
               + f", forwarding to moto at http://{upstream[0]}:{upstream[1]}")
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"port": port, "tls_port": tls_port, "pid": os.getpid()}, f)
        os.replace(tmp, args.ready_file)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(1):
        pass
    front.stop()


def _value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items):
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"s3front ctl: expected name=value, got {item!r}")
        out[name] = _value(value)
    return out


def ctl(args):
    c = FrontClient(args.url, ca_file=args.ca_file)
    rest = args.rest
    cmd = args.command
    if cmd == "health":
        out = c.health()
    elif cmd == "state":
        out = c.state()
    elif cmd == "reset":
        out = c.reset()
    elif cmd == "settings":
        out = c.settings(**_pairs(rest))
    elif cmd == "fault":
        if not rest:
            raise SystemExit("s3front ctl fault KIND [name=value ...]")
        out = {"id": c.fault(rest[0], **_pairs(rest[1:]))}
    elif cmd == "faults":
        out = c.clear_faults() if "--clear" in rest else c.faults()
    elif cmd == "log":
        p = argparse.ArgumentParser(prog="s3front ctl log")
        p.add_argument("--since", type=int, default=0)
        p.add_argument("--bucket")
        p.add_argument("--op")
        p.add_argument("--clear", action="store_true")
        a = p.parse_args(rest)
        out = c.clear_log() if a.clear else c.log(a.since, a.bucket, a.op)
    else:
        raise SystemExit(f"s3front ctl: unknown command {cmd!r}")
    json.dump(out, sys.stdout, indent=2, default=str)
    print()


def main(argv=None):
    p = argparse.ArgumentParser(prog="s3front", description="strict S3 front for moto (tests)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--upstream", required=True, help="moto_server URL, http://host:port")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=9021)
    s.add_argument("--tls-port", type=int)
    s.add_argument("--cert")
    s.add_argument("--key")
    s.add_argument("--access-key-id", default=ACCESS_KEY_ID)
    s.add_argument("--secret-access-key", default=SECRET_ACCESS_KEY)
    s.add_argument("--region", default=REGION)
    s.add_argument("--bucket", action="append", default=[])
    s.add_argument("--r2", action="store_true", help="R2 rules for every bucket from the start")
    s.add_argument("--ready-file")
    s.add_argument("--quiet", action="store_true")
    c = sub.add_parser("certs")
    c.add_argument("dir")
    k = sub.add_parser("ctl")
    k.add_argument("--url", default=os.environ.get("LW_S3_ENDPOINT", "http://127.0.0.1:9021"))
    k.add_argument("--ca-file", default=os.environ.get("LW_S3_CA_FILE"))
    k.add_argument("command")
    k.add_argument("rest", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.cmd == "serve":
        serve(args)
    elif args.cmd == "certs":
        print(json.dumps(make_certs(args.dir), indent=2))
    else:
        ctl(args)


if __name__ == "__main__":
    main()
