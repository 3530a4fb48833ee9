#include "pq_buf.h"

enum { PQ_BUF_MIN_CAP_BYTES = 64 };

const uint64_t pq_low_bytes_mask[9] = {
    0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFF, 0xFFFFFFFFFFFF, 0xFFFFFFFFFFFFFF, ~(uint64_t)0,
};

void pq_buf_init(struct pq_buf *b, struct pq_mem *mem)
{
    assert(b != NULL && mem != NULL);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->mem = mem;
    b->failed = false;
}

void pq_buf_free(struct pq_buf *b)
{
    pq_mem_free(b->mem, b->data, b->cap);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}

bool pq_buf_reserve_slow(struct pq_buf *b, size_t extra_bytes)
{
    if (b->failed) return false;
    assert(b->len <= b->cap);
    if (extra_bytes > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra_bytes;
    if (need <= b->cap) return true;
    size_t cap = b->cap < PQ_BUF_MIN_CAP_BYTES ? PQ_BUF_MIN_CAP_BYTES : b->cap;
    while (cap < need) cap *= 2;
    uint8_t *p = pq_mem_realloc(b->mem, b->data, b->cap, cap);
    if (p == NULL && cap > need) {
        /* Near the limit: try the exact size before giving up. */
        cap = need;
        p = pq_mem_realloc(b->mem, b->data, b->cap, cap);
    }
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}
