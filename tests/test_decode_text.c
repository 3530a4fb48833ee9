/* decode_text.c: the value parsers at their edges (numbers, decimals, integers,
 * floats, dates, timestamps, epochs, uuids, base64).
 *
 * Inputs are copied into exact-size heap buffers (no NUL after them), so ASan
 * catches any read past the end. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

static char *bufs[256];
static size_t nbufs;

static void free_all(void)
{
    for (size_t i = 0; i < nbufs; i++) free(bufs[i]);
    nbufs = 0;
}

TestSuite(decode_text, .fini = free_all);

static const char *H(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n > 0 ? n : 1);
    cr_assert_not_null(p);
    memcpy(p, s, n);
    if (nbufs == 256) free_all();
    bufs[nbufs++] = p;
    return p;
}

static const char *why;

/* ------------------------------------------------------------------------ */
/* Decimals */

static __int128 dec_ok(const char *s, bool lenient, unsigned p, unsigned sc)
{
    __int128 v = 0;
    why = NULL;
    bool ok = decode_parse_decimal(H(s), strlen(s), lenient, p, sc, &v, &why);
    cr_assert(ok, "decimal(%u,%u) '%s' refused: %s", p, sc, s, why ? why : "");
    return v;
}

static void dec_bad(const char *s, bool lenient, unsigned p, unsigned sc, const char *part)
{
    __int128 v = 0;
    why = NULL;
    bool ok = decode_parse_decimal(H(s), strlen(s), lenient, p, sc, &v, &why);
    cr_assert(!ok, "decimal(%u,%u) '%s' accepted", p, sc, s);
    cr_assert_not_null(why);
    if (part != NULL) cr_assert(strstr(why, part) != NULL, "'%s': reason '%s' lacks '%s'", s, why, part);
}

/* 10^k as __int128. */
static __int128 p10(unsigned k)
{
    __int128 v = 1;
    while (k-- > 0) v *= 10;
    return v;
}

Test(decode_text, decimal_basic_forms)
{
    cr_assert(dec_ok("12.30", false, 10, 2) == 1230);
    cr_assert(dec_ok("12.3", false, 10, 2) == 1230);
    cr_assert(dec_ok("12", false, 10, 2) == 1200);
    cr_assert(dec_ok("-12.34", false, 10, 2) == -1234);
    cr_assert(dec_ok("0.01", false, 10, 2) == 1);
    cr_assert(dec_ok("-0.01", false, 10, 2) == -1);
    cr_assert(dec_ok("0", false, 10, 2) == 0);
    cr_assert(dec_ok("-0", false, 10, 2) == 0);
    cr_assert(dec_ok("-0.00", false, 10, 2) == 0);
    cr_assert(dec_ok("0.0000000", false, 10, 2) == 0); /* zeros beyond the scale are exact */
    cr_assert(dec_ok("12.300", false, 10, 2) == 1230);
    cr_assert(dec_ok("12.3000000000000000000000000000000000000000000", false, 10, 2) == 1230);
}

Test(decode_text, decimal_exponents)
{
    cr_assert(dec_ok("1e2", false, 10, 2) == 10000);
    cr_assert(dec_ok("1E+2", false, 10, 2) == 10000);
    cr_assert(dec_ok("1.5e-1", false, 10, 2) == 15);
    cr_assert(dec_ok("1234e-2", false, 10, 2) == 1234);
    cr_assert(dec_ok("-1234e-4", false, 10, 4) == -1234);
    cr_assert(dec_ok("0.001e3", false, 10, 2) == 100);
    cr_assert(dec_ok("0e999999999999999", false, 10, 2) == 0);
    cr_assert(dec_ok("1000000000000000000000000000000000000000000000000e-47", false, 10, 2) == 1000);
    dec_bad("1e-3", false, 10, 2, "fractional");
    dec_bad("1e9", false, 10, 2, "precision");
    dec_bad("1e99999999999999999999", false, 38, 2, "precision");
    dec_bad("1e-99999999999999999999", false, 38, 2, "fractional");
    dec_bad("1e", false, 10, 2, "exponent");
    dec_bad("1e+", false, 10, 2, "exponent");
}

