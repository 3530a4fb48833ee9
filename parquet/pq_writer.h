/* pq_writer: encodes a batch into one Parquet file, pulled a slice at a time.
 *
 * Sans-IO, in the manner of BearSSL's engines: the writer never does I/O. The
 * caller starts a file from a committed batch, then pulls the encoded bytes
 * into its own buffer (or borrows them with out/ack) until the writer says
 * done. Every pull does a bounded amount of work, about one page (encode and
 * compress at most page_bytes_max / page_rows_max of one column) or one
 * dictionary slice, so a large batch never holds the event loop for long and
 * the first bytes are ready for a multipart upload long before the last ones.
 * The file size is known only at the end.
 *
 *   struct pq_writer w;
 *   pq_writer_opts_default(&opts);
 *   opts.created_by = version_created_by();
 *   pq_writer_init(&w, &mem, &opts, &err);
 *   pq_writer_begin(&w, &batch, &err);
 *   for (;;) {
 *       size_t n;
 *       enum pq_status st = pq_writer_pull(&w, buf, sizeof buf, &n);
 *       if (st == PQ_ERROR) ... pq_writer_error(&w)->msg ...
 *       consume(buf, n);
 *       if (st == PQ_DONE) break;
 *   }
 *
 * File layout written (reference/parquet.md §1):
 *
 *   "PAR1"
 *   row group 0: chunk col 0: [dict page] data page ... ; chunk col 1 ...
 *   row group 1 ...
 *   ColumnIndex of every chunk, then OffsetIndex of every chunk   (page index)
 *   FileMetaData (compact Thrift)
 *   u32 LE length of FileMetaData
 *   "PAR1"
 *
 * Every page is a PageHeader (never compressed) followed by its body:
 *
 *   data page v1 body (compressed as one stream):
 *   +-----------------------+-----------------------+---------------------+
 *   | u32 LE len | rep RLE  | u32 LE len | def RLE  | values              |
 *   +-----------------------+-----------------------+---------------------+
 *     lists only              nullable / lists        PLAIN, or
 *                                                      u8 bit width + RLE/BP indices
 *
 *   dictionary page body: the PLAIN values of the dictionary, in index order.
 *
 * Encoding per column chunk, decided before its first page: a dictionary
 * (PLAIN dictionary page + RLE_DICTIONARY data pages) unless the column is
 * BOOLEAN, the chunk has no value, or interning finds more than
 * values / dict_ratio distinct values or more than dict_bytes_max of
 * dictionary, in which case every page is PLAIN. Interning goes a slice at a
 * time (the first slice is PQ_DICT_PROBE_VALUES values, the others
 * PQ_ANALYZE_SLICE_VALUES), and after each slice the writer estimates how
 * many distinct values the whole chunk holds, as if its values were drawn at
 * random from a set of D (the D for which s draws give the d distinct values
 * seen: d = D (1 - e^(-s/D))). When the estimate passes a limit by a fifth,
 * the attempt ends there: unique ids, timestamps and random measurements fall
 * back to PLAIN after a few thousand values instead of after values / ratio
 * (interning them was the largest cost of encoding them). Columns whose
 * distinct values grow more slowly than random draws (skewed values) are
 * under-estimated, so they simply run into the limit as before. Columns whose
 * new values keep arriving (session ids: each new one repeated a few times)
 * show it in the next slice, which brings many more new entries than the
 * estimate made before it allowed (over 4x); for them the dictionary's bytes
 * are projected at the rate of the last slice, and over twice
 * dict_bytes_max ends the attempt.
 *
 * Compression: zstd at the configured level, one frame per page body, with
 * one context reused for every page. For the fast and double-fast strategies
 * (levels up to 4, negative levels included) the hash tables are capped at
 * 2^PQ_ZSTD_HASH_LOG_MAX and 2^PQ_ZSTD_CHAIN_LOG_MAX entries: a page is at
 * most about a megabyte and its matches are near, so small tables that stay
 * in the CPU cache lose under 1 % of the size and save about a fifth of the
 * time (smackz, level 3). Fixed-width PLAIN pages without levels are
 * compressed straight from the column builder (no page copy). A data page of
 * a chunk whose last compressed page saved less than 3 % (random ids, hashes)
 * is stored in a frame of raw zstd blocks instead (still a valid zstd frame,
 * no compression work); every PQ_RAW_REPROBE_PAGES-th page is compressed
 * again to see whether the data has changed.
 *
 * Pages start at row boundaries and hold at most page_rows_max rows and about
 * page_bytes_max bytes. Row groups are balanced and hold at most
 * row_group_rows_max rows and about row_group_bytes_max bytes (estimated from
 * the batch); there are no empty row groups, and an empty batch gives a file
 * with no row group. */
