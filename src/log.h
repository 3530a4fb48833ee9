/* log: structured log lines on stderr.
 *
 * One event = one line, written with a single write(2) so that lines from
 * different moments never interleave. JSON lines by default:
 *
 *   {"ts":"2026-11-25T10:00:00.123Z","level":"info","msg":"batch committed","table":"orders","rows":5000}
 *
 * or, with --log-format text, for humans:
 *
 *   2026-11-25T10:00:00.123Z INFO  batch committed table=orders rows=5000
 *
 * The logger is configured once at start-up (log_configure) and is the one piece of
 * process-wide state besides the loop and the config. Timestamps are read from
 * CLOCK_REALTIME here: they are for people, and no decision depends on them. */
#ifndef LW_LOG_H
#define LW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

enum log_kv_type { LOG_KV_STR, LOG_KV_INT, LOG_KV_UINT, LOG_KV_F64, LOG_KV_BOOL };

/* One key=value field of a log line. Build them with the LOG_* macros below. */
struct log_kv {
    const char *key;
    enum log_kv_type type;
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        double d;
        bool b;
    };
};

#define LOG_STR(k, v)  ((struct log_kv){ .key = (k), .type = LOG_KV_STR, .s = (v) })
#define LOG_INT(k, v)  ((struct log_kv){ .key = (k), .type = LOG_KV_INT, .i = (int64_t)(v) })
#define LOG_UINT(k, v) ((struct log_kv){ .key = (k), .type = LOG_KV_UINT, .u = (uint64_t)(v) })
#define LOG_F64(k, v)  ((struct log_kv){ .key = (k), .type = LOG_KV_F64, .d = (double)(v) })
#define LOG_BOOL(k, v) ((struct log_kv){ .key = (k), .type = LOG_KV_BOOL, .b = (v) })

/* Sets the output format, the lowest level written and the file descriptor
 * (normally 2). Until it is called: JSON, info, stderr. */
void log_configure(enum log_format format, enum log_level min_level, int fd);

/* True if lines of `level` are written. */
bool log_enabled(enum log_level level);

/* Writes one line: `msg` and the `count` fields of `kv` (kv may be NULL if 0).
 * Lines longer than 8 KiB are cut, and stay valid JSON. */
void log_emit(enum log_level level, const char *msg, const struct log_kv *kv, size_t count);

/* Number of lines emitted at each level since start (for metrics and tests). */
uint64_t log_count(enum log_level level);

/* Parses "debug" | "info" | "warn" | "error"; false if none of them. */
bool log_parse_level(const char *text, enum log_level *out);

/* Parses "json" | "text"; false if neither. */
bool log_parse_format(const char *text, enum log_format *out);

#define LOG_KVS_(...) ((const struct log_kv[]){ { 0 }, __VA_ARGS__ })
#define LOG_AT_(level, msg, ...)                                                   \
    log_emit((level), (msg), LOG_KVS_(__VA_ARGS__) + 1,                            \
             sizeof(LOG_KVS_(__VA_ARGS__)) / sizeof(struct log_kv) - 1)

/* log_info("batch committed", LOG_STR("table", t), LOG_UINT("rows", n)); */
#define log_debug(...) LOG_AT_(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  LOG_AT_(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  LOG_AT_(LOG_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT_(LOG_ERROR, __VA_ARGS__)

#endif
