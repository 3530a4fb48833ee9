/* loop: the one io_uring of the process: sockets, deadlines, timers, signals, time.
 *
 * Everything that waits goes through here: one thread, one ring, and after start-up
 * loop.c is the only file that talks to the kernel. Other modules receive time
 * (loop_now_ms, loop_wall_ms) and randomness (loop_random) from the loop, so that tests
 * can drive them.
 *
 * Operations are caller-owned `struct loop_op`s (nothing is allocated): the caller
 * starts one with a callback, the SQE's user_data points at the op, and when the
 * kernel is done the loop queues the op on an intrusive FIFO. Callbacks run only from
 * loop_run / loop_run_once, in completion order, never from inside a start call and
 * never recursively from inside completion handling. A callback may restart the op it
 * was given, start others, or close their socket.
 *
 *     caller            loop                           kernel
 *     loop_recv(op) --> SQE (user_data = op) ------->  recv
 *                       ...                            CQE
 *                       reap: op -> completed FIFO <-- res
 *                       run:  op->callback(loop, op)
 *
 * Time and deadlines. Deadlines are integer milliseconds on the loop's monotonic clock
 * (loop_now_ms), kept in one binary heap inside the loop, ordered by (deadline, start
 * order) so that equal deadlines fire in the order they were started. There is exactly
 * one kernel timeout: the EXT_ARG wait timeout of io_uring_submit_and_wait_timeout,
 * set to the earliest deadline (capped at LOOP_SLEEP_MAX_MS). No timeout SQEs and no
 * linked timeouts: every deadline is an integer the loop can assert on, and a test can
 * swap the clock (loop_set_clock) and drive expiries deterministically. When the
 * deadline of a socket operation passes, the loop cancels it (IORING_OP_ASYNC_CANCEL by
 * user_data) and it completes with LOOP_E_TIMED_OUT; if the kernel finished it first,
 * the real result wins.
 *
 * Receiving. A recv is a plain single-shot IORING_OP_RECV into the caller's buffer, at
 * most one in flight per socket. Not multishot with provided buffers, because: we have
 * a handful of connections (Redis, a few S3 uploads, PostgreSQL), so the SQE per recv
 * costs nothing measurable; BearSSL wants ciphertext in its own record buffer, which a
 * recv into the caller's buffer fills directly instead of copying out of a pool; and a
 * single-shot op has a plain deadline (cancel it), whereas a multishot recv needs idle
 * tracking, buffer recycling and -ENOBUFS re-arming.
 *
 * Sending. loop_send sends every byte: it resubmits the remainder after a partial send
 * until all bytes are out, the deadline passes, or an error occurs. MSG_NOSIGNAL always,
 * and SIGPIPE is ignored process-wide.
 *
 * Closing. Closing a file descriptor does not cancel io_uring operations on it (the ring
 * holds its own reference). loop_close cancels each in-flight op of the socket by
 * user_data (works on every kernel with EXT_ARG, unlike CANCEL_FD which needs 5.19),
 * waits until the CQEs of those ops and of the cancels are all back, then close(2)s the
 * descriptor and completes. Ops of a closing socket complete with LOOP_E_CANCELED.
 *
 * Signals. loop_init blocks SIGTERM and SIGINT (before the ring exists, so that no
 * io_uring worker thread can take them), ignores SIGPIPE, and keeps one poll op armed on
 * a signalfd. The read(2) of the signalfd is done by the loop thread itself after the
 * poll completes: a signalfd dequeues the signals of the task that reads it, and a read
 * punted to an io_uring worker would look at the worker's. The first signal calls the
 * owner's stop handler (loop_set_stop_handler; without one, loop_stop); a second makes
 * loop_run return LOOP_RUN_HARD_STOP at once. The signals stay blocked after
 * loop_deinit: a late stop request must not kill the process in the middle of its exit.
 *
 * Setup. IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN (Linux 6.1); on
 * -EINVAL the loop retries with COOP_TASKRUN only (5.19), then with no flags. The kernel
 * must offer IORING_FEAT_EXT_ARG (5.11). When io_uring is refused (EPERM, ENOSYS,
 * EOPNOTSUPP, or EINVAL even without flags) loop_init fails with LOOP_E_UNAVAILABLE and
 * a message naming the likely cause: a container seccomp profile or the
 * kernel.io_uring_disabled sysctl.
 *
 * One loop per process (it owns the signal disposition). Limits are the LOOP_* constants
 * below; the sum of what the other modules keep in flight must stay under LOOP_OPS_MAX,
 * which is asserted. */
