/* parquet/pq_stats: every statistic against a brute-force recomputation over
 * seeded random data, the float rules, and truncation of long byte arrays. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/pq_stats.h"
#include "parquet/pq_thrift.h"

static struct pq_mem mem;

static void setup(void)
{
    pq_mem_init(&mem, NULL, NULL, 0);
}

static void teardown(void)
{
    cr_assert_eq(mem.used_bytes, 0);
}

TestSuite(pq_stats, .init = setup, .fini = teardown);

static uint64_t rng = 99;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A one-column batch. */
struct one {
    struct pq_field f;
    struct pq_schema s;
    struct pq_batch b;
    struct pq_col *c;
};

static void one_init(struct one *o, enum pq_type t, uint8_t precision, uint8_t scale)
{
    o->f = (struct pq_field){.name = "c", .type = t, .precision = precision, .scale = scale};
    struct pq_err err;
    cr_assert(pq_schema_init(&o->s, &o->f, 1, &err), "%s", err.msg);
    cr_assert(pq_batch_init(&o->b, &o->s, &mem, &err));
    o->c = pq_batch_col(&o->b, 0);
}

/* Brute force: the index of the smallest/largest value by `cmp` on the raw
 * values, one at a time (no shortcuts). */
typedef int (*raw_cmp)(const struct pq_col *c, size_t a, size_t b);

static int cmp_i32(const struct pq_col *c, size_t a, size_t b)
{
    int32_t x, y;
    memcpy(&x, c->values.data + 4 * a, 4);
    memcpy(&y, c->values.data + 4 * b, 4);
    return (x > y) - (x < y);
}

static int cmp_i64(const struct pq_col *c, size_t a, size_t b)
{
    int64_t x, y;
    memcpy(&x, c->values.data + 8 * a, 8);
    memcpy(&y, c->values.data + 8 * b, 8);
    return (x > y) - (x < y);
}

static int cmp_bool(const struct pq_col *c, size_t a, size_t b)
{
    return (c->values.data[a] > c->values.data[b]) - (c->values.data[a] < c->values.data[b]);
}

static int cmp_str(const struct pq_col *c, size_t a, size_t b)
{
    const uint32_t *o = pq_col_offsets(c);
    size_t la = o[a + 1] - o[a], lb = o[b + 1] - o[b];
    for (size_t i = 0; i < la && i < lb; i++) {
        uint8_t x = c->arena.data[o[a] + i], y = c->arena.data[o[b] + i];
        if (x != y) return x < y ? -1 : 1;
    }
    return (la > lb) - (la < lb);
}

/* Decimals: decode the big-endian two's complement into a 128-bit integer. */
static __int128 dec_at(const struct pq_col *c, size_t i)
{
    const uint8_t *p = c->values.data + (size_t)c->width * i;
    __int128 v = (p[0] & 0x80) ? -1 : 0;
    for (uint32_t k = 0; k < c->width; k++) v = (__int128)((unsigned __int128)v << 8) | p[k];
    return v;
}

static int cmp_dec(const struct pq_col *c, size_t a, size_t b)
{
    __int128 x = dec_at(c, a), y = dec_at(c, b);
    return (x > y) - (x < y);
}

static int cmp_uuid(const struct pq_col *c, size_t a, size_t b)
{
    return memcmp(c->values.data + 16 * a, c->values.data + 16 * b, 16);
}

static void brute(const struct pq_col *c, raw_cmp cmp, size_t from, size_t to, size_t *mn, size_t *mx)
{
    *mn = *mx = from;
    for (size_t i = from + 1; i < to; i++) {
        if (cmp(c, i, *mn) < 0) *mn = i;
        if (cmp(c, i, *mx) > 0) *mx = i;
    }
}

static const uint8_t *value_ptr(const struct pq_col *c, size_t i, size_t *len)
{
    if (c->width == 0) {
        const uint32_t *o = pq_col_offsets(c);
        *len = o[i + 1] - o[i];
        return c->arena.data + o[i];
    }
    *len = c->width;
    return c->values.data + (size_t)c->width * i;
}

