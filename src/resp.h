/* resp: the RESP2 protocol of Redis as a pure core: a command encoder, and a reply
 * reader (hiredis 0.14's read.c with our own reply objects) that builds replies into
 * an arena, within limits.
 *
 * Commands. A command is an array of binary-safe bulk strings:
 *
 *     XACK orders lw 1700000000000-0
 *
 *     *4\r\n $4\r\n XACK\r\n $6\r\n orders\r\n $2\r\n lw\r\n $15\r\n 1700000000000-0\r\n
 *     ^argc  ^len   ^bytes   ...
 *
 * (spaces added for reading; none are sent). resp_cmd_begin writes the "*argc" header,
 * each resp_cmd_arg* one "$len\r\nbytes\r\n". They write into a `struct resp_buf`,
 * either the caller's fixed memory or a buffer that grows (malloc) up to a maximum.
 * A write that does not fit sets the buffer's sticky `failed` flag and writes nothing
 * more; the caller checks resp_buf_failed() once at the end and rolls back to a mark.
 *
 * Replies. The bytes of the connection go into resp_reader_feed; resp_reader_next
 * returns complete replies one at a time as trees of `struct resp_value`:
 *
 *     *2\r\n $3\r\n1-0\r\n *-1\r\n         ->  ARRAY(2) { STRING "1-0", NIL }
 *
 *     struct resp_value (24 bytes)
 *     +------+-----------------------------------------+
 *     | type | str {ptr,len} | integer | array {items,count} |
 *     +------+-----------------------------------------+
 *
 * Each array's items are one contiguous block of values, and every string is copied
 * (with a NUL after it) into an arena owned by the reader: a reply of thousands of
 * stream entries costs a few large blocks, not one malloc per element. The arena is
 * emptied by resp_reader_release, which the caller calls when it is done with the
 * replies returned so far (the memory is kept for the next ones; past
 * RESP_ARENA_RETAIN_BYTES it is given back). hiredis itself keeps its input buffer
 * (sds, malloc) and is the audited exception to "no malloc on the hot path": it grows
 * with the reply in progress and is bounded by the same limits.
 *
 * Limits (struct resp_limits), checked while the reply arrives, never after:
 *   - bytes: arena bytes held since the last release (values and strings), and that
 *     plus the unparsed bytes of the reply in progress whenever parsing stops for
 *     more input, so a huge bulk string fails as soon as its declared length is read
 *     or its bytes pile up (at most twice the limit plus one feed is ever held);
 *   - elements: values held since the last release, where an array counts the items
 *     it declares (before they arrive: "*2000000000" fails at once);
 *   - depth: array nesting (hiredis 0.14 stops at 7 by itself);
 *   - line: a status or error line, or any line still without its CRLF.
 * Limits are checked as bytes arrive, so where a reply near a limit is cut can decide
 * which of two failures is reported (a limit or a protocol error), never whether a
 * reply within the limits is accepted.
 * A reply beyond a limit, bytes that are not RESP, or memory exhaustion make the
 * reader fail for good with a clear message (RESP_E_LIMIT / _PROTOCOL / _NO_MEMORY);
 * resp_reader_reset starts over (after a reconnect).
 *
 * Errors as values. An error reply ("-NOGROUP No such key...") is a RESP_ERROR value;
 * resp_error_kind classifies its first word so callers test kinds, not text.
 *
 * RESP2 only (Redis 7.0 answers RESP2 unless HELLO 3 is sent, which we never do).
 * hiredis does not tell a nil bulk string ($-1) from a nil array (*-1): both are
 * RESP_NIL. */
#ifndef LW_RESP_H
#define LW_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

enum {
    RESP_DEPTH_MAX = 7,                         /* hiredis 0.14's own nesting limit */
    RESP_ARENA_CHUNK_MIN_BYTES = 64 * 1024,     /* first arena block */
    RESP_ARENA_RETAIN_BYTES = 16 * 1024 * 1024, /* arena kept across releases */
    RESP_READER_MAXBUF_BYTES = 64 * 1024,       /* hiredis frees an idle buffer above this */
    RESP_INT_TEXT_MAX = 21,                     /* "-9223372036854775808" + NUL */
    /* Defaults of struct resp_limits. */
    RESP_REPLY_BYTES_MAX_DEFAULT = 256 * 1024 * 1024,
    RESP_ELEMENTS_MAX_DEFAULT = 4 * 1024 * 1024,
    RESP_LINE_BYTES_MAX_DEFAULT = 64 * 1024,
    RESP_REPLY_BYTES_MIN = 4096,                /* smallest sane reply_bytes_max */
};

/* lw_err codes of the reader. (Other Redis codes are in redis_cmd.h.) */
enum resp_error {
    RESP_E_PROTOCOL = 200, /* the bytes are not RESP2 */
    RESP_E_LIMIT,          /* a reply beyond a limit of struct resp_limits */
    RESP_E_NO_MEMORY,      /* malloc failed */
};

