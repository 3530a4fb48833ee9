/* decode: one stream entry -> one row of typed column values in a pq_batch.
 *
 * The per-event hot path (docs/data-contract.md says what each type accepts):
 *
 *   entry fields ──route──> table ──decode_json / decode_flat──> pq_batch row
 *
 *   json mode:  entity = "orders", data = {"order_id": "6f1c...", "subtotal": 12.30, ...}
 *               one pass over the data object (json.h, zero-copy); each member is
 *               looked up by name in the table's column hash and appended straight
 *               into that column's builder, in whatever order the members come.
 *   flat mode:  order_id = "6f1c...", subtotal = "12.30", ...
 *               each entry field is a column; its value is text parsed by the type.
 *
 * After the members, every column that did not appear gets a null (or the row is
 * refused: "missing required column"), then the metadata columns are appended:
 *
 *   declared columns (file order) | _stream_id | _stream | _ingested_at
 *                                   string,      string,   timestamp
 *                                   required     nullable  nullable  (the last two
 *                                                          only when the table has them)
 *
 * A row is all or nothing: on any error the partial row is dropped with
 * pq_batch_rollback and `struct decode_error` says why, with a code the writer
 * turns into a dead-letter entry (error, table, column):
 *
 *   table orders, column subtotal: '12.3.4' is not a decimal(10,2)
 *
 * No allocation per event: the column hash, the per-column state and the scratch
 * buffer for unescaped strings belong to the `struct decode_table`, built once per
 * table (the scratch grows, amortised, to the largest escaped value seen). Column
 * builders grow inside the batch's memory budget.
 *
 * Not thread-safe: one decode_table is used by one thread at a time. */
#ifndef LW_DECODE_H
#define LW_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "json.h"
#include "parquet/parquet.h"
#include "schema.h"

enum {
    DECODE_MSG_MAX = 512,          /* bytes of an error message */
    DECODE_QUOTE_MAX = 64,         /* bytes of a value quoted in a message */
    DECODE_UNKNOWN_MAX = 256,      /* unknown keys of one entry (more: DECODE_ELIMIT) */
    DECODE_META_MAX = 3,           /* metadata columns */
};

/* Why an entry was refused. The writer dead-letters everything but DECODE_EFULL. */
enum decode_code {
    DECODE_OK = 0,
    DECODE_EJSON,       /* the data is not valid JSON, or not a JSON object */
    DECODE_EDUPLICATE,  /* a key (field) appears twice */
    DECODE_EMISSING,    /* a required column is missing, or null */
    DECODE_EVALUE,      /* a value does not fit its column's type */
    DECODE_ELIMIT,      /* more than DECODE_UNKNOWN_MAX unknown keys */
    DECODE_EENTITY,     /* the entity field is missing or names no table */
    DECODE_ENODATA,     /* json mode: the entry has no data field */
    DECODE_EFULL,       /* the batch's memory budget or a size limit refused: not the
                           entry's fault; flush the batch and decode the entry again */
};

struct decode_error {
    enum decode_code code;
    char table[SCHEMA_NAME_MAX + 1];    /* "" if not known (unknown entity) */
    char column[SCHEMA_NAME_MAX + 1];   /* "" if the error is not about one column */
    char msg[DECODE_MSG_MAX];           /* the whole message, for people */
};

/* A short fixed reason per code: "invalid JSON", "duplicate key", "missing required
 * column", "bad value", "too many keys", "unknown entity", "no data field",
 * "batch full"; "ok" for DECODE_OK. */
const char *decode_reason(enum decode_code code);

/* One field of a stream entry: name and value as byte slices (not NUL-terminated;
 * Redis field names and values are binary-safe). */
struct decode_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* The metadata of the entry a row comes from. */
struct decode_meta {
    const char *stream_id;       /* _stream_id: the entry ID (required) */
    size_t stream_id_len;
    const char *stream;          /* _stream: the stream name; NULL stores a null */
    size_t stream_len;
    int64_t ingested_at_us;      /* _ingested_at, UTC microseconds */
    bool has_ingested_at;        /* false stores a null */
};

/* What decoding one row found besides the values. */
struct decode_result {
    uint32_t unknown_keys;       /* keys (fields) that name no column: ignored */
    bool has_partition;          /* the table's partition_time column had a value */
    int64_t partition_us;        /* that value in microseconds (a date: its midnight) */
};

