/* http: sans-IO HTTP/1.1 request writer and response parser (see http.h). */
#include "s3/http.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum state {
    ST_STATUS,          /* reading the status line */
    ST_HEADERS,         /* reading header lines */
    ST_BODY_LENGTH,     /* `remaining` body bytes to deliver */
    ST_BODY_CLOSE,      /* body until the stream ends */
    ST_CHUNK_SIZE,      /* hex digits of a chunk size */
    ST_CHUNK_BWS,       /* blanks after the size, before ';' or the line end */
    ST_CHUNK_EXT,       /* chunk extensions, up to the line end */
    ST_CHUNK_SIZE_LF,   /* CR seen at the end of the size line */
    ST_CHUNK_DATA,      /* `remaining` bytes of chunk data */
    ST_CHUNK_DATA_CR,   /* the CRLF after chunk data */
    ST_CHUNK_DATA_LF,
    ST_TRAILER_START,   /* start of a trailer line, or the final empty line */
    ST_TRAILER_NAME,
    ST_TRAILER_VALUE,
    ST_TRAILER_LF,      /* CR seen at the end of a trailer line */
    ST_TRAILER_END_LF,  /* CR seen on the final empty line */
    ST_COMPLETE,
    ST_ERROR,
};

/* ------------------------------------------------------------------------- */
/* Character classes (RFC 9110)                                               */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* field-vchar, SP and HTAB: what a field value (or reason phrase) may contain. */
static bool is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int hex_digit(unsigned char c)
{
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* ------------------------------------------------------------------------- */
/* Set-up                                                                     */

struct http_limits http_limits_default(void)
{
    return (struct http_limits){HTTP_HEADER_BYTES_MAX, HTTP_HEADER_COUNT_MAX, HTTP_BODY_BYTES_MAX};
}

void http_response_init(struct http_response *r, const struct http_limits *limits,
                        bool head_request)
{
    assert(r != NULL);
    struct http_limits l = limits ? *limits : http_limits_default();
    if (l.header_bytes_max == 0 || l.header_bytes_max > HTTP_HEADER_BYTES_MAX)
        l.header_bytes_max = HTTP_HEADER_BYTES_MAX;
    if (l.header_count_max > HTTP_HEADER_COUNT_MAX) l.header_count_max = HTTP_HEADER_COUNT_MAX;
    if (l.body_bytes_max > HTTP_BODY_BYTES_MAX) l.body_bytes_max = HTTP_BODY_BYTES_MAX;
    r->limits = l;
    r->collect = NULL;
    r->collect_cap = 0;
    http_response_reset(r, head_request);
}

void http_response_reset(struct http_response *r, bool head_request)
{
    assert(r != NULL);
    assert(r->limits.header_bytes_max <= HTTP_HEADER_BYTES_MAX);
    r->status = 0;
    r->version_minor = 0;
    r->reason = "";
    r->content_length = -1;
    r->chunked = false;
    r->has_body = false;
    r->keep_alive = false;
    r->body_bytes = 0;
    r->error = HTTP_OK;
    r->error_offset = 0;
    r->collect_len = 0;
    r->collect_truncated = false;
    r->head_request = head_request;
    r->state = ST_STATUS;
    r->offset = 0;
    r->remaining = 0;
    r->head_len = 0;
    r->line_start = 0;
    r->header_count = 0;
    r->interim_count = 0;
    r->chunk_line_len = 0;
    r->trailer_bytes = 0;
    r->head[0] = '\0';
}

void http_response_collect(struct http_response *r, uint8_t *buf, size_t cap)
{
    assert(r != NULL);
    assert(buf != NULL || cap == 0);
    r->collect = buf;
    r->collect_cap = cap;
    r->collect_len = 0;
    r->collect_truncated = false;
}

/* Stops the parser: `at` is the index in the current input of the refused byte. */
static enum http_event fail(struct http_response *r, enum http_error e, size_t at, size_t *used)
{
    assert(e != HTTP_OK);
    r->error = e;
    r->error_offset = r->offset + at;
    r->state = ST_ERROR;
    r->keep_alive = false;
    r->offset += at;
    *used = at;
    return HTTP_EVENT_ERROR;
}

/* ------------------------------------------------------------------------- */
/* The head                                                                   */

/*   HTTP/1.1 200 OK          "HTTP/" 1 "." DIGIT SP 3DIGIT [ SP reason ]
 *   ^    ^ ^ ^   ^
 *   0    5 7 8   12                                                         */
static enum http_error parse_status_line(struct http_response *r, char *line, size_t len)
{
    if (len < 5 || memcmp(line, "HTTP/", 5) != 0) return HTTP_ERR_STATUS_LINE;
    if (len < 8 || line[5] != '1' || line[6] != '.' || !is_digit((unsigned char)line[7]))
        return HTTP_ERR_VERSION;
    if (len < 12 || line[8] != ' ') return HTTP_ERR_STATUS_LINE;
    for (int i = 9; i < 12; i++)
        if (!is_digit((unsigned char)line[i])) return HTTP_ERR_STATUS_LINE;
    if (line[9] == '0') return HTTP_ERR_STATUS_LINE;
    if (len > 12 && line[12] != ' ') return HTTP_ERR_STATUS_LINE;
    for (size_t i = 13; i < len; i++)
        if (!is_field_byte((unsigned char)line[i])) return HTTP_ERR_STATUS_LINE;
    r->version_minor = line[7] == '0' ? 0 : 1;
    r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    r->reason = len > 12 ? line + 13 : line + len;
    assert(r->status >= 100 && r->status <= 999);
    return HTTP_OK;
}

/* "Name: value": name a token right before the colon, value trimmed. */
static enum http_error parse_header_line(struct http_response *r, char *line, size_t len)
{
    assert(len > 0);
    if (is_blank((unsigned char)line[0])) return HTTP_ERR_OBS_FOLD;
    char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line) return HTTP_ERR_HEADER;
    for (char *p = line; p < colon; p++)
        if (!is_tchar((unsigned char)*p)) return HTTP_ERR_HEADER;
    char *v = colon + 1, *end = line + len;
    while (v < end && is_blank((unsigned char)*v)) v++;
    while (end > v && is_blank((unsigned char)end[-1])) end--;
    for (char *p = v; p < end; p++)
        if (!is_field_byte((unsigned char)*p)) return HTTP_ERR_HEADER;
    if (r->header_count >= r->limits.header_count_max) return HTTP_ERR_TOO_MANY_HEADERS;
    *colon = '\0';
    *end = '\0';
    r->headers[r->header_count].name = (uint16_t)(line - r->head);
    r->headers[r->header_count].value = (uint16_t)(v - r->head);
    r->header_count++;
    return HTTP_OK;
}

