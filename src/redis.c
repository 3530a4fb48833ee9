/* redis: the connection over the loop. See redis.h. */
#include "redis.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void conn_connect(struct redis_conn *c);
static void send_kick(struct redis_conn *c);
static void recv_arm(struct redis_conn *c);
static void close_finish_if_done(struct redis_conn *c);

/* ------------------------------------------------------------------------- */
/* Options */

void redis_options_default(struct redis_options *o)
{
    *o = (struct redis_options){
        .connect_timeout_ms = REDIS_CONNECT_TIMEOUT_MS_DEFAULT,
        .command_timeout_ms = REDIS_COMMAND_TIMEOUT_MS_DEFAULT,
        .backoff_min_ms = REDIS_BACKOFF_MIN_MS_DEFAULT,
        .backoff_max_ms = REDIS_BACKOFF_MAX_MS_DEFAULT,
        .send_buf_bytes_max = REDIS_SEND_BUF_BYTES_DEFAULT,
        .inflight_max = REDIS_INFLIGHT_MAX_DEFAULT,
    };
    resp_limits_default(&o->limits);
}

void redis_options_from_config(struct redis_options *o, const struct config *cfg)
{
    redis_options_default(o);
    const struct config_redis *r = &cfg->redis;
    o->host = r->host;
    o->port = r->port;
    o->tls = r->tls;
    o->ca_file = cfg->s3.ca_file;
    o->user = r->user;
    o->password = config_secret_is_set(&r->password) ? config_secret_value(&r->password) : NULL;
    o->db = r->db;
}

static bool options_check(const struct redis_options *o, struct lw_err *err)
{
    if (o->host == NULL || o->host[0] == '\0' || strlen(o->host) >= NET_HOST_MAX)
        return lw_err_set(err, REDIS_E_OPTIONS, "redis: the host is empty or longer than %d bytes", NET_HOST_MAX - 1);
    if (o->port == 0) return lw_err_set(err, REDIS_E_OPTIONS, "redis %s: port 0", o->host);
    if (o->user != NULL && strlen(o->user) > CONFIG_NAME_MAX)
        return lw_err_set(err, REDIS_E_OPTIONS, "redis %s: the user name is longer than %d bytes", o->host,
                          CONFIG_NAME_MAX);
    if (o->connect_timeout_ms == 0 || o->command_timeout_ms == 0)
        return lw_err_set(err, REDIS_E_OPTIONS, "redis %s: connect and command timeouts must be above 0", o->host);
    if (o->backoff_min_ms == 0 || o->backoff_max_ms < o->backoff_min_ms)
        return lw_err_set(err, REDIS_E_OPTIONS, "redis %s: backoff %u..%u ms: the minimum must be above 0 and not "
                          "above the maximum", o->host, o->backoff_min_ms, o->backoff_max_ms);
    if (o->send_buf_bytes_max < REDIS_SEND_BUF_BYTES_MIN)
        return lw_err_set(err, REDIS_E_OPTIONS, "redis %s: a send buffer of %zu bytes is below %d", o->host,
                          o->send_buf_bytes_max, REDIS_SEND_BUF_BYTES_MIN);
    if (o->inflight_max == 0) return lw_err_set(err, REDIS_E_OPTIONS, "redis %s: inflight_max is 0", o->host);
    return resp_limits_check(&o->limits, err);
}

/* ------------------------------------------------------------------------- */
/* Set-up and accessors */

bool redis_conn_init(struct redis_conn *c, struct loop *loop, const struct redis_options *opt, struct lw_err *err)
{
    assert(loop != NULL && opt != NULL);
    memset(c, 0, sizeof *c);
    if (!options_check(opt, err)) return false;
    c->loop = loop;
    c->opt = *opt;
    snprintf(c->host, sizeof c->host, "%s", opt->host);
    snprintf(c->user, sizeof c->user, "%s", opt->user != NULL ? opt->user : "");
    c->opt.host = c->host;
    c->opt.user = c->user;
    bool v6 = strchr(c->host, ':') != NULL;
    snprintf(c->peer, sizeof c->peer, "%s%s%s:%u", v6 ? "[" : "", c->host, v6 ? "]" : "", (unsigned)opt->port);

    const struct tls_anchors *anchors = opt->anchors;
    if (opt->tls && anchors == NULL) {
        if (!tls_anchors_load_config(&c->own_anchors, opt->ca_file != NULL ? opt->ca_file : "", err))
            return lw_err_wrap(err, "redis %s (rediss://)", c->peer);
        c->own_anchors_loaded = true;
        anchors = &c->own_anchors;
    }
    if (!resp_reader_init(&c->reader, &opt->limits, err)) {
        if (c->own_anchors_loaded) tls_anchors_free(&c->own_anchors);
        return lw_err_wrap(err, "redis %s", c->peer);
    }
    resp_buf_init(&c->bufs[0], opt->send_buf_bytes_max);
    resp_buf_init(&c->bufs[1], opt->send_buf_bytes_max);
    tls_transport_init(&c->transport, loop, opt->tls, anchors);
    c->state = REDIS_IDLE;
    return true;
}

