/* upload: the PutObject / multipart state machine against a scripted fake S3 in
 * this file. No sockets: the fake reads the request bytes the upload emits (request
 * line, headers, body), checks every one of them (body SHA-256 = the signed
 * x-amz-content-sha256, Content-MD5, Content-Length, no aws-chunked / checksum /
 * Expect headers, the signature recomputed with s3/sigv4 from what is on the wire),
 * keeps objects and multipart uploads like S3 does (R2's equal part sizes
 * enforced), injects the faults a test scripts, and answers with HTTP bytes fed
 * through s3/http's parser. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "s3/http.h"
#include "s3/sigv4.h"
#include "s3/upload.h"
#include "s3/xml.h"

enum {
    PART = 1000,                /* part size in most tests (part_size_min_bytes lowered) */
    T0_MS = 5000,               /* the fake's monotonic start */
    LOG_MAX = 512,
    RULE_MAX = 16,
    FAKE_PARTS_MAX = 64,
    PENDING_MAX = S3_UPLOAD_CONCURRENCY_MAX,
};
#define T0_UNIX INT64_C(1700000000)     /* 2023-11-14 22:13:20 UTC */
#define KEY "events/orders/dt=2023-11-14/hour=22/orders-1700000000000-0-1700000001000-5.parquet"

/* ------------------------------------------------------------------------- */
/* Faults the fake injects                                                     */

enum fault_kind {
    F_STATUS,       /* answer `status` with an <Error> body of `code` (and `headers`) */
    F_NET,          /* no answer: transport error `net` */
    F_APPLY_NET,    /* do the operation, then the connection breaks (`net`) */
    F_200_ERROR,    /* 200 with an <Error> body of `code` (not applied) */
    F_200_BROKEN,   /* 200 with a cut-short XML body (not applied) */
    F_BAD_ETAG,     /* do the operation, answer with ETag `etag` */
};

struct rule {
    enum s3_upload_op op;
    uint32_t part;              /* UploadPart: only this part number (0: any) */
    int times;                  /* how many matching requests it hits; -1: all */
    enum fault_kind kind;
    int status;
    const char *code;
    const char *headers;        /* extra header lines, "Name: value\r\n" */
    enum s3_upload_net net;
    const char *etag;
};

/* One request as the fake saw it. */
struct logged {
    uint32_t id;
    enum s3_upload_op op;       /* what the upload said */
    enum s3_upload_op wire_op;  /* what the fake made of method + query */
    uint32_t part;
    uint32_t attempt;
    int64_t sent_ms;            /* monotonic time when taken */
    int64_t sent_unix;          /* wall clock when taken (what it must be signed with) */
    int64_t answered_ms;
    bool answered;
    char method[8];
    char head[S3_UPLOAD_HEAD_MAX];
    size_t head_len;
    size_t body_len;
    char body_sha[S3_SHA256_HEX_LEN + 1];
    int status;                 /* 0: transport error */
    enum s3_upload_outcome outcome;
};

/* A parsed request head. */
struct parsed {
    char method[16];
    char target[S3_SIGV4_TARGET_MAX];
    size_t count;
    char name[32][64];
    char value[32][S3_SIGV4_TOKEN_MAX + 1];
};

struct fake {
    struct s3_upload *u;
    struct s3_upload_config cfg;
    struct s3_credentials cred;
    uint8_t *mem;
    size_t mem_len;
    uint8_t key[S3_KEY_MAX];
    size_t key_len;

    /* the clock and the random bits the driver hands over */
    int64_t now_ms;
    int64_t unix_s;
    uint64_t random;

    /* the server */
    bool object_exists;
    uint8_t *object;
    size_t object_len;
    char object_etag[64];
    int uploads_created;
    bool upload_open;
    char upload_id[64];
    struct {
        bool have;
        uint8_t *data;
        size_t len;
        uint8_t md5[16];
    } parts[FAKE_PARTS_MAX + 1];
    int aborts;
    int heads;

    struct rule rules[RULE_MAX];
    size_t nrules;

    /* the driver */
    struct s3_upload_request pending[PENDING_MAX];
    size_t npending;
    size_t max_in_flight;
    bool hold_answers;          /* take requests but do not answer (back-pressure) */
    uint64_t chaos_seed;        /* non-zero: random faults (chaos_rule) */

    struct logged log[LOG_MAX];
    size_t nlog;
    struct parsed p;            /* scratch */
    struct s3_sigv4 sig;        /* scratch for the signature check */
};

static struct fake *F;

static void teardown(void)
{
    if (F == NULL) return;
    for (int i = 0; i <= FAKE_PARTS_MAX; i++) free(F->parts[i].data);
    free(F->object);
    free(F->mem);
    free(F->u);
    free(F);
    F = NULL;
}

TestSuite(upload, .fini = teardown);

/* Deterministic body bytes. */
static uint8_t *make_body(size_t len, uint32_t seed)
{
    uint8_t *b = malloc(len ? len : 1);
    cr_assert_not_null(b);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (uint8_t)x;
    }
    return b;
}

static void md5_of(const void *data, size_t len, uint8_t out[16])
{
    br_md5_context c;
    br_md5_init(&c);
    br_md5_update(&c, data, len);
    br_md5_out(&c, out);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* A fresh fake with the default test configuration; tests change F->cfg and call
 * start(). */
static void setup_fake(void)
{
    F = calloc(1, sizeof *F);
    cr_assert_not_null(F);
    F->u = calloc(1, sizeof *F->u);
    cr_assert_not_null(F->u);
    F->cred = (struct s3_credentials){"AKIDLAKEWRITERTEST", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};
    memcpy(F->key, KEY, strlen(KEY));
    F->key_len = strlen(KEY);
    F->cfg = (struct s3_upload_config){
        .endpoint_host = "127.0.0.1", .endpoint_port = 9000, .tls = false,
        .addressing = S3_ADDRESSING_PATH, .bucket = "lake", .region = "auto", .cred = &F->cred,
        .key = F->key, .key_len = F->key_len, .content_type = "application/vnd.apache.parquet",
        .user_agent = "lakewriter-test/1", .part_size_bytes = PART, .part_size_min_bytes = 1,
        .parts_held_max = 4, .concurrency = 4, .attempts_max = 5, .backoff_base_ms = 100,
        .backoff_cap_ms = 20000,
    };
    F->now_ms = T0_MS;
    F->unix_s = T0_UNIX;
    F->random = UINT64_MAX / 2;
    snprintf(F->upload_id, sizeof F->upload_id, "none");
}

static bool start(void)
{
    F->mem_len = s3_upload_memory_bytes(&F->cfg);
    F->mem = calloc(1, F->mem_len ? F->mem_len : 1);
    cr_assert_not_null(F->mem);
    return s3_upload_init(F->u, &F->cfg, F->mem, F->mem_len);
}

static void add_rule(struct rule r)
{
    cr_assert_lt(F->nrules, RULE_MAX);
    F->rules[F->nrules++] = r;
}

static struct s3_upload_now now(void)
{
    return (struct s3_upload_now){F->now_ms, F->unix_s, F->random};
}

/* ------------------------------------------------------------------------- */
/* Reading a request off the wire                                              */

static const char *header(const struct parsed *p, const char *name)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcasecmp(p->name[i], name) == 0) return p->value[i];
    return NULL;
}

static void parse_head(const char *head, size_t len, struct parsed *p)
{
    memset(p, 0, sizeof *p);
    cr_assert_gt(len, 4);
    cr_assert(memcmp(head + len - 4, "\r\n\r\n", 4) == 0, "head does not end with a blank line");
    cr_assert_null(memchr(head, '\0', len), "NUL in the head");
    const char *end = head + len;
    const char *eol = strstr(head, "\r\n");
    cr_assert_not_null(eol);
    char line[S3_SIGV4_TARGET_MAX + 64];
    cr_assert_lt((size_t)(eol - head), sizeof line);
    memcpy(line, head, (size_t)(eol - head));
    line[eol - head] = '\0';
    char *sp1 = strchr(line, ' ');
    cr_assert_not_null(sp1);
    char *sp2 = strchr(sp1 + 1, ' ');
    cr_assert_not_null(sp2);
    cr_assert_str_eq(sp2 + 1, "HTTP/1.1");
    *sp1 = *sp2 = '\0';
    snprintf(p->method, sizeof p->method, "%s", line);
    snprintf(p->target, sizeof p->target, "%s", sp1 + 1);
    const char *at = eol + 2;
    while (at < end - 2) {
        const char *e = strstr(at, "\r\n");
        cr_assert_not_null(e);
        const char *colon = memchr(at, ':', (size_t)(e - at));
        cr_assert_not_null(colon, "header line without a colon");
        cr_assert_lt(p->count, 32);
        size_t nl = (size_t)(colon - at);
        cr_assert_lt(nl, sizeof p->name[0]);
        memcpy(p->name[p->count], at, nl);
        const char *v = colon + 1;
        while (*v == ' ') v++;
        size_t vl = (size_t)(e - v);
        cr_assert_lt(vl, sizeof p->value[0]);
        memcpy(p->value[p->count], v, vl);
        p->count++;
        at = e + 2;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out; returns the length. Only uppercase %XX is what
 * the upload must send. */
static size_t pct_decode(const char *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            cr_assert_lt(i + 2, n, "short escape");
            cr_assert(hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0, "bad escape");
            cr_assert(!(s[i + 1] >= 'a' && s[i + 1] <= 'f') && !(s[i + 2] >= 'a' && s[i + 2] <= 'f'),
                      "lowercase escape");
            out[o++] = (uint8_t)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = (uint8_t)s[i];
        }
    }
    return o;
}

struct query {
    size_t count;
    char name[4][64];
    char value[4][S3_UPLOAD_ID_MAX + 1];
};

static void parse_query(const char *q, struct query *out)
{
    memset(out, 0, sizeof *out);
    while (q != NULL && *q != '\0') {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        cr_assert_not_null(eq, "query parameter without '='");
        cr_assert_lt(out->count, 4);
        size_t nl = pct_decode(q, (size_t)(eq - q), (uint8_t *)out->name[out->count]);
        out->name[out->count][nl] = '\0';
        size_t vl = pct_decode(eq + 1, n - (size_t)(eq + 1 - q), (uint8_t *)out->value[out->count]);
        out->value[out->count][vl] = '\0';
        out->count++;
        q = amp ? amp + 1 : NULL;
    }
}

