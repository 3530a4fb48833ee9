/* http: request bytes exact; every response fed at every split point and one byte
 * at a time; chunked bodies with extensions and trailers; each malformed case ->
 * its error; limits; keep-alive; and the S3 XML reader (s3/xml). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/http.h"
#include "s3/xml.h"

/* ------------------------------------------------------------------------- */
/* Feeding helper                                                              */

struct result {
    enum http_event last;       /* DONE, ERROR, or NEED_MORE if neither came */
    enum http_error error;
    int status;
    bool keep_alive;
    bool has_body;
    int headers_events;
    char body[65536];
    size_t body_len;
    size_t leftover;            /* input bytes not used when DONE came */
    char etag[128];
};

static struct http_response resp;

/* Feeds text[0..len) in pieces: the split points are `cuts` (ascending), or
 * `step`-byte pieces when cuts is NULL. Calls _eof() at the end when `eof`. */
static void run_split(const char *text, size_t len, const size_t *cuts, size_t ncuts, size_t step,
                      bool head, bool eof, const struct http_limits *lim, struct result *out)
{
    memset(out, 0, sizeof *out);
    out->last = HTTP_EVENT_NEED_MORE;
    http_response_init(&resp, lim, head);
    size_t at = 0, piece = 0;
    bool stop = false;
    while (!stop && at < len) {
        size_t end;
        if (cuts != NULL) end = piece < ncuts ? cuts[piece] : len;
        else end = at + step < len ? at + step : len;
        piece++;
        /* A fresh heap copy of each piece: ASan catches reads outside it. */
        size_t plen = end - at;
        uint8_t *copy = malloc(plen ? plen : 1);
        memcpy(copy, text + at, plen);
        const uint8_t *data = copy;
        size_t rest = plen;
        for (int guard = 0; guard < 100000; guard++) {
            size_t used = 12345;
            struct http_slice body;
            enum http_event ev = http_response_feed(&resp, data, rest, &used, &body);
            cr_assert_leq(used, rest);
            data += used;
            rest -= used;
            if (ev == HTTP_EVENT_NEED_MORE) {
                cr_assert_eq(rest, 0, "NEED_MORE with unused input");
                break;
            }
            if (ev == HTTP_EVENT_HEADERS) {
                out->headers_events++;
                out->status = resp.status;
                out->has_body = resp.has_body;
                const char *etag = http_response_header(&resp, "ETag");
                if (etag) snprintf(out->etag, sizeof out->etag, "%s", etag);
            } else if (ev == HTTP_EVENT_BODY) {
                cr_assert_gt(body.len, 0);
                cr_assert(body.data >= copy && body.data + body.len <= copy + plen, "slice outside the input");
                cr_assert_leq(out->body_len + body.len, sizeof out->body);
                memcpy(out->body + out->body_len, body.data, body.len);
                out->body_len += body.len;
            } else {
                out->last = ev;
                out->error = resp.error;
                out->keep_alive = resp.keep_alive;
                out->leftover = rest + (len - end);
                stop = true;
                break;
            }
        }
        free(copy);
        at = end;
    }
    if (!stop && len == 0) {
        /* nothing fed: still ask once, with no bytes */
        size_t used;
        struct http_slice body;
        enum http_event ev = http_response_feed(&resp, NULL, 0, &used, &body);
        if (ev == HTTP_EVENT_DONE || ev == HTTP_EVENT_ERROR) stop = true, out->last = ev;
    }
    if (!stop) {
        /* A complete message may still owe its DONE (e.g. HEAD, CL 0). */
        size_t used;
        struct http_slice body;
        enum http_event ev = http_response_feed(&resp, NULL, 0, &used, &body);
        if (ev == HTTP_EVENT_HEADERS) out->headers_events++, out->status = resp.status;
        if (ev != HTTP_EVENT_NEED_MORE && ev != HTTP_EVENT_HEADERS) {
            out->last = ev;
            stop = true;
        } else if (eof) {
            out->last = http_response_eof(&resp);
            stop = true;
        }
        out->error = resp.error;
        out->keep_alive = resp.keep_alive;
    }
}

static void run_whole(const char *text, bool head, bool eof, const struct http_limits *lim,
                      struct result *out)
{
    size_t len = strlen(text);
    run_split(text, len, NULL, 0, len ? len : 1, head, eof, lim, out);
}

/* Checks that every two-piece split and the one-byte feed give `want`. */
static void expect_same_at_every_split(const char *text, size_t len, bool head, bool eof,
                                       const struct http_limits *lim, const struct result *want)
{
    static struct result got;
    for (size_t k = 0; k <= len + 1; k++) {
        if (k <= len) run_split(text, len, &k, 1, 0, head, eof, lim, &got);
        else run_split(text, len, NULL, 0, 1, head, eof, lim, &got);
        const char *how = k <= len ? "split" : "byte-by-byte";
        cr_assert_eq(got.last, want->last, "%s %zu: event %d, want %d", how, k, got.last, want->last);
        cr_assert_eq(got.error, want->error, "%s %zu: error %d (%s), want %d", how, k, got.error,
                     http_strerror(got.error), want->error);
        cr_assert_eq(got.status, want->status, "%s %zu", how, k);
        cr_assert_eq(got.keep_alive, want->keep_alive, "%s %zu", how, k);
        cr_assert_eq(got.body_len, want->body_len, "%s %zu", how, k);
        cr_assert_eq(memcmp(got.body, want->body, got.body_len), 0, "%s %zu", how, k);
        cr_assert_eq(got.leftover, want->leftover, "%s %zu", how, k);
        cr_assert_eq(got.headers_events, want->headers_events, "%s %zu", how, k);
    }
}

