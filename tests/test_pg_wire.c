/* pg_wire: frontend message bytes, and backend transcripts (logins with trust,
 * cleartext, MD5 and SCRAM-SHA-256; queries; COPY OUT; errors) fed whole, cut at every
 * byte position and one byte at a time, which must all end the same way. Then every
 * way a server can misbehave, each with its message. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_auth.h"
#include "pg_wire.h"

/* ------------------------------------------------------------------------- */
/* Building backend bytes */

struct bytes {
    uint8_t d[1 << 16];
    size_t n;
};

static void put(struct bytes *b, const void *p, size_t n)
{
    cr_assert(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_u8(struct bytes *b, uint8_t v) { put(b, &v, 1); }

static void put_i16(struct bytes *b, int v)
{
    uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    put(b, x, 2);
}

static void put_i32(struct bytes *b, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    put(b, x, 4);
}

static void put_str(struct bytes *b, const char *s) { put(b, s, strlen(s) + 1); }

/* A message: type, length, then the body given as a `struct bytes`. */
static void msg(struct bytes *b, char type, const struct bytes *body)
{
    put_u8(b, (uint8_t)type);
    put_i32(b, (uint32_t)(body->n + 4));
    put(b, body->d, body->n);
}

static struct bytes *body_new(void)
{
    struct bytes *x = calloc(1, sizeof *x);
    cr_assert_not_null(x);
    return x;
}

static void msg_auth(struct bytes *b, uint32_t code, const void *extra, size_t n)
{
    struct bytes *x = body_new();
    put_i32(x, code);
    if (n > 0) put(x, extra, n);
    msg(b, 'R', x);
    free(x);
}

static void msg_param(struct bytes *b, const char *name, const char *value)
{
    struct bytes *x = body_new();
    put_str(x, name);
    put_str(x, value);
    msg(b, 'S', x);
    free(x);
}

static void msg_ready(struct bytes *b, char status)
{
    struct bytes *x = body_new();
    put_u8(x, (uint8_t)status);
    msg(b, 'Z', x);
    free(x);
}

/* The parameters, key data and ReadyForQuery after AuthenticationOk. */
static void startup_tail(struct bytes *b)
{
    msg_param(b, "application_name", "lakewriter");
    msg_param(b, "client_encoding", "UTF8");
    msg_param(b, "DateStyle", "ISO, MDY");
    msg_param(b, "integer_datetimes", "on");
    msg_param(b, "server_encoding", "UTF8");
    msg_param(b, "server_version", "15.14 (Debian 15.14-0+deb12u1)");
    msg_param(b, "TimeZone", "Etc/UTC");
    struct bytes *x = body_new();
    put_i32(x, 4242);
    put_i32(x, 0xdeadbeef);
    msg(b, 'K', x);
    free(x);
    msg_ready(b, 'I');
}

static void msg_rowdesc(struct bytes *b, int n, const char *const *names, const uint32_t *oids, const int32_t *typmods)
{
    struct bytes *x = body_new();
    put_i16(x, n);
    for (int i = 0; i < n; i++) {
        put_str(x, names[i]);
        put_i32(x, 16384);             /* table oid */
        put_i16(x, i + 1);             /* attnum */
        put_i32(x, oids[i]);
        put_i16(x, -1);                /* typlen */
        put_i32(x, (uint32_t)typmods[i]);
        put_i16(x, 0);                 /* text */
    }
    msg(b, 'T', x);
    free(x);
}

static void msg_datarow(struct bytes *b, int n, const char *const *values)
{
    struct bytes *x = body_new();
    put_i16(x, n);
    for (int i = 0; i < n; i++) {
        if (values[i] == NULL) {
            put_i32(x, 0xffffffffu);
        } else {
            put_i32(x, (uint32_t)strlen(values[i]));
            put(x, values[i], strlen(values[i]));
        }
    }
    msg(b, 'D', x);
    free(x);
}

static void msg_text(struct bytes *b, char type, const char *text)
{
    struct bytes *x = body_new();
    put_str(x, text);
    msg(b, type, x);
    free(x);
}

static void msg_empty(struct bytes *b, char type)
{
    struct bytes *x = body_new();
    msg(b, type, x);
    free(x);
}

/* ErrorResponse / NoticeResponse with the usual fields. */
static void msg_notice(struct bytes *b, char type, const char *severity, const char *code, const char *message,
                       const char *detail, const char *hint, const char *position)
{
    struct bytes *x = body_new();
    put_u8(x, 'S');
    put_str(x, severity);
    put_u8(x, 'V');
    put_str(x, severity);
    put_u8(x, 'C');
    put_str(x, code);
    put_u8(x, 'M');
    put_str(x, message);
    if (detail != NULL) {
        put_u8(x, 'D');
        put_str(x, detail);
    }
    if (hint != NULL) {
        put_u8(x, 'H');
        put_str(x, hint);
    }
    if (position != NULL) {
        put_u8(x, 'P');
        put_str(x, position);
    }
    put_u8(x, 'F');
    put_str(x, "parse_relation.c");
    put_u8(x, 'L');
    put_str(x, "1392");
    put_u8(x, 0);
    msg(b, type, x);
    free(x);
}

static void msg_copy_response(struct bytes *b, char type, int format, int ncols)
{
    struct bytes *x = body_new();
    put_u8(x, (uint8_t)format);
    put_i16(x, ncols);
    for (int i = 0; i < ncols; i++) put_i16(x, format);
    msg(b, type, x);
    free(x);
}

static void msg_copy_data(struct bytes *b, const void *data, size_t n)
{
    struct bytes *x = body_new();
    put(x, data, n);
    msg(b, 'd', x);
    free(x);
}

/* ------------------------------------------------------------------------- */
/* Driving the client */

struct outcome {
    char log[1 << 15];
    size_t log_len;
    uint8_t sent[1 << 14];
    size_t sent_len;
    uint8_t copy[1 << 14];
    size_t copy_len;
    enum pg_wire_state end_state;
};

static void logf_(struct outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct outcome *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->log + o->log_len, sizeof o->log - o->log_len, fmt, ap);
    va_end(ap);
    cr_assert(k >= 0 && (size_t)k < sizeof o->log - o->log_len, "log full");
    o->log_len += (size_t)k;
}

static void take_output(struct pg_wire *w, struct outcome *o)
{
    size_t n;
    const uint8_t *p = pg_wire_send_buf(w, &n);
    if (n == 0) return;
    cr_assert(o->sent_len + n <= sizeof o->sent);
    memcpy(o->sent + o->sent_len, p, n);
    o->sent_len += n;
    pg_wire_send_ack(w, n);
}

struct script {
    const char *const *queries;   /* sent at each READY, in order */
    size_t query_count, next_query;
};

/* Feeds `n` bytes; logs each event. Returns false once the session failed. */
static bool feed(struct pg_wire *w, const uint8_t *p, size_t n, struct outcome *o, struct script *s)
{
    for (;;) {
        size_t used = 0;
        enum pg_event ev = pg_wire_feed(w, p, n, &used);
        cr_assert(used <= n);
        p += used;
        n -= used;
        take_output(w, o);
        struct pg_column_desc col;
        struct pg_value v;
        switch (ev) {
        case PG_EV_NEED_MORE:
            cr_assert_eq(n, 0, "NEED_MORE with %zu bytes unused", n);
            return true;
        case PG_EV_READY:
            logf_(o, "ready %c\n", w->tx_status);
            if (s != NULL && s->next_query < s->query_count) {
                const char *q = s->queries[s->next_query++];
                struct lw_err e;
                cr_assert(pg_wire_query(w, q, strlen(q), &e), "%s", e.msg);
                take_output(w, o);
            }
            break;
        case PG_EV_ROW_DESCRIPTION:
            logf_(o, "rowdesc %u:", w->ev.columns.count);
            while (pg_wire_next_column(&w->ev.columns.cursor, &col))
                logf_(o, " %s/%u/%d/%d", col.name, col.type_oid, col.typmod, col.format);
            logf_(o, "\n");
            break;
        case PG_EV_DATA_ROW:
            logf_(o, "row %u:", w->ev.values.count);
            while (pg_wire_next_value(&w->ev.values.cursor, &v)) {
                if (v.null) logf_(o, " NULL");
                else logf_(o, " '%.*s'", (int)v.len, (const char *)v.data);
            }
            logf_(o, "\n");
            break;
        case PG_EV_COMMAND_COMPLETE: logf_(o, "complete %s\n", w->ev.tag); break;
        case PG_EV_EMPTY_QUERY: logf_(o, "empty\n"); break;
        case PG_EV_COPY_OUT:
            logf_(o, "copyout %d %u\n", w->ev.copy.format, w->ev.copy.columns);
            o->copy_len = 0;
            break;
        case PG_EV_COPY_DATA:
            cr_assert(o->copy_len + w->ev.data.len <= sizeof o->copy);
            if (w->ev.data.len > 0) memcpy(o->copy + o->copy_len, w->ev.data.ptr, w->ev.data.len);
            o->copy_len += w->ev.data.len;
            break;
        case PG_EV_COPY_DONE: logf_(o, "copydone %zu '%.*s'\n", o->copy_len, (int)o->copy_len, o->copy); break;
        case PG_EV_NOTICE:
            logf_(o, "notice %s %s %s\n", w->ev.notice.severity, w->ev.notice.sqlstate, w->ev.notice.message);
            break;
        case PG_EV_SERVER_ERROR: {
            struct lw_err e;
            pg_notice_to_err(&w->ev.notice, &e);
            logf_(o, "error %s: %s\n", w->ev.notice.severity, e.msg);
            break;
        }
        case PG_EV_FAILED:
            logf_(o, "failed %d: %s\n", w->err.code, w->err.msg);
            return false;
        }
    }
}

static const uint8_t NONCE[PG_SCRAM_NONCE_RAW_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18 };

static struct pg_wire_config config(const char *password)
{
    struct pg_wire_config c = { .user = "alice", .database = "shop", .password = password,
                                .password_len = password != NULL ? strlen(password) : 0 };
    memcpy(c.nonce, NONCE, sizeof NONCE);
    return c;
}

struct session {
    struct pg_wire w;
    uint8_t msg[PG_WIRE_MESSAGE_BYTES_MIN];
    uint8_t out[8192];
};

/* Runs the transcript `t`, cut into pieces: cut1 and cut2 (0 = not cut; SIZE_MAX =
 * one byte at a time). */
static void run(const struct pg_wire_config *cfg, const struct bytes *t, size_t cut1, size_t cut2,
                const char *const *queries, size_t query_count, struct outcome *o)
{
    struct session *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    struct lw_err e;
    cr_assert(pg_wire_init(&s->w, cfg, s->msg, sizeof s->msg, s->out, sizeof s->out, &e), "%s", e.msg);
    memset(o, 0, sizeof *o);
    take_output(&s->w, o);
    struct script sc = { .queries = queries, .query_count = query_count };
    if (cut1 == SIZE_MAX) {
        for (size_t i = 0; i < t->n; i++)
            if (!feed(&s->w, t->d + i, 1, o, &sc)) break;
    } else {
        size_t a = cut1 < t->n ? cut1 : t->n, b = cut2 < t->n && cut2 > a ? cut2 : t->n;
        if (feed(&s->w, t->d, a, o, &sc) && feed(&s->w, t->d + a, b - a, o, &sc))
            feed(&s->w, t->d + b, t->n - b, o, &sc);
    }
    o->end_state = pg_wire_state(&s->w);
    free(s);
}

/* The transcript gives the same events, the same bytes sent and the same end, however
 * it is cut. Returns the whole run's outcome. */
static struct outcome *check_all_splits(const struct pg_wire_config *cfg, const struct bytes *t,
                                        const char *const *queries, size_t query_count)
{
    struct outcome *whole = calloc(1, sizeof *whole), *o = calloc(1, sizeof *o);
    cr_assert(whole != NULL && o != NULL);
    run(cfg, t, 0, 0, queries, query_count, whole);
    for (size_t k = 0; k <= t->n; k++) {
        size_t cuts[][2] = { { k, 0 }, { k, k + 7 }, { k, k + 1 } };
        for (size_t c = 0; c < 3; c++) {
            run(cfg, t, cuts[c][0], cuts[c][1], queries, query_count, o);
            cr_assert_str_eq(o->log, whole->log, "cut at %zu/%zu", cuts[c][0], cuts[c][1]);
            cr_assert_eq(o->sent_len, whole->sent_len);
            cr_assert_eq(memcmp(o->sent, whole->sent, o->sent_len), 0);
            cr_assert_eq(o->end_state, whole->end_state);
        }
    }
    run(cfg, t, SIZE_MAX, 0, queries, query_count, o);
    cr_assert_str_eq(o->log, whole->log, "one byte at a time");
    cr_assert_eq(o->sent_len, whole->sent_len);
    free(o);
    return whole;
}

/* ------------------------------------------------------------------------- */
/* Frontend bytes */

Test(pg_wire, frontend_message_bytes)
{
    uint8_t out[512];
    static const uint8_t ssl[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
    cr_assert_eq(pg_write_ssl_request(out, sizeof out), 8);
    cr_assert_eq(memcmp(out, ssl, 8), 0);
    cr_assert_eq(pg_write_ssl_request(out, 7), 0);

    static const uint8_t cancel[] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x10, 0x92, 0xde, 0xad, 0xbe, 0xef };
    cr_assert_eq(pg_write_cancel_request(out, sizeof out, 4242, 0xdeadbeef), 16);
    cr_assert_eq(memcmp(out, cancel, 16), 0);

    static const char startup[] =
        "\0\0\0\x61\0\x03\0\0"
        "user\0alice\0database\0shop\0application_name\0lakewriter\0client_encoding\0UTF8\0DateStyle\0ISO\0\0";
    size_t n = pg_write_startup(out, sizeof out, "alice", "shop", "lakewriter");
    cr_assert_eq(n, sizeof startup - 1);
    cr_assert_eq(n, 0x61);
    cr_assert_eq(memcmp(out, startup, n), 0);
    cr_assert_eq(pg_write_startup(out, n - 1, "alice", "shop", "lakewriter"), 0);
    n = pg_write_startup(out, sizeof out, "alice", "", "x");   /* no database: left out */
    cr_assert(memmem(out, n, "database", 8) == NULL);

    static const uint8_t term[] = { 'X', 0, 0, 0, 4 };
    cr_assert_eq(pg_write_message(out, sizeof out, 'X', NULL, 0), 5);
    cr_assert_eq(memcmp(out, term, 5), 0);

    static const char sasl[] = "p\0\0\0\x1d" "SCRAM-SHA-256\0\0\0\0\x07" "n,,n=,r";
    n = pg_write_sasl_initial(out, sizeof out, "SCRAM-SHA-256", "n,,n=,r", 7);
    cr_assert_eq(n, sizeof sasl - 1);
    cr_assert_eq(memcmp(out, sasl, n), 0);
}

Test(pg_wire, init_queues_startup_and_query_bytes)
{
    struct session *s = calloc(1, sizeof *s);
    struct pg_wire_config cfg = config(NULL);
    struct lw_err e;
    cr_assert(pg_wire_init(&s->w, &cfg, s->msg, sizeof s->msg, s->out, sizeof s->out, &e));
    size_t n;
    const uint8_t *p = pg_wire_send_buf(&s->w, &n);
    uint8_t want[256];
    cr_assert_eq(n, pg_write_startup(want, sizeof want, "alice", "shop", "lakewriter"));
    cr_assert_eq(memcmp(p, want, n), 0);
    pg_wire_send_ack(&s->w, 10);
    p = pg_wire_send_buf(&s->w, &n);
    cr_assert_eq(memcmp(p, want + 10, n), 0);
    pg_wire_send_ack(&s->w, n);
    pg_wire_send_buf(&s->w, &n);
    cr_assert_eq(n, 0);

    /* not ready yet: a query is refused */
    cr_assert_not(pg_wire_query(&s->w, "SELECT 1", 8, &e));
    cr_assert_eq(e.code, PG_E_USAGE);

    struct bytes *t = body_new();
    msg_auth(t, 0, NULL, 0);
    startup_tail(t);
    size_t used;
    enum pg_event ev;
    size_t off = 0;
    while ((ev = pg_wire_feed(&s->w, t->d + off, t->n - off, &used)) != PG_EV_READY) {
        cr_assert_eq(ev, PG_EV_NEED_MORE);
        off += used;
    }
    cr_assert_eq(s->w.auth_method, PG_AUTH_TRUST);
    cr_assert_str_eq(s->w.server_version, "15.14 (Debian 15.14-0+deb12u1)");
    cr_assert_str_eq(s->w.client_encoding, "UTF8");
    cr_assert_str_eq(s->w.time_zone, "Etc/UTC");
    cr_assert_eq(s->w.backend_pid, 4242);
    cr_assert_eq(s->w.backend_key, 0xdeadbeef);
    cr_assert_eq(pg_wire_state(&s->w), PG_WIRE_READY);

    cr_assert(pg_wire_query(&s->w, "SELECT 1", 8, &e));
    static const uint8_t q[] = { 'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0 };
    p = pg_wire_send_buf(&s->w, &n);
    cr_assert_eq(n, sizeof q);
    cr_assert_eq(memcmp(p, q, n), 0);
    cr_assert_eq(pg_wire_state(&s->w), PG_WIRE_QUERY);
    cr_assert_not(pg_wire_query(&s->w, "SELECT 2", 8, &e));   /* one at a time */

    /* a NUL byte, and a query larger than the buffer */
    free(t);
    free(s);
    s = calloc(1, sizeof *s);
    cr_assert(pg_wire_init(&s->w, &cfg, s->msg, sizeof s->msg, s->out, sizeof s->out, &e));
    s->w.state = PG_WIRE_READY;
    cr_assert_not(pg_wire_query(&s->w, "SELECT '\0'", 10, &e));
    cr_assert(strstr(e.msg, "NUL") != NULL);
    static char big[9000];
    memset(big, ' ', sizeof big);
    cr_assert_not(pg_wire_query(&s->w, big, sizeof big, &e));
    cr_assert(strstr(e.msg, "does not fit") != NULL, "%s", e.msg);

    /* terminate: 'X' queued, password wiped, further bytes ignored */
    pg_wire_terminate(&s->w);
    p = pg_wire_send_buf(&s->w, &n);
    cr_assert_eq(p[n - 5], 'X');
    cr_assert_eq(pg_wire_state(&s->w), PG_WIRE_TERMINATED);
    cr_assert_eq(pg_wire_feed(&s->w, (const uint8_t *)"garbage", 7, &used), PG_EV_NEED_MORE);
    cr_assert_eq(used, 7);
    free(s);
}

Test(pg_wire, init_refuses_bad_configuration)
{
    struct session *s = calloc(1, sizeof *s);
    struct lw_err e;
    struct pg_wire_config cfg = config("pw");
    cfg.user = "";
    cr_assert_not(pg_wire_init(&s->w, &cfg, s->msg, sizeof s->msg, s->out, sizeof s->out, &e));
    cfg = config("p\0w");
    cfg.password_len = 3;
    cr_assert_not(pg_wire_init(&s->w, &cfg, s->msg, sizeof s->msg, s->out, sizeof s->out, &e));
    cr_assert(strstr(e.msg, "NUL") != NULL);
    cfg = config("pw");
    cr_assert_not(pg_wire_init(&s->w, &cfg, s->msg, 100, s->out, sizeof s->out, &e));
    cr_assert_not(pg_wire_init(&s->w, &cfg, s->msg, sizeof s->msg, s->out, 100, &e));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cfg.database = longname;
    cr_assert_not(pg_wire_init(&s->w, &cfg, s->msg, sizeof s->msg, s->out, sizeof s->out, &e));
    free(s);
}

/* ------------------------------------------------------------------------- */
/* Logins */

Test(pg_wire, trust_login_every_split)
{
    struct bytes *t = body_new();
    msg_auth(t, 0, NULL, 0);
    msg_notice(t, 'N', "WARNING", "01000", "you are being watched", NULL, NULL, NULL);
    startup_tail(t);
    struct pg_wire_config cfg = config(NULL);
    struct outcome *o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert_str_eq(o->log, "notice WARNING 01000 you are being watched\nready I\n");
    cr_assert_eq(o->end_state, PG_WIRE_READY);
    free(o);
    free(t);
}

Test(pg_wire, cleartext_login_every_split)
{
    struct bytes *t = body_new();
    msg_auth(t, 3, NULL, 0);
    msg_auth(t, 0, NULL, 0);
    startup_tail(t);
    struct pg_wire_config cfg = config("s3cr3t");
    struct outcome *o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert_str_eq(o->log, "ready I\n");
    uint8_t startup[256];
    size_t sn = pg_write_startup(startup, sizeof startup, "alice", "shop", "lakewriter");
    static const uint8_t pw[] = { 'p', 0, 0, 0, 11, 's', '3', 'c', 'r', '3', 't', 0 };
    cr_assert_eq(o->sent_len, sn + sizeof pw);
    cr_assert_eq(memcmp(o->sent + sn, pw, sizeof pw), 0);
    free(o);
    free(t);
}

Test(pg_wire, md5_login_every_split)
{
    struct bytes *t = body_new();
    static const uint8_t salt[4] = { 1, 2, 3, 0xfe };
    msg_auth(t, 5, salt, 4);
    msg_auth(t, 0, NULL, 0);
    startup_tail(t);
    struct pg_wire_config cfg = config("s3cr3t");
    cfg.user = "lakewriter";
    struct outcome *o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert_str_eq(o->log, "ready I\n");
    uint8_t startup[256];
    size_t sn = pg_write_startup(startup, sizeof startup, "lakewriter", "shop", "lakewriter");
    cr_assert_eq(o->sent_len, sn + 5 + 36);
    cr_assert_eq(o->sent[sn], 'p');
    cr_assert_eq(memcmp(o->sent + sn + 5, "md51ccc98ab102d9c2863c4103b256793cc", 36), 0); /* with its NUL */
    free(o);
    free(t);
}

/* The server's side of SCRAM, computed here from the primitives (themselves checked
 * against RFC vectors in test_pg_auth.c). */
struct scram_server {
    char first[256];
    char final[128];
    char client_final[256];   /* what the client must send */
};

static void hmac(const void *key, size_t kl, const void *data, size_t n, uint8_t out[32])
{
    struct pg_hmac_key k;
    pg_hmac_key_init(&k, key, kl);
    pg_hmac_sha256(&k, data, n, out);
}

static void scram_server(const char *password, uint32_t iterations, struct scram_server *s, bool corrupt_sig)
{
    char cnonce[32];
    pg_base64_encode(NONCE, sizeof NONCE, cnonce);
    cnonce[24] = '\0';
    static const uint8_t salt[16] = "0123456789abcdef";
    char salt64[32];
    pg_base64_encode(salt, 16, salt64);
    salt64[24] = '\0';
    snprintf(s->first, sizeof s->first, "r=%sSERVERnonce+/=,s=%s,i=%u", cnonce, salt64, iterations);
    char without_proof[128];
    snprintf(without_proof, sizeof without_proof, "c=biws,r=%sSERVERnonce+/=", cnonce);
    char auth[512];
    snprintf(auth, sizeof auth, "n=,r=%s,%s,%s", cnonce, s->first, without_proof);
    uint8_t salted[32], ck[32], sk[32], stored[32], csig[32], ssig[32], proof[32];
    pg_pbkdf2_sha256(password, strlen(password), salt, 16, iterations, salted, 32);
    hmac(salted, 32, "Client Key", 10, ck);
    hmac(salted, 32, "Server Key", 10, sk);
    struct s3_sha256 h;
    s3_sha256_init(&h);
    s3_sha256_update(&h, ck, 32);
    s3_sha256_out(&h, stored);
    hmac(stored, 32, auth, strlen(auth), csig);
    hmac(sk, 32, auth, strlen(auth), ssig);
    for (int i = 0; i < 32; i++) proof[i] = ck[i] ^ csig[i];
    if (corrupt_sig) ssig[5] ^= 0x10;
    char p64[48], s64[48];
    pg_base64_encode(proof, 32, p64);
    p64[44] = '\0';
    pg_base64_encode(ssig, 32, s64);
    s64[44] = '\0';
    snprintf(s->client_final, sizeof s->client_final, "%s,p=%s", without_proof, p64);
    snprintf(s->final, sizeof s->final, "v=%s", s64);
}

static void scram_transcript(struct bytes *t, const struct scram_server *s, const char *mechanisms, size_t mech_len)
{
    msg_auth(t, 10, mechanisms, mech_len);
    msg_auth(t, 11, s->first, strlen(s->first));
    msg_auth(t, 12, s->final, strlen(s->final));
    msg_auth(t, 0, NULL, 0);
    startup_tail(t);
}

Test(pg_wire, scram_login_every_split)
{
    struct scram_server s;
    scram_server("correct horse", 16, &s, false);
    struct bytes *t = body_new();
    static const char mechs[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";   /* with the final empty name */
    scram_transcript(t, &s, mechs, sizeof mechs);
    struct pg_wire_config cfg = config("correct horse");
    struct outcome *o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert_str_eq(o->log, "ready I\n");

    /* What the client sent: startup, SASLInitialResponse, SASLResponse. */
    uint8_t want[1024];
    size_t n = pg_write_startup(want, sizeof want, "alice", "shop", "lakewriter");
    char first[64];
    int fl = snprintf(first, sizeof first, "n,,n=,r=AQIDBAUGBwgJCgsMDQ4PEBES");
    n += pg_write_sasl_initial(want + n, sizeof want - n, "SCRAM-SHA-256", first, (size_t)fl);
    n += pg_write_message(want + n, sizeof want - n, 'p', s.client_final, strlen(s.client_final));
    cr_assert_eq(o->sent_len, n);
    cr_assert_eq(memcmp(o->sent, want, n), 0, "sent %.*s", (int)o->sent_len, o->sent);
    free(o);
    free(t);
}

Test(pg_wire, scram_wrong_server_signature_fails)
{
    struct scram_server s;
    scram_server("correct horse", 16, &s, true);
    struct bytes *t = body_new();
    static const char mechs[] = "SCRAM-SHA-256\0";
    scram_transcript(t, &s, mechs, sizeof mechs);
    struct pg_wire_config cfg = config("correct horse");
    struct outcome *o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert(strstr(o->log, "failed 211: SCRAM: the server's signature is wrong") != NULL, "%s", o->log);
    cr_assert_eq(o->end_state, PG_WIRE_FAILED);
    free(o);
    free(t);
}

Test(pg_wire, scram_ok_without_final_is_refused)
{
    struct scram_server s;
    scram_server("pw", 4, &s, false);
    struct bytes *t = body_new();
    static const char mechs[] = "SCRAM-SHA-256\0";
    msg_auth(t, 10, mechs, sizeof mechs);
    msg_auth(t, 11, s.first, strlen(s.first));
    msg_auth(t, 0, NULL, 0);   /* AuthenticationOk, skipping SASLFinal */
    startup_tail(t);
    struct pg_wire_config cfg = config("pw");
    struct outcome *o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert(strstr(o->log, "without proving it knows the password") != NULL, "%s", o->log);
    free(o);
    /* and a server that says Ok right after the mechanism list */
    t->n = 0;
    msg_auth(t, 10, mechs, sizeof mechs);
    msg_auth(t, 0, NULL, 0);
    o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert(strstr(o->log, "without proving it knows the password") != NULL, "%s", o->log);
    free(o);
    free(t);
}

/* One login transcript that must fail, with `want` in the message. */
static void login_fails(const struct pg_wire_config *cfg, const struct bytes *t, int code, const char *want)
{
    struct outcome *o = check_all_splits(cfg, t, NULL, 0);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "failed %d: ", code);
    cr_assert(strstr(o->log, prefix) != NULL, "want code %d: %s", code, o->log);
    cr_assert(strstr(o->log, want) != NULL, "want \"%s\": %s", want, o->log);
    cr_assert_eq(o->end_state, PG_WIRE_FAILED);
    cr_assert(strstr(o->log, "s3cr3t") == NULL, "the password leaked: %s", o->log);
    free(o);
}

Test(pg_wire, login_failures)
{
    struct pg_wire_config with_pw = config("s3cr3t"), no_pw = config(NULL);
    struct bytes *t = body_new();

    msg_notice(t, 'E', "FATAL", "28P01", "password authentication failed for user \"alice\"", NULL, NULL, NULL);
    struct bytes *t2 = body_new();
    msg_auth(t2, 5, "salt", 4);
    put(t2, t->d, t->n);
    login_fails(&with_pw, t2, PG_E_SERVER, "28P01 password authentication failed for user \"alice\"");

    t->n = 0;
    msg_auth(t, 0, NULL, 0);
    msg_notice(t, 'E', "FATAL", "3D000", "database \"shop\" does not exist", NULL, NULL, NULL);
    login_fails(&with_pw, t, PG_E_SERVER, "3D000 database \"shop\" does not exist");

    t->n = 0;
    msg_auth(t, 5, "salt", 4);
    login_fails(&no_pw, t, PG_E_AUTH, "none was given");
    t->n = 0;
    msg_auth(t, 3, NULL, 0);
    login_fails(&no_pw, t, PG_E_AUTH, "password authentication of user \"alice\"");
    t->n = 0;
    msg_auth(t, 10, "SCRAM-SHA-256\0", 15);
    login_fails(&no_pw, t, PG_E_AUTH, "none was given");

    t->n = 0;
    msg_auth(t, 7, NULL, 0);
    login_fails(&with_pw, t, PG_E_AUTH, "GSSAPI authentication, which lakewriter does not support");
    t->n = 0;
    msg_auth(t, 99, NULL, 0);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "unknown authentication method (99)");
    t->n = 0;
    msg_auth(t, 10, "SCRAM-SHA-256-PLUS\0OAUTHBEARER\0", 32);
    login_fails(&with_pw, t, PG_E_AUTH, "(SCRAM-SHA-256-PLUS, OAUTHBEARER) but not SCRAM-SHA-256");
    t->n = 0;
    msg_auth(t, 10, "SCRAM-SHA-256\0", 14);   /* the list does not end */
    login_fails(&with_pw, t, PG_E_PROTOCOL, "does not end");
    t->n = 0;
    msg_auth(t, 5, "sal", 3);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "4-byte salt");
    t->n = 0;
    msg_auth(t, 3, NULL, 0);
    msg_auth(t, 3, NULL, 0);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "a second time");
    t->n = 0;
    msg_auth(t, 11, "r=x,s=AAAA,i=1", 14);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "SASLContinue out of turn");
    t->n = 0;
    msg_auth(t, 12, "v=x", 3);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "SASLFinal out of turn");
    t->n = 0;
    msg_auth(t, 10, "SCRAM-SHA-256\0", 15);
    msg_auth(t, 11, "r=x,s=AAAA,i=1", 14);
    login_fails(&with_pw, t, PG_AUTH_E_SCRAM, "does not extend");

    /* not PostgreSQL at all */
    t->n = 0;
    put(t, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "did not answer like PostgreSQL (first byte 'H')");
    t->n = 0;
    put(t, "\x16\x03\x01\x00\x05hello", 10);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "first byte 0x16");
    /* protocol negotiation, unexpected messages, bad lengths */
    t->n = 0;
    msg_text(t, 'v', "x");
    login_fails(&with_pw, t, PG_E_PROTOCOL, "NegotiateProtocolVersion");
    t->n = 0;
    msg_auth(t, 0, NULL, 0);
    msg_empty(t, 'I');
    login_fails(&with_pw, t, PG_E_PROTOCOL, "unexpected message 'I' from the server in state starting");
    t->n = 0;
    put(t, "R\0\0\0\x03", 5);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "with a length of 3");
    t->n = 0;
    put(t, "R\x7f\0\0\0", 5);
    login_fails(&with_pw, t, PG_E_TOO_LARGE, "over the limit of 4096");
    t->n = 0;
    msg_auth(t, 0, "x", 1);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "AuthenticationOk with a body");
    t->n = 0;
    msg_auth(t, 0, NULL, 0);
    struct bytes *k = body_new();
    put_i32(k, 1);
    msg(t, 'K', k);
    login_fails(&with_pw, t, PG_E_PROTOCOL, "BackendKeyData not 8 bytes");
    t->n = 0;
    msg_auth(t, 0, NULL, 0);
    msg_param(t, "client_encoding", "LATIN1");
    msg_ready(t, 'I');
    login_fails(&with_pw, t, PG_E_PROTOCOL, "client_encoding=UTF8");
    t->n = 0;
    msg_auth(t, 0, NULL, 0);
    msg_param(t, "client_encoding", "UTF8");
    msg_param(t, "integer_datetimes", "off");
    msg_ready(t, 'I');
    login_fails(&with_pw, t, PG_E_PROTOCOL, "integer_datetimes=off");
    t->n = 0;
    msg_auth(t, 0, NULL, 0);
    msg_param(t, "client_encoding", "UTF8");
    msg_ready(t, 'X');
    login_fails(&with_pw, t, PG_E_PROTOCOL, "status byte");
    t->n = 0;
    msg_auth(t, 0, NULL, 0);
    put(t, "S\0\0\0\x08" "ab\0c", 9);   /* ParameterStatus with one string */
    login_fails(&with_pw, t, PG_E_PROTOCOL, "not two strings");
    t->n = 0;
    put(t, "E\0\0\0\x08" "Sabc", 9);   /* error fields without a terminator */
    login_fails(&with_pw, t, PG_E_PROTOCOL, "bad error fields");
    t->n = 0;
    put(t, "E\0\0\0\x0d" "C1234\0M\0\0", 14);   /* a 4-character SQLSTATE */
    login_fails(&with_pw, t, PG_E_PROTOCOL, "bad error fields");
    free(k);
    free(t2);
    free(t);
}