/* Random ranges of the column: pq_stats_add over a range, and merged from two
 * halves, equal the brute force. */
static void check_ranges(const struct pq_col *c, raw_cmp cmp)
{
    enum pq_order o = pq_field_order(c->field);
    for (int trial = 0; trial < 200; trial++) {
        size_t from = rnd() % c->nvalues, to = from + 1 + rnd() % (c->nvalues - from);
        size_t mid = from + rnd() % (to - from + 1);
        struct pq_stats s, a, b;
        pq_stats_reset(&s);
        pq_stats_add(&s, c, from, to);
        pq_stats_reset(&a);
        pq_stats_reset(&b);
        pq_stats_add(&a, c, from, mid);
        pq_stats_add(&b, c, mid, to);
        pq_stats_merge(&a, &b, o);
        size_t mn, mx;
        brute(c, cmp, from, to, &mn, &mx);
        size_t ln, lx;
        const uint8_t *pn = value_ptr(c, mn, &ln), *px = value_ptr(c, mx, &lx);
        const struct pq_stats *all[2] = {&s, &a};
        for (int k = 0; k < 2; k++) {
            cr_assert(all[k]->has_minmax);
            cr_assert_eq(all[k]->values, to - from);
            cr_assert_eq(all[k]->min_len, ln);
            cr_assert_eq(all[k]->max_len, lx);
            cr_assert_eq(memcmp(pq_stats_min(all[k]), pn, ln), 0, "min of [%zu, %zu)", from, to);
            cr_assert_eq(memcmp(pq_stats_max(all[k]), px, lx), 0, "max of [%zu, %zu)", from, to);
        }
    }
}

Test(pq_stats, int32_int64_bool_random)
{
    struct one i32, i64, bl, i8;
    one_init(&i32, PQ_INT32, 0, 0);
    one_init(&i64, PQ_TIMESTAMP, 0, 0);
    one_init(&bl, PQ_BOOL, 0, 0);
    one_init(&i8, PQ_INT8, 0, 0);
    for (int i = 0; i < 5000; i++) {
        cr_assert(pq_col_i32(i32.c, (int32_t)rnd()));
        cr_assert(pq_col_i64(i64.c, (int64_t)rnd()));
        cr_assert(pq_col_bool(bl.c, rnd() % 7 == 0));
        cr_assert(pq_col_i32(i8.c, (int8_t)rnd()));
    }
    check_ranges(i32.c, cmp_i32);
    check_ranges(i64.c, cmp_i64);
    check_ranges(bl.c, cmp_bool);
    check_ranges(i8.c, cmp_i32);
    pq_batch_free(&i32.b);
    pq_batch_free(&i64.b);
    pq_batch_free(&bl.b);
    pq_batch_free(&i8.b);
}

Test(pq_stats, strings_decimals_uuids_random)
{
    struct one s, d9, d18, d38, u;
    one_init(&s, PQ_STRING, 0, 0);
    one_init(&d9, PQ_DECIMAL, 9, 2);
    one_init(&d18, PQ_DECIMAL, 18, 0);
    one_init(&d38, PQ_DECIMAL, 38, 5);
    one_init(&u, PQ_UUID, 0, 0);
    for (int i = 0; i < 3000; i++) {
        uint8_t bytes[40];
        size_t n = rnd() % 12;
        for (size_t k = 0; k < n; k++) bytes[k] = (uint8_t)("ab\xC3\xA9\xFF\x01"[rnd() % 6]);
        cr_assert(pq_col_bytes(s.c, bytes, n));
        int64_t x = (int64_t)(rnd() % 1999999999) - 999999999;
        cr_assert(pq_col_decimal(d9.c, x < 0 ? -1 : 0, (uint64_t)x));
        int64_t y = (int64_t)(rnd() % 1999999999999999999ULL) - 999999999999999999LL;
        cr_assert(pq_col_decimal(d18.c, y < 0 ? -1 : 0, (uint64_t)y));
        int64_t hi = (int64_t)(rnd() % 1000000000000000000ULL) * ((rnd() & 1) ? -1 : 1);
        cr_assert(pq_col_decimal(d38.c, hi, rnd()));
        for (int k = 0; k < 16; k++) bytes[k] = (uint8_t)(rnd() % 3 == 0 ? 0xFF : rnd());
        cr_assert(pq_col_fixed(u.c, bytes, 16));
    }
    check_ranges(s.c, cmp_str);
    check_ranges(d9.c, cmp_dec);
    check_ranges(d18.c, cmp_dec);
    check_ranges(d38.c, cmp_dec);
    check_ranges(u.c, cmp_uuid);
    pq_batch_free(&s.b);
    pq_batch_free(&d9.b);
    pq_batch_free(&d18.b);
    pq_batch_free(&d38.b);
    pq_batch_free(&u.b);
}

