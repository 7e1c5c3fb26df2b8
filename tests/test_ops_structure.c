/* test_ops_structure.c: the structural ops through the graph
 * (src/ops/structure.c): add (3 inputs; the same node twice, where the graph
 * must sum both contributions), mul, channel_scale, concat (inputs of different
 * sizes along the axis; concat then slices recovering the parts), slice, flatten,
 * reshape (with -1), pad and identity: forward values against direct
 * computations, whole-model gradient checks over every input (these ops are
 * linear or bilinear, so the checks are smooth), and the compile-time shape and
 * attribute errors naming the node and the shapes. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "support.h"
#include "support_model.h"

#ifdef CN_DOUBLE
#define FWD_TOL 1e-12
#else
#define FWD_TOL 1e-6 /* one float rounding of O(1) sums and products */
#endif

/* ------------------------------------------------------------------ helpers */

/* set_input: input j of c gets per-sample shape (ndim, dims). */
static void set_input(tst_op_case *c, int j, int ndim, const int *dims)
{
    c->ndim[j] = ndim;
    memset(c->shape[j], 0, sizeof c->shape[j]);
    for (int i = 0; i < ndim; i++) c->shape[j][i] = dims[i];
    if (j + 1 > c->n_in) c->n_in = j + 1;
}

/* case_count: reals in input j of c for the whole batch. */
static size_t case_count(const tst_op_case *c, int j)
{
    size_t cnt = (size_t)c->batch;
    for (int i = 0; i < c->ndim[j]; i++) cnt *= (size_t)c->shape[j][i];
    return cnt;
}

/* run_case: c's one-op model (tst_op_model) after one forward without targets. */
static cn_model *run_case(const tst_op_case *c, cn_target *t)
{
    cn_model *m = tst_op_model(c, t);
    cn_error err;
    cr_assert(cn_model_forward(m, c->batch, NULL, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK,
              "%s", err.msg);
    return m;
}

/* out_shape_is: node "op" of m has per-sample shape (ndim, dims). */
static void out_shape_is(const cn_model *m, int ndim, const int *dims)
{
    int nd, shp[CN_MAX_DIMS];
    cn_error err;
    cr_assert(cn_model_node_shape(m, cn_model_find(m, "op"), &nd, shp, &err) == CN_OK);
    cr_assert_eq(nd, ndim);
    for (int i = 0; i < ndim; i++)
        cr_assert_eq(shp[i], dims[i], "dim %d: %d vs %d", i, shp[i], dims[i]);
}

/* assert_close: y (n) against ref (n), |y - ref| <= FWD_TOL (1 + |ref|). */
static void assert_close(const cn_real *y, const double *ref, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)y[i] - ref[i]) <= FWD_TOL * (1.0 + fabs(ref[i])),
                  "%s: y[%zu] = %.17g, expected %.17g", what, i, (double)y[i], ref[i]);
}

/* op_value: the output of node "op" of m. */
static const cn_real *op_value(const cn_model *m)
{
    return cn_model_node_value(m, cn_model_find(m, "op"));
}

/* compile_status: inputs x0, x1, ... of the shapes in c -> op (c->a, named "op");
 * the status of compiling it, err filled. */
static cn_status compile_status(const tst_op_case *c, cn_error *err)
{
    cn_model *m = cn_model_new(err);
    cr_assert(m);
    int in[4];
    for (int j = 0; j < c->n_in; j++) {
        cn_attrs ia = cn_attrs_make(CN_OP_INPUT);
        ia.ndim = c->ndim[j];
        memcpy(ia.shape, c->shape[j], sizeof ia.shape);
        char nm[8] = {'x', (char)('0' + j), 0};
        in[j] = cn_model_node(m, CN_OP_INPUT, &ia, NULL, 0, nm, err);
        cr_assert(in[j] >= 0, "%s", err->msg);
    }
    int y = cn_model_node(m, c->op, &c->a, in, c->n_in, "op", err);
    cr_assert(y >= 0, "%s", err->msg);
    cn_compile_opts o = {.batch = 2, .training = 1, .input_grad = 1};
    cn_status st = cn_model_compile(m, &o, err);
    cn_model_free(m);
    return st;
}

