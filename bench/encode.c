/* encode: times lakewriter's Parquet encoder on one smackz table.
 *
 *   zig-out/bench/encode --table orders --input orders.jsonl --output out.parquet
 *                        [--reps 5] [--warmup 1] [--zstd-level 3]
 *                        [--columns] [--uncompressed] [--only COLUMN]
 *
 * Loads the JSON lines (one data object per line, as `bench/smackz.py
 * --data-only` writes them) into column builders first, untimed, then encodes
 * the batch into a file `warmup + reps` times. Only the encoding is timed:
 * from pq_writer_begin to the last byte written to the file (the writer's
 * zero-copy out/ack slices go straight to write(2)). Prints one JSON object:
 *
 *   {"table":..., "rows":..., "input_bytes":..., "load_s":...,
 *    "encode_s":[...per rep...], "encode_cpu_s":[...], "output_bytes":...,
 *    "peak_rss_bytes":..., "batch_mem_bytes":..., "writer_mem_bytes":...}
 *
 * For profiling: --columns prints each column's encoding time (the fastest
 * repetition) to stderr, --uncompressed writes without zstd, --only loads and
 * encodes one column of the table.
 *
 * peak_rss_bytes is the process's VmHWM during the encodes: the high-water
 * mark is reset (/proc/self/clear_refs) after loading, so it is the loaded
 * batch plus what encoding adds. This is the C half of `bench/encode`, which
 * runs pyarrow and DuckDB side by side and prints the comparison. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "parquet/parquet.h"
#include "src/json.h"

/* How a column's JSON value is turned into a builder value. */
enum kind { K_UUID, K_I64, K_I32, K_STR, K_DEC, K_BOOL, K_TS, K_F64, K_JSON };

struct colspec {
    const char *name;
    enum kind kind;
    bool nullable;
};

struct tablespec {
    const char *name;
    const struct colspec *cols;
    size_t ncols;
};

/* The smackz tables (docs/smackz.md, examples/lakewriter.toml), data columns only. */
static const struct colspec orders_cols[] = {
    {"order_id", K_UUID, false},   {"user_id", K_I64, false},     {"restaurant_id", K_I64, false},
    {"status", K_STR, false},      {"subtotal", K_DEC, false},    {"tax", K_DEC, false},
    {"tip", K_DEC, true},          {"currency", K_STR, false},    {"items_count", K_I32, false},
    {"promo_code", K_STR, true},   {"is_pickup", K_BOOL, false},  {"created_at", K_TS, false},
    {"delivered_at", K_TS, true},  {"lat", K_F64, false},         {"lon", K_F64, false},
};
static const struct colspec order_items_cols[] = {
    {"order_id", K_UUID, false}, {"line_no", K_I32, false},    {"menu_item_id", K_I64, false},
    {"name", K_STR, false},      {"quantity", K_I32, false},   {"unit_price", K_DEC, false},
    {"modifiers", K_JSON, true}, {"created_at", K_TS, false},
};
static const struct colspec app_events_cols[] = {
    {"event_id", K_UUID, false},   {"user_id", K_I64, true},       {"session_id", K_STR, false},
    {"name", K_STR, false},        {"platform", K_STR, false},     {"app_version", K_STR, false},
    {"ts", K_TS, false},           {"duration_ms", K_I64, true},   {"properties", K_JSON, false},
};
#define TABLE(n, c) {n, c, sizeof c / sizeof c[0]}
static const struct tablespec tables[] = {
    TABLE("orders", orders_cols),
    TABLE("order_items", order_items_cols),
    TABLE("app_events", app_events_cols),
};

enum { COLS_MAX = 16, REPS_MAX = 100, DEC_PRECISION = 10, DEC_SCALE = 2 };

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "encode: %s: %s\n", what, msg);
    exit(1);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void field_of(const struct colspec *c, struct pq_field *f)
{
    static const enum pq_type types[] = {
        [K_UUID] = PQ_UUID, [K_I64] = PQ_INT64,  [K_I32] = PQ_INT32, [K_STR] = PQ_STRING, [K_DEC] = PQ_DECIMAL,
        [K_BOOL] = PQ_BOOL, [K_TS] = PQ_TIMESTAMP, [K_F64] = PQ_DOUBLE, [K_JSON] = PQ_JSON,
    };
    memset(f, 0, sizeof *f);
    f->name = c->name;
    f->type = types[c->kind];
    f->nullable = c->nullable;
    if (c->kind == K_DEC) {
        f->precision = DEC_PRECISION;
        f->scale = DEC_SCALE;
    }
}

