/* pg_conninfo: libpq-style URIs, the environment as data, precedence, defaults,
 * sslmode rules, password files and pgpass lines; messages never show the password. */
#include <criterion/criterion.h>
#include <string.h>

#include "pg_conninfo.h"

static struct pg_conninfo parse_ok(const char *url, const char *const *env)
{
    struct pg_conninfo ci;
    struct lw_err e = { 0 };
    cr_assert(pg_conninfo_parse(url, env, &ci, &e), "%s: %s", url, e.msg);
    return ci;
}

static void parse_bad(const char *url, const char *const *env, const char *want)
{
    struct pg_conninfo ci;
    struct lw_err e = { 0 };
    cr_assert_not(pg_conninfo_parse(url, env, &ci, &e), "accepted %s", url);
    cr_assert_eq(e.code, PG_E_CONNINFO);
    cr_assert(strstr(e.msg, want) != NULL, "%s: want \"%s\", got \"%s\"", url, want, e.msg);
    cr_assert(strstr(e.msg, "hunter2") == NULL, "the password leaked: %s", e.msg);
    cr_assert_eq(ci.password_len, 0);
}

Test(pg_conninfo, full_uri)
{
    struct pg_conninfo ci = parse_ok(
        "postgres://alice:hunter2@db.example.com:6543/shop?sslmode=verify-full&sslrootcert=/etc/ca.pem"
        "&application_name=backfill&connect_timeout=7",
        NULL);
    cr_assert_str_eq(ci.host, "db.example.com");
    cr_assert_eq(ci.port, 6543);
    cr_assert_str_eq(ci.user, "alice");
    cr_assert_str_eq(ci.database, "shop");
    cr_assert_eq(ci.password_len, 7);
    cr_assert_eq(memcmp(ci.password, "hunter2", 7), 0);
    cr_assert_eq(ci.password_source, PG_PASSWORD_URL);
    cr_assert_eq(ci.sslmode, PG_SSLMODE_VERIFY_FULL);
    cr_assert(ci.sslmode_explicit);
    cr_assert_str_eq(ci.sslrootcert, "/etc/ca.pem");
    cr_assert_str_eq(ci.application_name, "backfill");
    cr_assert_eq(ci.connect_timeout_ms, 7000);
    cr_assert_str_eq(ci.hostaddr, "");
}

Test(pg_conninfo, defaults_and_environment)
{
    const char *env[] = { "USER=osuser", "HOME=/root", NULL };
    struct pg_conninfo ci = parse_ok("postgresql://", env);
    cr_assert_str_eq(ci.host, "localhost");
    cr_assert_eq(ci.port, 5432);
    cr_assert_str_eq(ci.user, "osuser");
    cr_assert_str_eq(ci.database, "osuser");
    cr_assert_eq(ci.password_len, 0);
    cr_assert_eq(ci.password_source, PG_PASSWORD_NONE);
    cr_assert_eq(ci.sslmode, PG_SSLMODE_PREFER);
    cr_assert_not(ci.sslmode_explicit);
    cr_assert_str_eq(ci.application_name, "lakewriter");
    cr_assert_eq(ci.connect_timeout_ms, PG_CONNINFO_TIMEOUT_DEFAULT_MS);

    const char *env2[] = { "PGHOST=pg.internal", "PGPORT=5440", "PGUSER=envuser", "PGDATABASE=envdb",
                           "PGPASSWORD=hunter2", "PGSSLMODE=require", "PGSSLROOTCERT=/ca.pem", "PGAPPNAME=x",
                           "PGCONNECT_TIMEOUT=0", "USER=osuser", NULL };
    ci = parse_ok("postgres://", env2);
    cr_assert_str_eq(ci.host, "pg.internal");
    cr_assert_eq(ci.port, 5440);
    cr_assert_str_eq(ci.user, "envuser");
    cr_assert_str_eq(ci.database, "envdb");
    cr_assert_eq(ci.password_source, PG_PASSWORD_ENV);
    cr_assert_eq(ci.password_len, 7);
    cr_assert_eq(ci.sslmode, PG_SSLMODE_REQUIRE);
    cr_assert(ci.sslmode_explicit);
    cr_assert_str_eq(ci.sslrootcert, "/ca.pem");
    cr_assert_str_eq(ci.application_name, "x");
    cr_assert_eq(ci.connect_timeout_ms, PG_CONNINFO_TIMEOUT_DEFAULT_MS);   /* 0: the default */

    /* the URI wins over the environment, part by part */
    ci = parse_ok("postgres://bob:pw@other:1234/otherdb?sslmode=disable", env2);
    cr_assert_str_eq(ci.host, "other");
    cr_assert_eq(ci.port, 1234);
    cr_assert_str_eq(ci.user, "bob");
    cr_assert_str_eq(ci.database, "otherdb");
    cr_assert_eq(ci.password_source, PG_PASSWORD_URL);
    cr_assert_eq(memcmp(ci.password, "pw", 3), 0);
    cr_assert_eq(ci.sslmode, PG_SSLMODE_DISABLE);
    /* an empty environment value counts as unset */
    const char *env3[] = { "PGHOST=", "PGUSER=u", NULL };
    ci = parse_ok("postgres://", env3);
    cr_assert_str_eq(ci.host, "localhost");
}

