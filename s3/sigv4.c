/* sigv4: AWS Signature Version 4 (see sigv4.h). */
#include "s3/sigv4.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Small helpers                                                              */

/* A bounded string builder: writes stop at the capacity and set `overflow`. */
struct sbuf {
    char *p;
    size_t cap;     /* including room for the NUL */
    size_t len;
    bool overflow;
};

static void sb_init(struct sbuf *b, char *p, size_t cap)
{
    assert(p != NULL && cap > 0);
    b->p = p;
    b->cap = cap;
    b->len = 0;
    b->overflow = false;
    p[0] = '\0';
}

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (n == 0) return;
    if (b->overflow || n > b->cap - 1 - b->len) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_chr(struct sbuf *b, char c)
{
    sb_put(b, &c, 1);
}

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n-- > 0) *v++ = 0;
}

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_lower[in[i] >> 4];
        out[2 * i + 1] = hex_lower[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_unreserved(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Sets sig->err and returns `status`. The message is formatted from constant
 * text and names only: callers never pass secrets or header values. */
__attribute__((format(printf, 3, 4)))
static enum s3_sigv4_status fail(struct s3_sigv4 *sig, enum s3_sigv4_status status,
                                 const char *fmt, ...)
{
    assert(status != S3_SIGV4_OK);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sig->err, sizeof sig->err, fmt, ap);
    va_end(ap);
    return status;
}

/* ------------------------------------------------------------------------- */
/* Encoding, time, hashes                                                     */

size_t s3_uri_encode(const uint8_t *in, size_t len, bool keep_slash, char *out, size_t cap)
{
    assert(in != NULL || len == 0);
    assert(out != NULL && cap > 0);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            if (n + 1 >= cap) return SIZE_MAX;
            out[n++] = (char)c;
        } else {
            if (n + 3 >= cap) return SIZE_MAX;
            out[n++] = '%';
            out[n++] = hex_upper[c >> 4];
            out[n++] = hex_upper[c & 15];
        }
    }
    out[n] = '\0';
    return n;
}

/* Days since 1970-01-01 -> civil date (proleptic Gregorian), after H. Hinnant. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

bool s3_amz_date(int64_t unix_seconds, char out[17])
{
    /* 9999-12-31T23:59:59Z */
    if (unix_seconds < 0 || unix_seconds > INT64_C(253402300799)) return false;
    int64_t days = unix_seconds / 86400;
    int64_t secs = unix_seconds % 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    assert(y >= 1970 && y <= 9999);
    snprintf(out, 17, "%04d%02u%02uT%02d%02d%02dZ", (int)y, m, d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
    assert(strlen(out) == 16);
    return true;
}

void s3_sha256_hex(const void *data, size_t len, char out[S3_SHA256_HEX_LEN + 1])
{
    assert(data != NULL || len == 0);
    struct s3_sha256 c;
    uint8_t digest[32];
    s3_sha256_init(&c);
    s3_sha256_update(&c, data, len);
    s3_sha256_out(&c, digest);
    hex_encode(digest, sizeof digest, out);
}

static void base64_encode(const uint8_t *in, size_t len, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

void s3_body_hash_init(struct s3_body_hash *h)
{
    assert(h != NULL);
    s3_sha256_init(&h->sha256);
    br_md5_init(&h->md5);
    h->size_bytes = 0;
}

void s3_body_hash_update(struct s3_body_hash *h, const void *data, size_t len)
{
    assert(h != NULL);
    assert(data != NULL || len == 0);
    s3_sha256_update(&h->sha256, data, len);
    br_md5_update(&h->md5, data, len);
    h->size_bytes += len;
}

void s3_body_hash_final(const struct s3_body_hash *h, char sha256_hex[S3_SHA256_HEX_LEN + 1],
                        char md5_base64[S3_MD5_BASE64_LEN + 1], uint8_t md5[16])
{
    assert(h != NULL && sha256_hex != NULL && md5_base64 != NULL);
    uint8_t sha[32], m[16];
    s3_sha256_out(&h->sha256, sha);
    br_md5_out(&h->md5, m);
    hex_encode(sha, sizeof sha, sha256_hex);
    base64_encode(m, sizeof m, md5_base64);
    assert(strlen(md5_base64) == S3_MD5_BASE64_LEN);
    if (md5 != NULL) memcpy(md5, m, sizeof m);
}

/* ------------------------------------------------------------------------- */
/* Signing key                                                                */

static void hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        uint8_t out[32])
{
    br_hmac_key_context kc;
    br_hmac_context hc;
    br_hmac_key_init(&kc, &br_sha256_vtable, key, key_len);
    br_hmac_init(&hc, &kc, 0);
    br_hmac_update(&hc, msg, msg_len);
    size_t n = br_hmac_out(&hc, out);
    assert(n == 32);
    (void)n;
    wipe(&kc, sizeof kc);
    wipe(&hc, sizeof hc);
}

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