Test(pq_stats, strings_with_long_common_prefixes)
{
    /* Values 0..40 bytes long, most starting with the same 20 bytes, from a
     * tiny alphabet with 0x00 and 0xFF: the 16-byte keys tie often (and tie
     * on zero padding against shorter values), so the byte compare after a
     * tie decides; the last values end at the end of the arena. */
    struct one s;
    one_init(&s, PQ_BINARY, 0, 0);
    static const uint8_t common[20] = "{\"p0\": {\"x\": 7, \"ta";
    for (int i = 0; i < 4000; i++) {
        uint8_t bytes[40];
        size_t n = rnd() % 41;
        for (size_t k = 0; k < n; k++) bytes[k] = (uint8_t)("a\x00\xFF"[rnd() % 3]);
        if (rnd() % 4 != 0) memcpy(bytes, common, n < 20 ? n : 20);
        cr_assert(pq_col_bytes(s.c, bytes, n));
    }
    check_ranges(s.c, cmp_str);
    pq_batch_free(&s.b);
}

static float outf(const struct pq_stats_out *o, bool max)
{
    float f;
    memcpy(&f, max ? o->max : o->min, 4);
    return f;
}

static double outd(const struct pq_stats_out *o, bool max)
{
    double d;
    memcpy(&d, max ? o->max : o->min, 8);
    return d;
}

/* Finished stats of a float column holding v[0..n). */
static void float_stats(const float *v, size_t n, struct pq_stats_out *o)
{
    struct one x;
    one_init(&x, PQ_FLOAT, 0, 0);
    for (size_t i = 0; i < n; i++) cr_assert(pq_col_float(x.c, v[i]));
    struct pq_stats s;
    pq_stats_reset(&s);
    pq_stats_add(&s, x.c, 0, n);
    pq_stats_finish(&s, &x.f, 64, o);
    pq_batch_free(&x.b);
}

Test(pq_stats, float_nan_zero_inf_rules)
{
    struct pq_stats_out o;
    float_stats((float[]){NAN, NAN}, 2, &o);
    cr_assert_not(o.has_minmax, "all NaN: no min/max");
    cr_assert(o.has_nan_count);
    cr_assert_eq(o.nan_count, 2);

    float_stats((float[]){NAN, 3.0f, NAN, -1.5f}, 4, &o);
    cr_assert(o.has_minmax && o.deprecated);
    cr_assert_eq(outf(&o, false), -1.5f);
    cr_assert_eq(outf(&o, true), 3.0f);
    cr_assert_eq(o.nan_count, 2);

    float_stats((float[]){0.0f, 0.0f}, 2, &o);
    cr_assert(signbit(outf(&o, false)), "a zero min is -0.0");
    cr_assert_not(signbit(outf(&o, true)), "a zero max is +0.0");

    float_stats((float[]){-0.0f}, 1, &o);
    cr_assert(signbit(outf(&o, false)) && !signbit(outf(&o, true)));

    float_stats((float[]){-0.0f, 5.0f, NAN}, 3, &o);
    cr_assert(signbit(outf(&o, false)) && outf(&o, false) == 0.0f && outf(&o, true) == 5.0f);

    float_stats((float[]){INFINITY, -INFINITY, NAN}, 3, &o);
    cr_assert_eq(outf(&o, false), -INFINITY);
    cr_assert_eq(outf(&o, true), INFINITY);

    float_stats((float[]){-INFINITY, -INFINITY}, 2, &o);
    cr_assert_eq(outf(&o, false), -INFINITY);
    cr_assert_eq(outf(&o, true), -INFINITY);
}

