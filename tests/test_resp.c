/* RESP: the encoder (exact bytes), the reader (every reply fed at every split point
 * and a byte at a time, limits), and the typed reply views of redis_cmd. */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_cmd.h"
#include "resp.h"

/* ------------------------------------------------------------------------- */
/* Helpers */

#define BYTES(lit) (lit), (sizeof(lit) - 1)

static void expect_bytes(const struct resp_buf *b, const char *want, size_t want_len)
{
    cr_assert(!resp_buf_failed(b));
    size_t len = resp_buf_len(b);
    cr_assert_eq(len, want_len, "length %zu, want %zu: got '%.*s'", len, want_len, (int)len,
                 (const char *)resp_buf_data(b));
    cr_assert(memcmp(resp_buf_data(b), want, len) == 0, "got '%.*s'\nwant '%.*s'", (int)len,
              (const char *)resp_buf_data(b), (int)want_len, want);
}

/* A canonical text of a value tree, to compare parses. */
static void dump(const struct resp_value *v, char *out, size_t cap, size_t *n)
{
#define PUT(...)                                                            \
    do {                                                                    \
        int k_ = snprintf(out + *n, *n < cap ? cap - *n : 0, __VA_ARGS__);  \
        cr_assert(k_ >= 0);                                                 \
        *n += (size_t)k_;                                                   \
    } while (0)
    switch (v->type) {
    case RESP_NIL: PUT("nil"); break;
    case RESP_INTEGER: PUT("i%lld", (long long)v->u.integer); break;
    case RESP_STRING:
    case RESP_STATUS:
    case RESP_ERROR: {
        cr_assert_eq(v->u.str.ptr[v->u.str.len], '\0', "strings are NUL-terminated");
        PUT("%c%zu:", v->type == RESP_STRING ? '$' : v->type == RESP_STATUS ? '+' : '-', v->u.str.len);
        for (size_t i = 0; i < v->u.str.len; i++) PUT("%02x", (unsigned char)v->u.str.ptr[i]);
        break;
    }
    case RESP_ARRAY:
        PUT("[");
        for (size_t i = 0; i < v->u.array.count; i++) {
            if (i > 0) PUT(",");
            dump(&v->u.array.items[i], out, cap, n);
        }
        PUT("]");
        break;
    }
#undef PUT
}

static void limits_small(struct resp_limits *l)
{
    resp_limits_default(l);
}

struct parsed {
    int count;
    char text[16384];
    bool failed;
    int code;
    char msg[LW_ERR_MSG_MAX];
};

/* Feeds `data` in pieces cut at `cuts` (sorted offsets), reads every reply after each
 * piece, releases after each reply. */
static void feed_pieces(const struct resp_limits *l, const char *data, size_t len, const size_t *cuts,
                        size_t cut_count, struct parsed *out)
{
    memset(out, 0, sizeof *out);
    struct resp_reader r;
    struct lw_err err;
    cr_assert(resp_reader_init(&r, l, &err), "%s", err.msg);
    size_t n = 0, from = 0;
    for (size_t i = 0; i <= cut_count && !out->failed; i++) {
        size_t to = i < cut_count ? cuts[i] : len;
        cr_assert(resp_reader_feed(&r, data + from, to - from, &err) || r.failed);
        from = to;
        for (;;) {
            const struct resp_value *v;
            int rc = resp_reader_next(&r, &v, &err);
            if (rc == 0) break;
            if (rc < 0) {
                out->failed = true;
                out->code = err.code;
                snprintf(out->msg, sizeof out->msg, "%s", err.msg);
                break;
            }
            if (out->count > 0) n += (size_t)snprintf(out->text + n, sizeof out->text - n, "|");
            dump(v, out->text, sizeof out->text, &n);
            cr_assert_lt(n, sizeof out->text);
            out->count++;
            resp_reader_release(&r);
        }
    }
    resp_reader_deinit(&r);
}

/* Parses `data` whole, then cut in two at every offset, then a byte at a time: all
 * runs must agree. Returns the whole run. */
static struct parsed parse_everywhere(const struct resp_limits *l, const char *data, size_t len)
{
    static struct parsed whole, split;
    feed_pieces(l, data, len, NULL, 0, &whole);
    for (size_t cut = 0; cut <= len; cut++) {
        feed_pieces(l, data, len, &cut, 1, &split);
        cr_assert_eq(split.failed, whole.failed, "cut at %zu: failed %d vs %d (%s)", cut, split.failed, whole.failed,
                     split.msg);
        cr_assert_eq(split.count, whole.count, "cut at %zu", cut);
        cr_assert_str_eq(split.text, whole.text, "cut at %zu", cut);
        if (whole.failed) cr_assert_eq(split.code, whole.code, "cut at %zu: %s vs %s", cut, split.msg, whole.msg);
    }
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    for (size_t i = 0; i < len; i++) cuts[i] = i + 1;
    feed_pieces(l, data, len, cuts, len, &split);
    free(cuts);
    cr_assert_eq(split.failed, whole.failed);
    cr_assert_str_eq(split.text, whole.text, "byte at a time");
    return whole;
}

/* One reply parsed whole into a reader the caller releases. */
struct one {
    struct resp_reader r;
    const struct resp_value *v;
    struct redis_reply reply;
};

static void parse_one(struct one *o, const char *data, size_t len, const char *command)
{
    struct resp_limits l;
    limits_small(&l);
    /* All split points first: the same tree whichever way the bytes come. */
    struct parsed p = parse_everywhere(&l, data, len);
    cr_assert_not(p.failed, "%s", p.msg);
    cr_assert_eq(p.count, 1);
    struct lw_err err;
    cr_assert(resp_reader_init(&o->r, &l, &err));
    cr_assert(resp_reader_feed(&o->r, data, len, &err));
    cr_assert_eq(resp_reader_next(&o->r, &o->v, &err), 1);
    redis_reply_init(&o->reply, o->v, "127.0.0.1:6390", command);
}

static void one_free(struct one *o)
{
    resp_reader_deinit(&o->r);
}

static bool str_is(struct resp_str s, const char *text)
{
    return resp_str_eq(s, text);
}

/* ------------------------------------------------------------------------- */
/* Encoder */

