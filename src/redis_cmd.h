/* redis_cmd: the Redis commands lakewriter sends, as pure encoders into a resp_buf,
 * and their replies as typed, zero-copy views. No I/O: the connection (redis.h) sends
 * what these write and hands back `struct redis_reply`s for these to read.
 *
 *   consumer group      XGROUP CREATE s g id MKSTREAM   (BUSYGROUP counts as success)
 *                       XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS s.. id..
 *                       XACK s g id..        XAUTOCLAIM s g c min-idle start COUNT n
 *                       XPENDING s g         (summary form)
 *                       XPENDING s g [IDLE ms] start end n [c]  (per entry: deliveries)
 *   dead letters        XADD s * f v ..
 *   commit intents      HSET k f v ..   HDEL k f ..   HGETALL k
 *   transactions        MULTI ... EXEC
 *   connection set-up   AUTH [user] pass    SELECT db    PING
 *
 * Replies. A redis_reply couples the reply value with where it came from (peer and
 * command, for messages) and, when the server answered with an error or no reply came
 * at all, an lw_err ready for a log line:
 *
 *   redis 127.0.0.1:6390: XREADGROUP: NOGROUP No such key 'orders' or consumer group
 *     'lw' in XREADGROUP with GROUP option
 *
 * Each redis_parse_* first passes such an error on (its code says what it was: a
 * REDIS_E_SERVER + resp_error_kind code for a server error, a loop/TLS/REDIS_E_* code
 * for a transport failure), then checks the whole shape of the reply once. After a
 * successful parse the accessors cannot fail: they index straight into the reply's
 * values, whose bytes stay in the reader's arena until the request's callback returns.
 * A shape the command never produces is REDIS_E_SHAPE, naming the spot:
 *
 *   redis 127.0.0.1:6390: XREADGROUP: unexpected reply: stream 0, entry 3: the
 *     fields are an integer, not an array
 *
 * Stream entries (XREADGROUP, XAUTOCLAIM):
 *
 *   XREADGROUP  *1                         one element per stream with entries
 *                 *2  $6 orders            stream name
 *                     *2                   its entries
 *                       *2  $3 1-0         entry ID
 *                           *4 $6 entity $6 orders $4 data $2 {}   field, value, ...
 *                       *2  $3 2-0
 *                           *-1            nil: pending, but trimmed or XDELeted
 *               *-1                        BLOCK ran out with nothing new
 *
 *   XAUTOCLAIM  *3  $3 0-0                 next cursor (0-0: the scan is complete)
 *                   *n entries             as above; JUSTID: plain IDs; Redis 6.2: a
 *                                          nil entry where one was deleted
 *                   *m $3 5-0 ...          Redis >= 7.0 only: deleted IDs it dropped
 *                                          from the pending list (6.2 has 2 elements)
 *
 * An entry whose fields are nil is `deleted`: there is nothing to process, and it must
 * still be acknowledged (DESIGN.md §5). */
#ifndef LW_REDIS_CMD_H
#define LW_REDIS_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "resp.h"

enum {
    REDIS_ID_TEXT_MAX = 42,       /* "18446744073709551615-18446744073709551615" + NUL */
    REDIS_ERROR_TEXT_MAX = 300,   /* server error text quoted in a message */
};

/* lw_err codes. Transport failures keep their loop_error / tls_error code (a timeout
 * is LOOP_E_TIMED_OUT); the reader's are RESP_E_* (resp.h). */