Test(pq_stats, double_random_against_brute_force)
{
    struct one x;
    one_init(&x, PQ_DOUBLE, 0, 0);
    size_t n = 4000;
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        v[i] = r % 10 == 0 ? NAN : r % 10 == 1 ? -0.0 : r % 10 == 2 ? 0.0
             : r % 50 == 3 ? INFINITY : (double)(int64_t)(r >> 12) / 3.0;
        cr_assert(pq_col_double(x.c, v[i]));
    }
    for (int trial = 0; trial < 300; trial++) {
        size_t from = rnd() % n, to = from + 1 + rnd() % (n - from);
        struct pq_stats s;
        pq_stats_reset(&s);
        pq_stats_add(&s, x.c, from, to);
        struct pq_stats_out o;
        pq_stats_finish(&s, &x.f, 64, &o);
        double mn = INFINITY, mx = -INFINITY;
        uint64_t nans = 0;
        bool any = false;
        for (size_t i = from; i < to; i++) {
            if (isnan(v[i])) {
                nans++;
                continue;
            }
            any = true;
            if (v[i] < mn) mn = v[i];
            if (v[i] > mx) mx = v[i];
        }
        cr_assert_eq(o.nan_count, nans);
        cr_assert_eq(o.has_minmax, any);
        if (!any) continue;
        if (mn == 0) mn = -0.0;
        if (mx == 0) mx = 0.0;
        cr_assert_eq(memcmp(o.min, &mn, 8), 0, "min %g, expected %g", outd(&o, false), mn);
        cr_assert_eq(memcmp(o.max, &mx, 8), 0, "max %g, expected %g", outd(&o, true), mx);
    }
    free(v);
    pq_batch_free(&x.b);
}

static void expect_trunc_min(const char *v, bool utf8, const char *want)
{
    uint8_t out[PQ_STATS_VALUE_MAX_BYTES];
    size_t n = pq_truncate_min((const uint8_t *)v, strlen(v), 64, utf8, out);
    cr_assert_eq(n, strlen(want), "min of %zu bytes: %zu, expected %zu", strlen(v), n, strlen(want));
    cr_assert_eq(memcmp(out, want, n), 0);
}

static void expect_trunc_max(const char *v, size_t vlen, bool utf8, const char *want, size_t wlen)
{
    uint8_t out[PQ_STATS_VALUE_MAX_BYTES];
    size_t n = 0;
    bool ok = pq_truncate_max((const uint8_t *)v, vlen, 64, utf8, out, &n);
    if (want == NULL) {
        cr_assert_not(ok, "no upper bound exists");
        return;
    }
    cr_assert(ok);
    cr_assert_eq(n, wlen, "max: %zu bytes, expected %zu", n, wlen);
    cr_assert_eq(memcmp(out, want, n), 0);
}

static char a63[200], z62[200];

