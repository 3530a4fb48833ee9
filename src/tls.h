/* tls: TLS 1.2 client connections (BearSSL) over the loop's TCP connections, and a
 * transport that is either plain TCP or TLS behind one interface.
 *
 * The same byte interface as net.h, with the same rules (results only through
 * callbacks run from the loop, one send and one recv in flight, close at any time):
 *
 *     tls_init(&c, loop, &anchors)
 *     tls_connect(&c, host, port, NULL, deadline_ms, fn, ctx)  -> fn: TCP up, handshake
 *                                                               done, certificate verified
 *     tls_send(&c, bytes, n, deadline_ms, fn, ctx)   -> fn: all n encrypted and sent
 *     tls_recv(&c, buf, cap, deadline_ms, fn, ctx)   -> fn: 1..cap plaintext bytes
 *     tls_close(&c, fn, ctx)                         -> fn: close_notify sent (if it can
 *                                                      be, without waiting), socket closed
 *
 * or, to start TLS inside a plain-text protocol (PostgreSQL's SSLRequest), net_connect
 * and talk on tls_net(&c) first, then tls_handshake(&c, name, deadline_ms, fn, ctx).
 *
 * The engine is BearSSL's, driven by the loop's bytes and never blocking:
 *
 *      caller plaintext          BearSSL engine                 net_conn (TCP)
 *   tls_send buf ---copy---> sendapp_buf/ack, flush --+
 *                                                     v
 *                           sendrec_buf [record...] ------ net_send --------> peer
 *                            (acked when the send completes: the bytes stay put)
 *   tls_recv buf <--copy---- recvapp_buf/ack
 *                                 ^
 *                           recvrec_buf/ack <--copy-- stage[16 KiB] <-- net_recv -- peer
 *                            (the engine asks for the 5-byte header, then exactly the
 *                             record body: a recv may carry several records, so the
 *                             rest waits in `stage` until the engine wants it)
 *
 * After every ack the state (br_ssl_engine_current_state) is read again: records to
 * send go out first; plaintext goes in only when the engine has room; ciphertext is
 * received only when someone wants input (the handshake, or a pending tls_recv), so a
 * slow reader leaves data in the kernel instead of growing buffers. The handshake is
 * complete when the engine first accepts application data (SENDAPP): by then the
 * server's chain was verified and its Finished checked, so no request byte can leave
 * before that.
 *
 * Security settings (not configurable): TLS 1.2 only (BearSSL has no 1.3); suites
 * ECDHE_{ECDSA,RSA}_WITH_{AES_128_GCM_SHA256, CHACHA20_POLY1305_SHA256,
 * AES_256_GCM_SHA384}; curves X25519, P-256, P-384, P-521; no renegotiation. Full-size
 * buffers in both directions (BR_SSL_BUFSIZE_INPUT + _OUTPUT), so 16 KiB records are
 * accepted and no Max Fragment Length is requested. Entropy: 32 bytes from loop_random
 * injected before every handshake (BearSSL is built without its own OS sources).
 * Validation time: loop_wall_ms at the start of the handshake, not BearSSL's time().
 *
 * Names. SNI and the certificate check always use the server name: the host given to
 * tls_connect, or an explicit `server_name`. BearSSL's x509_minimal matches DNS names
 * (subjectAltName dNSName, else the CN; "*." wildcards in the first label) and not IP
 * addresses, so a server name that is an IP address is refused (TLS_E_HOST) rather
 * than sent unchecked: connect by name, or give `server_name` (the name on the
 * certificate) while connecting to an address.
 *
 * Sessions. After a successful handshake the session is kept in the connection; the
 * next tls_connect of the same connection to the same name and port offers it
 * (session-ID resumption, RFC 5246; BearSSL has no tickets), which saves the server's
 * certificate check and a round trip on keep-alive reconnects. tls_resumed() says
 * whether the server took it. A session that ended in a TLS error (an alert, a bad
 * record, a failed handshake) is not offered again; I/O errors and a missing
 * close_notify do not spoil it.
 *
 * Errors. Failures come as `struct lw_err` whose code is a loop_error (TCP: refused,
 * timed out, reset, closed...) or a tls_error below, with a message that names the
 * peer and says what to do:
 *
 *   TLS handshake with localhost:9443: the server's certificate is not trusted by the
 *     CA bundle tests/ca.pem (its chain ends at 'Other CA', which is not in the bundle)
 *   TLS handshake with 127.0.0.1:9000: the server did not answer with TLS (is it
 *     http://?): it sent "HTTP/1.1 400 Bad Request"
 *
 * A timeout keeps its loop code (LOOP_E_TIMED_OUT) so retry policies treat it like a
 * TCP one. The end of the stream: a close_notify from the server is LOOP_E_CLOSED (as
 * EOF on TCP); EOF without close_notify is TLS_E_TRUNCATED (the data may be cut).
 * After a failed handshake the connection is TLS_IDLE again (its socket closed). After
 * any other failure but a recv timeout the session is dead: further sends and recvs
 * fail with the same error until tls_close. */