/* Calls `fn` for each element of a comma-separated list value (trimmed, empty
 * elements skipped); stops at the first non-OK result. */
typedef enum http_error (*list_fn)(const char *item, size_t len, void *ctx);

static enum http_error each_list_item(const char *value, list_fn fn, void *ctx)
{
    const char *p = value;
    while (*p != '\0') {
        const char *e = strchr(p, ',');
        if (e == NULL) e = p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && is_blank((unsigned char)*a)) a++;
        while (b > a && is_blank((unsigned char)b[-1])) b--;
        if (b > a) {
            enum http_error err = fn(a, (size_t)(b - a), ctx);
            if (err != HTTP_OK) return err;
        }
        p = *e ? e + 1 : e;
    }
    return HTTP_OK;
}

static enum http_error length_item(const char *item, size_t len, void *ctx)
{
    int64_t *cl = ctx;
    if (len > 18) return HTTP_ERR_CONTENT_LENGTH; /* < 10^18: no overflow below */
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)item[i])) return HTTP_ERR_CONTENT_LENGTH;
        v = v * 10 + (item[i] - '0');
    }
    if (*cl >= 0 && *cl != v) return HTTP_ERR_CONTENT_LENGTH;
    *cl = v;
    return HTTP_OK;
}

struct coding_state {
    int count;
    bool chunked_last;
};

