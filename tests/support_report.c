/* tests/support_report.c: run folders for the report tests (see
 * support_report.h), made through the library without training. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "support_report.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>

static const char *const NAMES[3] = {"circle", "T-shirt/top", "bag <&>"};

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
}

cn_dataset *tst_report_test_set(int conv, int n)
{
    cn_error err;
    cn_dataset *ds = cn_dataset_new(n, conv ? 3 : 1, 8, 8, 3, &err);
    cr_assert_not_null(ds, "%s", err.msg);
    cr_assert_eq(cn_dataset_set_class_names(ds, NAMES, 3, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 7, 0);
    size_t per = ds->images->numel / (size_t)n;
    for (int i = 0; i < n; i++) {
        ds->labels[i] = i % 3;
        for (size_t k = 0; k < per; k++)
            ds->images->data[(size_t)i * per + k] =
                (cn_real)(0.5 * cn_rng_uniform(&r) + ((k / 8) % 3 == (size_t)(i % 3) ? 0.5 : 0));
    }
    return ds;
}

static void save_model(const char *dir, int conv)
{
    cn_error err;
    cn_builtin_spec s;
    const char *desc = conv ? "three-layer-convnet input=3x8x8 classes=3 filters=6 kernel=3 "
                              "hidden=8"
                            : "two-layer input=1x8x8 classes=3 hidden=7";
    cr_assert_eq(cn_builtin_parse(desc, &s, &err), CN_OK, "%s", err.msg);
    cn_model *m = cn_builtin_build(&s, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_compile_opts co = {.batch = 16};
    cr_assert_eq(cn_model_compile(m, &co, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 3, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    cn_dataset *train = tst_report_test_set(conv, 30);
    cn_norm norm;
    cr_assert_eq(cn_norm_fit(train, CN_NORM_CHANNEL, &norm, &err), CN_OK, "%s", err.msg);
    cn_dataset_free(train);
    cn_model_info info = {.spec = s, .class_names = (char **)NAMES, .norm = norm};
    char path[4096];
    const char *files[2] = {"best.safetensors", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        cr_assert_eq(cn_model_file_save(path, m, &info, NULL, 0, &err), CN_OK, "%s", err.msg);
    }
    cn_norm_free(&norm);
    cn_model_free(m);
}

void tst_report_run(const char *dir, const tst_run_opts *o)
{
    save_model(dir, o->conv);
    char line[2048], *all = calloc(1, 1 << 16);
    cr_assert_not_null(all);
    for (int e = 1; e <= o->epochs; e++) {
        double acc = 0.4 + 0.1 * e;
        snprintf(line, sizeof line,
                 "{\"epoch\":%d,\"step\":%d,\"loss\":%g,\"lr\":%g,\"train_acc\":%g,"
                 "\"val_acc\":%g,\"val_loss\":null,\"grad_norm\":1.5,\"images_per_s\":100,"
                 "\"seconds\":0.5,\"update_ratio\":{\"linear1.weight\":%g,\"linear1.bias\":%g}"
                 "%s}\n", e, 10 * e, 1.5 / e, 0.1 / e, acc + 0.02 * e, acc,
                 1e-3 * e, 1e-2 / e,
                 o->layers ? ",\"layers\":[{\"node\":\"relu1\",\"op\":\"relu\",\"act_mean\":0.3,"
                             "\"act_std\":0.5,\"grad_mean\":null,\"grad_std\":null,"
                             "\"dead_frac\":0.25,\"act_hist\":{\"lo\":0,\"hi\":2,\"counts\":"
                             "[9,5,3,2,1,1,0,0,0,0,0,0,0,0,0,1],\"nonfinite\":0}}]" : "");
        strcat(all, line);
    }
    write_text(dir, "metrics.jsonl", all);
    if (o->steps) {
        strcpy(all, "step,epoch,loss,lr\n");
        for (int s = 1; s <= 10 * o->epochs; s++) {
            if (s == 5) snprintf(line, sizeof line, "%d,%d,nan,%g\n", s, 1 + (s - 1) / 10, 0.1);
            else snprintf(line, sizeof line, "%d,%d,%g,%g\n", s, 1 + (s - 1) / 10,
                          2.0 / (1 + 0.1 * s), 0.1 / (1 + (s - 1) / 10));
            strcat(all, line);
        }
        write_text(dir, "steps.csv", all);
    }
    write_text(dir, "config.txt", "# convnet train configuration\nmodel = two-layer\n"
                                  "epochs = 3\nlr = 0.1  # <b>default</b>\n");
    free(all);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tst_rmtree(const char *dir)
{
    if (!dir || !*dir) return;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
