/* test_ops_core.c: the lead's ops through the graph: input, linear (with
 * DropConnect), conv1d, conv2d, max / average / global pooling: forward values
 * against direct computations, whole-model gradient checks in training and
 * evaluation, and the compile-time shape errors. The kernels' own PyTorch
 * parity lives in test_conv2d.c and test_pool2d.c. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <string.h>

#include "convnet.h"
#include "support.h"
#include "support_model.h"

Test(ops_core, linear_forward_flattens_and_matches_direct)
{
    int dims[3] = {2, 2, 3};
    tst_op_case c = tst_op_case_make(CN_OP_LINEAR, 3, dims);
    c.a.out = 4;
    cn_target t;
    cn_model *m = tst_op_model(&c, &t);
    cn_error err;
    cr_assert(cn_model_forward(m, 3, NULL, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK, "%s", err.msg);
    const cn_real *x = cn_model_input_buffer(m, 0);
    const cn_real *y = cn_model_node_value(m, cn_model_find(m, "op"));
    cn_params *ps = cn_model_params(m);
    cn_param *w = cn_params_find(ps, "op.weight"), *b = cn_params_find(ps, "op.bias");
    cr_assert(w && b);
    cr_assert_eq(w->shape[0], 4);
    cr_assert_eq(w->shape[1], 12);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            double s = b->value[j];
            for (int k = 0; k < 12; k++) s += (double)x[i * 12 + k] * w->value[j * 12 + k];
            cr_assert(fabs(s - y[i * 4 + j]) < 1e-5, "y[%d,%d] %g vs %g", i, j, y[i * 4 + j], s);
        }
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(ops_core, linear_gradcheck)
{
    int dims[1] = {5};
    tst_op_case c = tst_op_case_make(CN_OP_LINEAR, 1, dims);
    c.a.out = 3;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.bias = 0;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

Test(ops_core, linear_dropconnect_gradcheck_with_fixed_mask)
{
    int dims[1] = {6};
    tst_op_case c = tst_op_case_make(CN_OP_LINEAR, 1, dims);
    c.a.out = 4;
    c.a.p = 0.4;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.mode = CN_EVAL; /* evaluation: the plain weights */
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

