/* model_text_parse.c: the model text format's reader (docs/model-format.md):
 * checks the bytes (NUL, UTF-8, line length), then executes the statements line by
 * line (model, param, block definitions (model_text_block.c), node statements,
 * block instances with params, repeat and the copy number `rep`, output), building
 * an uncompiled cn_model. Every error names path:line:col. Locale-independent
 * numbers (model_text_keys.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/model_text.h"
#include "model_text_internal.h"

#define MT_MAX_FILE ((size_t)64 << 20)
#define MT_MAX_REPEAT 100000
#define MT_MAX_CW 65536

/* ------------------------------------------------------------------ names */

static cn_status alias_add(cn_mt_cur *c, cn_mt_scope *sc, const char *name, int id)
{
    if (sc->n_names == sc->cap) {
        int cap = sc->cap ? 2 * sc->cap : 16;
        cn_mt_alias *a = cn_realloc(sc->names, sizeof *a * (size_t)cap);
        if (!a) return cn_error_set(c->P->err, CN_ERR_NOMEM, "%s: out of memory", c->P->path);
        sc->names = a;
        sc->cap = cap;
    }
    char *nm = cn_strdup(name);
    if (!nm) return cn_error_set(c->P->err, CN_ERR_NOMEM, "%s: out of memory", c->P->path);
    sc->names[sc->n_names].name = nm;
    sc->names[sc->n_names++].id = id;
    return CN_OK;
}

static int alias_find(const cn_mt_scope *sc, const char *name)
{
    for (int i = sc->n_names - 1; i >= 0; i--)
        if (strcmp(sc->names[i].name, name) == 0) return sc->names[i].id;
    return -1;
}

static void scope_free(cn_mt_scope *sc)
{
    for (int i = 0; i < sc->n_names; i++) cn_free(sc->names[i].name);
    cn_free(sc->names);
}

/* lookup: the node a reference means in sc, or -1 */
static int lookup(const cn_mt_parser *P, const cn_mt_scope *sc, const char *name)
{
    if (!sc->global && strcmp(name, "in") == 0) return sc->in_id;
    int id = alias_find(sc, name);
    if (id >= 0 || !sc->global) return id;
    return cn_model_find(P->m, name);
}

/* name_taken: a new name in sc would clash with an existing reference */
static int name_taken(const cn_mt_parser *P, const cn_mt_scope *sc, const char *name)
{
    if (!sc->global && strcmp(name, "in") == 0) return 1;
    return lookup(P, sc, name) >= 0 || (!sc->global && alias_find(sc, name) >= 0);
}

static cn_status undefined_node(cn_mt_cur *c, size_t at, const cn_mt_scope *sc, const char *name)
{
    const char *best = NULL;
    int bd = INT_MAX;
    for (int i = 0; i < sc->n_names; i++) {
        int d = cn_mt_edit_distance(name, sc->names[i].name);
        if (d < bd) bd = d, best = sc->names[i].name;
    }
    if (sc->global) {
        int nn = cn_model_num_nodes(c->P->m);
        for (int i = 0; i < nn; i++) {
            const char *nm = cn_model_node_name(c->P->m, i);
            int d = cn_mt_edit_distance(name, nm);
            if (d < bd) bd = d, best = nm;
        }
    } else if (cn_mt_edit_distance(name, "in") < bd) {
        best = "in";
    }
    if (best) return cn_mt_perr(c, at, "undefined node '%s' (did you mean '%s'?)", name, best);
    return cn_mt_perr(c, at, "undefined node '%s' (no nodes are defined before this line)", name);
}

/* ------------------------------------------------------------------ statements */

static cn_status run_lines(cn_mt_parser *P, cn_mt_scope *sc, int first, int end);

