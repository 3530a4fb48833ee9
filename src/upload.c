#include "upload.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void job_pump(struct upload_job *job);
static void service_pump(struct upload_service *svc);
static void conn_begin(struct upload_conn *c);
static void conn_maybe_finish(struct upload_conn *c);
static void conn_close(struct upload_conn *c);
static void service_wake_waiters(struct upload_service *svc);

/* ------------------------------------------------------------------------- */
/* Time and randomness, from the loop only                                     */

static struct s3_upload_now now_of(struct loop *loop)
{
    struct s3_upload_now now = { 0 };
    now.mono_ms = loop_now_ms(loop);
    now.unix_s = loop_wall_ms(loop) / 1000;
    if (!loop_random(loop, &now.random, sizeof now.random)) now.random = (uint64_t)now.mono_ms * 2654435761u;
    return now;
}

/* ------------------------------------------------------------------------- */
/* Service                                                                     */

bool upload_service_init(struct upload_service *svc, struct loop *loop, const struct config *cfg,
                         struct lw_err *err)
{
    memset(svc, 0, sizeof *svc);
    svc->loop = loop;
    svc->cfg = cfg;
    const struct config_s3 *s3 = &cfg->s3;
    if (s3->host[0] == '\0' || s3->bucket[0] == '\0')
        return lw_err_set(err, 1, "s3: the endpoint and the bucket must be set (s3.endpoint, s3.bucket)");
    if (s3->access_key_id[0] == '\0' || !config_secret_is_set(&s3->secret_access_key))
        return lw_err_set(err, 1, "s3: credentials are not set (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                  "or R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY)");
    snprintf(svc->access_key_id, sizeof svc->access_key_id, "%s", s3->access_key_id);
    svc->cred.access_key_id = svc->access_key_id;
    svc->cred.secret_access_key = config_secret_value(&s3->secret_access_key);
    svc->cred.session_token =
        config_secret_is_set(&s3->session_token) ? config_secret_value(&s3->session_token) : NULL;
    svc->tls = s3->tls;
    if (svc->tls && !tls_anchors_load_config(&svc->anchors, s3->ca_file, err)) return false;

    svc->jobs_max = (uint32_t)s3->uploads_in_flight;
    struct s3_upload_config *b = &svc->base;
    b->endpoint_host = s3->host;
    b->endpoint_port = s3->port;
    b->tls = s3->tls;
    b->addressing = s3->addressing == CONFIG_ADDRESSING_VIRTUAL ? S3_ADDRESSING_VIRTUAL : S3_ADDRESSING_PATH;
    b->bucket = s3->bucket;
    b->region = s3->region;
    b->cred = &svc->cred;
    b->content_type = "application/vnd.apache.parquet";
    b->user_agent = "lakewriter";
    b->part_size_bytes = s3->part_size;
    b->concurrency = (uint32_t)(s3->uploads_in_flight < S3_UPLOAD_CONCURRENCY_MAX ? s3->uploads_in_flight
                                                                                 : S3_UPLOAD_CONCURRENCY_MAX);
    b->parts_held_max = b->concurrency + 1 > S3_UPLOAD_PARTS_HELD_MIN ? b->concurrency + 1 : S3_UPLOAD_PARTS_HELD_MIN;
    b->attempts_max = (uint32_t)s3->max_attempts;
    b->timeout_ms = (uint32_t)s3->request_timeout_ms;

    /* Every running job may have `concurrency` requests in flight at once. */
    uint64_t conns = (uint64_t)svc->jobs_max * b->concurrency;
    svc->conn_count = (uint32_t)(conns < UPLOAD_CONNS_MAX ? conns : UPLOAD_CONNS_MAX);
    svc->conns = calloc(svc->conn_count, sizeof *svc->conns);
    if (svc->conns == NULL) {
        tls_anchors_free(&svc->anchors);
        return lw_err_set(err, 1, "s3: out of memory for %u connections", svc->conn_count);
    }
    for (uint32_t i = 0; i < svc->conn_count; i++) {
        struct upload_conn *c = &svc->conns[i];
        c->svc = svc;
        c->index = i;
        tls_transport_init(&c->transport, loop, svc->tls, &svc->anchors);
    }
    return true;
}

