#include "s3/sha256.h"

#include <assert.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>
#define SHA256_HAVE_NI 1
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* FIPS 180-4 §6.2.2, one block at a time. */
static void compress_portable(uint32_t st[8], const uint8_t *data, size_t blocks)
{
    for (; blocks > 0; blocks--, data += 64) {
        uint32_t w[64];
        for (int t = 0; t < 16; t++) w[t] = load_be32(data + 4 * t);
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
        for (int t = 0; t < 64; t++) {
            uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
            uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        st[0] += a, st[1] += b, st[2] += c, st[3] += d;
        st[4] += e, st[5] += f, st[6] += g, st[7] += h;
    }
}

#ifdef SHA256_HAVE_NI
/* The same with the SHA extensions. The state lives in two registers as ABEF and CDGH
 * (the order sha256rnds2 wants); each step does 4 rounds: two sha256rnds2 of 2 rounds,
 * with W[t] + K[t] for those rounds. The message schedule for rounds 16..63 is
 *
 *   W[4g..4g+3] = msg2(msg1(W[4g-16..], W[4g-12..]) + W[4g-7..4g-4], W[4g-4..4g-1])
 *
 * where msg1 adds sigma0 of the next words, the alignr picks W[t-7], and msg2 adds
 * sigma1 of W[t-2] (including the two words computed in the same group). */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_ni(uint32_t st[8], const uint8_t *data, size_t blocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&st[0]);    /* DCBA (lane 0 = A) */
    __m128i state1 = _mm_loadu_si128((const __m128i *)&st[4]); /* HGFE */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                        /* CDAB */
    state1 = _mm_shuffle_epi32(state1, 0x1B);                  /* EFGH */
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);          /* ABEF */
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);               /* CDGH */

    for (; blocks > 0; blocks--, data += 64) {
        __m128i save0 = state0, save1 = state1;
        __m128i w[4];
        for (int i = 0; i < 4; i++)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), bswap);
#pragma clang loop unroll(full)
        for (int g = 0; g < 16; g++) {
            __m128i m;
            if (g < 4) {
                m = w[g];
            } else {
                /* w[] holds groups g-4 .. g-1 at indexes (g-4)%4 .. (g-1)%4. */
                __m128i w4 = w[g & 3], w3 = w[(g + 1) & 3], w2 = w[(g + 2) & 3], w1 = w[(g + 3) & 3];
                __m128i s = _mm_sha256msg1_epu32(w4, w3);
                s = _mm_add_epi32(s, _mm_alignr_epi8(w1, w2, 4));
                m = _mm_sha256msg2_epu32(s, w1);
                w[g & 3] = m;
            }
            __m128i mk = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K[4 * g]));
            state1 = _mm_sha256rnds2_epu32(state1, state0, mk);
            mk = _mm_shuffle_epi32(mk, 0x0E);
            state0 = _mm_sha256rnds2_epu32(state0, state1, mk);
        }
        state0 = _mm_add_epi32(state0, save0);
        state1 = _mm_add_epi32(state1, save1);
    }

    tmp = _mm_shuffle_epi32(state0, 0x1B);         /* FEBA */
    state1 = _mm_shuffle_epi32(state1, 0xB1);      /* DCHG */
    state0 = _mm_blend_epi16(tmp, state1, 0xF0);   /* DCBA */
    state1 = _mm_alignr_epi8(state1, tmp, 8);      /* HGFE */
    _mm_storeu_si128((__m128i *)&st[0], state0);
    _mm_storeu_si128((__m128i *)&st[4], state1);
}

static bool cpu_has_sha_ni(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    bool ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    bool sha = (b >> 29) & 1;
    return ssse3 && sse41 && sha;
}
#endif

typedef void (*compress_fn)(uint32_t st[8], const uint8_t *data, size_t blocks);

static compress_fn compress_chosen;
static bool forced_portable;

/* The block function, chosen on first use (a process-wide constant after that). */
static compress_fn compress(void)
{
    if (compress_chosen != NULL) return compress_chosen;
    compress_chosen = compress_portable;
#ifdef SHA256_HAVE_NI
    if (!forced_portable && cpu_has_sha_ni()) compress_chosen = compress_ni;
#endif
    return compress_chosen;
}

bool s3_sha256_accelerated(void)
{
#ifdef SHA256_HAVE_NI
    return compress() == compress_ni;
#else
    return false;
#endif
}

void s3_sha256_force_portable(bool portable)
{
    forced_portable = portable;
    compress_chosen = NULL;
}

void s3_sha256_init(struct s3_sha256 *c)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->state, iv, sizeof iv);
    c->buf_len = 0;
    c->total_bytes = 0;
}

void s3_sha256_update(struct s3_sha256 *c, const void *data, size_t len)
{
    assert(c->buf_len < 64);
    if (len == 0) return; /* data may be NULL then: no memcpy from it */
    const uint8_t *p = data;
    c->total_bytes += len;
    compress_fn fn = compress();
    if (c->buf_len > 0) {
        size_t take = 64 - c->buf_len < len ? 64 - c->buf_len : len;
        memcpy(c->buf + c->buf_len, p, take);
        c->buf_len += take, p += take, len -= take;
        if (c->buf_len < 64) return;
        fn(c->state, c->buf, 1);
        c->buf_len = 0;
    }
    if (len >= 64) {
        fn(c->state, p, len / 64);
        p += len - len % 64;
        len %= 64;
    }
    memcpy(c->buf, p, len);
    c->buf_len = len;
}

void s3_sha256_out(const struct s3_sha256 *c, uint8_t out[32])
{
    /* Padding: 0x80, zeros, then the length in bits as a big-endian 64-bit number. */
    uint32_t st[8];
    uint8_t block[128];
    memcpy(st, c->state, sizeof st);
    memcpy(block, c->buf, c->buf_len);
    size_t n = c->buf_len;
    block[n++] = 0x80;
    size_t total = n + 8 <= 64 ? 64 : 128;
    memset(block + n, 0, total - 8 - n);
    uint64_t bits = c->total_bytes * 8;
    for (int i = 0; i < 8; i++) block[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    compress()(st, block, total / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}
