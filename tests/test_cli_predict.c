/* test_cli_predict.c: end-to-end tests of `convnet predict`: a softmax model
 * trained for one epoch through the CLI on a synthetic IDX folder predicts PNG
 * files (grey at the model's size, RGB of another size: converted and resized), a
 * JPEG, and records by index (the folder's test split and a single IDX images
 * file with its labels beside it). Checks the top-k ordering and sums, that the
 * probabilities equal the library's own (cn_image_load + the file's
 * normalisation + cn_model_predict), the --json shape, the human output, and the
 * errors: missing file and corrupt PNG (exit 1, file named), index out of range
 * (exit 2, count named), --top 0, no input, --index without --data (exit 2). */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/image.h"
#include "convnet/io.h"
#include "convnet/modelfile.h"
#include "support.h"
#include "support_cli.h"

static char g_dir[64], g_run[64], g_model[128], g_grey[128], g_rgb[128], g_jpg[128];
static char g_bad[128], g_idx[128];

/* A 28x28 grey JPEG (PIL, quality 90): rows 8..10 at 200, the rest at 20. */
static const unsigned char JPG[] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x03, 0x02, 0x02, 0x03, 0x02,
    0x02, 0x03, 0x03, 0x03, 0x03, 0x04, 0x03, 0x03, 0x04, 0x05, 0x08, 0x05, 0x05, 0x04, 0x04,
    0x05, 0x0a, 0x07, 0x07, 0x06, 0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a, 0x0b, 0x0b, 0x0d,
    0x0e, 0x12, 0x10, 0x0d, 0x0e, 0x11, 0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10, 0x11, 0x13, 0x14,
    0x15, 0x15, 0x15, 0x0c, 0x0f, 0x17, 0x18, 0x16, 0x14, 0x18, 0x12, 0x14, 0x15, 0x14, 0xff,
    0xdb, 0x00, 0x43, 0x01, 0x03, 0x04, 0x04, 0x05, 0x04, 0x05, 0x09, 0x05, 0x05, 0x09, 0x14,
    0x0d, 0x0b, 0x0d, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x1c,
    0x00, 0x1c, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xc4, 0x00,
    0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05,
    0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21,
    0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
    0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56,
    0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
    0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93,
    0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
    0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6,
    0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,
    0xf8, 0xf9, 0xfa, 0xff, 0xc4, 0x00, 0x1f, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x11, 0x00, 0x02, 0x01, 0x02,
    0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00, 0x01, 0x02,
    0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22,
    0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15,
    0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47,
    0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66,
    0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84,
    0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a,
    0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
    0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4,
    0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
    0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01,
    0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xfc, 0xdf, 0xa2, 0xbe, 0xb4, 0xff, 0x00,
    0x87, 0x96, 0xfc, 0x4e, 0xff, 0x00, 0xa0, 0x17, 0x84, 0xbf, 0xf0, 0x0e, 0xeb, 0xff, 0x00,
    0x92, 0x68, 0xff, 0x00, 0x87, 0x96, 0xfc, 0x4e, 0xff, 0x00, 0xa0, 0x17, 0x84, 0xbf, 0xf0,
    0x0e, 0xeb, 0xff, 0x00, 0x92, 0x68, 0x03, 0xe4, 0xba, 0x2b, 0xeb, 0x4f, 0xf8, 0x79, 0x6f,
    0xc4, 0xef, 0xfa, 0x01, 0x78, 0x4b, 0xff, 0x00, 0x00, 0xee, 0xbf, 0xf9, 0x26, 0x8f, 0xf8,
    0x79, 0x6f, 0xc4, 0xef, 0xfa, 0x01, 0x78, 0x4b, 0xff, 0x00, 0x00, 0xee, 0xbf, 0xf9, 0x26,
    0x80, 0x3e, 0x4b, 0xa2, 0x8a, 0x28, 0x00, 0xa2, 0x8a, 0x28, 0x03, 0xff, 0xd9};

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* A PNG of w x h pixels with c channels: class k's band (rows 2k+4..2k+6 of 28,
 * scaled to h) bright on a dark background. */
