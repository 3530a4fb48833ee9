/* pq_matrix: writes a deterministic set of Parquet files covering the test
 * matrix and edge cases of reference/parquet.md §7.4, each with the values it
 * holds, so that independent readers can be checked value by value
 * (tests/integration/test_parquet_matrix.py).
 *
 *   pq_matrix <out-dir> [file-name-filter]
 *
 * For every file <name>.parquet it writes <name>.jsonl: the first line is a
 * JSON header (columns, writer options, expectations), then one JSON array per
 * row, in column order:
 *
 *   null                 null
 *   bool                 true / false
 *   int8..int64, date    integer (date: days since 1970-01-01)
 *   timestamp(_ntz)      integer microseconds since 1970-01-01
 *   float, double        string: C99 hex float ("-0x1.8p+1"), "nan", "inf", "-inf"
 *   decimal              string: the unscaled integer ("-12345" for -123.45 at scale 2)
 *   string, json         string
 *   binary, uuid         string of lowercase hex
 *   list                 array of the above, or null
 *
 * The files are encoded by the library alone (parquet/): this tool proves the
 * encoder, not the service. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parquet/parquet.h"

#define CREATED_BY "lakewriter version 0.1.0 (build pqmatrix)"

/* ------------------------------------------------------------------------- */
/* Deterministic randomness */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
    return n == 0 ? 0 : rnd() % n;
}

/* ------------------------------------------------------------------------- */
/* Column specifications */

enum mode {
    M_LOW,       /* a few distinct values: dictionary */
    M_HIGH,      /* (nearly) all distinct: PLAIN fallback */
    M_CONST,     /* one distinct value: bit width 0 */
    M_SPECIAL,   /* edge values: extremes, NaN/±0/±inf, long strings, ... */
    M_NULL,      /* every value null */
    M_SORTED,    /* increasing with the row: ordered page index */
};

struct colspec {
    char name[64];
    enum pq_type type;
    uint8_t precision, scale;
    bool nullable, list, element_nullable;
    enum mode mode;
    unsigned null_pct;        /* chance of a null value (or null list) */
    unsigned elem_null_pct;   /* chance of a null element */
    unsigned list_max;        /* elements per list: 0..list_max */
    int expect_dict;          /* 1: every chunk has a dictionary, 0: none, -1: either */
    int float_kind;           /* M_SPECIAL: FLOAT/DOUBLE kind (special_float); for
                                 strings and binary, 1 leaves out the values whose
                                 max cannot be incremented */
};

enum { COLS_MAX = 128 };

struct filespec {
    char name[64];
    uint64_t rows;
    uint64_t seed;
    struct colspec cols[COLS_MAX];
    size_t ncols;
    struct pq_writer_opts opts;
    size_t pull_bytes;        /* buffer size used to pull the file */
};

static const enum pq_type all_types[] = {
    PQ_STRING, PQ_BOOL, PQ_INT8, PQ_INT16, PQ_INT32, PQ_INT64, PQ_FLOAT, PQ_DOUBLE,
    PQ_DECIMAL, PQ_DATE, PQ_TIMESTAMP, PQ_TIMESTAMP_NTZ, PQ_JSON, PQ_UUID, PQ_BINARY,
};
#define ALL_TYPES (sizeof all_types / sizeof all_types[0])

static struct colspec *add_col(struct filespec *fs, const char *name, enum pq_type t, enum mode m,
                               bool nullable)
{
    if (fs->ncols == COLS_MAX) {
        fprintf(stderr, "pq_matrix: %s: too many columns\n", fs->name);
        exit(2);
    }
    struct colspec *c = &fs->cols[fs->ncols++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->type = t;
    c->mode = m;
    c->nullable = nullable;
    c->null_pct = nullable ? (m == M_NULL ? 100 : 20) : 0;
    c->precision = 18;
    c->scale = 4;
    int dict = -1;
    if (t != PQ_BOOL) {
        if (m == M_LOW || m == M_CONST) dict = 1;
        if (m == M_HIGH && t != PQ_INT8) dict = 0;
    } else {
        dict = 0;
    }
    if (m == M_NULL || m == M_SORTED) dict = m == M_NULL ? 0 : -1;
    c->expect_dict = dict;
    return c;
}

/* One column per type (three decimals: precision 9, 18, 38). */
static void add_all_types(struct filespec *fs, const char *suffix, enum mode m, bool nullable)
{
    char name[64];
    for (size_t i = 0; i < ALL_TYPES; i++) {
        enum pq_type t = all_types[i];
        if (t == PQ_DECIMAL) {
            static const uint8_t prec[3] = {9, 18, 38}, scale[3] = {2, 4, 10};
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "decimal%u%s", prec[k], suffix);
                struct colspec *c = add_col(fs, name, t, m, nullable);
                c->precision = prec[k];
                c->scale = scale[k];
            }
            continue;
        }
        snprintf(name, sizeof name, "%s%s", pq_type_name(t), suffix);
        add_col(fs, name, t, m, nullable);
    }
}

