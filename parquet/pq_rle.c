#include "pq_rle.h"

#include <assert.h>

/* Runs are capped well below the format's 2^31 - 1. */
enum { RLE_RUN_MAX = 1 << 30 };

size_t pq_rle_bound(size_t n, unsigned bw)
{
    /* Per 8 values: at most max(bw, 1 + 4 + 4) bytes of data plus one header. */
    return (n / 8 + 2) * ((size_t)bw + 14);
}

void pq_bitpack8(uint8_t *dst, const uint32_t *v, unsigned bw)
{
    assert(bw <= PQ_RLE_BIT_WIDTH_MAX);
    if (bw == 0) return;
    if (bw <= 8) {
        /* 8 * bw <= 64 bits: one accumulator, bw bytes out. */
        uint64_t acc = 0;
        for (unsigned k = 0; k < 8; k++) acc |= (uint64_t)v[k] << (k * bw);
        for (unsigned i = 0; i < bw; i++) dst[i] = (uint8_t)(acc >> (8 * i));
        return;
    }
    uint64_t acc = 0;
    unsigned nb = 0;
    for (unsigned k = 0; k < 8; k++) {
        acc |= (uint64_t)v[k] << nb;
        nb += bw;
        while (nb >= 8) {
            *dst++ = (uint8_t)acc;
            acc >>= 8;
            nb -= 8;
        }
    }
    assert(nb == 0);
}

/* RLE run: varint(count << 1), then the value in ceil(bw/8) bytes, LE. */
PQ_HOT static void emit_repeat(struct pq_buf *out, uint32_t value, size_t count, unsigned bw)
{
    assert(count > 0 && count <= RLE_RUN_MAX);
    assert(bw == 32 || value >> bw == 0);
    pq_buf_varint(out, (uint64_t)count << 1);
    unsigned value_bytes = (bw + 7) / 8;
    if (!pq_buf_reserve(out, value_bytes)) return;
    for (unsigned i = 0; i < value_bytes; i++) out->data[out->len++] = (uint8_t)(value >> (8 * i));
}

void pq_rle_encode_repeat(struct pq_buf *out, uint32_t value, size_t n, unsigned bw)
{
    while (n > 0) {
        size_t run = n < RLE_RUN_MAX ? n : RLE_RUN_MAX;
        emit_repeat(out, value, run, bw);
        n -= run;
    }
}

/* The values v[0, count) packed LSB first, bw bits each, through a 64-bit
 * accumulator stored 8 bytes at a time. count is a multiple of 8, so the
 * output ends on a byte (count * bw / 8 bytes); up to 7 bytes past it may be
 * written (the caller reserves them). A value's bits that do not fit the
 * accumulator start the next one: v >> (bw - nb), which is 0 when nb is 0. */
#define PQ_PACK_DEFINE(NAME, T)                                                       \
    PQ_HOT static uint8_t *pack_##NAME(uint8_t *dst, const T *v, size_t count, unsigned bw) \
    {                                                                                 \
        assert(count % 8 == 0 && bw >= 1 && bw <= PQ_RLE_BIT_WIDTH_MAX);               \
        uint64_t acc = 0;                                                             \
        unsigned nb = 0;                                                              \
        for (size_t k = 0; k < count; k++) {                                          \
            uint64_t x = v[k];                                                        \
            acc |= x << nb;                                                           \
            nb += bw;                                                                 \
            if (nb >= 64) {                                                           \
                pq_store_u64le(dst, acc);                                             \
                dst += 8;                                                             \
                nb -= 64;                                                             \
                acc = x >> (bw - nb);                                                 \
            }                                                                         \
        }                                                                             \
        assert(nb % 8 == 0);                                                          \
        pq_store_u64le(dst, acc);                                                     \
        return dst + nb / 8;                                                          \
    }

PQ_PACK_DEFINE(u8_any, uint8_t)
PQ_PACK_DEFINE(u32, uint32_t)

/* Bytes: bit width 1 (definition levels of flat nullable columns) packs 8
 * values 0/1 into one byte with one multiply: byte j of x moves to bit j of
 * the top byte of x * 0x0102040810204080 (the partial products never carry
 * into it). */
PQ_HOT static uint8_t *pack_u8(uint8_t *dst, const uint8_t *v, size_t count, unsigned bw)
{
    if (bw != 1) return pack_u8_any(dst, v, count, bw);
    assert(count % 8 == 0);
    for (size_t k = 0; k < count; k += 8) {
        uint64_t x = pq_load_u64le(v + k);
        assert((x & ~0x0101010101010101ULL) == 0);
        *dst++ = (uint8_t)((x * 0x0102040810204080ULL) >> 56);
    }
    pq_store_u64le(dst, 0); /* the 8 bytes of slack the other packers may write */
    return dst;
}

/* Are the 8 values at p equal? */
PQ_HOT static inline bool same8_u8(const uint8_t *p)
{
    uint64_t x = pq_load_u64le(p);
    return x == (x & 0xFF) * 0x0101010101010101ULL;
}

