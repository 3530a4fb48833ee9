/* net: TCP connections over the loop. See net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static void attempt_start(struct net_conn *conn);

/* ------------------------------------------------------------------------- */
/* Messages */

/* "<verb> <peer>[ (<address>)]: <what happened>" for a failed loop op. */
static void err_from_op(struct net_conn *conn, struct lw_err *err, const char *verb,
                        const char *address, const struct loop_op *op)
{
    char where[NET_PEER_MAX + INET6_ADDRSTRLEN + 4];
    if (address != NULL) snprintf(where, sizeof where, "%s (%s)", conn->peer, address);
    else snprintf(where, sizeof where, "%s", conn->peer);
    if (op->error == LOOP_E_UNEXPECTED && op->errno_raw != 0) {
        lw_err_set(err, op->error, "%s %s: unexpected error (errno %d: %s)", verb, where,
                   op->errno_raw, strerror(op->errno_raw));
    } else {
        lw_err_set(err, op->error, "%s %s: %s", verb, where, loop_strerror(op->error));
    }
}

/* The numeric form of address `i`, or NULL when the host itself is numeric (the
 * message already shows it). */
static const char *address_text(const struct net_conn *conn, uint32_t i, char *out, size_t size)
{
    const struct sockaddr_storage *ss = &conn->addrs[i];
    const void *raw = ss->ss_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (inet_ntop(ss->ss_family, raw, out, (socklen_t)size) == NULL) return NULL;
    return strcmp(out, conn->host) == 0 ? NULL : out;
}

/* ------------------------------------------------------------------------- */
/* Addresses */

/* Copies `host` without IPv6 brackets and fills conn->peer. False if too long. */
static bool host_store(struct net_conn *conn, const char *host, uint16_t port)
{
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= NET_HOST_MAX) {
        snprintf(conn->peer, sizeof conn->peer, "%.*s...:%u", 32, host, (unsigned)port);
        return false;
    }
    memcpy(conn->host, host, len);
    conn->host[len] = '\0';
    conn->port = port;
    bool v6 = memchr(conn->host, ':', len) != NULL;
    snprintf(conn->peer, sizeof conn->peer, "%s%s%s:%u", v6 ? "[" : "", conn->host, v6 ? "]" : "",
             (unsigned)port);
    return true;
}