void redis_conn_deinit(struct redis_conn *c)
{
    assert(c->state == REDIS_IDLE);
    assert(!c->t_connecting && !c->t_connected && !c->t_closing && !c->t_send_busy && !c->t_recv_busy);
    assert(!c->deadline_armed && !c->backoff_armed && !c->kick_armed);
    resp_buf_free(&c->bufs[0]);
    resp_buf_free(&c->bufs[1]);
    resp_reader_deinit(&c->reader);
    if (c->own_anchors_loaded) tls_anchors_free(&c->own_anchors);
    c->own_anchors_loaded = false;
}

enum redis_state redis_state(const struct redis_conn *c) { return c->state; }
bool redis_ready(const struct redis_conn *c) { return c->state == REDIS_READY; }
const char *redis_peer(const struct redis_conn *c) { return c->peer; }
const struct redis_stats *redis_stats(const struct redis_conn *c) { return &c->stats; }
uint32_t redis_inflight(const struct redis_conn *c) { return c->inflight; }

size_t redis_send_queued(const struct redis_conn *c)
{
    return resp_buf_len(&c->bufs[0]) + resp_buf_len(&c->bufs[1]);
}

uint32_t redis_retry_in_ms(const struct redis_conn *c)
{
    if (c->state != REDIS_BACKOFF && c->state != REDIS_DROPPING) return 0;
    int64_t left = c->retry_at_ms - loop_now_ms(c->loop);
    return left > 0 ? (uint32_t)left : 0;
}

bool redis_error_is_permanent(int code)
{
    switch (code) {
    case REDIS_E_WRONGPASS:
    case REDIS_E_NOAUTH:
    case REDIS_E_NOPERM:
        return true;
    default:
        return code >= TLS_E_FIRST && code < TLS_E_END_ && tls_error_is_permanent(code);
    }
}

uint32_t redis_backoff_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms, uint64_t random)
{
    assert(min_ms > 0 && max_ms >= min_ms);
    uint64_t cap = min_ms;
    for (uint32_t i = 0; i < attempt && cap < max_ms; i++) cap *= 2;
    if (cap > max_ms) cap = max_ms;
    uint64_t half = cap / 2;
    uint64_t delay = cap - (half > 0 ? random % (half + 1) : 0);
    assert(delay >= cap - half && delay <= cap);
    return (uint32_t)delay;
}

void redis_request_init(struct redis_request *req, redis_reply_fn fn, void *context)
{
    assert(fn != NULL);
    memset(req, 0, sizeof *req);
    req->fn = fn;
    req->context = context;
}

/* ------------------------------------------------------------------------- */
/* Requests in flight */

static bool connected_state(const struct redis_conn *c)
{
    return c->state == REDIS_HANDSHAKE || c->state == REDIS_READY;
}

/* Timer at the earliest deadline among the requests in flight. */
static void on_deadline(struct loop *loop, struct loop_op *op);

static void deadline_arm(struct redis_conn *c, int64_t at_ms)
{
    if (c->deadline_armed) {
        if (at_ms >= c->deadline_at_ms) return;
        loop_timer_cancel(c->loop, &c->deadline_op);
        c->deadline_armed = false;
    }
    int64_t wait = at_ms - loop_now_ms(c->loop);
    if (wait < 0) wait = 0;
    if (wait > UINT32_MAX) wait = UINT32_MAX;
    c->deadline_armed = true;
    c->deadline_at_ms = at_ms;
    loop_timer_start(c->loop, &c->deadline_op, (uint32_t)wait, on_deadline, c);
}

