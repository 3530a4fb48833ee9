#include "pg_types.h"

#include <assert.h>
#include <string.h>

static uint16_t be16(const uint8_t *p) { return (uint16_t)((uint16_t)p[0] << 8 | p[1]); }

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

const char *pg_val_strerror(enum pg_val_error e)
{
    switch (e) {
    case PG_VAL_OK: return "ok";
    case PG_VAL_E_LENGTH: return "wrong length for its type";
    case PG_VAL_E_FORMAT: return "bytes its type cannot hold";
    case PG_VAL_E_RANGE: return "out of the range of the target type";
    case PG_VAL_E_INEXACT: return "more fractional digits than the target scale";
    case PG_VAL_E_OVERFLOW: return "more digits than the target precision";
    case PG_VAL_E_SPECIAL: return "NaN or infinity, which the target type cannot hold";
    case PG_VAL_E_SPACE: return "too long for the output buffer";
    }
    return "?";
}

static const struct {
    uint32_t oid, elem;
    const char *name;
} OIDS[] = {
    { PG_OID_BOOL, 0, "bool" },
    { PG_OID_BYTEA, 0, "bytea" },
    { PG_OID_CHAR, 0, "char" },
    { PG_OID_NAME, 0, "name" },
    { PG_OID_INT8, 0, "int8" },
    { PG_OID_INT2, 0, "int2" },
    { PG_OID_INT4, 0, "int4" },
    { PG_OID_TEXT, 0, "text" },
    { PG_OID_OID, 0, "oid" },
    { PG_OID_JSON, 0, "json" },
    { PG_OID_XML, 0, "xml" },
    { PG_OID_FLOAT4, 0, "float4" },
    { PG_OID_FLOAT8, 0, "float8" },
    { PG_OID_BPCHAR, 0, "bpchar" },
    { PG_OID_VARCHAR, 0, "varchar" },
    { PG_OID_DATE, 0, "date" },
    { PG_OID_TIME, 0, "time" },
    { PG_OID_TIMESTAMP, 0, "timestamp" },
    { PG_OID_TIMESTAMPTZ, 0, "timestamptz" },
    { PG_OID_NUMERIC, 0, "numeric" },
    { PG_OID_UUID, 0, "uuid" },
    { PG_OID_JSONB, 0, "jsonb" },
    { PG_OID_JSON_ARRAY, PG_OID_JSON, "_json" },
    { PG_OID_BOOL_ARRAY, PG_OID_BOOL, "_bool" },
    { PG_OID_BYTEA_ARRAY, PG_OID_BYTEA, "_bytea" },
    { PG_OID_INT2_ARRAY, PG_OID_INT2, "_int2" },
    { PG_OID_INT4_ARRAY, PG_OID_INT4, "_int4" },
    { PG_OID_TEXT_ARRAY, PG_OID_TEXT, "_text" },
    { PG_OID_BPCHAR_ARRAY, PG_OID_BPCHAR, "_bpchar" },
    { PG_OID_VARCHAR_ARRAY, PG_OID_VARCHAR, "_varchar" },
    { PG_OID_INT8_ARRAY, PG_OID_INT8, "_int8" },
    { PG_OID_FLOAT4_ARRAY, PG_OID_FLOAT4, "_float4" },
    { PG_OID_FLOAT8_ARRAY, PG_OID_FLOAT8, "_float8" },
    { PG_OID_TIMESTAMP_ARRAY, PG_OID_TIMESTAMP, "_timestamp" },
    { PG_OID_DATE_ARRAY, PG_OID_DATE, "_date" },
    { PG_OID_TIMESTAMPTZ_ARRAY, PG_OID_TIMESTAMPTZ, "_timestamptz" },
    { PG_OID_NUMERIC_ARRAY, PG_OID_NUMERIC, "_numeric" },
    { PG_OID_UUID_ARRAY, PG_OID_UUID, "_uuid" },
    { PG_OID_JSONB_ARRAY, PG_OID_JSONB, "_jsonb" },
};

const char *pg_oid_name(uint32_t oid)
{
    for (size_t i = 0; i < sizeof OIDS / sizeof OIDS[0]; i++)
        if (OIDS[i].oid == oid) return OIDS[i].name;
    return NULL;
}

