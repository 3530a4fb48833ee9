// fuzz-sources: src/decode.c src/decode_text.c src/json.c src/err.c src/schema.c src/util.c parquet/pq_column.c parquet/pq_schema.c parquet/pq_buf.c parquet/pq_mem.c parquet/pq_thrift.c
/* The event decoder on arbitrary bytes, against a fixed table with every type
 * (required and nullable, lists, a partition column, the metadata columns).
 *
 * The first byte picks the path:
 *   0..: json mode  the rest is a `data` field
 *   1:   flat mode  the rest is lines "name=value" (values are raw bytes)
 *   2:   parsers    the rest goes to every value parser
 *
 * Checked for every input: a good row is decoded first, so the input meets a
 * batch with a committed row; afterwards either the batch has exactly one more
 * row in every column, or it is byte for byte as before (rollback) and the error
 * has a known code and a message naming the table. json mode agrees with the
 * JSON validator: a decoded row means valid JSON, invalid JSON means DECODE_EJSON.
 * Decoding the same input twice gives the same result and the same bytes. The
 * parsers' results stay inside their documented ranges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "src/decode.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_decode: check failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static const char *const columns[][2] = {
    { "s", "string" },        { "sr", "string not null" }, { "b", "bool" },
    { "i8", "int8" },         { "i16", "int16" },          { "i32", "int32" },
    { "i64", "int64 not null" }, { "f", "float" },         { "d", "double" },
    { "dec", "decimal(10,2)" }, { "dec38", "decimal(38,38)" }, { "dec1", "decimal(1,0)" },
    { "dt", "date" },         { "ts", "timestamp" },       { "tn", "timestamp_ntz" },
    { "j", "json" },          { "u", "uuid" },             { "bin", "binary" },
    { "li", "list<int32>" },  { "ls", "list<string>" },    { "ld", "list<decimal(20,4)>" },
    { "lj", "list<json>" },   { "lt", "list<timestamp> not null" }, { "lb", "list<binary>" },
};
enum { NCOLS = sizeof columns / sizeof columns[0] };

static const char GOOD[] = "{\"sr\": \"ok\", \"i64\": 1, \"lt\": [\"2026-01-01T00:00:00Z\"], \"li\": [1, null]}";

static struct schema schema;
static struct decode_table dt;
static struct pq_mem mem;
static struct pq_batch batch, batch2;
static bool ready;

static void setup(void)
{
    struct lw_err e;
    struct schema_table *t = schema_add_table(&schema, "fuzz", 1, &e);
    CHECK(t != NULL);
    for (size_t i = 0; i < NCOLS; i++) CHECK(schema_add_column(t, columns[i][0], columns[i][1], 2, &e));
    CHECK(schema_add_metadata(t, "_stream", &e));
    CHECK(schema_add_metadata(t, "_ingested_at", &e));
    CHECK(schema_set_partition(t, "ts", &e));
    CHECK(decode_table_init(&dt, t, &e));
    pq_mem_init(&mem, NULL, NULL, 4 << 20);
    struct pq_err pe;
    CHECK(pq_batch_init(&batch, decode_table_schema(&dt), &mem, &pe));
    CHECK(pq_batch_init(&batch2, decode_table_schema(&dt), &mem, &pe));
    ready = true;
}

struct snap {
    size_t slots, nvalues, rows, vlen, alen;
};

static void snapshot(const struct pq_batch *b, struct snap *s)
{
    for (uint32_t i = 0; i < b->schema->count; i++) {
        const struct pq_col *c = &b->cols[i];
        s[i] = (struct snap){ c->slots, c->nvalues, c->rows, c->values.len, c->arena.len };
    }
}

static bool same_snap(const struct snap *a, const struct snap *b, uint32_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

static const struct decode_meta META = { .stream_id = "1-1", .stream_id_len = 3, .stream = "s", .stream_len = 1,
                                         .ingested_at_us = 5, .has_ingested_at = true };

enum { FIELDS_MAX = 64 };

/* Lines "name=value" -> fields (slices of data). */
static size_t split_fields(const uint8_t *data, size_t size, struct decode_field *f)
{
    size_t n = 0, i = 0;
    while (i < size && n < FIELDS_MAX) {
        size_t end = i;
        while (end < size && data[end] != '\n') end++;
        size_t eq = i;
        while (eq < end && data[eq] != '=') eq++;
        f[n].name = (const char *)data + i;
        f[n].name_len = eq - i;
        f[n].value = (const char *)data + (eq < end ? eq + 1 : end);
        f[n].value_len = eq < end ? end - eq - 1 : 0;
        n++;
        i = end + 1;
    }
    return n;
}

static bool decode(struct pq_batch *b, int mode, const uint8_t *p, size_t n, struct decode_result *res,
                   struct decode_error *err)
{
    if (mode == 1) {
        struct decode_field f[FIELDS_MAX];
        size_t k = split_fields(p, n, f);
        return decode_flat(&dt, b, f, k, SIZE_MAX, &META, 0, res, err);
    }
    return decode_json(&dt, b, (const char *)p, n, &META, 0, res, err);
}

