/* sigv4: AWS Signature Version 4 for S3 (and, for the published test suite, for a
 * generic AWS service). Pure: no I/O, no clock, no allocation.
 *
 * The caller fills a `struct s3_sigv4_input` (credentials, region, the time as
 * UTC seconds, and the request: method, Host, raw path bytes, query parameters,
 * headers, payload hash or body) and calls s3_sigv4_sign() on a caller-owned
 * `struct s3_sigv4`. On success that struct holds the canonical request, the
 * string to sign, the signature, the Authorization value, and the request-target
 * to put on the request line; s3_sigv4_headers() lists the headers to add to the
 * request (Authorization, X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token).
 *
 *   struct s3_sigv4 sig;                         // ~67 KiB: keep it static or per connection
 *   struct s3_sigv4_param q[] = {{"partNumber", "3"}, {"uploadId", id}};
 *   struct s3_sigv4_header h[] = {{"Content-MD5", md5_b64}};
 *   struct s3_sigv4_input in = {
 *       .cred = &cred, .region = "auto", .unix_seconds = now,
 *       .method = "PUT", .host = "acct.r2.cloudflarestorage.com",
 *       .path = path, .path_len = path_len,        // s3_object_path(): "/bucket/key", raw
 *       .query = q, .query_count = 2, .headers = h, .header_count = 1,
 *       .payload_hash = sha_hex,                   // s3_body_hash_final()
 *   };
 *   if (s3_sigv4_sign(&sig, &in, &key_cache) != S3_SIGV4_OK) report(sig.err);
 *   http request line: "PUT " sig.target " HTTP/1.1"; headers: h[] + s3_sigv4_headers().
 *
 * S3 mode (the default): the path is the object's raw bytes; each byte outside
 * A-Za-z0-9-_.~ and '/' becomes %XX (uppercase), exactly once, and nothing is
 * normalised ('//' and '.' stay). The same encoded path is the request-target, so
 * what is signed is what is sent. Generic mode (test suite only): the path is the
 * wire path as written in a request line; it is normalised (dot segments and empty
 * segments removed) and then encoded again, as the SigV4 test suite expects.
 *
 * Query parameters are given raw (decoded); names and values are encoded with the
 * same rule, sorted by encoded name then encoded value, and always written with
 * '=' ("uploads="). Headers: names are lowercased, values trimmed and inner runs of
 * blanks collapsed, repeated names joined with ','; every given header is signed
 * except the hop-by-hop and tracing ones botocore never signs (user-agent, expect,
 * connection, transfer-encoding, ...). Host is given separately, exactly as it is
 * sent (with ":port" when the port is not the scheme's default).
 *
 * Secrets: the secret key and the session token never appear in `err`, and the
 * secret never leaves this module except as the derived signing key.
 */
#ifndef LW_S3_SIGV4_H
#define LW_S3_SIGV4_H

#include <bearssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3/sha256.h"

