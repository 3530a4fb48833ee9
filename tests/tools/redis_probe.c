/* redis_probe: drives src/redis.h from the command line, for the integration tests
 * (tests/integration/test_redis.py), which check what it did with redis-py.
 *
 *   redis_probe URL ping
 *   redis_probe URL cmd ARG...                     one command; prints the reply as JSON
 *   redis_probe URL xadd STREAM N                  N pipelined XADDs: n=<i> data={"i":<i>}
 *   redis_probe URL read STREAM GROUP CONSUMER [ack]
 *       XGROUP CREATE STREAM GROUP 0 MKSTREAM (BUSYGROUP is fine), then the consumer's
 *       own pending entries (ID 0) and new ones (>) until none is left; one JSON line
 *       per entry: {"id":"1-0","deleted":false,"fields":[["<hex>","<hex>"],...]};
 *       with `ack`, acknowledges them all in one MULTI/EXEC and prints "acked N".
 *
 * The URL goes through the real configuration loader (as REDIS_URL, with
 * REDIS_PASSWORD and LAKEWRITER_CA_FILE from the environment), then
 * redis_options_from_config, exactly as the service does. The first DOWN event ends
 * the probe: its message on stderr, exit status 1. Usage errors: exit status 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "redis.h"

extern char **environ;

enum { PROBE_IDS_MAX = 200000, PROBE_BATCH = 1000 };

struct probe {
    struct loop loop;
    struct redis_conn conn;
    int argc;
    char **argv;
    const char *mode;
    bool done;
    int status;
    /* read */
    struct resp_str stream, group, consumer;
    bool reading_new;
    bool ack;
    struct redis_id *ids;
    uint32_t id_count;
    char last_pending[REDIS_ID_TEXT_MAX];
    /* xadd */
    long xadd_total, xadd_sent, xadd_done;
    struct redis_request *xadd_reqs;
    char last_id[REDIS_ID_TEXT_MAX];
};

static struct probe P;

static void finish(int status)
{
    P.status = status;
    P.done = true;
}

static void fail(const char *msg)
{
    fprintf(stderr, "redis_probe: %s\n", msg);
    finish(1);
}

static void print_hex(const struct resp_str s)
{
    for (size_t i = 0; i < s.len; i++) printf("%02x", (unsigned char)s.ptr[i]);
}

