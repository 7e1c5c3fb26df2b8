/* cli/train_model.c: the network of a `convnet train` / `convnet search`
 * configuration: a built-in model, or a model text file (.cnm, e.g. the zoo's
 * models/resnet20.cnm) read with the data's input shape and class count as the
 * defaults of its params and --params as overrides, checked against the data. */
#include <stdio.h>
#include <string.h>

#include "train_config.h"

#define TM_MAX_PARAMS 64

static void msgf(char *msg, size_t cap, const char *text)
{
    snprintf(msg, cap, "%s", text);
}

/* Split "a=1, b=2" at commas into at most TM_MAX_PARAMS trimmed words in buf
 * (modified); empty words are skipped. Returns the count, or -1 when too many. */
static int split_params(char *buf, const char **out)
{
    int n = 0;
    for (char *p = buf; *p;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        while (*p == ' ' || *p == '\t') p++;
        char *end = p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
        if (*p) {
            if (n == TM_MAX_PARAMS) return -1;
            out[n++] = p;
        }
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

/* The file's network must read spec's images and predict spec->classes values. */
static int check_against_data(const cli_train_cfg *c, cn_model *m, const cn_builtin_spec *s,
                              char *msg, size_t cap)
{
    const cn_attrs *a = cn_model_node_attrs(m, cn_model_input_node(m, 0));
    int ic = 0, ih = 1, iw = 1;
    if (a && (a->ndim == 1 || a->ndim == 3)) {
        ic = a->shape[0];
        ih = a->ndim == 3 ? a->shape[1] : 1;
        iw = a->ndim == 3 ? a->shape[2] : 1;
    }
    if (cn_model_num_inputs(m) != 1 || ic != s->c || ih != s->h || iw != s->w) {
        snprintf(msg, cap, "%s: the network's input is not the data's %dx%dx%d images (give "
                 "the file `param c`, `param h` and `param w` for its input shape, or set "
                 "them with --params)", c->model_file, s->c, s->h, s->w);
        return -1;
    }
    cn_error err;
    cn_compile_opts o = {.batch = 1, .training = 0};
    if (cn_model_compile(m, &o, &err) != CN_OK) {
        snprintf(msg, cap, "%s: %s", c->model_file, err.msg);
        return -1;
    }
    int nd, shape[CN_MAX_DIMS];
    long long k = 1;
    if (cn_model_node_shape(m, cn_model_output(m), &nd, shape, &err) != CN_OK) nd = 0, k = 0;
    for (int i = 0; i < nd; i++) k *= shape[i];
    if (k != s->classes) {
        snprintf(msg, cap, "%s: the network predicts %lld values (node '%s') but the data has "
                 "%d classes (give the file `param classes`, or set it with --params)",
                 c->model_file, k, cn_model_node_name(m, cn_model_output(m)), s->classes);
        return -1;
    }
    return 0;
}

cn_model *cli_tc_build(const cli_train_cfg *c, const cn_builtin_spec *spec, char **text,
                       int *usage, char *msg, size_t cap)
{
    cn_error err;
    cn_error_clear(&err);
    if (text) *text = NULL;
    *usage = 0;
    if (!c->model_file[0]) {
        cn_model *m = cn_builtin_build(spec, &err);
        if (!m) {
            msgf(msg, cap, err.msg);
            *usage = err.code == CN_ERR_ARG;
        }
        return m;
    }
    char defs[4][48];
    snprintf(defs[0], sizeof defs[0], "c=%d", spec->c);
    snprintf(defs[1], sizeof defs[1], "h=%d", spec->h);
    snprintf(defs[2], sizeof defs[2], "w=%d", spec->w);
    snprintf(defs[3], sizeof defs[3], "classes=%d", spec->classes);
    const char *dp[4] = {defs[0], defs[1], defs[2], defs[3]};
    char buf[CLI_TC_STR];
    const char *ov[TM_MAX_PARAMS];
    snprintf(buf, sizeof buf, "%s", c->params);
    int n = split_params(buf, ov);
    if (n < 0) {
        snprintf(msg, cap, "params: more than %d values", TM_MAX_PARAMS);
        *usage = 1;
        return NULL;
    }
    cn_model_text_opts o = {.overrides = ov, .n_overrides = n, .defaults = dp, .n_defaults = 4};
    cn_model *m = cn_model_load_text(c->model_file, &o, &err);
    if (!m) {
        msgf(msg, cap, err.msg);
        *usage = err.code != CN_ERR_IO && err.code != CN_ERR_NOMEM;
        return NULL;
    }
    if (check_against_data(c, m, spec, msg, cap) != 0) {
        *usage = 1;
        cn_model_free(m);
        return NULL;
    }
    if (text && !(*text = cn_model_print(m, &err))) {
        msgf(msg, cap, err.msg);
        cn_model_free(m);
        return NULL;
    }
    return m;
}
