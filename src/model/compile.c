/* compile.c: cn_model_compile: shape inference node by node through each op's
 * infer, the parameter layout of the flat store (values kept across compiles by
 * name and shape), which nodes need gradients, and the exact memory plan: one
 * arena holding every output, output gradient, saved area and the scratch. */
#include "model_internal.h"

#include <string.h>

#define ALIGN_UP(x) (((x) + (size_t)CN_ALIGN - 1) / (size_t)CN_ALIGN * (size_t)CN_ALIGN)

/* add_size: *acc += b (aligned to 64 bytes) with overflow detection. */
static int add_size(size_t *acc, size_t b)
{
    if (b > SIZE_MAX - CN_ALIGN) return 1;
    b = ALIGN_UP(b);
    if (*acc > SIZE_MAX - b) return 1;
    *acc += b;
    return 0;
}

/* reals_bytes: n reals in bytes, SIZE_MAX on overflow. */
static size_t reals_bytes(size_t n)
{
    size_t b;
    return cn_mul_overflow(n, sizeof(cn_real), &b) ? SIZE_MAX : b;
}

/* build_store: the parameter store for the inferred declarations decl (per node
 * in m), copying values of the old store's parameters with the same name and
 * shape. *all_kept is 1 when every new parameter found its old value. */
static cn_status build_store(cn_model *m, const cn_infer *inf, size_t max_params,
                             cn_params **out, int *all_kept, cn_error *err)
{
    int n_train = 0, n_buf = 0;
    size_t count = 0, bcount = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        n_train += inf[i].n_params;
        n_buf += inf[i].n_buffers;
    }
    cn_params *ps = cn_calloc(1, sizeof *ps);
    if (!ps) return cn_error_set(err, CN_ERR_NOMEM, "model: out of memory (parameters)");
    ps->n = n_train + n_buf;
    ps->p = cn_calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *ps->p);
    if (!ps->p) {
        cn_free(ps);
        return cn_error_set(err, CN_ERR_NOMEM, "model: out of memory (parameters)");
    }
    int ti = 0, bi = n_train;
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        nd->first_param = ti;
        nd->n_params = inf[i].n_params;
        nd->first_buffer = bi - n_train;
        nd->n_buffers = inf[i].n_buffers;
        for (int k = 0; k < inf[i].n_params + inf[i].n_buffers; k++) {
            int is_buf = k >= inf[i].n_params;
            const cn_param_decl *d =
                is_buf ? &inf[i].buffers[k - inf[i].n_params] : &inf[i].params[k];
            cn_param *p = &ps->p[is_buf ? bi++ : ti++];
            snprintf(p->name, sizeof p->name, "%s.%s", nd->name, d->what);
            p->node = i;
            p->role = is_buf ? CN_PARAM_BUFFER : d->role;
            p->ndim = d->ndim;
            size_t ne = 1;
            for (int q = 0; q < d->ndim; q++) {
                p->shape[q] = d->shape[q];
                ne = cn_mul_size(ne, (size_t)d->shape[q]);
            }
            p->numel = ne;
            size_t *acc = is_buf ? &bcount : &count;
            if (ne == SIZE_MAX || *acc > SIZE_MAX / sizeof(cn_real) - ne) {
                cn_free(ps->p);
                cn_free(ps);
                return cn_error_set(err, CN_ERR_RANGE, "node '%s': parameter '%s' too large",
                                    nd->name, p->name);
            }
            p->offset = *acc;
            *acc += ne;
        }
    }
    if (max_params > 0 && (count > max_params || bcount > max_params - count)) {
        cn_free(ps->p);
        cn_free(ps);
        return cn_error_set(err, CN_ERR_RANGE, "model: compile: %zu parameters and %zu buffer "
                            "values, more than the limit %zu", count, bcount, max_params);
    }
    ps->count = count;
    ps->buffer_count = bcount;
    ps->values = cn_aligned_alloc(reals_bytes(count ? count : 1));
    ps->grads = cn_aligned_alloc(reals_bytes(count ? count : 1));
    ps->buffers = cn_aligned_alloc(reals_bytes(bcount ? bcount : 1));
    if (!ps->values || !ps->grads || !ps->buffers) {
        cn_params_free_store(ps);
        return cn_error_set(err, CN_ERR_NOMEM, "model: out of memory (%zu parameters)", count);
    }
    memset(ps->values, 0, reals_bytes(count));
    memset(ps->grads, 0, reals_bytes(count));
    memset(ps->buffers, 0, reals_bytes(bcount));
    *all_kept = 1;
    for (int k = 0; k < ps->n; k++) {
        cn_param *p = &ps->p[k];
        int is_buf = p->role == CN_PARAM_BUFFER;
        p->value = (is_buf ? ps->buffers : ps->values) + p->offset;
        p->grad = is_buf ? NULL : ps->grads + p->offset;
        cn_param *old = m->params ? cn_params_find(m->params, p->name) : NULL;
        if (old && old->ndim == p->ndim && old->role == p->role &&
            memcmp(old->shape, p->shape, sizeof p->shape) == 0) {
            memcpy(p->value, old->value, reals_bytes(p->numel));
            p->frozen = old->frozen;
        } else {
            *all_kept = 0;
        }
    }
    *out = ps;
    return CN_OK;
}

