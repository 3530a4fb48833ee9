#include "pq_writer.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "pq_rle.h"
#include "pq_thrift.h"

enum wstate {
    W_IDLE,
    W_MAGIC,
    W_CHUNK_BEGIN,
    W_ANALYZE,
    W_DICT_PAGE,
    W_PAGE,
    W_CHUNK_END,
    W_PAGE_INDEX,
    W_FOOTER,
    W_DONE,
    W_ERROR,
};

/* Thrift enum values (parquet.thrift). */
enum { PT_DATA_PAGE = 0, PT_DICTIONARY_PAGE = 2 };
enum { ENC_PLAIN = 0, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum { BO_UNORDERED = 0, BO_ASCENDING = 1, BO_DESCENDING = 2 };

static const uint8_t magic[4] = {'P', 'A', 'R', '1'};

void pq_writer_opts_default(struct pq_writer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->codec = PQ_CODEC_ZSTD;
    o->zstd_level = PQ_ZSTD_LEVEL_DEFAULT;
    o->page_rows_max = PQ_PAGE_ROWS_DEFAULT;
    o->page_bytes_max = PQ_PAGE_BYTES_DEFAULT;
    o->row_group_rows_max = PQ_ROW_GROUP_ROWS_DEFAULT;
    o->row_group_bytes_max = PQ_ROW_GROUP_BYTES_DEFAULT;
    o->dictionary = true;
    o->dictionary_floats = true;
    o->dict_ratio = PQ_DICT_RATIO_DEFAULT;
    o->dict_bytes_max = PQ_DICT_BYTES_DEFAULT;
    o->page_index = true;
    o->stats_truncate_bytes = PQ_STATS_TRUNCATE_DEFAULT;
}

/* ------------------------------------------------------------------------- */
/* The compressor allocates through the writer's budget; each block carries its
 * size in a 16-byte header (zstd's free does not pass it back). */

enum { ZHDR_BYTES = 16 };

static void *z_alloc(void *opaque, size_t size)
{
    struct pq_writer *w = opaque;
    if (size > SIZE_MAX - ZHDR_BYTES) return NULL;
    size_t total = size + ZHDR_BYTES;
    uint8_t *p = pq_mem_realloc(w->mem, NULL, 0, total);
    if (p == NULL) return NULL;
    memcpy(p, &total, sizeof total);
    w->zstd_bytes += total;
    return p + ZHDR_BYTES;
}

static void z_free(void *opaque, void *addr)
{
    struct pq_writer *w = opaque;
    if (addr == NULL) return;
    uint8_t *p = (uint8_t *)addr - ZHDR_BYTES;
    size_t total;
    memcpy(&total, p, sizeof total);
    assert(total <= w->zstd_bytes);
    w->zstd_bytes -= total;
    pq_mem_free(w->mem, p, total);
}

/* ------------------------------------------------------------------------- */

static bool check_opts(const struct pq_writer_opts *o, struct pq_err *err)
{
    if (o->created_by == NULL || o->created_by[0] == '\0')
        return pq_err_set(err, PQ_E_SCHEMA, "writer: created_by is required");
    if (strlen(o->created_by) > PQ_CREATED_BY_MAX_BYTES)
        return pq_err_set(err, PQ_E_SCHEMA, "writer: created_by is longer than %d bytes",
                          PQ_CREATED_BY_MAX_BYTES);
    if (o->codec != PQ_CODEC_UNCOMPRESSED && o->codec != PQ_CODEC_ZSTD)
        return pq_err_set(err, PQ_E_SCHEMA, "writer: unsupported codec %d", (int)o->codec);
    if (o->codec == PQ_CODEC_ZSTD && (o->zstd_level < ZSTD_minCLevel() || o->zstd_level > ZSTD_maxCLevel()))
        return pq_err_set(err, PQ_E_SCHEMA, "writer: zstd level %d is not in %d..%d", o->zstd_level,
                          ZSTD_minCLevel(), ZSTD_maxCLevel());
    if (o->page_rows_max == 0 || o->page_bytes_max == 0 || o->page_bytes_max > PQ_PAGE_BYTES_MAX)
        return pq_err_set(err, PQ_E_SCHEMA, "writer: page limits must be in 1..%d rows and bytes",
                          PQ_PAGE_BYTES_MAX);
    if (o->row_group_rows_max == 0 || o->row_group_bytes_max == 0)
        return pq_err_set(err, PQ_E_SCHEMA, "writer: row group limits must be positive");
    if (o->dict_ratio == 0 || o->dict_bytes_max > PQ_PAGE_BYTES_MAX)
        return pq_err_set(err, PQ_E_SCHEMA, "writer: dict_ratio must be >= 1 and dict_bytes_max <= %d",
                          PQ_PAGE_BYTES_MAX);
    if (o->stats_truncate_bytes < 4 || o->stats_truncate_bytes > PQ_STATS_VALUE_MAX_BYTES)
        return pq_err_set(err, PQ_E_SCHEMA, "writer: stats_truncate_bytes must be in 4..%d",
                          PQ_STATS_VALUE_MAX_BYTES);
    return true;
}

bool pq_writer_init(struct pq_writer *w, struct pq_mem *mem, const struct pq_writer_opts *opts,
                    struct pq_err *err)
{
    assert(w != NULL && mem != NULL && opts != NULL);
    memset(w, 0, sizeof *w);
    if (!check_opts(opts, err)) return false;
    w->mem = mem;
    w->opts = *opts;
    w->state = W_IDLE;
    pq_dict_init(&w->dict, mem);
    struct pq_buf *bufs[] = {&w->idx, &w->page, &w->zpage, &w->hdr, &w->meta, &w->ci,
                             &w->oi, &w->footer, &w->pages, &w->bounds, &w->marks, &w->uniq};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) pq_buf_init(bufs[i], mem);
    if (opts->codec == PQ_CODEC_ZSTD) {
        ZSTD_customMem cm = {z_alloc, z_free, w};
        ZSTD_CCtx *z = ZSTD_createCCtx_advanced(cm);
        if (z == NULL) return pq_err_set(err, PQ_E_MEMORY, "writer: out of memory budget for the zstd context");
        size_t r = ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, opts->zstd_level);
        /* Cache-sized tables for the fast strategies (see pq_writer.h). */
        ZSTD_compressionParameters cp = ZSTD_getCParams(opts->zstd_level, opts->page_bytes_max, 0);
        if (!ZSTD_isError(r) && cp.strategy <= ZSTD_dfast && cp.hashLog > PQ_ZSTD_HASH_LOG_MAX)
            r = ZSTD_CCtx_setParameter(z, ZSTD_c_hashLog, PQ_ZSTD_HASH_LOG_MAX);
        if (!ZSTD_isError(r) && cp.strategy <= ZSTD_dfast && cp.chainLog > PQ_ZSTD_CHAIN_LOG_MAX)
            r = ZSTD_CCtx_setParameter(z, ZSTD_c_chainLog, PQ_ZSTD_CHAIN_LOG_MAX);
        if (ZSTD_isError(r)) {
            ZSTD_freeCCtx(z);
            return pq_err_set(err, PQ_E_CODEC, "writer: zstd: %s", ZSTD_getErrorName(r));
        }
        w->zstd = z;
    }
    return true;
}

