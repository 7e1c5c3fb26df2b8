/* test_report.c: the training report (convnet/report.h): a run folder made
 * through the library gets report.html and every figure PNG, each decoding
 * with cn_image_decode; the HTML embeds one <img> per figure and references
 * nothing outside itself; figures needing test data are left out (and stale
 * PNGs removed) without it; missing steps.csv falls back to per-epoch curves;
 * missing or torn metrics.jsonl, a bad steps.csv and a missing model file are
 * errors naming the file and line. Also `convnet report` end to end when
 * $CONVNET_BIN is set. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convnet.h"
#include "convnet/report.h"
#include "support.h"
#include "support_cli.h"
#include "support_report.h"

static char dir[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "report"), 0);
}

static void teardown(void)
{
    tst_rmtree(dir);
}

TestSuite(report, .init = setup, .fini = teardown);

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = tst_read_file(path, len);
    cr_assert_not_null(s, "cannot read %s", path);
    return s;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

static void check_pngs(const cn_report_result *res)
{
    cn_image_opts io;
    cn_image_opts_default(&io);
    for (int i = 0; i < res->n_figures; i++) {
        char name[128];
        snprintf(name, sizeof name, "report/%s", cn_report_figure_file(res->figures[i]));
        size_t len;
        char *b = slurp(name, &len);
        cn_image im;
        cn_error err;
        cr_expect_eq(cn_image_decode((const uint8_t *)b, len, name, &io, &im, &err), CN_OK,
                     "%s", err.msg);
        cr_expect_gt(im.w, 100, "%s", name);
        cn_image_free(&im);
        free(b);
    }
}

static void write_file(const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(report, full_report_with_test_data)
{
    tst_run_opts ro = {.conv = 1, .steps = 1, .layers = 0, .epochs = 3};
    tst_report_run(dir, &ro);
    cn_dataset *test = tst_report_test_set(1, 40);
    cn_report_result res;
    cn_error err;
    cr_assert_eq(cn_report_write(dir, test, NULL, &res, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(res.n_figures, CN_FIG_COUNT);
    cr_expect_eq(res.test_n, 40);
    cr_expect(res.test_accuracy >= 0 && res.test_accuracy <= 1);
    cr_expect_eq(res.epochs, 3);
    cr_expect_eq(res.steps, 30);
    cr_expect(strstr(res.weights, "best.safetensors") != NULL, "%s", res.weights);
    check_pngs(&res);
    size_t len;
    char *html = slurp("report.html", &len);
    cr_expect_eq(count(html, "<img "), CN_FIG_COUNT);
    cr_expect_eq(count(html, "src=\"data:image/png;base64,"), CN_FIG_COUNT);
    cr_expect_eq(count(html, "http://"), 0);
    cr_expect_eq(count(html, "https://"), 0);
    cr_expect_eq(count(html, "src=\"file"), 0);
    cr_expect_eq(count(html, "<figcaption>"), CN_FIG_COUNT);
    cr_expect(strstr(html, "data-figures=\"10\"") != NULL);
    cr_expect(strstr(html, "per step (from steps.csv)") != NULL);
    /* config.txt is shown escaped */
    cr_expect(strstr(html, "&lt;b&gt;default&lt;/b&gt;") != NULL);
    cr_expect(strstr(html, "<b>default") == NULL);
    free(html);
    /* same inputs, same bytes */
    size_t l1, l2;
    char *a = slurp("report/05-confusion.png", &l1);
    cr_assert_eq(cn_report_write(dir, test, NULL, &res, &err), CN_OK, "%s", err.msg);
    char *b = slurp("report/05-confusion.png", &l2);
    cr_expect(l1 == l2 && memcmp(a, b, l1) == 0, "the report is not deterministic");
    free(a);
    free(b);
    cn_dataset_free(test);
}

