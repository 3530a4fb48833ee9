/* parquet/pq_writer: whole files checked byte by byte where they are small,
 * the pull loop through tiny buffers, bounded work per pull, row-group and
 * dictionary decisions, option and state errors, memory limits. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/parquet.h"

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#define CREATED_BY "lakewriter version 0.1.0 (build test)"

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

TestSuite(pq_writer, .init = setup, .fini = teardown);

struct file {
    uint8_t *p;
    size_t len;
};

static void opts_init(struct pq_writer_opts *o)
{
    pq_writer_opts_default(o);
    o->created_by = CREATED_BY;
}

/* Writes a batch with `o`, pulling through a buffer of `cap` bytes. */
static struct file write_file(const struct pq_batch *b, const struct pq_writer_opts *o, size_t cap)
{
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, o, &err), "%s", err.msg);
    cr_assert(pq_writer_begin(&w, b, &err), "%s", err.msg);
    struct file f = {malloc(1 << 20), 0};
    size_t fcap = 1 << 20;
    uint8_t *buf = malloc(cap);
    for (;;) {
        size_t n;
        enum pq_status st = pq_writer_pull(&w, buf, cap, &n);
        cr_assert_neq(st, PQ_ERROR, "%s", pq_writer_error(&w)->msg);
        cr_assert_leq(n, cap);
        if (f.len + n > fcap) {
            while (f.len + n > fcap) fcap *= 2;
            f.p = realloc(f.p, fcap);
        }
        memcpy(f.p + f.len, buf, n);
        f.len += n;
        if (st == PQ_DONE) break;
    }
    cr_assert_eq(pq_writer_file_bytes(&w), f.len);
    cr_assert_eq(pq_writer_status(&w), PQ_DONE);
    free(buf);
    pq_writer_free(&w);
    return f;
}

static void expect_bytes(const struct file *f, size_t at, const uint8_t *want, size_t n)
{
    cr_assert_leq(at + n, f->len, "file of %zu bytes", f->len);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(f->p[at + i], want[i], "byte %zu: 0x%02x, expected 0x%02x", at + i, f->p[at + i], want[i]);
}

/* One column, committed rows of int32 values. */
struct batch1 {
    struct pq_field f;
    struct pq_schema s;
    struct pq_batch b;
};

static void batch1_init(struct batch1 *x, enum pq_type t, bool nullable)
{
    x->f = (struct pq_field){.name = "a", .type = t, .nullable = nullable};
    cr_assert(pq_schema_init(&x->s, &x->f, 1, &err));
    cr_assert(pq_batch_init(&x->b, &x->s, &mem, &err));
}

/* The footer of a file: checks the tail and returns where FileMetaData starts. */
static size_t footer_start(const struct file *f)
{
    cr_assert_geq(f->len, 12);
    cr_assert_eq(memcmp(f->p, "PAR1", 4), 0);
    cr_assert_eq(memcmp(f->p + f->len - 4, "PAR1", 4), 0);
    uint32_t n = pq_load_u32le(f->p + f->len - 8);
    cr_assert_leq(n + 12, f->len);
    return f->len - 8 - n;
}

