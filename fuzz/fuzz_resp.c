// fuzz-sources: src/resp.c src/redis_cmd.c src/err.c deps/hiredis/read.c deps/hiredis/sds.c
/* fuzz_resp: the RESP reader (hiredis 0.14 + our arena and limits) and every typed
 * reply view on arbitrary bytes, and the encoder round trip.
 *
 * Input: byte 0 = options (bit 0: small limits, bit 1: end with an encoder round
 * trip of the input's tail), byte 1 = seed for the piece sizes, the rest = bytes
 * from the "server". They are parsed twice, whole and in pseudo-random pieces: both
 * runs must produce the same replies (by hash) and end the same way. While a reply
 * is held, the arena and element counts stay within the limits; every reply goes
 * through every typed parser, and every accessor of a successful parse is walked.
 * The round trip: slices of the input encoded as a command must read back as an
 * array of exactly those bulk strings. */
#include "fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "src/redis_cmd.h"
#include "src/resp.h"

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) abort();                                                      \
    } while (0)

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0x100000001b3ull;
}

static uint64_t hash_bytes(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = mix(h, (uint8_t)p[i]);
    return h;
}

/* Hash of a value tree; also checks strings are NUL-terminated and the depth. An
 * explicit stack: no recursion on outside input. */
static uint64_t hash_value(const struct resp_value *root, uint32_t depth_max)
{
    struct frame {
        const struct resp_value *v;
        size_t next;
    } stack[RESP_DEPTH_MAX + 2];
    uint32_t top = 0;
    uint64_t h = 1469598103934665603ull;
    stack[0] = (struct frame){ root, 0 };
    for (;;) {
        struct frame *f = &stack[top];
        const struct resp_value *v = f->v;
        if (f->next == 0) h = mix(h, (uint64_t)v->type);
        if (v->type == RESP_ARRAY && f->next < v->u.array.count) {
            CHECK(top < depth_max);  /* a child array deeper than the limit was refused */
            stack[++top] = (struct frame){ &v->u.array.items[f->next++], 0 };
            continue;
        }
        switch (v->type) {
        case RESP_STRING:
        case RESP_STATUS:
        case RESP_ERROR:
            CHECK(v->u.str.ptr[v->u.str.len] == '\0');
            h = hash_bytes(mix(h, v->u.str.len), v->u.str.ptr, v->u.str.len);
            break;
        case RESP_INTEGER: h = mix(h, (uint64_t)v->u.integer); break;
        case RESP_ARRAY: h = mix(h, v->u.array.count); break;
        case RESP_NIL: break;
        }
        if (top == 0) return h;
        top--;
    }
}

static uint64_t sink;

static void touch(struct resp_str s)
{
    sink = hash_bytes(sink, s.ptr, s.len);
}

static void walk_entries(const struct redis_entries *es)
{
    for (size_t j = 0; j < es->count; j++) {
        struct redis_entry e;
        redis_entries_at(es, j, &e);
        touch(e.id_text);
        CHECK(!e.deleted || e.field_count == 0);
        for (size_t k = 0; k < e.field_count; k++) {
            struct resp_str n, v;
            redis_entry_field(&e, k, &n, &v);
            touch(n);
            touch(v);
        }
        struct resp_str v;
        if (redis_entry_get(&e, "data", &v)) touch(v);
    }
}

/* Every typed parser on one reply; accessors walked after each success. */
static void typed(const struct resp_value *v)
{
    struct redis_reply r;
    struct lw_err err;
    redis_reply_init(&r, v, "fuzz:1", "FUZZ");
    CHECK((r.err.code != 0) == (v->type == RESP_ERROR));

    struct redis_xread x;
    if (redis_parse_xread(&r, &x, &err)) {
        size_t entries = 0;
        for (size_t i = 0; i < x.stream_count; i++) {
            struct resp_str name;
            struct redis_entries es;
            redis_xread_stream(&x, i, &name, &es);
            touch(name);
            walk_entries(&es);
            entries += es.count;
        }
        CHECK(entries == x.entry_count && x.deleted_count <= entries);
    } else {
        CHECK(err.code != 0 && err.msg[0] != '\0');
    }
    for (int justid = 0; justid < 2; justid++) {
        struct redis_xautoclaim c;
        if (redis_parse_xautoclaim(&r, justid != 0, &c, &err)) {
            walk_entries(&c.entries);
            for (size_t k = 0; k < c.deleted_count; k++) {
                struct resp_str t;
                struct redis_id id;
                redis_xautoclaim_deleted(&c, k, &t, &id);
                touch(t);
            }
            CHECK(c.complete == (c.cursor.ms == 0 && c.cursor.seq == 0));
        }
    }
    struct redis_xpending p;
    if (redis_parse_xpending(&r, &p, &err)) {
        for (size_t i = 0; i < p.consumer_count; i++) {
            struct resp_str name;
            uint64_t n;
            redis_xpending_consumer(&p, i, &name, &n);
            touch(name);
        }
    }
    struct redis_pending_list pl;
    if (redis_parse_xpending_range(&r, &pl, &err)) {
        for (size_t i = 0; i < pl.count; i++) {
            struct redis_pending_entry pe;
            redis_pending_at(&pl, i, &pe);
            touch(pe.id_text);
            touch(pe.consumer);
        }
    }
    struct redis_hash h;
    if (redis_parse_hash(&r, &h, &err)) {
        for (size_t i = 0; i < h.pair_count; i++) {
            struct resp_str f, val;
            redis_hash_pair(&h, i, &f, &val);
            touch(f);
            touch(val);
        }
    }
    struct redis_exec e;
    if (redis_parse_exec(&r, &e, &err)) {
        for (size_t i = 0; i < e.count; i++) {
            char name[48];
            struct redis_reply item;
            redis_exec_item(&e, i, "XACK", name, sizeof name, &item);
            int64_t n;
            if (redis_parse_integer(&item, &n, &err)) sink = mix(sink, (uint64_t)n);
            struct redis_xread xi;
            (void)redis_parse_xread(&item, &xi, &err);
        }
    }
    int64_t n;
    (void)redis_parse_integer(&r, &n, &err);
    (void)redis_parse_status(&r, NULL, &err);
    struct redis_id id;
    (void)redis_parse_xadd(&r, &id, &err);
    bool created;
    (void)redis_parse_xgroup_create(&r, &created, &err);
}