Test(decode_text, decimal_precision_edges)
{
    /* precision 1 */
    cr_assert(dec_ok("9", false, 1, 0) == 9);
    cr_assert(dec_ok("-9", false, 1, 0) == -9);
    dec_bad("10", false, 1, 0, "precision");
    cr_assert(dec_ok("0.9", false, 1, 1) == 9);
    dec_bad("1.0", false, 1, 1, "precision");
    /* precision 9 */
    cr_assert(dec_ok("9999999.99", false, 9, 2) == 999999999);
    cr_assert(dec_ok("-9999999.99", false, 9, 2) == -999999999);
    dec_bad("10000000.00", false, 9, 2, "precision");
    /* precision 18 */
    cr_assert(dec_ok("999999999999999999", false, 18, 0) == 999999999999999999LL);
    cr_assert(dec_ok("-99999999.9999999999", false, 18, 10) == -999999999999999999LL);
    dec_bad("1000000000000000000", false, 18, 0, "precision");
    /* precision 38: the full 128-bit range of 38 digits */
    __int128 max38 = p10(38) - 1;
    cr_assert(dec_ok("99999999999999999999999999999999999999", false, 38, 0) == max38);
    cr_assert(dec_ok("-99999999999999999999999999999999999999", false, 38, 0) == -max38);
    cr_assert(dec_ok("0.99999999999999999999999999999999999999", false, 38, 38) == max38);
    cr_assert(dec_ok("-9999999999999999999999999999.9999999999", false, 38, 10) == -max38);
    dec_bad("100000000000000000000000000000000000000", false, 38, 0, "precision");
    dec_bad("999999999999999999999999999999999999999", false, 38, 0, "38 significant digits");
    dec_bad("1.000000000000000000000000000000000000001", false, 38, 38, "38 significant digits");
    /* scale 0 */
    cr_assert(dec_ok("42", false, 5, 0) == 42);
    cr_assert(dec_ok("42.000", false, 5, 0) == 42);
    dec_bad("42.5", false, 5, 0, "integer");
}

Test(decode_text, decimal_syntax)
{
    dec_bad("12.3.4", false, 10, 2, "not a number");
    dec_bad("", false, 10, 2, "not a number");
    dec_bad("-", false, 10, 2, "not a number");
    dec_bad(".5", false, 10, 2, "not a number");
    dec_bad("5.", false, 10, 2, "after '.'");
    dec_bad("1,5", false, 10, 2, "not a number");
    dec_bad(" 1", true, 10, 2, "not a number");
    dec_bad("1 ", true, 10, 2, "not a number");
    dec_bad("0x10", true, 10, 2, "not a number");
    dec_bad("NaN", true, 10, 2, "not a number");
    dec_bad("--1", true, 10, 2, "not a number");
    /* leading zeros and '+': only in text (strings, flat fields) */
    dec_bad("007.50", false, 10, 2, "leading zero");
    cr_assert(dec_ok("007.50", true, 10, 2) == 750);
    cr_assert(dec_ok("-007.50", true, 10, 2) == -750);
    cr_assert(dec_ok("000", true, 10, 2) == 0);
    dec_bad("+1", false, 10, 2, "not a number");
    cr_assert(dec_ok("+1.25", true, 10, 2) == 125);
}

/* ------------------------------------------------------------------------ */
/* Integers */

static int64_t int_ok(const char *s, bool lenient, int64_t lo, int64_t hi)
{
    int64_t v = 0;
    why = NULL;
    cr_assert(decode_parse_int(H(s), strlen(s), lenient, lo, hi, &v, &why), "'%s' refused: %s", s, why ? why : "");
    return v;
}

static void int_bad(const char *s, bool lenient, int64_t lo, int64_t hi, const char *part)
{
    int64_t v;
    why = NULL;
    cr_assert(!decode_parse_int(H(s), strlen(s), lenient, lo, hi, &v, &why), "'%s' accepted", s);
    cr_assert(strstr(why, part) != NULL, "'%s': reason '%s' lacks '%s'", s, why, part);
}

