/* config.c: defaults, file, environment and flags with their precedence, *_FILE
 * variables, conflicting names, R2 conveniences, every problem with its line, and
 * secrets that never reach a message or the dump. The loader gets everything as
 * data here: file text, an environment array, flags and a fake file reader. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "toml.h"

/* The smallest valid file; tests append to it or replace it. */
static const char *const BASE =
    "[s3]\n"
    "endpoint = \"http://127.0.0.1:9000\"\n"
    "bucket = \"lake\"\n"
    "region = \"us-east-1\"\n"
    "[[streams]]\n"
    "name = \"events\"\n"
    "[tables.orders.columns]\n"
    "id = \"int64 not null\"\n"
    "created_at = \"timestamp\"\n";

static const char *const CREDS[] = { "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=s3cr3t-AAAA", NULL };

/* A fake file system for *_FILE variables: path -> contents. */
static const char *fake_files[][2] = {
    { "/run/secrets/aws", "s3cr3t-FILE\n" },
    { "/run/secrets/aws-crlf", "s3cr3t-FILE\r\n" },
    { "/run/secrets/redis", "redis-pw-FILE\n" },
    { "/run/secrets/empty", "\n" },
    { "/run/secrets/key-id", "AKIDFROMFILE\n" },
};

static bool fake_read(void *ctx, const char *path, char *buf, size_t cap, size_t *len, struct lw_err *e)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof fake_files / sizeof fake_files[0]; i++) {
        if (strcmp(path, fake_files[i][0]) != 0) continue;
        size_t n = strlen(fake_files[i][1]);
        if (n > cap) n = cap;
        memcpy(buf, fake_files[i][1], n);
        *len = n;
        return true;
    }
    return lw_err_set(e, 1, "cannot read '%s': No such file or directory", path);
}

static struct config cfg;
static struct config_report rep;

/* Loads `text` (NULL: no file) with `env` and flags given as "--name=value" strings. */
static bool load(const char *text, const char *const *env, const char *const *flags)
{
    static struct config_flag_value fv[16];
    static char names[16][64];
    size_t n = 0;
    for (; flags != NULL && flags[n] != NULL; n++) {
        const char *eq = strchr(flags[n], '=');
        snprintf(names[n], sizeof names[n], "%.*s", (int)(eq - flags[n]), flags[n]);
        fv[n] = (struct config_flag_value){ .name = names[n], .value = eq + 1 };
    }
    struct config_input in = {
        .file_name = text != NULL ? "test.toml" : NULL,
        .file_text = text,
        .file_len = text != NULL ? strlen(text) : 0,
        .env = env,
        .flags = fv,
        .flag_count = n,
        .hostname = "host-1",
        .read_file = fake_read,
    };
    return config_load(&in, &cfg, &rep);
}

static char *with_base(const char *extra)
{
    static char buf[8192];
    snprintf(buf, sizeof buf, "%s%s", BASE, extra);
    return buf;
}

static void dump_report(void)
{
    for (size_t i = 0; i < rep.count; i++) fprintf(stderr, "  %s\n", rep.items[i].text);
}

static void load_ok(const char *text, const char *const *env, const char *const *flags)
{
    bool ok = load(text, env, flags);
    if (!ok || rep.count > 0) dump_report();
    cr_assert(ok, "expected a valid configuration");
}

/* True if some problem line is exactly `text` or contains it. */
static bool has_problem(const char *text)
{
    for (size_t i = 0; i < rep.count; i++)
        if (strstr(rep.items[i].text, text) != NULL) return true;
    return false;
}

#define expect_problem(text)                                                                                       \
    do {                                                                                                           \
        if (!has_problem(text)) dump_report();                                                                     \
        cr_expect(has_problem(text), "no problem containing: %s", text);                                           \
    } while (0)

static const char *origin(const char *key)
{
    static char buf[256];
    const struct config_origin *o = config_origin_of(&cfg, key);
    cr_assert_not_null(o, "no setting %s", key);
    return config_origin_text(&cfg, o, buf, sizeof buf);
}

static void fini(void)
{
    config_free(&cfg);
}

TestSuite(config, .fini = fini);

Test(config, defaults)
{
    load_ok(BASE, CREDS, NULL);
    cr_expect_str_eq(cfg.redis.url, "redis://127.0.0.1:6379/0");
    cr_expect_str_eq(cfg.redis.host, "127.0.0.1");
    cr_expect_eq(cfg.redis.port, 6379);
    cr_expect_eq(cfg.redis.db, 0);
    cr_expect_not(cfg.redis.tls);
    cr_expect_str_eq(cfg.redis.group, "lakewriter");
    cr_expect_str_eq(cfg.redis.consumer, "host-1");
    cr_expect_str_eq(origin("redis.consumer"), "default (the host name)");
    cr_expect_eq(cfg.redis.block_ms, 2000);
    cr_expect_eq(cfg.redis.read_count, 1000);
    cr_expect_eq(cfg.redis.claim_idle_ms, 300000);
    cr_expect_str_eq(cfg.s3.prefix, "");
    cr_expect_eq(cfg.s3.addressing, CONFIG_ADDRESSING_PATH);
    cr_expect_eq(cfg.s3.part_size, 16u << 20);
    cr_expect_eq(cfg.s3.uploads_in_flight, 4);
    cr_expect_str_eq(cfg.s3.key_template, "{prefix}/{table}/dt={date}/hour={hour}/{stream}-{first_id}-{last_id}.parquet");
    cr_expect_eq(cfg.flush.max_rows, 100000);
    cr_expect_eq(cfg.flush.max_bytes, 64u << 20);
    cr_expect_eq(cfg.flush.max_age_ms, 60000);
    cr_expect_eq(cfg.limits.memory_bytes, 512u << 20);
    cr_expect_eq(cfg.limits.shutdown_timeout_ms, 30000);
    cr_expect_eq(cfg.parquet.compression, CONFIG_COMPRESSION_ZSTD);
    cr_expect_eq(cfg.parquet.zstd_level, 3);
    cr_expect_eq(cfg.parquet.row_group_rows, 1000000);
    cr_expect_eq(cfg.parquet.page_rows, 20000);
    cr_expect_eq(cfg.log.level, LOG_INFO);
    cr_expect_eq(cfg.log.format, LOG_FORMAT_JSON);
    cr_expect_str_eq(origin("flush.max_rows"), "default");
    cr_expect_str_eq(origin("s3.bucket"), "test.toml:3");
    cr_expect_str_eq(origin("s3.access_key_id"), "env AWS_ACCESS_KEY_ID");
    cr_expect_str_eq(origin("redis.password"), "not set");
    cr_expect_null(config_origin_of(&cfg, "no.such"));
    /* Streams and tables. */
    cr_assert_eq(cfg.stream_count, 1);
    cr_expect_str_eq(cfg.streams[0].name, "events");
    cr_expect_eq(cfg.streams[0].format, CONFIG_STREAM_JSON);
    cr_expect_str_eq(cfg.streams[0].entity_field, "entity");
    cr_expect_str_eq(cfg.streams[0].data_field, "data");
    cr_expect_str_eq(cfg.streams[0].dead_letter, "events:dlq");
    cr_expect_eq(cfg.streams[0].table, -1);
    cr_expect_eq(cfg.streams[0].line, 5);
    cr_assert_eq(cfg.schema.table_count, 1);
    cr_expect_str_eq(cfg.schema.tables[0].name, "orders");
    cr_expect_eq(cfg.schema.tables[0].column_count, 2);
    cr_expect(cfg.schema.tables[0].columns[0].required);
}

