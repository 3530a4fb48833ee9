/* loop: the one io_uring of the process. See loop.h for the model. */
#include "loop.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* user_data is a pointer with a tag in its two low bits (ops and sockets are at least
 * 4-byte aligned):
 *
 *   ...pointer...|00   struct loop_op *      the op's own SQE
 *   ...pointer...|01   struct loop_socket *  a cancel issued by loop_close
 *   0............|10   (none)                a cancel issued by an expired deadline
 */
enum {
    UD_TAG_MASK = 3,
    UD_OP = 0,
    UD_CLOSE_CANCEL = 1,
    UD_DEADLINE_CANCEL = 2,
};

enum {
    HEAP_INDEX_NONE = UINT32_MAX,
    IO_CHUNK_MAX_BYTES = 1 << 30,  /* an SQE's length is 32 bits; keep well under */
    SUBMIT_ATTEMPTS_MAX = 64,      /* SQ full: submit, reap and retry this often */
    SIGNAL_READS_MAX = 64,         /* signalfd records read per wake-up */
};

_Static_assert(_Alignof(struct loop_op) >= 4, "user_data tags need 2 free bits");
_Static_assert(_Alignof(struct loop_socket) >= 4, "user_data tags need 2 free bits");
/* Per op at most: its own SQE, one deadline cancel, one close cancel. Plus the signal
 * poll. So the CQ can never overflow. */
_Static_assert(LOOP_CQ_ENTRIES >= 3 * LOOP_OPS_MAX + 1, "CQ too small for LOOP_OPS_MAX");
_Static_assert(LOOP_SQ_ENTRIES <= LOOP_CQ_ENTRIES, "SQ larger than CQ");

static void reap(struct loop *loop);

/* ------------------------------------------------------------------------- */
/* Errors */

const char *loop_strerror(enum loop_error error)
{
    switch (error) {
    case LOOP_OK: return "ok";
    case LOOP_E_UNAVAILABLE: return "io_uring is not available";
    case LOOP_E_REFUSED: return "connection refused";
    case LOOP_E_TIMED_OUT: return "timed out";
    case LOOP_E_RESET: return "connection reset by peer";
    case LOOP_E_CLOSED: return "connection closed by peer";
    case LOOP_E_CANCELED: return "canceled";
    case LOOP_E_HOST_UNREACHABLE: return "host unreachable";
    case LOOP_E_NET_UNREACHABLE: return "network unreachable";
    case LOOP_E_ADDR_NOT_AVAILABLE: return "address not available";
    case LOOP_E_ADDR_FAMILY: return "address family not supported";
    case LOOP_E_ACCESS: return "permission denied (firewall or policy)";
    case LOOP_E_NO_MEMORY: return "out of memory";
    case LOOP_E_TOO_MANY_FILES: return "too many open files";
    case LOOP_E_RESOLVE: return "name resolution failed";
    case LOOP_E_UNEXPECTED: return "unexpected error";
    case LOOP_E_COUNT_: break;
    }
    return "unknown error";
}

const char *loop_op_kind_name(enum loop_op_kind kind)
{
    switch (kind) {
    case LOOP_OP_NONE: return "none";
    case LOOP_OP_SOCKET: return "socket";
    case LOOP_OP_CONNECT: return "connect";
    case LOOP_OP_SEND: return "send";
    case LOOP_OP_RECV: return "recv";
    case LOOP_OP_CLOSE: return "close";
    case LOOP_OP_TIMER: return "timer";
    case LOOP_OP_SIGNAL: return "signal";
    }
    return "unknown";
}

/* Failures every socket op can see once a connection exists. */
static enum loop_error errno_established(int e)
{
    switch (e) {
    case ECONNRESET:
    case EPIPE: return LOOP_E_RESET;
    case ETIMEDOUT: return LOOP_E_TIMED_OUT;
    case ECANCELED: return LOOP_E_CANCELED;
    case EHOSTUNREACH:
    case EHOSTDOWN: return LOOP_E_HOST_UNREACHABLE;
    case ENETUNREACH:
    case ENETDOWN: return LOOP_E_NET_UNREACHABLE;
    case ENOMEM:
    case ENOBUFS: return LOOP_E_NO_MEMORY;
    default: return LOOP_E_UNEXPECTED;
    }
}

enum loop_error loop_error_from_errno(enum loop_op_kind kind, int e)
{
    assert(e > 0);
    switch (kind) {
    case LOOP_OP_SOCKET:
        switch (e) {
        case EMFILE:
        case ENFILE: return LOOP_E_TOO_MANY_FILES;
        case ENOMEM:
        case ENOBUFS: return LOOP_E_NO_MEMORY;
        case EAFNOSUPPORT: return LOOP_E_ADDR_FAMILY;
        case EACCES:
        case EPERM: return LOOP_E_ACCESS;
        default: return LOOP_E_UNEXPECTED;
        }
    case LOOP_OP_CONNECT:
        switch (e) {
        case ECONNREFUSED: return LOOP_E_REFUSED;
        case EADDRNOTAVAIL: return LOOP_E_ADDR_NOT_AVAILABLE;
        case EAFNOSUPPORT: return LOOP_E_ADDR_FAMILY;
        case EACCES:
        case EPERM: return LOOP_E_ACCESS;
        case EPIPE: return LOOP_E_UNEXPECTED; /* not a connect error */
        default: return errno_established(e);
        }
    case LOOP_OP_SEND:
    case LOOP_OP_RECV:
        return errno_established(e);
    case LOOP_OP_CLOSE:
    case LOOP_OP_TIMER:
    case LOOP_OP_SIGNAL:
    case LOOP_OP_NONE:
        return LOOP_E_UNEXPECTED;
    }
    return LOOP_E_UNEXPECTED;
}