/* True when the transport holds no socket (never connected, or closed). */
static bool transport_idle(const struct tls_transport *t)
{
    return t->use_tls ? tls_state(&t->u.tls) == TLS_IDLE : net_state(&t->u.tcp) == NET_IDLE;
}

static struct upload_conn *free_conn(struct upload_service *svc)
{
    /* An open idle connection first (keep-alive), else any idle one. */
    struct upload_conn *closed = NULL;
    int64_t now_ms = loop_now_ms(svc->loop);
    for (uint32_t i = 0; i < svc->conn_count; i++) {
        struct upload_conn *c = &svc->conns[i];
        if (c->active || c->closing) continue;
        if (tls_transport_ready(&c->transport)) {
            if (now_ms - c->last_used_ms <= UPLOAD_KEEPALIVE_IDLE_MS) return c;
            conn_close(c); /* stale: the server may have dropped it */
            continue;
        }
        if (closed == NULL && transport_idle(&c->transport)) closed = c;
    }
    return closed;
}

static void service_pump(struct upload_service *svc)
{
    while (svc->queue_head != NULL && svc->jobs_running < svc->jobs_max) {
        struct upload_job *job = svc->queue_head;
        svc->queue_head = job->next;
        if (svc->queue_head == NULL) svc->queue_tail = NULL;
        job->next = NULL;
        job->queued = false;
        svc->jobs_running++;
        job_pump(job);
    }
}

/* A connection became free: every job that waited for one gets a turn (in order;
 * a job that still finds none waits again). */
static void service_wake_waiters(struct upload_service *svc)
{
    struct upload_job *list = svc->waiters;
    svc->waiters = NULL;
    while (list != NULL) {
        struct upload_job *job = list;
        list = job->wait_next;
        job->wait_next = NULL;
        job->waiting_conn = false;
        job_pump(job);
    }
}

static void job_wait_conn(struct upload_job *job)
{
    if (job->waiting_conn) return;
    job->waiting_conn = true;
    struct upload_job **tail = &job->svc->waiters;
    while (*tail != NULL) tail = &(*tail)->wait_next;
    *tail = job;
}

/* ------------------------------------------------------------------------- */
/* Jobs                                                                        */

static void job_finish(struct upload_job *job)
{
    struct upload_service *svc = job->svc;
    unsigned w = s3_upload_want(job->u, loop_now_ms(svc->loop));
    assert(w == S3_UPLOAD_WANT_DONE || w == S3_UPLOAD_WANT_FAILED);
    assert(s3_upload_in_flight(job->u) == 0);
    if (job->kick_armed) loop_timer_cancel(svc->loop, &job->kick), job->kick_armed = false;
    if (job->wake_armed) loop_timer_cancel(svc->loop, &job->wake), job->wake_armed = false;
    for (struct upload_job **p = &svc->waiters; *p != NULL; p = &(*p)->wait_next) {
        if (*p == job) {
            *p = job->wait_next;
            break;
        }
    }
    job->waiting_conn = false;

    struct s3_upload_result result;
    struct s3_upload_error error;
    bool ok = w == S3_UPLOAD_WANT_DONE;
    if (ok) result = *s3_upload_result(job->u), svc->objects_done++, svc->bytes_done += result.size_bytes;
    else error = *s3_upload_error(job->u), svc->objects_failed++;
    free(job->u);
    free(job->mem);
    job->u = NULL;
    job->mem = NULL;
    job->running = false;
    svc->jobs_running--;

    job->reporting = true;
    job->done(job, job->context, ok ? &result : NULL, ok ? NULL : &error);
    job->reporting = false;
    service_pump(svc);
}

