/* json.c: strict RFC 8259 validation, zero-copy slices, exact number conversions.
 *
 * Every input is copied into a heap buffer of exactly its size (no NUL after it),
 * so that under ASan any read past the end of the input is caught. */
#include <criterion/criterion.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ------------------------------------------------------------------------ */
/* Helpers */

enum { HEAP_MAX = 4096 };
static char *heap_bufs[HEAP_MAX];
static size_t heap_count;
static struct lw_err err;

static void free_all(void)
{
    for (size_t i = 0; i < heap_count; i++) free(heap_bufs[i]);
    heap_count = 0;
}

TestSuite(json, .fini = free_all);

/* An exact-size heap copy of s[0, n), freed at the end of the test. */
static char *heap(const char *s, size_t n)
{
    cr_assert_lt(heap_count, HEAP_MAX);
    char *p = malloc(n > 0 ? n : 1);
    cr_assert_not_null(p);
    if (n > 0) memcpy(p, s, n);
    heap_bufs[heap_count++] = p;
    return p;
}

#define LIT(s) (s), (sizeof(s) - 1)

static bool parse(const char *s, size_t n, struct json_value *v)
{
    lw_err_clear(&err);
    return json_parse(heap(s, n), n, NULL, v, &err);
}

static bool slice_is(const char *text, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(text, want, len) == 0;
}

/* Expects err to hold `code` and a message starting "offset <off>: " that
 * contains `part` (when not NULL). */
static void expect_err(const char *what, int code, size_t off, const char *part)
{
    char want[64];
    snprintf(want, sizeof want, "offset %zu: ", off);
    cr_expect_eq(err.code, code, "%s: code %d, want %d (%s)", what, err.code, code, err.msg);
    cr_expect(strncmp(err.msg, want, strlen(want)) == 0, "%s: message '%s', want '%s...'", what,
              err.msg, want);
    if (part != NULL)
        cr_expect(strstr(err.msg, part) != NULL, "%s: message '%s' lacks '%s'", what, err.msg,
                  part);
}

/* json_parse must reject s[0, n) with `code` at offset `off`. */
static void reject_n(const char *s, size_t n, int code, size_t off, const char *part)
{
    struct json_value v;
    cr_expect(!parse(s, n, &v), "accepted: %.*s", (int)n, s);
    expect_err(s, code, off, part);
}
#define REJECT(s, code, off, part) reject_n(LIT(s), code, off, part)

static void accept_n(const char *s, size_t n, enum json_kind kind)
{
    struct json_value v;
    cr_expect(parse(s, n, &v), "rejected: %.*s: %s", (int)n, s, err.msg);
    cr_expect_eq(v.kind, kind, "%.*s: kind %d, want %d", (int)n, s, v.kind, kind);
}
#define ACCEPT(s, kind) accept_n(LIT(s), kind)

/* The decoded text of a JSON string literal (with its quotes) s. */
static size_t unescaped(const char *s, size_t n, char *out, size_t cap)
{
    struct json_value v;
    cr_assert(parse(s, n, &v), "rejected: %.*s: %s", (int)n, s, err.msg);
    cr_assert_eq(v.kind, JSON_STRING);
    size_t len = 0;
    cr_assert(json_unescape(&v, out, cap, &len, &err), "%s", err.msg);
    cr_assert_leq(len, v.len);
    return len;
}

static void expect_string(const char *s, size_t n, const char *want, size_t want_len)
{
    char out[256];
    size_t len = unescaped(s, n, out, sizeof out);
    cr_expect(len == want_len && memcmp(out, want, len) == 0, "%.*s decoded wrongly", (int)n, s);
}
#define STRING_IS(s, want) expect_string(LIT(s), LIT(want))

/* ------------------------------------------------------------------------ */
/* Iterating an event */

static const char order[] =
    "{\"order_id\":\"3f2b8c1e-4a5d-4e6f-9a7b-1c2d3e4f5a6b\",\"user_id\":1234567,"
    "\"status\":\"placed\",\"subtotal\":42.50,\"tip\":null,\"is_pickup\":false,"
    "\"paid\":true,\"name\":\"Cr\\u00e8me br\xc3\xbbl\xc3\xa9\\u0065\","
    "\"modifiers\":[{\"id\":1,\"name\":\"extra\"}, {\"id\":2}],"
    "\"props\":{\"a\":[1,2,[3]],\"b\":{}},\"lat\":-40.712345}";

Test(json, iterates_an_event)
{
    struct json_iter it;
    struct json_member m;
    const char *doc = heap(LIT(order));
    size_t len = sizeof order - 1;
    cr_assert(json_object_begin(&it, doc, len, NULL, &err), "%s", err.msg);
    struct {
        const char *key;
        enum json_kind kind;
        const char *text;
        bool escaped;
    } want[] = {
        { "order_id", JSON_STRING, "3f2b8c1e-4a5d-4e6f-9a7b-1c2d3e4f5a6b", false },
        { "user_id", JSON_NUMBER, "1234567", false },
        { "status", JSON_STRING, "placed", false },
        { "subtotal", JSON_NUMBER, "42.50", false },
        { "tip", JSON_NULL, "null", false },
        { "is_pickup", JSON_FALSE, "false", false },
        { "paid", JSON_TRUE, "true", false },
        { "name", JSON_STRING, "Cr\\u00e8me br\xc3\xbbl\xc3\xa9\\u0065", true },
        { "modifiers", JSON_ARRAY, "[{\"id\":1,\"name\":\"extra\"}, {\"id\":2}]", false },
        { "props", JSON_OBJECT, "{\"a\":[1,2,[3]],\"b\":{}}", false },
        { "lat", JSON_NUMBER, "-40.712345", false },
    };
    size_t count = 0;
    int r;
    while ((r = json_object_next(&it, &m, &err)) == JSON_ITEM) {
        cr_assert_lt(count, sizeof want / sizeof want[0]);
        cr_expect(json_string_eq(&m.key, want[count].key, strlen(want[count].key)));
        cr_expect(!m.key.escaped);
        cr_expect_eq(m.key.kind, JSON_STRING);
        cr_expect_eq(doc[m.key.offset], '"');
        cr_expect_eq(m.key.text, doc + m.key.offset + 1);
        cr_expect_eq(m.value.kind, want[count].kind, "%s", want[count].key);
        cr_expect(slice_is(m.value.text, m.value.len, want[count].text), "%s: '%.*s'",
                  want[count].key, (int)m.value.len, m.value.text);
        cr_expect_eq(m.value.escaped, want[count].escaped, "%s", want[count].key);
        cr_expect(m.value.text >= doc && m.value.text + m.value.len <= doc + len);
        count++;
    }
    cr_expect_eq(r, JSON_END, "%s", err.msg);
    cr_expect_eq(count, sizeof want / sizeof want[0]);
    /* Finished iterations stay finished. */
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_END);
}

Test(json, decodes_an_escaped_value)
{
    struct json_iter it;
    struct json_member m;
    static const char text[] = "{\"name\":\"Cr\\u00e8me \\\"br\xc3\xbbl\xc3\xa9\\\"\"}";
    cr_assert(json_object_begin(&it, heap(LIT(text)), sizeof text - 1, NULL, &err));
    cr_assert_eq(json_object_next(&it, &m, &err), JSON_ITEM);
    cr_assert(m.value.escaped);
    char out[64];
    size_t len;
    cr_assert(json_unescape(&m.value, out, m.value.len, &len, &err), "%s", err.msg);
    cr_expect(slice_is(out, len, "Cr\xc3\xa8me \"br\xc3\xbbl\xc3\xa9\""));
    cr_expect(json_string_eq(&m.value, out, len));
    cr_expect(!json_string_eq(&m.value, out, len - 1));
    cr_expect(!json_string_eq(&m.value, "Creme", 5));
}

