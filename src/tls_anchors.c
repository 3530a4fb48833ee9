/* tls_anchors: PEM, a small X.509 reader and the trust-anchor store. See tls_anchors.h. */
#include "tls_anchors.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- */
/* PEM */

void tls_pem_init(struct tls_pem *pem, const void *text, size_t size_bytes)
{
    assert(text != NULL || size_bytes == 0);
    pem->text = text;
    pem->size_bytes = size_bytes;
    pem->pos = 0;
    pem->line = 1;
}

static bool is_blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The next line without its end-of-line and trailing blanks; false at the end. */
static bool line_next(struct tls_pem *pem, struct tls_bytes *line, uint32_t *number)
{
    if (pem->pos >= pem->size_bytes) return false;
    const uint8_t *start = pem->text + pem->pos;
    size_t rest = pem->size_bytes - pem->pos;
    const uint8_t *nl = memchr(start, '\n', rest);
    size_t len = nl != NULL ? (size_t)(nl - start) : rest;
    pem->pos += nl != NULL ? len + 1 : len;
    *number = pem->line++;
    while (len > 0 && is_blank(start[len - 1])) len--;
    size_t lead = 0;
    while (lead < len && is_blank(start[lead])) lead++;
    line->ptr = start + lead;
    line->len = len - lead;
    return true;
}

/* If `line` is "-----<word> LABEL-----", the label; else false. */
static bool marker(struct tls_bytes line, const char *word, struct tls_bytes *label)
{
    static const char dashes[] = "-----";
    size_t wlen = strlen(word);
    size_t fixed = 5 + wlen + 1 + 5;
    if (line.len < fixed) return false;
    if (memcmp(line.ptr, dashes, 5) != 0 || memcmp(line.ptr + 5, word, wlen) != 0) return false;
    if (line.ptr[5 + wlen] != ' ') return false;
    if (memcmp(line.ptr + line.len - 5, dashes, 5) != 0) return false;
    label->ptr = line.ptr + 5 + wlen + 1;
    label->len = line.len - fixed;
    return true;
}

/* The label for a message: printable ASCII only, cut at 40 characters. */
static void label_text(struct tls_bytes label, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < label.len && n + 1 < cap && i < 40; i++)
        out[n++] = label.ptr[i] >= 0x20 && label.ptr[i] < 0x7f ? (char)label.ptr[i] : '?';
    out[n] = '\0';
}

enum tls_pem_result tls_pem_next(struct tls_pem *pem, struct tls_pem_block *block,
                                 struct lw_err *err)
{
    struct tls_bytes line, label;
    uint32_t number;
    for (;;) {
        if (!line_next(pem, &line, &number)) return TLS_PEM_END;
        if (marker(line, "BEGIN", &label)) break;
    }
    char text[48];
    label_text(label, text, sizeof text);
    if (label.len >= TLS_PEM_LABEL_MAX) {
        lw_err_set(err, TLS_ANCHORS_E_FORMAT, "line %u: PEM label '%s...' is too long",
                   (unsigned)number, text);
        return TLS_PEM_ERROR;
    }
    memcpy(block->label, label.ptr, label.len);
    block->label[label.len] = '\0';
    block->line_begin = number;
    block->line_body = pem->line;
    size_t body_start = pem->pos;
    for (;;) {
        size_t line_start = pem->pos;
        if (!line_next(pem, &line, &number)) {
            lw_err_set(err, TLS_ANCHORS_E_FORMAT,
                       "line %u: '-----BEGIN %s-----' has no END line", (unsigned)block->line_begin,
                       text);
            return TLS_PEM_ERROR;
        }
        struct tls_bytes end_label;
        if (marker(line, "END", &end_label)) {
            if (end_label.len != label.len || memcmp(end_label.ptr, label.ptr, label.len) != 0) {
                char end_text[48];
                label_text(end_label, end_text, sizeof end_text);
                lw_err_set(err, TLS_ANCHORS_E_FORMAT,
                           "line %u: '-----END %s-----' does not close '-----BEGIN %s-----' of line %u",
                           (unsigned)number, end_text, text, (unsigned)block->line_begin);
                return TLS_PEM_ERROR;
            }
            block->body.ptr = pem->text + body_start;
            block->body.len = line_start - body_start;
            return TLS_PEM_BLOCK;
        }
        if (marker(line, "BEGIN", &end_label)) {
            lw_err_set(err, TLS_ANCHORS_E_FORMAT,
                       "line %u: a new BEGIN line, but '-----BEGIN %s-----' of line %u has no END line",
                       (unsigned)number, text, (unsigned)block->line_begin);
            return TLS_PEM_ERROR;
        }
    }
}