static bool date8_ok(const char *s)
{
    if (strlen(s) != 8) return false;
    for (size_t i = 0; i < 8; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

void s3_sigv4_key_reset(struct s3_sigv4_key *key)
{
    assert(key != NULL);
    wipe(key, sizeof *key);
    assert(!key->valid);
}

/*   kSecret  = "AWS4" + secret
 *   kDate    = HMAC(kSecret,  "20130524")
 *   kRegion  = HMAC(kDate,    "us-east-1")
 *   kService = HMAC(kRegion,  "s3")
 *   kSigning = HMAC(kService, "aws4_request")                                */
enum s3_sigv4_status s3_sigv4_key_derive(struct s3_sigv4_key *key, const char *secret,
                                         const char *date8, const char *region,
                                         const char *service)
{
    assert(key != NULL);
    s3_sigv4_key_reset(key);
    if (secret == NULL || secret[0] == '\0' || strlen(secret) > S3_SIGV4_SECRET_MAX)
        return S3_SIGV4_ERR_CREDENTIALS;
    if (date8 == NULL || !date8_ok(date8)) return S3_SIGV4_ERR_TIME;
    if (region == NULL || !name_ok(region, S3_SIGV4_REGION_MAX)) return S3_SIGV4_ERR_REGION;
    if (service == NULL || !name_ok(service, S3_SIGV4_SERVICE_MAX)) return S3_SIGV4_ERR_SERVICE;

    uint8_t ksecret[4 + S3_SIGV4_SECRET_MAX];
    size_t secret_len = strlen(secret);
    memcpy(ksecret, "AWS4", 4);
    memcpy(ksecret + 4, secret, secret_len);
    uint8_t k1[32], k2[32];
    hmac_sha256(ksecret, 4 + secret_len, date8, 8, k1);
    hmac_sha256(k1, 32, region, strlen(region), k2);
    hmac_sha256(k2, 32, service, strlen(service), k1);
    hmac_sha256(k1, 32, "aws4_request", 12, key->key);
    wipe(ksecret, sizeof ksecret);
    wipe(k1, sizeof k1);
    wipe(k2, sizeof k2);

    br_sha256_context c;
    br_sha256_init(&c);
    br_sha256_update(&c, secret, secret_len);
    br_sha256_out(&c, key->secret_digest);
    wipe(&c, sizeof c);
    memcpy(key->date, date8, 9);
    memcpy(key->region, region, strlen(region) + 1);
    memcpy(key->service, service, strlen(service) + 1);
    key->valid = true;
    return S3_SIGV4_OK;
}

/* Returns the signing key for this request, from the cache when it still fits. */
static enum s3_sigv4_status key_get(struct s3_sigv4_key *key, const char *secret,
                                    const char *date8, const char *region, const char *service)
{
    if (key->valid) {
        uint8_t digest[32];
        br_sha256_context c;
        br_sha256_init(&c);
        br_sha256_update(&c, secret, strlen(secret));
        br_sha256_out(&c, digest);
        bool same = memcmp(digest, key->secret_digest, 32) == 0 &&
                    strcmp(key->date, date8) == 0 && strcmp(key->region, region) == 0 &&
                    strcmp(key->service, service) == 0;
        wipe(digest, sizeof digest);
        wipe(&c, sizeof c);
        if (same) return S3_SIGV4_OK;
    }
    return s3_sigv4_key_derive(key, secret, date8, region, service);
}

/* ------------------------------------------------------------------------- */
/* Input checks                                                               */

static enum s3_sigv4_status check_credentials(struct s3_sigv4 *sig, const struct s3_credentials *c)
{
    if (c == NULL || c->access_key_id == NULL || c->secret_access_key == NULL)
        return fail(sig, S3_SIGV4_ERR_CREDENTIALS, "credentials: access key id or secret missing");
    size_t n = strlen(c->access_key_id);
    if (n == 0 || n > S3_SIGV4_KEY_ID_MAX)
        return fail(sig, S3_SIGV4_ERR_CREDENTIALS,
                    "access key id: length %zu, want 1..%d bytes", n, S3_SIGV4_KEY_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)c->access_key_id[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == ',' || ch == '=')
            return fail(sig, S3_SIGV4_ERR_CREDENTIALS,
                        "access key id: byte %zu is not allowed (visible ASCII but / , =)", i);
    }
    n = strlen(c->secret_access_key);
    if (n == 0 || n > S3_SIGV4_SECRET_MAX)
        return fail(sig, S3_SIGV4_ERR_CREDENTIALS,
                    "secret access key: length %zu, want 1..%d bytes", n, S3_SIGV4_SECRET_MAX);
    if (c->session_token != NULL) {
        n = strlen(c->session_token);
        if (n > S3_SIGV4_TOKEN_MAX)
            return fail(sig, S3_SIGV4_ERR_CREDENTIALS,
                        "session token: length %zu, over %d bytes", n, S3_SIGV4_TOKEN_MAX);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)c->session_token[i];
            if (ch <= 0x20 || ch >= 0x7f)
                return fail(sig, S3_SIGV4_ERR_CREDENTIALS,
                            "session token: byte %zu is not visible ASCII", i);
        }
    }
    return S3_SIGV4_OK;
}

