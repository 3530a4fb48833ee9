/* tls: BearSSL client engine over net_conn, and the TCP-or-TLS transport. See tls.h. */
#include "tls.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void pump(struct tls_conn *c);
static void on_net_closed(struct net_conn *net, void *context, size_t size_bytes,
                          const struct lw_err *err);

/* ------------------------------------------------------------------------- */
/* Codes and names */

bool tls_error_is_permanent(int code)
{
    switch (code) {
    case TLS_E_NOT_TLS:
    case TLS_E_UNTRUSTED:
    case TLS_E_NAME_MISMATCH:
    case TLS_E_EXPIRED:
    case TLS_E_CERTIFICATE:
    case TLS_E_VERSION:
    case TLS_E_NO_SUITE:
    case TLS_E_HOST:
        return true;
    default:
        return false;
    }
}

const char *tls_strerror(int code)
{
    switch (code) {
    case TLS_E_NOT_TLS: return "not a TLS server";
    case TLS_E_UNTRUSTED: return "certificate not trusted";
    case TLS_E_NAME_MISMATCH: return "certificate for another name";
    case TLS_E_EXPIRED: return "certificate expired or not yet valid";
    case TLS_E_CERTIFICATE: return "unusable certificate";
    case TLS_E_VERSION: return "no TLS 1.2";
    case TLS_E_NO_SUITE: return "no common cipher suite";
    case TLS_E_ALERT: return "alert from the server";
    case TLS_E_PROTOCOL: return "TLS protocol error";
    case TLS_E_TRUNCATED: return "stream truncated";
    case TLS_E_HOST: return "server name cannot be verified";
    case TLS_E_NO_RANDOM: return "no randomness";
    default:
        if (code >= 0 && code < LOOP_E_COUNT_) return loop_strerror((enum loop_error)code);
        return "unknown error";
    }
}

/* TLS alert descriptions (RFC 5246 7.2, RFC 8446 6). */
static const char *alert_name(int alert)
{
    switch (alert) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 22: return "record_overflow";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 86: return "inappropriate_fallback";
    case 90: return "user_canceled";
    case 100: return "no_renegotiation";
    case 109: return "missing_extension";
    case 110: return "unsupported_extension";
    case 112: return "unrecognized_name";
    case 116: return "certificate_required";
    case 120: return "no_application_protocol";
    default: return "unknown alert";
    }
}

/* ------------------------------------------------------------------------- */
/* Certificate observer: x509_minimal does the checking; this notes names and dates
 * of the chain as it goes by, so that a failure can say which certificate and why. */

/* Copies certificate text (any bytes) as printable ASCII. */
static void text_copy(char *out, size_t cap, struct tls_bytes b)
{
    size_t n = 0;
    for (size_t i = 0; i < b.len && n + 4 < cap; i++)
        out[n++] = b.ptr[i] >= 0x20 && b.ptr[i] < 0x7f ? (char)b.ptr[i] : '?';
    if (n < b.len && n + 4 <= cap) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static void names_join(char *out, size_t cap, const struct tls_x509 *x)
{
    size_t n = 0;
    out[0] = '\0';
    uint32_t kept = x->dns_name_count < TLS_X509_NAMES_MAX ? x->dns_name_count : TLS_X509_NAMES_MAX;
    for (uint32_t i = 0; i < kept && n + 8 < cap; i++) {
        char one[TLS_NAME_TEXT_MAX];
        text_copy(one, sizeof one, x->dns_names[i]);
        int w = snprintf(out + n, cap - n, "%s%s", i > 0 ? ", " : "", one);
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
    if (x->dns_name_count > kept && n + 16 < cap)
        snprintf(out + n, cap - n, " (+%u more)", (unsigned)(x->dns_name_count - kept));
}

static struct tls_conn *observer_conn(const br_x509_class **ctx)
{
    return ((struct tls_x509_observer *)(void *)ctx)->conn;
}

static void obs_start_chain(const br_x509_class **ctx, const char *server_name)
{
    struct tls_conn *c = observer_conn(ctx);
    memset(&c->chain, 0, sizeof c->chain);
    c->xc.vtable->start_chain(&c->xc.vtable, server_name);
}

static void obs_start_cert(const br_x509_class **ctx, uint32_t length)
{
    struct tls_conn *c = observer_conn(ctx);
    c->capture_len = 0;
    c->capture_expected = length;
    c->capture_on = length <= sizeof c->capture;
    c->xc.vtable->start_cert(&c->xc.vtable, length);
}

static void obs_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
    struct tls_conn *c = observer_conn(ctx);
    if (c->capture_on) {
        if (len <= c->capture_expected - c->capture_len) {
            memcpy(c->capture + c->capture_len, buf, len);
            c->capture_len += len;
        } else {
            c->capture_on = false;
        }
    }
    c->xc.vtable->append(&c->xc.vtable, buf, len);
}

/* Notes what messages need from certificate number `index` of the chain. */
static void chain_note(struct tls_conn *c, uint32_t index, const struct tls_x509 *x)
{
    struct tls_chain_info *info = &c->chain;
    if (index == 0) {
        info->ee_described = true;
        text_copy(info->ee_cn, sizeof info->ee_cn, x->subject_cn);
        names_join(info->ee_names, sizeof info->ee_names, x);
        info->ee_ip_count = x->ip_address_count;
    }
    bool outside = c->validation_unix_s < x->not_before_s || c->validation_unix_s > x->not_after_s;
    if (outside && !info->bad_time_found) {
        info->bad_time_found = true;
        info->bad_time_index = index;
        text_copy(info->bad_time_cn, sizeof info->bad_time_cn, x->subject_cn);
        info->bad_time_not_before_s = x->not_before_s;
        info->bad_time_not_after_s = x->not_after_s;
    }
    info->top_described = true;
    text_copy(info->top_subject_cn, sizeof info->top_subject_cn, x->subject_cn);
    text_copy(info->top_issuer_cn, sizeof info->top_issuer_cn, x->issuer_cn);
    info->top_self_signed = x->subject_dn.len == x->issuer_dn.len &&
                            memcmp(x->subject_dn.ptr, x->issuer_dn.ptr, x->subject_dn.len) == 0;
}

static void obs_end_cert(const br_x509_class **ctx)
{
    struct tls_conn *c = observer_conn(ctx);
    uint32_t index = c->chain.cert_count++;
    struct tls_x509 x;
    if (c->capture_on && c->capture_len == c->capture_expected &&
        tls_x509_parse(c->capture, c->capture_len, &x, NULL)) {
        chain_note(c, index, &x);
    } else if (index > 0) {
        c->chain.top_described = false; /* the last one we know is not the top */
    }
    c->capture_on = false;
    c->xc.vtable->end_cert(&c->xc.vtable);
}

static unsigned obs_end_chain(const br_x509_class **ctx)
{
    struct tls_conn *c = observer_conn(ctx);
    return c->xc.vtable->end_chain(&c->xc.vtable);
}

static const br_x509_pkey *obs_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
    const struct tls_conn *c = ((const struct tls_x509_observer *)(const void *)ctx)->conn;
    return c->xc.vtable->get_pkey(&c->xc.vtable, usages);
}

