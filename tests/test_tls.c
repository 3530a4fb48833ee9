/* TLS: the PEM/X.509 trust-anchor loader (against BearSSL's own decoder), and TLS
 * connections against real servers on loopback (tests/tls/peer.py, Python's ssl =
 * OpenSSL) with a PKI made by tests/tls/make_certs.sh at test time. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "tls.h"
#include "tls_anchors.h"

enum { RUN_BOUND_MS = 30000 };

/* The bundle "built into" the unit-test binary: tls_anchors_embedded finds it (the
 * build defines these two symbols for -Dembed-ca; here the test does). */
#define EMBEDDED_PEM                                                       \
    "-----BEGIN CERTIFICATE-----\n"                                       \
    "MIIBpDCCAUmgAwIBAgIUOZUSqGEIPyIofngw0l4ZmDHnyOYwCgYIKoZIzj0EAwIw\n"  \
    "JjEkMCIGA1UEAwwbbGFrZXdyaXRlciBlbWJlZGRlZCB0ZXN0IENBMCAXDTI2MTEy\n"  \
    "NTEyMDgxOVoYDzIxMjYxMTAxMTIwODE5WjAmMSQwIgYDVQQDDBtsYWtld3JpdGVy\n"  \
    "IGVtYmVkZGVkIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR57/eD\n"  \
    "vtpEZvoFmJH3EJHL2lmgoI0NOhqCKdaKSFA+rbB45ob4eF2qHJCGV/zAhrE5l8oC\n"  \
    "IdpZthdRvzEByALlo1MwUTAdBgNVHQ4EFgQUWeZPn5+xVgejJe5IABNylq7z0KQw\n"  \
    "HwYDVR0jBBgwFoAUWeZPn5+xVgejJe5IABNylq7z0KQwDwYDVR0TAQH/BAUwAwEB\n"  \
    "/zAKBggqhkjOPQQDAgNJADBGAiEAsbZLGnXfzwom1vFRUrDU054FjQArywe87lBE\n"  \
    "E/xTxUcCIQD7OVsRCkf5324pUuqUKavaBDRXVmKWGPBR4JkckP2hXA==\n"          \
    "-----END CERTIFICATE-----\n"
static const char embedded_pem[] = EMBEDDED_PEM;
const unsigned char lw_embedded_ca_pem[] = EMBEDDED_PEM;
const size_t lw_embedded_ca_pem_size = sizeof lw_embedded_ca_pem - 1; /* no NUL */

/* ------------------------------------------------------------------------- */
/* Helpers: files, the test PKI, the peer process */

static int64_t test_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *file_slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert(n >= 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* The test PKI, made once per version of make_certs.sh and shared by all tests (they
 * run in parallel processes: a lock file serialises the first generation). */
static const char *certs_dir(void)
{
    static char dir[256];
    if (dir[0] != '\0') return dir;
    size_t size;
    char *script = file_slurp("tests/tls/make_certs.sh", &size);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++) h = (h ^ (uint8_t)script[i]) * 1099511628211ull;
    free(script);
    mkdir("tmp", 0755);
    mkdir("tmp/tls-test", 0755);
    snprintf(dir, sizeof dir, "tmp/tls-test/certs-%016llx", (unsigned long long)h);
    int lock = open("tmp/tls-test/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    cr_assert(lock >= 0);
    cr_assert_eq(flock(lock, LOCK_EX), 0);
    char done[300];
    snprintf(done, sizeof done, "%s/done", dir);
    if (access(done, F_OK) != 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.tmp' && sh tests/tls/make_certs.sh '%s.tmp' && mv '%s.tmp' '%s'",
                 dir, dir, dir, dir, dir);
        cr_assert_eq(system(cmd), 0, "tests/tls/make_certs.sh failed");
    }
    flock(lock, LOCK_UN);
    close(lock);
    return dir;
}

static const char *cert_path(const char *name)
{
    static char paths[8][320];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", certs_dir(), name);
    return p;
}

struct peer {
    pid_t pid;
    uint16_t port;
};

/* Starts tests/tls/peer.py MODE serving `leaf` (e.g. "leaf-rsa", or NULL for plain
 * modes); waits for its port. It dies with the test process (PR_SET_PDEATHSIG). */
static struct peer peer_start(const char *mode, const char *leaf, int connections, const char *payload)
{
    const char *python = access(".venv/bin/python", X_OK) == 0 ? ".venv/bin/python" : "python3";
    char cert[320] = "", key[320] = "", count[16];
    if (leaf != NULL) {
        const char *dir = certs_dir();
        snprintf(cert, sizeof cert, "%s/%s%s.pem", dir, leaf, strcmp(leaf, "leaf-int") == 0 ? "-chain" : "");
        snprintf(key, sizeof key, "%s/%s.key", dir, leaf);
    }
    snprintf(count, sizeof count, "%d", connections);
    const char *argv[16];
    int n = 0;
    argv[n++] = python;
    argv[n++] = "tests/tls/peer.py";
    argv[n++] = mode;
    argv[n++] = "--connections";
    argv[n++] = count;
    if (leaf != NULL) {
        argv[n++] = "--cert";
        argv[n++] = cert;
        argv[n++] = "--key";
        argv[n++] = key;
    }
    if (payload != NULL) {
        argv[n++] = "--payload";
        argv[n++] = payload;
    }
    argv[n] = NULL;
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        if (getenv("LW_TLS_PEER_LOG") == NULL) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 2);
        }
        execvp(python, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char line[64];
    size_t len = 0;
    int64_t end = test_ms() + 20000;
    while (len < sizeof line - 1 && memchr(line, '\n', len) == NULL) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        int timeout = (int)(end - test_ms());
        cr_assert(timeout > 0, "peer.py %s did not start", mode);
        if (poll(&p, 1, timeout) <= 0) continue;
        ssize_t r = read(fds[0], line + len, sizeof line - 1 - len);
        cr_assert(r > 0, "peer.py %s exited before printing its port", mode);
        len += (size_t)r;
    }
    line[len] = '\0';
    close(fds[0]);
    unsigned port = 0;
    cr_assert_eq(sscanf(line, "port %u", &port), 1, "peer said '%s'", line);
    return (struct peer){ .pid = pid, .port = (uint16_t)port };
}

static void peer_stop(struct peer *p)
{
    if (p->pid <= 0) return;
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

/* ------------------------------------------------------------------------- */
/* Helpers: the loop and results */

struct result {
    int calls;
    size_t size_bytes;
    bool failed;
    int code;
    char msg[LW_ERR_MSG_MAX];
};

static void result_fn(struct tls_conn *conn, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)conn;
    struct result *r = context;
    r->calls++;
    r->size_bytes = size_bytes;
    r->failed = err != NULL;
    r->code = err != NULL ? err->code : 0;
    snprintf(r->msg, sizeof r->msg, "%s", err != NULL ? err->msg : "");
}

static void run_until(struct loop *loop, const int *counter, int want)
{
    int64_t end_ms = test_ms() + RUN_BOUND_MS;
    while (*counter < want) {
        cr_assert(test_ms() < end_ms, "no completion within %d ms", RUN_BOUND_MS);
        cr_assert_eq(loop_run_once(loop, 20), LOOP_RUN_CONTINUE);
    }
}

/* Everything one connection test needs; big (BearSSL buffers), so static. */
struct fixture {
    struct loop loop;
    struct tls_anchors anchors;
    struct tls_conn conn;
};
static struct fixture fx;