/* The error for a failed op, logging the errno if it was not expected. */
static enum loop_error op_error_map(const struct loop_op *op, int e)
{
    enum loop_error error = loop_error_from_errno(op->kind, e);
    if (error == LOOP_E_UNEXPECTED) {
        log_error("unexpected errno from the kernel", LOG_STR("op", loop_op_kind_name(op->kind)),
                  LOG_INT("errno", e), LOG_STR("error", strerror(e)));
    }
    return error;
}

/* ------------------------------------------------------------------------- */
/* The completed FIFO */

static void fifo_push(struct loop_fifo *f, struct loop_op *op)
{
    assert(op->fifo_prev == NULL && op->fifo_next == NULL && f->head != op);
    op->fifo_prev = f->tail;
    if (f->tail != NULL) f->tail->fifo_next = op;
    else f->head = op;
    f->tail = op;
    f->count++;
}

static void fifo_remove(struct loop_fifo *f, struct loop_op *op)
{
    assert(f->count > 0);
    if (op->fifo_prev != NULL) op->fifo_prev->fifo_next = op->fifo_next;
    else f->head = op->fifo_next;
    if (op->fifo_next != NULL) op->fifo_next->fifo_prev = op->fifo_prev;
    else f->tail = op->fifo_prev;
    op->fifo_prev = NULL;
    op->fifo_next = NULL;
    f->count--;
}

static struct loop_op *fifo_pop(struct loop_fifo *f)
{
    struct loop_op *op = f->head;
    if (op != NULL) fifo_remove(f, op);
    return op;
}

/* ------------------------------------------------------------------------- */
/* Deadlines: a binary min-heap of ops by (deadline_ms, deadline_seq) */

static bool deadline_before(const struct loop_op *a, const struct loop_op *b)
{
    if (a->deadline_ms != b->deadline_ms) return a->deadline_ms < b->deadline_ms;
    return a->deadline_seq < b->deadline_seq;
}

static void heap_set(struct loop *loop, uint32_t i, struct loop_op *op)
{
    loop->deadlines[i] = op;
    op->heap_index = i;
}

static void heap_up(struct loop *loop, uint32_t i)
{
    struct loop_op *op = loop->deadlines[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!deadline_before(op, loop->deadlines[parent])) break;
        heap_set(loop, i, loop->deadlines[parent]);
        i = parent;
    }
    heap_set(loop, i, op);
}

static void heap_down(struct loop *loop, uint32_t i)
{
    struct loop_op *op = loop->deadlines[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= loop->deadline_count) break;
        if (child + 1 < loop->deadline_count &&
            deadline_before(loop->deadlines[child + 1], loop->deadlines[child]))
            child++;
        if (!deadline_before(loop->deadlines[child], op)) break;
        heap_set(loop, i, loop->deadlines[child]);
        i = child;
    }
    heap_set(loop, i, op);
}

static void deadline_add(struct loop *loop, struct loop_op *op)
{
    assert(op->heap_index == HEAP_INDEX_NONE);
    assert(op->deadline_ms != LOOP_DEADLINE_NONE);
    assert(loop->deadline_count < LOOP_OPS_MAX);
    op->deadline_seq = loop->deadline_seq++;
    uint32_t i = loop->deadline_count++;
    heap_set(loop, i, op);
    heap_up(loop, i);
}

static void deadline_remove(struct loop *loop, struct loop_op *op)
{
    uint32_t i = op->heap_index;
    if (i == HEAP_INDEX_NONE) return;
    assert(i < loop->deadline_count && loop->deadlines[i] == op);
    op->heap_index = HEAP_INDEX_NONE;
    uint32_t last = --loop->deadline_count;
    if (i == last) return;
    heap_set(loop, i, loop->deadlines[last]);
    heap_up(loop, i);
    heap_down(loop, loop->deadlines[i]->heap_index);
}

/* ------------------------------------------------------------------------- */
/* Time and randomness */