/* Parses `text` whole, checks the outcome, then checks every split agrees. */
static void expect_response(const char *text, bool head, bool eof, int status, const char *body,
                            bool keep_alive)
{
    static struct result r;
    run_whole(text, head, eof, NULL, &r);
    cr_assert_eq(r.last, HTTP_EVENT_DONE, "%s -> %s", text, http_strerror(r.error));
    cr_assert_eq(r.status, status);
    cr_assert_eq(r.body_len, strlen(body), "body %zu bytes: %.*s", r.body_len, (int)r.body_len, r.body);
    cr_assert_eq(memcmp(r.body, body, r.body_len), 0);
    cr_assert_eq(r.keep_alive, keep_alive, "%s", text);
    cr_assert_eq(r.headers_events, 1);
    expect_same_at_every_split(text, strlen(text), head, eof, NULL, &r);
}

static void expect_error_lim(const char *text, size_t len, bool eof, const struct http_limits *lim,
                             enum http_error want)
{
    static struct result r;
    run_split(text, len, NULL, 0, len ? len : 1, false, eof, lim, &r);
    cr_assert_eq(r.last, HTTP_EVENT_ERROR, "%s: no error (event %d)", text, r.last);
    cr_assert_eq(r.error, want, "%s: got %s, want %s", text, http_strerror(r.error), http_strerror(want));
    cr_assert(!r.keep_alive);
    expect_same_at_every_split(text, len, false, eof, lim, &r);
}

static void expect_error(const char *text, enum http_error want)
{
    expect_error_lim(text, strlen(text), true, NULL, want);
}

/* ------------------------------------------------------------------------- */
/* Well-formed responses                                                       */

Test(http, content_length_body)
{
    expect_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"abc\"\r\n\r\nhello", false, false,
                    200, "hello", true);
    expect_response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, false, 200, "", true);
    expect_response("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\nhello",
                    false, false, 200, "hello", true);
    /* bare LF line ends are accepted */
    expect_response("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false, false, 200, "ok", true);
    /* an empty reason phrase, with and without its space */
    expect_response("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", false, false, 404, "", true);
    expect_response("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", false, false, 503, "", true);
}

Test(http, chunked_with_extensions_and_trailers)
{
    const char *text =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-amz-request-id: R1\r\n\r\n"
        "5;name=val;q=\"x y\"\r\nhello\r\n"
        "6 ; ext\r\n world\r\n"
        "000A\r\n0123456789\r\n"
        "0;last\r\nX-Trailer: t\r\nOther:v\r\n\r\n";
    expect_response(text, false, false, 200, "hello world0123456789", true);
    expect_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", false, false,
                    200, "", true);
    expect_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\n0\n\n", false, false,
                    200, "x", true);
}