Test(resp_encode, exact_bytes_of_a_command)
{
    uint8_t mem[256];
    struct resp_buf b;
    resp_buf_init_fixed(&b, mem, sizeof mem);
    struct resp_str argv[] = { RESP_STR("XACK"), RESP_STR("orders"), RESP_STR("lw"), RESP_STR("1700000000000-0") };
    resp_cmd_argv(&b, 4, argv);
    expect_bytes(&b, BYTES("*4\r\n$4\r\nXACK\r\n$6\r\norders\r\n$2\r\nlw\r\n$15\r\n1700000000000-0\r\n"));
    cr_assert_eq(resp_buf_commands(&b), 1);
    char name[24];
    cr_assert_str_eq(resp_buf_command_name(&b, 0, name, sizeof name), "XACK");
}

Test(resp_encode, binary_safe_empty_and_numbers)
{
    uint8_t mem[256];
    struct resp_buf b;
    resp_buf_init_fixed(&b, mem, sizeof mem);
    resp_cmd_begin(&b, 6);
    resp_cmd_arg_cstr(&b, "set");
    resp_cmd_arg(&b, "a\r\n\0b", 5);
    resp_cmd_arg(&b, NULL, 0);
    resp_cmd_arg_u64(&b, UINT64_MAX);
    resp_cmd_arg_i64(&b, INT64_MIN);
    resp_cmd_arg_i64(&b, 0);
    expect_bytes(&b, BYTES("*6\r\n$3\r\nset\r\n$5\r\na\r\n\0b\r\n$0\r\n\r\n$20\r\n18446744073709551615\r\n"
                           "$20\r\n-9223372036854775808\r\n$1\r\n0\r\n"));
    char name[24];
    cr_assert_str_eq(resp_buf_command_name(&b, 0, name, sizeof name), "SET", "upper-cased");
    cr_assert_eq(resp_arg_size(5), 11);
    cr_assert_eq(resp_header_size(6), 4);
    cr_assert_eq(resp_header_size(12), 5);
}

Test(resp_encode, a_fixed_buffer_fails_sticky_and_rolls_back)
{
    uint8_t mem[40];
    struct resp_buf b;
    resp_buf_init_fixed(&b, mem, sizeof mem);
    redis_cmd_ping(&b);
    size_t mark = resp_buf_len(&b);
    uint32_t cmds = resp_buf_commands(&b);
    redis_cmd_xadd(&b, RESP_STR("stream"), RESP_STR("*"), 1, (struct resp_str[]){ RESP_STR("f"), RESP_STR("v") });
    cr_assert(resp_buf_failed(&b), "does not fit in 40 bytes");
    cr_assert_leq(resp_buf_len(&b), sizeof mem);
    resp_buf_rollback(&b, mark, cmds);
    cr_assert_not(resp_buf_failed(&b));
    expect_bytes(&b, BYTES("*1\r\n$4\r\nPING\r\n"));
    cr_assert_eq(resp_buf_commands(&b), 1);
}

Test(resp_encode, a_growable_buffer_grows_to_its_maximum_only)
{
    struct resp_buf b;
    resp_buf_init(&b, 1000);
    for (int i = 0; i < 30; i++) redis_cmd_ping(&b); /* 14 bytes each */
    cr_assert_not(resp_buf_failed(&b));
    cr_assert_eq(resp_buf_len(&b), 30 * 14);
    static char big[2000];
    memset(big, 'x', sizeof big);
    size_t mark = resp_buf_len(&b);
    resp_cmd_begin(&b, 1);
    resp_cmd_arg(&b, big, 700);
    cr_assert(resp_buf_failed(&b), "420 + 712 > 1000");
    resp_buf_rollback(&b, mark, 30);
    resp_cmd_begin(&b, 1);
    resp_cmd_arg(&b, big, 500);
    cr_assert_not(resp_buf_failed(&b));
    cr_assert_eq(resp_buf_len(&b), mark + 512);
    resp_buf_free(&b);
}

