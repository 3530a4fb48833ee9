/* lakewriter: Redis Streams -> typed Parquet -> S3. The command line.
 *
 *   lakewriter [COMMAND] [FLAGS]     COMMAND: run (default) | check | version |
 *                                             backfill | convert | put
 *
 * Flags are `--name value` or `--name=value` and may stand before or after the
 * command; the global flags (--config and the settings flags of config.h) are valid
 * with every command. Exit status: what the command returns, 2 for usage errors.
 * This is the only file that calls exit paths, reads the process environment and
 * reads the config file from disk; the loader itself takes them as data. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "convert.h"
#include "log.h"
#include "put.h"
#include "run.h"
#include "toml.h"
#include "util.h"
#include "version.h"

enum { EXIT_INVALID = 1, EXIT_USAGE = 2, POSITIONAL_MAX = 16 };

struct cli;

struct command_flag {
    const char *name;
    const char *help;
    const char *arg;   /* what the flag takes ("FILE"); NULL for a boolean flag */
};

struct command {
    const char *name;
    const char *summary;
    const char *description;
    const struct command_flag *flags; /* flags of this command, NULL-terminated */
    bool built;
    int (*fn)(const struct cli *cli);
    size_t positionals;               /* arguments after the flags (put FILE KEY) */
    const char *positional_usage;     /* "FILE KEY" */
};

struct cli {
    const struct command *cmd;
    bool cmd_given;                                   /* named on the command line */
    char name_buf[CONFIG_FLAGS_MAX][64];              /* names of --name=value flags */
    struct config_flag_value flags[CONFIG_FLAGS_MAX]; /* global value flags, in order */
    size_t flag_count;
    const char *bools[CONFIG_FLAGS_MAX];              /* boolean flags given */
    size_t bool_count;
    struct config_flag_value opts[CONFIG_FLAGS_MAX];  /* value flags of the command (--table T) */
    size_t opt_count;
    const char *positional[POSITIONAL_MAX];
    size_t positional_count;
};

static int cmd_run(const struct cli *cli);
static int cmd_check(const struct cli *cli);
static int cmd_version(const struct cli *cli);
static int cmd_not_built(const struct cli *cli);
static int cmd_convert(const struct cli *cli);
static int cmd_put(const struct cli *cli);

static const struct command_flag check_flags[] = {
    { "--print", "also print the effective settings as TOML, each with its origin (secrets hidden)", NULL },
    { NULL, NULL, NULL },
};

static const struct command_flag convert_flags[] = {
    { "--table", "the table whose columns the lines hold (required)", "NAME" },
    { "--input", "the JSON lines to read, one data object per line; - for standard input (the default)", "FILE" },
    { "--output", "the Parquet file to write (required); written to FILE.tmp.<pid>, then renamed", "FILE" },
    { "--rejects", "write refused lines there as JSON lines (line, error, table, column, message, input)",
      "FILE" },
    { NULL, NULL, NULL },
};

