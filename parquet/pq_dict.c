#include "pq_dict.h"

#include <assert.h>
#include <string.h>

/* The interning loops: hot, and each compiled on its own (inlined into one
 * function they spill each other's registers). */
#define DICT_KERNEL PQ_HOT static __attribute__((noinline))

enum {
    DICT_MIN_SLOTS = 256,
    DICT_BLOCK = 32,        /* values hashed (slots prefetched) ahead of probing */
    DICT_CACHED_SLOTS = 1 << 14, /* tables up to this many slots are probed directly */
};

PQ_INLINE uint64_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7FB5D329728EA185ULL;
    x ^= x >> 27;
    x *= 0x81DADEF4BC2DD44DULL;
    x ^= x >> 33;
    return x;
}

PQ_INLINE uint64_t rotl64(uint64_t x, unsigned r)
{
    return x << r | x >> (64 - r);
}

PQ_HOT uint64_t pq_hash_bytes(const uint8_t *p, size_t n)
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
PQ_INLINE bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
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

/* Keys of up to 8 bytes (but 4) live in a 2-word slot next to their index;
 * 4-byte keys share one word with it; longer keys are tagged (one word). */
static bool wide_key(const struct pq_dict *d)
{
    return d->width > 0 && d->width <= 8 && d->width != 4;
}

static size_t slot_words(const struct pq_dict *d)
{
    return wide_key(d) ? 2 : 1;
}

/* A fixed-width value of w <= 8 bytes as a little-endian integer. With
 * `wide`, 8 bytes may be read at p. */
PQ_INLINE uint64_t load_key(const uint8_t *p, uint32_t w, bool wide)
{
    if (w == 8) return pq_load_u64le(p);
    if (wide) return pq_load_u64le(p) & pq_low_bytes_mask[w];
    uint64_t k = 0;
    for (uint32_t i = 0; i < w; i++) k |= (uint64_t)p[i] << (8 * i);
    return k;
}

