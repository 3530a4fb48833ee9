/* sigv4: the AWS SigV4 test suite and the S3 documentation's examples, byte for
 * byte (tests/sigv4/), then encoding, headers, query, errors, key cache, hashes
 * and addressing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/sigv4.h"

/* One signer for the whole file: it is large. */
static struct s3_sigv4 sig;

static char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (size != NULL) *size = (size_t)n;
    return buf;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "20150830T123600Z" -> seconds since the epoch. */
static int64_t parse_amz_date(const char *s)
{
    int y, mo, d, h, mi, se;
    cr_assert_eq(sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &y, &mo, &d, &h, &mi, &se), 6, "%s", s);
    return days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s in place. */
static void pct_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* A suite request parsed into signer input (pointers into `text`). */
struct suite_case {
    char *text;
    char method[16];
    char *path;
    char *host;
    struct s3_sigv4_param query[S3_SIGV4_PARAM_COUNT_MAX];
    size_t query_count;
    struct s3_sigv4_header headers[S3_SIGV4_HEADER_COUNT_MAX];
    char *values[S3_SIGV4_HEADER_COUNT_MAX];
    bool allocated[S3_SIGV4_HEADER_COUNT_MAX];
    size_t header_count;
    char *body;
    size_t body_len;
};

static void parse_request(struct suite_case *c, char *text, size_t size)
{
    memset(c, 0, sizeof *c);
    c->text = text;
    char *sep = strstr(text, "\n\n");
    if (sep != NULL) {
        *sep = '\0';
        c->body = sep + 2;
        c->body_len = size - (size_t)(c->body - text);
    }
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    cr_assert_not_null(line);
    char *target = strchr(line, ' ');
    char *version = strrchr(line, ' ');
    cr_assert(target != NULL && version != NULL && version > target);
    *target++ = '\0';
    *version = '\0';
    snprintf(c->method, sizeof c->method, "%s", line);
    char *q = strchr(target, '?');
    if (q != NULL) {
        *q++ = '\0';
        char *qsave = NULL;
        for (char *p = strtok_r(q, "&", &qsave); p; p = strtok_r(NULL, "&", &qsave)) {
            char *eq = strchr(p, '=');
            if (eq != NULL) *eq++ = '\0';
            pct_decode(p);
            if (eq != NULL) pct_decode(eq);
            c->query[c->query_count++] = (struct s3_sigv4_param){p, eq};
        }
    }
    c->path = target;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (line[0] == ' ' || line[0] == '\t') {
            /* A continuation (obs-fold) line: unfold it into the value above. */
            cr_assert_gt(c->header_count, 0);
            size_t i = c->header_count - 1;
            char *v = c->values[i];
            size_t n = strlen(v) + 1 + strlen(line) + 1;
            char *joined = malloc(n);
            snprintf(joined, n, "%s %s", v, line);
            if (c->allocated[i]) free(v);
            c->values[i] = joined;
            c->allocated[i] = true;
            c->headers[i].value = joined;
            continue;
        }
        char *colon = strchr(line, ':');
        cr_assert_not_null(colon, "header line without ':': %s", line);
        *colon = '\0';
        if (strcasecmp(line, "host") == 0) {
            c->host = colon + 1;
            continue;
        }
        c->values[c->header_count] = colon + 1;
        c->headers[c->header_count++] = (struct s3_sigv4_header){line, colon + 1};
    }
}

static void free_case(struct suite_case *c)
{
    for (size_t i = 0; i < c->header_count; i++)
        if (c->allocated[i]) free(c->values[i]);
    free(c->text);
}