Test(json, empty_object_and_whitespace)
{
    struct json_iter it;
    struct json_member m;
    static const char text[] = " \t\r\n{ \t\r\n} \t\r\n";
    cr_assert(json_object_begin(&it, heap(LIT(text)), sizeof text - 1, NULL, &err));
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_END, "%s", err.msg);
    ACCEPT("{}", JSON_OBJECT);
    ACCEPT(" { \"a\" : 1 , \"b\" :\n[ ] } ", JSON_OBJECT);
    ACCEPT("[ 1 ,\t2 ]\r\n", JSON_ARRAY);
    ACCEPT(" \"x\" ", JSON_STRING);
    ACCEPT("\n0\n", JSON_NUMBER);
    ACCEPT("null", JSON_NULL);
    /* Only space, tab, LF and CR are whitespace. */
    REJECT("{\f}", JSON_ESYNTAX, 1, "byte 0x0C");
    REJECT("{\v}", JSON_ESYNTAX, 1, "byte 0x0B");
    REJECT("{\xc2\xa0}", JSON_ESYNTAX, 1, "byte 0xC2");
    REJECT("\xef\xbb\xbf{}", JSON_ESYNTAX, 0, "byte order mark");
    REJECT("", JSON_ETRUNCATED, 0, "found end of input");
    REJECT("   ", JSON_ETRUNCATED, 3, "found end of input");
}

Test(json, object_begin_needs_an_object)
{
    struct json_iter it;
    cr_expect(!json_object_begin(&it, heap(LIT("[1]")), 3, NULL, &err));
    expect_err("[1]", JSON_ESYNTAX, 0, "expected '{' at the start of the JSON text, found '['");
    cr_expect_eq(it.error_offset, 0);
    cr_expect(!json_object_begin(&it, heap(LIT("  ")), 2, NULL, &err));
    expect_err("blank", JSON_ETRUNCATED, 2, "found end of input");
    cr_expect(!json_object_begin(&it, NULL, 0, NULL, &err));
    cr_expect(!json_array_begin(&it, heap(LIT("{}")), 2, NULL, &err));
    expect_err("{}", JSON_ESYNTAX, 0, "expected '['");
}

/* ------------------------------------------------------------------------ */
/* Grammar */

Test(json, object_grammar_errors)
{
    REJECT("{\"a\" 1}", JSON_ESYNTAX, 5, "expected ':' after member name, found '1'");
    REJECT("{a:1}", JSON_ESYNTAX, 1,
           "expected a member name (a string in double quotes), found 'a'");
    REJECT("{'a':1}", JSON_ESYNTAX, 1, "found \"'\"");
    REJECT("{\"a\":}", JSON_ESYNTAX, 5, "expected a value, found '}'");
    REJECT("{,}", JSON_ESYNTAX, 1, "found ','");
    REJECT("{\"a\":1,}", JSON_ESYNTAX, 7, "(trailing comma)");
    REJECT("{\"a\":1 \"b\":2}", JSON_ESYNTAX, 7, "expected ',' or '}' after a member, found '\"'");
    REJECT("{\"a\":1]", JSON_ESYNTAX, 6, "found ']'");
    REJECT("{\"a\":1,,\"b\":2}", JSON_ESYNTAX, 7, "after ','");
    REJECT("{\"a\"::1}", JSON_ESYNTAX, 5, "expected a value, found ':'");
    REJECT("{1:1}", JSON_ESYNTAX, 1, "member name");
    REJECT("{null:1}", JSON_ESYNTAX, 1, "member name");
    /* The same inside a nested object (the nested scanner has its own messages). */
    REJECT("[{\"a\" 1}]", JSON_ESYNTAX, 6, "expected ':' after member name");
    REJECT("[{\"a\":1,}]", JSON_ESYNTAX, 8, "(trailing comma)");
    REJECT("[{\"a\":1 \"b\":2}]", JSON_ESYNTAX, 8, "expected ',' or '}' after a member");
    REJECT("[{\"a\":1]]", JSON_ESYNTAX, 7, "expected ',' or '}'");
    REJECT("[{a:1}]", JSON_ESYNTAX, 2, "member name");
}

Test(json, array_grammar_errors)
{
    ACCEPT("[]", JSON_ARRAY);
    ACCEPT("[ ]", JSON_ARRAY);
    ACCEPT("[[],[[]],{}]", JSON_ARRAY);
    REJECT("[1,]", JSON_ESYNTAX, 3, "expected a value after ',', found ']' (trailing comma)");
    REJECT("[,1]", JSON_ESYNTAX, 1, "expected a value, found ','");
    REJECT("[1 2]", JSON_ESYNTAX, 3, "expected ',' or ']' after an element, found '2'");
    REJECT("[1}", JSON_ESYNTAX, 2, "expected ',' or ']'");
    REJECT("[1,,2]", JSON_ESYNTAX, 3, "expected a value after ','");
    REJECT("[[1,]]", JSON_ESYNTAX, 4, "(trailing comma)");
    REJECT("[\"a\":1]", JSON_ESYNTAX, 4, "found ':'");
    REJECT("]", JSON_ESYNTAX, 0, "expected a value, found ']'");
    REJECT("}", JSON_ESYNTAX, 0, "expected a value, found '}'");
}

Test(json, literals)
{
    ACCEPT("true", JSON_TRUE);
    ACCEPT("false", JSON_FALSE);
    ACCEPT("null", JSON_NULL);
    ACCEPT("[true,false,null]", JSON_ARRAY);
    REJECT("tru", JSON_ETRUNCATED, 3, "input ends inside 'true'");
    REJECT("[nul", JSON_ETRUNCATED, 4, "inside 'null'");
    REJECT("trux", JSON_ESYNTAX, 3, "invalid literal: expected 'true', found 'x'");
    REJECT("True", JSON_ESYNTAX, 0, "expected a value, found 'T'");
    REJECT("truex", JSON_ESYNTAX, 4, "unexpected 'x' after 'true'");
    REJECT("[nulll]", JSON_ESYNTAX, 5, "after 'null'");
    REJECT("falsey", JSON_ESYNTAX, 5, "after 'false'");
    REJECT("NaN", JSON_ESYNTAX, 0, "found 'N'");
    REJECT("Infinity", JSON_ESYNTAX, 0, "found 'I'");
    REJECT("undefined", JSON_ESYNTAX, 0, "found 'u'");
}

Test(json, trailing_garbage)
{
    REJECT("{} x", JSON_ESYNTAX, 3, "unexpected 'x' after the end of the JSON text");
    REJECT("{}}", JSON_ESYNTAX, 2, "unexpected '}'");
    REJECT("{},", JSON_ESYNTAX, 2, "unexpected ','");
    REJECT("{\"a\":1}]", JSON_ESYNTAX, 7, "unexpected ']'");
    REJECT("{}\0", JSON_ESYNTAX, 2, "unexpected byte 0x00");
    REJECT("{}{}", JSON_ESYNTAX, 2, "unexpected '{'");
    REJECT("1 2", JSON_ESYNTAX, 2, "unexpected '2'");
    REJECT("\"a\"\"b\"", JSON_ESYNTAX, 3, "unexpected '\"'");
    REJECT("null null", JSON_ESYNTAX, 5, NULL);
    REJECT("{}\xef\xbb\xbf", JSON_ESYNTAX, 2, "byte 0xEF");

    /* Through the iterator: found only at the end. */
    struct json_iter it;
    struct json_member m;
    cr_assert(json_object_begin(&it, heap(LIT("{\"a\":1} x")), 9, NULL, &err));
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_ITEM);
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_ERROR);
    expect_err("iterator", JSON_ESYNTAX, 8, "after the end of the JSON text");
    cr_expect_eq(it.error_offset, 8);
    /* Failed iterations stay failed. */
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_ERROR);
}