#ifndef LW_LOOP_H
#define LW_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "err.h"

enum {
    LOOP_SQ_ENTRIES = 256,     /* submission queue size */
    LOOP_CQ_ENTRIES = 1024,    /* completion queue size: >= 3 CQEs per op, plus signals */
    LOOP_OPS_MAX = 256,        /* ops started and not yet called back, over all callers */
    LOOP_SLEEP_MAX_MS = 1000,  /* longest single wait in the kernel */
};

/* A deadline that never passes. */
#define LOOP_DEADLINE_NONE INT64_MAX

/* What went wrong with an operation. Every errno the kernel can return for an op is
 * mapped to one of these explicitly (see loop_error_from_errno); anything else is
 * LOOP_E_UNEXPECTED, logged, with the raw errno kept in loop_op.errno_raw. */
enum loop_error {
    LOOP_OK = 0,
    LOOP_E_UNAVAILABLE,       /* io_uring cannot be used here (loop_init only) */
    LOOP_E_REFUSED,           /* ECONNREFUSED: nothing listens there */
    LOOP_E_TIMED_OUT,         /* our deadline passed, or ETIMEDOUT from TCP */
    LOOP_E_RESET,             /* ECONNRESET, EPIPE: the peer reset the connection */
    LOOP_E_CLOSED,            /* recv returned 0: the peer closed the connection */
    LOOP_E_CANCELED,          /* ECANCELED: canceled, e.g. by loop_close */
    LOOP_E_HOST_UNREACHABLE,  /* EHOSTUNREACH, EHOSTDOWN */
    LOOP_E_NET_UNREACHABLE,   /* ENETUNREACH, ENETDOWN */
    LOOP_E_ADDR_NOT_AVAILABLE,/* EADDRNOTAVAIL: no local address/port to connect from */
    LOOP_E_ADDR_FAMILY,       /* EAFNOSUPPORT: e.g. IPv6 disabled on this host */
    LOOP_E_ACCESS,            /* EACCES, EPERM: refused by a local firewall rule or policy */
    LOOP_E_NO_MEMORY,         /* ENOMEM, ENOBUFS */
    LOOP_E_TOO_MANY_FILES,    /* EMFILE, ENFILE */
    LOOP_E_RESOLVE,           /* loop_resolve: the name could not be resolved */
    LOOP_E_UNEXPECTED,        /* an errno not expected for this op: see errno_raw */
    LOOP_E_COUNT_
};

/* The kinds of operation; used in logs and by loop_error_from_errno. */
enum loop_op_kind {
    LOOP_OP_NONE = 0,
    LOOP_OP_SOCKET,   /* socket(2), a plain syscall */
    LOOP_OP_CONNECT,
    LOOP_OP_SEND,
    LOOP_OP_RECV,
    LOOP_OP_CLOSE,
    LOOP_OP_TIMER,
    LOOP_OP_SIGNAL,   /* internal: the poll on the signalfd */
};

/* Where an op is in its life. Owned by the loop; callers may read it. */
enum loop_op_state {
    LOOP_OP_IDLE = 0,  /* not started, or its callback has begun: may be (re)started */
    LOOP_OP_KERNEL,    /* an SQE is queued or in the kernel */
    LOOP_OP_WAITING,   /* a timer, or a close waiting for the socket's ops to finish */
    LOOP_OP_REAPED,    /* its CQE is on the completed FIFO, not yet interpreted */
    LOOP_OP_DONE,      /* final result set, on the completed FIFO for its callback */
};

