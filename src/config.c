/* config: the settings table, the four sources, validation, and the dump.
 *
 * Every scalar setting is one row of `settings` below: its key in the file, its
 * flag, its environment variables, its default (as text, parsed like any other
 * value), its range and its help line. Loading applies defaults, then the file,
 * then the environment, then the flags, each overwriting the one before and each
 * recording the origin; then cross-checks the result. A value that fails its
 * checks is reported at its origin and leaves the previous value in place, so one
 * run reports everything. */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "util.h"

/* ---------------------------------------------------------------------------
 * The settings table */

enum kind { K_STR, K_INT, K_SIZE, K_DURATION, K_SECRET };

/* How an environment variable's value becomes the setting's value. */
enum env_map {
    MAP_PLAIN,
    MAP_SECONDS,     /* a bare number means seconds (BUFFER_FLUSH_INTERVAL) */
    MAP_R2_ENDPOINT, /* an account ID gives https://<id>.r2.cloudflarestorage.com */
    MAP_R2_REGION,   /* an account ID implies region "auto" */
};

struct env_src {
    const char *name;
    const char *file_name; /* NAME_FILE, for settings that accept one */
    enum env_map map;
    bool weak;             /* used only when no other variable sets the setting; never conflicts */
};

enum setting_id {
    S_LOG_LEVEL, S_LOG_FORMAT,
    S_REDIS_URL, S_REDIS_PASSWORD, S_REDIS_GROUP, S_REDIS_CONSUMER, S_REDIS_BLOCK, S_REDIS_READ_COUNT,
    S_REDIS_CLAIM_IDLE,
    S_S3_ENDPOINT, S_S3_BUCKET, S_S3_REGION, S_S3_PREFIX, S_S3_ADDRESSING, S_S3_PART_SIZE, S_S3_UPLOADS, S_S3_REQUEST_TIMEOUT, S_S3_MAX_ATTEMPTS,
    S_S3_CA_FILE, S_S3_KEY_TEMPLATE, S_S3_ACCESS_KEY_ID, S_S3_SECRET_KEY, S_S3_SESSION_TOKEN,
    S_FLUSH_MAX_ROWS, S_FLUSH_MAX_BYTES, S_FLUSH_MAX_AGE,
    S_LIMITS_MEMORY, S_LIMITS_SHUTDOWN,
    S_PARQUET_COMPRESSION, S_PARQUET_ZSTD_LEVEL, S_PARQUET_ROW_GROUP_ROWS, S_PARQUET_PAGE_ROWS,
    S_COUNT
};

struct setting {
    const char *key, *flag, *arg, *def, *help;
    enum kind kind;
    size_t offset, cap;        /* the field in struct config; cap for strings */
    uint64_t min, max;         /* numbers: inclusive range */
    const char *const *choices;/* strings: the allowed values, NULL-terminated */
    bool (*check)(const char *value, struct lw_err *e);
    bool in_file;              /* settable in the config file */
    struct env_src env[6];
};

#define FIELD(f) .offset = offsetof(struct config, f), .cap = sizeof(((struct config *)0)->f)
#define ENV(n) { .name = n }
#define ENVF(n) { .name = n, .file_name = n "_FILE" }
#define KiB (1024ull)
#define MiB (1024ull * 1024)
#define GiB (1024ull * 1024 * 1024)
#define TiB (1024ull * 1024 * 1024 * 1024)
#define SEC (1000ull)
#define MIN (60ull * 1000)
#define HOUR (60ull * 60 * 1000)
#define DAY (24ull * 60 * 60 * 1000)

static const char *const level_choices[] = { "debug", "info", "warn", "error", NULL };
static const char *const format_choices[] = { "json", "text", NULL };
static const char *const addressing_choices[] = { "auto", "path", "virtual", NULL };
static const char *const compression_choices[] = { "zstd", "none", NULL };

static bool check_name(const char *v, struct lw_err *e);
static bool check_consumer(const char *v, struct lw_err *e);
static bool check_bucket(const char *v, struct lw_err *e);
static bool check_region(const char *v, struct lw_err *e);
static bool check_prefix(const char *v, struct lw_err *e);
static bool check_template(const char *v, struct lw_err *e);
static bool check_key_id(const char *v, struct lw_err *e);

static const struct setting settings[S_COUNT] = {
    [S_LOG_LEVEL] = { .key = "log.level", .flag = "--log-level", .arg = "LEVEL", .def = "info",
        .help = "lowest level logged: debug | info | warn | error", .kind = K_STR, FIELD(log.level_text),
        .choices = level_choices, .in_file = true, .env = { ENV("LAKEWRITER_LOG_LEVEL") } },
    [S_LOG_FORMAT] = { .key = "log.format", .flag = "--log-format", .arg = "FORMAT", .def = "json",
        .help = "log lines as json or text", .kind = K_STR, FIELD(log.format_text), .choices = format_choices,
        .in_file = true, .env = { ENV("LAKEWRITER_LOG_FORMAT") } },

    [S_REDIS_URL] = { .key = "redis.url", .flag = "--redis-url", .arg = "URL", .def = "redis://127.0.0.1:6379/0",
        .help = "redis:// or rediss:// (TLS), optional user:password@, optional /db", .kind = K_STR,
        FIELD(redis.url), .in_file = true, .env = { ENV("REDIS_URL") } },
    [S_REDIS_PASSWORD] = { .key = "redis.password", .help = "Redis password (secret; environment only)",
        .kind = K_SECRET, FIELD(redis.password), .env = { ENVF("REDIS_PASSWORD") } },
    [S_REDIS_GROUP] = { .key = "redis.group", .flag = "--group", .arg = "NAME", .def = "lakewriter",
        .help = "consumer group name", .kind = K_STR, FIELD(redis.group), .check = check_name, .in_file = true,
        .env = { ENV("LAKEWRITER_GROUP") } },
    [S_REDIS_CONSUMER] = { .key = "redis.consumer", .flag = "--consumer", .arg = "NAME", .def = "",
        .help = "consumer name, unique per replica (default: the host name)", .kind = K_STR,
        FIELD(redis.consumer), .check = check_consumer, .in_file = true, .env = { ENV("LAKEWRITER_CONSUMER") } },
    [S_REDIS_BLOCK] = { .key = "redis.block", .def = "2s", .help = "how long one XREADGROUP waits for entries",
        .kind = K_DURATION, FIELD(redis.block_ms), .min = 10, .max = 5 * MIN, .in_file = true },
    [S_REDIS_READ_COUNT] = { .key = "redis.read_count", .def = "1000", .help = "entries asked for per XREADGROUP",
        .kind = K_INT, FIELD(redis.read_count), .min = 1, .max = 100000, .in_file = true },
    [S_REDIS_CLAIM_IDLE] = { .key = "redis.claim_idle", .def = "5m",
        .help = "take over entries another consumer left pending this long (XAUTOCLAIM)", .kind = K_DURATION,
        FIELD(redis.claim_idle_ms), .min = 1 * SEC, .max = 30 * DAY, .in_file = true },

    [S_S3_ENDPOINT] = { .key = "s3.endpoint", .flag = "--s3-endpoint", .arg = "URL", .def = "",
        .help = "https://host[:port] (http:// for a local server); default from R2_ACCOUNT_ID or the AWS region",
        .kind = K_STR, FIELD(s3.endpoint), .in_file = true,
        .env = { ENV("AWS_ENDPOINT_URL_S3"), ENV("AWS_ENDPOINT_URL"), ENV("R2_ENDPOINT_URL"), ENV("R2_ENDPOINT"),
                 { .name = "R2_ACCOUNT_ID", .map = MAP_R2_ENDPOINT } } },
    [S_S3_BUCKET] = { .key = "s3.bucket", .flag = "--bucket", .arg = "NAME", .def = "",
        .help = "bucket name (required)", .kind = K_STR, FIELD(s3.bucket), .check = check_bucket, .in_file = true,
        .env = { ENV("R2_BUCKET_NAME"), ENV("R2_BUCKET") } },
    [S_S3_REGION] = { .key = "s3.region", .flag = "--region", .arg = "REGION", .def = "auto",
        .help = "signing region: auto for R2, us-east-1 for MinIO, the bucket's region for AWS", .kind = K_STR,
        FIELD(s3.region), .check = check_region, .in_file = true,
        .env = { ENV("AWS_REGION"), ENV("AWS_DEFAULT_REGION"),
                 { .name = "R2_ACCOUNT_ID", .map = MAP_R2_REGION, .weak = true } } },
    [S_S3_PREFIX] = { .key = "s3.prefix", .flag = "--prefix", .arg = "PREFIX", .def = "",
        .help = "first part of every object key ({prefix} in key_template)", .kind = K_STR, FIELD(s3.prefix),
        .check = check_prefix, .in_file = true, .env = { ENV("LAKEWRITER_S3_PREFIX") } },
    [S_S3_ADDRESSING] = { .key = "s3.addressing", .def = "auto",
        .help = "path | virtual | auto (virtual for AWS endpoints, path otherwise)", .kind = K_STR,
        FIELD(s3.addressing_text), .choices = addressing_choices, .in_file = true },
    [S_S3_PART_SIZE] = { .key = "s3.part_size", .def = "16MiB",
        .help = "multipart part size; objects up to this size go in one PUT", .kind = K_SIZE,
        FIELD(s3.part_size), .min = 5 * MiB, .max = 5 * GiB, .in_file = true },
    [S_S3_UPLOADS] = { .key = "s3.uploads_in_flight", .def = "4", .help = "parts and objects uploaded at once",
        .kind = K_INT, FIELD(s3.uploads_in_flight), .min = 1, .max = 64, .in_file = true },
    [S_S3_REQUEST_TIMEOUT] = { .key = "s3.request_timeout", .def = "60s",
        .help = "a request that moves no byte for this long is abandoned and retried", .kind = K_DURATION,
        FIELD(s3.request_timeout_ms), .min = 100, .max = 1 * HOUR, .in_file = true },
    [S_S3_MAX_ATTEMPTS] = { .key = "s3.max_attempts", .def = "5",
        .help = "tries per request (the first included) before an upload gives up", .kind = K_INT,
        FIELD(s3.max_attempts), .min = 1, .max = 100, .in_file = true },
    [S_S3_CA_FILE] = { .key = "s3.ca_file", .flag = "--ca-file", .arg = "FILE", .def = "",
        .help = "PEM bundle of trusted CAs for https:// and rediss:// (default: the system bundle)", .kind = K_STR,
        FIELD(s3.ca_file), .in_file = true, .env = { ENV("LAKEWRITER_CA_FILE") } },
    [S_S3_KEY_TEMPLATE] = { .key = "s3.key_template",
        .def = "{prefix}/{table}/dt={date}/hour={hour}/{stream}-{first_id}-{last_id}.parquet",
        .help = "object key of a batch", .kind = K_STR, FIELD(s3.key_template), .check = check_template,
        .in_file = true },
    [S_S3_ACCESS_KEY_ID] = { .key = "s3.access_key_id", .help = "access key ID (environment only; required)",
        .kind = K_STR, FIELD(s3.access_key_id), .check = check_key_id,
        .env = { ENVF("AWS_ACCESS_KEY_ID"), ENVF("R2_ACCESS_KEY_ID") } },
    [S_S3_SECRET_KEY] = { .key = "s3.secret_access_key", .help = "secret access key (secret; required)",
        .kind = K_SECRET, FIELD(s3.secret_access_key),
        .env = { ENVF("AWS_SECRET_ACCESS_KEY"), ENVF("R2_SECRET_ACCESS_KEY") } },
    [S_S3_SESSION_TOKEN] = { .key = "s3.session_token", .help = "session token for temporary credentials (secret)",
        .kind = K_SECRET, FIELD(s3.session_token), .env = { ENVF("AWS_SESSION_TOKEN") } },

    [S_FLUSH_MAX_ROWS] = { .key = "flush.max_rows", .flag = "--flush-max-rows", .arg = "N", .def = "100000",
        .help = "a batch closes at this many rows", .kind = K_INT, FIELD(flush.max_rows), .min = 1,
        .max = 100000000, .in_file = true, .env = { ENV("BUFFER_MAX_SIZE") } },
    [S_FLUSH_MAX_BYTES] = { .key = "flush.max_bytes", .flag = "--flush-max-bytes", .arg = "SIZE", .def = "64MiB",
        .help = "... or at this many buffered bytes", .kind = K_SIZE, FIELD(flush.max_bytes), .min = 64 * KiB,
        .max = 64 * GiB, .in_file = true },
    [S_FLUSH_MAX_AGE] = { .key = "flush.max_age", .flag = "--flush-max-age", .arg = "DURATION", .def = "60s",
        .help = "... or when its first row is this old", .kind = K_DURATION, FIELD(flush.max_age_ms),
        .min = 100, .max = 24 * HOUR, .in_file = true,
        .env = { { .name = "BUFFER_FLUSH_INTERVAL", .map = MAP_SECONDS } } },

    [S_LIMITS_MEMORY] = { .key = "limits.memory", .flag = "--memory-limit", .arg = "SIZE", .def = "512MiB",
        .help = "buffered bytes at which reading from Redis pauses", .kind = K_SIZE, FIELD(limits.memory_bytes),
        .min = 16 * MiB, .max = 1 * TiB, .in_file = true, .env = { ENV("LAKEWRITER_MEMORY_LIMIT") } },
    [S_LIMITS_SHUTDOWN] = { .key = "limits.shutdown_timeout", .flag = "--shutdown-timeout", .arg = "DURATION",
        .def = "30s", .help = "graceful drain deadline after SIGTERM", .kind = K_DURATION,
        FIELD(limits.shutdown_timeout_ms), .min = 1 * SEC, .max = 1 * HOUR, .in_file = true,
        .env = { ENV("LAKEWRITER_SHUTDOWN_TIMEOUT") } },

    [S_PARQUET_COMPRESSION] = { .key = "parquet.compression", .def = "zstd", .help = "zstd | none",
        .kind = K_STR, FIELD(parquet.compression_text), .choices = compression_choices, .in_file = true },
    [S_PARQUET_ZSTD_LEVEL] = { .key = "parquet.zstd_level", .def = "3", .help = "zstd level 1..22",
        .kind = K_INT, FIELD(parquet.zstd_level), .min = 1, .max = 22, .in_file = true },
    [S_PARQUET_ROW_GROUP_ROWS] = { .key = "parquet.row_group_rows", .def = "1000000",
        .help = "rows per row group", .kind = K_INT, FIELD(parquet.row_group_rows), .min = 1, .max = 100000000,
        .in_file = true },
    [S_PARQUET_PAGE_ROWS] = { .key = "parquet.page_rows", .def = "20000", .help = "rows per data page",
        .kind = K_INT, FIELD(parquet.page_rows), .min = 1, .max = 10000000, .in_file = true },
};

