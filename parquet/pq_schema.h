/* pq_schema: the typed columns of a table and their Parquet mapping.
 *
 * A schema is a caller-owned array of `struct pq_field` (names included: they
 * must outlive every batch and writer that uses the schema). Each field is one
 * top-level column, a primitive or a list of primitives; the mapping follows
 * reference/parquet.md §2, writing both logicalType and ConvertedType:
 *
 *   type            physical               logicalType             converted
 *   string          BYTE_ARRAY             STRING                  UTF8
 *   bool            BOOLEAN                -                       -
 *   int8 / int16    INT32                  INTEGER(8|16, signed)   INT_8 / INT_16
 *   int32 / int64   INT32 / INT64          -                       -
 *   float / double  FLOAT / DOUBLE         -                       -
 *   decimal(p,s)    FIXED_LEN_BYTE_ARRAY(n) DECIMAL(s, p)          DECIMAL (+ scale, precision)
 *   date            INT32                  DATE                    DATE
 *   timestamp       INT64                  TIMESTAMP(UTC, MICROS)  TIMESTAMP_MICROS
 *   timestamp_ntz   INT64                  TIMESTAMP(local,MICROS) TIMESTAMP_MICROS
 *   json            BYTE_ARRAY             JSON                    JSON
 *   uuid            FIXED_LEN_BYTE_ARRAY(16) UUID                  -
 *   binary          BYTE_ARRAY             -                       -
 *
 * A list is the 3-level LIST structure:
 *
 *   <optional|required> group <name> (LIST) {
 *     repeated group list {
 *       <optional|required> <type> element;
 *     }
 *   }
 *
 * Levels: a flat nullable column has max_def 1; a list has max_rep 1 and
 * max_def = (list nullable) + 1 + (element nullable). */
#ifndef PQ_SCHEMA_H
#define PQ_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pq_buf.h"
#include "pq_mem.h"

enum pq_type {
    PQ_STRING = 1,
    PQ_BOOL,
    PQ_INT8,
    PQ_INT16,
    PQ_INT32,
    PQ_INT64,
    PQ_FLOAT,
    PQ_DOUBLE,
    PQ_DECIMAL,
    PQ_DATE,
    PQ_TIMESTAMP,      /* UTC instant, microseconds since the epoch */
    PQ_TIMESTAMP_NTZ,  /* local (not adjusted) timestamp, microseconds */
    PQ_JSON,
    PQ_UUID,
    PQ_BINARY,
};

/* Parquet physical types (the values of the Thrift enum Type). */
enum pq_phys {
    PQ_PHYS_BOOLEAN = 0,
    PQ_PHYS_INT32 = 1,
    PQ_PHYS_INT64 = 2,
    PQ_PHYS_FLOAT = 4,
    PQ_PHYS_DOUBLE = 5,
    PQ_PHYS_BYTE_ARRAY = 6,
    PQ_PHYS_FLBA = 7,
};

enum {
    PQ_COLUMNS_MAX = 4096,          /* fields of one schema */
    PQ_NAME_MAX_BYTES = 255,        /* bytes of one field name */
    PQ_DECIMAL_PRECISION_MAX = 38,  /* decimal(38, s): 16 bytes */
};

/* One column. */
struct pq_field {
    const char *name;         /* UTF-8, unique ignoring ASCII case */
    enum pq_type type;        /* the primitive (of the elements, for a list) */
    uint8_t precision;        /* decimal: 1..38 */
    uint8_t scale;            /* decimal: 0..precision */
    bool nullable;            /* the value (the whole list, for a list) may be null */
    bool list;                /* a list of `type` */
    bool element_nullable;    /* list only: elements may be null */
};

struct pq_schema {
    const struct pq_field *fields;   /* caller-owned */
    uint32_t count;
};

/* Checks `fields` (names, duplicates, decimal precision and scale, limits) and
 * sets `s` over them. Returns false with a message naming the field. */
bool pq_schema_init(struct pq_schema *s, const struct pq_field *fields, size_t count,
                    struct pq_err *err);

/* The physical type of a field's values. */
enum pq_phys pq_field_phys(const struct pq_field *f);

/* Bytes per value as stored in a column builder and in PLAIN: 1 (bool, stored
 * as a byte), 4, 8, or the FIXED_LEN_BYTE_ARRAY length; 0 for BYTE_ARRAY. */
uint32_t pq_field_width(const struct pq_field *f);

/* FIXED_LEN_BYTE_ARRAY bytes of decimal(precision): the smallest n with
 * floor(log10(2^(8n-1) - 1)) >= precision. */
uint32_t pq_decimal_bytes(unsigned precision);

/* Maximum definition and repetition levels of a field's leaf column. */
uint8_t pq_field_max_def(const struct pq_field *f);
uint8_t pq_field_max_rep(const struct pq_field *f);

/* Statistics compare values of this field as signed numbers (INT32, INT64,
 * FLOAT, DOUBLE): the deprecated Statistics.min/max may be written. */
bool pq_field_signed_order(const struct pq_field *f);

/* A short name of the type for messages ("int16", "decimal", ...). */
const char *pq_type_name(enum pq_type t);

/* Appends the schema's SchemaElements (root first, depth-first) as elements of
 * an already opened Thrift list; returns the number of elements written. */
struct pq_thrift;
uint32_t pq_schema_element_count(const struct pq_schema *s);
void pq_schema_write(const struct pq_schema *s, struct pq_thrift *t);

#endif
