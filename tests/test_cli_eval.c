/* test_cli_eval.c: end-to-end tests of `convnet eval`: model files made here with
 * the library (a built-in model, cn_model_init, normalisation fitted on the
 * training images, cn_model_file_save) are evaluated on a synthetic IDX folder;
 * the JSON's accuracy, per-class counts and confusion matrix must equal what the
 * library computes directly; an ensemble of two averages probabilities and
 * reports each member; --split/--limit; errors (missing file: exit 1 naming it;
 * models that disagree; unknown flag and no model: exit 2). */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/modelfile.h"
#include "support.h"
#include "support_cli.h"

#define N_TRAIN 60
#define N_TEST 40

static char g_dir[64];
static char g_a[128], g_b[128], g_c3[128], g_small[128];

/* Write a model file for spec description desc (init from seed) with channel
 * normalisation fitted on the synthetic training images. */
static void write_model(const char *path, const char *desc, uint64_t seed)
{
    cn_error err;
    cn_model_info info;
    memset(&info, 0, sizeof info);
    cr_assert_eq(cn_builtin_parse(desc, &info.spec, &err), CN_OK, "%s", err.msg);
    cn_model *m = cn_builtin_build(&info.spec, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_compile_opts o = {.batch = 8, .training = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    cn_dataset *train = NULL;
    cr_assert_eq(cn_dataset_load_idx(g_dir, "train", 0, &train, &err), CN_OK, "%s", err.msg);
    if (info.spec.h == 28)
        cr_assert_eq(cn_norm_fit(train, CN_NORM_CHANNEL, &info.norm, &err), CN_OK, "%s",
                     err.msg);
    cn_dataset_free(train);
    cn_meta_pair meta[1] = {{"epoch", "3"}};
    cr_assert_eq(cn_model_file_save(path, m, &info, meta, 1, &err), CN_OK, "%s", err.msg);
    cn_norm_free(&info.norm);
    cn_model_free(m);
}

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_dir, sizeof g_dir, "cli_eval"), 0, "mkdtemp failed");
    tst_cli_write_idx(g_dir, "train", N_TRAIN, 12345u);
    tst_cli_write_idx(g_dir, "t10k", N_TEST, 777u);
    snprintf(g_a, sizeof g_a, "%s/a.safetensors", g_dir);
    snprintf(g_b, sizeof g_b, "%s/b.safetensors", g_dir);
    snprintf(g_c3, sizeof g_c3, "%s/c3.safetensors", g_dir);
    snprintf(g_small, sizeof g_small, "%s/small.safetensors", g_dir);
    write_model(g_a, "two-layer hidden=16", 1);
    write_model(g_b, "softmax init_std=0.01", 2);
    write_model(g_c3, "softmax classes=3", 3);
    write_model(g_small, "softmax input=1x14x14", 4);
}

static void teardown(void)
{
    tst_tmpdir_remove(g_dir);
}

TestSuite(cli_eval, .init = setup, .fini = teardown);