static enum http_error coding_item(const char *item, size_t len, void *ctx)
{
    struct coding_state *s = ctx;
    s->count++;
    s->chunked_last = len == 7 && strncasecmp(item, "chunked", 7) == 0;
    /* Only "chunked" alone: S3 never sends another coding, and gzip etc. would
     * need a decoder this client does not have. */
    return s->count == 1 && s->chunked_last ? HTTP_OK : HTTP_ERR_TRANSFER_ENCODING;
}

struct conn_state {
    bool close;
    bool keep_alive;
};

static enum http_error connection_item(const char *item, size_t len, void *ctx)
{
    struct conn_state *s = ctx;
    if (len == 5 && strncasecmp(item, "close", 5) == 0) s->close = true;
    if (len == 10 && strncasecmp(item, "keep-alive", 10) == 0) s->keep_alive = true;
    return HTTP_OK;
}

/* The head is complete: work out framing and connection reuse. */
static enum http_error finish_head(struct http_response *r)
{
    int64_t cl = -1;
    bool has_cl = false, has_te = false;
    struct coding_state te = {0, false};
    struct conn_state conn = {false, false};
    for (size_t i = 0; i < r->header_count; i++) {
        const char *name = r->head + r->headers[i].name;
        const char *value = r->head + r->headers[i].value;
        enum http_error e = HTTP_OK;
        if (strcasecmp(name, "content-length") == 0) {
            has_cl = true;
            if (value[0] == '\0') return HTTP_ERR_CONTENT_LENGTH;
            e = each_list_item(value, length_item, &cl);
            if (e == HTTP_OK && cl < 0) e = HTTP_ERR_CONTENT_LENGTH;
        } else if (strcasecmp(name, "transfer-encoding") == 0) {
            has_te = true;
            e = each_list_item(value, coding_item, &te);
        } else if (strcasecmp(name, "connection") == 0) {
            e = each_list_item(value, connection_item, &conn);
        }
        if (e != HTTP_OK) return e;
    }
    if (has_te && (te.count == 0 || r->version_minor == 0)) return HTTP_ERR_TRANSFER_ENCODING;
    if (has_te && has_cl) return HTTP_ERR_LENGTH_AND_CHUNKED;
    assert(!has_te || te.chunked_last);

    r->content_length = cl;
    r->chunked = has_te;
    r->keep_alive = r->version_minor >= 1 ? !conn.close : (conn.keep_alive && !conn.close);
    r->has_body = !(r->head_request || r->status == 204 || r->status == 304);
    if (!r->has_body) {
        r->state = ST_COMPLETE;
    } else if (r->chunked) {
        r->state = ST_CHUNK_SIZE;
        r->chunk_line_len = 0;
        r->remaining = 0;
    } else if (cl >= 0) {
        if ((uint64_t)cl > r->limits.body_bytes_max) return HTTP_ERR_BODY_TOO_LARGE;
        r->remaining = (uint64_t)cl;
        r->state = cl == 0 ? ST_COMPLETE : ST_BODY_LENGTH;
    } else {
        r->state = ST_BODY_CLOSE; /* delimited by the end of the stream */
        r->keep_alive = false;
    }
    return HTTP_OK;
}

/* Processes the line head[line_start..head_len). Sets *head_done when the empty
 * line that ends the head of the final response was read. */