static const struct command commands[] = {
    { "run", "read the configured streams and write Parquet objects to the bucket (the default)",
      "Loads and validates the configuration like `check` (and exits 1 listing the problems if it\n"
      "is not valid), applies the log settings and runs the writer on one io_uring loop until\n"
      "SIGTERM or SIGINT, then drains for at most limits.shutdown_timeout.\n"
      "Exit status: 0 after a graceful stop, 1 invalid configuration or start-up failure,\n"
      "2 usage error or io_uring unavailable, 130 stopped by a second signal.",
      NULL, true, cmd_run, 0, NULL },
    { "check", "validate the configuration and report every problem",
      "Loads the config file, the environment and the flags, validates everything and reports\n"
      "every problem, one per line, as FILE:LINE: key: what is wrong (env NAME: ... and\n"
      "flag --NAME: ... for the other sources), then a one-line summary. Secrets are never shown.\n"
      "Exit status: 0 valid (warnings allowed), 1 problems found, 2 usage error.",
      check_flags, true, cmd_check, 0, NULL },
    { "version", "print the version, the commit and the bundled libraries",
      "Prints the release version, the git commit and the versions of the bundled libraries.", NULL, true,
      cmd_version, 0, NULL },
    { "backfill", "copy PostgreSQL tables into the lake (not built yet)",
      "Will read the PostgreSQL tables named by tables.*.source into the same Parquet layout.\n"
      "This command is not built yet in this version: it exits with status 2.", NULL, false, cmd_not_built, 0, NULL },
    { "convert", "convert local JSON lines to a Parquet file with a configured table's schema",
      "Reads JSON lines, one data object (column -> value) per line, decodes each exactly as the\n"
      "writer decodes a stream entry's data field, and encodes the rows into one Parquet file with\n"
      "the [parquet] settings of the config. Only [tables] and [parquet] need to be valid: S3, Redis\n"
      "and stream settings are not used. _stream_id is \"0-<line number>\", _stream is null and\n"
      "_ingested_at is the time convert started. Refused lines are counted and written to --rejects\n"
      "(or the first ones to standard error). The rows are held in memory until the end of the input\n"
      "(limits.memory, --memory-limit). Value formats: docs/data-contract.md.\n"
      "Exit status: 0 every line converted, 1 some lines rejected (the file holds the others),\n"
      "2 usage, configuration or I/O error (no output file is left).",
      convert_flags, true, cmd_convert, 0, NULL },
    { "put", "upload a local file to the bucket: lakewriter put FILE KEY",
      "Uploads FILE to KEY in the configured bucket through the writer's own uploader: one\n"
      "PutObject up to s3.part_size, a multipart upload above it (all parts s3.part_size but the\n"
      "last, as R2 requires), signed with SigV4, every ETag checked, retried like the writer's\n"
      "uploads. KEY is used as given (s3.prefix is not added). Prints\n"
      "size=BYTES etag=ETAG parts=N key=KEY on success. The configuration must be valid.\n"
      "Exit status: 0 uploaded, 1 failed (the reason is printed), 2 usage error or io_uring\n"
      "unavailable, 130 stopped by a second signal.", NULL, true, cmd_put, 2, "FILE KEY" },
};
enum { COMMAND_COUNT = sizeof commands / sizeof commands[0] };

/* ---------------------------------------------------------------------------
 * Help */

static const char *setting_default(const struct config_setting_info *s, char *buf, size_t cap)
{
    if (s->secret || s->def == NULL) return "";
    if (s->def[0] == '\0') return "";
    snprintf(buf, cap, " (default: %s)", s->def);
    return buf;
}

static void print_global_flags(FILE *out)
{
    fprintf(out, "Global flags (valid with every command; precedence: flags > environment > config file > "
                 "defaults):\n");
    fprintf(out, "  %-28s %s (default: %s)\n", "--config FILE", "the config file; env LAKEWRITER_CONFIG",
            CONFIG_DEFAULT_PATH);
    for (size_t i = 0; i < config_setting_count(); i++) {
        struct config_setting_info s;
        config_setting_at(i, &s);
        if (s.flag == NULL) continue;
        char head[64], def[600];
        snprintf(head, sizeof head, "%s %s", s.flag, s.arg);
        fprintf(out, "  %-28s %s: %s%s\n", head, s.key, s.help, setting_default(&s, def, sizeof def));
    }
    fprintf(out, "  %-28s %s\n", "-h, --help", "show help (lakewriter COMMAND --help for a command)");
}