/* ------------------------------------------------------------------------- */
/* Values */

struct val {
    bool null;
    bool b;
    int64_t i;
    float f;
    double d;
    int64_t dec_hi;
    uint64_t dec_lo;
    uint8_t bytes[512];
    size_t len;
};

static unsigned __int128 pow10_u128(unsigned p)
{
    unsigned __int128 v = 1;
    while (p-- > 0) v *= 10;
    return v;
}

static void set_dec(struct val *v, __int128 x)
{
    unsigned __int128 u = (unsigned __int128)x;
    v->dec_hi = (int64_t)(uint64_t)(u >> 64);
    v->dec_lo = (uint64_t)u;
}

static void set_str(struct val *v, const char *s)
{
    v->len = strlen(s);
    memcpy(v->bytes, s, v->len);
}

/* Strings longer than the 64-byte statistics truncation, with multibyte
 * characters across the cut, and the no-increment cases. */
static void special_string(struct val *v, uint64_t k)
{
    char s[400];
    switch (k % 9) {
    case 0: set_str(v, ""); return;
    case 1: /* 63 ASCII bytes then a 3-byte character across byte 64 */
        memset(s, 'a', 63);
        strcpy(s + 63, "\xE6\x97\xA5-tail");
        set_str(v, s);
        return;
    case 2: /* 62 bytes then a 4-byte emoji across the cut */
        memset(s, 'z', 62);
        strcpy(s + 62, "\xF0\x9F\x98\x80 and more text after the cut");
        set_str(v, s);
        return;
    case 3: { /* U+10FFFF repeated: the max cannot be incremented */
        size_t n = 0;
        for (int i = 0; i < 20; i++) {
            memcpy(s + n, "\xF4\x8F\xBF\xBF", 4);
            n += 4;
        }
        s[n] = '\0';
        set_str(v, s);
        return;
    }
    case 4: /* 2-byte characters all the way past the cut */
        s[0] = '\0';
        for (int i = 0; i < 50; i++) strcat(s, "\xC3\xA9");
        set_str(v, s);
        return;
    case 5: set_str(v, "short \xE2\x82\xAC value"); return;
    case 6: /* exactly 64 bytes: exact */
        memset(s, 'm', 64);
        s[64] = '\0';
        set_str(v, s);
        return;
    case 7: /* 65 bytes ending in 0x7F: increment carries to a 2-byte char */
        memset(s, 0x7F, 65);
        s[0] = 'y';
        s[65] = '\0';
        set_str(v, s);
        return;
    default: /* long, with U+FFFF-ish 3-byte chars near the cut */
        memset(s, 'q', 61);
        strcpy(s + 61, "\xEF\xBF\xBF\xEF\xBF\xBF\xEF\xBF\xBF!");
        set_str(v, s);
        return;
    }
}

static void special_binary(struct val *v, uint64_t k)
{
    switch (k % 5) {
    case 0: v->len = 0; return;
    case 1: memset(v->bytes, 0xFF, 100); v->len = 100; return;       /* no increment */
    case 2: memset(v->bytes, 0x00, 70); v->len = 70; return;
    case 3:
        memset(v->bytes, 0xAB, 80);
        v->bytes[63] = 0xFF;
        v->bytes[64] = 0xFF;
        v->len = 80;
        return;
    default: for (int i = 0; i < 16; i++) v->bytes[i] = (uint8_t)(i * 17); v->len = 16; return;
    }
}

/* Edge floats by kind: 0 a mix of everything, 1 NaN only, 2 +0.0 only,
 * 3 -0.0 only, 4 +-inf only, 5 NaN among ordinary values, 6 NaN for the
 * first 500 rows (an all-NaN page) then ordinary values. */
static double special_float(int kind, uint64_t r, uint64_t row)
{
    static const double mix[8] = {NAN, -0.0, 0.0, INFINITY, -INFINITY, 1.5, -2.25, 1e-40};
    switch (kind) {
    case 1: return NAN;
    case 2: return 0.0;
    case 3: return -0.0;
    case 4: return (r & 1) ? INFINITY : -INFINITY;
    case 5: return (r % 3 == 0) ? NAN : (double)(int64_t)(r % 2001) / 8.0 - 125.0;
    case 6: return row < 500 ? NAN : (double)(int64_t)(r % 2001) / 8.0 - 125.0;
    default: return mix[r % 8];
    }
}

