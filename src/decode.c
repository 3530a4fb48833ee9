/* decode: stream entry -> one row of a pq_batch (see decode.h).
 *
 * The column hash: open addressing with linear probing over a power-of-two
 * table at most half full, built once per table. A slot holds the column index
 * + 1 (0 = empty); the column keeps its full hash and length, so a probe costs
 * one compare of integers before any memcmp:
 *
 *   slots  [ 0 | 3 | 0 | 1 | 2 | 0 | 0 | 4 ]      mask = 7
 *                ^ "status" hashes to 1: cols[2]
 *
 * Which columns a row has set is a stamp per column (decode_col.seen ==
 * decode_table.stamp), so starting a row costs nothing and a repeated key is
 * found in O(1). Unknown keys are kept in a small array per row for the
 * duplicate check. */
#include "decode.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum {
    SCRATCH_INITIAL_BYTES = 4096,
    KEYBUF_INITIAL_BYTES = 1024,
    HASH_SLOTS_MIN = 16,
};

static const char *const meta_names[DECODE_META_MAX] = { "_stream_id", "_stream", "_ingested_at" };

const char *decode_reason(enum decode_code code)
{
    switch (code) {
    case DECODE_OK: return "ok";
    case DECODE_EJSON: return "invalid JSON";
    case DECODE_EDUPLICATE: return "duplicate key";
    case DECODE_EMISSING: return "missing required column";
    case DECODE_EVALUE: return "bad value";
    case DECODE_ELIMIT: return "too many keys";
    case DECODE_EENTITY: return "unknown entity";
    case DECODE_ENODATA: return "no data field";
    case DECODE_EFULL: return "batch full";
    }
    return "unknown error";
}

/* ------------------------------------------------------------------------- */
/* The table */

static enum pq_type pq_type_of(enum schema_type t)
{
    switch (t) {
    case SCHEMA_STRING: return PQ_STRING;
    case SCHEMA_BOOL: return PQ_BOOL;
    case SCHEMA_INT8: return PQ_INT8;
    case SCHEMA_INT16: return PQ_INT16;
    case SCHEMA_INT32: return PQ_INT32;
    case SCHEMA_INT64: return PQ_INT64;
    case SCHEMA_FLOAT: return PQ_FLOAT;
    case SCHEMA_DOUBLE: return PQ_DOUBLE;
    case SCHEMA_DECIMAL: return PQ_DECIMAL;
    case SCHEMA_DATE: return PQ_DATE;
    case SCHEMA_TIMESTAMP: return PQ_TIMESTAMP;
    case SCHEMA_TIMESTAMP_NTZ: return PQ_TIMESTAMP_NTZ;
    case SCHEMA_JSON: return PQ_JSON;
    case SCHEMA_UUID: return PQ_UUID;
    case SCHEMA_BINARY: return PQ_BINARY;
    case SCHEMA_LIST: break;
    }
    assert(!"a list has no scalar Parquet type");
    return PQ_STRING;
}

