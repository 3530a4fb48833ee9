/* pg: a PostgreSQL client connection over the loop, for `lakewriter backfill`.
 *
 *   struct pg_conn *c = ...;                     caller-owned (about 90 KiB + buffers)
 *   pg_init(c, loop, &info, &anchors, &opts, &err)   info from pg_conninfo_parse
 *   pg_connect(c, done, ctx)                     TCP, SSLRequest + TLS (sslmode), startup, auth
 *   pg_query(c, "SELECT ...", done, ctx)         rows collected: pg_result(c)
 *   pg_copy_out(c, "COPY (...) TO STDOUT (FORMAT binary)", data, done, ctx)
 *       data(c, ctx, bytes, n) for each slice as it arrives; pg_pause/pg_resume inside
 *   pg_close(c, done, ctx)                       Terminate when idle; otherwise cancels
 *   pg_deinit(c)
 *
 * Every result comes through a callback run from the loop, never from inside the call
 * that started the operation. One operation at a time; `done` runs exactly once per
 * operation, with NULL or an error, and may start the next operation.
 *
 * Connecting:
 *
 *   net_connect(hostaddr or host, port) --------- deadline: connect_timeout -----------+
 *     sslmode disable  -----------------------------------------> StartupMessage ...   |
 *     otherwise        SSLRequest -> 'S' -> tls_handshake(host) -> StartupMessage ...   |
 *                                 -> 'N' -> prefer: plain StartupMessage; require: error |
 *                      prefer and the handshake failed: warning, reconnect in plain text|
 *     ... authentication (pg_wire), ParameterStatus, ReadyForQuery -> done(NULL) <-----+
 *
 * (sslmode semantics, and why require verifies like verify-full: pg_conninfo.h.)
 *
 * COPY OUT streams: each CopyData slice goes to the data callback straight from the
 * receive buffer (PG_RECV_BYTES); nothing is accumulated. Back-pressure: pg_pause()
 * (typically from inside the data callback, while the caller encodes what it has)
 * stops delivery and reading; the rest of the buffer and the socket wait, TCP's window
 * closes and the server blocks. pg_resume() continues from the loop. While paused no
 * watchdog runs.
 *
 * Deadlines: the whole connect (TCP, TLS, authentication) must finish within
 * info.connect_timeout_ms; during a query or COPY, the server must send something
 * every opts.io_timeout_ms (when not paused). Cancelling a running query or COPY is
 * closing the connection (pg_close): the server aborts the statement when its next
 * write fails.
 *
 * Errors name the server and say what happened, with the SQLSTATE of server errors:
 *
 *   postgres 127.0.0.1:5440: 42P01 relation "public.nope" does not exist (at character 15)
 *   postgres localhost:5440: 28P01 password authentication failed for user "lakewriter"
 *   postgres: TLS handshake with localhost:5440: the server's certificate is not trusted ...
 *   postgres localhost:5440: the server does not accept TLS (it answered 'N' to SSLRequest) ...
 *
 * After a server error (an ErrorResponse to a query) the connection stays usable; after
 * any other error it is closed before `done` runs (pg_state() == PG_IDLE) and may be
 * connected again. Notices are logged (info; warn for WARNING). The password never
 * reaches a log line or an error. */
#ifndef LW_PG_H
#define LW_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"
#include "pg_conninfo.h"
#include "pg_wire.h"
#include "tls.h"

enum {
    PG_RECV_BYTES = 64 * 1024,                 /* bytes received at once */
    PG_QUERY_BYTES_DEFAULT = 256 * 1024,       /* longest query text */
    PG_RESULT_BYTES_DEFAULT = 16 * 1024 * 1024, /* rows collected by one pg_query */
    PG_RESULT_BYTES_MAX = 1 << 30,
    PG_IO_TIMEOUT_DEFAULT_MS = 60000,
    PG_TERMINATE_MS = 1000,                    /* the longest pg_close waits to send Terminate */
    PG_E_TLS_REFUSED = 221,                    /* lw_err code: sslmode wants TLS, the server said no */
    PG_E_RESULT_TOO_LARGE,                     /* lw_err code: rows over result_bytes_max */
    PG_E_NOT_CONNECTED,                        /* lw_err code: an operation without a connection */
    PG_E_WRONG_RESULT,                         /* lw_err code: COPY where rows were expected, or back */
};

