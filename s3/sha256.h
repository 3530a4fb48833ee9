/* sha256: SHA-256 (FIPS 180-4) for request bodies, using the x86 SHA extensions when
 * the CPU has them.
 *
 * Every body lakewriter uploads is hashed for the signed x-amz-content-sha256, so this
 * runs over every byte that goes to S3. BearSSL's portable SHA-256 costs about 4 CPU
 * seconds per GiB; the SHA-NI block function about a fifth of that. The choice is
 * made once, from CPUID (no syscall); the portable block function is the fallback on
 * CPUs without SHA-NI and is what the tests compare the fast one against. */
#ifndef LW_S3_SHA256_H
#define LW_S3_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s3_sha256 {
    uint32_t state[8];
    uint8_t buf[64];        /* a partial block */
    size_t buf_len;
    uint64_t total_bytes;
};

void s3_sha256_init(struct s3_sha256 *c);
void s3_sha256_update(struct s3_sha256 *c, const void *data, size_t len);

/* Writes the digest of everything given so far; `c` is left unchanged. */
void s3_sha256_out(const struct s3_sha256 *c, uint8_t out[32]);

/* True when the SHA-NI block function is in use. */
bool s3_sha256_accelerated(void);

/* Forces the portable block function (tests, and comparing the two). */
void s3_sha256_force_portable(bool portable);

#endif
