/* pq_rle: the RLE / bit-packing hybrid (levels, dictionary indices) and
 * bit-packed PLAIN booleans.
 *
 * A hybrid stream is a sequence of runs:
 *
 *   RLE run:        varint(count << 1)          value in ceil(bw/8) bytes, LE
 *   bit-packed run: varint(groups << 1 | 1)     groups * bw bytes
 *
 * A bit-packed group holds 8 values of bw bits, packed LSB first: value 0 in
 * the lowest bits of byte 0, value 1 right above it, and so on:
 *
 *   bw = 3, values a..h:   byte 0     byte 1     byte 2
 *                        [ccbbbaaa] [feeedddc] [hhhgggff]
 *
 * The encoder sees the whole input at once: a run of >= 8 equal values, or a
 * run that ends the input, becomes an RLE run; everything else is gathered
 * into bit-packed groups, of which only the last of the stream is padded with
 * zeros (readers stop at the value count). Bit width 0 (a one-entry
 * dictionary) is RLE runs only: a run header even with no value bytes. */
#ifndef PQ_RLE_H
#define PQ_RLE_H

#include <stddef.h>
#include <stdint.h>

#include "pq_buf.h"

enum { PQ_RLE_BIT_WIDTH_MAX = 32 };

/* Bits needed to represent every value in 0..max_value (0 for 0). */
static inline unsigned pq_bit_width(uint32_t max_value)
{
    return max_value == 0 ? 0 : 32u - (unsigned)__builtin_clz(max_value);
}

/* An upper bound of the encoded size of n values of bit width bw. */
size_t pq_rle_bound(size_t n, unsigned bw);

/* Appends the hybrid encoding of v[0..n) (bytes or 32-bit values, each below
 * 2^bw) to `out`. No length prefix. */
void pq_rle_encode_u8(struct pq_buf *out, const uint8_t *v, size_t n, unsigned bw);
void pq_rle_encode_u32(struct pq_buf *out, const uint32_t *v, size_t n, unsigned bw);

/* Appends one RLE run of n copies of `value` (n may be 0: nothing is written). */
void pq_rle_encode_repeat(struct pq_buf *out, uint32_t value, size_t n, unsigned bw);

/* Packs 8 values of bw bits (bw <= 32) into bw bytes at dst, LSB first. */
void pq_bitpack8(uint8_t *dst, const uint32_t *v, unsigned bw);

/* Appends n booleans (bytes 0/1) bit-packed LSB first, the last byte padded
 * with zeros: PLAIN BOOLEAN. */
void pq_pack_bools(struct pq_buf *out, const uint8_t *v, size_t n);

#endif
