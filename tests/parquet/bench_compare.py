"""Compares the encoder with pyarrow's write_table on the same table.

    .venv/bin/python tests/parquet/bench_compare.py [rows] [zstd-level]

Runs zig-out/tools/pq_bench (build it with `scripts/zig build tools`), reads
its file back into an Arrow table, and times pyarrow writing that table with
the same codec and level (best of three, in memory). Not a test: a measurement.
"""
import io
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    level = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "bench.parquet"
        runs = [json.loads(subprocess.run([str(ROOT / "zig-out/tools/pq_bench"), str(path), str(rows), str(level)],
                                          check=True, capture_output=True, text=True).stdout) for _ in range(3)]
        ours = min(runs, key=lambda r: r["encode_s"])
        table = pq.read_table(path)
        best = None
        for _ in range(3):
            buf = io.BytesIO()
            t0 = time.process_time()
            pq.write_table(table, buf, compression="zstd", compression_level=level)
            dt = time.process_time() - t0
            best = dt if best is None or dt < best else best
            size = buf.tell()
    print(json.dumps({
        "rows": rows,
        "lakewriter_encode_s": ours["encode_s"],
        "lakewriter_append_s": ours["append_s"],
        "lakewriter_rows_per_s": round(rows / ours["encode_s"]),
        "pyarrow_write_s": round(best, 4),
        "pyarrow_rows_per_s": round(rows / best),
        "speedup": round(best / ours["encode_s"], 2),
        "lakewriter_bytes": ours["file_bytes"],
        "pyarrow_bytes": size,
        "size_ratio": round(ours["file_bytes"] / size, 4),
        "longest_pull_ms": ours["longest_pull_ms"],
        "pulls": ours["pulls"],
    }, indent=1))


if __name__ == "__main__":
    main()