#ifndef LW_TLS_H
#define LW_TLS_H

#include <bearssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"
#include "net.h"
#include "tls_anchors.h"

enum {
    TLS_STAGE_BYTES = 16 * 1024,       /* ciphertext received ahead of the engine */
    TLS_CERT_CAPTURE_BYTES = 8 * 1024, /* certificates larger than this are not described */
    TLS_CLOSE_NOTIFY_MS = 1000,        /* the most tls_close waits to send close_notify */
    TLS_CONTROL_SEND_MS = 10000,       /* deadline of records sent when no op asked */
    TLS_NAME_TEXT_MAX = 160,           /* certificate names quoted in messages */
};

/* lw_err codes of TLS failures. Codes below TLS_E_FIRST are loop_error values. */
enum tls_error {
    TLS_E_FIRST = 100,
    TLS_E_NOT_TLS = TLS_E_FIRST, /* the server answered, but not with TLS */
    TLS_E_UNTRUSTED,             /* the chain does not lead to an anchor of the bundle */
    TLS_E_NAME_MISMATCH,         /* the certificate is not for the server name */
    TLS_E_EXPIRED,               /* a certificate is outside its validity period */
    TLS_E_CERTIFICATE,           /* otherwise unusable certificate */
    TLS_E_VERSION,               /* the server does not do TLS 1.2 */
    TLS_E_NO_SUITE,              /* no common ECDHE+AEAD suite, curve or signature */
    TLS_E_ALERT,                 /* the server ended the handshake with another alert */
    TLS_E_PROTOCOL,              /* a TLS protocol violation (bad record, MAC, ...) */
    TLS_E_TRUNCATED,             /* the stream ended without close_notify */
    TLS_E_HOST,                  /* the server name cannot be checked (an IP address) */
    TLS_E_NO_RANDOM,             /* the loop's random source failed */
    TLS_E_END_
};

/* True for errors that retrying will not fix: configuration or deployment problems
 * (wrong CA bundle, wrong host, expired certificate, not a TLS port, no common
 * version or suite). False for loop_error codes and TLS_E_TRUNCATED/TLS_E_PROTOCOL. */
bool tls_error_is_permanent(int code);

/* A short name of a code: "certificate not trusted", "connection refused"... */
const char *tls_strerror(int code);

struct tls_conn;

/* The result of one operation, as net_fn: `err` is NULL on success; `size_bytes`
 * is the plaintext received (recv), all of it sent (send success), else 0. */
typedef void (*tls_fn)(struct tls_conn *conn, void *context, size_t size_bytes,
                       const struct lw_err *err);

enum tls_state {
    TLS_IDLE = 0,      /* no connection: may connect */
    TLS_CONNECTING,    /* TCP connect, then the handshake */
    TLS_READY,         /* handshake done: send and recv (unless the session died) */
    TLS_CLOSING,
};

/* What the certificate observer noted about the server's chain, for messages. */
struct tls_chain_info {
    uint32_t cert_count;
    bool ee_described;                       /* the fields below are set */
    char ee_cn[TLS_NAME_TEXT_MAX];           /* subject CN of the server's certificate */
    char ee_names[TLS_NAME_TEXT_MAX];        /* its dNSNames: "localhost, *.example.com" */
    uint32_t ee_ip_count;                    /* iPAddress names (never matched) */
    bool top_described;
    char top_subject_cn[TLS_NAME_TEXT_MAX];  /* the last certificate the server sent */
    char top_issuer_cn[TLS_NAME_TEXT_MAX];   /* ... and its issuer */
    bool top_self_signed;
    bool bad_time_found;                     /* first certificate outside its validity */
    uint32_t bad_time_index;                 /* 0 = the server's own certificate */
    char bad_time_cn[TLS_NAME_TEXT_MAX];
    int64_t bad_time_not_before_s, bad_time_not_after_s;
};

