/* optim.c: the first-order optimisers over the flat parameter store (SGD,
 * CS231n-form momentum and Nesterov momentum, Adagrad, Adadelta, RMSProp, Adam
 * with AMSGrad, AdamW), the regularisation and clipping a step applies, the
 * parameter groups (decay only on weights by default, learning-rate
 * multipliers, frozen parameters) and the step counter. Every update rule is
 * one element-wise loop over a parameter's slice of the flat arrays; rules and
 * their relation to torch.optim are in docs/optim.md. */
#include "convnet/optim.h"

#include <math.h>
#include <string.h>

/* PAR_FOR: element loops run in parallel from 32768 elements on; each element's
 * update is independent, so the result does not depend on the thread count.
 * PAR_FOR_SIMD (SEG_LOOP's loops): the outlined loop body loses its pointers'
 * restrict, and without `simd` the compiler keeps the loop scalar (4x slower at
 * 1 thread); every element is still computed by the same operations in the same
 * order. Loops with sqrt (errno) or per-element branches do not vectorise (clang
 * reports that as an error under `simd`): they take PAR_FOR. */
#ifdef _OPENMP
#define PAR_FOR _Pragma("omp parallel for schedule(static) if (n >= 32768)")
#define PAR_FOR_SIMD _Pragma("omp parallel for simd schedule(static) if (n >= 32768)")
#else
#define PAR_FOR
#define PAR_FOR_SIMD
#endif

struct cn_optimizer {
    cn_optim_config c;
    cn_params *ps;      /* borrowed */
    size_t count;       /* ps->count at creation */
    int n;              /* ps->n at creation */
    int slots;          /* state slots in ps->state */
    double *mult;       /* (n) learning-rate multiplier per parameter */
    int64_t step;
};

/* ------------------------------------------------------------------ names */

static const char *const optim_names[CN_OPTIM_COUNT] = {
    "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw",
};

const char *cn_optim_name(cn_optim_kind kind)
{
    if ((int)kind < 0 || kind >= CN_OPTIM_COUNT) return "?";
    return optim_names[kind];
}

/* edit_distance: Levenshtein distance of a and b (names are short: at most 63
 * characters of each are compared). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strnlen(a, 63), lb = (int)strnlen(b, 63);
    int row[64];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            if (up + 1 < best) best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

cn_status cn_optim_parse(const char *name, cn_optim_kind *out, cn_error *err)
{
    if (!name || !out) return cn_error_set(err, CN_ERR_ARG, "optim: parse: NULL argument");
    int best = 0, bd = edit_distance(name, optim_names[0]);
    for (int k = 0; k < CN_OPTIM_COUNT; k++) {
        if (strcmp(name, optim_names[k]) == 0) {
            *out = (cn_optim_kind)k;
            return CN_OK;
        }
        int d = edit_distance(name, optim_names[k]);
        if (d < bd) {
            bd = d;
            best = k;
        }
    }
    return cn_error_set(err, CN_ERR_ARG, "optim: unknown optimiser '%s' (did you mean '%s'?)",
                        name, optim_names[best]);
}

/* ------------------------------------------------------------------ config */

cn_optim_config cn_optim_config_default(cn_optim_kind kind)
{
    cn_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = 1e-3;
    c.betas[0] = 0.9;
    c.betas[1] = 0.999;
    c.rho = 0.9;
    c.alpha = 0.99;
    c.eps = 1e-8;
    switch (kind) {
    case CN_OPTIM_MOMENTUM:
    case CN_OPTIM_NESTEROV:
        c.lr = 1e-2;
        c.momentum = 0.9;
        break;
    case CN_OPTIM_ADAGRAD:
        c.lr = 1e-2;
        c.eps = 1e-10;
        break;
    case CN_OPTIM_ADADELTA:
        c.lr = 1.0;
        c.eps = 1e-6;
        break;
    case CN_OPTIM_RMSPROP:
        c.lr = 1e-2;
        break;
    case CN_OPTIM_ADAMW:
        c.weight_decay = 1e-2;
        break;
    default:
        break;
    }
    return c;
}

