/* pg_probe: drives src/pg over the loop against a real server, for
 * tests/integration/test_pg*.py.
 *
 *   pg_probe [options] URL query SQL          rows as one JSON document on stdout
 *   pg_probe [options] URL copy-raw SQL       the bytes of COPY (SQL) TO STDOUT (FORMAT binary)
 *   pg_probe [options] URL copy-decode SQL    each row decoded (pg_copy + pg_types) as a JSON line
 *   pg_probe [options] URL copy-sum SQL       only a SHA-256 over canonical row lines
 *   pg_probe [options] URL connect            log in, then close
 *
 * Options:
 *   --ca FILE               CA bundle (default: sslrootcert, else the system bundle)
 *   --password-file FILE    the password (the whole file)
 *   --message-bytes N       message_bytes_max
 *   --result-bytes N        result_bytes_max
 *   --io-timeout-ms N
 *   --pause-every N         pause after every N data callbacks, resume 1 ms later
 *   --cancel-after-bytes N  pg_close once N COPY bytes arrived (the COPY must end canceled)
 *
 * Stderr ends with "SUMMARY {json}" (rows, bytes, sha256, maxrss_kb = VmHWM, tls, auth,
 * server_version) on success, or "ERROR <code> <sqlstate> <message>" (exit 1).
 *
 * Canonical values (copy-decode as JSON, copy-sum as text joined by tabs, rows by
 * newlines, NULL as \N): integers in decimal; floats with %.17g (%.9g for float4) or
 * NaN / Infinity / -Infinity; numeric as its exact text; date as "d:<days since
 * 1970-01-01>"; timestamp(tz) and time as "us:<microseconds>"; infinities as
 * "infinity" / "-infinity"; bool true/false; uuid as text; text types, json and
 * jsonb as their text; bytea as "\x<hex>"; arrays as {"dims":[[lower,size]...],
 * "elem":oid,"values":[...]} (copy-decode only). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "pg.h"
#include "pg_copy.h"
#include "pg_types.h"
#include "s3/sha256.h"
#include "tls_anchors.h"

extern char **environ;

enum { FIELD_BYTES_MAX = 64 << 20, COLUMNS_MAX = 1664 };
enum mode { M_QUERY, M_RAW, M_DECODE, M_SUM, M_CONNECT };

static struct {
    struct loop loop;
    struct pg_conn conn;
    enum mode mode;
    const char *sql;
    bool done;
    bool failed;
    struct lw_err err;
    uint32_t types[COLUMNS_MAX];
    uint32_t ncols;
    struct pg_copy copy;
    uint8_t *field_buf;
    uint64_t bytes;
    uint64_t calls;
    uint64_t pause_every;
    uint64_t cancel_after;
    bool canceled;
    bool tls;   /* pg_tls once connected (the connection is closed by the summary) */
    struct loop_op resume_timer;
    struct s3_sha256 sha;
    /* the current row, as text (copy-sum) or JSON (copy-decode) */
    char *line;
    size_t line_len, line_cap;
} P;

/* ------------------------------------------------------------------------- */
/* Output helpers */

static void out_reserve(size_t n)
{
    if (P.line_len + n + 1 <= P.line_cap) return;
    size_t cap = P.line_cap > 0 ? P.line_cap : 4096;
    while (cap < P.line_len + n + 1) cap *= 2;
    P.line = realloc(P.line, cap);
    if (P.line == NULL) abort();
    P.line_cap = cap;
}

static void out(const void *p, size_t n)
{
    out_reserve(n);
    memcpy(P.line + P.line_len, p, n);
    P.line_len += n;
}

static void outs(const char *s) { out(s, strlen(s)); }

static void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out(buf, (size_t)k);
}

/* A JSON string (bytes as given; control characters and quotes escaped). */
static void out_json_str(const uint8_t *p, size_t n)
{
    out("\"", 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            out(e, 2);
        } else if (c < 0x20) {
            outf("\\u%04x", c);
        } else {
            out(&c, 1);
        }
    }
    out("\"", 1);
}

/* A value already in canonical text: JSON-quoted (decode) or raw (sum). */
static void out_text(const char *s, size_t n)
{
    if (P.mode == M_DECODE) out_json_str((const uint8_t *)s, n);
    else out(s, n);
}

