/* test_optim.c: the optimisers (include/convnet/optim.h): parity with torch.optim
 * after 20 steps on a quadratic and on a small network whose gradients come
 * from cn_model_backward (tools/fixtures/optim.py), L-BFGS against
 * torch.optim.LBFGS and the known minimum, and the step's rules: frozen
 * parameters, parameter groups for decay, L1 and elastic net, learning-rate
 * multipliers, clipping by norm and by value, max-norm rows, NaN gradients
 * rejected with nothing changed, configuration errors, checkpoint resume and
 * independence from the thread count. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/optim.h"
#include "support.h"

#define FIXTURE "tests/fixtures/optim/optim.safetensors"
#define STEPS 20
#define QD 10

/* Tolerances. Double: the C and torch updates are the same formulas, differing
 * only in rounding order (~1e-16 per operation), so 20 steps stay far below
 * 1e-12. Float: values and state are stored in single precision (relative
 * rounding 6e-8 per step) while torch runs in double; over 20 steps of size
 * <= 0.1 on parameters of size ~1 that is ~1e-6, and the adaptive methods
 * (Adagrad, RMSProp, Adam) divide by sqrt of a running mean of g^2, which
 * amplifies a relative error of g at most by a small constant: 2e-5 allows for
 * that with margin (measured worst: see the log). */
#ifdef CN_DOUBLE
#define TOL 1e-12
#else
#define TOL 2e-5
#endif

/* cfg: one configuration of the fixture (same order and settings as CONFIGS in
 * tools/fixtures/optim.py). */
typedef struct cfg {
    const char *name;
    cn_optim_kind kind;
    double lr, wd, momentum;
    int amsgrad, centered;
} cfg;

static const cfg CFGS[] = {
    {"sgd", CN_OPTIM_SGD, 0.1, 0, 0, 0, 0},
    {"sgd_wd", CN_OPTIM_SGD, 0.1, 0.05, 0, 0, 0},
    {"momentum", CN_OPTIM_MOMENTUM, 0.05, 0, 0.9, 0, 0},
    {"momentum_wd", CN_OPTIM_MOMENTUM, 0.05, 0.05, 0.9, 0, 0},
    {"nesterov", CN_OPTIM_NESTEROV, 0.05, 0, 0.9, 0, 0},
    {"nesterov_wd", CN_OPTIM_NESTEROV, 0.05, 0.05, 0.9, 0, 0},
    {"adagrad", CN_OPTIM_ADAGRAD, 0.1, 0, 0, 0, 0},
    {"adagrad_wd", CN_OPTIM_ADAGRAD, 0.1, 0.05, 0, 0, 0},
    {"adadelta", CN_OPTIM_ADADELTA, 1.0, 0, 0, 0, 0},
    {"adadelta_wd", CN_OPTIM_ADADELTA, 1.0, 0.05, 0, 0, 0},
    {"rmsprop", CN_OPTIM_RMSPROP, 0.01, 0, 0, 0, 0},
    {"rmsprop_wd", CN_OPTIM_RMSPROP, 0.01, 0.05, 0, 0, 0},
    {"rmsprop_centered_momentum", CN_OPTIM_RMSPROP, 0.01, 0, 0.5, 0, 1},
    {"adam", CN_OPTIM_ADAM, 0.05, 0, 0, 0, 0},
    {"adam_wd", CN_OPTIM_ADAM, 0.05, 0.05, 0, 0, 0},
    {"adam_amsgrad", CN_OPTIM_ADAM, 0.05, 0, 0, 1, 0},
    {"adamw", CN_OPTIM_ADAMW, 0.05, 0.1, 0, 0, 0},
    {"adamw_amsgrad", CN_OPTIM_ADAMW, 0.05, 0.1, 0, 1, 0},
};
#define N_CFGS ((int)(sizeof CFGS / sizeof CFGS[0]))

static cn_optim_config config_of(const cfg *c)
{
    cn_optim_config o = cn_optim_config_default(c->kind);
    o.lr = c->lr;
    o.weight_decay = c->wd;
    o.momentum = c->momentum;
    o.amsgrad = c->amsgrad;
    o.centered = c->centered;
    return o;
}

static cn_safetensors *fixture(void)
{
    cn_error err;
    cn_safetensors *st = NULL;
    cr_assert(cn_safetensors_read(FIXTURE, &st, &err) == CN_OK, "%s", err.msg);
    return st;
}

/* ------------------------------------------------------------------ a hand-made store */

/* store: a cn_params of one WEIGHT parameter "x" of shape (rows, cols) (rows 0:
 * a vector of cols), built by hand as any owner of flat arrays can. */
typedef struct store {
    cn_params ps;
    cn_param p;
} store;