static const br_x509_class observer_vtable = {
    sizeof(struct tls_x509_observer), obs_start_chain, obs_start_cert, obs_append,
    obs_end_cert, obs_end_chain, obs_get_pkey,
};

/* ------------------------------------------------------------------------- */
/* Messages */

/* "TLS handshake with <peer>" or "TLS session with <peer>". */
static const char *stage_text(const struct tls_conn *c)
{
    return c->state == TLS_CONNECTING ? "TLS handshake with" : "TLS session with";
}

static void describe_x509(struct tls_conn *c, int code, struct lw_err *err)
{
    const char *peer = tls_peer(c);
    const char *stage = stage_text(c);
    const struct tls_chain_info *info = &c->chain;
    char when[40], from[40], to[40];
    tls_format_time(c->validation_unix_s, when, sizeof when);
    switch (code) {
    case BR_ERR_X509_NOT_TRUSTED: {
        char where[2 * TLS_NAME_TEXT_MAX + 96] = "";
        if (info->top_described && info->top_self_signed) {
            snprintf(where, sizeof where, " (its chain ends at the self-signed '%s', which is not in the bundle)",
                     info->top_subject_cn);
        } else if (info->top_described) {
            snprintf(where, sizeof where, " (its chain ends at '%s', issued by '%s': that CA is not in the bundle)",
                     info->top_subject_cn, info->top_issuer_cn);
        }
        lw_err_set(err, TLS_E_UNTRUSTED,
                   "%s %s: the server's certificate is not trusted by the CA bundle %s%s; give the "
                   "CA that issued it in ca_file", stage, peer, c->anchors->source, where);
        return;
    }
    case BR_ERR_X509_BAD_SERVER_NAME: {
        char names[TLS_NAME_TEXT_MAX + 64] = "";
        if (info->ee_described && info->ee_names[0] != '\0')
            snprintf(names, sizeof names, " (it is for: %s)", info->ee_names);
        else if (info->ee_described)
            snprintf(names, sizeof names, " (it has no DNS name; its CN is '%s')", info->ee_cn);
        lw_err_set(err, TLS_E_NAME_MISMATCH,
                   "%s %s: the server's certificate is not valid for the name '%s'%s; connect with a "
                   "name the certificate lists", stage, peer, c->server_name, names);
        return;
    }
    case BR_ERR_X509_EXPIRED:
        if (info->bad_time_found) {
            tls_format_time(info->bad_time_not_before_s, from, sizeof from);
            tls_format_time(info->bad_time_not_after_s, to, sizeof to);
            bool early = c->validation_unix_s < info->bad_time_not_before_s;
            lw_err_set(err, TLS_E_EXPIRED,
                       "%s %s: the %s certificate '%s' %s (valid from %s to %s; validation time %s: "
                       "check the clocks)", stage, peer,
                       info->bad_time_index == 0 ? "server's" : "chain's", info->bad_time_cn,
                       early ? "is not valid yet" : "has expired", from, to, when);
        } else {
            lw_err_set(err, TLS_E_EXPIRED,
                       "%s %s: a certificate of the server's chain is expired or not yet valid "
                       "(validation time %s: check the clocks)", stage, peer, when);
        }
        return;
    case BR_ERR_X509_EMPTY_CHAIN:
        lw_err_set(err, TLS_E_CERTIFICATE, "%s %s: the server sent no certificate", stage, peer);
        return;
    case BR_ERR_X509_NOT_CA:
        lw_err_set(err, TLS_E_CERTIFICATE,
                   "%s %s: a certificate that signs another in the server's chain is not a CA "
                   "(basicConstraints): the server's chain is misconfigured", stage, peer);
        return;
    case BR_ERR_X509_DN_MISMATCH:
        lw_err_set(err, TLS_E_CERTIFICATE,
                   "%s %s: the server's chain is out of order (an issuer name does not match "
                   "the next certificate)", stage, peer);
        return;
    case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
        lw_err_set(err, TLS_E_CERTIFICATE,
                   "%s %s: the server's certificate does not allow this use of its key (keyUsage)",
                   stage, peer);
        return;
    case BR_ERR_X509_WEAK_PUBLIC_KEY:
        lw_err_set(err, TLS_E_CERTIFICATE, "%s %s: the server's public key is too small", stage, peer);
        return;
    case BR_ERR_X509_UNSUPPORTED:
    case BR_ERR_X509_WRONG_KEY_TYPE:
        lw_err_set(err, TLS_E_CERTIFICATE,
                   "%s %s: the server's chain uses a key or signature algorithm BearSSL does not "
                   "support (it verifies RSA PKCS#1 v1.5 and ECDSA with SHA-224..512)", stage, peer);
        return;
    case BR_ERR_X509_CRITICAL_EXTENSION:
        lw_err_set(err, TLS_E_CERTIFICATE,
                   "%s %s: the server's chain has a critical extension BearSSL does not know",
                   stage, peer);
        return;
    case BR_ERR_X509_BAD_SIGNATURE:
        lw_err_set(err, TLS_E_CERTIFICATE,
                   "%s %s: a signature in the server's certificate chain does not verify", stage, peer);
        return;
    case BR_ERR_X509_TIME_UNKNOWN:
        lw_err_set(err, TLS_E_CERTIFICATE, "%s %s: no validation time", stage, peer);
        return;
    default:
        lw_err_set(err, TLS_E_CERTIFICATE,
                   "%s %s: the server's certificate chain is malformed or exceeds BearSSL's limits "
                   "(BearSSL X.509 error %d)", stage, peer, code);
        return;
    }
}

