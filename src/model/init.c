/* init.c: weight initialisers (torch.nn.init and the CS231n notes): kind and
 * nonlinearity names with nearest-name suggestions, calculate_gain, fan-in /
 * fan-out, spec validation, and cn_init_fill, which draws every random kind from the
 * caller's cn_rng in a fixed order (orthogonal through a Householder QR in double,
 * sparse in torch's column form or the notes' fixed-fan-in row form).
 * Formulas and advice: docs/init.md. */
#include "convnet/init.h"

#include <ctype.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#ifdef CN_DOUBLE
#define REAL_MAX DBL_MAX
#else
#define REAL_MAX FLT_MAX
#endif

/* ------------------------------------------------------------------ names */

static const char *const init_names[CN_INIT_COUNT] = {
    "default",        "zeros",           "ones",           "constant",
    "normal",         "uniform",         "xavier_normal",  "xavier_uniform",
    "kaiming_normal", "kaiming_uniform", "lecun_normal",   "lecun_uniform",
    "orthogonal",     "sparse",
};

/* Accepted spellings beyond init_names (never suggested, never printed). */
static const struct {
    const char *name;
    cn_init_kind kind;
} init_aliases[] = {
    {"glorot_normal", CN_INIT_XAVIER_NORMAL},
    {"glorot_uniform", CN_INIT_XAVIER_UNIFORM},
    {"he_normal", CN_INIT_KAIMING_NORMAL},
    {"he_uniform", CN_INIT_KAIMING_UNIFORM},
};

static const char *const gain_names[CN_GAIN_COUNT] = {
    "linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu",
};

/* calculate_gain's layer names, all of which mean the linear gain. */
static const char *const gain_linear_aliases[] = {
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *cn_init_name(cn_init_kind kind)
{
    if ((int)kind < 0 || kind >= CN_INIT_COUNT) return "?";
    return init_names[kind];
}

const char *cn_gain_name(cn_gain_kind k)
{
    if ((int)k < 0 || k >= CN_GAIN_COUNT) return "?";
    return gain_names[k];
}

/* edit_distance: Levenshtein distance of a and b, case-insensitive on a, each cut
 * to its first 63 characters (names are short). */
static int edit_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    int row[64];
    if (na > 63) na = 63;
    if (nb > 63) nb = 63;
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) == b[j - 1] ? 0 : 1;
            int best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* nearest: the entry of names (n) closest to s by edit distance (first on ties). */
static const char *nearest(const char *s, const char *const *names, size_t n)
{
    const char *best = names[0];
    int bd = edit_distance(s, best);
    for (size_t k = 1; k < n; k++) {
        int d = edit_distance(s, names[k]);
        if (d < bd) {
            bd = d;
            best = names[k];
        }
    }
    return best;
}

/* join: names (n) separated by ", " into buf (always NUL-terminated). */
static const char *join(const char *const *names, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < n && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? ", " : "", names[k]);
    return buf;
}

cn_status cn_init_parse(const char *name, cn_init_kind *out, cn_error *err)
{
    if (!name || !out) return cn_error_set(err, CN_ERR_ARG, "init: NULL argument");
    for (int k = 0; k < CN_INIT_COUNT; k++) {
        if (strcmp(name, init_names[k]) == 0) {
            *out = (cn_init_kind)k;
            return CN_OK;
        }
    }
    for (size_t k = 0; k < NELEM(init_aliases); k++) {
        if (strcmp(name, init_aliases[k].name) == 0) {
            *out = init_aliases[k].kind;
            return CN_OK;
        }
    }
    char list[256];
    return cn_error_set(err, CN_ERR_ARG,
                        "init: unknown initialiser '%.64s' (did you mean '%s'?; valid: %s)",
                        name, nearest(name, init_names, CN_INIT_COUNT),
                        join(init_names, CN_INIT_COUNT, list, sizeof list));
}

cn_status cn_gain_parse(const char *name, cn_gain_kind *out, cn_error *err)
{
    if (!name || !out) return cn_error_set(err, CN_ERR_ARG, "gain: NULL argument");
    for (int k = 0; k < CN_GAIN_COUNT; k++) {
        if (strcmp(name, gain_names[k]) == 0) {
            *out = (cn_gain_kind)k;
            return CN_OK;
        }
    }
    for (size_t k = 0; k < NELEM(gain_linear_aliases); k++) {
        if (strcmp(name, gain_linear_aliases[k]) == 0) {
            *out = CN_GAIN_LINEAR;
            return CN_OK;
        }
    }
    char list[128];
    return cn_error_set(err, CN_ERR_ARG,
                        "gain: unknown nonlinearity '%.64s' (did you mean '%s'?; valid: %s, "
                        "or a conv layer name for linear)",
                        name, nearest(name, gain_names, CN_GAIN_COUNT),
                        join(gain_names, CN_GAIN_COUNT, list, sizeof list));
}

