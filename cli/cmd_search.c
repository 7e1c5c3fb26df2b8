/* cli/cmd_search.c: `convnet search MODEL --out DIR [--space ...] [--key value ...]`:
 * random hyperparameter search for a built-in model as the course teaches it.
 * Each dimension of --space is a run-configuration key (cli/train_config.h)
 * drawn independently (log-uniform for learning rates and regularisation); a
 * coarse stage of short trials, then a fine stage of longer trials in ranges
 * narrowed around the best coarse ones (convnet/search.h). The data are loaded
 * and normalised once; every trial builds, initialises and trains a fresh model
 * with cn_train, scored by its best validation accuracy (a diverging trial scores
 * NaN and is reported, not fatal). Results: a ranked table, warnings for best
 * values at the edge of their range, DIR/search.jsonl (a line per trial, written
 * as trials finish) and DIR/best.txt (a configuration file for `convnet train
 * --config`). SIGINT stops after the current trial with the finished ones. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "load.h"
#include "output.h"
#include "progress.h"
#include "train_config.h"

#define SR_PATH 4096
#define SR_DEFAULT_SPACE "lr=1e-4:1e-1,weight_decay=1e-6:1e-2,dropout=0:0.5:linear"
#define SR_MAX_TRIALS 100000
/* The sampler's RNG stream (seeded with the base seed). */
#define SR_SAMPLER_STREAM 11u
/* The initialisation RNG stream (the one `convnet train` uses). */
#define SR_INIT_STREAM 3u
/* Largest seed a configuration accepts (2^53). */
#define SR_SEED_MAX 9007199254740992.0

/* The command line beyond the configuration keys. */
typedef struct search_cli {
    const char *model, *out, *space, *config;
    int trials, epochs, fine_trials, fine_epochs, top, json, quiet, help;
} search_cli;

typedef enum trial_status { TRIAL_OK = 0, TRIAL_DIVERGED, TRIAL_FAILED } trial_status;

static const char *const STATUS_NAMES[] = {"ok", "diverged", "failed"};
static const char *const STAGE_NAMES[] = {"coarse", "fine"};
static const char *const SCALE_NAMES[] = {"log", "linear", "int"};

/* One finished trial. */
typedef struct trial {
    int index;                         /* from 0, in running order */
    int stage;                         /* 0 coarse, 1 fine */
    uint64_t seed;                     /* initialisation, shuffling, dropout */
    int epochs;                        /* configured */
    double values[CN_SEARCH_MAX_DIMS]; /* one per dimension */
    double score;                      /* best validation accuracy; NaN unless ok */
    double train_acc, final_loss, seconds;
    int epochs_run, best_epoch;
    trial_status status;
    char message[CN_ERROR_MSG_MAX];
} trial;

/* What every trial shares. */
typedef struct search_ctx {
    const cli_train_cfg *base;
    const cli_data *data;
    const cn_search_dim *dims; /* the coarse space */
    int n_dims;
    cli_progress *p;
    FILE *jsonl;
    const char *jsonl_path;
} search_ctx;

