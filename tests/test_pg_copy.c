/* pg_copy: the binary COPY decoder on a stream produced by PostgreSQL 15, fed whole,
 * cut at every pair of positions and one byte at a time; then headers, flags,
 * extensions, limits, and every malformed or truncated stream. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_copy.h"

/* COPY (SELECT i, 'row ' || i AS t, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 1.5 END AS n,
 *              CASE WHEN i = 4 THEN repeat('x', 300) ELSE '' END AS big
 *       FROM generate_series(1, 5) i) TO STDOUT (FORMAT binary)
 * as PostgreSQL 15 sent it (captured with psycopg). */
static const uint8_t STREAM[] =
    "\x50\x47\x43\x4f\x50\x59\x0a\xff\x0d\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x05\x72\x6f\x77\x20\x31\x00\x00\x00\x0c\x00\x02\x00\x00\x00\x00"
    "\x00\x01\x00\x01\x13\x88\x00\x00\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00\x02\x00\x00\x00\x05\x72\x6f\x77\x20\x32\x00\x00\x00\x0a\x00\x01\x00\x00\x00\x00\x00\x01\x00\x03\x00\x00\x00\x00\x00"
    "\x04\x00\x00\x00\x04\x00\x00\x00\x03\x00\x00\x00\x05\x72\x6f\x77\x20\x33\xff\xff\xff\xff\x00\x00\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00\x05\x72\x6f\x77\x20\x34\x00\x00\x00"
    "\x0a\x00\x01\x00\x00\x00\x00\x00\x01\x00\x06\x00\x00\x01\x2c\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
    "\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
    "\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
    "\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
    "\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
    "\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
    "\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x00\x04\x00\x00\x00\x04\x00\x00\x00\x05\x00\x00\x00\x05\x72\x6f\x77\x20\x35\x00\x00"
    "\x00\x0c\x00\x02\x00\x00\x00\x00\x00\x01\x00\x07\x13\x88\x00\x00\x00\x00\xff\xff";
#define STREAM_LEN 500

struct log {
    char text[1 << 14];
    size_t len;
    bool ended, failed;
    char err[LW_ERR_MSG_MAX];
};

static void logf_(struct log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct log *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(l->text + l->len, sizeof l->text - l->len, fmt, ap);
    va_end(ap);
    cr_assert(k >= 0 && (size_t)k < sizeof l->text - l->len);
    l->len += (size_t)k;
}

/* Feeds one piece; logs rows and fields (fields as hex). False once failed. */
static bool feed(struct pg_copy *d, const uint8_t *p, size_t n, struct log *l)
{
    for (;;) {
        size_t used;
        struct pg_copy_field f;
        enum pg_copy_event ev = pg_copy_feed(d, p, n, &used, &f);
        cr_assert(used <= n);
        p += used;
        n -= used;
        switch (ev) {
        case PG_COPY_NEED_MORE: cr_assert_eq(n, 0); return true;
        case PG_COPY_ROW: logf_(l, "row %u\n", d->field_count); break;
        case PG_COPY_FIELD:
            logf_(l, " %u:", f.index);
            if (f.null) {
                cr_assert_null(f.data);
                logf_(l, "NULL");
            }
            for (size_t i = 0; i < f.len; i++) logf_(l, "%02x", f.data[i]);
            logf_(l, "\n");
            break;
        case PG_COPY_END: l->ended = true; logf_(l, "end\n"); break;
        case PG_COPY_ERROR:
            l->failed = true;
            snprintf(l->err, sizeof l->err, "%s", d->err.msg);
            return false;
        }
    }
}

/* Runs `data` cut at a and b (SIZE_MAX: one byte at a time) through a decoder with a
 * `cap`-byte field buffer. */
static void run(const uint8_t *data, size_t n, size_t a, size_t b, size_t cap, uint32_t expect, struct log *l)
{
    uint8_t *buf = malloc(cap);
    struct pg_copy d;
    pg_copy_init(&d, buf, cap);
    pg_copy_expect_fields(&d, expect);
    memset(l, 0, sizeof *l);
    if (a == SIZE_MAX) {
        for (size_t i = 0; i < n; i++)
            if (!feed(&d, data + i, 1, l)) break;
    } else {
        a = a < n ? a : n;
        b = b > a && b < n ? b : n;
        if (feed(&d, data, a, l) && feed(&d, data + a, b - a, l)) feed(&d, data + b, n - b, l);
    }
    struct lw_err e = { 0 };
    bool fin = pg_copy_finish(&d, &e);
    cr_assert_eq(fin, l->ended && !l->failed);
    if (!fin && !l->failed) snprintf(l->err, sizeof l->err, "%s", e.msg);
    if (l->ended && !l->failed) {
        cr_assert_eq(d.offset, n);
    }
    free(buf);
}