/* ------------------------------------------------------------------ gain and fans */

double cn_init_gain(cn_gain_kind k, double param)
{
    switch (k) {
    case CN_GAIN_LINEAR:
    case CN_GAIN_SIGMOID: return 1.0;
    case CN_GAIN_TANH: return 5.0 / 3.0;
    case CN_GAIN_RELU: return sqrt(2.0);
    case CN_GAIN_LEAKY_RELU: return sqrt(2.0 / (1.0 + param * param));
    case CN_GAIN_SELU: return 3.0 / 4.0;
    case CN_GAIN_COUNT: break;
    }
    return NAN;
}

/* shape_str: "(64, 32, 3, 3)" into buf (always NUL-terminated; at most CN_MAX_DIMS
 * dims shown, "..." after). */
static const char *shape_str(int ndim, const int *shape, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    int shown = ndim < CN_MAX_DIMS ? ndim : CN_MAX_DIMS;
    for (int i = 0; i < shown && shape && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", i ? ", " : "", shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "%s)", ndim > shown ? ", ..." : "");
    return buf;
}

cn_status cn_init_fans(int ndim, const int *shape, double *fan_in, double *fan_out,
                       cn_error *err)
{
    if (!shape && ndim > 0) return cn_error_set(err, CN_ERR_ARG, "init fans: NULL shape");
    char s[160];
    if (ndim < 2)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "init fans: fan_in and fan_out need a weight of rank >= 2, got "
                            "rank %d %s",
                            ndim, shape_str(ndim, shape, s, sizeof s));
    if (ndim > CN_MAX_DIMS)
        return cn_error_set(err, CN_ERR_SHAPE, "init fans: rank %d > %d", ndim, CN_MAX_DIMS);
    double receptive = 1.0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return cn_error_set(err, CN_ERR_SHAPE, "init fans: shape %s: dim %d is negative",
                                shape_str(ndim, shape, s, sizeof s), i);
        if (i >= 2) receptive *= shape[i];
    }
    if (fan_in) *fan_in = (double)shape[1] * receptive;
    if (fan_out) *fan_out = (double)shape[0] * receptive;
    return CN_OK;
}

/* ------------------------------------------------------------------ specs */

cn_init cn_init_make(cn_init_kind kind)
{
    cn_init s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.value = 0.0;
    s.mean = 0.0;
    s.std = 1.0;
    s.low = 0.0;
    s.high = 1.0;
    s.gain = 1.0;
    s.nonlinearity = CN_GAIN_LEAKY_RELU;
    s.neg_slope = 0.0;
    s.fan_out = 0;
    s.sparsity = 0.9;
    s.nonzero = 0;
    s.sparse_std = 0.01;
    return s;
}

/* fits_real: x is finite and representable in cn_real without overflow. */
static int fits_real(double x)
{
    return isfinite(x) && fabs(x) <= (double)REAL_MAX;
}

/* check_real: CN_ERR_ARG if x is not finite, CN_ERR_RANGE if it overflows cn_real. */
static cn_status check_real(const char *nm, const char *field, double x, cn_error *err)
{
    if (!isfinite(x))
        return cn_error_set(err, CN_ERR_ARG, "init %s: %s %g is not finite", nm, field, x);
    if (!fits_real(x))
        return cn_error_set(err, CN_ERR_RANGE, "init %s: %s %g does not fit in %s", nm, field,
                            x, CN_REAL_NAME);
    return CN_OK;
}