static int64_t clock_read_ms(clockid_t id)
{
    struct timespec ts;
    int rc = clock_gettime(id, &ts);
    assert(rc == 0);
    (void)rc;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void clock_read(const struct loop *loop, int64_t *mono_ms, int64_t *wall_ms)
{
    if (loop->clock != NULL) {
        loop->clock(loop->clock_context, mono_ms, wall_ms);
    } else {
        *mono_ms = clock_read_ms(CLOCK_MONOTONIC);
        *wall_ms = clock_read_ms(CLOCK_REALTIME);
    }
}

static void clock_update(struct loop *loop)
{
    int64_t mono_ms, wall_ms;
    clock_read(loop, &mono_ms, &wall_ms);
    assert(mono_ms >= loop->now_ms); /* monotonic, also when faked */
    loop->now_ms = mono_ms;
    loop->wall_ms = wall_ms;
}

int64_t loop_now_ms(const struct loop *loop) { return loop->now_ms; }

int64_t loop_wall_ms(const struct loop *loop) { return loop->wall_ms; }

void loop_set_clock(struct loop *loop, loop_clock_fn fn, void *context)
{
    loop->clock = fn;
    loop->clock_context = context;
    clock_read(loop, &loop->now_ms, &loop->wall_ms);
}

void loop_set_random(struct loop *loop, loop_random_fn fn, void *context)
{
    loop->random = fn;
    loop->random_context = context;
}

bool loop_random(struct loop *loop, void *buf, size_t size_bytes)
{
    if (loop->random != NULL) return loop->random(loop->random_context, buf, size_bytes);
    uint8_t *p = buf;
    size_t done = 0;
    while (done < size_bytes) {
        ssize_t n = getrandom(p + done, size_bytes - done, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            log_error("getrandom failed", LOG_INT("errno", e), LOG_STR("error", strerror(e)));
            return false;
        }
        done += (size_t)n;
    }
    return true;
}

/* ------------------------------------------------------------------------- */
/* Submission */

static void loop_panic(const char *what, int e)
{
    log_error(what, LOG_INT("errno", e), LOG_STR("error", strerror(e)));
    abort();
}

/* An SQE, submitting (and reaping, if the kernel asks) when the SQ is full. Counts the
 * CQE it will produce. */
static struct io_uring_sqe *sqe_get(struct loop *loop)
{
    assert(loop->ring_ready);
    assert(loop->sqes_in_kernel < LOOP_CQ_ENTRIES);
    for (int attempt = 0; attempt < SUBMIT_ATTEMPTS_MAX; attempt++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
        if (sqe != NULL) {
            loop->sqes_in_kernel++;
            return sqe;
        }
        int rc = io_uring_submit(&loop->ring);
        if (rc >= 0) continue;
        if (rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) loop_panic("io_uring_submit failed", -rc);
        reap(loop); /* -EBUSY/-EAGAIN: make room in the CQ, then retry */
    }
    loop_panic("io_uring_submit made no room in the submission queue", EBUSY);
    return NULL;
}

static void op_submit(struct loop *loop, struct loop_op *op)
{
    struct loop_socket *sock = op->sock;
    struct io_uring_sqe *sqe = sqe_get(loop);
    size_t left;
    switch (op->kind) {
    case LOOP_OP_CONNECT:
        io_uring_prep_connect(sqe, sock->fd, (const struct sockaddr *)&op->u.connect.addr,
                              op->u.connect.addr_len);
        break;
    case LOOP_OP_SEND:
        assert(op->size_bytes < op->u.send.size_bytes);
        left = op->u.send.size_bytes - op->size_bytes;
        if (left > IO_CHUNK_MAX_BYTES) left = IO_CHUNK_MAX_BYTES;
        io_uring_prep_send(sqe, sock->fd, op->u.send.buf + op->size_bytes, left, MSG_NOSIGNAL);
        break;
    case LOOP_OP_RECV:
        left = op->u.recv.capacity_bytes;
        if (left > IO_CHUNK_MAX_BYTES) left = IO_CHUNK_MAX_BYTES;
        io_uring_prep_recv(sqe, sock->fd, op->u.recv.buf, left, 0);
        break;
    case LOOP_OP_SIGNAL:
        io_uring_prep_poll_add(sqe, loop->signal_fd, POLLIN);
        break;
    default:
        assert(!"op kind without an SQE");
    }
    io_uring_sqe_set_data(sqe, op);
    op->state = LOOP_OP_KERNEL;
    if (sock != NULL) sock->ops_in_kernel++;
}

/* Asks the kernel to cancel `target` (matched by its user_data); the cancel's own CQE
 * carries `user_data`. */
static void cancel_submit(struct loop *loop, struct loop_op *target, uint64_t user_data)
{
    assert(target->state == LOOP_OP_KERNEL);
    struct io_uring_sqe *sqe = sqe_get(loop);
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)target, 0);
    io_uring_sqe_set_data64(sqe, user_data);
}

/* ------------------------------------------------------------------------- */
/* Op life cycle */

static void op_begin(struct loop *loop, struct loop_op *op, enum loop_op_kind kind,
                     struct loop_socket *sock, int64_t deadline_ms, loop_op_fn callback,
                     void *context)
{
    assert(loop->ring_ready);
    assert(op != NULL && callback != NULL);
    assert(op->state == LOOP_OP_IDLE);
    assert(op->fifo_prev == NULL && op->fifo_next == NULL && loop->completed.head != op);
    if (loop->ops_active >= LOOP_OPS_MAX) loop_panic("more ops in flight than LOOP_OPS_MAX", EOVERFLOW);
    loop->ops_active++;
    op->error = LOOP_OK;
    op->errno_raw = 0;
    op->size_bytes = 0;
    op->context = context;
    op->kind = kind;
    op->callback = callback;
    op->sock = sock;
    op->cqe_res = 0;
    op->expired = false;
    op->deadline_ms = deadline_ms;
    op->heap_index = HEAP_INDEX_NONE;
    if (deadline_ms != LOOP_DEADLINE_NONE) deadline_add(loop, op);
}

