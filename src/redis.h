/* redis: one Redis connection over the loop (redis:// or rediss://), pipelined,
 * reconnecting, with typed helpers for the consumer group's commands.
 *
 *   struct redis_conn c;                       caller-owned (~200 KiB: TLS buffers)
 *   redis_options_from_config(&o, cfg);        host, port, TLS, user, password, db
 *   o.on_event = fn;                           READY / DOWN (with the reason)
 *   redis_conn_init(&c, loop, &o, &err);
 *   redis_conn_start(&c);                      connect, AUTH, SELECT -> READY
 *
 *   struct redis_request req;                  caller-owned, one per command in flight
 *   redis_request_init(&req, on_reply, ctx);
 *   redis_xreadgroup(&c, &req, &args, &err);   false: not sent (err says why)
 *       on_reply(c, req, reply)                exactly once, from the loop
 *           redis_parse_xread(reply, &x, &e)   typed view (redis_cmd.h)
 *
 *   redis_conn_close(&c, fn, ctx);  redis_conn_deinit(&c);
 *
 * Pipelining. Commands are written into a send buffer as they are submitted and sent
 * while earlier ones are still waiting for their replies; replies come back in the
 * order the commands were sent and are matched to the requests in that order. Any
 * number may be in flight (up to opt.inflight_max). Two buffers take turns: one is
 * being sent, the other collects new commands, so a command never waits for more than
 * the send in progress:
 *
 *     submit --> [ collecting ]   swap when the send completes   [ sending ] --> server
 *     requests: head (oldest, next reply) -> ... -> tail (newest)
 *
 * A reply is valid only during its callback: its values live in the connection's
 * reply arena, which is reused as soon as the callback returns (copy what you keep).
 * A callback may submit new commands (e.g. the next XREADGROUP) or close the
 * connection.
 *
 * Transactions. redis_begin_multi writes MULTI; the caller adds any commands with the
 * redis_cmd_* encoders on the returned buffer; redis_submit_exec writes EXEC. The
 * request then stands for the whole block and gets the EXEC reply (parse it with
 * redis_parse_exec). A command refused while queueing (e.g. wrong arguments) makes
 * EXEC fail with EXECABORT, and the message names the command and its error.
 *
 * Connection life:
 *
 *     start -> CONNECTING -> HANDSHAKE (AUTH [user] pass, SELECT db; or PING) -> READY
 *                 ^                                                          |
 *                 |  backoff (exponential, jittered)   any failure: every    |
 *                 +----------- BACKOFF <-- DROPPING <-- request in flight ----+
 *                                                       fails, DOWN event
 *
 * Commands are accepted only while READY (else REDIS_E_NOT_READY): a command that
 * cannot be sent now is not parked where the caller cannot see it. After a drop, every
 * command in flight fails with REDIS_E_DISCONNECTED (it may or may not have run on the
 * server: callers re-run their idempotent logic), the owner gets a DOWN event, and the
 * connection retries after min(backoff_max, backoff_min * 2^attempt) milliseconds, of
 * which a random half (loop_random) is taken off; READY resets the attempts. A drop
 * happens on: a transport error or EOF, bytes that are not RESP, a reply beyond the
 * limits, a reply nobody asked for, or a command that outlived its deadline. The
 * handshake's failures (WRONGPASS, NOAUTH, a bad db) are DOWN events too; the owner
 * decides whether to keep retrying (redis_error_is_permanent) or to give up.
 *
 * Deadlines. Each command gets opt.command_timeout_ms (or its request's timeout_ms),
 * plus its BLOCK time for XREADGROUP. Since replies come in order, a late reply cannot
 * be skipped: the command is failed with LOOP_E_TIMED_OUT and the connection dropped.
 *
 * Messages name the server and the command:
 *
 *   redis 127.0.0.1:6390: AUTH: WRONGPASS invalid username-password pair or user is
 *     disabled. (check redis.password / REDIS_PASSWORD and the ACL user)
 *   redis 127.0.0.1:6390: XACK: no reply: connection lost: recv from 127.0.0.1:6390:
 *     connection reset by peer
 *   redis 127.0.0.1:6390: XREADGROUP: no reply within 35000 ms
 *
 * Memory: the receive buffer and TLS buffers are inside the struct; the send buffers
 * grow to opt.send_buf_bytes_max each; the reply arena and hiredis's buffer are
 * bounded by opt.limits (resp.h). */
