/* src/data/augment.c: the augmentation pipeline: the strict spec parser (errors
 * name the column and the nearest valid step), the canonical printer, shape
 * checks, and cn_augment_apply, which runs the steps in order through two
 * ping-pong scratch buffers, drawing randomness only from the caller's RNG. Also
 * the adapter to the loader's cn_sample_transform. The image operations live in
 * augment_geom.c and augment_color.c. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/augment.h"

/* ------------------------------------------------------------------ the step table */

typedef enum arg_type { ARG_REAL = 0, ARG_INT, ARG_SIZE } arg_type;

typedef struct arg_def {
    const char *name;   /* shown in usage and errors: "PAD" */
    arg_type type;
    double lo, hi;      /* allowed range */
    int lo_open;        /* non-zero: value must be > lo */
    double def;         /* default when not given (optional arguments) */
} arg_def;

#define AUG_MAX_ARGS 6

typedef struct step_def {
    const char *name;
    int nreq;           /* required leading arguments */
    int nargs;          /* all arguments */
    arg_def args[AUG_MAX_ARGS];
} step_def;

#define SZ (double)CN_AUG_MAX_SIZE

/* Indexed by cn_aug_kind. */
static const step_def STEPS[CN_AUG_KIND_COUNT] = {
    {"hflip", 0, 1, {{"P", ARG_REAL, 0, 1, 0, 0.5}}},
    {"vflip", 0, 1, {{"P", ARG_REAL, 0, 1, 0, 0.5}}},
    {"crop", 1, 2, {{"SIZE", ARG_SIZE, 1, SZ, 0, 0}, {"PAD", ARG_INT, 0, 1024, 0, 0}}},
    {"rcrop", 1, 5,
     {{"SIZE", ARG_SIZE, 1, SZ, 0, 0},
      {"SMIN", ARG_REAL, 0, 1, 1, 0.08},
      {"SMAX", ARG_REAL, 0, 1, 1, 1.0},
      {"RMIN", ARG_REAL, 0, 100, 1, 3.0 / 4.0},
      {"RMAX", ARG_REAL, 0, 100, 1, 4.0 / 3.0}}},
    {"rotate", 1, 2,
     {{"DEG", ARG_REAL, 0, 180, 0, 0}, {"TRANSLATE", ARG_REAL, 0, 1, 0, 0}}},
    {"jitter", 1, 4,
     {{"B", ARG_REAL, 0, 100, 0, 0},
      {"C", ARG_REAL, 0, 100, 0, 0},
      {"S", ARG_REAL, 0, 100, 0, 0},
      {"H", ARG_REAL, 0, 0.5, 0, 0}}},
    {"lighting", 0, 1, {{"STD", ARG_REAL, 0, 10, 0, 0.1}}},
    {"erase", 0, 6,
     {{"P", ARG_REAL, 0, 1, 0, 0.5},
      {"SMIN", ARG_REAL, 0, 1, 1, 0.02},
      {"SMAX", ARG_REAL, 0, 1, 1, 0.33},
      {"RMIN", ARG_REAL, 0, 100, 1, 0.3},
      {"RMAX", ARG_REAL, 0, 100, 1, 3.3},
      {"VALUE", ARG_REAL, -1e6, 1e6, 0, 0}}},
    {"cutout", 1, 2, {{"SIZE", ARG_INT, 1, SZ, 0, 0}, {"P", ARG_REAL, 0, 1, 0, 1.0}}},
    {"noise", 1, 2, {{"STD", ARG_REAL, 0, 10, 0, 0}, {"P", ARG_REAL, 0, 1, 0, 1.0}}},
};

const char *cn_aug_kind_name(cn_aug_kind k)
{
    if ((int)k < 0 || k >= CN_AUG_KIND_COUNT)
        return "?";
    return STEPS[k].name;
}

