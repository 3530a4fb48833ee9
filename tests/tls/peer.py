#!/usr/bin/env python3
"""A TLS (or deliberately not-TLS) server on 127.0.0.1 for the TLS tests.

    peer.py MODE [--cert PEM --key KEY] [--connections N] [--payload TEXT]

Binds port 0, prints "port <n>" on stdout (then flushes), serves N connections one
after the other (default 1) and exits. Exits by itself after 60 s in any case.

Modes:
  echo          TLS; echoes every byte until the client closes; then close_notify
  tell          TLS; sends "resumed=0|1 cipher=<name> version=<v>\\n", then echoes
  notify        TLS; sends the payload, then close_notify, then closes
  truncate      TLS; sends the payload, then closes TCP without close_notify
  starttls      reads an 8-byte SSLRequest, answers "S", then TLS and echo
  tls13         TLS 1.3 only (the handshake fails)
  rsa-cbc       TLS 1.2 with AES128-SHA256 only (no ECDHE, no AEAD)
  plain-echo    plain TCP: echoes every byte until the client closes
  http          plain TCP: reads the ClientHello, answers an HTTP 400, closes
  silent        plain TCP: accepts and says nothing until the client goes away
  hangup        plain TCP: reads the whole ClientHello, closes
  half          plain TCP: reads the ClientHello, sends half a ServerHello record, closes
"""
import argparse
import signal
import socket
import ssl
import sys


def read_client_hello(conn):
    """Reads one whole TLS record (the ClientHello) from a plain socket."""
    head = b""
    while len(head) < 5:
        chunk = conn.recv(5 - len(head))
        if not chunk:
            return head
        head += chunk
    need = int.from_bytes(head[3:5], "big")
    body = b""
    while len(body) < need:
        chunk = conn.recv(need - len(body))
        if not chunk:
            break
        body += chunk
    return head + body


def context(args, mode):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if mode == "tls13":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    elif mode == "rsa-cbc":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("AES128-SHA256")
    return ctx


def echo(tls):
    while True:
        try:
            data = tls.recv(65536)
        except (ssl.SSLEOFError, ConnectionResetError):
            return
        if not data:
            break
        tls.sendall(data)
    try:
        tls.unwrap()
    except (ssl.SSLError, OSError):
        pass


def serve_tls(args, ctx, conn):
    if args.mode == "starttls":
        request = b""
        while len(request) < 8:
            chunk = conn.recv(8 - len(request))
            if not chunk:
                return
            request += chunk
        if request != bytes([0, 0, 0, 8, 4, 210, 22, 47]):
            print(f"not an SSLRequest: {request!r}", file=sys.stderr)
            return
        conn.sendall(b"S")
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print(f"handshake failed: {e}", file=sys.stderr)
        return
    try:
        if args.mode == "tell":
            line = f"resumed={int(tls.session_reused)} cipher={tls.cipher()[0]} version={tls.version()}\n"
            tls.sendall(line.encode())
            echo(tls)
        elif args.mode in ("echo", "starttls"):
            echo(tls)
        elif args.mode == "notify":
            tls.sendall(args.payload.encode())
            try:
                tls.unwrap()
            except (ssl.SSLError, OSError):
                pass
        elif args.mode == "truncate":
            tls.sendall(args.payload.encode())
            # Close the TCP socket under the TLS layer: no close_notify.
            raw = socket.socket(fileno=tls.detach())
            raw.shutdown(socket.SHUT_RDWR)
            raw.close()
            return
    except (ssl.SSLError, OSError) as e:
        print(f"tls error: {e}", file=sys.stderr)
    tls.close()


def serve_plain(args, conn):
    if args.mode == "plain-echo":
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
    elif args.mode == "http":
        read_client_hello(conn)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    elif args.mode == "silent":
        conn.settimeout(30)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
    elif args.mode == "hangup":
        read_client_hello(conn)
    elif args.mode == "half":
        read_client_hello(conn)
        conn.sendall(bytes([22, 3, 3, 0, 80, 2, 0, 0]))  # 80-byte record, 3 bytes of it
    conn.shutdown(socket.SHUT_RDWR)
    conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--payload", default="hello from the server")
    args = p.parse_args()
    signal.alarm(60)
    tls_modes = {"echo", "starttls", "tell", "notify", "truncate", "tls13", "rsa-cbc"}
    ctx = context(args, args.mode) if args.mode in tls_modes else None
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    print(f"port {srv.getsockname()[1]}", flush=True)
    for _ in range(args.connections):
        conn, _ = srv.accept()
        if ctx is not None:
            serve_tls(args, ctx, conn)
        else:
            serve_plain(args, conn)
    srv.close()


if __name__ == "__main__":
    main()