static const char *qparam(const struct query *q, const char *name)
{
    for (size_t i = 0; i < q->count; i++)
        if (strcmp(q->name[i], name) == 0) return q->value[i];
    return NULL;
}

/* Checks everything about one request that does not depend on the operation:
 * framing, hashes, forbidden headers, and the signature, recomputed from the wire. */
static void check_request(const struct s3_upload_request *req, const struct logged *lg,
                          struct query *q, uint8_t *path, size_t *path_len)
{
    struct parsed *p = &F->p;
    parse_head(req->head, req->head_len, p);
    cr_assert_eq(req->body == NULL, req->body_len == 0);

    /* No streaming, no flexible checksums, no 100-continue. */
    for (size_t i = 0; i < p->count; i++) {
        cr_assert(strncasecmp(p->name[i], "x-amz-checksum", 14) != 0, "%s sent", p->name[i]);
        cr_assert(strcasecmp(p->name[i], "x-amz-sdk-checksum-algorithm") != 0);
        cr_assert(strcasecmp(p->name[i], "expect") != 0, "Expect sent");
        cr_assert(strcasecmp(p->name[i], "transfer-encoding") != 0, "Transfer-Encoding sent");
        cr_assert(strcasecmp(p->name[i], "x-amz-decoded-content-length") != 0);
        cr_assert_null(strstr(p->value[i], "aws-chunked"));
        cr_assert_null(strstr(p->value[i], "STREAMING-"));
    }

    /* Host */
    char host[64];
    snprintf(host, sizeof host, "%s%s:9000", F->cfg.addressing == S3_ADDRESSING_VIRTUAL ? "lake." : "",
             "127.0.0.1");
    cr_assert_str_eq(header(p, "host"), host);

    /* Body: length, SHA-256 (signed) and MD5 */
    char sha[S3_SHA256_HEX_LEN + 1], md5b64[S3_MD5_BASE64_LEN + 1];
    struct s3_body_hash h;
    s3_body_hash_init(&h);
    s3_body_hash_update(&h, req->body, req->body_len);
    s3_body_hash_final(&h, sha, md5b64, NULL);
    cr_assert_str_eq(header(p, "x-amz-content-sha256"), sha, "%s: body SHA-256", p->method);
    const char *cl = header(p, "content-length");
    bool has_body_method = strcmp(p->method, "PUT") == 0 || strcmp(p->method, "POST") == 0;
    if (has_body_method) {
        cr_assert_not_null(cl);
        cr_assert_eq(strtoull(cl, NULL, 10), req->body_len);
    } else {
        cr_assert(cl == NULL || strcmp(cl, "0") == 0);
        cr_assert_eq(req->body_len, 0);
    }
    const char *md5 = header(p, "content-md5");
    if (req->body_len > 0 || strcmp(p->method, "PUT") == 0) {
        cr_assert_not_null(md5, "%s %s without Content-MD5", p->method, p->target);
        cr_assert_str_eq(md5, md5b64, "Content-MD5");
    }
    const char *tok = header(p, "x-amz-security-token");
    if (F->cred.session_token != NULL) cr_assert_str_eq(tok, F->cred.session_token);
    else cr_assert_null(tok);

    /* Date: the wall clock handed over when the request was taken. */
    char amz[17];
    cr_assert(s3_amz_date(lg->sent_unix, amz));
    cr_assert_str_eq(header(p, "x-amz-date"), amz);

    /* Target: path and query, decoded. */
    char *qm = strchr(p->target, '?');
    size_t plen = qm ? (size_t)(qm - p->target) : strlen(p->target);
    *path_len = pct_decode(p->target, plen, path);
    parse_query(qm ? qm + 1 : NULL, q);

    /* The signature, recomputed from what is on the wire. */
    const char *auth = header(p, "authorization");
    cr_assert_not_null(auth);
    const char *sh = strstr(auth, "SignedHeaders=");
    cr_assert_not_null(sh);
    sh += strlen("SignedHeaders=");
    const char *sh_end = strchr(sh, ',');
    cr_assert_not_null(sh_end);
    char list[512];
    snprintf(list, sizeof list, "%.*s", (int)(sh_end - sh), sh);
    cr_assert_not_null(strstr(list, "host"), "host not signed");
    cr_assert_not_null(strstr(list, "x-amz-content-sha256"), "payload hash not signed");
    if (md5 != NULL) cr_assert_not_null(strstr(list, "content-md5"), "Content-MD5 not signed");
    struct s3_sigv4_header hs[24];
    size_t nh = 0;
    for (char *name = strtok(list, ";"); name != NULL; name = strtok(NULL, ";")) {
        if (strcmp(name, "host") == 0 || strcmp(name, "x-amz-date") == 0 ||
            strcmp(name, "x-amz-content-sha256") == 0 || strcmp(name, "x-amz-security-token") == 0)
            continue;
        const char *v = header(p, name);
        cr_assert_not_null(v, "signed header %s not sent", name);
        hs[nh++] = (struct s3_sigv4_header){strdup(name), v};
    }
    struct s3_sigv4_param qp[4];
    for (size_t i = 0; i < q->count; i++) qp[i] = (struct s3_sigv4_param){q->name[i], q->value[i]};
    struct s3_sigv4_input in = {
        .cred = &F->cred, .region = "auto", .unix_seconds = lg->sent_unix, .method = p->method,
        .host = header(p, "host"), .path = path, .path_len = *path_len, .query = qp,
        .query_count = q->count, .headers = hs, .header_count = nh, .payload_hash = sha,
    };
    cr_assert_eq(s3_sigv4_sign(&F->sig, &in, NULL), S3_SIGV4_OK, "%s", F->sig.err);
    for (size_t i = 0; i < nh; i++) free((char *)hs[i].name);
    cr_assert_str_eq(auth, F->sig.authorization, "signature");
    cr_assert_str_eq(p->target, F->sig.target, "request-target is not what was signed");
}

/* ------------------------------------------------------------------------- */
/* Answering                                                                   */

static void feed_answer(const struct s3_upload_request *req, struct logged *lg, const char *text)
{
    static struct http_response r;
    http_response_init(&r, NULL, req->head_request);
    http_response_collect(&r, req->response_buf, req->response_cap);
    const uint8_t *d = (const uint8_t *)text;
    size_t left = strlen(text);
    enum http_event ev;
    do {
        size_t used;
        struct http_slice body;
        ev = http_response_feed(&r, d, left, &used, &body);
        d += used;
        left -= used;
        cr_assert_neq(ev, HTTP_EVENT_ERROR, "fake answer unparsable: %s", http_strerror(r.error));
        if (ev == HTTP_EVENT_NEED_MORE) ev = http_response_eof(&r);
    } while (ev != HTTP_EVENT_DONE);
    struct s3_upload_now n = now();
    lg->status = r.status;
    lg->outcome = s3_upload_response(F->u, req->id, &r, &n);
}

static void answer(const struct s3_upload_request *req, struct logged *lg, int status,
                   const char *headers, const char *body)
{
    char *text = malloc(65536);
    cr_assert_not_null(text);
    size_t index = (size_t)(lg - F->log);
    if (req->head_request)
        snprintf(text, 65536, "HTTP/1.1 %d X\r\nx-amz-request-id: RID%zu\r\n%sContent-Length: %zu\r\n\r\n",
                 status, index, headers ? headers : "", F->object_len);
    else
        snprintf(text, 65536, "HTTP/1.1 %d X\r\nx-amz-request-id: RID%zu\r\n%sContent-Length: %zu\r\n\r\n%s",
                 status, index, headers ? headers : "", strlen(body ? body : ""), body ? body : "");
    feed_answer(req, lg, text);
    free(text);
}

static void answer_error(const struct s3_upload_request *req, struct logged *lg, int status,
                         const char *code, const char *headers)
{
    char body[512];
    snprintf(body, sizeof body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
             "<Message>fake %s</Message><RequestId>REQ%zu</RequestId></Error>", code, code,
             (size_t)(lg - F->log));
    answer(req, lg, status, headers, req->head_request ? NULL : body);
}

static void net_error(const struct s3_upload_request *req, struct logged *lg, enum s3_upload_net k)
{
    struct s3_upload_now n = now();
    lg->status = 0;
    lg->outcome = s3_upload_transport_error(F->u, req->id, k, "fake", &n);
}

static struct rule *matching_rule(enum s3_upload_op op, uint32_t part)
{
    for (size_t i = 0; i < F->nrules; i++) {
        struct rule *r = &F->rules[i];
        if (r->op != op || r->times == 0) continue;
        if (op == S3_UPLOAD_OP_PART && r->part != 0 && r->part != part) continue;
        if (r->times > 0) r->times--;
        return r;
    }
    return NULL;
}

/* S3's behaviour for each operation; *etag gets the ETag to answer with. Returns the
 * HTTP status and fills *code for errors. */