_Static_assert(S_COUNT <= CONFIG_SETTINGS_MAX, "raise CONFIG_SETTINGS_MAX");

static const char *const sections[] = { "log", "redis", "s3", "flush", "limits", "parquet" };
enum { SECTION_COUNT = sizeof sections / sizeof sections[0] };

/* Keys people put in the file hoping for a secret: where the value must come from. */
static const struct {
    const char *leaf;
    enum setting_id id;
} secret_keys[] = {
    { "password", S_REDIS_PASSWORD },          { "secret_access_key", S_S3_SECRET_KEY },
    { "secret_key", S_S3_SECRET_KEY },         { "secret", S_S3_SECRET_KEY },
    { "access_key_id", S_S3_ACCESS_KEY_ID },   { "access_key", S_S3_ACCESS_KEY_ID },
    { "session_token", S_S3_SESSION_TOKEN },
};

/* ---------------------------------------------------------------------------
 * Secrets */

const char *config_secret_value(const struct config_secret *s)
{
    return s->set_ ? s->bytes_ : "";
}

bool config_secret_is_set(const struct config_secret *s)
{
    return s->set_;
}

static void secret_wipe(struct config_secret *s)
{
    explicit_bzero(s, sizeof *s);
}

static void secret_copy(struct config_secret *dst, const struct config_secret *src)
{
    memcpy(dst, src, sizeof *dst);
}

/* ---------------------------------------------------------------------------
 * The report */

static int source_rank(enum config_source s)
{
    switch (s) {
    case CONFIG_SOURCE_FILE: return 0;
    case CONFIG_SOURCE_ENV: return 1;
    case CONFIG_SOURCE_FLAG: return 2;
    default: return 3;
    }
}

static void report_addv(struct config_report *r, enum config_source source, uint32_t line, bool warning,
                        const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void report_addv(struct config_report *r, enum config_source source, uint32_t line, bool warning,
                        const char *fmt, va_list ap)
{
    if (warning) r->warnings++;
    else r->errors++;
    if (r->count == CONFIG_PROBLEMS_MAX) return;
    struct config_problem *p = &r->items[r->count++];
    p->source = source;
    p->line = line;
    p->warning = warning;
    vsnprintf(p->text, sizeof p->text, fmt, ap);
    /* One problem, one line: control characters from values are shown as '?'. */
    for (char *c = p->text; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}

void config_report_add(struct config_report *report, enum config_source source, uint32_t line, bool warning,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_addv(report, source, line, warning, fmt, ap);
    va_end(ap);
}

/* Stable insertion sort: file problems by line (those without a line last), then
 * environment, flags, and problems with no single origin. */
static void report_sort(struct config_report *r)
{
    struct config_problem tmp;
    for (size_t i = 1; i < r->count; i++) {
        tmp = r->items[i];
        int rank = source_rank(tmp.source);
        uint32_t line = tmp.line == 0 ? UINT32_MAX : tmp.line;
        size_t j = i;
        while (j > 0) {
            const struct config_problem *q = &r->items[j - 1];
            int qr = source_rank(q->source);
            uint32_t ql = q->line == 0 ? UINT32_MAX : q->line;
            if (qr < rank || (qr == rank && (rank != 0 || ql <= line))) break;
            r->items[j] = r->items[j - 1];
            j--;
        }
        r->items[j] = tmp;
    }
}

/* ---------------------------------------------------------------------------
 * Loader state and problems */

enum { ENV_CANDIDATES_MAX = 6 };

struct candidate {
    const char *name;       /* the variable (static) */
    const char *value;
    char buf[CONFIG_SECRET_MAX + 2];
};

struct load {
    struct config *cfg;
    struct config_report *rep;
    const struct config_input *in;
    const char *file;                  /* name for messages */
    bool zstd_level_explicit;
    bool rejected[S_COUNT];            /* a value was given but refused (and reported) */
    struct candidate cand[ENV_CANDIDATES_MAX];
    struct config_secret scratch;      /* a parsed URL password before it is kept */
};

static struct config_origin origin_file(const struct toml_node *n)
{
    return (struct config_origin){ .source = CONFIG_SOURCE_FILE, .line = n != NULL ? n->line : 0 };
}

static struct config_origin origin_env(const char *name)
{
    return (struct config_origin){ .source = CONFIG_SOURCE_ENV, .name = name };
}

/* Reports a problem at `o` about `key` (either may be empty). */
__attribute__((format(printf, 5, 6))) static void problem(struct load *L, bool warning, struct config_origin o,
                                                          const char *key, const char *fmt, ...)
{
    char msg[CONFIG_PROBLEM_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *k = key != NULL ? key : "";
    const char *sep = k[0] != '\0' ? ": " : "";
    const char *w = warning ? "warning: " : "";
    switch (o.source) {
    case CONFIG_SOURCE_FILE:
        if (o.line > 0) config_report_add(L->rep, o.source, o.line, warning, "%s:%u: %s%s%s%s", L->file, o.line, w, k, sep, msg);
        else config_report_add(L->rep, o.source, 0, warning, "%s: %s%s%s%s", L->file, w, k, sep, msg);
        break;
    case CONFIG_SOURCE_ENV:
        config_report_add(L->rep, o.source, 0, warning, "env %s: %s%s%s%s", o.name, w, k, sep, msg);
        break;
    case CONFIG_SOURCE_FLAG:
        config_report_add(L->rep, o.source, 0, warning, "flag %s: %s%s", o.name, w, msg);
        break;
    default:
        config_report_add(L->rep, o.source, 0, warning, "%s%s%s%s", w, k, sep, msg);
        break;
    }
}

#define error_at(L, o, key, ...) problem((L), false, (o), (key), __VA_ARGS__)
#define warn_at(L, o, key, ...) problem((L), true, (o), (key), __VA_ARGS__)

/* ---------------------------------------------------------------------------
 * Checks of string values */

static bool has_control(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f) return true;
    return false;
}

static bool check_name(const char *v, struct lw_err *e)
{
    if (v[0] == '\0') return lw_err_set(e, 1, "must not be empty");
    return true;
}

/* The consumer name is part of the in-flight hash field "<consumer>|<stream>|...". */
static bool check_consumer(const char *v, struct lw_err *e)
{
    if (strchr(v, '|') != NULL) return lw_err_set(e, 1, "'%s': '|' is not allowed in a consumer name", v);
    return true;
}

static bool check_bucket(const char *v, struct lw_err *e)
{
    size_t n = strlen(v);
    if (n == 0) return true; /* required: checked once everything is loaded */
    if (n < 3 || n > CONFIG_BUCKET_MAX) return lw_err_set(e, 1, "'%s': bucket names have 3..63 characters", v);
    for (const char *p = v; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.') continue;
        return lw_err_set(e, 1, "'%s': bucket names use only a-z, 0-9, '.' and '-'", v);
    }
    if (!isalnum((unsigned char)v[0]) || !isalnum((unsigned char)v[n - 1]))
        return lw_err_set(e, 1, "'%s': a bucket name starts and ends with a letter or digit", v);
    if (strstr(v, "..") != NULL) return lw_err_set(e, 1, "'%s': '..' is not allowed in a bucket name", v);
    return true;
}

static bool check_region(const char *v, struct lw_err *e)
{
    if (v[0] == '\0') return lw_err_set(e, 1, "must not be empty (auto for R2, us-east-1 for MinIO)");
    for (const char *p = v; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') continue;
        return lw_err_set(e, 1, "'%s': only a-z, 0-9 and '-' are allowed", v);
    }
    return true;
}

static bool check_prefix(const char *v, struct lw_err *e)
{
    if (v[0] == '\0') return true;
    if (v[0] == '/' || v[strlen(v) - 1] == '/')
        return lw_err_set(e, 1, "'%s': no leading or trailing '/' (the key template adds them)", v);
    if (strstr(v, "//") != NULL) return lw_err_set(e, 1, "'%s': empty path segment ('//')", v);
    const char *seg = v;
    for (;;) {
        size_t len = strcspn(seg, "/");
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return lw_err_set(e, 1, "'%s': '.' and '..' segments are not allowed", v);
        if (seg[len] == '\0') break;
        seg += len + 1;
    }
    if (strchr(v, '\\') != NULL) return lw_err_set(e, 1, "'%s': '\\' is not allowed", v);
    return true;
}

static const char *const placeholders[] = { "prefix", "table", "stream", "date", "hour", "first_id", "last_id" };
enum { PLACEHOLDER_COUNT = sizeof placeholders / sizeof placeholders[0] };

static bool check_template(const char *v, struct lw_err *e)
{
    enum { TABLE = 1, FIRST_ID = 5 }; /* indices in placeholders */
    bool seen[PLACEHOLDER_COUNT] = { false };
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '}') return lw_err_set(e, 1, "'}' without '{'");
        if (*p != '{') continue;
        const char *end = strchr(p, '}');
        if (end == NULL) return lw_err_set(e, 1, "'{' without '}'");
        size_t len = (size_t)(end - p - 1);
        size_t k = 0;
        while (k < PLACEHOLDER_COUNT && !(strlen(placeholders[k]) == len && memcmp(placeholders[k], p + 1, len) == 0)) k++;
        if (k == PLACEHOLDER_COUNT)
            return lw_err_set(e, 1, "unknown placeholder {%.*s} (placeholders: {prefix} {table} {stream} {date} "
                              "{hour} {first_id} {last_id})", (int)(len > 40 ? 40 : len), p + 1);
        seen[k] = true;
        p = end;
    }
    if (!seen[TABLE] || !seen[FIRST_ID])
        return lw_err_set(e, 1, "must contain {table} and {first_id}, so that every batch has its own key");
    if (v[0] == '/') return lw_err_set(e, 1, "object keys do not start with '/'");
    return true;
}