void cmd_search_help(FILE *f)
{
    fprintf(f,
            "Usage: convnet search MODEL --out DIR [--data DIR] [--space SPACE] [--trials N]\n"
            "                      [--epochs N] [--fine-trials N] [--fine-epochs N] [--top K]\n"
            "                      [--config FILE] [--json] [--quiet] [--key value ...]\n"
            "\n"
            "Random hyperparameter search for a built-in model (softmax, two-layer, mlp,\n"
            "three-layer-convnet), coarse to fine. Every dimension of SPACE is a\n"
            "configuration key of `convnet train`, drawn independently: uniformly in log10\n"
            "for log ranges (learning rates, regularisation), uniformly for linear ones,\n"
            "uniform integers for int ones. The coarse stage runs --trials short trials;\n"
            "the fine stage runs --fine-trials longer ones in ranges narrowed around the\n"
            "--top best coarse trials. Each trial trains a fresh model on the training\n"
            "split (the data are loaded and normalised once) and is scored by its best\n"
            "validation accuracy; a trial that diverges (NaN/Inf) is reported as such.\n"
            "Prints the trials ranked, warns when the best value of a dimension lies at\n"
            "the edge of its range (widen it), and writes DIR/search.jsonl (one JSON line\n"
            "per trial) and DIR/best.txt (the best configuration, for\n"
            "`convnet train MODEL --config DIR/best.txt --out RUN_DIR`).\n"
            "\n"
            "Options:\n"
            "  --out DIR            results folder (created)\n"
            "  --space SPACE        comma-separated name=lo:hi[:log|linear|int]; the scale\n"
            "                       defaults to log when lo > 0 and hi/lo >= 100, else\n"
            "                       linear; default\n"
            "                       " SR_DEFAULT_SPACE "\n"
            "                       (keys that the model lacks are left out of the default)\n"
            "  --trials N           coarse trials (default 12)\n"
            "  --epochs N           epochs of each coarse trial (default 2)\n"
            "  --fine-trials N      fine trials, 0 for none (default 4)\n"
            "  --fine-epochs N      epochs of each fine trial (default 6)\n"
            "  --top K              coarse trials the fine ranges are narrowed around\n"
            "                       (default 3)\n"
            "  --config FILE        read configuration keys from FILE first\n"
            "  --json               print one JSON object {\"trials\", \"best\", \"edges\", ...}\n"
            "  --quiet              no progress on stderr\n"
            "\n"
            "Trial i (from 0) uses seed + i for initialisation, shuffling and dropout; the\n"
            "sampler draws from its own generator seeded with --seed, which also draws the\n"
            "validation split. Configuration keys (as in `convnet train`; --epochs and --out\n"
            "are the options above):\n");
    cli_tc_help(f);
    fprintf(f,
            "\n"
            "Exit status: 0 done, 1 runtime error or every trial diverged, 2 usage error,\n"
            "130 stopped by SIGINT after the current trial (the finished trials are\n"
            "printed and saved).\n"
            "\n"
            "Examples:\n"
            "  convnet search two-layer --out runs/search --hidden 200\n"
            "  convnet search softmax --out runs/s --space lr=1e-5:1,weight_decay=1e-6:1e-1 "
            "--trials 20\n"
            "  convnet search mlp --out runs/s --space "
            "\"lr=1e-4:1e-1,hidden=64:512:int,dropout=0:0.5:linear\" --optimizer adam\n"
            "  convnet train two-layer --config runs/search/best.txt --out runs/best "
            "--epochs 20\n");
}

/* ------------------------------------------------------------ arguments */

/* name with '_' turned into '-' into buf (cap bytes). 0, or -1 when too long. */
static int flag_name(const char *name, size_t len, char *buf, size_t cap)
{
    if (len >= cap) return -1;
    for (size_t i = 0; i < len; i++) buf[i] = name[i] == '_' ? '-' : name[i];
    buf[len] = '\0';
    return 0;
}

static const char *const OWN_BOOLS[] = {"json", "quiet"};
static const char *const OWN_VALUES[] = {"out", "space", "config", "trials",
                                         "epochs", "fine-trials", "fine-epochs", "top"};
#define N_OWN_BOOLS 2
#define N_OWN_VALUES 8

static int parse_count(const char *flag, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!v[0] || *end || errno || x < lo || x > hi)
        return cli_usage_error("search", "--%s: '%s' is not an integer in [%d, %d]", flag, v, lo,
                               hi);
    *out = (int)x;
    return 0;
}

/* An unknown flag: name the nearest of our flags and the configuration keys. */
static int unknown_flag(const char *key)
{
    char msg[256];
    cli_train_cfg probe;
    const char *cands[N_OWN_BOOLS + N_OWN_VALUES + 1];
    int n = 0;
    for (int i = 0; i < N_OWN_BOOLS; i++) cands[n++] = OWN_BOOLS[i];
    for (int i = 0; i < N_OWN_VALUES; i++) cands[n++] = OWN_VALUES[i];
    char suggestion[64] = "";
    if (cli_tc_default(&probe, "softmax", msg, sizeof msg) == 0 &&
        cli_tc_set(&probe, key, "", msg, sizeof msg) != 0) {
        const char *dm = strstr(msg, "(did you mean '");
        const char *q = dm ? strchr(dm + 15, '\'') : NULL;
        if (q && flag_name(dm + 15, (size_t)(q - (dm + 15)), suggestion, sizeof suggestion) == 0)
            cands[n++] = suggestion;
    }
    return cli_usage_error("search", "unknown flag '--%s' (did you mean '--%s'?)", key,
                           cli_nearest(key, cands, n));
}

/* Parse our flags; configuration keys are checked for existence here and applied
 * later (apply_flags). Returns 0 or CLI_EXIT_USAGE. */