/* set_attr: read the value of key index ki into a (the cursor is after '=') */
static cn_status set_attr(cn_mt_cur *c, const cn_mt_scope *sc, cn_op_kind op, int ki,
                          const char *kn, cn_attrs *a)
{
    int nk;
    const cn_mt_key *K = &cn_mt_keys(&nk)[ki];
    char *base = (char *)a + K->off;
    size_t at = (cn_mt_peek(c), c->i);
    double vals[CN_MAX_DIMS];
    int n, is_list;
    cn_status st;
    switch (K->type) {
    case CN_MT_INT: case CN_MT_FLAG: {
        if ((st = cn_mt_expr(c, sc, &vals[0])) != CN_OK) return st;
        int v;
        if ((st = cn_mt_to_int(c, at, kn, vals[0], K->min, &v)) != CN_OK) return st;
        if (K->type == CN_MT_FLAG && v != 0 && v != 1)
            return cn_mt_perr(c, at, "'%s' must be 0 or 1, got %d", kn, v);
        memcpy(base, &v, sizeof v);
        return CN_OK;
    }
    case CN_MT_REAL:
        if ((st = cn_mt_expr(c, sc, &vals[0])) != CN_OK) return st;
        memcpy(base, &vals[0], sizeof(double));
        return CN_OK;
    case CN_MT_IARR: case CN_MT_RARR: case CN_MT_SHAPE: {
        int max = K->type == CN_MT_SHAPE ? CN_MAX_DIMS : K->n;
        if ((st = cn_mt_list(c, sc, vals, max, &n, &is_list)) != CN_OK) return st;
        if (K->type == CN_MT_SHAPE) {
            for (int j = 0; j < n; j++) {
                if ((st = cn_mt_to_int(c, at, kn, vals[j], INT_MIN, &a->shape[j])) != CN_OK)
                    return st;
                if (a->shape[j] < 1 && !(op == CN_OP_RESHAPE && a->shape[j] == -1))
                    return cn_mt_perr(c, at, "'shape' entries must be >= 1%s, got %d",
                                op == CN_OP_RESHAPE ? " (or -1)" : "", a->shape[j]);
            }
            for (int j = n; j < CN_MAX_DIMS; j++) a->shape[j] = 0;
            a->ndim = n;
            return CN_OK;
        }
        int fill = is_list ? n : K->n;
        for (int j = 0; j < fill; j++) {
            double v = vals[is_list ? j : 0];
            if (K->type == CN_MT_RARR) {
                memcpy(base + sizeof(double) * (size_t)j, &v, sizeof v);
            } else {
                int iv;
                if ((st = cn_mt_to_int(c, at, kn, v, K->min, &iv)) != CN_OK) return st;
                memcpy(base + sizeof(int) * (size_t)j, &iv, sizeof iv);
            }
        }
        return CN_OK;
    }
    case CN_MT_MODE: case CN_MT_INIT: case CN_MT_GAIN: {
        char nm[CN_MT_MAX_NAME];
        if ((st = cn_mt_need_word(c, nm, "", 0, "a name")) != CN_OK) return st;
        cn_error e2;
        int v = 0;
        if (K->type == CN_MT_MODE) {
            int found = 0;
            for (int j = 0; j < CN_UPSAMPLE_MODE_COUNT; j++)
                if (strcmp(nm, cn_upsample_mode_name((cn_upsample_mode)j)) == 0) v = j, found = 1;
            if (!found)
                return cn_mt_perr(c, at, "unknown mode '%s' (expected 'nearest' or "
                                         "'bilinear')", nm);
        } else if (K->type == CN_MT_INIT) {
            cn_init_kind ik;
            if (cn_init_parse(nm, &ik, &e2) != CN_OK) return cn_mt_perr(c, at, "%s", e2.msg);
            v = (int)ik;
        } else {
            cn_gain_kind gk;
            if (cn_gain_parse(nm, &gk, &e2) != CN_OK) return cn_mt_perr(c, at, "%s", e2.msg);
            v = (int)gk;
        }
        /* the enum fields are int-sized enums */
        memcpy(base, &v, sizeof v);
        return CN_OK;
    }
    case CN_MT_CW: {
        if (cn_mt_expect(c, '(') != CN_OK) return CN_ERR_FORMAT;
        n = 0;
        for (;;) {
            if (n >= MT_MAX_CW) return cn_mt_perr(c, c->i, "more than %d class weights", MT_MAX_CW);
            double v;
            if ((st = cn_mt_expr(c, sc, &v)) != CN_OK) return st;
            c->P->cw[n++] = (cn_real)v;
            if (cn_mt_peek(c) == ',') {
                c->i++;
                continue;
            }
            if ((st = cn_mt_expect(c, ')')) != CN_OK) return st;
            break;
        }
        a->n_class_weights = n;
        a->class_weights = c->P->cw;
        return CN_OK;
    }
    }
    return cn_mt_perr(c, at, "internal: bad key type");
}

