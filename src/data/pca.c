/* src/data/pca.c: PCA, PCA whitening and ZCA whitening (CS231n, "Data
 * preprocessing") and per-dimension scaling to [-1, 1]: statistics fitted on
 * the training rows only, applied to any split with those statistics, and saved
 * to / loaded from safetensors tensors under a name prefix so a model file can
 * carry them. The covariance is one cn_gemm per block of centred rows; the
 * eigendecomposition is cn_eigh (src/data/eigen.c). */
#include "convnet/pca.h"

#include "convnet/kernels.h"

#include <math.h>
#include <string.h>

/* Rows are centred into a scratch block of at most this many values (16 MiB of
 * float): fitting never copies the whole of X, and n * d up to this is one GEMM. */
#define PCA_BLOCK_VALUES ((size_t)1 << 22)
/* A loaded component's length must be 1 within this. */
#define PCA_UNIT_TOL 1e-3

static const char *const mode_names[CN_PCA_MODE_COUNT] = {"reduce", "whiten", "zca"};

const char *cn_pca_mode_name(cn_pca_mode m) {
    if ((int)m < 0 || m >= CN_PCA_MODE_COUNT) return "unknown";
    return mode_names[m];
}

cn_status cn_pca_mode_parse(const char *s, cn_pca_mode *out, cn_error *err) {
    CN_ASSERT(out != NULL);
    for (int m = 0; m < CN_PCA_MODE_COUNT; m++)
        if (s && strcmp(s, mode_names[m]) == 0) {
            *out = (cn_pca_mode)m;
            return CN_OK;
        }
    return cn_error_set(err, CN_ERR_ARG, "unknown PCA mode '%s' (expected reduce, whiten or zca)",
                        s ? s : "(null)");
}

void cn_pca_free(cn_pca *pca) {
    if (!pca) return;
    cn_free(pca->mean);
    cn_free(pca->eigvals);
    cn_free(pca->components);
    memset(pca, 0, sizeof *pca);
}

/* check_size: 1 <= n (or 0 when allow_empty), 1 <= d <= CN_PCA_MAX_DIM, and
 * n * d fits in size_t. */
static cn_status check_size(int n, int d, int allow_empty, const char *who, cn_error *err) {
    if (n < (allow_empty ? 0 : 1))
        return cn_error_set(err, CN_ERR_ARG, "%s: %d rows (need at least %d)", who, n,
                            allow_empty ? 0 : 1);
    if (d < 1) return cn_error_set(err, CN_ERR_ARG, "%s: dimension %d must be >= 1", who, d);
    if (d > CN_PCA_MAX_DIM)
        return cn_error_set(err, CN_ERR_RANGE, "%s: dimension %d above the maximum %d", who,
                            d, CN_PCA_MAX_DIM);
    size_t nd;
    if (cn_mul_overflow((size_t)n, (size_t)d, &nd) || cn_mul_overflow(nd, sizeof(cn_real), &nd))
        return cn_error_set(err, CN_ERR_RANGE, "%s: %d x %d values overflow", who, n, d);
    return CN_OK;
}

/* find_nonfinite: the first NaN / Inf of X (n, d) as an error naming its place. */
static cn_status find_nonfinite(const cn_real *X, int n, int d, const char *who,
                                cn_error *err) {
    for (int r = 0; r < n; r++)
        for (int c = 0; c < d; c++)
            if (!isfinite((double)X[(size_t)r * (size_t)d + (size_t)c]))
                return cn_error_set(err, CN_ERR_NUMERIC, "%s: row %d, column %d is not finite",
                                    who, r, c);
    return CN_OK;
}

/* block_rows: rows per centring block for dimension d (at least 1, at most n). */
static int block_rows(int n, int d) {
    size_t b = PCA_BLOCK_VALUES / (size_t)d;
    if (b < 1) b = 1;
    return b < (size_t)n ? (int)b : n;
}

