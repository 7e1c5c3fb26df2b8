/* model.c: building a model: node creation with attribute defaults and the
 * checks that do not need shapes, automatic names, the builder shortcuts, and
 * the read-only accessors. Compiling is compile.c, running run.c. */
#include "model_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ ops */

const char *cn_op_name(cn_op_kind op)
{
    const cn_op_vtable *vt = cn_op_table(op);
    return vt ? vt->name : "?";
}

int cn_op_is_loss(cn_op_kind op)
{
    const cn_op_vtable *vt = cn_op_table(op);
    return vt ? vt->is_loss : 0;
}

/* edit_distance: Levenshtein distance of a and b (short words; capped at 63). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63) la = 63;
    if (lb > 63) lb = 63;
    int prev[64], cur[64];
    for (int j = 0; j <= lb; j++) prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

cn_status cn_op_parse(const char *name, cn_op_kind *out, cn_error *err)
{
    if (!name) return cn_error_set(err, CN_ERR_ARG, "op name: NULL");
    int best = -1, best_d = 1 << 30;
    for (int k = 0; k < CN_OP_COUNT; k++) {
        const char *nm = cn_op_name((cn_op_kind)k);
        if (strcmp(nm, name) == 0) {
            if (out) *out = (cn_op_kind)k;
            return CN_OK;
        }
        int d = edit_distance(name, nm);
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    return cn_error_set(err, CN_ERR_ARG, "unknown op '%s' (did you mean '%s'?)", name,
                        cn_op_name((cn_op_kind)best));
}

cn_attrs cn_attrs_make(cn_op_kind op)
{
    cn_attrs a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < 3; i++) {
        a.k[i] = 1;
        a.stride[i] = 1;
        a.dil[i] = 1;
    }
    a.groups = 1;
    a.bias = 1;
    a.count_include_pad = 1;
    a.p = 0.5;
    a.eps = 1e-5;
    a.momentum = 0.1;
    a.affine = 1;
    a.track_stats = 1;
    a.act = cn_act_params_default();
    a.pieces = 2;
    a.size = 5;
    a.alpha = 1e-4;
    a.beta = 0.75;
    a.lrn_k = 1.0;
    a.mode = CN_UPSAMPLE_NEAREST;
    a.scale[0] = a.scale[1] = 2.0;
    a.weight = 1.0;
    a.margin = 1.0;
    a.cap = CN_RAMP_CAP_DEFAULT;
    a.delta = 1.0;
    a.m = 2;
    a.weight_init = cn_init_make(CN_INIT_DEFAULT);
    a.bias_init = cn_init_make(CN_INIT_DEFAULT);
    switch (op) {
    case CN_OP_LINEAR: a.p = 0.0; break;
    case CN_OP_GROUPNORM: a.groups = 32; break;
    case CN_OP_INSTANCENORM: a.track_stats = 0; break;
    case CN_OP_CONV1D: case CN_OP_CONV2D: case CN_OP_CONV3D: case CN_OP_CONV_TRANSPOSE2D:
        a.k[0] = a.k[1] = a.k[2] = 3;
        break;
    case CN_OP_MAXPOOL2D: case CN_OP_AVGPOOL2D: case CN_OP_MAXUNPOOL2D:
        a.k[0] = a.k[1] = 2;
        a.stride[0] = a.stride[1] = 2;
        break;
    default: break;
    }
    return a;
}

/* ------------------------------------------------------------------ checks */

