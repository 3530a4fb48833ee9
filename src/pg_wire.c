#include "pg_wire.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Byte helpers */

static uint16_t be16(const uint8_t *p) { return (uint16_t)((uint16_t)p[0] << 8 | p[1]); }

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The printable form of a message type for messages: 'T' or 0x07. */
static const char *type_text(uint8_t type, char buf[8])
{
    if (type >= 0x20 && type < 0x7f) snprintf(buf, 8, "'%c'", type);
    else snprintf(buf, 8, "0x%02x", type);
    return buf;
}

/* ------------------------------------------------------------------------- */
/* Frontend messages */

size_t pg_write_ssl_request(uint8_t *out, size_t cap)
{
    if (cap < 8) return 0;
    put_be32(out, 8);
    put_be32(out + 4, PG_SSL_REQUEST_CODE);
    return 8;
}

size_t pg_write_cancel_request(uint8_t *out, size_t cap, uint32_t pid, uint32_t key)
{
    if (cap < 16) return 0;
    put_be32(out, 16);
    put_be32(out + 4, PG_CANCEL_REQUEST_CODE);
    put_be32(out + 8, pid);
    put_be32(out + 12, key);
    return 16;
}

/*   +-----------+-----------+------------------------------------------------+----+
 *   | length    | 196608    | "user" \0 "alice" \0 "database" \0 "db" \0 ... | \0 |
 *   +-----------+-----------+------------------------------------------------+----+ */
size_t pg_write_startup(uint8_t *out, size_t cap, const char *user, const char *database,
                        const char *application_name)
{
    assert(out != NULL && user != NULL && application_name != NULL);
    const char *pairs[][2] = {
        { "user", user },
        { "database", database != NULL ? database : "" },
        { "application_name", application_name },
        { "client_encoding", "UTF8" },
        { "DateStyle", "ISO" },
    };
    size_t n = 8;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (pairs[i][1][0] == '\0') continue;
        n += strlen(pairs[i][0]) + 1 + strlen(pairs[i][1]) + 1;
    }
    n += 1;
    if (n > cap || n > INT32_MAX) return 0;
    put_be32(out, (uint32_t)n);
    put_be32(out + 4, PG_PROTOCOL_3_0);
    size_t o = 8;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (pairs[i][1][0] == '\0') continue;
        for (int j = 0; j < 2; j++) {
            size_t len = strlen(pairs[i][j]) + 1;
            memcpy(out + o, pairs[i][j], len);
            o += len;
        }
    }
    out[o++] = '\0';
    assert(o == n);
    return n;
}

size_t pg_write_message(uint8_t *out, size_t cap, char type, const void *body, size_t n)
{
    assert(out != NULL && (body != NULL || n == 0));
    if (cap < 5 || n > cap - 5 || n > INT32_MAX - 4) return 0;
    out[0] = (uint8_t)type;
    put_be32(out + 1, (uint32_t)(n + 4));
    if (n > 0) memcpy(out + 5, body, n);
    return n + 5;
}

/*   'p' | length | "SCRAM-SHA-256" \0 | int32 n | n bytes of client-first */
size_t pg_write_sasl_initial(uint8_t *out, size_t cap, const char *mechanism, const void *data, size_t n)
{
    assert(out != NULL && mechanism != NULL && (data != NULL || n == 0));
    size_t mlen = strlen(mechanism) + 1;
    if (cap < 5 + mlen + 4 || n > cap - 5 - mlen - 4 || n > INT32_MAX / 2) return 0;
    out[0] = 'p';
    put_be32(out + 1, (uint32_t)(4 + mlen + 4 + n));
    memcpy(out + 5, mechanism, mlen);
    put_be32(out + 5 + mlen, (uint32_t)n);
    if (n > 0) memcpy(out + 9 + mlen, data, n);
    return 9 + mlen + n;
}

/* ------------------------------------------------------------------------- */
/* Output queue */

/* Room for `n` more bytes at the end of the queue, or NULL. */
static uint8_t *out_reserve(struct pg_wire *w, size_t n)
{
    if (w->out_off == w->out_len) w->out_off = w->out_len = 0;
    if (n > w->out_cap - w->out_len) return NULL;
    return w->out + w->out_len;
}

const uint8_t *pg_wire_send_buf(const struct pg_wire *w, size_t *len)
{
    assert(w != NULL && len != NULL);
    *len = w->out_len - w->out_off;
    return w->out + w->out_off;
}

void pg_wire_send_ack(struct pg_wire *w, size_t n)
{
    assert(w != NULL && n <= w->out_len - w->out_off);
    w->out_off += n;
    if (w->out_off == w->out_len) w->out_off = w->out_len = 0;
}

/* ------------------------------------------------------------------------- */
/* Failing */

