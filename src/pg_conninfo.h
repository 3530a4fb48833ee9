/* pg_conninfo: where and how to connect to PostgreSQL, from a libpq-style URI, the
 * environment (given as data) and a password file. Pure: no I/O, no getenv.
 *
 *   postgres://[user[:password]@][host][:port][/database][?name=value&...]
 *   postgresql://...                      (the same)
 *
 *   host       a name, an IPv4 address, or [an IPv6 address]; default PGHOST, else
 *              "localhost" (Unix sockets are not supported: TCP only)
 *   port       default PGPORT, else 5432
 *   user       default PGUSER, else USER (as libpq takes the OS user name)
 *   database   default PGDATABASE, else the user name
 *   query parameters (each also settable in the path's place, as libpq allows):
 *     host, hostaddr, port, dbname, user, password, sslmode, sslrootcert,
 *     application_name, connect_timeout (seconds)
 *
 * Every part is percent-decoded (%2F -> '/'; '+' stays '+'); %00 is refused. A
 * parameter in the URI wins over the environment (PGHOST, PGHOSTADDR, PGPORT,
 * PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE, PGSSLROOTCERT, PGAPPNAME,
 * PGCONNECT_TIMEOUT), which wins over the defaults. Unknown parameters are errors
 * ("did you mean sslmode?"), so are libpq's that lakewriter does not implement
 * (sslcert, sslkey, options, multiple hosts, ...).
 *
 * The password: the URI's, else PGPASSWORD, else (pg.h resolves files) a password
 * file named by the caller (--pg-password-file: the whole file, one trailing newline
 * dropped), else PGPASSFILE / ~/.pgpass (libpq's format, pg_conninfo_pgpass). It is
 * never written into an error message or a log line.
 *
 * sslmode (default prefer, as libpq):
 *   disable      plain TCP.
 *   prefer       SSLRequest; TLS if the server agrees, plain text if it declines. TLS
 *                here is always verified (BearSSL has no "encrypt but trust anyone"
 *                mode): the chain against the CA bundle (sslrootcert, else the
 *                configured/embedded/system bundle) and the host name. If the handshake
 *                fails (e.g. a self-signed server certificate), lakewriter logs a
 *                warning and connects again without TLS, as libpq's prefer does. When
 *                the host is an IP address, TLS is skipped at once (there is no name
 *                to check; see hostaddr).
 *   require      TLS or nothing. ==> STRICTER THAN LIBPQ: lakewriter's require also
 *   verify-ca    verifies the chain and the host name, i.e. it behaves as verify-full.
 *   verify-full  A server whose certificate the bundle does not trust is refused.
 *   allow        refused (use prefer or disable).
 * To verify a server reached by IP address, give the certificate's name as host and
 * the address as hostaddr: postgres://u@db.internal/x?hostaddr=10.0.0.5&sslmode=verify-full */
#ifndef LW_PG_CONNINFO_H
#define LW_PG_CONNINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "net.h"
#include "pg_wire.h"

enum {
    PG_CONNINFO_URL_MAX = 4096,          /* bytes of a connection URI */
    PG_CONNINFO_PATH_MAX = 1024,         /* bytes of sslrootcert */
    PG_CONNINFO_HOSTADDR_MAX = 64,
    PG_CONNINFO_DEFAULT_PORT = 5432,
    PG_CONNINFO_TIMEOUT_DEFAULT_MS = 30000,   /* connect_timeout when none is given */
    PG_CONNINFO_PASSFILE_MAX_BYTES = 1 << 20, /* largest password file read */
    PG_E_CONNINFO = 220,                 /* lw_err code: a bad URI, parameter or file */
};

enum pg_sslmode {
    PG_SSLMODE_DISABLE = 0,
    PG_SSLMODE_PREFER,
    PG_SSLMODE_REQUIRE,       /* verified as verify-full (see above) */
    PG_SSLMODE_VERIFY_FULL,   /* verify-ca too */
};

enum pg_password_source {
    PG_PASSWORD_NONE = 0,
    PG_PASSWORD_URL,
    PG_PASSWORD_ENV,          /* PGPASSWORD */
    PG_PASSWORD_FILE,         /* a file named by the caller */
    PG_PASSWORD_PGPASS,       /* a line of PGPASSFILE / ~/.pgpass */
};

struct pg_conninfo {
    char host[NET_HOST_MAX];                 /* connect here, and check the certificate for it */
    char hostaddr[PG_CONNINFO_HOSTADDR_MAX]; /* "" or a numeric address to connect to instead */
    uint16_t port;
    char user[PG_WIRE_NAME_MAX];
    char database[PG_WIRE_NAME_MAX];
    char application_name[PG_WIRE_NAME_MAX]; /* default "lakewriter" */
    char password[PG_WIRE_PASSWORD_MAX];     /* secret: never logged */
    size_t password_len;
    enum pg_password_source password_source;
    enum pg_sslmode sslmode;
    bool sslmode_explicit;                   /* given in the URI or PGSSLMODE */
    char sslrootcert[PG_CONNINFO_PATH_MAX];  /* "" = the configured CA bundle */
    uint32_t connect_timeout_ms;
};

/* Parses `url` with the environment `env` (a NULL-terminated array of "NAME=value"
 * strings, as environ; NULL for none) into `out`. False with code PG_E_CONNINFO and a
 * message naming the part that is wrong (never the password). */
bool pg_conninfo_parse(const char *url, const char *const *env, struct pg_conninfo *out, struct lw_err *err);

/* Sets the password from the contents of a password file (`text`, `len` bytes): all
 * of it but one trailing "\n" or "\r\n". `source` names the file in messages. False
 * if it is empty, holds a NUL byte or another line, or is too long. */
bool pg_conninfo_password_text(struct pg_conninfo *ci, const char *text, size_t len, const char *source,
                               struct lw_err *err);

/* Looks `ci`'s host, port, database and user up in a libpq password file
 * (hostname:port:database:username:password per line, '*' matching anything, '\'
 * escaping ':' and '\', '#' comments) and sets the password of the first matching
 * line, only if `ci` has none yet. Returns true if a line matched. */
bool pg_conninfo_pgpass(struct pg_conninfo *ci, const char *text, size_t len);

/* The value of `name` in `env`, or NULL. */
const char *pg_conninfo_getenv(const char *const *env, const char *name);

/* "disable", "prefer", "require", "verify-full". */
const char *pg_sslmode_name(enum pg_sslmode m);

/* "none", "the URL", "PGPASSWORD", "the password file", "the pgpass file". */
const char *pg_password_source_name(enum pg_password_source s);

/* True if `host` is a numeric IPv4 or IPv6 address (brackets allowed). */
bool pg_conninfo_host_is_ip(const char *host);

#endif
