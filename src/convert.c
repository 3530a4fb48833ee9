/* convert: local JSON lines -> one Parquet file (see convert.h). */
#include "convert.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "util.h"
#include "version.h"

enum {
    INPUT_BUFFER_BYTES = 1 << 20,
    STREAM_ID_MAX = 32,
};

/* ------------------------------------------------------------------------- */
/* Which configuration problems matter */

/* The key a problem line is about ("s3.bucket"), past its "FILE:LINE: ", "env X: "
 * or "flag --x: " prefix and "warning: ". */
static const char *problem_key(const struct config *cfg, const struct config_problem *p)
{
    const char *t = p->text;
    size_t flen = strlen(cfg->file);
    if (p->source == CONFIG_SOURCE_FILE && flen > 0 && strncmp(t, cfg->file, flen) == 0) {
        t += flen;
        if (*t == ':') t++;
        while (*t >= '0' && *t <= '9') t++;
        if (*t == ':') t++;
        while (*t == ' ') t++;
    } else if (p->source == CONFIG_SOURCE_ENV || p->source == CONFIG_SOURCE_FLAG) {
        const char *c = strstr(t, ": ");
        if (c != NULL) t = c + 2;
    }
    if (strncmp(t, "warning: ", 9) == 0) t += 9;
    return t;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool convert_config_usable(const struct config *cfg, const struct config_report *rep, FILE *out)
{
    size_t fatal = 0;
    for (size_t i = 0; i < rep->count; i++) {
        const struct config_problem *p = &rep->items[i];
        if (p->warning) continue;
        const char *k = problem_key(cfg, p);
        if (starts(k, "s3.") || starts(k, "redis.") || starts(k, "streams")) continue;
        /* limits.memory against batches plus upload buffers (reported without the key
         * when the value came from --memory-limit): convert uploads nothing. */
        if (strstr(k, "cannot hold a full batch") != NULL && strstr(k, "upload buffers") != NULL) continue;
        fprintf(out, "%s\n", p->text);
        fatal++;
    }
    /* Problems past CONFIG_PROBLEMS_MAX are not listed: count them as fatal. */
    size_t listed_errors = 0;
    for (size_t i = 0; i < rep->count; i++) listed_errors += !rep->items[i].warning;
    if (rep->errors > listed_errors) {
        fprintf(out, "... and %zu more problems not shown (lakewriter check lists them)\n", rep->errors - listed_errors);
        fatal++;
    }
    if (fatal > 0) fprintf(out, "lakewriter convert: the configuration is not usable (%zu problem%s above)\n", fatal,
                           fatal == 1 ? "" : "s");
    return fatal == 0;
}

void convert_writer_opts(const struct config *cfg, struct pq_writer_opts *o)
{
    pq_writer_opts_default(o);
    o->created_by = version_created_by();
    o->codec = cfg->parquet.compression == CONFIG_COMPRESSION_NONE ? PQ_CODEC_UNCOMPRESSED : PQ_CODEC_ZSTD;
    o->zstd_level = (int)cfg->parquet.zstd_level;
    o->row_group_rows_max = cfg->parquet.row_group_rows;
    o->page_rows_max = (uint32_t)cfg->parquet.page_rows;
}

/* ------------------------------------------------------------------------- */
/* Rejects */

/* Writes s[0, n) as the body of a JSON string (valid UTF-8 assumed). */
static void put_json_chars(FILE *f, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F) continue;
        fwrite(s + run, 1, i - run, f);
        run = i + 1;
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default: fprintf(f, "\\u%04x", c); break;
        }
    }
    fwrite(s + run, 1, n - run, f);
}

static void put_json_string(FILE *f, const char *key, const char *s, size_t n)
{
    fprintf(f, ",\"%s\":\"", key);
    put_json_chars(f, s, n);
    fputc('"', f);
}

static void put_base64(FILE *f, const uint8_t *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(a[v >> 18 & 63], f);
        fputc(a[v >> 12 & 63], f);
        fputc(i + 1 < n ? a[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? a[v & 63] : '=', f);
    }
}

/* One line of the rejects file. */
static void put_reject(FILE *f, uint64_t line, const struct decode_error *err, const char *text, size_t n)
{
    fprintf(f, "{\"line\":%" PRIu64 ",\"error\":\"%s\"", line, decode_reason(err->code));
    put_json_string(f, "table", err->table, strlen(err->table));
    if (err->column[0] != '\0') put_json_string(f, "column", err->column, strlen(err->column));
    put_json_string(f, "message", err->msg, strlen(err->msg));
    if (util_utf8_valid_prefix(text, n) == n) {
        put_json_string(f, "input", text, n);
    } else {
        fputs(",\"input_base64\":\"", f);
        put_base64(f, (const uint8_t *)text, n);
        fputc('"', f);
    }
    fputs("}\n", f);
}

/* ------------------------------------------------------------------------- */
/* The run */