static void wipe_password(struct pg_wire *w)
{
    pg_auth_wipe(w->password, sizeof w->password);
    w->password_len = 0;
    w->has_password = false;
    pg_auth_wipe(&w->scram, sizeof w->scram);
}

static enum pg_event fail(struct pg_wire *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Moves to PG_WIRE_FAILED with the error; returns PG_EV_FAILED. */
static enum pg_event fail(struct pg_wire *w, int code, const char *fmt, ...)
{
    w->state = PG_WIRE_FAILED;
    w->err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err.msg, sizeof w->err.msg, fmt, ap);
    va_end(ap);
    wipe_password(w);
    return PG_EV_FAILED;
}

static enum pg_event fail_malformed(struct pg_wire *w, uint8_t type, const char *what)
{
    char t[8];
    return fail(w, PG_E_PROTOCOL, "malformed message %s from the server: %s", type_text(type, t), what);
}

/* ------------------------------------------------------------------------- */
/* Init, query, terminate */

static bool name_ok(const char *s, size_t max) { return s == NULL || strlen(s) < max; }

bool pg_wire_init(struct pg_wire *w, const struct pg_wire_config *cfg, uint8_t *msg, size_t msg_cap,
                  uint8_t *out, size_t out_cap, struct lw_err *err)
{
    assert(w != NULL && cfg != NULL && msg != NULL && out != NULL);
    memset(w, 0, sizeof *w);
    w->state = PG_WIRE_FAILED;
    if (msg_cap < PG_WIRE_MESSAGE_BYTES_MIN || msg_cap > PG_WIRE_MESSAGE_BYTES_MAX)
        return lw_err_set(err, PG_E_USAGE, "the message buffer must be %d..%d bytes, not %zu",
                          PG_WIRE_MESSAGE_BYTES_MIN, PG_WIRE_MESSAGE_BYTES_MAX, msg_cap);
    if (out_cap < PG_WIRE_OUT_BYTES_MIN)
        return lw_err_set(err, PG_E_USAGE, "the output buffer must be at least %d bytes", PG_WIRE_OUT_BYTES_MIN);
    if (cfg->user == NULL || cfg->user[0] == '\0')
        return lw_err_set(err, PG_E_USAGE, "no PostgreSQL user name given");
    if (!name_ok(cfg->user, PG_WIRE_NAME_MAX) || !name_ok(cfg->database, PG_WIRE_NAME_MAX) ||
        !name_ok(cfg->application_name, PG_WIRE_NAME_MAX))
        return lw_err_set(err, PG_E_USAGE, "a PostgreSQL user, database or application name is longer than %d bytes",
                          PG_WIRE_NAME_MAX - 1);
    if (cfg->password != NULL) {
        if (cfg->password_len >= PG_WIRE_PASSWORD_MAX)
            return lw_err_set(err, PG_E_USAGE, "the PostgreSQL password is longer than %d bytes", PG_WIRE_PASSWORD_MAX - 1);
        if (memchr(cfg->password, '\0', cfg->password_len) != NULL)
            return lw_err_set(err, PG_E_USAGE, "the PostgreSQL password holds a NUL byte");
        memcpy(w->password, cfg->password, cfg->password_len);
        w->password_len = cfg->password_len;
        w->has_password = true;
    }
    snprintf(w->user, sizeof w->user, "%s", cfg->user);
    pg_base64_encode(cfg->nonce, sizeof cfg->nonce, w->nonce_text);
    w->nonce_text[pg_base64_len(sizeof cfg->nonce)] = '\0';
    w->scram_iterations_max = cfg->scram_iterations_max;
    w->msg = msg;
    w->msg_cap = msg_cap;
    w->out = out;
    w->out_cap = out_cap;
    w->tx_status = 'I';
    w->integer_datetimes = true;   /* the default since PostgreSQL 10; the server says so */
    size_t n = pg_write_startup(out, out_cap, cfg->user, cfg->database,
                                cfg->application_name != NULL ? cfg->application_name : "lakewriter");
    assert(n > 0);   /* names < 256 bytes each always fit in 4096 */
    w->out_len = n;
    w->state = PG_WIRE_STARTUP;
    return true;
}

bool pg_wire_query(struct pg_wire *w, const char *sql, size_t len, struct lw_err *err)
{
    assert(w != NULL && (sql != NULL || len == 0));
    if (w->state != PG_WIRE_READY)
        return lw_err_set(err, PG_E_USAGE, "cannot send a query: the session is in state %s",
                          pg_wire_state_name(w->state));
    if (memchr(sql, '\0', len) != NULL)
        return lw_err_set(err, PG_E_USAGE, "the query holds a NUL byte");
    uint8_t *p = len <= SIZE_MAX - 6 ? out_reserve(w, len + 6) : NULL;
    if (p == NULL)
        return lw_err_set(err, PG_E_USAGE, "the query (%zu bytes) does not fit the %zu-byte output buffer", len,
                          w->out_cap);
    p[0] = 'Q';
    put_be32(p + 1, (uint32_t)(len + 5));
    memcpy(p + 5, sql, len);
    p[5 + len] = '\0';
    w->out_len += len + 6;
    w->state = PG_WIRE_QUERY;
    w->row_description_seen = false;
    w->row_columns = 0;
    w->sqlstate[0] = '\0';
    return true;
}