/* ------------------------------------------------------------------------ */
/* Strings */

Test(json, every_escape)
{
    STRING_IS("\"\\\"\"", "\"");
    STRING_IS("\"\\\\\"", "\\");
    STRING_IS("\"\\/\"", "/");
    STRING_IS("\"\\b\"", "\b");
    STRING_IS("\"\\f\"", "\f");
    STRING_IS("\"\\n\"", "\n");
    STRING_IS("\"\\r\"", "\r");
    STRING_IS("\"\\t\"", "\t");
    STRING_IS("\"\\u0041\"", "A");
    STRING_IS("\"\\u00e9\\u00E9\"", "\xc3\xa9\xc3\xa9");
    STRING_IS("\"\\u20AC\"", "\xe2\x82\xac");
    STRING_IS("\"\\u0000\"", "\0");
    STRING_IS("\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
              "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    STRING_IS("\"a\\\\b\\\"c\\/d\\be\\ff\\ng\\rh\\ti\"", "a\\b\"c/d\be\ff\ng\rh\ti");
    STRING_IS("\"plain text\"", "plain text");
    STRING_IS("\"\"", "");
    STRING_IS("\"\x7f\"", "\x7f");

    struct json_value v;
    cr_assert(parse(LIT("\"abc\""), &v));
    cr_expect(!v.escaped);
    cr_expect(slice_is(v.text, v.len, "abc"));
    cr_assert(parse(LIT("\"a\\/c\""), &v));
    cr_expect(v.escaped);
    cr_expect(slice_is(v.text, v.len, "a\\/c"));
    cr_expect_eq(v.offset, 0);
}

Test(json, invalid_escapes)
{
    /* "offset 17: invalid escape '\x' in string" */
    REJECT("{\"abc\":1,\"ke\":\"ab\\x\"}", JSON_ESTRING, 17, "invalid escape '\\x' in string");
    REJECT("\"\\a\"", JSON_ESTRING, 1, "invalid escape '\\a'");
    REJECT("\"\\U0041\"", JSON_ESTRING, 1, "invalid escape '\\U'");
    REJECT("\"\\'\"", JSON_ESTRING, 1, "invalid escape '\\''");
    REJECT("\"\\\x01\"", JSON_ESTRING, 1, "followed by byte 0x01");
    REJECT("\"\\u12G4\"", JSON_ESTRING, 5, "expected a hex digit, found 'G'");
    REJECT("\"\\u12\"", JSON_ESTRING, 5, "expected a hex digit, found '\"'");
    REJECT("\"\\u\"", JSON_ESTRING, 3, "hex digit");
    REJECT("\"\\", JSON_ETRUNCATED, 2, "inside the escape sequence at offset 1");
    REJECT("\"\\u00", JSON_ETRUNCATED, 5, "inside the escape sequence");
}

