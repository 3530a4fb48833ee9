#include "pg_copy.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const uint8_t SIGNATURE[PG_COPY_SIGNATURE_BYTES] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff,
                                                            '\r', '\n', 0 };

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void pg_copy_init(struct pg_copy *d, uint8_t *buf, size_t cap)
{
    assert(d != NULL && buf != NULL && cap > 0);
    memset(d, 0, sizeof *d);
    d->state = PG_COPY_S_SIGNATURE;
    d->buf = buf;
    d->buf_cap = cap;
}

void pg_copy_expect_fields(struct pg_copy *d, uint32_t fields)
{
    assert(d != NULL);
    d->expect_fields = fields;
}

static enum pg_copy_event copy_fail(struct pg_copy *d, int code, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fails the decoder with "binary COPY at byte N (row R): ..."; returns PG_COPY_ERROR. */
static enum pg_copy_event copy_fail(struct pg_copy *d, int code, uint64_t at, const char *fmt, ...)
{
    d->state = PG_COPY_S_FAILED;
    d->err.code = code;
    int k = snprintf(d->err.msg, sizeof d->err.msg, "binary COPY at byte %llu (row %llu): ",
                     (unsigned long long)at, (unsigned long long)d->rows + 1);
    if (k < 0 || (size_t)k >= sizeof d->err.msg) return PG_COPY_ERROR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err.msg + k, sizeof d->err.msg - (size_t)k, fmt, ap);
    va_end(ap);
    return PG_COPY_ERROR;
}

/* Collects a fixed-size item of `need` bytes in d->small; true once it is complete. */
static bool take_small(struct pg_copy *d, const uint8_t *data, size_t len, size_t *pos, size_t need)
{
    assert(need <= sizeof d->small && d->small_len < need);
    size_t take = need - d->small_len;
    if (take > len - *pos) take = len - *pos;
    memcpy(d->small + d->small_len, data + *pos, take);
    d->small_len += take;
    *pos += take;
    if (d->small_len < need) return false;
    d->small_len = 0;
    return true;
}

/* After a field: the next one, or the next tuple. */
static void field_done(struct pg_copy *d)
{
    d->field_index++;
    if (d->field_index == d->field_count) {
        d->rows++;
        d->state = PG_COPY_S_COUNT;
    } else {
        d->state = PG_COPY_S_FIELD_LEN;
    }
}