static void gen_value(const struct colspec *c, uint64_t row, struct val *v)
{
    memset(v, 0, offsetof(struct val, bytes));
    v->len = 0;
    uint64_t r = rnd();
    uint64_t k = c->mode == M_LOW || c->mode == M_NULL ? r % 8 : c->mode == M_CONST ? 3 : c->mode == M_SORTED ? row : r;
    switch (c->type) {
    case PQ_BOOL:
        v->b = c->mode == M_CONST ? true : c->mode == M_SORTED ? row >= 500 : (r & 1);
        return;
    case PQ_INT8:
    case PQ_INT16:
    case PQ_INT32:
    case PQ_INT64: {
        int64_t lo = c->type == PQ_INT8 ? INT8_MIN : c->type == PQ_INT16 ? INT16_MIN
                   : c->type == PQ_INT32 ? INT32_MIN : INT64_MIN;
        int64_t hi = c->type == PQ_INT8 ? INT8_MAX : c->type == PQ_INT16 ? INT16_MAX
                   : c->type == PQ_INT32 ? INT32_MAX : INT64_MAX;
        if (c->mode == M_SPECIAL) {
            int64_t sp[6] = {lo, hi, 0, -1, 1, lo + 1};
            v->i = sp[r % 6];
        } else if (c->mode == M_HIGH) {
            uint64_t span = (uint64_t)hi - (uint64_t)lo;
            v->i = (int64_t)((uint64_t)lo + (span == UINT64_MAX ? r : r % (span + 1)));
        } else if (c->mode == M_SORTED) {
            int64_t x = c->type == PQ_INT8 ? -128 + (int64_t)(row / 20)
                      : c->type == PQ_INT16 ? -32768 + (int64_t)row : (int64_t)row * 3 - 1000;
            v->i = x < hi ? x : hi;
        } else {
            v->i = (int64_t)k * 7 - 20;
        }
        return;
    }
    case PQ_FLOAT:
    case PQ_DOUBLE: {
        double d;
        if (c->mode == M_SPECIAL) {
            d = special_float(c->float_kind, r, row);
        } else if (c->mode == M_HIGH) {
            d = (double)(int64_t)(r >> 20) / 1024.0 + (double)(r & 0xFFFF) * 1e-7;
        } else if (c->mode == M_SORTED) {
            d = (double)row * 0.25 - 100.0;
        } else {
            d = (double)k * 0.5 - 1.0;
        }
        if (c->type == PQ_FLOAT) {
            v->f = (float)d;
            if (c->mode == M_HIGH) {
                uint32_t bits = (uint32_t)(r >> 7);
                bits &= 0xBFFFFFFFu; /* keep exponent below all-ones: finite */
                memcpy(&v->f, &bits, 4);
            }
        } else {
            v->d = d;
        }
        return;
    }
    case PQ_DECIMAL: {
        __int128 lim = (__int128)pow10_u128(c->precision);
        __int128 x;
        if (c->mode == M_SPECIAL) {
            __int128 sp[6] = {lim - 1, -(lim - 1), 0, -1, 1, -(lim / 2)};
            x = sp[r % 6];
        } else if (c->mode == M_HIGH) {
            unsigned __int128 u = (unsigned __int128)rnd() << 64 | rnd();
            x = (__int128)(u % (unsigned __int128)lim);
            if (r & 1) x = -x;
        } else if (c->mode == M_SORTED) {
            x = (__int128)row * 3 - 1000;
        } else {
            x = ((__int128)k - 4) * 12345;
            if (c->precision < 6) x = (__int128)k - 4;
        }
        set_dec(v, x);
        return;
    }
    case PQ_DATE:
        if (c->mode == M_SPECIAL) {
            int64_t sp[6] = {-1, -365, -25567, 0, 2932896, -719162};
            v->i = sp[r % 6];
        } else if (c->mode == M_HIGH) {
            v->i = (int64_t)(r % 200000) - 100000;
        } else if (c->mode == M_SORTED) {
            v->i = (int64_t)row - 1000;
        } else {
            v->i = 19000 + (int64_t)k - 30000 * (k == 2);
        }
        return;
    case PQ_TIMESTAMP:
    case PQ_TIMESTAMP_NTZ:
        if (c->mode == M_SPECIAL) {
            int64_t sp[6] = {-1, -1577923200000000LL, 0, 253402300799999999LL,
                             -62135596800000000LL, 1700000000123456LL};
            v->i = sp[r % 6];
        } else if (c->mode == M_HIGH) {
            v->i = (int64_t)(r % (1ULL << 50)) - (1LL << 49);
        } else if (c->mode == M_SORTED) {
            v->i = (int64_t)row * 1000003 - 86400000000LL;
        } else {
            v->i = 1700000000000000LL + (int64_t)k * 3600000000LL - (k == 5) * 2000000000000000LL;
        }
        return;
    case PQ_STRING: {
        static const char *pool[8] = {"alpha", "h\xC3\xA9llo", "\xE6\x97\xA5\xE6\x9C\xAC", "",
                                      "emoji \xF0\x9F\x98\x80", "zeta", "Zeta", "a longer value with spaces"};
        if (c->mode == M_SPECIAL) {
            special_string(v, c->float_kind == 1 && r % 9 == 3 ? r + 1 : r);
        } else if (c->mode == M_HIGH) {
            char s[96];
            snprintf(s, sizeof s, "v%" PRIu64 "-%016" PRIx64 "%s", row, r, (r & 3) == 0 ? "\xC3\xB8" : "");
            set_str(v, s);
        } else if (c->mode == M_SORTED) {
            char s[32];
            snprintf(s, sizeof s, "k%08" PRIu64, row);
            set_str(v, s);
        } else {
            set_str(v, pool[k]);
        }
        return;
    }
    case PQ_JSON: {
        char s[128];
        if (c->mode == M_HIGH || c->mode == M_SPECIAL)
            snprintf(s, sizeof s, "{\"id\":%" PRIu64 ",\"x\":\"%016" PRIx64 "\",\"u\":\"\xC3\xA5\"}", row, r);
        else if (c->mode == M_SORTED)
            snprintf(s, sizeof s, "[\"k%08" PRIu64 "\"]", row);
        else
            snprintf(s, sizeof s, "{\"k\":%" PRIu64 ",\"tags\":[\"a\",\"b\"]}", k);
        set_str(v, s);
        return;
    }
    case PQ_BINARY:
        if (c->mode == M_SPECIAL) {
            special_binary(v, c->float_kind == 1 && r % 5 == 1 ? r + 2 : r);
        } else if (c->mode == M_HIGH) {
            v->len = (size_t)(r % 41);
            for (size_t i = 0; i < v->len; i++) v->bytes[i] = (uint8_t)rnd();
        } else if (c->mode == M_SORTED) {
            v->len = 8;
            for (int i = 0; i < 8; i++) v->bytes[i] = (uint8_t)(row >> (56 - 8 * i));
        } else {
            v->len = (size_t)k;
            memset(v->bytes, (int)(0xF0 + k), v->len);
        }
        return;
    case PQ_UUID:
        v->len = 16;
        if (c->mode == M_SPECIAL) {
            memset(v->bytes, (r & 1) ? 0xFF : 0x00, 16);
        } else if (c->mode == M_HIGH) {
            for (int i = 0; i < 16; i++) v->bytes[i] = (uint8_t)rnd();
        } else if (c->mode == M_SORTED) {
            memset(v->bytes, 0, 16);
            for (int i = 0; i < 8; i++) v->bytes[8 + i] = (uint8_t)(row >> (56 - 8 * i));
        } else {
            for (int i = 0; i < 16; i++) v->bytes[i] = (uint8_t)(k * 31 + (uint64_t)i);
        }
        return;
    }
}

