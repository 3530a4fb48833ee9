/* The Redis connection against real redis-servers (Debian's 7.0), one per test on a
 * free loopback port, checked with redis-cli as an independent client: AUTH (password
 * and ACL user), SELECT, pipelining, restarts and killed connections mid-pipeline,
 * NOGROUP, BUSYGROUP, trimmed pending entries, transactions, deadlines, limits, TLS;
 * and a fake server for bytes that are not RESP. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "redis.h"
#include "tls.h"
#include "tls_anchors.h"

enum { RUN_BOUND_MS = 30000 };

static int64_t test_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------- */
/* redis-server processes */

struct server {
    pid_t pid;
    uint16_t port;         /* the plain port, or the TLS port */
    bool tls;
    char dir[128];
    const char *extra[16];
    int extra_count;
};

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Starts redis-server on s->port (a free one if 0), no persistence, DEBUG allowed.
 * It dies with the test process. Retries on another port if a race took it. */
static void server_start(struct server *s)
{
    bool pick = s->port == 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (pick) s->port = free_port();
        mkdir("tmp", 0755);
        mkdir("tmp/redis-test", 0755);
        snprintf(s->dir, sizeof s->dir, "tmp/redis-test/%d-%u", (int)getpid(), (unsigned)s->port);
        mkdir(s->dir, 0755);
        char port[16];
        snprintf(port, sizeof port, "%u", (unsigned)s->port);
        const char *argv[48];
        int n = 0;
        argv[n++] = "redis-server";
        argv[n++] = "--bind";
        argv[n++] = "127.0.0.1";
        argv[n++] = "--port";
        argv[n++] = s->tls ? "0" : port;
        if (s->tls) {
            argv[n++] = "--tls-port";
            argv[n++] = port;
        }
        argv[n++] = "--save";
        argv[n++] = "";
        argv[n++] = "--appendonly";
        argv[n++] = "no";
        argv[n++] = "--dir";
        argv[n++] = s->dir;
        argv[n++] = "--enable-debug-command";
        argv[n++] = "yes";
        for (int i = 0; i < s->extra_count; i++) argv[n++] = s->extra[i];
        argv[n] = NULL;
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            if (getenv("LW_REDIS_TEST_LOG") == NULL) dup2(null, 2);
            execvp("redis-server", (char *const *)argv);
            _exit(127);
        }
        s->pid = pid;
        int64_t end = test_ms() + 10000;
        while (test_ms() < end) {
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                s->pid = 0;
                break;
            }
            if (port_accepts(s->port)) return;
            usleep(10000);
        }
        if (s->pid != 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
        cr_assert(pick, "redis-server did not start on port %u", (unsigned)s->port);
    }
    cr_assert_fail("redis-server did not start");
}

static void server_kill(struct server *s)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    while (port_accepts(s->port)) usleep(1000);
    rmdir(s->dir); /* empty: no persistence */
}

/* Runs redis-cli against the server with `args` (a shell fragment); returns the
 * first line of its output (raw format: not a terminal) in a static buffer. */