static enum s3_sigv4_status check_request(struct s3_sigv4 *sig, const struct s3_sigv4_input *in)
{
    size_t n = in->method ? strlen(in->method) : 0;
    if (n == 0 || n > S3_SIGV4_METHOD_MAX)
        return fail(sig, S3_SIGV4_ERR_METHOD, "method: length %zu, want 1..%d", n,
                    S3_SIGV4_METHOD_MAX);
    for (size_t i = 0; i < n; i++)
        if (in->method[i] < 'A' || in->method[i] > 'Z')
            return fail(sig, S3_SIGV4_ERR_METHOD, "method: want uppercase letters only");

    n = in->host ? strlen(in->host) : 0;
    if (n == 0 || n > S3_SIGV4_HOST_MAX)
        return fail(sig, S3_SIGV4_ERR_HOST, "host: length %zu, want 1..%d", n, S3_SIGV4_HOST_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in->host[i];
        if (!is_alnum(c) && strchr("-._~:[]", c) == NULL)
            return fail(sig, S3_SIGV4_ERR_HOST, "host: byte %zu is not allowed in a host name", i);
    }

    if (in->path == NULL || in->path_len == 0 || in->path[0] != '/')
        return fail(sig, S3_SIGV4_ERR_PATH, "path: must start with '/'");
    if (in->path_len > S3_SIGV4_PATH_MAX)
        return fail(sig, S3_SIGV4_ERR_PATH, "path: %zu bytes, over %d", in->path_len,
                    S3_SIGV4_PATH_MAX);

    if (in->query_count > S3_SIGV4_PARAM_COUNT_MAX || (in->query_count > 0 && in->query == NULL))
        return fail(sig, S3_SIGV4_ERR_QUERY, "query: %zu parameters, over %d", in->query_count,
                    S3_SIGV4_PARAM_COUNT_MAX);
    for (size_t i = 0; i < in->query_count; i++) {
        const struct s3_sigv4_param *p = &in->query[i];
        if (p->name == NULL || strlen(p->name) > S3_SIGV4_PARAM_MAX ||
            (p->value != NULL && strlen(p->value) > S3_SIGV4_PARAM_MAX))
            return fail(sig, S3_SIGV4_ERR_QUERY,
                        "query parameter %zu: name missing, or name or value over %d bytes", i,
                        S3_SIGV4_PARAM_MAX);
    }

    if (in->payload_hash != NULL) {
        bool ok = strcmp(in->payload_hash, S3_UNSIGNED_PAYLOAD) == 0;
        if (!ok && strlen(in->payload_hash) == S3_SHA256_HEX_LEN) {
            ok = true;
            for (size_t i = 0; i < S3_SHA256_HEX_LEN; i++)
                if (strchr(hex_lower, in->payload_hash[i]) == NULL) ok = false;
        }
        if (!ok)
            return fail(sig, S3_SIGV4_ERR_PAYLOAD,
                        "payload hash: want 64 lowercase hex digits or " S3_UNSIGNED_PAYLOAD);
    } else if (in->body == NULL && in->body_len > 0) {
        return fail(sig, S3_SIGV4_ERR_PAYLOAD, "payload: body_len > 0 without a body");
    }
    return S3_SIGV4_OK;
}

