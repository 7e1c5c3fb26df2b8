/* tests/support.c: helpers shared by the test binaries (see support.h). */
#include "support.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tst_tmpdir_make(char *dir, size_t size, const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    int n = snprintf(dir, size, "%s/cn_test_%s_XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(dir) ? 0 : -1;
}

void tst_tmpdir_remove(const char *dir)
{
    if (!dir || !*dir) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

cn_real *tst_reals(size_t n)
{
    cn_real *p = malloc((n ? n : 1) * sizeof *p);
    cr_assert(p);
    return p;
}

void tst_fill_normal(cn_rng *r, cn_real *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] = (cn_real)(scale * cn_rng_normal(r));
}

void tst_fill_nan(cn_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (cn_real)NAN;
}

double tst_max_abs_diff(const cn_real *a, const cn_real *b, size_t n)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > w || isnan(d)) w = d;
        if (isnan(w)) break;
    }
    return w;
}

cn_real *tst_zeros(size_t n)
{
    cn_real *v = calloc(n ? n : 1, sizeof *v);
    cr_assert(v);
    return v;
}

typedef struct gc_ctx {
    double (*fn)(void *arg);
    void *arg;
    double scale;
} gc_ctx;

static double gc_eval(void *ctx, const cn_real *x)
{
    (void)x;
    gc_ctx *g = ctx;
    return g->scale * g->fn(g->arg);
}

double tst_grad_err(double (*fn)(void *), void *arg, double scale, cn_real *x, size_t n,
                    const cn_real *analytic, double h)
{
    size_t *coords = malloc((n ? n : 1) * sizeof *coords);
    cr_assert(coords);
    for (size_t i = 0; i < n; i++) coords[i] = i;
    gc_ctx g = {fn, arg, scale};
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(gc_eval, &g, x, n, analytic, coords, n, 0, NULL, h, &res, &err),
                 CN_OK, "%s", err.msg);
    free(coords);
    cr_log_info("  worst coordinate %zu: analytic %.17g numeric %.17g", res.worst_index,
                res.worst_analytic, res.worst_numeric);
    return res.max_rel_err;
}

cn_tensor *tst_fx_tensor(const cn_safetensors *st, const char *name, size_t numel)
{
    cn_tensor *t = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_get_real(st, name, &t, &err), CN_OK, "%s", err.msg);
    if (numel)
        cr_assert_eq(t->numel, numel, "%s: %zu elements, expected %zu", name, t->numel, numel);
    return t;
}

double tst_fx_meta_num(const cn_safetensors *st, const char *key)
{
    const char *v = cn_safetensors_meta(st, key);
    cr_assert(v, "fixture metadata lacks %s", key);
    return strtod(v, NULL);
}

cn_real *tst_fx_reals(const cn_safetensors *st, const char *name, size_t numel)
{
    cr_assert(numel > 0, "%s: tst_fx_reals needs the element count", name);
    cn_tensor *t = tst_fx_tensor(st, name, numel);
    cn_real *v = tst_reals(numel);
    memcpy(v, t->data, numel * sizeof *v);
    cn_tensor_free(t);
    return v;
}

double tst_fx_scalar(const cn_safetensors *st, const char *name)
{
    cn_real *v = tst_fx_reals(st, name, 1);
    double s = (double)v[0];
    free(v);
    return s;
}

int *tst_fx_labels(const cn_safetensors *st, const char *name, size_t n)
{
    const cn_st_tensor *t = cn_safetensors_find(st, name);
    cr_assert(t, "fixture has no %s", name);
    cr_assert(t->dtype == CN_DTYPE_I64 && t->numel == n, "%s: not I64 (%zu)", name, n);
    int *y = malloc((n ? n : 1) * sizeof *y);
    cr_assert(y);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, t->data + 8 * i, 8);
        y[i] = (int)v;
    }
    return y;
}
