/* pg: pg_wire driven over the loop's TCP and TLS connections. See pg.h. */
#include "pg.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static void pump(struct pg_conn *c);
static void closed(struct pg_conn *c);
static void io_close(struct pg_conn *c);
static void tcp_connect(struct pg_conn *c);

/* ------------------------------------------------------------------------- */
/* Errors and completion */

static void set_err(struct lw_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(struct lw_err *e, int code, const char *fmt, ...)
{
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

/* Records the first error of the running operation (later ones are consequences). */
static void op_error(struct pg_conn *c, const struct lw_err *e)
{
    if (c->op_failed) return;
    c->op_failed = true;
    c->op_err = *e;
}

/* Ends the running operation and calls its callback (which may start the next). */
static void finish(struct pg_conn *c, const struct lw_err *err)
{
    assert(c->op != PG_OP_NONE && c->done_fn != NULL);
    pg_done_fn fn = c->done_fn;
    void *ctx = c->done_context;
    struct lw_err e;
    if (err != NULL) e = *err;
    c->op = PG_OP_NONE;
    c->done_fn = NULL;
    c->data_fn = NULL;
    c->done_context = NULL;
    c->op_failed = false;
    fn(c, ctx, err != NULL ? &e : NULL);
}

/* A failure that ends the connection: the socket is closed first, then the running
 * operation gets `e`. */
static void fail_conn(struct pg_conn *c, const struct lw_err *e)
{
    assert(c->state == PG_CONNECTING || c->state == PG_BUSY || c->state == PG_READY);
    c->op_failed = false;   /* this error explains the end better than an earlier one */
    op_error(c, e);
    c->state = PG_CLOSING;
    c->closing_for_error = true;
    io_close(c);
}

/* Wraps an I/O error of the transport: "postgres: recv from 127.0.0.1:5440: ...". */
static void fail_io(struct pg_conn *c, const struct lw_err *err, bool recv)
{
    struct lw_err e = *err;
    if (err->code == LOOP_E_TIMED_OUT) {
        if (c->state == PG_CONNECTING)
            set_err(&e, LOOP_E_TIMED_OUT, "postgres %s: not connected and logged in within connect_timeout (%u ms)",
                    c->peer, c->info.connect_timeout_ms);
        else
            set_err(&e, LOOP_E_TIMED_OUT, "postgres %s: no data from the server for %u ms (io timeout)", c->peer,
                    c->opts.io_timeout_ms);
    } else if (recv && err->code == LOOP_E_CLOSED) {
        set_err(&e, LOOP_E_CLOSED, "postgres %s: the server closed the connection%s", c->peer,
                c->state == PG_CONNECTING ? " during start-up" : "");
    } else {
        lw_err_wrap(&e, "postgres");
    }
    fail_conn(c, &e);
}

static void on_kick(struct loop *loop, struct loop_op *op);

static void kick(struct pg_conn *c)
{
    if (c->kick_armed) return;
    c->kick_armed = true;
    loop_timer_start(c->loop, &c->op_kick, 0, on_kick, c);
}

/* Refuses an operation started in the wrong state: `done` gets `e` from the loop. */
static void defer_error(struct pg_conn *c, enum pg_op op, pg_done_fn done, void *ctx, const struct lw_err *e)
{
    assert(c->op == PG_OP_NONE && !c->deferred_error);
    c->op = op;
    c->done_fn = done;
    c->done_context = ctx;
    c->deferred_error = true;
    c->deferred_err = *e;
    kick(c);
}

static void on_kick(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct pg_conn *c = op->context;
    c->kick_armed = false;
    if (c->deferred_error) {
        c->deferred_error = false;
        struct lw_err e = c->deferred_err;
        finish(c, &e);
        return;
    }
    pump(c);
}

static int64_t io_deadline(const struct pg_conn *c)
{
    if (c->state == PG_CONNECTING) return c->connect_deadline_ms;
    return loop_now_ms(c->loop) + c->opts.io_timeout_ms;
}

/* ------------------------------------------------------------------------- */
/* Transport: plain TCP (the tls_conn's net_conn) or TLS */

static void sent(struct pg_conn *c, const struct lw_err *err)
{
    c->send_busy = false;
    if (c->state == PG_CLOSING) {
        if (c->terminating) {   /* Terminate is out (or could not be sent): close */
            c->terminating = false;
            io_close(c);
        }
        return;
    }
    if (err != NULL) {
        fail_io(c, err, false);
        return;
    }
    pg_wire_send_ack(&c->wire, c->send_len);
    pump(c);
}

static void on_net_sent(struct net_conn *n, void *ctx, size_t size, const struct lw_err *err)
{
    (void)n;
    (void)size;
    sent(ctx, err);
}

static void on_tls_sent(struct tls_conn *t, void *ctx, size_t size, const struct lw_err *err)
{
    (void)t;
    (void)size;
    sent(ctx, err);
}

static void io_send(struct pg_conn *c)
{
    if (c->send_busy) return;
    size_t n;
    const uint8_t *p = pg_wire_send_buf(&c->wire, &n);
    if (n == 0) return;
    c->send_busy = true;
    c->send_len = n;
    int64_t deadline = c->state == PG_CLOSING ? loop_now_ms(c->loop) + PG_TERMINATE_MS : io_deadline(c);
    if (c->tls_on) tls_send(&c->tls, p, n, deadline, on_tls_sent, c);
    else net_send(tls_net(&c->tls), p, n, deadline, on_net_sent, c);
}

static void received(struct pg_conn *c, size_t size, const struct lw_err *err)
{
    c->recv_busy = false;
    if (c->state == PG_CLOSING) return;
    if (err != NULL) {
        fail_io(c, err, true);
        return;
    }
    assert(size > 0 && size <= PG_RECV_BYTES);
    c->roff = 0;
    c->rlen = size;
    pump(c);
}

static void on_net_recv(struct net_conn *n, void *ctx, size_t size, const struct lw_err *err)
{
    (void)n;
    received(ctx, size, err);
}

static void on_tls_recv(struct tls_conn *t, void *ctx, size_t size, const struct lw_err *err)
{
    (void)t;
    received(ctx, size, err);
}

/* Whether the protocol waits for the server. */
static bool wants_input(const struct pg_conn *c)
{
    switch (pg_wire_state(&c->wire)) {
    case PG_WIRE_STARTUP:
    case PG_WIRE_AUTH:
    case PG_WIRE_STARTING:
    case PG_WIRE_QUERY:
    case PG_WIRE_COPY_OUT: return true;
    default: return false;
    }
}

static void io_recv(struct pg_conn *c)
{
    if (c->recv_busy || c->paused || c->roff < c->rlen || !wants_input(c)) return;
    c->roff = c->rlen = 0;
    c->recv_busy = true;
    if (c->tls_on) tls_recv(&c->tls, c->rbuf, PG_RECV_BYTES, io_deadline(c), on_tls_recv, c);
    else net_recv(tls_net(&c->tls), c->rbuf, PG_RECV_BYTES, io_deadline(c), on_net_recv, c);
}

static void on_net_closed(struct net_conn *n, void *ctx, size_t size, const struct lw_err *err)
{
    (void)n;
    (void)size;
    (void)err;
    closed(ctx);
}

static void on_tls_closed(struct tls_conn *t, void *ctx, size_t size, const struct lw_err *err)
{
    (void)t;
    (void)size;
    (void)err;
    closed(ctx);
}

/* Closes whatever is open: the TLS session (and its socket) or the plain socket. */
static void io_close(struct pg_conn *c)
{
    assert(c->state == PG_CLOSING);
    if (c->anchors != NULL && tls_state(&c->tls) != TLS_IDLE) tls_close(&c->tls, on_tls_closed, c);
    else net_close(tls_net(&c->tls), on_net_closed, c);
}

/* The socket is closed: report the operation that ended with it, then pg_close's
 * caller. */
static void closed(struct pg_conn *c)
{
    assert(c->state == PG_CLOSING && !c->send_busy && !c->recv_busy);
    c->state = PG_IDLE;
    c->tls_on = false;
    c->paused = false;
    c->closing_for_error = false;
    c->roff = c->rlen = 0;
    if (c->kick_armed) {
        loop_timer_cancel(c->loop, &c->op_kick);
        c->kick_armed = false;
    }
    pg_done_fn close_fn = c->close_fn;
    void *close_ctx = c->close_context;
    c->close_fn = NULL;
    if (c->op != PG_OP_NONE) {
        struct lw_err e = c->deferred_error ? c->deferred_err : c->op_err;
        c->deferred_error = false;
        finish(c, &e);
        assert(close_fn == NULL || c->state == PG_IDLE);   /* no new operation while pg_close waits */
    }
    if (close_fn != NULL) close_fn(c, close_ctx, NULL);
}

/* ------------------------------------------------------------------------- */
/* Results */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t n = *cap > 0 ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (q == NULL) return false;
    *p = q;
    *cap = n;
    return true;
}

static size_t result_bytes(const struct pg_result *r)
{
    return r->arena_len + r->cells_len * sizeof r->cells[0] + r->column_count * sizeof r->columns[0];
}

/* Appends `n` bytes and a NUL to the arena; false when over the limit or out of memory. */
static bool arena_put(struct pg_result *r, const void *p, size_t n, size_t *off)
{
    if (result_bytes(r) + n + 1 > r->bytes_max) return false;
    void *a = r->arena;
    if (!grow(&a, &r->arena_cap, r->arena_len + n + 1, 1)) return false;
    r->arena = a;
    *off = r->arena_len;
    if (n > 0) memcpy(r->arena + r->arena_len, p, n);
    r->arena[r->arena_len + n] = '\0';
    r->arena_len += n + 1;
    return true;
}

static void result_reset(struct pg_result *r)
{
    r->column_count = 0;
    r->row_count = 0;
    r->cells_len = 0;
    r->arena_len = 0;
    r->command_tag[0] = '\0';
}

static void result_too_large(struct pg_conn *c)
{
    struct lw_err e;
    set_err(&e, PG_E_RESULT_TOO_LARGE, "postgres %s: the query's rows are over %zu bytes (pg result_bytes_max): "
                                       "narrow the query, or use COPY", c->peer, c->result.bytes_max);
    op_error(c, &e);
}

static void result_columns(struct pg_conn *c)
{
    struct pg_result *r = &c->result;
    if (r->column_count > 0 || r->row_count > 0) {
        struct lw_err e;
        set_err(&e, PG_E_WRONG_RESULT, "postgres %s: the query returned several result sets; pg_query takes one "
                                       "statement that returns rows", c->peer);
        op_error(c, &e);
        return;
    }
    void *cols = r->columns;
    if (!grow(&cols, &r->columns_cap, c->wire.ev.columns.count, sizeof r->columns[0])) {
        result_too_large(c);
        return;
    }
    r->columns = cols;
    struct pg_column_desc d;
    uint32_t i = 0;
    while (pg_wire_next_column(&c->wire.ev.columns.cursor, &d)) {
        struct pg_result_column *col = &r->columns[i++];
        if (!arena_put(r, d.name, strlen(d.name), &col->name_off)) {
            result_too_large(c);
            return;
        }
        col->table_oid = d.table_oid;
        col->attnum = d.attnum;
        col->type_oid = d.type_oid;
        col->typlen = d.typlen;
        col->typmod = d.typmod;
        r->column_count = i;
    }
}

static void result_row(struct pg_conn *c)
{
    struct pg_result *r = &c->result;
    uint32_t n = c->wire.ev.values.count;
    assert(n == r->column_count);
    void *cells = r->cells;
    if (!grow(&cells, &r->cells_cap, r->cells_len + n, sizeof r->cells[0])) {
        result_too_large(c);
        return;
    }
    r->cells = cells;
    struct pg_value v;
    while (pg_wire_next_value(&c->wire.ev.values.cursor, &v)) {
        struct pg_cell *cell = &r->cells[r->cells_len];
        cell->off = 0;
        cell->len = -1;
        if (!v.null) {
            if (!arena_put(r, v.data, v.len, &cell->off)) {
                result_too_large(c);
                return;
            }
            cell->len = (int64_t)v.len;
        }
        r->cells_len++;
    }
    r->row_count++;
}

/* ------------------------------------------------------------------------- */
/* Protocol events */

static void log_notice(const struct pg_conn *c, const struct pg_notice *n)
{
    bool warning = strcmp(n->severity, "WARNING") == 0;
    struct log_kv kv[6];
    size_t k = 0;
    kv[k++] = LOG_STR("postgres", c->peer);
    kv[k++] = LOG_STR("severity", n->severity);
    kv[k++] = LOG_STR("sqlstate", n->sqlstate);
    kv[k++] = LOG_STR("message", n->message);
    if (n->detail[0] != '\0') kv[k++] = LOG_STR("detail", n->detail);
    if (n->hint[0] != '\0') kv[k++] = LOG_STR("hint", n->hint);
    log_emit(warning ? LOG_WARN : LOG_INFO, "postgres notice", kv, k);
}

static void log_connected(const struct pg_conn *c)
{
    log_info("postgres connected", LOG_STR("postgres", c->peer), LOG_STR("user", c->info.user),
             LOG_STR("database", c->info.database), LOG_STR("server_version", c->wire.server_version),
             LOG_STR("auth", pg_auth_method_name(c->wire.auth_method)), LOG_BOOL("tls", c->tls_on),
             LOG_UINT("backend_pid", c->wire.backend_pid));
}

/* Handles one event; false when the pump must stop (a callback ran that may have
 * changed everything, or the connection is going away). */
static bool on_event(struct pg_conn *c, enum pg_event ev)
{
    struct lw_err e;
    switch (ev) {
    case PG_EV_NEED_MORE: return true;
    case PG_EV_READY:
        if (c->op == PG_OP_CONNECT) {
            log_connected(c);
            c->state = PG_READY;
            finish(c, NULL);
            return false;
        }
        c->state = PG_READY;
        if (c->op != PG_OP_NONE) {
            if (c->op_failed) {
                e = c->op_err;
                finish(c, &e);
            } else {
                finish(c, NULL);
            }
        }
        return false;
    case PG_EV_ROW_DESCRIPTION:
        if (c->op == PG_OP_QUERY) {
            result_columns(c);
        } else {
            set_err(&e, PG_E_WRONG_RESULT, "postgres %s: the query returned rows, not COPY data: write "
                                           "COPY (SELECT ...) TO STDOUT", c->peer);
            op_error(c, &e);
        }
        return true;
    case PG_EV_DATA_ROW:
        if (c->op == PG_OP_QUERY && !c->op_failed) result_row(c);
        return true;
    case PG_EV_COMMAND_COMPLETE:
        snprintf(c->result.command_tag, sizeof c->result.command_tag, "%s", c->wire.ev.tag);
        if (!pg_tag_rows(c->wire.ev.tag, &c->last_rows)) c->last_rows = 0;
        return true;
    case PG_EV_EMPTY_QUERY: return true;
    case PG_EV_COPY_OUT:
        c->copy_format = c->wire.ev.copy.format;
        c->copy_columns = c->wire.ev.copy.columns;
        if (c->op != PG_OP_COPY) {
            set_err(&e, PG_E_WRONG_RESULT, "postgres %s: the query returned COPY data: use pg_copy_out", c->peer);
            op_error(c, &e);
        }
        return true;
    case PG_EV_COPY_DATA:
        if (c->op != PG_OP_COPY || c->op_failed || c->data_fn == NULL || c->wire.ev.data.len == 0) return true;
        c->data_fn(c, c->done_context, c->wire.ev.data.ptr, c->wire.ev.data.len);
        return c->state == PG_BUSY && c->op == PG_OP_COPY && !c->paused;
    case PG_EV_COPY_DONE: return true;
    case PG_EV_NOTICE: log_notice(c, &c->wire.ev.notice); return true;
    case PG_EV_SERVER_ERROR:
        pg_notice_to_err(&c->wire.ev.notice, &e);
        lw_err_wrap(&e, "postgres %s", c->peer);
        memcpy(c->sqlstate, c->wire.ev.notice.sqlstate, sizeof c->sqlstate);
        op_error(c, &e);
        return true;
    case PG_EV_FAILED:
        e = c->wire.err;
        if (e.code == PG_E_SERVER) memcpy(c->sqlstate, c->wire.sqlstate, sizeof c->sqlstate);
        lw_err_wrap(&e, "postgres %s", c->peer);
        fail_conn(c, &e);
        return false;
    }
    return true;
}

/* Feeds what was received to the protocol, sends what it has to say, and reads on. */
static void pump(struct pg_conn *c)
{
    if (c->state != PG_CONNECTING && c->state != PG_BUSY && c->state != PG_READY) return;
    while (!c->paused && c->roff < c->rlen) {
        size_t used;
        enum pg_event ev = pg_wire_feed(&c->wire, c->rbuf + c->roff, c->rlen - c->roff, &used);
        c->roff += used;
        if (!on_event(c, ev)) {
            if (c->state == PG_READY || c->state == PG_BUSY) kick(c);   /* more to feed, or to send */
            return;
        }
    }
    if (c->state != PG_CONNECTING && c->state != PG_BUSY && c->state != PG_READY) return;
    io_send(c);
    io_recv(c);
}

/* ------------------------------------------------------------------------- */
/* Connecting */

static void start_startup(struct pg_conn *c)
{
    struct pg_wire_config cfg = {
        .user = c->info.user,
        .database = c->info.database,
        .application_name = c->info.application_name,
        .password = c->info.password_len > 0 ? c->info.password : NULL,
        .password_len = c->info.password_len,
        .scram_iterations_max = c->opts.scram_iterations_max,
    };
    struct lw_err e;
    if (!loop_random(c->loop, cfg.nonce, sizeof cfg.nonce)) {
        set_err(&e, PG_E_AUTH, "postgres %s: no random bytes for the SCRAM nonce", c->peer);
        fail_conn(c, &e);
        return;
    }
    bool ok = pg_wire_init(&c->wire, &cfg, c->msg_buf, c->msg_cap, c->out_buf, c->out_cap, &e);
    pg_auth_wipe(&cfg, sizeof cfg);
    if (!ok) {
        lw_err_wrap(&e, "postgres %s", c->peer);
        fail_conn(c, &e);
        return;
    }
    c->roff = c->rlen = 0;
    pump(c);
}

/* A failure before any socket stays open: report it at once (from a loop callback). */
static void connect_failed(struct pg_conn *c, const struct lw_err *e)
{
    c->state = PG_IDLE;
    c->tls_on = false;
    finish(c, e);
}

static void on_handshake(struct tls_conn *t, void *ctx, size_t size, const struct lw_err *err)
{
    (void)t;
    (void)size;
    struct pg_conn *c = ctx;
    if (c->state == PG_CLOSING) return;
    assert(c->state == PG_CONNECTING);
    if (err != NULL) {
        /* The TCP connection is closed already. */
        if (c->info.sslmode == PG_SSLMODE_PREFER) {
            log_warn("postgres TLS failed; connecting again without TLS (sslmode=prefer)",
                     LOG_STR("postgres", c->peer), LOG_STR("error", err->msg));
            c->tls_skip = true;
            tcp_connect(c);
            return;
        }
        struct lw_err e = *err;
        lw_err_wrap(&e, "postgres");
        connect_failed(c, &e);
        return;
    }
    c->tls_on = true;
    start_startup(c);
}

static void on_ssl_answer(struct net_conn *n, void *ctx, size_t size, const struct lw_err *err)
{
    (void)n;
    (void)size;
    struct pg_conn *c = ctx;
    c->recv_busy = false;
    if (c->state == PG_CLOSING) return;
    if (err != NULL) {
        fail_io(c, err, true);
        return;
    }
    struct lw_err e;
    switch (c->ssl_answer) {
    case 'S':
        tls_handshake(&c->tls, c->info.host, c->connect_deadline_ms, on_handshake, c);
        return;
    case 'N':
        if (c->info.sslmode >= PG_SSLMODE_REQUIRE) {
            set_err(&e, PG_E_TLS_REFUSED,
                    "postgres %s: the server does not accept TLS (it answered 'N' to SSLRequest), but sslmode=%s: "
                    "turn ssl on in postgresql.conf, or use sslmode=prefer or disable", c->peer,
                    pg_sslmode_name(c->info.sslmode));
            fail_conn(c, &e);
            return;
        }
        log_info("postgres server declined TLS; continuing without it (sslmode=prefer)", LOG_STR("postgres", c->peer));
        start_startup(c);
        return;
    case 'E':
        set_err(&e, PG_E_PROTOCOL, "postgres %s: the server answered SSLRequest with an error (a server before "
                                   "PostgreSQL 7.0?): use sslmode=disable", c->peer);
        fail_conn(c, &e);
        return;
    default:
        set_err(&e, PG_E_PROTOCOL, "postgres %s: the server did not answer SSLRequest like PostgreSQL (byte 0x%02x): "
                                   "is this the right port?", c->peer, c->ssl_answer);
        fail_conn(c, &e);
        return;
    }
}

static void on_ssl_sent(struct net_conn *n, void *ctx, size_t size, const struct lw_err *err)
{
    (void)n;
    (void)size;
    struct pg_conn *c = ctx;
    c->send_busy = false;
    if (c->state == PG_CLOSING) return;
    if (err != NULL) {
        fail_io(c, err, false);
        return;
    }
    c->recv_busy = true;
    /* Exactly one byte: anything the server sends after 'S' belongs to TLS. */
    net_recv(tls_net(&c->tls), &c->ssl_answer, 1, c->connect_deadline_ms, on_ssl_answer, c);
}

static void on_tcp_connected(struct net_conn *n, void *ctx, size_t size, const struct lw_err *err)
{
    (void)n;
    (void)size;
    struct pg_conn *c = ctx;
    if (c->state == PG_CLOSING) return;
    assert(c->state == PG_CONNECTING);
    if (err != NULL) {
        struct lw_err e = *err;
        if (err->code == LOOP_E_TIMED_OUT)
            set_err(&e, LOOP_E_TIMED_OUT, "postgres %s: no TCP connection within connect_timeout (%u ms)", c->peer,
                    c->info.connect_timeout_ms);
        else
            lw_err_wrap(&e, "postgres");
        connect_failed(c, &e);
        return;
    }
    bool ip_host = c->info.hostaddr[0] == '\0' && pg_conninfo_host_is_ip(c->info.host);
    if (c->info.sslmode == PG_SSLMODE_DISABLE || c->tls_skip) {
        start_startup(c);
        return;
    }
    if (c->info.sslmode == PG_SSLMODE_PREFER && ip_host) {
        log_debug("postgres sslmode=prefer with an IP address: no name to verify a certificate against, "
                  "connecting without TLS", LOG_STR("postgres", c->peer));
        start_startup(c);
        return;
    }
    size_t k = pg_write_ssl_request(c->ssl_request, sizeof c->ssl_request);
    assert(k == sizeof c->ssl_request);
    c->send_busy = true;
    net_send(tls_net(&c->tls), c->ssl_request, k, c->connect_deadline_ms, on_ssl_sent, c);
}

static void tcp_connect(struct pg_conn *c)
{
    const char *addr = c->info.hostaddr[0] != '\0' ? c->info.hostaddr : c->info.host;
    net_connect(tls_net(&c->tls), addr, c->info.port, c->connect_deadline_ms, on_tcp_connected, c);
}

/* ------------------------------------------------------------------------- */
/* Public */

bool pg_init(struct pg_conn *c, struct loop *loop, const struct pg_conninfo *info,
             const struct tls_anchors *anchors, const struct pg_options *opts, struct lw_err *err)
{
    assert(c != NULL && loop != NULL && info != NULL);
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->info = *info;
    c->anchors = anchors;
    if (opts != NULL) c->opts = *opts;
    if (c->opts.message_bytes_max == 0) c->opts.message_bytes_max = PG_WIRE_MESSAGE_BYTES_DEFAULT;
    if (c->opts.query_bytes_max == 0) c->opts.query_bytes_max = PG_QUERY_BYTES_DEFAULT;
    if (c->opts.result_bytes_max == 0) c->opts.result_bytes_max = PG_RESULT_BYTES_DEFAULT;
    if (c->opts.io_timeout_ms == 0) c->opts.io_timeout_ms = PG_IO_TIMEOUT_DEFAULT_MS;
    if (c->opts.message_bytes_max < PG_WIRE_MESSAGE_BYTES_MIN || c->opts.message_bytes_max > PG_WIRE_MESSAGE_BYTES_MAX ||
        c->opts.query_bytes_max > PG_WIRE_MESSAGE_BYTES_MAX || c->opts.result_bytes_max > PG_RESULT_BYTES_MAX) {
        pg_auth_wipe(&c->info, sizeof c->info);
        return lw_err_set(err, PG_E_USAGE, "postgres: message_bytes_max must be %d..%d bytes, query_bytes_max and "
                                           "result_bytes_max at most %d",
                          PG_WIRE_MESSAGE_BYTES_MIN, PG_WIRE_MESSAGE_BYTES_MAX, PG_RESULT_BYTES_MAX);
    }
    if (anchors == NULL && info->sslmode != PG_SSLMODE_DISABLE) {
        pg_auth_wipe(&c->info, sizeof c->info);
        return lw_err_set(err, PG_E_USAGE, "postgres: sslmode=%s needs a CA bundle", pg_sslmode_name(info->sslmode));
    }
    c->msg_cap = c->opts.message_bytes_max;
    c->out_cap = c->opts.query_bytes_max + 64 > PG_WIRE_OUT_BYTES_MIN ? c->opts.query_bytes_max + 64
                                                                       : PG_WIRE_OUT_BYTES_MIN;
    c->msg_buf = malloc(c->msg_cap);
    c->out_buf = malloc(c->out_cap);
    c->rbuf = malloc(PG_RECV_BYTES);
    if (c->msg_buf == NULL || c->out_buf == NULL || c->rbuf == NULL) {
        pg_deinit(c);
        return lw_err_set(err, PG_E_USAGE, "postgres: out of memory for the connection buffers");
    }
    c->result.bytes_max = c->opts.result_bytes_max;
    if (anchors != NULL) tls_init(&c->tls, loop, anchors);
    else net_init(tls_net(&c->tls), loop);
    bool v6 = strchr(info->host, ':') != NULL;
    snprintf(c->peer, sizeof c->peer, "%s%s%s:%u", v6 ? "[" : "", info->host, v6 ? "]" : "", (unsigned)info->port);
    return true;
}

void pg_deinit(struct pg_conn *c)
{
    assert(c->state == PG_IDLE && c->op == PG_OP_NONE && !c->kick_armed);
    free(c->msg_buf);
    free(c->out_buf);
    free(c->rbuf);
    free(c->result.columns);
    free(c->result.cells);
    free(c->result.arena);
    pg_auth_wipe(&c->info, sizeof c->info);
    pg_auth_wipe(&c->wire, sizeof c->wire);
    c->msg_buf = c->out_buf = c->rbuf = NULL;
    c->result = (struct pg_result){ 0 };
}

void pg_connect(struct pg_conn *c, pg_done_fn done, void *context)
{
    assert(done != NULL && c->op == PG_OP_NONE);
    if (c->state != PG_IDLE) {
        struct lw_err e;
        set_err(&e, PG_E_USAGE, "postgres %s: already connected", c->peer);
        defer_error(c, PG_OP_CONNECT, done, context, &e);
        return;
    }
    c->op = PG_OP_CONNECT;
    c->done_fn = done;
    c->done_context = context;
    c->op_failed = false;
    c->state = PG_CONNECTING;
    c->tls_on = false;
    c->tls_skip = false;
    c->paused = false;
    c->sqlstate[0] = '\0';
    c->connect_deadline_ms = loop_now_ms(c->loop) + c->info.connect_timeout_ms;
    tcp_connect(c);
}

/* Starts a query or COPY: refused (from the loop) unless the connection is ready. */
static void start_op(struct pg_conn *c, enum pg_op op, const char *sql, pg_data_fn data, pg_done_fn done, void *ctx)
{
    assert(done != NULL && sql != NULL && c->op == PG_OP_NONE);
    struct lw_err e;
    if (c->state != PG_READY) {
        set_err(&e, PG_E_NOT_CONNECTED, "postgres %s: not connected", c->peer);
        defer_error(c, op, done, ctx, &e);
        return;
    }
    if (!pg_wire_query(&c->wire, sql, strlen(sql), &e)) {
        lw_err_wrap(&e, "postgres %s", c->peer);
        defer_error(c, op, done, ctx, &e);
        return;
    }
    result_reset(&c->result);
    c->op = op;
    c->done_fn = done;
    c->done_context = ctx;
    c->data_fn = data;
    c->op_failed = false;
    c->paused = false;
    c->last_rows = 0;
    c->copy_format = 0;
    c->copy_columns = 0;
    c->sqlstate[0] = '\0';
    c->state = PG_BUSY;
    kick(c);
}

void pg_query(struct pg_conn *c, const char *sql, pg_done_fn done, void *context)
{
    start_op(c, PG_OP_QUERY, sql, NULL, done, context);
}

void pg_copy_out(struct pg_conn *c, const char *sql, pg_data_fn data, pg_done_fn done, void *context)
{
    assert(data != NULL);
    start_op(c, PG_OP_COPY, sql, data, done, context);
}

void pg_pause(struct pg_conn *c) { c->paused = true; }

void pg_resume(struct pg_conn *c)
{
    if (!c->paused) return;
    c->paused = false;
    if (c->state == PG_BUSY || c->state == PG_READY) kick(c);
}

void pg_close(struct pg_conn *c, pg_done_fn done, void *context)
{
    assert(done != NULL && c->close_fn == NULL && c->state != PG_CLOSING);
    c->close_fn = done;
    c->close_context = context;
    switch (c->state) {
    case PG_IDLE:
        c->state = PG_CLOSING;
        net_close(tls_net(&c->tls), on_net_closed, c);   /* no socket: completes from the loop */
        return;
    case PG_READY:
        /* Terminate, then close (sent() closes once it is out; if nothing can be sent, close now). */
        c->state = PG_CLOSING;
        c->terminating = true;
        pg_wire_terminate(&c->wire);
        if (c->send_busy) return;
        io_send(c);
        if (!c->send_busy) {
            c->terminating = false;
            io_close(c);
        }
        return;
    case PG_CONNECTING:
    case PG_BUSY: {
        struct lw_err e;
        set_err(&e, LOOP_E_CANCELED, "postgres %s: canceled by closing the connection", c->peer);
        c->op_failed = false;
        op_error(c, &e);
        c->state = PG_CLOSING;
        io_close(c);
        return;
    }
    case PG_CLOSING: break;
    }
    assert(!"pg_close while closing");
}

enum pg_state pg_state(const struct pg_conn *c) { return c->state; }
const char *pg_peer(const struct pg_conn *c) { return c->peer; }
bool pg_tls(const struct pg_conn *c) { return c->tls_on; }
const struct pg_result *pg_result(const struct pg_conn *c) { return &c->result; }
int pg_copy_format(const struct pg_conn *c) { return c->copy_format; }
uint32_t pg_copy_columns(const struct pg_conn *c) { return c->copy_columns; }
uint64_t pg_last_rows(const struct pg_conn *c) { return c->last_rows; }
const char *pg_sqlstate(const struct pg_conn *c) { return c->sqlstate; }
const char *pg_server_version(const struct pg_conn *c) { return c->wire.server_version; }
enum pg_auth_method pg_auth_used(const struct pg_conn *c) { return c->wire.auth_method; }

const char *pg_result_value(const struct pg_result *r, uint64_t row, uint32_t col, size_t *len)
{
    assert(row < r->row_count && col < r->column_count && len != NULL);
    const struct pg_cell *cell = &r->cells[row * r->column_count + col];
    if (cell->len < 0) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)cell->len;
    return r->arena + cell->off;
}

