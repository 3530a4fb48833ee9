/* pg_wire: the PostgreSQL frontend/backend protocol 3.0, client side, sans-IO.
 *
 * No socket, no clock, no allocation: bytes from the server go in, bytes for the server
 * and events come out, over caller-owned buffers. pg.c drives it over the loop; the
 * tests and fuzz/fuzz_pg.c drive it with bytes.
 *
 *   struct pg_wire w;
 *   pg_wire_init(&w, &cfg, msg_buf, msg_cap, out_buf, out_cap, &err);   // queues StartupMessage
 *   loop:
 *     pg_wire_send_buf(&w, &n) -> bytes to send; after sending k of them: pg_wire_send_ack(&w, k)
 *     feed received bytes:
 *       while (len > 0 || ...) {
 *           size_t used;
 *           enum pg_event ev = pg_wire_feed(&w, data, len, &used);
 *           data += used; len -= used;
 *           switch (ev) { case PG_EV_NEED_MORE: receive more; ... }
 *       }
 *     when pg_wire_state(&w) == PG_WIRE_READY: pg_wire_query(&w, "SELECT ...", &err)
 *
 * Every backend message has this frame; the length counts itself but not the type:
 *
 *     +------+-----------------+----------------------------+
 *     | type | length (BE i32) | body: length - 4 bytes     |
 *     | 1 B  | 4 B             |                            |
 *     +------+-----------------+----------------------------+
 *
 * A message is handed over whole: straight from the input when it is all there, else
 * assembled in `msg_buf`, whose size (message_bytes_max, default 1 MiB) bounds every
 * message, except CopyData: its body is streamed as slices of the input as they arrive
 * (PG_EV_COPY_DATA), so a COPY of any size never needs more memory than a receive
 * buffer. Event data (strings, slices, cursors) point into the input or `msg_buf`
 * and stay valid until the next pg_wire_feed call.
 *
 * The session, as this client drives it:
 *
 *   STARTUP --R(auth requests)--> AUTH ..... trust: AuthenticationOk at once
 *                                       cleartext: PasswordMessage(password)
 *                                       MD5: PasswordMessage("md5" hex(md5(hex(md5(pw user)) salt)))
 *                                       SASL: SCRAM-SHA-256 (pg_auth.h), the server's
 *                                             final signature checked before AuthenticationOk
 *           --R(Ok)--> STARTING: ParameterStatus*, BackendKeyData --Z--> READY
 *   READY --Query--> QUERY: RowDescription, DataRow*, CommandComplete | EmptyQueryResponse
 *                           | ErrorResponse | CopyOutResponse --> COPY_OUT: CopyData* CopyDone
 *                    ... --Z--> READY
 *   any  --Terminate--> TERMINATED;  any malformed or unexpected message --> FAILED
 *
 * NoticeResponse (PG_EV_NOTICE), ParameterStatus (stored) and NotificationResponse
 * (skipped) may come at any point. An ErrorResponse before READY is fatal (FAILED,
 * with the server's SQLSTATE and message in the error); after it, it ends the
 * current query (PG_EV_SERVER_ERROR) and the session goes on after ReadyForQuery. A
 * CopyInResponse (COPY FROM STDIN) is answered with CopyFail, which the server turns
 * into an ErrorResponse. Extended-protocol messages, CopyBoth and unknown types fail.
 *
 * Security: the password is copied in and wiped once authentication ends; it never
 * appears in an error. A server that skips the SCRAM exchange's final proof, or
 * sends AuthenticationOk before it, is refused. */
#ifndef LW_PG_WIRE_H
#define LW_PG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pg_auth.h"