static void fixture_start(void)
{
    struct lw_err err;
    cr_assert(loop_init(&fx.loop, &err), "loop_init: %s", err.msg);
    cr_assert(tls_anchors_load_file(&fx.anchors, cert_path("bundle.pem"), &err), "%s", err.msg);
    tls_init(&fx.conn, &fx.loop, &fx.anchors);
}

static void fixture_stop(void)
{
    if (tls_state(&fx.conn) != TLS_IDLE) {
        struct result r = { 0 };
        tls_close(&fx.conn, result_fn, &r);
        run_until(&fx.loop, &r.calls, 1);
    }
    tls_anchors_free(&fx.anchors);
    loop_deinit(&fx.loop);
}

static struct result tls_connect_wait(const char *host, uint16_t port, const char *server_name,
                                      int64_t timeout_ms)
{
    struct result r = { 0 };
    tls_connect(&fx.conn, host, port, server_name, loop_now_ms(&fx.loop) + timeout_ms, result_fn, &r);
    cr_assert_eq(r.calls, 0, "the callback ran inside tls_connect");
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_eq(r.calls, 1);
    return r;
}

static void connect_ok(uint16_t port)
{
    struct result r = tls_connect_wait("localhost", port, NULL, 10000);
    cr_assert_not(r.failed, "%s", r.msg);
    cr_assert_eq(tls_state(&fx.conn), TLS_READY);
}

static void send_all(const void *buf, size_t n)
{
    struct result r = { 0 };
    tls_send(&fx.conn, buf, n, loop_now_ms(&fx.loop) + 10000, result_fn, &r);
    cr_assert_eq(r.calls, 0, "the callback ran inside tls_send");
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_not(r.failed, "%s", r.msg);
    cr_assert_eq(r.size_bytes, n);
}

/* Receives exactly n bytes (pieces of at most `piece`). */
static void recv_exact(uint8_t *buf, size_t n, size_t piece)
{
    size_t got = 0;
    while (got < n) {
        struct result r = { 0 };
        size_t cap = n - got < piece ? n - got : piece;
        tls_recv(&fx.conn, buf + got, cap, loop_now_ms(&fx.loop) + 10000, result_fn, &r);
        cr_assert_eq(r.calls, 0, "the callback ran inside tls_recv");
        run_until(&fx.loop, &r.calls, 1);
        cr_assert_not(r.failed, "after %zu of %zu bytes: %s", got, n, r.msg);
        cr_assert(r.size_bytes >= 1 && r.size_bytes <= cap);
        got += r.size_bytes;
    }
}

static struct result recv_once(uint8_t *buf, size_t cap, int64_t timeout_ms)
{
    struct result r = { 0 };
    tls_recv(&fx.conn, buf, cap, loop_now_ms(&fx.loop) + timeout_ms, result_fn, &r);
    run_until(&fx.loop, &r.calls, 1);
    return r;
}

static void close_ok(void)
{
    struct result r = { 0 };
    tls_close(&fx.conn, result_fn, &r);
    cr_assert_eq(r.calls, 0);
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_not(r.failed);
    cr_assert_eq(tls_state(&fx.conn), TLS_IDLE);
}

/* A handshake against peer MODE serving LEAF that must fail with `code`. */
static struct result handshake_fails(const char *mode, const char *leaf, int code)
{
    struct peer p = peer_start(mode, leaf, 1, NULL);
    struct result r = tls_connect_wait("localhost", p.port, NULL, 10000);
    cr_assert(r.failed, "the handshake with a '%s' peer serving %s succeeded", mode, leaf ? leaf : "-");
    cr_assert_eq(r.code, code, "code %d (%s), want %d: %s", r.code, tls_strerror(r.code), code, r.msg);
    cr_assert_eq(tls_state(&fx.conn), TLS_IDLE);
    char want[64];
    snprintf(want, sizeof want, "localhost:%u", (unsigned)p.port);
    cr_assert_not_null(strstr(r.msg, want), "the message names no peer: %s", r.msg);
    cr_log_info("%s", r.msg);
    peer_stop(&p);
    return r;
}

/* ------------------------------------------------------------------------- */
/* PEM and X.509 */

static void pem_decode_one(const char *text, uint8_t *der, size_t cap, size_t *der_size)
{
    struct tls_pem pem;
    struct tls_pem_block block;
    struct lw_err err;
    tls_pem_init(&pem, text, strlen(text));
    cr_assert_eq(tls_pem_next(&pem, &block, &err), TLS_PEM_BLOCK, "%s", err.msg);
    cr_assert(tls_pem_decode(&block, der, cap, der_size, &err), "%s", err.msg);
}

Test(tls_pem, blocks_lines_and_junk)
{
    const char *text = "junk before\r\n"
                       "-----BEGIN THING-----\r\n"
                       "aGVs\n"
                       "  bG8=  \n"
                       "-----END THING-----\n"
                       "# a comment between blocks\n"
                       "-----BEGIN OTHER-----\n"
                       "YQ==\n"
                       "-----END OTHER-----";
    struct tls_pem pem;
    struct tls_pem_block b;
    struct lw_err err;
    uint8_t out[16];
    size_t n;
    tls_pem_init(&pem, text, strlen(text));
    cr_assert_eq(tls_pem_next(&pem, &b, &err), TLS_PEM_BLOCK);
    cr_assert_str_eq(b.label, "THING");
    cr_assert_eq(b.line_begin, 2);
    cr_assert(tls_pem_decode(&b, out, sizeof out, &n, &err), "%s", err.msg);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(out, "hello", 5), 0);
    cr_assert_eq(tls_pem_next(&pem, &b, &err), TLS_PEM_BLOCK);
    cr_assert_str_eq(b.label, "OTHER");
    cr_assert_eq(b.line_begin, 7);
    cr_assert(tls_pem_decode(&b, out, sizeof out, &n, &err));
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0], 'a');
    cr_assert_eq(tls_pem_next(&pem, &b, &err), TLS_PEM_END);
    /* No room: a limit error, not a format one. */
    cr_assert_not(tls_pem_decode(&b, out, 0, &n, &err));
    cr_assert_eq(err.code, TLS_ANCHORS_E_LIMIT);
}

