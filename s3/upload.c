/* upload: PutObject / multipart state machine and retry policy (see upload.h).
 * In order: configuration, helpers, the body, what is wanted, requests out, answers
 * in (the retry policy and the error messages). */
#include "s3/upload.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Where the upload is (u->phase). */
enum phase {
    UP_PH_BODY,         /* receiving the first part: PutObject or multipart is not known */
    UP_PH_PUT,          /* the body ended within one part: PutObject */
    UP_PH_MULTIPART,    /* CreateMultipartUpload, then parts as they fill */
    UP_PH_COMPLETE,     /* every part acknowledged: CompleteMultipartUpload */
    UP_PH_HEAD,         /* a retried Complete met NoSuchUpload: HEAD the key */
    UP_PH_ABORT,        /* giving up a multipart upload: AbortMultipartUpload */
    UP_PH_DONE,
    UP_PH_FAILED,
};

/* A request's state (s3_upload_opstate.state). */
enum op_state {
    UP_OP_IDLE,         /* nothing to send (not yet, or no more) */
    UP_OP_READY,        /* to send at not_before_ms or later */
    UP_OP_FLIGHT,       /* sent, answer awaited */
};

/* A part buffer's state (s3_upload_part.state). */
enum part_state {
    UP_PART_FREE,
    UP_PART_FILLING,    /* receiving body bytes (never full: full parts are sealed) */
    UP_PART_SEALED,     /* complete, hashed: waiting, in flight, or in backoff */
};

static void up_abort_failed(struct s3_upload *u, const char *msg);

/* ------------------------------------------------------------------------- */
/* Configuration                                                               */

/* The largest CompleteMultipartUpload body for `parts` parts. */
static size_t complete_bytes_max(uint32_t parts)
{
    return S3_UPLOAD_COMPLETE_FRAME_BYTES + (size_t)parts * S3_UPLOAD_COMPLETE_PART_BYTES;
}

/* Applies the defaults to the numbers of `c` and checks their ranges; on failure
 * writes why to why[0..cap). */
static bool resolve_numbers(struct s3_upload_config *c, char *why, size_t cap)
{
    if (c->part_size_bytes == 0) c->part_size_bytes = S3_UPLOAD_PART_BYTES_DEFAULT;
    if (c->part_size_min_bytes == 0) c->part_size_min_bytes = S3_UPLOAD_PART_BYTES_MIN;
    if (c->part_count_max == 0) c->part_count_max = S3_UPLOAD_PART_COUNT_MAX;
    if (c->parts_held_max == 0) c->parts_held_max = S3_UPLOAD_PARTS_HELD_DEFAULT;
    if (c->concurrency == 0) c->concurrency = S3_UPLOAD_CONCURRENCY_DEFAULT;
    if (c->attempts_max == 0) c->attempts_max = S3_UPLOAD_ATTEMPTS_DEFAULT;
    if (c->abort_attempts_max == 0) c->abort_attempts_max = S3_UPLOAD_ABORT_ATTEMPTS_DEFAULT;
    if (c->timeout_ms == 0) c->timeout_ms = S3_UPLOAD_TIMEOUT_MS_DEFAULT;
    if (c->backoff_base_ms == 0) c->backoff_base_ms = S3_UPLOAD_BACKOFF_BASE_MS_DEFAULT;
    if (c->backoff_cap_ms == 0) c->backoff_cap_ms = S3_UPLOAD_BACKOFF_CAP_MS_DEFAULT;

    if (c->part_size_min_bytes > S3_UPLOAD_PART_BYTES_MIN) {
        snprintf(why, cap, "part size minimum %" PRIu64 " bytes: over S3's %" PRIu64,
                 c->part_size_min_bytes, S3_UPLOAD_PART_BYTES_MIN);
        return false;
    }
    if (c->part_size_bytes < c->part_size_min_bytes || c->part_size_bytes > S3_UPLOAD_PART_BYTES_MAX) {
        snprintf(why, cap, "part size %" PRIu64 " bytes: want %" PRIu64 " (5 MiB) .. %" PRIu64
                 " (5 GiB - 5 MiB, R2's limit)", c->part_size_bytes, c->part_size_min_bytes,
                 S3_UPLOAD_PART_BYTES_MAX);
        return false;
    }
    if (c->part_count_max > S3_UPLOAD_PART_COUNT_MAX) {
        snprintf(why, cap, "part count limit %" PRIu32 ": over S3's %d", c->part_count_max,
                 S3_UPLOAD_PART_COUNT_MAX);
        return false;
    }
    if (c->parts_held_max < S3_UPLOAD_PARTS_HELD_MIN || c->parts_held_max > S3_UPLOAD_PARTS_HELD_MAX) {
        snprintf(why, cap, "parts held in memory %" PRIu32 ": want %d..%d", c->parts_held_max,
                 S3_UPLOAD_PARTS_HELD_MIN, S3_UPLOAD_PARTS_HELD_MAX);
        return false;
    }
    if (c->concurrency > S3_UPLOAD_CONCURRENCY_MAX) {
        snprintf(why, cap, "concurrency %" PRIu32 ": want 1..%d", c->concurrency,
                 S3_UPLOAD_CONCURRENCY_MAX);
        return false;
    }
    if (c->attempts_max > S3_UPLOAD_ATTEMPTS_MAX || c->abort_attempts_max > S3_UPLOAD_ATTEMPTS_MAX) {
        snprintf(why, cap, "attempts %" PRIu32 " (abort %" PRIu32 "): want 1..%d", c->attempts_max,
                 c->abort_attempts_max, S3_UPLOAD_ATTEMPTS_MAX);
        return false;
    }
    if (c->backoff_cap_ms > S3_UPLOAD_BACKOFF_CAP_MS_MAX || c->backoff_base_ms > c->backoff_cap_ms) {
        snprintf(why, cap, "backoff base %" PRIu32 " ms, cap %" PRIu32 " ms: want base <= cap <= %d",
                 c->backoff_base_ms, c->backoff_cap_ms, S3_UPLOAD_BACKOFF_CAP_MS_MAX);
        return false;
    }
    return true;
}

/* The bytes of part buffers (never less than the largest Complete body), or
 * SIZE_MAX when that overflows. */
static size_t buffer_region_bytes(const struct s3_upload_config *c)
{
    if (c->part_size_bytes > SIZE_MAX / c->parts_held_max) return SIZE_MAX;
    size_t buffers = (size_t)c->part_size_bytes * c->parts_held_max;
    size_t complete = complete_bytes_max(c->part_count_max);
    return buffers > complete ? buffers : complete;
}

size_t s3_upload_memory_bytes(const struct s3_upload_config *cfg)
{
    assert(cfg != NULL);
    struct s3_upload_config c = *cfg;
    char why[S3_UPLOAD_MSG_MAX];
    if (!resolve_numbers(&c, why, sizeof why)) return 0;
    size_t region = buffer_region_bytes(&c);
    size_t md5s = (size_t)c.part_count_max * 16;
    if (region == SIZE_MAX || region > SIZE_MAX - md5s) return 0;
    return region + md5s;
}

__attribute__((format(printf, 2, 3))) static bool init_fail(struct s3_upload *u, const char *fmt, ...)
{
    u->err.code = S3_UPLOAD_ERR_CONFIG;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->err.msg, sizeof u->err.msg, fmt, ap);
    va_end(ap);
    u->phase = UP_PH_FAILED;
    return false;
}

/* Copies NUL-terminated `s` into out[0..cap) if it fits and has only visible ASCII
 * and spaces (what a header value may carry). */
static bool copy_text(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    memcpy(out, s, n + 1);
    return true;
}

/* The key as messages show it: printable ASCII kept, other bytes as \xNN, cut with
 * "..." when long. */
static void key_for_messages(const uint8_t *key, size_t len, char *out, size_t cap)
{
    assert(cap > 8);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o + 5 + 4 > cap) {
            memcpy(out + o, "...", 4);
            return;
        }
        if (key[i] >= 0x20 && key[i] < 0x7f && key[i] != '\\') {
            out[o++] = (char)key[i];
        } else {
            snprintf(out + o, cap - o, "\\x%02x", key[i]);
            o += 4;
        }
    }
    out[o] = '\0';
}