Test(pq_writer, empty_batch_is_a_file_without_row_groups)
{
    struct batch1 x;
    batch1_init(&x, PQ_INT32, false);
    struct pq_writer_opts o;
    opts_init(&o);
    struct file f = write_file(&x.b, &o, 4096);
    const uint8_t head[] = {
        'P', 'A', 'R', '1',
        0x15, 0x02,                                     /* 1: version 1 */
        0x19, 0x2C,                                     /* 2: schema, 2 structs */
        0x48, 0x06, 's', 'c', 'h', 'e', 'm', 'a',       /*   root: 4: name */
        0x15, 0x02, 0x00,                               /*         5: num_children 1 */
        0x15, 0x02,                                     /*   leaf: 1: type INT32 */
        0x25, 0x00,                                     /*         3: REQUIRED */
        0x18, 0x01, 'a', 0x00,                          /*         4: name */
        0x16, 0x00,                                     /* 3: num_rows 0 */
        0x19, 0x0C,                                     /* 4: row_groups, empty */
        0x28, (uint8_t)strlen(CREATED_BY),              /* 6: created_by */
    };
    expect_bytes(&f, 0, head, sizeof head);
    size_t at = sizeof head + strlen(CREATED_BY);
    cr_assert_eq(memcmp(f.p + sizeof head, CREATED_BY, strlen(CREATED_BY)), 0);
    const uint8_t tail[] = {0x19, 0x1C, 0x1C, 0x00, 0x00,  /* 7: column_orders: TYPE_ORDER */
                            0x00,                          /* stop */
                            (uint8_t)(at + 6 - 4), 0, 0, 0, 'P', 'A', 'R', '1'};
    expect_bytes(&f, at, tail, sizeof tail);
    cr_assert_eq(f.len, at + sizeof tail);
    free(f.p);
    pq_batch_free(&x.b);
}

Test(pq_writer, plain_page_bytes)
{
    struct batch1 x;
    batch1_init(&x, PQ_INT32, true);
    for (int i = 1; i <= 3; i++) cr_assert(pq_col_i32(pq_batch_col(&x.b, 0), i));
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer_opts o;
    opts_init(&o);
    o.codec = PQ_CODEC_UNCOMPRESSED;
    o.dictionary = false;
    struct file f = write_file(&x.b, &o, 4096);
    const uint8_t page[] = {
        0x15, 0x00,                     /* 1: DATA_PAGE */
        0x15, 0x24,                     /* 2: uncompressed 18 */
        0x15, 0x24,                     /* 3: compressed 18 */
        0x2C,                           /* 5: DataPageHeader */
        0x15, 0x06,                     /*   num_values 3 */
        0x15, 0x00,                     /*   PLAIN */
        0x15, 0x06, 0x15, 0x06,         /*   RLE, RLE */
        0x00, 0x00,
        0x02, 0x00, 0x00, 0x00,         /* def levels: 2 bytes */
        0x06, 0x01,                     /*   RLE run: 3 x 1 */
        1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
    };
    expect_bytes(&f, 4, page, sizeof page);
    /* The page index comes right after the chunk, then the footer. */
    cr_assert_gt(footer_start(&f), 4 + sizeof page);
    free(f.p);
    pq_batch_free(&x.b);
}

Test(pq_writer, one_distinct_value_is_a_bit_width_0_dictionary)
{
    struct batch1 x;
    batch1_init(&x, PQ_INT32, false);
    for (int i = 0; i < 5; i++) cr_assert(pq_col_i32(pq_batch_col(&x.b, 0), 7));
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer_opts o;
    opts_init(&o);
    o.codec = PQ_CODEC_UNCOMPRESSED;
    struct file f = write_file(&x.b, &o, 4096);
    const uint8_t pages[] = {
        0x15, 0x04,                     /* DICTIONARY_PAGE */
        0x15, 0x08, 0x15, 0x08,         /* 4 bytes */
        0x4C, 0x15, 0x02, 0x15, 0x00, 0x00, /* 7: 1 value, PLAIN */
        0x00,
        7, 0, 0, 0,
        0x15, 0x00,                     /* DATA_PAGE */
        0x15, 0x04, 0x15, 0x04,         /* 2 bytes */
        0x2C, 0x15, 0x0A, 0x15, 0x10, 0x15, 0x06, 0x15, 0x06, 0x00, /* 5 values, RLE_DICTIONARY */
        0x00,
        0x00,                           /* bit width 0 */
        0x0A,                           /* still a run header: 5 << 1 */
    };
    expect_bytes(&f, 4, pages, sizeof pages);
    free(f.p);
    pq_batch_free(&x.b);
}

