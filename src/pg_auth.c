#include "pg_auth.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pg_auth_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n-- > 0) *v++ = 0;
}

/* ------------------------------------------------------------------------- */
/* MD5 (RFC 1321) */

static const uint32_t MD5_K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* Left rotations of each round, four per round. */
static const uint8_t MD5_S[16] = { 7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21 };

static uint32_t rotl32(uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

static void md5_block(uint32_t st[4], const uint8_t *p)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    for (unsigned i = 0; i < 64; i++) {
        uint32_t f;
        unsigned g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        uint32_t t = d;
        d = c;
        c = b;
        b = b + rotl32(a + f + MD5_K[i] + m[g], MD5_S[(i / 16) * 4 + i % 4]);
        a = t;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

void pg_md5_init(struct pg_md5 *c)
{
    assert(c != NULL);
    c->state[0] = 0x67452301;
    c->state[1] = 0xefcdab89;
    c->state[2] = 0x98badcfe;
    c->state[3] = 0x10325476;
    c->buf_len = 0;
    c->total_bytes = 0;
}

void pg_md5_update(struct pg_md5 *c, const void *data, size_t len)
{
    assert(c != NULL && (data != NULL || len == 0));
    const uint8_t *p = data;
    c->total_bytes += len;
    while (len > 0) {
        size_t take = 64 - c->buf_len;
        if (take > len) take = len;
        memcpy(c->buf + c->buf_len, p, take);
        c->buf_len += take;
        p += take;
        len -= take;
        if (c->buf_len == 64) {
            md5_block(c->state, c->buf);
            c->buf_len = 0;
        }
    }
}

void pg_md5_out(const struct pg_md5 *c, uint8_t out[16])
{
    assert(c != NULL && out != NULL);
    struct pg_md5 t = *c;
    uint64_t bits = t.total_bytes * 8;
    static const uint8_t pad[64] = { 0x80 };
    size_t pad_len = t.buf_len < 56 ? 56 - t.buf_len : 120 - t.buf_len;
    pg_md5_update(&t, pad, pad_len);
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (uint8_t)(bits >> (8 * i));
    pg_md5_update(&t, len_le, 8);
    assert(t.buf_len == 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(t.state[i] >> (8 * j));
    pg_auth_wipe(&t, sizeof t);
}

/* ------------------------------------------------------------------------- */
/* HMAC-SHA-256 and PBKDF2 */

void pg_hmac_key_init(struct pg_hmac_key *k, const void *key, size_t key_len)
{
    assert(k != NULL && (key != NULL || key_len == 0));
    uint8_t block[64] = { 0 };
    if (key_len > sizeof block) {
        struct s3_sha256 h;
        s3_sha256_init(&h);
        s3_sha256_update(&h, key, key_len);
        s3_sha256_out(&h, block);
    } else if (key_len > 0) {
        memcpy(block, key, key_len);
    }
    uint8_t pad[64];
    for (size_t i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
    s3_sha256_init(&k->inner);
    s3_sha256_update(&k->inner, pad, 64);
    for (size_t i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
    s3_sha256_init(&k->outer);
    s3_sha256_update(&k->outer, pad, 64);
    pg_auth_wipe(block, sizeof block);
    pg_auth_wipe(pad, sizeof pad);
}

void pg_hmac_sha256(const struct pg_hmac_key *k, const void *data, size_t len, uint8_t out[32])
{
    assert(k != NULL && out != NULL);
    struct s3_sha256 h = k->inner;
    uint8_t inner[32];
    s3_sha256_update(&h, data, len);
    s3_sha256_out(&h, inner);
    h = k->outer;
    s3_sha256_update(&h, inner, sizeof inner);
    s3_sha256_out(&h, out);
    pg_auth_wipe(inner, sizeof inner);
    pg_auth_wipe(&h, sizeof h);
}

/*   T_i = U_1 ^ U_2 ^ ... ^ U_c    U_1 = HMAC(P, S || INT_BE32(i))    U_j = HMAC(P, U_j-1)
 *   DK  = T_1 || T_2 || ...   (cut to out_len) */
void pg_pbkdf2_sha256(const void *password, size_t password_len, const void *salt, size_t salt_len,
                      uint32_t iterations, uint8_t *out, size_t out_len)
{
    assert(iterations >= 1 && out != NULL && out_len > 0);
    assert(salt != NULL || salt_len == 0);
    struct pg_hmac_key key;
    pg_hmac_key_init(&key, password, password_len);
    for (uint32_t block = 1; out_len > 0; block++) {
        uint8_t be[4] = { (uint8_t)(block >> 24), (uint8_t)(block >> 16), (uint8_t)(block >> 8),
                          (uint8_t)block };
        struct s3_sha256 h = key.inner;
        s3_sha256_update(&h, salt, salt_len);
        s3_sha256_update(&h, be, 4);
        uint8_t u[32], t[32];
        s3_sha256_out(&h, u);
        h = key.outer;
        s3_sha256_update(&h, u, 32);
        s3_sha256_out(&h, u);
        memcpy(t, u, 32);
        for (uint32_t i = 1; i < iterations; i++) {
            pg_hmac_sha256(&key, u, 32, u);
            for (int j = 0; j < 32; j++) t[j] ^= u[j];
        }
        size_t take = out_len < 32 ? out_len : 32;
        memcpy(out, t, take);
        out += take;
        out_len -= take;
        pg_auth_wipe(u, sizeof u);
        pg_auth_wipe(t, sizeof t);
        pg_auth_wipe(&h, sizeof h);
    }
    pg_auth_wipe(&key, sizeof key);
}

/* ------------------------------------------------------------------------- */
/* base64 */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t pg_base64_len(size_t n) { return (n + 2) / 3 * 4; }

void pg_base64_encode(const void *data, size_t n, char *out)
{
    assert(data != NULL || n == 0);
    const uint8_t *p = data;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool pg_base64_decode(const char *text, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    assert(out_len != NULL && (text != NULL || n == 0));
    *out_len = 0;
    if (n % 4 != 0) return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        bool last = i + 4 == n;
        int v[4];
        int pads = 0;
        for (int j = 0; j < 4; j++) {
            char c = text[i + j];
            if (c == '=' && last && j >= 2) {
                pads++;
                v[j] = 0;
                continue;
            }
            if (pads > 0) return false;   /* a character after '=' */
            v[j] = b64_value(c);
            if (v[j] < 0) return false;
        }
        if ((pads == 1 && (v[2] & 3) != 0) || (pads == 2 && (v[1] & 15) != 0)) return false; /* non-zero pad bits */
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t bytes = 3 - (size_t)pads;
        if (o + bytes > cap) return false;
        out[o++] = (uint8_t)(w >> 16);
        if (bytes > 1) out[o++] = (uint8_t)(w >> 8);
        if (bytes > 2) out[o++] = (uint8_t)w;
    }
    *out_len = o;
    return true;
}

/* ------------------------------------------------------------------------- */
/* MD5 password */

static void hex_lower(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
}

void pg_md5_password(const char *user, const void *password, size_t password_len,
                     const uint8_t salt[4], char out[PG_MD5_PASSWORD_LEN + 1])
{
    assert(user != NULL && (password != NULL || password_len == 0) && salt != NULL);
    struct pg_md5 c;
    uint8_t d[16];
    char inner_hex[32];
    pg_md5_init(&c);
    pg_md5_update(&c, password, password_len);
    pg_md5_update(&c, user, strlen(user));
    pg_md5_out(&c, d);
    hex_lower(d, 16, inner_hex);
    pg_md5_init(&c);
    pg_md5_update(&c, inner_hex, 32);
    pg_md5_update(&c, salt, 4);
    pg_md5_out(&c, d);
    memcpy(out, "md5", 3);
    hex_lower(d, 16, out + 3);
    out[PG_MD5_PASSWORD_LEN] = '\0';
    pg_auth_wipe(&c, sizeof c);
    pg_auth_wipe(d, sizeof d);
    pg_auth_wipe(inner_hex, sizeof inner_hex);
}

/* ------------------------------------------------------------------------- */
/* SCRAM-SHA-256 */

static bool scram_fail(struct pg_scram *s, struct lw_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Marks the exchange failed and fills `err`; returns false. */
static bool scram_fail(struct pg_scram *s, struct lw_err *err, int code, const char *fmt, ...)
{
    s->state = PG_SCRAM_FAILED;
    if (err == NULL) return false;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return false;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E (no ','). */
static bool scram_printable(char c) { return c >= 0x21 && c <= 0x7e && c != ','; }

bool pg_scram_client_first(struct pg_scram *s, const char *user, const char *nonce,
                           uint32_t iterations_max, char *out, size_t cap, size_t *out_len,
                           struct lw_err *err)
{
    assert(s != NULL && user != NULL && nonce != NULL && out != NULL && out_len != NULL);
    memset(s, 0, sizeof *s);
    if (iterations_max == 0) iterations_max = PG_SCRAM_ITERATIONS_DEFAULT_MAX;
    if (iterations_max > PG_SCRAM_ITERATIONS_MAX) iterations_max = PG_SCRAM_ITERATIONS_MAX;
    s->iterations_max = iterations_max;
    size_t nonce_len = strlen(nonce);
    if (nonce_len == 0 || nonce_len > PG_SCRAM_NONCE_TEXT_MAX)
        return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: the client nonce must be 1..64 characters");
    for (size_t i = 0; i < nonce_len; i++)
        if (!scram_printable(nonce[i]))
            return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: the client nonce has a byte that is not printable ASCII");

    /* client-first-bare = "n=" saslname ",r=" nonce */
    char *b = s->client_first_bare;
    size_t n = 0, bcap = sizeof s->client_first_bare;
    memcpy(b, "n=", 2);
    n = 2;
    for (const char *u = user; *u != '\0'; u++) {
        const char *piece = *u == '=' ? "=3D" : *u == ',' ? "=2C" : NULL;
        size_t plen = piece != NULL ? 3 : 1;
        if (n + plen + 3 + nonce_len >= bcap)
            return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: the user name is too long");
        if (piece != NULL) memcpy(b + n, piece, 3);
        else b[n] = *u;
        n += plen;
    }
    memcpy(b + n, ",r=", 3);
    n += 3;
    memcpy(b + n, nonce, nonce_len);
    n += nonce_len;
    s->client_first_bare_len = n;
    s->client_nonce_len = nonce_len;

    /* client-first = gs2-header ("n,,": no channel binding, no authzid) client-first-bare */
    if (3 + n > cap) return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: no room for client-first");
    memcpy(out, "n,,", 3);
    memcpy(out + 3, b, n);
    *out_len = 3 + n;
    s->state = PG_SCRAM_FIRST_SENT;
    return true;
}

/* server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
 *                        "r=" c-nonce s-nonce   "s=" base64   "i=" posit-number */
bool pg_scram_parse_server_first(const void *msg, size_t len, struct pg_scram_server_first *out,
                                 struct lw_err *err)
{
    assert(out != NULL && (msg != NULL || len == 0));
    memset(out, 0, sizeof *out);
    const char *m = msg;
    if (len > PG_SCRAM_MESSAGE_MAX)
        return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: server-first is %zu bytes, over the limit of %d", len,
                          PG_SCRAM_MESSAGE_MAX);
    if (len >= 2 && m[0] == 'm' && m[1] == '=')
        return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: the server requires an extension (m=) this client does not know");
    size_t i = 0;
    /* r= */
    if (len < 2 || m[0] != 'r' || m[1] != '=')
        return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: server-first does not start with the nonce (r=)");
    i = 2;
    size_t start = i;
    while (i < len && m[i] != ',') {
        if (!scram_printable(m[i]))
            return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: the server nonce has a byte that is not printable ASCII");
        i++;
    }
    out->nonce = m + start;
    out->nonce_len = i - start;
    if (out->nonce_len == 0) return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: the server nonce is empty");
    /* ,s= */
    if (i + 3 > len || m[i] != ',' || m[i + 1] != 's' || m[i + 2] != '=')
        return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: server-first has no salt (s=) after the nonce");
    i += 3;
    start = i;
    while (i < len && m[i] != ',') i++;
    if (i == start || !pg_base64_decode(m + start, i - start, out->salt, sizeof out->salt, &out->salt_len) ||
        out->salt_len == 0)
        return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: the salt is not base64 of 1..%d bytes", PG_SCRAM_SALT_BYTES_MAX);
    /* ,i= */
    if (i + 3 > len || m[i] != ',' || m[i + 1] != 'i' || m[i + 2] != '=')
        return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: server-first has no iteration count (i=) after the salt");
    i += 3;
    start = i;
    uint64_t it = 0;
    while (i < len && m[i] >= '0' && m[i] <= '9') {
        it = it * 10 + (uint64_t)(m[i] - '0');
        if (it > UINT32_MAX)
            return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: the iteration count is too large");
        i++;
    }
    if (i == start || m[start] == '0')
        return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: the iteration count is not a positive number");
    if (i < len && m[i] != ',')
        return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: the iteration count is not a number");
    /* Extensions: each ",x=..." with a letter name; their values are ignored. */
    while (i < len) {
        assert(m[i] == ',');
        i++;
        if (i + 2 > len || !((m[i] >= 'a' && m[i] <= 'z') || (m[i] >= 'A' && m[i] <= 'Z')) || m[i + 1] != '=')
            return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: a malformed attribute after the iteration count");
        i += 2;
        while (i < len && m[i] != ',') {
            if (m[i] == '\0') return lw_err_set(err, PG_AUTH_E_SCRAM, "SCRAM: a NUL byte in server-first");
            i++;
        }
    }
    out->iterations = (uint32_t)it;
    return true;
}

static bool auth_message_append(struct pg_scram *s, const char *p, size_t n)
{
    if (s->auth_message_len + n > sizeof s->auth_message) return false;
    memcpy(s->auth_message + s->auth_message_len, p, n);
    s->auth_message_len += n;
    return true;
}

bool pg_scram_client_final(struct pg_scram *s, const void *password, size_t password_len,
                           const void *msg, size_t len, char *out, size_t cap, size_t *out_len,
                           struct lw_err *err)
{
    assert(s != NULL && out != NULL && out_len != NULL && (password != NULL || password_len == 0));
    if (s->state != PG_SCRAM_FIRST_SENT)
        return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: server-first arrived out of order");
    struct pg_scram_server_first sf;
    if (!pg_scram_parse_server_first(msg, len, &sf, err)) {
        s->state = PG_SCRAM_FAILED;
        return false;
    }
    const char *client_nonce = s->client_first_bare + s->client_first_bare_len - s->client_nonce_len;
    if (sf.nonce_len <= s->client_nonce_len || memcmp(sf.nonce, client_nonce, s->client_nonce_len) != 0)
        return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: the server nonce does not extend the client's");
    if (sf.iterations > s->iterations_max) {
        s->state = PG_SCRAM_FAILED;
        return lw_err_set(err, PG_AUTH_E_SCRAM,
                          "SCRAM: the server asks for %u PBKDF2 iterations, over the limit of %u "
                          "(PostgreSQL's scram_iterations; the limit protects the event loop)",
                          sf.iterations, s->iterations_max);
    }
    s->iterations = sf.iterations;

    /* client-final-message-without-proof = "c=biws,r=" nonce */
    size_t need = 9 + sf.nonce_len + 3 + pg_base64_len(32);
    if (need > cap) return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: no room for client-final");
    size_t n = 0;
    memcpy(out, "c=biws,r=", 9);
    n = 9;
    memcpy(out + n, sf.nonce, sf.nonce_len);
    n += sf.nonce_len;

    s->auth_message_len = 0;
    if (!auth_message_append(s, s->client_first_bare, s->client_first_bare_len) ||
        !auth_message_append(s, ",", 1) || !auth_message_append(s, msg, len) ||
        !auth_message_append(s, ",", 1) || !auth_message_append(s, out, n))
        return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: the messages are too long");

    uint8_t salted[32], client_key[32], stored_key[32], client_sig[32], server_key[32];
    pg_pbkdf2_sha256(password, password_len, sf.salt, sf.salt_len, sf.iterations, salted, 32);
    struct pg_hmac_key k;
    pg_hmac_key_init(&k, salted, 32);
    pg_hmac_sha256(&k, "Client Key", 10, client_key);
    pg_hmac_sha256(&k, "Server Key", 10, server_key);
    struct s3_sha256 h;
    s3_sha256_init(&h);
    s3_sha256_update(&h, client_key, 32);
    s3_sha256_out(&h, stored_key);
    pg_hmac_key_init(&k, stored_key, 32);
    pg_hmac_sha256(&k, s->auth_message, s->auth_message_len, client_sig);
    pg_hmac_key_init(&k, server_key, 32);
    pg_hmac_sha256(&k, s->auth_message, s->auth_message_len, s->server_signature);
    uint8_t proof[32];
    for (int i = 0; i < 32; i++) proof[i] = client_key[i] ^ client_sig[i];

    memcpy(out + n, ",p=", 3);
    n += 3;
    pg_base64_encode(proof, 32, out + n);
    n += pg_base64_len(32);
    assert(n == need);
    *out_len = n;
    pg_auth_wipe(salted, sizeof salted);
    pg_auth_wipe(client_key, sizeof client_key);
    pg_auth_wipe(stored_key, sizeof stored_key);
    pg_auth_wipe(client_sig, sizeof client_sig);
    pg_auth_wipe(server_key, sizeof server_key);
    pg_auth_wipe(proof, sizeof proof);
    pg_auth_wipe(&k, sizeof k);
    s->state = PG_SCRAM_FINAL_SENT;
    return true;
}

/* server-final-message = (server-error / verifier) ["," extensions]
 *                        "e=" text                "v=" base64 */
bool pg_scram_verify_final(struct pg_scram *s, const void *msg, size_t len, struct lw_err *err)
{
    assert(s != NULL && (msg != NULL || len == 0));
    const char *m = msg;
    if (s->state != PG_SCRAM_FINAL_SENT)
        return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: server-final arrived out of order");
    if (len > PG_SCRAM_MESSAGE_MAX)
        return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: server-final is too long");
    size_t end = 0;
    while (end < len && m[end] != ',') end++;
    if (len >= 2 && m[0] == 'e' && m[1] == '=') {
        char text[128];
        size_t n = 0;
        for (size_t i = 2; i < end && n + 1 < sizeof text; i++)
            text[n++] = (m[i] >= 0x20 && m[i] < 0x7f) ? m[i] : '?';
        text[n] = '\0';
        return scram_fail(s, err, PG_AUTH_E_SERVER_PROOF, "SCRAM: the server reports an error: %s", text);
    }
    if (len < 2 || m[0] != 'v' || m[1] != '=')
        return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: server-final has no verifier (v=)");
    uint8_t sig[PG_SCRAM_MESSAGE_MAX];
    size_t sig_len = 0;
    if (!pg_base64_decode(m + 2, end - 2, sig, sizeof sig, &sig_len))
        return scram_fail(s, err, PG_AUTH_E_SCRAM, "SCRAM: the server signature is not base64");
    uint8_t diff = sig_len == 32 ? 0 : 1;
    for (size_t i = 0; i < 32; i++) diff |= (uint8_t)((i < sig_len ? sig[i] : 0) ^ s->server_signature[i]);
    pg_auth_wipe(s->server_signature, sizeof s->server_signature);
    if (diff != 0)
        return scram_fail(s, err, PG_AUTH_E_SERVER_PROOF,
                          "SCRAM: the server's signature is wrong: it does not know the password "
                          "(a server impersonating the real one?)");
    s->state = PG_SCRAM_DONE;
    return true;
}