static void deadline_stop(struct redis_conn *c)
{
    if (c->deadline_armed) loop_timer_cancel(c->loop, &c->deadline_op);
    c->deadline_armed = false;
}

/* True for the connection's own handshake requests (not counted in the stats). */
static bool internal(const struct redis_conn *c, const struct redis_request *req)
{
    for (uint32_t i = 0; i < REDIS_HANDSHAKE_MAX; i++)
        if (req == &c->handshake[i]) return true;
    return false;
}

static struct redis_request *pop_head(struct redis_conn *c)
{
    struct redis_request *req = c->head;
    assert(req != NULL && c->inflight > 0);
    c->head = req->next_;
    if (c->head == NULL) c->tail = NULL;
    req->next_ = NULL;
    req->busy_ = false;
    c->inflight--;
    return req;
}

/* Fails every request in flight, oldest first: `culprit` (if any) with its own
 * code and text, the others with `code` and "no reply: <why>". Callbacks may submit
 * (refused: not READY) or close the connection. */
static void fail_all(struct redis_conn *c, int code, const char *why, const struct redis_request *culprit,
                     int culprit_code, const char *culprit_text)
{
    while (c->head != NULL) {
        struct redis_request *req = pop_head(c);
        struct redis_reply reply;
        if (req == culprit) redis_reply_failed(&reply, c->peer, req->command_, culprit_code, "%s", culprit_text);
        else redis_reply_failed(&reply, c->peer, req->command_, code, "no reply: %s", why);
        if (!internal(c, req)) c->stats.failed++;
        req->fn(c, req, &reply);
    }
    assert(c->inflight == 0);
}

/* The message of an lw_err made by redis_reply_init/_failed, without "redis <peer>: ". */
static const char *strip_peer(const struct redis_conn *c, const char *msg)
{
    size_t n = strlen("redis ") + strlen(c->peer) + 2;
    if (strncmp(msg, "redis ", 6) == 0 && strncmp(msg + 6, c->peer, strlen(c->peer)) == 0 && strlen(msg) >= n)
        return msg + n;
    return msg;
}

static void on_transport_closed(struct tls_transport *t, void *context, size_t size_bytes, const struct lw_err *err);

static void transport_close(struct redis_conn *c)
{
    if (c->t_closing) return;
    c->t_closing = true;
    tls_transport_close(&c->transport, on_transport_closed, c);
}

/* Drops the connection after a failure: `code` and `reason` (without the peer)
 * become the DOWN event's error; requests in flight fail; the transport closes; the
 * next attempt is scheduled when it is closed. `culprit` (a timed-out request) gets
 * LOOP_E_TIMED_OUT instead of REDIS_E_DISCONNECTED. */