void pg_wire_terminate(struct pg_wire *w)
{
    assert(w != NULL);
    if (w->state == PG_WIRE_FAILED || w->state == PG_WIRE_TERMINATED) return;
    uint8_t *p = out_reserve(w, 5);
    if (p != NULL) {
        pg_write_message(p, 5, 'X', NULL, 0);
        w->out_len += 5;
    }
    w->state = PG_WIRE_TERMINATED;
    wipe_password(w);
}

enum pg_wire_state pg_wire_state(const struct pg_wire *w) { return w->state; }

/* ------------------------------------------------------------------------- */
/* Cursors over RowDescription and DataRow */

/*   RowDescription: int16 count, then per column:
 *     name \0 | table oid i32 | attnum i16 | type oid i32 | typlen i16 | typmod i32 | format i16 */
static bool check_row_description(const uint8_t *b, size_t n, uint32_t *count)
{
    if (n < 2) return false;
    int16_t c = (int16_t)be16(b);
    if (c < 0) return false;
    size_t o = 2;
    for (int i = 0; i < c; i++) {
        const uint8_t *z = memchr(b + o, '\0', n - o);
        if (z == NULL) return false;
        o = (size_t)(z - b) + 1;
        if (n - o < 18) return false;
        int16_t format = (int16_t)be16(b + o + 16);
        if (format != 0 && format != 1) return false;
        o += 18;
    }
    *count = (uint32_t)c;
    return o == n;
}

bool pg_wire_next_column(struct pg_cursor *c, struct pg_column_desc *out)
{
    assert(c != NULL && out != NULL);
    if (c->left == 0) return false;
    const uint8_t *z = memchr(c->p, '\0', (size_t)(c->end - c->p));
    assert(z != NULL && c->end - z >= 19);   /* validated on arrival */
    out->name = (const char *)c->p;
    const uint8_t *f = z + 1;
    out->table_oid = be32(f);
    out->attnum = (int16_t)be16(f + 4);
    out->type_oid = be32(f + 6);
    out->typlen = (int16_t)be16(f + 10);
    out->typmod = (int32_t)be32(f + 12);
    out->format = (int16_t)be16(f + 16);
    c->p = f + 18;
    c->left--;
    return true;
}

/*   DataRow: int16 count, then per value: int32 length (-1: NULL) and that many bytes */
static bool check_data_row(const uint8_t *b, size_t n, uint32_t *count)
{
    if (n < 2) return false;
    int16_t c = (int16_t)be16(b);
    if (c < 0) return false;
    size_t o = 2;
    for (int i = 0; i < c; i++) {
        if (n - o < 4) return false;
        int32_t len = (int32_t)be32(b + o);
        o += 4;
        if (len == -1) continue;
        if (len < 0 || (size_t)len > n - o) return false;
        o += (size_t)len;
    }
    *count = (uint32_t)c;
    return o == n;
}

