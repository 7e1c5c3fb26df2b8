/* cli/cmd_knn.c: `convnet knn`: k-nearest-neighbour classification of an IDX
 * dataset. Validation accuracy uses the training split as references; test
 * accuracy uses every loaded training image (train + validation: once the
 * hyperparameters are chosen the final model keeps all training data). With --cv
 * the (metric, vote, k) are chosen by k-fold cross-validation on the training split. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "load.h"
#include "output.h"
#include "progress.h"

/* Defaults without --cv (updated from this project's cross-validation results). */
#define KNN_DEFAULT_K 5
#define KNN_DEFAULT_METRIC "l1"
#define KNN_DEFAULT_VOTE "uniform"

#define KNN_DEFAULT_VAL 10000
#define KNN_DEFAULT_SEED 1
#define KNN_DEFAULT_FOLDS 5
#define KNN_DEFAULT_CV_SAMPLES 20000
#define KNN_DEFAULT_KS "1,3,5,7,9,11,15,20"
#define KNN_MAX_K 1000

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *const METRICS[] = {"l1", "l2", NULL};
static const char *const VOTES[] = {"uniform", "distance", NULL};

typedef struct knn_cfg {
    const char *data;
    int k;
    const char *metric, *vote;
    int val, seed, threads;
    int train_limit, test_limit;
    int cv, folds, cv_samples;
    cli_int_list ks;
    int json, quiet;
} knn_cfg;

static void knn_cfg_default(knn_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->data = CN_FASHION_MNIST_DIR;
    c->k = KNN_DEFAULT_K;
    c->metric = KNN_DEFAULT_METRIC;
    c->vote = KNN_DEFAULT_VOTE;
    c->val = KNN_DEFAULT_VAL;
    c->seed = KNN_DEFAULT_SEED;
    c->folds = KNN_DEFAULT_FOLDS;
    c->cv_samples = KNN_DEFAULT_CV_SAMPLES;
    static const int ks[] = {1, 3, 5, 7, 9, 11, 15, 20};
    c->ks.n = (int)(sizeof ks / sizeof *ks);
    memcpy(c->ks.v, ks, sizeof ks);
}

#define KNN_NFLAGS 16