enum redis_error {
    REDIS_E_SHAPE = 210,     /* a reply of a shape the command does not produce */
    REDIS_E_DISCONNECTED,    /* the connection was lost before the reply came */
    REDIS_E_NOT_READY,       /* not connected now (connecting or backing off) */
    REDIS_E_BUSY,            /* the send buffer or the in-flight limit is full: retry later */
    REDIS_E_TOO_LARGE,       /* the command alone does not fit in the send buffer */
    REDIS_E_CLOSED,          /* the connection was closed by its owner */
    REDIS_E_OPTIONS,         /* bad connection options (redis_conn_init) */
    REDIS_E_SERVER = 300,    /* + resp_error_kind: the server answered with an error */
    REDIS_E_SERVER_ERR = REDIS_E_SERVER + RESP_ERR_ERR,
    REDIS_E_NOGROUP = REDIS_E_SERVER + RESP_ERR_NOGROUP,
    REDIS_E_BUSYGROUP = REDIS_E_SERVER + RESP_ERR_BUSYGROUP,
    REDIS_E_WRONGPASS = REDIS_E_SERVER + RESP_ERR_WRONGPASS,
    REDIS_E_NOAUTH = REDIS_E_SERVER + RESP_ERR_NOAUTH,
    REDIS_E_NOPERM = REDIS_E_SERVER + RESP_ERR_NOPERM,
    REDIS_E_LOADING = REDIS_E_SERVER + RESP_ERR_LOADING,
    REDIS_E_READONLY = REDIS_E_SERVER + RESP_ERR_READONLY,
    REDIS_E_EXECABORT = REDIS_E_SERVER + RESP_ERR_EXECABORT,
    REDIS_E_WRONGTYPE = REDIS_E_SERVER + RESP_ERR_WRONGTYPE,
    REDIS_E_SERVER_END_ = REDIS_E_SERVER + RESP_ERR_KIND_COUNT_,
};

/* True for a code the server sent (an error reply). */
bool redis_code_is_server(int code);

/* The error kind behind a server code (RESP_ERR_OTHER for other codes). */
enum resp_error_kind redis_code_kind(int code);

/* ------------------------------------------------------------------------- */
/* Stream entry IDs */

struct redis_id {
    uint64_t ms;   /* milliseconds since the Unix epoch (when XADD ran, for '*' IDs) */
    uint64_t seq;
};

/* Parses "<ms>-<seq>" (both decimal, no sign, within uint64). A bare "<ms>" is
 * accepted only if `allow_ms_only` (seq 0). False if it is not an ID. */
bool redis_id_parse(struct resp_str text, bool allow_ms_only, struct redis_id *out);

/* Writes "<ms>-<seq>" and a NUL into `out`; returns the length. */
size_t redis_id_format(struct redis_id id, char out[REDIS_ID_TEXT_MAX]);

/* <0, 0, >0 as a is before, equal to, after b. */
int redis_id_compare(struct redis_id a, struct redis_id b);

/* ------------------------------------------------------------------------- */
/* Encoders: each writes exactly one command (check resp_buf_failed afterwards). */

void redis_cmd_ping(struct resp_buf *b);

/* AUTH password, or AUTH user password when `user` is not empty. */
void redis_cmd_auth(struct resp_buf *b, struct resp_str user, struct resp_str password);

void redis_cmd_select(struct resp_buf *b, uint32_t db);

/* XGROUP CREATE stream group start_id [MKSTREAM] ("$": new entries only, "0": all). */
void redis_cmd_xgroup_create(struct resp_buf *b, struct resp_str stream, struct resp_str group,
                             struct resp_str start_id, bool mkstream);

struct redis_xreadgroup_args {
    struct resp_str group, consumer;
    uint64_t count;           /* COUNT, 0 = none (the server's default: all) */
    int64_t block_ms;         /* BLOCK, < 0 = none (0 blocks forever: avoid) */
    bool noack;
    uint32_t stream_count;    /* >= 1 */
    const struct resp_str *streams;
    const struct resp_str *ids; /* per stream: ">" new entries, or an ID: own pending after it */
};

/* XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS s1.. id1.. */
void redis_cmd_xreadgroup(struct resp_buf *b, const struct redis_xreadgroup_args *a);

/* XACK stream group id.. (id_count >= 1), IDs given as numbers or as text. */
void redis_cmd_xack(struct resp_buf *b, struct resp_str stream, struct resp_str group, uint32_t id_count,
                    const struct redis_id *ids);
void redis_cmd_xack_text(struct resp_buf *b, struct resp_str stream, struct resp_str group, uint32_t id_count,
                         const struct resp_str *ids);

/* XAUTOCLAIM stream group consumer min_idle_ms start [COUNT n] [JUSTID]. */
void redis_cmd_xautoclaim(struct resp_buf *b, struct resp_str stream, struct resp_str group,
                          struct resp_str consumer, uint64_t min_idle_ms, struct resp_str start, uint64_t count,
                          bool justid);

