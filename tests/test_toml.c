/* toml.c: every element of the subset, every error with its line, the limits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"

static struct toml_doc *parse(const char *text)
{
    struct lw_err e = { 0 };
    struct toml_doc *d = toml_parse(text, strlen(text), &e);
    cr_assert_not_null(d, "toml_parse failed: %s", e.msg);
    return d;
}

/* Parses text that must have no error. */
static struct toml_doc *parse_ok(const char *text)
{
    struct toml_doc *d = parse(text);
    if (toml_error_count(d) > 0) {
        const struct toml_error *x = toml_error_at(d, 0);
        cr_assert_fail("unexpected error at %u:%u: %s\n--- input:\n%s", x->line, x->col, x->msg, text);
    }
    return d;
}

/* Parses text that must fail with exactly one error on `line` containing `want`. */
static void expect_error(const char *text, uint32_t line, const char *want)
{
    struct toml_doc *d = parse(text);
    cr_assert_eq(toml_error_count(d), 1, "expected 1 error, got %zu, for:\n%s%s%s", toml_error_count(d), text,
                 toml_error_count(d) > 0 ? "\nfirst: " : "", toml_error_count(d) > 0 ? toml_error_at(d, 0)->msg : "");
    const struct toml_error *x = toml_error_at(d, 0);
    cr_expect_eq(x->line, line, "error on line %u, expected %u: %s", x->line, line, x->msg);
    cr_expect(strstr(x->msg, want) != NULL, "message '%s' lacks '%s'", x->msg, want);
    toml_free(d);
}

/* The node at a dotted path of bare keys from the root ("a.b.c"). */
static const struct toml_node *at(const struct toml_doc *d, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const struct toml_node *n = toml_root(d);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        n = toml_get(n, k);
        cr_assert_not_null(n, "no '%s' in path %s", k, path);
    }
    return n;
}

Test(toml, empty_and_comment_only_documents)
{
    struct toml_doc *d = parse_ok("");
    cr_expect_eq(toml_root(d)->count, 0);
    cr_expect_eq(toml_root(d)->type, TOML_TABLE);
    toml_free(d);
    d = parse_ok("# just a comment\n\n   \t# another\n");
    cr_expect_eq(toml_root(d)->count, 0);
    toml_free(d);
    d = parse_ok("\xEF\xBB\xBF" "a = 1\n"); /* byte order mark */
    cr_expect_eq(at(d, "a")->integer, 1);
    toml_free(d);
}

Test(toml, scalars_and_their_lines)
{
    struct toml_doc *d = parse_ok("s = \"text\"\n"
                                  "l = 'C:\\path\\n'\n"
                                  "i = -1_000_000\n"
                                  "p = +42\n"
                                  "z = 0\n"
                                  "t = true\n"
                                  "f = false   # trailing comment\n"
                                  "\r\n"
                                  "max = 9223372036854775807\n"
                                  "min = -9223372036854775808\n");
    const struct toml_node *n = at(d, "s");
    cr_expect_eq(n->type, TOML_STRING);
    cr_expect_str_eq(n->str, "text");
    cr_expect_eq(n->str_len, 4);
    cr_expect_eq(n->line, 1);
    cr_expect_eq(n->col, 1);
    cr_expect_str_eq(at(d, "l")->str, "C:\\path\\n");
    cr_expect_eq(at(d, "i")->integer, -1000000);
    cr_expect_eq(at(d, "p")->integer, 42);
    cr_expect_eq(at(d, "z")->integer, 0);
    cr_expect(at(d, "t")->boolean);
    cr_expect_eq(at(d, "t")->type, TOML_BOOL);
    cr_expect_not(at(d, "f")->boolean);
    cr_expect_eq(at(d, "f")->line, 7);
    cr_expect_eq(at(d, "max")->integer, INT64_MAX);
    cr_expect_eq(at(d, "max")->line, 9);
    cr_expect_eq(at(d, "min")->integer, INT64_MIN);
    toml_free(d);
}

