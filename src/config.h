/* config: lakewriter's settings, from flags, the environment, the config file and
 * defaults (in that order of precedence), validated as a whole.
 *
 * The loader is pure: it takes the file's bytes, an environment array and the
 * parsed flags as data (tests inject all three) and reads nothing itself except
 * through the `read_file` callback for *_FILE variables. It never stops at the
 * first problem: every problem found goes into a `config_report`, one line each,
 *
 *   lakewriter.toml:12: s3.part_size: '1MiB' is below the minimum 5MiB
 *   env AWS_REGION: s3.region: 'us east 1': only a-z, 0-9 and '-' are allowed
 *   flag --memory-limit: '1XB': unknown unit 'XB' (units: B, KiB, MiB, GiB, ...)
 *
 * Secrets (the S3 secret key and session token, the Redis password, also when it is
 * written inside a redis:// URL) live in `struct config_secret`, whose bytes are
 * reached only through config_secret_value(): passing one to printf is a compile
 * error, and no message, report line or config_print output ever contains one.
 *
 * The file format is described in toml.h, the keys in docs/configuration.md. */
#ifndef LW_CONFIG_H
#define LW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "log.h"
#include "schema.h"

enum {
    CONFIG_PATH_MAX = 1024,
    CONFIG_URL_MAX = 512,          /* redis.url, s3.endpoint */
    CONFIG_HOST_MAX = 253,
    CONFIG_NAME_MAX = 128,         /* group, consumer, field names, Redis user */
    CONFIG_STREAM_NAME_MAX = 256,  /* stream and dead-letter stream names */
    CONFIG_BUCKET_MAX = 63,
    CONFIG_REGION_MAX = 64,
    CONFIG_PREFIX_MAX = 512,
    CONFIG_TEMPLATE_MAX = 512,
    CONFIG_KEY_ID_MAX = 128,       /* S3 access key ID */
    CONFIG_SECRET_MAX = 4096,      /* bytes of one secret (session tokens are long) */
    CONFIG_STREAMS_MAX = 64,
    CONFIG_SETTINGS_MAX = 48,      /* scalar settings (the table in config.c) */
    CONFIG_PROBLEMS_MAX = 100,     /* kept in a report; more are counted */
    CONFIG_PROBLEM_TEXT_MAX = 600,
    CONFIG_FLAGS_MAX = 64,
    CONFIG_REDIS_DB_MAX = 1000000,
};

#define CONFIG_DEFAULT_PATH "lakewriter.toml"

/* ---------------------------------------------------------------------------
 * Secrets */

struct config_secret {
    bool set_;
    size_t len_;
    char bytes_[CONFIG_SECRET_MAX + 1];
};

/* The secret's bytes (NUL-terminated), or "" when it is not set. Call it only where
 * the secret is used (signing, AUTH), never to print. */
const char *config_secret_value(const struct config_secret *s);
bool config_secret_is_set(const struct config_secret *s);

/* ---------------------------------------------------------------------------
 * Where a value came from */

enum config_source {
    CONFIG_SOURCE_NONE,     /* not set anywhere (and no default) */
    CONFIG_SOURCE_DEFAULT,
    CONFIG_SOURCE_FILE,
    CONFIG_SOURCE_ENV,
    CONFIG_SOURCE_FLAG,
};

struct config_origin {
    enum config_source source;
    uint32_t line;       /* CONFIG_SOURCE_FILE: the line of the key */
    const char *name;    /* ENV: the variable, FLAG: the flag, DEFAULT: a note or NULL */
};

/* ---------------------------------------------------------------------------
 * The settings */

enum config_addressing { CONFIG_ADDRESSING_PATH, CONFIG_ADDRESSING_VIRTUAL };
enum config_compression { CONFIG_COMPRESSION_ZSTD, CONFIG_COMPRESSION_NONE };
enum config_stream_format { CONFIG_STREAM_JSON, CONFIG_STREAM_FLAT };

struct config_redis {
    char url[CONFIG_URL_MAX + 1];      /* normalized, without the password */
    bool tls;                          /* rediss:// */
    char host[CONFIG_HOST_MAX + 1];    /* name, IPv4, or IPv6 without brackets */
    uint16_t port;
    uint32_t db;
    char user[CONFIG_NAME_MAX + 1];    /* ACL user, "" for the default user */
    struct config_secret password;
    char group[CONFIG_NAME_MAX + 1];
    char consumer[CONFIG_NAME_MAX + 1];
    uint64_t block_ms;
    uint64_t read_count;
    uint64_t claim_idle_ms;
};

struct config_s3 {
    char endpoint[CONFIG_URL_MAX + 1]; /* normalized: https://host[:port] */
    bool tls;
    char host[CONFIG_HOST_MAX + 1];
    uint16_t port;
    char bucket[CONFIG_BUCKET_MAX + 1];
    char region[CONFIG_REGION_MAX + 1];
    char prefix[CONFIG_PREFIX_MAX + 1];
    char addressing_text[16];          /* as configured: path | virtual | auto */
    enum config_addressing addressing; /* resolved */
    uint64_t part_size;
    uint64_t uploads_in_flight;
    uint64_t request_timeout_ms;
    uint64_t max_attempts;
    char ca_file[CONFIG_PATH_MAX + 1]; /* "" = the system bundle */
    char key_template[CONFIG_TEMPLATE_MAX + 1];
    char access_key_id[CONFIG_KEY_ID_MAX + 1];
    struct config_secret secret_access_key;
    struct config_secret session_token;
};

struct config_flush {
    uint64_t max_rows;
    uint64_t max_bytes;
    uint64_t max_age_ms;
};