/* probs (n, 10) of model file path on the split, through the library */
static cn_real *lib_probs(const char *path, const char *split, int *n_out, int **labels)
{
    cn_error err;
    cn_model_info info;
    cn_model *m = cn_model_file_load(path, 16, &info, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_dataset *ds = NULL;
    cr_assert_eq(cn_dataset_load_idx(g_dir, split, 0, &ds, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_norm_apply(&info.norm, ds, &err), CN_OK, "%s", err.msg);
    cn_real *p = tst_reals((size_t)ds->n * 10);
    cr_assert_eq(cn_model_predict(m, ds, p, &err), CN_OK, "%s", err.msg);
    *n_out = ds->n;
    *labels = malloc((size_t)ds->n * sizeof **labels);
    memcpy(*labels, ds->labels, (size_t)ds->n * sizeof **labels);
    cn_dataset_free(ds);
    cn_model_info_free(&info);
    cn_model_free(m);
    return p;
}

static int argmax10(const double *p)
{
    int b = 0;
    for (int j = 1; j < 10; j++)
        if (p[j] > p[b]) b = j;
    return b;
}

/* Check the JSON of an evaluation against the averaged probabilities avg (n, 10). */
static void expect_report(json_t *o, const double *avg, const int *labels, int n)
{
    long long conf[10][10] = {{0}};
    int right = 0;
    for (int i = 0; i < n; i++) {
        int p = argmax10(avg + (size_t)i * 10);
        conf[labels[i]][p]++;
        right += p == labels[i];
    }
    cr_expect_eq(json_integer_value(json_object_get(o, "n")), n);
    double acc = json_number_value(json_object_get(o, "accuracy"));
    cr_expect(fabs(acc - (double)right / n) < 1e-12, "accuracy %g, expected %g", acc,
              (double)right / n);
    json_t *conf_j = json_object_get(o, "confusion");
    cr_assert(json_is_array(conf_j) && json_array_size(conf_j) == 10);
    json_t *pc = json_object_get(o, "per_class");
    cr_assert(json_is_array(pc) && json_array_size(pc) == 10);
    long long total = 0;
    for (int t = 0; t < 10; t++) {
        json_t *row = json_array_get(conf_j, (size_t)t);
        cr_assert(json_is_array(row) && json_array_size(row) == 10);
        long long cnt = 0;
        for (int q = 0; q < 10; q++) {
            long long v = json_integer_value(json_array_get(row, (size_t)q));
            cr_expect_eq(v, conf[t][q], "confusion[%d][%d] = %lld, expected %lld", t, q, v,
                         conf[t][q]);
            cnt += conf[t][q];
        }
        total += cnt;
        json_t *e = json_array_get(pc, (size_t)t);
        char name[16];
        snprintf(name, sizeof name, "%d", t);
        cr_expect_str_eq(json_string_value(json_object_get(e, "class")), name);
        cr_expect_eq(json_integer_value(json_object_get(e, "count")), cnt);
        if (cnt > 0)
            cr_expect(fabs(json_number_value(json_object_get(e, "accuracy")) -
                           (double)conf[t][t] / (double)cnt) < 1e-12);
    }
    cr_expect_eq(total, n);
}

Test(cli_eval, single_model_json)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"eval", g_a, "--data", g_dir, "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_str_empty(r.err, "--quiet printed: %s", r.err);
    json_t *o = tst_cli_json(&r);
    json_t *models = json_object_get(o, "models");
    cr_assert(json_is_array(models) && json_array_size(models) == 1);
    cr_expect_str_eq(json_string_value(json_array_get(models, 0)), g_a);
    cr_expect_null(json_object_get(o, "members"));
    int n, *labels;
    cn_real *p = lib_probs(g_a, "test", &n, &labels);
    cr_assert_eq(n, N_TEST);
    double *avg = malloc((size_t)n * 10 * sizeof *avg);
    for (int i = 0; i < n * 10; i++) avg[i] = (double)p[i];
    expect_report(o, avg, labels, n);
    free(avg);
    free(p);
    free(labels);
    json_decref(o);
    tst_cli_free(&r);
}

/* --threads 1 and 2 print the same results (the kernels do not depend on the
 * thread count). */
Test(cli_eval, threads_same_result)
{
    tst_cli_bin_or_skip();
    const char *a1[] = {"eval", g_a, "--data", g_dir, "--json", "--quiet", "--threads", "1", NULL};
    const char *a2[] = {"eval", g_a, "--data", g_dir, "--json", "--quiet", "--threads", "2", NULL};
    tst_run r1 = tst_cli_run(a1), r2 = tst_cli_run(a2);
    cr_assert_eq(r1.status, 0, "exit %d: %s", r1.status, r1.err);
    cr_assert_eq(r2.status, 0, "exit %d: %s", r2.status, r2.err);
    json_t *o1 = tst_cli_json(&r1), *o2 = tst_cli_json(&r2);
    cr_expect(json_equal(json_object_get(o1, "accuracy"), json_object_get(o2, "accuracy")));
    cr_expect(json_equal(json_object_get(o1, "confusion"), json_object_get(o2, "confusion")));
    json_decref(o1);
    json_decref(o2);
    tst_cli_free(&r1);
    tst_cli_free(&r2);
}

Test(cli_eval, ensemble_of_two)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"eval", "--json", g_a, "--data", g_dir, g_b, "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *o = tst_cli_json(&r);
    json_t *models = json_object_get(o, "models");
    cr_assert(json_is_array(models) && json_array_size(models) == 2);
    cr_expect_str_eq(json_string_value(json_array_get(models, 1)), g_b);
    int n, nb, *labels, *lb;
    cn_real *pa = lib_probs(g_a, "test", &n, &labels);
    cn_real *pb = lib_probs(g_b, "test", &nb, &lb);
    cr_assert_eq(n, nb);
    double *avg = malloc((size_t)n * 10 * sizeof *avg);
    int right_a = 0, right_b = 0;
    for (int i = 0; i < n; i++) {
        double da[10], db[10];
        for (int j = 0; j < 10; j++) {
            da[j] = (double)pa[i * 10 + j];
            db[j] = (double)pb[i * 10 + j];
            avg[i * 10 + j] = (da[j] + db[j]) / 2;
        }
        right_a += argmax10(da) == labels[i];
        right_b += argmax10(db) == labels[i];
    }
    expect_report(o, avg, labels, n);
    json_t *mem = json_object_get(o, "members");
    cr_assert(json_is_array(mem) && json_array_size(mem) == 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(mem, 0), "path")), g_a);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(mem, 1), "path")), g_b);
    double acc_a = json_number_value(json_object_get(json_array_get(mem, 0), "accuracy"));
    double acc_b = json_number_value(json_object_get(json_array_get(mem, 1), "accuracy"));
    cr_expect(fabs(acc_a - (double)right_a / n) < 1e-12, "member a %g", acc_a);
    cr_expect(fabs(acc_b - (double)right_b / n) < 1e-12, "member b %g", acc_b);
    free(avg);
    free(pa);
    free(pb);
    free(labels);
    free(lb);
    json_decref(o);
    tst_cli_free(&r);
}