Test(config, every_file_setting)
{
    const char *text =
        "[log]\nlevel = \"debug\"\nformat = \"text\"\n"
        "[redis]\nurl = \"rediss://writer@redis.example:6380/3\"\ngroup = \"g\"\nconsumer = \"c-1\"\nblock = \"250ms\"\n"
        "read_count = 500\nclaim_idle = \"10m\"\n"
        "[s3]\nendpoint = \"https://abc.r2.cloudflarestorage.com/\"\nbucket = \"my-lake\"\nregion = \"auto\"\n"
        "prefix = \"raw/events\"\naddressing = \"virtual\"\npart_size = 8388608\nuploads_in_flight = 8\n"
        "key_template = \"{table}/{first_id}.parquet\"\n"
        "[flush]\nmax_rows = 5000\nmax_bytes = \"1GiB\"\nmax_age = \"2m30s\"\n"
        "[limits]\nmemory = \"4GiB\"\nshutdown_timeout = \"1m\"\n"
        "[parquet]\ncompression = \"none\"\nrow_group_rows = 50000\npage_rows = 1000\n"
        "[[streams]]\nname = \"s\"\nformat = \"flat\"\ntable = \"t\"\ndead_letter = \"s-bad\"\n"
        "[tables.t]\npartition_time = \"at\"\nsource = \"public.t\"\nmetadata = [\"_stream\"]\nepoch_unit = \"us\"\n"
        "max_rows = 10\nmax_bytes = \"2MiB\"\nmax_age = \"5s\"\n"
        "[tables.t.columns]\nat = \"timestamp_ntz not null\"\n";
    load_ok(text, CREDS, NULL);
    cr_expect_eq(cfg.log.level, LOG_DEBUG);
    cr_expect_eq(cfg.log.format, LOG_FORMAT_TEXT);
    cr_expect(cfg.redis.tls);
    cr_expect_str_eq(cfg.redis.user, "writer");
    cr_expect_str_eq(cfg.redis.host, "redis.example");
    cr_expect_eq(cfg.redis.port, 6380);
    cr_expect_eq(cfg.redis.db, 3);
    cr_expect_str_eq(cfg.redis.url, "rediss://writer@redis.example:6380/3");
    cr_expect_str_eq(cfg.redis.group, "g");
    cr_expect_str_eq(cfg.redis.consumer, "c-1");
    cr_expect_eq(cfg.redis.block_ms, 250);
    cr_expect_eq(cfg.redis.read_count, 500);
    cr_expect_eq(cfg.redis.claim_idle_ms, 600000);
    cr_expect_str_eq(cfg.s3.endpoint, "https://abc.r2.cloudflarestorage.com");
    cr_expect(cfg.s3.tls);
    cr_expect_eq(cfg.s3.port, 443);
    cr_expect_str_eq(cfg.s3.prefix, "raw/events");
    cr_expect_eq(cfg.s3.addressing, CONFIG_ADDRESSING_VIRTUAL);
    cr_expect_eq(cfg.s3.part_size, 8u << 20);
    cr_expect_eq(cfg.s3.uploads_in_flight, 8);
    cr_expect_eq(cfg.flush.max_rows, 5000);
    cr_expect_eq(cfg.flush.max_bytes, 1u << 30);
    cr_expect_eq(cfg.flush.max_age_ms, 150000);
    cr_expect_eq(cfg.limits.memory_bytes, 4ull << 30);
    cr_expect_eq(cfg.limits.shutdown_timeout_ms, 60000);
    cr_expect_eq(cfg.parquet.compression, CONFIG_COMPRESSION_NONE);
    cr_expect_eq(cfg.streams[0].format, CONFIG_STREAM_FLAT);
    cr_expect_eq(cfg.streams[0].table, 0);
    cr_expect_str_eq(cfg.streams[0].dead_letter, "s-bad");
    const struct schema_table *t = &cfg.schema.tables[0];
    cr_expect_eq(t->partition_column, 0);
    cr_expect_str_eq(t->source, "public.t");
    cr_expect_eq(t->metadata, SCHEMA_META_STREAM_ID | SCHEMA_META_STREAM);
    cr_expect_eq(t->epoch_unit, SCHEMA_EPOCH_US);
    cr_expect_eq(t->max_rows, 10);
    cr_expect_eq(t->max_bytes, 2u << 20);
    cr_expect_eq(t->max_age_ms, 5000);
    cr_expect_eq(t->columns[0].type, SCHEMA_TIMESTAMP_NTZ);
    cr_expect_str_eq(origin("log.level"), "test.toml:2");
    cr_expect_str_eq(origin("redis.claim_idle"), "test.toml:10");
}

Test(config, precedence_flag_over_env_over_file_over_default)
{
    const char *file = with_base("[flush]\nmax_rows = 111\n[limits]\nmemory = \"1GiB\"\n");
    /* File over default. */
    load_ok(file, CREDS, NULL);
    cr_expect_eq(cfg.flush.max_rows, 111);
    cr_expect_str_eq(origin("flush.max_rows"), "test.toml:11");
    config_free(&cfg);
    /* Environment over file. */
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "BUFFER_MAX_SIZE=222",
                          "LAKEWRITER_MEMORY_LIMIT=2GiB", "R2_BUCKET_NAME=env-bucket", NULL };
    load_ok(file, env, NULL);
    cr_expect_eq(cfg.flush.max_rows, 222);
    cr_expect_str_eq(origin("flush.max_rows"), "env BUFFER_MAX_SIZE");
    cr_expect_eq(cfg.limits.memory_bytes, 2ull << 30);
    cr_expect_str_eq(cfg.s3.bucket, "env-bucket");
    config_free(&cfg);
    /* Flags over the environment, both forms of names. */
    const char *flags[] = { "--flush-max-rows=333", "--memory-limit=3GiB", "--bucket=flag-bucket", NULL };
    load_ok(file, env, flags);
    cr_expect_eq(cfg.flush.max_rows, 333);
    cr_expect_str_eq(origin("flush.max_rows"), "flag --flush-max-rows");
    cr_expect_eq(cfg.limits.memory_bytes, 3ull << 30);
    cr_expect_str_eq(cfg.s3.bucket, "flag-bucket");
    cr_expect_str_eq(origin("s3.bucket"), "flag --bucket");
}