Test(decode_text, integer_limits)
{
    cr_assert(int_ok("-128", false, INT8_MIN, INT8_MAX) == -128);
    cr_assert(int_ok("127", false, INT8_MIN, INT8_MAX) == 127);
    int_bad("128", false, INT8_MIN, INT8_MAX, "range");
    int_bad("-129", false, INT8_MIN, INT8_MAX, "range");
    cr_assert(int_ok("-32768", false, INT16_MIN, INT16_MAX) == INT16_MIN);
    int_bad("32768", false, INT16_MIN, INT16_MAX, "range");
    cr_assert(int_ok("2147483647", false, INT32_MIN, INT32_MAX) == INT32_MAX);
    cr_assert(int_ok("-2147483648", false, INT32_MIN, INT32_MAX) == INT32_MIN);
    int_bad("2147483648", false, INT32_MIN, INT32_MAX, "range");
    cr_assert(int_ok("9223372036854775807", false, INT64_MIN, INT64_MAX) == INT64_MAX);
    cr_assert(int_ok("-9223372036854775808", false, INT64_MIN, INT64_MAX) == INT64_MIN);
    int_bad("9223372036854775808", false, INT64_MIN, INT64_MAX, "range");
    int_bad("-9223372036854775809", false, INT64_MIN, INT64_MAX, "range");
    int_bad("99999999999999999999999", false, INT64_MIN, INT64_MAX, "range");
    int_bad("1e19", false, INT64_MIN, INT64_MAX, "range");
    cr_assert(int_ok("9.223372036854775807e18", false, INT64_MIN, INT64_MAX) == INT64_MAX);
}

Test(decode_text, integer_forms)
{
    cr_assert(int_ok("0", false, INT64_MIN, INT64_MAX) == 0);
    cr_assert(int_ok("-0", false, INT64_MIN, INT64_MAX) == 0);
    cr_assert(int_ok("12.0", false, INT64_MIN, INT64_MAX) == 12);
    cr_assert(int_ok("1.2e1", false, INT64_MIN, INT64_MAX) == 12);
    cr_assert(int_ok("1200e-2", false, INT64_MIN, INT64_MAX) == 12);
    cr_assert(int_ok("1E2", false, INT64_MIN, INT64_MAX) == 100);
    int_bad("12.5", false, INT64_MIN, INT64_MAX, "integer");
    int_bad("1e-1", false, INT64_MIN, INT64_MAX, "integer");
    int_bad("12a", false, INT64_MIN, INT64_MAX, "not a number");
    int_bad("", false, INT64_MIN, INT64_MAX, "not a number");
    int_bad("012", false, INT64_MIN, INT64_MAX, "leading zero");
    cr_assert(int_ok("012", true, INT64_MIN, INT64_MAX) == 12);
    cr_assert(int_ok("+7", true, INT64_MIN, INT64_MAX) == 7);
    int_bad("+7", false, INT64_MIN, INT64_MAX, "not a number");
    int_bad("true", true, INT64_MIN, INT64_MAX, "not a number");
}

/* ------------------------------------------------------------------------ */
/* Floats */

static double dbl_ok(const char *s, bool lenient)
{
    double v = 0;
    why = NULL;
    cr_assert(decode_parse_double(H(s), strlen(s), lenient, &v, &why), "'%s' refused: %s", s, why ? why : "");
    return v;
}

static float flt_ok(const char *s, bool lenient)
{
    float v = 0;
    why = NULL;
    cr_assert(decode_parse_float(H(s), strlen(s), lenient, &v, &why), "'%s' refused: %s", s, why ? why : "");
    return v;
}