/* center_block: B (rows, d) = X (rows, d) - mean (d). */
static void center_block(const cn_real *restrict X, const cn_real *restrict mean, int rows,
                         int d, cn_real *restrict B) {
    for (int r = 0; r < rows; r++) {
        const cn_real *x = X + (size_t)r * (size_t)d;   // x (d)
        cn_real *b = B + (size_t)r * (size_t)d;         // b (d)
        for (int j = 0; j < d; j++) b[j] = x[j] - mean[j];
    }
}

cn_status cn_pca_fit(const cn_real *X, int n, int d, cn_pca *out, cn_error *err) {
    CN_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    cn_status s = check_size(n, d, 0, "pca fit", err);
    if (s != CN_OK) return s;
    CN_ASSERT(X != NULL);
    size_t dd = (size_t)d * (size_t)d;
    int bs = block_rows(n, d);
    double *sum = cn_calloc((size_t)d, sizeof *sum);               // sum (d)
    cn_real *blk = cn_malloc((size_t)bs * (size_t)d * sizeof *blk); // blk (bs, d)
    cn_real *cov = cn_malloc(dd * sizeof *cov);                     // cov (d, d)
    out->mean = cn_malloc((size_t)d * sizeof *out->mean);
    out->eigvals = cn_malloc((size_t)d * sizeof *out->eigvals);
    out->components = cn_malloc(dd * sizeof *out->components);
    if (!sum || !blk || !cov || !out->mean || !out->eigvals || !out->components) {
        s = cn_error_set(err, CN_ERR_NOMEM, "pca fit: out of memory for d = %d", d);
        goto done;
    }
    for (int r = 0; r < n; r++) {
        const cn_real *x = X + (size_t)r * (size_t)d;   // x (d)
        for (int j = 0; j < d; j++) sum[j] += (double)x[j];
    }
    for (int j = 0; j < d; j++)
        if (!isfinite(sum[j])) {
            s = find_nonfinite(X, n, d, "pca fit", err);
            if (s == CN_OK)
                s = cn_error_set(err, CN_ERR_NUMERIC, "pca fit: column %d sum overflows", j);
            goto done;
        }
    for (int j = 0; j < d; j++) out->mean[j] = (cn_real)(sum[j] / (double)n);
    /* cov = sum over blocks of B^T B / n, B the centred rows of the block. */
    cn_real inv_n = (cn_real)(1.0 / (double)n);
    for (int r0 = 0; r0 < n; r0 += bs) {
        int rows = n - r0 < bs ? n - r0 : bs;
        center_block(X + (size_t)r0 * (size_t)d, out->mean, rows, d, blk);
        cn_gemm(CN_TRANS, CN_NO_TRANS, d, d, rows, inv_n, blk, d, blk, d,
                r0 == 0 ? (cn_real)0 : (cn_real)1, cov, d);
    }
    double trace = 0.0;
    for (int j = 0; j < d; j++) trace += (double)cov[(size_t)j * (size_t)d + (size_t)j];
    s = cn_eigh(cov, d, out->eigvals, out->components, err);
    if (s != CN_OK) {
        cn_error_prefix(err, "pca fit: ");
        goto done;
    }
    for (int j = 0; j < d; j++)
        if (out->eigvals[j] < 0) out->eigvals[j] = 0;
    out->d = d;
    out->m = d;
    out->total_var = (cn_real)trace;
done:
    cn_free(sum);
    cn_free(blk);
    cn_free(cov);
    if (s != CN_OK) cn_pca_free(out);
    return s;
}

cn_status cn_pca_truncate(cn_pca *pca, int k, cn_error *err) {
    CN_ASSERT(pca != NULL);
    if (k < 1 || k > pca->m)
        return cn_error_set(err, CN_ERR_ARG, "pca truncate: k = %d outside 1..%d", k, pca->m);
    /* Shrinking keeps the prefix of both arrays; a failed realloc keeps the old block. */
    cn_real *e = cn_realloc(pca->eigvals, (size_t)k * sizeof *e);
    if (e) pca->eigvals = e;
    cn_real *c = cn_realloc(pca->components, (size_t)k * (size_t)pca->d * sizeof *c);
    if (c) pca->components = c;
    pca->m = k;
    return CN_OK;
}

