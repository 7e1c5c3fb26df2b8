/* run.c: running a compiled model: forward node by node in build (topological)
 * order, and backward in reverse order, routing each input gradient either
 * straight into the input node's gradient buffer (its first contribution) or
 * through scratch that is then added (every later one), so a node's gradient is
 * the sum over its consumers while every op only ever overwrites dx. */
#include "model_internal.h"
#include "convnet/activation_kernels.h"

#include <math.h>
#include <string.h>

/* make_ctx: the context of node i for a call with batch n. */
static void make_ctx(cn_model *m, int i, int n, int training, cn_rng *rng,
                     const cn_target *t, cn_op_ctx *c)
{
    cn_node *nd = &m->nodes[i];
    int off = m->in_offset[i];
    memset(c, 0, sizeof *c);
    c->node = nd->name;
    c->a = &nd->a;
    c->n = n;
    c->training = training;
    c->rng = rng;
    c->n_in = nd->n_in;
    c->in = m->shape_ptrs + off;
    c->out = &nd->out;
    c->x = m->x_ptrs + off;
    c->y = nd->y;
    c->param = m->param_ptrs + nd->first_param;
    c->grad = m->grad_ptrs + nd->first_param;
    c->buffer = m->buffer_ptrs + nd->first_buffer;
    c->saved = nd->saved;
    c->in_saved = m->saved_ptrs + off;
    c->ws = m->ws;
    c->target = t;
    c->dx = m->dx_ptrs + off;
}

/* check_targets: CN_ERR_ARG when loss node nd needs labels or values t lacks. */
static cn_status check_targets(const cn_node *nd, const cn_target *t, cn_error *err)
{
    int labels = 0, values = 0;
    switch (nd->op) {
    case CN_OP_CROSS_ENTROPY: case CN_OP_HINGE: case CN_OP_LSOFTMAX: case CN_OP_CENTER:
    case CN_OP_RAMP: case CN_OP_CONTRASTIVE:
        labels = 1;
        break;
    case CN_OP_BCE_LOGITS: case CN_OP_MSE: case CN_OP_L1: case CN_OP_SMOOTH_L1:
    case CN_OP_HUBER: case CN_OP_KL_DIV:
        values = 1;
        break;
    default: break;
    }
    if (labels && !t->labels)
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): needs target labels", nd->name,
                            nd->vt->name);
    if (values && !t->values)
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): needs target values", nd->name,
                            nd->vt->name);
    return CN_OK;
}

cn_status cn_model_forward(cn_model *m, int n, const cn_real *x, const cn_target *t,
                           cn_mode mode, cn_rng *rng, double *loss, cn_error *err)
{
    if (loss) *loss = 0.0;
    if (!m || !m->compiled) return cn_error_set(err, CN_ERR_ARG, "model: forward: not compiled");
    if (n < 1 || n > m->opts.batch)
        return cn_error_set(err, CN_ERR_ARG, "model: forward: batch %d outside 1..%d (compiled)",
                            n, m->opts.batch);
    if (mode != CN_TRAIN && mode != CN_EVAL)
        return cn_error_set(err, CN_ERR_ARG, "model: forward: invalid mode %d", (int)mode);
    int training = mode == CN_TRAIN;
    if (training && !m->opts.training)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: forward: training mode needs a model compiled with "
                            "training = 1");
    if (!m->params_ready)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: forward: parameters were never initialised or loaded "
                            "(call cn_model_init)");
    if (training && !rng && !m->have_masks)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: forward: rng NULL (replay) before any training forward "
                            "drew its masks");
    if (training && !rng && m->last_n != n)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: forward: rng NULL replays the masks of batch %d, not %d",
                            m->last_n, n);
    if (x) {
        int in0 = cn_model_input_node(m, 0);
        memcpy(m->nodes[in0].y, x, sizeof(cn_real) * m->nodes[in0].numel * (size_t)n);
    }
    double total = 0.0;
    m->last_had_targets = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        if (nd->op == CN_OP_INPUT) continue;
        if (nd->is_loss) {
            if (!t) continue;
            cn_status st = check_targets(nd, t, err);
            if (st != CN_OK) return st;
        }
        if (nd->alias_of >= 0) continue; /* a ReLU fused into its producer */
        cn_op_ctx c;
        make_ctx(m, i, n, training, rng, t, &c);
        c.fuse_relu = nd->fuse_relu;
        double t0 = i < m->n_prof ? cn_time_now() : 0;
        cn_status st = nd->vt->forward(&c, err);
        if (st == CN_OK && nd->fuse_relu && nd->op != CN_OP_BATCHNORM) {
            cn_act_params ap = cn_act_params_default(); /* in place, after the bias */
            cn_act_forward(CN_ACT_RELU, &ap, 1, 1, nd->numel * (size_t)n, nd->y, nd->y, NULL,
                           NULL, 0, NULL);
        }
        if (i < m->n_prof) {
            m->prof[i].fwd_s += cn_time_now() - t0;
            m->prof[i].fwd_calls++;
        }
        if (st != CN_OK) return st;
        if (nd->is_loss) total += nd->a.weight * (double)nd->y[0];
    }
    m->last_n = n;
    m->last_mode = mode;
    if (t) {
        m->last_had_targets = 1;
        m->last_target = *t;
    }
    if (training && rng) m->have_masks = 1;
    if (loss) *loss = t ? total : 0.0;
    return CN_OK;
}