Test(pq_stats, truncation_at_utf8_boundaries)
{
    /* <= 64 bytes: unchanged. */
    memset(a63, 'a', 64);
    a63[64] = '\0';
    expect_trunc_min(a63, true, a63);
    expect_trunc_max(a63, 64, true, a63, 64);

    /* 63 x 'a' then U+65E5 (3 bytes) across the cut: min keeps 63 bytes, max
     * increments the last whole character ('a' -> 'b'). */
    memset(a63, 'a', 63);
    strcpy(a63 + 63, "\xE6\x97\xA5tail");
    char want_min[64];
    memset(want_min, 'a', 63);
    want_min[63] = '\0';
    expect_trunc_min(a63, true, want_min);
    char want_max[64];
    memset(want_max, 'a', 62);
    want_max[62] = 'b';
    expect_trunc_max(a63, strlen(a63), true, want_max, 63);

    /* Byte-wise (binary) cuts at 64 whatever the bytes are. */
    uint8_t out[PQ_STATS_VALUE_MAX_BYTES];
    cr_assert_eq(pq_truncate_min((const uint8_t *)a63, strlen(a63), 64, false, out), 64);

    /* 62 x 'z' then an emoji: max is 61 x 'z' then '{'. */
    memset(z62, 'z', 62);
    strcpy(z62 + 62, "\xF0\x9F\x98\x80 more");
    char zmax[64];
    memset(zmax, 'z', 61);
    zmax[61] = '{';
    expect_trunc_max(z62, strlen(z62), true, zmax, 62);

    /* 2-byte characters: 32 x U+00E9 is 64 bytes; 33 are truncated to 32 and
     * the last one incremented to U+00EA. */
    char e[100] = "";
    for (int i = 0; i < 33; i++) strcat(e, "\xC3\xA9");
    char emax[70] = "";
    for (int i = 0; i < 31; i++) strcat(emax, "\xC3\xA9");
    strcat(emax, "\xC3\xAA");
    expect_trunc_max(e, 66, true, emax, 64);
    e[64] = '\0';
    expect_trunc_min(e, true, e);
}

Test(pq_stats, max_increment_edge_cases)
{
    /* U+10FFFF only: no character can be incremented, no bound. */
    char top[100] = "";
    for (int i = 0; i < 20; i++) strcat(top, "\xF4\x8F\xBF\xBF");
    expect_trunc_max(top, 80, true, NULL, 0);

    /* A prefix then U+10FFFF: the prefix character is incremented instead. */
    char mixed[100] = "ab";
    for (int i = 0; i < 20; i++) strcat(mixed, "\xF4\x8F\xBF\xBF");
    expect_trunc_max(mixed, strlen(mixed), true, "ac", 2);

    /* 0xFF bytes (binary): no byte can be incremented. */
    char ff[100];
    memset(ff, 0xFF, 100);
    expect_trunc_max(ff, 100, false, NULL, 0);
    ff[10] = 0x41;
    char ffw[11];
    memcpy(ffw, ff, 10);
    ffw[10] = 0x42;
    expect_trunc_max(ff, 100, false, ffw, 11);

    /* U+D7FF increments past the surrogates to U+E000. */
    char d7[100];
    memset(d7, 'x', 61);
    strcpy(d7 + 61, "\xED\x9F\xBF" "yyyy");
    char d7w[64];
    memset(d7w, 'x', 61);
    memcpy(d7w + 61, "\xEE\x80\x80", 3);
    expect_trunc_max(d7, strlen(d7), true, d7w, 64);

    /* 0x7F then more: U+007F becomes U+0080 (2 bytes) if it fits. */
    char del[100];
    memset(del, 0x7F, 70);
    char delw[64];
    memset(delw, 0x7F, 62);
    memcpy(delw + 62, "\xC2\x80", 2);
    expect_trunc_max(del, 70, true, delw, 64);
}

