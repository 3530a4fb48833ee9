/* util: small parsers and formatters shared by the configuration and the CLI.
 *
 * Sizes:      "64MiB", "512KiB", "5GiB", "1024", "100MB", "16Mi", "0"
 *             binary units B, KiB, MiB, GiB, TiB (also Ki, Mi, Gi, Ti as in
 *             Kubernetes), decimal units kB/KB, MB, GB, TB; a bare integer is bytes.
 *             "64M" and "1.5GiB" are refused: the first is ambiguous, the second
 *             has a fraction (write 1536MiB).
 * Durations:  "30s", "250ms", "5m", "1h", "1h30m", "2m30s"; units ms, s, m, h, d.
 *             Parts go from the largest unit to the smallest, each at most once.
 *             A bare number is refused (is "30" seconds or milliseconds?), except
 *             "0". Sub-millisecond units (us, ns) are refused.
 * Integers:   plain decimal digits, no sign, no separators.
 *
 * All parsers take a NUL-terminated string, reject surrounding blanks, detect
 * overflow, and on failure fill `e` with a message that quotes the input (callers
 * must not pass secrets here). */
#ifndef LW_UTIL_H
#define LW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    UTIL_PARSE_INPUT_MAX = 64,  /* longest size/duration/integer text accepted */
    UTIL_SUGGEST_LEN_MAX = 64,  /* longer words get no "did you mean" */
};

/* Parses a size in bytes ("64MiB"). */
bool util_parse_size(const char *text, uint64_t *bytes, struct lw_err *e);

/* Parses a duration into milliseconds ("30s", "250ms", "1h30m"). */
bool util_parse_duration(const char *text, uint64_t *ms, struct lw_err *e);

/* Parses a plain non-negative decimal integer ("1000"). */
bool util_parse_u64(const char *text, uint64_t *out, struct lw_err *e);

/* Writes `bytes` with the largest binary unit that divides it exactly
 * ("64MiB", "1000B"); returns `buf`. `cap` >= 24 always suffices. */
char *util_format_size(uint64_t bytes, char *buf, size_t cap);

/* Writes `ms` as the shortest exact duration ("1h30m", "250ms", "0s"); returns
 * `buf`. `cap` >= 40 always suffices. */
char *util_format_duration(uint64_t ms, char *buf, size_t cap);

/* Number of bytes at the start of `s` (length `len`) that form valid UTF-8
 * (no overlongs, no surrogates, nothing above U+10FFFF). Equal to `len` if
 * the whole text is valid. */
size_t util_utf8_valid_prefix(const char *s, size_t len);

/* Encodes code point `cp` (<= 0x10FFFF, not a surrogate) as UTF-8 into `out`
 * (room for 4 bytes); returns the number of bytes written, 0 if `cp` is invalid. */
size_t util_utf8_encode(uint32_t cp, char out[4]);

/* Edit distance (insert, delete, substitute, swap adjacent) between two short
 * words; SIZE_MAX if either is longer than UTIL_SUGGEST_LEN_MAX. */
size_t util_edit_distance(const char *a, const char *b);

/* The candidate closest to `word` if it is close enough to be a likely typo
 * (at most 1 edit for short words, about a third of the length for longer ones),
 * else NULL. `candidates` has `count` entries; NULL entries are skipped. */
const char *util_suggest(const char *word, const char *const *candidates, size_t count);

#endif