static const char *cli(const struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *cli(const struct server *s, const char *fmt, ...)
{
    static char out[4096];
    char args[2048], cmd[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "redis-cli -h 127.0.0.1 -p %u %s 2>&1", (unsigned)s->port, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    pclose(p);
    out[n] = '\0';
    char *nl = strchr(out, '\n');
    if (nl != NULL) *nl = '\0';
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\r' || out[n - 1] == ' ')) out[--n] = '\0';
    return out;
}

/* ------------------------------------------------------------------------- */
/* The connection under test */

struct events {
    int ready, down, closed;
    int last_code;
    char last_msg[LW_ERR_MSG_MAX];
    int64_t down_at_ms[64];
};

struct fixture {
    struct loop loop;
    struct server server;
    struct redis_conn conn;
    struct events ev;
    struct redis_options opt;
    struct tls_anchors anchors;
    bool anchors_loaded;
};
static struct fixture fx;

static void on_event(struct redis_conn *c, void *context, enum redis_event event, const struct lw_err *err)
{
    (void)c;
    struct events *e = context;
    if (event == REDIS_EVENT_READY) {
        cr_assert_null(err);
        e->ready++;
        return;
    }
    cr_assert_not_null(err);
    if (e->down < 64) e->down_at_ms[e->down] = test_ms();
    e->down++;
    e->last_code = err->code;
    snprintf(e->last_msg, sizeof e->last_msg, "%s", err->msg);
}

static void on_closed(struct redis_conn *c, void *context)
{
    (void)c;
    ((struct events *)context)->closed++;
}

static void run_until(const int *counter, int want)
{
    int64_t end_ms = test_ms() + RUN_BOUND_MS;
    while (*counter < want) {
        cr_assert(test_ms() < end_ms, "no completion within %d ms (have %d, want %d)", RUN_BOUND_MS, *counter, want);
        cr_assert_eq(loop_run_once(&fx.loop, 20), LOOP_RUN_CONTINUE);
    }
}

static void run_for(int64_t ms)
{
    int64_t end_ms = test_ms() + ms;
    while (test_ms() < end_ms) loop_run_once(&fx.loop, 10);
}

static void fixture_setup(void)
{
    memset(&fx, 0, sizeof fx);
    struct lw_err err;
    cr_assert(loop_init(&fx.loop, &err), "loop_init: %s", err.msg);
    redis_options_default(&fx.opt);
    fx.opt.host = "127.0.0.1";
    fx.opt.on_event = on_event;
    fx.opt.event_context = &fx.ev;
    fx.opt.backoff_min_ms = 20;
    fx.opt.backoff_max_ms = 200;
}

static void fixture_teardown(void)
{
    if (fx.conn.loop != NULL && redis_state(&fx.conn) != REDIS_IDLE) {
        int closed = fx.ev.closed;
        redis_conn_close(&fx.conn, on_closed, &fx.ev);
        run_until(&fx.ev.closed, closed + 1);
    }
    if (fx.conn.loop != NULL) redis_conn_deinit(&fx.conn);
    if (fx.anchors_loaded) tls_anchors_free(&fx.anchors);
    server_kill(&fx.server);
    loop_deinit(&fx.loop);
}

/* Starts the connection to the fixture's server and waits for READY. */
static void conn_up(void)
{
    struct lw_err err;
    fx.opt.port = fx.server.port;
    cr_assert(redis_conn_init(&fx.conn, &fx.loop, &fx.opt, &err), "%s", err.msg);
    redis_conn_start(&fx.conn);
    cr_assert_eq(fx.ev.ready, 0, "no event from inside start");
    int ready = fx.ev.ready;
    int64_t end_ms = test_ms() + RUN_BOUND_MS;
    while (fx.ev.ready == ready) {
        cr_assert(test_ms() < end_ms, "not ready: %s", fx.ev.last_msg);
        cr_assert_eq(fx.ev.down, 0, "down: %s", fx.ev.last_msg);
        loop_run_once(&fx.loop, 20);
    }
    cr_assert(redis_ready(&fx.conn));
}

/* A request recording its reply. */
struct call {
    struct redis_request req;
    int calls;
    int order;
    bool has_value;
    int code;
    char msg[LW_ERR_MSG_MAX];
    char text[256];        /* a string/status reply, or the integer as text */
    int64_t integer;
    void (*check)(struct call *call, const struct redis_reply *reply); /* runs inside the callback */
};

static int order_next;

static void call_fn(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply)
{
    (void)c;
    struct call *k = req->context;
    k->calls++;
    k->order = ++order_next;
    k->has_value = reply->value != NULL;
    k->code = reply->err.code;
    snprintf(k->msg, sizeof k->msg, "%s", reply->err.msg);
    k->text[0] = '\0';
    if (reply->value != NULL) {
        const struct resp_value *v = reply->value;
        if (v->type == RESP_STRING || v->type == RESP_STATUS || v->type == RESP_ERROR)
            snprintf(k->text, sizeof k->text, "%.*s", (int)v->u.str.len, v->u.str.ptr);
        if (v->type == RESP_INTEGER) {
            k->integer = v->u.integer;
            snprintf(k->text, sizeof k->text, "%lld", (long long)v->u.integer);
        }
    }
    if (k->check != NULL) k->check(k, reply);
}

static void call_init(struct call *k)
{
    memset(k, 0, sizeof *k);
    redis_request_init(&k->req, call_fn, k);
}

/* Sends argv (as C strings) and waits for the reply. */
static struct call *cmd(const char *const *argv, uint32_t argc)
{
    static struct call k;
    call_init(&k);
    struct resp_str a[32];
    cr_assert_leq(argc, 32);
    for (uint32_t i = 0; i < argc; i++) a[i] = resp_str_c(argv[i]);
    struct lw_err err;
    cr_assert(redis_command(&fx.conn, &k.req, argc, a, &err), "%s", err.msg);
    run_until(&k.calls, 1);
    return &k;
}

#define CMD(...) cmd((const char *[]){ __VA_ARGS__ }, sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *))

/* ------------------------------------------------------------------------- */
/* Pure parts */

Test(redis_backoff, grows_and_is_jittered_by_half)
{
    cr_assert_eq(redis_backoff_ms(0, 100, 10000, 0), 100);
    cr_assert_eq(redis_backoff_ms(0, 100, 10000, 50), 50);
    cr_assert_eq(redis_backoff_ms(0, 100, 10000, 51), 100, "modulo half + 1");
    cr_assert_eq(redis_backoff_ms(3, 100, 10000, 0), 800);
    cr_assert_eq(redis_backoff_ms(3, 100, 10000, 400), 400);
    cr_assert_eq(redis_backoff_ms(10, 100, 10000, 0), 10000, "capped");
    cr_assert_eq(redis_backoff_ms(63, 100, 10000, UINT64_MAX), 10000 - (UINT64_MAX % 5001));
    for (uint32_t a = 0; a < 70; a++)
        for (uint64_t r = 0; r < 2000; r += 7) {
            uint32_t d = redis_backoff_ms(a, 100, 10000, r * 2654435761u);
            cr_assert(d >= 50 && d <= 10000);
        }
    cr_assert_eq(redis_backoff_ms(0, 1, 1, 12345), 1);
}

Test(redis_options, from_config_and_checks)
{
    static struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.redis.host, sizeof cfg.redis.host, "cache.internal");
    cfg.redis.port = 6380;
    cfg.redis.tls = true;
    cfg.redis.db = 3;
    snprintf(cfg.redis.user, sizeof cfg.redis.user, "lw");
    snprintf(cfg.s3.ca_file, sizeof cfg.s3.ca_file, "/etc/ca.pem");
    struct redis_options o;
    redis_options_from_config(&o, &cfg);
    cr_assert_str_eq(o.host, "cache.internal");
    cr_assert_eq(o.port, 6380);
    cr_assert(o.tls);
    cr_assert_eq(o.db, 3);
    cr_assert_str_eq(o.user, "lw");
    cr_assert_null(o.password, "no password set");
    cr_assert_str_eq(o.ca_file, "/etc/ca.pem");
    cr_assert_eq(o.command_timeout_ms, REDIS_COMMAND_TIMEOUT_MS_DEFAULT);

    struct loop loop;
    struct lw_err err;
    cr_assert(loop_init(&loop, &err));
    static struct redis_conn c;
    o.tls = false;
    o.port = 0;
    cr_assert_not(redis_conn_init(&c, &loop, &o, &err));
    cr_assert_not_null(strstr(err.msg, "port 0"), "%s", err.msg);
    o.port = 1;
    o.backoff_min_ms = 500;
    o.backoff_max_ms = 100;
    cr_assert_not(redis_conn_init(&c, &loop, &o, &err));
    cr_assert_not_null(strstr(err.msg, "backoff"), "%s", err.msg);
    redis_options_default(&o);
    o.host = "h";
    o.port = 1;
    o.tls = true;
    o.ca_file = "/nonexistent/ca.pem";
    cr_assert_not(redis_conn_init(&c, &loop, &o, &err));
    cr_assert_not_null(strstr(err.msg, "redis h:1 (rediss://)"), "%s", err.msg);
    loop_deinit(&loop);
}

/* ------------------------------------------------------------------------- */
/* Against redis-server */

TestSuite(redis_conn, .init = fixture_setup, .fini = fixture_teardown, .timeout = 120);

Test(redis_conn, connect_ping_and_close)
{
    server_start(&fx.server);
    conn_up();
    struct call *k = CMD("PING");
    cr_assert(k->has_value);
    cr_assert_str_eq(k->text, "PONG");
    char peer[64];
    snprintf(peer, sizeof peer, "127.0.0.1:%u", (unsigned)fx.server.port);
    cr_assert_str_eq(redis_peer(&fx.conn), peer);
    const struct redis_stats *st = redis_stats(&fx.conn);
    cr_assert_eq(st->connects, 1);
    cr_assert_eq(st->commands, 1);
    cr_assert_eq(st->replies, 1);
    cr_assert_gt(st->bytes_received, 0);

    /* Close with a command in flight: it fails with REDIS_E_CLOSED, then the close
     * callback runs. */
    struct call blocked;
    call_init(&blocked);
    struct lw_err err;
    struct resp_str a[] = { RESP_STR("BLPOP"), RESP_STR("nothing"), RESP_STR("5") };
    cr_assert(redis_command(&fx.conn, &blocked.req, 3, a, &err), "%s", err.msg);
    run_for(50);
    redis_conn_close(&fx.conn, on_closed, &fx.ev);
    cr_assert_eq(blocked.calls, 0, "not from inside close");
    run_until(&fx.ev.closed, 1);
    cr_assert_eq(blocked.calls, 1);
    cr_assert_eq(blocked.code, REDIS_E_CLOSED, "%s", blocked.msg);
    cr_assert_eq(redis_state(&fx.conn), REDIS_IDLE);
    cr_assert_not(redis_begin(&fx.conn, &blocked.req, &err));
    cr_assert_eq(err.code, REDIS_E_NOT_READY);
}

Test(redis_conn, requirepass)
{
    fx.server.extra[fx.server.extra_count++] = "--requirepass";
    fx.server.extra[fx.server.extra_count++] = "s3cret pass";
    server_start(&fx.server);
    fx.opt.password = "s3cret pass";
    conn_up();
    cr_assert_str_eq(CMD("PING")->text, "PONG");
    cr_assert_eq(fx.ev.down, 0);
}

/* Waits for the first DOWN event of a connection that cannot get ready. */
static void expect_down(int code, const char *msg_part)
{
    struct lw_err err;
    fx.opt.port = fx.server.port;
    cr_assert(redis_conn_init(&fx.conn, &fx.loop, &fx.opt, &err), "%s", err.msg);
    redis_conn_start(&fx.conn);
    run_until(&fx.ev.down, 1);
    cr_assert_eq(fx.ev.ready, 0);
    cr_assert_eq(fx.ev.last_code, code, "code %d: %s", fx.ev.last_code, fx.ev.last_msg);
    cr_assert_not_null(strstr(fx.ev.last_msg, msg_part), "'%s' not in '%s'", msg_part, fx.ev.last_msg);
    cr_assert_gt(redis_retry_in_ms(&fx.conn) + 1, 0);
    cr_assert(redis_state(&fx.conn) == REDIS_DROPPING || redis_state(&fx.conn) == REDIS_BACKOFF);
}

Test(redis_conn, wrong_password_is_a_clear_permanent_error)
{
    fx.server.extra[fx.server.extra_count++] = "--requirepass";
    fx.server.extra[fx.server.extra_count++] = "right";
    server_start(&fx.server);
    fx.opt.password = "wrong";
    char want[200];
    snprintf(want, sizeof want, "redis 127.0.0.1:%u: AUTH: WRONGPASS invalid username-password pair",
             (unsigned)fx.server.port);
    expect_down(REDIS_E_WRONGPASS, want);
    cr_assert_not_null(strstr(fx.ev.last_msg, "check redis.password"), "%s", fx.ev.last_msg);
    cr_assert_null(strstr(fx.ev.last_msg, "wrong"), "the password is not in the message");
    cr_assert(redis_error_is_permanent(fx.ev.last_code));
    /* It keeps retrying (the owner decides to stop). */
    run_until(&fx.ev.down, 3);
}

Test(redis_conn, no_password_where_one_is_required)
{
    fx.server.extra[fx.server.extra_count++] = "--requirepass";
    fx.server.extra[fx.server.extra_count++] = "right";
    server_start(&fx.server);
    expect_down(REDIS_E_NOAUTH, "PING: NOAUTH Authentication required");
    cr_assert(redis_error_is_permanent(fx.ev.last_code));
}

Test(redis_conn, acl_user)
{
    server_start(&fx.server);
    cr_assert_str_eq(cli(&fx.server, "ACL SETUSER lw on '>pw 1' '~*' '&*' '+@all'"), "OK");
    cr_assert_str_eq(cli(&fx.server, "ACL SETUSER reader on '>rpw' '~*' '+@read' '+ping'"), "OK");
    fx.opt.user = "lw";
    fx.opt.password = "pw 1";
    conn_up();
    struct call *k = CMD("ACL", "WHOAMI");
    cr_assert_str_eq(k->text, "lw");
    k = CMD("XADD", "s", "*", "f", "v");
    cr_assert(k->has_value && k->code == 0, "%s", k->msg);
    redis_conn_close(&fx.conn, on_closed, &fx.ev);
    run_until(&fx.ev.closed, 1);
    redis_conn_deinit(&fx.conn);

    /* A user without write permission: NOPERM as a typed reply, no drop. */
    memset(&fx.ev, 0, sizeof fx.ev);
    fx.opt.user = "reader";
    fx.opt.password = "rpw";
    conn_up();
    k = CMD("XADD", "s", "*", "f", "v");
    cr_assert(k->has_value);
    cr_assert_eq(k->code, REDIS_E_NOPERM, "%s", k->msg);
    cr_assert(redis_ready(&fx.conn));
    k = CMD("XLEN", "s");
    cr_assert_eq(k->integer, 1);
    redis_conn_close(&fx.conn, on_closed, &fx.ev);
    run_until(&fx.ev.closed, 1);
    redis_conn_deinit(&fx.conn);

    /* The right user with a wrong password. */
    memset(&fx.ev, 0, sizeof fx.ev);
    fx.opt.user = "lw";
    fx.opt.password = "nope";
    expect_down(REDIS_E_WRONGPASS, "AUTH: WRONGPASS");
}

Test(redis_conn, select_db)
{
    server_start(&fx.server);
    fx.opt.db = 5;
    conn_up();
    struct call *k = CMD("HSET", "h", "f", "in db 5");
    cr_assert_eq(k->integer, 1, "%s", k->msg);
    cr_assert_str_eq(cli(&fx.server, "-n 5 HGET h f"), "in db 5");
    cr_assert_str_eq(cli(&fx.server, "-n 0 EXISTS h"), "0");
    redis_conn_close(&fx.conn, on_closed, &fx.ev);
    run_until(&fx.ev.closed, 1);
    redis_conn_deinit(&fx.conn);

    memset(&fx.ev, 0, sizeof fx.ev);
    fx.opt.db = 99;
    expect_down(REDIS_E_SERVER_ERR, "SELECT: ERR DB index is out of range (check the database number");
}

Test(redis_conn, connection_refused_retries_with_backoff)
{
    fx.server.port = free_port(); /* nothing listens there */
    fx.opt.backoff_min_ms = 40;
    fx.opt.backoff_max_ms = 160;
    char want[160];
    snprintf(want, sizeof want, "redis 127.0.0.1:%u: cannot connect: connect to 127.0.0.1:%u: connection refused",
             (unsigned)fx.server.port, (unsigned)fx.server.port);
    expect_down(LOOP_E_REFUSED, want);
    cr_assert_not(redis_error_is_permanent(LOOP_E_REFUSED));
    struct call k;
    call_init(&k);
    struct lw_err err;
    cr_assert_null(redis_begin(&fx.conn, &k.req, &err));
    cr_assert_eq(err.code, REDIS_E_NOT_READY);
    cr_assert_not_null(strstr(err.msg, "next attempt in"), "%s", err.msg);
    run_until(&fx.ev.down, 6);
    /* Delays: attempt n waits between half and all of min(160, 40 * 2^n). */
    for (int i = 1; i < 6; i++) {
        int64_t gap = fx.ev.down_at_ms[i] - fx.ev.down_at_ms[i - 1];
        int64_t cap = 40 << (i - 1);
        if (cap > 160) cap = 160;
        cr_assert_geq(gap, cap / 2 - 5, "gap %d: %lld ms, cap %lld", i, (long long)gap, (long long)cap);
    }
    /* The server appears: the next attempt succeeds. */
    server_start(&fx.server);
    run_until(&fx.ev.ready, 1);
    cr_assert_str_eq(CMD("PING")->text, "PONG");
}

/* XADD n: (index), data: a pattern of the index. */
static void xadd_fields(int i, char *n_text, char *data, struct resp_str fv[4])
{
    sprintf(n_text, "%d", i);
    sprintf(data, "{\"i\":%d,\"pad\":\"%0*d\"}", i, i % 50, 0);
    fv[0] = RESP_STR("n");
    fv[1] = resp_str_c(n_text);
    fv[2] = RESP_STR("data");
    fv[3] = resp_str_c(data);
}

enum { PIPELINE = 10000 };

struct read_check {
    int entries;
    int deleted;
    bool in_order;
    struct redis_id last;
    char err[LW_ERR_MSG_MAX];
};
static struct read_check rc;

static void check_read(struct call *k, const struct redis_reply *reply)
{
    (void)k;
    struct redis_xread x;
    struct lw_err err;
    if (!redis_parse_xread(reply, &x, &err)) {
        snprintf(rc.err, sizeof rc.err, "%s", err.msg);
        return;
    }
    for (size_t i = 0; i < x.stream_count; i++) {
        struct resp_str name;
        struct redis_entries es;
        redis_xread_stream(&x, i, &name, &es);
        cr_assert(resp_str_eq(name, "events"));
        for (size_t j = 0; j < es.count; j++) {
            struct redis_entry e;
            redis_entries_at(&es, j, &e);
            if (e.deleted) {
                rc.deleted++;
                rc.entries++;
                continue;
            }
            char n_text[16], data[128];
            struct resp_str fv[4], v;
            xadd_fields(rc.entries, n_text, data, fv);
            cr_assert(redis_entry_get(&e, "n", &v) && resp_str_eq(v, n_text), "entry %d", rc.entries);
            cr_assert(redis_entry_get(&e, "data", &v) && resp_str_eq(v, data), "entry %d", rc.entries);
            if (rc.entries > 0 && redis_id_compare(rc.last, e.id) >= 0) rc.in_order = false;
            rc.last = e.id;
            rc.entries++;
        }
    }
}

Test(redis_conn, pipeline_10000_xadd_then_read_them_back)
{
    server_start(&fx.server);
    conn_up();
    struct call *k = CMD("XGROUP", "CREATE", "events", "g", "0", "MKSTREAM");
    cr_assert_str_eq(k->text, "OK");

    static struct call adds[PIPELINE];
    static char n_text[PIPELINE][16], data[PIPELINE][128];
    struct lw_err err;
    order_next = 0;
    for (int i = 0; i < PIPELINE; i++) {
        call_init(&adds[i]);
        struct resp_str fv[4];
        xadd_fields(i, n_text[i], data[i], fv);
        cr_assert(redis_xadd(&fx.conn, &adds[i].req, RESP_STR("events"), 2, fv, &err), "%d: %s", i, err.msg);
    }
    cr_assert_eq(redis_inflight(&fx.conn), PIPELINE, "all in flight at once");
    run_until(&adds[PIPELINE - 1].calls, 1);
    struct redis_id prev = { 0, 0 };
    for (int i = 0; i < PIPELINE; i++) {
        cr_assert_eq(adds[i].calls, 1);
        cr_assert_eq(adds[i].order, i + 1, "replies matched in order");
        struct redis_id id;
        cr_assert(redis_id_parse(resp_str_c(adds[i].text), false, &id), "%d: '%s' %s", i, adds[i].text, adds[i].msg);
        cr_assert_gt(redis_id_compare(id, prev), 0);
        prev = id;
    }
    cr_assert_str_eq(cli(&fx.server, "XLEN events"), "10000");

    /* Read them back through the group in one reply. */
    struct call rd;
    call_init(&rd);
    rd.check = check_read;
    memset(&rc, 0, sizeof rc);
    rc.in_order = true;
    struct resp_str streams[] = { RESP_STR("events") }, ids[] = { RESP_STR(">") };
    struct redis_xreadgroup_args a = { .group = RESP_STR("g"), .consumer = RESP_STR("c1"), .count = 20000,
                                       .block_ms = 1000, .stream_count = 1, .streams = streams, .ids = ids };
    cr_assert(redis_xreadgroup(&fx.conn, &rd.req, &a, &err), "%s", err.msg);
    run_until(&rd.calls, 1);
    cr_assert_str_eq(rc.err, "");
    cr_assert_eq(rc.entries, PIPELINE);
    cr_assert_eq(rc.deleted, 0);
    cr_assert(rc.in_order);
    cr_assert_str_eq(cli(&fx.server, "XPENDING events g"), "10000");

    /* Commit: ack all of them and drop an intent, in one MULTI/EXEC. */
    cr_assert_str_eq(cli(&fx.server, "HSET lw:g:inflight c1 intent"), "1");
    static struct redis_id all[PIPELINE];
    for (int i = 0; i < PIPELINE; i++) cr_assert(redis_id_parse(resp_str_c(adds[i].text), false, &all[i]));
    struct call tx;
    call_init(&tx);
    struct resp_buf *b = redis_begin_multi(&fx.conn, &tx.req, &err);
    cr_assert_not_null(b, "%s", err.msg);
    redis_cmd_xack(b, RESP_STR("events"), RESP_STR("g"), PIPELINE, all);
    redis_cmd_hdel(b, RESP_STR("lw:g:inflight"), 1, (struct resp_str[]){ RESP_STR("c1") });
    cr_assert(redis_submit_exec(&fx.conn, &tx.req, &err), "%s", err.msg);
    run_until(&tx.calls, 1);
    cr_assert_eq(tx.code, 0, "%s", tx.msg);
    cr_assert_str_eq(cli(&fx.server, "XPENDING events g"), "0");
    cr_assert_str_eq(cli(&fx.server, "EXISTS lw:g:inflight"), "0");
    cr_assert_eq(redis_inflight(&fx.conn), 0);
    cr_assert_eq(redis_send_queued(&fx.conn), 0);
}

static struct redis_exec exec_seen;
static int64_t exec_ints[4];

static void check_exec(struct call *k, const struct redis_reply *reply)
{
    (void)k;
    struct lw_err err;
    cr_assert(redis_parse_exec(reply, &exec_seen, &err), "%s", err.msg);
    for (size_t i = 0; i < exec_seen.count && i < 4; i++) {
        char name[48];
        struct redis_reply item;
        redis_exec_item(&exec_seen, i, NULL, name, sizeof name, &item);
        exec_ints[i] = -1;
        int64_t n;
        if (redis_parse_integer(&item, &n, &err)) exec_ints[i] = n;
    }
}

Test(redis_conn, transactions)
{
    server_start(&fx.server);
    conn_up();
    struct lw_err err;
    struct call tx;
    call_init(&tx);
    tx.check = check_exec;
    struct resp_buf *b = redis_begin_multi(&fx.conn, &tx.req, &err);
    cr_assert_not_null(b);
    struct resp_str fv[] = { RESP_STR("a"), RESP_STR("1"), RESP_STR("b"), RESP_STR("2") };
    redis_cmd_hset(b, RESP_STR("h"), 2, fv);
    redis_cmd_hdel(b, RESP_STR("h"), 1, fv);
    cr_assert(redis_submit_exec(&fx.conn, &tx.req, &err), "%s", err.msg);
    run_until(&tx.calls, 1);
    cr_assert_eq(tx.code, 0, "%s", tx.msg);
    cr_assert_eq(exec_seen.count, 2);
    cr_assert_eq(exec_ints[0], 2);
    cr_assert_eq(exec_ints[1], 1);

    /* A command refused while queueing (wrong arity): EXECABORT naming it. */
    call_init(&tx);
    b = redis_begin_multi(&fx.conn, &tx.req, &err);
    resp_cmd_argv(b, 2, (struct resp_str[]){ RESP_STR("HSET"), RESP_STR("h") });
    redis_cmd_hdel(b, RESP_STR("h"), 1, fv);
    cr_assert(redis_submit_exec(&fx.conn, &tx.req, &err), "%s", err.msg);
    run_until(&tx.calls, 1);
    cr_assert_eq(tx.code, REDIS_E_EXECABORT, "%s", tx.msg);
    cr_assert_not_null(strstr(tx.msg, "MULTI/EXEC: EXECABORT Transaction discarded"), "%s", tx.msg);
    cr_assert_not_null(strstr(tx.msg, "(queued command 1: ERR wrong number of arguments for 'hset' command)"), "%s",
                       tx.msg);
    cr_assert_str_eq(cli(&fx.server, "HGET h b"), "2", "nothing ran");
    cr_assert(redis_ready(&fx.conn));
    cr_assert_str_eq(CMD("PING")->text, "PONG", "still in step");
}

static bool group_created, group_parsed;

static void check_group(struct call *k, const struct redis_reply *reply)
{
    (void)k;
    struct lw_err err;
    group_parsed = redis_parse_xgroup_create(reply, &group_created, &err);
}

Test(redis_conn, nogroup_after_flushall_and_busygroup)
{
    server_start(&fx.server);
    conn_up();
    struct lw_err err;
    struct call k;
    call_init(&k);
    cr_assert(redis_xgroup_create(&fx.conn, &k.req, RESP_STR("s"), RESP_STR("g"), RESP_STR("$"), &err));
    run_until(&k.calls, 1);
    cr_assert_str_eq(k.text, "OK");

    /* BUSYGROUP: an error reply that the typed parser counts as success. */
    struct call again;
    call_init(&again);
    again.check = check_group;
    group_created = true;
    cr_assert(redis_xgroup_create(&fx.conn, &again.req, RESP_STR("s"), RESP_STR("g"), RESP_STR("$"), &err));
    run_until(&again.calls, 1);
    cr_assert_eq(again.code, REDIS_E_BUSYGROUP, "%s", again.msg);
    cr_assert(group_parsed);
    cr_assert_not(group_created, "it existed");

    cr_assert_str_eq(cli(&fx.server, "FLUSHALL"), "OK");
    struct call rd;
    call_init(&rd);
    struct resp_str streams[] = { RESP_STR("s") }, ids[] = { RESP_STR(">") };
    struct redis_xreadgroup_args a = { .group = RESP_STR("g"), .consumer = RESP_STR("c"), .count = 10,
                                       .block_ms = 100, .stream_count = 1, .streams = streams, .ids = ids };
    cr_assert(redis_xreadgroup(&fx.conn, &rd.req, &a, &err));
    run_until(&rd.calls, 1);
    cr_assert(rd.has_value);
    cr_assert_eq(rd.code, REDIS_E_NOGROUP, "%s", rd.msg);
    char want[160];
    snprintf(want, sizeof want, "redis 127.0.0.1:%u: XREADGROUP: NOGROUP No such key 's' or consumer group 'g'",
             (unsigned)fx.server.port);
    cr_assert_not_null(strstr(rd.msg, want), "%s", rd.msg);
    cr_assert(redis_ready(&fx.conn), "a server error does not drop the connection");
    cr_assert_eq(fx.ev.down, 0);

    /* The recovery: create again (MKSTREAM), read again. */
    call_init(&k);
    cr_assert(redis_xgroup_create(&fx.conn, &k.req, RESP_STR("s"), RESP_STR("g"), RESP_STR("0"), &err));
    run_until(&k.calls, 1);
    cr_assert_str_eq(k.text, "OK");
    call_init(&rd);
    cr_assert(redis_xreadgroup(&fx.conn, &rd.req, &a, &err));
    run_until(&rd.calls, 1);
    cr_assert_eq(rd.code, 0, "%s", rd.msg);
}

struct claim_check {
    bool parsed;
    size_t entries, nil_entries, deleted;
    bool listed, complete;
    char deleted_ids[3][32];
    char err[LW_ERR_MSG_MAX];
};
static struct claim_check cc;

static void check_claim(struct call *k, const struct redis_reply *reply)
{
    (void)k;
    struct redis_xautoclaim x;
    struct lw_err err;
    if (!redis_parse_xautoclaim(reply, false, &x, &err)) {
        snprintf(cc.err, sizeof cc.err, "%s", err.msg);
        return;
    }
    cc.parsed = true;
    cc.entries = x.entries.count;
    cc.listed = x.deleted_listed;
    cc.complete = x.complete;
    cc.deleted = x.deleted_count;
    for (size_t i = 0; i < x.deleted_count && i < 3; i++) {
        struct resp_str t;
        struct redis_id id;
        redis_xautoclaim_deleted(&x, i, &t, &id);
        snprintf(cc.deleted_ids[i], sizeof cc.deleted_ids[i], "%.*s", (int)t.len, t.ptr);
    }
}

static struct {
    size_t count;
    char consumer[32];
    uint64_t deliveries;
} pending_rows;

static void check_pending_rows(struct call *k, const struct redis_reply *reply)
{
    (void)k;
    struct redis_pending_list l;
    struct lw_err err;
    if (!redis_parse_xpending_range(reply, &l, &err)) return;
    pending_rows.count = l.count;
    for (size_t i = 0; i < l.count; i++) {
        struct redis_pending_entry e;
        redis_pending_at(&l, i, &e);
        snprintf(pending_rows.consumer, sizeof pending_rows.consumer, "%.*s", (int)e.consumer.len, e.consumer.ptr);
        pending_rows.deliveries = e.deliveries;
    }
}

Test(redis_conn, trimmed_pending_entries_come_back_nil)
{
    server_start(&fx.server);
    conn_up();
    struct lw_err err;
    cr_assert_str_eq(CMD("XGROUP", "CREATE", "events", "g", "0", "MKSTREAM")->text, "OK");
    for (int i = 0; i < 5; i++) {
        char n_text[16], data[128], id[32];
        struct resp_str fv[4];
        xadd_fields(i, n_text, data, fv);
        snprintf(id, sizeof id, "%d-0", i + 1);
        cr_assert_str_eq(CMD("XADD", "events", id, "n", n_text, "data", data)->text, id);
    }
    struct resp_str streams[] = { RESP_STR("events") }, ids[] = { RESP_STR(">") };
    struct redis_xreadgroup_args a = { .group = RESP_STR("g"), .consumer = RESP_STR("c1"), .count = 100,
                                       .block_ms = 100, .stream_count = 1, .streams = streams, .ids = ids };
    struct call rd;
    call_init(&rd);
    rd.check = check_read;
    memset(&rc, 0, sizeof rc);
    cr_assert(redis_xreadgroup(&fx.conn, &rd.req, &a, &err));
    run_until(&rd.calls, 1);
    cr_assert_eq(rc.entries, 5, "%s", rc.err);

    /* Trim the first two and delete the fourth while they are pending. */
    cr_assert_str_eq(cli(&fx.server, "XTRIM events MINID 3-0"), "2");
    cr_assert_str_eq(cli(&fx.server, "XDEL events 4-0"), "1");

    /* Our own pending entries (ID 0): the gone ones have nil fields. */
    ids[0] = RESP_STR("0");
    call_init(&rd);
    rd.check = check_read;
    memset(&rc, 0, sizeof rc);
    cr_assert(redis_xreadgroup(&fx.conn, &rd.req, &a, &err));
    run_until(&rd.calls, 1);
    cr_assert_str_eq(rc.err, "");
    cr_assert_eq(rc.entries, 5);
    cr_assert_eq(rc.deleted, 3, "1-0, 2-0 and 4-0 are gone");

    /* Another consumer claims them: Redis 7.0 drops the gone ones from the pending
     * list and lists them as the third element. */
    struct call cl;
    call_init(&cl);
    cl.check = check_claim;
    memset(&cc, 0, sizeof cc);
    cr_assert(redis_xautoclaim(&fx.conn, &cl.req, RESP_STR("events"), RESP_STR("g"), RESP_STR("c2"), 0,
                               RESP_STR("0-0"), 100, false, &err));
    run_until(&cl.calls, 1);
    cr_assert(cc.parsed, "%s", cc.err);
    cr_assert(cc.listed, "Redis 7.0: 3 elements");
    cr_assert(cc.complete);
    cr_assert_eq(cc.entries, 2, "3-0 and 5-0");
    cr_assert_eq(cc.deleted, 3);
    cr_assert_str_eq(cc.deleted_ids[0], "1-0");
    cr_assert_str_eq(cc.deleted_ids[1], "2-0");
    cr_assert_str_eq(cc.deleted_ids[2], "4-0");

    /* Delivered three times (read by c1, re-read from its pending list, claimed by
     * c2): the extended XPENDING says so. */
    struct call pr;
    call_init(&pr);
    pr.check = check_pending_rows;
    memset(&pending_rows, 0, sizeof pending_rows);
    cr_assert(redis_xpending_range(&fx.conn, &pr.req, RESP_STR("events"), RESP_STR("g"), 0, RESP_STR("-"),
                                   RESP_STR("+"), 100, RESP_STR(""), &err));
    run_until(&pr.calls, 1);
    cr_assert_eq(pending_rows.count, 2, "%s", pr.msg);
    cr_assert_str_eq(pending_rows.consumer, "c2");
    cr_assert_eq(pending_rows.deliveries, 3, "read, read again from the pending list, claimed: %llu",
                 (unsigned long long)pending_rows.deliveries);

    /* XACK the two claimed ones; the pending list is empty. */
    struct call ack;
    call_init(&ack);
    struct redis_id acks[] = { { 3, 0 }, { 5, 0 }, { 99, 0 } };
    cr_assert(redis_xack(&fx.conn, &ack.req, RESP_STR("events"), RESP_STR("g"), 3, acks, &err));
    run_until(&ack.calls, 1);
    cr_assert_eq(ack.integer, 2, "99-0 was never pending");
    struct call pend;
    call_init(&pend);
    cr_assert(redis_xpending(&fx.conn, &pend.req, RESP_STR("events"), RESP_STR("g"), &err));
    run_until(&pend.calls, 1);
    cr_assert_str_eq(cli(&fx.server, "XPENDING events g"), "0");
}

/* Fails every request: counts them and checks they fail the same way. */
struct flood {
    int done, failed, ok;
    int codes[8];
};

static void flood_fn(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply)
{
    (void)c;
    struct flood *f = req->context;
    f->done++;
    if (reply->value == NULL) {
        f->failed++;
        if (reply->err.code == REDIS_E_DISCONNECTED) f->codes[0]++;
        else if (reply->err.code == LOOP_E_TIMED_OUT) f->codes[1]++;
        else f->codes[2]++;
    } else {
        f->ok++;
    }
    /* Trying again from inside the failure is refused, not queued. */
    struct lw_err err;
    if (reply->value == NULL) cr_assert_null(redis_begin(c, req, &err));
}

Test(redis_conn, server_killed_mid_pipeline_then_restarted)
{
    server_start(&fx.server);
    conn_up();
    enum { N = 200 };
    static struct redis_request reqs[N];
    static struct flood f;
    memset(&f, 0, sizeof f);
    struct lw_err err;
    /* The server sleeps on the first; the rest wait behind it. */
    for (int i = 0; i < N; i++) {
        redis_request_init(&reqs[i], flood_fn, &f);
        if (i == 0) {
            struct resp_str a[] = { RESP_STR("DEBUG"), RESP_STR("SLEEP"), RESP_STR("5") };
            cr_assert(redis_command(&fx.conn, &reqs[i], 3, a, &err), "%s", err.msg);
        } else {
            cr_assert(redis_ping(&fx.conn, &reqs[i], &err), "%s", err.msg);
        }
    }
    run_for(200);
    cr_assert_eq(f.done, 0);
    server_kill(&fx.server);
    run_until(&fx.ev.down, 1);
    cr_assert_eq(f.done, N, "every request called back");
    cr_assert_eq(f.codes[0], N, "all with REDIS_E_DISCONNECTED");
    cr_assert(fx.ev.last_code == LOOP_E_CLOSED || fx.ev.last_code == LOOP_E_RESET, "%s", fx.ev.last_msg);
    cr_assert_not_null(strstr(fx.ev.last_msg, "connection lost"), "%s", fx.ev.last_msg);
    cr_assert_eq(redis_inflight(&fx.conn), 0);

    /* While it is down: attempts fail (refused), with growing gaps. */
    run_until(&fx.ev.down, 3);
    cr_assert_eq(fx.ev.last_code, LOOP_E_REFUSED, "%s", fx.ev.last_msg);
    server_start(&fx.server); /* same port */
    run_until(&fx.ev.ready, 2);
    cr_assert_str_eq(CMD("PING")->text, "PONG");
    cr_assert_eq(redis_stats(&fx.conn)->connects, 2);
}

Test(redis_conn, client_kill_fails_the_blocked_read_and_reconnects)
{
    server_start(&fx.server);
    fx.opt.db = 2;
    conn_up();
    cr_assert_str_eq(CMD("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")->text, "OK");
    struct lw_err err;
    struct call rd;
    call_init(&rd);
    struct resp_str streams[] = { RESP_STR("s") }, ids[] = { RESP_STR(">") };
    struct redis_xreadgroup_args a = { .group = RESP_STR("g"), .consumer = RESP_STR("c"), .count = 10,
                                       .block_ms = 10000, .stream_count = 1, .streams = streams, .ids = ids };
    cr_assert(redis_xreadgroup(&fx.conn, &rd.req, &a, &err));
    run_for(200);
    cr_assert_eq(rd.calls, 0, "blocked");
    cr_assert_str_eq(cli(&fx.server, "CLIENT KILL TYPE normal"), "1");
    run_until(&rd.calls, 1);
    cr_assert_not(rd.has_value);
    cr_assert_eq(rd.code, REDIS_E_DISCONNECTED, "%s", rd.msg);
    char want[200];
    snprintf(want, sizeof want, "redis 127.0.0.1:%u: XREADGROUP: no reply: connection lost: ", (unsigned)fx.server.port);
    cr_assert_not_null(strstr(rd.msg, want), "%s", rd.msg);
    run_until(&fx.ev.ready, 2);
    /* Reconnected with the same settings: db 2 again. */
    call_init(&rd);
    cr_assert(redis_xadd(&fx.conn, &rd.req, RESP_STR("s"), 1, (struct resp_str[]){ RESP_STR("k"), RESP_STR("v") },
                         &err));
    run_until(&rd.calls, 1);
    cr_assert_eq(rd.code, 0, "%s", rd.msg);
    cr_assert_str_eq(cli(&fx.server, "-n 2 XLEN s"), "1");
}

Test(redis_conn, a_command_past_its_deadline_drops_the_connection)
{
    server_start(&fx.server);
    conn_up();
    static struct flood f;
    memset(&f, 0, sizeof f);
    struct call slow;
    call_init(&slow);
    slow.req.timeout_ms = 300;
    struct lw_err err;
    struct resp_str a[] = { RESP_STR("DEBUG"), RESP_STR("SLEEP"), RESP_STR("2") };
    cr_assert(redis_command(&fx.conn, &slow.req, 3, a, &err));
    static struct redis_request behind[3];
    for (int i = 0; i < 3; i++) {
        redis_request_init(&behind[i], flood_fn, &f);
        cr_assert(redis_ping(&fx.conn, &behind[i], &err));
    }
    int64_t t0 = test_ms();
    run_until(&slow.calls, 1);
    int64_t waited = test_ms() - t0;
    cr_assert_eq(slow.code, LOOP_E_TIMED_OUT, "%s", slow.msg);
    cr_assert_geq(waited, 250);
    cr_assert_lt(waited, 1900, "not the whole sleep");
    cr_assert_not_null(strstr(slow.msg, "DEBUG: no reply within 300 ms"), "%s", slow.msg);
    run_until(&f.done, 3);
    cr_assert_eq(f.codes[0], 3, "the ones behind it: disconnected");
    cr_assert_eq(fx.ev.last_code, LOOP_E_TIMED_OUT);
    run_until(&fx.ev.ready, 2);
    cr_assert_str_eq(CMD("PING")->text, "PONG");
}

Test(redis_conn, xreadgroup_block_extends_the_deadline)
{
    server_start(&fx.server);
    fx.opt.command_timeout_ms = 300;
    conn_up();
    cr_assert_str_eq(CMD("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")->text, "OK");
    struct lw_err err;
    struct call rd;
    call_init(&rd);
    struct resp_str streams[] = { RESP_STR("s") }, ids[] = { RESP_STR(">") };
    struct redis_xreadgroup_args a = { .group = RESP_STR("g"), .consumer = RESP_STR("c"), .count = 10,
                                       .block_ms = 800, .stream_count = 1, .streams = streams, .ids = ids };
    cr_assert(redis_xreadgroup(&fx.conn, &rd.req, &a, &err));
    run_until(&rd.calls, 1);
    cr_assert(rd.has_value, "%s", rd.msg);
    cr_assert_eq(rd.code, 0, "%s", rd.msg);
    cr_assert_eq(fx.ev.down, 0, "800 ms of BLOCK within a 300 ms command timeout");
}

Test(redis_conn, a_reply_beyond_the_limits_drops_the_connection)
{
    server_start(&fx.server);
    fx.opt.limits.reply_bytes_max = 64 * 1024;
    fx.opt.limits.elements_max = 1000;
    conn_up();
    cr_assert_str_eq(cli(&fx.server, "DEBUG POPULATE 1 big 100000"), "OK");
    struct call *k = CMD("GET", "big:0");
    cr_assert_not(k->has_value);
    cr_assert_eq(k->code, REDIS_E_DISCONNECTED, "%s", k->msg);
    cr_assert_not_null(strstr(k->msg, "GET: no reply: a bulk string of 100000 bytes"), "%s", k->msg);
    cr_assert_eq(fx.ev.last_code, RESP_E_LIMIT);
    run_until(&fx.ev.ready, 2);
    k = CMD("STRLEN", "big:0");
    cr_assert_eq(k->integer, 100000);
}

Test(redis_conn, busy_and_too_large)
{
    server_start(&fx.server);
    fx.opt.send_buf_bytes_max = 4096;
    fx.opt.inflight_max = 3;
    conn_up();
    struct lw_err err;
    static char big[5000];
    memset(big, 'x', sizeof big);
    struct call k[4];
    for (int i = 0; i < 4; i++) call_init(&k[i]);
    struct resp_str a[] = { RESP_STR("SET"), RESP_STR("k"), { big, sizeof big } };
    cr_assert_not(redis_command(&fx.conn, &k[0].req, 3, a, &err));
    cr_assert_eq(err.code, REDIS_E_TOO_LARGE, "%s", err.msg);
    cr_assert_eq(redis_send_queued(&fx.conn), 0, "rolled back");
    for (int i = 0; i < 3; i++) cr_assert(redis_ping(&fx.conn, &k[i].req, &err), "%s", err.msg);
    cr_assert_not(redis_ping(&fx.conn, &k[3].req, &err));
    cr_assert_eq(err.code, REDIS_E_BUSY, "%s", err.msg);
    run_until(&k[2].calls, 1);
    cr_assert(redis_ping(&fx.conn, &k[3].req, &err), "room again: %s", err.msg);
    run_until(&k[3].calls, 1);
    cr_assert_str_eq(k[3].text, "PONG");
}

/* ------------------------------------------------------------------------- */
/* rediss:// */

static const char *certs_dir(void)
{
    /* The same PKI as test_tls.c (made by tests/tls/make_certs.sh, shared, locked). */
    static char dir[256];
    if (dir[0] != '\0') return dir;
    FILE *f = fopen("tests/tls/make_certs.sh", "rb");
    cr_assert_not_null(f);
    uint64_t h = 1469598103934665603ull;
    int ch;
    while ((ch = fgetc(f)) != EOF) h = (h ^ (uint8_t)ch) * 1099511628211ull;
    fclose(f);
    mkdir("tmp", 0755);
    mkdir("tmp/tls-test", 0755);
    snprintf(dir, sizeof dir, "tmp/tls-test/certs-%016llx", (unsigned long long)h);
    int lock = open("tmp/tls-test/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    cr_assert(lock >= 0);
    cr_assert_eq(flock(lock, LOCK_EX), 0);
    char done[300];
    snprintf(done, sizeof done, "%s/done", dir);
    if (access(done, F_OK) != 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.tmp' && sh tests/tls/make_certs.sh '%s.tmp' && mv '%s.tmp' '%s'",
                 dir, dir, dir, dir, dir);
        cr_assert_eq(system(cmd), 0, "tests/tls/make_certs.sh failed");
    }
    flock(lock, LOCK_UN);
    close(lock);
    return dir;
}

static void tls_server_start(void)
{
    /* Absolute: redis-server changes into its --dir before it reads them. */
    static char dir[PATH_MAX], cert[PATH_MAX + 32], key[PATH_MAX + 32], ca[PATH_MAX + 32];
    cr_assert_not_null(realpath(certs_dir(), dir));
    snprintf(cert, sizeof cert, "%s/leaf-rsa.pem", dir);
    snprintf(key, sizeof key, "%s/leaf-rsa.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    fx.server.tls = true;
    const char *extra[] = { "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca,
                            "--tls-auth-clients", "no", "--requirepass", "tls pw" };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) fx.server.extra[fx.server.extra_count++] = extra[i];
    server_start(&fx.server);
}

Test(redis_conn, rediss_with_a_test_ca)
{
    tls_server_start();
    char bundle[320];
    snprintf(bundle, sizeof bundle, "%s/bundle.pem", certs_dir());
    fx.opt.host = "localhost";
    fx.opt.tls = true;
    fx.opt.ca_file = bundle; /* loaded by the connection itself */
    fx.opt.password = "tls pw";
    conn_up();
    cr_assert_str_eq(CMD("PING")->text, "PONG");
    struct call *k = CMD("XADD", "s", "*", "f", "over tls");
    cr_assert_eq(k->code, 0, "%s", k->msg);
    /* A killed TLS connection reconnects (resuming the TLS session). */
    k = CMD("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no");
    run_until(&fx.ev.ready, 2);
    cr_assert(tls_resumed(&fx.conn.transport.u.tls), "session resumed on reconnect");
    k = CMD("XLEN", "s");
    cr_assert_eq(k->integer, 1);
}

Test(redis_conn, rediss_with_an_untrusted_certificate)
{
    tls_server_start();
    char other[320];
    snprintf(other, sizeof other, "%s/other-ca.pem", certs_dir());
    struct lw_err err;
    cr_assert(tls_anchors_load_file(&fx.anchors, other, &err), "%s", err.msg);
    fx.anchors_loaded = true;
    fx.opt.host = "localhost";
    fx.opt.tls = true;
    fx.opt.anchors = &fx.anchors;
    expect_down(TLS_E_UNTRUSTED, "cannot connect: TLS handshake with localhost:");
    cr_assert(redis_error_is_permanent(fx.ev.last_code));
}

/* ------------------------------------------------------------------------- */
/* A fake server: bytes that are not RESP, replies nobody asked for */

struct fake {
    pid_t pid;
    uint16_t port;
};

/* Accepts connections; on each, waits for a command, writes `reply`, stays open. */
static struct fake fake_start(const char *reply)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c < 0) _exit(0);
            char buf[4096];
            if (read(c, buf, sizeof buf) <= 0) continue;
            if (write(c, reply, strlen(reply)) < 0) _exit(1);
            /* stays open until the client closes it */
        }
    }
    close(fd);
    return (struct fake){ .pid = pid, .port = ntohs(a.sin_port) };
}