void pq_dict_start(struct pq_dict *d, uint32_t width, const uint8_t *values,
                   const uint32_t *offsets, const uint8_t *arena)
{
    assert(width <= 16);
    assert(width > 0 || offsets != NULL);
    /* All-zero is empty in every slot layout; only what the last chunk used
     * is dirty. */
    if (d->count > 0) memset(d->slots, 0, d->slot_count * slot_words(d) * sizeof *d->slots);
    d->count = 0;
    d->plain_bytes = 0;
    d->width = width;
    d->slot_count = 0;
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

/* BYTE_ARRAY entries are 24-byte records:
 *
 *   +-----------+-----------+------------------+------------------+
 *   | start u32 | len u32   | prefix word a    | prefix word b    |
 *   +-----------+-----------+------------------+------------------+
 *     in the arena            bytes 0..7 and 8..15 of the value, little-endian,
 *                             zero-padded: short values (<= 16 bytes) compare
 *                             as two words, longer ones check them first. */
enum { REC_BYTES = 24, SHORT_BYTES = 16 };

struct prefix {
    uint64_t a, b;
};

/* The first 16 bytes of p[0, n), zero-padded. With `wide`, 16 bytes may be
 * read at p whatever n is (the caller knows the memory is there). */
PQ_INLINE struct prefix prefix_of(const uint8_t *p, uint32_t n, bool wide)
{
    struct prefix k;
    if (wide) {
        uint32_t na = n < 8 ? n : 8, nb = n < 8 ? 0 : n < 16 ? n - 8 : 8;
        k.a = pq_load_u64le(p) & pq_low_bytes_mask[na];
        k.b = pq_load_u64le(p + 8) & pq_low_bytes_mask[nb];
        return k;
    }
    uint8_t buf[SHORT_BYTES] = {0};
    memcpy(buf, p, n < SHORT_BYTES ? n : SHORT_BYTES);
    k.a = pq_load_u64le(buf);
    k.b = pq_load_u64le(buf + 8);
    return k;
}

/* The hash of a BYTE_ARRAY value: from its prefix words for short values
 * (no loop, no branch on the length), over all the bytes for longer ones. */
PQ_INLINE uint64_t hash_value(const uint8_t *p, uint32_t n, struct prefix k)
{
    uint64_t h = (k.a * 0x9E3779B97F4A7C15ULL) ^ rotl64(k.b * 0xC2B2AE3D27D4EB4FULL, 31) ^
                 ((uint64_t)n * 0x165667B19E3779F9ULL);
    if (n <= SHORT_BYTES) return mix64(h);
    if (n > 2 * SHORT_BYTES) return pq_hash_bytes(p, n);
    /* 17..32 bytes: the last 16 (overlapping the prefix) complete the key. */
    h ^= rotl64(pq_load_u64le(p + n - 16) * 0x27D4EB2F165667C5ULL, 17) ^
         rotl64(pq_load_u64le(p + n - 8) * 0x94D049BB133111EBULL, 43);
    return mix64(h);
}

PQ_INLINE const uint8_t *rec_of(const struct pq_dict *d, uint32_t e)
{
    return d->entries.data + (size_t)REC_BYTES * e;
}

/* The hash of entry e (the same as of the value it holds). */
PQ_HOT static uint64_t entry_hash(const struct pq_dict *d, uint32_t e)
{
    if (d->width == 4) return mix64(pq_load_u32le(d->entries.data + 4 * (size_t)e));
    if (wide_key(d)) return mix64(load_key(d->entries.data + (size_t)d->width * e, d->width, false));
    if (d->width > 0) return pq_hash_bytes(d->entries.data + (size_t)d->width * e, d->width);
    const uint8_t *r = rec_of(d, e);
    struct prefix k = {pq_load_u64le(r + 8), pq_load_u64le(r + 16)};
    uint32_t n = pq_load_u32le(r + 4);
    return hash_value(d->src_arena + pq_load_u32le(r), n, k);
}

/* Rebuilds the table with room for `extra` more entries at a load of at most
 * 1/2. Slot layouts:
 *
 *   width 4:      [ key (32) | entry + 1 (32) ]
 *   width <= 8:   [ key (64, zero-extended) ] [ entry + 1 (64) ]
 *   others:       [ hash tag (32) | entry + 1 (32) ]       (then compare the entry)
 *
 * The entries are re-inserted from the entry list (not from the old slots),
 * so a table allocated for an earlier, larger chunk is reused in place. */
PQ_HOT static bool grow(struct pq_dict *d, size_t extra, uint32_t max_entries)
{
    size_t words = slot_words(d);
    size_t need = ((size_t)d->count + extra) * 2;
    /* 4x at a time (a column that grows usually keeps growing, and every
     * growth re-inserts every entry), but never past what max_entries needs. */
    size_t n = d->slot_count < DICT_MIN_SLOTS ? DICT_MIN_SLOTS : d->slot_count * 4;
    size_t most = DICT_MIN_SLOTS;
    while (most < need || most < (size_t)max_entries * 2) most *= 2;
    if (n > most) n = most;
    while (n < need) n *= 2;
    if (n * words > d->table_words) {
        uint64_t *slots = pq_mem_realloc(d->mem, NULL, 0, n * words * sizeof *slots);
        if (slots == NULL) return false;
        pq_mem_free(d->mem, d->slots, d->table_words * sizeof *d->slots);
        d->slots = slots;
        d->table_words = n * words;
    }
    memset(d->slots, 0, n * words * sizeof *d->slots);
    d->slot_count = n;
    size_t mask = n - 1;
    for (uint32_t e = 0; e < d->count; e++) {
        uint64_t h = entry_hash(d, e);
        size_t pos = (size_t)h & mask;
        while (d->slots[pos * words + words - 1] != 0) pos = (pos + 1) & mask;
        if (d->width == 4) {
            d->slots[pos] = (uint64_t)pq_load_u32le(d->entries.data + 4 * (size_t)e) << 32 | ((uint64_t)e + 1);
        } else if (wide_key(d)) {
            d->slots[2 * pos] = load_key(d->entries.data + (size_t)d->width * e, d->width, false);
            d->slots[2 * pos + 1] = (uint64_t)e + 1;
        } else {
            d->slots[pos] = (h >> 32) << 32 | ((uint64_t)e + 1);
        }
    }
    return true;
}

/* Room for `extra` more entries (a block's worth) without passing load 1/2. */
PQ_INLINE bool ensure_room(struct pq_dict *d, size_t extra, uint32_t max_entries)
{
    return ((size_t)d->count + extra) * 2 <= d->slot_count || grow(d, extra, max_entries);
}

/* New entry e = d->count for value i: limits, then PUT stores the entry, then
 * its first use. */
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

PQ_INLINE size_t block_len(size_t b, size_t to)
{
    return to - b < DICT_BLOCK ? to - b : DICT_BLOCK;
}

/* 4-byte keys: the key is in the slot, one memory access per probe. */
DICT_KERNEL enum pq_dict_result add_u32(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                        uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    size_t first[DICT_BLOCK];
    for (size_t b = from; b < to; b += DICT_BLOCK) {
        size_t n = block_len(b, to);
        if (!ensure_room(d, n, max_entries)) return PQ_DICT_NOMEM;
        uint64_t *slots = d->slots;
        size_t mask = d->slot_count - 1;
        for (size_t k = 0; k < n; k++) {
            first[k] = (size_t)mix64(pq_load_u32le(src + 4 * (b + k))) & mask;
            __builtin_prefetch(slots + first[k]);
        }
        for (size_t k = 0; k < n; k++) {
            size_t i = b + k;
            uint32_t key = pq_load_u32le(src + 4 * i);
            size_t pos = first[k];
            uint64_t s;
            while ((s = slots[pos]) != 0 && (uint32_t)(s >> 32) != key) pos = (pos + 1) & mask;
            if (s != 0) {
                idx[i - from] = (uint32_t)s - 1;
                continue;
            }
            uint32_t e = d->count;
            DICT_NEW_ENTRY(4, pq_buf_u32le(&d->entries, key));
            slots[pos] = (uint64_t)key << 32 | ((uint64_t)e + 1);
            idx[i - from] = e;
        }
    }
    return PQ_DICT_OK;
}

/* Keys of up to 8 bytes (int64, double, timestamps, decimals up to 18
 * digits): key and entry side by side in a 16-byte slot. */
DICT_KERNEL enum pq_dict_result add_u64(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                        uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    uint32_t w = d->width;
    size_t wide_end = (to * w >= 8 ? to * w - 8 : 0); /* 8 bytes readable at p <= src + wide_end */
    size_t first[DICT_BLOCK];
    uint64_t keys[DICT_BLOCK];
    for (size_t b = from; b < to; b += DICT_BLOCK) {
        size_t n = block_len(b, to);
        if (!ensure_room(d, n, max_entries)) return PQ_DICT_NOMEM;
        uint64_t *slots = d->slots;
        size_t mask = d->slot_count - 1;
        for (size_t k = 0; k < n; k++) {
            size_t at = (b + k) * w;
            keys[k] = load_key(src + at, w, at <= wide_end);
            first[k] = (size_t)mix64(keys[k]) & mask;
            __builtin_prefetch(slots + 2 * first[k]);
        }
        for (size_t k = 0; k < n; k++) {
            size_t i = b + k;
            uint64_t key = keys[k];
            size_t pos = first[k];
            uint64_t *sl;
            while ((sl = slots + 2 * pos)[1] != 0 && sl[0] != key) pos = (pos + 1) & mask;
            if (sl[1] != 0) {
                idx[i - from] = (uint32_t)sl[1] - 1;
                continue;
            }
            uint32_t e = d->count;
            DICT_NEW_ENTRY(w, pq_buf_put(&d->entries, src + (size_t)w * i, w));
            sl[0] = key;
            sl[1] = (uint64_t)e + 1;
            idx[i - from] = e;
        }
    }
    return PQ_DICT_OK;
}

/* Other fixed widths (decimals, uuids): tagged slots, entries compared. */
DICT_KERNEL enum pq_dict_result add_fixed(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                          uint32_t max_entries, size_t max_bytes)
{
    const uint8_t *src = d->src_values;
    size_t w = d->width;
    uint64_t hs[DICT_BLOCK];
    for (size_t b = from; b < to; b += DICT_BLOCK) {
        size_t n = block_len(b, to);
        if (!ensure_room(d, n, max_entries)) return PQ_DICT_NOMEM;
        uint64_t *slots = d->slots;
        size_t mask = d->slot_count - 1;
        for (size_t k = 0; k < n; k++) {
            hs[k] = pq_hash_bytes(src + w * (b + k), w);
            __builtin_prefetch(slots + (hs[k] & mask));
        }
        for (size_t k = 0; k < n; k++) {
            size_t i = b + k;
            const uint8_t *key = src + w * i;
            uint32_t tag = (uint32_t)(hs[k] >> 32);
            size_t pos = (size_t)hs[k] & mask;
            for (;;) {
                uint64_t s = slots[pos];
                if (s == 0) {
                    uint32_t e = d->count;
                    DICT_NEW_ENTRY(w, pq_buf_put(&d->entries, key, w));
                    slots[pos] = (uint64_t)tag << 32 | ((uint64_t)e + 1);
                    idx[i - from] = e;
                    break;
                }
                if ((uint32_t)(s >> 32) == tag && bytes_eq(d->entries.data + w * ((uint32_t)s - 1), key, w)) {
                    idx[i - from] = (uint32_t)s - 1;
                    break;
                }
                pos = (pos + 1) & mask;
            }
        }
    }
    return PQ_DICT_OK;
}

/* A new BYTE_ARRAY entry for value i in empty slot `pos`: its index in *e,
 * or why not (out of line, and recomputing what it needs from i: the probe
 * loop stays small, and new entries are the rare case of a useful
 * dictionary). */
DICT_KERNEL enum pq_dict_result new_bytes_entry(struct pq_dict *d, size_t pos, uint32_t tag, size_t i,
                                                uint32_t max_entries, size_t max_bytes, uint32_t *e_out)
{
    uint32_t start = d->src_offsets[i], len = d->src_offsets[i + 1] - start;
    struct prefix k = prefix_of(d->src_arena + start, len, false);
    uint32_t e = d->count;
    uint8_t rec[REC_BYTES];
    pq_store_u32le(rec, start);
    pq_store_u32le(rec + 4, len);
    pq_store_u64le(rec + 8, k.a);
    pq_store_u64le(rec + 16, k.b);
    DICT_NEW_ENTRY(4 + (size_t)len, pq_buf_put(&d->entries, rec, REC_BYTES));
    d->slots[pos] = (uint64_t)tag << 32 | ((uint64_t)e + 1);
    *e_out = e;
    return PQ_DICT_OK;
}

/* Probes BYTE_ARRAY values [b, b + n) with prefix words ks[] and hashes
 * hs[] (or, without them, computes both value by value: a table in the cache
 * needs no prefetching, and computing inline keeps more values in flight).
 * The table's fields are held in locals: stores to idx[] cannot change them
 * (restrict), and only an insertion moves the records. */
PQ_INLINE enum pq_dict_result probe_block(struct pq_dict *d, size_t b, size_t n, size_t from, uint32_t wide_end,
                                          const struct prefix *ks, const uint64_t *hs, uint32_t *restrict idx,
                                          uint32_t max_entries, size_t max_bytes)
{
    const uint32_t *off = d->src_offsets;
    const uint8_t *arena = d->src_arena;
    const uint64_t *slots = d->slots;
    size_t mask = d->slot_count - 1;
    const uint8_t *recs = d->entries.data;
    for (size_t i = b; i < b + n; i++) {
        uint32_t start = off[i], len = off[i + 1] - start;
        const uint8_t *p = arena + start;
        struct prefix k;
        uint64_t h;
        if (ks != NULL) {
            k = ks[i - b];
            h = hs[i - b];
        } else {
            k = prefix_of(p, len, start <= wide_end);
            h = hash_value(p, len, k);
        }
        uint32_t tag = (uint32_t)(h >> 32);
        for (size_t pos = (size_t)h & mask;; pos = (pos + 1) & mask) {
            uint64_t s = slots[pos];
            if (s == 0) {
                enum pq_dict_result r = new_bytes_entry(d, pos, tag, i, max_entries, max_bytes, &idx[i - from]);
                if (r != PQ_DICT_OK) return r;
                recs = d->entries.data;
                break;
            }
            if ((uint32_t)(s >> 32) != tag) continue;
            uint32_t e = (uint32_t)s - 1;
            const uint8_t *r = recs + (size_t)REC_BYTES * e;
            if (pq_load_u32le(r + 4) != len || pq_load_u64le(r + 8) != k.a || pq_load_u64le(r + 16) != k.b) continue;
            if (len > SHORT_BYTES) {
                const uint8_t *q = arena + pq_load_u32le(r);
                bool same = len <= 2 * SHORT_BYTES
                                ? pq_load_u64le(q + len - 16) == pq_load_u64le(p + len - 16) &&
                                      pq_load_u64le(q + len - 8) == pq_load_u64le(p + len - 8)
                                : memcmp(q + SHORT_BYTES, p + SHORT_BYTES, len - SHORT_BYTES) == 0;
                if (!same) continue;
            }
            idx[i - from] = e;
            break;
        }
    }
    return PQ_DICT_OK;
}

/* BYTE_ARRAY: tagged slots, entries are records (see REC_BYTES). A table that
 * fits in the cache is probed value by value; a larger one a block at a time,
 * the block's slots prefetched first. Prefix words are read 16 bytes at a
 * time up to 16 bytes before the end of the slice's data (off[to]). */
DICT_KERNEL enum pq_dict_result add_bytes(struct pq_dict *d, size_t from, size_t to, uint32_t *restrict idx,
                                          uint32_t max_entries, size_t max_bytes)
{
    const uint32_t *off = d->src_offsets;
    const uint8_t *arena = d->src_arena;
    uint32_t wide_end = off[to] >= SHORT_BYTES ? off[to] - SHORT_BYTES : 0;
    uint64_t hs[DICT_BLOCK];
    struct prefix ks[DICT_BLOCK];
    for (size_t b = from; b < to; b += DICT_BLOCK) {
        size_t n = block_len(b, to);
        if (!ensure_room(d, n, max_entries)) return PQ_DICT_NOMEM;
        enum pq_dict_result r;
        if (d->slot_count <= DICT_CACHED_SLOTS) {
            r = probe_block(d, b, n, from, wide_end, NULL, NULL, idx, max_entries, max_bytes);
        } else {
            size_t mask = d->slot_count - 1;
            for (size_t k = 0; k < n; k++) {
                uint32_t st = off[b + k], ln = off[b + k + 1] - st;
                ks[k] = prefix_of(arena + st, ln, st <= wide_end);
                hs[k] = hash_value(arena + st, ln, ks[k]);
                __builtin_prefetch(d->slots + (hs[k] & mask));
            }
            r = probe_block(d, b, n, from, wide_end, ks, hs, idx, max_entries, max_bytes);
        }
        if (r != PQ_DICT_OK) return r;
    }
    return PQ_DICT_OK;
}

uint32_t pq_dict_first(const struct pq_dict *d, uint32_t e)
{
    assert(e < d->count);
    return pq_load_u32le(d->firsts.data + 4 * (size_t)e);
}

enum pq_dict_result pq_dict_add(struct pq_dict *d, size_t from, size_t to, uint32_t *idx,
                                uint32_t max_entries, size_t max_bytes)
{
    assert(to <= UINT32_MAX);
    assert(from <= to);
    assert(d->plain_bytes <= max_bytes);
    if (d->width == 0) return add_bytes(d, from, to, idx, max_entries, max_bytes);
    if (d->width == 4) return add_u32(d, from, to, idx, max_entries, max_bytes);
    if (wide_key(d)) return add_u64(d, from, to, idx, max_entries, max_bytes);
    return add_fixed(d, from, to, idx, max_entries, max_bytes);
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
        const uint8_t *r = rec_of(d, e);
        uint32_t n = pq_load_u32le(r + 4);
        pq_store_u32le(dst, n);
        memcpy(dst + 4, d->src_arena + pq_load_u32le(r), n);
        dst += 4 + (size_t)n;
    }
    out->len += d->plain_bytes;
}