static void job_report_out_of_memory(struct upload_job *job)
{
    struct upload_service *svc = job->svc;
    struct s3_upload_error error = { .code = S3_UPLOAD_ERR_CONFIG };
    snprintf(error.msg, sizeof error.msg, "%s: out of memory for %zu bytes of part buffers", job->key_text,
             job->mem_len);
    free(job->u);
    free(job->mem);
    job->u = NULL;
    job->mem = NULL;
    job->running = false;
    svc->objects_failed++;
    job->reporting = true;
    job->done(job, job->context, NULL, &error);
    job->reporting = false;
}

static void job_kick(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct upload_job *job = op->context;
    job->kick_armed = false;
    if (job->out_of_memory) job_report_out_of_memory(job);
    else if (job->queued) service_pump(job->svc);
    else job_pump(job);
}

static void job_wake(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct upload_job *job = op->context;
    job->wake_armed = false;
    job_pump(job);
}

static void job_arm_wake(struct upload_job *job, int64_t at_ms)
{
    struct loop *loop = job->svc->loop;
    if (job->wake_armed && job->wake_at_ms <= at_ms) return;
    if (job->wake_armed) loop_timer_cancel(loop, &job->wake);
    int64_t now = loop_now_ms(loop);
    int64_t delay = at_ms > now ? at_ms - now : 0;
    job->wake_at_ms = at_ms;
    job->wake_armed = true;
    loop_timer_start(loop, &job->wake, (uint32_t)(delay < UINT32_MAX ? delay : UINT32_MAX), job_wake, job);
}

/* Starts a request on connection `c`. */
static void conn_start(struct upload_conn *c, struct upload_job *job, const struct s3_upload_request *req)
{
    assert(!c->active);
    c->active = true;
    c->job = job;
    c->req = *req;
    conn_begin(c);
}

/* Produces body bytes for at most one slice of work; true if anything happened. */
static bool job_produce(struct upload_job *job, size_t *budget, uint32_t *calls)
{
    if (*budget == 0 || *calls == 0) {
        if (!job->kick_armed) {
            job->kick_armed = true;
            loop_timer_start(job->svc->loop, &job->kick, 0, job_kick, job);
        }
        return false;
    }
    size_t len = 0;
    uint8_t *p = s3_upload_body_buf(job->u, &len);
    if (p == NULL || len == 0) return false;
    if (len > *budget) len = *budget;
    bool end = false;
    struct lw_err err = { 0 };
    size_t n = job->produce(job->context, p, len, &end, &err);
    (*calls)--;
    if (err.code != 0) {
        job->producer_ended = true;
        s3_upload_body_ack(job->u, 0);
        s3_upload_abort(job->u, err.msg);
        return true;
    }
    assert(n <= len);
    s3_upload_body_ack(job->u, n);
    *budget -= n;
    if (end) {
        job->producer_ended = true;
        s3_upload_body_end(job->u);
    }
    return true;
}

/* Does what the upload wants until it waits for I/O, a timer or a connection. */
static void job_pump(struct upload_job *job)
{
    if (!job->running || job->queued || job->reporting) return;
    struct upload_service *svc = job->svc;
    size_t budget = UPLOAD_PRODUCE_SLICE_BYTES;
    uint32_t calls = UPLOAD_PRODUCE_CALLS_MAX;
    for (;;) {
        int64_t now_ms = loop_now_ms(svc->loop);
        unsigned w = s3_upload_want(job->u, now_ms);
        if (w & (S3_UPLOAD_WANT_DONE | S3_UPLOAD_WANT_FAILED)) {
            job_finish(job);
            return;
        }
        bool progressed = false;
        if (w & S3_UPLOAD_WANT_REQUEST) {
            struct upload_conn *c = free_conn(svc);
            if (c != NULL) {
                struct s3_upload_now now = now_of(svc->loop);
                struct s3_upload_request req;
                if (s3_upload_request_take(job->u, &now, &req)) conn_start(c, job, &req);
                progressed = true;
            } else {
                job_wait_conn(job);
            }
        }
        if ((w & S3_UPLOAD_WANT_BODY) && !job->producer_ended && job_produce(job, &budget, &calls))
            progressed = true;
        if (w & S3_UPLOAD_WANT_TIMER) job_arm_wake(job, s3_upload_wake_ms(job->u));
        if (!progressed) return;
    }
}

