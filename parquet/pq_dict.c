#include "pq_dict.h"

#include <assert.h>
#include <string.h>

enum { DICT_MIN_SLOTS = 256 };

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7FB5D329728EA185ULL;
    x ^= x >> 27;
    x *= 0x81DADEF4BC2DD44DULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
    return x << r | x >> (64 - r);
}

uint64_t pq_hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x243F6A8885A308D3ULL ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        h = rotl64(h ^ (pq_load_u64le(p) * 0xC2B2AE3D27D4EB4FULL), 31) * 0x9E3779B97F4A7C15ULL;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
        h = rotl64(h ^ (w * 0xC2B2AE3D27D4EB4FULL), 31) * 0x9E3779B97F4A7C15ULL;
    }
    return mix64(h);
}

void pq_dict_init(struct pq_dict *d, struct pq_mem *mem)
{
    memset(d, 0, sizeof *d);
    d->mem = mem;
    pq_buf_init(&d->entries, mem);
}

void pq_dict_free(struct pq_dict *d)
{
    pq_mem_free(d->mem, d->slots, d->slot_count * sizeof *d->slots);
    d->slots = NULL;
    d->slot_count = 0;
    d->count = 0;
    pq_buf_free(&d->entries);
}

void pq_dict_start(struct pq_dict *d, uint32_t width, const uint8_t *values,
                   const uint32_t *offsets, const uint8_t *arena)
{
    assert(width <= 16);
    assert(width > 0 || offsets != NULL);
    if (d->count > 0) memset(d->slots, 0, d->slot_count * sizeof *d->slots);
    d->count = 0;
    d->plain_bytes = 0;
    d->width = width;
    pq_buf_clear(&d->entries);
    d->src_values = values;
    d->src_offsets = offsets;
    d->src_arena = arena;
}

size_t pq_dict_mem_bytes(const struct pq_dict *d)
{
    return d->slot_count * sizeof *d->slots + d->entries.cap;
}

/* The hash of entry e. */
static uint64_t entry_hash(const struct pq_dict *d, uint32_t e)
{
    if (d->width == 4) return mix64(pq_load_u32le(d->entries.data + 4 * (size_t)e));
    if (d->width == 8) return mix64(pq_load_u64le(d->entries.data + 8 * (size_t)e));
    if (d->width > 0) return pq_hash_bytes(d->entries.data + (size_t)d->width * e, d->width);
    uint32_t j = pq_load_u32le(d->entries.data + 4 * (size_t)e);
    uint32_t start = d->src_offsets[j];
    return pq_hash_bytes(d->src_arena + start, d->src_offsets[j + 1] - start);
}

/* Makes room for one more entry at a load factor of at most 1/2. */
static bool ensure_room(struct pq_dict *d)
{
    if (((size_t)d->count + 1) * 2 <= d->slot_count) return true;
    size_t n = d->slot_count < DICT_MIN_SLOTS ? DICT_MIN_SLOTS : d->slot_count * 2;
    uint64_t *slots = pq_mem_realloc(d->mem, NULL, 0, n * sizeof *slots);
    if (slots == NULL) return false;
    memset(slots, 0, n * sizeof *slots);
    size_t mask = n - 1;
    for (uint32_t e = 0; e < d->count; e++) {
        uint64_t h = entry_hash(d, e);
        size_t pos = (size_t)h & mask;
        while (slots[pos] != 0) pos = (pos + 1) & mask;
        slots[pos] = (h >> 32) << 32 | ((uint64_t)e + 1);
    }
    pq_mem_free(d->mem, d->slots, d->slot_count * sizeof *d->slots);
    d->slots = slots;
    d->slot_count = n;
    return true;
}

/* One interning loop per key shape; KEY loads value i, HASH hashes it, SAME
 * compares it with entry e, PUT stores it as a new entry, SIZE is its PLAIN
 * size. */