static void out_hex(const uint8_t *p, size_t n)
{
    char h[3];
    char *buf = malloc(2 * n + 3);
    buf[0] = '\\';
    buf[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        snprintf(h, sizeof h, "%02x", p[i]);
        memcpy(buf + 2 + 2 * i, h, 2);
    }
    out_text(buf, 2 * n + 2);
    free(buf);
}

static const char *special_text(enum pg_val_special s)
{
    return s == PG_VAL_POS_INFINITY ? "infinity" : s == PG_VAL_NEG_INFINITY ? "-infinity" : "NaN";
}

static void fail_value(uint32_t oid, enum pg_val_error e)
{
    fprintf(stderr, "ERROR 0 - a value of type %u: %s\n", oid, pg_val_strerror(e));
    exit(1);
}

static void out_float(double v, bool f4)
{
    char buf[64];
    if (isnan(v)) snprintf(buf, sizeof buf, "NaN");
    else if (isinf(v)) snprintf(buf, sizeof buf, v > 0 ? "Infinity" : "-Infinity");
    else snprintf(buf, sizeof buf, f4 ? "%.9g" : "%.17g", v);
    if (P.mode == M_DECODE && !isnan(v) && !isinf(v)) outs(buf);
    else out_text(buf, strlen(buf));
}

/* One value in canonical form. */
static void out_value(uint32_t oid, const uint8_t *p, size_t n);

static void out_array(uint32_t oid, const uint8_t *p, size_t n)
{
    struct pg_array a;
    enum pg_val_error e = pg_val_array_open(p, n, 0, 0, &a);
    if (e != PG_VAL_OK) fail_value(oid, e);
    if (P.mode != M_DECODE) {
        out_text("<array>", 7);
        return;
    }
    outs("{\"dims\":[");
    for (uint32_t i = 0; i < a.ndim; i++) outf("%s[%d,%d]", i > 0 ? "," : "", a.lower[i], a.dims[i]);
    outf("],\"elem\":%u,\"values\":[", a.elem_oid);
    const uint8_t *d;
    size_t len;
    bool null;
    bool first = true;
    while (pg_val_array_next(&a, &d, &len, &null)) {
        if (!first) outs(",");
        first = false;
        if (null) outs("null");
        else out_value(a.elem_oid, d, len);
    }
    outs("]}");
}