void upload_job_start(struct upload_service *svc, struct upload_job *job, const uint8_t *key,
                      size_t key_len, upload_produce_fn produce, upload_done_fn done, void *context)
{
    assert(!job->running);
    memset(job, 0, sizeof *job);
    job->svc = svc;
    job->produce = produce;
    job->done = done;
    job->context = context;
    size_t shown = key_len < sizeof job->key_text - 1 ? key_len : sizeof job->key_text - 1;
    memcpy(job->key_text, key, shown);

    struct s3_upload_config cfg = svc->base;
    cfg.key = key;
    cfg.key_len = key_len;
    job->mem_len = s3_upload_memory_bytes(&cfg);
    job->u = calloc(1, sizeof *job->u);
    job->mem = job->mem_len > 0 ? malloc(job->mem_len) : NULL;
    job->running = true;
    job->kick_armed = true;
    if (job->u == NULL || job->mem == NULL) {
        job->out_of_memory = true; /* reported from the loop, like every outcome */
        loop_timer_start(svc->loop, &job->kick, 0, job_kick, job);
        return;
    }
    /* A refused configuration leaves the upload FAILED: the first pump reports it. */
    (void)s3_upload_init(job->u, &cfg, job->mem, job->mem_len);
    /* Queue behind the running jobs; the first turn runs from the loop. */
    job->queued = true;
    if (svc->queue_tail != NULL) svc->queue_tail->next = job;
    else svc->queue_head = job;
    svc->queue_tail = job;
    loop_timer_start(svc->loop, &job->kick, 0, job_kick, job);
}

void upload_job_abort(struct upload_job *job, const char *reason)
{
    if (!job->running || job->u == NULL) return;
    s3_upload_abort(job->u, reason);
    job_pump(job);
}

/* ------------------------------------------------------------------------- */
/* Requests on connections                                                     */

static enum s3_upload_net net_kind_of(const struct lw_err *err)
{
    if (err->code >= TLS_E_FIRST) {
        if (tls_error_is_permanent(err->code)) return S3_UPLOAD_NET_TLS_CERT;
        return S3_UPLOAD_NET_TLS_IO;
    }
    switch ((enum loop_error)err->code) {
    case LOOP_E_TIMED_OUT: return S3_UPLOAD_NET_TIMEOUT;
    case LOOP_E_CANCELED: return S3_UPLOAD_NET_CANCELLED;
    case LOOP_E_REFUSED:
    case LOOP_E_RESOLVE:
    case LOOP_E_HOST_UNREACHABLE:
    case LOOP_E_NET_UNREACHABLE: return S3_UPLOAD_NET_CONNECT;
    default: return S3_UPLOAD_NET_RESET;
    }
}

static void conn_fail(struct upload_conn *c, enum s3_upload_net kind, const char *detail)
{
    c->must_close = true;
    if (c->fail_kind >= 0) return; /* the first failure is the one reported */
    c->fail_kind = (int)kind;
    snprintf(c->fail_detail, sizeof c->fail_detail, "%s", detail);
}

static void conn_progress(struct upload_conn *c)
{
    c->last_progress_ms = loop_now_ms(c->svc->loop);
}

static void conn_closed(struct tls_transport *t, void *context, size_t n, const struct lw_err *err)
{
    (void)t, (void)n, (void)err;
    struct upload_conn *c = context;
    c->closing = false;
    c->must_close = false;
    if (c->svc->closing) {
        assert(c->svc->close_pending > 0);
        if (--c->svc->close_pending == 0) {
            struct upload_service *svc = c->svc;
            free(svc->conns);
            svc->conns = NULL;
            tls_anchors_free(&svc->anchors);
            svc->closed_fn(svc, svc->closed_context);
        }
        return;
    }
    if (!c->active) service_wake_waiters(c->svc); /* a stale connection closed: free now */
    else conn_maybe_finish(c);
}

static void conn_close(struct upload_conn *c)
{
    if (c->closing) return;
    c->closing = true;
    tls_transport_close(&c->transport, conn_closed, c);
}