static void print_json_string(struct resp_str s)
{
    putchar('"');
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* A reply as JSON (no recursion needed beyond the depth RESP allows). */
static void print_value(const struct resp_value *v)
{
    switch (v->type) {
    case RESP_NIL: printf("null"); break;
    case RESP_INTEGER: printf("%lld", (long long)v->u.integer); break;
    case RESP_STRING: print_json_string(v->u.str); break;
    case RESP_STATUS: printf("{\"status\":"); print_json_string(v->u.str); printf("}"); break;
    case RESP_ERROR: printf("{\"error\":"); print_json_string(v->u.str); printf("}"); break;
    case RESP_ARRAY:
        putchar('[');
        for (size_t i = 0; i < v->u.array.count; i++) {
            if (i > 0) putchar(',');
            print_value(&v->u.array.items[i]);
        }
        putchar(']');
        break;
    }
}

/* ------------------------------------------------------------------------- */
/* cmd, ping */

static struct redis_request req_one;

static void on_cmd(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply)
{
    (void)c;
    (void)req;
    if (reply->value == NULL) {
        fail(reply->err.msg);
        return;
    }
    print_value(reply->value);
    putchar('\n');
    finish(reply->err.code == 0 ? 0 : 3);
}

static void start_cmd(void)
{
    struct resp_str argv[64];
    int n = P.argc - 3;
    if (strcmp(P.mode, "ping") == 0) {
        argv[0] = RESP_STR("PING");
        n = 1;
    } else {
        if (n < 1 || n > 64) {
            fail("cmd: 1 to 64 arguments");
            return;
        }
        for (int i = 0; i < n; i++) argv[i] = resp_str_c(P.argv[3 + i]);
    }
    redis_request_init(&req_one, on_cmd, NULL);
    struct lw_err err;
    if (!redis_command(&P.conn, &req_one, (uint32_t)n, argv, &err)) fail(err.msg);
}

/* ------------------------------------------------------------------------- */
/* xadd: all at once, pipelined */

static void on_xadd(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply)
{
    (void)c;
    (void)req;
    struct redis_id id;
    struct lw_err err;
    if (!redis_parse_xadd(reply, &id, &err)) {
        fail(err.msg);
        return;
    }
    redis_id_format(id, P.last_id);
    if (++P.xadd_done == P.xadd_total) {
        printf("added %ld last=%s\n", P.xadd_done, P.last_id);
        finish(0);
    }
}

static void start_xadd(void)
{
    if (P.argc != 5) {
        fail("xadd STREAM N");
        return;
    }
    P.xadd_total = atol(P.argv[4]);
    if (P.xadd_total <= 0 || P.xadd_total > PROBE_IDS_MAX) {
        fail("xadd: N must be 1..200000");
        return;
    }
    P.xadd_reqs = calloc((size_t)P.xadd_total, sizeof *P.xadd_reqs);
    for (long i = 0; i < P.xadd_total; i++) {
        char n[24], data[64];
        snprintf(n, sizeof n, "%ld", i);
        snprintf(data, sizeof data, "{\"i\":%ld}", i);
        struct resp_str fv[] = { RESP_STR("n"), resp_str_c(n), RESP_STR("data"), resp_str_c(data) };
        redis_request_init(&P.xadd_reqs[i], on_xadd, NULL);
        struct lw_err err;
        if (!redis_xadd(&P.conn, &P.xadd_reqs[i], resp_str_c(P.argv[3]), 2, fv, &err)) {
            fail(err.msg);
            return;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* read: the consumer's recipe, pending first, then new */

static struct redis_request req_read;

static void read_next(void);

static void on_acked(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply)
{
    (void)c;
    (void)req;
    struct redis_exec x;
    struct lw_err err;
    if (!redis_parse_exec(reply, &x, &err)) {
        fail(err.msg);
        return;
    }
    char name[48];
    struct redis_reply item;
    int64_t n = 0;
    redis_exec_item(&x, 0, "XACK", name, sizeof name, &item);
    if (!redis_parse_integer(&item, &n, &err)) {
        fail(err.msg);
        return;
    }
    printf("acked %lld\n", (long long)n);
    finish(0);
}

static void read_end(void)
{
    if (!P.ack || P.id_count == 0) {
        finish(0);
        return;
    }
    struct lw_err err;
    redis_request_init(&req_read, on_acked, NULL);
    struct resp_buf *b = redis_begin_multi(&P.conn, &req_read, &err);
    if (b == NULL) {
        fail(err.msg);
        return;
    }
    redis_cmd_xack(b, P.stream, P.group, P.id_count, P.ids);
    if (!redis_submit_exec(&P.conn, &req_read, &err)) fail(err.msg);
}

static void on_read(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply)
{
    (void)c;
    (void)req;
    struct redis_xread x;
    struct lw_err err;
    if (!redis_parse_xread(reply, &x, &err)) {
        fail(err.msg);
        return;
    }
    size_t got = 0;
    for (size_t i = 0; i < x.stream_count; i++) {
        struct resp_str name;
        struct redis_entries es;
        redis_xread_stream(&x, i, &name, &es);
        for (size_t j = 0; j < es.count; j++) {
            struct redis_entry e;
            redis_entries_at(&es, j, &e);
            got++;
            printf("{\"id\":\"%.*s\",\"deleted\":%s,\"fields\":[", (int)e.id_text.len, e.id_text.ptr,
                   e.deleted ? "true" : "false");
            for (size_t k = 0; k < e.field_count; k++) {
                struct resp_str f, v;
                redis_entry_field(&e, k, &f, &v);
                printf("%s[\"", k > 0 ? "," : "");
                print_hex(f);
                printf("\",\"");
                print_hex(v);
                printf("\"]");
            }
            printf("]}\n");
            if (P.id_count < PROBE_IDS_MAX) P.ids[P.id_count++] = e.id;
            redis_id_format(e.id, P.last_pending);
        }
    }
    if (got == 0) {
        if (P.reading_new) {
            read_end();
            return;
        }
        P.reading_new = true;
    }
    read_next();
}

static void read_next(void)
{
    struct resp_str ids[] = { P.reading_new ? RESP_STR(">") : resp_str_c(P.last_pending) };
    struct redis_xreadgroup_args a = { .group = P.group, .consumer = P.consumer, .count = PROBE_BATCH,
                                       .block_ms = P.reading_new ? 100 : -1, .stream_count = 1,
                                       .streams = &P.stream, .ids = ids };
    redis_request_init(&req_read, on_read, NULL);
    struct lw_err err;
    if (!redis_xreadgroup(&P.conn, &req_read, &a, &err)) fail(err.msg);
}

static void on_group(struct redis_conn *c, struct redis_request *req, const struct redis_reply *reply)
{
    (void)c;
    (void)req;
    bool created;
    struct lw_err err;
    if (!redis_parse_xgroup_create(reply, &created, &err)) {
        fail(err.msg);
        return;
    }
    snprintf(P.last_pending, sizeof P.last_pending, "0");
    read_next();
}

static void start_read(void)
{
    if (P.argc != 6 && !(P.argc == 7 && strcmp(P.argv[6], "ack") == 0)) {
        fail("read STREAM GROUP CONSUMER [ack]");
        return;
    }
    P.stream = resp_str_c(P.argv[3]);
    P.group = resp_str_c(P.argv[4]);
    P.consumer = resp_str_c(P.argv[5]);
    P.ack = P.argc == 7;
    P.ids = calloc(PROBE_IDS_MAX, sizeof *P.ids);
    redis_request_init(&req_read, on_group, NULL);
    struct lw_err err;
    if (!redis_xgroup_create(&P.conn, &req_read, P.stream, P.group, RESP_STR("0"), &err)) fail(err.msg);
}

/* ------------------------------------------------------------------------- */

static void on_event(struct redis_conn *c, void *context, enum redis_event event, const struct lw_err *err)
{
    (void)c;
    (void)context;
    if (event == REDIS_EVENT_DOWN) {
        fail(err->msg);
        return;
    }
    if (strcmp(P.mode, "ping") == 0 || strcmp(P.mode, "cmd") == 0) start_cmd();
    else if (strcmp(P.mode, "xadd") == 0) start_xadd();
    else if (strcmp(P.mode, "read") == 0) start_read();
}

static void on_closed(struct redis_conn *c, void *context)
{
    (void)c;
    *(bool *)context = true;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: redis_probe URL ping|cmd ARG...|xadd STREAM N|read STREAM GROUP CONSUMER [ack]\n");
        return 2;
    }
    P.argc = argc;
    P.argv = argv;
    P.mode = argv[2];
    if (strcmp(P.mode, "ping") != 0 && strcmp(P.mode, "cmd") != 0 && strcmp(P.mode, "xadd") != 0 &&
        strcmp(P.mode, "read") != 0) {
        fprintf(stderr, "redis_probe: unknown mode '%s'\n", P.mode);
        return 2;
    }
    log_configure(LOG_FORMAT_TEXT, LOG_ERROR, 2); /* failures are printed once, below */
    setenv("REDIS_URL", argv[1], 1);
    static struct config cfg;
    static struct config_report rep;
    struct config_input in = { .env = (const char *const *)environ, .hostname = "probe" };
    config_load(&in, &cfg, &rep);
    for (size_t i = 0; i < rep.count; i++) {
        if (strstr(rep.items[i].text, "redis") != NULL && !rep.items[i].warning) {
            fprintf(stderr, "redis_probe: %s\n", rep.items[i].text);
            config_free(&cfg);
            return 2;
        }
    }
    struct lw_err err;
    if (!loop_init(&P.loop, &err)) {
        fprintf(stderr, "redis_probe: %s\n", err.msg);
        return 1;
    }
    struct redis_options opt;
    redis_options_from_config(&opt, &cfg);
    opt.on_event = on_event;
    opt.connect_timeout_ms = 5000;
    opt.command_timeout_ms = 10000;
    if (!redis_conn_init(&P.conn, &P.loop, &opt, &err)) {
        fprintf(stderr, "redis_probe: %s\n", err.msg);
        return 1;
    }
    redis_conn_start(&P.conn);
    while (!P.done) {
        if (loop_run_once(&P.loop, 100) != LOOP_RUN_CONTINUE) {
            fprintf(stderr, "redis_probe: stopped\n");
            P.status = 1;
            break;
        }
    }
    fflush(stdout);
    bool closed = false;
    redis_conn_close(&P.conn, on_closed, &closed);
    while (!closed) loop_run_once(&P.loop, 100);
    redis_conn_deinit(&P.conn);
    loop_deinit(&P.loop);
    config_free(&cfg);
    free(P.ids);
    free(P.xadd_reqs);
    return P.status;
}
