#include "pq_mem.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void *libc_realloc(void *ctx, void *ptr, size_t old_bytes, size_t new_bytes)
{
    (void)ctx;
    (void)old_bytes;
    if (new_bytes == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_bytes);
}

void pq_mem_init(struct pq_mem *m, pq_realloc_fn fn, void *ctx, size_t limit_bytes)
{
    assert(m != NULL);
    m->fn = fn != NULL ? fn : libc_realloc;
    m->ctx = ctx;
    m->used_bytes = 0;
    m->peak_bytes = 0;
    m->limit_bytes = limit_bytes;
}

void *pq_mem_realloc(struct pq_mem *m, void *ptr, size_t old_bytes, size_t new_bytes)
{
    assert(m != NULL && m->fn != NULL);
    assert(ptr != NULL || old_bytes == 0);
    assert(old_bytes <= m->used_bytes);
    if (new_bytes == 0) {
        if (ptr != NULL) m->fn(m->ctx, ptr, old_bytes, 0);
        m->used_bytes -= old_bytes;
        return NULL;
    }
    if (new_bytes > old_bytes && m->limit_bytes != 0 &&
        (m->used_bytes >= m->limit_bytes ||
         new_bytes - old_bytes > m->limit_bytes - m->used_bytes))
        return NULL;
    void *p = m->fn(m->ctx, ptr, old_bytes, new_bytes);
    if (p == NULL) return NULL;
    m->used_bytes = m->used_bytes - old_bytes + new_bytes;
    if (m->used_bytes > m->peak_bytes) m->peak_bytes = m->used_bytes;
    return p;
}

void pq_mem_free(struct pq_mem *m, void *ptr, size_t bytes)
{
    if (ptr == NULL) return;
    pq_mem_realloc(m, ptr, bytes, 0);
}

bool pq_err_set(struct pq_err *e, enum pq_code code, const char *fmt, ...)
{
    if (e == NULL) return false;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

void pq_err_clear(struct pq_err *e)
{
    if (e == NULL) return;
    e->code = PQ_OK;
    e->msg[0] = '\0';
}