static void fake_stop(struct fake *f)
{
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
}

Test(redis_conn, a_server_that_does_not_speak_resp)
{
    struct fake f = fake_start("HTTP/1.1 400 Bad Request\r\n\r\n");
    fx.server.port = f.port;
    expect_down(RESP_E_PROTOCOL, "not a RESP reply: Protocol error, got \"H\" as reply type byte");
    fake_stop(&f);
}

Test(redis_conn, a_reply_to_no_command)
{
    struct fake f = fake_start("+PONG\r\n+EXTRA\r\n");
    fx.server.port = f.port;
    struct lw_err err;
    fx.opt.port = f.port;
    cr_assert(redis_conn_init(&fx.conn, &fx.loop, &fx.opt, &err), "%s", err.msg);
    redis_conn_start(&fx.conn);
    run_until(&fx.ev.down, 1);
    cr_assert_eq(fx.ev.ready, 1, "PONG made it ready");
    cr_assert_eq(fx.ev.last_code, RESP_E_PROTOCOL);
    cr_assert_not_null(strstr(fx.ev.last_msg, "a reply (status) to no command"), "%s", fx.ev.last_msg);
    fake_stop(&f);
}

Test(redis_conn, a_silent_server_times_the_handshake_out)
{
    struct fake f = fake_start("");
    fx.server.port = f.port;
    fx.opt.connect_timeout_ms = 300;
    expect_down(LOOP_E_TIMED_OUT, "PING got no reply within 300 ms: connection dropped");
    fake_stop(&f);
}

