/* tests/test_cli_search.c: end-to-end tests of `convnet search` on a small
 * synthetic IDX dataset (600 training images, 100 of them for validation, 100
 * test images): the --json result (every trial, ranked, values inside their
 * ranges, the best trial, edges), DIR/search.jsonl and DIR/best.txt (which
 * `convnet train --config` reads), diverging trials reported as such, and usage
 * errors (exit 2) for bad spaces and flags. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convnet.h"
#include "support.h"
#include "support_cli.h"

static char g_data[64], g_out[64];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_data, sizeof g_data, "search_data"), 0, "mkdtemp failed");
    cr_assert_eq(tst_tmpdir_make(g_out, sizeof g_out, "search_out"), 0, "mkdtemp failed");
    tst_cli_write_idx(g_data, "train", 600, 4242u);
    tst_cli_write_idx(g_data, "t10k", 100, 99u);
}

static void teardown(void)
{
    tst_tmpdir_remove(g_data);
    tst_tmpdir_remove(g_out);
}

TestSuite(cli_search, .init = setup, .fini = teardown);

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* x inside [lo, hi] up to the 10 significant digits of the JSON output. */
static void expect_in(double x, double lo, double hi, const char *what)
{
    double tol = 1e-9 * fmax(fabs(lo), fabs(hi));
    cr_expect(x >= lo - tol && x <= hi + tol, "%s = %.10g not in [%g, %g]", what, x, lo, hi);
}

/* The number of a JSON value, null as NaN. */
static double num_or_nan(json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

Test(cli_search, coarse_and_fine_trials_ranked_with_files)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"search", "softmax", "--data", g_data, "--val", "100", "--out", g_out,
                          "--trials", "3", "--epochs", "1", "--fine-trials", "2",
                          "--fine-epochs", "1", "--batch", "50", "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    json_t *o = tst_cli_json(&r);
    json_t *trials = json_object_get(o, "trials");
    cr_assert(json_is_array(trials));
    cr_assert_eq(json_array_size(trials), 5);
    json_t *fine_space = json_object_get(o, "fine_space");
    cr_assert(json_is_array(fine_space), "fine_space missing");
    int coarse = 0, fine = 0, seen[6] = {0};
    double prev = INFINITY;
    for (size_t i = 0; i < 5; i++) {
        json_t *t = json_array_get(trials, i);
        cr_expect_eq(json_integer_value(json_object_get(t, "rank")), (json_int_t)i + 1);
        int id = (int)json_integer_value(json_object_get(t, "trial"));
        cr_assert(id >= 1 && id <= 5, "trial %d", id);
        seen[id]++;
        const char *stage = json_string_value(json_object_get(t, "stage"));
        cr_assert_not_null(stage);
        coarse += strcmp(stage, "coarse") == 0;
        fine += strcmp(stage, "fine") == 0;
        cr_expect_eq(strcmp(stage, "coarse") == 0, id <= 3, "trial %d is %s", id, stage);
        cr_expect_eq(json_integer_value(json_object_get(t, "seed")), id - 1);
        cr_expect_str_eq(json_string_value(json_object_get(t, "status")), "ok");
        double acc = num_or_nan(json_object_get(t, "val_accuracy"));
        cr_expect(acc >= 0 && acc <= 1 && acc <= prev, "trial %d: val acc %g after %g", id, acc,
                  prev);
        prev = acc;
        json_t *vals = json_object_get(t, "values");
        double lr = num_or_nan(json_object_get(vals, "lr"));
        double wd = num_or_nan(json_object_get(vals, "weight_decay"));
        expect_in(lr, 1e-4, 1e-1, "lr");
        expect_in(wd, 1e-6, 1e-2, "weight_decay");
        cr_expect_null(json_object_get(vals, "dropout"), "softmax has no dropout to search");
        if (id > 3) {
            /* a fine trial lies in the narrowed ranges */
            for (size_t d = 0; d < json_array_size(fine_space); d++) {
                json_t *dim = json_array_get(fine_space, d);
                const char *name = json_string_value(json_object_get(dim, "name"));
                expect_in(num_or_nan(json_object_get(vals, name)),
                          num_or_nan(json_object_get(dim, "lo")),
                          num_or_nan(json_object_get(dim, "hi")), name);
            }
        }
    }
    cr_expect_eq(coarse, 3);
    cr_expect_eq(fine, 2);
    for (int id = 1; id <= 5; id++) cr_expect_eq(seen[id], 1, "trial %d listed %d times", id,
                                                 seen[id]);
    json_t *best = json_object_get(o, "best");
    cr_assert(json_is_object(best), "best missing");
    cr_expect_eq(json_integer_value(json_object_get(best, "trial")),
                 json_integer_value(json_object_get(json_array_get(trials, 0), "trial")));
    cr_expect(json_is_array(json_object_get(o, "edges")));

    /* search.jsonl: one line per trial, in running order */
    char path[256];
    snprintf(path, sizeof path, "%s/search.jsonl", g_out);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s missing", path);
    char line[4096];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        cr_assert_not_null(j, "line %d: %s", lines + 1, je.text);
        cr_expect_eq(json_integer_value(json_object_get(j, "trial")), lines + 1);
        json_decref(j);
        lines++;
    }
    fclose(f);
    cr_expect_eq(lines, 5);

    /* best.txt is a configuration `convnet train` accepts */
    char best_path[256];
    snprintf(best_path, sizeof best_path, "%s/best.txt", g_out);
    cr_assert(file_exists(best_path));
    const char *targs[] = {"train", "softmax", "--config", best_path, "--print-config", NULL};
    tst_run tr = tst_cli_run(targs);
    cr_expect_eq(tr.status, 0, "train --config best.txt: exit %d, stderr: %s", tr.status, tr.err);
    cr_expect(strstr(tr.out, "model = softmax") != NULL, "%s", tr.out);
    cr_expect(strstr(tr.out, "epochs = 1\n") != NULL, "%s", tr.out);
    cr_expect(strstr(tr.out, "batch = 50\n") != NULL, "%s", tr.out);
    const char *lr_line = strstr(tr.out, "\nlr = ");
    cr_assert_not_null(lr_line, "%s", tr.out);
    double lr = strtod(lr_line + 6, NULL);
    double want = num_or_nan(json_object_get(json_object_get(best, "values"), "lr"));
    cr_expect(fabs(lr - want) <= 1e-9 * want, "best.txt lr %.17g, JSON %.17g", lr, want);
    tst_cli_free(&tr);
    json_decref(o);
    tst_cli_free(&r);
}