static bool check_key_id(const char *v, struct lw_err *e)
{
    for (const char *p = v; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p)) return lw_err_set(e, 1, "an access key ID has only letters and digits");
    return true;
}

/* ---------------------------------------------------------------------------
 * URLs. Nothing after "://" of a Redis URL is ever quoted in a message: it may
 * hold a password even when it does not parse. */

static bool parse_port(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5) return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > 65535) return false;
    *port = (uint16_t)v;
    return true;
}

/* host[:port] or [v6][:port] of `n` bytes into host/port (port unchanged if absent). */
static bool parse_authority(const char *s, size_t n, char host[CONFIG_HOST_MAX + 1], uint16_t *port, bool *has_port,
                            struct lw_err *e)
{
    const char *h = s;
    size_t hn;
    const char *rest;
    *has_port = false;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL) return lw_err_set(e, 1, "an IPv6 address needs a closing ']'");
        h = s + 1;
        hn = (size_t)(close - h);
        for (size_t i = 0; i < hn; i++)
            if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
                return lw_err_set(e, 1, "the IPv6 address is not valid");
        if (hn < 2) return lw_err_set(e, 1, "the IPv6 address is not valid");
        rest = close + 1;
    } else {
        const char *colon = memchr(s, ':', n);
        hn = colon != NULL ? (size_t)(colon - s) : n;
        rest = s + hn;
        for (size_t i = 0; i < hn; i++)
            if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
                return lw_err_set(e, 1, "the host name has a character other than A-Z a-z 0-9 . - _");
    }
    if (hn == 0) return lw_err_set(e, 1, "the host is empty");
    if (hn > CONFIG_HOST_MAX) return lw_err_set(e, 1, "the host name is longer than %d characters", CONFIG_HOST_MAX);
    size_t rn = (size_t)(s + n - rest);
    if (rn > 0) {
        if (rest[0] != ':' || !parse_port(rest + 1, rn - 1, port))
            return lw_err_set(e, 1, "the port must be a number 1..65535");
        *has_port = true;
    }
    memcpy(host, h, hn);
    host[hn] = '\0';
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes n bytes into out (cap includes the NUL). */
static bool percent_decode(const char *s, size_t n, char *out, size_t cap, size_t *out_len)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) return false;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || k + 1 >= cap) return false;
        out[k++] = c;
    }
    out[k] = '\0';
    *out_len = k;
    return true;
}

/* Parses a redis:// URL into r (tls, user, host, port, db, url normalized without
 * the password) and pw. */
static bool parse_redis_url(const char *url, struct config_redis *r, struct config_secret *pw, struct lw_err *e)
{
    const char *rest;
    if (strncmp(url, "redis://", 8) == 0) {
        r->tls = false;
        rest = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        r->tls = true;
        rest = url + 9;
    } else {
        const char *sep = strstr(url, "://");
        size_t sn = sep != NULL ? (size_t)(sep - url) : 0;
        bool plain = sn > 0 && sn <= 16;
        for (size_t i = 0; plain && i < sn; i++) plain = isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '.' || url[i] == '-';
        if (plain)
            return lw_err_set(e, 1, "unsupported scheme '%.*s': use redis:// or rediss:// (TLS)", (int)sn, url);
        return lw_err_set(e, 1, "must start with redis:// or rediss:// (TLS)");
    }
    memset(pw, 0, sizeof *pw);
    r->user[0] = '\0';
    const char *at = strrchr(rest, '@');
    const char *hostpart = rest;
    if (at != NULL) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t un = colon != NULL ? (size_t)(colon - rest) : (size_t)(at - rest);
        size_t len = 0;
        if (!percent_decode(rest, un, r->user, sizeof r->user, &len) || has_control(r->user))
            return lw_err_set(e, 1, "the user name is not valid (too long, a bad %%-escape or a control character)");
        if (colon != NULL) {
            if (!percent_decode(colon + 1, (size_t)(at - colon - 1), pw->bytes_, sizeof pw->bytes_, &pw->len_) ||
                has_control(pw->bytes_)) {
                secret_wipe(pw);
                return lw_err_set(e, 1, "the password in the URL is not valid (too long, a bad %%-escape or a "
                                  "control character)");
            }
            pw->set_ = pw->len_ > 0;
        }
        hostpart = at + 1;
    }
    size_t an = strcspn(hostpart, "/?#");
    r->port = 6379;
    bool has_port;
    if (!parse_authority(hostpart, an, r->host, &r->port, &has_port, e)) return false;
    const char *path = hostpart + an;
    r->db = 0;
    if (path[0] == '?' || path[0] == '#' || strpbrk(path, "?#") != NULL)
        return lw_err_set(e, 1, "query parameters are not supported");
    if (path[0] == '/' && path[1] != '\0') {
        uint64_t db = 0;
        const char *d = path + 1;
        bool ok = strlen(d) <= 7;
        for (const char *p = d; ok && *p != '\0'; p++) ok = *p >= '0' && *p <= '9';
        if (ok) db = strtoull(d, NULL, 10);
        if (!ok || db > CONFIG_REDIS_DB_MAX)
            return lw_err_set(e, 1, "the database must be a number (redis://host:6379/0)");
        r->db = (uint32_t)db;
    }
    bool v6 = strchr(r->host, ':') != NULL;
    snprintf(r->url, sizeof r->url, "%s://%s%s%s%s%s:%u/%u", r->tls ? "rediss" : "redis", r->user,
             r->user[0] != '\0' ? "@" : "", v6 ? "[" : "", r->host, v6 ? "]" : "", r->port, r->db);
    return true;
}