Test(json, surrogate_pairs)
{
    STRING_IS("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80");
    STRING_IS("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
    STRING_IS("\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80");  /* U+10000 */
    STRING_IS("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf");  /* U+10FFFF */
    STRING_IS("\"x\\uD83D\\uDE00y\"", "x\xf0\x9f\x98\x80y");
    STRING_IS("\"\\uD7FF\\uE000\"", "\xed\x9f\xbf\xee\x80\x80");

    REJECT("\"\\uD83D\"", JSON_ESTRING, 1, "lone high surrogate \\uD83D");
    REJECT("\"\\uD83Dx\"", JSON_ESTRING, 1, "lone high surrogate");
    REJECT("\"\\uD83D\\u0041\"", JSON_ESTRING, 1, "lone high surrogate");
    REJECT("\"\\uD83D\\uD83D\"", JSON_ESTRING, 1, "lone high surrogate");
    REJECT("\"\\uD83D\\uE000\"", JSON_ESTRING, 1, "lone high surrogate");
    REJECT("\"\\uDBFF\\uFFFF\"", JSON_ESTRING, 1, "lone high surrogate");
    REJECT("\"\\uD800\\uDBFF\"", JSON_ESTRING, 1, "lone high surrogate");
    REJECT("\"\\uD83D\\n\"", JSON_ESTRING, 1, "lone high surrogate");
    REJECT("\"\\uDE00\"", JSON_ESTRING, 1, "lone low surrogate \\uDE00");
    REJECT("\"ab\\uDFFF\"", JSON_ESTRING, 3, "lone low surrogate");
    /* Reversed: the low half first is a lone low surrogate. */
    REJECT("\"\\uDE00\\uD83D\"", JSON_ESTRING, 1, "lone low surrogate");
    REJECT("\"\\uD83D\\uDEZ0\"", JSON_ESTRING, 11, "hex digit");
    REJECT("\"\\uD83D", JSON_ETRUNCATED, 7, NULL);
    REJECT("\"\\uD83D\\", JSON_ETRUNCATED, 8, NULL);
    REJECT("\"\\uD83D\\uDE", JSON_ETRUNCATED, 11, NULL);
}

/* The 8-byte fast path must see a special byte at any position of its window. */
Test(json, fast_path_sees_every_byte)
{
    for (size_t pos = 0; pos < 20; pos++) {
        char s[32];
        memset(s, 'a', sizeof s);
        s[0] = '"';
        s[25] = '"';
        struct json_value v;
        for (int c = 0; c < 0x20; c++) {
            s[1 + pos] = (char)c;
            cr_expect(!parse(s, 26, &v), "0x%02X at %zu accepted", c, pos);
            expect_err("control", JSON_ESTRING, 1 + pos, "raw control character");
        }
        s[1 + pos] = (char)0x80;
        cr_expect(!parse(s, 26, &v));
        expect_err("0x80", JSON_EUTF8, 1 + pos, NULL);
        s[1 + pos] = (char)0xFF;
        cr_expect(!parse(s, 26, &v));
        expect_err("0xFF", JSON_EUTF8, 1 + pos, NULL);
        s[1 + pos] = '"';
        cr_expect(!parse(s, 26, &v));
        expect_err("quote", JSON_ESYNTAX, 2 + pos, "after the end of the JSON text");
        s[1 + pos] = 0x7F;
        cr_expect(parse(s, 26, &v), "%s", err.msg);
        cr_expect(!v.escaped);
        s[1 + pos] = ' ';
        cr_expect(parse(s, 26, &v), "%s", err.msg);
        s[1 + pos] = '\\';
        s[2 + pos] = '/';
        cr_expect(parse(s, 26, &v), "%s", err.msg);
        cr_expect(v.escaped);
        char want[23];
        memset(want, 'a', sizeof want);
        want[pos] = '/';
        cr_expect(json_string_eq(&v, want, sizeof want));
    }
}

Test(json, control_characters_must_be_escaped)
{
    REJECT("\"a\x01\"", JSON_ESTRING, 2, "raw control character 0x01 in string");
    REJECT("\"\x1f\"", JSON_ESTRING, 1, "0x1F");
    REJECT("\"\t\"", JSON_ESTRING, 1, "0x09");
    REJECT("\"a\nb\"", JSON_ESTRING, 2, "0x0A");
    REJECT("\"\0\"", JSON_ESTRING, 1, "0x00");
    REJECT("{\"k\x02\":1}", JSON_ESTRING, 3, "0x02");
    REJECT("[\"a\rb\"]", JSON_ESTRING, 3, "0x0D");
    REJECT("\"abc", JSON_ETRUNCATED, 4, "inside the string that starts at offset 0");
}

Test(json, valid_utf8)
{
    STRING_IS("\"\xc3\xa9\"", "\xc3\xa9");                          /* é */
    STRING_IS("\"\xe2\x82\xac\"", "\xe2\x82\xac");                  /* € */
    STRING_IS("\"\xe5\xaf\xbf\xe5\x8f\xb8\"", "\xe5\xaf\xbf\xe5\x8f\xb8"); /* 寿司 */
    STRING_IS("\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80");          /* U+1F600 */
    STRING_IS("\"\xc2\x80\xdf\xbf\"", "\xc2\x80\xdf\xbf");          /* U+0080, U+07FF */
    STRING_IS("\"\xe0\xa0\x80\xef\xbf\xbf\"", "\xe0\xa0\x80\xef\xbf\xbf"); /* U+0800, U+FFFF */
    STRING_IS("\"\xed\x9f\xbf\xee\x80\x80\"", "\xed\x9f\xbf\xee\x80\x80"); /* U+D7FF, U+E000 */
    STRING_IS("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"", "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    /* Long enough for the 8-byte fast path on both sides of a multibyte char. */
    STRING_IS("\"Ph\xe1\xbb\x9f b\xc3\xb2 and some more plain ASCII text here\"",
              "Ph\xe1\xbb\x9f b\xc3\xb2 and some more plain ASCII text here");
    ACCEPT("{\"Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\":1}", JSON_OBJECT);
}

Test(json, invalid_utf8)
{
    REJECT("\"\x80\"", JSON_EUTF8, 1, "continuation byte 0x80 without a lead byte");
    REJECT("\"abc\xbf\"", JSON_EUTF8, 4, "continuation byte 0xBF");
    /* Overlong forms of 2, 3 and 4 bytes. */
    REJECT("\"\xc0\x80\"", JSON_EUTF8, 1, "overlong encoding (lead byte 0xC0)");
    REJECT("\"\xc1\xbf\"", JSON_EUTF8, 1, "overlong");
    REJECT("\"\xe0\x80\x80\"", JSON_EUTF8, 1, "overlong encoding (0xE0 0x80)");
    REJECT("\"\xe0\x9f\xbf\"", JSON_EUTF8, 1, "overlong");
    REJECT("\"\xf0\x80\x80\x80\"", JSON_EUTF8, 1, "overlong");
    REJECT("\"\xf0\x8f\xbf\xbf\"", JSON_EUTF8, 1, "overlong encoding (0xF0 0x8F)");
    /* UTF-16 surrogates encoded directly. */
    REJECT("\"\xed\xa0\x80\"", JSON_EUTF8, 1, "surrogate");
    REJECT("\"\xed\xbf\xbf\"", JSON_EUTF8, 1, "surrogate");
    /* Above U+10FFFF. */
    REJECT("\"\xf4\x90\x80\x80\"", JSON_EUTF8, 1, "above U+10FFFF");
    REJECT("\"\xf5\x80\x80\x80\"", JSON_EUTF8, 1, "byte 0xF5 never appears in UTF-8");
    REJECT("\"\xf8\x88\x80\x80\x80\"", JSON_EUTF8, 1, "0xF8 never");
    REJECT("\"\xff\"", JSON_EUTF8, 1, "0xFF never");
    REJECT("\"\xfe\"", JSON_EUTF8, 1, "0xFE never");
    /* Truncated sequences, cut by another byte... */
    REJECT("\"\xc3\"", JSON_EUTF8, 2, "truncated sequence (lead byte 0xC3, then byte 0x22");
    REJECT("\"\xe2\x82\"", JSON_EUTF8, 3, "truncated sequence");
    REJECT("\"\xf0\x9f\x98\"", JSON_EUTF8, 4, "truncated sequence");
    REJECT("\"\xe2x\xac\"", JSON_EUTF8, 2, "truncated sequence");
    REJECT("\"\xc3\xc3\xa9\"", JSON_EUTF8, 2, "truncated sequence");
    /* ...or by the end of the input. */
    REJECT("\"\xf0\x9f\x98", JSON_ETRUNCATED, 4, "inside the UTF-8 sequence at offset 1");
    REJECT("\"\xc3", JSON_ETRUNCATED, 2, NULL);
    /* In a key and in a nested value. */
    REJECT("{\"\xc0\xaf\":1}", JSON_EUTF8, 2, "overlong");
    REJECT("{\"a\":[\"\xed\xb0\x80\"]}", JSON_EUTF8, 7, "surrogate");
    /* Outside strings, non-ASCII bytes are grammar errors. */
    REJECT("[\xc3\xa9]", JSON_ESYNTAX, 1, "byte 0xC3");
}

Test(json, unescape_buffers)
{
    struct json_value v;
    cr_assert(parse(LIT("\"ab\\ncd\""), &v));
    char out[8];
    size_t len = 99;
    cr_expect(!json_unescape(&v, out, 4, &len, &err));
    expect_err("small", JSON_ESPACE, 0, "does not fit the 4-byte buffer");
    cr_expect(json_unescape(&v, out, 5, &len, &err), "%s", err.msg);
    cr_expect(slice_is(out, len, "ab\ncd"));
    cr_assert(parse(LIT("\"\""), &v));
    cr_expect(json_unescape(&v, NULL, 0, &len, &err));
    cr_expect_eq(len, 0);

    /* The output is never longer than the raw text, escapes of any width included. */
    cr_assert(parse(LIT("\"\\u00e9\\u20ac\\uD83D\\uDE00\\n\xf0\x9f\x98\x80\""), &v));
    char big[64];
    cr_expect(json_unescape(&v, big, v.len, &len, &err), "%s", err.msg);
    cr_expect_eq(len, 2 + 3 + 4 + 1 + 4);

    /* Slices not made by the parser are validated too. */
    struct json_value raw = { .kind = JSON_STRING, .escaped = true, .text = "a\"b", .len = 3,
                              .offset = 10 };
    cr_expect(!json_unescape(&raw, big, sizeof big, &len, &err));
    expect_err("raw quote", JSON_ESTRING, 12, "unescaped '\"'");
    raw.text = "ab\\uD800";
    raw.len = 8;
    cr_expect(!json_unescape(&raw, big, sizeof big, &len, &err));
    expect_err("lone high at end", JSON_ESTRING, 13, "lone high surrogate");
    raw.text = "\xe0\x80\x80";
    raw.len = 3;
    cr_expect(!json_unescape(&raw, big, sizeof big, &len, &err));
    expect_err("overlong", JSON_EUTF8, 11, "overlong");
    raw.text = "\\q";
    raw.len = 2;
    cr_expect(!json_unescape(&raw, big, sizeof big, &len, &err));
    expect_err("bad escape", JSON_ESTRING, 11, "invalid escape '\\q'");
    cr_expect(!json_string_eq(&raw, "q", 1));
}

Test(json, string_equality)
{
    struct json_value v;
    cr_assert(parse(LIT("\"\\u0061b\\u00e9\""), &v));
    cr_expect(json_string_eq(&v, "ab\xc3\xa9", 4));
    cr_expect(!json_string_eq(&v, "ab\xc3", 3));
    cr_expect(!json_string_eq(&v, "ab\xc3\xa9x", 5));
    cr_expect(!json_string_eq(&v, "ab", 2));
    cr_assert(parse(LIT("\"abc\""), &v));
    cr_expect(json_string_eq(&v, "abc", 3));
    cr_expect(!json_string_eq(&v, "abd", 3));
    cr_expect(!json_string_eq(&v, "", 0));
    cr_assert(parse(LIT("\"\""), &v));
    cr_expect(json_string_eq(&v, "", 0));
    cr_expect(json_string_eq(&v, NULL, 0));
}

/* ------------------------------------------------------------------------ */
/* Nesting */

static char *nested(size_t depth, const char *inner, char open, char close)
{
    size_t n = strlen(inner);
    char *s = malloc(2 * depth + n + 1);
    cr_assert_not_null(s);
    memset(s, open, depth);
    memcpy(s + depth, inner, n);
    memset(s + depth + n, close, depth);
    s[2 * depth + n] = '\0';
    return s;
}

Test(json, depth_limit)
{
    struct json_value v;
    char *at = nested(JSON_DEPTH_MAX, "1", '[', ']');
    cr_expect(parse(at, strlen(at), &v), "%s", err.msg);
    cr_expect_eq(v.kind, JSON_ARRAY);
    cr_expect_eq(v.len, strlen(at));
    char *beyond = nested(JSON_DEPTH_MAX + 1, "1", '[', ']');
    cr_expect(!parse(beyond, strlen(beyond), &v));
    expect_err("65 arrays", JSON_EDEPTH, 64, "nesting deeper than 64");
    free(at);
    free(beyond);

    /* Objects count the same, and so does the iterated object. */
    char inner[2048] = "1";
    for (int d = 1; d < JSON_DEPTH_MAX; d++) {
        char tmp[2048];
        snprintf(tmp, sizeof tmp, "{\"k\":%s}", inner);
        memcpy(inner, tmp, sizeof inner);
    }
    cr_expect(parse(inner, strlen(inner), &v), "%s", err.msg); /* 63 objects */
    char doc[2100];
    snprintf(doc, sizeof doc, "{\"top\":%s}", inner);  /* 64 */
    struct json_iter it;
    struct json_member m;
    const char *d64 = heap(doc, strlen(doc));
    cr_assert(json_object_begin(&it, d64, strlen(doc), NULL, &err));
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_ITEM, "%s", err.msg);
    cr_expect_eq(m.value.kind, JSON_OBJECT);
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_END, "%s", err.msg);
    snprintf(doc, sizeof doc, "{\"a\":{\"top\":%s}}", inner);  /* 65 */
    const char *d65 = heap(doc, strlen(doc));
    cr_assert(json_object_begin(&it, d65, strlen(doc), NULL, &err));
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_ERROR);
    expect_err("65 objects", JSON_EDEPTH, 5 + 7 + 5 * 62, "nesting deeper than 64");
}