double cn_pca_explained(const cn_pca *pca, int k) {
    CN_ASSERT(pca != NULL);
    if (k < 0) k = 0;
    if (k > pca->m) k = pca->m;
    if (!(pca->total_var > 0)) return 1.0;
    double s = 0.0;
    for (int i = 0; i < k; i++) s += (double)pca->eigvals[i];
    double r = s / (double)pca->total_var;
    return r > 1.0 ? 1.0 : r;
}

int cn_pca_components_for(const cn_pca *pca, double ratio) {
    CN_ASSERT(pca != NULL);
    if (!(pca->total_var > 0)) return 1;
    double s = 0.0;
    for (int i = 0; i < pca->m; i++) {
        s += (double)pca->eigvals[i];
        if (s / (double)pca->total_var >= ratio) return i + 1;
    }
    return pca->m;
}

int cn_pca_out_dim(const cn_pca *pca, cn_pca_mode mode, int k) {
    CN_ASSERT(pca != NULL);
    if (mode == CN_PCA_ZCA) return pca->d;
    return k == 0 ? pca->m : k;
}

/* build_map: the forward map W (p, d) of mode (inverse == 0), or the inverse map
 * M (p, d) with out = Y M + mean (inverse == 1). */
static cn_status build_map(const cn_pca *pca, cn_pca_mode mode, int k, double eps,
                           int inverse, cn_real *W, const char *who, cn_error *err) {
    CN_ASSERT(pca != NULL && W != NULL);
    if ((int)mode < 0 || mode >= CN_PCA_MODE_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "%s: invalid mode %d", who, (int)mode);
    if (k == 0) k = pca->m;
    if (k < 1 || k > pca->m)
        return cn_error_set(err, CN_ERR_ARG, "%s: k = %d outside 1..%d", who, k, pca->m);
    if (!(eps >= 0) || !isfinite(eps))
        return cn_error_set(err, CN_ERR_ARG, "%s: eps = %g must be finite and >= 0", who, eps);
    int d = pca->d;
    size_t kd = (size_t)k * (size_t)d;
    cn_real *S = W;   // S (k, d): diag(f) V_k, in W itself unless ZCA
    if (mode == CN_PCA_ZCA) {
        S = cn_malloc(kd * sizeof *S);
        if (!S) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for d = %d", who, d);
    }
    for (int i = 0; i < k; i++) {
        double f = 1.0;
        if (mode != CN_PCA_REDUCE) {
            double v = (double)pca->eigvals[i] + eps;
            if (!inverse && !(v > 0)) {
                if (S != W) cn_free(S);
                return cn_error_set(err, CN_ERR_NUMERIC,
                                    "%s: component %d has variance %g: whitening needs eps > 0",
                                    who, i, (double)pca->eigvals[i]);
            }
            f = inverse ? sqrt(v) : 1.0 / sqrt(v);
        }
        const cn_real *v = pca->components + (size_t)i * (size_t)d;   // v (d)
        cn_real *row = S + (size_t)i * (size_t)d;                      // row (d)
        for (int j = 0; j < d; j++) row[j] = (cn_real)(f * (double)v[j]);
    }
    if (mode == CN_PCA_ZCA) {
        /* W (d, d) = V_k^T S, then the upper triangle mirrored: exactly symmetric. */
        cn_gemm(CN_TRANS, CN_NO_TRANS, d, d, k, (cn_real)1, pca->components, d, S, d,
                (cn_real)0, W, d);
        for (size_t i = 0; i < (size_t)d; i++)
            for (size_t j = i + 1; j < (size_t)d; j++) W[j * (size_t)d + i] = W[i * (size_t)d + j];
        cn_free(S);
    }
    return CN_OK;
}