Test(config, every_flag_and_lakewriter_variable)
{
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "LAKEWRITER_LOG_LEVEL=warn",
                          "LAKEWRITER_LOG_FORMAT=text", "LAKEWRITER_CONSUMER=env-consumer", "LAKEWRITER_GROUP=env-group",
                          "LAKEWRITER_S3_PREFIX=env/prefix", "LAKEWRITER_SHUTDOWN_TIMEOUT=45s",
                          "LAKEWRITER_CA_FILE=/etc/ca.pem", "BUFFER_FLUSH_INTERVAL=30", NULL };
    load_ok(BASE, env, NULL);
    cr_expect_eq(cfg.log.level, LOG_WARN);
    cr_expect_eq(cfg.log.format, LOG_FORMAT_TEXT);
    cr_expect_str_eq(cfg.redis.consumer, "env-consumer");
    cr_expect_str_eq(cfg.redis.group, "env-group");
    cr_expect_str_eq(cfg.s3.prefix, "env/prefix");
    cr_expect_eq(cfg.limits.shutdown_timeout_ms, 45000);
    cr_expect_str_eq(cfg.s3.ca_file, "/etc/ca.pem");
    cr_expect_eq(cfg.flush.max_age_ms, 30000); /* BUFFER_FLUSH_INTERVAL is in seconds */
    config_free(&cfg);

    const char *flags[] = { "--log-level=error", "--log-format=json", "--redis-url=redis://r:1/2", "--group=fg",
                            "--consumer=fc", "--s3-endpoint=https://s3.example.com:8443", "--bucket=fbk",
                            "--region=eu-west-1", "--prefix=fp", "--ca-file=/ca", "--flush-max-rows=7",
                            "--flush-max-bytes=1MiB", "--flush-max-age=90s", "--memory-limit=128MiB",
                            "--shutdown-timeout=5s", NULL };
    load_ok(BASE, env, flags);
    cr_expect_eq(cfg.log.level, LOG_ERROR);
    cr_expect_eq(cfg.log.format, LOG_FORMAT_JSON);
    cr_expect_str_eq(cfg.redis.host, "r");
    cr_expect_eq(cfg.redis.port, 1);
    cr_expect_eq(cfg.redis.db, 2);
    cr_expect_str_eq(cfg.redis.group, "fg");
    cr_expect_str_eq(cfg.redis.consumer, "fc");
    cr_expect_str_eq(cfg.s3.endpoint, "https://s3.example.com:8443");
    cr_expect_eq(cfg.s3.port, 8443);
    cr_expect_str_eq(cfg.s3.bucket, "fbk");
    cr_expect_str_eq(cfg.s3.region, "eu-west-1");
    cr_expect_str_eq(cfg.s3.prefix, "fp");
    cr_expect_str_eq(cfg.s3.ca_file, "/ca");
    cr_expect_eq(cfg.flush.max_rows, 7);
    cr_expect_eq(cfg.flush.max_bytes, 1u << 20);
    cr_expect_eq(cfg.flush.max_age_ms, 90000);
    cr_expect_eq(cfg.limits.memory_bytes, 128u << 20);
    cr_expect_eq(cfg.limits.shutdown_timeout_ms, 5000);
    cr_expect_str_eq(origin("s3.region"), "flag --region");
}

Test(config, empty_variables_count_as_unset)
{
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "R2_BUCKET_NAME=", "BUFFER_MAX_SIZE=",
                          NULL };
    load_ok(BASE, env, NULL);
    cr_expect_str_eq(cfg.s3.bucket, "lake");
    cr_expect_eq(cfg.flush.max_rows, 100000);
}

Test(config, secret_files)
{
    const char *env[] = { "AWS_ACCESS_KEY_ID_FILE=/run/secrets/key-id", "AWS_SECRET_ACCESS_KEY_FILE=/run/secrets/aws",
                          "REDIS_PASSWORD_FILE=/run/secrets/redis", "AWS_SESSION_TOKEN=tok-XYZ", NULL };
    load_ok(BASE, env, NULL);
    cr_expect_str_eq(cfg.s3.access_key_id, "AKIDFROMFILE");
    cr_expect_str_eq(config_secret_value(&cfg.s3.secret_access_key), "s3cr3t-FILE");
    cr_expect_str_eq(config_secret_value(&cfg.redis.password), "redis-pw-FILE");
    cr_expect_str_eq(config_secret_value(&cfg.s3.session_token), "tok-XYZ");
    cr_expect_str_eq(origin("s3.secret_access_key"), "env AWS_SECRET_ACCESS_KEY_FILE");
    cr_expect_str_eq(origin("redis.password"), "env REDIS_PASSWORD_FILE");
    config_free(&cfg);
    const char *crlf[] = { "AWS_ACCESS_KEY_ID=A", "R2_SECRET_ACCESS_KEY_FILE=/run/secrets/aws-crlf", NULL };
    load_ok(BASE, crlf, NULL);
    cr_expect_str_eq(config_secret_value(&cfg.s3.secret_access_key), "s3cr3t-FILE");
}

Test(config, secret_file_problems)
{
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=s3cr3t-AAAA",
                          "AWS_SECRET_ACCESS_KEY_FILE=/run/secrets/aws", "REDIS_PASSWORD_FILE=/missing",
                          "AWS_SESSION_TOKEN_FILE=/run/secrets/empty", NULL };
    cr_expect_not(load(BASE, env, NULL));
    expect_problem("env AWS_SECRET_ACCESS_KEY: s3.secret_access_key: AWS_SECRET_ACCESS_KEY_FILE is set too; use one "
                   "of them");
    expect_problem("env REDIS_PASSWORD_FILE: redis.password: cannot read '/missing': No such file or directory");
    expect_problem("env AWS_SESSION_TOKEN_FILE: s3.session_token: the file is empty");
    /* Both set counts once, and does not also say "not set". */
    cr_expect_not(has_problem("s3.secret_access_key: not set"));
}

Test(config, conflicting_names_for_one_setting)
{
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "R2_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=s3cr3t-AAAA",
                          "R2_SECRET_ACCESS_KEY=s3cr3t-BBBB", "R2_BUCKET_NAME=one", "R2_BUCKET=two",
                          "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", NULL };
    cr_expect_not(load(BASE, env, NULL));
    expect_problem("env AWS_SECRET_ACCESS_KEY: s3.secret_access_key: also set by R2_SECRET_ACCESS_KEY, to a different "
                   "value; keep one of them");
    expect_problem("env R2_BUCKET_NAME: s3.bucket: also set by R2_BUCKET, to a different value");
    /* The same value under two names is fine. */
    cr_expect_not(has_problem("R2_ACCESS_KEY_ID"));
    cr_expect_not(has_problem("AWS_DEFAULT_REGION"));
    cr_expect_eq(rep.errors, 2);
    cr_expect_not(has_problem("s3cr3t"));
}