void pq_writer_free(struct pq_writer *w)
{
    if (w->zstd != NULL) ZSTD_freeCCtx(w->zstd);
    w->zstd = NULL;
    pq_dict_free(&w->dict);
    struct pq_buf *bufs[] = {&w->idx, &w->page, &w->zpage, &w->hdr, &w->meta, &w->ci,
                             &w->oi, &w->footer, &w->pages, &w->bounds, &w->marks, &w->uniq};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) pq_buf_free(bufs[i]);
    pq_mem_free(w->mem, w->rgs, w->rgs_cap * sizeof *w->rgs);
    pq_mem_free(w->mem, w->cursors, w->cursors_cap * sizeof *w->cursors);
    pq_mem_free(w->mem, w->chunks, w->chunks_cap * sizeof *w->chunks);
    w->rgs = NULL;
    w->cursors = NULL;
    w->chunks = NULL;
    w->rgs_cap = w->cursors_cap = w->chunks_cap = 0;
    w->state = W_IDLE;
}

size_t pq_writer_mem_bytes(const struct pq_writer *w)
{
    const struct pq_buf *bufs[] = {&w->idx, &w->page, &w->zpage, &w->hdr, &w->meta, &w->ci,
                                   &w->oi, &w->footer, &w->pages, &w->bounds, &w->marks, &w->uniq};
    size_t n = w->zstd_bytes + pq_dict_mem_bytes(&w->dict);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) n += bufs[i]->cap;
    n += w->rgs_cap * sizeof *w->rgs + w->cursors_cap * sizeof *w->cursors +
         w->chunks_cap * sizeof *w->chunks;
    return n;
}

/* Enters the error state with "column '<col>': <what>" (col may be NULL). */
static bool fail(struct pq_writer *w, enum pq_code code, const char *what, const char *col)
{
    if (col != NULL) pq_err_set(&w->err, code, "column '%s': %s", col, what);
    else pq_err_set(&w->err, code, "%s", what);
    w->state = W_ERROR;
    w->out_count = 0;
    return false;
}

/* Grows a caller-visible array to hold n elements of `size` bytes. */
static bool grow_array(struct pq_mem *mem, void **p, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap) return true;
    if (n > SIZE_MAX / size) return false;
    void *q = pq_mem_realloc(mem, *p, *cap * size, n * size);
    if (q == NULL) return false;
    *p = q;
    *cap = n;
    return true;
}

static uint64_t rg_rows(const struct pq_writer *w, uint32_t rg)
{
    unsigned __int128 rows = w->batch->rows;
    uint64_t a = (uint64_t)(rows * rg / w->rg_count);
    uint64_t b = (uint64_t)(rows * (rg + 1) / w->rg_count);
    return b - a;
}

bool pq_writer_begin(struct pq_writer *w, const struct pq_batch *b, struct pq_err *err)
{
    assert(w->mem != NULL && b != NULL);
    uint32_t ncols = b->schema->count;
    for (uint32_t i = 0; i < ncols; i++) {
        const struct pq_col *c = &b->cols[i];
        if (c->rows != b->rows || c->slots != c->mark.slots || c->in_list)
            return pq_err_set(err, PQ_E_STATE, "column '%s': uncommitted rows (commit or roll back first)",
                              c->field->name);
    }
    /* Row groups: balanced, within the row limit and the estimated byte limit. */
    uint64_t rows = b->rows;
    uint64_t per_rg = w->opts.row_group_rows_max;
    if (rows > 0) {
        uint64_t row_bytes = (pq_batch_data_bytes(b) + rows - 1) / rows;
        if (row_bytes == 0) row_bytes = 1;
        uint64_t by_bytes = w->opts.row_group_bytes_max / row_bytes;
        if (by_bytes == 0) by_bytes = 1;
        if (by_bytes < per_rg) per_rg = by_bytes;
    }
    uint64_t groups = rows == 0 ? 0 : (rows + per_rg - 1) / per_rg;
    if (groups > PQ_ROW_GROUPS_MAX)
        return pq_err_set(err, PQ_E_LIMIT, "writer: %llu rows need %llu row groups (the limit is %d)",
                          (unsigned long long)rows, (unsigned long long)groups, PQ_ROW_GROUPS_MAX);
    if (!grow_array(w->mem, (void **)&w->rgs, &w->rgs_cap, groups, sizeof *w->rgs) ||
        !grow_array(w->mem, (void **)&w->cursors, &w->cursors_cap, ncols, sizeof *w->cursors) ||
        !grow_array(w->mem, (void **)&w->chunks, &w->chunks_cap, groups * ncols, sizeof *w->chunks))
        return pq_err_set(err, PQ_E_MEMORY, "writer: out of memory budget for %llu row groups",
                          (unsigned long long)groups);
    w->batch = b;
    w->rg_count = (uint32_t)groups;
    w->rows_per_rg = per_rg;
    w->rg = 0;
    w->col = 0;
    w->rg_row0 = 0;
    memset(w->cursors, 0, ncols * sizeof *w->cursors);
    if (groups > 0) memset(w->rgs, 0, groups * sizeof *w->rgs);
    w->pos = 0;
    w->acked = 0;
    w->out_head = w->out_count = 0;
    struct pq_buf *bufs[] = {&w->meta, &w->ci, &w->oi, &w->footer, &w->pages, &w->bounds};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) pq_buf_clear(bufs[i]);
    pq_err_clear(&w->err);
    w->state = W_MAGIC;
    return true;
}

/* ------------------------------------------------------------------------- */
/* Output queue: segments point into the writer's buffers (or constants) and
 * stay valid until handed out; no new step runs while any is pending. */

static void queue(struct pq_writer *w, const uint8_t *p, size_t n)
{
    if (n == 0) return;
    assert(w->out_count < PQ_OUT_SEGS_MAX);
    unsigned i = (w->out_head + w->out_count) % PQ_OUT_SEGS_MAX;
    w->out[i].p = p;
    w->out[i].len = n;
    w->out_count++;
    w->pos += n;
}