static const char *ctx_get(char *ctx, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (char *p = ctx; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p - (ptrdiff_t)klen - 1) : strlen(p + klen + 1);
            cr_assert_lt(n, cap);
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

/* Runs one vector directory; returns true when every output matched. */
static bool run_vector(const char *dir, const char *name)
{
    char path[512], *ctx, *text, *want;
    size_t size;
    snprintf(path, sizeof path, "%s/%s/context.txt", dir, name);
    ctx = read_file(path, NULL);
    cr_assert_not_null(ctx, "%s", path);
    snprintf(path, sizeof path, "%s/%s/request.txt", dir, name);
    text = read_file(path, &size);
    cr_assert_not_null(text, "%s", path);

    struct suite_case c;
    parse_request(&c, text, size);
    char mode[16], key_id[64], secret[64], region[32], service[32], ts[32], sha_hdr[8];
    char token[1024];
    cr_assert_not_null(ctx_get(ctx, "mode", mode, sizeof mode));
    cr_assert_not_null(ctx_get(ctx, "access_key_id", key_id, sizeof key_id));
    cr_assert_not_null(ctx_get(ctx, "secret_access_key", secret, sizeof secret));
    cr_assert_not_null(ctx_get(ctx, "region", region, sizeof region));
    cr_assert_not_null(ctx_get(ctx, "service", service, sizeof service));
    cr_assert_not_null(ctx_get(ctx, "timestamp", ts, sizeof ts));
    cr_assert_not_null(ctx_get(ctx, "content_sha256_header", sha_hdr, sizeof sha_hdr));
    const char *tok = ctx_get(ctx, "session_token", token, sizeof token);

    struct s3_credentials cred = {key_id, secret, tok};
    struct s3_sigv4_input in = {
        .cred = &cred,
        .region = region,
        .service = service,
        .mode = strcmp(mode, "generic") == 0 ? S3_SIGV4_MODE_GENERIC : S3_SIGV4_MODE_S3,
        .omit_content_sha256 = strcmp(sha_hdr, "no") == 0,
        .unix_seconds = parse_amz_date(ts),
        .method = c.method,
        .host = c.host,
        .path = (const uint8_t *)c.path,
        .path_len = strlen(c.path),
        .query = c.query,
        .query_count = c.query_count,
        .headers = c.headers,
        .header_count = c.header_count,
        .body = c.body ? c.body : "",
        .body_len = c.body_len,
    };
    enum s3_sigv4_status st = s3_sigv4_sign(&sig, &in, NULL);
    cr_expect_eq(st, S3_SIGV4_OK, "%s: %s", name, sig.err);
    bool ok = st == S3_SIGV4_OK;

    static const char *const files[] = {"canonical-request.txt", "string-to-sign.txt",
                                        "signature.txt"};
    const char *got[] = {sig.canonical, sig.string_to_sign, sig.signature};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s/%s", dir, name, files[i]);
        want = read_file(path, NULL);
        cr_assert_not_null(want, "%s", path);
        cr_expect_str_eq(got[i], want, "%s: %s\n--- got\n%s\n--- want\n%s", name, files[i],
                         got[i], want);
        ok = ok && strcmp(got[i], want) == 0;
        free(want);
    }
    cr_expect_eq(strlen(sig.canonical), sig.canonical_len);
    char auth[1024];
    snprintf(auth, sizeof auth, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
             key_id, sig.scope, sig.signed_headers, sig.signature);
    cr_expect_str_eq(sig.authorization, auth, "%s", name);
    free_case(&c);
    free(ctx);
    return ok;
}

Test(sigv4, published_vectors)
{
    const char *dir = "tests/sigv4";
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "no %s (cwd must be the repository)", dir);
    size_t count = 0, passed = 0, s3_docs = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
        count++;
        if (strncmp(e->d_name, "s3-", 3) == 0) s3_docs++;
        if (run_vector(dir, e->d_name)) passed++;
    }
    closedir(d);
    cr_expect_geq(count, 45, "only %zu vectors found", count);
    cr_expect_eq(s3_docs, 4);
    cr_expect_eq(passed, count, "%zu of %zu vectors passed", passed, count);
}

/* ------------------------------------------------------------------------- */
/* Helpers for the S3-mode tests                                               */

