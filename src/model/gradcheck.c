/* gradcheck.c: the whole-model gradient check of the course: analytic
 * gradients from one backward pass against centred differences of the total
 * loss, parameter by parameter (and for the input), with the random masks of
 * the first forward held fixed. */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct gc_ctx {
    cn_model *m;
    int n;
    const cn_real *x;   /* copied into the input each call, or NULL */
    const cn_target *t;
    cn_mode mode;
    cn_status st;       /* first failure inside a forward */
    cn_error err;
} gc_ctx;

/* loss_fn: the total loss with the current values (masks replayed). */
static double loss_fn(gc_ctx *g)
{
    double loss = NAN;
    cn_error e;
    cn_status st = cn_model_forward(g->m, g->n, g->x, g->t, g->mode, NULL, &loss, &e);
    if (st != CN_OK && g->st == CN_OK) {
        g->st = st;
        g->err = e;
    }
    return st == CN_OK ? loss : NAN;
}

/* check_tensor: centred differences of the loss for coordinates idx[0..nc)
 * of x (perturbed in place, restored bit-exactly) against analytic (indexed
 * like x), folded into rep under label. The relative error of a coordinate is
 * |a - n| / max(|a|, |n|, 1e-3 * the largest |a| among the checked ones): a
 * coordinate whose gradient is a thousandth of its tensor's largest is judged
 * on that tensor's scale, since rounding dominates its centred difference. */
static cn_status check_tensor(gc_ctx *g, cn_real *x, const cn_real *analytic,
                              const size_t *idx, size_t nc, double h, const char *label,
                              size_t base, cn_model_gradcheck_report *rep, cn_error *err)
{
    double scale = 0;
    for (size_t k = 0; k < nc; k++) scale = fmax(scale, fabs((double)analytic[idx[k]]));
    for (size_t k = 0; k < nc; k++) {
        size_t i = idx[k];
        const cn_real old = x[i];
        const cn_real xp = (cn_real)((double)old + h), xm = (cn_real)((double)old - h);
        x[i] = xp;
        double fp = loss_fn(g);
        x[i] = xm;
        double fm = loss_fn(g);
        x[i] = old;
        if (g->st != CN_OK) {
            if (err) *err = g->err;
            return g->st;
        }
        /* the step actually represented in cn_real */
        double num = (fp - fm) / ((double)xp - (double)xm);
        double an = (double)analytic[i];
        double den = fmax(fmax(fabs(an), fabs(num)), 1e-3 * scale);
        double rel = !isfinite(num) || !isfinite(an) ? INFINITY
                     : den == 0.0                    ? 0.0
                                                     : fabs(an - num) / den;
        rep->checked++;
        if (rel > rep->max_rel_err || !rep->worst[0]) {
            rep->max_rel_err = rel;
            rep->worst_analytic = an;
            rep->worst_numeric = num;
            snprintf(rep->worst, sizeof rep->worst, "%.96s[%zu]", label, i - base);
        }
    }
    return CN_OK;
}