/* The 6-bit value of a base64 character, or -1. */
static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool tls_pem_decode(const struct tls_pem_block *block, uint8_t *out, size_t capacity_bytes,
                    size_t *size_bytes, struct lw_err *err)
{
    uint32_t line = block->line_body;
    uint32_t group = 0;     /* bits collected, 6 per character */
    unsigned in_group = 0;  /* characters of the current group of 4 */
    unsigned pads = 0;      /* '=' seen: then only more '=' may follow */
    size_t n = 0;
    for (size_t i = 0; i < block->body.len; i++) {
        uint8_t c = block->body.ptr[i];
        if (c == '\n') {
            line++;
            continue;
        }
        if (is_blank(c)) continue;
        if (c == '=') {
            /* "xx==" or "xxx=": padding completes the group, at least 2 data chars. */
            if (in_group < 2 && pads == 0) {
                return lw_err_set(err, TLS_ANCHORS_E_FORMAT, "line %u: misplaced '=' in base64",
                                  (unsigned)line);
            }
            pads++;
            in_group++;
            if (in_group == 4) {
                in_group = 0;
                /* the data characters of this group are already out */
            }
            continue;
        }
        int v = b64_value(c);
        if (v < 0) {
            const uint8_t *eol = memchr(block->body.ptr + i, '\n', block->body.len - i);
            size_t rest = eol != NULL ? (size_t)(eol - (block->body.ptr + i)) : block->body.len - i;
            if (memchr(block->body.ptr + i, ':', rest) != NULL) {
                return lw_err_set(err, TLS_ANCHORS_E_FORMAT,
                                  "line %u: PEM headers (encrypted or annotated blocks) are not supported",
                                  (unsigned)line);
            }
            return lw_err_set(err, TLS_ANCHORS_E_FORMAT,
                              "line %u: byte 0x%02x is not base64", (unsigned)line, (unsigned)c);
        }
        if (pads > 0) {
            return lw_err_set(err, TLS_ANCHORS_E_FORMAT, "line %u: base64 data after '=' padding",
                              (unsigned)line);
        }
        group = group << 6 | (uint32_t)v;
        in_group++;
        /* Emit a byte whenever 8 bits are complete: after chars 2, 3 and 4. */
        if (in_group >= 2) {
            if (n == capacity_bytes) {
                return lw_err_set(err, TLS_ANCHORS_E_LIMIT, "line %u: the block is larger than %zu bytes",
                                  (unsigned)line, capacity_bytes);
            }
            unsigned shift = (unsigned)(4 - in_group) * 2; /* 4, 2, 0 bits left over */
            out[n++] = (uint8_t)(group >> shift);
            group &= (1u << shift) - 1;
        }
        if (in_group == 4) in_group = 0;
    }
    if (in_group != 0) {
        return lw_err_set(err, TLS_ANCHORS_E_FORMAT,
                          "line %u: base64 ends in the middle of a group (missing '=' padding?)",
                          (unsigned)line);
    }
    if (pads > 2) {
        return lw_err_set(err, TLS_ANCHORS_E_FORMAT, "line %u: too much '=' padding", (unsigned)line);
    }
    *size_bytes = n;
    return true;
}

/* ------------------------------------------------------------------------- */
/* DER */

/* A cursor over DER: [p, end). */
struct der {
    const uint8_t *p, *end;
};

/* One element: its tag, where it starts (the tag byte) and its contents. */
struct der_elt {
    unsigned tag;
    const uint8_t *start;
    const uint8_t *val;
    size_t len;
};