Test(pg_conninfo, percent_decoding_and_hosts)
{
    struct pg_conninfo ci = parse_ok("postgres://us%40er:p%3Aw%2F%25d@[::1]:5433/my%20db?application_name=a%26b", NULL);
    cr_assert_str_eq(ci.user, "us@er");
    cr_assert_eq(ci.password_len, 6);
    cr_assert_eq(memcmp(ci.password, "p:w/%d", 7), 0);
    cr_assert_str_eq(ci.host, "::1");
    cr_assert_eq(ci.port, 5433);
    cr_assert_str_eq(ci.database, "my db");
    cr_assert_str_eq(ci.application_name, "a&b");
    ci = parse_ok("postgres://u@[2001:db8::5]/x", NULL);
    cr_assert_str_eq(ci.host, "2001:db8::5");
    cr_assert_eq(ci.port, 5432);
    ci = parse_ok("postgres://u@127.0.0.1:5440", NULL);
    cr_assert_str_eq(ci.host, "127.0.0.1");
    cr_assert_str_eq(ci.database, "u");
    ci = parse_ok("postgres://u@h/db?host=override&port=99&user=v&dbname=w", NULL);   /* params override */
    cr_assert_str_eq(ci.host, "override");
    cr_assert_eq(ci.port, 99);
    cr_assert_str_eq(ci.user, "v");
    cr_assert_str_eq(ci.database, "w");
    ci = parse_ok("postgres://u@/db?host=h", NULL);
    cr_assert_str_eq(ci.host, "h");
    ci = parse_ok("postgres://u:p+q@h/db", NULL);   /* '+' stays '+' */
    cr_assert_eq(memcmp(ci.password, "p+q", 4), 0);
    ci = parse_ok("postgres://u:@h", NULL);         /* an empty password is none */
    cr_assert_eq(ci.password_len, 0);
    ci = parse_ok("postgres://u@h?&&sslmode=disable&", NULL);
    cr_assert_eq(ci.sslmode, PG_SSLMODE_DISABLE);
    ci = parse_ok("postgres://u@db.example/x?hostaddr=10.0.0.5&sslmode=verify-full", NULL);
    cr_assert_str_eq(ci.hostaddr, "10.0.0.5");
    cr_assert_str_eq(ci.host, "db.example");
    ci = parse_ok("postgres://u@localhost/x?sslmode=verify-ca", NULL);   /* verified fully */
    cr_assert_eq(ci.sslmode, PG_SSLMODE_VERIFY_FULL);
    ci = parse_ok("postgres://u:pw@localhost/x?password=hunter2", NULL);
    cr_assert_eq(memcmp(ci.password, "hunter2", 8), 0);
}