bool s3_upload_init(struct s3_upload *u, const struct s3_upload_config *cfg, uint8_t *mem,
                    size_t mem_len)
{
    assert(u != NULL && cfg != NULL);
    memset(u, 0, sizeof *u);
    u->fill = -1;
    u->window = -1;
    u->cfg = *cfg;
    struct s3_upload_config *c = &u->cfg;
    char why[S3_UPLOAD_MSG_MAX];
    if (!resolve_numbers(c, why, sizeof why)) return init_fail(u, "%s", why);
    if (c->concurrency == 0) return init_fail(u, "concurrency 0: want 1..%d", S3_UPLOAD_CONCURRENCY_MAX);

    if (c->endpoint_host == NULL || c->endpoint_host[0] == '\0')
        return init_fail(u, "S3 endpoint host not set");
    if (c->bucket == NULL || c->bucket[0] == '\0') return init_fail(u, "S3 bucket not set");
    if (c->region == NULL || c->region[0] == '\0') return init_fail(u, "S3 region not set (R2: \"auto\")");
    if (c->cred == NULL || c->cred->access_key_id == NULL || c->cred->secret_access_key == NULL)
        return init_fail(u, "S3 credentials not set (access key id and secret access key)");
    if (c->key == NULL || c->key_len == 0) return init_fail(u, "object key is empty");
    if (c->key_len > S3_KEY_MAX)
        return init_fail(u, "object key of %zu bytes: over S3's %d", c->key_len, S3_KEY_MAX);
    if (!copy_text(u->endpoint, sizeof u->endpoint, c->endpoint_host))
        return init_fail(u, "S3 endpoint host: too long or with control bytes");
    if (strlen(c->bucket) > S3_BUCKET_MAX)
        return init_fail(u, "bucket name over %d bytes", S3_BUCKET_MAX);
    memcpy(u->bucket, c->bucket, strlen(c->bucket) + 1);
    if (!copy_text(u->region, sizeof u->region, c->region))
        return init_fail(u, "S3 region '%.40s': too long or with control bytes", c->region);
    memcpy(u->key, c->key, c->key_len);
    u->key_len = c->key_len;
    key_for_messages(u->key, u->key_len, u->key_text, sizeof u->key_text);
    if (c->content_type != NULL && !copy_text(u->content_type, sizeof u->content_type, c->content_type))
        return init_fail(u, "content type: over %d bytes or with control bytes", S3_UPLOAD_CONTENT_TYPE_MAX);
    if (c->user_agent != NULL && !copy_text(u->user_agent, sizeof u->user_agent, c->user_agent))
        return init_fail(u, "user agent: over %d bytes or with control bytes", S3_UPLOAD_USER_AGENT_MAX);
    c->endpoint_host = u->endpoint;
    c->bucket = u->bucket;
    c->region = u->region;
    c->key = u->key;
    c->content_type = u->content_type[0] ? u->content_type : NULL;
    c->user_agent = u->user_agent[0] ? u->user_agent : NULL;

    enum s3_sigv4_status st = s3_object_host(u->host, sizeof u->host, c->addressing, u->endpoint,
                                             c->endpoint_port, c->tls, u->bucket);
    if (st != S3_SIGV4_OK)
        return init_fail(u, "S3 endpoint '%s', bucket '%s': %s", u->endpoint, u->bucket,
                         s3_sigv4_strerror(st));
    st = s3_object_path(u->path, sizeof u->path, &u->path_len, c->addressing, u->bucket, u->key,
                        u->key_len);
    if (st != S3_SIGV4_OK)
        return init_fail(u, "bucket '%s', key '%s': %s", u->bucket, u->key_text, s3_sigv4_strerror(st));

    size_t need = s3_upload_memory_bytes(c);
    assert(need > 0);
    if (mem == NULL || mem_len < need)
        return init_fail(u, "upload memory: %zu bytes given, %zu needed", mem_len, need);
    u->mem = mem;
    u->mem_len = mem_len;
    u->md5s = (uint8_t(*)[16])(void *)(mem + buffer_region_bytes(c));

    /* A probe signature: bad credentials or region are a configuration error now,
     * not a failed request later. */
    struct s3_sigv4_input in = {
        .cred = c->cred, .region = u->region, .unix_seconds = 0, .method = "HEAD",
        .host = u->host, .path = (const uint8_t *)u->path, .path_len = u->path_len,
        .payload_hash = S3_EMPTY_SHA256_HEX,
    };
    st = s3_sigv4_sign(&u->sig, &in, &u->key_cache);
    if (st != S3_SIGV4_OK) return init_fail(u, "S3 signing: %s", u->sig.err);

    u->phase = UP_PH_BODY;
    u->next_id = 1;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Helpers                                                                     */

static uint8_t *up_buffer(const struct s3_upload *u, int index)
{
    assert(index >= 0 && (uint32_t)index < u->cfg.parts_held_max);
    return u->mem + (size_t)index * (size_t)u->cfg.part_size_bytes;
}

/* The part buffer whose request `op` is, or -1 for the control request. */
static int part_index(const struct s3_upload *u, const struct s3_upload_opstate *op)
{
    if (op == &u->ctl) return -1;
    for (uint32_t i = 0; i < u->cfg.parts_held_max; i++)
        if (op == &u->parts[i].op) return (int)i;
    assert(!"an op that is neither the control request nor a part's");
    return -1;
}

static struct s3_upload_part *up_part_of(struct s3_upload *u, const struct s3_upload_opstate *op)
{
    int i = part_index(u, op);
    return i < 0 ? NULL : &u->parts[i];
}

/* 16 bytes as 32 lowercase hex digits and a NUL. */
static void hex16(const uint8_t d[16], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[32] = '\0';
}

static void up_op_ready(struct s3_upload_opstate *op, enum s3_upload_op kind, int64_t not_before_ms)
{
    op->kind = (uint8_t)kind;
    op->state = UP_OP_READY;
    op->not_before_ms = not_before_ms;
    op->slot = -1;
}

/* "UploadPart 3 of s3://bucket/key", "PutObject of s3://bucket/key" */
static void up_describe(const struct s3_upload *u, const struct s3_upload_opstate *op, char *out,
                        size_t cap)
{
    int i = part_index(u, op);
    if (i >= 0)
        snprintf(out, cap, "UploadPart %" PRIu32 " of s3://%s/%s", u->parts[i].number, u->bucket,
                 u->key_text);
    else
        snprintf(out, cap, "%s of s3://%s/%s", s3_upload_op_name(op->kind), u->bucket, u->key_text);
}

/* Everything that is waiting to be sent is dropped. */
static void cancel_ready(struct s3_upload *u)
{
    if (u->ctl.state == UP_OP_READY) u->ctl.state = UP_OP_IDLE;
    for (uint32_t i = 0; i < u->cfg.parts_held_max; i++)
        if (u->parts[i].op.state == UP_OP_READY) u->parts[i].op.state = UP_OP_IDLE;
}

/* While failing: when nothing is in flight any more, abort the multipart upload
 * (if one was created and is not known to be gone) or fail. */
static void up_finish_failing(struct s3_upload *u)
{
    assert(u->failing);
    if (u->in_flight > 0 || u->phase == UP_PH_FAILED || u->phase == UP_PH_ABORT) return;
    if (u->upload_id[0] != '\0') {
        u->phase = UP_PH_ABORT;
        u->ctl.attempts = 0;
        up_op_ready(&u->ctl, S3_UPLOAD_OP_ABORT, INT64_MIN);
        return;
    }
    u->phase = UP_PH_FAILED;
}

/* Starts giving up with this error (the first one wins): nothing new is sent; once
 * the requests in flight are answered, a multipart upload is aborted. */
static void up_give_up(struct s3_upload *u, enum s3_upload_err code, int http_status,
                       const char *s3_code, const char *request_id, const char *msg)
{
    assert(code != S3_UPLOAD_ERR_NONE);
    if (!u->failing) {
        u->failing = true;
        u->err.code = code;
        u->err.http_status = http_status;
        snprintf(u->err.s3_code, sizeof u->err.s3_code, "%s", s3_code ? s3_code : "");
        snprintf(u->err.request_id, sizeof u->err.request_id, "%s", request_id ? request_id : "");
        snprintf(u->err.msg, sizeof u->err.msg, "%s", msg);
    }
    cancel_ready(u);
    up_finish_failing(u);
}

void s3_upload_abort(struct s3_upload *u, const char *reason)
{
    assert(u != NULL);
    if (u->phase == UP_PH_DONE || u->phase == UP_PH_FAILED || u->failing) return;
    char msg[S3_UPLOAD_MSG_MAX];
    snprintf(msg, sizeof msg, "upload of s3://%s/%s cancelled: %s", u->bucket, u->key_text,
             reason ? reason : "no reason given");
    up_give_up(u, S3_UPLOAD_ERR_CANCELLED, 0, NULL, NULL, msg);
}

/* ------------------------------------------------------------------------- */
/* The multipart ETag and the Complete body                                    */

/* md5(md5(part 1) || .. || md5(part N)) in hex, "-N". */
static void expected_multipart_etag(struct s3_upload *u)
{
    br_md5_context md5;
    br_md5_init(&md5);
    br_md5_update(&md5, u->md5s, (size_t)u->part_count * 16);
    uint8_t d[16];
    br_md5_out(&md5, d);
    char h[33];
    hex16(d, h);
    snprintf(u->expected_etag, sizeof u->expected_etag, "%s-%" PRIu32, h, u->part_count);
}

/* The CompleteMultipartUpload body, written over the (all free) part buffers:
 *
 *   <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
 *   <Part><PartNumber>1</PartNumber><ETag>"0f343b0931126a20f133d67c2b018a3b"</ETag></Part>
 *   ...                                       (one line per part, ascending)
 *   </CompleteMultipartUpload>
 */
static void build_complete(struct s3_upload *u)
{
    for (uint32_t i = 0; i < u->cfg.parts_held_max; i++) assert(u->parts[i].state == UP_PART_FREE);
    char *out = (char *)u->mem;
    size_t cap = buffer_region_bytes(&u->cfg);
    assert(cap >= complete_bytes_max(u->part_count));
    size_t n = (size_t)snprintf(out, cap, "<CompleteMultipartUpload "
                                "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n");
    for (uint32_t k = 0; k < u->part_count; k++) {
        char etag[33];
        hex16(u->md5s[k], etag);
        int w = snprintf(out + n, cap - n,
                         "<Part><PartNumber>%" PRIu32 "</PartNumber><ETag>\"%s\"</ETag></Part>\n",
                         k + 1, etag);
        assert(w > 0 && (size_t)w <= S3_UPLOAD_COMPLETE_PART_BYTES);
        n += (size_t)w;
    }
    n += (size_t)snprintf(out + n, cap - n, "</CompleteMultipartUpload>\n");
    assert(n < cap);
    u->complete_len = n;
    struct s3_body_hash h;
    s3_body_hash_init(&h);
    s3_body_hash_update(&h, out, n);
    s3_body_hash_final(&h, u->complete_sha256, u->complete_md5, NULL);
    expected_multipart_etag(u);
}

static void up_maybe_complete(struct s3_upload *u)
{
    if (u->phase != UP_PH_MULTIPART || !u->ended || u->failing || u->upload_id[0] == '\0') return;
    if (u->parts_done != u->part_count) return;
    assert(u->in_flight == 0);
    build_complete(u);
    u->phase = UP_PH_COMPLETE;
    u->ctl.attempts = 0;
    up_op_ready(&u->ctl, S3_UPLOAD_OP_COMPLETE, INT64_MIN);
}

/* ------------------------------------------------------------------------- */
/* The body                                                                    */

static bool body_room(const struct s3_upload *u)
{
    if (u->phase != UP_PH_BODY && u->phase != UP_PH_MULTIPART) return false;
    if (u->ended || u->failing) return false;
    if (u->fill >= 0) return true;  /* a filling part is never full: it is sealed then */
    for (uint32_t i = 0; i < u->cfg.parts_held_max; i++)
        if (u->parts[i].state == UP_PART_FREE) return true;
    return false;
}

uint8_t *s3_upload_body_buf(struct s3_upload *u, size_t *len)
{
    assert(u != NULL && len != NULL);
    *len = 0;
    u->window = -1;
    if (!body_room(u)) return NULL;
    int i = u->fill;
    uint64_t used = 0;
    if (i >= 0) {
        used = u->parts[i].len;
        assert(u->parts[i].state == UP_PART_FILLING && used < u->cfg.part_size_bytes);
    } else {
        for (uint32_t k = 0; k < u->cfg.parts_held_max && i < 0; k++)
            if (u->parts[k].state == UP_PART_FREE) i = (int)k;
    }
    assert(i >= 0);
    u->window = i;
    *len = (size_t)(u->cfg.part_size_bytes - used);
    return up_buffer(u, i) + used;
}

/* A part is complete: its hashes are final; in a multipart upload it is queued. */
static void seal(struct s3_upload *u, int i)
{
    struct s3_upload_part *p = &u->parts[i];
    assert(p->state == UP_PART_FILLING);
    p->state = UP_PART_SEALED;
    s3_body_hash_final(&p->hash, p->sha256_hex, p->md5_base64, p->md5);
    if (u->fill == i) u->fill = -1;
    p->op.attempts = 0;
    if (u->phase == UP_PH_MULTIPART) up_op_ready(&p->op, S3_UPLOAD_OP_PART, INT64_MIN);
}

/* A byte beyond the first part: this is a multipart upload. Part 1 (sealed, full)
 * waits for the UploadId with the others. */
static void go_multipart(struct s3_upload *u)
{
    assert(u->phase == UP_PH_BODY && u->part_count == 1 && u->fill < 0);
    u->phase = UP_PH_MULTIPART;
    u->ctl.attempts = 0;
    up_op_ready(&u->ctl, S3_UPLOAD_OP_CREATE, INT64_MIN);
    for (uint32_t i = 0; i < u->cfg.parts_held_max; i++) {
        struct s3_upload_part *p = &u->parts[i];
        if (p->state == UP_PART_SEALED) {
            assert(p->number == 1 && p->len == u->cfg.part_size_bytes);
            up_op_ready(&p->op, S3_UPLOAD_OP_PART, INT64_MIN);
        }
    }
}

/* Starts part number part_count+1 in free buffer i; false if that is one too many. */
static bool start_part(struct s3_upload *u, int i)
{
    if (u->part_count >= u->cfg.part_count_max) {
        char msg[S3_UPLOAD_MSG_MAX];
        snprintf(msg, sizeof msg, "upload of s3://%s/%s: the object is larger than %" PRIu32
                 " parts of %" PRIu64 " bytes: raise the part size", u->bucket, u->key_text,
                 u->cfg.part_count_max, u->cfg.part_size_bytes);
        up_give_up(u, S3_UPLOAD_ERR_TOO_LARGE, 0, NULL, NULL, msg);
        return false;
    }
    if (u->phase == UP_PH_BODY && u->part_count == 1) go_multipart(u);
    struct s3_upload_part *p = &u->parts[i];
    assert(p->state == UP_PART_FREE);
    memset(p, 0, sizeof *p);
    p->state = UP_PART_FILLING;
    p->number = ++u->part_count;
    p->op.slot = -1;
    s3_body_hash_init(&p->hash);
    u->fill = i;
    return true;
}

void s3_upload_body_ack(struct s3_upload *u, size_t n)
{
    assert(u != NULL);
    if (n == 0) return;
    int i = u->window;
    assert(i >= 0 && "body_ack without body_buf");
    u->window = -1;
    if (u->failing) return;
    struct s3_upload_part *p = &u->parts[i];
    assert(n <= u->cfg.part_size_bytes - (p->state == UP_PART_FREE ? 0 : p->len));
    if (p->state == UP_PART_FREE && !start_part(u, i)) return;
    assert(p->state == UP_PART_FILLING && u->fill == i);
    s3_body_hash_update(&p->hash, up_buffer(u, i) + p->len, n);
    p->len += n;
    u->size_bytes += n;
    if (p->len == u->cfg.part_size_bytes) seal(u, i);
}

size_t s3_upload_body_write(struct s3_upload *u, const void *data, size_t len)
{
    assert(u != NULL && (data != NULL || len == 0));
    size_t done = 0;
    while (done < len) {
        size_t room;
        uint8_t *p = s3_upload_body_buf(u, &room);
        if (p == NULL) break;
        size_t n = len - done < room ? len - done : room;
        memcpy(p, (const uint8_t *)data + done, n);
        s3_upload_body_ack(u, n);
        done += n;
    }
    return done;
}

void s3_upload_body_end(struct s3_upload *u)
{
    assert(u != NULL);
    assert(!u->ended && "body_end called twice");
    u->window = -1;
    u->ended = true;
    if (u->failing || (u->phase != UP_PH_BODY && u->phase != UP_PH_MULTIPART)) return;
    if (u->fill >= 0) seal(u, u->fill);
    if (u->phase == UP_PH_MULTIPART) {
        up_maybe_complete(u);
        return;
    }
    if (u->part_count == 0) {   /* an empty object */
        struct s3_upload_part *p = &u->parts[0];
        memset(p, 0, sizeof *p);
        p->state = UP_PART_FILLING;
        p->number = ++u->part_count;
        s3_body_hash_init(&p->hash);
        u->fill = 0;
        seal(u, 0);
    }
    u->phase = UP_PH_PUT;
    u->ctl.attempts = 0;
    up_op_ready(&u->ctl, S3_UPLOAD_OP_PUT, INT64_MIN);
}

/* ------------------------------------------------------------------------- */
/* What is wanted                                                              */

/* Whether `op` could be sent now (ignoring its backoff time and the slots). */
static bool takeable(const struct s3_upload *u, const struct s3_upload_opstate *op)
{
    if (op->state != UP_OP_READY) return false;
    if (op == &u->ctl) return true;
    return u->phase == UP_PH_MULTIPART && !u->failing && u->upload_id[0] != '\0';
}

int64_t s3_upload_wake_ms(const struct s3_upload *u)
{
    assert(u != NULL);
    int64_t t = INT64_MAX;
    if (takeable(u, &u->ctl)) t = u->ctl.not_before_ms;
    for (uint32_t i = 0; i < u->cfg.parts_held_max; i++)
        if (takeable(u, &u->parts[i].op) && u->parts[i].op.not_before_ms < t)
            t = u->parts[i].op.not_before_ms;
    return t;
}

unsigned s3_upload_want(const struct s3_upload *u, int64_t now_ms)
{
    assert(u != NULL);
    if (u->phase == UP_PH_DONE) return S3_UPLOAD_WANT_DONE;
    if (u->phase == UP_PH_FAILED) return S3_UPLOAD_WANT_FAILED;
    unsigned w = 0;
    if (body_room(u)) w |= S3_UPLOAD_WANT_BODY;
    if (u->in_flight < u->cfg.concurrency) {
        int64_t t = s3_upload_wake_ms(u);
        if (t <= now_ms) w |= S3_UPLOAD_WANT_REQUEST;
        else if (t != INT64_MAX) w |= S3_UPLOAD_WANT_TIMER;
    }
    return w;
}

/* The op to send now: the control request first, then the lowest part number. */
static struct s3_upload_opstate *pick(struct s3_upload *u, int64_t now_ms)
{
    if (takeable(u, &u->ctl) && u->ctl.not_before_ms <= now_ms) return &u->ctl;
    struct s3_upload_part *best = NULL;
    for (uint32_t i = 0; i < u->cfg.parts_held_max; i++) {
        struct s3_upload_part *p = &u->parts[i];
        if (!takeable(u, &p->op) || p->op.not_before_ms > now_ms) continue;
        if (best == NULL || p->number < best->number) best = p;
    }
    return best ? &best->op : NULL;
}

/* ------------------------------------------------------------------------- */
/* Requests out                                                                */

/* What one request consists of, before signing. */
struct spec {
    const char *method;
    struct s3_sigv4_param query[2];
    size_t query_count;
    const char *sha256_hex;
    const char *md5_base64;         /* NULL: no Content-MD5 */
    bool content_type;
    const uint8_t *body;
    size_t body_len;
    int64_t content_length;         /* -1: no Content-Length */
    char part_number[12];
};

static void spec_for(struct s3_upload *u, struct s3_upload_opstate *op, struct spec *s)
{
    memset(s, 0, sizeof *s);
    s->sha256_hex = S3_EMPTY_SHA256_HEX;
    s->content_length = 0;
    struct s3_upload_part *p = up_part_of(u, op);
    switch ((enum s3_upload_op)op->kind) {
    case S3_UPLOAD_OP_PUT: {
        const struct s3_upload_part *one = NULL;
        for (uint32_t i = 0; i < u->cfg.parts_held_max; i++)
            if (u->parts[i].state == UP_PART_SEALED) one = &u->parts[i];
        assert(one != NULL && one->number == 1);
        s->method = "PUT";
        s->sha256_hex = one->sha256_hex;
        s->md5_base64 = one->md5_base64;
        s->content_type = true;
        s->body = up_buffer(u, (int)(one - u->parts));
        s->body_len = (size_t)one->len;
        break;
    }
    case S3_UPLOAD_OP_CREATE:
        s->method = "POST";
        s->query[s->query_count++] = (struct s3_sigv4_param){"uploads", ""};
        s->content_type = true;
        break;
    case S3_UPLOAD_OP_PART:
        assert(p != NULL && p->state == UP_PART_SEALED);
        s->method = "PUT";
        snprintf(s->part_number, sizeof s->part_number, "%" PRIu32, p->number);
        s->query[s->query_count++] = (struct s3_sigv4_param){"partNumber", s->part_number};
        s->query[s->query_count++] = (struct s3_sigv4_param){"uploadId", u->upload_id};
        s->sha256_hex = p->sha256_hex;
        s->md5_base64 = p->md5_base64;
        s->body = up_buffer(u, (int)(p - u->parts));
        s->body_len = (size_t)p->len;
        break;
    case S3_UPLOAD_OP_COMPLETE:
        s->method = "POST";
        s->query[s->query_count++] = (struct s3_sigv4_param){"uploadId", u->upload_id};
        s->sha256_hex = u->complete_sha256;
        s->md5_base64 = u->complete_md5;
        s->body = u->mem;
        s->body_len = u->complete_len;
        break;
    case S3_UPLOAD_OP_ABORT:
        s->method = "DELETE";
        s->query[s->query_count++] = (struct s3_sigv4_param){"uploadId", u->upload_id};
        s->content_length = -1;
        break;
    case S3_UPLOAD_OP_HEAD:
        s->method = "HEAD";
        s->content_length = -1;
        break;
    }
    if (s->body_len > 0) s->content_length = (int64_t)s->body_len;
    if (s->body_len == 0) s->body = NULL;
}

/* Signs the request of `s` at unix_s and writes its head into slot->head:
 *
 *   PUT /bucket/key?partNumber=3&uploadId=abc HTTP/1.1
 *   Host: acct.r2.cloudflarestorage.com
 *   Content-MD5: <base64 md5 of the body>
 *   Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/auto/s3/aws4_request, ...
 *   X-Amz-Date: 20240101T000000Z
 *   X-Amz-Content-Sha256: <hex sha256 of the body>
 *   [X-Amz-Security-Token: ...]  [User-Agent: ...]
 *   Content-Length: 16777216
 *
 * Returns the head length, or 0 with why[] filled. */
static size_t write_head(struct s3_upload *u, struct s3_upload_slot *slot, const struct spec *s,
                         int64_t unix_s, char *why, size_t why_cap)
{
    struct s3_sigv4_header h[2];
    size_t nh = 0;
    if (s->md5_base64 != NULL) h[nh++] = (struct s3_sigv4_header){"Content-MD5", s->md5_base64};
    if (s->content_type && u->cfg.content_type != NULL)
        h[nh++] = (struct s3_sigv4_header){"Content-Type", u->cfg.content_type};
    struct s3_sigv4_input in = {
        .cred = u->cfg.cred, .region = u->region, .unix_seconds = unix_s, .method = s->method,
        .host = u->host, .path = (const uint8_t *)u->path, .path_len = u->path_len,
        .query = s->query, .query_count = s->query_count, .headers = h, .header_count = nh,
        .payload_hash = s->sha256_hex,
    };
    enum s3_sigv4_status st = s3_sigv4_sign(&u->sig, &in, &u->key_cache);
    if (st != S3_SIGV4_OK) {
        snprintf(why, why_cap, "cannot sign the request: %s", u->sig.err);
        return 0;
    }
    struct s3_sigv4_header added[S3_SIGV4_ADDED_HEADERS_MAX];
    size_t na = s3_sigv4_headers(&u->sig, added);
    struct http_header all[2 + S3_SIGV4_ADDED_HEADERS_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; i < nh; i++) all[n++] = (struct http_header){h[i].name, h[i].value};
    for (size_t i = 0; i < na; i++) all[n++] = (struct http_header){added[i].name, added[i].value};
    if (u->cfg.user_agent != NULL) all[n++] = (struct http_header){"User-Agent", u->cfg.user_agent};
    struct http_writer w;
    http_writer_init(&w, slot->head, sizeof slot->head);
    enum http_error e = http_write_request(&w, s->method, u->sig.target, u->host, all, n,
                                           s->content_length);
    if (e != HTTP_OK) {
        snprintf(why, why_cap, "cannot write the request head: %s", http_strerror(e));
        return 0;
    }
    return w.len;
}

bool s3_upload_request_take(struct s3_upload *u, const struct s3_upload_now *now,
                            struct s3_upload_request *req)
{
    assert(u != NULL && now != NULL && req != NULL);
    if (u->phase == UP_PH_DONE || u->phase == UP_PH_FAILED) return false;
    if (u->in_flight >= u->cfg.concurrency) return false;
    struct s3_upload_opstate *op = pick(u, now->mono_ms);
    if (op == NULL) return false;
    int si = -1;
    for (int i = 0; i < S3_UPLOAD_CONCURRENCY_MAX && si < 0; i++)
        if (!u->slots[i].busy) si = i;
    assert(si >= 0);
    struct s3_upload_slot *slot = &u->slots[si];

    struct spec s;
    spec_for(u, op, &s);
    char why[S3_UPLOAD_MSG_MAX - 128];
    size_t head_len = write_head(u, slot, &s, now->unix_s, why, sizeof why);
    if (head_len == 0) {
        char what[128], msg[S3_UPLOAD_MSG_MAX];
        up_describe(u, op, what, sizeof what);
        snprintf(msg, sizeof msg, "%s: %s", what, why);
        op->state = UP_OP_IDLE;
        if (op->kind == S3_UPLOAD_OP_ABORT) {
            up_abort_failed(u, msg);
        } else {
            up_give_up(u, S3_UPLOAD_ERR_CONFIG, 0, NULL, NULL, msg);
        }
        return false;
    }

    op->attempts++;
    op->state = UP_OP_FLIGHT;
    op->slot = si;
    slot->busy = true;
    slot->id = u->next_id++;
    if (u->next_id == 0) u->next_id = 1;
    slot->op = op;
    u->in_flight++;
    u->result.requests++;
    if (op->attempts > 1) u->result.retries++;

    const struct s3_upload_part *p = up_part_of(u, op);
    *req = (struct s3_upload_request){
        .id = slot->id, .op = (enum s3_upload_op)op->kind, .part_number = p ? p->number : 0,
        .attempt = op->attempts, .head_request = op->kind == S3_UPLOAD_OP_HEAD,
        .head = slot->head, .head_len = head_len, .body = s.body, .body_len = s.body_len,
        .response_buf = slot->response, .response_cap = sizeof slot->response,
        .timeout_ms = u->cfg.timeout_ms,
    };
    return true;
}

/* ------------------------------------------------------------------------- */
/* Answers in: the retry policy                                                */

uint64_t s3_upload_backoff_ms(uint32_t failures, uint32_t base_ms, uint32_t cap_ms,
                              uint64_t random)
{
    assert(failures >= 1 && base_ms <= cap_ms);
    uint64_t window = base_ms;
    for (uint32_t i = 1; i < failures && window < cap_ms; i++) window *= 2;
    if (window > cap_ms) window = cap_ms;
    /* full jitter: window * r with r = (random >> 32) / 2^32 in [0, 1) */
    return (window * (random >> 32)) >> 32;
}

/* One failed attempt, as the policy sees it. */
struct failure {
    bool retryable;
    enum s3_upload_err code;        /* when it is not retried */
    int status;                     /* 0: no HTTP answer */
    char s3_code[S3_XML_CODE_MAX];
    char request_id[S3_XML_ID_MAX];
    char what[224];                 /* "503 SlowDown: Please reduce your request rate" */
    char advice[288];               /* what to do about it; "" when the answer says it all */
    bool has_retry_after;
    uint64_t retry_after_ms;
};

/* Error codes that are worth another attempt whatever the status (botocore's
 * standard retry mode: transient and throttling codes, plus InternalError). */
static bool retryable_code(const char *code)
{
    static const char *const codes[] = {
        "SlowDown", "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
        "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException",
        "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException",
        "RequestThrottled", "EC2ThrottledException",
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i]) == 0) return true;
    return false;
}