static void write_png(const char *path, int w, int h, int c, int k)
{
    uint8_t *pix = malloc((size_t)w * (size_t)h * (size_t)c);
    cr_assert_not_null(pix);
    for (int y = 0; y < h; y++) {
        int y28 = y * 28 / h;
        for (int x = 0; x < w; x++)
            for (int q = 0; q < c; q++)
                pix[((size_t)y * (size_t)w + (size_t)x) * (size_t)c + (size_t)q] =
                    (y28 >= 2 * k + 4 && y28 <= 2 * k + 6) ? 220 : 30;
    }
    uint8_t *out = NULL;
    size_t len = 0;
    cn_error err;
    cr_assert_eq(cn_png_encode(pix, w, h, c, &out, &len, &err), CN_OK, "%s", err.msg);
    write_bytes(path, out, len);
    cn_free(out);
    free(pix);
}

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_dir, sizeof g_dir, "cli_predict"), 0);
    cr_assert_eq(tst_tmpdir_make(g_run, sizeof g_run, "cli_predict_run"), 0);
    tst_cli_write_idx(g_dir, "train", 100, 12345u);
    tst_cli_write_idx(g_dir, "t10k", 40, 777u);
    snprintf(g_model, sizeof g_model, "%s/best.safetensors", g_run);
    snprintf(g_grey, sizeof g_grey, "%s/grey.png", g_dir);
    snprintf(g_rgb, sizeof g_rgb, "%s/rgb.png", g_dir);
    snprintf(g_jpg, sizeof g_jpg, "%s/band.jpg", g_dir);
    snprintf(g_bad, sizeof g_bad, "%s/bad.png", g_dir);
    snprintf(g_idx, sizeof g_idx, "%s/t10k-images-idx3-ubyte", g_dir);
    write_png(g_grey, 28, 28, 1, 3);
    write_png(g_rgb, 40, 56, 3, 7);
    write_bytes(g_jpg, JPG, sizeof JPG);
    /* a PNG signature and a truncated IHDR */
    static const unsigned char bad[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                        0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0};
    write_bytes(g_bad, bad, sizeof bad);
    if (!getenv("CONVNET_BIN")) return;
    const char *a[] = {"train", "softmax", "--out", g_run, "--data", g_dir, "--epochs", "2",
                       "--val", "20", "--batch", "20", "--quiet", NULL};
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "train: exit %d: %s", r.status, r.err);
    tst_cli_free(&r);
}

static void teardown(void)
{
    tst_tmpdir_remove(g_run);
    tst_tmpdir_remove(g_dir);
}

TestSuite(cli_predict, .init = setup, .fini = teardown);

/* Check one prediction object: input name, k entries sorted by probability, each
 * in [0, 1] with a class name and index; returns the probability sum. */
static double check_top(json_t *p, const char *input, int k)
{
    cr_assert(json_is_object(p));
    cr_expect_str_eq(json_string_value(json_object_get(p, "input")), input);
    json_t *top = json_object_get(p, "top");
    cr_assert(json_is_array(top));
    cr_assert_eq((int)json_array_size(top), k);
    double sum = 0, prev = 2;
    for (int j = 0; j < k; j++) {
        json_t *e = json_array_get(top, (size_t)j);
        double pr = json_real_value(json_object_get(e, "probability"));
        cr_expect(pr >= 0 && pr <= 1, "probability %g", pr);
        cr_expect(pr <= prev, "top %d out of order: %g after %g", j, pr, prev);
        cr_expect_not_null(json_string_value(json_object_get(e, "class")));
        json_int_t idx = json_integer_value(json_object_get(e, "index"));
        cr_expect(idx >= 0 && idx < 10);
        prev = pr;
        sum += pr;
    }
    return sum;
}