struct loop;
struct loop_op;
struct loop_socket;

/* Runs from the loop when `op` completes: op->error, op->errno_raw and op->size_bytes
 * hold the result; op->state is LOOP_OP_IDLE again, so the op may be restarted. */
typedef void (*loop_op_fn)(struct loop *loop, struct loop_op *op);

/* One operation, owned by the caller, which must keep it alive (and not touch its
 * buffers) from the start call until its callback runs. Zero-initialise it once. */
struct loop_op {
    /* Results, valid in the callback. */
    enum loop_error error;     /* LOOP_OK or what went wrong */
    int errno_raw;             /* the kernel's errno behind `error` (0 if none) */
    size_t size_bytes;         /* bytes sent (send, also on error) or received (recv) */
    void *context;             /* the caller's, as given to the start call */

    /* Owned by the loop. */
    enum loop_op_kind kind;
    enum loop_op_state state;
    loop_op_fn callback;
    struct loop_socket *sock;  /* socket ops and close */
    int32_t cqe_res;           /* raw result of the last CQE, while REAPED */
    bool expired;              /* the deadline passed; a cancel was requested */
    int64_t deadline_ms;       /* LOOP_DEADLINE_NONE or a loop_now_ms value */
    uint64_t deadline_seq;     /* start order, breaks ties between equal deadlines */
    uint32_t heap_index;       /* position in the deadline heap, or UINT32_MAX */
    struct loop_op *fifo_prev, *fifo_next; /* on the completed FIFO */
    union {
        struct {
            struct sockaddr_storage addr; /* copied: the kernel reads it at submit time */
            socklen_t addr_len;
        } connect;
        struct {
            const uint8_t *buf;
            size_t size_bytes;
        } send;
        struct {
            uint8_t *buf;
            size_t capacity_bytes;
        } recv;
    } u;
};

/* A socket known to the loop, owned by the caller. Fill it with loop_socket_open or
 * loop_socket_adopt; release it with loop_close. */
struct loop_socket {
    int fd;                    /* -1 when closed */
    uint32_t ops_in_kernel;    /* its ops whose CQE has not been interpreted yet */
    uint32_t cancels_in_kernel;/* close's cancel SQEs whose CQE is not back yet */
    struct loop_op *connect_op, *send_op, *recv_op; /* at most one of each at a time */
    struct loop_op *close_op;  /* set once loop_close was called */
};

/* Supplies the clock in tests: both values in milliseconds. */
typedef void (*loop_clock_fn)(void *context, int64_t *monotonic_ms, int64_t *wall_ms);

/* Supplies random bytes in tests; returns false on failure. */
typedef bool (*loop_random_fn)(void *context, void *buf, size_t size_bytes);

/* Called from the loop on the first SIGTERM/SIGINT. */
typedef void (*loop_stop_fn)(struct loop *loop, void *context);

/* A completed-op FIFO, intrusive through loop_op.fifo_prev/next. */
struct loop_fifo {
    struct loop_op *head, *tail;
    uint32_t count;
};

/* The loop. Caller-owned; all fields are private (use the functions below). */
struct loop {
    struct io_uring ring;
    bool ring_ready;
    unsigned setup_flags;      /* the IORING_SETUP_* flags the kernel took */
    uint32_t sqes_in_kernel;   /* SQEs queued or submitted whose CQE is not reaped */
    uint32_t ops_active;       /* started ops whose callback has not run */

    struct loop_fifo completed;

    struct loop_op *deadlines[LOOP_OPS_MAX]; /* min-heap by (deadline_ms, seq) */
    uint32_t deadline_count;
    uint64_t deadline_seq;

    int64_t now_ms, wall_ms;
    loop_clock_fn clock;
    void *clock_context;
    loop_random_fn random;
    void *random_context;