/* Below this many values the gradient sum stays on one thread. */
#define RUN_PAR_MIN 131072

/* add_into: d[0..cnt) += s[0..cnt) (a second consumer's gradient), in blocks of
 * 16 that vectorise (`omp simd`: the parallel loop's outlined body loses the
 * pointers' restrict); threads take contiguous ranges (each element is one add,
 * so the result does not depend on the thread count). */
static void add_into(cn_real *restrict d, const cn_real *restrict s, size_t cnt)
{
    const long nblk = (long)(cnt / 16);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (cnt >= RUN_PAR_MIN)
#endif
    for (long b = 0; b < nblk; b++) {
        cn_real *db = d + (size_t)b * 16;
        const cn_real *sb = s + (size_t)b * 16;
#ifdef _OPENMP
#pragma omp simd
#endif
        for (int k = 0; k < 16; k++) db[k] += sb[k];
    }
    for (size_t k = (size_t)nblk * 16; k < cnt; k++) d[k] += s[k];
}

/* backward_pass: reverse sweep from the seeded nodes (grad_written set on them).
 * from_losses: the loss nodes start the sweep with their weights. */
static void backward_pass(cn_model *m, int from_losses)
{
    int n = m->last_n;
    int training = m->last_mode == CN_TRAIN;
    const cn_target *t = m->last_had_targets ? &m->last_target : NULL;
    for (int i = m->n_nodes - 1; i >= 0; i--) {
        cn_node *nd = &m->nodes[i];
        if (nd->op == CN_OP_INPUT) continue;
        if (nd->is_loss) {
            if (!from_losses || !t || !nd->needs_grad) continue;
        } else if (!nd->grad_written || !nd->needs_grad) {
            continue;
        }
        double t0 = i < m->n_prof ? cn_time_now() : 0;
        cn_op_ctx c;
        make_ctx(m, i, n, training, NULL, t, &c);
        c.dy = nd->is_loss ? NULL : nd->dy;
        c.dloss = nd->a.weight;
        /* route input gradients: direct on first write, scratch afterwards */
        cn_real *const *dxp = c.dx;
        cn_real **dx = (cn_real **)dxp;
        size_t used = 0;
        for (int j = 0; j < nd->n_in; j++) {
            cn_node *in = &m->nodes[nd->in[j]];
            if (!in->needs_grad || !in->dy) {
                dx[j] = NULL;
            } else if (!in->grad_written) {
                dx[j] = in->dy;
                in->grad_written = 1;
            } else {
                dx[j] = m->sum_scratch + used;
                used += in->numel * (size_t)n;
            }
        }
        nd->vt->backward(&c);
        used = 0;
        for (int j = 0; j < nd->n_in; j++) {
            cn_node *in = &m->nodes[nd->in[j]];
            if (dx[j] && dx[j] != in->dy) {
                size_t cnt = in->numel * (size_t)n;
                add_into(in->dy, dx[j], cnt);
                used += cnt;
            }
        }
        if (i < m->n_prof) {
            m->prof[i].bwd_s += cn_time_now() - t0;
            m->prof[i].bwd_calls++;
        }
    }
}