static const struct s3_credentials doc_cred = {"AKIAIOSFODNN7EXAMPLE",
                                               "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL};
static const int64_t may24 = 1369353600; /* 2013-05-24T00:00:00Z */

static struct s3_sigv4_input s3_input(const char *method, const char *path)
{
    return (struct s3_sigv4_input){
        .cred = &doc_cred,
        .region = "us-east-1",
        .unix_seconds = may24,
        .method = method,
        .host = "examplebucket.s3.amazonaws.com",
        .path = (const uint8_t *)path,
        .path_len = strlen(path),
        .payload_hash = S3_EMPTY_SHA256_HEX,
    };
}

/* The second line of the canonical request. */
static const char *canonical_uri(char *out, size_t cap)
{
    const char *a = strchr(sig.canonical, '\n') + 1;
    const char *b = strchr(a, '\n');
    snprintf(out, cap, "%.*s", (int)(b - a), a);
    return out;
}

static const char *canonical_query(char *out, size_t cap)
{
    const char *a = strchr(strchr(sig.canonical, '\n') + 1, '\n') + 1;
    const char *b = strchr(a, '\n');
    snprintf(out, cap, "%.*s", (int)(b - a), a);
    return out;
}

/* ------------------------------------------------------------------------- */
/* Encoding                                                                    */

Test(sigv4, uri_encode_each_byte)
{
    char out[8];
    for (int c = 0; c < 256; c++) {
        uint8_t b = (uint8_t)c;
        size_t n = s3_uri_encode(&b, 1, true, out, sizeof out);
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
        if (keep) {
            cr_expect_eq(n, 1, "byte %d", c);
            cr_expect_eq(out[0], c);
        } else {
            char want[4];
            snprintf(want, sizeof want, "%%%02X", c);
            cr_expect_str_eq(out, want, "byte %d", c);
        }
    }
    uint8_t slash = '/';
    s3_uri_encode(&slash, 1, false, out, sizeof out);
    cr_expect_str_eq(out, "%2F");
}

Test(sigv4, uri_encode_keys)
{
    char out[128];
    const char *in = "a b+c=d~e%f/g\xc3\xa9";
    cr_expect_eq(s3_uri_encode((const uint8_t *)in, strlen(in), true, out, sizeof out), 27);
    cr_expect_str_eq(out, "a%20b%2Bc%3Dd~e%25f/g%C3%A9");
    /* Too small: refused, not truncated. */
    cr_expect_eq(s3_uri_encode((const uint8_t *)"a b", 3, true, out, 5), SIZE_MAX);
    cr_expect_eq(s3_uri_encode((const uint8_t *)"a b", 3, true, out, 6), 5);
}

Test(sigv4, s3_mode_encodes_once_and_never_normalises)
{
    const char *paths[][2] = {
        {"/bucket//a/./b/../c", "/bucket//a/./b/../c"},
        {"/bucket/a b+c=d", "/bucket/a%20b%2Bc%3Dd"},
        {"/bucket/already%20encoded", "/bucket/already%2520encoded"},
        {"/bucket/\xe2\x82\xac/x~y", "/bucket/%E2%82%AC/x~y"},
        {"/bucket/trailing/", "/bucket/trailing/"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct s3_sigv4_input in = s3_input("GET", paths[i][0]);
        cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK, "%s", sig.err);
        char uri[256];
        cr_expect_str_eq(canonical_uri(uri, sizeof uri), paths[i][1]);
        /* What is signed is what is sent. */
        cr_expect_str_eq(sig.target, paths[i][1]);
    }
}

Test(sigv4, generic_mode_normalises_and_encodes_the_wire_path)
{
    struct s3_sigv4_input in = s3_input("GET", "/a//b/./c/../d%20e/");
    in.mode = S3_SIGV4_MODE_GENERIC;
    in.service = "service";
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK, "%s", sig.err);
    char uri[256];
    cr_expect_str_eq(canonical_uri(uri, sizeof uri), "/a/b/d%2520e/");
    cr_expect_str_eq(sig.target, "/a//b/./c/../d%20e/");
    const char *cases[][2] = {{"/..", "/"}, {"/../..", "/"}, {"/a/..", "/"}, {"/a/../", "/"},
                              {"/a/b/..", "/a"}, {"/a/b/../", "/a/"}, {"//", "/"}, {"/./", "/"},
                              {"/a/./b", "/a/b"}, {"/a/../../b", "/b"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        in.path = (const uint8_t *)cases[i][0];
        in.path_len = strlen(cases[i][0]);
        cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
        cr_expect_str_eq(canonical_uri(uri, sizeof uri), cases[i][1], "%s", cases[i][0]);
    }
}

/* ------------------------------------------------------------------------- */
/* Query                                                                       */

Test(sigv4, multipart_queries)
{
    char q[256];
    struct s3_sigv4_param create[] = {{"uploads", NULL}};
    struct s3_sigv4_input in = s3_input("POST", "/bucket/key");
    in.query = create;
    in.query_count = 1;
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    cr_expect_str_eq(canonical_query(q, sizeof q), "uploads=");
    cr_expect_str_eq(sig.target, "/bucket/key?uploads=");

    struct s3_sigv4_param part[] = {{"uploadId", "VXBsb2FkIElE+/=x y"}, {"partNumber", "10"}};
    in.method = "PUT";
    in.query = part;
    in.query_count = 2;
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    cr_expect_str_eq(canonical_query(q, sizeof q), "partNumber=10&uploadId=VXBsb2FkIElE%2B%2F%3Dx%20y");
    cr_expect_str_eq(sig.target, "/bucket/key?partNumber=10&uploadId=VXBsb2FkIElE%2B%2F%3Dx%20y");
}

Test(sigv4, query_sorted_by_encoded_name_then_value)
{
    char q[256];
    struct s3_sigv4_param p[] = {{"b", "2"}, {"a", "z"}, {"a", "y"}, {"A", ""}, {"~", "1"},
                                 {"a b", "1"}, {"a-c", "1"}};
    struct s3_sigv4_input in = s3_input("GET", "/");
    in.query = p;
    in.query_count = sizeof p / sizeof p[0];
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    cr_expect_str_eq(canonical_query(q, sizeof q), "A=&a=y&a=z&a%20b=1&a-c=1&b=2&~=1");
}

/* ------------------------------------------------------------------------- */
/* Headers                                                                     */

Test(sigv4, headers_lowercased_trimmed_sorted_and_joined)
{
    struct s3_sigv4_header h[] = {
        {"X-Amz-Meta-B", "  two\t\twords  here "},
        {"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
        {"x-amz-meta-a", "1"},
        {"X-AMZ-META-A", "2"},
        {"User-Agent", "lakewriter"},  /* never signed */
        {"Content-Type", "application/vnd.apache.parquet"},
    };
    struct s3_sigv4_input in = s3_input("PUT", "/bucket/key");
    in.headers = h;
    in.header_count = sizeof h / sizeof h[0];
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK, "%s", sig.err);
    cr_expect_str_eq(sig.signed_headers,
                     "content-md5;content-type;host;x-amz-content-sha256;x-amz-date;"
                     "x-amz-meta-a;x-amz-meta-b");
    cr_expect_not_null(strstr(sig.canonical, "\nx-amz-meta-a:1,2\nx-amz-meta-b:two words here\n"));
    cr_expect_null(strstr(sig.canonical, "user-agent"));
}

Test(sigv4, signer_owned_and_bad_headers_refused)
{
    const char *owned[] = {"Host", "Authorization", "X-Amz-Date", "x-amz-content-sha256",
                           "X-Amz-Security-Token"};
    struct s3_sigv4_input in = s3_input("PUT", "/bucket/key");
    for (size_t i = 0; i < 5; i++) {
        struct s3_sigv4_header h = {owned[i], "x"};
        in.headers = &h;
        in.header_count = 1;
        cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_HEADER, "%s", owned[i]);
        cr_expect_not_null(strstr(sig.err, "signer sets it"), "%s", sig.err);
    }
    const struct s3_sigv4_header bad[] = {
        {"X-Amz-Meta-A", "line\r\nInjected: yes"}, {"X-Amz-Meta-A", "nul\x01"},
        {"X-Amz-Meta-A", "caf\xc3\xa9"},           {"Bad Name", "v"},
        {"", "v"},                                 {"X-Amz-Meta-A:", "v"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        in.headers = &bad[i];
        in.header_count = 1;
        cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_HEADER, "case %zu", i);
    }
    struct s3_sigv4_header many[S3_SIGV4_HEADER_COUNT_MAX + 1];
    for (size_t i = 0; i < S3_SIGV4_HEADER_COUNT_MAX + 1; i++) many[i] = (struct s3_sigv4_header){"x-amz-meta-n", "v"};
    in.headers = many;
    in.header_count = S3_SIGV4_HEADER_COUNT_MAX;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK, "%s", sig.err);
    in.header_count = S3_SIGV4_HEADER_COUNT_MAX + 1;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_HEADER);
}

