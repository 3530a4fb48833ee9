/* parquet/pq_rle: RLE / bit-packing hybrid for every bit width 0..32, decoded by
 * a tiny independent decoder, and a few streams checked byte by byte. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/pq_rle.h"

static struct pq_mem mem;
static struct pq_buf out;

static void setup(void)
{
    pq_mem_init(&mem, NULL, NULL, 0);
    pq_buf_init(&out, &mem);
}

static void teardown(void)
{
    pq_buf_free(&out);
    cr_assert_eq(mem.used_bytes, 0);
}

TestSuite(pq_rle, .init = setup, .fini = teardown);

static uint64_t rng = 42;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t read_uleb(const uint8_t *p, size_t len, size_t *pos)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        cr_assert_lt(*pos, len, "varint past the end");
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) return v;
    }
}

/* Decodes n values of bit width bw; returns the bytes read, which must be the
 * whole stream (no trailing junk, no missing bytes). */
static size_t decode(const uint8_t *p, size_t len, unsigned bw, uint32_t *vals, size_t n)
{
    size_t pos = 0, got = 0;
    while (got < n) {
        uint64_t h = read_uleb(p, len, &pos);
        if ((h & 1) == 0) {
            uint64_t run = h >> 1;
            cr_assert_gt(run, 0, "empty RLE run");
            uint32_t v = 0;
            for (unsigned i = 0; i < (bw + 7) / 8; i++) {
                cr_assert_lt(pos, len);
                v |= (uint32_t)p[pos++] << (8 * i);
            }
            for (uint64_t i = 0; i < run; i++) {
                cr_assert_lt(got, n, "RLE run past the value count");
                vals[got++] = v;
            }
        } else {
            uint64_t groups = h >> 1;
            cr_assert_gt(groups, 0);
            uint64_t bitpos = 0;
            cr_assert_leq(pos + groups * bw, len, "bit-packed run past the end");
            for (uint64_t i = 0; i < groups * 8; i++) {
                uint64_t v = 0;
                for (unsigned b = 0; b < bw; b++, bitpos++)
                    v |= (uint64_t)((p[pos + bitpos / 8] >> (bitpos % 8)) & 1) << b;
                if (got < n) vals[got++] = (uint32_t)v;
                else cr_assert_eq(v, 0, "padding must be zero");
            }
            pos += groups * bw;
        }
    }
    return pos;
}

/* Values with runs of random length (1..24), each value below 2^bw. */
static void fill(uint32_t *v, size_t n, unsigned bw)
{
    uint64_t mask = bw == 32 ? 0xFFFFFFFFu : (1ull << bw) - 1;
    size_t i = 0;
    while (i < n) {
        uint32_t x = (uint32_t)(rnd() & mask);
        if (rnd() % 4 == 0) x = (uint32_t)mask; /* the extreme value */
        size_t run = rnd() % 3 == 0 ? 1 + rnd() % 24 : 1;
        for (size_t k = 0; k < run && i < n; k++) v[i++] = x;
    }
}

static void roundtrip_u32(const uint32_t *v, size_t n, unsigned bw)
{
    pq_buf_clear(&out);
    pq_rle_encode_u32(&out, v, n, bw);
    cr_assert_not(out.failed);
    cr_assert_leq(out.len, pq_rle_bound(n, bw));
    uint32_t *got = calloc(n + 1, sizeof *got);
    size_t used = decode(out.data, out.len, bw, got, n);
    cr_assert_eq(used, out.len, "bw %u n %zu: %zu of %zu bytes decoded", bw, n, used, out.len);
    for (size_t i = 0; i < n; i++) cr_assert_eq(got[i], v[i], "bw %u n %zu: value %zu", bw, n, i);
    free(got);
}

