/* decode.c: entries -> rows. Every type through the JSON and flat paths, missing,
 * null and required columns, unknown and duplicate keys, lists, metadata columns,
 * rollback, routing, error codes and messages, the memory budget. Values are read
 * back from the column builders. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

/* ------------------------------------------------------------------------ */
/* Fixture: one table, its decoder and a batch */

static struct schema S;
static struct decode_table DT;
static bool dt_ok;
static struct pq_mem MEM;
static struct pq_batch B;
static bool b_ok;
static struct decode_error ERR;
static struct decode_result RES;
static char *heap[64];
static size_t nheap;

static void teardown(void)
{
    if (b_ok) pq_batch_free(&B);
    if (dt_ok) decode_table_free(&DT);
    schema_free(&S);
    for (size_t i = 0; i < nheap; i++) free(heap[i]);
    nheap = 0;
    b_ok = dt_ok = false;
}

TestSuite(decode, .fini = teardown);

/* An exact-size heap copy (no NUL after it). */
static const char *H(const char *s, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    cr_assert_not_null(p);
    memcpy(p, s, n);
    cr_assert_lt(nheap, 64);
    heap[nheap++] = p;
    return p;
}

struct coldef {
    const char *name, *type;
};

static struct schema_table *table_with(const char *name, const struct coldef *cols, size_t n, const char *const *meta,
                                       size_t limit_bytes)
{
    struct lw_err e;
    struct schema_table *t = schema_add_table(&S, name, 1, &e);
    cr_assert_not_null(t, "%s", e.msg);
    for (size_t i = 0; i < n; i++) cr_assert(schema_add_column(t, cols[i].name, cols[i].type, 2, &e), "%s", e.msg);
    for (size_t i = 0; meta != NULL && meta[i] != NULL; i++) cr_assert(schema_add_metadata(t, meta[i], &e), "%s", e.msg);
    cr_assert(decode_table_init(&DT, t, &e), "%s", e.msg);
    dt_ok = true;
    pq_mem_init(&MEM, NULL, NULL, limit_bytes);
    struct pq_err pe;
    cr_assert(pq_batch_init(&B, decode_table_schema(&DT), &MEM, &pe), "%s", pe.msg);
    b_ok = true;
    return t;
}

static const struct coldef ALL[] = {
    { "s", "string" },        { "sr", "string not null" }, { "b", "bool" },
    { "i8", "int8" },         { "i16", "int16" },          { "i32", "int32" },
    { "i64", "int64" },       { "f", "float" },            { "d", "double" },
    { "dec", "decimal(10,2)" }, { "dec38", "decimal(38,6)" }, { "dt", "date" },
    { "ts", "timestamp" },    { "tn", "timestamp_ntz" },   { "j", "json" },
    { "u", "uuid" },          { "bin", "binary" },         { "li", "list<int32>" },
    { "ls", "list<string>" }, { "ld", "list<decimal(5,2)>" }, { "lr", "list<int64> not null" },
};
enum { NALL = sizeof ALL / sizeof ALL[0] };
static const char *const META_ALL[] = { "_stream", "_ingested_at", NULL };

static void all_table(void)
{
    table_with("everything", ALL, NALL, META_ALL, 0);
}

static int col(const char *name)
{
    for (uint32_t i = 0; i < B.schema->count; i++)
        if (strcmp(B.schema->fields[i].name, name) == 0) return (int)i;
    cr_assert_fail("no column %s", name);
    return -1;
}

static const struct decode_meta META = {
    .stream_id = "1700000000000-7", .stream_id_len = 15, .stream = "smackz:events", .stream_len = 13,
    .ingested_at_us = 1234567, .has_ingested_at = true,
};

static bool dj(const char *json)
{
    memset(&ERR, 0x55, sizeof ERR);
    memset(&RES, 0, sizeof RES);
    size_t n = strlen(json);
    return decode_json(&DT, &B, H(json, n), n, &META, 0, &RES, &ERR);
}

static void ok(const char *json)
{
    size_t rows = B.rows;
    cr_assert(dj(json), "refused: %s\n  %s", ERR.msg, json);
    cr_assert_eq(ERR.code, DECODE_OK);
    cr_assert_eq(B.rows, rows + 1);
}

static void bad(const char *json, enum decode_code code, const char *column, const char *part)
{
    size_t rows = B.rows;
    cr_assert(!dj(json), "accepted: %s", json);
    cr_assert_eq(ERR.code, code, "code %d (%s), expected %d: %s", ERR.code, decode_reason(ERR.code), code, ERR.msg);
    cr_assert_str_eq(ERR.column, column != NULL ? column : "", "column '%s': %s", ERR.column, ERR.msg);
    if (part != NULL) cr_assert(strstr(ERR.msg, part) != NULL, "message '%s' lacks '%s'", ERR.msg, part);
    cr_assert_eq(B.rows, rows);
    for (uint32_t i = 0; i < B.schema->count; i++) cr_assert_eq(B.cols[i].rows, rows, "column %u not rolled back", i);
}

/* ---- reading the builders (flat columns: one slot per row) ---- */

static bool is_null(int c, size_t row)
{
    const struct pq_col *pc = &B.cols[c];
    cr_assert(!pc->field->list);
    cr_assert_lt(row, pc->slots);
    return !pc->defs_lazy && pc->defs.data[row] < pc->max_def;
}

static size_t vidx(int c, size_t row)
{
    cr_assert(!is_null(c, row), "%s row %zu is null", B.schema->fields[c].name, row);
    size_t k = 0;
    for (size_t i = 0; i < row; i++) k += !is_null(c, i);
    return k;
}