static size_t drain(struct pq_writer *w, uint8_t *dst, size_t cap)
{
    size_t n = 0;
    while (w->out_count > 0 && n < cap) {
        struct pq_seg *s = &w->out[w->out_head];
        size_t k = s->len < cap - n ? s->len : cap - n;
        memcpy(dst + n, s->p, k);
        n += k;
        pq_writer_ack(w, k);
    }
    return n;
}

void pq_writer_ack(struct pq_writer *w, size_t n)
{
    assert(w->out_count > 0 || n == 0);
    if (n == 0) return;
    struct pq_seg *s = &w->out[w->out_head];
    assert(n <= s->len);
    s->p += n;
    s->len -= n;
    w->acked += n;
    if (s->len == 0) {
        w->out_head = (w->out_head + 1) % PQ_OUT_SEGS_MAX;
        w->out_count--;
    }
}

/* ------------------------------------------------------------------------- */
/* Level scans */

/* The slot after `rows` rows starting at `slot` (rows begin where rep == 0). */
PQ_HOT static size_t advance_rows(const struct pq_col *c, size_t slot, uint64_t rows)
{
    if (c->max_rep == 0) return slot + rows;
    const uint8_t *rep = c->reps.data;
    uint64_t seen = 0;
    size_t i = slot;
    for (; i < c->slots; i++) {
        if (rep[i] == 0) {
            if (seen == rows) break;
            seen++;
        }
    }
    assert(seen == rows);
    return i;
}

/* Non-null values among slots [s0, s1). */
PQ_HOT static size_t count_present(const struct pq_col *c, size_t s0, size_t s1)
{
    if (c->max_def == 0 || c->defs_lazy) return s1 - s0;
    const uint8_t *d = c->defs.data;
    uint8_t m = c->max_def;
    size_t n = 0;
    for (size_t i = s0; i < s1; i++) n += d[i] == m;
    return n;
}

/* ------------------------------------------------------------------------- */
/* Pages */

/* A zstd frame of raw (stored) blocks holding src[0, n):
 *
 *   magic FD2FB528 (LE) | descriptor 0xA0 | content size (u32 LE) | blocks
 *
 * The descriptor says: single segment (the window is the content), a 4-byte
 * content size, no checksum, no dictionary. Each block is a 3-byte LE header
 * (bit 0: last block, bits 1-2: type 0 = raw, bits 3..23: size) followed by
 * at most 128 KiB of the bytes as they are; an empty body is one empty last
 * block. Returns the frame size (at most ZSTD_compressBound(n)). */
PQ_HOT static size_t zstd_raw_frame(uint8_t *dst, const uint8_t *src, size_t n)
{
    assert(n <= UINT32_MAX);
    pq_store_u32le(dst, ZSTD_MAGICNUMBER);
    dst[4] = 0xA0;
    pq_store_u32le(dst + 5, (uint32_t)n);
    size_t at = 9, done = 0;
    do {
        size_t k = n - done < ZSTD_BLOCKSIZE_MAX ? n - done : ZSTD_BLOCKSIZE_MAX;
        uint32_t h = (uint32_t)k << 3 | (done + k == n ? 1u : 0u);
        dst[at] = (uint8_t)h;
        dst[at + 1] = (uint8_t)(h >> 8);
        dst[at + 2] = (uint8_t)(h >> 16);
        if (k > 0) memcpy(dst + at + 3, src + done, k);
        at += 3 + k;
        done += k;
    } while (done < n);
    return at;
}

/* Compresses the page body w->body (w->page, or values straight from the
 * builder) and queues header + body. Returns the bytes queued, or 0 on error.
 * The header:
 *
 *   PageHeader { 1: type  2: uncompressed_page_size  3: compressed_page_size
 *                5: DataPageHeader { 1: num_values 2: encoding
 *                                    3: definition_level_encoding (RLE)
 *                                    4: repetition_level_encoding (RLE) }
 *             or 7: DictionaryPageHeader { 1: num_values 2: encoding (PLAIN) } } */
static size_t emit_page(struct pq_writer *w, int type, uint32_t num_values, int encoding)
{
    const char *name = w->batch->cols[w->col].field->name;
    if (w->page.failed) return fail(w, PQ_E_MEMORY, "out of memory budget for a page", name), 0;
    const uint8_t *src = w->body.p;
    size_t src_len = w->body.len;
    const uint8_t *body = src;
    size_t body_len = src_len;
    if (src_len > INT32_MAX) return fail(w, PQ_E_LIMIT, "a page larger than 2 GiB", name), 0;
    if (w->zstd != NULL) {
        size_t bound = ZSTD_compressBound(src_len);
        pq_buf_clear(&w->zpage);
        if (!pq_buf_reserve(&w->zpage, bound))
            return fail(w, PQ_E_MEMORY, "out of memory budget for a compressed page", name), 0;
        /* Incompressible data pages are stored raw, but every
         * PQ_RAW_REPROBE_PAGES-th one is compressed to check again. */
        bool raw = type == PT_DATA_PAGE && w->ck.store_raw && w->ck.data_pages % PQ_RAW_REPROBE_PAGES != 0;
        size_t r;
        if (raw) {
            r = zstd_raw_frame(w->zpage.data, src, src_len);
        } else {
            r = ZSTD_compress2(w->zstd, w->zpage.data, bound, src, src_len);
            if (ZSTD_isError(r)) return fail(w, PQ_E_CODEC, ZSTD_getErrorName(r), name), 0;
            if (type == PT_DATA_PAGE && src_len >= PQ_RAW_MIN_BYTES)
                w->ck.store_raw = (uint64_t)r * 100 >= (uint64_t)src_len * 97;
        }
        assert(r <= bound);
        w->zpage.len = r;
        body = w->zpage.data;
        body_len = r;
    }
    pq_buf_clear(&w->hdr);
    struct pq_thrift t;
    pq_thrift_init(&t, &w->hdr);
    pq_thrift_i32(&t, 1, type);
    pq_thrift_i32(&t, 2, (int32_t)src_len);
    pq_thrift_i32(&t, 3, (int32_t)body_len);
    if (type == PT_DATA_PAGE) {
        pq_thrift_struct_begin(&t, 5);
        pq_thrift_i32(&t, 1, (int32_t)num_values);
        pq_thrift_i32(&t, 2, encoding);
        pq_thrift_i32(&t, 3, ENC_RLE);
        pq_thrift_i32(&t, 4, ENC_RLE);
        pq_thrift_struct_end(&t);
    } else {
        pq_thrift_struct_begin(&t, 7);
        pq_thrift_i32(&t, 1, (int32_t)num_values);
        pq_thrift_i32(&t, 2, encoding);
        pq_thrift_struct_end(&t);
    }
    if (!pq_thrift_end(&t)) return fail(w, PQ_E_MEMORY, "out of memory budget for a page header", name), 0;
    queue(w, w->hdr.data, w->hdr.len);
    queue(w, body, body_len);
    w->ck.uncompressed_bytes += w->hdr.len + src_len;
    w->ck.compressed_bytes += w->hdr.len + body_len;
    return w->hdr.len + body_len;
}