const char *pg_result_column_name(const struct pg_result *r, uint32_t col)
{
    assert(col < r->column_count);
    return r->arena + r->columns[col].name_off;
}

/* ------------------------------------------------------------------------- */
/* Password files */

/* Reads a whole small file; false with `err` (naming the file) unless it is missing
 * and `missing_ok`, in which case *missing is set. */
static bool read_small_file(const char *path, char **text, size_t *len, bool *missing, struct lw_err *err)
{
    *text = NULL;
    *len = 0;
    *missing = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) *missing = true;
        return lw_err_set(err, PG_E_CONNINFO, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > PG_CONNINFO_PASSFILE_MAX_BYTES) {
        close(fd);
        return lw_err_set(err, PG_E_CONNINFO, "%s: not a regular file of at most %d bytes", path,
                          PG_CONNINFO_PASSFILE_MAX_BYTES);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return lw_err_set(err, PG_E_CONNINFO, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    *text = buf;
    *len = got;
    return true;
}

bool pg_resolve_password(struct pg_conninfo *info, const char *password_file, const char *const *env,
                         struct lw_err *err)
{
    assert(info != NULL);
    char *text;
    size_t len;
    bool missing;
    if (password_file != NULL && password_file[0] != '\0') {
        if (!read_small_file(password_file, &text, &len, &missing, err)) return false;
        bool ok = pg_conninfo_password_text(info, text, len, password_file, err);
        pg_auth_wipe(text, len);
        free(text);
        return ok;
    }
    if (info->password_len > 0) return true;
    char path[PG_CONNINFO_PATH_MAX];
    const char *passfile = pg_conninfo_getenv(env, "PGPASSFILE");
    const char *home = pg_conninfo_getenv(env, "HOME");
    if (passfile != NULL && passfile[0] != '\0') snprintf(path, sizeof path, "%s", passfile);
    else if (home != NULL && home[0] != '\0') snprintf(path, sizeof path, "%s/.pgpass", home);
    else return true;
    struct stat st;
    if (stat(path, &st) != 0) return true;   /* no pgpass file: no password from it */
    if ((st.st_mode & 077) != 0) {
        log_warn("postgres password file has group or world access and is ignored (chmod 600 it)",
                 LOG_STR("file", path));
        return true;
    }
    if (!read_small_file(path, &text, &len, &missing, err)) return false;
    pg_conninfo_pgpass(info, text, len);
    pg_auth_wipe(text, len);
    free(text);
    return true;
}
