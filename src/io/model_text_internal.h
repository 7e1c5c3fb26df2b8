/* model_text_internal.h: what the model text parser and printer share: the table
 * of attribute keys (one per cn_attrs field, docs/model-format.md), the op-specific
 * aliases (alpha, beta), the required keys, locale-independent number reading and
 * writing, and the edit distance for "did you mean" suggestions; and what the
 * reader's two halves share: its state (parser, scopes, cursor) and the lexer and
 * expression evaluator (model_text_expr.c) that the statements (model_text_parse.c)
 * call. */
#ifndef CONVNET_MODEL_TEXT_INTERNAL_H
#define CONVNET_MODEL_TEXT_INTERNAL_H

#include <stddef.h>

#include "convnet/model.h"

#define CN_MT_MAX_LINE 65536 /* bytes in a line */
#define CN_MT_MAX_NAME 64    /* name bytes, with the NUL */
#define CN_MT_MAX_DEPTH 64   /* expression nesting, block nesting */

/* cn_mt_type: how a key's value is written and stored. */
typedef enum cn_mt_type {
    CN_MT_INT,     /* int */
    CN_MT_FLAG,    /* int, 0 or 1 */
    CN_MT_REAL,    /* double */
    CN_MT_IARR,    /* int[n]: one value (every entry) or (a, b, ...) */
    CN_MT_RARR,    /* double[n], as IARR */
    CN_MT_SHAPE,   /* ndim + shape[CN_MAX_DIMS]: one value (1-D) or a list */
    CN_MT_MODE,    /* cn_upsample_mode by name */
    CN_MT_INIT,    /* cn_init_kind by name (the struct's kind field) */
    CN_MT_GAIN,    /* cn_gain_kind by name */
    CN_MT_CW       /* class_weights: list of reals (n_class_weights, class_weights) */
} cn_mt_type;

/* cn_mt_key: one attribute key. off is the field's offset in cn_attrs; n the
 * array length (IARR, RARR); min the smallest valid integer (INT_MIN: none). */
typedef struct cn_mt_key {
    const char *name;
    cn_mt_type type;
    size_t off;
    int n;
    int min;
} cn_mt_key;

/* cn_mt_keys: the table (*count entries). */
const cn_mt_key *cn_mt_keys(int *count);

/* cn_mt_key_find: the index of the key that name means for op (the short aliases
 * "alpha" and "beta" mean act.alpha on elu and act.beta on softplus, lrn.alpha and
 * lrn.beta elsewhere; on adaptive_avgpool2d "out" means size_hw and "out.int" the
 * integer out), or -1. */
int cn_mt_key_find(const char *name, cn_op_kind op);

/* cn_mt_key_name: how the printer writes key index i for op (the short alias when
 * it means that key for op). */
const char *cn_mt_key_name(int i, cn_op_kind op);

/* cn_mt_required: 1 when op must be given key index i. */
int cn_mt_required(int i, cn_op_kind op);

/* cn_mt_nearest_key: the key nearest to name by edit distance. */
const char *cn_mt_nearest_key(const char *name);

/* cn_mt_edit_distance: Levenshtein distance (words capped at 63 bytes). */
int cn_mt_edit_distance(const char *a, const char *b);

/* cn_mt_strtod: the real written in s[0..n) (syntax already checked: digits, '.',
 * an exponent), read in the "C" locale whatever the process locale is. Returns 0,
 * or -1 when the text is too long. */
int cn_mt_strtod(const char *s, size_t n, double *out);

/* cn_mt_format_real: the shortest "%.Ng" (N <= 17) of v that reads back exactly,
 * with '.' as the decimal point whatever the locale. */
void cn_mt_format_real(double v, char *buf, size_t size);

/* ------------------------------------------------------------------ the reader */

/* cn_mt_line: one line of the text without its end (\n, \r\n) */
typedef struct cn_mt_line {
    const char *s;
    size_t n;
} cn_mt_line;

/* cn_mt_param: a named value (file params, block params) */
typedef struct cn_mt_param {
    char name[CN_MT_MAX_NAME];
    double v;
} cn_mt_param;

/* cn_mt_block: a definition; its body is lines [first, end) */
typedef struct cn_mt_block {
    char name[CN_MT_MAX_NAME];
    cn_mt_param *params; /* (n_params) defaults; has_def[i] 0 when required */
    int *has_def;
    int n_params;
    int first, end, line;
} cn_mt_block;

/* cn_mt_alias: a reference name for a node id (block-local names, instance names) */
typedef struct cn_mt_alias {
    char *name;
    int id;
} cn_mt_alias;

/* cn_mt_scope: where statements run: the file, or one block instance */
typedef struct cn_mt_scope {
    int global;
    const char *prefix;  /* "" or "l1." / "l1.2." */
    int in_id;           /* the block's input (-1 in the file scope) */
    cn_mt_param *params; /* block params (n_params); file params are the parser's */
    int n_params;
    cn_mt_alias *names;  /* (n_names, cap) */
    int n_names, cap;
    int last;            /* the last node made in this scope, -1 none */
} cn_mt_scope;