/* The extent of the next data page from the chunk cursor: it ends at a row
 * boundary once it holds page_rows_max rows or about page_bytes_max bytes. */
PQ_HOT static void page_extent(const struct pq_writer *w, const struct pq_col *c, size_t *slot_end,
                               size_t *nvals, uint64_t *nrows)
{
    size_t s = w->ck.slot, end = w->ck.slot1;
    uint64_t rows_max = w->opts.page_rows_max;
    uint64_t bits_max = (uint64_t)w->opts.page_bytes_max * 8;
    uint64_t vbits = w->ck.dict ? (w->ck.bit_width > 0 ? w->ck.bit_width : 1)
                     : c->phys == PQ_PHYS_BOOLEAN ? 1 : (uint64_t)c->width * 8;
    if (c->max_rep == 0 && vbits > 0 && (w->ck.dict || c->width > 0)) {
        uint64_t n = end - s;
        if (n > rows_max) n = rows_max;
        uint64_t by_bytes = bits_max / vbits;
        if (n > by_bytes) n = by_bytes > 0 ? by_bytes : 1;
        *slot_end = s + (size_t)n;
        *nvals = count_present(c, s, s + (size_t)n);
        *nrows = n;
        return;
    }
    if (c->max_rep == 0 && (c->max_def == 0 || c->defs_lazy) && !w->ck.dict && c->width == 0) {
        /* PLAIN byte arrays without nulls (slot = value): the first page
         * prefix of at least bits_max bits, found by bisection over the
         * offsets (the general loop below does the same value by value). */
        const uint32_t *off = pq_col_offsets(c);
        size_t v = w->ck.val, left = end - s;
        assert(v == s);
        size_t lo = 1, hi = left < rows_max ? left : (size_t)rows_max;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            uint64_t bits = ((uint64_t)(off[v + mid] - off[v]) + 4 * (uint64_t)mid) * 8;
            if (bits >= bits_max) hi = mid;
            else lo = mid + 1;
        }
        *slot_end = s + lo;
        *nvals = lo;
        *nrows = lo;
        return;
    }
    const uint8_t *reps = c->max_rep > 0 ? c->reps.data : NULL;
    const uint8_t *defs = c->max_def > 0 && !c->defs_lazy ? c->defs.data : NULL;
    const uint32_t *off = c->width == 0 && !w->ck.dict ? pq_col_offsets(c) : NULL;
    uint8_t md = c->max_def;
    size_t v = w->ck.val;
    uint64_t rows = 0, bits = 0;
    for (; s < end; s++) {
        if (reps == NULL || reps[s] == 0) {
            if (rows > 0 && (rows >= rows_max || bits >= bits_max)) break;
            rows++;
        }
        if (defs == NULL || defs[s] == md) {
            bits += off != NULL ? ((uint64_t)(off[v + 1] - off[v]) + 4) * 8 : vbits;
            v++;
        }
    }
    *slot_end = s;
    *nvals = v - w->ck.val;
    *nrows = rows;
}

/* Levels of slots [s0, s1) with their v1 length prefix:
 *
 *   +----------------+------------------------------+
 *   | u32 LE n bytes | n bytes of RLE/BP hybrid     |
 *   +----------------+------------------------------+ */
static void put_levels(struct pq_buf *out, const uint8_t *levels, uint8_t all, size_t n, unsigned bw)
{
    if (!pq_buf_reserve(out, 4)) return;
    size_t at = out->len;
    out->len += 4;
    if (levels != NULL) pq_rle_encode_u8(out, levels, n, bw);
    else pq_rle_encode_repeat(out, all, n, bw);
    if (out->failed) return;
    pq_store_u32le(out->data + at, (uint32_t)(out->len - at - 4));
}

/* PLAIN values [v0, v0 + n) of column c. BYTE_ARRAY is a u32 LE length then
 * the bytes, per value; booleans are bit-packed; the rest is copied as is. */
PQ_HOT static void put_plain(struct pq_buf *out, const struct pq_col *c, size_t v0, size_t n)
{
    if (n == 0) return;
    if (c->phys == PQ_PHYS_BOOLEAN) {
        pq_pack_bools(out, c->values.data + v0, n);
    } else if (c->width > 0) {
        pq_buf_put(out, c->values.data + (size_t)c->width * v0, (size_t)c->width * n);
    } else {
        const uint32_t *off = pq_col_offsets(c);
        size_t bytes = off[v0 + n] - off[v0];
        /* Values are copied 16 bytes at a time (short ones are the common
         * case, and a call per value costs more than the copy): up to 15
         * bytes past a value are read, while they are still page data, and
         * written, into the next value's place or the 16 reserved here. */
        if (!pq_buf_reserve(out, 4 * n + bytes + 16)) return;
        uint8_t *dst = pq_buf_tail(out);
        const uint8_t *arena = c->arena.data;
        uint32_t end = off[v0 + n];
        for (size_t i = v0; i < v0 + n; i++) {
            uint32_t len = off[i + 1] - off[i];
            const uint8_t *src = arena + off[i];
            pq_store_u32le(dst, len);
            if (end - off[i] >= ((len + 15) & ~15u)) {
                for (uint32_t k = 0; k < len; k += 16) memcpy(dst + 4 + k, src + k, 16);
            } else {
                memcpy(dst + 4, src, len);
            }
            dst += 4 + (size_t)len;
        }
        out->len += 4 * n + bytes;
    }
}

/* Records a data page for the page index; its bounds go to w->bounds. */
static bool record_page(struct pq_writer *w, uint64_t offset, size_t size, uint64_t first_row,
                        const struct pq_stats *ps, const struct pq_field *f)
{
    struct pq_page_rec r = {0};
    r.offset = offset;
    r.size = (uint32_t)size;
    r.first_row = first_row;
    r.nulls = ps->nulls;
    r.null_page = ps->values == 0;
    r.bounds_off = w->bounds.len;
    if (w->ck.ci_ok && !r.null_page) {
        pq_stats_finish(ps, f, w->opts.stats_truncate_bytes, &w->sout);
        if (!w->sout.has_minmax) {
            w->ck.ci_ok = false; /* all NaN, or no bound fits: no ColumnIndex */
        } else {
            pq_buf_put(&w->bounds, w->sout.min, w->sout.min_len);
            pq_buf_put(&w->bounds, w->sout.max, w->sout.max_len);
            r.min_len = w->sout.min_len;
            r.max_len = w->sout.max_len;
        }
    }
    pq_buf_put(&w->pages, &r, sizeof r);
    return !w->pages.failed && !w->bounds.failed;
}