/* check_range: CN_ERR_ARG naming field unless v is finite and in [lo, hi]
 * (hi_open: [lo, hi)). */
static cn_status check_range(const char *field, double v, double lo, double hi, int hi_open,
                             cn_error *err)
{
    if (isfinite(v) && v >= lo && (hi_open ? v < hi : v <= hi)) return CN_OK;
    if (isinf(hi))
        return cn_error_set(err, CN_ERR_ARG, "optim: config: %s = %g: must be finite and >= %g",
                            field, v, lo);
    return cn_error_set(err, CN_ERR_ARG, "optim: config: %s = %g: must be in [%g, %g%c", field,
                        v, lo, hi, hi_open ? ')' : ']');
}

cn_status cn_optim_check(const cn_optim_config *c, cn_error *err)
{
    if (!c) return cn_error_set(err, CN_ERR_ARG, "optim: config is NULL");
    if ((int)c->kind < 0 || c->kind >= CN_OPTIM_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "optim: config: kind = %d: not an optimiser",
                            (int)c->kind);
    cn_status st;
    if ((st = check_range("lr", c->lr, 0, INFINITY, 0, err)) != CN_OK) return st;
    if ((st = check_range("momentum", c->momentum, 0, 1, 1, err)) != CN_OK) return st;
    if (c->kind == CN_OPTIM_SGD && c->momentum != 0)
        return cn_error_set(err, CN_ERR_ARG,
                            "optim: config: momentum = %g: sgd takes none (use 'momentum' or "
                            "'nesterov')",
                            c->momentum);
    if ((st = check_range("betas[0]", c->betas[0], 0, 1, 1, err)) != CN_OK) return st;
    if ((st = check_range("betas[1]", c->betas[1], 0, 1, 1, err)) != CN_OK) return st;
    if ((st = check_range("eps", c->eps, 0, INFINITY, 0, err)) != CN_OK) return st;
    if ((st = check_range("rho", c->rho, 0, 1, 0, err)) != CN_OK) return st;
    if ((st = check_range("alpha", c->alpha, 0, 1, 0, err)) != CN_OK) return st;
    if ((st = check_range("weight_decay", c->weight_decay, 0, INFINITY, 0, err)) != CN_OK)
        return st;
    if ((st = check_range("l1", c->l1, 0, INFINITY, 0, err)) != CN_OK) return st;
    if ((st = check_range("max_norm", c->max_norm, 0, INFINITY, 0, err)) != CN_OK) return st;
    if ((st = check_range("clip_value", c->clip_value, 0, INFINITY, 0, err)) != CN_OK)
        return st;
    if ((st = check_range("clip_norm", c->clip_norm, 0, INFINITY, 0, err)) != CN_OK) return st;
    if (c->centered != 0 && c->centered != 1)
        return cn_error_set(err, CN_ERR_ARG, "optim: config: centered = %d: must be 0 or 1",
                            c->centered);
    if (c->amsgrad != 0 && c->amsgrad != 1)
        return cn_error_set(err, CN_ERR_ARG, "optim: config: amsgrad = %d: must be 0 or 1",
                            c->amsgrad);
    if (c->decay_bias_norm != 0 && c->decay_bias_norm != 1)
        return cn_error_set(err, CN_ERR_ARG,
                            "optim: config: decay_bias_norm = %d: must be 0 or 1",
                            c->decay_bias_norm);
    return CN_OK;
}

int cn_optim_state_slots(const cn_optim_config *c)
{
    if (!c) return -1;
    switch (c->kind) {
    case CN_OPTIM_SGD: return 0;
    case CN_OPTIM_MOMENTUM:
    case CN_OPTIM_NESTEROV:
    case CN_OPTIM_ADAGRAD: return 1;
    case CN_OPTIM_ADADELTA: return 2;
    case CN_OPTIM_RMSPROP: return 1 + (c->momentum > 0) + (c->centered != 0);
    case CN_OPTIM_ADAM:
    case CN_OPTIM_ADAMW: return 2 + (c->amsgrad != 0);
    default: return -1;
    }
}