static void out_value(uint32_t oid, const uint8_t *p, size_t n)
{
    enum pg_val_error e = PG_VAL_OK;
    enum pg_val_special sp = PG_VAL_FINITE;
    char buf[128];
    switch (oid) {
    case PG_OID_BOOL: {
        bool b;
        if ((e = pg_val_bool(p, n, &b)) != PG_VAL_OK) fail_value(oid, e);
        if (P.mode == M_DECODE) outs(b ? "true" : "false");
        else outs(b ? "t" : "f");
        return;
    }
    case PG_OID_INT2: { int16_t v; if ((e = pg_val_int2(p, n, &v)) != PG_VAL_OK) fail_value(oid, e); outf("%d", v); return; }
    case PG_OID_INT4: { int32_t v; if ((e = pg_val_int4(p, n, &v)) != PG_VAL_OK) fail_value(oid, e); outf("%d", v); return; }
    case PG_OID_INT8: {
        int64_t v;
        if ((e = pg_val_int8(p, n, &v)) != PG_VAL_OK) fail_value(oid, e);
        outf("%" PRId64, v);
        return;
    }
    case PG_OID_OID: { uint32_t v; if ((e = pg_val_oid(p, n, &v)) != PG_VAL_OK) fail_value(oid, e); outf("%u", v); return; }
    case PG_OID_FLOAT4: { float v; if ((e = pg_val_float4(p, n, &v)) != PG_VAL_OK) fail_value(oid, e); out_float(v, true); return; }
    case PG_OID_FLOAT8: { double v; if ((e = pg_val_float8(p, n, &v)) != PG_VAL_OK) fail_value(oid, e); out_float(v, false); return; }
    case PG_OID_NUMERIC: {
        static char *text;
        if (text == NULL) text = malloc(PG_NUMERIC_TEXT_MAX);
        size_t len;
        if ((e = pg_val_numeric_text(p, n, text, PG_NUMERIC_TEXT_MAX, &len, &sp)) != PG_VAL_OK) fail_value(oid, e);
        out_text(text, len);
        return;
    }
    case PG_OID_DATE: {
        int32_t d;
        if ((e = pg_val_date(p, n, &d, &sp)) != PG_VAL_OK) fail_value(oid, e);
        if (sp != PG_VAL_FINITE) snprintf(buf, sizeof buf, "%s", special_text(sp));
        else snprintf(buf, sizeof buf, "d:%d", d);
        out_text(buf, strlen(buf));
        return;
    }
    case PG_OID_TIMESTAMP:
    case PG_OID_TIMESTAMPTZ: {
        int64_t t;
        if ((e = pg_val_timestamp(p, n, &t, &sp)) != PG_VAL_OK) fail_value(oid, e);
        if (sp != PG_VAL_FINITE) snprintf(buf, sizeof buf, "%s", special_text(sp));
        else snprintf(buf, sizeof buf, "us:%" PRId64, t);
        out_text(buf, strlen(buf));
        return;
    }
    case PG_OID_TIME: {
        int64_t t;
        if ((e = pg_val_time(p, n, &t)) != PG_VAL_OK) fail_value(oid, e);
        snprintf(buf, sizeof buf, "us:%" PRId64, t);
        out_text(buf, strlen(buf));
        return;
    }
    case PG_OID_UUID: {
        uint8_t u[16];
        if ((e = pg_val_uuid(p, n, u)) != PG_VAL_OK) fail_value(oid, e);
        snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        out_text(buf, 36);
        return;
    }
    case PG_OID_JSONB: {
        const uint8_t *t;
        size_t tl;
        if ((e = pg_val_jsonb(p, n, &t, &tl)) != PG_VAL_OK) fail_value(oid, e);
        out_text((const char *)t, tl);
        return;
    }
    case PG_OID_TEXT: case PG_OID_VARCHAR: case PG_OID_BPCHAR: case PG_OID_NAME: case PG_OID_JSON: case PG_OID_CHAR:
    case PG_OID_XML:
        out_text((const char *)p, n);
        return;
    case PG_OID_BYTEA: out_hex(p, n); return;
    default: break;
    }
    if (pg_oid_array_element(oid) != 0) {
        out_array(oid, p, n);
        return;
    }
    fprintf(stderr, "ERROR 0 - no decoder for type %u\n", oid);
    exit(1);
}

/* ------------------------------------------------------------------------- */
/* COPY data */

static void on_resume(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    (void)op;
    pg_resume(&P.conn);
}

static void on_closed(struct pg_conn *c, void *ctx, const struct lw_err *err)
{
    (void)c;
    (void)ctx;
    (void)err;
    P.done = true;
}

static void row_end(void)
{
    if (P.mode == M_DECODE) {
        outs("]\n");
        fwrite(P.line, 1, P.line_len, stdout);
    } else {
        outs("\n");
        s3_sha256_update(&P.sha, P.line, P.line_len);
    }
    P.line_len = 0;
}

static void on_data(struct pg_conn *c, void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    P.bytes += len;
    P.calls++;
    if (P.mode == M_RAW) {
        fwrite(data, 1, len, stdout);
    } else {
        while (len > 0) {
            size_t used;
            struct pg_copy_field f;
            enum pg_copy_event ev = pg_copy_feed(&P.copy, data, len, &used, &f);
            data += used;
            len -= used;
            if (ev == PG_COPY_NEED_MORE) break;
            if (ev == PG_COPY_ERROR) {
                fprintf(stderr, "ERROR %d - %s\n", P.copy.err.code, P.copy.err.msg);
                exit(1);
            }
            if (ev == PG_COPY_ROW) {
                P.line_len = 0;
                if (P.mode == M_DECODE) outs("[");
                if (P.copy.field_count == 0) row_end();
            } else if (ev == PG_COPY_FIELD) {
                if (f.index > 0) outs(P.mode == M_DECODE ? "," : "\t");
                if (f.null) outs(P.mode == M_DECODE ? "null" : "\\N");
                else out_value(P.types[f.index], f.data, f.len);
                if (f.index + 1 == P.copy.field_count) row_end();
            }
        }
    }
    if (P.cancel_after > 0 && P.bytes >= P.cancel_after && !P.canceled) {
        P.canceled = true;
        pg_close(c, on_closed, NULL);
        return;
    }
    if (P.pause_every > 0 && P.calls % P.pause_every == 0) {
        pg_pause(c);
        loop_timer_start(&P.loop, &P.resume_timer, 1, on_resume, NULL);
    }
}