/* Sets the final result of `op`; its callback is next. */
static void op_finish(struct loop *loop, struct loop_op *op, enum loop_error error, int errno_raw)
{
    assert(op->state != LOOP_OP_IDLE && op->state != LOOP_OP_DONE);
    deadline_remove(loop, op);
    op->error = error;
    op->errno_raw = errno_raw;
    op->state = LOOP_OP_DONE;
    struct loop_socket *sock = op->sock;
    if (sock == NULL) return;
    if (sock->connect_op == op) sock->connect_op = NULL;
    if (sock->send_op == op) sock->send_op = NULL;
    if (sock->recv_op == op) sock->recv_op = NULL;
}

static void op_callback(struct loop *loop, struct loop_op *op)
{
    assert(op->state == LOOP_OP_DONE);
    assert(op->heap_index == HEAP_INDEX_NONE);
    assert(loop->ops_active > 0);
    loop->ops_active--;
    op->state = LOOP_OP_IDLE;
    op->callback(loop, op);
}

/* Once a closing socket has nothing left in the kernel: close(2) it, complete close. */
static void close_maybe_finish(struct loop *loop, struct loop_socket *sock)
{
    struct loop_op *op = sock->close_op;
    if (op == NULL || sock->ops_in_kernel > 0 || sock->cancels_in_kernel > 0) return;
    assert(op->state == LOOP_OP_WAITING);
    assert(sock->connect_op == NULL && sock->send_op == NULL && sock->recv_op == NULL);
    enum loop_error error = LOOP_OK;
    int e = 0;
    if (close(sock->fd) != 0 && errno != EINTR) { /* EINTR: Linux closed it anyway */
        e = errno;
        error = op_error_map(op, e);
    }
    sock->fd = -1;
    sock->close_op = NULL;
    op_finish(loop, op, error, e);
    fifo_push(&loop->completed, op);
}

/* The result of a failed socket op: EINTR/EAGAIN are retried unless the deadline
 * passed; a cancel we asked for is a timeout. Returns true if `op` was resubmitted. */
static bool op_failed(struct loop *loop, struct loop_op *op, int e)
{
    bool retry = e == EINTR || e == EAGAIN;
    if (op->expired && (retry || e == ECANCELED)) {
        op_finish(loop, op, LOOP_E_TIMED_OUT, e);
        return false;
    }
    if (retry && op->kind != LOOP_OP_CONNECT) {
        op_submit(loop, op);
        return true;
    }
    op_finish(loop, op, op_error_map(op, e), e);
    return false;
}

/* Interprets the CQE of a socket op. Returns true when `op` is final (its callback is
 * next), false when it went back to the kernel. */
static bool socket_op_reaped(struct loop *loop, struct loop_op *op)
{
    struct loop_socket *sock = op->sock;
    int32_t res = op->cqe_res;
    assert(sock != NULL && sock->ops_in_kernel > 0);
    sock->ops_in_kernel--;
    if (op->kind == LOOP_OP_SEND && res > 0) op->size_bytes += (size_t)res;
    if (op->kind == LOOP_OP_RECV && res > 0) op->size_bytes = (size_t)res;

    bool final = true;
    if (sock->close_op != NULL) {
        op_finish(loop, op, LOOP_E_CANCELED, res < 0 ? -res : 0);
    } else if (res < 0) {
        final = !op_failed(loop, op, -res);
    } else if (op->kind == LOOP_OP_CONNECT) {
        op_finish(loop, op, LOOP_OK, 0);
    } else if (op->kind == LOOP_OP_RECV) {
        op_finish(loop, op, res == 0 ? LOOP_E_CLOSED : LOOP_OK, 0);
    } else if (op->size_bytes == op->u.send.size_bytes) {
        op_finish(loop, op, LOOP_OK, 0);
    } else if (op->expired) {
        op_finish(loop, op, LOOP_E_TIMED_OUT, 0);
    } else if (res == 0) {
        log_error("send made no progress", LOG_UINT("sent_bytes", op->size_bytes));
        op_finish(loop, op, LOOP_E_UNEXPECTED, 0);
    } else {
        op_submit(loop, op); /* a partial send: the rest */
        final = false;
    }
    close_maybe_finish(loop, sock);
    return final;
}

/* ------------------------------------------------------------------------- */
/* Signals */

static void signal_received(struct loop *loop, uint32_t signo)
{
    if (signo != SIGTERM && signo != SIGINT) return;
    loop->signal_count++;
    if (loop->signal_count > 1) {
        loop->hard_stop = true;
    } else if (loop->on_stop != NULL) {
        loop->on_stop(loop, loop->on_stop_context);
    } else {
        loop_stop(loop);
    }
}

