/* test_summary.c: cn_model_summarize: the CS231n notes' receptive-field examples
 * (dilated 3x3 stack: 3, 7, 15; AlexNet CONV1 / POOL1 shapes, parameters and
 * fields), a small VGG-style stack with hand-counted totals, the training memory
 * against the compiled memory plan, transposed / upsampled / padded / residual
 * fields, the built-in three-layer convnet, and errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "convnet.h"
#include "convnet/summary.h"
#include "support.h"

#define R sizeof(cn_real)

/* conv: a 2-D convolution node (k x k, stride s, pad p, dilation d). */
static int conv(cn_model *m, int x, int out, int k, int s, int p, int d, cn_error *err)
{
    cn_attrs a = cn_attrs_make(CN_OP_CONV2D);
    a.out = out;
    a.k[0] = a.k[1] = k;
    a.stride[0] = a.stride[1] = s;
    a.pad[0] = a.pad[1] = p;
    a.dil[0] = a.dil[1] = d;
    return x < 0 ? -1 : cn_model_node(m, CN_OP_CONV2D, &a, &x, 1, NULL, err);
}

static void compile(cn_model *m, int batch, int training)
{
    cn_error err;
    cn_compile_opts o = {.batch = batch, .training = training, .input_grad = 0};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
}

/* check_totals: the totals are the rows' sums and agree with the model. */
static void check_totals(cn_model *m, const cn_summary *s)
{
    size_t p = 0, f = 0, t = 0;
    double fl = 0;
    cr_assert_eq(s->n, cn_model_num_nodes(m));
    for (int i = 0; i < s->n; i++) {
        cr_assert_eq(s->rows[i].node, i);
        cr_assert_str_eq(s->rows[i].name, cn_model_node_name(m, i));
        cr_assert_eq(s->rows[i].op, cn_model_node_op(m, i));
        cr_assert_eq(s->rows[i].flops, cn_model_node_flops(m, i));
        p += s->rows[i].params;
        f += s->rows[i].act_bytes_fwd;
        t += s->rows[i].act_bytes_train;
        fl += s->rows[i].flops;
    }
    cr_assert_eq(p, s->params);
    cr_assert_eq(p, cn_model_params(m)->count);
    cr_assert_eq(s->buffers, cn_model_params(m)->buffer_count);
    cr_assert_eq(f, s->act_bytes_fwd);
    cr_assert_eq(t, s->act_bytes_train);
    cr_assert(fabs(fl - cn_model_flops(m)) <= 1e-9 * fl);
    cr_assert(fabs(s->flops - cn_model_flops(m)) <= 1e-9 * fl);
}

static void check_rf(const cn_summary_row *r, double size, double jump, double start)
{
    cr_assert(r->rf_valid, "%s: no receptive field", r->name);
    for (int a = 0; a < 2; a++) {
        cr_assert_float_eq(r->rf_size[a], size, 1e-12, "%s: r %g, want %g", r->name,
                           r->rf_size[a], size);
        cr_assert_float_eq(r->rf_jump[a], jump, 1e-12, "%s: j %g, want %g", r->name,
                           r->rf_jump[a], jump);
        cr_assert_float_eq(r->rf_start[a], start, 1e-12, "%s: start %g, want %g", r->name,
                           r->rf_start[a], start);
    }
}

Test(summary, dilated_stack_3_7_15)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 1, 32, 32, &err);
    int c1 = conv(m, x, 4, 3, 1, 1, 1, &err);
    int c2 = conv(m, c1, 4, 3, 1, 2, 2, &err);
    int c3 = conv(m, c2, 4, 3, 1, 4, 4, &err);
    cr_assert(c3 >= 0, "%s", err.msg);
    compile(m, 2, 0);
    cn_summary s;
    cr_assert(cn_model_summarize(m, &s, &err) == CN_OK, "%s", err.msg);
    check_rf(&s.rows[x], 1, 1, 0.5);
    check_rf(&s.rows[c1], 3, 1, 0.5);
    check_rf(&s.rows[c2], 7, 1, 0.5);
    check_rf(&s.rows[c3], 15, 1, 0.5);
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(s.rows[i].ndim, 3);
        cr_assert_eq(s.rows[i].shape[1], 32);
    }
    check_totals(m, &s);
    cn_summary_free(&s);
    cr_assert_null(s.rows);
    cn_model_free(m);
}