#ifndef PQ_WRITER_H
#define PQ_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pq_buf.h"
#include "pq_column.h"
#include "pq_dict.h"
#include "pq_mem.h"
#include "pq_schema.h"
#include "pq_stats.h"

enum pq_codec {
    PQ_CODEC_UNCOMPRESSED = 0,
    PQ_CODEC_ZSTD = 6,
};

enum pq_status {
    PQ_ERROR = -1,   /* see pq_writer_error */
    PQ_DONE = 0,     /* the file is complete (the last bytes may come with it) */
    PQ_MORE = 1,     /* call again */
};

enum {
    PQ_PAGE_ROWS_DEFAULT = 20000,
    PQ_PAGE_BYTES_DEFAULT = 1 << 20,
    PQ_ROW_GROUP_ROWS_DEFAULT = 1000000,
    PQ_DICT_BYTES_DEFAULT = 1 << 20,
    PQ_DICT_RATIO_DEFAULT = 5,
    PQ_ZSTD_LEVEL_DEFAULT = 3,
    PQ_PAGE_BYTES_MAX = 1 << 30,       /* page and dictionary size limits */
    PQ_ROW_GROUPS_MAX = 32767,         /* RowGroup.ordinal is an i16 */
    PQ_CREATED_BY_MAX_BYTES = 1024,
    PQ_ANALYZE_SLICE_VALUES = 65536,   /* values interned per pull */
    PQ_DICT_PROBE_VALUES = 4096,       /* the first slice: enough to estimate from */
    PQ_ZSTD_HASH_LOG_MAX = 12,         /* zstd tables for levels with fast/dfast strategies */
    PQ_ZSTD_CHAIN_LOG_MAX = 11,
    PQ_RAW_REPROBE_PAGES = 16,         /* incompressible chunks: compress every 16th page */
    PQ_RAW_MIN_BYTES = 65536,          /* pages this large (or larger) decide raw storage */
};
#define PQ_ROW_GROUP_BYTES_DEFAULT ((size_t)128 << 20)

struct pq_writer_opts {
    const char *created_by;          /* required: "lakewriter version X.Y.Z (build <sha>)" */
    enum pq_codec codec;             /* default ZSTD */
    int zstd_level;                  /* default 3 */
    uint32_t page_rows_max;          /* default 20,000 */
    size_t page_bytes_max;           /* default 1 MiB (uncompressed, estimated) */
    uint64_t row_group_rows_max;     /* default 1,000,000 */
    size_t row_group_bytes_max;      /* default 128 MiB (uncompressed, estimated) */
    bool dictionary;                 /* default true */
    bool dictionary_floats;          /* also for FLOAT/DOUBLE; default true */
    uint32_t dict_ratio;             /* dictionary only if distinct <= values / ratio; default 5 */
    size_t dict_bytes_max;           /* default 1 MiB of PLAIN dictionary */
    bool page_index;                 /* ColumnIndex + OffsetIndex; default true */
    uint32_t stats_truncate_bytes;   /* default 64 */
};

/* Fills `o` with the defaults (created_by stays NULL: the caller must set it). */
void pq_writer_opts_default(struct pq_writer_opts *o);

/* ---- internals below: the caller owns the struct but does not touch them ---- */

struct pq_seg {
    const uint8_t *p;
    size_t len;
};

enum { PQ_OUT_SEGS_MAX = 4 };

struct pq_chunk_rec {          /* one column chunk, for the footer */
    size_t meta_off, meta_len;  /* ColumnMetaData body in meta_buf */
    uint64_t compressed_bytes, uncompressed_bytes;
    int64_t ci_off, oi_off;     /* relative to the page index buffers; -1: none */
    uint32_t ci_len, oi_len;
};

struct pq_rg_rec {
    uint64_t rows;
    uint64_t file_offset;
    uint64_t compressed_bytes, uncompressed_bytes;
};

struct pq_cursor {             /* where the next row group starts, per column */
    size_t slot, value;
};

struct pq_page_rec {           /* one data page, for the page index */
    uint64_t offset;
    uint32_t size;             /* header + compressed body */
    uint64_t first_row;        /* relative to the row group */
    uint64_t nulls;
    bool null_page;
    size_t bounds_off;         /* min then max in bounds_buf */
    uint32_t min_len, max_len;
};

struct pq_writer {
    struct pq_mem *mem;
    struct pq_writer_opts opts;
    struct pq_err err;
    void *zstd;                /* ZSTD_CCtx, reused for every page */
    size_t zstd_bytes;         /* allocated by the compressor */
    int state;