bool pg_wire_next_value(struct pg_cursor *c, struct pg_value *out)
{
    assert(c != NULL && out != NULL);
    if (c->left == 0) return false;
    assert(c->end - c->p >= 4);
    int32_t len = (int32_t)be32(c->p);
    c->p += 4;
    if (len == -1) {
        *out = (struct pg_value){ .data = NULL, .len = 0, .null = true };
    } else {
        assert(len >= 0 && c->end - c->p >= len);
        *out = (struct pg_value){ .data = c->p, .len = (size_t)len, .null = false };
        c->p += len;
    }
    c->left--;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Notices and errors */

/* A body of (code byte, string \0)* ending with a 0 byte. */
static bool parse_notice(const uint8_t *b, size_t n, struct pg_notice *out)
{
    static const char empty[] = "";
    *out = (struct pg_notice){ .severity = empty, .message = empty, .detail = empty, .hint = empty,
                               .position = empty, .where = empty, .schema = empty, .table = empty,
                               .column = empty, .constraint = empty };
    const char *severity_s = NULL, *severity_v = NULL;
    size_t o = 0;
    for (;;) {
        if (o >= n) return false;
        uint8_t code = b[o++];
        if (code == 0) break;
        const uint8_t *z = memchr(b + o, '\0', n - o);
        if (z == NULL) return false;
        const char *s = (const char *)(b + o);
        size_t slen = (size_t)(z - (b + o));
        o += slen + 1;
        switch (code) {
        case 'S': severity_s = s; break;
        case 'V': severity_v = s; break;
        case 'C':
            if (slen != 5) return false;
            for (size_t i = 0; i < 5; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z'))) return false;
            memcpy(out->sqlstate, s, 6);
            break;
        case 'M': out->message = s; break;
        case 'D': out->detail = s; break;
        case 'H': out->hint = s; break;
        case 'P': out->position = s; break;
        case 'W': out->where = s; break;
        case 's': out->schema = s; break;
        case 't': out->table = s; break;
        case 'c': out->column = s; break;
        case 'n': out->constraint = s; break;
        default: break;   /* fields added later are skipped, as the protocol asks */
        }
    }
    if (o != n) return false;
    if (severity_v != NULL) out->severity = severity_v;
    else if (severity_s != NULL) out->severity = severity_s;
    return true;
}

void pg_notice_to_err(const struct pg_notice *n, struct lw_err *err)
{
    assert(n != NULL);
    if (err == NULL) return;
    err->code = PG_E_SERVER;
    int k = snprintf(err->msg, sizeof err->msg, "%s %s", n->sqlstate[0] != '\0' ? n->sqlstate : "?????",
                     n->message[0] != '\0' ? n->message : "(no message)");
    size_t used = k < 0 ? 0 : (size_t)k;
    if (n->position[0] != '\0' && used < sizeof err->msg)
        used += (size_t)snprintf(err->msg + used, sizeof err->msg - used, " (at character %s)", n->position);
    if (n->detail[0] != '\0' && used < sizeof err->msg)
        used += (size_t)snprintf(err->msg + used, sizeof err->msg - used, "; detail: %s", n->detail);
    if (n->hint[0] != '\0' && used < sizeof err->msg)
        snprintf(err->msg + used, sizeof err->msg - used, "; hint: %s", n->hint);
}

static bool severity_is_fatal(const char *s) { return strcmp(s, "FATAL") == 0 || strcmp(s, "PANIC") == 0; }

/* ------------------------------------------------------------------------- */
/* Authentication */

static enum pg_event queue_password_message(struct pg_wire *w, const char *text, size_t len)
{
    uint8_t *p = out_reserve(w, len + 6);
    if (p == NULL) return fail(w, PG_E_USAGE, "no room in the output buffer for the password message");
    p[0] = 'p';
    put_be32(p + 1, (uint32_t)(len + 5));
    memcpy(p + 5, text, len);
    p[5 + len] = '\0';
    w->out_len += len + 6;
    w->password_sent = true;
    return PG_EV_NEED_MORE;
}

static enum pg_event need_password(struct pg_wire *w, const char *method)
{
    if (w->password_sent)
        return fail(w, PG_E_PROTOCOL, "the server asked for a password (%s) a second time", method);
    if (!w->has_password)
        return fail(w, PG_E_AUTH,
                    "the server asks for a password (%s authentication of user \"%s\") but none was given: "
                    "put it in the URL, PGPASSWORD or the password file",
                    method, w->user);
    return PG_EV_NEED_MORE;
}

/* AuthenticationSASL: the mechanisms, each \0-terminated, then an empty one. */
static enum pg_event auth_sasl(struct pg_wire *w, const uint8_t *b, size_t n)
{
    bool scram = false;
    char offered[128] = "";
    size_t o = 0;
    for (;;) {
        const uint8_t *z = o < n ? memchr(b + o, '\0', n - o) : NULL;
        if (z == NULL) return fail_malformed(w, 'R', "a SASL mechanism list that does not end");
        size_t len = (size_t)(z - (b + o));
        if (len == 0) break;
        if (len == 13 && memcmp(b + o, "SCRAM-SHA-256", 13) == 0) scram = true;
        size_t have = strlen(offered);
        if (have + len + 3 < sizeof offered)
            snprintf(offered + have, sizeof offered - have, "%s%.*s", have > 0 ? ", " : "", (int)len,
                     (const char *)(b + o));
        o += len + 1;
    }
    if (o + 1 != n) return fail_malformed(w, 'R', "bytes after the SASL mechanism list");
    if (!scram)
        return fail(w, PG_E_AUTH, "the server offers SASL mechanisms (%s) but not SCRAM-SHA-256, the one lakewriter speaks",
                    offered);
    enum pg_event ev = need_password(w, "scram-sha-256");
    if (ev != PG_EV_NEED_MORE) return ev;
    char first[PG_SCRAM_NONCE_TEXT_MAX + 32];
    size_t first_len = 0;
    struct lw_err e;
    if (!pg_scram_client_first(&w->scram, "", w->nonce_text, w->scram_iterations_max, first, sizeof first,
                               &first_len, &e))
        return fail(w, PG_E_AUTH, "%s", e.msg);
    uint8_t *p = out_reserve(w, first_len + 32);
    if (p == NULL) return fail(w, PG_E_USAGE, "no room in the output buffer for SASLInitialResponse");
    size_t k = pg_write_sasl_initial(p, first_len + 32, "SCRAM-SHA-256", first, first_len);
    assert(k > 0);
    w->out_len += k;
    w->password_sent = true;
    return PG_EV_NEED_MORE;
}

static enum pg_event auth_sasl_continue(struct pg_wire *w, const uint8_t *b, size_t n)
{
    if (w->auth_method != PG_AUTH_SCRAM_SHA_256 || w->scram.state != PG_SCRAM_FIRST_SENT)
        return fail(w, PG_E_PROTOCOL, "the server sent SASLContinue out of turn");
    char final[PG_SCRAM_CLIENT_FINAL_MAX];
    size_t final_len = 0;
    struct lw_err e;
    if (!pg_scram_client_final(&w->scram, w->password, w->password_len, b, n, final, sizeof final, &final_len, &e))
        return fail(w, e.code, "%s", e.msg);
    uint8_t *p = out_reserve(w, final_len + 5);
    if (p == NULL) return fail(w, PG_E_USAGE, "no room in the output buffer for SASLResponse");
    pg_write_message(p, final_len + 5, 'p', final, final_len);
    w->out_len += final_len + 5;
    pg_auth_wipe(final, sizeof final);
    return PG_EV_NEED_MORE;
}

static enum pg_event auth_sasl_final(struct pg_wire *w, const uint8_t *b, size_t n)
{
    if (w->auth_method != PG_AUTH_SCRAM_SHA_256 || w->scram.state != PG_SCRAM_FINAL_SENT)
        return fail(w, PG_E_PROTOCOL, "the server sent SASLFinal out of turn");
    struct lw_err e;
    if (!pg_scram_verify_final(&w->scram, b, n, &e)) return fail(w, e.code, "%s", e.msg);
    return PG_EV_NEED_MORE;
}

/*   Authentication ('R'): int32 code, then per code
 *     0 Ok | 3 cleartext | 5 MD5: 4-byte salt | 10 SASL: mechanisms | 11 SASLContinue: data
 *     12 SASLFinal: data | 2, 6, 7, 8, 9: Kerberos, SCM, GSSAPI, SSPI (not supported) */
static enum pg_event on_authentication(struct pg_wire *w, const uint8_t *b, size_t n)
{
    if (n < 4) return fail_malformed(w, 'R', "shorter than its code");
    uint32_t code = be32(b);
    b += 4;
    n -= 4;
    enum pg_event ev;
    switch (code) {
    case 0:
        if (n != 0) return fail_malformed(w, 'R', "AuthenticationOk with a body");
        if (w->auth_method == PG_AUTH_SCRAM_SHA_256 && w->scram.state != PG_SCRAM_DONE)
            return fail(w, PG_E_AUTH,
                        "the server ended SCRAM authentication without proving it knows the password "
                        "(no valid server signature): refusing the session");
        if (w->auth_method == PG_AUTH_NONE) w->auth_method = PG_AUTH_TRUST;
        wipe_password(w);
        w->state = PG_WIRE_STARTING;
        return PG_EV_NEED_MORE;
    case 3:
        if (n != 0) return fail_malformed(w, 'R', "AuthenticationCleartextPassword with a body");
        if ((ev = need_password(w, "password")) != PG_EV_NEED_MORE) return ev;
        w->auth_method = PG_AUTH_CLEARTEXT;
        return queue_password_message(w, w->password, w->password_len);
    case 5: {
        if (n != 4) return fail_malformed(w, 'R', "AuthenticationMD5Password without a 4-byte salt");
        if ((ev = need_password(w, "md5")) != PG_EV_NEED_MORE) return ev;
        w->auth_method = PG_AUTH_MD5;
        char text[PG_MD5_PASSWORD_LEN + 1];
        pg_md5_password(w->user, w->password, w->password_len, b, text);
        ev = queue_password_message(w, text, PG_MD5_PASSWORD_LEN);
        pg_auth_wipe(text, sizeof text);
        return ev;
    }
    case 10:
        if (w->auth_method != PG_AUTH_NONE) return fail(w, PG_E_PROTOCOL, "the server started SASL a second time");
        w->auth_method = PG_AUTH_SCRAM_SHA_256;
        return auth_sasl(w, b, n);
    case 11: return auth_sasl_continue(w, b, n);
    case 12: return auth_sasl_final(w, b, n);
    case 2: case 6: case 7: case 8: case 9: {
        static const char *const names[] = { [2] = "Kerberos V5", [6] = "SCM credential", [7] = "GSSAPI",
                                             [8] = "GSSAPI", [9] = "SSPI" };
        return fail(w, PG_E_AUTH,
                    "the server asks for %s authentication, which lakewriter does not support: use "
                    "scram-sha-256 (or md5, password, trust) for this user in pg_hba.conf",
                    names[code]);
    }
    default:
        return fail(w, PG_E_PROTOCOL, "the server asks for an unknown authentication method (%u)", code);
    }
}

/* ------------------------------------------------------------------------- */
/* Other messages */

/* ParameterStatus: name \0 value \0. Keeps the ones lakewriter reads. */
static enum pg_event on_parameter_status(struct pg_wire *w, const uint8_t *b, size_t n)
{
    const uint8_t *z1 = memchr(b, '\0', n);
    const uint8_t *z2 = z1 != NULL ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - b)) : NULL;
    if (z2 == NULL || (size_t)(z2 + 1 - b) != n) return fail_malformed(w, 'S', "not two strings");
    const char *name = (const char *)b, *value = (const char *)(z1 + 1);
    char *dst = NULL;
    if (strcmp(name, "server_version") == 0) dst = w->server_version;
    else if (strcmp(name, "server_encoding") == 0) dst = w->server_encoding;
    else if (strcmp(name, "client_encoding") == 0) dst = w->client_encoding;
    else if (strcmp(name, "DateStyle") == 0) dst = w->date_style;
    else if (strcmp(name, "TimeZone") == 0) dst = w->time_zone;
    else if (strcmp(name, "integer_datetimes") == 0) w->integer_datetimes = strcmp(value, "on") == 0;
    if (dst != NULL) snprintf(dst, PG_WIRE_PARAM_MAX, "%s", value);
    return PG_EV_NEED_MORE;
}