static void check_batch_bytes_equal(const struct pq_batch *a, const struct pq_batch *b)
{
    for (uint32_t i = 0; i < a->schema->count; i++) {
        const struct pq_col *x = &a->cols[i], *y = &b->cols[i];
        CHECK(x->slots == y->slots && x->nvalues == y->nvalues && x->rows == y->rows);
        CHECK(x->values.len == y->values.len && memcmp(x->values.data, y->values.data, x->values.len) == 0);
        CHECK(x->arena.len == y->arena.len && memcmp(x->arena.data, y->arena.data, x->arena.len) == 0);
    }
}

static void rows_path(int mode, const uint8_t *p, size_t n)
{
    struct decode_error err;
    struct decode_result res;
    uint32_t ncol = batch.schema->count;
    pq_batch_reset(&batch);
    pq_batch_reset(&batch2);
    CHECK(decode_json(&dt, &batch, GOOD, sizeof GOOD - 1, &META, 0, NULL, &err));
    CHECK(decode_json(&dt, &batch2, GOOD, sizeof GOOD - 1, &META, 0, NULL, &err));
    struct snap before[NCOLS + 3], after[NCOLS + 3];
    snapshot(&batch, before);
    bool ok = decode(&batch, mode, p, n, &res, &err);
    snapshot(&batch, after);
    if (ok) {
        CHECK(err.code == DECODE_OK);
        CHECK(batch.rows == 2);
        for (uint32_t i = 0; i < ncol; i++) CHECK(batch.cols[i].rows == 2);
        CHECK(res.unknown_keys <= DECODE_UNKNOWN_MAX);
        if (res.has_partition) CHECK(res.partition_us >= INT64_C(-62135596800000000));
    } else {
        CHECK(err.code > DECODE_OK && err.code <= DECODE_EFULL);
        CHECK(err.code != DECODE_EENTITY && err.code != DECODE_ENODATA);
        CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
        CHECK(strncmp(err.msg, "table fuzz", 10) == 0);
        CHECK(strcmp(err.table, "fuzz") == 0);
        CHECK(batch.rows == 1);
        CHECK(same_snap(before, after, ncol));
    }
    if (mode != 1) {
        /* Agreement with the validator. */
        struct json_value v;
        struct lw_err je;
        bool valid = json_parse((const char *)p, n, NULL, &v, &je);
        if (ok) CHECK(valid && v.kind == JSON_OBJECT);
        if (!valid || v.kind != JSON_OBJECT) CHECK(!ok && err.code == DECODE_EJSON);
    }
    /* Deterministic: the same input into a batch in the same state. */
    struct decode_error err2;
    bool ok2 = decode(&batch2, mode, p, n, &res, &err2);
    CHECK(ok == ok2);
    CHECK(ok || (err.code == err2.code && strcmp(err.msg, err2.msg) == 0));
    check_batch_bytes_equal(&batch, &batch2);
}

static void parsers_path(const uint8_t *p, size_t n)
{
    const char *s = (const char *)p;
    const char *why;
    struct decode_number num;
    for (int lenient = 0; lenient < 2; lenient++) {
        if (decode_parse_number(s, n, lenient, &num, &why)) {
            CHECK(num.zero == (num.digits == 0));
            CHECK(num.digits <= 38);
            CHECK(num.zero || num.mant % 10 != 0);
        }
        int64_t i;
        if (decode_parse_int(s, n, lenient, -128, 127, &i, &why)) CHECK(i >= -128 && i <= 127);
        __int128 d;
        if (decode_parse_decimal(s, n, lenient, 5, 2, &d, &why)) CHECK(d > -100000 && d < 100000);
        double x;
        (void)decode_parse_double(s, n, lenient, &x, &why);
        float f;
        (void)decode_parse_float(s, n, lenient, &f, &why);
        for (int u = SCHEMA_EPOCH_S; u <= SCHEMA_EPOCH_NS; u++) {
            int64_t us;
            if (decode_parse_epoch(s, n, lenient, (enum schema_epoch_unit)u, &us, &why))
                CHECK(us >= INT64_C(-62135596800000000) && us <= INT64_C(253402300799999999));
        }
    }
    int32_t days;
    if (decode_parse_date(s, n, &days, &why)) CHECK(days >= -719162 && days <= 2932896);
    for (int utc = 0; utc < 2; utc++) {
        int64_t us;
        if (decode_parse_timestamp(s, n, utc, &us, &why))
            CHECK(us >= INT64_C(-62135596800000000) && us <= INT64_C(253402300799999999));
    }
    uint8_t u[16];
    if (decode_parse_uuid(s, n, u, &why)) CHECK(n == 36);
    uint8_t *out = malloc(n / 4 * 3 + 3);
    CHECK(out != NULL);
    size_t m;
    if (decode_parse_base64(s, n, out, &m, &why)) CHECK(m <= n / 4 * 3 + 2 && m * 4 <= n * 3 + 3);
    free(out);
    bool b;
    (void)decode_parse_bool(s, n, &b, &why);
}

LW_FUZZ_ENTRY(decode)
{
    if (!ready) setup();
    if (size == 0) return 0;
    int mode = data[0] % 8;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (mode == 2) parsers_path(p, n);
    else rows_path(mode == 1 ? 1 : 0, p, n);
    return 0;
}