    int signal_fd;
    struct loop_op signal_op;
    uint32_t signal_count;
    loop_stop_fn on_stop;
    void *on_stop_context;
    bool stop_requested;
    bool hard_stop;
    bool failed;
};

/* How loop_run / loop_run_once ended. */
enum loop_run_status {
    LOOP_RUN_CONTINUE = 0, /* loop_run_once only: nothing asked to stop */
    LOOP_RUN_STOPPED,      /* loop_stop was called (graceful) */
    LOOP_RUN_HARD_STOP,    /* a second SIGTERM/SIGINT: return at once */
    LOOP_RUN_FAILED,       /* the kernel refused to wait or submit (logged) */
};

/* Sets up the ring, blocks SIGTERM/SIGINT, ignores SIGPIPE and arms the signalfd.
 * Returns false and fills `err` on failure: err->code is LOOP_E_UNAVAILABLE when
 * io_uring cannot be used here (the message names the likely cause: seccomp or the
 * kernel.io_uring_disabled sysctl; a refused io_uring_enter is found here too),
 * otherwise another loop_error. `loop` need not be initialised; on failure nothing
 * needs to be released (SIGTERM/SIGINT stay blocked, SIGPIPE ignored). */
bool loop_init(struct loop *loop, struct lw_err *err);

/* Releases the ring and the signalfd. Ops still in flight are abandoned (the kernel
 * cancels them with the ring); their callbacks never run. */
void loop_deinit(struct loop *loop);

/* A short name of the setup the kernel accepted, for the start log line:
 * "single_issuer+defer_taskrun", "coop_taskrun" or "basic". */
const char *loop_mode(const struct loop *loop);

/* Runs until loop_stop or a hard stop. Returns LOOP_RUN_STOPPED, LOOP_RUN_HARD_STOP
 * or LOOP_RUN_FAILED. */
enum loop_run_status loop_run(struct loop *loop);

/* One iteration, for tests and for callers with their own outer loop: submits, waits
 * at most `max_wait_ms` (less if a deadline is due sooner, 0 if callbacks are pending),
 * reaps completions, expires deadlines and runs the callbacks that were pending when
 * the iteration began. Returns LOOP_RUN_CONTINUE unless something asked to stop. */
enum loop_run_status loop_run_once(struct loop *loop, uint32_t max_wait_ms);

/* Asks loop_run to return LOOP_RUN_STOPPED after the current iteration. */
void loop_stop(struct loop *loop);

/* Sets the handler of the first SIGTERM/SIGINT (NULL: loop_stop). */
void loop_set_stop_handler(struct loop *loop, loop_stop_fn fn, void *context);

/* Number of SIGTERM/SIGINT received so far. */
uint32_t loop_signal_count(const struct loop *loop);

/* Monotonic milliseconds, read once per iteration (the base of every deadline). */
int64_t loop_now_ms(const struct loop *loop);

/* Wall-clock (CLOCK_REALTIME) milliseconds since the Unix epoch, read once per
 * iteration: for SigV4 dates and partitions, never for deadlines. */
int64_t loop_wall_ms(const struct loop *loop);

/* Replaces the clock (NULL: the real one) and refreshes both cached values now. Call
 * it before starting any op with a deadline: deadlines are not rebased. The fake
 * monotonic value must never go back. The loop still waits in the kernel for real
 * time (at most max_wait_ms), so tests drive it with loop_run_once(loop, 0). */
void loop_set_clock(struct loop *loop, loop_clock_fn fn, void *context);

/* Fills `buf` with `size_bytes` random bytes (getrandom(2), or the test source).
 * Returns false only if the source fails (logged). */
bool loop_random(struct loop *loop, void *buf, size_t size_bytes);

/* Replaces the random source (NULL: getrandom). */
void loop_set_random(struct loop *loop, loop_random_fn fn, void *context);

