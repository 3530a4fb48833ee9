/* toml: a strict TOML subset (see toml.h), parsed in one pass without recursion.
 *
 * Memory is two allocations sized from the input: the node array (a node never
 * needs more than one input byte of its own, so len + 2 nodes suffice, capped by
 * TOML_NODES_MAX) and a string arena (decoded text is never longer than its
 * source, so 2 * len covers every key and value with its NUL). Nodes therefore
 * never move, and pointers into them stay valid while parsing. A hash table of
 * (parent, key) finds duplicates in constant time. */
#include "toml.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* How a table came to exist; decides whether a header or dotted key may define it. */
enum how { HOW_ROOT, HOW_IMPLICIT, HOW_HEADER, HOW_DOTTED, HOW_ITEM, HOW_VALUE, HOW_SINK };

struct toml_doc {
    struct toml_node *nodes;
    size_t count, cap;
    char *arena;
    size_t arena_len, arena_cap;
    struct toml_node **hash; /* open addressing; hash_cap is a power of two > 2 * cap */
    size_t hash_cap;
    struct toml_error errors[TOML_ERRORS_MAX];
    size_t error_count;
};

struct parser {
    const char *s;
    size_t len, pos;
    uint32_t line;
    size_t line_start;
    struct toml_doc *doc;
    struct toml_node *current; /* the table key/value lines go to */
    size_t current_depth;      /* key components of the current header */
    uint32_t section;          /* number of the current header; 0 before the first */
    bool in_array;             /* inside [ ... ]: recovery skips to its end */
    bool stop;                 /* too many errors or nodes: nothing more is read */
    char ctx[TOML_ERROR_MSG_MAX / 2]; /* key path of the statement, for messages */
};

typedef char key_buf[TOML_KEY_LEN_MAX + 1];

/* ---------------------------------------------------------------------------
 * Errors */

static uint32_t col_of(const struct parser *p, size_t pos)
{
    return pos >= p->line_start ? (uint32_t)(pos - p->line_start + 1) : 0;
}

/* Records an error at byte `pos` of the current line; returns false. */
__attribute__((format(printf, 3, 4))) static bool perr_at(struct parser *p, size_t pos, const char *fmt, ...)
{
    struct toml_doc *d = p->doc;
    if (p->stop || d->error_count >= TOML_ERRORS_MAX) return false;
    struct toml_error *e = &d->errors[d->error_count++];
    e->line = p->line;
    e->col = col_of(p, pos);
    if (d->error_count == TOML_ERRORS_MAX) {
        snprintf(e->msg, sizeof e->msg, "too many errors (%d); the rest of the file was not read", TOML_ERRORS_MAX);
        p->stop = true;
        return false;
    }
    size_t used = 0;
    if (p->ctx[0] != '\0') used = (size_t)snprintf(e->msg, sizeof e->msg, "%s: ", p->ctx);
    if (used >= sizeof e->msg) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg + used, sizeof e->msg - used, fmt, ap);
    va_end(ap);
    return false;
}

#define perr(p, ...) perr_at((p), (p)->pos, __VA_ARGS__)

/* Names the byte at `pos` for a message: 'x', a space, the end of the line... */
static const char *describe(const struct parser *p, size_t pos, char buf[24])
{
    if (pos >= p->len) return "the end of the file";
    unsigned char c = (unsigned char)p->s[pos];
    if (c == '\n' || c == '\r') return "the end of the line";
    if (c == ' ') return "a space";
    if (c == '\t') return "a tab";
    if (c > 0x20 && c < 0x7f) snprintf(buf, 24, "'%c'", c);
    else snprintf(buf, 24, "byte 0x%02X", c);
    return buf;
}

/* ---------------------------------------------------------------------------
 * Nodes */

static size_t hash_slot(const struct toml_doc *d, const struct toml_node *parent, const char *key)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(parent - d->nodes);
    h *= 1099511628211ull;
    for (const unsigned char *k = (const unsigned char *)key; *k != '\0'; k++) {
        h ^= *k;
        h *= 1099511628211ull;
    }
    return (size_t)(h & (d->hash_cap - 1));
}