cn_status cn_init_check(const cn_init *spec, cn_error *err)
{
    if (!spec) return cn_error_set(err, CN_ERR_ARG, "init: NULL spec");
    if ((int)spec->kind < 0 || spec->kind >= CN_INIT_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "init: invalid kind %d", (int)spec->kind);
    const char *nm = init_names[spec->kind];
    cn_status st = CN_OK;
    switch (spec->kind) {
    case CN_INIT_DEFAULT:
    case CN_INIT_ZEROS:
    case CN_INIT_ONES:
    case CN_INIT_LECUN_NORMAL:
    case CN_INIT_LECUN_UNIFORM: break;
    case CN_INIT_CONSTANT: st = check_real(nm, "value", spec->value, err); break;
    case CN_INIT_NORMAL:
        if ((st = check_real(nm, "mean", spec->mean, err)) != CN_OK) return st;
        if ((st = check_real(nm, "std", spec->std, err)) != CN_OK) return st;
        if (spec->std < 0)
            return cn_error_set(err, CN_ERR_ARG, "init %s: std %g < 0", nm, spec->std);
        break;
    case CN_INIT_UNIFORM:
        if ((st = check_real(nm, "low", spec->low, err)) != CN_OK) return st;
        if ((st = check_real(nm, "high", spec->high, err)) != CN_OK) return st;
        if (spec->low > spec->high)
            return cn_error_set(err, CN_ERR_ARG, "init %s: low %g > high %g", nm, spec->low,
                                spec->high);
        if (!isfinite(spec->high - spec->low))
            return cn_error_set(err, CN_ERR_ARG, "init %s: high - low (%g - %g) is not finite",
                                nm, spec->high, spec->low);
        break;
    case CN_INIT_XAVIER_NORMAL:
    case CN_INIT_XAVIER_UNIFORM:
    case CN_INIT_ORTHOGONAL:
        if (!isfinite(spec->gain))
            return cn_error_set(err, CN_ERR_ARG, "init %s: gain %g is not finite", nm,
                                spec->gain);
        break;
    case CN_INIT_KAIMING_NORMAL:
    case CN_INIT_KAIMING_UNIFORM:
        if ((int)spec->nonlinearity < 0 || spec->nonlinearity >= CN_GAIN_COUNT)
            return cn_error_set(err, CN_ERR_ARG, "init %s: invalid nonlinearity %d", nm,
                                (int)spec->nonlinearity);
        if (spec->nonlinearity == CN_GAIN_LEAKY_RELU && !isfinite(spec->neg_slope))
            return cn_error_set(err, CN_ERR_ARG, "init %s: neg_slope %g is not finite", nm,
                                spec->neg_slope);
        if (spec->fan_out != 0 && spec->fan_out != 1)
            return cn_error_set(err, CN_ERR_ARG,
                                "init %s: fan_out %d is not 0 (fan_in) or 1 (fan_out)", nm,
                                spec->fan_out);
        break;
    case CN_INIT_SPARSE:
        if (!(spec->sparsity >= 0.0 && spec->sparsity <= 1.0))
            return cn_error_set(err, CN_ERR_ARG, "init %s: sparsity %g is not in [0, 1]", nm,
                                spec->sparsity);
        if (spec->nonzero < 0)
            return cn_error_set(err, CN_ERR_ARG, "init %s: nonzero %d < 0", nm, spec->nonzero);
        if ((st = check_real(nm, "sparse_std", spec->sparse_std, err)) != CN_OK) return st;
        if (spec->sparse_std < 0)
            return cn_error_set(err, CN_ERR_ARG, "init %s: sparse_std %g < 0", nm,
                                spec->sparse_std);
        break;
    case CN_INIT_COUNT: break;
    }
    return st;
}

/* ------------------------------------------------------------------ fills */

/* fill_normal: w (n) = mean + std * N(0, 1), element order. */
static void fill_normal(cn_real *w, size_t n, double mean, double std, cn_rng *rng)
{
    for (size_t i = 0; i < n; i++) w[i] = (cn_real)(mean + std * cn_rng_normal(rng));
}

/* fill_uniform: w (n) = low + (high - low) * U[0, 1), element order. */
static void fill_uniform(cn_real *w, size_t n, double low, double high, cn_rng *rng)
{
    const double span = high - low;
    for (size_t i = 0; i < n; i++) w[i] = (cn_real)(low + span * cn_rng_uniform(rng));
}

/* householder_q: the thin QR of a (m, n), m >= n, column-major (a[j*m + i]),
 * destroyed: q (m, n) column-major receives Q with every column multiplied by the
 * sign of R's diagonal entry (0 counts as +1), i.e. the Q of the QR whose R has a
 * non-negative diagonal, which is what torch's Q *= sign(diag(R)) produces.
 * rdiag and vv (n) are scratch. */
