/* test_ops_adaptive.c: adaptive average pooling (nn.AdaptiveAvgPool2d): the
 * kernels and the op adaptive_avgpool2d against PyTorch fixtures
 * (tests/fixtures/adaptive_pool.safetensors from tools/fixtures/adaptive_pool.py:
 * divisible and non-divisible bins, upsampling, 1x1), hand-computed bins,
 * whole-model gradient checks, the compile-time errors, the summary's FLOPs and
 * receptive field, and the model text key `out` (parse, print, round trip). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/model_text.h"
#include "convnet/summary.h"
#include "support.h"
#include "support_model.h"

#define FIXTURE "tests/fixtures/adaptive_pool.safetensors"

/* Parity tolerance on max |convnet - PyTorch|: each output averages at most 49
 * values ~ N(0, 1) (dx sums at most a few dy / bin terms): double observed
 * ~1e-16 (bound 1e-12); float carries the input's rounding to float and float
 * sums, ~1e-7 (bound 1e-5). */
#ifdef CN_DOUBLE
#define PARITY_TOL 1e-12
#else
#define PARITY_TOL 1e-5
#endif

/* fx: one fixture configuration. */
typedef struct fx {
    int n, c, h, w, oh, ow;
    cn_tensor *x, *y, *dy, *dx;
} fx;

static fx fx_load(const cn_safetensors *st, int i)
{
    fx f;
    char name[64];
    snprintf(name, sizeof name, "a%d.geom", i);
    cn_tensor *g = tst_fx_tensor(st, name, 6);
    f.n = (int)g->data[0];
    f.c = (int)g->data[1];
    f.h = (int)g->data[2];
    f.w = (int)g->data[3];
    f.oh = (int)g->data[4];
    f.ow = (int)g->data[5];
    cn_tensor_free(g);
    size_t nx = (size_t)f.n * f.c * f.h * f.w, ny = (size_t)f.n * f.c * f.oh * f.ow;
    snprintf(name, sizeof name, "a%d.x", i);
    f.x = tst_fx_tensor(st, name, nx);
    snprintf(name, sizeof name, "a%d.y", i);
    f.y = tst_fx_tensor(st, name, ny);
    snprintf(name, sizeof name, "a%d.dy", i);
    f.dy = tst_fx_tensor(st, name, ny);
    snprintf(name, sizeof name, "a%d.dx", i);
    f.dx = tst_fx_tensor(st, name, nx);
    return f;
}

static void fx_free(fx *f)
{
    cn_tensor_free(f->x);
    cn_tensor_free(f->y);
    cn_tensor_free(f->dy);
    cn_tensor_free(f->dx);
}

static int fx_count(const cn_safetensors *st)
{
    const char *nc = cn_safetensors_meta(st, "configs");
    cr_assert(nc, "fixture lacks the configs metadata");
    int count = atoi(nc);
    cr_assert(count >= 1);
    return count;
}

Test(adaptive_pool, kernel_pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    int count = fx_count(st);
    for (int i = 0; i < count; i++) {
        fx f = fx_load(st, i);
        size_t nc = (size_t)f.n * f.c;
        size_t nx = nc * f.h * f.w, ny = nc * f.oh * f.ow;
        cn_real *y = tst_reals(ny), *dx = tst_reals(nx);
        for (size_t k = 0; k < nx; k++) dx[k] = (cn_real)NAN; /* overwritten */
        cn_adaptive_avgpool2d_forward(nc, f.h, f.w, f.oh, f.ow, f.x->data, y);
        cn_adaptive_avgpool2d_backward(nc, f.h, f.w, f.oh, f.ow, f.dy->data, dx);
        double ey = tst_max_abs_diff(y, f.y->data, ny);
        double ex = tst_max_abs_diff(dx, f.dx->data, nx);
        cr_log_info("adaptive_avgpool2d parity %d: %dx%d -> %dx%d: max abs diff y %.3g dx %.3g",
                    i, f.h, f.w, f.oh, f.ow, ey, ex);
        cr_assert(ey <= PARITY_TOL && ex <= PARITY_TOL,
                  "config %d (%dx%d -> %dx%d): y %.3g dx %.3g", i, f.h, f.w, f.oh, f.ow, ey, ex);
        free(y);
        free(dx);
        fx_free(&f);
    }
    cn_safetensors_free(st);
}