enum {
    DER_BOOLEAN = 0x01, DER_INTEGER = 0x02, DER_BIT_STRING = 0x03, DER_OCTET_STRING = 0x04,
    DER_NULL = 0x05, DER_OID = 0x06, DER_UTC_TIME = 0x17, DER_GENERALIZED_TIME = 0x18,
    DER_SEQUENCE = 0x30, DER_SET = 0x31,
    DER_CTX0 = 0xa0, DER_CTX3 = 0xa3, /* [0] and [3], constructed */
    DER_SAN_DNS = 0x82, DER_SAN_IP = 0x87, /* [2] and [7], implicit primitive */
};

static struct der der_of(const struct der_elt *e) { return (struct der){ e->val, e->val + e->len }; }

/* Reads the next element. Definite lengths only (DER), at most 3 length bytes. */
static bool der_read(struct der *d, struct der_elt *e)
{
    const uint8_t *p = d->p;
    if (p >= d->end) return false;
    e->start = p;
    e->tag = *p++;
    if ((e->tag & 0x1f) == 0x1f) return false; /* high tag numbers: not in certificates */
    if (p >= d->end) return false;
    size_t len = *p++;
    if (len & 0x80) {
        size_t count = len & 0x7f;
        if (count == 0 || count > 3 || (size_t)(d->end - p) < count) return false;
        len = 0;
        for (size_t i = 0; i < count; i++) len = len << 8 | *p++;
    }
    if ((size_t)(d->end - p) < len) return false;
    e->val = p;
    e->len = len;
    d->p = p + len;
    return true;
}

static bool der_expect(struct der *d, unsigned tag, struct der_elt *e)
{
    struct der save = *d;
    if (der_read(d, e) && e->tag == tag) return true;
    *d = save;
    return false;
}

static bool der_at(const struct der *d, unsigned tag) { return d->p < d->end && *d->p == tag; }

static bool der_done(const struct der *d) { return d->p == d->end; }

static struct tls_bytes whole(const struct der_elt *e)
{
    return (struct tls_bytes){ e->start, (size_t)(e->val + e->len - e->start) };
}

static bool oid_is(const struct der_elt *e, const uint8_t *oid, size_t len)
{
    return e->tag == DER_OID && e->len == len && memcmp(e->val, oid, len) == 0;
}
#define OID_IS(e, o) oid_is((e), (o), sizeof(o))

static const uint8_t OID_RSA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const uint8_t OID_RSA_PSS[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a };
static const uint8_t OID_EC[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t OID_DSA[] = { 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01 };
static const uint8_t OID_ED25519[] = { 0x2b, 0x65, 0x70 };
static const uint8_t OID_ED448[] = { 0x2b, 0x65, 0x71 };
static const uint8_t OID_P256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t OID_P384[] = { 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t OID_P521[] = { 0x2b, 0x81, 0x04, 0x00, 0x23 };
static const uint8_t OID_CN[] = { 0x55, 0x04, 0x03 };
static const uint8_t OID_BASIC_CONSTRAINTS[] = { 0x55, 0x1d, 0x13 };
static const uint8_t OID_SAN[] = { 0x55, 0x1d, 0x11 };

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const uint8_t *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return true;
}

/* UTCTime "YYMMDDHHMMSSZ" or GeneralizedTime "YYYYMMDDHHMMSSZ" -> Unix seconds. */
static bool der_time(const struct der_elt *e, int64_t *unix_s)
{
    const uint8_t *p = e->val;
    unsigned year, mon, day, hour, min, sec;
    if (e->tag == DER_UTC_TIME && e->len == 13) {
        if (!digits(p, 2, &year)) return false;
        year += year < 50 ? 2000 : 1900; /* RFC 5280 4.1.2.5.1 */
        p += 2;
    } else if (e->tag == DER_GENERALIZED_TIME && e->len == 15) {
        if (!digits(p, 4, &year)) return false;
        p += 4;
    } else {
        return false;
    }
    if (!digits(p, 2, &mon) || !digits(p + 2, 2, &day) || !digits(p + 4, 2, &hour) ||
        !digits(p + 6, 2, &min) || !digits(p + 8, 2, &sec) || p[10] != 'Z')
        return false;
    static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 || min > 59 || sec > 60)
        return false;
    *unix_s = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
    return true;
}