#define S3_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define S3_EMPTY_SHA256_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum {
    S3_SIGV4_KEY_ID_MAX = 128,          /* bytes of an access key id */
    S3_SIGV4_SECRET_MAX = 128,          /* bytes of a secret access key */
    S3_SIGV4_TOKEN_MAX = 4096,          /* bytes of a session token */
    S3_SIGV4_REGION_MAX = 32,           /* "us-east-1", "auto" */
    S3_SIGV4_SERVICE_MAX = 32,          /* "s3" */
    S3_SIGV4_METHOD_MAX = 16,
    S3_SIGV4_HOST_MAX = 270,            /* DNS name (253) + ":65535", or [IPv6]:port */
    S3_SIGV4_PATH_MAX = 2048,           /* raw path bytes: "/" bucket "/" key (S3 keys <= 1024) */
    S3_SIGV4_PARAM_COUNT_MAX = 16,      /* query parameters */
    S3_SIGV4_PARAM_MAX = 1024,          /* raw bytes of one query name or value */
    S3_SIGV4_QUERY_MAX = 8192,          /* the encoded canonical query string */
    S3_SIGV4_HEADER_COUNT_MAX = 24,     /* caller headers (the signer adds up to 4 more) */
    S3_SIGV4_HEADER_NAME_MAX = 128,
    S3_SIGV4_HEADER_VALUE_MAX = 4096,
    S3_SIGV4_SIGNED_HEADERS_MAX = 4096, /* "host;x-amz-date;..." */
    S3_SIGV4_CANONICAL_MAX = 32768,     /* the whole canonical request */
    S3_SIGV4_TARGET_MAX = 3 * S3_SIGV4_PATH_MAX + 1 + S3_SIGV4_QUERY_MAX + 1,
    S3_SIGV4_SCOPE_MAX = 8 + 1 + S3_SIGV4_REGION_MAX + 1 + S3_SIGV4_SERVICE_MAX + 13 + 1,
    S3_SIGV4_STS_MAX = 17 + 17 + S3_SIGV4_SCOPE_MAX + 64 + 1,
    S3_SIGV4_AUTH_MAX = 28 + S3_SIGV4_KEY_ID_MAX + 1 + S3_SIGV4_SCOPE_MAX + 16 +
                        S3_SIGV4_SIGNED_HEADERS_MAX + 12 + 64 + 1,
    S3_SIGV4_ADDED_HEADERS_MAX = 4,     /* what s3_sigv4_headers() can return */
    S3_SIGV4_ERR_MAX = 160,
    S3_SHA256_HEX_LEN = 64,
    S3_MD5_BASE64_LEN = 24,
    S3_BUCKET_MAX = 63,
    S3_KEY_MAX = 1024,
};

enum s3_sigv4_status {
    S3_SIGV4_OK = 0,
    S3_SIGV4_ERR_CREDENTIALS,   /* key id, secret or token missing, too long or with a bad byte */
    S3_SIGV4_ERR_REGION,        /* empty, too long, or not [a-z0-9-] */
    S3_SIGV4_ERR_SERVICE,
    S3_SIGV4_ERR_TIME,          /* outside 1970-01-01 .. 9999-12-31 */
    S3_SIGV4_ERR_METHOD,        /* empty, too long, not an HTTP token */
    S3_SIGV4_ERR_HOST,          /* empty, too long, or with bytes a Host header can't carry */
    S3_SIGV4_ERR_PATH,          /* not starting with '/', or too long */
    S3_SIGV4_ERR_QUERY,         /* too many parameters, or one too long */
    S3_SIGV4_ERR_HEADER,        /* too many, bad name, bad value, or one the signer owns */
    S3_SIGV4_ERR_PAYLOAD,       /* payload hash neither 64 lowercase hex nor UNSIGNED-PAYLOAD */
    S3_SIGV4_ERR_BUCKET,        /* bucket name not 3..63 of [a-z0-9.-] */
    S3_SIGV4_ERR_KEY,           /* object key longer than S3_KEY_MAX */
    S3_SIGV4_ERR_TOO_LONG,      /* an output (canonical request, target, ...) over its limit */
};

enum s3_sigv4_mode {
    S3_SIGV4_MODE_S3 = 0,       /* raw path, encoded once, never normalised */
    S3_SIGV4_MODE_GENERIC = 1,  /* wire path, normalised, encoded again (test suite) */
};

enum s3_addressing {
    S3_ADDRESSING_PATH = 0,     /* https://endpoint/bucket/key (R2, MinIO) */
    S3_ADDRESSING_VIRTUAL = 1,  /* https://bucket.endpoint/key (AWS) */
};

/* Credentials: NUL-terminated; session_token NULL or "" when there is none.
 * Borrowed: they must outlive the s3_sigv4 they sign (the token is sent later). */
struct s3_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
};