/* No byte moved for the request timeout: fail it and drop the connection. */
static void conn_watchdog(struct loop *loop, struct loop_op *op)
{
    struct upload_conn *c = op->context;
    c->watchdog_armed = false;
    if (!c->active) return;
    int64_t idle = loop_now_ms(loop) - c->last_progress_ms;
    if (idle < (int64_t)c->req.timeout_ms) {
        c->watchdog_armed = true;
        loop_timer_start(loop, &c->watchdog, (uint32_t)((int64_t)c->req.timeout_ms - idle), conn_watchdog, c);
        return;
    }
    char detail[80];
    snprintf(detail, sizeof detail, "no byte moved for %u ms", c->req.timeout_ms);
    conn_fail(c, S3_UPLOAD_NET_TIMEOUT, detail);
    conn_close(c);
}

static void conn_send_next(struct upload_conn *c);

static void conn_sent(struct tls_transport *t, void *context, size_t n, const struct lw_err *err)
{
    (void)t, (void)n;
    struct upload_conn *c = context;
    c->sending = false;
    if (err != NULL) {
        /* The server may have answered early and closed: the recv side decides. */
        conn_fail(c, net_kind_of(err), err->msg);
        conn_maybe_finish(c);
        return;
    }
    conn_progress(c);
    if (!c->response_done && c->fail_kind < 0) conn_send_next(c);
    conn_maybe_finish(c);
}

static void conn_send_next(struct upload_conn *c)
{
    int64_t none = LOOP_DEADLINE_NONE;
    if (!c->head_sent) {
        c->head_sent = true;
        c->sending = true;
        tls_transport_send(&c->transport, c->req.head, c->req.head_len, none, conn_sent, c);
        return;
    }
    if (c->body_off < c->req.body_len) {
        size_t n = c->req.body_len - c->body_off;
        if (n > UPLOAD_SEND_SLICE_BYTES) n = UPLOAD_SEND_SLICE_BYTES;
        const uint8_t *p = c->req.body + c->body_off;
        c->body_off += n;
        c->sending = true;
        tls_transport_send(&c->transport, p, n, none, conn_sent, c);
    }
}

static void conn_recv_next(struct upload_conn *c);

/* Feeds received bytes to the parser; true when more are wanted. */
static bool conn_feed(struct upload_conn *c, const uint8_t *data, size_t len)
{
    for (;;) { /* one event per call: HEADERS may come with the last byte, DONE after it */
        size_t used = 0;
        struct http_slice body;
        enum http_event ev = http_response_feed(&c->response, data, len, &used, &body);
        data += used;
        len -= used;
        if (ev == HTTP_EVENT_DONE) {
            c->response_done = true;
            /* Extra bytes, "Connection: close", or a body still going out: the
             * connection cannot carry another request. */
            if (len > 0 || !c->response.keep_alive || c->sending || c->body_off < c->req.body_len ||
                !c->head_sent)
                c->must_close = true;
            return false;
        }
        if (ev == HTTP_EVENT_ERROR) {
            conn_fail(c, S3_UPLOAD_NET_HTTP, http_strerror(c->response.error));
            return false;
        }
        if (ev == HTTP_EVENT_NEED_MORE) break;
    }
    return true;
}

static void conn_received(struct tls_transport *t, void *context, size_t n, const struct lw_err *err)
{
    (void)t;
    struct upload_conn *c = context;
    c->receiving = false;
    if (err != NULL) {
        if (err->code == LOOP_E_CLOSED && !c->response_done) {
            if (http_response_eof(&c->response) == HTTP_EVENT_DONE) c->response_done = true;
            else conn_fail(c, S3_UPLOAD_NET_RESET, "the server closed the connection before the response ended");
        } else if (!c->response_done) {
            conn_fail(c, net_kind_of(err), err->msg);
        }
        c->must_close = true;
        conn_maybe_finish(c);
        return;
    }
    conn_progress(c);
    c->got_bytes = true;
    if (conn_feed(c, c->rbuf, n) && c->fail_kind < 0) conn_recv_next(c);
    else if (c->response_done && c->sending) conn_close(c); /* stop sending a body nobody reads */
    conn_maybe_finish(c);
}

