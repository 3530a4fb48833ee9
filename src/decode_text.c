/* decode_text: the value parsers of the event decoder (numbers, decimals, dates,
 * timestamps, uuids, base64), declared in decode.h.
 *
 * Numbers are read exactly as mant * 10^exp10, never through a double, so that a
 * decimal(38,s) or an int64 keeps every digit:
 *
 *     "-0012.3400e2"    sign  integer digits  fraction digits  exponent
 *                        -     0012            3400              2
 *     digits 00123400, first and last non-zero digit: 1 .. 4  ->  mant 1234
 *     exp10 = exponent - fraction digits + trailing zeros = 2 - 4 + 2 = 0
 *     value = -1234 * 10^0 = -1234
 *
 * Times use the proleptic Gregorian calendar and count microseconds from
 * 1970-01-01T00:00:00; days_from_civil is the classic era-based conversion
 * (Howard Hinnant, "chrono-compatible low-level date algorithms"), written here
 * from its description. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

enum {
    EXP_SATURATE = 1000000000,   /* |exponent| beyond this: treated as this */
    DIGITS_MAX = 38,             /* significant digits a number may have */
    FLOAT_TEXT_MAX = 1024,       /* longest number text parsed with strtof */
};

#define US_PER_S INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_S)
/* 0001-01-01T00:00:00 and 9999-12-31T23:59:59.999999 in microseconds. */
#define TS_MIN_US (INT64_C(-719162) * US_PER_DAY)
#define TS_MAX_US (INT64_C(2932897) * US_PER_DAY - 1)

static inline bool is_digit(char c)
{
    return (unsigned)(c - '0') < 10u;
}

/* 10^k for k <= 38. */
static unsigned __int128 pow10_u128(unsigned k)
{
    assert(k <= DIGITS_MAX);
    unsigned __int128 p = 1;
    while (k >= 9) {
        p *= 1000000000u;
        k -= 9;
    }
    static const uint32_t small[9] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000 };
    return p * small[k];
}

/* ------------------------------------------------------------------------- */
/* Numbers */

static char digit_at(const char *ip, size_t il, const char *fp, size_t p)
{
    return p < il ? ip[p] : fp[p - il];
}

bool decode_parse_number(const char *s, size_t n, bool lenient, struct decode_number *out,
                         const char **why)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    if (i < n && s[i] == '-') {
        out->negative = true;
        i++;
    } else if (lenient && i < n && s[i] == '+') {
        i++;
    }
    const char *ip = s + i;
    while (i < n && is_digit(s[i])) i++;
    size_t il = (size_t)(s + i - ip);
    if (il == 0) return *why = "not a number", false;
    if (!lenient && il > 1 && ip[0] == '0') return *why = "a leading zero", false;
    const char *fp = s + i;
    size_t fl = 0;
    if (i < n && s[i] == '.') {
        i++;
        fp = s + i;
        while (i < n && is_digit(s[i])) i++;
        fl = (size_t)(s + i - fp);
        if (fl == 0) return *why = "no digit after '.'", false;
    }
    int64_t e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        size_t e0 = i;
        while (i < n && is_digit(s[i])) {
            if (e < EXP_SATURATE) e = e * 10 + (s[i] - '0');
            i++;
        }
        if (i == e0) return *why = "no digit in the exponent", false;
        if (e > EXP_SATURATE) e = EXP_SATURATE;
        if (eneg) e = -e;
    }
    if (i != n) return *why = "not a number", false;

    /* First and last non-zero digit of the digit string (integer then fraction). */
    size_t total = il + fl, first = SIZE_MAX, last = 0;
    for (size_t p = 0; p < total; p++) {
        if (digit_at(ip, il, fp, p) != '0') {
            if (first == SIZE_MAX) first = p;
            last = p;
        }
    }
    if (first == SIZE_MAX) {
        out->zero = true;
        out->negative = false;   /* decimals and integers have no -0 */
        return true;
    }
    size_t sig = last - first + 1;
    if (sig > DIGITS_MAX) return *why = "more than 38 significant digits", false;
    uint64_t lo = 0;
    size_t p = first;
    for (; p <= last && p < first + 19; p++) lo = lo * 10 + (uint64_t)(digit_at(ip, il, fp, p) - '0');
    unsigned __int128 m = lo;
    for (; p <= last; p++) m = m * 10 + (unsigned)(digit_at(ip, il, fp, p) - '0');
    out->mant = m;
    out->digits = (unsigned)sig;
    /* total and fl are bounded by the input size, far below 2^62. */
    out->exp10 = e - (int64_t)fl + (int64_t)(total - 1 - last);
    return true;
}

