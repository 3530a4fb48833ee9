/* TCP connections over the loop: loopback listeners on port 0, messages users read. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "net.h"

enum { RUN_BOUND_MS = 20000, FILLERS_MAX = 16 };

static int64_t test_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a net callback saw. */
struct result {
    int calls;
    int order;
    size_t size_bytes;
    bool failed;
    int code;
    char msg[LW_ERR_MSG_MAX];
};

static int order_next;

static void result_fn(struct net_conn *conn, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)conn;
    struct result *r = context;
    r->calls++;
    r->order = ++order_next;
    r->size_bytes = size_bytes;
    r->failed = err != NULL;
    r->code = err != NULL ? err->code : 0;
    snprintf(r->msg, sizeof r->msg, "%s", err != NULL ? err->msg : "");
}

static void loop_start(struct loop *loop)
{
    struct lw_err err;
    cr_assert(loop_init(loop, &err), "loop_init: %s", err.msg);
}

static void run_until(struct loop *loop, const int *counter, int want)
{
    int64_t end_ms = test_ms() + RUN_BOUND_MS;
    while (*counter < want) {
        cr_assert(test_ms() < end_ms, "no completion within %d ms", RUN_BOUND_MS);
        cr_assert_eq(loop_run_once(loop, 20), LOOP_RUN_CONTINUE);
    }
}