static void householder_q(double *a, int m, int n, double *q, double *rdiag, double *vv)
{
    const size_t M = (size_t)m;
    for (int k = 0; k < n; k++) {
        double *v = a + (size_t)k * M; // column k; v = rows k..m-1
        double norm2 = 0;
        for (int i = k; i < m; i++) norm2 += v[i] * v[i];
        double norm = sqrt(norm2);
        double x0 = v[k];
        double alpha = x0 >= 0 ? -norm : norm; /* R[k][k]; no cancellation in v[k] */
        rdiag[k] = alpha;
        v[k] = x0 - alpha;
        double vn = 0;
        for (int i = k; i < m; i++) vn += v[i] * v[i];
        vv[k] = vn;
        if (vn == 0) continue; /* zero column: H_k = I */
        for (int j = k + 1; j < n; j++) {
            double *c = a + (size_t)j * M; // column j
            double s = 0;
            for (int i = k; i < m; i++) s += v[i] * c[i];
            double f = 2.0 * s / vn;
            for (int i = k; i < m; i++) c[i] -= f * v[i];
        }
    }
    /* Q = H_0 H_1 ... H_{n-1} [I_n; 0], applied right to left. */
    memset(q, 0, M * (size_t)n * sizeof *q);
    for (int j = 0; j < n; j++) q[(size_t)j * M + (size_t)j] = 1.0;
    for (int k = n - 1; k >= 0; k--) {
        if (vv[k] == 0) continue;
        const double *v = a + (size_t)k * M;
        for (int j = k; j < n; j++) { /* columns j < k of Q are still e_j there */
            double *c = q + (size_t)j * M;
            double s = 0;
            for (int i = k; i < m; i++) s += v[i] * c[i];
            double f = 2.0 * s / vv[k];
            for (int i = k; i < m; i++) c[i] -= f * v[i];
        }
    }
    for (int j = 0; j < n; j++) {
        if (rdiag[j] >= 0) continue;
        double *c = q + (size_t)j * M;
        for (int i = 0; i < m; i++) c[i] = -c[i];
    }
}

/* fill_orthogonal: w (rows, cols) as torch.nn.init.orthogonal_ (see the header). */
static cn_status fill_orthogonal(const char *nm, const char *shp, int rows, int cols,
                                 double gain, cn_real *w, cn_rng *rng, cn_error *err)
{
    const size_t numel = (size_t)rows * (size_t)cols;
    const int tr = rows < cols;
    const int m = tr ? cols : rows, n = tr ? rows : cols; /* factored matrix (m, n) */
    size_t nd, bytes;
    if (numel > (SIZE_MAX - 2 * (size_t)n) / 2 ||
        cn_mul_overflow(2 * numel + 2 * (size_t)n, sizeof(double), &bytes))
        return cn_error_set(err, CN_ERR_RANGE, "init %s: shape %s: QR workspace overflows",
                            nm, shp);
    nd = 2 * numel + 2 * (size_t)n;
    double *buf = cn_malloc(bytes);
    if (!buf)
        return cn_error_set(err, CN_ERR_NOMEM,
                            "init %s: shape %s: cannot allocate %zu doubles for the QR", nm,
                            shp, nd);
    double *a = buf;            // (m, n) column-major
    double *q = a + numel;      // (m, n) column-major
    double *rdiag = q + numel;  // (n)
    double *vv = rdiag + n;     // (n)
    /* The draws fill the (rows, cols) matrix in row-major order. Column-major (m, n)
     * storage of its transpose (cols, rows) is that same order; of the matrix itself
     * (rows >= cols) it is the transposed order. */
    if (tr) {
        for (size_t i = 0; i < numel; i++) a[i] = cn_rng_normal(rng);
    } else {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) a[(size_t)j * m + i] = cn_rng_normal(rng);
    }
    householder_q(a, m, n, q, rdiag, vv);
    if (tr) { /* W = Q^T: W[r][c] = Q[c][r] = q[r*m + c], m = cols */
        for (size_t i = 0; i < numel; i++) w[i] = (cn_real)(gain * q[i]);
    } else {  /* W = Q: W[r][c] = q[c*m + r], m = rows */
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                w[(size_t)r * cols + c] = (cn_real)(gain * q[(size_t)c * m + r]);
    }
    cn_free(buf);
    return CN_OK;
}

/* fill_sparse: w (rows, cols) as the header describes (torch's columns when
 * nonzero == 0, the notes' rows otherwise). */