/* Flags of decode_json / decode_flat. */
enum {
    DECODE_NO_COMMIT = 1u << 0,  /* leave a good row uncommitted: the caller commits
                                    it (pq_batch_commit) or drops it (pq_batch_rollback),
                                    e.g. after looking at result.partition_us */
};

/* ---- the decoder of one table; the caller owns the struct, fields are private ---- */

struct decode_col {
    const char *name;            /* the schema's name (NUL-terminated) */
    uint32_t name_len;
    uint32_t hash;
    enum schema_type type;       /* the scalar type (of the elements, for a list) */
    bool list;
    bool required;
    uint8_t precision, scale;
    uint32_t seen;               /* == decode_table.stamp: set in the current row */
    char type_text[32];          /* "decimal(10,2)", "list<int32>": for messages */
};

struct decode_unknown {          /* an unknown key of the current row */
    uint32_t hash;
    size_t len;
    const char *text;            /* its bytes in the input, or NULL: ... */
    size_t keybuf_off;           /* ... unescaped at keybuf + keybuf_off */
};

struct decode_table {
    const struct schema_table *table;
    size_t name_len;             /* of table->name, for routing */
    struct pq_field *fields;     /* declared + metadata columns, for pq_schema */
    struct pq_schema schema;
    struct decode_col *cols;     /* declared columns */
    uint32_t ncols;              /* declared columns */
    uint32_t meta_first;         /* index of _stream_id in fields */
    bool meta_stream, meta_ingested_at;
    int partition;               /* declared column index, or -1 */
    uint32_t *slots;             /* column hash: index + 1, 0 = empty */
    uint32_t slot_mask;          /* slots - 1 (a power of two minus one) */
    uint32_t stamp;              /* current row, for decode_col.seen */
    uint32_t predict;            /* the column the next key probably names (the one
                                    after the last key's: producers keep their order) */
    uint32_t unknown_count;
    struct decode_unknown unknown[DECODE_UNKNOWN_MAX];
    char *scratch;               /* unescaped strings, decoded base64 */
    size_t scratch_cap;
    char *keybuf;                /* unescaped unknown keys of the current row */
    size_t keybuf_len, keybuf_cap;
    /* Counters since init. */
    uint64_t rows;               /* rows appended */
    uint64_t unknown_keys;       /* unknown keys ignored */
    uint64_t refused[DECODE_EFULL + 1]; /* entries refused, by code */
};

/* Builds the decoder of table `t` (which must outlive it): the Parquet schema of
 * its columns, the column hash, the scratch buffers. False with `e` set when the
 * schema does not map (the message names the column) or memory runs out. */
bool decode_table_init(struct decode_table *dt, const struct schema_table *t, struct lw_err *e);

/* Frees what decode_table_init allocated. */
void decode_table_free(struct decode_table *dt);

/* The Parquet schema of the table's rows: batches that decode appends to must be
 * made over it (pq_batch_init(&b, decode_table_schema(dt), ...)). */
const struct pq_schema *decode_table_schema(const struct decode_table *dt);

/* The declared column named name[0, len) (exact bytes), or -1. */
int decode_table_lookup(const struct decode_table *dt, const char *name, size_t len);

/* Appends one row from the JSON object data[0, len) (a `data` field) to `b`, which
 * must be a batch over decode_table_schema(dt) with no uncommitted row. Commits the
 * row unless `flags` has DECODE_NO_COMMIT. Returns false (the batch unchanged)
 * with `err` filled; `res` (may be NULL) is filled on success. */
bool decode_json(struct decode_table *dt, struct pq_batch *b, const char *data, size_t len,
                 const struct decode_meta *meta, unsigned flags, struct decode_result *res,
                 struct decode_error *err);

/* The same for flat mode: each of fields[0, count) is a column, its value the text
 * of that column's type; the field at index `skip` (the entity field) is not a
 * column (SIZE_MAX: none). */
bool decode_flat(struct decode_table *dt, struct pq_batch *b, const struct decode_field *fields,
                 size_t count, size_t skip, const struct decode_meta *meta, unsigned flags,
                 struct decode_result *res, struct decode_error *err);

/* ---- routing: which table an entry of a stream goes to ---- */

struct decode_set {
    struct decode_table *tables;   /* one per schema table, in the schema's order */
    size_t count;
};

/* Builds a decoder for every table of `s` (which must outlive the set). */
bool decode_set_init(struct decode_set *set, const struct schema *s, struct lw_err *e);
void decode_set_free(struct decode_set *set);