Test(tls_pem, every_base64_length)
{
    /* Lengths 0..40 through a reference encoder: exact bytes back. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t len = 0; len <= 40; len++) {
        uint8_t raw[40];
        for (size_t i = 0; i < len; i++) raw[i] = (uint8_t)(i * 37 + len * 11);
        char text[200] = "-----BEGIN X-----\n";
        size_t t = strlen(text);
        for (size_t i = 0; i < len; i += 3) {
            uint32_t v = (uint32_t)raw[i] << 16;
            if (i + 1 < len) v |= (uint32_t)raw[i + 1] << 8;
            if (i + 2 < len) v |= raw[i + 2];
            text[t++] = alphabet[v >> 18 & 63];
            text[t++] = alphabet[v >> 12 & 63];
            text[t++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
            text[t++] = i + 2 < len ? alphabet[v & 63] : '=';
            if (i % 9 == 6) text[t++] = '\n';
        }
        strcpy(text + t, "\n-----END X-----\n");
        uint8_t out[40];
        size_t n = 99;
        if (len == 0) {
            struct tls_pem pem;
            struct tls_pem_block b;
            struct lw_err err;
            tls_pem_init(&pem, text, strlen(text));
            cr_assert_eq(tls_pem_next(&pem, &b, &err), TLS_PEM_BLOCK);
            cr_assert(tls_pem_decode(&b, out, sizeof out, &n, &err));
        } else {
            pem_decode_one(text, out, sizeof out, &n);
        }
        cr_assert_eq(n, len);
        cr_assert_eq(memcmp(out, raw, len), 0, "length %zu", len);
    }
}

Test(tls_pem, errors_name_the_line)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        { "-----BEGIN CERTIFICATE-----\nAAAA\n", "line 1: '-----BEGIN CERTIFICATE-----' has no END line" },
        { "x\n-----BEGIN A-----\nAAAA\n-----END B-----\n", "line 4: '-----END B-----' does not close '-----BEGIN A-----' of line 2" },
        { "-----BEGIN A-----\nAA\n-----BEGIN A-----\n-----END A-----\n", "line 3: a new BEGIN line" },
        { "-----BEGIN A-----\nAAAA\nAA!A\n-----END A-----\n", "line 3: byte 0x21 is not base64" },
        { "-----BEGIN A-----\nAA==AA\n-----END A-----\n", "line 2: base64 data after '=' padding" },
        { "-----BEGIN A-----\nA===\n-----END A-----\n", "line 2: misplaced '='" },
        { "-----BEGIN A-----\nAAAAA\n-----END A-----\n", "base64 ends in the middle of a group" },
        { "-----BEGIN A-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END A-----\n", "line 2: PEM headers" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tls_pem pem;
        struct tls_pem_block b;
        struct lw_err err = { 0 };
        uint8_t out[64];
        size_t n;
        tls_pem_init(&pem, cases[i].text, strlen(cases[i].text));
        enum tls_pem_result r = tls_pem_next(&pem, &b, &err);
        if (r == TLS_PEM_BLOCK) {
            cr_assert_not(tls_pem_decode(&b, out, sizeof out, &n, &err), "case %zu decoded", i);
        } else {
            cr_assert_eq(r, TLS_PEM_ERROR, "case %zu", i);
        }
        cr_assert_eq(err.code, TLS_ANCHORS_E_FORMAT, "case %zu", i);
        cr_assert_not_null(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
    }
}

static struct tls_x509 x509_of(const char *name, uint8_t *der, size_t cap)
{
    size_t size;
    char *text = file_slurp(cert_path(name), &size);
    size_t der_size;
    pem_decode_one(text, der, cap, &der_size);
    free(text);
    struct tls_x509 x;
    struct lw_err err;
    cr_assert(tls_x509_parse(der, der_size, &x, &err), "%s: %s", name, err.msg);
    return x;
}

static bool bytes_eq(struct tls_bytes b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

Test(tls_x509, fields_of_the_test_certificates)
{
    uint8_t der[8192];
    struct tls_x509 x = x509_of("leaf-rsa.pem", der, sizeof der);
    cr_assert(bytes_eq(x.subject_cn, "localhost"));
    cr_assert(bytes_eq(x.issuer_cn, "lakewriter test CA"));
    cr_assert_eq(x.key_kind, TLS_KEY_RSA);
    cr_assert_eq(x.key_bits, 2048);
    cr_assert_eq(x.rsa_n.len, 256);
    cr_assert(x.rsa_n.ptr[0] != 0);
    cr_assert_eq(x.rsa_e.len, 3); /* 65537 */
    cr_assert(x.has_basic_constraints);
    cr_assert_not(x.is_ca);
    cr_assert_eq(x.dns_name_count, 2);
    cr_assert(bytes_eq(x.dns_names[0], "localhost"));
    cr_assert(bytes_eq(x.dns_names[1], "*.localhost.test"));
    cr_assert_eq(x.ip_address_count, 1);
    cr_assert_eq(x.not_after_s - x.not_before_s, 3650 * 86400);
    int64_t now = time(NULL);
    cr_assert(x.not_before_s <= now + 60 && x.not_before_s > now - 400LL * 86400);

    x = x509_of("leaf-ec.pem", der, sizeof der);
    cr_assert_eq(x.key_kind, TLS_KEY_EC);
    cr_assert_eq(x.ec_curve, BR_EC_secp256r1);
    cr_assert_eq(x.ec_q.len, 65);
    cr_assert_eq(x.ec_q.ptr[0], 0x04);
    cr_assert_str_eq(x.key_name, "EC P-256");
    cr_assert(bytes_eq(x.issuer_cn, "lakewriter test EC CA"));

    x = x509_of("ca.pem", der, sizeof der);
    cr_assert(x.is_ca);
    cr_assert_eq(x.subject_dn.len, x.issuer_dn.len);
    cr_assert_eq(memcmp(x.subject_dn.ptr, x.issuer_dn.ptr, x.subject_dn.len), 0);
    cr_assert_eq(x.subject_dn.ptr[0], 0x30, "the DN keeps its SEQUENCE header");

    x = x509_of("leaf-expired.pem", der, sizeof der);
    char t[40];
    cr_assert_str_eq(tls_format_time(x.not_before_s, t, sizeof t), "2020-01-01 00:00:00 UTC");
    cr_assert_str_eq(tls_format_time(x.not_after_s, t, sizeof t), "2021-01-01 00:00:00 UTC");

    x = x509_of("ed25519-ca.pem", der, sizeof der);
    cr_assert_eq(x.key_kind, TLS_KEY_UNSUPPORTED);
    cr_assert_str_eq(x.key_name, "Ed25519");

    /* GeneralizedTime (after 2049). */
    size_t n;
    pem_decode_one(embedded_pem, der, sizeof der, &n);
    struct lw_err err;
    cr_assert(tls_x509_parse(der, n, &x, &err), "%s", err.msg);
    cr_assert_str_eq(tls_format_time(x.not_after_s, t, sizeof t), "2126-11-01 12:08:19 UTC");
}

Test(tls_x509, truncations_and_trailing_bytes_are_errors)
{
    uint8_t der[8192];
    struct tls_x509 x = x509_of("leaf-rsa.pem", der, sizeof der);
    (void)x;
    size_t size = (size_t)(der[2] << 8 | der[3]) + 4; /* 30 82 LL LL */
    struct lw_err err;
    for (size_t cut = 0; cut < size; cut++) {
        cr_assert_not(tls_x509_parse(der, cut, &x, &err), "a certificate cut at %zu parsed", cut);
        cr_assert_eq(err.code, TLS_ANCHORS_E_FORMAT);
        cr_assert_null(x.subject_dn.ptr);
    }
    der[size] = 0;
    cr_assert_not(tls_x509_parse(der, size + 1, &x, &err));
    cr_assert(tls_x509_parse(der, size, &x, &err));
}

Test(tls_x509, format_time)
{
    char t[40];
    cr_assert_str_eq(tls_format_time(0, t, sizeof t), "1970-01-01 00:00:00 UTC");
    cr_assert_str_eq(tls_format_time(-1, t, sizeof t), "1969-12-31 23:59:59 UTC");
    cr_assert_str_eq(tls_format_time(951782400, t, sizeof t), "2000-02-29 00:00:00 UTC");
    cr_assert_str_eq(tls_format_time(4102444799LL, t, sizeof t), "2099-12-31 23:59:59 UTC");
}

/* My reader against BearSSL's br_x509_decoder, certificate by certificate. */
struct dn_buf {
    uint8_t data[4096];
    size_t len;
};

static void dn_append(void *ctx, const void *buf, size_t len)
{
    struct dn_buf *d = ctx;
    cr_assert(d->len + len <= sizeof d->data);
    memcpy(d->data + d->len, buf, len);
    d->len += len;
}

static bool uint_eq(const unsigned char *a, size_t alen, struct tls_bytes b)
{
    while (alen > 0 && *a == 0) {
        a++;
        alen--;
    }
    return alen == b.len && memcmp(a, b.ptr, alen) == 0;
}

