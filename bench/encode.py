"""bench/encode: lakewriter's Parquet encoder against pyarrow and DuckDB.

    bench/encode --rows 1000000 [--seed 1] [--reps 5] [--tables orders,order_items,app_events]

Generates the smackz workload (docs/smackz.md) with bench/smackz.py: --rows
events split by the mix (70 % app_events, 20 % order_items, 10 % orders), one
JSON lines file of data objects per table, cached under --work. Then, table by
table, one tool after the other, single-threaded, zstd level 3, dictionary on:

1. columnar encode, from rows already in memory to a Parquet file:
   lakewriter   zig-out/bench/encode (bench/encode.c, ReleaseFast): column
                builders loaded first; timed: pq_writer from builders to file
   pyarrow      pq.write_table(table) from an Arrow table in memory
                (bench/baselines/encode_pyarrow.py; pa.set_cpu_count(1))
   duckdb       COPY t TO 'f.parquet' from a DuckDB table in memory
                (bench/baselines/encode_duckdb.py; SET threads=1)
2. JSON lines to Parquet, from the file to a Parquet file:
   lakewriter   lakewriter convert --config F --table T --input T.jsonl --output O
   pyarrow      pyarrow.json.read_json + write_table
   duckdb       COPY (SELECT * FROM read_json(...)) TO ...
   Part 2 runs only when `lakewriter convert --help` exits 0 without saying
   "not built" (otherwise: "convert not available").

Each tool runs in its own process: one warm-up, then --reps timed runs; the
three tools take turns --rounds times and the figures are the median of all
their runs. rows/s = rows / median seconds (wall clock); input
MB/s = the table's JSON lines bytes / median seconds (the same byte count for
every tool, so MB/s compare like rows/s); cpu s = the median CPU time (user +
system, steadier than the wall clock on a shared machine); peak RSS = the process's high-water
mark over the timed runs, reset after loading (so it includes the input held
in memory, which differs: builders, an Arrow table, a DuckDB table). The mix
line adds the three tables up: all rows / the sum of the medians. Ratios are
lakewriter's rows/s over each other tool's. The benchmark prints figures; it
asserts nothing.
"""
import argparse
import atexit
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "baselines"))
import smackz_tables as st  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
ENCODER = ROOT / "zig-out" / "bench" / "encode"            # ReleaseFast (scripts/zig build bench)
ENCODER_SAFE = ROOT / "zig-out" / "tools" / "pq_bench"      # the same, ReleaseSafe (scripts/zig build tools)
LAKEWRITER = ROOT / "zig-out" / "bin" / "lakewriter"
ORDER = ["orders", "order_items", "app_events"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def build(safe):
    """Builds the encoder benchmark (and its ReleaseSafe twin); then the product
    for part 2, whose failure only makes part 2 unavailable. Returns whether
    the product built."""
    for args in (["bench", "tools"] if safe else ["bench"]), []:
        log("building: scripts/zig build", *args)
        r = subprocess.run([str(ROOT / "scripts" / "zig"), "build", *args], cwd=ROOT)
        if r.returncode != 0 and args:
            sys.exit("bench/encode: the build failed (scripts/zig build %s)" % " ".join(args))
        if r.returncode != 0:
            log("bench/encode: the product does not build: part 2 (convert) is not available")
            return False
    return True


def generate(work, rows, seed, tables):
    """One JSON lines file per table, rows split by the mix; cached."""
    files, procs = {}, []
    for t in tables:
        n = max(1, round(rows * st.MIX[t]))
        path = work / ("%s-%d-seed%d.jsonl" % (t, n, seed))
        files[t] = (path, n)
        if path.exists():
            continue
        log("generating %d %s rows -> %s" % (n, t, path))
        tmp = path.with_suffix(".tmp")
        f = open(tmp, "wb")
        procs.append((subprocess.Popen([PY, str(ROOT / "bench" / "smackz.py"), "--count", str(n), "--seed", str(seed),
                                        "--table", t, "--data-only"], stdout=f), f, tmp, path))
    for p, f, tmp, path in procs:
        if p.wait() != 0:
            sys.exit("bench/encode: bench/smackz.py failed")
        f.close()
        tmp.rename(path)
    return files


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def lakewriter_columnar(t, path, out, a):
    r = run_json([str(ENCODER_SAFE if a.safe else ENCODER), "--table", t, "--input", str(path), "--output", str(out), "--reps", str(a.reps),
                  "--warmup", "1", "--zstd-level", str(a.zstd_level)])
    if "error" not in r:
        r["seconds"] = r.pop("encode_s")
        r["cpu_seconds"] = r.pop("encode_cpu_s")
    return r


def baseline(tool, mode, t, path, out, a):
    script = ROOT / "bench" / "baselines" / ("encode_%s.py" % tool)
    return run_json([PY, str(script), "--mode", mode, "--table", t, "--input", str(path), "--output", str(out),
                     "--reps", str(a.reps), "--warmup", "1", "--zstd-level", str(a.zstd_level)])


def convert_available():
    if not LAKEWRITER.exists():
        return False
    r = subprocess.run([str(LAKEWRITER), "convert", "--help"], capture_output=True, text=True)
    return r.returncode == 0 and "not built" not in (r.stdout + r.stderr)


def lakewriter_convert(t, path, out, config, a):
    """Times `lakewriter convert` as a whole process (its peak RSS from wait4)."""
    cmd = [str(LAKEWRITER), "convert", "--config", str(config), "--table", t, "--input", str(path),
           "--output", str(out)]
    secs, cpus, peak = [], [], 0
    for r in range(1 + a.reps):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            return {"error": (err.strip().splitlines() or ["exit status %d" % os.waitstatus_to_exitcode(status)])[-1]}
        if r >= 1:
            secs.append(dt)
            cpus.append(usage.ru_utime + usage.ru_stime)
            peak = max(peak, usage.ru_maxrss * 1024)
    return {"seconds": secs, "cpu_seconds": cpus, "output_bytes": out.stat().st_size, "peak_rss_bytes": peak}


def pool(acc, results):
    """Adds one round's results to acc: timings pooled, the first error kept."""
    for tool, r in results.items():
        prev = acc.get(tool)
        if prev is None or "error" in r or "error" in prev:
            if prev is None or "error" in r:
                acc[tool] = dict(r)
            continue
        prev["seconds"] = prev["seconds"] + r["seconds"]
        prev["cpu_seconds"] = prev["cpu_seconds"] + r["cpu_seconds"]
        prev["peak_rss_bytes"] = max(prev.get("peak_rss_bytes", 0), r.get("peak_rss_bytes", 0))


def fmt_rate(x):
    return "%.2fM" % (x / 1e6) if x >= 1e6 else "%.0fk" % (x / 1e3)


def report(title, results, files, tools):
    """results[table][tool] -> dict with seconds, output_bytes, peak_rss_bytes (or error)."""
    print("\n## %s" % title)
    print("%-12s %-11s %9s %8s %10s %10s %12s %9s %8s %9s" % ("table", "tool", "median s", "cpu s", "rows/s",
                                                               "input MB/s", "output B", "peak RSS", "lw x",
                                                               "size vs lw"))
    mix = {tool: {"s": 0.0, "cpu": 0.0, "bytes": 0, "rss": 0, "ok": True} for tool in tools}
    rows_total = bytes_total = 0
    for t in [x for x in ORDER if x in results]:
        path, rows = files[t]
        in_bytes = path.stat().st_size
        rows_total += rows
        bytes_total += in_bytes
        lw = results[t].get("lakewriter", {})
        lw_s = statistics.median(lw["seconds"]) if "seconds" in lw else None
        for tool in tools:
            r = results[t].get(tool, {"error": "not run"})
            m = mix[tool]
            if "seconds" not in r:
                m["ok"] = False
                print("%-12s %-11s %s" % (t, tool, "n/a: " + r.get("error", "?")))
                continue
            s = statistics.median(r["seconds"])
            cpu = statistics.median(r["cpu_seconds"])
            m["s"] += s
            m["cpu"] += cpu
            m["bytes"] += r["output_bytes"]
            m["rss"] = max(m["rss"], r.get("peak_rss_bytes", 0))
            ratio = "%.2fx" % (s / lw_s) if lw_s and tool != "lakewriter" else "-"
            size = "%+.1f%%" % (100.0 * (r["output_bytes"] / lw["output_bytes"] - 1)) \
                if lw_s and tool != "lakewriter" else "-"
            print("%-12s %-11s %9.4f %8.4f %10s %10.1f %12d %8.0fM %8s %9s" % (
                t, tool, s, cpu, fmt_rate(rows / s), in_bytes / s / 1e6, r["output_bytes"],
                r.get("peak_rss_bytes", 0) / 2**20, ratio, size))
    if len(results) > 1:
        lw = mix.get("lakewriter")
        for tool in tools:
            m = mix[tool]
            if not m["ok"]:
                print("%-12s %-11s n/a (a table failed)" % ("mix", tool))
                continue
            ratio = "%.2fx" % (m["s"] / lw["s"]) if lw["ok"] and tool != "lakewriter" else "-"
            size = "%+.1f%%" % (100.0 * (m["bytes"] / lw["bytes"] - 1)) if lw["ok"] and tool != "lakewriter" else "-"
            print("%-12s %-11s %9.4f %8.4f %10s %10.1f %12d %8.0fM %8s %9s" % (
                "mix", tool, m["s"], m["cpu"], fmt_rate(rows_total / m["s"]), bytes_total / m["s"] / 1e6,
                m["bytes"], m["rss"] / 2**20, ratio, size))
    # Against the faster of the other tools, table by table (one that failed
    # on a table, like pyarrow's JSON reader on app_events, does not count).
    for key, clock in (("seconds", "wall clock"), ("cpu_seconds", "CPU time")):
        parts, lw_total, best_total, complete = [], 0.0, 0.0, True
        for t in [x for x in ORDER if x in results]:
            lw = results[t].get("lakewriter", {})
            others = [(statistics.median(results[t][o][key]), o) for o in tools
                      if o != "lakewriter" and key in results[t].get(o, {})]
            if key not in lw or not others:
                complete = False
                parts.append("%s n/a" % t)
                continue
            lw_s = statistics.median(lw[key])
            best_s, best = min(others)
            lw_total += lw_s
            best_total += best_s
            parts.append("%s %.2fx (%s)" % (t, best_s / lw_s, best))
        if len(results) > 1 and complete:
            parts.append("mix %.2fx" % (best_total / lw_total))
        print("lakewriter vs the faster other tool, %s: %s" % (clock, ", ".join(parts)))
    print("(lw x: that tool's median time / lakewriter's, i.e. lakewriter's rows/s over the tool's;"
          " size vs lw: that tool's output relative to lakewriter's)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="events in all, split by the smackz mix")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5, help="timed runs per tool and round (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="the three tools run one after the other this many times, their runs pooled "
                         "(a burst of load on a shared machine then hits every tool)")
    ap.add_argument("--tables", default=",".join(ORDER))
    ap.add_argument("--zstd-level", type=int, default=3)
    ap.add_argument("--work", default=str(ROOT / "zig-out" / "bench-data"),
                    help="generated inputs (cached) and outputs")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in zig-out/")
    ap.add_argument("--safe", action="store_true",
                    help="time lakewriter's ReleaseSafe build (zig-out/tools/pq_bench) instead of ReleaseFast")
    ap.add_argument("--out-dir", help="where the Parquet files go (default: a fresh directory in /dev/shm "
                                      "when it exists, so that no tool waits on a disk; else under --work)")
    ap.add_argument("--skip-json", action="store_true", help="only part 1 (columnar encode)")
    ap.add_argument("--json-baselines", action="store_true",
                    help="run part 2's pyarrow and DuckDB even when convert is not available")
    a = ap.parse_args()
    tables = [t.strip() for t in a.tables.split(",") if t.strip()]
    for t in tables:
        if t not in st.TABLES:
            ap.error("unknown table %r (%s)" % (t, ", ".join(ORDER)))
    product_built = True
    if not a.no_build:
        product_built = build(a.safe)
    work = pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    files = generate(work, a.rows, a.seed, tables)
    if a.out_dir:
        out = pathlib.Path(a.out_dir)
        out.mkdir(parents=True, exist_ok=True)
    elif pathlib.Path("/dev/shm").is_dir():
        out = pathlib.Path(tempfile.mkdtemp(prefix="lakewriter-bench.", dir="/dev/shm"))
        atexit.register(shutil.rmtree, out, True)
    else:
        out = work / "out"
        out.mkdir(exist_ok=True)

    print("# bench/encode: %d smackz events (seed %d), %d rounds x %d timed runs per tool (median), zstd level %d, "
          "one thread" % (a.rows, a.seed, a.rounds, a.reps, a.zstd_level))
    print("#   lakewriter build: %s; outputs in %s" % ("ReleaseSafe (--safe)" if a.safe else "ReleaseFast", out))
    for t in tables:
        path, n = files[t]
        print("#   %-12s %8d rows  %6.1f MB of JSON lines" % (t, n, path.stat().st_size / 1e6))

    tools = ["lakewriter", "pyarrow", "duckdb"]
    part1 = {}
    for t in tables:
        path, _ = files[t]
        for rnd in range(a.rounds):
            log("columnar encode: %s (round %d)" % (t, rnd + 1))
            pool(part1.setdefault(t, {}), {
                "lakewriter": lakewriter_columnar(t, path, out / ("%s.lakewriter.parquet" % t), a),
                "pyarrow": baseline("pyarrow", "columnar", t, path, out / ("%s.pyarrow.parquet" % t), a),
                "duckdb": baseline("duckdb", "columnar", t, path, out / ("%s.duckdb.parquet" % t), a),
            })
    report("1. columnar encode (rows in memory -> Parquet file)", part1, files, tools)

    if a.skip_json:
        return
    have_convert = product_built and convert_available()
    if not have_convert:
        print("\n## 2. JSON lines -> Parquet\nconvert not available (%s convert --help)" % LAKEWRITER.relative_to(ROOT))
        if not a.json_baselines:
            return
    config = work / "bench-convert.toml"
    config.write_text(st.lakewriter_config(tables))
    part2 = {}
    for t in tables:
        path, _ = files[t]
        for rnd in range(a.rounds):
            log("JSON lines -> Parquet: %s (round %d)" % (t, rnd + 1))
            pool(part2.setdefault(t, {}), {
                "lakewriter": lakewriter_convert(t, path, out / ("%s.convert.parquet" % t), config, a)
                if have_convert else {"error": "convert not available"},
                "pyarrow": baseline("pyarrow", "json", t, path, out / ("%s.pyarrow-json.parquet" % t), a),
                "duckdb": baseline("duckdb", "json", t, path, out / ("%s.duckdb-json.parquet" % t), a),
            })
    report("2. JSON lines -> Parquet (file -> file)", part2, files, tools)


if __name__ == "__main__":
    main()