/* XADD stream id field value ... (`fields` holds 2 * pair_count slices; id "*" lets
 * the server choose). */
void redis_cmd_xadd(struct resp_buf *b, struct resp_str stream, struct resp_str id, uint32_t pair_count,
                    const struct resp_str *fields);

/* XPENDING stream group (the summary form). */
void redis_cmd_xpending(struct resp_buf *b, struct resp_str stream, struct resp_str group);

/* XPENDING stream group [IDLE min_idle_ms] start end count [consumer] (the extended
 * form: per entry its consumer, idle time and delivery count). IDLE is left out when
 * min_idle_ms is 0, the consumer when empty. */
void redis_cmd_xpending_range(struct resp_buf *b, struct resp_str stream, struct resp_str group,
                              uint64_t min_idle_ms, struct resp_str start, struct resp_str end, uint64_t count,
                              struct resp_str consumer);

/* HSET key field value ... (2 * pair_count slices, pair_count >= 1). */
void redis_cmd_hset(struct resp_buf *b, struct resp_str key, uint32_t pair_count, const struct resp_str *fv);

/* HDEL key field ... (field_count >= 1). */
void redis_cmd_hdel(struct resp_buf *b, struct resp_str key, uint32_t field_count, const struct resp_str *fields);

void redis_cmd_hgetall(struct resp_buf *b, struct resp_str key);
void redis_cmd_multi(struct resp_buf *b);
void redis_cmd_exec(struct resp_buf *b);

/* ------------------------------------------------------------------------- */
/* Replies */

/* One reply and where it came from. `value` is NULL when no reply came (then
 * err.code != 0); for an error reply, err is set from it (REDIS_E_SERVER + kind). */
struct redis_reply {
    const struct resp_value *value;
    struct lw_err err;
    const char *peer;      /* "host:port" */
    const char *command;   /* "XREADGROUP" */
};

/* Wraps `value` (not NULL) from `peer` for `command`; sets err for an error value. */
void redis_reply_init(struct redis_reply *r, const struct resp_value *value, const char *peer,
                      const char *command);

/* A reply that did not come: err gets `code` and "redis <peer>: <command>: <text>". */
void redis_reply_failed(struct redis_reply *r, const char *peer, const char *command, int code, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));

/* True if the reply is a server error of `kind`. */
bool redis_reply_is(const struct redis_reply *r, enum resp_error_kind kind);

/* +OK (or another status when `status` is given: "QUEUED", "PONG"). */
bool redis_parse_status(const struct redis_reply *r, const char *status, struct lw_err *err);

/* An integer reply (XACK, HSET, HDEL counts). */
bool redis_parse_integer(const struct redis_reply *r, int64_t *out, struct lw_err *err);

/* XGROUP CREATE: true on +OK (*created = true) and on BUSYGROUP (*created = false). */
bool redis_parse_xgroup_create(const struct redis_reply *r, bool *created, struct lw_err *err);

/* XADD: the new entry's ID. A nil reply (NOMKSTREAM on a missing stream) is an error
 * (REDIS_E_SHAPE). */
bool redis_parse_xadd(const struct redis_reply *r, struct redis_id *id, struct lw_err *err);

/* One stream entry (see the drawing above). */
struct redis_entry {
    struct resp_str id_text;   /* empty for a Redis 6.2 nil XAUTOCLAIM entry */
    struct redis_id id;        /* {0, 0} when id_text is empty */
    bool deleted;              /* gone from the stream while pending: no fields */
    size_t field_count;        /* field/value pairs */
    const struct resp_value *fields_; /* private: 2 * field_count bulk strings */
};

/* The k-th field (k < field_count): name and value, binary-safe, NUL-terminated. */
void redis_entry_field(const struct redis_entry *e, size_t k, struct resp_str *name, struct resp_str *value);

/* The value of field `name` (first match), or false. */
bool redis_entry_get(const struct redis_entry *e, const char *name, struct resp_str *value);

/* A list of entries inside a parsed reply. */
struct redis_entries {
    size_t count;
    const struct resp_value *items_; /* private */
};