static struct toml_node *find(const struct toml_doc *d, const struct toml_node *parent, const char *key)
{
    for (size_t i = hash_slot(d, parent, key);; i = (i + 1) & (d->hash_cap - 1)) {
        struct toml_node *n = d->hash[i];
        if (n == NULL) return NULL;
        if (n->parent == parent && strcmp(n->key, key) == 0) return n;
    }
}

/* Copies `n` bytes into the arena, NUL-terminated; NULL if it is full (it cannot
 * be, by the sizing argument above, but the check costs nothing). */
static char *arena_copy(struct toml_doc *d, const char *src, size_t n)
{
    if (d->arena_cap - d->arena_len < n + 1) return NULL;
    char *dst = d->arena + d->arena_len;
    memcpy(dst, src, n);
    dst[n] = '\0';
    d->arena_len += n + 1;
    return dst;
}

/* Appends a node to `parent` (NULL: a detached table). Keys of table children go
 * into the hash. Returns NULL (and stops the parse) when the limit is reached. */
static struct toml_node *new_node(struct parser *p, struct toml_node *parent, enum toml_type type,
                                  const char *key, enum how how, uint32_t col)
{
    struct toml_doc *d = p->doc;
    if (d->count >= d->cap || d->count > TOML_NODES_MAX) {
        perr_at(p, p->pos, "more than %d tables, keys and array items; the rest of the file was not read",
                TOML_NODES_MAX);
        p->stop = true;
        return NULL;
    }
    struct toml_node *n = &d->nodes[d->count];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->line = p->line;
    n->col = col;
    n->how_ = (uint8_t)how;
    n->section_ = p->section;
    n->parent = parent;
    bool keyed = parent != NULL && parent->type == TOML_TABLE;
    n->key = keyed ? arena_copy(d, key, strlen(key)) : "";
    if (n->key == NULL) {
        perr_at(p, p->pos, "internal error: string space exhausted");
        p->stop = true;
        return NULL;
    }
    d->count++;
    if (parent != NULL) {
        if (parent->last_ != NULL) parent->last_->next = n;
        else parent->child = n;
        parent->last_ = n;
        parent->count++;
    }
    if (keyed) {
        size_t i = hash_slot(d, parent, n->key);
        while (d->hash[i] != NULL) i = (i + 1) & (d->hash_cap - 1);
        d->hash[i] = n;
    }
    return n;
}

/* ---------------------------------------------------------------------------
 * Lexical helpers */

static char cur(const struct parser *p)
{
    return p->pos < p->len ? p->s[p->pos] : '\0';
}

static bool at_eol(const struct parser *p)
{
    return p->pos >= p->len || p->s[p->pos] == '\n' || p->s[p->pos] == '\r';
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')) p->pos++;
}

static bool is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Consumes LF or CRLF at pos. */
static bool newline(struct parser *p)
{
    if (cur(p) == '\r') {
        if (p->pos + 1 >= p->len || p->s[p->pos + 1] != '\n')
            return perr(p, "carriage return not followed by a line feed");
        p->pos++;
    }
    assert(cur(p) == '\n');
    p->pos++;
    p->line++;
    p->line_start = p->pos;
    return true;
}

/* Length of the UTF-8 sequence starting at pos if it is valid, else 0. */
static size_t utf8_char(const struct parser *p, size_t pos)
{
    unsigned char c = (unsigned char)p->s[pos];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (p->len - pos < need) return 0;
    return util_utf8_valid_prefix(p->s + pos, need) == need ? need : 0;
}

/* A comment from '#' to the end of the line (the line end is not consumed). */
static bool comment(struct parser *p)
{
    assert(cur(p) == '#');
    p->pos++;
    while (p->pos < p->len && p->s[p->pos] != '\n') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '\r' && p->pos + 1 < p->len && p->s[p->pos + 1] == '\n') break;
        if (is_control(c)) return perr(p, "control character 0x%02X in a comment", c);
        if (c < 0x80) {
            p->pos++;
            continue;
        }
        size_t n = utf8_char(p, p->pos);
        if (n == 0) return perr(p, "invalid UTF-8 in a comment");
        p->pos += n;
    }
    return true;
}

