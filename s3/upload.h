/* upload: one object to S3 / R2 / MinIO, as a sans-IO state machine. No sockets,
 * no clock, no randomness, no allocation: the driver (src/upload.c) moves the bytes,
 * says what time it is and supplies the random bits for backoff jitter.
 *
 * The body is produced incrementally (the Parquet writer encodes as it goes; the
 * total size is not known up front) into the upload's own part buffers:
 *
 *   body <= one part at "end of body"      ->  PutObject
 *   more than one part                     ->  CreateMultipartUpload (as soon as a byte
 *                                              beyond the first part arrives),
 *                                              UploadPart 1..N as each part fills,
 *                                              CompleteMultipartUpload after the end
 *   given up (error, retries exhausted,    ->  AbortMultipartUpload (best effort,
 *     or s3_upload_abort())                    retried a few times), then FAILED
 *
 * Every part but the last is exactly part_size_bytes long, the last one is no longer
 * (R2 requires equal part sizes). A body of exactly k parts gives k parts, never an
 * empty k+1st; a body of exactly one part is a single PutObject.
 *
 * Driving it (BearSSL-engine style: ask what is wanted, move bytes, acknowledge):
 *
 *   s3_upload_init(u, &cfg, mem, s3_upload_memory_bytes(&cfg));
 *   for (;;) {
 *       unsigned w = s3_upload_want(u, now_ms);
 *       if (w & S3_UPLOAD_WANT_DONE)   { use s3_upload_result(u); break; }
 *       if (w & S3_UPLOAD_WANT_FAILED) { report s3_upload_error(u)->msg; break; }
 *       if (w & S3_UPLOAD_WANT_REQUEST) {
 *           s3_upload_request_take(u, &now, &req);        // signed now
 *           send req.head[0..head_len) then req.body[0..body_len) on a connection;
 *           http_response_init(&r, NULL, req.head_request);
 *           http_response_collect(&r, req.response_buf, req.response_cap);
 *           ... feed the answer to the parser until HTTP_EVENT_DONE, then
 *           s3_upload_response(u, req.id, &r, &now);
 *           ... or, on reset / timeout / TLS error / HTTP_EVENT_ERROR:
 *           s3_upload_transport_error(u, req.id, S3_UPLOAD_NET_RESET, "detail", &now);
 *       }
 *       if (w & S3_UPLOAD_WANT_BODY) {
 *           uint8_t *p = s3_upload_body_buf(u, &len);     // room for len bytes
 *           n = produce(p, len); s3_upload_body_ack(u, n); // or s3_upload_body_end(u)
 *       }
 *       if (w & S3_UPLOAD_WANT_TIMER) wake at s3_upload_wake_ms(u) at the latest;
 *       otherwise wait for the answers of requests in flight.
 *   }
 *
 * Several requests can be in flight at once (up to `concurrency`), each with its
 * own id; every request taken must be answered exactly once, by _response() or
 * _transport_error(). Its head and body stay valid and unchanged until then (a retry
 * is a new request, signed again, with the same body from the upload's buffers).
 * When DONE or FAILED is reported, nothing is in flight and no byte of `mem` is
 * referenced any more.
 *
 * Integrity: each request carries x-amz-content-sha256 = hex SHA-256 of its body
 * (signed) and, when it has a body, Content-MD5; never aws-chunked, never
 * x-amz-checksum-*, never Expect: 100-continue. Each ETag is checked: PutObject and
 * UploadPart against the MD5 of what was sent, the multipart result against
 * md5(md5(part 1) .. md5(part N))-N. CompleteMultipartUpload answered 200 with an
 * <Error> body (or a cut-short one) is retried; a retried Complete answered
 * NoSuchUpload (the first attempt did succeed) is resolved by a HEAD of the key whose
 * ETag must be the expected multipart ETag.
 *
 * Retries: 500, 502, 503, 504, 429, SlowDown, RequestTimeout, InternalError and the
 * other transient codes, connection failures, resets, timeouts, TLS I/O errors and
 * broken responses; at most attempts_max attempts per request, with full-jitter
 * backoff  delay = random(0,1) * min(base * 2^(failures-1), cap),  at least what
 * Retry-After / x-amz-retry-after asks for (bounded by the cap). Other 4xx are not
 * retried and give an error that says what to do.
 *
 * Memory: the caller's `mem` holds parts_held_max part buffers and the part MD5s:
 *
 *   mem: +-----------+-----------+-----+-------------+------------------------+
 *        | buffer 0  | buffer 1  | ... | buffer H-1  | MD5 of part 1..Pmax    |
 *        | part_size | part_size |     | part_size   | 16 bytes each          |
 *        +-----------+-----------+-----+-------------+------------------------+
 *        (the buffers also hold the CompleteMultipartUpload body at the end; the
 *         region is never smaller than that body for Pmax parts)
 *
 * Body bytes are accepted only while a buffer has room: when all parts_held_max are
 * full (waiting for the upload id, in flight, or in backoff), BODY is not offered
 * (back-pressure to the producer) until an UploadPart is acknowledged.
 *
 * Secrets: the secret key and the session token never appear in an error or note.
 */
