/* cli/train_config.c: the keys of a `convnet train` run configuration, their
 * defaults, parsing from files and flags, printing, the fingerprint, and the
 * translation into the library's cn_train_config (see train_config.h). */
#include "train_config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

typedef enum tc_kind { TC_INT, TC_I64, TC_REAL, TC_STR, TC_MODEL } tc_kind;

/* One key: where it lives, its range or choices, default and meaning. */
typedef struct tc_key {
    const char *name;
    tc_kind kind;
    size_t off;                 /* into cli_train_cfg (not for TC_MODEL) */
    double lo, hi;              /* TC_INT, TC_I64, TC_REAL */
    const char *choices;        /* TC_STR: "a|b|c", or NULL for free text */
    const char *def;            /* default (TC_MODEL: from the model) */
    int fingerprinted;          /* decides the trained parameters */
    const char *help;
} tc_key;

#define OFF(f) offsetof(cli_train_cfg, f)
#define BIG 1e9

static const tc_key KEYS[] = {
    {"data", TC_STR, OFF(data), 0, 0, NULL, "/usr/share/datasets/fashion-mnist", 0,
     "dataset folder (IDX, CIFAR, image folders; format detected)"},
    {"out", TC_STR, OFF(out), 0, 0, NULL, "", 0,
     "run folder (created): config.txt, metrics.jsonl, checkpoints, model files"},
    {"hidden", TC_MODEL, 0, 0, 0, NULL, NULL, 1, "hidden widths (mlp: comma list)"},
    {"filters", TC_MODEL, 0, 0, 0, NULL, NULL, 1, "convolution filters (three-layer-convnet)"},
    {"kernel", TC_MODEL, 0, 0, 0, NULL, NULL, 1, "convolution kernel size, odd"},
    {"dropout", TC_MODEL, 0, 0, 0, NULL, NULL, 1, "dropout after hidden ReLUs (0: none)"},
    {"batchnorm", TC_MODEL, 0, 0, 0, NULL, NULL, 1, "batch norm before hidden ReLUs (0/1)"},
    {"loss", TC_MODEL, 0, 0, 0, NULL, NULL, 1, "softmax (cross-entropy) or svm (hinge)"},
    {"init_std", TC_MODEL, 0, 0, 0, NULL, NULL, 1,
     "weights N(0, init_std^2); 0: Kaiming normal"},
    {"params", TC_STR, OFF(params), 0, 0, NULL, "", 0,
     "model file (.cnm) params NAME=VALUE,... (c, h, w, classes default to the data's)"},
    {"epochs", TC_INT, OFF(epochs), 1, 1000000, NULL, "10", 1, "epochs to train"},
    {"batch", TC_INT, OFF(batch), 1, 65536, NULL, "64", 1, "mini-batch size"},
    {"val", TC_INT, OFF(val), 0, BIG, NULL, "5000", 1,
     "validation images split off the training set (stratified)"},
    {"train_limit", TC_INT, OFF(train_limit), 0, BIG, NULL, "0", 1,
     "use only the first N training images (0: all)"},
    {"test_limit", TC_INT, OFF(test_limit), 0, BIG, NULL, "0", 0,
     "evaluate only the first N test images (0: all)"},
    {"seed", TC_I64, OFF(seed), 0, 9007199254740992.0, NULL, "0", 1,
     "seed of the split, initialisation, shuffling and dropout"},
    {"norm", TC_STR, OFF(norm), 0, 0, "none|mean-image|channel|pixel", "channel", 1,
     "normalisation fitted on the training split"},
    {"augment", TC_STR, OFF(augment), 0, 0, NULL, "none", 1,
     "training augmentation (docs/data/augment.md), e.g. hflip,crop=28:2 (none: off)"},
    {"optimizer", TC_STR, OFF(optimizer), 0, 0,
     "sgd|momentum|nesterov|adagrad|adadelta|rmsprop|adam|adamw", "momentum", 1, "optimiser"},
    {"lr", TC_REAL, OFF(lr), 0, BIG, NULL, "0.01", 1, "base learning rate"},
    {"momentum", TC_REAL, OFF(momentum), 0, 0.999999, NULL, "0.9", 1,
     "momentum (momentum, nesterov, rmsprop)"},
    {"beta1", TC_REAL, OFF(beta1), 0, 0.999999, NULL, "0.9", 1, "Adam beta1"},
    {"beta2", TC_REAL, OFF(beta2), 0, 0.999999, NULL, "0.999", 1, "Adam beta2"},
    {"weight_decay", TC_REAL, OFF(weight_decay), 0, BIG, NULL, "0", 1,
     "L2 (decoupled for adamw); not on biases and norm parameters"},
    {"l1", TC_REAL, OFF(l1), 0, BIG, NULL, "0", 1, "L1 penalty (with weight_decay: elastic net)"},
    {"max_norm", TC_REAL, OFF(max_norm), 0, BIG, NULL, "0", 1,
     "max-norm constraint per unit (0: off)"},
    {"clip_norm", TC_REAL, OFF(clip_norm), 0, BIG, NULL, "0", 1,
     "clip gradients by global norm (0: off)"},
    {"clip_value", TC_REAL, OFF(clip_value), 0, BIG, NULL, "0", 1,
     "clip gradients by value (0: off)"},
    {"schedule", TC_STR, OFF(schedule), 0, 0,
     "constant|step|multistep|exp_decay|exponential|inv_time|polynomial|cosine|"
     "cosine_restarts|plateau",
     "constant", 1, "learning-rate schedule"},
    {"unit", TC_STR, OFF(unit), 0, 0, "epoch|step", "epoch", 1,
     "what the schedule counts (step_size, milestones, t_max, warmup, ...)"},
    {"step_size", TC_INT, OFF(step_size), 1, BIG, NULL, "5", 1, "step: decay every N units"},
    {"gamma", TC_REAL, OFF(gamma), 0, BIG, NULL, "0.1", 1,
     "step, multistep, exponential: the factor"},
    {"milestones", TC_STR, OFF(milestones), 0, 0, NULL, "5,8", 1,
     "multistep: units where lr *= gamma"},
    {"decay", TC_REAL, OFF(decay), 0, BIG, NULL, "0.1", 1, "exp_decay, inv_time: the rate k"},
    {"power", TC_REAL, OFF(power), 0, BIG, NULL, "1", 1, "polynomial: the power"},
    {"total", TC_INT, OFF(total), 0, BIG, NULL, "0", 1,
     "polynomial: length in units (0: the whole run)"},
    {"t_max", TC_INT, OFF(t_max), 0, BIG, NULL, "0", 1,
     "cosine: half period in units (0: the whole run)"},
    {"t0", TC_INT, OFF(t0), 1, BIG, NULL, "5", 1, "cosine_restarts: first cycle in units"},
    {"t_mult", TC_INT, OFF(t_mult), 1, 1000, NULL, "1", 1, "cosine_restarts: cycle growth"},
    {"eta_min", TC_REAL, OFF(eta_min), 0, BIG, NULL, "0", 1, "cosine: the minimum lr"},
    {"warmup", TC_INT, OFF(warmup), 0, BIG, NULL, "0", 1, "linear warm-up length in units"},
    {"warmup_start", TC_REAL, OFF(warmup_start), 1e-9, 1, NULL, "0.1", 1,
     "warm-up starts at this fraction of the lr"},
    {"plateau_mode", TC_STR, OFF(plateau_mode), 0, 0, "min|max", "min", 1,
     "plateau: watch the validation loss (min) or accuracy (max)"},
    {"factor", TC_REAL, OFF(factor), 1e-9, 0.999999, NULL, "0.1", 1, "plateau: lr *= factor"},
    {"plateau_patience", TC_INT, OFF(plateau_patience), 0, BIG, NULL, "2", 1,
     "plateau: bad epochs before reducing"},
    {"momentum_ramp", TC_STR, OFF(momentum_ramp), 0, 0, NULL, "none", 1,
     "START:END:N: momentum (Adam beta1) ramps linearly over N units, or none"},
    {"patience", TC_INT, OFF(patience), 0, BIG, NULL, "0", 1,
     "early stopping after N epochs without a better validation accuracy (0: off)"},
    {"ema", TC_REAL, OFF(ema), 0, 0.999999, NULL, "0", 1,
     "EMA (Polyak) weight averaging decay, e.g. 0.999 (0: off)"},
    {"snapshots", TC_INT, OFF(snapshots), 0, 1, NULL, "0", 1,
     "1: save a snapshot before each cosine_restarts restart"},
    {"nan_policy", TC_STR, OFF(nan_policy), 0, 0, "stop|skip", "stop", 1,
     "a NaN/Inf loss or gradient stops the run or skips the step"},
    {"checkpoint_every", TC_INT, OFF(checkpoint_every), 0, BIG, NULL, "200", 0,
     "steps between checkpoints (0: only on interruption)"},
    {"monitor", TC_INT, OFF(monitor), 0, 1, NULL, "0", 0,
     "1: activation/gradient histograms, dead ReLUs, saturation per epoch"},
    {"threads", TC_INT, OFF(threads), 0, 1024, NULL, "0", 0, "threads (0: all cores)"},
};