static bool retryable_status(int status)
{
    return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

/* "2024-01-01 12:00:00 UTC" */
static void format_utc(int64_t unix_s, char *out, size_t cap)
{
    char d[17];
    if (!s3_amz_date(unix_s, d)) {
        snprintf(out, cap, "%" PRId64 " (unix seconds)", unix_s);
        return;
    }
    snprintf(out, cap, "%.4s-%.2s-%.2s %.2s:%.2s:%.2s UTC", d, d + 4, d + 6, d + 9, d + 11, d + 13);
}

static void clock_advice(const struct http_response *r, const char *body, size_t len,
                         int64_t unix_s, char *out, size_t cap)
{
    char ours[40], theirs[64];
    format_utc(unix_s, ours, sizeof ours);
    int64_t server_s;
    const char *date = http_response_header(r, "date");
    if (date != NULL && http_parse_date(date, &server_s)) {
        format_utc(server_s, theirs, sizeof theirs);
        int64_t off = unix_s - server_s;
        snprintf(out, cap, "check the clock (NTP): server time %s, ours %s (%" PRId64 " s %s)",
                 theirs, ours, off < 0 ? -off : off, off < 0 ? "behind" : "ahead");
        return;
    }
    if (s3_xml_get(body, len, "Error/ServerTime", theirs, sizeof theirs, NULL) != S3_XML_OK)
        snprintf(theirs, sizeof theirs, "unknown");
    snprintf(out, cap, "check the clock (NTP): server time %s, ours %s", theirs, ours);
}

/* The permission a request needs, for AccessDenied. */
static const char *permission_for(enum s3_upload_op op)
{
    switch (op) {
    case S3_UPLOAD_OP_ABORT: return "s3:AbortMultipartUpload";
    case S3_UPLOAD_OP_HEAD: return "s3:GetObject";
    default: return "s3:PutObject";
    }
}

/* Fills f from an HTTP error answer: status, <Error> fields (if any), whether it
 * is retried, and what to do about it if not. */
static void classify(const struct s3_upload *u, const struct s3_upload_opstate *op,
                     const struct http_response *r, const char *body, size_t len,
                     const struct s3_upload_now *now, struct failure *f)
{
    memset(f, 0, sizeof *f);
    struct s3_xml_error xe;
    if (len == 0 || s3_xml_parse_error(body, len, &xe) != S3_XML_OK) memset(&xe, 0, sizeof xe);
    f->status = r->status;
    snprintf(f->s3_code, sizeof f->s3_code, "%s", xe.code);
    const char *rid = xe.request_id[0] ? xe.request_id : http_response_header(r, "x-amz-request-id");
    snprintf(f->request_id, sizeof f->request_id, "%s", rid ? rid : "");
    const char *code = xe.code;
    if (code[0] == '\0')
        snprintf(f->what, sizeof f->what, "HTTP %d %.60s", r->status, r->reason ? r->reason : "");
    else if (xe.message[0] == '\0')
        snprintf(f->what, sizeof f->what, "%d %s", r->status, code);
    else
        snprintf(f->what, sizeof f->what, "%d %s: %.150s", r->status, code, xe.message);

    if (retryable_status(r->status) || retryable_code(code)) {
        f->retryable = true;
        f->has_retry_after = http_response_retry_after_ms(r, now->unix_s, &f->retry_after_ms);
        return;
    }
    f->code = S3_UPLOAD_ERR_REFUSED;
    if (strcmp(code, "SignatureDoesNotMatch") == 0) {
        f->code = S3_UPLOAD_ERR_SIGNATURE;
        snprintf(f->what, sizeof f->what, "%d %s", r->status, code);
        snprintf(f->advice, sizeof f->advice, "the server computed another signature: check the "
                 "secret key and that nothing between lakewriter and the endpoint rewrites "
                 "requests (a proxy changing the Host, path or headers)");
    } else if (strcmp(code, "InvalidAccessKeyId") == 0) {
        f->code = S3_UPLOAD_ERR_SIGNATURE;
        snprintf(f->what, sizeof f->what, "%d %s", r->status, code);
        snprintf(f->advice, sizeof f->advice, "%s does not know this access key id: check the "
                 "access key id and that the endpoint is the right account", u->endpoint);
    } else if (strcmp(code, "RequestTimeTooSkewed") == 0) {
        f->code = S3_UPLOAD_ERR_CLOCK;
        snprintf(f->what, sizeof f->what, "%d %s", r->status, code);
        clock_advice(r, body, len, now->unix_s, f->advice, sizeof f->advice);
    } else if (strcmp(code, "AccessDenied") == 0) {
        f->code = S3_UPLOAD_ERR_ACCESS;
        snprintf(f->what, sizeof f->what, "%d %s", r->status, code);
        snprintf(f->advice, sizeof f->advice, "the credentials may not %s key '%s' in bucket "
                 "'%s': grant them %s there (R2: an Object Read & Write token for the bucket)",
                 s3_upload_op_name(op->kind), u->key_text, u->bucket, permission_for(op->kind));
    } else if (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "TokenRefreshRequired") == 0 ||
               strcmp(code, "InvalidToken") == 0) {
        f->code = S3_UPLOAD_ERR_ACCESS;
        snprintf(f->advice, sizeof f->advice, "the session token is expired or invalid: refresh "
                 "the credentials");
    } else if (strcmp(code, "NoSuchBucket") == 0) {
        f->code = S3_UPLOAD_ERR_NO_BUCKET;
        snprintf(f->what, sizeof f->what, "%d %s", r->status, code);
        snprintf(f->advice, sizeof f->advice, "bucket '%s' does not exist at %s: create it, or "
                 "fix the bucket name or the endpoint", u->bucket, u->endpoint);
    } else if (strcmp(code, "NoSuchUpload") == 0) {
        f->code = S3_UPLOAD_ERR_LOST;
        snprintf(f->what, sizeof f->what, "%d %s", r->status, code);
        snprintf(f->advice, sizeof f->advice, "the multipart upload is gone (aborted, or expired "
                 "by a lifecycle rule); the object will be uploaded again");
    } else if (r->status == 401 || r->status == 403) {
        f->code = S3_UPLOAD_ERR_ACCESS;
        snprintf(f->advice, sizeof f->advice, "check the credentials and their permissions on "
                 "bucket '%s'", u->bucket);
    }
}