/* Fill step s of kind k from the argument values v (a SIZE's width in v2). */
static void step_fill(cn_aug_step *s, cn_aug_kind k, const double *v, const double *v2)
{
    memset(s, 0, sizeof *s);
    s->kind = k;
    s->p = 1.0;
    switch (k) {
    case CN_AUG_HFLIP:
    case CN_AUG_VFLIP:
        s->p = v[0];
        break;
    case CN_AUG_CROP:
        s->out_h = (int)v[0];
        s->out_w = (int)v2[0];
        s->pad = (int)v[1];
        break;
    case CN_AUG_RCROP:
        s->out_h = (int)v[0];
        s->out_w = (int)v2[0];
        s->scale_lo = v[1];
        s->scale_hi = v[2];
        s->ratio_lo = v[3];
        s->ratio_hi = v[4];
        break;
    case CN_AUG_ROTATE:
        s->degrees = v[0];
        s->translate = v[1];
        break;
    case CN_AUG_JITTER:
        s->brightness = v[0];
        s->contrast = v[1];
        s->saturation = v[2];
        s->hue = v[3];
        break;
    case CN_AUG_LIGHTING:
        s->std = v[0];
        break;
    case CN_AUG_ERASE:
        s->p = v[0];
        s->scale_lo = v[1];
        s->scale_hi = v[2];
        s->ratio_lo = v[3];
        s->ratio_hi = v[4];
        s->value = v[5];
        break;
    case CN_AUG_CUTOUT:
        s->size = (int)v[0];
        s->p = v[1];
        break;
    case CN_AUG_NOISE:
        s->std = v[0];
        s->p = v[1];
        break;
    default:
        CN_ASSERT(0);
    }
}

/* The argument values of step s in table order (inverse of step_fill). */
static void step_values(const cn_aug_step *s, double *v, double *v2)
{
    memset(v, 0, AUG_MAX_ARGS * sizeof *v);
    memset(v2, 0, AUG_MAX_ARGS * sizeof *v2);
    switch (s->kind) {
    case CN_AUG_HFLIP:
    case CN_AUG_VFLIP:
        v[0] = s->p;
        break;
    case CN_AUG_CROP:
        v[0] = s->out_h;
        v2[0] = s->out_w;
        v[1] = s->pad;
        break;
    case CN_AUG_RCROP:
        v[0] = s->out_h;
        v2[0] = s->out_w;
        v[1] = s->scale_lo;
        v[2] = s->scale_hi;
        v[3] = s->ratio_lo;
        v[4] = s->ratio_hi;
        break;
    case CN_AUG_ROTATE:
        v[0] = s->degrees;
        v[1] = s->translate;
        break;
    case CN_AUG_JITTER:
        v[0] = s->brightness;
        v[1] = s->contrast;
        v[2] = s->saturation;
        v[3] = s->hue;
        break;
    case CN_AUG_LIGHTING:
        v[0] = s->std;
        break;
    case CN_AUG_ERASE:
        v[0] = s->p;
        v[1] = s->scale_lo;
        v[2] = s->scale_hi;
        v[3] = s->ratio_lo;
        v[4] = s->ratio_hi;
        v[5] = s->value;
        break;
    case CN_AUG_CUTOUT:
        v[0] = s->size;
        v[1] = s->p;
        break;
    case CN_AUG_NOISE:
        v[0] = s->std;
        v[1] = s->p;
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ parsing */

/* "crop=SIZE[:PAD]" into buf. */
static const char *step_usage(const step_def *d, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "%s", d->name);
    for (int i = 0; i < d->nargs && len < size; i++) {
        const char *sep = i == 0 ? "=" : ":";
        if (i < d->nreq)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", sep, d->args[i].name);
        else
            len += (size_t)snprintf(buf + len, size - len, "[%s%s", sep, d->args[i].name);
    }
    for (int i = d->nreq; i < d->nargs && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "]");
    return buf;
}

/* Levenshtein distance of a[0..na) and b (short strings). */
static int edit_distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    int row[64];
    if (na > 63)
        na = 63;
    if (nb > 63)
        nb = 63;
    for (size_t j = 0; j <= nb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) == b[j - 1] ? 0 : 1;
            int best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

static const char *nearest_step(const char *s, size_t n)
{
    const char *best = STEPS[0].name;
    int bd = edit_distance(s, n, best);
    for (int k = 1; k < CN_AUG_KIND_COUNT; k++) {
        int d = edit_distance(s, n, STEPS[k].name);
        if (d < bd) {
            bd = d;
            best = STEPS[k].name;
        }
    }
    return best;
}

static int is_name_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '-';
}