/* The j-th entry (j < count). */
void redis_entries_at(const struct redis_entries *es, size_t j, struct redis_entry *out);

/* XREADGROUP (and XREAD). No streams when BLOCK ran out. */
struct redis_xread {
    size_t stream_count;
    size_t entry_count;        /* over all streams */
    size_t deleted_count;      /* entries with nil fields, over all streams */
    const struct resp_value *streams_; /* private */
};

bool redis_parse_xread(const struct redis_reply *r, struct redis_xread *out, struct lw_err *err);

/* The i-th stream (i < stream_count): its name and its entries. */
void redis_xread_stream(const struct redis_xread *x, size_t i, struct resp_str *name,
                        struct redis_entries *entries);

/* XAUTOCLAIM: 2 elements (Redis 6.2) or 3 (Redis >= 7.0). */
struct redis_xautoclaim {
    struct resp_str cursor_text;
    struct redis_id cursor;    /* start the next call here; 0-0: the scan is complete */
    bool complete;             /* cursor is 0-0 */
    struct redis_entries entries;
    bool justid;               /* entries are IDs only (no fields, never deleted) */
    bool deleted_listed;       /* a 3-element reply: deleted_count is meaningful */
    size_t deleted_count;      /* IDs removed from the pending list, entry gone */
    const struct resp_value *deleted_; /* private */
};

bool redis_parse_xautoclaim(const struct redis_reply *r, bool justid, struct redis_xautoclaim *out,
                            struct lw_err *err);

/* The k-th deleted ID (k < deleted_count). */
void redis_xautoclaim_deleted(const struct redis_xautoclaim *x, size_t k, struct resp_str *text, struct redis_id *id);

/* XPENDING stream group (summary). */
struct redis_xpending {
    uint64_t count;            /* pending entries in the group */
    struct redis_id min, max;  /* smallest and largest pending ID (count > 0) */
    size_t consumer_count;     /* consumers with pending entries */
    const struct resp_value *consumers_; /* private */
};

bool redis_parse_xpending(const struct redis_reply *r, struct redis_xpending *out, struct lw_err *err);

/* The i-th consumer (i < consumer_count) and its number of pending entries. */
void redis_xpending_consumer(const struct redis_xpending *x, size_t i, struct resp_str *name, uint64_t *count);

/* XPENDING (extended form): one row per pending entry. */
struct redis_pending_entry {
    struct resp_str id_text;
    struct redis_id id;
    struct resp_str consumer;
    uint64_t idle_ms;          /* since it was last delivered */
    uint64_t deliveries;       /* times delivered (a poison entry keeps growing it) */
};

struct redis_pending_list {
    size_t count;
    const struct resp_value *items_; /* private */
};

bool redis_parse_xpending_range(const struct redis_reply *r, struct redis_pending_list *out, struct lw_err *err);

/* The i-th row (i < count). */
void redis_pending_at(const struct redis_pending_list *l, size_t i, struct redis_pending_entry *out);

/* HGETALL: field/value pairs. */
struct redis_hash {
    size_t pair_count;
    const struct resp_value *items_; /* private */
};

bool redis_parse_hash(const struct redis_reply *r, struct redis_hash *out, struct lw_err *err);
void redis_hash_pair(const struct redis_hash *h, size_t i, struct resp_str *field, struct resp_str *value);
bool redis_hash_get(const struct redis_hash *h, struct resp_str field, struct resp_str *value);

/* EXEC: one reply per queued command, in order. `aborted` when EXEC returned nil (a
 * WATCHed key changed; then count is 0). */
struct redis_exec {
    size_t count;
    bool aborted;
    const struct resp_value *items_; /* private */
    const char *peer_;
};

bool redis_parse_exec(const struct redis_reply *r, struct redis_exec *out, struct lw_err *err);

/* The i-th command's reply (i < count), named "EXEC[i] <command>" in messages when
 * `command` is given ("XACK"), else "EXEC[i]"; parse it with the functions above.
 * `name_buf` (>= 48 bytes) holds that name and must live as long as `out`. */
void redis_exec_item(const struct redis_exec *x, size_t i, const char *command, char *name_buf, size_t name_cap,
                     struct redis_reply *out);

#endif
