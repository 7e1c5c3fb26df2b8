/* src/data/eigen.c: the symmetric eigensolver behind PCA and whitening:
 * LAPACK's divide-and-conquer ssyevd_ / dsyevd_ (exported by Debian's OpenBLAS;
 * there is no LAPACKE there, so the Fortran prototypes are declared here) when
 * built with CBLAS, and a cyclic Jacobi method in double for BLAS=none builds.
 * Both return eigenvalues in descending order with sign-normalised unit
 * eigenvectors as rows, so the two agree on any matrix with distinct eigenvalues. */
#include "convnet/pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Jacobi: sweeps before giving up (it converges quadratically; 10-15 suffice). */
#define JACOBI_MAX_SWEEPS 60

#ifdef CN_USE_CBLAS
/* LAPACK (Fortran ABI, 32-bit integers as in Debian's OpenBLAS): the trailing
 * size_t arguments are the hidden lengths of the two CHARACTER arguments. */
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda,
             float *w, float *work, const int *lwork, int *iwork, const int *liwork,
             int *info, size_t jobz_len, size_t uplo_len);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork,
             int *info, size_t jobz_len, size_t uplo_len);
#endif

const char *cn_eigh_backend(void) {
#ifdef CN_USE_CBLAS
    return "lapack";
#else
    return "jacobi";
#endif
}

/* check_input: sizes and finiteness of the lower triangle of A (d, d). */
static cn_status check_input(const cn_real *A, int d, const char *who, cn_error *err) {
    if (d < 1) return cn_error_set(err, CN_ERR_ARG, "%s: dimension %d must be >= 1", who, d);
    if (d > CN_PCA_MAX_DIM)
        return cn_error_set(err, CN_ERR_RANGE, "%s: dimension %d above the maximum %d", who,
                            d, CN_PCA_MAX_DIM);
    CN_ASSERT(A != NULL);
    for (int r = 0; r < d; r++)
        for (int c = 0; c <= r; c++)
            if (!isfinite((double)A[(size_t)r * (size_t)d + (size_t)c]))
                return cn_error_set(err, CN_ERR_NUMERIC,
                                    "%s: matrix entry (%d, %d) is not finite", who, r, c);
    return CN_OK;
}

/* fix_signs: make the largest-magnitude entry (the first on a tie) of every
 * row of V (d, d) positive. */
static void fix_signs(cn_real *V, int d) {
    for (int i = 0; i < d; i++) {
        cn_real *v = V + (size_t)i * (size_t)d;   // v (d)
        int best = 0;
        cn_real bmag = (cn_real)fabs((double)v[0]);
        for (int j = 1; j < d; j++) {
            cn_real m = (cn_real)fabs((double)v[j]);
            if (m > bmag) {
                bmag = m;
                best = j;
            }
        }
        if (v[best] < 0)
            for (int j = 0; j < d; j++) v[j] = -v[j];
    }
}

/* An eigenvalue with its original position, for a deterministic sort. */
typedef struct eig_pair {
    double val;
    int idx;
} eig_pair;

