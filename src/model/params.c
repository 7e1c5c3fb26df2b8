/* params.c: the flat parameter store: lookup by name, optimiser state, the
 * freeze mask, initialisation from each parameter's initialiser, zero_grad. */
#include "model_internal.h"

#include <string.h>

void cn_params_free_store(cn_params *ps)
{
    if (!ps) return;
    cn_aligned_free(ps->values);
    cn_aligned_free(ps->grads);
    cn_aligned_free(ps->buffers);
    cn_aligned_free(ps->state);
    cn_free(ps->p);
    cn_free(ps);
}

cn_param *cn_params_find(cn_params *ps, const char *name)
{
    if (!ps || !name) return NULL;
    for (int k = 0; k < ps->n; k++)
        if (strcmp(ps->p[k].name, name) == 0) return &ps->p[k];
    return NULL;
}

cn_real *cn_params_state(cn_params *ps, int slots, cn_error *err)
{
    if (!ps || slots < 1) {
        cn_error_set(err, CN_ERR_ARG, "parameters: state: need a store and slots >= 1");
        return NULL;
    }
    if (ps->state && ps->state_slots == slots) return ps->state;
    size_t n, bytes;
    if (cn_mul_overflow(ps->count, (size_t)slots, &n) ||
        cn_mul_overflow(n, sizeof(cn_real), &bytes)) {
        cn_error_set(err, CN_ERR_RANGE, "parameters: state of %d x %zu reals overflows", slots,
                     ps->count);
        return NULL;
    }
    cn_real *s = cn_aligned_alloc(bytes ? bytes : 1);
    if (!s) {
        cn_error_set(err, CN_ERR_NOMEM, "parameters: out of memory for %d state slots", slots);
        return NULL;
    }
    memset(s, 0, bytes);
    cn_aligned_free(ps->state);
    ps->state = s;
    ps->state_slots = slots;
    return s;
}

int cn_params_freeze(cn_params *ps, const char *prefix, int frozen, cn_error *err)
{
    if (!ps || !prefix) {
        cn_error_set(err, CN_ERR_ARG, "parameters: freeze: NULL argument");
        return -1;
    }
    size_t lp = strlen(prefix);
    int k = 0;
    for (int i = 0; i < ps->n; i++) {
        if (ps->p[i].role == CN_PARAM_BUFFER) continue;
        if (strncmp(ps->p[i].name, prefix, lp) == 0) {
            ps->p[i].frozen = frozen ? 1 : 0;
            k++;
        }
    }
    if (k == 0) {
        cn_error_set(err, CN_ERR_ARG, "parameters: freeze: no parameter name starts with '%s'",
                     prefix);
        return -1;
    }
    return k;
}

void cn_zero_grad(cn_model *m)
{
    if (!m || !m->params || !m->params->grads) return;
    memset(m->params->grads, 0, sizeof(cn_real) * m->params->count);
}

/* choose_init: what the op declared for parameter p of node nd, overridden by
 * the node's weight_init (weights) or bias_init (biases) when those are set. */
static cn_init choose_init(const cn_node *nd, cn_param_role role, const cn_init *declared)
{
    if (role == CN_PARAM_WEIGHT && nd->a.weight_init.kind != CN_INIT_DEFAULT)
        return nd->a.weight_init;
    if (role == CN_PARAM_BIAS && nd->a.bias_init.kind != CN_INIT_DEFAULT)
        return nd->a.bias_init;
    return *declared;
}

void cn_model_mark_initialised(cn_model *m)
{
    if (m && m->compiled && m->params) m->params_ready = 1;
}

cn_status cn_model_init(cn_model *m, cn_rng *rng, cn_error *err)
{
    if (!m || !m->compiled || !m->params)
        return cn_error_set(err, CN_ERR_ARG, "model: init: compile the model first");
    if (!rng) return cn_error_set(err, CN_ERR_ARG, "model: init: rng is NULL");
    /* the declarations are re-derived from the ops (not stored): run infer */
    cn_params *ps = m->params;
    int n_train = 0;
    for (int k = 0; k < ps->n; k++) n_train += ps->p[k].role != CN_PARAM_BUFFER;
    int slot = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        if (nd->n_params == 0 && nd->n_buffers == 0) {
            slot += nd->n_in;
            continue;
        }
        cn_infer f;
        memset(&f, 0, sizeof f);
        f.node = nd->name;
        f.a = &nd->a;
        f.n_in = nd->n_in;
        f.in = m->shape_ptrs + slot;
        f.batch = m->opts.batch;
        slot += nd->n_in;
        cn_status st = nd->vt->infer(&f, err);
        if (st != CN_OK) return st;
        for (int k = 0; k < f.n_params; k++) {
            cn_param *p = &ps->p[nd->first_param + k];
            cn_init spec = choose_init(nd, f.params[k].role, &f.params[k].init);
            st = cn_init_fill(&spec, p->ndim, p->shape, p->value, rng, err);
            if (st != CN_OK) return cn_error_prefix(err, "model: init '%s': ", p->name);
        }
        for (int k = 0; k < f.n_buffers; k++) {
            cn_param *p = &ps->p[n_train + nd->first_buffer + k];
            st = cn_init_fill(&f.buffers[k].init, p->ndim, p->shape, p->value, rng, err);
            if (st != CN_OK) return cn_error_prefix(err, "model: init '%s': ", p->name);
        }
    }
    m->params_ready = 1;
    m->have_masks = 0;
    return CN_OK;
}