static void conn_drop(struct redis_conn *c, int code, const struct redis_request *culprit, const char *culprit_text,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void conn_drop(struct redis_conn *c, int code, const struct redis_request *culprit, const char *culprit_text,
                      const char *fmt, ...)
{
    assert(c->state == REDIS_CONNECTING || connected_state(c));
    assert(code != 0);
    bool was_ready = c->state == REDIS_READY;
    c->state = REDIS_DROPPING;
    char reason[LW_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    lw_err_set(&c->last_err, code, "redis %s: %s", c->peer, reason);

    uint64_t random = 0;
    if (!loop_random(c->loop, &random, sizeof random)) random = (uint64_t)loop_now_ms(c->loop);
    uint32_t delay = redis_backoff_ms(c->attempt, c->opt.backoff_min_ms, c->opt.backoff_max_ms, random);
    if (c->attempt < 64) c->attempt++;
    c->retry_at_ms = loop_now_ms(c->loop) + delay;
    c->stats.drops++;
    deadline_stop(c);
    assert(c->building == NULL);
    resp_buf_clear(&c->bufs[c->collecting]);
    transport_close(c);
    log_warn(was_ready ? "redis connection lost" : "redis connection failed", LOG_STR("redis", c->peer),
             LOG_STR("error", reason), LOG_UINT("retry_in_ms", delay));

    fail_all(c, REDIS_E_DISCONNECTED, reason, culprit, code, culprit_text != NULL ? culprit_text : reason);
    if (c->state == REDIS_DROPPING && c->opt.on_event != NULL)
        c->opt.on_event(c, c->opt.event_context, REDIS_EVENT_DOWN, &c->last_err);
}

static void on_deadline(struct loop *loop, struct loop_op *op)
{
    struct redis_conn *c = op->context;
    c->deadline_armed = false;
    if (!connected_state(c)) return;
    int64_t now = loop_now_ms(loop);
    int64_t next = INT64_MAX;
    for (struct redis_request *r = c->head; r != NULL; r = r->next_) {
        if (r->deadline_ms_ <= now) {
            long long waited = (long long)(r->deadline_ms_ - r->submitted_ms_);
            char text[96];
            snprintf(text, sizeof text, "no reply within %lld ms", waited);
            conn_drop(c, LOOP_E_TIMED_OUT, r, text, "%s got no reply within %lld ms: connection dropped", r->command_,
                      waited);
            return;
        }
        if (r->deadline_ms_ < next) next = r->deadline_ms_;
    }
    if (next != INT64_MAX) deadline_arm(c, next);
}

/* Links `req` (its bytes already in the collecting buffer) at the tail. */
static void enqueue(struct redis_conn *c, struct redis_request *req, uint32_t replies, bool transaction,
                    uint64_t extra_ms)
{
    assert(replies >= 1);
    req->conn_ = c;
    req->busy_ = true;
    req->transaction_ = transaction;
    req->replies_expected_ = replies;
    req->replies_seen_ = 0;
    req->queue_error_ = NULL;
    req->queue_error_index_ = 0;
    uint64_t timeout = req->timeout_ms != 0 ? req->timeout_ms : c->opt.command_timeout_ms;
    req->submitted_ms_ = loop_now_ms(c->loop);
    req->deadline_ms_ = req->submitted_ms_ + (int64_t)timeout + (int64_t)(extra_ms < INT32_MAX ? extra_ms : INT32_MAX);
    req->next_ = NULL;
    if (c->tail != NULL) c->tail->next_ = req;
    else c->head = req;
    c->tail = req;
    c->inflight++;
    deadline_arm(c, req->deadline_ms_);
}

/* ------------------------------------------------------------------------- */
/* Sending */

static void on_sent(struct tls_transport *t, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)t;
    struct redis_conn *c = context;
    assert(c->t_send_busy);
    c->t_send_busy = false;
    resp_buf_clear(&c->bufs[c->collecting ^ 1]);
    c->stats.bytes_sent += size_bytes;
    if (!connected_state(c)) {
        if (c->state == REDIS_CLOSING) close_finish_if_done(c);
        return;
    }
    if (err != NULL) {
        conn_drop(c, err->code, NULL, NULL, "connection lost: %s", err->msg);
        return;
    }
    send_kick(c);
}

/* Sends the collecting buffer if no send is in progress. */
static void send_kick(struct redis_conn *c)
{
    if (!connected_state(c) || c->t_send_busy || c->building != NULL) return;
    struct resp_buf *b = &c->bufs[c->collecting];
    if (resp_buf_len(b) == 0) return;
    assert(resp_buf_len(&c->bufs[c->collecting ^ 1]) == 0);
    c->collecting ^= 1;
    c->t_send_busy = true;
    tls_transport_send(&c->transport, resp_buf_data(b), resp_buf_len(b),
                       loop_now_ms(c->loop) + c->opt.command_timeout_ms, on_sent, c);
}

static bool not_ready(const struct redis_conn *c, struct lw_err *err)
{
    switch (c->state) {
    case REDIS_IDLE:
        return lw_err_set(err, REDIS_E_NOT_READY, "redis %s: not connected (not started or closed)", c->peer);
    case REDIS_CONNECTING:
    case REDIS_HANDSHAKE:
        return lw_err_set(err, REDIS_E_NOT_READY, "redis %s: not connected yet (connecting)", c->peer);
    case REDIS_DROPPING:
    case REDIS_BACKOFF:
        return lw_err_set(err, REDIS_E_NOT_READY, "redis %s: not connected (next attempt in %u ms; last error: %s)",
                          c->peer, redis_retry_in_ms(c), strip_peer(c, c->last_err.msg));
    case REDIS_CLOSING:
        return lw_err_set(err, REDIS_E_NOT_READY, "redis %s: the connection is closing", c->peer);
    case REDIS_READY:
        break;
    }
    return true;
}

struct resp_buf *redis_begin(struct redis_conn *c, struct redis_request *req, struct lw_err *err)
{
    assert(req->fn != NULL && !req->busy_);
    assert(c->building == NULL);
    if (c->state != REDIS_READY) {
        not_ready(c, err);
        return NULL;
    }
    if (c->inflight >= c->opt.inflight_max) {
        lw_err_set(err, REDIS_E_BUSY, "redis %s: %u commands in flight (the limit): retry after replies", c->peer,
                   c->inflight);
        return NULL;
    }
    struct resp_buf *b = &c->bufs[c->collecting];
    c->building = req;
    c->build_mark = resp_buf_len(b);
    c->build_commands_mark = resp_buf_commands(b);
    req->busy_ = true;
    req->conn_ = c;
    req->transaction_ = false;
    return b;
}

void redis_abandon(struct redis_conn *c, struct redis_request *req)
{
    assert(c->building == req);
    resp_buf_rollback(&c->bufs[c->collecting], c->build_mark, c->build_commands_mark);
    c->building = NULL;
    req->busy_ = false;
}

/* Ends a build: checks what was written and queues it. */
static bool submit_built(struct redis_conn *c, struct redis_request *req, bool transaction, uint64_t extra_ms,
                         struct lw_err *err)
{
    assert(c->building == req && req->busy_);
    assert(c->state == REDIS_READY); /* nothing runs between begin and submit */
    struct resp_buf *b = &c->bufs[c->collecting];
    uint32_t commands = resp_buf_commands(b) - c->build_commands_mark;
    if (resp_buf_failed(b)) {
        size_t mark = c->build_mark;
        redis_abandon(c, req);
        if (mark == 0)
            return lw_err_set(err, REDIS_E_TOO_LARGE,
                              "redis %s: a command larger than the send buffer (%zu bytes), or no memory for it",
                              c->peer, c->opt.send_buf_bytes_max);
        return lw_err_set(err, REDIS_E_BUSY, "redis %s: the send buffer is full (%zu bytes waiting): retry after "
                          "replies", c->peer, redis_send_queued(c));
    }
    assert(transaction ? commands >= 2 : commands == 1); /* one command per request */
    if (transaction) snprintf(req->command_, sizeof req->command_, "MULTI/EXEC");
    else resp_buf_command_name(b, c->build_mark, req->command_, sizeof req->command_);
    c->building = NULL;
    enqueue(c, req, commands, transaction, extra_ms);
    c->stats.commands++;
    send_kick(c);
    return true;
}

bool redis_submit(struct redis_conn *c, struct redis_request *req, struct lw_err *err)
{
    return submit_built(c, req, false, 0, err);
}

struct resp_buf *redis_begin_multi(struct redis_conn *c, struct redis_request *req, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b != NULL) redis_cmd_multi(b);
    return b;
}