Test(json, depth_limit_set_lower)
{
    struct json_options opt = { .depth_max = 2 };
    struct json_value v;
    cr_expect(json_parse(heap(LIT("[[1]]")), 5, &opt, &v, &err), "%s", err.msg);
    cr_expect(!json_parse(heap(LIT("[[[1]]]")), 7, &opt, &v, &err));
    expect_err("depth 3", JSON_EDEPTH, 2, "nesting deeper than 2");
    cr_expect(!json_parse(heap(LIT("[{\"a\":[]}]")), 10, &opt, &v, &err));
    expect_err("depth 3 mixed", JSON_EDEPTH, 6, "nesting deeper than 2");

    opt.depth_max = 1;
    struct json_iter it;
    struct json_member m;
    cr_assert(json_object_begin(&it, heap(LIT("{\"a\":1,\"b\":[]}")), 14, &opt, &err));
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_ITEM);
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_ERROR);
    expect_err("depth 2 at 1", JSON_EDEPTH, 11, "nesting deeper than 1");
}

Test(json, deep_nesting_does_not_recurse)
{
    /* A million brackets: rejected at the limit, quickly, without stack growth. */
    size_t n = 1000000;
    char *s = malloc(n);
    cr_assert_not_null(s);
    memset(s, '[', n);
    struct json_value v;
    cr_expect(!json_parse(s, n, NULL, &v, &err));
    expect_err("deep", JSON_EDEPTH, 64, NULL);
    free(s);
}

Test(json, nested_values_as_raw_text)
{
    static const char doc[] =
        "{\"a\" : { \"b\" : [1, 2, {\"c\":null}] } , \"d\":[ 1 , \"x]\" ] ,\"e\":[],\"f\":{}}";
    struct json_iter it;
    struct json_member m;
    const char *buf = heap(LIT(doc));
    cr_assert(json_object_begin(&it, buf, sizeof doc - 1, NULL, &err));
    cr_assert_eq(json_object_next(&it, &m, &err), JSON_ITEM);
    cr_expect(slice_is(m.value.text, m.value.len, "{ \"b\" : [1, 2, {\"c\":null}] }"));
    cr_expect_eq(m.value.offset, 7);
    /* The raw text of a nested value is a valid JSON text by itself. */
    struct json_value again;
    cr_expect(json_parse(m.value.text, m.value.len, NULL, &again, &err));
    cr_expect_eq(again.kind, JSON_OBJECT);
    cr_assert_eq(json_object_next(&it, &m, &err), JSON_ITEM);
    cr_expect(slice_is(m.value.text, m.value.len, "[ 1 , \"x]\" ]"));
    cr_assert_eq(json_object_next(&it, &m, &err), JSON_ITEM);
    cr_expect(slice_is(m.value.text, m.value.len, "[]"));
    cr_assert_eq(json_object_next(&it, &m, &err), JSON_ITEM);
    cr_expect(slice_is(m.value.text, m.value.len, "{}"));
    cr_expect_eq(m.value.kind, JSON_OBJECT);
    cr_expect_eq(json_object_next(&it, &m, &err), JSON_END, "%s", err.msg);
}