static int apply(enum s3_upload_op op, const struct query *q, const struct s3_upload_request *req,
                 const char **code, char *etag, char *xml, size_t xml_cap)
{
    uint8_t md5[16];
    *code = NULL;
    xml[0] = '\0';
    switch (op) {
    case S3_UPLOAD_OP_PUT:
        free(F->object);
        F->object = malloc(req->body_len + 1);
        memcpy(F->object, req->body ? req->body : (const uint8_t *)"", req->body_len);
        F->object_len = req->body_len;
        md5_of(req->body ? (const void *)req->body : "", req->body_len, md5);
        hex(md5, 16, F->object_etag);
        F->object_exists = true;
        sprintf(etag, "\"%s\"", F->object_etag);
        return 200;
    case S3_UPLOAD_OP_CREATE:
        F->uploads_created++;
        snprintf(F->upload_id, sizeof F->upload_id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRz-%d",
                 F->uploads_created);
        F->upload_open = true;
        for (int i = 0; i <= FAKE_PARTS_MAX; i++) {
            free(F->parts[i].data);
            F->parts[i].data = NULL;
            F->parts[i].have = false;
        }
        snprintf(xml, xml_cap, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Bucket>lake</Bucket><Key>k</Key><UploadId>%s</UploadId>"
                 "</InitiateMultipartUploadResult>", F->upload_id);
        return 200;
    case S3_UPLOAD_OP_PART: {
        if (!F->upload_open || strcmp(qparam(q, "uploadId"), F->upload_id) != 0) {
            *code = "NoSuchUpload";
            return 404;
        }
        long n = strtol(qparam(q, "partNumber"), NULL, 10);
        cr_assert(n >= 1 && n <= FAKE_PARTS_MAX, "part number %ld", n);
        free(F->parts[n].data);
        F->parts[n].data = malloc(req->body_len);
        memcpy(F->parts[n].data, req->body, req->body_len);
        F->parts[n].len = req->body_len;
        F->parts[n].have = true;
        md5_of(req->body, req->body_len, F->parts[n].md5);
        char h[33];
        hex(F->parts[n].md5, 16, h);
        sprintf(etag, "\"%s\"", h);
        return 200;
    }
    case S3_UPLOAD_OP_COMPLETE: {
        if (!F->upload_open || strcmp(qparam(q, "uploadId"), F->upload_id) != 0) {
            *code = "NoSuchUpload";
            return 404;
        }
        /* The listed parts: ascending, known, ETags right; R2's equal sizes. */
        char *text = strndup((const char *)req->body, req->body_len);
        cr_assert(s3_xml_check(text, req->body_len, NULL, 0) == S3_XML_OK, "Complete body: %s", text);
        int count = 0;
        size_t first_len = 0, total = 0;
        uint8_t cat[16 * FAKE_PARTS_MAX];
        for (char *at = strstr(text, "<Part>"); at != NULL; at = strstr(at + 1, "<Part>")) {
            int num;
            char tag[64];
            cr_assert_eq(sscanf(at, "<Part><PartNumber>%d</PartNumber><ETag>%63[^<]</ETag></Part>",
                                &num, tag), 2, "Complete part: %.80s", at);
            count++;
            cr_assert_eq(num, count, "parts not in order");
            cr_assert(F->parts[num].have, "part %d never uploaded", num);
            char want[40], h[33];
            hex(F->parts[num].md5, 16, h);
            sprintf(want, "\"%s\"", h);
            cr_assert_str_eq(tag, want);
            if (num == 1) first_len = F->parts[num].len;
            memcpy(cat + 16 * (num - 1), F->parts[num].md5, 16);
            total += F->parts[num].len;
        }
        free(text);
        cr_assert_gt(count, 0);
        for (int i = 1; i < count; i++) cr_assert_eq(F->parts[i].len, first_len, "R2: unequal part sizes");
        cr_assert_leq(F->parts[count].len, first_len, "R2: last part longer than the others");
        for (int i = count + 1; i <= FAKE_PARTS_MAX; i++) cr_assert(!F->parts[i].have, "part %d left out", i);
        free(F->object);
        F->object = malloc(total + 1);
        F->object_len = 0;
        for (int i = 1; i <= count; i++) {
            memcpy(F->object + F->object_len, F->parts[i].data, F->parts[i].len);
            F->object_len += F->parts[i].len;
        }
        md5_of(cat, 16 * (size_t)count, md5);
        char h[33];
        hex(md5, 16, h);
        snprintf(F->object_etag, sizeof F->object_etag, "%s-%d", h, count);
        F->object_exists = true;
        F->upload_open = false;
        /* S3 sends whitespace while it assembles the object, then the result. */
        snprintf(xml, xml_cap, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n    \n"
                 "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Location>http://127.0.0.1/lake/k</Location><Bucket>lake</Bucket><Key>k</Key>"
                 "<ETag>&quot;%s&quot;</ETag></CompleteMultipartUploadResult>", F->object_etag);
        return 200;
    }
    case S3_UPLOAD_OP_ABORT:
        if (!F->upload_open || strcmp(qparam(q, "uploadId"), F->upload_id) != 0) {
            *code = "NoSuchUpload";
            return 404;
        }
        F->upload_open = false;
        F->aborts++;
        return 204;
    case S3_UPLOAD_OP_HEAD:
        F->heads++;
        if (!F->object_exists) return 404;
        sprintf(etag, "\"%s\"", F->object_etag);
        return 200;
    }
    return 500;
}

/* Chaos mode: a third of the requests meet a random fault. */
static uint32_t chaos_next(void)
{
    F->chaos_seed ^= F->chaos_seed << 13;
    F->chaos_seed ^= F->chaos_seed >> 7;
    F->chaos_seed ^= F->chaos_seed << 17;
    return (uint32_t)(F->chaos_seed >> 32);
}

static struct rule *chaos_rule(enum s3_upload_op op)
{
    static const struct {
        int status;
        const char *code;
    } errors[] = {
        {500, "InternalError"}, {503, "SlowDown"}, {400, "RequestTimeout"}, {429, "TooManyRequests"},
        {502, "BadGateway"}, {403, "AccessDenied"}, {400, "InvalidArgument"}, {404, "NoSuchBucket"},
        {403, "SignatureDoesNotMatch"}, {501, "NotImplemented"}, {409, "OperationAborted"},
    };
    static const enum s3_upload_net nets[] = {
        S3_UPLOAD_NET_CONNECT, S3_UPLOAD_NET_RESET, S3_UPLOAD_NET_TIMEOUT, S3_UPLOAD_NET_TLS_IO,
        S3_UPLOAD_NET_HTTP, S3_UPLOAD_NET_TLS_CERT,
    };
    F->random = (uint64_t)chaos_next() << 32 | chaos_next();
    if (chaos_next() % 3 != 0) return NULL;
    struct rule *r = &F->rules[0];
    memset(r, 0, sizeof *r);
    r->op = op;
    uint32_t pick = chaos_next() % 100;
    if (pick < 40) {
        r->kind = F_STATUS;
        size_t e = chaos_next() % (pick < 30 ? 5 : sizeof errors / sizeof errors[0]);
        r->status = errors[e].status;
        r->code = errors[e].code;
        if (chaos_next() % 4 == 0) r->headers = "Retry-After: 1\r\n";
    } else if (pick < 75) {
        r->kind = F_NET;
        r->net = nets[chaos_next() % (pick < 72 ? 5 : 6)];
    } else if (pick < 88) {
        r->kind = F_APPLY_NET;
        r->net = S3_UPLOAD_NET_RESET;
    } else if (pick < 93) {
        r->kind = F_200_ERROR;
        r->code = "InternalError";
    } else if (pick < 97) {
        r->kind = F_200_BROKEN;
    } else {
        r->kind = F_BAD_ETAG;
        r->etag = "\"00112233445566778899aabbccddeeff\"";
    }
    return r;
}

/* What the method and query say the request is. */
static enum s3_upload_op wire_op(const char *method, const struct query *q)
{
    if (strcmp(method, "PUT") == 0) return qparam(q, "partNumber") ? S3_UPLOAD_OP_PART : S3_UPLOAD_OP_PUT;
    if (strcmp(method, "POST") == 0) return qparam(q, "uploads") ? S3_UPLOAD_OP_CREATE : S3_UPLOAD_OP_COMPLETE;
    if (strcmp(method, "DELETE") == 0) return S3_UPLOAD_OP_ABORT;
    cr_assert_str_eq(method, "HEAD");
    return S3_UPLOAD_OP_HEAD;
}

/* The fake server handles one request taken earlier. */
static void serve(const struct s3_upload_request *req)
{
    struct logged *lg = NULL;
    for (size_t i = 0; i < F->nlog; i++)
        if (F->log[i].id == req->id) lg = &F->log[i];
    cr_assert_not_null(lg);
    lg->answered = true;
    lg->answered_ms = F->now_ms;

    struct query q;
    static uint8_t path[S3_SIGV4_PATH_MAX + 1];
    size_t path_len;
    check_request(req, lg, &q, path, &path_len);
    char want_path[S3_SIGV4_PATH_MAX + 8];
    snprintf(want_path, sizeof want_path, "%s%.*s", F->cfg.addressing == S3_ADDRESSING_PATH ? "/lake/" : "/",
             (int)F->key_len, (const char *)F->key);
    cr_assert_eq(path_len, strlen(want_path));
    cr_assert(memcmp(path, want_path, path_len) == 0, "path");
    enum s3_upload_op op = wire_op(F->p.method, &q);
    lg->wire_op = op;
    cr_assert_eq(op, req->op, "the upload says %s, the wire says %s", s3_upload_op_name(req->op),
                 s3_upload_op_name(op));
    if (op == S3_UPLOAD_OP_PART) cr_assert_eq(strtoul(qparam(&q, "partNumber"), NULL, 10), req->part_number);
    if (op == S3_UPLOAD_OP_PUT || op == S3_UPLOAD_OP_CREATE)
        cr_assert_str_eq(header(&F->p, "content-type"), "application/vnd.apache.parquet");
    cr_assert_str_eq(header(&F->p, "user-agent"), "lakewriter-test/1");

    struct rule *r = F->chaos_seed ? chaos_rule(op) : matching_rule(op, req->part_number);
    char etag[80] = "", hdrs[256], xml[1024];
    const char *code;
    if (r != NULL) {
        switch (r->kind) {
        case F_STATUS: answer_error(req, lg, r->status, r->code, r->headers); return;
        case F_NET: net_error(req, lg, r->net); return;
        case F_APPLY_NET:
            apply(op, &q, req, &code, etag, xml, sizeof xml);
            net_error(req, lg, r->net);
            return;
        case F_200_ERROR: answer_error(req, lg, 200, r->code, r->headers); return;
        case F_200_BROKEN:
            answer(req, lg, 200, NULL, "<?xml version=\"1.0\"?>\n  \n<CompleteMultipartUploadResult><Bucket>la");
            return;
        case F_BAD_ETAG:
            apply(op, &q, req, &code, etag, xml, sizeof xml);
            snprintf(hdrs, sizeof hdrs, "ETag: %s\r\n", r->etag);
            if (op == S3_UPLOAD_OP_COMPLETE)
                snprintf(xml, sizeof xml, "<CompleteMultipartUploadResult><ETag>%s</ETag>"
                         "</CompleteMultipartUploadResult>", r->etag);
            answer(req, lg, 200, hdrs, xml);
            return;
        }
    }
    int status = apply(op, &q, req, &code, etag, xml, sizeof xml);
    if (code != NULL) {
        answer_error(req, lg, status, code, NULL);
        return;
    }
    hdrs[0] = '\0';
    if (etag[0]) snprintf(hdrs, sizeof hdrs, "ETag: %s\r\n", etag);
    answer(req, lg, status, hdrs, xml);
}