/* The table (index into set->tables) an entry of stream `st` goes to: the stream's
 * bound table, else the one its entity field names (DECODE_EENTITY if the field is
 * missing or names no table). In json mode also finds the data field (*data_index;
 * DECODE_ENODATA if there is none); in flat mode *data_index is the entity field's
 * index, or SIZE_MAX, to pass as decode_flat's `skip`. */
bool decode_route(const struct decode_set *set, const struct config_stream *st,
                  const struct decode_field *fields, size_t count, size_t *table_index,
                  size_t *data_index, struct decode_error *err);

/* Routes and decodes one entry into `b` (a batch of set->tables[table_index]), as
 * decode_json or decode_flat; table_index and data_index from decode_route. */
bool decode_entry(struct decode_set *set, size_t table_index, size_t data_index,
                  const struct config_stream *st, struct pq_batch *b,
                  const struct decode_field *fields, size_t count, const struct decode_meta *meta,
                  unsigned flags, struct decode_result *res, struct decode_error *err);

/* ---- value parsers (src/decode_text.c), exposed for tests and other modules ----
 *
 * Each parses exactly s[0, n) (no surrounding blanks) and returns false with a
 * short reason in *why (a static string, e.g. "month 13 is out of range") when it
 * is not a valid value. */

/* Days from 1970-01-01 of a proleptic Gregorian date (any year). */
int64_t decode_days_from_civil(int64_t year, unsigned month, unsigned day);

/* A number's exact value mant * 10^exp10 (mant without trailing zeros, at most
 * 38 significant digits). Accepts the JSON number grammar, plus leading zeros and
 * a leading '+' when `lenient` (text from strings and flat fields). */
struct decode_number {
    bool negative;
    bool zero;
    unsigned digits;             /* significant digits of mant (0 for zero) */
    int64_t exp10;
    unsigned __int128 mant;
};
bool decode_parse_number(const char *s, size_t n, bool lenient, struct decode_number *out,
                         const char **why);

/* An integer in [lo, hi]: a number whose value is an integer ("12", "1.2e1"). */
bool decode_parse_int(const char *s, size_t n, bool lenient, int64_t lo, int64_t hi, int64_t *out,
                      const char **why);

/* decimal(precision, scale): the unscaled value (two's complement in 128 bits).
 * Exact: more fractional digits than `scale` are an error unless they are zeros,
 * and the value must have at most `precision` digits in all. */
bool decode_parse_decimal(const char *s, size_t n, bool lenient, unsigned precision, unsigned scale,
                          __int128 *out, const char **why);

/* A double (correctly rounded), or "NaN", "Infinity", "-Infinity" when `lenient`.
 * Magnitudes beyond the type's range are errors. */
bool decode_parse_double(const char *s, size_t n, bool lenient, double *out, const char **why);
bool decode_parse_float(const char *s, size_t n, bool lenient, float *out, const char **why);

/* "true" / "false". */
bool decode_parse_bool(const char *s, size_t n, bool *out, const char **why);

/* "YYYY-MM-DD", years 0001..9999 -> days since 1970-01-01. */
bool decode_parse_date(const char *s, size_t n, int32_t *days, const char **why);

/* ISO-8601 / RFC 3339 date-time -> microseconds since 1970-01-01T00:00:00:
 *   YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.F{1,9}][Z|z|(+|-)HH[:MM]|(+|-)HHMM]
 * `utc` (timestamp): an offset or Z is required and the result is UTC.
 * !utc (timestamp_ntz): no offset allowed; the wall-clock time is kept.
 * Fraction digits past the sixth are dropped (floor to the microsecond). The
 * result must lie within 0001-01-01T00:00:00 .. 9999-12-31T23:59:59.999999. */
bool decode_parse_timestamp(const char *s, size_t n, bool utc, int64_t *us, const char **why);

/* A number of `unit` since the epoch -> microseconds (floor), within the range above. */
bool decode_parse_epoch(const char *s, size_t n, bool lenient, enum schema_epoch_unit unit, int64_t *us,
                        const char **why);

/* The canonical 8-4-4-4-12 hex form (either case) -> 16 bytes. */
bool decode_parse_uuid(const char *s, size_t n, uint8_t out[16], const char **why);

/* Base64 (RFC 4648, standard or URL-safe alphabet, padding optional, no blanks,
 * zero pad bits) -> bytes into out (room for n / 4 * 3 + 2 bytes). */
bool decode_parse_base64(const char *s, size_t n, uint8_t *out, size_t *out_len, const char **why);

#endif