static int is_arg_end(char ch)
{
    return ch == '\0' || ch == ':' || ch == ',' || isspace((unsigned char)ch);
}

/* Parse the real in tok[0..n) strictly into *out; 0 on success. */
static int parse_real(const char *tok, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, tok, n);
    buf[n] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + n || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Check v against the range of arg d; 0 if inside. */
static int in_range(const arg_def *d, double v)
{
    if (d->lo_open ? !(v > d->lo) : !(v >= d->lo))
        return 0;
    return v <= d->hi;
}

/* Parse one argument token of type d at spec column col into v (and v2). */
static cn_status parse_arg(const step_def *sd, const arg_def *d, const char *tok, size_t n,
                           int col, double *v, double *v2, cn_error *err)
{
    if (n == 0)
        return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s: missing value for %s",
                            col, sd->name, d->name);
    if (d->type == ARG_SIZE) {
        const char *x = memchr(tok, 'x', n);
        size_t n1 = x ? (size_t)(x - tok) : n;
        if (parse_real(tok, n1, v) != 0 || (x && parse_real(x + 1, n - n1 - 1, v2) != 0) ||
            *v != floor(*v) || (x && *v2 != floor(*v2)))
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s: %s '%.*s' is not "
                                                 "N or HxW with whole numbers", col, sd->name,
                                d->name, (int)n, tok);
        if (!x)
            *v2 = *v;
        if (!in_range(d, *v) || !in_range(d, *v2))
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s: %s '%.*s' is out "
                                                 "of range [%g, %g]", col, sd->name, d->name,
                                (int)n, tok, d->lo, d->hi);
        return CN_OK;
    }
    if (parse_real(tok, n, v) != 0)
        return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s: %s '%.*s' is not a "
                                             "finite number", col, sd->name, d->name, (int)n,
                            tok);
    if (d->type == ARG_INT && *v != floor(*v))
        return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s: %s '%.*s' is not a "
                                             "whole number", col, sd->name, d->name, (int)n,
                            tok);
    if (!in_range(d, *v))
        return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s: %s %.*s is out of "
                                             "range %c%g, %g]", col, sd->name, d->name, (int)n,
                            tok, d->lo_open ? '(' : '[', d->lo, d->hi);
    return CN_OK;
}

/* Relations between arguments: lower bounds not above upper bounds. */
static cn_status check_step(const cn_aug_step *s, int col, cn_error *err)
{
    if (s->kind == CN_AUG_RCROP || s->kind == CN_AUG_ERASE) {
        const char *nm = cn_aug_kind_name(s->kind);
        if (s->scale_lo > s->scale_hi)
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s: SMIN %g is above "
                                                 "SMAX %g", col, nm, s->scale_lo, s->scale_hi);
        if (s->ratio_lo > s->ratio_hi)
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s: RMIN %g is above "
                                                 "RMAX %g", col, nm, s->ratio_lo, s->ratio_hi);
    }
    return CN_OK;
}

static size_t skip_spaces(const char *s, size_t i)
{
    while (s[i] && isspace((unsigned char)s[i]))
        i++;
    return i;
}