enum {
    PG_PROTOCOL_3_0 = 196608,                 /* 3 << 16 | 0 */
    PG_SSL_REQUEST_CODE = 80877103,           /* 1234 << 16 | 5679 */
    PG_CANCEL_REQUEST_CODE = 80877102,        /* 1234 << 16 | 5678 */
    PG_WIRE_MESSAGE_BYTES_DEFAULT = 1 << 20,  /* largest assembled backend message */
    PG_WIRE_MESSAGE_BYTES_MIN = 4096,
    PG_WIRE_MESSAGE_BYTES_MAX = 1 << 30,
    PG_WIRE_OUT_BYTES_MIN = 4096,             /* frontend buffer: startup, auth, a query */
    PG_WIRE_NAME_MAX = 256,                   /* bytes of a user, database, application name */
    PG_WIRE_PASSWORD_MAX = 1024,              /* bytes of a password */
    PG_WIRE_PARAM_MAX = 64,                   /* bytes kept of a ParameterStatus value */
    PG_WIRE_TAG_MAX = 64,                     /* bytes of a CommandComplete tag we expect */
};

/* lw_err codes of the PostgreSQL client (pg_auth.h uses 210..; pg.h and
 * pg_conninfo.h add theirs from 220). Codes below 200 are loop_error or tls_error. */
enum pg_error {
    PG_E_SERVER = 200,   /* the server sent ErrorResponse: see the SQLSTATE */
    PG_E_PROTOCOL,       /* a malformed or unexpected message from the server */
    PG_E_TOO_LARGE,      /* a message over message_bytes_max */
    PG_E_AUTH,           /* authentication cannot proceed (no password, unsupported method) */
    PG_E_USAGE,          /* a query with a NUL byte, too long for the buffer, or out of turn */
};

enum pg_wire_state {
    PG_WIRE_STARTUP = 0,   /* StartupMessage queued or sent; nothing received */
    PG_WIRE_AUTH,          /* authentication exchange */
    PG_WIRE_STARTING,      /* authenticated: parameters until ReadyForQuery */
    PG_WIRE_READY,         /* idle: a query may be sent */
    PG_WIRE_QUERY,         /* a Query sent: results until ReadyForQuery */
    PG_WIRE_COPY_OUT,      /* inside COPY TO STDOUT: CopyData until CopyDone */
    PG_WIRE_TERMINATED,    /* Terminate queued: nothing more is read */
    PG_WIRE_FAILED,        /* see pg_wire.err; the connection must be closed */
};

enum pg_event {
    PG_EV_NEED_MORE = 0,     /* every input byte is used: feed more */
    PG_EV_READY,             /* ReadyForQuery: startup done or the query finished (tx_status) */
    PG_EV_ROW_DESCRIPTION,   /* ev.columns: the result's columns */
    PG_EV_DATA_ROW,          /* ev.values: one row */
    PG_EV_COMMAND_COMPLETE,  /* ev.tag: "SELECT 3", "COPY 1000000" */
    PG_EV_EMPTY_QUERY,       /* the query string was empty */
    PG_EV_COPY_OUT,          /* CopyOutResponse: ev.copy_format, ev.copy_columns */
    PG_EV_COPY_DATA,         /* ev.data: the next slice of COPY bytes */
    PG_EV_COPY_DONE,         /* CopyDone: the stream is complete (CommandComplete follows) */
    PG_EV_NOTICE,            /* ev.notice: a NoticeResponse (warning, info) */
    PG_EV_SERVER_ERROR,      /* ev.notice: the query failed; READY follows (unless fatal) */
    PG_EV_FAILED,            /* pg_wire.err says why; nothing more will be parsed */
};

/* The fields of an ErrorResponse or NoticeResponse. Strings are never NULL ("" when
 * the server did not send the field) and point into the message. */
struct pg_notice {
    const char *severity;    /* V (not localised), else S: "ERROR", "FATAL", "WARNING", ... */
    char sqlstate[6];        /* C: "42P01" */
    const char *message;     /* M */
    const char *detail;      /* D */
    const char *hint;        /* H */
    const char *position;    /* P: 1-based character index into the query, as text */
    const char *where;       /* W: context */
    const char *schema, *table, *column, *constraint; /* s, t, c, n */
};

/* A cursor over the validated fields of a RowDescription or DataRow. */
struct pg_cursor {
    const uint8_t *p, *end;
    uint32_t left;
};

