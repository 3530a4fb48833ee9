/* net: TCP connections over the loop, as a plain byte interface.
 *
 * Redis, S3 and PostgreSQL clients (and the TLS layer above them) use a connection as:
 *
 *     net_init(&c, loop)
 *     net_connect(&c, host, port, deadline_ms, fn, ctx)  -> fn(ok | error)
 *     net_send(&c, bytes, n, deadline_ms, fn, ctx)       -> fn(all n sent | error)
 *     net_recv(&c, buf, cap, deadline_ms, fn, ctx)       -> fn(1..cap received | error)
 *     net_close(&c, fn, ctx)                             -> fn(closed)
 *
 * All results arrive through callbacks run from the loop (never from inside the start
 * call). A failure comes as a `struct lw_err` whose code is a loop_error and whose
 * message names the peer and what happened, ready for a log line:
 *
 *     connect to 127.0.0.1:6390: connection refused
 *     recv from [::1]:9000: timed out
 *
 * Addresses: numeric IPv4 and IPv6 hosts are parsed directly. Other names go through
 * getaddrinfo (loop_resolve), which blocks the thread (for /etc/hosts, a DNS query):
 * acceptable only because it happens once per connection set-up, never per request.
 * All addresses of a name are tried in the resolver's order until one connects, within
 * the one deadline.
 *
 * One send and one recv may be in flight at the same time; a second of either is a
 * programming error (asserted). net_close may be called at any time: in-flight
 * operations (connect included) complete first with LOOP_E_CANCELED, then the close
 * callback runs. After it, the connection may be connected again. */
#ifndef LW_NET_H
#define LW_NET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"

enum {
    NET_ADDRS_MAX = 8,    /* addresses tried per connect */
    NET_HOST_MAX = 256,   /* host name length, NUL included (DNS names are <= 253) */
    NET_PEER_MAX = NET_HOST_MAX + 8, /* "[host]:port" */
};

struct net_conn;

/* The result of one operation. `err` is NULL on success. `size_bytes` is the number of
 * bytes sent (send: all of them on success, those that went out on error) or received
 * (recv), 0 for connect and close. */
typedef void (*net_fn)(struct net_conn *conn, void *context, size_t size_bytes,
                       const struct lw_err *err);

enum net_state {
    NET_IDLE = 0,     /* no socket: may connect */
    NET_CONNECTING,
    NET_CONNECTED,
    NET_CLOSING,
};

/* A connection, owned by the caller. Fields are private: use the functions. */
struct net_conn {
    struct loop *loop;
    enum net_state state;
    bool close_requested;          /* net_close during connect */
    bool socket_open;
    struct loop_socket sock;

    char host[NET_HOST_MAX];
    uint16_t port;
    char peer[NET_PEER_MAX];       /* "host:port" or "[v6]:port", for messages */
    struct sockaddr_storage addrs[NET_ADDRS_MAX];
    socklen_t addr_lens[NET_ADDRS_MAX];
    uint32_t addr_count, addr_next;
    int64_t connect_deadline_ms;

    struct loop_op op_connect;     /* connect, the close between attempts, a late error */
    struct loop_op op_send, op_recv, op_close;
    net_fn connect_fn, send_fn, recv_fn, close_fn;
    void *connect_context, *send_context, *recv_context, *close_context;
    struct lw_err err_connect, err_send, err_recv;
};

/* Prepares `conn` for `loop`. */
void net_init(struct net_conn *conn, struct loop *loop);

/* Connects to `host` (a name, or a numeric IPv4/IPv6 address, brackets allowed) at
 * `port`, before `deadline_ms` (loop_now_ms based, or LOOP_DEADLINE_NONE). `fn` gets
 * NULL once connected, or an error: LOOP_E_RESOLVE for an unknown name, the last
 * attempt's loop_error otherwise. The connection must be NET_IDLE. */
void net_connect(struct net_conn *conn, const char *host, uint16_t port, int64_t deadline_ms,
                 net_fn fn, void *context);

/* Sends all `size_bytes` (> 0) of `buf`, which must stay unchanged until `fn` runs.
 * The connection must be connected, with no other send in flight. */
void net_send(struct net_conn *conn, const void *buf, size_t size_bytes, int64_t deadline_ms,
              net_fn fn, void *context);

/* Receives 1 to `capacity_bytes` (> 0) bytes into `buf`. LOOP_E_CLOSED when the peer
 * closed the connection. The connection must be connected, with no other recv in
 * flight. */
void net_recv(struct net_conn *conn, void *buf, size_t capacity_bytes, int64_t deadline_ms,
              net_fn fn, void *context);

/* Closes the connection: operations in flight complete first (LOOP_E_CANCELED), then
 * `fn` runs with err == NULL and the connection is NET_IDLE again. */
void net_close(struct net_conn *conn, net_fn fn, void *context);

/* "host:port" of the last net_connect ("[::1]:6379" for IPv6), for messages. */
const char *net_peer(const struct net_conn *conn);

/* The connection's state. */
enum net_state net_state(const struct net_conn *conn);

#endif