/* Parses an S3 endpoint into s (tls, host, port, endpoint normalized). */
static bool parse_endpoint(const char *url, struct config_s3 *s, struct lw_err *e)
{
    const char *rest;
    if (strncmp(url, "https://", 8) == 0) {
        s->tls = true;
        rest = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        s->tls = false;
        rest = url + 7;
    } else {
        return lw_err_set(e, 1, "must start with https:// (or http:// for a local server)");
    }
    size_t an = strcspn(rest, "/?#");
    if (memchr(rest, '@', an) != NULL)
        return lw_err_set(e, 1, "must not contain credentials (user:password@); set AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY instead");
    bool has_port;
    s->port = s->tls ? 443 : 80;
    if (!parse_authority(rest, an, s->host, &s->port, &has_port, e)) return false;
    const char *path = rest + an;
    if (path[0] != '\0' && strcmp(path, "/") != 0)
        return lw_err_set(e, 1, "must not have a path or query; put the bucket in s3.bucket and key prefixes in "
                          "s3.prefix");
    bool v6 = strchr(s->host, ':') != NULL;
    char port[8] = "";
    if (has_port) snprintf(port, sizeof port, ":%u", s->port);
    snprintf(s->endpoint, sizeof s->endpoint, "%s://%s%s%s%s", s->tls ? "https" : "http", v6 ? "[" : "", s->host,
             v6 ? "]" : "", port);
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_aws_host(const char *host)
{
    return ends_with(host, ".amazonaws.com") || strcmp(host, "amazonaws.com") == 0;
}

static bool is_r2_host(const char *host)
{
    return ends_with(host, ".r2.cloudflarestorage.com");
}

static bool is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* ---------------------------------------------------------------------------
 * Storing values */

static char *str_field(struct config *c, enum setting_id id)
{
    return (char *)c + settings[id].offset;
}

static uint64_t *num_field(struct config *c, enum setting_id id)
{
    return (uint64_t *)(void *)((char *)c + settings[id].offset);
}

static struct config_secret *secret_field(struct config *c, enum setting_id id)
{
    return (struct config_secret *)(void *)((char *)c + settings[id].offset);
}

static const char *fmt_num(enum setting_id id, uint64_t v, char *buf, size_t cap)
{
    switch (settings[id].kind) {
    case K_SIZE: return util_format_size(v, buf, cap);
    case K_DURATION: return util_format_duration(v, buf, cap);
    default: snprintf(buf, cap, "%llu", (unsigned long long)v); return buf;
    }
}

static void store_num(struct load *L, enum setting_id id, uint64_t v, struct config_origin o)
{
    const struct setting *s = &settings[id];
    L->rejected[id] = true; /* until stored */
    char a[48], b[48], c[48];
    if (v < s->min || v > s->max) {
        if (s->kind == K_INT)
            error_at(L, o, s->key, "%s is out of range: it must be %s..%s", fmt_num(id, v, a, sizeof a),
                     fmt_num(id, s->min, b, sizeof b), fmt_num(id, s->max, c, sizeof c));
        else
            error_at(L, o, s->key, "%s is %s the %s %s", fmt_num(id, v, a, sizeof a), v < s->min ? "below" : "above",
                     v < s->min ? "minimum" : "maximum", fmt_num(id, v < s->min ? s->min : s->max, b, sizeof b));
        return;
    }
    *num_field(L->cfg, id) = v;
    L->cfg->origin_[id] = o;
    L->rejected[id] = false;
    if (id == S_PARQUET_ZSTD_LEVEL && o.source != CONFIG_SOURCE_DEFAULT) L->zstd_level_explicit = true;
}

/* Parses text for a numeric setting (sizes, durations, integers) and stores it. */
static void store_num_text(struct load *L, enum setting_id id, const char *text, struct config_origin o)
{
    struct lw_err e = { 0 };
    uint64_t v = 0;
    bool ok;
    switch (settings[id].kind) {
    case K_SIZE: ok = util_parse_size(text, &v, &e); break;
    case K_DURATION: ok = util_parse_duration(text, &v, &e); break;
    default: ok = util_parse_u64(text, &v, &e); break;
    }
    if (!ok) {
        error_at(L, o, settings[id].key, "%s", e.msg);
        L->rejected[id] = true;
        return;
    }
    store_num(L, id, v, o);
}

static void store_secret(struct load *L, enum setting_id id, const char *value, struct config_origin o)
{
    const char *key = settings[id].key;
    L->rejected[id] = true; /* until stored */
    size_t n = strlen(value);
    if (n > CONFIG_SECRET_MAX) {
        error_at(L, o, key, "the value is longer than %d bytes", CONFIG_SECRET_MAX);
        return;
    }
    if (has_control(value)) {
        error_at(L, o, key, "the value contains a control character (a line break inside?)");
        return;
    }
    struct config_secret *s = secret_field(L->cfg, id);
    secret_wipe(s);
    memcpy(s->bytes_, value, n + 1);
    s->len_ = n;
    s->set_ = true;
    L->cfg->origin_[id] = o;
    L->rejected[id] = false;
}

static void store_redis_url(struct load *L, const char *value, struct config_origin o)
{
    struct config_redis *r = &L->cfg->redis;
    struct config_redis tmp = { 0 };
    struct lw_err e = { 0 };
    if (!parse_redis_url(value, &tmp, &L->scratch, &e)) {
        error_at(L, o, settings[S_REDIS_URL].key, "%s", e.msg);
        secret_wipe(&L->scratch);
        return;
    }
    memcpy(r->url, tmp.url, sizeof r->url);
    r->tls = tmp.tls;
    memcpy(r->host, tmp.host, sizeof r->host);
    r->port = tmp.port;
    r->db = tmp.db;
    memcpy(r->user, tmp.user, sizeof r->user);
    secret_copy(&L->cfg->url_password_, &L->scratch);
    secret_wipe(&L->scratch);
    L->cfg->url_password_origin_ = o;
    L->cfg->origin_[S_REDIS_URL] = o;
    L->rejected[S_REDIS_URL] = false;
    if (o.source == CONFIG_SOURCE_FLAG && config_secret_is_set(&L->cfg->url_password_))
        warn_at(L, o, "redis.url", "the URL holds a password, which other users can read in the process list; "
                "use REDIS_PASSWORD_FILE");
}

static void store_endpoint(struct load *L, const char *value, struct config_origin o)
{
    struct config_s3 *s = &L->cfg->s3;
    if (value[0] == '\0') {
        s->endpoint[0] = '\0';
        s->host[0] = '\0';
        L->cfg->origin_[S_S3_ENDPOINT] = o;
        L->rejected[S_S3_ENDPOINT] = false;
        return;
    }
    char host[CONFIG_HOST_MAX + 1];
    memcpy(host, s->host, sizeof host);
    bool tls = s->tls;
    uint16_t port = s->port;
    char endpoint[CONFIG_URL_MAX + 1];
    memcpy(endpoint, s->endpoint, sizeof endpoint);
    struct lw_err e = { 0 };
    if (!parse_endpoint(value, s, &e)) {
        memcpy(s->host, host, sizeof host);
        memcpy(s->endpoint, endpoint, sizeof endpoint);
        s->tls = tls;
        s->port = port;
        error_at(L, o, settings[S_S3_ENDPOINT].key, "%s", e.msg);
        return;
    }
    L->cfg->origin_[S_S3_ENDPOINT] = o;
    L->rejected[S_S3_ENDPOINT] = false;
}

/* Checks and stores a string setting. */
static void store_str(struct load *L, enum setting_id id, const char *value, struct config_origin o)
{
    const struct setting *s = &settings[id];
    size_t n = strlen(value);
    L->rejected[id] = true; /* until stored */
    if (id == S_REDIS_URL || id == S_S3_ENDPOINT || id == S_S3_ACCESS_KEY_ID) {
        /* Possibly sensitive: never quoted. */
        if (n >= s->cap) {
            error_at(L, o, s->key, "longer than %zu bytes", s->cap - 1);
            return;
        }
    } else if (n >= s->cap) {
        error_at(L, o, s->key, "'%.40s...' is longer than %zu bytes", value, s->cap - 1);
        return;
    }
    if (has_control(value)) {
        error_at(L, o, s->key, "contains a control character");
        return;
    }
    if (id == S_REDIS_URL) {
        store_redis_url(L, value, o);
        return;
    }
    if (id == S_S3_ENDPOINT) {
        store_endpoint(L, value, o);
        return;
    }
    L->rejected[id] = false; /* any further failure below sets it again */
    if (s->choices != NULL) {
        size_t k = 0;
        while (s->choices[k] != NULL && strcmp(s->choices[k], value) != 0) k++;
        if (s->choices[k] == NULL && !(id == S_LOG_LEVEL && strcmp(value, "warning") == 0)) {
            char list[128] = "";
            for (size_t i = 0; s->choices[i] != NULL; i++) {
                strncat(list, i > 0 ? " | " : "", sizeof list - strlen(list) - 1);
                strncat(list, s->choices[i], sizeof list - strlen(list) - 1);
            }
            error_at(L, o, s->key, "'%s' is not one of %s", value, list);
            L->rejected[id] = true;
            return;
        }
    }
    struct lw_err e = { 0 };
    if (s->check != NULL && !s->check(value, &e)) {
        error_at(L, o, s->key, "%s", e.msg);
        L->rejected[id] = true;
        return;
    }
    memcpy(str_field(L->cfg, id), value, n + 1);
    L->cfg->origin_[id] = o;
}

/* Settings given a value that was refused: not reported again as missing. */
static bool rejected(const struct load *L, enum setting_id id)
{
    return L->rejected[id];
}

/* Stores text from a default, a variable or a flag. */
static void store_text(struct load *L, enum setting_id id, const char *text, struct config_origin o)
{
    switch (settings[id].kind) {
    case K_STR: store_str(L, id, text, o); break;
    case K_SECRET: store_secret(L, id, text, o); break;
    default: store_num_text(L, id, text, o); break;
    }
}

/* ---------------------------------------------------------------------------
 * Defaults */

static void apply_defaults(struct load *L)
{
    for (int id = 0; id < S_COUNT; id++) {
        const struct setting *s = &settings[id];
        if (s->def == NULL) continue;
        store_text(L, (enum setting_id)id, s->def, (struct config_origin){ .source = CONFIG_SOURCE_DEFAULT });
    }
    /* The defaults are part of the program: they must all be valid. */
    assert(L->rep->errors == 0);
}

/* ---------------------------------------------------------------------------
 * The file */

static int setting_by_key(const char *key)
{
    for (int id = 0; id < S_COUNT; id++)
        if (strcmp(settings[id].key, key) == 0) return id;
    return -1;
}

/* Reads a number from a TOML node for setting `id` (range not checked). */
static bool node_number(struct load *L, enum setting_id id, const struct toml_node *n, uint64_t *out)
{
    const struct setting *s = &settings[id];
    char path[160];
    toml_path(n, path, sizeof path);
    struct config_origin o = origin_file(n);
    struct lw_err e = { 0 };
    if (s->kind == K_DURATION) {
        if (n->type == TOML_INTEGER)
            return error_at(L, o, path, "%lld: a duration needs a unit, as \"%llds\" or \"%lldms\"",
                            (long long)n->integer, (long long)n->integer, (long long)n->integer), false;
        if (n->type != TOML_STRING)
            return error_at(L, o, path, "expected a duration such as \"30s\", found %s", toml_type_name(n->type)), false;
        if (!util_parse_duration(n->str, out, &e)) return error_at(L, o, path, "%s", e.msg), false;
        return true;
    }
    if (s->kind == K_SIZE && n->type == TOML_STRING) {
        if (!util_parse_size(n->str, out, &e)) return error_at(L, o, path, "%s", e.msg), false;
        return true;
    }
    if (n->type == TOML_STRING)
        return error_at(L, o, path, "expected an integer, found a string (write it without quotes)"), false;
    if (n->type != TOML_INTEGER)
        return error_at(L, o, path, "expected %s, found %s", s->kind == K_SIZE ? "a size such as \"64MiB\"" : "an integer",
                        toml_type_name(n->type)), false;
    if (n->integer < 0) {
        char a[48], b[48];
        return error_at(L, o, path, "%lld is negative: it must be %s..%s", (long long)n->integer,
                        fmt_num(id, s->min, a, sizeof a), fmt_num(id, s->max, b, sizeof b)), false;
    }
    *out = (uint64_t)n->integer;
    return true;
}

static void apply_node(struct load *L, enum setting_id id, const struct toml_node *n)
{
    const struct setting *s = &settings[id];
    struct config_origin o = origin_file(n);
    if (n->type == TOML_INVALID) { /* reported by the parser */
        L->rejected[id] = true;
        return;
    }
    if (s->kind == K_STR) {
        if (n->type != TOML_STRING) {
            error_at(L, o, s->key, "expected a string, found %s", toml_type_name(n->type));
            return;
        }
        store_str(L, id, n->str, o);
        return;
    }
    uint64_t v = 0;
    if (node_number(L, id, n, &v)) store_num(L, id, v, o);
}

/* "did you mean" among `count` candidates; "" when nothing is close. */
static const char *hint(char *buf, size_t cap, const char *word, const char *const *cands, size_t count)
{
    const char *g = util_suggest(word, cands, count);
    if (g == NULL) return "";
    snprintf(buf, cap, " (did you mean %s?)", g);
    return buf;
}

static void secret_in_file(struct load *L, const struct toml_node *n, enum setting_id id)
{
    const struct setting *s = &settings[id];
    char path[160];
    const char *f = s->env[0].file_name != NULL ? s->env[0].file_name : s->env[0].name;
    error_at(L, origin_file(n), toml_path(n, path, sizeof path),
             "secrets are not read from the config file; set %s or %s in the environment", s->env[0].name, f);
}

static void unknown_key(struct load *L, const struct toml_node *n, const char *section)
{
    const char *cands[S_COUNT];
    size_t count = 0;
    size_t sl = strlen(section);
    for (int id = 0; id < S_COUNT; id++) {
        const char *k = settings[id].key;
        if (settings[id].in_file && strncmp(k, section, sl) == 0 && k[sl] == '.') cands[count++] = k + sl + 1;
    }
    char path[160], h[96];
    toml_path(n, path, sizeof path);
    const char *sugg = hint(h, sizeof h, n->key, cands, count);
    if (sugg[0] == '\0') {
        /* Maybe it belongs to another section. */
        for (int id = 0; id < S_COUNT; id++) {
            const char *dot = strchr(settings[id].key, '.');
            if (settings[id].in_file && strcmp(dot + 1, n->key) == 0) {
                error_at(L, origin_file(n), path, "unknown key; '%s' belongs in [%.*s]", n->key,
                         (int)(dot - settings[id].key), settings[id].key);
                return;
            }
        }
    }
    error_at(L, origin_file(n), path, "unknown key%s", sugg);
}

static void apply_section(struct load *L, const struct toml_node *t)
{
    char key[160];
    if (t->type == TOML_INVALID) return;
    if (t->type != TOML_TABLE) {
        error_at(L, origin_file(t), t->key, "expected a table: write [%s] on a line of its own, then its keys",
                 t->key);
        return;
    }
    for (const struct toml_node *n = t->child; n != NULL; n = n->next) {
        snprintf(key, sizeof key, "%s.%s", t->key, n->key);
        int id = setting_by_key(key);
        if (id >= 0 && settings[id].in_file) {
            apply_node(L, (enum setting_id)id, n);
            continue;
        }
        size_t k = 0;
        while (k < sizeof secret_keys / sizeof secret_keys[0] && strcmp(secret_keys[k].leaf, n->key) != 0) k++;
        if (k < sizeof secret_keys / sizeof secret_keys[0]) secret_in_file(L, n, secret_keys[k].id);
        else unknown_key(L, n, t->key);
    }
}

/* A string key of a stream or table: false (reported) if it is not a string. */
static bool node_string(struct load *L, const struct toml_node *n, const char **out)
{
    if (n->type == TOML_INVALID) return false;
    if (n->type != TOML_STRING) {
        char path[160];
        error_at(L, origin_file(n), toml_path(n, path, sizeof path), "expected a string, found %s",
                 toml_type_name(n->type));
        return false;
    }
    *out = n->str;
    return true;
}

static const char *const stream_keys[] = { "name", "format", "entity_field", "data_field", "table", "dead_letter" };
enum { STREAM_KEY_COUNT = sizeof stream_keys / sizeof stream_keys[0] };

/* Copies a stream's string key into dst (cap bytes), checking length and characters. */
static void stream_field(struct load *L, const struct toml_node *n, char *dst, size_t cap, bool allow_empty)
{
    const char *v = NULL;
    char path[160];
    if (!node_string(L, n, &v)) return;
    toml_path(n, path, sizeof path);
    if (!allow_empty && v[0] == '\0') error_at(L, origin_file(n), path, "must not be empty");
    else if (strlen(v) >= cap) error_at(L, origin_file(n), path, "longer than %zu bytes", cap - 1);
    else if (has_control(v)) error_at(L, origin_file(n), path, "contains a control character");
    else memcpy(dst, v, strlen(v) + 1);
}

static void apply_stream(struct load *L, const struct toml_node *t)
{
    struct config *cfg = L->cfg;
    char path[160];
    if (cfg->stream_count == CONFIG_STREAMS_MAX) {
        error_at(L, origin_file(t), toml_path(t, path, sizeof path), "more than %d streams", CONFIG_STREAMS_MAX);
        return;
    }
    struct config_stream *st = &cfg->streams[cfg->stream_count++];
    memset(st, 0, sizeof *st);
    st->line = t->line;
    st->table = -1;
    snprintf(st->entity_field, sizeof st->entity_field, "entity");
    snprintf(st->data_field, sizeof st->data_field, "data");
    for (const struct toml_node *n = t->child; n != NULL; n = n->next) {
        const char *v = NULL;
        toml_path(n, path, sizeof path);
        if (strcmp(n->key, "name") == 0) {
            stream_field(L, n, st->name, sizeof st->name, false);
            if (strchr(st->name, '|') != NULL) error_at(L, origin_file(n), path, "'|' is not allowed in a stream name");
        } else if (strcmp(n->key, "format") == 0) {
            if (!node_string(L, n, &v)) continue;
            if (strcmp(v, "json") == 0) st->format = CONFIG_STREAM_JSON;
            else if (strcmp(v, "flat") == 0) st->format = CONFIG_STREAM_FLAT;
            else error_at(L, origin_file(n), path, "'%s' is not one of json | flat", v);
        } else if (strcmp(n->key, "entity_field") == 0) {
            stream_field(L, n, st->entity_field, sizeof st->entity_field, false);
        } else if (strcmp(n->key, "data_field") == 0) {
            stream_field(L, n, st->data_field, sizeof st->data_field, false);
        } else if (strcmp(n->key, "table") == 0) {
            stream_field(L, n, st->table_name, sizeof st->table_name, true);
            st->table_line = n->line;
        } else if (strcmp(n->key, "dead_letter") == 0) {
            stream_field(L, n, st->dead_letter, sizeof st->dead_letter, true);
        } else {
            char h[96];
            error_at(L, origin_file(n), path, "unknown key%s", hint(h, sizeof h, n->key, stream_keys, STREAM_KEY_COUNT));
        }
    }
    if (toml_get(t, "name") == NULL)
        error_at(L, origin_file(t), toml_path(t, path, sizeof path), "missing key 'name' (the Redis stream to read)");
}

static void apply_streams(struct load *L, const struct toml_node *t)
{
    if (t->type == TOML_INVALID) return;
    if (t->type != TOML_TABLE_ARRAY) {
        error_at(L, origin_file(t), "streams", "write each stream as [[streams]] (an array of tables), not %s",
                 t->type == TOML_TABLE ? "[streams]" : toml_type_name(t->type));
        return;
    }
    for (const struct toml_node *item = t->child; item != NULL; item = item->next) apply_stream(L, item);
}

static const char *const table_keys[] = { "columns", "partition_time", "source", "metadata", "epoch_unit",
                                          "max_rows", "max_bytes", "max_age" };
enum { TABLE_KEY_COUNT = sizeof table_keys / sizeof table_keys[0] };

/* "schema.table" or "table": unquoted PostgreSQL identifiers. */
static bool check_source(const char *v, struct lw_err *e)
{
    size_t parts = 0;
    const char *p = v;
    for (;;) {
        size_t n = 0;
        while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '$') n++;
        if (n == 0 || isdigit((unsigned char)p[0]) || p[0] == '$' || n > 63)
            return lw_err_set(e, 1, "'%s' is not a PostgreSQL table name (table or schema.table, unquoted "
                              "identifiers of at most 63 characters)", v);
        parts++;
        p += n;
        if (*p == '\0') break;
        if (*p != '.' || parts == 2)
            return lw_err_set(e, 1, "'%s' is not a PostgreSQL table name (table or schema.table)", v);
        p++;
    }
    return true;
}