bool decode_parse_int(const char *s, size_t n, bool lenient, int64_t lo, int64_t hi, int64_t *out,
                      const char **why)
{
    /* Fast path: a short plain integer literal. */
    if (n > 0 && n <= 18) {
        size_t i = s[0] == '-' ? 1 : 0;
        if (i < n && (s[i] != '0' || i + 1 == n)) {
            int64_t v = 0;
            size_t j = i;
            for (; j < n && is_digit(s[j]); j++) v = v * 10 + (s[j] - '0');
            if (j == n) {
                if (i == 1) v = -v;
                if (v < lo || v > hi) return *why = "out of range", false;
                *out = v;
                return true;
            }
        }
    }
    struct decode_number d;
    if (!decode_parse_number(s, n, lenient, &d, why)) return false;
    int64_t v = 0;
    if (!d.zero) {
        if (d.exp10 < 0) return *why = "not an integer", false;
        if ((int64_t)d.digits + d.exp10 > 19) return *why = "out of range", false;
        unsigned __int128 m = d.mant * pow10_u128((unsigned)d.exp10);
        unsigned __int128 limit = d.negative ? (unsigned __int128)INT64_MAX + 1 : (unsigned __int128)INT64_MAX;
        if (m > limit) return *why = "out of range", false;
        v = d.negative ? (int64_t)(0 - (uint64_t)m) : (int64_t)(uint64_t)m;
    }
    if (v < lo || v > hi) return *why = "out of range", false;
    *out = v;
    return true;
}

bool decode_parse_decimal(const char *s, size_t n, bool lenient, unsigned precision, unsigned scale,
                          __int128 *out, const char **why)
{
    assert(precision >= 1 && precision <= DIGITS_MAX && scale <= precision);
    struct decode_number d;
    if (!decode_parse_number(s, n, lenient, &d, why)) return false;
    if (d.zero) {
        *out = 0;
        return true;
    }
    int64_t k = d.exp10 + (int64_t)scale;
    if (k < 0) return *why = scale == 0 ? "not an integer (scale 0)" : "more fractional digits than the scale", false;
    if ((int64_t)d.digits + k > (int64_t)precision) return *why = "more digits than the precision", false;
    unsigned __int128 m = d.mant * pow10_u128((unsigned)k);
    *out = d.negative ? -(__int128)m : (__int128)m;
    return true;
}

/* The JSON number grammar (strict) or its lenient superset; no value computed. */
static bool number_syntax(const char *s, size_t n, bool lenient, bool *strict_ok, const char **why)
{
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    else if (lenient && i < n && s[i] == '+') i++;
    bool plus = i == 1 && s[0] == '+';
    size_t i0 = i;
    while (i < n && is_digit(s[i])) i++;
    if (i == i0) return *why = "not a number", false;
    bool lead0 = i - i0 > 1 && s[i0] == '0';
    if (lead0 && !lenient) return *why = "a leading zero", false;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && is_digit(s[i])) i++;
        if (i == f0) return *why = "no digit after '.'", false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t e0 = i;
        while (i < n && is_digit(s[i])) i++;
        if (i == e0) return *why = "no digit in the exponent", false;
    }
    if (i != n) return *why = "not a number", false;
    *strict_ok = !plus && !lead0;
    return true;
}