Test(toml, keys_bare_quoted_and_order)
{
    struct toml_doc *d = parse_ok("zeta = 1\nalpha = 2\n\"quoted key\" = 3\n'lit.key' = 4\n\"\" = 5\n"
                                  "A-b_9 = 6\n\"\\u00e9t\\u00e9\" = 7\n  indented = 8\n");
    const char *order[] = { "zeta", "alpha", "quoted key", "lit.key", "", "A-b_9", "\xc3\xa9t\xc3\xa9", "indented" };
    size_t i = 0;
    for (const struct toml_node *n = toml_root(d)->child; n != NULL; n = n->next, i++) {
        cr_assert_lt(i, 8);
        cr_expect_str_eq(n->key, order[i]);
        cr_expect_eq(n->integer, (int64_t)i + 1);
    }
    cr_expect_eq(i, 8);
    cr_expect_eq(at(d, "indented")->col, 3);
    toml_free(d);
}

Test(toml, tables_nested_and_dotted)
{
    struct toml_doc *d = parse_ok("top = 1\n"
                                  "[a]\n"
                                  "x = 1\n"
                                  "[a.b.c]\n"
                                  "y = 2\n"
                                  "[ a . \"q k\" ]\n"
                                  "z = 3\n"
                                  "[d]\n"
                                  "e.f = 4\n"
                                  "e.g = 5\n"
                                  "[d.e.h]\n"
                                  "i = 6\n"
                                  "[a.b]\n"
                                  "w = 7\n");
    cr_expect_eq(at(d, "a.x")->integer, 1);
    cr_expect_eq(at(d, "a.b.c.y")->integer, 2);
    cr_expect_eq(at(d, "d.e.f")->integer, 4);
    cr_expect_eq(at(d, "d.e.g")->integer, 5);
    cr_expect_eq(at(d, "d.e.h.i")->integer, 6);
    cr_expect_eq(at(d, "a.b.w")->integer, 7);
    /* a.b was implicit (from [a.b.c]) until [a.b] defined it on line 13. */
    cr_expect_eq(at(d, "a.b")->line, 13);
    cr_expect_eq(at(d, "a")->line, 2);
    const struct toml_node *q = toml_get(at(d, "a"), "q k");
    cr_assert_not_null(q);
    cr_expect_eq(toml_get(q, "z")->integer, 3);
    char path[128];
    cr_expect_str_eq(toml_path(toml_get(q, "z"), path, sizeof path), "a.\"q k\".z");
    cr_expect_str_eq(toml_path(at(d, "d.e.h.i"), path, sizeof path), "d.e.h.i");
    toml_free(d);
}

Test(toml, arrays_of_tables)
{
    struct toml_doc *d = parse_ok("[[streams]]\nname = \"a\"\n\n[[streams]]\nname = \"b\"\n[streams.sub]\nk = 1\n"
                                  "[[streams]]\n");
    const struct toml_node *s = at(d, "streams");
    cr_assert_eq(s->type, TOML_TABLE_ARRAY);
    cr_assert_eq(s->count, 3);
    const struct toml_node *first = s->child, *second = first->next, *third = second->next;
    cr_expect_str_eq(toml_get(first, "name")->str, "a");
    cr_expect_eq(first->line, 1);
    cr_expect_str_eq(toml_get(second, "name")->str, "b");
    cr_expect_eq(toml_get(toml_get(second, "sub"), "k")->integer, 1);
    cr_expect_eq(third->count, 0);
    char path[64];
    cr_expect_str_eq(toml_path(toml_get(second, "name"), path, sizeof path), "streams[1].name");
    toml_free(d);
}

Test(toml, arrays_span_lines_with_comments)
{
    struct toml_doc *d = parse_ok("a = []\n"
                                  "b = [ \"x\", 'y', 2, true ]\n"
                                  "c = [\n"
                                  "  \"one\",   # first\n"
                                  "  # a comment line\n"
                                  "  \"two\",\n"
                                  "]\n"
                                  "after = 1\n");
    cr_expect_eq(at(d, "a")->type, TOML_ARRAY);
    cr_expect_eq(at(d, "a")->count, 0);
    const struct toml_node *b = at(d, "b");
    cr_assert_eq(b->count, 4);
    cr_expect_str_eq(b->child->str, "x");
    cr_expect_str_eq(b->child->next->str, "y");
    cr_expect_eq(b->child->next->next->integer, 2);
    cr_expect(b->child->next->next->next->boolean);
    const struct toml_node *c = at(d, "c");
    cr_assert_eq(c->count, 2);
    cr_expect_eq(c->child->line, 4);
    cr_expect_eq(c->child->next->line, 6);
    cr_expect_eq(at(d, "after")->line, 8);
    char path[64];
    cr_expect_str_eq(toml_path(c->child->next, path, sizeof path), "c[1]");
    toml_free(d);
}