static int scan_args(int argc, char **argv, search_cli *s)
{
    memset(s, 0, sizeof *s);
    s->trials = 12;
    s->epochs = 2;
    s->fine_trials = 4;
    s->fine_epochs = 6;
    s->top = 3;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s->help = 1;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (s->model) return cli_usage_error("search", "unexpected argument '%s'", a);
            s->model = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        char key[64];
        size_t kl = eq ? (size_t)(eq - name) : strlen(name);
        if (flag_name(name, kl, key, sizeof key) != 0)
            return cli_usage_error("search", "unknown flag '%s'", a);
        int is_bool = 0;
        for (int k = 0; k < N_OWN_BOOLS; k++)
            if (!strcmp(key, OWN_BOOLS[k])) {
                if (eq) return cli_usage_error("search", "--%s takes no value", key);
                *(k == 0 ? &s->json : &s->quiet) = 1;
                is_bool = 1;
            }
        if (is_bool) continue;
        int own = 0;
        for (int k = 0; k < N_OWN_VALUES; k++) own |= !strcmp(key, OWN_VALUES[k]);
        if (!own && !cli_tc_is_key(key)) return unknown_flag(key);
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        if (!val) return cli_usage_error("search", "--%s needs a value", key);
        if (!eq) i++;
        int rc = 0;
        if (!strcmp(key, "out"))
            s->out = val;
        else if (!strcmp(key, "space"))
            s->space = val;
        else if (!strcmp(key, "config"))
            s->config = val;
        else if (!strcmp(key, "trials"))
            rc = parse_count(key, val, 1, SR_MAX_TRIALS, &s->trials);
        else if (!strcmp(key, "epochs"))
            rc = parse_count(key, val, 1, 1000000, &s->epochs);
        else if (!strcmp(key, "fine-trials"))
            rc = parse_count(key, val, 0, SR_MAX_TRIALS, &s->fine_trials);
        else if (!strcmp(key, "fine-epochs"))
            rc = parse_count(key, val, 1, 1000000, &s->fine_epochs);
        else if (!strcmp(key, "top"))
            rc = parse_count(key, val, 1, SR_MAX_TRIALS, &s->top);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ the space */

/* v as a configuration value of dimension d. */
static void value_text(const cn_search_dim *d, double v, char *buf, size_t cap)
{
    if (d->scale == CN_SEARCH_INT)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.17g", v);
}

/* v for a table cell. */
static void value_cell(const cn_search_dim *d, double v, char *buf, size_t cap)
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
        value_text(d, probes[i], v, sizeof v);
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
static int parse_space(const char *text, int is_default, const cli_train_cfg *base,
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

static json_t *space_json(const cn_search_dim *dims, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:f, s:f, s:s}", "name", dims[i].name, "lo",
                                           dims[i].lo, "hi", dims[i].hi, "scale",
                                           SCALE_NAMES[dims[i].scale]));
    return a;
}

/* "lr=0.001:0.1:log, dropout=0:0.5:linear" into buf. */
static void space_text(const cn_search_dim *dims, int n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s=%.3g:%.3g:%s", i ? ", " : "",
                                 dims[i].name, dims[i].lo, dims[i].hi,
                                 SCALE_NAMES[dims[i].scale]);
}

/* ------------------------------------------------------------ trials */

/* The configuration of a trial: base, its epochs, seed (when seed_too) and
 * values. 0, or -1 with msg. */
static int trial_config(const search_ctx *x, const trial *t, int seed_too, cli_train_cfg *c,
                        char *msg, size_t cap)
{
    *c = *x->base;
    char v[64];
    snprintf(v, sizeof v, "%d", t->epochs);
    if (cli_tc_set(c, "epochs", v, msg, cap) != 0) return -1;
    if (seed_too) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)t->seed);
        if (cli_tc_set(c, "seed", v, msg, cap) != 0) return -1;
    }
    for (int d = 0; d < x->n_dims; d++) {
        value_text(&x->dims[d], t->values[d], v, sizeof v);
        if (cli_tc_set(c, x->dims[d].name, v, msg, cap) != 0) return -1;
    }
    return 0;
}

/* Forward progress to the CLI line but never cancel: SIGINT ends the search after
 * the current trial. */
static int trial_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    cn_progress_report(ctx, stage, done, total);
    return 0;
}

