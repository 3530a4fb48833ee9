/* parquet/pq_dict: dictionary building, limits (fallback) and the PLAIN page. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/pq_column.h"
#include "parquet/pq_dict.h"

static struct pq_mem mem;
static struct pq_dict d;

static void setup(void)
{
    pq_mem_init(&mem, NULL, NULL, 0);
    pq_dict_init(&d, &mem);
}

static void teardown(void)
{
    pq_dict_free(&d);
    cr_assert_eq(mem.used_bytes, 0);
}

TestSuite(pq_dict, .init = setup, .fini = teardown);

static uint64_t rng = 7;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Checks that idx maps every value to an entry holding the same bytes and that
 * entries are distinct and in first-occurrence order. */
static void check_fixed(const uint8_t *vals, size_t n, uint32_t w, const uint32_t *idx)
{
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(idx[i], d.count);
        cr_assert_eq(memcmp(d.entries.data + (size_t)w * idx[i], vals + w * i, w), 0, "value %zu", i);
        if (idx[i] == next) next++;
        else cr_assert_lt(idx[i], next, "entries not in first-occurrence order");
    }
    cr_assert_eq(next, d.count);
    for (uint32_t a = 0; a < d.count; a++)
        for (uint32_t b = a + 1; b < d.count && b < a + 50; b++)
            cr_assert_neq(memcmp(d.entries.data + (size_t)w * a, d.entries.data + (size_t)w * b, w), 0);
}

Test(pq_dict, fixed_widths_intern_by_bytes)
{
    static const uint32_t widths[] = {4, 8, 16, 5, 1 + 1, 11};
    for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
        uint32_t w = widths[k];
        size_t n = 20000;
        uint8_t *vals = malloc(n * w);
        for (size_t i = 0; i < n; i++) {
            uint64_t x = rnd() % 777; /* 777 distinct at most */
            memset(vals + w * i, 0, w);
            memcpy(vals + w * i, &x, w < 8 ? w : 8);
        }
        uint32_t *idx = malloc(n * sizeof *idx);
        pq_dict_start(&d, w, vals, NULL, NULL);
        /* Two slices, as the writer does. */
        cr_assert_eq(pq_dict_add(&d, 0, 12345, idx, UINT32_MAX, SIZE_MAX), PQ_DICT_OK);
        cr_assert_eq(pq_dict_add(&d, 12345, n, idx + 12345, UINT32_MAX, SIZE_MAX), PQ_DICT_OK);
        cr_assert_leq(d.count, 777);
        cr_assert_eq(d.plain_bytes, (size_t)d.count * w);
        check_fixed(vals, n, w, idx);
        free(vals);
        free(idx);
    }
}

Test(pq_dict, floats_by_bit_pattern)
{
    double v[6] = {0.0, -0.0, NAN, NAN, 0.0, -NAN};
    uint8_t le[6 * 8];
    for (int i = 0; i < 6; i++) memcpy(le + 8 * i, &v[i], 8);
    uint32_t idx[6];
    pq_dict_start(&d, 8, le, NULL, NULL);
    cr_assert_eq(pq_dict_add(&d, 0, 6, idx, 100, 1000), PQ_DICT_OK);
    cr_assert_eq(d.count, 4); /* +0, -0, NaN, -NaN */
    cr_assert_eq(idx[0], idx[4]);
    cr_assert_neq(idx[0], idx[1]);
    cr_assert_eq(idx[2], idx[3]);
}

