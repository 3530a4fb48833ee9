"""pyarrow side of `bench/encode`: times pyarrow writing one smackz table.

    encode_pyarrow.py --mode columnar --table T --input T.jsonl --output OUT [--reps 5] [--warmup 1]

columnar: the rows are loaded into an Arrow table first (untimed, with
lakewriter's column types: smackz_tables.arrow_table); each repetition times
pq.write_table(table, OUT) alone.
json: each repetition times pyarrow.json.read_json(T.jsonl) + pq.write_table
(an explicit schema gives the scalar columns lakewriter's types where Arrow's
JSON reader can parse them: timestamps, decimals, int32; uuids stay strings;
nested JSON is inferred, and a table whose nested values mix types cannot be
read at all: the result then has "error").

Single-threaded (pa.set_cpu_count(1), use_threads=False), zstd level 3,
dictionary on, everything else pyarrow's defaults. Prints one JSON object:
{"tool", "mode", "table", "rows", "seconds": [...], "cpu_seconds": [...],
"output_bytes", "peak_rss_bytes"}. peak_rss_bytes is the VmHWM over the timed
repetitions (reset after loading), so it includes the table held in memory.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smackz_tables as st  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.json as pj  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def json_schema(table):
    fields = []
    for name, kind, nullable in st.TABLES[table]:
        if kind in ("timestamp", "decimal", "int32", "int64", "double", "bool", "string"):
            fields.append(pa.field(name, st.arrow_type(kind), nullable=nullable))
        elif kind == "uuid":
            fields.append(pa.field(name, pa.string(), nullable=nullable))
    return pa.schema(fields)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["columnar", "json"], required=True)
    ap.add_argument("--table", required=True, choices=sorted(st.TABLES))
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--zstd-level", type=int, default=3)
    a = ap.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    write = dict(compression="zstd", compression_level=a.zstd_level, use_dictionary=True)
    result = {"tool": "pyarrow", "mode": a.mode, "table": a.table}
    if a.mode == "columnar":
        table = st.arrow_table(a.table, a.input)
        result["rows"] = table.num_rows
        result["arrow_bytes"] = table.nbytes
        run = lambda: pq.write_table(table, a.output, **write)  # noqa: E731
    else:
        ropts = pj.ReadOptions(use_threads=False, block_size=1 << 24)
        popts = pj.ParseOptions(explicit_schema=json_schema(a.table))

        def run():
            t = pj.read_json(a.input, read_options=ropts, parse_options=popts)
            pq.write_table(t, a.output, **write)
            result["rows"] = t.num_rows
    st.reset_peak_rss()
    secs, cpus = [], []
    try:
        for r in range(a.warmup + a.reps):
            w0, c0 = time.perf_counter(), time.process_time()
            run()
            w1, c1 = time.perf_counter(), time.process_time()
            if r >= a.warmup:
                secs.append(w1 - w0)
                cpus.append(c1 - c0)
    except pa.ArrowInvalid as e:
        result["error"] = str(e).splitlines()[0]
        print(json.dumps(result))
        return
    result.update(seconds=secs, cpu_seconds=cpus, output_bytes=os.path.getsize(a.output),
                  peak_rss_bytes=st.peak_rss_bytes())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
