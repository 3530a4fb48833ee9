// fuzz-sources: src/pg_wire.c src/pg_auth.c src/pg_copy.c src/pg_types.c src/err.c s3/sha256.c
/* fuzz_pg: the PostgreSQL client core on arbitrary bytes: backend messages (pg_wire),
 * the binary COPY stream (pg_copy) with every value decoder (pg_types) on its fields,
 * and the SCRAM server messages (pg_auth).
 *
 * Input: byte 0 = mode and options, byte 1 = seed for the piece sizes, the rest = the
 * bytes. Modes (byte 0 & 3):
 *   0  backend messages after the StartupMessage; bit 2: a canned login first, so the
 *      bytes meet the query states; bit 3: no password configured. Each ReadyForQuery
 *      sends the next query (the server decides what comes back).
 *   1  a binary COPY stream; bit 2: expect 3 fields per tuple; each field also goes
 *      through every value decoder.
 *   2  SCRAM: server-first and server-final, split at byte 2 of the input.
 *   3  the value decoders on the whole input.
 * Streams are fed whole and in pseudo-random pieces: both runs must end the same way
 * (events, bytes sent, state, error), every slice handed out must lie in the input or
 * the decoder's own buffer, and no decoder may read outside its input (ASan). */
#include "fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "pg_auth.h"
#include "pg_copy.h"
#include "pg_types.h"
#include "pg_wire.h"

static void check(bool ok)
{
    if (!ok) __builtin_trap();
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ull; }

static uint64_t mix_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = mix(h, b[i]);
    return h;
}

static bool inside(const void *p, size_t n, const void *base, size_t len)
{
    const uint8_t *q = p, *b = base;
    return q >= b && q + n <= b + len;
}

/* The next piece size: the rest when seed is 0, else 1..31 bytes. */
static size_t piece(uint32_t *seed, size_t rest)
{
    if (*seed == 0) return rest;
    *seed = *seed * 1103515245u + 12345u;
    size_t n = 1 + (*seed >> 16) % 31;
    return n < rest ? n : rest;
}

/* ------------------------------------------------------------------------- */
/* Values */

static char numeric_text[PG_NUMERIC_TEXT_MAX];

static uint64_t values(const uint8_t *p, size_t n, uint64_t h)
{
    bool b;
    int16_t i2;
    int32_t i4;
    int64_t i8;
    uint32_t u4;
    float f4;
    double f8;
    uint8_t u[16];
    enum pg_val_special sp;
    h = mix(h, pg_val_bool(p, n, &b));
    h = mix(h, pg_val_int2(p, n, &i2));
    h = mix(h, pg_val_int4(p, n, &i4));
    h = mix(h, pg_val_int8(p, n, &i8));
    h = mix(h, pg_val_oid(p, n, &u4));
    h = mix(h, pg_val_float4(p, n, &f4));
    h = mix(h, pg_val_float8(p, n, &f8));
    h = mix(h, pg_val_uuid(p, n, u));
    h = mix(h, pg_val_date(p, n, &i4, &sp));
    h = mix(h, pg_val_timestamp(p, n, &i8, &sp));
    h = mix(h, pg_val_time(p, n, &i8));
    const uint8_t *t;
    size_t tl;
    if (pg_val_jsonb(p, n, &t, &tl) == PG_VAL_OK) check(inside(t, tl, p, n));
    size_t len = 0;
    enum pg_val_error e = pg_val_numeric_text(p, n, numeric_text, sizeof numeric_text, &len, &sp);
    if (e == PG_VAL_OK) {
        check(len < sizeof numeric_text && strlen(numeric_text) == len);
        h = mix_bytes(h, numeric_text, len);
        /* the scaled form agrees with the text where both exist */
        __int128 v;
        enum pg_val_special sp2;
        if (pg_val_numeric_scaled(p, n, 38, 6, &v, &sp2) == PG_VAL_OK) check(sp2 == PG_VAL_FINITE && sp == sp2);
    }
    char small[8];
    (void)pg_val_numeric_text(p, n, small, sizeof small, &len, &sp);
    for (int s = 0; s <= 4; s++) {
        __int128 v;
        h = mix(h, pg_val_numeric_scaled(p, n, 18, s, &v, &sp));
    }
    struct pg_array a;
    if (pg_val_array_open(p, n, 0, 100000, &a) == PG_VAL_OK) {
        check(a.ndim <= PG_ARRAY_DIMS_MAX && a.count <= 100000);
        uint64_t count = 0;
        const uint8_t *d;
        size_t dl;
        bool null;
        while (pg_val_array_next(&a, &d, &dl, &null)) {
            check(null ? d == NULL : inside(d, dl, p, n));
            if (!null && count < 16) h = values(d, dl, h);   /* elements: decoded too (bounded) */
            count++;
        }
        check(count == a.count);
    }
    return h;
}