/* Creates a TCP socket of `family` (AF_INET or AF_INET6) with TCP_NODELAY, a plain
 * blocking socket (io_uring polls it). Returns false and fills `err` (code: a
 * loop_error) if the kernel refuses. */
bool loop_socket_open(struct loop *loop, struct loop_socket *sock, int family,
                      struct lw_err *err);

/* Makes an existing connected stream socket (e.g. one end of a socketpair) a loop
 * socket; loop_close will close `fd`. */
void loop_socket_adopt(struct loop_socket *sock, int fd);

/* Connects `sock` to `addr`. Completes with LOOP_OK or an error; LOOP_E_TIMED_OUT if
 * `deadline_ms` (loop_now_ms based, or LOOP_DEADLINE_NONE) passes first. The address
 * is copied. */
void loop_connect(struct loop *loop, struct loop_socket *sock, struct loop_op *op,
                  const struct sockaddr *addr, socklen_t addr_len, int64_t deadline_ms,
                  loop_op_fn callback, void *context);

/* Sends all `size_bytes` of `buf` (> 0), resubmitting after partial sends. On success
 * size_bytes == the whole length; on error it counts the bytes that did go out. `buf`
 * must stay unchanged until the callback. One send per socket at a time. */
void loop_send(struct loop *loop, struct loop_socket *sock, struct loop_op *op,
               const void *buf, size_t size_bytes, int64_t deadline_ms,
               loop_op_fn callback, void *context);

/* Receives between 1 and `capacity_bytes` (> 0) bytes into `buf`; size_bytes says how
 * many. LOOP_E_CLOSED when the peer closed the connection (EOF). One recv per socket
 * at a time. */
void loop_recv(struct loop *loop, struct loop_socket *sock, struct loop_op *op,
               void *buf, size_t capacity_bytes, int64_t deadline_ms,
               loop_op_fn callback, void *context);

/* Cancels every op in flight on `sock` (they complete with LOOP_E_CANCELED, before
 * this one), waits for all their CQEs, closes the descriptor and completes with
 * LOOP_OK. No op may be started on `sock` after this call; by the time the canceled
 * ops' callbacks run, the descriptor may already be closed (sock->fd == -1). */
void loop_close(struct loop *loop, struct loop_socket *sock, struct loop_op *op,
                loop_op_fn callback, void *context);

/* Runs `callback` once, `timeout_ms` after loop_now_ms. Timers with equal deadlines
 * fire in start order. */
void loop_timer_start(struct loop *loop, struct loop_op *op, uint32_t timeout_ms,
                      loop_op_fn callback, void *context);

/* Stops a timer started with loop_timer_start; its callback will not run. Returns
 * true if the callback was still to run (even if the deadline had passed), false if
 * the timer was idle or its callback had already begun. */
bool loop_timer_cancel(struct loop *loop, struct loop_op *op);

/* The loop_error for `errno_value` (positive) returned by an op of `kind`, or
 * LOOP_E_UNEXPECTED if that op is not expected to fail that way. EINTR and EAGAIN are
 * retried by the loop and are unexpected here. */
enum loop_error loop_error_from_errno(enum loop_op_kind kind, int errno_value);

/* A short lower-case description of `error` ("connection refused"). */
const char *loop_strerror(enum loop_error error);

/* The name of `kind` ("recv"). */
const char *loop_op_kind_name(enum loop_op_kind kind);

/* Resolves `host` (a name, or numeric IPv4/IPv6) and `port` to at most `count_max`
 * TCP addresses, in the resolver's order. Blocking (getaddrinfo: /etc/hosts, DNS):
 * acceptable only when a connection is being set up, never on a data path. Returns the
 * number found, or 0 and fills `err` (code LOOP_E_RESOLVE, or LOOP_E_NO_MEMORY; the
 * message is the resolver's, e.g. "Name or service not known"). */
size_t loop_resolve(const char *host, uint16_t port, struct sockaddr_storage *addrs,
                    socklen_t *addr_lens, size_t count_max, struct lw_err *err);

#endif