Test(summary, alexnet_conv1_pool1)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 3, 224, 224, &err);
    int c1 = conv(m, x, 96, 11, 4, 2, 1, &err);
    int r1 = cn_model_unary(m, CN_OP_RELU, c1, &err);
    cn_attrs pa = cn_attrs_make(CN_OP_MAXPOOL2D);
    pa.k[0] = pa.k[1] = 3;
    int p1 = r1 < 0 ? -1 : cn_model_node(m, CN_OP_MAXPOOL2D, &pa, &r1, 1, "pool1", &err);
    cr_assert(p1 >= 0, "%s", err.msg);
    compile(m, 1, 0);
    cn_summary s;
    cr_assert(cn_model_summarize(m, &s, &err) == CN_OK, "%s", err.msg);
    const cn_summary_row *rc = &s.rows[c1], *rp = &s.rows[p1];
    cr_assert_eq(rc->ndim, 3);
    cr_assert(rc->shape[0] == 96 && rc->shape[1] == 55 && rc->shape[2] == 55);
    cr_assert_eq(rc->params, 34944u);
    cr_assert_eq(rc->act_bytes_fwd, 55u * 55 * 96 * R);
    cr_assert_float_eq(rc->flops, 2.0 * 55 * 55 * 96 * (11 * 11 * 3), 1.0);
    check_rf(rc, 11, 4, 3.5);
    cr_assert_str_eq(rp->name, "pool1");
    cr_assert(rp->shape[0] == 96 && rp->shape[1] == 27 && rp->shape[2] == 27);
    cr_assert_eq(rp->params, 0u);
    cr_assert_eq(rp->act_bytes_fwd, 27u * 27 * 96 * R);
    check_rf(&s.rows[r1], 11, 4, 3.5);
    check_rf(rp, 19, 8, 7.5);
    cr_assert_eq(s.rows[x].act_bytes_fwd, 3u * 224 * 224 * R);
    check_totals(m, &s);
    cn_summary_free(&s);
    cn_model_free(m);
}

/* vgg_small: 3x32x32 -> [conv3x3(16) relu] x2 -> pool -> conv3x3(32) relu ->
 * pool -> flatten -> linear(10) -> cross_entropy. */
static cn_model *vgg_small(void)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 3, 32, 32, &err);
    int h = cn_model_unary(m, CN_OP_RELU, cn_model_conv2d(m, x, 16, 3, 1, 1, &err), &err);
    h = cn_model_unary(m, CN_OP_RELU, cn_model_conv2d(m, h, 16, 3, 1, 1, &err), &err);
    h = cn_model_maxpool2d(m, h, 2, 2, &err);
    h = cn_model_unary(m, CN_OP_RELU, cn_model_conv2d(m, h, 32, 3, 1, 1, &err), &err);
    h = cn_model_maxpool2d(m, h, 2, 2, &err);
    h = cn_model_linear(m, cn_model_flatten(m, h, &err), 10, &err);
    h = cn_model_unary(m, CN_OP_CROSS_ENTROPY, h, &err);
    cr_assert(h >= 0, "%s", err.msg);
    return m;
}

Test(summary, vgg_small_totals)
{
    cn_error err;
    cn_model *m = vgg_small();
    compile(m, 4, 0);
    cn_summary s;
    cr_assert(cn_model_summarize(m, &s, &err) == CN_OK, "%s", err.msg);
    cr_assert_eq(s.n, 12);
    /* params: 448 + 2320 + 4640 + 20490 */
    cr_assert_eq(s.rows[1].params, 448u);
    cr_assert_eq(s.rows[3].params, 2320u);
    cr_assert_eq(s.rows[6].params, 4640u);
    cr_assert_eq(s.rows[10].params, 20490u);
    cr_assert_eq(s.params, 27898u);
    /* activations: 3072 + 4 x 16384 + 4096 + 2 x 8192 + 2 x 2048 + 10 (+ loss 0) */
    cr_assert_eq(s.act_bytes_fwd, 93194u * R);
    cr_assert_eq(s.rows[11].act_bytes_fwd, 0u);
    cr_assert_eq(s.rows[11].ndim, 0);
    check_rf(&s.rows[1], 3, 1, 0.5);
    check_rf(&s.rows[3], 5, 1, 0.5);
    check_rf(&s.rows[5], 6, 2, 1.0);
    check_rf(&s.rows[6], 10, 2, 1.0);
    check_rf(&s.rows[8], 12, 4, 2.0);
    for (int i = 9; i < 12; i++) cr_assert_eq(s.rows[i].rf_valid, 0, "%s", s.rows[i].name);
    /* training: every node after the input carries an output gradient */
    cr_assert_eq(s.rows[0].act_bytes_train, s.rows[0].act_bytes_fwd);
    for (int i = 1; i < 11; i++)
        cr_assert_geq(s.rows[i].act_bytes_train, 2 * s.rows[i].act_bytes_fwd, "%s",
                      s.rows[i].name);
    check_totals(m, &s);
    cn_summary_free(&s);
    cn_model_free(m);
}

/* The training accounting times the batch is the compiled training plan
 * (activations + gradients + saved), up to the plan's 64-byte alignment of each
 * area, the loss's one value and rounding up per sample. */