/* ------------------------------------------------------------------ lifetime */

cn_optimizer *cn_optim_new(const cn_optim_config *c, cn_params *ps, cn_error *err)
{
    if (!ps) {
        cn_error_set(err, CN_ERR_ARG, "optim: new: the parameter store is NULL");
        return NULL;
    }
    if (cn_optim_check(c, err) != CN_OK) return NULL;
    cn_optimizer *o = cn_calloc(1, sizeof *o);
    double *mult = cn_calloc(ps->n > 0 ? (size_t)ps->n : 1, sizeof *mult);
    if (!o || !mult) {
        cn_free(o);
        cn_free(mult);
        cn_error_set(err, CN_ERR_NOMEM, "optim: new: out of memory");
        return NULL;
    }
    o->c = *c;
    o->ps = ps;
    o->count = ps->count;
    o->n = ps->n;
    o->slots = cn_optim_state_slots(c);
    o->mult = mult;
    for (int k = 0; k < ps->n; k++) mult[k] = 1.0;
    if (o->slots > 0 && !cn_params_state(ps, o->slots, err)) {
        cn_optim_free(o);
        return NULL;
    }
    cn_optim_reset(o);
    return o;
}

void cn_optim_free(cn_optimizer *o)
{
    if (!o) return;
    cn_free(o->mult);
    cn_free(o);
}

const cn_optim_config *cn_optim_config_of(const cn_optimizer *o)
{
    return o ? &o->c : NULL;
}

void cn_optim_reset(cn_optimizer *o)
{
    if (!o) return;
    if (o->slots > 0 && o->ps->state && o->ps->state_slots == o->slots)
        memset(o->ps->state, 0, sizeof(cn_real) * (size_t)o->slots * o->count);
    o->step = 0;
}

int64_t cn_optim_get_step(const cn_optimizer *o)
{
    return o ? o->step : 0;
}

cn_status cn_optim_set_step(cn_optimizer *o, int64_t step, cn_error *err)
{
    if (!o) return cn_error_set(err, CN_ERR_ARG, "optim: set_step: optimiser is NULL");
    if (step < 0)
        return cn_error_set(err, CN_ERR_ARG, "optim: set_step: step %lld is negative",
                            (long long)step);
    o->step = step;
    return CN_OK;
}

cn_status cn_optim_set_momentum(cn_optimizer *o, double mu, cn_error *err)
{
    if (!o) return cn_error_set(err, CN_ERR_ARG, "optim: set_momentum: optimiser is NULL");
    if (!isfinite(mu) || mu < 0 || mu >= 1)
        return cn_error_set(err, CN_ERR_ARG, "optim: set_momentum: %g is not in [0, 1)", mu);
    switch (o->c.kind) {
    case CN_OPTIM_MOMENTUM:
    case CN_OPTIM_NESTEROV:
        o->c.momentum = mu;
        return CN_OK;
    case CN_OPTIM_RMSPROP:
        if (o->c.momentum > 0) {
            o->c.momentum = mu;
            return CN_OK;
        }
        break;
    case CN_OPTIM_ADAM:
    case CN_OPTIM_ADAMW:
        o->c.betas[0] = mu;
        return CN_OK;
    default:
        break;
    }
    return cn_error_set(err, CN_ERR_ARG, "optim: set_momentum: '%s'%s has no momentum to set",
                        cn_optim_name(o->c.kind),
                        o->c.kind == CN_OPTIM_RMSPROP ? " made without momentum" : "");
}

int cn_optim_set_lr_mult(cn_optimizer *o, const char *prefix, double mult, cn_error *err)
{
    if (!o || !prefix) {
        cn_error_set(err, CN_ERR_ARG, "optim: set_lr_mult: NULL argument");
        return -1;
    }
    if (!isfinite(mult) || mult < 0) {
        cn_error_set(err, CN_ERR_ARG,
                     "optim: set_lr_mult: multiplier %g for '%s' must be finite and >= 0", mult,
                     prefix);
        return -1;
    }
    size_t lp = strlen(prefix);
    int k = 0;
    for (int i = 0; i < o->n && i < o->ps->n; i++) {
        if (o->ps->p[i].role == CN_PARAM_BUFFER) continue;
        if (strncmp(o->ps->p[i].name, prefix, lp) == 0) {
            o->mult[i] = mult;
            k++;
        }
    }
    if (k == 0) {
        cn_error_set(err, CN_ERR_ARG,
                     "optim: set_lr_mult: no trainable parameter name starts with '%s'", prefix);
        return -1;
    }
    return k;
}