/* ------------------------------------------------------------------------- */
/* The driver                                                                  */

struct producer {
    const uint8_t *data;
    size_t len;
    size_t off;
    const size_t *slices;       /* slice sizes, cycled; NULL: as much as there is room for */
    size_t nslices;
    size_t si;
    bool ended;
    bool no_end;                /* never say "end of body" */
};

static void take_one(void)
{
    cr_assert_lt(F->npending, PENDING_MAX);
    struct s3_upload_request *req = &F->pending[F->npending];
    struct s3_upload_now n = now();
    cr_assert(s3_upload_request_take(F->u, &n, req), "REQUEST wanted but nothing taken: %s",
              s3_upload_error(F->u)->msg);
    F->npending++;
    cr_assert_leq(F->npending, F->cfg.concurrency ? F->cfg.concurrency : S3_UPLOAD_CONCURRENCY_DEFAULT);
    cr_assert_eq(s3_upload_in_flight(F->u), F->npending);
    if (F->npending > F->max_in_flight) F->max_in_flight = F->npending;
    cr_assert_lt(F->nlog, LOG_MAX);
    struct logged *lg = &F->log[F->nlog++];
    memset(lg, 0, sizeof *lg);
    lg->id = req->id;
    lg->op = req->op;
    lg->part = req->part_number;
    lg->attempt = req->attempt;
    lg->sent_ms = F->now_ms;
    lg->sent_unix = F->unix_s;
    cr_assert_lt(req->head_len, sizeof lg->head);
    memcpy(lg->head, req->head, req->head_len);
    lg->head_len = req->head_len;
    lg->body_len = req->body_len;
    s3_sha256_hex(req->body, req->body_len, lg->body_sha);
}

static void answer_oldest(void)
{
    cr_assert_gt(F->npending, 0);
    struct s3_upload_request req = F->pending[0];
    memmove(F->pending, F->pending + 1, (F->npending - 1) * sizeof F->pending[0]);
    F->npending--;
    serve(&req);
}

/* One producer step; false when it has nothing to do. */
static bool produce(struct producer *pr, unsigned want)
{
    if (pr->off == pr->len && !pr->ended && !pr->no_end) {
        s3_upload_body_end(F->u);
        pr->ended = true;
        return true;
    }
    if (!(want & S3_UPLOAD_WANT_BODY) || pr->off == pr->len) return false;
    size_t room;
    uint8_t *p = s3_upload_body_buf(F->u, &room);
    cr_assert_not_null(p);
    cr_assert_gt(room, 0);
    size_t n = pr->len - pr->off;
    if (pr->slices != NULL) {
        size_t s = pr->slices[pr->si++ % pr->nslices];
        if (s < n) n = s;
    }
    if (room < n) n = room;
    memcpy(p, pr->data + pr->off, n);
    s3_upload_body_ack(F->u, n);
    pr->off += n;
    return true;
}

/* Drives the upload to DONE or FAILED: takes every request it may, feeds the body,
 * answers the oldest request, and jumps the clock to the next retry only when
 * nothing else can happen. Returns the final want. */
static unsigned run(struct producer *pr)
{
    for (int guard = 0; guard < 2000000; guard++) {
        unsigned w = s3_upload_want(F->u, F->now_ms);
        if (w & (S3_UPLOAD_WANT_DONE | S3_UPLOAD_WANT_FAILED)) {
            cr_assert(w == S3_UPLOAD_WANT_DONE || w == S3_UPLOAD_WANT_FAILED, "want %#x", w);
            cr_assert_eq(F->npending, 0, "finished with requests in flight");
            cr_assert_eq(s3_upload_in_flight(F->u), 0);
            return w;
        }
        if (w & S3_UPLOAD_WANT_REQUEST) {
            take_one();
            continue;
        }
        if (produce(pr, w)) continue;
        if (F->npending > 0 && !F->hold_answers) {
            answer_oldest();
            continue;
        }
        if (w & S3_UPLOAD_WANT_TIMER) {
            int64_t t = s3_upload_wake_ms(F->u);
            cr_assert_gt(t, F->now_ms);
            F->now_ms = t;
            F->unix_s = T0_UNIX + (F->now_ms - T0_MS) / 1000;  /* the wall clock moves too */
            continue;
        }
        return w;   /* stuck (or holding answers): the caller looks */
    }
    cr_assert_fail("the upload never finished");
    return 0;
}

static unsigned upload_body(const uint8_t *data, size_t len)
{
    struct producer pr = {.data = data, .len = len};
    return run(&pr);
}

static size_t count_op(enum s3_upload_op op)
{
    size_t n = 0;
    for (size_t i = 0; i < F->nlog; i++) n += F->log[i].op == op;
    return n;
}

/* The object in the fake is `data` and the result says so. */
static void assert_stored(const uint8_t *data, size_t len, uint32_t parts, bool multipart)
{
    const struct s3_upload_result *res = s3_upload_result(F->u);
    cr_assert(F->object_exists);
    cr_assert_eq(F->object_len, len);
    cr_assert(len == 0 || memcmp(F->object, data, len) == 0, "stored bytes differ");
    cr_assert_str_eq(res->etag, F->object_etag);
    cr_assert_eq(res->size_bytes, len);
    cr_assert_eq(res->part_count, parts);
    cr_assert_eq(res->multipart, multipart);
    cr_assert_eq(res->requests, F->nlog);
    cr_assert_eq(F->upload_open, false, "multipart upload left open");
}

/* ------------------------------------------------------------------------- */
/* Shapes: PutObject, multipart, boundaries                                     */

