/* pq_mem: the memory budget and the error values of the Parquet encoder.
 *
 * The encoder never calls malloc itself: every byte it holds is obtained through
 * a caller-owned `struct pq_mem`, which forwards to the caller's allocator,
 * counts the live bytes and refuses to go over `limit_bytes`. One pq_mem can be
 * shared by every batch and writer of a process (single-threaded use only), so
 * it doubles as the global limit on buffered bytes.
 *
 * Errors are values: a function that can fail returns false (or PQ_ERROR) and
 * fills a caller-owned `struct pq_err` with a code and a message that names the
 * column and the reason. */
#ifndef PQ_MEM_H
#define PQ_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The caller's allocator: like realloc, but told the old size. new_bytes == 0
 * frees `ptr` (and returns NULL); ptr == NULL allocates. */
typedef void *(*pq_realloc_fn)(void *ctx, void *ptr, size_t old_bytes, size_t new_bytes);

struct pq_mem {
    pq_realloc_fn fn;     /* NULL: the C library's realloc/free */
    void *ctx;            /* passed to fn */
    size_t used_bytes;    /* live bytes obtained through this budget */
    size_t peak_bytes;    /* high-water mark of used_bytes */
    size_t limit_bytes;   /* 0: unlimited */
};

/* Sets up a budget over `fn` (NULL for the C library) limited to `limit_bytes`
 * (0 = unlimited). */
void pq_mem_init(struct pq_mem *m, pq_realloc_fn fn, void *ctx, size_t limit_bytes);

/* Resizes `ptr` from old_bytes to new_bytes (0 frees). Returns NULL, leaving
 * `ptr` untouched, when the allocator fails or the limit would be exceeded. */
void *pq_mem_realloc(struct pq_mem *m, void *ptr, size_t old_bytes, size_t new_bytes);

/* Frees `ptr` of `bytes` bytes (NULL is fine). */
void pq_mem_free(struct pq_mem *m, void *ptr, size_t bytes);

/* Error codes. */
enum pq_code {
    PQ_OK = 0,
    PQ_E_MEMORY,   /* the memory budget or the allocator refused */
    PQ_E_SCHEMA,   /* an invalid schema or option */
    PQ_E_VALUE,    /* a value that does not fit its column */
    PQ_E_STATE,    /* an operation in the wrong state (row incomplete, ...) */
    PQ_E_LIMIT,    /* a named size limit was reached */
    PQ_E_CODEC,    /* the compressor failed */
};

enum { PQ_ERR_MSG_MAX = 256 };

struct pq_err {
    enum pq_code code;
    char msg[PQ_ERR_MSG_MAX];   /* NUL-terminated, truncated if longer */
};

/* Sets `e` (when not NULL) and returns false, so callers can
 * `return pq_err_set(e, ...)`. */
bool pq_err_set(struct pq_err *e, enum pq_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears `e`. */
void pq_err_clear(struct pq_err *e);

#endif