/* cn_mt_parser: the reader's state for one text */
typedef struct cn_mt_parser {
    const char *path;
    cn_mt_line *lines;   /* (n_lines) */
    int n_lines;
    cn_model *m;
    int max_nodes;
    cn_mt_param *params; /* file params (n_params, cap_params) */
    int n_params, cap_params;
    const char *const *ov; /* the defaults (first n_soft), then the overrides */
    int n_ov, n_soft;
    int *ov_used;
    cn_mt_block *blocks;
    int n_blocks, cap_blocks;
    cn_real *cw;         /* class_weights of the node being read (MT_MAX_CW) */
    int depth;
    cn_error *err;
} cn_mt_parser;

/* cn_mt_cur: a cursor, a position in one line */
typedef struct cn_mt_cur {
    cn_mt_parser *P;
    int ln;              /* 0-based line index */
    const char *s;
    size_t n, i;
} cn_mt_cur;

/* cn_mt_perr: sets c->P->err to CN_ERR_FORMAT "path:line:col: message" (col is
 * byte at of the line, 1-based) and returns CN_ERR_FORMAT. */
cn_status cn_mt_perr(const cn_mt_cur *c, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* cn_mt_split: checks the bytes of text (a UTF-8 BOM is skipped; no NUL, no lone
 * carriage return, valid UTF-8, non-ASCII only in comments, lines of at most
 * CN_MT_MAX_LINE bytes) and cuts it into P->lines (n_lines). */
cn_status cn_mt_split(cn_mt_parser *P, const char *text, size_t len);

/* cn_mt_is_ws: 1 for a blank (space, tab). */
int cn_mt_is_ws(int ch);

/* cn_mt_skip_ws: moves c past blanks. */
void cn_mt_skip_ws(cn_mt_cur *c);

/* cn_mt_peek: the next non-blank byte (skipping blanks), 0 at the end of the
 * statement (end of line or '#'). */
int cn_mt_peek(cn_mt_cur *c);

/* cn_mt_word: reads an identifier [A-Za-z_][A-Za-z0-9_]* into buf
 * (CN_MT_MAX_NAME bytes), also allowing the bytes in extra after the first ("."
 * for keys, ".-" for node names) and a leading digit when digit_first. Returns 1,
 * 0 when there is none (c is then past the blanks), -1 (error set) when too long. */
int cn_mt_word(cn_mt_cur *c, char *buf, const char *extra, int digit_first);

/* cn_mt_need_word: cn_mt_word, or an error saying that what was expected. */
cn_status cn_mt_need_word(cn_mt_cur *c, char *buf, const char *extra, int digit_first,
                          const char *what);

/* cn_mt_expect: consumes the byte ch (after blanks) or fails. */
cn_status cn_mt_expect(cn_mt_cur *c, int ch);

/* cn_mt_end_of_statement: fails unless only blanks or a comment are left. */
cn_status cn_mt_end_of_statement(cn_mt_cur *c);

/* cn_mt_closes_block: 1 when line ln is '}' alone (comments allowed). */
int cn_mt_closes_block(const cn_mt_parser *P, int ln);

/* cn_mt_find_param: the param nm of scope sc (NULL: none) or else of the file,
 * or NULL. */
const cn_mt_param *cn_mt_find_param(const cn_mt_parser *P, const cn_mt_scope *sc,
                                    const char *nm);

/* cn_mt_nearest_param: the param of sc or the file nearest to nm by edit distance,
 * NULL when there are none. */
const char *cn_mt_nearest_param(const cn_mt_parser *P, const cn_mt_scope *sc,
                                const char *nm);

/* cn_mt_expr: evaluates an expression into *v: numbers, params of sc and the file,
 * unary + -, * / // (floor division), + -, parentheses; nesting at most
 * CN_MT_MAX_DEPTH; the result finite. */
cn_status cn_mt_expr(cn_mt_cur *c, const cn_mt_scope *sc, double *v);

/* cn_mt_to_int: v as an int for key kn (integral, in int range, >= min unless min
 * is INT_MIN); errors point at byte at. */
cn_status cn_mt_to_int(cn_mt_cur *c, size_t at, const char *kn, double v, int min,
                       int *out);

/* cn_mt_list: a value: one expression, or '(' e1, e2, ... ')' with at least one
 * comma. Fills up to max vals; *n their count; *is_list 1 for the parenthesised
 * form. */
cn_status cn_mt_list(cn_mt_cur *c, const cn_mt_scope *sc, double *vals, int max, int *n,
                     int *is_list);

/* cn_mt_override_value: when override o ("NAME=EXPR", blanks around NAME ignored)
 * names param nm, evaluates EXPR (file params only, nothing after it) into *v and
 * returns 1; 0 when o names another param; -1 when EXPR is bad (P->err untouched;
 * line ln only places the discarded message). */
int cn_mt_override_value(cn_mt_parser *P, int ln, const char *o, const char *nm, double *v);

/* cn_mt_find_block: the block called name, or NULL (model_text_block.c). */
const cn_mt_block *cn_mt_find_block(const cn_mt_parser *P, const char *name);

/* cn_mt_block_stmt: reads a block definition `block NAME(P1 = EXPR, P2, ...) {`
 * (the cursor after the keyword) and its body's extent into P->blocks; the params
 * `repeat` and `rep` are reserved. *next_line is the line after the closing `}`
 * (model_text_block.c). */
cn_status cn_mt_block_stmt(cn_mt_cur *c, cn_mt_scope *sc, int *next_line);

#endif /* CONVNET_MODEL_TEXT_INTERNAL_H */