#define DICT_LOOP(KEYT, KEY, HASH, SAME, PUT, SIZE)                                   \
    for (size_t i = from; i < to; i++) {                                              \
        if (!ensure_room(d)) return PQ_DICT_NOMEM;                                    \
        KEYT key = KEY;                                                               \
        uint64_t h = HASH;                                                            \
        uint32_t tag = (uint32_t)(h >> 32);                                           \
        size_t mask = d->slot_count - 1;                                              \
        size_t pos = (size_t)h & mask;                                                \
        for (;;) {                                                                    \
            uint64_t s = d->slots[pos];                                               \
            if (s == 0) {                                                             \
                size_t size = SIZE;                                                   \
                if (d->count >= max_entries || size > max_bytes - d->plain_bytes)     \
                    return PQ_DICT_FULL;                                              \
                uint32_t e = d->count;                                                \
                PUT;                                                                  \
                if (d->entries.failed) return PQ_DICT_NOMEM;                          \
                d->slots[pos] = (uint64_t)tag << 32 | ((uint64_t)e + 1);              \
                d->count++;                                                           \
                d->plain_bytes += size;                                               \
                idx[i - from] = e;                                                    \
                break;                                                                \
            }                                                                         \
            if ((uint32_t)(s >> 32) == tag) {                                         \
                uint32_t e = (uint32_t)s - 1;                                         \
                if (SAME) {                                                           \
                    idx[i - from] = e;                                                \
                    break;                                                            \
                }                                                                     \
            }                                                                         \
            pos = (pos + 1) & mask;                                                   \
        }                                                                             \
    }

static enum pq_dict_result add_u32(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                   uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    DICT_LOOP(uint32_t, pq_load_u32le(src + 4 * i), mix64(key),
              pq_load_u32le(d->entries.data + 4 * (size_t)e) == key,
              pq_buf_u32le(&d->entries, key), 4)
    return PQ_DICT_OK;
}

static enum pq_dict_result add_u64(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                   uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    DICT_LOOP(uint64_t, pq_load_u64le(src + 8 * i), mix64(key),
              pq_load_u64le(d->entries.data + 8 * (size_t)e) == key,
              pq_buf_put(&d->entries, src + 8 * i, 8), 8)
    return PQ_DICT_OK;
}

static enum pq_dict_result add_fixed(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                     uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    size_t w = d->width;
    DICT_LOOP(const uint8_t *, src + w * i, pq_hash_bytes(key, w),
              memcmp(d->entries.data + w * e, key, w) == 0,
              pq_buf_put(&d->entries, key, w), w)
    return PQ_DICT_OK;
}

static inline bool same_bytes(const struct pq_dict *d, uint32_t e, const uint8_t *p, uint32_t n)
{
    uint32_t j = pq_load_u32le(d->entries.data + 4 * (size_t)e);
    uint32_t start = d->src_offsets[j];
    return d->src_offsets[j + 1] - start == n && memcmp(d->src_arena + start, p, n) == 0;
}

static enum pq_dict_result add_bytes(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                     uint32_t max_entries, size_t max_bytes)
{
    const uint32_t *off = d->src_offsets;
    const uint8_t *arena = d->src_arena;
    DICT_LOOP(const uint8_t *, arena + off[i], pq_hash_bytes(key, off[i + 1] - off[i]),
              same_bytes(d, e, key, off[i + 1] - off[i]),
              pq_buf_u32le(&d->entries, (uint32_t)i), 4 + (size_t)(off[i + 1] - off[i]))
    return PQ_DICT_OK;
}

enum pq_dict_result pq_dict_add(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                uint32_t max_entries, size_t max_bytes)
{
    assert(from <= to);
    assert(d->plain_bytes <= max_bytes);
    switch (d->width) {
    case 0: return add_bytes(d, from, to, idx, max_entries, max_bytes);
    case 4: return add_u32(d, from, to, idx, max_entries, max_bytes);
    case 8: return add_u64(d, from, to, idx, max_entries, max_bytes);
    default: return add_fixed(d, from, to, idx, max_entries, max_bytes);
    }
}

void pq_dict_write_plain(const struct pq_dict *d, struct pq_buf *out)
{
    if (d->width > 0) {
        pq_buf_put(out, d->entries.data, d->entries.len);
        return;
    }
    if (!pq_buf_reserve(out, d->plain_bytes)) return;
    uint8_t *dst = pq_buf_tail(out);
    for (uint32_t e = 0; e < d->count; e++) {
        uint32_t j = pq_load_u32le(d->entries.data + 4 * (size_t)e);
        uint32_t start = d->src_offsets[j];
        uint32_t n = d->src_offsets[j + 1] - start;
        pq_store_u32le(dst, n);
        memcpy(dst + 4, d->src_arena + start, n);
        dst += 4 + (size_t)n;
    }
    out->len += d->plain_bytes;
}