static void store_init(store *s, int rows, int cols)
{
    memset(s, 0, sizeof *s);
    size_t n = (size_t)(rows ? rows : 1) * (size_t)cols;
    s->ps.count = n;
    s->ps.values = tst_zeros(n);
    s->ps.grads = tst_zeros(n);
    s->ps.n = 1;
    s->ps.p = &s->p;
    snprintf(s->p.name, sizeof s->p.name, "x");
    s->p.role = CN_PARAM_WEIGHT;
    s->p.ndim = rows ? 2 : 1;
    s->p.shape[0] = rows ? rows : cols;
    s->p.shape[1] = cols;
    s->p.numel = n;
    s->p.value = s->ps.values;
    s->p.grad = s->ps.grads;
}

static void store_free(store *s)
{
    free(s->ps.values);
    free(s->ps.grads);
    cn_aligned_free(s->ps.state);
}

/* quad_grad: g = A x - b (QD). */
static void quad_grad(const cn_real *A, const cn_real *b, const cn_real *x, cn_real *g)
{
    for (int i = 0; i < QD; i++) {
        double s = 0;
        for (int j = 0; j < QD; j++) s += (double)A[i * QD + j] * (double)x[j];
        g[i] = (cn_real)(s - (double)b[i]);
    }
}

/* ------------------------------------------------------------------ the network */

/* net_build: linear 6->5 "fc1", tanh, linear 5->3 "fc2", mse; compiled for batch
 * 8 in training mode, parameters from the fixture's initial values. */
static cn_model *net_build(const cn_safetensors *st)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    cr_assert(m, "%s", err.msg);
    int x = cn_model_input(m, 6, 0, 0, &err);
    cn_attrs a1 = cn_attrs_make(CN_OP_LINEAR), a2 = cn_attrs_make(CN_OP_LINEAR);
    a1.out = 5;
    a2.out = 3;
    int h = cn_model_node(m, CN_OP_LINEAR, &a1, &x, 1, "fc1", &err);
    h = cn_model_unary(m, CN_OP_TANH, h, &err);
    h = cn_model_node(m, CN_OP_LINEAR, &a2, &h, 1, "fc2", &err);
    h = cn_model_unary(m, CN_OP_MSE, h, &err);
    cr_assert(h >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 8, .training = 1, .input_grad = 0};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK, "%s", err.msg);
    cn_params *ps = cn_model_params(m);
    cr_assert_eq(ps->n, 4);
    for (int k = 0; k < ps->n; k++) {
        char name[160];
        snprintf(name, sizeof name, "net.init.%s", ps->p[k].name);
        cn_real *v = tst_fx_reals(st, name, ps->p[k].numel);
        memcpy(ps->p[k].value, v, sizeof(cn_real) * ps->p[k].numel);
        free(v);
    }
    return m;
}

/* net_grad: forward and backward of the fixture's batch (fresh gradients). */
static void net_grad(cn_model *m, const cn_real *x, const cn_real *y)
{
    cn_error err;
    cn_target t = {.values = y};
    double loss;
    cn_rng r; /* the network draws nothing; training mode wants an rng */
    cn_rng_seed(&r, 2, 1);
    cr_assert(cn_model_forward(m, 8, x, &t, CN_TRAIN, &r, &loss, &err) == CN_OK, "%s",
              err.msg);
    cn_zero_grad(m);
    cr_assert(cn_model_backward(m, &err) == CN_OK, "%s", err.msg);
}

/* ------------------------------------------------------------------ parity */

Test(optim, quadratic_matches_torch)
{
    cn_safetensors *st = fixture();
    cn_real *A = tst_fx_reals(st, "quad.A", QD * QD), *b = tst_fx_reals(st, "quad.b", QD);
    cn_real *x0 = tst_fx_reals(st, "quad.x0", QD);
    double worst = 0;
    for (int c = 0; c < N_CFGS; c++) {
        store s;
        store_init(&s, 0, QD);
        memcpy(s.ps.values, x0, sizeof(cn_real) * QD);
        cn_optim_config oc = config_of(&CFGS[c]);
        cn_error err;
        cn_optimizer *o = cn_optim_new(&oc, &s.ps, &err);
        cr_assert(o, "%s: %s", CFGS[c].name, err.msg);
        for (int k = 0; k < STEPS; k++) {
            quad_grad(A, b, s.ps.values, s.ps.grads);
            cr_assert(cn_optim_step(o, oc.lr, NULL, &err) == CN_OK, "%s", err.msg);
        }
        char name[96];
        snprintf(name, sizeof name, "quad.%s", CFGS[c].name);
        cn_real *want = tst_fx_reals(st, name, QD);
        double d = tst_max_abs_diff(s.ps.values, want, QD);
        cr_log_info("quadratic %-26s max abs diff %.3g", CFGS[c].name, d);
        cr_assert(d < TOL, "%s: %.3g", CFGS[c].name, d);
        if (d > worst) worst = d;
        cr_assert_eq(cn_optim_get_step(o), STEPS);
        free(want);
        cn_optim_free(o);
        store_free(&s);
    }
    cr_log_info("quadratic: worst %.3g over %d configurations", worst, N_CFGS);
    free(A);
    free(b);
    free(x0);
    cn_safetensors_free(st);
}