static enum http_error head_line(struct http_response *r, bool *head_done)
{
    char *line = r->head + r->line_start;
    size_t raw = r->head_len - r->line_start, len = raw;
    if (len > 0 && line[len - 1] == '\r') len--;
    if (memchr(line, '\r', len) != NULL)
        return r->state == ST_STATUS ? HTTP_ERR_STATUS_LINE : HTTP_ERR_HEADER;
    line[len] = '\0';
    r->head_len = r->line_start + raw + 1; /* keep the NUL: the next line starts after */
    r->line_start = r->head_len;
    *head_done = false;

    if (r->state == ST_STATUS) {
        enum http_error e = parse_status_line(r, line, len);
        if (e == HTTP_OK) r->state = ST_HEADERS;
        return e;
    }
    if (len > 0) return parse_header_line(r, line, len);
    if (r->status < 200) {
        /* An interim response (100 Continue, 103 Early Hints): skip it. */
        if (r->status == 101 || ++r->interim_count > HTTP_INTERIM_MAX)
            return HTTP_ERR_UNEXPECTED_1XX;
        r->state = ST_STATUS;
        r->head_len = r->line_start = r->header_count = 0;
        return HTTP_OK;
    }
    *head_done = true;
    return finish_head(r);
}

static enum http_event feed_head(struct http_response *r, const uint8_t *data, size_t len,
                                 size_t *used)
{
    size_t i = 0;
    while (i < len) {
        const uint8_t *lf = memchr(data + i, '\n', len - i);
        size_t n = lf ? (size_t)(lf - (data + i)) : len - i;
        /* Each line takes its bytes plus one for the LF (stored as a NUL): the
         * whole head, CRLFs included, stays within header_bytes_max. The bytes
         * are checked when the line is complete (a NUL is refused there). */
        assert(r->head_len <= r->limits.header_bytes_max);
        size_t room = r->limits.header_bytes_max - r->head_len;
        if (n >= room) return fail(r, HTTP_ERR_HEADER_TOO_LARGE, i + room, used);
        memcpy(r->head + r->head_len, data + i, n);
        r->head_len += n;
        i += n;
        if (lf == NULL) break;
        i++; /* the LF */
        bool done = false;
        enum http_error e = head_line(r, &done);
        if (e != HTTP_OK) return fail(r, e, i - 1, used);
        if (done) {
            *used = i;
            r->offset += i;
            return HTTP_EVENT_HEADERS;
        }
    }
    *used = i;
    r->offset += i;
    return HTTP_EVENT_NEED_MORE;
}

/* ------------------------------------------------------------------------- */
/* The body                                                                   */

static enum http_event deliver(struct http_response *r, const uint8_t *data, size_t n,
                               size_t *used, struct http_slice *body)
{
    assert(n > 0);
    body->data = data;
    body->len = n;
    r->body_bytes += n;
    if (r->collect != NULL) {
        size_t room = r->collect_cap - r->collect_len;
        size_t c = n < room ? n : room;
        memcpy(r->collect + r->collect_len, data, c);
        r->collect_len += c;
        if (c < n) r->collect_truncated = true;
    }
    *used = n;
    r->offset += n;
    return HTTP_EVENT_BODY;
}

