/* log.c: levelled logging to an explicit stream (stderr in the CLI) and the
 * progress-callback helper. No global logger: callers pass a cn_logger. */
#include "convnet/core.h"

#include <string.h>

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void cn_log(const cn_logger *lg, cn_log_level lvl, const char *fmt, ...)
{
    if (!lg || !lg->stream || lvl < lg->level || lvl >= CN_LOG_OFF) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(lg->stream, "[%s] %s\n", level_names[lvl], line);
}

cn_status cn_log_level_parse(const char *s, cn_log_level *out, cn_error *err)
{
    for (int i = 0; s && i <= (int)CN_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (cn_log_level)i;
            return CN_OK;
        }
    }
    return cn_error_set(err, CN_ERR_ARG,
                        "log level '%s' unknown (expected debug, info, warn, error or off)",
                        s ? s : "(null)");
}

int cn_progress_report(const cn_progress *p, const char *stage, size_t done, size_t total)
{
    if (!p || !p->fn) return 0;
    return p->fn(p->ctx, stage, done, total);
}