Test(decode_text, floats)
{
    cr_assert(dbl_ok("0.1", false) == 0.1);
    cr_assert(dbl_ok("-2.5e-3", false) == -2.5e-3);
    cr_assert(dbl_ok("1.7976931348623157e308", false) == 1.7976931348623157e308);
    double z = dbl_ok("-0", false);
    cr_assert(z == 0 && signbit(z));
    z = dbl_ok("0.0", false);
    cr_assert(z == 0 && !signbit(z));
    cr_assert(isnan(dbl_ok("NaN", true)));
    cr_assert(isinf(dbl_ok("Infinity", true)) && dbl_ok("Infinity", true) > 0);
    cr_assert(isinf(dbl_ok("-Infinity", true)) && dbl_ok("-Infinity", true) < 0);
    cr_assert(dbl_ok("007.5", true) == 7.5);
    cr_assert(dbl_ok("+7.5", true) == 7.5);
    double v;
    cr_assert(!decode_parse_double(H("NaN"), 3, false, &v, &why)); /* not in a JSON number */
    cr_assert(!decode_parse_double(H("nan"), 3, true, &v, &why));
    cr_assert(!decode_parse_double(H("inf"), 3, true, &v, &why));
    cr_assert(!decode_parse_double(H("1e400"), 5, false, &v, &why));
    cr_assert(strstr(why, "range") != NULL);
    cr_assert(dbl_ok("1e-400", false) == 0); /* underflow: zero */

    cr_assert(flt_ok("0.1", false) == 0.1f);
    cr_assert(flt_ok("16777217", false) == 16777216.0f); /* ties to even */
    cr_assert(flt_ok("3.4028235e38", false) == 3.4028235e38f);
    cr_assert(isnan(flt_ok("NaN", true)));
    float f = flt_ok("-0", false);
    cr_assert(f == 0 && signbit(f));
    float fv;
    cr_assert(!decode_parse_float(H("3.5e38"), 6, false, &fv, &why));
    cr_assert(strstr(why, "float") != NULL);
    cr_assert(flt_ok("1e-50", false) == 0);
    /* Correct rounding straight from the text, not through a double: this value
     * lies just above a float midpoint that its nearest double rounds onto. */
    cr_assert(flt_ok("1.00000005960464477550", false) == 1.00000011920928955078125f);
}

/* ------------------------------------------------------------------------ */
/* Dates and timestamps */

Test(decode_text, days_from_civil_against_a_day_counter)
{
    /* Walk every day of 0001..9999 and compare with the formula. */
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int64_t day = decode_days_from_civil(1, 1, 1);
    cr_assert_eq(day, -719162);
    for (int y = 1; y <= 9999; y++) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (unsigned m = 1; m <= 12; m++) {
            int n = dim[m - 1] + (m == 2 && leap);
            for (int d = 1; d <= n; d++) {
                if (decode_days_from_civil(y, m, (unsigned)d) != day)
                    cr_assert_fail("%04d-%02u-%02d: %lld, counted %lld", y, m, d,
                                   (long long)decode_days_from_civil(y, m, (unsigned)d), (long long)day);
                day++;
            }
        }
    }
    cr_assert_eq(decode_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(decode_days_from_civil(9999, 12, 31), 2932896);
}

static int32_t date_ok(const char *s)
{
    int32_t d = 0;
    why = NULL;
    cr_assert(decode_parse_date(H(s), strlen(s), &d, &why), "'%s' refused: %s", s, why ? why : "");
    return d;
}

static void date_bad(const char *s, const char *part)
{
    int32_t d;
    why = NULL;
    cr_assert(!decode_parse_date(H(s), strlen(s), &d, &why), "'%s' accepted", s);
    cr_assert(strstr(why, part) != NULL, "'%s': reason '%s' lacks '%s'", s, why, part);
}

Test(decode_text, dates)
{
    cr_assert_eq(date_ok("1970-01-01"), 0);
    cr_assert_eq(date_ok("1969-12-31"), -1);
    cr_assert_eq(date_ok("0001-01-01"), -719162);
    cr_assert_eq(date_ok("9999-12-31"), 2932896);
    cr_assert_eq(date_ok("2000-02-29"), 11016);
    cr_assert_eq(date_ok("2024-02-29"), 19782);
    date_bad("2023-02-29", "leap");
    date_bad("1900-02-29", "leap");
    date_bad("2026-04-31", "day out of range");
    date_bad("2026-13-01", "month");
    date_bad("2026-00-01", "month");
    date_bad("2026-01-00", "day 00");
    date_bad("2026-01-32", "day out of range");
    date_bad("0000-01-01", "year 0000");
    date_bad("2026-1-01", "YYYY-MM-DD");
    date_bad("2026/01/01", "YYYY-MM-DD");
    date_bad("2026-01-01T00:00:00Z", "YYYY-MM-DD");
    date_bad("", "YYYY-MM-DD");
    date_bad("20260101", "YYYY-MM-DD");
    date_bad("２026-01-01", "YYYY-MM-DD");
}

static int64_t ts_ok(const char *s, bool utc)
{
    int64_t v = 0;
    why = NULL;
    cr_assert(decode_parse_timestamp(H(s), strlen(s), utc, &v, &why), "'%s' refused: %s", s, why ? why : "");
    return v;
}

