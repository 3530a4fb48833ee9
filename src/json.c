#include "json.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Iteration states (json_iter.state_). */
enum { ST_FIRST, ST_NEXT, ST_DONE, ST_FAILED };

/* The nesting stack: one bit per open container, set for an object. */
enum { STACK_WORDS = (JSON_DEPTH_MAX + 63) / 64 };

_Static_assert(JSON_DEPTH_MAX >= 1, "JSON_DEPTH_MAX must allow the top-level value");

static inline bool is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static inline bool is_digit(uint8_t c) { return (unsigned)(c - '0') < 10u; }

/* A byte that may stand for itself in a string: printable ASCII but '"' and '\'. */
static inline bool is_plain(uint8_t c)
{
    return (unsigned)(c - 0x20) < 0x60u && c != '"' && c != '\\';
}

/* Bytes that may not follow a number or literal directly: they would make it a
 * different (invalid) token, like "12a", "1.5.3" or "truex". */
static inline bool is_word(uint8_t c)
{
    return is_digit(c) || (unsigned)((c | 0x20) - 'a') < 26u || c == '.' || c == '+' ||
           c == '-' || c == '_';
}

static inline size_t skip_ws(const uint8_t *b, size_t n, size_t i)
{
    while (i < n && is_ws(b[i])) i++;
    return i;
}

static inline int hex_value(uint8_t c)
{
    if (is_digit(c)) return c - '0';
    unsigned l = (unsigned)((c | 0x20) - 'a');
    return l < 6u ? (int)l + 10 : -1;
}

/* The high bit of each of the 8 bytes of w that is not plain (see is_plain): a
 * control byte, '"', '\' or a byte >= 0x80 (SWAR: a subtraction's borrow sets a
 * byte's high bit where the byte was below the constant). Borrows may also flag
 * bytes above a flagged one, but never below: the lowest flag is exact. */
static inline uint64_t swar_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = w ^ (ones * '"');
    uint64_t s = w ^ (ones * '\\');
    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((s - ones) & ~s) | w) & highs;
}

/* ------------------------------------------------------------------------ */
/* Error messages */

/* How a byte looks in a message: 'x', byte 0xNN, or end of input. */
struct found {
    char s[24];
};

static struct found found_at(const uint8_t *b, size_t n, size_t i)
{
    struct found f;
    if (i >= n) snprintf(f.s, sizeof f.s, "end of input");
    else if (b[i] == '\'') snprintf(f.s, sizeof f.s, "\"'\"");
    else if (b[i] >= 0x20 && b[i] < 0x7f) snprintf(f.s, sizeof f.s, "'%c'", b[i]);
    else snprintf(f.s, sizeof f.s, "byte 0x%02X", b[i]);
    return f;
}

/* Text quoted into a message: printable ASCII kept, other bytes as \xNN, cut at
 * about 48 bytes with "...". */
struct quoted {
    char s[208];
};

