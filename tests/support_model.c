/* tests/support_model.c: one-op models and their whole-model gradient check, a
 * tiny dataset for trainer tests, and a few training steps of any model (see
 * support_model.h). */
#include "support_model.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

tst_op_case tst_op_case_make(cn_op_kind op, int ndim, const int *dims)
{
    tst_op_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.a = cn_attrs_make(op);
    c.n_in = 1;
    c.ndim[0] = ndim;
    for (int i = 0; i < ndim; i++) c.shape[0][i] = dims[i];
    c.batch = 3;
    c.mode = CN_TRAIN;
    c.classes = 4;
    c.scale = 1.0;
    c.seed = 1;
    return c;
}

/* fill: x (n) = scale * N(0, 1). */
static void fill(cn_rng *r, cn_real *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] = (cn_real)(scale * cn_rng_normal(r));
}

/* build: inputs -> op -> (for non-losses) an MSE loss; returns the model
 * (uncompiled) and the ids of the inputs and the op. */
static cn_model *build(const tst_op_case *c, int *in, int *yid)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    cr_assert(m, "%s", err.msg);
    for (int j = 0; j < c->n_in; j++) {
        cn_attrs a = cn_attrs_make(CN_OP_INPUT);
        a.ndim = c->ndim[j];
        memcpy(a.shape, c->shape[j], sizeof a.shape);
        in[j] = cn_model_node(m, CN_OP_INPUT, &a, NULL, 0, NULL, &err);
        cr_assert(in[j] >= 0, "%s", err.msg);
    }
    int y = cn_model_node(m, c->op, &c->a, in, c->n_in, "op", &err);
    cr_assert(y >= 0, "%s", err.msg);
    int loss = y;
    if (!cn_op_is_loss(c->op)) {
        loss = cn_model_node(m, CN_OP_MSE, NULL, &y, 1, "loss", &err);
        cr_assert(loss >= 0, "%s", err.msg);
    }
    *yid = y;
    return m;
}

cn_model *tst_op_model(const tst_op_case *c, cn_target *t)
{
    cn_error err;
    int in[4], y;
    cn_compile_opts o = {.batch = c->batch, .training = 1, .input_grad = 1};
    cn_model *m = build(c, in, &y);
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, c->seed, 5);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK, "%s", err.msg);
    /* parameters that start at constants (gamma 1, beta 0) are perturbed so the
     * check does not sit on a special point */
    cn_params *ps = cn_model_params(m);
    for (int k = 0; k < ps->n; k++)
        if (ps->p[k].role == CN_PARAM_BIAS || ps->p[k].role == CN_PARAM_NORM)
            for (size_t q = 0; q < ps->p[k].numel; q++)
                ps->p[k].value[q] += (cn_real)(0.3 * cn_rng_normal(&r));
    for (int j = 0; j < c->n_in; j++) {
        int nd;
        int shp[CN_MAX_DIMS];
        cr_assert(cn_model_node_shape(m, in[j], &nd, shp, &err) == CN_OK);
        size_t cnt = (size_t)c->batch;
        for (int i = 0; i < nd; i++) cnt *= (size_t)shp[i];
        fill(&r, cn_model_input_buffer(m, j), cnt, c->scale > 0 ? c->scale : 1.0);
    }
    /* targets: labels and values shaped like the loss's input */
    int lin = cn_op_is_loss(c->op) ? in[0] : y;
    int nd;
    int shp[CN_MAX_DIMS];
    cr_assert(cn_model_node_shape(m, lin, &nd, shp, &err) == CN_OK);
    size_t cnt = (size_t)c->batch;
    for (int i = 0; i < nd; i++) cnt *= (size_t)shp[i];
    int *labels = malloc(sizeof(int) * (size_t)c->batch);
    cn_real *values = malloc(sizeof(cn_real) * cnt);
    cr_assert(labels && values);
    for (int i = 0; i < c->batch; i++)
        labels[i] = (int)cn_rng_below(&r, (uint32_t)(c->classes > 0 ? c->classes : 2));
    fill(&r, values, cnt, 1.0);
    if (c->unit_values)
        for (size_t i = 0; i < cnt; i++) values[i] = (cn_real)cn_rng_uniform(&r);
    if (c->prob_values) {
        size_t row = cnt / (size_t)c->batch;
        for (int i = 0; i < c->batch; i++) {
            double s = 0;
            for (size_t q = 0; q < row; q++) {
                values[i * row + q] = (cn_real)(0.05 + cn_rng_uniform(&r));
                s += values[i * row + q];
            }
            for (size_t q = 0; q < row; q++) values[i * row + q] = (cn_real)(values[i * row + q] / s);
        }
    }
    if (!cn_op_is_loss(c->op)) {
        /* targets = the op's (evaluation) output + 0.1 N(0, 1): the loss is
         * then small (~0.01) next to its gradients, so the rounding of the
         * centred differences (eps * loss / h) stays far below 1e-7 relative */
        cr_assert(cn_model_forward(m, c->batch, NULL, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK,
                  "%s", err.msg);
        const cn_real *yv = cn_model_node_value(m, y);
        for (size_t i = 0; i < cnt; i++) values[i] = (cn_real)(yv[i] + 0.1 * cn_rng_normal(&r));
    }
    t->labels = labels;
    t->values = values;
    return m;
}