/* Headers that are never signed (botocore's SIGNED_HEADERS_BLACKLIST): hop-by-hop,
 * proxies and tracing, which a proxy may change on the way. */
static bool never_signed(const char *lname)
{
    static const char *const names[] = {
        "baggage", "connection", "expect", "keep-alive", "proxy-authenticate",
        "proxy-authorization", "te", "traceparent", "tracestate", "trailer",
        "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(lname, names[i]) == 0) return true;
    return false;
}

/* Headers the signer writes itself: the caller must not pass them. */
static bool signer_owned(const char *lname)
{
    return strcmp(lname, "host") == 0 || strcmp(lname, "authorization") == 0 ||
           strcmp(lname, "x-amz-date") == 0 || strcmp(lname, "x-amz-content-sha256") == 0 ||
           strcmp(lname, "x-amz-security-token") == 0;
}

/* ------------------------------------------------------------------------- */
/* Canonical request pieces                                                   */

/* Generic mode: RFC 3986 remove_dot_segments plus removal of empty segments, as
 * the SigV4 test suite (and botocore's normalize_url_path) does it. */
static size_t normalize_path(const uint8_t *path, size_t len, uint8_t *out)
{
    enum { SEGMENTS_MAX = S3_SIGV4_PATH_MAX / 2 + 1 };
    size_t starts[SEGMENTS_MAX];
    size_t count = 0, n = 0;
    assert(len > 0 && len <= S3_SIGV4_PATH_MAX && path[0] == '/');
    out[n++] = '/';
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '/') j++;
        size_t seg = j - i;
        if (seg == 0 || (seg == 1 && path[i] == '.')) {
            /* empty and "." segments vanish */
        } else if (seg == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (count > 0) {
                n = starts[--count];
                if (count > 0) n--; /* the '/' before the popped segment */
            }
        } else {
            assert(count < SEGMENTS_MAX);
            if (count > 0) out[n++] = '/';
            starts[count++] = n;
            memcpy(out + n, path + i, seg);
            n += seg;
        }
        i = j + 1;
    }
    if (path[len - 1] == '/' && count > 0) out[n++] = '/';
    assert(n <= len + 1);
    return n;
}

struct qpair {
    const char *name;
    const char *value;
};

/* Encodes the query parameters into sig->query_scratch, sorts them by encoded
 * name then encoded value, and appends "n1=v1&n2=v2" to `b`. */
static enum s3_sigv4_status write_query(struct s3_sigv4 *sig, const struct s3_sigv4_input *in,
                                        struct sbuf *b)
{
    struct qpair pairs[S3_SIGV4_PARAM_COUNT_MAX];
    size_t used = 0, cap = sizeof sig->query_scratch;
    assert(in->query_count <= S3_SIGV4_PARAM_COUNT_MAX);
    for (size_t i = 0; i < in->query_count; i++) {
        const char *parts[2] = {in->query[i].name, in->query[i].value ? in->query[i].value : ""};
        const char *enc[2];
        for (int k = 0; k < 2; k++) {
            char *dst = sig->query_scratch + used;
            size_t w = s3_uri_encode((const uint8_t *)parts[k], strlen(parts[k]), false, dst,
                                     cap - used);
            if (w == SIZE_MAX)
                return fail(sig, S3_SIGV4_ERR_QUERY, "query: encoded over %d bytes",
                            S3_SIGV4_QUERY_MAX);
            enc[k] = dst;
            used += w + 1;
        }
        /* Insertion sort: stable, and the count is small and bounded. */
        size_t j = i;
        while (j > 0) {
            int c = strcmp(pairs[j - 1].name, enc[0]);
            if (c < 0 || (c == 0 && strcmp(pairs[j - 1].value, enc[1]) <= 0)) break;
            pairs[j] = pairs[j - 1];
            j--;
        }
        pairs[j].name = enc[0];
        pairs[j].value = enc[1];
    }
    for (size_t i = 0; i < in->query_count; i++) {
        if (i > 0) sb_chr(b, '&');
        sb_str(b, pairs[i].name);
        sb_chr(b, '=');
        sb_str(b, pairs[i].value);
    }
    return S3_SIGV4_OK;
}

struct hentry {
    const char *lname;
    const char *value;
};

/* Appends a header value trimmed, with each inner run of blanks as one space. */
static void put_trimmed(struct sbuf *b, const char *v)
{
    bool pending_space = false, any = false;
    for (; *v != '\0'; v++) {
        if (is_blank((unsigned char)*v)) {
            pending_space = any;
            continue;
        }
        if (pending_space) sb_chr(b, ' ');
        pending_space = false;
        any = true;
        sb_chr(b, *v);
    }
}