#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

/* key with '-' turned into '_' into buf; the index in KEYS or -1. */
static int find_key(const char *name)
{
    char buf[64];
    size_t n = strlen(name);
    if (n >= sizeof buf) return -1;
    for (size_t i = 0; i <= n; i++) buf[i] = name[i] == '-' ? '_' : name[i];
    for (int k = 0; k < NKEYS; k++)
        if (strcmp(KEYS[k].name, buf) == 0) return k;
    return -1;
}

int cli_tc_is_key(const char *name)
{
    return find_key(name) >= 0;
}

static int fail(char *msg, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* Is the model key meaningful for this model (so printed and accepted)? Model
 * files take only params; built-in models take their own keys, not params. */
static int model_key_applies(const cli_train_cfg *c, const char *key)
{
    const char *model = c->spec.name;
    if (c->model_file[0]) return !strcmp(key, "params");
    if (!strcmp(key, "params")) return 0;
    int softmax = strcmp(model, "softmax") == 0, conv = strcmp(model, "three-layer-convnet") == 0;
    int mlp = strcmp(model, "mlp") == 0;
    if (!strcmp(key, "hidden")) return !softmax;
    if (!strcmp(key, "filters") || !strcmp(key, "kernel")) return conv;
    if (!strcmp(key, "batchnorm") || !strcmp(key, "dropout")) return conv || mlp;
    return 1;
}

static int set_key(cli_train_cfg *c, int k, const char *value, char *msg, size_t cap)
{
    const tc_key *K = &KEYS[k];
    char *base = (char *)c;
    char *end;
    errno = 0;
    switch (K->kind) {
    case TC_INT:
    case TC_I64: {
        long long v = strtoll(value, &end, 10);
        if (!value[0] || *end || errno || v < K->lo || v > K->hi)
            return fail(msg, cap, "%s: '%s' is not an integer in [%.0f, %.0f]", K->name, value,
                        K->lo, K->hi);
        if (K->kind == TC_INT)
            *(int *)(base + K->off) = (int)v;
        else
            *(long long *)(base + K->off) = v;
        break;
    }
    case TC_REAL: {
        double v = strtod(value, &end);
        if (!value[0] || *end || errno || !isfinite(v) || v < K->lo || v > K->hi)
            return fail(msg, cap, "%s: '%s' is not a number in [%g, %g]", K->name, value, K->lo,
                        K->hi);
        *(double *)(base + K->off) = v;
        break;
    }
    case TC_STR: {
        if (!strcmp(K->name, "params") && !model_key_applies(c, K->name) && value[0])
            return fail(msg, cap, "params: only model files (.cnm) have params; built-in "
                        "model '%s' takes its own keys (convnet help train)", c->spec.name);
        if (strlen(value) >= CLI_TC_STR)
            return fail(msg, cap, "%s: value too long (%zu bytes)", K->name, strlen(value));
        if (K->choices) {
            size_t n = strlen(value);
            const char *p = K->choices;
            int ok = 0;
            while (*p && !ok) {
                const char *bar = strchr(p, '|');
                size_t len = bar ? (size_t)(bar - p) : strlen(p);
                ok = len == n && strncmp(p, value, n) == 0;
                p = bar ? bar + 1 : p + len;
            }
            if (!ok)
                return fail(msg, cap, "%s: '%s' is not one of %s", K->name, value, K->choices);
        }
        strcpy(base + K->off, value);
        break;
    }
    case TC_MODEL: {
        if (!model_key_applies(c, K->name))
            return fail(msg, cap, "%s: not an option of model '%s'%s", K->name,
                        c->model_file[0] ? c->model_file : c->spec.name,
                        c->model_file[0] ? " (set the file's params with --params)" : "");
        cn_error err;
        cn_error_clear(&err);
        if (cn_builtin_set(&c->spec, K->name, value, &err) != CN_OK)
            return fail(msg, cap, "%s", err.msg);
        break;
    }
    }
    return 0;
}

int cli_tc_set(cli_train_cfg *c, const char *key, const char *value, char *msg, size_t cap)
{
    int k = find_key(key);
    if (k < 0) {
        const char *names[NKEYS];
        for (int i = 0; i < NKEYS; i++) names[i] = KEYS[i].name;
        return fail(msg, cap, "unknown key '%s' (did you mean '%s'?)", key,
                    cli_nearest(key, names, NKEYS));
    }
    if (set_key(c, k, value, msg, cap) != 0) return -1;
    c->given[k] = 1;
    return 0;
}

int cli_tc_model_is_file(const char *model)
{
    size_t n = strlen(model);
    return strchr(model, '/') != NULL || (n > 4 && !strcmp(model + n - 4, ".cnm"));
}

int cli_tc_default(cli_train_cfg *c, const char *model, char *msg, size_t cap)
{
    memset(c, 0, sizeof *c);
    cn_error err;
    cn_error_clear(&err);
    if (cli_tc_model_is_file(model)) {
        if (strlen(model) >= sizeof c->model_file)
            return fail(msg, cap, "model file name too long (%zu bytes)", strlen(model));
        strcpy(c->model_file, model);
        const char *slash = strrchr(model, '/'), *stem = slash ? slash + 1 : model;
        size_t n = strlen(stem);
        if (n > 4 && !strcmp(stem + n - 4, ".cnm")) n -= 4;
        if (n >= sizeof c->spec.name) n = sizeof c->spec.name - 1;
        for (size_t i = 0; i < n; i++) /* a model file's name is one word */
            c->spec.name[i] = (stem[i] == ' ' || stem[i] == '\t') ? '_' : stem[i];
    } else if (cn_builtin_spec_default(model, &c->spec, &err) != CN_OK) {
        return fail(msg, cap, "%s (or a model file such as models/resnet20.cnm)", err.msg);
    }
    for (int k = 0; k < NKEYS; k++)
        if (KEYS[k].kind != TC_MODEL && set_key(c, k, KEYS[k].def, msg, cap) != 0) return -1;
    return 0;
}

/* The value of key k as text (what print writes); "" for model keys that do not
 * apply. */
static void key_value(const cli_train_cfg *c, int k, char *buf, size_t cap)
{
    const tc_key *K = &KEYS[k];
    const char *base = (const char *)c;
    const cn_builtin_spec *s = &c->spec;
    buf[0] = '\0';
    switch (K->kind) {
    case TC_INT: snprintf(buf, cap, "%d", *(const int *)(base + K->off)); break;
    case TC_I64: snprintf(buf, cap, "%lld", *(const long long *)(base + K->off)); break;
    case TC_REAL: snprintf(buf, cap, "%.17g", *(const double *)(base + K->off)); break;
    case TC_STR: snprintf(buf, cap, "%s", base + K->off); break;
    case TC_MODEL:
        if (!model_key_applies(c, K->name)) return;
        if (!strcmp(K->name, "hidden")) {
            size_t used = 0;
            for (int i = 0; i < s->n_hidden && used < cap; i++)
                used += (size_t)snprintf(buf + used, cap - used, "%s%d", i ? "," : "",
                                         s->hidden[i]);
        } else if (!strcmp(K->name, "filters")) {
            snprintf(buf, cap, "%d", s->filters);
        } else if (!strcmp(K->name, "kernel")) {
            snprintf(buf, cap, "%d", s->kernel);
        } else if (!strcmp(K->name, "dropout")) {
            snprintf(buf, cap, "%.17g", s->dropout);
        } else if (!strcmp(K->name, "batchnorm")) {
            snprintf(buf, cap, "%d", s->batchnorm);
        } else if (!strcmp(K->name, "loss")) {
            snprintf(buf, cap, "%s", s->loss == CN_BUILTIN_SVM ? "svm" : "softmax");
        } else {
            snprintf(buf, cap, "%.17g", s->init_std);
        }
        break;
    }
}

void cli_tc_print(const cli_train_cfg *c, FILE *f)
{
    char v[CLI_TC_STR + 64];
    fprintf(f, "# convnet train configuration\nmodel = %s\n",
            c->model_file[0] ? c->model_file : c->spec.name);
    for (int k = 0; k < NKEYS; k++) {
        if ((KEYS[k].kind == TC_MODEL || !strcmp(KEYS[k].name, "params")) &&
            !model_key_applies(c, KEYS[k].name))
            continue;
        key_value(c, k, v, sizeof v);
        fprintf(f, "%s = %s%s\n", KEYS[k].name, v, c->given[k] ? "" : "  # default");
    }
}

uint64_t cli_tc_fingerprint(const cli_train_cfg *c)
{
    char v[CLI_TC_STR + 64];
    /* a model file is identified by the network built from it (mixed in by the
     * caller), not by its path */
    const char *id = c->model_file[0] ? "model file" : c->spec.name;
    uint64_t h = cn_fingerprint64(id, strlen(id), 0);
    for (int k = 0; k < NKEYS; k++) {
        if (!KEYS[k].fingerprinted || (KEYS[k].kind == TC_MODEL && c->model_file[0])) continue;
        key_value(c, k, v, sizeof v);
        h = cn_fingerprint64(KEYS[k].name, strlen(KEYS[k].name) + 1, h);
        h = cn_fingerprint64(v, strlen(v) + 1, h);
    }
    return h;
}

static int in_list(const char *key, const char *const *list, int n)
{
    for (int k = 0; k < n; k++)
        if (!strcmp(key, list[k])) return 1;
    return 0;
}

int cli_tc_apply_flags(int argc, char **argv, const char *cmd, const char *const *bools,
                       int n_bools, const char *const *values, int n_values, cli_train_cfg *c)
{
    char msg[512], key[64];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) continue;
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t kl = eq ? (size_t)(eq - name) : strlen(name);
        if (kl >= sizeof key) return cli_usage_error(cmd, "unknown flag '%s'", a);
        for (size_t j = 0; j < kl; j++) key[j] = name[j] == '_' ? '-' : name[j];
        key[kl] = '\0';
        if (in_list(key, bools, n_bools)) continue;
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        if (!val) return cli_usage_error(cmd, "--%s needs a value", key);
        if (!eq) i++;
        if (in_list(key, values, n_values)) continue;
        if (cli_tc_set(c, key, val, msg, sizeof msg) != 0)
            return cli_usage_error(cmd, "--%s: %s", key, msg);
    }
    return 0;
}