static void ts_bad(const char *s, bool utc, const char *part)
{
    int64_t v;
    why = NULL;
    cr_assert(!decode_parse_timestamp(H(s), strlen(s), utc, &v, &why), "'%s' accepted", s);
    cr_assert(strstr(why, part) != NULL, "'%s': reason '%s' lacks '%s'", s, why, part);
}

#define US INT64_C(1000000)
#define DAY_US (86400 * US)

Test(decode_text, timestamps_valid)
{
    cr_assert_eq(ts_ok("1970-01-01T00:00:00Z", true), 0);
    cr_assert_eq(ts_ok("1970-01-01T00:00:00.000001Z", true), 1);
    cr_assert_eq(ts_ok("1969-12-31T23:59:59.999999Z", true), -1);
    cr_assert_eq(ts_ok("1969-12-31T23:59:59Z", true), -US);
    cr_assert_eq(ts_ok("0001-01-01T00:00:00Z", true), -719162 * DAY_US);
    cr_assert_eq(ts_ok("9999-12-31T23:59:59.999999Z", true), 2932897 * DAY_US - 1);
    cr_assert_eq(ts_ok("2026-11-01T12:34:56.789012Z", true),
                 decode_days_from_civil(2026, 11, 1) * DAY_US + (12 * 3600 + 34 * 60 + 56) * US + 789012);
    /* separators and case */
    cr_assert_eq(ts_ok("1970-01-01 00:00:01Z", true), US);
    cr_assert_eq(ts_ok("1970-01-01t00:00:01z", true), US);
    /* offsets */
    cr_assert_eq(ts_ok("1970-01-01T01:00:00+01:00", true), 0);
    cr_assert_eq(ts_ok("1970-01-01T01:00:00+0100", true), 0);
    cr_assert_eq(ts_ok("1970-01-01T01:00:00+01", true), 0);
    cr_assert_eq(ts_ok("1969-12-31T18:30:00-05:30", true), 0);
    cr_assert_eq(ts_ok("1969-12-31T18:30:00-0530", true), 0);
    cr_assert_eq(ts_ok("1970-01-01T00:00:00-00:00", true), 0);
    cr_assert_eq(ts_ok("1970-01-01T23:59:00+23:59", true), 0);
    cr_assert_eq(ts_ok("0001-01-01T00:00:00-01:00", true), -719162 * DAY_US + 3600 * US);
    /* fractions: 1..9 digits, digits past the sixth dropped (floor) */
    cr_assert_eq(ts_ok("1970-01-01T00:00:00.5Z", true), 500000);
    cr_assert_eq(ts_ok("1970-01-01T00:00:00.12Z", true), 120000);
    cr_assert_eq(ts_ok("1970-01-01T00:00:00.123456789Z", true), 123456);
    cr_assert_eq(ts_ok("1970-01-01T00:00:00.1234567Z", true), 123456);
    cr_assert_eq(ts_ok("1969-12-31T23:59:59.999999999Z", true), -1);
    /* leap days */
    cr_assert_eq(ts_ok("2024-02-29T00:00:00Z", true), 19782 * DAY_US);
    cr_assert_eq(ts_ok("2000-02-29T23:59:59Z", true), 11016 * DAY_US + 86399 * US);
    /* every field at its top */
    cr_assert_eq(ts_ok("2026-12-31T23:59:59Z", true), decode_days_from_civil(2026, 12, 31) * DAY_US + 86399 * US);
    /* timestamp_ntz: no offset, the wall-clock time */
    cr_assert_eq(ts_ok("1970-01-01T01:00:00", false), 3600 * US);
    cr_assert_eq(ts_ok("1960-06-15 12:00:00.25", false), decode_days_from_civil(1960, 6, 15) * DAY_US + 43200 * US + 250000);
}

