// fuzz-sources: src/json.c src/err.c
/* The JSON parser against a small reference validator (recursive descent, written
 * independently and as plainly as possible, bounded to the same depth), plus the
 * invariants of everything the parser hands out: slices inside the input, every
 * string unescapes to valid UTF-8 no longer than its raw text and compares equal
 * to it, number conversions agree with strtod/strtoll, nested raw values parse by
 * themselves, the duplicate-name check agrees with a brute-force comparison. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "src/json.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_json: check failed at line %d: %s\n", __LINE__, #cond);     \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Reference validator: RFC 8259 read literally. */

struct ref {
    const uint8_t *b;
    size_t n, i;
    int depth;
};

static bool ref_value(struct ref *r);

static void ref_ws(struct ref *r)
{
    while (r->i < r->n && strchr(" \t\n\r", r->b[r->i]) != NULL && r->b[r->i] != 0) r->i++;
}

static bool ref_eat(struct ref *r, uint8_t c)
{
    if (r->i < r->n && r->b[r->i] == c) {
        r->i++;
        return true;
    }
    return false;
}

static long ref_hex4(struct ref *r)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        if (r->i >= r->n) return -1;
        uint8_t c = r->b[r->i++];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    return v;
}

/* One UTF-8 character: decode the code point, then check it is the shortest form,
 * not a surrogate and not above U+10FFFF. */
static bool ref_utf8(const uint8_t *b, size_t n, size_t *i)
{
    uint8_t c = b[*i];
    size_t len;
    unsigned long cp;
    if (c < 0x80) len = 1, cp = c;
    else if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
    else return false;
    if (n - *i < len) return false;
    for (size_t k = 1; k < len; k++) {
        if ((b[*i + k] & 0xC0) != 0x80) return false;
        cp = cp << 6 | (b[*i + k] & 0x3F);
    }
    static const unsigned long min[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    *i += len;
    return true;
}

static bool ref_string(struct ref *r)
{
    if (!ref_eat(r, '"')) return false;
    for (;;) {
        if (r->i >= r->n) return false;
        uint8_t c = r->b[r->i];
        if (c == '"') {
            r->i++;
            return true;
        }
        if (c < 0x20) return false;
        if (c != '\\') {
            if (!ref_utf8(r->b, r->n, &r->i)) return false;
            continue;
        }
        r->i++;
        if (r->i >= r->n) return false;
        c = r->b[r->i++];
        if (c == 'u') {
            long u = ref_hex4(r);
            if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF)) return false;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (!ref_eat(r, '\\') || !ref_eat(r, 'u')) return false;
                long lo = ref_hex4(r);
                if (lo < 0xDC00 || lo > 0xDFFF) return false;
            }
        } else if (strchr("\"\\/bfnrt", c) == NULL || c == 0) {
            return false;
        }
    }
}

static bool ref_digits(struct ref *r)
{
    size_t start = r->i;
    while (r->i < r->n && r->b[r->i] >= '0' && r->b[r->i] <= '9') r->i++;
    return r->i > start;
}

static bool ref_number(struct ref *r)
{
    ref_eat(r, '-');
    if (ref_eat(r, '0')) {
        /* nothing: a leading zero stands alone */
    } else if (r->i < r->n && r->b[r->i] >= '1' && r->b[r->i] <= '9') {
        ref_digits(r);
    } else {
        return false;
    }
    if (ref_eat(r, '.') && !ref_digits(r)) return false;
    if (ref_eat(r, 'e') || ref_eat(r, 'E')) {
        if (!ref_eat(r, '+')) ref_eat(r, '-');
        if (!ref_digits(r)) return false;
    }
    return true;
}

static bool ref_word(struct ref *r, const char *w)
{
    size_t len = strlen(w);
    if (r->n - r->i < len || memcmp(r->b + r->i, w, len) != 0) return false;
    r->i += len;
    return true;
}

/* Recursion is bounded by the depth limit (64). */
static bool ref_container(struct ref *r, uint8_t close)
{
    if (++r->depth > JSON_DEPTH_MAX) return false;
    r->i++;
    ref_ws(r);
    if (ref_eat(r, close)) {
        r->depth--;
        return true;
    }
    for (;;) {
        if (close == '}') {
            if (!ref_string(r)) return false;
            ref_ws(r);
            if (!ref_eat(r, ':')) return false;
            ref_ws(r);
        }
        if (!ref_value(r)) return false;
        ref_ws(r);
        if (ref_eat(r, close)) {
            r->depth--;
            return true;
        }
        if (!ref_eat(r, ',')) return false;
        ref_ws(r);
    }
}