#ifndef LW_S3_UPLOAD_H
#define LW_S3_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3/http.h"
#include "s3/sigv4.h"
#include "s3/xml.h"

#define S3_UPLOAD_MIB (UINT64_C(1) << 20)

/* Limits of S3 and R2, and of this module. */
#define S3_UPLOAD_PART_BYTES_DEFAULT (16 * S3_UPLOAD_MIB)
#define S3_UPLOAD_PART_BYTES_MIN (5 * S3_UPLOAD_MIB)          /* S3: all parts but the last */
#define S3_UPLOAD_PART_BYTES_MAX ((UINT64_C(5) << 30) - 5 * S3_UPLOAD_MIB) /* R2: part or PUT */

enum {
    S3_UPLOAD_PART_COUNT_MAX = 10000,   /* parts in one multipart upload (S3, R2) */
    S3_UPLOAD_PARTS_HELD_MIN = 2,       /* part 1 must wait for the next byte to know
                                           PutObject from multipart */
    S3_UPLOAD_PARTS_HELD_MAX = 64,
    S3_UPLOAD_PARTS_HELD_DEFAULT = 4,
    S3_UPLOAD_CONCURRENCY_MAX = 16,     /* requests in flight */
    S3_UPLOAD_CONCURRENCY_DEFAULT = 4,
    S3_UPLOAD_ATTEMPTS_MAX = 100,
    S3_UPLOAD_ATTEMPTS_DEFAULT = 5,     /* per request, the first one included */
    S3_UPLOAD_ABORT_ATTEMPTS_DEFAULT = 3,
    S3_UPLOAD_TIMEOUT_MS_DEFAULT = 60000,
    S3_UPLOAD_BACKOFF_BASE_MS_DEFAULT = 100,
    S3_UPLOAD_BACKOFF_CAP_MS_DEFAULT = 20000,
    S3_UPLOAD_BACKOFF_CAP_MS_MAX = 3600000,
    S3_UPLOAD_HEAD_MAX = 16384,         /* request line + headers of one request */
    S3_UPLOAD_RESPONSE_MAX = 8192,      /* response body kept (XML) */
    S3_UPLOAD_ID_MAX = 1024,            /* bytes of an UploadId */
    S3_UPLOAD_ETAG_MAX = 48,            /* 32 hex + "-10000", no quotes */
    S3_UPLOAD_MSG_MAX = 512,
    S3_UPLOAD_NOTE_MAX = 320,
    S3_UPLOAD_DETAIL_MAX = 160,         /* transport error detail kept */
    S3_UPLOAD_USER_AGENT_MAX = 128,
    S3_UPLOAD_CONTENT_TYPE_MAX = 128,
    /* One <Part> of the Complete body, and the whole body for the most parts. */
    S3_UPLOAD_COMPLETE_PART_BYTES = 90,
    S3_UPLOAD_COMPLETE_FRAME_BYTES = 128,
};