static void table_columns(struct load *L, struct schema_table *tab, const struct toml_node *t,
                          const struct toml_node *cols)
{
    char path[160];
    if (cols == NULL) {
        error_at(L, origin_file(t), toml_path(t, path, sizeof path), "no columns: add a [%s.columns] table", path);
        return;
    }
    if (cols->type == TOML_INVALID) return;
    if (cols->type != TOML_TABLE) {
        error_at(L, origin_file(cols), toml_path(cols, path, sizeof path),
                 "expected a table: [%s] with one line per column, name = \"type\"", path);
        return;
    }
    if (cols->count == 0) error_at(L, origin_file(cols), toml_path(cols, path, sizeof path), "no columns");
    for (const struct toml_node *c = cols->child; c != NULL; c = c->next) {
        const char *type = NULL;
        if (c->type == TOML_STRING) {
            type = c->str;
        } else if (c->type != TOML_INVALID) {
            error_at(L, origin_file(c), toml_path(c, path, sizeof path),
                     "expected a type string such as \"int64 not null\", found %s", toml_type_name(c->type));
            continue;
        } else {
            continue;
        }
        struct lw_err e = { 0 };
        if (!schema_add_column(tab, c->key, type, c->line, &e))
            error_at(L, origin_file(c), toml_path(c, path, sizeof path), "%s", e.msg);
    }
}

static void table_override(struct load *L, struct schema_table *tab, enum setting_id id, const struct toml_node *n)
{
    uint64_t v = 0;
    if (n->type == TOML_INVALID || !node_number(L, id, n, &v)) return;
    const struct setting *s = &settings[id];
    if (v < s->min || v > s->max) {
        char a[48], b[48], c[48], path[160];
        error_at(L, origin_file(n), toml_path(n, path, sizeof path), "%s is out of range: it must be %s..%s",
                 fmt_num(id, v, a, sizeof a), fmt_num(id, s->min, b, sizeof b), fmt_num(id, s->max, c, sizeof c));
        return;
    }
    if (id == S_FLUSH_MAX_ROWS) tab->max_rows = v;
    else if (id == S_FLUSH_MAX_BYTES) tab->max_bytes = v;
    else tab->max_age_ms = v;
}

static void table_metadata(struct load *L, struct schema_table *tab, const struct toml_node *n)
{
    char path[160];
    if (n->type == TOML_INVALID) return;
    if (n->type != TOML_ARRAY) {
        error_at(L, origin_file(n), toml_path(n, path, sizeof path),
                 "expected an array of names, as [\"_stream\", \"_ingested_at\"]");
        return;
    }
    for (const struct toml_node *item = n->child; item != NULL; item = item->next) {
        struct lw_err e = { 0 };
        toml_path(item, path, sizeof path);
        if (item->type != TOML_STRING) error_at(L, origin_file(item), path, "expected a string");
        else if (!schema_add_metadata(tab, item->str, &e)) error_at(L, origin_file(item), path, "%s", e.msg);
    }
}

static void apply_table(struct load *L, const struct toml_node *t)
{
    char path[160];
    toml_path(t, path, sizeof path);
    if (t->type == TOML_INVALID) return;
    if (t->type != TOML_TABLE) {
        error_at(L, origin_file(t), path, "expected a table: [%s] with its keys, and [%s.columns]", path, path);
        return;
    }
    struct lw_err e = { 0 };
    struct schema_table *tab = schema_add_table(&L->cfg->schema, t->key, t->line, &e);
    if (tab == NULL) {
        error_at(L, origin_file(t), path, "%s", e.msg);
        return;
    }
    /* Metadata first, so that column names are checked against it in any file order. */
    const struct toml_node *meta = toml_get(t, "metadata");
    if (meta != NULL) table_metadata(L, tab, meta);
    table_columns(L, tab, t, toml_get(t, "columns"));
    for (const struct toml_node *n = t->child; n != NULL; n = n->next) {
        const char *v = NULL;
        toml_path(n, path, sizeof path);
        if (strcmp(n->key, "columns") == 0 || strcmp(n->key, "metadata") == 0) continue;
        if (strcmp(n->key, "partition_time") == 0) {
            if (node_string(L, n, &v) && !schema_set_partition(tab, v, &e))
                error_at(L, origin_file(n), path, "%s", e.msg);
        } else if (strcmp(n->key, "source") == 0) {
            if (!node_string(L, n, &v)) continue;
            if (strlen(v) > SCHEMA_SOURCE_MAX) error_at(L, origin_file(n), path, "longer than %d bytes", SCHEMA_SOURCE_MAX);
            else if (!check_source(v, &e)) error_at(L, origin_file(n), path, "%s", e.msg);
            else snprintf(tab->source, sizeof tab->source, "%s", v);
        } else if (strcmp(n->key, "epoch_unit") == 0) {
            if (node_string(L, n, &v) && !schema_parse_epoch_unit(v, &tab->epoch_unit))
                error_at(L, origin_file(n), path, "'%s' is not one of s | ms | us | ns", v);
        } else if (strcmp(n->key, "max_rows") == 0) {
            table_override(L, tab, S_FLUSH_MAX_ROWS, n);
        } else if (strcmp(n->key, "max_bytes") == 0) {
            table_override(L, tab, S_FLUSH_MAX_BYTES, n);
        } else if (strcmp(n->key, "max_age") == 0) {
            table_override(L, tab, S_FLUSH_MAX_AGE, n);
        } else {
            char h[96];
            struct schema_column probe = { 0 };
            struct lw_err ignored = { 0 };
            if (n->type == TOML_STRING && schema_parse_type(n->str, &probe, &ignored))
                error_at(L, origin_file(n), path, "unknown key; columns are declared under [%s.columns]",
                         toml_path(t, h, sizeof h));
            else
                error_at(L, origin_file(n), path, "unknown key%s", hint(h, sizeof h, n->key, table_keys, TABLE_KEY_COUNT));
        }
    }
}

