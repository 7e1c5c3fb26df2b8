/* cli/cmd_eval.c: `convnet eval`: evaluate one trained model file (or an
 * ensemble of several) on a dataset split: each model rebuilds itself from its
 * file, normalises its own copy of the raw pixels with the statistics stored in
 * the file, and predicts class probabilities; an ensemble averages them. Prints
 * the accuracy, the per-class accuracy (class names from the file) and the
 * confusion matrix (rows: true class, columns: predicted class). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "convnet/modelfile.h"
#include "load.h"
#include "output.h"
#include "progress.h"

#define EVAL_DEFAULT_SPLIT "test"
#define EVAL_DEFAULT_BATCH 256
#define EVAL_MAX_MODELS 64

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *const SPLITS[] = {"test", "train", NULL};

typedef struct eval_cfg {
    const char *data, *split;
    int limit, batch, threads, json, quiet;
    const char *models[EVAL_MAX_MODELS];
    int n_models;
} eval_cfg;

/* One member of the ensemble. */
typedef struct eval_member {
    cn_model *m;
    cn_model_info info;
    double accuracy;
} eval_member;

#define EVAL_NFLAGS 8

static int eval_flags(cli_flag *f, eval_cfg *c)
{
    cli_flag t[EVAL_NFLAGS] = {
        {"data", CLI_FLAG_STRING, "DIR",
         "dataset folder: IDX, CIFAR, image folders or lists (detected)", CN_FASHION_MNIST_DIR,
         0, 0, 0, NULL, &c->data, 0},
        {"split", CLI_FLAG_CHOICE, "test|train", "which split to evaluate", EVAL_DEFAULT_SPLIT,
         0, 0, 0, SPLITS, &c->split, 0},
        {"limit", CLI_FLAG_INT, "N", "use only the first N images of the split", "all", 1, 1e9,
         0, NULL, &c->limit, 0},
        {"batch", CLI_FLAG_INT, "N", "images per forward pass", STR(EVAL_DEFAULT_BATCH), 1,
         65536, 0, NULL, &c->batch, 0},
        {"threads", CLI_FLAG_INT, "N", "threads (OpenMP and BLAS)", "all cores", 1, 1024, 0,
         NULL, &c->threads, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout instead of tables", "off",
         0, 0, 0, NULL, &c->json, 0},
        {"quiet", CLI_FLAG_BOOL, "", "no progress on stderr", "off", 0, 0, 0, NULL, &c->quiet,
         0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
    };
    memcpy(f, t, sizeof t);
    return EVAL_NFLAGS;
}

static void eval_cfg_default(eval_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->data = CN_FASHION_MNIST_DIR;
    c->split = EVAL_DEFAULT_SPLIT;
    c->batch = EVAL_DEFAULT_BATCH;
}

void cmd_eval_help(FILE *f)
{
    eval_cfg c;
    cli_flag flags[EVAL_NFLAGS];
    eval_cfg_default(&c);
    int n = eval_flags(flags, &c);
    fprintf(f,
            "Usage: convnet eval MODEL.safetensors [MODEL2.safetensors ...] [FLAGS]\n\n"
            "Evaluate trained model files (written by `convnet train`) on a dataset split.\n"
            "A model file holds the network, its weights, the class names and the\n"
            "normalisation fitted on the training split; each model applies its own\n"
            "normalisation to the raw pixels. Prints the accuracy, the per-class accuracy\n"
            "and the confusion matrix (rows: true class, columns: predicted class).\n"
            "Several model files form an ensemble: their class probabilities are averaged,\n"
            "and each member's own accuracy is reported too. The models must agree on the\n"
            "classes and the input size.\n\n"
            "Flags (a repeated flag: the last one wins):\n");
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet eval runs/a/best.safetensors\n"
               "  convnet eval a.safetensors b.safetensors c.safetensors --json\n"
               "  convnet eval model.safetensors --data DIR --split train --limit 1000\n");
}

