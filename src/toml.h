/* toml: lakewriter's configuration format, a strict subset of TOML 1.0.
 *
 * Supported
 *   comments        '#' to the end of the line (anywhere a line may end)
 *   key = value     one pair per line; the key is defined once
 *   keys            bare (A-Z a-z 0-9 _ -), "basic quoted", 'literal quoted', and
 *                   dotted (a.b = 1 defines table a with key b under the current table)
 *   [a.b]           table headers; each table is defined once
 *   [[a.b]]         arrays of tables: each header appends one table
 *   "string"        basic strings with the escapes \b \t \n \f \r \" \\ \uXXXX
 *                   \UXXXXXXXX (a Unicode scalar value, encoded as UTF-8)
 *   'string'        literal strings: no escapes
 *   integers        decimal, optional sign, '_' between digits (1_000_000), no leading
 *                   zeros, 64-bit signed
 *   booleans        true, false
 *   arrays          [ v, v, ... ] of strings, integers and booleans; may span lines,
 *                   hold comments and end with a comma
 * Line ends are LF or CRLF; a UTF-8 byte order mark at the start is skipped.
 *
 * Not supported, each reported as an error naming what it is: multi-line strings
 * (""" and '''), floats, inf/nan, hexadecimal/octal/binary integers, dates and
 * times, inline tables ({ ... }), arrays of arrays, NUL characters in strings
 * (\u0000). Also stricter than TOML: a dotted key may only extend a table that
 * dotted keys created under the same header.
 *
 * The whole input must be UTF-8; control characters other than tab are refused in
 * strings and comments. Every node keeps the line and column (in bytes, from 1)
 * where it was written, and the children of a table keep the file order.
 *
 * Errors do not stop the parse: the parser records the error, skips the rest of
 * the line (or of the array it was in) and goes on, so one run reports every syntax
 * error, up to TOML_ERRORS_MAX. A key whose value could not be read is kept with
 * type TOML_INVALID so that users of the tree do not also report it as missing.
 * The parser uses no recursion; memory is bounded by the input size. */
#ifndef LW_TOML_H
#define LW_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    TOML_FILE_MAX = 1 << 20,     /* bytes of input */
    TOML_KEY_LEN_MAX = 256,      /* bytes of one key (after unescaping) */
    TOML_STRING_LEN_MAX = 8192,  /* bytes of one string value */
    TOML_DEPTH_MAX = 8,          /* key components from the root: [a.b] c.d = 1 is 4 */
    TOML_NODES_MAX = 16384,      /* tables, keys and array items in one document */
    TOML_ERRORS_MAX = 32,        /* errors kept; the parse stops at the next one */
    TOML_ERROR_MSG_MAX = 320,
};

enum toml_type {
    TOML_TABLE,        /* [header], dotted key, or an item of an array of tables */
    TOML_TABLE_ARRAY,  /* [[header]]: children are TOML_TABLE items */
    TOML_STRING,
    TOML_INTEGER,
    TOML_BOOL,
    TOML_ARRAY,        /* children are TOML_STRING / TOML_INTEGER / TOML_BOOL items */
    TOML_INVALID,      /* a key whose value had an error (already reported) */
};

struct toml_node {
    enum toml_type type;
    const char *key;          /* name in the parent table; "" for array items */
    uint32_t line, col;       /* where the key, header or item starts */
    const char *str;          /* TOML_STRING: NUL-terminated UTF-8, no NUL inside */
    size_t str_len;
    int64_t integer;          /* TOML_INTEGER */
    bool boolean;             /* TOML_BOOL */
    size_t count;             /* number of children */
    const struct toml_node *parent;  /* NULL for the root */
    const struct toml_node *child;   /* first child, in file order */
    const struct toml_node *next;    /* next sibling, in file order */
    /* Private to toml.c. */
    struct toml_node *last_;
    uint32_t section_;
    uint8_t how_;
};

struct toml_error {
    uint32_t line, col;            /* col 0 when the error is about a whole line */
    char msg[TOML_ERROR_MSG_MAX];  /* starts with the key path when one is known */
};

struct toml_doc;

/* Parses `len` bytes of `text` (not necessarily NUL-terminated). Returns NULL only
 * when the input is longer than TOML_FILE_MAX or memory runs out (then `e` says
 * which); otherwise a document, which may hold errors (toml_error_count). The
 * caller frees it with toml_free. Strings in the tree live as long as the doc. */
struct toml_doc *toml_parse(const char *text, size_t len, struct lw_err *e);

/* Frees a document (NULL is fine). */
void toml_free(struct toml_doc *doc);

/* The root table (never NULL). */
const struct toml_node *toml_root(const struct toml_doc *doc);

/* Number of syntax errors, and the i-th one in file order. */
size_t toml_error_count(const struct toml_doc *doc);
const struct toml_error *toml_error_at(const struct toml_doc *doc, size_t i);

/* The child of table `t` named `key`, or NULL (also if `t` is not a table). */
const struct toml_node *toml_get(const struct toml_node *t, const char *key);

/* "table", "array of tables", "string", "integer", "boolean", "array", "invalid". */
const char *toml_type_name(enum toml_type type);

/* Writes the path of `n` from the root: redis.url, tables.orders.columns.tip,
 * streams[0].name, tables."public.orders" (keys that are not bare are quoted).
 * Truncates to `cap`; returns `buf`. */
char *toml_path(const struct toml_node *n, char *buf, size_t cap);

#endif