cn_status cn_pca_matrix(const cn_pca *pca, cn_pca_mode mode, int k, double eps,
                        cn_real *W, cn_error *err) {
    return build_map(pca, mode, k, eps, 0, W, "pca matrix", err);
}

cn_status cn_pca_project(const cn_real *mean, const cn_real *W, int p, int d,
                         const cn_real *X, int n, cn_real *out, cn_error *err) {
    cn_status s = check_size(n, d, 1, "pca project", err);
    if (s != CN_OK) return s;
    if (p < 1) return cn_error_set(err, CN_ERR_ARG, "pca project: %d outputs must be >= 1", p);
    if (n == 0) return CN_OK;
    CN_ASSERT(mean != NULL && W != NULL && X != NULL && out != NULL);
    int bs = block_rows(n, d);
    cn_real *blk = cn_malloc((size_t)bs * (size_t)d * sizeof *blk);   // blk (bs, d)
    if (!blk) return cn_error_set(err, CN_ERR_NOMEM, "pca project: out of memory");
    for (int r0 = 0; r0 < n; r0 += bs) {
        int rows = n - r0 < bs ? n - r0 : bs;
        center_block(X + (size_t)r0 * (size_t)d, mean, rows, d, blk);
        cn_gemm(CN_NO_TRANS, CN_TRANS, rows, p, d, (cn_real)1, blk, d, W, d, (cn_real)0,
                out + (size_t)r0 * (size_t)p, p);
    }
    cn_free(blk);
    return CN_OK;
}

/* map_alloc: *W (p, d) for the map of mode with k components; *p its row count. */
static cn_status map_alloc(const cn_pca *pca, cn_pca_mode mode, int k, cn_real **W, int *p,
                           const char *who, cn_error *err) {
    *W = NULL;
    if (k < 0 || k > pca->m)
        return cn_error_set(err, CN_ERR_ARG, "%s: k = %d outside 1..%d", who, k, pca->m);
    *p = cn_pca_out_dim(pca, mode, k);
    *W = cn_malloc((size_t)*p * (size_t)pca->d * sizeof **W);   // W (p, d)
    if (!*W) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", who);
    return CN_OK;
}

cn_status cn_pca_transform(const cn_pca *pca, cn_pca_mode mode, int k, double eps,
                           const cn_real *X, int n, cn_real *out, cn_error *err) {
    CN_ASSERT(pca != NULL);
    if (n < 0) return cn_error_set(err, CN_ERR_ARG, "pca transform: %d rows", n);
    cn_real *W;
    int p;
    cn_status s = map_alloc(pca, mode, k, &W, &p, "pca transform", err);
    if (s == CN_OK) s = build_map(pca, mode, k, eps, 0, W, "pca transform", err);
    if (s == CN_OK) s = cn_pca_project(pca->mean, W, p, pca->d, X, n, out, err);
    cn_free(W);
    return s;
}

cn_status cn_pca_inverse(const cn_pca *pca, cn_pca_mode mode, int k, double eps,
                         const cn_real *Y, int n, cn_real *out, cn_error *err) {
    CN_ASSERT(pca != NULL);
    cn_status s = check_size(n, pca->d, 1, "pca inverse", err);
    if (s != CN_OK) return s;
    cn_real *M;
    int p;
    s = map_alloc(pca, mode, k, &M, &p, "pca inverse", err);
    if (s == CN_OK) s = build_map(pca, mode, k, eps, 1, M, "pca inverse", err);
    if (s == CN_OK && n > 0) {
        CN_ASSERT(Y != NULL && out != NULL);
        int d = pca->d;
        cn_gemm(CN_NO_TRANS, CN_NO_TRANS, n, d, p, (cn_real)1, Y, p, M, d, (cn_real)0, out, d);
        for (int r = 0; r < n; r++) {
            cn_real *o = out + (size_t)r * (size_t)d;   // o (d)
            for (int j = 0; j < d; j++) o[j] += pca->mean[j];
        }
    }
    cn_free(M);
    return s;
}