/* ------------------------------------------------------------------ the step */

/* seg: one parameter's slice of the flat arrays and the coefficients of its
 * update this step. */
typedef struct seg {
    size_t n;
    cn_real *x;          /* (n) values */
    const cn_real *g;    /* (n) raw gradients */
    cn_real *s0, *s1, *s2; /* (n) state slots 0..2 (NULL when absent) */
    double lr;           /* lr * multiplier */
    double scale;        /* global-norm clipping factor (1: none) */
    double clip;         /* clip_value (0: off) */
    double wd;           /* coupled L2 coefficient (0 for excluded roles, and for adamw) */
    double l1;           /* L1 coefficient */
} seg;

/* grad_at: the gradient the update uses at i: scaled by the global-norm clip,
 * clamped by value, plus the L1 and coupled L2 terms, in double. */
static inline double grad_at(const seg *s, size_t i)
{
    double g = (double)s->g[i];
    if (s->scale != 1.0) g *= s->scale;
    if (s->clip > 0) g = g > s->clip ? s->clip : (g < -s->clip ? -s->clip : g);
    if (s->wd != 0) g += s->wd * (double)s->x[i];
    if (s->l1 != 0) g += s->l1 * (double)((s->x[i] > 0) - (s->x[i] < 0));
    return g;
}

/* SEG_LOOP: for i in [0, n) run BODY with the update's gradient in `g` (grad_at's
 * value, bit for bit). The common cases (no norm or value clipping, no L1; coupled
 * L2 or none) get branch-free loops over restrict pointers that vectorise;
 * grad_at's general form serves the rest. BODY reads and writes x, s0, s1 (the
 * segment's values and state slots). */
#define SEG_LOOP(sg, BODY) SEG_LOOP_P(sg, PAR_FOR_SIMD, BODY)
#define SEG_LOOP_P(sg, PAR, BODY)                                                          \
    do {                                                                                   \
        const size_t n = (sg)->n;                                                          \
        cn_real *restrict x = (sg)->x, *restrict s0 = (sg)->s0, *restrict s1 = (sg)->s1;    \
        const cn_real *restrict gr = (sg)->g;                                              \
        const double wd = (sg)->wd;                                                        \
        (void)s0;                                                                          \
        (void)s1;                                                                          \
        if ((sg)->scale == 1.0 && (sg)->clip == 0 && (sg)->l1 == 0 && wd == 0) {           \
            PAR                                                                            \
            for (size_t i = 0; i < n; i++) {                                               \
                const double g = (double)gr[i];                                            \
                BODY                                                                       \
            }                                                                              \
        } else if ((sg)->scale == 1.0 && (sg)->clip == 0 && (sg)->l1 == 0) {               \
            PAR                                                                            \
            for (size_t i = 0; i < n; i++) {                                               \
                const double g = (double)gr[i] + wd * (double)x[i];                        \
                BODY                                                                       \
            }                                                                              \
        } else {                                                                           \
            PAR                                                                            \
            for (size_t i = 0; i < n; i++) {                                               \
                const double g = grad_at((sg), i);                                         \
                BODY                                                                       \
            }                                                                              \
        }                                                                                  \
    } while (0)

/* sgd: x -= lr * g */
static void step_sgd(const seg *s)
{
    const double lr = s->lr;
    SEG_LOOP(s, { x[i] = (cn_real)((double)x[i] - lr * g); });
}

/* momentum (CS231n): v = mu * v - lr * g; x += v.  s0 = v */
static void step_momentum(const seg *s, double mu)
{
    const double lr = s->lr;
    SEG_LOOP(s, {
        double v = mu * (double)s0[i] - lr * g;
        s0[i] = (cn_real)v;
        x[i] = (cn_real)((double)x[i] + v);
    });
}