static json_t *trial_json(const search_ctx *x, const trial *t)
{
    json_t *o = json_object(), *vals = json_object();
    if (!o || !vals) {
        json_decref(o);
        json_decref(vals);
        return NULL;
    }
    for (int d = 0; d < x->n_dims; d++)
        json_object_set_new(vals, x->dims[d].name,
                            x->dims[d].scale == CN_SEARCH_INT
                                ? json_integer((json_int_t)t->values[d])
                                                              : json_real(t->values[d]));
    json_object_set_new(o, "trial", json_integer(t->index + 1));
    json_object_set_new(o, "stage", json_string(STAGE_NAMES[t->stage]));
    json_object_set_new(o, "seed", json_integer((json_int_t)t->seed));
    json_object_set_new(o, "values", vals);
    json_object_set_new(o, "val_accuracy", cli_json_real(t->score));
    json_object_set_new(o, "train_accuracy", cli_json_real(t->train_acc));
    json_object_set_new(o, "final_loss", cli_json_real(t->final_loss));
    json_object_set_new(o, "epochs", json_integer(t->epochs));
    json_object_set_new(o, "epochs_run", json_integer(t->epochs_run));
    json_object_set_new(o, "best_epoch", json_integer(t->best_epoch));
    json_object_set_new(o, "seconds", cli_json_real(t->seconds));
    json_object_set_new(o, "status", json_string(STATUS_NAMES[t->status]));
    if (t->message[0]) json_object_set_new(o, "message", json_string(t->message));
    return o;
}

/* Build, initialise and train the trial's model and fill t's results (a failed
 * trial gets status TRIAL_FAILED and its message). Returns CN_OK, or
 * CN_ERR_NOMEM (err set), which ends the search. */
static cn_status train_trial(const search_ctx *x, trial *t, int total, cn_error *err)
{
    cli_train_cfg c;
    cn_train_config tc;
    cn_builtin_spec spec;
    const cn_dataset *tr = x->data->train;
    if (trial_config(x, t, 1, &c, t->message, sizeof t->message) != 0 ||
        cli_tc_finish(&c, tr->c, tr->h, tr->w, tr->num_classes, tr->n, &tc, &spec, t->message,
                      sizeof t->message) != 0)
        return CN_OK;
    cn_model *m = cn_builtin_build(&spec, err);
    cn_compile_opts co = {.batch = c.batch, .training = 1, .input_grad = 0};
    cn_rng rng;
    cn_rng_seed(&rng, t->seed, SR_INIT_STREAM);
    if (!m || cn_model_compile(m, &co, err) != CN_OK || cn_model_init(m, &rng, err) != CN_OK) {
        cn_model_free(m);
        if (err->code == CN_ERR_NOMEM) return CN_ERR_NOMEM;
        snprintf(t->message, sizeof t->message, "%s", err->msg);
        return CN_OK;
    }
    tc.run_dir = NULL;
    char task[64];
    snprintf(task, sizeof task, "trial %d/%d", t->index + 1, total);
    cn_progress inner = cli_progress_begin(x->p, task);
    cn_progress prog = {trial_progress, &inner};
    cn_train_report rep;
    memset(&rep, 0, sizeof rep);
    double t0 = cn_time_now();
    cn_status st = cn_train(m, tr, x->data->val, &tc, &rep, &prog, err);
    t->seconds = cn_time_now() - t0;
    cli_progress_end(x->p);
    cn_model_free(m);
    t->epochs_run = rep.epochs_run;
    t->best_epoch = rep.best_epoch;
    t->train_acc = rep.epochs_run > 0 ? rep.final_train_acc : NAN;
    t->final_loss = rep.epochs_run > 0 ? rep.final_loss : NAN;
    if (st == CN_OK) {
        t->status = TRIAL_OK;
        t->score = rep.best_val_acc;
    } else if (st == CN_ERR_NOMEM) {
        return CN_ERR_NOMEM;
    } else {
        t->status = st == CN_ERR_NUMERIC ? TRIAL_DIVERGED : TRIAL_FAILED;
        snprintf(t->message, sizeof t->message, "%s", err->msg);
    }
    return CN_OK;
}

/* Run one trial (t has index, stage, seed, epochs and values): train it, say how
 * it went on stderr and append its line to search.jsonl. Returns CLI_EXIT_OK
 * (also for diverged and failed trials) or an exit status that ends the search
 * (out of memory, search.jsonl not writable). */
