/* pq_stats: column statistics (chunk Statistics and page-index entries).
 *
 * Rules (reference/parquet.md §4):
 *   - min/max are in the column's sort order (TYPE_ORDER): signed for INT32,
 *     INT64 and the types on them, numeric for FLOAT/DOUBLE, false < true,
 *     unsigned byte-wise for strings, json, binary and uuid, signed two's
 *     complement (big-endian) for decimals;
 *   - float NaNs never enter min/max (they are counted in nan_count); all-NaN
 *     means no min/max; a zero min is written -0.0 and a zero max +0.0;
 *   - byte arrays longer than the truncation length (64) get a shorter min
 *     (cut at a UTF-8 character boundary for strings) and a max whose last
 *     incrementable character (byte, for binary) is incremented; when nothing
 *     can be incremented (U+10FFFF..., 0xFF...) neither min nor max is written;
 *     is_min/max_value_exact say whether truncation happened;
 *   - null_count is always written; the deprecated min/max (fields 1, 2) only
 *     for signed-order physical types (INT32, INT64, FLOAT, DOUBLE).
 *
 * Values are compared and stored in their PLAIN encoding without a length
 * prefix (INT32 4 bytes LE, ..., BYTE_ARRAY/FLBA raw bytes, bool 1 byte). */
#ifndef PQ_STATS_H
#define PQ_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pq_column.h"
#include "pq_schema.h"

struct pq_thrift;

enum pq_order {
    PQ_ORDER_BOOL,
    PQ_ORDER_I32,
    PQ_ORDER_I64,
    PQ_ORDER_FLOAT,
    PQ_ORDER_DOUBLE,
    PQ_ORDER_BYTES,     /* unsigned lexicographic, then length */
    PQ_ORDER_DECIMAL,   /* big-endian two's complement, fixed width */
};

enum {
    PQ_STATS_TRUNCATE_DEFAULT = 64,   /* bytes kept of long byte-array min/max */
    PQ_STATS_VALUE_MAX_BYTES = 256,   /* the largest truncation length allowed */
};

/* The sort order of a field's values. */
enum pq_order pq_field_order(const struct pq_field *f);

/* Compares two PLAIN-encoded values in order `o`: <0, 0, >0. Floats must not
 * be NaN. */
int pq_order_cmp(enum pq_order o, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Exact statistics of some values of one column. BYTE_ARRAY min/max point
 * into the column builder (valid while it is unchanged). */
struct pq_stats {
    uint64_t nulls;            /* slots without a value (set by the caller) */
    uint64_t values;           /* non-null values seen */
    uint64_t nans;             /* NaN values (FLOAT/DOUBLE) */
    bool has_minmax;           /* at least one non-null, non-NaN value */
    uint32_t min_len, max_len;
    const uint8_t *min_ref, *max_ref;     /* BYTE_ARRAY */
    uint8_t min_fixed[16], max_fixed[16]; /* fixed-width values, PLAIN */
};

void pq_stats_reset(struct pq_stats *s);

/* Adds non-null values [from, to) of column `c`. */
void pq_stats_add(struct pq_stats *s, const struct pq_col *c, size_t from, size_t to);

/* Adds `values` non-null values of a BYTE_ARRAY or FLBA column whose distinct
 * members are the values at indices vidx[0..n) (a dictionary-encoded page:
 * one comparison per distinct value instead of per value). */
void pq_stats_add_some(struct pq_stats *s, const struct pq_col *c, const uint32_t *vidx, size_t n,
                       uint64_t values);

/* Adds the statistics `src` (of the same column) to `dst`. */
void pq_stats_merge(struct pq_stats *dst, const struct pq_stats *src, enum pq_order o);

/* Pointers to the exact min and max (has_minmax must be true). */
const uint8_t *pq_stats_min(const struct pq_stats *s);
const uint8_t *pq_stats_max(const struct pq_stats *s);

/* Statistics as written: truncated, normalised. */
struct pq_stats_out {
    uint64_t null_count;
    uint64_t nan_count;
    bool has_nan_count;        /* FLOAT / DOUBLE */
    bool has_minmax;           /* min_value and max_value */
    bool deprecated;           /* also the deprecated min and max */
    bool min_exact, max_exact;
    uint32_t min_len, max_len;
    uint8_t min[PQ_STATS_VALUE_MAX_BYTES];
    uint8_t max[PQ_STATS_VALUE_MAX_BYTES];
};

/* Turns exact statistics into what is written, truncating byte arrays to
 * `truncate_bytes` (4..PQ_STATS_VALUE_MAX_BYTES). */
void pq_stats_finish(const struct pq_stats *s, const struct pq_field *f, uint32_t truncate_bytes,
                     struct pq_stats_out *o);

/* Writes a Statistics struct as field `id` of the current Thrift struct. */
void pq_stats_write(const struct pq_stats_out *o, struct pq_thrift *t, int16_t id);

/* Truncation of byte-array bounds to at most `limit` bytes. `utf8` cuts and
 * increments whole UTF-8 characters (strings), otherwise bytes (binary).
 * pq_truncate_min always succeeds and returns the length written to `out`;
 * pq_truncate_max returns false when no upper bound of at most `limit` bytes
 * exists. Both copy v unchanged when n <= limit. */
size_t pq_truncate_min(const uint8_t *v, size_t n, size_t limit, bool utf8, uint8_t *out);
bool pq_truncate_max(const uint8_t *v, size_t n, size_t limit, bool utf8, uint8_t *out,
                     size_t *out_len);

#endif