struct pg_options {
    size_t message_bytes_max;     /* largest backend message but CopyData; 0: 1 MiB */
    size_t query_bytes_max;       /* longest query; 0: PG_QUERY_BYTES_DEFAULT */
    size_t result_bytes_max;      /* rows one pg_query may collect; 0: PG_RESULT_BYTES_DEFAULT */
    uint32_t io_timeout_ms;       /* 0: PG_IO_TIMEOUT_DEFAULT_MS */
    uint32_t scram_iterations_max;/* 0: PG_SCRAM_ITERATIONS_DEFAULT_MAX */
};

struct pg_conn;

/* The end of an operation: err NULL on success. */
typedef void (*pg_done_fn)(struct pg_conn *c, void *context, const struct lw_err *err);

/* A slice of COPY data: valid during the call only. */
typedef void (*pg_data_fn)(struct pg_conn *c, void *context, const uint8_t *data, size_t len);

enum pg_state {
    PG_IDLE = 0,     /* no connection */
    PG_CONNECTING,   /* TCP, TLS, startup */
    PG_READY,        /* connected and idle */
    PG_BUSY,         /* a query or COPY runs */
    PG_CLOSING,
};

/* One column of a collected result. */
struct pg_result_column {
    size_t name_off;              /* into the arena: NUL-terminated */
    uint32_t table_oid;
    int16_t attnum;
    uint32_t type_oid;
    int16_t typlen;
    int32_t typmod;
};

/* Rows of one pg_query, in text format, owned by the connection until the next
 * operation. Read them with the pg_result_* functions. */
struct pg_result {
    uint32_t column_count;
    uint64_t row_count;
    char command_tag[PG_WIRE_TAG_MAX];
    struct pg_result_column *columns;
    size_t columns_cap;
    struct pg_cell { size_t off; int64_t len; } *cells;   /* row-major; len -1 = NULL */
    size_t cells_len, cells_cap;
    char *arena;                  /* names and values, each NUL-terminated */
    size_t arena_len, arena_cap;
    size_t bytes_max;
};

enum pg_op { PG_OP_NONE = 0, PG_OP_CONNECT, PG_OP_QUERY, PG_OP_COPY };

/* A connection, caller-owned. Fields are private: use the functions. */
struct pg_conn {
    struct loop *loop;
    struct pg_conninfo info;
    const struct tls_anchors *anchors;
    struct pg_options opts;
    enum pg_state state;

    struct tls_conn tls;          /* its net_conn carries the plain-text phase */
    bool tls_on;                  /* the handshake succeeded: I/O goes through TLS */
    bool tls_skip;                /* prefer: connect again without SSLRequest */
    char peer[NET_PEER_MAX + 8];  /* "host:port", for messages */
    int64_t connect_deadline_ms;

    struct pg_wire wire;
    uint8_t *msg_buf, *out_buf;
    size_t msg_cap, out_cap;
    uint8_t *rbuf;
    size_t roff, rlen;
    uint8_t ssl_request[8];
    uint8_t ssl_answer;

    enum pg_op op;
    pg_done_fn done_fn;
    void *done_context;
    pg_data_fn data_fn;
    struct lw_err op_err;         /* the first error of the running operation */
    bool op_failed;
    bool paused;
    bool send_busy, recv_busy;
    size_t send_len;
    bool closing_for_error;       /* closing the socket before reporting op_err */
    bool terminating;             /* pg_close: Terminate is being sent, then close */
    pg_done_fn close_fn;
    void *close_context;
    bool kick_armed;
    struct loop_op op_kick;
    bool deferred_error;          /* an operation refused at start: report from the kick */
    struct lw_err deferred_err;