/* knn_flags: the flag table of `convnet knn` over the fields of c. */
static int knn_flags(cli_flag *f, knn_cfg *c)
{
    cli_flag t[KNN_NFLAGS] = {
        {"data", CLI_FLAG_STRING, "DIR",
         "dataset folder: IDX, CIFAR, image folders or lists (detected)",
         CN_FASHION_MNIST_DIR, 0, 0, 0, NULL, &c->data, 0},
        {"k", CLI_FLAG_INT, "K", "number of neighbours that vote", STR(KNN_DEFAULT_K), 1,
         KNN_MAX_K, 0, NULL, &c->k, 0},
        {"metric", CLI_FLAG_CHOICE, "l1|l2", "distance between images", KNN_DEFAULT_METRIC, 0,
         0, 0, METRICS, &c->metric, 0},
        {"vote", CLI_FLAG_CHOICE, "uniform|distance",
         "one vote per neighbour, or votes weighted by 1/distance", KNN_DEFAULT_VOTE, 0, 0, 0,
         VOTES, &c->vote, 0},
        {"val", CLI_FLAG_INT, "N", "validation images split off the training set (stratified)",
         STR(KNN_DEFAULT_VAL), 1, 1e9, 0, NULL, &c->val, 0},
        {"seed", CLI_FLAG_INT, "S", "seed of the validation split and the cross-validation folds",
         STR(KNN_DEFAULT_SEED), 0, 2147483647.0, 0, NULL, &c->seed, 0},
        {"threads", CLI_FLAG_INT, "N", "threads for distances (OpenMP and BLAS)",
         "all cores", 1, 1024, 0, NULL, &c->threads, 0},
        {"train-limit", CLI_FLAG_INT, "N", "use only the first N training images", "all", 1,
         1e9, 0, NULL, &c->train_limit, 0},
        {"test-limit", CLI_FLAG_INT, "N", "use only the first N test images", "all", 1, 1e9, 0,
         NULL, &c->test_limit, 0},
        {"cv", CLI_FLAG_BOOL, "", "choose metric, vote and k by k-fold cross-validation", "off",
         0, 0, 0, NULL, &c->cv, 0},
        {"folds", CLI_FLAG_INT, "F", "cross-validation folds", STR(KNN_DEFAULT_FOLDS), 2, 100,
         0, NULL, &c->folds, 0},
        {"cv-samples", CLI_FLAG_INT, "N", "training-split images used by cross-validation",
         STR(KNN_DEFAULT_CV_SAMPLES), 2, 1e9, 0, NULL, &c->cv_samples, 0},
        {"ks", CLI_FLAG_INT_LIST, "K1,K2,...", "values of k tried by cross-validation",
         KNN_DEFAULT_KS, 1, KNN_MAX_K, 0, NULL, &c->ks, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout instead of tables", "off",
         0, 0, 0, NULL, &c->json, 0},
        {"quiet", CLI_FLAG_BOOL, "", "no progress on stderr", "off", 0, 0, 0, NULL, &c->quiet,
         0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
    };
    memcpy(f, t, sizeof t);
    return KNN_NFLAGS;
}

void cmd_knn_help(FILE *f)
{
    knn_cfg c;
    cli_flag flags[KNN_NFLAGS];
    knn_cfg_default(&c);
    int n = knn_flags(flags, &c);
    fprintf(f,
            "Usage: convnet knn [FLAGS]\n\n"
            "k-nearest-neighbour classifier on raw pixels. Splits --val images off the\n"
            "training set (stratified, --seed); the validation accuracy uses the rest of the\n"
            "training set as references, the test accuracy uses ALL loaded training images\n"
            "(train + validation: once the settings are chosen the final model keeps every\n"
            "training image). With --cv, 'metric x vote x k' over {l1,l2} x {uniform,distance}\n"
            "x --ks is cross-validated on --cv-samples images of the training split and the\n"
            "best mean accuracy (first in that order on ties) replaces --k/--metric/--vote.\n\n"
            "Flags (a repeated flag: the last one wins):\n");
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet knn --k 5 --metric l1 --vote distance\n"
               "  convnet knn --cv --cv-samples 10000 --folds 5 --ks 1,3,5,10 --json\n"
               "  convnet knn --train-limit 2000 --test-limit 200 --val 500 --quiet\n");
}

/* Accuracy of kNN with references (R, ry) on queries (Q, qy). */
static int knn_accuracy(const char *task, const cn_dataset *ref, const cn_dataset *q, int k,
                        cn_metric metric, cn_vote vote, cli_progress *p, double *acc,
                        cn_error *err)
{
    int d = ref->c * ref->h * ref->w;
    size_t nk = (size_t)q->n * (size_t)k;
    int *idx = cn_malloc(nk * sizeof *idx);            // (nq, k) reference indices
    cn_real *dist = cn_malloc(nk * sizeof *dist);      // (nq, k) distances, ascending
    int *pred = cn_malloc((size_t)q->n * sizeof *pred); // (nq) predicted labels
    cn_status st = CN_OK;
    if (!idx || !dist || !pred) {
        st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for %d x %d neighbours", task,
                          q->n, k);
    } else {
        cn_progress prog = cli_progress_begin(p, task);
        st = cn_knn_neighbors(cn_dataset_flat(ref), ref->n, cn_dataset_flat(q), q->n, d,
                              metric, k, idx, dist, &prog, err);
        cli_progress_end(p);
        if (st == CN_OK)
            st = cn_knn_vote(idx, dist, q->n, k, k, ref->labels, ref->num_classes, vote, pred,
                             err);
        if (st == CN_OK)
            *acc = cn_accuracy(pred, q->labels, q->n);
    }
    cn_free(idx);
    cn_free(dist);
    cn_free(pred);
    return st;
}