/* ReadyForQuery: one byte, the transaction status. */
static enum pg_event on_ready(struct pg_wire *w, const uint8_t *b, size_t n)
{
    if (n != 1 || (b[0] != 'I' && b[0] != 'T' && b[0] != 'E'))
        return fail_malformed(w, 'Z', "not one status byte I, T or E");
    w->tx_status = (char)b[0];
    if (w->state == PG_WIRE_STARTING) {
        if (strcmp(w->client_encoding, "UTF8") != 0)
            return fail(w, PG_E_PROTOCOL, "the server did not accept client_encoding=UTF8 (it reports \"%s\")",
                        w->client_encoding);
        if (!w->integer_datetimes)
            return fail(w, PG_E_PROTOCOL, "the server stores dates as floating point (integer_datetimes=off), "
                                          "which lakewriter cannot decode");
    }
    w->state = PG_WIRE_READY;
    return PG_EV_READY;
}

/* CopyOutResponse / CopyInResponse: int8 format, int16 count, count x int16 formats. */
static bool check_copy_response(const uint8_t *b, size_t n, int *format, uint32_t *count)
{
    if (n < 3 || b[0] > 1) return false;
    int16_t c = (int16_t)be16(b + 1);
    if (c < 0 || n != 3 + 2 * (size_t)c) return false;
    for (int i = 0; i < c; i++) {
        uint16_t f = be16(b + 3 + 2 * i);
        if (f > 1 || (b[0] == 0 && f != 0)) return false;
    }
    *format = b[0];
    *count = (uint32_t)c;
    return true;
}