/* After a header or value: blanks, an optional comment, then the line end. */
static bool end_of_line(struct parser *p)
{
    skip_ws(p);
    if (cur(p) == '#' && !comment(p)) return false;
    if (at_eol(p)) return true;
    char b[24];
    return perr(p, "expected the end of the line, found %s (one key = value per line)", describe(p, p->pos, b));
}

/* After an error: skips the rest of the array we were in (if any), then the line. */
static void recover(struct parser *p)
{
    if (p->in_array) {
        int depth = 1;
        char quote = 0;
        while (p->pos < p->len && depth > 0) {
            char c = p->s[p->pos++];
            if (c == '\n') {
                p->line++;
                p->line_start = p->pos;
                quote = 0;
            } else if (quote != 0) {
                if (c == '\\' && quote == '"' && p->pos < p->len && p->s[p->pos] != '\n') p->pos++;
                else if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '#') {
                while (p->pos < p->len && p->s[p->pos] != '\n') p->pos++;
            } else if (c == '[') {
                depth++;
            } else if (c == ']') {
                depth--;
            }
        }
        p->in_array = false;
    }
    while (p->pos < p->len && p->s[p->pos] != '\n') p->pos++;
}

/* ---------------------------------------------------------------------------
 * Strings */

/* Reads the hex digits of \u / \U at pos into a code point. */
static bool unicode_escape(struct parser *p, size_t esc, size_t digits, char out[4], size_t *out_len)
{
    uint32_t cp = 0;
    for (size_t i = 0; i < digits; i++) {
        char c = cur(p);
        uint32_t v;
        if (c >= '0' && c <= '9') v = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v = (uint32_t)(c - 'A' + 10);
        else return perr_at(p, esc, "\\%c needs exactly %zu hexadecimal digits", digits == 4 ? 'u' : 'U', digits);
        cp = (cp << 4) | v;
        p->pos++;
    }
    if (cp == 0) return perr_at(p, esc, "NUL characters (\\u0000) are not supported");
    *out_len = util_utf8_encode(cp, out);
    if (*out_len == 0)
        return perr_at(p, esc, "\\%c%0*X is not a Unicode scalar value (a surrogate, or above 10FFFF)",
                       digits == 4 ? 'u' : 'U', (int)digits, cp);
    return true;
}

/* One escape sequence at pos ('\\'): decoded bytes into out. */
static bool escape(struct parser *p, char out[4], size_t *out_len)
{
    size_t esc = p->pos;
    p->pos++;
    char c = cur(p);
    *out_len = 1;
    switch (c) {
    case 'b': out[0] = '\b'; break;
    case 't': out[0] = '\t'; break;
    case 'n': out[0] = '\n'; break;
    case 'f': out[0] = '\f'; break;
    case 'r': out[0] = '\r'; break;
    case '"': out[0] = '"'; break;
    case '\\': out[0] = '\\'; break;
    case 'u':
    case 'U':
        p->pos++;
        return unicode_escape(p, esc, c == 'u' ? 4 : 8, out, out_len);
    default: {
        char b[24];
        return perr_at(p, esc, "unknown escape: backslash followed by %s (escapes: \\b \\t \\n \\f \\r \\\" \\\\ "
                       "\\uXXXX \\UXXXXXXXX)", describe(p, p->pos, b));
    }
    }
    p->pos++;
    return true;
}

/* A "basic" or 'literal' string at pos, decoded into out (at most cap bytes plus
 * a NUL). `what` is "string" or "key", for messages. */