Test(upload, single_put)
{
    setup_fake();
    cr_assert(start(), "%s", s3_upload_error(F->u)->msg);
    uint8_t *body = make_body(777, 1);
    cr_assert_eq(upload_body(body, 777), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(F->nlog, 1);
    cr_assert_eq(F->log[0].op, S3_UPLOAD_OP_PUT);
    cr_assert_eq(F->log[0].body_len, 777);
    cr_assert_eq(F->uploads_created, 0);
    assert_stored(body, 777, 1, false);
    uint8_t md5[16];
    char h[33];
    md5_of(body, 777, md5);
    hex(md5, 16, h);
    cr_assert_str_eq(s3_upload_result(F->u)->etag, h);
    /* Exact head shape: request line and the fixed headers. */
    const char *want = "PUT /lake/events/orders/dt%3D2023-11-14/hour%3D22/orders-1700000000000-0-"
                       "1700000001000-5.parquet HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nContent-MD5: ";
    cr_assert(strncmp(F->log[0].head, want, strlen(want)) == 0, "%s", F->log[0].head);
    free(body);
}

Test(upload, multipart_uneven_last_part)
{
    setup_fake();
    cr_assert(start());
    uint8_t *body = make_body(3 * PART + 456, 2);
    cr_assert_eq(upload_body(body, 3 * PART + 456), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(count_op(S3_UPLOAD_OP_CREATE), 1);
    cr_assert_eq(count_op(S3_UPLOAD_OP_PART), 4);
    cr_assert_eq(count_op(S3_UPLOAD_OP_COMPLETE), 1);
    cr_assert_eq(count_op(S3_UPLOAD_OP_PUT), 0);
    cr_assert_eq(F->log[0].op, S3_UPLOAD_OP_CREATE, "Create goes first");
    cr_assert_eq(F->log[F->nlog - 1].op, S3_UPLOAD_OP_COMPLETE, "Complete goes last");
    for (size_t i = 0; i < F->nlog; i++) {
        if (F->log[i].op != S3_UPLOAD_OP_PART) continue;
        cr_assert_eq(F->log[i].body_len, F->log[i].part == 4 ? 456u : (size_t)PART, "part %u",
                     F->log[i].part);
    }
    assert_stored(body, 3 * PART + 456, 4, true);
    cr_assert_not_null(strstr(s3_upload_result(F->u)->etag, "-4"));
    free(body);
}

Test(upload, exact_part_boundaries)
{
    /* exactly three parts: three equal parts, no empty fourth */
    setup_fake();
    cr_assert(start());
    uint8_t *body = make_body(3 * PART, 3);
    cr_assert_eq(upload_body(body, 3 * PART), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(count_op(S3_UPLOAD_OP_PART), 3);
    for (size_t i = 0; i < F->nlog; i++)
        if (F->log[i].op == S3_UPLOAD_OP_PART) cr_assert_eq(F->log[i].body_len, PART);
    assert_stored(body, 3 * PART, 3, true);
    free(body);
    teardown();

    /* exactly one part: a single PutObject */
    setup_fake();
    cr_assert(start());
    body = make_body(PART, 4);
    cr_assert_eq(upload_body(body, PART), S3_UPLOAD_WANT_DONE);
    cr_assert_eq(F->nlog, 1);
    cr_assert_eq(F->log[0].op, S3_UPLOAD_OP_PUT);
    assert_stored(body, PART, 1, false);
    free(body);
    teardown();

    /* one byte more than a part: multipart with a 1-byte last part */
    setup_fake();
    cr_assert(start());
    body = make_body(PART + 1, 5);
    cr_assert_eq(upload_body(body, PART + 1), S3_UPLOAD_WANT_DONE);
    cr_assert_eq(count_op(S3_UPLOAD_OP_PART), 2);
    assert_stored(body, PART + 1, 2, true);
    free(body);
}

Test(upload, zero_byte_body)
{
    setup_fake();
    cr_assert(start());
    cr_assert_eq(upload_body(NULL, 0), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(F->nlog, 1);
    cr_assert_eq(F->log[0].op, S3_UPLOAD_OP_PUT);
    cr_assert_eq(F->log[0].body_len, 0);
    cr_assert_str_eq(F->log[0].body_sha, S3_EMPTY_SHA256_HEX);
    cr_assert_not_null(strstr(F->log[0].head, "\r\nContent-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\r\n"));
    cr_assert_not_null(strstr(F->log[0].head, "\r\nX-Amz-Content-Sha256: " S3_EMPTY_SHA256_HEX "\r\n"));
    cr_assert_not_null(strstr(F->log[0].head, "\r\nContent-Length: 0\r\n"));
    assert_stored(NULL, 0, 1, false);
    cr_assert_str_eq(s3_upload_result(F->u)->etag, "d41d8cd98f00b204e9800998ecf8427e");
}

Test(upload, many_parts_equal_sizes_and_md5s)
{
    setup_fake();
    F->cfg.parts_held_max = 3;
    cr_assert(start());
    size_t len = 17 * PART + 999;
    uint8_t *body = make_body(len, 6);
    cr_assert_eq(upload_body(body, len), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(count_op(S3_UPLOAD_OP_PART), 18);
    /* Each part request carries exactly its slice of the body. */
    for (size_t i = 0; i < F->nlog; i++) {
        const struct logged *lg = &F->log[i];
        if (lg->op != S3_UPLOAD_OP_PART) continue;
        size_t off = (size_t)(lg->part - 1) * PART;
        size_t n = lg->part == 18 ? 999 : PART;
        cr_assert_eq(lg->body_len, n);
        char sha[65];
        s3_sha256_hex(body + off, n, sha);
        cr_assert_str_eq(lg->body_sha, sha, "part %u", lg->part);
        char md5[S3_MD5_BASE64_LEN + 1], sh[65];
        struct s3_body_hash h;
        s3_body_hash_init(&h);
        s3_body_hash_update(&h, body + off, n);
        s3_body_hash_final(&h, sh, md5, NULL);
        char line[64];
        snprintf(line, sizeof line, "\r\nContent-MD5: %s\r\n", md5);
        cr_assert_not_null(strstr(lg->head, line));
    }
    assert_stored(body, len, 18, true);
    free(body);
}

Test(upload, real_part_size_default)
{
    /* The real limits: 5 MiB minimum, 16 MiB default, 10000 parts. */
    setup_fake();
    F->cfg.part_size_bytes = 0;
    F->cfg.part_size_min_bytes = 0;
    cr_assert(start(), "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(F->u->cfg.part_size_bytes, 16 * S3_UPLOAD_MIB);
    cr_assert_eq(F->u->cfg.part_count_max, 10000);
    cr_assert_geq(F->mem_len, 4 * 16 * S3_UPLOAD_MIB + 10000 * 16);
    teardown();
    setup_fake();
    F->cfg.part_size_bytes = 4 * S3_UPLOAD_MIB;
    F->cfg.part_size_min_bytes = 0;
    cr_assert_eq(s3_upload_memory_bytes(&F->cfg), 0);
    F->mem = malloc(1);
    cr_assert_not(s3_upload_init(F->u, &F->cfg, F->mem, 1));
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_CONFIG);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "part size 4194304"), "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(s3_upload_want(F->u, 0), S3_UPLOAD_WANT_FAILED);
}

/* ------------------------------------------------------------------------- */
/* Slicing, back-pressure, concurrency                                          */

/* The requests of a run, as (op, part, attempt, head, body hash), sorted. */
static int cmp_logged(const void *a, const void *b)
{
    const struct logged *x = a, *y = b;
    if (x->op != y->op) return (int)x->op - (int)y->op;
    if (x->part != y->part) return (int)x->part - (int)y->part;
    return (int)x->attempt - (int)y->attempt;
}

static size_t run_sliced(const uint8_t *body, size_t len, const size_t *slices, size_t nslices,
                         struct logged *out)
{
    setup_fake();
    cr_assert(start());
    struct producer pr = {.data = body, .len = len, .slices = slices, .nslices = nslices};
    cr_assert_eq(run(&pr), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    assert_stored(body, len, (uint32_t)((len + PART - 1) / PART), len > PART);
    size_t n = F->nlog;
    memcpy(out, F->log, n * sizeof *out);
    qsort(out, n, sizeof *out, cmp_logged);
    teardown();
    return n;
}

Test(upload, slicing_gives_the_same_requests)
{
    size_t len = 4 * PART + 321;
    uint8_t *body = make_body(len, 7);
    static struct logged a[64], b[64], c[64];
    static const size_t one[] = {1};
    static const size_t odd[] = {7, 13, 1001, 3, 999, 2, 1500};
    size_t na = run_sliced(body, len, NULL, 0, a);
    size_t nb = run_sliced(body, len, one, 1, b);
    size_t nc = run_sliced(body, len, odd, sizeof odd / sizeof odd[0], c);
    cr_assert_eq(na, 7);
    cr_assert_eq(nb, na);
    cr_assert_eq(nc, na);
    for (size_t i = 0; i < na; i++) {
        cr_assert_eq(a[i].op, b[i].op);
        cr_assert_eq(a[i].part, b[i].part);
        cr_assert_eq(a[i].head_len, b[i].head_len);
        cr_assert(memcmp(a[i].head, b[i].head, a[i].head_len) == 0, "head %zu differs (1-byte)", i);
        cr_assert(memcmp(a[i].head, c[i].head, a[i].head_len) == 0, "head %zu differs (odd)", i);
        cr_assert_str_eq(a[i].body_sha, b[i].body_sha);
        cr_assert_str_eq(a[i].body_sha, c[i].body_sha);
    }
    /* The same for a single PutObject. */
    na = run_sliced(body, 555, NULL, 0, a);
    nb = run_sliced(body, 555, one, 1, b);
    cr_assert_eq(na, 1);
    cr_assert_eq(nb, 1);
    cr_assert(memcmp(a[0].head, b[0].head, a[0].head_len) == 0);
    free(body);
}

Test(upload, body_write_takes_what_fits)
{
    setup_fake();
    F->cfg.parts_held_max = 2;
    cr_assert(start());
    uint8_t *body = make_body(5 * PART, 8);
    /* Two buffers: the first part waits for the next byte, the second fills. */
    size_t took = s3_upload_body_write(F->u, body, 5 * PART);
    cr_assert_eq(took, 2 * PART);
    cr_assert_eq(s3_upload_want(F->u, F->now_ms) & S3_UPLOAD_WANT_BODY, 0);
    size_t room = 99;
    cr_assert_null(s3_upload_body_buf(F->u, &room));
    cr_assert_eq(room, 0);
    struct producer pr = {.data = body, .len = 5 * PART, .off = took};
    cr_assert_eq(run(&pr), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    assert_stored(body, 5 * PART, 5, true);
    free(body);
}

Test(upload, back_pressure)
{
    setup_fake();
    F->cfg.parts_held_max = 3;
    F->cfg.concurrency = 4;
    cr_assert(start());
    size_t len = 10 * PART;
    uint8_t *body = make_body(len, 9);
    static const size_t slices[] = {333};
    struct producer pr = {.data = body, .len = len, .slices = slices, .nslices = 1};
    F->hold_answers = true;
    unsigned w = run(&pr);
    /* Three parts held, nothing acknowledged: no more body is taken. */
    cr_assert_eq(w & S3_UPLOAD_WANT_BODY, 0);
    cr_assert_eq(pr.off, 3 * PART);
    cr_assert_eq(F->npending, 1, "only Create can go before the UploadId is known");
    cr_assert_eq(F->pending[0].op, S3_UPLOAD_OP_CREATE);
    answer_oldest();
    w = run(&pr);
    cr_assert_eq(w & S3_UPLOAD_WANT_BODY, 0, "parts in flight still hold their buffers");
    cr_assert_eq(pr.off, 3 * PART);
    cr_assert_eq(F->npending, 3);
    for (size_t i = 0; i < 3; i++) cr_assert_eq(F->pending[i].part_number, i + 1);
    /* One part acknowledged: one part's room. */
    answer_oldest();
    w = s3_upload_want(F->u, F->now_ms);
    cr_assert_neq(w & S3_UPLOAD_WANT_BODY, 0);
    size_t room;
    cr_assert_not_null(s3_upload_body_buf(F->u, &room));
    cr_assert_eq(room, PART);
    w = run(&pr);
    cr_assert_eq(pr.off, 4 * PART);
    F->hold_answers = false;
    cr_assert_eq(run(&pr), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    assert_stored(body, len, 10, true);
    free(body);
}

Test(upload, concurrency_limit)
{
    for (uint32_t conc = 1; conc <= 3; conc++) {
        setup_fake();
        F->cfg.parts_held_max = 6;
        F->cfg.concurrency = conc;
        cr_assert(start());
        size_t len = 10 * PART + 1;
        uint8_t *body = make_body(len, 10);
        cr_assert_eq(upload_body(body, len), S3_UPLOAD_WANT_DONE);
        cr_assert_eq(F->max_in_flight, conc, "concurrency %u: at most and up to %u in flight", conc, conc);
        assert_stored(body, len, 11, true);
        free(body);
        teardown();
    }
}

/* ------------------------------------------------------------------------- */
/* Retries                                                                     */

/* The delay the policy must choose: full jitter over min(base * 2^(k-1), cap). */
static int64_t expected_delay(uint32_t k, uint64_t base, uint64_t cap, uint64_t random)
{
    uint64_t window = base;
    for (uint32_t i = 1; i < k; i++) window = window * 2 > cap ? cap : window * 2;
    if (window > cap) window = cap;
    return (int64_t)((window * (random >> 32)) >> 32);
}

struct fault_case {
    const char *name;
    struct rule rule;
};

static const struct fault_case retryable[] = {
    {"500", {.kind = F_STATUS, .status = 500, .code = "InternalError"}},
    {"502", {.kind = F_STATUS, .status = 502, .code = "BadGateway"}},
    {"503 SlowDown", {.kind = F_STATUS, .status = 503, .code = "SlowDown"}},
    {"504", {.kind = F_STATUS, .status = 504, .code = "GatewayTimeout"}},
    {"400 RequestTimeout", {.kind = F_STATUS, .status = 400, .code = "RequestTimeout"}},
    {"429", {.kind = F_STATUS, .status = 429, .code = "TooManyRequests"}},
    {"reset", {.kind = F_NET, .net = S3_UPLOAD_NET_RESET}},
    {"timeout", {.kind = F_NET, .net = S3_UPLOAD_NET_TIMEOUT}},
    {"TLS I/O", {.kind = F_NET, .net = S3_UPLOAD_NET_TLS_IO}},
    {"connect", {.kind = F_NET, .net = S3_UPLOAD_NET_CONNECT}},
    {"broken HTTP", {.kind = F_NET, .net = S3_UPLOAD_NET_HTTP}},
};

Test(upload, every_retryable_fault_is_retried_with_backoff)
{
    for (size_t c = 0; c < sizeof retryable / sizeof retryable[0]; c++) {
        for (int shape = 0; shape < 2; shape++) {
            setup_fake();
            F->random = UINT64_C(0xd000000000000000) + c;  /* 0.8125 of the window */
            cr_assert(start());
            struct rule r = retryable[c].rule;
            r.times = 3;
            r.op = shape == 0 ? S3_UPLOAD_OP_PUT : S3_UPLOAD_OP_PART;
            r.part = 2;
            add_rule(r);
            size_t len = shape == 0 ? 500 : 3 * PART;
            uint8_t *body = make_body(len, 11);
            cr_assert_eq(upload_body(body, len), S3_UPLOAD_WANT_DONE, "%s: %s", retryable[c].name,
                         s3_upload_error(F->u)->msg);
            assert_stored(body, len, shape == 0 ? 1 : 3, shape == 1);
            cr_assert_eq(s3_upload_result(F->u)->retries, 3, "%s", retryable[c].name);
            /* Attempts 1..4 of the faulty request, each retry after the expected delay. */
            const struct logged *prev = NULL;
            uint32_t attempts = 0;
            int64_t last_delay = -1;
            for (size_t i = 0; i < F->nlog; i++) {
                const struct logged *lg = &F->log[i];
                if (lg->op != r.op || (shape == 1 && lg->part != 2)) continue;
                attempts++;
                cr_assert_eq(lg->attempt, attempts);
                if (prev != NULL) {
                    cr_assert_eq(prev->outcome, S3_UPLOAD_OUTCOME_RETRY, "%s", retryable[c].name);
                    int64_t d = lg->sent_ms - prev->answered_ms;
                    uint64_t window = 100u << (attempts - 2);
                    cr_assert_eq(d, expected_delay(attempts - 1, 100, 20000, F->random), "%s: retry %u",
                                 retryable[c].name, attempts - 1);
                    cr_assert(d >= 0 && (uint64_t)d < window, "%s: delay %" PRId64 " outside [0, %" PRIu64 ")",
                              retryable[c].name, d, window);
                    cr_assert_gt(d, last_delay, "%s: backoff not increasing", retryable[c].name);
                    last_delay = d;
                }
                prev = lg;
            }
            cr_assert_eq(attempts, 4, "%s", retryable[c].name);
            cr_assert_eq(prev->outcome, S3_UPLOAD_OUTCOME_OK);
            free(body);
            teardown();
        }
    }
}

Test(upload, backoff_formula_bounds)
{
    /* random 0 -> no wait; all ones -> just under the window; the window doubles to the cap */
    cr_assert_eq(s3_upload_backoff_ms(1, 100, 20000, 0), 0);
    cr_assert_eq(s3_upload_backoff_ms(1, 100, 20000, UINT64_MAX), 99);
    cr_assert_eq(s3_upload_backoff_ms(2, 100, 20000, UINT64_MAX), 199);
    cr_assert_eq(s3_upload_backoff_ms(3, 100, 20000, UINT64_C(1) << 63), 200);
    cr_assert_eq(s3_upload_backoff_ms(8, 100, 20000, UINT64_MAX), 12799);
    cr_assert_eq(s3_upload_backoff_ms(9, 100, 20000, UINT64_MAX), 19999);
    cr_assert_eq(s3_upload_backoff_ms(100, 100, 20000, UINT64_MAX), 19999);
    cr_assert_eq(s3_upload_backoff_ms(4000000000u, 100, 20000, UINT64_C(1) << 63), 10000);
    for (uint32_t k = 1; k < 40; k++)
        for (uint64_t r = 0; r < 64; r++) {
            uint64_t rnd = r * UINT64_C(0x0400000000000000) + r;
            cr_assert_eq((int64_t)s3_upload_backoff_ms(k, 50, 3000, rnd), expected_delay(k, 50, 3000, rnd));
        }
}

Test(upload, retry_after_is_honoured)
{
    setup_fake();
    F->random = 0;  /* jitter alone would retry at once */
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PUT, .times = 1, .kind = F_STATUS, .status = 503,
                           .code = "SlowDown", .headers = "Retry-After: 3\r\n"});
    add_rule((struct rule){.op = S3_UPLOAD_OP_PUT, .times = 1, .kind = F_STATUS, .status = 503,
                           .code = "SlowDown", .headers = "x-amz-retry-after: 1500\r\n"});
    add_rule((struct rule){.op = S3_UPLOAD_OP_PUT, .times = 1, .kind = F_STATUS, .status = 503,
                           .code = "SlowDown", .headers = "Retry-After: 3600\r\n"});
    uint8_t *body = make_body(10, 12);
    cr_assert_eq(upload_body(body, 10), S3_UPLOAD_WANT_DONE);
    cr_assert_eq(F->nlog, 4);
    cr_assert_eq(F->log[1].sent_ms - F->log[0].answered_ms, 3000);
    cr_assert_eq(F->log[2].sent_ms - F->log[1].answered_ms, 1500);
    cr_assert_eq(F->log[3].sent_ms - F->log[2].answered_ms, 20000, "Retry-After is bounded by the cap");
    /* Each retry is signed again, at its own time. */
    cr_assert_not_null(strstr(F->log[0].head, "X-Amz-Date: 20231114T221320Z\r\n"));
    cr_assert_not_null(strstr(F->log[1].head, "X-Amz-Date: 20231114T221323Z\r\n"));
    cr_assert_not_null(strstr(F->log[3].head, "X-Amz-Date: 20231114T221344Z\r\n"));
    cr_assert_neq(strcmp(strstr(F->log[0].head, "Signature="), strstr(F->log[1].head, "Signature=")), 0);
    free(body);
}

Test(upload, retry_note_for_the_log)
{
    setup_fake();
    F->random = UINT64_MAX;
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PUT, .times = 1, .kind = F_STATUS, .status = 503, .code = "SlowDown"});
    uint8_t *body = make_body(10, 13);
    struct producer pr = {.data = body, .len = 10};
    /* drive by hand up to the first answer */
    s3_upload_body_write(F->u, body, 10);
    s3_upload_body_end(F->u);
    pr.off = 10;
    pr.ended = true;
    take_one();
    answer_oldest();
    cr_assert_eq(F->log[0].outcome, S3_UPLOAD_OUTCOME_RETRY);
    cr_assert_str_eq(s3_upload_note(F->u), "PutObject of s3://lake/" KEY ": 503 SlowDown: fake SlowDown "
                     "(attempt 1 of 5); retrying in 99 ms");
    cr_assert_eq(s3_upload_want(F->u, F->now_ms), S3_UPLOAD_WANT_TIMER);
    cr_assert_eq(s3_upload_wake_ms(F->u), F->now_ms + 99);
    cr_assert_eq(s3_upload_want(F->u, F->now_ms + 99), S3_UPLOAD_WANT_REQUEST);
    cr_assert_eq(run(&pr), S3_UPLOAD_WANT_DONE);
    free(body);
}

Test(upload, gives_up_after_max_attempts_and_aborts)
{
    setup_fake();
    F->random = UINT64_MAX;
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PART, .part = 2, .times = -1, .kind = F_STATUS,
                           .status = 503, .code = "SlowDown"});
    size_t len = 4 * PART;
    uint8_t *body = make_body(len, 14);
    cr_assert_eq(upload_body(body, len), S3_UPLOAD_WANT_FAILED);
    const struct s3_upload_error *e = s3_upload_error(F->u);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_RETRIES);
    cr_assert_eq(e->http_status, 503);
    cr_assert_str_eq(e->s3_code, "SlowDown");
    cr_assert_not_null(strstr(e->msg, "UploadPart 2 of s3://lake/" KEY ": gave up after 5 attempts; "
                              "last: 503 SlowDown"), "%s", e->msg);
    size_t part2 = 0;
    for (size_t i = 0; i < F->nlog; i++) part2 += F->log[i].op == S3_UPLOAD_OP_PART && F->log[i].part == 2;
    cr_assert_eq(part2, 5);
    /* Abort went out after everything else, once, and worked. */
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 1);
    cr_assert_eq(F->log[F->nlog - 1].op, S3_UPLOAD_OP_ABORT);
    cr_assert_eq(F->aborts, 1);
    cr_assert_not(F->upload_open);
    cr_assert_not(F->object_exists);
    cr_assert_eq(count_op(S3_UPLOAD_OP_COMPLETE), 0);
    free(body);
}

