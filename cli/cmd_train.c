/* cli/cmd_train.c: `convnet train MODEL --data DIR --out RUN_DIR [--key value ...]`
 * trains a built-in model with the library's trainer: the run configuration
 * (defaults < --config FILE < flags, printed in full and kept as
 * RUN_DIR/config.txt), normalisation fitted on the training split, a line per
 * epoch on stderr with the monitors' warnings and the course's reading of the
 * train/validation gap, checkpoints, SIGINT/SIGTERM (finish the step, save, exit
 * 128 + signal), `--resume RUN_DIR` (refused when the data or configuration
 * fingerprint differs unless --force), the course's sanity checks (--sanity),
 * and at the end the test accuracy of the best (by validation) and the last
 * weights. */
#include <errno.h>
#include <math.h>
#include <signal.h>
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
#include "report_run.h"
#include "train_config.h"

#define TR_PATH 4096

/* The command line beyond the configuration keys. */
typedef struct train_cli {
    const char *model, *config, *resume;
    int force, sanity, json, quiet, print_config, help;
} train_cli;

void cmd_train_help(FILE *f)
{
    fprintf(f,
            "Usage: convnet train MODEL --out RUN_DIR [--data DIR] [--key value ...]\n"
            "       convnet train --config FILE --out RUN_DIR [--key value ...]\n"
            "       convnet train --resume RUN_DIR [--force] [--key value ...]\n"
            "       convnet train MODEL --sanity [--data DIR] [--key value ...]\n"
            "\n"
            "Train a built-in model (softmax, two-layer, mlp, three-layer-convnet) or a\n"
            "network in the model text format (a .cnm file, e.g. the zoo's\n"
            "models/resnet20.cnm: its params c, h, w and classes take the data's values,\n"
            "--params NAME=VALUE,... sets others) on a dataset. RUN_DIR/model.cnm keeps\n"
            "the network a file built. Every configuration key below is a flag\n"
            "(--key value or --key=value,\n"
            "'-' and '_' alike) and a line 'key = value' of a --config file; flags win over\n"
            "the file, the file over the defaults. The whole configuration is printed on\n"
            "stderr and kept as RUN_DIR/config.txt. Each epoch appends a line to\n"
            "RUN_DIR/metrics.jsonl, each step one to RUN_DIR/steps.csv (step, epoch,\n"
            "loss, lr); RUN_DIR also gets checkpoint.safetensors (+ .prev),\n"
            "best.safetensors (best validation accuracy) and model.safetensors (the last\n"
            "weights): model files that `convnet eval` reads alone.\n"
            "\n"
            "Options:\n"
            "  --config FILE        read keys from FILE first\n"
            "  --resume RUN_DIR     continue the run in RUN_DIR from its checkpoint (its\n"
            "                       config.txt, then flags); bit-identical to a run that\n"
            "                       was never interrupted (same thread count)\n"
            "  --force              resume even when the data or configuration differ\n"
            "  --sanity             run the course's sanity checks instead of training\n"
            "  --print-config       print the configuration and exit\n"
            "  --json               print one JSON object on stdout\n"
            "  --quiet              no progress on stderr\n"
            "\n"
            "Configuration keys:\n");
    cli_tc_help(f, NULL, 0);
    fprintf(f,
            "\n"
            "Exit status: 0 done, 1 runtime error (including a NaN/Inf stop), 2 usage\n"
            "error, 130 / 143 stopped by SIGINT / SIGTERM after saving a checkpoint.\n"
            "\n"
            "Examples:\n"
            "  convnet train two-layer --out runs/mlp --hidden 256 --optimizer adam "
            "--lr 1e-3\n"
            "  convnet train three-layer-convnet --out runs/cnn --epochs 10\n"
            "  convnet train models/resnet20.cnm --out runs/r20 --optimizer adam --lr 1e-3\n"
            "  convnet train models/wrn-28-10.cnm --out runs/wrn --params widen=4\n"
            "  convnet train --resume runs/cnn\n"
            "  convnet train softmax --sanity\n");
}

/* Split argv into the CLI options and the configuration keys (applied to c in
 * order). Returns 0 or CLI_EXIT_USAGE. Two passes: the first finds MODEL,
 * --config and --resume (they decide the starting configuration). */