struct config_limits {
    uint64_t memory_bytes;
    uint64_t shutdown_timeout_ms;
};

struct config_parquet {
    char compression_text[8];
    enum config_compression compression;
    uint64_t zstd_level;
    uint64_t row_group_rows;
    uint64_t page_rows;
};

struct config_log {
    char level_text[8];
    char format_text[8];
    enum log_level level;
    enum log_format format;
};

struct config_stream {
    char name[CONFIG_STREAM_NAME_MAX + 1];
    enum config_stream_format format;
    char entity_field[CONFIG_NAME_MAX + 1];
    char data_field[CONFIG_NAME_MAX + 1];
    char table_name[SCHEMA_NAME_MAX + 1]; /* "" = route by entity_field */
    int table;                            /* index into schema.tables, or -1 (routed) */
    char dead_letter[CONFIG_STREAM_NAME_MAX + 1];
    uint32_t line;                        /* of the [[streams]] header */
    uint32_t table_line;                  /* of its `table` key, 0 if absent */
};

struct config {
    char file[CONFIG_PATH_MAX + 1];    /* the config file, "" if none */
    struct config_log log;
    struct config_redis redis;
    struct config_s3 s3;
    struct config_flush flush;
    struct config_limits limits;
    struct config_parquet parquet;
    struct config_stream streams[CONFIG_STREAMS_MAX];
    size_t stream_count;
    struct schema schema;
    /* Private: the origin of each scalar setting, and the password of redis.url. */
    struct config_origin origin_[CONFIG_SETTINGS_MAX];
    struct config_secret url_password_;
    struct config_origin url_password_origin_;
};

/* ---------------------------------------------------------------------------
 * Loading */

struct config_flag_value {
    const char *name;   /* "--bucket" */
    const char *value;
};

struct config_input {
    const char *file_name;             /* for messages; NULL if no file */
    const char *file_text;             /* the file's bytes; NULL if no file */
    size_t file_len;
    const char *const *env;            /* "NAME=value", NULL-terminated; NULL = empty */
    const struct config_flag_value *flags; /* settings flags (see config_setting_by_flag) */
    size_t flag_count;
    const char *hostname;              /* default for redis.consumer; NULL = none */
    /* Reads the file a *_FILE variable names into buf (at most cap bytes), setting
     * *len; false with `e` set if it cannot (a file longer than cap is an error).
     * NULL: *_FILE variables are reported as unsupported. */
    bool (*read_file)(void *ctx, const char *path, char *buf, size_t cap, size_t *len, struct lw_err *e);
    void *read_file_ctx;
};

struct config_problem {
    enum config_source source;         /* where; NONE for a setting that is missing */
    uint32_t line;                     /* file line, 0 if none */
    bool warning;                      /* a warning does not make the config invalid */
    char text[CONFIG_PROBLEM_TEXT_MAX];/* the whole line, as printed: "file:12: key: ..." */
};

struct config_report {
    struct config_problem items[CONFIG_PROBLEMS_MAX]; /* sorted: file lines, env, flags, others */
    size_t count;
    size_t errors, warnings;           /* totals, including those past CONFIG_PROBLEMS_MAX */
};

/* The config file to read: flag --config, else LAKEWRITER_CONFIG, else
 * CONFIG_DEFAULT_PATH. *origin is set to where the name came from. */
const char *config_file_path(const char *const *env, const struct config_flag_value *flags, size_t flag_count,
                             struct config_origin *origin);

/* Loads and validates everything. `cfg` and `report` are overwritten (`cfg` must
 * be released with config_free even when this fails). Returns true when there is
 * no error (warnings are allowed). */
bool config_load(const struct config_input *in, struct config *cfg, struct config_report *report);

/* Adds a problem found outside the loader (e.g. the file cannot be read). */
void config_report_add(struct config_report *report, enum config_source source, uint32_t line, bool warning,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Where the effective value of setting `key` ("s3.bucket") came from; NULL if
 * there is no such setting. */
const struct config_origin *config_origin_of(const struct config *cfg, const char *key);

/* Writes an origin as text: "lakewriter.toml:12", "env R2_BUCKET_NAME",
 * "flag --bucket", "default", "default (the host name)", "not set". */
char *config_origin_text(const struct config *cfg, const struct config_origin *o, char *buf, size_t cap);

/* Frees the schema and wipes the secrets. */
void config_free(struct config *cfg);

/* Writes the effective settings as TOML, each with its origin as a comment;
 * secrets are shown only as set/unset and where from. */
void config_print(const struct config *cfg, FILE *out);

/* ---------------------------------------------------------------------------
 * The settings table, for --help and the documentation */

struct config_setting_info {
    const char *key;          /* "s3.bucket" */
    const char *flag;         /* "--bucket", or NULL */
    const char *arg;          /* what the flag takes: "NAME", "SIZE", "DURATION", ... */
    const char *env[8];       /* NULL-terminated */
    const char *def;          /* the default as text, or NULL (none / computed) */
    const char *help;         /* one line */
    bool secret;              /* environment only; NAME_FILE variants are accepted */
    bool file;                /* can be set in the config file */
};

size_t config_setting_count(void);

/* Fills `out` for setting i (< config_setting_count()). */
void config_setting_at(size_t i, struct config_setting_info *out);

/* What a variable means beyond naming its setting (R2_ACCOUNT_ID, seconds...), or NULL. */
const char *config_env_note(const char *name);

/* The index of the setting set by `flag` ("--bucket"), or -1. */
int config_setting_by_flag(const char *flag);

#endif