/* One byte of chunk framing; returns HTTP_OK or the error. */
static enum http_error chunk_byte(struct http_response *r, unsigned char c)
{
    switch (r->state) {
    case ST_CHUNK_SIZE: {
        if (++r->chunk_line_len > HTTP_CHUNK_LINE_MAX) return HTTP_ERR_CHUNK_SIZE;
        int d = hex_digit(c);
        if (d >= 0) {
            r->remaining = r->remaining * 16 + (uint64_t)d;
            if (r->remaining > r->limits.body_bytes_max - r->body_bytes)
                return HTTP_ERR_BODY_TOO_LARGE;
            return HTTP_OK;
        }
        if (r->chunk_line_len == 1) return HTTP_ERR_CHUNK_SIZE; /* no digit */
        if (c == ';') r->state = ST_CHUNK_EXT;
        else if (is_blank(c)) r->state = ST_CHUNK_BWS;
        else if (c == '\r') r->state = ST_CHUNK_SIZE_LF;
        else if (c == '\n') r->state = ST_CHUNK_DATA; /* resolved by the caller */
        else return HTTP_ERR_CHUNK_SIZE;
        return HTTP_OK;
    }
    case ST_CHUNK_BWS:
        if (++r->chunk_line_len > HTTP_CHUNK_LINE_MAX) return HTTP_ERR_CHUNK_SIZE;
        if (c == ';') r->state = ST_CHUNK_EXT;
        else if (c == '\r') r->state = ST_CHUNK_SIZE_LF;
        else if (c == '\n') r->state = ST_CHUNK_DATA;
        else if (!is_blank(c)) return HTTP_ERR_CHUNK_SIZE;
        return HTTP_OK;
    case ST_CHUNK_EXT:
        if (++r->chunk_line_len > HTTP_CHUNK_LINE_MAX) return HTTP_ERR_CHUNK_SIZE;
        if (c == '\r') r->state = ST_CHUNK_SIZE_LF;
        else if (c == '\n') r->state = ST_CHUNK_DATA;
        else if (!is_field_byte(c)) return HTTP_ERR_CHUNK_FORMAT;
        return HTTP_OK;
    case ST_CHUNK_SIZE_LF:
        if (c != '\n') return HTTP_ERR_CHUNK_SIZE;
        r->state = ST_CHUNK_DATA;
        return HTTP_OK;
    case ST_CHUNK_DATA_CR:
        if (c == '\r') r->state = ST_CHUNK_DATA_LF;
        else if (c == '\n') r->state = ST_CHUNK_SIZE;
        else return HTTP_ERR_CHUNK_FORMAT;
        r->chunk_line_len = 0;
        return HTTP_OK;
    case ST_CHUNK_DATA_LF:
        if (c != '\n') return HTTP_ERR_CHUNK_FORMAT;
        r->state = ST_CHUNK_SIZE;
        r->chunk_line_len = 0;
        return HTTP_OK;
    default:
        assert(false);
        return HTTP_ERR_CHUNK_FORMAT;
    }
}

/* One byte of the trailer section: header-like lines, checked and dropped. */
static enum http_error trailer_byte(struct http_response *r, unsigned char c)
{
    if (++r->trailer_bytes > r->limits.header_bytes_max) return HTTP_ERR_TRAILER;
    switch (r->state) {
    case ST_TRAILER_START:
        if (c == '\r') r->state = ST_TRAILER_END_LF;
        else if (c == '\n') r->state = ST_COMPLETE;
        else if (is_tchar(c)) r->state = ST_TRAILER_NAME;
        else return is_blank(c) ? HTTP_ERR_OBS_FOLD : HTTP_ERR_TRAILER;
        return HTTP_OK;
    case ST_TRAILER_NAME:
        if (c == ':') r->state = ST_TRAILER_VALUE;
        else if (!is_tchar(c)) return HTTP_ERR_TRAILER;
        return HTTP_OK;
    case ST_TRAILER_VALUE:
        if (c == '\r') r->state = ST_TRAILER_LF;
        else if (c == '\n') r->state = ST_TRAILER_START;
        else if (!is_field_byte(c)) return HTTP_ERR_TRAILER;
        return HTTP_OK;
    case ST_TRAILER_LF:
        if (c != '\n') return HTTP_ERR_TRAILER;
        r->state = ST_TRAILER_START;
        return HTTP_OK;
    case ST_TRAILER_END_LF:
        if (c != '\n') return HTTP_ERR_TRAILER;
        r->state = ST_COMPLETE;
        return HTTP_OK;
    default:
        assert(false);
        return HTTP_ERR_TRAILER;
    }
}