/* ------------------------------------------------------------------------- */
/* JSON output */

struct out {
    char *p;
    size_t len, cap;
};

static void out_reserve(struct out *o, size_t n)
{
    if (o->len + n <= o->cap) return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + n) cap *= 2;
    o->p = realloc(o->p, cap);
    if (o->p == NULL) {
        fprintf(stderr, "pq_matrix: out of memory\n");
        exit(2);
    }
    o->cap = cap;
}

static void out_raw(struct out *o, const char *s, size_t n)
{
    out_reserve(o, n);
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void out_str(struct out *o, const char *s)
{
    out_raw(o, s, strlen(s));
}

static void out_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct out *o, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out_raw(o, buf, (size_t)n);
}

static void out_json_string(struct out *o, const uint8_t *s, size_t n)
{
    out_raw(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            out_raw(o, e, 2);
        } else if (c < 0x20 || c == 0x7F) {
            out_fmt(o, "\\u%04x", c);
        } else {
            out_raw(o, (const char *)&s[i], 1);
        }
    }
    out_raw(o, "\"", 1);
}

static void out_hex(struct out *o, const uint8_t *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    out_reserve(o, 2 * n + 2);
    o->p[o->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        o->p[o->len++] = hx[s[i] >> 4];
        o->p[o->len++] = hx[s[i] & 15];
    }
    o->p[o->len++] = '"';
}

static void out_double(struct out *o, double d)
{
    if (isnan(d)) out_str(o, "\"nan\"");
    else if (isinf(d)) out_str(o, d > 0 ? "\"inf\"" : "\"-inf\"");
    else out_fmt(o, "\"%a\"", d);
}