/* Compares every certificate of a PEM file; returns how many. */
static size_t compare_with_bearssl(const char *path)
{
    size_t size;
    char *text = file_slurp(path, &size);
    struct tls_pem pem;
    struct tls_pem_block block;
    struct lw_err err;
    static uint8_t der[TLS_CERT_DER_MAX_BYTES];
    size_t count = 0;
    tls_pem_init(&pem, text, size);
    enum tls_pem_result r;
    while ((r = tls_pem_next(&pem, &block, &err)) == TLS_PEM_BLOCK) {
        if (strcmp(block.label, "CERTIFICATE") != 0) continue;
        size_t n;
        cr_assert(tls_pem_decode(&block, der, sizeof der, &n, &err), "%s:%u: %s", path, block.line_begin, err.msg);
        struct tls_x509 x;
        cr_assert(tls_x509_parse(der, n, &x, &err), "%s:%u: %s", path, block.line_begin, err.msg);
        br_x509_decoder_context dc;
        struct dn_buf dn = { .len = 0 };
        br_x509_decoder_init(&dc, dn_append, &dn);
        br_x509_decoder_push(&dc, der, n);
        const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
        const char *where = path;
        if (pk == NULL) {
            /* BearSSL refuses it: my reader must call the key unsupported too. */
            cr_assert_eq(x.key_kind, TLS_KEY_UNSUPPORTED, "%s:%u: BearSSL error %d but key %s", where,
                         block.line_begin, br_x509_decoder_last_error(&dc), x.key_name);
            count++;
            continue;
        }
        cr_assert_eq(dn.len, x.subject_dn.len, "%s:%u: DN length", where, block.line_begin);
        cr_assert_eq(memcmp(dn.data, x.subject_dn.ptr, dn.len), 0, "%s:%u: DN bytes", where, block.line_begin);
        cr_assert_eq(br_x509_decoder_isCA(&dc) != 0, x.is_ca, "%s:%u: isCA", where, block.line_begin);
        cr_assert_eq((int64_t)dc.notbefore_days * 86400 + dc.notbefore_seconds - 719528LL * 86400, x.not_before_s,
                     "%s:%u: notBefore", where, block.line_begin);
        cr_assert_eq((int64_t)dc.notafter_days * 86400 + dc.notafter_seconds - 719528LL * 86400, x.not_after_s,
                     "%s:%u: notAfter", where, block.line_begin);
        if (pk->key_type == BR_KEYTYPE_RSA) {
            if (x.key_kind == TLS_KEY_UNSUPPORTED) {
                cr_assert_gt(x.key_bits, TLS_ANCHORS_RSA_BITS_MAX, "%s:%u", where, block.line_begin);
            } else {
                cr_assert_eq(x.key_kind, TLS_KEY_RSA, "%s:%u", where, block.line_begin);
                cr_assert(uint_eq(pk->key.rsa.n, pk->key.rsa.nlen, x.rsa_n), "%s:%u: n", where, block.line_begin);
                cr_assert(uint_eq(pk->key.rsa.e, pk->key.rsa.elen, x.rsa_e), "%s:%u: e", where, block.line_begin);
            }
        } else {
            cr_assert_eq(pk->key_type, BR_KEYTYPE_EC);
            if (x.key_kind == TLS_KEY_EC) {
                cr_assert_eq(pk->key.ec.curve, x.ec_curve, "%s:%u: curve", where, block.line_begin);
                cr_assert_eq(pk->key.ec.qlen, x.ec_q.len);
                cr_assert_eq(memcmp(pk->key.ec.q, x.ec_q.ptr, x.ec_q.len), 0);
            } else {
                /* BearSSL decodes any named curve and any point encoding; the
                 * anchors keep only what its ECDSA can verify with. */
                bool known = pk->key.ec.curve == BR_EC_secp256r1 || pk->key.ec.curve == BR_EC_secp384r1 ||
                             pk->key.ec.curve == BR_EC_secp521r1;
                bool compressed = pk->key.ec.qlen > 0 && pk->key.ec.q[0] != 0x04;
                cr_assert(!known || compressed, "%s:%u: a usable EC key called unsupported", where,
                          block.line_begin);
            }
        }
        count++;
    }
    cr_assert_eq(r, TLS_PEM_END, "%s: %s", path, err.msg);
    free(text);
    return count;
}

Test(tls_x509, same_fields_as_bearssl_decoder)
{
    static const char *names[] = { "ca.pem", "ca-ec.pem", "int.pem", "other-ca.pem", "ed25519-ca.pem", "odd-keys.pem",
                                   "leaf-rsa.pem", "leaf-ec.pem", "leaf-int-chain.pem", "leaf-wrong.pem",
                                   "leaf-expired.pem", "leaf-other.pem" };
    size_t total = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) total += compare_with_bearssl(cert_path(names[i]));
    cr_assert_eq(total, 18);
    /* The system bundle, when the machine has one: ~150 real roots. */
    if (access(TLS_ANCHORS_SYSTEM_FILE, R_OK) == 0) {
        size_t n = compare_with_bearssl(TLS_ANCHORS_SYSTEM_FILE);
        cr_assert_gt(n, 50);
    }
}

/* ------------------------------------------------------------------------- */
/* Trust anchors */

Test(tls_anchors, bundle_of_two)
{
    struct tls_anchors a;
    struct lw_err err;
    cr_assert(tls_anchors_load_file(&a, cert_path("bundle.pem"), &err), "%s", err.msg);
    cr_assert_eq(a.count, 2);
    cr_assert_eq(a.skipped_key_count, 0);
    cr_assert_eq(a.skipped_block_count, 0);
    cr_assert_str_eq(a.source, cert_path("bundle.pem"));
    cr_assert_eq(a.items[0].pkey.key_type, BR_KEYTYPE_RSA);
    cr_assert_eq(a.items[1].pkey.key_type, BR_KEYTYPE_EC);
    cr_assert_eq(a.items[1].pkey.key.ec.curve, BR_EC_secp256r1);
    cr_assert_eq(a.items[0].flags, BR_X509_TA_CA);
    cr_assert_eq(a.items[1].flags, BR_X509_TA_CA);
    /* Owned: the DN lives in the anchors' memory, not in a file buffer. */
    cr_assert((uint8_t *)a.items[0].dn.data > (uint8_t *)a.memory);
    tls_anchors_free(&a);
    cr_assert_null(a.memory);
    cr_assert_eq(a.count, 0);
}

Test(tls_anchors, junk_between_blocks_and_skips)
{
    size_t n1, n2, n3, n4;
    char *ca = file_slurp(cert_path("ca.pem"), &n1);
    char *ed = file_slurp(cert_path("ed25519-ca.pem"), &n2);
    char *key = file_slurp(cert_path("ca.key"), &n3);
    char *ec = file_slurp(cert_path("ca-ec.pem"), &n4);
    size_t cap = n1 + n2 + n3 + n4 + 512;
    char *text = malloc(cap);
    snprintf(text, cap, "# a bundle with everything\nSubject: whatever\n\n%s\nrandom words -----\n%s%s\r\n\r\n%s"
             "trailing junk without newline", ca, ed, key, ec);
    struct tls_anchors a;
    struct lw_err err;
    cr_assert(tls_anchors_load_pem(&a, text, strlen(text), "mixed.pem", &err), "%s", err.msg);
    cr_assert_eq(a.count, 2);
    cr_assert_eq(a.skipped_key_count, 1, "the Ed25519 CA is skipped");
    cr_assert_eq(a.skipped_block_count, 1, "the private key block is skipped");
    cr_assert_str_eq(a.source, "mixed.pem");
    tls_anchors_free(&a);
    free(text);
    free(ca);
    free(ed);
    free(key);
    free(ec);
}