/* Cross-validate the grid, fill the "cv" table, and pick the best setting. */
static int run_cv(const knn_cfg *c, const cli_data *d, cli_progress *p, cli_out *out,
                  int *k, cn_metric *metric, cn_vote *vote, double *cv_acc, int *cv_n)
{
    static const cn_metric metrics[] = {CN_METRIC_L1, CN_METRIC_L2};
    static const cn_vote votes[] = {CN_VOTE_UNIFORM, CN_VOTE_DISTANCE};
    int n = c->cv_samples < d->train->n ? c->cv_samples : d->train->n;
    if (c->folds > n)
        return cli_usage_error("knn", "--folds %d is more than the %d cross-validation images",
                               c->folds, n);
    int kmax = 0;
    for (int i = 0; i < c->ks.n; i++)
        kmax = c->ks.v[i] > kmax ? c->ks.v[i] : kmax;
    int nref = n - (n + c->folds - 1) / c->folds; /* references of the largest fold */
    if (kmax > nref)
        return cli_usage_error("knn", "--ks: k = %d needs more than the %d references a fold "
                                      "has; raise --cv-samples or lower k", kmax, nref);
    int ncells = 2 * 2 * c->ks.n;
    // (metrics, votes, ks) grid cells, metric outermost
    cn_knn_cv_result *res = cn_calloc((size_t)ncells, sizeof *res);
    if (!res)
        return cli_runtime_error("knn", "out of memory for %d cross-validation results", ncells);
    cli_progress_stage(p, "cross-validating {l1,l2} x {uniform,distance} x %d values of k "
                          "on %d images, %d folds...", c->ks.n, n, c->folds);
    cn_error err;
    cn_error_clear(&err);
    int dim = d->train->c * d->train->h * d->train->w;
    cn_progress prog = cli_progress_begin(p, "cross-validation");
    cn_status st = cn_knn_cross_validate(cn_dataset_flat(d->train), d->train->labels, n, dim,
                                         d->train->num_classes, c->folds, (uint64_t)c->seed,
                                         metrics, 2, votes, 2, c->ks.v, c->ks.n, res, &prog,
                                         &err);
    cli_progress_end(p);
    if (st != CN_OK) {
        cn_free(res);
        return cli_lib_error("knn", &err);
    }
    int best = 0;
    for (int i = 1; i < ncells; i++)
        if (res[i].mean_acc > res[best].mean_acc)
            best = i;
    char title[128];
    snprintf(title, sizeof title, "%d-fold cross-validation on %d training images:", c->folds,
             n);
    static const char *const hdr[] = {"metric", "vote", "k", "mean acc", "std", "best"};
    cli_table *t = cli_out_table(out, "cv", title, 6, hdr);
    for (int i = 0; i < ncells; i++) {
        char ks[16], m[32], s[32];
        snprintf(ks, sizeof ks, "%d", res[i].k);
        const char *cells[6] = {cn_metric_name(res[i].metric), cn_vote_name(res[i].vote), ks,
                                cli_fmt_real(res[i].mean_acc, CLI_FMT_ACC, m, sizeof m),
                                cli_fmt_real(res[i].std_acc, CLI_FMT_ACC, s, sizeof s),
                                i == best ? "*" : ""};
        json_t *o = json_object();
        if (o) {
            json_object_set_new(o, "metric", json_string(cn_metric_name(res[i].metric)));
            json_object_set_new(o, "vote", json_string(cn_vote_name(res[i].vote)));
            json_object_set_new(o, "k", json_integer(res[i].k));
            json_object_set_new(o, "mean_accuracy", cli_json_real(res[i].mean_acc));
            json_object_set_new(o, "std_accuracy", cli_json_real(res[i].std_acc));
        }
        cli_table_row(t, cells, o);
    }
    *cv_acc = res[best].mean_acc;
    *cv_n = n;
    *k = res[best].k;
    *metric = res[best].metric;
    *vote = res[best].vote;
    cn_free(res);
    return CLI_EXIT_OK;
}

