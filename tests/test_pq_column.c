/* parquet/pq_schema + pq_column: schema checks, builders, levels of lists,
 * transactional rows, decimal bytes, memory accounting. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/pq_column.h"

static struct pq_mem mem;
static struct pq_err err;

static void setup(void)
{
    pq_mem_init(&mem, NULL, NULL, 0);
    pq_err_clear(&err);
}

static void teardown(void)
{
    cr_assert_eq(mem.used_bytes, 0, "leaked %zu bytes", mem.used_bytes);
}

TestSuite(pq_column, .init = setup, .fini = teardown);

Test(pq_column, schema_checks_name_the_column)
{
    struct pq_schema s;
    struct pq_field dup[2] = {{.name = "Total", .type = PQ_INT32}, {.name = "total", .type = PQ_INT64}};
    cr_assert_not(pq_schema_init(&s, dup, 2, &err));
    cr_assert(strstr(err.msg, "'total'") && strstr(err.msg, "ignoring case"), "%s", err.msg);
    struct pq_field dec = {.name = "price", .type = PQ_DECIMAL, .precision = 39};
    cr_assert_not(pq_schema_init(&s, &dec, 1, &err));
    cr_assert(strstr(err.msg, "'price'") && strstr(err.msg, "precision 39"), "%s", err.msg);
    dec.precision = 5;
    dec.scale = 6;
    cr_assert_not(pq_schema_init(&s, &dec, 1, &err));
    cr_assert(strstr(err.msg, "scale 6"), "%s", err.msg);
    struct pq_field bad = {.name = "\xFF", .type = PQ_INT32};
    cr_assert_not(pq_schema_init(&s, &bad, 1, &err));
    struct pq_field empty = {.name = "", .type = PQ_INT32};
    cr_assert_not(pq_schema_init(&s, &empty, 1, &err));
    cr_assert_not(pq_schema_init(&s, &empty, 0, &err));
    struct pq_field notlist = {.name = "x", .type = PQ_INT32, .element_nullable = true};
    cr_assert_not(pq_schema_init(&s, &notlist, 1, &err));
    struct pq_field ok = {.name = "h\xC3\xA9", .type = PQ_DECIMAL, .precision = 38, .scale = 38};
    cr_assert(pq_schema_init(&s, &ok, 1, &err), "%s", err.msg);
}

Test(pq_column, type_mapping)
{
    cr_assert_eq(pq_decimal_bytes(1), 1);
    cr_assert_eq(pq_decimal_bytes(2), 1);
    cr_assert_eq(pq_decimal_bytes(3), 2);
    cr_assert_eq(pq_decimal_bytes(9), 4);
    cr_assert_eq(pq_decimal_bytes(10), 5);
    cr_assert_eq(pq_decimal_bytes(18), 8);
    cr_assert_eq(pq_decimal_bytes(19), 9);
    cr_assert_eq(pq_decimal_bytes(38), 16);
    struct pq_field f = {.name = "l", .type = PQ_UUID, .nullable = true, .list = true, .element_nullable = true};
    cr_assert_eq(pq_field_phys(&f), PQ_PHYS_FLBA);
    cr_assert_eq(pq_field_width(&f), 16);
    cr_assert_eq(pq_field_max_def(&f), 3);
    cr_assert_eq(pq_field_max_rep(&f), 1);
    f.nullable = false;
    f.element_nullable = false;
    cr_assert_eq(pq_field_max_def(&f), 1);
    struct pq_field g = {.name = "g", .type = PQ_INT16, .nullable = true};
    cr_assert_eq(pq_field_phys(&g), PQ_PHYS_INT32);
    cr_assert_eq(pq_field_max_def(&g), 1);
    cr_assert(pq_field_signed_order(&g));
    g.type = PQ_STRING;
    cr_assert_not(pq_field_signed_order(&g));
    g.type = PQ_DECIMAL;
    g.precision = 9;
    cr_assert_not(pq_field_signed_order(&g), "FLBA decimals are not a signed physical type");
}

/* The example of pq_column.h: nullable list of nullable int32. */
Test(pq_column, list_levels)
{
    struct pq_field f = {.name = "l", .type = PQ_INT32, .nullable = true, .list = true, .element_nullable = true};
    struct pq_schema s;
    cr_assert(pq_schema_init(&s, &f, 1, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    struct pq_col *c = pq_batch_col(&b, 0);
    cr_assert(pq_col_list_begin(c));
    cr_assert(pq_col_i32(c, 1));
    cr_assert(pq_col_null(c));
    cr_assert(pq_col_list_end(c));
    cr_assert(pq_col_list_begin(c));
    cr_assert(pq_col_list_end(c));
    cr_assert(pq_col_null(c));
    cr_assert(pq_col_list_begin(c));
    cr_assert(pq_col_i32(c, 2));
    cr_assert(pq_col_i32(c, 3));
    cr_assert(pq_col_list_end(c));
    cr_assert(pq_batch_commit(&b));
    cr_assert_eq(b.rows, 4);
    cr_assert_eq(c->slots, 6);
    cr_assert_eq(c->nvalues, 3);
    cr_assert_eq(c->nulls, 3);
    const uint8_t reps[6] = {0, 1, 0, 0, 0, 1}, defs[6] = {3, 2, 1, 0, 3, 3};
    cr_assert_eq(memcmp(c->reps.data, reps, 6), 0);
    cr_assert_eq(memcmp(c->defs.data, defs, 6), 0);
    pq_batch_free(&b);
}

Test(pq_column, required_list_of_required_strings)
{
    struct pq_field f = {.name = "tags", .type = PQ_STRING, .list = true};
    struct pq_schema s;
    cr_assert(pq_schema_init(&s, &f, 1, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    struct pq_col *c = pq_batch_col(&b, 0);
    cr_assert(pq_col_list_begin(c));
    cr_assert(pq_col_bytes(c, "a", 1));
    cr_assert(pq_col_bytes(c, "bc", 2));
    cr_assert(pq_col_list_end(c));
    cr_assert(pq_col_list_begin(c));
    cr_assert(pq_col_list_end(c));
    cr_assert_not(pq_col_null(c), "a required list cannot be null");
    cr_assert(strstr(b.err.msg, "'tags'"), "%s", b.err.msg);
    cr_assert(pq_col_list_begin(c));
    cr_assert_not(pq_col_null(c), "nor its elements");
    cr_assert(pq_col_list_end(c));
    cr_assert(pq_batch_commit(&b));
    const uint8_t reps[4] = {0, 1, 0, 0}, defs[4] = {1, 1, 0, 0};
    cr_assert_eq(c->slots, 4);
    cr_assert_eq(memcmp(c->reps.data, reps, 4), 0);
    cr_assert_eq(memcmp(c->defs.data, defs, 4), 0);
    const uint32_t *off = pq_col_offsets(c);
    cr_assert_eq(off[0], 0);
    cr_assert_eq(off[1], 1);
    cr_assert_eq(off[2], 3);
    cr_assert_eq(memcmp(c->arena.data, "abc", 3), 0);
    pq_batch_free(&b);
}

Test(pq_column, lazy_definition_levels)
{
    struct pq_field f = {.name = "x", .type = PQ_INT64, .nullable = true};
    struct pq_schema s;
    cr_assert(pq_schema_init(&s, &f, 1, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    struct pq_col *c = pq_batch_col(&b, 0);
    for (int i = 0; i < 100; i++) cr_assert(pq_col_i64(c, i));
    cr_assert(c->defs_lazy);
    cr_assert_eq(c->defs.len, 0);
    cr_assert(pq_batch_commit(&b));
    cr_assert(pq_col_null(c));
    cr_assert_not(c->defs_lazy);
    cr_assert_eq(c->defs.len, 101);
    for (int i = 0; i < 100; i++) cr_assert_eq(c->defs.data[i], 1);
    cr_assert_eq(c->defs.data[100], 0);
    /* Rolling back the null keeps consistent (materialised) levels. */
    pq_batch_rollback(&b);
    cr_assert_eq(c->defs.len, 100);
    cr_assert_eq(c->slots, 100);
    cr_assert_eq(c->nulls, 0);
    pq_batch_free(&b);
}

Test(pq_column, rows_are_transactional)
{
    struct pq_field f[3] = {{.name = "a", .type = PQ_INT32},
                            {.name = "b", .type = PQ_STRING, .nullable = true},
                            {.name = "c", .type = PQ_INT8, .list = true}};
    struct pq_schema s;
    cr_assert(pq_schema_init(&s, f, 3, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    struct pq_col *a = pq_batch_col(&b, 0), *bs = pq_batch_col(&b, 1), *c = pq_batch_col(&b, 2);
    cr_assert(pq_col_i32(a, 1));
    cr_assert(pq_col_bytes(bs, "keep", 4));
    cr_assert(pq_col_list_begin(c));
    cr_assert(pq_col_i32(c, 5));
    cr_assert(pq_col_list_end(c));
    cr_assert(pq_batch_commit(&b));
    /* A bad second row: int8 out of range. */
    cr_assert(pq_col_i32(a, 2));
    cr_assert(pq_col_bytes(bs, "drop me", 7));
    cr_assert(pq_col_list_begin(c));
    cr_assert(pq_col_i32(c, 6));
    cr_assert_not(pq_col_i32(c, 300));
    cr_assert(strstr(b.err.msg, "column 'c'") && strstr(b.err.msg, "300"), "%s", b.err.msg);
    cr_assert_not(pq_batch_commit(&b), "the list is still open");
    pq_batch_rollback(&b);
    cr_assert_eq(b.rows, 1);
    cr_assert_eq(a->nvalues, 1);
    cr_assert_eq(bs->arena.len, 4);
    cr_assert_eq(c->slots, 1);
    cr_assert_eq(c->reps.len, 1);
    cr_assert_eq(c->values.len, 4);
    /* An incomplete row: commit names the short column. */
    cr_assert(pq_col_i32(a, 3));
    cr_assert(pq_col_null(bs));
    cr_assert_not(pq_batch_commit(&b));
    cr_assert(strstr(b.err.msg, "'c'"), "%s", b.err.msg);
    cr_assert(pq_col_list_begin(c));
    cr_assert(pq_col_list_end(c));
    cr_assert(pq_batch_commit(&b));
    cr_assert_eq(b.rows, 2);
    pq_batch_free(&b);
}

Test(pq_column, value_checks)
{
    struct pq_field f[5] = {{.name = "i8", .type = PQ_INT8}, {.name = "i16", .type = PQ_INT16},
                            {.name = "u", .type = PQ_UUID}, {.name = "d", .type = PQ_DECIMAL, .precision = 3},
                            {.name = "r", .type = PQ_INT32}};
    struct pq_schema s;
    cr_assert(pq_schema_init(&s, f, 5, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    cr_assert(pq_col_i32(pq_batch_col(&b, 0), -128));
    cr_assert(pq_col_i32(pq_batch_col(&b, 0), 127));
    cr_assert_not(pq_col_i32(pq_batch_col(&b, 0), 128));
    cr_assert_not(pq_col_i32(pq_batch_col(&b, 0), -129));
    cr_assert(pq_col_i32(pq_batch_col(&b, 1), -32768));
    cr_assert_not(pq_col_i32(pq_batch_col(&b, 1), 32768));
    cr_assert_not(pq_col_fixed(pq_batch_col(&b, 2), "short", 5));
    cr_assert(strstr(b.err.msg, "'u'") && strstr(b.err.msg, "16"), "%s", b.err.msg);
    cr_assert(pq_col_decimal(pq_batch_col(&b, 3), 0, 999));
    cr_assert(pq_col_decimal(pq_batch_col(&b, 3), -1, (uint64_t)-999));
    cr_assert_not(pq_col_decimal(pq_batch_col(&b, 3), 0, 1000));
    cr_assert_not(pq_col_decimal(pq_batch_col(&b, 3), -1, (uint64_t)-1000));
    cr_assert(strstr(b.err.msg, "3 digits"), "%s", b.err.msg);
    cr_assert_not(pq_col_null(pq_batch_col(&b, 4)));
    cr_assert(strstr(b.err.msg, "null in a required column"), "%s", b.err.msg);
    cr_assert_eq(pq_batch_col(&b, 0)->nvalues, 2);
    pq_batch_free(&b);
}

static void expect_decimal(uint8_t precision, int64_t hi, uint64_t lo, const uint8_t *want, size_t n)
{
    struct pq_field f = {.name = "d", .type = PQ_DECIMAL, .precision = precision};
    struct pq_schema s;
    cr_assert(pq_schema_init(&s, &f, 1, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    struct pq_col *c = pq_batch_col(&b, 0);
    cr_assert(pq_col_decimal(c, hi, lo), "%s", b.err.msg);
    cr_assert_eq(c->width, n);
    cr_assert_eq(memcmp(c->values.data, want, n), 0);
    pq_batch_free(&b);
}

Test(pq_column, decimal_flba_is_big_endian_twos_complement)
{
    /* precision 9: 4 bytes */
    expect_decimal(9, -1, (uint64_t)-1, (const uint8_t[]){0xFF, 0xFF, 0xFF, 0xFF}, 4);
    expect_decimal(9, -1, (uint64_t)-999999999, (const uint8_t[]){0xC4, 0x65, 0x36, 0x01}, 4);
    expect_decimal(9, 0, 999999999, (const uint8_t[]){0x3B, 0x9A, 0xC9, 0xFF}, 4);
    /* precision 18: 8 bytes; -123456789012345678 = 0xFE4964B459CF0CB2 */
    expect_decimal(18, -1, (uint64_t)-123456789012345678LL,
                   (const uint8_t[]){0xFE, 0x49, 0x64, 0xB4, 0x59, 0xCF, 0x0C, 0xB2}, 8);
    /* precision 38: 16 bytes; -(10^38 - 1) = -0x4B3B4CA85A86C47A098A223FFFFFFFFF */
    expect_decimal(38, (int64_t)~0x4B3B4CA85A86C47AULL, ~0x098A223FFFFFFFFFULL + 1,
                   (const uint8_t[]){0xB4, 0xC4, 0xB3, 0x57, 0xA5, 0x79, 0x3B, 0x85,
                                     0xF6, 0x75, 0xDD, 0xC0, 0x00, 0x00, 0x00, 0x01}, 16);
    expect_decimal(38, 0, 1, (const uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 16);
}

Test(pq_column, memory_is_reported_bounded_and_reused)
{
    struct pq_mem tight;
    pq_mem_init(&tight, NULL, NULL, 64 << 10);
    struct pq_field f = {.name = "s", .type = PQ_STRING, .nullable = true};
    struct pq_schema s;
    cr_assert(pq_schema_init(&s, &f, 1, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &tight, &err));
    struct pq_col *c = pq_batch_col(&b, 0);
    char v[100];
    memset(v, 'v', sizeof v);
    int n = 0;
    while (pq_col_bytes(c, v, sizeof v)) {
        cr_assert(pq_batch_commit(&b));
        n++;
    }
    cr_assert_eq(b.err.code, PQ_E_MEMORY);
    cr_assert(strstr(b.err.msg, "column 's'"), "%s", b.err.msg);
    cr_assert_gt(n, 100);
    cr_assert_eq(c->nvalues, (size_t)n, "the failed append left no trace");
    cr_assert_eq(c->arena.len, (size_t)n * sizeof v);
    size_t used = pq_batch_mem_bytes(&b);
    cr_assert_leq(used, tight.used_bytes);
    cr_assert_geq(used, (size_t)n * (sizeof v + 4));
    cr_assert_geq(pq_batch_data_bytes(&b), (size_t)n * sizeof v);
    /* Reset keeps the memory; refilling allocates nothing more. */
    pq_batch_reset(&b);
    cr_assert_eq(b.rows, 0);
    size_t before = tight.used_bytes;
    for (int i = 0; i < n / 2; i++) cr_assert(pq_col_bytes(c, v, sizeof v));
    cr_assert_eq(tight.used_bytes, before);
    pq_batch_free(&b);
    cr_assert_eq(tight.used_bytes, 0);
}

/* An allocator that fails after a budget of calls (fault injection). */
static int calls_left;
static void *failing(void *ctx, void *ptr, size_t old_bytes, size_t new_bytes)
{
    (void)ctx;
    (void)old_bytes;
    if (new_bytes == 0) {
        free(ptr);
        return NULL;
    }
    if (calls_left-- <= 0) return NULL;
    return realloc(ptr, new_bytes);
}

Test(pq_column, every_allocation_failure_is_an_error_value)
{
    struct pq_field f[3] = {{.name = "a", .type = PQ_INT64, .nullable = true},
                            {.name = "s", .type = PQ_STRING, .list = true, .element_nullable = true},
                            {.name = "d", .type = PQ_DECIMAL, .precision = 20, .nullable = true}};
    struct pq_schema s;
    cr_assert(pq_schema_init(&s, f, 3, &err));
    for (int budget = 0; budget < 60; budget++) {
        struct pq_mem m;
        pq_mem_init(&m, failing, NULL, 0);
        calls_left = budget;
        struct pq_batch b;
        if (!pq_batch_init(&b, &s, &m, &err)) {
            cr_assert_eq(err.code, PQ_E_MEMORY);
            cr_assert_eq(m.used_bytes, 0);
            continue;
        }
        for (int row = 0; row < 200; row++) {
            bool ok = pq_col_i64(pq_batch_col(&b, 0), row) &&
                      (row % 3 ? pq_col_null(pq_batch_col(&b, 2)) : pq_col_decimal(pq_batch_col(&b, 2), 0, 7)) &&
                      pq_col_list_begin(pq_batch_col(&b, 1)) && pq_col_bytes(pq_batch_col(&b, 1), "xy", 2) &&
                      pq_col_null(pq_batch_col(&b, 1)) && pq_col_list_end(pq_batch_col(&b, 1)) &&
                      pq_batch_commit(&b);
            if (!ok) {
                cr_assert_eq(b.err.code, PQ_E_MEMORY, "%s", b.err.msg);
                pq_batch_rollback(&b);
                cr_assert_eq(b.rows, (size_t)row);
                break;
            }
        }
        pq_batch_free(&b);
        cr_assert_eq(m.used_bytes, 0);
    }
}