/* A slice of someone else's bytes. */
struct resp_str {
    const char *ptr;
    size_t len;
};

#define RESP_STR(lit) ((struct resp_str){ (lit), sizeof(lit) - 1 })

/* A NUL-terminated string as a slice (NULL -> empty). */
static inline struct resp_str resp_str_c(const char *s)
{
    return (struct resp_str){ s != NULL ? s : "", s != NULL ? strlen(s) : 0 };
}

/* True if `s` holds exactly the bytes of the NUL-terminated `text`. */
static inline bool resp_str_eq(struct resp_str s, const char *text)
{
    size_t n = strlen(text);
    return s.len == n && (n == 0 || memcmp(s.ptr, text, n) == 0);
}

/* ------------------------------------------------------------------------- */
/* Commands */

/* An encoding buffer. Private fields; use the functions. */
struct resp_buf {
    uint8_t *data;
    size_t len, cap, cap_max;
    bool growable;          /* data is ours (malloc), grows up to cap_max */
    bool failed;            /* a write did not fit (or malloc failed): sticky */
    uint32_t args_left;     /* arguments still owed to the command being written */
    uint32_t commands;      /* complete commands written */
};

/* Writes into the caller's `mem` of `cap` bytes; never allocates. */
void resp_buf_init_fixed(struct resp_buf *b, void *mem, size_t cap);

/* Starts empty and grows (malloc/realloc, doubling) up to `cap_max` bytes. Release
 * it with resp_buf_free. */
void resp_buf_init(struct resp_buf *b, size_t cap_max);

/* Frees the memory of a growable buffer (no-op for a fixed one). */
void resp_buf_free(struct resp_buf *b);

/* Empties the buffer and clears `failed` (keeps its memory). */
void resp_buf_clear(struct resp_buf *b);

/* Rolls back to an earlier state: `len` bytes holding `commands` complete commands
 * (both read from the buffer before writing). Clears `failed`; no command may be
 * half-written afterwards. */
void resp_buf_rollback(struct resp_buf *b, size_t len, uint32_t commands);

/* Bytes written, and whether a write failed since the last clear/rollback. */
static inline size_t resp_buf_len(const struct resp_buf *b) { return b->len; }
static inline const uint8_t *resp_buf_data(const struct resp_buf *b) { return b->data; }
static inline bool resp_buf_failed(const struct resp_buf *b) { return b->failed; }
static inline uint32_t resp_buf_commands(const struct resp_buf *b) { return b->commands; }

/* Starts a command of `argc` (>= 1) arguments: exactly that many resp_cmd_arg*
 * calls must follow (asserted). */
void resp_cmd_begin(struct resp_buf *b, uint32_t argc);

/* One argument: `len` bytes at `p` (binary-safe; p may be NULL if len is 0). */
void resp_cmd_arg(struct resp_buf *b, const void *p, size_t len);
void resp_cmd_arg_str(struct resp_buf *b, struct resp_str s);
void resp_cmd_arg_cstr(struct resp_buf *b, const char *s);
void resp_cmd_arg_u64(struct resp_buf *b, uint64_t v);
void resp_cmd_arg_i64(struct resp_buf *b, int64_t v);

/* A whole command from `argc` (>= 1) slices. */
void resp_cmd_argv(struct resp_buf *b, uint32_t argc, const struct resp_str *argv);

/* Encoded size of one argument of `len` bytes, and of a header of `argc`. */
size_t resp_arg_size(size_t len);
size_t resp_header_size(uint32_t argc);

/* The first argument (the command name) of the command starting at byte `offset` of
 * the buffer, upper-cased into `out` (cap >= 2; cut if longer). Returns `out`. */
char *resp_buf_command_name(const struct resp_buf *b, size_t offset, char *out, size_t cap);

/* ------------------------------------------------------------------------- */
/* Replies */

enum resp_type {
    RESP_NIL = 0,   /* $-1 or *-1 */
    RESP_STRING,    /* $len bulk string */
    RESP_STATUS,    /* +OK */
    RESP_ERROR,     /* -ERR ... */
    RESP_INTEGER,   /* :42 */
    RESP_ARRAY,     /* *n */
};

/* One value of a reply; lives in the reader's arena until resp_reader_release.
 * Strings (STRING, STATUS, ERROR) are followed by a NUL byte not counted in len. */
struct resp_value {
    enum resp_type type;
    union {
        struct resp_str str;
        int64_t integer;
        struct {
            const struct resp_value *items;
            size_t count;
        } array;
    } u;
};