Test(tls_anchors, key_types_kept_and_skipped)
{
    size_t size;
    char *text = file_slurp(cert_path("odd-keys.pem"), &size);
    static const char *want[] = { "EC P-384", "EC P-521", "RSA", "RSASSA-PSS",
                                  "EC on a curve other than P-256, P-384, P-521",
                                  "EC with a compressed or malformed point" };
    struct tls_pem pem;
    struct tls_pem_block block;
    struct lw_err err;
    static uint8_t der[8192];
    tls_pem_init(&pem, text, size);
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(tls_pem_next(&pem, &block, &err), TLS_PEM_BLOCK, "%s", err.msg);
        size_t n;
        struct tls_x509 x;
        cr_assert(tls_pem_decode(&block, der, sizeof der, &n, &err), "%s", err.msg);
        cr_assert(tls_x509_parse(der, n, &x, &err), "%s", err.msg);
        cr_assert_str_eq(x.key_name, want[i]);
        cr_assert_eq(x.key_kind == TLS_KEY_UNSUPPORTED, i >= 3, "certificate %zu", i);
        if (i == 2) cr_assert_not(x.has_basic_constraints, "the v1 root has no extensions");
    }
    struct tls_anchors a;
    cr_assert(tls_anchors_load_pem(&a, text, size, "odd-keys.pem", &err), "%s", err.msg);
    cr_assert_eq(a.count, 3);
    cr_assert_eq(a.skipped_key_count, 3);
    cr_assert_eq(a.items[0].pkey.key.ec.curve, BR_EC_secp384r1);
    cr_assert_eq(a.items[0].pkey.key.ec.qlen, 97);
    cr_assert_eq(a.items[1].pkey.key.ec.curve, BR_EC_secp521r1);
    cr_assert_eq(a.items[1].pkey.key.ec.qlen, 133);
    cr_assert_eq(a.items[2].pkey.key_type, BR_KEYTYPE_RSA);
    cr_assert_eq(a.items[2].flags, BR_X509_TA_CA, "a v1 root still issues");
    tls_anchors_free(&a);
    free(text);
}

Test(tls_anchors, empty_unusable_missing_and_broken)
{
    struct tls_anchors a;
    struct lw_err err;
    cr_assert_not(tls_anchors_load_pem(&a, "", 0, "empty.pem", &err));
    cr_assert_eq(err.code, TLS_ANCHORS_E_EMPTY);
    cr_assert_str_eq(err.msg, "empty.pem: no certificate found (expected '-----BEGIN CERTIFICATE-----' blocks)");
    cr_assert_eq(a.count, 0);
    tls_anchors_free(&a);

    size_t n;
    char *ed = file_slurp(cert_path("ed25519-ca.pem"), &n);
    cr_assert_not(tls_anchors_load_pem(&a, ed, n, "ed.pem", &err));
    cr_assert_eq(err.code, TLS_ANCHORS_E_EMPTY);
    cr_assert_not_null(strstr(err.msg, "ed.pem: none of its 1 certificates has a key BearSSL can use"), "%s", err.msg);
    free(ed);

    cr_assert_not(tls_anchors_load_file(&a, "tmp/tls-test/no-such-bundle.pem", &err));
    cr_assert_eq(err.code, TLS_ANCHORS_E_READ);
    cr_assert_str_eq(err.msg, "CA bundle tmp/tls-test/no-such-bundle.pem: cannot open: No such file or directory");
    cr_assert_not(tls_anchors_load_file(&a, "tests", &err));
    cr_assert_eq(err.code, TLS_ANCHORS_E_READ);
    cr_assert_not_null(strstr(err.msg, "not a regular file"));

    /* A file: the message names it and the line. */
    char path[] = "tmp/tls-test/broken-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    char *ca = file_slurp(cert_path("ca.pem"), &n);
    cr_assert_eq(write(fd, ca, n), (ssize_t)n);
    const char *bad = "\n-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n";
    cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    cr_assert_not(tls_anchors_load_file(&a, path, &err));
    unlink(path);
    cr_assert_eq(err.code, TLS_ANCHORS_E_FORMAT);
    char want[128];
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += ca[i] == '\n';
    snprintf(want, sizeof want, "CA bundle %s:%d: certificate 2: not a DER certificate", path, lines + 2);
    cr_assert_not_null(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
    free(ca);
}

Test(tls_anchors, embedded_and_config_order)
{
    size_t n;
    const uint8_t *pem = tls_anchors_embedded(&n);
    cr_assert_not_null(pem, "the test binary defines lw_embedded_ca_pem");
    cr_assert_eq(n, strlen(embedded_pem));
    cr_assert_eq(memcmp(pem, embedded_pem, n), 0);
    struct tls_anchors a;
    struct lw_err err;
    cr_assert(tls_anchors_load_config(&a, "", &err), "%s", err.msg);
    cr_assert_str_eq(a.source, "the embedded CA bundle");
    cr_assert_eq(a.count, 1);
    cr_assert_eq(a.items[0].pkey.key_type, BR_KEYTYPE_EC);
    tls_anchors_free(&a);
    cr_assert(tls_anchors_load_config(&a, cert_path("bundle.pem"), &err), "%s", err.msg);
    cr_assert_eq(a.count, 2, "ca_file wins over the embedded bundle");
    tls_anchors_free(&a);
}

Test(tls_anchors, system_bundle_loads)
{
    if (access(TLS_ANCHORS_SYSTEM_FILE, R_OK) != 0) cr_skip_test("no system bundle here");
    struct tls_anchors a;
    struct lw_err err;
    cr_assert(tls_anchors_load_file(&a, TLS_ANCHORS_SYSTEM_FILE, &err), "%s", err.msg);
    cr_assert_gt(a.count, 50);
    cr_log_info("system bundle: %zu anchors, %zu skipped keys", a.count, a.skipped_key_count);
    tls_anchors_free(&a);
}

/* ------------------------------------------------------------------------- */
/* Connections */

TestSuite(tls_conn, .init = fixture_start, .fini = fixture_stop, .timeout = 60);

Test(tls_conn, echo_rsa)
{
    struct peer p = peer_start("echo", "leaf-rsa", 1, NULL);
    connect_ok(p.port);
    uint16_t suite = tls_cipher_suite(&fx.conn);
    cr_assert(suite == BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 || suite == BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 ||
                  suite == BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
              "suite 0x%04x", suite);
    cr_assert_not(tls_resumed(&fx.conn));
    send_all("ping", 4);
    uint8_t buf[8];
    recv_exact(buf, 4, sizeof buf);
    cr_assert_eq(memcmp(buf, "ping", 4), 0);
    close_ok();
    peer_stop(&p);
}

Test(tls_conn, echo_ecdsa)
{
    struct peer p = peer_start("echo", "leaf-ec", 1, NULL);
    connect_ok(p.port);
    uint16_t suite = tls_cipher_suite(&fx.conn);
    cr_assert(suite == BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 || suite == BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 ||
                  suite == BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
              "suite 0x%04x", suite);
    send_all("hello ecdsa", 11);
    uint8_t buf[16];
    recv_exact(buf, 11, sizeof buf);
    cr_assert_eq(memcmp(buf, "hello ecdsa", 11), 0);
    close_ok();
    peer_stop(&p);
}

Test(tls_conn, chain_through_an_intermediate)
{
    struct peer p = peer_start("echo", "leaf-int", 1, NULL);
    connect_ok(p.port);
    send_all("x", 1);
    uint8_t b;
    recv_exact(&b, 1, 1);
    cr_assert_eq(b, 'x');
    close_ok();
    peer_stop(&p);
}

/* Full duplex: a large send while the echo comes back. */
struct duplex {
    uint8_t *out, *in;
    size_t size, got, biggest;
    int recv_calls, done, failures;
    char msg[LW_ERR_MSG_MAX];
};

static void duplex_recv_fn(struct tls_conn *conn, void *context, size_t size_bytes, const struct lw_err *err);

static void duplex_recv_next(struct tls_conn *conn, struct duplex *d)
{
    size_t cap = d->size - d->got < 65536 ? d->size - d->got : 65536;
    tls_recv(conn, d->in + d->got, cap, loop_now_ms(conn->loop) + 20000, duplex_recv_fn, d);
}

static void duplex_recv_fn(struct tls_conn *conn, void *context, size_t size_bytes, const struct lw_err *err)
{
    struct duplex *d = context;
    d->recv_calls++;
    if (err != NULL) {
        d->failures++;
        snprintf(d->msg, sizeof d->msg, "%s", err->msg);
        d->done++;
        return;
    }
    d->got += size_bytes;
    if (size_bytes > d->biggest) d->biggest = size_bytes;
    if (d->got == d->size) {
        d->done++;
        return;
    }
    duplex_recv_next(conn, d);
}

static void duplex_send_fn(struct tls_conn *conn, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)conn;
    struct duplex *d = context;
    if (err != NULL) {
        d->failures++;
        snprintf(d->msg, sizeof d->msg, "%s", err->msg);
    } else {
        cr_assert_eq(size_bytes, d->size);
    }
    d->done++;
}