/* ------------------------------------------------------------------------- */
/* Backend messages */

struct wire_outcome {
    uint64_t events, sent, state;
    char err[LW_ERR_MSG_MAX];
};

static uint8_t wire_msg[PG_WIRE_MESSAGE_BYTES_MIN];
static uint8_t wire_out[8192];
static struct pg_wire wire;

static const char *const QUERIES[] = { "SELECT 1", "COPY t TO STDOUT (FORMAT binary)", "", "SELECT 1; SELECT 2" };

/* Takes what the client sends, acknowledged in two steps; the hash covers the bytes
 * in order, so it does not depend on how they were split. */
static uint64_t take_output(struct pg_wire *w, uint64_t h)
{
    size_t n;
    const uint8_t *p = pg_wire_send_buf(w, &n);
    check(n <= sizeof wire_out);
    h = mix_bytes(h, p, n / 2);
    pg_wire_send_ack(w, n / 2);
    p = pg_wire_send_buf(w, &n);
    h = mix_bytes(h, p, n);
    pg_wire_send_ack(w, n);
    return h;
}

static uint64_t wire_event(struct pg_wire *w, enum pg_event ev, const uint8_t *in, size_t in_len, uint64_t h,
                           unsigned *query)
{
    if (ev != PG_EV_COPY_DATA) h = mix(h, ev);
    struct pg_column_desc col;
    struct pg_value v;
    uint32_t n = 0;
    switch (ev) {
    case PG_EV_READY:
        h = mix(h, (uint8_t)w->tx_status);
        if (*query < 8) {
            const char *q = QUERIES[*query % 4];
            (*query)++;
            struct lw_err e;
            check(pg_wire_query(w, q, strlen(q), &e));
        }
        break;
    case PG_EV_ROW_DESCRIPTION:
        while (pg_wire_next_column(&w->ev.columns.cursor, &col)) {
            check(inside(col.name, strlen(col.name) + 1, in, in_len) ||
                  inside(col.name, strlen(col.name) + 1, wire_msg, sizeof wire_msg));
            h = mix(h, col.type_oid);
            n++;
        }
        check(n == w->ev.columns.count);
        break;
    case PG_EV_DATA_ROW:
        while (pg_wire_next_value(&w->ev.values.cursor, &v)) {
            check(v.null || inside(v.data, v.len, in, in_len) || inside(v.data, v.len, wire_msg, sizeof wire_msg));
            if (!v.null) h = mix_bytes(h, v.data, v.len);
            n++;
        }
        check(n == w->ev.values.count);
        break;
    case PG_EV_COMMAND_COMPLETE: {
        uint64_t rows;
        h = mix_bytes(h, w->ev.tag, strlen(w->ev.tag));
        if (pg_tag_rows(w->ev.tag, &rows)) h = mix(h, rows);
        break;
    }
    case PG_EV_COPY_DATA:
        /* only the bytes: their hash is the same however the slices fell */
        check(w->ev.data.len > 0 || w->ev.data.message_end);
        check(inside(w->ev.data.ptr, w->ev.data.len, in, in_len));
        return mix_bytes(h, w->ev.data.ptr, w->ev.data.len);
    case PG_EV_NOTICE:
    case PG_EV_SERVER_ERROR: {
        struct lw_err e;
        pg_notice_to_err(&w->ev.notice, &e);
        check(strlen(e.msg) < sizeof e.msg);
        h = mix_bytes(h, e.msg, strlen(e.msg));
        break;
    }
    default: break;
    }
    return h;
}