static void print_environment(FILE *out)
{
    fprintf(out, "Environment variables (an empty variable counts as unset; NAME_FILE reads the value from a "
                 "file):\n");
    fprintf(out, "  %-32s %s (default: %s)\n", "LAKEWRITER_CONFIG", "the config file", CONFIG_DEFAULT_PATH);
    const char *seen[96];
    size_t seen_count = 0;
    for (size_t i = 0; i < config_setting_count(); i++) {
        struct config_setting_info s;
        config_setting_at(i, &s);
        for (size_t k = 0; s.env[k] != NULL; k++) {
            const char *name = s.env[k];
            bool with_file = s.env[k + 1] != NULL && strncmp(s.env[k + 1], name, strlen(name)) == 0 &&
                             strcmp(s.env[k + 1] + strlen(name), "_FILE") == 0;
            bool dup = false;
            for (size_t j = 0; j < seen_count && !dup; j++) dup = strcmp(seen[j], name) == 0;
            if (with_file) k++;
            if (dup) continue;
            if (seen_count < 96) seen[seen_count++] = name;
            char head[64], def[600];
            snprintf(head, sizeof head, "%s%s", name, with_file ? "[_FILE]" : "");
            const char *note = config_env_note(name);
            if (note != NULL) fprintf(out, "  %-32s %s\n", head, note);
            else if (s.secret) fprintf(out, "  %-32s %s (secret, never printed)\n", head, s.key);
            else fprintf(out, "  %-32s %s%s\n", head, s.key, setting_default(&s, def, sizeof def));
        }
    }
}