/* Statistics of a dictionary-encoded page of byte arrays: each distinct entry
 * the page uses is compared once (marks[e] == epoch: already seen). */
PQ_HOT static void page_stats_by_entry(struct pq_writer *w, const struct pq_col *c, struct pq_stats *ps,
                                       size_t v0, size_t nvals)
{
    const uint32_t *idx = (const uint32_t *)(const void *)w->idx.data + (v0 - w->ck.val0);
    uint32_t *marks = (uint32_t *)(void *)w->marks.data;
    uint32_t *uniq = (uint32_t *)(void *)w->uniq.data;
    uint32_t epoch = ++w->ck.epoch;
    size_t nu = 0;
    for (size_t i = 0; i < nvals; i++) {
        uint32_t e = idx[i];
        if (marks[e] != epoch) {
            marks[e] = epoch;
            uniq[nu++] = pq_dict_first(&w->dict, e);
        }
    }
    assert(nu <= w->dict.count);
    pq_stats_add_some(ps, c, uniq, nu, nvals);
}

/* One data page: levels, values, statistics, compression. */
static void step_page(struct pq_writer *w)
{
    const struct pq_col *c = &w->batch->cols[w->col];
    size_t s0 = w->ck.slot, s1, nvals;
    uint64_t nrows;
    page_extent(w, c, &s1, &nvals, &nrows);
    assert(s1 > s0 && nrows > 0);
    size_t nslots = s1 - s0;
    if (nslots > INT32_MAX) {
        fail(w, PQ_E_LIMIT, "more than 2^31 values in one page", c->field->name);
        return;
    }
    size_t v0 = w->ck.val;

    pq_buf_clear(&w->page);
    if (c->max_rep > 0) put_levels(&w->page, c->reps.data + s0, 0, nslots, pq_bit_width(c->max_rep));
    if (c->max_def > 0) {
        const uint8_t *defs = c->defs_lazy ? NULL : c->defs.data + s0;
        put_levels(&w->page, defs, c->max_def, nslots, pq_bit_width(c->max_def));
    }
    /* PLAIN fixed-width values without levels: the body is the builder's own
     * bytes, compressed (or queued) from there without a copy. */
    bool direct = !w->ck.dict && c->max_rep == 0 && c->max_def == 0 && c->width > 0 &&
                  c->phys != PQ_PHYS_BOOLEAN;
    if (w->ck.dict) {
        /* u8 bit width, then the indices as RLE/BP hybrid (no length prefix). */
        pq_buf_u8(&w->page, (uint8_t)w->ck.bit_width);
        const uint32_t *idx = (const uint32_t *)(const void *)w->idx.data;
        if (nvals > 0) pq_rle_encode_u32(&w->page, idx + (v0 - w->ck.val0), nvals, w->ck.bit_width);
    } else if (!direct) {
        put_plain(&w->page, c, v0, nvals);
    }
    w->body = direct ? (struct pq_seg){c->values.data + (size_t)c->width * v0, (size_t)c->width * nvals}
                     : (struct pq_seg){w->page.data, w->page.len};

    struct pq_stats ps;
    pq_stats_reset(&ps);
    ps.nulls = nslots - nvals;
    if (w->ck.dict_stats) page_stats_by_entry(w, c, &ps, v0, nvals);
    else pq_stats_add(&ps, c, v0, v0 + nvals);
    pq_stats_merge(&w->ck.stats, &ps, pq_field_order(c->field));

    uint64_t offset = w->pos;
    size_t size = emit_page(w, PT_DATA_PAGE, (uint32_t)nslots, w->ck.dict ? ENC_RLE_DICTIONARY : ENC_PLAIN);
    if (size == 0) return;
    if (w->ck.data_pages == 0) w->ck.data_page_offset = offset;
    w->ck.data_pages++;
    if (w->opts.page_index && !record_page(w, offset, size, w->ck.row, &ps, c->field)) {
        fail(w, PQ_E_MEMORY, "out of memory budget for the page index", c->field->name);
        return;
    }
    w->ck.slot = s1;
    w->ck.val = v0 + nvals;
    w->ck.row += nrows;
    if (w->ck.slot == w->ck.slot1) w->state = W_CHUNK_END;
}

static void step_dict_page(struct pq_writer *w)
{
    pq_buf_clear(&w->page);
    pq_dict_write_plain(&w->dict, &w->page);
    w->body = (struct pq_seg){w->page.data, w->page.len};
    uint64_t offset = w->pos;
    if (emit_page(w, PT_DICTIONARY_PAGE, w->dict.count, ENC_PLAIN) == 0) return;
    w->ck.dict_page_offset = (int64_t)offset;
    w->state = W_PAGE;
}

/* The number of distinct values expected among n values of which the first s
 * hold d distinct ones (0 < d <= s < n), if the values were drawn at random
 * from a set of D: the D with D (1 - e^(-s/D)) = d (found by bisection; the
 * left side grows with D, from d at D = d towards s), then D (1 - e^(-n/D)).
 * All distinct (d = s) means no repeat seen: n. */
static double dict_estimate(double d, double s, double n)
{
    assert(d > 0 && d <= s && s < n);
    if (d >= s) return n;
    double lo = d, hi = d;
    while (hi * -expm1(-s / hi) < d) hi *= 2;
    for (int k = 0; k < 60 && hi - lo > 0.5; k++) {
        double mid = (lo + hi) / 2;
        if (mid * -expm1(-s / mid) < d) lo = mid;
        else hi = mid;
    }
    return hi * -expm1(-n / hi);
}

/* After a slice: will the whole chunk clearly not fit the dictionary limits? */
static bool dict_hopeless(const struct pq_writer *w, size_t nvals, size_t max_entries)
{
    size_t s = w->ck.analyzed, d = w->dict.count;
    if (s == 0 || s >= nvals || d == 0) return false;
    double est = dict_estimate((double)d, (double)s, (double)nvals);
    double bytes = est * ((double)w->dict.plain_bytes / (double)d);
    if (est > 1.2 * (double)max_entries || bytes > 1.2 * (double)w->opts.dict_bytes_max) return true;
    /* Were the last slice's new entries what random draws would give, as
     * estimated before it? Far more means new values keep coming: project
     * the bytes at the slice's rate instead. */
    size_t s0 = w->ck.prev_analyzed, d0 = w->ck.prev_count;
    if (s0 == 0 || d0 == 0 || s <= s0) return false;
    double seen = (double)(d - d0);
    double expected = dict_estimate((double)d0, (double)s0, (double)s) - (double)d0;
    if (seen <= 4 * expected + 64) return false;
    double rate = (double)(w->dict.plain_bytes - w->ck.prev_bytes) / (double)(s - s0);
    double projected = (double)w->dict.plain_bytes + rate * (double)(nvals - s);
    return projected > 2.0 * (double)w->opts.dict_bytes_max;
}

