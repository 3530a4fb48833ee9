#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool lw_err_set(struct lw_err *e, int code, const char *fmt, ...)
{
    if (e == NULL) return false;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

bool lw_err_wrap(struct lw_err *e, const char *fmt, ...)
{
    if (e == NULL) return false;
    char prefix[LW_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[LW_ERR_MSG_MAX];
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
    return false;
}

void lw_err_clear(struct lw_err *e)
{
    if (e == NULL) return;
    e->code = 0;
    e->msg[0] = '\0';
}
