/* pg_auth: the arithmetic of PostgreSQL password authentication, pure and fuzzed.
 *
 *   MD5        "md5" || hex(md5( hex(md5(password || user)) || salt[4] ))
 *   SCRAM      SCRAM-SHA-256 (RFC 5802, RFC 7677), client side, no channel binding:
 *
 *     client                                              server
 *     client-first  "n,," "n=,r=<c-nonce>"           --->
 *                                                    <--- server-first
 *                                                         "r=<c-nonce><s-nonce>,s=<salt b64>,i=<iterations>"
 *     SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations)
 *     ClientKey = HMAC(SaltedPassword, "Client Key")   StoredKey = SHA-256(ClientKey)
 *     ServerKey = HMAC(SaltedPassword, "Server Key")
 *     AuthMessage = client-first-bare "," server-first "," client-final-without-proof
 *     ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)
 *     client-final  "c=biws,r=<nonce>,p=<proof b64>" --->
 *                                                    <--- server-final "v=<b64 HMAC(ServerKey, AuthMessage)>"
 *     the client checks v= in constant time: a server that cannot prove it knows the
 *     password (a wrong or missing signature, "e=...") is an error.
 *
 * "biws" is base64("n,,"): the client does not support channel binding (no
 * SCRAM-SHA-256-PLUS). The user name in client-first is empty, as libpq sends it:
 * the server takes the user from the StartupMessage. The password is used as given,
 * without SASLprep: for ASCII passwords SASLprep changes nothing; a non-ASCII password
 * that NFKC normalisation would change does not authenticate (the error says so).
 *
 * The iteration count comes from the server, so it is bounded (PG_SCRAM_ITERATIONS_MAX,
 * or a lower limit given to pg_scram_init): one PBKDF2 costs ~2 SHA-256 blocks per
 * iteration, about 5 ms for PostgreSQL's default of 4096 with the portable SHA-256.
 *
 * SHA-256 is s3/sha256.c's; HMAC, PBKDF2, MD5 and base64 are here (tested against
 * BearSSL's and against RFC vectors), so that the protocol core builds stand-alone in
 * the fuzzer. Secrets (the password, SaltedPassword, keys) are wiped once used. */
#ifndef LW_PG_AUTH_H
#define LW_PG_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "s3/sha256.h"

enum {
    PG_MD5_PASSWORD_LEN = 35,        /* "md5" + 32 hex digits, NUL not included */
    PG_SCRAM_NONCE_RAW_BYTES = 18,   /* client nonce: 18 random bytes -> 24 base64 chars */
    PG_SCRAM_NONCE_TEXT_MAX = 64,    /* longest client nonce text accepted */
    PG_SCRAM_MESSAGE_MAX = 1024,     /* longest server-first / server-final accepted */
    PG_SCRAM_SALT_BYTES_MAX = 256,   /* longest decoded salt */
    PG_SCRAM_ITERATIONS_MAX = 1000000, /* hard upper bound of a server's iteration count */
    PG_SCRAM_ITERATIONS_DEFAULT_MAX = 100000, /* default bound (PostgreSQL uses 4096) */
    PG_SCRAM_CLIENT_FINAL_MAX = PG_SCRAM_MESSAGE_MAX + 128,
};

/* lw_err codes of authentication failures (shared with pg_wire.h's). */
enum pg_auth_error {
    PG_AUTH_E_SCRAM = 210,   /* a malformed or unacceptable SCRAM message */
    PG_AUTH_E_SERVER_PROOF,  /* the server's signature is wrong, or it sent e= */
};

/* ------------------------------------------------------------------------- */
/* Hashes */

/* MD5 (RFC 1321), incremental. */
struct pg_md5 {
    uint32_t state[4];
    uint8_t buf[64];
    size_t buf_len;
    uint64_t total_bytes;
};

void pg_md5_init(struct pg_md5 *c);
void pg_md5_update(struct pg_md5 *c, const void *data, size_t len);
/* Writes the digest of everything given so far; `c` is left unchanged. */
void pg_md5_out(const struct pg_md5 *c, uint8_t out[16]);

/* HMAC-SHA-256 (RFC 2104) with the inner and outer pads hashed once: PBKDF2 copies
 * the two states for each of its iterations instead of rehashing the key. */
struct pg_hmac_key {
    struct s3_sha256 inner, outer;   /* after hashing key^ipad, key^opad */
};

/* Prepares `k` for `key` (any length: longer keys are hashed first). */
void pg_hmac_key_init(struct pg_hmac_key *k, const void *key, size_t key_len);

/* out = HMAC(k, data). */
void pg_hmac_sha256(const struct pg_hmac_key *k, const void *data, size_t len, uint8_t out[32]);