Test(resp_encode, consumer_group_commands)
{
    struct resp_buf b;
    resp_buf_init(&b, 1 << 16);

    redis_cmd_xgroup_create(&b, RESP_STR("orders"), RESP_STR("lw"), RESP_STR("0"), true);
    expect_bytes(&b, BYTES("*6\r\n$6\r\nXGROUP\r\n$6\r\nCREATE\r\n$6\r\norders\r\n$2\r\nlw\r\n$1\r\n0\r\n"
                           "$8\r\nMKSTREAM\r\n"));
    resp_buf_clear(&b);

    struct resp_str streams[] = { RESP_STR("a"), RESP_STR("bb") };
    struct resp_str ids[] = { RESP_STR(">"), RESP_STR("0-1") };
    struct redis_xreadgroup_args a = { .group = RESP_STR("g"), .consumer = RESP_STR("c1"), .count = 500,
                                       .block_ms = 2000, .stream_count = 2, .streams = streams, .ids = ids };
    redis_cmd_xreadgroup(&b, &a);
    expect_bytes(&b, BYTES("*13\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$1\r\ng\r\n$2\r\nc1\r\n$5\r\nCOUNT\r\n"
                           "$3\r\n500\r\n$5\r\nBLOCK\r\n$4\r\n2000\r\n$7\r\nSTREAMS\r\n$1\r\na\r\n$2\r\nbb\r\n"
                           "$1\r\n>\r\n$3\r\n0-1\r\n"));
    resp_buf_clear(&b);

    a = (struct redis_xreadgroup_args){ .group = RESP_STR("g"), .consumer = RESP_STR("c"), .block_ms = -1,
                                        .noack = true, .stream_count = 1, .streams = streams, .ids = ids };
    redis_cmd_xreadgroup(&b, &a);
    expect_bytes(&b, BYTES("*8\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$1\r\ng\r\n$1\r\nc\r\n$5\r\nNOACK\r\n"
                           "$7\r\nSTREAMS\r\n$1\r\na\r\n$1\r\n>\r\n"));
    resp_buf_clear(&b);

    struct redis_id acks[] = { { 1, 0 }, { 18446744073709551615ull, 7 } };
    redis_cmd_xack(&b, RESP_STR("s"), RESP_STR("g"), 2, acks);
    expect_bytes(&b, BYTES("*5\r\n$4\r\nXACK\r\n$1\r\ns\r\n$1\r\ng\r\n$3\r\n1-0\r\n$22\r\n18446744073709551615-7\r\n"));
    resp_buf_clear(&b);

    redis_cmd_xautoclaim(&b, RESP_STR("s"), RESP_STR("g"), RESP_STR("c"), 60000, RESP_STR("0-0"), 100, true);
    expect_bytes(&b, BYTES("*9\r\n$10\r\nXAUTOCLAIM\r\n$1\r\ns\r\n$1\r\ng\r\n$1\r\nc\r\n$5\r\n60000\r\n$3\r\n0-0\r\n"
                           "$5\r\nCOUNT\r\n$3\r\n100\r\n$6\r\nJUSTID\r\n"));
    resp_buf_clear(&b);

    struct resp_str fv[] = { RESP_STR("error"), RESP_STR("bad json"), RESP_STR("data"), RESP_STR("{") };
    redis_cmd_xadd(&b, RESP_STR("s:dlq"), RESP_STR("*"), 2, fv);
    expect_bytes(&b, BYTES("*7\r\n$4\r\nXADD\r\n$5\r\ns:dlq\r\n$1\r\n*\r\n$5\r\nerror\r\n$8\r\nbad json\r\n"
                           "$4\r\ndata\r\n$1\r\n{\r\n"));
    resp_buf_clear(&b);

    redis_cmd_multi(&b);
    redis_cmd_hset(&b, RESP_STR("k"), 1, fv);
    redis_cmd_hdel(&b, RESP_STR("k"), 1, fv);
    redis_cmd_hgetall(&b, RESP_STR("k"));
    redis_cmd_xpending(&b, RESP_STR("s"), RESP_STR("g"));
    redis_cmd_exec(&b);
    expect_bytes(&b, BYTES("*1\r\n$5\r\nMULTI\r\n*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$5\r\nerror\r\n$8\r\nbad json\r\n"
                           "*3\r\n$4\r\nHDEL\r\n$1\r\nk\r\n$5\r\nerror\r\n*2\r\n$7\r\nHGETALL\r\n$1\r\nk\r\n"
                           "*3\r\n$8\r\nXPENDING\r\n$1\r\ns\r\n$1\r\ng\r\n*1\r\n$4\r\nEXEC\r\n"));
    cr_assert_eq(resp_buf_commands(&b), 6);
    resp_buf_clear(&b);

    redis_cmd_xpending_range(&b, RESP_STR("s"), RESP_STR("g"), 60000, RESP_STR("-"), RESP_STR("+"), 10,
                             RESP_STR("c"));
    redis_cmd_xpending_range(&b, RESP_STR("s"), RESP_STR("g"), 0, RESP_STR("-"), RESP_STR("+"), 10, RESP_STR(""));
    expect_bytes(&b, BYTES("*9\r\n$8\r\nXPENDING\r\n$1\r\ns\r\n$1\r\ng\r\n$4\r\nIDLE\r\n$5\r\n60000\r\n"
                           "$1\r\n-\r\n$1\r\n+\r\n$2\r\n10\r\n$1\r\nc\r\n"
                           "*6\r\n$8\r\nXPENDING\r\n$1\r\ns\r\n$1\r\ng\r\n$1\r\n-\r\n$1\r\n+\r\n$2\r\n10\r\n"));
    resp_buf_clear(&b);

    redis_cmd_auth(&b, RESP_STR(""), RESP_STR("pw"));
    redis_cmd_auth(&b, RESP_STR("lw"), RESP_STR("p w"));
    redis_cmd_select(&b, 15);
    expect_bytes(&b, BYTES("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*3\r\n$4\r\nAUTH\r\n$2\r\nlw\r\n$3\r\np w\r\n"
                           "*2\r\n$6\r\nSELECT\r\n$2\r\n15\r\n"));
    resp_buf_free(&b);
}

/* ------------------------------------------------------------------------- */
/* IDs */