/* Interns one slice of the chunk's values; falls back to PLAIN when the
 * dictionary gets too large (or memory is short), or when its estimated size
 * clearly will. */
static void step_analyze(struct pq_writer *w)
{
    size_t nvals = w->ck.val1 - w->ck.val0;
    size_t from = w->ck.val0 + w->ck.analyzed;
    size_t slice = w->ck.analyzed == 0 ? PQ_DICT_PROBE_VALUES : PQ_ANALYZE_SLICE_VALUES;
    size_t to = w->ck.val1 - from > slice ? from + slice : w->ck.val1;
    size_t max_entries = nvals / w->opts.dict_ratio;
    if (max_entries > UINT32_MAX) max_entries = UINT32_MAX;
    uint32_t *idx = (uint32_t *)(void *)w->idx.data;
    enum pq_dict_result r = pq_dict_add(&w->dict, from, to, idx + w->ck.analyzed,
                                        (uint32_t)max_entries, w->opts.dict_bytes_max);
    if (r != PQ_DICT_OK) {
        w->ck.dict = false;
        w->state = W_PAGE;
        return;
    }
    w->ck.analyzed += to - from;
    if (dict_hopeless(w, nvals, max_entries)) {
        w->ck.dict = false;
        w->state = W_PAGE;
        return;
    }
    w->ck.prev_analyzed = w->ck.analyzed;
    w->ck.prev_count = w->dict.count;
    w->ck.prev_bytes = w->dict.plain_bytes;
    if (w->ck.analyzed == nvals) {
        assert(w->dict.count > 0);
        w->ck.bit_width = pq_bit_width(w->dict.count - 1);
        w->state = W_DICT_PAGE;
        /* Byte arrays and uuids compare slowly: page stats per distinct entry
         * (decimals compare as integers, fast enough value by value). */
        const struct pq_col *c = &w->batch->cols[w->col];
        enum pq_order o = pq_field_order(c->field);
        size_t n = w->dict.count;
        pq_buf_clear(&w->marks);
        pq_buf_clear(&w->uniq);
        w->ck.dict_stats = o == PQ_ORDER_BYTES &&
                           pq_buf_reserve(&w->marks, 4 * n) && pq_buf_reserve(&w->uniq, 4 * n);
        if (w->ck.dict_stats) memset(w->marks.data, 0, 4 * n);
        w->marks.failed = w->uniq.failed = false;
    }
}

static void step_chunk_begin(struct pq_writer *w)
{
    const struct pq_col *c = &w->batch->cols[w->col];
    const struct pq_cursor *cur = &w->cursors[w->col];
    uint64_t rows = rg_rows(w, w->rg);
    assert(rows > 0);
    memset(&w->ck, 0, sizeof w->ck);
    w->ck.slot0 = w->ck.slot = cur->slot;
    w->ck.slot1 = advance_rows(c, cur->slot, rows);
    w->ck.val0 = w->ck.val = cur->value;
    w->ck.val1 = cur->value + count_present(c, w->ck.slot0, w->ck.slot1);
    w->ck.rows = rows;
    w->ck.dict_page_offset = -1;
    w->ck.ci_ok = w->opts.page_index;
    pq_stats_reset(&w->ck.stats);
    pq_buf_clear(&w->pages);
    pq_buf_clear(&w->bounds);
    if (w->col == 0) {
        w->rgs[w->rg].file_offset = w->pos;
        w->rgs[w->rg].rows = rows;
    }
    size_t nvals = w->ck.val1 - w->ck.val0;
    bool floating = c->phys == PQ_PHYS_FLOAT || c->phys == PQ_PHYS_DOUBLE;
    w->ck.dict = w->opts.dictionary && c->phys != PQ_PHYS_BOOLEAN && nvals > 0 &&
                 nvals / w->opts.dict_ratio > 0 && (w->opts.dictionary_floats || !floating);
    if (w->ck.dict) {
        pq_buf_clear(&w->idx);
        if (nvals > SIZE_MAX / 4 || !pq_buf_reserve(&w->idx, nvals * 4)) {
            w->idx.failed = false;
            w->ck.dict = false; /* short of memory: PLAIN needs none of this */
        } else {
            pq_dict_start(&w->dict, c->width, c->values.data,
                          c->width == 0 ? pq_col_offsets(c) : NULL, c->arena.data);
        }
    }
    w->state = w->ck.dict ? W_ANALYZE : W_PAGE;
}

/* ColumnIndex { 1: null_pages list<bool>  2: min_values list<binary>
 *               3: max_values list<binary>  4: boundary_order  5: null_counts list<i64> } */
static void write_column_index(struct pq_writer *w, const struct pq_field *f)
{
    const struct pq_page_rec *pg = (const struct pq_page_rec *)(const void *)w->pages.data;
    uint32_t n = w->ck.data_pages;
    enum pq_order o = pq_field_order(f);
    static const uint8_t none[1];
    const uint8_t *bounds = w->bounds.data != NULL ? w->bounds.data : none; /* all pages null */
    bool asc = true, desc = true;
    const struct pq_page_rec *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (pg[i].null_page) continue;
        if (prev != NULL) {
            const uint8_t *b = bounds;
            int cmin = pq_order_cmp(o, b + prev->bounds_off, prev->min_len, b + pg[i].bounds_off, pg[i].min_len);
            int cmax = pq_order_cmp(o, b + prev->bounds_off + prev->min_len, prev->max_len,
                                    b + pg[i].bounds_off + pg[i].min_len, pg[i].max_len);
            if (cmin > 0 || cmax > 0) asc = false;
            if (cmin < 0 || cmax < 0) desc = false;
        }
        prev = &pg[i];
    }
    struct pq_thrift t;
    pq_thrift_init(&t, &w->ci);
    pq_thrift_list_begin(&t, 1, PQ_TT_BOOL_TRUE, n);
    for (uint32_t i = 0; i < n; i++) pq_thrift_elem_bool(&t, pg[i].null_page);
    pq_thrift_list_begin(&t, 2, PQ_TT_BINARY, n);
    for (uint32_t i = 0; i < n; i++) pq_thrift_elem_binary(&t, bounds + pg[i].bounds_off, pg[i].min_len);
    pq_thrift_list_begin(&t, 3, PQ_TT_BINARY, n);
    for (uint32_t i = 0; i < n; i++)
        pq_thrift_elem_binary(&t, bounds + pg[i].bounds_off + pg[i].min_len, pg[i].max_len);
    pq_thrift_i32(&t, 4, asc ? BO_ASCENDING : desc ? BO_DESCENDING : BO_UNORDERED);
    pq_thrift_list_begin(&t, 5, PQ_TT_I64, n);
    for (uint32_t i = 0; i < n; i++) pq_thrift_elem_i64(&t, (int64_t)pg[i].nulls);
    pq_thrift_end(&t);
}

