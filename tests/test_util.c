/* util.c: sizes, durations, integers, UTF-8 and typo suggestions. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

static uint64_t size_ok(const char *text)
{
    uint64_t v = 0;
    struct lw_err e = { 0 };
    cr_assert(util_parse_size(text, &v, &e), "'%s' refused: %s", text, e.msg);
    return v;
}

static const char *size_err(const char *text)
{
    static struct lw_err e;
    uint64_t v = 0;
    cr_assert_not(util_parse_size(text, &v, &e), "'%s' accepted as %llu", text, (unsigned long long)v);
    return e.msg;
}

static uint64_t dur_ok(const char *text)
{
    uint64_t v = 0;
    struct lw_err e = { 0 };
    cr_assert(util_parse_duration(text, &v, &e), "'%s' refused: %s", text, e.msg);
    return v;
}

static const char *dur_err(const char *text)
{
    static struct lw_err e;
    uint64_t v = 0;
    cr_assert_not(util_parse_duration(text, &v, &e), "'%s' accepted as %llu", text, (unsigned long long)v);
    return e.msg;
}

Test(util, sizes_with_every_unit)
{
    cr_expect_eq(size_ok("0"), 0);
    cr_expect_eq(size_ok("1024"), 1024);
    cr_expect_eq(size_ok("10B"), 10);
    cr_expect_eq(size_ok("512KiB"), 512u * 1024);
    cr_expect_eq(size_ok("64MiB"), 64ull << 20);
    cr_expect_eq(size_ok("5GiB"), 5ull << 30);
    cr_expect_eq(size_ok("2TiB"), 2ull << 40);
    cr_expect_eq(size_ok("16Mi"), 16ull << 20);
    cr_expect_eq(size_ok("1Ki"), 1024);
    cr_expect_eq(size_ok("3Gi"), 3ull << 30);
    cr_expect_eq(size_ok("1Ti"), 1ull << 40);
    cr_expect_eq(size_ok("100kB"), 100000);
    cr_expect_eq(size_ok("100KB"), 100000);
    cr_expect_eq(size_ok("100MB"), 100000000);
    cr_expect_eq(size_ok("2GB"), 2000000000);
    cr_expect_eq(size_ok("1TB"), 1000000000000ull);
    cr_expect_eq(size_ok("64 MiB"), 64ull << 20);
    cr_expect_eq(size_ok("18446744073709551615"), UINT64_MAX);
}

Test(util, sizes_refused_with_reasons)
{
    cr_expect(strstr(size_err("64M"), "ambiguous unit 'M'") != NULL);
    cr_expect(strstr(size_err("64M"), "64MiB") != NULL);
    cr_expect(strstr(size_err("1k"), "ambiguous") != NULL);
    cr_expect(strstr(size_err("1mb"), "ambiguous") != NULL);
    cr_expect(strstr(size_err("1.5GiB"), "fractions") != NULL);
    cr_expect(strstr(size_err("64XB"), "unknown unit 'XB'") != NULL);
    cr_expect(strstr(size_err(""), "expected a size") != NULL);
    cr_expect(strstr(size_err("MiB"), "expected a size") != NULL);
    cr_expect(strstr(size_err("-1MiB"), "expected a size") != NULL);
    cr_expect(strstr(size_err(" 1MiB"), "expected a size") != NULL);
    cr_expect(strstr(size_err("1MiB "), "unknown unit") != NULL);
    cr_expect(strstr(size_err("64 "), "missing unit") != NULL);
    cr_expect(strstr(size_err("18446744073709551616"), "too large") != NULL);
    cr_expect(strstr(size_err("17179869184GiB"), "too large") != NULL);
    cr_expect(strstr(size_err("1111111111111111111111111111111111111111111111111111111111111111111"), "too long") != NULL);
}

Test(util, durations)
{
    cr_expect_eq(dur_ok("0"), 0);
    cr_expect_eq(dur_ok("250ms"), 250);
    cr_expect_eq(dur_ok("30s"), 30000);
    cr_expect_eq(dur_ok("5m"), 300000);
    cr_expect_eq(dur_ok("2h"), 7200000);
    cr_expect_eq(dur_ok("1d"), 86400000);
    cr_expect_eq(dur_ok("1h30m"), 5400000);
    cr_expect_eq(dur_ok("2m30s"), 150000);
    cr_expect_eq(dur_ok("1s500ms"), 1500);
    cr_expect_eq(dur_ok("0s"), 0);
}

Test(util, durations_refused_with_reasons)
{
    cr_expect(strstr(dur_err("30"), "add a unit, e.g. 30s or 30ms") != NULL);
    cr_expect(strstr(dur_err(""), "empty") != NULL);
    cr_expect(strstr(dur_err("1.5s"), "fractions") != NULL);
    cr_expect(strstr(dur_err("10us"), "whole milliseconds") != NULL);
    cr_expect(strstr(dur_err("10ns"), "whole milliseconds") != NULL);
    cr_expect(strstr(dur_err("3w"), "unknown unit") != NULL);
    cr_expect(strstr(dur_err("30m1h"), "largest to smallest") != NULL);
    cr_expect(strstr(dur_err("1s1s"), "largest to smallest") != NULL);
    cr_expect(strstr(dur_err("s"), "expected a duration") != NULL);
    cr_expect(strstr(dur_err("99999999999999999999s"), "too large") != NULL);
    cr_expect(strstr(dur_err("999999999999999d"), "too large") != NULL);
}

Test(util, integers)
{
    uint64_t v = 0;
    struct lw_err e = { 0 };
    cr_expect(util_parse_u64("1000", &v, &e));
    cr_expect_eq(v, 1000);
    cr_expect(util_parse_u64("0", &v, &e));
    cr_expect_eq(v, 0);
    cr_expect_not(util_parse_u64("-1", &v, &e));
    cr_expect(strstr(e.msg, "'-1' is not a non-negative integer") != NULL);
    cr_expect_not(util_parse_u64("1_000", &v, &e));
    cr_expect_not(util_parse_u64("", &v, &e));
    cr_expect_not(util_parse_u64("12a", &v, &e));
    cr_expect_not(util_parse_u64("99999999999999999999", &v, &e));
}

Test(util, formatting_is_exact_and_parses_back)
{
    char b[48];
    cr_expect_str_eq(util_format_size(64ull << 20, b, sizeof b), "64MiB");
    cr_expect_str_eq(util_format_size(1000, b, sizeof b), "1000B");
    cr_expect_str_eq(util_format_size(0, b, sizeof b), "0B");
    cr_expect_str_eq(util_format_size(1536ull << 20, b, sizeof b), "1536MiB");
    cr_expect_str_eq(util_format_size(2ull << 40, b, sizeof b), "2TiB");
    cr_expect_str_eq(util_format_duration(0, b, sizeof b), "0s");
    cr_expect_str_eq(util_format_duration(250, b, sizeof b), "250ms");
    cr_expect_str_eq(util_format_duration(5400000, b, sizeof b), "1h30m");
    cr_expect_str_eq(util_format_duration(90061001, b, sizeof b), "25h1m1s1ms");
    const uint64_t samples[] = { 1, 999, 1000, 60000, 3599999, 86400000, UINT64_MAX / 2 };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        cr_expect_eq(dur_ok(util_format_duration(samples[i], b, sizeof b)), samples[i]);
        cr_expect_eq(size_ok(util_format_size(samples[i], b, sizeof b)), samples[i]);
    }
}

Test(util, utf8_validation)
{
    cr_expect_eq(util_utf8_valid_prefix("abc", 3), 3);
    cr_expect_eq(util_utf8_valid_prefix("\xc3\xa9t\xc3\xa9", 5), 5);          /* été */
    cr_expect_eq(util_utf8_valid_prefix("\xe5\xaf\xbf\xe5\x8f\xb8", 6), 6);   /* 寿司 */
    cr_expect_eq(util_utf8_valid_prefix("\xf0\x9f\x98\x80", 4), 4);           /* U+1F600 */
    cr_expect_eq(util_utf8_valid_prefix("a\xc0\xaf", 3), 1);                  /* overlong '/' */
    cr_expect_eq(util_utf8_valid_prefix("a\xe0\x80\xaf", 4), 1);              /* overlong, 3 bytes */
    cr_expect_eq(util_utf8_valid_prefix("\xed\xa0\x80", 3), 0);               /* surrogate D800 */
    cr_expect_eq(util_utf8_valid_prefix("\xf4\x90\x80\x80", 4), 0);           /* above 10FFFF */
    cr_expect_eq(util_utf8_valid_prefix("ab\xc3", 3), 2);                     /* truncated */
    cr_expect_eq(util_utf8_valid_prefix("\x80", 1), 0);                       /* lone continuation */
    cr_expect_eq(util_utf8_valid_prefix("\xff", 1), 0);
    char out[4];
    cr_expect_eq(util_utf8_encode(0x41, out), 1);
    cr_expect_eq(util_utf8_encode(0xE9, out), 2);
    cr_expect_eq(util_utf8_encode(0x5BFF, out), 3);
    cr_expect_eq(util_utf8_encode(0x1F600, out), 4);
    cr_expect_eq(memcmp(out, "\xf0\x9f\x98\x80", 4), 0);
    cr_expect_eq(util_utf8_encode(0xD800, out), 0);
    cr_expect_eq(util_utf8_encode(0x110000, out), 0);
}

Test(util, suggestions_for_typos)
{
    const char *words[] = { "bucket", "region", "endpoint", "prefix", NULL };
    cr_expect_eq(util_edit_distance("bucket", "bucket"), 0);
    cr_expect_eq(util_edit_distance("bukcet", "bucket"), 1); /* swap */
    cr_expect_eq(util_edit_distance("buckt", "bucket"), 1);
    cr_expect_eq(util_edit_distance("", "abc"), 3);
    cr_expect_str_eq(util_suggest("bukcet", words, 5), "bucket");
    cr_expect_str_eq(util_suggest("regoin", words, 5), "region");
    cr_expect_str_eq(util_suggest("endpont", words, 5), "endpoint");
    cr_expect_null(util_suggest("bucket", words, 5)); /* an exact match is not a typo */
    cr_expect_null(util_suggest("zzz", words, 5));
    char long_word[100];
    memset(long_word, 'a', sizeof long_word - 1);
    long_word[99] = '\0';
    cr_expect_eq(util_edit_distance(long_word, "a"), SIZE_MAX);
    cr_expect_null(util_suggest(long_word, words, 5));
}