/* ---- typed values from JSON text ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* "8-4-4-4-12" hex digits -> 16 bytes. */
static bool parse_uuid(const char *s, size_t n, uint8_t out[16])
{
    if (n != 36) return false;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-') return false;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return k == 16;
}

/* A JSON number with at most DEC_SCALE decimals -> the unscaled integer. */
static bool parse_decimal(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    if (neg) i++;
    int64_t v = 0;
    int frac = -1;
    for (; i < n; i++) {
        if (s[i] == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9' || v > INT64_MAX / 100) return false;
        v = v * 10 + (s[i] - '0');
        if (frac >= 0 && ++frac > DEC_SCALE) return false;
    }
    for (int k = frac < 0 ? 0 : frac; k < DEC_SCALE; k++) v *= 10;
    *out = neg ? -v : v;
    return true;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" -> microseconds since the epoch. */
static bool parse_ts(const char *s, size_t n, int64_t *out)
{
    unsigned y, mo, d, h, mi, se, us = 0;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[n - 1] != 'Z')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    if (n > 20) {
        if (s[19] != '.' || n - 21 > 6 || n - 21 == 0 || !digits(s + 20, n - 21, &us)) return false;
        for (size_t k = n - 21; k < 6; k++) us *= 10;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
    int64_t days = days_from_civil(y, mo, d);
    *out = ((days * 24 + h) * 60 + mi) * 60 * INT64_C(1000000) + (int64_t)se * 1000000 + us;
    return true;
}

/* Appends one member's value to column c; false on a value of the wrong kind. */
static bool append(struct pq_col *c, enum kind k, const struct json_value *v, char *scratch)
{
    struct lw_err e;
    if (v->kind == JSON_NULL) return pq_col_null(c);
    switch (k) {
    case K_UUID: {
        uint8_t u[16];
        return v->kind == JSON_STRING && parse_uuid(v->text, v->len, u) && pq_col_fixed(c, u, 16);
    }
    case K_I64:
    case K_I32: {
        int64_t x;
        if (v->kind != JSON_NUMBER || !json_number_to_i64(v->text, v->len, &x, &e)) return false;
        if (k == K_I64) return pq_col_i64(c, x);
        return x >= INT32_MIN && x <= INT32_MAX && pq_col_i32(c, (int32_t)x);
    }
    case K_STR: {
        if (v->kind != JSON_STRING) return false;
        if (!v->escaped) return pq_col_bytes(c, v->text, v->len);
        size_t n;
        return json_unescape(v, scratch, v->len, &n, &e) && pq_col_bytes(c, scratch, n);
    }
    case K_DEC: {
        int64_t x;
        if (v->kind != JSON_NUMBER || !parse_decimal(v->text, v->len, &x)) return false;
        return pq_col_decimal(c, x < 0 ? -1 : 0, (uint64_t)x);
    }
    case K_BOOL:
        if (v->kind != JSON_TRUE && v->kind != JSON_FALSE) return false;
        return pq_col_bool(c, v->kind == JSON_TRUE);
    case K_TS: {
        int64_t x;
        return v->kind == JSON_STRING && parse_ts(v->text, v->len, &x) && pq_col_i64(c, x);
    }
    case K_F64: {
        double x;
        return v->kind == JSON_NUMBER && json_number_to_double(v->text, v->len, &x, &e) && pq_col_double(c, x);
    }
    case K_JSON: {
        /* The raw text; a string is kept with its quotes (it is a JSON value). */
        const char *p = v->kind == JSON_STRING ? v->text - 1 : v->text;
        size_t n = v->kind == JSON_STRING ? v->len + 2 : v->len;
        return pq_col_bytes(c, p, n);
    }
    }
    return false;
}

/* Loads every line of buf into the batch; a bad line is fatal (the generator
 * writes none). */
static size_t load(struct pq_batch *b, const struct tablespec *t, const char *buf, size_t len, char *scratch)
{
    size_t rows = 0, line_no = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        line_no++;
        if (le > p) {
            bool seen[COLS_MAX] = {false};
            struct json_iter it;
            struct json_member m;
            struct lw_err e;
            char where[64];
            snprintf(where, sizeof where, "line %zu", line_no);
            if (!json_object_begin(&it, p, (size_t)(le - p), NULL, &e)) die(where, e.msg);
            int r;
            size_t next = 0;
            while ((r = json_object_next(&it, &m, &e)) == JSON_ITEM) {
                size_t i = next < t->ncols && json_string_eq(&m.key, t->cols[next].name, strlen(t->cols[next].name))
                               ? next : t->ncols;
                for (size_t j = 0; i == t->ncols && j < t->ncols; j++)
                    if (json_string_eq(&m.key, t->cols[j].name, strlen(t->cols[j].name))) i = j;
                if (i == t->ncols || seen[i]) continue; /* unknown or repeated: ignored */
                seen[i] = true;
                next = i + 1;
                if (!append(pq_batch_col(b, (uint32_t)i), t->cols[i].kind, &m.value, scratch))
                    {
                    char col[96];
                    snprintf(col, sizeof col, "column %s", t->cols[i].name);
                    die(where, col);
                }
            }
            if (r == JSON_ERROR) die(where, e.msg);
            for (size_t i = 0; i < t->ncols; i++)
                if (!seen[i] && !pq_col_null(pq_batch_col(b, (uint32_t)i)))
                    die(where, b->err.msg);
            if (!pq_batch_commit(b)) die(where, b->err.msg);
            rows++;
        }
        p = le + 1;
    }
    return rows;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) die(path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) die(path, strerror(errno));
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) die(path, "read failed");
    fclose(f);
    *len = (size_t)st.st_size;
    return buf;
}