static enum pg_event on_error(struct pg_wire *w, const uint8_t *b, size_t n)
{
    if (!parse_notice(b, n, &w->ev.notice)) return fail_malformed(w, 'E', "bad error fields");
    memcpy(w->sqlstate, w->ev.notice.sqlstate, sizeof w->sqlstate);
    bool fatal = severity_is_fatal(w->ev.notice.severity);
    if (fatal) w->fatal = true;
    if (fatal || w->state < PG_WIRE_READY) {
        struct lw_err e;
        pg_notice_to_err(&w->ev.notice, &e);
        return fail(w, PG_E_SERVER, "%s", e.msg);
    }
    if (w->state == PG_WIRE_COPY_OUT) w->state = PG_WIRE_QUERY;
    return PG_EV_SERVER_ERROR;
}

static enum pg_event on_query_message(struct pg_wire *w, uint8_t type, const uint8_t *b, size_t n)
{
    uint32_t count = 0;
    int format = 0;
    switch (type) {
    case 'T':
        if (!check_row_description(b, n, &count)) return fail_malformed(w, type, "bad RowDescription");
        w->row_columns = count;
        w->row_description_seen = true;
        w->ev.columns.count = count;
        w->ev.columns.cursor = (struct pg_cursor){ .p = b + 2, .end = b + n, .left = count };
        return PG_EV_ROW_DESCRIPTION;
    case 'D':
        if (!check_data_row(b, n, &count)) return fail_malformed(w, type, "bad DataRow");
        if (!w->row_description_seen || count != w->row_columns)
            return fail(w, PG_E_PROTOCOL, "the server sent a DataRow of %u values for %u described columns", count,
                        w->row_columns);
        w->ev.values.count = count;
        w->ev.values.cursor = (struct pg_cursor){ .p = b + 2, .end = b + n, .left = count };
        return PG_EV_DATA_ROW;
    case 'C':
        if (n == 0 || memchr(b, '\0', n) != b + n - 1) return fail_malformed(w, type, "not one string");
        w->row_description_seen = false;
        w->ev.tag = (const char *)b;
        return PG_EV_COMMAND_COMPLETE;
    case 'I':
        if (n != 0) return fail_malformed(w, type, "EmptyQueryResponse with a body");
        return PG_EV_EMPTY_QUERY;
    case 'H':
        if (!check_copy_response(b, n, &format, &count)) return fail_malformed(w, type, "bad CopyOutResponse");
        w->state = PG_WIRE_COPY_OUT;
        w->ev.copy.format = format;
        w->ev.copy.columns = count;
        return PG_EV_COPY_OUT;
    case 'G': {
        if (!check_copy_response(b, n, &format, &count)) return fail_malformed(w, type, "bad CopyInResponse");
        static const char reason[] = "lakewriter does not send COPY FROM STDIN data";
        uint8_t *p = out_reserve(w, sizeof reason + 5);
        if (p == NULL) return fail(w, PG_E_USAGE, "no room in the output buffer for CopyFail");
        w->out_len += pg_write_message(p, sizeof reason + 5, 'f', reason, sizeof reason);
        return PG_EV_NEED_MORE;
    }
    case 'c':
        if (n != 0) return fail_malformed(w, type, "CopyDone with a body");
        w->state = PG_WIRE_QUERY;
        return PG_EV_COPY_DONE;
    case 'Z': return on_ready(w, b, n);
    default: break;
    }
    assert(!"a type let through by type_allowed");
    return fail(w, PG_E_PROTOCOL, "internal: unhandled message");
}