static bool ref_value(struct ref *r)
{
    if (r->i >= r->n) return false;
    switch (r->b[r->i]) {
    case '{': return ref_container(r, '}');
    case '[': return ref_container(r, ']');
    case '"': return ref_string(r);
    case 't': return ref_word(r, "true");
    case 'f': return ref_word(r, "false");
    case 'n': return ref_word(r, "null");
    default: return ref_number(r);
    }
}

static bool ref_valid(const uint8_t *b, size_t n)
{
    struct ref r = { .b = b, .n = n, .i = 0, .depth = 0 };
    ref_ws(&r);
    if (!ref_value(&r)) return false;
    ref_ws(&r);
    return r.i == n;
}

/* ------------------------------------------------------------------------ */
/* Invariants of the values handed out */

static const char *doc_start, *doc_end;

static void check_slice(const struct json_value *v)
{
    CHECK(v->text >= doc_start && v->len <= (size_t)(doc_end - v->text));
    CHECK(v->kind >= JSON_NULL && v->kind <= JSON_ARRAY);
}

static void check_string(const struct json_value *v)
{
    CHECK(v->kind == JSON_STRING);
    check_slice(v);
    char *out = malloc(v->len > 0 ? v->len : 1);
    CHECK(out != NULL);
    size_t len = 0;
    struct lw_err err;
    CHECK(json_unescape(v, out, v->len, &len, &err));
    CHECK(len <= v->len);
    if (!v->escaped) CHECK(len == v->len && memcmp(out, v->text, len) == 0);
    CHECK(json_string_eq(v, out, len));
    if (len > 0) CHECK(!json_string_eq(v, out, len - 1));
    for (size_t i = 0; i < len;) CHECK(ref_utf8((const uint8_t *)out, len, &i));
    if (len > 0) {
        /* One byte too small must be refused, not overrun. */
        size_t short_len;
        CHECK(!json_unescape(v, out, len - 1, &short_len, &err) && err.code == JSON_ESPACE);
    }
    free(out);
}

static void check_number(const struct json_value *v)
{
    check_slice(v);
    char buf[4096];
    if (v->len >= sizeof buf) return;
    memcpy(buf, v->text, v->len);
    buf[v->len] = '\0';
    struct lw_err err;
    double d = 0, want = strtod(buf, NULL);
    bool have_d = json_number_to_double(v->text, v->len, &d, &err);
    if (have_d) {
        CHECK(memcmp(&d, &want, sizeof d) == 0);
    } else {
        CHECK(err.code == JSON_ERANGE && isinf(want));
    }
    int64_t i;
    bool ok = json_number_to_i64(v->text, v->len, &i, &err);
    if (json_number_is_integer(v->text, v->len)) {
        errno = 0;
        long long ll = strtoll(buf, NULL, 10);
        if (errno == ERANGE) CHECK(!ok && err.code == JSON_ERANGE);
        else CHECK(ok && i == ll);
    } else if (ok) {
        /* A non-literal integer: its double must be that integer when it is exact. */
        CHECK(have_d);
        if (i > -(1LL << 53) && i < (1LL << 53)) CHECK(d == (double)i);
    } else {
        CHECK(err.code == JSON_ENOTINT || err.code == JSON_ERANGE);
    }
}

static void check_value(const struct json_value *v);

/* Nested raw text is a valid JSON text by itself, of the same kind; the elements of
 * an array are checked one level down. */
static void check_nested(const struct json_value *v)
{
    check_slice(v);
    struct json_value again;
    struct lw_err err;
    CHECK(json_parse(v->text, v->len, NULL, &again, &err));
    CHECK(again.kind == v->kind && again.len == v->len && again.text == v->text);
    CHECK(v->text[0] == (v->kind == JSON_OBJECT ? '{' : '['));
    CHECK(v->text[v->len - 1] == (v->kind == JSON_OBJECT ? '}' : ']'));
    if (v->kind != JSON_ARRAY) return;
    struct json_iter it;
    struct json_value e;
    CHECK(json_array_begin(&it, v->text, v->len, NULL, &err));
    int r;
    while ((r = json_array_next(&it, &e, &err)) == JSON_ITEM) {
        CHECK(e.text >= v->text && e.text + e.len <= v->text + v->len);
        if (e.kind == JSON_STRING) check_string(&e);
        else if (e.kind == JSON_NUMBER) check_number(&e);
    }
    CHECK(r == JSON_END);
}

