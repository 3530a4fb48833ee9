/* pg: the connection over the loop against a scripted server (a child process on a
 * loopback port 0): a login, queries collected and a server error in between, a COPY
 * delivered in order through pause/resume, a COPY cancelled by pg_close, the server
 * going away; and operations refused without a connection, from the loop. The real
 * server is in tests/integration/test_pg*.py. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "pg.h"

enum { RUN_BOUND_MS = 20000, COPY_MESSAGES = 3000, COPY_MESSAGE_BYTES = 97 };

static int64_t test_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------- */
/* The scripted server (child process: plain blocking sockets, exit codes) */

struct wbuf {
    uint8_t *d;
    size_t n, cap;
};

static void w_put(struct wbuf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void w_msg(struct wbuf *b, char type, const void *body, size_t n)
{
    uint8_t h[5] = { (uint8_t)type, (uint8_t)((n + 4) >> 24), (uint8_t)((n + 4) >> 16), (uint8_t)((n + 4) >> 8),
                     (uint8_t)(n + 4) };
    w_put(b, h, 5);
    if (n > 0) w_put(b, body, n);
}

static void w_login(struct wbuf *b)
{
    w_msg(b, 'R', "\0\0\0\0", 4);
    w_msg(b, 'S', "client_encoding\0UTF8", 21);
    w_msg(b, 'S', "server_version\0" "16.0 scripted", 29);
    w_msg(b, 'K', "\0\0\0\x07\0\0\0\x08", 8);
    w_msg(b, 'Z', "I", 1);
}

static bool read_full(int fd, void *p, size_t n)
{
    uint8_t *q = p;
    while (n > 0) {
        ssize_t k = read(fd, q, n);
        if (k <= 0) return false;
        q += k;
        n -= (size_t)k;
    }
    return true;
}

static bool write_full(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t k = send(fd, q, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        q += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads one frontend message (type + length + body); returns its type or 0 at EOF. */
static char read_frontend(int fd)
{
    uint8_t h[5];
    if (!read_full(fd, h, 5)) return 0;
    uint32_t len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
    if (len < 4 || len > 1 << 20) _exit(3);
    uint8_t *body = malloc(len);
    bool ok = read_full(fd, body, len - 4);
    free(body);
    return ok ? (char)h[0] : 0;
}

enum scenario { S_QUERIES, S_COPY, S_ENDLESS_COPY, S_HANG_UP };

static void serve(int fd, enum scenario sc)
{
    uint8_t len[4];
    if (!read_full(fd, len, 4)) _exit(2);
    uint32_t n = (uint32_t)len[0] << 24 | (uint32_t)len[1] << 16 | (uint32_t)len[2] << 8 | len[3];
    uint8_t startup[1024];
    if (n < 8 || n > sizeof startup || !read_full(fd, startup, n - 4)) _exit(2);
    struct wbuf b = { 0 };
    w_login(&b);
    if (!write_full(fd, b.d, b.n)) _exit(4);
    b.n = 0;
    if (sc == S_HANG_UP) {
        if (read_frontend(fd) != 'Q') _exit(5);
        w_msg(&b, 'T', "\0\x01" "a\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0", 22);
        write_full(fd, b.d, b.n);
        free(b.d);
        return;   /* and close in the middle of the result */
    }
    if (sc == S_QUERIES) {
        static const char *const bodies[] = { "1", "two" };
        for (int q = 0; q < 3; q++) {
            if (read_frontend(fd) != 'Q') _exit(5);
            b.n = 0;
            if (q == 1) {
                static const char e[] = "SERROR\0VERROR\0C42P01\0Mrelation \"nope\" does not exist\0P15\0";
                w_msg(&b, 'E', e, sizeof e);
            } else {
                w_msg(&b, 'T', "\0\x02" "id\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0"
                               "name\0\0\0\0\0\0\0\0\0\0\x19\xff\xff\0\0\0\x18\0\0", 46);
                for (int r = 0; r < 2; r++) {
                    uint8_t row[64];
                    size_t k = 0;
                    row[k++] = 0;
                    row[k++] = 2;
                    row[k++] = 0, row[k++] = 0, row[k++] = 0, row[k++] = 1;
                    row[k++] = (uint8_t)('1' + r);
                    if (r == 1 && q == 2) {
                        memcpy(row + k, "\xff\xff\xff\xff", 4);
                        k += 4;
                    } else {
                        size_t l = strlen(bodies[r]);
                        row[k++] = 0, row[k++] = 0, row[k++] = 0, row[k++] = (uint8_t)l;
                        memcpy(row + k, bodies[r], l);
                        k += l;
                    }
                    w_msg(&b, 'D', row, k);
                }
                w_msg(&b, 'C', "SELECT 2", 9);
            }
            w_msg(&b, 'Z', q == 1 ? "E" : "I", 1);
            if (!write_full(fd, b.d, b.n)) _exit(4);
        }
    } else {
        if (read_frontend(fd) != 'Q') _exit(5);
        b.n = 0;
        w_msg(&b, 'H', "\x01\0\x01\0\x01", 5);
        uint8_t data[COPY_MESSAGE_BYTES];
        for (uint32_t i = 0; sc == S_ENDLESS_COPY || i < COPY_MESSAGES; i++) {
            for (size_t j = 0; j < sizeof data; j++) data[j] = (uint8_t)(i * 31 + j);
            w_msg(&b, 'd', data, sizeof data);
            if (b.n > 8192 || (sc == S_COPY && i + 1 == COPY_MESSAGES)) {
                if (!write_full(fd, b.d, b.n)) _exit(sc == S_ENDLESS_COPY ? 0 : 4);   /* cancelled: fine */
                b.n = 0;
            }
        }
        w_msg(&b, 'c', NULL, 0);
        w_msg(&b, 'C', "COPY 3000", 10);
        w_msg(&b, 'Z', "I", 1);
        if (!write_full(fd, b.d, b.n)) _exit(4);
    }
    /* Terminate, then EOF */
    char t = read_frontend(fd);
    if (t != 'X' && t != 0) _exit(6);
    free(b.d);
}

struct fake {
    pid_t pid;
    uint16_t port;
};

static struct fake fake_start(enum scenario sc)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(ls >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(ls, 4), 0);
    socklen_t al = sizeof a;
    cr_assert_eq(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        alarm(30);
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) _exit(1);
        serve(fd, sc);
        close(fd);
        _exit(0);
    }
    close(ls);
    return (struct fake){ .pid = pid, .port = ntohs(a.sin_port) };
}

static int fake_wait(struct fake f)
{
    int status = 0;
    cr_assert_eq(waitpid(f.pid, &status, 0), f.pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* ------------------------------------------------------------------------- */
/* The client side */

struct run {
    struct loop loop;
    struct pg_conn conn;
    int step;
    int done_calls, close_calls, order;
    int done_order, close_order;
    bool in_call;   /* set while a pg_* call runs: callbacks must not come from inside */
    bool failed;
    struct lw_err err;
    uint8_t *copied;
    size_t copied_len;
    uint64_t data_calls;
    bool paused;
    int pauses;
    struct loop_op resume;
    size_t cancel_after;
    char log[4096];
};

static struct run *run_new(uint16_t port, const char *extra)
{
    struct run *r = calloc(1, sizeof *r);
    cr_assert_not_null(r);
    struct lw_err e;
    cr_assert(loop_init(&r->loop, &e), "%s", e.msg);
    char url[256];
    snprintf(url, sizeof url, "postgres://tester@127.0.0.1:%u/db?sslmode=disable%s", port, extra);
    struct pg_conninfo info;
    const char *env[] = { NULL };
    cr_assert(pg_conninfo_parse(url, env, &info, &e), "%s", e.msg);
    cr_assert(pg_init(&r->conn, &r->loop, &info, NULL, NULL, &e), "%s", e.msg);
    r->copied = malloc(COPY_MESSAGES * COPY_MESSAGE_BYTES + 1);
    return r;
}

static void run_free(struct run *r)
{
    pg_deinit(&r->conn);
    loop_deinit(&r->loop);
    free(r->copied);
    free(r);
}

static void run_until(struct run *r, const int *counter, int want)
{
    int64_t end = test_ms() + RUN_BOUND_MS;
    while (*counter < want) {
        cr_assert(test_ms() < end, "timed out waiting (step %d)", r->step);
        loop_run_once(&r->loop, 50);
    }
}

static void on_done(struct pg_conn *c, void *ctx, const struct lw_err *err)
{
    (void)c;
    struct run *r = ctx;
    cr_assert_not(r->in_call, "a callback ran inside the call that started the operation");
    r->done_calls++;
    r->done_order = ++r->order;
    r->failed = err != NULL;
    if (err != NULL) r->err = *err;
}

static void on_close(struct pg_conn *c, void *ctx, const struct lw_err *err)
{
    (void)c;
    struct run *r = ctx;
    cr_assert_null(err);
    cr_assert_not(r->in_call);
    r->close_calls++;
    r->close_order = ++r->order;
}

#define CALL(r, expr)          \
    do {                       \
        (r)->in_call = true;   \
        expr;                  \
        (r)->in_call = false;  \
    } while (0)

static void connect_ok(struct run *r)
{
    CALL(r, pg_connect(&r->conn, on_done, r));
    run_until(r, &r->done_calls, 1);
    cr_assert_not(r->failed, "%s", r->err.msg);
    cr_assert_eq(pg_state(&r->conn), PG_READY);
    cr_assert_str_eq(pg_server_version(&r->conn), "16.0 scripted");
    cr_assert_eq(pg_auth_used(&r->conn), PG_AUTH_TRUST);
    cr_assert_not(pg_tls(&r->conn));
    r->done_calls = 0;
}

static void close_ok(struct run *r)
{
    CALL(r, pg_close(&r->conn, on_close, r));
    run_until(r, &r->close_calls, 1);
    cr_assert_eq(pg_state(&r->conn), PG_IDLE);
}

Test(pg, queries_collected_and_a_server_error_between)
{
    struct fake f = fake_start(S_QUERIES);
    struct run *r = run_new(f.port, "");
    connect_ok(r);

    CALL(r, pg_query(&r->conn, "SELECT id, name FROM t", on_done, r));
    cr_assert_eq(pg_state(&r->conn), PG_BUSY);
    run_until(r, &r->done_calls, 1);
    cr_assert_not(r->failed, "%s", r->err.msg);
    const struct pg_result *res = pg_result(&r->conn);
    cr_assert_eq(res->column_count, 2);
    cr_assert_eq(res->row_count, 2);
    cr_assert_str_eq(pg_result_column_name(res, 0), "id");
    cr_assert_str_eq(pg_result_column_name(res, 1), "name");
    cr_assert_eq(res->columns[0].type_oid, 23);
    cr_assert_eq(res->columns[1].type_oid, 25);
    cr_assert_eq(res->columns[1].typmod, 24);
    size_t len;
    cr_assert_str_eq(pg_result_value(res, 0, 0, &len), "1");
    cr_assert_str_eq(pg_result_value(res, 0, 1, &len), "1");
    cr_assert_str_eq(pg_result_value(res, 1, 1, &len), "two");
    cr_assert_eq(len, 3);
    cr_assert_str_eq(res->command_tag, "SELECT 2");
    cr_assert_eq(pg_last_rows(&r->conn), 2);

    r->done_calls = 0;
    CALL(r, pg_query(&r->conn, "SELECT * FROM nope", on_done, r));
    run_until(r, &r->done_calls, 1);
    cr_assert(r->failed);
    cr_assert_eq(r->err.code, PG_E_SERVER);
    char want[128];
    snprintf(want, sizeof want, "postgres 127.0.0.1:%u: 42P01 relation \"nope\" does not exist (at character 15)",
             f.port);
    cr_assert_str_eq(r->err.msg, want);
    cr_assert_str_eq(pg_sqlstate(&r->conn), "42P01");
    cr_assert_eq(pg_state(&r->conn), PG_READY, "a server error keeps the connection");

    r->done_calls = 0;
    CALL(r, pg_query(&r->conn, "SELECT id, name FROM t", on_done, r));
    run_until(r, &r->done_calls, 1);
    cr_assert_not(r->failed, "%s", r->err.msg);
    res = pg_result(&r->conn);
    cr_assert_eq(res->row_count, 2);
    cr_assert_null(pg_result_value(res, 1, 1, &len));   /* NULL */
    cr_assert_eq(len, 0);
    cr_assert_str_eq(pg_sqlstate(&r->conn), "");

    close_ok(r);
    cr_assert_eq(fake_wait(f), 0, "the server did not get Terminate");
    run_free(r);
}

static void on_resume(struct loop *loop, struct loop_op *op)
{
    (void)loop;
    struct run *r = op->context;
    r->paused = false;
    CALL(r, pg_resume(&r->conn));
}

static void on_data(struct pg_conn *c, void *ctx, const uint8_t *data, size_t len)
{
    struct run *r = ctx;
    cr_assert_not(r->in_call);
    cr_assert_not(r->paused, "data delivered while paused");
    cr_assert(len > 0);
    cr_assert(r->copied_len + len <= COPY_MESSAGES * COPY_MESSAGE_BYTES);
    memcpy(r->copied + r->copied_len, data, len);
    r->copied_len += len;
    r->data_calls++;
    cr_assert_eq(pg_copy_format(c), 1);
    cr_assert_eq(pg_copy_columns(c), 1);
    if (r->cancel_after > 0 && r->copied_len >= r->cancel_after) {
        r->cancel_after = 0;
        pg_close(c, on_close, r);
        return;
    }
    if (r->data_calls % 7 == 0) {
        pg_pause(c);
        r->paused = true;
        r->pauses++;
        loop_timer_start(&r->loop, &r->resume, 1, on_resume, r);
    }
}

Test(pg, copy_in_order_through_pause_and_resume)
{
    struct fake f = fake_start(S_COPY);
    struct run *r = run_new(f.port, "");
    connect_ok(r);
    CALL(r, pg_copy_out(&r->conn, "COPY t TO STDOUT (FORMAT binary)", on_data, on_done, r));
    run_until(r, &r->done_calls, 1);
    cr_assert_not(r->failed, "%s", r->err.msg);
    cr_assert_eq(r->copied_len, (size_t)COPY_MESSAGES * COPY_MESSAGE_BYTES);
    for (uint32_t i = 0; i < COPY_MESSAGES; i++)
        for (size_t j = 0; j < COPY_MESSAGE_BYTES; j++)
            cr_assert_eq(r->copied[i * COPY_MESSAGE_BYTES + j], (uint8_t)(i * 31 + j), "message %u byte %zu", i, j);
    cr_assert(r->pauses > 100);
    cr_assert_eq(pg_last_rows(&r->conn), 3000);
    cr_assert_eq(pg_state(&r->conn), PG_READY);
    close_ok(r);
    cr_assert_eq(fake_wait(f), 0);
    run_free(r);
}

Test(pg, copy_cancelled_by_close)
{
    struct fake f = fake_start(S_ENDLESS_COPY);
    struct run *r = run_new(f.port, "");
    connect_ok(r);
    r->cancel_after = 100000;
    CALL(r, pg_copy_out(&r->conn, "COPY big TO STDOUT", on_data, on_done, r));
    run_until(r, &r->close_calls, 1);
    cr_assert_eq(r->done_calls, 1);
    cr_assert(r->done_order < r->close_order, "the COPY ends before the close is reported");
    cr_assert(r->failed);
    cr_assert_eq(r->err.code, LOOP_E_CANCELED);
    cr_assert(strstr(r->err.msg, "canceled by closing the connection") != NULL, "%s", r->err.msg);
    cr_assert_eq(pg_state(&r->conn), PG_IDLE);
    cr_assert_eq(fake_wait(f), 0, "the server's writes failed once the client closed");
    run_free(r);
}

Test(pg, server_hangs_up_in_the_middle_of_a_result)
{
    struct fake f = fake_start(S_HANG_UP);
    struct run *r = run_new(f.port, "");
    connect_ok(r);
    CALL(r, pg_query(&r->conn, "SELECT a FROM t", on_done, r));
    run_until(r, &r->done_calls, 1);
    cr_assert(r->failed);
    cr_assert_eq(r->err.code, LOOP_E_CLOSED, "%s", r->err.msg);
    char want[96];
    snprintf(want, sizeof want, "postgres 127.0.0.1:%u: the server closed the connection", f.port);
    cr_assert_str_eq(r->err.msg, want);
    cr_assert_eq(pg_state(&r->conn), PG_IDLE, "closed before done ran");
    /* and the next operation is refused from the loop */
    r->done_calls = 0;
    CALL(r, pg_query(&r->conn, "SELECT 1", on_done, r));
    run_until(r, &r->done_calls, 1);
    cr_assert_eq(r->err.code, PG_E_NOT_CONNECTED);
    cr_assert_eq(fake_wait(f), 0);
    close_ok(r);
    run_free(r);
}

Test(pg, refusals_without_a_server)
{
    /* a port nothing listens on: bind one, close it */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    struct run *r = run_new(ntohs(a.sin_port), "");
    CALL(r, pg_query(&r->conn, "SELECT 1", on_done, r));
    run_until(r, &r->done_calls, 1);
    cr_assert_eq(r->err.code, PG_E_NOT_CONNECTED);
    r->done_calls = 0;
    CALL(r, pg_connect(&r->conn, on_done, r));
    run_until(r, &r->done_calls, 1);
    cr_assert(r->failed);
    cr_assert_eq(r->err.code, LOOP_E_REFUSED);
    char want[96];
    snprintf(want, sizeof want, "postgres: connect to 127.0.0.1:%u: connection refused", ntohs(a.sin_port));
    cr_assert_str_eq(r->err.msg, want);
    cr_assert_eq(pg_state(&r->conn), PG_IDLE);
    close_ok(r);
    run_free(r);

    /* options out of range; TLS modes without a bundle */
    struct loop loop;
    struct lw_err e;
    cr_assert(loop_init(&loop, &e));
    struct pg_conninfo info;
    cr_assert(pg_conninfo_parse("postgres://u@h/db", NULL, &info, &e));
    struct pg_conn *c = calloc(1, sizeof *c);
    cr_assert_not(pg_init(c, &loop, &info, NULL, NULL, &e));
    cr_assert(strstr(e.msg, "sslmode=prefer needs a CA bundle") != NULL, "%s", e.msg);
    info.sslmode = PG_SSLMODE_DISABLE;
    struct pg_options o = { .message_bytes_max = 100 };
    cr_assert_not(pg_init(c, &loop, &info, NULL, &o, &e));
    cr_assert(strstr(e.msg, "message_bytes_max") != NULL);
    free(c);
    loop_deinit(&loop);
}

Test(pg, password_files)
{
    char dir[] = "/tmp/lw-pg-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char pw[64], pgpass[64];
    snprintf(pw, sizeof pw, "%s/pw", dir);
    snprintf(pgpass, sizeof pgpass, "%s/.pgpass", dir);
    FILE *fp = fopen(pw, "w");
    fputs("from-file\n", fp);
    fclose(fp);
    fp = fopen(pgpass, "w");
    fputs("h:5432:db:u:from-pgpass\n", fp);
    fclose(fp);
    chmod(pgpass, 0600);
    struct pg_conninfo info;
    struct lw_err e;
    char home[80];
    snprintf(home, sizeof home, "HOME=%s", dir);
    const char *env[] = { home, NULL };
    cr_assert(pg_conninfo_parse("postgres://u:from-url@h/db", env, &info, &e));
    cr_assert(pg_resolve_password(&info, pw, env, &e), "%s", e.msg);   /* the file replaces the URL's */
    cr_assert_eq(info.password_source, PG_PASSWORD_FILE);
    cr_assert_eq(memcmp(info.password, "from-file", 10), 0);
    cr_assert(pg_conninfo_parse("postgres://u@h/db", env, &info, &e));
    cr_assert(pg_resolve_password(&info, NULL, env, &e), "%s", e.msg);   /* ~/.pgpass */
    cr_assert_eq(info.password_source, PG_PASSWORD_PGPASS);
    cr_assert_eq(memcmp(info.password, "from-pgpass", 12), 0);
    chmod(pgpass, 0644);   /* readable by others: ignored */
    cr_assert(pg_conninfo_parse("postgres://u@h/db", env, &info, &e));
    cr_assert(pg_resolve_password(&info, NULL, env, &e));
    cr_assert_eq(info.password_len, 0);
    char missing[80];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    cr_assert_not(pg_resolve_password(&info, missing, env, &e));
    cr_assert(strstr(e.msg, "missing: No such file or directory") != NULL, "%s", e.msg);
    unlink(pw);
    unlink(pgpass);
    rmdir(dir);
}