/* Nesterov (CS231n look-ahead form): v' = v; v = mu * v - lr * g;
 * x += -mu * v' + (1 + mu) * v.  s0 = v */
static void step_nesterov(const seg *s, double mu)
{
    const double lr = s->lr;
    SEG_LOOP(s, {
        double vp = (double)s0[i];
        double v = mu * vp - lr * g;
        s0[i] = (cn_real)v;
        x[i] = (cn_real)((double)x[i] + (-mu * vp + (1 + mu) * v));
    });
}

/* Adagrad: G += g^2; x -= lr * g / (sqrt(G) + eps).  s0 = G */
static void step_adagrad(const seg *s, double eps)
{
    size_t n = s->n;
    PAR_FOR
    for (size_t i = 0; i < n; i++) {
        double g = grad_at(s, i);
        double G = (double)s->s0[i] + g * g;
        s->s0[i] = (cn_real)G;
        s->x[i] = (cn_real)((double)s->x[i] - s->lr * (g / (sqrt(G) + eps)));
    }
}

/* Adadelta: E[g2] = rho E[g2] + (1 - rho) g^2; dx = sqrt(E[dx2] + eps) /
 * sqrt(E[g2] + eps) * g; E[dx2] = rho E[dx2] + (1 - rho) dx^2; x -= lr * dx.
 * s0 = E[g2], s1 = E[dx2] */
static void step_adadelta(const seg *s, double rho, double eps)
{
    size_t n = s->n;
    PAR_FOR
    for (size_t i = 0; i < n; i++) {
        double g = grad_at(s, i);
        double eg = rho * (double)s->s0[i] + (1 - rho) * (g * g);
        double dx = sqrt((double)s->s1[i] + eps) / sqrt(eg + eps) * g;
        s->s0[i] = (cn_real)eg;
        s->s1[i] = (cn_real)(rho * (double)s->s1[i] + (1 - rho) * (dx * dx));
        s->x[i] = (cn_real)((double)s->x[i] - s->lr * dx);
    }
}

/* RMSProp (torch's form): E[g2] = a E[g2] + (1 - a) g^2; centered: E[g] = a E[g]
 * + (1 - a) g, den = sqrt(E[g2] - E[g]^2) + eps, else den = sqrt(E[g2]) + eps;
 * momentum: b = mu b + g / den, x -= lr b; else x -= lr g / den.
 * s0 = E[g2], then b (momentum > 0), then E[g] (centered) */
static void step_rmsprop(const seg *s, double a, double eps, double mu, int centered)
{
    size_t n = s->n;
    cn_real *buf = mu > 0 ? s->s1 : NULL;
    cn_real *gavg = centered ? (mu > 0 ? s->s2 : s->s1) : NULL;
    PAR_FOR
    for (size_t i = 0; i < n; i++) {
        double g = grad_at(s, i);
        double sq = a * (double)s->s0[i] + (1 - a) * (g * g);
        s->s0[i] = (cn_real)sq;
        double den;
        if (gavg) {
            double ga = a * (double)gavg[i] + (1 - a) * g;
            gavg[i] = (cn_real)ga;
            den = sqrt(sq - ga * ga) + eps;
        } else {
            den = sqrt(sq) + eps;
        }
        if (buf) {
            double b = mu * (double)buf[i] + g / den;
            buf[i] = (cn_real)b;
            s->x[i] = (cn_real)((double)s->x[i] - s->lr * b);
        } else {
            s->x[i] = (cn_real)((double)s->x[i] - s->lr * (g / den));
        }
    }
}

/* Adam / AdamW: (AdamW first: x -= lr * dwd * x); m = b1 m + (1 - b1) g;
 * v = b2 v + (1 - b2) g^2; (amsgrad: vmax = max(vmax, v), used for v);
 * x -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * s0 = m, s1 = v, s2 = vmax */