/* The kind of an error reply: its first word. */
enum resp_error_kind {
    RESP_ERR_OTHER = 0,  /* a prefix not listed here */
    RESP_ERR_ERR,        /* "ERR": the generic one (syntax, wrong arguments, ...) */
    RESP_ERR_NOGROUP,    /* no such key or consumer group */
    RESP_ERR_BUSYGROUP,  /* consumer group name already exists */
    RESP_ERR_WRONGPASS,  /* AUTH: invalid username-password pair or user disabled */
    RESP_ERR_NOAUTH,     /* authentication required */
    RESP_ERR_NOPERM,     /* the ACL user may not run this command or touch this key */
    RESP_ERR_LOADING,    /* the server is loading its dataset */
    RESP_ERR_READONLY,   /* a write sent to a read-only replica */
    RESP_ERR_MASTERDOWN, /* replica without a link to its master */
    RESP_ERR_BUSY,       /* a script or function is running too long */
    RESP_ERR_OOM,        /* maxmemory reached */
    RESP_ERR_EXECABORT,  /* EXEC: discarded because of errors while queueing */
    RESP_ERR_WRONGTYPE,  /* the key holds another type */
    RESP_ERR_MISCONF,    /* cannot persist (stop-writes-on-bgsave-error) */
    RESP_ERR_NOREPLICAS, /* min-replicas not met */
    RESP_ERR_TRYAGAIN,
    RESP_ERR_CLUSTERDOWN,
    RESP_ERR_MOVED,
    RESP_ERR_ASK,
    RESP_ERR_KIND_COUNT_
};

/* The kind of an error value (RESP_ERR_OTHER for a non-error value too). */
enum resp_error_kind resp_error_kind(const struct resp_value *v);

/* Kind from the text of an error (its first word). */
enum resp_error_kind resp_error_kind_of(struct resp_str text);

/* "NOGROUP", "ERR", ... ("other" for RESP_ERR_OTHER). */
const char *resp_error_kind_name(enum resp_error_kind kind);

/* "nil", "bulk string", "status", "error", "integer", "array". */
const char *resp_type_name(enum resp_type type);

/* What the reader accepts. Every field must be set (resp_limits_default). */
struct resp_limits {
    size_t reply_bytes_max;  /* arena + unparsed bytes held since the last release */
    size_t elements_max;     /* values held since the last release */
    uint32_t depth_max;      /* array nesting, 1..RESP_DEPTH_MAX */
    size_t line_bytes_max;   /* a simple-string / error / length line */
};

void resp_limits_default(struct resp_limits *l);

/* False with `err` naming the bad field if a limit is out of range. */
bool resp_limits_check(const struct resp_limits *l, struct lw_err *err);

struct redisReader;
struct resp_arena_chunk;

/* A reader, owned by the caller. Private fields; use the functions. */
struct resp_reader {
    struct redisReader *hr;
    struct resp_limits limits;
    struct resp_arena_chunk *chunks, *cur;
    size_t capacity_bytes;   /* sum of the chunks' sizes */
    size_t held_bytes;       /* arena bytes handed out since the last release */
    size_t held_values;      /* values counted since the last release */
    bool partial;            /* values of an unfinished reply are in the arena */
    bool failed;             /* for good, until resp_reader_reset */
    struct lw_err err;       /* why it failed */
    int cb_code;             /* set by an object callback refusing to build */
    char cb_msg[160];
    uint64_t replies;        /* complete replies returned */
};

/* Prepares a reader with `limits` (checked; copied). False with `err` on bad limits
 * or no memory. */
bool resp_reader_init(struct resp_reader *r, const struct resp_limits *limits, struct lw_err *err);

/* Frees everything (values returned so far become invalid). */
void resp_reader_deinit(struct resp_reader *r);

/* Forgets all input and values and clears a failure: for a new connection. False
 * only if memory for a new hiredis reader cannot be had (err set; still failed). */
bool resp_reader_reset(struct resp_reader *r, struct lw_err *err);

/* Appends `len` bytes received from the server (copied). False with `err` if the
 * reader has failed or memory is short. */
bool resp_reader_feed(struct resp_reader *r, const void *buf, size_t len, struct lw_err *err);

/* The next complete reply: returns 1 and sets *out (valid until the next release),
 * 0 if more bytes are needed, -1 with `err` set if the reader failed (the input is
 * not RESP, or a limit was passed). */
int resp_reader_next(struct resp_reader *r, const struct resp_value **out, struct lw_err *err);

/* Releases every value returned so far (their memory is reused). Allowed only when no
 * reply is half-built: right after resp_reader_next returned 1 or when it returned 0
 * with nothing pending (asserted). */
void resp_reader_release(struct resp_reader *r);

/* True when values of an unfinished reply are held (release is not allowed). */
bool resp_reader_partial(const struct resp_reader *r);

/* Bytes received and not yet parsed into a complete reply. */
size_t resp_reader_pending(const struct resp_reader *r);

#endif
