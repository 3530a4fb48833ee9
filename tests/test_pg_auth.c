/* pg_auth: MD5, HMAC-SHA-256 and PBKDF2 against BearSSL and RFC vectors (expected
 * values also checked with Python's hashlib), base64, the MD5 password, and SCRAM-SHA-256
 * with the RFC 7677 exchange, including every way a server's message can be refused. */
#include <bearssl.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "pg_auth.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* A deterministic byte pattern. */
static void pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

Test(pg_auth, md5_rfc1321_vectors)
{
    static const struct { const char *in, *out; } v[] = {
        { "", "d41d8cd98f00b204e9800998ecf8427e" },
        { "a", "0cc175b9c0f1b6a831c399e269772661" },
        { "abc", "900150983cd24fb0d6963f7d28e17f72" },
        { "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
        { "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
          "57edf4a22be3c955ac49da2e2107b67a" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct pg_md5 c;
        uint8_t d[16];
        char h[33];
        pg_md5_init(&c);
        pg_md5_update(&c, v[i].in, strlen(v[i].in));
        pg_md5_out(&c, d);
        hex(d, 16, h);
        cr_assert_str_eq(h, v[i].out, "md5(\"%s\")", v[i].in);
    }
}

Test(pg_auth, md5_matches_bearssl_at_every_length_and_split)
{
    uint8_t data[300];
    pattern(data, sizeof data, 7);
    for (size_t n = 0; n <= sizeof data; n++) {
        br_md5_context b;
        uint8_t want[16], got[16];
        br_md5_init(&b);
        br_md5_update(&b, data, n);
        br_md5_out(&b, want);
        struct pg_md5 c;
        pg_md5_init(&c);
        size_t split = n / 3;
        pg_md5_update(&c, data, split);
        pg_md5_update(&c, data + split, n - split);
        pg_md5_out(&c, got);
        cr_assert_eq(memcmp(want, got, 16), 0, "length %zu", n);
    }
}

static void hmac_bearssl(const void *key, size_t klen, const void *data, size_t n, uint8_t out[32])
{
    br_hmac_key_context kc;
    br_hmac_context hc;
    br_hmac_key_init(&kc, &br_sha256_vtable, key, klen);
    br_hmac_init(&hc, &kc, 0);
    br_hmac_update(&hc, data, n);
    br_hmac_out(&hc, out);
}

Test(pg_auth, hmac_sha256_rfc4231_and_bearssl)
{
    /* RFC 4231 test case 2 */
    struct pg_hmac_key k;
    uint8_t out[32];
    char h[65];
    pg_hmac_key_init(&k, "Jefe", 4);
    const char *data = "what do ya want for nothing?";
    pg_hmac_sha256(&k, data, strlen(data), out);
    hex(out, 32, h);
    cr_assert_str_eq(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    uint8_t key[200], msg[150];
    pattern(key, sizeof key, 1);
    pattern(msg, sizeof msg, 2);
    const size_t klens[] = { 0, 1, 31, 32, 63, 64, 65, 128, 200 };
    for (size_t i = 0; i < sizeof klens / sizeof klens[0]; i++) {
        for (size_t n = 0; n <= sizeof msg; n += 37) {
            uint8_t want[32];
            hmac_bearssl(key, klens[i], msg, n, want);
            pg_hmac_key_init(&k, key, klens[i]);
            pg_hmac_sha256(&k, msg, n, out);
            cr_assert_eq(memcmp(want, out, 32), 0, "key %zu bytes, message %zu bytes", klens[i], n);
        }
    }
}

static void pbkdf2_hex(const char *pw, const void *salt, size_t salt_len, uint32_t it, size_t dk_len, char *out)
{
    uint8_t dk[128];
    cr_assert(dk_len <= sizeof dk);
    pg_pbkdf2_sha256(pw, strlen(pw), salt, salt_len, it, dk, dk_len);
    hex(dk, dk_len, out);
}

Test(pg_auth, pbkdf2_sha256_vectors)
{
    char h[257];
    /* RFC 7914 section 11 */
    pbkdf2_hex("passwd", "salt", 4, 1, 64, h);
    cr_assert_str_eq(h, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    pbkdf2_hex("Password", "NaCl", 4, 80000, 64, h);
    cr_assert_str_eq(h, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
    /* the RFC 6070 inputs with SHA-256 (values from Python's hashlib.pbkdf2_hmac) */
    pbkdf2_hex("password", "salt", 4, 4096, 32, h);
    cr_assert_str_eq(h, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
    pbkdf2_hex("passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096, 40, h);
    cr_assert_str_eq(h, "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9");
    /* a key longer than a block, an empty salt, a partial second block */
    char longpw[101];
    memset(longpw, 'k', 100);
    longpw[100] = '\0';
    pbkdf2_hex(longpw, "", 0, 2, 33, h);
    cr_assert_str_eq(h, "c6240d6034800799638db95e360a5c988b1c16459b6ba73e6e7bcae79870d44d32");
}

Test(pg_auth, base64_round_trip_and_refusals)
{
    uint8_t data[40], back[40];
    pattern(data, sizeof data, 3);
    for (size_t n = 0; n <= sizeof data; n++) {
        char text[64];
        pg_base64_encode(data, n, text);
        size_t tl = pg_base64_len(n), bl = 0;
        cr_assert(pg_base64_decode(text, tl, back, sizeof back, &bl), "length %zu", n);
        cr_assert_eq(bl, n);
        cr_assert_eq(memcmp(data, back, n), 0);
    }
    char t[8];
    pg_base64_encode("n,,", 3, t);
    cr_assert_eq(memcmp(t, "biws", 4), 0);
    size_t bl;
    cr_assert_not(pg_base64_decode("abc", 3, back, sizeof back, &bl));      /* not a multiple of 4 */
    cr_assert_not(pg_base64_decode("ab=c", 4, back, sizeof back, &bl));     /* '=' in the middle */
    cr_assert_not(pg_base64_decode("a===", 4, back, sizeof back, &bl));     /* too much padding */
    cr_assert_not(pg_base64_decode("ab==cdef", 8, back, sizeof back, &bl)); /* padding before the end */
    cr_assert_not(pg_base64_decode("ab!d", 4, back, sizeof back, &bl));     /* bad character */
    cr_assert_not(pg_base64_decode("AAAAAAAA", 8, back, 5, &bl));           /* does not fit */
    cr_assert_not(pg_base64_decode("AB==", 4, back, sizeof back, &bl));     /* non-zero pad bits */
    cr_assert_not(pg_base64_decode("AAB=", 4, back, sizeof back, &bl));
    cr_assert(pg_base64_decode("AAAAAA==", 8, back, 4, &bl));
    cr_assert_eq(bl, 4);
}

Test(pg_auth, md5_password)
{
    char out[PG_MD5_PASSWORD_LEN + 1];
    const uint8_t salt[4] = { 1, 2, 3, 0xfe };
    pg_md5_password("lakewriter", "s3cr3t", 6, salt, out);
    /* "md5" + md5(md5("s3cr3tlakewriter").hexdigest() + salt) computed with hashlib */
    cr_assert_str_eq(out, "md51ccc98ab102d9c2863c4103b256793cc");
}

/* ------------------------------------------------------------------------- */
/* SCRAM-SHA-256: RFC 7677 section 3 */

#define RFC_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SERVER_FIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL \
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static void rfc_first(struct pg_scram *s)
{
    char out[256];
    size_t n = 0;
    struct lw_err e = { 0 };
    cr_assert(pg_scram_client_first(s, "user", RFC_NONCE, 0, out, sizeof out, &n, &e), "%s", e.msg);
    cr_assert_eq(n, strlen("n,,n=user,r=" RFC_NONCE));
    cr_assert_eq(memcmp(out, "n,,n=user,r=" RFC_NONCE, n), 0);
}

static bool rfc_final(struct pg_scram *s, const char *server_first, char *out, size_t *n, struct lw_err *e)
{
    return pg_scram_client_final(s, "pencil", 6, server_first, strlen(server_first), out, PG_SCRAM_CLIENT_FINAL_MAX,
                                 n, e);
}

Test(pg_auth, scram_rfc7677_exchange)
{
    struct pg_scram s;
    rfc_first(&s);
    char out[PG_SCRAM_CLIENT_FINAL_MAX];
    size_t n = 0;
    struct lw_err e = { 0 };
    cr_assert(rfc_final(&s, RFC_SERVER_FIRST, out, &n, &e), "%s", e.msg);
    cr_assert_eq(n, strlen(RFC_CLIENT_FINAL));
    cr_assert_eq(memcmp(out, RFC_CLIENT_FINAL, n), 0, "%.*s", (int)n, out);
    cr_assert_eq(s.iterations, 4096);
    cr_assert(pg_scram_verify_final(&s, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL), &e), "%s", e.msg);
    cr_assert_eq(s.state, PG_SCRAM_DONE);
}

Test(pg_auth, scram_wrong_server_signature_is_an_error)
{
    static const char *const bad[] = {
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G0=",  /* some bits off */
        "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  /* zeros */
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9",      /* short */
        "v=",                                               /* empty */
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=",  /* non-zero padding bits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pg_scram s;
        rfc_first(&s);
        char out[PG_SCRAM_CLIENT_FINAL_MAX];
        size_t n;
        struct lw_err e = { 0 };
        cr_assert(rfc_final(&s, RFC_SERVER_FIRST, out, &n, &e));
        bool ok = pg_scram_verify_final(&s, bad[i], strlen(bad[i]), &e);
        cr_assert_not(ok, "accepted %s", bad[i]);
        cr_assert_eq(s.state, PG_SCRAM_FAILED);
        if (i < 2) {
            cr_assert_eq(e.code, PG_AUTH_E_SERVER_PROOF);
            cr_assert(strstr(e.msg, "signature is wrong") != NULL, "%s", e.msg);
        }
    }
    /* a server error, and a server-final before client-final */
    struct pg_scram s;
    rfc_first(&s);
    char out[PG_SCRAM_CLIENT_FINAL_MAX];
    size_t n;
    struct lw_err e = { 0 };
    cr_assert(rfc_final(&s, RFC_SERVER_FIRST, out, &n, &e));
    cr_assert_not(pg_scram_verify_final(&s, "e=invalid-proof", 15, &e));
    cr_assert_eq(e.code, PG_AUTH_E_SERVER_PROOF);
    cr_assert(strstr(e.msg, "invalid-proof") != NULL, "%s", e.msg);
    rfc_first(&s);
    cr_assert_not(pg_scram_verify_final(&s, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL), &e));
}

Test(pg_auth, scram_refuses_bad_server_first)
{
    static const struct { const char *msg, *why; } bad[] = {
        { "m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "extension (m=)" },
        { "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend" },
        { "r=" RFC_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend" }, /* not longer */
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22Z*J0SNY7soEsUEjb6gQ==,i=4096", "salt" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096", "salt" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,i=4096", "no salt" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==", "no iteration" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "positive" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096", "positive" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=12x", "not a number" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999", "too large" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100001", "over the limit" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,", "malformed attribute" },
        { "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,=x", "malformed attribute" },
        { "r=rOprNGfwEbeRWgbNEkqO\x01z,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "printable" },
        { "", "nonce (r=)" },
        { "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOxyz,i=4096", "nonce (r=)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pg_scram s;
        rfc_first(&s);
        char out[PG_SCRAM_CLIENT_FINAL_MAX];
        size_t n;
        struct lw_err e = { 0 };
        cr_assert_not(rfc_final(&s, bad[i].msg, out, &n, &e), "accepted \"%s\"", bad[i].msg);
        cr_assert_eq(e.code, PG_AUTH_E_SCRAM);
        cr_assert(strstr(e.msg, bad[i].why) != NULL, "\"%s\": %s", bad[i].msg, e.msg);
        cr_assert_eq(s.state, PG_SCRAM_FAILED);
    }
    /* extensions after i= are ignored; a higher configured bound accepts more iterations */
    struct pg_scram s;
    char out[PG_SCRAM_CLIENT_FINAL_MAX];
    size_t n;
    struct lw_err e = { 0 };
    rfc_first(&s);
    cr_assert(rfc_final(&s, RFC_SERVER_FIRST ",x=whatever,Y=more", out, &n, &e), "%s", e.msg);
    cr_assert(pg_scram_client_first(&s, "", RFC_NONCE, 200000, out, sizeof out, &n, &e));
    cr_assert_eq(memcmp(out, "n,,n=,r=" RFC_NONCE, n), 0);
    struct pg_scram_server_first sf;
    cr_assert(pg_scram_parse_server_first("r=ab,s=AAAA,i=150000", 20, &sf, &e), "%s", e.msg);
    cr_assert_eq(sf.iterations, 150000);
    cr_assert_eq(sf.salt_len, 3);
}

Test(pg_auth, scram_client_first_escapes_user_and_checks_nonce)
{
    struct pg_scram s;
    char out[512];
    size_t n;
    struct lw_err e = { 0 };
    cr_assert(pg_scram_client_first(&s, "a=b,c", "xyz", 0, out, sizeof out, &n, &e));
    cr_assert_eq(memcmp(out, "n,,n=a=3Db=2Cc,r=xyz", n), 0, "%.*s", (int)n, out);
    cr_assert_not(pg_scram_client_first(&s, "", "", 0, out, sizeof out, &n, &e));
    cr_assert_not(pg_scram_client_first(&s, "", "a,b", 0, out, sizeof out, &n, &e));
    cr_assert_not(pg_scram_client_first(&s, "", "a b", 0, out, sizeof out, &n, &e));
    cr_assert_not(pg_scram_client_first(&s, "", "abc", 0, out, 5, &n, &e));
    char longuser[400];
    memset(longuser, 'u', sizeof longuser - 1);
    longuser[sizeof longuser - 1] = '\0';
    cr_assert_not(pg_scram_client_first(&s, longuser, "abc", 0, out, sizeof out, &n, &e));
    cr_assert(strstr(e.msg, "too long") != NULL);
}