/* inputs: node references separated by commas (none when the next word is a key) */
static cn_status inputs(cn_mt_cur *c, const cn_mt_scope *sc, int *ids, int *n, int max)
{
    *n = 0;
    for (;;) {
        size_t save = c->i;
        char nm[CN_MT_MAX_NAME];
        int r = cn_mt_word(c, nm, ".-", 1);
        if (r < 0) return CN_ERR_FORMAT;
        if (r == 0) {
            if (*n > 0) return cn_mt_perr(c, c->i, "expected a node name after ','");
            c->i = save;
            return CN_OK;
        }
        size_t after = c->i;
        if (cn_mt_peek(c) == '=') {
            if (*n > 0) return cn_mt_perr(c, save, "expected a node name after ','");
            c->i = save;
            return CN_OK;
        }
        c->i = after;
        cn_mt_skip_ws(c);
        size_t at = save;
        while (at < c->n && cn_mt_is_ws((unsigned char)c->s[at])) at++;
        int id = lookup(c->P, sc, nm);
        if (id < 0) return undefined_node(c, at, sc, nm);
        if (*n >= max) return cn_mt_perr(c, at, "more than %d inputs", max);
        ids[(*n)++] = id;
        if (cn_mt_peek(c) != ',') return CN_OK;
        c->i++;
    }
}