/* Strip spaces and tabs at both ends of s[0..n) in place; returns the start. */
static char *trim(char *s, size_t *col)
{
    while (*s == ' ' || *s == '\t') {
        s++;
        (*col)++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

int cli_tc_load_file(cli_train_cfg *c, const char *path, char *msg, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return fail(msg, cap, "%s: cannot open: %s", path, strerror(errno));
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = fail(msg, cap, "%s:%d:1: line longer than %zu bytes", path, lineno,
                      sizeof line - 2);
            break;
        }
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        size_t col = 1;
        char *p = trim(line, &col);
        if (!*p) continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            rc = fail(msg, cap, "%s:%d:%zu: expected 'key = value', got '%s'", path, lineno, col,
                      p);
            break;
        }
        *eq = '\0';
        size_t kcol = col, vcol = col + (size_t)(eq - p) + 1;
        char *key = trim(p, &kcol);
        char *value = trim(eq + 1, &vcol);
        char sub[512];
        if (!strcmp(key, "model")) {
            unsigned char given[64];
            cli_train_cfg keep = *c;
            memcpy(given, c->given, sizeof given);
            if (cli_tc_default(c, value, sub, sizeof sub) != 0) {
                *c = keep;
                rc = fail(msg, cap, "%s:%d:%zu: %s", path, lineno, vcol, sub);
                break;
            }
            /* keep the keys set so far that are not model options */
            for (int k = 0; k < NKEYS; k++)
                if (given[k] && KEYS[k].kind != TC_MODEL) {
                    char v[CLI_TC_STR + 64];
                    key_value(&keep, k, v, sizeof v);
                    set_key(c, k, v, sub, sizeof sub);
                    c->given[k] = 1;
                }
            continue;
        }
        if (cli_tc_set(c, key, value, sub, sizeof sub) != 0) {
            int k = find_key(key);
            rc = fail(msg, cap, "%s:%d:%zu: %s", path, lineno, k < 0 ? kcol : vcol, sub);
        }
    }
    if (rc == 0 && ferror(f)) rc = fail(msg, cap, "%s: read error", path);
    fclose(f);
    return rc;
}