void tst_op_target_free(cn_target *t)
{
    free((void *)t->labels);
    free((void *)t->values);
    t->labels = NULL;
    t->values = NULL;
}

double tst_op_gradcheck(const tst_op_case *c)
{
    cn_target t;
    cn_model *m = tst_op_model(c, &t);
    cn_error err;
    cn_rng r;
    cn_rng_seed(&r, c->seed, 11);
    cn_model_gradcheck_opts o = {.per_param = c->per_param, .input = 1,
                                 .h = c->h > 0 ? c->h : TST_GRAD_H,
                                 .seed = c->seed};
    cn_model_gradcheck_report rep;
    cn_status st = cn_model_gradcheck(m, c->batch, NULL, &t, c->mode, &r, &o, &rep, &err);
    cr_assert(st == CN_OK, "%s", err.msg);
    cr_log_info("gradcheck %s: max rel err %.3g at %s (analytic %.6g, numeric %.6g), %zu coords",
                cn_op_name(c->op), rep.max_rel_err, rep.worst, rep.worst_analytic,
                rep.worst_numeric, rep.checked);
    cn_model_free(m);
    tst_op_target_free(&t);
    return rep.max_rel_err;
}

cn_dataset *tst_blobs(int n, uint64_t seed)
{
    cn_error err = {0};
    cn_dataset *ds = cn_dataset_new(n, 2, 4, 4, 3, &err);
    cr_assert_not_null(ds, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, seed, 3);
    cn_real *x = ds->images->data; // (n, 2, 4, 4)
    for (int i = 0; i < n; i++) {
        int k = i % 3;
        ds->labels[i] = k;
        for (int j = 0; j < 32; j++) {
            double mean = j < 16 ? k - 1.0 : 1.0 - k;
            x[i * 32 + j] = (cn_real)(mean + 0.3 * cn_rng_normal(&r));
        }
    }
    return ds;
}

void tst_train_steps(cn_model *m, int batch, size_t per_sample, int classes, uint64_t seed,
                     int steps)
{
    cn_error err = {0};
    cn_compile_opts o = {.batch = batch, .training = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    cn_real *x = tst_reals((size_t)batch * per_sample); // (batch, per_sample)
    int *y = malloc(sizeof(int) * (size_t)batch);
    cr_assert_not_null(y);
    tst_fill_normal(&r, x, (size_t)batch * per_sample, 1.0);
    for (int i = 0; i < batch; i++) y[i] = i % classes;
    cn_target t = {.labels = y};
    for (int step = 0; step < steps; step++)
        cr_assert_eq(cn_model_forward(m, batch, x, &t, CN_TRAIN, &r, NULL, &err), CN_OK, "%s",
                     err.msg);
    free(x);
    free(y);
}