static void describe_alert(struct tls_conn *c, int alert, struct lw_err *err)
{
    const char *peer = tls_peer(c);
    const char *stage = stage_text(c);
    switch (alert) {
    case 70:
        lw_err_set(err, TLS_E_VERSION,
                   "%s %s: the server refused TLS 1.2 (alert protocol_version): it probably "
                   "requires TLS 1.3, which BearSSL does not implement; allow TLS 1.2 on the server",
                   stage, peer);
        return;
    case 40:
    case 71:
        lw_err_set(err, TLS_E_NO_SUITE,
                   "%s %s: the server supports no TLS 1.2 ECDHE+AEAD suite that lakewriter offers "
                   "(ECDHE-RSA/ECDSA with AES-GCM or ChaCha20-Poly1305, curves X25519/P-256/P-384/"
                   "P-521) (alert %s)", stage, peer, alert_name(alert));
        return;
    case 112:
        lw_err_set(err, TLS_E_NAME_MISMATCH,
                   "%s %s: the server does not serve the name '%s' (alert unrecognized_name)",
                   stage, peer, c->server_name);
        return;
    case 116:
        lw_err_set(err, TLS_E_ALERT,
                   "%s %s: the server requires a client certificate, which lakewriter does not send "
                   "(alert certificate_required)", stage, peer);
        return;
    default:
        lw_err_set(err, TLS_E_ALERT, "%s %s: the server sent the fatal alert %s (%d)", stage, peer,
                   alert_name(alert), alert);
        return;
    }
}

/* The engine's last_error as a message. */
static void describe_engine(struct tls_conn *c, int code, struct lw_err *err)
{
    const char *peer = tls_peer(c);
    const char *stage = stage_text(c);
    if (code >= BR_ERR_X509_OK + 1 && code < BR_ERR_RECV_FATAL_ALERT) {
        describe_x509(c, code, err);
        return;
    }
    if (code >= BR_ERR_RECV_FATAL_ALERT && code < BR_ERR_SEND_FATAL_ALERT) {
        describe_alert(c, code - BR_ERR_RECV_FATAL_ALERT, err);
        return;
    }
    if (code >= BR_ERR_SEND_FATAL_ALERT) {
        int alert = code - BR_ERR_SEND_FATAL_ALERT;
        lw_err_set(err, TLS_E_PROTOCOL, "%s %s: lakewriter aborted the session with alert %s (%d)",
                   stage, peer, alert_name(alert), alert);
        return;
    }
    switch (code) {
    case BR_ERR_UNSUPPORTED_VERSION:
        lw_err_set(err, TLS_E_VERSION,
                   "%s %s: the server chose a TLS version other than 1.2 (lakewriter speaks TLS 1.2 "
                   "only); allow TLS 1.2 on the server", stage, peer);
        return;
    case BR_ERR_BAD_CIPHER_SUITE:
    case BR_ERR_INVALID_ALGORITHM:
        lw_err_set(err, TLS_E_NO_SUITE,
                   "%s %s: the server chose a cipher suite, curve or signature that lakewriter did "
                   "not offer (it offers TLS 1.2 ECDHE+AEAD only) (BearSSL error %d)", stage, peer, code);
        return;
    case BR_ERR_NO_RANDOM:
        lw_err_set(err, TLS_E_NO_RANDOM, "%s %s: no entropy for the TLS engine", stage, peer);
        return;
    case BR_ERR_BAD_MAC:
        lw_err_set(err, TLS_E_PROTOCOL,
                   "%s %s: a record failed authentication (data corrupted or tampered with in "
                   "transit)", stage, peer);
        return;
    case BR_ERR_TOO_LARGE:
        lw_err_set(err, TLS_E_PROTOCOL, "%s %s: the server sent a record larger than TLS allows",
                   stage, peer);
        return;
    case BR_ERR_BAD_SIGNATURE:
        lw_err_set(err, TLS_E_PROTOCOL,
                   "%s %s: the server's key exchange signature does not verify", stage, peer);
        return;
    case BR_ERR_WRONG_KEY_USAGE:
        lw_err_set(err, TLS_E_CERTIFICATE,
                   "%s %s: the server's certificate key cannot be used for the chosen cipher suite",
                   stage, peer);
        return;
    default:
        lw_err_set(err, TLS_E_PROTOCOL, "%s %s: TLS protocol error (BearSSL error %d)", stage, peer,
                   code);
        return;
    }
}

/* Up to 32 bytes as a quoted, printable string. */
static void quote_bytes(char *out, size_t cap, const uint8_t *p, size_t len)
{
    size_t n = 0;
    out[n++] = '"';
    for (size_t i = 0; i < len && i < 32 && n + 3 < cap; i++) {
        uint8_t b = p[i];
        if (b == '\r' || b == '\n') break;
        out[n++] = b >= 0x20 && b < 0x7f ? (char)b : '.';
    }
    out[n++] = '"';
    out[n] = '\0';
}

/* ------------------------------------------------------------------------- */
/* Engine set-up */

static const uint16_t suites[] = {
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
};

/* The client context: versions, suites, algorithms, buffers. Once per tls_init; the
 * session kept inside survives for resumption. */
static void engine_configure(struct tls_conn *c)
{
    br_ssl_engine_context *eng = &c->sc.eng;
    br_ssl_client_zero(&c->sc);
    br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_suites(eng, suites, sizeof suites / sizeof suites[0]);
    br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
    br_ssl_engine_set_default_rsavrfy(eng);
    br_ssl_engine_set_default_ecdsa(eng);
    br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
    br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
    br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
    br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
    br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
    br_ssl_engine_set_default_aes_gcm(eng);
    br_ssl_engine_set_default_chapol(eng);
    /* Two separate full-size buffers: 16 KiB records both ways, no MFL extension. */
    br_ssl_engine_set_buffers_bidi(eng, c->buf_in, sizeof c->buf_in, c->buf_out, sizeof c->buf_out);
    c->observer.vtable = &observer_vtable;
    c->observer.conn = c;
    br_ssl_engine_set_x509(eng, &c->observer.vtable);
}