static void check_value(const struct json_value *v)
{
    switch (v->kind) {
    case JSON_STRING: check_string(v); break;
    case JSON_NUMBER: check_number(v); break;
    case JSON_OBJECT:
    case JSON_ARRAY: check_nested(v); break;
    case JSON_NULL: CHECK(v->len == 4 && memcmp(v->text, "null", 4) == 0); break;
    case JSON_TRUE: CHECK(v->len == 4 && memcmp(v->text, "true", 4) == 0); break;
    case JSON_FALSE: CHECK(v->len == 5 && memcmp(v->text, "false", 5) == 0); break;
    }
}

static bool decoded_same(const struct json_value *a, const struct json_value *b)
{
    char x[512], y[512];
    size_t lx, ly;
    struct lw_err err;
    if (a->len > sizeof x || b->len > sizeof y) return false;
    CHECK(json_unescape(a, x, sizeof x, &lx, &err));
    CHECK(json_unescape(b, y, sizeof y, &ly, &err));
    return lx == ly && memcmp(x, y, lx) == 0;
}

enum { KEYS_KEPT = 64 };

/* Iterates the object; returns the result and checks each member. With a key set,
 * compares its verdict with a brute-force search for a repeated name. */
static int iterate_object(const char *buf, size_t size, struct json_keyset *ks)
{
    struct json_options opt = { .keyset = ks };
    struct json_iter it;
    struct json_member m;
    struct lw_err err;
    struct json_value keys[KEYS_KEPT];
    size_t count = 0;
    if (!json_object_begin(&it, buf, size, &opt, &err)) return JSON_ERROR;
    int r;
    while ((r = json_object_next(&it, &m, &err)) == JSON_ITEM) {
        check_string(&m.key);
        check_value(&m.value);
        CHECK(m.key.text + m.key.len < m.value.text);
        for (size_t k = 0; ks != NULL && k < count && k < KEYS_KEPT; k++)
            CHECK(m.key.len > 512 || !decoded_same(&keys[k], &m.key));
        if (count < KEYS_KEPT) keys[count] = m.key;
        count++;
    }
    if (r == JSON_ERROR) {
        CHECK(it.error_offset <= size);
        CHECK(strncmp(err.msg, "offset ", 7) == 0);
        CHECK(json_object_next(&it, &m, &err) == JSON_ERROR);
        if (err.code == JSON_EDUPLICATE) CHECK(ks != NULL && buf[it.error_offset] == '"');
    }
    return r;
}

LW_FUZZ_ENTRY(json)
{
    /* An exact-size copy, so that any read past the end is caught. */
    char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) return 0;
    if (size > 0) memcpy(buf, data, size);
    doc_start = buf;
    doc_end = buf + size;

    struct json_value v;
    struct lw_err err;
    bool ok = json_parse(buf, size, NULL, &v, &err);
    CHECK(ok == ref_valid((const uint8_t *)buf, size));
    if (ok) {
        check_value(&v);
    } else {
        CHECK(strncmp(err.msg, "offset ", 7) == 0);
        CHECK(err.code >= JSON_ESYNTAX && err.code <= JSON_ENUMBER);
    }

    /* A lower depth limit only ever refuses more. */
    struct json_options low = { .depth_max = 1 + (unsigned)(size % 8) };
    struct json_value lv;
    if (json_parse(buf, size, &low, &lv, &err)) CHECK(ok && lv.len == v.len);
    else if (ok) CHECK(err.code == JSON_EDEPTH);

    /* The iterators agree with json_parse. */
    size_t i = 0;
    while (i < size && strchr(" \t\n\r", buf[i]) != NULL && buf[i] != 0) i++;
    if (i < size && buf[i] == '{') {
        CHECK((iterate_object(buf, size, NULL) == JSON_END) == ok);
        static struct json_keyset ks;
        int r = iterate_object(buf, size, &ks);
        if (!ok) CHECK(r == JSON_ERROR);
    } else if (i < size && buf[i] == '[') {
        struct json_iter it;
        struct json_value e;
        CHECK(json_array_begin(&it, buf, size, NULL, &err));
        int r;
        while ((r = json_array_next(&it, &e, &err)) == JSON_ITEM) check_value(&e);
        CHECK((r == JSON_END) == ok);
    }

    free(buf);
    return 0;
}
