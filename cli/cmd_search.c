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
#include "search_report.h"
#include "search_space.h"
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
            "are the options above; trials train without --augment):\n");
    static const char *const own[] = {"epochs", "out", "augment"};
    cli_tc_help(f, own, 3);
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

/* ------------------------------------------------------------ trials */

/* Forward progress to the CLI line but never cancel: SIGINT ends the search after
 * the current trial. */
static int trial_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    cn_progress_report(ctx, stage, done, total);
    return 0;
}

/* Build, initialise and train the trial's model and fill t's results (a failed
 * trial gets status CLI_TRIAL_FAILED and its message). Returns CN_OK, or
 * CN_ERR_NOMEM (err set), which ends the search. */
static cn_status train_trial(const cli_search_ctx *x, cli_trial *t, int total, cn_error *err)
{
    cli_train_cfg c;
    cn_train_config tc;
    cn_builtin_spec spec;
    const cn_dataset *tr = x->data->train;
    if (cli_search_trial_config(x, t, 1, &c, t->message, sizeof t->message) != 0 ||
        cli_tc_finish(&c, tr->c, tr->h, tr->w, tr->num_classes, tr->n, &tc, &spec, t->message,
                      sizeof t->message) != 0)
        return CN_OK;
    int usage = 0;
    cn_model *m = cli_tc_build(&c, &spec, NULL, &usage, t->message, sizeof t->message);
    if (!m) return CN_OK; /* a failed trial: the message says why */
    cn_compile_opts co = {.batch = c.batch, .training = 1, .input_grad = 0};
    cn_rng rng;
    cn_rng_seed(&rng, t->seed, SR_INIT_STREAM);
    if (cn_model_compile(m, &co, err) != CN_OK || cn_model_init(m, &rng, err) != CN_OK) {
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
        t->status = CLI_TRIAL_OK;
        t->score = rep.best_val_acc;
    } else if (st == CN_ERR_NOMEM) {
        return CN_ERR_NOMEM;
    } else {
        t->status = st == CN_ERR_NUMERIC ? CLI_TRIAL_DIVERGED : CLI_TRIAL_FAILED;
        snprintf(t->message, sizeof t->message, "%s", err->msg);
    }
    return CN_OK;
}

/* Run one trial (t has index, stage, seed, epochs and values): train it, say how
 * it went on stderr and append its line to search.jsonl. Returns CLI_EXIT_OK
 * (also for diverged and failed trials) or an exit status that ends the search
 * (out of memory, search.jsonl not writable). */
static int run_trial(const cli_search_ctx *x, cli_trial *t, int total)
{
    cn_error err;
    cn_error_clear(&err);
    t->score = NAN;
    t->train_acc = NAN;
    t->final_loss = NAN;
    t->seconds = 0;
    t->epochs_run = 0;
    t->best_epoch = 0;
    t->status = CLI_TRIAL_FAILED;
    t->message[0] = '\0';
    if (train_trial(x, t, total, &err) != CN_OK) return cli_lib_error("search", &err);
    char vals[512];
    size_t used = 0;
    vals[0] = '\0';
    for (int d = 0; d < x->n_dims && used < sizeof vals; d++) {
        char v[32];
        cli_space_value_cell(&x->dims[d], t->values[d], v, sizeof v);
        used += (size_t)snprintf(vals + used, sizeof vals - used, " %s=%s", x->dims[d].name, v);
    }
    if (t->status == CLI_TRIAL_OK)
        cli_progress_stage(x->p, "trial %d/%d (%s, epochs %d):%s -> val acc %.4f, train acc "
                                 "%.4f, %.1f s",
                           t->index + 1, total, cli_search_stage_name(t->stage), t->epochs, vals,
                           t->score, t->train_acc, t->seconds);
    else if (t->status == CLI_TRIAL_DIVERGED)
        cli_progress_stage(x->p, "trial %d/%d (%s, epochs %d):%s -> diverged (%s)", t->index + 1,
                           total, cli_search_stage_name(t->stage), t->epochs, vals, t->message);
    else
        cli_progress_warn(x->p, "search: trial %d failed:%s: %s", t->index + 1, vals, t->message);
    json_t *line = cli_search_trial_json(x, t);
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

/* ------------------------------------------------------------ the search */

/* "dir/name" into buf (SR_PATH bytes). 0, or -1 when too long. */
static int path_join(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, SR_PATH, "%s/%s", dir, name);
    return n > 0 && n < SR_PATH ? 0 : -1;
}

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
    cli_trial *trials = NULL;
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
    if (strcmp(base->augment, "none") != 0 && base->augment[0]) {
        rc = cli_usage_error("search", "--augment: search trials train without augmentation "
                                       "(short trials rank hyperparameters); give it to "
                                       "'convnet train' with the chosen configuration");
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
    cli_search_ctx x = {base, &d, dims, nd, p, jsonl, jsonl_path};
    cn_rng sampler;
    cn_rng_seed(&sampler, (uint64_t)base->seed, SR_SAMPLER_STREAM);
    char sp[1024];
    cli_space_text(dims, nd, sp, sizeof sp);
    cli_progress_stage(p, "coarse stage: %d trials of %d epochs, %d train / %d val images; %s",
                       s->trials, s->epochs, d.train->n, d.val->n, sp);
    int n = 0;
    for (int i = 0; i < s->trials && !cli_interrupted(); i++, n++) {
        cli_trial *t = &trials[n];
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
        cli_space_text(fine, nd, sp, sizeof sp);
        cli_progress_stage(p, "fine stage: %d trials of %d epochs around the best %d; %s",
                           s->fine_trials, s->fine_epochs, k, sp);
        for (int i = 0; i < s->fine_trials && !cli_interrupted(); i++, n++) {
            cli_trial *t = &trials[n];
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
    if ((rc = cli_search_report(&x, trials, n, s->trials, s->fine_trials, fine, have_fine, sig != 0,
                                best_path, out)) != CLI_EXIT_OK)
        goto done;
    int ok = 0;
    for (int i = 0; i < n; i++) ok += trials[i].status == CLI_TRIAL_OK;
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
    rc = cli_space_parse(s.space ? s.space : SR_DEFAULT_SPACE, s.space == NULL, &base, &p, dims,
                         &nd);
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