static bool quoted(struct parser *p, char *out, size_t cap, size_t *out_len, const char *what)
{
    size_t open = p->pos;
    char q = cur(p);
    assert(q == '"' || q == '\'');
    if (p->pos + 2 < p->len && p->s[p->pos + 1] == q && p->s[p->pos + 2] == q)
        return perr(p, "multi-line strings (%c%c%c) are not supported; write the %s on one line%s", q, q, q, what,
                     q == '"' ? " (\\n escapes are fine)" : "");
    p->pos++;
    size_t n = 0;
    for (;;) {
        if (at_eol(p)) return perr_at(p, open, "unterminated %s: the closing %c is missing on this line", what, q);
        unsigned char c = (unsigned char)p->s[p->pos];
        char buf[4];
        size_t k = 1;
        if (c == (unsigned char)q) {
            p->pos++;
            break;
        }
        if (c == '\\' && q == '"') {
            if (!escape(p, buf, &k)) return false;
        } else if (is_control(c)) {
            return perr(p, "control character 0x%02X in a %s; write it as an escape", c, what);
        } else if (c >= 0x80) {
            k = utf8_char(p, p->pos);
            if (k == 0) return perr(p, "invalid UTF-8 in a %s", what);
            memcpy(buf, p->s + p->pos, k);
            p->pos += k;
        } else {
            buf[0] = (char)c;
            p->pos++;
        }
        if (cap - n < k) return perr_at(p, open, "%s is longer than %zu bytes", what, cap);
        memcpy(out + n, buf, k);
        n += k;
    }
    out[n] = '\0';
    *out_len = n;
    return true;
}

/* ---------------------------------------------------------------------------
 * Keys */

static bool key_part(struct parser *p, char *out)
{
    size_t len = 0;
    char c = cur(p);
    if (c == '"' || c == '\'') return quoted(p, out, TOML_KEY_LEN_MAX, &len, "key");
    size_t start = p->pos;
    while (p->pos < p->len && is_bare(p->s[p->pos])) p->pos++;
    len = p->pos - start;
    if (len == 0) {
        char b[24];
        if ((unsigned char)c >= 0x80)
            return perr(p, "expected a key, found %s; keys with characters other than A-Z a-z 0-9 _ - "
                        "must be quoted", describe(p, p->pos, b));
        return perr(p, "expected a key, found %s", describe(p, p->pos, b));
    }
    if (len > TOML_KEY_LEN_MAX) return perr_at(p, start, "key is longer than %d bytes", TOML_KEY_LEN_MAX);
    memcpy(out, p->s + start, len);
    out[len] = '\0';
    return true;
}

/* A dotted key (a, a.b, "a b".c) of at most TOML_DEPTH_MAX - depth parts. */
static bool key_path(struct parser *p, key_buf keys[TOML_DEPTH_MAX], size_t *count, size_t depth)
{
    *count = 0;
    for (;;) {
        if (depth + *count >= TOML_DEPTH_MAX) return perr(p, "keys nest deeper than %d levels", TOML_DEPTH_MAX);
        if (!key_part(p, keys[*count])) return false;
        (*count)++;
        skip_ws(p);
        if (cur(p) != '.') return true;
        p->pos++;
        skip_ws(p);
    }
}

/* Appends `key` to a path text, quoted unless it is bare. */
static void path_append(char *buf, size_t cap, size_t *used, const char *key, bool dot)
{
    bool bare = key[0] != '\0';
    for (const char *k = key; *k != '\0'; k++) bare = bare && is_bare(*k);
    if (*used >= cap) return;
    int w;
    if (bare) {
        w = snprintf(buf + *used, cap - *used, "%s%s", dot ? "." : "", key);
    } else {
        w = snprintf(buf + *used, cap - *used, "%s\"", dot ? "." : "");
        if (w > 0) *used += (size_t)w;
        for (const char *k = key; *k != '\0' && *used < cap; k++) {
            unsigned char c = (unsigned char)*k;
            if (c == '"' || c == '\\') w = snprintf(buf + *used, cap - *used, "\\%c", c);
            else if (c < 0x20 || c == 0x7f) w = snprintf(buf + *used, cap - *used, "\\u%04X", c);
            else w = snprintf(buf + *used, cap - *used, "%c", c);
            if (w > 0) *used += (size_t)w;
        }
        w = *used < cap ? snprintf(buf + *used, cap - *used, "\"") : 0;
    }
    if (w > 0) *used += (size_t)w;
    if (*used >= cap) *used = cap;
}