PQ_HOT static inline bool same8_u32(const uint32_t *p)
{
    uint32_t d = 0;
    for (unsigned k = 1; k < 8; k++) d |= p[k] ^ p[0];
    return d == 0;
}

/* The same encoder over bytes and over 32-bit values. */
#define PQ_RLE_DEFINE(NAME, T)                                                        \
    PQ_HOT static size_t run_length_##NAME(const T *v, size_t i, size_t n)            \
    {                                                                                 \
        size_t j = i + 1;                                                             \
        size_t end = n - i > RLE_RUN_MAX ? i + RLE_RUN_MAX : n;                       \
        /* Long runs (all-present levels) 8 values at a time. */                      \
        while (j + 8 <= end && v[j] == v[i] && v[j + 7] == v[i] && same8_##NAME(v + j)) j += 8; \
        while (j < end && v[j] == v[i]) j++;                                          \
        return j - i;                                                                 \
    }                                                                                 \
                                                                                      \
    /* Bit-packed run of v[start..end): whole groups, the last one zero-padded. */    \
    PQ_HOT static void emit_literal_##NAME(struct pq_buf *out, const T *v, size_t start, \
                                    size_t end, unsigned bw)                          \
    {                                                                                 \
        size_t count = end - start;                                                   \
        size_t groups = (count + 7) / 8;                                              \
        assert(groups > 0);                                                           \
        pq_buf_varint(out, (uint64_t)groups << 1 | 1);                                \
        if (!pq_buf_reserve(out, groups * bw + 8)) return;                            \
        uint8_t *dst = pq_buf_tail(out);                                              \
        size_t whole = count / 8 * 8;                                                 \
        if (whole > 0) dst = pack_##NAME(dst, v + start, whole, bw);                  \
        if (whole < count) {                                                          \
            T tmp[8] = {0};                                                           \
            for (size_t k = 0; k < count - whole; k++) tmp[k] = v[start + whole + k]; \
            pack_##NAME(dst, tmp, 8, bw);                                             \
        }                                                                             \
        out->len += groups * bw;                                                      \
    }                                                                                 \
                                                                                      \
    PQ_HOT void pq_rle_encode_##NAME(struct pq_buf *out, const T *v, size_t n, unsigned bw) \
    {                                                                                 \
        assert(bw <= PQ_RLE_BIT_WIDTH_MAX);                                           \
        if (!pq_buf_reserve(out, pq_rle_bound(n, bw))) return;                        \
        if (bw == 0) {                                                                \
            /* Every value is 0: RLE runs only, never a zero-byte literal run. */     \
            pq_rle_encode_repeat(out, 0, n, 0);                                       \
            return;                                                                   \
        }                                                                             \
        size_t i = 0;                                                                 \
        size_t next_run = n > 0 ? run_length_##NAME(v, 0, n) : 0;                     \
        while (i < n) {                                                               \
            /* RLE for a long run, and for a run that ends the input. */              \
            if (next_run >= 8 || i + next_run == n) {                                 \
                emit_repeat(out, (uint32_t)v[i], next_run, bw);                       \
                i += next_run;                                                        \
                if (i < n) next_run = run_length_##NAME(v, i, n);                     \
                continue;                                                             \
            }                                                                         \
            /* Gather groups of 8 until a run of >= 8 starts at a group edge. */      \
            size_t start = i;                                                         \
            for (;;) {                                                                \
                if (n - i <= 8 || (i - start) / 8 + 1 >= RLE_RUN_MAX / 8) {           \
                    i = n - i <= 8 ? n : i + 8;                                       \
                    if (i < n) next_run = run_length_##NAME(v, i, n);                 \
                    break;                                                            \
                }                                                                     \
                i += 8;                                                               \
                next_run = run_length_##NAME(v, i, n);                                \
                if (next_run >= 8) break;                                             \
            }                                                                         \
            emit_literal_##NAME(out, v, start, i, bw);                                \
        }                                                                             \
    }

PQ_RLE_DEFINE(u8, uint8_t)
PQ_RLE_DEFINE(u32, uint32_t)

void pq_pack_bools(struct pq_buf *out, const uint8_t *v, size_t n)
{
    size_t bytes = (n + 7) / 8;
    if (!pq_buf_reserve(out, bytes)) return;
    uint8_t *dst = pq_buf_tail(out);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        assert((v[i] | v[i + 1] | v[i + 2] | v[i + 3] | v[i + 4] | v[i + 5] | v[i + 6] | v[i + 7]) <= 1);
        *dst++ = (uint8_t)(v[i] | v[i + 1] << 1 | v[i + 2] << 2 | v[i + 3] << 3 |
                           v[i + 4] << 4 | v[i + 5] << 5 | v[i + 6] << 6 | v[i + 7] << 7);
    }
    if (i < n) {
        unsigned b = 0;
        for (unsigned k = 0; i + k < n; k++) b |= (unsigned)v[i + k] << k;
        *dst = (uint8_t)b;
    }
    out->len += bytes;
}