/* The signalfd poll completed: read the signals (from this thread: a signalfd hands
 * out the reader's signals) and re-arm. */
static void signal_reaped(struct loop *loop, struct loop_op *op)
{
    assert(op == &loop->signal_op);
    int32_t res = op->cqe_res;
    op->state = LOOP_OP_IDLE;
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
        log_error("signalfd poll failed; signals are no longer watched", LOG_INT("errno", -res),
                  LOG_STR("error", strerror(-res)));
        return;
    }
    for (int i = 0; i < SIGNAL_READS_MAX; i++) {
        struct signalfd_siginfo info;
        ssize_t n = read(loop->signal_fd, &info, sizeof info);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n != (ssize_t)sizeof info) {
            int e = n < 0 ? errno : EIO;
            log_error("signalfd read failed", LOG_INT("errno", e), LOG_STR("error", strerror(e)));
            break;
        }
        signal_received(loop, info.ssi_signo);
        if (loop->hard_stop) break;
    }
    op_submit(loop, op);
}

static bool signals_setup(struct loop *loop, struct lw_err *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return lw_err_set(err, LOOP_E_UNEXPECTED, "block SIGTERM/SIGINT: %s", strerror(errno));
    struct sigaction ignore = { .sa_handler = SIG_IGN };
    sigemptyset(&ignore.sa_mask);
    if (sigaction(SIGPIPE, &ignore, NULL) != 0)
        return lw_err_set(err, LOOP_E_UNEXPECTED, "ignore SIGPIPE: %s", strerror(errno));
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return lw_err_set(err, loop_error_from_errno(LOOP_OP_SOCKET, e), "signalfd: %s", strerror(e));
    }
    loop->signal_fd = fd;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Setup */

static const char *errno_name(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    default: return "errno";
    }
}

/* " (currently 2: disabled for everyone)", or "" if the sysctl cannot be read
 * (kernels before 6.6 do not have it). */
static void sysctl_describe(char *out, size_t size)
{
    out[0] = '\0';
    int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char text[16] = { 0 };
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0 || text[0] < '0' || text[0] > '9') return;
    const char *meaning = text[0] == '0'   ? "allowed"
                          : text[0] == '1' ? "only for CAP_SYS_ADMIN and kernel.io_uring_group"
                                           : "disabled for everyone";
    snprintf(out, size, " (currently %c: %s)", text[0], meaning);
}

static bool setup_unavailable(struct lw_err *err, const char *syscall_name, int e)
{
    char sysctl[96];
    sysctl_describe(sysctl, sizeof sysctl);
    return lw_err_set(err, LOOP_E_UNAVAILABLE,
                      "io_uring is not available (%s failed with %s: %s). "
                      "Likely cause: a container seccomp profile (Docker 25+ and containerd 2.0 "
                      "block io_uring by default: run with a seccomp profile that allows "
                      "io_uring_setup, io_uring_enter and io_uring_register), or the "
                      "kernel.io_uring_disabled sysctl%s%s",
                      syscall_name, errno_name(e), strerror(e), sysctl,
                      e == ENOSYS ? ", or a kernel built without CONFIG_IO_URING" : "");
}

static bool ring_setup(struct loop *loop, struct lw_err *err)
{
    /* Newest first; each -EINVAL means the kernel does not know a flag. */
    static const unsigned attempts[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    struct io_uring_params params;
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0] && rc == -EINVAL; i++) {
        memset(&params, 0, sizeof params);
        params.flags = attempts[i] | IORING_SETUP_CQSIZE;
        params.cq_entries = LOOP_CQ_ENTRIES;
        rc = io_uring_queue_init_params(LOOP_SQ_ENTRIES, &loop->ring, &params);
        if (rc == 0) loop->setup_flags = attempts[i];
    }
    if (rc == -EPERM || rc == -ENOSYS || rc == -EOPNOTSUPP || rc == -EINVAL)
        return setup_unavailable(err, "io_uring_setup", -rc);
    if (rc < 0) {
        enum loop_error code = rc == -ENOMEM ? LOOP_E_NO_MEMORY
                               : (rc == -EMFILE || rc == -ENFILE) ? LOOP_E_TOO_MANY_FILES
                                                                  : LOOP_E_UNEXPECTED;
        return lw_err_set(err, code, "io_uring_setup failed with %s: %s", errno_name(-rc),
                          strerror(-rc));
    }
    if (!(params.features & IORING_FEAT_EXT_ARG)) {
        io_uring_queue_exit(&loop->ring);
        return lw_err_set(err, LOOP_E_UNAVAILABLE,
                          "io_uring on this kernel lacks IORING_FEAT_EXT_ARG: Linux 5.11 or "
                          "newer is needed");
    }
    assert(params.sq_entries == LOOP_SQ_ENTRIES && params.cq_entries >= LOOP_CQ_ENTRIES);
    loop->ring_ready = true;
    return true;
}