Test(summary, train_bytes_match_memory_plan)
{
    cn_error err;
    cn_model *m = vgg_small();
    int batch = 8;
    compile(m, batch, 1);
    cn_summary s;
    cr_assert(cn_model_summarize(m, &s, &err) == CN_OK, "%s", err.msg);
    cn_model_memory mem;
    cr_assert(cn_model_memory_plan(m, &mem, &err) == CN_OK, "%s", err.msg);
    double plan = (double)(mem.activations + mem.gradients + mem.saved);
    double ours = (double)s.act_bytes_train * batch;
    cr_assert(fabs(ours - plan) <= 3.0 * CN_ALIGN * s.n + (double)s.n * batch,
              "ours %.0f plan %.0f", ours, plan);
    cr_assert_eq(s.batch, batch);
    /* the same summary whether compiled for training or not */
    compile(m, batch, 0);
    cn_summary e;
    cr_assert(cn_model_summarize(m, &e, &err) == CN_OK, "%s", err.msg);
    cr_assert_eq(e.act_bytes_train, s.act_bytes_train);
    cr_assert_eq(e.act_bytes_fwd, s.act_bytes_fwd);
    cn_summary_free(&e);
    cn_summary_free(&s);
    cn_model_free(m);
}

Test(summary, upsample_transposed_pad_residual)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 2, 8, 8, &err);
    int up = cn_model_unary(m, CN_OP_UPSAMPLE, x, &err); /* nearest x2 */
    cn_attrs ta = cn_attrs_make(CN_OP_CONV_TRANSPOSE2D);
    ta.out = 2;
    ta.k[0] = ta.k[1] = 4;
    ta.stride[0] = ta.stride[1] = 2;
    ta.pad[0] = ta.pad[1] = 1;
    int tc = up < 0 ? -1 : cn_model_node(m, CN_OP_CONV_TRANSPOSE2D, &ta, &up, 1, "up2", &err);
    cn_attrs pd = cn_attrs_make(CN_OP_PAD);
    pd.pads[0] = 2;
    pd.pads[1] = 0;
    pd.pads[2] = 1;
    pd.pads[3] = 1;
    int pad = cn_model_node(m, CN_OP_PAD, &pd, &x, 1, "pad", &err);
    int a = conv(m, x, 2, 3, 1, 1, 1, &err);
    int b = conv(m, a, 2, 3, 1, 1, 1, &err);
    int res = cn_model_add(m, a, b, &err);
    int g = cn_model_unary(m, CN_OP_GLOBAL_AVGPOOL, res, &err);
    cr_assert(tc >= 0 && pad >= 0 && g >= 0, "%s", err.msg);
    compile(m, 1, 0);
    cn_summary s;
    cr_assert(cn_model_summarize(m, &s, &err) == CN_OK, "%s", err.msg);
    check_rf(&s.rows[up], 1, 0.5, 0.25);
    /* j = 0.25, r = 1 + 3 * 0.25, start = 0.25 + (1 - 1.5) * 0.25 */
    check_rf(&s.rows[tc], 1.75, 0.25, 0.125);
    cr_assert_eq(s.rows[tc].shape[1], 32);
    const cn_summary_row *rp = &s.rows[pad];
    cr_assert(rp->rf_valid);
    cr_assert_float_eq(rp->rf_start[0], -1.5, 1e-12);
    cr_assert_float_eq(rp->rf_start[1], -0.5, 1e-12);
    cr_assert_float_eq(rp->rf_size[0], 1.0, 1e-12);
    check_rf(&s.rows[res], 5, 1, 0.5); /* the larger of 3 and 5 */
    cr_assert_eq(s.rows[g].rf_valid, 0);
    check_totals(m, &s);
    cn_summary_free(&s);
    cn_model_free(m);
}

Test(summary, builtin_three_layer_convnet)
{
    cn_error err;
    cn_builtin_spec sp;
    cr_assert(cn_builtin_spec_default("three-layer-convnet", &sp, &err) == CN_OK, "%s",
              err.msg);
    cn_model *m = cn_builtin_build(&sp, &err);
    cr_assert_not_null(m, "%s", err.msg);
    compile(m, 2, 0);
    cn_summary s;
    cr_assert(cn_model_summarize(m, &s, &err) == CN_OK, "%s", err.msg);
    cr_assert_eq(s.params, 629910u);
    int c = cn_model_find(m, "conv2d1");
    cr_assert(c >= 0);
    cr_assert(s.rows[c].shape[0] == 32 && s.rows[c].shape[1] == 28 && s.rows[c].shape[2] == 28);
    cr_assert_eq(s.rows[c].params, 1600u);
    check_rf(&s.rows[c], 7, 1, 0.5);
    check_totals(m, &s);
    cn_summary_free(&s);
    cn_model_free(m);
}

Test(summary, errors)
{
    cn_error err;
    cn_summary s;
    memset(&s, 0xff, sizeof s);
    cr_assert_eq(cn_model_summarize(NULL, &s, &err), CN_ERR_ARG);
    cr_assert_eq(s.n, 0);
    cr_assert_null(s.rows);
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 1, 4, 4, &err);
    cr_assert(cn_model_linear(m, x, 3, &err) >= 0, "%s", err.msg);
    cr_assert_eq(cn_model_summarize(m, &s, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "not compiled"), "%s", err.msg);
    cr_assert_eq(cn_model_summarize(m, NULL, &err), CN_ERR_ARG);
    cn_summary_free(NULL);
    cn_model_free(m);
}