/* Load every model file and check that they agree with the first. */
static int load_models(const eval_cfg *c, eval_member *mem, cli_progress *p)
{
    cn_error err;
    cn_error_clear(&err);
    for (int i = 0; i < c->n_models; i++) {
        cli_progress_stage(p, "loading model %s", c->models[i]);
        mem[i].m = cn_model_file_load(c->models[i], c->batch, &mem[i].info, &err);
        if (!mem[i].m) return cli_lib_error("eval", &err);
        const cn_builtin_spec *a = &mem[0].info.spec, *b = &mem[i].info.spec;
        if (a->classes != b->classes)
            return cli_runtime_error("eval", "%s has %d classes but %s has %d: an ensemble "
                                     "needs the same classes", c->models[i], b->classes,
                                     c->models[0], a->classes);
        for (int k = 0; k < a->classes; k++)
            if (strcmp(mem[0].info.class_names[k], mem[i].info.class_names[k]) != 0)
                return cli_runtime_error("eval", "%s names class %d '%s' but %s names it '%s'",
                                         c->models[i], k, mem[i].info.class_names[k],
                                         c->models[0], mem[0].info.class_names[k]);
        if (a->c != b->c || a->h != b->h || a->w != b->w)
            return cli_runtime_error("eval", "%s takes %dx%dx%d images but %s takes %dx%dx%d",
                                     c->models[i], b->c, b->h, b->w, c->models[0], a->c, a->h,
                                     a->w);
    }
    return CLI_EXIT_OK;
}