/* Arms the signal poll and submits it now: some seccomp profiles allow io_uring_setup
 * but refuse io_uring_enter, and that must be found here, not on the first wait. */
static bool signal_arm(struct loop *loop, struct lw_err *err)
{
    loop->signal_op.kind = LOOP_OP_SIGNAL;
    op_submit(loop, &loop->signal_op);
    int rc;
    do {
        rc = io_uring_submit(&loop->ring);
    } while (rc == -EINTR);
    if (rc == -EPERM || rc == -ENOSYS || rc == -EOPNOTSUPP)
        return setup_unavailable(err, "io_uring_enter", -rc);
    if (rc < 0)
        return lw_err_set(err, LOOP_E_UNEXPECTED, "io_uring_enter failed with %s: %s",
                          errno_name(-rc), strerror(-rc));
    assert(rc == 1);
    return true;
}

bool loop_init(struct loop *loop, struct lw_err *err)
{
    assert(loop != NULL);
    memset(loop, 0, sizeof *loop);
    loop->signal_fd = -1;
    loop->signal_op.heap_index = HEAP_INDEX_NONE;
    clock_read(loop, &loop->now_ms, &loop->wall_ms);
    if (!signals_setup(loop, err)) return false;
    if (!ring_setup(loop, err)) {
        loop_deinit(loop);
        return false;
    }
    if (!signal_arm(loop, err)) {
        loop_deinit(loop);
        return false;
    }
    return true;
}

void loop_deinit(struct loop *loop)
{
    if (loop->ring_ready) io_uring_queue_exit(&loop->ring);
    loop->ring_ready = false;
    if (loop->signal_fd >= 0) close(loop->signal_fd);
    loop->signal_fd = -1;
}

const char *loop_mode(const struct loop *loop)
{
    if (loop->setup_flags & IORING_SETUP_DEFER_TASKRUN) return "single_issuer+defer_taskrun";
    if (loop->setup_flags & IORING_SETUP_COOP_TASKRUN) return "coop_taskrun";
    return "basic";
}

/* ------------------------------------------------------------------------- */
/* Running */

static void cancel_reaped(int32_t res, const char *why)
{
    /* -ENOENT: it completed already; -EALREADY: it is completing. */
    if (res >= 0 || res == -ENOENT || res == -EALREADY) return;
    log_error("io_uring cancel failed", LOG_STR("for", why), LOG_INT("errno", -res),
              LOG_STR("error", strerror(-res)));
}

static void reap_one(struct loop *loop, uint64_t user_data, int32_t res)
{
    assert(loop->sqes_in_kernel > 0);
    loop->sqes_in_kernel--;
    uintptr_t pointer = (uintptr_t)(user_data & ~(uint64_t)UD_TAG_MASK);
    switch (user_data & UD_TAG_MASK) {
    case UD_OP: {
        struct loop_op *op = (struct loop_op *)pointer;
        assert(op != NULL && op->state == LOOP_OP_KERNEL);
        op->cqe_res = res;
        op->state = LOOP_OP_REAPED;
        fifo_push(&loop->completed, op);
        break;
    }
    case UD_CLOSE_CANCEL: {
        struct loop_socket *sock = (struct loop_socket *)pointer;
        assert(sock->cancels_in_kernel > 0 && sock->close_op != NULL);
        sock->cancels_in_kernel--;
        cancel_reaped(res, "close");
        close_maybe_finish(loop, sock);
        break;
    }
    case UD_DEADLINE_CANCEL:
        assert(pointer == 0);
        cancel_reaped(res, "deadline");
        break;
    default:
        assert(!"bad user_data tag");
    }
}

/* Moves every CQE the kernel has posted onto the completed FIFO. No callbacks. */
static void reap(struct loop *loop)
{
    struct io_uring_cqe *cqe;
    unsigned head;
    unsigned count = 0;
    io_uring_for_each_cqe(&loop->ring, head, cqe) {
        reap_one(loop, cqe->user_data, cqe->res);
        count++;
    }
    io_uring_cq_advance(&loop->ring, count);
}

/* Timers whose deadline passed complete; socket ops get canceled. */
static void deadlines_expire(struct loop *loop)
{
    while (loop->deadline_count > 0 && loop->deadlines[0]->deadline_ms <= loop->now_ms) {
        struct loop_op *op = loop->deadlines[0];
        deadline_remove(loop, op);
        op->expired = true;
        switch (op->state) {
        case LOOP_OP_WAITING:
            assert(op->kind == LOOP_OP_TIMER);
            op_finish(loop, op, LOOP_OK, 0);
            fifo_push(&loop->completed, op);
            break;
        case LOOP_OP_KERNEL:
            cancel_submit(loop, op, UD_DEADLINE_CANCEL);
            break;
        case LOOP_OP_REAPED:
            break; /* its CQE is back and decides; a partial send stops here */
        default:
            assert(!"an op in the deadline heap must be pending");
        }
    }
}

/* Runs the callbacks pending when called; ops completed meanwhile wait for the next
 * iteration, so a callback that restarts work cannot keep this loop going. */