static void out_decimal(struct out *o, int64_t hi, uint64_t lo)
{
    unsigned __int128 u = (unsigned __int128)(uint64_t)hi << 64 | lo;
    bool neg = hi < 0;
    if (neg) u = ~u + 1;
    char buf[48];
    size_t n = sizeof buf;
    buf[--n] = '\0';
    do {
        buf[--n] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    if (neg) buf[--n] = '-';
    out_fmt(o, "\"%s\"", buf + n);
}

static void out_value(struct out *o, const struct colspec *c, const struct val *v)
{
    if (v->null) {
        out_str(o, "null");
        return;
    }
    switch (c->type) {
    case PQ_BOOL: out_str(o, v->b ? "true" : "false"); break;
    case PQ_INT8:
    case PQ_INT16:
    case PQ_INT32:
    case PQ_INT64:
    case PQ_DATE:
    case PQ_TIMESTAMP:
    case PQ_TIMESTAMP_NTZ: out_fmt(o, "%" PRId64, v->i); break;
    case PQ_FLOAT: out_double(o, (double)v->f); break;
    case PQ_DOUBLE: out_double(o, v->d); break;
    case PQ_DECIMAL: out_decimal(o, v->dec_hi, v->dec_lo); break;
    case PQ_STRING:
    case PQ_JSON: out_json_string(o, v->bytes, v->len); break;
    case PQ_BINARY:
    case PQ_UUID: out_hex(o, v->bytes, v->len); break;
    }
}

/* ------------------------------------------------------------------------- */
/* Building and writing */

static bool append_value(struct pq_col *col, const struct colspec *c, const struct val *v)
{
    if (v->null) return pq_col_null(col);
    switch (c->type) {
    case PQ_BOOL: return pq_col_bool(col, v->b);
    case PQ_INT8:
    case PQ_INT16:
    case PQ_INT32:
    case PQ_DATE: return pq_col_i32(col, (int32_t)v->i);
    case PQ_INT64:
    case PQ_TIMESTAMP:
    case PQ_TIMESTAMP_NTZ: return pq_col_i64(col, v->i);
    case PQ_FLOAT: return pq_col_float(col, v->f);
    case PQ_DOUBLE: return pq_col_double(col, v->d);
    case PQ_DECIMAL: return pq_col_decimal(col, v->dec_hi, v->dec_lo);
    case PQ_STRING:
    case PQ_JSON:
    case PQ_BINARY: return pq_col_bytes(col, v->bytes, v->len);
    case PQ_UUID: return pq_col_fixed(col, v->bytes, v->len);
    }
    return false;
}

static void die_pq(const char *what, const char *msg)
{
    fprintf(stderr, "pq_matrix: %s: %s\n", what, msg);
    exit(1);
}

static void write_header(FILE *f, const struct filespec *fs)
{
    struct out o = {0};
    out_fmt(&o, "{\"file\":\"%s\",\"rows\":%" PRIu64 ",\"codec\":%d,\"page_rows_max\":%u,\"page_bytes_max\":%zu,"
                "\"row_group_rows_max\":%" PRIu64 ",\"created_by\":\"%s\",\"columns\":[",
            fs->name, fs->rows, (int)fs->opts.codec, fs->opts.page_rows_max, fs->opts.page_bytes_max,
            fs->opts.row_group_rows_max, CREATED_BY);
    for (size_t i = 0; i < fs->ncols; i++) {
        const struct colspec *c = &fs->cols[i];
        out_fmt(&o, "%s{\"name\":\"%s\",\"type\":\"%s\",\"nullable\":%s,\"list\":%s,"
                    "\"element_nullable\":%s,\"precision\":%u,\"scale\":%u,\"expect_dict\":%d}",
                i ? "," : "", c->name, pq_type_name(c->type), c->nullable ? "true" : "false",
                c->list ? "true" : "false", c->element_nullable ? "true" : "false",
                (unsigned)c->precision, (unsigned)c->scale, c->expect_dict);
    }
    out_str(&o, "]}\n");
    fwrite(o.p, 1, o.len, f);
    free(o.p);
}

static void build_and_write(const struct filespec *fs, const char *dir)
{
    struct pq_field fields[COLS_MAX];
    for (size_t i = 0; i < fs->ncols; i++) {
        const struct colspec *c = &fs->cols[i];
        fields[i] = (struct pq_field){
            .name = c->name, .type = c->type, .precision = c->precision, .scale = c->scale,
            .nullable = c->nullable, .list = c->list, .element_nullable = c->element_nullable,
        };
    }
    struct pq_err err = {0};
    struct pq_schema schema;
    if (!pq_schema_init(&schema, fields, fs->ncols, &err)) die_pq(fs->name, err.msg);
    struct pq_mem mem;
    pq_mem_init(&mem, NULL, NULL, 0);
    struct pq_batch batch;
    if (!pq_batch_init(&batch, &schema, &mem, &err)) die_pq(fs->name, err.msg);

    char path[512];
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, fs->name);
    FILE *jf = fopen(path, "wb");
    if (jf == NULL) die_pq(path, strerror(errno));
    write_header(jf, fs);

    rng_state = fs->seed;
    struct out o = {0};
    struct val v;
    for (uint64_t row = 0; row < fs->rows; row++) {
        o.len = 0;
        out_str(&o, "[");
        for (size_t i = 0; i < fs->ncols; i++) {
            const struct colspec *c = &fs->cols[i];
            struct pq_col *col = pq_batch_col(&batch, (uint32_t)i);
            if (i > 0) out_str(&o, ",");
            bool ok = true;
            if (!c->list) {
                gen_value(c, row, &v);
                v.null = c->nullable && rnd_below(100) < c->null_pct;
                ok = append_value(col, c, &v);
                out_value(&o, c, &v);
            } else if (c->nullable && rnd_below(100) < c->null_pct) {
                ok = pq_col_null(col);
                out_str(&o, "null");
            } else {
                unsigned n = (unsigned)rnd_below(c->list_max + 1);
                ok = pq_col_list_begin(col);
                out_str(&o, "[");
                for (unsigned e = 0; ok && e < n; e++) {
                    gen_value(c, row * 16 + e, &v);
                    v.null = c->element_nullable && rnd_below(100) < c->elem_null_pct;
                    ok = append_value(col, c, &v);
                    if (e > 0) out_str(&o, ",");
                    out_value(&o, c, &v);
                }
                ok = ok && pq_col_list_end(col);
                out_str(&o, "]");
            }
            if (!ok) die_pq(fs->name, batch.err.msg);
        }
        out_str(&o, "]\n");
        if (!pq_batch_commit(&batch)) die_pq(fs->name, batch.err.msg);
        fwrite(o.p, 1, o.len, jf);
    }
    free(o.p);
    fclose(jf);

    struct pq_writer w;
    if (!pq_writer_init(&w, &mem, &fs->opts, &err)) die_pq(fs->name, err.msg);
    if (!pq_writer_begin(&w, &batch, &err)) die_pq(fs->name, err.msg);
    snprintf(path, sizeof path, "%s/%s.parquet", dir, fs->name);
    FILE *pf = fopen(path, "wb");
    if (pf == NULL) die_pq(path, strerror(errno));
    size_t cap = fs->pull_bytes ? fs->pull_bytes : 65536;
    uint8_t *buf = malloc(cap);
    for (;;) {
        size_t n;
        enum pq_status st = pq_writer_pull(&w, buf, cap, &n);
        if (st == PQ_ERROR) die_pq(fs->name, pq_writer_error(&w)->msg);
        if (n > 0 && fwrite(buf, 1, n, pf) != n) die_pq(path, strerror(errno));
        if (st == PQ_DONE) break;
    }
    free(buf);
    if (fclose(pf) != 0) die_pq(path, strerror(errno));
    pq_writer_free(&w);
    pq_batch_free(&batch);
    if (mem.used_bytes != 0) die_pq(fs->name, "memory leaked through the budget");
}