Test(report, without_test_data_or_steps)
{
    tst_run_opts ro = {.conv = 0, .steps = 0, .layers = 1, .epochs = 2};
    tst_report_run(dir, &ro);
    cn_dataset *test = tst_report_test_set(0, 20);
    cn_report_result res;
    cn_error err;
    cr_assert_eq(cn_report_write(dir, test, NULL, &res, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(res.n_figures, CN_FIG_COUNT);
    cn_dataset_free(test);
    cn_report_opts o;
    cn_report_opts_default(&o);
    o.weights = "last";
    cr_assert_eq(cn_report_write(dir, NULL, &o, &res, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(res.n_figures, CN_FIG_COUNT - 3);
    cr_expect(isnan(res.test_accuracy));
    cr_expect(strstr(res.weights, "model.safetensors") != NULL, "%s", res.weights);
    check_pngs(&res);
    char path[1024];
    snprintf(path, sizeof path, "%s/report/05-confusion.png", dir);
    cr_expect_neq(access(path, F_OK), 0, "a stale confusion matrix was left behind");
    size_t len;
    char *html = slurp("report.html", &len);
    cr_expect_eq(count(html, "<img "), CN_FIG_COUNT - 3);
    cr_expect_eq(count(html, "no test data was given"), 3);
    cr_expect(strstr(html, "steps.csv is missing") != NULL);
    /* the two-layer net's first weights are shown as images of the input */
    cr_expect(strstr(html, "weight rows reshaped") != NULL);
    /* activation histograms come from metrics.jsonl's layers */
    cr_expect(strstr(html, "monitor's statistics") != NULL);
    free(html);
}

Test(report, missing_and_broken_files)
{
    tst_run_opts ro = {.conv = 0, .steps = 1, .layers = 0, .epochs = 2};
    tst_report_run(dir, &ro);
    cn_error err;
    char path[1024];
    /* a torn last line of metrics.jsonl */
    write_file("metrics.jsonl", "{\"epoch\":1,\"step\":10,\"loss\":1}\n{\"epoch\":2,\"st");
    cr_expect_eq(cn_report_write(dir, NULL, NULL, NULL, &err), CN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "metrics.jsonl:2: torn line") != NULL, "%s", err.msg);
    /* a line that is not JSON */
    write_file("metrics.jsonl", "{\"epoch\":1,\"step\":10,\"loss\":1}\nnot json\n");
    cr_expect_eq(cn_report_write(dir, NULL, NULL, NULL, &err), CN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "metrics.jsonl:2:") != NULL, "%s", err.msg);
    write_file("metrics.jsonl", "");
    cr_expect_eq(cn_report_write(dir, NULL, NULL, NULL, &err), CN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "no epochs") != NULL, "%s", err.msg);
    /* a missing metrics.jsonl */
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    remove(path);
    cr_expect_eq(cn_report_write(dir, NULL, NULL, NULL, &err), CN_ERR_IO);
    cr_expect(strstr(err.msg, "metrics.jsonl") != NULL, "%s", err.msg);
    write_file("metrics.jsonl", "{\"epoch\":1,\"step\":10,\"loss\":1,\"update_ratio\":{}}\n");
    /* a bad steps.csv line and header */
    write_file("steps.csv", "step,epoch,loss,lr\n1,1,0.5,0.1\n2,1,zz,0.1\n");
    cr_expect_eq(cn_report_write(dir, NULL, NULL, NULL, &err), CN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "steps.csv:3:") != NULL, "%s", err.msg);
    write_file("steps.csv", "loss,step\n");
    cr_expect_eq(cn_report_write(dir, NULL, NULL, NULL, &err), CN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "steps.csv:1: header") != NULL, "%s", err.msg);
    snprintf(path, sizeof path, "%s/steps.csv", dir);
    remove(path);
    /* one epoch, no update ratios: still a report */
    cn_report_result res;
    cr_expect_eq(cn_report_write(dir, NULL, NULL, &res, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(res.n_figures, CN_FIG_COUNT - 5, "%d", res.n_figures);
    /* best.safetensors missing: falls back to model.safetensors; both missing: error */
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    remove(path);
    cr_expect_eq(cn_report_write(dir, NULL, NULL, &res, &err), CN_OK, "%s", err.msg);
    cr_expect(strstr(res.weights, "model.safetensors") != NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    cr_expect_eq(cn_report_write(dir, NULL, NULL, NULL, &err), CN_ERR_IO);
    cr_expect(strstr(err.msg, "best.safetensors") && strstr(err.msg, "model.safetensors"), "%s",
              err.msg);
    /* a model file that is not one */
    write_file("model.safetensors", "garbage");
    cr_expect_neq(cn_report_write(dir, NULL, NULL, NULL, &err), CN_OK);
    cr_expect(strstr(err.msg, "model.safetensors") != NULL, "%s", err.msg);
    cn_report_opts o;
    cn_report_opts_default(&o);
    o.weights = "/nonexistent/x.safetensors";
    cr_expect_eq(cn_report_write(dir, NULL, &o, NULL, &err), CN_ERR_IO);
    cr_expect(strstr(err.msg, "/nonexistent/x.safetensors") != NULL, "%s", err.msg);
    o.weights = NULL;
    o.batch = 0;
    cr_expect_eq(cn_report_write(dir, NULL, &o, NULL, &err), CN_ERR_ARG);
    cr_expect_eq(cn_report_write(NULL, NULL, NULL, NULL, &err), CN_ERR_ARG);
}

Test(report, test_set_must_match_the_model)
{
    tst_run_opts ro = {.conv = 1, .steps = 0, .layers = 0, .epochs = 1};
    tst_report_run(dir, &ro);
    cn_dataset *wrong = tst_report_test_set(0, 10); /* 1 channel, the model takes 3 */
    cn_error err;
    cr_expect_eq(cn_report_write(dir, wrong, NULL, NULL, &err), CN_ERR_SHAPE);
    cr_expect(strstr(err.msg, "1x8x8") != NULL, "%s", err.msg);
    cn_dataset_free(wrong);
}

Test(report, cli_report_json)
{
    const char *bin = tst_cli_bin_or_skip();
    (void)bin;
    tst_run_opts ro = {.conv = 0, .steps = 1, .layers = 0, .epochs = 2};
    tst_report_run(dir, &ro);
    /* the data folder: a synthetic IDX test split the 8x8 model cannot take */
    tst_cli_write_idx(dir, "t10k", 20, 5);
    tst_cli_write_idx(dir, "train", 20, 6);
    const char *args[] = {"report", dir, "--data", dir, "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 1, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "convnet: report:") != NULL, "%s", r.err);
    tst_cli_free(&r);
    const char *usage[] = {"report", NULL};
    r = tst_cli_run(usage);
    cr_expect_eq(r.status, 2, "stderr: %s", r.err);
    tst_cli_free(&r);
    const char *threads[] = {"report", dir, "--threads", "0", NULL};
    r = tst_cli_run(threads);
    cr_expect_eq(r.status, 2, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "--threads") != NULL, "%s", r.err);
    tst_cli_free(&r);
    const char *help[] = {"help", "report", NULL};
    r = tst_cli_run(help);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "convnet report RUN_DIR") != NULL);
    tst_cli_free(&r);
}

Test(report, cli_train_then_report, .timeout = 60)
{
    tst_cli_bin_or_skip();
    char data[600], run[600];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(mkdir(data, 0777), 0);
    tst_cli_write_idx(data, "train", 120, 1);
    tst_cli_write_idx(data, "t10k", 40, 2);
    const char *train[] = {"train", "two-layer", "--data", data, "--out", run, "--epochs", "2",
                           "--val", "20", "--hidden", "8", "--quiet", NULL};
    tst_run r = tst_cli_run(train);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    tst_cli_free(&r);
    /* data and test limit come from RUN_DIR/config.txt */
    const char *rep[] = {"report", run, "--json", "--quiet", "--threads", "1", NULL};
    r = tst_cli_run(rep);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    json_t *o = tst_cli_json(&r);
    cr_expect_eq(json_array_size(json_object_get(o, "figures")), CN_FIG_COUNT);
    cr_expect_eq(json_integer_value(json_object_get(o, "test_images")), 40);
    cr_expect(json_is_number(json_object_get(o, "test_accuracy")));
    const char *html = json_string_value(json_object_get(o, "report"));
    cr_expect(html && access(html, R_OK) == 0);
    json_decref(o);
    tst_cli_free(&r);
}