/* What a transport failure of kind `k` means. */
static void classify_net(const struct s3_upload *u, enum s3_upload_net k, const char *detail,
                         struct failure *f)
{
    memset(f, 0, sizeof *f);
    const char *what = "transport error";
    f->retryable = true;
    switch (k) {
    case S3_UPLOAD_NET_CONNECT: what = "could not connect"; break;
    case S3_UPLOAD_NET_RESET: what = "connection reset or closed"; break;
    case S3_UPLOAD_NET_TIMEOUT: what = "timed out (no progress)"; break;
    case S3_UPLOAD_NET_TLS_IO: what = "TLS error"; break;
    case S3_UPLOAD_NET_HTTP: what = "broken HTTP response"; break;
    case S3_UPLOAD_NET_TLS_CERT:
        what = "TLS handshake refused";
        f->retryable = false;
        f->code = S3_UPLOAD_ERR_NETWORK;
        snprintf(f->advice, sizeof f->advice, "check the CA bundle and that '%s' is the name in "
                 "the endpoint's certificate", u->endpoint);
        break;
    case S3_UPLOAD_NET_CANCELLED:
        what = "cancelled";
        f->retryable = false;
        f->code = S3_UPLOAD_ERR_CANCELLED;
        break;
    }
    if (detail != NULL && detail[0] != '\0')
        snprintf(f->what, sizeof f->what, "%s (%.*s)", what, S3_UPLOAD_DETAIL_MAX, detail);
    else
        snprintf(f->what, sizeof f->what, "%s", what);
}

