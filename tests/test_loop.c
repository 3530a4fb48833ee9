/* The loop over real sockets: loopback TCP and AF_UNIX socketpairs.
 *
 * Each Criterion test runs in its own process, so every test owns its loop, its signal
 * mask and its seccomp filter. Bounds on real time are generous (RUN_BOUND_MS) and only
 * guard against hangs; behaviour that depends on time is checked with the fake clock. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "run.h"

enum { RUN_BOUND_MS = 20000, FILLERS_MAX = 16 };

/* ------------------------------------------------------------------------- */
/* Helpers */

static int64_t test_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a callback saw. */
struct rec {
    int calls;
    int order;
    enum loop_error error;
    int errno_raw;
    size_t size_bytes;
    int64_t at_ms;
};

static int order_next;

static void rec_fn(struct loop *loop, struct loop_op *op)
{
    struct rec *r = op->context;
    r->calls++;
    r->order = ++order_next;
    r->error = op->error;
    r->errno_raw = op->errno_raw;
    r->size_bytes = op->size_bytes;
    r->at_ms = loop_now_ms(loop);
}

static void loop_start(struct loop *loop)
{
    struct lw_err err;
    cr_assert(loop_init(loop, &err), "loop_init: %s", err.msg);
}

/* Runs the loop until *counter reaches `want` (bounded in real time). */
static void run_until(struct loop *loop, const int *counter, int want)
{
    int64_t end_ms = test_ms() + RUN_BOUND_MS;
    while (*counter < want) {
        cr_assert(test_ms() < end_ms, "no completion within %d ms", RUN_BOUND_MS);
        cr_assert_eq(loop_run_once(loop, 20), LOOP_RUN_CONTINUE);
    }
}

/* A few iterations without waiting: lets SQEs and their CQEs make the round trip. */
static void run_briefly(struct loop *loop)
{
    for (int i = 0; i < 5; i++) cr_assert_eq(loop_run_once(loop, 2), LOOP_RUN_CONTINUE);
}

struct fake_clock {
    int64_t mono_ms, wall_ms;
};

static void fake_clock_read(void *context, int64_t *mono_ms, int64_t *wall_ms)
{
    struct fake_clock *c = context;
    *mono_ms = c->mono_ms;
    *wall_ms = c->wall_ms;
}

static void fake_clock_advance(struct loop *loop, struct fake_clock *c, int64_t ms)
{
    c->mono_ms += ms;
    c->wall_ms += ms;
    cr_assert_eq(loop_run_once(loop, 0), LOOP_RUN_CONTINUE);
}