/* check_attrs: the attribute checks that need no shapes. */
static cn_status check_attrs(cn_op_kind op, const char *nm, const cn_attrs *a,
                             cn_error *err)
{
    const char *on = cn_op_name(op);
    for (int i = 0; i < 3; i++) {
        if (a->k[i] < 1 || a->stride[i] < 1 || a->dil[i] < 1 || a->pad[i] < 0 ||
            a->out_pad[i] < 0)
            return cn_error_set(err, CN_ERR_ARG,
                                "node '%s' (%s): k, stride and dil must be >= 1, pad and "
                                "out_pad >= 0 (got k %d, stride %d, dil %d, pad %d, "
                                "out_pad %d)",
                                nm, on, a->k[i], a->stride[i], a->dil[i], a->pad[i],
                                a->out_pad[i]);
    }
    if (a->groups < 1)
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): groups %d must be >= 1", nm,
                            on, a->groups);
    if (!(a->p >= 0.0 && a->p <= 1.0))
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): p %g outside [0, 1]", nm, on,
                            a->p);
    if (!(a->eps >= 0.0) || !isfinite(a->eps))
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): eps %g must be finite, >= 0",
                            nm, on, a->eps);
    if (!(a->momentum >= 0.0 && a->momentum <= 1.0))
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): momentum %g outside [0, 1]",
                            nm, on, a->momentum);
    if (!isfinite(a->weight))
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): loss weight must be finite",
                            nm, on);
    if (a->n_class_weights < 0 || (a->n_class_weights > 0 && !a->class_weights))
        return cn_error_set(err, CN_ERR_ARG,
                            "node '%s' (%s): class_weights NULL with n_class_weights %d", nm,
                            on, a->n_class_weights);
    for (int i = 0; i < a->n_class_weights; i++)
        if (!(a->class_weights[i] >= 0) || !isfinite((double)a->class_weights[i]))
            return cn_error_set(err, CN_ERR_ARG,
                                "node '%s' (%s): class weight %d is %g (must be finite, >= 0)",
                                nm, on, i, (double)a->class_weights[i]);
    cn_status st = cn_init_check(&a->weight_init, err);
    if (st == CN_OK) st = cn_init_check(&a->bias_init, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s' (%s): ", nm, on);
    if (op >= CN_OP_SIGMOID && op <= CN_OP_GELU) {
        static const cn_act_kind map[] = {CN_ACT_SIGMOID,    CN_ACT_TANH, CN_ACT_RELU,
                                          CN_ACT_LEAKY_RELU, CN_ACT_PRELU, CN_ACT_ELU,
                                          CN_ACT_SELU,       CN_ACT_RRELU, CN_ACT_SOFTPLUS,
                                          CN_ACT_GELU};
        st = cn_act_params_check(map[op - CN_OP_SIGMOID], &a->act, err);
        if (st != CN_OK) return cn_error_prefix(err, "node '%s' (%s): ", nm, on);
    }
    return CN_OK;
}

/* name_ok: letters, digits, '_', '-', '.', 1..63 chars, not starting with '.'. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.') return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ build */

cn_model *cn_model_new(cn_error *err)
{
    cn_model *m = cn_calloc(1, sizeof *m);
    if (!m) {
        cn_error_set(err, CN_ERR_NOMEM, "model: out of memory");
        return NULL;
    }
    m->output = -1;
    return m;
}

void cn_model_free(cn_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_nodes; i++) {
        cn_free(m->nodes[i].name);
        cn_free(m->nodes[i].in);
        cn_free((void *)m->nodes[i].a.class_weights);
    }
    cn_free(m->nodes);
    cn_params_free_store(m->params);
    cn_aligned_free(m->arena);
    cn_free(m->shape_ptrs);
    cn_free(m->x_ptrs);
    cn_free(m->dx_ptrs);
    cn_free(m->saved_ptrs);
    cn_free(m->param_ptrs);
    cn_free(m->grad_ptrs);
    cn_free(m->buffer_ptrs);
    cn_free(m->in_offset);
    cn_free(m->prof);
    cn_free(m);
}

int cn_model_find(const cn_model *m, const char *name)
{
    if (!m || !name) return -1;
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0) return i;
    return -1;
}