Test(pg_conninfo, refusals)
{
    parse_bad("mysql://u@h/db", NULL, "must start with postgres://");
    parse_bad("postgres:/u@h", NULL, "must start with postgres://");
    parse_bad("postgres://u:hunter2@h:54x2/db", NULL, "the port '54x2' is not a number");
    parse_bad("postgres://u:hunter2@h:0/db", NULL, "the port '0'");
    parse_bad("postgres://u:hunter2@h:70000/db", NULL, "1..65535");
    parse_bad("postgres://u:hunter2@h/db?sslmode=verify-fll", NULL, "(did you mean verify-full?)");
    parse_bad("postgres://u:hunter2@h/db?sslmode=allow", NULL, "sslmode=allow is not supported");
    parse_bad("postgres://u:hunter2@h/db?sslmdoe=require", NULL, "unknown parameter 'sslmdoe' (did you mean sslmode?)");
    parse_bad("postgres://u:hunter2@h/db?frobnicate=1", NULL, "unknown parameter 'frobnicate'");
    parse_bad("postgres://u:hunter2@h/db?sslcert=/x", NULL, "parameter 'sslcert' is not supported");
    parse_bad("postgres://u:hunter2@h/db?sslmode", NULL, "has no '=value'");
    parse_bad("postgres://u:hunter2@h1,h2/db", NULL, "several hosts");
    parse_bad("postgres://u:hunter2@[::1/db", NULL, "closing ']'");
    parse_bad("postgres://u:hunter2@[::1]x/db", NULL, "after ']'");
    parse_bad("postgres://u:hunter2@::1/db", NULL, "in brackets");
    parse_bad("postgres://u:hunter2@h/d%zzb", NULL, "the database 'd%zzb' has a bad %-escape");
    parse_bad("postgres://u:hunt%zer2@h/db", NULL, "the password has a bad %-escape");
    parse_bad("postgres://u:hunter2@h/d%00b", NULL, "%00");
    parse_bad("postgres://u:hunter2@h/db%2", NULL, "bad %-escape");
    parse_bad("postgres://u:hunter2@h/db?connect_timeout=soon", NULL, "connect_timeout 'soon'");
    parse_bad("postgres://u:hunter2@h/db?hostaddr=db.example", NULL, "is not a numeric IPv4 or IPv6 address");
    parse_bad("postgres://:hunter2@h/db", NULL, "no PostgreSQL user");
    parse_bad("postgres://u:hunter2@127.0.0.1/db?sslmode=verify-full", NULL,
              "but 127.0.0.1 is an IP address, which lakewriter cannot check");
    parse_bad("postgres://u:hunter2@[::1]/db?sslmode=require", NULL, "is an IP address");
    parse_bad("postgres://u:hunter2@h/db?host=/var/run/postgresql", NULL, "Unix socket directory");
    const char *env[] = { "PGSSLMODE=sometimes", NULL };
    parse_bad("postgres://u:hunter2@h/db", env, "sslmode 'sometimes'");
    char longdb[300] = "postgres://u:hunter2@h/";
    memset(longdb + strlen(longdb), 'd', 270);
    longdb[299] = '\0';
    parse_bad(longdb, NULL, "the database is longer than 255 bytes");
    static char huge[PG_CONNINFO_URL_MAX + 20];
    memcpy(huge, "postgres://u@h/", 15);
    memset(huge + 15, 'x', sizeof huge - 16);
    parse_bad(huge, NULL, "longer than 4096 bytes");
}