/* Numeric addresses directly, names through the (blocking) resolver. */
static bool addresses_resolve(struct net_conn *conn)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&conn->addrs[0];
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&conn->addrs[0];
    memset(&conn->addrs[0], 0, sizeof conn->addrs[0]);
    conn->addr_count = 0;
    conn->addr_next = 0;
    if (inet_pton(AF_INET, conn->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(conn->port);
        conn->addr_lens[0] = sizeof *v4;
        conn->addr_count = 1;
        return true;
    }
    if (inet_pton(AF_INET6, conn->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(conn->port);
        conn->addr_lens[0] = sizeof *v6;
        conn->addr_count = 1;
        return true;
    }
    struct lw_err err;
    size_t count = loop_resolve(conn->host, conn->port, conn->addrs, conn->addr_lens,
                                NET_ADDRS_MAX, &err);
    if (count == 0) {
        return lw_err_set(&conn->err_connect, err.code, "connect to %s: cannot resolve the name: %s",
                          conn->peer, err.msg);
    }
    conn->addr_count = (uint32_t)count;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Connect */

static void close_done(struct loop *loop, struct loop_op *op);

/* Completes a net_close with no socket to close: through a 0 ms timer, so that its
 * callback runs from the loop like every other. */
static void close_later(struct net_conn *conn)
{
    assert(!conn->socket_open);
    loop_timer_start(conn->loop, &conn->op_close, 0, close_done, conn);
}

static void connect_deliver(struct net_conn *conn, const struct lw_err *err)
{
    assert(conn->state == NET_CONNECTING);
    assert(err != NULL || (conn->socket_open && !conn->close_requested));
    conn->state = err == NULL ? NET_CONNECTED : conn->close_requested ? NET_CLOSING : NET_IDLE;
    net_fn fn = conn->connect_fn;
    conn->connect_fn = NULL;
    fn(conn, conn->connect_context, 0, err);
}

/* The last attempt failed and its socket is closed (or never opened): report it. */
static void connect_failed(struct net_conn *conn)
{
    assert(!conn->socket_open);
    assert(conn->err_connect.code != LOOP_OK);
    bool close_pending = conn->close_requested && conn->op_close.state == LOOP_OP_IDLE;
    connect_deliver(conn, &conn->err_connect);
    if (close_pending) close_later(conn);
}

static void connect_failed_timer(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    connect_failed(op->context);
}

/* Reports a failure found before any callback of ours ran: from the loop. */
static void connect_failed_later(struct net_conn *conn)
{
    loop_timer_start(conn->loop, &conn->op_connect, 0, connect_failed_timer, conn);
}

static void attempt_closed(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct net_conn *conn = op->context;
    assert(op->error == LOOP_OK || op->error == LOOP_E_UNEXPECTED);
    conn->socket_open = false;
    enum loop_error last = (enum loop_error)conn->err_connect.code;
    bool next = last != LOOP_E_TIMED_OUT && last != LOOP_E_CANCELED &&
                conn->addr_next < conn->addr_count && !conn->close_requested;
    if (next) attempt_start(conn);
    else connect_failed(conn);
}

static void attempt_done(struct loop *loop, struct loop_op *op)
{
    struct net_conn *conn = op->context;
    assert(conn->state == NET_CONNECTING);
    if (op->error == LOOP_OK) {
        connect_deliver(conn, NULL);
        return;
    }
    char text[INET6_ADDRSTRLEN];
    const char *address = address_text(conn, conn->addr_next - 1, text, sizeof text);
    err_from_op(conn, &conn->err_connect, "connect to", address, op);
    if (conn->close_requested) {
        /* net_close closed the socket under the connect (which is how it got
         * canceled); its own callback comes next. */
        assert(op->error == LOOP_E_CANCELED && conn->op_close.state != LOOP_OP_IDLE);
        connect_deliver(conn, &conn->err_connect);
        return;
    }
    loop_close(loop, &conn->sock, &conn->op_connect, attempt_closed, conn);
}

/* Tries the next address; reports the failure when none is left. */
static void attempt_start(struct net_conn *conn)
{
    while (conn->addr_next < conn->addr_count) {
        if (conn->close_requested) {
            lw_err_set(&conn->err_connect, LOOP_E_CANCELED, "connect to %s: %s", conn->peer,
                       loop_strerror(LOOP_E_CANCELED));
            break;
        }
        if (loop_now_ms(conn->loop) >= conn->connect_deadline_ms) {
            lw_err_set(&conn->err_connect, LOOP_E_TIMED_OUT, "connect to %s: %s", conn->peer,
                       loop_strerror(LOOP_E_TIMED_OUT));
            break;
        }
        uint32_t i = conn->addr_next++;
        struct lw_err err;
        if (!loop_socket_open(conn->loop, &conn->sock, conn->addrs[i].ss_family, &err)) {
            lw_err_set(&conn->err_connect, err.code, "connect to %s: %s", conn->peer, err.msg);
            continue;
        }
        conn->socket_open = true;
        loop_connect(conn->loop, &conn->sock, &conn->op_connect,
                     (const struct sockaddr *)&conn->addrs[i], conn->addr_lens[i],
                     conn->connect_deadline_ms, attempt_done, conn);
        return;
    }
    connect_failed_later(conn);
}

void net_connect(struct net_conn *conn, const char *host, uint16_t port, int64_t deadline_ms,
                 net_fn fn, void *context)
{
    assert(conn->loop != NULL && host != NULL && fn != NULL);
    assert(conn->state == NET_IDLE && !conn->socket_open);
    conn->state = NET_CONNECTING;
    conn->close_requested = false;
    conn->connect_fn = fn;
    conn->connect_context = context;
    conn->connect_deadline_ms = deadline_ms;
    conn->addr_count = 0;
    conn->addr_next = 0;
    lw_err_clear(&conn->err_connect);
    if (!host_store(conn, host, port)) {
        lw_err_set(&conn->err_connect, LOOP_E_RESOLVE, "connect to %s: host name empty or too long",
                   conn->peer);
        connect_failed_later(conn);
        return;
    }
    if (!addresses_resolve(conn)) {
        connect_failed_later(conn);
        return;
    }
    attempt_start(conn);
}

/* ------------------------------------------------------------------------- */
/* Send, recv, close */

static void send_done(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct net_conn *conn = op->context;
    net_fn fn = conn->send_fn;
    conn->send_fn = NULL;
    const struct lw_err *err = NULL;
    if (op->error != LOOP_OK) {
        err_from_op(conn, &conn->err_send, "send to", NULL, op);
        err = &conn->err_send;
    }
    fn(conn, conn->send_context, op->size_bytes, err);
}

static void recv_done(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct net_conn *conn = op->context;
    net_fn fn = conn->recv_fn;
    conn->recv_fn = NULL;
    const struct lw_err *err = NULL;
    if (op->error != LOOP_OK) {
        err_from_op(conn, &conn->err_recv, "recv from", NULL, op);
        err = &conn->err_recv;
    }
    fn(conn, conn->recv_context, op->error == LOOP_OK ? op->size_bytes : 0, err);
}

void net_send(struct net_conn *conn, const void *buf, size_t size_bytes, int64_t deadline_ms,
              net_fn fn, void *context)
{
    assert(conn->state == NET_CONNECTED && conn->socket_open);
    assert(conn->send_fn == NULL && fn != NULL);
    conn->send_fn = fn;
    conn->send_context = context;
    loop_send(conn->loop, &conn->sock, &conn->op_send, buf, size_bytes, deadline_ms, send_done, conn);
}

void net_recv(struct net_conn *conn, void *buf, size_t capacity_bytes, int64_t deadline_ms,
              net_fn fn, void *context)
{
    assert(conn->state == NET_CONNECTED && conn->socket_open);
    assert(conn->recv_fn == NULL && fn != NULL);
    conn->recv_fn = fn;
    conn->recv_context = context;
    loop_recv(conn->loop, &conn->sock, &conn->op_recv, buf, capacity_bytes, deadline_ms,
              recv_done, conn);
}

static void close_done(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct net_conn *conn = op->context;
    assert(conn->state == NET_CLOSING);
    assert(conn->send_fn == NULL && conn->recv_fn == NULL && conn->connect_fn == NULL);
    conn->socket_open = false;
    conn->close_requested = false;
    conn->state = NET_IDLE;
    net_fn fn = conn->close_fn;
    conn->close_fn = NULL;
    fn(conn, conn->close_context, 0, NULL);
}

void net_close(struct net_conn *conn, net_fn fn, void *context)
{
    assert(fn != NULL && conn->close_fn == NULL && !conn->close_requested);
    assert(conn->state != NET_CLOSING);
    conn->close_fn = fn;
    conn->close_context = context;
    switch (conn->state) {
    case NET_IDLE:
        conn->state = NET_CLOSING;
        close_later(conn);
        return;
    case NET_CONNECTED:
        conn->state = NET_CLOSING;
        loop_close(conn->loop, &conn->sock, &conn->op_close, close_done, conn);
        return;
    case NET_CONNECTING:
        /* The connect callback comes first (canceled), then ours. */
        conn->close_requested = true;
        if (conn->socket_open && conn->sock.connect_op != NULL)
            loop_close(conn->loop, &conn->sock, &conn->op_close, close_done, conn);
        /* Otherwise the connect path is between attempts: it sees close_requested. */
        return;
    case NET_CLOSING:
        break;
    }
    assert(!"net_close twice");
}

void net_init(struct net_conn *conn, struct loop *loop)
{
    assert(loop != NULL);
    memset(conn, 0, sizeof *conn);
    conn->loop = loop;
    conn->sock.fd = -1;
}

const char *net_peer(const struct net_conn *conn) { return conn->peer; }

enum net_state net_state(const struct net_conn *conn) { return conn->state; }