static void conn_recv_next(struct upload_conn *c)
{
    c->receiving = true;
    tls_transport_recv(&c->transport, c->rbuf, sizeof c->rbuf, LOOP_DEADLINE_NONE, conn_received, c);
}

static void conn_io(struct upload_conn *c)
{
    conn_recv_next(c);
    conn_send_next(c);
}

static void conn_connected(struct tls_transport *t, void *context, size_t n, const struct lw_err *err)
{
    (void)t, (void)n;
    struct upload_conn *c = context;
    c->connecting = false;
    if (err != NULL) {
        conn_fail(c, net_kind_of(err), err->msg);
        c->must_close = false; /* a failed connect leaves the transport idle */
        conn_maybe_finish(c);
        return;
    }
    conn_progress(c);
    conn_io(c);
}

/* (Re)starts the current request from the beginning. */
static void conn_begin(struct upload_conn *c)
{
    struct upload_service *svc = c->svc;
    http_response_init(&c->response, NULL, c->req.head_request);
    http_response_collect(&c->response, c->req.response_buf, c->req.response_cap);
    c->response_done = false;
    c->got_bytes = false;
    c->must_close = false;
    c->fail_kind = -1;
    c->fail_detail[0] = '\0';
    c->body_off = 0;
    c->head_sent = false;
    conn_progress(c);
    if (!c->watchdog_armed) {
        c->watchdog_armed = true;
        loop_timer_start(svc->loop, &c->watchdog, c->req.timeout_ms, conn_watchdog, c);
    }
    if (tls_transport_ready(&c->transport)) { /* kept alive from the last request */
        conn_io(c);
        return;
    }
    c->connecting = true;
    const struct config_s3 *s3 = &svc->cfg->s3;
    uint16_t port = s3->port != 0 ? s3->port : (s3->tls ? 443 : 80);
    const char *host = s3->host;
    tls_transport_connect(&c->transport, host, port, LOOP_DEADLINE_NONE, conn_connected, c);
}

/* When nothing is in flight on the connection: closes it if needed, then hands the
 * outcome to the upload and lets the job go on. */
static void conn_maybe_finish(struct upload_conn *c)
{
    if (!c->active || c->connecting || c->sending || c->receiving || c->closing) return;
    if ((c->must_close || (!c->response_done && c->fail_kind >= 0)) && !transport_idle(&c->transport)) {
        conn_close(c);
        return;
    }
    struct upload_job *job = c->job;
    struct loop *loop = c->svc->loop;
    if (c->watchdog_armed) loop_timer_cancel(loop, &c->watchdog), c->watchdog_armed = false;
    c->active = false;
    c->job = NULL;
    c->last_used_ms = loop_now_ms(loop);
    struct s3_upload_now now = now_of(loop);
    enum s3_upload_outcome out;
    if (c->response_done) out = s3_upload_response(job->u, c->req.id, &c->response, &now);
    else out = s3_upload_transport_error(job->u, c->req.id, (enum s3_upload_net)c->fail_kind, c->fail_detail, &now);
    if (out == S3_UPLOAD_OUTCOME_RETRY)
        log_warn("s3: retrying", LOG_STR("key", job->key_text), LOG_STR("why", s3_upload_note(job->u)));
    job_pump(job);
    service_wake_waiters(c->svc); /* this connection is free for whoever waited */
}

void upload_service_close(struct upload_service *svc, upload_closed_fn fn, void *context)
{
    assert(svc->jobs_running == 0 && svc->queue_head == NULL);
    svc->closing = true;
    svc->closed_fn = fn;
    svc->closed_context = context;
    svc->close_pending = svc->conn_count;
    for (uint32_t i = 0; i < svc->conn_count; i++) {
        struct upload_conn *c = &svc->conns[i];
        c->closing = true;
        tls_transport_close(&c->transport, conn_closed, c);
    }
}