Test(config, r2_account_id)
{
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "R2_ACCOUNT_ID=0123456789abcdef", NULL };
    const char *file = "[s3]\nbucket = \"lake\"\nregion = \"us-east-1\"\n[[streams]]\nname = \"s\"\n"
                       "[tables.t.columns]\na = \"int64\"\n";
    load_ok(file, env, NULL);
    cr_expect_str_eq(cfg.s3.endpoint, "https://0123456789abcdef.r2.cloudflarestorage.com");
    cr_expect_str_eq(cfg.s3.host, "0123456789abcdef.r2.cloudflarestorage.com");
    cr_expect_str_eq(cfg.s3.region, "auto");
    cr_expect_str_eq(origin("s3.region"), "env R2_ACCOUNT_ID");
    cr_expect_eq(cfg.s3.addressing, CONFIG_ADDRESSING_PATH);
    config_free(&cfg);
    /* An explicit region variable wins over the one R2_ACCOUNT_ID implies, without a conflict. */
    const char *env2[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "R2_ACCOUNT_ID=0123456789abcdef",
                           "AWS_REGION=us-east-1", NULL };
    load_ok(file, env2, NULL);
    cr_expect_str_eq(cfg.s3.region, "us-east-1");
    config_free(&cfg);
    /* The same endpoint twice is fine; a different one is a conflict naming both. */
    const char *same[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "R2_ACCOUNT_ID=abc",
                           "R2_ENDPOINT_URL=https://abc.r2.cloudflarestorage.com/", NULL };
    load_ok(file, same, NULL);
    config_free(&cfg);
    const char *differ[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "R2_ACCOUNT_ID=abc",
                             "R2_ENDPOINT_URL=https://other.r2.cloudflarestorage.com", NULL };
    cr_expect_not(load(file, differ, NULL));
    expect_problem("env R2_ENDPOINT_URL: s3.endpoint: also set by R2_ACCOUNT_ID, to a different value");
    config_free(&cfg);
    const char *bad[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "R2_ACCOUNT_ID=not/an/id", NULL };
    cr_expect_not(load(file, bad, NULL));
    expect_problem("env R2_ACCOUNT_ID: s3.endpoint: an account ID has only letters and digits");
}

Test(config, aws_endpoint_from_region_and_addressing)
{
    const char *file = "[s3]\nbucket = \"lake\"\nregion = \"eu-central-1\"\n[[streams]]\nname = \"s\"\n"
                       "[tables.t.columns]\na = \"int64\"\n";
    load_ok(file, CREDS, NULL);
    cr_expect_str_eq(cfg.s3.endpoint, "https://s3.eu-central-1.amazonaws.com");
    cr_expect_eq(cfg.s3.addressing, CONFIG_ADDRESSING_VIRTUAL);
    cr_expect_str_eq(origin("s3.endpoint"), "default (AWS, from s3.region)");
    config_free(&cfg);
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B",
                          "AWS_ENDPOINT_URL_S3=https://s3.us-west-2.amazonaws.com", NULL };
    cr_expect_not(load("[s3]\nbucket = \"lake\"\n[[streams]]\nname = \"s\"\n[tables.t.columns]\na = \"int64\"\n",
                       env, NULL));
    expect_problem("s3.region: 'auto' is for R2; AWS needs the bucket's region");
    config_free(&cfg);
    cr_expect_not(load("[s3]\nbucket = \"lake\"\n[[streams]]\nname = \"s\"\n[tables.t.columns]\na = \"int64\"\n",
                       CREDS, NULL));
    expect_problem("test.toml:1: s3.endpoint: not set; set it, --s3-endpoint, AWS_ENDPOINT_URL_S3");
}

Test(config, warnings_do_not_invalidate)
{
    const char *text = "[s3]\nendpoint = \"http://minio.internal:9000\"\nbucket = \"my.lake\"\n"
                       "region = \"us-east-1\"\naddressing = \"virtual\"\n[parquet]\ncompression = \"none\"\n"
                       "zstd_level = 9\n[[streams]]\nname = \"s\"\n[tables.t.columns]\na = \"int64\"\n";
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "LAKEWRITER_MEMORY_LIMT=1GiB", NULL };
    cr_expect(load(text, env, NULL));
    cr_expect_eq(rep.errors, 0);
    cr_expect_eq(rep.warnings, 3);
    expect_problem("test.toml:2: warning: s3.endpoint: plain http:// to minio.internal");
    expect_problem("test.toml:8: warning: parquet.zstd_level: ignored");
    expect_problem("env LAKEWRITER_MEMORY_LIMT: warning: unknown variable (did you mean LAKEWRITER_MEMORY_LIMIT?)");
    config_free(&cfg);
    const char *tls = "[s3]\nendpoint = \"https://s3.example.com\"\nbucket = \"my.lake\"\nregion = \"x\"\n"
                      "addressing = \"virtual\"\n[[streams]]\nname = \"s\"\n[tables.t.columns]\na = \"int64\"\n";
    cr_expect(load(tls, CREDS, NULL));
    expect_problem("test.toml:3: warning: s3.bucket: a bucket name with '.' fails TLS certificate checks");
}