char *toml_path(const struct toml_node *n, char *buf, size_t cap)
{
    assert(cap > 0);
    enum { CHAIN_MAX = 2 * TOML_DEPTH_MAX + 4 };
    const struct toml_node *chain[CHAIN_MAX];
    size_t depth = 0;
    for (const struct toml_node *x = n; x != NULL && x->parent != NULL && depth < CHAIN_MAX; x = x->parent)
        chain[depth++] = x;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = depth; i-- > 0;) {
        const struct toml_node *x = chain[i];
        if (x->parent->type == TOML_TABLE) {
            path_append(buf, cap, &used, x->key, used > 0);
            continue;
        }
        size_t index = 0;
        for (const struct toml_node *s = x->parent->child; s != NULL && s != x; s = s->next) index++;
        int w = used < cap ? snprintf(buf + used, cap - used, "[%zu]", index) : 0;
        if (w > 0) used += (size_t)w;
        if (used >= cap) used = cap;
    }
    return buf;
}

/* Sets the statement context (for messages) to a table's path plus keys. */
static void set_ctx(struct parser *p, const struct toml_node *table, key_buf *keys, size_t count)
{
    toml_path(table, p->ctx, sizeof p->ctx);
    size_t used = strlen(p->ctx);
    for (size_t i = 0; i < count; i++) path_append(p->ctx, sizeof p->ctx, &used, keys[i], used > 0);
    if (used >= sizeof p->ctx) p->ctx[sizeof p->ctx - 1] = '\0';
}

/* ---------------------------------------------------------------------------
 * Values */

static bool is_word(char c)
{
    return is_bare(c) || c == '+' || c == '.' || c == ':';
}

/* An integer word (sign, digits, '_'), or a precise error for what it is instead. */
static bool integer(struct parser *p, struct toml_node *v, const char *w, size_t n, size_t start)
{
    int shown = n > 40 ? 40 : (int)n;
    const char *d = w;
    size_t m = n;
    bool neg = false;
    if (*d == '+' || *d == '-') {
        neg = *d == '-';
        d++;
        m--;
    }
    if (m >= 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'o' || d[1] == 'b'))
        return perr_at(p, start, "'%.*s': hexadecimal, octal and binary integers are not supported; write it in "
                       "decimal", shown, w);
    if (memchr(d, ':', m) != NULL || (m >= 10 && d[4] == '-' && d[7] == '-'))
        return perr_at(p, start, "'%.*s': dates and times are not supported; write them as strings", shown, w);
    if (memchr(d, '.', m) != NULL || memchr(d, 'e', m) != NULL || memchr(d, 'E', m) != NULL)
        return perr_at(p, start, "'%.*s': floats are not supported (only integers)", shown, w);
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t mag = 0;
    for (size_t i = 0; i < m; i++) {
        if (d[i] == '_') {
            if (i == 0 || i + 1 == m || d[i - 1] == '_' || d[i + 1] == '_')
                return perr_at(p, start, "'%.*s': '_' must stand between two digits", shown, w);
            continue;
        }
        if (d[i] < '0' || d[i] > '9') return perr_at(p, start, "'%.*s' is not a valid integer", shown, w);
        uint64_t digit = (uint64_t)(d[i] - '0');
        if (mag > (limit - digit) / 10)
            return perr_at(p, start, "'%.*s': integer out of the 64-bit range", shown, w);
        mag = mag * 10 + digit;
    }
    if (m > 1 && d[0] == '0') return perr_at(p, start, "'%.*s': leading zeros are not allowed", shown, w);
    v->type = TOML_INTEGER;
    v->integer = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return true;
}