Test(tls_conn, large_payload_full_duplex)
{
    struct peer p = peer_start("echo", "leaf-rsa", 1, NULL);
    connect_ok(p.port);
    struct duplex d = { .size = 6u << 20 };
    d.out = malloc(d.size);
    d.in = malloc(d.size);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < d.size; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        d.out[i] = (uint8_t)s;
    }
    int64_t t0 = test_ms();
    tls_send(&fx.conn, d.out, d.size, loop_now_ms(&fx.loop) + 60000, duplex_send_fn, &d);
    duplex_recv_next(&fx.conn, &d);
    run_until(&fx.loop, &d.done, 2);
    cr_assert_eq(d.failures, 0, "%s", d.msg);
    cr_assert_eq(d.got, d.size);
    cr_assert_eq(memcmp(d.in, d.out, d.size), 0, "the echo differs");
    /* The server sends 16 KiB records: one recv takes one whole record's plaintext. */
    cr_assert_eq(d.biggest, 16384, "largest piece %zu", d.biggest);
    cr_log_info("6 MiB echoed over TLS in %lld ms, %d recvs", (long long)(test_ms() - t0), d.recv_calls);
    free(d.out);
    free(d.in);
    close_ok();
    peer_stop(&p);
}

Test(tls_conn, partial_delivery_into_small_buffers)
{
    struct peer p = peer_start("echo", "leaf-ec", 1, NULL);
    connect_ok(p.port);
    uint8_t out[3000], in[3000];
    for (size_t i = 0; i < sizeof out; i++) out[i] = (uint8_t)(i * 7 + 1);
    send_all(out, sizeof out);
    recv_exact(in, sizeof in, 7); /* at most 7 bytes per recv: records are split */
    cr_assert_eq(memcmp(in, out, sizeof out), 0);
    /* Several sends, then one recv that may gather only up to a record. */
    send_all("a", 1);
    send_all("bc", 2);
    uint8_t buf[3];
    recv_exact(buf, 3, 3);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    close_ok();
    peer_stop(&p);
}

Test(tls_conn, recv_timeout_keeps_the_session)
{
    struct peer p = peer_start("echo", "leaf-rsa", 1, NULL);
    connect_ok(p.port);
    uint8_t buf[4];
    struct result r = recv_once(buf, sizeof buf, 100);
    cr_assert(r.failed);
    cr_assert_eq(r.code, LOOP_E_TIMED_OUT, "%s", r.msg);
    cr_assert_not(tls_error_is_permanent(r.code));
    send_all("ok", 2);
    recv_exact(buf, 2, sizeof buf);
    cr_assert_eq(memcmp(buf, "ok", 2), 0);
    close_ok();
    peer_stop(&p);
}

Test(tls_conn, unknown_ca)
{
    struct result r = handshake_fails("echo", "leaf-other", TLS_E_UNTRUSTED);
    cr_assert_not_null(strstr(r.msg, "not trusted by the CA bundle"), "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, cert_path("bundle.pem")), "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "issued by 'other test CA'"), "%s", r.msg);
    cr_assert(tls_error_is_permanent(r.code));
}

Test(tls_conn, wrong_host_name)
{
    struct result r = handshake_fails("echo", "leaf-wrong", TLS_E_NAME_MISMATCH);
    cr_assert_not_null(strstr(r.msg, "not valid for the name 'localhost' (it is for: wrong.example)"), "%s", r.msg);
}

Test(tls_conn, expired_certificate)
{
    struct result r = handshake_fails("echo", "leaf-expired", TLS_E_EXPIRED);
    cr_assert_not_null(strstr(r.msg, "the server's certificate 'localhost' has expired"), "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "valid from 2020-01-01 00:00:00 UTC to 2021-01-01 00:00:00 UTC"), "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "validation time"), "%s", r.msg);
}

/* A wall clock in 2000: the certificates are not valid yet. Time comes from the
 * loop, not from BearSSL's time(). */
static void clock_in_2000(void *context, int64_t *monotonic_ms, int64_t *wall_ms)
{
    (void)context;
    *monotonic_ms = test_ms();
    *wall_ms = 946684800000LL + 12 * 3600 * 1000LL; /* 2000-01-01 12:00:00 UTC */
}

Test(tls_conn, not_yet_valid_by_the_loop_clock)
{
    loop_set_clock(&fx.loop, clock_in_2000, NULL);
    struct result r = handshake_fails("echo", "leaf-rsa", TLS_E_EXPIRED);
    cr_assert_not_null(strstr(r.msg, "'localhost' is not valid yet"), "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "validation time 2000-01-01 12:00:00 UTC"), "%s", r.msg);
}

Test(tls_conn, plain_http_on_the_tls_port)
{
    struct result r = handshake_fails("http", NULL, TLS_E_NOT_TLS);
    cr_assert_not_null(strstr(r.msg, "did not answer with TLS (is it http://"), "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "\"HTTP/1.1 400 Bad Request\""), "%s", r.msg);
}

Test(tls_conn, server_hangs_up_after_client_hello)
{
    struct result r = handshake_fails("hangup", NULL, LOOP_E_CLOSED);
    cr_assert_not_null(strstr(r.msg, "closed the connection without answering"), "%s", r.msg);
}

Test(tls_conn, server_hangs_up_mid_handshake)
{
    struct result r = handshake_fails("half", NULL, LOOP_E_CLOSED);
    cr_assert_not_null(strstr(r.msg, "in the middle of the handshake"), "%s", r.msg);
}