/* OffsetIndex { 1: page_locations list<PageLocation { 1: offset i64
 *               2: compressed_page_size i32 (with header)  3: first_row_index i64 }> } */
static void write_offset_index(struct pq_writer *w)
{
    const struct pq_page_rec *pg = (const struct pq_page_rec *)(const void *)w->pages.data;
    uint32_t n = w->ck.data_pages;
    struct pq_thrift t;
    pq_thrift_init(&t, &w->oi);
    pq_thrift_list_begin(&t, 1, PQ_TT_STRUCT, n);
    for (uint32_t i = 0; i < n; i++) {
        pq_thrift_elem_struct_begin(&t);
        pq_thrift_i64(&t, 1, (int64_t)pg[i].offset);
        pq_thrift_i32(&t, 2, (int32_t)pg[i].size);
        pq_thrift_i64(&t, 3, (int64_t)pg[i].first_row);
        pq_thrift_struct_end(&t);
    }
    pq_thrift_end(&t);
}

/* ColumnMetaData { 1: type  2: encodings  3: path_in_schema  4: codec
 *   5: num_values  6: total_uncompressed_size  7: total_compressed_size
 *   9: data_page_offset  11: dictionary_page_offset  12: statistics
 *   13: encoding_stats list<PageEncodingStats { 1: page_type 2: encoding 3: count }> } */
static void write_column_meta(struct pq_writer *w, const struct pq_col *c)
{
    const struct pq_field *f = c->field;
    struct pq_thrift t;
    pq_thrift_init(&t, &w->meta);
    pq_thrift_i32(&t, 1, (int32_t)c->phys);
    if (w->ck.dict) {
        pq_thrift_list_begin(&t, 2, PQ_TT_I32, 3);
        pq_thrift_elem_i32(&t, ENC_PLAIN);
        pq_thrift_elem_i32(&t, ENC_RLE);
        pq_thrift_elem_i32(&t, ENC_RLE_DICTIONARY);
    } else {
        pq_thrift_list_begin(&t, 2, PQ_TT_I32, 2);
        pq_thrift_elem_i32(&t, ENC_PLAIN);
        pq_thrift_elem_i32(&t, ENC_RLE);
    }
    if (f->list) {
        pq_thrift_list_begin(&t, 3, PQ_TT_BINARY, 3);
        pq_thrift_elem_string(&t, f->name);
        pq_thrift_elem_string(&t, "list");
        pq_thrift_elem_string(&t, "element");
    } else {
        pq_thrift_list_begin(&t, 3, PQ_TT_BINARY, 1);
        pq_thrift_elem_string(&t, f->name);
    }
    pq_thrift_i32(&t, 4, (int32_t)w->opts.codec);
    pq_thrift_i64(&t, 5, (int64_t)(w->ck.slot1 - w->ck.slot0));
    pq_thrift_i64(&t, 6, (int64_t)w->ck.uncompressed_bytes);
    pq_thrift_i64(&t, 7, (int64_t)w->ck.compressed_bytes);
    pq_thrift_i64(&t, 9, (int64_t)w->ck.data_page_offset);
    if (w->ck.dict) pq_thrift_i64(&t, 11, w->ck.dict_page_offset);
    pq_stats_finish(&w->ck.stats, f, w->opts.stats_truncate_bytes, &w->sout);
    pq_stats_write(&w->sout, &t, 12);
    pq_thrift_list_begin(&t, 13, PQ_TT_STRUCT, w->ck.dict ? 2 : 1);
    if (w->ck.dict) {
        pq_thrift_elem_struct_begin(&t);
        pq_thrift_i32(&t, 1, PT_DICTIONARY_PAGE);
        pq_thrift_i32(&t, 2, ENC_PLAIN);
        pq_thrift_i32(&t, 3, 1);
        pq_thrift_struct_end(&t);
    }
    pq_thrift_elem_struct_begin(&t);
    pq_thrift_i32(&t, 1, PT_DATA_PAGE);
    pq_thrift_i32(&t, 2, w->ck.dict ? ENC_RLE_DICTIONARY : ENC_PLAIN);
    pq_thrift_i32(&t, 3, (int32_t)w->ck.data_pages);
    pq_thrift_struct_end(&t);
    pq_thrift_end(&t);
}

static void step_chunk_end(struct pq_writer *w)
{
    const struct pq_col *c = &w->batch->cols[w->col];
    uint32_t ncols = w->batch->schema->count;
    assert(w->ck.row == w->ck.rows && w->ck.val == w->ck.val1 && w->ck.slot == w->ck.slot1);
    struct pq_chunk_rec *rec = &w->chunks[(size_t)w->rg * ncols + w->col];
    rec->compressed_bytes = w->ck.compressed_bytes;
    rec->uncompressed_bytes = w->ck.uncompressed_bytes;
    rec->meta_off = w->meta.len;
    write_column_meta(w, c);
    rec->meta_len = w->meta.len - rec->meta_off;
    rec->ci_off = rec->oi_off = -1;
    if (w->opts.page_index) {
        if (w->ck.ci_ok) {
            rec->ci_off = (int64_t)w->ci.len;
            write_column_index(w, c->field);
            rec->ci_len = (uint32_t)(w->ci.len - (size_t)rec->ci_off);
        }
        rec->oi_off = (int64_t)w->oi.len;
        write_offset_index(w);
        rec->oi_len = (uint32_t)(w->oi.len - (size_t)rec->oi_off);
    }
    if (w->meta.failed || w->ci.failed || w->oi.failed) {
        fail(w, PQ_E_MEMORY, "out of memory budget for the metadata", c->field->name);
        return;
    }
    struct pq_rg_rec *rg = &w->rgs[w->rg];
    rg->compressed_bytes += w->ck.compressed_bytes;
    rg->uncompressed_bytes += w->ck.uncompressed_bytes;
    w->cursors[w->col].slot = w->ck.slot1;
    w->cursors[w->col].value = w->ck.val1;
    if (++w->col < ncols) {
        w->state = W_CHUNK_BEGIN;
        return;
    }
    w->col = 0;
    w->rg_row0 += rg->rows;
    w->state = ++w->rg < w->rg_count ? W_CHUNK_BEGIN : W_PAGE_INDEX;
}

