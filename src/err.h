/* err: errors as values, with a message a user can act on.
 *
 * A function that can fail returns false (or a negative count) and fills a
 * caller-owned `struct lw_err`: a code for the program and a message for the
 * user that names what was wrong and where ("config.toml:12: tables.orders:
 * unknown type 'decimel(10,2)'"). Messages never contain secrets. */
#ifndef LW_ERR_H
#define LW_ERR_H

#include <stdbool.h>

enum { LW_ERR_MSG_MAX = 512 };

struct lw_err {
    int code;                   /* 0 = no error; otherwise module-defined */
    char msg[LW_ERR_MSG_MAX];   /* NUL-terminated, truncated if longer */
};

/* Sets `e` (when not NULL) to `code` and the formatted message; returns false so
 * that callers can write `return lw_err_set(e, ...)`. */
bool lw_err_set(struct lw_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message of `e` with the formatted text and ": ". Returns false. */
bool lw_err_wrap(struct lw_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears `e`. */
void lw_err_clear(struct lw_err *e);

#endif
