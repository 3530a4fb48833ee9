/* Replays each fuzz harness's seed corpus (fuzz/corpus/<name>/) as a unit test, so
 * that every input that once found a bug keeps being checked under ASan+UBSan. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"

enum { HARNESS_MAX = 32 };

static struct {
    const char *name;
    lw_fuzz_fn fn;
} harnesses[HARNESS_MAX];
static size_t harness_count;

void lw_fuzz_register(const char *name, lw_fuzz_fn fn)
{
    if (harness_count == HARNESS_MAX) abort();
    harnesses[harness_count].name = name;
    harnesses[harness_count].fn = fn;
    harness_count++;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            unsigned char *grown = realloc(buf, cap * 2);
            if (grown == NULL) free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    *size = len;
    return buf;
}

/* Runs every file of one corpus directory; returns how many were run. */
static size_t replay(const char *name, lw_fuzz_fn fn)
{
    char dir[512];
    snprintf(dir, sizeof dir, "fuzz/corpus/%s", name);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "harness '%s' has no seed corpus in %s", name, dir);
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t size = 0;
        unsigned char *data = read_all(path, &size);
        cr_assert_not_null(data, "cannot read %s", path);
        fn(data, size);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

Test(fuzz_corpus, every_harness_replays_its_seeds)
{
    for (size_t i = 0; i < harness_count; i++) {
        size_t n = replay(harnesses[i].name, harnesses[i].fn);
        cr_expect_gt(n, 0, "harness '%s': empty seed corpus", harnesses[i].name);
    }
}
