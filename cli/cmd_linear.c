/* cli/cmd_linear.c: `convnet linear`: a linear SVM / softmax classifier trained
 * with minibatch SGD on an IDX dataset. Normalisation statistics are fitted on the
 * training split only and then applied to train, validation and test (fitting on
 * all data would leak validation/test information, the course's pitfall). With
 * --search, learning rate and regularisation are chosen by random search on the
 * validation split before the final training run. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "load.h"
#include "output.h"
#include "progress.h"

/* Defaults of this command (the SGD settings come from cn_linear_opts_default). */
#define LINEAR_DEFAULT_NORM "channel"
#define LINEAR_DEFAULT_VAL 10000
#define LINEAR_DEFAULT_SEED 1
/* Random-search defaults (updated from this project's searches). */
#define LINEAR_DEFAULT_TRIALS 40
#define LINEAR_DEFAULT_LR_LO 1e-5
#define LINEAR_DEFAULT_LR_HI 1e-1
#define LINEAR_DEFAULT_REG_LO 1e-6
#define LINEAR_DEFAULT_REG_HI 1e-1
/* 0: each search trial trains for --epochs (the loss's default unless given) */
#define LINEAR_DEFAULT_SEARCH_EPOCHS 0
/* The RNG stream of the initial weights (the one cn_linear_search uses). */
#define LINEAR_INIT_STREAM 0

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *const LOSSES[] = {"svm", "softmax", "svm-squared", NULL};
static const char *const NORMS[] = {"none", "mean-image", "channel", "pixel", NULL};

typedef struct linear_cfg {
    const char *loss, *data, *norm, *templates;
    double lr, reg, momentum, lr_decay;
    int epochs, batch, average;
    int val, seed, threads, train_limit, test_limit;
    int search, trials, search_epochs;
    cli_range lr_range, reg_range;
    int json, quiet;
} linear_cfg;

/* Texts of the per-loss defaults shown in help ("svm 0.001, softmax 0.01, ..."). */
typedef struct linear_deftext {
    char lr[96], reg[96], epochs[96], batch[96], momentum[96], lr_decay[96], average[96];
} linear_deftext;

static void linear_cfg_default(linear_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->data = CN_FASHION_MNIST_DIR;
    c->norm = LINEAR_DEFAULT_NORM;
    c->val = LINEAR_DEFAULT_VAL;
    c->seed = LINEAR_DEFAULT_SEED;
    c->trials = LINEAR_DEFAULT_TRIALS;
    c->search_epochs = LINEAR_DEFAULT_SEARCH_EPOCHS;
    c->lr_range.lo = LINEAR_DEFAULT_LR_LO;
    c->lr_range.hi = LINEAR_DEFAULT_LR_HI;
    c->reg_range.lo = LINEAR_DEFAULT_REG_LO;
    c->reg_range.hi = LINEAR_DEFAULT_REG_HI;
}