/* ------------------------------------------------------------------------- */
/* Queries */

static void login(struct bytes *t)
{
    msg_auth(t, 0, NULL, 0);
    startup_tail(t);
}

Test(pg_wire, query_results_every_split)
{
    struct bytes *t = body_new();
    login(t);
    /* 1: two columns, three rows with a NULL and an empty string */
    const char *names[] = { "attname", "atttypmod" };
    const uint32_t oids[] = { 19, 23 };
    const int32_t mods[] = { -1, -1 };
    msg_rowdesc(t, 2, names, oids, mods);
    const char *r1[] = { "id", "-1" }, *r2[] = { "total", "655366" }, *r3[] = { "", NULL };
    msg_datarow(t, 2, r1);
    msg_datarow(t, 2, r2);
    msg_datarow(t, 2, r3);
    msg_text(t, 'C', "SELECT 3");
    msg_ready(t, 'I');
    /* 2: an empty query */
    msg_empty(t, 'I');
    msg_ready(t, 'I');
    /* 3: an error with detail, hint and position, then a notice, inside a transaction */
    msg_notice(t, 'E', "ERROR", "42P01", "relation \"public.nope\" does not exist", "it is gone", "create it",
               "15");
    msg_notice(t, 'N', "NOTICE", "00000", "just so you know", NULL, NULL, NULL);
    msg_ready(t, 'E');
    /* 4: a command without rows, with a ParameterStatus and a notification in between */
    msg_param(t, "TimeZone", "Europe/Paris");
    struct bytes *a = body_new();
    put_i32(a, 77);
    put_str(a, "chan");
    put_str(a, "payload");
    msg(t, 'A', a);
    msg_text(t, 'C', "SET");
    msg_ready(t, 'I');
    /* 5: zero columns */
    msg_rowdesc(t, 0, NULL, NULL, NULL);
    msg_datarow(t, 0, NULL);
    msg_text(t, 'C', "SELECT 1");
    msg_ready(t, 'I');
    const char *const queries[] = { "SELECT attname, atttypmod FROM pg_attribute", "", "SELECT * FROM public.nope",
                                    "SET TimeZone = 'Europe/Paris'", "SELECT" };
    struct pg_wire_config cfg = config(NULL);
    struct outcome *o = check_all_splits(&cfg, t, queries, 5);
    cr_assert_str_eq(o->log,
                     "ready I\n"
                     "rowdesc 2: attname/19/-1/0 atttypmod/23/-1/0\n"
                     "row 2: 'id' '-1'\n"
                     "row 2: 'total' '655366'\n"
                     "row 2: '' NULL\n"
                     "complete SELECT 3\n"
                     "ready I\n"
                     "empty\n"
                     "ready I\n"
                     "error ERROR: 42P01 relation \"public.nope\" does not exist (at character 15); detail: it is "
                     "gone; hint: create it\n"
                     "notice NOTICE 00000 just so you know\n"
                     "ready E\n"
                     "complete SET\n"
                     "ready I\n"
                     "rowdesc 0:\n"
                     "row 0:\n"
                     "complete SELECT 1\n"
                     "ready I\n");
    cr_assert_eq(o->end_state, PG_WIRE_READY);
    free(a);
    free(o);
    free(t);
}