static void step_page_index(struct pq_writer *w)
{
    w->ci_base = w->pos;
    queue(w, w->ci.data, w->ci.len);
    w->oi_base = w->pos;
    queue(w, w->oi.data, w->oi.len);
    w->state = W_FOOTER;
}

/* FileMetaData { 1: version (1)  2: schema  3: num_rows  4: row_groups
 *                6: created_by  7: column_orders (TYPE_ORDER per leaf) }
 * RowGroup { 1: columns  2: total_byte_size  3: num_rows  5: file_offset
 *            6: total_compressed_size  7: ordinal }
 * ColumnChunk { 2: file_offset (0)  3: meta_data  4/5: offset index  6/7: column index } */
static void step_footer(struct pq_writer *w)
{
    const struct pq_schema *s = w->batch->schema;
    uint32_t ncols = s->count;
    pq_buf_clear(&w->footer);
    struct pq_thrift t;
    pq_thrift_init(&t, &w->footer);
    pq_thrift_i32(&t, 1, 1);
    pq_thrift_list_begin(&t, 2, PQ_TT_STRUCT, pq_schema_element_count(s));
    pq_schema_write(s, &t);
    pq_thrift_i64(&t, 3, (int64_t)w->batch->rows);
    pq_thrift_list_begin(&t, 4, PQ_TT_STRUCT, w->rg_count);
    for (uint32_t g = 0; g < w->rg_count; g++) {
        const struct pq_rg_rec *rg = &w->rgs[g];
        pq_thrift_elem_struct_begin(&t);
        pq_thrift_list_begin(&t, 1, PQ_TT_STRUCT, ncols);
        for (uint32_t i = 0; i < ncols; i++) {
            const struct pq_chunk_rec *rec = &w->chunks[(size_t)g * ncols + i];
            pq_thrift_elem_struct_begin(&t);
            pq_thrift_i64(&t, 2, 0);
            pq_thrift_struct_raw(&t, 3, w->meta.data + rec->meta_off, rec->meta_len);
            if (rec->oi_off >= 0) {
                pq_thrift_i64(&t, 4, (int64_t)w->oi_base + rec->oi_off);
                pq_thrift_i32(&t, 5, (int32_t)rec->oi_len);
            }
            if (rec->ci_off >= 0) {
                pq_thrift_i64(&t, 6, (int64_t)w->ci_base + rec->ci_off);
                pq_thrift_i32(&t, 7, (int32_t)rec->ci_len);
            }
            pq_thrift_struct_end(&t);
        }
        pq_thrift_i64(&t, 2, (int64_t)rg->uncompressed_bytes);
        pq_thrift_i64(&t, 3, (int64_t)rg->rows);
        pq_thrift_i64(&t, 5, (int64_t)rg->file_offset);
        pq_thrift_i64(&t, 6, (int64_t)rg->compressed_bytes);
        pq_thrift_i16(&t, 7, (int16_t)g);
        pq_thrift_struct_end(&t);
    }
    pq_thrift_string(&t, 6, w->opts.created_by);
    pq_thrift_list_begin(&t, 7, PQ_TT_STRUCT, ncols);
    for (uint32_t i = 0; i < ncols; i++) {
        pq_thrift_elem_struct_begin(&t);
        pq_thrift_empty_struct(&t, 1); /* TYPE_ORDER */
        pq_thrift_struct_end(&t);
    }
    if (!pq_thrift_end(&t)) {
        fail(w, PQ_E_MEMORY, "out of memory budget for the footer", NULL);
        return;
    }
    if (w->footer.len > UINT32_MAX) {
        fail(w, PQ_E_LIMIT, "a footer larger than 4 GiB", NULL);
        return;
    }
    queue(w, w->footer.data, w->footer.len);
    pq_store_u32le(w->tail, (uint32_t)w->footer.len);
    memcpy(w->tail + 4, magic, 4);
    queue(w, w->tail, 8);
    w->state = W_DONE;
}

/* Runs one step; returns true if it was heavy (a page, a dictionary slice, the
 * footer), after which pull returns rather than starting another. */
static bool step(struct pq_writer *w)
{
    switch (w->state) {
    case W_MAGIC:
        queue(w, magic, 4);
        w->state = w->rg_count > 0 ? W_CHUNK_BEGIN : W_PAGE_INDEX;
        return false;
    case W_CHUNK_BEGIN: step_chunk_begin(w); return false;
    case W_ANALYZE: step_analyze(w); return true;
    case W_DICT_PAGE: step_dict_page(w); return true;
    case W_PAGE: step_page(w); return true;
    case W_CHUNK_END: step_chunk_end(w); return false;
    case W_PAGE_INDEX: step_page_index(w); return false;
    case W_FOOTER: step_footer(w); return true;
    case W_IDLE:
        fail(w, PQ_E_STATE, "writer: no file begun", NULL);
        return true;
    default:
        return true;
    }
}

enum pq_status pq_writer_status(const struct pq_writer *w)
{
    if (w->state == W_ERROR) return PQ_ERROR;
    if (w->state == W_DONE && w->out_count == 0) return PQ_DONE;
    return PQ_MORE;
}

enum pq_status pq_writer_pull(struct pq_writer *w, void *dst, size_t cap, size_t *written)
{
    assert(dst != NULL || cap == 0);
    size_t n = 0;
    bool worked = false;
    for (;;) {
        n += drain(w, (uint8_t *)dst + n, cap - n);
        if (w->state == W_ERROR) break;
        if (w->out_count > 0) break; /* dst is full */
        if (w->state == W_DONE) break;
        if (worked) break;
        worked = step(w);
    }
    *written = n;
    return pq_writer_status(w);
}

const uint8_t *pq_writer_out(struct pq_writer *w, size_t *len)
{
    bool worked = false;
    while (w->out_count == 0 && w->state != W_DONE && w->state != W_ERROR && !worked)
        worked = step(w);
    if (w->out_count == 0 || w->state == W_ERROR) {
        *len = 0;
        return NULL;
    }
    *len = w->out[w->out_head].len;
    return w->out[w->out_head].p;
}

const struct pq_err *pq_writer_error(const struct pq_writer *w)
{
    return &w->err;
}

uint64_t pq_writer_file_bytes(const struct pq_writer *w)
{
    return w->pos;
}
