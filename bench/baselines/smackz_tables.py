"""The smackz tables (docs/smackz.md) as the baselines load them: one list of
(column, kind, nullable) per table, in file order, and the Arrow and DuckDB
types of each kind. The same columns as bench/encode.c and the config that
`bench/encode` writes for `lakewriter convert`.

Kinds: uuid int64 int32 string decimal bool timestamp double json.
"""
import json
import uuid

TABLES = {
    "orders": [
        ("order_id", "uuid", False), ("user_id", "int64", False), ("restaurant_id", "int64", False),
        ("status", "string", False), ("subtotal", "decimal", False), ("tax", "decimal", False),
        ("tip", "decimal", True), ("currency", "string", False), ("items_count", "int32", False),
        ("promo_code", "string", True), ("is_pickup", "bool", False), ("created_at", "timestamp", False),
        ("delivered_at", "timestamp", True), ("lat", "double", False), ("lon", "double", False),
    ],
    "order_items": [
        ("order_id", "uuid", False), ("line_no", "int32", False), ("menu_item_id", "int64", False),
        ("name", "string", False), ("quantity", "int32", False), ("unit_price", "decimal", False),
        ("modifiers", "json", True), ("created_at", "timestamp", False),
    ],
    "app_events": [
        ("event_id", "uuid", False), ("user_id", "int64", True), ("session_id", "string", False),
        ("name", "string", False), ("platform", "string", False), ("app_version", "string", False),
        ("ts", "timestamp", False), ("duration_ms", "int64", True), ("properties", "json", False),
    ],
}

# The share of each table in the event mix (docs/smackz.md).
MIX = {"app_events": 0.70, "order_items": 0.20, "orders": 0.10}

DECIMAL = (10, 2)

LAKEWRITER_TYPES = {
    "uuid": "uuid", "int64": "int64", "int32": "int32", "string": "string",
    "decimal": "decimal(%d,%d)" % DECIMAL, "bool": "bool", "timestamp": "timestamp",
    "double": "double", "json": "json",
}

DUCKDB_TYPES = {
    "uuid": "UUID", "int64": "BIGINT", "int32": "INTEGER", "string": "VARCHAR",
    "decimal": "DECIMAL(%d,%d)" % DECIMAL, "bool": "BOOLEAN", "timestamp": "TIMESTAMPTZ",
    "double": "DOUBLE", "json": "JSON",
}


def arrow_type(kind):
    import pyarrow as pa
    return {
        "uuid": pa.binary(16), "int64": pa.int64(), "int32": pa.int32(), "string": pa.string(),
        "decimal": pa.decimal128(*DECIMAL), "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"),
        "double": pa.float64(), "json": pa.string(),
    }[kind]


def arrow_table(table, path):
    """The rows of a --data-only JSON lines file as an Arrow table with the
    column types lakewriter writes (uuid as 16 bytes, decimal128(10,2),
    timestamp[us, UTC], json columns as their JSON text)."""
    import pyarrow as pa
    cols = TABLES[table]
    values = {name: [] for name, _, _ in cols}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            for name, kind, _ in cols:
                v = row.get(name)
                if v is not None:
                    if kind == "uuid":
                        v = uuid.UUID(v).bytes
                    elif kind == "json":
                        v = json.dumps(v, ensure_ascii=False)   # the generator's own text
                    elif kind == "decimal":
                        v = repr(v) if isinstance(v, float) else str(v)
                values[name].append(v)
    arrays, fields = [], []
    for name, kind, nullable in cols:
        t = arrow_type(kind)
        if kind in ("decimal", "timestamp"):
            a = pa.array(values[name], pa.string()).cast(t)   # exact text -> value
        else:
            a = pa.array(values[name], t)
        arrays.append(a)
        fields.append(pa.field(name, t, nullable=nullable))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def duckdb_columns(table):
    """read_json's columns={...} argument for a table."""
    return "{" + ", ".join("%s: '%s'" % (name, DUCKDB_TYPES[kind]) for name, kind, _ in TABLES[table]) + "}"


def lakewriter_config(tables):
    """A config file for `lakewriter convert` with the smackz tables (data
    columns only, no metadata columns beyond the mandatory _stream_id)."""
    out = [
        "# Written by bench/encode for `lakewriter convert`.",
        "[redis]", 'url = "redis://127.0.0.1:6379/0"',
        "[s3]", 'endpoint = "http://127.0.0.1:9000"', 'bucket = "bench"', 'region = "us-east-1"',
        "[parquet]", 'compression = "zstd"', "zstd_level = 3",
    ]
    for t in tables:
        out.append("[tables.%s.columns]" % t)
        for name, kind, nullable in TABLES[t]:
            out.append('%s = "%s%s"' % (name, LAKEWRITER_TYPES[kind], "" if nullable else " not null"))
    return "\n".join(out) + "\n"


def reset_peak_rss():
    """Resets this process's VmHWM, so the next reading covers what follows
    (after giving back the heap that loading left free)."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0