/* NotificationResponse: int32 pid, channel \0, payload \0 (LISTEN is never used). */
static bool check_notification(const uint8_t *b, size_t n)
{
    if (n < 6) return false;
    const uint8_t *z1 = memchr(b + 4, '\0', n - 4);
    const uint8_t *z2 = z1 != NULL ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - b)) : NULL;
    return z2 != NULL && (size_t)(z2 + 1 - b) == n;
}

/* Whether a message of `type` may arrive in the current state: checked on its header,
 * so that a peer that is not PostgreSQL is named as such before its "length" is
 * believed. */
static bool type_allowed(enum pg_wire_state s, uint8_t type)
{
    if (type == 'E' || type == 'N' || type == 'S' || type == 'A') return true;
    switch (s) {
    case PG_WIRE_STARTUP:
    case PG_WIRE_AUTH: return type == 'R' || type == 'v';
    case PG_WIRE_STARTING: return type == 'K' || type == 'Z';
    case PG_WIRE_QUERY: return strchr("TDCIHGZ", type) != NULL && type != 0;
    case PG_WIRE_COPY_OUT: return type == 'd' || type == 'c';
    default: return false;
    }
}

static enum pg_event on_message(struct pg_wire *w, uint8_t type, const uint8_t *b, size_t n)
{
    switch (type) {
    case 'E': return on_error(w, b, n);
    case 'N':
        if (!parse_notice(b, n, &w->ev.notice)) return fail_malformed(w, type, "bad notice fields");
        return PG_EV_NOTICE;
    case 'S': return on_parameter_status(w, b, n);
    case 'A':
        if (!check_notification(b, n)) return fail_malformed(w, type, "bad NotificationResponse");
        return PG_EV_NEED_MORE;
    default: break;
    }
    switch (w->state) {
    case PG_WIRE_STARTUP:
    case PG_WIRE_AUTH:
        w->state = PG_WIRE_AUTH;
        if (type == 'v')
            return fail(w, PG_E_PROTOCOL, "the server does not speak protocol 3.0 as asked (NegotiateProtocolVersion)");
        return on_authentication(w, b, n);
    case PG_WIRE_STARTING:
        if (type == 'K') {
            if (n != 8) return fail_malformed(w, type, "BackendKeyData not 8 bytes");
            w->backend_pid = be32(b);
            w->backend_key = be32(b + 4);
            return PG_EV_NEED_MORE;
        }
        return on_ready(w, b, n);
    case PG_WIRE_QUERY:
    case PG_WIRE_COPY_OUT: return on_query_message(w, type, b, n);
    default: break;
    }
    assert(!"a state let through by type_allowed");
    return fail(w, PG_E_PROTOCOL, "internal: message in state %s", pg_wire_state_name(w->state));
}

/* ------------------------------------------------------------------------- */
/* Feeding */