Test(ops_core, conv2d_gradcheck_configs)
{
    int dims[3] = {4, 5, 6};
    tst_op_case c = tst_op_case_make(CN_OP_CONV2D, 3, dims);
    c.a.out = 4;
    c.a.k[0] = 3;
    c.a.k[1] = 2;
    c.a.pad[0] = 1;
    c.a.stride[1] = 2;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.groups = 2;
    c.a.dil[0] = 2;
    c.a.bias = 0;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.groups = 4; /* depthwise */
    c.a.bias = 1;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.k[0] = c.a.k[1] = 1; /* 1x1 */
    c.a.groups = 1;
    c.a.dil[0] = 1;
    c.a.pad[0] = 0;
    c.a.stride[1] = 1;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

Test(ops_core, conv1d_equals_direct_and_gradchecks)
{
    int dims[2] = {2, 7};
    tst_op_case c = tst_op_case_make(CN_OP_CONV1D, 2, dims);
    c.a.out = 3;
    c.a.k[0] = 3;
    c.a.pad[0] = 1;
    c.a.stride[0] = 2;
    cn_target t;
    cn_model *m = tst_op_model(&c, &t);
    cn_error err;
    cr_assert(cn_model_forward(m, 3, NULL, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
    int nd, shp[CN_MAX_DIMS];
    int op = cn_model_find(m, "op");
    cr_assert(cn_model_node_shape(m, op, &nd, shp, &err) == CN_OK);
    cr_assert(nd == 2 && shp[0] == 3 && shp[1] == 4);
    const cn_real *x = cn_model_input_buffer(m, 0), *y = cn_model_node_value(m, op);
    cn_params *ps = cn_model_params(m);
    const cn_real *w = cn_params_find(ps, "op.weight")->value; /* (3, 2, 3) */
    const cn_real *b = cn_params_find(ps, "op.bias")->value;
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < 3; o++)
            for (int p = 0; p < 4; p++) {
                double s = b[o];
                for (int ci = 0; ci < 2; ci++)
                    for (int k = 0; k < 3; k++) {
                        int pos = p * 2 - 1 + k;
                        if (pos >= 0 && pos < 7) s += (double)w[(o * 2 + ci) * 3 + k] * x[(i * 2 + ci) * 7 + pos];
                    }
                cr_assert(fabs(s - y[(i * 3 + o) * 4 + p]) < 1e-5);
            }
    cn_model_free(m);
    tst_op_target_free(&t);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

Test(ops_core, pooling_gradchecks)
{
    int dims[3] = {2, 6, 5};
    /* max pooling is kinked where two window entries tie: inputs ~ N(0, 20^2)
     * and a step of 1e-4 (exact on the linear pieces, the MSE being quadratic)
     * make crossing a near-tie improbable at this size */
    tst_op_case c = tst_op_case_make(CN_OP_MAXPOOL2D, 3, dims);
    c.scale = 20;
    c.h = 1e-4;
    c.a.k[0] = c.a.k[1] = 3;
    c.a.stride[0] = c.a.stride[1] = 2;
    c.a.pad[0] = c.a.pad[1] = 1;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.ceil_mode = 1;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.op = CN_OP_AVGPOOL2D;
    c.h = 0; /* linear: the default step */
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.count_include_pad = 0;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    tst_op_case g = tst_op_case_make(CN_OP_GLOBAL_AVGPOOL, 3, dims);
    g.scale = 20;
    cr_assert_lt(tst_op_gradcheck(&g), TST_GRAD_TOL);
    g.op = CN_OP_GLOBAL_MAXPOOL;
    g.h = 1e-4;
    cr_assert_lt(tst_op_gradcheck(&g), TST_GRAD_TOL);
}

Test(ops_core, global_pools_values)
{
    int dims[3] = {2, 2, 2};
    tst_op_case c = tst_op_case_make(CN_OP_GLOBAL_MAXPOOL, 3, dims);
    c.batch = 1;
    cn_target t;
    cn_model *m = tst_op_model(&c, &t);
    cn_real x[8] = {1, 5, -2, 3, -1, -4, -3, -2};
    cn_error err;
    cr_assert(cn_model_forward(m, 1, x, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
    const cn_real *y = cn_model_node_value(m, cn_model_find(m, "op"));
    cr_assert(y[0] == 5 && y[1] == -1);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(ops_core, shape_errors_name_the_node)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 3, 4, 4, &err);
    int c = cn_model_conv2d(m, x, 8, 7, 1, 0, &err); /* 7x7 kernel on 4x4 */
    cr_assert(c >= 0);
    cn_compile_opts o = {.batch = 2, .training = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "conv2d1"), "%s", err.msg);
    cn_model_free(m);

    m = cn_model_new(&err);
    x = cn_model_input(m, 3, 0, 0, &err);
    cr_assert(cn_model_conv2d(m, x, 8, 3, 1, 1, &err) >= 0);
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "conv2d1") && strstr(err.msg, "(3)"), "%s", err.msg);
    cn_model_free(m);

    m = cn_model_new(&err);
    x = cn_model_input(m, 3, 8, 8, &err);
    cn_attrs a = cn_attrs_make(CN_OP_CONV2D);
    a.out = 4;
    a.groups = 2; /* 3 channels do not split in 2 groups */
    cr_assert(cn_model_node(m, CN_OP_CONV2D, &a, &x, 1, "grouped", &err) >= 0);
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "grouped"), "%s", err.msg);
    cn_model_free(m);

    m = cn_model_new(&err);
    cn_attrs in = cn_attrs_make(CN_OP_INPUT); /* rank 0, then a zero dim */
    cr_assert(cn_model_node(m, CN_OP_INPUT, &in, NULL, 0, "img", &err) >= 0);
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "'img'") && strstr(err.msg, "0 dims"), "%s", err.msg);
    cn_model_free(m);
    m = cn_model_new(&err);
    in.ndim = 3;
    in.shape[0] = 3;
    in.shape[1] = 0;
    in.shape[2] = 4;
    cr_assert(cn_model_node(m, CN_OP_INPUT, &in, NULL, 0, "img", &err) >= 0);
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "'img'") && strstr(err.msg, "dim 1 is 0"), "%s", err.msg);
    cn_model_free(m);

    m = cn_model_new(&err);
    x = cn_model_input(m, 1, 3, 3, &err);
    cr_assert(cn_model_maxpool2d(m, x, 4, 4, &err) >= 0);
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "maxpool2d1"), "%s", err.msg);
    cn_model_free(m);
}