/* What the driver is asked for; s3_upload_want() returns a set of these. */
enum {
    S3_UPLOAD_WANT_REQUEST = 1u << 0,   /* a request is ready: s3_upload_request_take() */
    S3_UPLOAD_WANT_BODY = 1u << 1,      /* room for body bytes: s3_upload_body_buf() */
    S3_UPLOAD_WANT_TIMER = 1u << 2,     /* a retry waits: wake at s3_upload_wake_ms() */
    S3_UPLOAD_WANT_DONE = 1u << 3,      /* finished: s3_upload_result() (alone) */
    S3_UPLOAD_WANT_FAILED = 1u << 4,    /* given up: s3_upload_error() (alone) */
};

enum s3_upload_op {
    S3_UPLOAD_OP_PUT,       /* PutObject (the whole body) */
    S3_UPLOAD_OP_CREATE,    /* CreateMultipartUpload */
    S3_UPLOAD_OP_PART,      /* UploadPart */
    S3_UPLOAD_OP_COMPLETE,  /* CompleteMultipartUpload */
    S3_UPLOAD_OP_ABORT,     /* AbortMultipartUpload */
    S3_UPLOAD_OP_HEAD,      /* HeadObject (after a retried Complete met NoSuchUpload) */
};

/* Why a request got no HTTP response. */
enum s3_upload_net {
    S3_UPLOAD_NET_CONNECT,      /* connection refused / unreachable: retried */
    S3_UPLOAD_NET_RESET,        /* reset or closed while sending or receiving: retried */
    S3_UPLOAD_NET_TIMEOUT,      /* no progress for timeout_ms: retried */
    S3_UPLOAD_NET_TLS_IO,       /* TLS record or alert error during I/O: retried */
    S3_UPLOAD_NET_HTTP,         /* malformed or truncated response (HTTP_EVENT_ERROR): retried */
    S3_UPLOAD_NET_TLS_CERT,     /* certificate or handshake refused: not retried */
    S3_UPLOAD_NET_CANCELLED,    /* the driver dropped the request (shutting down): not retried */
};

/* What happened to a request, as returned by _response() and _transport_error(). */
enum s3_upload_outcome {
    S3_UPLOAD_OUTCOME_OK,       /* it succeeded */
    S3_UPLOAD_OUTCOME_RETRY,    /* it failed and will be retried: s3_upload_note() says why, when */
    S3_UPLOAD_OUTCOME_GAVE_UP,  /* it failed for good: the upload is failing (error set) */
    S3_UPLOAD_OUTCOME_IGNORED,  /* it ended while the upload was already failing */
};

enum s3_upload_err {
    S3_UPLOAD_ERR_NONE = 0,
    S3_UPLOAD_ERR_CONFIG,       /* bad configuration (init), or a request that can't be signed */
    S3_UPLOAD_ERR_SIGNATURE,    /* 403 SignatureDoesNotMatch, InvalidAccessKeyId */
    S3_UPLOAD_ERR_CLOCK,        /* 403 RequestTimeTooSkewed */
    S3_UPLOAD_ERR_ACCESS,       /* 403 AccessDenied, ExpiredToken, other 401/403 */
    S3_UPLOAD_ERR_NO_BUCKET,    /* 404 NoSuchBucket */
    S3_UPLOAD_ERR_REFUSED,      /* another 4xx / 501: not retried */
    S3_UPLOAD_ERR_RETRIES,      /* retryable failures until attempts_max */
    S3_UPLOAD_ERR_NETWORK,      /* a transport error that is not retried (TLS certificate) */
    S3_UPLOAD_ERR_INTEGRITY,    /* an ETag that is not what was sent */
    S3_UPLOAD_ERR_PROTOCOL,     /* an answer that makes no sense (no UploadId, no ETag) */
    S3_UPLOAD_ERR_LOST,         /* NoSuchUpload: the multipart upload vanished */
    S3_UPLOAD_ERR_TOO_LARGE,    /* the body needs more than part_count_max parts */
    S3_UPLOAD_ERR_CANCELLED,    /* s3_upload_abort() */
};