Test(pq_stats, finish_long_strings_and_exact_flags)
{
    struct one x;
    one_init(&x, PQ_STRING, 0, 0);
    char big[100];
    memset(big, 'm', 99);
    cr_assert(pq_col_bytes(x.c, "b", 1));
    cr_assert(pq_col_bytes(x.c, big, 99));
    cr_assert(pq_col_bytes(x.c, "a", 1));
    struct pq_stats s;
    pq_stats_reset(&s);
    s.nulls = 4;
    pq_stats_add(&s, x.c, 0, 3);
    struct pq_stats_out o;
    pq_stats_finish(&s, &x.f, 64, &o);
    cr_assert(o.has_minmax);
    cr_assert_not(o.deprecated, "no deprecated min/max for strings");
    cr_assert(o.min_exact);
    cr_assert_not(o.max_exact);
    cr_assert_eq(o.min_len, 1);
    cr_assert_eq(o.max_len, 64);
    cr_assert_eq(o.max[63], 'n');
    cr_assert_eq(o.null_count, 4);
    cr_assert_not(o.has_nan_count);

    /* A max of U+10FFFF: neither min nor max is written. */
    char top[100] = "";
    for (int i = 0; i < 20; i++) strcat(top, "\xF4\x8F\xBF\xBF");
    cr_assert(pq_col_bytes(x.c, top, 80));
    pq_stats_reset(&s);
    pq_stats_add(&s, x.c, 0, 4);
    pq_stats_finish(&s, &x.f, 64, &o);
    cr_assert_not(o.has_minmax);

    /* The Statistics struct: null_count only. */
    struct pq_buf b;
    pq_buf_init(&b, &mem);
    struct pq_thrift t;
    pq_thrift_init(&t, &b);
    pq_stats_write(&o, &t, 12);
    cr_assert(pq_thrift_end(&t));
    const uint8_t want[] = {0xCC, 0x36, 0x00, 0x00, 0x00}; /* field 12: delta 12, STRUCT */
    cr_assert_eq(b.len, sizeof want);
    cr_assert_eq(memcmp(b.data, want, sizeof want), 0);
    pq_buf_free(&b);
    pq_batch_free(&x.b);
}

Test(pq_stats, statistics_struct_bytes_for_int32)
{
    struct one x;
    one_init(&x, PQ_INT32, 0, 0);
    cr_assert(pq_col_i32(x.c, 7));
    cr_assert(pq_col_i32(x.c, -2));
    struct pq_stats s;
    pq_stats_reset(&s);
    pq_stats_add(&s, x.c, 0, 2);
    struct pq_stats_out o;
    pq_stats_finish(&s, &x.f, 64, &o);
    struct pq_buf b;
    pq_buf_init(&b, &mem);
    struct pq_thrift t;
    pq_thrift_init(&t, &b);
    pq_stats_write(&o, &t, 1);
    cr_assert(pq_thrift_end(&t));
    /* 1: max, 2: min (deprecated, signed INT32), 3: null_count 0, 5: max_value,
     * 6: min_value, 7/8: exact (true) */
    const uint8_t want[] = {0x1C,
                            0x18, 4, 7, 0, 0, 0,
                            0x18, 4, 0xFE, 0xFF, 0xFF, 0xFF,
                            0x16, 0x00,
                            0x28, 4, 7, 0, 0, 0,
                            0x18, 4, 0xFE, 0xFF, 0xFF, 0xFF,
                            0x11, 0x11,
                            0x00, 0x00};
    cr_assert_eq(b.len, sizeof want);
    cr_assert_eq(memcmp(b.data, want, sizeof want), 0);
    pq_buf_free(&b);
    pq_batch_free(&x.b);
}

Test(pq_stats, order_comparisons)
{
    uint8_t a[4], b[4];
    pq_store_u32le(a, (uint32_t)-5);
    pq_store_u32le(b, 3);
    cr_assert_lt(pq_order_cmp(PQ_ORDER_I32, a, 4, b, 4), 0);
    uint8_t n1[2] = {0xFF, 0xFF}, p1[2] = {0x00, 0x01}; /* -1 < 1 as decimals */
    cr_assert_lt(pq_order_cmp(PQ_ORDER_DECIMAL, n1, 2, p1, 2), 0);
    cr_assert_gt(pq_order_cmp(PQ_ORDER_BYTES, n1, 2, p1, 2), 0); /* but not as bytes */
    cr_assert_lt(pq_order_cmp(PQ_ORDER_BYTES, (const uint8_t *)"ab", 2, (const uint8_t *)"abc", 3), 0);
    cr_assert_eq(pq_order_cmp(PQ_ORDER_BYTES, (const uint8_t *)"", 0, (const uint8_t *)"", 0), 0);
}