#ifndef LW_REDIS_H
#define LW_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "loop.h"
#include "net.h"
#include "redis_cmd.h"
#include "resp.h"
#include "tls.h"
#include "tls_anchors.h"

enum {
    REDIS_RECV_BYTES = 64 * 1024,                 /* bytes read from the socket at once */
    REDIS_COMMAND_NAME_MAX = 24,                  /* command names kept for messages */
    REDIS_HANDSHAKE_MAX = 3,                      /* AUTH, SELECT, PING */
    REDIS_SEND_BUF_BYTES_MIN = 4096,
    /* Defaults of struct redis_options. */
    REDIS_SEND_BUF_BYTES_DEFAULT = 8 * 1024 * 1024,
    REDIS_INFLIGHT_MAX_DEFAULT = 100000,
    REDIS_CONNECT_TIMEOUT_MS_DEFAULT = 10000,
    REDIS_COMMAND_TIMEOUT_MS_DEFAULT = 30000,
    REDIS_BACKOFF_MIN_MS_DEFAULT = 100,
    REDIS_BACKOFF_MAX_MS_DEFAULT = 10000,
};

struct redis_conn;
struct redis_request;

enum redis_event {
    REDIS_EVENT_READY = 1, /* connected, authenticated, db selected: commands accepted */
    REDIS_EVENT_DOWN,      /* a connect attempt failed or the connection was lost (err) */
};

/* Connection events, from the loop. For DOWN, `err` says why (its code: a
 * loop/TLS code, REDIS_E_* or a server code such as REDIS_E_WRONGPASS); the next
 * attempt comes after redis_retry_in_ms(c) unless the owner closes the connection. */
typedef void (*redis_event_fn)(struct redis_conn *c, void *context, enum redis_event event,
                               const struct lw_err *err);

/* The reply to one request (a transaction: its EXEC reply), from the loop. */
typedef void (*redis_reply_fn)(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply);

typedef void (*redis_closed_fn)(struct redis_conn *c, void *context);

struct redis_options {
    const char *host;                /* name or IP (IPv6 without brackets); copied */
    uint16_t port;
    bool tls;                        /* rediss:// */
    const struct tls_anchors *anchors; /* rediss://: trust these (borrowed), or NULL: */
    const char *ca_file;             /* ... load this bundle ("" or NULL: embedded/system) */
    const char *user;                /* ACL user; NULL or "" = the default user; copied */
    const char *password;            /* NULL or "" = none; borrowed: must outlive the conn */
    uint32_t db;                     /* SELECT when not 0 */
    uint32_t connect_timeout_ms;     /* TCP + TLS + handshake */
    uint32_t command_timeout_ms;     /* per command, unless its request says otherwise */
    uint32_t backoff_min_ms, backoff_max_ms;
    size_t send_buf_bytes_max;       /* each of the two send buffers */
    uint32_t inflight_max;           /* requests submitted and not answered */
    struct resp_limits limits;       /* replies */
    redis_event_fn on_event;         /* may be NULL */
    void *event_context;
};

/* Defaults for everything but host and port. */
void redis_options_default(struct redis_options *o);

/* Defaults, then the server, credentials and db of cfg->redis, and the CA bundle of
 * cfg->s3.ca_file for rediss://. `cfg` must outlive the connection (the password is
 * borrowed from it). */
void redis_options_from_config(struct redis_options *o, const struct config *cfg);

/* One command (or MULTI..EXEC block) in flight. Caller-owned; set it up with
 * redis_request_init, then it may be submitted again after each callback (from inside
 * the callback too). Fields ending in '_' are private. */
struct redis_request {
    redis_reply_fn fn;
    void *context;
    uint32_t timeout_ms;             /* 0 = the connection's command_timeout_ms */

