/* pg_types: PostgreSQL type OIDs, type modifiers, and decoders of the binary
 * ("send") format of the values a backfill reads from a binary COPY. Pure, fuzzed.
 *
 * Every decoder takes one field (data, len) as pg_copy hands it over and checks its
 * length and contents: a malformed value is an error, never a guess. Big-endian
 * throughout. The layouts:
 *
 *   bool                1 byte, 0 or 1
 *   int2 / int4 / int8  2 / 4 / 8 bytes, two's complement
 *   float4 / float8     IEEE 754 binary32 / binary64 bits (NaN and +-Infinity kept)
 *   oid                 4 bytes, unsigned
 *   text, varchar, bpchar, name, json, xml: the text in the client encoding (UTF8);
 *                       bpchar (char(n)) keeps its padding blanks
 *   jsonb               1 byte version (1), then the JSON text
 *   bytea               the bytes
 *   uuid                16 bytes
 *   date                int32 days since 2000-01-01; INT32_MIN -infinity, INT32_MAX +infinity
 *   time                int64 microseconds since midnight
 *   timestamp(tz)       int64 microseconds since 2000-01-01 00:00 (UTC for timestamptz);
 *                       INT64_MIN -infinity, INT64_MAX +infinity
 *   numeric             +---------+--------+--------+--------+---------------------+
 *                       | ndigits | weight | sign   | dscale | ndigits x digit     |
 *                       | i16     | i16    | u16    | u16    | i16 each, 0..9999   |
 *                       +---------+--------+--------+--------+---------------------+
 *                       value = sum(digit[i] * 10000^(weight - i)); sign 0x0000 +,
 *                       0x4000 -, 0xC000 NaN, 0xD000 +Infinity, 0xF000 -Infinity;
 *                       dscale = digits shown after the point.
 *                       12345.678 (dscale 3) = ndigits 3, weight 1: [1][2345][6780]
 *   array               +------+-------+----------+-------------------------+-----------------+
 *                       | ndim | flags | elem oid | ndim x (size, lower i32)| elements:       |
 *                       | i32  | i32   | u32      |                         | len i32 + bytes |
 *                       +------+-------+----------+-------------------------+-----------------+
 *                       flags bit 0: has NULLs; element length -1 = NULL; elements in
 *                       row-major order; ndim 0 = an empty array.
 *
 * Dates and timestamps come out on the Unix epoch (days / microseconds since
 * 1970-01-01), as Parquet stores them; infinities come out as a separate flag. */
#ifndef LW_PG_TYPES_H
#define LW_PG_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* pg_type OIDs (src/include/catalog/pg_type.dat): fixed since PostgreSQL 8. */
enum pg_oid {
    PG_OID_BOOL = 16,
    PG_OID_BYTEA = 17,
    PG_OID_CHAR = 18,
    PG_OID_NAME = 19,
    PG_OID_INT8 = 20,
    PG_OID_INT2 = 21,
    PG_OID_INT4 = 23,
    PG_OID_TEXT = 25,
    PG_OID_OID = 26,
    PG_OID_JSON = 114,
    PG_OID_XML = 142,
    PG_OID_FLOAT4 = 700,
    PG_OID_FLOAT8 = 701,
    PG_OID_BPCHAR = 1042,
    PG_OID_VARCHAR = 1043,
    PG_OID_DATE = 1082,
    PG_OID_TIME = 1083,
    PG_OID_TIMESTAMP = 1114,
    PG_OID_TIMESTAMPTZ = 1184,
    PG_OID_NUMERIC = 1700,
    PG_OID_UUID = 2950,
    PG_OID_JSONB = 3802,
    /* arrays of the above */
    PG_OID_JSON_ARRAY = 199,
    PG_OID_BOOL_ARRAY = 1000,
    PG_OID_BYTEA_ARRAY = 1001,
    PG_OID_INT2_ARRAY = 1005,
    PG_OID_INT4_ARRAY = 1007,
    PG_OID_TEXT_ARRAY = 1009,
    PG_OID_BPCHAR_ARRAY = 1014,
    PG_OID_VARCHAR_ARRAY = 1015,
    PG_OID_INT8_ARRAY = 1016,
    PG_OID_FLOAT4_ARRAY = 1021,
    PG_OID_FLOAT8_ARRAY = 1022,
    PG_OID_TIMESTAMP_ARRAY = 1115,
    PG_OID_DATE_ARRAY = 1182,
    PG_OID_TIMESTAMPTZ_ARRAY = 1185,
    PG_OID_NUMERIC_ARRAY = 1231,
    PG_OID_UUID_ARRAY = 2951,
    PG_OID_JSONB_ARRAY = 3807,
};