Test(upload, abort_is_retried_then_reported)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PART, .part = 1, .times = -1, .kind = F_STATUS,
                           .status = 400, .code = "InvalidArgument"});
    add_rule((struct rule){.op = S3_UPLOAD_OP_ABORT, .times = -1, .kind = F_NET, .net = S3_UPLOAD_NET_RESET});
    uint8_t *body = make_body(2 * PART, 15);
    cr_assert_eq(upload_body(body, 2 * PART), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 3, "abort attempts default to 3");
    const struct s3_upload_error *e = s3_upload_error(F->u);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_REFUSED);
    cr_assert_not_null(strstr(e->msg, "UploadPart 1 of s3://lake/"), "%s", e->msg);
    cr_assert_not_null(strstr(e->msg, "400 InvalidArgument: fake InvalidArgument"), "%s", e->msg);
    cr_assert_not_null(strstr(e->msg, "AbortMultipartUpload"), "%s", e->msg);
    cr_assert(F->upload_open, "the fake still has the upload");
    free(body);
}

Test(upload, abort_already_gone_is_fine)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PART, .part = 2, .times = -1, .kind = F_STATUS,
                           .status = 400, .code = "EntityTooSmall"});
    add_rule((struct rule){.op = S3_UPLOAD_OP_ABORT, .times = 1, .kind = F_STATUS, .status = 404,
                           .code = "NoSuchUpload"});
    uint8_t *body = make_body(3 * PART, 16);
    cr_assert_eq(upload_body(body, 3 * PART), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 1);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "EntityTooSmall"));
    cr_assert_null(strstr(s3_upload_error(F->u)->msg, "Abort"), "%s", s3_upload_error(F->u)->msg);
    free(body);
}

/* ------------------------------------------------------------------------- */
/* Errors that are not retried                                                  */

