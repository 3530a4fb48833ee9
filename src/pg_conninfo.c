#include "pg_conninfo.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

const char *pg_sslmode_name(enum pg_sslmode m)
{
    switch (m) {
    case PG_SSLMODE_DISABLE: return "disable";
    case PG_SSLMODE_PREFER: return "prefer";
    case PG_SSLMODE_REQUIRE: return "require";
    case PG_SSLMODE_VERIFY_FULL: return "verify-full";
    }
    return "?";
}

const char *pg_password_source_name(enum pg_password_source s)
{
    switch (s) {
    case PG_PASSWORD_NONE: return "none";
    case PG_PASSWORD_URL: return "the URL";
    case PG_PASSWORD_ENV: return "PGPASSWORD";
    case PG_PASSWORD_FILE: return "the password file";
    case PG_PASSWORD_PGPASS: return "the pgpass file";
    }
    return "?";
}

const char *pg_conninfo_getenv(const char *const *env, const char *name)
{
    assert(name != NULL);
    if (env == NULL) return NULL;
    size_t n = strlen(name);
    for (; *env != NULL; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') return *env + n + 1;
    return NULL;
}

bool pg_conninfo_host_is_ip(const char *host)
{
    assert(host != NULL);
    char buf[NET_HOST_MAX];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        if (n - 2 >= sizeof buf) return false;
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    uint8_t addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* ------------------------------------------------------------------------- */
/* The URI */

/* One setting, from the URI or the environment. */
struct slot {
    const char *name;    /* the URI parameter */
    const char *env;     /* the environment variable, or NULL */
    char *dst;
    size_t cap;
    bool set;
    size_t len;
};

enum { S_HOST, S_HOSTADDR, S_PORT, S_DBNAME, S_USER, S_PASSWORD, S_SSLMODE, S_SSLROOTCERT, S_APPNAME,
       S_TIMEOUT, S_COUNT };

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..n) into the slot; `what` names the part for messages. The
 * password's text is never quoted. */
static bool slot_set(struct slot *s, const char *src, size_t n, const char *what, struct lw_err *err)
{
    size_t o = 0;
    bool secret = s->env != NULL && strcmp(s->env, "PGPASSWORD") == 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n) goto bad_escape;
            int a = hex_value(src[i + 1]), b = hex_value(src[i + 2]);
            if (a < 0 || b < 0) goto bad_escape;
            c = (char)(a * 16 + b);
            if (c == '\0')
                return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: %s holds %%00 (a NUL byte)", what);
            i += 2;
        }
        if (o + 1 >= s->cap)
            return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: %s is longer than %zu bytes", what, s->cap - 1);
        s->dst[o++] = c;
    }
    s->dst[o] = '\0';
    s->len = o;
    s->set = true;
    return true;
bad_escape:
    if (secret) return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: the password has a bad %%-escape");
    return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: %s '%.*s' has a bad %%-escape (%%XX with two hex digits)",
                      what, (int)(n > 100 ? 100 : n), src);
}

static const char *const PARAM_NAMES[] = { "host", "hostaddr", "port", "dbname", "user", "password", "sslmode",
                                           "sslrootcert", "application_name", "connect_timeout" };

/* libpq parameters that are deliberately not implemented: named as such. */
static const char *const UNSUPPORTED[] = { "sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir", "sslsni",
                                           "options", "service", "target_session_attrs", "gssencmode",
                                           "krbsrvname", "requirepeer", "passfile", "channel_binding",
                                           "load_balance_hosts", "keepalives", "replication", "sslcompression",
                                           "ssl_min_protocol_version", "ssl_max_protocol_version",
                                           "client_encoding", "fallback_application_name", "require_auth",
                                           "tcp_user_timeout", "sslnegotiation", "sslcertmode" };

static bool parse_params(struct slot *slots, const char *q, size_t n, struct lw_err *err)
{
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && q[end] != '&') end++;
        if (end == i) {
            i++;
            continue;
        }
        const char *eq = memchr(q + i, '=', end - i);
        if (eq == NULL)
            return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: parameter '%.*s' has no '=value'",
                              (int)(end - i > 64 ? 64 : end - i), q + i);
        char name[64];
        struct slot tmp = { .dst = name, .cap = sizeof name };
        if (!slot_set(&tmp, q + i, (size_t)(eq - (q + i)), "a parameter name", err)) return false;
        int k = -1;
        for (int j = 0; j < S_COUNT; j++)
            if (strcmp(name, slots[j].name) == 0) k = j;
        if (k < 0) {
            for (size_t j = 0; j < sizeof UNSUPPORTED / sizeof UNSUPPORTED[0]; j++)
                if (strcmp(name, UNSUPPORTED[j]) == 0)
                    return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: parameter '%s' is not supported by lakewriter",
                                      name);
            const char *s = util_suggest(name, PARAM_NAMES, S_COUNT);
            if (s != NULL)
                return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: unknown parameter '%s' (did you mean %s?)", name, s);
            return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: unknown parameter '%s'", name);
        }
        char what[80];
        snprintf(what, sizeof what, "parameter %s", name);
        if (!slot_set(&slots[k], eq + 1, (size_t)(q + end - (eq + 1)), what, err)) return false;
        i = end;
    }
    return true;
}