Test(pg_copy, server_stream_at_every_split)
{
    struct log *whole = malloc(sizeof *whole), *l = malloc(sizeof *l);
    run(STREAM, STREAM_LEN, 0, 0, 1024, 4, whole);
    cr_assert(whole->ended && !whole->failed, "%s", whole->err);
    /* row 1: 1, 'row 1', 1.5, ''; row 3: NULL numeric; row 4: 300 'x' */
    static const char first[] = "row 4\n 0:00000001\n 1:726f772031\n 2:000200000000000100011388\n 3:\n";
    cr_assert_eq(strncmp(whole->text, first, strlen(first)), 0, "%s", whole->text);
    cr_assert(strstr(whole->text, " 2:NULL\n") != NULL);
    cr_assert(strstr(whole->text, "7878787878") != NULL);
    cr_assert(strstr(whole->text, "end\n") != NULL);
    size_t rows = 0;
    for (const char *p = whole->text; (p = strstr(p, "row ")) != NULL; p++) rows++;
    cr_assert_eq(rows, 5);
    for (size_t a = 0; a <= STREAM_LEN; a++) {
        size_t cuts[][2] = { { a, 0 }, { a, a + 1 }, { a, a + 13 } };
        for (int c = 0; c < 3; c++) {
            run(STREAM, STREAM_LEN, cuts[c][0], cuts[c][1], 1024, 4, l);
            cr_assert_str_eq(l->text, whole->text, "cut at %zu/%zu", cuts[c][0], cuts[c][1]);
            cr_assert(l->ended);
        }
    }
    run(STREAM, STREAM_LEN, SIZE_MAX, 0, 1024, 0, l);
    cr_assert_str_eq(l->text, whole->text);
    /* a field buffer exactly as large as the largest field still works at every split */
    for (size_t a = 0; a <= STREAM_LEN; a += 7) {
        run(STREAM, STREAM_LEN, a, a + 150, 300, 0, l);
        cr_assert_str_eq(l->text, whole->text);
    }
    free(whole);
    free(l);
}

Test(pg_copy, fields_are_slices_of_the_input_when_whole)
{
    uint8_t buf[512];
    struct pg_copy d;
    pg_copy_init(&d, buf, sizeof buf);
    size_t off = 0, fields = 0, inside = 0;
    for (;;) {
        size_t used;
        struct pg_copy_field f;
        enum pg_copy_event ev = pg_copy_feed(&d, STREAM + off, STREAM_LEN - off, &used, &f);
        off += used;
        if (ev == PG_COPY_FIELD && !f.null && f.len > 0) {
            fields++;
            if (f.data >= STREAM && f.data + f.len <= STREAM + STREAM_LEN) inside++;
        }
        if (ev == PG_COPY_END || ev == PG_COPY_ERROR || ev == PG_COPY_NEED_MORE) {
            cr_assert_eq(ev, PG_COPY_END);
            break;
        }
    }
    cr_assert(fields > 10);
    cr_assert_eq(inside, fields);
    cr_assert_eq(d.rows, 5);
}

/* A stream made by hand: header (flags, extension), then the given tuples. */
struct mk {
    uint8_t d[4096];
    size_t n;
};

static void mk_put(struct mk *m, const void *p, size_t n)
{
    memcpy(m->d + m->n, p, n);
    m->n += n;
}

static void mk_i16(struct mk *m, int v)
{
    uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    mk_put(m, x, 2);
}

static void mk_i32(struct mk *m, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    mk_put(m, x, 4);
}

static void mk_header(struct mk *m, uint32_t flags, const char *ext)
{
    m->n = 0;
    mk_put(m, "PGCOPY\n\xff\r\n\0", 11);
    mk_i32(m, flags);
    mk_i32(m, (uint32_t)strlen(ext));
    mk_put(m, ext, strlen(ext));
}

static void expect_error(const struct mk *m, uint32_t expect, size_t cap, const char *want)
{
    struct log l;
    for (size_t a = 0; a <= m->n; a++) {
        run(m->d, m->n, a, 0, cap, expect, &l);
        cr_assert(strstr(l.err, want) != NULL, "cut %zu: want \"%s\", got \"%s\" (log %s)", a, want, l.err, l.text);
    }
}