/* node_stmt: NAME = OP inputs key=value ... (cursor after '=') */
static cn_status node_stmt(cn_mt_cur *c, cn_mt_scope *sc, const char *name, size_t name_at)
{
    cn_mt_parser *P = c->P;
    char opn[CN_MT_MAX_NAME], full[2 * CN_MT_MAX_NAME + 16];
    cn_status st;
    size_t op_at = (cn_mt_peek(c), c->i);
    int r = cn_mt_word(c, opn, "", 0);
    if (r < 0) return CN_ERR_FORMAT;
    if (r == 0)
        return cn_mt_perr(c, op_at, "expected an op or block name after '%s =' (a key=value "
                                    "belongs after the op on its node's line)", name);
    if (name_taken(P, sc, name))
        return cn_mt_perr(c, name_at, "node '%s' is already defined", name);
    int ids[256], n_in;
    if ((st = inputs(c, sc, ids, &n_in, 256)) != CN_OK) return st;
    const cn_mt_block *bk = cn_mt_find_block(P, opn);
    if (bk) {
        /* block instance: params, repeat */
        if (n_in != 1)
            return cn_mt_perr(c, op_at, "block '%s' takes 1 input, got %d", opn, n_in);
        cn_mt_param *bp = cn_calloc((size_t)bk->n_params + 1, sizeof *bp);
        int *set = cn_calloc((size_t)bk->n_params + 1, sizeof *set);
        if (!bp || !set) {
            cn_free(bp);
            cn_free(set);
            return cn_error_set(P->err, CN_ERR_NOMEM, "%s: out of memory", P->path);
        }
        if (bk->n_params > 0) memcpy(bp, bk->params, sizeof *bp * (size_t)bk->n_params);
        snprintf(bp[bk->n_params].name, CN_MT_MAX_NAME, "rep"); /* the copy number */
        int repeat = 1, repeat_set = 0;
        st = CN_OK;
        while (st == CN_OK && cn_mt_peek(c) != 0) {
            char kn[CN_MT_MAX_NAME];
            size_t at = c->i;
            if ((st = cn_mt_need_word(c, kn, "", 0, "a block param")) != CN_OK) break;
            if ((st = cn_mt_expect(c, '=')) != CN_OK) break;
            size_t vat = (cn_mt_peek(c), c->i);
            double v;
            if (strcmp(kn, "repeat") == 0) {
                if (repeat_set) {
                    st = cn_mt_perr(c, at, "duplicate key 'repeat'");
                    break;
                }
                repeat_set = 1;
                if ((st = cn_mt_expr(c, sc, &v)) != CN_OK) break;
                if ((st = cn_mt_to_int(c, vat, "repeat", v, 1, &repeat)) != CN_OK) break;
                if (repeat > MT_MAX_REPEAT)
                    st = cn_mt_perr(c, vat, "repeat %d > %d", repeat, MT_MAX_REPEAT);
                continue;
            }
            int j = 0;
            while (j < bk->n_params && strcmp(bk->params[j].name, kn) != 0) j++;
            if (j == bk->n_params) {
                const char *best = "repeat";
                int bd = cn_mt_edit_distance(kn, best);
                for (int q = 0; q < bk->n_params; q++) {
                    int d = cn_mt_edit_distance(kn, bk->params[q].name);
                    if (d < bd) bd = d, best = bk->params[q].name;
                }
                st = cn_mt_perr(c, at, "block '%s' has no param '%s' (did you mean '%s'?)", opn, kn,
                          best);
                break;
            }
            if (set[j]) {
                st = cn_mt_perr(c, at, "duplicate key '%s'", kn);
                break;
            }
            set[j] = 1;
            if ((st = cn_mt_expr(c, sc, &v)) == CN_OK) bp[j].v = v;
        }
        for (int j = 0; st == CN_OK && j < bk->n_params; j++)
            if (!set[j] && !bk->has_def[j])
                st = cn_mt_perr(c, op_at, "block '%s' needs param '%s'", opn, bk->params[j].name);
        int in = ids[0];
        for (int r = 1; st == CN_OK && r <= repeat; r++) {
            cn_mt_scope inner;
            memset(&inner, 0, sizeof inner);
            if (repeat == 1)
                snprintf(full, sizeof full, "%s%s.", sc->prefix, name);
            else
                snprintf(full, sizeof full, "%s%s.%d.", sc->prefix, name, r);
            inner.prefix = full;
            inner.in_id = in;
            bp[bk->n_params].v = r;
            inner.params = bp;
            inner.n_params = bk->n_params + 1;
            inner.last = -1;
            if (++P->depth > CN_MT_MAX_DEPTH) {
                st = cn_mt_perr(c, op_at, "blocks nested too deeply");
            } else {
                st = run_lines(P, &inner, bk->first, bk->end);
                if (st == CN_OK) {
                    int out = alias_find(&inner, "out");
                    in = out >= 0 ? out : inner.last;
                }
            }
            P->depth--;
            scope_free(&inner);
        }
        cn_free(bp);
        cn_free(set);
        if (st != CN_OK) return st;
        if ((st = alias_add(c, sc, name, in)) != CN_OK) return st;
        sc->last = in;
        return CN_OK;
    }
    cn_op_kind op;
    cn_error e2;
    if (cn_op_parse(opn, &op, &e2) != CN_OK) {
        /* nearest of ops and blocks */
        const char *best = NULL;
        int bd = INT_MAX;
        for (int k = 0; k < CN_OP_COUNT; k++) {
            int d = cn_mt_edit_distance(opn, cn_op_name((cn_op_kind)k));
            if (d < bd) bd = d, best = cn_op_name((cn_op_kind)k);
        }
        for (int k = 0; k < P->n_blocks; k++) {
            int d = cn_mt_edit_distance(opn, P->blocks[k].name);
            if (d < bd) bd = d, best = P->blocks[k].name;
        }
        return cn_mt_perr(c, op_at, "unknown op '%s' (did you mean '%s'?)", opn, best);
    }
    cn_attrs a = cn_attrs_make(op);
    int nk;
    cn_mt_keys(&nk);
    unsigned char seen[256];
    CN_ASSERT(nk <= 256);
    memset(seen, 0, sizeof seen);
    while (cn_mt_peek(c) != 0) {
        char kn[CN_MT_MAX_NAME];
        size_t at = c->i;
        if ((st = cn_mt_need_word(c, kn, ".", 0, "an attribute key")) != CN_OK) return st;
        if ((st = cn_mt_expect(c, '=')) != CN_OK) return st;
        int ki = cn_mt_key_find(kn, op);
        if (ki < 0)
            return cn_mt_perr(c, at, "unknown attribute '%s' for %s (did you mean '%s'?)", kn,
                        cn_op_name(op), cn_mt_nearest_key(kn));
        if (seen[ki]) return cn_mt_perr(c, at, "duplicate key '%s'", kn);
        seen[ki] = 1;
        if ((st = set_attr(c, sc, op, ki, kn, &a)) != CN_OK) return st;
    }
    for (int k = 0; k < nk; k++)
        if (cn_mt_required(k, op) && !seen[k])
            return cn_mt_perr(c, op_at, "%s '%s' needs '%s'", cn_op_name(op), name,
                        cn_mt_key_name(k, op));
    if (cn_model_num_nodes(P->m) >= P->max_nodes)
        return cn_mt_perr(c, name_at, "too many nodes (limit %d)", P->max_nodes);
    snprintf(full, sizeof full, "%s%s", sc->prefix, name);
    if (strlen(full) >= 64)
        return cn_mt_perr(c, name_at, "node name '%s' longer than 63 bytes", full);
    if (!sc->global && cn_model_find(P->m, full) >= 0)
        return cn_mt_perr(c, name_at, "node '%s' is already defined", full);
    int id = cn_model_node(P->m, op, &a, ids, n_in, full, &e2);
    if (id < 0) {
        if (e2.code == CN_ERR_NOMEM) return cn_error_set(P->err, CN_ERR_NOMEM, "%s", e2.msg);
        return cn_mt_perr(c, name_at, "%s", e2.msg);
    }
    if (!sc->global && (st = alias_add(c, sc, name, id)) != CN_OK) return st;
    sc->last = id;
    return CN_OK;
}