/* Collects the headers to sign (the caller's, minus the never-signed ones, plus
 * the signer's), lowercased and sorted by name, keeping the given order among
 * equal names. Returns the count or fails with sig->err set. */
static enum s3_sigv4_status collect_headers(struct s3_sigv4 *sig, const struct s3_sigv4_input *in,
                                            struct hentry *h, size_t *count)
{
    if (in->header_count > S3_SIGV4_HEADER_COUNT_MAX || (in->header_count > 0 && !in->headers))
        return fail(sig, S3_SIGV4_ERR_HEADER, "headers: %zu, over %d", in->header_count,
                    S3_SIGV4_HEADER_COUNT_MAX);
    size_t n = 0;
    for (size_t i = 0; i < in->header_count; i++) {
        const char *name = in->headers[i].name, *value = in->headers[i].value;
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || len > S3_SIGV4_HEADER_NAME_MAX)
            return fail(sig, S3_SIGV4_ERR_HEADER, "header %zu: name length %zu, want 1..%d", i,
                        len, S3_SIGV4_HEADER_NAME_MAX);
        char *l = sig->lname[n];
        for (size_t k = 0; k < len; k++) {
            if (!is_tchar((unsigned char)name[k]))
                return fail(sig, S3_SIGV4_ERR_HEADER, "header %zu: name has a byte that is not "
                            "allowed in a header name", i);
            l[k] = lower(name[k]);
        }
        l[len] = '\0';
        if (value == NULL || strlen(value) > S3_SIGV4_HEADER_VALUE_MAX)
            return fail(sig, S3_SIGV4_ERR_HEADER, "header '%s': value missing or over %d bytes",
                        l, S3_SIGV4_HEADER_VALUE_MAX);
        for (const char *v = value; *v != '\0'; v++) {
            unsigned char c = (unsigned char)*v;
            if (c != '\t' && (c < 0x20 || c > 0x7e))
                return fail(sig, S3_SIGV4_ERR_HEADER, "header '%s': value has a control or "
                            "non-ASCII byte", l);
        }
        if (signer_owned(l))
            return fail(sig, S3_SIGV4_ERR_HEADER, "header '%s': the signer sets it", l);
        if (never_signed(l)) continue;
        h[n].lname = l;
        h[n].value = value;
        n++;
    }
    h[n++] = (struct hentry){"host", in->host};
    h[n++] = (struct hentry){"x-amz-date", sig->amz_date};
    if (sig->content_sha256_header) h[n++] = (struct hentry){"x-amz-content-sha256", sig->content_sha256};
    if (sig->session_token != NULL) h[n++] = (struct hentry){"x-amz-security-token", sig->session_token};
    assert(n <= S3_SIGV4_HEADER_COUNT_MAX + 4);
    for (size_t i = 1; i < n; i++) {
        struct hentry e = h[i];
        size_t j = i;
        while (j > 0 && strcmp(h[j - 1].lname, e.lname) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = e;
    }
    *count = n;
    return S3_SIGV4_OK;
}

/* Writes the canonical headers block ("name:v1,v2\n" per distinct name) to `b`
 * and the signed header list ("a;b;c") to sig->signed_headers. */
static enum s3_sigv4_status write_headers(struct s3_sigv4 *sig, const struct hentry *h, size_t n,
                                          struct sbuf *b)
{
    struct sbuf sh;
    sb_init(&sh, sig->signed_headers, sizeof sig->signed_headers);
    for (size_t i = 0; i < n; i++) {
        bool first_of_name = i == 0 || strcmp(h[i - 1].lname, h[i].lname) != 0;
        if (first_of_name) {
            if (i > 0) {
                sb_chr(b, '\n');
                sb_chr(&sh, ';');
            }
            sb_str(b, h[i].lname);
            sb_chr(b, ':');
            sb_str(&sh, h[i].lname);
        } else {
            sb_chr(b, ',');
        }
        put_trimmed(b, h[i].value);
    }
    sb_chr(b, '\n');
    if (sh.overflow)
        return fail(sig, S3_SIGV4_ERR_TOO_LONG, "signed headers: over %d bytes",
                    S3_SIGV4_SIGNED_HEADERS_MAX);
    return S3_SIGV4_OK;
}