static void print_main_help(FILE *out)
{
    fprintf(out, "lakewriter %s: Redis Streams -> typed Parquet -> S3 / R2 / MinIO\n\n", version_string());
    fprintf(out, "Usage: lakewriter [COMMAND] [FLAGS]\n\nCommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputc('\n', out);
    print_global_flags(out);
    fputc('\n', out);
    print_environment(out);
    fprintf(out, "\nSecrets (S3 secret key, session token, Redis password) come only from the environment or\n"
                 "from the files *_FILE variables name, and are never printed. Tables, columns and streams\n"
                 "live in the config file. Reference: docs/configuration.md\n");
}

static void print_command_help(FILE *out, const struct command *c)
{
    fprintf(out, "Usage: lakewriter %s", c->name);
    for (const struct command_flag *f = c->flags; f != NULL && f->name != NULL; f++) {
        if (f->arg != NULL) fprintf(out, " [%s %s]", f->name, f->arg);
        else fprintf(out, " [%s]", f->name);
    }
    fprintf(out, " [GLOBAL FLAGS]%s%s\n\n%s: %s\n\n%s\n\n", c->positional_usage != NULL ? " " : "",
            c->positional_usage != NULL ? c->positional_usage : "", c->name, c->summary, c->description);
    if (c->flags != NULL) {
        fprintf(out, "Flags:\n");
        for (const struct command_flag *f = c->flags; f->name != NULL; f++) {
            char head[64];
            snprintf(head, sizeof head, "%s%s%s", f->name, f->arg != NULL ? " " : "", f->arg != NULL ? f->arg : "");
            fprintf(out, "  %-28s %s\n", head, f->help);
        }
        fputc('\n', out);
    }
    print_global_flags(out);
    fprintf(out, "\nEnvironment variables: see lakewriter --help.\n");
}

/* ---------------------------------------------------------------------------
 * Parsing the command line */

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* The flag `name` of some command, or NULL. */
static const struct command_flag *command_flag_named(const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        for (const struct command_flag *f = commands[i].flags; f != NULL && f->name != NULL; f++)
            if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

/* Boolean flags any command may carry. */
static bool is_bool_flag(const char *name)
{
    if (strcmp(name, "--help") == 0 || strcmp(name, "--version") == 0) return true;
    const struct command_flag *f = command_flag_named(name);
    return f != NULL && f->arg == NULL;
}

/* A value flag of a command (not a setting): --table NAME. */
static bool is_command_value_flag(const char *name)
{
    const struct command_flag *f = command_flag_named(name);
    return f != NULL && f->arg != NULL;
}

static bool is_value_flag(const char *name)
{
    return strcmp(name, "--config") == 0 || config_setting_by_flag(name) >= 0 || is_command_value_flag(name);
}

static bool command_has_flag(const struct command *c, const char *name)
{
    if (strcmp(name, "--help") == 0 || (is_value_flag(name) && !is_command_value_flag(name))) return true;
    if (strcmp(name, "--version") == 0) return strcmp(c->name, "version") == 0;
    for (const struct command_flag *f = c->flags; f != NULL && f->name != NULL; f++)
        if (strcmp(f->name, name) == 0) return true;
    return false;
}

/* A usage error: says what and where to look, returns EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) static int usage_error(const struct command *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c != NULL) {
        fprintf(stderr, "lakewriter %s: %s\n", c->name, msg);
        fprintf(stderr, "Run 'lakewriter %s --help' for its flags.\n", c->name);
    } else {
        fprintf(stderr, "lakewriter: %s\n", msg);
        fprintf(stderr, "Run 'lakewriter --help' for the commands and flags.\n");
    }
    return EXIT_USAGE;
}

/* Every flag name any command knows, for "did you mean". */
static size_t known_flags(const char **out, size_t cap)
{
    size_t n = 0;
    out[n++] = "--config";
    out[n++] = "--help";
    out[n++] = "--version";
    for (size_t i = 0; i < config_setting_count() && n < cap; i++) {
        struct config_setting_info s;
        config_setting_at(i, &s);
        if (s.flag != NULL) out[n++] = s.flag;
    }
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        for (const struct command_flag *f = commands[i].flags; f != NULL && f->name != NULL && n < cap; f++)
            out[n++] = f->name;
    return n;
}

static int unknown_flag(const struct command *c, const char *name)
{
    const char *known[CONFIG_SETTINGS_MAX + 16];
    size_t n = known_flags(known, sizeof known / sizeof known[0]);
    const char *guess = strlen(name) < 64 ? util_suggest(name, known, n) : NULL;
    if (guess != NULL && !command_has_flag(c, guess)) guess = NULL;
    if (guess != NULL) return usage_error(c, "unknown flag '%.64s' (did you mean %s?)", name, guess);
    if (is_bool_flag(name) || is_command_value_flag(name))
        return usage_error(c, "flag %s does not apply to this command", name);
    return usage_error(c, "unknown flag '%.64s'", name);
}

static bool seen_flag(const struct cli *cli, const char *name)
{
    for (size_t i = 0; i < cli->flag_count; i++)
        if (strcmp(cli->flags[i].name, name) == 0) return true;
    for (size_t i = 0; i < cli->opt_count; i++)
        if (strcmp(cli->opts[i].name, name) == 0) return true;
    for (size_t i = 0; i < cli->bool_count; i++)
        if (strcmp(cli->bools[i], name) == 0) return true;
    return false;
}

static bool has_bool(const struct cli *cli, const char *name)
{
    for (size_t i = 0; i < cli->bool_count; i++)
        if (strcmp(cli->bools[i], name) == 0) return true;
    return false;
}

/* One flag at argv[*i]; returns 0 or a usage status. Unknown flags are kept in
 * *unknown to be reported once the command is known. */
static int parse_flag(struct cli *cli, int argc, char **argv, int *i, const char **unknown)
{
    char *arg = argv[*i];
    const char *name = arg;
    const char *value = NULL;
    if (strcmp(arg, "-h") == 0) name = "--help";
    char *eq = strchr(arg, '=');
    if (eq != NULL && strncmp(arg, "--", 2) == 0) {
        size_t n = (size_t)(eq - arg);
        size_t used = cli->flag_count + cli->bool_count + cli->opt_count;
        if (n >= sizeof cli->name_buf[0] || used >= CONFIG_FLAGS_MAX)
            return usage_error(cli->cmd, "flag '%.64s' is not valid", arg);
        char *slot = cli->name_buf[used];
        memcpy(slot, arg, n);
        slot[n] = '\0';
        name = slot;
        value = eq + 1;
    }
    if (is_bool_flag(name)) {
        if (value != NULL) return usage_error(cli->cmd, "flag %s takes no value", name);
    } else if (is_value_flag(name)) {
        if (value == NULL) {
            if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)
                return usage_error(cli->cmd, "flag %s needs a value (%s VALUE or %s=VALUE)", name, name, name);
            value = argv[++*i];
        }
    } else {
        if (*unknown == NULL) *unknown = name;
        return 0;
    }
    if (seen_flag(cli, name)) return usage_error(cli->cmd, "flag %s is given twice", name);
    if (cli->flag_count + cli->bool_count + cli->opt_count >= CONFIG_FLAGS_MAX)
        return usage_error(cli->cmd, "too many flags");
    if (is_command_value_flag(name)) cli->opts[cli->opt_count++] = (struct config_flag_value){ .name = name, .value = value };
    else if (value != NULL) cli->flags[cli->flag_count++] = (struct config_flag_value){ .name = name, .value = value };
    else cli->bools[cli->bool_count++] = name;
    return 0;
}

static int parse_cli(int argc, char **argv, struct cli *cli)
{
    const char *unknown = NULL;
    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (!flags_done && a[0] == '-' && a[1] != '\0') {
            int rc = parse_flag(cli, argc, argv, &i, &unknown);
            if (rc != 0) return rc;
            continue;
        }
        if (cli->cmd == NULL && cli->positional_count == 0) {
            cli->cmd = find_command(a);
            cli->cmd_given = cli->cmd != NULL;
            if (cli->cmd != NULL) continue;
            const char *names[COMMAND_COUNT];
            for (size_t k = 0; k < COMMAND_COUNT; k++) names[k] = commands[k].name;
            const char *guess = util_suggest(a, names, COMMAND_COUNT);
            if (guess != NULL) return usage_error(NULL, "unknown command '%.64s' (did you mean %s?)", a, guess);
            return usage_error(NULL, "unknown command '%.64s'", a);
        }
        if (cli->positional_count == POSITIONAL_MAX) return usage_error(cli->cmd, "too many arguments");
        cli->positional[cli->positional_count++] = a;
    }
    if (cli->cmd == NULL) cli->cmd = has_bool(cli, "--version") ? find_command("version") : &commands[0];
    if (unknown != NULL) return unknown_flag(cli->cmd, unknown);
    for (size_t i = 0; i < cli->bool_count; i++)
        if (!command_has_flag(cli->cmd, cli->bools[i])) return unknown_flag(cli->cmd, cli->bools[i]);
    for (size_t i = 0; i < cli->opt_count; i++)
        if (!command_has_flag(cli->cmd, cli->opts[i].name)) return unknown_flag(cli->cmd, cli->opts[i].name);
    if (cli->positional_count > cli->cmd->positionals && cli->cmd->built && !has_bool(cli, "--help"))
        return usage_error(cli->cmd, "unexpected argument '%.64s'", cli->positional[cli->cmd->positionals]);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Loading the configuration */

/* Reads a whole file of at most `cap` bytes into buf; false with `e` set. */
static bool read_file(void *ctx, const char *path, char *buf, size_t cap, size_t *len, struct lw_err *e)
{
    (void)ctx;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lw_err_set(e, 1, "cannot read '%s': %s", path, strerror(errno));
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            char probe;
            ssize_t r = read(fd, &probe, 1);
            close(fd);
            if (r > 0) return lw_err_set(e, 1, "'%s' is larger than %zu bytes", path, cap);
            break;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            close(fd);
            return lw_err_set(e, 1, "cannot read '%s': %s", path, strerror(err));
        }
        if (r == 0) {
            close(fd);
            break;
        }
        n += (size_t)r;
    }
    *len = n;
    return true;
}