/* Append "name value" for every loss to buf; which picks the field. */
static void per_loss_text(char *buf, size_t size, int which)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int l = 0; l < CN_LINEAR_LOSS_COUNT && len < size; l++) {
        cn_linear_opts o;
        cn_linear_opts_default(&o, (cn_linear_loss)l);
        double v = which == 0 ? o.lr : which == 1 ? o.reg : which == 2 ? o.epochs
                 : which == 3 ? o.batch : which == 4 ? o.momentum : which == 5 ? o.lr_decay
                 : o.average;
        int n = snprintf(buf + len, size - len, "%s%s %g", l ? ", " : "",
                         cn_linear_loss_name((cn_linear_loss)l), v);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

static void linear_deftext_fill(linear_deftext *t)
{
    per_loss_text(t->lr, sizeof t->lr, 0);
    per_loss_text(t->reg, sizeof t->reg, 1);
    per_loss_text(t->epochs, sizeof t->epochs, 2);
    per_loss_text(t->batch, sizeof t->batch, 3);
    per_loss_text(t->momentum, sizeof t->momentum, 4);
    per_loss_text(t->lr_decay, sizeof t->lr_decay, 5);
    per_loss_text(t->average, sizeof t->average, 6);
}

#define LINEAR_NFLAGS 24

/* linear_flags: the flag table of `convnet linear` over the fields of c; dt holds
 * the per-loss default texts (may be NULL when help is not printed). */
static int linear_flags(cli_flag *f, linear_cfg *c, const linear_deftext *dt)
{
    cli_flag t[LINEAR_NFLAGS] = {
        {"loss", CLI_FLAG_CHOICE, "svm|softmax|svm-squared",
         "loss (required): multiclass hinge, cross-entropy, squared hinge", NULL, 0, 0,
         0, LOSSES, &c->loss, 0},
        {"data", CLI_FLAG_STRING, "DIR",
         "dataset folder: IDX, CIFAR, image folders or lists (detected)",
         CN_FASHION_MNIST_DIR, 0, 0, 0, NULL, &c->data, 0},
        {"lr", CLI_FLAG_REAL, "X", "initial learning rate", dt ? dt->lr : NULL, 0, 10, 1, NULL,
         &c->lr, 0},
        {"reg", CLI_FLAG_REAL, "X", "L2 regularisation strength (loss + reg * sum W^2)",
         dt ? dt->reg : NULL, 0, 1e4, 0, NULL, &c->reg, 0},
        {"epochs", CLI_FLAG_INT, "N", "passes over the training split", dt ? dt->epochs : NULL,
         1, 10000, 0, NULL, &c->epochs, 0},
        {"batch", CLI_FLAG_INT, "N", "minibatch size", dt ? dt->batch : NULL, 1, 1 << 20, 0,
         NULL, &c->batch, 0},
        {"momentum", CLI_FLAG_REAL, "X", "classic momentum (0: plain SGD)",
         dt ? dt->momentum : NULL, 0, 0.999, 0, NULL, &c->momentum, 0},
        {"lr-decay", CLI_FLAG_REAL, "X", "learning rate multiplied by X after every epoch",
         dt ? dt->lr_decay : NULL, 0, 1, 1, NULL, &c->lr_decay, 0},
        {"average", CLI_FLAG_INT, "0|1", "1: final weights average the last epoch's iterates",
         dt ? dt->average : NULL, 0, 1, 0, NULL, &c->average, 0},
        {"norm", CLI_FLAG_CHOICE, "none|mean-image|channel|pixel",
         "pixel normalisation, fitted on the training split only", LINEAR_DEFAULT_NORM, 0, 0, 0,
         NORMS, &c->norm, 0},
        {"val", CLI_FLAG_INT, "N", "validation images split off the training set (stratified)",
         STR(LINEAR_DEFAULT_VAL), 1, 1e9, 0, NULL, &c->val, 0},
        {"seed", CLI_FLAG_INT, "S", "seed of the split, the initial weights, the shuffling and "
         "the search", STR(LINEAR_DEFAULT_SEED), 0, 2147483647.0, 0, NULL, &c->seed, 0},
        {"threads", CLI_FLAG_INT, "N", "threads (OpenMP and BLAS)", "all cores", 1, 1024, 0,
         NULL, &c->threads, 0},
        {"train-limit", CLI_FLAG_INT, "N", "use only the first N training images", "all", 1,
         1e9, 0, NULL, &c->train_limit, 0},
        {"test-limit", CLI_FLAG_INT, "N", "use only the first N test images", "all", 1, 1e9, 0,
         NULL, &c->test_limit, 0},
        {"search", CLI_FLAG_BOOL, "", "choose lr and reg by random search on the validation "
         "split", "off", 0, 0, 0, NULL, &c->search, 0},
        {"trials", CLI_FLAG_INT, "N", "random-search trials", STR(LINEAR_DEFAULT_TRIALS), 1,
         1000, 0, NULL, &c->trials, 0},
        {"search-epochs", CLI_FLAG_INT, "N", "epochs of each search trial",
         "same as --epochs", 1, 10000, 0, NULL, &c->search_epochs, 0},
        {"lr-range", CLI_FLAG_RANGE, "LO:HI", "learning rates searched (log-uniform)",
         STR(LINEAR_DEFAULT_LR_LO) ":" STR(LINEAR_DEFAULT_LR_HI), 0, 10, 1, NULL, &c->lr_range,
         0},
        {"reg-range", CLI_FLAG_RANGE, "LO:HI", "regularisation strengths searched (log-uniform)",
         STR(LINEAR_DEFAULT_REG_LO) ":" STR(LINEAR_DEFAULT_REG_HI), 0, 1e4, 1, NULL,
         &c->reg_range, 0},
        {"templates", CLI_FLAG_STRING, "FILE.png",
         "write the learned weights of each class as an image grid", "none", 0, 0, 0, NULL,
         &c->templates, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout instead of tables", "off",
         0, 0, 0, NULL, &c->json, 0},
        {"quiet", CLI_FLAG_BOOL, "", "no progress on stderr", "off", 0, 0, 0, NULL, &c->quiet,
         0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
    };
    memcpy(f, t, sizeof t);
    return LINEAR_NFLAGS;
}

void cmd_linear_help(FILE *f)
{
    linear_cfg c;
    linear_deftext dt;
    cli_flag flags[LINEAR_NFLAGS];
    linear_cfg_default(&c);
    linear_deftext_fill(&dt);
    int n = linear_flags(flags, &c, &dt);
    fprintf(f,
            "Usage: convnet linear --loss svm|softmax|svm-squared [FLAGS]\n\n"
            "Linear classifier (scores = x W + b) trained with minibatch SGD. Splits --val\n"
            "images off the training set (stratified, --seed), fits the --norm statistics on\n"
            "the training split ONLY and applies them to train, validation and test (fitting\n"
            "them on all data leaks validation/test information into the model). Trains on\n"
            "the training split, reports train, validation and test accuracy. With --search,\n"
            "--trials runs of --search-epochs epochs draw lr and reg log-uniformly from the\n"
            "ranges; the best validation accuracy picks lr and reg for the final run (a\n"
            "warning says when the best lies at the edge of a range).\n\n"
            "Flags (defaults marked per loss come from the library's tuned settings; a\n"
            "repeated flag: the last one wins):\n");
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet linear --loss softmax\n"
               "  convnet linear --loss svm --lr 1e-3 --reg 1e-4 --epochs 20 --templates w.png\n"
               "  convnet linear --loss softmax --search --trials 10 --search-epochs 3 --json\n");
}

/* Accuracy of m on ds. */
static cn_status accuracy(const cn_linear *m, const cn_dataset *ds, double *acc, cn_error *err)
{
    int *pred = cn_malloc((size_t)ds->n * sizeof *pred); // (n) predicted labels
    if (!pred)
        return cn_error_set(err, CN_ERR_NOMEM, "out of memory for %d predictions", ds->n);
    cn_status st = cn_linear_predict(m, cn_dataset_flat(ds), ds->n, pred, err);
    if (st == CN_OK)
        *acc = cn_accuracy(pred, ds->labels, ds->n);
    cn_free(pred);
    return st;
}

/* Random search of lr and reg: fills the "search" table, sets o->lr and o->reg. */
static int run_search(const linear_cfg *c, cn_linear_loss loss, const cli_data *d,
                      cli_progress *p, cli_out *out, cn_linear_opts *o)
{
    cn_linear_opts base = *o;
    int search_epochs = c->search_epochs > 0 ? c->search_epochs : o->epochs;
    base.epochs = search_epochs;
    cn_search_opts s = {c->lr_range.lo, c->lr_range.hi, c->reg_range.lo, c->reg_range.hi,
                        c->trials, (uint64_t)c->seed};
    cn_search_trial *trials = cn_calloc((size_t)c->trials, sizeof *trials); // (trials)
    if (!trials)
        return cli_runtime_error("linear", "out of memory for %d trials", c->trials);
    cli_progress_stage(p, "random search: %d trials of %d epochs, lr in [%g, %g], reg in "
                          "[%g, %g]...", c->trials, search_epochs, s.lr_lo, s.lr_hi,
                       s.reg_lo, s.reg_hi);
    cn_error err;
    cn_error_clear(&err);
    int best = 0, edges = 0;
    int dim = d->train->c * d->train->h * d->train->w;
    cn_progress prog = cli_progress_begin(p, "search");
    cn_status st = cn_linear_search(loss, &base, &s, cn_dataset_flat(d->train),
                                    d->train->labels, d->train->n, cn_dataset_flat(d->val),
                                    d->val->labels, d->val->n, dim, d->train->num_classes,
                                    trials, &best, &edges, &prog, &err);
    cli_progress_end(p);
    if (st != CN_OK) {
        cn_free(trials);
        return cli_lib_error("linear", &err);
    }
    char title[128];
    snprintf(title, sizeof title, "random search: %d trials, %d epochs each:", c->trials,
             search_epochs);
    static const char *const hdr[] = {"trial", "lr", "reg", "train acc", "val acc",
                                      "final loss", "best"};
    cli_table *t = cli_out_table(out, "search", title, 7, hdr);
    for (int i = 0; i < c->trials; i++) {
        char num[16], lr[32], reg[32], tr[32], va[32], fl[32];
        snprintf(num, sizeof num, "%d", i + 1);
        const char *cells[7] = {num, cli_fmt_real(trials[i].lr, CLI_FMT_G, lr, sizeof lr),
                                cli_fmt_real(trials[i].reg, CLI_FMT_G, reg, sizeof reg),
                                cli_fmt_real(trials[i].train_acc, CLI_FMT_ACC, tr, sizeof tr),
                                cli_fmt_real(trials[i].val_acc, CLI_FMT_ACC, va, sizeof va),
                                isfinite(trials[i].final_loss)
                                    ? cli_fmt_real(trials[i].final_loss, CLI_FMT_G, fl,
                                                   sizeof fl)
                                    : "diverged",
                                i == best ? "*" : ""};
        json_t *j = json_object();
        if (j) {
            json_object_set_new(j, "lr", cli_json_real(trials[i].lr));
            json_object_set_new(j, "reg", cli_json_real(trials[i].reg));
            json_object_set_new(j, "train_accuracy", cli_json_real(trials[i].train_acc));
            json_object_set_new(j, "val_accuracy", cli_json_real(trials[i].val_acc));
            json_object_set_new(j, "final_loss", cli_json_real(trials[i].final_loss));
        }
        cli_table_row(t, cells, j);
    }
    static const struct { int flag; const char *what, *side, *range; } E[] = {
        {CN_EDGE_LR_LOW, "learning rate", "lower", "lr-range"},
        {CN_EDGE_LR_HIGH, "learning rate", "upper", "lr-range"},
        {CN_EDGE_REG_LOW, "regularisation", "lower", "reg-range"},
        {CN_EDGE_REG_HIGH, "regularisation", "upper", "reg-range"},
    };
    json_t *ej = json_array();
    for (int i = 0; i < 4; i++) {
        if (!(edges & E[i].flag))
            continue;
        double v = E[i].flag & (CN_EDGE_LR_LOW | CN_EDGE_LR_HIGH) ? trials[best].lr
                                                                 : trials[best].reg;
        const cli_range *r = E[i].flag & (CN_EDGE_LR_LOW | CN_EDGE_LR_HIGH) ? &c->lr_range
                                                                           : &c->reg_range;
        cli_progress_warn(p, "the best %s %g lies at the %s edge of --%s %g:%g; consider "
                             "widening the range", E[i].what, v, E[i].side, E[i].range, r->lo,
                          r->hi);
        char name[32];
        snprintf(name, sizeof name, "%s-%s", E[i].range, E[i].side);
        if (ej)
            json_array_append_new(ej, json_string(name));
    }
    cli_out_json(out, "search_edges", ej);
    cli_out_int(out, "search_best", NULL, best + 1);
    cli_out_int(out, "search_epochs", NULL, search_epochs);
    o->lr = trials[best].lr;
    o->reg = trials[best].reg;
    cn_free(trials);
    return CLI_EXIT_OK;
}

/* Train the final model and fill the summary. */
static int train_final(const linear_cfg *c, cn_linear_loss loss, const cli_data *d,
                       const cn_linear_opts *o, cli_progress *p, cli_out *out)
{
    cn_error err;
    cn_error_clear(&err);
    int dim = d->train->c * d->train->h * d->train->w;
    int nc = d->train->num_classes;
    double *hist = cn_calloc((size_t)o->epochs, sizeof *hist); // (epochs) mean loss
    if (!hist)
        return cli_runtime_error("linear", "out of memory for %d epochs of history", o->epochs);
    cn_rng rng;
    cn_rng_seed(&rng, o->seed, LINEAR_INIT_STREAM);
    cn_linear *m = cn_linear_new(loss, dim, nc, o->init_std, &rng, &err);
    if (!m) {
        cn_free(hist);
        return cli_lib_error("linear", &err);
    }
    cli_progress_stage(p, "training %s: lr %g, reg %g, %d epochs of batch %d on %d images...",
                       cn_linear_loss_name(loss), o->lr, o->reg, o->epochs, o->batch,
                       d->train->n);
    cn_progress prog = cli_progress_begin(p, "training");
    cn_status st = cn_linear_train(m, cn_dataset_flat(d->train), d->train->labels,
                                   d->train->n, o, hist, &prog, &err);
    cli_progress_end(p);
    double tr = 0, va = 0, te = 0;
    if (st == CN_OK)
        st = accuracy(m, d->train, &tr, &err);
    if (st == CN_OK)
        st = accuracy(m, d->val, &va, &err);
    if (st == CN_OK)
        st = accuracy(m, d->test, &te, &err);
    if (st == CN_OK && c->templates) {
        cli_progress_stage(p, "writing class templates to %s", c->templates);
        st = cn_linear_templates_png(m, d->train->c, d->train->h, d->train->w, c->templates,
                                     &err);
    }
    cn_linear_free(m);
    if (st != CN_OK) {
        cn_free(hist);
        return cli_lib_error("linear", &err);
    }
    json_t *h = json_array();
    for (int e = 0; h && e < o->epochs; e++)
        json_array_append_new(h, cli_json_real(hist[e]));
    cli_out_json(out, "loss_history", h);
    cli_out_real(out, "final_loss", "final loss", hist[o->epochs - 1], CLI_FMT_G);
    cli_out_real(out, "train_accuracy", "train accuracy", tr, CLI_FMT_ACC);
    cli_out_real(out, "val_accuracy", "val accuracy", va, CLI_FMT_ACC);
    cli_out_real(out, "test_accuracy", "test accuracy", te, CLI_FMT_ACC);
    cn_free(hist);
    return CLI_EXIT_OK;
}

static int linear_run(const linear_cfg *c, cli_flag *flags, int nflags, cli_progress *p,
                      cli_out *out, double t0)
{
    cn_error err;
    cn_error_clear(&err);
    cn_linear_loss loss;
    cn_norm_mode mode;
    if (cn_linear_loss_parse(c->loss, &loss, &err) != CN_OK ||
        cn_norm_mode_parse(c->norm, &mode, &err) != CN_OK)
        return cli_usage_error("linear", "%s", err.msg);
    cn_linear_opts o;
    cn_linear_opts_default(&o, loss);
    if (cli_args_find(flags, nflags, "lr")->seen)
        o.lr = c->lr;
    if (cli_args_find(flags, nflags, "reg")->seen)
        o.reg = c->reg;
    if (cli_args_find(flags, nflags, "epochs")->seen)
        o.epochs = c->epochs;
    if (cli_args_find(flags, nflags, "batch")->seen)
        o.batch = c->batch;
    if (cli_args_find(flags, nflags, "momentum")->seen)
        o.momentum = c->momentum;
    if (cli_args_find(flags, nflags, "lr-decay")->seen)
        o.lr_decay = c->lr_decay;
    if (cli_args_find(flags, nflags, "average")->seen)
        o.average = c->average;
    o.seed = (uint64_t)c->seed;

    cli_data d;
    int rc = cli_data_load("linear", c->data, c->train_limit, c->test_limit, c->val,
                           (uint64_t)c->seed, 0, p, &d);
    if (rc != CLI_EXIT_OK)
        return rc;
    cn_norm norm;
    memset(&norm, 0, sizeof norm);
    cli_progress_stage(p, "normalising (%s), statistics from the %d training-split images",
                       cn_norm_mode_name(mode), d.train->n);
    if (cn_norm_fit(d.train, mode, &norm, &err) != CN_OK ||
        cn_norm_apply(&norm, d.train, &err) != CN_OK ||
        cn_norm_apply(&norm, d.val, &err) != CN_OK ||
        cn_norm_apply(&norm, d.test, &err) != CN_OK)
        rc = cli_lib_error("linear", &err);
    cn_norm_free(&norm);
    if (rc == CLI_EXIT_OK && c->search)
        rc = run_search(c, loss, &d, p, out, &o);
    if (rc == CLI_EXIT_OK) {
        cli_out_str(out, "data", "data", c->data);
        cli_out_str(out, "loss", "loss", cn_linear_loss_name(loss));
        cli_out_str(out, "norm", "norm", cn_norm_mode_name(mode));
        cli_out_real(out, "lr", "lr", o.lr, CLI_FMT_G);
        cli_out_real(out, "reg", "reg", o.reg, CLI_FMT_G);
        cli_out_str(out, "chosen_by", "lr/reg chosen by",
                    c->search ? "random search" : "flags or defaults");
        cli_out_int(out, "epochs", "epochs", o.epochs);
        cli_out_int(out, "batch", "batch", o.batch);
        cli_out_real(out, "momentum", "momentum", o.momentum, CLI_FMT_G);
        cli_out_real(out, "lr_decay", "lr decay", o.lr_decay, CLI_FMT_G);
        cli_out_bool(out, "average", "averaging", o.average);
        cli_out_real(out, "init_std", NULL, o.init_std, CLI_FMT_G);
        cli_out_int(out, "seed", NULL, c->seed);
        cli_out_int(out, "threads", NULL, cn_get_num_threads());
        cli_out_int(out, "train_size", "train images", d.train->n);
        cli_out_int(out, "val_size", "val images", d.val->n);
        cli_out_int(out, "test_size", "test images", d.test->n);
        rc = train_final(c, loss, &d, &o, p, out);
    }
    if (rc == CLI_EXIT_OK) {
        if (c->templates)
            cli_out_str(out, "templates", "templates", c->templates);
        cli_out_real(out, "seconds", "seconds", cn_time_now() - t0, CLI_FMT_SEC);
    }
    cli_data_free(&d);
    return rc;
}

int cmd_linear(int argc, char **argv)
{
    double t0 = cn_time_now();
    linear_cfg c;
    cli_flag flags[LINEAR_NFLAGS];
    linear_cfg_default(&c);
    int n = linear_flags(flags, &c, NULL);
    int help = 0;
    int rc = cli_args_parse(flags, n, argc, argv, "linear", &help);
    if (rc != 0)
        return rc;
    if (help) {
        cmd_linear_help(stdout);
        return CLI_EXIT_OK;
    }
    if (!c.loss)
        return cli_usage_error("linear", "--loss is required (svm, softmax or svm-squared); "
                                         "see 'convnet help linear'");
    /* fail before any work when the output file cannot be written (RELIABILITY L2) */
    if (c.templates) {
        rc = cli_check_output("linear", "--templates", c.templates, c.data);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    if (c.threads > 0)
        cn_set_num_threads(c.threads);
    cli_progress p;
    cli_progress_init(&p, c.quiet);
    cli_out *out = cli_out_new("linear");
    if (!out) {
        cli_progress_destroy(&p);
        return cli_runtime_error("linear", "out of memory");
    }
    rc = linear_run(&c, flags, n, &p, out, t0);
    if (rc == CLI_EXIT_OK && cli_out_print(out, c.json) != 0)
        rc = CLI_EXIT_RUNTIME;
    cli_out_free(out);
    cli_progress_destroy(&p);
    return rc;
}