Test(config, redis_urls)
{
    static const struct {
        const char *url, *host, *user, *normalized;
        unsigned port, db;
        bool tls;
    } ok[] = {
        { "redis://localhost", "localhost", "", "redis://localhost:6379/0", 6379, 0, false },
        { "redis://h:7000/", "h", "", "redis://h:7000/0", 7000, 0, false },
        { "rediss://u:p@h/15", "h", "u", "rediss://u@h:6379/15", 6379, 15, true },
        { "redis://:p%40ss@10.0.0.1:6380/1", "10.0.0.1", "", "redis://10.0.0.1:6380/1", 6380, 1, false },
        { "redis://[::1]:6390/2", "::1", "", "redis://[::1]:6390/2", 6390, 2, false },
        { "redis://us%3Aer:p/w@d@h", "h", "us:er", "redis://us:er@h:6379/0", 6379, 0, false },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *flags[] = { NULL, NULL };
        char flag[256];
        snprintf(flag, sizeof flag, "--redis-url=%s", ok[i].url);
        flags[0] = flag;
        bool valid = load(BASE, CREDS, flags);
        if (!valid) dump_report();
        cr_expect(valid, "%s", ok[i].url);
        cr_expect_str_eq(cfg.redis.host, ok[i].host, "%s", ok[i].url);
        cr_expect_str_eq(cfg.redis.user, ok[i].user, "%s", ok[i].url);
        cr_expect_str_eq(cfg.redis.url, ok[i].normalized);
        cr_expect_eq(cfg.redis.port, ok[i].port, "%s", ok[i].url);
        cr_expect_eq(cfg.redis.db, ok[i].db, "%s", ok[i].url);
        cr_expect_eq(cfg.redis.tls, ok[i].tls, "%s", ok[i].url);
        config_free(&cfg);
    }
    load_ok(with_base("[redis]\nurl = \"redis://:p%40ss@h\"\n"), CREDS, NULL);
    cr_expect_str_eq(config_secret_value(&cfg.redis.password), "p@ss");
    cr_expect_str_eq(origin("redis.password"), "test.toml:11");
    config_free(&cfg);

    static const struct {
        const char *url, *want;
    } bad[] = {
        { "http://h", "unsupported scheme 'http': use redis:// or rediss://" },
        { "unix:///tmp/redis.sock", "unsupported scheme 'unix'" },
        { "localhost:6379", "must start with redis:// or rediss://" },
        { "redis://", "the host is empty" },
        { "redis://h:0", "the port must be a number 1..65535" },
        { "redis://h:65536", "the port must be a number 1..65535" },
        { "redis://h:x", "the port must be a number" },
        { "redis://h/abc", "the database must be a number" },
        { "redis://h/99999999", "the database must be a number" },
        { "redis://h/0?timeout=1", "query parameters are not supported" },
        { "redis://[::1", "an IPv6 address needs a closing ']'" },
        { "redis://h!st", "the host name has a character" },
        { "redis://:%zz@h", "the password in the URL is not valid" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s[redis]\nurl = \"%s\"\n", BASE, bad[i].url);
        cr_expect_not(load(text, CREDS, NULL), "%s", bad[i].url);
        char want[256];
        snprintf(want, sizeof want, "test.toml:11: redis.url: %s", bad[i].want);
        expect_problem(want);
        config_free(&cfg);
    }
}

Test(config, s3_endpoints)
{
    static const struct {
        const char *url, *want;
    } bad[] = {
        { "ftp://h", "must start with https://" },
        { "https://key:secret@h", "must not contain credentials" },
        { "https://h/bucket", "must not have a path or query" },
        { "https://h?x=1", "must not have a path or query" },
        { "https://:443", "the host is empty" },
        { "https://h:99999", "the port must be a number 1..65535" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char flag[256];
        snprintf(flag, sizeof flag, "--s3-endpoint=%s", bad[i].url);
        const char *flags[] = { flag, NULL };
        cr_expect_not(load(BASE, CREDS, flags), "%s", bad[i].url);
        char want[256];
        snprintf(want, sizeof want, "flag --s3-endpoint: %s", bad[i].want);
        expect_problem(want);
        /* The refused flag leaves the file's value, and no "not set" on top. */
        cr_expect_str_eq(cfg.s3.endpoint, "http://127.0.0.1:9000");
        cr_expect_eq(rep.errors, 1, "%s", bad[i].url);
        cr_expect_not(has_problem("secret"), "%s", bad[i].url);
        config_free(&cfg);
    }
    const char *flags[] = { "--s3-endpoint=http://[::1]:9000", NULL };
    load_ok(BASE, CREDS, flags);
    cr_expect_str_eq(cfg.s3.host, "::1");
    cr_expect_str_eq(cfg.s3.endpoint, "http://[::1]:9000");
    cr_expect_eq(cfg.s3.port, 9000);
}

Test(config, redis_password_precedence)
{
    /* REDIS_PASSWORD (environment) beats a password in the file's URL. */
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "REDIS_PASSWORD=pw-ENV", NULL };
    load_ok(with_base("[redis]\nurl = \"redis://:pw-FILE@h\"\n"), env, NULL);
    cr_expect_str_eq(config_secret_value(&cfg.redis.password), "pw-ENV");
    cr_expect_str_eq(origin("redis.password"), "env REDIS_PASSWORD");
    config_free(&cfg);
    /* At the same level (REDIS_URL and REDIS_PASSWORD), two different passwords conflict. */
    const char *both[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "REDIS_PASSWORD=pw-ENV",
                           "REDIS_URL=redis://:pw-URL@h", NULL };
    cr_expect_not(load(BASE, both, NULL));
    expect_problem("env REDIS_PASSWORD: redis.password: differs from the password inside REDIS_URL");
    config_free(&cfg);
    /* A URL password given as a flag wins, with a warning about the process list. */
    const char *flags[] = { "--redis-url=redis://:pw-FLAG@h", NULL };
    cr_expect(load(BASE, env, flags));
    cr_expect_str_eq(config_secret_value(&cfg.redis.password), "pw-FLAG");
    expect_problem("flag --redis-url: warning: the URL holds a password");
    config_free(&cfg);
    /* A later URL without a password drops the earlier URL's password. */
    const char *no_pw[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B", "REDIS_URL=redis://h2", NULL };
    load_ok(with_base("[redis]\nurl = \"redis://:pw-FILE@h\"\n"), no_pw, NULL);
    cr_expect_not(config_secret_is_set(&cfg.redis.password));
    cr_expect_str_eq(config_secret_value(&cfg.redis.password), "");
}

/* Every secret the test uses, in any form, must be absent from every report line
 * and from the dump. */
Test(config, secrets_never_appear)
{
    const char *secrets[] = { "s3cr3t-AAAA", "s3cr3t-FILE", "redis-pw-FILE", "tok-XYZ", "pw-ENV", "pw-URL", "pw-BAD",
                              "pw-FLAG", "pw-FILE" };
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=s3cr3t-AAAA",
                          "R2_SECRET_ACCESS_KEY_FILE=/run/secrets/aws", "REDIS_PASSWORD_FILE=/run/secrets/redis",
                          "REDIS_PASSWORD=pw-ENV", "AWS_SESSION_TOKEN=tok-XYZ\x01",
                          "REDIS_URL=redis://:pw-URL@h:bad", NULL };
    const char *flags[] = { "--redis-url=redis://u:pw-FLAG@/x", NULL };
    const char *text = "[redis]\nurl = \"redis://:pw-FILE@h/zz\"\npassword = \"pw-BAD\"\n"
                       "[s3]\nsecret_access_key = \"s3cr3t-FILE\"\nendpoint = \"https://u:pw-BAD@h\"\n";
    cr_expect_not(load(text, env, flags));
    cr_expect_geq(rep.errors, 6);
    for (size_t i = 0; i < rep.count; i++)
        for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++)
            cr_expect(strstr(rep.items[i].text, secrets[k]) == NULL, "'%s' leaks in: %s", secrets[k], rep.items[i].text);
    expect_problem("test.toml:3: redis.password: secrets are not read from the config file; set REDIS_PASSWORD or "
                   "REDIS_PASSWORD_FILE");
    expect_problem("test.toml:5: s3.secret_access_key: secrets are not read from the config file");
    expect_problem("env AWS_SESSION_TOKEN: s3.session_token: the value contains a control character");
    config_free(&cfg);

    /* A valid load with every secret set: the dump shows none of them. */
    const char *good[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=s3cr3t-AAAA", "REDIS_PASSWORD=pw-ENV",
                           "AWS_SESSION_TOKEN=tok-XYZ", NULL };
    load_ok(with_base("[redis]\nurl = \"redis://user:pw-ENV@h\"\n"), good, NULL);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    config_print(&cfg, f);
    fclose(f);
    for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++)
        cr_expect(strstr(out, secrets[k]) == NULL, "'%s' leaks in the dump", secrets[k]);
    cr_expect(strstr(out, "# password: set, hidden  # env REDIS_PASSWORD") != NULL, "%s", out);
    cr_expect(strstr(out, "# secret_access_key: set, hidden  # env AWS_SECRET_ACCESS_KEY") != NULL);
    cr_expect(strstr(out, "url = \"redis://user@h:6379/0\"") != NULL);
    free(out);
}