/* one_op: input (c, h, w) -> adaptive_avgpool2d (oh, ow) named "ap", compiled
 * for training with input gradients at batch n and initialised. */
static cn_model *one_op(int n, int c, int h, int w, int oh, int ow)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    cr_assert(m);
    int x = cn_model_input(m, c, h, w, &err);
    cn_attrs a = cn_attrs_make(CN_OP_ADAPTIVE_AVGPOOL2D);
    a.size_hw[0] = oh;
    a.size_hw[1] = ow;
    cr_assert(cn_model_node(m, CN_OP_ADAPTIVE_AVGPOOL2D, &a, &x, 1, "ap", &err) >= 0, "%s",
              err.msg);
    cn_compile_opts o = {.batch = n, .training = 1, .input_grad = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 1, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    return m;
}

Test(adaptive_pool, op_pytorch_parity_forward_and_input_gradient)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    int count = fx_count(st);
    for (int i = 0; i < count; i++) {
        fx f = fx_load(st, i);
        cn_model *m = one_op(f.n, f.c, f.h, f.w, f.oh, f.ow);
        int ap = cn_model_find(m, "ap");
        int nd, shp[CN_MAX_DIMS];
        cr_assert_eq(cn_model_node_shape(m, ap, &nd, shp, &err), CN_OK);
        cr_assert(nd == 3 && shp[0] == f.c && shp[1] == f.oh && shp[2] == f.ow);
        cn_rng r;
        cn_rng_seed(&r, 2, 0);
        cr_assert_eq(cn_model_forward(m, f.n, f.x->data, NULL, CN_TRAIN, &r, NULL, &err), CN_OK,
                     "%s", err.msg);
        size_t ny = (size_t)f.n * f.c * f.oh * f.ow, nx = (size_t)f.n * f.c * f.h * f.w;
        double ey = tst_max_abs_diff(cn_model_node_value(m, ap), f.y->data, ny);
        cr_assert_eq(cn_model_backward_from(m, ap, f.dy->data, &err), CN_OK, "%s", err.msg);
        const cn_real *dx = cn_model_node_grad(m, cn_model_input_node(m, 0));
        cr_assert_not_null(dx);
        double ex = tst_max_abs_diff(dx, f.dx->data, nx);
        cr_assert(ey <= PARITY_TOL && ex <= PARITY_TOL, "config %d: y %.3g dx %.3g", i, ey, ex);
        cn_model_free(m);
        fx_free(&f);
    }
    cn_safetensors_free(st);
}

Test(adaptive_pool, bins_by_hand)
{
    /* one plane 1x5 -> 1x3: bins [0,2) [1,4) [3,5) (floor(i 5 / 3), ceil((i + 1) 5 / 3)) */
    cn_real x[5] = {1, 2, 4, 8, 16}, y[3], dy[3] = {6, 3, 2}, dx[5];
    cn_adaptive_avgpool2d_forward(1, 1, 5, 1, 3, x, y);
    cr_assert(fabs(y[0] - 1.5) < 1e-6 && fabs(y[1] - 14.0 / 3) < 1e-5 && fabs(y[2] - 12) < 1e-6,
              "%g %g %g", (double)y[0], (double)y[1], (double)y[2]);
    cn_adaptive_avgpool2d_backward(1, 1, 5, 1, 3, dy, dx);
    const double want[5] = {3, 3 + 1, 1, 1 + 1, 1};
    for (int i = 0; i < 5; i++)
        cr_assert(fabs(dx[i] - want[i]) < 1e-6, "dx[%d] %g want %g", i, (double)dx[i], want[i]);
    /* 2 -> 5 upsampling: bins [0,1) [0,1) [0,2) [1,2) [1,2) */
    cn_real u[2] = {10, 20}, v[5];
    cn_adaptive_avgpool2d_forward(1, 2, 1, 5, 1, u, v);
    cr_assert(v[0] == 10 && v[1] == 10 && v[2] == 15 && v[3] == 20 && v[4] == 20);
}