static void step_adam(const seg *s, double b1, double b2, double eps, double dwd, int64_t t,
                      int amsgrad)
{
    size_t n = s->n;
    double bc1 = 1 - pow(b1, (double)t), bc2s = sqrt(1 - pow(b2, (double)t));
    double step_size = s->lr / bc1, keep = 1 - s->lr * dwd;
    cn_real *vmax = amsgrad ? s->s2 : NULL;
    if (!vmax && dwd == 0) { /* plain Adam: branch-free (sqrt: no simd) */
        SEG_LOOP_P(s, PAR_FOR, {
            double m = b1 * (double)s0[i] + (1 - b1) * g;
            double v = b2 * (double)s1[i] + (1 - b2) * (g * g);
            s0[i] = (cn_real)m;
            s1[i] = (cn_real)v;
            x[i] = (cn_real)((double)x[i] - step_size * (m / (sqrt(v) / bc2s + eps)));
        });
        return;
    }
    PAR_FOR
    for (size_t i = 0; i < n; i++) {
        double g = grad_at(s, i);
        double x = (double)s->x[i];
        if (dwd != 0) x = (double)(cn_real)(x * keep);
        double m = b1 * (double)s->s0[i] + (1 - b1) * g;
        double v = b2 * (double)s->s1[i] + (1 - b2) * (g * g);
        s->s0[i] = (cn_real)m;
        s->s1[i] = (cn_real)v;
        if (vmax) {
            if ((double)vmax[i] > v) v = (double)vmax[i];
            vmax[i] = (cn_real)v;
        }
        s->x[i] = (cn_real)(x - step_size * (m / (sqrt(v) / bc2s + eps)));
    }
}

/* grad_scan: the global L2 norm (double, a fixed order: 16 partial sums per
 * parameter, vectorised) of the trainable, non-frozen gradients; *bad_k / *bad_i
 * locate the first non-finite one (bad_k -1 when none; searched only when the
 * sum is not finite). */
static double grad_scan(const cn_params *ps, int n_params, int *bad_k, size_t *bad_i)
{
    double ss = 0;
    *bad_k = -1;
    *bad_i = 0;
    for (int k = 0; k < n_params; k++) {
        const cn_param *p = &ps->p[k];
        if (p->role == CN_PARAM_BUFFER || p->frozen || !p->grad) continue;
        const cn_real *restrict g = p->grad; // (numel)
        const size_t n = p->numel, nb = n / 16 * 16;
        double part[16] = {0};
        for (size_t i = 0; i < nb; i += 16)
            for (int j = 0; j < 16; j++) part[j] += (double)g[i + j] * (double)g[i + j];
        double t = 0;
        for (int j = 0; j < 16; j++) t += part[j];
        for (size_t i = nb; i < n; i++) t += (double)g[i] * (double)g[i];
        ss += t;
    }
    if (isfinite(ss)) return sqrt(ss);
    for (int k = 0; k < n_params; k++) { /* where is the first non-finite value? */
        const cn_param *p = &ps->p[k];
        if (p->role == CN_PARAM_BUFFER || p->frozen || !p->grad) continue;
        for (size_t i = 0; i < p->numel; i++)
            if (!isfinite((double)p->grad[i])) {
                *bad_k = k;
                *bad_i = i;
                return NAN;
            }
    }
    return sqrt(ss); /* finite values whose squares overflow: inf */
}

double cn_optim_grad_norm(const cn_optimizer *o)
{
    if (!o || o->ps->count != o->count || o->ps->n != o->n) return NAN;
    int bk;
    size_t bi;
    return grad_scan(o->ps, o->n, &bk, &bi);
}

/* max_norm_rows: rescale each row of every trainable, non-frozen WEIGHT of rank
 * >= 2 to an L2 norm <= c. */
