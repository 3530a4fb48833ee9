/* pq_thrift: a writer for Thrift's Compact Protocol (all Parquet metadata).
 *
 * It appends to a pq_buf; growth failures are sticky in the buffer, so a whole
 * structure is written and then checked once (`out->failed`).
 *
 * Field header: a field whose id is 1..15 above the previous field id of the
 * same struct takes one byte; any other id takes a type byte and the id as a
 * zigzag varint:
 *
 *     short form            long form
 *   +-------+-------+     +-------+-------+   +----------------------+
 *   | delta | ctype |     |   0   | ctype |   | zigzag varint i16 id |
 *   +-------+-------+     +-------+-------+   +----------------------+
 *    7     4 3     0
 *
 * A bool field carries its value in ctype (1 = true, 2 = false) and has no
 * payload. Integers are zigzag varints, i8 is one raw byte, binary is a varint
 * length then the bytes. A struct ends with a stop byte 0x00 and starts its
 * own field-id count at 0. List header: (n << 4) | etype for n < 15, else
 * 0xF0 | etype then n as a varint. */
#ifndef PQ_THRIFT_H
#define PQ_THRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pq_buf.h"

enum pq_ttype {
    PQ_TT_BOOL_TRUE = 1,
    PQ_TT_BOOL_FALSE = 2,
    PQ_TT_I8 = 3,
    PQ_TT_I16 = 4,
    PQ_TT_I32 = 5,
    PQ_TT_I64 = 6,
    PQ_TT_DOUBLE = 7,
    PQ_TT_BINARY = 8,
    PQ_TT_LIST = 9,
    PQ_TT_SET = 10,
    PQ_TT_MAP = 11,
    PQ_TT_STRUCT = 12,
};

/* The deepest Parquet nesting is SchemaElement > LogicalType > TIMESTAMP >
 * TimeUnit > MICROS (5); leave room. */
enum { PQ_THRIFT_DEPTH_MAX = 16 };

struct pq_thrift {
    struct pq_buf *out;
    unsigned depth;                         /* 0 = the top-level struct */
    int16_t last_id[PQ_THRIFT_DEPTH_MAX];   /* last field id, per open struct */
};

/* Starts writing one top-level struct into `out`. */
void pq_thrift_init(struct pq_thrift *t, struct pq_buf *out);

/* Fields of the current struct; ids must be written in increasing order for the
 * short headers to apply (any order is valid Thrift). */
void pq_thrift_i8(struct pq_thrift *t, int16_t id, int8_t v);
void pq_thrift_i16(struct pq_thrift *t, int16_t id, int16_t v);
void pq_thrift_i32(struct pq_thrift *t, int16_t id, int32_t v);
void pq_thrift_i64(struct pq_thrift *t, int16_t id, int64_t v);
void pq_thrift_bool(struct pq_thrift *t, int16_t id, bool v);
void pq_thrift_binary(struct pq_thrift *t, int16_t id, const void *p, size_t n);
void pq_thrift_string(struct pq_thrift *t, int16_t id, const char *s);

/* A struct-typed field: its fields follow, then pq_thrift_struct_end. */
void pq_thrift_struct_begin(struct pq_thrift *t, int16_t id);

/* An empty struct field (e.g. StringType, TypeDefinedOrder): header + stop. */
void pq_thrift_empty_struct(struct pq_thrift *t, int16_t id);

/* A struct field whose body (its fields and stop byte) was serialized before,
 * by another pq_thrift over another buffer: the header, then the bytes. */
void pq_thrift_struct_raw(struct pq_thrift *t, int16_t id, const uint8_t *body, size_t n);

/* Ends the innermost struct (field or list element): writes the stop byte. */
void pq_thrift_struct_end(struct pq_thrift *t);

/* A list-typed field of n elements of type `etype`; then exactly n elements. */
void pq_thrift_list_begin(struct pq_thrift *t, int16_t id, enum pq_ttype etype, uint32_t n);

/* List elements. A bool element is one byte, 1 = true, 2 = false. */
void pq_thrift_elem_i32(struct pq_thrift *t, int32_t v);
void pq_thrift_elem_i64(struct pq_thrift *t, int64_t v);
void pq_thrift_elem_bool(struct pq_thrift *t, bool v);
void pq_thrift_elem_binary(struct pq_thrift *t, const void *p, size_t n);
void pq_thrift_elem_string(struct pq_thrift *t, const char *s);
void pq_thrift_elem_struct_begin(struct pq_thrift *t);

/* Ends the top-level struct (stop byte). Returns false if the buffer failed. */
bool pq_thrift_end(struct pq_thrift *t);

/* Zigzag mapping of signed integers (exposed for tests). */
static inline uint64_t pq_zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
}

#endif