Test(adaptive_pool, gradchecks)
{
    /* (h, w, oh, ow): non-divisible, mixed, upsampling, 1x1, divisible */
    static const int S[][4] = {{7, 7, 3, 3}, {5, 9, 2, 4}, {2, 2, 7, 7}, {1, 1, 1, 1},
                               {6, 4, 3, 2}, {3, 5, 5, 3}};
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        int dims[3] = {2, S[i][0], S[i][1]};
        tst_op_case c = tst_op_case_make(CN_OP_ADAPTIVE_AVGPOOL2D, 3, dims);
        c.a.size_hw[0] = S[i][2];
        c.a.size_hw[1] = S[i][3];
        c.batch = 2;
        double e = tst_op_gradcheck(&c);
        cr_assert_lt(e, TST_GRAD_TOL, "%dx%d -> %dx%d: %g", S[i][0], S[i][1], S[i][2], S[i][3], e);
        c.mode = CN_EVAL;
        cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    }
}

/* compile_err: compile input (dims) -> adaptive_avgpool2d with a, expecting code. */
static void compile_err(const cn_attrs *a, int ndim, const int *dims, cn_status code,
                        const char *part)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    cn_attrs ia = cn_attrs_make(CN_OP_INPUT);
    ia.ndim = ndim;
    for (int i = 0; i < ndim; i++) ia.shape[i] = dims[i];
    int x = cn_model_node(m, CN_OP_INPUT, &ia, NULL, 0, "x", &err);
    cr_assert(cn_model_node(m, CN_OP_ADAPTIVE_AVGPOOL2D, a, &x, 1, "ap", &err) >= 0);
    cn_compile_opts o = {.batch = 2};
    cr_assert_eq(cn_model_compile(m, &o, &err), code, "%s", err.msg);
    cr_assert(strstr(err.msg, "'ap'") && strstr(err.msg, part), "message: %s", err.msg);
    cn_model_free(m);
}

Test(adaptive_pool, errors_name_the_node)
{
    int d3[3] = {2, 4, 4}, d1[1] = {8};
    cn_attrs a = cn_attrs_make(CN_OP_ADAPTIVE_AVGPOOL2D); /* size_hw (0, 0): unset */
    compile_err(&a, 3, d3, CN_ERR_ARG, "output size (0, 0)");
    a.size_hw[0] = a.size_hw[1] = 2;
    compile_err(&a, 1, d1, CN_ERR_SHAPE, "expected 3 dims");
    a.size_hw[1] = -1;
    compile_err(&a, 3, d3, CN_ERR_ARG, "must be >= 1");
}

Test(adaptive_pool, summary_flops_and_receptive_field)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 3, 8, 8, &err);
    cn_attrs a = cn_attrs_make(CN_OP_ADAPTIVE_AVGPOOL2D);
    a.size_hw[0] = a.size_hw[1] = 4; /* divides 8: k = s = 2 */
    int p = cn_model_node(m, CN_OP_ADAPTIVE_AVGPOOL2D, &a, &x, 1, "even", &err);
    int ci = cn_model_input(m, 2, 7, 7, &err);
    a.size_hw[0] = a.size_hw[1] = 3; /* 7 -> 3: bins of 3 rows at 0, 2, 4 */
    int q = cn_model_node(m, CN_OP_ADAPTIVE_AVGPOOL2D, &a, &ci, 1, "odd", &err);
    cr_assert(p >= 0 && q >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    /* FLOPs: one add per visit: c * (sum of bin heights) * (sum of bin widths) */
    cr_assert_eq(cn_model_node_flops(m, p), 3.0 * 8 * 8);
    cr_assert_eq(cn_model_node_flops(m, q), 2.0 * 9 * 9);
    cn_summary s;
    cr_assert_eq(cn_model_summarize(m, &s, &err), CN_OK, "%s", err.msg);
    const cn_summary_row *rp = &s.rows[p], *rq = &s.rows[q];
    cr_assert(rp->rf_valid);
    for (int ax = 0; ax < 2; ax++) {
        cr_assert_eq(rp->rf_size[ax], 2);
        cr_assert_eq(rp->rf_jump[ax], 2);
        cr_assert_eq(rp->rf_start[ax], 1.0);
    }
    cr_assert_eq(rq->rf_valid, 0, "bins of a non-divisible size are not one grid");
    cn_summary_free(&s);
    cn_model_free(m);
}