struct s3_upload_config {
    const char *endpoint_host;          /* "acct.r2.cloudflarestorage.com", "127.0.0.1" */
    uint16_t endpoint_port;             /* 0: the scheme's default */
    bool tls;                           /* https */
    enum s3_addressing addressing;      /* path-style (R2, MinIO) or virtual-hosted (AWS) */
    const char *bucket;
    const char *region;                 /* "auto" for R2 */
    const struct s3_credentials *cred;  /* borrowed: must outlive the upload */
    const uint8_t *key;                 /* object key, raw bytes (copied) */
    size_t key_len;
    const char *content_type;           /* NULL: no Content-Type */
    const char *user_agent;             /* NULL: none */

    /* Numbers: 0 means the default. */
    uint64_t part_size_bytes;           /* default 16 MiB; [part_size_min_bytes, 5 GiB - 5 MiB] */
    uint64_t part_size_min_bytes;       /* default S3's 5 MiB; lowered only by tests, like
                                           moto's S3_UPLOAD_PART_MIN_SIZE */
    uint32_t part_count_max;            /* default and at most 10000 */
    uint32_t parts_held_max;            /* part buffers in memory; default 4, >= 2 */
    uint32_t concurrency;               /* requests in flight; default 4, <= 16 */
    uint32_t attempts_max;              /* per request; default 5 */
    uint32_t abort_attempts_max;        /* for AbortMultipartUpload; default 3 */
    uint32_t timeout_ms;                /* per request: no progress for this long = timeout */
    uint32_t backoff_base_ms;           /* default 100 */
    uint32_t backoff_cap_ms;            /* default 20000 */
};

/* The current time and fresh random bits, given with every event that may sign a
 * request or schedule a retry. */
struct s3_upload_now {
    int64_t mono_ms;        /* monotonic clock: backoff deadlines */
    int64_t unix_s;         /* wall clock, UTC: signing, Retry-After dates, clock-skew report */
    uint64_t random;        /* uniform random bits: backoff jitter (the high 32 are used) */
};

/* A request to send, from s3_upload_request_take(). */
struct s3_upload_request {
    uint32_t id;                /* pass back with the answer */
    enum s3_upload_op op;
    uint32_t part_number;       /* UploadPart: 1..; otherwise 0 */
    uint32_t attempt;           /* 1 for the first try */
    bool head_request;          /* HEAD: no body comes back (http_response_init) */
    const char *head;           /* request line, headers, blank line */
    size_t head_len;
    const uint8_t *body;        /* NULL when body_len is 0 */
    size_t body_len;
    uint8_t *response_buf;      /* give to http_response_collect() */
    size_t response_cap;
    uint32_t timeout_ms;        /* fail with S3_UPLOAD_NET_TIMEOUT after this long idle */
};

struct s3_upload_result {
    char etag[S3_UPLOAD_ETAG_MAX];  /* unquoted: "<md5 hex>" or "<md5 hex>-<parts>" */
    uint64_t size_bytes;
    uint32_t part_count;            /* 1 for a PutObject */
    bool multipart;
    uint32_t requests;              /* requests sent, retries included */
    uint32_t retries;
};

struct s3_upload_error {
    enum s3_upload_err code;
    int http_status;                    /* of the answer that decided it; 0 if none */
    char s3_code[S3_XML_CODE_MAX];      /* "SlowDown", "" */
    char request_id[S3_XML_ID_MAX];     /* for the provider's support, "" if none */
    char msg[S3_UPLOAD_MSG_MAX];        /* what failed and what to do about it */
};

/* ------------------------------------------------------------------------- */
/* The state (caller-owned, ~480 KiB: allocate it once per concurrent upload).  */

struct s3_upload_opstate {
    uint8_t kind;                       /* enum s3_upload_op */
    uint8_t state;                      /* idle, ready, in flight (upload.c) */
    uint32_t attempts;                  /* attempts started */
    int64_t not_before_ms;              /* ready: not before this time (backoff) */
    int slot;                           /* in flight: index into slots */
};