bool redis_submit_exec(struct redis_conn *c, struct redis_request *req, struct lw_err *err)
{
    assert(c->building == req);
    redis_cmd_exec(&c->bufs[c->collecting]);
    return submit_built(c, req, true, 0, err);
}

/* ------------------------------------------------------------------------- */
/* Receiving */

/* One reply for the oldest request. False if the connection was dropped. */
static bool deliver(struct redis_conn *c, const struct resp_value *v)
{
    struct redis_request *req = c->head;
    if (req == NULL) {
        conn_drop(c, RESP_E_PROTOCOL, NULL, NULL, "a reply (%s) to no command: the connection is out of step",
                  resp_type_name(v->type));
        return false;
    }
    req->replies_seen_++;
    if (req->replies_seen_ < req->replies_expected_) {
        /* MULTI's +OK and each command's +QUEUED: kept until EXEC answers. */
        assert(req->transaction_);
        if (v->type == RESP_ERROR && req->queue_error_ == NULL) {
            req->queue_error_ = v;
            req->queue_error_index_ = req->replies_seen_ - 1;
        }
        return true;
    }
    pop_head(c);
    struct redis_reply reply;
    redis_reply_init(&reply, v, c->peer, req->command_);
    if (req->queue_error_ != NULL && reply.err.code != 0) {
        size_t n = strlen(reply.err.msg);
        const struct resp_str *q = &req->queue_error_->u.str;
        snprintf(reply.err.msg + n, sizeof reply.err.msg - n, " (%s %u: %.*s)",
                 req->queue_error_index_ == 0 ? "MULTI" : "queued command", req->queue_error_index_,
                 (int)(q->len < 200 ? q->len : 200), q->ptr);
    }
    if (!internal(c, req)) {
        c->stats.replies++;
        if (reply.err.code != 0) c->stats.server_errors++;
    }
    req->fn(c, req, &reply);
    resp_reader_release(&c->reader);
    return connected_state(c);
}