Test(sigv4, added_headers)
{
    struct s3_credentials cred = doc_cred;
    cred.session_token = "FwoGZXIvYXdzEBYaDH+token/with=chars";
    struct s3_sigv4_input in = s3_input("PUT", "/bucket/key");
    in.cred = &cred;
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    struct s3_sigv4_header out[S3_SIGV4_ADDED_HEADERS_MAX];
    cr_assert_eq(s3_sigv4_headers(&sig, out), 4);
    cr_expect_str_eq(out[0].name, "Authorization");
    cr_expect_str_eq(out[0].value, sig.authorization);
    cr_expect_str_eq(out[1].name, "X-Amz-Date");
    cr_expect_str_eq(out[1].value, "20130524T000000Z");
    cr_expect_str_eq(out[2].name, "X-Amz-Content-Sha256");
    cr_expect_str_eq(out[2].value, S3_EMPTY_SHA256_HEX);
    cr_expect_str_eq(out[3].name, "X-Amz-Security-Token");
    cr_expect_str_eq(out[3].value, cred.session_token);
    cr_expect_str_eq(sig.signed_headers, "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");

    cred.session_token = "";
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    cr_expect_eq(s3_sigv4_headers(&sig, out), 3);
    cr_expect_str_eq(sig.signed_headers, "host;x-amz-content-sha256;x-amz-date");
}

