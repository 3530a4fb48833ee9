"""A throw-away test CA and a server certificate for localhost / 127.0.0.1 / ::1, made
with the `openssl` command line tool.

    <dir>/ca.pem       the CA certificate (give it to clients: CA file / trust anchor)
    <dir>/ca.key       its key (only used here)
    <dir>/server.pem   server certificate, signed by the CA (RSA 2048, SHA-256)
    <dir>/server.key   its key

RSA keys and TLS 1.2+ keep BearSSL's client profiles and Python's defaults happy."""
import os
import pathlib
import subprocess

DAYS = 30


def _run(args, cwd):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")


def make_certs(directory, hosts=("localhost",), ips=("127.0.0.1", "::1")):
    """Writes a fresh CA and server certificate into `directory`; returns the paths."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ext = d / "server.ext"
    san = ",".join([f"DNS:{h}" for h in hosts] + [f"IP:{i}" for i in ips])
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   f"subjectAltName={san}\n")
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
          "-days", str(DAYS), "-keyout", "ca.key", "-out", "ca.pem",
          "-subj", "/O=lakewriter tests/CN=lakewriter test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
          "-keyout", "server.key", "-out", "server.csr",
          "-subj", "/O=lakewriter tests/CN=localhost"], d)
    _run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
          "-CAcreateserial", "-sha256", "-days", str(DAYS), "-extfile", "server.ext",
          "-out", "server.pem"], d)
    for name in ("server.csr", "server.ext", "ca.srl"):
        try:
            os.unlink(d / name)
        except FileNotFoundError:
            pass
    os.chmod(d / "ca.key", 0o600)
    os.chmod(d / "server.key", 0o600)
    return {"ca": str(d / "ca.pem"), "cert": str(d / "server.pem"), "key": str(d / "server.key")}