/* expect_error: compiling c fails with code and a message holding every one of
 * the strings (NULL-terminated). */
static void expect_error(const tst_op_case *c, cn_status code, const char *const *parts)
{
    cn_error err;
    cn_status st = compile_status(c, &err);
    cr_assert_eq(st, code, "%s: got %d (%s)", cn_op_name(c->op), (int)st, err.msg);
    for (int k = 0; parts[k]; k++)
        cr_assert(strstr(err.msg, parts[k]), "'%s' missing from: %s", parts[k], err.msg);
}

/* ------------------------------------------------------------------ add, mul */

Test(ops_structure, add_three_inputs)
{
    int d[3] = {2, 3, 2};
    tst_op_case c = tst_op_case_make(CN_OP_ADD, 3, d);
    set_input(&c, 1, 3, d);
    set_input(&c, 2, 3, d);
    cn_target t;
    cn_model *m = run_case(&c, &t);
    size_t cnt = case_count(&c, 0);
    const cn_real *a = cn_model_input_buffer(m, 0), *b = cn_model_input_buffer(m, 1),
                  *e = cn_model_input_buffer(m, 2);
    double *ref = malloc(sizeof(double) * cnt);
    cr_assert(ref);
    for (size_t i = 0; i < cnt; i++) ref[i] = (double)a[i] + b[i] + e[i];
    assert_close(op_value(m), ref, cnt, "add");
    cr_assert_eq(cn_model_node_flops(m, cn_model_find(m, "op")), 24.0); /* 2 adds x 12 */
    free(ref);
    cn_model_free(m);
    tst_op_target_free(&t);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL); /* every input is checked */
}

Test(ops_structure, add_same_node_twice_sums_both_contributions)
{
    /* add(x, x) and add(x, x, x): dL/dx = k dL/dy, through the graph's sum of an
     * input's consumers (the op itself writes dy into each dx slot) */
    for (int k = 2; k <= 3; k++) {
        cn_error err;
        cn_model *m = cn_model_new(&err);
        int x = cn_model_input(m, 3, 2, 2, &err);
        int in[3] = {x, x, x};
        int y = cn_model_node(m, CN_OP_ADD, NULL, in, k, "op", &err);
        int l = cn_model_unary(m, CN_OP_MSE, y, &err);
        cr_assert(l >= 0, "%s", err.msg);
        cn_compile_opts o = {.batch = 2, .training = 1, .input_grad = 1};
        cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
        cn_rng r;
        cn_rng_seed(&r, 5, 1);
        cr_assert(cn_model_init(m, &r, &err) == CN_OK, "%s", err.msg);
        cn_real xs[24], tv[24];
        tst_fill_normal(&r, xs, 24, 1.0);
        tst_fill_normal(&r, tv, 24, 1.0);
        cn_target t = {.labels = NULL, .values = tv};
        cr_assert(cn_model_forward(m, 2, xs, &t, CN_TRAIN, &r, NULL, &err) == CN_OK, "%s", err.msg);
        const cn_real *yv = cn_model_node_value(m, y);
        for (int i = 0; i < 24; i++) cr_assert_eq(yv[i], (cn_real)k * xs[i]);
        cr_assert(cn_model_backward(m, &err) == CN_OK, "%s", err.msg);
        const cn_real *dy = cn_model_node_grad(m, y), *dx = cn_model_node_grad(m, x);
        cr_assert(dy && dx);
        for (int i = 0; i < 24; i++) {
            double want = k * (double)dy[i];
            cr_assert(fabs((double)dx[i] - want) <= FWD_TOL * (1 + fabs(want)),
                      "k %d: dx[%d] = %g, dy = %g", k, i, (double)dx[i], (double)dy[i]);
        }
        cn_model_gradcheck_opts go = {.input = 1, .h = TST_GRAD_H, .seed = 1};
        cn_model_gradcheck_report rep;
        cr_assert(cn_model_gradcheck(m, 2, xs, &t, CN_TRAIN, &r, &go, &rep, &err) == CN_OK,
                  "%s", err.msg);
        cr_assert_lt(rep.max_rel_err, TST_GRAD_TOL, "k %d: worst %s", k, rep.worst);
        cn_model_free(m);
    }
}

