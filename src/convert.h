/* convert: local JSON lines -> one Parquet file, through exactly the decode and
 * encode path the writer uses (decode_json into a pq_batch, pq_writer with the
 * options of the config's [parquet] section, created_by = version_created_by()).
 *
 *   lakewriter convert --config FILE --table T [--input FILE|-] --output OUT.parquet
 *                      [--rejects FILE]
 *
 *   input line N   {"order_id": "...", "subtotal": 12.30, ...}   one `data` object
 *        |
 *        +-- decode_json --ok--> batch row  (_stream_id = "0-N", _stream = null,
 *        |                                   _ingested_at = when convert started)
 *        +-- refused ----------> rejects file: {"line":N,"error":"bad value",
 *                                 "table":"orders","column":"subtotal",
 *                                 "message":"table orders, column subtotal: ...",
 *                                 "input":"<the line>"}
 *   end of input -> pq_writer pulled into OUT.parquet.tmp.<pid> -> fsync -> rename
 *
 * Exit status: 0 every line converted, 1 some lines were rejected (the output
 * still holds every good row), 2 usage or I/O errors (unknown table, unreadable
 * input, unwritable output, a configuration problem in [tables] or [parquet]),
 * in which case no output file is left behind.
 *
 * One file, one batch: the encoder (pq_writer) writes a file from a single batch,
 * so every row is held in memory until the end of the input. The batch may use
 * three quarters of limits.memory (--memory-limit), the encoder the rest; an input
 * that does not fit fails with status 2 and says so, instead of growing.
 *
 * I/O: convert is an offline command, so it uses plain blocking stdio (getline
 * on the input, fwrite for the rejects, write/fsync/rename for the output)
 * instead of the io_uring loop. Blank lines are skipped (counted); a line may end
 * in "\n" or "\r\n". */
#ifndef LW_CONVERT_H
#define LW_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "parquet/parquet.h"

enum {
    CONVERT_EXIT_OK = 0,
    CONVERT_EXIT_REJECTED = 1,
    CONVERT_EXIT_USAGE = 2,
    CONVERT_SHOWN_REJECTS_MAX = 10,   /* rejections printed to `log` without --rejects */
};

struct convert_opts {
    const char *table;     /* the table the lines belong to (required) */
    const char *input;     /* a file, or "-" / NULL for standard input */
    const char *output;    /* the Parquet file to write (required) */
    const char *rejects;   /* JSON lines of the refused lines, or NULL: messages go to `log` */
    FILE *log;             /* the summary and errors (standard error) */
};

struct convert_stats {
    uint64_t lines;         /* lines read, blank ones included */
    uint64_t blank;         /* blank lines skipped */
    uint64_t rows;          /* rows written */
    uint64_t rejected;      /* lines refused */
    uint64_t unknown_keys;  /* keys that name no column, ignored */
    uint64_t input_bytes;
    uint64_t output_bytes;
};

/* Checks whether a loaded configuration can drive convert: problems in settings
 * convert does not use (s3.*, redis.*, streams, and the limits.memory cross-check
 * against upload buffers) are ignored, every other error is printed to `out`.
 * Returns true when none is left. */
bool convert_config_usable(const struct config *cfg, const struct config_report *rep, FILE *out);

/* The encoder options of the config's [parquet] section (compression, zstd_level,
 * row_group_rows, page_rows; created_by = version_created_by()), the others at the
 * encoder's defaults: what every Parquet file of lakewriter is written with. */
void convert_writer_opts(const struct config *cfg, struct pq_writer_opts *o);

/* Runs the conversion described by `o` with the tables and [parquet] settings of
 * `cfg`. Returns a CONVERT_EXIT_* status; fills `stats` when not NULL. */
int convert_run(const struct config *cfg, const struct convert_opts *o, struct convert_stats *stats);

#endif
