/* schema: tables and their typed columns (the successor of schemas.py).
 *
 * The event decoder appends values to column builders in this order, and the
 * Parquet encoder writes the file schema from it. A table is
 *
 *   name, declared columns in file order, then the metadata columns
 *   (_stream_id always, then _stream and _ingested_at when enabled),
 *   an optional event-time partition column, an epoch unit for numeric
 *   timestamps, an optional PostgreSQL source table, per-table flush overrides.
 *
 * Column type strings (case-insensitive; blanks around punctuation are fine):
 *
 *   string | bool | int8 | int16 | int32 | int64 | float | double
 *   decimal(P,S)        exact; 1 <= P <= 38, 0 <= S <= P
 *   date                days since 1970-01-01
 *   timestamp           UTC-adjusted, microseconds
 *   timestamp_ntz       not adjusted to UTC (PostgreSQL `timestamp`), microseconds
 *   json                the raw JSON value, stored as a string
 *   uuid | binary
 *   list<T>             T is any of the above (not a list)
 *   ... not null        the column is required; columns are nullable by default
 *
 * Names: a table name is 1..SCHEMA_NAME_MAX bytes of A-Z a-z 0-9 _ - . and starts
 * with a letter, digit or '_' (it becomes part of object keys and must equal the
 * entity field of its entries). A column name is 1..SCHEMA_NAME_MAX bytes of UTF-8
 * without control characters; names in a table differ even ignoring ASCII case
 * (readers such as DuckDB and Spark do not tell 'Total' from 'total') and do not
 * clash with the table's metadata columns. */
#ifndef LW_SCHEMA_H
#define LW_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    SCHEMA_TABLES_MAX = 256,
    SCHEMA_COLUMNS_MAX = 1024,    /* declared columns per table */
    SCHEMA_NAME_MAX = 128,        /* bytes of a table or column name */
    SCHEMA_SOURCE_MAX = 200,      /* bytes of a PostgreSQL "schema.table" */
    SCHEMA_TYPE_TEXT_MAX = 128,   /* bytes of a type string */
    SCHEMA_DECIMAL_PRECISION_MAX = 38,
    SCHEMA_PARTITION_ENTRY_TIME = -1, /* partition_column: the entry ID's time */
};

enum schema_type {
    SCHEMA_STRING,
    SCHEMA_BOOL,
    SCHEMA_INT8,
    SCHEMA_INT16,
    SCHEMA_INT32,
    SCHEMA_INT64,
    SCHEMA_FLOAT,
    SCHEMA_DOUBLE,
    SCHEMA_DECIMAL,
    SCHEMA_DATE,
    SCHEMA_TIMESTAMP,
    SCHEMA_TIMESTAMP_NTZ,
    SCHEMA_JSON,
    SCHEMA_UUID,
    SCHEMA_BINARY,
    SCHEMA_LIST,
};

/* Metadata columns, as bits of schema_table.metadata. */
enum schema_meta {
    SCHEMA_META_STREAM_ID = 1u << 0,   /* _stream_id: string, the entry ID; always present */
    SCHEMA_META_STREAM = 1u << 1,      /* _stream: string, the stream name */
    SCHEMA_META_INGESTED_AT = 1u << 2, /* _ingested_at: timestamp, when lakewriter read it */
};

enum schema_epoch_unit { SCHEMA_EPOCH_S, SCHEMA_EPOCH_MS, SCHEMA_EPOCH_US, SCHEMA_EPOCH_NS };

struct schema_column {
    char name[SCHEMA_NAME_MAX + 1];
    enum schema_type type;
    enum schema_type elem;      /* SCHEMA_LIST: the element type (never a list) */
    uint8_t precision, scale;   /* SCHEMA_DECIMAL, or a list of decimals */
    bool required;              /* "not null" */
    uint32_t line;              /* where it was declared, for messages; 0 if unknown */
};

struct schema_table {
    char name[SCHEMA_NAME_MAX + 1];
    struct schema_column *columns;   /* declared columns, in file order */
    size_t column_count;
    int partition_column;            /* index into columns or SCHEMA_PARTITION_ENTRY_TIME */
    unsigned metadata;               /* SCHEMA_META_* bits; SCHEMA_META_STREAM_ID always set */
    enum schema_epoch_unit epoch_unit; /* unit of numeric timestamps; default ms */
    char source[SCHEMA_SOURCE_MAX + 1]; /* PostgreSQL table for backfill, "" if none */
    uint64_t max_rows, max_bytes, max_age_ms; /* flush overrides; 0 = use [flush] */
    uint32_t line;
};

struct schema {
    struct schema_table *tables;     /* SCHEMA_TABLES_MAX entries once the first is added */
    size_t table_count;
};

/* Parses a type string ("decimal(10,2) not null") into the type fields of `col`
 * (its name and line are left alone). On error `e` quotes the text and says what is
 * wrong: "'decimal(40,2)': precision must be 1..38". */
bool schema_parse_type(const char *text, struct schema_column *col, struct lw_err *e);

/* Writes the canonical type string of `col` ("list<decimal(10,2)> not null");
 * returns `buf`. `cap` >= 64 always suffices. */
char *schema_format_type(const struct schema_column *col, char *buf, size_t cap);

/* "string", "int64", "decimal", "list", ... */
const char *schema_type_name(enum schema_type type);

/* Checks a table name (see above); `e` says why it is refused. */
bool schema_check_table_name(const char *name, struct lw_err *e);

/* Adds an empty table named `name` (defaults: entry-time partitioning, epoch unit
 * ms, metadata _stream_id only, no overrides). NULL with `e` set if the name is
 * invalid or taken, or there are SCHEMA_TABLES_MAX tables already. */
struct schema_table *schema_add_table(struct schema *s, const char *name, uint32_t line, struct lw_err *e);

/* Adds a column with a type string; false with `e` set if the name is invalid or
 * clashes, the type does not parse, or the table is full. `e` does not repeat
 * the column name: the caller knows where it was. */
bool schema_add_column(struct schema_table *t, const char *name, const char *type_text, uint32_t line,
                       struct lw_err *e);

/* Enables a metadata column by name ("_stream", "_ingested_at"; "_stream_id" is
 * always on and accepted). False if the name is unknown or a declared column has it. */
bool schema_add_metadata(struct schema_table *t, const char *name, struct lw_err *e);

/* The name and type ("_ingested_at", SCHEMA_TIMESTAMP) of a metadata bit. */
const char *schema_meta_name(enum schema_meta bit);
enum schema_type schema_meta_type(enum schema_meta bit);

/* Makes `column` the partition column: it must exist and be a date, timestamp or
 * timestamp_ntz. */
bool schema_set_partition(struct schema_table *t, const char *column, struct lw_err *e);

/* Parses "s" | "ms" | "us" | "ns"; false if none. */
bool schema_parse_epoch_unit(const char *text, enum schema_epoch_unit *out);
const char *schema_epoch_unit_name(enum schema_epoch_unit unit);

/* The table named `name`, or NULL. */
const struct schema_table *schema_find_table(const struct schema *s, const char *name);

/* The index of the declared column `name`, or -1. */
int schema_column_index(const struct schema_table *t, const char *name);

/* Frees what the schema holds and leaves it empty. */
void schema_free(struct schema *s);

#endif
