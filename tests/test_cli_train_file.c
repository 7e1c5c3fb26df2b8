/* test_cli_train_file.c: `convnet train` on a model text file (.cnm): the data's
 * input shape and class count fill the file's params c, h, w, classes; --params
 * overrides others; the run folder keeps the built network as model.cnm and the
 * model files embed it ("model" = "text NAME"), so `convnet eval` needs only the
 * .safetensors; kill -9 + --resume (after the .cnm was deleted) ends with the
 * same model file as an uninterrupted run; configuration errors (a wrong input
 * shape or class count, an unknown param with the nearest one, built-in model
 * keys, --params for a built-in model, --sanity, an --augment spec that is
 * wrong or changes the image size) exit 2 with a message saying how to fix it. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "convnet.h"
#include "support.h"
#include "support_cli.h"

#define N_TRAIN 240
#define N_TEST 40

static char g_dir[64], g_cnm[128];

/* A small residual ConvNet whose input and classes are params (as in the zoo). */
static const char NET[] =
    "# test network\n"
    "model tinyres\n"
    "param classes = 1000\n"
    "param c = 3\n"
    "param h = 32\n"
    "param w = 32\n"
    "param width = 4\n"
    "x    = input shape=(c, h, w)\n"
    "c1   = conv2d x out=width k=3 pad=1 bias=0\n"
    "b1   = batchnorm c1\n"
    "r1   = relu b1\n"
    "c2   = conv2d r1 out=width k=3 pad=1\n"
    "s    = add c2, r1\n"
    "p    = maxpool2d s k=2 stride=2\n"
    "g    = global_avgpool p\n"
    "fc   = linear g out=classes\n"
    "loss = cross_entropy fc\n"
    "output fc\n";

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_dir, sizeof g_dir, "cli_train_file"), 0);
    tst_cli_write_idx(g_dir, "train", N_TRAIN, 4242u);
    tst_cli_write_idx(g_dir, "t10k", N_TEST, 99u);
    snprintf(g_cnm, sizeof g_cnm, "%s/tinyres.cnm", g_dir);
    FILE *f = fopen(g_cnm, "w");
    cr_assert_not_null(f);
    cr_assert(fputs(NET, f) >= 0);
    cr_assert_eq(fclose(f), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(g_dir);
}

TestSuite(cli_train_file, .init = setup, .fini = teardown, .timeout = 120);

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* train args for run folder out (NULL-terminated into a). */
static void train_args(const char **a, const char *model, const char *out)
{
    int n = 0;
    a[n++] = "train";
    a[n++] = model;
    a[n++] = "--data";
    a[n++] = g_dir;
    a[n++] = "--out";
    a[n++] = out;
    a[n++] = "--params";
    a[n++] = "width=6";
    a[n++] = "--epochs";
    a[n++] = "3";
    a[n++] = "--batch";
    a[n++] = "16";
    a[n++] = "--val";
    a[n++] = "40";
    a[n++] = "--checkpoint-every";
    a[n++] = "2";
    a[n++] = "--threads";
    a[n++] = "1";
    a[n++] = "--quiet";
    a[n] = NULL;
}

Test(cli_train_file, trains_saves_self_describing_models_and_evaluates)
{
    tst_cli_bin_or_skip();
    char out[128], path[192];
    snprintf(out, sizeof out, "%s/run", g_dir);
    const char *a[32];
    train_args(a, g_cnm, out);
    a[19] = "--json";
    a[20] = NULL;
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    /* width 6: conv 6*1*9 + bn 12 + conv 6*6*9+6 + fc 6*10+10 */
    cr_expect_eq(json_integer_value(json_object_get(j, "parameters")),
                 54 + 12 + 330 + 70);
    cr_expect(json_real_value(json_object_get(j, "test_accuracy")) >= 0);
    json_decref(j);
    tst_cli_free(&r);

    snprintf(path, sizeof path, "%s/model.cnm", out);
    char *text = tst_read_file(path, NULL);
    cr_assert_not_null(text, "no model.cnm");
    cr_expect(strstr(text, "x = input shape=(1, 28, 28)") != NULL, "%s", text);
    cr_expect(strstr(text, "out=6") != NULL, "%s", text);
    free(text);
    snprintf(path, sizeof path, "%s/config.txt", out);
    text = tst_read_file(path, NULL);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "params = width=6") != NULL, "%s", text);
    cr_expect(strstr(text, "hidden") == NULL, "built-in keys printed: %s", text);
    free(text);

    snprintf(path, sizeof path, "%s/best.safetensors", out);
    char v[64];
    cn_error err;
    cr_assert_eq(cn_model_file_meta(path, "model", v, sizeof v, &err), CN_OK, "%s", err.msg);
    cr_expect_str_eq(v, "text tinyres");
    const char *e[] = {"eval", path, "--data", g_dir, "--json", NULL};
    r = tst_cli_run(e);
    cr_assert_eq(r.status, 0, "eval: exit %d: %s", r.status, r.err);
    j = tst_cli_json(&r);
    cr_expect_eq(json_integer_value(json_object_get(j, "n")), N_TEST, "%s", r.out);
    json_decref(j);
    tst_cli_free(&r);
}