Test(optim, network_matches_torch)
{
    cn_safetensors *st = fixture();
    cn_real *x = tst_fx_reals(st, "net.x", 8 * 6), *y = tst_fx_reals(st, "net.y", 8 * 3);
    double worst = 0;
    for (int c = 0; c < N_CFGS; c++) {
        cn_model *m = net_build(st);
        cn_params *ps = cn_model_params(m);
        cn_optim_config oc = config_of(&CFGS[c]);
        cn_error err;
        cn_optimizer *o = cn_optim_new(&oc, ps, &err);
        cr_assert(o, "%s: %s", CFGS[c].name, err.msg);
        for (int k = 0; k < STEPS; k++) {
            net_grad(m, x, y);
            cr_assert(cn_optim_step(o, oc.lr, NULL, &err) == CN_OK, "%s", err.msg);
        }
        double dc = 0;
        for (int k = 0; k < ps->n; k++) {
            char name[160];
            snprintf(name, sizeof name, "net.%s.%s", CFGS[c].name, ps->p[k].name);
            cn_real *want = tst_fx_reals(st, name, ps->p[k].numel);
            double d = tst_max_abs_diff(ps->p[k].value, want, ps->p[k].numel);
            cr_assert(d < TOL, "%s %s: %.3g", CFGS[c].name, ps->p[k].name, d);
            if (d > dc) dc = d;
            free(want);
        }
        cr_log_info("network   %-26s max abs diff %.3g", CFGS[c].name, dc);
        if (dc > worst) worst = dc;
        cn_optim_free(o);
        cn_model_free(m);
    }
    cr_log_info("network: worst %.3g over %d configurations", worst, N_CFGS);
    free(x);
    free(y);
    cn_safetensors_free(st);
}

/* ------------------------------------------------------------------ L-BFGS */

typedef struct quad_ctx {
    const cn_real *A, *b;
    int calls;
} quad_ctx;

static cn_status quad_fn(void *ctx, const cn_real *x, cn_real *g, double *f, cn_error *err)
{
    (void)err;
    quad_ctx *q = ctx;
    q->calls++;
    double v = 0;
    for (int i = 0; i < QD; i++) {
        double ax = 0;
        for (int j = 0; j < QD; j++) ax += (double)q->A[i * QD + j] * (double)x[j];
        v += 0.5 * (double)x[i] * ax - (double)q->b[i] * (double)x[i];
        g[i] = (cn_real)(ax - (double)q->b[i]);
    }
    *f = v;
    return CN_OK;
}

Test(optim, lbfgs_matches_torch_and_finds_the_minimum)
{
    cn_safetensors *st = fixture();
    cn_real *A = tst_fx_reals(st, "quad.A", QD * QD), *b = tst_fx_reals(st, "quad.b", QD);
    cn_real *x0 = tst_fx_reals(st, "quad.x0", QD), *xs = tst_fx_reals(st, "quad.xstar", QD);
    const char *tags[3] = {"fixed", "wolfe", "wolfe.iter12"};
    for (int s = 0; s < 3; s++) {
        cn_lbfgs_config c = cn_lbfgs_config_default();
        c.history = 5;
        c.line_search = s ? CN_LBFGS_STRONG_WOLFE : CN_LBFGS_FIXED;
        if (s == 2) c.max_iter = 12;
        cn_real x[QD];
        memcpy(x, x0, sizeof x);
        quad_ctx q = {A, b, 0};
        cn_lbfgs_report rep;
        cn_error err;
        cr_assert(cn_lbfgs_minimize(&c, QD, x, quad_fn, &q, &rep, &err) == CN_OK, "%s",
                  err.msg);
        char name[64];
        snprintf(name, sizeof name, "lbfgs.%s", tags[s]);
        cn_real *want = tst_fx_reals(st, name, QD);
        snprintf(name, sizeof name, "lbfgs.%s.evals", tags[s]);
        int want_evals = (int)tst_fx_scalar(st, name);
        double d = tst_max_abs_diff(x, want, QD), dmin = tst_max_abs_diff(x, xs, QD);
        cr_log_info("lbfgs %s: %d iterations, %d evaluations (torch %d), stop %s, f %.15g; "
                    "max abs diff to torch %.3g, to the minimum %.3g",
                    tags[s], rep.iterations, rep.evaluations, want_evals, rep.stop, rep.f, d,
                    dmin);
        cr_assert_eq(rep.evaluations, q.calls);
#ifdef CN_DOUBLE
        /* the same iterates as torch: same count of evaluations, same point.
         * The strong-Wolfe run's 13th and last iteration interpolates a cubic
         * through values of f ~ -2.95 that differ by ~1e-11, which turns the
         * rounding of f (~4e-16) into ~2e-11 of x; up to iteration 12 the
         * iterates agree to 1e-14 (the iter12 case) */
        cr_assert_eq(rep.evaluations, want_evals);
        cr_assert(d < (s == 1 ? 1e-10 : 1e-12), "%s: %.3g", tags[s], d);
#else
        /* float: x and the gradient carry 6e-8 relative rounding; torch runs in
         * double, so the points agree to a few float ulps of x (~1) */
        cr_assert(d < 1e-5, "%s: %.3g", tags[s], d);
#endif
        /* torch's defaults stop on |f - f_prev| < 1e-9, ~1e-5 from the minimum */
        if (s < 2) cr_assert(dmin < 1e-4, "%s: %.3g from the minimum", tags[s], dmin);
        cr_assert(rep.f < rep.f0);
        free(want);
        if (s == 2) continue;

        /* convergence: no change tolerance, a tight gradient tolerance */
        c.tolerance_change = 0;
        c.max_iter = 100;
        c.max_eval = 200;
        c.tolerance_grad = 1e-10;
        memcpy(x, x0, sizeof x);
        cr_assert(cn_lbfgs_minimize(&c, QD, x, quad_fn, &q, &rep, &err) == CN_OK, "%s",
                  err.msg);
        dmin = tst_max_abs_diff(x, xs, QD);
        cr_log_info("lbfgs %s to convergence: %d iterations, stop %s, max abs diff to the "
                    "minimum %.3g",
                    tags[s], rep.iterations, rep.stop, dmin);
#ifdef CN_DOUBLE
        /* the fixed step uses gradients only and gets within 1e-10; the line
         * search compares values of f, which resolve x only to ~sqrt(eps) ~ 1e-8
         * (f changes by ~x^2 near the minimum) before its step collapses */
        cr_assert(dmin < (s ? 1e-6 : 1e-9), "%s: %.3g from the minimum", tags[s], dmin);
#else
        /* float: the gradient's rounding (~1e-7) over the smallest eigenvalue 0.5 */
        cr_assert(dmin < 2e-6, "%s: %.3g from the minimum", tags[s], dmin);
#endif
    }
    /* errors: a bad setting is named; a NaN from the objective is reported */
    cn_lbfgs_config c = cn_lbfgs_config_default();
    c.history = 0;
    cn_real x[QD];
    memcpy(x, x0, sizeof x);
    quad_ctx q = {A, b, 0};
    cn_error err;
    cr_assert(cn_lbfgs_minimize(&c, QD, x, quad_fn, &q, NULL, &err) == CN_ERR_ARG);
    cr_assert(strstr(err.msg, "history"), "%s", err.msg);
    free(A);
    free(b);
    free(x0);
    free(xs);
    cn_safetensors_free(st);
}