/* free_plan: release the previous compile's arena and pointer tables. */
static void free_plan(cn_model *m)
{
    cn_aligned_free(m->arena);
    cn_free(m->shape_ptrs);
    cn_free(m->x_ptrs);
    cn_free(m->dx_ptrs);
    cn_free(m->saved_ptrs);
    cn_free(m->param_ptrs);
    cn_free(m->grad_ptrs);
    cn_free(m->buffer_ptrs);
    cn_free(m->in_offset);
    m->arena = NULL;
    m->shape_ptrs = NULL;
    m->x_ptrs = NULL;
    m->dx_ptrs = NULL;
    m->saved_ptrs = NULL;
    m->param_ptrs = NULL;
    m->grad_ptrs = NULL;
    m->buffer_ptrs = NULL;
    m->in_offset = NULL;
    m->compiled = 0;
}

/* infer_all: run every node's infer in build order. inf (n_nodes) answers. */
static cn_status infer_all(cn_model *m, int batch, cn_infer *inf, const cn_shape **shp,
                           cn_error *err)
{
    int slot = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        for (int j = 0; j < nd->n_in; j++) shp[slot + j] = &m->nodes[nd->in[j]].out;
        cn_infer *f = &inf[i];
        memset(f, 0, sizeof *f);
        f->node = nd->name;
        f->a = &nd->a;
        f->n_in = nd->n_in;
        f->in = shp + slot;
        f->batch = batch;
        slot += nd->n_in;
        cn_status st = nd->vt->infer(f, err);
        if (st != CN_OK) return st;
        nd->out = f->out;
        nd->numel = cn_shape_numel(&f->out);
        size_t total;
        if (nd->numel == SIZE_MAX || nd->numel > (size_t)INT32_MAX ||
            cn_mul_overflow(nd->numel, (size_t)batch, &total) ||
            total > SIZE_MAX / sizeof(cn_real) / 4) {
            char b[96];
            return cn_error_set(err, CN_ERR_RANGE,
                                "node '%s' (%s): output %s times batch %d is too large",
                                nd->name, nd->vt->name, cn_shape_str(&f->out, b, sizeof b),
                                batch);
        }
        nd->saved_bytes = f->saved_bytes;
        nd->ws_reals = f->ws_reals;
        nd->flops = f->flops;
    }
    return CN_OK;
}