Test(toml, every_escape)
{
    struct toml_doc *d = parse_ok("s = \"\\b\\t\\n\\f\\r\\\"\\\\ \\u00E9 \\u5BFF \\U0001F600\"\n");
    cr_expect_str_eq(at(d, "s")->str, "\b\t\n\f\r\"\\ \xc3\xa9 \xe5\xaf\xbf \xf0\x9f\x98\x80");
    toml_free(d);
    d = parse_ok("s = \"caf\xc3\xa9 \xe5\xaf\xbf\xe5\x8f\xb8\tand a tab\"\n");
    cr_expect_str_eq(at(d, "s")->str, "caf\xc3\xa9 \xe5\xaf\xbf\xe5\x8f\xb8\tand a tab");
    toml_free(d);
}

Test(toml, string_errors)
{
    expect_error("a = 1\ns = \"abc\n", 2, "unterminated string");
    expect_error("s = 'abc\n", 1, "unterminated string");
    expect_error("s = \"\"\"multi\"\"\"\n", 1, "multi-line strings");
    expect_error("s = '''multi'''\n", 1, "multi-line strings");
    expect_error("s = \"\\x41\"\n", 1, "unknown escape");
    expect_error("s = \"\\u12\"\n", 1, "\\u needs exactly 4 hexadecimal digits");
    expect_error("s = \"\\U0001F60\"\n", 1, "\\U needs exactly 8 hexadecimal digits");
    expect_error("s = \"\\uD800\"\n", 1, "not a Unicode scalar value");
    expect_error("s = \"\\U00110000\"\n", 1, "not a Unicode scalar value");
    expect_error("s = \"\\u0000\"\n", 1, "NUL characters");
    expect_error("s = \"a\x01" "b\"\n", 1, "control character 0x01");
    expect_error("s = 'a\x7f'\n", 1, "control character 0x7F");
    expect_error("s = \"\xc3\x28\"\n", 1, "invalid UTF-8");
    expect_error("s = '\xed\xa0\x80'\n", 1, "invalid UTF-8");
    expect_error("s = \"ab\xf0\x9f\"\n", 1, "invalid UTF-8");
    expect_error("# ok\n# bad \xff comment\n", 2, "invalid UTF-8 in a comment");
    expect_error("# bad \x02 comment\n", 1, "control character 0x02 in a comment");
}

Test(toml, value_errors_name_what_is_unsupported)
{
    expect_error("x = 1.5\n", 1, "floats are not supported");
    expect_error("x = 1e3\n", 1, "floats are not supported");
    expect_error("x = inf\n", 1, "floats are not supported");
    expect_error("x = -nan\n", 1, "floats are not supported");
    expect_error("x = 0x1F\n", 1, "hexadecimal, octal and binary");
    expect_error("x = 0o17\n", 1, "hexadecimal, octal and binary");
    expect_error("x = 0b101\n", 1, "hexadecimal, octal and binary");
    expect_error("x = 1979-05-27\n", 1, "dates and times are not supported");
    expect_error("x = 07:32:00\n", 1, "dates and times are not supported");
    expect_error("x = { a = 1 }\n", 1, "inline tables");
    expect_error("x = [[1], [2]]\n", 1, "arrays of arrays");
    expect_error("x = [ {a = 1} ]\n", 1, "inline tables");
    expect_error("x = lake\n", 1, "unquoted text 'lake': strings must be quoted (\"lake\")");
    expect_error("x = True\n", 1, "unquoted text 'True'");
    expect_error("x = 1__0\n", 1, "'_' must stand between two digits");
    expect_error("x = _1\n", 1, "unquoted text '_1'");
    expect_error("x = 1_\n", 1, "'_' must stand between two digits");
    expect_error("x = 012\n", 1, "leading zeros");
    expect_error("x = 9223372036854775808\n", 1, "out of the 64-bit range");
    expect_error("x = -9223372036854775809\n", 1, "out of the 64-bit range");
    expect_error("x = 12abc\n", 1, "not a valid integer");
    expect_error("x =\n", 1, "expected a value after '='");
    expect_error("x = # nothing\n", 1, "expected a value after '='");
    expect_error("x = ,\n", 1, "expected a value");
    expect_error("x = 1 2\n", 1, "expected the end of the line");
    expect_error("x = \"a\" \"b\"\n", 1, "expected the end of the line");
    expect_error("x = [1 2]\n", 1, "expected ',' or ']'");
    expect_error("x = [1,,2]\n", 1, "expected a value");
    expect_error("x = [1,\n2,\n", 3, "unterminated array");
}