static cn_status nan_fn(void *ctx, const cn_real *x, cn_real *g, double *f, cn_error *err)
{
    (void)ctx;
    (void)err;
    *f = 0;
    for (int i = 0; i < QD; i++) g[i] = x[i];
    g[3] = (cn_real)NAN;
    return CN_OK;
}

Test(optim, lbfgs_rejects_a_nan_gradient)
{
    cn_lbfgs_config c = cn_lbfgs_config_default();
    cn_real x[QD];
    for (int i = 0; i < QD; i++) x[i] = (cn_real)(i + 1);
    cn_error err;
    cr_assert(cn_lbfgs_minimize(&c, QD, x, nan_fn, NULL, NULL, &err) == CN_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "gradient[3]"), "%s", err.msg);
    for (int i = 0; i < QD; i++) cr_assert_eq(x[i], (cn_real)(i + 1));
}

/* ------------------------------------------------------------------ the step's rules */

Test(optim, frozen_parameters_and_their_state_are_untouched)
{
    cn_safetensors *st = fixture();
    cn_real *x = tst_fx_reals(st, "net.x", 8 * 6), *y = tst_fx_reals(st, "net.y", 8 * 3);
    cn_model *m = net_build(st);
    cn_params *ps = cn_model_params(m);
    cn_error err;
    cr_assert_eq(cn_params_freeze(ps, "fc1.", 1, &err), 2);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_ADAM);
    oc.weight_decay = 0.1;
    cn_optimizer *o = cn_optim_new(&oc, ps, &err);
    cr_assert(o, "%s", err.msg);
    cn_param *w1 = cn_params_find(ps, "fc1.weight"), *w2 = cn_params_find(ps, "fc2.weight");
    cn_real *before1 = tst_reals(w1->numel), *before2 = tst_reals(w2->numel);
    memcpy(before1, w1->value, sizeof(cn_real) * w1->numel);
    memcpy(before2, w2->value, sizeof(cn_real) * w2->numel);
    for (int k = 0; k < 3; k++) {
        net_grad(m, x, y);
        cr_assert(cn_optim_step(o, 0.01, NULL, &err) == CN_OK, "%s", err.msg);
    }
    cr_assert(memcmp(before1, w1->value, sizeof(cn_real) * w1->numel) == 0);
    cr_assert(tst_max_abs_diff(before2, w2->value, w2->numel) > 1e-3);
    for (int sl = 0; sl < 2; sl++)
        for (size_t i = 0; i < w1->numel; i++)
            cr_assert_eq(ps->state[sl * ps->count + w1->offset + i], 0);
    free(before1);
    free(before2);
    cn_optim_free(o);
    cn_model_free(m);
    free(x);
    free(y);
    cn_safetensors_free(st);
}