static cn_status fill_sparse(const cn_init *spec, const char *shp, int rows, int cols,
                             cn_real *w, cn_rng *rng, cn_error *err)
{
    const char *nm = init_names[CN_INIT_SPARSE];
    const int notes = spec->nonzero > 0;
    const size_t nidx = (size_t)(notes ? cols : rows);
    size_t bytes;
    if (cn_mul_overflow(nidx, sizeof(int) + 1, &bytes))
        return cn_error_set(err, CN_ERR_RANGE, "init %s: shape %s: scratch overflows", nm, shp);
    int *idx = cn_malloc(bytes ? bytes : 1); // (nidx) then nidx mark bytes
    if (!idx)
        return cn_error_set(err, CN_ERR_NOMEM, "init %s: shape %s: cannot allocate scratch", nm,
                            shp);
    unsigned char *mark = (unsigned char *)(idx + nidx); // (nidx)
    const double std = spec->sparse_std;
    if (!notes) {
        /* torch.nn.init.sparse_: normal everywhere, then per column the first
         * num_zeros rows of a random permutation are zeroed. */
        const int num_zeros = (int)ceil(spec->sparsity * rows);
        fill_normal(w, (size_t)rows * cols, 0.0, std, rng);
        for (int c = 0; c < cols; c++) {
            for (int i = 0; i < rows; i++) idx[i] = i;
            for (int i = 0; i < num_zeros; i++) {
                int j = i + (int)cn_rng_below(rng, (uint32_t)(rows - i));
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
                w[(size_t)idx[i] * cols + c] = 0;
            }
        }
    } else {
        /* The notes: each output unit (row) connected to exactly `nonzero` random
         * inputs (columns); weights drawn in column order. */
        memset(mark, 0, nidx);
        for (int r = 0; r < rows; r++) {
            cn_real *wr = w + (size_t)r * cols; // (cols)
            for (int i = 0; i < cols; i++) idx[i] = i;
            for (int i = 0; i < spec->nonzero; i++) {
                int j = i + (int)cn_rng_below(rng, (uint32_t)(cols - i));
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
                mark[idx[i]] = 1;
            }
            for (int c = 0; c < cols; c++) {
                wr[c] = mark[c] ? (cn_real)(std * cn_rng_normal(rng)) : (cn_real)0;
                mark[c] = 0;
            }
        }
    }
    cn_free(idx);
    return CN_OK;
}

/* fan_based: kinds whose formula needs fans or a matrix view (rank >= 2). */
static int fan_based(cn_init_kind k)
{
    return k == CN_INIT_XAVIER_NORMAL || k == CN_INIT_XAVIER_UNIFORM ||
           k == CN_INIT_KAIMING_NORMAL || k == CN_INIT_KAIMING_UNIFORM ||
           k == CN_INIT_LECUN_NORMAL || k == CN_INIT_LECUN_UNIFORM || k == CN_INIT_ORTHOGONAL ||
           k == CN_INIT_SPARSE;
}