cn_status cn_model_compile(cn_model *m, const cn_compile_opts *o, cn_error *err)
{
    if (!m || !o) return cn_error_set(err, CN_ERR_ARG, "model: compile: NULL argument");
    if (o->batch < 1)
        return cn_error_set(err, CN_ERR_ARG, "model: compile: batch %d must be >= 1", o->batch);
    if (o->input_grad && !o->training)
        return cn_error_set(err, CN_ERR_ARG,
                            "model: compile: input_grad needs training (backward)");
    if (cn_model_num_inputs(m) == 0)
        return cn_error_set(err, CN_ERR_ARG, "model: compile: the model has no input node");
    free_plan(m);

    int total_in = 0;
    for (int i = 0; i < m->n_nodes; i++) total_in += m->nodes[i].n_in;
    size_t nslots = (size_t)(total_in > 0 ? total_in : 1);
    cn_infer *inf = cn_calloc((size_t)m->n_nodes, sizeof *inf);
    m->shape_ptrs = cn_calloc(nslots, sizeof *m->shape_ptrs);
    m->x_ptrs = cn_calloc(nslots, sizeof *m->x_ptrs);
    m->dx_ptrs = cn_calloc(nslots, sizeof *m->dx_ptrs);
    m->saved_ptrs = cn_calloc(nslots, sizeof *m->saved_ptrs);
    m->in_offset = cn_calloc((size_t)m->n_nodes, sizeof *m->in_offset);
    if (!inf || !m->shape_ptrs || !m->x_ptrs || !m->dx_ptrs || !m->saved_ptrs ||
        !m->in_offset) {
        cn_free(inf);
        free_plan(m);
        return cn_error_set(err, CN_ERR_NOMEM, "model: compile: out of memory");
    }
    for (int i = 0, s = 0; i < m->n_nodes; i++) {
        m->in_offset[i] = s;
        s += m->nodes[i].n_in;
    }
    cn_status st = infer_all(m, o->batch, inf, m->shape_ptrs, err);
    if (st != CN_OK) {
        cn_free(inf);
        free_plan(m);
        return st;
    }

    /* parameters */
    cn_params *ps = NULL;
    int all_kept = 0;
    st = build_store(m, inf, o->max_params, &ps, &all_kept, err);
    cn_free(inf);
    if (st != CN_OK) {
        free_plan(m);
        return st;
    }
    int had_params = m->params != NULL;
    int was_ready = m->params_ready;
    if (ps->n == 0) all_kept = 1;
    cn_params_free_store(m->params);
    m->params = ps;
    m->params_ready = (had_params && was_ready && all_kept) || ps->n == 0;
    size_t np = (size_t)(ps->n > 0 ? ps->n : 1);
    m->param_ptrs = cn_calloc(np, sizeof *m->param_ptrs);
    m->grad_ptrs = cn_calloc(np, sizeof *m->grad_ptrs);
    m->buffer_ptrs = cn_calloc(np, sizeof *m->buffer_ptrs);
    if (!m->param_ptrs || !m->grad_ptrs || !m->buffer_ptrs) {
        free_plan(m);
        return cn_error_set(err, CN_ERR_NOMEM, "model: compile: out of memory");
    }
    int n_train = 0;
    for (int k = 0; k < ps->n; k++) n_train += ps->p[k].role != CN_PARAM_BUFFER;
    for (int k = 0; k < n_train; k++) {
        m->param_ptrs[k] = ps->p[k].value;
        m->grad_ptrs[k] = o->training ? ps->p[k].grad : NULL;
    }
    for (int k = n_train; k < ps->n; k++) m->buffer_ptrs[k - n_train] = ps->p[k].value;

    /* which outputs need a gradient */
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        int ng = 0;
        if (o->training) {
            ng = nd->n_params > 0 || (nd->op == CN_OP_INPUT && o->input_grad);
            for (int j = 0; j < nd->n_in && !ng; j++) ng = m->nodes[nd->in[j]].needs_grad;
        }
        nd->needs_grad = ng;
    }

    /* the memory plan: with reuse_memory, outputs (and in training the output
     * gradients) share regions by liveness */
    cn_model_memory mem;
    memset(&mem, 0, sizeof mem);
    size_t total = 0, ws = 0, sum = 0, yshared = 0, gshared = 0;
    size_t *offy = NULL, *offg = NULL; // (n_nodes) region offsets, SIZE_MAX: own buffer
    int bad = 0;
    cn_model_fuse_plan(m, o->reuse_memory && !o->training);
    if (o->reuse_memory) {
        size_t nn = (size_t)(m->n_nodes > 0 ? m->n_nodes : 1);
        offy = cn_malloc(sizeof *offy * nn);
        offg = o->training ? cn_malloc(sizeof *offg * nn) : NULL;
        if (!offy || (o->training && !offg) ||
            cn_model_share_plan(m, o->batch, o->training, offy, &yshared) != 0 ||
            (o->training && cn_model_share_grad_plan(m, o->batch, offg, &gshared) != 0)) {
            cn_free(offy);
            cn_free(offg);
            free_plan(m);
            return cn_error_set(err, CN_ERR_NOMEM, "model: compile: out of memory");
        }
        bad |= add_size(&mem.activations, yshared);
        bad |= add_size(&mem.gradients, gshared);
    }
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        size_t ybytes = reals_bytes(nd->is_loss ? 1 : nd->numel * (size_t)o->batch);
        nd->y_shared = offy && offy[i] != SIZE_MAX;
        nd->dy_shared = offg && offg[i] != SIZE_MAX;
        if (!nd->y_shared) bad |= add_size(&mem.activations, ybytes);
        if (nd->needs_grad && !nd->is_loss && !nd->dy_shared)
            bad |= add_size(&mem.gradients, ybytes);
        bad |= add_size(&mem.saved, nd->saved_bytes);
        if (nd->ws_reals > ws) ws = nd->ws_reals;
        size_t s = 0;
        for (int j = 0; j < nd->n_in && o->training; j++)
            if (m->nodes[nd->in[j]].needs_grad) s += m->nodes[nd->in[j]].numel * (size_t)o->batch;
        if (s > sum) sum = s;
    }
    bad |= add_size(&mem.workspace, reals_bytes(ws));
    bad |= add_size(&mem.workspace, reals_bytes(sum));
    bad |= add_size(&total, mem.activations);
    bad |= add_size(&total, mem.gradients);
    bad |= add_size(&total, mem.saved);
    bad |= add_size(&total, mem.workspace);
    if (bad) {
        cn_free(offy);
        cn_free(offg);
        free_plan(m);
        return cn_error_set(err, CN_ERR_RANGE, "model: compile: memory plan overflows size_t");
    }
    mem.parameters = reals_bytes(2 * ps->count + ps->buffer_count);
    m->arena = cn_aligned_alloc(total ? total : 1);
    if (!m->arena) {
        cn_free(offy);
        cn_free(offg);
        free_plan(m);
        return cn_error_set(err, CN_ERR_NOMEM,
                            "model: compile: out of memory (%zu bytes for batch %d)", total,
                            o->batch);
    }
    memset(m->arena, 0, total);
    char *p = m->arena;
    char *yregion = p, *gregion; /* the shared outputs, then the shared gradients */
    p += ALIGN_UP(yshared);
    gregion = p;
    p += ALIGN_UP(gshared);
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        size_t ybytes = reals_bytes(nd->is_loss ? 1 : nd->numel * (size_t)o->batch);
        if (nd->y_shared) {
            nd->y = (cn_real *)(yregion + offy[i]);
        } else {
            nd->y = (cn_real *)p;
            p += ALIGN_UP(ybytes);
        }
        nd->dy = NULL;
        if (nd->dy_shared) {
            nd->dy = (cn_real *)(gregion + offg[i]);
        } else if (nd->needs_grad && !nd->is_loss) {
            nd->dy = (cn_real *)p;
            p += ALIGN_UP(ybytes);
        }
        nd->saved = nd->saved_bytes ? p : NULL;
        p += ALIGN_UP(nd->saved_bytes);
    }
    m->ws = (cn_real *)p;
    p += ALIGN_UP(reals_bytes(ws));
    m->sum_scratch = (cn_real *)p;
    for (int i = 0; i < m->n_nodes; i++) {
        cn_node *nd = &m->nodes[i];
        for (int j = 0; j < nd->n_in; j++) {
            m->x_ptrs[m->in_offset[i] + j] = m->nodes[nd->in[j]].y;
            m->saved_ptrs[m->in_offset[i] + j] = m->nodes[nd->in[j]].saved;
        }
    }
    cn_free(offy);
    cn_free(offg);
    m->mem = mem;
    m->opts = *o;
    m->compiled = 1;
    m->last_n = 0;
    m->last_had_targets = 0;
    m->have_masks = 0;
    return CN_OK;
}