/* cmp_desc: descending by value, ascending by position on ties. */
static int cmp_desc(const void *a, const void *b) {
    const eig_pair *x = a, *y = b;
    if (x->val > y->val) return -1;
    if (x->val < y->val) return 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

cn_status cn_eigh_jacobi(const cn_real *A, int d, cn_real *w, cn_real *V, cn_error *err) {
    cn_status s = check_input(A, d, "eigh (jacobi)", err);
    if (s != CN_OK) return s;
    CN_ASSERT(w != NULL && V != NULL);
    size_t n = (size_t)d, nn = n * n;
    double *a = cn_malloc(nn * sizeof *a);     // a (d, d): the matrix, rotated to diagonal
    double *vt = cn_calloc(nn, sizeof *vt);    // vt (d, d): row i = eigenvector i
    eig_pair *ord = cn_malloc(n * sizeof *ord); // ord (d)
    if (!a || !vt || !ord) {
        cn_free(a);
        cn_free(vt);
        cn_free(ord);
        return cn_error_set(err, CN_ERR_NOMEM, "eigh (jacobi): out of memory for d = %d", d);
    }
    for (size_t r = 0; r < n; r++) {
        for (size_t c = 0; c <= r; c++) a[r * n + c] = a[c * n + r] = (double)A[r * n + c];
        vt[r * n + r] = 1.0;
    }
    int converged = 0;
    for (int sweep = 1; sweep <= JACOBI_MAX_SWEEPS && !converged; sweep++) {
        double sm = 0.0;
        for (size_t p = 0; p < n; p++)
            for (size_t q = p + 1; q < n; q++) sm += fabs(a[p * n + q]);
        if (sm == 0.0) {
            converged = 1;
            break;
        }
        /* Early sweeps rotate only the larger entries (Numerical Recipes, 11.1). */
        double tresh = sweep < 4 ? 0.2 * sm / (double)(nn) : 0.0;
        for (size_t p = 0; p + 1 < n; p++) {
            for (size_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                double app = a[p * n + p], aqq = a[q * n + q];
                double g = 100.0 * fabs(apq);
                if (sweep > 4 && fabs(app) + g == fabs(app) && fabs(aqq) + g == fabs(aqq)) {
                    a[p * n + q] = a[q * n + p] = 0.0;
                    continue;
                }
                if (fabs(apq) <= tresh || apq == 0.0) continue;
                double h = aqq - app, t;
                if (fabs(h) + g == fabs(h)) {
                    t = apq / h;
                } else {
                    double theta = 0.5 * h / apq;
                    t = 1.0 / (fabs(theta) + sqrt(1.0 + theta * theta));
                    if (theta < 0.0) t = -t;
                }
                double c = 1.0 / sqrt(1.0 + t * t), sn = t * c;
                double *rp = a + p * n, *rq = a + q * n;   // rows p and q (d)
                for (size_t r = 0; r < n; r++) {
                    double x = rp[r], y = rq[r];
                    rp[r] = c * x - sn * y;
                    rq[r] = sn * x + c * y;
                }
                for (size_t r = 0; r < n; r++) {
                    a[r * n + p] = rp[r];
                    a[r * n + q] = rq[r];
                }
                rp[p] = app - t * apq;
                rq[q] = aqq + t * apq;
                rp[q] = rq[p] = 0.0;
                double *vp = vt + p * n, *vq = vt + q * n;   // eigenvector rows p, q (d)
                for (size_t r = 0; r < n; r++) {
                    double x = vp[r], y = vq[r];
                    vp[r] = c * x - sn * y;
                    vq[r] = sn * x + c * y;
                }
            }
        }
    }
    if (!converged) {
        /* Accept when what is left off the diagonal is at round-off level. */
        double off = 0.0, tot = 0.0;
        for (size_t i = 0; i < nn; i++) tot += a[i] * a[i];
        for (size_t p = 0; p < n; p++)
            for (size_t q = 0; q < n; q++)
                if (p != q) off += a[p * n + q] * a[p * n + q];
        converged = off <= 1e-28 * tot;
    }
    if (!converged) {
        cn_free(a);
        cn_free(vt);
        cn_free(ord);
        return cn_error_set(err, CN_ERR_NUMERIC,
                            "eigh (jacobi): no convergence after %d sweeps (d = %d)",
                            JACOBI_MAX_SWEEPS, d);
    }
    for (size_t i = 0; i < n; i++) {
        ord[i].val = a[i * n + i];
        ord[i].idx = (int)i;
        if (!isfinite(ord[i].val)) {
            cn_free(a);
            cn_free(vt);
            cn_free(ord);
            return cn_error_set(err, CN_ERR_NUMERIC,
                                "eigh (jacobi): eigenvalue %zu is not finite (overflow)", i);
        }
    }
    qsort(ord, n, sizeof *ord, cmp_desc);
    for (size_t i = 0; i < n; i++) {
        w[i] = (cn_real)ord[i].val;
        const double *src = vt + (size_t)ord[i].idx * n;
        for (size_t j = 0; j < n; j++) V[i * n + j] = (cn_real)src[j];
    }
    fix_signs(V, d);
    cn_free(a);
    cn_free(vt);
    cn_free(ord);
    return CN_OK;
}

#ifdef CN_USE_CBLAS
/* eigh_lapack: ?syevd on a copy of A in V. Row-major A is column-major A^T = A;
 * its row-major lower triangle is the column-major upper one (uplo 'U'). On
 * return column j (column-major), that is row j of V, is the eigenvector of
 * w[j], ascending: both are reversed into descending order. */
static cn_status eigh_lapack(const cn_real *A, int d, cn_real *w, cn_real *V, cn_error *err) {
    size_t n = (size_t)d;
    memcpy(V, A, n * n * sizeof *V);
    /* Documented minimum workspaces for jobz = 'V'; CN_PCA_MAX_DIM keeps them in int. */
    long long lwork_min = 1 + 6 * (long long)d + 2 * (long long)d * d;
    long long liwork_min = 3 + 5 * (long long)d;
    int info = 0, lwork = -1, liwork = -1, iq = 0;
    cn_real wq = 0;
#ifdef CN_DOUBLE
    dsyevd_("V", "U", &d, V, &d, w, &wq, &lwork, &iq, &liwork, &info, 1, 1);
#else
    ssyevd_("V", "U", &d, V, &d, w, &wq, &lwork, &iq, &liwork, &info, 1, 1);
#endif
    long long lw = info == 0 && (double)wq > (double)lwork_min ? (long long)ceil((double)wq)
                                                                : lwork_min;
    long long liw = info == 0 && iq > liwork_min ? iq : liwork_min;
    if (lw > 0x7fffffffLL || liw > 0x7fffffffLL)
        return cn_error_set(err, CN_ERR_RANGE, "eigh (lapack): workspace for d = %d too large",
                            d);
    lwork = (int)lw;
    liwork = (int)liw;
    cn_real *work = cn_malloc((size_t)lwork * sizeof *work);   // work (lwork)
    int *iwork = cn_malloc((size_t)liwork * sizeof *iwork);    // iwork (liwork)
    if (!work || !iwork) {
        cn_free(work);
        cn_free(iwork);
        return cn_error_set(err, CN_ERR_NOMEM, "eigh (lapack): out of memory for d = %d", d);
    }
    info = 0;
#ifdef CN_DOUBLE
    dsyevd_("V", "U", &d, V, &d, w, work, &lwork, iwork, &liwork, &info, 1, 1);
#else
    ssyevd_("V", "U", &d, V, &d, w, work, &lwork, iwork, &liwork, &info, 1, 1);
#endif
    cn_free(work);
    cn_free(iwork);
    if (info < 0)
        return cn_error_set(err, CN_ERR_ARG, "eigh (lapack): argument %d rejected", -info);
    if (info > 0)
        return cn_error_set(err, CN_ERR_NUMERIC,
                            "eigh (lapack): no convergence (info %d, d = %d)", info, d);
    for (size_t i = 0, j = n - 1; i < j; i++, j--) {
        cn_real t = w[i];
        w[i] = w[j];
        w[j] = t;
        cn_real *ri = V + i * n, *rj = V + j * n;   // rows i and j (d)
        for (size_t c = 0; c < n; c++) {
            cn_real u = ri[c];
            ri[c] = rj[c];
            rj[c] = u;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite((double)w[i]))
            return cn_error_set(err, CN_ERR_NUMERIC,
                                "eigh (lapack): eigenvalue %zu is not finite (overflow)", i);
    fix_signs(V, d);
    return CN_OK;
}
#endif

cn_status cn_eigh(const cn_real *A, int d, cn_real *w, cn_real *V, cn_error *err) {
#ifdef CN_USE_CBLAS
    cn_status s = check_input(A, d, "eigh (lapack)", err);
    if (s != CN_OK) return s;
    CN_ASSERT(w != NULL && V != NULL);
    return eigh_lapack(A, d, w, V, err);
#else
    return cn_eigh_jacobi(A, d, w, V, err);
#endif
}