int cn_model_node(cn_model *m, cn_op_kind op, const cn_attrs *a, const int *inputs,
                  int n_inputs, const char *name, cn_error *err)
{
    if (!m) {
        cn_error_set(err, CN_ERR_ARG, "model: NULL");
        return -1;
    }
    const cn_op_vtable *vt = cn_op_table(op);
    if (!vt) {
        cn_error_set(err, CN_ERR_ARG, "model: invalid op kind %d", (int)op);
        return -1;
    }
    char autoname[64];
    if (!name) {
        int k = 1;
        for (int i = 0; i < m->n_nodes; i++) k += m->nodes[i].op == op;
        do {
            snprintf(autoname, sizeof autoname, "%s%d", vt->name, k++);
        } while (cn_model_find(m, autoname) >= 0);
        name = autoname;
    }
    if (!name_ok(name)) {
        cn_error_set(err, CN_ERR_ARG,
                     "model: node name '%.80s' must be 1-63 letters, digits, '_', '-' or "
                     "'.' (not starting with '.')",
                     name);
        return -1;
    }
    if (cn_model_find(m, name) >= 0) {
        cn_error_set(err, CN_ERR_ARG, "model: a node called '%s' already exists", name);
        return -1;
    }
    if (n_inputs < vt->min_in || (vt->max_in > 0 && n_inputs > vt->max_in) ||
        (n_inputs > 0 && !inputs)) {
        if (vt->max_in == vt->min_in)
            cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): takes %d input%s, got %d", name,
                         vt->name, vt->min_in, vt->min_in == 1 ? "" : "s", n_inputs);
        else if (vt->max_in == 0)
            cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): takes at least %d inputs, got %d",
                         name, vt->name, vt->min_in, n_inputs);
        else
            cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): takes %d to %d inputs, got %d",
                         name, vt->name, vt->min_in, vt->max_in, n_inputs);
        return -1;
    }
    for (int j = 0; j < n_inputs; j++) {
        if (inputs[j] < 0 || inputs[j] >= m->n_nodes) {
            cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): input %d is node id %d (model has %d)",
                         name, vt->name, j, inputs[j], m->n_nodes);
            return -1;
        }
        if (m->nodes[inputs[j]].is_loss || cn_op_is_loss(m->nodes[inputs[j]].op)) {
            cn_error_set(err, CN_ERR_ARG, "node '%s' (%s): input %d is the loss '%s'", name,
                         vt->name, j, m->nodes[inputs[j]].name);
            return -1;
        }
    }
    cn_attrs at = a ? *a : cn_attrs_make(op);
    if (check_attrs(op, name, &at, err) != CN_OK) return -1;

    if (m->n_nodes == m->cap_nodes) {
        int cap = m->cap_nodes ? 2 * m->cap_nodes : 16;
        cn_node *nn = cn_realloc(m->nodes, sizeof *nn * (size_t)cap);
        if (!nn) {
            cn_error_set(err, CN_ERR_NOMEM, "model: out of memory adding node '%s'", name);
            return -1;
        }
        m->nodes = nn;
        m->cap_nodes = cap;
    }
    cn_node *nd = &m->nodes[m->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->name = cn_strdup(name);
    nd->in = cn_malloc(sizeof(int) * (size_t)(n_inputs > 0 ? n_inputs : 1));
    cn_real *cw = NULL;
    if (at.n_class_weights > 0) {
        cw = cn_malloc(sizeof(cn_real) * (size_t)at.n_class_weights);
        if (cw) memcpy(cw, at.class_weights, sizeof(cn_real) * (size_t)at.n_class_weights);
    }
    if (!nd->name || !nd->in || (at.n_class_weights > 0 && !cw)) {
        cn_free(nd->name);
        cn_free(nd->in);
        cn_free(cw);
        cn_error_set(err, CN_ERR_NOMEM, "model: out of memory adding node '%s'", name);
        return -1;
    }
    at.class_weights = cw;
    nd->op = op;
    nd->vt = vt;
    nd->a = at;
    nd->n_in = n_inputs;
    if (n_inputs > 0) memcpy(nd->in, inputs, sizeof(int) * (size_t)n_inputs);
    nd->is_loss = vt->is_loss;
    m->compiled = 0;
    return m->n_nodes++;
}