struct s3_upload_part {
    uint8_t state;                      /* free, filling, sealed (upload.c) */
    uint32_t number;                    /* 1.. */
    uint64_t len;
    struct s3_body_hash hash;
    char sha256_hex[S3_SHA256_HEX_LEN + 1];
    char md5_base64[S3_MD5_BASE64_LEN + 1];
    uint8_t md5[16];
    struct s3_upload_opstate op;
};

struct s3_upload_slot {
    bool busy;
    uint32_t id;
    struct s3_upload_opstate *op;
    char head[S3_UPLOAD_HEAD_MAX];
    uint8_t response[S3_UPLOAD_RESPONSE_MAX];
};

struct s3_upload {
    /* configuration, checked and copied */
    struct s3_upload_config cfg;        /* numbers resolved; strings point below */
    char host[S3_SIGV4_HOST_MAX + 1];   /* the Host header */
    char endpoint[S3_SIGV4_HOST_MAX + 1];
    char bucket[S3_BUCKET_MAX + 1];
    char region[S3_SIGV4_REGION_MAX + 1];
    uint8_t key[S3_KEY_MAX];
    size_t key_len;
    char key_text[S3_UPLOAD_MSG_MAX / 4];   /* printable key for messages */
    char path[S3_SIGV4_PATH_MAX + 1];   /* raw path: "/bucket/key" or "/key" */
    size_t path_len;
    char content_type[S3_UPLOAD_CONTENT_TYPE_MAX + 1];
    char user_agent[S3_UPLOAD_USER_AGENT_MAX + 1];

    /* memory */
    uint8_t *mem;
    size_t mem_len;
    uint8_t (*md5s)[16];                /* in mem, after the buffers */

    /* progress */
    int phase;                          /* (upload.c) */
    bool ended;                         /* s3_upload_body_end() was called */
    bool failing;                       /* giving up: draining, then abort */
    int fill;                           /* buffer being filled, -1 if none */
    int window;                         /* buffer of the last body_buf() window, -1 */
    uint32_t part_count;                /* parts started */
    uint32_t parts_done;
    uint64_t size_bytes;
    char upload_id[S3_UPLOAD_ID_MAX + 1];
    char expected_etag[S3_UPLOAD_ETAG_MAX];
    size_t complete_len;                /* Complete body in mem[0..complete_len) */
    char complete_sha256[S3_SHA256_HEX_LEN + 1];
    char complete_md5[S3_MD5_BASE64_LEN + 1];
    struct s3_upload_opstate ctl;       /* PUT, CREATE, COMPLETE, ABORT or HEAD */
    struct s3_upload_part parts[S3_UPLOAD_PARTS_HELD_MAX];
    struct s3_upload_slot slots[S3_UPLOAD_CONCURRENCY_MAX];
    uint32_t in_flight;
    uint32_t next_id;

    struct s3_upload_result result;
    struct s3_upload_error err;
    char note[S3_UPLOAD_NOTE_MAX];

    struct s3_sigv4 sig;
    struct s3_sigv4_key key_cache;
};

/* ------------------------------------------------------------------------- */
/* API                                                                          */

/* Bytes of `mem` the upload needs for `cfg` (defaults applied): parts_held_max
 * buffers of part_size_bytes (at least the Complete body for part_count_max parts)
 * plus 16 bytes per part. 0 when the configuration is out of range. */
size_t s3_upload_memory_bytes(const struct s3_upload_config *cfg);

/* Checks and copies `cfg` (0 numbers take their defaults), signs a probe request to
 * check the credentials and region, and readies `u` for the body. `mem` (mem_len >=
 * s3_upload_memory_bytes()) belongs to the upload until DONE or FAILED. Returns
 * false with s3_upload_error() set (code S3_UPLOAD_ERR_CONFIG) and `u` FAILED. */