Test(sigv4, payload_from_body_or_unsigned)
{
    struct s3_sigv4_input in = s3_input("PUT", "/bucket/key");
    in.payload_hash = NULL;
    in.body = "Welcome to Amazon S3.";
    in.body_len = 21;
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    cr_expect_str_eq(sig.content_sha256,
                     "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    in.payload_hash = S3_UNSIGNED_PAYLOAD;
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    cr_expect_str_eq(sig.content_sha256, "UNSIGNED-PAYLOAD");
    size_t n = sig.canonical_len;
    cr_expect_str_eq(sig.canonical + n - 16, "UNSIGNED-PAYLOAD");
    const char *bad[] = {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                         "e3b0", ""};
    for (size_t i = 0; i < 4; i++) {
        in.payload_hash = bad[i];
        cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_PAYLOAD, "%s", bad[i]);
    }
}

/* ------------------------------------------------------------------------- */
/* Errors                                                                      */

Test(sigv4, input_errors_never_leak_secrets)
{
    struct s3_credentials cred = {"AKIDEXAMPLE", "SECRET-secret-SECRET", "TOKEN-token-TOKEN"};
    struct {
        struct s3_sigv4_input in;
        enum s3_sigv4_status want;
    } cases[12];
    size_t n = 0;
    struct s3_sigv4_input base = s3_input("GET", "/bucket/key");
    base.cred = &cred;
    cases[n].in = base, cases[n].in.region = "", cases[n++].want = S3_SIGV4_ERR_REGION;
    cases[n].in = base, cases[n].in.region = "US-EAST-1", cases[n++].want = S3_SIGV4_ERR_REGION;
    cases[n].in = base, cases[n].in.unix_seconds = -1, cases[n++].want = S3_SIGV4_ERR_TIME;
    cases[n].in = base, cases[n].in.unix_seconds = INT64_C(253402300800), cases[n++].want = S3_SIGV4_ERR_TIME;
    cases[n].in = base, cases[n].in.method = "get", cases[n++].want = S3_SIGV4_ERR_METHOD;
    cases[n].in = base, cases[n].in.host = "a b", cases[n++].want = S3_SIGV4_ERR_HOST;
    cases[n].in = base, cases[n].in.host = "", cases[n++].want = S3_SIGV4_ERR_HOST;
    cases[n].in = base, cases[n].in.path = (const uint8_t *)"key", cases[n++].want = S3_SIGV4_ERR_PATH;
    cases[n].in = base, cases[n].in.path_len = 0, cases[n++].want = S3_SIGV4_ERR_PATH;
    cases[n].in = base, cases[n].in.service = "S3", cases[n++].want = S3_SIGV4_ERR_SERVICE;
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(s3_sigv4_sign(&sig, &cases[i].in, NULL), cases[i].want, "case %zu: %s", i, sig.err);
        cr_expect_neq(sig.err[0], '\0', "case %zu has no message", i);
        cr_expect_null(strstr(sig.err, "SECRET"), "case %zu: %s", i, sig.err);
        cr_expect_null(strstr(sig.err, "TOKEN"), "case %zu: %s", i, sig.err);
        cr_expect_eq(sig.signature[0], '\0');
    }
    /* Credentials that can't be sent, and the same rule for the message. */
    struct s3_credentials bad[] = {{"AKID/EXAMPLE", "s", NULL}, {"", "s", NULL}, {"AKID", "", NULL},
                                   {"AKID", "SECRET", "TOKEN\nX"}, {"AKID", "SECRET", "TOKEN X"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct s3_sigv4_input in = base;
        in.cred = &bad[i];
        cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_CREDENTIALS, "cred %zu", i);
        cr_expect_null(strstr(sig.err, "SECRET"));
        cr_expect_null(strstr(sig.err, "TOKEN"));
    }
    char long_secret[S3_SIGV4_SECRET_MAX + 2];
    memset(long_secret, 'S', sizeof long_secret - 1);
    long_secret[sizeof long_secret - 1] = '\0';
    struct s3_credentials lc = {"AKID", long_secret, NULL};
    struct s3_sigv4_input in = base;
    in.cred = &lc;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_CREDENTIALS);
    cr_expect_null(strstr(sig.err, "SSSS"));
}