cn_status cn_augment_parse(const char *spec, cn_augment *out, cn_error *err)
{
    if (!out)
        return cn_error_set(err, CN_ERR_ARG, "cn_augment_parse: NULL output");
    memset(out, 0, sizeof *out);
    if (!spec)
        return cn_error_set(err, CN_ERR_ARG, "cn_augment_parse: NULL spec");
    size_t i = skip_spaces(spec, 0);
    if (spec[i] == '\0')
        return CN_OK;
    if (strncmp(spec + i, "none", 4) == 0 && spec[skip_spaces(spec, i + 4)] == '\0')
        return CN_OK;
    for (;;) {
        i = skip_spaces(spec, i);
        size_t start = i;
        int col = (int)start + 1;
        while (is_name_char(spec[i]))
            i++;
        size_t nlen = i - start;
        if (nlen == 0) {
            if (spec[i] == '\0')
                return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: expected a step "
                                                     "name after ','", col);
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: expected a step name, "
                                                 "found '%c'", col, spec[i]);
        }
        int kind = -1;
        for (int k = 0; k < CN_AUG_KIND_COUNT; k++)
            if (strlen(STEPS[k].name) == nlen && strncmp(STEPS[k].name, spec + start, nlen) == 0)
                kind = k;
        if (kind < 0)
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: unknown step '%.*s' "
                                                 "(did you mean '%s'?)", col, (int)nlen,
                                spec + start, nearest_step(spec + start, nlen));
        const step_def *sd = &STEPS[kind];
        char usage[96];
        if (out->nsteps == CN_AUG_MAX_STEPS)
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: more than %d steps",
                                col, CN_AUG_MAX_STEPS);
        double v[AUG_MAX_ARGS] = {0}, v2[AUG_MAX_ARGS] = {0};
        int nargs = 0;
        if (spec[i] == '=') {
            i++;
            for (;;) {
                size_t ts = i;
                while (!is_arg_end(spec[i]))
                    i++;
                if (nargs == sd->nargs)
                    return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s takes at "
                                                         "most %d argument%s (%s)", (int)ts + 1,
                                        sd->name, sd->nargs, sd->nargs == 1 ? "" : "s",
                                        step_usage(sd, usage, sizeof usage));
                cn_status st = parse_arg(sd, &sd->args[nargs], spec + ts, i - ts, (int)ts + 1,
                                         &v[nargs], &v2[nargs], err);
                if (st != CN_OK)
                    return st;
                nargs++;
                if (spec[i] != ':')
                    break;
                i++;
            }
        }
        if (nargs < sd->nreq)
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: %s needs %s (usage: "
                                                 "%s)", (int)i + 1, sd->name,
                                sd->args[nargs].name, step_usage(sd, usage, sizeof usage));
        for (int a = nargs; a < sd->nargs; a++) {
            v[a] = sd->args[a].def;
            v2[a] = sd->args[a].def;
        }
        cn_aug_step *s = &out->steps[out->nsteps];
        step_fill(s, (cn_aug_kind)kind, v, v2);
        cn_status st = check_step(s, col, err);
        if (st != CN_OK)
            return st;
        out->nsteps++;
        i = skip_spaces(spec, i);
        if (spec[i] == '\0')
            break;
        if (spec[i] != ',')
            return cn_error_set(err, CN_ERR_ARG, "augment spec: col %d: unexpected '%c' after "
                                                 "step %s (expected ',' between steps; usage: "
                                                 "%s)", (int)i + 1, spec[i], sd->name,
                                step_usage(sd, usage, sizeof usage));
        i++;
    }
    return CN_OK;
}

/* ------------------------------------------------------------------ printing */