/* The library's probabilities (10) of image file path under the model file. */
static void lib_probs(const char *path, double *out)
{
    cn_error err;
    cn_model_info info;
    cn_model *m = cn_model_file_load(g_model, 1, &info, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_image_opts o;
    cn_image_opts_default(&o);
    o.channels = 1;
    o.height = o.width = 28;
    cn_image img;
    cr_assert_eq(cn_image_load(path, &o, &img, &err), CN_OK, "%s", err.msg);
    cn_dataset *ds = cn_dataset_new(1, 1, 28, 28, 10, &err);
    cr_assert_not_null(ds);
    memcpy(ds->images->data, img.data, 28 * 28 * sizeof(cn_real));
    cr_assert_eq(cn_norm_apply(&info.norm, ds, &err), CN_OK, "%s", err.msg);
    cn_real p[10];
    cr_assert_eq(cn_model_predict(m, ds, p, &err), CN_OK, "%s", err.msg);
    for (int j = 0; j < 10; j++) out[j] = (double)p[j];
    cn_dataset_free(ds);
    cn_image_free(&img);
    cn_model_free(m);
    cn_model_info_free(&info);
}

Test(cli_predict, images_json_topk_and_library_agreement)
{
    tst_cli_bin_or_skip();
    const char *a[] = {"predict", g_model, g_grey, g_rgb, g_jpg, "--top", "3", "--json", NULL};
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    cr_expect_str_eq(json_string_value(json_object_get(j, "model")), g_model);
    json_t *preds = json_object_get(j, "predictions");
    cr_assert_eq((int)json_array_size(preds), 3);
    const char *names[3] = {g_grey, g_rgb, g_jpg};
    for (int i = 0; i < 3; i++) {
        double s = check_top(json_array_get(preds, (size_t)i), names[i], 3);
        cr_expect(s <= 1.0 + 1e-6, "sum %g", s);
        cr_expect_null(json_object_get(json_array_get(preds, (size_t)i), "label"));
    }
    /* the grey PNG: the same probabilities as the library's own pipeline */
    double want[10];
    lib_probs(g_grey, want);
    json_t *top = json_object_get(json_array_get(preds, 0), "top");
    for (int k = 0; k < 3; k++) {
        json_t *e = json_array_get(top, (size_t)k);
        int idx = (int)json_integer_value(json_object_get(e, "index"));
        double pr = json_real_value(json_object_get(e, "probability"));
        cr_expect(fabs(pr - want[idx]) < 1e-5, "class %d: %g vs %g", idx, pr, want[idx]);
    }
    json_decref(j);
    tst_cli_free(&r);
    /* --top above the class count: every class, summing to 1 */
    const char *b[] = {"predict", g_model, g_rgb, "--top", "50", "--json", NULL};
    r = tst_cli_run(b);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    j = tst_cli_json(&r);
    double s = check_top(json_array_get(json_object_get(j, "predictions"), 0), g_rgb, 10);
    cr_expect(fabs(s - 1.0) < 1e-4, "sum %g", s);
    json_decref(j);
    tst_cli_free(&r);
}

Test(cli_predict, human_output)
{
    tst_cli_bin_or_skip();
    const char *a[] = {"predict", g_model, g_grey, "--top", "2", "--quiet", NULL};
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, g_grey) != NULL, "%s", r.out);
    /* the model line, a blank line, the name, then 2 "class  probability" lines */
    int lines = 0;
    for (const char *p = r.out; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 5, "%s", r.out);
    cr_expect(strstr(r.out, "  0.") != NULL, "%s", r.out);
    cr_expect_str_eq(r.err, "");
    tst_cli_free(&r);
}

Test(cli_predict, records_by_index)
{
    tst_cli_bin_or_skip();
    const char *a[] = {"predict", g_model, "--data", g_dir, "--index", "0,17,39", "--top",
                       "1", "--json", NULL};
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    json_t *preds = json_object_get(j, "predictions");
    cr_assert_eq((int)json_array_size(preds), 3);
    int idx[3] = {0, 17, 39};
    for (int i = 0; i < 3; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s[%d]", g_dir, idx[i]);
        json_t *p = json_array_get(preds, (size_t)i);
        check_top(p, name, 1);
        cr_expect_eq(json_integer_value(json_object_get(p, "label")), idx[i] % 10);
        cr_expect_not_null(json_string_value(json_object_get(p, "label_name")));
    }
    json_decref(j);
    tst_cli_free(&r);
    /* one IDX images file: labels from the labels file beside it */
    char name[256];
    snprintf(name, sizeof name, "%s[13]", g_idx);
    const char *b[] = {"predict", g_model, "--data", g_idx, "--index", "13", NULL};
    r = tst_cli_run(b);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, name) != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "label: ") != NULL && strstr(r.out, "(3)") != NULL, "%s", r.out);
    tst_cli_free(&r);
}

Test(cli_predict, errors)
{
    tst_cli_bin_or_skip();
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.png", g_dir);
    const char *a[] = {"predict", g_model, g_grey, missing, NULL};
    tst_run r = tst_cli_run(a);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "missing.png") != NULL, "%s", r.err);
    cr_expect_str_eq(r.out, "");
    tst_cli_free(&r);
    const char *b[] = {"predict", g_model, g_bad, NULL};
    r = tst_cli_run(b);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "bad.png") != NULL, "%s", r.err);
    tst_cli_free(&r);
    const char *c[] = {"predict", g_model, "--data", g_dir, "--index", "3,40", NULL};
    r = tst_cli_run(c);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(strstr(r.err, "--index 40") != NULL && strstr(r.err, "40 records") != NULL,
              "%s", r.err);
    tst_cli_free(&r);
    const char *const usage[][8] = {
        {"predict", g_model, g_grey, "--top", "0", NULL},
        {"predict", g_model, NULL},
        {"predict", NULL},
        {"predict", g_model, "--index", "1", NULL},
        {"predict", g_model, g_grey, "--fit", "squash", NULL},
        {"predict", g_model, g_grey, "--topp", "3", NULL},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        r = tst_cli_run(usage[i]);
        cr_expect_eq(r.status, 2, "case %zu: exit %d: %s", i, r.status, r.err);
        cr_expect(strncmp(r.err, "convnet: predict: ", 18) == 0, "case %zu: %s", i, r.err);
        tst_cli_free(&r);
    }
}
