/* redis_cmd: command encoders and typed reply views. See redis_cmd.h. */
#include "redis_cmd.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool redis_code_is_server(int code)
{
    return code >= REDIS_E_SERVER && code < REDIS_E_SERVER_END_;
}

enum resp_error_kind redis_code_kind(int code)
{
    return redis_code_is_server(code) ? (enum resp_error_kind)(code - REDIS_E_SERVER) : RESP_ERR_OTHER;
}

/* ------------------------------------------------------------------------- */
/* IDs */

/* Decimal digits into a uint64; false on overflow or no digit. */
static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool redis_id_parse(struct resp_str text, bool allow_ms_only, struct redis_id *out)
{
    const char *dash = text.len > 0 ? memchr(text.ptr, '-', text.len) : NULL;
    struct redis_id id = { 0, 0 };
    if (dash == NULL) {
        if (!allow_ms_only || !parse_u64(text.ptr, text.len, &id.ms)) return false;
    } else {
        size_t a = (size_t)(dash - text.ptr);
        if (!parse_u64(text.ptr, a, &id.ms) || !parse_u64(dash + 1, text.len - a - 1, &id.seq)) return false;
    }
    *out = id;
    return true;
}

size_t redis_id_format(struct redis_id id, char out[REDIS_ID_TEXT_MAX])
{
    int n = snprintf(out, REDIS_ID_TEXT_MAX, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
    assert(n > 0 && n < REDIS_ID_TEXT_MAX);
    return (size_t)n;
}

int redis_id_compare(struct redis_id a, struct redis_id b)
{
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Encoders */

void redis_cmd_ping(struct resp_buf *b)
{
    resp_cmd_begin(b, 1);
    resp_cmd_arg_cstr(b, "PING");
}

void redis_cmd_auth(struct resp_buf *b, struct resp_str user, struct resp_str password)
{
    resp_cmd_begin(b, user.len > 0 ? 3 : 2);
    resp_cmd_arg_cstr(b, "AUTH");
    if (user.len > 0) resp_cmd_arg_str(b, user);
    resp_cmd_arg_str(b, password);
}

void redis_cmd_select(struct resp_buf *b, uint32_t db)
{
    resp_cmd_begin(b, 2);
    resp_cmd_arg_cstr(b, "SELECT");
    resp_cmd_arg_u64(b, db);
}

void redis_cmd_xgroup_create(struct resp_buf *b, struct resp_str stream, struct resp_str group,
                             struct resp_str start_id, bool mkstream)
{
    resp_cmd_begin(b, mkstream ? 6 : 5);
    resp_cmd_arg_cstr(b, "XGROUP");
    resp_cmd_arg_cstr(b, "CREATE");
    resp_cmd_arg_str(b, stream);
    resp_cmd_arg_str(b, group);
    resp_cmd_arg_str(b, start_id);
    if (mkstream) resp_cmd_arg_cstr(b, "MKSTREAM");
}

void redis_cmd_xreadgroup(struct resp_buf *b, const struct redis_xreadgroup_args *a)
{
    assert(a->stream_count >= 1 && a->stream_count <= (UINT32_MAX - 16) / 2);
    uint32_t argc = 4 + (a->count > 0 ? 2 : 0) + (a->block_ms >= 0 ? 2 : 0) + (a->noack ? 1 : 0) + 1 +
                    2 * a->stream_count;
    resp_cmd_begin(b, argc);
    resp_cmd_arg_cstr(b, "XREADGROUP");
    resp_cmd_arg_cstr(b, "GROUP");
    resp_cmd_arg_str(b, a->group);
    resp_cmd_arg_str(b, a->consumer);
    if (a->count > 0) {
        resp_cmd_arg_cstr(b, "COUNT");
        resp_cmd_arg_u64(b, a->count);
    }
    if (a->block_ms >= 0) {
        resp_cmd_arg_cstr(b, "BLOCK");
        resp_cmd_arg_i64(b, a->block_ms);
    }
    if (a->noack) resp_cmd_arg_cstr(b, "NOACK");
    resp_cmd_arg_cstr(b, "STREAMS");
    for (uint32_t i = 0; i < a->stream_count; i++) resp_cmd_arg_str(b, a->streams[i]);
    for (uint32_t i = 0; i < a->stream_count; i++) resp_cmd_arg_str(b, a->ids[i]);
}

void redis_cmd_xack(struct resp_buf *b, struct resp_str stream, struct resp_str group, uint32_t id_count,
                    const struct redis_id *ids)
{
    assert(id_count >= 1 && id_count <= UINT32_MAX - 3);
    resp_cmd_begin(b, 3 + id_count);
    resp_cmd_arg_cstr(b, "XACK");
    resp_cmd_arg_str(b, stream);
    resp_cmd_arg_str(b, group);
    for (uint32_t i = 0; i < id_count; i++) {
        char text[REDIS_ID_TEXT_MAX];
        size_t n = redis_id_format(ids[i], text);
        resp_cmd_arg(b, text, n);
    }
}

void redis_cmd_xack_text(struct resp_buf *b, struct resp_str stream, struct resp_str group, uint32_t id_count,
                         const struct resp_str *ids)
{
    assert(id_count >= 1 && id_count <= UINT32_MAX - 3);
    resp_cmd_begin(b, 3 + id_count);
    resp_cmd_arg_cstr(b, "XACK");
    resp_cmd_arg_str(b, stream);
    resp_cmd_arg_str(b, group);
    for (uint32_t i = 0; i < id_count; i++) resp_cmd_arg_str(b, ids[i]);
}

void redis_cmd_xautoclaim(struct resp_buf *b, struct resp_str stream, struct resp_str group,
                          struct resp_str consumer, uint64_t min_idle_ms, struct resp_str start, uint64_t count,
                          bool justid)
{
    resp_cmd_begin(b, 6 + (count > 0 ? 2 : 0) + (justid ? 1 : 0));
    resp_cmd_arg_cstr(b, "XAUTOCLAIM");
    resp_cmd_arg_str(b, stream);
    resp_cmd_arg_str(b, group);
    resp_cmd_arg_str(b, consumer);
    resp_cmd_arg_u64(b, min_idle_ms);
    resp_cmd_arg_str(b, start);
    if (count > 0) {
        resp_cmd_arg_cstr(b, "COUNT");
        resp_cmd_arg_u64(b, count);
    }
    if (justid) resp_cmd_arg_cstr(b, "JUSTID");
}

void redis_cmd_xadd(struct resp_buf *b, struct resp_str stream, struct resp_str id, uint32_t pair_count,
                    const struct resp_str *fields)
{
    assert(pair_count >= 1 && pair_count <= (UINT32_MAX - 3) / 2);
    resp_cmd_begin(b, 3 + 2 * pair_count);
    resp_cmd_arg_cstr(b, "XADD");
    resp_cmd_arg_str(b, stream);
    resp_cmd_arg_str(b, id);
    for (uint32_t i = 0; i < 2 * pair_count; i++) resp_cmd_arg_str(b, fields[i]);
}

void redis_cmd_xpending(struct resp_buf *b, struct resp_str stream, struct resp_str group)
{
    resp_cmd_begin(b, 3);
    resp_cmd_arg_cstr(b, "XPENDING");
    resp_cmd_arg_str(b, stream);
    resp_cmd_arg_str(b, group);
}

void redis_cmd_xpending_range(struct resp_buf *b, struct resp_str stream, struct resp_str group,
                              uint64_t min_idle_ms, struct resp_str start, struct resp_str end, uint64_t count,
                              struct resp_str consumer)
{
    resp_cmd_begin(b, 6 + (min_idle_ms > 0 ? 2 : 0) + (consumer.len > 0 ? 1 : 0));
    resp_cmd_arg_cstr(b, "XPENDING");
    resp_cmd_arg_str(b, stream);
    resp_cmd_arg_str(b, group);
    if (min_idle_ms > 0) {
        resp_cmd_arg_cstr(b, "IDLE");
        resp_cmd_arg_u64(b, min_idle_ms);
    }
    resp_cmd_arg_str(b, start);
    resp_cmd_arg_str(b, end);
    resp_cmd_arg_u64(b, count);
    if (consumer.len > 0) resp_cmd_arg_str(b, consumer);
}

void redis_cmd_hset(struct resp_buf *b, struct resp_str key, uint32_t pair_count, const struct resp_str *fv)
{
    assert(pair_count >= 1 && pair_count <= (UINT32_MAX - 2) / 2);
    resp_cmd_begin(b, 2 + 2 * pair_count);
    resp_cmd_arg_cstr(b, "HSET");
    resp_cmd_arg_str(b, key);
    for (uint32_t i = 0; i < 2 * pair_count; i++) resp_cmd_arg_str(b, fv[i]);
}

void redis_cmd_hdel(struct resp_buf *b, struct resp_str key, uint32_t field_count, const struct resp_str *fields)
{
    assert(field_count >= 1 && field_count <= UINT32_MAX - 2);
    resp_cmd_begin(b, 2 + field_count);
    resp_cmd_arg_cstr(b, "HDEL");
    resp_cmd_arg_str(b, key);
    for (uint32_t i = 0; i < field_count; i++) resp_cmd_arg_str(b, fields[i]);
}

void redis_cmd_hgetall(struct resp_buf *b, struct resp_str key)
{
    resp_cmd_begin(b, 2);
    resp_cmd_arg_cstr(b, "HGETALL");
    resp_cmd_arg_str(b, key);
}

void redis_cmd_multi(struct resp_buf *b)
{
    resp_cmd_begin(b, 1);
    resp_cmd_arg_cstr(b, "MULTI");
}

void redis_cmd_exec(struct resp_buf *b)
{
    resp_cmd_begin(b, 1);
    resp_cmd_arg_cstr(b, "EXEC");
}

/* ------------------------------------------------------------------------- */
/* Replies */

/* Copies server text for a message: printable ASCII, others as '?', cut at `cap`. */
static void quote_text(struct resp_str s, char *out, size_t cap)
{
    assert(cap > 4);
    size_t n = 0;
    for (size_t i = 0; i < s.len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (s.len >= cap) memcpy(out + cap - 4, "...", 3); /* cut: say so */
    out[n] = '\0';
}

static const char *or_unknown(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "?";
}

void redis_reply_init(struct redis_reply *r, const struct resp_value *value, const char *peer,
                      const char *command)
{
    assert(value != NULL);
    r->value = value;
    r->peer = peer;
    r->command = command;
    lw_err_clear(&r->err);
    if (value->type == RESP_ERROR) {
        char text[REDIS_ERROR_TEXT_MAX];
        quote_text(value->u.str, text, sizeof text);
        lw_err_set(&r->err, REDIS_E_SERVER + (int)resp_error_kind(value), "redis %s: %s: %s", or_unknown(peer),
                   or_unknown(command), text);
    }
}

void redis_reply_failed(struct redis_reply *r, const char *peer, const char *command, int code, const char *fmt,
                        ...)
{
    assert(code != 0);
    r->value = NULL;
    r->peer = peer;
    r->command = command;
    char text[LW_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    lw_err_set(&r->err, code, "redis %s: %s: %s", or_unknown(peer), or_unknown(command), text);
}

bool redis_reply_is(const struct redis_reply *r, enum resp_error_kind kind)
{
    return r->value != NULL && r->value->type == RESP_ERROR && resp_error_kind(r->value) == kind;
}

/* Passes an error reply or a missing reply on; false if there is one. */
static bool reply_usable(const struct redis_reply *r, struct lw_err *err)
{
    if (r->err.code == 0 && r->value != NULL) return true;
    if (err != NULL) {
        *err = r->err;
        if (err->code == 0) lw_err_set(err, REDIS_E_SHAPE, "redis %s: %s: no reply", or_unknown(r->peer),
                                       or_unknown(r->command));
    }
    return false;
}

static bool shape_error(const struct redis_reply *r, struct lw_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool shape_error(const struct redis_reply *r, struct lw_err *err, const char *fmt, ...)
{
    char text[LW_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return lw_err_set(err, REDIS_E_SHAPE, "redis %s: %s: unexpected reply: %s", or_unknown(r->peer),
                      or_unknown(r->command), text);
}

/* "an integer", "a bulk string", ... */
static const char *a_type(enum resp_type t)
{
    switch (t) {
    case RESP_NIL: return "a nil";
    case RESP_STRING: return "a bulk string";
    case RESP_STATUS: return "a status";
    case RESP_ERROR: return "an error";
    case RESP_INTEGER: return "an integer";
    case RESP_ARRAY: return "an array";
    }
    return "?";
}

static bool is_str(const struct resp_value *v)
{
    return v->type == RESP_STRING;
}

bool redis_parse_status(const struct redis_reply *r, const char *status, struct lw_err *err)
{
    if (!reply_usable(r, err)) return false;
    const char *want = status != NULL ? status : "OK";
    const struct resp_value *v = r->value;
    if (v->type != RESP_STATUS || !resp_str_eq(v->u.str, want)) {
        char got[64] = "";
        if (v->type == RESP_STATUS || v->type == RESP_STRING) quote_text(v->u.str, got, sizeof got);
        return shape_error(r, err, "%s%s%s%s, not +%s", a_type(v->type), got[0] ? " '" : "", got,
                           got[0] ? "'" : "", want);
    }
    return true;
}

bool redis_parse_integer(const struct redis_reply *r, int64_t *out, struct lw_err *err)
{
    if (!reply_usable(r, err)) return false;
    if (r->value->type != RESP_INTEGER) return shape_error(r, err, "%s, not an integer", a_type(r->value->type));
    *out = r->value->u.integer;
    return true;
}

bool redis_parse_xgroup_create(const struct redis_reply *r, bool *created, struct lw_err *err)
{
    if (redis_reply_is(r, RESP_ERR_BUSYGROUP)) {
        *created = false;
        return true;
    }
    if (!redis_parse_status(r, "OK", err)) return false;
    *created = true;
    return true;
}

bool redis_parse_xadd(const struct redis_reply *r, struct redis_id *id, struct lw_err *err)
{
    if (!reply_usable(r, err)) return false;
    const struct resp_value *v = r->value;
    if (!is_str(v)) return shape_error(r, err, "%s, not the new entry's ID", a_type(v->type));
    if (!redis_id_parse(v->u.str, false, id)) return shape_error(r, err, "'%.60s' is not an entry ID", v->u.str.ptr);
    return true;
}

/* ------------------------------------------------------------------------- */
/* Stream entries */

/* Checks one entry of a list; `where` names the list for messages. Counts deleted
 * entries into *deleted. */
static bool check_entry(const struct redis_reply *r, const struct resp_value *e, const char *where, size_t j,
                        bool justid, bool nil_ok, size_t *deleted, struct lw_err *err)
{
    struct redis_id id;
    if (justid) {
        if (!is_str(e)) return shape_error(r, err, "%sentry %zu is %s, not an ID", where, j, a_type(e->type));
        if (!redis_id_parse(e->u.str, false, &id))
            return shape_error(r, err, "%sentry %zu: '%.60s' is not an entry ID", where, j, e->u.str.ptr);
        return true;
    }
    if (e->type == RESP_NIL && nil_ok) {
        (*deleted)++;
        return true;
    }
    if (e->type != RESP_ARRAY || e->u.array.count != 2)
        return shape_error(r, err, "%sentry %zu is %s%s, not an [ID, fields] pair", where, j,
                           a_type(e->type), e->type == RESP_ARRAY ? " of another length" : "");
    const struct resp_value *idv = &e->u.array.items[0], *fields = &e->u.array.items[1];
    if (!is_str(idv)) return shape_error(r, err, "%sentry %zu: the ID is %s", where, j, a_type(idv->type));
    if (!redis_id_parse(idv->u.str, false, &id))
        return shape_error(r, err, "%sentry %zu: '%.60s' is not an entry ID", where, j, idv->u.str.ptr);
    if (fields->type == RESP_NIL) {
        (*deleted)++;
        return true;
    }
    if (fields->type != RESP_ARRAY)
        return shape_error(r, err, "%sentry %zu (%s): the fields are %s, not an array", where, j, idv->u.str.ptr,
                           a_type(fields->type));
    if (fields->u.array.count % 2 != 0)
        return shape_error(r, err, "%sentry %zu (%s): an odd number of field names and values (%zu)", where, j,
                           idv->u.str.ptr, fields->u.array.count);
    for (size_t k = 0; k < fields->u.array.count; k++) {
        const struct resp_value *f = &fields->u.array.items[k];
        if (!is_str(f))
            return shape_error(r, err, "%sentry %zu (%s): field %zu is %s, not a bulk string", where, j,
                               idv->u.str.ptr, k / 2, a_type(f->type));
    }
    return true;
}

/* Checks a list of entries: an array (or nil = none). */
static bool check_entries(const struct redis_reply *r, const struct resp_value *list, const char *where,
                          bool justid, bool nil_ok, struct redis_entries *out, size_t *deleted,
                          struct lw_err *err)
{
    if (list->type == RESP_NIL) {
        *out = (struct redis_entries){ 0 };
        return true;
    }
    if (list->type != RESP_ARRAY)
        return shape_error(r, err, "%sthe entries are %s, not an array", where, a_type(list->type));
    for (size_t j = 0; j < list->u.array.count; j++)
        if (!check_entry(r, &list->u.array.items[j], where, j, justid, nil_ok, deleted, err)) return false;
    *out = (struct redis_entries){ .count = list->u.array.count, .items_ = list->u.array.items };
    return true;
}

void redis_entries_at(const struct redis_entries *es, size_t j, struct redis_entry *out)
{
    assert(j < es->count);
    const struct resp_value *e = &es->items_[j];
    *out = (struct redis_entry){ 0 };
    if (e->type == RESP_NIL) { /* Redis 6.2 XAUTOCLAIM: deleted, ID unknown */
        out->id_text = (struct resp_str){ "", 0 };
        out->deleted = true;
        return;
    }
    if (e->type == RESP_STRING) { /* JUSTID */
        out->id_text = e->u.str;
        bool ok = redis_id_parse(e->u.str, false, &out->id);
        assert(ok);
        (void)ok;
        return;
    }
    assert(e->type == RESP_ARRAY && e->u.array.count == 2);
    out->id_text = e->u.array.items[0].u.str;
    bool ok = redis_id_parse(out->id_text, false, &out->id);
    assert(ok);
    (void)ok;
    const struct resp_value *fields = &e->u.array.items[1];
    if (fields->type == RESP_NIL) {
        out->deleted = true;
        return;
    }
    out->field_count = fields->u.array.count / 2;
    out->fields_ = fields->u.array.items;
}

void redis_entry_field(const struct redis_entry *e, size_t k, struct resp_str *name, struct resp_str *value)
{
    assert(k < e->field_count);
    *name = e->fields_[2 * k].u.str;
    *value = e->fields_[2 * k + 1].u.str;
}

bool redis_entry_get(const struct redis_entry *e, const char *name, struct resp_str *value)
{
    for (size_t k = 0; k < e->field_count; k++) {
        if (resp_str_eq(e->fields_[2 * k].u.str, name)) {
            *value = e->fields_[2 * k + 1].u.str;
            return true;
        }
    }
    return false;
}

bool redis_parse_xread(const struct redis_reply *r, struct redis_xread *out, struct lw_err *err)
{
    *out = (struct redis_xread){ 0 };
    if (!reply_usable(r, err)) return false;
    const struct resp_value *v = r->value;
    if (v->type == RESP_NIL) return true; /* BLOCK ran out */
    if (v->type != RESP_ARRAY) return shape_error(r, err, "%s, not an array of streams", a_type(v->type));
    size_t entries = 0, deleted = 0;
    for (size_t i = 0; i < v->u.array.count; i++) {
        const struct resp_value *s = &v->u.array.items[i];
        if (s->type != RESP_ARRAY || s->u.array.count != 2 || !is_str(&s->u.array.items[0]))
            return shape_error(r, err, "stream %zu is not a [name, entries] pair", i);
        char where[96];
        snprintf(where, sizeof where, "stream %zu ('%.40s'), ", i, s->u.array.items[0].u.str.ptr);
        struct redis_entries es;
        if (!check_entries(r, &s->u.array.items[1], where, false, false, &es, &deleted, err)) return false;
        entries += es.count;
    }
    *out = (struct redis_xread){ .stream_count = v->u.array.count, .entry_count = entries,
                                 .deleted_count = deleted, .streams_ = v->u.array.items };
    return true;
}

void redis_xread_stream(const struct redis_xread *x, size_t i, struct resp_str *name, struct redis_entries *entries)
{
    assert(i < x->stream_count);
    const struct resp_value *s = &x->streams_[i];
    *name = s->u.array.items[0].u.str;
    const struct resp_value *list = &s->u.array.items[1];
    if (list->type == RESP_NIL) *entries = (struct redis_entries){ 0 };
    else *entries = (struct redis_entries){ .count = list->u.array.count, .items_ = list->u.array.items };
}

bool redis_parse_xautoclaim(const struct redis_reply *r, bool justid, struct redis_xautoclaim *out,
                            struct lw_err *err)
{
    *out = (struct redis_xautoclaim){ 0 };
    if (!reply_usable(r, err)) return false;
    const struct resp_value *v = r->value;
    if (v->type != RESP_ARRAY || (v->u.array.count != 2 && v->u.array.count != 3))
        return shape_error(r, err, "%s%s, not [cursor, entries(, deleted IDs)]", a_type(v->type),
                           v->type == RESP_ARRAY ? " of another length" : "");
    const struct resp_value *cur = &v->u.array.items[0];
    if (!is_str(cur)) return shape_error(r, err, "the cursor is %s", a_type(cur->type));
    if (!redis_id_parse(cur->u.str, false, &out->cursor))
        return shape_error(r, err, "cursor '%.60s' is not an entry ID", cur->u.str.ptr);
    size_t nil_entries = 0;
    if (!check_entries(r, &v->u.array.items[1], "", justid, true, &out->entries, &nil_entries, err)) return false;
    if (v->u.array.count == 3) {
        const struct resp_value *d = &v->u.array.items[2];
        if (d->type != RESP_ARRAY) return shape_error(r, err, "the deleted IDs are %s", a_type(d->type));
        for (size_t k = 0; k < d->u.array.count; k++) {
            struct redis_id id;
            const struct resp_value *e = &d->u.array.items[k];
            if (!is_str(e) || !redis_id_parse(e->u.str, false, &id))
                return shape_error(r, err, "deleted ID %zu is not an entry ID", k);
        }
        out->deleted_listed = true;
        out->deleted_count = d->u.array.count;
        out->deleted_ = d->u.array.items;
    }
    out->cursor_text = cur->u.str;
    out->complete = out->cursor.ms == 0 && out->cursor.seq == 0;
    out->justid = justid;
    return true;
}

void redis_xautoclaim_deleted(const struct redis_xautoclaim *x, size_t k, struct resp_str *text, struct redis_id *id)
{
    assert(k < x->deleted_count);
    *text = x->deleted_[k].u.str;
    bool ok = redis_id_parse(*text, false, id);
    assert(ok);
    (void)ok;
}

/* ------------------------------------------------------------------------- */
/* XPENDING, HGETALL, EXEC */

bool redis_parse_xpending(const struct redis_reply *r, struct redis_xpending *out, struct lw_err *err)
{
    *out = (struct redis_xpending){ 0 };
    if (!reply_usable(r, err)) return false;
    const struct resp_value *v = r->value;
    if (v->type != RESP_ARRAY || v->u.array.count != 4)
        return shape_error(r, err, "%s, not [count, min, max, consumers]", a_type(v->type));
    const struct resp_value *it = v->u.array.items;
    if (it[0].type != RESP_INTEGER || it[0].u.integer < 0)
        return shape_error(r, err, "the count is %s", a_type(it[0].type));
    out->count = (uint64_t)it[0].u.integer;
    if (out->count == 0) return true; /* min, max and consumers are nil */
    if (!is_str(&it[1]) || !redis_id_parse(it[1].u.str, false, &out->min) || !is_str(&it[2]) ||
        !redis_id_parse(it[2].u.str, false, &out->max))
        return shape_error(r, err, "the smallest or largest pending ID is not an entry ID");
    if (it[3].type != RESP_ARRAY) return shape_error(r, err, "the consumers are %s", a_type(it[3].type));
    for (size_t i = 0; i < it[3].u.array.count; i++) {
        const struct resp_value *c = &it[3].u.array.items[i];
        uint64_t n;
        if (c->type != RESP_ARRAY || c->u.array.count != 2 || !is_str(&c->u.array.items[0]) ||
            !is_str(&c->u.array.items[1]) ||
            !parse_u64(c->u.array.items[1].u.str.ptr, c->u.array.items[1].u.str.len, &n))
            return shape_error(r, err, "consumer %zu is not a [name, count] pair", i);
    }
    out->consumer_count = it[3].u.array.count;
    out->consumers_ = it[3].u.array.items;
    return true;
}

void redis_xpending_consumer(const struct redis_xpending *x, size_t i, struct resp_str *name, uint64_t *count)
{
    assert(i < x->consumer_count);
    const struct resp_value *c = &x->consumers_[i];
    *name = c->u.array.items[0].u.str;
    bool ok = parse_u64(c->u.array.items[1].u.str.ptr, c->u.array.items[1].u.str.len, count);
    assert(ok);
    (void)ok;
}

/* [id, consumer, idle, deliveries] */
static bool pending_row_ok(const struct resp_value *row)
{
    struct redis_id id;
    if (row->type != RESP_ARRAY || row->u.array.count != 4) return false;
    const struct resp_value *it = row->u.array.items;
    return is_str(&it[0]) && redis_id_parse(it[0].u.str, false, &id) && is_str(&it[1]) &&
           it[2].type == RESP_INTEGER && it[2].u.integer >= 0 && it[3].type == RESP_INTEGER &&
           it[3].u.integer >= 0;
}

bool redis_parse_xpending_range(const struct redis_reply *r, struct redis_pending_list *out, struct lw_err *err)
{
    *out = (struct redis_pending_list){ 0 };
    if (!reply_usable(r, err)) return false;
    const struct resp_value *v = r->value;
    if (v->type != RESP_ARRAY) return shape_error(r, err, "%s, not an array of pending entries", a_type(v->type));
    for (size_t i = 0; i < v->u.array.count; i++)
        if (!pending_row_ok(&v->u.array.items[i]))
            return shape_error(r, err, "pending entry %zu is not [ID, consumer, idle, deliveries]", i);
    *out = (struct redis_pending_list){ .count = v->u.array.count, .items_ = v->u.array.items };
    return true;
}

void redis_pending_at(const struct redis_pending_list *l, size_t i, struct redis_pending_entry *out)
{
    assert(i < l->count);
    const struct resp_value *it = l->items_[i].u.array.items;
    out->id_text = it[0].u.str;
    bool ok = redis_id_parse(it[0].u.str, false, &out->id);
    assert(ok);
    (void)ok;
    out->consumer = it[1].u.str;
    out->idle_ms = (uint64_t)it[2].u.integer;
    out->deliveries = (uint64_t)it[3].u.integer;
}

bool redis_parse_hash(const struct redis_reply *r, struct redis_hash *out, struct lw_err *err)
{
    *out = (struct redis_hash){ 0 };
    if (!reply_usable(r, err)) return false;
    const struct resp_value *v = r->value;
    if (v->type != RESP_ARRAY) return shape_error(r, err, "%s, not an array of fields and values", a_type(v->type));
    if (v->u.array.count % 2 != 0) return shape_error(r, err, "an odd number of fields and values (%zu)", v->u.array.count);
    for (size_t k = 0; k < v->u.array.count; k++)
        if (!is_str(&v->u.array.items[k]))
            return shape_error(r, err, "item %zu is %s, not a bulk string", k, a_type(v->u.array.items[k].type));
    *out = (struct redis_hash){ .pair_count = v->u.array.count / 2, .items_ = v->u.array.items };
    return true;
}

void redis_hash_pair(const struct redis_hash *h, size_t i, struct resp_str *field, struct resp_str *value)
{
    assert(i < h->pair_count);
    *field = h->items_[2 * i].u.str;
    *value = h->items_[2 * i + 1].u.str;
}

bool redis_hash_get(const struct redis_hash *h, struct resp_str field, struct resp_str *value)
{
    for (size_t i = 0; i < h->pair_count; i++) {
        struct resp_str f = h->items_[2 * i].u.str;
        if (f.len == field.len && (f.len == 0 || memcmp(f.ptr, field.ptr, f.len) == 0)) {
            *value = h->items_[2 * i + 1].u.str;
            return true;
        }
    }
    return false;
}

bool redis_parse_exec(const struct redis_reply *r, struct redis_exec *out, struct lw_err *err)
{
    *out = (struct redis_exec){ .peer_ = r->peer };
    if (!reply_usable(r, err)) return false;
    const struct resp_value *v = r->value;
    if (v->type == RESP_NIL) {
        out->aborted = true;
        return true;
    }
    if (v->type != RESP_ARRAY) return shape_error(r, err, "%s, not an array of results", a_type(v->type));
    out->count = v->u.array.count;
    out->items_ = v->u.array.items;
    return true;
}

void redis_exec_item(const struct redis_exec *x, size_t i, const char *command, char *name_buf, size_t name_cap,
                     struct redis_reply *out)
{
    assert(i < x->count);
    assert(name_buf != NULL && name_cap >= 2);
    if (command != NULL) snprintf(name_buf, name_cap, "EXEC[%zu] %s", i, command);
    else snprintf(name_buf, name_cap, "EXEC[%zu]", i);
    redis_reply_init(out, &x->items_[i], x->peer_, name_buf);
}