Test(config, every_problem_with_its_line)
{
    FILE *f = fopen("examples/broken.toml", "rb");
    cr_assert_not_null(f, "run from the repository root");
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cr_expect_not(load(text, CREDS, NULL));
    /* Each line marked MISTAKE in the file has a problem naming that line. */
    uint32_t line = 1;
    size_t mistakes = 0;
    for (const char *p = text; *p != '\0'; line++) {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        char row[512];
        snprintf(row, sizeof row, "%.*s", (int)len, p);
        if (strstr(row, "# MISTAKE") != NULL) {
            char where[64];
            snprintf(where, sizeof where, "test.toml:%u: ", line);
            cr_expect(has_problem(where), "no problem reported for line %u: %s", line, row);
            mistakes++;
        }
        p += len + (eol != NULL ? 1 : 0);
    }
    cr_expect_geq(mistakes, 6);
    cr_expect_eq(rep.errors, mistakes, "one problem per mistake");
    expect_problem("test.toml:5: redis.url: unsupported scheme 'http'");
    expect_problem("test.toml:17: flush.max_age: 60: a duration needs a unit, as \"60s\" or \"60ms\"");
    expect_problem("test.toml:20: parquet.compresion: unknown key (did you mean compression?)");
    expect_problem("test.toml:25: streams[0].table: table 'order' is not defined (did you mean orders?)");
    expect_problem("test.toml:33: tables.orders.columns.subtotal: 'decimal(40,2) not null': precision must be 1..38");
    /* Sorted by line. */
    for (size_t i = 1; i < rep.count; i++) cr_expect_geq(rep.items[i].line, rep.items[i - 1].line);
}

Test(config, syntax_errors_and_semantic_problems_together)
{
    const char *text = "[flush]\nmax_rows = 1.5\nmax_age = \"1x\"\n[s3]\nbucket = lake\n";
    cr_expect_not(load(text, CREDS, NULL));
    expect_problem("test.toml:2: flush.max_rows: '1.5': floats are not supported");
    expect_problem("test.toml:3: flush.max_age: '1x': unknown unit");
    expect_problem("test.toml:5: s3.bucket: unquoted text 'lake': strings must be quoted (\"lake\") (column 10)");
    /* A key with a syntax error is not also reported as missing. */
    cr_expect_not(has_problem("s3.bucket: not set"));
    expect_problem("streams: no streams");
    expect_problem("tables: no tables");
}

Test(config, file_shape_problems)
{
    const char *text = "bucket = \"x\"\n"                     /* 1 */
                       "[redsi]\n"                          /* 2 */
                       "[s3]\n"                             /* 3 */
                       "bukcet = \"x\"\n"                   /* 4 */
                       "max_rows = 5\n"                     /* 5 */
                       "part_size = 5\n"                    /* 6 */
                       "part_size2 = \"64MiB\"\n"           /* 7 */
                       "uploads_in_flight = \"4\"\n"        /* 8 */
                       "region = 5\n"                       /* 9 */
                       "[flush]\n"                          /* 10 */
                       "max_rows = -1\n"                    /* 11 */
                       "max_bytes = true\n"                 /* 12 */
                       "[log]\n"                            /* 13 */
                       "level = \"loud\"\n"                 /* 14 */
                       "[streams]\n"                        /* 15 */
                       "name = \"s\"\n"                     /* 16 */
                       "[tables]\n"                         /* 17 */
                       "orders = \"x\"\n";                  /* 18 */
    cr_expect_not(load(text, CREDS, NULL));
    expect_problem("test.toml:1: bucket: unknown top-level key; 'bucket' belongs in [s3]");
    expect_problem("test.toml:2: redsi: unknown table (did you mean redis?)");
    expect_problem("test.toml:4: s3.bukcet: unknown key (did you mean bucket?)");
    expect_problem("test.toml:5: s3.max_rows: unknown key; 'max_rows' belongs in [flush]");
    expect_problem("test.toml:6: s3.part_size: 5B is below the minimum 5MiB");
    expect_problem("test.toml:7: s3.part_size2: unknown key (did you mean part_size?)");
    expect_problem("test.toml:8: s3.uploads_in_flight: expected an integer, found a string");
    expect_problem("test.toml:9: s3.region: expected a string, found integer");
    expect_problem("test.toml:11: flush.max_rows: -1 is negative: it must be 1..100000000");
    expect_problem("test.toml:12: flush.max_bytes: expected a size such as \"64MiB\", found boolean");
    expect_problem("test.toml:14: log.level: 'loud' is not one of debug | info | warn | error");
    expect_problem("test.toml:15: streams: write each stream as [[streams]]");
    expect_problem("test.toml:18: tables.orders: expected a table");
}

