"""DuckDB side of `bench/encode`: times DuckDB writing one smackz table.

    encode_duckdb.py --mode columnar --table T --input T.jsonl --output OUT [--reps 5] [--warmup 1]

columnar: the rows are loaded into a DuckDB table first (untimed: read_json
with lakewriter's column types: UUID, DECIMAL(10,2), TIMESTAMPTZ, JSON...);
each repetition times COPY t TO OUT alone.
json: each repetition times COPY (SELECT * FROM read_json(T.jsonl, columns=...)) TO OUT.

threads=1, FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3, everything
else DuckDB's defaults. Prints one JSON object like encode_pyarrow.py.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smackz_tables as st  # noqa: E402

import duckdb  # noqa: E402


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
    con = duckdb.connect()
    con.execute("SET threads=1")
    src = "read_json('%s', format='newline_delimited', columns=%s)" % (a.input.replace("'", "''"),
                                                                         st.duckdb_columns(a.table))
    opts = "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL %d)" % a.zstd_level
    out = "'%s'" % a.output.replace("'", "''")
    result = {"tool": "duckdb", "mode": a.mode, "table": a.table}
    if a.mode == "columnar":
        con.execute("CREATE TABLE t AS SELECT * FROM " + src)
        sql = "COPY t TO %s %s" % (out, opts)
    else:
        sql = "COPY (SELECT * FROM %s) TO %s %s" % (src, out, opts)
    st.reset_peak_rss()
    secs, cpus = [], []
    for r in range(a.warmup + a.reps):
        w0, c0 = time.perf_counter(), time.process_time()
        rows = con.execute(sql).fetchone()[0]
        w1, c1 = time.perf_counter(), time.process_time()
        if r >= a.warmup:
            secs.append(w1 - w0)
            cpus.append(c1 - c0)
    result.update(rows=rows, seconds=secs, cpu_seconds=cpus, output_bytes=os.path.getsize(a.output),
                  peak_rss_bytes=st.peak_rss_bytes())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
