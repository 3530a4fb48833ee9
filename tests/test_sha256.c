/* s3/sha256: the SHA-NI and portable block functions against BearSSL and FIPS vectors. */
#include <bearssl.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/sha256.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void digest_of(const void *data, size_t len, char out[65])
{
    struct s3_sha256 c;
    uint8_t d[32];
    s3_sha256_init(&c);
    s3_sha256_update(&c, data, len);
    s3_sha256_out(&c, d);
    hex(d, 32, out);
}

static void fips_vectors(void)
{
    char out[65];
    digest_of("", 0, out);
    cr_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    digest_of("abc", 3, out);
    cr_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    digest_of(two, strlen(two), out);
    cr_assert_str_eq(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    digest_of(a, n, out);
    cr_assert_str_eq(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

Test(sha256, fips_vectors_portable)
{
    s3_sha256_force_portable(true);
    cr_assert(!s3_sha256_accelerated());
    fips_vectors();
}

Test(sha256, fips_vectors_default)
{
    s3_sha256_force_portable(false);
    fips_vectors(); /* SHA-NI where the CPU has it */
}

/* Random data, random lengths, fed in random slices: both block functions must equal
 * BearSSL's SHA-256 every time. */
static void against_bearssl(bool portable)
{
    s3_sha256_force_portable(portable);
    unsigned seed = 12345;
    uint8_t *data = malloc(70000);
    for (size_t i = 0; i < 70000; i++) data[i] = (uint8_t)rand_r(&seed);
    for (int round = 0; round < 400; round++) {
        size_t len = (size_t)rand_r(&seed) % (round < 200 ? 300 : 70000);
        struct s3_sha256 c;
        s3_sha256_init(&c);
        size_t off = 0;
        while (off < len) {
            size_t step = 1 + (size_t)rand_r(&seed) % 200;
            if (step > len - off) step = len - off;
            s3_sha256_update(&c, data + off, step);
            off += step;
        }
        uint8_t ours[32], theirs[32];
        s3_sha256_out(&c, ours);
        br_sha256_context b;
        br_sha256_init(&b);
        br_sha256_update(&b, data, len);
        br_sha256_out(&b, theirs);
        cr_assert(memcmp(ours, theirs, 32) == 0, "length %zu differs (portable=%d)", len, portable);
    }
    free(data);
}

Test(sha256, portable_equals_bearssl) { against_bearssl(true); }
Test(sha256, accelerated_equals_bearssl) { against_bearssl(false); }

Test(sha256, empty_updates_with_null_data)
{
    struct s3_sha256 c;
    uint8_t d[32];
    char h[65];
    s3_sha256_init(&c);
    s3_sha256_update(&c, NULL, 0);
    s3_sha256_update(&c, "abc", 3);
    s3_sha256_update(&c, NULL, 0);
    s3_sha256_out(&c, d);
    hex(d, 32, h);
    cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, out_leaves_the_context_usable)
{
    struct s3_sha256 c;
    uint8_t d1[32], d2[32];
    s3_sha256_init(&c);
    s3_sha256_update(&c, "ab", 2);
    s3_sha256_out(&c, d1);
    s3_sha256_update(&c, "c", 1);
    s3_sha256_out(&c, d2);
    char h[65];
    hex(d2, 32, h);
    cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