Test(pq_rle, every_bit_width_round_trips)
{
    static const size_t sizes[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 504, 505, 1000, 4099};
    uint32_t *v = malloc(4099 * sizeof *v);
    for (unsigned bw = 0; bw <= 32; bw++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            fill(v, sizes[s], bw);
            roundtrip_u32(v, sizes[s], bw);
        }
    }
    free(v);
}

Test(pq_rle, run_boundaries)
{
    /* Runs of exactly 7, 8 and 9 equal values, at and off group edges. */
    uint32_t v[64];
    for (size_t lead = 0; lead < 9; lead++) {
        for (size_t run = 6; run <= 17; run++) {
            size_t n = 0;
            for (size_t i = 0; i < lead; i++) v[n++] = (uint32_t)(i & 3);
            for (size_t i = 0; i < run; i++) v[n++] = 5;
            for (size_t i = 0; i < 9; i++) v[n++] = (uint32_t)(i % 3);
            roundtrip_u32(v, n, 3);
        }
    }
}

Test(pq_rle, bytes_variant_matches_the_u32_one)
{
    uint8_t b[3000];
    uint32_t w[3000];
    for (unsigned bw = 0; bw <= 8; bw++) {
        fill(w, 3000, bw);
        for (size_t i = 0; i < 3000; i++) b[i] = (uint8_t)w[i];
        struct pq_buf o2;
        pq_buf_init(&o2, &mem);
        pq_rle_encode_u8(&o2, b, 3000, bw);
        pq_buf_clear(&out);
        pq_rle_encode_u32(&out, w, 3000, bw);
        cr_assert_eq(o2.len, out.len);
        cr_assert_eq(memcmp(o2.data, out.data, out.len), 0);
        pq_buf_free(&o2);
    }
}