cn_status cn_init_fill(const cn_init *spec, int ndim, const int *shape, cn_real *w,
                       cn_rng *rng, cn_error *err)
{
    cn_status st = cn_init_check(spec, err);
    if (st != CN_OK) return st;
    const cn_init_kind kind = spec->kind;
    const char *nm = init_names[kind];
    if (kind == CN_INIT_DEFAULT)
        return cn_error_set(err, CN_ERR_ARG,
                            "init default: 'default' means the op's own initialiser and "
                            "cannot be filled; choose a kind");
    if (!shape && ndim > 0) return cn_error_set(err, CN_ERR_ARG, "init %s: NULL shape", nm);
    char shp[160];
    shape_str(ndim, shape, shp, sizeof shp);
    if (ndim < 1 || ndim > CN_MAX_DIMS)
        return cn_error_set(err, CN_ERR_SHAPE, "init %s: rank %d is not in 1..%d", nm, ndim,
                            CN_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return cn_error_set(err, CN_ERR_SHAPE, "init %s: shape %s: dim %d is negative", nm,
                                shp, i);
        if (cn_mul_overflow(numel, (size_t)shape[i], &numel))
            return cn_error_set(err, CN_ERR_RANGE,
                                "init %s: shape %s: element count overflows", nm, shp);
    }
    if (fan_based(kind) && ndim < 2)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "init %s: shape %s: needs a weight of rank >= 2 (fan_in, fan_out "
                            "or a matrix view; PyTorch raises too)",
                            nm, shp);
    if (kind == CN_INIT_SPARSE && ndim != 2)
        return cn_error_set(err, CN_ERR_SHAPE, "init %s: shape %s: needs a 2-D weight", nm,
                            shp);
    if (kind == CN_INIT_SPARSE && spec->nonzero > shape[1])
        return cn_error_set(err, CN_ERR_SHAPE,
                            "init %s: shape %s: nonzero %d > %d inputs per row", nm, shp,
                            spec->nonzero, shape[1]);
    if (numel == 0) return CN_OK; /* PyTorch: initialising an empty tensor is a no-op */
    if (!w) return cn_error_set(err, CN_ERR_ARG, "init %s: shape %s: NULL weights", nm, shp);
    if (!rng && kind != CN_INIT_ZEROS && kind != CN_INIT_ONES && kind != CN_INIT_CONSTANT)
        return cn_error_set(err, CN_ERR_ARG, "init %s: NULL rng", nm);

    double fan_in = 0, fan_out = 0, scale = 0; /* scale: std or bound */
    if (fan_based(kind)) {
        st = cn_init_fans(ndim, shape, &fan_in, &fan_out, err);
        CN_ASSERT(st == CN_OK); /* the shape was validated above */
    }
    switch (kind) {
    /* The distributions are symmetric, so only |gain| matters. */
    case CN_INIT_XAVIER_NORMAL: scale = fabs(spec->gain) * sqrt(2.0 / (fan_in + fan_out)); break;
    case CN_INIT_XAVIER_UNIFORM: scale = fabs(spec->gain) * sqrt(6.0 / (fan_in + fan_out)); break;
    case CN_INIT_KAIMING_NORMAL:
    case CN_INIT_KAIMING_UNIFORM: {
        double fan = spec->fan_out ? fan_out : fan_in;
        scale = cn_init_gain(spec->nonlinearity, spec->neg_slope) / sqrt(fan);
        if (kind == CN_INIT_KAIMING_UNIFORM) scale *= sqrt(3.0);
        break;
    }
    case CN_INIT_LECUN_NORMAL: scale = 1.0 / sqrt(fan_in); break;
    case CN_INIT_LECUN_UNIFORM: scale = sqrt(3.0 / fan_in); break;
    case CN_INIT_ORTHOGONAL: /* |entries| <= |gain| */
        scale = fabs(spec->gain);
        if (numel / (size_t)shape[0] > (size_t)INT_MAX)
            return cn_error_set(err, CN_ERR_RANGE,
                                "init %s: shape %s: %zu columns in the matrix view overflow int",
                                nm, shp, numel / (size_t)shape[0]);
        break;
    default: break;
    }
    if (!fits_real(scale))
        return cn_error_set(err, CN_ERR_RANGE, "init %s: shape %s: scale %g does not fit in %s",
                            nm, shp, scale, CN_REAL_NAME);

    switch (kind) {
    case CN_INIT_ZEROS:
        for (size_t i = 0; i < numel; i++) w[i] = 0;
        break;
    case CN_INIT_ONES:
        for (size_t i = 0; i < numel; i++) w[i] = 1;
        break;
    case CN_INIT_CONSTANT:
        for (size_t i = 0; i < numel; i++) w[i] = (cn_real)spec->value;
        break;
    case CN_INIT_NORMAL: fill_normal(w, numel, spec->mean, spec->std, rng); break;
    case CN_INIT_UNIFORM: fill_uniform(w, numel, spec->low, spec->high, rng); break;
    case CN_INIT_XAVIER_NORMAL:
    case CN_INIT_KAIMING_NORMAL:
    case CN_INIT_LECUN_NORMAL: fill_normal(w, numel, 0.0, scale, rng); break;
    case CN_INIT_XAVIER_UNIFORM:
    case CN_INIT_KAIMING_UNIFORM:
    case CN_INIT_LECUN_UNIFORM: fill_uniform(w, numel, -scale, scale, rng); break;
    case CN_INIT_ORTHOGONAL:
        return fill_orthogonal(nm, shp, shape[0], (int)(numel / (size_t)shape[0]), spec->gain,
                               w, rng, err);
    case CN_INIT_SPARSE: return fill_sparse(spec, shp, shape[0], shape[1], w, rng, err);
    case CN_INIT_DEFAULT:
    case CN_INIT_COUNT: break;
    }
    return CN_OK;
}
