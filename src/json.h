/* json: a strict, zero-copy JSON parser (RFC 8259) for the event decoder.
 *
 * The decoder's job is to turn a stream entry's `data` field (a JSON object:
 * column name -> value) into typed column values without building a tree. So
 * this module hands out slices of the caller's buffer, never copies:
 *
 *   {"user_id": 42, "name": "Cr\u00e8me", "tags": ["a","b"], "props": {"x": 1}}
 *    ^^^^^^^^^  ^^   ^^^^^^^^^^^^^^^^^^^   ^^^^^^^^^^^^^^^^
 *    key        NUMBER text "42"          ARRAY text "[\"a\",\"b\"]" (iterable)
 *                    STRING text between the quotes, escaped = true
 *
 * Usage: iterate the members of the top-level object.
 *
 *   struct json_iter it;
 *   struct json_member m;
 *   struct lw_err err;
 *   if (!json_object_begin(&it, data, len, NULL, &err)) return reject(&err);
 *   int r;
 *   while ((r = json_object_next(&it, &m, &err)) == JSON_ITEM) {
 *       if (m.value.kind == JSON_NUMBER) json_number_to_i64(m.value.text, m.value.len, &v, &err);
 *       ...
 *   }
 *   if (r == JSON_ERROR) return reject(&err);   // r == JSON_END: the whole text is valid
 *
 * Validation is complete: the grammar, number syntax, string escapes (surrogate
 * pairs), raw control characters, UTF-8 of every string byte (overlongs, encoded
 * surrogates, > U+10FFFF, truncated sequences), whitespace (space, tab, LF, CR
 * only; no byte order mark) and trailing bytes after the value. Nested values are
 * validated in full when they are reached; a document is known to be valid only
 * when the iteration returns JSON_END, so a decoder that appends values while
 * iterating must be able to drop the partial row on JSON_ERROR.
 *
 * Nesting is tracked by an explicit bit stack (one bit per open container), no
 * recursion; the depth limit is JSON_DEPTH_MAX and may be set lower per parse.
 * Nothing is allocated. Errors carry the byte offset in the buffer being parsed
 * and what was expected and found: "offset 17: invalid escape '\x' in string".
 *
 * Input buffers need not be NUL-terminated and are never read outside [0, len). */
#ifndef LW_JSON_H
#define LW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    JSON_DEPTH_MAX = 64,      /* open objects/arrays at once, the outermost included */
    JSON_KEYSET_MAX = 256,    /* members of one object checked for duplicate names */
};

/* Codes in lw_err.code for errors from this module. */
enum json_error {
    JSON_ESYNTAX = 1,   /* grammar: unexpected byte, missing ',' ':' '}' ']', trailing bytes */
    JSON_ETRUNCATED,    /* the input ends inside a value */
    JSON_EDEPTH,        /* nesting deeper than the limit */
    JSON_ESTRING,       /* bad escape, lone surrogate, raw control character */
    JSON_EUTF8,         /* invalid UTF-8 inside a string */
    JSON_ENUMBER,       /* number syntax */
    JSON_EDUPLICATE,    /* a member name repeated in the checked object */
    JSON_ELIMIT,        /* more members than JSON_KEYSET_MAX in a checked object */
    JSON_ENOTINT,       /* number helper: not an integer */
    JSON_ERANGE,        /* number helper: out of range for the target type */
    JSON_ESPACE,        /* unescape: the output buffer is too small */
};

enum json_kind {
    JSON_NULL = 1,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_OBJECT,
    JSON_ARRAY,
};

/* A value, as a slice of the parsed buffer.
 *   JSON_STRING   text/len: the raw bytes between the quotes, escapes not decoded;
 *                 escaped: true when they contain a backslash (then decode with
 *                 json_unescape; otherwise the slice already is the valid UTF-8 value)
 *   JSON_NUMBER   text/len: the exact number text ("-12.50e3"), for exact conversion
 *   JSON_OBJECT,  text/len: the whole raw text from the opening to the closing
 *   JSON_ARRAY    bracket, inner whitespace included: a valid JSON text by itself
 *   literals      text/len: "null", "true", "false"
 * offset: where the value starts in the parsed buffer (a string: its opening quote). */
struct json_value {
    enum json_kind kind;
    bool escaped;
    const char *text;
    size_t len;
    size_t offset;
};

/* One member of an object: the key is a JSON_STRING value. */
struct json_member {
    struct json_value key;
    struct json_value value;
};

/* Member names seen in one object, for the duplicate-name check. Caller-owned;
 * json_object_begin empties it. Only the iterated object is checked: nested
 * values are kept verbatim and their names are not compared. */
struct json_keyset_entry {
    const char *text;
    size_t len;
    uint32_t hash;
    bool escaped;
};

struct json_keyset {
    size_t count;
    struct json_keyset_entry keys[JSON_KEYSET_MAX];
};