enum {
    PG_ARRAY_DIMS_MAX = 6,                       /* PostgreSQL's MAXDIM */
    PG_NUMERIC_DSCALE_MAX = 0x3fff,              /* NUMERIC_DSCALE_MAX */
    PG_NUMERIC_PRECISION_MAX = 38,               /* of a scaled 128-bit integer */
    PG_DAYS_2000_FROM_1970 = 10957,              /* 2000-01-01 in days since 1970-01-01 */
};
#define PG_USEC_2000_FROM_1970 INT64_C(946684800000000)

/* What went wrong with a value. */
enum pg_val_error {
    PG_VAL_OK = 0,
    PG_VAL_E_LENGTH,    /* the field has the wrong number of bytes for its type */
    PG_VAL_E_FORMAT,    /* bytes that the type cannot hold (bool 2, digit 12000, ...) */
    PG_VAL_E_RANGE,     /* a valid value that does not fit the output (a date past int32 days) */
    PG_VAL_E_INEXACT,   /* numeric: more fractional digits than the target scale */
    PG_VAL_E_OVERFLOW,  /* numeric: more digits than the target precision */
    PG_VAL_E_SPECIAL,   /* numeric: NaN or +-Infinity asked as a scaled integer */
    PG_VAL_E_SPACE,     /* the output buffer is too small */
};

/* Infinities and NaN beside a finite value. */
enum pg_val_special {
    PG_VAL_FINITE = 0,
    PG_VAL_POS_INFINITY,
    PG_VAL_NEG_INFINITY,
    PG_VAL_NAN,         /* numeric only (floats carry NaN in their bits) */
};

/* A short description: "wrong length for its type", ... */
const char *pg_val_strerror(enum pg_val_error e);

/* The type's name for messages ("int4", "numeric", "_int4"), or NULL if unknown. */
const char *pg_oid_name(uint32_t oid);

/* The element type of an array type OID above, or 0. */
uint32_t pg_oid_array_element(uint32_t array_oid);

/* ------------------------------------------------------------------------- */
/* Type modifiers (atttypmod, RowDescription.typmod) */

/* numeric(p, s): typmod = ((p << 16) | (s & 0x7ff)) + 4, s in -1000..1000 (negative
 * scales since PostgreSQL 15). False for -1 (a plain `numeric`) or a bad value. */
bool pg_typmod_numeric(int32_t typmod, int *precision, int *scale);

/* varchar(n) / bpchar(n): n = typmod - 4. False for -1 (no limit). */
bool pg_typmod_varchar(int32_t typmod, int32_t *length);

/* timestamp(p) / timestamptz(p) / time(p): p = typmod (0..6). False for -1. */
bool pg_typmod_timestamp(int32_t typmod, int *precision);

/* ------------------------------------------------------------------------- */
/* Scalars */

enum pg_val_error pg_val_bool(const uint8_t *p, size_t n, bool *out);
enum pg_val_error pg_val_int2(const uint8_t *p, size_t n, int16_t *out);
enum pg_val_error pg_val_int4(const uint8_t *p, size_t n, int32_t *out);
enum pg_val_error pg_val_int8(const uint8_t *p, size_t n, int64_t *out);
enum pg_val_error pg_val_oid(const uint8_t *p, size_t n, uint32_t *out);
enum pg_val_error pg_val_float4(const uint8_t *p, size_t n, float *out);
enum pg_val_error pg_val_float8(const uint8_t *p, size_t n, double *out);
enum pg_val_error pg_val_uuid(const uint8_t *p, size_t n, uint8_t out[16]);