/* decay_case: one SGD step (lr 0.1) with zero gradients and the given decay
 * settings; checks every parameter moved as expected. */
static void decay_case(const cn_safetensors *st, double wd, double l1, int decay_all,
                       cn_optim_kind kind)
{
    cn_model *m = net_build(st);
    cn_params *ps = cn_model_params(m);
    memset(ps->grads, 0, sizeof(cn_real) * ps->count);
    cn_optim_config oc = cn_optim_config_default(kind);
    oc.weight_decay = wd;
    oc.l1 = l1;
    oc.decay_bias_norm = decay_all;
    cn_error err;
    cn_optimizer *o = cn_optim_new(&oc, ps, &err);
    cr_assert(o, "%s", err.msg);
    cn_real *before = tst_reals(ps->count);
    memcpy(before, ps->values, sizeof(cn_real) * ps->count);
    const double lr = 0.1;
    cr_assert(cn_optim_step(o, lr, NULL, &err) == CN_OK, "%s", err.msg);
    for (int k = 0; k < ps->n; k++) {
        cn_param *p = &ps->p[k];
        int decays = p->role == CN_PARAM_WEIGHT || decay_all;
        for (size_t i = 0; i < p->numel; i++) {
            double x0 = (double)before[p->offset + i];
            double sgn = (x0 > 0) - (x0 < 0);
            double want = decays ? x0 - lr * (wd * x0 + l1 * sgn) : x0;
            cr_assert(fabs((double)p->value[i] - want) < 1e-6, "%s[%zu]: %g vs %g", p->name, i,
                      (double)p->value[i], want);
        }
    }
    free(before);
    cn_optim_free(o);
    cn_model_free(m);
}

Test(optim, decay_groups_l1_and_elastic_net)
{
    cn_safetensors *st = fixture();
    decay_case(st, 0.5, 0, 0, CN_OPTIM_SGD);   /* L2 on weights only */
    decay_case(st, 0.5, 0, 1, CN_OPTIM_SGD);   /* L2 on biases too */
    decay_case(st, 0, 0.2, 0, CN_OPTIM_SGD);   /* L1 */
    decay_case(st, 0.5, 0.2, 0, CN_OPTIM_SGD); /* elastic net */
    decay_case(st, 0.5, 0, 0, CN_OPTIM_ADAMW); /* decoupled: x -= lr wd x; m, v stay 0 */
    cn_safetensors_free(st);
}

Test(optim, lr_multiplier_by_prefix)
{
    cn_safetensors *st = fixture();
    cn_real *x = tst_fx_reals(st, "net.x", 8 * 6), *y = tst_fx_reals(st, "net.y", 8 * 3);
    cn_model *m = net_build(st);
    cn_params *ps = cn_model_params(m);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_SGD);
    cn_error err;
    cn_optimizer *o = cn_optim_new(&oc, ps, &err);
    cr_assert_eq(cn_optim_set_lr_mult(o, "fc1.", 0.1, &err), 2);
    cr_assert_eq(cn_optim_set_lr_mult(o, "conv", 0.1, &err), -1);
    cr_assert(strstr(err.msg, "'conv'"), "%s", err.msg);
    cr_assert_eq(cn_optim_set_lr_mult(o, "fc2.", -1, &err), -1);
    net_grad(m, x, y);
    cn_real *before = tst_reals(ps->count);
    memcpy(before, ps->values, sizeof(cn_real) * ps->count);
    cr_assert(cn_optim_step(o, 0.5, NULL, &err) == CN_OK, "%s", err.msg);
    for (int k = 0; k < ps->n; k++) {
        cn_param *p = &ps->p[k];
        double lr = strncmp(p->name, "fc1.", 4) == 0 ? 0.05 : 0.5;
        for (size_t i = 0; i < p->numel; i++) {
            double want = (double)before[p->offset + i] - lr * (double)p->grad[i];
            cr_assert(fabs((double)p->value[i] - want) < 1e-6, "%s[%zu]", p->name, i);
        }
    }
    free(before);
    cn_optim_free(o);
    cn_model_free(m);
    free(x);
    free(y);
    cn_safetensors_free(st);
}