/* ------------------------------------------------------------------ files */

/* tensor_name: a cn_malloc'd prefix + suffix, or NULL. */
static char *tensor_name(const char *prefix, const char *suffix) {
    if (!prefix) prefix = "";
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = cn_malloc(a + b + 1);
    if (!s) return NULL;
    memcpy(s, prefix, a);
    memcpy(s + a, suffix, b + 1);
    return s;
}

/* add_array: add data (shape dims[0..ndim)) to w as prefix + suffix. */
static cn_status add_array(cn_st_writer *w, const char *prefix, const char *suffix,
                           cn_real *data, int ndim, int d0, int d1, cn_error *err) {
    char *name = tensor_name(prefix, suffix);
    if (!name) return cn_error_set(err, CN_ERR_NOMEM, "save: out of memory");
    cn_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.ndim = ndim;
    t.shape[0] = d0;
    t.shape[1] = d1;
    t.numel = (size_t)d0 * (ndim == 2 ? (size_t)d1 : 1);
    cn_status s = cn_st_writer_add_real(w, name, &t, err);
    cn_free(name);
    return s;
}

cn_status cn_pca_save(const cn_pca *pca, cn_st_writer *w, const char *prefix,
                      cn_error *err) {
    CN_ASSERT(pca != NULL && w != NULL);
    if (pca->d < 1 || pca->m < 1 || pca->m > pca->d || !pca->mean)
        return cn_error_set(err, CN_ERR_ARG, "pca save: the PCA is not fitted");
    cn_real tv = pca->total_var;
    cn_status s = add_array(w, prefix, "mean", pca->mean, 1, pca->d, 0, err);
    if (s == CN_OK) s = add_array(w, prefix, "eigvals", pca->eigvals, 1, pca->m, 0, err);
    if (s == CN_OK) s = add_array(w, prefix, "components", pca->components, 2, pca->m, pca->d, err);
    if (s == CN_OK) s = add_array(w, prefix, "total_var", &tv, 1, 1, 0, err);
    return s;
}

/* get_array: tensor prefix + suffix of st as a new cn_tensor of rank ndim
 * (CN_ERR_FORMAT otherwise), its name in *name (cn_malloc'd, for messages). */
static cn_status get_array(const cn_safetensors *st, const char *prefix, const char *suffix,
                           int ndim, cn_tensor **t, char **name, cn_error *err) {
    *t = NULL;
    *name = tensor_name(prefix, suffix);
    if (!*name) return cn_error_set(err, CN_ERR_NOMEM, "load: out of memory");
    cn_status s = cn_safetensors_get_real(st, *name, t, err);
    if (s != CN_OK) return s;
    if ((*t)->ndim != ndim)
        return cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': rank %d, expected %d", *name,
                            (*t)->ndim, ndim);
    for (size_t i = 0; i < (*t)->numel; i++)
        if (!isfinite((double)(*t)->data[i]))
            return cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': value %zu is not finite",
                                *name, i);
    return CN_OK;
}

/* take: move t's data out (t freed; its data now owned by the caller). */
static cn_real *take(cn_tensor **t, cn_error *err, cn_status *s) {
    size_t bytes = (*t)->numel * sizeof(cn_real);
    cn_real *p = cn_malloc(bytes ? bytes : 1);
    if (!p) {
        *s = cn_error_set(err, CN_ERR_NOMEM, "load: out of memory");
    } else {
        memcpy(p, (*t)->data, bytes);
    }
    cn_tensor_free(*t);
    *t = NULL;
    return p;
}

