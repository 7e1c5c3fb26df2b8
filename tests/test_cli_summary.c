/* test_cli_summary.c: end-to-end tests of `convnet summary`: the built-in
 * three-layer convnet (629,910 parameters for 1x28x28 and 10 classes, the conv
 * row 28x28x32 with a 7x7 receptive field) in JSON and as a table, agreeing with
 * cn_model_summarize; --input / --classes; a model file written here with
 * cn_model_file_save; errors (unknown model, bad --input, flags that do not apply
 * to files, no model: exit 2; a missing file: exit 1). */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet.h"
#include "convnet/modelfile.h"
#include "convnet/summary.h"
#include "support.h"
#include "support_cli.h"

/* lib_summary: the library's summary of built-in model name (default options
 * unless input is non-NULL). Frees the model; rows' names are not used. */
static void lib_summary(const char *name, const char *input, cn_summary *s)
{
    cn_error err;
    cn_builtin_spec sp;
    cr_assert_eq(cn_builtin_spec_default(name, &sp, &err), CN_OK, "%s", err.msg);
    if (input) cr_assert_eq(cn_builtin_set(&sp, "input", input, &err), CN_OK, "%s", err.msg);
    cn_model *m = cn_builtin_build(&sp, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_compile_opts o = {.batch = 1, .training = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_model_summarize(m, s, &err), CN_OK, "%s", err.msg);
    cn_model_free(m);
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_integer(v), "key %s is not an integer", key);
    return json_integer_value(v);
}

Test(cli_summary, three_layer_convnet_json)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"summary", "three-layer-convnet", "--json", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    json_t *j = tst_cli_json(&r);
    cr_assert_eq(jint(j, "params"), 629910);
    json_int_t rb = jint(j, "real_bytes");
    cn_summary s;
    lib_summary("three-layer-convnet", NULL, &s);
    json_t *rows = json_object_get(j, "rows");
    cr_assert(json_is_array(rows));
    cr_assert_eq((int)json_array_size(rows), s.n);
    json_t *conv = json_array_get(rows, 1);
    cr_assert_str_eq(json_string_value(json_object_get(conv, "name")), "conv2d1");
    cr_assert_str_eq(json_string_value(json_object_get(conv, "op")), "conv2d");
    json_t *shape = json_object_get(conv, "shape");
    cr_assert_eq(json_array_size(shape), 3u);
    cr_assert_eq(json_integer_value(json_array_get(shape, 0)), 32);
    cr_assert_eq(json_integer_value(json_array_get(shape, 1)), 28);
    cr_assert_eq(json_integer_value(json_array_get(shape, 2)), 28);
    cr_assert_eq(jint(conv, "activations"), 28 * 28 * 32);
    cr_assert_eq(jint(conv, "act_bytes_fwd"), 28 * 28 * 32 * rb);
    cr_assert_eq(jint(conv, "params"), 1600);
    json_t *rf = json_object_get(conv, "rf");
    cr_assert(json_is_object(rf));
    cr_assert_float_eq(json_real_value(json_array_get(json_object_get(rf, "size"), 0)), 7.0,
                       1e-12);
    cr_assert_float_eq(json_real_value(json_array_get(json_object_get(rf, "jump"), 1)), 1.0,
                       1e-12);
    cr_assert(json_is_null(json_object_get(json_array_get(rows, 4), "rf"))); /* flatten */
    /* the totals agree with the library's (counted in reals: the test may be f64) */
    cr_assert_eq((size_t)jint(j, "act_bytes_fwd") / (size_t)rb,
                 s.act_bytes_fwd / sizeof(cn_real));
    double fl = json_real_value(json_object_get(j, "flops"));
    cr_assert(fabs(fl - s.flops) <= 1e-9 * s.flops, "%g vs %g", fl, s.flops);
    cr_assert_float_eq(json_real_value(json_object_get(j, "act_mb_fwd")),
                       (double)jint(j, "act_bytes_fwd") / (1024.0 * 1024.0), 1e-9);
    cr_assert_geq(jint(j, "act_bytes_train"), jint(j, "act_bytes_fwd"));
    cn_summary_free(&s);
    json_decref(j);
    tst_cli_free(&r);
}

Test(cli_summary, table_and_options)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"summary", "three-layer-convnet", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "28x28x32"), "%s", r.out);
    cr_assert(strstr(r.out, "conv2d1"), "%s", r.out);
    cr_assert(strstr(r.out, "629910"), "%s", r.out);
    cr_assert(strstr(r.out, "activation memory training (MB/image)"), "%s", r.out);
    tst_cli_free(&r);

    const char *a2[] = {"summary", "three-layer-convnet", "--input", "3x32x32", "--classes",
                        "100", "--json", NULL};
    r = tst_cli_run(a2);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    json_t *j = tst_cli_json(&r);
    /* conv 3*49*32+32, linear 32*16*16*100+100, linear 100*100+100 */
    cr_assert_eq(jint(j, "params"), 4736 + 819300 + 10100);
    json_t *in = json_array_get(json_object_get(j, "rows"), 0);
    cr_assert_eq(jint(in, "activations"), 3 * 32 * 32);
    json_decref(j);
    tst_cli_free(&r);
}