static void apply_tables(struct load *L, const struct toml_node *t)
{
    if (t->type == TOML_INVALID) return;
    if (t->type != TOML_TABLE) {
        error_at(L, origin_file(t), "tables", "expected tables [tables.NAME], found %s", toml_type_name(t->type));
        return;
    }
    for (const struct toml_node *n = t->child; n != NULL; n = n->next) apply_table(L, n);
}

/* A known key written at the top level: says which section it belongs in. */
static bool misplaced_leaf(struct load *L, const struct toml_node *n)
{
    for (int id = 0; id < S_COUNT; id++) {
        const char *dot = strchr(settings[id].key, '.');
        if (settings[id].in_file && strcmp(dot + 1, n->key) == 0) {
            error_at(L, origin_file(n), n->key, "unknown top-level key; '%s' belongs in [%.*s]", n->key,
                     (int)(dot - settings[id].key), settings[id].key);
            return true;
        }
    }
    return false;
}

static void apply_file(struct load *L, const struct toml_node *root)
{
    static const char *const top[] = { "log", "redis", "s3", "flush", "limits", "parquet", "streams", "tables" };
    for (const struct toml_node *n = root->child; n != NULL; n = n->next) {
        if (strcmp(n->key, "streams") == 0) {
            apply_streams(L, n);
        } else if (strcmp(n->key, "tables") == 0) {
            apply_tables(L, n);
        } else {
            size_t k = 0;
            while (k < SECTION_COUNT && strcmp(sections[k], n->key) != 0) k++;
            if (k < SECTION_COUNT) {
                apply_section(L, n);
                continue;
            }
            if (misplaced_leaf(L, n)) continue;
            char h[96];
            error_at(L, origin_file(n), n->key, "unknown %s%s", n->type == TOML_TABLE ? "table" : "top-level key",
                     hint(h, sizeof h, n->key, top, sizeof top / sizeof top[0]));
        }
    }
}

/* ---------------------------------------------------------------------------
 * The environment */

/* The value of NAME in env, or NULL if absent or empty (an empty variable counts as unset). */
static const char *env_get(const struct load *L, const char *name)
{
    if (L->in->env == NULL || name == NULL) return NULL;
    size_t n = strlen(name);
    for (const char *const *e = L->in->env; *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return (*e)[n + 1] != '\0' ? *e + n + 1 : NULL;
    }
    return NULL;
}

/* Reads a NAME_FILE variable's file into c->buf, without trailing line ends. */
static bool read_var_file(struct load *L, const struct setting *s, const char *var, const char *path,
                          struct candidate *c)
{
    if (L->in->read_file == NULL) {
        error_at(L, origin_env(var), s->key, "*_FILE variables cannot be read here");
        return false;
    }
    struct lw_err e = { 0 };
    size_t len = 0;
    if (!L->in->read_file(L->in->read_file_ctx, path, c->buf, CONFIG_SECRET_MAX + 1, &len, &e)) {
        error_at(L, origin_env(var), s->key, "%s", e.msg);
        return false;
    }
    if (len > CONFIG_SECRET_MAX) {
        error_at(L, origin_env(var), s->key, "the file is longer than %d bytes", CONFIG_SECRET_MAX);
        return false;
    }
    while (len > 0 && (c->buf[len - 1] == '\n' || c->buf[len - 1] == '\r')) len--;
    c->buf[len] = '\0';
    if (len == 0 || memchr(c->buf, '\0', len) != NULL) {
        error_at(L, origin_env(var), s->key, "the file %s", len == 0 ? "is empty" : "contains a NUL byte");
        return false;
    }
    c->value = c->buf;
    return true;
}

/* Turns a variable's text into the setting's text (account IDs, seconds). */
static bool map_value(struct load *L, const struct setting *s, const struct env_src *src, struct candidate *c)
{
    const char *v = c->value;
    switch (src->map) {
    case MAP_PLAIN:
        return true;
    case MAP_SECONDS: {
        bool digits = v[0] != '\0' && strlen(v) < 20;
        for (const char *p = v; digits && *p != '\0'; p++) digits = *p >= '0' && *p <= '9';
        if (digits) {
            snprintf(c->buf, sizeof c->buf, "%ss", v);
            c->value = c->buf;
        }
        return true;
    }
    case MAP_R2_ENDPOINT: {
        bool ok = strlen(v) <= 64;
        for (const char *p = v; ok && *p != '\0'; p++) ok = isalnum((unsigned char)*p);
        if (!ok) {
            error_at(L, origin_env(src->name), s->key, "an account ID has only letters and digits (at most 64)");
            return false;
        }
        snprintf(c->buf, sizeof c->buf, "https://%s.r2.cloudflarestorage.com", v);
        c->value = c->buf;
        return true;
    }
    case MAP_R2_REGION:
        c->value = "auto";
        return true;
    }
    return false;
}

/* Values compare equal for the conflict check (an endpoint's trailing '/' does not count). */
static bool same_value(enum setting_id id, const char *a, const char *b)
{
    if (id != S_S3_ENDPOINT) return strcmp(a, b) == 0;
    size_t na = strlen(a), nb = strlen(b);
    if (na > 0 && a[na - 1] == '/') na--;
    if (nb > 0 && b[nb - 1] == '/') nb--;
    return na == nb && strncmp(a, b, na) == 0;
}

static void apply_env_setting(struct load *L, enum setting_id id)
{
    const struct setting *s = &settings[id];
    size_t n = 0;
    bool weak[ENV_CANDIDATES_MAX] = { false };
    for (size_t k = 0; k < 6 && s->env[k].name != NULL; k++) {
        const struct env_src *src = &s->env[k];
        const char *v = env_get(L, src->name);
        const char *fv = env_get(L, src->file_name);
        if (v == NULL && fv == NULL) continue;
        if (v != NULL && fv != NULL) {
            error_at(L, origin_env(src->name), s->key, "%s is set too; use one of them", src->file_name);
            L->rejected[id] = true;
            continue;
        }
        struct candidate *c = &L->cand[n];
        c->name = v != NULL ? src->name : src->file_name;
        c->value = v;
        if ((fv != NULL && !read_var_file(L, s, src->file_name, fv, c)) || !map_value(L, s, src, c)) {
            L->rejected[id] = true;
            continue;
        }
        weak[n] = src->weak;
        n++;
    }
    /* A weak source only fills in: it is ignored when a real variable is set. */
    size_t use[ENV_CANDIDATES_MAX], m = 0;
    for (size_t k = 0; k < n; k++)
        if (!weak[k]) use[m++] = k;
    if (m == 0 && n > 0) use[m++] = 0;
    if (m > 0) {
        const struct candidate *first = &L->cand[use[0]];
        for (size_t k = 1; k < m; k++) {
            if (!same_value(id, first->value, L->cand[use[k]].value))
                error_at(L, origin_env(first->name), s->key, "also set by %s, to a different value; keep one of them",
                         L->cand[use[k]].name);
        }
        store_text(L, id, first->value, origin_env(first->name));
    }
    for (size_t k = 0; k < n; k++) explicit_bzero(L->cand[k].buf, sizeof L->cand[k].buf);
}

/* Warns about LAKEWRITER_* variables that look like a misspelt known one. */
static void env_typos(struct load *L)
{
    if (L->in->env == NULL) return;
    const char *known[64];
    size_t count = 0;
    known[count++] = "LAKEWRITER_CONFIG";
    for (int id = 0; id < S_COUNT; id++)
        for (size_t k = 0; k < 6 && settings[id].env[k].name != NULL; k++)
            if (strncmp(settings[id].env[k].name, "LAKEWRITER_", 11) == 0 && count < 64) known[count++] = settings[id].env[k].name;
    for (const char *const *e = L->in->env; *e != NULL; e++) {
        if (strncmp(*e, "LAKEWRITER_", 11) != 0) continue;
        char name[64];
        size_t n = strcspn(*e, "=");
        if (n >= sizeof name) continue;
        memcpy(name, *e, n);
        name[n] = '\0';
        bool found = false;
        for (size_t k = 0; k < count && !found; k++) found = strcmp(known[k], name) == 0;
        const char *g = found ? NULL : util_suggest(name, known, count);
        if (g != NULL)
            config_report_add(L->rep, CONFIG_SOURCE_ENV, 0, true, "env %s: warning: unknown variable (did you mean %s?)",
                              name, g);
    }
}

/* ---------------------------------------------------------------------------
 * Flags */

static void apply_flags(struct load *L)
{
    for (size_t i = 0; i < L->in->flag_count; i++) {
        const struct config_flag_value *f = &L->in->flags[i];
        if (strcmp(f->name, "--config") == 0) continue;
        int id = config_setting_by_flag(f->name);
        struct config_origin o = { .source = CONFIG_SOURCE_FLAG, .name = settings[id >= 0 ? id : 0].flag };
        if (id < 0) {
            config_report_add(L->rep, CONFIG_SOURCE_FLAG, 0, false, "flag %.64s: unknown flag", f->name);
            continue;
        }
        store_text(L, (enum setting_id)id, f->value != NULL ? f->value : "", o);
    }
}

/* ---------------------------------------------------------------------------
 * Checks across settings */

static struct config_origin origin_of(const struct load *L, enum setting_id id)
{
    return L->cfg->origin_[id];
}

/* Where to report a setting that is missing: its section's header if the file has one. */
static struct config_origin missing_origin(const struct toml_node *root, const char *section)
{
    const struct toml_node *t = root != NULL ? toml_get(root, section) : NULL;
    if (t != NULL) return origin_file(t);
    /* No such section: the file as a whole ("FILE: key: ..."), if there is one. */
    return (struct config_origin){ .source = root != NULL ? CONFIG_SOURCE_FILE : CONFIG_SOURCE_NONE };
}

static void finish_log(struct load *L)
{
    struct config_log *g = &L->cfg->log;
    if (!log_parse_level(g->level_text, &g->level)) g->level = LOG_INFO;
    if (!log_parse_format(g->format_text, &g->format)) g->format = LOG_FORMAT_JSON;
}