Test(pg_wire, copy_out_every_split)
{
    struct bytes *t = body_new();
    login(t);
    msg_copy_response(t, 'H', 1, 3);
    msg_copy_data(t, "PGCOPY\n\xff\r\n", 10);
    msg_copy_data(t, "", 0);                       /* empty CopyData: nothing delivered */
    msg_notice(t, 'N', "WARNING", "01000", "in the middle", NULL, NULL, NULL);
    msg_copy_data(t, "\0rest of the stream", 19);
    msg_empty(t, 'c');
    msg_text(t, 'C', "COPY 2");
    msg_ready(t, 'I');
    /* a COPY that fails half-way */
    msg_copy_response(t, 'H', 0, 2);
    msg_copy_data(t, "1\tx\n", 4);
    msg_notice(t, 'E', "ERROR", "22012", "division by zero", NULL, NULL, NULL);
    msg_ready(t, 'I');
    /* COPY FROM STDIN is answered with CopyFail */
    msg_copy_response(t, 'G', 0, 1);
    msg_notice(t, 'E', "ERROR", "57014", "COPY from stdin failed: lakewriter does not send COPY FROM STDIN data", NULL,
               NULL, NULL);
    msg_ready(t, 'I');
    const char *const queries[] = { "COPY t TO STDOUT (FORMAT binary)", "COPY (SELECT 1/0) TO STDOUT",
                                    "COPY t FROM STDIN" };
    struct pg_wire_config cfg = config(NULL);
    struct outcome *o = check_all_splits(&cfg, t, queries, 3);
    cr_assert_str_eq(o->log,
                     "ready I\n"
                     "copyout 1 3\n"
                     "notice WARNING 01000 in the middle\n"
                     "copydone 29 'PGCOPY\n\xff\r\n'\n"   /* %.*s stops at the NUL byte */
                     "complete COPY 2\n"
                     "ready I\n"
                     "copyout 0 2\n"
                     "error ERROR: 22012 division by zero\n"
                     "ready I\n"
                     "error ERROR: 57014 COPY from stdin failed: lakewriter does not send COPY FROM STDIN data\n"
                     "ready I\n");
    const uint8_t *f = memmem(o->sent, o->sent_len, "f\0\0\0", 4);
    cr_assert_not_null(f, "no CopyFail sent");
    cr_assert(memmem(o->sent, o->sent_len, "lakewriter does not send COPY FROM STDIN data", 45) != NULL);
    free(o);
    free(t);
}