Test(ops_structure, add_shape_mismatch_names_node_and_shapes)
{
    int a[3] = {3, 4, 4}, b[3] = {3, 4, 5};
    tst_op_case c = tst_op_case_make(CN_OP_ADD, 3, a);
    set_input(&c, 1, 3, b);
    const char *parts[] = {"'op' (add)", "(3, 4, 5)", "(3, 4, 4)", NULL};
    expect_error(&c, CN_ERR_SHAPE, parts);
    c.op = CN_OP_MUL;
    c.a = cn_attrs_make(CN_OP_MUL);
    const char *mparts[] = {"'op' (mul)", "(3, 4, 5)", "(3, 4, 4)", NULL};
    expect_error(&c, CN_ERR_SHAPE, mparts);
}

Test(ops_structure, mul_forward_and_gradcheck)
{
    int d[2] = {3, 4};
    tst_op_case c = tst_op_case_make(CN_OP_MUL, 2, d);
    set_input(&c, 1, 2, d);
    cn_target t;
    cn_model *m = run_case(&c, &t);
    size_t cnt = case_count(&c, 0);
    const cn_real *a = cn_model_input_buffer(m, 0), *b = cn_model_input_buffer(m, 1);
    double *ref = malloc(sizeof(double) * cnt);
    cr_assert(ref);
    for (size_t i = 0; i < cnt; i++) ref[i] = (double)a[i] * b[i];
    assert_close(op_value(m), ref, cnt, "mul");
    free(ref);
    cn_model_free(m);
    tst_op_target_free(&t);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

/* ------------------------------------------------------------------ channel_scale */

Test(ops_structure, channel_scale_forward_and_gradcheck)
{
    int xd[3] = {3, 2, 4}, s1[1] = {3}, s3[3] = {3, 1, 1};
    for (int form = 0; form <= 1; form++) {
        tst_op_case c = tst_op_case_make(CN_OP_CHANNEL_SCALE, 3, xd);
        if (form == 0) set_input(&c, 1, 1, s1);
        else set_input(&c, 1, 3, s3);
        cn_target t;
        cn_model *m = run_case(&c, &t);
        out_shape_is(m, 3, xd);
        size_t cnt = case_count(&c, 0);
        const cn_real *x = cn_model_input_buffer(m, 0), *s = cn_model_input_buffer(m, 1);
        double *ref = malloc(sizeof(double) * cnt);
        cr_assert(ref);
        for (size_t e = 0; e < cnt; e++) ref[e] = (double)x[e] * s[e / 8]; /* 8 = h * w */
        assert_close(op_value(m), ref, cnt, "channel_scale");
        free(ref);
        cn_model_free(m);
        tst_op_target_free(&t);
        /* both gradients: dL/dx and dL/ds (input 1) */
        cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL, "s form %d", form);
    }
    /* a feature vector scaled per feature */
    int v[1] = {5};
    tst_op_case c = tst_op_case_make(CN_OP_CHANNEL_SCALE, 1, v);
    set_input(&c, 1, 1, v);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

Test(ops_structure, channel_scale_shape_errors)
{
    int xd[3] = {3, 2, 4}, bad1[1] = {4}, bad2[3] = {3, 2, 1};
    tst_op_case c = tst_op_case_make(CN_OP_CHANNEL_SCALE, 3, xd);
    set_input(&c, 1, 1, bad1);
    const char *p1[] = {"'op' (channel_scale)", "(4)", "(3, 2, 4)", NULL};
    expect_error(&c, CN_ERR_SHAPE, p1);
    set_input(&c, 1, 3, bad2);
    const char *p2[] = {"'op' (channel_scale)", "(3, 2, 1)", "(3, 2, 4)", NULL};
    expect_error(&c, CN_ERR_SHAPE, p2);
}

/* ------------------------------------------------------------------ concat, slice */

Test(ops_structure, concat_three_inputs_of_different_channels)
{
    int d1[3] = {1, 2, 3}, d2[3] = {2, 2, 3}, d3[3] = {3, 2, 3};
    tst_op_case c = tst_op_case_make(CN_OP_CONCAT, 3, d1);
    set_input(&c, 1, 3, d2);
    set_input(&c, 2, 3, d3);
    cn_target t;
    cn_model *m = run_case(&c, &t);
    int od[3] = {6, 2, 3};
    out_shape_is(m, 3, od);
    const cn_real *y = op_value(m);
    int chans[3] = {1, 2, 3}, first[3] = {0, 1, 3};
    for (int j = 0; j < 3; j++) {
        const cn_real *x = cn_model_input_buffer(m, j);
        for (int i = 0; i < c.batch; i++)
            for (int k = 0; k < chans[j] * 6; k++)
                cr_assert_eq(y[(size_t)i * 36 + (size_t)first[j] * 6 + k],
                             x[(size_t)i * chans[j] * 6 + k], "input %d sample %d [%d]", j, i, k);
    }
    cr_assert_eq(cn_model_node_flops(m, cn_model_find(m, "op")), 0.0);
    cn_model_free(m);
    tst_op_target_free(&t);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

Test(ops_structure, concat_along_axis_1)
{
    int d1[3] = {2, 1, 3}, d2[3] = {2, 3, 3};
    tst_op_case c = tst_op_case_make(CN_OP_CONCAT, 3, d1);
    set_input(&c, 1, 3, d2);
    c.a.axis = 1;
    cn_target t;
    cn_model *m = run_case(&c, &t);
    int od[3] = {2, 4, 3};
    out_shape_is(m, 3, od);
    const cn_real *y = op_value(m), *a = cn_model_input_buffer(m, 0),
                  *b = cn_model_input_buffer(m, 1);
    for (int i = 0; i < c.batch; i++)
        for (int ch = 0; ch < 2; ch++)
            for (int h = 0; h < 4; h++)
                for (int w = 0; w < 3; w++) {
                    cn_real want = h < 1 ? a[((i * 2 + ch) * 1 + h) * 3 + w]
                                         : b[((i * 2 + ch) * 3 + (h - 1)) * 3 + w];
                    cr_assert_eq(y[((i * 2 + ch) * 4 + h) * 3 + w], want);
                }
    cn_model_free(m);
    tst_op_target_free(&t);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    /* one input: a copy */
    tst_op_case one = tst_op_case_make(CN_OP_CONCAT, 3, d2);
    cr_assert_lt(tst_op_gradcheck(&one), TST_GRAD_TOL);
}

Test(ops_structure, concat_shape_errors)
{
    int a[3] = {2, 4, 4}, b[3] = {3, 4, 5}, r2[2] = {2, 4};
    tst_op_case c = tst_op_case_make(CN_OP_CONCAT, 3, a);
    set_input(&c, 1, 3, b); /* different spatial size */
    const char *p1[] = {"'op' (concat)", "(3, 4, 5)", "(2, 4, 4)", NULL};
    expect_error(&c, CN_ERR_SHAPE, p1);
    set_input(&c, 1, 2, r2); /* different rank */
    const char *p2[] = {"'op' (concat)", "(2, 4)", "(2, 4, 4)", NULL};
    expect_error(&c, CN_ERR_SHAPE, p2);
    set_input(&c, 1, 3, a);
    c.a.axis = 3;
    const char *p3[] = {"'op' (concat)", "axis 3", "(2, 4, 4)", NULL};
    expect_error(&c, CN_ERR_SHAPE, p3);
}

Test(ops_structure, concat_then_slices_recover_the_parts)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int chans[3] = {1, 2, 3}, in[3], sl[3];
    for (int j = 0; j < 3; j++) in[j] = cn_model_input(m, chans[j], 2, 3, &err);
    int cat = cn_model_node(m, CN_OP_CONCAT, NULL, in, 3, "cat", &err);
    cr_assert(cat >= 0, "%s", err.msg);
    for (int j = 0, start = 0; j < 3; start += chans[j], j++) {
        cn_attrs a = cn_attrs_make(CN_OP_SLICE);
        a.start = start;
        a.count = chans[j];
        sl[j] = cn_model_node(m, CN_OP_SLICE, &a, &cat, 1, NULL, &err);
        cr_assert(sl[j] >= 0, "%s", err.msg);
    }
    cn_compile_opts o = {.batch = 2, .training = 1, .input_grad = 1};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 8, 1);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK, "%s", err.msg);
    for (int j = 0; j < 3; j++)
        tst_fill_normal(&r, cn_model_input_buffer(m, j), (size_t)2 * chans[j] * 6, 1.0);
    cr_assert(cn_model_forward(m, 2, NULL, NULL, CN_TRAIN, &r, NULL, &err) == CN_OK, "%s", err.msg);
    for (int j = 0; j < 3; j++) {
        size_t cnt = (size_t)2 * chans[j] * 6;
        const cn_real *part = cn_model_node_value(m, sl[j]);
        cr_assert_eq(tst_max_abs_diff(part, cn_model_input_buffer(m, j), cnt), 0.0, "part %d", j);
    }
    /* back from the middle slice: its part gets dy, the other inputs zeros */
    cn_real dy[24];
    tst_fill_normal(&r, dy, 24, 1.0);
    cr_assert(cn_model_backward_from(m, sl[1], dy, &err) == CN_OK, "%s", err.msg);
    for (int j = 0; j < 3; j++) {
        size_t cnt = (size_t)2 * chans[j] * 6;
        const cn_real *g = cn_model_node_grad(m, in[j]);
        cr_assert(g);
        for (size_t k = 0; k < cnt; k++)
            cr_assert_eq(g[k], j == 1 ? dy[k] : (cn_real)0, "input %d grad[%zu]", j, k);
    }
    cn_model_free(m);
}

