/* model_text_expr.c: the model text reader's lexer and expression evaluator
 * (docs/model-format.md): checking the bytes and cutting the text into lines, the
 * cursor's tokens (blanks, words, punctuation, numbers), errors at path:line:col,
 * and arithmetic on numbers and params (+ - * / //, unary signs, parentheses) with
 * the integer and list forms of values. Locale-independent numbers
 * (model_text_keys.c). */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model_text_internal.h"

/* ------------------------------------------------------------------ errors */

cn_status cn_mt_perr(const cn_mt_cur *c, size_t at, const char *fmt, ...)
{
    char msg[CN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cn_error_set(c->P->err, CN_ERR_FORMAT, "%s:%d:%zu: %s", c->P->path, c->ln + 1,
                        at + 1, msg);
}

/* ------------------------------------------------------------------ lexing */

int cn_mt_is_ws(int ch) { return ch == ' ' || ch == '\t'; }
static int is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }

void cn_mt_skip_ws(cn_mt_cur *c)
{
    while (c->i < c->n && cn_mt_is_ws((unsigned char)c->s[c->i])) c->i++;
}

/* peek: the next non-blank byte, 0 at the end of the statement (end or '#') */
int cn_mt_peek(cn_mt_cur *c)
{
    cn_mt_skip_ws(c);
    if (c->i >= c->n || c->s[c->i] == '#') return 0;
    return (unsigned char)c->s[c->i];
}

/* word: an identifier [A-Za-z_][A-Za-z0-9_]* plus extra bytes allowed after the
 * first (".": keys; ".-": node names, which may also start with a digit). */
int cn_mt_word(cn_mt_cur *c, char *buf, const char *extra, int digit_first)
{
    cn_mt_skip_ws(c);
    size_t b = c->i;
    if (c->i >= c->n) return 0;
    int ch = (unsigned char)c->s[c->i];
    if (!is_alpha(ch) && !(digit_first && is_digit(ch))) return 0;
    while (c->i < c->n) {
        ch = (unsigned char)c->s[c->i];
        if (!is_alpha(ch) && !is_digit(ch) && !(ch && strchr(extra, ch))) break;
        c->i++;
    }
    size_t len = c->i - b;
    if (len >= CN_MT_MAX_NAME) {
        cn_mt_perr(c, b, "name '%.20s...' longer than %d bytes", c->s + b, CN_MT_MAX_NAME - 1);
        return -1;
    }
    memcpy(buf, c->s + b, len);
    buf[len] = 0;
    return 1;
}

/* need_word: a word or an error saying what was expected */
cn_status cn_mt_need_word(cn_mt_cur *c, char *buf, const char *extra, int digit_first,
                           const char *what)
{
    int r = cn_mt_word(c, buf, extra, digit_first);
    if (r < 0) return CN_ERR_FORMAT;
    if (r == 0) {
        if (cn_mt_peek(c) == 0)
            return cn_mt_perr(c, c->i, "expected %s at the end of the line", what);
        return cn_mt_perr(c, c->i, "expected %s, found '%c'", what, c->s[c->i]);
    }
    return CN_OK;
}

cn_status cn_mt_expect(cn_mt_cur *c, int ch)
{
    int p = cn_mt_peek(c);
    if (p != ch) {
        if (p == 0) return cn_mt_perr(c, c->i, "expected '%c' at the end of the line", ch);
        return cn_mt_perr(c, c->i, "expected '%c', found '%c'", ch, p);
    }
    c->i++;
    return CN_OK;
}

cn_status cn_mt_end_of_statement(cn_mt_cur *c)
{
    if (cn_mt_peek(c) != 0)
        return cn_mt_perr(c, c->i, "unexpected '%c' after the statement", c->s[c->i]);
    return CN_OK;
}

/* body_line: 1 when line ln closes a block ('}' alone, comments allowed) */
int cn_mt_closes_block(const cn_mt_parser *P, int ln)
{
    cn_mt_cur c = {(cn_mt_parser *)P, ln, P->lines[ln].s, P->lines[ln].n, 0};
    if (cn_mt_peek(&c) != '}') return 0;
    c.i++;
    return cn_mt_peek(&c) == 0;
}

/* ------------------------------------------------------------------ expressions */


const cn_mt_param *cn_mt_find_param(const cn_mt_parser *P, const cn_mt_scope *sc,
                                    const char *nm)
{
    if (sc)
        for (int i = 0; i < sc->n_params; i++)
            if (strcmp(sc->params[i].name, nm) == 0) return &sc->params[i];
    for (int i = 0; i < P->n_params; i++)
        if (strcmp(P->params[i].name, nm) == 0) return &P->params[i];
    return NULL;
}

const char *cn_mt_nearest_param(const cn_mt_parser *P, const cn_mt_scope *sc,
                                const char *nm)
{
    const char *best = NULL;
    int bd = INT_MAX;
    for (int i = 0; sc && i < sc->n_params; i++) {
        int d = cn_mt_edit_distance(nm, sc->params[i].name);
        if (d < bd) bd = d, best = sc->params[i].name;
    }
    for (int i = 0; i < P->n_params; i++) {
        int d = cn_mt_edit_distance(nm, P->params[i].name);
        if (d < bd) bd = d, best = P->params[i].name;
    }
    return best;
}