/* One query parameter, raw (not percent-encoded). value NULL means "". */
struct s3_sigv4_param {
    const char *name;
    const char *value;
};

/* One request header, NUL-terminated name and value. */
struct s3_sigv4_header {
    const char *name;
    const char *value;
};

struct s3_sigv4_input {
    const struct s3_credentials *cred;
    const char *region;                 /* "auto" for R2, "us-east-1" for MinIO */
    const char *service;                /* NULL: "s3" */
    enum s3_sigv4_mode mode;
    bool omit_content_sha256;           /* test suite only: S3 requires the header */
    int64_t unix_seconds;               /* the wall clock, UTC */

    const char *method;                 /* "PUT" */
    const char *host;                   /* the Host header as sent */
    const uint8_t *path;                /* raw bytes, starting with '/' */
    size_t path_len;
    const struct s3_sigv4_param *query;
    size_t query_count;
    const struct s3_sigv4_header *headers;
    size_t header_count;
    const char *payload_hash;           /* 64 lowercase hex or UNSIGNED-PAYLOAD; NULL: hash body */
    const void *body;
    size_t body_len;
};

/* The signing key for one (secret, day, region, service); derive it once a day.
 * It is as sensitive as the secret: keep it where the secret is. */
struct s3_sigv4_key {
    bool valid;
    char date[9];                               /* "20130524" */
    char region[S3_SIGV4_REGION_MAX + 1];
    char service[S3_SIGV4_SERVICE_MAX + 1];
    uint8_t secret_digest[32];                  /* SHA-256 of the secret it came from */
    uint8_t key[32];
};

/* The signer's state and outputs. Fields marked "out" are valid after a
 * successful s3_sigv4_sign() and until the next call; the rest is scratch. */
struct s3_sigv4 {
    char amz_date[17];                          /* out: "20130524T000000Z" */
    char scope[S3_SIGV4_SCOPE_MAX];             /* out: "20130524/us-east-1/s3/aws4_request" */
    char content_sha256[S3_SHA256_HEX_LEN + 1]; /* out: the payload hash that was signed
                                                   (or "UNSIGNED-PAYLOAD") */
    char signed_headers[S3_SIGV4_SIGNED_HEADERS_MAX]; /* out: "host;x-amz-date" */
    char signature[S3_SHA256_HEX_LEN + 1];      /* out: hex */
    char authorization[S3_SIGV4_AUTH_MAX];      /* out: the Authorization header value */
    char target[S3_SIGV4_TARGET_MAX];           /* out: request-target, path[?query] */
    char canonical[S3_SIGV4_CANONICAL_MAX];     /* out: the canonical request */
    size_t canonical_len;
    char string_to_sign[S3_SIGV4_STS_MAX];      /* out */
    size_t string_to_sign_len;
    char err[S3_SIGV4_ERR_MAX];                 /* out on failure: what was wrong */

    bool content_sha256_header;                 /* whether X-Amz-Content-Sha256 is added */
    const char *session_token;                  /* borrowed from the credentials */
    char lname[S3_SIGV4_HEADER_COUNT_MAX + 4][S3_SIGV4_HEADER_NAME_MAX + 1];
    char query_scratch[S3_SIGV4_QUERY_MAX];
};

/* Signs `in` into `sig`. `cache` (may be NULL) holds the signing key between calls:
 * it is rederived when the day, region, service or secret changes. Returns
 * S3_SIGV4_OK, or an error code with a message in sig->err (never a secret). */
enum s3_sigv4_status s3_sigv4_sign(struct s3_sigv4 *sig, const struct s3_sigv4_input *in,
                                   struct s3_sigv4_key *cache);

/* The headers to add to the request after a successful s3_sigv4_sign():
 * Authorization, X-Amz-Date, X-Amz-Content-Sha256 (unless omitted) and
 * X-Amz-Security-Token (when there is a token). Fills `out` (room for
 * S3_SIGV4_ADDED_HEADERS_MAX) with pointers into `sig` and the credentials;
 * returns the count. */