/* A batch of several types, lists and nulls. */
struct mixed {
    struct pq_field f[5];
    struct pq_schema s;
    struct pq_batch b;
};

static void mixed_init(struct mixed *m, size_t rows)
{
    m->f[0] = (struct pq_field){.name = "id", .type = PQ_INT64};
    m->f[1] = (struct pq_field){.name = "name", .type = PQ_STRING, .nullable = true};
    m->f[2] = (struct pq_field){.name = "tags", .type = PQ_STRING, .nullable = true, .list = true, .element_nullable = true};
    m->f[3] = (struct pq_field){.name = "score", .type = PQ_DOUBLE, .nullable = true};
    m->f[4] = (struct pq_field){.name = "amount", .type = PQ_DECIMAL, .precision = 18, .scale = 2};
    cr_assert(pq_schema_init(&m->s, m->f, 5, &err));
    cr_assert(pq_batch_init(&m->b, &m->s, &mem, &err));
    uint64_t r = 12345;
    for (size_t i = 0; i < rows; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        char name[32];
        int n = snprintf(name, sizeof name, "user-%u", (unsigned)(r >> 50));
        cr_assert(pq_col_i64(pq_batch_col(&m->b, 0), (int64_t)i));
        cr_assert((r >> 20) % 5 == 0 ? pq_col_null(pq_batch_col(&m->b, 1))
                                      : pq_col_bytes(pq_batch_col(&m->b, 1), name, (size_t)n));
        struct pq_col *t = pq_batch_col(&m->b, 2);
        if ((r >> 30) % 7 == 0) {
            cr_assert(pq_col_null(t));
        } else {
            cr_assert(pq_col_list_begin(t));
            for (unsigned k = 0; k < (r >> 40) % 4; k++)
                cr_assert(k == 2 ? pq_col_null(t) : pq_col_bytes(t, "tag", 3));
            cr_assert(pq_col_list_end(t));
        }
        cr_assert(pq_col_double(pq_batch_col(&m->b, 3), (double)(r >> 11) / 7.0));
        cr_assert(pq_col_decimal(pq_batch_col(&m->b, 4), 0, (r >> 8) % 100000));
        cr_assert(pq_batch_commit(&m->b));
    }
}

Test(pq_writer, tiny_pull_buffers_give_the_same_bytes)
{
    struct mixed m;
    mixed_init(&m, 3000);
    struct pq_writer_opts o;
    opts_init(&o);
    o.page_rows_max = 500;
    o.row_group_rows_max = 1100;
    struct file big = write_file(&m.b, &o, 1 << 20);
    static const size_t caps[] = {1, 2, 7, 13, 64, 4096};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        struct file f = write_file(&m.b, &o, caps[i]);
        cr_assert_eq(f.len, big.len, "cap %zu", caps[i]);
        cr_assert_eq(memcmp(f.p, big.p, big.len), 0, "cap %zu", caps[i]);
        free(f.p);
    }
    /* The zero-copy interface gives the same bytes too. */
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(pq_writer_begin(&w, &m.b, &err));
    size_t at = 0;
    while (pq_writer_status(&w) == PQ_MORE) {
        size_t n;
        const uint8_t *p = pq_writer_out(&w, &n);
        if (n == 0) continue;
        size_t take = n > 3 ? n - 3 : n; /* acknowledge a part only */
        cr_assert_leq(at + take, big.len);
        cr_assert_eq(memcmp(p, big.p + at, take), 0);
        pq_writer_ack(&w, take);
        at += take;
    }
    cr_assert_eq(at, big.len);
    pq_writer_free(&w);
    free(big.p);
    pq_batch_free(&m.b);
}