Test(decode_text, timestamps_invalid)
{
    ts_bad("2026-13-01T00:00:00Z", true, "month");
    ts_bad("2026-00-10T00:00:00Z", true, "month");
    ts_bad("2026-04-31T00:00:00Z", true, "day out of range");
    ts_bad("2023-02-29T00:00:00Z", true, "leap");
    ts_bad("2100-02-29T00:00:00Z", true, "leap");
    ts_bad("2026-01-01T24:00:00Z", true, "hour");
    ts_bad("2026-01-01T23:60:00Z", true, "minute");
    ts_bad("2026-01-01T23:59:60Z", true, "leap second");
    ts_bad("2026-01-01T23:59:61Z", true, "second");
    ts_bad("0000-12-31T23:59:59Z", true, "year 0000");
    ts_bad("0001-01-01T00:00:00+00:01", true, "0001..9999");
    ts_bad("9999-12-31T23:59:59-00:01", true, "0001..9999");
    ts_bad("2026-01-01T00:00:00", true, "no offset");
    ts_bad("2026-01-01T00:00:00Z", false, "timestamp_ntz");
    ts_bad("2026-01-01T00:00:00+01:00", false, "timestamp_ntz");
    ts_bad("2026-01-01T00:00:00.1234567890Z", true, "9 fraction");
    ts_bad("2026-01-01T00:00:00.Z", true, "after '.'");
    ts_bad("2026-01-01T00:00:00,5Z", true, "'.'");
    ts_bad("2026-01-01T00:00Z", true, "HH:MM:SS");
    ts_bad("2026-01-01", true, "HH:MM:SS");
    ts_bad("2026-01-01X00:00:00Z", true, "'T'");
    ts_bad("2026-01-01T0:00:00Z", true, "HH:MM:SS");
    ts_bad("2026-01-01T00:00:00+1:00", true, "offset");
    ts_bad("2026-01-01T00:00:00+01:0", true, "offset");
    ts_bad("2026-01-01T00:00:00+24:00", true, "offset out of range");
    ts_bad("2026-01-01T00:00:00+01:60", true, "offset out of range");
    ts_bad("2026-01-01T00:00:00+01:00:00", true, "offset");
    ts_bad("2026-01-01T00:00:00ZZ", true, "after the time");
    ts_bad("2026-01-01T00:00:00Z ", true, "after the time");
    ts_bad("2026-01-01T00:00:00 UTC", true, "after the time");
}

static int64_t epoch_ok(const char *s, bool lenient, enum schema_epoch_unit u)
{
    int64_t v = 0;
    why = NULL;
    cr_assert(decode_parse_epoch(H(s), strlen(s), lenient, u, &v, &why), "'%s' refused: %s", s, why ? why : "");
    return v;
}

Test(decode_text, epochs)
{
    cr_assert_eq(epoch_ok("1700000000", false, SCHEMA_EPOCH_S), INT64_C(1700000000) * US);
    cr_assert_eq(epoch_ok("1700000000.5", false, SCHEMA_EPOCH_S), INT64_C(1700000000) * US + 500000);
    cr_assert_eq(epoch_ok("1700000000123", false, SCHEMA_EPOCH_MS), INT64_C(1700000000123000));
    cr_assert_eq(epoch_ok("1.5", false, SCHEMA_EPOCH_MS), 1500);
    cr_assert_eq(epoch_ok("1700000000123456", false, SCHEMA_EPOCH_US), INT64_C(1700000000123456));
    cr_assert_eq(epoch_ok("1700000000123456789", false, SCHEMA_EPOCH_NS), INT64_C(1700000000123456));
    cr_assert_eq(epoch_ok("-1", false, SCHEMA_EPOCH_NS), -1); /* floor */
    cr_assert_eq(epoch_ok("-1000", false, SCHEMA_EPOCH_NS), -1);
    cr_assert_eq(epoch_ok("-1001", false, SCHEMA_EPOCH_NS), -2);
    cr_assert_eq(epoch_ok("999", false, SCHEMA_EPOCH_NS), 0);
    cr_assert_eq(epoch_ok("0", false, SCHEMA_EPOCH_S), 0);
    cr_assert_eq(epoch_ok("-0.0000001", false, SCHEMA_EPOCH_S), -1);
    cr_assert_eq(epoch_ok("1e-30", false, SCHEMA_EPOCH_S), 0);
    cr_assert_eq(epoch_ok("-62135596800", false, SCHEMA_EPOCH_S), -719162 * DAY_US);
    cr_assert_eq(epoch_ok("253402300799.999999", false, SCHEMA_EPOCH_S), 2932897 * DAY_US - 1);
    cr_assert_eq(epoch_ok("0017", true, SCHEMA_EPOCH_S), 17 * US);
    int64_t v;
    cr_assert(!decode_parse_epoch(H("-62135596801"), 12, false, SCHEMA_EPOCH_S, &v, &why));
    cr_assert(!decode_parse_epoch(H("253402300800"), 12, false, SCHEMA_EPOCH_S, &v, &why));
    cr_assert(!decode_parse_epoch(H("1e30"), 4, false, SCHEMA_EPOCH_NS, &v, &why));
    cr_assert(!decode_parse_epoch(H("9223372036854775807"), 19, false, SCHEMA_EPOCH_MS, &v, &why));
    cr_assert(!decode_parse_epoch(H("12x"), 3, false, SCHEMA_EPOCH_MS, &v, &why));
}