Test(pq_dict, byte_arrays_reference_the_column)
{
    struct pq_field f = {.name = "s", .type = PQ_STRING, .nullable = false};
    struct pq_schema s;
    struct pq_err err;
    cr_assert(pq_schema_init(&s, &f, 1, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    const char *words[] = {"", "a", "b", "a", "", "longer word", "b", "a\0b", "a"};
    size_t lens[] = {0, 1, 1, 1, 0, 11, 1, 3, 1};
    for (int i = 0; i < 9; i++) cr_assert(pq_col_bytes(pq_batch_col(&b, 0), words[i], lens[i]));
    const struct pq_col *c = pq_batch_col(&b, 0);
    uint32_t idx[9];
    pq_dict_start(&d, 0, NULL, pq_col_offsets(c), c->arena.data);
    cr_assert_eq(pq_dict_add(&d, 0, 9, idx, 100, 1000), PQ_DICT_OK);
    cr_assert_eq(d.count, 5);
    uint32_t want[9] = {0, 1, 2, 1, 0, 3, 2, 4, 1};
    for (int i = 0; i < 9; i++) cr_assert_eq(idx[i], want[i]);
    cr_assert_eq(d.plain_bytes, 5 * 4 + 0 + 1 + 1 + 11 + 3);
    struct pq_buf page;
    pq_buf_init(&page, &mem);
    pq_dict_write_plain(&d, &page);
    const uint8_t expect[] = {0, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 'b', 11, 0, 0, 0, 'l', 'o', 'n',
                              'g', 'e', 'r', ' ', 'w', 'o', 'r', 'd', 3, 0, 0, 0, 'a', 0, 'b'};
    cr_assert_eq(page.len, sizeof expect);
    cr_assert_eq(memcmp(page.data, expect, sizeof expect), 0);
    pq_buf_free(&page);
    pq_batch_free(&b);
}

Test(pq_dict, entry_limit_is_exact)
{
    /* 10 distinct values: a limit of 10 entries holds, 9 falls back. */
    uint8_t vals[40 * 4];
    for (int i = 0; i < 40; i++) {
        uint32_t x = (uint32_t)(i % 10);
        memcpy(vals + 4 * i, &x, 4);
    }
    uint32_t idx[40];
    pq_dict_start(&d, 4, vals, NULL, NULL);
    cr_assert_eq(pq_dict_add(&d, 0, 40, idx, 10, SIZE_MAX), PQ_DICT_OK);
    cr_assert_eq(d.count, 10);
    pq_dict_start(&d, 4, vals, NULL, NULL);
    cr_assert_eq(pq_dict_add(&d, 0, 40, idx, 9, SIZE_MAX), PQ_DICT_FULL);
}

Test(pq_dict, byte_limit_is_exact)
{
    /* 10 distinct int64: 80 bytes of dictionary page. */
    uint8_t vals[30 * 8];
    for (int i = 0; i < 30; i++) {
        uint64_t x = (uint64_t)(i % 10) * 1000003;
        memcpy(vals + 8 * i, &x, 8);
    }
    uint32_t idx[30];
    pq_dict_start(&d, 8, vals, NULL, NULL);
    cr_assert_eq(pq_dict_add(&d, 0, 30, idx, 100, 80), PQ_DICT_OK);
    cr_assert_eq(d.plain_bytes, 80);
    pq_dict_start(&d, 8, vals, NULL, NULL);
    cr_assert_eq(pq_dict_add(&d, 0, 30, idx, 100, 79), PQ_DICT_FULL);
}

Test(pq_dict, growth_to_many_entries_and_reuse)
{
    size_t n = 300000;
    uint8_t *vals = malloc(n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t x = i * 0x9E3779B97F4A7C15ULL;
        memcpy(vals + 8 * i, &x, 8);
    }
    uint32_t *idx = malloc(n * sizeof *idx);
    pq_dict_start(&d, 8, vals, NULL, NULL);
    cr_assert_eq(pq_dict_add(&d, 0, n, idx, UINT32_MAX, SIZE_MAX), PQ_DICT_OK);
    cr_assert_eq(d.count, n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(idx[i], i);
    size_t mem_before = pq_dict_mem_bytes(&d);
    cr_assert_gt(mem_before, n * 8);
    /* Reused for another chunk: same memory, fresh content. */
    pq_dict_start(&d, 8, vals, NULL, NULL);
    cr_assert_eq(pq_dict_add(&d, 5, 10, idx, 100, 1000), PQ_DICT_OK);
    cr_assert_eq(d.count, 5);
    cr_assert_eq(idx[0], 0);
    cr_assert_eq(pq_dict_mem_bytes(&d), mem_before);
    free(vals);
    free(idx);
}

Test(pq_dict, memory_budget_refusal)
{
    struct pq_mem small;
    pq_mem_init(&small, NULL, NULL, 4096);
    struct pq_dict sd;
    pq_dict_init(&sd, &small);
    size_t n = 5000;
    uint8_t *vals = malloc(n * 4);
    for (size_t i = 0; i < n; i++) memcpy(vals + 4 * i, &(uint32_t){(uint32_t)i}, 4);
    uint32_t *idx = malloc(n * sizeof *idx);
    pq_dict_start(&sd, 4, vals, NULL, NULL);
    cr_assert_eq(pq_dict_add(&sd, 0, n, idx, UINT32_MAX, SIZE_MAX), PQ_DICT_NOMEM);
    pq_dict_free(&sd);
    cr_assert_eq(small.used_bytes, 0);
    free(vals);
    free(idx);
}

Test(pq_dict, hash_spreads_and_is_stable)
{
    cr_assert_eq(pq_hash_bytes((const uint8_t *)"abc", 3), pq_hash_bytes((const uint8_t *)"abc", 3));
    cr_assert_neq(pq_hash_bytes((const uint8_t *)"abc", 3), pq_hash_bytes((const uint8_t *)"abd", 3));
    cr_assert_neq(pq_hash_bytes((const uint8_t *)"", 0), pq_hash_bytes((const uint8_t *)"\0", 1));
    /* Low bits of hashes of sequential keys fill a small table evenly. */
    unsigned buckets[64] = {0};
    for (uint32_t i = 0; i < 64000; i++) {
        uint8_t k[4];
        memcpy(k, &i, 4);
        buckets[pq_hash_bytes(k, 4) & 63]++;
    }
    for (int i = 0; i < 64; i++) cr_assert(buckets[i] > 800 && buckets[i] < 1200, "bucket %d: %u", i, buckets[i]);
}

Test(pq_dict, byte_arrays_of_every_length_around_the_prefix_words)
{
    /* Values of 0..48 bytes that share everything but one byte (first, at
     * 8/16, in the middle, last): the 16-byte prefix words, the 17..32-byte
     * tail compare and the longer memcmp must all tell them apart; the last
     * values sit at the very end of the arena (no 16-byte read past it). */
    struct pq_field f = {.name = "s", .type = PQ_STRING, .nullable = false};
    struct pq_schema s;
    struct pq_err err;
    cr_assert(pq_schema_init(&s, &f, 1, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    struct pq_col *c = pq_batch_col(&b, 0);
    size_t n = 0;
    for (int round = 0; round < 3; round++) { /* every value three times: later rounds must hit */
        for (size_t len = 0; len <= 48; len++) {
            size_t spots[] = {0, len / 2, len > 8 ? 8 : 0, len > 16 ? 16 : 0, len > 0 ? len - 1 : 0};
            for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
                uint8_t v[48];
                memset(v, 'x', sizeof v);
                if (len > 0) v[spots[k]] = (uint8_t)('A' + k);
                cr_assert(pq_col_bytes(c, v, len));
                n++;
            }
        }
    }
    uint32_t *idx = malloc(n * sizeof *idx);
    pq_dict_start(&d, 0, NULL, pq_col_offsets(c), c->arena.data);
    /* In slices, like the writer, so that slice ends fall on odd places. */
    for (size_t at = 0; at < n; at += 37) {
        size_t to = at + 37 < n ? at + 37 : n;
        cr_assert_eq(pq_dict_add(&d, at, to, idx + at, UINT32_MAX, SIZE_MAX), PQ_DICT_OK);
    }
    const uint32_t *off = pq_col_offsets(c);
    for (size_t i = 0; i < n; i++) {
        uint32_t j = pq_dict_first(&d, idx[i]);
        uint32_t li = off[i + 1] - off[i], lj = off[j + 1] - off[j];
        cr_assert_eq(li, lj, "value %zu", i);
        cr_assert_eq(memcmp(c->arena.data + off[i], c->arena.data + off[j], li), 0, "value %zu", i);
    }
    /* Distinct values got distinct entries: brute force over the first round. */
    size_t round_n = n / 3;
    for (size_t i = 0; i < round_n; i++)
        for (size_t k = i + 1; k < round_n; k++) {
            uint32_t li = off[i + 1] - off[i], lk = off[k + 1] - off[k];
            bool same = li == lk && memcmp(c->arena.data + off[i], c->arena.data + off[k], li) == 0;
            cr_assert_eq(idx[i] == idx[k], same, "values %zu and %zu", i, k);
        }
    for (size_t i = 0; i < round_n; i++) {
        cr_assert_eq(idx[i], idx[i + round_n]);
        cr_assert_eq(idx[i], idx[i + 2 * round_n]);
    }
    free(idx);
    pq_batch_free(&b);
}

Test(pq_dict, large_tables_prefetch_path_and_growth)
{
    /* 60,000 distinct strings, each twice: the table outgrows the cache-sized
     * limit, so blocks are hashed and prefetched first; entries stay exact
     * across the 4x growths. */
    struct pq_field f = {.name = "s", .type = PQ_STRING, .nullable = false};
    struct pq_schema s;
    struct pq_err err;
    cr_assert(pq_schema_init(&s, &f, 1, &err));
    struct pq_batch b;
    cr_assert(pq_batch_init(&b, &s, &mem, &err));
    struct pq_col *c = pq_batch_col(&b, 0);
    size_t n = 120000;
    for (size_t i = 0; i < n; i++) {
        char v[40];
        int len = snprintf(v, sizeof v, "session-%08zx-%.*s", (i % 60000) * 2654435761u % 1000003,
                           (int)(i % 60000 % 20), "abcdefghijklmnopqrstuvwxyz");
        cr_assert(pq_col_bytes(c, v, (size_t)len));
    }
    uint32_t *idx = malloc(n * sizeof *idx);
    pq_dict_start(&d, 0, NULL, pq_col_offsets(c), c->arena.data);
    cr_assert_eq(pq_dict_add(&d, 0, n, idx, UINT32_MAX, SIZE_MAX), PQ_DICT_OK);
    cr_assert_eq(d.count, 60000);
    for (size_t i = 0; i < 60000; i++) {
        cr_assert_eq(idx[i], i);
        cr_assert_eq(idx[i + 60000], i);
    }
    free(idx);
    pq_batch_free(&b);
}
