// fuzz-sources: s3/http.c s3/xml.c
/* fuzz_http: the HTTP response parser and the S3 XML reader on arbitrary bytes.
 *
 * Input: byte 0 = options (bit 0 HEAD request, bit 1 small limits, bit 2 end of
 * stream after the input), byte 1 = seed for the piece sizes, the rest = the
 * response. The response is parsed twice, whole and in pseudo-random pieces;
 * both runs must end the same way (event, error, status, body, keep-alive), every
 * body slice must lie inside the input, and `used` never exceeds what was given.
 * The collected body, and the raw input, then go through the XML reader. */
#include "fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "s3/http.h"
#include "s3/xml.h"

struct outcome {
    enum http_event last;
    enum http_error error;
    uint64_t error_offset;
    int status;
    bool keep_alive;
    uint64_t body_bytes;
    uint32_t body_hash;
    size_t used_total;
};

static struct http_response fuzz_resp;
static uint8_t fuzz_body[4096];

static void check(bool ok)
{
    if (!ok) __builtin_trap();
}

/* Feeds data[0..len) in pieces (`seed` 0 = one piece). */
static void parse(const uint8_t *data, size_t len, uint8_t opts, uint32_t seed, struct outcome *o)
{
    struct http_limits lim = http_limits_default();
    if (opts & 2) lim = (struct http_limits){64, 4, 100};
    memset(o, 0, sizeof *o);
    o->last = HTTP_EVENT_NEED_MORE;
    o->body_hash = 2166136261u;
    http_response_init(&fuzz_resp, &lim, opts & 1);
    http_response_collect(&fuzz_resp, fuzz_body, sizeof fuzz_body);
    size_t at = 0;
    bool stop = false;
    while (!stop && at < len) {
        size_t piece = len - at;
        if (seed != 0) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 1 + (seed >> 16) % 17;
            if (n < piece) piece = n;
        }
        const uint8_t *p = data + at, *end = data + at + piece;
        for (int guard = 0;; guard++) {
            check(guard < 1000000);
            size_t used = 0;
            struct http_slice body;
            enum http_event ev = http_response_feed(&fuzz_resp, p, (size_t)(end - p), &used, &body);
            check(used <= (size_t)(end - p));
            if (ev == HTTP_EVENT_BODY) {
                check(body.len > 0 && body.data >= p && body.data + body.len <= end);
                for (size_t i = 0; i < body.len; i++) o->body_hash = (o->body_hash ^ body.data[i]) * 16777619u;
            } else {
                check(body.len == 0);
            }
            p += used;
            o->used_total += used;
            if (ev == HTTP_EVENT_NEED_MORE) {
                check(p == end);
                break;
            }
            if (ev == HTTP_EVENT_HEADERS) {
                o->status = fuzz_resp.status;
                check(fuzz_resp.status >= 100 && fuzz_resp.status <= 999);
                (void)http_response_header(&fuzz_resp, "etag");
                (void)http_response_header(&fuzz_resp, "x-amz-request-id");
                uint64_t ms;
                (void)http_response_retry_after_ms(&fuzz_resp, 1700000000, &ms);
                int64_t t;
                const char *date = http_response_header(&fuzz_resp, "date");
                if (date != NULL) (void)http_parse_date(date, &t);
            }
            if (ev == HTTP_EVENT_DONE || ev == HTTP_EVENT_ERROR) {
                o->last = ev;
                stop = true;
                break;
            }
        }
        at += piece;
    }
    if (!stop) {
        size_t used;
        struct http_slice body;
        enum http_event ev = http_response_feed(&fuzz_resp, NULL, 0, &used, &body);
        check(used == 0);
        if (ev == HTTP_EVENT_HEADERS) o->status = fuzz_resp.status, ev = http_response_feed(&fuzz_resp, NULL, 0, &used, &body);
        if (ev == HTTP_EVENT_DONE || ev == HTTP_EVENT_ERROR) o->last = ev;
        else if (opts & 4) o->last = http_response_eof(&fuzz_resp);
    }
    o->error = fuzz_resp.error;
    o->error_offset = fuzz_resp.error_offset;
    o->keep_alive = fuzz_resp.keep_alive;
    o->body_bytes = fuzz_resp.body_bytes;
    check(fuzz_resp.body_bytes <= lim.body_bytes_max);
    check(o->last != HTTP_EVENT_ERROR || (o->error != HTTP_OK && !o->keep_alive));
    check(o->last == HTTP_EVENT_ERROR || o->error == HTTP_OK);
}

static void xml(const char *text, size_t len)
{
    char out[64], root[S3_XML_NAME_MAX + 1];
    size_t n = 0;
    enum s3_xml_status st = s3_xml_check(text, len, root, sizeof root);
    check(strlen(root) <= S3_XML_NAME_MAX);
    st = s3_xml_get(text, len, "Error/Code", out, sizeof out, &n);
    check(n < sizeof out && strlen(out) == n);
    check(st == S3_XML_OK || st == S3_XML_TOO_LONG || n == 0);
    (void)s3_xml_get(text, len, "CompleteMultipartUploadResult/ETag", out, sizeof out, NULL);
    (void)s3_xml_get(text, len, "a/b/c", out, 2, NULL);
    struct s3_xml_error e;
    st = s3_xml_parse_error(text, len, &e);
    check(strlen(e.code) < sizeof e.code && strlen(e.message) < sizeof e.message);
    enum s3_xml_verdict v = s3_xml_verdict(text, len, "CompleteMultipartUploadResult");
    check(v != S3_XML_VERDICT_ERROR || st == S3_XML_OK);
}

LW_FUZZ_ENTRY(http)
{
    if (size < 2) return 0;
    uint8_t opts = data[0];
    uint32_t seed = data[1] | 1u;
    struct outcome whole, pieces;
    parse(data + 2, size - 2, opts, 0, &whole);
    size_t collected = fuzz_resp.collect_len;
    char *copy = malloc(collected ? collected : 1);
    if (copy == NULL) return 0;
    memcpy(copy, fuzz_body, collected);
    parse(data + 2, size - 2, opts, seed, &pieces);
    check(whole.last == pieces.last);
    check(whole.error == pieces.error);
    check(whole.error_offset == pieces.error_offset);
    check(whole.status == pieces.status);
    check(whole.keep_alive == pieces.keep_alive);
    check(whole.body_bytes == pieces.body_bytes);
    check(whole.body_hash == pieces.body_hash);
    check(whole.used_total == pieces.used_total);
    check(fuzz_resp.collect_len == collected && memcmp(copy, fuzz_body, collected) == 0);
    xml(copy, collected);
    xml((const char *)data + 2, size - 2);
    free(copy);
    return 0;
}