/* "START:END:N" into the momentum ramp schedule. */
static int parse_ramp(const char *s, cn_sched_config *m, char *msg, size_t cap)
{
    double a, b;
    int n, used = 0;
    if (sscanf(s, "%lf:%lf:%d%n", &a, &b, &n, &used) != 3 || s[used] || !(a >= 0 && a < 1) ||
        !(b >= 0 && b < 1) || n < 1)
        return fail(msg, cap,
                    "momentum_ramp: '%s' is not START:END:N with START, END in [0, 1), N >= 1",
                    s);
    *m = cn_sched_config_default(CN_SCHED_MOMENTUM);
    m->base_lr = a;
    m->final_value = b;
    m->total = n;
    return 0;
}

static int parse_milestones(const char *s, cn_sched_config *sc, char *msg, size_t cap)
{
    const char *p = s;
    sc->n_milestones = 0;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > BIG || sc->n_milestones >= CN_SCHED_MAX_MILESTONES ||
            (*end && *end != ','))
            return fail(msg, cap, "milestones: '%s' is not a list of up to %d positive integers",
                        s, CN_SCHED_MAX_MILESTONES);
        sc->milestones[sc->n_milestones++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (sc->n_milestones == 0) return fail(msg, cap, "milestones: empty list");
    return 0;
}

