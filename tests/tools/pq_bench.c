/* pq_bench: times the Parquet encoder on a typical event table.
 *
 *   pq_bench <out.parquet> [rows] [zstd-level]
 *
 * Prints one JSON line: rows, append and encode seconds, file bytes. The file
 * can be re-written by pyarrow from the same data for comparison (see
 * tests/parquet/bench_compare.py). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parquet/parquet.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: steady on a busy machine */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x1234567;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "pq_bench: %s: %s\n", what, msg);
    exit(1);
}

/* Appends `rows` rows of made-up events. */
static void fill(struct pq_batch *b, size_t rows)
{
#define COL(i) pq_batch_col(b, (i))
    static const char *events[] = {"page_view", "click", "add_to_cart", "purchase", "login",
                                   "logout", "search", "share", "signup", "refund"};
    static const char *countries[] = {"DE", "FR", "US", "GB", "NL", "SE", "JP", "BR"};
    int64_t ts = 1700000000000000;
    uint8_t uuid[16] = {0};
    for (size_t i = 0; i < rows; i++) {
        uint64_t r = rnd();
        char id[32];
        ts += (int64_t)(r % 2000);
        int n = snprintf(id, sizeof id, "%" PRId64 "-%u", ts / 1000, (unsigned)(i % 3));
        bool ok = pq_col_bytes(COL(0), id, (size_t)n);
        ok = ok && pq_col_i64(COL(1), (int64_t)(r % 5000));
        const char *ev = events[(r >> 13) % 10];
        ok = ok && pq_col_bytes(COL(2), ev, strlen(ev));
        const char *co = countries[(r >> 17) % 8];
        ok = ok && ((r >> 20) % 10 == 0 ? pq_col_null(COL(3))
                                         : pq_col_bytes(COL(3), co, 2));
        ok = ok && ((r >> 24) % 4 == 0 ? pq_col_null(COL(4))
                                        : pq_col_decimal(COL(4), 0, (r >> 30) % 100000));
        ok = ok && ((r >> 26) % 10 == 0 ? pq_col_null(COL(5))
                                         : pq_col_double(COL(5), (double)((r >> 33) % 100000) / 100.0));
        ok = ok && pq_col_i64(COL(6), ts);
        ok = ok && pq_col_bool(COL(7), (r >> 40) % 20 != 0);
        if (i % 50 == 0) memcpy(uuid, &r, 8), memcpy(uuid + 8, &ts, 8);
        ok = ok && pq_col_fixed(COL(8), uuid, 16);
        struct pq_col *tags = COL(9);
        if ((r >> 44) % 8 == 0) {
            ok = ok && pq_col_null(tags);
        } else {
            ok = ok && pq_col_list_begin(tags);
            for (unsigned k = 0; ok && k < (r >> 48) % 3; k++)
                ok = pq_col_bytes(tags, events[(r >> (50 + k)) % 10], strlen(events[(r >> (50 + k)) % 10]));
            ok = ok && pq_col_list_end(tags);
        }
        if (!ok || !pq_batch_commit(b)) die("append", b->err.msg);
    }
#undef COL
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pq_bench <out.parquet> [rows] [zstd-level]\n");
        return 2;
    }
    size_t rows = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 1000000;
    int level = argc > 3 ? atoi(argv[3]) : 3;
    static const struct pq_field fields[] = {
        {.name = "_stream_id", .type = PQ_STRING},
        {.name = "user_id", .type = PQ_INT64},
        {.name = "event", .type = PQ_STRING},
        {.name = "country", .type = PQ_STRING, .nullable = true},
        {.name = "amount", .type = PQ_DECIMAL, .precision = 18, .scale = 2, .nullable = true},
        {.name = "price", .type = PQ_DOUBLE, .nullable = true},
        {.name = "ts", .type = PQ_TIMESTAMP},
        {.name = "ok", .type = PQ_BOOL},
        {.name = "session", .type = PQ_UUID, .nullable = true},
        {.name = "tags", .type = PQ_STRING, .list = true, .nullable = true},
    };
    struct pq_err err;
    struct pq_schema schema;
    if (!pq_schema_init(&schema, fields, sizeof fields / sizeof fields[0], &err)) die("schema", err.msg);
    struct pq_mem mem;
    pq_mem_init(&mem, NULL, NULL, 0);
    struct pq_batch b;
    if (!pq_batch_init(&b, &schema, &mem, &err)) die("batch", err.msg);

    double t0 = now_s();
    fill(&b, rows);
    double t1 = now_s();

    struct pq_writer_opts o;
    pq_writer_opts_default(&o);
    o.created_by = "lakewriter version 0.1.0 (build bench)";
    o.zstd_level = level;
    if (getenv("PQ_BENCH_UNCOMPRESSED") != NULL) o.codec = PQ_CODEC_UNCOMPRESSED;
    struct pq_writer w;
    if (!pq_writer_init(&w, &mem, &o, &err)) die("writer", err.msg);
    FILE *f = fopen(argv[1], "wb");
    if (f == NULL) die(argv[1], "cannot open");
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    double t2 = now_s();
    if (!pq_writer_begin(&w, &b, &err)) die("begin", err.msg);
    size_t pulls = 0;
    double longest = 0;
    double col_s[16] = {0};
    for (;;) {
        size_t n;
        uint32_t col = w.col;
        double p0 = now_s();
        enum pq_status st = pq_writer_pull(&w, buf, cap, &n);
        double p1 = now_s();
        col_s[col < 16 ? col : 15] += p1 - p0;
        if (p1 - p0 > longest) longest = p1 - p0;
        pulls++;
        if (st == PQ_ERROR) die("pull", pq_writer_error(&w)->msg);
        fwrite(buf, 1, n, f);
        if (st == PQ_DONE) break;
    }
    double t3 = now_s();
    fclose(f);
    printf("{\"rows\":%zu,\"append_s\":%.4f,\"encode_s\":%.4f,\"file_bytes\":%" PRIu64
           ",\"batch_mem_bytes\":%zu,\"writer_mem_bytes\":%zu,\"pulls\":%zu,\"longest_pull_ms\":%.3f}\n",
           rows, t1 - t0, t3 - t2, pq_writer_file_bytes(&w), pq_batch_mem_bytes(&b),
           pq_writer_mem_bytes(&w), pulls, longest * 1e3);
    if (getenv("PQ_BENCH_COLUMNS") != NULL)
        for (uint32_t i = 0; i < schema.count; i++)
            fprintf(stderr, "%-12s %.4f s\n", schema.fields[i].name, col_s[i]);
    free(buf);
    pq_writer_free(&w);
    pq_batch_free(&b);
    return 0;
}