static enum http_event feed_chunked(struct http_response *r, const uint8_t *data, size_t len,
                                    size_t *used, struct http_slice *body)
{
    size_t i = 0;
    while (i < len) {
        if (r->state == ST_CHUNK_DATA) {
            assert(r->remaining > 0);
            size_t n = len - i < r->remaining ? len - i : (size_t)r->remaining;
            r->remaining -= n;
            if (r->remaining == 0) r->state = ST_CHUNK_DATA_CR;
            r->offset += i; /* the framing before the data */
            enum http_event ev = deliver(r, data + i, n, used, body);
            *used += i;
            return ev;
        }
        enum http_error e = r->state >= ST_TRAILER_START ? trailer_byte(r, data[i])
                                                         : chunk_byte(r, data[i]);
        if (e != HTTP_OK) return fail(r, e, i, used);
        i++;
        if (r->state == ST_CHUNK_DATA && r->remaining == 0) {
            r->state = ST_TRAILER_START; /* the last chunk */
            r->trailer_bytes = 0;
        }
        if (r->state == ST_COMPLETE) {
            *used = i;
            r->offset += i;
            return HTTP_EVENT_DONE;
        }
    }
    *used = i;
    r->offset += i;
    return HTTP_EVENT_NEED_MORE;
}

enum http_event http_response_feed(struct http_response *r, const uint8_t *data, size_t len,
                                   size_t *used, struct http_slice *body)
{
    assert(r != NULL && used != NULL && body != NULL);
    assert(data != NULL || len == 0);
    *used = 0;
    body->data = NULL;
    body->len = 0;
    switch (r->state) {
    case ST_ERROR:
        return HTTP_EVENT_ERROR;
    case ST_COMPLETE:
        return HTTP_EVENT_DONE;
    case ST_STATUS:
    case ST_HEADERS:
        return feed_head(r, data, len, used);
    case ST_BODY_LENGTH: {
        if (len == 0) return HTTP_EVENT_NEED_MORE;
        size_t n = len < r->remaining ? len : (size_t)r->remaining;
        r->remaining -= n;
        if (r->remaining == 0) r->state = ST_COMPLETE;
        return deliver(r, data, n, used, body);
    }
    case ST_BODY_CLOSE:
        if (len == 0) return HTTP_EVENT_NEED_MORE;
    {
        /* Deliver up to the limit; the first byte beyond it is the error. */
        uint64_t room = r->limits.body_bytes_max - r->body_bytes;
        if (room == 0) return fail(r, HTTP_ERR_BODY_TOO_LARGE, 0, used);
        return deliver(r, data, len < room ? len : (size_t)room, used, body);
    }
    default:
        return feed_chunked(r, data, len, used, body);
    }
}

enum http_event http_response_eof(struct http_response *r)
{
    assert(r != NULL);
    switch (r->state) {
    case ST_ERROR:
        return HTTP_EVENT_ERROR;
    case ST_COMPLETE:
        return HTTP_EVENT_DONE;
    case ST_BODY_CLOSE:
        r->state = ST_COMPLETE;
        r->keep_alive = false;
        return HTTP_EVENT_DONE;
    default: {
        bool nothing = r->offset == 0 && r->state == ST_STATUS;
        r->error = nothing ? HTTP_ERR_CLOSED : HTTP_ERR_TRUNCATED;
        r->error_offset = r->offset;
        r->state = ST_ERROR;
        r->keep_alive = false;
        return HTTP_EVENT_ERROR;
    }
    }
}

/* ------------------------------------------------------------------------- */
/* Header access                                                              */

size_t http_response_header_count(const struct http_response *r)
{
    assert(r != NULL);
    return r->state == ST_STATUS || r->state == ST_HEADERS ? 0 : r->header_count;
}

bool http_response_header_at(const struct http_response *r, size_t index, const char **name,
                             const char **value)
{
    assert(r != NULL && name != NULL && value != NULL);
    if (index >= http_response_header_count(r)) return false;
    *name = r->head + r->headers[index].name;
    *value = r->head + r->headers[index].value;
    return true;
}