    const struct pq_batch *batch;
    uint64_t pos;              /* bytes produced so far = offset of the next byte */
    uint64_t acked;            /* bytes handed to the caller */
    struct pq_seg out[PQ_OUT_SEGS_MAX];
    unsigned out_head, out_count;

    /* Plan: row groups and per-column cursors. */
    uint32_t rg_count, rg;
    uint64_t rows_per_rg;
    uint64_t rg_row0;          /* first batch row of the current row group */
    uint32_t col;
    struct pq_rg_rec *rgs;
    size_t rgs_cap;
    struct pq_cursor *cursors;
    size_t cursors_cap;
    struct pq_chunk_rec *chunks;
    size_t chunks_cap;

    /* The current chunk. */
    struct {
        size_t slot0, slot1, val0, val1;
        size_t slot, val;
        uint64_t rows, row;
        bool dict;
        unsigned bit_width;
        size_t analyzed;
        size_t prev_analyzed, prev_count, prev_bytes;  /* dictionary after the slice before */
        uint64_t compressed_bytes, uncompressed_bytes;
        uint64_t data_page_offset;
        int64_t dict_page_offset;
        uint32_t data_pages;
        bool ci_ok;
        bool dict_stats;       /* page stats over distinct entries (marks) */
        bool store_raw;        /* the last compressed page saved < 3 %: store raw */
        uint32_t epoch;        /* page number, for marks */
        struct pq_stats stats;
    } ck;

    struct pq_dict dict;
    struct pq_buf idx;         /* uint32 dictionary index per value of the chunk */
    struct pq_buf marks;       /* uint32 per dictionary entry: last page that used it */
    struct pq_buf uniq;        /* uint32 value indices of the entries a page uses */
    struct pq_buf page;        /* uncompressed page body (levels, encoded values) */
    struct pq_seg body;        /* the page body to emit: in `page`, or builder values */
    struct pq_buf zpage;       /* compressed page body */
    struct pq_buf hdr;         /* page header, magic, footer length */
    struct pq_buf meta;        /* ColumnMetaData bodies of every chunk */
    struct pq_buf ci;          /* ColumnIndex structs */
    struct pq_buf oi;          /* OffsetIndex structs */
    struct pq_buf footer;      /* FileMetaData */
    struct pq_buf pages;       /* struct pq_page_rec of the current chunk */
    struct pq_buf bounds;      /* page-index min/max bytes of the current chunk */
    uint64_t ci_base, oi_base; /* file offsets of the page index buffers */
    uint8_t tail[8];           /* footer length + "PAR1" */
    struct pq_stats_out sout;  /* scratch */
};

/* Sets up a writer: copies the options (created_by must stay valid), creates
 * the compressor inside `mem`. Returns false with a message on bad options or
 * memory. */
bool pq_writer_init(struct pq_writer *w, struct pq_mem *mem, const struct pq_writer_opts *opts,
                    struct pq_err *err);

/* Frees everything the writer holds. */
void pq_writer_free(struct pq_writer *w);

/* Starts a file holding the committed rows of `b`; the batch must not change
 * until the writer is done (or begun again). A writer can write any number of
 * files, one after the other, reusing its memory. */
bool pq_writer_begin(struct pq_writer *w, const struct pq_batch *b, struct pq_err *err);

/* Copies up to `cap` bytes of the file into `dst` and sets *written. Does at
 * most one page (or one dictionary slice) of work when nothing is pending.
 * Returns PQ_MORE (call again), PQ_DONE (the file is complete; *written may
 * be > 0) or PQ_ERROR. */
enum pq_status pq_writer_pull(struct pq_writer *w, void *dst, size_t cap, size_t *written);

/* Zero-copy variant: returns the next pending bytes (doing at most one page of
 * work if none are pending) and their count in *len; they stay valid until
 * pq_writer_ack. *len == 0 with pq_writer_status() == PQ_MORE means "call
 * again". */
const uint8_t *pq_writer_out(struct pq_writer *w, size_t *len);

/* Marks the first n bytes returned by pq_writer_out as consumed. */
void pq_writer_ack(struct pq_writer *w, size_t n);

/* PQ_MORE while bytes remain, PQ_DONE at the end, PQ_ERROR after a failure. */
enum pq_status pq_writer_status(const struct pq_writer *w);

/* The error after PQ_ERROR. */
const struct pq_err *pq_writer_error(const struct pq_writer *w);

/* Bytes of the file produced so far (the final file size once done). */
uint64_t pq_writer_file_bytes(const struct pq_writer *w);

/* Bytes allocated by the writer (buffers, dictionary, compressor). */
size_t pq_writer_mem_bytes(const struct pq_writer *w);

#endif