static int run_trial(const search_ctx *x, trial *t, int total)
{
    cn_error err;
    cn_error_clear(&err);
    t->score = NAN;
    t->train_acc = NAN;
    t->final_loss = NAN;
    t->seconds = 0;
    t->epochs_run = 0;
    t->best_epoch = 0;
    t->status = TRIAL_FAILED;
    t->message[0] = '\0';
    if (train_trial(x, t, total, &err) != CN_OK) return cli_lib_error("search", &err);
    char vals[512];
    size_t used = 0;
    vals[0] = '\0';
    for (int d = 0; d < x->n_dims && used < sizeof vals; d++) {
        char v[32];
        value_cell(&x->dims[d], t->values[d], v, sizeof v);
        used += (size_t)snprintf(vals + used, sizeof vals - used, " %s=%s", x->dims[d].name, v);
    }
    if (t->status == TRIAL_OK)
        cli_progress_stage(x->p, "trial %d/%d (%s, epochs %d):%s -> val acc %.4f, train acc "
                                 "%.4f, %.1f s",
                           t->index + 1, total, STAGE_NAMES[t->stage], t->epochs, vals, t->score,
                           t->train_acc, t->seconds);
    else if (t->status == TRIAL_DIVERGED)
        cli_progress_stage(x->p, "trial %d/%d (%s, epochs %d):%s -> diverged (%s)", t->index + 1,
                           total, STAGE_NAMES[t->stage], t->epochs, vals, t->message);
    else
        cli_progress_warn(x->p, "search: trial %d failed:%s: %s", t->index + 1, vals, t->message);
    json_t *line = trial_json(x, t);
    char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!s) return cli_runtime_error("search", "out of memory");
    int bad = fprintf(x->jsonl, "%s\n", s) < 0 || fflush(x->jsonl) != 0;
    free(s);
    if (bad)
        return cli_runtime_error("search", "%s: write failed: %s", x->jsonl_path,
                                 strerror(errno));
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ results */

static int path_join(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, SR_PATH, "%s/%s", dir, name);
    return n > 0 && n < SR_PATH ? 0 : -1;
}

/* DIR/best.txt: a comment on where it comes from, then the configuration. */
static int write_best(const search_ctx *x, const trial *t, int n_trials, const char *path)
{
    cli_train_cfg c;
    char msg[512];
    if (trial_config(x, t, 0, &c, msg, sizeof msg) != 0)
        return cli_runtime_error("search", "best configuration: %s", msg);
    FILE *f = fopen(path, "w");
    if (!f) return cli_runtime_error("search", "%s: cannot create: %s", path, strerror(errno));
    fprintf(f,
            "# convnet search: the best of %d trials: trial %d (%s stage), best validation\n"
            "# accuracy %.4f after %d epochs. The trial was initialised with seed %llu; the\n"
            "# seed below is the search's, which drew the validation split it was scored on.\n"
            "# Train it with: convnet train %s --config %s --out RUN_DIR [--epochs N]\n",
            n_trials, t->index + 1, STAGE_NAMES[t->stage], t->score, t->epochs,
            (unsigned long long)t->seed, c.spec.name, path);
    cli_tc_print(&c, f);
    if (fclose(f) != 0) return cli_runtime_error("search", "%s: write failed", path);
    return CLI_EXIT_OK;
}

