/* pg_copy: an incremental decoder of PostgreSQL's binary COPY stream
 * (`COPY ... TO STDOUT (FORMAT binary)`), sans-IO and fuzzed.
 *
 * The stream is a byte sequence that the server cuts into CopyData messages anywhere
 * it likes; the decoder is fed whatever arrives, in pieces of any size (one byte at a
 * time works), and hands back one field at a time:
 *
 *   header   +------------------------------------+-----------+-------------+--------------+
 *            | "PGCOPY\n\377\r\n\0" (11 bytes)    | flags i32 | ext len i32 | ext bytes    |
 *            +------------------------------------+-----------+-------------+--------------+
 *   tuple    +--------------+--------------+-----------+--------------+-----------+----
 *            | fields i16   | length i32   | bytes     | length i32   | bytes     | ...
 *            +--------------+--------------+-----------+--------------+-----------+----
 *                           length -1 = NULL (no bytes follow)
 *   trailer  +--------------+
 *            | -1 (i16)     |
 *            +--------------+
 *
 * All integers are big-endian. Flags: bit 16 (OIDs included) and bits 0-15 (reserved
 * for incompatible changes) are refused; bits 17-31 are ignored, as the format asks.
 * The header extension is skipped.
 *
 * Fields are handed back as slices: straight from the input when the whole field is
 * in it (no copy), else assembled in the caller's buffer, whose size bounds a field
 * (field_bytes_max). Each slice stays valid until the next pg_copy_feed call.
 *
 *   struct pg_copy d;
 *   pg_copy_init(&d, field_buf, sizeof field_buf);
 *   pg_copy_expect_fields(&d, ncols);          // optional: every tuple must have ncols
 *   for each CopyData slice (data, len):
 *       while (true) {
 *           size_t used; struct pg_copy_field f;
 *           enum pg_copy_event ev = pg_copy_feed(&d, data, len, &used, &f);
 *           data += used; len -= used;
 *           if (ev == PG_COPY_NEED_MORE) break;
 *           if (ev == PG_COPY_ROW) new row with d.field_count fields;
 *           if (ev == PG_COPY_FIELD) value f.data[0..f.len) or f.null, column f.index;
 *           if (ev == PG_COPY_END) the trailer;
 *           if (ev == PG_COPY_ERROR) d.err says what and where; stop;
 *       }
 *   at CopyDone: pg_copy_finish(&d, &err)       // false if the trailer never came
 */
#ifndef LW_PG_COPY_H
#define LW_PG_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    PG_COPY_SIGNATURE_BYTES = 11,
    PG_COPY_FIELDS_MAX = 1664,            /* PostgreSQL's limit of columns in a result */
    PG_COPY_E_FORMAT = 230,               /* lw_err code: a malformed stream */
    PG_COPY_E_TOO_LARGE,                  /* lw_err code: a field over the buffer */
};

enum pg_copy_event {
    PG_COPY_NEED_MORE = 0,   /* every input byte is used: feed more */
    PG_COPY_ROW,             /* a tuple begins: d.field_count fields follow */
    PG_COPY_FIELD,           /* the next field of the tuple */
    PG_COPY_END,             /* the trailer: the stream is complete */
    PG_COPY_ERROR,           /* d.err; the decoder stays failed */
};

struct pg_copy_field {
    const uint8_t *data;     /* NULL when null */
    size_t len;
    bool null;
    uint32_t index;          /* 0-based column index within the tuple */
};

enum pg_copy_state {
    PG_COPY_S_SIGNATURE = 0,
    PG_COPY_S_FLAGS,
    PG_COPY_S_EXT_LEN,
    PG_COPY_S_EXT,
    PG_COPY_S_COUNT,
    PG_COPY_S_FIELD_LEN,
    PG_COPY_S_FIELD_DATA,
    PG_COPY_S_END,
    PG_COPY_S_FAILED,
};

/* The decoder, caller-owned. Public: field_count, rows, offset, err. */
struct pg_copy {
    enum pg_copy_state state;
    uint32_t field_count;     /* fields of the current tuple */
    uint32_t field_index;     /* of the next field */
    uint64_t rows;            /* complete tuples so far */
    uint64_t offset;          /* stream bytes consumed so far */
    uint32_t flags;
    struct lw_err err;

    uint32_t expect_fields;   /* 0: any count */
    uint8_t small[PG_COPY_SIGNATURE_BYTES]; /* a fixed-size item being assembled */
    size_t small_len;
    uint32_t ext_left;
    uint32_t field_len;
    uint8_t *buf;             /* field assembly */
    size_t buf_cap, buf_len;
};

/* Prepares `d`; `buf` (`cap` bytes, > 0) assembles fields that arrive in pieces and
 * bounds every field. */
void pg_copy_init(struct pg_copy *d, uint8_t *buf, size_t cap);

/* Requires every tuple to have exactly `fields` fields (0: any). */
void pg_copy_expect_fields(struct pg_copy *d, uint32_t fields);

/* Feeds `len` bytes; returns the next event, with *used the bytes taken (all with
 * NEED_MORE). `field` is filled for PG_COPY_FIELD. After PG_COPY_END, any further
 * byte is an error. */
enum pg_copy_event pg_copy_feed(struct pg_copy *d, const uint8_t *data, size_t len, size_t *used,
                                struct pg_copy_field *field);

/* At the end of the COPY data: true if the trailer was read; else false with `err`
 * saying where the stream was cut (or the decoder's own error). */
bool pg_copy_finish(const struct pg_copy *d, struct lw_err *err);

#endif