/* A real in the shortest of %g / %.17g that reads back exactly. */
static void fmt_real(double v, char *buf, size_t size)
{
    snprintf(buf, size, "%g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, size, "%.17g", v);
}

int cn_augment_format(const cn_augment *a, char *buf, size_t size)
{
    char tmp[64];
    size_t len = 0;
    char dummy[1];
    if (!buf || size == 0) {
        buf = dummy;
        size = 1;
    }
    buf[0] = '\0';
#define APPEND(...)                                                                     \
    do {                                                                                \
        int n_ = snprintf(buf + (len < size ? len : size - 1),                          \
                          len < size ? size - len : 1, __VA_ARGS__);                    \
        len += n_ > 0 ? (size_t)n_ : 0;                                                 \
    } while (0)
    if (a->nsteps == 0)
        APPEND("none");
    for (int k = 0; k < a->nsteps; k++) {
        const cn_aug_step *s = &a->steps[k];
        const step_def *sd = &STEPS[s->kind];
        double v[AUG_MAX_ARGS], v2[AUG_MAX_ARGS];
        step_values(s, v, v2);
        APPEND("%s%s", k ? "," : "", sd->name);
        for (int i = 0; i < sd->nargs; i++) {
            APPEND("%s", i ? ":" : "=");
            if (sd->args[i].type == ARG_SIZE) {
                if (v[i] == v2[i])
                    APPEND("%d", (int)v[i]);
                else
                    APPEND("%dx%d", (int)v[i], (int)v2[i]);
            } else if (sd->args[i].type == ARG_INT) {
                APPEND("%d", (int)v[i]);
            } else {
                fmt_real(v[i], tmp, sizeof tmp);
                APPEND("%s", tmp);
            }
        }
    }
#undef APPEND
    return (int)len;
}

int cn_augment_needs_lighting(const cn_augment *a)
{
    for (int k = 0; k < a->nsteps; k++)
        if (a->steps[k].kind == CN_AUG_LIGHTING)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ shapes */

/* Walk the pipeline on (c, h, w): output size and the largest intermediate
 * image (reals) that scratch must hold. */
static cn_status walk_shapes(const cn_augment *a, int c, int h, int w, int *oh, int *ow,
                             size_t *max_mid, cn_error *err)
{
    if (c <= 0 || h <= 0 || w <= 0)
        return cn_error_set(err, CN_ERR_ARG, "augment: bad image shape (%d, %d, %d)", c, h, w);
    size_t len, t;
    if (cn_mul_overflow((size_t)c, (size_t)h, &t) || cn_mul_overflow(t, (size_t)w, &len) ||
        cn_mul_overflow(len, 2 * sizeof(cn_real), &t))
        return cn_error_set(err, CN_ERR_RANGE, "augment: image (%d, %d, %d) is too large", c,
                            h, w);
    int ch = h, cw = w;
    size_t mid = 0;
    for (int k = 0; k < a->nsteps; k++) {
        const cn_aug_step *s = &a->steps[k];
        switch (s->kind) {
        case CN_AUG_CROP:
            if (s->out_h > ch + 2 * s->pad || s->out_w > cw + 2 * s->pad)
                return cn_error_set(err, CN_ERR_SHAPE, "augment step %d (crop): a %dx%d crop "
                                                       "does not fit the %dx%d image padded "
                                                       "by %d", k + 1, s->out_h, s->out_w, ch,
                                    cw, s->pad);
            ch = s->out_h;
            cw = s->out_w;
            break;
        case CN_AUG_RCROP:
            ch = s->out_h;
            cw = s->out_w;
            break;
        case CN_AUG_JITTER:
            if (c != 1 && c != 3)
                return cn_error_set(err, CN_ERR_SHAPE, "augment step %d (jitter): needs 1 or 3 "
                                                       "channels, the images have %d", k + 1,
                                    c);
            break;
        case CN_AUG_LIGHTING:
            if (!a->light_fitted)
                return cn_error_set(err, CN_ERR_ARG, "augment step %d (lighting): the PCA "
                                                     "statistics are not fitted (call "
                                                     "cn_augment_fit_lighting on the training "
                                                     "images)", k + 1);
            if (a->light_c != c)
                return cn_error_set(err, CN_ERR_SHAPE, "augment step %d (lighting): fitted on "
                                                       "%d channels, the images have %d",
                                    k + 1, a->light_c, c);
            break;
        default:
            break;
        }
        size_t sl = (size_t)c * (size_t)ch * (size_t)cw;
        if (k < a->nsteps - 1 && sl > mid)
            mid = sl;
    }
    *oh = ch;
    *ow = cw;
    if (max_mid)
        *max_mid = mid;
    return CN_OK;
}

cn_status cn_augment_out_shape(const cn_augment *a, int c, int h, int w, int *oh, int *ow,
                               cn_error *err)
{
    int th, tw;
    cn_status st = walk_shapes(a, c, h, w, &th, &tw, NULL, err);
    if (st == CN_OK) {
        if (oh)
            *oh = th;
        if (ow)
            *ow = tw;
    }
    return st;
}

size_t cn_augment_scratch_len(const cn_augment *a, int c, int h, int w)
{
    int oh, ow;
    size_t mid = 0;
    if (walk_shapes(a, c, h, w, &oh, &ow, &mid, NULL) != CN_OK)
        return 0;
    if (a->nsteps < 2)
        return 0;
    return a->nsteps == 2 ? mid : 2 * mid;
}

/* ------------------------------------------------------------------ applying */

static double uniform(cn_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * cn_rng_uniform(rng);
}

/* Run step s on src (c, h, w) into dst (c, oh, ow). */
static void step_apply(const cn_augment *a, const cn_aug_step *s, const cn_real *src, int c,
                       int h, int w, cn_real *dst, int oh, int ow, cn_rng *rng)
{
    size_t n = (size_t)c * h * w;
    switch (s->kind) {
    case CN_AUG_HFLIP:
    case CN_AUG_VFLIP:
        if (cn_rng_uniform(rng) < s->p) {
            if (s->kind == CN_AUG_HFLIP)
                cn_aug_hflip(src, c, h, w, dst);
            else
                cn_aug_vflip(src, c, h, w, dst);
        } else {
            memcpy(dst, src, n * sizeof *dst);
        }
        return;
    case CN_AUG_CROP: {
        int top = (int)cn_rng_below(rng, (uint32_t)(h + 2 * s->pad - oh + 1));
        int left = (int)cn_rng_below(rng, (uint32_t)(w + 2 * s->pad - ow + 1));
        cn_aug_crop(src, c, h, w, s->pad, top, left, dst, oh, ow);
        return;
    }
    case CN_AUG_RCROP: {
        int top, left, ch, cw;
        cn_aug_rcrop_params(rng, h, w, s->scale_lo, s->scale_hi, s->ratio_lo, s->ratio_hi,
                            &top, &left, &ch, &cw);
        cn_aug_resize(src, c, h, w, top, left, ch, cw, dst, oh, ow);
        return;
    }
    case CN_AUG_ROTATE: {
        /* torchvision RandomAffine: angle, then whole-pixel translations */
        double deg = uniform(rng, -s->degrees, s->degrees);
        double mx = s->translate * w, my = s->translate * h;
        double tx = nearbyint(uniform(rng, -mx, mx));
        double ty = nearbyint(uniform(rng, -my, my));
        cn_aug_affine(src, c, h, w, deg, tx, ty, dst);
        return;
    }
    default:
        break;
    }
    /* the remaining steps work in place on a copy */
    memcpy(dst, src, n * sizeof *dst);
    switch (s->kind) {
    case CN_AUG_JITTER:
        cn_aug_color_jitter(dst, c, h, w, s->brightness, s->contrast, s->saturation, s->hue,
                            rng);
        break;
    case CN_AUG_LIGHTING:
        cn_aug_lighting(a, dst, c, h, w, s->std, rng);
        break;
    case CN_AUG_ERASE:
        if (cn_rng_uniform(rng) < s->p) {
            int top, left, eh, ew;
            if (cn_aug_erase_params(rng, h, w, s->scale_lo, s->scale_hi, s->ratio_lo,
                                    s->ratio_hi, &top, &left, &eh, &ew))
                cn_aug_fill_rect(dst, c, h, w, top, left, eh, ew, (cn_real)s->value);
        }
        break;
    case CN_AUG_CUTOUT:
        if (cn_rng_uniform(rng) < s->p) {
            int cy = (int)cn_rng_below(rng, (uint32_t)h);
            int cx = (int)cn_rng_below(rng, (uint32_t)w);
            cn_aug_fill_rect(dst, c, h, w, cy - s->size / 2, cx - s->size / 2, s->size,
                             s->size, 0);
        }
        break;
    case CN_AUG_NOISE:
        if (cn_rng_uniform(rng) < s->p)
            for (size_t i = 0; i < n; i++)
                dst[i] = (cn_real)(dst[i] + s->std * cn_rng_normal(rng));
        break;
    default:
        CN_ASSERT(0);
    }
}

cn_status cn_augment_apply(const cn_augment *a, const cn_real *in, int c, int h, int w,
                           cn_real *out, cn_real *scratch, cn_rng *rng, cn_error *err)
{
    if (!a || !in || !out || !rng)
        return cn_error_set(err, CN_ERR_ARG, "cn_augment_apply: NULL argument");
    int oh, ow;
    size_t mid = 0;
    cn_status st = walk_shapes(a, c, h, w, &oh, &ow, &mid, err);
    if (st != CN_OK)
        return st;
    if (a->nsteps == 0) {
        memcpy(out, in, (size_t)c * h * w * sizeof *out);
        return CN_OK;
    }
    cn_real *own = NULL;
    if (a->nsteps >= 2 && !scratch) {
        size_t len = a->nsteps == 2 ? mid : 2 * mid;
        own = cn_malloc(len * sizeof *own);
        if (!own)
            return cn_error_set(err, CN_ERR_NOMEM, "cn_augment_apply: out of memory for %zu "
                                                   "scratch values", len);
        scratch = own;
    }
    cn_real *buf[2] = {scratch, scratch ? scratch + mid : NULL}; // each (c, <= mid / c)
    const cn_real *src = in;
    int ch = h, cw = w;
    for (int k = 0; k < a->nsteps; k++) {
        const cn_aug_step *s = &a->steps[k];
        int nh = ch, nw = cw;
        if (s->kind == CN_AUG_CROP || s->kind == CN_AUG_RCROP) {
            nh = s->out_h;
            nw = s->out_w;
        }
        cn_real *dst = k == a->nsteps - 1 ? out : buf[k % 2];
        step_apply(a, s, src, c, ch, cw, dst, nh, nw, rng);
        src = dst;
        ch = nh;
        cw = nw;
    }
    cn_free(own);
    return CN_OK;
}

/* The cn_sample_transform entry: ctx is the cn_augment with its bound shape. */
static cn_status transform_apply(const void *ctx, const cn_real *in, cn_real *out, cn_rng *rng,
                                 cn_error *err)
{
    const cn_augment *a = ctx;
    return cn_augment_apply(a, in, a->c, a->h, a->w, out, NULL, rng, err);
}

cn_status cn_augment_transform(cn_augment *a, int c, int h, int w, cn_sample_transform *out,
                               cn_error *err)
{
    if (!a || !out)
        return cn_error_set(err, CN_ERR_ARG, "cn_augment_transform: NULL argument");
    int oh, ow;
    cn_status st = walk_shapes(a, c, h, w, &oh, &ow, NULL, err);
    if (st != CN_OK)
        return st;
    a->c = c;
    a->h = h;
    a->w = w;
    memset(out, 0, sizeof *out);
    out->apply = transform_apply;
    out->ctx = a;
    out->c = c;
    out->h = h;
    out->w = w;
    out->oc = c;
    out->oh = oh;
    out->ow = ow;
    return CN_OK;
}