Test(sigv4, limits_are_errors_not_truncation)
{
    static char path[S3_SIGV4_PATH_MAX + 2];
    path[0] = '/';
    memset(path + 1, ' ', sizeof path - 2); /* every byte encodes to 3 */
    struct s3_sigv4_input in = s3_input("PUT", path);
    in.path_len = S3_SIGV4_PATH_MAX;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK, "%s", sig.err);
    cr_expect_eq(strlen(sig.target), 1 + 3 * (S3_SIGV4_PATH_MAX - 1));
    in.path_len = S3_SIGV4_PATH_MAX + 1;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_PATH);

    static char value[S3_SIGV4_PARAM_MAX + 1];
    memset(value, '/', sizeof value - 1);
    struct s3_sigv4_param p[S3_SIGV4_PARAM_COUNT_MAX + 1];
    for (size_t i = 0; i <= S3_SIGV4_PARAM_COUNT_MAX; i++) p[i] = (struct s3_sigv4_param){"n", value};
    in = s3_input("GET", "/b");
    in.query = p;
    in.query_count = 2;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    in.query_count = S3_SIGV4_PARAM_COUNT_MAX; /* 16 x 3 KiB encoded: over the query limit */
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_QUERY);
    in.query_count = S3_SIGV4_PARAM_COUNT_MAX + 1;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_QUERY);

    static char hv[S3_SIGV4_HEADER_VALUE_MAX + 2];
    memset(hv, 'v', sizeof hv - 1);
    struct s3_sigv4_header h[S3_SIGV4_HEADER_COUNT_MAX];
    for (size_t i = 0; i < S3_SIGV4_HEADER_COUNT_MAX; i++) h[i] = (struct s3_sigv4_header){"x-amz-meta-v", hv + 1};
    in = s3_input("GET", "/b");
    in.headers = h;
    in.header_count = 1;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    in.header_count = S3_SIGV4_HEADER_COUNT_MAX; /* 24 x 4 KiB: over the canonical limit */
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_TOO_LONG);
    h[0].value = hv;
    in.header_count = 1;
    cr_expect_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_ERR_HEADER);
}

/* ------------------------------------------------------------------------- */
/* Key cache, regions, time                                                    */

Test(sigv4, key_cache_per_day_region_and_secret)
{
    struct s3_sigv4_key cache;
    s3_sigv4_key_reset(&cache);
    struct s3_sigv4_input in = s3_input("GET", "/test.txt");
    cr_assert_eq(s3_sigv4_sign(&sig, &in, NULL), S3_SIGV4_OK);
    char uncached[65];
    strcpy(uncached, sig.signature);
    cr_assert_eq(s3_sigv4_sign(&sig, &in, &cache), S3_SIGV4_OK);
    cr_expect_str_eq(sig.signature, uncached);
    cr_expect(cache.valid);
    cr_expect_str_eq(cache.date, "20130524");
    uint8_t key[32];
    memcpy(key, cache.key, 32);

    in.unix_seconds = may24 + 86399; /* same day: same key */
    cr_assert_eq(s3_sigv4_sign(&sig, &in, &cache), S3_SIGV4_OK);
    cr_expect_eq(memcmp(key, cache.key, 32), 0);
    in.unix_seconds = may24 + 86400; /* next day */
    cr_assert_eq(s3_sigv4_sign(&sig, &in, &cache), S3_SIGV4_OK);
    cr_expect_str_eq(cache.date, "20130525");
    cr_expect_neq(memcmp(key, cache.key, 32), 0);

    in.unix_seconds = may24;
    struct s3_credentials rotated = {doc_cred.access_key_id, "another-secret", NULL};
    in.cred = &rotated;
    cr_assert_eq(s3_sigv4_sign(&sig, &in, &cache), S3_SIGV4_OK);
    cr_expect_str_neq(sig.signature, uncached);
    in.cred = &doc_cred;
    in.region = "auto";
    cr_assert_eq(s3_sigv4_sign(&sig, &in, &cache), S3_SIGV4_OK);
    cr_expect_str_eq(cache.region, "auto");
    cr_expect_str_eq(sig.scope, "20130524/auto/s3/aws4_request");
    cr_expect_not_null(strstr(sig.authorization, "Credential=AKIAIOSFODNN7EXAMPLE/20130524/auto/s3/aws4_request, "));
    s3_sigv4_key_reset(&cache);
    cr_expect(!cache.valid);
}