Test(adaptive_pool, model_text_key_out)
{
    const char *t = "x = input shape=(3, 7, 9)\n"
                    "a = adaptive_avgpool2d x out=(3, 4)\n"
                    "b = adaptive_avgpool2d x out=7\n"
                    "c = adaptive_avgpool2d x size_hw=(2, 1)\n";
    cn_error err;
    cn_model *m = cn_model_parse(t, strlen(t), "t.cnm", NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    const cn_attrs *a = cn_model_node_attrs(m, cn_model_find(m, "a"));
    cr_assert(a->size_hw[0] == 3 && a->size_hw[1] == 4 && a->out == 0);
    const cn_attrs *b = cn_model_node_attrs(m, cn_model_find(m, "b"));
    cr_assert(b->size_hw[0] == 7 && b->size_hw[1] == 7);
    cr_assert_eq(cn_model_node_attrs(m, cn_model_find(m, "c"))->size_hw[0], 2);
    /* a C-built node that also sets the unused integer out prints it as out.int */
    cn_attrs d = cn_attrs_make(CN_OP_ADAPTIVE_AVGPOOL2D);
    d.size_hw[0] = 5;
    d.size_hw[1] = 6;
    d.out = 9;
    int x = cn_model_find(m, "x");
    cr_assert(cn_model_node(m, CN_OP_ADAPTIVE_AVGPOOL2D, &d, &x, 1, "d", &err) >= 0);
    char *p1 = cn_model_print(m, &err);
    cr_assert_not_null(p1, "%s", err.msg);
    cr_assert(strstr(p1, "a = adaptive_avgpool2d x out=(3, 4)\n"), "%s", p1);
    cr_assert(strstr(p1, "b = adaptive_avgpool2d x out=7\n"), "%s", p1);
    cr_assert(strstr(p1, "d = adaptive_avgpool2d x out.int=9 out=(5, 6)\n"), "%s", p1);
    cn_model *m2 = cn_model_parse(p1, strlen(p1), "printed", NULL, &err);
    cr_assert_not_null(m2, "%s\n%s", err.msg, p1);
    for (int i = 0; i < cn_model_num_nodes(m); i++) {
        const cn_attrs *u = cn_model_node_attrs(m, i), *v = cn_model_node_attrs(m2, i);
        cr_assert(u->size_hw[0] == v->size_hw[0] && u->size_hw[1] == v->size_hw[1] &&
                  u->out == v->out);
    }
    char *p2 = cn_model_print(m2, &err);
    cr_assert_str_eq(p1, p2);
    cn_free(p1);
    cn_free(p2);
    cn_model_free(m2);
    cn_model_free(m);
    /* the output size is required; out and size_hw are one field */
    const char *bad[][2] = {
        {"x = input shape=(3, 4, 4)\na = adaptive_avgpool2d x\n", "needs 'out'"},
        {"x = input shape=(3, 4, 4)\na = adaptive_avgpool2d x out=2 size_hw=2\n",
         "duplicate key 'size_hw'"},
        {"x = input shape=(3, 4, 4)\na = adaptive_avgpool2d x out=(2, 2, 2)\n",
         "more than 2 values"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_model *mb = cn_model_parse(bad[i][0], strlen(bad[i][0]), "t.cnm", NULL, &err);
        cr_assert_null(mb, "parsed: %s", bad[i][0]);
        cr_assert_eq(err.code, CN_ERR_FORMAT, "%s", err.msg);
        cr_assert(strstr(err.msg, "t.cnm:2:") && strstr(err.msg, bad[i][1]), "%s", err.msg);
    }
}