/* ------------------------------------------------------------------------- */
/* The matrix */

static struct filespec *new_file(struct filespec *fs, const char *name, uint64_t rows)
{
    memset(fs, 0, sizeof *fs);
    snprintf(fs->name, sizeof fs->name, "%s", name);
    fs->rows = rows;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    fs->seed = h;
    pq_writer_opts_default(&fs->opts);
    fs->opts.created_by = CREATED_BY;
    return fs;
}

static struct colspec *add_list(struct filespec *fs, const char *name, enum pq_type t, enum mode m,
                                bool nullable, bool elem_nullable, unsigned list_max)
{
    struct colspec *c = add_col(fs, name, t, m, nullable);
    c->list = true;
    c->element_nullable = elem_nullable;
    c->elem_null_pct = elem_nullable ? 15 : 0;
    c->null_pct = nullable ? 15 : 0;
    c->list_max = list_max;
    if (m == M_NULL) {
        c->elem_null_pct = elem_nullable ? 100 : 0;
        c->null_pct = nullable ? 50 : 0;
    }
    c->expect_dict = -1;
    return c;
}

typedef void (*file_fn)(struct filespec *fs);

static void f_dict_required(struct filespec *fs)
{
    new_file(fs, "dict_required", 3000);
    add_all_types(fs, "", M_LOW, false);
}

static void f_dict_nullable(struct filespec *fs)
{
    new_file(fs, "dict_nullable", 3000);
    add_all_types(fs, "", M_LOW, true);
}

static void f_plain_required(struct filespec *fs)
{
    new_file(fs, "plain_required", 3000);
    add_all_types(fs, "", M_HIGH, false);
}

static void f_plain_nullable(struct filespec *fs)
{
    new_file(fs, "plain_nullable", 3000);
    add_all_types(fs, "", M_HIGH, true);
}

static void f_uncompressed(struct filespec *fs)
{
    new_file(fs, "uncompressed", 2000);
    fs->opts.codec = PQ_CODEC_UNCOMPRESSED;
    add_all_types(fs, "_low", M_LOW, true);
    add_all_types(fs, "_high", M_HIGH, false);
}

static void f_many_pages(struct filespec *fs)
{
    new_file(fs, "many_pages", 60000);
    add_all_types(fs, "_low", M_LOW, true);
    add_all_types(fs, "_high", M_HIGH, true);
    add_all_types(fs, "_sorted", M_SORTED, false);
    fs->pull_bytes = 7;
}

