/* pg_types: every decoder on values produced by PostgreSQL 15, compared with what the
 * server itself says they are; then the edges the server does not produce
 * (malformed bytes, ranges, scaled numerics, arrays, type modifiers). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_types.h"

/* Each row: a SQL expression; its type OID; the field bytes of
 *   COPY (SELECT <expr>) TO STDOUT (FORMAT binary)
 * as PostgreSQL 15 sent them; and the value as the server describes it:
 *   integers, floats, numeric, uuid     <expr>::text
 *   date                                <expr> - DATE '1970-01-01' (days), or 'infinity'
 *   timestamp(tz), time                 EXTRACT(EPOCH FROM <expr>) * 1000000, or 'infinity'
 *   text types, json(b), bytea          hex of format('%s', <expr>), ::text, encode(.., 'hex')
 *   arrays                              array_dims, the element OID, unnest() in order
 * (values captured with psycopg; "range": a valid timestamp past int64 Unix microseconds). */
static const struct sample {
    const char *expr;
    uint32_t oid;
    const char *hex, *want;
} SAMPLES[] = {
    { "0::int2", 21, "0000", "0" },
    { "-1::int2", 21, "ffff", "-1" },
    { "32767::int2", 21, "7fff", "32767" },
    { "(-32768)::int2", 21, "8000", "-32768" },
    { "42::int4", 23, "0000002a", "42" },
    { "2147483647::int4", 23, "7fffffff", "2147483647" },
    { "(-2147483648)::int4", 23, "80000000", "-2147483648" },
    { "9223372036854775807::int8", 20, "7fffffffffffffff", "9223372036854775807" },
    { "(-9223372036854775808)::int8", 20, "8000000000000000", "-9223372036854775808" },
    { "0::int8", 20, "0000000000000000", "0" },
    { "1.5::float4", 700, "3fc00000", "1.5" },
    { "'-0'::float4", 700, "80000000", "-0" },
    { "'NaN'::float4", 700, "7fc00000", "NaN" },
    { "'Infinity'::float4", 700, "7f800000", "Infinity" },
    { "'-Infinity'::float4", 700, "ff800000", "-Infinity" },
    { "1e-45::float4", 700, "00000001", "1e-45" },
    { "3.4028235e38::float4", 700, "7f7fffff", "3.4028235e+38" },
    { "0.1::float8", 701, "3fb999999999999a", "0.1" },
    { "'NaN'::float8", 701, "7ff8000000000000", "NaN" },
    { "'-Infinity'::float8", 701, "fff0000000000000", "-Infinity" },
    { "1.7976931348623157e308::float8", 701, "7fefffffffffffff", "1.7976931348623157e+308" },
    { "5e-324::float8", 701, "0000000000000001", "5e-324" },
    { "(-2.5)::float8", 701, "c004000000000000", "-2.5" },
    { "0::numeric", 1700, "0000000000000000", "0" },
    { "0.000::numeric", 1700, "0000000000000003", "0.000" },
    { "1::numeric", 1700, "00010000000000000001", "1" },
    { "(-1)::numeric", 1700, "00010000400000000001", "-1" },
    { "12345.678::numeric", 1700, "0003000100000003000109291a7c", "12345.678" },
    { "(-0.0001)::numeric", 1700, "0001ffff400000040001", "-0.0001" },
    { "0.00000000000000000001::numeric", 1700, "0001fffb000000140001", "0.00000000000000000001" },
    { "99999999999999999999999999999999999999::numeric", 1700, "000a0009000000000063270f270f270f270f270f270f270f270f270f", "99999999999999999999999999999999999999" },
    { "1e100::numeric", 1700, "00010019000000000001", "10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" },
    { "'NaN'::numeric", 1700, "00000000c0000000", "NaN" },
    { "'Infinity'::numeric", 1700, "00000000d0000020", "Infinity" },
    { "'-Infinity'::numeric", 1700, "00000000f0000020", "-Infinity" },
    { "123.4500::numeric", 1700, "0002000000000004007b1194", "123.4500" },
    { "10000::numeric", 1700, "00010001000000000001", "10000" },
    { "0.5::numeric(10,5)", 1700, "0001ffff000000051388", "0.50000" },
    { "12345::numeric(5,-2)", 1700, "0002000100000000000108fc", "12300" },
    { "1234567.891::numeric(10,-3)", 1700, "0002000100000000007b1388", "1235000" },
    { "(-9999.9999)::numeric", 1700, "0002000040000004270f270f", "-9999.9999" },
    { "100000000.00000001::numeric", 1700, "000500020000000800010000000000000001", "100000000.00000001" },
    { "1e-200::numeric", 1700, "0001ffce000000c80001", "0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001" },
    { "(-123456789012345678901234567890.123456789)::numeric", 1700, "000b000740000009000c0d801ed204d2162e23340d801ed204d2162e2328", "-123456789012345678901234567890.123456789" },
    { "'2000-01-01'::date", 1082, "00000000", "10957" },
    { "'1970-01-01'::date", 1082, "ffffd533", "0" },
    { "'1969-12-31'::date", 1082, "ffffd532", "-1" },
    { "'1900-02-28'::date", 1082, "ffff718e", "-25509" },
    { "'0001-01-01'::date", 1082, "fff4dbf9", "-719162" },
    { "'4714-11-24 BC'::date", 1082, "ffda97a7", "-2440588" },
    { "'5874897-12-31'::date", 1082, "7fda970c", "2145042905" },
    { "'infinity'::date", 1082, "7fffffff", "infinity" },
    { "'-infinity'::date", 1082, "80000000", "-infinity" },
    { "'2024-02-29'::date", 1082, "00002279", "19782" },
    { "'2000-01-01 00:00:00'::timestamp", 1114, "0000000000000000", "946684800000000" },
    { "'1970-01-01 00:00:00'::timestamp", 1114, "fffca2fec4c82000", "0" },
    { "'1969-12-31 23:59:59.999999'::timestamp", 1114, "fffca2fec4c81fff", "-1" },
    { "'1900-01-01 12:34:56.789'::timestamp", 1114, "fff4c9f907f1a608", "-2208943503211000" },
    { "'294276-12-31 23:59:59.999999'::timestamp", 1114, "7fffff5bb3b29fff", "range" },
    { "'4714-11-24 00:00:00 BC'::timestamp", 1114, "fd0f7cc1411fa000", "-210866803200000000" },
    { "'infinity'::timestamp", 1114, "7fffffffffffffff", "infinity" },
    { "'-infinity'::timestamp", 1114, "8000000000000000", "-infinity" },
    { "'2024-03-10 12:00:00+05:30'::timestamptz", 1184, "0002b64752b5ca00", "1710052200000000" },
    { "'1960-06-01 00:00:00.000001+00'::timestamptz", 1184, "fffb8fe2aa5c4001", "-302486399999999" },
    { "'infinity'::timestamptz", 1184, "7fffffffffffffff", "infinity" },
    { "'00:00'::time", 1083, "0000000000000000", "0" },
    { "'23:59:59.999999'::time", 1083, "000000141dd75fff", "86399999999" },
    { "'24:00:00'::time", 1083, "000000141dd76000", "86400000000" },
    { "true", 16, "01", "true" },
    { "false", 16, "00", "false" },
    { "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", 2950, "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" },
    { "'00000000-0000-0000-0000-000000000000'::uuid", 2950, "00000000000000000000000000000000", "00000000-0000-0000-0000-000000000000" },
    { "''::text", 25, "", "" },
    { "'hello'::text", 25, "68656c6c6f", "68656c6c6f" },
    { "'héllo ✓ 😀'::text", 25, "68c3a96c6c6f20e29c9320f09f9880", "68c3a96c6c6f20e29c9320f09f9880" },
    { "E'tab\\there\\nnewline'::text", 25, "74616209686572650a6e65776c696e65", "74616209686572650a6e65776c696e65" },
    { "'abc'::varchar(5)", 1043, "616263", "616263" },
    { "'ab'::char(4)", 1042, "61622020", "61622020" },
    { "'x'::name", 19, "78", "78" },
    { "'{\"a\": [1, 2.50, null]}'::json", 114, "7b2261223a205b312c20322e35302c206e756c6c5d7d", "7b2261223a205b312c20322e35302c206e756c6c5d7d" },
    { "'{\"b\":1, \"a\": [1, 2.50]}'::jsonb", 3802, "017b2261223a205b312c20322e35305d2c202262223a20317d", "7b2261223a205b312c20322e35305d2c202262223a20317d" },
    { "'\"\"'::jsonb", 3802, "012222", "2222" },
    { "'\\x00ff10'::bytea", 17, "00ff10", "00ff10" },
    { "''::bytea", 17, "", "" },
    { "ARRAY[1,2,NULL]::int4[]", 1007, "000000010000000100000017000000030000000100000004000000010000000400000002ffffffff", "dims=[1:3] elem=23 values=1,2,NULL" },
    { "'{}'::int4[]", 1007, "000000000000000000000017", "dims= elem=23 values=" },
    { "ARRAY[[1,2,3],[4,5,6]]::int4[]", 1007, "00000002000000000000001700000002000000010000000300000001000000040000000100000004000000020000000400000003000000040000000400000004000000050000000400000006", "dims=[1:2][1:3] elem=23 values=1,2,3,4,5,6" },
    { "'[0:1]={7,8}'::int4[]", 1007, "000000010000000000000017000000020000000000000004000000070000000400000008", "dims=[0:1] elem=23 values=7,8" },
    { "ARRAY['a','b c',NULL]::text[]", 1009, "0000000100000001000000190000000300000001000000016100000003622063ffffffff", "dims=[1:3] elem=25 values=61,622063,NULL" },
    { "ARRAY[1.5,NULL,-2]::numeric[]", 1231, "0000000100000001000006a400000003000000010000000c000200000000000100011388ffffffff0000000a00010000400000000002", "dims=[1:3] elem=1700 values=1.5,NULL,-2" },
    { "ARRAY['2000-01-01'::date, '1969-07-20']", 1182, "00000001000000000000043a0000000200000001000000040000000000000004ffffd48e", "dims=[1:2] elem=1082 values=10957,-165" },
    { "ARRAY[true,false]", 1000, "000000010000000000000010000000020000000100000001010000000100", "dims=[1:2] elem=16 values=true,false" },
    { "ARRAY[[[1]],[[2]]]::int8[]", 1016, "000000030000000000000014000000020000000100000001000000010000000100000001000000080000000000000001000000080000000000000002", "dims=[1:2][1:1][1:1] elem=20 values=1,2" },
};

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    cr_assert(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

static const char *special_name(enum pg_val_special s)
{
    return s == PG_VAL_POS_INFINITY ? "infinity" : s == PG_VAL_NEG_INFINITY ? "-infinity" : "NaN";
}

/* The canonical text of a scalar (see the table's comment); false if the decoder
 * refused the value (`why` says how). */
static bool scalar(uint32_t oid, const uint8_t *p, size_t n, char *out, size_t cap, enum pg_val_error *why)
{
    enum pg_val_error e = PG_VAL_OK;
    enum pg_val_special sp = PG_VAL_FINITE;
    switch (oid) {
    case PG_OID_INT2: { int16_t v; if ((e = pg_val_int2(p, n, &v)) == PG_VAL_OK) snprintf(out, cap, "%d", v); break; }
    case PG_OID_INT4: { int32_t v; if ((e = pg_val_int4(p, n, &v)) == PG_VAL_OK) snprintf(out, cap, "%d", v); break; }
    case PG_OID_INT8: {
        int64_t v;
        if ((e = pg_val_int8(p, n, &v)) == PG_VAL_OK) snprintf(out, cap, "%lld", (long long)v);
        break;
    }
    case PG_OID_FLOAT4: { float v; if ((e = pg_val_float4(p, n, &v)) == PG_VAL_OK) snprintf(out, cap, "%a", (double)v); break; }
    case PG_OID_FLOAT8: { double v; if ((e = pg_val_float8(p, n, &v)) == PG_VAL_OK) snprintf(out, cap, "%a", v); break; }
    case PG_OID_NUMERIC: {
        size_t len;
        e = pg_val_numeric_text(p, n, out, cap, &len, &sp);
        if (e == PG_VAL_OK) cr_assert_eq(strlen(out), len);
        break;
    }
    case PG_OID_DATE: {
        int32_t d;
        if ((e = pg_val_date(p, n, &d, &sp)) == PG_VAL_OK) {
            if (sp != PG_VAL_FINITE) snprintf(out, cap, "%s", special_name(sp));
            else snprintf(out, cap, "%d", d);
        }
        break;
    }
    case PG_OID_TIMESTAMP:
    case PG_OID_TIMESTAMPTZ: {
        int64_t t;
        if ((e = pg_val_timestamp(p, n, &t, &sp)) == PG_VAL_OK) {
            if (sp != PG_VAL_FINITE) snprintf(out, cap, "%s", special_name(sp));
            else snprintf(out, cap, "%lld", (long long)t);
        }
        break;
    }
    case PG_OID_TIME: { int64_t t; if ((e = pg_val_time(p, n, &t)) == PG_VAL_OK) snprintf(out, cap, "%lld", (long long)t); break; }
    case PG_OID_BOOL: { bool b; if ((e = pg_val_bool(p, n, &b)) == PG_VAL_OK) snprintf(out, cap, "%s", b ? "true" : "false"); break; }
    case PG_OID_UUID: {
        uint8_t u[16];
        if ((e = pg_val_uuid(p, n, u)) == PG_VAL_OK)
            snprintf(out, cap, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
                     u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        break;
    }
    case PG_OID_JSONB: {
        const uint8_t *t;
        size_t tl;
        if ((e = pg_val_jsonb(p, n, &t, &tl)) == PG_VAL_OK) hex(t, tl, out);
        break;
    }
    case PG_OID_TEXT: case PG_OID_VARCHAR: case PG_OID_BPCHAR: case PG_OID_NAME: case PG_OID_JSON: case PG_OID_BYTEA:
        hex(p, n, out);
        break;
    default: cr_assert_fail("no decoder for oid %u", oid);
    }
    *why = e;
    return e == PG_VAL_OK;
}

/* Floats: the server's text parsed back must give the very same bits. */
static void check_float(const struct sample *s, const uint8_t *p, size_t n)
{
    if (s->oid == PG_OID_FLOAT4) {
        float v;
        cr_assert_eq(pg_val_float4(p, n, &v), PG_VAL_OK);
        float want = strtof(s->want, NULL);
        if (isnan(want)) cr_assert(isnan(v), "%s", s->expr);
        else cr_assert(memcmp(&v, &want, 4) == 0, "%s: %a vs %a", s->expr, (double)v, (double)want);
    } else {
        double v;
        cr_assert_eq(pg_val_float8(p, n, &v), PG_VAL_OK);
        double want = strtod(s->want, NULL);
        if (isnan(want)) cr_assert(isnan(v), "%s", s->expr);
        else cr_assert(memcmp(&v, &want, 8) == 0, "%s: %a vs %a", s->expr, v, want);
    }
}

static void check_array(const struct sample *s, const uint8_t *p, size_t n)
{
    struct pg_array a;
    uint32_t elem = pg_oid_array_element(s->oid);
    cr_assert_neq(elem, 0, "%s", s->expr);
    cr_assert_eq(pg_val_array_open(p, n, elem, 0, &a), PG_VAL_OK, "%s", s->expr);
    char got[1024];
    int k = snprintf(got, sizeof got, "dims=");
    for (uint32_t i = 0; i < a.ndim; i++)
        k += snprintf(got + k, sizeof got - (size_t)k, "[%d:%d]", a.lower[i], a.lower[i] + a.dims[i] - 1);
    k += snprintf(got + k, sizeof got - (size_t)k, " elem=%u values=", a.elem_oid);
    const uint8_t *d;
    size_t len;
    bool null;
    uint64_t count = 0;
    while (pg_val_array_next(&a, &d, &len, &null)) {
        if (count++ > 0) k += snprintf(got + k, sizeof got - (size_t)k, ",");
        if (null) {
            k += snprintf(got + k, sizeof got - (size_t)k, "NULL");
            continue;
        }
        enum pg_val_error e;
        cr_assert(scalar(elem, d, len, got + k, sizeof got - (size_t)k, &e), "%s: %s", s->expr, pg_val_strerror(e));
        k += (int)strlen(got + k);
    }
    cr_assert_eq(count, a.count);
    cr_assert_str_eq(got, s->want, "%s", s->expr);
}

Test(pg_types, server_values_decode_to_what_the_server_says)
{
    for (size_t i = 0; i < sizeof SAMPLES / sizeof SAMPLES[0]; i++) {
        const struct sample *s = &SAMPLES[i];
        uint8_t bytes[512];
        size_t n = unhex(s->hex, bytes, sizeof bytes);
        /* a copy of exactly n bytes, so that ASan sees any read past the value */
        uint8_t *p = malloc(n > 0 ? n : 1);
        memcpy(p, bytes, n);
        if (pg_oid_array_element(s->oid) != 0) {
            check_array(s, p, n);
        } else if (s->oid == PG_OID_FLOAT4 || s->oid == PG_OID_FLOAT8) {
            check_float(s, p, n);
        } else {
            char got[512];
            enum pg_val_error e;
            bool ok = scalar(s->oid, p, n, got, sizeof got, &e);
            if (strcmp(s->want, "range") == 0) {
                cr_assert_not(ok, "%s", s->expr);
                cr_assert_eq(e, PG_VAL_E_RANGE);
            } else {
                cr_assert(ok, "%s: %s", s->expr, pg_val_strerror(e));
                cr_assert_str_eq(got, s->want, "%s", s->expr);
            }
        }
        cr_assert_not_null(pg_oid_name(s->oid), "%u", s->oid);
        free(p);
    }
}

/* ------------------------------------------------------------------------- */
/* Edges */

static size_t numeric(uint8_t *out, int ndigits, int weight, unsigned sign, unsigned dscale, const int *digits)
{
    out[0] = (uint8_t)(ndigits >> 8);
    out[1] = (uint8_t)ndigits;
    out[2] = (uint8_t)(weight >> 8);
    out[3] = (uint8_t)weight;
    out[4] = (uint8_t)(sign >> 8);
    out[5] = (uint8_t)sign;
    out[6] = (uint8_t)(dscale >> 8);
    out[7] = (uint8_t)dscale;
    for (int i = 0; i < ndigits; i++) {
        out[8 + 2 * i] = (uint8_t)(digits[i] >> 8);
        out[9 + 2 * i] = (uint8_t)digits[i];
    }
    return 8 + 2 * (size_t)ndigits;
}

static const char *numeric_text(const uint8_t *p, size_t n)
{
    static char out[256];
    size_t len;
    enum pg_val_special sp;
    enum pg_val_error e = pg_val_numeric_text(p, n, out, sizeof out, &len, &sp);
    if (e != PG_VAL_OK) snprintf(out, sizeof out, "error: %s", pg_val_strerror(e));
    return out;
}

Test(pg_types, numeric_text_edges)
{
    uint8_t b[80];
    const int d1[] = { 12 }, d2[] = { 0, 0, 5 }, d3[] = { 1, 2 }, d4[] = { 0, 0 }, d5[] = { 5000 };
    cr_assert_str_eq(numeric_text(b, numeric(b, 1, 3, 0, 0, d1)), "12000000000000");   /* weight past digits */
    cr_assert_str_eq(numeric_text(b, numeric(b, 3, 1, 0, 0, d2)), "0.0005");           /* leading zero groups */
    cr_assert_str_eq(numeric_text(b, numeric(b, 2, -3, 0x4000, 0, d3)), "-0.0000000000010002"); /* beyond dscale: kept */
    cr_assert_str_eq(numeric_text(b, numeric(b, 2, -1, 0, 2, d4)), "0.00");            /* zeros only */
    cr_assert_str_eq(numeric_text(b, numeric(b, 0, 0, 0x4000, 2, NULL)), "0.00");      /* no "-0" */
    cr_assert_str_eq(numeric_text(b, numeric(b, 1, -1, 0, 1, d5)), "0.5");
    cr_assert_str_eq(numeric_text(b, numeric(b, 1, -1, 0, 6, d5)), "0.500000");
    /* malformed */
    const int bad_digit[] = { 10000 };
    cr_assert_str_eq(numeric_text(b, numeric(b, 1, 0, 0, 0, bad_digit)), "error: bytes its type cannot hold");
    cr_assert_str_eq(numeric_text(b, numeric(b, 1, 0, 0x8000, 0, d1)), "error: bytes its type cannot hold");
    cr_assert_str_eq(numeric_text(b, numeric(b, 1, 0, 0xC000, 0, d1)), "error: bytes its type cannot hold");
    cr_assert_str_eq(numeric_text(b, numeric(b, 0, 0, 0, 0x4000, NULL)), "error: bytes its type cannot hold");
    size_t n = numeric(b, 1, 0, 0, 0, d1);
    cr_assert_str_eq(numeric_text(b, n - 1), "error: wrong length for its type");
    cr_assert_str_eq(numeric_text(b, 7), "error: wrong length for its type");
    b[0] = 0x80;   /* ndigits < 0 */
    cr_assert_str_eq(numeric_text(b, n), "error: wrong length for its type");
    /* too small a buffer, and the largest values in PG_NUMERIC_TEXT_MAX */
    char small[4];
    size_t len;
    enum pg_val_special sp;
    n = numeric(b, 1, 1, 0, 0, d1);
    cr_assert_eq(pg_val_numeric_text(b, n, small, sizeof small, &len, &sp), PG_VAL_E_SPACE);
    n = numeric(b, 0, 0, 0xF000, 0, NULL);
    cr_assert_eq(pg_val_numeric_text(b, n, small, sizeof small, &len, &sp), PG_VAL_E_SPACE);  /* "-Infinity" */
    cr_assert_eq(sp, PG_VAL_NEG_INFINITY);
    char *big = malloc(PG_NUMERIC_TEXT_MAX);
    size_t bn = 8 + 2 * 32767;
    uint8_t *bb = malloc(bn);
    int *digits = malloc(sizeof(int) * 32767);
    for (int i = 0; i < 32767; i++) digits[i] = 9999;
    numeric(bb, 32767, 32767, 0x4000, 0x3fff, digits);
    cr_assert_eq(pg_val_numeric_text(bb, bn, big, PG_NUMERIC_TEXT_MAX, &len, &sp), PG_VAL_OK);
    cr_assert_eq(len, 1 + 4 * 32768 + 1 + 16383);   /* weight 32767: 32768 groups before the point */
    numeric(bb, 32767, -32768, 0, 0, digits);
    cr_assert_eq(pg_val_numeric_text(bb, bn, big, PG_NUMERIC_TEXT_MAX, &len, &sp), PG_VAL_OK);
    cr_assert_eq(len, 2 + 4 * (32766 + 32768));
    cr_assert(len < PG_NUMERIC_TEXT_MAX);
    free(digits);
    free(bb);
    free(big);
}

static enum pg_val_error scaled(const char *hexbytes, int p, int s, __int128 *out)
{
    uint8_t b[128];
    size_t n = unhex(hexbytes, b, sizeof b);
    enum pg_val_special sp;
    return pg_val_numeric_scaled(b, n, p, s, out, &sp);
}

static const char *find(const char *expr)
{
    for (size_t i = 0; i < sizeof SAMPLES / sizeof SAMPLES[0]; i++)
        if (strcmp(SAMPLES[i].expr, expr) == 0) return SAMPLES[i].hex;
    cr_assert_fail("no sample %s", expr);
    return NULL;
}

Test(pg_types, numeric_scaled)
{
    __int128 v = 0;
    cr_assert_eq(scaled(find("12345.678::numeric"), 10, 3, &v), PG_VAL_OK);
    cr_assert(v == 12345678);
    cr_assert_eq(scaled(find("12345.678::numeric"), 12, 5, &v), PG_VAL_OK);
    cr_assert(v == 1234567800);
    cr_assert_eq(scaled(find("12345.678::numeric"), 10, 2, &v), PG_VAL_E_INEXACT);
    cr_assert_eq(scaled(find("12345.678::numeric"), 7, 3, &v), PG_VAL_E_OVERFLOW);
    cr_assert_eq(scaled(find("12345.678::numeric"), 8, 3, &v), PG_VAL_OK);
    cr_assert_eq(scaled(find("(-0.0001)::numeric"), 4, 4, &v), PG_VAL_OK);
    cr_assert(v == -1);
    cr_assert_eq(scaled(find("(-0.0001)::numeric"), 4, 3, &v), PG_VAL_E_INEXACT);
    cr_assert_eq(scaled(find("0.00000000000000000001::numeric"), 21, 20, &v), PG_VAL_OK);
    cr_assert(v == 1);
    cr_assert_eq(scaled(find("99999999999999999999999999999999999999::numeric"), 38, 0, &v), PG_VAL_OK);
    __int128 max38 = (__int128)10000000000000000000ull * 10000000000000000000ull - 1;
    cr_assert(v == max38);
    cr_assert_eq(scaled(find("99999999999999999999999999999999999999::numeric"), 38, 1, &v), PG_VAL_E_OVERFLOW);
    cr_assert_eq(scaled(find("99999999999999999999999999999999999999::numeric"), 37, 0, &v), PG_VAL_E_OVERFLOW);
    cr_assert_eq(scaled(find("1e100::numeric"), 38, 0, &v), PG_VAL_E_OVERFLOW);
    cr_assert_eq(scaled(find("1e-200::numeric"), 38, 38, &v), PG_VAL_E_INEXACT);
    cr_assert_eq(scaled(find("'NaN'::numeric"), 10, 0, &v), PG_VAL_E_SPECIAL);
    cr_assert_eq(scaled(find("'-Infinity'::numeric"), 10, 0, &v), PG_VAL_E_SPECIAL);
    cr_assert_eq(scaled(find("12345::numeric(5,-2)"), 5, 0, &v), PG_VAL_OK);
    cr_assert(v == 12300);
    cr_assert_eq(scaled(find("1234567.891::numeric(10,-3)"), 10, 2, &v), PG_VAL_OK);
    cr_assert(v == 123500000);
    cr_assert_eq(scaled(find("0.000::numeric"), 1, 0, &v), PG_VAL_OK);
    cr_assert(v == 0);
    /* 39 digits: one more than precision 38 allows, whatever the scale */
    const char *h39 = find("(-123456789012345678901234567890.123456789)::numeric");
    cr_assert_eq(scaled(h39, 38, 9, &v), PG_VAL_E_OVERFLOW);
    cr_assert_eq(scaled(h39, 38, 8, &v), PG_VAL_E_INEXACT);
    cr_assert_eq(scaled(find("(-9999.9999)::numeric"), 8, 4, &v), PG_VAL_OK);
    cr_assert(v == -99999999);
    /* digits whose weight puts them far above the precision */
    uint8_t b[16];
    const int d[] = { 9999 };
    enum pg_val_special sp;
    size_t n = numeric(b, 1, 9, 0, 0, d);   /* 9999 * 10^36: 40 digits */
    cr_assert_eq(pg_val_numeric_scaled(b, n, 38, 0, &v, &sp), PG_VAL_E_OVERFLOW);
    n = numeric(b, 1, 8, 0, 0, d);          /* 9999 * 10^32: 36 digits */
    cr_assert_eq(pg_val_numeric_scaled(b, n, 38, 2, &v, &sp), PG_VAL_OK);
    cr_assert(v == (__int128)9999 * 10000000000000000ll * 10000000000000000ll * 100);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

Test(pg_types, dates_timestamps_and_times_at_their_edges)
{
    uint8_t b[8] = { 0 };
    int32_t d;
    int64_t t;
    enum pg_val_special sp;
    put32(b, (uint32_t)(INT32_MAX - 1));
    cr_assert_eq(pg_val_date(b, 4, &d, &sp), PG_VAL_E_RANGE);
    put32(b, (uint32_t)(INT32_MAX - PG_DAYS_2000_FROM_1970));
    cr_assert_eq(pg_val_date(b, 4, &d, &sp), PG_VAL_OK);
    cr_assert_eq(d, INT32_MAX);
    put32(b, (uint32_t)INT32_MIN + 1);
    cr_assert_eq(pg_val_date(b, 4, &d, &sp), PG_VAL_OK);
    cr_assert_eq(d, INT32_MIN + 1 + PG_DAYS_2000_FROM_1970);
    cr_assert_eq(pg_val_date(b, 3, &d, &sp), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_date(b, 5, &d, &sp), PG_VAL_E_LENGTH);
    put32(b, 0x7fffffff);
    put32(b + 4, 0xfffffffe);   /* INT64_MAX - 1 */
    cr_assert_eq(pg_val_timestamp(b, 8, &t, &sp), PG_VAL_E_RANGE);
    put32(b, 0x80000000);
    put32(b + 4, 0x00000001);   /* INT64_MIN + 1: fine, it moves up */
    cr_assert_eq(pg_val_timestamp(b, 8, &t, &sp), PG_VAL_OK);
    cr_assert_eq(sp, PG_VAL_FINITE);
    cr_assert_eq(t, INT64_MIN + 1 + PG_USEC_2000_FROM_1970);
    cr_assert_eq(pg_val_timestamp(b, 7, &t, &sp), PG_VAL_E_LENGTH);
    put32(b, 0);
    put32(b + 4, 0);
    b[0] = 0xff;   /* negative time */
    cr_assert_eq(pg_val_time(b, 8, &t), PG_VAL_E_FORMAT);
    b[0] = 0;
    put32(b + 4, 1);
    b[3] = 0x15;   /* past 24:00 */
    cr_assert_eq(pg_val_time(b, 8, &t), PG_VAL_E_FORMAT);
}

Test(pg_types, scalar_refusals)
{
    uint8_t b[17] = { 2 };
    bool v;
    int16_t i2;
    int32_t i4;
    int64_t i8;
    float f4;
    double f8;
    uint32_t oid;
    uint8_t u[16];
    const uint8_t *t;
    size_t tl;
    cr_assert_eq(pg_val_bool(b, 1, &v), PG_VAL_E_FORMAT);
    cr_assert_eq(pg_val_bool(b, 2, &v), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_int2(b, 4, &i2), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_int4(b, 2, &i4), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_int8(b, 4, &i8), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_float4(b, 8, &f4), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_float8(b, 4, &f8), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_oid(b, 8, &oid), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_uuid(b, 17, u), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_jsonb(b, 0, &t, &tl), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_jsonb(b, 3, &t, &tl), PG_VAL_E_FORMAT);   /* version 2 */
    b[0] = 1;
    cr_assert_eq(pg_val_jsonb(b, 1, &t, &tl), PG_VAL_OK);
    cr_assert_eq(tl, 0);
    b[0] = 0;
    b[3] = 26;
    cr_assert_eq(pg_val_oid(b, 4, &oid), PG_VAL_OK);
    cr_assert_eq(oid, 26);
}

Test(pg_types, array_refusals)
{
    struct pg_array a;
    uint8_t b[64] = { 0 };
    /* a valid one-element int4 array, then each part broken */
    put32(b, 1);
    put32(b + 4, 0);
    put32(b + 8, 23);
    put32(b + 12, 1);
    put32(b + 16, 1);
    put32(b + 20, 4);
    put32(b + 24, 7);
    cr_assert_eq(pg_val_array_open(b, 28, 23, 0, &a), PG_VAL_OK);
    cr_assert_eq(pg_val_array_open(b, 28, 0, 0, &a), PG_VAL_OK);
    cr_assert_eq(pg_val_array_open(b, 28, 25, 0, &a), PG_VAL_E_FORMAT);   /* not text */
    cr_assert_eq(pg_val_array_open(b, 29, 23, 0, &a), PG_VAL_E_LENGTH);   /* a byte after */
    cr_assert_eq(pg_val_array_open(b, 27, 23, 0, &a), PG_VAL_E_LENGTH);   /* cut element */
    cr_assert_eq(pg_val_array_open(b, 11, 23, 0, &a), PG_VAL_E_LENGTH);
    cr_assert_eq(pg_val_array_open(b, 16, 23, 0, &a), PG_VAL_E_LENGTH);   /* cut dimension */
    put32(b + 4, 2);
    cr_assert_eq(pg_val_array_open(b, 28, 23, 0, &a), PG_VAL_E_FORMAT);   /* flags */
    put32(b + 4, 0);
    put32(b, 7);
    cr_assert_eq(pg_val_array_open(b, 28, 23, 0, &a), PG_VAL_E_FORMAT);   /* ndim > 6 */
    put32(b, 0xffffffff);
    cr_assert_eq(pg_val_array_open(b, 28, 23, 0, &a), PG_VAL_E_FORMAT);
    put32(b, 1);
    put32(b + 12, 0xffffffff);
    cr_assert_eq(pg_val_array_open(b, 28, 23, 0, &a), PG_VAL_E_FORMAT);   /* negative size */
    put32(b + 12, 1);
    put32(b + 16, 0x7fffffff);
    cr_assert_eq(pg_val_array_open(b, 28, 23, 0, &a), PG_VAL_E_FORMAT);   /* bounds overflow */
    put32(b + 16, 1);
    put32(b + 20, 0xfffffffe);
    cr_assert_eq(pg_val_array_open(b, 28, 23, 0, &a), PG_VAL_E_FORMAT);   /* element length -2 */
    put32(b + 20, 4);
    put32(b + 12, 1000);
    cr_assert_eq(pg_val_array_open(b, 28, 23, 999, &a), PG_VAL_E_RANGE);   /* over count_max */
    cr_assert_eq(pg_val_array_open(b, 28, 23, 0, &a), PG_VAL_E_LENGTH);    /* 1000 elements, 1 present */
    /* six dimensions of 2^16: the product is checked before it can overflow */
    put32(b, 6);
    for (int i = 0; i < 6; i++) {
        put32(b + 12 + 8 * i, 65536);
        put32(b + 16 + 8 * i, 1);
    }
    cr_assert_eq(pg_val_array_open(b, 60, 23, 0, &a), PG_VAL_E_RANGE);
}

Test(pg_types, typmods_and_names)
{
    int p, s;
    int32_t n;
    cr_assert(pg_typmod_numeric(((10 << 16) | 2) + 4, &p, &s));
    cr_assert_eq(p, 10);
    cr_assert_eq(s, 2);
    cr_assert(pg_typmod_numeric(((5 << 16) | (-2 & 0x7ff)) + 4, &p, &s));   /* numeric(5,-2), PostgreSQL 15 */
    cr_assert_eq(p, 5);
    cr_assert_eq(s, -2);
    cr_assert(pg_typmod_numeric(((1000 << 16) | 1000) + 4, &p, &s));
    cr_assert_eq(s, 1000);
    cr_assert_not(pg_typmod_numeric(-1, &p, &s));
    cr_assert_not(pg_typmod_numeric(4, &p, &s));
    cr_assert(pg_typmod_varchar(20 + 4, &n));
    cr_assert_eq(n, 20);
    cr_assert_not(pg_typmod_varchar(-1, &n));
    cr_assert(pg_typmod_timestamp(3, &p));
    cr_assert_eq(p, 3);
    cr_assert_not(pg_typmod_timestamp(-1, &p));
    cr_assert_not(pg_typmod_timestamp(7, &p));
    cr_assert_str_eq(pg_oid_name(PG_OID_NUMERIC), "numeric");
    cr_assert_str_eq(pg_oid_name(PG_OID_INT4_ARRAY), "_int4");
    cr_assert_null(pg_oid_name(12345));
    cr_assert_eq(pg_oid_array_element(PG_OID_JSONB_ARRAY), PG_OID_JSONB);
    cr_assert_eq(pg_oid_array_element(PG_OID_INT4), 0);
}