    struct redis_conn *conn_;
    struct redis_request *next_;
    bool busy_;                      /* being built or in flight */
    bool transaction_;
    uint32_t replies_expected_, replies_seen_;
    int64_t submitted_ms_, deadline_ms_;
    char command_[REDIS_COMMAND_NAME_MAX];
    const struct resp_value *queue_error_; /* first error among MULTI's QUEUED replies */
    uint32_t queue_error_index_;
};

void redis_request_init(struct redis_request *req, redis_reply_fn fn, void *context);

enum redis_state {
    REDIS_IDLE = 0,      /* not started, or closed */
    REDIS_CONNECTING,    /* TCP (+TLS) connect */
    REDIS_HANDSHAKE,     /* AUTH / SELECT / PING in flight */
    REDIS_READY,
    REDIS_DROPPING,      /* failed: closing the transport, then BACKOFF */
    REDIS_BACKOFF,       /* waiting for the next attempt */
    REDIS_CLOSING,       /* redis_conn_close in progress */
};

/* Counters, for metrics and tests. */
struct redis_stats {
    uint64_t connects;         /* successful handshakes */
    uint64_t drops;            /* DOWN events */
    uint64_t commands;         /* requests submitted (a transaction counts once) */
    uint64_t replies;          /* request callbacks with a reply */
    uint64_t server_errors;    /* of which error replies */
    uint64_t failed;           /* request callbacks without a reply */
    uint64_t bytes_sent, bytes_received;
};

/* The connection. Private fields: use the functions. */
struct redis_conn {
    struct loop *loop;
    struct redis_options opt;
    char host[NET_HOST_MAX];
    char user[CONFIG_NAME_MAX + 1];
    char peer[NET_PEER_MAX];
    enum redis_state state;
    bool started;

    struct tls_anchors own_anchors;
    bool own_anchors_loaded;
    struct tls_transport transport;
    bool t_connecting, t_connected, t_closing, t_send_busy, t_recv_busy;

    struct resp_reader reader;
    uint8_t recv_buf[REDIS_RECV_BYTES];
    struct resp_buf bufs[2];
    uint32_t collecting;               /* index of the buffer collecting commands */

    struct redis_request *building;    /* between redis_begin and redis_submit */
    size_t build_mark;
    uint32_t build_commands_mark;

    struct redis_request *head, *tail; /* in flight, oldest first */
    uint32_t inflight;
    struct redis_request handshake[REDIS_HANDSHAKE_MAX];
    uint32_t handshake_count, handshake_done;

    struct loop_op deadline_op, backoff_op, kick_op;
    bool deadline_armed, backoff_armed, kick_armed;
    int64_t deadline_at_ms, retry_at_ms;
    uint32_t attempt;

    redis_closed_fn close_fn;
    void *close_context;

    struct lw_err last_err;            /* why the last drop happened */
    struct redis_stats stats;
};

/* Prepares `c` (options checked and copied; limits too). Loads the CA bundle for
 * rediss:// when opt->anchors is NULL. False with `err` on bad options, an unusable
 * CA bundle or no memory. Nothing happens on the network until redis_conn_start.
 * `c` must not move afterwards. */
bool redis_conn_init(struct redis_conn *c, struct loop *loop, const struct redis_options *opt, struct lw_err *err);

/* Starts connecting (events follow). Once per init. */
void redis_conn_start(struct redis_conn *c);

/* Closes: requests in flight fail with REDIS_E_CLOSED, timers stop, the transport is
 * closed, then `fn` runs (from the loop). No events after this call. */
void redis_conn_close(struct redis_conn *c, redis_closed_fn fn, void *context);

/* Frees the buffers, the reader and loaded anchors. The connection must be idle
 * (never started, or closed). */
void redis_conn_deinit(struct redis_conn *c);

enum redis_state redis_state(const struct redis_conn *c);
bool redis_ready(const struct redis_conn *c);

/* "host:port", for messages. */
const char *redis_peer(const struct redis_conn *c);

/* Milliseconds until the next connect attempt (0 if none is scheduled). */
uint32_t redis_retry_in_ms(const struct redis_conn *c);

const struct redis_stats *redis_stats(const struct redis_conn *c);

/* Requests submitted and not yet called back. */
uint32_t redis_inflight(const struct redis_conn *c);