Test(optim, clipping_by_norm_and_by_value)
{
    store s;
    store_init(&s, 0, 2);
    s.ps.grads[0] = 3;
    s.ps.grads[1] = -4;
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_SGD);
    oc.clip_norm = 1;
    cn_error err;
    cn_optimizer *o = cn_optim_new(&oc, &s.ps, &err);
    double norm = 0;
    cr_assert(cn_optim_step(o, 1.0, &norm, &err) == CN_OK, "%s", err.msg);
    cr_assert(fabs(norm - 5) < 1e-6, "pre-clip norm %g", norm);
    double f = 1 / (5 + 1e-6);
    cr_assert(fabs((double)s.ps.values[0] + 3 * f) < 1e-6);
    cr_assert(fabs((double)s.ps.values[1] - 4 * f) < 1e-6);
    cr_assert_eq(s.ps.grads[0], 3); /* gradients are read, not written */
    /* below the threshold: no scaling */
    s.ps.values[0] = s.ps.values[1] = 0;
    s.ps.grads[0] = (cn_real)0.3;
    s.ps.grads[1] = (cn_real)-0.4;
    cr_assert(cn_optim_step(o, 1.0, &norm, &err) == CN_OK);
    cr_assert(fabs((double)s.ps.values[0] + 0.3) < 1e-6);
    cn_optim_free(o);
    /* by value */
    oc.clip_norm = 0;
    oc.clip_value = 0.5;
    o = cn_optim_new(&oc, &s.ps, &err);
    s.ps.values[0] = s.ps.values[1] = 0;
    s.ps.grads[0] = 3;
    s.ps.grads[1] = (cn_real)-0.25;
    cr_assert(cn_optim_step(o, 1.0, &norm, &err) == CN_OK);
    cr_assert(fabs(norm - sqrt(9 + 0.0625)) < 1e-6);
    cr_assert(fabs((double)s.ps.values[0] + 0.5) < 1e-7);
    cr_assert(fabs((double)s.ps.values[1] - 0.25) < 1e-7);
    cn_optim_free(o);
    store_free(&s);
}

Test(optim, max_norm_bounds_every_row)
{
    store s;
    store_init(&s, 4, 6); /* (out 4, in 6) */
    cn_rng r;
    cn_rng_seed(&r, 7, 1);
    tst_fill_normal(&r, s.ps.values, 24, 1.0);
    for (int j = 0; j < 6; j++) s.ps.values[6 + j] = (cn_real)0.01; /* row 1: small */
    cn_real row1[6];
    memcpy(row1, s.ps.values + 6, sizeof row1);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_SGD);
    oc.max_norm = 0.5;
    cn_error err;
    cn_optimizer *o = cn_optim_new(&oc, &s.ps, &err);
    cr_assert(cn_optim_step(o, 0.1, NULL, &err) == CN_OK, "%s", err.msg);
    for (int r2 = 0; r2 < 4; r2++) {
        double ss = 0;
        for (int j = 0; j < 6; j++) ss += (double)s.ps.values[r2 * 6 + j] * s.ps.values[r2 * 6 + j];
        cr_assert(sqrt(ss) <= 0.5 * (1 + 1e-6), "row %d norm %g", r2, sqrt(ss));
        if (r2 != 1) cr_assert(sqrt(ss) > 0.5 * (1 - 1e-6), "row %d was not rescaled", r2);
    }
    cr_assert(memcmp(row1, s.ps.values + 6, sizeof row1) == 0);
    cn_optim_free(o);
    store_free(&s);
}

Test(optim, nan_gradient_rejected_with_nothing_changed)
{
    cn_safetensors *st = fixture();
    cn_real *x = tst_fx_reals(st, "net.x", 8 * 6), *y = tst_fx_reals(st, "net.y", 8 * 3);
    cn_model *m = net_build(st);
    cn_params *ps = cn_model_params(m);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_ADAM);
    oc.amsgrad = 1;
    cn_error err;
    cn_optimizer *o = cn_optim_new(&oc, ps, &err);
    net_grad(m, x, y);
    cr_assert(cn_optim_step(o, 0.01, NULL, &err) == CN_OK);
    net_grad(m, x, y);
    cn_param *w2 = cn_params_find(ps, "fc2.weight");
    w2->grad[4] = (cn_real)NAN;
    size_t nv = ps->count, ns = 3 * ps->count;
    cn_real *v = tst_reals(nv), *s = tst_reals(ns);
    memcpy(v, ps->values, sizeof(cn_real) * nv);
    memcpy(s, ps->state, sizeof(cn_real) * ns);
    double norm = 123;
    cr_assert_eq(cn_optim_step(o, 0.01, &norm, &err), CN_ERR_NUMERIC);
    cr_log_info("%s", err.msg);
    cr_assert(strstr(err.msg, "'fc2.weight'[4]") && strstr(err.msg, "NaN"), "%s", err.msg);
    cr_assert(memcmp(v, ps->values, sizeof(cn_real) * nv) == 0);
    cr_assert(memcmp(s, ps->state, sizeof(cn_real) * ns) == 0);
    cr_assert_eq(cn_optim_get_step(o), 1);
    cr_assert_eq(norm, 123);
    w2->grad[4] = (cn_real)INFINITY;
    cr_assert_eq(cn_optim_step(o, 0.01, NULL, &err), CN_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "Inf"), "%s", err.msg);
    cr_assert(isnan(cn_optim_grad_norm(o)));
    free(v);
    free(s);
    cn_optim_free(o);
    cn_model_free(m);
    free(x);
    free(y);
    cn_safetensors_free(st);
}

/* run_big: 3 Adam (amsgrad, decay, clipping) steps on a 100000-element store
 * from seed 3 with nthreads threads; returns the values (caller frees). */