cn_status cn_model_gradcheck(cn_model *m, int n, const cn_real *x, const cn_target *t,
                             cn_mode mode, cn_rng *rng, const cn_model_gradcheck_opts *o,
                             cn_model_gradcheck_report *rep, cn_error *err)
{
    if (!m || !o || !rep || !t)
        return cn_error_set(err, CN_ERR_ARG, "gradcheck: NULL argument");
    memset(rep, 0, sizeof *rep);
    if (!m->compiled || !m->opts.training)
        return cn_error_set(err, CN_ERR_ARG, "gradcheck: compile the model with training = 1");
    if (o->input && !m->opts.input_grad)
        return cn_error_set(err, CN_ERR_ARG, "gradcheck: input check needs input_grad = 1");
    if (o->per_param < 0 || !(o->h > 0))
        return cn_error_set(err, CN_ERR_ARG, "gradcheck: per_param >= 0 and h > 0 required");
    cn_params *ps = m->params;
    size_t cnt = ps->count, bcnt = ps->buffer_count;
    cn_real *saved_grads = cn_malloc(sizeof(cn_real) * (cnt ? cnt : 1));
    cn_real *analytic = cn_malloc(sizeof(cn_real) * (cnt ? cnt : 1));
    cn_real *saved_bufs = cn_malloc(sizeof(cn_real) * (bcnt ? bcnt : 1));
    size_t *coords = cn_malloc(sizeof(size_t) * (cnt ? cnt : 1));
    int in0 = cn_model_input_node(m, 0);
    size_t in_count = m->nodes[in0].numel * (size_t)n;
    cn_real *in_an = o->input ? cn_malloc(sizeof(cn_real) * in_count) : NULL;
    cn_status st = CN_OK;
    if (!saved_grads || !analytic || !saved_bufs || !coords || (o->input && !in_an)) {
        st = cn_error_set(err, CN_ERR_NOMEM, "gradcheck: out of memory");
        goto done;
    }
    memcpy(saved_grads, ps->grads, sizeof(cn_real) * cnt);
    memcpy(saved_bufs, ps->buffers, sizeof(cn_real) * bcnt);

    /* analytic gradients: one forward (drawing the masks) and backward */
    memset(ps->grads, 0, sizeof(cn_real) * cnt);
    double loss;
    st = cn_model_forward(m, n, x, t, mode, mode == CN_TRAIN ? rng : NULL, &loss, err);
    if (st == CN_OK && mode == CN_TRAIN && !rng)
        st = cn_error_set(err, CN_ERR_ARG, "gradcheck: training mode needs an rng");
    if (st == CN_OK) st = cn_model_backward(m, err);
    if (st != CN_OK) goto restore;
    memcpy(analytic, ps->grads, sizeof(cn_real) * cnt);
    if (o->input) memcpy(in_an, m->nodes[in0].dy, sizeof(cn_real) * in_count);

    gc_ctx g = {.m = m, .n = n, .x = x, .t = t, .mode = mode, .st = CN_OK};
    cn_rng pick;
    cn_rng_seed(&pick, o->seed, 99);
    for (int k = 0; k < ps->n; k++) {
        cn_param *p = &ps->p[k];
        if (p->role == CN_PARAM_BUFFER || p->numel == 0) continue;
        size_t nc = 0;
        if (o->per_param == 0 || (size_t)o->per_param >= p->numel) {
            for (size_t q = 0; q < p->numel; q++) coords[nc++] = p->offset + q;
        } else {
            for (int q = 0; q < o->per_param; q++)
                coords[nc++] = p->offset + (size_t)(cn_rng_uniform(&pick) * (double)p->numel);
        }
        st = check_tensor(&g, ps->values, analytic, coords, nc, o->h, p->name, p->offset, rep,
                          err);
        if (st != CN_OK) goto restore;
    }
    if (o->input) {
        /* perturb each input buffer itself: forward must not copy x over it */
        if (x) memcpy(m->nodes[in0].y, x, sizeof(cn_real) * in_count);
        g.x = NULL;
        for (int q = 0; q < cn_model_num_inputs(m); q++) {
            int id = cn_model_input_node(m, q);
            size_t cnt_q = m->nodes[id].numel * (size_t)n;
            size_t want = o->per_param == 0 ? cnt_q : (size_t)o->per_param;
            if (want > cnt_q) want = cnt_q;
            size_t *ic = cn_malloc(sizeof(size_t) * (want ? want : 1));
            cn_real *an = cn_malloc(sizeof(cn_real) * (cnt_q ? cnt_q : 1));
            if (!ic || !an) {
                cn_free(ic);
                cn_free(an);
                st = cn_error_set(err, CN_ERR_NOMEM, "gradcheck: out of memory");
                goto restore;
            }
            memcpy(an, q == 0 ? in_an : m->nodes[id].dy, sizeof(cn_real) * cnt_q);
            for (size_t k = 0; k < want; k++)
                ic[k] = want == cnt_q ? k : (size_t)(cn_rng_uniform(&pick) * (double)cnt_q);
            st = check_tensor(&g, m->nodes[id].y, an, ic, want, o->h, m->nodes[id].name, 0, rep,
                              err);
            cn_free(ic);
            cn_free(an);
            if (st != CN_OK) goto restore;
        }
    }
restore:
    memcpy(ps->grads, saved_grads, sizeof(cn_real) * cnt);
    memcpy(ps->buffers, saved_bufs, sizeof(cn_real) * bcnt);
done:
    cn_free(saved_grads);
    cn_free(analytic);
    cn_free(saved_bufs);
    cn_free(coords);
    cn_free(in_an);
    return st;
}