Test(ops_core, conv3d_and_transposed_gradcheck)
{
    int d3[4] = {2, 4, 5, 3};
    tst_op_case c = tst_op_case_make(CN_OP_CONV3D, 4, d3);
    c.a.out = 4;
    c.a.k[0] = 2;
    c.a.k[1] = c.a.k[2] = 3;
    c.a.pad[1] = c.a.pad[2] = 1;
    c.a.stride[0] = 2;
    c.a.groups = 2;
    c.batch = 2;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    int d2[3] = {4, 3, 4};
    tst_op_case t = tst_op_case_make(CN_OP_CONV_TRANSPOSE2D, 3, d2);
    t.a.out = 2;
    t.a.k[0] = t.a.k[1] = 3;
    t.a.stride[0] = t.a.stride[1] = 2;
    t.a.pad[0] = t.a.pad[1] = 1;
    t.a.out_pad[0] = 1;
    t.a.groups = 2;
    cn_target tg;
    cn_model *m = tst_op_model(&t, &tg);
    int nd, s[CN_MAX_DIMS];
    cn_error err;
    cr_assert(cn_model_node_shape(m, cn_model_find(m, "op"), &nd, s, &err) == CN_OK);
    /* (3 - 1) * 2 - 2 + 2 + 1 + 1 = 6 and (4 - 1) * 2 - 2 + 2 + 0 + 1 = 7 */
    cr_assert(nd == 3 && s[0] == 2 && s[1] == 6 && s[2] == 7, "%d %d %d", s[0], s[1], s[2]);
    cr_assert_str_eq(cn_model_params(m)->p[0].name, "op.weight");
    cr_assert_eq(cn_model_params(m)->p[0].shape[0], 4); /* (c_in, out/groups, kh, kw) */
    cr_assert_eq(cn_model_params(m)->p[0].shape[1], 1);
    cn_model_free(m);
    tst_op_target_free(&tg);
    cr_assert_lt(tst_op_gradcheck(&t), TST_GRAD_TOL);
}

Test(ops_core, upsample_gradcheck_and_sizes)
{
    int dims[3] = {2, 3, 4};
    tst_op_case c = tst_op_case_make(CN_OP_UPSAMPLE, 3, dims);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL); /* nearest x2 */
    c.a.mode = CN_UPSAMPLE_BILINEAR;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.align_corners = 1;
    c.a.scale[0] = c.a.scale[1] = 0;
    c.a.size_hw[0] = 5;
    c.a.size_hw[1] = 9;
    cn_target t;
    cn_model *m = tst_op_model(&c, &t);
    int nd, s[CN_MAX_DIMS];
    cn_error err;
    cr_assert(cn_model_node_shape(m, cn_model_find(m, "op"), &nd, s, &err) == CN_OK);
    cr_assert(s[1] == 5 && s[2] == 9);
    cn_model_free(m);
    tst_op_target_free(&t);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    /* nearest with align_corners is PyTorch's error too */
    cn_model *bad = cn_model_new(&err);
    int x = cn_model_input(bad, 1, 4, 4, &err);
    cn_attrs a = cn_attrs_make(CN_OP_UPSAMPLE);
    a.align_corners = 1;
    cr_assert(cn_model_node(bad, CN_OP_UPSAMPLE, &a, &x, 1, "up", &err) >= 0);
    cn_compile_opts o = {.batch = 1};
    cr_assert_neq(cn_model_compile(bad, &o, &err), CN_OK);
    cr_assert(strstr(err.msg, "'up'"), "%s", err.msg);
    cn_model_free(bad);
}

Test(ops_core, maxunpool_restores_maxima_and_gradchecks)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 2, 4, 6, &err);
    int p = cn_model_maxpool2d(m, x, 2, 2, &err);
    int pr[2] = {p, p};
    int u = cn_model_node(m, CN_OP_MAXUNPOOL2D, NULL, pr, 2, "unpool", &err);
    cr_assert(cn_model_unary(m, CN_OP_MSE, u, &err) >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 2, .training = 1, .input_grad = 1};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 8, 8);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK);
    cn_real xin[96], tv[96];
    tst_fill_normal(&r, xin, 96, 20.0); /* far from ties: max pooling's kinks */
    tst_fill_normal(&r, tv, 96, 1.0);
    cr_assert(cn_model_forward(m, 2, xin, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
    const cn_real *y = cn_model_node_value(m, u);
    const cn_real *pv = cn_model_node_value(m, p);
    int kept = 0;
    for (int i = 0; i < 96; i++) {
        cr_assert(y[i] == 0 || y[i] == xin[i]);
        kept += y[i] != 0;
    }
    cr_assert_eq(kept, 2 * 2 * 2 * 3);
    double s = 0, sp = 0;
    for (int i = 0; i < 96; i++) s += y[i];
    for (int i = 0; i < 24; i++) sp += pv[i];
    cr_assert(fabs(s - sp) < 1e-3);
    /* targets near the output keep the loss small next to its gradients */
    for (int i = 0; i < 96; i++) tv[i] = (cn_real)(y[i] + 0.1 * tv[i]);
    cn_target t = {.values = tv};
    cn_model_gradcheck_opts go = {.per_param = 0, .input = 1,
                                  .h = sizeof(cn_real) == 8 ? 1e-5 : 1e-3, .seed = 2};
    cn_model_gradcheck_report rep;
    cr_assert(cn_model_gradcheck(m, 2, xin, &t, CN_TRAIN, &r, &go, &rep, &err) == CN_OK, "%s",
              err.msg);
    cr_log_info("maxunpool2d gradcheck %.3g at %s", rep.max_rel_err, rep.worst);
    cr_assert_lt(rep.max_rel_err, TST_GRAD_TOL);
    cn_model_free(m);
}
