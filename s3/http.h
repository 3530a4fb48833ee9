/* http: sans-IO HTTP/1.1 for the S3 client. No sockets, no clock, no allocation.
 *
 * Requests: a writer puts the request line, the headers and the blank line into a
 * caller buffer, checking every byte it writes (no CR/LF injection).
 *
 *   struct http_writer w;
 *   http_writer_init(&w, buf, sizeof buf);
 *   http_write_request_line(&w, "PUT", sig.target);
 *   http_write_header(&w, "Host", host);
 *   http_write_header_u64(&w, "Content-Length", part_size);
 *   ... the signed headers and s3_sigv4_headers() ...
 *   if (http_write_end(&w) != HTTP_OK) fail(http_strerror(w.error));
 *   send buf[0..w.len), then the body.
 *
 * Responses: a parser fed the bytes as they arrive, in pieces of any size (one byte
 * at a time works). Each call returns one event and says how many input bytes it
 * used; body bytes are handed back as slices of the caller's input, never copied
 * (unless the caller asks for a bounded copy with http_response_collect()).
 *
 *   http_response_init(&r, NULL, is_head_request);
 *   for each received buffer (data, len):
 *       while (true) {
 *           size_t used; struct http_slice body;
 *           enum http_event ev = http_response_feed(&r, data, len, &used, &body);
 *           data += used; len -= used;
 *           if (ev == HTTP_EVENT_NEED_MORE) break;          // receive more
 *           if (ev == HTTP_EVENT_HEADERS) look at r.status, http_response_header();
 *           if (ev == HTTP_EVENT_BODY) consume body.data[0..body.len);
 *           if (ev == HTTP_EVENT_DONE) { reuse the connection iff r.keep_alive; stop; }
 *           if (ev == HTTP_EVENT_ERROR) { close; report http_strerror(r.error); stop; }
 *       }
 *   on end of stream: http_response_eof(&r) gives DONE (body delimited by the close)
 *   or ERROR (truncated, or the peer closed before answering).
 *
 * Bytes after a complete response are left unused (used < len with DONE): this
 * client never pipelines, so for the caller they are a protocol error.
 *
 * What is refused, each with its own error: a bad status line or version, a bad
 * header line (no colon, a blank before the colon, a byte that is not allowed),
 * obs-fold continuation lines, a head over the byte or count limit, Content-Length
 * that is malformed, too large or conflicting, Content-Length together with
 * Transfer-Encoding, a transfer coding other than chunked, a bad chunk size or
 * chunk framing, a bad trailer, a body over its limit, more than a few 1xx
 * responses, 101, and a stream that ends inside a message.
 */
#ifndef LW_S3_HTTP_H
#define LW_S3_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    HTTP_HEADER_BYTES_MAX = 16384,  /* status line + header section (and, apart, trailers) */
    HTTP_HEADER_COUNT_MAX = 64,     /* header fields in one response */
    HTTP_CHUNK_LINE_MAX = 4096,     /* one chunk-size line with its extensions */
    HTTP_INTERIM_MAX = 8,           /* 1xx responses skipped before the final one */
};

/* The largest body accepted at all: an S3 object part or object (5 GiB). */
#define HTTP_BODY_BYTES_MAX (UINT64_C(5) << 30)

enum http_error {
    HTTP_OK = 0,
    HTTP_ERR_STATUS_LINE,       /* not "HTTP/1.x NNN reason" */
    HTTP_ERR_VERSION,           /* an HTTP version other than 1.x */
    HTTP_ERR_HEADER,            /* malformed header line */
    HTTP_ERR_OBS_FOLD,          /* a header line starting with a blank (obsolete folding) */
    HTTP_ERR_HEADER_TOO_LARGE,  /* status line + headers over the byte limit */
    HTTP_ERR_TOO_MANY_HEADERS,
    HTTP_ERR_CONTENT_LENGTH,    /* not digits, overflowing, or differing values */
    HTTP_ERR_LENGTH_AND_CHUNKED,/* both Content-Length and Transfer-Encoding */
    HTTP_ERR_TRANSFER_ENCODING, /* a coding other than "chunked", or in an HTTP/1.0 response */
    HTTP_ERR_BODY_TOO_LARGE,    /* over the body limit */
    HTTP_ERR_CHUNK_SIZE,        /* chunk size not hex, overflowing, or line too long */
    HTTP_ERR_CHUNK_FORMAT,      /* chunk data not followed by CRLF, bad extension bytes */
    HTTP_ERR_TRAILER,           /* malformed or oversized trailer section */
    HTTP_ERR_UNEXPECTED_1XX,    /* 101 Switching Protocols, or too many 1xx */
    HTTP_ERR_CLOSED,            /* the stream ended before any byte of a response */
    HTTP_ERR_TRUNCATED,         /* the stream ended inside a response */
    HTTP_ERR_WRITE_SPACE,       /* writer: the buffer is too small */
    HTTP_ERR_WRITE_INVALID,     /* writer: a method, target, name or value with bad bytes */
    HTTP_ERR_WRITE_ORDER,       /* writer: a header before the request line, or two lines */
};

enum http_event {
    HTTP_EVENT_NEED_MORE,   /* every input byte was used: feed more, or call _eof() */
    HTTP_EVENT_HEADERS,     /* the final response's status and headers are available */
    HTTP_EVENT_BODY,        /* `body` is the next slice of the body (inside the input) */
    HTTP_EVENT_DONE,        /* the response is complete; see keep_alive */
    HTTP_EVENT_ERROR,       /* see error; the connection must be closed */
};