/* param_stmt: param NAME = EXPR (overrides win) */
static cn_status param_stmt(cn_mt_cur *c, cn_mt_scope *sc)
{
    cn_mt_parser *P = c->P;
    char nm[CN_MT_MAX_NAME];
    cn_status st;
    size_t at = (cn_mt_peek(c), c->i);
    if ((st = cn_mt_need_word(c, nm, "", 0, "a param name")) != CN_OK) return st;
    if (cn_mt_find_param(P, NULL, nm))
        return cn_mt_perr(c, at, "param '%s' is already defined", nm);
    if ((st = cn_mt_expect(c, '=')) != CN_OK) return st;
    double v;
    if ((st = cn_mt_expr(c, sc, &v)) != CN_OK) return st;
    if ((st = cn_mt_end_of_statement(c)) != CN_OK) return st;
    for (int i = 0; i < P->n_ov; i++) {
        int r = cn_mt_override_value(P, c->ln, P->ov[i], nm, &v);
        if (r < 0)
            return cn_error_set(P->err, CN_ERR_ARG, "%s: override '%s': bad value", P->path,
                                P->ov[i]);
        if (r > 0) P->ov_used[i] = 1;
    }
    if (P->n_params == P->cap_params) {
        int cap = P->cap_params ? 2 * P->cap_params : 8;
        cn_mt_param *np = cn_realloc(P->params, sizeof *np * (size_t)cap);
        if (!np) return cn_error_set(P->err, CN_ERR_NOMEM, "%s: out of memory", P->path);
        P->params = np;
        P->cap_params = cap;
    }
    snprintf(P->params[P->n_params].name, CN_MT_MAX_NAME, "%s", nm);
    P->params[P->n_params++].v = v;
    return CN_OK;
}