Test(config, streams_and_tables_problems)
{
    const char *text = "[s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"lake\"\nregion = \"r\"\n" /* 1-4 */
                       "[[streams]]\n"                          /* 5 */
                       "name = \"a\"\n"                         /* 6 */
                       "dead_letter = \"b\"\n"                  /* 7 */
                       "formt = \"json\"\n"                     /* 8 */
                       "[[streams]]\n"                          /* 9 */
                       "name = \"b\"\n"                         /* 10 */
                       "format = \"xml\"\n"                     /* 11 */
                       "[[streams]]\n"                          /* 12 */
                       "name = \"a\"\n"                         /* 13 */
                       "entity_field = \"\"\n"                  /* 14 */
                       "[[streams]]\n"                          /* 15 */
                       "table = \"t\"\n"                        /* 16 */
                       "[tables.t]\n"                           /* 17 */
                       "epoch_unit = \"sec\"\n"                 /* 18 */
                       "source = \"1bad\"\n"                    /* 19 */
                       "metadata = [\"_strem\", 5]\n"           /* 20 */
                       "order_id = \"uuid\"\n"                  /* 21 */
                       "max_rows = 0\n"                         /* 22 */
                       "max_age = \"1h\"\n"                     /* 23 */
                       "partiton_time = \"x\"\n"                /* 24 */
                       "[tables.t.columns]\n"                   /* 25 */
                       "x = 5\n"                                /* 26 */
                       "[tables.empty.columns]\n"               /* 27 */
                       "[tables.nocols]\n"                      /* 28 */
                       "[tables.\"bad/name\".columns]\n"        /* 29 */
                       "a = \"int64\"\n";
    cr_expect_not(load(text, CREDS, NULL));
    expect_problem("test.toml:5: streams[0]: dead_letter 'b' is a stream that is read");
    expect_problem("test.toml:8: streams[0].formt: unknown key (did you mean format?)");
    expect_problem("test.toml:11: streams[1].format: 'xml' is not one of json | flat");
    expect_problem("test.toml:12: streams[2]: stream 'a' is listed twice (first on line 5)");
    expect_problem("test.toml:14: streams[2].entity_field: must not be empty");
    expect_problem("test.toml:15: streams[3]: missing key 'name'");
    expect_problem("test.toml:18: tables.t.epoch_unit: 'sec' is not one of s | ms | us | ns");
    expect_problem("test.toml:19: tables.t.source: '1bad' is not a PostgreSQL table name");
    expect_problem("test.toml:20: tables.t.metadata[0]: unknown metadata column '_strem' (did you mean _stream?)");
    expect_problem("test.toml:20: tables.t.metadata[1]: expected a string");
    expect_problem("test.toml:21: tables.t.order_id: unknown key; columns are declared under [tables.t.columns]");
    expect_problem("test.toml:22: tables.t.max_rows: 0 is out of range: it must be 1..100000000");
    expect_problem("test.toml:24: tables.t.partiton_time: unknown key (did you mean partition_time?)");
    expect_problem("test.toml:26: tables.t.columns.x: expected a type string such as \"int64 not null\", found integer");
    expect_problem("test.toml:27: tables.empty.columns: no columns");
    expect_problem("test.toml:28: tables.nocols: no columns: add a [tables.nocols.columns] table");
    expect_problem("tables.\"bad/name\": table name 'bad/name': only A-Z a-z 0-9 _ - . are allowed");
    /* claim_idle (5m) is less than twice the 1h max_age override. */
    expect_problem("redis.claim_idle: 5m is less than twice the longest flush.max_age (1h)");
}

Test(config, cross_checks)
{
    /* Memory must hold a batch plus the upload buffers. */
    const char *flags[] = { "--memory-limit=64MiB", NULL };
    cr_expect_not(load(BASE, CREDS, flags));
    expect_problem("flag --memory-limit: 64MiB cannot hold a full batch (flush.max_bytes = 64MiB) plus the upload "
                   "buffers (s3.part_size x s3.uploads_in_flight = 64MiB); raise it to at least 128MiB");
    config_free(&cfg);
    cr_expect_not(load(with_base("[tables.big]\nmax_bytes = \"1GiB\"\n[tables.big.columns]\na = \"int64\"\n"), CREDS,
                       NULL));
    expect_problem("tables.big.max_bytes = 1GiB");
    config_free(&cfg);
    /* Pages within row groups. */
    cr_expect_not(load(with_base("[parquet]\nrow_group_rows = 100\npage_rows = 1000\n"), CREDS, NULL));
    expect_problem("test.toml:12: parquet.page_rows: 1000 is more than parquet.row_group_rows (100)");
    config_free(&cfg);
    /* Several streams need {stream} in the key (the default template has it). */
    load_ok(with_base("[[streams]]\nname = \"other\"\n"), CREDS, NULL);
    config_free(&cfg);
    const char *tmpl = "[s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"lake\"\nregion = \"r\"\n"
                       "key_template = \"{table}/{first_id}.parquet\"\n"
                       "[[streams]]\nname = \"a\"\n[[streams]]\nname = \"b\"\n[tables.t.columns]\nx = \"int64\"\n";
    cr_expect_not(load(tmpl, CREDS, NULL));
    expect_problem("test.toml:5: s3.key_template: must contain {stream} when more than one stream is read");
    config_free(&cfg);
    /* A table inside a section is an unknown key of it. */
    cr_expect_not(load(with_base("[s3.more]\n"), CREDS, NULL));
    expect_problem("test.toml:10: s3.more: unknown key");
    config_free(&cfg);
    /* Key templates themselves. */
    const char *bad_tmpl[][2] = {
        { "{table}/{first}.parquet", "unknown placeholder {first}" },
        { "{table}/{first_id", "'{' without '}'" },
        { "{table}}/{first_id}", "'}' without '{'" },
        { "{stream}/{first_id}", "must contain {table} and {first_id}" },
        { "/{table}/{first_id}", "do not start with '/'" },
    };
    for (size_t i = 0; i < sizeof bad_tmpl / sizeof bad_tmpl[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "[s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"lake\"\nregion = \"r\"\n"
                 "key_template = \"%s\"\n[[streams]]\nname = \"a\"\n[tables.t.columns]\nx = \"int64\"\n", bad_tmpl[i][0]);
        cr_expect_not(load(text, CREDS, NULL), "%s", bad_tmpl[i][0]);
        expect_problem(bad_tmpl[i][1]);
        config_free(&cfg);
    }
}