static void on_recv(struct tls_transport *t, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)t;
    struct redis_conn *c = context;
    assert(c->t_recv_busy);
    c->t_recv_busy = false;
    if (!connected_state(c)) {
        if (c->state == REDIS_CLOSING) close_finish_if_done(c);
        return;
    }
    if (err != NULL) {
        if (err->code == LOOP_E_CLOSED) conn_drop(c, err->code, NULL, NULL, "connection lost: the server closed it");
        else conn_drop(c, err->code, NULL, NULL, "connection lost: %s", err->msg);
        return;
    }
    c->stats.bytes_received += size_bytes;
    struct lw_err e;
    if (!resp_reader_feed(&c->reader, c->recv_buf, size_bytes, &e)) {
        conn_drop(c, e.code, NULL, NULL, "%s", e.msg);
        return;
    }
    while (connected_state(c)) {
        const struct resp_value *v = NULL;
        int rc = resp_reader_next(&c->reader, &v, &e);
        if (rc == 0) break;
        if (rc < 0) {
            conn_drop(c, e.code, NULL, NULL, "%s", e.msg);
            break;
        }
        if (!deliver(c, v)) break;
    }
    recv_arm(c);
}

static void recv_arm(struct redis_conn *c)
{
    if (!connected_state(c) || c->t_recv_busy) return;
    c->t_recv_busy = true;
    tls_transport_recv(&c->transport, c->recv_buf, sizeof c->recv_buf, LOOP_DEADLINE_NONE, on_recv, c);
}

/* ------------------------------------------------------------------------- */
/* Connecting and the handshake */

static void on_ready(struct redis_conn *c)
{
    c->state = REDIS_READY;
    c->attempt = 0;
    c->stats.connects++;
    lw_err_clear(&c->last_err);
    log_info("redis connected", LOG_STR("redis", c->peer), LOG_BOOL("tls", c->opt.tls), LOG_UINT("db", c->opt.db),
             LOG_STR("user", c->user[0] != '\0' ? c->user : "default"));
    if (c->opt.on_event != NULL) c->opt.on_event(c, c->opt.event_context, REDIS_EVENT_READY, NULL);
}

static void on_handshake_reply(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply)
{
    if (reply->value == NULL) return; /* the connection dropped: reported there */
    assert(c->state == REDIS_HANDSHAKE);
    struct lw_err e;
    bool ok;
    if (strcmp(req->command_, "PING") == 0) ok = redis_parse_status(reply, "PONG", &e);
    else ok = redis_parse_status(reply, "OK", &e);
    if (!ok) {
        const char *hint = "";
        switch (e.code) {
        case REDIS_E_WRONGPASS:
        case REDIS_E_NOAUTH:
            hint = " (check redis.password / REDIS_PASSWORD and the user in redis.url)";
            break;
        case REDIS_E_NOPERM:
            hint = " (the ACL user lacks a permission this command needs)";
            break;
        default:
            if (strcmp(req->command_, "SELECT") == 0) hint = " (check the database number in redis.url)";
            break;
        }
        conn_drop(c, e.code, NULL, NULL, "%s%s", strip_peer(c, e.msg), hint);
        return;
    }
    c->handshake_done++;
    if (c->handshake_done == c->handshake_count) on_ready(c);
}