    struct pg_result result;
    int copy_format;              /* of the last CopyOutResponse: 0 text, 1 binary */
    uint32_t copy_columns;
    uint64_t last_rows;           /* from the last CommandComplete tag */
    char sqlstate[6];             /* of the last server error, "" if none */
};

/* Prepares `c`: copies `info` and `opts` (NULL: defaults), allocates the buffers.
 * `anchors` (loaded, kept alive) verifies TLS servers; it may be NULL only with
 * sslmode=disable. False (PG_E_USAGE) for options out of range or no memory. */
bool pg_init(struct pg_conn *c, struct loop *loop, const struct pg_conninfo *info,
             const struct tls_anchors *anchors, const struct pg_options *opts, struct lw_err *err);

/* Frees the buffers and wipes the password. The connection must be PG_IDLE. */
void pg_deinit(struct pg_conn *c);

/* Connects and logs in (see above). The connection must be PG_IDLE. */
void pg_connect(struct pg_conn *c, pg_done_fn done, void *context);

/* Runs one simple query and collects its rows (text format) into pg_result(c). A query
 * whose result is COPY data fails (PG_E_WRONG_RESULT); so does one of several
 * statements returning rows after the first. The connection must be PG_READY. */
void pg_query(struct pg_conn *c, const char *sql, pg_done_fn done, void *context);

/* Runs a COPY ... TO STDOUT and hands its data to `data` as it arrives. A query that
 * returns rows instead fails (PG_E_WRONG_RESULT). pg_copy_format(),
 * pg_copy_columns() describe the stream once data arrives; pg_last_rows() counts the
 * rows when done. The connection must be PG_READY. */
void pg_copy_out(struct pg_conn *c, const char *sql, pg_data_fn data, pg_done_fn done, void *context);

/* Stops delivering COPY data and reading the socket until pg_resume. */
void pg_pause(struct pg_conn *c);

/* Continues after pg_pause (from the loop, not inside this call). */
void pg_resume(struct pg_conn *c);

/* Closes the connection: Terminate first when it is idle; a running operation is
 * cancelled (its `done` gets LOOP_E_CANCELED first). `done` runs once it is closed
 * (err always NULL). Not while PG_CLOSING. */
void pg_close(struct pg_conn *c, pg_done_fn done, void *context);

enum pg_state pg_state(const struct pg_conn *c);

/* "host:port" of the server, for messages. */
const char *pg_peer(const struct pg_conn *c);

/* True once the session runs over TLS. */
bool pg_tls(const struct pg_conn *c);

/* The collected rows of the last pg_query. */
const struct pg_result *pg_result(const struct pg_conn *c);

/* The value at (row, col) as a NUL-terminated string of *len bytes, or NULL for NULL. */
const char *pg_result_value(const struct pg_result *r, uint64_t row, uint32_t col, size_t *len);

/* The name of column `col`. */
const char *pg_result_column_name(const struct pg_result *r, uint32_t col);

/* The format (0 text, 1 binary) and column count of the running or last COPY. */
int pg_copy_format(const struct pg_conn *c);
uint32_t pg_copy_columns(const struct pg_conn *c);

/* The row count of the last CommandComplete ("COPY 1000000" -> 1000000). */
uint64_t pg_last_rows(const struct pg_conn *c);

/* The SQLSTATE of the last server error ("42P01"), "" if none. */
const char *pg_sqlstate(const struct pg_conn *c);

/* The server's version ("15.14 (Debian ...)") and the authentication method used, once
 * connected. */
const char *pg_server_version(const struct pg_conn *c);
enum pg_auth_method pg_auth_used(const struct pg_conn *c);

/* Resolves the password from files, at start-up (blocking reads): when
 * `password_file` is given, its contents (pg_conninfo_password_text) replace any
 * other; else, if `info` has no password, PGPASSFILE from `env` (or ~/.pgpass, with
 * HOME from `env`) is searched when it exists. False with a message naming the file. */
bool pg_resolve_password(struct pg_conninfo *info, const char *password_file, const char *const *env,
                         struct lw_err *err);

#endif