/* ------------------------------------------------------------------------- */
/* The sequence: connect, [describe], run, close */

/* The peak resident set of this program's image: VmHWM (ru_maxrss would also count
 * the parent's memory from before execve). */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static void summary(void)
{
    uint8_t d[32];
    char h[65];
    s3_sha256_out(&P.sha, d);
    for (int i = 0; i < 32; i++) snprintf(h + 2 * i, 3, "%02x", d[i]);
    fprintf(stderr,
            "SUMMARY {\"rows\":%" PRIu64 ",\"copy_rows\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"calls\":%" PRIu64
            ",\"sha256\":\"%s\",\"maxrss_kb\":%ld,\"tls\":%s,\"auth\":\"%s\",\"server_version\":\"%s\","
            "\"copy_format\":%d}\n",
            pg_last_rows(&P.conn), P.copy.rows, P.bytes, P.calls, h, peak_rss_kb(), P.tls ? "true" : "false",
            pg_auth_method_name(pg_auth_used(&P.conn)), pg_server_version(&P.conn), pg_copy_format(&P.conn));
}

static void finish_with(const struct lw_err *err)
{
    if (err != NULL) {
        P.failed = true;
        P.err = *err;
    }
    if (pg_state(&P.conn) == PG_IDLE) {
        P.done = true;
        return;
    }
    pg_close(&P.conn, on_closed, NULL);
}

static void print_result(void)
{
    const struct pg_result *r = pg_result(&P.conn);
    P.line_len = 0;
    outs("{\"columns\":[");
    for (uint32_t i = 0; i < r->column_count; i++) {
        outf("%s{\"name\":", i > 0 ? "," : "");
        const char *name = pg_result_column_name(r, i);
        out_json_str((const uint8_t *)name, strlen(name));
        outf(",\"type\":%u,\"typmod\":%d}", r->columns[i].type_oid, r->columns[i].typmod);
    }
    outs("],\"rows\":[");
    for (uint64_t row = 0; row < r->row_count; row++) {
        outs(row > 0 ? ",[" : "[");
        for (uint32_t col = 0; col < r->column_count; col++) {
            if (col > 0) outs(",");
            size_t len;
            const char *v = pg_result_value(r, row, col, &len);
            if (v == NULL) outs("null");
            else out_json_str((const uint8_t *)v, len);
        }
        outs("]");
    }
    outs("],\"tag\":");
    out_json_str((const uint8_t *)r->command_tag, strlen(r->command_tag));
    outs("}\n");
    fwrite(P.line, 1, P.line_len, stdout);
}

static void on_copied(struct pg_conn *c, void *ctx, const struct lw_err *err)
{
    (void)c;
    (void)ctx;
    if (P.canceled) {
        /* the COPY must end canceled; the close callback follows */
        if (err == NULL || err->code != LOOP_E_CANCELED) {
            fprintf(stderr, "ERROR 0 - the COPY was not canceled: %s\n", err != NULL ? err->msg : "it succeeded");
            exit(1);
        }
        fprintf(stderr, "CANCELED %s\n", err->msg);
        return;
    }
    if (err == NULL && P.mode != M_RAW) {
        struct lw_err e;
        if (!pg_copy_finish(&P.copy, &e)) {
            finish_with(&e);
            return;
        }
    }
    finish_with(err);
}

static void on_queried(struct pg_conn *c, void *ctx, const struct lw_err *err)
{
    (void)c;
    (void)ctx;
    if (err == NULL) print_result();
    finish_with(err);
}

static void start_copy(void)
{
    char *sql = malloc(strlen(P.sql) + 64);
    sprintf(sql, "COPY (%s) TO STDOUT (FORMAT binary)", P.sql);
    pg_copy_out(&P.conn, sql, on_data, on_copied, NULL);
    free(sql);
}

static void on_described(struct pg_conn *c, void *ctx, const struct lw_err *err)
{
    (void)ctx;
    if (err != NULL) {
        finish_with(err);
        return;
    }
    const struct pg_result *r = pg_result(c);
    P.ncols = r->column_count;
    for (uint32_t i = 0; i < r->column_count && i < COLUMNS_MAX; i++) P.types[i] = r->columns[i].type_oid;
    pg_copy_expect_fields(&P.copy, P.ncols);
    start_copy();
}