/* An unsigned INTEGER's magnitude without leading zeros; false if negative or empty. */
static bool der_uint(struct der *d, struct tls_bytes *out)
{
    struct der_elt e;
    if (!der_expect(d, DER_INTEGER, &e) || e.len == 0 || (e.val[0] & 0x80)) return false;
    const uint8_t *p = e.val;
    size_t n = e.len;
    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (n == 0) return false;
    *out = (struct tls_bytes){ p, n };
    return true;
}

static uint32_t bit_length(struct tls_bytes v)
{
    if (v.len == 0) return 0;
    uint32_t bits = (uint32_t)(v.len - 1) * 8;
    for (uint8_t top = v.ptr[0]; top != 0; top >>= 1) bits++;
    return bits;
}

/* The first commonName of a Name, if any. */
static void name_cn(const struct der_elt *name, struct tls_bytes *cn)
{
    struct der rdns = der_of(name);
    struct der_elt rdn, atv, oid, value;
    while (cn->ptr == NULL && der_expect(&rdns, DER_SET, &rdn)) {
        struct der atvs = der_of(&rdn);
        while (der_expect(&atvs, DER_SEQUENCE, &atv)) {
            struct der parts = der_of(&atv);
            if (der_read(&parts, &oid) && OID_IS(&oid, OID_CN) && der_read(&parts, &value)) {
                *cn = (struct tls_bytes){ value.val, value.len };
                return;
            }
        }
    }
}

static void key_unsupported(struct tls_x509 *x, const char *name)
{
    x->key_kind = TLS_KEY_UNSUPPORTED;
    x->key_name = name;
}

/* SubjectPublicKeyInfo. False only for malformed DER. */
static bool spki_parse(const struct der_elt *spki, struct tls_x509 *x, const char **what)
{
    struct der d = der_of(spki);
    struct der_elt alg, oid, bits;
    *what = "subjectPublicKeyInfo";
    if (!der_expect(&d, DER_SEQUENCE, &alg) || !der_expect(&d, DER_BIT_STRING, &bits) || !der_done(&d))
        return false;
    struct der a = der_of(&alg);
    if (!der_expect(&a, DER_OID, &oid)) return false;
    if (bits.len < 1 || bits.val[0] != 0) return false; /* unused bits: keys are whole bytes */
    struct der key = { bits.val + 1, bits.val + bits.len };

    if (OID_IS(&oid, OID_RSA)) {
        struct der_elt seq;
        if (!der_expect(&key, DER_SEQUENCE, &seq) || !der_done(&key)) return false;
        struct der ne = der_of(&seq);
        if (!der_uint(&ne, &x->rsa_n) || !der_uint(&ne, &x->rsa_e) || !der_done(&ne)) return false;
        x->key_bits = bit_length(x->rsa_n);
        if (x->key_bits > TLS_ANCHORS_RSA_BITS_MAX) {
            key_unsupported(x, "RSA larger than 4096 bits");
            return true;
        }
        x->key_kind = TLS_KEY_RSA;
        x->key_name = "RSA";
        return true;
    }
    if (OID_IS(&oid, OID_EC)) {
        struct der_elt curve;
        if (!der_expect(&a, DER_OID, &curve)) {
            key_unsupported(x, "EC with explicit curve parameters");
            return true;
        }
        static const struct {
            const uint8_t *oid;
            size_t oid_len;
            int curve;
            size_t coord_bytes;
            uint32_t bits;
            const char *name;
        } curves[] = {
            { OID_P256, sizeof OID_P256, BR_EC_secp256r1, 32, 256, "EC P-256" },
            { OID_P384, sizeof OID_P384, BR_EC_secp384r1, 48, 384, "EC P-384" },
            { OID_P521, sizeof OID_P521, BR_EC_secp521r1, 66, 521, "EC P-521" },
        };
        size_t i = 0;
        while (i < 3 && !oid_is(&curve, curves[i].oid, curves[i].oid_len)) i++;
        if (i == 3) {
            key_unsupported(x, "EC on a curve other than P-256, P-384, P-521");
            return true;
        }
        size_t coord = curves[i].coord_bytes;
        x->ec_curve = curves[i].curve;
        x->key_bits = curves[i].bits;
        x->key_name = curves[i].name;
        size_t qlen = (size_t)(key.end - key.p);
        if (qlen != 1 + 2 * coord || key.p[0] != 0x04) {
            key_unsupported(x, "EC with a compressed or malformed point");
            return true;
        }
        x->ec_q = (struct tls_bytes){ key.p, qlen };
        x->key_kind = TLS_KEY_EC;
        return true;
    }
    if (OID_IS(&oid, OID_ED25519)) key_unsupported(x, "Ed25519");
    else if (OID_IS(&oid, OID_ED448)) key_unsupported(x, "Ed448");
    else if (OID_IS(&oid, OID_DSA)) key_unsupported(x, "DSA");
    else if (OID_IS(&oid, OID_RSA_PSS)) key_unsupported(x, "RSASSA-PSS");
    else key_unsupported(x, "an unknown algorithm");
    return true;
}

/* BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen INTEGER OPTIONAL } */
static bool basic_constraints(struct tls_bytes value, struct tls_x509 *x)
{
    struct der d = { value.ptr, value.ptr + value.len };
    struct der_elt seq, flag;
    if (!der_expect(&d, DER_SEQUENCE, &seq) || !der_done(&d)) return false;
    struct der s = der_of(&seq);
    x->has_basic_constraints = true;
    x->is_ca = false;
    if (der_expect(&s, DER_BOOLEAN, &flag)) {
        if (flag.len != 1) return false;
        x->is_ca = flag.val[0] != 0;
    }
    return true;
}

/* SubjectAltName ::= GeneralNames: count dNSNames (keep the first ones) and IPs. */
static bool subject_alt_name(struct tls_bytes value, struct tls_x509 *x)
{
    struct der d = { value.ptr, value.ptr + value.len };
    struct der_elt seq, name;
    if (!der_expect(&d, DER_SEQUENCE, &seq) || !der_done(&d)) return false;
    struct der s = der_of(&seq);
    while (!der_done(&s)) {
        if (!der_read(&s, &name)) return false;
        if (name.tag == DER_SAN_DNS) {
            if (x->dns_name_count < TLS_X509_NAMES_MAX)
                x->dns_names[x->dns_name_count] = (struct tls_bytes){ name.val, name.len };
            x->dns_name_count++;
        } else if (name.tag == DER_SAN_IP) {
            x->ip_address_count++;
        }
    }
    return true;
}

static bool extensions_parse(const struct der_elt *ctx3, struct tls_x509 *x, const char **what)
{
    struct der outer = der_of(ctx3);
    struct der_elt list, ext, oid, crit, value;
    *what = "extensions";
    if (!der_expect(&outer, DER_SEQUENCE, &list) || !der_done(&outer)) return false;
    struct der exts = der_of(&list);
    while (!der_done(&exts)) {
        if (!der_expect(&exts, DER_SEQUENCE, &ext)) return false;
        struct der e = der_of(&ext);
        if (!der_expect(&e, DER_OID, &oid)) return false;
        if (der_expect(&e, DER_BOOLEAN, &crit) && crit.len != 1) return false;
        if (!der_expect(&e, DER_OCTET_STRING, &value) || !der_done(&e)) return false;
        struct tls_bytes v = { value.val, value.len };
        if (OID_IS(&oid, OID_BASIC_CONSTRAINTS)) {
            *what = "basicConstraints";
            if (!basic_constraints(v, x)) return false;
        } else if (OID_IS(&oid, OID_SAN)) {
            *what = "subjectAltName";
            if (!subject_alt_name(v, x)) return false;
        }
    }
    return true;
}