Test(pg_wire, copy_data_streams_without_the_message_buffer)
{
    /* A CopyData of 100 KiB with a 4 KiB message buffer: streamed in slices. */
    struct session *s = calloc(1, sizeof *s);
    struct pg_wire_config cfg = config(NULL);
    struct lw_err e;
    cr_assert(pg_wire_init(&s->w, &cfg, s->msg, sizeof s->msg, s->out, sizeof s->out, &e));
    s->w.state = PG_WIRE_COPY_OUT;
    static uint8_t big[5 + 100000];
    big[0] = 'd';
    uint32_t len = 100004;
    big[1] = (uint8_t)(len >> 24);
    big[2] = (uint8_t)(len >> 16);
    big[3] = (uint8_t)(len >> 8);
    big[4] = (uint8_t)len;
    for (size_t i = 5; i < sizeof big; i++) big[i] = (uint8_t)i;
    size_t total = 0, off = 0, pieces = 0;
    while (off < sizeof big) {
        size_t n = sizeof big - off < 3000 ? sizeof big - off : 3000, used;
        enum pg_event ev = pg_wire_feed(&s->w, big + off, n, &used);
        if (ev == PG_EV_COPY_DATA) {
            cr_assert(s->w.ev.data.ptr >= big && s->w.ev.data.ptr + s->w.ev.data.len <= big + sizeof big,
                      "a slice of the input, not a copy");
            cr_assert_eq(memcmp(s->w.ev.data.ptr, big + 5 + total, s->w.ev.data.len), 0);
            total += s->w.ev.data.len;
            pieces++;
            cr_assert_eq(s->w.ev.data.message_end, total == 100000);
        } else {
            cr_assert_eq(ev, PG_EV_NEED_MORE);
        }
        off += used;
    }
    cr_assert_eq(total, 100000);
    cr_assert(pieces >= 34);
    free(s);
}