/* The ranked table, the best trial, the edge warnings; best.txt. */
static int report_results(const search_ctx *x, const search_cli *s, const trial *trials, int n,
                          const cn_search_dim *fine, int have_fine, int interrupted,
                          const char *best_path, cli_out *out)
{
    double *score = cn_malloc((size_t)n * sizeof *score); // (n)
    int *order = cn_malloc((size_t)n * sizeof *order);   // (n)
    int nd = x->n_dims, ncols = 6 + nd;
    const char **hdr = cn_malloc((size_t)ncols * sizeof *hdr);   // (ncols)
    const char **cells = cn_malloc((size_t)ncols * sizeof *cells); // (ncols)
    char(*buf)[40] = cn_malloc((size_t)ncols * sizeof *buf);     // (ncols, 40)
    int rc = CLI_EXIT_OK;
    if (!score || !order || !hdr || !cells || !buf) {
        rc = cli_runtime_error("search", "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) score[i] = trials[i].score;
    cn_search_rank(score, n, order);
    int c0 = 0;
    hdr[c0++] = "rank";
    hdr[c0++] = "trial (stage)";
    for (int d = 0; d < nd; d++) hdr[c0++] = x->dims[d].name;
    hdr[c0++] = "val acc";
    hdr[c0++] = "train acc";
    hdr[c0++] = "epochs";
    hdr[c0++] = "status";
    char title[256];
    snprintf(title, sizeof title, "random search of %.32s: %d trials%s, ranked by best validation "
                                  "accuracy:",
             x->base->spec.name, n, interrupted ? " (interrupted)" : "");
    cli_table *t = cli_out_table(out, "trials", title, ncols, hdr);
    for (int r = 0; r < n; r++) {
        const trial *tr = &trials[order[r]];
        int c = 0;
        snprintf(buf[c], sizeof buf[c], "%d", r + 1);
        cells[c] = buf[c];
        c++;
        snprintf(buf[c], sizeof buf[c], "%d (%s)", tr->index + 1, STAGE_NAMES[tr->stage]);
        cells[c] = buf[c];
        c++;
        for (int d = 0; d < nd; d++, c++) {
            value_cell(&x->dims[d], tr->values[d], buf[c], sizeof buf[c]);
            cells[c] = buf[c];
        }
        cells[c] = cli_fmt_real(tr->score, CLI_FMT_ACC, buf[c], sizeof buf[c]);
        c++;
        cells[c] = cli_fmt_real(tr->train_acc, CLI_FMT_ACC, buf[c], sizeof buf[c]);
        c++;
        snprintf(buf[c], sizeof buf[c], "%d", tr->epochs_run);
        cells[c] = buf[c];
        c++;
        cells[c++] = STATUS_NAMES[tr->status];
        json_t *o = trial_json(x, tr);
        if (o) json_object_set_new(o, "rank", json_integer(r + 1));
        cli_table_row(t, cells, o);
    }
    cli_out_json(out, "space", space_json(x->dims, nd));
    if (have_fine) cli_out_json(out, "fine_space", space_json(fine, nd));
    cli_out_int(out, "coarse_trials", NULL, s->trials);
    cli_out_int(out, "fine_trials", NULL, have_fine ? s->fine_trials : 0);
    const trial *best = n > 0 && !isnan(trials[order[0]].score) ? &trials[order[0]] : NULL;
    json_t *edges = json_array();
    if (best) {
        for (int d = 0; d < nd; d++) {
            const cn_search_dim *dim = &x->dims[d];
            int e = cn_search_at_edge(dim, best->values[d]);
            if (!e) continue;
            char v[32];
            value_cell(dim, best->values[d], v, sizeof v);
            cli_progress_warn(x->p, "best %s %s lies at the %s edge of %g:%g: widen the range",
                              dim->name, v, e < 0 ? "bottom" : "top", dim->lo, dim->hi);
            if (edges)
                json_array_append_new(edges, json_pack("{s:s, s:f, s:s, s:f, s:f}", "name",
                                                       dim->name, "value", best->values[d],
                                                       "side", e < 0 ? "low" : "high", "lo",
                                                       dim->lo, "hi", dim->hi));
        }
        if ((rc = write_best(x, best, n, best_path)) != CLI_EXIT_OK) {
            json_decref(edges);
            goto done;
        }
        cli_out_json(out, "best", trial_json(x, best));
        cli_out_int(out, "best_trial", "best trial", best->index + 1);
        cli_out_real(out, "best_val_accuracy", "best val accuracy", best->score, CLI_FMT_ACC);
        for (int d = 0; d < nd; d++) {
            char label[64], key[64];
            snprintf(label, sizeof label, "best %.*s", CN_SEARCH_NAME_MAX, x->dims[d].name);
            snprintf(key, sizeof key, "best_%.*s", CN_SEARCH_NAME_MAX, x->dims[d].name);
            if (x->dims[d].scale == CN_SEARCH_INT)
                cli_out_int(out, key, label, (long long)best->values[d]);
            else
                cli_out_real(out, key, label, best->values[d], CLI_FMT_G);
        }
        cli_out_str(out, "best_config", "best configuration", best_path);
    } else {
        cli_out_json(out, "best", json_null());
    }
    cli_out_json(out, "edges", edges);
    cli_out_bool(out, "interrupted", NULL, interrupted);
done:
    cn_free(score);
    cn_free(order);
    cn_free(hdr);
    cn_free(cells);
    cn_free(buf);
    return rc;
}

/* ------------------------------------------------------------ the search */

/* Make DIR when missing; refuse a path that is not a folder. */
static int prepare_out(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return cli_runtime_error("search", "--out %s is not a folder", dir);
        return CLI_EXIT_OK;
    }
    if (mkdir(dir, 0777) != 0)
        return cli_runtime_error("search", "--out %s: cannot create the folder: %s", dir,
                                 strerror(errno));
    return CLI_EXIT_OK;
}

static int search_run(const search_cli *s, const cli_train_cfg *base, const cn_search_dim *dims,
                      int nd, cli_progress *p, cli_out *out, int *stopped)
{
    cn_error err;
    cn_error_clear(&err);
    cli_data d;
    memset(&d, 0, sizeof d);
    cn_norm norm;
    memset(&norm, 0, sizeof norm);
    trial *trials = NULL;
    FILE *jsonl = NULL;
    char jsonl_path[SR_PATH], best_path[SR_PATH], msg[512];
    if (path_join(jsonl_path, s->out, "search.jsonl") || path_join(best_path, s->out, "best.txt"))
        return cli_usage_error("search", "--out: path too long");
    int rc = cli_data_load("search", base->data, base->train_limit, base->test_limit, base->val,
                           (uint64_t)base->seed, 0, p, &d);
    if (rc != CLI_EXIT_OK) return rc;
    cn_dataset_free(d.test); /* trials are scored on the validation split only */
    d.test = NULL;
    cn_norm_mode mode = CN_NORM_NONE;
    if (cn_norm_mode_parse(base->norm, &mode, &err) != CN_OK) {
        rc = cli_usage_error("search", "%s", err.msg);
        goto done;
    }
    {
        /* the base configuration must be valid before any trial runs */
        cn_train_config tc;
        cn_builtin_spec spec;
        if (cli_tc_finish(base, d.train->c, d.train->h, d.train->w, d.train->num_classes,
                          d.train->n, &tc, &spec, msg, sizeof msg) != 0) {
            rc = cli_usage_error("search", "%s", msg);
            goto done;
        }
    }
    cli_progress_stage(p, "normalising (%s), statistics from the %d training-split images",
                       cn_norm_mode_name(mode), d.train->n);
    if (cn_norm_fit(d.train, mode, &norm, &err) != CN_OK ||
        cn_norm_apply(&norm, d.train, &err) != CN_OK ||
        cn_norm_apply(&norm, d.val, &err) != CN_OK) {
        rc = cli_lib_error("search", &err);
        goto done;
    }
    if ((rc = prepare_out(s->out)) != CLI_EXIT_OK) goto done;
    if (remove(best_path) != 0 && errno != ENOENT) {
        rc = cli_runtime_error("search", "%s: cannot remove the previous one: %s", best_path,
                               strerror(errno));
        goto done;
    }
    jsonl = fopen(jsonl_path, "w");
    if (!jsonl) {
        rc = cli_runtime_error("search", "%s: cannot create: %s", jsonl_path, strerror(errno));
        goto done;
    }
    int total = s->trials + s->fine_trials;
    trials = cn_calloc((size_t)total, sizeof *trials); // (total)
    if (!trials) {
        rc = cli_runtime_error("search", "out of memory for %d trials", total);
        goto done;
    }
    search_ctx x = {base, &d, dims, nd, p, jsonl, jsonl_path};
    cn_rng sampler;
    cn_rng_seed(&sampler, (uint64_t)base->seed, SR_SAMPLER_STREAM);
    char sp[1024];
    space_text(dims, nd, sp, sizeof sp);
    cli_progress_stage(p, "coarse stage: %d trials of %d epochs, %d train / %d val images; %s",
                       s->trials, s->epochs, d.train->n, d.val->n, sp);
    int n = 0;
    for (int i = 0; i < s->trials && !cli_interrupted(); i++, n++) {
        trial *t = &trials[n];
        t->index = n;
        t->stage = 0;
        t->seed = (uint64_t)base->seed + (uint64_t)n;
        t->epochs = s->epochs;
        cn_search_sample(dims, nd, &sampler, t->values);
        if ((rc = run_trial(&x, t, total)) != CLI_EXIT_OK) goto done;
    }
    cn_search_dim fine[CN_SEARCH_MAX_DIMS];
    int have_fine = 0, k = 0;
    if (s->fine_trials > 0 && !cli_interrupted()) {
        double *score = cn_malloc((size_t)n * sizeof *score);             // (n)
        int *order = cn_malloc((size_t)n * sizeof *order);               // (n)
        double *top = cn_malloc((size_t)s->top * nd * sizeof *top);       // (top, nd)
        if (!score || !order || !top) {
            cn_free(score);
            cn_free(order);
            cn_free(top);
            rc = cli_runtime_error("search", "out of memory");
            goto done;
        }
        for (int i = 0; i < n; i++) score[i] = trials[i].score;
        cn_search_rank(score, n, order);
        while (k < s->top && k < n && !isnan(score[order[k]])) {
            memcpy(top + (size_t)k * nd, trials[order[k]].values, (size_t)nd * sizeof *top);
            k++;
        }
        if (k == 0)
            cli_progress_warn(p, "every coarse trial diverged or failed: no fine stage (lower "
                                 "the learning-rate range)");
        else if (cn_search_narrow(dims, nd, top, k, fine, &err) == CN_OK)
            have_fine = 1;
        cn_free(score);
        cn_free(order);
        cn_free(top);
        if (k > 0 && !have_fine) {
            rc = cli_lib_error("search", &err);
            goto done;
        }
    }
    if (have_fine) {
        space_text(fine, nd, sp, sizeof sp);
        cli_progress_stage(p, "fine stage: %d trials of %d epochs around the best %d; %s",
                           s->fine_trials, s->fine_epochs, k, sp);
        for (int i = 0; i < s->fine_trials && !cli_interrupted(); i++, n++) {
            trial *t = &trials[n];
            t->index = n;
            t->stage = 1;
            t->seed = (uint64_t)base->seed + (uint64_t)n;
            t->epochs = s->fine_epochs;
            cn_search_sample(fine, nd, &sampler, t->values);
            if ((rc = run_trial(&x, t, total)) != CLI_EXIT_OK) goto done;
        }
    }
    int sig = cli_interrupted();
    if (sig && n == 0) {
        fprintf(stderr, "convnet: search: interrupted before any trial finished\n");
        rc = 128 + sig;
        goto done;
    }
    if ((rc = report_results(&x, s, trials, n, fine, have_fine, sig != 0, best_path, out)) !=
        CLI_EXIT_OK)
        goto done;
    int ok = 0;
    for (int i = 0; i < n; i++) ok += trials[i].status == TRIAL_OK;
    if (sig) {
        *stopped = 1;
        rc = 128 + sig;
    } else if (ok == 0) {
        *stopped = 1;
        rc = CLI_EXIT_RUNTIME;
    }
done:
    if (jsonl && fclose(jsonl) != 0 && rc == CLI_EXIT_OK)
        rc = cli_runtime_error("search", "%s: write failed", jsonl_path);
    cn_free(trials);
    cn_norm_free(&norm);
    cli_data_free(&d);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    search_cli s;
    int rc = scan_args(argc, argv, &s);
    if (rc != 0) return rc;
    if (s.help) {
        cmd_search_help(stdout);
        return CLI_EXIT_OK;
    }
    if (!s.model)
        return cli_usage_error("search", "MODEL is required (softmax, two-layer, mlp, "
                                         "three-layer-convnet); see 'convnet help search'");
    if (!s.out) return cli_usage_error("search", "--out DIR is required (the results folder)");
    cli_train_cfg base;
    char msg[512];
    if (cli_tc_default(&base, s.model, msg, sizeof msg) != 0)
        return cli_usage_error("search", "%s", msg);
    if (s.config && cli_tc_load_file(&base, s.config, msg, sizeof msg) != 0)
        return cli_usage_error("search", "--config: %s", msg);
    if ((rc = cli_tc_apply_flags(argc, argv, "search", OWN_BOOLS, N_OWN_BOOLS, OWN_VALUES,
                                 N_OWN_VALUES, &base)) != 0)
        return rc;
    if (base.val <= 0)
        return cli_usage_error("search", "trials are scored on the validation split: --val "
                                         "must be > 0");
    if ((double)base.seed + s.trials + s.fine_trials > SR_SEED_MAX)
        return cli_usage_error("search", "--seed %lld + %d trials exceeds the largest seed",
                               base.seed, s.trials + s.fine_trials);
    cli_progress p;
    cli_progress_init(&p, s.quiet);
    cn_search_dim dims[CN_SEARCH_MAX_DIMS];
    int nd = 0;
    rc = parse_space(s.space ? s.space : SR_DEFAULT_SPACE, s.space == NULL, &base, &p, dims, &nd);
    if (rc != 0) {
        cli_progress_destroy(&p);
        return rc;
    }
    if (base.threads > 0) cn_set_num_threads(base.threads);
    cli_out *out = cli_out_new("search");
    if (!out) {
        cli_progress_destroy(&p);
        return cli_runtime_error("search", "out of memory");
    }
    int stopped = 0;
    rc = search_run(&s, &base, dims, nd, &p, out, &stopped);
    if ((rc == CLI_EXIT_OK || stopped) && cli_out_print(out, s.json) != 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_RUNTIME;
    if (stopped && rc == CLI_EXIT_RUNTIME)
        fprintf(stderr, "convnet: search: every trial diverged or failed: lower the learning-"
                        "rate range or check the configuration\n");
    else if (stopped)
        fprintf(stderr, "convnet: search: interrupted: the finished trials are above and in "
                        "%s/search.jsonl\n", s.out);
    cli_out_free(out);
    cli_progress_destroy(&p);
    return rc;
}