Test(redis_id, parse_format_compare)
{
    struct redis_id id;
    cr_assert(redis_id_parse(RESP_STR("1700000000000-12"), false, &id));
    cr_assert_eq(id.ms, 1700000000000ull);
    cr_assert_eq(id.seq, 12);
    cr_assert(redis_id_parse(RESP_STR("18446744073709551615-18446744073709551615"), false, &id));
    cr_assert_eq(id.ms, UINT64_MAX);
    cr_assert_not(redis_id_parse(RESP_STR("18446744073709551616-0"), false, &id), "overflow");
    cr_assert_not(redis_id_parse(RESP_STR("5"), false, &id));
    cr_assert(redis_id_parse(RESP_STR("5"), true, &id) && id.ms == 5 && id.seq == 0);
    const char *bad[] = { "", "-", "1-", "-1", "1-2-3", "+1-2", "1 -2", "a-b", "1-0x1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(redis_id_parse(resp_str_c(bad[i]), true, &id), "'%s'", bad[i]);
    char text[REDIS_ID_TEXT_MAX];
    cr_assert_eq(redis_id_format((struct redis_id){ UINT64_MAX, UINT64_MAX }, text), 41);
    cr_assert_str_eq(text, "18446744073709551615-18446744073709551615");
    cr_assert_lt(redis_id_compare((struct redis_id){ 1, 9 }, (struct redis_id){ 2, 0 }), 0);
    cr_assert_gt(redis_id_compare((struct redis_id){ 2, 1 }, (struct redis_id){ 2, 0 }), 0);
    cr_assert_eq(redis_id_compare((struct redis_id){ 2, 1 }, (struct redis_id){ 2, 1 }), 0);
}

/* ------------------------------------------------------------------------- */
/* Reader */

Test(resp_reader, every_type_at_every_split_point)
{
    static const char in[] = "+OK\r\n-ERR bad thing\r\n:-42\r\n$5\r\na\r\nb\0\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
                             "*3\r\n:1\r\n*2\r\n$1\r\nx\r\n*1\r\n+y\r\n$-1\r\n";
    struct resp_limits l;
    limits_small(&l);
    struct parsed p = parse_everywhere(&l, in, sizeof in - 1);
    cr_assert_not(p.failed, "%s", p.msg);
    cr_assert_eq(p.count, 9);
    cr_assert_str_eq(p.text, "+2:4f4b|-13:45525220626164207468696e67|i-42|$5:610d0a6200|$0:|nil|nil|[]|"
                             "[i1,[$1:78,[+1:79]],nil]");
}

Test(resp_reader, strings_are_copied_out_of_the_input)
{
    struct resp_reader r;
    struct resp_limits l;
    limits_small(&l);
    struct lw_err err;
    cr_assert(resp_reader_init(&r, &l, &err));
    char in[] = "*2\r\n$3\r\nabc\r\n+OK\r\n";
    cr_assert(resp_reader_feed(&r, in, sizeof in - 1, &err));
    memset(in, 'z', sizeof in - 1);
    const struct resp_value *v;
    cr_assert_eq(resp_reader_next(&r, &v, &err), 1);
    cr_assert(str_is(v->u.array.items[0].u.str, "abc"));
    cr_assert(str_is(v->u.array.items[1].u.str, "OK"));
    cr_assert_eq(v->u.array.items[1].type, RESP_STATUS);
    cr_assert_eq(resp_reader_next(&r, &v, &err), 0);
    resp_reader_deinit(&r);
}

Test(resp_reader, many_pipelined_replies_reuse_the_arena)
{
    struct resp_reader r;
    struct resp_limits l;
    limits_small(&l);
    struct lw_err err;
    cr_assert(resp_reader_init(&r, &l, &err));
    /* 20,000 XADD replies in 1000-byte pieces; values released after each. */
    static char in[20000 * 24];
    size_t len = 0;
    for (int i = 0; i < 20000; i++) len += (size_t)sprintf(in + len, "$%d\r\n%d-0\r\n", i < 10 ? 3 : i < 100 ? 4 : i < 1000 ? 5 : i < 10000 ? 6 : 7, i);
    int got = 0;
    for (size_t off = 0; off < len; off += 1000) {
        size_t n = len - off < 1000 ? len - off : 1000;
        cr_assert(resp_reader_feed(&r, in + off, n, &err), "%s", err.msg);
        const struct resp_value *v;
        int rc;
        while ((rc = resp_reader_next(&r, &v, &err)) == 1) {
            char want[16];
            snprintf(want, sizeof want, "%d-0", got);
            cr_assert(str_is(v->u.str, want), "reply %d", got);
            got++;
            resp_reader_release(&r);
        }
        cr_assert_eq(rc, 0, "%s", err.msg);
    }
    cr_assert_eq(got, 20000);
    cr_assert_eq(r.capacity_bytes, RESP_ARENA_CHUNK_MIN_BYTES, "one arena block served every reply");
    resp_reader_deinit(&r);
}

Test(resp_reader, a_big_reply_grows_the_arena_then_gives_it_back)
{
    struct resp_reader r;
    struct resp_limits l;
    limits_small(&l);
    struct lw_err err;
    cr_assert(resp_reader_init(&r, &l, &err));
    /* 40 strings of 1 MiB: 40 MiB held, more than RESP_ARENA_RETAIN_BYTES. */
    size_t one = 1 << 20;
    char *s = malloc(one + 32);
    int h = sprintf(s, "$%zu\r\n", one);
    memset(s + h, 'q', one);
    memcpy(s + h + one, "\r\n", 2);
    cr_assert(resp_reader_feed(&r, "*40\r\n", 5, &err));
    for (int i = 0; i < 40; i++) cr_assert(resp_reader_feed(&r, s, (size_t)h + one + 2, &err));
    const struct resp_value *v;
    cr_assert_eq(resp_reader_next(&r, &v, &err), 1, "%s", err.msg);
    cr_assert_eq(v->u.array.count, 40);
    cr_assert_eq(v->u.array.items[39].u.str.len, one);
    cr_assert_gt(r.capacity_bytes, (size_t)40 << 20);
    resp_reader_release(&r);
    cr_assert_leq(r.capacity_bytes, (size_t)RESP_ARENA_RETAIN_BYTES, "the excess is freed");
    cr_assert(resp_reader_feed(&r, "+OK\r\n", 5, &err));
    cr_assert_eq(resp_reader_next(&r, &v, &err), 1);
    cr_assert_eq(v->type, RESP_STATUS);
    free(s);
    resp_reader_deinit(&r);
}

/* The failure `in` produces, at every split point, with limits `l`. */
static struct parsed expect_failure(const struct resp_limits *l, const char *in, size_t len, int code,
                                    const char *msg_part)
{
    struct parsed p = parse_everywhere(l, in, len);
    cr_assert(p.failed, "accepted: %s", p.text);
    cr_assert_eq(p.code, code, "code %d: %s", p.code, p.msg);
    cr_assert_not_null(strstr(p.msg, msg_part), "'%s' not in '%s'", msg_part, p.msg);
    return p;
}

Test(resp_reader, not_resp_is_a_protocol_error)
{
    struct resp_limits l;
    limits_small(&l);
    expect_failure(&l, BYTES("+OK\r\nHTTP/1.1 400 Bad Request\r\n"), RESP_E_PROTOCOL, "got \"H\" as reply type byte");
    expect_failure(&l, BYTES(":12a\r\n"), RESP_E_PROTOCOL, "Bad integer value");
    expect_failure(&l, BYTES("$-2\r\n"), RESP_E_PROTOCOL, "out of range");
    expect_failure(&l, BYTES("*-5\r\n"), RESP_E_PROTOCOL, "out of range");
    expect_failure(&l, BYTES("$x\r\n"), RESP_E_PROTOCOL, "Bad bulk string length");
    /* Good replies before the bad bytes still come out. */
    struct parsed p = parse_everywhere(&l, BYTES("+OK\r\n:1\r\n?"));
    cr_assert(p.failed);
    cr_assert_eq(p.count, 2);
}

Test(resp_reader, nesting_beyond_the_limit_fails)
{
    struct resp_limits l;
    limits_small(&l);
    /* Depth 7 is hiredis's maximum and ours by default. */
    struct parsed ok = parse_everywhere(&l, BYTES("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:7\r\n"));
    cr_assert_not(ok.failed, "%s", ok.msg);
    cr_assert_str_eq(ok.text, "[[[[[[[i7]]]]]]]");
    expect_failure(&l, BYTES("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:8\r\n"), RESP_E_LIMIT,
                   "deeper than 7 arrays");
    l.depth_max = 3;
    expect_failure(&l, BYTES("*1\r\n*1\r\n*1\r\n*1\r\n:4\r\n"), RESP_E_LIMIT, "deeper than 3 arrays");
}

Test(resp_reader, element_limit_fails_before_the_elements_arrive)
{
    struct resp_limits l;
    limits_small(&l);
    l.elements_max = 50;
    /* Declared, never sent: refused on the header. */
    expect_failure(&l, BYTES("*2000000000\r\n"), RESP_E_LIMIT, "2000000000 elements");
    expect_failure(&l, BYTES("*51\r\n"), RESP_E_LIMIT, "element limit");
    /* 49 items + the root = 50: accepted. 10 arrays of 5 = 60: refused. */
    char in[1024];
    size_t n = (size_t)sprintf(in, "*49\r\n");
    for (int i = 0; i < 49; i++) n += (size_t)sprintf(in + n, ":%d\r\n", i);
    struct parsed p = parse_everywhere(&l, in, n);
    cr_assert_not(p.failed, "%s", p.msg);
    n = (size_t)sprintf(in, "*10\r\n");
    for (int i = 0; i < 10; i++) n += (size_t)sprintf(in + n, "*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n");
    expect_failure(&l, in, n, RESP_E_LIMIT, "more than 50 elements");
}

Test(resp_reader, byte_and_line_limits)
{
    struct resp_limits l;
    limits_small(&l);
    l.reply_bytes_max = 64 * 1024;
    l.elements_max = 1000;
    l.line_bytes_max = 1000;
    /* A huge bulk string fails on its length line, before any of its bytes. */
    struct parsed p = expect_failure(&l, BYTES("$1000000000\r\n"), RESP_E_LIMIT, "bulk string of 1000000000 bytes");
    (void)p;
    expect_failure(&l, BYTES("*3\r\n$3\r\nabc\r\n$99999\r\n"), RESP_E_LIMIT, "bulk string of 99999 bytes");
    /* A status line that never ends. */
    static char line[3000];
    line[0] = '+';
    memset(line + 1, 'a', sizeof line - 1);
    expect_failure(&l, line, sizeof line, RESP_E_LIMIT, "line longer than 1000 bytes");
    /* Many small strings adding up past the bytes limit. */
    static char many[200 * 1024];
    size_t n = (size_t)sprintf(many, "*900\r\n");
    for (int i = 0; i < 900; i++) {
        n += (size_t)sprintf(many + n, "$100\r\n");
        memset(many + n, 'b', 100);
        n += 100;
        memcpy(many + n, "\r\n", 2);
        n += 2;
    }
    struct resp_reader r;
    struct lw_err err;
    cr_assert(resp_reader_init(&r, &l, &err));
    cr_assert(resp_reader_feed(&r, many, n, &err) || r.failed);
    const struct resp_value *v;
    cr_assert_eq(resp_reader_next(&r, &v, &err), -1);
    cr_assert_eq(err.code, RESP_E_LIMIT, "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "larger than 65536 bytes"), "%s", err.msg);
    /* Failed for good, until reset. */
    cr_assert_not(resp_reader_feed(&r, "+OK\r\n", 5, &err));
    cr_assert_eq(resp_reader_next(&r, &v, &err), -1);
    cr_assert(resp_reader_reset(&r, &err));
    cr_assert(resp_reader_feed(&r, "+OK\r\n", 5, &err));
    cr_assert_eq(resp_reader_next(&r, &v, &err), 1);
    resp_reader_deinit(&r);
}

Test(resp_reader, limits_are_checked)
{
    struct resp_limits l;
    struct lw_err err;
    limits_small(&l);
    cr_assert(resp_limits_check(&l, &err));
    l.depth_max = 8;
    cr_assert_not(resp_limits_check(&l, &err));
    cr_assert_not_null(strstr(err.msg, "depth_max"));
    limits_small(&l);
    l.reply_bytes_max = 100;
    cr_assert_not(resp_limits_check(&l, &err));
    limits_small(&l);
    l.elements_max = 0;
    cr_assert_not(resp_limits_check(&l, &err));
    struct resp_reader r;
    cr_assert_not(resp_reader_init(&r, &l, &err));
}

/* ------------------------------------------------------------------------- */
/* Error kinds */

Test(resp_errors, kinds_and_codes)
{
    struct one o;
    parse_one(&o, BYTES("-NOGROUP No such key 'orders' or consumer group 'lw' in XREADGROUP with GROUP option\r\n"),
              "XREADGROUP");
    cr_assert_eq(resp_error_kind(o.v), RESP_ERR_NOGROUP);
    cr_assert_eq(o.reply.err.code, REDIS_E_NOGROUP);
    cr_assert(redis_code_is_server(o.reply.err.code));
    cr_assert_eq(redis_code_kind(o.reply.err.code), RESP_ERR_NOGROUP);
    cr_assert_str_eq(o.reply.err.msg, "redis 127.0.0.1:6390: XREADGROUP: NOGROUP No such key 'orders' or consumer "
                                      "group 'lw' in XREADGROUP with GROUP option");
    /* Every typed parser passes the server's error on as it is. */
    struct redis_xread x;
    struct lw_err err;
    cr_assert_not(redis_parse_xread(&o.reply, &x, &err));
    cr_assert_eq(err.code, REDIS_E_NOGROUP);
    cr_assert_str_eq(err.msg, o.reply.err.msg);
    int64_t n;
    cr_assert_not(redis_parse_integer(&o.reply, &n, &err));
    cr_assert_eq(err.code, REDIS_E_NOGROUP);
    one_free(&o);

    const struct {
        const char *text;
        enum resp_error_kind kind;
    } cases[] = {
        { "BUSYGROUP Consumer Group name already exists", RESP_ERR_BUSYGROUP },
        { "WRONGPASS invalid username-password pair or user is disabled.", RESP_ERR_WRONGPASS },
        { "NOAUTH Authentication required.", RESP_ERR_NOAUTH },
        { "NOPERM this user has no permissions to run the 'xack' command", RESP_ERR_NOPERM },
        { "LOADING Redis is loading the dataset in memory", RESP_ERR_LOADING },
        { "READONLY You can't write against a read only replica.", RESP_ERR_READONLY },
        { "EXECABORT Transaction discarded because of previous errors.", RESP_ERR_EXECABORT },
        { "WRONGTYPE Operation against a key holding the wrong kind of value", RESP_ERR_WRONGTYPE },
        { "ERR unknown command 'FOO'", RESP_ERR_ERR },
        { "ERRX odd", RESP_ERR_OTHER },
        { "NOGROUPS", RESP_ERR_OTHER },
        { "OOM", RESP_ERR_OOM },
        { "", RESP_ERR_OTHER },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(resp_error_kind_of(resp_str_c(cases[i].text)), cases[i].kind, "'%s'", cases[i].text);
    cr_assert_str_eq(resp_error_kind_name(RESP_ERR_BUSYGROUP), "BUSYGROUP");
}

Test(resp_errors, server_text_is_made_printable)
{
    struct one o;
    parse_one(&o, BYTES("-ERR bad \x1b[31mred\x01\r\n"), "GET");
    cr_assert_str_eq(o.reply.err.msg, "redis 127.0.0.1:6390: GET: ERR bad ?[31mred?");
    one_free(&o);
}

/* ------------------------------------------------------------------------- */
/* Typed replies */

/* XREADGROUP of two streams: one entry trimmed while pending (nil fields), one with
 * binary field values, one with no fields at all. */
static const char xread_reply[] =
    "*2\r\n"
    "*2\r\n$6\r\norders\r\n"
    "*3\r\n"
    "*2\r\n$15\r\n1700000000000-0\r\n*4\r\n$6\r\nentity\r\n$6\r\norders\r\n$4\r\ndata\r\n$12\r\n{\"id\":1}\r\n\0x\r\n"
    "*2\r\n$15\r\n1700000000000-1\r\n*-1\r\n"
    "*2\r\n$15\r\n1700000000001-0\r\n*0\r\n"
    "*2\r\n$5\r\nusers\r\n"
    "*1\r\n"
    "*2\r\n$3\r\n5-9\r\n*2\r\n$1\r\nk\r\n$0\r\n\r\n";

Test(redis_replies, xreadgroup_with_a_trimmed_entry)
{
    struct one o;
    parse_one(&o, xread_reply, sizeof xread_reply - 1, "XREADGROUP");
    struct redis_xread x;
    struct lw_err err;
    cr_assert(redis_parse_xread(&o.reply, &x, &err), "%s", err.msg);
    cr_assert_eq(x.stream_count, 2);
    cr_assert_eq(x.entry_count, 4);
    cr_assert_eq(x.deleted_count, 1);

    struct resp_str name, f, v;
    struct redis_entries es;
    struct redis_entry e;
    redis_xread_stream(&x, 0, &name, &es);
    cr_assert(str_is(name, "orders"));
    cr_assert_eq(es.count, 3);
    redis_entries_at(&es, 0, &e);
    cr_assert(str_is(e.id_text, "1700000000000-0"));
    cr_assert_eq(e.id.ms, 1700000000000ull);
    cr_assert_eq(e.id.seq, 0);
    cr_assert_not(e.deleted);
    cr_assert_eq(e.field_count, 2);
    redis_entry_field(&e, 1, &f, &v);
    cr_assert(str_is(f, "data"));
    cr_assert_eq(v.len, 12);
    cr_assert(memcmp(v.ptr, "{\"id\":1}\r\n\0x", 12) == 0, "binary-safe value");
    cr_assert(redis_entry_get(&e, "entity", &v) && str_is(v, "orders"));
    cr_assert_not(redis_entry_get(&e, "missing", &v));

    redis_entries_at(&es, 1, &e);
    cr_assert(e.deleted, "nil fields: trimmed while pending");
    cr_assert_eq(e.id.seq, 1);
    cr_assert_eq(e.field_count, 0);

    redis_entries_at(&es, 2, &e);
    cr_assert_not(e.deleted, "an empty field list is not a deleted entry");
    cr_assert_eq(e.field_count, 0);

    redis_xread_stream(&x, 1, &name, &es);
    cr_assert(str_is(name, "users"));
    redis_entries_at(&es, 0, &e);
    cr_assert_eq(e.id.ms, 5);
    cr_assert_eq(e.id.seq, 9);
    redis_entry_field(&e, 0, &f, &v);
    cr_assert(str_is(f, "k") && v.len == 0);
    one_free(&o);
}

Test(redis_replies, xreadgroup_block_timeout_and_empty_pending)
{
    struct one o;
    parse_one(&o, BYTES("*-1\r\n"), "XREADGROUP");
    struct redis_xread x;
    struct lw_err err;
    cr_assert(redis_parse_xread(&o.reply, &x, &err), "%s", err.msg);
    cr_assert_eq(x.stream_count, 0);
    one_free(&o);

    parse_one(&o, BYTES("*1\r\n*2\r\n$1\r\ns\r\n*0\r\n"), "XREADGROUP");
    cr_assert(redis_parse_xread(&o.reply, &x, &err), "%s", err.msg);
    cr_assert_eq(x.stream_count, 1);
    cr_assert_eq(x.entry_count, 0);
    one_free(&o);
}

Test(redis_replies, xreadgroup_shapes_it_never_sends_are_refused)
{
    const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        { ":1\r\n", "an integer, not an array of streams" },
        { "*1\r\n$1\r\ns\r\n", "stream 0 is not a [name, entries] pair" },
        { "*1\r\n*2\r\n$1\r\ns\r\n:3\r\n", "stream 0 ('s'), the entries are an integer" },
        { "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n:5\r\n", "entry 0 (1-0): the fields are an integer" },
        { "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\nabc\r\n*0\r\n", "'abc' is not an entry ID" },
        { "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*1\r\n$1\r\nf\r\n", "odd number" },
        { "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n:1\r\n", "field 0 is an integer" },
        { "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*-1\r\n", "entry 0 is a nil" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct one o;
        parse_one(&o, cases[i].in, strlen(cases[i].in), "XREADGROUP");
        struct redis_xread x;
        struct lw_err err;
        cr_assert_not(redis_parse_xread(&o.reply, &x, &err), "case %zu accepted", i);
        cr_assert_eq(err.code, REDIS_E_SHAPE);
        cr_assert_not_null(strstr(err.msg, cases[i].msg), "case %zu: '%s'", i, err.msg);
        cr_assert_not_null(strstr(err.msg, "redis 127.0.0.1:6390: XREADGROUP: unexpected reply: "), "%s", err.msg);
        one_free(&o);
    }
}

Test(redis_replies, xautoclaim_three_elements)
{
    static const char in[] = "*3\r\n$6\r\n1234-5\r\n"
                             "*1\r\n*2\r\n$3\r\n7-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
                             "*2\r\n$3\r\n3-0\r\n$3\r\n4-1\r\n";
    struct one o;
    parse_one(&o, in, sizeof in - 1, "XAUTOCLAIM");
    struct redis_xautoclaim x;
    struct lw_err err;
    cr_assert(redis_parse_xautoclaim(&o.reply, false, &x, &err), "%s", err.msg);
    cr_assert_eq(x.cursor.ms, 1234);
    cr_assert_eq(x.cursor.seq, 5);
    cr_assert_not(x.complete);
    cr_assert(x.deleted_listed);
    cr_assert_eq(x.deleted_count, 2);
    struct resp_str t;
    struct redis_id id;
    redis_xautoclaim_deleted(&x, 1, &t, &id);
    cr_assert(str_is(t, "4-1") && id.ms == 4 && id.seq == 1);
    cr_assert_eq(x.entries.count, 1);
    struct redis_entry e;
    redis_entries_at(&x.entries, 0, &e);
    cr_assert_eq(e.id.ms, 7);
    struct resp_str v;
    cr_assert(redis_entry_get(&e, "a", &v) && str_is(v, "b"));
    one_free(&o);
}

Test(redis_replies, xautoclaim_two_elements_redis_6_2)
{
    /* 6.2: no deleted list; a deleted entry is a nil in the entries. */
    static const char in[] = "*2\r\n$3\r\n0-0\r\n*2\r\n$-1\r\n*2\r\n$3\r\n9-9\r\n*0\r\n";
    struct one o;
    parse_one(&o, in, sizeof in - 1, "XAUTOCLAIM");
    struct redis_xautoclaim x;
    struct lw_err err;
    cr_assert(redis_parse_xautoclaim(&o.reply, false, &x, &err), "%s", err.msg);
    cr_assert(x.complete, "cursor 0-0");
    cr_assert_not(x.deleted_listed);
    cr_assert_eq(x.deleted_count, 0);
    cr_assert_eq(x.entries.count, 2);
    struct redis_entry e;
    redis_entries_at(&x.entries, 0, &e);
    cr_assert(e.deleted);
    cr_assert_eq(e.id_text.len, 0, "its ID is unknown");
    redis_entries_at(&x.entries, 1, &e);
    cr_assert_not(e.deleted);
    cr_assert_eq(e.id.seq, 9);
    one_free(&o);
}

Test(redis_replies, xautoclaim_justid_and_bad_shapes)
{
    static const char in[] = "*3\r\n$3\r\n0-0\r\n*2\r\n$3\r\n1-1\r\n$3\r\n2-2\r\n*0\r\n";
    struct one o;
    parse_one(&o, in, sizeof in - 1, "XAUTOCLAIM");
    struct redis_xautoclaim x;
    struct lw_err err;
    cr_assert(redis_parse_xautoclaim(&o.reply, true, &x, &err), "%s", err.msg);
    struct redis_entry e;
    redis_entries_at(&x.entries, 1, &e);
    cr_assert(str_is(e.id_text, "2-2") && e.id.seq == 2 && !e.deleted && e.field_count == 0);
    cr_assert_not(redis_parse_xautoclaim(&o.reply, false, &x, &err), "IDs where entries are expected");
    cr_assert_eq(err.code, REDIS_E_SHAPE);
    one_free(&o);

    const char *bad[] = { "*1\r\n$3\r\n0-0\r\n", "*4\r\n$3\r\n0-0\r\n*0\r\n*0\r\n*0\r\n", "*2\r\n$1\r\nx\r\n*0\r\n",
                          "*3\r\n$3\r\n0-0\r\n*0\r\n:1\r\n", "*3\r\n$3\r\n0-0\r\n*0\r\n*1\r\n$2\r\nzz\r\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse_one(&o, bad[i], strlen(bad[i]), "XAUTOCLAIM");
        cr_assert_not(redis_parse_xautoclaim(&o.reply, false, &x, &err), "case %zu", i);
        cr_assert_eq(err.code, REDIS_E_SHAPE, "%s", err.msg);
        one_free(&o);
    }
}

Test(redis_replies, exec_results)
{
    /* MULTI; XACK; HDEL; LPUSH on a stream (fails at run time); EXEC. */
    static const char in[] = "*3\r\n:3\r\n:1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    struct one o;
    parse_one(&o, in, sizeof in - 1, "MULTI/EXEC");
    struct redis_exec x;
    struct lw_err err;
    cr_assert(redis_parse_exec(&o.reply, &x, &err), "%s", err.msg);
    cr_assert_eq(x.count, 3);
    cr_assert_not(x.aborted);
    char name[48];
    struct redis_reply item;
    int64_t n;
    redis_exec_item(&x, 0, "XACK", name, sizeof name, &item);
    cr_assert(redis_parse_integer(&item, &n, &err) && n == 3);
    redis_exec_item(&x, 2, NULL, name, sizeof name, &item);
    cr_assert_not(redis_parse_integer(&item, &n, &err));
    cr_assert_eq(err.code, REDIS_E_WRONGTYPE);
    cr_assert_str_eq(err.msg, "redis 127.0.0.1:6390: EXEC[2]: WRONGTYPE Operation against a key holding the wrong "
                              "kind of value");
    one_free(&o);

    parse_one(&o, BYTES("*-1\r\n"), "MULTI/EXEC");
    cr_assert(redis_parse_exec(&o.reply, &x, &err));
    cr_assert(x.aborted, "nil: a WATCHed key changed");
    one_free(&o);

    parse_one(&o, BYTES("-EXECABORT Transaction discarded because of previous errors.\r\n"), "MULTI/EXEC");
    cr_assert_not(redis_parse_exec(&o.reply, &x, &err));
    cr_assert_eq(err.code, REDIS_E_EXECABORT);
    one_free(&o);
}

Test(redis_replies, simple_replies)
{
    struct one o;
    struct lw_err err;
    bool created;
    parse_one(&o, BYTES("+OK\r\n"), "XGROUP");
    cr_assert(redis_parse_xgroup_create(&o.reply, &created, &err) && created);
    cr_assert(redis_parse_status(&o.reply, NULL, &err));
    cr_assert_not(redis_parse_status(&o.reply, "PONG", &err));
    cr_assert_not_null(strstr(err.msg, "a status 'OK', not +PONG"), "%s", err.msg);
    one_free(&o);

    parse_one(&o, BYTES("-BUSYGROUP Consumer Group name already exists\r\n"), "XGROUP");
    cr_assert(redis_parse_xgroup_create(&o.reply, &created, &err), "BUSYGROUP is success");
    cr_assert_not(created);
    one_free(&o);

    parse_one(&o, BYTES("-ERR The XGROUP subcommand requires the key to exist.\r\n"), "XGROUP");
    cr_assert_not(redis_parse_xgroup_create(&o.reply, &created, &err));
    cr_assert_eq(err.code, REDIS_E_SERVER_ERR);
    one_free(&o);

    struct redis_id id;
    parse_one(&o, BYTES("$15\r\n1700000000000-3\r\n"), "XADD");
    cr_assert(redis_parse_xadd(&o.reply, &id, &err) && id.ms == 1700000000000ull && id.seq == 3);
    one_free(&o);
    parse_one(&o, BYTES("$-1\r\n"), "XADD");
    cr_assert_not(redis_parse_xadd(&o.reply, &id, &err));
    cr_assert_eq(err.code, REDIS_E_SHAPE);
    one_free(&o);

    int64_t n;
    parse_one(&o, BYTES(":0\r\n"), "XACK");
    cr_assert(redis_parse_integer(&o.reply, &n, &err) && n == 0);
    one_free(&o);
    parse_one(&o, BYTES("$1\r\n0\r\n"), "XACK");
    cr_assert_not(redis_parse_integer(&o.reply, &n, &err));
    cr_assert_str_eq(err.msg, "redis 127.0.0.1:6390: XACK: unexpected reply: a bulk string, not an integer");
    one_free(&o);
}

Test(redis_replies, xpending_summary)
{
    static const char in[] = "*4\r\n:5\r\n$3\r\n1-0\r\n$3\r\n9-2\r\n*2\r\n*2\r\n$2\r\nc1\r\n$1\r\n3\r\n"
                             "*2\r\n$2\r\nc2\r\n$1\r\n2\r\n";
    struct one o;
    parse_one(&o, in, sizeof in - 1, "XPENDING");
    struct redis_xpending x;
    struct lw_err err;
    cr_assert(redis_parse_xpending(&o.reply, &x, &err), "%s", err.msg);
    cr_assert_eq(x.count, 5);
    cr_assert_eq(x.min.ms, 1);
    cr_assert_eq(x.max.ms, 9);
    cr_assert_eq(x.max.seq, 2);
    cr_assert_eq(x.consumer_count, 2);
    struct resp_str name;
    uint64_t count;
    redis_xpending_consumer(&x, 1, &name, &count);
    cr_assert(str_is(name, "c2") && count == 2);
    one_free(&o);

    parse_one(&o, BYTES("*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"), "XPENDING");
    cr_assert(redis_parse_xpending(&o.reply, &x, &err), "%s", err.msg);
    cr_assert_eq(x.count, 0);
    cr_assert_eq(x.consumer_count, 0);
    one_free(&o);

    parse_one(&o, BYTES("*4\r\n:1\r\n$3\r\n1-0\r\n$3\r\n1-0\r\n*1\r\n*2\r\n$1\r\nc\r\n$1\r\nx\r\n"), "XPENDING");
    cr_assert_not(redis_parse_xpending(&o.reply, &x, &err));
    cr_assert_eq(err.code, REDIS_E_SHAPE);
    one_free(&o);
}

Test(redis_replies, xpending_extended)
{
    static const char in[] = "*2\r\n*4\r\n$3\r\n1-0\r\n$2\r\nc1\r\n:65000\r\n:7\r\n"
                             "*4\r\n$3\r\n2-5\r\n$2\r\nc2\r\n:0\r\n:1\r\n";
    struct one o;
    parse_one(&o, in, sizeof in - 1, "XPENDING");
    struct redis_pending_list l;
    struct lw_err err;
    cr_assert(redis_parse_xpending_range(&o.reply, &l, &err), "%s", err.msg);
    cr_assert_eq(l.count, 2);
    struct redis_pending_entry e;
    redis_pending_at(&l, 0, &e);
    cr_assert(str_is(e.id_text, "1-0") && str_is(e.consumer, "c1"));
    cr_assert_eq(e.idle_ms, 65000);
    cr_assert_eq(e.deliveries, 7);
    redis_pending_at(&l, 1, &e);
    cr_assert_eq(e.id.seq, 5);
    one_free(&o);

    parse_one(&o, BYTES("*1\r\n*4\r\n$3\r\n1-0\r\n$2\r\nc1\r\n:-1\r\n:7\r\n"), "XPENDING");
    cr_assert_not(redis_parse_xpending_range(&o.reply, &l, &err));
    cr_assert_eq(err.code, REDIS_E_SHAPE);
    one_free(&o);
}

Test(redis_replies, hgetall)
{
    static const char in[] = "*4\r\n$3\r\nc|s\r\n$7\r\n1-0 2-0\r\n$1\r\nz\r\n$0\r\n\r\n";
    struct one o;
    parse_one(&o, in, sizeof in - 1, "HGETALL");
    struct redis_hash h;
    struct lw_err err;
    cr_assert(redis_parse_hash(&o.reply, &h, &err), "%s", err.msg);
    cr_assert_eq(h.pair_count, 2);
    struct resp_str f, v;
    redis_hash_pair(&h, 0, &f, &v);
    cr_assert(str_is(f, "c|s") && str_is(v, "1-0 2-0"));
    cr_assert(redis_hash_get(&h, RESP_STR("z"), &v) && v.len == 0);
    cr_assert_not(redis_hash_get(&h, RESP_STR("c"), &v));
    one_free(&o);

    parse_one(&o, BYTES("*0\r\n"), "HGETALL");
    cr_assert(redis_parse_hash(&o.reply, &h, &err) && h.pair_count == 0);
    one_free(&o);
    parse_one(&o, BYTES("*1\r\n$1\r\na\r\n"), "HGETALL");
    cr_assert_not(redis_parse_hash(&o.reply, &h, &err));
    one_free(&o);
}

Test(redis_replies, a_missing_reply_is_passed_on)
{
    struct redis_reply r;
    redis_reply_failed(&r, "h:1", "XACK", REDIS_E_DISCONNECTED, "no reply: %s", "connection lost");
    cr_assert_null(r.value);
    cr_assert_str_eq(r.err.msg, "redis h:1: XACK: no reply: connection lost");
    int64_t n;
    struct lw_err err;
    cr_assert_not(redis_parse_integer(&r, &n, &err));
    cr_assert_eq(err.code, REDIS_E_DISCONNECTED);
}