Test(config, string_checks)
{
    static const struct {
        const char *flag, *want;
    } bad[] = {
        { "--bucket=ab", "bucket names have 3..63 characters" },
        { "--bucket=-abc", "starts and ends with a letter or digit" },
        { "--bucket=a..b", "'..' is not allowed" },
        { "--bucket=UPPER", "use only a-z, 0-9, '.' and '-'" },
        { "--region=us east", "only a-z, 0-9 and '-'" },
        { "--region=", "must not be empty" },
        { "--prefix=/abs", "no leading or trailing '/'" },
        { "--prefix=a//b", "empty path segment" },
        { "--prefix=a/../b", "'.' and '..' segments" },
        { "--prefix=a\\b", "'\\' is not allowed" },
        { "--consumer=a|b", "'|' is not allowed in a consumer name" },
        { "--group=", "must not be empty" },
        { "--log-format=xml", "'xml' is not one of json | text" },
        { "--flush-max-age=0", "0s is below the minimum 100ms" },
        { "--flush-max-rows=abc", "'abc' is not a non-negative integer" },
        { "--shutdown-timeout=2h", "2h is above the maximum 1h" },
        { "--flush-max-bytes=1KiB", "1KiB is below the minimum 64KiB" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *flags[] = { bad[i].flag, NULL };
        cr_expect_not(load(BASE, CREDS, flags), "%s", bad[i].flag);
        char want[256];
        snprintf(want, sizeof want, "flag %.*s: ", (int)(strchr(bad[i].flag, '=') - bad[i].flag), bad[i].flag);
        expect_problem(want);
        expect_problem(bad[i].want);
        config_free(&cfg);
    }
    /* "warning" is accepted as a log level, like log_parse_level does. */
    const char *flags[] = { "--log-level=warning", NULL };
    load_ok(BASE, CREDS, flags);
    cr_expect_eq(cfg.log.level, LOG_WARN);
}

Test(config, missing_everything)
{
    cr_expect_not(load(NULL, NULL, NULL));
    expect_problem("s3.endpoint: not set");
    expect_problem("s3.bucket: not set; set it, --bucket or R2_BUCKET_NAME");
    expect_problem("s3.access_key_id: not set; set AWS_ACCESS_KEY_ID");
    expect_problem("s3.secret_access_key: not set; set AWS_SECRET_ACCESS_KEY");
    expect_problem("streams: no streams");
    expect_problem("tables: no tables");
    cr_expect_eq(rep.errors, 6);
}

Test(config, consumer_needs_a_name)
{
    struct config_input in = { .file_name = "t.toml", .file_text = BASE, .file_len = strlen(BASE), .env = CREDS };
    cr_expect_not(config_load(&in, &cfg, &rep));
    expect_problem("redis.consumer: not set and the host name cannot be used");
}

Test(config, file_variables_need_a_reader)
{
    const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY_FILE=/x", NULL };
    struct config_input in = { .file_name = "t.toml", .file_text = BASE, .file_len = strlen(BASE), .env = env,
                               .hostname = "h" };
    cr_expect_not(config_load(&in, &cfg, &rep));
    expect_problem("env AWS_SECRET_ACCESS_KEY_FILE: s3.secret_access_key: *_FILE variables cannot be read here");
}

Test(config, config_file_path)
{
    struct config_origin o;
    const char *env[] = { "LAKEWRITER_CONFIG=/etc/lw.toml", NULL };
    struct config_flag_value flag = { "--config", "/flag.toml" };
    cr_expect_str_eq(config_file_path(NULL, NULL, 0, &o), "lakewriter.toml");
    cr_expect_eq(o.source, CONFIG_SOURCE_DEFAULT);
    cr_expect_str_eq(config_file_path(env, NULL, 0, &o), "/etc/lw.toml");
    cr_expect_eq(o.source, CONFIG_SOURCE_ENV);
    cr_expect_str_eq(config_file_path(env, &flag, 1, &o), "/flag.toml");
    cr_expect_eq(o.source, CONFIG_SOURCE_FLAG);
    const char *empty[] = { "LAKEWRITER_CONFIG=", NULL };
    cr_expect_str_eq(config_file_path(empty, NULL, 0, &o), "lakewriter.toml");
}

Test(config, limits_on_streams_and_problems)
{
    static char text[65536];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", BASE);
    for (int i = 0; i < CONFIG_STREAMS_MAX + 1; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "[[streams]]\nname = \"s%d\"\n", i);
    cr_expect_not(load(text, CREDS, NULL));
    expect_problem("more than 64 streams");
    config_free(&cfg);
    n = (size_t)snprintf(text, sizeof text, "%s[flush]\n", BASE);
    for (int i = 0; i < CONFIG_PROBLEMS_MAX + 20; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "k%d = 1\n", i);
    cr_expect_not(load(text, CREDS, NULL));
    cr_expect_eq(rep.count, CONFIG_PROBLEMS_MAX);
    cr_expect_eq(rep.errors, CONFIG_PROBLEMS_MAX + 20);
    config_report_add(&rep, CONFIG_SOURCE_NONE, 0, false, "one more");
    cr_expect_eq(rep.count, CONFIG_PROBLEMS_MAX);
}

Test(config, the_settings_table)
{
    size_t n = config_setting_count();
    cr_assert_gt(n, 20);
    bool saw_secret = false;
    for (size_t i = 0; i < n; i++) {
        struct config_setting_info s;
        config_setting_at(i, &s);
        cr_expect_not_null(s.key);
        cr_expect_not_null(s.help);
        if (s.flag != NULL) cr_expect_eq(config_setting_by_flag(s.flag), (int)i);
        if (s.secret) {
            saw_secret = true;
            cr_expect_null(s.flag, "%s: secrets have no flag", s.key);
            cr_expect_not(s.file, "%s: secrets are not in the file", s.key);
            cr_expect_not_null(s.env[1], "%s: a secret has a *_FILE variant", s.key);
        }
    }
    cr_expect(saw_secret);
    cr_expect_eq(config_setting_by_flag("--nope"), -1);
    cr_expect_not_null(config_env_note("R2_ACCOUNT_ID"));
    cr_expect_null(config_env_note("AWS_REGION"));
}

/* The example loads, and its dump loads again to the same settings. */
Test(config, example_and_dump_round_trip)
{
    FILE *f = fopen("examples/lakewriter.toml", "rb");
    cr_assert_not_null(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    load_ok(text, CREDS, NULL);
    cr_expect_eq(cfg.schema.table_count, 3);
    cr_expect_str_eq(cfg.schema.tables[0].name, "orders");
    cr_expect_eq(cfg.schema.tables[0].column_count, 15);
    cr_expect_str_eq(cfg.schema.tables[2].columns[8].name, "properties");
    cr_expect_eq(cfg.schema.tables[2].columns[8].type, SCHEMA_JSON);

    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    config_print(&cfg, m);
    fclose(m);
    struct config first;
    memcpy(&first, &cfg, sizeof first);
    cfg.schema.tables = NULL; /* now owned by `first` */
    cfg.schema.table_count = 0;
    load_ok(out, CREDS, NULL);
    cr_expect_str_eq(cfg.redis.url, first.redis.url);
    cr_expect_str_eq(cfg.s3.endpoint, first.s3.endpoint);
    cr_expect_str_eq(cfg.s3.key_template, first.s3.key_template);
    cr_expect_eq(cfg.flush.max_bytes, first.flush.max_bytes);
    cr_expect_eq(cfg.flush.max_age_ms, first.flush.max_age_ms);
    cr_expect_eq(cfg.schema.table_count, first.schema.table_count);
    for (size_t i = 0; i < cfg.schema.table_count; i++) {
        const struct schema_table *a = &cfg.schema.tables[i], *b = &first.schema.tables[i];
        cr_expect_str_eq(a->name, b->name);
        cr_expect_eq(a->column_count, b->column_count);
        cr_expect_eq(a->metadata, b->metadata);
        cr_expect_eq(a->max_rows, b->max_rows);
        for (size_t c = 0; c < a->column_count; c++) {
            cr_expect_str_eq(a->columns[c].name, b->columns[c].name);
            cr_expect_eq(a->columns[c].type, b->columns[c].type);
            cr_expect_eq(a->columns[c].required, b->columns[c].required);
            cr_expect_eq(a->columns[c].precision, b->columns[c].precision);
        }
    }
    config_free(&first);
    free(out);
}