struct outcome {
    int replies;
    uint64_t hash;
    bool failed;
    int code;
};

/* Parses `data` in pieces of pseudo-random sizes from `seed` (0: whole). */
static struct outcome run(const struct resp_limits *l, const uint8_t *data, size_t size, uint32_t seed, bool check)
{
    struct outcome out = { 0 };
    struct resp_reader r;
    struct lw_err err;
    CHECK(resp_reader_init(&r, l, &err));
    size_t off = 0;
    uint32_t s = seed;
    while (off < size && !out.failed) {
        size_t n = size - off;
        if (seed != 0) {
            s = s * 1103515245u + 12345u;
            size_t piece = 1 + (s >> 16) % 64;
            if (piece < n) n = piece;
        }
        if (!resp_reader_feed(&r, data + off, n, &err)) CHECK(r.failed);
        off += n;
        for (;;) {
            const struct resp_value *v;
            int rc = resp_reader_next(&r, &v, &err);
            CHECK(r.held_bytes <= l->reply_bytes_max);
            CHECK(r.held_values <= l->elements_max);
            if (rc == 0) break;
            if (rc < 0) {
                CHECK(err.code == RESP_E_PROTOCOL || err.code == RESP_E_LIMIT || err.code == RESP_E_NO_MEMORY);
                CHECK(err.msg[0] != '\0');
                out.failed = true;
                out.code = err.code;
                break;
            }
            out.hash = mix(out.hash, hash_value(v, l->depth_max));
            out.replies++;
            if (check) typed(v);
            resp_reader_release(&r);
        }
    }
    resp_reader_deinit(&r);
    return out;
}

/* Slices of `data` as a command; the encoding must read back as exactly them. */
static void round_trip(const uint8_t *data, size_t size)
{
    struct resp_str args[16];
    uint32_t argc = 0;
    size_t off = 0;
    while (argc < 16 && off < size) {
        size_t n = data[off] % 24;
        off++;
        if (n > size - off) n = size - off;
        args[argc++] = (struct resp_str){ (const char *)data + off, n };
        off += n;
    }
    if (argc == 0) return;
    struct resp_buf b;
    resp_buf_init(&b, 1 << 16);
    resp_cmd_argv(&b, argc, args);
    CHECK(!resp_buf_failed(&b));
    struct resp_limits l;
    resp_limits_default(&l);
    struct resp_reader r;
    struct lw_err err;
    CHECK(resp_reader_init(&r, &l, &err));
    CHECK(resp_reader_feed(&r, resp_buf_data(&b), resp_buf_len(&b), &err));
    const struct resp_value *v;
    CHECK(resp_reader_next(&r, &v, &err) == 1);
    CHECK(v->type == RESP_ARRAY && v->u.array.count == argc);
    for (uint32_t i = 0; i < argc; i++) {
        const struct resp_value *a = &v->u.array.items[i];
        CHECK(a->type == RESP_STRING && a->u.str.len == args[i].len);
        CHECK(args[i].len == 0 || memcmp(a->u.str.ptr, args[i].ptr, args[i].len) == 0);
    }
    CHECK(resp_reader_next(&r, &v, &err) == 0);
    resp_reader_deinit(&r);
    resp_buf_free(&b);
}

LW_FUZZ_ENTRY(resp)
{
    if (size < 2) return 0;
    uint8_t opts = data[0];
    uint32_t seed = data[1] | 0x100u;
    data += 2;
    size -= 2;
    struct resp_limits l;
    resp_limits_default(&l);
    if (opts & 1) {
        l.reply_bytes_max = RESP_REPLY_BYTES_MIN;
        l.elements_max = 40;
        l.depth_max = 3;
        l.line_bytes_max = 64;
    }
    struct outcome whole = run(&l, data, size, 0, true);
    struct outcome pieces = run(&l, data, size, seed, false);
    /* Limits on unparsed bytes are checked where parsing stops for input, so the
     * piece run may hit one where the whole run did not (raw bytes can outweigh
     * their values: integers) or fail on a limit before the protocol error the whole
     * run found. Any other difference is a bug. */
    bool limit_involved = (whole.failed && whole.code == RESP_E_LIMIT) || (pieces.failed && pieces.code == RESP_E_LIMIT);
    if (!limit_involved) {
        CHECK(whole.failed == pieces.failed && whole.code == pieces.code);
        CHECK(whole.replies == pieces.replies);
        CHECK(whole.hash == pieces.hash);
    } else {
        CHECK(whole.failed || pieces.failed);
    }
    if (opts & 2) round_trip(data, size);
    return 0;
}