/* PBKDF2 (RFC 8018) with HMAC-SHA-256: `out_len` bytes (> 0) derived from the
 * password and salt with `iterations` (>= 1). */
void pg_pbkdf2_sha256(const void *password, size_t password_len, const void *salt, size_t salt_len,
                      uint32_t iterations, uint8_t *out, size_t out_len);

/* ------------------------------------------------------------------------- */
/* base64 (RFC 4648, standard alphabet, padded) */

/* Length of the encoding of `n` bytes. */
size_t pg_base64_len(size_t n);

/* Writes the encoding of `data` to `out` (pg_base64_len(n) bytes, no NUL). */
void pg_base64_encode(const void *data, size_t n, char *out);

/* Decodes exactly `n` characters of `text` (a multiple of 4, '=' padding only at the
 * end) into `out` (`cap` bytes); false if malformed or too long. */
bool pg_base64_decode(const char *text, size_t n, uint8_t *out, size_t cap, size_t *out_len);

/* ------------------------------------------------------------------------- */
/* MD5 password */

/* Writes "md5" + hex(md5(hex(md5(password || user)) || salt)) and a NUL into `out`. */
void pg_md5_password(const char *user, const void *password, size_t password_len,
                     const uint8_t salt[4], char out[PG_MD5_PASSWORD_LEN + 1]);

/* ------------------------------------------------------------------------- */
/* SCRAM-SHA-256 client */

enum pg_scram_state {
    PG_SCRAM_IDLE = 0,
    PG_SCRAM_FIRST_SENT,    /* client-first written: waiting for server-first */
    PG_SCRAM_FINAL_SENT,    /* client-final written: waiting for server-final */
    PG_SCRAM_DONE,          /* the server's signature checked */
    PG_SCRAM_FAILED,
};

/* One exchange, caller-owned (about 3 KiB). */
struct pg_scram {
    enum pg_scram_state state;
    uint32_t iterations_max;
    uint32_t iterations;                    /* what the server asked for */
    char client_first_bare[PG_SCRAM_NONCE_TEXT_MAX + 16 + 256]; /* "n=<user>,r=<nonce>" */
    size_t client_first_bare_len;
    size_t client_nonce_len;                /* the nonce is at the end of client_first_bare */
    char auth_message[PG_SCRAM_MESSAGE_MAX * 2 + 512];
    size_t auth_message_len;
    uint8_t server_signature[32];           /* the v= value we expect */
};

/* Starts an exchange: writes client-first ("n,,n=<user>,r=<nonce>") into `out`
 * (`cap` bytes) and sets *out_len. `nonce` is printable ASCII without ',' (1 to
 * PG_SCRAM_NONCE_TEXT_MAX chars; pg_wire uses 18 random bytes in base64); `user` is
 * escaped as RFC 5802 says ('=' -> "=3D", ',' -> "=2C"; PostgreSQL clients send "").
 * `iterations_max` bounds the server's count (0: PG_SCRAM_ITERATIONS_DEFAULT_MAX;
 * at most PG_SCRAM_ITERATIONS_MAX). False (code PG_AUTH_E_SCRAM) on a bad nonce or
 * user, or when `out` is too small. */
bool pg_scram_client_first(struct pg_scram *s, const char *user, const char *nonce,
                           uint32_t iterations_max, char *out, size_t cap, size_t *out_len,
                           struct lw_err *err);

/* Reads server-first (`msg`, `len` bytes: outside input, any bytes) and writes
 * client-final into `out` (`cap` >= PG_SCRAM_CLIENT_FINAL_MAX). Refused: a mandatory
 * extension (m=), a nonce that does not extend ours, a bad salt, an iteration count
 * of 0 or over the bound, anything malformed. */
bool pg_scram_client_final(struct pg_scram *s, const void *password, size_t password_len,
                           const void *msg, size_t len, char *out, size_t cap, size_t *out_len,
                           struct lw_err *err);

/* Reads server-final and checks the server's signature. False with code
 * PG_AUTH_E_SERVER_PROOF for a wrong signature or an "e=" error from the server,
 * PG_AUTH_E_SCRAM for anything malformed. */
bool pg_scram_verify_final(struct pg_scram *s, const void *msg, size_t len, struct lw_err *err);

/* Parses server-first alone (no crypto): the fuzzer's and the tests' entry.
 * On success the pointers point into `msg`. */
struct pg_scram_server_first {
    const char *nonce;
    size_t nonce_len;
    uint8_t salt[PG_SCRAM_SALT_BYTES_MAX];
    size_t salt_len;
    uint32_t iterations;
};
bool pg_scram_parse_server_first(const void *msg, size_t len, struct pg_scram_server_first *out,
                                 struct lw_err *err);

/* Wipes `n` bytes at `p` in a way the compiler keeps. */
void pg_auth_wipe(void *p, size_t n);

#endif