static void f_small_pages(struct filespec *fs)
{
    new_file(fs, "small_pages", 5000);
    fs->opts.page_rows_max = 300;
    fs->opts.page_bytes_max = 2048;
    add_all_types(fs, "_low", M_LOW, true);
    add_all_types(fs, "_high", M_HIGH, false);
    add_all_types(fs, "_sorted", M_SORTED, true);
    add_list(fs, "list_str", PQ_STRING, M_HIGH, true, true, 6);
    add_list(fs, "list_i64", PQ_INT64, M_LOW, false, true, 9);
}

static void f_row_groups(struct filespec *fs)
{
    new_file(fs, "row_groups", 10500);
    fs->opts.row_group_rows_max = 1000;
    fs->opts.page_rows_max = 400;
    add_all_types(fs, "_low", M_LOW, true);
    add_all_types(fs, "_high", M_HIGH, false);
    add_list(fs, "list_i32", PQ_INT32, M_LOW, true, true, 5);
}

static void f_all_null(struct filespec *fs)
{
    new_file(fs, "all_null", 2500);
    fs->opts.page_rows_max = 1000;
    add_all_types(fs, "", M_NULL, true);
    add_col(fs, "id", PQ_INT64, M_SORTED, false);
    add_list(fs, "list_all_null", PQ_STRING, M_NULL, true, true, 3);
}

static void f_one_distinct(struct filespec *fs)
{
    new_file(fs, "one_distinct", 2000);
    add_all_types(fs, "_req", M_CONST, false);
    add_all_types(fs, "_opt", M_CONST, true);
}

static void f_special(struct filespec *fs)
{
    new_file(fs, "special", 3000);
    fs->opts.page_rows_max = 700;
    add_all_types(fs, "", M_SPECIAL, true);
    add_all_types(fs, "_req", M_SPECIAL, false);
}

static void f_special_plain(struct filespec *fs)
{
    new_file(fs, "special_plain", 1500);
    fs->opts.dictionary = false;
    add_all_types(fs, "", M_SPECIAL, true);
    for (size_t i = 0; i < fs->ncols; i++) fs->cols[i].expect_dict = 0;
}

/* Each column holds one kind of edge value for its whole length. */
static void f_floats(struct filespec *fs)
{
    new_file(fs, "floats", 1200);
    fs->opts.page_rows_max = 500;
    static const char *names[] = {"f_nan", "f_zero", "f_negzero", "f_inf", "f_mixed", "d_nan",
                                  "d_zero", "d_negzero", "d_inf", "d_mixed", "d_nan_page"};
    static const int kinds[] = {1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 6};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct colspec *c = add_col(fs, names[i], names[i][0] == 'f' ? PQ_FLOAT : PQ_DOUBLE, M_SPECIAL, true);
        c->expect_dict = -1;
        c->float_kind = kinds[i];
        c->null_pct = 10;
    }
}

static void f_strings(struct filespec *fs)
{
    new_file(fs, "strings", 2000);
    fs->opts.page_rows_max = 250;
    add_col(fs, "empty", PQ_STRING, M_CONST, true);
    add_col(fs, "long", PQ_STRING, M_SPECIAL, true);
    add_col(fs, "long_req", PQ_STRING, M_SPECIAL, false);
    add_col(fs, "bin_long", PQ_BINARY, M_SPECIAL, true);
    add_col(fs, "long_inc", PQ_STRING, M_SPECIAL, true)->float_kind = 1;
    add_col(fs, "bin_inc", PQ_BINARY, M_SPECIAL, false)->float_kind = 1;
    add_col(fs, "json_doc", PQ_JSON, M_HIGH, false);
    add_col(fs, "s_sorted", PQ_STRING, M_SORTED, false);
}

static void f_extremes(struct filespec *fs)
{
    new_file(fs, "extremes", 1000);
    static const enum pq_type t[] = {PQ_INT8, PQ_INT16, PQ_INT32, PQ_INT64, PQ_DATE,
                                     PQ_TIMESTAMP, PQ_TIMESTAMP_NTZ};
    char name[64];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        snprintf(name, sizeof name, "%s_x", pq_type_name(t[i]));
        add_col(fs, name, t[i], M_SPECIAL, false);
        snprintf(name, sizeof name, "%s_xn", pq_type_name(t[i]));
        add_col(fs, name, t[i], M_SPECIAL, true);
    }
}

static void f_decimals(struct filespec *fs)
{
    new_file(fs, "decimals", 2000);
    static const uint8_t p[] = {1, 2, 4, 9, 10, 18, 19, 28, 38, 38};
    static const uint8_t s[] = {0, 1, 2, 2, 0, 4, 18, 10, 0, 38};
    char name[64];
    for (size_t i = 0; i < sizeof p; i++) {
        for (int m = 0; m < 3; m++) {
            enum mode mode = m == 0 ? M_SPECIAL : m == 1 ? M_HIGH : M_LOW;
            snprintf(name, sizeof name, "dec_p%u_s%u_%c", p[i], s[i], "shl"[m]);
            struct colspec *c = add_col(fs, name, PQ_DECIMAL, mode, m != 0);
            c->precision = p[i];
            c->scale = s[i];
            c->expect_dict = -1;
        }
    }
}