/* One column of a RowDescription. */
struct pg_column_desc {
    const char *name;        /* NUL-terminated, in the message */
    uint32_t table_oid;      /* 0 if not a table column */
    int16_t attnum;
    uint32_t type_oid;       /* pg_type OID: 23 int4, 1700 numeric, ... (pg_types.h) */
    int16_t typlen;          /* -1 varlena, -2 cstring */
    int32_t typmod;          /* -1 if none: see pg_typmod_* in pg_types.h */
    int16_t format;          /* 0 text, 1 binary */
};

/* One value of a DataRow. */
struct pg_value {
    const uint8_t *data;     /* NULL when null */
    size_t len;
    bool null;
};

struct pg_wire_config {
    const char *user;              /* required, 1..PG_WIRE_NAME_MAX - 1 bytes */
    const char *database;          /* NULL or "": the server uses the user name */
    const char *application_name;  /* NULL: "lakewriter" */
    const void *password;          /* NULL: none (then only trust works) */
    size_t password_len;           /* no NUL byte inside */
    uint8_t nonce[PG_SCRAM_NONCE_RAW_BYTES]; /* random: the SCRAM client nonce */
    uint32_t scram_iterations_max; /* 0: PG_SCRAM_ITERATIONS_DEFAULT_MAX */
};

enum pg_auth_method {
    PG_AUTH_NONE = 0,        /* nothing asked yet */
    PG_AUTH_TRUST,           /* AuthenticationOk without a password */
    PG_AUTH_CLEARTEXT,
    PG_AUTH_MD5,
    PG_AUTH_SCRAM_SHA_256,
};

/* The protocol state, caller-owned (about 4 KiB plus the two buffers). Fields
 * marked public may be read; change nothing but through the functions. */
struct pg_wire {
    /* Public. */
    enum pg_wire_state state;
    enum pg_auth_method auth_method;
    char tx_status;                   /* 'I' idle, 'T' in a transaction, 'E' failed one */
    bool fatal;                       /* a FATAL/PANIC error was received */
    char sqlstate[6];                 /* of the last ErrorResponse, "" if none */
    uint32_t backend_pid, backend_key;
    char server_version[PG_WIRE_PARAM_MAX];
    char server_encoding[PG_WIRE_PARAM_MAX];
    char client_encoding[PG_WIRE_PARAM_MAX];
    char date_style[PG_WIRE_PARAM_MAX];
    char time_zone[PG_WIRE_PARAM_MAX];
    bool integer_datetimes;
    struct lw_err err;                /* after PG_EV_FAILED */
    union {
        struct { struct pg_cursor cursor; uint32_t count; } columns;  /* ROW_DESCRIPTION */
        struct { struct pg_cursor cursor; uint32_t count; } values;   /* DATA_ROW */
        const char *tag;                                              /* COMMAND_COMPLETE */
        struct { const uint8_t *ptr; size_t len; bool message_end; } data; /* COPY_DATA */
        struct { int format; uint32_t columns; } copy;                /* COPY_OUT */
        struct pg_notice notice;                                      /* NOTICE, SERVER_ERROR */
    } ev;

    /* Private. */
    char user[PG_WIRE_NAME_MAX];
    char password[PG_WIRE_PASSWORD_MAX];
    size_t password_len;
    bool has_password;
    char nonce_text[32];
    uint32_t scram_iterations_max;
    struct pg_scram scram;
    bool password_sent;
    uint32_t row_columns;             /* columns of the last RowDescription */
    bool row_description_seen;

    uint8_t *msg;                     /* assembly buffer */
    size_t msg_cap, msg_len;
    uint8_t head[5];                  /* type + length, as it arrives */
    size_t head_len;
    uint8_t type;
    size_t body_len;                  /* of the message being read */
    uint64_t copy_left;               /* CopyData body bytes still to stream */

    uint8_t *out;                     /* frontend bytes: [out_off, out_len) to send */
    size_t out_cap, out_off, out_len;
};

/* Prepares `w`: checks the configuration, copies the user and the password, and
 * queues the StartupMessage (user, database, application_name, client_encoding=UTF8,
 * DateStyle=ISO). `msg` (`msg_cap` bytes: PG_WIRE_MESSAGE_BYTES_MIN..._MAX) bounds
 * every backend message but CopyData; `out` (`out_cap` >= PG_WIRE_OUT_BYTES_MIN)
 * holds outgoing messages, so it bounds the longest query. Both stay the caller's and
 * must outlive `w`. False (PG_E_USAGE) for a missing user, names or a password that
 * are too long or hold a NUL byte, or buffers that are too small. */