Test(redis_conn, close_while_handshaking_and_while_backing_off)
{
    struct fake f = fake_start("");
    struct lw_err err;
    fx.opt.port = f.port;
    cr_assert(redis_conn_init(&fx.conn, &fx.loop, &fx.opt, &err), "%s", err.msg);
    redis_conn_start(&fx.conn);
    int64_t end = test_ms() + RUN_BOUND_MS;
    while (redis_state(&fx.conn) != REDIS_HANDSHAKE) {
        cr_assert(test_ms() < end);
        loop_run_once(&fx.loop, 10);
    }
    redis_conn_close(&fx.conn, on_closed, &fx.ev);
    run_until(&fx.ev.closed, 1);
    cr_assert_eq(fx.ev.ready + fx.ev.down, 0, "no event after close");
    cr_assert_eq(redis_state(&fx.conn), REDIS_IDLE);
    redis_conn_deinit(&fx.conn);
    fake_stop(&f);

    /* Nothing listens: close during the backoff wait. */
    memset(&fx.ev, 0, sizeof fx.ev);
    fx.opt.port = free_port();
    fx.opt.backoff_min_ms = 5000;
    fx.opt.backoff_max_ms = 5000;
    cr_assert(redis_conn_init(&fx.conn, &fx.loop, &fx.opt, &err), "%s", err.msg);
    redis_conn_start(&fx.conn);
    run_until(&fx.ev.down, 1);
    while (redis_state(&fx.conn) != REDIS_BACKOFF) loop_run_once(&fx.loop, 10);
    cr_assert_geq(redis_retry_in_ms(&fx.conn), 2000);
    int64_t t0 = test_ms();
    redis_conn_close(&fx.conn, on_closed, &fx.ev);
    run_until(&fx.ev.closed, 1);
    cr_assert_lt(test_ms() - t0, 1000, "the backoff timer was stopped");
    cr_assert_eq(fx.ev.down, 1);
}