Test(pg_copy, header_flags_and_extension)
{
    struct mk m;
    struct log l;
    mk_header(&m, 1u << 17 | 1u << 31, "future extension data");   /* non-critical flags: ignored */
    mk_i16(&m, 2);
    mk_i32(&m, 0xffffffffu);
    mk_i32(&m, 3);
    mk_put(&m, "abc", 3);
    mk_i16(&m, 0);                                                  /* a tuple of no fields */
    mk_i16(&m, -1);
    for (size_t a = 0; a <= m.n; a++) {
        run(m.d, m.n, a, a + 3, 16, 0, &l);
        cr_assert_str_eq(l.text, "row 2\n 0:NULL\n 1:616263\nrow 0\nend\n", "cut %zu", a);
    }

    mk_header(&m, 1u << 16, "");
    mk_i16(&m, -1);
    expect_error(&m, 0, 16, "includes OIDs (flag bit 16)");
    mk_header(&m, 1u << 3, "");
    expect_error(&m, 0, 16, "unknown critical flags 0x0008");
    m.n = 0;
    mk_put(&m, "PGCOPY\n\xff\r\n\1", 11);
    expect_error(&m, 0, 16, "byte 0 (row 1): no PGCOPY signature");
    m.n = 0;
    mk_put(&m, "1\tfoo\n2\tbar\n\\.\n", 15);
    expect_error(&m, 0, 16, "not a binary COPY stream");
    mk_header(&m, 0, "");
    m.n -= 4;
    mk_i32(&m, 0x80000000u);
    expect_error(&m, 0, 16, "negative header extension length");
}

Test(pg_copy, malformed_tuples)
{
    struct mk m;
    mk_header(&m, 0, "");
    mk_i16(&m, -2);
    expect_error(&m, 0, 16, "byte 19 (row 1): a tuple with -2 fields");
    mk_header(&m, 0, "");
    mk_i16(&m, 1665);
    expect_error(&m, 0, 16, "more than PostgreSQL allows");
    mk_header(&m, 0, "");
    mk_i16(&m, 3);
    expect_error(&m, 2, 16, "a tuple with 3 fields where 2 were expected");
    mk_header(&m, 0, "");
    mk_i16(&m, 1);
    mk_i32(&m, 0xfffffffeu);
    expect_error(&m, 0, 16, "byte 21 (row 1): field 1 has length -2");
    mk_header(&m, 0, "");
    mk_i16(&m, 1);
    mk_i32(&m, 1);
    mk_put(&m, "x", 1);
    mk_i16(&m, 1);
    mk_i32(&m, 17);
    expect_error(&m, 0, 16, "(row 2): field 1 is 17 bytes, over the limit of 16 bytes");
    mk_header(&m, 0, "");
    mk_i16(&m, -1);
    mk_put(&m, "z", 1);
    expect_error(&m, 0, 16, "bytes after the trailer");
}

Test(pg_copy, truncated_streams_are_reported_by_finish)
{
    static const struct { size_t len; const char *want; } cuts[] = {
        { 0, "cut in the signature after 0 bytes" },
        { 5, "cut in the signature" },
        { 13, "cut in the header flags" },
        { 17, "cut in the header" },
        { 19, "cut before the trailer after 19 bytes and 0 rows" },
        { 20, "cut before the trailer" },
        { 23, "cut inside a tuple" },
        { 27, "cut inside a field" },
        { STREAM_LEN - 2, "and 5 rows" },
        { STREAM_LEN - 1, "cut before the trailer" },
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        struct log l;
        run(STREAM, cuts[i].len, 0, 0, 1024, 0, &l);
        cr_assert_not(l.ended);
        cr_assert(strstr(l.err, cuts[i].want) != NULL, "%zu bytes: want \"%s\", got \"%s\"", cuts[i].len,
                  cuts[i].want, l.err);
    }
    /* after an error, the decoder stays failed and finish repeats the error */
    uint8_t buf[8];
    struct pg_copy d;
    pg_copy_init(&d, buf, sizeof buf);
    size_t used;
    struct pg_copy_field f;
    cr_assert_eq(pg_copy_feed(&d, (const uint8_t *)"NOTPGCOPYxx", 11, &used, &f), PG_COPY_ERROR);
    cr_assert_eq(pg_copy_feed(&d, STREAM, 11, &used, &f), PG_COPY_ERROR);
    cr_assert_eq(used, 0);
    struct lw_err e;
    cr_assert_not(pg_copy_finish(&d, &e));
    cr_assert_eq(e.code, PG_COPY_E_FORMAT);
    cr_assert(strstr(e.msg, "no PGCOPY signature") != NULL);
}
