/* model_text_block.c: the model text format's block definitions
 * (docs/model-format.md): `block NAME(P1 = EXPR, P2, ...) {` with its params and
 * defaults, the body's extent up to the line holding only `}`, and the lookup of
 * a block by name. The instances (params, repeat, the copy number `rep`) are
 * executed by node_stmt in model_text_parse.c. */
#include <stdio.h>
#include <string.h>

#include "model_text_internal.h"

const cn_mt_block *cn_mt_find_block(const cn_mt_parser *P, const char *name)
{
    for (int i = 0; i < P->n_blocks; i++)
        if (strcmp(P->blocks[i].name, name) == 0) return &P->blocks[i];
    return NULL;
}

cn_status cn_mt_block_stmt(cn_mt_cur *c, cn_mt_scope *sc, int *next_line)
{
    cn_mt_parser *P = c->P;
    char nm[CN_MT_MAX_NAME];
    cn_status st;
    size_t at = (cn_mt_peek(c), c->i);
    if ((st = cn_mt_need_word(c, nm, "", 0, "a block name")) != CN_OK) return st;
    cn_op_kind dummy;
    if (cn_op_parse(nm, &dummy, NULL) == CN_OK)
        return cn_mt_perr(c, at, "block '%s' has the name of an op", nm);
    if (cn_mt_find_block(P, nm)) return cn_mt_perr(c, at, "block '%s' is already defined", nm);
    if (P->n_blocks == P->cap_blocks) {
        int cap = P->cap_blocks ? 2 * P->cap_blocks : 8;
        cn_mt_block *nb = cn_realloc(P->blocks, sizeof *nb * (size_t)cap);
        if (!nb) return cn_error_set(P->err, CN_ERR_NOMEM, "%s: out of memory", P->path);
        P->blocks = nb;
        P->cap_blocks = cap;
    }
    cn_mt_block *b = &P->blocks[P->n_blocks];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", nm);
    b->line = c->ln;
    P->n_blocks++; /* owned by the parser from here (freed on error too) */
    if ((st = cn_mt_expect(c, '(')) != CN_OK) return st;
    if (cn_mt_peek(c) != ')') {
        for (;;) {
            char pn[CN_MT_MAX_NAME];
            size_t pat = (cn_mt_peek(c), c->i);
            if ((st = cn_mt_need_word(c, pn, "", 0, "a param name")) != CN_OK) return st;
            for (int j = 0; j < b->n_params; j++)
                if (strcmp(b->params[j].name, pn) == 0)
                    return cn_mt_perr(c, pat, "duplicate param '%s'", pn);
            if (strcmp(pn, "repeat") == 0 || strcmp(pn, "rep") == 0)
                return cn_mt_perr(c, pat, "'%s' is reserved", pn);
            cn_mt_param *np = cn_realloc(b->params, sizeof *np * (size_t)(b->n_params + 1));
            if (np) b->params = np;
            int *nd = cn_realloc(b->has_def, sizeof *nd * (size_t)(b->n_params + 1));
            if (nd) b->has_def = nd;
            if (!np || !nd)
                return cn_error_set(P->err, CN_ERR_NOMEM, "%s: out of memory", P->path);
            snprintf(b->params[b->n_params].name, CN_MT_MAX_NAME, "%s", pn);
            b->params[b->n_params].v = 0;
            b->has_def[b->n_params] = 0;
            if (cn_mt_peek(c) == '=') {
                c->i++;
                if ((st = cn_mt_expr(c, sc, &b->params[b->n_params].v)) != CN_OK) return st;
                b->has_def[b->n_params] = 1;
            }
            b->n_params++;
            if (cn_mt_peek(c) == ',') {
                c->i++;
                continue;
            }
            break;
        }
    }
    if ((st = cn_mt_expect(c, ')')) != CN_OK) return st;
    if ((st = cn_mt_expect(c, '{')) != CN_OK) return st;
    if ((st = cn_mt_end_of_statement(c)) != CN_OK) return st;
    int ln = c->ln + 1;
    while (ln < P->n_lines && !cn_mt_closes_block(P, ln)) {
        cn_mt_cur lc = {P, ln, P->lines[ln].s, P->lines[ln].n, 0};
        char w[CN_MT_MAX_NAME];
        size_t wat = (cn_mt_peek(&lc), lc.i);
        if (cn_mt_word(&lc, w, "", 0) == 1 && strcmp(w, "block") == 0 && cn_mt_peek(&lc) != '=')
            return cn_mt_perr(&lc, wat,
                              "block definitions cannot be nested (missing '}' for block "
                              "'%s' of line %d?)",
                              nm, c->ln + 1);
        ln++;
    }
    if (ln >= P->n_lines) return cn_mt_perr(c, at, "block '%s' has no closing '}'", nm);
    b->first = c->ln + 1;
    b->end = ln;
    int any = 0;
    for (int j = b->first; j < b->end && !any; j++) {
        cn_mt_cur lc = {P, j, P->lines[j].s, P->lines[j].n, 0};
        any = cn_mt_peek(&lc) != 0;
    }
    if (!any) return cn_mt_perr(c, at, "block '%s' has no nodes", nm);
    *next_line = ln + 1;
    return CN_OK;
}
