/* xml: a minimal reader for S3 response bodies (see xml.h). */
#include "s3/xml.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

enum tok_kind {
    TOK_EOF,
    TOK_START,      /* <Name ...> */
    TOK_EMPTY,      /* <Name ... /> */
    TOK_END,        /* </Name> */
    TOK_TEXT,       /* character data, entities not yet decoded */
    TOK_CDATA,      /* <![CDATA[...]]> contents, taken as is */
    TOK_TRUNCATED,
    TOK_MALFORMED,
    TOK_TOO_LONG_NAME,
};

struct token {
    enum tok_kind kind;
    const char *s;      /* name or text */
    size_t n;
};

struct scan {
    const char *p;
    size_t len;
    size_t pos;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool name_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

static bool name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Position just after `end` searched from `from`, or SIZE_MAX if absent. */
static size_t find_after(const struct scan *sc, size_t from, const char *end)
{
    size_t m = strlen(end);
    for (size_t i = from; i + m <= sc->len; i++)
        if (memcmp(sc->p + i, end, m) == 0) return i + m;
    return SIZE_MAX;
}

/* True if the rest of the input is a proper prefix of `lit`. */
static bool rest_is_prefix(const struct scan *sc, const char *lit)
{
    size_t rest = sc->len - sc->pos;
    return rest < strlen(lit) && memcmp(sc->p + sc->pos, lit, rest) == 0;
}

/* Reads a name at sc->pos; returns its length (0 if none). */
static size_t read_name(struct scan *sc)
{
    size_t start = sc->pos;
    if (sc->pos < sc->len && name_start((unsigned char)sc->p[sc->pos])) {
        while (sc->pos < sc->len && name_char((unsigned char)sc->p[sc->pos])) sc->pos++;
    }
    return sc->pos - start;
}

/* Skips attributes up to '>' or "/>"; returns TOK_START/TOK_EMPTY or an error. */
static enum tok_kind skip_attributes(struct scan *sc)
{
    char quote = 0;
    while (sc->pos < sc->len) {
        char c = sc->p[sc->pos++];
        if (quote) {
            if (c == quote) quote = 0;
            else if (c == '<') return TOK_MALFORMED;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '>') {
            return TOK_START;
        } else if (c == '/') {
            if (sc->pos == sc->len) return TOK_TRUNCATED;
            return sc->p[sc->pos++] == '>' ? TOK_EMPTY : TOK_MALFORMED;
        } else if (c == '<') {
            return TOK_MALFORMED;
        }
    }
    return TOK_TRUNCATED;
}

/* The next token; the prolog, processing instructions and comments are skipped. */
static struct token next_token(struct scan *sc)
{
    struct token t = {TOK_EOF, NULL, 0};
    while (sc->pos < sc->len) {
        const char *p = sc->p + sc->pos;
        size_t rest = sc->len - sc->pos;
        if (p[0] != '<') {
            const char *lt = memchr(p, '<', rest);
            size_t n = lt ? (size_t)(lt - p) : rest;
            sc->pos += n;
            return (struct token){TOK_TEXT, p, n};
        }
        if (rest >= 2 && p[1] == '?') {
            size_t e = find_after(sc, sc->pos + 2, "?>");
            if (e == SIZE_MAX) return (struct token){TOK_TRUNCATED, NULL, 0};
            sc->pos = e;
            continue;
        }
        if (rest >= 4 && memcmp(p, "<!--", 4) == 0) {
            size_t e = find_after(sc, sc->pos + 4, "-->");
            if (e == SIZE_MAX) return (struct token){TOK_TRUNCATED, NULL, 0};
            sc->pos = e;
            continue;
        }
        if (rest >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            size_t e = find_after(sc, sc->pos + 9, "]]>");
            if (e == SIZE_MAX) return (struct token){TOK_TRUNCATED, NULL, 0};
            t = (struct token){TOK_CDATA, p + 9, e - 3 - (sc->pos + 9)};
            sc->pos = e;
            return t;
        }
        if (rest_is_prefix(sc, "<!--") || rest_is_prefix(sc, "<![CDATA[") || rest == 1)
            return (struct token){TOK_TRUNCATED, NULL, 0};
        if (p[1] == '!') return (struct token){TOK_MALFORMED, NULL, 0}; /* DOCTYPE and co. */

        bool end = p[1] == '/';
        sc->pos += end ? 2 : 1;
        const char *name = sc->p + sc->pos;
        size_t n = read_name(sc);
        if (n == 0)
            return (struct token){sc->pos == sc->len ? TOK_TRUNCATED : TOK_MALFORMED, NULL, 0};
        if (n > S3_XML_NAME_MAX) return (struct token){TOK_TOO_LONG_NAME, NULL, 0};
        if (end) {
            while (sc->pos < sc->len && is_space(sc->p[sc->pos])) sc->pos++;
            if (sc->pos == sc->len) return (struct token){TOK_TRUNCATED, NULL, 0};
            if (sc->p[sc->pos++] != '>') return (struct token){TOK_MALFORMED, NULL, 0};
            return (struct token){TOK_END, name, n};
        }
        if (sc->pos < sc->len && !is_space(sc->p[sc->pos]) && sc->p[sc->pos] != '>' &&
            sc->p[sc->pos] != '/')
            return (struct token){TOK_MALFORMED, NULL, 0};
        enum tok_kind k = skip_attributes(sc);
        return (struct token){k, k == TOK_START || k == TOK_EMPTY ? name : NULL, n};
    }
    return t;
}

/* ------------------------------------------------------------------------- */
/* Text                                                                       */

/* Appends one byte to out (cap includes the NUL); false when full. */
static bool out_byte(char *out, size_t cap, size_t *n, char c)
{
    if (out == NULL) {
        (*n)++;
        return true;
    }
    if (*n + 1 >= cap) return false;
    out[(*n)++] = c;
    return true;
}

static uint32_t char_ref(const char *s, size_t n, bool *ok)
{
    /* s: after "&#", up to ';' (n bytes) */
    uint32_t v = 0;
    bool hex = n > 0 && s[0] == 'x';
    size_t i = hex ? 1 : 0;
    *ok = n > i && n - i <= 8;
    for (; *ok && i < n; i++) {
        char c = s[i];
        int d = (c >= '0' && c <= '9') ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) *ok = false;
        else v = v * (hex ? 16 : 10) + (uint32_t)d;
    }
    if (v > 0x10FFFF || (v < 0x20 && v != '\t' && v != '\n' && v != '\r') || (v >= 0xD800 && v <= 0xDFFF)) *ok = false;
    return v;
}