/* Writes the lenient number s[0, n) as a NUL-terminated JSON number into buf
 * (no '+', no extra leading zeros); false if it does not fit. */
static bool normalize_number(const char *s, size_t n, char *buf, size_t cap, size_t *len)
{
    size_t i = 0, o = 0;
    if (s[0] == '+') i++;
    else if (s[0] == '-') buf[o++] = s[i++];
    while (i + 1 < n && s[i] == '0' && is_digit(s[i + 1])) i++;
    if (n - i + o + 1 > cap) return false;
    memcpy(buf + o, s + i, n - i);
    o += n - i;
    buf[o] = '\0';
    *len = o;
    return true;
}

static bool special_float(const char *s, size_t n, double *out)
{
    if (n == 3 && memcmp(s, "NaN", 3) == 0) *out = __builtin_nan("");
    else if (n == 8 && memcmp(s, "Infinity", 8) == 0) *out = __builtin_inf();
    else if (n == 9 && memcmp(s, "-Infinity", 9) == 0) *out = -__builtin_inf();
    else return false;
    return true;
}

bool decode_parse_double(const char *s, size_t n, bool lenient, double *out, const char **why)
{
    if (lenient && special_float(s, n, out)) return true;
    bool strict_ok;
    if (!number_syntax(s, n, lenient, &strict_ok, why)) return false;
    char buf[FLOAT_TEXT_MAX];
    if (!strict_ok) {
        size_t len;
        if (!normalize_number(s, n, buf, sizeof buf, &len)) return *why = "a number text longer than 1 KiB", false;
        s = buf;
        n = len;
    }
    struct lw_err e;
    if (!json_number_to_double(s, n, out, &e)) return *why = "out of range for a double", false;
    return true;
}

bool decode_parse_float(const char *s, size_t n, bool lenient, float *out, const char **why)
{
    double d;
    if (lenient && special_float(s, n, &d)) {
        *out = (float)d;
        return true;
    }
    bool strict_ok;
    if (!number_syntax(s, n, lenient, &strict_ok, why)) return false;
    char buf[FLOAT_TEXT_MAX];
    size_t len;
    if (!normalize_number(s, n, buf, sizeof buf, &len)) {
        /* Too long for the buffer: through the double (may round twice). */
        if (!decode_parse_double(s, n, lenient, &d, why)) return false;
        if (d > 3.4028235677973366e38 || d < -3.4028235677973366e38) return *why = "out of range for a float", false;
        *out = (float)d;
        return true;
    }
    errno = 0;
    char *end;
    float f = strtof(buf, &end);
    assert(end == buf + len);
    if (errno == ERANGE && (f == __builtin_inff() || f == -__builtin_inff()))
        return *why = "out of range for a float", false;
    *out = f;
    return true;
}