/* The TBSCertificate; `what` names the part that failed. */
static bool tbs_parse(const struct der_elt *tbs, struct tls_x509 *x, const char **what)
{
    struct der d = der_of(tbs);
    struct der_elt e, issuer, validity, subject, spki, t;
    *what = "version";
    if (der_at(&d, DER_CTX0) && !der_read(&d, &e)) return false;
    *what = "serialNumber";
    if (!der_expect(&d, DER_INTEGER, &e)) return false;
    *what = "signature algorithm";
    if (!der_expect(&d, DER_SEQUENCE, &e)) return false;
    *what = "issuer";
    if (!der_expect(&d, DER_SEQUENCE, &issuer)) return false;
    *what = "validity";
    if (!der_expect(&d, DER_SEQUENCE, &validity)) return false;
    struct der v = der_of(&validity);
    if (!der_read(&v, &t) || !der_time(&t, &x->not_before_s)) return false;
    if (!der_read(&v, &t) || !der_time(&t, &x->not_after_s) || !der_done(&v)) return false;
    *what = "subject";
    if (!der_expect(&d, DER_SEQUENCE, &subject)) return false;
    *what = "subjectPublicKeyInfo";
    if (!der_expect(&d, DER_SEQUENCE, &spki) || !spki_parse(&spki, x, what)) return false;
    x->issuer_dn = whole(&issuer);
    x->subject_dn = whole(&subject);
    name_cn(&issuer, &x->issuer_cn);
    name_cn(&subject, &x->subject_cn);
    *what = "unique identifiers";
    if (der_at(&d, 0x81) && !der_read(&d, &e)) return false;
    if (der_at(&d, 0x82) && !der_read(&d, &e)) return false;
    if (der_at(&d, DER_CTX3)) {
        if (!der_read(&d, &e) || !extensions_parse(&e, x, what)) return false;
    }
    *what = "TBSCertificate (trailing data)";
    return der_done(&d);
}

bool tls_x509_parse(const uint8_t *der, size_t size_bytes, struct tls_x509 *x,
                    struct lw_err *err)
{
    memset(x, 0, sizeof *x);
    x->key_name = "none";
    struct der d = { der, der + size_bytes };
    struct der_elt cert, tbs, alg, sig;
    const char *what = "Certificate";
    if (!der_expect(&d, DER_SEQUENCE, &cert) || !der_done(&d))
        return lw_err_set(err, TLS_ANCHORS_E_FORMAT, "not a DER certificate (no single outer SEQUENCE)");
    struct der c = der_of(&cert);
    if (!der_expect(&c, DER_SEQUENCE, &tbs))
        return lw_err_set(err, TLS_ANCHORS_E_FORMAT, "not a DER certificate (no TBSCertificate)");
    if (!tbs_parse(&tbs, x, &what)) {
        memset(x, 0, sizeof *x);
        x->key_name = "none";
        return lw_err_set(err, TLS_ANCHORS_E_FORMAT, "malformed certificate: %s", what);
    }
    if (!der_expect(&c, DER_SEQUENCE, &alg) || !der_expect(&c, DER_BIT_STRING, &sig) || !der_done(&c)) {
        memset(x, 0, sizeof *x);
        x->key_name = "none";
        return lw_err_set(err, TLS_ANCHORS_E_FORMAT, "malformed certificate: signature");
    }
    return true;
}