/* Decodes text (entities) onto out[*n..); out may be NULL to only validate.
 * Returns S3_XML_OK, S3_XML_MALFORMED or S3_XML_TOO_LONG. */
static enum s3_xml_status decode_text(const char *s, size_t len, bool raw, char *out, size_t cap,
                                      size_t *n)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"quot", '"'}, {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"apos", '\''}};
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return S3_XML_MALFORMED;
        if (raw || c != '&') {
            if (!out_byte(out, cap, n, s[i])) return S3_XML_TOO_LONG;
            continue;
        }
        const char *semi = memchr(s + i + 1, ';', len - i - 1 < 12 ? len - i - 1 : 12);
        if (semi == NULL) return S3_XML_MALFORMED;
        const char *ent = s + i + 1;
        size_t elen = (size_t)(semi - ent);
        char utf8[4];
        size_t ulen = 0;
        if (elen > 0 && ent[0] == '#') {
            bool ok;
            uint32_t cp = char_ref(ent + 1, elen - 1, &ok);
            if (!ok) return S3_XML_MALFORMED;
            if (cp < 0x80) {
                utf8[ulen++] = (char)cp;
            } else if (cp < 0x800) {
                utf8[ulen++] = (char)(0xC0 | (cp >> 6));
                utf8[ulen++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                utf8[ulen++] = (char)(0xE0 | (cp >> 12));
                utf8[ulen++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                utf8[ulen++] = (char)(0x80 | (cp & 0x3F));
            } else {
                utf8[ulen++] = (char)(0xF0 | (cp >> 18));
                utf8[ulen++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                utf8[ulen++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                utf8[ulen++] = (char)(0x80 | (cp & 0x3F));
            }
        } else {
            for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
                if (strlen(named[k].name) == elen && memcmp(named[k].name, ent, elen) == 0)
                    utf8[ulen++] = named[k].c;
            if (ulen == 0) return S3_XML_MALFORMED;
        }
        if (out != NULL && *n + ulen + 1 > cap) return S3_XML_TOO_LONG;
        for (size_t k = 0; k < ulen; k++) out_byte(out, cap, n, utf8[k]);
        i = (size_t)(semi - s);
    }
    return S3_XML_OK;
}

static bool all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i])) return false;
    return true;
}

