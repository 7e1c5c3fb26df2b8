/* status.c: status names, error messages (cn_error) and the always-on assertion. */
#include "convnet/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[CN_STATUS_COUNT] = {
    [CN_OK] = "ok",
    [CN_ERR_ARG] = "invalid argument",
    [CN_ERR_NOMEM] = "out of memory",
    [CN_ERR_IO] = "i/o error",
    [CN_ERR_FORMAT] = "format error",
    [CN_ERR_RANGE] = "out of range",
    [CN_ERR_SHAPE] = "shape mismatch",
    [CN_ERR_UNSUPPORTED] = "unsupported",
    [CN_ERR_NUMERIC] = "numeric error",
};

const char *cn_status_name(cn_status s)
{
    if ((int)s < 0 || s >= CN_STATUS_COUNT) return "unknown status";
    return status_names[s];
}

void cn_error_clear(cn_error *err)
{
    if (!err) return;
    err->code = CN_OK;
    err->msg[0] = '\0';
}

cn_status cn_error_set(cn_error *err, cn_status code, const char *fmt, ...)
{
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

cn_status cn_error_prefix(cn_error *err, const char *fmt, ...)
{
    if (!err) return CN_OK;
    char prefix[CN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* err->msg = prefix + err->msg, truncated to fit. */
    size_t plen = strlen(prefix);
    size_t mlen = strnlen(err->msg, sizeof err->msg - 1);
    if (plen > sizeof err->msg - 1) plen = sizeof err->msg - 1;
    if (plen + mlen > sizeof err->msg - 1) mlen = sizeof err->msg - 1 - plen;
    memmove(err->msg + plen, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen + mlen] = '\0';
    return err->code;
}

void cn_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "convnet: internal assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort(); /* CN_ASSERT: programmer errors only */
}