static void expect(const uint8_t *want, size_t n)
{
    cr_assert_eq(out.len, n, "length %zu, expected %zu", out.len, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(out.data[i], want[i], "byte %zu: 0x%02x, expected 0x%02x", i, out.data[i], want[i]);
}

Test(pq_rle, exact_bytes)
{
    /* Encodings.md's example: 0..7 at bit width 3, one group. */
    uint32_t seq[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    pq_rle_encode_u32(&out, seq, 8, 3);
    expect((const uint8_t[]){0x03, 0x88, 0xC6, 0xFA}, 4);

    /* Ten 5s at bit width 3: one RLE run, header 10 << 1, value in one byte. */
    pq_buf_clear(&out);
    uint32_t ten[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
    pq_rle_encode_u32(&out, ten, 10, 3);
    expect((const uint8_t[]){0x14, 0x05}, 2);

    /* Bit width 0 (a one-entry dictionary) still has its run header. */
    pq_buf_clear(&out);
    uint32_t zeros[5] = {0};
    pq_rle_encode_u32(&out, zeros, 5, 0);
    expect((const uint8_t[]){0x0A}, 1);

    /* A short run that ends the input is RLE too: 3 x 1 at bit width 1. */
    pq_buf_clear(&out);
    uint8_t ones[3] = {1, 1, 1};
    pq_rle_encode_u8(&out, ones, 3, 1);
    expect((const uint8_t[]){0x06, 0x01}, 2);

    /* 300 copies of a 17-bit value: header 600 = D8 04, value in 3 bytes LE. */
    pq_buf_clear(&out);
    pq_rle_encode_repeat(&out, 0x1ABCD, 300, 17);
    expect((const uint8_t[]){0xD8, 0x04, 0xCD, 0xAB, 0x01}, 5);

    /* Bit width 1, 1 0 1 1 0 0 0 1 then a padded group of 1 1: LSB first. */
    pq_buf_clear(&out);
    uint8_t bits[10] = {1, 0, 1, 1, 0, 0, 0, 1, 1, 1};
    pq_rle_encode_u8(&out, bits, 10, 1);
    expect((const uint8_t[]){0x05, 0x8D, 0x03}, 3);

    /* Three literals then nine 2s: the literal group takes 8 values (the run is
     * cut at the group edge), the rest (4 x 2) is too short for RLE. */
    pq_buf_clear(&out);
    uint32_t mix[12] = {1, 3, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    pq_rle_encode_u32(&out, mix, 12, 2);
    /* group 1: 1 3 0 2 | 2 2 2 2 -> 0b10_00_11_01 = 0x8D, 0xAA; group 2: 2 2 2 2 0 0 0 0 -> 0xAA, 0x00 */
    expect((const uint8_t[]){0x05, 0x8D, 0xAA, 0xAA, 0x00}, 5);

    /* A run of 8 right at the start is RLE, then literals. */
    pq_buf_clear(&out);
    uint32_t rl[10] = {7, 7, 7, 7, 7, 7, 7, 7, 1, 2};
    pq_rle_encode_u32(&out, rl, 10, 3);
    expect((const uint8_t[]){0x10, 0x07, 0x03, 0x11, 0x00, 0x00}, 6);
}

Test(pq_rle, bit_width)
{
    cr_assert_eq(pq_bit_width(0), 0);
    cr_assert_eq(pq_bit_width(1), 1);
    cr_assert_eq(pq_bit_width(2), 2);
    cr_assert_eq(pq_bit_width(3), 2);
    cr_assert_eq(pq_bit_width(4), 3);
    cr_assert_eq(pq_bit_width(255), 8);
    cr_assert_eq(pq_bit_width(256), 9);
    cr_assert_eq(pq_bit_width(UINT32_MAX), 32);
}

Test(pq_rle, bitpack8_every_width)
{
    for (unsigned bw = 1; bw <= 32; bw++) {
        uint32_t v[8];
        fill(v, 8, bw);
        uint8_t packed[33];
        memset(packed, 0xEE, sizeof packed);
        pq_bitpack8(packed, v, bw);
        for (unsigned i = 0; i < 8; i++) {
            uint64_t x = 0;
            for (unsigned b = 0; b < bw; b++) {
                unsigned bit = i * bw + b;
                x |= (uint64_t)((packed[bit / 8] >> (bit % 8)) & 1) << b;
            }
            cr_assert_eq(x, v[i], "bw %u value %u", bw, i);
        }
        cr_assert_eq(packed[bw], 0xEE, "bw %u wrote past %u bytes", bw, bw);
    }
}

Test(pq_rle, plain_booleans)
{
    uint8_t v[11] = {1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0};
    pq_pack_bools(&out, v, 11);
    expect((const uint8_t[]){0x81, 0x03}, 2);
    pq_buf_clear(&out);
    pq_pack_bools(&out, v, 0);
    cr_assert_eq(out.len, 0);
}

Test(pq_rle, bit_width_one_levels)
{
    /* Definition levels of a nullable column: random 0/1 (literal runs, one
     * multiply per 8), long runs of 1 (scanned 8 at a time) with lone 0s,
     * and lengths that are not multiples of 8. */
    size_t sizes[] = {1, 7, 8, 9, 63, 64, 65, 1000, 4099};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        for (int kind = 0; kind < 3; kind++) {
            uint8_t *v = malloc(n);
            for (size_t i = 0; i < n; i++)
                v[i] = kind == 0 ? (uint8_t)(rnd() & 1) : kind == 1 ? (uint8_t)(i % 97 != 5) : (uint8_t)(rnd() % 10 != 0);
            pq_buf_clear(&out);
            pq_rle_encode_u8(&out, v, n, 1);
            cr_assert_leq(out.len, pq_rle_bound(n, 1));
            uint32_t *got = malloc(n * sizeof *got);
            size_t used = decode(out.data, out.len, 1, got, n);
            cr_assert_eq(used, out.len);
            for (size_t i = 0; i < n; i++) cr_assert_eq(got[i], v[i], "n %zu kind %d value %zu", n, kind, i);
            free(got);
            free(v);
        }
    }
}
