#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { LOG_LINE_MAX = 8192 };

static struct {
    enum log_format format;
    enum log_level min_level;
    int fd;
    uint64_t counts[4];
} logger = { LOG_FORMAT_JSON, LOG_INFO, 2, { 0 } };

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const level_tags[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };

void log_configure(enum log_format format, enum log_level min_level, int fd)
{
    logger.format = format;
    logger.min_level = min_level;
    logger.fd = fd;
}

bool log_enabled(enum log_level level) { return level >= logger.min_level; }

uint64_t log_count(enum log_level level) { return logger.counts[level]; }

bool log_parse_level(const char *text, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    if (strcmp(text, "warning") == 0) {
        *out = LOG_WARN;
        return true;
    }
    return false;
}

bool log_parse_format(const char *text, enum log_format *out)
{
    if (strcmp(text, "json") == 0) *out = LOG_FORMAT_JSON;
    else if (strcmp(text, "text") == 0) *out = LOG_FORMAT_TEXT;
    else return false;
    return true;
}

/* A line under construction; appends silently stop at the end of the buffer. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    size_t cap; /* bytes usable, leaving room for the closing text */
    bool cut;   /* something did not fit */
};

static void put(struct line *l, const char *s, size_t n)
{
    if (n > l->cap - l->len) {
        n = l->cap - l->len;
        l->cut = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s) { put(l, s, strlen(s)); }

static void putf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct line *l, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (avail < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return n;
}

/* Appends `s` as the inside of a JSON string: quotes, backslashes and control
 * characters escaped, invalid UTF-8 replaced by U+FFFD. Never cuts a sequence. */
static void put_json_string(struct line *l, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t avail = strlen(s);
    while (avail > 0) {
        unsigned char c = *p;
        char esc[8];
        size_t n = utf8_len(p, avail);
        if (n == 0) {
            if (l->cap - l->len < 6) { l->cut = true; return; }
            put(l, "\\ufffd", 6);
            p++, avail--;
            continue;
        }
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            if (l->cap - l->len < 2) { l->cut = true; return; }
            put(l, esc, 2);
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (named != NULL) {
                if (l->cap - l->len < 2) { l->cut = true; return; }
                put(l, named, 2);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                if (l->cap - l->len < 6) { l->cut = true; return; }
                put(l, esc, 6);
            }
        } else {
            if (l->cap - l->len < n) { l->cut = true; return; }
            put(l, (const char *)p, n);
        }
        p += n, avail -= n;
    }
}

/* Text values are quoted when they hold spaces, quotes or '='. */
static void put_text_value(struct line *l, const char *s)
{
    if (s[0] != '\0' && strpbrk(s, " \"=\t\n") == NULL) {
        puts_(l, s);
        return;
    }
    puts_(l, "\"");
    put_json_string(l, s);
    puts_(l, "\"");
}

static void put_number(struct line *l, const struct log_kv *kv, bool json)
{
    switch (kv->type) {
    case LOG_KV_INT: putf(l, "%" PRId64, kv->i); break;
    case LOG_KV_UINT: putf(l, "%" PRIu64, kv->u); break;
    case LOG_KV_BOOL: puts_(l, kv->b ? "true" : "false"); break;
    case LOG_KV_F64:
        if (isfinite(kv->d)) putf(l, "%.17g", kv->d);
        else puts_(l, json ? "null" : "nan");
        break;
    case LOG_KV_STR: break;
    }
}

static void put_timestamp(struct line *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000);
    put(l, buf, (size_t)n);
}

static void format_json(struct line *l, enum log_level level, const char *msg,
                        const struct log_kv *kv, size_t count)
{
    puts_(l, "{\"ts\":\"");
    put_timestamp(l);
    puts_(l, "\",\"level\":\"");
    puts_(l, level_names[level]);
    puts_(l, "\",\"msg\":\"");
    l->cap -= 64; /* the message may be cut, the rest of the line may not */
    put_json_string(l, msg);
    l->cap += 64;
    puts_(l, "\"");
    bool msg_cut = l->cut;
    l->cut = false;
    l->cap -= 32; /* room for ,"truncated":true */
    for (size_t i = 0; i < count; i++) {
        size_t mark = l->len;
        puts_(l, ",\"");
        put_json_string(l, kv[i].key);
        puts_(l, "\":");
        if (kv[i].type == LOG_KV_STR) {
            puts_(l, "\"");
            put_json_string(l, kv[i].s != NULL ? kv[i].s : "");
            puts_(l, "\"");
        } else {
            put_number(l, &kv[i], true);
        }
        if (l->cut) {
            l->len = mark; /* a field is written whole or not at all */
            break;
        }
    }
    l->cap += 32;
    if (l->cut || msg_cut) puts_(l, ",\"truncated\":true");
}

static void format_text(struct line *l, enum log_level level, const char *msg,
                        const struct log_kv *kv, size_t count)
{
    put_timestamp(l);
    puts_(l, " ");
    puts_(l, level_tags[level]);
    puts_(l, " ");
    puts_(l, msg);
    for (size_t i = 0; i < count; i++) {
        puts_(l, " ");
        puts_(l, kv[i].key);
        puts_(l, "=");
        if (kv[i].type == LOG_KV_STR) put_text_value(l, kv[i].s != NULL ? kv[i].s : "");
        else put_number(l, &kv[i], false);
    }
}

void log_emit(enum log_level level, const char *msg, const struct log_kv *kv, size_t count)
{
    if (level < LOG_DEBUG || level > LOG_ERROR) level = LOG_ERROR;
    logger.counts[level]++;
    if (!log_enabled(level)) return;
    static struct line l; /* single-threaded; too big for some stacks */
    l.len = 0;
    l.cut = false;
    l.cap = sizeof l.buf - 4; /* room for the closing "}\n" whatever was cut */
    if (logger.format == LOG_FORMAT_JSON) format_json(&l, level, msg, kv, count);
    else format_text(&l, level, msg, kv, count);
    l.cap = sizeof l.buf;
    if (logger.format == LOG_FORMAT_JSON) puts_(&l, "}");
    puts_(&l, "\n");
    /* Blocking, whole-line write: logs must not be lost or interleaved. */
    size_t off = 0;
    while (off < l.len) {
        ssize_t n = write(logger.fd, l.buf + off, l.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += (size_t)n;
    }
}