const char *http_response_header(const struct http_response *r, const char *name)
{
    assert(r != NULL && name != NULL);
    size_t n = http_response_header_count(r);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(r->head + r->headers[i].name, name) == 0)
            return r->head + r->headers[i].value;
    return NULL;
}

/* Plain decimal digits, at most 15 of them (no overflow when scaled to ms). */
static bool parse_small_u64(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i])) return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool http_response_retry_after_ms(const struct http_response *r, int64_t now_unix, uint64_t *ms)
{
    assert(r != NULL && ms != NULL);
    uint64_t v;
    const char *amz = http_response_header(r, "x-amz-retry-after");
    if (amz != NULL && parse_small_u64(amz, &v)) {
        *ms = v;
        return true;
    }
    const char *ra = http_response_header(r, "retry-after");
    if (ra == NULL) return false;
    if (parse_small_u64(ra, &v)) {
        *ms = v * 1000;
        return true;
    }
    int64_t when;
    if (!http_parse_date(ra, &when)) return false;
    *ms = when > now_unix ? (uint64_t)(when - now_unix) * 1000 : 0;
    return true;
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

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/*   Sun, 06 Nov 1994 08:49:37 GMT
 *   0    5  8   12   17 20 23 26                                             */
bool http_parse_date(const char *text, int64_t *unix_seconds)
{
    assert(text != NULL && unix_seconds != NULL);
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (strlen(text) != 29 || text[3] != ',' || text[4] != ' ' || text[7] != ' ' ||
        text[11] != ' ' || text[16] != ' ' || text[19] != ':' || text[22] != ':' ||
        strcmp(text + 25, " GMT") != 0)
        return false;
    bool day_ok = false;
    for (int i = 0; i < 7; i++) day_ok = day_ok || memcmp(text, days + 3 * i, 3) == 0;
    int month = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(text + 8, months + 3 * i, 3) == 0) month = i + 1;
    int d, y, hh, mm, ss;
    if (!day_ok || month == 0 || !digits(text + 5, 2, &d) || !digits(text + 12, 4, &y) ||
        !digits(text + 17, 2, &hh) || !digits(text + 20, 2, &mm) || !digits(text + 23, 2, &ss))
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d < 1 || d > mdays[month - 1] || (month == 2 && d == 29 && !leap)) return false;
    if (y < 1970 || hh > 23 || mm > 59 || ss > 60) return false;
    *unix_seconds = days_from_civil(y, (unsigned)month, (unsigned)d) * 86400 + hh * 3600 +
                    mm * 60 + ss;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Request writer                                                             */

void http_writer_init(struct http_writer *w, char *buf, size_t cap)
{
    assert(w != NULL && buf != NULL && cap > 0);
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->error = HTTP_OK;
    w->started = false;
    buf[0] = '\0';
}

static void put(struct http_writer *w, const char *s, size_t n)
{
    if (w->error != HTTP_OK) return;
    if (n >= w->cap - w->len) {
        w->error = HTTP_ERR_WRITE_SPACE;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static bool token_ok(const char *s)
{
    if (s == NULL || s[0] == '\0') return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s)) return false;
    return true;
}

void http_write_request_line(struct http_writer *w, const char *method, const char *target)
{
    assert(w != NULL);
    if (w->error != HTTP_OK) return;
    if (w->started) {
        w->error = HTTP_ERR_WRITE_ORDER;
        return;
    }
    bool ok = token_ok(method) && target != NULL && target[0] != '\0';
    for (const char *p = target; ok && *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) ok = false;
    if (!ok) {
        w->error = HTTP_ERR_WRITE_INVALID;
        return;
    }
    w->started = true;
    put(w, method, strlen(method));
    put(w, " ", 1);
    put(w, target, strlen(target));
    put(w, " HTTP/1.1\r\n", 11);
}

