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
        /* 1..7 bytes in at most two loads (overlapping; the length is in h). */
        uint64_t w = n >= 4 ? (uint64_t)pq_load_u32le(p) | (uint64_t)pq_load_u32le(p + n - 4) << 32
                            : (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
        h = rotl64(h ^ (w * 0xC2B2AE3D27D4EB4FULL), 31) * 0x9E3779B97F4A7C15ULL;
    }
    return mix64(h);
}

/* Equality of n bytes; short keys with a few (overlapping) word loads. */
static inline bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n >= 8 && n <= 16)
        return pq_load_u64le(a) == pq_load_u64le(b) && pq_load_u64le(a + n - 8) == pq_load_u64le(b + n - 8);
    if (n >= 4 && n < 8)
        return pq_load_u32le(a) == pq_load_u32le(b) && pq_load_u32le(a + n - 4) == pq_load_u32le(b + n - 4);
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i]) return false;
        return true;
    }
    return memcmp(a, b, n) == 0;
}

void pq_dict_init(struct pq_dict *d, struct pq_mem *mem)
{
    memset(d, 0, sizeof *d);
    d->mem = mem;
    pq_buf_init(&d->entries, mem);
    pq_buf_init(&d->firsts, mem);
}

void pq_dict_free(struct pq_dict *d)
{
    pq_mem_free(d->mem, d->slots, d->table_words * sizeof *d->slots);
    d->slots = NULL;
    d->slot_count = 0;
    d->table_words = 0;
    d->count = 0;
    pq_buf_free(&d->entries);
    pq_buf_free(&d->firsts);
}

/* 64-bit words per slot: an 8-byte key lives in the slot next to its index. */
static size_t slot_words(const struct pq_dict *d)
{
    return d->width == 8 ? 2 : 1;
}

void pq_dict_start(struct pq_dict *d, uint32_t width, const uint8_t *values,
                   const uint32_t *offsets, const uint8_t *arena)
{
    assert(width <= 16);
    assert(width > 0 || offsets != NULL);
    /* All-zero is empty in every slot layout. */
    if (d->count > 0) memset(d->slots, 0, d->table_words * sizeof *d->slots);
    d->count = 0;
    d->plain_bytes = 0;
    d->width = width;
    d->slot_count = d->table_words / slot_words(d);
    pq_buf_clear(&d->entries);
    pq_buf_clear(&d->firsts);
    d->src_values = values;
    d->src_offsets = offsets;
    d->src_arena = arena;
}