/* Bytes waiting in the send buffers (not yet handed to the transport, or in a send). */
size_t redis_send_queued(const struct redis_conn *c);

/* True for errors that retrying will not fix: wrong credentials or permissions, a
 * TLS configuration problem (tls_error_is_permanent). */
bool redis_error_is_permanent(int code);

/* The delay before attempt `attempt` (0-based): the cap min(max, min * 2^attempt)
 * minus `random` modulo half of it. Pure; exposed for tests. */
uint32_t redis_backoff_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms, uint64_t random);

/* ------------------------------------------------------------------------- */
/* Sending */

/* Starts a request: returns the buffer to write exactly one command into (with the
 * redis_cmd_* or resp_cmd_* encoders), then call redis_submit or redis_abandon. NULL
 * with `err` when the connection is not READY (REDIS_E_NOT_READY) or too many
 * requests are in flight (REDIS_E_BUSY). Nothing else may be sent in between. */
struct resp_buf *redis_begin(struct redis_conn *c, struct redis_request *req, struct lw_err *err);

/* Sends what was written since redis_begin. False with `err` (the bytes are taken
 * back; the request is free again): REDIS_E_BUSY when the send buffer is full now
 * (retry after some replies), REDIS_E_TOO_LARGE when the command would never fit. */
bool redis_submit(struct redis_conn *c, struct redis_request *req, struct lw_err *err);

/* Drops what was written since redis_begin; the request is free again. */
void redis_abandon(struct redis_conn *c, struct redis_request *req);

/* Transactions: redis_begin + MULTI; then commands; then redis_submit_exec (EXEC). */
struct resp_buf *redis_begin_multi(struct redis_conn *c, struct redis_request *req, struct lw_err *err);
bool redis_submit_exec(struct redis_conn *c, struct redis_request *req, struct lw_err *err);

/* One-call helpers: begin, encode (see redis_cmd.h), submit. */
bool redis_command(struct redis_conn *c, struct redis_request *req, uint32_t argc, const struct resp_str *argv,
                   struct lw_err *err);
bool redis_ping(struct redis_conn *c, struct redis_request *req, struct lw_err *err);
bool redis_xgroup_create(struct redis_conn *c, struct redis_request *req, struct resp_str stream,
                         struct resp_str group, struct resp_str start_id, struct lw_err *err); /* MKSTREAM */
bool redis_xreadgroup(struct redis_conn *c, struct redis_request *req, const struct redis_xreadgroup_args *a,
                      struct lw_err *err); /* deadline: timeout + BLOCK */
bool redis_xack(struct redis_conn *c, struct redis_request *req, struct resp_str stream, struct resp_str group,
                uint32_t id_count, const struct redis_id *ids, struct lw_err *err);
bool redis_xautoclaim(struct redis_conn *c, struct redis_request *req, struct resp_str stream,
                      struct resp_str group, struct resp_str consumer, uint64_t min_idle_ms, struct resp_str start,
                      uint64_t count, bool justid, struct lw_err *err);
bool redis_xadd(struct redis_conn *c, struct redis_request *req, struct resp_str stream, uint32_t pair_count,
                const struct resp_str *fields, struct lw_err *err); /* ID "*" */
bool redis_xpending(struct redis_conn *c, struct redis_request *req, struct resp_str stream, struct resp_str group,
                    struct lw_err *err); /* summary */
bool redis_xpending_range(struct redis_conn *c, struct redis_request *req, struct resp_str stream,
                          struct resp_str group, uint64_t min_idle_ms, struct resp_str start, struct resp_str end,
                          uint64_t count, struct resp_str consumer, struct lw_err *err);
bool redis_hset(struct redis_conn *c, struct redis_request *req, struct resp_str key, uint32_t pair_count,
                const struct resp_str *fv, struct lw_err *err);
bool redis_hdel(struct redis_conn *c, struct redis_request *req, struct resp_str key, uint32_t field_count,
                const struct resp_str *fields, struct lw_err *err);
bool redis_hgetall(struct redis_conn *c, struct redis_request *req, struct resp_str key, struct lw_err *err);

#endif