/* run_lines: execute lines [first, end) in sc */
static cn_status run_lines(cn_mt_parser *P, cn_mt_scope *sc, int first, int end)
{
    int statements = 0;
    for (int ln = first; ln < end; ln++) {
        cn_mt_cur c = {P, ln, P->lines[ln].s, P->lines[ln].n, 0};
        if (cn_mt_peek(&c) == 0) continue;
        statements++;
        char w[CN_MT_MAX_NAME];
        size_t at = c.i;
        int r = cn_mt_word(&c, w, ".-", 1);
        if (r < 0) return CN_ERR_FORMAT;
        if (r == 0) {
            if (c.s[c.i] == '}') return cn_mt_perr(&c, at, "'}' without a block");
            return cn_mt_perr(&c, at, "expected a statement, found '%c'", c.s[c.i]);
        }
        cn_status st;
        size_t after = c.i;
        int is_assign = cn_mt_peek(&c) == '=';
        if (is_assign) {
            c.i++;
            st = node_stmt(&c, sc, w, at);
            if (st == CN_OK) st = cn_mt_end_of_statement(&c);
        } else if ((c.i = after, strcmp(w, "model") == 0)) {
            char nm[CN_MT_MAX_NAME];
            if (!sc->global || statements != 1)
                return cn_mt_perr(&c, at, "'model' must be the first statement of the file");
            st = cn_mt_need_word(&c, nm, ".-", 1, "a model name");
            if (st == CN_OK) st = cn_mt_end_of_statement(&c);
        } else if (strcmp(w, "param") == 0) {
            if (!sc->global) return cn_mt_perr(&c, at, "'param' inside a block (declare it in the "
                                                 "block's parentheses)");
            st = param_stmt(&c, sc);
        } else if (strcmp(w, "output") == 0) {
            if (!sc->global) return cn_mt_perr(&c, at, "'output' inside a block");
            char nm[CN_MT_MAX_NAME];
            size_t nat = (cn_mt_peek(&c), c.i);
            st = cn_mt_need_word(&c, nm, ".-", 1, "a node name");
            if (st == CN_OK) st = cn_mt_end_of_statement(&c);
            if (st == CN_OK) {
                int id = lookup(P, sc, nm);
                if (id < 0) return undefined_node(&c, nat, sc, nm);
                cn_error e2;
                if (cn_model_set_output(P->m, id, &e2) != CN_OK)
                    return cn_mt_perr(&c, nat, "%s", e2.msg);
            }
        } else if (strcmp(w, "block") == 0) {
            if (!sc->global) return cn_mt_perr(&c, at, "block definitions cannot be nested");
            int next;
            st = cn_mt_block_stmt(&c, sc, &next);
            if (st == CN_OK) ln = next - 1;
        } else {
            if (cn_mt_peek(&c) == 0)
                return cn_mt_perr(&c, at, "'%s' alone: expected 'NAME = OP ...'", w);
            return cn_mt_perr(&c, at, "expected '=' after '%s' (statements: NAME = OP ..., model, "
                                "param, block, output)", w);
        }
        if (st != CN_OK) return st;
    }
    return CN_OK;
}

/* ------------------------------------------------------------------ API */