/* ------------------------------------------------------------------ builders */

int cn_model_input(cn_model *m, int c, int h, int w, cn_error *err)
{
    cn_attrs a = cn_attrs_make(CN_OP_INPUT);
    if (h == 0 && w == 0) {
        a.ndim = 1;
        a.shape[0] = c;
    } else {
        a.ndim = 3;
        a.shape[0] = c;
        a.shape[1] = h;
        a.shape[2] = w;
    }
    return cn_model_node(m, CN_OP_INPUT, &a, NULL, 0, NULL, err);
}

int cn_model_linear(cn_model *m, int x, int out, cn_error *err)
{
    if (x < 0) return -1;
    cn_attrs a = cn_attrs_make(CN_OP_LINEAR);
    a.out = out;
    return cn_model_node(m, CN_OP_LINEAR, &a, &x, 1, NULL, err);
}

int cn_model_conv2d(cn_model *m, int x, int out, int k, int stride, int pad, cn_error *err)
{
    if (x < 0) return -1;
    cn_attrs a = cn_attrs_make(CN_OP_CONV2D);
    a.out = out;
    a.k[0] = a.k[1] = k;
    a.stride[0] = a.stride[1] = stride;
    a.pad[0] = a.pad[1] = pad;
    return cn_model_node(m, CN_OP_CONV2D, &a, &x, 1, NULL, err);
}

/* pool2d: a max or average pooling node with a square window. */
static int pool2d(cn_model *m, cn_op_kind op, int x, int k, int stride, cn_error *err)
{
    if (x < 0) return -1;
    cn_attrs a = cn_attrs_make(op);
    a.k[0] = a.k[1] = k;
    a.stride[0] = a.stride[1] = stride;
    return cn_model_node(m, op, &a, &x, 1, NULL, err);
}

int cn_model_maxpool2d(cn_model *m, int x, int k, int stride, cn_error *err)
{
    return pool2d(m, CN_OP_MAXPOOL2D, x, k, stride, err);
}

int cn_model_avgpool2d(cn_model *m, int x, int k, int stride, cn_error *err)
{
    return pool2d(m, CN_OP_AVGPOOL2D, x, k, stride, err);
}

int cn_model_batchnorm(cn_model *m, int x, cn_error *err)
{
    return cn_model_unary(m, CN_OP_BATCHNORM, x, err);
}

int cn_model_dropout(cn_model *m, int x, double p, cn_error *err)
{
    if (x < 0) return -1;
    cn_attrs a = cn_attrs_make(CN_OP_DROPOUT);
    a.p = p;
    return cn_model_node(m, CN_OP_DROPOUT, &a, &x, 1, NULL, err);
}

int cn_model_flatten(cn_model *m, int x, cn_error *err)
{
    return cn_model_unary(m, CN_OP_FLATTEN, x, err);
}

int cn_model_add(cn_model *m, int a, int b, cn_error *err)
{
    if (a < 0 || b < 0) return -1;
    int in[2] = {a, b};
    return cn_model_node(m, CN_OP_ADD, NULL, in, 2, NULL, err);
}

int cn_model_unary(cn_model *m, cn_op_kind op, int x, cn_error *err)
{
    if (x < 0) return -1;
    return cn_model_node(m, op, NULL, &x, 1, NULL, err);
}

/* ------------------------------------------------------------------ accessors */

int cn_model_num_nodes(const cn_model *m) { return m ? m->n_nodes : 0; }

/* node_ok: 1 when id names a node of m. */
static int node_ok(const cn_model *m, int id) { return m && id >= 0 && id < m->n_nodes; }

const char *cn_model_node_name(const cn_model *m, int id)
{
    return node_ok(m, id) ? m->nodes[id].name : NULL;
}