Test(cli_summary, cnm_params)
{
    tst_cli_bin_or_skip();
    const char *a1[] = {"summary", "models/fmnist-cnn.cnm", "--params", "width=64,hidden=256",
                        "--json", NULL};
    tst_run r = tst_cli_run(a1);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    json_t *j = tst_cli_json(&r);
    /* conv 64*9, bn 2*64, conv 128*64*9, bn 2*128, linear 128*7*7*256+256, 256*10+10 */
    cr_assert_eq(jint(j, "params"), 576 + 128 + 73728 + 256 + 1605888 + 2570);
    json_decref(j);
    tst_cli_free(&r);
    const char *a2[] = {"summary", "models/fmnist-cnn.cnm", "--params", "widht=3", NULL};
    r = tst_cli_run(a2);
    cr_assert_eq(r.status, 2, "status %d", r.status);
    cr_assert(strstr(r.err, "did you mean 'width'"), "%s", r.err);
    tst_cli_free(&r);
    const char *a3[] = {"summary", "two-layer", "--params", "a=1", NULL};
    r = tst_cli_run(a3);
    cr_assert_eq(r.status, 2, "status %d", r.status);
    cr_assert(strstr(r.err, ".cnm) only"), "%s", r.err);
    tst_cli_free(&r);
}

Test(cli_summary, model_file)
{
    tst_cli_bin_or_skip();
    char dir[64], path[128];
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "cli_summary"), 0, "mkdtemp failed");
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    cn_error err;
    cn_model_info info;
    memset(&info, 0, sizeof info);
    cr_assert_eq(cn_builtin_parse("two-layer input=1x8x8 classes=3 hidden=20", &info.spec,
                                  &err), CN_OK, "%s", err.msg);
    cn_model *m = cn_builtin_build(&info.spec, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_compile_opts o = {.batch = 2, .training = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng rng;
    cn_rng_seed(&rng, 5, 0);
    cr_assert_eq(cn_model_init(m, &rng, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_model_file_save(path, m, &info, NULL, 0, &err), CN_OK, "%s", err.msg);
    cn_model_free(m);

    const char *args[] = {"summary", path, "--json", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    json_t *j = tst_cli_json(&r);
    cr_assert_eq(jint(j, "params"), 64 * 20 + 20 + 20 * 3 + 3);
    json_decref(j);
    tst_cli_free(&r);

    const char *a2[] = {"summary", path, "--input", "1x4x4", NULL};
    r = tst_cli_run(a2);
    cr_assert_eq(r.status, 2, "status %d", r.status);
    cr_assert(strstr(r.err, "built-in models only"), "%s", r.err);
    tst_cli_free(&r);
    tst_tmpdir_remove(dir);
}

Test(cli_summary, errors)
{
    tst_cli_bin_or_skip();
    const char *a1[] = {"summary", "resnet9000", NULL};
    tst_run r = tst_cli_run(a1);
    cr_assert_eq(r.status, 2, "status %d", r.status);
    cr_assert(strstr(r.err, "unknown model 'resnet9000'"), "%s", r.err);
    cr_assert_eq(r.out[0], '\0');
    tst_cli_free(&r);

    const char *a2[] = {"summary", "three-layer-convnet", "--input", "3x32", NULL};
    r = tst_cli_run(a2);
    cr_assert_eq(r.status, 2, "status %d", r.status);
    cr_assert(strstr(r.err, "3x32"), "%s", r.err);
    tst_cli_free(&r);

    const char *a3[] = {"summary", "--json", NULL};
    r = tst_cli_run(a3);
    cr_assert_eq(r.status, 2, "status %d", r.status);
    cr_assert(strstr(r.err, "no MODEL"), "%s", r.err);
    tst_cli_free(&r);

    const char *a4[] = {"summary", "/nonexistent/dir/m.safetensors", NULL};
    r = tst_cli_run(a4);
    cr_assert_eq(r.status, 1, "status %d", r.status);
    cr_assert(strstr(r.err, "/nonexistent/dir/m.safetensors"), "%s", r.err);
    tst_cli_free(&r);

    const char *a5[] = {"summary", "mlp", "two-layer", NULL};
    r = tst_cli_run(a5);
    cr_assert_eq(r.status, 2, "status %d", r.status);
    tst_cli_free(&r);

    const char *a6[] = {"help", "summary", NULL};
    r = tst_cli_run(a6);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "--input"), "%s", r.out);
    tst_cli_free(&r);
}