static void handshake_start(struct redis_conn *c)
{
    struct resp_buf *b = &c->bufs[c->collecting];
    assert(resp_buf_len(b) == 0 && c->head == NULL);
    c->handshake_count = 0;
    c->handshake_done = 0;
    const char *password = c->opt.password != NULL ? c->opt.password : "";
    for (uint32_t step = 0; step < REDIS_HANDSHAKE_MAX; step++) {
        size_t mark = resp_buf_len(b);
        if (step == 0 && (password[0] != '\0' || c->user[0] != '\0'))
            redis_cmd_auth(b, resp_str_c(c->user), resp_str_c(password));
        else if (step == 1 && c->opt.db != 0) redis_cmd_select(b, c->opt.db);
        else if (step == 2 && c->handshake_count == 0) redis_cmd_ping(b);
        else continue;
        assert(!resp_buf_failed(b)); /* a few hundred bytes into an empty buffer */
        struct redis_request *req = &c->handshake[c->handshake_count++];
        redis_request_init(req, on_handshake_reply, c);
        req->timeout_ms = c->opt.connect_timeout_ms;
        resp_buf_command_name(b, mark, req->command_, sizeof req->command_);
        enqueue(c, req, 1, false, 0);
    }
    assert(c->handshake_count >= 1);
    recv_arm(c);
    send_kick(c);
}

static void on_connected(struct tls_transport *t, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)t;
    (void)size_bytes;
    struct redis_conn *c = context;
    assert(c->t_connecting);
    c->t_connecting = false;
    if (c->state == REDIS_CLOSING) {
        /* redis_conn_close during the connect: its transport close completes next. */
        if (err == NULL) c->t_connected = true;
        return;
    }
    assert(c->state == REDIS_CONNECTING);
    if (err != NULL) {
        conn_drop(c, err->code, NULL, NULL, "cannot connect: %s", err->msg);
        return;
    }
    c->t_connected = true;
    c->state = REDIS_HANDSHAKE;
    handshake_start(c);
}

static void conn_connect(struct redis_conn *c)
{
    assert(c->state == REDIS_BACKOFF);
    assert(!c->t_connecting && !c->t_connected && !c->t_closing && !c->t_send_busy && !c->t_recv_busy);
    assert(c->head == NULL && c->inflight == 0);
    resp_buf_clear(&c->bufs[0]);
    resp_buf_clear(&c->bufs[1]);
    c->state = REDIS_CONNECTING;
    struct lw_err e;
    if (!resp_reader_reset(&c->reader, &e)) {
        conn_drop(c, e.code, NULL, NULL, "%s", e.msg);
        return;
    }
    c->t_connecting = true;
    tls_transport_connect(&c->transport, c->host, c->opt.port, loop_now_ms(c->loop) + c->opt.connect_timeout_ms,
                          on_connected, c);
}

static void on_backoff(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct redis_conn *c = op->context;
    c->backoff_armed = false;
    if (c->state == REDIS_BACKOFF) conn_connect(c);
}

static void backoff_arm(struct redis_conn *c)
{
    assert(!c->backoff_armed);
    int64_t wait = c->retry_at_ms - loop_now_ms(c->loop);
    if (wait < 0) wait = 0;
    c->backoff_armed = true;
    loop_timer_start(c->loop, &c->backoff_op, (uint32_t)wait, on_backoff, c);
}

static void on_transport_closed(struct tls_transport *t, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)t;
    (void)size_bytes;
    (void)err;
    struct redis_conn *c = context;
    assert(c->t_closing && !c->t_send_busy && !c->t_recv_busy && !c->t_connecting);
    c->t_closing = false;
    c->t_connected = false;
    if (c->state == REDIS_CLOSING) {
        close_finish_if_done(c);
        return;
    }
    assert(c->state == REDIS_DROPPING);
    c->state = REDIS_BACKOFF;
    backoff_arm(c);
}

void redis_conn_start(struct redis_conn *c)
{
    assert(c->state == REDIS_IDLE && !c->started);
    c->started = true;
    c->state = REDIS_BACKOFF;
    c->retry_at_ms = loop_now_ms(c->loop);
    backoff_arm(c); /* 0 ms: the first attempt starts from the loop */
}

/* ------------------------------------------------------------------------- */
/* Closing */

static void close_finish_if_done(struct redis_conn *c)
{
    assert(c->state == REDIS_CLOSING);
    if (c->kick_armed || c->t_closing || c->t_connecting || c->t_send_busy || c->t_recv_busy) return;
    assert(c->head == NULL);
    c->state = REDIS_IDLE;
    c->t_connected = false;
    redis_closed_fn fn = c->close_fn;
    c->close_fn = NULL;
    if (fn != NULL) fn(c, c->close_context);
}