static void max_norm_rows(cn_params *ps, int n_params, double c)
{
    for (int k = 0; k < n_params; k++) {
        cn_param *p = &ps->p[k];
        if (p->role != CN_PARAM_WEIGHT || p->frozen || p->ndim < 2 || p->numel == 0) continue;
        size_t rows = (size_t)p->shape[0], cols = p->numel / rows;
        for (size_t r = 0; r < rows; r++) {
            cn_real *w = p->value + r * cols; /* (cols) */
            double ss = 0;
            for (size_t j = 0; j < cols; j++) ss += (double)w[j] * (double)w[j];
            double norm = sqrt(ss);
            if (norm > c) {
                double f = c / norm;
                for (size_t j = 0; j < cols; j++) w[j] = (cn_real)((double)w[j] * f);
            }
        }
    }
}

cn_status cn_optim_step(cn_optimizer *o, double lr, double *grad_norm_out, cn_error *err)
{
    if (!o) return cn_error_set(err, CN_ERR_ARG, "optim: step: optimiser is NULL");
    if (!isfinite(lr) || lr < 0)
        return cn_error_set(err, CN_ERR_ARG, "optim: step: lr = %g must be finite and >= 0",
                            lr);
    cn_params *ps = o->ps;
    if (ps->count != o->count || ps->n != o->n ||
        (o->slots > 0 && (!ps->state || ps->state_slots != o->slots)))
        return cn_error_set(err, CN_ERR_ARG,
                            "optim: step: the parameter store changed since the optimiser was "
                            "made (recompiled?): make a new optimiser");
    const cn_optim_config *c = &o->c;
    int bad_k;
    size_t bad_i;
    double norm = grad_scan(ps, o->n, &bad_k, &bad_i);
    if (bad_k >= 0)
        return cn_error_set(err, CN_ERR_NUMERIC,
                            "optim: step %lld: gradient of '%s'[%zu] is %s; nothing updated",
                            (long long)o->step, ps->p[bad_k].name, bad_i,
                            isnan((double)ps->p[bad_k].grad[bad_i]) ? "NaN" : "Inf");
    if (grad_norm_out) *grad_norm_out = norm;
    double scale = 1.0;
    if (c->clip_norm > 0) {
        double coef = c->clip_norm / (norm + 1e-6);
        if (coef < 1.0) scale = coef;
    }
    int64_t t = o->step + 1;
    for (int k = 0; k < o->n; k++) {
        cn_param *p = &ps->p[k];
        if (p->role == CN_PARAM_BUFFER || p->frozen || !p->grad || p->numel == 0) continue;
        int decays = p->role == CN_PARAM_WEIGHT || c->decay_bias_norm;
        seg s;
        memset(&s, 0, sizeof s);
        s.n = p->numel;
        s.x = p->value;
        s.g = p->grad;
        if (o->slots > 0) s.s0 = ps->state + p->offset;
        if (o->slots > 1) s.s1 = ps->state + o->count + p->offset;
        if (o->slots > 2) s.s2 = ps->state + 2 * o->count + p->offset;
        s.lr = lr * o->mult[k];
        s.scale = scale;
        s.clip = c->clip_value;
        s.wd = decays && c->kind != CN_OPTIM_ADAMW ? c->weight_decay : 0;
        s.l1 = decays ? c->l1 : 0;
        switch (c->kind) {
        case CN_OPTIM_SGD: step_sgd(&s); break;
        case CN_OPTIM_MOMENTUM: step_momentum(&s, c->momentum); break;
        case CN_OPTIM_NESTEROV: step_nesterov(&s, c->momentum); break;
        case CN_OPTIM_ADAGRAD: step_adagrad(&s, c->eps); break;
        case CN_OPTIM_ADADELTA: step_adadelta(&s, c->rho, c->eps); break;
        case CN_OPTIM_RMSPROP:
            step_rmsprop(&s, c->alpha, c->eps, c->momentum, c->centered);
            break;
        case CN_OPTIM_ADAM:
        case CN_OPTIM_ADAMW:
            step_adam(&s, c->betas[0], c->betas[1], c->eps,
                      decays && c->kind == CN_OPTIM_ADAMW ? c->weight_decay : 0, t,
                      c->amsgrad);
            break;
        default: CN_ASSERT(0 && "optimiser kind checked at creation");
        }
    }
    if (c->max_norm > 0) max_norm_rows(ps, o->n, c->max_norm);
    o->step = t;
    return CN_OK;
}