static void completed_run(struct loop *loop)
{
    uint32_t count = loop->completed.count;
    for (uint32_t i = 0; i < count && !loop->hard_stop; i++) {
        struct loop_op *op = fifo_pop(&loop->completed);
        if (op == NULL) break; /* a canceled timer left the FIFO */
        if (op->state == LOOP_OP_REAPED) {
            if (op->kind == LOOP_OP_SIGNAL) {
                signal_reaped(loop, op);
                continue;
            }
            if (!socket_op_reaped(loop, op)) continue;
        }
        op_callback(loop, op);
    }
}

static uint32_t wait_ms_compute(const struct loop *loop, uint32_t max_wait_ms)
{
    if (loop->completed.count > 0) return 0;
    int64_t wait_ms = max_wait_ms < LOOP_SLEEP_MAX_MS ? max_wait_ms : LOOP_SLEEP_MAX_MS;
    if (loop->deadline_count > 0) {
        int64_t until_ms = loop->deadlines[0]->deadline_ms - loop->now_ms;
        if (until_ms < wait_ms) wait_ms = until_ms < 0 ? 0 : until_ms;
    }
    return (uint32_t)wait_ms;
}

/* Submits queued SQEs and waits up to `wait_ms` for a CQE: the one kernel timeout. */
static bool submit_and_wait(struct loop *loop, uint32_t wait_ms)
{
    struct __kernel_timespec ts = {
        .tv_sec = wait_ms / 1000,
        .tv_nsec = (long long)(wait_ms % 1000) * 1000000,
    };
    struct io_uring_cqe *cqe = NULL;
    int rc = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
    /* -ETIME: nothing came. -EINTR: a signal we do not block. -EBUSY/-EAGAIN: the
     * kernel wants the CQ drained first, which the caller does next. */
    if (rc >= 0 || rc == -ETIME || rc == -EINTR || rc == -EBUSY || rc == -EAGAIN) return true;
    log_error("io_uring_enter failed", LOG_INT("errno", -rc), LOG_STR("error", strerror(-rc)));
    return false;
}

static enum loop_run_status run_status(const struct loop *loop)
{
    if (loop->hard_stop) return LOOP_RUN_HARD_STOP;
    if (loop->failed) return LOOP_RUN_FAILED;
    if (loop->stop_requested) return LOOP_RUN_STOPPED;
    return LOOP_RUN_CONTINUE;
}

enum loop_run_status loop_run_once(struct loop *loop, uint32_t max_wait_ms)
{
    assert(loop->ring_ready);
    if (loop->hard_stop || loop->failed) return run_status(loop);
    if (!submit_and_wait(loop, wait_ms_compute(loop, max_wait_ms))) {
        loop->failed = true;
        return LOOP_RUN_FAILED;
    }
    clock_update(loop);
    reap(loop);
    deadlines_expire(loop);
    completed_run(loop);
    assert(loop->deadline_count <= loop->ops_active);
    return run_status(loop);
}

enum loop_run_status loop_run(struct loop *loop)
{
    enum loop_run_status status;
    do {
        status = loop_run_once(loop, LOOP_SLEEP_MAX_MS);
    } while (status == LOOP_RUN_CONTINUE);
    loop->stop_requested = false;
    return status;
}

void loop_stop(struct loop *loop) { loop->stop_requested = true; }

void loop_set_stop_handler(struct loop *loop, loop_stop_fn fn, void *context)
{
    loop->on_stop = fn;
    loop->on_stop_context = context;
}

uint32_t loop_signal_count(const struct loop *loop) { return loop->signal_count; }

/* ------------------------------------------------------------------------- */
/* Sockets */

bool loop_socket_open(struct loop *loop, struct loop_socket *sock, int family, struct lw_err *err)
{
    (void)loop; /* only asserted on */
    assert(loop->ring_ready);
    assert(family == AF_INET || family == AF_INET6);
    memset(sock, 0, sizeof *sock);
    sock->fd = -1;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
        int e = errno;
        enum loop_error code = loop_error_from_errno(LOOP_OP_SOCKET, e);
        if (code == LOOP_E_UNEXPECTED)
            log_error("unexpected errno from socket", LOG_INT("errno", e), LOG_STR("error", strerror(e)));
        return lw_err_set(err, code, "socket: %s", strerror(e));
    }
    /* Requests and replies are small and latency-bound (RESP, HTTP headers, TLS
     * records): no Nagle delay. A failure only costs latency. */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_warn("setsockopt TCP_NODELAY failed", LOG_STR("error", strerror(errno)));
    sock->fd = fd;
    return true;
}

void loop_socket_adopt(struct loop_socket *sock, int fd)
{
    assert(fd >= 0);
    memset(sock, 0, sizeof *sock);
    sock->fd = fd;
}

static void socket_op_start(struct loop *loop, struct loop_socket *sock, struct loop_op *op,
                            enum loop_op_kind kind, int64_t deadline_ms, loop_op_fn callback,
                            void *context)
{
    assert(sock != NULL && sock->fd >= 0);
    assert(sock->close_op == NULL); /* no new ops on a closing socket */
    op_begin(loop, op, kind, sock, deadline_ms, callback, context);
}