Test(pg_conninfo, password_file_text)
{
    struct pg_conninfo ci = parse_ok("postgres://u@h/db", NULL);
    struct lw_err e = { 0 };
    cr_assert(pg_conninfo_password_text(&ci, "s3cret\n", 7, "pw.txt", &e), "%s", e.msg);
    cr_assert_eq(ci.password_len, 6);
    cr_assert_eq(memcmp(ci.password, "s3cret", 7), 0);
    cr_assert_eq(ci.password_source, PG_PASSWORD_FILE);
    cr_assert(pg_conninfo_password_text(&ci, "crlf\r\n", 6, "pw.txt", &e));
    cr_assert_eq(ci.password_len, 4);
    cr_assert_eq(memcmp(ci.password, "crlf", 5), 0);
    cr_assert(pg_conninfo_password_text(&ci, " spaces kept ", 13, "pw.txt", &e));
    cr_assert_eq(ci.password_len, 13);
    cr_assert_not(pg_conninfo_password_text(&ci, "\n", 1, "pw.txt", &e));
    cr_assert(strstr(e.msg, "pw.txt: the password file is empty") != NULL, "%s", e.msg);
    cr_assert_not(pg_conninfo_password_text(&ci, "a\nb\n", 4, "pw.txt", &e));
    cr_assert(strstr(e.msg, "more than one line") != NULL);
    cr_assert_not(pg_conninfo_password_text(&ci, "a\0b", 3, "pw.txt", &e));
    static char big[2000];
    memset(big, 'x', sizeof big);
    cr_assert_not(pg_conninfo_password_text(&ci, big, sizeof big, "pw.txt", &e));
    cr_assert(strstr(e.msg, "longer than") != NULL);
}

Test(pg_conninfo, pgpass_lines)
{
    static const char file[] =
        "# a comment\n"
        "\n"
        "other.host:5432:*:alice:wrong1\n"
        "db.example:5432:shop:bob:wrong2\n"
        "db.example:*:shop:alice:pa\\:ss\\\\word\r\n"
        "*:*:*:*:fallback\n";
    struct pg_conninfo ci = parse_ok("postgres://alice@db.example/shop", NULL);
    cr_assert(pg_conninfo_pgpass(&ci, file, sizeof file - 1));
    cr_assert_eq(ci.password_source, PG_PASSWORD_PGPASS);
    cr_assert_eq(ci.password_len, 10);
    cr_assert_eq(memcmp(ci.password, "pa:ss\\word", 11), 0);
    ci = parse_ok("postgres://carol@elsewhere:7000/x", NULL);
    cr_assert(pg_conninfo_pgpass(&ci, file, sizeof file - 1));
    cr_assert_eq(memcmp(ci.password, "fallback", 9), 0);
    /* a password already given wins; no match leaves none */
    ci = parse_ok("postgres://alice:given@db.example/shop", NULL);
    cr_assert_not(pg_conninfo_pgpass(&ci, file, sizeof file - 1));
    cr_assert_eq(memcmp(ci.password, "given", 6), 0);
    static const char nomatch[] = "h:1:d:u:p\nshort:line\n";
    ci = parse_ok("postgres://alice@db.example/shop", NULL);
    cr_assert_not(pg_conninfo_pgpass(&ci, nomatch, sizeof nomatch - 1));
    cr_assert_eq(ci.password_len, 0);
    static const char last_line[] = "db.example:5432:shop:alice:nolf";
    cr_assert(pg_conninfo_pgpass(&ci, last_line, sizeof last_line - 1));
    cr_assert_eq(memcmp(ci.password, "nolf", 5), 0);
}

Test(pg_conninfo, helpers)
{
    const char *env[] = { "A=1", "AB=2", "B=", NULL };
    cr_assert_str_eq(pg_conninfo_getenv(env, "A"), "1");
    cr_assert_str_eq(pg_conninfo_getenv(env, "AB"), "2");
    cr_assert_str_eq(pg_conninfo_getenv(env, "B"), "");
    cr_assert_null(pg_conninfo_getenv(env, "C"));
    cr_assert_null(pg_conninfo_getenv(NULL, "A"));
    cr_assert(pg_conninfo_host_is_ip("127.0.0.1"));
    cr_assert(pg_conninfo_host_is_ip("::1"));
    cr_assert(pg_conninfo_host_is_ip("[::1]"));
    cr_assert_not(pg_conninfo_host_is_ip("localhost"));
    cr_assert_not(pg_conninfo_host_is_ip("1.2.3"));
    cr_assert_str_eq(pg_sslmode_name(PG_SSLMODE_VERIFY_FULL), "verify-full");
    cr_assert_str_eq(pg_password_source_name(PG_PASSWORD_ENV), "PGPASSWORD");
}