static int knn_run(const knn_cfg *c, cli_progress *p, cli_out *out, double t0)
{
    cn_error err;
    cn_error_clear(&err);
    cn_metric metric;
    cn_vote vote;
    if (cn_metric_parse(c->metric, &metric, &err) != CN_OK ||
        cn_vote_parse(c->vote, &vote, &err) != CN_OK)
        return cli_usage_error("knn", "%s", err.msg);
    int k = c->k;
    cli_data d;
    int rc = cli_data_load("knn", c->data, c->train_limit, c->test_limit, c->val,
                           (uint64_t)c->seed, 1, p, &d);
    if (rc != CLI_EXIT_OK)
        return rc;
    double cv_acc = 0;
    int cv_n = 0;
    if (c->cv)
        rc = run_cv(c, &d, p, out, &k, &metric, &vote, &cv_acc, &cv_n);
    if (rc == CLI_EXIT_OK && k > d.train->n)
        rc = cli_usage_error("knn", "--k %d is more than the %d training images", k,
                             d.train->n);
    double val_acc = 0, test_acc = 0;
    if (rc == CLI_EXIT_OK) {
        cli_progress_stage(p, "validating: %d-NN (%s, %s vote), %d references, %d queries...",
                           k, cn_metric_name(metric), cn_vote_name(vote), d.train->n, d.val->n);
        if (knn_accuracy("validation", d.train, d.val, k, metric, vote, p, &val_acc, &err) !=
            CN_OK)
            rc = cli_lib_error("knn", &err);
    }
    if (rc == CLI_EXIT_OK) {
        cli_progress_stage(p, "testing: %d references (train + validation), %d queries...",
                           d.all_train->n, d.test->n);
        if (knn_accuracy("test", d.all_train, d.test, k, metric, vote, p, &test_acc, &err) !=
            CN_OK)
            rc = cli_lib_error("knn", &err);
    }
    if (rc == CLI_EXIT_OK) {
        cli_out_str(out, "data", "data", c->data);
        cli_out_int(out, "k", "k", k);
        cli_out_str(out, "metric", "metric", cn_metric_name(metric));
        cli_out_str(out, "vote", "vote", cn_vote_name(vote));
        if (c->cv) {
            char how[96];
            snprintf(how, sizeof how, "%d-fold cross-validation on %d images", c->folds, cv_n);
            cli_out_str(out, "chosen_by", "chosen by", how);
            cli_out_int(out, "folds", NULL, c->folds);
            cli_out_int(out, "cv_samples", NULL, cv_n);
            cli_out_real(out, "cv_accuracy", "cv accuracy", cv_acc, CLI_FMT_ACC);
        } else {
            cli_out_str(out, "chosen_by", "chosen by", "flags or defaults");
        }
        cli_out_int(out, "seed", NULL, c->seed);
        cli_out_int(out, "threads", NULL, cn_get_num_threads());
        cli_out_int(out, "train_size", "train images", d.train->n);
        cli_out_int(out, "val_size", "val images", d.val->n);
        cli_out_int(out, "test_size", "test images", d.test->n);
        cli_out_int(out, "test_references", "test references", d.all_train->n);
        cli_out_real(out, "val_accuracy", "val accuracy", val_acc, CLI_FMT_ACC);
        cli_out_real(out, "test_accuracy", "test accuracy", test_acc, CLI_FMT_ACC);
        cli_out_real(out, "seconds", "seconds", cn_time_now() - t0, CLI_FMT_SEC);
    }
    cli_data_free(&d);
    return rc;
}

int cmd_knn(int argc, char **argv)
{
    double t0 = cn_time_now();
    knn_cfg c;
    cli_flag flags[KNN_NFLAGS];
    knn_cfg_default(&c);
    int n = knn_flags(flags, &c);
    int help = 0;
    int rc = cli_args_parse(flags, n, argc, argv, "knn", &help);
    if (rc != 0)
        return rc;
    if (help) {
        cmd_knn_help(stdout);
        return CLI_EXIT_OK;
    }
    if (c.threads > 0)
        cn_set_num_threads(c.threads);
    cli_progress p;
    cli_progress_init(&p, c.quiet);
    cli_out *out = cli_out_new("knn");
    if (!out) {
        cli_progress_destroy(&p);
        return cli_runtime_error("knn", "out of memory");
    }
    rc = knn_run(&c, &p, out, t0);
    if (rc == CLI_EXIT_OK && cli_out_print(out, c.json) != 0)
        rc = CLI_EXIT_RUNTIME;
    cli_out_free(out);
    cli_progress_destroy(&p);
    return rc;
}