void loop_connect(struct loop *loop, struct loop_socket *sock, struct loop_op *op,
                  const struct sockaddr *addr, socklen_t addr_len, int64_t deadline_ms,
                  loop_op_fn callback, void *context)
{
    assert(addr != NULL && addr_len > 0 && addr_len <= sizeof op->u.connect.addr);
    assert(sock->connect_op == NULL && sock->send_op == NULL && sock->recv_op == NULL);
    socket_op_start(loop, sock, op, LOOP_OP_CONNECT, deadline_ms, callback, context);
    memset(&op->u.connect.addr, 0, sizeof op->u.connect.addr);
    memcpy(&op->u.connect.addr, addr, addr_len);
    op->u.connect.addr_len = addr_len;
    sock->connect_op = op;
    op_submit(loop, op);
}

void loop_send(struct loop *loop, struct loop_socket *sock, struct loop_op *op, const void *buf,
               size_t size_bytes, int64_t deadline_ms, loop_op_fn callback, void *context)
{
    assert(buf != NULL && size_bytes > 0);
    assert(sock->send_op == NULL && sock->connect_op == NULL);
    socket_op_start(loop, sock, op, LOOP_OP_SEND, deadline_ms, callback, context);
    op->u.send.buf = buf;
    op->u.send.size_bytes = size_bytes;
    sock->send_op = op;
    op_submit(loop, op);
}

void loop_recv(struct loop *loop, struct loop_socket *sock, struct loop_op *op, void *buf,
               size_t capacity_bytes, int64_t deadline_ms, loop_op_fn callback, void *context)
{
    assert(buf != NULL && capacity_bytes > 0);
    assert(sock->recv_op == NULL && sock->connect_op == NULL);
    socket_op_start(loop, sock, op, LOOP_OP_RECV, deadline_ms, callback, context);
    op->u.recv.buf = buf;
    op->u.recv.capacity_bytes = capacity_bytes;
    sock->recv_op = op;
    op_submit(loop, op);
}

void loop_close(struct loop *loop, struct loop_socket *sock, struct loop_op *op,
                loop_op_fn callback, void *context)
{
    socket_op_start(loop, sock, op, LOOP_OP_CLOSE, LOOP_DEADLINE_NONE, callback, context);
    op->state = LOOP_OP_WAITING;
    sock->close_op = op;
    struct loop_op *ops[] = { sock->connect_op, sock->send_op, sock->recv_op };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (ops[i] == NULL || ops[i]->state != LOOP_OP_KERNEL) continue; /* REAPED: it is back */
        cancel_submit(loop, ops[i], (uint64_t)(uintptr_t)sock | UD_CLOSE_CANCEL);
        sock->cancels_in_kernel++;
    }
    close_maybe_finish(loop, sock);
}

/* ------------------------------------------------------------------------- */
/* Timers */

void loop_timer_start(struct loop *loop, struct loop_op *op, uint32_t timeout_ms,
                      loop_op_fn callback, void *context)
{
    op_begin(loop, op, LOOP_OP_TIMER, NULL, loop->now_ms + timeout_ms, callback, context);
    op->state = LOOP_OP_WAITING;
}

bool loop_timer_cancel(struct loop *loop, struct loop_op *op)
{
    assert(op->state == LOOP_OP_IDLE || op->kind == LOOP_OP_TIMER);
    if (op->state == LOOP_OP_IDLE) return false;
    if (op->state == LOOP_OP_DONE) fifo_remove(&loop->completed, op);
    else deadline_remove(loop, op);
    assert(op->heap_index == HEAP_INDEX_NONE);
    assert(loop->ops_active > 0);
    loop->ops_active--;
    op->state = LOOP_OP_IDLE;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Name resolution */

size_t loop_resolve(const char *host, uint16_t port, struct sockaddr_storage *addrs,
                    socklen_t *addr_lens, size_t count_max, struct lw_err *err)
{
    assert(host != NULL && count_max > 0);
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    /* No AI_ADDRCONFIG: on a host with only a loopback interface it would hide
     * 127.0.0.1 and ::1, and "localhost" would not resolve. */
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_protocol = IPPROTO_TCP,
        .ai_flags = AI_NUMERICSERV,
    };
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0) {
        enum loop_error code = rc == EAI_MEMORY ? LOOP_E_NO_MEMORY : LOOP_E_RESOLVE;
        const char *why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
        lw_err_set(err, code, "%s", why);
        return 0;
    }
    size_t count = 0;
    for (struct addrinfo *ai = list; ai != NULL && count < count_max; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        if (ai->ai_addrlen > sizeof addrs[count]) continue;
        memset(&addrs[count], 0, sizeof addrs[count]);
        memcpy(&addrs[count], ai->ai_addr, ai->ai_addrlen);
        addr_lens[count] = (socklen_t)ai->ai_addrlen;
        count++;
    }
    freeaddrinfo(list);
    if (count == 0) lw_err_set(err, LOOP_E_RESOLVE, "no IPv4 or IPv6 address");
    return count;
}