/* The canonical request, into sig->canonical; the request-target into sig->target.
 *
 *   PUT\n                                            method
 *   /bucket/a%20b.parquet\n                          canonical URI (path, encoded once)
 *   partNumber=1&uploadId=abc\n                      canonical query (sorted, encoded)
 *   content-md5:1B2M2Y8AsgTpgAmY7PhCfg==\n           canonical headers, sorted,
 *   host:acct.r2.cloudflarestorage.com\n               lowercase names, trimmed values
 *   x-amz-content-sha256:e3b0...b855\n
 *   x-amz-date:20130524T000000Z\n
 *   \n
 *   content-md5;host;x-amz-content-sha256;x-amz-date\n   signed headers
 *   e3b0...b855                                      hashed payload (no newline)
 */
static enum s3_sigv4_status write_canonical(struct s3_sigv4 *sig, const struct s3_sigv4_input *in)
{
    struct sbuf b, t;
    sb_init(&b, sig->canonical, sizeof sig->canonical);
    sb_init(&t, sig->target, sizeof sig->target);
    sb_str(&b, in->method);
    sb_chr(&b, '\n');

    /* Canonical URI; in S3 mode it is also the path of the request-target. */
    uint8_t norm[S3_SIGV4_PATH_MAX + 1];
    const uint8_t *path = in->path;
    size_t path_len = in->path_len;
    if (in->mode == S3_SIGV4_MODE_GENERIC) {
        path_len = normalize_path(in->path, in->path_len, norm);
        path = norm;
        sb_put(&t, (const char *)in->path, in->path_len);
    }
    size_t uri_at = b.len;
    size_t w = s3_uri_encode(path, path_len, true, b.p + b.len, b.cap - b.len);
    if (w == SIZE_MAX) return fail(sig, S3_SIGV4_ERR_TOO_LONG, "canonical request: too long");
    b.len += w;
    if (in->mode == S3_SIGV4_MODE_S3) sb_put(&t, b.p + uri_at, w);
    sb_chr(&b, '\n');

    /* Canonical query, also the query of the request-target. */
    if (in->query_count > 0) {
        sb_chr(&t, '?');
        size_t q_at = t.len;
        enum s3_sigv4_status st = write_query(sig, in, &t);
        if (st != S3_SIGV4_OK) return st;
        if (t.overflow)
            return fail(sig, S3_SIGV4_ERR_TOO_LONG, "request target: over %d bytes",
                        S3_SIGV4_TARGET_MAX);
        sb_put(&b, t.p + q_at, t.len - q_at);
    }
    if (t.overflow)
        return fail(sig, S3_SIGV4_ERR_TOO_LONG, "request target: over %d bytes",
                    S3_SIGV4_TARGET_MAX);
    sb_chr(&b, '\n');

    struct hentry h[S3_SIGV4_HEADER_COUNT_MAX + 4];
    size_t n = 0;
    enum s3_sigv4_status st = collect_headers(sig, in, h, &n);
    if (st != S3_SIGV4_OK) return st;
    st = write_headers(sig, h, n, &b);
    if (st != S3_SIGV4_OK) return st;
    sb_chr(&b, '\n');
    sb_str(&b, sig->signed_headers);
    sb_chr(&b, '\n');
    sb_str(&b, sig->content_sha256);
    if (b.overflow)
        return fail(sig, S3_SIGV4_ERR_TOO_LONG, "canonical request: over %d bytes",
                    S3_SIGV4_CANONICAL_MAX);
    sig->canonical_len = b.len;
    assert(strlen(sig->canonical) == sig->canonical_len);
    return S3_SIGV4_OK;
}

/* ------------------------------------------------------------------------- */
/* Signing                                                                    */

static void reset_outputs(struct s3_sigv4 *sig)
{
    sig->amz_date[0] = sig->scope[0] = sig->content_sha256[0] = '\0';
    sig->signed_headers[0] = sig->signature[0] = sig->authorization[0] = '\0';
    sig->target[0] = sig->canonical[0] = sig->string_to_sign[0] = sig->err[0] = '\0';
    sig->canonical_len = sig->string_to_sign_len = 0;
    sig->session_token = NULL;
    sig->content_sha256_header = false;
}