static void f_dates(struct filespec *fs)
{
    new_file(fs, "dates", 3000);
    add_col(fs, "d_high", PQ_DATE, M_HIGH, true);
    add_col(fs, "d_sorted", PQ_DATE, M_SORTED, false);
    add_col(fs, "ts_high", PQ_TIMESTAMP, M_HIGH, true);
    add_col(fs, "ts_sorted", PQ_TIMESTAMP, M_SORTED, false);
    add_col(fs, "ntz_high", PQ_TIMESTAMP_NTZ, M_HIGH, false);
    add_col(fs, "ntz_low", PQ_TIMESTAMP_NTZ, M_LOW, true);
}

static void f_empty(struct filespec *fs)
{
    new_file(fs, "empty", 0);
    add_all_types(fs, "", M_LOW, true);
    add_list(fs, "tags", PQ_STRING, M_LOW, true, true, 3);
}

static void f_one_row(struct filespec *fs)
{
    new_file(fs, "one_row", 1);
    add_all_types(fs, "", M_HIGH, false);
    for (size_t i = 0; i < fs->ncols; i++) fs->cols[i].expect_dict = -1;
    add_list(fs, "tags", PQ_STRING, M_LOW, false, false, 3);
}

static void f_lists(struct filespec *fs)
{
    new_file(fs, "lists", 4000);
    fs->opts.page_rows_max = 900;
    char name[64];
    for (size_t i = 0; i < ALL_TYPES; i++) {
        enum pq_type t = all_types[i];
        for (int k = 0; k < 4; k++) {
            bool ln = k & 1, en = k & 2;
            snprintf(name, sizeof name, "l_%s_%c%c", pq_type_name(t), ln ? 'n' : 'r', en ? 'n' : 'r');
            struct colspec *c = add_list(fs, name, t, k == 3 ? M_HIGH : M_LOW, ln, en, 4 + (unsigned)k);
            c->precision = 20;
            c->scale = 3;
        }
    }
    add_list(fs, "l_empty_only", PQ_INT32, M_LOW, false, false, 0);
    add_list(fs, "l_special_str", PQ_STRING, M_SPECIAL, true, true, 3);
    add_list(fs, "l_special_dbl", PQ_DOUBLE, M_SPECIAL, true, true, 3);
}

static void f_long_lists(struct filespec *fs)
{
    new_file(fs, "long_lists", 300);
    fs->opts.page_rows_max = 50;
    add_list(fs, "big", PQ_INT64, M_HIGH, true, true, 400);
    add_list(fs, "big_str", PQ_STRING, M_LOW, false, false, 300);
    add_col(fs, "id", PQ_INT32, M_SORTED, false);
}

static void f_wide(struct filespec *fs)
{
    new_file(fs, "wide", 50);
    char name[64];
    for (int i = 0; i < COLS_MAX; i++) {
        snprintf(name, sizeof name, "col_%03d", i);
        enum pq_type t = all_types[(size_t)i % ALL_TYPES];
        struct colspec *c = add_col(fs, name, t, (i & 1) ? M_LOW : M_HIGH, (i % 3) != 0);
        c->precision = 12;
        c->scale = 3;
        c->expect_dict = -1;
    }
}

static void f_big(struct filespec *fs)
{
    new_file(fs, "big", 250000);
    add_col(fs, "id", PQ_INT64, M_SORTED, false);
    add_col(fs, "s_low", PQ_STRING, M_LOW, true);
    add_col(fs, "s_high", PQ_STRING, M_HIGH, true);
    add_col(fs, "d_high", PQ_DOUBLE, M_HIGH, false);
    add_col(fs, "ts", PQ_TIMESTAMP, M_SORTED, false);
    add_col(fs, "dec", PQ_DECIMAL, M_HIGH, true);
    add_list(fs, "tags", PQ_STRING, M_LOW, true, false, 4);
    fs->opts.row_group_rows_max = 100000;
}

static const file_fn files[] = {
    f_dict_required, f_dict_nullable, f_plain_required, f_plain_nullable, f_uncompressed,
    f_many_pages, f_small_pages, f_row_groups, f_all_null, f_one_distinct, f_special,
    f_special_plain, f_floats, f_strings, f_extremes, f_decimals, f_dates, f_empty,
    f_one_row, f_lists, f_long_lists, f_wide, f_big,
};

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: pq_matrix <out-dir> [name-filter]\n");
        return 2;
    }
    const char *dir = argv[1];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "pq_matrix: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    static struct filespec fs;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        files[i](&fs);
        if (argc == 3 && strstr(fs.name, argv[2]) == NULL) continue;
        build_and_write(&fs, dir);
        printf("%s\n", fs.name);
    }
    return 0;
}