Test(http, responses_without_body)
{
    expect_response("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"e\"\r\n\r\n", true, false, 200,
                    "", true);
    expect_response("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false, false, 204, "", true);
    expect_response("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, false,
                    304, "", true);
    static struct result r;
    run_whole("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true, false, NULL, &r);
    cr_expect(!r.has_body);
}

Test(http, interim_responses_are_skipped)
{
    expect_response("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                    false, false, 200, "ok", true);
}

Test(http, keep_alive_decisions)
{
    expect_response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false, false, 200, "", false);
    expect_response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Upgrade, CLOSE\r\n\r\n", false, false, 200, "", false);
    expect_response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", false, false, 200, "", true);
    expect_response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, false, 200, "", false);
    expect_response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n", false, false, 200, "", true);
    expect_response("HTTP/1.1 200 OK\r\n\r\nuntil the end", false, true, 200, "until the end", false);
    expect_response("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody", false, true, 200, "body", false);
    /* HTTP/1.2 is a 1.x: taken as 1.1 */
    expect_response("HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", false, false, 200, "", true);
}

Test(http, headers_lookup)
{
    static struct result r;
    const char *text = "HTTP/1.1 200 OK\r\nETag:   \"9b2cf535f27731c974343645a3985328\" \r\n"
                       "x-amz-request-id: 4442587FB7D0A2F9\r\nDate: Wed, 01 Mar 2006 12:00:00 GMT\r\n"
                       "X-Empty:\r\nContent-Length: 0\r\n\r\n";
    run_whole(text, false, false, NULL, &r);
    cr_assert_eq(r.last, HTTP_EVENT_DONE);
    cr_expect_str_eq(http_response_header(&resp, "etag"), "\"9b2cf535f27731c974343645a3985328\"");
    cr_expect_str_eq(http_response_header(&resp, "X-AMZ-REQUEST-ID"), "4442587FB7D0A2F9");
    cr_expect_str_eq(http_response_header(&resp, "x-empty"), "");
    cr_expect_null(http_response_header(&resp, "x-missing"));
    cr_expect_eq(http_response_header_count(&resp), 5);
    const char *n, *v;
    cr_expect(http_response_header_at(&resp, 1, &n, &v));
    cr_expect_str_eq(n, "x-amz-request-id");
    cr_expect(!http_response_header_at(&resp, 5, &n, &v));
    cr_expect_str_eq(resp.reason, "OK");
    int64_t t;
    cr_expect(http_parse_date(http_response_header(&resp, "date"), &t));
    cr_expect_eq(t, 1141214400);
}

Test(http, body_slices_are_not_copied_but_can_be_collected)
{
    const char *text = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
    uint8_t buf[5];
    http_response_init(&resp, NULL, false);
    http_response_collect(&resp, buf, sizeof buf);
    size_t used, len = strlen(text), at = 0;
    struct http_slice body;
    enum http_event ev;
    cr_assert_eq(http_response_feed(&resp, (const uint8_t *)text, len, &used, &body), HTTP_EVENT_HEADERS);
    at += used;
    cr_assert_eq(http_response_feed(&resp, (const uint8_t *)text + at, len - at, &used, &body), HTTP_EVENT_BODY);
    cr_expect_eq(body.data, (const uint8_t *)text + at); /* a slice of the input */
    cr_expect_eq(body.len, 11);
    at += used;
    ev = http_response_feed(&resp, (const uint8_t *)text + at, len - at, &used, &body);
    cr_assert_eq(ev, HTTP_EVENT_DONE);
    cr_expect_eq(resp.collect_len, 5);
    cr_expect(resp.collect_truncated);
    cr_expect_eq(memcmp(buf, "hello", 5), 0);
    cr_expect_eq(resp.body_bytes, 11);
}

Test(http, bytes_after_the_response_are_left_and_reset_reuses)
{
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
                      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nB\r\n0\r\n\r\n";
    static struct result r;
    run_whole(two, false, false, NULL, &r);
    cr_assert_eq(r.last, HTTP_EVENT_DONE);
    cr_expect_eq(r.leftover, strlen(two) - 39);
    /* The caller resets for the next request and feeds the rest. */
    const char *rest = two + 39;
    http_response_reset(&resp, false);
    size_t used, len = strlen(rest), at = 0;
    struct http_slice body;
    enum http_event ev;
    int bodies = 0;
    while ((ev = http_response_feed(&resp, (const uint8_t *)rest + at, len - at, &used, &body)) != HTTP_EVENT_DONE) {
        cr_assert_neq(ev, HTTP_EVENT_ERROR);
        cr_assert_neq(ev, HTTP_EVENT_NEED_MORE);
        if (ev == HTTP_EVENT_BODY) {
            bodies++;
            cr_expect_eq(body.data[0], 'B');
        }
        at += used;
    }
    cr_expect_eq(resp.status, 201);
    cr_expect_eq(bodies, 1);
    /* DONE again, using nothing, however often it is asked */
    cr_expect_eq(http_response_feed(&resp, (const uint8_t *)"x", 1, &used, &body), HTTP_EVENT_DONE);
    cr_expect_eq(used, 0);
}

/* ------------------------------------------------------------------------- */
/* Malformed responses                                                         */

Test(http, bad_status_lines)
{
    expect_error("HTTP/1.1 20 OK\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("HTTP/1.1 200OK\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("HTTP/1.1  200 OK\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("HTTP/1.1 099 Low\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("HTTP/1.1 2x0 OK\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("ICY 200 OK\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("\r\nHTTP/1.1 200 OK\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("HTTP/1.1 200 O\x01K\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("HTTP/1.1 200 O\rK\r\n\r\n", HTTP_ERR_STATUS_LINE);
    expect_error("HTTP/2 200 OK\r\n\r\n", HTTP_ERR_VERSION);
    expect_error("HTTP/2.0 200 OK\r\n\r\n", HTTP_ERR_VERSION);
    expect_error("HTTP/1.x 200 OK\r\n\r\n", HTTP_ERR_VERSION);
    expect_error_lim("HTTP/1.1 200 OK\0\r\n\r\n", 20, true, NULL, HTTP_ERR_STATUS_LINE);
}

Test(http, bad_header_lines)
{
    expect_error("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", HTTP_ERR_HEADER);
    expect_error("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", HTTP_ERR_HEADER);
    expect_error("HTTP/1.1 200 OK\r\n: empty\r\n\r\n", HTTP_ERR_HEADER);
    expect_error("HTTP/1.1 200 OK\r\nName : v\r\n\r\n", HTTP_ERR_HEADER);
    expect_error("HTTP/1.1 200 OK\r\nName: a\x01z\r\n\r\n", HTTP_ERR_HEADER);
    expect_error("HTTP/1.1 200 OK\r\nName: a\rz\r\n\r\n", HTTP_ERR_HEADER);
    expect_error("HTTP/1.1 200 OK\r\nName: a\x7fz\r\n\r\n", HTTP_ERR_HEADER);
    expect_error_lim("HTTP/1.1 200 OK\r\nName: a\0z\r\n\r\n", 30, true, NULL, HTTP_ERR_HEADER);
    expect_error("HTTP/1.1 200 OK\r\nA: b\r\n c\r\nContent-Length: 0\r\n\r\n", HTTP_ERR_OBS_FOLD);
    expect_error("HTTP/1.1 200 OK\r\n\tfirst: x\r\n\r\n", HTTP_ERR_OBS_FOLD);
}

Test(http, bad_framing)
{
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", HTTP_ERR_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_ERR_LENGTH_AND_CHUNKED);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", HTTP_ERR_LENGTH_AND_CHUNKED);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_ERR_TRANSFER_ENCODING);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP_ERR_TRANSFER_ENCODING);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", HTTP_ERR_TRANSFER_ENCODING);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_ERR_TRANSFER_ENCODING);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", HTTP_ERR_TRANSFER_ENCODING);
    expect_error("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", HTTP_ERR_TRANSFER_ENCODING);
    expect_error("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", HTTP_ERR_UNEXPECTED_1XX);
    char many[1024] = "";
    for (int i = 0; i <= HTTP_INTERIM_MAX; i++) strcat(many, "HTTP/1.1 100 Continue\r\n\r\n");
    strcat(many, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    expect_error(many, HTTP_ERR_UNEXPECTED_1XX);
}

#define CHUNKED "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

Test(http, bad_chunks)
{
    expect_error(CHUNKED "zz\r\n", HTTP_ERR_CHUNK_SIZE);
    expect_error(CHUNKED "5x\r\nhello\r\n0\r\n\r\n", HTTP_ERR_CHUNK_SIZE);
    expect_error(CHUNKED "5 x\r\nhello\r\n0\r\n\r\n", HTTP_ERR_CHUNK_SIZE);
    expect_error(CHUNKED "\r\n", HTTP_ERR_CHUNK_SIZE);
    expect_error(CHUNKED ";ext\r\n", HTTP_ERR_CHUNK_SIZE);
    expect_error(CHUNKED "-1\r\n", HTTP_ERR_CHUNK_SIZE);
    expect_error(CHUNKED "3\rX", HTTP_ERR_CHUNK_SIZE);
    expect_error(CHUNKED "FFFFFFFFFFFFFFFFFFFFFF\r\n", HTTP_ERR_BODY_TOO_LARGE);
    expect_error(CHUNKED "3\r\nabcX\r\n0\r\n\r\n", HTTP_ERR_CHUNK_FORMAT);
    expect_error(CHUNKED "3\r\nabc\rX", HTTP_ERR_CHUNK_FORMAT);
    expect_error(CHUNKED "3;a=\x01\r\nabc\r\n0\r\n\r\n", HTTP_ERR_CHUNK_FORMAT);
    expect_error(CHUNKED "0\r\n folded: x\r\n\r\n", HTTP_ERR_OBS_FOLD);
    expect_error(CHUNKED "0\r\nno colon\r\n\r\n", HTTP_ERR_TRAILER);
    expect_error(CHUNKED "0\r\nA: b\x01\r\n\r\n", HTTP_ERR_TRAILER);
    expect_error(CHUNKED "0\r\nA: b\rX\r\n\r\n", HTTP_ERR_TRAILER);
    expect_error(CHUNKED "0\r\n\rX", HTTP_ERR_TRAILER);
    char line[HTTP_CHUNK_LINE_MAX + 64];
    snprintf(line, sizeof line, CHUNKED "1;%0*d\r\n", HTTP_CHUNK_LINE_MAX, 0);
    expect_error(line, HTTP_ERR_CHUNK_SIZE);
}

Test(http, truncated_at_end_of_stream)
{
    expect_error("", HTTP_ERR_CLOSED);
    expect_error("H", HTTP_ERR_TRUNCATED);
    expect_error("HTTP/1.1 200 OK\r\nContent-Len", HTTP_ERR_TRUNCATED);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", HTTP_ERR_TRUNCATED);
    expect_error(CHUNKED "5\r\nhel", HTTP_ERR_TRUNCATED);
    expect_error(CHUNKED "5\r\nhello\r\n", HTTP_ERR_TRUNCATED);
    expect_error(CHUNKED "0\r\n", HTTP_ERR_TRUNCATED);
    expect_error(CHUNKED "0\r\nTrailer: x\r\n", HTTP_ERR_TRUNCATED);
    expect_error("HTTP/1.1 100 Continue\r\n\r\n", HTTP_ERR_TRUNCATED);
}

/* ------------------------------------------------------------------------- */
/* Limits                                                                      */

Test(http, header_limits)
{
    struct http_limits lim = http_limits_default();
    const char *head = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n"; /* 31 bytes */
    lim.header_bytes_max = 31;
    static struct result r;
    run_whole(head, false, true, &lim, &r);
    cr_expect_eq(r.last, HTTP_EVENT_DONE, "%s", http_strerror(r.error));
    lim.header_bytes_max = 30;
    expect_error_lim(head, strlen(head), true, &lim, HTTP_ERR_HEADER_TOO_LARGE);
    lim = http_limits_default();
    lim.header_count_max = 2;
    run_whole(head, false, true, &lim, &r);
    cr_expect_eq(r.last, HTTP_EVENT_DONE);
    lim.header_count_max = 1;
    expect_error_lim(head, strlen(head), true, &lim, HTTP_ERR_TOO_MANY_HEADERS);

    /* The hard limits with the defaults. */
    static char big[HTTP_HEADER_BYTES_MAX + 64];
    int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nX: ");
    memset(big + n, 'x', HTTP_HEADER_BYTES_MAX);
    memcpy(big + n + HTTP_HEADER_BYTES_MAX, "\r\n\r\n", 5);
    run_whole(big, false, true, NULL, &r);
    cr_expect_eq(r.error, HTTP_ERR_HEADER_TOO_LARGE);
    static char lots[HTTP_HEADER_COUNT_MAX * 8 + 64];
    strcpy(lots, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= HTTP_HEADER_COUNT_MAX; i++) strcat(lots, "A: b\r\n");
    strcat(lots, "\r\n");
    run_whole(lots, false, true, NULL, &r);
    cr_expect_eq(r.error, HTTP_ERR_TOO_MANY_HEADERS);
    /* Limits above the maxima are clamped. */
    lim = (struct http_limits){1u << 30, 1u << 20, UINT64_MAX};
    http_response_init(&resp, &lim, false);
    cr_expect_eq(resp.limits.header_bytes_max, HTTP_HEADER_BYTES_MAX);
    cr_expect_eq(resp.limits.header_count_max, HTTP_HEADER_COUNT_MAX);
    cr_expect_eq(resp.limits.body_bytes_max, HTTP_BODY_BYTES_MAX);
}

Test(http, body_limits)
{
    struct http_limits lim = http_limits_default();
    lim.body_bytes_max = 10;
    static struct result r;
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    run_whole(ok, false, false, &lim, &r);
    cr_expect_eq(r.last, HTTP_EVENT_DONE);
    const char *cl = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a";
    expect_error_lim(cl, strlen(cl), true, &lim, HTTP_ERR_BODY_TOO_LARGE);
    const char *ch = CHUNKED "6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n";
    expect_error_lim(ch, strlen(ch), true, &lim, HTTP_ERR_BODY_TOO_LARGE);
    const char *cd = "HTTP/1.1 200 OK\r\n\r\n0123456789a";
    expect_error_lim(cd, strlen(cd), true, &lim, HTTP_ERR_BODY_TOO_LARGE);
    run_whole("HTTP/1.1 200 OK\r\nContent-Length: 5368709121\r\n\r\n", false, true, NULL, &r);
    cr_expect_eq(r.error, HTTP_ERR_BODY_TOO_LARGE);
    run_whole("HTTP/1.1 200 OK\r\nContent-Length: 5368709120\r\n\r\n", false, false, NULL, &r);
    cr_expect_eq(r.last, HTTP_EVENT_NEED_MORE); /* 5 GiB is allowed: waiting for it */
}

Test(http, error_offset_points_at_the_bad_byte)
{
    static struct result r;
    run_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x", false, false, NULL, &r);
    cr_assert_eq(r.error, HTTP_ERR_CHUNK_SIZE);
    cr_expect_eq(resp.error_offset, 48);
}

/* ------------------------------------------------------------------------- */
/* Retry-After and dates                                                       */

static void parse_head(const char *head)
{
    static struct result r;
    run_whole(head, true, false, NULL, &r);
    cr_assert_eq(r.last, HTTP_EVENT_DONE, "%s", http_strerror(r.error));
}

Test(http, retry_after)
{
    uint64_t ms = 0;
    parse_head("HTTP/1.1 503 Slow Down\r\nx-amz-retry-after: 1500\r\nRetry-After: 9\r\n\r\n");
    cr_expect(http_response_retry_after_ms(&resp, 0, &ms));
    cr_expect_eq(ms, 1500);
    parse_head("HTTP/1.1 503 Slow Down\r\nRetry-After: 3\r\n\r\n");
    cr_expect(http_response_retry_after_ms(&resp, 0, &ms));
    cr_expect_eq(ms, 3000);
    parse_head("HTTP/1.1 503 Slow Down\r\nRetry-After: Wed, 01 Mar 2006 12:00:10 GMT\r\n\r\n");
    cr_expect(http_response_retry_after_ms(&resp, 1141214400, &ms));
    cr_expect_eq(ms, 10000);
    cr_expect(http_response_retry_after_ms(&resp, 1141214500, &ms));
    cr_expect_eq(ms, 0);
    parse_head("HTTP/1.1 503 Slow Down\r\nRetry-After: soon\r\nx-amz-retry-after: -1\r\n\r\n");
    cr_expect(!http_response_retry_after_ms(&resp, 0, &ms));
    parse_head("HTTP/1.1 503 Slow Down\r\n\r\n");
    cr_expect(!http_response_retry_after_ms(&resp, 0, &ms));
}

Test(http, dates)
{
    int64_t t;
    cr_expect(http_parse_date("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    cr_expect_eq(t, 784111777);
    cr_expect(http_parse_date("Thu, 29 Feb 2024 23:59:59 GMT", &t));
    cr_expect_eq(t, 1709251199);
    const char *bad[] = {"Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT",
                         "Sun Nov  6 08:49:37 1994", "Sun, 31 Nov 1994 08:49:37 GMT",
                         "Sun, 29 Feb 2023 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT",
                         "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nox 1994 08:49:37 GMT", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!http_parse_date(bad[i], &t), "%s", bad[i]);
}

/* ------------------------------------------------------------------------- */
/* Request writer                                                              */

Test(http, request_bytes_exact)
{
    char buf[512];
    struct http_writer w;
    http_writer_init(&w, buf, sizeof buf);
    http_write_request_line(&w, "PUT", "/lake/a%20b.parquet?partNumber=1&uploadId=x");
    http_write_header(&w, "Host", "acct.r2.cloudflarestorage.com");
    http_write_header_u64(&w, "Content-Length", 8388608);
    http_write_header(&w, "Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==");
    cr_assert_eq(http_write_end(&w), HTTP_OK);
    const char *want = "PUT /lake/a%20b.parquet?partNumber=1&uploadId=x HTTP/1.1\r\n"
                       "Host: acct.r2.cloudflarestorage.com\r\n"
                       "Content-Length: 8388608\r\n"
                       "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\r\n"
                       "\r\n";
    cr_expect_eq(w.len, strlen(want));
    cr_expect_eq(memcmp(buf, want, w.len), 0, "%s", buf);

    struct http_header h[] = {{"X-Amz-Date", "20130524T000000Z"}, {"Authorization", "AWS4-HMAC-SHA256 a"}};
    http_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(http_write_request(&w, "POST", "/b/k?uploads=", "h:9000", h, 2, 0), HTTP_OK);
    cr_expect_str_eq(buf, "POST /b/k?uploads= HTTP/1.1\r\nHost: h:9000\r\nX-Amz-Date: 20130524T000000Z\r\n"
                          "Authorization: AWS4-HMAC-SHA256 a\r\nContent-Length: 0\r\n\r\n");
    http_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(http_write_request(&w, "GET", "/b/k", "h", NULL, 0, -1), HTTP_OK);
    cr_expect_str_eq(buf, "GET /b/k HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(http, request_writer_refuses)
{
    char buf[128];
    struct http_writer w;
    struct {
        const char *method, *target, *name, *value;
        enum http_error want;
    } cases[] = {
        {"PUT", "/a b", "H", "v", HTTP_ERR_WRITE_INVALID},
        {"PUT", "/a\r\n", "H", "v", HTTP_ERR_WRITE_INVALID},
        {"P T", "/", "H", "v", HTTP_ERR_WRITE_INVALID},
        {"", "/", "H", "v", HTTP_ERR_WRITE_INVALID},
        {"PUT", "", "H", "v", HTTP_ERR_WRITE_INVALID},
        {"PUT", "/", "H", "v\r\nInjected: 1", HTTP_ERR_WRITE_INVALID},
        {"PUT", "/", "H", "v\n", HTTP_ERR_WRITE_INVALID},
        {"PUT", "/", "Bad Name", "v", HTTP_ERR_WRITE_INVALID},
        {"PUT", "/", "Name:", "v", HTTP_ERR_WRITE_INVALID},
        {"PUT", "/", "H", "caf\xc3\xa9", HTTP_ERR_WRITE_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_writer_init(&w, buf, sizeof buf);
        http_write_request_line(&w, cases[i].method, cases[i].target);
        http_write_header(&w, cases[i].name, cases[i].value);
        cr_expect_eq(http_write_end(&w), cases[i].want, "case %zu", i);
        cr_expect_null(strstr(buf, "Injected"));
    }
    http_writer_init(&w, buf, 20);
    http_write_request_line(&w, "PUT", "/0123456789");
    http_write_header(&w, "A", "b");
    cr_expect_eq(http_write_end(&w), HTTP_ERR_WRITE_SPACE);
    cr_expect_leq(w.len, 19);
    http_writer_init(&w, buf, sizeof buf);
    http_write_header(&w, "A", "b");
    cr_expect_eq(http_write_end(&w), HTTP_ERR_WRITE_ORDER);
    http_writer_init(&w, buf, sizeof buf);
    cr_expect_eq(http_write_end(&w), HTTP_ERR_WRITE_ORDER);
    http_writer_init(&w, buf, sizeof buf);
    http_write_request_line(&w, "GET", "/");
    http_write_request_line(&w, "GET", "/");
    cr_expect_eq(http_write_end(&w), HTTP_ERR_WRITE_ORDER);
    for (int e = HTTP_OK; e <= HTTP_ERR_WRITE_ORDER; e++)
        cr_expect_str_neq(http_strerror((enum http_error)e), "unknown HTTP error");
}

/* ------------------------------------------------------------------------- */
/* S3 XML bodies                                                               */

static const char error_body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist. The upload ID "
    "may be invalid, or the upload may have been aborted &amp; &quot;completed&quot; &lt;x&gt; "
    "&apos;y&apos; &#233;&#x20AC;</Message><UploadId>VXBsb2Fk</UploadId>"
    "<RequestId>656c76696e6727732072657175657374</RequestId>"
    "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>";

Test(xml, error_body)
{
    struct s3_xml_error e;
    cr_assert_eq(s3_xml_parse_error(error_body, strlen(error_body), &e), S3_XML_OK);
    cr_expect_str_eq(e.code, "NoSuchUpload");
    cr_expect_str_eq(e.message, "The specified upload does not exist. The upload ID may be invalid, "
                                "or the upload may have been aborted & \"completed\" <x> 'y' "
                                "\xc3\xa9\xe2\x82\xac");
    cr_expect_str_eq(e.request_id, "656c76696e6727732072657175657374");
    char root[32];
    cr_expect_eq(s3_xml_check(error_body, strlen(error_body), root, sizeof root), S3_XML_OK);
    cr_expect_str_eq(root, "Error");
    const char *other = "<InitiateMultipartUploadResult><UploadId>x</UploadId></InitiateMultipartUploadResult>";
    cr_expect_eq(s3_xml_parse_error(other, strlen(other), &e), S3_XML_NOT_FOUND);
    cr_expect_str_eq(e.code, "");
}

Test(xml, upload_id_and_etag)
{
    const char *init =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Bucket>lake</Bucket><Key>a/b.parquet</Key>"
        "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
        "</InitiateMultipartUploadResult>";
    char out[128];
    size_t n;
    cr_assert_eq(s3_xml_get(init, strlen(init), "InitiateMultipartUploadResult/UploadId", out, sizeof out, &n), S3_XML_OK);
    cr_expect_str_eq(out, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
    cr_expect_eq(n, strlen(out));
    cr_expect_eq(s3_xml_get(init, strlen(init), "UploadId", out, sizeof out, NULL), S3_XML_NOT_FOUND);
    cr_expect_eq(s3_xml_get(init, strlen(init), "InitiateMultipartUploadResult/Missing", out, sizeof out, NULL), S3_XML_NOT_FOUND);

    const char *complete =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n   \n   \n"
        "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Location>https://lake.s3.amazonaws.com/a</Location><Bucket>lake</Bucket><Key>a</Key>"
        "<ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>"
        "</CompleteMultipartUploadResult>\n";
    cr_assert_eq(s3_xml_get(complete, strlen(complete), "CompleteMultipartUploadResult/ETag", out, sizeof out, NULL), S3_XML_OK);
    cr_expect_str_eq(out, "\"3858f62230ac3c915f300c664312c11f-9\"");
    cr_expect_eq(s3_xml_verdict(complete, strlen(complete), "CompleteMultipartUploadResult"), S3_XML_VERDICT_OK);
    /* Nested: the first Part's ETag by path; text of children is not mixed in. */
    const char *parts = "<ListPartsResult><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part>"
                        "<Part><ETag>\"b\"</ETag></Part></ListPartsResult>";
    cr_expect_eq(s3_xml_get(parts, strlen(parts), "ListPartsResult/Part/ETag", out, sizeof out, NULL), S3_XML_OK);
    cr_expect_str_eq(out, "\"a\"");
    cr_expect_eq(s3_xml_get(parts, strlen(parts), "ListPartsResult/Part", out, sizeof out, NULL), S3_XML_OK);
    cr_expect_str_eq(out, "");
    const char *cdata = "<R><V>a<![CDATA[<&b>]]>c&#65;</V><E/></R>";
    cr_expect_eq(s3_xml_get(cdata, strlen(cdata), "R/V", out, sizeof out, NULL), S3_XML_OK);
    cr_expect_str_eq(out, "a<&b>cA");
    cr_expect_eq(s3_xml_get(cdata, strlen(cdata), "R/E", out, sizeof out, NULL), S3_XML_OK);
    cr_expect_str_eq(out, "");
}

Test(xml, complete_multipart_200_with_error_is_detected)
{
    const char *root = "CompleteMultipartUploadResult";
    const char *error200 = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n\n\n"
                           "<Error><Code>InternalError</Code><Message>We encountered an internal "
                           "error. Please try again.</Message><RequestId>A</RequestId></Error>";
    cr_expect_eq(s3_xml_verdict(error200, strlen(error200), root), S3_XML_VERDICT_ERROR);
    const char *partial = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n      \n"
                          "<CompleteMultipartUploadResult><Location>x</Loc";
    cr_expect_eq(s3_xml_verdict(partial, strlen(partial), root), S3_XML_VERDICT_BROKEN);
    cr_expect_eq(s3_xml_check(partial, strlen(partial), NULL, 0), S3_XML_TRUNCATED);
    const char *spaces = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n            ";
    cr_expect_eq(s3_xml_verdict(spaces, strlen(spaces), root), S3_XML_VERDICT_BROKEN);
    cr_expect_eq(s3_xml_check(spaces, strlen(spaces), NULL, 0), S3_XML_EMPTY);
    cr_expect_eq(s3_xml_verdict("", 0, root), S3_XML_VERDICT_BROKEN);
    cr_expect_eq(s3_xml_verdict(NULL, 0, root), S3_XML_VERDICT_BROKEN);
    cr_expect_eq(s3_xml_verdict("<Other/>", 8, root), S3_XML_VERDICT_BROKEN);
    cr_expect_eq(s3_xml_verdict("<Error/>", 8, root), S3_XML_VERDICT_ERROR);
}

Test(xml, malformed_and_limits)
{
    struct {
        const char *text;
        enum s3_xml_status want;
    } cases[] = {
        {"<A><B></A></B>", S3_XML_MALFORMED},
        {"<A></B>", S3_XML_MALFORMED},
        {"</A>", S3_XML_MALFORMED},
        {"<A/><B/>", S3_XML_MALFORMED},
        {"text<A/>", S3_XML_MALFORMED},
        {"<A/>text", S3_XML_MALFORMED},
        {"<A>&unknown;</A>", S3_XML_MALFORMED},
        {"<A>&amp</A>", S3_XML_MALFORMED},
        {"<A>&#0;</A>", S3_XML_MALFORMED},
        {"<A>&#xD800;</A>", S3_XML_MALFORMED},
        {"<A>&#x110000;</A>", S3_XML_MALFORMED},
        {"<A>&#1;</A>", S3_XML_MALFORMED},
        {"<A>a\x01b</A>", S3_XML_MALFORMED},
        {"<A><![CDATA[\x02]]></A>", S3_XML_MALFORMED},
        {"<!DOCTYPE A [<!ENTITY x \"y\">]><A>&x;</A>", S3_XML_MALFORMED},
        {"<A b=\"<\"/>", S3_XML_MALFORMED},
        {"< A/>", S3_XML_MALFORMED},
        {"<1A/>", S3_XML_MALFORMED},
        {"<A", S3_XML_TRUNCATED},
        {"<A b=\"x", S3_XML_TRUNCATED},
        {"<A>", S3_XML_TRUNCATED},
        {"<A></A", S3_XML_TRUNCATED},
        {"<A><!-- x", S3_XML_TRUNCATED},
        {"<A><![CDATA[x", S3_XML_TRUNCATED},
        {"<?xml", S3_XML_TRUNCATED},
        {"<A><", S3_XML_TRUNCATED},
        {"<A><!-", S3_XML_TRUNCATED},
        {"", S3_XML_EMPTY},
        {"  <!-- only a comment -->  ", S3_XML_EMPTY},
        {"<A b='1' c=\"2\"><B/><!-- c --><?pi x?></A>", S3_XML_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(s3_xml_check(cases[i].text, strlen(cases[i].text), NULL, 0), cases[i].want,
                     "%s: %s", cases[i].text, s3_xml_strerror(s3_xml_check(cases[i].text, strlen(cases[i].text), NULL, 0)));

    char deep[S3_XML_DEPTH_MAX * 8 + 16] = "";
    for (int i = 0; i <= S3_XML_DEPTH_MAX; i++) strcat(deep, "<a>");
    cr_expect_eq(s3_xml_check(deep, strlen(deep), NULL, 0), S3_XML_TOO_DEEP);
    char name[S3_XML_NAME_MAX + 8];
    memset(name, 'n', sizeof name);
    name[0] = '<';
    memcpy(name + S3_XML_NAME_MAX + 2, "/>", 3);
    cr_expect_eq(s3_xml_check(name, strlen(name), NULL, 0), S3_XML_TOO_DEEP);

    /* Too long for the output: a prefix, cut at a character boundary. */
    const char *doc = "<A>ab\xe2\x82\xac" "cd</A>";
    char out[5];
    size_t n;
    cr_expect_eq(s3_xml_get(doc, strlen(doc), "A", out, sizeof out, &n), S3_XML_TOO_LONG);
    cr_expect_str_eq(out, "ab");
    cr_expect_eq(n, 2);
    /* A value whose element never closes is not returned half-copied. */
    const char *cut = "<Error><Code>Slow<!-- x --> Down <Error>";
    char big[64];
    cr_expect_eq(s3_xml_get(cut, strlen(cut), "Error/Code", big, sizeof big, &n), S3_XML_TRUNCATED);
    cr_expect_str_eq(big, "");
    cr_expect_eq(n, 0);
    for (int e = S3_XML_OK; e <= S3_XML_TOO_LONG; e++)
        cr_expect_str_neq(s3_xml_strerror((enum s3_xml_status)e), "unknown XML error");
}
