/* upload: drives s3/upload's state machines over the loop's connections.
 *
 *   struct upload_service svc;                 one per process: endpoint, credentials,
 *   upload_service_init(&svc, loop, cfg, &e);  CA bundle, a pool of keep-alive connections
 *
 *   struct upload_job job;                     one per object
 *   upload_job_start(&svc, &job, key, key_len, produce, done, ctx);
 *       produce(ctx, buf, cap, &end, &err) -> bytes written into buf  (the body, in slices)
 *       done(job, ctx, result | error)                                (exactly once)
 *
 *   upload_service_close(&svc, fn, ctx);       closes the connections (after the jobs)
 *
 * One request occupies one connection from the pool; a connection is reused while the
 * server keeps it alive (HTTP/1.1 keep-alive), but not after UPLOAD_KEEPALIVE_IDLE_MS
 * unused: servers close idle connections, and a request sent on one that was just
 * closed fails (and counts as a retry, as botocore counts it). At most
 * s3.uploads_in_flight jobs run at once (more wait in order); each job has at most
 * s3.uploads_in_flight requests in flight (parts of one multipart upload).
 *
 * Per request:
 *
 *   [connect + TLS handshake, if the connection is not open]
 *   recv armed ---------------------------------------------> response parsed (s3/http)
 *   send head, then the body in UPLOAD_SEND_SLICE_BYTES slices   |
 *   a watchdog fails the request when no byte moved for          v
 *   s3.request_timeout                                 s3_upload_response()
 *                                                      or s3_upload_transport_error()
 *
 * The response is read while the body is still going out, so an early answer (403
 * before the body, a reset after it) is seen and reported as what it is.
 *
 * The producer is called from the loop with at most UPLOAD_PRODUCE_SLICE_BYTES per
 * turn, then the job yields to the loop (a 0 ms timer), so producing a large body
 * (encoding a Parquet file) never holds the loop for long. It fills `buf` with up to
 * `cap` bytes and returns how many; it sets *end at the end of the body; it returns 0
 * with err->code != 0 to give the upload up (a multipart upload is then aborted). */
#ifndef LW_UPLOAD_H
#define LW_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "loop.h"
#include "s3/upload.h"
#include "tls.h"

enum {
    UPLOAD_CONNS_MAX = 64,                   /* connections in the pool */
    UPLOAD_RECV_BYTES = 16 * 1024,           /* response bytes read at once */
    UPLOAD_SEND_SLICE_BYTES = 1024 * 1024,   /* body bytes handed to one send */
    UPLOAD_PRODUCE_SLICE_BYTES = 4 * 1024 * 1024, /* body bytes produced per loop turn */
    UPLOAD_PRODUCE_CALLS_MAX = 64,           /* producer calls per loop turn */
    UPLOAD_KEEPALIVE_IDLE_MS = 4000,         /* an idle connection older than this is closed */
};

struct upload_service;
struct upload_job;

typedef size_t (*upload_produce_fn)(void *context, uint8_t *buf, size_t cap, bool *end,
                                    struct lw_err *err);

/* `result` on success (err NULL), else `err` (result NULL). The job may be started
 * again (another key) from inside the callback. */
typedef void (*upload_done_fn)(struct upload_job *job, void *context,
                               const struct s3_upload_result *result,
                               const struct s3_upload_error *err);

typedef void (*upload_closed_fn)(struct upload_service *svc, void *context);

/* One pooled connection and the request it carries (private). */
struct upload_conn {
    struct upload_service *svc;
    struct tls_transport transport;
    uint32_t index;
    bool active;                  /* a request is assigned */
    struct upload_job *job;
    struct s3_upload_request req;
    struct http_response response;
    uint8_t rbuf[UPLOAD_RECV_BYTES];

    bool connecting, sending, receiving, closing;
    int64_t last_used_ms;         /* when its last request ended */
    bool response_done;
    bool got_bytes;               /* any response byte arrived */
    bool must_close;              /* the connection cannot carry another request */
    int fail_kind;                /* enum s3_upload_net, or -1 */
    char fail_detail[S3_UPLOAD_DETAIL_MAX];
    size_t body_off;              /* body bytes handed to sends so far */
    bool head_sent;
    int64_t last_progress_ms;
    struct loop_op watchdog;
    bool watchdog_armed;
};

/* One object being uploaded (caller-owned; private fields). */
struct upload_job {
    struct upload_service *svc;
    struct s3_upload *u;          /* allocated at start, freed at the end */
    uint8_t *mem;
    size_t mem_len;
    char key_text[256];           /* for log lines */
    upload_produce_fn produce;
    upload_done_fn done;
    void *context;
    bool running;                 /* started, not yet reported */
    bool queued;                  /* waiting for a free job slot */
    bool producer_ended;
    bool reporting;               /* inside done(): no new work */
    struct upload_job *next;      /* service queue */
    bool waiting_conn;            /* on the service's list of jobs waiting for a connection */
    struct upload_job *wait_next;
    bool out_of_memory;           /* its buffers could not be allocated */
    struct loop_op kick;          /* 0 ms timer: produce more after yielding */
    bool kick_armed;
    struct loop_op wake;          /* a retry's backoff */
    bool wake_armed;
    int64_t wake_at_ms;
};

struct upload_service {
    struct loop *loop;
    struct s3_credentials cred;
    char access_key_id[CONFIG_KEY_ID_MAX + 1];
    const struct config *cfg;     /* borrowed; secrets read through it */
    bool tls;
    struct tls_anchors anchors;
    struct s3_upload_config base; /* per-job copy with the key filled in */
    uint32_t jobs_max, jobs_running;
    struct upload_job *queue_head, *queue_tail;  /* jobs waiting for a slot */
    struct upload_job *waiters;                   /* running jobs waiting for a connection */
    struct upload_conn *conns;    /* conn_count, allocated at init */
    uint32_t conn_count;
    bool closing;
    uint32_t close_pending;
    upload_closed_fn closed_fn;
    void *closed_context;
    uint64_t objects_done, objects_failed, bytes_done;
};

/* Prepares the service from the validated config: endpoint, bucket, region,
 * addressing, credentials, part size, concurrency, timeouts; loads the CA bundle for
 * https:// endpoints. False with `err` set (bad CA bundle, missing credentials...).
 * `cfg` must outlive the service. */
bool upload_service_init(struct upload_service *svc, struct loop *loop, const struct config *cfg,
                         struct lw_err *err);

/* Starts uploading `key` (raw bytes, copied): the body comes from `produce`, the
 * outcome goes to `done` (always from the loop, never from inside this call). */
void upload_job_start(struct upload_service *svc, struct upload_job *job, const uint8_t *key,
                      size_t key_len, upload_produce_fn produce, upload_done_fn done,
                      void *context);

/* Gives a running job up (shutdown): its multipart upload is aborted and `done`
 * reports the failure. */
void upload_job_abort(struct upload_job *job, const char *reason);

/* Closes every connection (no job may be running); `fn` runs once all are closed.
 * Then frees what the service holds. */
void upload_service_close(struct upload_service *svc, upload_closed_fn fn, void *context);

#endif