Test(json, array_of_primitives)
{
    static const char doc[] = "[\"x\", \"y\\n\", 1, -2.5e3, true, false, null, [3], {\"k\":4}]";
    struct json_iter it;
    struct json_value v;
    cr_assert(json_array_begin(&it, heap(LIT(doc)), sizeof doc - 1, NULL, &err));
    struct {
        enum json_kind kind;
        const char *text;
    } want[] = {
        { JSON_STRING, "x" },   { JSON_STRING, "y\\n" }, { JSON_NUMBER, "1" },
        { JSON_NUMBER, "-2.5e3" }, { JSON_TRUE, "true" }, { JSON_FALSE, "false" },
        { JSON_NULL, "null" },  { JSON_ARRAY, "[3]" },   { JSON_OBJECT, "{\"k\":4}" },
    };
    size_t count = 0;
    int r;
    while ((r = json_array_next(&it, &v, &err)) == JSON_ITEM) {
        cr_assert_lt(count, sizeof want / sizeof want[0]);
        cr_expect_eq(v.kind, want[count].kind);
        cr_expect(slice_is(v.text, v.len, want[count].text), "element %zu: '%.*s'", count,
                  (int)v.len, v.text);
        count++;
    }
    cr_expect_eq(r, JSON_END, "%s", err.msg);
    cr_expect_eq(count, 9);

    /* A list column: the array value of a member, iterated from its raw text. */
    struct json_iter outer;
    struct json_member m;
    cr_assert(json_object_begin(&outer, heap(LIT("{\"tags\": [ \"a\" ,\"b\" ]}")), 22, NULL, &err));
    cr_assert_eq(json_object_next(&outer, &m, &err), JSON_ITEM);
    cr_assert(json_array_begin(&it, m.value.text, m.value.len, NULL, &err));
    cr_assert_eq(json_array_next(&it, &v, &err), JSON_ITEM);
    cr_expect(slice_is(v.text, v.len, "a"));
    cr_assert_eq(json_array_next(&it, &v, &err), JSON_ITEM);
    cr_expect(slice_is(v.text, v.len, "b"));
    cr_expect_eq(json_array_next(&it, &v, &err), JSON_END);
    cr_expect_eq(json_object_next(&outer, &m, &err), JSON_END);

    cr_assert(json_array_begin(&it, heap(LIT(" [ ] ")), 5, NULL, &err));
    cr_expect_eq(json_array_next(&it, &v, &err), JSON_END);
    cr_assert(json_array_begin(&it, heap(LIT("[1,]")), 4, NULL, &err));
    cr_expect_eq(json_array_next(&it, &v, &err), JSON_ITEM);
    cr_expect_eq(json_array_next(&it, &v, &err), JSON_ERROR);
    expect_err("[1,]", JSON_ESYNTAX, 3, "trailing comma");
    cr_assert(json_array_begin(&it, heap(LIT("[1 2]")), 5, NULL, &err));
    cr_expect_eq(json_array_next(&it, &v, &err), JSON_ITEM);
    cr_expect_eq(json_array_next(&it, &v, &err), JSON_ERROR);
    expect_err("[1 2]", JSON_ESYNTAX, 3, "expected ',' or ']' after an element");
    cr_assert(json_array_begin(&it, heap(LIT("[1")), 2, NULL, &err));
    cr_expect_eq(json_array_next(&it, &v, &err), JSON_ITEM);
    cr_expect_eq(json_array_next(&it, &v, &err), JSON_ERROR);
    expect_err("[1", JSON_ETRUNCATED, 2, NULL);
}

/* ------------------------------------------------------------------------ */
/* Truncation */

static const char sample[] =
    "{\"id\":\"3f2b\",\"n\":-12.5e-3,\"i\":0,\"t\":true,\"f\":false,\"z\":null,"
    "\"s\":\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
    "0123456789abcdef\",\"arr\":[1,[2,{\"x\":[]}],\"y\"], \"o\" : {\"p\":{\"q\":1.0E+2}} }";

Test(json, every_prefix_is_truncated)
{
    size_t n = sizeof sample - 1;
    struct json_value v;
    cr_assert(parse(sample, n, &v), "%s", err.msg);
    for (size_t len = 0; len < n; len++) {
        /* An exact-size buffer: ASan reports any read past the prefix. */
        char *p = malloc(len > 0 ? len : 1);
        memcpy(p, sample, len);
        lw_err_clear(&err);
        cr_expect(!json_parse(p, len, NULL, &v, &err), "prefix %zu accepted", len);
        cr_expect_eq(err.code, JSON_ETRUNCATED, "prefix %zu: %s", len, err.msg);

        struct json_iter it;
        struct json_member m;
        int r = JSON_ERROR;
        if (json_object_begin(&it, p, len, NULL, &err))
            while ((r = json_object_next(&it, &m, &err)) == JSON_ITEM) {
                cr_expect(m.value.text >= p && m.value.text + m.value.len <= p + len);
            }
        cr_expect_eq(r, JSON_ERROR, "prefix %zu: iteration ended", len);
        cr_expect_eq(err.code, JSON_ETRUNCATED, "prefix %zu: %s", len, err.msg);
        free(p);
    }
}

/* ------------------------------------------------------------------------ */
/* Duplicate member names */

static int iterate_all(const char *s, size_t n, struct json_keyset *ks, size_t *count)
{
    struct json_options opt = { .keyset = ks };
    struct json_iter it;
    struct json_member m;
    *count = 0;
    if (!json_object_begin(&it, heap(s, n), n, &opt, &err)) return JSON_ERROR;
    int r;
    while ((r = json_object_next(&it, &m, &err)) == JSON_ITEM) (*count)++;
    return r;
}

Test(json, duplicate_keys)
{
    static struct json_keyset ks;
    size_t count;
    cr_expect_eq(iterate_all(LIT("{\"a\":1,\"a\":2}"), &ks, &count), JSON_ERROR);
    expect_err("a a", JSON_EDUPLICATE, 7, "duplicate member name \"a\" (first at offset 1)");
    cr_expect_eq(count, 1);
    cr_expect_eq(iterate_all(LIT("{\"a\":1,\"\\u0061\":2}"), &ks, &count), JSON_ERROR);
    expect_err("a \\u0061", JSON_EDUPLICATE, 7, NULL);
    cr_expect_eq(iterate_all(LIT("{\"\xc3\xa9\":1,\"x\":0,\"\\u00e9\":2}"), &ks, &count),
                 JSON_ERROR);
    expect_err("e-acute", JSON_EDUPLICATE, 14, NULL);
    cr_expect_eq(iterate_all(LIT("{\"\\/\":1,\"/\":2}"), &ks, &count), JSON_ERROR);
    cr_expect_eq(iterate_all(LIT("{\"\":1,\"\":2}"), &ks, &count), JSON_ERROR);
    /* Different names, similar bytes. */
    cr_expect_eq(iterate_all(LIT("{\"a\":1,\"A\":2,\"ab\":3,\"a \":4,\"\\u0062\":5,\"\":6}"), &ks,
                             &count),
                 JSON_END, "%s", err.msg);
    cr_expect_eq(count, 6);
    /* The key set starts empty for each object. */
    cr_expect_eq(iterate_all(LIT("{\"a\":1}"), &ks, &count), JSON_END);
    cr_expect_eq(iterate_all(LIT("{\"a\":1}"), &ks, &count), JSON_END);
    /* Nested objects are raw values: their names are not checked. */
    cr_expect_eq(iterate_all(LIT("{\"x\":{\"a\":1,\"a\":2}}"), &ks, &count), JSON_END);
    /* Without a key set, duplicates are returned as they come. */
    cr_expect_eq(iterate_all(LIT("{\"a\":1,\"a\":2}"), NULL, &count), JSON_END);
    cr_expect_eq(count, 2);
}

Test(json, duplicate_check_limit)
{
    static struct json_keyset ks;
    static char doc[16 * (JSON_KEYSET_MAX + 2)];
    size_t n = 0;
    doc[n++] = '{';
    for (int k = 0; k < JSON_KEYSET_MAX; k++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s\"k%d\":%d", k ? "," : "", k, k);
    doc[n++] = '}';
    size_t count;
    cr_expect_eq(iterate_all(doc, n, &ks, &count), JSON_END, "%s", err.msg);
    cr_expect_eq(count, JSON_KEYSET_MAX);
    n--;
    n += (size_t)snprintf(doc + n, sizeof doc - n, ",\"k%d\":0}", JSON_KEYSET_MAX);
    cr_expect_eq(iterate_all(doc, n, &ks, &count), JSON_ERROR);
    cr_expect_eq(err.code, JSON_ELIMIT, "%s", err.msg);
    cr_expect(strstr(err.msg, "more than 256 members") != NULL, "%s", err.msg);
    /* A duplicate among many names is found. */
    n -= strlen(",\"k256\":0}");
    n += (size_t)snprintf(doc + n, sizeof doc - n, ",\"k200\":0}");
    cr_expect_eq(iterate_all(doc, n, &ks, &count), JSON_ERROR);
    cr_expect_eq(err.code, JSON_EDUPLICATE, "%s", err.msg);
}

