/* pq_dict: the dictionary of one column chunk (an open-addressing interner).
 *
 * Values are interned by their bytes (floats by bit pattern, so NaN and -0.0
 * round-trip exactly). The table is linear-probing at a load of at most 1/2;
 * 4- and 8-byte keys are stored in the slot itself (one memory access per
 * probe), other slots hold
 *
 *   slot = tag (high 32 bits of the hash) << 32 | (entry index + 1)    0 = empty
 *
 * so a probe compares tags first and touches an entry only on a tag match.
 * Values are taken in blocks: the hashes of a block are computed and their
 * slots prefetched before the block is probed, so the cache misses of a large
 * table overlap instead of following one another.
 *
 * Fixed-width entries are stored back to back, which is exactly their PLAIN
 * encoding (the dictionary page body). BYTE_ARRAY entries refer to the first
 * occurrence in the column builder (no copy) and keep the value's first 16
 * bytes as two words: short values hash and compare without a byte loop.
 * The table's memory is kept from chunk to chunk; a new chunk clears only the
 * part the last one used.
 *
 * Interning stops with PQ_DICT_FULL as soon as the entry count or the PLAIN
 * size would pass the caller's limits: the chunk then falls back to PLAIN. */
#ifndef PQ_DICT_H
#define PQ_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pq_buf.h"
#include "pq_mem.h"

enum pq_dict_result {
    PQ_DICT_OK = 0,
    PQ_DICT_FULL,    /* a limit was reached; the dictionary is unusable */
    PQ_DICT_NOMEM,   /* the memory budget refused */
};

struct pq_dict {
    struct pq_mem *mem;
    uint64_t *slots;             /* slot_count slots of 1 or 2 words (see grow) */
    size_t slot_count;           /* in use: a power of two, or 0 */
    size_t table_words;          /* 64-bit words allocated for slots (>= slot_count * words) */
    uint32_t count;              /* entries */
    size_t plain_bytes;          /* PLAIN size of the entries (the dict page body) */
    uint32_t width;              /* fixed width, 0 for BYTE_ARRAY */
    struct pq_buf entries;       /* fixed: values; BYTE_ARRAY: 24-byte records (pq_dict.c) */
    struct pq_buf firsts;        /* uint32 value index of each entry's first use */
    const uint8_t *src_values;   /* fixed values of the source column */
    const uint32_t *src_offsets; /* BYTE_ARRAY: offsets into src_arena */
    const uint8_t *src_arena;
};

void pq_dict_init(struct pq_dict *d, struct pq_mem *mem);
void pq_dict_free(struct pq_dict *d);

/* Empties the dictionary (keeping its memory) for a chunk of a column whose
 * values are `values` (fixed width `width`) or, with width 0, BYTE_ARRAY
 * `offsets` into `arena`. */
void pq_dict_start(struct pq_dict *d, uint32_t width, const uint8_t *values,
                   const uint32_t *offsets, const uint8_t *arena);

/* Interns source values [from, to), storing the entry index of value i in
 * idx[i - from]. Stops with PQ_DICT_FULL when there would be more than
 * max_entries entries or more than max_bytes of PLAIN dictionary. */
enum pq_dict_result pq_dict_add(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                uint32_t max_entries, size_t max_bytes);

/* The source value index where entry e first occurred. */
uint32_t pq_dict_first(const struct pq_dict *d, uint32_t e);

/* Appends the PLAIN dictionary page body (the entries in index order). */
void pq_dict_write_plain(const struct pq_dict *d, struct pq_buf *out);

/* Bytes allocated. */
size_t pq_dict_mem_bytes(const struct pq_dict *d);

/* A 64-bit hash of n bytes (exposed for tests). */
uint64_t pq_hash_bytes(const uint8_t *p, size_t n);

#endif