/* number: digits [. digits] [e [+-] digits] (or . digits ...), nothing glued after */
static cn_status number(cn_mt_cur *c, double *v)
{
    size_t b = c->i, i = c->i;
    int digits = 0;
    while (i < c->n && is_digit((unsigned char)c->s[i])) i++, digits++;
    if (i < c->n && c->s[i] == '.') {
        i++;
        while (i < c->n && is_digit((unsigned char)c->s[i])) i++, digits++;
    }
    if (digits && i < c->n && (c->s[i] == 'e' || c->s[i] == 'E')) {
        size_t j = i + 1;
        if (j < c->n && (c->s[j] == '+' || c->s[j] == '-')) j++;
        if (j < c->n && is_digit((unsigned char)c->s[j])) {
            while (j < c->n && is_digit((unsigned char)c->s[j])) j++;
            i = j;
        }
    }
    size_t e = i;
    while (e < c->n && (is_alpha((unsigned char)c->s[e]) || is_digit((unsigned char)c->s[e]) ||
                        c->s[e] == '.'))
        e++;
    if (!digits || e != i)
        return cn_mt_perr(c, b, "bad number '%.*s'", (int)(e - b > 40 ? 40 : e - b), c->s + b);
    if (cn_mt_strtod(c->s + b, i - b, v) != 0 || !isfinite(*v))
        return cn_mt_perr(c, b, "number '%.*s' out of range", (int)(i - b > 40 ? 40 : i - b),
                    c->s + b);
    c->i = i;
    return CN_OK;
}

static cn_status primary(cn_mt_cur *c, const cn_mt_scope *sc, double *v)
{
    int p = cn_mt_peek(c);
    size_t at = c->i;
    if (++c->P->depth > CN_MT_MAX_DEPTH) return cn_mt_perr(c, at, "expression nested too deeply");
    cn_status st;
    if (p == '-' || p == '+') {
        c->i++;
        st = primary(c, sc, v);
        if (p == '-') *v = -*v;
    } else if (p == '(') {
        c->i++;
        st = cn_mt_expr(c, sc, v);
        if (st == CN_OK) st = cn_mt_expect(c, ')');
    } else if (is_digit(p) || p == '.') {
        st = number(c, v);
    } else if (is_alpha(p)) {
        char nm[CN_MT_MAX_NAME];
        if (cn_mt_word(c, nm, "", 0) < 0) return CN_ERR_FORMAT;
        const cn_mt_param *pr = cn_mt_find_param(c->P, sc, nm);
        if (!pr) {
            const char *near = cn_mt_nearest_param(c->P, sc, nm);
            if (near) return cn_mt_perr(c, at, "unknown param '%s' (did you mean '%s'?)", nm, near);
            return cn_mt_perr(c, at, "unknown param '%s' (no params are defined)", nm);
        }
        *v = pr->v;
        st = CN_OK;
    } else if (p == 0) {
        st = cn_mt_perr(c, at, "expected a value at the end of the line");
    } else {
        st = cn_mt_perr(c, at, "expected a value, found '%c'", p);
    }
    c->P->depth--;
    return st;
}

static cn_status term(cn_mt_cur *c, const cn_mt_scope *sc, double *v)
{
    cn_status st = primary(c, sc, v);
    while (st == CN_OK) {
        int p = cn_mt_peek(c);
        if (p != '*' && p != '/') break;
        size_t at = c->i;
        int floordiv = p == '/' && c->i + 1 < c->n && c->s[c->i + 1] == '/';
        c->i += floordiv ? 2 : 1;
        double r;
        st = primary(c, sc, &r);
        if (st != CN_OK) break;
        if (p == '*') {
            *v *= r;
        } else {
            if (r == 0) return cn_mt_perr(c, at, "division by zero");
            *v = floordiv ? floor(*v / r) : *v / r;
        }
    }
    return st;
}

cn_status cn_mt_expr(cn_mt_cur *c, const cn_mt_scope *sc, double *v)
{
    size_t at = c->i;
    cn_status st = term(c, sc, v);
    while (st == CN_OK) {
        int p = cn_mt_peek(c);
        if (p != '+' && p != '-') break;
        c->i++;
        double r;
        st = term(c, sc, &r);
        if (st == CN_OK) *v = p == '+' ? *v + r : *v - r;
    }
    if (st == CN_OK && !isfinite(*v)) return cn_mt_perr(c, at, "value out of range");
    return st;
}

/* to_int: v as an int (integral, in range, >= min) for key kn */
cn_status cn_mt_to_int(cn_mt_cur *c, size_t at, const char *kn, double v, int min, int *out)
{
    if (v != floor(v)) return cn_mt_perr(c, at, "'%s' needs an integer, got %.17g", kn, v);
    if (v < INT_MIN || v > INT_MAX)
        return cn_mt_perr(c, at, "'%s' value %.17g out of range", kn, v);
    if (min != INT_MIN && v < min)
        return cn_mt_perr(c, at, "'%s' must be >= %d, got %.17g", kn, min, v);
    *out = (int)v;
    return CN_OK;
}