/* VmHWM of this process, in bytes (0 if unknown). */
static uint64_t peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0) kb = strtoull(line + 6, NULL, 10);
    fclose(f);
    return kb * 1024;
}

static void reset_peak_rss(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0) return;
    if (write(fd, "5", 1) != 1) { /* unsupported: the peak then includes loading */ }
    close(fd);
}

/* Encodes the batch into `path` once; returns the file size. With col_s,
 * adds the time of each step to the column it worked on. */
static uint64_t encode_once(struct pq_writer *w, const struct pq_batch *b, const char *path, double *col_s)
{
    struct pq_err err;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die(path, strerror(errno));
    if (!pq_writer_begin(w, b, &err)) die("begin", err.msg);
    for (;;) {
        size_t n;
        uint32_t col = w->col;
        double t0 = col_s != NULL ? clock_s(CLOCK_MONOTONIC) : 0;
        const uint8_t *p = pq_writer_out(w, &n);
        if (col_s != NULL) col_s[col < COLS_MAX ? col : COLS_MAX - 1] += clock_s(CLOCK_MONOTONIC) - t0;
        enum pq_status st = pq_writer_status(w);
        if (st == PQ_ERROR) die("encode", pq_writer_error(w)->msg);
        if (n > 0) {
            ssize_t k = write(fd, p, n);
            if (k <= 0) die(path, strerror(errno));
            pq_writer_ack(w, (size_t)k);
            continue;
        }
        if (st == PQ_DONE) break;
    }
    close(fd);
    return pq_writer_file_bytes(w);
}