Test(pq_writer, writers_are_reusable_and_deterministic)
{
    struct mixed a, b;
    mixed_init(&a, 2000);
    mixed_init(&b, 700);
    struct pq_writer_opts o;
    opts_init(&o);
    struct file fa = write_file(&a.b, &o, 1 << 16), fb = write_file(&b.b, &o, 1 << 16);
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    for (int round = 0; round < 2; round++) {
        const struct file *want = round == 0 ? &fa : &fb;
        cr_assert(pq_writer_begin(&w, round == 0 ? &a.b : &b.b, &err));
        uint8_t *got = malloc(want->len + 1);
        size_t len = 0, n;
        enum pq_status st;
        do {
            st = pq_writer_pull(&w, got + len, want->len + 1 - len, &n);
            cr_assert_neq(st, PQ_ERROR);
            len += n;
        } while (st == PQ_MORE);
        cr_assert_eq(len, want->len);
        cr_assert_eq(memcmp(got, want->p, len), 0);
        free(got);
    }
    cr_assert_gt(pq_writer_mem_bytes(&w), 0);
    pq_writer_free(&w);
    free(fa.p);
    free(fb.p);
    pq_batch_free(&a.b);
    pq_batch_free(&b.b);
}

Test(pq_writer, each_pull_does_a_bounded_amount_of_work)
{
    struct batch1 x;
    batch1_init(&x, PQ_INT64, false);
    for (int64_t i = 0; i < 200000; i++) cr_assert(pq_col_i64(pq_batch_col(&x.b, 0), i * 7919));
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer_opts o;
    opts_init(&o);
    o.codec = PQ_CODEC_UNCOMPRESSED;
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(pq_writer_begin(&w, &x.b, &err));
    size_t cap = 16 << 20, pulls = 0, largest = 0, n;
    uint8_t *buf = malloc(cap);
    enum pq_status st;
    do {
        st = pq_writer_pull(&w, buf, cap, &n);
        cr_assert_neq(st, PQ_ERROR);
        pulls++;
        if (n > largest) largest = n;
    } while (st == PQ_MORE);
    /* 200,000 distinct values: PLAIN, pages of 20,000 rows x 8 bytes. */
    cr_assert_geq(pulls, 10);
    cr_assert_leq(largest, 20000 * 8 + 64, "one pull produced %zu bytes", largest);
    free(buf);
    pq_writer_free(&w);
    pq_batch_free(&x.b);
}

Test(pq_writer, row_groups_are_balanced_and_never_empty)
{
    struct batch1 x;
    batch1_init(&x, PQ_INT32, false);
    for (int i = 0; i < 2500; i++) cr_assert(pq_col_i32(pq_batch_col(&x.b, 0), i));
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer_opts o;
    opts_init(&o);
    o.row_group_rows_max = 1000;
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(pq_writer_begin(&w, &x.b, &err));
    uint8_t buf[4096];
    size_t n;
    while (pq_writer_pull(&w, buf, sizeof buf, &n) == PQ_MORE) {}
    cr_assert_eq(pq_writer_status(&w), PQ_DONE);
    cr_assert_eq(w.rg_count, 3);
    cr_assert_eq(w.rgs[0].rows, 833);
    cr_assert_eq(w.rgs[1].rows, 833);
    cr_assert_eq(w.rgs[2].rows, 834);
    cr_assert_eq(w.rgs[0].file_offset, 4);
    cr_assert_eq(w.rgs[1].file_offset, 4 + w.rgs[0].compressed_bytes);
    /* By bytes: ~4 bytes a row, at most 1000 bytes a group. */
    o.row_group_rows_max = 1000000;
    o.row_group_bytes_max = 1000;
    pq_writer_free(&w);
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(pq_writer_begin(&w, &x.b, &err));
    cr_assert_eq(w.rg_count, 10);
    pq_writer_free(&w);
    pq_batch_free(&x.b);
}

/* Whether the chunk of a one-column file starts with a dictionary page: the
 * first PageHeader field is `15 04` (type 2) rather than `15 00`. */
static bool starts_with_dictionary(const struct pq_batch *b, const struct pq_writer_opts *o)
{
    struct file f = write_file(b, o, 1 << 16);
    cr_assert_eq(f.p[4], 0x15);
    bool dict = f.p[5] == 0x04;
    free(f.p);
    return dict;
}