void http_write_header(struct http_writer *w, const char *name, const char *value)
{
    assert(w != NULL);
    if (w->error != HTTP_OK) return;
    if (!w->started) {
        w->error = HTTP_ERR_WRITE_ORDER;
        return;
    }
    bool ok = token_ok(name) && value != NULL;
    for (const char *p = value; ok && *p; p++)
        if (*p != '\t' && ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)) ok = false;
    if (!ok) {
        w->error = HTTP_ERR_WRITE_INVALID;
        return;
    }
    put(w, name, strlen(name));
    put(w, ": ", 2);
    put(w, value, strlen(value));
    put(w, "\r\n", 2);
}

void http_write_header_u64(struct http_writer *w, const char *name, uint64_t value)
{
    char digits_buf[24];
    snprintf(digits_buf, sizeof digits_buf, "%llu", (unsigned long long)value);
    http_write_header(w, name, digits_buf);
}

enum http_error http_write_end(struct http_writer *w)
{
    assert(w != NULL);
    if (w->error == HTTP_OK && !w->started) w->error = HTTP_ERR_WRITE_ORDER;
    put(w, "\r\n", 2);
    return w->error;
}

enum http_error http_write_request(struct http_writer *w, const char *method,
                                   const char *target, const char *host,
                                   const struct http_header *headers, size_t count,
                                   int64_t content_length)
{
    assert(w != NULL);
    assert(headers != NULL || count == 0);
    http_write_request_line(w, method, target);
    http_write_header(w, "Host", host);
    for (size_t i = 0; i < count; i++) http_write_header(w, headers[i].name, headers[i].value);
    if (content_length >= 0) http_write_header_u64(w, "Content-Length", (uint64_t)content_length);
    return http_write_end(w);
}

const char *http_strerror(enum http_error error)
{
    switch (error) {
    case HTTP_OK: return "no error";
    case HTTP_ERR_STATUS_LINE: return "malformed status line (want \"HTTP/1.1 200 reason\")";
    case HTTP_ERR_VERSION: return "unsupported HTTP version (want HTTP/1.x)";
    case HTTP_ERR_HEADER: return "malformed header line (want \"Name: value\", no blank before the colon, no control bytes)";
    case HTTP_ERR_OBS_FOLD: return "header line folded onto the next line (obs-fold), which is not accepted";
    case HTTP_ERR_HEADER_TOO_LARGE: return "response head over the header size limit";
    case HTTP_ERR_TOO_MANY_HEADERS: return "response has more header fields than the limit";
    case HTTP_ERR_CONTENT_LENGTH: return "Content-Length malformed, too large or given with different values";
    case HTTP_ERR_LENGTH_AND_CHUNKED: return "Content-Length and Transfer-Encoding both present";
    case HTTP_ERR_TRANSFER_ENCODING: return "Transfer-Encoding other than \"chunked\" (or in an HTTP/1.0 response)";
    case HTTP_ERR_BODY_TOO_LARGE: return "response body over the body size limit";
    case HTTP_ERR_CHUNK_SIZE: return "malformed chunk size line";
    case HTTP_ERR_CHUNK_FORMAT: return "malformed chunk (data not followed by CRLF, or bad extension bytes)";
    case HTTP_ERR_TRAILER: return "malformed or oversized trailer section";
    case HTTP_ERR_UNEXPECTED_1XX: return "unexpected 101 Switching Protocols, or too many 1xx responses";
    case HTTP_ERR_CLOSED: return "connection closed before any response byte";
    case HTTP_ERR_TRUNCATED: return "connection closed in the middle of the response";
    case HTTP_ERR_WRITE_SPACE: return "request does not fit its buffer";
    case HTTP_ERR_WRITE_INVALID: return "request method, target, header name or value has bytes HTTP does not allow";
    case HTTP_ERR_WRITE_ORDER: return "request line missing, or written twice";
    }
    return "unknown HTTP error";
}