cn_status cn_pca_load(const cn_safetensors *st, const char *prefix, cn_pca *out,
                      cn_error *err) {
    CN_ASSERT(st != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    cn_tensor *mean = NULL, *ev = NULL, *comp = NULL, *tv = NULL;
    char *n_mean = NULL, *n_ev = NULL, *n_comp = NULL, *n_tv = NULL;
    cn_status s = get_array(st, prefix, "mean", 1, &mean, &n_mean, err);
    if (s == CN_OK) s = get_array(st, prefix, "eigvals", 1, &ev, &n_ev, err);
    if (s == CN_OK) s = get_array(st, prefix, "components", 2, &comp, &n_comp, err);
    if (s == CN_OK) s = get_array(st, prefix, "total_var", 1, &tv, &n_tv, err);
    if (s != CN_OK) goto done;
    int d = mean->shape[0], m = ev->shape[0];
    if (d < 1 || d > CN_PCA_MAX_DIM) {
        s = cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': dimension %d outside 1..%d", n_mean,
                         d, CN_PCA_MAX_DIM);
    } else if (m < 1 || m > d) {
        s = cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': %d eigenvalues, expected 1..%d",
                         n_ev, m, d);
    } else if (comp->shape[0] != m || comp->shape[1] != d) {
        s = cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': shape (%d, %d), expected (%d, %d)",
                         n_comp, comp->shape[0], comp->shape[1], m, d);
    } else if (tv->shape[0] != 1 || tv->data[0] < 0) {
        s = cn_error_set(err, CN_ERR_FORMAT,
                         "tensor '%s': expected one non-negative value", n_tv);
    }
    for (int i = 0; s == CN_OK && i < m; i++) {
        if (ev->data[i] < 0 || (i > 0 && ev->data[i] > ev->data[i - 1]))
            s = cn_error_set(err, CN_ERR_FORMAT,
                             "tensor '%s': value %d is negative or out of descending order",
                             n_ev, i);
    }
    for (int i = 0; s == CN_OK && i < m; i++) {
        double q = 0.0;
        const cn_real *v = comp->data + (size_t)i * (size_t)d;   // v (d)
        for (int j = 0; j < d; j++) q += (double)v[j] * (double)v[j];
        if (fabs(sqrt(q) - 1.0) > PCA_UNIT_TOL)
            s = cn_error_set(err, CN_ERR_FORMAT,
                             "tensor '%s': row %d has length %g, expected 1", n_comp, i,
                             sqrt(q));
    }
    if (s != CN_OK) goto done;
    out->d = d;
    out->m = m;
    out->total_var = tv->data[0];
    out->mean = take(&mean, err, &s);
    out->eigvals = take(&ev, err, &s);
    out->components = take(&comp, err, &s);
done:
    cn_tensor_free(mean);
    cn_tensor_free(ev);
    cn_tensor_free(comp);
    cn_tensor_free(tv);
    cn_free(n_mean);
    cn_free(n_ev);
    cn_free(n_comp);
    cn_free(n_tv);
    if (s != CN_OK) cn_pca_free(out);
    return s;
}

/* ------------------------------------------------------------------ [-1, 1] */

void cn_scale_pm1(cn_real *X, size_t count) {
    CN_ASSERT(X != NULL || count == 0);
    for (size_t i = 0; i < count; i++) X[i] = 2 * X[i] - 1;
}

void cn_scale_free(cn_scale *s) {
    if (!s) return;
    cn_free(s->lo);
    cn_free(s->hi);
    memset(s, 0, sizeof *s);
}

