"""Driving a front from tests: the control API client, the shared instance started by
`scripts/services start s3`, and private instances (moto + front on free ports).

    from s3front.control import FrontClient, Instance, services_env

    front = FrontClient("http://127.0.0.1:9021")
    front.settings(r2_buckets=["my-bucket"])
    front.fault("reset", op="UploadPart", bucket="my-bucket", after_bytes=65536)
    seq = front.seq(); ...; entries = front.log(since=seq, bucket="my-bucket")

    with Instance(tmp_path) as inst:            # isolated: its own moto and front
        s3 = inst.boto3_client()                # R2-compatible boto3 config
        inst.control.settings(r2=True)
"""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from .certs import make_certs

ACCESS_KEY_ID = "LWTESTAKID00000000001"
SECRET_ACCESS_KEY = "lakewriter/test+secret=0123456789abcdefghij"
REGION = "us-east-1"
BUCKET = "lakewriter-test"
PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parents[1]


class FrontClient:
    """The control API of one front (any of its ports: http://host:port)."""

    def __init__(self, url, timeout=30, ca_file=None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.context = None
        if self.url.startswith("https"):
            import ssl
            self.context = ssl.create_default_context(cafile=ca_file)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"front control {method} {path}: {e.code} {e.read()[:500]!r}") from None

    def health(self):
        return self.call("GET", "/_front/health")

    def state(self):
        return self.call("GET", "/_front/state")

    def settings(self, **changes):
        if not changes:
            return self.call("GET", "/_front/settings")["settings"]
        return self.call("PUT", "/_front/settings", changes)["settings"]

    def fault(self, kind, **match):
        """Arms one fault; returns its id. See state.py for kinds and fields."""
        return self.call("POST", "/_front/faults", dict(match, kind=kind))["ids"][0]

    def faults(self):
        return self.call("GET", "/_front/faults")["faults"]

    def clear_faults(self, bucket=None):
        return self.call("DELETE", "/_front/faults" + (f"?bucket={bucket}" if bucket else ""))

    def seq(self):
        """The sequence number of the last logged request (use as log(since=...))."""
        return self.state()["log_seq"]

    def log(self, since=0, bucket=None, op=None):
        q = [f"since={since}"] + ([f"bucket={bucket}"] if bucket else []) + ([f"op={op}"] if op else [])
        return self.call("GET", "/_front/log?" + "&".join(q))["entries"]

    def clear_log(self):
        return self.call("DELETE", "/_front/log")

    def reset(self):
        return self.call("POST", "/_front/reset")


def services_env(root=ROOT):
    """Starts the shared moto + front (idempotent) and returns `scripts/services env`."""
    script = pathlib.Path(root) / "scripts" / "services"
    r = subprocess.run([str(script), "start", "s3"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"scripts/services start s3 failed: {r.stdout}{r.stderr}")
    r = subprocess.run([str(script), "env", "s3"], capture_output=True, text=True, timeout=60,
                       check=True)
    env = {}
    for line in r.stdout.splitlines():
        name, eq, value = line.partition("=")
        if eq:
            env[name.strip()] = value.strip()
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boto3_client(endpoint, ca_file=None, r2_compatible=True, **config):
    """A boto3 S3 client for the front. r2_compatible=True turns off what R2 rejects:
    flexible checksums (x-amz-checksum-*, aws-chunked trailers) unless an operation
    requires them; path-style addressing; payload signing stays on (SHA-256 of the body)."""
    import boto3
    from botocore.config import Config
    opts = {"s3": {"addressing_style": "path"}, "retries": {"total_max_attempts": 1, "mode": "standard"},
            "connect_timeout": 10, "read_timeout": 60}
    if r2_compatible:
        opts["request_checksum_calculation"] = "when_required"
        opts["response_checksum_validation"] = "when_required"
    opts.update(config)
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY, region_name=REGION,
                        verify=ca_file if endpoint.startswith("https") else None,
                        config=Config(**opts))


class Instance:
    """A private moto_server + front pair on free loopback ports (subprocesses), with
    its own certificates in `workdir`. Stop it with stop() or use it as a context manager."""

    def __init__(self, workdir, bucket=BUCKET, quiet=True):
        self.workdir = pathlib.Path(workdir)
        self.bucket = bucket
        self.quiet = quiet
        self.procs = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        certs = make_certs(self.workdir / "certs")
        self.ca_file = certs["ca"]
        self.moto_port = free_port()
        moto = shutil.which("moto_server", path=str(pathlib.Path(sys.executable).parent)) \
            or "moto_server"
        self.procs.append(subprocess.Popen(
            [moto, "-H", "127.0.0.1", "-p", str(self.moto_port)],
            stdout=open(self.workdir / "moto.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True))
        ready = self.workdir / "front.ready"
        if ready.exists():
            ready.unlink()
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_DIR.parent))
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "s3front", "serve",
             "--upstream", f"http://127.0.0.1:{self.moto_port}", "--port", "0", "--tls-port", "0",
             "--cert", certs["cert"], "--key", certs["key"], "--bucket", self.bucket,
             "--ready-file", str(ready)] + (["--quiet"] if self.quiet else []),
            stdout=open(self.workdir / "front.log", "wb"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True))
        deadline = time.time() + 60
        while not ready.exists():
            if time.time() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                log = (self.workdir / "front.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"private s3 front did not start: {log}")
            time.sleep(0.05)
        ports = json.loads(ready.read_text())
        self.port, self.tls_port = ports["port"], ports["tls_port"]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.tls_endpoint = f"https://localhost:{self.tls_port}"
        self.moto_endpoint = f"http://127.0.0.1:{self.moto_port}"
        self.control = FrontClient(self.endpoint)
        return self

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []

    def env(self):
        return {"LW_S3_ENDPOINT": self.endpoint, "LW_S3_TLS_ENDPOINT": self.tls_endpoint,
                "LW_S3_CA_FILE": self.ca_file, "LW_S3_BUCKET": self.bucket,
                "LW_S3_REGION": REGION, "LW_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "LW_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "LW_S3_MOTO_ENDPOINT": self.moto_endpoint, "LW_S3_CONTROL": self.endpoint + "/_front"}

    def boto3_client(self, tls=False, **kw):
        return boto3_client(self.tls_endpoint if tls else self.endpoint, self.ca_file, **kw)

    def moto_client(self):
        """Reads straight from moto (no front, any credentials)."""
        return boto3_client(self.moto_endpoint)