/* Wraps BearSSL's x509_minimal to watch the certificates go by (private). */
struct tls_x509_observer {
    const br_x509_class *vtable;  /* first: BearSSL calls through it */
    struct tls_conn *conn;
};

/* A TLS connection, owned by the caller. Fields are private: use the functions. */
struct tls_conn {
    struct loop *loop;
    const struct tls_anchors *anchors;
    enum tls_state state;
    struct net_conn net;

    char peer[NET_PEER_MAX];       /* "host:port", for messages */
    char server_name[NET_HOST_MAX];
    uint16_t port;
    int64_t connect_deadline_ms;
    int64_t handshake_start_ms;
    int64_t validation_unix_s;     /* the time certificates were checked against */
    bool handshaking;              /* TCP is up, the engine runs */
    bool failing;                  /* a failed connect: closing its socket */
    bool close_requested;          /* tls_close during connect */
    bool dead;                     /* the session failed; dead_err says how */
    bool eof;                      /* the peer closed its side (TCP) */
    bool first_checked;            /* the first received bytes looked like TLS */
    bool close_notify_sent;
    bool resumed;
    bool session_valid;            /* the engine holds a session to offer */
    char session_name[NET_HOST_MAX];
    uint16_t session_port;
    uint8_t offered_session_id[32];
    size_t offered_session_id_len;
    size_t handshake_bytes_in;     /* ciphertext received during the handshake */

    /* BearSSL */
    br_ssl_client_context sc;
    br_x509_minimal_context xc;
    struct tls_x509_observer observer;
    struct tls_chain_info chain;
    uint8_t capture[TLS_CERT_CAPTURE_BYTES];
    size_t capture_len, capture_expected;
    bool capture_on;
    uint8_t buf_in[BR_SSL_BUFSIZE_INPUT];
    uint8_t buf_out[BR_SSL_BUFSIZE_OUTPUT];

    /* Ciphertext received and not yet taken by the engine: stage[off, off+len). */
    uint8_t stage[TLS_STAGE_BYTES];
    size_t stage_off, stage_len;
    bool net_send_busy, net_recv_busy;
    size_t net_send_len;

    /* The caller's operations. */
    tls_fn connect_fn, send_fn, recv_fn, close_fn;
    void *connect_context, *send_context, *recv_context, *close_context;
    const uint8_t *send_buf;
    size_t send_size, send_pushed;
    int64_t send_deadline_ms;
    uint8_t *recv_buf;
    size_t recv_capacity;
    int64_t recv_deadline_ms;
    struct loop_op op_kick;        /* 0 ms timer: runs the engine from the loop */
    bool kick_armed;
    struct lw_err err_connect, err_dead, err_op;
};

/* Prepares `conn` for `loop`, verifying servers against `anchors` (which must stay
 * loaded while the connection is used). The engine keeps pointers into `conn`: it
 * must not be moved or copied afterwards. About 71 KiB, most of it BearSSL's record
 * buffers and the receive stage. */
void tls_init(struct tls_conn *conn, struct loop *loop, const struct tls_anchors *anchors);

/* Connects to `host`:`port` over TCP (see net_connect), then runs the TLS handshake,
 * all before `deadline_ms`. The certificate must be valid for `server_name`, or for
 * `host` when server_name is NULL; that name is also sent as SNI. `fn` gets NULL once
 * the handshake is complete and verified, else an error (and the connection is
 * TLS_IDLE again). The connection must be TLS_IDLE. */
void tls_connect(struct tls_conn *conn, const char *host, uint16_t port, const char *server_name,
                 int64_t deadline_ms, tls_fn fn, void *context);

/* STARTTLS: runs the handshake over the connection's own TCP connection, which the
 * caller connected and used in plain text first through tls_net(conn) (PostgreSQL's
 * SSLRequest: send it, read 'S', then call this). `server_name` is checked and sent
 * as SNI as for tls_connect. No net op may be in flight on tls_net(conn), and no
 * plaintext byte of the server may be left unread. `fn` as for tls_connect: on
 * failure the TCP connection is closed too. The connection must be TLS_IDLE. */