/* Options of one parse; NULL means all defaults. */
struct json_options {
    unsigned depth_max;           /* 1..JSON_DEPTH_MAX; 0 means JSON_DEPTH_MAX */
    struct json_keyset *keyset;   /* json_object_begin: when not NULL, a member name that
                                     repeats an earlier one (compared after unescaping) is
                                     JSON_EDUPLICATE, and an object with more than
                                     JSON_KEYSET_MAX members is JSON_ELIMIT */
};

/* Results of json_object_next and json_array_next. */
enum json_step { JSON_ERROR = -1, JSON_END = 0, JSON_ITEM = 1 };

/* An iteration over the members of an object or the elements of an array.
 * Caller-owned; all fields but error_offset are private to json.c. */
struct json_iter {
    size_t error_offset;          /* after JSON_ERROR: the byte offset of the error */
    const uint8_t *buf_;
    size_t len_;
    size_t pos_;
    unsigned depth_max_;
    uint8_t state_;
    bool array_;
    struct json_keyset *keyset_;
};

/* Starts iterating the object that must make up all of buf[0, len) (with optional
 * whitespace around it). Checks only the opening '{'; the rest is validated as
 * json_object_next goes. The buffer must stay unchanged while the iteration and
 * the slices it returns are used. Returns false and fills `err` if buf does not
 * start with an object. */
bool json_object_begin(struct json_iter *it, const char *buf, size_t len,
                       const struct json_options *opt, struct lw_err *err);

/* Reads the next member into `m`: JSON_ITEM; JSON_END after the closing '}' when
 * nothing but whitespace follows it; JSON_ERROR with `err` filled (and
 * it->error_offset set) otherwise. A member's value is validated in full before it
 * is returned, nested objects and arrays included. After JSON_END or JSON_ERROR,
 * later calls return the same result. */
int json_object_next(struct json_iter *it, struct json_member *m, struct lw_err *err);

/* Starts iterating the array that must make up all of buf[0, len): typically the
 * text of a JSON_ARRAY value (v.text, v.len); error offsets are then relative to
 * the array's '['. Returns false and fills `err` if buf does not start with '['. */
bool json_array_begin(struct json_iter *it, const char *buf, size_t len,
                      const struct json_options *opt, struct lw_err *err);

/* Reads the next element into `v`, as json_object_next does for members. */
int json_array_next(struct json_iter *it, struct json_value *v, struct lw_err *err);

/* Parses and validates buf[0, len) as one JSON text of any kind and describes its
 * top-level value in `v` (objects and arrays as raw text). Duplicate names are not
 * checked. Returns false and fills `err` if the text is not valid. */
bool json_parse(const char *buf, size_t len, const struct json_options *opt,
                struct json_value *v, struct lw_err *err);

/* Decodes the string value `v` (JSON_STRING, as returned by this module) into
 * out[0, cap) as UTF-8, without a terminating NUL, and stores the byte count in
 * *out_len. The result is never longer than v->len, so cap >= v->len always
 * suffices. \u0000 decodes to a NUL byte. The input is validated again in full
 * (escapes, surrogate pairs, UTF-8, control characters), so this is safe on any
 * slice. Returns false and fills `err` (JSON_ESPACE if cap is too small). */
bool json_unescape(const struct json_value *v, char *out, size_t cap, size_t *out_len,
                   struct lw_err *err);

/* True if the decoded content of the string value `v` equals s[0, len). No buffer
 * needed; false for a malformed escape. */
bool json_string_eq(const struct json_value *v, const char *s, size_t len);

/* True if text[0, len) is exactly a JSON integer literal: -?(0|[1-9][0-9]*). */
bool json_number_is_integer(const char *text, size_t len);

/* Converts the JSON number text[0, len) to an int64, exactly. Accepts any JSON
 * number whose value is an integer, so "12", "-0", "12.0", "1.2e1" and "1200e-2"
 * all convert, while "12.5" and "1e-1" are JSON_ENOTINT (use
 * json_number_is_integer first to demand the literal form). Values outside
 * [INT64_MIN, INT64_MAX] are JSON_ERANGE; a text that is not a JSON number is
 * JSON_ENUMBER. Huge exponents are handled without overflow. */
bool json_number_to_i64(const char *text, size_t len, int64_t *out, struct lw_err *err);

/* Converts the JSON number text[0, len) to the nearest double (correctly rounded,
 * ties to even; "-0" gives -0.0). Magnitudes that round to infinity are
 * JSON_ERANGE; those below the smallest subnormal give (signed) zero. A text that
 * is not a JSON number is JSON_ENUMBER. */
bool json_number_to_double(const char *text, size_t len, double *out, struct lw_err *err);

/* "null", "false", "true", "number", "string", "object", "array". */
const char *json_kind_name(enum json_kind kind);

#endif