/* list: a value: one expression, or '(' e1, e2, ... ')' with at least one comma.
 * Fills up to max values; *n their count; *is_list 1 for the parenthesised form. */
cn_status cn_mt_list(cn_mt_cur *c, const cn_mt_scope *sc, double *vals, int max, int *n,
                     int *is_list)
{
    int p = cn_mt_peek(c);
    *n = 0;
    *is_list = 0;
    if (p == '(') {
        /* a top-level comma inside the outer parentheses makes it a list */
        int depth = 0, comma = 0;
        for (size_t i = c->i; i < c->n && c->s[i] != '#'; i++) {
            if (c->s[i] == '(') depth++;
            else if (c->s[i] == ')' && --depth == 0) break;
            else if (c->s[i] == ',' && depth == 1) comma = 1;
        }
        if (comma) {
            *is_list = 1;
            c->i++;
            for (;;) {
                if (*n >= max) return cn_mt_perr(c, c->i, "more than %d values", max);
                cn_status st = cn_mt_expr(c, sc, &vals[(*n)++]);
                if (st != CN_OK) return st;
                if (cn_mt_peek(c) == ',') {
                    c->i++;
                    continue;
                }
                return cn_mt_expect(c, ')');
            }
        }
    }
    *n = 1;
    return cn_mt_expr(c, sc, &vals[0]);
}

/* override_value: match the key of "NAME=EXPR", then evaluate EXPR with errors going
 * to a scratch cn_error (the caller reports "bad value") */
int cn_mt_override_value(cn_mt_parser *P, int ln, const char *o, const char *nm, double *v)
{
    const char *eq = strchr(o, '=');
    size_t kl = (size_t)(eq - o);
    while (kl > 0 && cn_mt_is_ws((unsigned char)o[kl - 1])) kl--;
    size_t k0 = 0;
    while (k0 < kl && cn_mt_is_ws((unsigned char)o[k0])) k0++;
    if (kl - k0 != strlen(nm) || memcmp(o + k0, nm, kl - k0) != 0) return 0;
    cn_mt_cur oc = {P, ln, eq + 1, strlen(eq + 1), 0};
    cn_error e2;
    cn_error *saved = P->err;
    P->err = &e2;
    cn_status st = cn_mt_expr(&oc, NULL, v);
    if (st == CN_OK && cn_mt_peek(&oc) != 0) st = CN_ERR_FORMAT;
    P->err = saved;
    return st == CN_OK ? 1 : -1;
}

/* ------------------------------------------------------------------ bytes */

/* utf8_len: the length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned ch = s[0];
    if (ch < 0x80) return 1;
    size_t len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC2 ? 2 : 0;
    if (len == 0 || ch > 0xF4 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (ch == 0xE0 && s[1] < 0xA0) return 0;
    if (ch == 0xED && s[1] > 0x9F) return 0;
    if (ch == 0xF0 && s[1] < 0x90) return 0;
    if (ch == 0xF4 && s[1] > 0x8F) return 0;
    return len;
}

/* split: check the bytes and cut the text into lines */
cn_status cn_mt_split(cn_mt_parser *P, const char *text, size_t len)
{
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3, len -= 3;
    size_t count = 1;
    for (size_t i = 0; i < len; i++) count += text[i] == '\n';
    if (count > (size_t)INT_MAX / 2)
        return cn_error_set(P->err, CN_ERR_FORMAT, "%s: too many lines", P->path);
    P->lines = cn_malloc(sizeof *P->lines * count);
    if (!P->lines) return cn_error_set(P->err, CN_ERR_NOMEM, "%s: out of memory", P->path);
    size_t b = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n') continue;
        cn_mt_line *l = &P->lines[P->n_lines++];
        l->s = text + b;
        l->n = i - b;
        if (l->n > 0 && l->s[l->n - 1] == '\r') l->n--;
        cn_mt_cur c = {P, P->n_lines - 1, l->s, l->n, 0};
        if (l->n > CN_MT_MAX_LINE)
            return cn_mt_perr(&c, 0, "line of %zu bytes (the limit is %d)", l->n, CN_MT_MAX_LINE);
        int comment = 0;
        for (size_t j = 0; j < l->n;) {
            const unsigned char *u = (const unsigned char *)l->s + j;
            comment |= *u == '#';
            if (*u == 0) return cn_mt_perr(&c, j, "NUL byte");
            if (*u == '\r') return cn_mt_perr(&c, j, "carriage return inside a line");
            size_t k = utf8_len(u, l->n - j);
            if (k == 0) return cn_mt_perr(&c, j, "invalid UTF-8 (byte 0x%02x)", *u);
            if (k > 1 && !comment)
                return cn_mt_perr(&c, j, "non-ASCII character outside a comment");
            j += k;
        }
        b = i + 1;
    }
    return CN_OK;
}