Test(sigv4, amz_date)
{
    char d[17];
    cr_expect(s3_amz_date(0, d));
    cr_expect_str_eq(d, "19700101T000000Z");
    cr_expect(s3_amz_date(may24, d));
    cr_expect_str_eq(d, "20130524T000000Z");
    cr_expect(s3_amz_date(1440938160, d));
    cr_expect_str_eq(d, "20150830T123600Z");
    cr_expect(s3_amz_date(1709251199, d)); /* leap day */
    cr_expect_str_eq(d, "20240229T235959Z");
    cr_expect(s3_amz_date(951782400, d));
    cr_expect_str_eq(d, "20000229T000000Z");
    cr_expect(s3_amz_date(INT64_C(253402300799), d));
    cr_expect_str_eq(d, "99991231T235959Z");
    cr_expect(!s3_amz_date(INT64_C(253402300800), d));
    cr_expect(!s3_amz_date(-1, d));
    /* Every day for 60 years round-trips through the test's own converter. */
    for (int64_t t = 0; t < INT64_C(60) * 366 * 86400; t += 86400 + 3661) {
        cr_assert(s3_amz_date(t, d));
        cr_assert_eq(parse_amz_date(d), t, "%s", d);
    }
}

/* ------------------------------------------------------------------------- */
/* Hashes                                                                      */

