#!/usr/bin/env python3
"""bench/upload: a large file over loopback TLS to the strict S3 front, lakewriter vs boto3.

    bench/upload.py [--size-mib 1024] [--part-mib 16] [--concurrency 4] [--repeat 3] [--r2]

Side by side in one run, against one private moto + front (tests/s3front) on free ports,
both clients upload the same file with the same part size and concurrency:
  - `lakewriter put` (the static binary, zig-out/bin/lakewriter);
  - boto3's `upload_file` (TransferConfig with the same part size and max_concurrency,
    R2-compatible settings: no flexible checksums).
Each client runs in its own process; its CPU seconds come from wait4's rusage. It prints
MB/s and CPU seconds per GiB for each, and the ratios. Nothing is asserted: the front
(moto behind Python) bounds the throughput of both, so CPU per GiB is the telling figure.
"""
import argparse
import hashlib
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from s3front.control import ACCESS_KEY_ID, BUCKET, REGION, SECRET_ACCESS_KEY, Instance  # noqa: E402

MiB = 1 << 20

BOTO3_CLIENT = r"""
import sys, boto3
from botocore.config import Config
from boto3.s3.transfer import TransferConfig
endpoint, ca, path, key, part, conc = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="%s", verify=ca,
                  aws_access_key_id="%s", aws_secret_access_key="%s",
                  config=Config(request_checksum_calculation="when_required",
                                response_checksum_validation="when_required",
                                s3={"addressing_style": "path"},
                                max_pool_connections=int(conc) + 2))
t = TransferConfig(multipart_threshold=int(part), multipart_chunksize=int(part),
                   max_concurrency=int(conc), use_threads=True)
s3.upload_file(path, "%s", key, Config=t)
""" % (REGION, ACCESS_KEY_ID, SECRET_ACCESS_KEY, BUCKET)


def make_file(path, size):
    """Incompressible, deterministic bytes (TLS sees real work either way)."""
    block = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(32768))  # 1 MiB
    with open(path, "wb") as f:
        for i in range(size // len(block)):
            f.write(hashlib.sha256(b"%d" % i).digest() + block[32:])
        f.write(block[: size % len(block)])


def timed(cmd, env):
    """Runs cmd; returns (seconds, cpu seconds of the child, peak RSS MiB)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.monotonic() - t0
    out, err = p.stdout.read(), p.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed: {err.decode(errors='replace')[-2000:]}")
    return dt, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--part-mib", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--r2", action="store_true", help="front in R2 mode (equal parts, no checksums)")
    ap.add_argument("--lakewriter", default=str(ROOT / "zig-out" / "bin" / "lakewriter"))
    args = ap.parse_args()
    size = args.size_mib * MiB
    part = args.part_mib * MiB
    work = pathlib.Path(tempfile.mkdtemp(prefix="lw-bench-upload-"))
    src = work / "data.bin"
    print(f"making a {args.size_mib} MiB file ...", flush=True)
    make_file(src, size)

    with Instance(work / "s3") as front:
        front.control.settings(r2=args.r2)
        config = work / "lakewriter.toml"
        text = (ROOT / "examples" / "lakewriter.toml").read_text()
        import re
        text = re.sub(r"(?m)^part_size\s*=.*$", f'part_size = "{args.part_mib}MiB"', text)
        text = re.sub(r"(?m)^uploads_in_flight\s*=.*$", "", text)
        text = text.replace("\n[s3]\n", f"\n[s3]\nuploads_in_flight = {args.concurrency}\n", 1)
        config.write_text(text)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
        lw_cmd = lambda key: [args.lakewriter, "put", "--config", str(config), "--s3-endpoint", front.tls_endpoint,
                              "--bucket", BUCKET, "--region", REGION, "--ca-file", front.ca_file,
                              "--log-level", "warn", str(src), key]
        boto_cmd = lambda key: [sys.executable, "-c", BOTO3_CLIENT, front.tls_endpoint, front.ca_file, str(src),
                                key, str(part), str(args.concurrency)]
        results = {"lakewriter": [], "boto3": []}
        for i in range(args.repeat):
            for name, cmd in (("lakewriter", lw_cmd), ("boto3", boto_cmd)):
                key = f"bench/{name}-{i}.bin"
                dt, cpu, rss = timed(cmd(key), env)
                head = front.moto_client().head_object(Bucket=BUCKET, Key=key)
                assert head["ContentLength"] == size, (name, head["ContentLength"])
                results[name].append((dt, cpu, rss))
                print(f"  run {i + 1} {name:10s} {size / MiB / dt:8.1f} MiB/s  cpu {cpu:6.2f} s  "
                      f"peak RSS {rss:6.1f} MiB", flush=True)
                front.moto_client().delete_object(Bucket=BUCKET, Key=key)

    gib = size / (1 << 30)
    print(f"\n{args.size_mib} MiB over loopback TLS, parts {args.part_mib} MiB, concurrency {args.concurrency}, "
          f"R2 mode {'on' if args.r2 else 'off'}; median of {args.repeat}:")
    med = {}
    for name, rows in results.items():
        dt = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        rss = max(r[2] for r in rows)
        med[name] = (size / MiB / dt, cpu / gib, rss)
        print(f"  {name:10s} {med[name][0]:8.1f} MiB/s   {med[name][1]:6.2f} CPU s/GiB   peak RSS {rss:7.1f} MiB")
    lw, bo = med["lakewriter"], med["boto3"]
    print(f"  ratio      speed lakewriter/boto3 = {lw[0] / bo[0]:.2f}x   CPU per GiB lakewriter/boto3 = "
          f"{lw[1] / bo[1]:.2f}")
    src.unlink()


if __name__ == "__main__":
    main()