static int scan_args(int argc, char **argv, train_cli *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            t->help = 1;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (t->model) return cli_usage_error("train", "unexpected argument '%s'", a);
            t->model = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        char key[64];
        size_t kl = eq ? (size_t)(eq - name) : strlen(name);
        if (kl >= sizeof key) return cli_usage_error("train", "unknown flag '%s'", a);
        memcpy(key, name, kl);
        key[kl] = '\0';
        const char *bools[] = {"force", "sanity", "json", "quiet", "print-config"};
        int *bool_t[] = {&t->force, &t->sanity, &t->json, &t->quiet, &t->print_config};
        int is_bool = 0;
        for (int k = 0; k < 5; k++)
            if (!strcmp(key, bools[k])) {
                if (eq) return cli_usage_error("train", "--%s takes no value", key);
                *bool_t[k] = 1;
                is_bool = 1;
            }
        if (is_bool) continue;
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        if (!val) return cli_usage_error("train", "--%s needs a value", key);
        if (!eq) i++;
        if (!strcmp(key, "config"))
            t->config = val;
        else if (!strcmp(key, "resume"))
            t->resume = val;
        else if (!cli_tc_is_key(key)) {
            char msg[256];
            cli_train_cfg probe;
            cli_tc_default(&probe, "softmax", msg, sizeof msg);
            cli_tc_set(&probe, key, "", msg, sizeof msg);
            /* msg: "unknown key 'x' (did you mean 'y'?)" */
            const char *dm = strstr(msg, "(did you mean '");
            if (dm)
                return cli_usage_error("train", "unknown flag '--%s' (did you mean '--%.*s'?)",
                                       key, (int)(strchr(dm + 15, '\'') - (dm + 15)), dm + 15);
            return cli_usage_error("train", "unknown flag '--%s'", key);
        }
    }
    return 0;
}

static int path_join(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, TR_PATH, "%s/%s", dir, name);
    return n > 0 && n < TR_PATH ? 0 : -1;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The per-epoch line on stderr, the monitors' warnings and the gap reading. */
typedef struct epoch_ctx {
    cli_progress *p;
    int monitor;
} epoch_ctx;

static int on_epoch(void *ud, const cn_train_epoch *e)
{
    epoch_ctx *x = ud;
    char va[32] = "-";
    if (isfinite(e->val_acc)) snprintf(va, sizeof va, "%.4f", e->val_acc);
    cli_progress_stage(x->p,
                       "epoch %d/%d: loss %.4f, train acc %.4f, val acc %s%s, lr %.3g, "
                       "grad norm %.3g, %.0f img/s, %.1f s",
                       e->epoch, e->epochs, e->loss, e->train_acc, va, e->improved ? " (best)" : "",
                       e->lr, e->grad_norm, e->images_per_s, e->seconds);
    if (isfinite(e->ema_val_acc)) cli_progress_stage(x->p, "  EMA weights: val acc %.4f",
                                                    e->ema_val_acc);
    char warn[4096];
    if (cn_monitor_warnings(e->monitor, warn, sizeof warn) > 0) {
        char *line = warn;
        while (line && *line) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = '\0';
            if (*line) cli_progress_warn(x->p, "epoch %d: %s", e->epoch, line);
            line = nl ? nl + 1 : NULL;
        }
    }
    if (isfinite(e->val_acc))
        cli_progress_stage(x->p, "  train - val = %+.4f: %s", e->train_acc - e->val_acc, e->gap);
    return cli_interrupted() != 0;
}

/* Accuracy of the model file at path on ds (raw pixels: the file's own
 * normalisation is applied to a copy). */
