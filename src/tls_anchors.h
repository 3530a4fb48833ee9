/* tls_anchors: the CA bundle (PEM) as BearSSL trust anchors, and the few X.509 fields
 * lakewriter reads from a certificate.
 *
 * Three layers, each usable alone, all pure (no I/O but tls_anchors_load_file), all
 * fed outside bytes and fuzzed together by fuzz/fuzz_pem.c:
 *
 *   tls_pem_next, tls_pem_decode   PEM text -> blocks (label, line) -> DER bytes
 *   tls_x509_parse                 DER certificate -> DNs, validity, public key,
 *                                  basicConstraints, subjectAltName dNSNames
 *   tls_anchors_load_*             a whole bundle -> an owned br_x509_trust_anchor array
 *
 * PEM (RFC 7468, the "lax" reading OpenSSL also accepts):
 *
 *     anything at all            <- text outside blocks is ignored (comments, junk)
 *     -----BEGIN CERTIFICATE-----    <- line 12: block starts, label "CERTIFICATE"
 *     MIIDdzCCAl+gAwIBAgIU...        <- base64, any line length, blanks ignored
 *     ...==                          <- '=' padding only at the end
 *     -----END CERTIFICATE-----      <- must repeat the label
 *
 * The X.509 reader is a small DER walker written for this purpose rather than
 * BearSSL's br_x509_decoder: it gives the fields error messages need (names, validity
 * dates, key type) and it builds stand-alone in the fuzzer. It reads, never judges:
 * signatures, dates and names are checked by BearSSL's x509_minimal during the
 * handshake, against the anchors built here.
 *
 *     Certificate  SEQUENCE {
 *       tbs        SEQUENCE { [0] version?, serial, sigAlg, issuer Name, validity
 *                             { notBefore, notAfter }, subject Name,
 *                             SubjectPublicKeyInfo { { algorithm OID, params }, BIT STRING },
 *                             [1]?, [2]?, [3] { Extension... }? }
 *       sigAlg, signature }
 *
 * Trust anchors. Each certificate of the bundle becomes one anchor: its subject DN
 * (the whole DER Name, as x509_minimal hashes it) and its key, copied into one
 * allocation owned by the struct. Supported keys: RSA up to 4096 bits, EC P-256,
 * P-384, P-521 (uncompressed points): what BearSSL can verify with. Others (Ed25519,
 * DSA, RSASSA-PSS, other curves, bigger RSA) are skipped and counted. Every anchor
 * gets BR_X509_TA_CA unless its basicConstraints says cA FALSE: a bundle is a list of
 * issuers, and a v1 root without extensions must still issue (a self-signed server
 * certificate in the bundle also works this way: its issuer DN is its own subject).
 * PEM blocks that are not certificates (keys, CRLs) are skipped and counted.
 *
 * Where the bundle comes from (tls_anchors_load_config): `ca_file` if set; else the
 * bundle built into the binary (see tls_anchors_embedded) if there is one; else the
 * system bundle TLS_ANCHORS_SYSTEM_FILE. */
#ifndef LW_TLS_ANCHORS_H
#define LW_TLS_ANCHORS_H

#include <bearssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TLS_ANCHORS_SYSTEM_FILE "/etc/ssl/certs/ca-certificates.crt"

enum {
    TLS_PEM_LABEL_MAX = 64,                /* longest label, NUL included */
    TLS_CERT_DER_MAX_BYTES = 64 * 1024,    /* largest certificate accepted */
    TLS_X509_NAMES_MAX = 8,                /* dNSNames kept for messages */
    TLS_ANCHORS_FILE_MAX_BYTES = 8 << 20,  /* largest bundle file */
    TLS_ANCHORS_COUNT_MAX = 4096,          /* certificates per bundle */
    TLS_ANCHORS_SOURCE_MAX = 512,          /* the name used in messages */
    TLS_ANCHORS_RSA_BITS_MAX = 4096,       /* BearSSL's BR_MAX_RSA_SIZE */
};

/* lw_err codes of the loaders. */
enum tls_anchors_error {
    TLS_ANCHORS_E_READ = 1,   /* the file cannot be read */
    TLS_ANCHORS_E_FORMAT,     /* broken PEM or a certificate that is not X.509 DER */
    TLS_ANCHORS_E_EMPTY,      /* no usable certificate */
    TLS_ANCHORS_E_LIMIT,      /* too big: file, certificate or count */
    TLS_ANCHORS_E_NO_MEMORY,
};

/* A slice of someone else's bytes. */
struct tls_bytes {
    const uint8_t *ptr;
    size_t len;
};

/* ------------------------------------------------------------------------- */
/* PEM */

/* A reader over PEM text, owned by the caller; the text must outlive it. */
struct tls_pem {
    const uint8_t *text;
    size_t size_bytes;
    size_t pos;        /* start of the next line */
    uint32_t line;     /* 1-based number of that line */
};

/* One block between BEGIN and END lines. `body` points into the text. */
struct tls_pem_block {
    char label[TLS_PEM_LABEL_MAX];  /* "CERTIFICATE" */
    uint32_t line_begin;            /* line of the BEGIN marker */
    uint32_t line_body;             /* line where the body starts */
    struct tls_bytes body;          /* the base64 lines, END line excluded */
};

enum tls_pem_result {
    TLS_PEM_ERROR = -1,  /* err is filled: "line 12: ..." */
    TLS_PEM_END = 0,     /* no more blocks */
    TLS_PEM_BLOCK = 1,   /* *block is filled */
};