bool decode_parse_bool(const char *s, size_t n, bool *out, const char **why)
{
    if (n == 4 && memcmp(s, "true", 4) == 0) *out = true;
    else if (n == 5 && memcmp(s, "false", 5) == 0) *out = false;
    else return *why = "expected true or false", false;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Dates and times */

int64_t decode_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    assert(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9;          /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;             /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const uint8_t dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* k digits at s as a number; false if any is not a digit. */
static bool digits_at(const char *s, unsigned k, unsigned *out)
{
    unsigned v = 0;
    for (unsigned i = 0; i < k; i++) {
        if (!is_digit(s[i])) return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DD" at s (10 bytes available) -> days. */
static bool date_at(const char *s, int64_t *days, const char **why)
{
    unsigned y, m, d;
    if (!digits_at(s, 4, &y) || s[4] != '-' || !digits_at(s + 5, 2, &m) || s[7] != '-' ||
        !digits_at(s + 8, 2, &d))
        return *why = "expected YYYY-MM-DD", false;
    if (y == 0) return *why = "year 0000 is out of range (0001..9999)", false;
    if (m < 1 || m > 12) return *why = "month out of range (01..12)", false;
    if (d < 1) return *why = "day 00 is out of range", false;
    if (d > days_in_month(y, m)) {
        if (m == 2 && d == 29) return *why = "February 29 in a year that is not a leap year", false;
        return *why = "day out of range for its month", false;
    }
    *days = decode_days_from_civil(y, m, d);
    return true;
}

bool decode_parse_date(const char *s, size_t n, int32_t *days, const char **why)
{
    if (n != 10) return *why = "expected YYYY-MM-DD", false;
    int64_t d;
    if (!date_at(s, &d, why)) return false;
    *days = (int32_t)d;
    return true;
}

bool decode_parse_timestamp(const char *s, size_t n, bool utc, int64_t *us, const char **why)
{
    if (n < 19) return *why = "expected YYYY-MM-DDTHH:MM:SS", false;
    int64_t days;
    if (!date_at(s, &days, why)) return false;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return *why = "expected 'T' or a space between the date and the time", false;
    unsigned hh, mm, ss;
    if (!digits_at(s + 11, 2, &hh) || s[13] != ':' || !digits_at(s + 14, 2, &mm) || s[16] != ':' ||
        !digits_at(s + 17, 2, &ss))
        return *why = "expected the time as HH:MM:SS", false;
    if (hh > 23) return *why = "hour out of range (00..23)", false;
    if (mm > 59) return *why = "minute out of range (00..59)", false;
    if (ss > 59) return *why = ss == 60 ? "leap second 60 is not supported" : "second out of range (00..59)", false;
    size_t i = 19;
    int64_t frac = 0;
    if (i < n && (s[i] == '.' || s[i] == ',')) {
        if (s[i] == ',') return *why = "use '.' before the fraction of a second", false;
        size_t f0 = ++i;
        while (i < n && is_digit(s[i])) {
            if (i - f0 < 6) frac = frac * 10 + (s[i] - '0');
            i++;
        }
        size_t fl = i - f0;
        if (fl == 0) return *why = "no digit after '.'", false;
        if (fl > 9) return *why = "more than 9 fraction digits", false;
        for (size_t k = fl; k < 6; k++) frac *= 10;
    }
    int64_t offset_s = 0;
    bool has_offset = false;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        has_offset = true;
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        bool neg = s[i] == '-';
        size_t left = n - i - 1;
        unsigned oh, om = 0;
        const char *o = s + i + 1;
        if (left == 2 && digits_at(o, 2, &oh)) {
            i += 3;
        } else if (left == 4 && digits_at(o, 2, &oh) && digits_at(o + 2, 2, &om)) {
            i += 5;
        } else if (left == 5 && digits_at(o, 2, &oh) && o[2] == ':' && digits_at(o + 3, 2, &om)) {
            i += 6;
        } else {
            return *why = "expected the offset as +HH:MM, +HHMM or +HH", false;
        }
        if (oh > 23 || om > 59) return *why = "offset out of range (at most 23:59)", false;
        offset_s = (int64_t)(oh * 3600 + om * 60);
        if (neg) offset_s = -offset_s;
        has_offset = true;
    }
    if (i != n) return *why = "unexpected text after the time", false;
    if (utc && !has_offset) return *why = "no offset: add Z or +HH:MM (a timestamp is an instant)", false;
    if (!utc && has_offset) return *why = "an offset in a timestamp_ntz (a local date-time has none)", false;
    int64_t secs = days * 86400 + (int64_t)(hh * 3600 + mm * 60 + ss) - offset_s;
    int64_t v = secs * US_PER_S + frac;
    if (v < TS_MIN_US || v > TS_MAX_US) return *why = "outside the years 0001..9999 in UTC", false;
    *us = v;
    return true;
}

bool decode_parse_epoch(const char *s, size_t n, bool lenient, enum schema_epoch_unit unit, int64_t *us,
                        const char **why)
{
    static const int shift[] = { [SCHEMA_EPOCH_S] = 6, [SCHEMA_EPOCH_MS] = 3, [SCHEMA_EPOCH_US] = 0,
                                 [SCHEMA_EPOCH_NS] = -3 };
    struct decode_number d;
    if (!decode_parse_number(s, n, lenient, &d, why)) return false;
    int64_t v = 0;
    if (!d.zero) {
        int64_t e = d.exp10 + shift[unit];
        unsigned __int128 m;
        if (e >= 0) {
            if ((int64_t)d.digits + e > 19) return *why = "outside the years 0001..9999", false;
            m = d.mant * pow10_u128((unsigned)e);
            if (m > (unsigned __int128)INT64_MAX) return *why = "outside the years 0001..9999", false;
            v = (int64_t)m;
            if (d.negative) v = -v;
        } else {
            /* Drop the digits below the microsecond, rounding toward -infinity. */
            unsigned __int128 p = -e > DIGITS_MAX ? 0 : pow10_u128((unsigned)-e);
            unsigned __int128 q = p == 0 ? 0 : d.mant / p;
            bool exact = p != 0 && q * p == d.mant;
            if (q > (unsigned __int128)INT64_MAX) return *why = "outside the years 0001..9999", false;
            v = (int64_t)q;
            if (d.negative) v = -v - (exact ? 0 : 1);
        }
    }
    if (v < TS_MIN_US || v > TS_MAX_US) return *why = "outside the years 0001..9999", false;
    *us = v;
    return true;
}

/* ------------------------------------------------------------------------- */
/* uuid, base64 */

/* Hex digit values + 1; 0 for anything else. */
static const uint8_t hex1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9,
    ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11,
    ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

bool decode_parse_uuid(const char *s, size_t n, uint8_t out[16], const char **why)
{
    if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return *why = "expected 8-4-4-4-12 hex digits", false;
    /* Byte k from the digits at pos[k] and pos[k] + 1. */
    static const uint8_t pos[16] = { 0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34 };
    unsigned bad = 0;
    for (size_t k = 0; k < 16; k++) {
        unsigned h = hex1[(uint8_t)s[pos[k]]], l = hex1[(uint8_t)s[pos[k] + 1]];
        bad |= (h == 0) | (l == 0);
        out[k] = (uint8_t)((h - 1) << 4 | ((l - 1) & 15));
    }
    if (bad) return *why = "not a hex digit", false;
    return true;
}

/* 0..63, or 64 for anything else; both alphabets. */
static const uint8_t b64[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8, ['I'] = 9,
    ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17,
    ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25,
    ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33,
    ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41,
    ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
    ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
    ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64, ['-'] = 63,
    ['_'] = 64,
}; /* stored + 1, so that 0 means "not base64" */

bool decode_parse_base64(const char *s, size_t n, uint8_t *out, size_t *out_len, const char **why)
{
    size_t len = n;
    if (len % 4 == 0 && len > 0 && s[len - 1] == '=') len -= s[len - 2] == '=' ? 2 : 1;
    if (len % 4 == 1) return *why = "a base64 length that cannot be (4k+1 characters)", false;
    size_t o = 0, i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            uint8_t c = b64[(uint8_t)s[i + k]];
            if (c == 0) return *why = "a character outside the base64 alphabet", false;
            v = v << 6 | (uint32_t)(c - 1);
        }
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    size_t rest = len - i;
    if (rest > 0) {
        uint32_t v = 0;
        for (size_t k = 0; k < rest; k++) {
            uint8_t c = b64[(uint8_t)s[i + k]];
            if (c == 0) return *why = "a character outside the base64 alphabet", false;
            v = v << 6 | (uint32_t)(c - 1);
        }
        /* 2 chars: 12 bits, 1 byte + 4 pad bits; 3 chars: 18 bits, 2 bytes + 2. */
        unsigned pad_bits = rest == 2 ? 4 : 2;
        if (v & ((1u << pad_bits) - 1)) return *why = "non-zero padding bits (not canonical base64)", false;
        v >>= pad_bits;
        if (rest == 3) out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    *out_len = o;
    return true;
}