cn_status cn_scale_fit(const cn_real *X, int n, int d, cn_scale *out, cn_error *err) {
    CN_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (n < 1 || d < 1)
        return cn_error_set(err, CN_ERR_ARG, "scale fit: %d rows of dimension %d (need >= 1)",
                            n, d);
    size_t nd;
    if (cn_mul_overflow((size_t)n, (size_t)d, &nd) || cn_mul_overflow(nd, sizeof(cn_real), &nd))
        return cn_error_set(err, CN_ERR_RANGE, "scale fit: %d x %d values overflow", n, d);
    CN_ASSERT(X != NULL);
    cn_status s = find_nonfinite(X, n, d, "scale fit", err);
    if (s != CN_OK) return s;
    out->lo = cn_malloc((size_t)d * sizeof *out->lo);
    out->hi = cn_malloc((size_t)d * sizeof *out->hi);
    if (!out->lo || !out->hi) {
        cn_scale_free(out);
        return cn_error_set(err, CN_ERR_NOMEM, "scale fit: out of memory");
    }
    memcpy(out->lo, X, (size_t)d * sizeof *X);
    memcpy(out->hi, X, (size_t)d * sizeof *X);
    for (int r = 1; r < n; r++) {
        const cn_real *x = X + (size_t)r * (size_t)d;   // x (d)
        for (int j = 0; j < d; j++) {
            if (x[j] < out->lo[j]) out->lo[j] = x[j];
            if (x[j] > out->hi[j]) out->hi[j] = x[j];
        }
    }
    out->d = d;
    return CN_OK;
}

cn_status cn_scale_apply(const cn_scale *s, cn_real *X, int n, int d, cn_error *err) {
    CN_ASSERT(s != NULL);
    if (d != s->d)
        return cn_error_set(err, CN_ERR_SHAPE, "scale apply: dimension %d, fitted on %d", d,
                            s->d);
    if (n < 0) return cn_error_set(err, CN_ERR_ARG, "scale apply: %d rows", n);
    CN_ASSERT(X != NULL || n == 0);
    for (int r = 0; r < n; r++) {
        cn_real *x = X + (size_t)r * (size_t)d;   // x (d)
        for (int j = 0; j < d; j++) {
            cn_real range = s->hi[j] - s->lo[j];
            x[j] = range > 0 ? 2 * (x[j] - s->lo[j]) / range - 1 : x[j] - s->lo[j];
        }
    }
    return CN_OK;
}

cn_status cn_scale_save(const cn_scale *s, cn_st_writer *w, const char *prefix,
                        cn_error *err) {
    CN_ASSERT(s != NULL && w != NULL);
    if (s->d < 1 || !s->lo || !s->hi)
        return cn_error_set(err, CN_ERR_ARG, "scale save: the scaling is not fitted");
    cn_status st = add_array(w, prefix, "lo", s->lo, 1, s->d, 0, err);
    if (st == CN_OK) st = add_array(w, prefix, "hi", s->hi, 1, s->d, 0, err);
    return st;
}

cn_status cn_scale_load(const cn_safetensors *st, const char *prefix, cn_scale *out,
                        cn_error *err) {
    CN_ASSERT(st != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    cn_tensor *lo = NULL, *hi = NULL;
    char *n_lo = NULL, *n_hi = NULL;
    cn_status s = get_array(st, prefix, "lo", 1, &lo, &n_lo, err);
    if (s == CN_OK) s = get_array(st, prefix, "hi", 1, &hi, &n_hi, err);
    if (s == CN_OK && lo->shape[0] < 1)
        s = cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': no values", n_lo);
    else if (s == CN_OK && hi->shape[0] != lo->shape[0])
        s = cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': %d values, '%s' has %d", n_hi,
                         hi->shape[0], n_lo, lo->shape[0]);
    for (int j = 0; s == CN_OK && j < lo->shape[0]; j++)
        if (lo->data[j] > hi->data[j])
            s = cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': value %d is above '%s'", n_lo,
                             j, n_hi);
    if (s == CN_OK) {
        out->d = lo->shape[0];
        out->lo = take(&lo, err, &s);
        out->hi = take(&hi, err, &s);
    }
    cn_tensor_free(lo);
    cn_tensor_free(hi);
    cn_free(n_lo);
    cn_free(n_hi);
    if (s != CN_OK) cn_scale_free(out);
    return s;
}