static enum s3_xml_status token_error(enum tok_kind k)
{
    if (k == TOK_TRUNCATED) return S3_XML_TRUNCATED;
    if (k == TOK_TOO_LONG_NAME) return S3_XML_TOO_DEEP;
    return S3_XML_MALFORMED;
}

/* ------------------------------------------------------------------------- */
/* Walking the document                                                       */

struct walk {
    struct scan sc;
    const char *names[S3_XML_DEPTH_MAX];
    size_t lens[S3_XML_DEPTH_MAX];
    size_t depth;
    bool root_seen;
    bool root_closed;
};

/* Advances one token and keeps the element stack; returns OK, or an error. On
 * OK, *t is the token (TOK_EOF at the end). */
static enum s3_xml_status walk_next(struct walk *w, struct token *t)
{
    *t = next_token(&w->sc);
    switch (t->kind) {
    case TOK_EOF:
        if (!w->root_seen) return S3_XML_EMPTY;
        return w->root_closed ? S3_XML_OK : S3_XML_TRUNCATED;
    case TOK_TEXT:
    case TOK_CDATA:
        if (w->depth == 0 && (t->kind == TOK_CDATA || !all_space(t->s, t->n)))
            return S3_XML_MALFORMED;
        size_t n = 0;
        return decode_text(t->s, t->n, t->kind == TOK_CDATA, NULL, 0, &n);
    case TOK_START:
    case TOK_EMPTY:
        if (w->root_closed) return S3_XML_MALFORMED; /* a second root */
        w->root_seen = true;
        if (t->kind == TOK_EMPTY) {
            if (w->depth == 0) w->root_closed = true;
            return S3_XML_OK;
        }
        if (w->depth == S3_XML_DEPTH_MAX) return S3_XML_TOO_DEEP;
        w->names[w->depth] = t->s;
        w->lens[w->depth] = t->n;
        w->depth++;
        return S3_XML_OK;
    case TOK_END:
        if (w->depth == 0) return S3_XML_MALFORMED;
        w->depth--;
        if (w->lens[w->depth] != t->n || memcmp(w->names[w->depth], t->s, t->n) != 0)
            return S3_XML_MALFORMED;
        if (w->depth == 0) w->root_closed = true;
        return S3_XML_OK;
    default:
        return token_error(t->kind);
    }
}

static void walk_init(struct walk *w, const char *xml, size_t len)
{
    assert(xml != NULL || len == 0);
    memset(w, 0, sizeof *w);
    w->sc.p = xml ? xml : "";
    w->sc.len = len;
}

enum s3_xml_status s3_xml_check(const char *xml, size_t len, char *root, size_t cap)
{
    struct walk w;
    walk_init(&w, xml, len);
    if (root != NULL && cap > 0) root[0] = '\0';
    bool named = false;
    /* Each step consumes at least one byte or ends: bounded by len + 1 steps. */
    for (size_t steps = 0; steps <= len + 1; steps++) {
        struct token t;
        enum s3_xml_status st = walk_next(&w, &t);
        if (st != S3_XML_OK) return st;
        if (!named && (t.kind == TOK_START || t.kind == TOK_EMPTY)) {
            named = true;
            if (root != NULL && cap > 0) {
                size_t n = t.n < cap - 1 ? t.n : cap - 1;
                memcpy(root, t.s, n);
                root[n] = '\0';
            }
        }
        if (t.kind == TOK_EOF) return S3_XML_OK;
    }
    assert(false);
    return S3_XML_MALFORMED;
}

/* Splits "A/B/C" into segments; false when too deep or a segment is empty. */
static bool split_path(const char *path, const char **seg, size_t *len, size_t *count)
{
    *count = 0;
    const char *p = path;
    while (true) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || *count == S3_XML_DEPTH_MAX) return false;
        seg[*count] = p;
        len[(*count)++] = n;
        if (slash == NULL) return true;
        p = slash + 1;
    }
}

static bool stack_is_path(const struct walk *w, const char **seg, const size_t *len, size_t count)
{
    if (w->depth != count) return false;
    for (size_t i = 0; i < count; i++)
        if (w->lens[i] != len[i] || memcmp(w->names[i], seg[i], len[i]) != 0) return false;
    return true;
}

/* Cuts out[0..*n) back to a UTF-8 character boundary. */
static void cut_utf8(char *out, size_t *n)
{
    size_t k = *n;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80) k--;
    if (k > 0 && (unsigned char)out[k - 1] >= 0xC0) {
        unsigned char lead = (unsigned char)out[k - 1];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (*n - (k - 1) < want) *n = k - 1;
    }
    out[*n] = '\0';
}