/* ------------------------------------------------------------------------ */
/* Numbers */

Test(json, number_syntax)
{
    const char *valid[] = { "0", "-0", "1", "-1", "123", "1.5", "-1.5e10", "1E5", "1e+5",
                            "1e-5", "0.0", "0e0", "1.0E-0", "-0.0e-0", "1e007",
                            "123456789012345678901234567890", "1e999999999999999999999" };
    for (size_t k = 0; k < sizeof valid / sizeof valid[0]; k++) {
        accept_n(valid[k], strlen(valid[k]), JSON_NUMBER);
        char arr[64];
        snprintf(arr, sizeof arr, "[%s,%s]", valid[k], valid[k]);
        accept_n(arr, strlen(arr), JSON_ARRAY);
    }
    REJECT("01", JSON_ENUMBER, 0, "leading zeros are not allowed in numbers");
    REJECT("-01", JSON_ENUMBER, 1, "leading zeros");
    REJECT("00", JSON_ENUMBER, 0, "leading zeros");
    REJECT("[007]", JSON_ENUMBER, 1, "leading zeros");
    REJECT("+1", JSON_ENUMBER, 0, "'+' is not allowed before a number");
    REJECT(".5", JSON_ENUMBER, 0, "must start with a digit");
    REJECT("-.5", JSON_ENUMBER, 1, "expected a digit in number, found '.'");
    REJECT("1.", JSON_ETRUNCATED, 2, "expected a digit after '.'");
    REJECT("[1.]", JSON_ENUMBER, 3, "expected a digit after '.' in number, found ']'");
    REJECT("1.e5", JSON_ENUMBER, 2, "after '.'");
    REJECT("-", JSON_ETRUNCATED, 1, "expected a digit");
    REJECT("-a", JSON_ENUMBER, 1, "found 'a'");
    REJECT("--1", JSON_ENUMBER, 1, "found '-'");
    REJECT("1e", JSON_ETRUNCATED, 2, "exponent");
    REJECT("[1e]", JSON_ENUMBER, 3, "expected a digit in the exponent of number, found ']'");
    REJECT("1e+", JSON_ETRUNCATED, 3, "exponent");
    REJECT("1e+-1", JSON_ENUMBER, 3, "exponent");
    REJECT("1E.5", JSON_ENUMBER, 2, "exponent");
    REJECT("0x10", JSON_ENUMBER, 1, "invalid character 'x' in number");
    REJECT("1a", JSON_ENUMBER, 1, "invalid character 'a' in number");
    REJECT("1.5.3", JSON_ENUMBER, 3, "invalid character '.' in number");
    REJECT("1e5e5", JSON_ENUMBER, 3, "invalid character 'e'");
    REJECT("1-2", JSON_ENUMBER, 1, "invalid character '-'");
    REJECT("1+2", JSON_ENUMBER, 1, "invalid character '+'");
    REJECT("-Infinity", JSON_ENUMBER, 1, "found 'I'");
    REJECT("{\"n\":-}", JSON_ENUMBER, 6, "expected a digit in number, found '}'");
}

Test(json, number_is_integer)
{
    cr_expect(json_number_is_integer(LIT("0")));
    cr_expect(json_number_is_integer(LIT("-0")));
    cr_expect(json_number_is_integer(LIT("123")));
    cr_expect(json_number_is_integer(LIT("-9223372036854775809")));
    cr_expect(!json_number_is_integer(LIT("1.0")));
    cr_expect(!json_number_is_integer(LIT("1e3")));
    cr_expect(!json_number_is_integer(LIT("01")));
    cr_expect(!json_number_is_integer(LIT("")));
    cr_expect(!json_number_is_integer(LIT("-")));
    cr_expect(!json_number_is_integer(LIT("1 ")));
    cr_expect(!json_number_is_integer(LIT("+1")));
    cr_expect(!json_number_is_integer(NULL, 0));
}

static void i64_is(const char *s, int64_t want)
{
    int64_t v = 0;
    lw_err_clear(&err);
    size_t n = strlen(s);
    cr_expect(json_number_to_i64(heap(s, n), n, &v, &err), "%s: %s", s, err.msg);
    cr_expect_eq(v, want, "%s: %" PRId64 ", want %" PRId64, s, v, want);
}

static void i64_fails(const char *s, int code, const char *part)
{
    int64_t v = 77;
    lw_err_clear(&err);
    size_t n = strlen(s);
    cr_expect(!json_number_to_i64(heap(s, n), n, &v, &err), "%s accepted as %" PRId64, s, v);
    cr_expect_eq(err.code, code, "%s: %s", s, err.msg);
    cr_expect(strstr(err.msg, part) != NULL, "%s: '%s' lacks '%s'", s, err.msg, part);
    cr_expect_eq(v, 77);
}

Test(json, number_to_i64)
{
    i64_is("0", 0);
    i64_is("-0", 0);
    i64_is("7", 7);
    i64_is("-42", -42);
    i64_is("9223372036854775807", INT64_MAX);
    i64_is("-9223372036854775808", INT64_MIN);
    i64_is("-9223372036854775807", -INT64_MAX);
    /* Non-literal forms that denote an integer. */
    i64_is("1.0", 1);
    i64_is("-12.000", -12);
    i64_is("1e3", 1000);
    i64_is("1E+3", 1000);
    i64_is("1.5e1", 15);
    i64_is("1200e-2", 12);
    i64_is("0.0", 0);
    i64_is("-0.0e5", 0);
    i64_is("0e99999999999999999999", 0);
    i64_is("0.000e-99999999999", 0);
    i64_is("9.223372036854775807e18", INT64_MAX);
    i64_is("-9.223372036854775808e18", INT64_MIN);
    i64_is("100000000000000000000e-2", 1000000000000000000);
    i64_is("922337203685477580.7e1", INT64_MAX);

    i64_fails("9223372036854775808", JSON_ERANGE,
              "'9223372036854775808' is out of range for int64");
    i64_fails("-9223372036854775809", JSON_ERANGE, "out of range");
    i64_fails("18446744073709551616", JSON_ERANGE, "out of range");
    i64_fails("99999999999999999999", JSON_ERANGE, "out of range");
    i64_fails("1e19", JSON_ERANGE, "out of range");
    i64_fails("9.223372036854775808e18", JSON_ERANGE, "out of range");
    i64_fails("1e99999999999999999999", JSON_ERANGE, "out of range");
    i64_fails("12345678901234567890123456789", JSON_ERANGE, "out of range");
    i64_fails("1.5", JSON_ENOTINT, "'1.5' is not an integer");
    i64_fails("-0.1", JSON_ENOTINT, "not an integer");
    i64_fails("1e-1", JSON_ENOTINT, "not an integer");
    i64_fails("1.25e1", JSON_ENOTINT, "not an integer");
    i64_fails("1e-99999999999999999999", JSON_ENOTINT, "not an integer");
    i64_fails("", JSON_ENUMBER, "'' is not a JSON number");
    i64_fails("01", JSON_ENUMBER, "not a JSON number (leading zeros");
    i64_fails("12a", JSON_ENUMBER, "'12a' is not a JSON number (unexpected character at byte 2)");
    i64_fails(" 1", JSON_ENUMBER, "not a JSON number");
    i64_fails("1 ", JSON_ENUMBER, "not a JSON number");
    i64_fails("+1", JSON_ENUMBER, "not a JSON number");
    i64_fails("0x1F", JSON_ENUMBER, "not a JSON number");
    i64_fails("\"1\"", JSON_ENUMBER, "not a JSON number");
    i64_fails("1\n", JSON_ENUMBER, "'1\\x0A' is not");
}