void tls_handshake(struct tls_conn *conn, const char *server_name, int64_t deadline_ms, tls_fn fn,
                   void *context);

/* The TCP connection under `conn`, for plain-text use before tls_handshake only. */
struct net_conn *tls_net(struct tls_conn *conn);

/* Encrypts and sends all `size_bytes` (> 0) of `buf`, which must stay unchanged until
 * `fn` runs; records are flushed at the end, so a request goes out at once. The
 * connection must be TLS_READY with no other send in flight. */
void tls_send(struct tls_conn *conn, const void *buf, size_t size_bytes, int64_t deadline_ms,
              tls_fn fn, void *context);

/* Receives 1 to `capacity_bytes` (> 0) plaintext bytes into `buf`. LOOP_E_CLOSED after
 * the server's close_notify, TLS_E_TRUNCATED on EOF without it, LOOP_E_TIMED_OUT when
 * the deadline passes (the session stays usable). The connection must be TLS_READY
 * with no other recv in flight. */
void tls_recv(struct tls_conn *conn, void *buf, size_t capacity_bytes, int64_t deadline_ms,
              tls_fn fn, void *context);

/* Closes the connection. With no operation in flight on a live session, sends
 * close_notify first (waiting at most TLS_CLOSE_NOTIFY_MS, never for the server's
 * reply). Operations in flight complete first with LOOP_E_CANCELED, then `fn` runs
 * with err == NULL and the connection is TLS_IDLE. */
void tls_close(struct tls_conn *conn, tls_fn fn, void *context);

/* "host:port" of the last tls_connect, for messages. */
const char *tls_peer(const struct tls_conn *conn);

enum tls_state tls_state(const struct tls_conn *conn);

/* True if the last handshake resumed the previous session (no certificate sent). */
bool tls_resumed(const struct tls_conn *conn);

/* The negotiated cipher suite (BR_TLS_...), 0 before a handshake completed. */
uint16_t tls_cipher_suite(const struct tls_conn *conn);

/* ------------------------------------------------------------------------- */
/* Transport: plain TCP or TLS behind one interface
 *
 *     struct tls_transport t;
 *     tls_transport_init(&t, loop, cfg->s3.tls, &anchors);   // http:// or https://
 *     tls_transport_connect(&t, host, port, deadline_ms, fn, ctx);
 *     tls_transport_send / tls_transport_recv / tls_transport_close
 *
 * Same rules and error codes as net.h and the tls_* functions above; the callback
 * gets the transport. */

struct tls_transport;

typedef void (*tls_transport_fn)(struct tls_transport *transport, void *context,
                                 size_t size_bytes, const struct lw_err *err);

struct tls_transport {
    bool use_tls;
    union {
        struct net_conn tcp;
        struct tls_conn tls;
    } u;
    tls_transport_fn connect_fn, send_fn, recv_fn, close_fn;
    void *connect_context, *send_context, *recv_context, *close_context;
};

/* Prepares a transport: TLS verified against `anchors` when `use_tls` (anchors must
 * then be loaded and stay so), plain TCP otherwise (anchors ignored). */
void tls_transport_init(struct tls_transport *transport, struct loop *loop, bool use_tls,
                        const struct tls_anchors *anchors);

/* net_connect or tls_connect (the host is the server name). */
void tls_transport_connect(struct tls_transport *transport, const char *host, uint16_t port,
                           int64_t deadline_ms, tls_transport_fn fn, void *context);

void tls_transport_send(struct tls_transport *transport, const void *buf, size_t size_bytes,
                        int64_t deadline_ms, tls_transport_fn fn, void *context);

void tls_transport_recv(struct tls_transport *transport, void *buf, size_t capacity_bytes,
                        int64_t deadline_ms, tls_transport_fn fn, void *context);

void tls_transport_close(struct tls_transport *transport, tls_transport_fn fn, void *context);

/* "host:port" of the last connect. */
const char *tls_transport_peer(const struct tls_transport *transport);

/* True when connected and usable for send/recv (NET_CONNECTED / TLS_READY). */
bool tls_transport_ready(const struct tls_transport *transport);

#endif