static void wire_run(const uint8_t *data, size_t len, uint8_t opts, uint32_t seed, struct wire_outcome *o)
{
    struct pg_wire_config cfg = { .user = "fuzz", .database = "db", .password = "pw", .password_len = 2,
                                  .scram_iterations_max = 64 };
    if (opts & 8) cfg.password = NULL, cfg.password_len = 0;
    struct lw_err e;
    check(pg_wire_init(&wire, &cfg, wire_msg, sizeof wire_msg, wire_out, sizeof wire_out, &e));
    memset(o, 0, sizeof *o);
    uint64_t sent = take_output(&wire, 14695981039346656037ull);
    uint64_t h = 14695981039346656037ull;
    uint64_t events = 0;
    unsigned query = 0;
    static const uint8_t login[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0,
                                     'S', 0, 0, 0, 25, 'c', 'l', 'i', 'e', 'n', 't', '_', 'e', 'n', 'c', 'o',
                                     'd', 'i', 'n', 'g', 0, 'U', 'T', 'F', '8', 0,
                                     'Z', 0, 0, 0, 5, 'I' };
    bool failed = false;
    for (int part = (opts & 4) ? 0 : 1; part < 2 && !failed; part++) {
        const uint8_t *src = part == 0 ? login : data;
        size_t src_len = part == 0 ? sizeof login : len;
        size_t at = 0;
        while (at < src_len && !failed) {
            size_t n = part == 0 ? src_len : piece(&seed, src_len - at);
            const uint8_t *p = src + at, *end = p + n;
            for (int guard = 0;; guard++) {
                check(guard < 1000000);
                size_t used = 0;
                enum pg_event ev = pg_wire_feed(&wire, p, (size_t)(end - p), &used);
                check(used <= (size_t)(end - p));
                sent = take_output(&wire, sent);
                if (ev == PG_EV_NEED_MORE) {
                    check(used == (size_t)(end - p));
                    break;
                }
                if (ev != PG_EV_COPY_DATA) events++;
                h = wire_event(&wire, ev, p, (size_t)(end - p), h, &query);
                sent = take_output(&wire, sent);
                p += used;
                if (ev == PG_EV_FAILED) {
                    check(pg_wire_state(&wire) == PG_WIRE_FAILED && wire.err.code != 0);
                    failed = true;
                    break;
                }
            }
            at += n;
        }
    }
    o->events = mix(h, events);
    o->sent = sent;
    o->state = pg_wire_state(&wire);
    if (failed) memcpy(o->err, wire.err.msg, sizeof o->err);
    pg_wire_terminate(&wire);
}

/* Whole and cut runs: the same events (COPY bytes hashed as one stream), the same
 * bytes sent, the same end. */
static void fuzz_wire(const uint8_t *data, size_t len, uint8_t opts, uint32_t seed)
{
    struct wire_outcome whole, cut;
    wire_run(data, len, opts, 0, &whole);
    wire_run(data, len, opts, seed | 1u, &cut);
    check(whole.events == cut.events);
    check(whole.sent == cut.sent);
    check(whole.state == cut.state);
    check(strcmp(whole.err, cut.err) == 0);
}

/* ------------------------------------------------------------------------- */
/* Binary COPY */

struct copy_outcome {
    uint64_t hash, rows, offset;
    enum pg_copy_state state;
    bool finished;
    char err[LW_ERR_MSG_MAX];
};

static uint8_t copy_buf[256];