/* A hash of a short name, 8 bytes at a time (names are compared in full after). */
static uint32_t name_hash(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15u ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)(uint8_t)p[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static int lookup(const struct decode_table *dt, const char *name, size_t len, uint32_t h)
{
    for (uint32_t i = h & dt->slot_mask;; i = (i + 1) & dt->slot_mask) {
        uint32_t s = dt->slots[i];
        if (s == 0) return -1;
        const struct decode_col *c = &dt->cols[s - 1];
        if (c->hash == h && c->name_len == len && memcmp(c->name, name, len) == 0) return (int)(s - 1);
    }
}

int decode_table_lookup(const struct decode_table *dt, const char *name, size_t len)
{
    return lookup(dt, name, len, name_hash(name, len));
}

static void type_text(const struct schema_column *col, enum schema_type t, char *buf, size_t cap)
{
    if (t == SCHEMA_DECIMAL) snprintf(buf, cap, "decimal(%u,%u)", (unsigned)col->precision, (unsigned)col->scale);
    else snprintf(buf, cap, "%s", schema_type_name(t));
}

bool decode_table_init(struct decode_table *dt, const struct schema_table *t, struct lw_err *e)
{
    assert(dt != NULL && t != NULL);
    memset(dt, 0, sizeof *dt);
    dt->table = t;
    dt->name_len = strlen(t->name);
    dt->partition = t->partition_column >= 0 ? t->partition_column : -1;
    dt->meta_stream = (t->metadata & SCHEMA_META_STREAM) != 0;
    dt->meta_ingested_at = (t->metadata & SCHEMA_META_INGESTED_AT) != 0;
    size_t n = t->column_count;
    size_t nfields = n + 1 + dt->meta_stream + dt->meta_ingested_at;
    if (n == 0 || n > SCHEMA_COLUMNS_MAX)
        return lw_err_set(e, 1, "table %s: %zu columns (1..%d)", t->name, n, SCHEMA_COLUMNS_MAX);
    uint32_t cap = HASH_SLOTS_MIN;
    while (cap < 2 * n) cap *= 2;
    dt->fields = calloc(nfields, sizeof *dt->fields);
    dt->cols = calloc(n, sizeof *dt->cols);
    dt->slots = calloc(cap, sizeof *dt->slots);
    dt->scratch = malloc(SCRATCH_INITIAL_BYTES);
    dt->keybuf = malloc(KEYBUF_INITIAL_BYTES);
    if (dt->fields == NULL || dt->cols == NULL || dt->slots == NULL || dt->scratch == NULL || dt->keybuf == NULL) {
        decode_table_free(dt);
        return lw_err_set(e, 1, "table %s: out of memory", t->name);
    }
    dt->scratch_cap = SCRATCH_INITIAL_BYTES;
    dt->keybuf_cap = KEYBUF_INITIAL_BYTES;
    dt->slot_mask = cap - 1;
    dt->ncols = (uint32_t)n;

    for (size_t i = 0; i < n; i++) {
        const struct schema_column *col = &t->columns[i];
        bool list = col->type == SCHEMA_LIST;
        enum schema_type scalar = list ? col->elem : col->type;
        struct decode_col *dc = &dt->cols[i];
        dc->name = col->name;
        dc->name_len = (uint32_t)strlen(col->name);
        dc->hash = name_hash(dc->name, dc->name_len);
        dc->type = scalar;
        dc->list = list;
        dc->required = col->required;
        dc->precision = col->precision;
        dc->scale = col->scale;
        type_text(col, scalar, dc->type_text, sizeof dc->type_text);
        dt->fields[i] = (struct pq_field){
            .name = col->name, .type = pq_type_of(scalar), .precision = col->precision, .scale = col->scale,
            .nullable = !col->required, .list = list, .element_nullable = list,
        };
        uint32_t s = dc->hash & dt->slot_mask;
        while (dt->slots[s] != 0) s = (s + 1) & dt->slot_mask;
        dt->slots[s] = (uint32_t)i + 1;
    }
    size_t k = n;
    dt->meta_first = (uint32_t)k;
    dt->fields[k++] = (struct pq_field){ .name = meta_names[0], .type = PQ_STRING, .nullable = false };
    if (dt->meta_stream) dt->fields[k++] = (struct pq_field){ .name = meta_names[1], .type = PQ_STRING, .nullable = true };
    if (dt->meta_ingested_at)
        dt->fields[k++] = (struct pq_field){ .name = meta_names[2], .type = PQ_TIMESTAMP, .nullable = true };
    assert(k == nfields);

    struct pq_err pe;
    if (!pq_schema_init(&dt->schema, dt->fields, nfields, &pe)) {
        decode_table_free(dt);
        return lw_err_set(e, 1, "table %s: %s", t->name, pe.msg);
    }
    return true;
}

void decode_table_free(struct decode_table *dt)
{
    free(dt->fields);
    free(dt->cols);
    free(dt->slots);
    free(dt->scratch);
    free(dt->keybuf);
    dt->fields = NULL;
    dt->cols = NULL;
    dt->slots = NULL;
    dt->scratch = NULL;
    dt->keybuf = NULL;
    dt->scratch_cap = dt->keybuf_cap = 0;
}

const struct pq_schema *decode_table_schema(const struct decode_table *dt)
{
    return &dt->schema;
}

/* ------------------------------------------------------------------------- */
/* Errors (off the hot path) */

struct row {
    struct decode_table *dt;
    struct pq_batch *b;
    struct decode_error *err;
    uint32_t unknown;
    bool err_set;                /* fail() was called: err holds the reason */
    bool has_partition;
    int64_t partition_us;
};

/* Copies at most DECODE_QUOTE_MAX bytes of s[0, n) for a message: valid UTF-8
 * is kept (cut at a character boundary), other bytes and controls become \xNN. */
static void quote(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    while (i < n && o + 8 < cap && i < DECODE_QUOTE_MAX) {
        uint8_t c = (uint8_t)s[i];
        size_t ok = c < 0x80 ? 1 : util_utf8_valid_prefix(s + i, n - i < 4 ? n - i : 4);
        if (c >= 0x80 && ok > 0) {
            /* The length of the one character starting here. */
            ok = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (util_utf8_valid_prefix(s + i, n - i < ok ? n - i : ok) != ok) ok = 0;
        }
        if (c >= 0x20 && c != 0x7F && ok > 0) {
            if (i + ok > DECODE_QUOTE_MAX) break;
            memcpy(out + o, s + i, ok);
            o += ok;
            i += ok;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
            i++;
        }
    }
    if (i < n && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

__attribute__((format(printf, 4, 5))) static bool fail(struct row *r, enum decode_code code, const char *column,
                                                       const char *fmt, ...)
{
    struct decode_error *err = r->err;
    r->err_set = true;
    err->code = code;
    snprintf(err->table, sizeof err->table, "%s", r->dt->table->name);
    snprintf(err->column, sizeof err->column, "%s", column != NULL ? column : "");
    int n = column != NULL ? snprintf(err->msg, sizeof err->msg, "table %s, column %s: ", err->table, column)
                           : snprintf(err->msg, sizeof err->msg, "table %s: ", err->table);
    if (n < 0 || (size_t)n >= sizeof err->msg) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static const char *article(const char *type)
{
    return strncmp(type, "int", 3) == 0 ? "an" : "a";
}

/* "table t, column c: [element k: ]'v' is not a T (why)". */
static bool bad_value(struct row *r, const struct decode_col *dc, const struct json_value *v, size_t elem,
                      const char *why)
{
    char q[DECODE_QUOTE_MAX * 4 + 8];
    quote(v->text, v->len, q, sizeof q);
    char where[48] = "";
    if (elem != SIZE_MAX) snprintf(where, sizeof where, "element %zu: ", elem);
    return fail(r, DECODE_EVALUE, dc->name, "%s'%s' is not %s %s (%s)", where, q, article(dc->type_text),
                dc->type_text, why);
}

/* A pq_col append refused: the value (PQ_E_VALUE) or the batch (memory, size). */
static bool pq_failed(struct row *r, const struct decode_col *dc, const char *name)
{
    const struct pq_err *pe = &r->b->err;
    enum decode_code code = pe->code == PQ_E_VALUE ? DECODE_EVALUE : DECODE_EFULL;
    return fail(r, code, dc != NULL ? dc->name : name, "%s", pe->msg);
}

/* ------------------------------------------------------------------------- */
/* Values */

static bool grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return true;
    size_t c = *cap * 2;
    while (c < need) c *= 2;
    char *p = realloc(*buf, c);
    if (p == NULL) return false;
    *buf = p;
    *cap = c;
    return true;
}

/* The decoded bytes of a string value (escapes resolved into the scratch buffer,
 * with `extra` more bytes of room after them). */
static bool content(struct row *r, const struct decode_col *dc, const struct json_value *v, size_t extra,
                    const char **p, size_t *n)
{
    struct decode_table *dt = r->dt;
    if (!v->escaped && extra == 0) {
        *p = v->text;
        *n = v->len;
        return true;
    }
    if (v->len > SIZE_MAX / 2 - extra || !grow(&dt->scratch, &dt->scratch_cap, v->len + extra))
        return fail(r, DECODE_EFULL, dc->name, "out of memory for a value of %zu bytes", v->len);
    if (!v->escaped) {
        *p = v->text;
        *n = v->len;
        return true;
    }
    struct lw_err e;
    if (!json_unescape(v, dt->scratch, v->len, n, &e)) return fail(r, DECODE_EJSON, dc->name, "%s", e.msg);
    *p = dt->scratch;
    return true;
}

static const char *found(const struct json_value *v)
{
    switch (v->kind) {
    case JSON_FALSE:
    case JSON_TRUE: return "found a JSON boolean";
    case JSON_NUMBER: return "found a JSON number";
    case JSON_STRING: return "found a JSON string";
    case JSON_OBJECT: return "found a JSON object";
    case JSON_ARRAY: return "found a JSON array";
    case JSON_NULL: return "found null";
    }
    return "found something else";
}

/* One value being appended: where it goes and where it came from. */
struct slot {
    struct row *r;
    int ci;                      /* declared column */
    const struct decode_col *dc;
    struct pq_col *c;
    const struct json_value *v;
    bool text;                   /* a flat-mode field: raw bytes, not yet checked as UTF-8 */
    size_t elem;                 /* list element index, or SIZE_MAX */
};

static bool refuse_value(const struct slot *x, const char *why)
{
    return bad_value(x->r, x->dc, x->v, x->elem, why);
}

/* The text of a value that must be a string (or, with `num_ok`, a number). */
static bool text_of(const struct slot *x, bool num_ok, size_t extra, const char **p, size_t *n)
{
    if (x->v->kind != JSON_STRING && !(num_ok && x->v->kind == JSON_NUMBER)) return refuse_value(x, found(x->v));
    return content(x->r, x->dc, x->v, extra, p, n);
}

static bool put_string(const struct slot *x)
{
    const char *p;
    size_t n;
    if (!text_of(x, false, 0, &p, &n)) return false;
    if (x->text && util_utf8_valid_prefix(p, n) != n) return refuse_value(x, "not valid UTF-8");
    if (n > PQ_VALUE_MAX_BYTES) return refuse_value(x, "longer than 256 MiB");
    return pq_col_bytes(x->c, p, n);
}

/* The raw text of the value, as it stands in the data (strings with quotes). */
static bool put_json(const struct slot *x)
{
    const struct json_value *v = x->v;
    bool quoted = v->kind == JSON_STRING && !x->text;
    const char *p = quoted ? v->text - 1 : v->text;
    size_t n = quoted ? v->len + 2 : v->len;
    if (n > PQ_VALUE_MAX_BYTES) return refuse_value(x, "longer than 256 MiB");
    return pq_col_bytes(x->c, p, n);
}

static bool put_bool(const struct slot *x)
{
    bool b;
    if (x->v->kind == JSON_TRUE || x->v->kind == JSON_FALSE) {
        b = x->v->kind == JSON_TRUE;
    } else {
        const char *p, *why;
        size_t n;
        if (!text_of(x, false, 0, &p, &n)) return false;
        if (!decode_parse_bool(p, n, &b, &why)) return refuse_value(x, why);
    }
    return pq_col_bool(x->c, b);
}

static bool put_int(const struct slot *x)
{
    static const int64_t lo[] = { INT8_MIN, INT16_MIN, INT32_MIN, INT64_MIN };
    static const int64_t hi[] = { INT8_MAX, INT16_MAX, INT32_MAX, INT64_MAX };
    unsigned w = (unsigned)(x->dc->type - SCHEMA_INT8);
    const char *p, *why;
    size_t n;
    int64_t v;
    if (!text_of(x, true, 0, &p, &n)) return false;
    if (!decode_parse_int(p, n, x->v->kind == JSON_STRING, lo[w], hi[w], &v, &why)) return refuse_value(x, why);
    return x->dc->type == SCHEMA_INT64 ? pq_col_i64(x->c, v) : pq_col_i32(x->c, (int32_t)v);
}

static bool put_float(const struct slot *x)
{
    const char *p, *why;
    size_t n;
    bool lenient = x->v->kind == JSON_STRING;
    if (!text_of(x, true, 0, &p, &n)) return false;
    if (x->dc->type == SCHEMA_FLOAT) {
        float f;
        if (!decode_parse_float(p, n, lenient, &f, &why)) return refuse_value(x, why);
        return pq_col_float(x->c, f);
    }
    double d;
    if (!decode_parse_double(p, n, lenient, &d, &why)) return refuse_value(x, why);
    return pq_col_double(x->c, d);
}

static bool put_decimal(const struct slot *x)
{
    const char *p, *why;
    size_t n;
    __int128 v;
    if (!text_of(x, true, 0, &p, &n)) return false;
    if (!decode_parse_decimal(p, n, x->v->kind == JSON_STRING, x->dc->precision, x->dc->scale, &v, &why))
        return refuse_value(x, why);
    unsigned __int128 u = (unsigned __int128)v;
    return pq_col_decimal(x->c, (int64_t)(u >> 64), (uint64_t)u);
}

/* The row's partition value, when this is the partition column's own value. */
static void note_partition(const struct slot *x, int64_t us)
{
    if (x->ci != x->r->dt->partition || x->elem != SIZE_MAX) return;
    x->r->has_partition = true;
    x->r->partition_us = us;
}

static bool put_date(const struct slot *x)
{
    const char *p, *why;
    size_t n;
    int32_t days;
    if (x->v->kind != JSON_STRING) return refuse_value(x, "expected a string \"YYYY-MM-DD\"");
    if (!text_of(x, false, 0, &p, &n)) return false;
    if (!decode_parse_date(p, n, &days, &why)) return refuse_value(x, why);
    note_partition(x, (int64_t)days * INT64_C(86400000000));
    return pq_col_i32(x->c, days);
}

static bool is_iso_like(const char *p, size_t n)
{
    return n >= 5 && (unsigned)(p[0] - '0') < 10 && (unsigned)(p[1] - '0') < 10 && (unsigned)(p[2] - '0') < 10 &&
           (unsigned)(p[3] - '0') < 10 && p[4] == '-';
}

static bool put_timestamp(const struct slot *x)
{
    const char *p, *why;
    size_t n;
    int64_t us;
    bool is_str = x->v->kind == JSON_STRING;
    if (!text_of(x, true, 0, &p, &n)) return false;
    bool good = is_str && is_iso_like(p, n)
                    ? decode_parse_timestamp(p, n, x->dc->type == SCHEMA_TIMESTAMP, &us, &why)
                    : decode_parse_epoch(p, n, is_str, x->r->dt->table->epoch_unit, &us, &why);
    if (!good) return refuse_value(x, why);
    note_partition(x, us);
    return pq_col_i64(x->c, us);
}

static bool put_uuid(const struct slot *x)
{
    const char *p, *why;
    size_t n;
    uint8_t u[16];
    if (!text_of(x, false, 0, &p, &n)) return false;
    if (!decode_parse_uuid(p, n, u, &why)) return refuse_value(x, why);
    return pq_col_fixed(x->c, u, 16);
}

static bool put_binary(const struct slot *x)
{
    const char *p, *why;
    size_t n, m;
    /* content() leaves room for the decoded bytes after the text in scratch. */
    if (!text_of(x, false, x->v->len / 4 * 3 + 3, &p, &n)) return false;
    struct decode_table *dt = x->r->dt;
    uint8_t *out = (uint8_t *)dt->scratch + (p == dt->scratch ? n : 0);
    if (!decode_parse_base64(p, n, out, &m, &why)) return refuse_value(x, why);
    if (m > PQ_VALUE_MAX_BYTES) return refuse_value(x, "longer than 256 MiB");
    return pq_col_bytes(x->c, out, m);
}

/* Appends one non-null scalar (a column's value or a list element). False with
 * the error set: the value's (refused before the append) or the batch's. */
static bool put_scalar(struct row *r, int ci, struct pq_col *c, const struct json_value *v, bool text, size_t elem)
{
    const struct decode_col *dc = &r->dt->cols[ci];
    struct slot x = { .r = r, .ci = ci, .dc = dc, .c = c, .v = v, .text = text, .elem = elem };
    assert(!r->err_set);
    bool ok;
    switch (dc->type) {
    case SCHEMA_STRING: ok = put_string(&x); break;
    case SCHEMA_JSON: ok = put_json(&x); break;
    case SCHEMA_BOOL: ok = put_bool(&x); break;
    case SCHEMA_INT8:
    case SCHEMA_INT16:
    case SCHEMA_INT32:
    case SCHEMA_INT64: ok = put_int(&x); break;
    case SCHEMA_FLOAT:
    case SCHEMA_DOUBLE: ok = put_float(&x); break;
    case SCHEMA_DECIMAL: ok = put_decimal(&x); break;
    case SCHEMA_DATE: ok = put_date(&x); break;
    case SCHEMA_TIMESTAMP:
    case SCHEMA_TIMESTAMP_NTZ: ok = put_timestamp(&x); break;
    case SCHEMA_UUID: ok = put_uuid(&x); break;
    case SCHEMA_BINARY: ok = put_binary(&x); break;
    default:
        assert(!"a list element type is never a list");
        return refuse_value(&x, "unsupported type");
    }
    if (ok) return true;
    /* A refusal of the value set the error already; otherwise the batch refused. */
    return r->err_set ? false : pq_failed(r, dc, NULL);
}

static bool put_list(struct row *r, int ci, struct pq_col *c, const struct json_value *v)
{
    const struct decode_col *dc = &r->dt->cols[ci];
    if (v->kind != JSON_ARRAY) {
        char q[DECODE_QUOTE_MAX * 4 + 8];
        quote(v->text, v->len, q, sizeof q);
        return fail(r, DECODE_EVALUE, dc->name, "'%s' is not a list<%s> (expected a JSON array, %s)", q,
                    dc->type_text, found(v));
    }
    struct json_iter it;
    struct json_value ev;
    struct lw_err e;
    if (!json_array_begin(&it, v->text, v->len, NULL, &e)) return fail(r, DECODE_EJSON, dc->name, "%s", e.msg);
    if (!pq_col_list_begin(c)) return pq_failed(r, dc, NULL);
    size_t k = 0;
    int st;
    while ((st = json_array_next(&it, &ev, &e)) == JSON_ITEM) {
        if (k == PQ_LIST_MAX_ELEMENTS)
            return fail(r, DECODE_EVALUE, dc->name, "a list of more than %d elements", PQ_LIST_MAX_ELEMENTS);
        if (ev.kind == JSON_NULL) {
            if (!pq_col_null(c)) return pq_failed(r, dc, NULL);
        } else if (ev.kind == JSON_ARRAY && dc->type != SCHEMA_JSON) {
            return bad_value(r, dc, &ev, k, "a nested list");
        } else if (!put_scalar(r, ci, c, &ev, false, k)) {
            return false;
        }
        k++;
    }
    if (st == JSON_ERROR) return fail(r, DECODE_EJSON, dc->name, "%s", e.msg);
    if (!pq_col_list_end(c)) return pq_failed(r, dc, NULL);
    return true;
}

static bool put_null(struct row *r, const struct decode_col *dc, struct pq_col *c, const char *what)
{
    if (dc->required) return fail(r, DECODE_EMISSING, dc->name, "%s in a required column", what);
    return pq_col_null(c) ? true : pq_failed(r, dc, NULL);
}

/* One column's value from the data object (text == false) or a flat field. */
static bool put_value(struct row *r, int ci, const struct json_value *in, bool text)
{
    const struct decode_col *dc = &r->dt->cols[ci];
    struct pq_col *c = pq_batch_col(r->b, (uint32_t)ci);
    struct json_value jv;
    const struct json_value *v = in;
    if (text) {
        /* Flat: "" is null except for text types; lists and json are JSON texts. */
        if (in->len == 0 && dc->type != SCHEMA_STRING && dc->type != SCHEMA_BINARY)
            return put_null(r, dc, c, "an empty value (null)");
        if (dc->list || dc->type == SCHEMA_JSON) {
            struct lw_err e;
            if (!json_parse(in->text, in->len, NULL, &jv, &e)) {
                char q[DECODE_QUOTE_MAX * 4 + 8];
                quote(in->text, in->len, q, sizeof q);
                return fail(r, DECODE_EVALUE, dc->name, "'%s' is not valid JSON (%s)", q, e.msg);
            }
            v = &jv;
            text = false;
        }
    }
    if (v->kind == JSON_NULL) return put_null(r, dc, c, "null");
    if (dc->list) return put_list(r, ci, c, v);
    return put_scalar(r, ci, c, v, text, SIZE_MAX);
}

/* ------------------------------------------------------------------------- */
/* Rows */

static void begin_row(struct decode_table *dt, struct pq_batch *b)
{
    assert(b->schema == &dt->schema);
    assert(b->cols[0].rows == b->rows); /* no uncommitted row */
    (void)b;
    if (++dt->stamp == 0) {
        for (uint32_t i = 0; i < dt->ncols; i++) dt->cols[i].seen = 0;
        dt->stamp = 1;
    }
    dt->unknown_count = 0;
    dt->keybuf_len = 0;
    dt->predict = 0;
}

static const char *unknown_bytes(const struct decode_table *dt, const struct decode_unknown *u)
{
    return u->text != NULL ? u->text : dt->keybuf + u->keybuf_off;
}

/* Records an unknown key (its bytes at k, or in keybuf at koff when k == NULL). */
static bool note_unknown(struct row *r, const char *k, size_t koff, size_t n, uint32_t h)
{
    struct decode_table *dt = r->dt;
    const char *bytes = k != NULL ? k : dt->keybuf + koff;
    for (uint32_t j = 0; j < dt->unknown_count; j++) {
        const struct decode_unknown *u = &dt->unknown[j];
        if (u->hash == h && u->len == n && memcmp(unknown_bytes(dt, u), bytes, n) == 0) {
            char q[DECODE_QUOTE_MAX * 4 + 8];
            quote(bytes, n, q, sizeof q);
            return fail(r, DECODE_EDUPLICATE, NULL, "the key '%s' appears twice", q);
        }
    }
    if (dt->unknown_count == DECODE_UNKNOWN_MAX)
        return fail(r, DECODE_ELIMIT, NULL, "more than %d keys that name no column", DECODE_UNKNOWN_MAX);
    dt->unknown[dt->unknown_count++] = (struct decode_unknown){ .hash = h, .len = n, .text = k, .keybuf_off = koff };
    r->unknown++;
    return true;
}

/* The column of a key, or -1 (an unknown key, recorded); -2 on error. */
static int key_column(struct row *r, const char *k, size_t n, bool escaped, const struct json_value *key)
{
    struct decode_table *dt = r->dt;
    size_t koff = 0;
    if (escaped) {
        if (!grow(&dt->keybuf, &dt->keybuf_cap, dt->keybuf_len + n)) {
            fail(r, DECODE_EFULL, NULL, "out of memory for a key of %zu bytes", n);
            return -2;
        }
        struct lw_err e;
        koff = dt->keybuf_len;
        if (!json_unescape(key, dt->keybuf + koff, n, &n, &e)) {
            fail(r, DECODE_EJSON, NULL, "%s", e.msg);
            return -2;
        }
        k = dt->keybuf + koff;
    }
    /* Most entries of a stream list their keys in the same order: try the column
     * after the previous key's before hashing. */
    const struct decode_col *guess = &dt->cols[dt->predict];
    int ci;
    uint32_t h = 0;
    if (guess->name_len == n && memcmp(guess->name, k, n) == 0) {
        ci = (int)dt->predict;
    } else {
        h = name_hash(k, n);
        ci = lookup(dt, k, n, h);
    }
    if (ci >= 0) {
        dt->predict = (uint32_t)ci + 1 == dt->ncols ? 0 : (uint32_t)ci + 1;
        struct decode_col *dc = &dt->cols[ci];
        if (dc->seen == dt->stamp) {
            fail(r, DECODE_EDUPLICATE, dc->name, "the key '%s' appears twice", dc->name);
            return -2;
        }
        dc->seen = dt->stamp;
        return ci;
    }
    if (escaped) dt->keybuf_len += n;
    return note_unknown(r, escaped ? NULL : k, koff, n, h) ? -1 : -2;
}

/* Missing columns, metadata, commit. */
static bool finish_row(struct row *r, const struct decode_meta *meta, unsigned flags, struct decode_result *res)
{
    struct decode_table *dt = r->dt;
    struct pq_batch *b = r->b;
    for (uint32_t i = 0; i < dt->ncols; i++) {
        const struct decode_col *dc = &dt->cols[i];
        if (dc->seen == dt->stamp) continue;
        if (dc->required) return fail(r, DECODE_EMISSING, dc->name, "missing required column");
        if (!pq_col_null(pq_batch_col(b, i))) return pq_failed(r, dc, NULL);
    }
    uint32_t m = dt->meta_first;
    assert(meta != NULL && (meta->stream_id != NULL || meta->stream_id_len == 0));
    if (!pq_col_bytes(pq_batch_col(b, m), meta->stream_id, meta->stream_id_len)) return pq_failed(r, NULL, meta_names[0]);
    m++;
    if (dt->meta_stream) {
        struct pq_col *c = pq_batch_col(b, m++);
        bool ok = meta->stream != NULL ? pq_col_bytes(c, meta->stream, meta->stream_len) : pq_col_null(c);
        if (!ok) return pq_failed(r, NULL, meta_names[1]);
    }
    if (dt->meta_ingested_at) {
        struct pq_col *c = pq_batch_col(b, m++);
        bool ok = meta->has_ingested_at ? pq_col_i64(c, meta->ingested_at_us) : pq_col_null(c);
        if (!ok) return pq_failed(r, NULL, meta_names[2]);
    }
    assert(m == dt->schema.count);
    if (!(flags & DECODE_NO_COMMIT) && !pq_batch_commit(b))
        return fail(r, DECODE_EFULL, NULL, "%s", b->err.msg); /* cannot happen: every column got one row */
    dt->rows++;
    dt->unknown_keys += r->unknown;
    if (res != NULL) {
        res->unknown_keys = r->unknown;
        res->has_partition = r->has_partition;
        res->partition_us = r->partition_us;
    }
    r->err->code = DECODE_OK;
    r->err->msg[0] = r->err->table[0] = r->err->column[0] = '\0';
    return true;
}

static bool refuse(struct row *r)
{
    pq_batch_rollback(r->b);
    assert(r->err->code != DECODE_OK);
    r->dt->refused[r->err->code]++;
    return false;
}

bool decode_json(struct decode_table *dt, struct pq_batch *b, const char *data, size_t len,
                 const struct decode_meta *meta, unsigned flags, struct decode_result *res,
                 struct decode_error *err)
{
    assert(dt != NULL && b != NULL && err != NULL && (data != NULL || len == 0));
    struct row r = { .dt = dt, .b = b, .err = err };
    begin_row(dt, b);
    struct json_iter it;
    struct json_member m;
    struct lw_err je;
    if (!json_object_begin(&it, data, len, NULL, &je)) {
        fail(&r, DECODE_EJSON, NULL, "the data is not a JSON object: %s", je.msg);
        return refuse(&r);
    }
    bool failed = false;
    int st;
    while ((st = json_object_next(&it, &m, &je)) == JSON_ITEM) {
        if (failed) continue; /* keep reading: invalid JSON is the better reason */
        int ci = key_column(&r, m.key.text, m.key.len, m.key.escaped, &m.key);
        if (ci == -2 || (ci >= 0 && !put_value(&r, ci, &m.value, false))) failed = true;
    }
    if (st == JSON_ERROR) {
        fail(&r, DECODE_EJSON, NULL, "invalid JSON: %s", je.msg);
        return refuse(&r);
    }
    if (failed || !finish_row(&r, meta, flags, res)) return refuse(&r);
    return true;
}

bool decode_flat(struct decode_table *dt, struct pq_batch *b, const struct decode_field *fields,
                 size_t count, size_t skip, const struct decode_meta *meta, unsigned flags,
                 struct decode_result *res, struct decode_error *err)
{
    assert(dt != NULL && b != NULL && err != NULL && (fields != NULL || count == 0));
    struct row r = { .dt = dt, .b = b, .err = err };
    begin_row(dt, b);
    for (size_t i = 0; i < count; i++) {
        if (i == skip) continue;
        const struct decode_field *f = &fields[i];
        int ci = key_column(&r, f->name, f->name_len, false, NULL);
        if (ci == -2) return refuse(&r);
        if (ci < 0) continue;
        struct json_value v = { .kind = JSON_STRING, .text = f->value, .len = f->value_len };
        if (!put_value(&r, ci, &v, true)) return refuse(&r);
    }
    if (!finish_row(&r, meta, flags, res)) return refuse(&r);
    return true;
}

/* ------------------------------------------------------------------------- */
/* Routing */

bool decode_set_init(struct decode_set *set, const struct schema *s, struct lw_err *e)
{
    memset(set, 0, sizeof *set);
    if (s->table_count == 0) return true;
    set->tables = calloc(s->table_count, sizeof *set->tables);
    if (set->tables == NULL) return lw_err_set(e, 1, "out of memory");
    for (size_t i = 0; i < s->table_count; i++) {
        if (!decode_table_init(&set->tables[i], &s->tables[i], e)) {
            decode_set_free(set);
            return false;
        }
        set->count++;
    }
    return true;
}

void decode_set_free(struct decode_set *set)
{
    for (size_t i = 0; i < set->count; i++) decode_table_free(&set->tables[i]);
    free(set->tables);
    set->tables = NULL;
    set->count = 0;
}

static size_t find_field(const struct decode_field *fields, size_t count, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < count; i++)
        if (fields[i].name_len == n && memcmp(fields[i].name, name, n) == 0) return i;
    return SIZE_MAX;
}

__attribute__((format(printf, 3, 4))) static bool route_fail(struct decode_error *err, enum decode_code code,
                                                             const char *fmt, ...)
{
    err->code = code;
    err->column[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return false;
}

bool decode_route(const struct decode_set *set, const struct config_stream *st,
                  const struct decode_field *fields, size_t count, size_t *table_index,
                  size_t *data_index, struct decode_error *err)
{
    assert(set != NULL && st != NULL && err != NULL);
    err->table[0] = '\0';
    size_t entity = SIZE_MAX, ti = SIZE_MAX;
    if (st->table >= 0) {
        ti = (size_t)st->table;
        assert(ti < set->count);
    } else {
        entity = find_field(fields, count, st->entity_field);
        if (entity == SIZE_MAX)
            return route_fail(err, DECODE_EENTITY, "stream %s: the entry has no '%s' field naming its table", st->name,
                              st->entity_field);
        const struct decode_field *f = &fields[entity];
        for (size_t i = 0; i < set->count && ti == SIZE_MAX; i++) {
            const struct decode_table *dt = &set->tables[i];
            if (dt->name_len == f->value_len && memcmp(dt->table->name, f->value, f->value_len) == 0) ti = i;
        }
        if (ti == SIZE_MAX) {
            char q[DECODE_QUOTE_MAX * 4 + 8];
            quote(f->value, f->value_len, q, sizeof q);
            return route_fail(err, DECODE_EENTITY, "stream %s: unknown entity '%s' (no table of that name)", st->name, q);
        }
    }
    snprintf(err->table, sizeof err->table, "%s", set->tables[ti].table->name);
    if (st->format == CONFIG_STREAM_JSON) {
        size_t d = find_field(fields, count, st->data_field);
        if (d == SIZE_MAX)
            return route_fail(err, DECODE_ENODATA, "table %s: the entry has no '%s' field", err->table, st->data_field);
        *data_index = d;
    } else {
        *data_index = entity;
    }
    *table_index = ti;
    return true;
}

bool decode_entry(struct decode_set *set, size_t table_index, size_t data_index,
                  const struct config_stream *st, struct pq_batch *b,
                  const struct decode_field *fields, size_t count, const struct decode_meta *meta,
                  unsigned flags, struct decode_result *res, struct decode_error *err)
{
    assert(table_index < set->count);
    struct decode_table *dt = &set->tables[table_index];
    if (st->format == CONFIG_STREAM_JSON) {
        assert(data_index < count);
        const struct decode_field *d = &fields[data_index];
        return decode_json(dt, b, d->value, d->value_len, meta, flags, res, err);
    }
    return decode_flat(dt, b, fields, count, data_index, meta, flags, res, err);
}
