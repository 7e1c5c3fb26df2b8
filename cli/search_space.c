/* cli/search_space.c: the search space of `convnet search`: parsing --space
 * against the run-configuration keys and printing dimensions and values (see
 * search_space.h). */
#include "search_space.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"

static const char *const SCALE_NAMES[] = {"log", "linear", "int"};

/* v as a configuration value of dimension d. */
void cli_space_value_text(const cn_search_dim *d, double v, char *buf, size_t cap)
{
    if (d->scale == CN_SEARCH_INT)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.17g", v);
}

/* v for a table cell. */
void cli_space_value_cell(const cn_search_dim *d, double v, char *buf, size_t cap)
{
    if (d->scale == CN_SEARCH_INT)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.3g", v);
}

/* Keys a search may not vary: they decide the data, the stage or nothing trained. */
static int not_searchable(const char *key)
{
    static const char *const no[] = {"epochs", "seed",    "val",     "train_limit",
                                     "test_limit", "threads", "checkpoint_every", "monitor",
                                     "data",   "out"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (!strcmp(key, no[i])) return 1;
    return 0;
}

/* Can every value of d be set on (a copy of) base? 0, or -1 with msg. */
static int check_dim(const cli_train_cfg *base, const cn_search_dim *d, char *msg, size_t cap)
{
    cli_train_cfg c = *base;
    char v[64], sub[512];
    double probes[3] = {d->lo, d->hi, d->lo + 0.37 * (d->hi - d->lo)};
    int np = d->scale == CN_SEARCH_INT ? 2 : 3;
    for (int i = 0; i < np; i++) {
        cli_space_value_text(d, probes[i], v, sizeof v);
        if (cli_tc_set(&c, d->name, v, sub, sizeof sub) == 0) continue;
        char iv[64];
        snprintf(iv, sizeof iv, "%.0f", floor(probes[i]));
        if (i == 2 && cli_tc_set(&c, d->name, iv, sub, sizeof sub) == 0)
            snprintf(msg, cap, "'%s' takes integers: use %s=%g:%g:int", d->name, d->name, d->lo,
                     d->hi);
        else
            snprintf(msg, cap, "%s=%g:%g: %s", d->name, d->lo, d->hi, sub);
        return -1;
    }
    return 0;
}

/* Parse text into dims (*n). Explicit spaces must be fully valid; in the default
 * space, dimensions the model lacks are left out (said on p). Returns 0 or
 * CLI_EXIT_USAGE. */
int cli_space_parse(const char *text, int is_default, const cli_train_cfg *base,
                       cli_progress *p, cn_search_dim *dims, int *n)
{
    *n = 0;
    const char *s = text;
    char tok[256], msg[600];
    while (1) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0)
            return cli_usage_error("search", "--space '%s': empty dimension", text);
        if (len >= sizeof tok)
            return cli_usage_error("search", "--space: dimension '%.*s' is too long", (int)len, s);
        memcpy(tok, s, len);
        tok[len] = '\0';
        cn_search_dim d;
        cn_error err;
        cn_error_clear(&err);
        if (cn_search_dim_parse(tok, &d, &err) != CN_OK)
            return cli_usage_error("search", "--space: %s", err.msg);
        for (char *q = d.name; *q; q++)
            if (*q == '-') *q = '_';
        if (!cli_tc_is_key(d.name)) {
            cli_train_cfg probe = *base;
            cli_tc_set(&probe, d.name, "", msg, sizeof msg);
            return cli_usage_error("search", "--space: '%s' is not a configuration key: %s",
                                   d.name, msg);
        }
        if (not_searchable(d.name))
            return cli_usage_error("search", "--space: '%s' cannot be searched (it is set by "
                                             "the search itself or decides the data)", d.name);
        for (int i = 0; i < *n; i++)
            if (!strcmp(dims[i].name, d.name))
                return cli_usage_error("search", "--space: '%s' appears twice", d.name);
        if (check_dim(base, &d, msg, sizeof msg) != 0) {
            if (!is_default) return cli_usage_error("search", "--space: %s", msg);
            cli_progress_stage(p, "not searching %s (%s)", d.name, msg);
        } else {
            if (*n >= CN_SEARCH_MAX_DIMS)
                return cli_usage_error("search", "--space: more than %d dimensions",
                                       CN_SEARCH_MAX_DIMS);
            dims[(*n)++] = d;
        }
        if (!comma) break;
        s = comma + 1;
    }
    if (*n == 0) return cli_usage_error("search", "--space: nothing to search");
    return 0;
}

json_t *cli_space_json(const cn_search_dim *dims, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:f, s:f, s:s}", "name", dims[i].name, "lo",
                                           dims[i].lo, "hi", dims[i].hi, "scale",
                                           SCALE_NAMES[dims[i].scale]));
    return a;
}

/* "lr=0.001:0.1:log, dropout=0:0.5:linear" into buf. */
void cli_space_text(const cn_search_dim *dims, int n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s=%.3g:%.3g:%s", i ? ", " : "",
                                 dims[i].name, dims[i].lo, dims[i].hi,
                                 SCALE_NAMES[dims[i].scale]);
}