/* Per handshake: a fresh validator with the loop's time, entropy, SNI, reset. */
static bool engine_start(struct tls_conn *c, struct lw_err *err)
{
    br_ssl_engine_context *eng = &c->sc.eng;
    br_x509_minimal_context *xc = &c->xc;
    br_x509_minimal_init(xc, &br_sha256_vtable, c->anchors->items, c->anchors->count);
    br_x509_minimal_set_hash(xc, br_sha224_ID, &br_sha224_vtable);
    br_x509_minimal_set_hash(xc, br_sha256_ID, &br_sha256_vtable);
    br_x509_minimal_set_hash(xc, br_sha384_ID, &br_sha384_vtable);
    br_x509_minimal_set_hash(xc, br_sha512_ID, &br_sha512_vtable);
    br_x509_minimal_set_rsa(xc, br_ssl_engine_get_rsavrfy(eng));
    br_x509_minimal_set_ecdsa(xc, br_ssl_engine_get_ec(eng), br_ssl_engine_get_ecdsa(eng));

    /* Days since 0000-01-01 (proleptic Gregorian): 1970-01-01 is day 719528. */
    int64_t now_s = loop_wall_ms(c->loop) / 1000;
    c->validation_unix_s = now_s;
    int64_t days = now_s / 86400, secs = now_s % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    br_x509_minimal_set_time(xc, (uint32_t)(days + 719528), (uint32_t)secs);

    uint8_t seed[32];
    if (!loop_random(c->loop, seed, sizeof seed)) {
        return lw_err_set(err, TLS_E_NO_RANDOM, "TLS handshake with %s: the random source failed",
                          tls_peer(c));
    }
    br_ssl_engine_inject_entropy(eng, seed, sizeof seed);
    memset(seed, 0, sizeof seed);

    bool resume = c->session_valid && c->session_port == c->port &&
                  strcmp(c->session_name, c->server_name) == 0;
    if (!resume) c->session_valid = false;
    c->offered_session_id_len = 0;
    if (resume) {
        br_ssl_session_parameters params;
        br_ssl_engine_get_session_parameters(eng, &params);
        c->offered_session_id_len = params.session_id_len;
        memcpy(c->offered_session_id, params.session_id, params.session_id_len);
    }
    if (!br_ssl_client_reset(&c->sc, c->server_name, resume ? 1 : 0)) {
        int code = br_ssl_engine_last_error(eng);
        describe_engine(c, code, err);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------- */
/* Delivering results */

static void deliver_connect(struct tls_conn *c, const struct lw_err *err)
{
    tls_fn fn = c->connect_fn;
    assert(fn != NULL);
    c->connect_fn = NULL;
    fn(c, c->connect_context, 0, err);
}

static void deliver_send(struct tls_conn *c, const struct lw_err *err)
{
    tls_fn fn = c->send_fn;
    assert(fn != NULL);
    size_t size = err == NULL ? c->send_size : 0;
    c->send_fn = NULL;
    c->send_buf = NULL;
    fn(c, c->send_context, size, err);
}

static void deliver_recv(struct tls_conn *c, size_t size, const struct lw_err *err)
{
    tls_fn fn = c->recv_fn;
    assert(fn != NULL);
    c->recv_fn = NULL;
    c->recv_buf = NULL;
    fn(c, c->recv_context, size, err);
}

static void on_kick(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct tls_conn *c = op->context;
    c->kick_armed = false;
    pump(c);
}

/* Runs the engine from the loop soon: results never come from inside a start call. */
static void kick(struct tls_conn *c)
{
    if (c->kick_armed) return;
    c->kick_armed = true;
    loop_timer_start(c->loop, &c->op_kick, 0, on_kick, c);
}

static void kick_cancel(struct tls_conn *c)
{
    if (!c->kick_armed) return;
    loop_timer_cancel(c->loop, &c->op_kick);
    c->kick_armed = false;
}

/* ------------------------------------------------------------------------- */
/* Failures */

/* The connect failed: close the socket, then report (on_net_closed). */
static void connect_fail(struct tls_conn *c)
{
    assert(c->state == TLS_CONNECTING && !c->failing);
    assert(c->err_connect.code != 0);
    c->failing = true;
    c->session_valid = false;
    net_close(&c->net, on_net_closed, c);
}

/* The session failed after the handshake: every op from now on gets `err`. */
static void session_die(struct tls_conn *c, const struct lw_err *err)
{
    assert(c->state == TLS_READY);
    if (c->dead) return;
    c->dead = true;
    c->err_dead = *err;
    /* A TLS failure (alert, bad record) ends the session for good; an I/O failure or a
     * missing close_notify does not make it unsafe to resume (RFC 5246 7.2.1). */
    if (err->code >= TLS_E_FIRST && err->code != TLS_E_TRUNCATED) c->session_valid = false;
}

/* A failure of the TCP layer (not a recv timeout). */
static void io_failed(struct tls_conn *c, const struct lw_err *err)
{
    if (c->state == TLS_CONNECTING) {
        lw_err_set(&c->err_connect, err->code, "TLS handshake with %s: %s", tls_peer(c), err->msg);
        connect_fail(c);
    } else {
        session_die(c, err);
    }
}

/* The engine reports CLOSED. */
static void engine_closed(struct tls_conn *c)
{
    int code = br_ssl_engine_last_error(&c->sc.eng);
    if (c->state == TLS_CONNECTING) {
        if (code == BR_ERR_OK) {
            lw_err_set(&c->err_connect, TLS_E_PROTOCOL,
                       "TLS handshake with %s: the server closed the session during the handshake",
                       tls_peer(c));
        } else {
            describe_engine(c, code, &c->err_connect);
        }
        connect_fail(c);
        return;
    }
    struct lw_err err;
    if (code == BR_ERR_OK) {
        lw_err_set(&err, LOOP_E_CLOSED, "TLS session with %s: the server closed it (close_notify)",
                   tls_peer(c));
    } else {
        describe_engine(c, code, &err);
    }
    session_die(c, &err);
}

/* TCP EOF while input is wanted. */
static void eof_reached(struct tls_conn *c)
{
    if (c->state == TLS_CONNECTING) {
        if (c->handshake_bytes_in == 0) {
            lw_err_set(&c->err_connect, LOOP_E_CLOSED,
                       "TLS handshake with %s: the server closed the connection without answering "
                       "(is it a TLS port?)", tls_peer(c));
        } else {
            lw_err_set(&c->err_connect, LOOP_E_CLOSED,
                       "TLS handshake with %s: the server closed the connection in the middle of the "
                       "handshake", tls_peer(c));
        }
        connect_fail(c);
        return;
    }
    struct lw_err err;
    lw_err_set(&err, TLS_E_TRUNCATED,
               "TLS session with %s: the connection ended without a TLS close_notify: the data may "
               "be truncated", tls_peer(c));
    session_die(c, &err);
}

/* The first bytes of the server's answer must be a TLS record: handshake (22) or
 * alert (21), version 3.x. Anything else is another protocol on this port. */
static bool first_bytes_check(struct tls_conn *c)
{
    const uint8_t *p = c->stage + c->stage_off;
    size_t n = c->stage_len;
    assert(n > 0);
    c->first_checked = true;
    bool tls = (p[0] == 22 || p[0] == 21) && (n < 2 || p[1] == 3);
    if (tls) return true;
    char quoted[48];
    quote_bytes(quoted, sizeof quoted, p, n);
    lw_err_set(&c->err_connect, TLS_E_NOT_TLS,
               "TLS handshake with %s: the server did not answer with TLS (is it http://, or "
               "another protocol without TLS?): it sent %s", tls_peer(c), quoted);
    connect_fail(c);
    return false;
}

/* ------------------------------------------------------------------------- */
/* Moving bytes */

/* net_close was called: the ops in flight come back canceled, then on_net_closed. */
static bool socket_closing(const struct tls_conn *c)
{
    return c->state == TLS_CLOSING || c->failing || c->close_requested;
}

static int64_t deadline_for_io(const struct tls_conn *c, bool sending)
{
    if (c->state == TLS_CONNECTING) return c->connect_deadline_ms;
    if (sending && c->send_fn != NULL) return c->send_deadline_ms;
    if (!sending && c->recv_fn != NULL) return c->recv_deadline_ms;
    return loop_now_ms(c->loop) + TLS_CONTROL_SEND_MS;
}

static void on_net_sent(struct net_conn *net, void *context, size_t size_bytes,
                        const struct lw_err *err)
{
    (void)net;
    (void)size_bytes;
    struct tls_conn *c = context;
    assert(c->net_send_busy);
    c->net_send_busy = false;
    if (socket_closing(c)) return; /* on_net_closed comes next */
    if (err == NULL) {
        br_ssl_engine_sendrec_ack(&c->sc.eng, c->net_send_len);
    } else if (c->state == TLS_READY && c->sc.eng.shutdown_recv) {
        /* Our reply to the server's close_notify did not go out because the server
         * is gone already: the session still ended cleanly. (shutdown_recv is the
         * engine's "close_notify received" flag; BearSSL has no accessor for it.) */
        struct lw_err closed;
        lw_err_set(&closed, LOOP_E_CLOSED, "TLS session with %s: the server closed it (close_notify)",
                   tls_peer(c));
        session_die(c, &closed);
    } else {
        io_failed(c, err);
    }
    pump(c);
}

static void net_send_start(struct tls_conn *c)
{
    size_t len;
    unsigned char *buf = br_ssl_engine_sendrec_buf(&c->sc.eng, &len);
    assert(buf != NULL && len > 0 && !c->net_send_busy);
    c->net_send_busy = true;
    c->net_send_len = len;
    net_send(&c->net, buf, len, deadline_for_io(c, true), on_net_sent, c);
}

static void on_net_received(struct net_conn *net, void *context, size_t size_bytes,
                            const struct lw_err *err)
{
    (void)net;
    struct tls_conn *c = context;
    assert(c->net_recv_busy && c->stage_len == 0);
    c->net_recv_busy = false;
    if (socket_closing(c)) return; /* on_net_closed comes next */
    if (err == NULL) {
        assert(size_bytes > 0 && size_bytes <= sizeof c->stage);
        c->stage_off = 0;
        c->stage_len = size_bytes;
        if (c->state == TLS_CONNECTING) c->handshake_bytes_in += size_bytes;
    } else if (err->code == LOOP_E_CLOSED) {
        c->eof = true;
    } else if (err->code == LOOP_E_TIMED_OUT && c->state == TLS_CONNECTING) {
        int64_t waited_ms = loop_now_ms(c->loop) - c->handshake_start_ms;
        lw_err_set(&c->err_connect, LOOP_E_TIMED_OUT,
                   "TLS handshake with %s: timed out after %lld ms%s", tls_peer(c),
                   (long long)waited_ms,
                   c->handshake_bytes_in == 0
                       ? " without an answer (the server accepted the connection but said nothing: "
                         "is it a TLS port?)"
                       : " (the server stopped in the middle of the handshake)");
        connect_fail(c);
        return;
    } else if (err->code == LOOP_E_TIMED_OUT) {
        /* The session survives a recv timeout: staged bytes are intact. */
        if (c->recv_fn != NULL) {
            lw_err_set(&c->err_op, LOOP_E_TIMED_OUT, "TLS recv from %s: timed out", tls_peer(c));
            deliver_recv(c, 0, &c->err_op);
        }
    } else {
        io_failed(c, err);
    }
    pump(c);
}

static void net_recv_start(struct tls_conn *c)
{
    assert(!c->net_recv_busy && c->stage_len == 0);
    c->net_recv_busy = true;
    net_recv(&c->net, c->stage, sizeof c->stage, deadline_for_io(c, false), on_net_received, c);
}

/* Moves staged ciphertext into the engine. */
static void feed(struct tls_conn *c)
{
    size_t len;
    unsigned char *buf = br_ssl_engine_recvrec_buf(&c->sc.eng, &len);
    assert(buf != NULL && len > 0 && c->stage_len > 0);
    size_t n = len < c->stage_len ? len : c->stage_len;
    memcpy(buf, c->stage + c->stage_off, n);
    c->stage_off += n;
    c->stage_len -= n;
    if (c->stage_len == 0) c->stage_off = 0;
    br_ssl_engine_recvrec_ack(&c->sc.eng, n);
}

/* Copies the caller's plaintext into the engine; flushes at the end of the message. */
static void push_plaintext(struct tls_conn *c)
{
    br_ssl_engine_context *eng = &c->sc.eng;
    size_t len;
    unsigned char *buf = br_ssl_engine_sendapp_buf(eng, &len);
    assert(buf != NULL && len > 0 && c->send_pushed < c->send_size);
    size_t rest = c->send_size - c->send_pushed;
    size_t n = len < rest ? len : rest;
    memcpy(buf, c->send_buf + c->send_pushed, n);
    br_ssl_engine_sendapp_ack(eng, n);
    c->send_pushed += n;
    if (c->send_pushed == c->send_size) br_ssl_engine_flush(eng, 0);
}

static void pull_plaintext(struct tls_conn *c)
{
    br_ssl_engine_context *eng = &c->sc.eng;
    size_t len;
    unsigned char *buf = br_ssl_engine_recvapp_buf(eng, &len);
    assert(buf != NULL && len > 0);
    size_t n = len < c->recv_capacity ? len : c->recv_capacity;
    memcpy(c->recv_buf, buf, n);
    br_ssl_engine_recvapp_ack(eng, n);
    deliver_recv(c, n, NULL);
}

static void handshake_done(struct tls_conn *c)
{
    br_ssl_session_parameters params;
    br_ssl_engine_get_session_parameters(&c->sc.eng, &params);
    c->resumed = c->offered_session_id_len > 0 &&
                 params.session_id_len == c->offered_session_id_len &&
                 memcmp(params.session_id, c->offered_session_id, c->offered_session_id_len) == 0;
    c->state = TLS_READY;
    c->handshaking = false;
    c->session_valid = params.session_id_len > 0;
    snprintf(c->session_name, sizeof c->session_name, "%s", c->server_name);
    c->session_port = c->port;
    deliver_connect(c, NULL);
}

/* Does anyone want bytes from the server now? */
static bool input_wanted(const struct tls_conn *c)
{
    if (c->state == TLS_CONNECTING) return true;
    return c->recv_fn != NULL;
}

/* One step of the engine; true if it did something that may enable another. */
static bool pump_step(struct tls_conn *c)
{
    bool live = (c->state == TLS_CONNECTING && c->handshaking && !c->failing) ||
                c->state == TLS_READY;
    if (!live) return false;
    if (c->dead) {
        if (c->send_fn != NULL) {
            deliver_send(c, &c->err_dead);
            return true;
        }
        if (c->recv_fn != NULL) {
            deliver_recv(c, 0, &c->err_dead);
            return true;
        }
        return false;
    }
    br_ssl_engine_context *eng = &c->sc.eng;
    unsigned st = br_ssl_engine_current_state(eng);
    if (st & BR_SSL_CLOSED) {
        engine_closed(c);
        return true;
    }
    if ((st & BR_SSL_SENDREC) && !c->net_send_busy) net_send_start(c);
    if (c->state == TLS_CONNECTING) {
        if (st & BR_SSL_SENDAPP) {
            handshake_done(c);
            return true;
        }
    } else {
        if (c->send_fn != NULL && c->send_pushed < c->send_size && (st & BR_SSL_SENDAPP)) {
            push_plaintext(c);
            return true;
        }
        if (c->send_fn != NULL && c->send_pushed == c->send_size && !(st & BR_SSL_SENDREC) &&
            !c->net_send_busy) {
            deliver_send(c, NULL);
            return true;
        }
        if (c->recv_fn != NULL && (st & BR_SSL_RECVAPP)) {
            pull_plaintext(c);
            return true;
        }
    }
    if ((st & BR_SSL_RECVREC) && c->stage_len > 0) {
        if (c->state == TLS_CONNECTING && !c->first_checked && !first_bytes_check(c)) return false;
        feed(c);
        return true;
    }
    if ((st & BR_SSL_RECVREC) && !c->net_recv_busy && input_wanted(c)) {
        if (c->eof) {
            eof_reached(c);
            return true;
        }
        net_recv_start(c);
    }
    return false;
}

static void pump(struct tls_conn *c)
{
    while (pump_step(c)) {
    }
}

/* ------------------------------------------------------------------------- */
/* Connect */

static void on_tcp_connected(struct net_conn *net, void *context, size_t size_bytes,
                             const struct lw_err *err)
{
    (void)net;
    (void)size_bytes;
    struct tls_conn *c = context;
    assert(c->state == TLS_CONNECTING && !c->handshaking);
    if (err != NULL) {
        c->err_connect = *err;
        if (c->close_requested) return; /* on_net_closed reports both */
        c->state = TLS_IDLE;
        deliver_connect(c, &c->err_connect);
        return;
    }
    c->handshaking = true;
    c->handshake_start_ms = loop_now_ms(c->loop);
    if (!engine_start(c, &c->err_connect)) {
        connect_fail(c);
        return;
    }
    pump(c);
}

/* A failure found before any I/O: reported from the loop. */
static void on_early_failure(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct tls_conn *c = op->context;
    c->kick_armed = false;
    assert(c->state == TLS_CONNECTING && c->failing);
    c->failing = false;
    c->state = TLS_IDLE;
    bool close_pending = c->close_requested;
    c->close_requested = false;
    deliver_connect(c, &c->err_connect);
    if (close_pending) {
        tls_fn fn = c->close_fn;
        c->close_fn = NULL;
        fn(c, c->close_context, 0, NULL);
    }
}

static void early_failure(struct tls_conn *c)
{
    c->failing = true;
    c->kick_armed = true;
    loop_timer_start(c->loop, &c->op_kick, 0, on_early_failure, c);
}

/* The name to verify, or false (err_connect set) if it cannot be verified. */
static bool server_name_store(struct tls_conn *c, const char *name)
{
    size_t len = strlen(name);
    if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
        name++;
        len -= 2;
    }
    if (len >= 2 && name[len - 1] == '.') len--; /* "example.com." -> SNI has no final dot */
    if (len == 0 || len >= sizeof c->server_name) {
        return lw_err_set(&c->err_connect, TLS_E_HOST,
                          "TLS handshake with %s: the server name is empty or longer than %zu bytes",
                          tls_peer(c), sizeof c->server_name - 1);
    }
    memcpy(c->server_name, name, len);
    c->server_name[len] = '\0';
    uint8_t addr[16];
    if (inet_pton(AF_INET, c->server_name, addr) == 1 || inet_pton(AF_INET6, c->server_name, addr) == 1) {
        return lw_err_set(&c->err_connect, TLS_E_HOST,
                          "TLS handshake with %s: '%s' is an IP address, and certificates are "
                          "checked against DNS names only: connect by host name (or set the server "
                          "name the certificate is for)", tls_peer(c), c->server_name);
    }
    return true;
}

/* Resets the per-connection state for a new connect or handshake. */
static void connect_begin(struct tls_conn *c, uint16_t port, int64_t deadline_ms, tls_fn fn,
                          void *context)
{
    assert(c->loop != NULL && fn != NULL);
    assert(c->state == TLS_IDLE && c->close_fn == NULL && !c->kick_armed);
    assert(!c->net_send_busy && !c->net_recv_busy);
    c->state = TLS_CONNECTING;
    c->connect_fn = fn;
    c->connect_context = context;
    c->connect_deadline_ms = deadline_ms;
    c->port = port;
    c->handshaking = c->failing = c->close_requested = false;
    c->dead = c->eof = c->first_checked = c->close_notify_sent = c->resumed = false;
    c->stage_off = c->stage_len = 0;
    c->handshake_bytes_in = 0;
    c->send_fn = c->recv_fn = NULL;
    memset(&c->chain, 0, sizeof c->chain);
    lw_err_clear(&c->err_connect);
    lw_err_clear(&c->err_dead);
}

void tls_connect(struct tls_conn *conn, const char *host, uint16_t port, const char *server_name,
                 int64_t deadline_ms, tls_fn fn, void *context)
{
    struct tls_conn *c = conn;
    assert(host != NULL);
    connect_begin(c, port, deadline_ms, fn, context);
    bool v6 = strchr(host, ':') != NULL && host[0] != '[';
    snprintf(c->peer, sizeof c->peer, "%s%.*s%s:%u", v6 ? "[" : "", (int)(NET_HOST_MAX - 1), host,
             v6 ? "]" : "", (unsigned)port);
    if (!server_name_store(c, server_name != NULL ? server_name : host)) {
        early_failure(c);
        return;
    }
    net_connect(&c->net, host, port, deadline_ms, on_tcp_connected, c);
}

void tls_handshake(struct tls_conn *conn, const char *server_name, int64_t deadline_ms, tls_fn fn,
                   void *context)
{
    struct tls_conn *c = conn;
    assert(server_name != NULL);
    assert(net_state(&c->net) == NET_CONNECTED);
    /* The port keys the session for resumption; the embedded net_conn knows it. */
    connect_begin(c, c->net.port, deadline_ms, fn, context);
    snprintf(c->peer, sizeof c->peer, "%s", net_peer(&c->net));
    if (!server_name_store(c, server_name)) {
        connect_fail(c); /* reported after closing the socket, as any failed connect */
        return;
    }
    c->handshaking = true;
    c->handshake_start_ms = loop_now_ms(c->loop);
    if (!engine_start(c, &c->err_connect)) {
        connect_fail(c);
        return;
    }
    pump(c); /* starts the ClientHello; no result can be ready before the server answers */
}

struct net_conn *tls_net(struct tls_conn *conn) { return &conn->net; }

/* ------------------------------------------------------------------------- */
/* Send, recv */

void tls_send(struct tls_conn *conn, const void *buf, size_t size_bytes, int64_t deadline_ms,
              tls_fn fn, void *context)
{
    assert(conn->state == TLS_READY);
    assert(conn->send_fn == NULL && fn != NULL && buf != NULL && size_bytes > 0);
    conn->send_fn = fn;
    conn->send_context = context;
    conn->send_buf = buf;
    conn->send_size = size_bytes;
    conn->send_pushed = 0;
    conn->send_deadline_ms = deadline_ms;
    kick(conn);
}

void tls_recv(struct tls_conn *conn, void *buf, size_t capacity_bytes, int64_t deadline_ms,
              tls_fn fn, void *context)
{
    assert(conn->state == TLS_READY);
    assert(conn->recv_fn == NULL && fn != NULL && buf != NULL && capacity_bytes > 0);
    conn->recv_fn = fn;
    conn->recv_context = context;
    conn->recv_buf = buf;
    conn->recv_capacity = capacity_bytes;
    conn->recv_deadline_ms = deadline_ms;
    kick(conn);
}

/* ------------------------------------------------------------------------- */
/* Close */

/* The socket is closed: report what was pending, then the close itself. */
static void on_net_closed(struct net_conn *net, void *context, size_t size_bytes,
                          const struct lw_err *err)
{
    (void)net;
    (void)size_bytes;
    (void)err;
    struct tls_conn *c = context;
    assert(!c->net_send_busy && !c->net_recv_busy);
    bool failing = c->failing;
    c->state = TLS_IDLE;
    c->handshaking = c->failing = false;
    c->stage_off = c->stage_len = 0;
    bool close_pending = c->close_fn != NULL;
    c->close_requested = false;

    struct lw_err canceled;
    lw_err_set(&canceled, LOOP_E_CANCELED, "TLS with %s: canceled by close", tls_peer(c));
    if (c->connect_fn != NULL) {
        if (!failing) c->err_connect = canceled;
        deliver_connect(c, &c->err_connect);
    }
    if (c->send_fn != NULL) deliver_send(c, &canceled);
    if (c->recv_fn != NULL) deliver_recv(c, 0, &canceled);
    if (close_pending) {
        tls_fn fn = c->close_fn;
        c->close_fn = NULL;
        fn(c, c->close_context, 0, NULL);
    }
}

static void on_close_notify_sent(struct net_conn *net, void *context, size_t size_bytes,
                                 const struct lw_err *err)
{
    (void)net;
    (void)size_bytes;
    (void)err; /* best effort: the socket closes either way */
    struct tls_conn *c = context;
    c->net_send_busy = false;
    net_close(&c->net, on_net_closed, c);
}

static void on_idle_closed(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct tls_conn *c = op->context;
    c->kick_armed = false;
    c->state = TLS_IDLE;
    tls_fn fn = c->close_fn;
    c->close_fn = NULL;
    fn(c, c->close_context, 0, NULL);
}

/* Starts close_notify when the session is live and quiet; false if it cannot. */
static bool close_notify_start(struct tls_conn *c)
{
    if (c->dead || c->net_send_busy || c->send_fn != NULL || c->recv_fn != NULL) return false;
    br_ssl_engine_context *eng = &c->sc.eng;
    if (br_ssl_engine_current_state(eng) & BR_SSL_CLOSED) return false;
    br_ssl_engine_close(eng);
    size_t len;
    unsigned char *buf = br_ssl_engine_sendrec_buf(eng, &len);
    if (buf == NULL || len == 0) return false;
    c->net_send_busy = true;
    c->close_notify_sent = true;
    net_send(&c->net, buf, len, loop_now_ms(c->loop) + TLS_CLOSE_NOTIFY_MS, on_close_notify_sent, c);
    return true;
}

void tls_close(struct tls_conn *conn, tls_fn fn, void *context)
{
    struct tls_conn *c = conn;
    assert(fn != NULL && c->close_fn == NULL && c->state != TLS_CLOSING);
    c->close_fn = fn;
    c->close_context = context;
    switch (c->state) {
    case TLS_IDLE:
        assert(!c->kick_armed);
        c->state = TLS_CLOSING;
        c->kick_armed = true;
        loop_timer_start(c->loop, &c->op_kick, 0, on_idle_closed, c);
        return;
    case TLS_CONNECTING:
        c->close_requested = true;
        if (c->failing) return; /* its socket is closing already; both get reported */
        kick_cancel(c);
        net_close(&c->net, on_net_closed, c);
        return;
    case TLS_READY:
        kick_cancel(c);
        c->state = TLS_CLOSING;
        if (close_notify_start(c)) return;
        net_close(&c->net, on_net_closed, c);
        return;
    case TLS_CLOSING:
        break;
    }
    assert(!"tls_close twice");
}

/* ------------------------------------------------------------------------- */
/* Set-up and accessors */

void tls_init(struct tls_conn *conn, struct loop *loop, const struct tls_anchors *anchors)
{
    assert(loop != NULL && anchors != NULL && anchors->count > 0);
    memset(conn, 0, sizeof *conn);
    conn->loop = loop;
    conn->anchors = anchors;
    net_init(&conn->net, loop);
    engine_configure(conn);
}

const char *tls_peer(const struct tls_conn *conn) { return conn->peer; }

enum tls_state tls_state(const struct tls_conn *conn) { return conn->state; }

bool tls_resumed(const struct tls_conn *conn) { return conn->resumed; }

uint16_t tls_cipher_suite(const struct tls_conn *conn)
{
    if (conn->state != TLS_READY) return 0;
    br_ssl_session_parameters params;
    br_ssl_engine_get_session_parameters(&conn->sc.eng, &params);
    return params.cipher_suite;
}

/* ------------------------------------------------------------------------- */
/* Transport */

static struct tls_transport *transport_of_tcp(struct net_conn *net)
{
    return (struct tls_transport *)(void *)((char *)net - offsetof(struct tls_transport, u.tcp));
}

static struct tls_transport *transport_of_tls(struct tls_conn *conn)
{
    return (struct tls_transport *)(void *)((char *)conn - offsetof(struct tls_transport, u.tls));
}

#define TRANSPORT_RELAY(name)                                                              \
    static void tcp_##name(struct net_conn *net, void *context, size_t size_bytes,         \
                           const struct lw_err *err)                                       \
    {                                                                                      \
        (void)context;                                                                     \
        struct tls_transport *t = transport_of_tcp(net);                                   \
        tls_transport_fn fn = t->name##_fn;                                                \
        t->name##_fn = NULL;                                                               \
        fn(t, t->name##_context, size_bytes, err);                                         \
    }                                                                                      \
    static void tls_##name##_relay(struct tls_conn *conn, void *context, size_t size_bytes,\
                                   const struct lw_err *err)                               \
    {                                                                                      \
        (void)context;                                                                     \
        struct tls_transport *t = transport_of_tls(conn);                                  \
        tls_transport_fn fn = t->name##_fn;                                                \
        t->name##_fn = NULL;                                                               \
        fn(t, t->name##_context, size_bytes, err);                                         \
    }

TRANSPORT_RELAY(connect)
TRANSPORT_RELAY(send)
TRANSPORT_RELAY(recv)
TRANSPORT_RELAY(close)

void tls_transport_init(struct tls_transport *transport, struct loop *loop, bool use_tls,
                        const struct tls_anchors *anchors)
{
    memset(transport, 0, offsetof(struct tls_transport, u));
    transport->use_tls = use_tls;
    if (use_tls) tls_init(&transport->u.tls, loop, anchors);
    else net_init(&transport->u.tcp, loop);
    transport->connect_fn = transport->send_fn = transport->recv_fn = transport->close_fn = NULL;
}

void tls_transport_connect(struct tls_transport *transport, const char *host, uint16_t port,
                           int64_t deadline_ms, tls_transport_fn fn, void *context)
{
    assert(fn != NULL && transport->connect_fn == NULL);
    transport->connect_fn = fn;
    transport->connect_context = context;
    if (transport->use_tls) tls_connect(&transport->u.tls, host, port, NULL, deadline_ms, tls_connect_relay, NULL);
    else net_connect(&transport->u.tcp, host, port, deadline_ms, tcp_connect, NULL);
}

void tls_transport_send(struct tls_transport *transport, const void *buf, size_t size_bytes,
                        int64_t deadline_ms, tls_transport_fn fn, void *context)
{
    assert(fn != NULL && transport->send_fn == NULL);
    transport->send_fn = fn;
    transport->send_context = context;
    if (transport->use_tls) tls_send(&transport->u.tls, buf, size_bytes, deadline_ms, tls_send_relay, NULL);
    else net_send(&transport->u.tcp, buf, size_bytes, deadline_ms, tcp_send, NULL);
}

void tls_transport_recv(struct tls_transport *transport, void *buf, size_t capacity_bytes,
                        int64_t deadline_ms, tls_transport_fn fn, void *context)
{
    assert(fn != NULL && transport->recv_fn == NULL);
    transport->recv_fn = fn;
    transport->recv_context = context;
    if (transport->use_tls) tls_recv(&transport->u.tls, buf, capacity_bytes, deadline_ms, tls_recv_relay, NULL);
    else net_recv(&transport->u.tcp, buf, capacity_bytes, deadline_ms, tcp_recv, NULL);
}

void tls_transport_close(struct tls_transport *transport, tls_transport_fn fn, void *context)
{
    assert(fn != NULL && transport->close_fn == NULL);
    transport->close_fn = fn;
    transport->close_context = context;
    if (transport->use_tls) tls_close(&transport->u.tls, tls_close_relay, NULL);
    else net_close(&transport->u.tcp, tcp_close, NULL);
}

const char *tls_transport_peer(const struct tls_transport *transport)
{
    return transport->use_tls ? tls_peer(&transport->u.tls) : net_peer(&transport->u.tcp);
}

bool tls_transport_ready(const struct tls_transport *transport)
{
    if (transport->use_tls) return transport->u.tls.state == TLS_READY && !transport->u.tls.dead;
    return net_state(&transport->u.tcp) == NET_CONNECTED;
}