struct http_limits {
    size_t header_bytes_max;    /* <= HTTP_HEADER_BYTES_MAX */
    size_t header_count_max;    /* <= HTTP_HEADER_COUNT_MAX */
    uint64_t body_bytes_max;    /* <= HTTP_BODY_BYTES_MAX */
};

struct http_slice {
    const uint8_t *data;
    size_t len;
};

struct http_header {
    const char *name;
    const char *value;
};

struct http_header_pos {
    uint16_t name;
    uint16_t value;
};

/* Parser state and results (~17 KiB). Public (read-only) after HTTP_EVENT_HEADERS: status,
 * version_minor, reason, content_length, chunked, has_body. After DONE:
 * keep_alive, body_bytes. After ERROR: error, error_offset. */
struct http_response {
    int status;                 /* 100..999 */
    int version_minor;          /* 0 or 1 (1.x is taken as 1.1) */
    const char *reason;         /* NUL-terminated, in the parser */
    int64_t content_length;     /* -1 when absent */
    bool chunked;
    bool has_body;              /* false for HEAD, 1xx, 204, 304 */
    bool keep_alive;            /* the connection may carry the next request */
    uint64_t body_bytes;        /* body bytes delivered so far */
    enum http_error error;
    uint64_t error_offset;      /* stream offset of the byte that was refused */

    uint8_t *collect;           /* optional bounded copy of the body */
    size_t collect_cap;
    size_t collect_len;
    bool collect_truncated;     /* the body was longer than collect_cap */

    /* private */
    struct http_limits limits;
    bool head_request;
    int state;
    uint64_t offset;            /* input bytes used since init/reset */
    uint64_t remaining;         /* bytes left in the body or the current chunk */
    size_t head_len;
    size_t line_start;
    size_t header_count;
    int interim_count;
    size_t chunk_line_len;
    size_t trailer_bytes;
    struct http_header_pos headers[HTTP_HEADER_COUNT_MAX];
    char head[HTTP_HEADER_BYTES_MAX + 1];
};

/* Default limits (the maxima). */
struct http_limits http_limits_default(void);

/* Prepares `r` for one response. `limits` NULL = defaults; larger values than the
 * maxima are clamped. `head_request`: the request was HEAD (no body follows). */
void http_response_init(struct http_response *r, const struct http_limits *limits,
                        bool head_request);

/* Readies `r` for the next response on the same connection, keeping limits and
 * the collect buffer (emptied). */
void http_response_reset(struct http_response *r, bool head_request);

/* Asks the parser to also copy body bytes into buf[0..cap) (for small XML
 * bodies); what does not fit sets collect_truncated. Call before feeding. */
void http_response_collect(struct http_response *r, uint8_t *buf, size_t cap);

/* Parses from data[0..len) (len may be 0). Sets *used to the bytes used and, on
 * HTTP_EVENT_BODY, *body to a slice of data. Returns one event. */
enum http_event http_response_feed(struct http_response *r, const uint8_t *data, size_t len,
                                   size_t *used, struct http_slice *body);

/* The peer closed the stream: DONE if the response is complete (or delimited by
 * the close), else ERROR with HTTP_ERR_CLOSED or HTTP_ERR_TRUNCATED. */
enum http_event http_response_eof(struct http_response *r);

/* The value of the first header called `name` (case-insensitive), trimmed and
 * NUL-terminated, or NULL. Valid after HTTP_EVENT_HEADERS until reset. */
const char *http_response_header(const struct http_response *r, const char *name);

/* Header `index` (< http_response_header_count()); false when out of range. */
size_t http_response_header_count(const struct http_response *r);
bool http_response_header_at(const struct http_response *r, size_t index, const char **name,
                             const char **value);

/* How long the server asks to wait: x-amz-retry-after (milliseconds), else
 * Retry-After (seconds, or an HTTP date compared with `now_unix`). False when
 * neither is present and valid. */
bool http_response_retry_after_ms(const struct http_response *r, int64_t now_unix,
                                  uint64_t *ms);

/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", the Date header). */
bool http_parse_date(const char *text, int64_t *unix_seconds);

/* Request writer. `error` is sticky: after the first error, writes do nothing. */
struct http_writer {
    char *buf;
    size_t cap;
    size_t len;
    enum http_error error;
    bool started;
};

void http_writer_init(struct http_writer *w, char *buf, size_t cap);

/* "METHOD target HTTP/1.1\r\n". The method is a token, the target visible ASCII. */
void http_write_request_line(struct http_writer *w, const char *method, const char *target);

/* "Name: value\r\n". Name a token; value visible ASCII, spaces and tabs. */
void http_write_header(struct http_writer *w, const char *name, const char *value);
void http_write_header_u64(struct http_writer *w, const char *name, uint64_t value);

/* Writes the blank line that ends the head. Returns w->error (HTTP_OK: w->buf
 * holds w->len bytes to send). */
enum http_error http_write_end(struct http_writer *w);

/* The whole head in one call: request line, Host, the headers, Content-Length
 * when content_length >= 0, and the blank line. */
enum http_error http_write_request(struct http_writer *w, const char *method,
                                   const char *target, const char *host,
                                   const struct http_header *headers, size_t count,
                                   int64_t content_length);

/* One sentence that says what was wrong ("Content-Length and Transfer-Encoding
 * both present"). */
const char *http_strerror(enum http_error error);

#endif