static void on_connected(struct pg_conn *c, void *ctx, const struct lw_err *err)
{
    (void)ctx;
    if (err != NULL) {
        finish_with(err);
        return;
    }
    P.tls = pg_tls(c);
    switch (P.mode) {
    case M_CONNECT: finish_with(NULL); return;
    case M_QUERY: pg_query(c, P.sql, on_queried, NULL); return;
    case M_RAW: start_copy(); return;
    case M_DECODE:
    case M_SUM: {
        char *sql = malloc(strlen(P.sql) + 64);
        sprintf(sql, "SELECT * FROM (%s) q LIMIT 0", P.sql);
        pg_query(c, sql, on_described, NULL);
        free(sql);
        return;
    }
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: pg_probe [--ca FILE] [--password-file FILE] [--message-bytes N] [--result-bytes N]\n"
                    "                [--io-timeout-ms N]\n"
                    "                [--pause-every N] [--cancel-after-bytes N] URL query|copy-raw|copy-decode|"
                    "copy-sum|connect [SQL]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *ca = NULL, *password_file = NULL;
    struct pg_options opts = { 0 };
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "--ca") == 0) ca = argv[i + 1];
        else if (strcmp(argv[i], "--password-file") == 0) password_file = argv[i + 1];
        else if (strcmp(argv[i], "--message-bytes") == 0) opts.message_bytes_max = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--result-bytes") == 0) opts.result_bytes_max = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--io-timeout-ms") == 0) opts.io_timeout_ms = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--pause-every") == 0) P.pause_every = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--cancel-after-bytes") == 0) P.cancel_after = strtoull(argv[i + 1], NULL, 10);
        else usage();
    }
    if (argc - i < 2) usage();
    const char *url = argv[i], *cmd = argv[i + 1];
    P.sql = argc - i > 2 ? argv[i + 2] : "";
    if (strcmp(cmd, "query") == 0) P.mode = M_QUERY;
    else if (strcmp(cmd, "copy-raw") == 0) P.mode = M_RAW;
    else if (strcmp(cmd, "copy-decode") == 0) P.mode = M_DECODE;
    else if (strcmp(cmd, "copy-sum") == 0) P.mode = M_SUM;
    else if (strcmp(cmd, "connect") == 0) P.mode = M_CONNECT;
    else usage();

    log_configure(LOG_FORMAT_JSON, LOG_DEBUG, 2);
    struct lw_err err = { 0 };
    struct pg_conninfo info;
    if (!pg_conninfo_parse(url, (const char *const *)environ, &info, &err) ||
        !pg_resolve_password(&info, password_file, (const char *const *)environ, &err)) {
        fprintf(stderr, "ERROR %d - %s\n", err.code, err.msg);
        return 1;
    }
    static struct tls_anchors anchors;
    const struct tls_anchors *a = NULL;
    if (info.sslmode != PG_SSLMODE_DISABLE) {
        const char *file = ca != NULL ? ca : info.sslrootcert;
        if (!tls_anchors_load_config(&anchors, file, &err)) {
            fprintf(stderr, "ERROR %d - %s\n", err.code, err.msg);
            return 1;
        }
        a = &anchors;
    }
    if (!loop_init(&P.loop, &err)) {
        fprintf(stderr, "ERROR %d - %s\n", err.code, err.msg);
        return 1;
    }
    if (!pg_init(&P.conn, &P.loop, &info, a, &opts, &err)) {
        fprintf(stderr, "ERROR %d - %s\n", err.code, err.msg);
        return 1;
    }
    P.field_buf = malloc(FIELD_BYTES_MAX);
    pg_copy_init(&P.copy, P.field_buf, FIELD_BYTES_MAX);
    s3_sha256_init(&P.sha);
    pg_connect(&P.conn, on_connected, NULL);
    while (!P.done) loop_run_once(&P.loop, 100);
    fflush(stdout);
    summary();
    pg_deinit(&P.conn);
    loop_deinit(&P.loop);
    if (a != NULL) tls_anchors_free(&anchors);
    free(P.field_buf);
    free(P.line);
    if (P.failed) {
        fprintf(stderr, "ERROR %d %s %s\n", P.err.code, pg_sqlstate(&P.conn)[0] != '\0' ? pg_sqlstate(&P.conn) : "-",
                P.err.msg);
        return 1;
    }
    return 0;
}