static enum pg_event on_header(struct pg_wire *w)
{
    char t[8];
    uint8_t type = w->head[0];
    uint32_t length = be32(w->head + 1);
    if (!type_allowed(w->state, type)) {
        if (w->state == PG_WIRE_STARTUP)
            return fail(w, PG_E_PROTOCOL, "the server did not answer like PostgreSQL (first byte %s): is this the "
                                          "right port?", type_text(type, t));
        if (w->state == PG_WIRE_READY)
            return fail(w, PG_E_PROTOCOL, "the server sent message %s while the session was idle",
                        type_text(type, t));
        return fail(w, PG_E_PROTOCOL, "unexpected message %s from the server in state %s", type_text(type, t),
                    pg_wire_state_name(w->state));
    }
    if (length < 4) return fail(w, PG_E_PROTOCOL, "message %s from the server with a length of %u", type_text(type, t), length);
    w->type = type;
    w->body_len = length - 4;
    if (type == 'd') return PG_EV_NEED_MORE;   /* streamed, any length */
    if (w->body_len > w->msg_cap)
        return fail(w, PG_E_TOO_LARGE, "message %s from the server is %zu bytes, over the limit of %zu "
                                       "(pg message_bytes_max)", type_text(type, t), w->body_len, w->msg_cap);
    return PG_EV_NEED_MORE;
}

enum pg_event pg_wire_feed(struct pg_wire *w, const uint8_t *data, size_t len, size_t *used)
{
    assert(w != NULL && used != NULL && (data != NULL || len == 0));
    *used = 0;
    if (w->state == PG_WIRE_FAILED) return PG_EV_FAILED;
    if (w->state == PG_WIRE_TERMINATED) {
        *used = len;   /* whatever the server still says is of no interest */
        return PG_EV_NEED_MORE;
    }
    size_t pos = 0;
    for (;;) {
        if (w->copy_left > 0) {
            if (pos == len) break;
            size_t take = len - pos;
            if (take > w->copy_left) take = (size_t)w->copy_left;
            w->copy_left -= take;
            w->ev.data.ptr = data + pos;
            w->ev.data.len = take;
            w->ev.data.message_end = w->copy_left == 0;
            *used = pos + take;
            return PG_EV_COPY_DATA;
        }
        if (w->head_len < 5) {
            while (w->head_len < 5 && pos < len) w->head[w->head_len++] = data[pos++];
            if (w->head_len < 5) break;
            w->msg_len = 0;
            if (on_header(w) == PG_EV_FAILED) {
                *used = pos;
                return PG_EV_FAILED;
            }
            if (w->type == 'd') {
                w->head_len = 0;
                w->copy_left = w->body_len;
                continue;
            }
        }
        const uint8_t *body;
        if (w->msg_len == 0 && len - pos >= w->body_len) {
            body = data + pos;   /* whole in the input: no copy */
            pos += w->body_len;
        } else {
            size_t take = w->body_len - w->msg_len;
            if (take > len - pos) take = len - pos;
            if (take > 0) memcpy(w->msg + w->msg_len, data + pos, take);
            w->msg_len += take;
            pos += take;
            if (w->msg_len < w->body_len) break;
            body = w->msg;
        }
        w->head_len = 0;
        w->msg_len = 0;
        enum pg_event ev = on_message(w, w->type, body, w->body_len);
        if (ev != PG_EV_NEED_MORE) {
            *used = pos;
            return ev;
        }
        if (w->state == PG_WIRE_TERMINATED) break;
    }
    *used = len;
    return PG_EV_NEED_MORE;
}

/* ------------------------------------------------------------------------- */
/* Names */

bool pg_tag_rows(const char *tag, uint64_t *rows)
{
    assert(tag != NULL && rows != NULL);
    const char *sp = strrchr(tag, ' ');
    if (sp == NULL || sp[1] == '\0') return false;
    uint64_t v = 0;
    for (const char *p = sp + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *rows = v;
    return true;
}

const char *pg_auth_method_name(enum pg_auth_method m)
{
    switch (m) {
    case PG_AUTH_NONE: return "none";
    case PG_AUTH_TRUST: return "trust";
    case PG_AUTH_CLEARTEXT: return "password";
    case PG_AUTH_MD5: return "md5";
    case PG_AUTH_SCRAM_SHA_256: return "scram-sha-256";
    }
    return "?";
}

const char *pg_wire_state_name(enum pg_wire_state s)
{
    switch (s) {
    case PG_WIRE_STARTUP: return "startup";
    case PG_WIRE_AUTH: return "authentication";
    case PG_WIRE_STARTING: return "starting";
    case PG_WIRE_READY: return "ready";
    case PG_WIRE_QUERY: return "query";
    case PG_WIRE_COPY_OUT: return "copy out";
    case PG_WIRE_TERMINATED: return "terminated";
    case PG_WIRE_FAILED: return "failed";
    }
    return "?";
}