Test(sigv4, body_hash_streamed_equals_whole)
{
    char sha[65], md5[25];
    uint8_t raw[16];
    struct s3_body_hash h;
    s3_body_hash_init(&h);
    s3_body_hash_final(&h, sha, md5, raw);
    cr_expect_str_eq(sha, S3_EMPTY_SHA256_HEX);
    cr_expect_str_eq(md5, "1B2M2Y8AsgTpgAmY7PhCfg==");

    const char *text = "Welcome to Amazon S3.";
    for (size_t split = 0; split <= strlen(text); split++) {
        s3_body_hash_init(&h);
        s3_body_hash_update(&h, text, split);
        s3_body_hash_update(&h, text + split, strlen(text) - split);
        s3_body_hash_final(&h, sha, md5, NULL);
        cr_expect_str_eq(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
        cr_expect_eq(h.size_bytes, strlen(text));
    }
    s3_body_hash_init(&h);
    s3_body_hash_update(&h, "The quick brown fox jumps over the lazy dog", 43);
    s3_body_hash_final(&h, sha, md5, raw);
    cr_expect_str_eq(md5, "nhB9nTcrtoJr2B01QqQZ1g==");
    cr_expect_eq(raw[0], 0x9e);
    cr_expect_eq(raw[15], 0xd6);
    s3_sha256_hex("abc", 3, sha);
    cr_expect_str_eq(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ------------------------------------------------------------------------- */
/* Addressing                                                                  */

Test(sigv4, object_paths)
{
    char p[64];
    size_t n;
    const uint8_t *key = (const uint8_t *)"events/dt=2024-01-01/a b.parquet";
    cr_assert_eq(s3_object_path(p, sizeof p, &n, S3_ADDRESSING_PATH, "lake", key, 32), S3_SIGV4_OK);
    cr_expect_str_eq(p, "/lake/events/dt=2024-01-01/a b.parquet");
    cr_expect_eq(n, strlen(p));
    cr_assert_eq(s3_object_path(p, sizeof p, &n, S3_ADDRESSING_VIRTUAL, "lake", key, 32), S3_SIGV4_OK);
    cr_expect_str_eq(p, "/events/dt=2024-01-01/a b.parquet");
    cr_assert_eq(s3_object_path(p, sizeof p, &n, S3_ADDRESSING_PATH, "lake", (const uint8_t *)"/x", 2), S3_SIGV4_OK);
    cr_expect_str_eq(p, "/lake//x");
    cr_assert_eq(s3_object_path(p, sizeof p, &n, S3_ADDRESSING_PATH, "lake", NULL, 0), S3_SIGV4_OK);
    cr_expect_str_eq(p, "/lake");
    cr_expect_eq(s3_object_path(p, sizeof p, &n, S3_ADDRESSING_PATH, "Lake", key, 32), S3_SIGV4_ERR_BUCKET);
    cr_expect_eq(s3_object_path(p, sizeof p, &n, S3_ADDRESSING_PATH, "ab", key, 32), S3_SIGV4_ERR_BUCKET);
    cr_expect_eq(s3_object_path(p, sizeof p, &n, S3_ADDRESSING_PATH, "-ab", key, 32), S3_SIGV4_ERR_BUCKET);
    cr_expect_eq(s3_object_path(p, 10, &n, S3_ADDRESSING_PATH, "lake", key, 32), S3_SIGV4_ERR_TOO_LONG);
    static uint8_t long_key[S3_KEY_MAX + 1];
    memset(long_key, 'k', sizeof long_key);
    char big[S3_SIGV4_PATH_MAX + 1];
    cr_expect_eq(s3_object_path(big, sizeof big, &n, S3_ADDRESSING_PATH, "lake", long_key, S3_KEY_MAX), S3_SIGV4_OK);
    cr_expect_eq(s3_object_path(big, sizeof big, &n, S3_ADDRESSING_PATH, "lake", long_key, S3_KEY_MAX + 1), S3_SIGV4_ERR_KEY);
}

Test(sigv4, object_hosts)
{
    char h[300];
    cr_assert_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_PATH, "ACCT.r2.cloudflarestorage.com", 443, true, "lake"), S3_SIGV4_OK);
    cr_expect_str_eq(h, "acct.r2.cloudflarestorage.com");
    cr_assert_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_VIRTUAL, "s3.eu-west-1.amazonaws.com", 0, true, "lake"), S3_SIGV4_OK);
    cr_expect_str_eq(h, "lake.s3.eu-west-1.amazonaws.com");
    cr_assert_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_PATH, "127.0.0.1", 9000, false, "lake"), S3_SIGV4_OK);
    cr_expect_str_eq(h, "127.0.0.1:9000");
    cr_assert_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_PATH, "minio", 80, false, "lake"), S3_SIGV4_OK);
    cr_expect_str_eq(h, "minio");
    cr_assert_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_PATH, "minio", 443, false, "lake"), S3_SIGV4_OK);
    cr_expect_str_eq(h, "minio:443");
    cr_assert_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_PATH, "[::1]", 9000, true, NULL), S3_SIGV4_OK);
    cr_expect_str_eq(h, "[::1]:9000");
    cr_expect_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_VIRTUAL, "[::1]", 9000, true, "lake"), S3_SIGV4_ERR_HOST);
    cr_expect_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_PATH, "host:9000", 0, true, NULL), S3_SIGV4_ERR_HOST);
    cr_expect_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_PATH, "a/b", 0, true, NULL), S3_SIGV4_ERR_HOST);
    cr_expect_eq(s3_object_host(h, sizeof h, S3_ADDRESSING_VIRTUAL, "s3.amazonaws.com", 0, true, "x"), S3_SIGV4_ERR_BUCKET);
    cr_expect_eq(s3_object_host(h, 8, S3_ADDRESSING_PATH, "s3.amazonaws.com", 0, true, NULL), S3_SIGV4_ERR_TOO_LONG);
}

Test(sigv4, strerror_names_every_status)
{
    for (int s = S3_SIGV4_OK; s <= S3_SIGV4_ERR_TOO_LONG; s++)
        cr_expect_str_neq(s3_sigv4_strerror((enum s3_sigv4_status)s), "unknown error", "%d", s);
}