bool pg_wire_init(struct pg_wire *w, const struct pg_wire_config *cfg, uint8_t *msg, size_t msg_cap,
                  uint8_t *out, size_t out_cap, struct lw_err *err);

/* Feeds `len` received bytes and returns the next event; *used says how many bytes
 * it took (all of them with PG_EV_NEED_MORE, fewer when an event comes first: feed
 * the rest next). The bytes must stay unchanged until the next call (events point
 * into them). In PG_WIRE_FAILED, returns PG_EV_FAILED and uses nothing. */
enum pg_event pg_wire_feed(struct pg_wire *w, const uint8_t *data, size_t len, size_t *used);

/* Bytes waiting to be sent: returns a pointer and sets *len (0: nothing). The
 * bytes stay put until acknowledged; new messages are appended after them. */
const uint8_t *pg_wire_send_buf(const struct pg_wire *w, size_t *len);

/* Acknowledges `n` bytes of pg_wire_send_buf as sent. */
void pg_wire_send_ack(struct pg_wire *w, size_t n);

/* Queues a simple Query ('Q'). The state must be PG_WIRE_READY. False (PG_E_USAGE)
 * if `sql` holds a NUL byte or does not fit the out buffer. */
bool pg_wire_query(struct pg_wire *w, const char *sql, size_t len, struct lw_err *err);

/* Queues Terminate ('X') unless the session failed or already ended; the state
 * becomes PG_WIRE_TERMINATED and the password is wiped. */
void pg_wire_terminate(struct pg_wire *w);

/* The state (see the drawing above). */
enum pg_wire_state pg_wire_state(const struct pg_wire *w);

/* The next column of a PG_EV_ROW_DESCRIPTION cursor; false after the last. */
bool pg_wire_next_column(struct pg_cursor *c, struct pg_column_desc *out);

/* The next value of a PG_EV_DATA_ROW cursor; false after the last. */
bool pg_wire_next_value(struct pg_cursor *c, struct pg_value *out);

/* Fills `err` with code PG_E_SERVER and "SQLSTATE message" plus the detail, hint and
 * position when present: "42P01 relation \"public.nope\" does not exist". */
void pg_notice_to_err(const struct pg_notice *n, struct lw_err *err);

/* The row count at the end of a CommandComplete tag ("SELECT 3", "COPY 7",
 * "INSERT 0 5"); false if the tag has none ("CREATE TABLE"). */
bool pg_tag_rows(const char *tag, uint64_t *rows);

/* A short name: "trust", "password", "md5", "scram-sha-256". */
const char *pg_auth_method_name(enum pg_auth_method m);

/* A short name of a state, for messages: "startup", "ready", "copy out", ... */
const char *pg_wire_state_name(enum pg_wire_state s);

/* ------------------------------------------------------------------------- */
/* Frontend messages, written into `out` (`cap` bytes). Each returns the number of
 * bytes written, or 0 if they do not fit. Exposed for the tests and for pg.c. */

/* SSLRequest: int32 8, int32 80877103. */
size_t pg_write_ssl_request(uint8_t *out, size_t cap);

/* CancelRequest: int32 16, int32 80877102, int32 pid, int32 key. */
size_t pg_write_cancel_request(uint8_t *out, size_t cap, uint32_t pid, uint32_t key);

/* StartupMessage: int32 length, int32 196608, then name\0value\0 pairs, then \0.
 * `database` may be NULL or "" (then it is left out). */
size_t pg_write_startup(uint8_t *out, size_t cap, const char *user, const char *database,
                        const char *application_name);

/* A message with a type byte and a body of `n` bytes: type, int32 4 + n, body. */
size_t pg_write_message(uint8_t *out, size_t cap, char type, const void *body, size_t n);

/* SASLInitialResponse: 'p', length, mechanism\0, int32 n, data. */
size_t pg_write_sasl_initial(uint8_t *out, size_t cap, const char *mechanism, const void *data,
                             size_t n);

#endif