static int test_accuracy(const char *path, const cn_dataset *raw, int batch, double *acc,
                         cn_error *err)
{
    cn_model_info info;
    memset(&info, 0, sizeof info);
    cn_model *m = cn_model_file_load(path, batch, &info, err);
    if (!m) return -1;
    cn_dataset *ds = NULL;
    cn_real *probs = NULL;
    int rc = -1;
    int *all = cn_malloc((size_t)raw->n * sizeof *all);
    if (!all) {
        cn_error_set(err, CN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < raw->n; i++) all[i] = i;
    if (cn_dataset_subset(raw, all, raw->n, &ds, err) != CN_OK) goto done;
    if (info.norm.mode != CN_NORM_NONE && cn_norm_apply(&info.norm, ds, err) != CN_OK) goto done;
    probs = cn_malloc((size_t)ds->n * info.spec.classes * sizeof *probs); // (n, classes)
    if (!probs) {
        cn_error_set(err, CN_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (cn_model_predict(m, ds, probs, err) != CN_OK) goto done;
    long ok = 0;
    for (int i = 0; i < ds->n; i++) {
        const cn_real *row = probs + (size_t)i * info.spec.classes;
        int best = 0;
        for (int k = 1; k < info.spec.classes; k++)
            if (row[k] > row[best]) best = k;
        ok += best == ds->labels[i];
    }
    *acc = (double)ok / ds->n;
    rc = 0;
done:
    cn_free(all);
    cn_free(probs);
    cn_dataset_free(ds);
    cn_model_free(m);
    cn_model_info_free(&info);
    return rc;
}

static int run_sanity(const cn_builtin_spec *spec, const cli_data *d, uint64_t seed,
                      cli_progress *p, cli_out *out)
{
    cn_error err;
    cn_error_clear(&err);
    cn_sanity_result res[CN_SANITY_CHECKS];
    cli_progress_stage(p, "sanity checks of %s on %d training images...", spec->name,
                       d->train->n);
    if (cn_sanity_run(spec, d->train, seed, res, &err) != CN_OK)
        return cli_lib_error("train", &err);
    static const char *const hdr[] = {"check", "result", "measured", "expected", "detail"};
    cli_table *t = cli_out_table(out, "checks", "sanity checks", 5, hdr);
    int failed = 0;
    for (int i = 0; i < CN_SANITY_CHECKS; i++) {
        char mv[32], ev[32];
        snprintf(mv, sizeof mv, "%.6g", res[i].value);
        snprintf(ev, sizeof ev, "%.6g", res[i].expected);
        const char *cells[5] = {res[i].name, res[i].passed ? "PASS" : "FAIL", mv, ev,
                                res[i].detail};
        json_t *o = json_pack("{s:s, s:b, s:o, s:o, s:s, s:s}", "name", res[i].name, "passed",
                              res[i].passed, "value", cli_json_real(res[i].value), "expected",
                              cli_json_real(res[i].expected), "detail", res[i].detail, "advice",
                              res[i].advice);
        cli_table_row(t, cells, o);
        if (!res[i].passed) {
            failed++;
            cli_progress_warn(p, "sanity check '%s' failed: %s. %s", res[i].name, res[i].detail,
                              res[i].advice);
        }
    }
    cli_out_str(out, "model", "model", spec->name);
    cli_out_int(out, "failed", "failed checks", failed);
    return failed ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}

/* Write RUN_DIR/config.txt. */
static int write_config(const cli_train_cfg *c, const char *dir)
{
    char path[TR_PATH];
    if (path_join(path, dir, "config.txt") != 0)
        return cli_runtime_error("train", "%s: path too long", dir);
    FILE *f = fopen(path, "w");
    if (!f) return cli_runtime_error("train", "%s: cannot create: %s", path, strerror(errno));
    cli_tc_print(c, f);
    if (fclose(f) != 0) return cli_runtime_error("train", "%s: write failed", path);
    return CLI_EXIT_OK;
}

/* Make (or check) the run folder: a new run refuses a folder that already holds
 * a checkpoint (use --resume) but accepts an empty or checkpoint-less one. */
static int prepare_run_dir(const char *dir, int resuming)
{
    struct stat st;
    char path[TR_PATH];
    if (stat(dir, &st) != 0) {
        if (resuming)
            return cli_runtime_error("train", "--resume %s: no such folder", dir);
        if (mkdir(dir, 0777) != 0)
            return cli_runtime_error("train", "--out %s: cannot create the folder: %s", dir,
                                     strerror(errno));
        return CLI_EXIT_OK;
    }
    if (!S_ISDIR(st.st_mode)) return cli_runtime_error("train", "%s is not a folder", dir);
    if (path_join(path, dir, "checkpoint.safetensors") != 0)
        return cli_runtime_error("train", "%s: path too long", dir);
    if (resuming && !file_exists(path))
        return cli_runtime_error("train", "--resume %s: no checkpoint.safetensors there", dir);
    if (!resuming && file_exists(path))
        return cli_runtime_error("train", "--out %s already holds a run with a checkpoint; "
                                          "continue it with --resume %s or choose another folder",
                                 dir, dir);
    return CLI_EXIT_OK;
}

/* RUN_DIR/model.cnm: the network a model file built (flat, params resolved), so
 * --resume rebuilds it whatever happened to the file since. */
static int write_model_text(const char *text, const char *dir)
{
    char path[TR_PATH];
    if (path_join(path, dir, "model.cnm") != 0)
        return cli_runtime_error("train", "%s: path too long", dir);
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) < 0;
    if (f && fclose(f) != 0) bad = 1;
    if (bad) return cli_runtime_error("train", "%s: cannot write: %s", path, strerror(errno));
    return CLI_EXIT_OK;
}

/* The trainer's progress callback: non-zero once SIGINT / SIGTERM arrived. */
static int stop_requested(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)ctx;
    (void)stage;
    (void)done;
    (void)total;
    return cli_interrupted();
}

/* Parse the augmentation spec, fit its lighting statistics on the raw training
 * split when it has a lighting step, and bind the training image shape. */
static int setup_augment(const char *spec, const cn_dataset *train, cn_augment *a,
                         cn_sample_transform *tf)
{
    cn_error err;
    cn_error_clear(&err);
    if (cn_augment_parse(spec, a, &err) != CN_OK)
        return cli_usage_error("train", "--augment: %s", err.msg);
    if (cn_augment_needs_lighting(a) &&
        cn_augment_fit_lighting(a, cn_dataset_flat(train), train->n, train->c, train->h,
                                train->w, &err) != CN_OK)
        return cli_lib_error("train", &err);
    if (cn_augment_transform(a, train->c, train->h, train->w, tf, &err) != CN_OK)
        return cli_usage_error("train", "--augment %s on (%d, %d, %d) images: %s", spec,
                               train->c, train->h, train->w, err.msg);
    if (tf->oh != train->h || tf->ow != train->w)
        return cli_usage_error("train", "--augment %s turns (%d, %d) images into (%d, %d); "
                               "training needs the input size kept (e.g. crop=%dx%d:PAD)",
                               spec, train->h, train->w, tf->oh, tf->ow, train->h, train->w);
    return CLI_EXIT_OK;
}

static int train_run(const cli_train_cfg *c, const train_cli *t, cli_progress *p, cli_out *out)
{
    cn_error err;
    cn_error_clear(&err);
    cli_data d;
    memset(&d, 0, sizeof d);
    int rc = cli_data_load("train", c->data, c->train_limit, c->test_limit, c->val,
                           (uint64_t)c->seed, 0, p, &d);
    if (rc != CLI_EXIT_OK) return rc;
    cn_norm norm;
    memset(&norm, 0, sizeof norm);
    cn_norm_mode mode = CN_NORM_NONE;
    cn_augment aug;
    cn_sample_transform aug_tf;
    cn_model *m = NULL;
    char *text = NULL; /* a model file's network as built (model.cnm of the run) */
    cn_train_config tc;
    cn_builtin_spec spec;
    char msg[512];
    char ckpt[TR_PATH], best[TR_PATH], last[TR_PATH];
    const char *dir = t->resume ? t->resume : c->out;
    if (cn_norm_mode_parse(c->norm, &mode, &err) != CN_OK) {
        rc = cli_usage_error("train", "%s", err.msg);
        goto done;
    }
    if (cli_tc_finish(c, d.train->c, d.train->h, d.train->w, d.train->num_classes, d.train->n,
                      &tc, &spec, msg, sizeof msg) != 0) {
        rc = cli_usage_error("train", "%s", msg);
        goto done;
    }
    /* with augmentation the training split stays raw: the trainer augments each
     * batch and normalises it after (colour steps need pixels in [0, 1]) */
    int augmenting = strcmp(c->augment, "none") != 0 && c->augment[0] && !t->sanity;
    if (augmenting && (rc = setup_augment(c->augment, d.train, &aug, &aug_tf)) != CLI_EXIT_OK)
        goto done;
    cli_progress_stage(p, "normalising (%s), statistics from the %d training-split images",
                       cn_norm_mode_name(mode), d.train->n);
    if (cn_norm_fit(d.train, mode, &norm, &err) != CN_OK ||
        (!augmenting && cn_norm_apply(&norm, d.train, &err) != CN_OK) ||
        (d.val && cn_norm_apply(&norm, d.val, &err) != CN_OK)) {
        rc = cli_lib_error("train", &err);
        goto done;
    }
    if (t->sanity && c->model_file[0]) {
        rc = cli_usage_error("train", "--sanity checks the built-in models (softmax, "
                             "two-layer, mlp, three-layer-convnet), not model files");
        goto done;
    }
    if (t->sanity) {
        rc = run_sanity(&spec, &d, (uint64_t)c->seed, p, out);
        goto done;
    }
    if ((rc = prepare_run_dir(dir, t->resume != NULL)) != CLI_EXIT_OK) goto done;
    if (!t->resume && (rc = write_config(c, dir)) != CLI_EXIT_OK) goto done;
    if (path_join(ckpt, dir, "checkpoint.safetensors") ||
        path_join(best, dir, "best.safetensors") ||
        path_join(last, dir, "model.safetensors")) {
        rc = cli_runtime_error("train", "%s: path too long", dir);
        goto done;
    }
    int usage = 0;
    m = cli_tc_build(c, &spec, &text, &usage, msg, sizeof msg);
    if (!m) {
        rc = usage ? cli_usage_error("train", "%s", msg) : cli_runtime_error("train", "%s", msg);
        goto done;
    }
    if (text && !t->resume && (rc = write_model_text(text, dir)) != CLI_EXIT_OK) goto done;
    cn_compile_opts co = {.batch = c->batch, .training = 1, .input_grad = 0};
    if (cn_model_compile(m, &co, &err) != CN_OK) {
        rc = cli_lib_error("train", &err);
        goto done;
    }
    if (!t->resume) {
        cn_rng rng;
        cn_rng_seed(&rng, (uint64_t)c->seed, 3);
        if (cn_model_init(m, &rng, &err) != CN_OK) {
            rc = cli_lib_error("train", &err);
            goto done;
        }
    }
    cn_model_info info;
    memset(&info, 0, sizeof info);
    info.spec = spec;
    if (c->model_file[0]) {
        info.from_text = 1;
        memset(info.spec.hidden, 0, sizeof info.spec.hidden);
        info.spec.n_hidden = info.spec.filters = info.spec.kernel = info.spec.batchnorm = 0;
        info.spec.dropout = info.spec.init_std = 0;
    }
    info.class_names = d.train->class_names;
    info.norm = norm;
    epoch_ctx ectx = {p, c->monitor};
    tc.run_dir = dir;
    tc.info = &info;
    tc.on_epoch = on_epoch;
    tc.on_epoch_ud = &ectx;
    tc.config_fingerprint = cli_tc_fingerprint(c);
    if (text) tc.config_fingerprint = cn_fingerprint64(text, strlen(text), tc.config_fingerprint);
    tc.resume = t->resume ? ckpt : NULL;
    tc.force_resume = t->force;
    if (augmenting) {
        tc.augment = &aug_tf;
        tc.augment_norm = &norm;
    }
    char desc[512];
    if (c->model_file[0])
        snprintf(desc, sizeof desc, "%s%s%s", c->model_file, c->params[0] ? " " : "", c->params);
    else
        cn_builtin_describe(&spec, desc, sizeof desc);
    cn_params *ps = cn_model_params(m);
    cli_progress_stage(p, "%s %s: %zu parameters, %d train / %d val images, %d epochs of "
                          "batch %d",
                       t->resume ? "resuming" : "training", desc, ps->count, d.train->n,
                       d.val ? d.val->n : 0, c->epochs, c->batch);
    cn_train_report rep;
    /* the bar (or plain lines) comes from on_step; the progress callback only
     * carries Ctrl-C / SIGTERM into the trainer */
    tc.on_step = cli_progress_step;
    tc.on_step_ud = p;
    cn_progress prog = {stop_requested, NULL};
    double t0 = cn_time_now();
    cn_status st = cn_train(m, d.train, d.val, &tc, &rep, &prog, &err);
    double secs = cn_time_now() - t0;
    cli_progress_end(p);
    if (st != CN_OK) {
        int sig = cli_interrupted();
        if (sig && rep.steps > 0 && strstr(err.msg, "cancelled")) {
            fprintf(stderr,
                    "convnet: train: %s at step %llu: checkpoint saved to %s; continue with: "
                    "convnet train --resume %s\n",
                    sig == SIGTERM ? "terminated" : "interrupted",
                    (unsigned long long)rep.steps, ckpt, dir);
            rc = 128 + sig;
        } else {
            rc = cli_lib_error("train", &err);
        }
        goto done;
    }
    cli_out_str(out, "model", "model", desc);
    cli_out_str(out, "run_dir", "run folder", dir);
    cli_out_int(out, "parameters", "parameters", (long long)ps->count);
    cli_out_bool(out, "resumed", rep.resumed ? "resumed at step" : NULL, rep.resumed);
    cli_out_int(out, "steps", "steps", (long long)rep.steps);
    cli_out_int(out, "epochs_run", "epochs run", rep.epochs_run);
    cli_out_bool(out, "stopped_early", "stopped early", rep.stopped_early);
    cli_out_real(out, "final_loss", "final training loss", rep.final_loss, CLI_FMT_G);
    cli_out_real(out, "train_accuracy", "train accuracy (last epoch)", rep.final_train_acc,
                 CLI_FMT_ACC);
    cli_out_real(out, "val_accuracy", "val accuracy (last)", rep.final_val_acc, CLI_FMT_ACC);
    cli_out_real(out, "best_val_accuracy", "best val accuracy", rep.best_val_acc, CLI_FMT_ACC);
    cli_out_int(out, "best_epoch", "best epoch", rep.best_epoch);
    if (isfinite(rep.ema_val_acc))
        cli_out_real(out, "ema_val_accuracy", "EMA val accuracy", rep.ema_val_acc, CLI_FMT_ACC);
    if (rep.snapshots) cli_out_int(out, "snapshots", "snapshots", rep.snapshots);
    cli_out_int(out, "skipped_steps", NULL, (long long)rep.skipped_steps);
    cli_out_real(out, "train_seconds", "training seconds", secs, CLI_FMT_SEC);
    /* the report predicts the test set with the best weights (else the last) and
     * returns that accuracy; only last weights that differ from the best ones (a
     * best epoch before the last) need a second pass */
    double acc_best = NAN, acc_last = NAN;
    if (d.test) cli_progress_stage(p, "testing on %d images", d.test->n);
    if ((rc = cli_report_after_train(dir, d.test, p, &acc_best)) != CLI_EXIT_OK) goto done;
    if (d.test) {
        if (!file_exists(best) || (rep.best_epoch > 0 && rep.best_epoch == rep.epochs_run))
            acc_last = acc_best;
        else if (test_accuracy(last, d.test, c->batch, &acc_last, &err) != 0) {
            rc = cli_lib_error("train", &err);
            goto done;
        }
    }
    cli_out_real(out, "test_accuracy", "test accuracy (best weights)", acc_best, CLI_FMT_ACC);
    cli_out_real(out, "final_test_accuracy", "test accuracy (last weights)", acc_last,
                 CLI_FMT_ACC);
    cli_out_int(out, "test_size", "test images", d.test ? d.test->n : 0);
    cli_out_int(out, "threads", NULL, cn_get_num_threads());
    char html[TR_PATH];
    if (path_join(html, dir, "report.html") != 0) html[0] = '\0';
    cli_out_str(out, "report", "report", html);
done:
    cn_free(text);
    cn_model_free(m);
    cn_norm_free(&norm);
    cli_data_free(&d);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_cli t;
    int rc = scan_args(argc, argv, &t);
    if (rc != 0) return rc;
    if (t.help) {
        cmd_train_help(stdout);
        return CLI_EXIT_OK;
    }
    cli_train_cfg c;
    char msg[512];
    if (t.resume) {
        if (t.model)
            return cli_usage_error("train", "--resume takes the model from %s/config.txt; "
                                            "drop '%s'", t.resume, t.model);
        char path[TR_PATH];
        if (path_join(path, t.resume, "config.txt") != 0)
            return cli_usage_error("train", "--resume: path too long");
        if (cli_tc_default(&c, "softmax", msg, sizeof msg) != 0 ||
            cli_tc_load_file(&c, path, msg, sizeof msg) != 0)
            return cli_runtime_error("train", "--resume %s: %s", t.resume, msg);
        /* a model file's network is the run's own copy (params already applied) */
        if (c.model_file[0] && (path_join(path, t.resume, "model.cnm") != 0 ||
                                strlen(path) >= sizeof c.model_file || !file_exists(path)))
            return cli_runtime_error("train", "--resume %s: no model.cnm there (the network "
                                     "of model file %s)", t.resume, c.model_file);
        if (c.model_file[0]) {
            strcpy(c.model_file, path);
            c.params[0] = '\0';
        }
    } else {
        if (!t.model && !t.config)
            return cli_usage_error("train", "MODEL is required (softmax, two-layer, mlp, "
                                            "three-layer-convnet, or a model file such as "
                                            "models/resnet20.cnm); see 'convnet help train'");
        /* without MODEL the configuration file's "model = NAME" line names it */
        if (cli_tc_default(&c, t.model ? t.model : "softmax", msg, sizeof msg) != 0)
            return cli_usage_error("train", "%s", msg);
        if (t.config) {
            FILE *f = fopen(t.config, "r");
            char line[512];
            int named = 0;
            while (f && !named && fgets(line, sizeof line, f)) {
                char *p = line;
                while (*p == ' ' || *p == '\t') p++;
                named = strncmp(p, "model", 5) == 0 && (p[5] == ' ' || p[5] == '=');
            }
            if (f) fclose(f);
            if (!t.model && f && !named)
                return cli_usage_error("train", "--config %s has no 'model = NAME' line: give "
                                                "MODEL", t.config);
            if (cli_tc_load_file(&c, t.config, msg, sizeof msg) != 0)
                return cli_usage_error("train", "--config: %s", msg);
            const char *named_model = c.model_file[0] ? c.model_file : c.spec.name;
            if (t.model && strcmp(named_model, t.model) != 0)
                return cli_usage_error("train", "MODEL '%s' differs from the model '%s' of "
                                                "--config %s", t.model, named_model, t.config);
        }
    }
    static const char *const bools[] = {"force", "sanity", "json", "quiet", "print-config"};
    static const char *const values[] = {"config", "resume"};
    if ((rc = cli_tc_apply_flags(argc, argv, "train", bools, 5, values, 2, &c)) != 0) return rc;
    if (t.print_config) {
        cli_tc_print(&c, stdout);
        return CLI_EXIT_OK;
    }
    if (!t.resume && !t.sanity && !c.out[0])
        return cli_usage_error("train", "--out RUN_DIR is required (the run folder)");
    if (c.threads > 0) cn_set_num_threads(c.threads);
    cli_progress p;
    cli_progress_init(&p, t.quiet);
    if (!t.quiet) {
        fprintf(stderr, "convnet: train: configuration (printed to %s/config.txt too):\n",
                t.resume ? t.resume : c.out[0] ? c.out : "nowhere");
        cli_tc_print(&c, stderr);
    }
    cli_out *out = cli_out_new("train");
    if (!out) {
        cli_progress_destroy(&p);
        return cli_runtime_error("train", "out of memory");
    }
    rc = train_run(&c, &t, &p, out);
    if ((rc == CLI_EXIT_OK || (t.sanity && rc == CLI_EXIT_RUNTIME)) &&
        cli_out_print(out, t.json) != 0)
        rc = CLI_EXIT_RUNTIME;
    cli_out_free(out);
    cli_progress_destroy(&p);
    return rc;
}