char *tls_format_time(int64_t unix_s, char *out, size_t capacity)
{
    int64_t days = unix_s / 86400, secs = unix_s % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    /* civil_from_days (H. Hinnant), the inverse of days_from_civil */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, capacity, "%04lld-%02u-%02u %02u:%02u:%02u UTC", (long long)y, m, d,
             (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    return out;
}

/* ------------------------------------------------------------------------- */
/* Trust anchors */

static bool is_certificate_label(const char *label)
{
    return strcmp(label, "CERTIFICATE") == 0 || strcmp(label, "X509 CERTIFICATE") == 0;
}

/* What one pass over the bundle found; the second pass also copies into `arena`. */
struct load_pass {
    size_t count, skipped_key, skipped_block;
    size_t bytes;               /* DN and key bytes */
    br_x509_trust_anchor *items;/* NULL in the counting pass */
    uint8_t *arena;
};

static uint8_t *arena_copy(struct load_pass *pass, struct tls_bytes b)
{
    uint8_t *dst = pass->arena + pass->bytes;
    memcpy(dst, b.ptr, b.len);
    pass->bytes += b.len;
    return dst;
}

/* One usable certificate: counted, and in the filling pass stored. */
static void anchor_add(struct load_pass *pass, const struct tls_x509 *x)
{
    size_t i = pass->count++;
    size_t key_bytes = x->key_kind == TLS_KEY_RSA ? x->rsa_n.len + x->rsa_e.len : x->ec_q.len;
    if (pass->items == NULL) {
        pass->bytes += x->subject_dn.len + key_bytes;
        return;
    }
    br_x509_trust_anchor *ta = &pass->items[i];
    memset(ta, 0, sizeof *ta);
    ta->dn.data = arena_copy(pass, x->subject_dn);
    ta->dn.len = x->subject_dn.len;
    ta->flags = x->has_basic_constraints && !x->is_ca ? 0 : BR_X509_TA_CA;
    if (x->key_kind == TLS_KEY_RSA) {
        ta->pkey.key_type = BR_KEYTYPE_RSA;
        ta->pkey.key.rsa.n = arena_copy(pass, x->rsa_n);
        ta->pkey.key.rsa.nlen = x->rsa_n.len;
        ta->pkey.key.rsa.e = arena_copy(pass, x->rsa_e);
        ta->pkey.key.rsa.elen = x->rsa_e.len;
    } else {
        assert(x->key_kind == TLS_KEY_EC);
        ta->pkey.key_type = BR_KEYTYPE_EC;
        ta->pkey.key.ec.curve = x->ec_curve;
        ta->pkey.key.ec.q = arena_copy(pass, x->ec_q);
        ta->pkey.key.ec.qlen = x->ec_q.len;
    }
}

/* Walks the whole bundle once. `der` is scratch of TLS_CERT_DER_MAX_BYTES. */
static bool load_pass_run(struct load_pass *pass, const void *pem_text, size_t size, uint8_t *der,
                          const char *source, struct lw_err *err)
{
    struct tls_pem pem;
    struct tls_pem_block block;
    tls_pem_init(&pem, pem_text, size);
    size_t certs = 0;
    for (;;) {
        enum tls_pem_result r = tls_pem_next(&pem, &block, err);
        if (r == TLS_PEM_END) return true;
        if (r == TLS_PEM_ERROR) return lw_err_wrap(err, "%s", source);
        if (!is_certificate_label(block.label)) {
            pass->skipped_block++;
            continue;
        }
        certs++;
        if (certs > TLS_ANCHORS_COUNT_MAX) {
            return lw_err_set(err, TLS_ANCHORS_E_LIMIT, "%s:%u: more than %d certificates", source,
                              (unsigned)block.line_begin, TLS_ANCHORS_COUNT_MAX);
        }
        size_t der_size;
        if (!tls_pem_decode(&block, der, TLS_CERT_DER_MAX_BYTES, &der_size, err))
            return lw_err_wrap(err, "%s: certificate %zu", source, certs);
        struct tls_x509 x;
        if (!tls_x509_parse(der, der_size, &x, err))
            return lw_err_wrap(err, "%s:%u: certificate %zu", source, (unsigned)block.line_begin, certs);
        if (x.key_kind == TLS_KEY_UNSUPPORTED) {
            pass->skipped_key++;
            continue;
        }
        anchor_add(pass, &x);
    }
}

void tls_anchors_free(struct tls_anchors *anchors)
{
    free(anchors->memory);
    memset(anchors, 0, sizeof *anchors);
}

bool tls_anchors_load_pem(struct tls_anchors *anchors, const void *pem, size_t size_bytes,
                          const char *source, struct lw_err *err)
{
    assert(source != NULL);
    memset(anchors, 0, sizeof *anchors);
    uint8_t *der = malloc(TLS_CERT_DER_MAX_BYTES);
    if (der == NULL) return lw_err_set(err, TLS_ANCHORS_E_NO_MEMORY, "%s: out of memory", source);

    struct load_pass count = { 0 };
    if (!load_pass_run(&count, pem, size_bytes, der, source, err)) {
        free(der);
        return false;
    }
    if (count.count == 0) {
        free(der);
        if (count.skipped_key > 0) {
            return lw_err_set(err, TLS_ANCHORS_E_EMPTY,
                              "%s: none of its %zu certificates has a key BearSSL can use (RSA up to "
                              "4096 bits, EC P-256/P-384/P-521)", source, count.skipped_key);
        }
        return lw_err_set(err, TLS_ANCHORS_E_EMPTY,
                          "%s: no certificate found (expected '-----BEGIN CERTIFICATE-----' blocks)",
                          source);
    }
    size_t items_bytes = count.count * sizeof(br_x509_trust_anchor);
    void *memory = malloc(items_bytes + count.bytes);
    if (memory == NULL) {
        free(der);
        return lw_err_set(err, TLS_ANCHORS_E_NO_MEMORY, "%s: out of memory for %zu anchors", source,
                          count.count);
    }
    struct load_pass fill = { .items = memory, .arena = (uint8_t *)memory + items_bytes };
    bool ok = load_pass_run(&fill, pem, size_bytes, der, source, err);
    free(der);
    /* Same bytes, same result: the second pass cannot fail or differ. */
    assert(ok && fill.count == count.count && fill.bytes == count.bytes);
    (void)ok;
    anchors->memory = memory;
    anchors->items = fill.items;
    anchors->count = fill.count;
    anchors->skipped_key_count = fill.skipped_key;
    anchors->skipped_block_count = fill.skipped_block;
    snprintf(anchors->source, sizeof anchors->source, "%s", source);
    return true;
}

/* Reads a whole regular file of at most TLS_ANCHORS_FILE_MAX_BYTES. */
static bool file_read(const char *path, uint8_t **data, size_t *size, struct lw_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return lw_err_set(err, TLS_ANCHORS_E_READ, "CA bundle %s: cannot open: %s", path,
                          strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lw_err_set(err, TLS_ANCHORS_E_READ, "CA bundle %s: not a regular file", path);
    }
    if (st.st_size > TLS_ANCHORS_FILE_MAX_BYTES) {
        close(fd);
        return lw_err_set(err, TLS_ANCHORS_E_LIMIT, "CA bundle %s: %lld bytes, more than the %d allowed",
                          path, (long long)st.st_size, TLS_ANCHORS_FILE_MAX_BYTES);
    }
    size_t cap = (size_t)st.st_size;
    uint8_t *buf = malloc(cap > 0 ? cap : 1);
    if (buf == NULL) {
        close(fd);
        return lw_err_set(err, TLS_ANCHORS_E_NO_MEMORY, "CA bundle %s: out of memory", path);
    }
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return lw_err_set(err, TLS_ANCHORS_E_READ, "CA bundle %s: read failed: %s", path, strerror(e));
        }
        if (n == 0) break; /* shrank while reading: take what is there */
        len += (size_t)n;
    }
    close(fd);
    *data = buf;
    *size = len;
    return true;
}