Test(tls_conn, handshake_deadline_with_a_silent_server)
{
    struct peer p = peer_start("silent", NULL, 1, NULL);
    int64_t t0 = loop_now_ms(&fx.loop);
    struct result r = tls_connect_wait("localhost", p.port, NULL, 300);
    cr_assert(r.failed);
    cr_assert_eq(r.code, LOOP_E_TIMED_OUT, "%s", r.msg);
    cr_assert_geq(loop_now_ms(&fx.loop) - t0, 300);
    cr_assert_not_null(strstr(r.msg, "timed out after"), "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "said nothing"), "%s", r.msg);
    cr_assert_eq(tls_state(&fx.conn), TLS_IDLE);
    peer_stop(&p);
}

Test(tls_conn, tls13_only_server)
{
    struct result r = handshake_fails("tls13", "leaf-rsa", TLS_E_VERSION);
    cr_assert_not_null(strstr(r.msg, "refused TLS 1.2"), "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "TLS 1.3"), "%s", r.msg);
}

Test(tls_conn, no_common_cipher_suite)
{
    struct result r = handshake_fails("rsa-cbc", "leaf-rsa", TLS_E_NO_SUITE);
    cr_assert_not_null(strstr(r.msg, "supports no TLS 1.2 ECDHE+AEAD suite"), "%s", r.msg);
}

Test(tls_conn, clean_close_versus_truncation)
{
    uint8_t buf[64];
    struct peer p = peer_start("notify", "leaf-rsa", 1, "bye");
    connect_ok(p.port);
    recv_exact(buf, 3, sizeof buf);
    cr_assert_eq(memcmp(buf, "bye", 3), 0);
    struct result r = recv_once(buf, sizeof buf, 10000);
    cr_assert(r.failed);
    cr_assert_eq(r.code, LOOP_E_CLOSED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "close_notify"), "%s", r.msg);
    close_ok();
    peer_stop(&p);

    p = peer_start("truncate", "leaf-rsa", 1, "cut");
    connect_ok(p.port);
    recv_exact(buf, 3, sizeof buf);
    cr_assert_eq(memcmp(buf, "cut", 3), 0);
    r = recv_once(buf, sizeof buf, 10000);
    cr_assert(r.failed);
    cr_assert_eq(r.code, TLS_E_TRUNCATED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "without a TLS close_notify"), "%s", r.msg);
    /* The session is dead: the next operations fail the same way, from the loop. */
    r = recv_once(buf, sizeof buf, 10000);
    cr_assert_eq(r.code, TLS_E_TRUNCATED);
    struct result s = { 0 };
    tls_send(&fx.conn, "x", 1, loop_now_ms(&fx.loop) + 1000, result_fn, &s);
    cr_assert_eq(s.calls, 0);
    run_until(&fx.loop, &s.calls, 1);
    cr_assert_eq(s.code, TLS_E_TRUNCATED);
    close_ok();
    peer_stop(&p);
}

Test(tls_conn, ip_address_names)
{
    /* An IP address cannot be checked against DNS names: refused, from the loop. */
    struct result r = tls_connect_wait("127.0.0.1", 1, NULL, 1000);
    cr_assert(r.failed);
    cr_assert_eq(r.code, TLS_E_HOST, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "'127.0.0.1' is an IP address"), "%s", r.msg);
    cr_assert_eq(tls_state(&fx.conn), TLS_IDLE);
    r = tls_connect_wait("[::1]", 1, NULL, 1000);
    cr_assert_eq(r.code, TLS_E_HOST, "%s", r.msg);
    /* Connecting to an address while verifying a name works. */
    struct peer p = peer_start("echo", "leaf-rsa", 1, NULL);
    r = tls_connect_wait("127.0.0.1", p.port, "localhost", 10000);
    cr_assert_not(r.failed, "%s", r.msg);
    close_ok();
    peer_stop(&p);
}

static bool random_fails(void *context, void *buf, size_t size_bytes)
{
    (void)context;
    (void)buf;
    (void)size_bytes;
    return false;
}

Test(tls_conn, entropy_comes_from_the_loop)
{
    struct peer p = peer_start("echo", "leaf-rsa", 1, NULL);
    loop_set_random(&fx.loop, random_fails, NULL);
    struct result r = tls_connect_wait("localhost", p.port, NULL, 10000);
    cr_assert(r.failed);
    cr_assert_eq(r.code, TLS_E_NO_RANDOM, "%s", r.msg);
    cr_assert_eq(tls_state(&fx.conn), TLS_IDLE);
    loop_set_random(&fx.loop, NULL, NULL);
    peer_stop(&p);
    /* The same peer program again, with the real source and a final dot in the name. */
    p = peer_start("echo", "leaf-rsa", 1, NULL);
    r = tls_connect_wait("localhost", p.port, "localhost.", 10000);
    cr_assert_not(r.failed, "%s", r.msg);
    cr_assert_str_eq(fx.conn.server_name, "localhost");
    close_ok();
    peer_stop(&p);
}

/* Reads the peer's "resumed=N ..." line. */
static void tell_line(char *line, size_t cap)
{
    size_t n = 0;
    while (n == 0 || line[n - 1] != '\n') {
        cr_assert(n < cap - 1);
        struct result r = recv_once((uint8_t *)line + n, cap - 1 - n, 10000);
        cr_assert_not(r.failed, "%s", r.msg);
        n += r.size_bytes;
    }
    line[n] = '\0';
}

Test(tls_conn, session_resumption_on_reconnect)
{
    struct peer p = peer_start("tell", "leaf-rsa", 3, NULL);
    char line[128];
    connect_ok(p.port);
    tell_line(line, sizeof line);
    cr_assert_not_null(strstr(line, "resumed=0"), "%s", line);
    cr_assert_not_null(strstr(line, "version=TLSv1.2"), "%s", line);
    cr_assert_not(tls_resumed(&fx.conn));
    close_ok();

    connect_ok(p.port);
    tell_line(line, sizeof line);
    cr_assert_not_null(strstr(line, "resumed=1"), "%s", line);
    cr_assert(tls_resumed(&fx.conn));
    send_all("still works", 11);
    uint8_t buf[16];
    recv_exact(buf, 11, sizeof buf);
    cr_assert_eq(memcmp(buf, "still works", 11), 0);
    close_ok();

    /* The session belongs to the server name and port, not to the address. */
    struct result r = tls_connect_wait("127.0.0.1", p.port, "localhost", 10000);
    cr_assert_not(r.failed, "%s", r.msg);
    tell_line(line, sizeof line);
    cr_assert(tls_resumed(&fx.conn), "same server name and port: resumed (%s)", line);
    close_ok();
    peer_stop(&p);
}

static int close_order_next;

struct ordered {
    struct result r;
    int order;
};

static void ordered_fn(struct tls_conn *conn, void *context, size_t size_bytes, const struct lw_err *err)
{
    struct ordered *o = context;
    o->order = ++close_order_next;
    result_fn(conn, &o->r, size_bytes, err);
}

Test(tls_conn, close_during_handshake)
{
    struct peer p = peer_start("silent", NULL, 1, NULL);
    struct ordered c = { 0 }, k = { 0 };
    tls_connect(&fx.conn, "localhost", p.port, NULL, loop_now_ms(&fx.loop) + 10000, ordered_fn, &c);
    /* Let TCP connect and the ClientHello go out, then close. */
    int64_t end = test_ms() + 10000;
    while (!fx.conn.handshaking && test_ms() < end) loop_run_once(&fx.loop, 20);
    cr_assert(fx.conn.handshaking, "TCP never connected");
    tls_close(&fx.conn, ordered_fn, &k);
    run_until(&fx.loop, &k.r.calls, 1);
    cr_assert_eq(c.r.calls, 1);
    cr_assert_eq(c.r.code, LOOP_E_CANCELED, "%s", c.r.msg);
    cr_assert_lt(c.order, k.order, "the connect callback comes before the close callback");
    cr_assert_not(k.r.failed);
    cr_assert_eq(tls_state(&fx.conn), TLS_IDLE);
    peer_stop(&p);

    /* Close while the TCP connect itself is pending: same order. */
    c = (struct ordered){ 0 };
    k = (struct ordered){ 0 };
    p = peer_start("echo", "leaf-rsa", 1, NULL);
    tls_connect(&fx.conn, "localhost", p.port, NULL, loop_now_ms(&fx.loop) + 10000, ordered_fn, &c);
    tls_close(&fx.conn, ordered_fn, &k);
    run_until(&fx.loop, &k.r.calls, 1);
    cr_assert_eq(c.r.calls, 1);
    cr_assert_eq(c.r.code, LOOP_E_CANCELED, "%s", c.r.msg);
    cr_assert_lt(c.order, k.order);
    peer_stop(&p);
}