static void double_is(const char *s, double want)
{
    double v = 0;
    lw_err_clear(&err);
    size_t n = strlen(s);
    cr_expect(json_number_to_double(heap(s, n), n, &v, &err), "%s: %s", s, err.msg);
    cr_expect(memcmp(&v, &want, sizeof v) == 0, "%s: %.17g, want %.17g", s, v, want);
}

/* Checks against strtod on a NUL-terminated copy (glibc's is correctly rounded). */
static void double_like_strtod(const char *s)
{
    double want = strtod(s, NULL);
    double_is(s, want);
}

Test(json, number_to_double)
{
    double_is("0", 0.0);
    double_is("-0", -0.0);
    double_is("-0.0e10", -0.0);
    double_is("1", 1.0);
    double_is("1.5", 1.5);
    double_is("0.1", 0.1);
    double_is("-40.712345", -40.712345);
    double_is("42.50", 42.5);
    double_is("1e22", 1e22);
    double_is("1e23", 1e23);
    double_is("1e308", 1e308);
    double_is("1.7976931348623157e308", DBL_MAX);
    double_is("2.2250738585072014e-308", DBL_MIN);
    double_is("4.9e-324", 4.9e-324);
    double_is("5e-324", 5e-324);
    double_is("1e-400", 0.0);
    double_is("-1e-400", -0.0);
    double_is("1e-99999999999999999999", 0.0);
    /* Ties to even at the edge of the subnormals, and at 2^53. */
    double_is("2.4703282292062327e-324", 0.0);
    double_is("2.4703282292062328e-324", 5e-324);
    double_is("9007199254740993", 9007199254740992.0);
    double_is("9007199254740995", 9007199254740996.0);
    double_is("9223372036854775807", 9223372036854775808.0);
    double_like_strtod("2.2250738585072011e-308");
    double_like_strtod("123456789012345678901234567890");
    double_like_strtod("0.30000000000000004441");
    double_like_strtod("3.14159265358979323846264338327950288");
    double_like_strtod("1234567.123456789e-7");
    double_like_strtod("-12.5e-3");
    double_like_strtod("1.0E+2");

    double v;
    cr_expect(!json_number_to_double(LIT("1e400"), &v, &err));
    cr_expect_eq(err.code, JSON_ERANGE);
    cr_expect(strstr(err.msg, "'1e400' is out of range for double") != NULL, "%s", err.msg);
    cr_expect(!json_number_to_double(LIT("-1.7976931348623159e308"), &v, &err));
    cr_expect_eq(err.code, JSON_ERANGE);
    cr_expect(!json_number_to_double(LIT("1e99999999999999999999"), &v, &err));
    cr_expect_eq(err.code, JSON_ERANGE);
    cr_expect(!json_number_to_double(LIT("1."), &v, &err));
    cr_expect_eq(err.code, JSON_ENUMBER);
    cr_expect(!json_number_to_double(LIT("inf"), &v, &err));
    cr_expect_eq(err.code, JSON_ENUMBER);
    cr_expect(!json_number_to_double(LIT("0x1p3"), &v, &err));
    cr_expect_eq(err.code, JSON_ENUMBER);
}

Test(json, number_to_double_long_texts)
{
    /* 2^53 + 1 is a tie: even rounds down; any nonzero digit after it, however far,
     * rounds up. The cut at 800 digits must keep that digit's effect. */
    static char s[2048];
    size_t n = (size_t)snprintf(s, sizeof s, "9007199254740993.");
    memset(s + n, '0', 1500);
    n += 1500;
    s[n] = '\0';
    double_is(s, 9007199254740992.0);
    s[n++] = '1';
    s[n] = '\0';
    double_is(s, 9007199254740994.0);
    double_like_strtod(s);

    /* Many significant digits, against strtod. */
    n = 0;
    s[n++] = '0';
    s[n++] = '.';
    for (int k = 0; k < 1200; k++) s[n++] = (char)('0' + (k * 7 + 3) % 10);
    s[n] = '\0';
    double_like_strtod(s);
    n += (size_t)snprintf(s + n, sizeof s - n, "e-300");
    double_like_strtod(s);

    /* Leading zeros after the point do not count as significant. */
    n = (size_t)snprintf(s, sizeof s, "0.");
    memset(s + n, '0', 1000);
    n += 1000;
    n += (size_t)snprintf(s + n, sizeof s - n, "17976931348623157e1308");
    double_like_strtod(s);
}

Test(json, number_conversions_agree_with_libc)
{
    /* Random numbers of every shape, against strtod and strtoll. */
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char s[64];
        int digits = 1 + (int)(x % 19);
        size_t n = 0;
        if (x >> 63) s[n++] = '-';
        uint64_t y = x;
        s[n++] = (char)('1' + (y >> 8) % 9);
        for (int k = 1; k < digits; k++) s[n++] = (char)('0' + (y >> (k * 3)) % 10);
        if ((x >> 20) % 3 == 0) {
            s[n++] = '.';
            int f = 1 + (int)((x >> 24) % 8);
            for (int k = 0; k < f; k++) s[n++] = (char)('0' + (x >> (k * 5 + 3)) % 10);
        }
        if ((x >> 30) % 4 == 0)
            n += (size_t)snprintf(s + n, sizeof s - n, "e%d", (int)((x >> 34) % 700) - 350);
        s[n] = '\0';
        double want = strtod(s, NULL), got;
        if (isinf(want)) {
            cr_expect(!json_number_to_double(s, n, &got, &err), "%s", s);
        } else {
            cr_assert(json_number_to_double(s, n, &got, &err), "%s: %s", s, err.msg);
            cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s: %.17g, want %.17g", s, got, want);
        }
        if (json_number_is_integer(s, n)) {
            int64_t i;
            bool ok = json_number_to_i64(s, n, &i, &err);
            errno = 0;
            long long ll = strtoll(s, NULL, 10);
            if (errno == ERANGE) cr_assert(!ok && err.code == JSON_ERANGE, "%s", s);
            else cr_assert(ok && i == ll, "%s: %s", s, err.msg);
        }
    }
}

Test(json, kind_names)
{
    cr_expect_str_eq(json_kind_name(JSON_NULL), "null");
    cr_expect_str_eq(json_kind_name(JSON_FALSE), "false");
    cr_expect_str_eq(json_kind_name(JSON_TRUE), "true");
    cr_expect_str_eq(json_kind_name(JSON_NUMBER), "number");
    cr_expect_str_eq(json_kind_name(JSON_STRING), "string");
    cr_expect_str_eq(json_kind_name(JSON_OBJECT), "object");
    cr_expect_str_eq(json_kind_name(JSON_ARRAY), "array");
}