static void on_close_kick(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct redis_conn *c = op->context;
    c->kick_armed = false;
    assert(c->state == REDIS_CLOSING);
    fail_all(c, REDIS_E_CLOSED, "the connection was closed", NULL, 0, "");
    close_finish_if_done(c);
}

void redis_conn_close(struct redis_conn *c, redis_closed_fn fn, void *context)
{
    assert(c->state != REDIS_CLOSING && c->close_fn == NULL);
    assert(c->building == NULL);
    c->state = REDIS_CLOSING;
    c->close_fn = fn;
    c->close_context = context;
    deadline_stop(c);
    if (c->backoff_armed) loop_timer_cancel(c->loop, &c->backoff_op);
    c->backoff_armed = false;
    resp_buf_clear(&c->bufs[c->collecting]);
    if (c->t_connecting || c->t_connected) transport_close(c);
    c->kick_armed = true;
    loop_timer_start(c->loop, &c->kick_op, 0, on_close_kick, c);
}

/* ------------------------------------------------------------------------- */
/* Helpers */

bool redis_command(struct redis_conn *c, struct redis_request *req, uint32_t argc, const struct resp_str *argv,
                   struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    resp_cmd_argv(b, argc, argv);
    return redis_submit(c, req, err);
}

bool redis_ping(struct redis_conn *c, struct redis_request *req, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_ping(b);
    return redis_submit(c, req, err);
}

bool redis_xgroup_create(struct redis_conn *c, struct redis_request *req, struct resp_str stream,
                         struct resp_str group, struct resp_str start_id, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_xgroup_create(b, stream, group, start_id, true);
    return redis_submit(c, req, err);
}

bool redis_xreadgroup(struct redis_conn *c, struct redis_request *req, const struct redis_xreadgroup_args *a,
                      struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_xreadgroup(b, a);
    return submit_built(c, req, false, a->block_ms > 0 ? (uint64_t)a->block_ms : 0, err);
}

bool redis_xack(struct redis_conn *c, struct redis_request *req, struct resp_str stream, struct resp_str group,
                uint32_t id_count, const struct redis_id *ids, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_xack(b, stream, group, id_count, ids);
    return redis_submit(c, req, err);
}

bool redis_xautoclaim(struct redis_conn *c, struct redis_request *req, struct resp_str stream,
                      struct resp_str group, struct resp_str consumer, uint64_t min_idle_ms, struct resp_str start,
                      uint64_t count, bool justid, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_xautoclaim(b, stream, group, consumer, min_idle_ms, start, count, justid);
    return redis_submit(c, req, err);
}

bool redis_xadd(struct redis_conn *c, struct redis_request *req, struct resp_str stream, uint32_t pair_count,
                const struct resp_str *fields, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_xadd(b, stream, RESP_STR("*"), pair_count, fields);
    return redis_submit(c, req, err);
}

bool redis_xpending(struct redis_conn *c, struct redis_request *req, struct resp_str stream, struct resp_str group,
                    struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_xpending(b, stream, group);
    return redis_submit(c, req, err);
}

bool redis_xpending_range(struct redis_conn *c, struct redis_request *req, struct resp_str stream,
                          struct resp_str group, uint64_t min_idle_ms, struct resp_str start, struct resp_str end,
                          uint64_t count, struct resp_str consumer, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_xpending_range(b, stream, group, min_idle_ms, start, end, count, consumer);
    return redis_submit(c, req, err);
}

bool redis_hset(struct redis_conn *c, struct redis_request *req, struct resp_str key, uint32_t pair_count,
                const struct resp_str *fv, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_hset(b, key, pair_count, fv);
    return redis_submit(c, req, err);
}

bool redis_hdel(struct redis_conn *c, struct redis_request *req, struct resp_str key, uint32_t field_count,
                const struct resp_str *fields, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_hdel(b, key, field_count, fields);
    return redis_submit(c, req, err);
}

bool redis_hgetall(struct redis_conn *c, struct redis_request *req, struct resp_str key, struct lw_err *err)
{
    struct resp_buf *b = redis_begin(c, req, err);
    if (b == NULL) return false;
    redis_cmd_hgetall(b, key);
    return redis_submit(c, req, err);
}