cn_op_kind cn_model_node_op(const cn_model *m, int id)
{
    return node_ok(m, id) ? m->nodes[id].op : CN_OP_COUNT;
}

const int *cn_model_node_inputs(const cn_model *m, int id, int *n)
{
    if (!node_ok(m, id)) {
        if (n) *n = 0;
        return NULL;
    }
    if (n) *n = m->nodes[id].n_in;
    return m->nodes[id].in;
}

const cn_attrs *cn_model_node_attrs(const cn_model *m, int id)
{
    return node_ok(m, id) ? &m->nodes[id].a : NULL;
}

cn_status cn_model_node_shape(const cn_model *m, int id, int *ndim, int shape[CN_MAX_DIMS],
                              cn_error *err)
{
    if (!node_ok(m, id)) return cn_error_set(err, CN_ERR_ARG, "model: no node id %d", id);
    if (!m->compiled)
        return cn_error_set(err, CN_ERR_ARG, "model: node '%s': shape unknown before compile",
                            m->nodes[id].name);
    const cn_shape *s = &m->nodes[id].out;
    if (ndim) *ndim = s->ndim;
    if (shape)
        for (int i = 0; i < CN_MAX_DIMS; i++) shape[i] = i < s->ndim ? s->d[i] : 0;
    return CN_OK;
}

int cn_model_batch(const cn_model *m)
{
    return m && m->compiled ? m->opts.batch : 0;
}

int cn_model_output(const cn_model *m)
{
    if (!m) return -1;
    if (m->output >= 0) return m->output;
    for (int i = m->n_nodes - 1; i >= 0; i--)
        if (!m->nodes[i].is_loss) return i;
    return -1;
}

cn_status cn_model_set_output(cn_model *m, int id, cn_error *err)
{
    if (!node_ok(m, id)) return cn_error_set(err, CN_ERR_ARG, "model: no node id %d", id);
    if (m->nodes[id].is_loss)
        return cn_error_set(err, CN_ERR_ARG, "model: output '%s' is a loss",
                            m->nodes[id].name);
    m->output = id;
    return CN_OK;
}

const cn_real *cn_model_node_value(const cn_model *m, int id)
{
    return node_ok(m, id) && m->compiled && !m->nodes[id].y_shared ? m->nodes[id].y : NULL;
}

const cn_real *cn_model_node_grad(const cn_model *m, int id)
{
    return node_ok(m, id) && m->compiled && !m->nodes[id].dy_shared ? m->nodes[id].dy : NULL;
}

int cn_model_num_inputs(const cn_model *m)
{
    int k = 0;
    for (int i = 0; m && i < m->n_nodes; i++) k += m->nodes[i].op == CN_OP_INPUT;
    return k;
}

int cn_model_input_node(const cn_model *m, int index)
{
    int k = 0;
    for (int i = 0; m && i < m->n_nodes; i++)
        if (m->nodes[i].op == CN_OP_INPUT && k++ == index) return i;
    return -1;
}

cn_real *cn_model_input_buffer(cn_model *m, int index)
{
    int id = cn_model_input_node(m, index);
    return id >= 0 && m->compiled ? m->nodes[id].y : NULL;
}

double cn_model_node_flops(const cn_model *m, int id)
{
    return node_ok(m, id) && m->compiled ? m->nodes[id].flops : 0.0;
}

double cn_model_flops(const cn_model *m)
{
    double f = 0;
    for (int i = 0; m && m->compiled && i < m->n_nodes; i++) f += m->nodes[i].flops;
    return f;
}

cn_status cn_model_memory_plan(const cn_model *m, cn_model_memory *out, cn_error *err)
{
    if (!m || !m->compiled) return cn_error_set(err, CN_ERR_ARG, "model: not compiled");
    if (out) *out = m->mem;
    return CN_OK;
}

cn_params *cn_model_params(cn_model *m) { return m ? m->params : NULL; }