static const struct s3_upload_error *fail_put_with(int status, const char *code, const char *headers)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PUT, .times = -1, .kind = F_STATUS, .status = status,
                           .code = code, .headers = headers});
    uint8_t *body = make_body(100, 17);
    cr_assert_eq(upload_body(body, 100), S3_UPLOAD_WANT_FAILED);
    free(body);
    cr_assert_eq(F->nlog, 1, "%d %s must not be retried", status, code);
    cr_assert_eq(F->log[0].outcome, S3_UPLOAD_OUTCOME_GAVE_UP);
    const struct s3_upload_error *e = s3_upload_error(F->u);
    cr_assert_eq(e->http_status, status);
    cr_assert_str_eq(e->s3_code, code);
    cr_assert_str_eq(e->request_id, "REQ0");
    cr_assert_null(strstr(e->msg, F->cred.secret_access_key), "secret in the message");
    return e;
}

Test(upload, signature_mismatch_not_retried)
{
    const struct s3_upload_error *e = fail_put_with(403, "SignatureDoesNotMatch", NULL);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_SIGNATURE);
    cr_assert_str_eq(e->msg, "PutObject of s3://lake/" KEY ": 403 SignatureDoesNotMatch: the server "
                     "computed another signature: check the secret key and that nothing between "
                     "lakewriter and the endpoint rewrites requests (a proxy changing the Host, path "
                     "or headers) (request id REQ0)");
}

Test(upload, clock_skew_names_both_times)
{
    const struct s3_upload_error *e = fail_put_with(403, "RequestTimeTooSkewed",
                                                    "Date: Tue, 14 Nov 2023 21:53:20 GMT\r\n");
    cr_assert_eq(e->code, S3_UPLOAD_ERR_CLOCK);
    cr_assert_not_null(strstr(e->msg, "check the clock (NTP): server time 2023-11-14 21:53:20 UTC, "
                              "ours 2023-11-14 22:13:20 UTC (1200 s ahead)"), "%s", e->msg);
}

Test(upload, no_such_bucket_names_the_bucket)
{
    const struct s3_upload_error *e = fail_put_with(404, "NoSuchBucket", NULL);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_NO_BUCKET);
    cr_assert_not_null(strstr(e->msg, "bucket 'lake' does not exist at 127.0.0.1"), "%s", e->msg);
}

Test(upload, access_denied_names_key_and_operation)
{
    const struct s3_upload_error *e = fail_put_with(403, "AccessDenied", NULL);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_ACCESS);
    cr_assert_not_null(strstr(e->msg, "may not PutObject key '" KEY "' in bucket 'lake'"), "%s", e->msg);
    cr_assert_not_null(strstr(e->msg, "s3:PutObject"), "%s", e->msg);
}

Test(upload, other_4xx_not_retried)
{
    const struct s3_upload_error *e = fail_put_with(400, "InvalidArgument", NULL);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_REFUSED);
    cr_assert_not_null(strstr(e->msg, "400 InvalidArgument: fake InvalidArgument"), "%s", e->msg);
    teardown();
    e = fail_put_with(501, "NotImplemented", NULL);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_REFUSED);
    teardown();
    e = fail_put_with(403, "InvalidAccessKeyId", NULL);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_SIGNATURE);
    cr_assert_not_null(strstr(e->msg, "access key id"), "%s", e->msg);
    teardown();
    e = fail_put_with(400, "ExpiredToken", NULL);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_ACCESS);
    cr_assert_not_null(strstr(e->msg, "refresh the credentials"), "%s", e->msg);
}

Test(upload, tls_certificate_error_not_retried)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_CREATE, .times = -1, .kind = F_NET, .net = S3_UPLOAD_NET_TLS_CERT});
    uint8_t *body = make_body(3 * PART, 18);
    cr_assert_eq(upload_body(body, 3 * PART), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(F->nlog, 1);
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 0, "no UploadId, nothing to abort");
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_NETWORK);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "CA bundle"));
    free(body);
}

Test(upload, part_403_aborts_the_upload)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PART, .part = 3, .times = -1, .kind = F_STATUS,
                           .status = 403, .code = "AccessDenied"});
    uint8_t *body = make_body(5 * PART, 19);
    cr_assert_eq(upload_body(body, 5 * PART), S3_UPLOAD_WANT_FAILED);
    size_t part3 = 0;
    for (size_t i = 0; i < F->nlog; i++) part3 += F->log[i].op == S3_UPLOAD_OP_PART && F->log[i].part == 3;
    cr_assert_eq(part3, 1);
    cr_assert_eq(F->aborts, 1);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "UploadPart 3 of s3://lake/"));
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "may not UploadPart key"));
    /* No request after the Abort, and the abort came after every part answered. */
    cr_assert_eq(F->log[F->nlog - 1].op, S3_UPLOAD_OP_ABORT);
    for (size_t i = 0; i + 1 < F->nlog; i++) cr_assert(F->log[i].answered_ms <= F->log[F->nlog - 1].sent_ms);
    free(body);
}

/* ------------------------------------------------------------------------- */
/* CompleteMultipartUpload                                                     */

Test(upload, complete_200_with_error_is_retried)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_COMPLETE, .times = 1, .kind = F_200_ERROR, .code = "InternalError"});
    add_rule((struct rule){.op = S3_UPLOAD_OP_COMPLETE, .times = 1, .kind = F_200_BROKEN});
    uint8_t *body = make_body(2 * PART + 5, 20);
    cr_assert_eq(upload_body(body, 2 * PART + 5), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(count_op(S3_UPLOAD_OP_COMPLETE), 3);
    size_t k = 0;
    for (size_t i = 0; i < F->nlog; i++) {
        if (F->log[i].op != S3_UPLOAD_OP_COMPLETE) continue;
        cr_assert_eq(F->log[i].status, 200);
        cr_assert_eq(F->log[i].outcome, k < 2 ? S3_UPLOAD_OUTCOME_RETRY : S3_UPLOAD_OUTCOME_OK);
        k++;
    }
    assert_stored(body, 2 * PART + 5, 3, true);
    free(body);
}

Test(upload, no_such_upload_after_retried_complete_is_resolved_by_head)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_COMPLETE, .times = 1, .kind = F_APPLY_NET, .net = S3_UPLOAD_NET_TIMEOUT});
    uint8_t *body = make_body(3 * PART + 3, 21);
    cr_assert_eq(upload_body(body, 3 * PART + 3), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(count_op(S3_UPLOAD_OP_COMPLETE), 2);
    cr_assert_eq(count_op(S3_UPLOAD_OP_HEAD), 1);
    cr_assert_eq(F->log[F->nlog - 1].op, S3_UPLOAD_OP_HEAD);
    cr_assert_eq(F->log[F->nlog - 2].status, 404);
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 0);
    assert_stored(body, 3 * PART + 3, 4, true);
    free(body);
}

Test(upload, head_with_another_etag_fails)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_COMPLETE, .times = 1, .kind = F_APPLY_NET, .net = S3_UPLOAD_NET_RESET});
    add_rule((struct rule){.op = S3_UPLOAD_OP_HEAD, .times = 1, .kind = F_BAD_ETAG,
                           .etag = "\"0123456789abcdef0123456789abcdef-4\""});
    uint8_t *body = make_body(3 * PART + 3, 22);
    cr_assert_eq(upload_body(body, 3 * PART + 3), S3_UPLOAD_WANT_FAILED);
    const struct s3_upload_error *e = s3_upload_error(F->u);
    cr_assert_eq(e->code, S3_UPLOAD_ERR_INTEGRITY);
    cr_assert_not_null(strstr(e->msg, "0123456789abcdef0123456789abcdef-4"), "%s", e->msg);
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 0, "the upload is gone: nothing to abort");
    free(body);
}

Test(upload, head_finds_nothing)
{
    setup_fake();
    cr_assert(start());
    /* The first Complete is lost in transit, the upload vanishes meanwhile. */
    add_rule((struct rule){.op = S3_UPLOAD_OP_COMPLETE, .times = 1, .kind = F_NET, .net = S3_UPLOAD_NET_RESET});
    add_rule((struct rule){.op = S3_UPLOAD_OP_COMPLETE, .times = 1, .kind = F_STATUS, .status = 404,
                           .code = "NoSuchUpload"});
    uint8_t *body = make_body(2 * PART, 23);
    cr_assert_eq(upload_body(body, 2 * PART), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(count_op(S3_UPLOAD_OP_HEAD), 1);
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_LOST);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "no object at the key"));
    free(body);
}

Test(upload, no_such_upload_on_first_complete_is_lost)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_COMPLETE, .times = 1, .kind = F_STATUS, .status = 404,
                           .code = "NoSuchUpload"});
    uint8_t *body = make_body(2 * PART, 24);
    cr_assert_eq(upload_body(body, 2 * PART), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(count_op(S3_UPLOAD_OP_HEAD), 0);
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 0);
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_LOST);
    free(body);
}

/* ------------------------------------------------------------------------- */
/* ETag checks                                                                 */

Test(upload, etag_mismatch_on_put)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PUT, .times = 1, .kind = F_BAD_ETAG,
                           .etag = "\"ffffffffffffffffffffffffffffffff\""});
    uint8_t *body = make_body(300, 25);
    cr_assert_eq(upload_body(body, 300), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(F->nlog, 1);
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_INTEGRITY);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "is not the MD5 of the bytes sent"));
    free(body);
}

Test(upload, etag_mismatch_on_part_aborts)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PART, .part = 2, .times = 1, .kind = F_BAD_ETAG,
                           .etag = "\"00000000000000000000000000000000\""});
    uint8_t *body = make_body(3 * PART, 26);
    cr_assert_eq(upload_body(body, 3 * PART), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_INTEGRITY);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "UploadPart 2"));
    cr_assert_eq(F->aborts, 1);
    cr_assert_eq(count_op(S3_UPLOAD_OP_COMPLETE), 0);
    free(body);
}

Test(upload, etag_mismatch_on_complete)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_COMPLETE, .times = 1, .kind = F_BAD_ETAG,
                           .etag = "&quot;11111111111111111111111111111111-3&quot;"});
    uint8_t *body = make_body(3 * PART, 27);
    cr_assert_eq(upload_body(body, 3 * PART), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_INTEGRITY);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "\"11111111111111111111111111111111-3\""),
                       "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 0, "completed: nothing to abort");
    free(body);
}