static int listener_open(int family, uint16_t *port, int backlog)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    if (backlog >= 0) cr_assert_eq(listen(fd, backlog), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* See tests/test_loop.c: once the one-slot accept queue holds a connection, Linux
 * drops further SYNs, so a connect stays pending without any outside network. */
static int listener_full(uint16_t *port, int fillers[FILLERS_MAX], int *filler_count)
{
    int fd = listener_open(AF_INET, port, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(*port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    *filler_count = 0;
    for (int i = 0; i < FILLERS_MAX; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        cr_assert(c >= 0);
        int rc = connect(c, (struct sockaddr *)&a, sizeof a);
        cr_assert(rc == 0 || errno == EINPROGRESS);
        fillers[(*filler_count)++] = c;
        struct pollfd p = { .fd = c, .events = POLLOUT };
        if (poll(&p, 1, 300) == 0) return fd;
    }
    cr_assert_fail("the accept queue never filled up");
    return -1;
}

static void conn_close(struct loop *loop, struct net_conn *conn)
{
    struct result r = { 0 };
    net_close(conn, result_fn, &r);
    run_until(loop, &r.calls, 1);
    cr_assert_not(r.failed);
    cr_assert_eq(net_state(conn), NET_IDLE);
}

/* Connects `conn` to a fresh listener; returns the server's end. */
static int connected(struct loop *loop, struct net_conn *conn, int *listen_fd, uint16_t *port)
{
    *listen_fd = listener_open(AF_INET, port, 8);
    cr_assert(*listen_fd >= 0);
    struct result r = { 0 };
    net_connect(conn, "127.0.0.1", *port, loop_now_ms(loop) + 10000, result_fn, &r);
    run_until(loop, &r.calls, 1);
    cr_assert_not(r.failed, "%s", r.msg);
    cr_assert_eq(net_state(conn), NET_CONNECTED);
    int server = accept4(*listen_fd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert(server >= 0);
    return server;
}

Test(net, connect_send_recv_close)
{
    struct loop loop;
    loop_start(&loop);
    struct net_conn conn;
    net_init(&conn, &loop);
    int listen_fd;
    uint16_t port;
    int server = connected(&loop, &conn, &listen_fd, &port);

    char want_peer[32];
    snprintf(want_peer, sizeof want_peer, "127.0.0.1:%u", (unsigned)port);
    cr_assert_str_eq(net_peer(&conn), want_peer);

    struct result rs = { 0 };
    net_send(&conn, "PING\r\n", 6, LOOP_DEADLINE_NONE, result_fn, &rs);
    run_until(&loop, &rs.calls, 1);
    cr_assert_not(rs.failed, "%s", rs.msg);
    cr_assert_eq(rs.size_bytes, 6);
    char got[16] = { 0 };
    cr_assert_eq(read(server, got, sizeof got), 6);
    cr_assert_str_eq(got, "PING\r\n");

    cr_assert_eq(write(server, "+PONG\r\n", 7), 7);
    char buf[64];
    struct result rr = { 0 };
    net_recv(&conn, buf, sizeof buf, loop_now_ms(&loop) + 10000, result_fn, &rr);
    run_until(&loop, &rr.calls, 1);
    cr_assert_not(rr.failed, "%s", rr.msg);
    cr_assert_eq(rr.size_bytes, 7);
    cr_assert_eq(memcmp(buf, "+PONG\r\n", 7), 0);

    conn_close(&loop, &conn);
    cr_assert_eq(read(server, got, sizeof got), 0, "the server did not see the close");
    close(server);
    close(listen_fd);
    loop_deinit(&loop);
}

Test(net, connect_refused_names_host_and_port)
{
    struct loop loop;
    loop_start(&loop);
    uint16_t port;
    int bound = listener_open(AF_INET, &port, -1); /* bound, not listening */
    struct net_conn conn;
    net_init(&conn, &loop);
    struct result r = { 0 };
    net_connect(&conn, "127.0.0.1", port, loop_now_ms(&loop) + 10000, result_fn, &r);
    cr_assert_eq(r.calls, 0);
    run_until(&loop, &r.calls, 1);
    char want[96];
    snprintf(want, sizeof want, "connect to 127.0.0.1:%u: connection refused", (unsigned)port);
    cr_assert(r.failed);
    cr_assert_eq(r.code, LOOP_E_REFUSED);
    cr_assert_str_eq(r.msg, want);
    cr_assert_eq(net_state(&conn), NET_IDLE);

    /* The connection can be used again: now something listens. */
    cr_assert_eq(listen(bound, 8), 0);
    net_connect(&conn, "127.0.0.1", port, loop_now_ms(&loop) + 10000, result_fn, &r);
    run_until(&loop, &r.calls, 2);
    cr_assert_not(r.failed, "%s", r.msg);
    conn_close(&loop, &conn);
    close(bound);
    loop_deinit(&loop);
}

Test(net, connect_by_name_and_ipv6)
{
    struct loop loop;
    loop_start(&loop);
    struct net_conn conn;
    net_init(&conn, &loop);

    uint16_t port;
    int fd = listener_open(AF_INET, &port, 8);
    struct addrinfo *ai = NULL;
    if (getaddrinfo("localhost", NULL, NULL, &ai) == 0) {
        freeaddrinfo(ai);
        struct result r = { 0 };
        net_connect(&conn, "localhost", port, loop_now_ms(&loop) + 10000, result_fn, &r);
        run_until(&loop, &r.calls, 1);
        cr_assert_not(r.failed, "%s", r.msg);
        conn_close(&loop, &conn);
    }
    close(fd);

    int fd6 = listener_open(AF_INET6, &port, 8);
    if (fd6 >= 0) {
        struct result r = { 0 };
        net_connect(&conn, "[::1]", port, loop_now_ms(&loop) + 10000, result_fn, &r);
        run_until(&loop, &r.calls, 1);
        cr_assert_not(r.failed, "%s", r.msg);
        char want[32];
        snprintf(want, sizeof want, "[::1]:%u", (unsigned)port);
        cr_assert_str_eq(net_peer(&conn), want);
        conn_close(&loop, &conn);
        close(fd6);
    }
    loop_deinit(&loop);
}

Test(net, bad_host_fails_through_the_callback)
{
    struct loop loop;
    loop_start(&loop);
    struct net_conn conn;
    net_init(&conn, &loop);
    struct result r = { 0 };
    net_connect(&conn, "", 6379, LOOP_DEADLINE_NONE, result_fn, &r);
    cr_assert_eq(r.calls, 0, "the callback ran inside net_connect");
    run_until(&loop, &r.calls, 1);
    cr_assert(r.failed);
    cr_assert_eq(r.code, LOOP_E_RESOLVE);
    cr_assert_not_null(strstr(r.msg, "host name empty or too long"), "%s", r.msg);
    cr_assert_eq(net_state(&conn), NET_IDLE);
    loop_deinit(&loop);
}

Test(net, connect_timeout_names_host_and_port)
{
    struct loop loop;
    loop_start(&loop);
    uint16_t port;
    int fillers[FILLERS_MAX], filler_count;
    int listen_fd = listener_full(&port, fillers, &filler_count);
    struct net_conn conn;
    net_init(&conn, &loop);
    struct result r = { 0 };
    net_connect(&conn, "127.0.0.1", port, loop_now_ms(&loop) + 100, result_fn, &r);
    run_until(&loop, &r.calls, 1);
    char want[96];
    snprintf(want, sizeof want, "connect to 127.0.0.1:%u: timed out", (unsigned)port);
    cr_assert_eq(r.code, LOOP_E_TIMED_OUT, "%s", r.msg);
    cr_assert_str_eq(r.msg, want);
    cr_assert_eq(net_state(&conn), NET_IDLE);
    for (int i = 0; i < filler_count; i++) close(fillers[i]);
    close(listen_fd);
    loop_deinit(&loop);
}

Test(net, recv_timeout_reset_and_eof_messages)
{
    struct loop loop;
    loop_start(&loop);
    struct net_conn conn;
    net_init(&conn, &loop);
    int listen_fd;
    uint16_t port;
    int server = connected(&loop, &conn, &listen_fd, &port);
    char buf[16];
    char want[96];

    struct result r = { 0 };
    net_recv(&conn, buf, sizeof buf, loop_now_ms(&loop) + 30, result_fn, &r);
    run_until(&loop, &r.calls, 1);
    snprintf(want, sizeof want, "recv from 127.0.0.1:%u: timed out", (unsigned)port);
    cr_assert_eq(r.code, LOOP_E_TIMED_OUT);
    cr_assert_str_eq(r.msg, want);

    close(server); /* orderly: EOF */
    net_recv(&conn, buf, sizeof buf, LOOP_DEADLINE_NONE, result_fn, &r);
    run_until(&loop, &r.calls, 2);
    snprintf(want, sizeof want, "recv from 127.0.0.1:%u: connection closed by peer", (unsigned)port);
    cr_assert_eq(r.code, LOOP_E_CLOSED);
    cr_assert_str_eq(r.msg, want);
    conn_close(&loop, &conn);

    server = connected(&loop, &conn, &listen_fd, &port);
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    cr_assert_eq(setsockopt(server, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(server); /* abortive: RST */
    net_recv(&conn, buf, sizeof buf, LOOP_DEADLINE_NONE, result_fn, &r);
    run_until(&loop, &r.calls, 3);
    snprintf(want, sizeof want, "recv from 127.0.0.1:%u: connection reset by peer", (unsigned)port);
    cr_assert_eq(r.code, LOOP_E_RESET);
    cr_assert_str_eq(r.msg, want);
    conn_close(&loop, &conn);
    close(listen_fd);
    loop_deinit(&loop);
}

Test(net, close_cancels_recv_then_completes)
{
    struct loop loop;
    loop_start(&loop);
    struct net_conn conn;
    net_init(&conn, &loop);
    int listen_fd;
    uint16_t port;
    int server = connected(&loop, &conn, &listen_fd, &port);
    char buf[16];
    struct result rr = { 0 }, rc = { 0 };
    net_recv(&conn, buf, sizeof buf, LOOP_DEADLINE_NONE, result_fn, &rr);
    for (int i = 0; i < 3; i++) loop_run_once(&loop, 1);
    net_close(&conn, result_fn, &rc);
    run_until(&loop, &rc.calls, 1);
    cr_assert_eq(rr.calls, 1);
    cr_assert_eq(rr.code, LOOP_E_CANCELED, "%s", rr.msg);
    cr_assert_lt(rr.order, rc.order);
    cr_assert_not(rc.failed);
    close(server);
    close(listen_fd);
    loop_deinit(&loop);
}

Test(net, close_during_connect_cancels_it)
{
    struct loop loop;
    loop_start(&loop);
    uint16_t port;
    int fillers[FILLERS_MAX], filler_count;
    int listen_fd = listener_full(&port, fillers, &filler_count);
    struct net_conn conn;
    net_init(&conn, &loop);
    struct result rconn = { 0 }, rclose = { 0 };
    net_connect(&conn, "127.0.0.1", port, LOOP_DEADLINE_NONE, result_fn, &rconn);
    for (int i = 0; i < 3; i++) loop_run_once(&loop, 1);
    cr_assert_eq(net_state(&conn), NET_CONNECTING);
    net_close(&conn, result_fn, &rclose);
    run_until(&loop, &rclose.calls, 1);
    cr_assert_eq(rconn.calls, 1);
    cr_assert_eq(rconn.code, LOOP_E_CANCELED, "%s", rconn.msg);
    cr_assert_lt(rconn.order, rclose.order);
    cr_assert_eq(net_state(&conn), NET_IDLE);
    cr_assert_eq(loop.ops_active, 0);
    for (int i = 0; i < filler_count; i++) close(fillers[i]);
    close(listen_fd);
    loop_deinit(&loop);
}

Test(net, close_when_idle_and_close_before_a_late_error)
{
    struct loop loop;
    loop_start(&loop);
    struct net_conn conn;
    net_init(&conn, &loop);
    conn_close(&loop, &conn);

    /* The connect failed before any I/O; its error is still on its way. */
    struct result rconn = { 0 }, rclose = { 0 };
    net_connect(&conn, "", 1, LOOP_DEADLINE_NONE, result_fn, &rconn);
    net_close(&conn, result_fn, &rclose);
    run_until(&loop, &rclose.calls, 1);
    cr_assert_eq(rconn.calls, 1);
    cr_assert_lt(rconn.order, rclose.order);
    cr_assert_eq(net_state(&conn), NET_IDLE);
    loop_deinit(&loop);
}