Test(pg_wire, query_failures)
{
    struct pg_wire_config cfg = config(NULL);
    const char *const q1[] = { "SELECT 1" };
    struct bytes *t = body_new();
    struct outcome *o;

    /* DataRow without a RowDescription */
    login(t);
    const char *v1[] = { "1" };
    msg_datarow(t, 1, v1);
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "failed 201: the server sent a DataRow of 1 values for 0 described columns") != NULL,
              "%s", o->log);
    free(o);

    /* DataRow with the wrong count */
    t->n = 0;
    login(t);
    const char *names[] = { "a", "b" };
    const uint32_t oids[] = { 23, 23 };
    const int32_t mods[] = { -1, -1 };
    msg_rowdesc(t, 2, names, oids, mods);
    msg_datarow(t, 1, v1);
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "DataRow of 1 values for 2 described columns") != NULL, "%s", o->log);
    free(o);

    /* a value length past the message */
    t->n = 0;
    login(t);
    msg_rowdesc(t, 1, names, oids, mods);
    put(t, "D\0\0\0\x0c\0\x01\0\0\0\x09" "ab", 13);
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "malformed message 'D' from the server: bad DataRow") != NULL, "%s", o->log);
    free(o);

    /* a negative length other than -1 */
    t->n = 0;
    login(t);
    msg_rowdesc(t, 1, names, oids, mods);
    put(t, "D\0\0\0\x0a\0\x01\xff\xff\xff\xfe", 11);
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "bad DataRow") != NULL, "%s", o->log);
    free(o);

    /* RowDescription with a bad format code, and a truncated one */
    t->n = 0;
    login(t);
    put(t, "T\0\0\0\x1a\0\x01" "a\0" "\0\0\0\0" "\0\0" "\0\0\0\x17" "\0\x04" "\xff\xff\xff\xff" "\0\x02", 27);
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "bad RowDescription") != NULL, "%s", o->log);
    free(o);
    t->n = 0;
    login(t);
    put(t, "T\0\0\0\x09\0\x01" "abc", 10);
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "bad RowDescription") != NULL, "%s", o->log);
    free(o);

    /* messages that do not belong: an idle message, extended protocol, CopyBoth, junk in COPY */
    t->n = 0;
    login(t);
    msg_empty(t, 'I');
    o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert(strstr(o->log, "sent message 'I' while the session was idle") != NULL, "%s", o->log);
    free(o);
    t->n = 0;
    login(t);
    msg_empty(t, '1');
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "unexpected message '1' from the server in state query") != NULL, "%s", o->log);
    free(o);
    t->n = 0;
    login(t);
    msg_copy_response(t, 'W', 0, 0);
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "unexpected message 'W'") != NULL, "%s", o->log);
    free(o);
    t->n = 0;
    login(t);
    msg_copy_response(t, 'H', 1, 1);
    msg_text(t, 'C', "COPY 1");
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "unexpected message 'C' from the server in state copy out") != NULL, "%s", o->log);
    free(o);
    t->n = 0;
    login(t);
    msg_copy_response(t, 'H', 0, 1);
    t->d[t->n - 1] = 1;   /* text overall format with a binary column */
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "bad CopyOutResponse") != NULL, "%s", o->log);
    free(o);
    t->n = 0;
    login(t);
    put(t, "c\0\0\0\x04", 5);
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "unexpected message 'c'") != NULL, "%s", o->log);
    free(o);
    t->n = 0;
    login(t);
    msg_text(t, 'C', "SELECT 1");
    t->d[t->n - 1] = 'x';   /* CommandComplete without its NUL */
    o = check_all_splits(&cfg, t, q1, 1);
    cr_assert(strstr(o->log, "malformed message 'C'") != NULL, "%s", o->log);
    free(o);

    /* a FATAL error while idle ends the session */
    t->n = 0;
    login(t);
    msg_notice(t, 'E', "FATAL", "57P01", "terminating connection due to administrator command", NULL, NULL, NULL);
    o = check_all_splits(&cfg, t, NULL, 0);
    cr_assert(strstr(o->log, "failed 200: 57P01 terminating connection due to administrator command") != NULL, "%s",
              o->log);
    free(o);
    free(t);
}

Test(pg_wire, helpers)
{
    uint64_t rows;
    cr_assert(pg_tag_rows("SELECT 3", &rows));
    cr_assert_eq(rows, 3);
    cr_assert(pg_tag_rows("COPY 1000000", &rows));
    cr_assert_eq(rows, 1000000);
    cr_assert(pg_tag_rows("INSERT 0 5", &rows));
    cr_assert_eq(rows, 5);
    cr_assert_not(pg_tag_rows("CREATE TABLE", &rows));
    cr_assert_not(pg_tag_rows("SELECT", &rows));
    cr_assert_not(pg_tag_rows("SELECT 99999999999999999999999", &rows));
    cr_assert_str_eq(pg_auth_method_name(PG_AUTH_SCRAM_SHA_256), "scram-sha-256");
    cr_assert_str_eq(pg_wire_state_name(PG_WIRE_COPY_OUT), "copy out");
}