size_t pq_dict_mem_bytes(const struct pq_dict *d)
{
    return d->table_words * sizeof *d->slots + d->entries.cap + d->firsts.cap;
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

/* Grows the table (load factor at most 1/2): see ensure_room. Slot layouts:
 *
 *   width 4:  [ key (32) | entry + 1 (32) ]
 *   width 8:  [ key (64) ] [ entry + 1 (64) ]
 *   others:   [ hash tag (32) | entry + 1 (32) ]       (then compare the entry)
 */
static bool grow(struct pq_dict *d)
{
    size_t words = slot_words(d);
    size_t n = d->slot_count < DICT_MIN_SLOTS ? DICT_MIN_SLOTS : d->slot_count * 2;
    uint64_t *slots = pq_mem_realloc(d->mem, NULL, 0, n * words * sizeof *slots);
    if (slots == NULL) return false;
    memset(slots, 0, n * words * sizeof *slots);
    size_t mask = n - 1;
    for (size_t p = 0; p < d->slot_count; p++) {
        const uint64_t *old = d->slots + p * words;
        if (old[words - 1] == 0) continue;
        uint64_t h = d->width == 4 ? mix64(old[0] >> 32)
                   : d->width == 8 ? mix64(old[0])
                                   : entry_hash(d, (uint32_t)old[0] - 1);
        size_t pos = (size_t)h & mask;
        while (slots[pos * words + words - 1] != 0) pos = (pos + 1) & mask;
        memcpy(slots + pos * words, old, words * sizeof *slots);
        if (d->width != 4 && d->width != 8)
            slots[pos] = (h >> 32) << 32 | (old[0] & 0xFFFFFFFFu);
    }
    pq_mem_free(d->mem, d->slots, d->table_words * sizeof *d->slots);
    d->slots = slots;
    d->slot_count = n;
    d->table_words = n * words;
    return true;
}

static inline bool ensure_room(struct pq_dict *d)
{
    return ((size_t)d->count + 1) * 2 <= d->slot_count || grow(d);
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
                if (d->entries.failed || d->firsts.failed) return PQ_DICT_NOMEM;      \
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

/* New entry e for value i: limits, then the entry and its first use. */
#define DICT_NEW_ENTRY(SIZE, PUT)                                                     \
    do {                                                                              \
        if (d->count >= max_entries || (SIZE) > max_bytes - d->plain_bytes)           \
            return PQ_DICT_FULL;                                                      \
        PUT;                                                                          \
        pq_buf_u32le(&d->firsts, (uint32_t)i);                                        \
        if (d->entries.failed || d->firsts.failed) return PQ_DICT_NOMEM;              \
        d->count++;                                                                   \
        d->plain_bytes += (SIZE);                                                     \
    } while (0)

/* 4-byte keys: the key is in the slot, one memory access per probe. */
static enum pq_dict_result add_u32(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                   uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    for (size_t i = from; i < to; i++) {
        if (!ensure_room(d)) return PQ_DICT_NOMEM;
        uint32_t key = pq_load_u32le(src + 4 * i);
        size_t mask = d->slot_count - 1;
        size_t pos = (size_t)mix64(key) & mask;
        uint64_t s;
        while ((s = d->slots[pos]) != 0 && (uint32_t)(s >> 32) != key) pos = (pos + 1) & mask;
        if (s != 0) {
            idx[i - from] = (uint32_t)s - 1;
            continue;
        }
        uint32_t e = d->count;
        DICT_NEW_ENTRY(4, pq_buf_u32le(&d->entries, key));
        d->slots[pos] = (uint64_t)key << 32 | ((uint64_t)e + 1);
        idx[i - from] = e;
    }
    return PQ_DICT_OK;
}

/* 8-byte keys: key and entry side by side in a 16-byte slot. */
static enum pq_dict_result add_u64(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                   uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    for (size_t i = from; i < to; i++) {
        if (!ensure_room(d)) return PQ_DICT_NOMEM;
        uint64_t key = pq_load_u64le(src + 8 * i);
        size_t mask = d->slot_count - 1;
        size_t pos = (size_t)mix64(key) & mask;
        uint64_t *sl;
        while ((sl = d->slots + 2 * pos)[1] != 0 && sl[0] != key) pos = (pos + 1) & mask;
        if (sl[1] != 0) {
            idx[i - from] = (uint32_t)sl[1] - 1;
            continue;
        }
        uint32_t e = d->count;
        DICT_NEW_ENTRY(8, pq_buf_put(&d->entries, src + 8 * i, 8));
        sl[0] = key;
        sl[1] = (uint64_t)e + 1;
        idx[i - from] = e;
    }
    return PQ_DICT_OK;
}

static enum pq_dict_result add_fixed(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                     uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    size_t w = d->width;
    DICT_LOOP(const uint8_t *, src + w * i, pq_hash_bytes(key, w),
              bytes_eq(d->entries.data + w * e, key, w),
              (pq_buf_put(&d->entries, key, w), pq_buf_u32le(&d->firsts, (uint32_t)i)), w)
    return PQ_DICT_OK;
}

static inline bool same_bytes(const struct pq_dict *d, uint32_t e, const uint8_t *p, uint32_t n)
{
    uint32_t j = pq_load_u32le(d->entries.data + 4 * (size_t)e);
    uint32_t start = d->src_offsets[j];
    return d->src_offsets[j + 1] - start == n && bytes_eq(d->src_arena + start, p, n);
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

uint32_t pq_dict_first(const struct pq_dict *d, uint32_t e)
{
    assert(e < d->count);
    const struct pq_buf *b = d->width == 0 ? &d->entries : &d->firsts;
    return pq_load_u32le(b->data + 4 * (size_t)e);
}

enum pq_dict_result pq_dict_add(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                uint32_t max_entries, size_t max_bytes)
{
    assert(to <= UINT32_MAX);
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