bool s3_upload_init(struct s3_upload *u, const struct s3_upload_config *cfg, uint8_t *mem,
                    size_t mem_len);

/* What the upload wants at monotonic time now_ms: a set of S3_UPLOAD_WANT_*.
 * REQUEST, BODY and TIMER may come together; DONE and FAILED come alone. An empty
 * set means: wait for the answers to the requests in flight. */
unsigned s3_upload_want(const struct s3_upload *u, int64_t now_ms);

/* The earliest monotonic time at which a waiting retry becomes ready (meaningful
 * with S3_UPLOAD_WANT_TIMER); INT64_MAX when none waits. */
int64_t s3_upload_wake_ms(const struct s3_upload *u);

/* Room for body bytes: a pointer to *len writable bytes in a part buffer, or NULL
 * with *len = 0 when there is none (BODY not wanted). The bytes count once
 * s3_upload_body_ack() says how many were written. */
uint8_t *s3_upload_body_buf(struct s3_upload *u, size_t *len);

/* n bytes (<= the last body_buf() length) were written at the last body_buf()
 * pointer. The upload hashes them; a full part is queued for upload. */
void s3_upload_body_ack(struct s3_upload *u, size_t n);

/* Copies up to len bytes of data into the upload (body_buf + ack in a loop);
 * returns how many were taken (fewer when the buffers are full). */
size_t s3_upload_body_write(struct s3_upload *u, const void *data, size_t len);

/* The body is complete: the last part (or the PutObject) is queued. */
void s3_upload_body_end(struct s3_upload *u);

/* Takes the most urgent ready request (the control request first, then parts in
 * order), signs it at now->unix_s and marks it in flight. Returns false (and
 * fills nothing) when no request is ready; also false when signing fails, which
 * fails the upload. */
bool s3_upload_request_take(struct s3_upload *u, const struct s3_upload_now *now,
                            struct s3_upload_request *req);

/* The answer to request `id`, after the parser said HTTP_EVENT_DONE; the body is
 * read from the request's response_buf (when it was given to
 * http_response_collect()). Checks it, schedules a retry or gives up. */
enum s3_upload_outcome s3_upload_response(struct s3_upload *u, uint32_t id,
                                          const struct http_response *r,
                                          const struct s3_upload_now *now);

/* Request `id` got no (usable) response: `kind` says why, `detail` (may be NULL,
 * copied, truncated) says more for the error message ("ECONNRESET"). */
enum s3_upload_outcome s3_upload_transport_error(struct s3_upload *u, uint32_t id,
                                                 enum s3_upload_net kind, const char *detail,
                                                 const struct s3_upload_now *now);

/* Gives the upload up (the producer failed, shutdown): `reason` goes into the
 * error. Requests in flight must still be answered; a multipart upload is then
 * aborted. No effect once DONE or FAILED. */
void s3_upload_abort(struct s3_upload *u, const char *reason);

/* After S3_UPLOAD_WANT_DONE. */
const struct s3_upload_result *s3_upload_result(const struct s3_upload *u);

/* After S3_UPLOAD_WANT_FAILED (or during failing): code and message. */
const struct s3_upload_error *s3_upload_error(const struct s3_upload *u);

/* One line about the last retry decision, for the log ("UploadPart 3 of
 * s3://b/k: 503 SlowDown (attempt 1 of 5); retrying in 83 ms"); "" if none. */
const char *s3_upload_note(const struct s3_upload *u);

/* Requests in flight now. */
uint32_t s3_upload_in_flight(const struct s3_upload *u);

/* "PutObject", "UploadPart", ... */
const char *s3_upload_op_name(enum s3_upload_op op);

/* The backoff before retry number `failures` (1 = after the first failure):
 * window = min(base_ms * 2^(failures-1), cap_ms); delay = window * (random >> 32) / 2^32.
 * Exposed for the tests and the driver's logs. */
uint64_t s3_upload_backoff_ms(uint32_t failures, uint32_t base_ms, uint32_t cap_ms,
                              uint64_t random);

#endif