struct run {
    const struct convert_opts *o;
    struct convert_stats st;
    struct decode_table dt;
    bool dt_ok;
    struct pq_mem batch_mem, writer_mem;
    struct pq_batch batch;
    bool batch_ok;
    struct pq_writer w;
    bool w_ok;
    FILE *in;
    FILE *rej;
    char *line;
    size_t line_cap;
    char tmp[4096];
    int fd;
};

__attribute__((format(printf, 2, 3))) static int usage(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lakewriter convert: ", r->o->log);
    vfprintf(r->o->log, fmt, ap);
    fputc('\n', r->o->log);
    va_end(ap);
    return CONVERT_EXIT_USAGE;
}

static void cleanup(struct run *r)
{
    if (r->fd >= 0) {
        close(r->fd);
        unlink(r->tmp);
    }
    if (r->w_ok) pq_writer_free(&r->w);
    if (r->batch_ok) pq_batch_free(&r->batch);
    if (r->dt_ok) decode_table_free(&r->dt);
    if (r->in != NULL && r->in != stdin) fclose(r->in);
    if (r->rej != NULL) fclose(r->rej);
    free(r->line);
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "0-<n>" into buf; returns its length. */
static size_t stream_id(char *buf, uint64_t n)
{
    char digits[24];
    size_t k = 0;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    buf[0] = '0';
    buf[1] = '-';
    for (size_t i = 0; i < k; i++) buf[2 + i] = digits[k - 1 - i];
    return 2 + k;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

static void reject(struct run *r, uint64_t line, const struct decode_error *err, const char *text, size_t n)
{
    r->st.rejected++;
    if (r->rej != NULL) put_reject(r->rej, line, err, text, n);
    else if (r->st.rejected <= CONVERT_SHOWN_REJECTS_MAX)
        fprintf(r->o->log, "lakewriter convert: line %" PRIu64 ": %s\n", line, err->msg);
}

/* Reads every line into the batch; returns 0 or an exit status. */
static int read_input(struct run *r, const char *in_name)
{
    struct decode_meta meta = { .has_ingested_at = true, .ingested_at_us = wall_us() };
    char id[STREAM_ID_MAX];
    meta.stream_id = id;
    ssize_t got;
    while ((got = getline(&r->line, &r->line_cap, r->in)) >= 0) {
        size_t n = (size_t)got;
        uint64_t line = ++r->st.lines;
        r->st.input_bytes += n;
        if (n > 0 && r->line[n - 1] == '\n') n--;
        if (n > 0 && r->line[n - 1] == '\r') n--;
        if (blank(r->line, n)) {
            r->st.blank++;
            continue;
        }
        meta.stream_id_len = stream_id(id, line);
        struct decode_error err;
        struct decode_result res;
        if (decode_json(&r->dt, &r->batch, r->line, n, &meta, 0, &res, &err)) {
            r->st.rows++;
            r->st.unknown_keys += res.unknown_keys;
            continue;
        }
        if (err.code != DECODE_EFULL) {
            reject(r, line, &err, r->line, n);
            continue;
        }
        char lim[32];
        return usage(r, "%s line %" PRIu64 ": the rows read so far (%" PRIu64 ") fill the memory limit: one file is "
                        "encoded from one in-memory batch, which may use 3/4 of limits.memory (%s); raise "
                        "--memory-limit or split the input (%s)",
                     in_name, line, r->st.rows, util_format_size(r->batch_mem.limit_bytes + r->writer_mem.limit_bytes,
                                                                 lim, sizeof lim), err.msg);
    }
    if (ferror(r->in)) return usage(r, "cannot read %s: %s", in_name, strerror(errno));
    return 0;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Encodes the batch into a temporary file next to the output, then renames it. */
static int write_output(struct run *r, const struct config *cfg)
{
    const char *out = r->o->output;
    struct pq_writer_opts opts;
    convert_writer_opts(cfg, &opts);
    struct pq_err pe;
    if (!pq_writer_init(&r->w, &r->writer_mem, &opts, &pe)) return usage(r, "encoder: %s", pe.msg);
    r->w_ok = true;
    if (!pq_writer_begin(&r->w, &r->batch, &pe)) return usage(r, "encoder: %s", pe.msg);
    int n = snprintf(r->tmp, sizeof r->tmp, "%s.tmp.%ld", out, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof r->tmp) return usage(r, "output path too long: %s", out);
    r->fd = open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (r->fd < 0) return usage(r, "cannot create %s: %s", r->tmp, strerror(errno));
    for (;;) {
        size_t len;
        const uint8_t *p = pq_writer_out(&r->w, &len);
        if (len > 0) {
            if (!write_all(r->fd, p, len)) return usage(r, "cannot write %s: %s", r->tmp, strerror(errno));
            pq_writer_ack(&r->w, len);
        }
        enum pq_status s = pq_writer_status(&r->w);
        if (s == PQ_ERROR) {
            char lim[32];
            return usage(r, "encoding failed: %s (the encoder may use 1/4 of limits.memory = %s)",
                         pq_writer_error(&r->w)->msg,
                         util_format_size(r->batch_mem.limit_bytes + r->writer_mem.limit_bytes, lim, sizeof lim));
        }
        if (s == PQ_DONE && len == 0) break;
    }
    if (fsync(r->fd) != 0) return usage(r, "cannot write %s: %s", r->tmp, strerror(errno));
    int fd = r->fd;
    r->fd = -1;
    if (close(fd) != 0) {
        unlink(r->tmp);
        return usage(r, "cannot write %s: %s", r->tmp, strerror(errno));
    }
    if (rename(r->tmp, out) != 0) {
        int e = errno;
        unlink(r->tmp);
        return usage(r, "cannot rename %s to %s: %s", r->tmp, out, strerror(e));
    }
    /* Make the rename itself durable. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    r->st.output_bytes = pq_writer_file_bytes(&r->w);
    return 0;
}

static int convert(struct run *r, const struct config *cfg)
{
    const struct convert_opts *o = r->o;
    const struct schema_table *t = schema_find_table(&cfg->schema, o->table);
    if (t == NULL) {
        const char *names[SCHEMA_TABLES_MAX];
        size_t k = cfg->schema.table_count;
        for (size_t i = 0; i < k; i++) names[i] = cfg->schema.tables[i].name;
        const char *guess = util_suggest(o->table, names, k);
        if (guess != NULL) return usage(r, "unknown table '%s' (did you mean %s?)", o->table, guess);
        return usage(r, "unknown table '%s' (the config declares %zu table%s%s%s)", o->table, k, k == 1 ? "" : "s",
                     k > 0 ? ", the first is " : "", k > 0 ? names[0] : "");
    }
    struct lw_err e;
    if (!decode_table_init(&r->dt, t, &e)) return usage(r, "%s", e.msg);
    r->dt_ok = true;
    uint64_t limit = cfg->limits.memory_bytes;
    pq_mem_init(&r->batch_mem, NULL, NULL, (size_t)(limit - limit / 4));
    pq_mem_init(&r->writer_mem, NULL, NULL, (size_t)(limit / 4));
    struct pq_err pe;
    if (!pq_batch_init(&r->batch, decode_table_schema(&r->dt), &r->batch_mem, &pe)) return usage(r, "%s", pe.msg);
    r->batch_ok = true;

    const char *in_name = o->input == NULL || strcmp(o->input, "-") == 0 ? "standard input" : o->input;
    if (in_name == o->input) {
        struct stat sb;
        if (stat(o->input, &sb) == 0 && S_ISDIR(sb.st_mode)) return usage(r, "cannot read %s: it is a directory", o->input);
        r->in = fopen(o->input, "rb");
        if (r->in == NULL) return usage(r, "cannot read %s: %s", o->input, strerror(errno));
    } else {
        r->in = stdin;
    }
    setvbuf(r->in, NULL, _IOFBF, INPUT_BUFFER_BYTES);
    if (o->rejects != NULL) {
        r->rej = fopen(o->rejects, "w");
        if (r->rej == NULL) return usage(r, "cannot create %s: %s", o->rejects, strerror(errno));
    }
    int rc = read_input(r, in_name);
    if (rc != 0) return rc;
    if (r->rej != NULL) {
        FILE *f = r->rej;
        r->rej = NULL;
        if (fflush(f) != 0 || ferror(f)) {
            fclose(f);
            return usage(r, "cannot write %s: %s", o->rejects, strerror(errno));
        }
        if (fclose(f) != 0) return usage(r, "cannot write %s: %s", o->rejects, strerror(errno));
    }
    rc = write_output(r, cfg);
    if (rc != 0) return rc;
    assert(r->st.rows == r->batch.rows);
    fprintf(o->log,
            "lakewriter convert: table %s: %" PRIu64 " lines from %s -> %" PRIu64 " rows in %s (%" PRIu64
            " bytes); %" PRIu64 " rejected%s%s; %" PRIu64 " blank lines skipped; %" PRIu64
            " unknown keys ignored\n",
            t->name, r->st.lines, in_name, r->st.rows, o->output, r->st.output_bytes, r->st.rejected, r->st.rejected > 0 && o->rejects ? " -> " : "",
            r->st.rejected > 0 && o->rejects ? o->rejects : "", r->st.blank, r->st.unknown_keys);
    if (o->rejects == NULL && r->st.rejected > CONVERT_SHOWN_REJECTS_MAX)
        fprintf(o->log, "lakewriter convert: %" PRIu64 " more rejected lines not shown (use --rejects FILE)\n",
                r->st.rejected - CONVERT_SHOWN_REJECTS_MAX);
    return r->st.rejected > 0 ? CONVERT_EXIT_REJECTED : CONVERT_EXIT_OK;
}

int convert_run(const struct config *cfg, const struct convert_opts *o, struct convert_stats *stats)
{
    assert(cfg != NULL && o != NULL && o->table != NULL && o->output != NULL && o->log != NULL);
    struct run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        fprintf(o->log, "lakewriter convert: out of memory\n");
        return CONVERT_EXIT_USAGE;
    }
    r->o = o;
    r->fd = -1;
    int rc = convert(r, cfg);
    if (stats != NULL) *stats = r->st;
    cleanup(r);
    free(r);
    return rc;
}