/* A bare word: true, false, an integer, or an error saying what it looks like. */
static bool word(struct parser *p, struct toml_node *v)
{
    size_t start = p->pos;
    while (p->pos < p->len && is_word(p->s[p->pos])) p->pos++;
    size_t n = p->pos - start;
    const char *w = p->s + start;
    if (n == 0) {
        char b[24];
        return perr(p, "expected a value, found %s", describe(p, start, b));
    }
    if ((n == 4 && memcmp(w, "true", 4) == 0) || (n == 5 && memcmp(w, "false", 5) == 0)) {
        v->type = TOML_BOOL;
        v->boolean = n == 4;
        return true;
    }
    bool sign = w[0] == '+' || w[0] == '-';
    if ((w[0] >= '0' && w[0] <= '9') || (sign && n > 1 && w[1] >= '0' && w[1] <= '9'))
        return integer(p, v, w, n, start);
    const char *u = sign ? w + 1 : w;
    size_t un = sign ? n - 1 : n;
    if (un == 3 && (memcmp(u, "inf", 3) == 0 || memcmp(u, "nan", 3) == 0))
        return perr_at(p, start, "'%.*s': floats are not supported (only integers)", (int)n, w);
    int shown = n > 40 ? 40 : (int)n;
    return perr_at(p, start, "unquoted text '%.*s': strings must be quoted (\"%.*s\")", shown, w, shown, w);
}

/* A string, integer or boolean at pos into v. */
static bool scalar(struct parser *p, struct toml_node *v)
{
    char c = cur(p);
    if (c == '"' || c == '\'') {
        struct toml_doc *d = p->doc;
        size_t room = d->arena_cap - d->arena_len - 1;
        size_t cap = room < TOML_STRING_LEN_MAX ? room : TOML_STRING_LEN_MAX;
        char *out = d->arena + d->arena_len;
        size_t n = 0;
        if (!quoted(p, out, cap, &n, "string")) return false;
        d->arena_len += n + 1;
        v->type = TOML_STRING;
        v->str = out;
        v->str_len = n;
        return true;
    }
    if (c == '{') return perr(p, "inline tables ({ ... }) are not supported; use a [table] header");
    if (c == '[') return perr(p, "arrays of arrays are not supported");
    return word(p, v);
}

/* Blanks, line ends and comments between array items. */
static bool array_gap(struct parser *p)
{
    for (;;) {
        skip_ws(p);
        char c = cur(p);
        if (c == '#') {
            if (!comment(p)) return false;
        } else if (c == '\n' || c == '\r') {
            if (p->pos >= p->len || !newline(p)) return false;
        } else {
            return true;
        }
    }
}

static bool array(struct parser *p, struct toml_node *v)
{
    size_t open = p->pos;
    uint32_t open_line = p->line;
    v->type = TOML_ARRAY;
    p->pos++;
    p->in_array = true;
    for (;;) {
        if (!array_gap(p)) return false;
        if (p->pos >= p->len)
            return perr_at(p, p->pos, "unterminated array: the ']' for the '[' on line %u (column %u) is missing",
                           open_line, open_line == p->line ? col_of(p, open) : 0);
        if (cur(p) == ']') break;
        struct toml_node *item = new_node(p, v, TOML_INVALID, "", HOW_ITEM, col_of(p, p->pos));
        if (item == NULL || !scalar(p, item)) return false;
        if (!array_gap(p)) return false;
        if (cur(p) == ',') {
            p->pos++;
            continue;
        }
        if (cur(p) == ']') break;
        char b[24];
        return perr(p, "expected ',' or ']' after an array item, found %s", describe(p, p->pos, b));
    }
    p->pos++;
    p->in_array = false;
    return true;
}

/* ---------------------------------------------------------------------------
 * Statements */

/* A table that swallows the keys under a header that had an error. */
static struct toml_node *sink(struct parser *p)
{
    return new_node(p, NULL, TOML_TABLE, "", HOW_SINK, 0);
}

static bool not_a_table(struct parser *p, size_t pos, const struct toml_node *n, const char *need)
{
    char path[160];
    const char *type = toml_type_name(n->type);
    bool vowel = strchr("aeiou", type[0]) != NULL;
    return perr_at(p, pos, "'%s' is already %s %s (line %u), not %s", toml_path(n, path, sizeof path),
                   vowel ? "an" : "a", type, n->line, need);
}

/* The table a header names: intermediate tables are found or created (the last
 * item of an array of tables is entered); the last part is defined here. */