/* authority = [user[:password]@]host[:port] */
static bool parse_authority(struct slot *slots, const char *a, size_t n, struct lw_err *err)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (a[i] == '@') at = a + i;
    if (at != NULL) {
        const char *colon = memchr(a, ':', (size_t)(at - a));
        size_t user_len = colon != NULL ? (size_t)(colon - a) : (size_t)(at - a);
        if (user_len > 0 && !slot_set(&slots[S_USER], a, user_len, "the user", err)) return false;
        if (colon != NULL && at - colon > 1 &&
            !slot_set(&slots[S_PASSWORD], colon + 1, (size_t)(at - colon - 1), "the password", err))
            return false;
        n -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    if (memchr(a, ',', n) != NULL)
        return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: several hosts ('%.*s') are not supported: give one",
                          (int)(n > 200 ? 200 : n), a);
    const char *port = NULL;
    size_t host_len = n;
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (close == NULL)
            return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: an IPv6 address without its closing ']'");
        host_len = (size_t)(close + 1 - a);
        if (host_len < n) {
            if (a[host_len] != ':')
                return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: unexpected text after ']'");
            port = a + host_len + 1;
        }
    } else {
        const char *colon = memchr(a, ':', n);
        if (colon != NULL) {
            host_len = (size_t)(colon - a);
            port = colon + 1;
            if (memchr(port, ':', n - host_len - 1) != NULL)
                return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: an IPv6 host must be in brackets: [::1]:5432");
        }
    }
    if (host_len > 0 && !slot_set(&slots[S_HOST], a, host_len, "the host", err)) return false;
    if (port != NULL && a + n > port && !slot_set(&slots[S_PORT], port, (size_t)(a + n - port), "the port", err))
        return false;
    return true;
}

static bool parse_port(const char *text, uint16_t *port, struct lw_err *err)
{
    uint64_t v = 0;
    struct lw_err e;
    if (!util_parse_u64(text, &v, &e) || v == 0 || v > 65535)
        return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: the port '%.20s' is not a number 1..65535", text);
    *port = (uint16_t)v;
    return true;
}

static bool parse_sslmode(const char *text, enum pg_sslmode *mode, struct lw_err *err)
{
    if (strcmp(text, "disable") == 0) *mode = PG_SSLMODE_DISABLE;
    else if (strcmp(text, "prefer") == 0) *mode = PG_SSLMODE_PREFER;
    else if (strcmp(text, "require") == 0) *mode = PG_SSLMODE_REQUIRE;
    else if (strcmp(text, "verify-ca") == 0 || strcmp(text, "verify-full") == 0) *mode = PG_SSLMODE_VERIFY_FULL;
    else if (strcmp(text, "allow") == 0)
        return lw_err_set(err, PG_E_CONNINFO, "sslmode=allow is not supported: use prefer (TLS when offered) or disable");
    else {
        static const char *const modes[] = { "disable", "prefer", "require", "verify-ca", "verify-full" };
        const char *s = util_suggest(text, modes, 5);
        return lw_err_set(err, PG_E_CONNINFO, "sslmode '%.32s' is not one of disable, prefer, require, verify-ca, "
                                              "verify-full%s%s%s", text, s != NULL ? " (did you mean " : "",
                          s != NULL ? s : "", s != NULL ? "?)" : "");
    }
    return true;
}