Test(pq_writer, dictionary_fallback_rule)
{
    /* 100 values: a dictionary holds at most 100 / 5 = 20 distinct values. */
    for (int distinct = 19; distinct <= 21; distinct++) {
        struct batch1 x;
        batch1_init(&x, PQ_STRING, false);
        for (int i = 0; i < 100; i++) {
            char v[16];
            int n = snprintf(v, sizeof v, "v%d", i % distinct);
            cr_assert(pq_col_bytes(pq_batch_col(&x.b, 0), v, (size_t)n));
        }
        cr_assert(pq_batch_commit(&x.b));
        struct pq_writer_opts o;
        opts_init(&o);
        cr_assert_eq(starts_with_dictionary(&x.b, &o), distinct <= 20, "%d distinct", distinct);
        o.dict_bytes_max = 10; /* the size limit falls back too */
        cr_assert_not(starts_with_dictionary(&x.b, &o));
        o.dict_bytes_max = PQ_DICT_BYTES_DEFAULT;
        o.dictionary = false;
        cr_assert_not(starts_with_dictionary(&x.b, &o));
        pq_batch_free(&x.b);
    }
    /* Never for booleans; floats unless turned off. */
    struct batch1 y, z;
    batch1_init(&y, PQ_BOOL, false);
    batch1_init(&z, PQ_FLOAT, false);
    for (int i = 0; i < 100; i++) {
        cr_assert(pq_col_bool(pq_batch_col(&y.b, 0), i & 1));
        cr_assert(pq_col_float(pq_batch_col(&z.b, 0), (float)(i % 3)));
    }
    cr_assert(pq_batch_commit(&y.b));
    cr_assert(pq_batch_commit(&z.b));
    struct pq_writer_opts o;
    opts_init(&o);
    cr_assert_not(starts_with_dictionary(&y.b, &o));
    cr_assert(starts_with_dictionary(&z.b, &o));
    o.dictionary_floats = false;
    cr_assert_not(starts_with_dictionary(&z.b, &o));
    pq_batch_free(&y.b);
    pq_batch_free(&z.b);
}