static struct toml_node *header_target(struct parser *p, key_buf *keys, size_t n, bool is_array, size_t start)
{
    struct toml_doc *d = p->doc;
    struct toml_node *t = &d->nodes[0];
    uint32_t col = col_of(p, start);
    char path[160];
    for (size_t i = 0; i + 1 < n; i++) {
        struct toml_node *c = find(d, t, keys[i]);
        if (c == NULL) c = new_node(p, t, TOML_TABLE, keys[i], HOW_IMPLICIT, col);
        if (c == NULL) return NULL;
        if (c->type == TOML_TABLE_ARRAY) c = c->last_;
        else if (c->type != TOML_TABLE) return not_a_table(p, start, c, "a table"), NULL;
        t = c;
    }
    struct toml_node *c = find(d, t, keys[n - 1]);
    if (is_array) {
        if (c == NULL) c = new_node(p, t, TOML_TABLE_ARRAY, keys[n - 1], HOW_HEADER, col);
        else if (c->type != TOML_TABLE_ARRAY) return not_a_table(p, start, c, "an array of tables"), NULL;
        if (c == NULL) return NULL;
        return new_node(p, c, TOML_TABLE, "", HOW_ITEM, col);
    }
    if (c == NULL) return new_node(p, t, TOML_TABLE, keys[n - 1], HOW_HEADER, col);
    if (c->type == TOML_TABLE && c->how_ == HOW_IMPLICIT) {
        c->how_ = HOW_HEADER;
        c->line = p->line;
        c->col = col;
        return c;
    }
    toml_path(c, path, sizeof path);
    if (c->type == TOML_TABLE && c->how_ == HOW_DOTTED)
        return perr_at(p, start, "table [%s] was already defined by dotted keys on line %u", path, c->line), NULL;
    if (c->type == TOML_TABLE) return perr_at(p, start, "table [%s] is defined twice (first on line %u)", path, c->line), NULL;
    if (c->type == TOML_TABLE_ARRAY)
        return perr_at(p, start, "[%s] is an array of tables (line %u); add items with [[%s]]", path, c->line, path), NULL;
    return not_a_table(p, start, c, "a table"), NULL;
}

static bool header(struct parser *p)
{
    size_t start = p->pos;
    bool is_array = p->pos + 1 < p->len && p->s[p->pos + 1] == '[';
    p->current = NULL;
    p->section++;
    p->pos += is_array ? 2 : 1;
    skip_ws(p);
    key_buf keys[TOML_DEPTH_MAX];
    size_t n = 0;
    bool ok = key_path(p, keys, &n, 0);
    if (ok && cur(p) != ']') {
        char b[24];
        ok = perr(p, "expected ']' to close the header, found %s", describe(p, p->pos, b));
    }
    if (ok && is_array) {
        p->pos++;
        if (cur(p) != ']') ok = perr(p, "expected ']]' to close the array-of-tables header");
    }
    if (ok) {
        p->pos++;
        p->current = header_target(p, keys, n, is_array, start);
        p->current_depth = n;
    }
    if (p->current == NULL) {
        p->current = sink(p);
        p->current_depth = n;
        return false;
    }
    return true;
}

static bool keyval(struct parser *p)
{
    size_t start = p->pos;
    uint32_t col = col_of(p, start);
    key_buf keys[TOML_DEPTH_MAX];
    size_t n = 0;
    set_ctx(p, p->current, NULL, 0);
    if (!key_path(p, keys, &n, p->current_depth)) return false;
    set_ctx(p, p->current, keys, n);
    char b[24];
    if (cur(p) != '=') return perr(p, "expected '=' after the key, found %s", describe(p, p->pos, b));
    p->pos++;
    skip_ws(p);
    struct toml_node *t = p->current;
    for (size_t i = 0; i + 1 < n; i++) {
        struct toml_node *c = find(p->doc, t, keys[i]);
        if (c == NULL) c = new_node(p, t, TOML_TABLE, keys[i], HOW_DOTTED, col);
        if (c == NULL) return false;
        if (c->type != TOML_TABLE || c->how_ != HOW_DOTTED || c->section_ != p->section) {
            char path[160];
            return perr_at(p, start, "cannot add keys to '%s' (%s, line %u) with a dotted key here; write them "
                           "under its own header", toml_path(c, path, sizeof path), toml_type_name(c->type), c->line);
        }
        t = c;
    }
    struct toml_node *dup = find(p->doc, t, keys[n - 1]);
    if (dup != NULL) return perr_at(p, start, "duplicate key (first defined on line %u)", dup->line);
    struct toml_node *v = new_node(p, t, TOML_INVALID, keys[n - 1], HOW_VALUE, col);
    if (v == NULL) return false;
    if (at_eol(p) || cur(p) == '#') return perr(p, "expected a value after '='");
    bool ok = cur(p) == '[' ? array(p, v) : scalar(p, v);
    if (!ok) v->type = TOML_INVALID;
    return ok;
}