/* Starts reading `text` (`size_bytes`, any bytes, no NUL needed). */
void tls_pem_init(struct tls_pem *pem, const void *text, size_t size_bytes);

/* Finds the next block. Errors: a BEGIN without END, an END that does not repeat the
 * label, a label that is too long. The body is not decoded here. */
enum tls_pem_result tls_pem_next(struct tls_pem *pem, struct tls_pem_block *block,
                                 struct lw_err *err);

/* Decodes the base64 body of `block` into `out` (`capacity_bytes`); on success
 * *size_bytes is the number of bytes written. False with "line N: ..." for a bad
 * character, misplaced padding or a truncated final group, and code
 * TLS_ANCHORS_E_LIMIT if the bytes do not fit. */
bool tls_pem_decode(const struct tls_pem_block *block, uint8_t *out, size_t capacity_bytes,
                    size_t *size_bytes, struct lw_err *err);

/* ------------------------------------------------------------------------- */
/* X.509 */

enum tls_key_kind {
    TLS_KEY_UNSUPPORTED = 0,  /* see tls_x509.key_name for which */
    TLS_KEY_RSA,
    TLS_KEY_EC,
};

/* What tls_x509_parse found. Every tls_bytes points into the DER given to it. */
struct tls_x509 {
    struct tls_bytes subject_dn;   /* the whole Name: tag, length and contents */
    struct tls_bytes issuer_dn;
    struct tls_bytes subject_cn;   /* the first commonName value (any string type) */
    struct tls_bytes issuer_cn;
    int64_t not_before_s;          /* Unix seconds (UTC) */
    int64_t not_after_s;

    enum tls_key_kind key_kind;
    const char *key_name;          /* static text: "RSA", "EC P-256", "Ed25519", ... */
    uint32_t key_bits;             /* RSA modulus / EC field size, 0 if unknown */
    struct tls_bytes rsa_n, rsa_e; /* unsigned big-endian, no leading zero */
    int ec_curve;                  /* BR_EC_secp256r1 ... */
    struct tls_bytes ec_q;         /* uncompressed point: 0x04 X Y */

    bool has_basic_constraints;
    bool is_ca;                    /* basicConstraints cA TRUE */
    uint32_t dns_name_count;       /* subjectAltName dNSNames (all of them) */
    struct tls_bytes dns_names[TLS_X509_NAMES_MAX]; /* the first ones */
    uint32_t ip_address_count;     /* subjectAltName iPAddresses */
};

/* Reads the certificate in `der` (exactly `size_bytes`: trailing bytes are an error).
 * An unknown key algorithm is not an error (key_kind TLS_KEY_UNSUPPORTED); malformed
 * DER is: false, code TLS_ANCHORS_E_FORMAT, message naming the part ("validity: bad
 * UTCTime"). */
bool tls_x509_parse(const uint8_t *der, size_t size_bytes, struct tls_x509 *x,
                    struct lw_err *err);

/* Writes `unix_s` as "2026-11-25 10:00:00 UTC" into `out` (>= 32 bytes); returns it. */
char *tls_format_time(int64_t unix_s, char *out, size_t capacity);

/* ------------------------------------------------------------------------- */
/* Trust anchors */

/* A loaded bundle. Owns its memory: release with tls_anchors_free. */
struct tls_anchors {
    br_x509_trust_anchor *items;   /* `count` anchors, pointing into `memory` */
    size_t count;
    size_t skipped_key_count;      /* certificates whose key BearSSL cannot use */
    size_t skipped_block_count;    /* PEM blocks that are not certificates */
    char source[TLS_ANCHORS_SOURCE_MAX]; /* file name, or "the embedded CA bundle" */
    void *memory;                  /* one allocation: the items, then DNs and keys */
};

/* Builds anchors from PEM text (not kept: everything is copied). `source` names it
 * in messages and in anchors->source. Errors name the source and the line:
 * "ca.pem:40: certificate 3: subjectPublicKeyInfo: ...". No usable certificate at all
 * is TLS_ANCHORS_E_EMPTY. On failure *anchors is empty (safe to free). */
bool tls_anchors_load_pem(struct tls_anchors *anchors, const void *pem, size_t size_bytes,
                          const char *source, struct lw_err *err);

/* Reads the file at `path` (at most TLS_ANCHORS_FILE_MAX_BYTES; start-up only: it
 * blocks) and loads it as above. */
bool tls_anchors_load_file(struct tls_anchors *anchors, const char *path, struct lw_err *err);

/* The configured bundle: `ca_file` if not empty, else the embedded bundle if the
 * binary has one, else TLS_ANCHORS_SYSTEM_FILE. */
bool tls_anchors_load_config(struct tls_anchors *anchors, const char *ca_file,
                             struct lw_err *err);

/* Releases the memory and empties the struct. */
void tls_anchors_free(struct tls_anchors *anchors);

/* The PEM bundle built into the binary, or NULL (*size_bytes = 0) when there is none.
 *
 * The build provides it by defining, in a generated C file linked into the program:
 *
 *     const unsigned char lw_embedded_ca_pem[] = { 0x2d, 0x2d, ... };
 *     const size_t lw_embedded_ca_pem_size = sizeof lw_embedded_ca_pem;
 *
 * Both are weak references here, so a binary built without them links and has none. */
const uint8_t *tls_anchors_embedded(size_t *size_bytes);

#endif