cn_status cn_model_profile_start(cn_model *m, cn_error *err)
{
    if (!m) return cn_error_set(err, CN_ERR_ARG, "model: profile: NULL model");
    cn_free(m->prof);
    m->n_prof = 0;
    m->prof = cn_calloc((size_t)(m->n_nodes > 0 ? m->n_nodes : 1), sizeof *m->prof);
    if (!m->prof) return cn_error_set(err, CN_ERR_NOMEM, "model: profile: out of memory");
    m->n_prof = m->n_nodes;
    return CN_OK;
}

void cn_model_profile_stop(cn_model *m)
{
    if (!m) return;
    cn_free(m->prof);
    m->prof = NULL;
    m->n_prof = 0;
}

cn_status cn_model_profile_get(const cn_model *m, cn_node_profile *out, int n, cn_error *err)
{
    if (!m || !out) return cn_error_set(err, CN_ERR_ARG, "model: profile: NULL argument");
    if (!m->prof) return cn_error_set(err, CN_ERR_ARG, "model: profile: not started");
    if (n < 0 || n > m->n_nodes)
        return cn_error_set(err, CN_ERR_ARG, "model: profile: %d nodes asked, the model has %d",
                            n, m->n_nodes);
    for (int i = 0; i < n; i++) {
        if (i < m->n_prof)
            out[i] = m->prof[i];
        else
            memset(&out[i], 0, sizeof out[i]);
    }
    return CN_OK;
}

/* begin_backward: common checks; clears the gradient bookkeeping. */
static cn_status begin_backward(cn_model *m, cn_error *err)
{
    if (!m || !m->compiled) return cn_error_set(err, CN_ERR_ARG, "model: backward: not compiled");
    if (!m->opts.training)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: backward: the model was compiled without training");
    if (m->last_n < 1)
        return cn_error_set(err, CN_ERR_ARG, "model: backward: no forward pass to go back through");
    for (int i = 0; i < m->n_nodes; i++) m->nodes[i].grad_written = 0;
    return CN_OK;
}

/* zero_unwritten: nodes that need a gradient but received none get zeros, so
 * cn_model_node_grad and the input gradient never show stale values. */
static void zero_unwritten(cn_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        if (nd->dy && !nd->grad_written && !nd->dy_shared)
            memset(nd->dy, 0, sizeof(cn_real) * nd->numel * (size_t)m->last_n);
    }
}

cn_status cn_model_backward(cn_model *m, cn_error *err)
{
    cn_status st = begin_backward(m, err);
    if (st != CN_OK) return st;
    if (!m->last_had_targets)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: backward: the last forward had no targets (no loss)");
    backward_pass(m, 1);
    zero_unwritten(m);
    return CN_OK;
}

cn_status cn_model_backward_from(cn_model *m, int node, const cn_real *dy, cn_error *err)
{
    cn_status st = begin_backward(m, err);
    if (st != CN_OK) return st;
    if (node < 0 || node >= m->n_nodes)
        return cn_error_set(err, CN_ERR_ARG, "model: backward_from: no node id %d", node);
    cn_node *nd = &m->nodes[node];
    if (m->opts.reuse_memory)
        return cn_error_set(err, CN_ERR_ARG, "model: backward_from: the model was compiled "
                            "with reuse_memory (gradients share buffers)");
    if (nd->is_loss || !dy)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: backward_from: node '%s' is a loss or dy is NULL",
                            nd->name);
    if (!nd->dy)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: backward_from: nothing upstream of '%s' needs a gradient",
                            nd->name);
    memcpy(nd->dy, dy, sizeof(cn_real) * nd->numel * (size_t)m->last_n);
    nd->grad_written = 1;
    backward_pass(m, 0);
    zero_unwritten(m);
    return CN_OK;
}