static cn_real *run_big(int nthreads)
{
    cn_set_num_threads(nthreads);
    store s;
    store_init(&s, 1000, 100);
    cn_rng r;
    cn_rng_seed(&r, 3, 1);
    tst_fill_normal(&r, s.ps.values, s.ps.count, 1.0);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_ADAMW);
    oc.amsgrad = 1;
    oc.clip_norm = 10;
    oc.max_norm = 9;
    cn_error err;
    cn_optimizer *o = cn_optim_new(&oc, &s.ps, &err);
    for (int k = 0; k < 3; k++) {
        tst_fill_normal(&r, s.ps.grads, s.ps.count, 1.0);
        cr_assert(cn_optim_step(o, 0.01, NULL, &err) == CN_OK, "%s", err.msg);
    }
    cn_optim_free(o);
    cn_real *v = tst_reals(s.ps.count);
    memcpy(v, s.ps.values, sizeof(cn_real) * s.ps.count);
    store_free(&s);
    return v;
}

Test(optim, deterministic_and_independent_of_thread_count)
{
    int saved = cn_get_num_threads();
    cn_real *a = run_big(1), *b = run_big(2), *c = run_big(2);
    cn_set_num_threads(saved);
    cr_assert(memcmp(a, b, sizeof(cn_real) * 100000) == 0);
    cr_assert(memcmp(b, c, sizeof(cn_real) * 100000) == 0);
    free(a);
    free(b);
    free(c);
}

Test(optim, resume_from_state_and_step_is_bit_identical)
{
    cn_safetensors *st = fixture();
    cn_real *x = tst_fx_reals(st, "net.x", 8 * 6), *y = tst_fx_reals(st, "net.y", 8 * 3);
    cn_model *m = net_build(st);
    cn_params *ps = cn_model_params(m);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_ADAM);
    cn_error err;
    cn_optimizer *o = cn_optim_new(&oc, ps, &err);
    for (int k = 0; k < 5; k++) {
        net_grad(m, x, y);
        cr_assert(cn_optim_step(o, 0.01, NULL, &err) == CN_OK);
    }
    /* the checkpoint: values, state, step */
    int slots = cn_optim_state_slots(&oc);
    cr_assert_eq(slots, 2);
    cn_real *cv = tst_reals(ps->count), *cs = tst_reals(2 * ps->count);
    memcpy(cv, ps->values, sizeof(cn_real) * ps->count);
    memcpy(cs, ps->state, sizeof(cn_real) * 2 * ps->count);
    int64_t step = cn_optim_get_step(o);
    for (int k = 0; k < 5; k++) {
        net_grad(m, x, y);
        cr_assert(cn_optim_step(o, 0.01, NULL, &err) == CN_OK);
    }
    cn_real *straight = tst_reals(ps->count);
    memcpy(straight, ps->values, sizeof(cn_real) * ps->count);
    cn_optim_free(o);
    /* resume: a new optimiser (which clears the state), then restore */
    o = cn_optim_new(&oc, ps, &err);
    cr_assert_eq(cn_optim_get_step(o), 0);
    memcpy(ps->values, cv, sizeof(cn_real) * ps->count);
    memcpy(ps->state, cs, sizeof(cn_real) * 2 * ps->count);
    cr_assert(cn_optim_set_step(o, step, &err) == CN_OK);
    cr_assert_eq(cn_optim_set_step(o, -1, &err), CN_ERR_ARG);
    for (int k = 0; k < 5; k++) {
        net_grad(m, x, y);
        cr_assert(cn_optim_step(o, 0.01, NULL, &err) == CN_OK);
    }
    cr_assert(memcmp(straight, ps->values, sizeof(cn_real) * ps->count) == 0);
    free(cv);
    free(cs);
    free(straight);
    cn_optim_free(o);
    cn_model_free(m);
    free(x);
    free(y);
    cn_safetensors_free(st);
}

/* ------------------------------------------------------------------ names and config */

Test(optim, names_parse_and_suggest)
{
    for (int k = 0; k < CN_OPTIM_COUNT; k++) {
        cn_optim_kind got;
        cn_error err;
        cr_assert(cn_optim_parse(cn_optim_name((cn_optim_kind)k), &got, &err) == CN_OK);
        cr_assert_eq((int)got, k);
    }
    cr_assert_str_eq(cn_optim_name(CN_OPTIM_COUNT), "?");
    cn_optim_kind got = CN_OPTIM_SGD;
    cn_error err;
    cr_assert_eq(cn_optim_parse("adamm", &got, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "'adam'"), "%s", err.msg);
    cr_assert_eq(cn_optim_parse("rmsprob", &got, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "'rmsprop'"), "%s", err.msg);
    cr_assert_eq(cn_optim_parse(NULL, &got, &err), CN_ERR_ARG);
}