uint32_t pg_oid_array_element(uint32_t array_oid)
{
    for (size_t i = 0; i < sizeof OIDS / sizeof OIDS[0]; i++)
        if (OIDS[i].oid == array_oid) return OIDS[i].elem;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Type modifiers */

bool pg_typmod_numeric(int32_t typmod, int *precision, int *scale)
{
    assert(precision != NULL && scale != NULL);
    if (typmod < 4) return false;
    int32_t t = typmod - 4;
    int p = (t >> 16) & 0xffff;
    int s = ((t & 0x7ff) ^ 1024) - 1024;   /* 11-bit two's complement */
    if (p < 1 || p > 1000 || s < -1000 || s > 1000) return false;
    *precision = p;
    *scale = s;
    return true;
}

bool pg_typmod_varchar(int32_t typmod, int32_t *length)
{
    assert(length != NULL);
    if (typmod < 5) return false;
    *length = typmod - 4;
    return true;
}

bool pg_typmod_timestamp(int32_t typmod, int *precision)
{
    assert(precision != NULL);
    if (typmod < 0 || typmod > 6) return false;
    *precision = typmod;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Scalars */

enum pg_val_error pg_val_bool(const uint8_t *p, size_t n, bool *out)
{
    if (n != 1) return PG_VAL_E_LENGTH;
    if (p[0] > 1) return PG_VAL_E_FORMAT;
    *out = p[0] == 1;
    return PG_VAL_OK;
}

enum pg_val_error pg_val_int2(const uint8_t *p, size_t n, int16_t *out)
{
    if (n != 2) return PG_VAL_E_LENGTH;
    *out = (int16_t)be16(p);
    return PG_VAL_OK;
}

enum pg_val_error pg_val_int4(const uint8_t *p, size_t n, int32_t *out)
{
    if (n != 4) return PG_VAL_E_LENGTH;
    *out = (int32_t)be32(p);
    return PG_VAL_OK;
}

enum pg_val_error pg_val_int8(const uint8_t *p, size_t n, int64_t *out)
{
    if (n != 8) return PG_VAL_E_LENGTH;
    *out = (int64_t)be64(p);
    return PG_VAL_OK;
}

enum pg_val_error pg_val_oid(const uint8_t *p, size_t n, uint32_t *out)
{
    if (n != 4) return PG_VAL_E_LENGTH;
    *out = be32(p);
    return PG_VAL_OK;
}

enum pg_val_error pg_val_float4(const uint8_t *p, size_t n, float *out)
{
    if (n != 4) return PG_VAL_E_LENGTH;
    uint32_t bits = be32(p);
    memcpy(out, &bits, sizeof *out);
    return PG_VAL_OK;
}

enum pg_val_error pg_val_float8(const uint8_t *p, size_t n, double *out)
{
    if (n != 8) return PG_VAL_E_LENGTH;
    uint64_t bits = be64(p);
    memcpy(out, &bits, sizeof *out);
    return PG_VAL_OK;
}

enum pg_val_error pg_val_uuid(const uint8_t *p, size_t n, uint8_t out[16])
{
    if (n != 16) return PG_VAL_E_LENGTH;
    memcpy(out, p, 16);
    return PG_VAL_OK;
}

enum pg_val_error pg_val_jsonb(const uint8_t *p, size_t n, const uint8_t **text, size_t *text_len)
{
    if (n < 1) return PG_VAL_E_LENGTH;
    if (p[0] != 1) return PG_VAL_E_FORMAT;
    *text = p + 1;
    *text_len = n - 1;
    return PG_VAL_OK;
}

enum pg_val_error pg_val_date(const uint8_t *p, size_t n, int32_t *unix_days, enum pg_val_special *special)
{
    if (n != 4) return PG_VAL_E_LENGTH;
    int32_t d = (int32_t)be32(p);
    *unix_days = 0;
    *special = PG_VAL_FINITE;
    if (d == INT32_MIN) *special = PG_VAL_NEG_INFINITY;
    else if (d == INT32_MAX) *special = PG_VAL_POS_INFINITY;
    else if (d > INT32_MAX - PG_DAYS_2000_FROM_1970) return PG_VAL_E_RANGE;
    else *unix_days = d + PG_DAYS_2000_FROM_1970;
    return PG_VAL_OK;
}

enum pg_val_error pg_val_timestamp(const uint8_t *p, size_t n, int64_t *unix_us, enum pg_val_special *special)
{
    if (n != 8) return PG_VAL_E_LENGTH;
    int64_t t = (int64_t)be64(p);
    *unix_us = 0;
    *special = PG_VAL_FINITE;
    if (t == INT64_MIN) *special = PG_VAL_NEG_INFINITY;
    else if (t == INT64_MAX) *special = PG_VAL_POS_INFINITY;
    else if (t > INT64_MAX - PG_USEC_2000_FROM_1970) return PG_VAL_E_RANGE;
    else *unix_us = t + PG_USEC_2000_FROM_1970;
    return PG_VAL_OK;
}

enum pg_val_error pg_val_time(const uint8_t *p, size_t n, int64_t *us)
{
    if (n != 8) return PG_VAL_E_LENGTH;
    int64_t t = (int64_t)be64(p);
    if (t < 0 || t > INT64_C(86400000000)) return PG_VAL_E_FORMAT;
    *us = t;
    return PG_VAL_OK;
}

/* ------------------------------------------------------------------------- */
/* numeric */

enum { NUMERIC_POS = 0x0000, NUMERIC_NEG = 0x4000, NUMERIC_NAN = 0xC000, NUMERIC_PINF = 0xD000,
       NUMERIC_NINF = 0xF000 };

struct numeric {
    int ndigits, weight;
    uint16_t sign, dscale;
    const uint8_t *digits;
};

/* The base-10000 digit `i` (0 outside the stored ones). */
static int numeric_digit(const struct numeric *v, long i)
{
    if (i < 0 || i >= v->ndigits) return 0;
    return be16(v->digits + 2 * i);
}

static enum pg_val_error numeric_parse(const uint8_t *p, size_t n, struct numeric *v, enum pg_val_special *special)
{
    if (n < 8) return PG_VAL_E_LENGTH;
    int16_t ndigits = (int16_t)be16(p);
    if (ndigits < 0 || n != 8 + 2 * (size_t)ndigits) return PG_VAL_E_LENGTH;
    v->ndigits = ndigits;
    v->weight = (int16_t)be16(p + 2);
    v->sign = be16(p + 4);
    v->dscale = be16(p + 6);
    v->digits = p + 8;
    *special = PG_VAL_FINITE;
    switch (v->sign) {
    case NUMERIC_POS:
    case NUMERIC_NEG: break;
    case NUMERIC_NAN: *special = PG_VAL_NAN; break;
    case NUMERIC_PINF: *special = PG_VAL_POS_INFINITY; break;
    case NUMERIC_NINF: *special = PG_VAL_NEG_INFINITY; break;
    default: return PG_VAL_E_FORMAT;
    }
    if (*special != PG_VAL_FINITE && ndigits != 0) return PG_VAL_E_FORMAT;
    if (v->dscale > PG_NUMERIC_DSCALE_MAX) return PG_VAL_E_FORMAT;
    for (int i = 0; i < ndigits; i++)
        if (be16(v->digits + 2 * i) > 9999) return PG_VAL_E_FORMAT;
    return PG_VAL_OK;
}

static const char *special_text(enum pg_val_special s)
{
    return s == PG_VAL_NAN ? "NaN" : s == PG_VAL_POS_INFINITY ? "Infinity" : "-Infinity";
}

/* Writes `g` (0..9999) as exactly four digits. */
static void four_digits(char *o, int g)
{
    o[0] = (char)('0' + g / 1000);
    o[1] = (char)('0' + g / 100 % 10);
    o[2] = (char)('0' + g / 10 % 10);
    o[3] = (char)('0' + g % 10);
}

/*   integer part: the digits of weight .. 0 (index 0 .. weight), leading zeros dropped
 *   fraction:     the digits of index weight+1 ..; as many decimal digits as dscale
 *                 asks, or up to the last non-zero one if that is further */
enum pg_val_error pg_val_numeric_text(const uint8_t *p, size_t n, char *out, size_t cap, size_t *out_len,
                                      enum pg_val_special *special)
{
    assert(out != NULL && out_len != NULL && special != NULL);
    struct numeric v;
    enum pg_val_error e = numeric_parse(p, n, &v, special);
    if (e != PG_VAL_OK) return e;
    if (*special != PG_VAL_FINITE) {
        const char *t = special_text(*special);
        size_t len = strlen(t);
        if (len + 1 > cap) return PG_VAL_E_SPACE;
        memcpy(out, t, len + 1);
        *out_len = len;
        return PG_VAL_OK;
    }
    /* Sizes first. */
    bool nonzero = false;
    for (int i = 0; i < v.ndigits; i++) nonzero |= numeric_digit(&v, i) != 0;
    long first = 0;   /* index of the first non-zero integer group */
    while (first <= v.weight && numeric_digit(&v, first) == 0) first++;
    size_t int_len = 1;
    if (first <= v.weight) {
        int g = numeric_digit(&v, first);
        int lead = g >= 1000 ? 4 : g >= 100 ? 3 : g >= 10 ? 2 : 1;
        int_len = (size_t)lead + 4 * (size_t)(v.weight - first);
    }
    size_t exact = 0;   /* fractional digits up to the last non-zero one */
    for (long i = v.ndigits - 1; i > v.weight && i >= 0; i--) {
        int g = numeric_digit(&v, i);
        if (g == 0) continue;
        int trailing = g % 1000 == 0 ? 3 : g % 100 == 0 ? 2 : g % 10 == 0 ? 1 : 0;
        exact = 4 * (size_t)(i - v.weight) - (size_t)trailing;
        break;
    }
    size_t frac_len = exact > v.dscale ? exact : v.dscale;
    bool neg = v.sign == NUMERIC_NEG && nonzero;
    size_t total = (neg ? 1 : 0) + int_len + (frac_len > 0 ? 1 + frac_len : 0);
    if (total + 1 > cap) return PG_VAL_E_SPACE;

    char *o = out;
    if (neg) *o++ = '-';
    if (first > v.weight) {
        *o++ = '0';
    } else {
        char tmp[4];
        four_digits(tmp, numeric_digit(&v, first));
        size_t lead = int_len - 4 * (size_t)(v.weight - first);
        memcpy(o, tmp + 4 - lead, lead);
        o += lead;
        for (long i = first + 1; i <= v.weight; i++, o += 4) four_digits(o, numeric_digit(&v, i));
    }
    if (frac_len > 0) {
        *o++ = '.';
        size_t done = 0;
        for (long i = (long)v.weight + 1; done < frac_len; i++) {
            char tmp[4];
            four_digits(tmp, numeric_digit(&v, i));
            size_t take = frac_len - done < 4 ? frac_len - done : 4;
            memcpy(o, tmp, take);
            o += take;
            done += take;
        }
    }
    *o = '\0';
    assert((size_t)(o - out) == total);
    *out_len = total;
    return PG_VAL_OK;
}

static const uint64_t POW10_U64[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
    1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
    100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
    1000000000000000000ull, 10000000000000000000ull,
};

/* 10^k for 0 <= k <= 38. */
static unsigned __int128 pow10_u128(int k)
{
    assert(k >= 0 && k <= 38);
    if (k < 20) return POW10_U64[k];
    return (unsigned __int128)POW10_U64[19] * POW10_U64[k - 19];
}

/* unscaled = sum(digit[i] * 10^(4 * (weight - i) + scale)); each term must be an
 * integer (else inexact) and the sum below 10^precision (else overflow). */
enum pg_val_error pg_val_numeric_scaled(const uint8_t *p, size_t n, int precision, int scale, __int128 *out,
                                        enum pg_val_special *special)
{
    assert(out != NULL && special != NULL);
    assert(precision >= 1 && precision <= PG_NUMERIC_PRECISION_MAX && scale >= 0 && scale <= precision);
    struct numeric v;
    enum pg_val_error e = numeric_parse(p, n, &v, special);
    if (e != PG_VAL_OK) return e;
    if (*special != PG_VAL_FINITE) return PG_VAL_E_SPECIAL;
    const unsigned __int128 limit = pow10_u128(precision);   /* exclusive */
    unsigned __int128 mag = 0;
    bool overflow = false;
    for (int i = 0; i < v.ndigits; i++) {
        int d = numeric_digit(&v, i);
        if (d == 0) continue;
        long exp10 = 4L * (v.weight - i) + scale;
        if (exp10 < 0) {
            if (exp10 <= -4) return PG_VAL_E_INEXACT;
            int div = exp10 == -1 ? 10 : exp10 == -2 ? 100 : 1000;
            if (d % div != 0) return PG_VAL_E_INEXACT;
            d /= div;
            exp10 = 0;
        }
        /* Keep scanning after an overflow: an inexact digit further on wins. */
        if (overflow || exp10 >= precision) {
            overflow = true;
            continue;
        }
        unsigned __int128 pw = pow10_u128((int)exp10);
        if ((unsigned __int128)d > (limit - 1) / pw) {
            overflow = true;
            continue;
        }
        unsigned __int128 term = (unsigned __int128)d * pw;
        if (mag > limit - 1 - term) overflow = true;
        else mag += term;
    }
    if (overflow) return PG_VAL_E_OVERFLOW;
    *out = v.sign == NUMERIC_NEG ? -(__int128)mag : (__int128)mag;
    return PG_VAL_OK;
}

/* ------------------------------------------------------------------------- */
/* arrays */

enum { PG_ARRAY_COUNT_DEFAULT_MAX = 134217727 };   /* PostgreSQL's MaxArraySize */

enum pg_val_error pg_val_array_open(const uint8_t *p, size_t n, uint32_t expect_elem_oid, uint64_t count_max,
                                    struct pg_array *out)
{
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    if (count_max == 0) count_max = PG_ARRAY_COUNT_DEFAULT_MAX;
    if (n < 12) return PG_VAL_E_LENGTH;
    int32_t ndim = (int32_t)be32(p);
    uint32_t flags = be32(p + 4);
    out->elem_oid = be32(p + 8);
    if (ndim < 0 || ndim > PG_ARRAY_DIMS_MAX || flags > 1) return PG_VAL_E_FORMAT;
    if (expect_elem_oid != 0 && out->elem_oid != expect_elem_oid) return PG_VAL_E_FORMAT;
    out->ndim = (uint32_t)ndim;
    out->has_nulls = flags == 1;
    if (n - 12 < 8 * (size_t)ndim) return PG_VAL_E_LENGTH;
    uint64_t count = ndim > 0 ? 1 : 0;
    for (int i = 0; i < ndim; i++) {
        out->dims[i] = (int32_t)be32(p + 12 + 8 * i);
        out->lower[i] = (int32_t)be32(p + 16 + 8 * i);
        if (out->dims[i] < 0) return PG_VAL_E_FORMAT;
        if ((int64_t)out->lower[i] + out->dims[i] > INT32_MAX) return PG_VAL_E_FORMAT;
        count *= (uint64_t)out->dims[i];   /* <= count_max^... checked each step */
        if (count > count_max) return PG_VAL_E_RANGE;
    }
    out->count = count;
    const uint8_t *q = p + 12 + 8 * (size_t)ndim, *end = p + n;
    for (uint64_t k = 0; k < count; k++) {
        if (end - q < 4) return PG_VAL_E_LENGTH;
        int32_t len = (int32_t)be32(q);
        q += 4;
        if (len == -1) continue;
        if (len < 0) return PG_VAL_E_FORMAT;
        if (end - q < len) return PG_VAL_E_LENGTH;
        q += len;
    }
    if (q != end) return PG_VAL_E_LENGTH;
    out->p = p + 12 + 8 * (size_t)ndim;
    out->end = end;
    out->left = count;
    return PG_VAL_OK;
}

bool pg_val_array_next(struct pg_array *a, const uint8_t **data, size_t *len, bool *null)
{
    assert(a != NULL && data != NULL && len != NULL && null != NULL);
    if (a->left == 0) return false;
    int32_t l = (int32_t)be32(a->p);
    a->p += 4;
    if (l == -1) {
        *data = NULL;
        *len = 0;
        *null = true;
    } else {
        *data = a->p;
        *len = (size_t)l;
        *null = false;
        a->p += l;
    }
    a->left--;
    return true;
}