static void copy_run(const uint8_t *data, size_t len, uint8_t opts, uint32_t seed, bool decode,
                     struct copy_outcome *o)
{
    struct pg_copy d;
    pg_copy_init(&d, copy_buf, sizeof copy_buf);
    if (opts & 4) pg_copy_expect_fields(&d, 3);
    memset(o, 0, sizeof *o);
    uint64_t h = 14695981039346656037ull;
    size_t at = 0;
    bool stop = false;
    while (at < len && !stop) {
        size_t n = piece(&seed, len - at);
        const uint8_t *p = data + at, *end = p + n;
        for (int guard = 0;; guard++) {
            check(guard < 1000000);
            size_t used = 0;
            struct pg_copy_field f;
            enum pg_copy_event ev = pg_copy_feed(&d, p, (size_t)(end - p), &used, &f);
            check(used <= (size_t)(end - p));
            h = mix(h, ev);
            if (ev == PG_COPY_FIELD) {
                check(f.null ? f.data == NULL : (inside(f.data, f.len, p, (size_t)(end - p)) ||
                                                 inside(f.data, f.len, copy_buf, sizeof copy_buf)));
                check(f.index < d.field_count);
                h = mix(h, f.index);
                if (!f.null) {
                    h = mix_bytes(h, f.data, f.len);
                    if (decode) {
                        uint8_t *exact = malloc(f.len > 0 ? f.len : 1);   /* ASan sees reads past it */
                        if (exact != NULL) {
                            memcpy(exact, f.data, f.len);
                            h = values(exact, f.len, h);
                            free(exact);
                        }
                    }
                }
            }
            if (ev == PG_COPY_ROW) h = mix(h, d.field_count);
            p += used;
            if (ev == PG_COPY_NEED_MORE) break;
            if (ev == PG_COPY_ERROR) {
                stop = true;
                break;
            }
        }
        at += n;
    }
    struct lw_err e = { 0 };
    o->finished = pg_copy_finish(&d, &e);
    if (!o->finished) memcpy(o->err, e.msg, sizeof o->err);
    o->hash = h;
    o->rows = d.rows;
    o->offset = d.offset;
    o->state = d.state;
}

static void fuzz_copy(const uint8_t *data, size_t len, uint8_t opts, uint32_t seed)
{
    struct copy_outcome whole, cut;
    copy_run(data, len, opts, 0, true, &whole);
    copy_run(data, len, opts, seed | 1u, false, &cut);
    check(whole.rows == cut.rows && whole.offset == cut.offset && whole.state == cut.state);
    check(whole.finished == cut.finished && strcmp(whole.err, cut.err) == 0);
}

/* ------------------------------------------------------------------------- */
/* SCRAM */

static void fuzz_scram(const uint8_t *data, size_t len)
{
    struct pg_scram_server_first sf;
    struct lw_err e;
    if (pg_scram_parse_server_first(data, len, &sf, &e)) {
        check(inside(sf.nonce, sf.nonce_len, data, len) && sf.salt_len > 0 && sf.iterations > 0);
    }
    size_t split = len > 0 ? data[0] % (len + 1) : 0;
    struct pg_scram s;
    char out[PG_SCRAM_CLIENT_FINAL_MAX];
    size_t n;
    check(pg_scram_client_first(&s, "fuzz", "abc", 64, out, sizeof out, &n, &e));
    /* A nonce that extends "abc" keeps the fuzzer close to the real exchange. */
    if (pg_scram_client_final(&s, "pw", 2, data, split, out, sizeof out, &n, &e)) {
        check(n <= sizeof out && s.state == PG_SCRAM_FINAL_SENT);
        bool ok = pg_scram_verify_final(&s, data + split, len - split, &e);
        check(ok == (s.state == PG_SCRAM_DONE));
    } else {
        check(s.state == PG_SCRAM_FAILED && e.code != 0);
    }
    uint8_t dec[256];
    size_t dl;
    (void)pg_base64_decode((const char *)data, len, dec, sizeof dec, &dl);
}

LW_FUZZ_ENTRY(pg)
{
    if (size < 2) return 0;
    uint8_t opts = data[0];
    uint32_t seed = data[1];
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    switch (opts & 3) {
    case 0: fuzz_wire(p, n, opts, seed); break;
    case 1: fuzz_copy(p, n, opts, seed); break;
    case 2: fuzz_scram(p, n); break;
    case 3: (void)values(p, n, 0); break;
    }
    return 0;
}