Test(upload, missing_etag_is_a_protocol_error)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_PUT, .times = 1, .kind = F_STATUS, .status = 200, .code = "x"});
    uint8_t *body = make_body(30, 28);
    cr_assert_eq(upload_body(body, 30), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_PROTOCOL);
    free(body);
}

/* ------------------------------------------------------------------------- */
/* CreateMultipartUpload answers                                               */

Test(upload, create_broken_answers_are_retried)
{
    setup_fake();
    cr_assert(start());
    add_rule((struct rule){.op = S3_UPLOAD_OP_CREATE, .times = 1, .kind = F_200_BROKEN});
    add_rule((struct rule){.op = S3_UPLOAD_OP_CREATE, .times = 1, .kind = F_200_ERROR, .code = "InternalError"});
    add_rule((struct rule){.op = S3_UPLOAD_OP_CREATE, .times = 1, .kind = F_STATUS, .status = 503, .code = "SlowDown"});
    uint8_t *body = make_body(2 * PART + 1, 29);
    cr_assert_eq(upload_body(body, 2 * PART + 1), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    cr_assert_eq(count_op(S3_UPLOAD_OP_CREATE), 4);
    assert_stored(body, 2 * PART + 1, 3, true);
    free(body);
}

/* ------------------------------------------------------------------------- */
/* Giving up from outside, limits, configuration                                */

Test(upload, driver_abort_mid_multipart)
{
    setup_fake();
    cr_assert(start());
    uint8_t *body = make_body(3 * PART, 30);
    struct producer pr = {.data = body, .len = 3 * PART, .no_end = true};
    F->hold_answers = true;
    run(&pr);
    cr_assert_eq(F->npending, 1);   /* Create */
    answer_oldest();
    run(&pr);                       /* parts 1..3 in flight */
    cr_assert_eq(F->npending, 3);
    s3_upload_abort(F->u, "the Parquet encoder failed");
    cr_assert_eq(s3_upload_want(F->u, F->now_ms), 0, "draining: nothing new");
    F->hold_answers = false;
    cr_assert_eq(run(&pr), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(F->log[F->nlog - 1].op, S3_UPLOAD_OP_ABORT);
    cr_assert_eq(F->aborts, 1);
    for (size_t i = 0; i + 1 < F->nlog; i++)
        if (F->log[i].op == S3_UPLOAD_OP_PART) cr_assert_eq(F->log[i].outcome, S3_UPLOAD_OUTCOME_IGNORED);
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_CANCELLED);
    cr_assert_str_eq(s3_upload_error(F->u)->msg, "upload of s3://lake/" KEY " cancelled: the Parquet encoder failed");
    free(body);
}

Test(upload, driver_abort_while_create_in_flight_aborts_the_new_upload)
{
    setup_fake();
    cr_assert(start());
    uint8_t *body = make_body(2 * PART, 31);
    struct producer pr = {.data = body, .len = 2 * PART, .no_end = true};
    F->hold_answers = true;
    run(&pr);
    cr_assert_eq(F->npending, 1);
    s3_upload_abort(F->u, "shutdown");
    F->hold_answers = false;
    cr_assert_eq(run(&pr), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(count_op(S3_UPLOAD_OP_PART), 0);
    cr_assert_eq(count_op(S3_UPLOAD_OP_ABORT), 1, "the UploadId that came back is aborted");
    cr_assert_eq(F->aborts, 1);
    free(body);
}

Test(upload, abort_before_any_request)
{
    setup_fake();
    cr_assert(start());
    s3_upload_body_write(F->u, "abc", 3);
    s3_upload_abort(F->u, "nothing to do");
    cr_assert_eq(s3_upload_want(F->u, F->now_ms), S3_UPLOAD_WANT_FAILED);
    size_t room = 5;
    cr_assert_null(s3_upload_body_buf(F->u, &room));
    s3_upload_body_end(F->u);  /* harmless after the end */
    cr_assert_eq(s3_upload_want(F->u, F->now_ms), S3_UPLOAD_WANT_FAILED);
}

Test(upload, too_many_parts)
{
    setup_fake();
    F->cfg.part_count_max = 3;
    cr_assert(start());
    uint8_t *body = make_body(3 * PART + 1, 32);
    cr_assert_eq(upload_body(body, 3 * PART + 1), S3_UPLOAD_WANT_FAILED);
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_TOO_LARGE);
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "larger than 3 parts of 1000 bytes"));
    cr_assert_eq(count_op(S3_UPLOAD_OP_COMPLETE), 0);
    cr_assert_eq(F->aborts, 1);
    free(body);
    teardown();
    /* exactly the limit is fine */
    setup_fake();
    F->cfg.part_count_max = 3;
    cr_assert(start());
    body = make_body(3 * PART, 32);
    cr_assert_eq(upload_body(body, 3 * PART), S3_UPLOAD_WANT_DONE);
    free(body);
}

Test(upload, session_token_and_virtual_host)
{
    setup_fake();
    F->cred.session_token = "FQoGZXIvYXdzEBYaDHRva2VuLXRlc3Q+/=";
    F->cfg.addressing = S3_ADDRESSING_VIRTUAL;
    static const uint8_t key[] = "a dir/ü+=&?x.parquet";
    memcpy(F->key, key, sizeof key - 1);
    F->key_len = sizeof key - 1;
    F->cfg.key_len = F->key_len;
    cr_assert(start(), "%s", s3_upload_error(F->u)->msg);
    uint8_t *body = make_body(2 * PART + 10, 33);
    cr_assert_eq(upload_body(body, 2 * PART + 10), S3_UPLOAD_WANT_DONE, "%s", s3_upload_error(F->u)->msg);
    const char *want = "POST /a%20dir/%C3%BC%2B%3D%26%3Fx.parquet?uploads= HTTP/1.1\r\n"
                       "Host: lake.127.0.0.1:9000\r\n";
    cr_assert(strncmp(F->log[0].head, want, strlen(want)) == 0, "%s", F->log[0].head);
    assert_stored(body, 2 * PART + 10, 3, true);
    free(body);
}

Test(upload, configuration_errors)
{
    setup_fake();
    F->cfg.parts_held_max = 1;
    cr_assert_eq(s3_upload_memory_bytes(&F->cfg), 0);
    F->mem = malloc(16);
    cr_assert_not(s3_upload_init(F->u, &F->cfg, F->mem, 16));
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "parts held in memory 1"));
    teardown();

    setup_fake();
    F->cfg.concurrency = 17;
    F->mem = malloc(16);
    cr_assert_not(s3_upload_init(F->u, &F->cfg, F->mem, 16));
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "concurrency 17"));
    teardown();

    setup_fake();
    F->cfg.bucket = "A_Bad_Bucket";
    cr_assert_not(start());
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "bucket"), "%s", s3_upload_error(F->u)->msg);
    teardown();

    setup_fake();
    F->cfg.region = "Bad Region";
    cr_assert_not(start());
    cr_assert_eq(s3_upload_error(F->u)->code, S3_UPLOAD_ERR_CONFIG);
    teardown();

    setup_fake();
    F->cred.secret_access_key = "";
    cr_assert_not(start());
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "S3 signing"), "%s", s3_upload_error(F->u)->msg);
    teardown();

    setup_fake();
    F->cfg.key_len = 0;
    cr_assert_not(start());
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "key is empty"));
    teardown();

    setup_fake();
    F->mem_len = s3_upload_memory_bytes(&F->cfg);
    F->mem = malloc(F->mem_len);
    cr_assert_not(s3_upload_init(F->u, &F->cfg, F->mem, F->mem_len - 1));
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "upload memory"));
    cr_assert(s3_upload_init(F->u, &F->cfg, F->mem, F->mem_len));
    teardown();

    setup_fake();
    F->cfg.backoff_base_ms = 30000;
    F->mem = malloc(16);
    cr_assert_not(s3_upload_init(F->u, &F->cfg, F->mem, 16));
    cr_assert_not_null(strstr(s3_upload_error(F->u)->msg, "backoff"));
}

/* ------------------------------------------------------------------------- */
/* Random faults: whatever happens, the upload ends, and DONE means stored     */

Test(upload, random_faults_keep_the_invariants)
{
    int done = 0, failed = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        setup_fake();
        F->chaos_seed = seed * UINT64_C(0x9E3779B97F4A7C15);
        F->cfg.parts_held_max = 2 + (uint32_t)(seed % 3);
        F->cfg.concurrency = 1 + (uint32_t)(seed % 4);
        F->cfg.attempts_max = 3 + (uint32_t)(seed % 4);
        cr_assert(start());
        size_t len = (size_t)(chaos_next() % (6 * PART));
        uint8_t *body = make_body(len, (uint32_t)seed);
        static const size_t slices[] = {1, 100, 999, 37, 4000};
        struct producer pr = {.data = body, .len = len, .slices = slices + seed % 4, .nslices = 2};
        unsigned w = run(&pr);
        cr_assert(w == S3_UPLOAD_WANT_DONE || w == S3_UPLOAD_WANT_FAILED, "seed %" PRIu64 ": stuck", seed);
        const struct s3_upload_error *e = s3_upload_error(F->u);
        if (w == S3_UPLOAD_WANT_DONE) {
            done++;
            cr_assert_eq(e->code, S3_UPLOAD_ERR_NONE);
            assert_stored(body, len, len <= PART ? 1 : (uint32_t)((len + PART - 1) / PART), len > PART);
        } else {
            failed++;
            cr_assert_neq(e->code, S3_UPLOAD_ERR_NONE, "seed %" PRIu64, seed);
            cr_assert_gt(strlen(e->msg), 20, "seed %" PRIu64 ": %s", seed, e->msg);
            cr_assert_null(strstr(e->msg, F->cred.secret_access_key));
        }
        /* Nothing after the end, and every request was answered. */
        for (size_t i = 0; i < F->nlog; i++) cr_assert(F->log[i].answered);
        struct s3_upload_now n = now();
        struct s3_upload_request req;
        cr_assert_not(s3_upload_request_take(F->u, &n, &req));
        free(body);
        teardown();
    }
    cr_log_info("random faults: %d done, %d failed", done, failed);
    cr_assert_gt(done, 30, "done %d", done);
    cr_assert_gt(failed, 30, "failed %d", failed);
}