Test(tls_conn, close_cancels_a_pending_recv)
{
    struct peer p = peer_start("echo", "leaf-rsa", 1, NULL);
    connect_ok(p.port);
    uint8_t buf[8];
    struct ordered rv = { 0 }, k = { 0 };
    tls_recv(&fx.conn, buf, sizeof buf, loop_now_ms(&fx.loop) + 10000, ordered_fn, &rv);
    loop_run_once(&fx.loop, 10);
    tls_close(&fx.conn, ordered_fn, &k);
    run_until(&fx.loop, &k.r.calls, 1);
    cr_assert_eq(rv.r.calls, 1);
    cr_assert_eq(rv.r.code, LOOP_E_CANCELED, "%s", rv.r.msg);
    cr_assert_lt(rv.order, k.order);
    peer_stop(&p);
}

struct net_result {
    int calls;
    size_t size_bytes;
    int code;
};

static void net_result_fn(struct net_conn *conn, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)conn;
    struct net_result *r = context;
    r->calls++;
    r->size_bytes = size_bytes;
    r->code = err != NULL ? err->code : 0;
}

/* PostgreSQL's way: plain TCP first (SSLRequest, 'S'), then TLS on the same socket. */
Test(tls_conn, starttls_after_a_plain_exchange)
{
    struct peer p = peer_start("starttls", "leaf-ec", 1, NULL);
    struct net_conn *net = tls_net(&fx.conn);
    struct net_result nr = { 0 };
    net_connect(net, "localhost", p.port, loop_now_ms(&fx.loop) + 10000, net_result_fn, &nr);
    run_until(&fx.loop, &nr.calls, 1);
    cr_assert_eq(nr.code, 0);
    static const uint8_t ssl_request[8] = { 0, 0, 0, 8, 4, 210, 22, 47 };
    nr = (struct net_result){ 0 };
    net_send(net, ssl_request, sizeof ssl_request, loop_now_ms(&fx.loop) + 10000, net_result_fn, &nr);
    run_until(&fx.loop, &nr.calls, 1);
    cr_assert_eq(nr.code, 0);
    uint8_t answer = 0;
    nr = (struct net_result){ 0 };
    net_recv(net, &answer, 1, loop_now_ms(&fx.loop) + 10000, net_result_fn, &nr);
    run_until(&fx.loop, &nr.calls, 1);
    cr_assert_eq(nr.code, 0);
    cr_assert_eq(answer, 'S');

    struct result r = { 0 };
    tls_handshake(&fx.conn, "localhost", loop_now_ms(&fx.loop) + 10000, result_fn, &r);
    cr_assert_eq(r.calls, 0);
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_not(r.failed, "%s", r.msg);
    cr_assert_eq(tls_state(&fx.conn), TLS_READY);
    send_all("select 1", 8);
    uint8_t buf[8];
    recv_exact(buf, 8, sizeof buf);
    cr_assert_eq(memcmp(buf, "select 1", 8), 0);
    close_ok();
    peer_stop(&p);

    /* A name that cannot be checked: the socket is closed and the error reported. */
    p = peer_start("starttls", "leaf-ec", 1, NULL);
    nr = (struct net_result){ 0 };
    net_connect(net, "localhost", p.port, loop_now_ms(&fx.loop) + 10000, net_result_fn, &nr);
    run_until(&fx.loop, &nr.calls, 1);
    r = (struct result){ 0 };
    tls_handshake(&fx.conn, "127.0.0.1", loop_now_ms(&fx.loop) + 10000, result_fn, &r);
    cr_assert_eq(r.calls, 0);
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_eq(r.code, TLS_E_HOST, "%s", r.msg);
    cr_assert_eq(net_state(net), NET_IDLE);
    peer_stop(&p);
}

/* ------------------------------------------------------------------------- */
/* Transport */

struct tresult {
    int calls;
    size_t size_bytes;
    int code;
    char msg[LW_ERR_MSG_MAX];
};

static void tresult_fn(struct tls_transport *t, void *context, size_t size_bytes, const struct lw_err *err)
{
    (void)t;
    struct tresult *r = context;
    r->calls++;
    r->size_bytes = size_bytes;
    r->code = err != NULL ? err->code : 0;
    snprintf(r->msg, sizeof r->msg, "%s", err != NULL ? err->msg : "");
}

/* The same exchange over any transport. */
static void transport_exchange(struct tls_transport *t, uint16_t port)
{
    struct tresult r = { 0 };
    tls_transport_connect(t, "localhost", port, loop_now_ms(&fx.loop) + 10000, tresult_fn, &r);
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_eq(r.code, 0, "%s", r.msg);
    cr_assert(tls_transport_ready(t));
    char peer[32];
    snprintf(peer, sizeof peer, "localhost:%u", (unsigned)port);
    cr_assert_str_eq(tls_transport_peer(t), peer);
    r = (struct tresult){ 0 };
    tls_transport_send(t, "GET / HTTP/1.1\r\n", 16, loop_now_ms(&fx.loop) + 10000, tresult_fn, &r);
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_eq(r.code, 0, "%s", r.msg);
    cr_assert_eq(r.size_bytes, 16);
    char in[16];
    size_t got = 0;
    while (got < 16) {
        r = (struct tresult){ 0 };
        tls_transport_recv(t, in + got, 16 - got, loop_now_ms(&fx.loop) + 10000, tresult_fn, &r);
        run_until(&fx.loop, &r.calls, 1);
        cr_assert_eq(r.code, 0, "%s", r.msg);
        got += r.size_bytes;
    }
    cr_assert_eq(memcmp(in, "GET / HTTP/1.1\r\n", 16), 0);
    r = (struct tresult){ 0 };
    tls_transport_close(t, tresult_fn, &r);
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_eq(r.code, 0);
    cr_assert_not(tls_transport_ready(t));
}

Test(tls_conn, transport_tls_and_plain)
{
    static struct tls_transport t;
    struct peer p = peer_start("echo", "leaf-ec", 1, NULL);
    tls_transport_init(&t, &fx.loop, true, &fx.anchors);
    transport_exchange(&t, p.port);
    peer_stop(&p);

    p = peer_start("plain-echo", NULL, 1, NULL);
    tls_transport_init(&t, &fx.loop, false, NULL);
    transport_exchange(&t, p.port);
    peer_stop(&p);

    /* A TLS transport against the plain server: refused with the TLS message. */
    p = peer_start("http", NULL, 1, NULL);
    tls_transport_init(&t, &fx.loop, true, &fx.anchors);
    struct tresult r = { 0 };
    tls_transport_connect(&t, "localhost", p.port, loop_now_ms(&fx.loop) + 10000, tresult_fn, &r);
    run_until(&fx.loop, &r.calls, 1);
    cr_assert_eq(r.code, TLS_E_NOT_TLS, "%s", r.msg);
    peer_stop(&p);
}