size_t s3_sigv4_headers(const struct s3_sigv4 *sig,
                        struct s3_sigv4_header out[S3_SIGV4_ADDED_HEADERS_MAX]);

/* Derives the signing key for `date8` ("YYYYMMDD") into `key`:
 *   kDate = HMAC("AWS4" secret, date) -> kRegion -> kService -> HMAC(., "aws4_request").
 * Returns S3_SIGV4_OK or an input error. */
enum s3_sigv4_status s3_sigv4_key_derive(struct s3_sigv4_key *key, const char *secret,
                                         const char *date8, const char *region,
                                         const char *service);

/* Forgets (and wipes) a cached signing key. */
void s3_sigv4_key_reset(struct s3_sigv4_key *key);

/* Percent-encodes in[0..len) into out (cap bytes, NUL-terminated): A-Za-z0-9-_.~
 * kept, '/' kept when keep_slash, every other byte %XX uppercase. Returns the
 * encoded length, or SIZE_MAX when it does not fit. */
size_t s3_uri_encode(const uint8_t *in, size_t len, bool keep_slash, char *out, size_t cap);

/* Formats `unix_seconds` as "YYYYMMDDTHHMMSSZ" (UTC). False outside years 1970..9999. */
bool s3_amz_date(int64_t unix_seconds, char out[17]);

/* The raw (unencoded) path of an object: "/<bucket>/<key>" for path-style, "/<key>"
 * for virtual-hosted addressing (an empty key addresses the bucket). Writes
 * out[0..*out_len) plus a NUL; returns S3_SIGV4_OK, _ERR_BUCKET, _ERR_KEY or
 * _ERR_TOO_LONG. The result goes to s3_sigv4_input.path as is. */
enum s3_sigv4_status s3_object_path(char *out, size_t cap, size_t *out_len,
                                    enum s3_addressing addressing, const char *bucket,
                                    const uint8_t *key, size_t key_len);

/* The Host header for an endpoint: "<endpoint_host>" for path-style,
 * "<bucket>.<endpoint_host>" for virtual-hosted, lowercased, with ":<port>" unless
 * the port is the scheme's default (443 with TLS, 80 without). port 0 = default.
 * Returns S3_SIGV4_OK, _ERR_BUCKET, _ERR_HOST or _ERR_TOO_LONG. */
enum s3_sigv4_status s3_object_host(char *out, size_t cap, enum s3_addressing addressing,
                                    const char *endpoint_host, uint16_t port, bool tls,
                                    const char *bucket);

/* SHA-256 of data[0..len) as 64 lowercase hex digits plus a NUL. */
void s3_sha256_hex(const void *data, size_t len, char out[S3_SHA256_HEX_LEN + 1]);

/* SHA-256 and MD5 of a body fed in pieces (a part streamed from a buffer):
 * the payload hash to sign and the Content-MD5 header value. */
struct s3_body_hash {
    struct s3_sha256 sha256;    /* SHA-NI where the CPU has it: this runs over every body byte */
    br_md5_context md5;
    uint64_t size_bytes;
};

void s3_body_hash_init(struct s3_body_hash *h);
void s3_body_hash_update(struct s3_body_hash *h, const void *data, size_t len);

/* Writes the hex SHA-256, the base64 MD5 (Content-MD5) and, when md5 is not NULL,
 * the 16 raw MD5 bytes (for the multipart ETag check). `h` stays usable. */
void s3_body_hash_final(const struct s3_body_hash *h, char sha256_hex[S3_SHA256_HEX_LEN + 1],
                        char md5_base64[S3_MD5_BASE64_LEN + 1], uint8_t md5[16]);

/* A short English name of a status ("bad region"). */
const char *s3_sigv4_strerror(enum s3_sigv4_status status);

#endif
