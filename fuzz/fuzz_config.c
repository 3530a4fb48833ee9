// fuzz-sources: src/config.c src/toml.c src/schema.c src/util.c src/log.c src/err.c
/* Arbitrary bytes as a config file: through the TOML parser, the whole loader
 * (with an environment and flags that take part in every check) and the dump.
 * Checks what must hold for any input: the parse ends, every node is reachable
 * in order with consistent links, counts and lines, every report line is one line, and
 * no secret appears in a report or in the dump. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "config.h"
#include "toml.h"

#define SECRET "fuzz-SECRET-9f1c"

static bool fuzz_read(void *ctx, const char *path, char *buf, size_t cap, size_t *len, struct lw_err *e)
{
    (void)ctx;
    if (strcmp(path, "/secret") != 0) return lw_err_set(e, 1, "cannot read '%s'", path);
    size_t n = strlen(SECRET "\n");
    if (n > cap) n = cap;
    memcpy(buf, SECRET "\n", n);
    *len = n;
    return true;
}

/* Walks the whole tree in file order by parent pointers (no recursion, no stack),
 * checking links, counts, lines and strings. */
static void check_tree(const struct toml_doc *doc, size_t size)
{
    const struct toml_node *root = toml_root(doc);
    const struct toml_node *n = root;
    size_t nodes = 0;
    for (;;) {
        size_t count = 0;
        for (const struct toml_node *c = n->child; c != NULL; c = c->next) {
            count++;
            if (c->parent != n) abort();
        }
        if (count != n->count) abort();
        if (n != root) {
            nodes++;
            if (n->line == 0 || n->line > size + 1) abort();
            if (n->type == TOML_STRING && (n->str == NULL || strlen(n->str) != n->str_len)) abort();
        }
        if (n->child != NULL) {
            n = n->child;
            continue;
        }
        while (n != root && n->next == NULL) n = n->parent;
        if (n == root) break;
        n = n->next;
    }
    if (nodes > TOML_NODES_MAX + 1) abort();
    for (size_t i = 0; i < toml_error_count(doc); i++) {
        const struct toml_error *e = toml_error_at(doc, i);
        if (e->line == 0 || e->line > size + 1 || (i > 0 && e->line < toml_error_at(doc, i - 1)->line)) abort();
    }
}

LW_FUZZ_ENTRY(config)
{
    struct lw_err e = { 0 };
    struct toml_doc *doc = toml_parse((const char *)data, size, &e);
    if (doc == NULL) return 0;
    check_tree(doc, size);
    toml_free(doc);

    static const char *const env[] = { "AWS_ACCESS_KEY_ID=AKIDFUZZ", "AWS_SECRET_ACCESS_KEY_FILE=/secret",
                                       "REDIS_PASSWORD=" SECRET, "AWS_SESSION_TOKEN=" SECRET, NULL };
    static const struct config_flag_value flags[] = { { "--prefix", "fuzz" } };
    struct config_input in = {
        .file_name = "fuzz.toml", .file_text = (const char *)data, .file_len = size, .env = env,
        .flags = flags, .flag_count = 1, .hostname = "fuzz-host", .read_file = fuzz_read,
    };
    static struct config cfg;
    static struct config_report rep;
    config_load(&in, &cfg, &rep);
    /* Text the file itself holds may be quoted back (an unknown key, say): the
     * secret check is meaningful only when the input does not contain it. */
    bool secret_in_input = memmem(data, size, SECRET, strlen(SECRET)) != NULL;
    for (size_t i = 0; i < rep.count; i++) {
        if (strchr(rep.items[i].text, '\n') != NULL) abort();
        if (!secret_in_input && strstr(rep.items[i].text, SECRET) != NULL) abort();
    }
    if (rep.count > CONFIG_PROBLEMS_MAX || rep.errors + rep.warnings < rep.count) abort();
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f != NULL) {
        config_print(&cfg, f);
        fclose(f);
        if (out != NULL && !secret_in_input && strstr(out, SECRET) != NULL) abort();
        free(out);
    }
    config_free(&cfg);
    return 0;
}