int cli_tc_finish(const cli_train_cfg *c, int in_c, int in_h, int in_w, int classes,
                  int n_train, cn_train_config *tc, cn_builtin_spec *spec, char *msg,
                  size_t cap)
{
    cn_error err;
    cn_error_clear(&err);
    *spec = c->spec;
    spec->c = in_c;
    spec->h = in_h;
    spec->w = in_w;
    spec->classes = classes;
    if (!c->model_file[0] && cn_builtin_check(spec, &err) != CN_OK)
        return fail(msg, cap, "%s", err.msg);
    *tc = cn_train_config_default();
    tc->epochs = c->epochs;
    tc->batch = c->batch;
    tc->seed = (uint64_t)c->seed;
    tc->patience = c->patience;
    tc->checkpoint_every = c->checkpoint_every;
    tc->threads = c->threads;
    tc->ema_decay = c->ema;
    tc->snapshots = c->snapshots;
    tc->monitor = c->monitor;
    tc->nan_policy = strcmp(c->nan_policy, "skip") == 0 ? CN_NAN_SKIP : CN_NAN_STOP;
    cn_optim_kind ok;
    if (cn_optim_parse(c->optimizer, &ok, &err) != CN_OK)
        return fail(msg, cap, "optimizer: %s", err.msg);
    cn_optim_config oc = cn_optim_config_default(ok);
    oc.lr = c->lr;
    if (ok == CN_OPTIM_MOMENTUM || ok == CN_OPTIM_NESTEROV ||
        (ok == CN_OPTIM_RMSPROP && c->given[find_key("momentum")]))
        oc.momentum = c->momentum;
    oc.betas[0] = c->beta1;
    oc.betas[1] = c->beta2;
    if (ok != CN_OPTIM_ADAMW || c->given[find_key("weight_decay")])
        oc.weight_decay = c->weight_decay;
    oc.l1 = c->l1;
    oc.max_norm = c->max_norm;
    oc.clip_norm = c->clip_norm;
    oc.clip_value = c->clip_value;
    if (cn_optim_check(&oc, &err) != CN_OK) return fail(msg, cap, "%s", err.msg);
    tc->optim = oc;
    cn_sched_kind sk;
    if (cn_sched_parse(c->schedule, &sk, &err) != CN_OK)
        return fail(msg, cap, "schedule: %s", err.msg);
    cn_sched_config sc = cn_sched_config_default(sk);
    int per_step = strcmp(c->unit, "step") == 0;
    int steps_per_epoch = (n_train + c->batch - 1) / c->batch;
    int run_units = per_step ? c->epochs * steps_per_epoch : c->epochs;
    sc.unit = per_step ? CN_SCHED_PER_STEP : CN_SCHED_PER_EPOCH;
    sc.base_lr = c->lr;
    sc.gamma = c->gamma;
    sc.step_size = c->step_size;
    sc.k = c->decay;
    sc.power = c->power;
    sc.total = c->total > 0 ? c->total : run_units;
    sc.t_max = c->t_max > 0 ? c->t_max : run_units;
    sc.eta_min = c->eta_min;
    sc.t0 = c->t0;
    sc.t_mult = c->t_mult;
    sc.warmup_steps = c->warmup;
    sc.warmup_start_factor = c->warmup_start;
    sc.factor = c->factor;
    sc.patience = c->plateau_patience;
    sc.mode = strcmp(c->plateau_mode, "max") == 0 ? CN_SCHED_MODE_MAX : CN_SCHED_MODE_MIN;
    if (sk == CN_SCHED_MULTISTEP && parse_milestones(c->milestones, &sc, msg, cap) != 0)
        return -1;
    if (sk == CN_SCHED_PLATEAU && per_step)
        return fail(msg, cap, "schedule: plateau steps once per epoch: use unit = epoch");
    cn_schedule probe;
    if (cn_sched_init(&probe, &sc, &err) != CN_OK) return fail(msg, cap, "%s", err.msg);
    tc->sched = sc;
    if (strcmp(c->momentum_ramp, "none") != 0) {
        if (parse_ramp(c->momentum_ramp, &tc->momentum_sched, msg, cap) != 0) return -1;
        tc->momentum_sched.unit = sc.unit;
        tc->momentum_schedule = 1;
        if (cn_sched_init(&probe, &tc->momentum_sched, &err) != CN_OK)
            return fail(msg, cap, "momentum_ramp: %s", err.msg);
        if (ok != CN_OPTIM_MOMENTUM && ok != CN_OPTIM_NESTEROV && ok != CN_OPTIM_ADAM &&
            ok != CN_OPTIM_ADAMW && !(ok == CN_OPTIM_RMSPROP && oc.momentum > 0))
            return fail(msg, cap, "momentum_ramp: optimizer '%s' has no momentum",
                        c->optimizer);
    }
    if (c->snapshots && sk != CN_SCHED_COSINE_RESTARTS)
        return fail(msg, cap, "snapshots: needs schedule = cosine_restarts (got %s)",
                    c->schedule);
    return 0;
}

void cli_tc_help(FILE *f, const char *const *skip, int n_skip)
{
    for (int k = 0; k < NKEYS; k++) {
        const tc_key *K = &KEYS[k];
        if (in_list(K->name, skip, n_skip)) continue;
        char name[40];
        snprintf(name, sizeof name, "--%s", K->name);
        for (char *p = name + 2; *p; p++)
            if (*p == '_') *p = '-';
        fprintf(f, "  %-20s %s", name, K->help);
        if (K->choices) fprintf(f, " {%s}", K->choices);
        if (K->def) fprintf(f, " (default %s)", K->def[0] ? K->def : "none");
        fputc('\n', f);
    }
}