static struct quoted quote_text(const char *text, size_t len)
{
    struct quoted q;
    size_t o = 0;
    const size_t shown_max = 48;
    for (size_t i = 0; i < len && i < shown_max; i++) {
        uint8_t c = (uint8_t)text[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') q.s[o++] = (char)c;
        else o += (size_t)snprintf(q.s + o, sizeof q.s - o, "\\x%02X", c);
    }
    if (len > shown_max) {
        memcpy(q.s + o, "...", 3);
        o += 3;
    }
    assert(o < sizeof q.s);
    q.s[o] = '\0';
    return q;
}

/* Fills err with "offset N: <message>". */
static void set_error(struct lw_err *err, int code, size_t off, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void set_error(struct lw_err *err, int code, size_t off, const char *fmt, va_list ap)
{
    char msg[LW_ERR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    lw_err_set(err, code, "offset %zu: %s", off, msg);
}

static void error_at(struct lw_err *err, int code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error_at(struct lw_err *err, int code, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(err, code, off, fmt, ap);
    va_end(ap);
}

/* Stops the iteration with an error at `off`. Returns false. */
static bool fail(struct json_iter *it, struct lw_err *err, int code, size_t off, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
static bool fail(struct json_iter *it, struct lw_err *err, int code, size_t off, const char *fmt,
                 ...)
{
    it->state_ = ST_FAILED;
    it->error_offset = off;
    va_list ap;
    va_start(ap, fmt);
    set_error(err, code, off, fmt, ap);
    va_end(ap);
    return false;
}

/* ------------------------------------------------------------------------ */
/* Escapes and UTF-8, shared by the scanner and json_unescape */

enum esc {
    ESC_OK,
    ESC_TRUNCATED,  /* the input ends inside the escape */
    ESC_BAD,        /* '\' followed by a byte that starts no escape */
    ESC_BAD_HEX,    /* \u not followed by 4 hex digits */
    ESC_LONE_HIGH,  /* \uD800-\uDBFF not followed by \uDC00-\uDFFF */
    ESC_LONE_LOW,   /* \uDC00-\uDFFF without a high surrogate before it */
};

/* Reads 4 hex digits at b[i]; returns their value, or -1 with *bad at the first
 * non-hex digit (or at n when the input ends). */
static long hex4(const uint8_t *b, size_t n, size_t i, size_t *bad)
{
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        int d = i + k < n ? hex_value(b[i + k]) : -1;
        if (d < 0) {
            *bad = i + k;
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* Validates the escape at b[i] == '\'. On ESC_OK: *cp is the code point and *adv
 * the escape's length (2, 6 or 12 bytes for a surrogate pair). Otherwise *cp is the
 * \u value if one was read and *adv the distance to the offending byte. */
static enum esc escape_read(const uint8_t *b, size_t n, size_t i, uint32_t *cp, size_t *adv)
{
    assert(i < n && b[i] == '\\');
    *cp = 0;
    *adv = 1;
    if (i + 1 >= n) return ESC_TRUNCATED;
    *adv = 2;
    switch (b[i + 1]) {
    case '"': *cp = '"'; return ESC_OK;
    case '\\': *cp = '\\'; return ESC_OK;
    case '/': *cp = '/'; return ESC_OK;
    case 'b': *cp = '\b'; return ESC_OK;
    case 'f': *cp = '\f'; return ESC_OK;
    case 'n': *cp = '\n'; return ESC_OK;
    case 'r': *cp = '\r'; return ESC_OK;
    case 't': *cp = '\t'; return ESC_OK;
    case 'u': break;
    default: *adv = 1; return ESC_BAD;
    }
    size_t bad;
    long hi = hex4(b, n, i + 2, &bad);
    if (hi < 0) {
        *adv = bad - i;
        return bad >= n ? ESC_TRUNCATED : ESC_BAD_HEX;
    }
    *cp = (uint32_t)hi;
    *adv = 6;
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
        *adv = 0;
        return ESC_LONE_LOW;
    }
    if (hi < 0xD800 || hi > 0xDBFF) return ESC_OK;
    /* A high surrogate: the low half must follow as a second \u escape. */
    if (i + 6 >= n || (b[i + 6] == '\\' && i + 7 >= n)) {
        *adv = n - i;
        return ESC_TRUNCATED;
    }
    if (b[i + 6] != '\\' || b[i + 7] != 'u') {
        *adv = 0;
        return ESC_LONE_HIGH;
    }
    long lo = hex4(b, n, i + 8, &bad);
    if (lo < 0) {
        *adv = bad - i;
        return bad >= n ? ESC_TRUNCATED : ESC_BAD_HEX;
    }
    if (lo < 0xDC00 || lo > 0xDFFF) {
        *adv = 0;
        return ESC_LONE_HIGH;
    }
    *cp = 0x10000u + (((uint32_t)hi - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
    *adv = 12;
    return ESC_OK;
}

/* Fills err for escape_read's result r at b[i]; `base` is the offset of b[0] in
 * the parsed buffer. Returns the offset reported. */
static size_t escape_error(struct lw_err *err, size_t base, const uint8_t *b, size_t n, size_t i,
                           enum esc r, uint32_t cp, size_t adv)
{
    size_t at = base + i + adv;
    switch (r) {
    case ESC_TRUNCATED:
        error_at(err, JSON_ETRUNCATED, at, "input ends inside the escape sequence at offset %zu",
                 base + i);
        break;
    case ESC_BAD:
        if (b[i + 1] >= 0x20 && b[i + 1] < 0x7f)
            error_at(err, JSON_ESTRING, at - 1, "invalid escape '\\%c' in string", b[i + 1]);
        else
            error_at(err, JSON_ESTRING, at - 1, "invalid escape in string: '\\' followed by %s",
                     found_at(b, n, i + 1).s);
        break;
    case ESC_BAD_HEX:
        error_at(err, JSON_ESTRING, at, "invalid \\u escape: expected a hex digit, found %s",
                 found_at(b, n, i + adv).s);
        break;
    case ESC_LONE_HIGH:
        error_at(err, JSON_ESTRING, at,
                 "lone high surrogate \\u%04X in string (must be followed by a low surrogate "
                 "\\uDC00-\\uDFFF)",
                 (unsigned)cp);
        break;
    case ESC_LONE_LOW:
        error_at(err, JSON_ESTRING, at,
                 "lone low surrogate \\u%04X in string (must follow a high surrogate "
                 "\\uD800-\\uDBFF)",
                 (unsigned)cp);
        break;
    case ESC_OK:
        assert(false);
        break;
    }
    return at;
}

enum u8 {
    U8_OK,
    U8_TRUNCATED,     /* the input ends inside the sequence */
    U8_CONTINUATION,  /* a continuation byte where a character should start */
    U8_NEVER,         /* 0xF5-0xFF: never valid in UTF-8 */
    U8_OVERLONG,      /* C0, C1, E0 80-9F, F0 80-8F */
    U8_SURROGATE,     /* ED A0-BF: U+D800-U+DFFF encoded directly */
    U8_TOO_BIG,       /* F4 90-BF: above U+10FFFF */
    U8_NOT_CONT,      /* the sequence is cut short by a byte that is no continuation */
};

/* Validates the UTF-8 sequence at b[i] >= 0x80 (Unicode table 3-7). On U8_OK *adv
 * is its length, else the distance to the offending byte. */
static enum u8 utf8_read(const uint8_t *b, size_t n, size_t i, size_t *adv)
{
    uint8_t c = b[i];
    assert(c >= 0x80);
    *adv = 0;
    if (c < 0xC0) return U8_CONTINUATION;
    if (c < 0xC2) return U8_OVERLONG;
    if (c >= 0xF5) return U8_NEVER;
    size_t need = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    uint8_t lo = 0x80, hi = 0xBF;  /* the range of the second byte */
    enum u8 below = U8_OVERLONG, above = U8_OK;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F, above = U8_SURROGATE;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F, above = U8_TOO_BIG;
    for (size_t k = 1; k <= need; k++) {
        if (i + k >= n) {
            *adv = k;
            return U8_TRUNCATED;
        }
        uint8_t d = b[i + k];
        if ((d & 0xC0) != 0x80) {
            *adv = k;
            return U8_NOT_CONT;
        }
        if (k == 1 && d < lo) return below;
        if (k == 1 && d > hi) return above;
    }
    *adv = need + 1;
    return U8_OK;
}

/* Fills err for utf8_read's result r at b[i]. Returns the offset reported. */
static size_t utf8_error(struct lw_err *err, size_t base, const uint8_t *b, size_t i, enum u8 r,
                         size_t adv)
{
    size_t at = base + i + adv;
    uint8_t c = b[i];
    switch (r) {
    case U8_TRUNCATED:
        error_at(err, JSON_ETRUNCATED, at, "input ends inside the UTF-8 sequence at offset %zu",
                 base + i);
        break;
    case U8_CONTINUATION:
        error_at(err, JSON_EUTF8, at,
                 "invalid UTF-8 in string: continuation byte 0x%02X without a lead byte", c);
        break;
    case U8_NEVER:
        error_at(err, JSON_EUTF8, at, "invalid UTF-8 in string: byte 0x%02X never appears in UTF-8",
                 c);
        break;
    case U8_OVERLONG:
        if (c < 0xC2)
            error_at(err, JSON_EUTF8, at,
                     "invalid UTF-8 in string: overlong encoding (lead byte 0x%02X)", c);
        else
            error_at(err, JSON_EUTF8, at,
                     "invalid UTF-8 in string: overlong encoding (0x%02X 0x%02X)", c, b[i + 1]);
        break;
    case U8_SURROGATE:
        error_at(err, JSON_EUTF8, at,
                 "invalid UTF-8 in string: surrogate U+D800-U+DFFF encoded as UTF-8 "
                 "(0xED 0x%02X)",
                 b[i + 1]);
        break;
    case U8_TOO_BIG:
        error_at(err, JSON_EUTF8, at, "invalid UTF-8 in string: code point above U+10FFFF "
                                      "(0xF4 0x%02X)",
                 b[i + 1]);
        break;
    case U8_NOT_CONT:
        error_at(err, JSON_EUTF8, at,
                 "invalid UTF-8 in string: truncated sequence (lead byte 0x%02X, then byte "
                 "0x%02X which is no continuation byte)",
                 c, b[i + adv]);
        break;
    case U8_OK:
        assert(false);
        break;
    }
    return at;
}

/* Writes code point cp (a Unicode scalar value) as UTF-8; returns the length. */
static size_t utf8_put(uint8_t *o, uint32_t cp)
{
    assert(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF));
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ------------------------------------------------------------------------ */
/* Numbers */

/* The parts of a number text: [-] int_digits [. frac_digits] [e [+-] exp_digits]. */
struct num {
    bool neg, exp_neg;
    size_t int_start, int_end;
    size_t frac_start, frac_end;  /* empty when there is no fraction */
    size_t exp_start, exp_end;    /* empty when there is no exponent */
    size_t end;                   /* one past the last byte of the number */
};

enum num_result { NUM_OK, NUM_NO_DIGIT, NUM_LEADING_ZERO, NUM_NO_FRAC_DIGIT, NUM_NO_EXP_DIGIT };

/* Reads the number grammar of RFC 8259 at b[i]; on error *bad is the offending
 * byte's index. Stops at the first byte that cannot continue the number. */
static enum num_result num_read(const uint8_t *b, size_t n, size_t i, struct num *m, size_t *bad)
{
    m->exp_neg = false;
    m->neg = i < n && b[i] == '-';
    if (m->neg) i++;
    m->int_start = i;
    if (i >= n || !is_digit(b[i])) {
        *bad = i;
        return NUM_NO_DIGIT;
    }
    if (b[i] == '0') {
        i++;
        if (i < n && is_digit(b[i])) {
            *bad = i - 1;
            return NUM_LEADING_ZERO;
        }
    } else {
        while (i < n && is_digit(b[i])) i++;
    }
    m->int_end = i;
    m->frac_start = m->frac_end = i;
    if (i < n && b[i] == '.') {
        i++;
        m->frac_start = i;
        if (i >= n || !is_digit(b[i])) {
            *bad = i;
            return NUM_NO_FRAC_DIGIT;
        }
        while (i < n && is_digit(b[i])) i++;
        m->frac_end = i;
    }
    m->exp_start = m->exp_end = i;
    if (i < n && (b[i] == 'e' || b[i] == 'E')) {
        i++;
        if (i < n && (b[i] == '+' || b[i] == '-')) m->exp_neg = b[i++] == '-';
        m->exp_start = i;
        if (i >= n || !is_digit(b[i])) {
            *bad = i;
            return NUM_NO_EXP_DIGIT;
        }
        while (i < n && is_digit(b[i])) i++;
        m->exp_end = i;
    }
    m->end = i;
    return NUM_OK;
}

static const char *num_problem(enum num_result r)
{
    switch (r) {
    case NUM_NO_DIGIT: return "expected a digit in number";
    case NUM_LEADING_ZERO: return "leading zeros are not allowed in numbers";
    case NUM_NO_FRAC_DIGIT: return "expected a digit after '.' in number";
    case NUM_NO_EXP_DIGIT: return "expected a digit in the exponent of number";
    case NUM_OK: break;
    }
    return "?";
}

/* A number's value as D * 10^e10, where D is the digit string from the first to
 * the last nonzero significant digit (k digits, the '.' skipped). */
struct decimal {
    bool zero;        /* every digit is 0: D and e10 are unused */
    size_t first;     /* index of D's first digit in the int+frac digit sequence */
    size_t k;         /* digits in D (>= 1 unless zero) */
    int64_t e10;
};

/* The digit at index j of the int+frac digit sequence of m. */
static inline int num_digit(const uint8_t *b, const struct num *m, size_t j)
{
    size_t ni = m->int_end - m->int_start;
    return b[j < ni ? m->int_start + j : m->frac_start + (j - ni)] - '0';
}

static struct decimal num_decimal(const uint8_t *b, const struct num *m)
{
    struct decimal d = { .zero = true, .first = 0, .k = 0, .e10 = 0 };
    size_t ni = m->int_end - m->int_start, nf = m->frac_end - m->frac_start, total = ni + nf;
    size_t first = 0;
    while (first < total && num_digit(b, m, first) == 0) first++;
    if (first == total) return d;
    size_t last = total - 1;
    while (num_digit(b, m, last) == 0) last--;
    /* The exponent saturates far beyond any double or int64 range, so that
     * "1e99999999999999999999" cannot overflow. */
    int64_t exp = 0;
    for (size_t j = m->exp_start; j < m->exp_end; j++)
        if (exp < 1000000000) exp = exp * 10 + (b[j] - '0');
    if (m->exp_neg) exp = -exp;
    d.zero = false;
    d.first = first;
    d.k = last - first + 1;
    d.e10 = exp - (int64_t)nf + (int64_t)(total - 1 - last);
    return d;
}

/* ------------------------------------------------------------------------ */
/* The scanner */

/* Scans the string whose opening quote is at it->pos_, validating escapes and
 * UTF-8; leaves pos_ after the closing quote. */
static bool scan_string(struct json_iter *it, struct lw_err *err, bool *escaped)
{
    const uint8_t *b = it->buf_;
    size_t n = it->len_, start = it->pos_, i = start + 1;
    bool esc = false;
    assert(start < n && b[start] == '"');
    for (;;) {
        /* The fast path: 8 plain ASCII bytes at a time, then byte by byte. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, b + i, sizeof w);
            uint64_t special = swar_special(w);
            if (special != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                i += (size_t)__builtin_ctzll(special) / 8;  /* the first special byte */
#endif
                break;
            }
            i += 8;
        }
        while (i < n && is_plain(b[i])) i++;
        if (i >= n)
            return fail(it, err, JSON_ETRUNCATED, n,
                        "input ends inside the string that starts at offset %zu", start);
        uint8_t c = b[i];
        if (c == '"') break;
        if (c == '\\') {
            uint32_t cp;
            size_t adv;
            enum esc r = escape_read(b, n, i, &cp, &adv);
            if (r != ESC_OK) {
                it->error_offset = escape_error(err, 0, b, n, i, r, cp, adv);
                it->state_ = ST_FAILED;
                return false;
            }
            esc = true;
            i += adv;
        } else if (c < 0x20) {
            return fail(it, err, JSON_ESTRING, i,
                        "raw control character 0x%02X in string (must be escaped)", c);
        } else {
            size_t adv;
            enum u8 r = utf8_read(b, n, i, &adv);
            if (r != U8_OK) {
                it->error_offset = utf8_error(err, 0, b, i, r, adv);
                it->state_ = ST_FAILED;
                return false;
            }
            i += adv;
        }
    }
    it->pos_ = i + 1;
    *escaped = esc;
    return true;
}

static bool scan_number(struct json_iter *it, struct lw_err *err)
{
    const uint8_t *b = it->buf_;
    size_t n = it->len_, start = it->pos_;
    struct num m;
    size_t bad = start;
    enum num_result r = num_read(b, n, start, &m, &bad);
    if (r != NUM_OK)
        return fail(it, err, bad >= n ? JSON_ETRUNCATED : JSON_ENUMBER, bad, "%s, found %s",
                    num_problem(r), found_at(b, n, bad).s);
    if (m.end < n && is_word(b[m.end]))
        return fail(it, err, JSON_ENUMBER, m.end, "invalid character %s in number",
                    found_at(b, n, m.end).s);
    it->pos_ = m.end;
    return true;
}

static bool scan_literal(struct json_iter *it, struct lw_err *err, const char *word)
{
    const uint8_t *b = it->buf_;
    size_t n = it->len_, i = it->pos_, len = strlen(word);
    size_t have = n - i < len ? n - i : len;
    if (memcmp(b + i, word, have) != 0 || have < len) {
        size_t k = 0;
        while (k < have && b[i + k] == (uint8_t)word[k]) k++;
        if (k == have && have < len)
            return fail(it, err, JSON_ETRUNCATED, n, "input ends inside '%s'", word);
        return fail(it, err, JSON_ESYNTAX, i + k, "invalid literal: expected '%s', found %s", word,
                    found_at(b, n, i + k).s);
    }
    if (i + len < n && is_word(b[i + len]))
        return fail(it, err, JSON_ESYNTAX, i + len, "unexpected %s after '%s'",
                    found_at(b, n, i + len).s, word);
    it->pos_ = i + len;
    return true;
}

/* Scans a value that is not an object or array, at it->pos_ (no whitespace before
 * it), into v. `ctx` names what the value was expected for ("a value", "a value
 * after ','"). */
static bool scan_scalar(struct json_iter *it, struct lw_err *err, struct json_value *v,
                        const char *ctx)
{
    const uint8_t *b = it->buf_;
    size_t n = it->len_, i = it->pos_;
    v->offset = i;
    v->escaped = false;
    if (i >= n) return fail(it, err, JSON_ETRUNCATED, i, "expected %s, found end of input", ctx);
    bool ok;
    switch (b[i]) {
    case '"':
        v->kind = JSON_STRING;
        if (!scan_string(it, err, &v->escaped)) return false;
        v->text = (const char *)b + i + 1;
        v->len = it->pos_ - i - 2;
        return true;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        v->kind = JSON_NUMBER;
        ok = scan_number(it, err);
        break;
    case 't': v->kind = JSON_TRUE; ok = scan_literal(it, err, "true"); break;
    case 'f': v->kind = JSON_FALSE; ok = scan_literal(it, err, "false"); break;
    case 'n': v->kind = JSON_NULL; ok = scan_literal(it, err, "null"); break;
    case '+':
        return fail(it, err, JSON_ENUMBER, i, "'+' is not allowed before a number");
    case '.':
        return fail(it, err, JSON_ENUMBER, i, "a number must start with a digit, found '.'");
    case '\'':
        return fail(it, err, JSON_ESYNTAX, i, "strings must be in double quotes, found \"'\"");
    default:
        return fail(it, err, JSON_ESYNTAX, i, "expected %s, found %s", ctx, found_at(b, n, i).s);
    }
    if (!ok) return false;
    v->text = (const char *)b + i;
    v->len = it->pos_ - i;
    return true;
}

/* What the nested scanner waits for. */
enum want {
    W_OPENED,  /* just after '{' or '[': the first member/element or the close */
    W_KEY,     /* a member name (after ',') */
    W_VALUE,   /* a value (after ':' or ',') */
    W_NEXT,    /* ',' or the close */
};

/* Scans the object or array at it->pos_ (its '{' or '[') to its matching close,
 * validating everything inside; `depth` containers are already open around it.
 * Nesting goes on an explicit bit stack, never on the C stack. */
static bool scan_nested(struct json_iter *it, struct lw_err *err, unsigned depth)
{
    const uint8_t *b = it->buf_;
    const size_t n = it->len_;
    const unsigned base = depth;
    uint64_t stack[STACK_WORDS] = { 0 };
    size_t i = it->pos_;
    enum want want = W_VALUE;
    bool after_comma = false;
    struct json_value scratch;
    assert(i < n && (b[i] == '{' || b[i] == '['));
    for (;;) {
        i = skip_ws(b, n, i);
        int c = i < n ? b[i] : -1;
        unsigned top = depth - base - 1;  /* valid when depth > base */
        bool in_obj = depth > base && (stack[top / 64] >> (top % 64) & 1u);
        switch (want) {
        case W_OPENED:
            if (c == (in_obj ? '}' : ']')) goto close;
            want = in_obj ? W_KEY : W_VALUE;
            continue;
        case W_KEY:
            if (c != '"') {
                if (c < 0) return fail(it, err, JSON_ETRUNCATED, i, "input ends inside an object");
                return fail(it, err, JSON_ESYNTAX, i,
                            "expected a member name (a string in double quotes)%s, found %s%s",
                            after_comma ? " after ','" : "", found_at(b, n, i).s,
                            after_comma && c == '}' ? " (trailing comma)" : "");
            }
            it->pos_ = i;
            if (!scan_string(it, err, &scratch.escaped)) return false;
            i = skip_ws(b, n, it->pos_);
            if (i >= n || b[i] != ':')
                return fail(it, err, i >= n ? JSON_ETRUNCATED : JSON_ESYNTAX, i,
                            "expected ':' after member name, found %s", found_at(b, n, i).s);
            i++;
            want = W_VALUE;
            after_comma = false;
            continue;
        case W_VALUE:
            if (c == '{' || c == '[') {
                if (depth >= it->depth_max_)
                    return fail(it, err, JSON_EDEPTH, i, "nesting deeper than %u", it->depth_max_);
                unsigned lvl = depth - base;
                uint64_t bit = (uint64_t)1 << (lvl % 64);
                if (c == '{') stack[lvl / 64] |= bit;
                else stack[lvl / 64] &= ~bit;
                depth++;
                i++;
                want = W_OPENED;
                continue;
            }
            if (after_comma && c == ']')
                return fail(it, err, JSON_ESYNTAX, i,
                            "expected a value after ',', found ']' (trailing comma)");
            it->pos_ = i;
            if (!scan_scalar(it, err, &scratch, after_comma ? "a value after ','" : "a value"))
                return false;
            i = it->pos_;
            want = W_NEXT;
            after_comma = false;
            continue;
        case W_NEXT:
            if (c == ',') {
                i++;
                want = in_obj ? W_KEY : W_VALUE;
                after_comma = true;
                continue;
            }
            if (c == (in_obj ? '}' : ']')) goto close;
            if (c < 0)
                return fail(it, err, JSON_ETRUNCATED, i, "input ends inside an %s",
                            in_obj ? "object" : "array");
            return fail(it, err, JSON_ESYNTAX, i, "expected ',' or '%c' after %s, found %s",
                        in_obj ? '}' : ']', in_obj ? "a member" : "an element",
                        found_at(b, n, i).s);
        }
        assert(false);
    close:
        i++;
        depth--;
        if (depth == base) {
            it->pos_ = i;
            return true;
        }
        want = W_NEXT;
    }
}

/* Scans any value at it->pos_ (no whitespace before it) into v; `depth`
 * containers are open around it. */
static bool scan_value(struct json_iter *it, struct lw_err *err, struct json_value *v,
                       unsigned depth, const char *ctx)
{
    size_t i = it->pos_;
    if (i < it->len_ && (it->buf_[i] == '{' || it->buf_[i] == '[')) {
        v->kind = it->buf_[i] == '{' ? JSON_OBJECT : JSON_ARRAY;
        v->escaped = false;
        v->offset = i;
        if (!scan_nested(it, err, depth)) return false;
        v->text = (const char *)it->buf_ + i;
        v->len = it->pos_ - i;
        return true;
    }
    return scan_scalar(it, err, v, ctx);
}

/* ------------------------------------------------------------------------ */
/* Iteration */

static unsigned depth_limit(const struct json_options *opt)
{
    unsigned d = opt != NULL && opt->depth_max != 0 ? opt->depth_max : JSON_DEPTH_MAX;
    assert(d >= 1 && d <= JSON_DEPTH_MAX);
    return d;
}

static bool iter_start(struct json_iter *it, const char *buf, size_t len,
                       const struct json_options *opt, struct lw_err *err)
{
    assert(it != NULL);
    assert(buf != NULL || len == 0);
    memset(it, 0, sizeof *it);
    it->buf_ = (const uint8_t *)(buf != NULL ? buf : "");
    it->len_ = len;
    it->depth_max_ = depth_limit(opt);
    it->state_ = ST_FIRST;
    const uint8_t *b = it->buf_;
    if (len >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF)
        return fail(it, err, JSON_ESYNTAX, 0,
                    "byte order mark (U+FEFF) before the JSON text is not allowed");
    it->pos_ = skip_ws(b, len, 0);
    return true;
}

static bool iter_begin(struct json_iter *it, const char *buf, size_t len,
                       const struct json_options *opt, struct lw_err *err, bool array)
{
    if (!iter_start(it, buf, len, opt, err)) return false;
    it->array_ = array;
    size_t i = it->pos_;
    char open = array ? '[' : '{';
    if (i >= len || it->buf_[i] != open)
        return fail(it, err, i >= len ? JSON_ETRUNCATED : JSON_ESYNTAX, i,
                    "expected '%c' at the start of the JSON text, found %s", open,
                    found_at(it->buf_, len, i).s);
    it->pos_ = i + 1;
    if (!array && opt != NULL && opt->keyset != NULL) {
        it->keyset_ = opt->keyset;
        it->keyset_->count = 0;
    }
    return true;
}

bool json_object_begin(struct json_iter *it, const char *buf, size_t len,
                       const struct json_options *opt, struct lw_err *err)
{
    return iter_begin(it, buf, len, opt, err, false);
}

bool json_array_begin(struct json_iter *it, const char *buf, size_t len,
                      const struct json_options *opt, struct lw_err *err)
{
    return iter_begin(it, buf, len, opt, err, true);
}

/* After the outermost close at it->pos_ - 1: only whitespace may follow. */
static int finish(struct json_iter *it, struct lw_err *err)
{
    size_t i = skip_ws(it->buf_, it->len_, it->pos_);
    if (i < it->len_) {
        fail(it, err, JSON_ESYNTAX, i, "unexpected %s after the end of the JSON text",
             found_at(it->buf_, it->len_, i).s);
        return JSON_ERROR;
    }
    it->pos_ = i;
    it->state_ = ST_DONE;
    return JSON_END;
}

/* Moves past the separator before the next item: returns JSON_ITEM with pos_ at
 * the item, JSON_END after the close, or JSON_ERROR. *after_comma tells whether
 * a ',' was consumed. */
static int step(struct json_iter *it, struct lw_err *err, bool *after_comma)
{
    const uint8_t *b = it->buf_;
    size_t n = it->len_;
    char close = it->array_ ? ']' : '}';
    *after_comma = false;
    if (it->state_ == ST_DONE) return JSON_END;
    if (it->state_ == ST_FAILED) {
        lw_err_set(err, JSON_ESYNTAX, "offset %zu: the iteration already stopped at an error",
                   it->error_offset);
        return JSON_ERROR;
    }
    size_t i = skip_ws(b, n, it->pos_);
    if (i < n && b[i] == close && it->state_ == ST_FIRST) {
        it->pos_ = i + 1;
        return finish(it, err);
    }
    if (it->state_ == ST_NEXT) {
        if (i < n && b[i] == close) {
            it->pos_ = i + 1;
            return finish(it, err);
        }
        if (i >= n || b[i] != ',') {
            fail(it, err, i >= n ? JSON_ETRUNCATED : JSON_ESYNTAX, i,
                 "expected ',' or '%c' after %s, found %s", close,
                 it->array_ ? "an element" : "a member", found_at(b, n, i).s);
            return JSON_ERROR;
        }
        i = skip_ws(b, n, i + 1);
        *after_comma = true;
    }
    it->pos_ = i;
    return JSON_ITEM;
}

static uint32_t fnv1a(uint32_t h, uint8_t c) { return (h ^ c) * 16777619u; }

/* A cursor over the decoded bytes of a validated string's raw text. */
struct decoded {
    const uint8_t *b;
    size_t n, i;
    uint8_t pend[4];
    size_t npend, ipend;
};

/* The next decoded byte; -1 at the end, -2 on a malformed escape. */
static int decoded_next(struct decoded *d)
{
    if (d->ipend < d->npend) return d->pend[d->ipend++];
    if (d->i >= d->n) return -1;
    uint8_t c = d->b[d->i];
    if (c != '\\') {
        d->i++;
        return c;
    }
    uint32_t cp;
    size_t adv;
    if (escape_read(d->b, d->n, d->i, &cp, &adv) != ESC_OK) return -2;
    d->i += adv;
    d->npend = utf8_put(d->pend, cp);
    d->ipend = 1;
    return d->pend[0];
}

static struct decoded decoded_of(const char *text, size_t len)
{
    struct decoded d = { .b = (const uint8_t *)text, .n = len, .i = 0, .npend = 0, .ipend = 0 };
    return d;
}

static bool decoded_equal(struct decoded a, struct decoded b)
{
    for (;;) {
        int x = decoded_next(&a), y = decoded_next(&b);
        if (x != y || x == -2) return false;
        if (x == -1) return true;
    }
}

static uint32_t key_hash(const struct json_value *key)
{
    uint32_t h = 2166136261u;
    if (!key->escaped) {
        for (size_t j = 0; j < key->len; j++) h = fnv1a(h, (uint8_t)key->text[j]);
        return h;
    }
    struct decoded d = decoded_of(key->text, key->len);
    int c;
    while ((c = decoded_next(&d)) >= 0) h = fnv1a(h, (uint8_t)c);
    return h;
}

/* Adds the member name to the iteration's key set; a repeated name is an error. */
static bool keyset_add(struct json_iter *it, const struct json_value *key, struct lw_err *err)
{
    struct json_keyset *ks = it->keyset_;
    uint32_t h = key_hash(key);
    for (size_t k = 0; k < ks->count; k++) {
        const struct json_keyset_entry *e = &ks->keys[k];
        if (e->hash != h) continue;
        bool same = !e->escaped && !key->escaped
                        ? e->len == key->len && memcmp(e->text, key->text, key->len) == 0
                        : decoded_equal(decoded_of(e->text, e->len),
                                        decoded_of(key->text, key->len));
        if (same)
            return fail(it, err, JSON_EDUPLICATE, key->offset,
                        "duplicate member name \"%s\" (first at offset %zu)",
                        quote_text(key->text, key->len).s,
                        (size_t)((const uint8_t *)e->text - it->buf_) - 1);
    }
    if (ks->count == JSON_KEYSET_MAX)
        return fail(it, err, JSON_ELIMIT, key->offset,
                    "object has more than %d members, the limit of the duplicate-name check",
                    JSON_KEYSET_MAX);
    ks->keys[ks->count++] = (struct json_keyset_entry){
        .text = key->text, .len = key->len, .hash = h, .escaped = key->escaped
    };
    return true;
}

int json_object_next(struct json_iter *it, struct json_member *m, struct lw_err *err)
{
    assert(it != NULL && m != NULL && !it->array_);
    bool after_comma;
    int r = step(it, err, &after_comma);
    if (r != JSON_ITEM) return r;
    const uint8_t *b = it->buf_;
    size_t n = it->len_, i = it->pos_;
    if (i >= n || b[i] != '"') {
        if (i >= n) fail(it, err, JSON_ETRUNCATED, i, "input ends inside an object");
        else
            fail(it, err, JSON_ESYNTAX, i,
                 "expected a member name (a string in double quotes)%s, found %s%s",
                 after_comma ? " after ','" : "", found_at(b, n, i).s,
                 after_comma && b[i] == '}' ? " (trailing comma)" : "");
        return JSON_ERROR;
    }
    if (!scan_string(it, err, &m->key.escaped)) return JSON_ERROR;
    m->key.kind = JSON_STRING;
    m->key.offset = i;
    m->key.text = (const char *)b + i + 1;
    m->key.len = it->pos_ - i - 2;
    if (it->keyset_ != NULL && !keyset_add(it, &m->key, err)) return JSON_ERROR;
    i = skip_ws(b, n, it->pos_);
    if (i >= n || b[i] != ':') {
        fail(it, err, i >= n ? JSON_ETRUNCATED : JSON_ESYNTAX, i,
             "expected ':' after member name, found %s", found_at(b, n, i).s);
        return JSON_ERROR;
    }
    it->pos_ = skip_ws(b, n, i + 1);
    if (!scan_value(it, err, &m->value, 1, "a value")) return JSON_ERROR;
    it->state_ = ST_NEXT;
    return JSON_ITEM;
}

int json_array_next(struct json_iter *it, struct json_value *v, struct lw_err *err)
{
    assert(it != NULL && v != NULL && it->array_);
    bool after_comma;
    int r = step(it, err, &after_comma);
    if (r != JSON_ITEM) return r;
    size_t i = it->pos_;
    if (after_comma && i < it->len_ && it->buf_[i] == ']') {
        fail(it, err, JSON_ESYNTAX, i, "expected a value after ',', found ']' (trailing comma)");
        return JSON_ERROR;
    }
    const char *ctx = after_comma ? "a value after ','" : "a value";
    if (!scan_value(it, err, v, 1, ctx)) return JSON_ERROR;
    it->state_ = ST_NEXT;
    return JSON_ITEM;
}

bool json_parse(const char *buf, size_t len, const struct json_options *opt,
                struct json_value *v, struct lw_err *err)
{
    assert(v != NULL);
    struct json_iter it;
    if (!iter_start(&it, buf, len, opt, err)) return false;
    if (!scan_value(&it, err, v, 0, "a value")) return false;
    return finish(&it, err) == JSON_END;
}

/* ------------------------------------------------------------------------ */
/* Strings */

bool json_unescape(const struct json_value *v, char *out, size_t cap, size_t *out_len,
                   struct lw_err *err)
{
    assert(v != NULL && v->kind == JSON_STRING && out_len != NULL);
    assert(out != NULL || cap == 0);
    const uint8_t *b = (const uint8_t *)v->text;
    const size_t n = v->len, base = v->offset + 1;
    uint8_t *o = (uint8_t *)out;
    size_t i = 0, w = 0;
    *out_len = 0;
    while (i < n) {
        size_t run = i;
        while (i < n && is_plain(b[i])) i++;
        size_t piece = i - run;
        uint8_t tmp[4];
        const uint8_t *src = b + run;
        if (piece == 0) {
            uint8_t c = b[i];
            if (c == '\\') {
                uint32_t cp;
                size_t adv;
                enum esc r = escape_read(b, n, i, &cp, &adv);
                /* Here n is the end of the string, not of the input. */
                if (r == ESC_TRUNCATED && cp >= 0xD800 && cp <= 0xDBFF) r = ESC_LONE_HIGH, adv = 0;
                if (r != ESC_OK) {
                    escape_error(err, base, b, n, i, r, cp, adv);
                    return false;
                }
                piece = utf8_put(tmp, cp);
                src = tmp;
                i += adv;
            } else if (c == '"') {
                error_at(err, JSON_ESTRING, base + i, "unescaped '\"' inside a string");
                return false;
            } else if (c < 0x20) {
                error_at(err, JSON_ESTRING, base + i,
                         "raw control character 0x%02X in string (must be escaped)", c);
                return false;
            } else {
                size_t adv;
                enum u8 r = utf8_read(b, n, i, &adv);
                if (r != U8_OK) {
                    utf8_error(err, base, b, i, r, adv);
                    return false;
                }
                piece = adv;
                i += adv;
            }
        }
        if (cap - w < piece) {
            error_at(err, JSON_ESPACE, v->offset,
                     "string does not fit the %zu-byte buffer for its decoded text", cap);
            return false;
        }
        memcpy(o + w, src, piece);
        w += piece;
    }
    assert(w <= n);
    *out_len = w;
    return true;
}

bool json_string_eq(const struct json_value *v, const char *s, size_t len)
{
    assert(v != NULL && v->kind == JSON_STRING);
    assert(s != NULL || len == 0);
    if (!v->escaped) return v->len == len && (len == 0 || memcmp(v->text, s, len) == 0);
    struct decoded d = decoded_of(v->text, v->len);
    for (size_t j = 0; j < len; j++)
        if (decoded_next(&d) != (uint8_t)s[j]) return false;
    return decoded_next(&d) == -1;
}

/* ------------------------------------------------------------------------ */
/* Number conversions */

/* Reads text[0, len) as a complete JSON number into m; false with err filled if
 * it is not one. */
static bool number_of(const char *text, size_t len, struct num *m, struct lw_err *err)
{
    assert(text != NULL || len == 0);
    const uint8_t *b = (const uint8_t *)(text != NULL ? text : "");
    size_t bad = 0;
    enum num_result r = num_read(b, len, 0, m, &bad);
    if (r == NUM_OK && m->end == len) return true;
    lw_err_set(err, JSON_ENUMBER, "'%s' is not a JSON number (%s at byte %zu)",
               quote_text(text, len).s,
               r != NUM_OK ? num_problem(r) : "unexpected character", r != NUM_OK ? bad : m->end);
    return false;
}

bool json_number_is_integer(const char *text, size_t len)
{
    struct num m;
    size_t bad;
    if (text == NULL || num_read((const uint8_t *)text, len, 0, &m, &bad) != NUM_OK) return false;
    return m.end == len && m.frac_start == m.frac_end && m.exp_start == m.exp_end &&
           m.int_end == len;
}

bool json_number_to_i64(const char *text, size_t len, int64_t *out, struct lw_err *err)
{
    assert(out != NULL);
    struct num m;
    if (!number_of(text, len, &m, err)) return false;
    const uint8_t *b = (const uint8_t *)text;
    struct decimal d = num_decimal(b, &m);
    if (d.zero) {
        *out = 0;
        return true;
    }
    if (d.e10 < 0) {
        lw_err_set(err, JSON_ENOTINT, "'%s' is not an integer", quote_text(text, len).s);
        return false;
    }
    if ((int64_t)d.k + d.e10 > 19) goto range;
    /* At most 19 digits: below 10^19 < 2^64, so nothing here overflows. */
    uint64_t u = 0;
    for (size_t j = 0; j < d.k; j++) u = u * 10 + (uint64_t)num_digit(b, &m, d.first + j);
    for (int64_t j = 0; j < d.e10; j++) u *= 10;
    if (m.neg) {
        if (u > (uint64_t)INT64_MAX + 1) goto range;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX) goto range;
        *out = (int64_t)u;
    }
    return true;
range:
    lw_err_set(err, JSON_ERANGE, "'%s' is out of range for int64", quote_text(text, len).s);
    return false;
}

enum { DOUBLE_DIGITS_KEPT = 800 };  /* > 767, the most a double's halfway point needs */

bool json_number_to_double(const char *text, size_t len, double *out, struct lw_err *err)
{
    assert(out != NULL);
    struct num m;
    if (!number_of(text, len, &m, err)) return false;
    const uint8_t *b = (const uint8_t *)text;
    struct decimal d = num_decimal(b, &m);
    if (d.zero) {
        *out = m.neg ? -0.0 : 0.0;
        return true;
    }
#if FLT_EVAL_METHOD == 0
    /* Clinger's fast path: D and 10^|e10| are both exact doubles, so one IEEE
     * multiplication or division rounds correctly. */
    static const double powers[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
    if (d.k <= 15 && d.e10 >= -22 && d.e10 <= 22) {
        uint64_t u = 0;
        for (size_t j = 0; j < d.k; j++) u = u * 10 + (uint64_t)num_digit(b, &m, d.first + j);
        double x = (double)u;
        x = d.e10 >= 0 ? x * powers[d.e10] : x / powers[-d.e10];
        *out = m.neg ? -x : x;
        return true;
    }
#endif
    /* Otherwise strtod, on "[-]DDDe<exp>" with D cut at DOUBLE_DIGITS_KEPT digits
     * and a sticky 1 after them: every cut digit string lies strictly between the
     * same two neighbours of halfway points as the full one, so both round alike. */
    char buf[DOUBLE_DIGITS_KEPT + 32];
    size_t o = 0;
    if (m.neg) buf[o++] = '-';
    size_t kept = d.k < DOUBLE_DIGITS_KEPT ? d.k : DOUBLE_DIGITS_KEPT;
    for (size_t j = 0; j < kept; j++) buf[o++] = (char)('0' + num_digit(b, &m, d.first + j));
    int64_t e10 = d.e10 + (int64_t)(d.k - kept);
    if (kept < d.k) {
        buf[o++] = '1';
        e10 -= 1;
    }
    /* Beyond this, any 801-digit D is 0 or infinite anyway. */
    if (e10 > 99999) e10 = 99999;
    if (e10 < -99999) e10 = -99999;
    snprintf(buf + o, sizeof buf - o, "e%lld", (long long)e10);
    double x = strtod(buf, NULL);
    if (isinf(x)) {
        lw_err_set(err, JSON_ERANGE, "'%s' is out of range for double", quote_text(text, len).s);
        return false;
    }
    *out = x;
    return true;
}

const char *json_kind_name(enum json_kind kind)
{
    switch (kind) {
    case JSON_NULL: return "null";
    case JSON_FALSE: return "false";
    case JSON_TRUE: return "true";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    }
    return "?";
}