Test(ops_structure, slice_forward_zero_outside_and_gradcheck)
{
    int d[3] = {4, 3, 5};
    for (int axis = 0; axis < 3; axis++) {
        tst_op_case c = tst_op_case_make(CN_OP_SLICE, 3, d);
        c.a.axis = axis;
        c.a.start = 1;
        c.a.count = 2;
        cn_target t;
        cn_model *m = run_case(&c, &t);
        int od[3] = {4, 3, 5};
        od[axis] = 2;
        out_shape_is(m, 3, od);
        const cn_real *x = cn_model_input_buffer(m, 0), *y = op_value(m);
        size_t k = 0;
        for (int i = 0; i < c.batch; i++)
            for (int a = 0; a < od[0]; a++)
                for (int b = 0; b < od[1]; b++)
                    for (int e = 0; e < od[2]; e++) {
                        int p[3] = {a, b, e};
                        p[axis] += 1;
                        cr_assert_eq(y[k++], x[((i * 4 + p[0]) * 3 + p[1]) * 5 + p[2]]);
                    }
        /* dx: dy inside the slice, 0 outside */
        size_t ny = (size_t)c.batch * od[0] * od[1] * od[2];
        cn_real *dy = tst_reals(ny);
        cn_rng r;
        cn_rng_seed(&r, 4, 4);
        tst_fill_normal(&r, dy, ny, 1.0);
        cn_error err;
        cr_assert(cn_model_forward(m, c.batch, NULL, NULL, CN_TRAIN, &r, NULL, &err) == CN_OK);
        cr_assert(cn_model_backward_from(m, cn_model_find(m, "op"), dy, &err) == CN_OK, "%s",
                  err.msg);
        const cn_real *dx = cn_model_node_grad(m, cn_model_input_node(m, 0));
        k = 0;
        for (int i = 0; i < c.batch; i++)
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 3; b++)
                    for (int e = 0; e < 5; e++) {
                        int p[3] = {a, b, e};
                        int in_slice = p[axis] >= 1 && p[axis] < 3;
                        p[axis] -= 1;
                        cn_real want = 0;
                        if (in_slice)
                            want = dy[((i * od[0] + p[0]) * od[1] + p[1]) * od[2] + p[2]];
                        cr_assert_eq(dx[k++], want, "axis %d", axis);
                    }
        free(dy);
        cn_model_free(m);
        tst_op_target_free(&t);
        cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL, "axis %d", axis);
    }
}