Test(toml, key_and_header_errors)
{
    expect_error("= 1\n", 1, "expected a key");
    expect_error("a b = 1\n", 1, "expected '=' after the key");
    expect_error("a\n", 1, "expected '=' after the key, found the end of the line");
    expect_error("\xc3\xa9 = 1\n", 1, "must be quoted");
    expect_error("a. = 1\n", 1, "expected a key");
    expect_error("[a\n", 1, "expected ']' to close the header");
    expect_error("[[a]\n", 1, "expected ']]'");
    expect_error("[]\n", 1, "expected a key");
    expect_error("[a] x = 1\n", 1, "expected the end of the line");
    expect_error("a = 1\r\rb = 2\n", 1, "carriage return");
}

Test(toml, duplicates_are_errors_with_the_first_line)
{
    expect_error("a = 1\nb = 2\na = 3\n", 3, "duplicate key (first defined on line 1)");
    expect_error("[t]\nx = 1\n\n[t]\ny = 2\n", 4, "table [t] is defined twice (first on line 1)");
    expect_error("[t]\nx = 1\n[t.x]\n", 3, "'t.x' is already an integer (line 2), not a table");
    expect_error("[t]\nx.y = 1\n[t.x]\n", 3, "was already defined by dotted keys on line 2");
    expect_error("[[s]]\n[s]\n", 2, "[s] is an array of tables (line 1)");
    expect_error("[s]\n[[s]]\n", 2, "'s' is already a table (line 1), not an array of tables");
    expect_error("a = [1]\n[[a]]\n", 2, "'a' is already an array (line 1)");
    expect_error("a = 1\na.b = 2\n", 2, "cannot add keys to 'a'");
    expect_error("[a.b]\nc = 1\n[a]\nb.d = 2\n", 4, "cannot add keys to 'a.b'");
    expect_error("\"a\" = 1\n'a' = 2\n", 2, "duplicate key");
    expect_error("[x]\n\"y\" = 1\ny = 2\n", 3, "x.y: duplicate key");
}

Test(toml, errors_name_the_key_and_the_column)
{
    struct toml_doc *d = parse("[redis]\nurl = \"abc\n");
    cr_assert_eq(toml_error_count(d), 1);
    const struct toml_error *x = toml_error_at(d, 0);
    cr_expect_str_eq(x->msg, "redis.url: unterminated string: the closing \" is missing on this line");
    cr_expect_eq(x->line, 2);
    cr_expect_eq(x->col, 7);
    toml_free(d);
}

Test(toml, every_error_is_reported_and_the_rest_still_parsed)
{
    struct toml_doc *d = parse("a = 1.5\n"
                               "b = \"ok\"\n"
                               "c = [1,\n"
                               "  2.5, \"x\",\n"
                               "  3]\n"
                               "d = nope\n"
                               "[t]\n"
                               "[t]\n"
                               "e = 1\n"
                               "[u]\n"
                               "f = 2\n");
    cr_assert_eq(toml_error_count(d), 4);
    cr_expect_eq(toml_error_at(d, 0)->line, 1);
    cr_expect_eq(toml_error_at(d, 1)->line, 4);
    cr_expect_eq(toml_error_at(d, 2)->line, 6);
    cr_expect_eq(toml_error_at(d, 3)->line, 8);
    /* Keys whose value failed stay, as invalid, so that nobody reports them missing. */
    cr_expect_eq(at(d, "a")->type, TOML_INVALID);
    cr_expect_eq(at(d, "c")->type, TOML_INVALID);
    cr_expect_eq(at(d, "d")->type, TOML_INVALID);
    cr_expect_str_eq(at(d, "b")->str, "ok");
    cr_expect_eq(at(d, "u.f")->integer, 2);
    /* Keys under the broken header do not land in the first [t]. */
    cr_expect_null(toml_get(at(d, "t"), "e"));
    toml_free(d);
}