/* jsonb: checks the version byte (1) and sets the JSON text. */
enum pg_val_error pg_val_jsonb(const uint8_t *p, size_t n, const uint8_t **text, size_t *text_len);

/* date: days since 1970-01-01 in *unix_days (0 when infinite). */
enum pg_val_error pg_val_date(const uint8_t *p, size_t n, int32_t *unix_days, enum pg_val_special *special);

/* timestamp / timestamptz: microseconds since 1970-01-01 in *unix_us (0 when
 * infinite). PG_VAL_E_RANGE if it does not fit int64 (it always does for values the
 * server accepts: 4713 BC .. 294276 AD). */
enum pg_val_error pg_val_timestamp(const uint8_t *p, size_t n, int64_t *unix_us, enum pg_val_special *special);

/* time: microseconds since midnight, 0 .. 86400000000 (24:00:00 is valid). */
enum pg_val_error pg_val_time(const uint8_t *p, size_t n, int64_t *us);

/* ------------------------------------------------------------------------- */
/* numeric */

/* Room that always suffices for pg_val_numeric_text, NUL included: a sign, at most
 * 131072 integer digits (weight 32767) or a "0", the point, and at most 262136
 * fractional digits (weight -32768, 32767 base-10000 digits). */
#define PG_NUMERIC_TEXT_MAX ((size_t)1 + 32768 * 4 + 1 + 32768 * 4 + 4)

/* Writes the exact decimal text of a numeric ("-123.4500", "0.001", "NaN",
 * "Infinity", "-Infinity"; no exponent) into `out` (`cap` bytes, NUL added) with
 * dscale fractional digits, or more if the digits go further (never rounded).
 * *special says which kind of value it was. */
enum pg_val_error pg_val_numeric_text(const uint8_t *p, size_t n, char *out, size_t cap, size_t *out_len,
                                      enum pg_val_special *special);

/* The numeric as an integer scaled by 10^scale: 12.34 with scale 3 is 12340. Errors:
 * PG_VAL_E_SPECIAL for NaN/Infinity (*special says which), PG_VAL_E_INEXACT when
 * non-zero digits lie beyond `scale`, PG_VAL_E_OVERFLOW when the result has more
 * than `precision` digits. 0 <= scale <= precision <= 38. */
enum pg_val_error pg_val_numeric_scaled(const uint8_t *p, size_t n, int precision, int scale, __int128 *out,
                                        enum pg_val_special *special);

/* ------------------------------------------------------------------------- */
/* arrays */

/* An array field, checked whole by pg_val_array_open; then read with _next. */
struct pg_array {
    uint32_t ndim;                       /* 0 for an empty array */
    bool has_nulls;
    uint32_t elem_oid;
    int32_t dims[PG_ARRAY_DIMS_MAX];     /* sizes */
    int32_t lower[PG_ARRAY_DIMS_MAX];    /* lower bounds (usually 1) */
    uint64_t count;                      /* elements: the product of the sizes */
    const uint8_t *p, *end;              /* the next element */
    uint64_t left;
};

/* Opens an array: checks the header, the dimensions (product at most
 * `count_max`) and every element's length. `expect_elem_oid` 0 accepts any element
 * type; else a different one is PG_VAL_E_FORMAT. */
enum pg_val_error pg_val_array_open(const uint8_t *p, size_t n, uint32_t expect_elem_oid, uint64_t count_max,
                                    struct pg_array *out);

/* The next element in row-major order; false after the last. `*data` is NULL for
 * a NULL element. */
bool pg_val_array_next(struct pg_array *a, const uint8_t **data, size_t *len, bool *null);

#endif