enum pg_copy_event pg_copy_feed(struct pg_copy *d, const uint8_t *data, size_t len, size_t *used,
                                struct pg_copy_field *field)
{
    assert(d != NULL && used != NULL && field != NULL && (data != NULL || len == 0));
    *used = 0;
    if (d->state == PG_COPY_S_FAILED) return PG_COPY_ERROR;
    size_t pos = 0;
    const uint64_t base = d->offset;
    enum pg_copy_event ev = PG_COPY_NEED_MORE;
    while (ev == PG_COPY_NEED_MORE && (pos < len || d->state == PG_COPY_S_END)) {
        uint64_t at = base + pos - d->small_len;   /* where the current item began */
        switch (d->state) {
        case PG_COPY_S_SIGNATURE:
            if (!take_small(d, data, len, &pos, PG_COPY_SIGNATURE_BYTES)) break;
            if (memcmp(d->small, SIGNATURE, PG_COPY_SIGNATURE_BYTES) != 0) {
                ev = copy_fail(d, PG_COPY_E_FORMAT, at, "no PGCOPY signature: not a binary COPY stream "
                                                        "(was FORMAT binary asked for?)");
                break;
            }
            d->state = PG_COPY_S_FLAGS;
            break;
        case PG_COPY_S_FLAGS:
            if (!take_small(d, data, len, &pos, 4)) break;
            d->flags = be32(d->small);
            if (d->flags & (1u << 16)) {
                ev = copy_fail(d, PG_COPY_E_FORMAT, at, "the stream includes OIDs (flag bit 16), which is not supported");
                break;
            }
            if (d->flags & 0xffffu) {
                ev = copy_fail(d, PG_COPY_E_FORMAT, at, "unknown critical flags 0x%04x in the header",
                               (unsigned)(d->flags & 0xffffu));
                break;
            }
            d->state = PG_COPY_S_EXT_LEN;
            break;
        case PG_COPY_S_EXT_LEN:
            if (!take_small(d, data, len, &pos, 4)) break;
            d->ext_left = be32(d->small);
            if (d->ext_left > INT32_MAX) {
                ev = copy_fail(d, PG_COPY_E_FORMAT, at, "a negative header extension length");
                break;
            }
            d->state = d->ext_left > 0 ? PG_COPY_S_EXT : PG_COPY_S_COUNT;
            break;
        case PG_COPY_S_EXT: {
            size_t take = len - pos;
            if (take > d->ext_left) take = d->ext_left;
            pos += take;
            d->ext_left -= (uint32_t)take;
            if (d->ext_left == 0) d->state = PG_COPY_S_COUNT;
            break;
        }
        case PG_COPY_S_COUNT: {
            if (!take_small(d, data, len, &pos, 2)) break;
            int16_t count = (int16_t)((uint16_t)d->small[0] << 8 | d->small[1]);
            if (count == -1) {
                d->state = PG_COPY_S_END;
                ev = PG_COPY_END;
                break;
            }
            if (count < 0) {
                ev = copy_fail(d, PG_COPY_E_FORMAT, at, "a tuple with %d fields", count);
                break;
            }
            if (count > PG_COPY_FIELDS_MAX) {
                ev = copy_fail(d, PG_COPY_E_FORMAT, at, "a tuple with %d fields, more than PostgreSQL allows (%d)",
                               count, PG_COPY_FIELDS_MAX);
                break;
            }
            if (d->expect_fields != 0 && (uint32_t)count != d->expect_fields) {
                ev = copy_fail(d, PG_COPY_E_FORMAT, at, "a tuple with %d fields where %u were expected", count,
                               d->expect_fields);
                break;
            }
            d->field_count = (uint32_t)count;
            d->field_index = 0;
            if (count == 0) d->rows++;
            else d->state = PG_COPY_S_FIELD_LEN;
            ev = PG_COPY_ROW;
            break;
        }
        case PG_COPY_S_FIELD_LEN: {
            if (!take_small(d, data, len, &pos, 4)) break;
            int32_t flen = (int32_t)be32(d->small);
            if (flen == -1) {
                *field = (struct pg_copy_field){ .data = NULL, .len = 0, .null = true, .index = d->field_index };
                field_done(d);
                ev = PG_COPY_FIELD;
                break;
            }
            if (flen < 0) {
                ev = copy_fail(d, PG_COPY_E_FORMAT, at, "field %u has length %d", d->field_index + 1, flen);
                break;
            }
            if ((size_t)flen > d->buf_cap) {
                ev = copy_fail(d, PG_COPY_E_TOO_LARGE, at, "field %u is %d bytes, over the limit of %zu bytes",
                               d->field_index + 1, flen, d->buf_cap);
                break;
            }
            d->field_len = (uint32_t)flen;
            d->buf_len = 0;
            d->state = PG_COPY_S_FIELD_DATA;
            if (flen == 0) {
                *field = (struct pg_copy_field){ .data = d->buf, .len = 0, .null = false, .index = d->field_index };
                field_done(d);
                ev = PG_COPY_FIELD;
            }
            break;
        }
        case PG_COPY_S_FIELD_DATA: {
            const uint8_t *p;
            if (d->buf_len == 0 && len - pos >= d->field_len) {
                p = data + pos;   /* whole in the input: no copy */
                pos += d->field_len;
            } else {
                size_t take = d->field_len - d->buf_len;
                if (take > len - pos) take = len - pos;
                memcpy(d->buf + d->buf_len, data + pos, take);
                d->buf_len += take;
                pos += take;
                if (d->buf_len < d->field_len) break;
                p = d->buf;
            }
            *field = (struct pg_copy_field){ .data = p, .len = d->field_len, .null = false, .index = d->field_index };
            field_done(d);
            ev = PG_COPY_FIELD;
            break;
        }
        case PG_COPY_S_END:
            if (pos < len) ev = copy_fail(d, PG_COPY_E_FORMAT, base + pos, "bytes after the trailer");
            else goto out;
            break;
        case PG_COPY_S_FAILED: assert(!"failed state inside the loop"); break;
        }
    }
out:
    assert(ev != PG_COPY_NEED_MORE || pos == len);
    d->offset = base + pos;
    *used = pos;
    return ev;
}

bool pg_copy_finish(const struct pg_copy *d, struct lw_err *err)
{
    assert(d != NULL);
    if (d->state == PG_COPY_S_END) return true;
    if (d->state == PG_COPY_S_FAILED) {
        if (err != NULL) *err = d->err;
        return false;
    }
    static const char *const where[] = {
        [PG_COPY_S_SIGNATURE] = "in the signature", [PG_COPY_S_FLAGS] = "in the header flags",
        [PG_COPY_S_EXT_LEN] = "in the header", [PG_COPY_S_EXT] = "in the header extension",
        [PG_COPY_S_COUNT] = "before the trailer", [PG_COPY_S_FIELD_LEN] = "inside a tuple",
        [PG_COPY_S_FIELD_DATA] = "inside a field",
    };
    return lw_err_set(err, PG_COPY_E_FORMAT, "binary COPY stream cut %s after %llu bytes and %llu rows",
                      where[d->state], (unsigned long long)d->offset, (unsigned long long)d->rows);
}