Test(ops_structure, slice_errors)
{
    int d[3] = {4, 3, 5};
    tst_op_case c = tst_op_case_make(CN_OP_SLICE, 3, d);
    c.a.start = 3;
    c.a.count = 2; /* 3 + 2 > 4 */
    const char *p1[] = {"'op' (slice)", "start 3", "count 2", "(4, 3, 5)", NULL};
    expect_error(&c, CN_ERR_SHAPE, p1);
    c.a.start = 0;
    c.a.count = 0;
    expect_error(&c, CN_ERR_SHAPE, p1 + 4);
    c.a.count = 1;
    c.a.axis = 3;
    const char *p2[] = {"'op' (slice)", "axis 3", NULL};
    expect_error(&c, CN_ERR_SHAPE, p2);
}

/* ------------------------------------------------------------------ flatten, reshape */

Test(ops_structure, flatten_and_identity_copy)
{
    int d[3] = {2, 3, 2};
    cn_op_kind ops[2] = {CN_OP_FLATTEN, CN_OP_IDENTITY};
    for (int k = 0; k < 2; k++) {
        tst_op_case c = tst_op_case_make(ops[k], 3, d);
        cn_target t;
        cn_model *m = run_case(&c, &t);
        int fd[1] = {12};
        if (k == 0) out_shape_is(m, 1, fd);
        else out_shape_is(m, 3, d);
        size_t cnt = case_count(&c, 0);
        cr_assert_eq(tst_max_abs_diff(op_value(m), cn_model_input_buffer(m, 0), cnt), 0.0);
        cn_model_free(m);
        tst_op_target_free(&t);
        cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL, "%s", cn_op_name(ops[k]));
    }
}