/* ------------------------------------------------------------------------ */
/* uuid, base64, bool */

Test(decode_text, uuids)
{
    uint8_t u[16];
    static const uint8_t want[16] = { 0x6f, 0x1c, 0x1d, 0x1e, 0x8e, 0x5b, 0x4c, 0x9a,
                                      0x9a, 0x7e, 0x0b, 0x7d, 0x3f, 0x1c, 0x2a, 0x10 };
    cr_assert(decode_parse_uuid(H("6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10"), 36, u, &why));
    cr_assert_arr_eq(u, want, 16);
    cr_assert(decode_parse_uuid(H("6F1C1D1E-8E5B-4C9A-9A7E-0B7D3F1C2A10"), 36, u, &why));
    cr_assert_arr_eq(u, want, 16);
    cr_assert(decode_parse_uuid(H("6f1C1d1E-8e5B-4c9A-9a7E-0b7D3f1C2a10"), 36, u, &why));
    cr_assert_arr_eq(u, want, 16);
    const char *bad[] = {
        "6f1c1d1e8e5b4c9a9a7e0b7d3f1c2a10", "{6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a10}",
        "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a1", "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a100",
        "6f1c1d1e-8e5b-4c9a-9a7e_0b7d3f1c2a10", "6f1c1d1e-8e5b-4c9a-9a7e-0b7d3f1c2a1g",
        "6f1c1d1-e8e5b-4c9a-9a7e-0b7d3f1c2a10", "x", "",
        "6F1cd11E-8e5b-4c9a-9a7d-be7c9a-9a7d-", /* dashes in hex places: read past the end once */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!decode_parse_uuid(H(bad[i]), strlen(bad[i]), u, &why), "'%s' accepted", bad[i]);
}

static bool b64(const char *s, const char *want, size_t want_len)
{
    uint8_t out[64];
    size_t n = 99;
    why = NULL;
    if (!decode_parse_base64(H(s), strlen(s), out, &n, &why)) return false;
    cr_assert_eq(n, want_len, "'%s': %zu bytes", s, n);
    cr_assert(memcmp(out, want, n) == 0, "'%s': wrong bytes", s);
    return true;
}

Test(decode_text, base64)
{
    cr_assert(b64("", "", 0));
    cr_assert(b64("QQ==", "A", 1));
    cr_assert(b64("QQ", "A", 1));
    cr_assert(b64("QUI=", "AB", 2));
    cr_assert(b64("QUI", "AB", 2));
    cr_assert(b64("QUJD", "ABC", 3));
    cr_assert(b64("aGVsbG8gd29ybGQ=", "hello world", 11));
    cr_assert(b64("AP8A/w==", "\x00\xff\x00\xff", 4));
    cr_assert(b64("AP8A_w==", "\x00\xff\x00\xff", 4)); /* URL-safe alphabet */
    cr_assert(b64("+/+/", "\xfb\xff\xbf", 3));
    cr_assert(b64("-_-_", "\xfb\xff\xbf", 3));
    const char *bad[] = { "Q", "QQ=", "Q===", "QR==", "QUJ=", "QUK", "QU I", "QQ==QQ==", "QUJD\n", "Q*==", "====", "=" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) cr_assert(!b64(bad[i], "", 0), "'%s' accepted", bad[i]);
}

Test(decode_text, bools)
{
    bool b;
    cr_assert(decode_parse_bool(H("true"), 4, &b, &why) && b);
    cr_assert(decode_parse_bool(H("false"), 5, &b, &why) && !b);
    const char *bad[] = { "True", "1", "0", "yes", "", "falsey", "t" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!decode_parse_bool(H(bad[i]), strlen(bad[i]), &b, &why), "'%s' accepted", bad[i]);
}