static void socketpair_make(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static int listener_open(uint16_t *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (backlog >= 0) cr_assert_eq(listen(fd, backlog), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static struct sockaddr_in loopback_addr(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    return a;
}

/* A listener that never completes a new connection, without any outside network.
 * listen(fd, 0) lets one finished connection wait in the accept queue; once it is
 * there, Linux drops (does not refuse) every further SYN for as long as nobody
 * accepts, so a connect stays in SYN-SENT and only our deadline can end it. Fillers
 * are connected until one stays pending, which proves the queue is full. */
static int listener_full(uint16_t *port, int fillers[FILLERS_MAX], int *filler_count)
{
    int fd = listener_open(port, 0);
    struct sockaddr_in a = loopback_addr(*port);
    *filler_count = 0;
    for (int i = 0; i < FILLERS_MAX; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        cr_assert(c >= 0);
        int rc = connect(c, (struct sockaddr *)&a, sizeof a);
        cr_assert(rc == 0 || errno == EINPROGRESS);
        fillers[(*filler_count)++] = c;
        struct pollfd p = { .fd = c, .events = POLLOUT };
        if (poll(&p, 1, 300) == 0) return fd; /* this one is stuck: the queue is full */
    }
    cr_assert_fail("the accept queue never filled up");
    return -1;
}

static void fds_close(const int *fds, int count)
{
    for (int i = 0; i < count; i++) close(fds[i]);
}

/* A TCP connection made with the loop, and the server's end of it. */
static int tcp_pair(struct loop *loop, struct loop_socket *sock, int *listen_fd)
{
    uint16_t port;
    *listen_fd = listener_open(&port, 8);
    struct lw_err err;
    cr_assert(loop_socket_open(loop, sock, AF_INET, &err), "%s", err.msg);
    struct sockaddr_in a = loopback_addr(port);
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_connect(loop, sock, &op, (struct sockaddr *)&a, sizeof a, LOOP_DEADLINE_NONE, rec_fn, &r);
    run_until(loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_OK, "connect: %s", loop_strerror(r.error));
    int server = accept4(*listen_fd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert(server >= 0);
    return server;
}

static void reset_close(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
}

static void sock_close(struct loop *loop, struct loop_socket *sock)
{
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_close(loop, sock, &op, rec_fn, &r);
    run_until(loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_OK);
    cr_assert_eq(sock->fd, -1);
}

/* ------------------------------------------------------------------------- */
/* Timers and time */

Test(loop, timers_fire_in_deadline_then_start_order_fake_clock)
{
    struct loop loop;
    loop_start(&loop);
    struct fake_clock clock = { .mono_ms = 1000, .wall_ms = 1700000000000 };
    loop_set_clock(&loop, fake_clock_read, &clock);
    cr_assert_eq(loop_now_ms(&loop), 1000);
    cr_assert_eq(loop_wall_ms(&loop), 1700000000000);

    struct loop_op ops[5] = { { 0 } };
    struct rec r[5] = { { 0 } };
    uint32_t delays[5] = { 30, 10, 20, 10, 0 };
    for (int i = 0; i < 5; i++) loop_timer_start(&loop, &ops[i], delays[i], rec_fn, &r[i]);

    fake_clock_advance(&loop, &clock, 0);
    cr_assert_eq(r[4].calls, 1);
    cr_assert_eq(r[1].calls + r[3].calls + r[2].calls + r[0].calls, 0);
    fake_clock_advance(&loop, &clock, 9);
    cr_assert_eq(r[1].calls, 0, "a timer fired 1 ms early");
    fake_clock_advance(&loop, &clock, 1);
    cr_assert_eq(r[1].calls, 1);
    cr_assert_eq(r[3].calls, 1);
    cr_assert_lt(r[1].order, r[3].order, "equal deadlines fire in start order");
    fake_clock_advance(&loop, &clock, 25);
    cr_assert_eq(r[2].calls, 1);
    cr_assert_eq(r[0].calls, 1);
    cr_assert_lt(r[2].order, r[0].order);
    cr_assert_eq(r[0].at_ms, 1035);
    loop_deinit(&loop);
}

Test(loop, timers_fire_in_order_real_clock)
{
    struct loop loop;
    loop_start(&loop);
    struct loop_op ops[4] = { { 0 } };
    struct rec r[4] = { { 0 } };
    uint32_t delays[4] = { 40, 10, 25, 10 };
    int64_t start_ms = loop_now_ms(&loop);
    for (int i = 0; i < 4; i++) loop_timer_start(&loop, &ops[i], delays[i], rec_fn, &r[i]);
    int fired = 0;
    int64_t end_ms = test_ms() + RUN_BOUND_MS;
    while (fired < 4) {
        cr_assert(test_ms() < end_ms);
        cr_assert_eq(loop_run_once(&loop, 100), LOOP_RUN_CONTINUE);
        fired = r[0].calls + r[1].calls + r[2].calls + r[3].calls;
    }
    cr_assert(r[1].order < r[3].order && r[3].order < r[2].order && r[2].order < r[0].order);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(r[i].calls, 1);
        cr_assert_geq(r[i].at_ms, start_ms + delays[i], "timer %d fired early", i);
    }
    loop_deinit(&loop);
}

static struct loop_op cancel_victim;
static struct rec cancel_victim_rec;
static bool cancel_result;

static void cancel_other_fn(struct loop *loop, struct loop_op *op)
{
    rec_fn(loop, op);
    cancel_result = loop_timer_cancel(loop, &cancel_victim);
}

Test(loop, timer_cancel_before_and_after_expiry)
{
    struct loop loop;
    loop_start(&loop);
    struct fake_clock clock = { .mono_ms = 0 };
    loop_set_clock(&loop, fake_clock_read, &clock);

    struct loop_op a = { 0 };
    struct rec ra = { 0 };
    loop_timer_start(&loop, &a, 5, rec_fn, &ra);
    cr_assert(loop_timer_cancel(&loop, &a));
    cr_assert_not(loop_timer_cancel(&loop, &a));
    fake_clock_advance(&loop, &clock, 10);
    cr_assert_eq(ra.calls, 0);

    /* Both expire in one iteration; the first one's callback cancels the second,
     * already fired but not yet called back: it must not run. */
    struct loop_op first = { 0 };
    struct rec rfirst = { 0 };
    loop_timer_start(&loop, &first, 1, cancel_other_fn, &rfirst);
    loop_timer_start(&loop, &cancel_victim, 1, rec_fn, &cancel_victim_rec);
    fake_clock_advance(&loop, &clock, 1);
    cr_assert_eq(rfirst.calls, 1);
    cr_assert(cancel_result);
    fake_clock_advance(&loop, &clock, 1);
    cr_assert_eq(cancel_victim_rec.calls, 0);

    /* A canceled timer can be started again. */
    loop_timer_start(&loop, &a, 0, rec_fn, &ra);
    fake_clock_advance(&loop, &clock, 0);
    cr_assert_eq(ra.calls, 1);
    loop_deinit(&loop);
}

static int restarts;

static void restart_fn(struct loop *loop, struct loop_op *op)
{
    restarts++;
    loop_timer_start(loop, op, 0, restart_fn, NULL);
}

Test(loop, callbacks_never_run_recursively_or_inside_start_calls)
{
    struct loop loop;
    loop_start(&loop);
    /* A timer that restarts itself runs once per iteration, not in a loop. */
    struct loop_op op = { 0 };
    loop_timer_start(&loop, &op, 0, restart_fn, NULL);
    cr_assert_eq(restarts, 0, "ran inside loop_timer_start");
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(loop_run_once(&loop, 0), LOOP_RUN_CONTINUE);
        cr_assert_eq(restarts, i);
    }
    cr_assert(loop_timer_cancel(&loop, &op));

    /* Data already waiting: the recv callback still comes from the loop. */
    int sv[2];
    socketpair_make(sv);
    cr_assert_eq(write(sv[1], "x", 1), 1);
    struct loop_socket sock;
    loop_socket_adopt(&sock, sv[0]);
    uint8_t buf[4];
    struct loop_op recv_op = { 0 };
    struct rec r = { 0 };
    loop_recv(&loop, &sock, &recv_op, buf, sizeof buf, LOOP_DEADLINE_NONE, rec_fn, &r);
    cr_assert_eq(r.calls, 0);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.size_bytes, 1);
    sock_close(&loop, &sock);
    close(sv[1]);
    loop_deinit(&loop);
}

Test(loop, wall_clock_and_random)
{
    struct loop loop;
    loop_start(&loop);
    int64_t wall_ms = (int64_t)time(NULL) * 1000;
    cr_assert_lt(llabs(loop_wall_ms(&loop) - wall_ms), 5000);
    cr_assert_gt(loop_now_ms(&loop), 0);

    uint8_t a[64] = { 0 }, b[64] = { 0 };
    cr_assert(loop_random(&loop, a, sizeof a));
    cr_assert(loop_random(&loop, b, sizeof b));
    cr_assert_neq(memcmp(a, b, sizeof a), 0);
    loop_deinit(&loop);
}

static bool fake_random(void *context, void *buf, size_t size_bytes)
{
    memset(buf, *(int *)context, size_bytes);
    return true;
}

Test(loop, random_can_be_injected)
{
    struct loop loop;
    loop_start(&loop);
    int fill = 0xab;
    loop_set_random(&loop, fake_random, &fill);
    uint8_t buf[3];
    cr_assert(loop_random(&loop, buf, sizeof buf));
    cr_assert(buf[0] == 0xab && buf[2] == 0xab);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* Send */

struct drain {
    int fd;
    uint8_t *got;
    size_t got_bytes, total_bytes;
    struct loop_op timer;
};

/* The slow peer: every millisecond, read at most 16 KiB. */
static void drain_fn(struct loop *loop, struct loop_op *op)
{
    struct drain *d = op->context;
    ssize_t n = recv(d->fd, d->got + d->got_bytes, d->total_bytes - d->got_bytes > 16384 ? 16384 : d->total_bytes - d->got_bytes, MSG_DONTWAIT);
    if (n > 0) d->got_bytes += (size_t)n;
    if (d->got_bytes < d->total_bytes) loop_timer_start(loop, op, 1, drain_fn, d);
}

static uint8_t *pattern_make(size_t size)
{
    uint8_t *p = malloc(size);
    cr_assert_not_null(p);
    uint32_t x = 12345;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245 + 12345;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

static void sndbuf_shrink(int send_fd, int recv_fd)
{
    int small = 4096;
    cr_assert_eq(setsockopt(send_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    cr_assert_eq(setsockopt(recv_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
}

Test(loop, send_delivers_every_byte_in_order_to_a_slow_peer, .timeout = 60)
{
    struct loop loop;
    loop_start(&loop);
    int sv[2];
    socketpair_make(sv);
    sndbuf_shrink(sv[0], sv[1]);
    const size_t total = 2u << 20;
    uint8_t *payload = pattern_make(total);
    struct drain d = { .fd = sv[1], .got = calloc(1, total), .total_bytes = total };
    cr_assert_not_null(d.got);

    struct loop_socket sock;
    loop_socket_adopt(&sock, sv[0]);
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_send(&loop, &sock, &op, payload, total, LOOP_DEADLINE_NONE, rec_fn, &r);
    loop_timer_start(&loop, &d.timer, 1, drain_fn, &d);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_OK, "send: %s", loop_strerror(r.error));
    cr_assert_eq(r.size_bytes, total);
    int64_t end_ms = test_ms() + RUN_BOUND_MS;
    while (d.got_bytes < total) {
        cr_assert(test_ms() < end_ms);
        loop_run_once(&loop, 5);
    }
    cr_assert_eq(memcmp(d.got, payload, total), 0, "bytes arrived out of order or changed");
    sock_close(&loop, &sock);
    close(sv[1]);
    free(payload);
    free(d.got);
    loop_deinit(&loop);
}

Test(loop, send_deadline_reports_exactly_the_bytes_that_went_out)
{
    struct loop loop;
    loop_start(&loop);
    int sv[2];
    socketpair_make(sv);
    sndbuf_shrink(sv[0], sv[1]);
    const size_t total = 1u << 20;
    uint8_t *payload = pattern_make(total);

    struct loop_socket sock;
    loop_socket_adopt(&sock, sv[0]);
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_send(&loop, &sock, &op, payload, total, loop_now_ms(&loop) + 50, rec_fn, &r);
    run_until(&loop, &r.calls, 1); /* the peer never reads */
    cr_assert_eq(r.error, LOOP_E_TIMED_OUT);
    cr_assert_gt(r.size_bytes, 0);
    cr_assert_lt(r.size_bytes, total);

    uint8_t *got = malloc(total);
    size_t got_bytes = 0;
    ssize_t n;
    while ((n = recv(sv[1], got + got_bytes, total - got_bytes, MSG_DONTWAIT)) > 0) got_bytes += (size_t)n;
    cr_assert_eq(got_bytes, r.size_bytes, "peer got %zu bytes, send said %zu", got_bytes, r.size_bytes);
    cr_assert_eq(memcmp(got, payload, got_bytes), 0);
    sock_close(&loop, &sock);
    close(sv[1]);
    free(payload);
    free(got);
    loop_deinit(&loop);
}

Test(loop, send_to_a_reset_peer_is_reset_and_sigpipe_does_not_kill)
{
    struct loop loop;
    loop_start(&loop);
    struct loop_socket sock;
    int listen_fd;
    int server = tcp_pair(&loop, &sock, &listen_fd);
    reset_close(server);

    static uint8_t chunk[65536];
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    for (int i = 0; i < 50 && r.error == LOOP_OK; i++) {
        int want = r.calls + 1;
        loop_send(&loop, &sock, &op, chunk, sizeof chunk, LOOP_DEADLINE_NONE, rec_fn, &r);
        run_until(&loop, &r.calls, want);
    }
    cr_assert_eq(r.error, LOOP_E_RESET, "got %s", loop_strerror(r.error));
    cr_assert(r.errno_raw == EPIPE || r.errno_raw == ECONNRESET);
    cr_assert_eq(raise(SIGPIPE), 0); /* ignored, so we are still here */
    sock_close(&loop, &sock);
    close(listen_fd);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* Recv */

Test(loop, recv_data_then_eof_is_closed)
{
    struct loop loop;
    loop_start(&loop);
    int sv[2];
    socketpair_make(sv);
    struct loop_socket sock;
    loop_socket_adopt(&sock, sv[0]);
    cr_assert_eq(write(sv[1], "hello", 5), 5);
    uint8_t buf[16];
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_recv(&loop, &sock, &op, buf, sizeof buf, LOOP_DEADLINE_NONE, rec_fn, &r);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_OK);
    cr_assert_eq(r.size_bytes, 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);

    close(sv[1]);
    loop_recv(&loop, &sock, &op, buf, sizeof buf, LOOP_DEADLINE_NONE, rec_fn, &r);
    run_until(&loop, &r.calls, 2);
    cr_assert_eq(r.error, LOOP_E_CLOSED);
    cr_assert_eq(r.size_bytes, 0);
    sock_close(&loop, &sock);
    loop_deinit(&loop);
}

Test(loop, recv_deadline_real_clock)
{
    struct loop loop;
    loop_start(&loop);
    int sv[2];
    socketpair_make(sv);
    struct loop_socket sock;
    loop_socket_adopt(&sock, sv[0]);
    uint8_t buf[16];
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    int64_t start_ms = loop_now_ms(&loop);
    loop_recv(&loop, &sock, &op, buf, sizeof buf, start_ms + 50, rec_fn, &r);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_E_TIMED_OUT);
    cr_assert_geq(r.at_ms, start_ms + 50);

    /* The socket still works afterwards. */
    cr_assert_eq(write(sv[1], "ok", 2), 2);
    loop_recv(&loop, &sock, &op, buf, sizeof buf, loop_now_ms(&loop) + 10000, rec_fn, &r);
    run_until(&loop, &r.calls, 2);
    cr_assert_eq(r.error, LOOP_OK);
    cr_assert_eq(r.size_bytes, 2);
    sock_close(&loop, &sock);
    close(sv[1]);
    loop_deinit(&loop);
}

Test(loop, recv_deadline_fake_clock)
{
    struct loop loop;
    loop_start(&loop);
    struct fake_clock clock = { .mono_ms = 5000 };
    loop_set_clock(&loop, fake_clock_read, &clock);
    int sv[2];
    socketpair_make(sv);
    struct loop_socket sock;
    loop_socket_adopt(&sock, sv[0]);
    uint8_t buf[16];
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_recv(&loop, &sock, &op, buf, sizeof buf, 5100, rec_fn, &r);
    run_briefly(&loop);
    fake_clock_advance(&loop, &clock, 99);
    run_briefly(&loop);
    cr_assert_eq(r.calls, 0, "expired before its deadline");
    fake_clock_advance(&loop, &clock, 1);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_E_TIMED_OUT);
    cr_assert_eq(r.at_ms, 5100);
    sock_close(&loop, &sock);
    close(sv[1]);
    loop_deinit(&loop);
}

Test(loop, recv_from_a_reset_peer_is_reset)
{
    struct loop loop;
    loop_start(&loop);
    struct loop_socket sock;
    int listen_fd;
    int server = tcp_pair(&loop, &sock, &listen_fd);
    uint8_t buf[16];
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_recv(&loop, &sock, &op, buf, sizeof buf, LOOP_DEADLINE_NONE, rec_fn, &r);
    run_briefly(&loop);
    reset_close(server);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_E_RESET, "got %s", loop_strerror(r.error));
    cr_assert_eq(r.errno_raw, ECONNRESET);
    sock_close(&loop, &sock);
    close(listen_fd);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* Connect */

Test(loop, connect_refused)
{
    struct loop loop;
    loop_start(&loop);
    uint16_t port;
    int bound = listener_open(&port, -1); /* bound, not listening: holds the port */
    struct loop_socket sock;
    struct lw_err err;
    cr_assert(loop_socket_open(&loop, &sock, AF_INET, &err), "%s", err.msg);
    struct sockaddr_in a = loopback_addr(port);
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_connect(&loop, &sock, &op, (struct sockaddr *)&a, sizeof a, loop_now_ms(&loop) + 10000,
                 rec_fn, &r);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_E_REFUSED, "got %s", loop_strerror(r.error));
    cr_assert_eq(r.errno_raw, ECONNREFUSED);
    cr_assert_eq(loop.deadline_count, 0, "the deadline stayed in the heap");
    sock_close(&loop, &sock);
    close(bound);
    loop_deinit(&loop);
}

Test(loop, connect_deadline_real_clock)
{
    struct loop loop;
    loop_start(&loop);
    uint16_t port;
    int fillers[FILLERS_MAX], filler_count;
    int listen_fd = listener_full(&port, fillers, &filler_count);
    struct loop_socket sock;
    struct lw_err err;
    cr_assert(loop_socket_open(&loop, &sock, AF_INET, &err), "%s", err.msg);
    struct sockaddr_in a = loopback_addr(port);
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    int64_t start_ms = loop_now_ms(&loop);
    loop_connect(&loop, &sock, &op, (struct sockaddr *)&a, sizeof a, start_ms + 100, rec_fn, &r);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_E_TIMED_OUT, "got %s", loop_strerror(r.error));
    cr_assert_geq(r.at_ms, start_ms + 100);
    sock_close(&loop, &sock);
    fds_close(fillers, filler_count);
    close(listen_fd);
    loop_deinit(&loop);
}

Test(loop, connect_deadline_fake_clock)
{
    struct loop loop;
    loop_start(&loop);
    struct fake_clock clock = { .mono_ms = 0 };
    loop_set_clock(&loop, fake_clock_read, &clock);
    uint16_t port;
    int fillers[FILLERS_MAX], filler_count;
    int listen_fd = listener_full(&port, fillers, &filler_count);
    struct loop_socket sock;
    struct lw_err err;
    cr_assert(loop_socket_open(&loop, &sock, AF_INET, &err), "%s", err.msg);
    struct sockaddr_in a = loopback_addr(port);
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_connect(&loop, &sock, &op, (struct sockaddr *)&a, sizeof a, 3000, rec_fn, &r);
    run_briefly(&loop);
    fake_clock_advance(&loop, &clock, 2999);
    run_briefly(&loop);
    cr_assert_eq(r.calls, 0);
    fake_clock_advance(&loop, &clock, 1);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_E_TIMED_OUT, "got %s", loop_strerror(r.error));
    cr_assert_eq(r.at_ms, 3000);
    sock_close(&loop, &sock);
    fds_close(fillers, filler_count);
    close(listen_fd);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* Close */

Test(loop, close_cancels_in_flight_ops_and_completes_after_them)
{
    struct loop loop;
    loop_start(&loop);
    int sv[2];
    socketpair_make(sv);
    sndbuf_shrink(sv[0], sv[1]);
    struct loop_socket sock;
    loop_socket_adopt(&sock, sv[0]);
    const size_t total = 1u << 20;
    uint8_t *payload = pattern_make(total);
    uint8_t buf[16];
    struct loop_op recv_op = { 0 }, send_op = { 0 }, close_op = { 0 };
    struct rec rr = { 0 }, rs = { 0 }, rc = { 0 };
    loop_recv(&loop, &sock, &recv_op, buf, sizeof buf, loop_now_ms(&loop) + 60000, rec_fn, &rr);
    loop_send(&loop, &sock, &send_op, payload, total, LOOP_DEADLINE_NONE, rec_fn, &rs);
    run_briefly(&loop);
    cr_assert_eq(rr.calls + rs.calls, 0);

    loop_close(&loop, &sock, &close_op, rec_fn, &rc);
    cr_assert_eq(rc.calls, 0, "close completed inside loop_close");
    run_until(&loop, &rc.calls, 1);
    cr_assert_eq(rr.calls, 1);
    cr_assert_eq(rs.calls, 1);
    cr_assert_eq(rr.error, LOOP_E_CANCELED);
    cr_assert_eq(rs.error, LOOP_E_CANCELED);
    cr_assert_lt(rs.size_bytes, total);
    cr_assert_eq(rc.error, LOOP_OK);
    cr_assert(rr.order < rc.order && rs.order < rc.order, "close completed before its ops");
    cr_assert_eq(sock.fd, -1);
    cr_assert_eq(fcntl(sv[0], F_GETFD), -1, "the descriptor is still open");
    cr_assert_eq(loop.deadline_count, 0);
    cr_assert_eq(loop.ops_active, 0);
    close(sv[1]);
    free(payload);
    loop_deinit(&loop);
}

Test(loop, close_without_ops_completes_from_the_loop)
{
    struct loop loop;
    loop_start(&loop);
    int sv[2];
    socketpair_make(sv);
    struct loop_socket sock;
    loop_socket_adopt(&sock, sv[0]);
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    loop_close(&loop, &sock, &op, rec_fn, &r);
    cr_assert_eq(r.calls, 0);
    cr_assert_eq(loop_run_once(&loop, 0), LOOP_RUN_CONTINUE);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.error, LOOP_OK);
    close(sv[1]);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* Signals */

struct stop_state {
    int calls;
    struct loop_op timer;
};

static void raise_sigint(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    (void)op;
    raise(SIGINT);
}

/* The graceful stop handler; it arranges for a second signal. */
static void on_stop(struct loop *loop, void *context)
{
    struct stop_state *s = context;
    s->calls++;
    loop_timer_start(loop, &s->timer, 5, raise_sigint, s);
}

Test(loop, first_signal_stops_gracefully_second_stops_hard)
{
    struct loop loop;
    loop_start(&loop);
    struct stop_state s = { 0 };
    loop_set_stop_handler(&loop, on_stop, &s);
    cr_assert_eq(raise(SIGTERM), 0); /* blocked: waits on the signalfd */
    int64_t start = test_ms();
    enum loop_run_status status = loop_run(&loop);
    cr_assert_lt(test_ms() - start, RUN_BOUND_MS);
    cr_assert_eq(status, LOOP_RUN_HARD_STOP);
    cr_assert_eq(s.calls, 1, "the stop handler ran %d times", s.calls);
    cr_assert_eq(loop_signal_count(&loop), 2);
    cr_assert_eq(loop_run_once(&loop, 0), LOOP_RUN_HARD_STOP);
    loop_deinit(&loop);
}

Test(loop, signal_without_handler_stops_the_loop)
{
    struct loop loop;
    loop_start(&loop);
    cr_assert_eq(raise(SIGINT), 0);
    cr_assert_eq(loop_run(&loop), LOOP_RUN_STOPPED);
    cr_assert_eq(loop_signal_count(&loop), 1);
    loop_deinit(&loop);
}

Test(loop, sigpipe_is_ignored)
{
    struct loop loop;
    loop_start(&loop);
    cr_assert_eq(raise(SIGPIPE), 0);
    int sv[2];
    socketpair_make(sv);
    close(sv[1]);
    cr_assert_eq(write(sv[0], "x", 1), -1); /* a plain write, without MSG_NOSIGNAL */
    cr_assert_eq(errno, EPIPE);
    close(sv[0]);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* Kernel edge cases */

Test(loop, full_submission_queue_is_submitted_and_retried)
{
    struct loop loop;
    loop_start(&loop);
    /* The signal poll is still queued, so LOOP_OPS_MAX more SQEs overflow the SQ. */
    enum { PAIRS = LOOP_OPS_MAX / 2 };
    _Static_assert(2 * PAIRS > LOOP_SQ_ENTRIES - 1, "must overflow the SQ");
    static int fds[PAIRS][2];
    static struct loop_socket socks[PAIRS][2];
    static struct loop_op ops[PAIRS][2];
    static uint8_t bufs[PAIRS][2][4];
    struct rec r = { 0 };
    for (int i = 0; i < PAIRS; i++) {
        socketpair_make(fds[i]);
        for (int j = 0; j < 2; j++) {
            loop_socket_adopt(&socks[i][j], fds[i][j]);
            loop_recv(&loop, &socks[i][j], &ops[i][j], bufs[i][j], sizeof bufs[i][j],
                      LOOP_DEADLINE_NONE, rec_fn, &r);
        }
    }
    cr_assert_eq(r.calls, 0);
    for (int i = 0; i < PAIRS; i++)
        for (int j = 0; j < 2; j++) cr_assert_eq(write(fds[i][j], "z", 1), 1);
    run_until(&loop, &r.calls, 2 * PAIRS);
    cr_assert_eq(r.calls, 2 * PAIRS);
    for (int i = 0; i < PAIRS; i++) {
        for (int j = 0; j < 2; j++) {
            cr_assert_eq(ops[i][j].error, LOOP_OK);
            cr_assert_eq(bufs[i][j][0], 'z');
            sock_close(&loop, &socks[i][j]);
        }
    }
    loop_deinit(&loop);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int signo)
{
    (void)signo;
    alarms++;
}

Test(loop, interrupted_wait_is_retried)
{
    struct loop loop;
    loop_start(&loop);
    struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: enter gets -EINTR */
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval every_5ms = { .it_interval = { 0, 5000 }, .it_value = { 0, 5000 } };
    cr_assert_eq(setitimer(ITIMER_REAL, &every_5ms, NULL), 0);

    struct loop_op op = { 0 };
    struct rec r = { 0 };
    int64_t start_ms = loop_now_ms(&loop);
    loop_timer_start(&loop, &op, 100, rec_fn, &r);
    run_until(&loop, &r.calls, 1); /* asserts LOOP_RUN_CONTINUE on every iteration */
    struct itimerval off = { 0 };
    setitimer(ITIMER_REAL, &off, NULL);
    cr_assert_gt(alarms, 0);
    cr_assert_geq(r.at_ms, start_ms + 100);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* io_uring refused */

/* Makes io_uring_setup, io_uring_enter and io_uring_register fail with `errno_value`,
 * like Docker's default seccomp profile does with EPERM; with `enter_only`, only
 * io_uring_enter (a ring can be made but not used). */
static int seccomp_refuse(int errno_value, bool enter_only)
{
#if defined(__x86_64__)
    const uint32_t arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const uint32_t arch = AUDIT_ARCH_AARCH64;
#else
#error "no seccomp arch for this target"
#endif
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, enter_only ? UINT32_MAX : __NR_io_uring_setup, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, enter_only ? UINT32_MAX : __NR_io_uring_register, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)errno_value & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = { .len = sizeof filter / sizeof filter[0], .filter = filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Forks; the child refuses io_uring with `errno_value`, runs loop_init and sends back
 * the error it got. */
static void init_refused(int errno_value, bool enter_only, struct lw_err *out)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct lw_err err = { 0 };
        if (seccomp_refuse(errno_value, enter_only) != 0) {
            lw_err_set(&err, -1, "seccomp: %s", strerror(errno));
        } else {
            struct loop loop;
            if (loop_init(&loop, &err)) lw_err_set(&err, -2, "loop_init succeeded");
        }
        ssize_t n = write(fds[1], &err, sizeof err);
        _exit(n == (ssize_t)sizeof err ? 0 : 1);
    }
    close(fds[1]);
    memset(out, 0, sizeof *out);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof *out && (n = read(fds[0], (char *)out + got, sizeof *out - got)) > 0) got += (size_t)n;
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
    cr_assert_eq(got, sizeof *out);
}

static void check_refused(int errno_value, const char *errno_name)
{
    struct lw_err err;
    init_refused(errno_value, false, &err);
    cr_assert_eq(err.code, LOOP_E_UNAVAILABLE, "code %d: %s", err.code, err.msg);
    cr_assert_not_null(strstr(err.msg, errno_name), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "seccomp"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "io_uring_setup, io_uring_enter and io_uring_register"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "kernel.io_uring_disabled"), "%s", err.msg);
    if (access("/proc/sys/kernel/io_uring_disabled", R_OK) == 0)
        cr_assert_not_null(strstr(err.msg, "kernel.io_uring_disabled sysctl (currently "), "%s", err.msg);
    cr_assert_lt(strlen(err.msg), sizeof err.msg - 1, "message truncated: %s", err.msg);
}

Test(loop, unavailable_eperm) { check_refused(EPERM, "EPERM"); }

Test(loop, unavailable_enosys)
{
    check_refused(ENOSYS, "ENOSYS");
    struct lw_err err;
    init_refused(ENOSYS, false, &err);
    cr_assert_not_null(strstr(err.msg, "CONFIG_IO_URING"), "%s", err.msg);
}

Test(loop, unavailable_eopnotsupp) { check_refused(EOPNOTSUPP, "EOPNOTSUPP"); }

Test(loop, unavailable_when_only_enter_is_refused)
{
    struct lw_err err;
    init_refused(EPERM, true, &err);
    cr_assert_eq(err.code, LOOP_E_UNAVAILABLE, "code %d: %s", err.code, err.msg);
    cr_assert_not_null(strstr(err.msg, "io_uring_enter failed with EPERM"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "seccomp"), "%s", err.msg);
}

/* ------------------------------------------------------------------------- */
/* Errors */

Test(loop, errno_mapping_is_explicit_per_op)
{
    struct {
        enum loop_op_kind kind;
        int e;
        enum loop_error want;
    } cases[] = {
        { LOOP_OP_CONNECT, ECONNREFUSED, LOOP_E_REFUSED },
        { LOOP_OP_CONNECT, ETIMEDOUT, LOOP_E_TIMED_OUT },
        { LOOP_OP_CONNECT, EHOSTUNREACH, LOOP_E_HOST_UNREACHABLE },
        { LOOP_OP_CONNECT, EHOSTDOWN, LOOP_E_HOST_UNREACHABLE },
        { LOOP_OP_CONNECT, ENETUNREACH, LOOP_E_NET_UNREACHABLE },
        { LOOP_OP_CONNECT, EADDRNOTAVAIL, LOOP_E_ADDR_NOT_AVAILABLE },
        { LOOP_OP_CONNECT, EAFNOSUPPORT, LOOP_E_ADDR_FAMILY },
        { LOOP_OP_CONNECT, EACCES, LOOP_E_ACCESS },
        { LOOP_OP_CONNECT, ECANCELED, LOOP_E_CANCELED },
        { LOOP_OP_CONNECT, ENOBUFS, LOOP_E_NO_MEMORY },
        { LOOP_OP_CONNECT, EPIPE, LOOP_E_UNEXPECTED },
        { LOOP_OP_CONNECT, EINTR, LOOP_E_UNEXPECTED },
        { LOOP_OP_CONNECT, EISCONN, LOOP_E_UNEXPECTED },
        { LOOP_OP_SEND, EPIPE, LOOP_E_RESET },
        { LOOP_OP_SEND, ECONNRESET, LOOP_E_RESET },
        { LOOP_OP_SEND, ENOMEM, LOOP_E_NO_MEMORY },
        { LOOP_OP_SEND, ECONNREFUSED, LOOP_E_UNEXPECTED },
        { LOOP_OP_SEND, EBADF, LOOP_E_UNEXPECTED },
        { LOOP_OP_RECV, ECONNRESET, LOOP_E_RESET },
        { LOOP_OP_RECV, ETIMEDOUT, LOOP_E_TIMED_OUT },
        { LOOP_OP_RECV, ENETDOWN, LOOP_E_NET_UNREACHABLE },
        { LOOP_OP_RECV, ENOTSOCK, LOOP_E_UNEXPECTED },
        { LOOP_OP_RECV, EFAULT, LOOP_E_UNEXPECTED },
        { LOOP_OP_SOCKET, EMFILE, LOOP_E_TOO_MANY_FILES },
        { LOOP_OP_SOCKET, ENFILE, LOOP_E_TOO_MANY_FILES },
        { LOOP_OP_SOCKET, EAFNOSUPPORT, LOOP_E_ADDR_FAMILY },
        { LOOP_OP_SOCKET, ECONNRESET, LOOP_E_UNEXPECTED },
        { LOOP_OP_CLOSE, EIO, LOOP_E_UNEXPECTED },
        { LOOP_OP_TIMER, ETIME, LOOP_E_UNEXPECTED },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum loop_error got = loop_error_from_errno(cases[i].kind, cases[i].e);
        cr_assert_eq(got, cases[i].want, "%s errno %d: got %s, want %s",
                     loop_op_kind_name(cases[i].kind), cases[i].e, loop_strerror(got),
                     loop_strerror(cases[i].want));
    }
    for (int a = 0; a < LOOP_E_COUNT_; a++) {
        cr_assert_str_neq(loop_strerror((enum loop_error)a), "unknown error");
        for (int b = a + 1; b < LOOP_E_COUNT_; b++)
            cr_assert_str_neq(loop_strerror((enum loop_error)a), loop_strerror((enum loop_error)b));
    }
}

Test(loop, unexpected_errno_keeps_the_raw_value_and_is_logged)
{
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    log_configure(LOG_FORMAT_JSON, LOG_INFO, devnull);
    struct loop loop;
    loop_start(&loop);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct loop_socket sock;
    loop_socket_adopt(&sock, fds[0]); /* recv on a pipe: ENOTSOCK */
    uint8_t buf[4];
    struct loop_op op = { 0 };
    struct rec r = { 0 };
    uint64_t errors = log_count(LOG_ERROR);
    loop_recv(&loop, &sock, &op, buf, sizeof buf, LOOP_DEADLINE_NONE, rec_fn, &r);
    run_until(&loop, &r.calls, 1);
    cr_assert_eq(r.error, LOOP_E_UNEXPECTED);
    cr_assert_eq(r.errno_raw, ENOTSOCK);
    cr_assert_eq(log_count(LOG_ERROR), errors + 1);
    sock_close(&loop, &sock);
    close(fds[1]);
    loop_deinit(&loop);
}

static void noop_fn(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    (void)op;
}

Test(loop, more_ops_than_the_limit_abort, .signal = SIGABRT)
{
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    log_configure(LOG_FORMAT_JSON, LOG_INFO, devnull);
    struct loop loop;
    loop_start(&loop);
    static struct loop_op ops[LOOP_OPS_MAX + 1];
    for (int i = 0; i <= LOOP_OPS_MAX; i++) loop_timer_start(&loop, &ops[i], 1000, noop_fn, NULL);
}

Test(loop, mode_names_the_setup)
{
    struct loop loop;
    loop_start(&loop);
    const char *mode = loop_mode(&loop);
    cr_assert(strcmp(mode, "single_issuer+defer_taskrun") == 0 || strcmp(mode, "coop_taskrun") == 0 ||
              strcmp(mode, "basic") == 0);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* run_main: the loop's signals end to end, in a child process (tests/test_run.c would
 * be the natural home; these live here because they exercise the loop's stop path). */

struct child {
    pid_t pid;
    int out_fd;          /* the child's stderr: its log lines */
    char out[8192];
    size_t out_len;
};

static void child_start(struct child *c, int refuse_errno)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    c->out_len = 0;
    c->out[0] = '\0';
    c->pid = fork();
    cr_assert(c->pid >= 0);
    if (c->pid == 0) {
        dup2(fds[1], 2);
        if (refuse_errno != 0 && seccomp_refuse(refuse_errno, false) != 0) _exit(99);
        log_configure(LOG_FORMAT_TEXT, LOG_INFO, 2);
        struct run_options opt = { .shutdown_timeout_ms = 5000 };
        _exit(run_main(&opt));
    }
    close(fds[1]);
    c->out_fd = fds[0];
}

/* Reads the child's output until it contains `text` (or ends). */
static bool child_wait_for(struct child *c, const char *text)
{
    int64_t end_ms = test_ms() + RUN_BOUND_MS;
    while (strstr(c->out, text) == NULL) {
        struct pollfd p = { .fd = c->out_fd, .events = POLLIN };
        int64_t left_ms = end_ms - test_ms();
        if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0) return false;
        ssize_t n = read(c->out_fd, c->out + c->out_len, sizeof c->out - 1 - c->out_len);
        if (n <= 0) return false;
        c->out_len += (size_t)n;
        c->out[c->out_len] = '\0';
    }
    return true;
}

