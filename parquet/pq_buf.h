/* pq_buf: a growable byte buffer inside a pq_mem budget.
 *
 * Growth is amortised (capacity at least doubles). A failed growth sets the
 * sticky `failed` flag and turns every later append into a no-op, so a run of
 * appends needs one check at the end: `if (b->failed) ...`. Hot loops reserve
 * once and then write through `pq_buf_tail`. */
#ifndef PQ_BUF_H
#define PQ_BUF_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pq_mem.h"

struct pq_buf {
    uint8_t *data;
    size_t len;           /* bytes in use */
    size_t cap;           /* bytes allocated */
    struct pq_mem *mem;
    bool failed;          /* a growth was refused; appends are ignored */
};

/* An empty buffer over `mem` (no allocation yet). */
void pq_buf_init(struct pq_buf *b, struct pq_mem *mem);

/* Frees the storage. The buffer can be used again (it is empty). */
void pq_buf_free(struct pq_buf *b);

/* Grows the capacity to at least len + extra_bytes. Returns false (and sets
 * `failed`) when the budget refuses. */
bool pq_buf_reserve_slow(struct pq_buf *b, size_t extra_bytes);

static inline bool pq_buf_reserve(struct pq_buf *b, size_t extra_bytes)
{
    if (extra_bytes <= b->cap - b->len) return !b->failed;
    return pq_buf_reserve_slow(b, extra_bytes);
}

/* Shrinks the length to `len_bytes` (the capacity stays). */
static inline void pq_buf_truncate(struct pq_buf *b, size_t len_bytes)
{
    assert(len_bytes <= b->len);
    b->len = len_bytes;
}

/* Empties the buffer, keeping its capacity, and clears `failed`. */
static inline void pq_buf_clear(struct pq_buf *b)
{
    b->len = 0;
    b->failed = false;
}

/* Pointer to the first unused byte (valid for the reserved room). */
static inline uint8_t *pq_buf_tail(struct pq_buf *b)
{
    return b->data + b->len;
}

static inline void pq_buf_put(struct pq_buf *b, const void *p, size_t n)
{
    if (n == 0 || !pq_buf_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void pq_buf_u8(struct pq_buf *b, uint8_t v)
{
    if (!pq_buf_reserve(b, 1)) return;
    b->data[b->len++] = v;
}

/* The encoder's innermost loops (interning, bit packing, statistics, PLAIN
 * copies) run without UBSan's pointer-overflow check, which ReleaseSafe would
 * otherwise put on every `p + i` of them: it was 8-15 % of the ReleaseSafe
 * encode time, everything else that build checks staying on (bounds, shifts,
 * signed overflow, alignment, null, the assertions; and ASan in the unit
 * tests). Every offset there is an index below a length the function asserts
 * or has from its own arrays (at most 2^32 builder bytes), so p + i cannot
 * wrap around the address space. */
#define PQ_HOT __attribute__((no_sanitize("pointer-overflow")))

/* For the small helpers of hot loops: inlined in every build (ReleaseSafe's
 * checks make them look too big to inline otherwise), and hot (their checks
 * are compiled into them before they are inlined). */
#define PQ_INLINE static inline __attribute__((always_inline)) PQ_HOT

/* Little-endian loads and stores of raw memory, through memcpy: one move on
 * little-endian machines, and no pointer arithmetic for the sanitizer to
 * check at every use (ReleaseSafe checks each p + k). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define PQ_LE32(x) __builtin_bswap32(x)
#define PQ_LE64(x) __builtin_bswap64(x)
#else
#define PQ_LE32(x) (x)
#define PQ_LE64(x) (x)
#endif

static inline void pq_store_u32le(uint8_t *p, uint32_t v)
{
    v = PQ_LE32(v);
    memcpy(p, &v, 4);
}

static inline void pq_store_u64le(uint8_t *p, uint64_t v)
{
    v = PQ_LE64(v);
    memcpy(p, &v, 8);
}

static inline uint32_t pq_load_u32le(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return PQ_LE32(v);
}

static inline uint64_t pq_load_u64le(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return PQ_LE64(v);
}

/* pq_low_bytes_mask[n]: the low n bytes of a word set (n = 0..8), for
 * masking a wide load down to a short value without a branch. */
extern const uint64_t pq_low_bytes_mask[9];

static inline void pq_buf_u32le(struct pq_buf *b, uint32_t v)
{
    if (!pq_buf_reserve(b, 4)) return;
    pq_store_u32le(b->data + b->len, v);
    b->len += 4;
}

/* ULEB128: 7 bits a byte, low group first, high bit = more. */
static inline size_t pq_varint_store(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

enum { PQ_VARINT_MAX_BYTES = 10 };

static inline void pq_buf_varint(struct pq_buf *b, uint64_t v)
{
    if (!pq_buf_reserve(b, PQ_VARINT_MAX_BYTES)) return;
    b->len += pq_varint_store(b->data + b->len, v);
}

#endif