/* The failure of a request that is not retried (or retried no more) becomes the
 * upload's error; while aborting it is added to the error instead. */
static void fail_with(struct s3_upload *u, struct s3_upload_opstate *op, const struct failure *f)
{
    char desc[220], msg[S3_UPLOAD_MSG_MAX];
    up_describe(u, op, desc, sizeof desc);
    if (f->retryable)
        snprintf(msg, sizeof msg, "%s: gave up after %" PRIu32 " attempts; last: %s", desc,
                 op->attempts, f->what);
    else
        snprintf(msg, sizeof msg, "%s: %s%s%s", desc, f->what, f->advice[0] ? ": " : "", f->advice);
    if (f->request_id[0] != '\0') {
        size_t n = strlen(msg);
        snprintf(msg + n, sizeof msg - n, " (request id %s)", f->request_id);
    }
    snprintf(u->note, sizeof u->note, "%s", msg);
    if (op->kind == S3_UPLOAD_OP_ABORT) {
        up_abort_failed(u, msg);
        return;
    }
    up_give_up(u, f->retryable ? S3_UPLOAD_ERR_RETRIES : f->code, f->status, f->s3_code,
               f->request_id, msg);
}

/* One attempt of `op` failed: retry after a backoff, or give up. */
static enum s3_upload_outcome conclude(struct s3_upload *u, struct s3_upload_opstate *op,
                                       const struct failure *f, const struct s3_upload_now *now)
{
    assert(op->state == UP_OP_IDLE && op->attempts >= 1);
    uint32_t max = op->kind == S3_UPLOAD_OP_ABORT ? u->cfg.abort_attempts_max : u->cfg.attempts_max;
    if (!f->retryable || op->attempts >= max) {
        fail_with(u, op, f);
        return S3_UPLOAD_OUTCOME_GAVE_UP;
    }
    uint64_t delay = s3_upload_backoff_ms(op->attempts, u->cfg.backoff_base_ms,
                                          u->cfg.backoff_cap_ms, now->random);
    if (f->has_retry_after) {
        uint64_t asked = f->retry_after_ms < u->cfg.backoff_cap_ms ? f->retry_after_ms
                                                                  : u->cfg.backoff_cap_ms;
        if (asked > delay) delay = asked;
    }
    up_op_ready(op, (enum s3_upload_op)op->kind, now->mono_ms + (int64_t)delay);
    char desc[220];
    up_describe(u, op, desc, sizeof desc);
    snprintf(u->note, sizeof u->note, "%s: %s (attempt %" PRIu32 " of %" PRIu32
             "); retrying in %" PRIu64 " ms", desc, f->what, op->attempts, max, delay);
    return S3_UPLOAD_OUTCOME_RETRY;
}