cn_model *cn_model_parse(const char *text, size_t len, const char *path_for_errors,
                         const cn_model_text_opts *o, cn_error *err)
{
    cn_mt_parser P;
    memset(&P, 0, sizeof P);
    P.path = path_for_errors ? path_for_errors : "<text>";
    P.err = err;
    P.max_nodes = (o && o->max_nodes > 0) ? o->max_nodes : 100000;
    if (!text && len > 0) {
        cn_error_set(err, CN_ERR_ARG, "%s: text is NULL", P.path);
        return NULL;
    }
    /* P.ov: the defaults, then the overrides (a later match wins in param_stmt) */
    const char **ov = NULL;
    if (o && (o->n_overrides > 0 || o->n_defaults > 0)) {
        if ((o->n_overrides > 0 && !o->overrides) || (o->n_defaults > 0 && !o->defaults) ||
            o->n_overrides < 0 || o->n_defaults < 0 || o->n_overrides > 4096 ||
            o->n_defaults > 4096) {
            cn_error_set(err, CN_ERR_ARG, "%s: bad overrides", P.path);
            return NULL;
        }
        int n_def = o->n_defaults > 0 ? o->n_defaults : 0;
        int n_ovr = o->n_overrides > 0 ? o->n_overrides : 0;
        ov = cn_malloc(sizeof *ov * (size_t)(n_def + n_ovr));
        if (!ov) {
            cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", P.path);
            return NULL;
        }
        for (int i = 0; i < n_def + n_ovr; i++) {
            ov[i] = i < n_def ? o->defaults[i] : o->overrides[i - n_def];
            if (!ov[i] || !strchr(ov[i], '=')) {
                cn_error_set(err, CN_ERR_ARG, "%s: %s '%s' is not NAME=VALUE", P.path,
                             i < n_def ? "default" : "override", ov[i] ? ov[i] : "(null)");
                cn_free(ov);
                return NULL;
            }
        }
        P.ov = ov;
        P.n_ov = n_def + n_ovr;
        P.n_soft = n_def;
    }
    P.ov_used = cn_calloc((size_t)P.n_ov + 1, sizeof *P.ov_used);
    P.cw = cn_malloc(sizeof(cn_real) * MT_MAX_CW);
    P.m = cn_model_new(err);
    cn_mt_scope top;
    memset(&top, 0, sizeof top);
    top.global = 1;
    top.prefix = "";
    top.in_id = -1;
    top.last = -1;
    cn_status st = CN_OK;
    if (!P.ov_used || !P.cw || !P.m)
        st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", P.path);
    if (st == CN_OK) st = cn_mt_split(&P, text ? text : "", len);
    if (st == CN_OK) st = run_lines(&P, &top, 0, P.n_lines);
    if (st == CN_OK && cn_model_num_nodes(P.m) == 0)
        st = cn_error_set(err, CN_ERR_FORMAT, "%s: no layers (the file defines no nodes)",
                          P.path);
    for (int i = P.n_soft; st == CN_OK && i < P.n_ov; i++) {
        if (P.ov_used[i]) continue;
        const char *o1 = P.ov[i], *eq = strchr(o1, '=');
        char nm[CN_MT_MAX_NAME];
        snprintf(nm, sizeof nm, "%.*s", (int)(eq - o1), o1);
        const char *near = cn_mt_nearest_param(&P, NULL, nm);
        st = cn_error_set(err, CN_ERR_ARG, "%s: override '%s': no param '%s'%s%s%s", P.path, o1,
                          nm, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    }
    scope_free(&top);
    for (int i = 0; i < P.n_blocks; i++) {
        cn_free(P.blocks[i].params);
        cn_free(P.blocks[i].has_def);
    }
    cn_free(P.blocks);
    cn_free(P.params);
    cn_free(P.lines);
    cn_free(P.ov_used);
    cn_free(ov);
    cn_free(P.cw);
    if (st != CN_OK) {
        cn_model_free(P.m);
        return NULL;
    }
    return P.m;
}

cn_model *cn_model_load_text(const char *path, const cn_model_text_opts *o, cn_error *err)
{
    if (!path) {
        cn_error_set(err, CN_ERR_ARG, "model text: path is NULL");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cn_error_set(err, CN_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = cn_malloc(cap);
    while (buf) {
        if (len == cap) {
            if (cap >= MT_MAX_FILE) {
                cn_free(buf);
                fclose(f);
                cn_error_set(err, CN_ERR_FORMAT, "%s: larger than %zu bytes", path, MT_MAX_FILE);
                return NULL;
            }
            char *nb = cn_realloc(buf, cap * 2);
            if (!nb) {
                cn_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    if (!buf) {
        fclose(f);
        cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        cn_free(buf);
        cn_error_set(err, CN_ERR_IO, "%s: read error", path);
        return NULL;
    }
    cn_model *m = cn_model_parse(buf, len, path, o, err);
    cn_free(buf);
    return m;
}