/* Load the split (images sized for the models), keep the first --limit images. */
static int load_split(const eval_cfg *c, const cn_builtin_spec *s, cli_progress *p,
                      cn_dataset **out)
{
    cn_dataset *ds = NULL;
    int rc = cli_load_split_for("eval", c->data, c->split, s, c->limit, p, &ds);
    if (rc != CLI_EXIT_OK) return rc;
    if (ds->c != s->c || ds->h != s->h || ds->w != s->w) {
        int rc = cli_runtime_error("eval", "%s: images are %dx%dx%d but %s takes %dx%dx%d",
                                   c->data, ds->c, ds->h, ds->w, c->models[0], s->c, s->h, s->w);
        cn_dataset_free(ds);
        return rc;
    }
    if (ds->num_classes != s->classes) {
        int rc = cli_runtime_error("eval", "%s: the data has %d classes but %s has %d",
                                   c->data, ds->num_classes, c->models[0], s->classes);
        cn_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return CLI_EXIT_OK;
}

/* The index of the largest of p[0..k). */
static int argmax(const cn_real *p, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (p[j] > p[best]) best = j;
    return best;
}

/* Member i's probabilities (n, k) on its own normalised copy of raw; adds them to
 * sum (n, k) and sets its accuracy. */
static int predict_member(const eval_cfg *c, int i, eval_member *mb, const cn_dataset *raw,
                          cn_real *probs, double *sum, cli_progress *p)
{
    cn_error err;
    cn_error_clear(&err);
    int n = raw->n, k = mb->info.spec.classes;
    int *idx = cn_malloc((size_t)(n > 0 ? n : 1) * sizeof *idx); // (n)
    if (!idx) return cli_runtime_error("eval", "out of memory for %d indices", n);
    for (int j = 0; j < n; j++) idx[j] = j;
    cn_dataset *ds = NULL;
    cn_status st = cn_dataset_subset(raw, idx, n, &ds, &err);
    cn_free(idx);
    if (st != CN_OK) return cli_lib_error("eval", &err);
    cli_progress_stage(p, "predicting %d images with %s (normalisation %s)", n, c->models[i],
                       cn_norm_mode_name(mb->info.norm.mode));
    st = cn_norm_apply(&mb->info.norm, ds, &err);
    if (st == CN_OK) st = cn_model_predict(mb->m, ds, probs, &err);
    int rc = CLI_EXIT_OK;
    if (st != CN_OK) {
        cn_error_prefix(&err, "%s: ", c->models[i]);
        rc = cli_lib_error("eval", &err);
    } else {
        int right = 0;
        for (int j = 0; j < n; j++) {
            const cn_real *pj = probs + (size_t)j * (size_t)k;
            right += argmax(pj, k) == ds->labels[j];
            for (int q = 0; q < k; q++) sum[(size_t)j * (size_t)k + (size_t)q] += (double)pj[q];
        }
        mb->accuracy = n > 0 ? (double)right / n : 0.0;
    }
    cn_dataset_free(ds);
    return rc;
}

/* The confusion matrix conf (k, k) (rows: true class, columns: predicted) as
 * text on stdout, after the summary (it is wider than a summary table). */
static void print_confusion(const long long *conf, int k, char *const *names)
{
    int width = 5;
    for (size_t i = 0; i < (size_t)k * (size_t)k; i++) {
        char num[32];
        int len = snprintf(num, sizeof num, "%lld", conf[i]);
        if (len + 1 > width) width = len + 1;
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted class):\n");
    printf("%-20s", "true \\ predicted");
    for (int q = 0; q < k; q++) printf("%*d", width, q);
    printf("\n");
    for (int t = 0; t < k; t++) {
        printf("%3d %-16.16s", t, names[t]);
        for (int q = 0; q < k; q++) printf("%*lld", width, conf[(size_t)t * (size_t)k + (size_t)q]);
        printf("\n");
    }
    fflush(stdout);
}

/* Accuracy, per-class accuracy and the confusion matrix of the averaged
 * probabilities avg (n, k) into out; the matrix also into conf (k, k). */
static void report(const eval_cfg *c, const eval_member *mem, const cn_dataset *ds,
                   const double *avg, long long *conf, cli_out *out)
{
    int n = ds->n, k = mem[0].info.spec.classes;
    char *const *names = mem[0].info.class_names;
    int right = 0;
    for (int j = 0; j < n; j++) {
        const double *a = avg + (size_t)j * (size_t)k;
        int best = 0;
        for (int q = 1; q < k; q++)
            if (a[q] > a[best]) best = q;
        right += best == ds->labels[j];
        conf[(size_t)ds->labels[j] * (size_t)k + (size_t)best]++;
    }
    json_t *models = json_array();
    for (int i = 0; models && i < c->n_models; i++)
        json_array_append_new(models, json_string(c->models[i]));
    cli_out_json(out, "models", models);
    cli_out_str(out, "data", "data", c->data);
    cli_out_str(out, "split", "split", c->split);
    cli_out_int(out, "n", "images", n);
    if (c->n_models > 1) {
        static const char *const hdr[] = {"member", "accuracy"};
        cli_table *t = cli_out_table(out, "members", "ensemble members:", 2, hdr);
        for (int i = 0; i < c->n_models; i++) {
            char acc[32];
            const char *cells[2] = {c->models[i],
                                    cli_fmt_real(mem[i].accuracy, CLI_FMT_ACC, acc, sizeof acc)};
            json_t *o = json_object();
            if (o) {
                json_object_set_new(o, "path", json_string(c->models[i]));
                json_object_set_new(o, "accuracy", cli_json_real(mem[i].accuracy));
            }
            cli_table_row(t, cells, o);
        }
    }
    static const char *const pc_hdr[] = {"class", "name", "accuracy", "count"};
    cli_table *pc = cli_out_table(out, "per_class", "per-class accuracy:", 4, pc_hdr);
    json_t *cj = json_array();
    for (int t = 0; t < k; t++) {
        long long cnt = 0;
        json_t *row = json_array();
        for (int q = 0; q < k; q++) {
            long long v = conf[(size_t)t * (size_t)k + (size_t)q];
            cnt += v;
            if (row) json_array_append_new(row, json_integer(v));
        }
        if (cj && row) json_array_append_new(cj, row);
        else json_decref(row);
        double acc = cnt > 0 ? (double)conf[(size_t)t * (size_t)k + (size_t)t] / (double)cnt
                             : (double)NAN;
        char num[16], a[32], cs[32];
        snprintf(num, sizeof num, "%d", t);
        snprintf(cs, sizeof cs, "%lld", cnt);
        const char *cells[4] = {num, names[t], cli_fmt_real(acc, CLI_FMT_ACC, a, sizeof a), cs};
        json_t *o = json_object();
        if (o) {
            json_object_set_new(o, "class", json_string(names[t]));
            json_object_set_new(o, "accuracy", cli_json_real(acc));
            json_object_set_new(o, "count", json_integer(cnt));
        }
        cli_table_row(pc, cells, o);
    }
    cli_out_json(out, "confusion", cj);
    cli_out_real(out, "accuracy", c->n_models > 1 ? "ensemble accuracy" : "accuracy",
                 n > 0 ? (double)right / n : (double)NAN, CLI_FMT_ACC);
}

static int eval_run(const eval_cfg *c, cli_progress *p, cli_out *out, double t0)
{
    eval_member *mem = cn_calloc((size_t)c->n_models, sizeof *mem); // (n_models)
    if (!mem) return cli_runtime_error("eval", "out of memory");
    cn_dataset *ds = NULL;
    cn_real *probs = NULL;  // (n, k) one member's probabilities
    double *sum = NULL;     // (n, k) their sum, then the average
    long long *conf = NULL; // (k, k) true x predicted
    int rc = load_models(c, mem, p);
    int k = mem[0].m ? mem[0].info.spec.classes : 0;
    if (rc == CLI_EXIT_OK) rc = load_split(c, &mem[0].info.spec, p, &ds);
    if (rc == CLI_EXIT_OK) {
        size_t nk = (size_t)(ds->n > 0 ? ds->n : 1) * (size_t)k;
        probs = cn_malloc(nk * sizeof *probs);
        sum = cn_calloc(nk, sizeof *sum);
        conf = cn_calloc((size_t)k * (size_t)k, sizeof *conf);
        if (!probs || !sum || !conf)
            rc = cli_runtime_error("eval", "out of memory for %d predictions", ds->n);
    }
    for (int i = 0; rc == CLI_EXIT_OK && i < c->n_models; i++)
        rc = predict_member(c, i, &mem[i], ds, probs, sum, p);
    if (rc == CLI_EXIT_OK) {
        size_t nk = (size_t)ds->n * (size_t)k;
        for (size_t j = 0; j < nk; j++) sum[j] /= c->n_models;
        report(c, mem, ds, sum, conf, out);
        cli_out_real(out, "seconds", "seconds", cn_time_now() - t0, CLI_FMT_SEC);
        if (cli_out_print(out, c->json) != 0) rc = CLI_EXIT_RUNTIME;
        else if (!c->json) print_confusion(conf, k, mem[0].info.class_names);
    }
    for (int i = 0; i < c->n_models; i++) {
        cn_model_free(mem[i].m);
        cn_model_info_free(&mem[i].info);
    }
    cn_free(mem);
    cn_free(probs);
    cn_free(sum);
    cn_free(conf);
    cn_dataset_free(ds);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    double t0 = cn_time_now();
    eval_cfg c;
    cli_flag flags[EVAL_NFLAGS];
    eval_cfg_default(&c);
    int n = eval_flags(flags, &c);
    const char **pos = NULL;
    int npos = 0, help = 0;
    int rc = cli_args_parse_words(flags, n, argc, argv, "eval", &help, &pos, &npos);
    if (rc == CLI_EXIT_OK && !help && npos > EVAL_MAX_MODELS)
        rc = cli_usage_error("eval", "at most %d model files, got %d", EVAL_MAX_MODELS, npos);
    for (int i = 0; rc == CLI_EXIT_OK && i < npos; i++) c.models[c.n_models++] = pos[i];
    cn_free(pos);
    if (rc != CLI_EXIT_OK) return rc;
    if (help) {
        cmd_eval_help(stdout);
        return CLI_EXIT_OK;
    }
    if (c.n_models == 0)
        return cli_usage_error("eval", "no model file given; usage: convnet eval "
                                       "MODEL.safetensors [MODEL2 ...] [--data DIR]");
    if (c.threads > 0) cn_set_num_threads(c.threads);
    cli_progress pr;
    cli_progress_init(&pr, c.quiet);
    cli_out *out = cli_out_new("eval");
    if (!out) {
        cli_progress_destroy(&pr);
        return cli_runtime_error("eval", "out of memory");
    }
    rc = eval_run(&c, &pr, out, t0);
    cli_out_free(out);
    cli_progress_destroy(&pr);
    return rc;
}