static void parse(struct parser *p)
{
    if (p->len >= 3 && memcmp(p->s, "\xEF\xBB\xBF", 3) == 0) p->pos = 3;
    while (!p->stop && p->pos < p->len) {
        p->ctx[0] = '\0';
        skip_ws(p);
        char c = cur(p);
        bool ok;
        if (p->pos >= p->len) break;
        if (c == '\n' || c == '\r') ok = newline(p);
        else if (c == '#') ok = comment(p);
        else if (c == '[') ok = header(p) && end_of_line(p);
        else ok = keyval(p) && end_of_line(p);
        if (!ok) {
            recover(p);
            p->in_array = false;
        }
    }
}

/* ---------------------------------------------------------------------------
 * Public API */

struct toml_doc *toml_parse(const char *text, size_t len, struct lw_err *e)
{
    if (len > TOML_FILE_MAX) {
        lw_err_set(e, 1, "the file is larger than %d bytes", TOML_FILE_MAX);
        return NULL;
    }
    struct toml_doc *d = calloc(1, sizeof *d);
    if (d == NULL) goto oom;
    d->cap = len + 2 < TOML_NODES_MAX + 2 ? len + 2 : TOML_NODES_MAX + 2;
    d->hash_cap = 16;
    while (d->hash_cap < 2 * d->cap) d->hash_cap *= 2;
    d->arena_cap = 2 * len + 64;
    d->nodes = calloc(d->cap, sizeof *d->nodes);
    d->hash = calloc(d->hash_cap, sizeof *d->hash);
    d->arena = malloc(d->arena_cap);
    if (d->nodes == NULL || d->hash == NULL || d->arena == NULL) goto oom;

    struct toml_node *root = &d->nodes[0];
    root->type = TOML_TABLE;
    root->key = "";
    root->how_ = HOW_ROOT;
    d->count = 1;

    struct parser p = { .s = text, .len = len, .line = 1, .doc = d, .current = root };
    parse(&p);
    return d;
oom:
    toml_free(d);
    lw_err_set(e, 2, "out of memory");
    return NULL;
}

void toml_free(struct toml_doc *doc)
{
    if (doc == NULL) return;
    free(doc->nodes);
    free(doc->hash);
    free(doc->arena);
    free(doc);
}

const struct toml_node *toml_root(const struct toml_doc *doc)
{
    return &doc->nodes[0];
}

size_t toml_error_count(const struct toml_doc *doc)
{
    return doc->error_count;
}

const struct toml_error *toml_error_at(const struct toml_doc *doc, size_t i)
{
    return i < doc->error_count ? &doc->errors[i] : NULL;
}

const struct toml_node *toml_get(const struct toml_node *t, const char *key)
{
    if (t == NULL || t->type != TOML_TABLE) return NULL;
    for (const struct toml_node *c = t->child; c != NULL; c = c->next)
        if (strcmp(c->key, key) == 0) return c;
    return NULL;
}

const char *toml_type_name(enum toml_type type)
{
    switch (type) {
    case TOML_TABLE: return "table";
    case TOML_TABLE_ARRAY: return "array of tables";
    case TOML_STRING: return "string";
    case TOML_INTEGER: return "integer";
    case TOML_BOOL: return "boolean";
    case TOML_ARRAY: return "array";
    case TOML_INVALID: return "invalid value";
    }
    return "?";
}