/* Loads file + environment + flags into cfg and report; also checks that the CA
 * file can be read. Returns whether the configuration is valid. */
static bool load(const struct cli *cli, struct config *cfg, struct config_report *rep)
{
    struct config_origin path_origin;
    const char *const *env = (const char *const *)environ;
    const char *path = config_file_path(env, cli->flags, cli->flag_count, &path_origin);
    char *text = malloc(TOML_FILE_MAX + 1);
    size_t len = 0;
    struct lw_err e = { 0 };
    if (text == NULL || !read_file(NULL, path, text, TOML_FILE_MAX, &len, &e)) {
        memset(cfg, 0, sizeof *cfg);
        memset(rep, 0, sizeof *rep);
        const char *hint = path_origin.source == CONFIG_SOURCE_DEFAULT
                               ? " (pass --config FILE or set LAKEWRITER_CONFIG)" : "";
        config_report_add(rep, CONFIG_SOURCE_FILE, 0, false, "%s: %s%s", path,
                          text == NULL ? "out of memory" : e.msg, hint);
        free(text);
        return false;
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    struct config_input in = {
        .file_name = path, .file_text = text, .file_len = len, .env = env,
        .flags = cli->flags, .flag_count = cli->flag_count, .hostname = host,
        .read_file = read_file,
    };
    bool ok = config_load(&in, cfg, rep);
    free(text);
    if (cfg->s3.ca_file[0] != '\0' && access(cfg->s3.ca_file, R_OK) != 0) {
        char where[CONFIG_PATH_MAX + 32];
        config_origin_text(cfg, config_origin_of(cfg, "s3.ca_file"), where, sizeof where);
        config_report_add(rep, CONFIG_SOURCE_NONE, 0, false, "s3.ca_file: cannot read '%s' (from %s): %s",
                          cfg->s3.ca_file, where, strerror(errno));
        ok = false;
    }
    return ok;
}

static void summary(FILE *out, const struct config *cfg, const struct config_report *rep, const char *path)
{
    size_t shown = rep->count, total = rep->errors + rep->warnings;
    if (total > shown) fprintf(out, "... and %zu more problems not shown\n", total - shown);
    if (rep->errors == 0) {
        fprintf(out, "%s: OK: %zu table%s, %zu stream%s", path, cfg->schema.table_count,
                cfg->schema.table_count == 1 ? "" : "s", cfg->stream_count, cfg->stream_count == 1 ? "" : "s");
        if (rep->warnings > 0) fprintf(out, ", %zu warning%s", rep->warnings, rep->warnings == 1 ? "" : "s");
        fputc('\n', out);
    } else {
        fprintf(out, "%s: %zu error%s", path, rep->errors, rep->errors == 1 ? "" : "s");
        if (rep->warnings > 0) fprintf(out, ", %zu warning%s", rep->warnings, rep->warnings == 1 ? "" : "s");
        fprintf(out, ": the configuration is not valid\n");
    }
}

/* ---------------------------------------------------------------------------
 * Commands */

static int cmd_check(const struct cli *cli)
{
    struct config *cfg = calloc(1, sizeof *cfg);
    struct config_report *rep = calloc(1, sizeof *rep);
    if (cfg == NULL || rep == NULL) {
        fprintf(stderr, "lakewriter check: out of memory\n");
        free(cfg);
        free(rep);
        return EXIT_INVALID;
    }
    bool ok = load(cli, cfg, rep);
    if (has_bool(cli, "--print") && cfg->file[0] != '\0') {
        config_print(cfg, stdout);
        fputc('\n', stdout);
    }
    for (size_t i = 0; i < rep->count; i++) printf("%s\n", rep->items[i].text);
    struct config_origin o;
    summary(stdout, cfg, rep, config_file_path((const char *const *)environ, cli->flags, cli->flag_count, &o));
    config_free(cfg);
    free(cfg);
    free(rep);
    return ok ? 0 : EXIT_INVALID;
}

static int cmd_run(const struct cli *cli)
{
    struct config *cfg = calloc(1, sizeof *cfg);
    struct config_report *rep = calloc(1, sizeof *rep);
    if (cfg == NULL || rep == NULL) {
        fprintf(stderr, "lakewriter run: out of memory\n");
        free(cfg);
        free(rep);
        return EXIT_INVALID;
    }
    bool ok = load(cli, cfg, rep);
    /* The log settings apply even when something else is wrong (they fall back to
     * JSON at info when they themselves are the problem). */
    log_configure(cfg->log.format, cfg->log.level, 2);
    for (size_t i = 0; i < rep->count; i++) {
        if (rep->items[i].warning) log_warn("configuration warning", LOG_STR("problem", rep->items[i].text));
        else log_error("invalid configuration", LOG_STR("problem", rep->items[i].text));
    }
    int rc;
    if (!ok) {
        log_error("not starting: the configuration is not valid", LOG_UINT("errors", rep->errors),
                  LOG_STR("hint", "lakewriter check lists every problem"));
        rc = EXIT_INVALID;
    } else {
        log_info("configuration loaded", LOG_STR("file", cfg->file), LOG_UINT("tables", cfg->schema.table_count),
                 LOG_UINT("streams", cfg->stream_count), LOG_STR("consumer", cfg->redis.consumer),
                 LOG_STR("bucket", cfg->s3.bucket));
        struct run_options opt = { .shutdown_timeout_ms = (uint32_t)cfg->limits.shutdown_timeout_ms };
        rc = run_main(&opt);
    }
    config_free(cfg);
    free(cfg);
    free(rep);
    return rc;
}

static int cmd_version(const struct cli *cli)
{
    (void)cli;
    version_print(stdout);
    return 0;
}

static const char *opt_value(const struct cli *cli, const char *name)
{
    for (size_t i = 0; i < cli->opt_count; i++)
        if (strcmp(cli->opts[i].name, name) == 0) return cli->opts[i].value;
    return NULL;
}

static int cmd_convert(const struct cli *cli)
{
    struct convert_opts o = {
        .table = opt_value(cli, "--table"), .input = opt_value(cli, "--input"),
        .output = opt_value(cli, "--output"), .rejects = opt_value(cli, "--rejects"), .log = stderr,
    };
    if (o.table == NULL) return usage_error(cli->cmd, "--table NAME is required (the table the lines belong to)");
    if (o.output == NULL) return usage_error(cli->cmd, "--output FILE is required (the Parquet file to write)");
    struct config *cfg = calloc(1, sizeof *cfg);
    struct config_report *rep = calloc(1, sizeof *rep);
    int rc = EXIT_USAGE;
    if (cfg == NULL || rep == NULL) {
        fprintf(stderr, "lakewriter convert: out of memory\n");
    } else {
        load(cli, cfg, rep);
        if (convert_config_usable(cfg, rep, stderr)) rc = convert_run(cfg, &o, NULL);
        config_free(cfg);
    }
    free(cfg);
    free(rep);
    return rc;
}

static int cmd_put(const struct cli *cli)
{
    if (cli->positional_count != 2) return usage_error(cli->cmd, "expected FILE KEY");
    struct config *cfg = calloc(1, sizeof *cfg);
    struct config_report *rep = calloc(1, sizeof *rep);
    int rc = EXIT_INVALID;
    if (cfg == NULL || rep == NULL) {
        fprintf(stderr, "lakewriter put: out of memory\n");
    } else {
        bool ok = load(cli, cfg, rep);
        log_configure(cfg->log.format, cfg->log.level, 2);
        for (size_t i = 0; i < rep->count; i++)
            if (!rep->items[i].warning) fprintf(stderr, "%s\n", rep->items[i].text);
        if (ok) rc = put_main(cfg, cli->positional[0], cli->positional[1]);
        else fprintf(stderr, "lakewriter put: the configuration is not valid (lakewriter check lists every problem)\n");
        config_free(cfg);
    }
    free(cfg);
    free(rep);
    return rc;
}

static int cmd_not_built(const struct cli *cli)
{
    fprintf(stderr, "lakewriter %s: not built yet in version %s; nothing was done.\n", cli->cmd->name,
            version_string());
    fprintf(stderr, "See the status table in README.md; `lakewriter --help` lists what works.\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static struct cli cli;
    int rc = parse_cli(argc, argv, &cli);
    if (rc != 0) return rc;
    if (has_bool(&cli, "--help")) {
        if (cli.cmd_given) print_command_help(stdout, cli.cmd);
        else print_main_help(stdout);
        return 0;
    }
    return cli.cmd->fn(&cli);
}