Test(cli_eval, split_limit_and_tables)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"eval", g_a, "--data", g_dir, "--split", "train", "--limit", "25",
                          "--batch", "7", "--json", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *o = tst_cli_json(&r);
    cr_expect_eq(json_integer_value(json_object_get(o, "n")), 25);
    cr_expect_str_eq(json_string_value(json_object_get(o, "split")), "train");
    json_decref(o);
    tst_cli_free(&r);

    char data_flag[128];
    snprintf(data_flag, sizeof data_flag, "--data=%s", g_dir);
    const char *args2[] = {"eval", g_a, g_b, data_flag, "--quiet", NULL};
    r = tst_cli_run(args2);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "ensemble accuracy"), "%s", r.out);
    cr_expect(strstr(r.out, "per-class accuracy"), "%s", r.out);
    cr_expect(strstr(r.out, "confusion matrix"), "%s", r.out);
    cr_expect(strstr(r.out, "ensemble members"), "%s", r.out);
    tst_cli_free(&r);
}

/* exit code, one "convnet: eval:" line naming every needle, nothing on stdout */
static void expect_fail(const char *const *args, int code, const char *n1, const char *n2)
{
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, code, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.out, "stdout: %s", r.out);
    cr_expect(strstr(r.err, "convnet: eval: ") != NULL, "stderr: %s", r.err);
    cr_expect(!n1 || strstr(r.err, n1), "stderr lacks '%s': %s", n1, r.err);
    cr_expect(!n2 || strstr(r.err, n2), "stderr lacks '%s': %s", n2, r.err);
    tst_cli_free(&r);
}

Test(cli_eval, errors)
{
    tst_cli_bin_or_skip();
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.safetensors", g_dir);
    const char *a1[] = {"eval", missing, "--data", g_dir, NULL};
    expect_fail(a1, 1, missing, NULL);
    const char *a2[] = {"eval", g_a, "--data", g_dir, "--colour", "red", NULL};
    expect_fail(a2, 2, "colour", NULL);
    const char *a3[] = {"eval", "--data", g_dir, NULL};
    expect_fail(a3, 2, "no model file", NULL);
    const char *a4[] = {"eval", g_a, g_c3, "--data", g_dir, NULL};
    expect_fail(a4, 1, g_a, g_c3);
    const char *a5[] = {"eval", g_small, "--data", g_dir, NULL};
    expect_fail(a5, 1, "1x14x14", "1x28x28");
    const char *a6[] = {"eval", g_a, "--data", g_dir, "--split", "val", NULL};
    expect_fail(a6, 2, "split", NULL);
    /* a data file is not a model file */
    char idx[128];
    snprintf(idx, sizeof idx, "%s/train-images-idx3-ubyte", g_dir);
    const char *a7[] = {"eval", idx, "--data", g_dir, NULL};
    expect_fail(a7, 1, idx, NULL);
    const char *a9[] = {"eval", g_a, "--data", g_dir, "--threads", "0", NULL};
    expect_fail(a9, 2, "--threads", NULL);
    const char *a8[] = {"eval", "--help", NULL};
    tst_run r = tst_cli_run(a8);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "Usage: convnet eval"), "%s", r.out);
    tst_cli_free(&r);
}