static int64_t get_i64(const char *name, size_t row)
{
    int c = col(name);
    const struct pq_col *pc = &B.cols[c];
    size_t k = vidx(c, row);
    if (pc->width == 4) return (int32_t)pq_load_u32le(pc->values.data + 4 * k);
    cr_assert_eq(pc->width, 8);
    return (int64_t)pq_load_u64le(pc->values.data + 8 * k);
}

static double get_f64(const char *name, size_t row)
{
    int c = col(name);
    const struct pq_col *pc = &B.cols[c];
    size_t k = vidx(c, row);
    if (pc->width == 4) {
        uint32_t u = pq_load_u32le(pc->values.data + 4 * k);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    uint64_t u = pq_load_u64le(pc->values.data + 8 * k);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static bool get_bool(const char *name, size_t row)
{
    int c = col(name);
    return B.cols[c].values.data[vidx(c, row)] != 0;
}

/* Bytes of a BYTE_ARRAY value at value index k. */
static const char *bytes_at(const struct pq_col *pc, size_t k, size_t *n)
{
    const uint32_t *off = pq_col_offsets(pc);
    *n = off[k + 1] - off[k];
    return (const char *)pc->arena.data + off[k];
}

static void expect_bytes(const char *name, size_t row, const char *want, size_t want_len)
{
    int c = col(name);
    size_t n;
    const char *p = bytes_at(&B.cols[c], vidx(c, row), &n);
    cr_assert(n == want_len && memcmp(p, want, n) == 0, "%s row %zu: '%.*s', expected '%.*s'", name, row, (int)n, p,
              (int)want_len, want);
}

static void expect_str(const char *name, size_t row, const char *want)
{
    expect_bytes(name, row, want, strlen(want));
}

static __int128 get_dec(const char *name, size_t row)
{
    int c = col(name);
    const struct pq_col *pc = &B.cols[c];
    const uint8_t *p = pc->values.data + pc->width * vidx(c, row);
    __int128 v = (int8_t)p[0];
    for (uint32_t i = 1; i < pc->width; i++) v = v * 256 + p[i];
    return v;
}

/* A list column's slots as text: "3:1 1:- 0:-" = rep-def pairs with values. */
static void expect_list_levels(const char *name, const char *want)
{
    int c = col(name);
    const struct pq_col *pc = &B.cols[c];
    char got[512] = "";
    size_t o = 0, k = 0;
    for (size_t i = 0; i < pc->slots; i++) {
        uint8_t def = pc->defs.data[i], rep = pc->reps.data[i];
        char v[64] = "-";
        if (def == pc->max_def) {
            if (pc->width == 4) snprintf(v, sizeof v, "%d", (int32_t)pq_load_u32le(pc->values.data + 4 * k));
            else if (pc->width == 8) snprintf(v, sizeof v, "%lld", (long long)pq_load_u64le(pc->values.data + 8 * k));
            else if (pc->width == 0) {
                size_t n;
                const char *p = bytes_at(pc, k, &n);
                snprintf(v, sizeof v, "'%.*s'", (int)n, p);
            } else {
                const uint8_t *p = pc->values.data + pc->width * k;
                long long x = (int8_t)p[0];
                for (uint32_t j = 1; j < pc->width; j++) x = x * 256 + p[j];
                snprintf(v, sizeof v, "%lld", x);
            }
            k++;
        }
        o += (size_t)snprintf(got + o, sizeof got - o, "%s%u%u:%s", i ? " " : "", rep, def, v);
    }
    cr_assert_str_eq(got, want, "%s levels", name);
}

/* A minimal valid row of the `everything` table with extra members. */
static char row_buf[4096];
static const char *row(const char *extra)
{
    snprintf(row_buf, sizeof row_buf, "{\"sr\": \"x\", \"lr\": []%s%s}", extra[0] ? ", " : "", extra);
    return row_buf;
}

/* ------------------------------------------------------------------------ */
/* Every type */

Test(decode, every_type_round_trip)
{
    all_table();
    ok("{\"s\": \"Cr\\u00e8me br\\u00fbl\\u00e9e\", \"sr\": \"寿司\", \"b\": true, \"i8\": -128, \"i16\": 32767,"
       " \"i32\": -2147483648, \"i64\": 9223372036854775807, \"f\": 0.1, \"d\": -2.5e-3, \"dec\": -12.34,"
       " \"dec38\": \"-99999999999999999999999999999999.999999\", \"dt\": \"1969-12-31\","
       " \"ts\": \"1969-12-31T23:59:59.999999Z\", \"tn\": \"2026-01-01 10:00:00.5\", \"j\": {\"a\": [1, 2.50]},"
       " \"u\": \"6F1C1D1E-8E5B-4C9A-9A7E-0B7D3F1C2A10\", \"bin\": \"AP8A/w==\", \"li\": [1, null, -3],"
       " \"ls\": [\"a\\\"b\", \"\"], \"ld\": [\"-999.99\", 0.5], \"lr\": [1]}");
    expect_str("s", 0, "Crème brûlée");
    expect_str("sr", 0, "寿司");
    cr_assert(get_bool("b", 0));
    cr_assert_eq(get_i64("i8", 0), -128);
    cr_assert_eq(get_i64("i16", 0), 32767);
    cr_assert_eq(get_i64("i32", 0), INT32_MIN);
    cr_assert_eq(get_i64("i64", 0), INT64_MAX);
    cr_assert_eq(get_f64("f", 0), (double)0.1f);
    cr_assert_eq(get_f64("d", 0), -2.5e-3);
    cr_assert(get_dec("dec", 0) == -1234);
    __int128 max38 = 1;
    for (int i = 0; i < 38; i++) max38 *= 10;
    cr_assert(get_dec("dec38", 0) == -(max38 - 1));
    cr_assert_eq(get_i64("dt", 0), -1);
    cr_assert_eq(get_i64("ts", 0), -1);
    cr_assert_eq(get_i64("tn", 0), decode_days_from_civil(2026, 1, 1) * INT64_C(86400000000) + INT64_C(36000500000));
    expect_str("j", 0, "{\"a\": [1, 2.50]}");
    static const uint8_t uuid[16] = { 0x6f, 0x1c, 0x1d, 0x1e, 0x8e, 0x5b, 0x4c, 0x9a,
                                      0x9a, 0x7e, 0x0b, 0x7d, 0x3f, 0x1c, 0x2a, 0x10 };
    cr_assert_arr_eq(B.cols[col("u")].values.data, uuid, 16);
    expect_bytes("bin", 0, "\x00\xff\x00\xff", 4);
    expect_list_levels("li", "03:1 12:- 13:-3");
    expect_list_levels("ls", "03:'a\"b' 13:''");
    expect_list_levels("ld", "03:-99999 13:50");
    expect_list_levels("lr", "02:1");
    expect_str("_stream_id", 0, "1700000000000-7");
    expect_str("_stream", 0, "smackz:events");
    cr_assert_eq(get_i64("_ingested_at", 0), 1234567);
    cr_assert_eq(RES.unknown_keys, 0);
    cr_assert_eq(DT.rows, 1);
}

Test(decode, uuid_bytes_are_fixed_width)
{
    all_table();
    ok(row("\"u\": \"00000000-0000-0000-0000-000000000001\""));
    int c = col("u");
    cr_assert_eq(B.cols[c].width, 16);
    cr_assert_eq(B.cols[c].values.data[15], 1);
    cr_assert_eq(B.cols[c].values.data[0], 0);
}

Test(decode, strings)
{
    all_table();
    ok(row("\"s\": \"a\\u0000b\""));
    expect_bytes("s", 0, "a\0b", 3); /* \u0000 is kept as a NUL byte */
    ok(row("\"s\": \"\""));
    expect_str("s", 1, "");
    ok(row("\"s\": \"\\ud83d\\ude00 \\/ \\\\ \\n\""));
    expect_str("s", 2, "\xf0\x9f\x98\x80 / \\ \n");
    bad(row("\"s\": 42"), DECODE_EVALUE, "s", "'42' is not a string (found a JSON number)");
    bad(row("\"s\": true"), DECODE_EVALUE, "s", "found a JSON boolean");
    bad(row("\"s\": {\"a\": 1}"), DECODE_EVALUE, "s", "found a JSON object");
    bad(row("\"s\": [\"a\"]"), DECODE_EVALUE, "s", "found a JSON array");
}

Test(decode, numbers_from_strings_and_specials)
{
    all_table();
    ok(row("\"i64\": \"9223372036854775807\", \"i8\": \"-12\", \"f\": \"NaN\", \"d\": \"-Infinity\","
           " \"dec\": \"0012.50\", \"b\": \"false\""));
    cr_assert_eq(get_i64("i64", 0), INT64_MAX);
    cr_assert_eq(get_i64("i8", 0), -12);
    cr_assert(isnan(get_f64("f", 0)));
    cr_assert(isinf(get_f64("d", 0)) && get_f64("d", 0) < 0);
    cr_assert(get_dec("dec", 0) == 1250);
    cr_assert(!get_bool("b", 0));
    ok(row("\"d\": \"Infinity\", \"f\": -0, \"i32\": 1e3, \"i16\": 12.0"));
    cr_assert(isinf(get_f64("d", 1)) && get_f64("d", 1) > 0);
    cr_assert(get_f64("f", 1) == 0 && signbit(get_f64("f", 1)));
    cr_assert_eq(get_i64("i32", 1), 1000);
    cr_assert_eq(get_i64("i16", 1), 12);
    bad(row("\"i8\": 128"), DECODE_EVALUE, "i8", "'128' is not an int8 (out of range)");
    bad(row("\"i32\": 1.5"), DECODE_EVALUE, "i32", "not an integer");
    bad(row("\"i64\": \"12 \""), DECODE_EVALUE, "i64", "not a number");
    bad(row("\"i64\": true"), DECODE_EVALUE, "i64", "found a JSON boolean");
    bad(row("\"b\": 1"), DECODE_EVALUE, "b", "found a JSON number");
    bad(row("\"b\": \"yes\""), DECODE_EVALUE, "b", "true or false");
    bad(row("\"d\": \"nan\""), DECODE_EVALUE, "d", "not a number");
    bad(row("\"d\": 1e999"), DECODE_EVALUE, "d", "out of range for a double");
    bad(row("\"f\": 1e39"), DECODE_EVALUE, "f", "out of range for a float");
    bad(row("\"dec\": 12.345"), DECODE_EVALUE, "dec", "more fractional digits than the scale");
    bad(row("\"dec\": 123456789.5"), DECODE_EVALUE, "dec", "more digits than the precision");
    bad(row("\"dec\": \"NaN\""), DECODE_EVALUE, "dec", "not a number");
}

Test(decode, dates_and_timestamps)
{
    all_table(); /* epoch_unit defaults to ms */
    ok(row("\"ts\": 1700000000123, \"tn\": \"-1\", \"dt\": \"0001-01-01\""));
    cr_assert_eq(get_i64("ts", 0), INT64_C(1700000000123000));
    cr_assert_eq(get_i64("tn", 0), -1000);
    cr_assert_eq(get_i64("dt", 0), -719162);
    ok(row("\"ts\": \"2026-11-01T01:00:00+01:00\", \"tn\": \"9999-12-31T23:59:59.999999999\""));
    cr_assert_eq(get_i64("ts", 1), decode_days_from_civil(2026, 11, 1) * INT64_C(86400000000));
    cr_assert_eq(get_i64("tn", 1), INT64_C(2932897) * 86400000000 - 1);
    bad(row("\"ts\": \"2026-13-01T00:00:00Z\""), DECODE_EVALUE, "ts",
        "'2026-13-01T00:00:00Z' is not a timestamp (month out of range (01..12))");
    bad(row("\"ts\": \"2026-01-01T00:00:00\""), DECODE_EVALUE, "ts", "no offset");
    bad(row("\"tn\": \"2026-01-01T00:00:00Z\""), DECODE_EVALUE, "tn", "timestamp_ntz");
    bad(row("\"dt\": 20260101"), DECODE_EVALUE, "dt", "expected a string");
    bad(row("\"dt\": \"2026-02-29\""), DECODE_EVALUE, "dt", "leap year");
    bad(row("\"ts\": true"), DECODE_EVALUE, "ts", "found a JSON boolean");
    bad(row("\"ts\": 1e30"), DECODE_EVALUE, "ts", "0001..9999");
    bad(row("\"ts\": \"soon\""), DECODE_EVALUE, "ts", "not a number");
}

Test(decode, epoch_unit_of_the_table)
{
    static const struct coldef cols[] = { { "t", "timestamp" } };
    struct schema_table *t = table_with("e", cols, 1, NULL, 0);
    (void)t;
    /* The unit is read per value from the table, so changing it takes effect. */
    S.tables[0].epoch_unit = SCHEMA_EPOCH_S;
    ok("{\"t\": 1.25}");
    cr_assert_eq(get_i64("t", 0), 1250000);
    S.tables[0].epoch_unit = SCHEMA_EPOCH_NS;
    ok("{\"t\": \"1999\"}");
    cr_assert_eq(get_i64("t", 1), 1);
}

Test(decode, json_column_keeps_the_raw_text)
{
    all_table();
    ok(row("\"j\": \"text\""));
    ok(row("\"j\": 1.50"));
    ok(row("\"j\": [ 1 , {\"b\" : null} ]"));
    ok(row("\"j\": false"));
    ok(row("\"j\": null"));
    ok(row("\"j\": \"\\u00e8\""));
    expect_str("j", 0, "\"text\"");
    expect_str("j", 1, "1.50");
    expect_str("j", 2, "[ 1 , {\"b\" : null} ]");
    expect_str("j", 3, "false");
    cr_assert(is_null(col("j"), 4));
    expect_str("j", 5, "\"\\u00e8\"");
}

Test(decode, binary_and_uuid_errors)
{
    all_table();
    ok(row("\"bin\": \"aGVsbG8\\/\""));   /* an escaped '/' inside base64 */
    expect_str("bin", 0, "hello?");
    ok(row("\"bin\": \"\""));
    expect_bytes("bin", 1, "", 0);
    bad(row("\"bin\": \"QR==\""), DECODE_EVALUE, "bin", "padding bits");
    bad(row("\"bin\": \"@@@@\""), DECODE_EVALUE, "bin", "alphabet");
    bad(row("\"bin\": 12"), DECODE_EVALUE, "bin", "found a JSON number");
    bad(row("\"u\": \"x\""), DECODE_EVALUE, "u", "'x' is not a uuid (expected 8-4-4-4-12 hex digits)");
    bad(row("\"u\": \"6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a1z\""), DECODE_EVALUE, "u", "hex digit");
}

/* ------------------------------------------------------------------------ */
/* Lists */

Test(decode, lists_levels)
{
    all_table();
    ok(row("\"li\": [1, null, 3]"));
    ok(row("\"li\": []"));
    ok(row("\"li\": null"));
    ok(row(""));                  /* missing: a null list */
    ok(row("\"li\": [null]"));
    expect_list_levels("li", "03:1 12:- 13:3 01:- 00:- 00:- 02:-");
    bad(row("\"li\": [1, [2]]"), DECODE_EVALUE, "li", "element 1: '[2]' is not an int32 (a nested list)");
    bad(row("\"li\": [1, \"x\"]"), DECODE_EVALUE, "li", "element 1: 'x' is not an int32");
    bad(row("\"li\": 1"), DECODE_EVALUE, "li", "is not a list<int32> (expected a JSON array, found a JSON number)");
    bad(row("\"li\": {}"), DECODE_EVALUE, "li", "found a JSON object");
    bad("{\"sr\": \"x\"}", DECODE_EMISSING, "lr", "missing required column");
    bad("{\"sr\": \"x\", \"lr\": null}", DECODE_EMISSING, "lr", "null in a required column");
    /* a required list still takes null elements (the schema has no element nullability) */
    ok("{\"sr\": \"x\", \"lr\": [null, 5]}");
    expect_list_levels("li", "03:1 12:- 13:3 01:- 00:- 00:- 02:- 00:-");
}

Test(decode, list_of_json_keeps_nested_values)
{
    static const struct coldef cols[] = { { "lj", "list<json>" } };
    table_with("lj", cols, 1, NULL, 0);
    ok("{\"lj\": [[1, 2], {\"a\": \"b\"}, \"s\", null]}");
    int c = col("lj");
    const struct pq_col *pc = &B.cols[c];
    cr_assert_eq(pc->slots, 4);
    cr_assert_eq(pc->nvalues, 3);
    size_t n;
    const char *p = bytes_at(pc, 0, &n);
    cr_assert(n == 6 && memcmp(p, "[1, 2]", 6) == 0);
    p = bytes_at(pc, 2, &n);
    cr_assert(n == 3 && memcmp(p, "\"s\"", 3) == 0);
}

/* ------------------------------------------------------------------------ */
/* Missing, null, required, unknown, duplicate */

Test(decode, missing_and_null)
{
    all_table();
    ok(row(""));
    for (size_t i = 0; i < NALL; i++) {
        int c = col(ALL[i].name);
        if (B.cols[c].field->list) continue;
        if (strcmp(ALL[i].name, "sr") == 0) continue;
        cr_assert(is_null(c, 0), "%s is not null", ALL[i].name);
    }
    bad("{\"lr\": []}", DECODE_EMISSING, "sr", "table everything, column sr: missing required column");
    bad("{\"sr\": null, \"lr\": []}", DECODE_EMISSING, "sr", "null in a required column");
    cr_assert_eq(DT.refused[DECODE_EMISSING], 2);
}

Test(decode, unknown_keys_are_counted)
{
    all_table();
    ok(row("\"extra\": 1, \"other\": {\"deep\": [1]}, \"S\": \"case matters\""));
    cr_assert_eq(RES.unknown_keys, 3);
    ok(row("\"extra\": 2"));
    cr_assert_eq(RES.unknown_keys, 1);
    cr_assert_eq(DT.unknown_keys, 4);
    cr_assert(is_null(col("s"), 0));
}

Test(decode, duplicate_keys)
{
    all_table();
    bad(row("\"s\": \"a\", \"s\": \"b\""), DECODE_EDUPLICATE, "s", "the key 's' appears twice");
    bad(row("\"s\": \"a\", \"\\u0073\": \"b\""), DECODE_EDUPLICATE, "s", "appears twice");
    bad(row("\"zz\": 1, \"zz\": 2"), DECODE_EDUPLICATE, NULL, "the key 'zz' appears twice");
    bad(row("\"zz\": 1, \"z\\u007a\": 2"), DECODE_EDUPLICATE, NULL, "appears twice");
    bad(row("\"z\\u007a\": 1, \"\\u007az\": 2"), DECODE_EDUPLICATE, NULL, "appears twice");
    bad("{\"sr\": \"x\", \"sr\": \"x\", \"lr\": []}", DECODE_EDUPLICATE, "sr", NULL);
    /* keys that only look alike are different */
    ok(row("\"zz\": 1, \"zZ\": 2, \"z\": 3, \"zzz\": 4"));
    cr_assert_eq(RES.unknown_keys, 4);
    /* an escaped key finds its column */
    ok(row("\"\\u0073\": \"via escape\""));
    expect_str("s", 1, "via escape");
}

Test(decode, too_many_unknown_keys)
{
    all_table();
    static char big[16384];
    size_t o = (size_t)snprintf(big, sizeof big, "{\"sr\": \"x\", \"lr\": []");
    for (int i = 0; i < DECODE_UNKNOWN_MAX; i++) o += (size_t)snprintf(big + o, sizeof big - o, ", \"k%d\": %d", i, i);
    snprintf(big + o, sizeof big - o, "}");
    ok(big);
    cr_assert_eq(RES.unknown_keys, DECODE_UNKNOWN_MAX);
    snprintf(big + o, sizeof big - o, ", \"one_more\": 1}");
    bad(big, DECODE_ELIMIT, NULL, "more than 256 keys");
}

Test(decode, invalid_json)
{
    all_table();
    bad("{\"u\": \"x\", \"i32\": 1,", DECODE_EJSON, NULL, "invalid JSON");   /* not "bad uuid" */
    bad("{\"s\": 1, \"s\": 2, \"i32\": }", DECODE_EJSON, NULL, "invalid JSON"); /* not "duplicate" */
    bad("[1, 2]", DECODE_EJSON, NULL, "not a JSON object");
    bad("", DECODE_EJSON, NULL, "not a JSON object");
    bad("42", DECODE_EJSON, NULL, "not a JSON object");
    bad("{\"sr\": \"x\", \"lr\": []} x", DECODE_EJSON, NULL, "invalid JSON");
    bad("{\"sr\": \"\\x\", \"lr\": []}", DECODE_EJSON, NULL, "invalid JSON");
    bad("{\"sr\": \"x\", \"lr\": [], \"d\": NaN}", DECODE_EJSON, NULL, "invalid JSON");
    bad("{\"sr\": \"x\", \"lr\": [], \"i32\": 012}", DECODE_EJSON, NULL, "invalid JSON");
    cr_assert_eq(DT.refused[DECODE_EJSON], 9);
    ok(row(""));
}

Test(decode, error_message_names_table_column_value)
{
    static const struct coldef cols[] = { { "order_id", "uuid not null" }, { "subtotal", "decimal(10,2) not null" } };
    table_with("orders", cols, 2, NULL, 0);
    bad("{\"order_id\": \"6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10\", \"subtotal\": \"12.3.4\"}", DECODE_EVALUE, "subtotal",
        NULL);
    cr_assert_str_eq(ERR.msg, "table orders, column subtotal: '12.3.4' is not a decimal(10,2) (not a number)");
    cr_assert_str_eq(ERR.table, "orders");
    cr_assert_str_eq(decode_reason(ERR.code), "bad value");
    /* long values are cut, and control bytes shown as escapes */
    bad("{\"order_id\": \"6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10\", \"subtotal\": "
        "\"1111111111111111111111111111111111111111111111111111111111111111111111111111111111\"}",
        DECODE_EVALUE, "subtotal", "'1111111111111111111111111111111111111111111111111111111111111111...'");
    bad("{\"order_id\": \"6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10\", \"subtotal\": \"1\\n2\"}", DECODE_EVALUE,
        "subtotal", "'1\\n2'");
    bad("{\"subtotal\": 1}", DECODE_EMISSING, "order_id", NULL);
    cr_assert_str_eq(ERR.msg, "table orders, column order_id: missing required column");
    cr_assert_str_eq(decode_reason(DECODE_EMISSING), "missing required column");
    cr_assert_str_eq(decode_reason(DECODE_EJSON), "invalid JSON");
    cr_assert_str_eq(decode_reason(DECODE_EENTITY), "unknown entity");
    cr_assert_str_eq(decode_reason(DECODE_ENODATA), "no data field");
}

/* ------------------------------------------------------------------------ */
/* Rollback */

struct snap {
    size_t slots[NALL + 3], nvalues[NALL + 3], vlen[NALL + 3], alen[NALL + 3], dlen[NALL + 3], rlen[NALL + 3];
    size_t rows[NALL + 3];
    bool lazy[NALL + 3];
};

static void snapshot(struct snap *s)
{
    for (uint32_t i = 0; i < B.schema->count; i++) {
        const struct pq_col *c = &B.cols[i];
        s->slots[i] = c->slots;
        s->nvalues[i] = c->nvalues;
        s->vlen[i] = c->values.len;
        s->alen[i] = c->arena.len;
        s->dlen[i] = c->defs_lazy ? 0 : c->defs.len;
        s->rlen[i] = c->reps.len;
        s->rows[i] = c->rows;
        s->lazy[i] = c->defs_lazy;
    }
}

Test(decode, rollback_leaves_the_batch_unchanged)
{
    all_table();
    ok(row("\"s\": \"first\", \"li\": [1, 2], \"i32\": 5"));
    struct snap before, after;
    snapshot(&before);
    /* Many columns appended, lists included, before the last value fails. */
    bad("{\"s\": \"second\", \"sr\": \"y\", \"b\": null, \"li\": [3, null], \"ls\": [\"q\"], \"lr\": [9],"
        " \"j\": {\"x\": 1}, \"bin\": \"QUJD\", \"dec\": 1.5, \"u\": \"nope\"}",
        DECODE_EVALUE, "u", NULL);
    snapshot(&after);
    for (uint32_t i = 0; i < B.schema->count; i++) {
        cr_assert_eq(before.slots[i], after.slots[i], "col %u slots", i);
        cr_assert_eq(before.nvalues[i], after.nvalues[i], "col %u values", i);
        cr_assert_eq(before.vlen[i], after.vlen[i], "col %u value bytes", i);
        cr_assert_eq(before.alen[i], after.alen[i], "col %u arena", i);
        cr_assert_eq(before.dlen[i], after.dlen[i], "col %u defs", i);
        cr_assert_eq(before.rlen[i], after.rlen[i], "col %u reps", i);
        cr_assert_eq(before.rows[i], after.rows[i], "col %u rows", i);
    }
    /* Also a failure found only at the end (a missing required column). */
    bad("{\"s\": \"third\", \"li\": [7], \"lr\": [1]}", DECODE_EMISSING, "sr", NULL);
    snapshot(&after);
    for (uint32_t i = 0; i < B.schema->count; i++) cr_assert_eq(before.slots[i], after.slots[i]);
    ok(row("\"s\": \"fourth\", \"li\": [8]"));
    expect_str("s", 0, "first");
    expect_str("s", 1, "fourth");
    expect_list_levels("li", "03:1 13:2 03:8");
    expect_str("_stream_id", 1, "1700000000000-7");
    cr_assert_eq(B.rows, 2);
}

Test(decode, no_commit_leaves_the_row_to_the_caller)
{
    static const struct coldef cols[] = { { "at", "timestamp not null" }, { "v", "int32" } };
    struct schema_table *t = table_with("p", cols, 2, NULL, 0);
    (void)t;
    const char *a = "{\"at\": \"2026-01-01T00:00:00Z\", \"v\": 1}";
    cr_assert(decode_json(&DT, &B, H(a, strlen(a)), strlen(a), &META, DECODE_NO_COMMIT, &RES, &ERR), "%s", ERR.msg);
    cr_assert_eq(B.rows, 0);
    cr_assert_eq(B.cols[0].rows, 1);
    pq_batch_rollback(&B);
    cr_assert_eq(B.cols[0].rows, 0);
    cr_assert(decode_json(&DT, &B, H(a, strlen(a)), strlen(a), &META, DECODE_NO_COMMIT, &RES, &ERR));
    cr_assert(pq_batch_commit(&B));
    cr_assert_eq(B.rows, 1);
}

Test(decode, partition_value_is_reported)
{
    static const struct coldef cols[] = { { "at", "timestamp" }, { "day", "date" } };
    struct lw_err e;
    struct schema_table *t = table_with("p", cols, 2, NULL, 0);
    cr_assert(schema_set_partition(t, "at", &e), "%s", e.msg);
    decode_table_free(&DT);
    pq_batch_free(&B);
    cr_assert(decode_table_init(&DT, t, &e));
    struct pq_err pe;
    cr_assert(pq_batch_init(&B, decode_table_schema(&DT), &MEM, &pe));
    ok("{\"at\": \"2026-11-01T10:30:00Z\", \"day\": \"2020-01-01\"}");
    cr_assert(RES.has_partition);
    cr_assert_eq(RES.partition_us, decode_days_from_civil(2026, 11, 1) * INT64_C(86400000000) + INT64_C(37800000000));
    ok("{\"at\": null}");
    cr_assert(!RES.has_partition);
    /* a date partition column reports its midnight */
    cr_assert(schema_set_partition(t, "day", &e));
    decode_table_free(&DT);
    pq_batch_free(&B);
    cr_assert(decode_table_init(&DT, t, &e));
    cr_assert(pq_batch_init(&B, decode_table_schema(&DT), &MEM, &pe));
    ok("{\"day\": \"1970-01-02\"}");
    cr_assert(RES.has_partition);
    cr_assert_eq(RES.partition_us, INT64_C(86400000000));
}

Test(decode, metadata_columns)
{
    static const struct coldef cols[] = { { "v", "int32" } };
    table_with("m", cols, 1, META_ALL, 0);
    cr_assert_eq(B.schema->count, 4);
    cr_assert_str_eq(B.schema->fields[1].name, "_stream_id");
    cr_assert(!B.schema->fields[1].nullable);
    cr_assert_str_eq(B.schema->fields[2].name, "_stream");
    cr_assert_str_eq(B.schema->fields[3].name, "_ingested_at");
    cr_assert_eq(B.schema->fields[3].type, PQ_TIMESTAMP);
    struct decode_meta m = { .stream_id = "0-1", .stream_id_len = 3 };
    const char *j = "{\"v\": 1}";
    cr_assert(decode_json(&DT, &B, H(j, 8), 8, &m, 0, &RES, &ERR));
    expect_str("_stream_id", 0, "0-1");
    cr_assert(is_null(col("_stream"), 0));
    cr_assert(is_null(col("_ingested_at"), 0));
    /* only _stream_id when the table asks for nothing else */
    teardown();
    table_with("m2", cols, 1, NULL, 0);
    cr_assert_eq(B.schema->count, 2);
}

Test(decode, memory_budget_refusal_is_batch_full)
{
    static const struct coldef cols[] = { { "s", "string not null" } };
    table_with("small", cols, 1, NULL, 64 * 1024);
    static char big[8192];
    memset(big, 'a', sizeof big);
    memcpy(big, "{\"s\": \"", 7);
    memcpy(big + sizeof big - 2, "\"}", 2);
    size_t rows = 0;
    while (decode_json(&DT, &B, big, sizeof big, &META, 0, NULL, &ERR)) rows++;
    cr_assert_gt(rows, 0);
    cr_assert_eq(ERR.code, DECODE_EFULL, "%s", ERR.msg);
    cr_assert_eq(B.rows, rows);
    cr_assert_eq(B.cols[0].rows, rows);
    cr_assert_eq(DT.refused[DECODE_EFULL], 1);
    /* after a reset the same entry goes in */
    pq_batch_reset(&B);
    cr_assert(decode_json(&DT, &B, big, sizeof big, &META, 0, NULL, &ERR), "%s", ERR.msg);
}

Test(decode, many_columns_hash)
{
    static struct coldef cols[600];
    static char names[600][32];
    for (int i = 0; i < 600; i++) {
        /* names that share long prefixes and suffixes */
        snprintf(names[i], sizeof names[i], "property_%03d_x_value", i);
        cols[i].name = names[i];
        cols[i].type = "int32";
    }
    table_with("wide", cols, 600, NULL, 0);
    for (int i = 0; i < 600; i++) cr_assert_eq(decode_table_lookup(&DT, names[i], strlen(names[i])), i);
    cr_assert_eq(decode_table_lookup(&DT, "property_600_x_value", 20), -1);
    cr_assert_eq(decode_table_lookup(&DT, "property_000_x_valu", 19), -1);
    cr_assert_eq(decode_table_lookup(&DT, "", 0), -1);
    static char json[65536];
    size_t o = 1;
    json[0] = '{';
    for (int i = 599; i >= 0; i--) o += (size_t)snprintf(json + o, sizeof json - o, "%s\"%s\": %d", i < 599 ? ", " : "", names[i], i * 7);
    json[o++] = '}';
    json[o] = '\0';
    ok(json);
    for (int i = 0; i < 600; i += 37) cr_assert_eq(get_i64(names[i], 0), i * 7);
}

/* ------------------------------------------------------------------------ */
/* Flat mode */

static bool df(const struct decode_field *f, size_t n, size_t skip)
{
    memset(&ERR, 0x55, sizeof ERR);
    return decode_flat(&DT, &B, f, n, skip, &META, 0, &RES, &ERR);
}

#define FLD(n, v) { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

Test(decode, flat_mode)
{
    all_table();
    struct decode_field f[] = {
        FLD("entity", "everything"), FLD("sr", "x"), FLD("s", ""), FLD("b", "true"), FLD("i64", "-42"),
        FLD("dec", "007.5"), FLD("ts", "2026-01-01T00:00:00Z"), FLD("j", " {\"a\": 1} "), FLD("li", "[1, null]"),
        FLD("lr", "[]"), FLD("d", "NaN"), FLD("u", "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10"), FLD("bin", ""),
        FLD("i8", ""), FLD("ls", "null"), FLD("nope", "1"),
    };
    size_t n = sizeof f / sizeof f[0];
    cr_assert(df(f, n, 0), "%s", ERR.msg);
    expect_str("sr", 0, "x");
    expect_str("s", 0, "");                   /* empty string stays a string */
    cr_assert(get_bool("b", 0));
    cr_assert_eq(get_i64("i64", 0), -42);
    cr_assert(get_dec("dec", 0) == 750);
    cr_assert_eq(get_i64("ts", 0), decode_days_from_civil(2026, 1, 1) * INT64_C(86400000000));
    expect_str("j", 0, "{\"a\": 1}");
    expect_list_levels("li", "03:1 12:-");
    cr_assert(isnan(get_f64("d", 0)));
    expect_bytes("bin", 0, "", 0);
    cr_assert(is_null(col("i8"), 0));         /* empty: null */
    cr_assert_eq(RES.unknown_keys, 1);
    /* the entity field is a column only when not skipped */
    cr_assert(df(f, n, SIZE_MAX));
    cr_assert_eq(RES.unknown_keys, 2);

    struct decode_field g[] = { FLD("sr", "\xff\xfe"), FLD("lr", "[]") };
    cr_assert(!df(g, 2, SIZE_MAX));
    cr_assert_eq(ERR.code, DECODE_EVALUE);
    cr_assert(strstr(ERR.msg, "'\\xFF\\xFE' is not a string (not valid UTF-8)") != NULL, "%s", ERR.msg);
    struct decode_field h[] = { FLD("sr", "a"), FLD("lr", "[]"), FLD("sr", "b") };
    cr_assert(!df(h, 3, SIZE_MAX));
    cr_assert_eq(ERR.code, DECODE_EDUPLICATE);
    struct decode_field k[] = { FLD("sr", "a"), FLD("lr", "[1,") };
    cr_assert(!df(k, 2, SIZE_MAX));
    cr_assert_eq(ERR.code, DECODE_EVALUE);
    cr_assert(strstr(ERR.msg, "is not valid JSON") != NULL, "%s", ERR.msg);
    struct decode_field m[] = { FLD("sr", ""), FLD("lr", "") };
    cr_assert(!df(m, 2, SIZE_MAX));
    cr_assert_eq(ERR.code, DECODE_EMISSING, "%s", ERR.msg);
    struct decode_field p[] = { FLD("sr", "a"), FLD("lr", "[]"), FLD("i16", "40000") };
    cr_assert(!df(p, 3, SIZE_MAX));
    cr_assert_str_eq(ERR.msg, "table everything, column i16: '40000' is not an int16 (out of range)");
    cr_assert_eq(B.rows, 2);
}

/* ------------------------------------------------------------------------ */
/* Routing */

static struct decode_set SET;

static void set_up_set(void)
{
    struct lw_err e;
    struct schema_table *t = schema_add_table(&S, "orders", 1, &e);
    cr_assert(schema_add_column(t, "id", "int64 not null", 2, &e));
    t = schema_add_table(&S, "items", 3, &e);
    cr_assert(schema_add_column(t, "name", "string", 4, &e));
    cr_assert(decode_set_init(&SET, &S, &e), "%s", e.msg);
    cr_assert_eq(SET.count, 2);
    pq_mem_init(&MEM, NULL, NULL, 0);
}

static void stream(struct config_stream *st, enum config_stream_format fmt, int table)
{
    memset(st, 0, sizeof *st);
    snprintf(st->name, sizeof st->name, "smackz:events");
    snprintf(st->entity_field, sizeof st->entity_field, "entity");
    snprintf(st->data_field, sizeof st->data_field, "data");
    st->format = fmt;
    st->table = table;
}

Test(decode, route_json_entries)
{
    set_up_set();
    struct config_stream st;
    stream(&st, CONFIG_STREAM_JSON, -1);
    struct decode_field e1[] = { FLD("entity", "items"), FLD("data", "{\"name\": \"Phở bò\"}") };
    size_t ti, di;
    cr_assert(decode_route(&SET, &st, e1, 2, &ti, &di, &ERR), "%s", ERR.msg);
    cr_assert_eq(ti, 1);
    cr_assert_eq(di, 1);
    struct pq_batch b;
    struct pq_err pe;
    cr_assert(pq_batch_init(&b, decode_table_schema(&SET.tables[1]), &MEM, &pe));
    cr_assert(decode_entry(&SET, ti, di, &st, &b, e1, 2, &META, 0, &RES, &ERR), "%s", ERR.msg);
    cr_assert_eq(b.rows, 1);

    struct decode_field e2[] = { FLD("entity", "refunds"), FLD("data", "{\"id\": 1}") };
    cr_assert(!decode_route(&SET, &st, e2, 2, &ti, &di, &ERR));
    cr_assert_eq(ERR.code, DECODE_EENTITY);
    cr_assert(strstr(ERR.msg, "unknown entity 'refunds'") != NULL, "%s", ERR.msg);
    cr_assert_str_eq(ERR.table, "");
    struct decode_field e3[] = { FLD("data", "{\"id\": 1}") };
    cr_assert(!decode_route(&SET, &st, e3, 1, &ti, &di, &ERR));
    cr_assert_eq(ERR.code, DECODE_EENTITY);
    cr_assert(strstr(ERR.msg, "no 'entity' field") != NULL, "%s", ERR.msg);
    struct decode_field e4[] = { FLD("entity", "orders") };
    cr_assert(!decode_route(&SET, &st, e4, 1, &ti, &di, &ERR));
    cr_assert_eq(ERR.code, DECODE_ENODATA);
    cr_assert_str_eq(ERR.table, "orders");
    cr_assert_str_eq(decode_reason(ERR.code), "no data field");

    /* a stream bound to a table ignores the entity field */
    stream(&st, CONFIG_STREAM_JSON, 0);
    cr_assert(decode_route(&SET, &st, e2, 2, &ti, &di, &ERR), "%s", ERR.msg);
    cr_assert_eq(ti, 0);
    pq_batch_free(&b);
    decode_set_free(&SET);
}

Test(decode, route_flat_entries)
{
    set_up_set();
    struct config_stream st;
    stream(&st, CONFIG_STREAM_FLAT, -1);
    struct decode_field e[] = { FLD("id", "17"), FLD("entity", "orders") };
    size_t ti, di;
    cr_assert(decode_route(&SET, &st, e, 2, &ti, &di, &ERR), "%s", ERR.msg);
    cr_assert_eq(ti, 0);
    cr_assert_eq(di, 1); /* the entity field, to skip */
    struct pq_batch b;
    struct pq_err pe;
    cr_assert(pq_batch_init(&b, decode_table_schema(&SET.tables[0]), &MEM, &pe));
    cr_assert(decode_entry(&SET, ti, di, &st, &b, e, 2, &META, 0, &RES, &ERR), "%s", ERR.msg);
    cr_assert_eq(RES.unknown_keys, 0);
    cr_assert_eq(b.rows, 1);
    cr_assert_eq((int64_t)pq_load_u64le(b.cols[0].values.data), 17);
    pq_batch_free(&b);
    decode_set_free(&SET);
}
