// fuzz-sources: src/tls_anchors.c src/err.c
/* fuzz_pem: the CA-bundle loader on arbitrary bytes: PEM blocks, base64, the X.509
 * reader and the trust-anchor store.
 *
 * Input: byte 0 = mode (bit 0: the rest is one DER certificate for tls_x509_parse;
 * else the rest is PEM text for the whole loader). Checks what must hold for any
 * input: every slice the reader hands out lies inside its input; decoded sizes fit
 * base64's 3/4; a loaded bundle has at least one anchor, each with a DER Name and a
 * key BearSSL can take (RSA without leading zero, EC uncompressed point of its
 * curve's size), all inside the bundle's own memory; the anchors plus the skipped
 * keys are exactly the certificate blocks; loading twice gives the same result. */
#include "fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "src/tls_anchors.h"

static void check(bool ok)
{
    if (!ok) __builtin_trap();
}

static void inside(struct tls_bytes b, const uint8_t *start, size_t size)
{
    if (b.ptr == NULL) {
        check(b.len == 0);
        return;
    }
    check(b.ptr >= start && b.len <= size && b.ptr + b.len <= start + size);
}

static void x509_check(const uint8_t *der, size_t size)
{
    struct tls_x509 x;
    struct lw_err err;
    if (!tls_x509_parse(der, size, &x, &err)) {
        check(err.code == TLS_ANCHORS_E_FORMAT && err.msg[0] != '\0');
        check(x.subject_dn.ptr == NULL && x.key_kind == TLS_KEY_UNSUPPORTED);
        return;
    }
    inside(x.subject_dn, der, size);
    inside(x.issuer_dn, der, size);
    inside(x.subject_cn, der, size);
    inside(x.issuer_cn, der, size);
    check(x.subject_dn.len >= 2 && x.subject_dn.ptr[0] == 0x30);
    check(x.key_name != NULL);
    uint32_t kept = x.dns_name_count < TLS_X509_NAMES_MAX ? x.dns_name_count : TLS_X509_NAMES_MAX;
    for (uint32_t i = 0; i < kept; i++) inside(x.dns_names[i], der, size);
    if (x.key_kind == TLS_KEY_RSA) {
        inside(x.rsa_n, der, size);
        inside(x.rsa_e, der, size);
        check(x.rsa_n.len > 0 && x.rsa_n.ptr[0] != 0 && x.rsa_e.len > 0 && x.rsa_e.ptr[0] != 0);
        check(x.key_bits > 0 && x.key_bits <= TLS_ANCHORS_RSA_BITS_MAX);
    } else if (x.key_kind == TLS_KEY_EC) {
        inside(x.ec_q, der, size);
        check(x.ec_q.len == 65 || x.ec_q.len == 97 || x.ec_q.len == 133);
        check(x.ec_q.ptr[0] == 0x04);
    }
    if (!x.has_basic_constraints) check(!x.is_ca);
    char t[48];
    tls_format_time(x.not_before_s, t, sizeof t);
    check(strlen(t) == 23);
    tls_format_time(x.not_after_s, t, sizeof t);
    check(strlen(t) == 23);
}

static uint8_t fuzz_der[TLS_CERT_DER_MAX_BYTES];

/* Walks the blocks on their own; returns the number of CERTIFICATE blocks that
 * decode and parse, or -1 if the walk fails (the loader must fail too). */
static long blocks_walk(const uint8_t *text, size_t size)
{
    struct tls_pem pem;
    struct tls_pem_block b;
    struct lw_err err;
    long certs = 0;
    bool failed = false;
    tls_pem_init(&pem, text, size);
    for (int guard = 0;; guard++) {
        check(guard <= (int)size + 1);
        enum tls_pem_result r = tls_pem_next(&pem, &b, &err);
        if (r == TLS_PEM_END) break;
        if (r == TLS_PEM_ERROR) {
            check(err.code == TLS_ANCHORS_E_FORMAT && strncmp(err.msg, "line ", 5) == 0);
            return -1;
        }
        inside(b.body, text, size);
        check(strlen(b.label) < TLS_PEM_LABEL_MAX);
        check(b.line_body > b.line_begin);
        size_t n = 0;
        bool decoded = tls_pem_decode(&b, fuzz_der, sizeof fuzz_der, &n, &err);
        if (decoded) check(n <= b.body.len / 4 * 3 + 3);
        bool cert = strcmp(b.label, "CERTIFICATE") == 0 || strcmp(b.label, "X509 CERTIFICATE") == 0;
        if (!cert) continue;
        if (!decoded) {
            failed = true;
            continue;
        }
        x509_check(fuzz_der, n);
        struct tls_x509 x;
        if (tls_x509_parse(fuzz_der, n, &x, NULL)) certs++;
        else failed = true;
    }
    return failed ? -1 : certs;
}

static void anchors_check(const struct tls_anchors *a)
{
    check(a->count > 0 && a->items == a->memory);
    const uint8_t *lo = (const uint8_t *)a->memory + a->count * sizeof(br_x509_trust_anchor);
    for (size_t i = 0; i < a->count; i++) {
        const br_x509_trust_anchor *ta = &a->items[i];
        check(ta->dn.len >= 2 && ta->dn.data >= lo && ta->dn.data[0] == 0x30);
        check(ta->flags == 0 || ta->flags == BR_X509_TA_CA);
        if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
            check(ta->pkey.key.rsa.nlen > 0 && ta->pkey.key.rsa.n[0] != 0);
            check(ta->pkey.key.rsa.elen > 0 && ta->pkey.key.rsa.e[0] != 0);
        } else {
            check(ta->pkey.key_type == BR_KEYTYPE_EC);
            size_t want = ta->pkey.key.ec.curve == BR_EC_secp256r1   ? 65
                          : ta->pkey.key.ec.curve == BR_EC_secp384r1 ? 97
                          : ta->pkey.key.ec.curve == BR_EC_secp521r1 ? 133
                                                                     : 0;
            check(want != 0 && ta->pkey.key.ec.qlen == want && ta->pkey.key.ec.q[0] == 0x04);
        }
    }
}

LW_FUZZ_ENTRY(pem)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    const uint8_t *rest = data + 1;
    size_t len = size - 1;
    if (mode & 1) {
        x509_check(rest, len);
        return 0;
    }
    long certs = blocks_walk(rest, len);
    struct tls_anchors a, b;
    struct lw_err err, err2;
    bool ok = tls_anchors_load_pem(&a, rest, len, "fuzz.pem", &err);
    bool ok2 = tls_anchors_load_pem(&b, rest, len, "fuzz.pem", &err2);
    check(ok == ok2);
    if (ok) {
        check(certs >= 1);
        anchors_check(&a);
        check((long)(a.count + a.skipped_key_count) == certs);
        check(a.count == b.count && a.skipped_key_count == b.skipped_key_count);
        for (size_t i = 0; i < a.count; i++) {
            check(a.items[i].dn.len == b.items[i].dn.len);
            check(memcmp(a.items[i].dn.data, b.items[i].dn.data, a.items[i].dn.len) == 0);
        }
    } else {
        check(err.code == err2.code && strcmp(err.msg, err2.msg) == 0);
        check(strncmp(err.msg, "fuzz.pem", 8) == 0);
        check(a.count == 0 && a.memory == NULL);
        /* A walk without errors and with certificates means only unusable keys. */
        if (certs > 0) check(err.code == TLS_ANCHORS_E_EMPTY || err.code == TLS_ANCHORS_E_LIMIT);
    }
    tls_anchors_free(&a);
    tls_anchors_free(&b);
    return 0;
}