Test(ops_structure, reshape_with_minus_one)
{
    int d[3] = {2, 3, 4};
    tst_op_case c = tst_op_case_make(CN_OP_RESHAPE, 3, d);
    c.a.ndim = 2;
    c.a.shape[0] = 4;
    c.a.shape[1] = -1;
    cn_target t;
    cn_model *m = run_case(&c, &t);
    int od[2] = {4, 6};
    out_shape_is(m, 2, od);
    size_t cnt = case_count(&c, 0);
    cr_assert_eq(tst_max_abs_diff(op_value(m), cn_model_input_buffer(m, 0), cnt), 0.0);
    cn_model_free(m);
    tst_op_target_free(&t);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    /* explicit shape with a new rank */
    c.a.ndim = 4;
    c.a.shape[0] = 3;
    c.a.shape[1] = 2;
    c.a.shape[2] = 2;
    c.a.shape[3] = 2;
    m = run_case(&c, &t);
    int od4[4] = {3, 2, 2, 2};
    out_shape_is(m, 4, od4);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(ops_structure, reshape_errors)
{
    int d[3] = {2, 3, 4};
    tst_op_case c = tst_op_case_make(CN_OP_RESHAPE, 3, d);
    c.a.ndim = 2;
    c.a.shape[0] = 5;
    c.a.shape[1] = 5; /* 25 != 24 */
    const char *p1[] = {"'op' (reshape)", "(2, 3, 4)", "(5, 5)", "24", "25", NULL};
    expect_error(&c, CN_ERR_SHAPE, p1);
    c.a.shape[1] = -1; /* 24 not a multiple of 5 */
    const char *p2[] = {"'op' (reshape)", "(2, 3, 4)", "(5, -1)", NULL};
    expect_error(&c, CN_ERR_SHAPE, p2);
    c.a.shape[0] = -1; /* two -1 */
    const char *p3[] = {"'op' (reshape)", "-1", NULL};
    expect_error(&c, CN_ERR_ARG, p3);
    c.a.shape[0] = 0;
    expect_error(&c, CN_ERR_ARG, p3);
    c.a.ndim = 0;
    const char *p4[] = {"'op' (reshape)", "ndim 0", NULL};
    expect_error(&c, CN_ERR_ARG, p4);
}

/* ------------------------------------------------------------------ pad */

Test(ops_structure, pad_forward_and_gradcheck)
{
    int d[3] = {2, 3, 4};
    tst_op_case c = tst_op_case_make(CN_OP_PAD, 3, d);
    c.a.pads[0] = 1; /* top */
    c.a.pads[1] = 2; /* bottom */
    c.a.pads[2] = 0; /* left */
    c.a.pads[3] = 3; /* right */
    c.a.value = 0.5;
    cn_target t;
    cn_model *m = run_case(&c, &t);
    int od[3] = {2, 6, 7};
    out_shape_is(m, 3, od);
    const cn_real *x = cn_model_input_buffer(m, 0), *y = op_value(m);
    for (int p = 0; p < c.batch * 2; p++)
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 7; j++) {
                int si = i - 1, sj = j;
                int inside = si >= 0 && si < 3 && sj < 4;
                cn_real want = inside ? x[(p * 3 + si) * 4 + sj] : (cn_real)0.5;
                cr_assert_eq(y[(p * 6 + i) * 7 + j], want, "plane %d (%d, %d)", p, i, j);
            }
    cn_model_free(m);
    tst_op_target_free(&t);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    /* rank 2 and rank 4 inputs */
    int d2[2] = {3, 3}, d4[4] = {2, 2, 2, 3};
    tst_op_case c2 = tst_op_case_make(CN_OP_PAD, 2, d2);
    c2.a.pads[0] = c2.a.pads[1] = c2.a.pads[2] = c2.a.pads[3] = 1;
    cr_assert_lt(tst_op_gradcheck(&c2), TST_GRAD_TOL);
    tst_op_case c4 = tst_op_case_make(CN_OP_PAD, 4, d4);
    c4.a.pads[2] = 2;
    c4.a.pads[1] = 1;
    cr_assert_lt(tst_op_gradcheck(&c4), TST_GRAD_TOL);
}

Test(ops_structure, pad_errors)
{
    int d1[1] = {5}, d3[3] = {2, 3, 4};
    tst_op_case c = tst_op_case_make(CN_OP_PAD, 1, d1);
    const char *p1[] = {"'op' (pad)", "(5)", NULL};
    expect_error(&c, CN_ERR_SHAPE, p1);
    c = tst_op_case_make(CN_OP_PAD, 3, d3);
    c.a.pads[2] = -1;
    const char *p2[] = {"'op' (pad)", "-1", NULL};
    expect_error(&c, CN_ERR_ARG, p2);
    c.a.pads[2] = 0;
    c.a.value = INFINITY;
    const char *p3[] = {"'op' (pad)", "value", NULL};
    expect_error(&c, CN_ERR_ARG, p3);
}