enum s3_sigv4_status s3_sigv4_sign(struct s3_sigv4 *sig, const struct s3_sigv4_input *in,
                                   struct s3_sigv4_key *cache)
{
    assert(sig != NULL && in != NULL);
    reset_outputs(sig);
    enum s3_sigv4_status st = check_credentials(sig, in->cred);
    if (st != S3_SIGV4_OK) return st;
    const char *service = in->service ? in->service : "s3";
    if (in->region == NULL || !name_ok(in->region, S3_SIGV4_REGION_MAX))
        return fail(sig, S3_SIGV4_ERR_REGION, "region: want 1..%d of a-z 0-9 - (R2: \"auto\")",
                    S3_SIGV4_REGION_MAX);
    if (!name_ok(service, S3_SIGV4_SERVICE_MAX))
        return fail(sig, S3_SIGV4_ERR_SERVICE, "service: want 1..%d of a-z 0-9 -",
                    S3_SIGV4_SERVICE_MAX);
    if (in->mode != S3_SIGV4_MODE_S3 && in->mode != S3_SIGV4_MODE_GENERIC)
        return fail(sig, S3_SIGV4_ERR_PATH, "mode: unknown");
    if (!s3_amz_date(in->unix_seconds, sig->amz_date))
        return fail(sig, S3_SIGV4_ERR_TIME, "time: %lld is outside years 1970..9999",
                    (long long)in->unix_seconds);
    st = check_request(sig, in);
    if (st != S3_SIGV4_OK) return st;

    if (in->payload_hash != NULL)
        memcpy(sig->content_sha256, in->payload_hash, strlen(in->payload_hash) + 1);
    else
        s3_sha256_hex(in->body, in->body_len, sig->content_sha256);
    sig->content_sha256_header = !in->omit_content_sha256;
    const char *token = in->cred->session_token;
    sig->session_token = (token != NULL && token[0] != '\0') ? token : NULL;

    char date8[9];
    memcpy(date8, sig->amz_date, 8);
    date8[8] = '\0';
    snprintf(sig->scope, sizeof sig->scope, "%s/%s/%s/aws4_request", date8, in->region, service);

    st = write_canonical(sig, in);
    if (st != S3_SIGV4_OK) return st;

    /* The string to sign:
     *
     *   AWS4-HMAC-SHA256\n                              algorithm
     *   20130524T000000Z\n                              X-Amz-Date
     *   20130524/us-east-1/s3/aws4_request\n            scope: date/region/service/aws4_request
     *   7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
     *                                                   hex SHA-256 of the canonical request
     */
    char creq_hash[S3_SHA256_HEX_LEN + 1];
    s3_sha256_hex(sig->canonical, sig->canonical_len, creq_hash);
    int n = snprintf(sig->string_to_sign, sizeof sig->string_to_sign, "%s\n%s\n%s\n%s",
                     S3_SIGV4_ALGORITHM, sig->amz_date, sig->scope, creq_hash);
    assert(n > 0 && (size_t)n < sizeof sig->string_to_sign);
    sig->string_to_sign_len = (size_t)n;

    struct s3_sigv4_key local;
    struct s3_sigv4_key *key = cache != NULL ? cache : &local;
    if (cache == NULL) local.valid = false;
    st = key_get(key, in->cred->secret_access_key, date8, in->region, service);
    assert(st == S3_SIGV4_OK); /* every input was checked above */
    uint8_t mac[32];
    hmac_sha256(key->key, sizeof key->key, sig->string_to_sign, sig->string_to_sign_len, mac);
    if (cache == NULL) s3_sigv4_key_reset(&local);
    hex_encode(mac, sizeof mac, sig->signature);

    /* AWS4-HMAC-SHA256 Credential=<key id>/<scope>, SignedHeaders=<a;b>, Signature=<hex> */
    n = snprintf(sig->authorization, sizeof sig->authorization,
                 "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s", S3_SIGV4_ALGORITHM,
                 in->cred->access_key_id, sig->scope, sig->signed_headers, sig->signature);
    assert(n > 0 && (size_t)n < sizeof sig->authorization);
    assert(strlen(sig->signature) == S3_SHA256_HEX_LEN);
    return S3_SIGV4_OK;
}

size_t s3_sigv4_headers(const struct s3_sigv4 *sig,
                        struct s3_sigv4_header out[S3_SIGV4_ADDED_HEADERS_MAX])
{
    assert(sig != NULL && out != NULL);
    assert(sig->signature[0] != '\0');
    size_t n = 0;
    out[n++] = (struct s3_sigv4_header){"Authorization", sig->authorization};
    out[n++] = (struct s3_sigv4_header){"X-Amz-Date", sig->amz_date};
    if (sig->content_sha256_header)
        out[n++] = (struct s3_sigv4_header){"X-Amz-Content-Sha256", sig->content_sha256};
    if (sig->session_token != NULL)
        out[n++] = (struct s3_sigv4_header){"X-Amz-Security-Token", sig->session_token};
    assert(n <= S3_SIGV4_ADDED_HEADERS_MAX);
    return n;
}

