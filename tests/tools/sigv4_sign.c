/* sigv4_sign: signs requests read from stdin with s3/sigv4 (S3 mode), one per line,
 * for the differential test against botocore (tests/integration/test_sigv4_botocore.py).
 *
 * Input line: space-separated fields NAME=VALUE, every VALUE hex-encoded (so keys
 * with any byte, tokens and header values pass unharmed):
 *   m=<method> h=<host> p=<raw path> r=<region> k=<key id> s=<secret> x=<unix seconds, decimal>
 *   [t=<session token>] [ph=<payload hash>] [b=<body>]
 *   [q=<name>:<value>]...  [hd=<name>:<value>]...
 * Output line: "OK <target> <amz-date> <content-sha256> <authorization>" separated by
 * tabs, or "ERR <status> <message>". One signing-key cache serves every line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/sigv4.h"

enum { LINE_MAX_BYTES = 1 << 20, FIELD_MAX = 64 };

static struct s3_sigv4 sig;
static struct s3_sigv4_key cache;
static char line[LINE_MAX_BYTES];

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex in place (NUL-terminated); returns the length or -1. */
static long unhex(char *s, size_t n)
{
    if (n % 2 != 0) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int a = hexval(s[2 * i]), b = hexval(s[2 * i + 1]);
        if (a < 0 || b < 0) return -1;
        s[i] = (char)(a * 16 + b);
    }
    s[n / 2] = '\0';
    return (long)(n / 2);
}

/* Splits "hexname:hexvalue" into two decoded strings. */
static int pair(char *v, const char **name, const char **value)
{
    char *colon = strchr(v, ':');
    if (colon == NULL) return -1;
    *colon = '\0';
    if (unhex(v, strlen(v)) < 0 || unhex(colon + 1, strlen(colon + 1)) < 0) return -1;
    *name = v;
    *value = colon + 1;
    return 0;
}

static int sign_line(char *text)
{
    struct s3_credentials cred = {NULL, NULL, NULL};
    struct s3_sigv4_param query[FIELD_MAX];
    struct s3_sigv4_header headers[FIELD_MAX];
    struct s3_sigv4_input in = {.cred = &cred, .mode = S3_SIGV4_MODE_S3, .query = query,
                                .headers = headers};
    char *save = NULL;
    for (char *f = strtok_r(text, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(f, '=');
        if (eq == NULL) return -1;
        *eq = '\0';
        char *v = eq + 1;
        if (strcmp(f, "q") == 0) {
            if (in.query_count == FIELD_MAX || pair(v, &query[in.query_count].name, &query[in.query_count].value))
                return -1;
            in.query_count++;
            continue;
        }
        if (strcmp(f, "hd") == 0) {
            if (in.header_count == FIELD_MAX || pair(v, &headers[in.header_count].name, &headers[in.header_count].value))
                return -1;
            in.header_count++;
            continue;
        }
        long n = unhex(v, strlen(v));
        if (n < 0) return -1;
        if (strcmp(f, "m") == 0) in.method = v;
        else if (strcmp(f, "h") == 0) in.host = v;
        else if (strcmp(f, "p") == 0) in.path = (const uint8_t *)v, in.path_len = (size_t)n;
        else if (strcmp(f, "r") == 0) in.region = v;
        else if (strcmp(f, "k") == 0) cred.access_key_id = v;
        else if (strcmp(f, "s") == 0) cred.secret_access_key = v;
        else if (strcmp(f, "t") == 0) cred.session_token = v;
        else if (strcmp(f, "ph") == 0) in.payload_hash = v;
        else if (strcmp(f, "b") == 0) in.body = v, in.body_len = (size_t)n;
        else if (strcmp(f, "x") == 0) in.unix_seconds = strtoll(v, NULL, 10);
        else return -1;
    }
    enum s3_sigv4_status st = s3_sigv4_sign(&sig, &in, &cache);
    if (st != S3_SIGV4_OK) {
        printf("ERR\t%d\t%s\n", (int)st, sig.err);
        return 0;
    }
    printf("OK\t%s\t%s\t%s\t%s\n", sig.target, sig.amz_date, sig.content_sha256, sig.authorization);
    return 0;
}

int main(void)
{
    size_t count = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
        if (n == 0) continue;
        count++;
        if (sign_line(line) != 0) {
            fprintf(stderr, "sigv4_sign: line %zu: malformed input\n", count);
            return 2;
        }
    }
    return 0;
}