static void usage(void)
{
    fprintf(stderr, "usage: encode --table orders|order_items|app_events --input FILE.jsonl --output OUT.parquet\n"
                    "              [--reps N] [--warmup N] [--zstd-level L] [--columns] [--uncompressed] [--only COLUMN]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *table = NULL, *input = NULL, *output = NULL, *only = NULL;
    int reps = 5, warmup = 1, level = PQ_ZSTD_LEVEL_DEFAULT;
    bool columns = false, uncompressed = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--columns") == 0 || strcmp(a, "--uncompressed") == 0) {
            *(a[2] == 'c' ? &columns : &uncompressed) = true;
            continue;
        }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (strcmp(a, "--table") == 0) table = v;
        else if (strcmp(a, "--input") == 0) input = v;
        else if (strcmp(a, "--output") == 0) output = v;
        else if (strcmp(a, "--reps") == 0) reps = atoi(v);
        else if (strcmp(a, "--warmup") == 0) warmup = atoi(v);
        else if (strcmp(a, "--zstd-level") == 0) level = atoi(v);
        else if (strcmp(a, "--only") == 0) only = v;
        else usage();
    }
    if (table == NULL || input == NULL || output == NULL || reps < 1 || reps > REPS_MAX || warmup < 0) usage();
    const struct tablespec *t = NULL;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (strcmp(tables[i].name, table) == 0) t = &tables[i];
    if (t == NULL) die("unknown table", table);
    struct colspec only_col;
    struct tablespec only_table;
    if (only != NULL) { /* one column of the table, for profiling */
        const struct colspec *found = NULL;
        for (size_t i = 0; i < t->ncols; i++)
            if (strcmp(t->cols[i].name, only) == 0) found = &t->cols[i];
        if (found == NULL) die("unknown column", only);
        only_col = *found;
        only_table = (struct tablespec){t->name, &only_col, 1};
        t = &only_table;
    }

    struct pq_field fields[COLS_MAX];
    for (size_t i = 0; i < t->ncols; i++) field_of(&t->cols[i], &fields[i]);
    struct pq_err err;
    struct pq_schema schema;
    if (!pq_schema_init(&schema, fields, t->ncols, &err)) die("schema", err.msg);
    struct pq_mem mem;
    pq_mem_init(&mem, NULL, NULL, 0);
    struct pq_batch b;
    if (!pq_batch_init(&b, &schema, &mem, &err)) die("batch", err.msg);

    size_t len;
    char *text = read_file(input, &len);
    char *scratch = malloc(len + 1);
    if (scratch == NULL) die(input, "out of memory");
    double l0 = clock_s(CLOCK_MONOTONIC);
    size_t rows = load(&b, t, text, len, scratch);
    double l1 = clock_s(CLOCK_MONOTONIC);
    free(scratch);
    free(text);

    struct pq_writer_opts o;
    pq_writer_opts_default(&o);
    o.created_by = "lakewriter version 0.1.0 (build bench)";
    o.zstd_level = level;
    if (uncompressed) o.codec = PQ_CODEC_UNCOMPRESSED;
    struct pq_writer w;
    if (!pq_writer_init(&w, &mem, &o, &err)) die("writer", err.msg);
    reset_peak_rss();

    double wall[REPS_MAX], cpu[REPS_MAX], col_min[COLS_MAX];
    for (size_t i = 0; i < COLS_MAX; i++) col_min[i] = 1e9;
    uint64_t bytes = 0;
    for (int r = 0; r < warmup + reps; r++) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        double col_s[COLS_MAX] = {0};
        bytes = encode_once(&w, &b, output, columns ? col_s : NULL);
        double w1 = clock_s(CLOCK_MONOTONIC), c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (r >= warmup) {
            for (size_t i = 0; i < COLS_MAX; i++) col_min[i] = col_s[i] < col_min[i] ? col_s[i] : col_min[i];
            wall[r - warmup] = w1 - w0;
            cpu[r - warmup] = c1 - c0;
        }
    }
    uint64_t peak = peak_rss_bytes();

    printf("{\"table\":\"%s\",\"rows\":%zu,\"input_bytes\":%zu,\"load_s\":%.4f,\"encode_s\":[", t->name, rows, len,
           l1 - l0);
    for (int r = 0; r < reps; r++) printf("%s%.5f", r ? "," : "", wall[r]);
    printf("],\"encode_cpu_s\":[");
    for (int r = 0; r < reps; r++) printf("%s%.5f", r ? "," : "", cpu[r]);
    printf("],\"output_bytes\":%" PRIu64 ",\"peak_rss_bytes\":%" PRIu64 ",\"batch_mem_bytes\":%zu,"
           "\"writer_mem_bytes\":%zu}\n",
           bytes, peak, pq_batch_mem_bytes(&b), pq_writer_mem_bytes(&w));
    if (columns) { /* per column: the fastest of the timed repetitions */
        double sum = 0;
        for (size_t i = 0; i < t->ncols; i++) {
            fprintf(stderr, "%-14s %8.2f ms\n", t->cols[i].name, col_min[i] * 1e3);
            sum += col_min[i];
        }
        fprintf(stderr, "%-14s %8.2f ms\n", "(sum)", sum * 1e3);
    }
    pq_writer_free(&w);
    pq_batch_free(&b);
    return 0;
}