/* ------------------------------------------------------------------------- */
/* Addressing                                                                 */

static bool bucket_ok(const char *b)
{
    size_t n = b ? strlen(b) : 0;
    if (n < 3 || n > S3_BUCKET_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return false;
    }
    return is_alnum((unsigned char)b[0]) && is_alnum((unsigned char)b[n - 1]);
}

enum s3_sigv4_status s3_object_path(char *out, size_t cap, size_t *out_len,
                                    enum s3_addressing addressing, const char *bucket,
                                    const uint8_t *key, size_t key_len)
{
    assert(out != NULL && cap > 0 && out_len != NULL);
    assert(key != NULL || key_len == 0);
    out[0] = '\0';
    *out_len = 0;
    if (!bucket_ok(bucket)) return S3_SIGV4_ERR_BUCKET;
    if (key_len > S3_KEY_MAX) return S3_SIGV4_ERR_KEY;
    struct sbuf b;
    sb_init(&b, out, cap);
    sb_chr(&b, '/');
    if (addressing == S3_ADDRESSING_PATH) {
        sb_str(&b, bucket);
        if (key_len > 0) sb_chr(&b, '/');
    }
    sb_put(&b, (const char *)key, key_len);
    if (b.overflow || b.len > S3_SIGV4_PATH_MAX) {
        out[0] = '\0';
        return S3_SIGV4_ERR_TOO_LONG;
    }
    *out_len = b.len;
    return S3_SIGV4_OK;
}

enum s3_sigv4_status s3_object_host(char *out, size_t cap, enum s3_addressing addressing,
                                    const char *endpoint_host, uint16_t port, bool tls,
                                    const char *bucket)
{
    assert(out != NULL && cap > 0);
    out[0] = '\0';
    size_t n = endpoint_host ? strlen(endpoint_host) : 0;
    if (n == 0 || n > 255) return S3_SIGV4_ERR_HOST;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)endpoint_host[i];
        if (!is_alnum(c) && strchr("-._[]:", c) == NULL) return S3_SIGV4_ERR_HOST;
    }
    bool ipv6 = endpoint_host[0] == '[';
    if (!ipv6 && strchr(endpoint_host, ':') != NULL) return S3_SIGV4_ERR_HOST;
    struct sbuf b;
    sb_init(&b, out, cap);
    if (addressing == S3_ADDRESSING_VIRTUAL) {
        if (!bucket_ok(bucket)) return S3_SIGV4_ERR_BUCKET;
        if (ipv6) return S3_SIGV4_ERR_HOST;
        sb_str(&b, bucket);
        sb_chr(&b, '.');
    }
    for (size_t i = 0; i < n; i++) sb_chr(&b, lower(endpoint_host[i]));
    uint16_t def = tls ? 443 : 80;
    if (port != 0 && port != def) {
        char p[8];
        snprintf(p, sizeof p, ":%u", (unsigned)port);
        sb_str(&b, p);
    }
    if (b.overflow || b.len > S3_SIGV4_HOST_MAX) {
        out[0] = '\0';
        return S3_SIGV4_ERR_TOO_LONG;
    }
    return S3_SIGV4_OK;
}

const char *s3_sigv4_strerror(enum s3_sigv4_status status)
{
    switch (status) {
    case S3_SIGV4_OK: return "ok";
    case S3_SIGV4_ERR_CREDENTIALS: return "bad credentials";
    case S3_SIGV4_ERR_REGION: return "bad region";
    case S3_SIGV4_ERR_SERVICE: return "bad service name";
    case S3_SIGV4_ERR_TIME: return "time out of range";
    case S3_SIGV4_ERR_METHOD: return "bad method";
    case S3_SIGV4_ERR_HOST: return "bad host";
    case S3_SIGV4_ERR_PATH: return "bad path";
    case S3_SIGV4_ERR_QUERY: return "bad query";
    case S3_SIGV4_ERR_HEADER: return "bad header";
    case S3_SIGV4_ERR_PAYLOAD: return "bad payload hash";
    case S3_SIGV4_ERR_BUCKET: return "bad bucket name";
    case S3_SIGV4_ERR_KEY: return "object key too long";
    case S3_SIGV4_ERR_TOO_LONG: return "request too long to sign";
    }
    return "unknown error";
}
