/* lbfgs.c: L-BFGS for full-batch problems given as a function-and-gradient
 * callback over a flat array: the two-loop recursion over a ring of the last m
 * (s, y) pairs and either a fixed step or a strong-Wolfe line search with cubic
 * interpolation, following torch.optim.LBFGS.step (itself after minFunc) rule
 * for rule, so one call gives the same iterates as one torch step from a fresh
 * state (docs/optim.md). Arithmetic in double; x and gradients in cn_real. */
#include "convnet/optim.h"

#include <math.h>
#include <string.h>

/* lbfgs: the problem and the work vectors (all (n) doubles unless noted). */
typedef struct lbfgs {
    size_t n;
    cn_lbfgs_fn fn;
    void *ctx;
    cn_real *xt;   /* (n) evaluation point x + t d */
    cn_real *gt;   /* (n) gradient from fn */
    int evals;
} lbfgs;

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double max_abs(const double *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* py_min / py_max: Python's min and max of two (NaN handling included), as the
 * reference's interpolation uses them. */
static double py_max(double a, double b) { return b > a ? b : a; }
static double py_min(double a, double b) { return b < a ? b : a; }

/* evaluate: f and g (n) at x + t d (d NULL: at x), into L->xt; CN_ERR_NUMERIC
 * when f or a gradient is not finite. */
static cn_status evaluate(lbfgs *L, const cn_real *x, double t, const double *d, double *f,
                          double *g, cn_error *err)
{
    size_t n = L->n;
    for (size_t i = 0; i < n; i++)
        L->xt[i] = d ? (cn_real)((double)x[i] + t * d[i]) : x[i];
    cn_status st = L->fn(L->ctx, L->xt, L->gt, f, err);
    L->evals++;
    if (st != CN_OK) return cn_error_prefix(err, "lbfgs: evaluation %d: ", L->evals);
    if (!isfinite(*f))
        return cn_error_set(err, CN_ERR_NUMERIC, "lbfgs: evaluation %d: f is %g", L->evals,
                            *f);
    for (size_t i = 0; i < n; i++) {
        g[i] = (double)L->gt[i];
        if (!isfinite(g[i]))
            return cn_error_set(err, CN_ERR_NUMERIC,
                                "lbfgs: evaluation %d: gradient[%zu] is %g", L->evals, i, g[i]);
    }
    return CN_OK;
}

/* cubic: the minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2),
 * clamped to [lo, hi] (bounded) or to the interval of x1, x2. */
static double cubic(double x1, double f1, double g1, double x2, double f2, double g2,
                    int bounded, double lo, double hi)
{
    if (!bounded) {
        lo = x1 <= x2 ? x1 : x2;
        hi = x1 <= x2 ? x2 : x1;
    }
    double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
    double d2sq = d1 * d1 - g1 * g2;
    if (d2sq >= 0) {
        double d2 = sqrt(d2sq), mp;
        if (x1 <= x2)
            mp = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
        else
            mp = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
        return py_min(py_max(mp, lo), hi);
    }
    return (lo + hi) / 2;
}

/* wolfe_ws: the line search's vectors. */
typedef struct wolfe_ws {
    double *gnew, *gprev, *bg[2]; /* (n) each */
} wolfe_ws;

/* strong_wolfe: torch's _strong_wolfe from x along d with initial step *t, f and
 * g (n) at x and gtd = g.d. On return *f, g and *t hold the accepted point's
 * value, gradient and step; *ls_evals counts the evaluations. */
static cn_status strong_wolfe(lbfgs *L, wolfe_ws *w, const cn_real *x, double *t,
                              const double *d, double *f, double *g, double gtd,
                              double tol_change, int *ls_evals, cn_error *err)
{
    const double c1 = 1e-4, c2 = 0.9;
    const int max_ls = 25;
    size_t n = L->n, nb = n * sizeof(double);
    double f0 = *f, tt = *t, d_norm = max_abs(d, n);
    double f_new;
    cn_status st = evaluate(L, x, tt, d, &f_new, w->gnew, err);
    if (st != CN_OK) return st;
    int evals = 1;
    double gtd_new = dot(w->gnew, d, n);
    double t_prev = 0, f_prev = f0, gtd_prev = gtd;
    memcpy(w->gprev, g, nb);
    int done = 0, ls_iter = 0, two = 1;
    double br[2] = {0, 0}, bf[2] = {0, 0}, bgtd[2] = {0, 0};
    while (ls_iter < max_ls) {
        int armijo_fails = f_new > f0 + c1 * tt * gtd || (ls_iter > 1 && f_new >= f_prev);
        if (!armijo_fails && fabs(gtd_new) <= -c2 * gtd) {
            /* both strong-Wolfe conditions hold: accept tt */
            br[0] = br[1] = tt;
            bf[0] = bf[1] = f_new;
            memcpy(w->bg[0], w->gnew, nb);
            two = 0;
            done = 1;
            break;
        }
        if (armijo_fails || gtd_new >= 0) {
            /* a minimum lies in [t_prev, tt]: zoom */
            br[0] = t_prev;
            br[1] = tt;
            bf[0] = f_prev;
            bf[1] = f_new;
            memcpy(w->bg[0], w->gprev, nb);
            memcpy(w->bg[1], w->gnew, nb);
            bgtd[0] = gtd_prev;
            bgtd[1] = gtd_new;
            break;
        }
        double min_step = tt + 0.01 * (tt - t_prev), max_step = tt * 10, tmp = tt;
        tt = cubic(t_prev, f_prev, gtd_prev, tt, f_new, gtd_new, 1, min_step, max_step);
        t_prev = tmp;
        f_prev = f_new;
        memcpy(w->gprev, w->gnew, nb);
        gtd_prev = gtd_new;
        st = evaluate(L, x, tt, d, &f_new, w->gnew, err);
        if (st != CN_OK) return st;
        evals++;
        gtd_new = dot(w->gnew, d, n);
        ls_iter++;
    }
    if (ls_iter == max_ls) {
        br[0] = 0;
        br[1] = tt;
        bf[0] = f0;
        bf[1] = f_new;
        memcpy(w->bg[0], g, nb);
        memcpy(w->bg[1], w->gnew, nb);
    }
    int insuf = 0;
    int lo = bf[0] <= bf[two] ? 0 : 1, hi = 1 - lo;
    while (!done && ls_iter < max_ls) {
        if (fabs(br[1] - br[0]) * d_norm < tol_change) break;
        tt = cubic(br[0], bf[0], bgtd[0], br[1], bf[1], bgtd[1], 0, 0, 0);
        double bmax = py_max(br[0], br[1]), bmin = py_min(br[0], br[1]);
        double eps = 0.1 * (bmax - bmin);
        if (py_min(bmax - tt, tt - bmin) < eps) {
            if (insuf || tt >= bmax || tt <= bmin) {
                tt = fabs(tt - bmax) < fabs(tt - bmin) ? bmax - eps : bmin + eps;
                insuf = 0;
            } else {
                insuf = 1;
            }
        } else {
            insuf = 0;
        }
        st = evaluate(L, x, tt, d, &f_new, w->gnew, err);
        if (st != CN_OK) return st;
        evals++;
        gtd_new = dot(w->gnew, d, n);
        ls_iter++;
        if (f_new > f0 + c1 * tt * gtd || f_new >= bf[lo]) {
            br[hi] = tt;
            bf[hi] = f_new;
            memcpy(w->bg[hi], w->gnew, nb);
            bgtd[hi] = gtd_new;
            lo = bf[0] <= bf[1] ? 0 : 1;
            hi = 1 - lo;
        } else {
            if (fabs(gtd_new) <= -c2 * gtd) {
                done = 1;
            } else if (gtd_new * (br[hi] - br[lo]) >= 0) {
                br[hi] = br[lo];
                bf[hi] = bf[lo];
                memcpy(w->bg[hi], w->bg[lo], nb);
                bgtd[hi] = bgtd[lo];
            }
            br[lo] = tt;
            bf[lo] = f_new;
            memcpy(w->bg[lo], w->gnew, nb);
            bgtd[lo] = gtd_new;
        }
    }
    *t = br[lo];
    *f = bf[lo];
    memcpy(g, w->bg[lo], nb);
    *ls_evals = evals;
    return CN_OK;
}

cn_lbfgs_config cn_lbfgs_config_default(void)
{
    cn_lbfgs_config c;
    memset(&c, 0, sizeof c);
    c.lr = 1;
    c.max_iter = 20;
    c.max_eval = 0;
    c.tolerance_grad = 1e-7;
    c.tolerance_change = 1e-9;
    c.history = 100;
    c.line_search = CN_LBFGS_FIXED;
    return c;
}

/* check_config: CN_ERR_ARG naming a bad setting. */
static cn_status check_config(const cn_lbfgs_config *c, cn_error *err)
{
    if (!isfinite(c->lr) || c->lr <= 0)
        return cn_error_set(err, CN_ERR_ARG, "lbfgs: config: lr = %g: must be finite and > 0",
                            c->lr);
    if (c->max_iter < 1)
        return cn_error_set(err, CN_ERR_ARG, "lbfgs: config: max_iter = %d: must be >= 1",
                            c->max_iter);
    if (c->max_eval < 0)
        return cn_error_set(err, CN_ERR_ARG,
                            "lbfgs: config: max_eval = %d: must be >= 0 (0: the default)",
                            c->max_eval);
    if (!isfinite(c->tolerance_grad) || c->tolerance_grad < 0)
        return cn_error_set(err, CN_ERR_ARG,
                            "lbfgs: config: tolerance_grad = %g: must be finite and >= 0",
                            c->tolerance_grad);
    if (!isfinite(c->tolerance_change) || c->tolerance_change < 0)
        return cn_error_set(err, CN_ERR_ARG,
                            "lbfgs: config: tolerance_change = %g: must be finite and >= 0",
                            c->tolerance_change);
    if (c->history < 1)
        return cn_error_set(err, CN_ERR_ARG, "lbfgs: config: history = %d: must be >= 1",
                            c->history);
    if (c->line_search != CN_LBFGS_FIXED && c->line_search != CN_LBFGS_STRONG_WOLFE)
        return cn_error_set(err, CN_ERR_ARG, "lbfgs: config: line_search = %d: not a search",
                            (int)c->line_search);
    return CN_OK;
}

cn_status cn_lbfgs_minimize(const cn_lbfgs_config *c, size_t n, cn_real *x, cn_lbfgs_fn fn,
                            void *ctx, cn_lbfgs_report *rep, cn_error *err)
{
    if (!c || !x || !fn || n == 0)
        return cn_error_set(err, CN_ERR_ARG, "lbfgs: NULL argument or n = 0");
    cn_status st = check_config(c, err);
    if (st != CN_OK) return st;
    int m = c->history;
    int max_eval = c->max_eval > 0 ? c->max_eval : c->max_iter * 5 / 4;
    /* doubles: s, y (m, n) each; g, prev_g, d, q-work, and 4 for the line search */
    size_t vecs = 2 * (size_t)m + 8, total, bytes, rbytes;
    if (cn_mul_overflow(vecs, n, &total) || cn_mul_overflow(total, sizeof(double), &bytes) ||
        cn_mul_overflow(2 * n, sizeof(cn_real), &rbytes))
        return cn_error_set(err, CN_ERR_RANGE, "lbfgs: %zu vectors of %zu doubles overflow",
                            vecs, n);
    double *mem = cn_malloc(bytes);
    cn_real *rmem = cn_malloc(rbytes);
    double *aux = cn_malloc(3 * (size_t)m * sizeof(double)); /* ro, al, (spare) (m) */
    if (!mem || !rmem || !aux) {
        cn_free(mem);
        cn_free(rmem);
        cn_free(aux);
        return cn_error_set(err, CN_ERR_NOMEM, "lbfgs: out of memory for %zu x %zu doubles",
                            vecs, n);
    }
    double *S = mem;                       /* (m, n) steps s = t d */
    double *Y = S + (size_t)m * n;         /* (m, n) gradient changes y */
    double *g = Y + (size_t)m * n;         /* (n) gradient at x */
    double *pg = g + n;                    /* (n) previous gradient */
    double *d = pg + n;                    /* (n) direction */
    double *q = d + n;                     /* (n) scratch */
    wolfe_ws w = {q + n, q + 2 * n, {q + 3 * n, q + 4 * n}};
    double *ro = aux, *al = aux + m;
    lbfgs L = {n, fn, ctx, rmem, rmem + n, 0};
    const char *stop = "max_iter";
    int n_iter = 0, head = 0, num_old = 0;
    double loss = 0, prev_loss = 0, t = 0, H_diag = 1;

    st = evaluate(&L, x, 0, NULL, &loss, g, err);
    double f0 = loss;
    if (st != CN_OK) goto done;
    if (max_abs(g, n) <= c->tolerance_grad) {
        stop = "gradient";
        goto done;
    }
    int evals = 1;
    while (n_iter < c->max_iter) {
        n_iter++;
        if (n_iter == 1) {
            for (size_t i = 0; i < n; i++) d[i] = -g[i];
            H_diag = 1;
        } else {
            /* y = g - prev_g, s = t d into the ring slot after the newest */
            int slot = (head + num_old) % m;
            if (num_old == m) slot = head;
            double *y = Y + (size_t)slot * n, *s = S + (size_t)slot * n;
            /* compute into q first: the slot may hold the oldest pair still needed
             * when the new one is rejected */
            double ys = 0;
            for (size_t i = 0; i < n; i++) q[i] = g[i] - pg[i];
            for (size_t i = 0; i < n; i++) ys += q[i] * (d[i] * t);
            if (ys > 1e-10) {
                memcpy(y, q, n * sizeof(double));
                for (size_t i = 0; i < n; i++) s[i] = d[i] * t;
                if (num_old == m) {
                    head = (head + 1) % m;
                } else {
                    num_old++;
                }
                ro[slot] = 1.0 / ys;
                H_diag = ys / dot(y, y, n);
            }
            /* two-loop recursion, newest to oldest then back */
            for (size_t i = 0; i < n; i++) q[i] = -g[i];
            for (int k = num_old - 1; k >= 0; k--) {
                int j = (head + k) % m;
                al[j] = dot(S + (size_t)j * n, q, n) * ro[j];
                const double *yj = Y + (size_t)j * n;
                for (size_t i = 0; i < n; i++) q[i] += -al[j] * yj[i];
            }
            for (size_t i = 0; i < n; i++) d[i] = q[i] * H_diag;
            for (int k = 0; k < num_old; k++) {
                int j = (head + k) % m;
                double be = dot(Y + (size_t)j * n, d, n) * ro[j];
                const double *sj = S + (size_t)j * n;
                for (size_t i = 0; i < n; i++) d[i] += (al[j] - be) * sj[i];
            }
        }
        memcpy(pg, g, n * sizeof(double));
        prev_loss = loss;
        if (n_iter == 1) {
            double l1 = 0;
            for (size_t i = 0; i < n; i++) l1 += fabs(g[i]);
            t = py_min(1.0, 1.0 / l1) * c->lr;
        } else {
            t = c->lr;
        }
        double gtd = dot(g, d, n);
        if (gtd > -c->tolerance_change) {
            stop = "direction";
            break;
        }
        int ls_evals = 0, opt = 0;
        if (c->line_search == CN_LBFGS_STRONG_WOLFE) {
            st = strong_wolfe(&L, &w, x, &t, d, &loss, g, gtd, c->tolerance_change, &ls_evals,
                              err);
            if (st != CN_OK) goto done;
            for (size_t i = 0; i < n; i++) x[i] = (cn_real)((double)x[i] + t * d[i]);
            opt = max_abs(g, n) <= c->tolerance_grad;
        } else {
            if (n_iter != c->max_iter) {
                st = evaluate(&L, x, t, d, &loss, g, err);
                if (st != CN_OK) goto done;
                memcpy(x, L.xt, n * sizeof(cn_real));
                opt = max_abs(g, n) <= c->tolerance_grad;
                ls_evals = 1;
            } else {
                for (size_t i = 0; i < n; i++) x[i] = (cn_real)((double)x[i] + t * d[i]);
            }
        }
        evals += ls_evals;
        if (n_iter == c->max_iter) {
            stop = "max_iter";
            break;
        }
        if (evals >= max_eval) {
            stop = "max_eval";
            break;
        }
        if (opt) {
            stop = "gradient";
            break;
        }
        if (max_abs(d, n) * fabs(t) <= c->tolerance_change) {
            stop = "step";
            break;
        }
        if (fabs(loss - prev_loss) < c->tolerance_change) {
            stop = "change";
            break;
        }
    }
done:
    if (rep) {
        rep->f0 = f0;
        rep->f = loss;
        rep->iterations = n_iter;
        rep->evaluations = L.evals;
        rep->stop = stop;
    }
    cn_free(mem);
    cn_free(rmem);
    cn_free(aux);
    return st;
}