static void finish_redis(struct load *L, const struct toml_node *root)
{
    struct config *cfg = L->cfg;
    if (cfg->redis.consumer[0] == '\0') {
        const char *h = L->in->hostname;
        struct lw_err e = { 0 };
        if (h != NULL && h[0] != '\0' && strlen(h) < sizeof cfg->redis.consumer && !has_control(h) &&
            check_consumer(h, &e)) {
            memcpy(cfg->redis.consumer, h, strlen(h) + 1);
            cfg->origin_[S_REDIS_CONSUMER] = (struct config_origin){ .source = CONFIG_SOURCE_DEFAULT, .name = "the host name" };
        } else {
            error_at(L, missing_origin(root, "redis"), "redis.consumer",
                     "not set and the host name cannot be used; set it, LAKEWRITER_CONSUMER or --consumer");
        }
    }
    /* The password: REDIS_PASSWORD (environment) against the one in the URL (at the URL's level). */
    struct config_secret *pw = &cfg->redis.password;
    const struct config_secret *up = &cfg->url_password_;
    struct config_origin uo = cfg->url_password_origin_;
    struct config_origin po = cfg->origin_[S_REDIS_PASSWORD];
    /* Higher precedence wins (source_rank orders file < env < flag); at the same
     * level (REDIS_URL and REDIS_PASSWORD) different values are a conflict. */
    if (config_secret_is_set(up)) {
        if (!config_secret_is_set(pw) || source_rank(uo.source) > source_rank(po.source)) {
            secret_copy(pw, up);
            cfg->origin_[S_REDIS_PASSWORD] = uo;
        } else if (uo.source == po.source && strcmp(config_secret_value(pw), config_secret_value(up)) != 0) {
            error_at(L, po, "redis.password", "differs from the password inside %s; keep one of them",
                     uo.name != NULL ? uo.name : "redis.url");
        }
    }
    uint64_t age = cfg->flush.max_age_ms;
    for (size_t i = 0; i < cfg->schema.table_count; i++)
        if (cfg->schema.tables[i].max_age_ms > age) age = cfg->schema.tables[i].max_age_ms;
    if (cfg->redis.claim_idle_ms < 2 * age) {
        char a[40], b[40];
        error_at(L, origin_of(L, S_REDIS_CLAIM_IDLE), "redis.claim_idle",
                 "%s is less than twice the longest flush.max_age (%s): other consumers would claim entries that "
                 "are still being buffered", util_format_duration(cfg->redis.claim_idle_ms, a, sizeof a),
                 util_format_duration(age, b, sizeof b));
    }
}

static void finish_s3_endpoint(struct load *L, const struct toml_node *root)
{
    struct config_s3 *s = &L->cfg->s3;
    if (s->endpoint[0] == '\0') {
        if (rejected(L, S_S3_ENDPOINT)) return;
        if (strcmp(s->region, "auto") != 0 && s->region[0] != '\0') {
            char url[CONFIG_URL_MAX + 1];
            snprintf(url, sizeof url, "https://s3.%s.amazonaws.com", s->region);
            struct lw_err e = { 0 };
            if (parse_endpoint(url, s, &e))
                L->cfg->origin_[S_S3_ENDPOINT] = (struct config_origin){ .source = CONFIG_SOURCE_DEFAULT,
                                                                         .name = "AWS, from s3.region" };
        } else {
            error_at(L, missing_origin(root, "s3"), "s3.endpoint",
                     "not set; set it, --s3-endpoint, AWS_ENDPOINT_URL_S3, R2_ENDPOINT_URL or R2_ACCOUNT_ID "
                     "(or an AWS region, for AWS)");
            return;
        }
    }
    if (is_aws_host(s->host) && strcmp(s->region, "auto") == 0)
        error_at(L, origin_of(L, S_S3_REGION), "s3.region",
                 "'auto' is for R2; AWS needs the bucket's region, such as us-east-1");
    if (is_r2_host(s->host) && strcmp(s->region, "auto") != 0 && strcmp(s->region, "us-east-1") != 0)
        warn_at(L, origin_of(L, S_S3_REGION), "s3.region", "R2 expects region 'auto', not '%s'", s->region);
    if (!s->tls && !is_loopback(s->host))
        warn_at(L, origin_of(L, S_S3_ENDPOINT), "s3.endpoint",
                "plain http:// to %s: objects and signatures travel unencrypted", s->host);
}

static void finish_s3(struct load *L, const struct toml_node *root)
{
    struct config *cfg = L->cfg;
    struct config_s3 *s = &cfg->s3;
    finish_s3_endpoint(L, root);
    if (strcmp(s->addressing_text, "path") == 0) s->addressing = CONFIG_ADDRESSING_PATH;
    else if (strcmp(s->addressing_text, "virtual") == 0) s->addressing = CONFIG_ADDRESSING_VIRTUAL;
    else s->addressing = is_aws_host(s->host) ? CONFIG_ADDRESSING_VIRTUAL : CONFIG_ADDRESSING_PATH;
    if (s->bucket[0] == '\0' && rejected(L, S_S3_BUCKET))
        ;
    else if (s->bucket[0] == '\0')
        error_at(L, missing_origin(root, "s3"), "s3.bucket", "not set; set it, --bucket or R2_BUCKET_NAME");
    else if (s->addressing == CONFIG_ADDRESSING_VIRTUAL && s->tls && strchr(s->bucket, '.') != NULL)
        warn_at(L, origin_of(L, S_S3_BUCKET), "s3.bucket",
                "a bucket name with '.' fails TLS certificate checks with virtual-hosted addressing; set "
                "s3.addressing = \"path\"");
    if (s->access_key_id[0] == '\0' && !rejected(L, S_S3_ACCESS_KEY_ID))
        error_at(L, (struct config_origin){ .source = CONFIG_SOURCE_NONE }, "s3.access_key_id",
                 "not set; set AWS_ACCESS_KEY_ID (or R2_ACCESS_KEY_ID, or a *_FILE variant) in the environment");
    if (!config_secret_is_set(&s->secret_access_key) && !rejected(L, S_S3_SECRET_KEY))
        error_at(L, (struct config_origin){ .source = CONFIG_SOURCE_NONE }, "s3.secret_access_key",
                 "not set; set AWS_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY_FILE (or the R2_ names) in the "
                 "environment");
    if (cfg->stream_count > 1 && strstr(s->key_template, "{stream}") == NULL)
        error_at(L, origin_of(L, S_S3_KEY_TEMPLATE), "s3.key_template",
                 "must contain {stream} when more than one stream is read (entry IDs repeat across streams)");
    if (strcmp(cfg->parquet.compression_text, "none") == 0) cfg->parquet.compression = CONFIG_COMPRESSION_NONE;
    else cfg->parquet.compression = CONFIG_COMPRESSION_ZSTD;
    if (cfg->parquet.compression == CONFIG_COMPRESSION_NONE && L->zstd_level_explicit)
        warn_at(L, origin_of(L, S_PARQUET_ZSTD_LEVEL), "parquet.zstd_level", "ignored: parquet.compression is \"none\"");
    if (cfg->parquet.page_rows > cfg->parquet.row_group_rows)
        error_at(L, origin_of(L, S_PARQUET_PAGE_ROWS), "parquet.page_rows",
                 "%llu is more than parquet.row_group_rows (%llu)", (unsigned long long)cfg->parquet.page_rows,
                 (unsigned long long)cfg->parquet.row_group_rows);
}

/* limits.memory must hold the largest batch plus the upload buffers. */
static void finish_memory(struct load *L)
{
    struct config *cfg = L->cfg;
    uint64_t batch = cfg->flush.max_bytes;
    const char *who = "flush.max_bytes";
    char who_buf[SCHEMA_NAME_MAX + 32];
    for (size_t i = 0; i < cfg->schema.table_count; i++) {
        const struct schema_table *t = &cfg->schema.tables[i];
        if (t->max_bytes > batch) {
            batch = t->max_bytes;
            snprintf(who_buf, sizeof who_buf, "tables.%s.max_bytes", t->name);
            who = who_buf;
        }
    }
    uint64_t uploads = cfg->s3.part_size * cfg->s3.uploads_in_flight;
    uint64_t need = batch + uploads;
    if (need <= cfg->limits.memory_bytes) return;
    char a[32], b[32], c[32], d[32];
    error_at(L, origin_of(L, S_LIMITS_MEMORY), "limits.memory",
             "%s cannot hold a full batch (%s = %s) plus the upload buffers (s3.part_size x s3.uploads_in_flight = "
             "%s); raise it to at least %s or lower those", util_format_size(cfg->limits.memory_bytes, a, sizeof a),
             who, util_format_size(batch, b, sizeof b), util_format_size(uploads, c, sizeof c),
             util_format_size(need, d, sizeof d));
}

static void finish_streams(struct load *L, const struct toml_node *root)
{
    struct config *cfg = L->cfg;
    const struct toml_node *tables = root != NULL ? toml_get(root, "tables") : NULL;
    if (cfg->schema.table_count == 0 && (tables == NULL || tables->count == 0))
        error_at(L, missing_origin(root, "tables"), "tables",
                 "no tables: declare at least one, as [tables.NAME.columns]");
    if (cfg->stream_count == 0)
        error_at(L, missing_origin(root, "streams"), "streams", "no streams: add a [[streams]] table with a name");
    const char *names[SCHEMA_TABLES_MAX];
    for (size_t i = 0; i < cfg->schema.table_count; i++) names[i] = cfg->schema.tables[i].name;
    for (size_t i = 0; i < cfg->stream_count; i++) {
        struct config_stream *st = &cfg->streams[i];
        struct config_origin o = { .source = CONFIG_SOURCE_FILE, .line = st->line };
        char key[48];
        snprintf(key, sizeof key, "streams[%zu]", i);
        if (st->name[0] == '\0') continue;
        for (size_t k = 0; k < i; k++)
            if (strcmp(cfg->streams[k].name, st->name) == 0)
                error_at(L, o, key, "stream '%s' is listed twice (first on line %u)", st->name, cfg->streams[k].line);
        if (st->dead_letter[0] == '\0') snprintf(st->dead_letter, sizeof st->dead_letter, "%.*s:dlq", CONFIG_STREAM_NAME_MAX - 4, st->name);
        for (size_t k = 0; k < cfg->stream_count; k++)
            if (strcmp(cfg->streams[k].name, st->dead_letter) == 0)
                error_at(L, o, key, "dead_letter '%s' is a stream that is read: bad entries would come back", st->dead_letter);
        if (st->format == CONFIG_STREAM_JSON && st->table_name[0] == '\0' && strcmp(st->entity_field, st->data_field) == 0)
            error_at(L, o, key, "entity_field and data_field are both '%s'", st->data_field);
        if (st->table_name[0] == '\0') continue;
        const struct schema_table *t = schema_find_table(&cfg->schema, st->table_name);
        if (t != NULL) {
            st->table = (int)(t - cfg->schema.tables);
            continue;
        }
        char h[96];
        o.line = st->table_line;
        snprintf(key, sizeof key, "streams[%zu].table", i);
        error_at(L, o, key, "table '%s' is not defined%s", st->table_name,
                 hint(h, sizeof h, st->table_name, names, cfg->schema.table_count));
    }
}

/* ---------------------------------------------------------------------------
 * Public API */