bool pg_conninfo_parse(const char *url, const char *const *env, struct pg_conninfo *out, struct lw_err *err)
{
    assert(url != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    char port_text[16] = "", sslmode_text[32] = "", timeout_text[16] = "";
    struct slot slots[S_COUNT] = {
        [S_HOST] = { "host", "PGHOST", out->host, sizeof out->host, false, 0 },
        [S_HOSTADDR] = { "hostaddr", "PGHOSTADDR", out->hostaddr, sizeof out->hostaddr, false, 0 },
        [S_PORT] = { "port", "PGPORT", port_text, sizeof port_text, false, 0 },
        [S_DBNAME] = { "dbname", "PGDATABASE", out->database, sizeof out->database, false, 0 },
        [S_USER] = { "user", "PGUSER", out->user, sizeof out->user, false, 0 },
        [S_PASSWORD] = { "password", "PGPASSWORD", out->password, sizeof out->password, false, 0 },
        [S_SSLMODE] = { "sslmode", "PGSSLMODE", sslmode_text, sizeof sslmode_text, false, 0 },
        [S_SSLROOTCERT] = { "sslrootcert", "PGSSLROOTCERT", out->sslrootcert, sizeof out->sslrootcert, false, 0 },
        [S_APPNAME] = { "application_name", "PGAPPNAME", out->application_name, sizeof out->application_name,
                        false, 0 },
        [S_TIMEOUT] = { "connect_timeout", "PGCONNECT_TIMEOUT", timeout_text, sizeof timeout_text, false, 0 },
    };
    size_t n = strlen(url);
    if (n > PG_CONNINFO_URL_MAX)
        return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: longer than %d bytes", PG_CONNINFO_URL_MAX);
    size_t skip = 0;
    if (strncmp(url, "postgresql://", 13) == 0) skip = 13;
    else if (strncmp(url, "postgres://", 11) == 0) skip = 11;
    else
        return lw_err_set(err, PG_E_CONNINFO, "PostgreSQL URL: must start with postgres:// or postgresql:// "
                                              "(postgres://user@host:5432/database?sslmode=verify-full)");
    const char *p = url + skip, *end = url + n;
    const char *q = memchr(p, '?', (size_t)(end - p));
    const char *main_end = q != NULL ? q : end;
    const char *slash = memchr(p, '/', (size_t)(main_end - p));
    const char *auth_end = slash != NULL ? slash : main_end;
    if (!parse_authority(slots, p, (size_t)(auth_end - p), err)) goto fail;
    if (slash != NULL && main_end - slash > 1 &&
        !slot_set(&slots[S_DBNAME], slash + 1, (size_t)(main_end - slash - 1), "the database", err))
        goto fail;
    if (q != NULL && !parse_params(slots, q + 1, (size_t)(end - q - 1), err)) goto fail;

    /* The environment fills what the URI left unset. */
    bool password_from_url = slots[S_PASSWORD].set;
    for (int k = 0; k < S_COUNT; k++) {
        if (slots[k].set) continue;
        const char *v = pg_conninfo_getenv(env, slots[k].env);
        if (v == NULL || v[0] == '\0') continue;
        size_t len = strlen(v);
        if (len + 1 > slots[k].cap) {
            if (k == S_PASSWORD) lw_err_set(err, PG_E_CONNINFO, "PGPASSWORD is longer than %zu bytes", slots[k].cap - 1);
            else lw_err_set(err, PG_E_CONNINFO, "%s is longer than %zu bytes", slots[k].env, slots[k].cap - 1);
            goto fail;
        }
        memcpy(slots[k].dst, v, len + 1);
        slots[k].len = len;
        slots[k].set = true;
    }

    /* Defaults and checks. */
    if (!slots[S_HOST].set) snprintf(out->host, sizeof out->host, "localhost");
    if (out->host[0] == '/') {
        lw_err_set(err, PG_E_CONNINFO, "PostgreSQL host '%.100s' is a Unix socket directory: lakewriter connects "
                                       "over TCP only", out->host);
        goto fail;
    }
    size_t hl = strlen(out->host);
    if (hl >= 2 && out->host[0] == '[' && out->host[hl - 1] == ']') {   /* [::1] -> ::1 */
        memmove(out->host, out->host + 1, hl - 2);
        out->host[hl - 2] = '\0';
    }
    if (out->hostaddr[0] != '\0' && !pg_conninfo_host_is_ip(out->hostaddr)) {
        lw_err_set(err, PG_E_CONNINFO, "PostgreSQL hostaddr '%.60s' is not a numeric IPv4 or IPv6 address",
                   out->hostaddr);
        goto fail;
    }
    out->port = PG_CONNINFO_DEFAULT_PORT;
    if (slots[S_PORT].set && !parse_port(port_text, &out->port, err)) goto fail;
    if (!slots[S_USER].set) {
        const char *u = pg_conninfo_getenv(env, "USER");
        if (u == NULL || u[0] == '\0' || strlen(u) >= sizeof out->user) {
            lw_err_set(err, PG_E_CONNINFO, "no PostgreSQL user: put it in the URL (postgres://user@host/database) "
                                           "or set PGUSER");
            goto fail;
        }
        snprintf(out->user, sizeof out->user, "%s", u);
    }
    if (out->database[0] == '\0') snprintf(out->database, sizeof out->database, "%s", out->user);
    if (out->application_name[0] == '\0') snprintf(out->application_name, sizeof out->application_name, "lakewriter");
    if (slots[S_PASSWORD].set && slots[S_PASSWORD].len > 0) {
        out->password_len = slots[S_PASSWORD].len;
        out->password_source = password_from_url ? PG_PASSWORD_URL : PG_PASSWORD_ENV;
    }
    out->sslmode = PG_SSLMODE_PREFER;
    out->sslmode_explicit = slots[S_SSLMODE].set;
    if (slots[S_SSLMODE].set && !parse_sslmode(sslmode_text, &out->sslmode, err)) goto fail;
    out->connect_timeout_ms = PG_CONNINFO_TIMEOUT_DEFAULT_MS;
    if (slots[S_TIMEOUT].set) {
        uint64_t s = 0;
        struct lw_err e;
        if (!util_parse_u64(timeout_text, &s, &e) || s > 86400) {
            lw_err_set(err, PG_E_CONNINFO, "PostgreSQL connect_timeout '%.16s' is not a number of seconds 0..86400",
                       timeout_text);
            goto fail;
        }
        if (s > 0) out->connect_timeout_ms = (uint32_t)s * 1000;
    }
    if (out->sslmode >= PG_SSLMODE_REQUIRE && out->hostaddr[0] == '\0' && pg_conninfo_host_is_ip(out->host)) {
        lw_err_set(err, PG_E_CONNINFO,
                   "sslmode=%s checks the server certificate against the host name, but %s is an IP address, "
                   "which lakewriter cannot check: connect by name, or give the name on the certificate as host "
                   "and the address as hostaddr (postgres://user@db.example/db?hostaddr=%s&sslmode=%s)",
                   sslmode_text, out->host, out->host, sslmode_text);
        goto fail;
    }
    return true;
fail:
    pg_auth_wipe(out, sizeof *out);
    return false;
}

/* ------------------------------------------------------------------------- */
/* Password files */

bool pg_conninfo_password_text(struct pg_conninfo *ci, const char *text, size_t len, const char *source,
                               struct lw_err *err)
{
    assert(ci != NULL && (text != NULL || len == 0) && source != NULL);
    if (len > 0 && text[len - 1] == '\n') len--;
    if (len > 0 && text[len - 1] == '\r') len--;
    if (len == 0) return lw_err_set(err, PG_E_CONNINFO, "%s: the password file is empty", source);
    if (memchr(text, '\n', len) != NULL)
        return lw_err_set(err, PG_E_CONNINFO, "%s: the password file has more than one line (it must hold only the "
                                              "password)", source);
    if (memchr(text, '\0', len) != NULL)
        return lw_err_set(err, PG_E_CONNINFO, "%s: the password file holds a NUL byte", source);
    if (len >= sizeof ci->password)
        return lw_err_set(err, PG_E_CONNINFO, "%s: the password is longer than %zu bytes", source,
                          sizeof ci->password - 1);
    pg_auth_wipe(ci->password, sizeof ci->password);
    memcpy(ci->password, text, len);
    ci->password_len = len;
    ci->password_source = PG_PASSWORD_FILE;
    return true;
}

/* Reads one ':'-separated field of a pgpass line, unescaping "\:" and "\\"; stops
 * at ':' (consumed) or the end of the line. Returns false if the field does not fit. */
static bool pgpass_field(const char **p, const char *end, char *out, size_t cap, size_t *out_len, bool last)
{
    size_t o = 0;
    bool ok = true;
    while (*p < end) {
        char c = **p;
        if (c == ':' && !last) {
            (*p)++;
            break;
        }
        if (c == '\\' && *p + 1 < end) {
            (*p)++;
            c = **p;
        }
        (*p)++;
        if (o + 1 < cap) out[o++] = c;
        else ok = false;
    }
    out[o] = '\0';
    *out_len = o;
    return ok;
}

bool pg_conninfo_pgpass(struct pg_conninfo *ci, const char *text, size_t len)
{
    assert(ci != NULL && (text != NULL || len == 0));
    if (ci->password_len > 0) return false;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)ci->port);
    const char *want[4] = { ci->host, port, ci->database, ci->user };
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol != NULL ? eol : end;
        const char *next = eol != NULL ? eol + 1 : end;
        if (line_end > p && line_end[-1] == '\r') line_end--;
        if (line_end == p || *p == '#') {
            p = next;
            continue;
        }
        bool match = true;
        char field[PG_WIRE_PASSWORD_MAX];
        size_t flen = 0;
        for (int i = 0; i < 4 && match; i++) {
            if (p >= line_end) {
                match = false;   /* fewer than five fields */
                break;
            }
            bool fits = pgpass_field(&p, line_end, field, sizeof field, &flen, false);
            match = fits && (strcmp(field, "*") == 0 || strcmp(field, want[i]) == 0);
        }
        if (match) {
            bool fits = pgpass_field(&p, line_end, field, sizeof field, &flen, true);
            if (fits && flen > 0) {
                memcpy(ci->password, field, flen + 1);
                ci->password_len = flen;
                ci->password_source = PG_PASSWORD_PGPASS;
                pg_auth_wipe(field, sizeof field);
                return true;
            }
        }
        pg_auth_wipe(field, sizeof field);
        p = next;
    }
    return false;
}