enum s3_xml_status s3_xml_get(const char *xml, size_t len, const char *path, char *out,
                              size_t cap, size_t *out_len)
{
    assert(path != NULL && out != NULL && cap > 0);
    const char *seg[S3_XML_DEPTH_MAX];
    size_t seglen[S3_XML_DEPTH_MAX], count, n = 0;
    out[0] = '\0';
    if (out_len != NULL) *out_len = 0;
    if (!split_path(path, seg, seglen, &count)) return S3_XML_NOT_FOUND;

    struct walk w;
    walk_init(&w, xml, len);
    size_t inside = 0; /* depth of the element being copied, 0 when none */
    for (size_t steps = 0; steps <= len + 1; steps++) {
        struct token t;
        enum s3_xml_status st = walk_next(&w, &t);
        if (st != S3_XML_OK || t.kind == TOK_EOF) {
            out[0] = '\0'; /* drop a partial copy: the element never closed */
            if (st == S3_XML_OK || st == S3_XML_EMPTY) return S3_XML_NOT_FOUND;
            return st;
        }
        if (inside == 0) {
            if (t.kind == TOK_EMPTY && w.depth + 1 == count) {
                /* <Code/>: compare with the stack plus this name */
                bool match = true;
                for (size_t i = 0; i + 1 < count; i++)
                    match = match && w.lens[i] == seglen[i] && !memcmp(w.names[i], seg[i], seglen[i]);
                if (match && t.n == seglen[count - 1] && !memcmp(t.s, seg[count - 1], t.n))
                    return S3_XML_OK;
            }
            if (t.kind == TOK_START && stack_is_path(&w, seg, seglen, count)) inside = w.depth;
            continue;
        }
        if ((t.kind == TOK_TEXT || t.kind == TOK_CDATA) && w.depth == inside) {
            st = decode_text(t.s, t.n, t.kind == TOK_CDATA, out, cap, &n);
            if (st == S3_XML_TOO_LONG) {
                cut_utf8(out, &n);
                if (out_len != NULL) *out_len = n;
            } else if (st != S3_XML_OK) {
                out[0] = '\0';
            }
            if (st != S3_XML_OK) return st;
        }
        if (t.kind == TOK_END && w.depth + 1 == inside) {
            out[n] = '\0';
            if (out_len != NULL) *out_len = n;
            return S3_XML_OK;
        }
    }
    assert(false);
    return S3_XML_MALFORMED;
}

enum s3_xml_status s3_xml_parse_error(const char *xml, size_t len, struct s3_xml_error *e)
{
    assert(e != NULL);
    memset(e, 0, sizeof *e);
    char root[S3_XML_NAME_MAX + 1];
    enum s3_xml_status st = s3_xml_check(xml, len, root, sizeof root);
    if (st != S3_XML_OK) return st;
    if (strcmp(root, "Error") != 0) return S3_XML_NOT_FOUND;
    /* Over-long fields keep their (truncated) prefix: still worth reporting. */
    s3_xml_get(xml, len, "Error/Code", e->code, sizeof e->code, NULL);
    s3_xml_get(xml, len, "Error/Message", e->message, sizeof e->message, NULL);
    s3_xml_get(xml, len, "Error/RequestId", e->request_id, sizeof e->request_id, NULL);
    return S3_XML_OK;
}

enum s3_xml_verdict s3_xml_verdict(const char *xml, size_t len, const char *expected_root)
{
    assert(expected_root != NULL);
    char root[S3_XML_NAME_MAX + 1];
    if (s3_xml_check(xml, len, root, sizeof root) != S3_XML_OK) return S3_XML_VERDICT_BROKEN;
    if (strcmp(root, expected_root) == 0) return S3_XML_VERDICT_OK;
    return strcmp(root, "Error") == 0 ? S3_XML_VERDICT_ERROR : S3_XML_VERDICT_BROKEN;
}

const char *s3_xml_strerror(enum s3_xml_status status)
{
    switch (status) {
    case S3_XML_OK: return "ok";
    case S3_XML_NOT_FOUND: return "element not found";
    case S3_XML_EMPTY: return "empty body";
    case S3_XML_TRUNCATED: return "XML body cut short";
    case S3_XML_MALFORMED: return "malformed XML body";
    case S3_XML_TOO_DEEP: return "XML nested too deep or with too long a name";
    case S3_XML_TOO_LONG: return "XML value longer than its buffer";
    }
    return "unknown XML error";
}