static int child_exit_status(struct child *c)
{
    child_wait_for(c, "\x01"); /* drain until EOF */
    close(c->out_fd);
    int status;
    cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
    cr_assert(WIFEXITED(status), "the child died of signal %d:\n%s", WTERMSIG(status), c->out);
    return WEXITSTATUS(status);
}

Test(run, sigterm_stops_gracefully_with_status_0)
{
    struct child c;
    child_start(&c, 0);
    cr_assert(child_wait_for(&c, "lakewriter started"), "%s", c.out);
    cr_assert_eq(kill(c.pid, SIGTERM), 0);
    cr_assert_eq(child_exit_status(&c), 0, "%s", c.out);
    cr_assert_not_null(strstr(c.out, "stopping"), "%s", c.out);
    cr_assert_not_null(strstr(c.out, "stopped"), "%s", c.out);
}

Test(run, second_signal_stops_at_once_with_status_130)
{
    struct child c;
    child_start(&c, 0);
    cr_assert(child_wait_for(&c, "lakewriter started"), "%s", c.out);
    /* Both must be pending together, or the graceful stop (nothing to drain) would
     * finish between them: deliver them while the child is stopped. */
    cr_assert_eq(kill(c.pid, SIGSTOP), 0);
    int status;
    cr_assert_eq(waitpid(c.pid, &status, WUNTRACED), c.pid);
    cr_assert(WIFSTOPPED(status));
    cr_assert_eq(kill(c.pid, SIGTERM), 0);
    cr_assert_eq(kill(c.pid, SIGINT), 0);
    cr_assert_eq(kill(c.pid, SIGCONT), 0);
    cr_assert_eq(child_exit_status(&c), 130, "%s", c.out);
    cr_assert_not_null(strstr(c.out, "second signal"), "%s", c.out);
}

Test(run, io_uring_refused_exits_2_with_the_reason)
{
    struct child c;
    child_start(&c, EPERM);
    cr_assert_eq(child_exit_status(&c), 2, "%s", c.out);
    cr_assert_not_null(strstr(c.out, "ERROR cannot start"), "no log line:\n%s", c.out);
    cr_assert_not_null(strstr(c.out, "\nlakewriter: io_uring is not available"), "no plain line:\n%s", c.out);
    cr_assert_not_null(strstr(c.out, "seccomp"), "%s", c.out);
    cr_assert_not_null(strstr(c.out, "kernel.io_uring_disabled"), "%s", c.out);
}