bool tls_anchors_load_file(struct tls_anchors *anchors, const char *path, struct lw_err *err)
{
    memset(anchors, 0, sizeof *anchors);
    uint8_t *data;
    size_t size;
    if (!file_read(path, &data, &size, err)) return false;
    char source[TLS_ANCHORS_SOURCE_MAX];
    snprintf(source, sizeof source, "CA bundle %s", path);
    bool ok = tls_anchors_load_pem(anchors, data, size, source, err);
    free(data);
    if (ok) snprintf(anchors->source, sizeof anchors->source, "%s", path);
    return ok;
}

extern const unsigned char lw_embedded_ca_pem[] __attribute__((weak));
extern const size_t lw_embedded_ca_pem_size __attribute__((weak));

const uint8_t *tls_anchors_embedded(size_t *size_bytes)
{
    /* Through volatile pointers: the compiler must not assume the weak symbols exist. */
    const unsigned char *volatile pem = lw_embedded_ca_pem;
    const size_t *volatile size = &lw_embedded_ca_pem_size;
    if (pem == NULL || size == NULL || *size == 0) {
        *size_bytes = 0;
        return NULL;
    }
    *size_bytes = *size;
    return pem;
}

bool tls_anchors_load_config(struct tls_anchors *anchors, const char *ca_file, struct lw_err *err)
{
    if (ca_file != NULL && ca_file[0] != '\0') return tls_anchors_load_file(anchors, ca_file, err);
    size_t size;
    const uint8_t *pem = tls_anchors_embedded(&size);
    if (pem != NULL) return tls_anchors_load_pem(anchors, pem, size, "the embedded CA bundle", err);
    if (!tls_anchors_load_file(anchors, TLS_ANCHORS_SYSTEM_FILE, err)) {
        if (err != NULL && err->code == TLS_ANCHORS_E_READ)
            lw_err_wrap(err, "no ca_file is set and the system bundle is unusable (install "
                             "ca-certificates, set ca_file, or build with -Dembed-ca)");
        return false;
    }
    return true;
}