const char *config_file_path(const char *const *env, const struct config_flag_value *flags, size_t flag_count,
                             struct config_origin *origin)
{
    for (size_t i = flag_count; i-- > 0;) {
        if (strcmp(flags[i].name, "--config") == 0 && flags[i].value != NULL) {
            *origin = (struct config_origin){ .source = CONFIG_SOURCE_FLAG, .name = "--config" };
            return flags[i].value;
        }
    }
    for (const char *const *e = env; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "LAKEWRITER_CONFIG=", 18) == 0 && (*e)[18] != '\0') {
            *origin = (struct config_origin){ .source = CONFIG_SOURCE_ENV, .name = "LAKEWRITER_CONFIG" };
            return *e + 18;
        }
    }
    *origin = (struct config_origin){ .source = CONFIG_SOURCE_DEFAULT };
    return CONFIG_DEFAULT_PATH;
}

bool config_load(const struct config_input *in, struct config *cfg, struct config_report *report)
{
    memset(cfg, 0, sizeof *cfg);
    memset(report, 0, sizeof *report);
    struct load *L = calloc(1, sizeof *L);
    if (L == NULL) {
        config_report_add(report, CONFIG_SOURCE_NONE, 0, false, "out of memory");
        return false;
    }
    L->cfg = cfg;
    L->rep = report;
    L->in = in;
    L->file = in->file_name != NULL ? in->file_name : "(config)";
    if (in->file_name != NULL) snprintf(cfg->file, sizeof cfg->file, "%s", in->file_name);

    apply_defaults(L);

    struct toml_doc *doc = NULL;
    const struct toml_node *root = NULL;
    if (in->file_text != NULL) {
        struct lw_err e = { 0 };
        doc = toml_parse(in->file_text, in->file_len, &e);
        if (doc == NULL) {
            config_report_add(report, CONFIG_SOURCE_FILE, 0, false, "%s: %s", L->file, e.msg);
        } else {
            for (size_t i = 0; i < toml_error_count(doc); i++) {
                const struct toml_error *te = toml_error_at(doc, i);
                if (te->col > 0)
                    config_report_add(report, CONFIG_SOURCE_FILE, te->line, false, "%s:%u: %s (column %u)", L->file,
                                      te->line, te->msg, te->col);
                else
                    config_report_add(report, CONFIG_SOURCE_FILE, te->line, false, "%s:%u: %s", L->file, te->line,
                                      te->msg);
            }
            root = toml_root(doc);
            apply_file(L, root);
        }
    }
    for (int id = 0; id < S_COUNT; id++) apply_env_setting(L, (enum setting_id)id);
    env_typos(L);
    apply_flags(L);

    finish_log(L);
    finish_redis(L, root);
    finish_s3(L, root);
    finish_memory(L);
    finish_streams(L, root);

    toml_free(doc);
    secret_wipe(&L->scratch);
    explicit_bzero(L, sizeof *L);
    free(L);
    report_sort(report);
    return report->errors == 0;
}

void config_free(struct config *cfg)
{
    schema_free(&cfg->schema);
    secret_wipe(&cfg->redis.password);
    secret_wipe(&cfg->s3.secret_access_key);
    secret_wipe(&cfg->s3.session_token);
    secret_wipe(&cfg->url_password_);
}

size_t config_setting_count(void)
{
    return S_COUNT;
}

void config_setting_at(size_t i, struct config_setting_info *out)
{
    assert(i < S_COUNT);
    const struct setting *s = &settings[i];
    memset(out, 0, sizeof *out);
    out->key = s->key;
    out->flag = s->flag;
    out->arg = s->arg;
    out->def = s->def;
    out->help = s->help;
    out->secret = s->kind == K_SECRET;
    out->file = s->in_file;
    size_t n = 0;
    for (size_t k = 0; k < 6 && s->env[k].name != NULL; k++) {
        out->env[n++] = s->env[k].name;
        if (s->env[k].file_name != NULL && n < 7) out->env[n++] = s->env[k].file_name;
    }
}

const char *config_env_note(const char *name)
{
    if (strcmp(name, "R2_ACCOUNT_ID") == 0)
        return "s3.endpoint = https://<ID>.r2.cloudflarestorage.com, and s3.region = auto unless AWS_REGION is set";
    if (strcmp(name, "BUFFER_FLUSH_INTERVAL") == 0) return "flush.max_age, in seconds (or a duration such as 90s)";
    if (strcmp(name, "BUFFER_MAX_SIZE") == 0) return "flush.max_rows: rows per batch";
    return NULL;
}

const struct config_origin *config_origin_of(const struct config *cfg, const char *key)
{
    int id = setting_by_key(key);
    return id >= 0 ? &cfg->origin_[id] : NULL;
}

char *config_origin_text(const struct config *cfg, const struct config_origin *o, char *buf, size_t cap)
{
    switch (o->source) {
    case CONFIG_SOURCE_DEFAULT:
        if (o->name != NULL) snprintf(buf, cap, "default (%s)", o->name);
        else snprintf(buf, cap, "default");
        break;
    case CONFIG_SOURCE_FILE: snprintf(buf, cap, "%s:%u", cfg->file, o->line); break;
    case CONFIG_SOURCE_ENV: snprintf(buf, cap, "env %s", o->name); break;
    case CONFIG_SOURCE_FLAG: snprintf(buf, cap, "flag %s", o->name); break;
    default: snprintf(buf, cap, "not set"); break;
    }
    return buf;
}

int config_setting_by_flag(const char *flag)
{
    for (int id = 0; id < S_COUNT; id++)
        if (settings[id].flag != NULL && strcmp(settings[id].flag, flag) == 0) return id;
    return -1;
}

/* ---------------------------------------------------------------------------
 * The dump */

static void print_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\u%04X", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

static void print_key(FILE *out, const char *k)
{
    bool bare = k[0] != '\0';
    for (const char *p = k; *p != '\0'; p++)
        bare = bare && (isalnum((unsigned char)*p) || *p == '_' || *p == '-');
    if (bare) fputs(k, out);
    else print_string(out, k);
}

static void print_origin(FILE *out, const struct config *cfg, struct config_origin o)
{
    char buf[CONFIG_PATH_MAX + 32];
    fprintf(out, "  # %s\n", config_origin_text(cfg, &o, buf, sizeof buf));
}

static void print_origin_note(FILE *out, const struct config *cfg, struct config_origin o, const char *note)
{
    char buf[CONFIG_PATH_MAX + 32];
    fprintf(out, "  # %s; %s\n", config_origin_text(cfg, &o, buf, sizeof buf), note);
}

static void print_setting(FILE *out, const struct config *cfg, enum setting_id id)
{
    const struct setting *s = &settings[id];
    const char *leaf = strchr(s->key, '.') + 1;
    struct config_origin o = cfg->origin_[id];
    const char *base = (const char *)cfg;
    if (s->kind == K_SECRET || !s->in_file) {
        bool set = s->kind == K_SECRET ? config_secret_is_set((const struct config_secret *)(const void *)(base + s->offset))
                                       : base[s->offset] != '\0';
        fprintf(out, "# %s: %s", leaf, set ? (s->kind == K_SECRET ? "set, hidden" : "set") : "not set");
        if (set) print_origin(out, cfg, o);
        else fputc('\n', out);
        return;
    }
    fprintf(out, "%s = ", leaf);
    char buf[48];
    uint64_t v = 0;
    switch (s->kind) {
    case K_STR: print_string(out, base + s->offset); break;
    case K_INT: memcpy(&v, base + s->offset, sizeof v); fprintf(out, "%llu", (unsigned long long)v); break;
    case K_SIZE: memcpy(&v, base + s->offset, sizeof v); print_string(out, util_format_size(v, buf, sizeof buf)); break;
    case K_DURATION: memcpy(&v, base + s->offset, sizeof v); print_string(out, util_format_duration(v, buf, sizeof buf)); break;
    case K_SECRET: break;
    }
    if (id == S_S3_ADDRESSING)
        print_origin_note(out, cfg, o, cfg->s3.addressing == CONFIG_ADDRESSING_PATH ? "in effect: path" : "in effect: virtual");
    else
        print_origin(out, cfg, o);
}

static void print_table(FILE *out, const struct config *cfg, const struct schema_table *t)
{
    char b[48];
    fputs("\n[tables.", out);
    print_key(out, t->name);
    fprintf(out, "]  # %s:%u\n", cfg->file, t->line);
    if (t->partition_column >= 0) {
        fputs("partition_time = ", out);
        print_string(out, t->columns[t->partition_column].name);
        fputc('\n', out);
    } else {
        fputs("# partition_time: not set (the entry ID's time)\n", out);
    }
    if (t->source[0] != '\0') {
        fputs("source = ", out);
        print_string(out, t->source);
        fputc('\n', out);
    }
    fputs("metadata = [\"_stream_id\"", out);
    if (t->metadata & SCHEMA_META_STREAM) fputs(", \"_stream\"", out);
    if (t->metadata & SCHEMA_META_INGESTED_AT) fputs(", \"_ingested_at\"", out);
    fputs("]\n", out);
    fprintf(out, "epoch_unit = \"%s\"\n", schema_epoch_unit_name(t->epoch_unit));
    if (t->max_rows != 0) fprintf(out, "max_rows = %llu\n", (unsigned long long)t->max_rows);
    if (t->max_bytes != 0) fprintf(out, "max_bytes = \"%s\"\n", util_format_size(t->max_bytes, b, sizeof b));
    if (t->max_age_ms != 0) fprintf(out, "max_age = \"%s\"\n", util_format_duration(t->max_age_ms, b, sizeof b));
    fputs("\n[tables.", out);
    print_key(out, t->name);
    fputs(".columns]\n", out);
    for (size_t i = 0; i < t->column_count; i++) {
        print_key(out, t->columns[i].name);
        fputs(" = ", out);
        print_string(out, schema_format_type(&t->columns[i], b, sizeof b));
        fputc('\n', out);
    }
}

void config_print(const struct config *cfg, FILE *out)
{
    fputs("# lakewriter: effective configuration (secrets hidden); each value's origin follows '#'\n", out);
    const char *section = "";
    size_t section_len = 0;
    for (int id = 0; id < S_COUNT; id++) {
        const char *key = settings[id].key;
        size_t len = (size_t)(strchr(key, '.') - key);
        if (len != section_len || strncmp(key, section, len) != 0) {
            fprintf(out, "\n[%.*s]\n", (int)len, key);
            section = key;
            section_len = len;
        }
        print_setting(out, cfg, (enum setting_id)id);
    }
    for (size_t i = 0; i < cfg->stream_count; i++) {
        const struct config_stream *st = &cfg->streams[i];
        fprintf(out, "\n[[streams]]  # %s:%u\nname = ", cfg->file, st->line);
        print_string(out, st->name);
        fprintf(out, "\nformat = \"%s\"\nentity_field = ", st->format == CONFIG_STREAM_FLAT ? "flat" : "json");
        print_string(out, st->entity_field);
        fputs("\ndata_field = ", out);
        print_string(out, st->data_field);
        fputs("\ntable = ", out);
        print_string(out, st->table_name);
        fputs("\ndead_letter = ", out);
        print_string(out, st->dead_letter);
        fputc('\n', out);
    }
    for (size_t i = 0; i < cfg->schema.table_count; i++) print_table(out, cfg, &cfg->schema.tables[i]);
}