Test(optim, config_defaults_and_errors_name_the_field)
{
    cn_optim_config c = cn_optim_config_default(CN_OPTIM_ADAMW);
    cr_assert_eq(c.lr, 1e-3);
    cr_assert_eq(c.betas[1], 0.999);
    cr_assert_eq(c.weight_decay, 1e-2);
    cr_assert_eq(cn_optim_config_default(CN_OPTIM_ADAGRAD).eps, 1e-10);
    cr_assert_eq(cn_optim_config_default(CN_OPTIM_ADADELTA).rho, 0.9);
    cr_assert_eq(cn_optim_config_default(CN_OPTIM_RMSPROP).alpha, 0.99);
    store s;
    store_init(&s, 0, 3);
    cn_error err;
    struct {
        const char *field;
        cn_optim_config c;
    } bad[8];
    for (int k = 0; k < 8; k++) bad[k].c = cn_optim_config_default(CN_OPTIM_ADAM);
    bad[0].field = "betas[0]";
    bad[0].c.betas[0] = 1.0;
    bad[1].field = "lr";
    bad[1].c.lr = -1;
    bad[2].field = "eps";
    bad[2].c.eps = NAN;
    bad[3].field = "weight_decay";
    bad[3].c.weight_decay = -0.1;
    bad[4].field = "clip_norm";
    bad[4].c.clip_norm = INFINITY;
    bad[5].field = "momentum";
    bad[5].c.kind = CN_OPTIM_SGD;
    bad[5].c.momentum = 0.9;
    bad[6].field = "kind";
    bad[6].c.kind = CN_OPTIM_COUNT;
    bad[7].field = "amsgrad";
    bad[7].c.amsgrad = 2;
    for (int k = 0; k < 8; k++) {
        cn_optimizer *o = cn_optim_new(&bad[k].c, &s.ps, &err);
        cr_assert_null(o, "%s accepted", bad[k].field);
        cr_assert_eq(err.code, CN_ERR_ARG);
        cr_assert(strstr(err.msg, bad[k].field), "%s: %s", bad[k].field, err.msg);
    }
    cr_assert_null(cn_optim_new(&c, NULL, &err));
    cn_optimizer *o = cn_optim_new(&c, &s.ps, &err);
    cr_assert_eq(cn_optim_step(o, NAN, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_optim_step(o, -0.1, NULL, &err), CN_ERR_ARG);
    /* state slots per kind */
    cn_optim_config r = cn_optim_config_default(CN_OPTIM_RMSPROP);
    cr_assert_eq(cn_optim_state_slots(&r), 1);
    r.momentum = 0.5;
    r.centered = 1;
    cr_assert_eq(cn_optim_state_slots(&r), 3);
    cn_optim_config sg = cn_optim_config_default(CN_OPTIM_SGD);
    cr_assert_eq(cn_optim_state_slots(&sg), 0);
    cn_optim_free(o);
    store_free(&s);
}

/* A momentum schedule changes mu between steps: two steps of the notes'
 * momentum with mu 0.5 then 0.9 follow v = mu v - lr g by hand; kinds without
 * momentum refuse. */
Test(optim, set_momentum_between_steps)
{
    store s;
    store_init(&s, 0, 3);
    cn_error err;
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_MOMENTUM);
    cn_optimizer *o = cn_optim_new(&oc, &s.ps, &err);
    cr_assert(o, "%s", err.msg);
    const double g[3] = {1, -2, 0.5}, lr = 0.1, mus[2] = {0.5, 0.9};
    double v[3] = {0, 0, 0}, x[3] = {0, 0, 0};
    for (int step = 0; step < 2; step++) {
        cr_assert_eq(cn_optim_set_momentum(o, mus[step], &err), CN_OK, "%s", err.msg);
        for (int i = 0; i < 3; i++) {
            s.ps.grads[i] = (cn_real)g[i];
            v[i] = mus[step] * v[i] - lr * g[i];
            x[i] += v[i];
        }
        cr_assert_eq(cn_optim_step(o, lr, NULL, &err), CN_OK, "%s", err.msg);
    }
    for (int i = 0; i < 3; i++) cr_assert_float_eq(s.ps.values[i], x[i], 1e-6);
    cr_assert_float_eq(cn_optim_config_of(o)->momentum, 0.9, 0);
    cr_assert_eq(cn_optim_set_momentum(o, 1.0, &err), CN_ERR_ARG);
    cn_optim_free(o);

    oc = cn_optim_config_default(CN_OPTIM_ADAM);
    o = cn_optim_new(&oc, &s.ps, &err);
    cr_assert_eq(cn_optim_set_momentum(o, 0.8, &err), CN_OK, "%s", err.msg);
    cr_assert_float_eq(cn_optim_config_of(o)->betas[0], 0.8, 0);
    cn_optim_free(o);
    const cn_optim_kind none[] = {CN_OPTIM_SGD, CN_OPTIM_ADAGRAD, CN_OPTIM_ADADELTA,
                                  CN_OPTIM_RMSPROP};
    for (int k = 0; k < 4; k++) {
        oc = cn_optim_config_default(none[k]);
        o = cn_optim_new(&oc, &s.ps, &err);
        cr_assert(o, "%s", err.msg);
        cr_assert_eq(cn_optim_set_momentum(o, 0.5, &err), CN_ERR_ARG);
        cr_assert(strstr(err.msg, "no momentum") != NULL, "%s", err.msg);
        cn_optim_free(o);
    }
    store_free(&s);
}