Test(cli_train_file, kill_and_resume_without_the_file_is_bit_identical)
{
    tst_cli_bin_or_skip();
    char ref[128], cut[128], cnm[128], path[192], log[192];
    snprintf(ref, sizeof ref, "%s/ref", g_dir);
    snprintf(cut, sizeof cut, "%s/cut", g_dir);
    snprintf(cnm, sizeof cnm, "%s/copy.cnm", g_dir);
    FILE *f = fopen(cnm, "w");
    cr_assert_not_null(f);
    cr_assert(fputs(NET, f) >= 0);
    cr_assert_eq(fclose(f), 0);
    const char *a[32];
    train_args(a, cnm, ref);
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    tst_cli_free(&r);

    /* kill -9 as soon as the first checkpoint is on disk (polled every 2 ms), so
     * the resume is exercised whatever the machine's speed */
    train_args(a, cnm, cut);
    snprintf(log, sizeof log, "%s/log.txt", g_dir);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", cut);
    int pid = tst_cli_start(a, log);
    const struct timespec tick = {0, 2000000L};
    int st = -1;
    while (!exists(path) && (st = waitpid((pid_t)pid, NULL, WNOHANG)) == 0)
        nanosleep(&tick, NULL);
    if (st == 0 || st == -1) {
        kill(pid, SIGKILL);
        tst_cli_wait(pid);
    }
    cr_assert(exists(path), "the run ended without a checkpoint");
    cr_assert_eq(remove(cnm), 0);
    const char *b[] = {"train", "--resume", cut, "--quiet", NULL};
    r = tst_cli_run(b);
    char *ktext = tst_read_file(log, NULL);
    cr_assert_eq(r.status, 0, "resume: exit %d: %s\nkilled run: %s", r.status, r.err,
                 ktext ? ktext : "");
    free(ktext);
    tst_cli_free(&r);
    size_t n0, n1;
    snprintf(path, sizeof path, "%s/model.safetensors", ref);
    char *m0 = tst_read_file(path, &n0);
    snprintf(path, sizeof path, "%s/model.safetensors", cut);
    char *m1 = tst_read_file(path, &n1);
    cr_assert(m0 && m1);
    cr_expect_eq(n0, n1);
    cr_expect(n0 == n1 && memcmp(m0, m1, n0) == 0, "the resumed model differs");
    free(m0);
    free(m1);
}

/* `convnet train` with extra args exits 2 and stderr holds needle. */
static void expect_usage(const char *const *extra, const char *needle)
{
    char out[128];
    snprintf(out, sizeof out, "%s/bad", g_dir);
    const char *a[32];
    int n = 0;
    a[n++] = "train";
    for (; *extra; extra++) a[n++] = *extra;
    a[n++] = "--data";
    a[n++] = g_dir;
    a[n++] = "--out";
    a[n++] = out;
    a[n++] = "--val";
    a[n++] = "40";
    a[n] = NULL;
    tst_run r = tst_cli_run(a);
    cr_expect_eq(r.status, 2, "%s: exit %d: %s", needle, r.status, r.err);
    cr_expect(strstr(r.err, needle) != NULL, "stderr lacks '%s': %s", needle, r.err);
    tst_cli_free(&r);
}

Test(cli_train_file, configuration_errors)
{
    tst_cli_bin_or_skip();
    expect_usage((const char *[]){g_cnm, "--params", "widht=3", NULL}, "did you mean 'width'");
    expect_usage((const char *[]){g_cnm, "--params", "h=30", NULL}, "1x28x28");
    expect_usage((const char *[]){g_cnm, "--params", "classes=7", NULL}, "10 classes");
    expect_usage((const char *[]){g_cnm, "--hidden", "5", NULL}, "--params");
    expect_usage((const char *[]){"softmax", "--params", "a=1", NULL}, "only model files");
    expect_usage((const char *[]){g_cnm, "--sanity", NULL}, "built-in models");
    expect_usage((const char *[]){"tinyres", NULL}, "model file");
    expect_usage((const char *[]){g_cnm, "--augment", "hflip,crp=28", NULL},
                 "did you mean 'crop'");
    expect_usage((const char *[]){g_cnm, "--augment", "crop=20", NULL},
                 "training needs the input size kept");
}
