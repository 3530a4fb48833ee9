/* resp: RESP2 encoder and the reply reader over hiredis 0.14's read.c. See resp.h. */
#include "resp.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <read.h>

/* ------------------------------------------------------------------------- */
/* Encoder */

void resp_buf_init_fixed(struct resp_buf *b, void *mem, size_t cap)
{
    assert(mem != NULL || cap == 0);
    *b = (struct resp_buf){ .data = mem, .cap = cap, .cap_max = cap };
}

void resp_buf_init(struct resp_buf *b, size_t cap_max)
{
    assert(cap_max > 0);
    *b = (struct resp_buf){ .cap_max = cap_max, .growable = true };
}

void resp_buf_free(struct resp_buf *b)
{
    if (b->growable) free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void resp_buf_clear(struct resp_buf *b)
{
    b->len = 0;
    b->failed = false;
    b->args_left = 0;
    b->commands = 0;
}

void resp_buf_rollback(struct resp_buf *b, size_t len, uint32_t commands)
{
    assert(len <= b->len);
    assert(commands <= b->commands);
    b->len = len;
    b->commands = commands;
    b->failed = false;
    b->args_left = 0;
}

/* Makes room for `n` more bytes; false (and `failed`) if it cannot. */
static bool buf_reserve(struct resp_buf *b, size_t n)
{
    if (b->failed) return false;
    if (n <= b->cap - b->len) return true;
    if (!b->growable || n > b->cap_max - b->len) {
        b->failed = true;
        return false;
    }
    size_t want = b->len + n;
    size_t cap = b->cap < 256 ? 256 : b->cap;
    while (cap < want) cap = cap > b->cap_max / 2 ? b->cap_max : cap * 2;
    if (cap > b->cap_max) cap = b->cap_max;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

/* Decimal digits of v into the end of tmp; returns the start. */
static char *u64_text(uint64_t v, char tmp[RESP_INT_TEXT_MAX])
{
    char *p = tmp + RESP_INT_TEXT_MAX;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

static size_t u64_digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

size_t resp_arg_size(size_t len)
{
    return 1 + u64_digits(len) + 2 + len + 2;
}

size_t resp_header_size(uint32_t argc)
{
    return 1 + u64_digits(argc) + 2;
}

/* Writes `prefix` `v` "\r\n" (room already reserved). */
static void put_line(struct resp_buf *b, char prefix, uint64_t v)
{
    char tmp[RESP_INT_TEXT_MAX];
    char *d = u64_text(v, tmp);
    size_t n = (size_t)(tmp + RESP_INT_TEXT_MAX - d);
    b->data[b->len++] = (uint8_t)prefix;
    memcpy(b->data + b->len, d, n);
    b->len += n;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

void resp_cmd_begin(struct resp_buf *b, uint32_t argc)
{
    assert(argc >= 1);
    assert(b->args_left == 0); /* the previous command got all its arguments */
    b->args_left = argc;
    if (!buf_reserve(b, resp_header_size(argc))) return;
    put_line(b, '*', argc);
}

void resp_cmd_arg(struct resp_buf *b, const void *p, size_t len)
{
    assert(b->args_left > 0);
    assert(p != NULL || len == 0);
    b->args_left--;
    if (b->args_left == 0) b->commands++;
    if (len > SIZE_MAX / 2 || !buf_reserve(b, resp_arg_size(len))) {
        b->failed = true;
        return;
    }
    put_line(b, '$', len);
    if (len > 0) memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

void resp_cmd_arg_str(struct resp_buf *b, struct resp_str s)
{
    resp_cmd_arg(b, s.ptr, s.len);
}

void resp_cmd_arg_cstr(struct resp_buf *b, const char *s)
{
    resp_cmd_arg(b, s, strlen(s));
}

void resp_cmd_arg_u64(struct resp_buf *b, uint64_t v)
{
    char tmp[RESP_INT_TEXT_MAX];
    char *d = u64_text(v, tmp);
    resp_cmd_arg(b, d, (size_t)(tmp + RESP_INT_TEXT_MAX - d));
}

void resp_cmd_arg_i64(struct resp_buf *b, int64_t v)
{
    char tmp[RESP_INT_TEXT_MAX];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *d = u64_text(mag, tmp);
    if (v < 0) *--d = '-';
    resp_cmd_arg(b, d, (size_t)(tmp + RESP_INT_TEXT_MAX - d));
}

void resp_cmd_argv(struct resp_buf *b, uint32_t argc, const struct resp_str *argv)
{
    resp_cmd_begin(b, argc);
    for (uint32_t i = 0; i < argc; i++) resp_cmd_arg_str(b, argv[i]);
}

/* Reads a "<prefix><digits>\r\n" line at data[*pos]; false if it is not one. */
static bool read_len_line(const uint8_t *data, size_t len, size_t *pos, char prefix, uint64_t *out)
{
    size_t p = *pos;
    if (p >= len || data[p] != (uint8_t)prefix) return false;
    p++;
    uint64_t v = 0;
    size_t digits = 0;
    while (p < len && data[p] >= '0' && data[p] <= '9' && digits < 19) {
        v = v * 10 + (uint64_t)(data[p] - '0');
        p++;
        digits++;
    }
    if (digits == 0 || p + 1 >= len || data[p] != '\r' || data[p + 1] != '\n') return false;
    *pos = p + 2;
    *out = v;
    return true;
}

char *resp_buf_command_name(const struct resp_buf *b, size_t offset, char *out, size_t cap)
{
    assert(cap >= 2);
    snprintf(out, cap, "?");
    size_t pos = offset;
    uint64_t argc, n;
    if (!read_len_line(b->data, b->len, &pos, '*', &argc) || argc == 0) return out;
    if (!read_len_line(b->data, b->len, &pos, '$', &n) || n > b->len - pos) return out;
    size_t k = 0;
    for (; k < n && k + 1 < cap; k++) {
        uint8_t c = b->data[pos + k];
        out[k] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : (c >= 0x21 && c < 0x7f ? c : '?'));
    }
    out[k] = '\0';
    return out;
}

/* ------------------------------------------------------------------------- */
/* Error kinds */

static const char *const kind_names[RESP_ERR_KIND_COUNT_] = {
    [RESP_ERR_OTHER] = "other",         [RESP_ERR_ERR] = "ERR",
    [RESP_ERR_NOGROUP] = "NOGROUP",     [RESP_ERR_BUSYGROUP] = "BUSYGROUP",
    [RESP_ERR_WRONGPASS] = "WRONGPASS", [RESP_ERR_NOAUTH] = "NOAUTH",
    [RESP_ERR_NOPERM] = "NOPERM",       [RESP_ERR_LOADING] = "LOADING",
    [RESP_ERR_READONLY] = "READONLY",   [RESP_ERR_MASTERDOWN] = "MASTERDOWN",
    [RESP_ERR_BUSY] = "BUSY",           [RESP_ERR_OOM] = "OOM",
    [RESP_ERR_EXECABORT] = "EXECABORT", [RESP_ERR_WRONGTYPE] = "WRONGTYPE",
    [RESP_ERR_MISCONF] = "MISCONF",     [RESP_ERR_NOREPLICAS] = "NOREPLICAS",
    [RESP_ERR_TRYAGAIN] = "TRYAGAIN",   [RESP_ERR_CLUSTERDOWN] = "CLUSTERDOWN",
    [RESP_ERR_MOVED] = "MOVED",         [RESP_ERR_ASK] = "ASK",
};

enum resp_error_kind resp_error_kind_of(struct resp_str text)
{
    size_t n = 0;
    while (n < text.len && text.ptr[n] != ' ') n++;
    for (int k = RESP_ERR_ERR; k < RESP_ERR_KIND_COUNT_; k++) {
        const char *name = kind_names[k];
        if (strlen(name) == n && memcmp(name, text.ptr, n) == 0) return (enum resp_error_kind)k;
    }
    return RESP_ERR_OTHER;
}

enum resp_error_kind resp_error_kind(const struct resp_value *v)
{
    if (v == NULL || v->type != RESP_ERROR) return RESP_ERR_OTHER;
    return resp_error_kind_of(v->u.str);
}

const char *resp_error_kind_name(enum resp_error_kind kind)
{
    assert(kind >= 0 && kind < RESP_ERR_KIND_COUNT_);
    return kind_names[kind];
}

const char *resp_type_name(enum resp_type type)
{
    switch (type) {
    case RESP_NIL: return "nil";
    case RESP_STRING: return "bulk string";
    case RESP_STATUS: return "status";
    case RESP_ERROR: return "error";
    case RESP_INTEGER: return "integer";
    case RESP_ARRAY: return "array";
    }
    return "?";
}

/* ------------------------------------------------------------------------- */
/* Limits */

void resp_limits_default(struct resp_limits *l)
{
    *l = (struct resp_limits){
        .reply_bytes_max = RESP_REPLY_BYTES_MAX_DEFAULT,
        .elements_max = RESP_ELEMENTS_MAX_DEFAULT,
        .depth_max = RESP_DEPTH_MAX,
        .line_bytes_max = RESP_LINE_BYTES_MAX_DEFAULT,
    };
}

bool resp_limits_check(const struct resp_limits *l, struct lw_err *err)
{
    if (l->reply_bytes_max < RESP_REPLY_BYTES_MIN || l->reply_bytes_max > SIZE_MAX / 4)
        return lw_err_set(err, RESP_E_LIMIT, "resp limits: reply_bytes_max %zu is outside %d..%zu",
                          l->reply_bytes_max, RESP_REPLY_BYTES_MIN, SIZE_MAX / 4);
    if (l->elements_max < 1 || l->elements_max > l->reply_bytes_max / sizeof(struct resp_value) + 1)
        return lw_err_set(err, RESP_E_LIMIT,
                          "resp limits: elements_max %zu must be at least 1 and fit in reply_bytes_max",
                          l->elements_max);
    if (l->depth_max < 1 || l->depth_max > RESP_DEPTH_MAX)
        return lw_err_set(err, RESP_E_LIMIT, "resp limits: depth_max %u is outside 1..%d", l->depth_max,
                          RESP_DEPTH_MAX);
    if (l->line_bytes_max < 64 || l->line_bytes_max > l->reply_bytes_max)
        return lw_err_set(err, RESP_E_LIMIT, "resp limits: line_bytes_max %zu is outside 64..reply_bytes_max",
                          l->line_bytes_max);
    return true;
}

/* ------------------------------------------------------------------------- */
/* Arena: blocks kept in a list, bump-allocated, emptied all at once. */

struct resp_arena_chunk {
    struct resp_arena_chunk *next;
    size_t cap, used;
    uint64_t data[]; /* 8-byte aligned */
};

static void arena_free_all(struct resp_reader *r)
{
    struct resp_arena_chunk *c = r->chunks;
    while (c != NULL) {
        struct resp_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    r->chunks = r->cur = NULL;
    r->capacity_bytes = 0;
}

/* Empties the arena; keeps the blocks unless they add up to more than the retained
 * amount, in which case all but the first are freed. */
static void arena_reset(struct resp_reader *r)
{
    if (r->capacity_bytes > RESP_ARENA_RETAIN_BYTES && r->chunks != NULL) {
        struct resp_arena_chunk *c = r->chunks->next;
        while (c != NULL) {
            struct resp_arena_chunk *next = c->next;
            free(c);
            c = next;
        }
        r->chunks->next = NULL;
        r->capacity_bytes = r->chunks->cap;
    }
    for (struct resp_arena_chunk *c = r->chunks; c != NULL; c = c->next) c->used = 0;
    r->cur = r->chunks;
    r->held_bytes = 0;
    r->held_values = 0;
}

/* Sets the reason an object callback gives for refusing; returns NULL for hiredis. */
static void *refuse(struct resp_reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void *refuse(struct resp_reader *r, int code, const char *fmt, ...)
{
    if (r->cb_code == 0) {
        r->cb_code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->cb_msg, sizeof r->cb_msg, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

/* Unparsed bytes inside hiredis. */
static size_t hr_pending(const struct resp_reader *r)
{
    const redisReader *h = r->hr;
    if (h == NULL || h->buf == NULL) return 0;
    return h->len - h->pos;
}

/* `size` bytes of the arena (8-byte aligned), within the byte limit; NULL after
 * refusing. */
static void *arena_alloc(struct resp_reader *r, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    if (size > r->limits.reply_bytes_max - r->held_bytes)
        return refuse(r, RESP_E_LIMIT, "a reply larger than %zu bytes (the reply limit)", r->limits.reply_bytes_max);
    struct resp_arena_chunk *c = r->cur;
    while (c != NULL && c->cap - c->used < size) {
        c = c->next;
        if (c != NULL) r->cur = c;
    }
    if (c == NULL) {
        struct resp_arena_chunk *last = r->chunks;
        while (last != NULL && last->next != NULL) last = last->next;
        size_t cap = last == NULL ? RESP_ARENA_CHUNK_MIN_BYTES : last->cap * 2;
        if (cap > r->limits.reply_bytes_max) cap = r->limits.reply_bytes_max;
        if (cap < size) cap = size;
        c = malloc(sizeof *c + cap);
        if (c == NULL) return refuse(r, RESP_E_NO_MEMORY, "out of memory for a reply (%zu bytes)", cap);
        c->next = NULL;
        c->cap = cap;
        c->used = 0;
        if (last == NULL) r->chunks = c;
        else last->next = c;
        r->capacity_bytes += cap;
        r->cur = c;
    }
    void *p = (uint8_t *)c->data + c->used;
    c->used += size;
    r->held_bytes += size;
    return p;
}

/* Counts `n` values against the element limit. */
static bool count_values(struct resp_reader *r, size_t n)
{
    if (n > r->limits.elements_max - r->held_values) {
        refuse(r, RESP_E_LIMIT, "a reply of more than %zu elements (the element limit)", r->limits.elements_max);
        return false;
    }
    r->held_values += n;
    return true;
}

/* ------------------------------------------------------------------------- */
/* hiredis object callbacks: each value goes into its parent's item block (counted
 * when the parent was built), or is a new root. */

static struct resp_value *slot_of(const redisReadTask *task)
{
    struct resp_reader *r = task->privdata;
    r->partial = true;
    if (task->parent == NULL) {
        if (!count_values(r, 1)) return NULL;
        return arena_alloc(r, sizeof(struct resp_value));
    }
    struct resp_value *parent = task->parent->obj;
    assert(parent != NULL && parent->type == RESP_ARRAY);
    assert(task->idx >= 0 && (size_t)task->idx < parent->u.array.count);
    return (struct resp_value *)&parent->u.array.items[task->idx];
}

static void *cb_string(const redisReadTask *task, char *str, size_t len)
{
    struct resp_reader *r = task->privdata;
    struct resp_value *v = slot_of(task);
    if (v == NULL) return NULL;
    if (len >= r->limits.reply_bytes_max)
        return refuse(r, RESP_E_LIMIT, "a reply larger than %zu bytes (the reply limit)", r->limits.reply_bytes_max);
    if (task->type != REDIS_REPLY_STRING && len > r->limits.line_bytes_max)
        return refuse(r, RESP_E_LIMIT, "a line longer than %zu bytes without its CRLF (the line limit)",
                      r->limits.line_bytes_max);
    char *copy = arena_alloc(r, len + 1);
    if (copy == NULL) return NULL;
    if (len > 0) memcpy(copy, str, len);
    copy[len] = '\0';
    enum resp_type t = task->type == REDIS_REPLY_ERROR    ? RESP_ERROR
                       : task->type == REDIS_REPLY_STATUS ? RESP_STATUS
                                                          : RESP_STRING;
    *v = (struct resp_value){ .type = t, .u.str = { copy, len } };
    return v;
}

static void *cb_array(const redisReadTask *task, int elements)
{
    struct resp_reader *r = task->privdata;
    uint32_t depth = 1;
    for (const redisReadTask *p = task->parent; p != NULL; p = p->parent) depth++;
    if (depth > r->limits.depth_max)
        return refuse(r, RESP_E_LIMIT, "a reply nested deeper than %u arrays (the depth limit)", r->limits.depth_max);
    assert(elements >= 0);
    size_t n = (size_t)elements;
    if (n > r->limits.elements_max)
        return refuse(r, RESP_E_LIMIT, "an array of %zu elements (the element limit is %zu)", n,
                      r->limits.elements_max);
    struct resp_value *v = slot_of(task);
    if (v == NULL) return NULL;
    if (!count_values(r, n)) return NULL;
    struct resp_value *items = NULL;
    if (n > 0) {
        items = arena_alloc(r, n * sizeof *items);
        if (items == NULL) return NULL;
        memset(items, 0, n * sizeof *items);
    }
    *v = (struct resp_value){ .type = RESP_ARRAY, .u.array = { items, n } };
    return v;
}

static void *cb_integer(const redisReadTask *task, long long value)
{
    struct resp_value *v = slot_of(task);
    if (v == NULL) return NULL;
    *v = (struct resp_value){ .type = RESP_INTEGER, .u.integer = value };
    return v;
}

static void *cb_nil(const redisReadTask *task)
{
    struct resp_value *v = slot_of(task);
    if (v == NULL) return NULL;
    *v = (struct resp_value){ .type = RESP_NIL };
    return v;
}

/* No freeObject: values live in the arena and go with it. */
static redisReplyObjectFunctions resp_functions = {
    .createString = cb_string,
    .createArray = cb_array,
    .createInteger = cb_integer,
    .createNil = cb_nil,
    .freeObject = NULL,
};

/* ------------------------------------------------------------------------- */
/* Reader */

static bool hr_create(struct resp_reader *r, struct lw_err *err)
{
    r->hr = redisReaderCreateWithFunctions(&resp_functions);
    if (r->hr == NULL) {
        r->failed = true;
        lw_err_set(&r->err, RESP_E_NO_MEMORY, "out of memory for the RESP reader");
        if (err != NULL) *err = r->err;
        return false;
    }
    r->hr->maxbuf = RESP_READER_MAXBUF_BYTES;
    r->hr->privdata = r;
    return true;
}

bool resp_reader_init(struct resp_reader *r, const struct resp_limits *limits, struct lw_err *err)
{
    memset(r, 0, sizeof *r);
    if (!resp_limits_check(limits, err)) return false;
    r->limits = *limits;
    return hr_create(r, err);
}

void resp_reader_deinit(struct resp_reader *r)
{
    if (r->hr != NULL) redisReaderFree(r->hr);
    r->hr = NULL;
    arena_free_all(r);
    r->held_bytes = r->held_values = 0;
    r->partial = false;
}

bool resp_reader_reset(struct resp_reader *r, struct lw_err *err)
{
    if (r->hr != NULL) redisReaderFree(r->hr);
    r->hr = NULL;
    arena_reset(r);
    r->partial = false;
    r->failed = false;
    lw_err_clear(&r->err);
    r->cb_code = 0;
    r->cb_msg[0] = '\0';
    return hr_create(r, err);
}

/* Marks the reader failed with `code` and the message; copies it to `err`. */
static int reader_fail(struct resp_reader *r, struct lw_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reader_fail(struct resp_reader *r, struct lw_err *err, int code, const char *fmt, ...)
{
    r->failed = true;
    r->partial = false; /* hiredis is never asked for this reply again */
    r->err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err.msg, sizeof r->err.msg, fmt, ap);
    va_end(ap);
    if (err != NULL) *err = r->err;
    return -1;
}

bool resp_reader_feed(struct resp_reader *r, const void *buf, size_t len, struct lw_err *err)
{
    if (r->failed) {
        if (err != NULL) *err = r->err;
        return false;
    }
    if (len == 0) return true;
    if (redisReaderFeed(r->hr, buf, len) != REDIS_OK) {
        reader_fail(r, err, RESP_E_NO_MEMORY, "out of memory for %zu received bytes", len);
        return false;
    }
    return true;
}

/* Position of the first CRLF in p[0..n), or n. */
static size_t find_crlf(const char *p, size_t n)
{
    const char *s = p, *end = p + n;
    while (end - s >= 2) {
        const char *cr = memchr(s, '\r', (size_t)(end - 1 - s));
        if (cr == NULL) return n;
        if (cr[1] == '\n') return (size_t)(cr - p);
        s = cr + 1;
    }
    return n;
}

/* Checks the unparsed bytes of the reply in progress against the limits, so that
 * neither a never-ending line nor a huge bulk string is buffered before failing. */
static int check_pending(struct resp_reader *r, struct lw_err *err)
{
    const redisReader *h = r->hr;
    size_t pending = hr_pending(r);
    if (pending == 0) return 0;
    const struct resp_limits *l = &r->limits;
    if (r->held_bytes + pending > l->reply_bytes_max)
        return reader_fail(r, err, RESP_E_LIMIT, "a reply larger than %zu bytes (the reply limit)", l->reply_bytes_max);
    const char *p = h->buf + h->pos;
    size_t scan = pending < l->line_bytes_max + 2 ? pending : l->line_bytes_max + 2;
    size_t eol = find_crlf(p, scan);
    if (eol == scan) {
        if (pending > l->line_bytes_max + 1)
            return reader_fail(r, err, RESP_E_LIMIT, "a line longer than %zu bytes without its CRLF (the line limit)",
                               l->line_bytes_max);
        return 0;
    }
    /* A bulk string whose type byte was read: its declared length is known now. */
    if (h->ridx >= 0 && h->rstack[h->ridx].type == REDIS_REPLY_STRING) {
        uint64_t n = 0;
        size_t i = 0;
        if (i < eol && p[i] == '-') return 0; /* nil, or bad: hiredis decides */
        for (; i < eol && i < 19 && p[i] >= '0' && p[i] <= '9'; i++) n = n * 10 + (uint64_t)(p[i] - '0');
        if (i == eol && n + 1 > l->reply_bytes_max - r->held_bytes)
            return reader_fail(r, err, RESP_E_LIMIT,
                               "a bulk string of %llu bytes in a reply (the reply limit is %zu bytes)",
                               (unsigned long long)n, l->reply_bytes_max);
    }
    return 0;
}

int resp_reader_next(struct resp_reader *r, const struct resp_value **out, struct lw_err *err)
{
    *out = NULL;
    if (r->failed) {
        if (err != NULL) *err = r->err;
        return -1;
    }
    void *obj = NULL;
    r->cb_code = 0;
    if (redisReaderGetReply(r->hr, &obj) != REDIS_OK) {
        if (r->cb_code != 0) return reader_fail(r, err, r->cb_code, "%s", r->cb_msg);
        if (r->hr->err == REDIS_ERR_OOM) return reader_fail(r, err, RESP_E_NO_MEMORY, "out of memory for a reply");
        return reader_fail(r, err, RESP_E_PROTOCOL, "not a RESP reply: %s", r->hr->errstr);
    }
    if (obj == NULL) return check_pending(r, err);
    r->partial = false;
    r->replies++;
    *out = obj;
    return 1;
}

void resp_reader_release(struct resp_reader *r)
{
    assert(!r->partial); /* a half-built reply's values are referenced by hiredis */
    arena_reset(r);
}

bool resp_reader_partial(const struct resp_reader *r)
{
    return r->partial;
}

size_t resp_reader_pending(const struct resp_reader *r)
{
    return hr_pending(r);
}