Test(toml, error_count_is_bounded)
{
    char text[4096] = "";
    for (int i = 0; i < 100; i++) strcat(text, "x = 1.5\n");
    struct toml_doc *d = parse(text);
    cr_expect_eq(toml_error_count(d), TOML_ERRORS_MAX);
    cr_expect(strstr(toml_error_at(d, TOML_ERRORS_MAX - 1)->msg, "too many errors") != NULL);
    toml_free(d);
}

Test(toml, limits)
{
    struct lw_err e = { 0 };
    char *big = malloc(TOML_FILE_MAX + 1);
    memset(big, '#', TOML_FILE_MAX + 1);
    cr_expect_null(toml_parse(big, TOML_FILE_MAX + 1, &e));
    cr_expect(strstr(e.msg, "larger than") != NULL);
    free(big);

    /* Key length. */
    char key[TOML_KEY_LEN_MAX + 16];
    memset(key, 'k', TOML_KEY_LEN_MAX);
    snprintf(key + TOML_KEY_LEN_MAX, 16, " = 1\n");
    struct toml_doc *d = parse_ok(key);
    toml_free(d);
    memset(key, 'k', TOML_KEY_LEN_MAX + 1);
    snprintf(key + TOML_KEY_LEN_MAX + 1, 15, " = 1\n");
    expect_error(key, 1, "key is longer than 256 bytes");

    /* Depth: 8 components in all, header plus dotted key. */
    d = parse_ok("[a.b.c.d]\ne.f.g.h = 1\n");
    toml_free(d);
    expect_error("[a.b.c.d]\ne.f.g.h.i = 1\n", 2, "keys nest deeper than 8 levels");
    expect_error("[a.b.c.d.e.f.g.h.i]\n", 1, "keys nest deeper than 8 levels");

    /* String length. */
    size_t n = TOML_STRING_LEN_MAX + 16;
    char *s = malloc(n + 16);
    memcpy(s, "s = \"", 5);
    memset(s + 5, 'x', n);
    memcpy(s + 5 + n, "\"\n", 3);
    expect_error(s, 1, "string is longer than 8192 bytes");
    free(s);
}

Test(toml, node_limit)
{
    /* More items than TOML_NODES_MAX, in a file well under the size limit. */
    size_t count = TOML_NODES_MAX + 10;
    char *text = malloc(count * 2 + 16);
    char *p = text;
    p += sprintf(p, "a = [");
    for (size_t i = 0; i < count; i++) p += sprintf(p, "1,");
    sprintf(p, "]\n");
    struct toml_doc *d = parse(text);
    cr_assert_geq(toml_error_count(d), 1);
    cr_expect(strstr(toml_error_at(d, toml_error_count(d) - 1)->msg, "more than 16384") != NULL);
    toml_free(d);
    free(text);
}

Test(toml, many_keys_in_one_table_stay_fast_and_ordered)
{
    size_t count = 10000;
    char *text = malloc(count * 16 + 16);
    char *p = text;
    for (size_t i = 0; i < count; i++) p += sprintf(p, "k%zu = %zu\n", i, i);
    struct toml_doc *d = parse_ok(text);
    cr_expect_eq(toml_root(d)->count, count);
    size_t i = 0;
    for (const struct toml_node *n = toml_root(d)->child; n != NULL; n = n->next, i++)
        cr_assert_eq(n->integer, (int64_t)i);
    toml_free(d);
    strcpy(p, "k5 = 1\n");
    expect_error(text, (uint32_t)count + 1, "duplicate key (first defined on line 6)");
    free(text);
}

Test(toml, type_names_and_lookup_on_non_tables)
{
    cr_expect_str_eq(toml_type_name(TOML_TABLE), "table");
    cr_expect_str_eq(toml_type_name(TOML_TABLE_ARRAY), "array of tables");
    cr_expect_str_eq(toml_type_name(TOML_STRING), "string");
    cr_expect_str_eq(toml_type_name(TOML_INTEGER), "integer");
    cr_expect_str_eq(toml_type_name(TOML_BOOL), "boolean");
    cr_expect_str_eq(toml_type_name(TOML_ARRAY), "array");
    cr_expect_str_eq(toml_type_name(TOML_INVALID), "invalid value");
    struct toml_doc *d = parse_ok("a = 1\n");
    cr_expect_null(toml_get(at(d, "a"), "x"));
    cr_expect_null(toml_get(NULL, "x"));
    cr_expect_null(toml_get(toml_root(d), "missing"));
    cr_expect_null(toml_error_at(d, 0));
    toml_free(d);
    toml_free(NULL);
}