Test(cli_search, human_table_and_int_dimension)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"search", "two-layer", "--data", g_data, "--val", "100", "--out", g_out,
                          "--space", "lr=1e-3:1e-1,hidden=8:32:int", "--trials", "2",
                          "--epochs", "1", "--fine-trials", "1", "--fine-epochs", "1",
                          "--optimizer", "adam", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.out, "random search of two-layer: 3 trials") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "hidden") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "best configuration") != NULL, "%s", r.out);
    cr_expect(strstr(r.err, "coarse stage: 2 trials") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "fine stage: 1 trials") != NULL, "%s", r.err);
    tst_cli_free(&r);
}

Test(cli_search, diverging_trials_are_reported_not_errors)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"search", "two-layer", "--data", g_data, "--val", "100", "--out", g_out,
                          "--space", "lr=1e3:1e5", "--optimizer", "sgd", "--trials", "2",
                          "--epochs", "1", "--fine-trials", "1", "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    /* every trial diverged: the table is printed, then exit 1 */
    cr_assert_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.err, "every trial diverged") != NULL, "%s", r.err);
    json_t *o = tst_cli_json(&r);
    json_t *trials = json_object_get(o, "trials");
    cr_assert_eq(json_array_size(trials), 2, "no fine stage without a finite coarse trial");
    for (size_t i = 0; i < 2; i++) {
        json_t *t = json_array_get(trials, i);
        cr_expect_str_eq(json_string_value(json_object_get(t, "status")), "diverged");
        cr_expect(json_is_null(json_object_get(t, "val_accuracy")));
        cr_expect(strstr(json_string_value(json_object_get(t, "message")), "nan") != NULL ||
                  strstr(json_string_value(json_object_get(t, "message")), "inf") != NULL);
    }
    cr_expect(json_is_null(json_object_get(o, "best")));
    char path[256];
    snprintf(path, sizeof path, "%s/best.txt", g_out);
    cr_expect(!file_exists(path), "no best.txt without a finite trial");
    json_decref(o);
    tst_cli_free(&r);
}

/* A usage error: exit 2, nothing on stdout, a message naming needle. */
static void expect_usage(const char *space, const char *extra, const char *needle)
{
    const char *args[16];
    int n = 0;
    args[n++] = "search";
    args[n++] = "softmax";
    args[n++] = "--data";
    args[n++] = g_data;
    args[n++] = "--out";
    args[n++] = g_out;
    if (space) {
        args[n++] = "--space";
        args[n++] = space;
    }
    if (extra) args[n++] = extra;
    args[n] = NULL;
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 2, "%s %s: exit %d, stderr: %s", space ? space : "",
                 extra ? extra : "", r.status, r.err);
    cr_expect_str_empty(r.out, "stdout: %s", r.out);
    cr_expect(strncmp(r.err, "convnet: search: ", 17) == 0, "stderr: %s", r.err);
    cr_expect(strstr(r.err, needle) != NULL, "stderr lacks '%s': %s", needle, r.err);
    tst_cli_free(&r);
}

Test(cli_search, usage_errors_exit_2)
{
    tst_cli_bin_or_skip();
    expect_usage("lrr=1e-4:1e-1", NULL, "'lrr' is not a configuration key");
    expect_usage("lr=1e-1:1e-4", NULL, "lo 0.1 >= hi 0.0001");
    expect_usage("lr=0:1:log", NULL, "log scale needs lo > 0");
    expect_usage("lr=1e-4", NULL, "missing ':'");
    expect_usage("lr=1e-4:1e-1:cubic", NULL, "unknown scale");
    expect_usage("lr=1e-4:1e-1,lr=1e-3:1e-2", NULL, "appears twice");
    expect_usage("dropout=0:0.5", NULL, "not an option of model 'softmax'");
    expect_usage("momentum=0.5:1.5", NULL, "momentum");
    expect_usage("epochs=1:5:int", NULL, "cannot be searched");
    expect_usage("lr=1e-4:1e-1,", NULL, "empty dimension");
    expect_usage(NULL, "--trails", "did you mean '--trials'?");
    expect_usage(NULL, "--val=0", "--val must be > 0");
    expect_usage(NULL, "--trials=0", "--trials");
    expect_usage(NULL, "--lr=abc", "lr");
    const char *no_out[] = {"search", "softmax", NULL};
    tst_run r = tst_cli_run(no_out);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "--out") != NULL, "%s", r.err);
    tst_cli_free(&r);
}

Test(cli_search, help_lists_the_flags)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"search", "--help", NULL};
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "--fine-trials") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "--space") != NULL);
    cr_expect(strstr(r.out, "--weight-decay") != NULL, "configuration keys are listed");
    tst_cli_free(&r);
}