/* The abort failed for good: the upload fails with both stories told. */
static void up_abort_failed(struct s3_upload *u, const char *msg)
{
    assert(u->failing);
    size_t n = strlen(u->err.msg);
    snprintf(u->err.msg + n, sizeof u->err.msg - n, "; then %s; the incomplete upload stays "
             "until it expires (R2: after 7 days; AWS: with an AbortIncompleteMultipartUpload "
             "lifecycle rule)", msg);
    u->ctl.state = UP_OP_IDLE;
    u->phase = UP_PH_FAILED;
}

/* ------------------------------------------------------------------------- */
/* Answers in: checking what succeeded                                         */

/* An ETag as sent ("\"abc\"", quotes optional) against the expected unquoted value. */
static bool etag_matches(const char *got, const char *want)
{
    size_t n = strlen(got);
    if (n >= 2 && got[0] == '"' && got[n - 1] == '"') {
        got++;
        n -= 2;
    }
    return n == strlen(want) && strncasecmp(got, want, n) == 0;
}

/* An answer that cannot be right; not retried. */
static enum s3_upload_outcome refuse(struct s3_upload *u, struct s3_upload_opstate *op,
                                     enum s3_upload_err code, const struct http_response *r,
                                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static enum s3_upload_outcome refuse(struct s3_upload *u, struct s3_upload_opstate *op,
                                     enum s3_upload_err code, const struct http_response *r,
                                     const char *fmt, ...)
{
    struct failure f;
    memset(&f, 0, sizeof f);
    f.code = code;
    f.status = r ? r->status : 0;
    const char *rid = r ? http_response_header(r, "x-amz-request-id") : NULL;
    snprintf(f.request_id, sizeof f.request_id, "%s", rid ? rid : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f.what, sizeof f.what, fmt, ap);
    va_end(ap);
    fail_with(u, op, &f);
    return S3_UPLOAD_OUTCOME_GAVE_UP;
}

/* Checks the ETag header of a PutObject / UploadPart answer against the MD5 of the
 * bytes sent; false (the upload failing) when it is missing or different. */
static bool check_etag(struct s3_upload *u, struct s3_upload_opstate *op,
                       const struct http_response *r, const uint8_t md5[16])
{
    char want[33];
    hex16(md5, want);
    const char *etag = http_response_header(r, "etag");
    if (etag == NULL) {
        refuse(u, op, S3_UPLOAD_ERR_PROTOCOL, r, "the answer (HTTP %d) has no ETag to check "
               "the upload against", r->status);
        return false;
    }
    if (!etag_matches(etag, want)) {
        refuse(u, op, S3_UPLOAD_ERR_INTEGRITY, r, "the server's ETag %.64s is not the MD5 of the "
               "bytes sent (%s): what it stored may differ from what was sent (or the bucket "
               "encrypts with SSE-KMS/SSE-C, which this writer does not support)", etag, want);
        return false;
    }
    return true;
}

static void done(struct s3_upload *u, const char *etag, bool multipart)
{
    assert(u->in_flight == 0 && !u->failing);
    snprintf(u->result.etag, sizeof u->result.etag, "%s", etag);
    u->result.size_bytes = u->size_bytes;
    u->result.part_count = u->part_count;
    u->result.multipart = multipart;
    u->phase = UP_PH_DONE;
}

/* A 2xx answer whose XML body is an <Error> or broken: a failure to retry (as
 * botocore does for CompleteMultipartUpload), unless the <Error> is NoSuchUpload
 * (*no_such_upload set). */
static void failure_in_200(const struct http_response *r, const char *body, size_t len,
                           bool truncated, enum s3_xml_verdict v, struct failure *f,
                           bool *no_such_upload)
{
    memset(f, 0, sizeof *f);
    f->retryable = true;
    f->status = r->status;
    *no_such_upload = false;
    struct s3_xml_error xe;
    if (v == S3_XML_VERDICT_ERROR && s3_xml_parse_error(body, len, &xe) == S3_XML_OK) {
        snprintf(f->s3_code, sizeof f->s3_code, "%s", xe.code);
        snprintf(f->request_id, sizeof f->request_id, "%s", xe.request_id);
        snprintf(f->what, sizeof f->what, "%d with an <Error> body: %s: %.150s", r->status,
                 xe.code, xe.message);
        *no_such_upload = strcmp(xe.code, "NoSuchUpload") == 0;
        return;
    }
    snprintf(f->what, sizeof f->what, "%d with a%s XML body", r->status,
             truncated ? "n over-long" : " cut-short or unreadable");
}

static enum s3_upload_outcome on_put(struct s3_upload *u, struct s3_upload_opstate *op,
                                     const struct http_response *r, const char *body, size_t len,
                                     const struct s3_upload_now *now)
{
    if (r->status < 200 || r->status > 299) {
        struct failure f;
        classify(u, op, r, body, len, now, &f);
        return conclude(u, op, &f, now);
    }
    const struct s3_upload_part *p = NULL;
    for (uint32_t i = 0; i < u->cfg.parts_held_max; i++)
        if (u->parts[i].state == UP_PART_SEALED) p = &u->parts[i];
    assert(p != NULL && p->number == 1);
    if (!check_etag(u, op, r, p->md5)) return S3_UPLOAD_OUTCOME_GAVE_UP;
    char etag[33];
    hex16(p->md5, etag);
    done(u, etag, false);
    return S3_UPLOAD_OUTCOME_OK;
}

/* Reads the UploadId of a CreateMultipartUpload answer into out (cap bytes);
 * false when it is missing, empty or too long. */
static bool read_upload_id(const char *body, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    enum s3_xml_status st = s3_xml_get(body, len, "InitiateMultipartUploadResult/UploadId", out,
                                       cap, &n);
    return st == S3_XML_OK && n > 0 && strlen(out) == n;
}

static enum s3_upload_outcome on_create(struct s3_upload *u, struct s3_upload_opstate *op,
                                        const struct http_response *r, const char *body,
                                        size_t len, bool truncated, const struct s3_upload_now *now)
{
    struct failure f;
    if (r->status < 200 || r->status > 299) {
        classify(u, op, r, body, len, now, &f);
        return conclude(u, op, &f, now);
    }
    enum s3_xml_verdict v = s3_xml_verdict(body, len, "InitiateMultipartUploadResult");
    if (v != S3_XML_VERDICT_OK) {
        bool nsu;
        failure_in_200(r, body, len, truncated, v, &f, &nsu);
        return conclude(u, op, &f, now);
    }
    if (!read_upload_id(body, len, u->upload_id, sizeof u->upload_id)) {
        u->upload_id[0] = '\0';
        return refuse(u, op, S3_UPLOAD_ERR_PROTOCOL, r, "the answer has no usable UploadId "
                      "(missing, empty, or over %d bytes)", S3_UPLOAD_ID_MAX);
    }
    up_maybe_complete(u);
    return S3_UPLOAD_OUTCOME_OK;
}

static enum s3_upload_outcome on_part(struct s3_upload *u, struct s3_upload_opstate *op,
                                      const struct http_response *r, const char *body, size_t len,
                                      const struct s3_upload_now *now)
{
    struct s3_upload_part *p = up_part_of(u, op);
    assert(p != NULL && p->state == UP_PART_SEALED);
    if (r->status < 200 || r->status > 299) {
        struct failure f;
        classify(u, op, r, body, len, now, &f);
        if (f.code == S3_UPLOAD_ERR_LOST) u->upload_id[0] = '\0';  /* nothing left to abort */
        return conclude(u, op, &f, now);
    }
    if (!check_etag(u, op, r, p->md5)) return S3_UPLOAD_OUTCOME_GAVE_UP;
    memcpy(u->md5s[p->number - 1], p->md5, 16);
    p->state = UP_PART_FREE;
    u->parts_done++;
    assert(u->parts_done <= u->part_count);
    up_maybe_complete(u);
    return S3_UPLOAD_OUTCOME_OK;
}

/* A Complete answered NoSuchUpload. After an attempt whose outcome is unknown the
 * first one may have succeeded: HEAD the key and compare the ETag. */
static enum s3_upload_outcome complete_no_such_upload(struct s3_upload *u,
                                                      struct s3_upload_opstate *op,
                                                      const struct failure *f)
{
    u->upload_id[0] = '\0';     /* gone either way: nothing to abort */
    if (op->attempts < 2) {
        struct failure g = *f;
        g.retryable = false;
        g.code = S3_UPLOAD_ERR_LOST;
        snprintf(g.advice, sizeof g.advice, "the multipart upload is gone (aborted, or expired by "
                 "a lifecycle rule); the object will be uploaded again");
        fail_with(u, op, &g);
        return S3_UPLOAD_OUTCOME_GAVE_UP;
    }
    u->phase = UP_PH_HEAD;
    u->ctl.attempts = 0;
    up_op_ready(&u->ctl, S3_UPLOAD_OP_HEAD, INT64_MIN);
    snprintf(u->note, sizeof u->note, "CompleteMultipartUpload of s3://%s/%s: NoSuchUpload on "
             "attempt %" PRIu32 ": an earlier attempt may have succeeded; checking with HEAD",
             u->bucket, u->key_text, op->attempts);
    return S3_UPLOAD_OUTCOME_RETRY;
}

static enum s3_upload_outcome on_complete(struct s3_upload *u, struct s3_upload_opstate *op,
                                          const struct http_response *r, const char *body,
                                          size_t len, bool truncated,
                                          const struct s3_upload_now *now)
{
    struct failure f;
    if (r->status < 200 || r->status > 299) {
        classify(u, op, r, body, len, now, &f);
        if (strcmp(f.s3_code, "NoSuchUpload") == 0) return complete_no_such_upload(u, op, &f);
        return conclude(u, op, &f, now);
    }
    enum s3_xml_verdict v = s3_xml_verdict(body, len, "CompleteMultipartUploadResult");
    if (v != S3_XML_VERDICT_OK) {
        bool nsu;
        failure_in_200(r, body, len, truncated, v, &f, &nsu);
        if (nsu) return complete_no_such_upload(u, op, &f);
        return conclude(u, op, &f, now);
    }
    u->upload_id[0] = '\0';    /* completed: nothing to abort, whatever the checks say */
    char etag[S3_UPLOAD_ETAG_MAX + 8];
    if (s3_xml_get(body, len, "CompleteMultipartUploadResult/ETag", etag, sizeof etag, NULL) !=
        S3_XML_OK)
        return refuse(u, op, S3_UPLOAD_ERR_PROTOCOL, r, "the answer has no ETag to check the "
                      "object against (expected %s)", u->expected_etag);
    if (!etag_matches(etag, u->expected_etag))
        return refuse(u, op, S3_UPLOAD_ERR_INTEGRITY, r, "the object's ETag %s is not the one "
                      "of the parts sent (%s): the object may differ from what was sent",
                      etag, u->expected_etag);
    done(u, u->expected_etag, true);
    return S3_UPLOAD_OUTCOME_OK;
}

static enum s3_upload_outcome on_head(struct s3_upload *u, struct s3_upload_opstate *op,
                                      const struct http_response *r, const struct s3_upload_now *now)
{
    if (r->status == 404)
        return refuse(u, op, S3_UPLOAD_ERR_LOST, r, "a retried CompleteMultipartUpload met "
                      "NoSuchUpload and there is no object at the key: the upload did not "
                      "complete; the object will be uploaded again");
    if (r->status < 200 || r->status > 299) {
        struct failure f;
        classify(u, op, r, NULL, 0, now, &f);
        return conclude(u, op, &f, now);
    }
    const char *etag = http_response_header(r, "etag");
    if (etag == NULL || !etag_matches(etag, u->expected_etag))
        return refuse(u, op, S3_UPLOAD_ERR_INTEGRITY, r, "a retried CompleteMultipartUpload met "
                      "NoSuchUpload and the object at the key has ETag %.64s, not %s: another "
                      "writer replaced it, or the upload did not complete",
                      etag ? etag : "(none)", u->expected_etag);
    done(u, u->expected_etag, true);
    return S3_UPLOAD_OUTCOME_OK;
}

static enum s3_upload_outcome on_abort(struct s3_upload *u, struct s3_upload_opstate *op,
                                       const struct http_response *r, const char *body, size_t len,
                                       const struct s3_upload_now *now)
{
    struct failure f;
    if ((r->status >= 200 && r->status <= 299) || r->status == 404) {
        snprintf(u->note, sizeof u->note, "AbortMultipartUpload of s3://%s/%s: %s", u->bucket,
                 u->key_text, r->status == 404 ? "the upload was already gone" : "aborted");
        u->upload_id[0] = '\0';
        u->phase = UP_PH_FAILED;
        return S3_UPLOAD_OUTCOME_OK;
    }
    classify(u, op, r, body, len, now, &f);
    return conclude(u, op, &f, now);
}

/* While failing only two answers matter: an UploadId to abort, and the abort's. */
static enum s3_upload_outcome while_failing(struct s3_upload *u, struct s3_upload_opstate *op,
                                            const struct http_response *r, const char *body,
                                            size_t len)
{
    bool created = op->kind == S3_UPLOAD_OP_CREATE && r != NULL && r->status >= 200 &&
                   r->status <= 299 &&
                   s3_xml_verdict(body, len, "InitiateMultipartUploadResult") == S3_XML_VERDICT_OK;
    if (created && !read_upload_id(body, len, u->upload_id, sizeof u->upload_id))
        u->upload_id[0] = '\0';
    up_finish_failing(u);
    return S3_UPLOAD_OUTCOME_IGNORED;
}

/* The slot of request `id` is freed and its op returned (idle). */
static struct s3_upload_opstate *release(struct s3_upload *u, uint32_t id, struct s3_upload_slot **out)
{
    struct s3_upload_slot *slot = NULL;
    for (int i = 0; i < S3_UPLOAD_CONCURRENCY_MAX && slot == NULL; i++)
        if (u->slots[i].busy && u->slots[i].id == id) slot = &u->slots[i];
    assert(slot != NULL && "answer for a request that is not in flight");
    struct s3_upload_opstate *op = slot->op;
    assert(op != NULL && op->state == UP_OP_FLIGHT && op->slot == (int)(slot - u->slots));
    slot->busy = false;
    slot->op = NULL;
    op->state = UP_OP_IDLE;
    op->slot = -1;
    assert(u->in_flight > 0);
    u->in_flight--;
    *out = slot;
    return op;
}

enum s3_upload_outcome s3_upload_response(struct s3_upload *u, uint32_t id,
                                          const struct http_response *r,
                                          const struct s3_upload_now *now)
{
    assert(u != NULL && r != NULL && now != NULL);
    struct s3_upload_slot *slot;
    struct s3_upload_opstate *op = release(u, id, &slot);
    /* The body, as collected by the parser into the slot (still untouched). */
    const char *body = (const char *)slot->response;
    size_t len = 0;
    bool truncated = false;
    if (r->collect == slot->response) {
        len = r->collect_len;
        truncated = r->collect_truncated;
        assert(len <= sizeof slot->response);
    }
    u->note[0] = '\0';
    if (u->failing && op->kind != S3_UPLOAD_OP_ABORT) return while_failing(u, op, r, body, len);
    enum s3_upload_outcome out = S3_UPLOAD_OUTCOME_IGNORED;
    switch ((enum s3_upload_op)op->kind) {
    case S3_UPLOAD_OP_PUT: out = on_put(u, op, r, body, len, now); break;
    case S3_UPLOAD_OP_CREATE: out = on_create(u, op, r, body, len, truncated, now); break;
    case S3_UPLOAD_OP_PART: out = on_part(u, op, r, body, len, now); break;
    case S3_UPLOAD_OP_COMPLETE: out = on_complete(u, op, r, body, len, truncated, now); break;
    case S3_UPLOAD_OP_ABORT: out = on_abort(u, op, r, body, len, now); break;
    case S3_UPLOAD_OP_HEAD: out = on_head(u, op, r, now); break;
    }
    if (u->failing) up_finish_failing(u);
    return out;
}

enum s3_upload_outcome s3_upload_transport_error(struct s3_upload *u, uint32_t id,
                                                 enum s3_upload_net kind, const char *detail,
                                                 const struct s3_upload_now *now)
{
    assert(u != NULL && now != NULL);
    struct s3_upload_slot *slot;
    struct s3_upload_opstate *op = release(u, id, &slot);
    u->note[0] = '\0';
    if (u->failing && op->kind != S3_UPLOAD_OP_ABORT) return while_failing(u, op, NULL, NULL, 0);
    struct failure f;
    classify_net(u, kind, detail, &f);
    enum s3_upload_outcome out = conclude(u, op, &f, now);
    if (u->failing) up_finish_failing(u);
    return out;
}

/* ------------------------------------------------------------------------- */
/* Accessors                                                                   */

const struct s3_upload_result *s3_upload_result(const struct s3_upload *u)
{
    assert(u != NULL);
    return &u->result;
}

const struct s3_upload_error *s3_upload_error(const struct s3_upload *u)
{
    assert(u != NULL);
    return &u->err;
}

const char *s3_upload_note(const struct s3_upload *u)
{
    assert(u != NULL);
    return u->note;
}

uint32_t s3_upload_in_flight(const struct s3_upload *u)
{
    assert(u != NULL);
    return u->in_flight;
}

const char *s3_upload_op_name(enum s3_upload_op op)
{
    switch (op) {
    case S3_UPLOAD_OP_PUT: return "PutObject";
    case S3_UPLOAD_OP_CREATE: return "CreateMultipartUpload";
    case S3_UPLOAD_OP_PART: return "UploadPart";
    case S3_UPLOAD_OP_COMPLETE: return "CompleteMultipartUpload";
    case S3_UPLOAD_OP_ABORT: return "AbortMultipartUpload";
    case S3_UPLOAD_OP_HEAD: return "HeadObject";
    }
    return "unknown request";
}