Test(pq_writer, option_and_state_errors)
{
    struct pq_writer w;
    struct pq_writer_opts o;
    opts_init(&o);
    o.created_by = NULL;
    cr_assert_not(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(strstr(err.msg, "created_by"), "%s", err.msg);
    opts_init(&o);
    o.zstd_level = 99;
    cr_assert_not(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(strstr(err.msg, "zstd level 99"), "%s", err.msg);
    opts_init(&o);
    o.page_rows_max = 0;
    cr_assert_not(pq_writer_init(&w, &mem, &o, &err));
    opts_init(&o);
    o.codec = 1; /* SNAPPY: not built in */
    cr_assert_not(pq_writer_init(&w, &mem, &o, &err));
    opts_init(&o);
    o.stats_truncate_bytes = 2;
    cr_assert_not(pq_writer_init(&w, &mem, &o, &err));

    /* Uncommitted rows. */
    struct batch1 x;
    batch1_init(&x, PQ_INT32, false);
    cr_assert(pq_col_i32(pq_batch_col(&x.b, 0), 1));
    opts_init(&o);
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    cr_assert_not(pq_writer_begin(&w, &x.b, &err));
    cr_assert(strstr(err.msg, "column 'a'") && strstr(err.msg, "uncommitted"), "%s", err.msg);
    /* Pulling before any begin is an error, not a crash. */
    uint8_t buf[16];
    size_t n;
    cr_assert_eq(pq_writer_pull(&w, buf, sizeof buf, &n), PQ_ERROR);
    cr_assert_eq(n, 0);
    pq_writer_free(&w);
    pq_batch_free(&x.b);
}

Test(pq_writer, memory_limit_is_an_error_value)
{
    struct mixed m;
    mixed_init(&m, 20000);
    size_t batch_bytes = mem.used_bytes;
    struct pq_writer_opts o;
    opts_init(&o);
    o.codec = PQ_CODEC_UNCOMPRESSED;
    /* A budget with room for the batch plus a little: the writer fails cleanly. */
    for (size_t extra = 1024; extra <= (1 << 20); extra *= 4) {
        mem.limit_bytes = batch_bytes + extra;
        struct pq_writer w;
        if (!pq_writer_init(&w, &mem, &o, &err)) {
            cr_assert_eq(err.code, PQ_E_MEMORY);
            continue;
        }
        enum pq_status st = PQ_MORE;
        if (!pq_writer_begin(&w, &m.b, &err)) {
            cr_assert_eq(err.code, PQ_E_MEMORY);
        } else {
            uint8_t buf[8192];
            size_t n;
            while ((st = pq_writer_pull(&w, buf, sizeof buf, &n)) == PQ_MORE) {}
            if (st == PQ_ERROR) {
                cr_assert_eq(pq_writer_error(&w)->code, PQ_E_MEMORY);
                cr_assert(strstr(pq_writer_error(&w)->msg, "memory"), "%s", pq_writer_error(&w)->msg);
                cr_assert_eq(pq_writer_pull(&w, buf, sizeof buf, &n), PQ_ERROR, "errors are sticky");
            }
        }
        cr_assert_leq(mem.peak_bytes, mem.limit_bytes);
        pq_writer_free(&w);
        cr_assert_eq(mem.used_bytes, batch_bytes);
    }
    mem.limit_bytes = 0;
    pq_batch_free(&m.b);
}

Test(pq_writer, zstd_memory_is_accounted)
{
    struct pq_writer_opts o;
    opts_init(&o);
    struct pq_writer w;
    size_t before = mem.used_bytes;
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    struct mixed m;
    mixed_init(&m, 5000);
    size_t batch = pq_batch_mem_bytes(&m.b);
    cr_assert(pq_writer_begin(&w, &m.b, &err));
    uint8_t buf[65536];
    size_t n;
    while (pq_writer_pull(&w, buf, sizeof buf, &n) == PQ_MORE) {}
    cr_assert_gt(w.zstd_bytes, 0);
    cr_assert_eq(mem.used_bytes - before, pq_writer_mem_bytes(&w) + batch);
    pq_writer_free(&w);
    pq_batch_free(&m.b);
}

Test(pq_writer, unique_columns_stop_the_dictionary_after_one_slice)
{
    /* 400,000 distinct int64: the first slice (4,096 values) is all new, so
     * the writer stops interning there instead of at values / 5 = 80,000. */
    struct batch1 x;
    batch1_init(&x, PQ_INT64, false);
    for (int64_t i = 0; i < 400000; i++) cr_assert(pq_col_i64(pq_batch_col(&x.b, 0), i * 31));
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer_opts o;
    opts_init(&o);
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(pq_writer_begin(&w, &x.b, &err));
    uint8_t buf[1 << 16];
    size_t n;
    while (pq_writer_pull(&w, buf, sizeof buf, &n) == PQ_MORE) {}
    cr_assert_eq(pq_writer_status(&w), PQ_DONE);
    cr_assert_eq(w.dict.count, PQ_DICT_PROBE_VALUES);
    pq_writer_free(&w);
    /* 80,000 distinct, each 5 times in a row: exactly values / 5, and the first
     * slice repeats enough: a dictionary. */
    pq_batch_reset(&x.b);
    for (int64_t i = 0; i < 400000; i++) cr_assert(pq_col_i64(pq_batch_col(&x.b, 0), (i / 5) * 31));
    cr_assert(pq_batch_commit(&x.b));
    cr_assert(starts_with_dictionary(&x.b, &o));
    pq_batch_free(&x.b);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

Test(pq_writer, dictionary_estimate_keeps_random_columns_that_fit)
{
    /* 400,000 draws from 79,000 values: the first 4,096 are 97 % distinct,
     * yet the whole chunk holds about 78,600 < 80,000: the estimate must not
     * give up, and the dictionary is written. */
    struct batch1 x;
    batch1_init(&x, PQ_INT64, false);
    for (int i = 0; i < 400000; i++) cr_assert(pq_col_i64(pq_batch_col(&x.b, 0), (int64_t)(rnd() % 79000) * 7));
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer_opts o;
    opts_init(&o);
    cr_assert(starts_with_dictionary(&x.b, &o));
    /* Draws from 2,000,000 values would give ~190,000 distinct: stopped after
     * the first slice. */
    pq_batch_reset(&x.b);
    for (int i = 0; i < 400000; i++) cr_assert(pq_col_i64(pq_batch_col(&x.b, 0), (int64_t)(rnd() % 2000000)));
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(pq_writer_begin(&w, &x.b, &err));
    uint8_t buf[1 << 16];
    size_t n;
    while (pq_writer_pull(&w, buf, sizeof buf, &n) == PQ_MORE) {}
    cr_assert_eq(pq_writer_status(&w), PQ_DONE);
    cr_assert_leq(w.dict.count, PQ_DICT_PROBE_VALUES);
    pq_writer_free(&w);
    pq_batch_free(&x.b);
}

/* Pulls a whole file through pq_writer_out; returns how many page bodies were
 * frames of raw zstd blocks (each checked block by block against the page
 * body it stores: zstd itself writes such frames for incompressible data), counts
 * the page bodies in *pages and those the writer stored without compressing
 * in *stored. (The unit tests link the compressor only: compressed frames are
 * read back by the matrix test.) */
static unsigned raw_frames(const struct pq_batch *b, const struct pq_writer_opts *o, unsigned *pages,
                           unsigned *stored)
{
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, o, &err), "%s", err.msg);
    cr_assert(pq_writer_begin(&w, b, &err), "%s", err.msg);
    unsigned raw = 0;
    *pages = *stored = 0;
    for (;;) {
        size_t n;
        const uint8_t *p = pq_writer_out(&w, &n);
        cr_assert_neq(pq_writer_status(&w), PQ_ERROR, "%s", pq_writer_error(&w)->msg);
        if (n > 0 && p == w.zpage.data) {
            /* Stored without compressing: the chunk is in raw mode and this
             * is not a page that looks again (the count includes it). */
            if (w.ck.store_raw && (w.ck.data_pages - 1) % PQ_RAW_REPROBE_PAGES != 0) (*stored)++;
            (*pages)++;
            cr_assert_geq(n, 9);
            cr_assert_eq(pq_load_u32le(p), ZSTD_MAGICNUMBER);
            if (p[4] == 0xA0 && (p[9] & 6) == 0) {
                /* Single segment, 4-byte content size, raw blocks to the end. */
                raw++;
                cr_assert_eq(pq_load_u32le(p + 5), w.body.len);
                size_t at = 9, done = 0;
                bool last = false;
                while (!last) {
                    cr_assert_leq(at + 3, n);
                    uint32_t h = (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 | (uint32_t)p[at + 2] << 16;
                    last = h & 1;
                    cr_assert_eq((h >> 1) & 3, 0, "a raw block");
                    size_t k = h >> 3;
                    cr_assert_leq(k, ZSTD_BLOCKSIZE_MAX);
                    cr_assert_leq(at + 3 + k, n);
                    cr_assert_leq(done + k, w.body.len);
                    cr_assert_eq(memcmp(p + at + 3, w.body.p + done, k), 0);
                    at += 3 + k;
                    done += k;
                }
                cr_assert_eq(at, n);
                cr_assert_eq(done, w.body.len);
            }
        }
        if (n > 0) {
            pq_writer_ack(&w, n);
            continue;
        }
        if (pq_writer_status(&w) == PQ_DONE) break;
    }
    pq_writer_free(&w);
    return raw;
}

Test(pq_writer, incompressible_pages_are_stored_raw)
{
    /* 100,000 random uuids in pages of 5,000 (80,000 bytes): the first page
     * compresses by nothing, so the next ones are raw-block frames, except
     * every 16th, compressed again to look. */
    struct batch1 x;
    batch1_init(&x, PQ_UUID, false);
    for (int i = 0; i < 100000; i++) {
        uint8_t u[16];
        uint64_t a = rnd(), b2 = rnd();
        memcpy(u, &a, 8);
        memcpy(u + 8, &b2, 8);
        cr_assert(pq_col_fixed(pq_batch_col(&x.b, 0), u, 16));
    }
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer_opts o;
    opts_init(&o);
    o.page_rows_max = 5000;
    unsigned pages, stored;
    unsigned raw = raw_frames(&x.b, &o, &pages, &stored);
    cr_assert_eq(pages, 20);
    cr_assert_eq(raw, 20);
    cr_assert_eq(stored, 18, "%u stored", stored); /* all but pages 0 and 16 */
    /* Compressible values (a counter): always compressed. */
    pq_batch_reset(&x.b);
    for (uint64_t i = 0; i < 100000; i++) {
        uint8_t u[16] = {0};
        memcpy(u + 8, &i, 8);
        cr_assert(pq_col_fixed(pq_batch_col(&x.b, 0), u, 16));
    }
    cr_assert(pq_batch_commit(&x.b));
    o.dictionary = false;
    raw = raw_frames(&x.b, &o, &pages, &stored);
    cr_assert_eq(pages, 20);
    cr_assert_eq(raw, 0);
    cr_assert_eq(stored, 0);
    pq_batch_free(&x.b);
}

Test(pq_writer, dictionary_of_ever_new_values_stops_after_two_slices)
{
    /* Session ids: a new 64-byte value every 8 rows, 400,000 rows. After the
     * first slice random draws would predict almost no new entry in the next
     * one, which brings 8,192: new values keep coming, their bytes projected
     * at that rate (3.4 MB) pass twice dict_bytes_max (1 MiB), so interning
     * stops after two slices rather than at the byte limit, 120,000 rows in. */
    struct batch1 x;
    batch1_init(&x, PQ_STRING, false);
    for (int i = 0; i < 400000; i++) {
        char v[80];
        unsigned long long k = (unsigned long long)(i / 8);
        int n = snprintf(v, sizeof v, "%016llx%016llx%016llx%016llx", k * 0x9E3779B97F4A7C15ULL, k,
                         k * 0xC2B2AE3D27D4EB4FULL, ~k);
        cr_assert(pq_col_bytes(pq_batch_col(&x.b, 0), v, (size_t)n));
    }
    cr_assert(pq_batch_commit(&x.b));
    struct pq_writer_opts o;
    opts_init(&o);
    struct pq_writer w;
    cr_assert(pq_writer_init(&w, &mem, &o, &err));
    cr_assert(pq_writer_begin(&w, &x.b, &err));
    uint8_t buf[1 << 16];
    size_t n;
    while (pq_writer_pull(&w, buf, sizeof buf, &n) == PQ_MORE) {}
    cr_assert_eq(pq_writer_status(&w), PQ_DONE);
    cr_assert_eq(w.dict.count, (PQ_DICT_PROBE_VALUES + PQ_ANALYZE_SLICE_VALUES) / 8);
    pq_writer_free(&w);
    cr_assert_not(starts_with_dictionary(&x.b, &o));
    /* The same values with dict_bytes_max raised to 4 MiB: the projection
     * fits (and so do the 50,000 entries, 3.4 MB), and the dictionary is
     * written. */
    o.dict_bytes_max = 4 << 20;
    cr_assert(starts_with_dictionary(&x.b, &o));
    pq_batch_free(&x.b);
}
