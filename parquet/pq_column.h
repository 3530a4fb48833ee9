/* pq_column: column builders and the batch (the builders of one table).
 *
 * Values are appended straight into typed, amortised arrays: no allocation per
 * value. Each builder holds
 *
 *   values   fixed-width values back to back (bool as one byte 0/1, INT32 and
 *            INT64 and FLOAT and DOUBLE little-endian, FIXED_LEN_BYTE_ARRAY as
 *            stored in the file: big-endian two's complement for decimals), or,
 *            for BYTE_ARRAY, nvalues + 1 uint32 offsets into `arena`
 *   arena    the bytes of BYTE_ARRAY values, back to back
 *   defs     one definition level per slot (nullable columns and lists)
 *   reps     one repetition level per slot (lists)
 *
 * Null values take a slot (a level) but no value. A flat nullable column keeps
 * no definition levels until its first null ("lazy"): all-present columns cost
 * nothing extra.
 *
 * Rows are transactional: appends after the last pq_batch_commit can be dropped
 * with pq_batch_rollback (a bad event leaves no half row behind). The writer
 * reads committed rows only.
 *
 * List column, e.g. nullable list of nullable int32, rows [1, null], [], null:
 *
 *   slot   rep  def   value
 *   0      0    3     1        first element of a row: rep 0
 *   1      1    2     -        null element: def = max_def - 1
 *   2      0    1     -        empty list: def = 1 (list present, no element)
 *   3      0    0     -        null list: def 0
 */
#ifndef PQ_COLUMN_H
#define PQ_COLUMN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pq_buf.h"
#include "pq_mem.h"
#include "pq_schema.h"

enum {
    PQ_VALUE_MAX_BYTES = 256 << 20,        /* one BYTE_ARRAY value */
    PQ_LIST_MAX_ELEMENTS = 1 << 24,        /* elements of one list */
};
#define PQ_ARENA_MAX_BYTES ((size_t)UINT32_MAX)   /* BYTE_ARRAY bytes of one builder */

struct pq_col {
    const struct pq_field *field;
    struct pq_err *err;          /* the batch's error */
    uint32_t index;              /* position in the schema */
    enum pq_phys phys;
    uint32_t width;              /* bytes per fixed value; 0 for BYTE_ARRAY */
    uint8_t max_def;
    uint8_t max_rep;
    uint8_t def_empty_list;      /* def of an empty list (lists) */

    struct pq_buf values;
    struct pq_buf arena;
    struct pq_buf defs;
    struct pq_buf reps;
    bool defs_lazy;              /* no nulls yet: defs not stored, all max_def */

    size_t slots;                /* levels (leaf slots) */
    size_t nvalues;              /* non-null values */
    size_t nulls;                /* slots - nvalues */
    size_t rows;
    bool in_list;                /* between list_begin and list_end */
    uint32_t list_len;           /* elements of the open list */

    struct {                     /* state at the last commit */
        size_t slots, nvalues, rows, arena_bytes;
    } mark;
};

struct pq_batch {
    const struct pq_schema *schema;
    struct pq_mem *mem;
    struct pq_col *cols;         /* schema->count builders */
    size_t rows;                 /* committed rows */
    struct pq_err err;           /* the last append or commit error */
};

/* Sets up empty builders for every column of `schema` (which must outlive the
 * batch). Returns false when the budget refuses. */
bool pq_batch_init(struct pq_batch *b, const struct pq_schema *schema, struct pq_mem *mem,
                   struct pq_err *err);

/* Frees every builder. */
void pq_batch_free(struct pq_batch *b);

/* Empties the batch for reuse; the capacity stays allocated. */
void pq_batch_reset(struct pq_batch *b);

static inline struct pq_col *pq_batch_col(struct pq_batch *b, uint32_t i)
{
    return &b->cols[i];
}

/* Commits the rows appended since the last commit: every column must have the
 * same number of rows and no open list. Returns false (nothing committed, the
 * message names the column) otherwise. */
bool pq_batch_commit(struct pq_batch *b);

/* Drops everything appended since the last commit. */
void pq_batch_rollback(struct pq_batch *b);

/* Bytes allocated by the builders (what counts against a memory limit). */
size_t pq_batch_mem_bytes(const struct pq_batch *b);

/* Bytes of buffered data (values, BYTE_ARRAY lengths, levels): an estimate of
 * the uncompressed PLAIN size. */
size_t pq_batch_data_bytes(const struct pq_batch *b);

/* Appends. Each returns false, leaving the column unchanged and setting the
 * batch's error (column name and reason), if the value does not fit the column
 * or the budget refuses. Calling an append that does not match the column's
 * type is a programming error (assertion). Inside a list each call appends one
 * element. */
bool pq_col_null(struct pq_col *c);
bool pq_col_bool(struct pq_col *c, bool v);
bool pq_col_i32(struct pq_col *c, int32_t v);          /* int8, int16, int32, date (days) */
bool pq_col_i64(struct pq_col *c, int64_t v);          /* int64, timestamp(_ntz) (micros) */
bool pq_col_float(struct pq_col *c, float v);
bool pq_col_double(struct pq_col *c, double v);
bool pq_col_bytes(struct pq_col *c, const void *p, size_t n);   /* string, json, binary */
bool pq_col_fixed(struct pq_col *c, const void *p, size_t n);   /* uuid: 16 bytes */
/* decimal: the unscaled value hi * 2^64 + lo (two's complement 128 bits), which
 * must have at most `precision` digits. */
bool pq_col_decimal(struct pq_col *c, int64_t hi, uint64_t lo);

/* Opens a list in a list column (a row); pq_col_list_end closes it. */
bool pq_col_list_begin(struct pq_col *c);
bool pq_col_list_end(struct pq_col *c);

/* Reading (for the writer and tests). */
static inline const uint32_t *pq_col_offsets(const struct pq_col *c)
{
    return (const uint32_t *)(const void *)c->values.data;
}

#endif
