/* tests/test_pca.c: the symmetric eigensolver (LAPACK and Jacobi, on known
 * matrices and against each other), PCA fitted on training rows only (known
 * covariance, exact reconstruction, whitened data with identity covariance, ZCA
 * symmetric and in the input space, test data mapped with the training
 * statistics), scaling to [-1, 1], safetensors round-trips and rejected files,
 * and the variance top-50 components explain on Fashion-MNIST. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/data.h"
#include "convnet/pca.h"
#include "convnet/safetensors.h"
#include "support.h"

#ifdef CN_DOUBLE
#define TOL 1e-9    /* relative, on well-conditioned problems */
#else
#define TOL 2e-4
#endif

TestSuite(eigh);
TestSuite(pca);
TestSuite(scale);
TestSuite(pcafile);

/* ------------------------------------------------------------------ helpers */

/* gram_schmidt: orthonormalise the columns of M (rows, cols), in place (double). */
static void gram_schmidt(double *M, int rows, int cols) {
    for (int j = 0; j < cols; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < j; i++) {
                double dot = 0;
                for (int r = 0; r < rows; r++) dot += M[r * cols + i] * M[r * cols + j];
                for (int r = 0; r < rows; r++) M[r * cols + j] -= dot * M[r * cols + i];
            }
        double nrm = 0;
        for (int r = 0; r < rows; r++) nrm += M[r * cols + j] * M[r * cols + j];
        nrm = sqrt(nrm);
        for (int r = 0; r < rows; r++) M[r * cols + j] /= nrm;
    }
}

/* make_data: X (n, d) = mu + Z diag(sqrt(lambda)) Q^T with Z^T Z / n = I and
 * column means of Z exactly 0, so the sample covariance of X is exactly
 * Q diag(lambda) Q^T (to round-off) and its mean mu. Q (d, d) is a random
 * orthogonal matrix (columns = eigenvectors); mu (d). */
static void make_data(int n, int d, const double *lambda, uint64_t seed, cn_real *X,
                      double *Q, double *mu) {
    cn_rng rng;
    cn_rng_seed(&rng, seed, 7);
    double *Z = malloc(sizeof(double) * (size_t)n * (size_t)d);
    cr_assert_not_null(Z);
    for (int i = 0; i < n * d; i++) Z[i] = cn_rng_normal(&rng);
    for (int j = 0; j < d; j++) {
        double m = 0;
        for (int r = 0; r < n; r++) m += Z[r * d + j];
        m /= n;
        for (int r = 0; r < n; r++) Z[r * d + j] -= m;
    }
    gram_schmidt(Z, n, d);
    for (int i = 0; i < d * d; i++) Q[i] = cn_rng_normal(&rng);
    gram_schmidt(Q, d, d);
    for (int j = 0; j < d; j++) mu[j] = 0.5 + 0.1 * cn_rng_normal(&rng);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < d; j++) {
            double v = mu[j];
            for (int i = 0; i < d; i++) v += Z[r * d + i] * sqrt(n * lambda[i]) * Q[j * d + i];
            X[r * d + j] = (cn_real)v;
        }
    free(Z);
}

/* linear_lambda: distinct eigenvalues from 1.25 to about 0.25 d + 1. */
static void linear_lambda(int d, double *lambda) {
    for (int i = 0; i < d; i++) lambda[i] = 1.0 + 0.25 * (d - i);
}

/* covariance: C (p, p) of Y (n, p) in double (dividing by n), mean out (p). */
static void covariance(const cn_real *Y, int n, int p, double *C, double *mean) {
    for (int j = 0; j < p; j++) {
        double m = 0;
        for (int r = 0; r < n; r++) m += Y[r * p + j];
        mean[j] = m / n;
    }
    for (int a = 0; a < p; a++)
        for (int b = 0; b < p; b++) {
            double s = 0;
            for (int r = 0; r < n; r++) s += (Y[r * p + a] - mean[a]) * (Y[r * p + b] - mean[b]);
            C[a * p + b] = s / n;
        }
}

/* max_abs_dev_identity: max |C - I| over C (p, p). */
static double max_abs_dev_identity(const double *C, int p) {
    double m = 0;
    for (int a = 0; a < p; a++)
        for (int b = 0; b < p; b++) {
            double e = fabs(C[a * p + b] - (a == b ? 1.0 : 0.0));
            if (e > m) m = e;
        }
    return m;
}

/* random_symmetric: A (d, d) symmetric with entries N(0, 1). */
static void random_symmetric(cn_rng *rng, int d, cn_real *A) {
    for (int i = 0; i < d; i++)
        for (int j = 0; j <= i; j++) A[i * d + j] = A[j * d + i] = (cn_real)cn_rng_normal(rng);
}

/* check_eigh: A V_i = w_i V_i, V orthonormal, w descending, signs normalised. */
static void check_eigh(const cn_real *A, int d, const cn_real *w, const cn_real *V, double tol) {
    double scale = 0;
    for (int i = 0; i < d * d; i++) scale = fmax(scale, fabs((double)A[i]));
    scale = fmax(scale, 1.0) * d;
    for (int i = 0; i < d; i++) {
        if (i > 0) cr_assert_geq(w[i - 1], w[i], "eigenvalues not descending at %d", i);
        const cn_real *v = V + i * d;
        int best = 0;
        for (int j = 1; j < d; j++)
            if (fabs((double)v[j]) > fabs((double)v[best])) best = j;
        cr_assert_gt(v[best], 0, "vector %d: largest entry negative", i);
        for (int r = 0; r < d; r++) {
            double av = 0;
            for (int c = 0; c < d; c++) av += (double)A[r * d + c] * v[c];
            cr_assert_leq(fabs(av - (double)w[i] * v[r]), tol * scale,
                          "A v != w v: vector %d, row %d", i, r);
        }
        for (int k = 0; k <= i; k++) {
            double dot = 0;
            for (int c = 0; c < d; c++) dot += (double)v[c] * V[k * d + c];
            cr_assert_leq(fabs(dot - (k == i ? 1.0 : 0.0)), tol * d, "V V^T != I at (%d, %d)",
                          i, k);
        }
    }
}

/* ------------------------------------------------------------------ eigensolver */

typedef cn_status (*eigh_fn)(const cn_real *, int, cn_real *, cn_real *, cn_error *);

/* The second-difference matrix tridiag(-1, 2, -1) (d, d): eigenvalues
 * 2 - 2 cos(k pi / (d + 1)), eigenvectors sin(j k pi / (d + 1)), k = 1..d. */
static void check_known_tridiagonal(eigh_fn fn, const char *name) {
    enum { D = 10 };
    cn_real A[D * D] = {0}, w[D], V[D * D];
    for (int i = 0; i < D; i++) {
        A[i * D + i] = 2;
        if (i + 1 < D) A[i * D + i + 1] = A[(i + 1) * D + i] = -1;
    }
    cn_error err;
    cr_assert_eq(fn(A, D, w, V, &err), CN_OK, "%s: %s", name, err.msg);
    for (int i = 0; i < D; i++) {
        int k = D - i; /* descending eigenvalues: largest k first */
        double lam = 2.0 - 2.0 * cos(k * M_PI / (D + 1));
        cr_assert_leq(fabs(w[i] - lam), TOL, "%s: eigenvalue %d is %g, expected %g", name, i,
                      (double)w[i], lam);
        /* The vectors are symmetric or antisymmetric, so their largest entry is
         * tied with its mirror: compare up to sign; check_eigh checks the sign rule. */
        double nrm = 0, dot = 0;
        for (int j = 0; j < D; j++) {
            double e = sin((j + 1) * k * M_PI / (D + 1));
            nrm += e * e;
            dot += e * V[i * D + j];
        }
        cr_assert_leq(fabs(fabs(dot) / sqrt(nrm) - 1.0), 10 * TOL, "%s: vector %d", name, i);
    }
    check_eigh(A, D, w, V, TOL);
}

Test(eigh, known_tridiagonal_both_solvers) {
    check_known_tridiagonal(cn_eigh, "cn_eigh");
    check_known_tridiagonal(cn_eigh_jacobi, "cn_eigh_jacobi");
}

Test(eigh, small_and_degenerate) {
    eigh_fn fns[2] = {cn_eigh, cn_eigh_jacobi};
    for (int f = 0; f < 2; f++) {
        cn_error err;
        cn_real a1 = -3, w1, v1;
        cr_assert_eq(fns[f](&a1, 1, &w1, &v1, &err), CN_OK, "%s", err.msg);
        cr_assert_eq(w1, -3);
        cr_assert_eq(v1, 1);
        /* diag(1, 5, 1, 3): a repeated eigenvalue; vectors still orthonormal. */
        cn_real D4[16] = {1, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3}, w[4], V[16];
        cr_assert_eq(fns[f](D4, 4, w, V, &err), CN_OK, "%s", err.msg);
        double expect[4] = {5, 3, 1, 1};
        for (int i = 0; i < 4; i++) cr_assert_leq(fabs(w[i] - expect[i]), TOL);
        check_eigh(D4, 4, w, V, TOL);
        /* all zero */
        cn_real Z[9] = {0}, wz[3], Vz[9];
        cr_assert_eq(fns[f](Z, 3, wz, Vz, &err), CN_OK, "%s", err.msg);
        for (int i = 0; i < 3; i++) cr_assert_eq(wz[i], 0);
        check_eigh(Z, 3, wz, Vz, TOL);
    }
}

Test(eigh, random_symmetric_properties) {
    cn_rng rng;
    cn_rng_seed(&rng, 11, 0);
    int sizes[] = {2, 3, 7, 16, 33};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int d = sizes[s];
        cn_real *A = malloc(sizeof(cn_real) * d * d), *V = malloc(sizeof(cn_real) * d * d);
        cn_real *w = malloc(sizeof(cn_real) * d);
        random_symmetric(&rng, d, A);
        cn_error err;
        cr_assert_eq(cn_eigh(A, d, w, V, &err), CN_OK, "%s", err.msg);
        check_eigh(A, d, w, V, TOL);
        cr_assert_eq(cn_eigh_jacobi(A, d, w, V, &err), CN_OK, "%s", err.msg);
        check_eigh(A, d, w, V, TOL);
        free(A);
        free(V);
        free(w);
    }
}

Test(eigh, jacobi_matches_lapack) {
    if (strcmp(cn_eigh_backend(), "lapack") != 0)
        cr_skip_test("built without LAPACK (BLAS=none): nothing to compare against");
    cn_rng rng;
    cn_rng_seed(&rng, 5, 1);
    for (int d = 1; d <= 24; d += 3) {
        cn_real *A = malloc(sizeof(cn_real) * d * d);
        cn_real *V1 = malloc(sizeof(cn_real) * d * d), *V2 = malloc(sizeof(cn_real) * d * d);
        cn_real *w1 = malloc(sizeof(cn_real) * d), *w2 = malloc(sizeof(cn_real) * d);
        random_symmetric(&rng, d, A);
        cn_error err;
        cr_assert_eq(cn_eigh(A, d, w1, V1, &err), CN_OK, "%s", err.msg);
        cr_assert_eq(cn_eigh_jacobi(A, d, w2, V2, &err), CN_OK, "%s", err.msg);
        double min_gap = INFINITY;
        for (int i = 0; i < d; i++) {
            cr_assert_leq(fabs(w1[i] - w2[i]), TOL * d, "d = %d: eigenvalue %d: %g vs %g", d,
                          i, (double)w1[i], (double)w2[i]);
            if (i > 0) min_gap = fmin(min_gap, (double)(w1[i - 1] - w1[i]));
        }
        /* Random matrices have well-separated eigenvalues: the sign convention makes
         * the vectors themselves agree. */
        double vtol = TOL * d * 4 / fmin(min_gap, 1.0);
        for (int i = 0; i < d * d; i++)
            cr_assert_leq(fabs(V1[i] - V2[i]), vtol, "d = %d: vector entry %d: %g vs %g", d, i,
                          (double)V1[i], (double)V2[i]);
        free(A);
        free(V1);
        free(V2);
        free(w1);
        free(w2);
    }
}

Test(eigh, rejects_bad_input) {
    cn_real A[4] = {1, 2, 2, 1}, w[2], V[4];
    cn_error err;
    cr_assert_eq(cn_eigh(A, 0, w, V, &err), CN_ERR_ARG);
    cr_assert_eq(cn_eigh(A, CN_PCA_MAX_DIM + 1, w, V, &err), CN_ERR_RANGE);
    A[2] = (cn_real)NAN;
    cr_assert_eq(cn_eigh(A, 2, w, V, &err), CN_ERR_NUMERIC);
    cr_assert_not_null(strstr(err.msg, "(1, 0)"), "%s", err.msg);
    cr_assert_eq(cn_eigh_jacobi(A, 2, w, V, &err), CN_ERR_NUMERIC);
    A[2] = (cn_real)INFINITY;
    cr_assert_eq(cn_eigh_jacobi(A, 2, w, V, &err), CN_ERR_NUMERIC);
}

/* ------------------------------------------------------------------ PCA */

Test(pca, eigenvalues_match_known_covariance) {
    int dims[] = {8, 17, 40};
    for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
        int d = dims[t], n = 300;
        double *lambda = malloc(sizeof(double) * d), *Q = malloc(sizeof(double) * d * d);
        double *mu = malloc(sizeof(double) * d);
        cn_real *X = malloc(sizeof(cn_real) * n * d);
        linear_lambda(d, lambda);
        make_data(n, d, lambda, 100 + (uint64_t)d, X, Q, mu);
        cn_pca pca;
        cn_error err;
        cr_assert_eq(cn_pca_fit(X, n, d, &pca, &err), CN_OK, "%s", err.msg);
        cr_assert_eq(pca.d, d);
        cr_assert_eq(pca.m, d);
        double total = 0;
        for (int i = 0; i < d; i++) {
            total += lambda[i];
            cr_assert_leq(fabs(pca.mean[i] - mu[i]), TOL, "d = %d: mean %d", d, i);
            cr_assert_leq(fabs(pca.eigvals[i] - lambda[i]), TOL * lambda[0],
                          "d = %d: eigenvalue %d is %g, expected %g", d, i,
                          (double)pca.eigvals[i], lambda[i]);
            double dot = 0;
            for (int j = 0; j < d; j++) dot += pca.components[i * d + j] * Q[j * d + i];
            cr_assert_geq(fabs(dot), 1 - 10 * TOL, "d = %d: component %d: |<v, q>| = %g", d, i,
                          fabs(dot));
        }
        cr_assert_leq(fabs(pca.total_var - total), TOL * total);
        double top3 = (lambda[0] + lambda[1] + lambda[2]) / total;
        cr_assert_leq(fabs(cn_pca_explained(&pca, 3) - top3), TOL);
        cr_assert_leq(fabs(cn_pca_explained(&pca, d) - 1.0), TOL);
        cr_assert_eq(cn_pca_explained(&pca, 0), 0.0);
        cr_assert_eq(cn_pca_components_for(&pca, top3 - 1e-3), 3);
        cr_assert_eq(cn_pca_components_for(&pca, 1.0 + 1e-6), d);
        cn_pca_free(&pca);
        cr_assert_null(pca.mean);
        free(lambda);
        free(Q);
        free(mu);
        free(X);
    }
}

Test(pca, reconstruction_exact_with_all_components) {
    int d = 20, n = 200;
    double lambda[20], Q[400], mu[20];
    linear_lambda(d, lambda);
    cn_real *X = malloc(sizeof(cn_real) * n * d), *Y = malloc(sizeof(cn_real) * n * d);
    cn_real *R = malloc(sizeof(cn_real) * n * d);
    make_data(n, d, lambda, 3, X, Q, mu);
    cn_pca pca;
    cn_error err;
    cr_assert_eq(cn_pca_fit(X, n, d, &pca, &err), CN_OK, "%s", err.msg);
    for (int mode = 0; mode < CN_PCA_MODE_COUNT; mode++) {
        cr_assert_eq(cn_pca_transform(&pca, (cn_pca_mode)mode, d, 1e-5, X, n, Y, &err), CN_OK,
                     "%s", err.msg);
        cr_assert_eq(cn_pca_inverse(&pca, (cn_pca_mode)mode, d, 1e-5, Y, n, R, &err), CN_OK,
                     "%s", err.msg);
        double maxe = 0;
        for (int i = 0; i < n * d; i++) maxe = fmax(maxe, fabs((double)R[i] - X[i]));
        cr_assert_leq(maxe, 20 * TOL, "mode %s: max reconstruction error %g",
                      cn_pca_mode_name((cn_pca_mode)mode), maxe);
    }
    /* With k < d the mean squared error per row is the variance left out. */
    int k = 5;
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_REDUCE, k, 0, X, n, Y, &err), CN_OK);
    cr_assert_eq(cn_pca_inverse(&pca, CN_PCA_REDUCE, k, 0, Y, n, R, &err), CN_OK);
    double se = 0, left = 0;
    for (int i = 0; i < n * d; i++) se += ((double)R[i] - X[i]) * ((double)R[i] - X[i]);
    for (int i = k; i < d; i++) left += lambda[i];
    cr_assert_leq(fabs(se / n - left), 20 * TOL * left, "error %g, variance left out %g",
                  se / n, left);
    cn_pca_free(&pca);
    free(X);
    free(Y);
    free(R);
}

Test(pca, whitened_training_data_has_identity_covariance) {
    int dims[] = {8, 40};
    for (size_t t = 0; t < 2; t++) {
        int d = dims[t], n = 500;
        double *lambda = malloc(sizeof(double) * d), *Q = malloc(sizeof(double) * d * d);
        double *mu = malloc(sizeof(double) * d), *C = malloc(sizeof(double) * d * d);
        double *m = malloc(sizeof(double) * d);
        cn_real *X = malloc(sizeof(cn_real) * n * d), *Y = malloc(sizeof(cn_real) * n * d);
        /* Strongly correlated: eigenvalues over three decades. */
        for (int i = 0; i < d; i++) lambda[i] = 10.0 * pow(1e-3, (double)i / (d - 1));
        make_data(n, d, lambda, 40 + (uint64_t)d, X, Q, mu);
        cn_pca pca;
        cn_error err;
        cr_assert_eq(cn_pca_fit(X, n, d, &pca, &err), CN_OK, "%s", err.msg);
        cn_pca_mode modes[2] = {CN_PCA_WHITEN, CN_PCA_ZCA};
        for (int md = 0; md < 2; md++) {
            cr_assert_eq(cn_pca_transform(&pca, modes[md], 0, 1e-8, X, n, Y, &err), CN_OK, "%s",
                         err.msg);
            covariance(Y, n, d, C, m);
            double dev = max_abs_dev_identity(C, d);
            cr_log_info("d = %d, %s (eps 1e-8): max |C - I| = %.3g", d,
                        cn_pca_mode_name(modes[md]), dev);
            cr_assert_lt(dev, 1e-2, "d = %d, %s: max |C - I| = %g", d,
                         cn_pca_mode_name(modes[md]), dev);
            for (int j = 0; j < d; j++) cr_assert_leq(fabs(m[j]), 1e-3, "mean %d = %g", j, m[j]);
        }
        /* PCA whitening to k < d: the k kept directions are white. */
        cr_assert_eq(cn_pca_transform(&pca, CN_PCA_WHITEN, 4, 1e-8, X, n, Y, &err), CN_OK);
        covariance(Y, n, 4, C, m);
        cr_assert_lt(max_abs_dev_identity(C, 4), 1e-2);
        cn_pca_free(&pca);
        free(lambda);
        free(Q);
        free(mu);
        free(C);
        free(m);
        free(X);
        free(Y);
    }
}

Test(pca, zca_symmetric_and_in_input_space) {
    int d = 12, n = 240;
    double lambda[12], Q[144], mu[12];
    linear_lambda(d, lambda);
    cn_real *X = malloc(sizeof(cn_real) * n * d), *Y = malloc(sizeof(cn_real) * n * d);
    make_data(n, d, lambda, 9, X, Q, mu);
    cn_pca pca;
    cn_error err;
    cr_assert_eq(cn_pca_fit(X, n, d, &pca, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_pca_out_dim(&pca, CN_PCA_ZCA, 3), d);
    cr_assert_eq(cn_pca_out_dim(&pca, CN_PCA_WHITEN, 3), 3);
    cr_assert_eq(cn_pca_out_dim(&pca, CN_PCA_REDUCE, 0), d);
    cn_real W[144];
    cr_assert_eq(cn_pca_matrix(&pca, CN_PCA_ZCA, 0, 1e-5, W, &err), CN_OK, "%s", err.msg);
    for (int i = 0; i < d; i++) {
        for (int j = 0; j < d; j++) cr_assert_eq(W[i * d + j], W[j * d + i], "W != W^T");
        cr_assert_gt(W[i * d + i], 0);
    }
    /* ZCA is the whitening closest to the input: every output dimension stays
     * positively correlated with the same input dimension. */
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_ZCA, 0, 1e-5, X, n, Y, &err), CN_OK);
    for (int j = 0; j < d; j++) {
        double c = 0;
        for (int r = 0; r < n; r++) c += (Y[r * d + j]) * (X[r * d + j] - mu[j]);
        cr_assert_gt(c, 0, "dimension %d", j);
    }
    cn_pca_free(&pca);
    /* Data that is already white: ZCA (eps = 0) leaves the centred data as it is,
     * while PCA whitening rotates it. */
    for (int i = 0; i < d; i++) lambda[i] = 1.0;
    make_data(n, d, lambda, 10, X, Q, mu);
    cr_assert_eq(cn_pca_fit(X, n, d, &pca, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_ZCA, 0, 0, X, n, Y, &err), CN_OK, "%s", err.msg);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < d; j++)
            cr_assert_leq(fabs(Y[r * d + j] - (X[r * d + j] - pca.mean[j])), 50 * TOL,
                          "row %d dim %d: %g vs %g", r, j, (double)Y[r * d + j],
                          (double)(X[r * d + j] - pca.mean[j]));
    cn_pca_free(&pca);
    free(X);
    free(Y);
}

Test(pca, fit_uses_only_training_rows) {
    int d = 10, n = 150, nt = 50;
    double lambda[10], Q[100], mu[10];
    linear_lambda(d, lambda);
    /* buf: n training rows, then NaN rows the fit must never read. */
    cn_real *buf = malloc(sizeof(cn_real) * (n + 5) * d);
    cn_real *test = malloc(sizeof(cn_real) * nt * d), *Y = malloc(sizeof(cn_real) * nt * d);
    make_data(n, d, lambda, 21, buf, Q, mu);
    for (int i = n * d; i < (n + 5) * d; i++) buf[i] = (cn_real)NAN;
    cn_pca pca;
    cn_error err;
    cr_assert_eq(cn_pca_fit(buf, n, d, &pca, &err), CN_OK, "%s", err.msg);
    /* Test data from a shifted distribution, mapped with the training statistics. */
    cn_rng rng;
    cn_rng_seed(&rng, 77, 0);
    for (int i = 0; i < nt * d; i++) test[i] = (cn_real)(3.0 + cn_rng_normal(&rng));
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_REDUCE, 4, 0, test, nt, Y, &err), CN_OK);
    double colmean0 = 0;
    for (int r = 0; r < nt; r++) {
        for (int k = 0; k < 4; k++) {
            double y = 0;
            for (int j = 0; j < d; j++)
                y += ((double)test[r * d + j] - pca.mean[j]) * pca.components[k * d + j];
            cr_assert_leq(fabs(Y[r * 4 + k] - y), 10 * TOL * (1 + fabs(y)));
        }
        colmean0 += Y[r * 4] / nt;
    }
    double projected_shift = 0;
    for (int j = 0; j < d; j++) projected_shift += (3.0 - pca.mean[j]) * pca.components[j];
    cr_assert_leq(fabs(colmean0 - projected_shift), 0.5, "test mean %g, shift %g", colmean0,
                  projected_shift);
    /* Fitting on train + test changes the statistics: the fit above did not. */
    cn_real *all = malloc(sizeof(cn_real) * (n + nt) * d);
    memcpy(all, buf, sizeof(cn_real) * n * d);
    memcpy(all + n * d, test, sizeof(cn_real) * nt * d);
    cn_pca both;
    cr_assert_eq(cn_pca_fit(all, n + nt, d, &both, &err), CN_OK);
    cr_assert_gt(fabs(both.mean[0] - pca.mean[0]), 0.1);
    /* Refitting the training rows alone gives bit-identical statistics. */
    cn_pca again;
    cr_assert_eq(cn_pca_fit(all, n, d, &again, &err), CN_OK);
    cr_assert_eq(memcmp(again.mean, pca.mean, sizeof(cn_real) * d), 0);
    cr_assert_eq(memcmp(again.eigvals, pca.eigvals, sizeof(cn_real) * d), 0);
    cr_assert_eq(memcmp(again.components, pca.components, sizeof(cn_real) * d * d), 0);
    cn_pca_free(&again);
    cn_pca_free(&both);
    cn_pca_free(&pca);
    free(all);
    free(buf);
    free(test);
    free(Y);
}

Test(pca, project_matches_transform_in_blocks) {
    /* More rows than one centring block holds (4 Mi values / d): several GEMMs. */
    int d = 2048, n = 2100;
    cn_real *X = malloc(sizeof(cn_real) * (size_t)n * d);
    cn_rng rng;
    cn_rng_seed(&rng, 8, 0);
    for (size_t i = 0; i < (size_t)n * d; i++) X[i] = (cn_real)cn_rng_uniform(&rng);
    cn_pca pca = {0};
    cn_real mean[2048], comp[3 * 2048], ev[3] = {3, 2, 1};
    for (int j = 0; j < d; j++) mean[j] = (cn_real)0.5;
    for (int i = 0; i < 3 * d; i++) comp[i] = 0;
    comp[0] = comp[d + 1] = comp[2 * d + 2047] = 1;
    pca.d = d;
    pca.m = 3;
    pca.mean = mean;
    pca.eigvals = ev;
    pca.components = comp;
    pca.total_var = 6;
    cn_real *Y = malloc(sizeof(cn_real) * n * 3);
    cn_error err;
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_REDUCE, 3, 0, X, n, Y, &err), CN_OK, "%s",
                 err.msg);
    for (int r = 0; r < n; r++) {
        cr_assert_eq(Y[r * 3 + 0], X[(size_t)r * d + 0] - (cn_real)0.5);
        cr_assert_eq(Y[r * 3 + 1], X[(size_t)r * d + 1] - (cn_real)0.5);
        cr_assert_eq(Y[r * 3 + 2], X[(size_t)r * d + 2047] - (cn_real)0.5);
    }
    free(X);
    free(Y);
}

Test(pca, rejects_bad_arguments) {
    cn_real X[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Y[12];
    cn_pca pca;
    cn_error err;
    cr_assert_eq(cn_pca_fit(X, 0, 3, &pca, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_fit(X, 4, 0, &pca, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_fit(X, 4, CN_PCA_MAX_DIM + 1, &pca, &err), CN_ERR_RANGE);
    X[7] = (cn_real)NAN;
    cr_assert_eq(cn_pca_fit(X, 4, 3, &pca, &err), CN_ERR_NUMERIC);
    cr_assert_not_null(strstr(err.msg, "row 2, column 1"), "%s", err.msg);
    cr_assert_null(pca.mean);
    X[7] = 8;
    /* Rank 1 data (rows on a line): whitening without eps cannot divide by 0. */
    cr_assert_eq(cn_pca_fit(X, 4, 3, &pca, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_WHITEN, 3, 0, X, 4, Y, &err), CN_ERR_NUMERIC);
    cr_assert_not_null(strstr(err.msg, "eps > 0"), "%s", err.msg);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_WHITEN, 1, 0, X, 4, Y, &err), CN_OK);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_ZCA, 0, 1e-3, X, 4, Y, &err), CN_OK);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_REDUCE, 4, 0, X, 4, Y, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_REDUCE, -1, 0, X, 4, Y, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_WHITEN, 1, -1.0, X, 4, Y, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_WHITEN, 1, NAN, X, 4, Y, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_transform(&pca, (cn_pca_mode)7, 1, 0, X, 4, Y, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_REDUCE, 1, 0, X, -1, Y, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_REDUCE, 1, 0, X, 0, Y, &err), CN_OK);
    cr_assert_eq(cn_pca_truncate(&pca, 0, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_truncate(&pca, 4, &err), CN_ERR_ARG);
    cr_assert_eq(cn_pca_truncate(&pca, 2, &err), CN_OK);
    cr_assert_eq(pca.m, 2);
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_REDUCE, 3, 0, X, 4, Y, &err), CN_ERR_ARG);
    cr_assert_leq(fabs(cn_pca_explained(&pca, 1) - 1.0), TOL, "rank 1: all variance in one");
    cn_pca_free(&pca);
    cn_pca_free(NULL);
    cn_pca_mode m;
    cr_assert_eq(cn_pca_mode_parse("zca", &m, &err), CN_OK);
    cr_assert_eq(m, CN_PCA_ZCA);
    cr_assert_eq(cn_pca_mode_parse("whitening", &m, &err), CN_ERR_ARG);
    cr_assert_str_eq(cn_pca_mode_name(CN_PCA_WHITEN), "whiten");
    /* Constant data: no variance at all. */
    cn_real C[6] = {2, 2, 2, 2, 2, 2};
    cr_assert_eq(cn_pca_fit(C, 3, 2, &pca, &err), CN_OK);
    cr_assert_eq(pca.eigvals[0], 0);
    cr_assert_eq(cn_pca_explained(&pca, 1), 1.0);
    cr_assert_eq(cn_pca_components_for(&pca, 0.9), 1);
    cn_pca_free(&pca);
}

/* ------------------------------------------------------------------ [-1, 1] */

Test(scale, pm1_and_fitted_range) {
    cn_real v[3] = {0, 0.5, 1};
    cn_scale_pm1(v, 3);
    cr_assert_eq(v[0], -1);
    cr_assert_eq(v[1], 0);
    cr_assert_eq(v[2], 1);
    /* columns: range [2, 6], constant 5, range [-1, 1] */
    cn_real train[9] = {2, 5, -1, 6, 5, 1, 4, 5, 0};
    cn_scale s;
    cn_error err;
    cr_assert_eq(cn_scale_fit(train, 3, 3, &s, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(s.lo[0], 2);
    cr_assert_eq(s.hi[0], 6);
    cn_real t2[9];
    memcpy(t2, train, sizeof train);
    cr_assert_eq(cn_scale_apply(&s, t2, 3, 3, &err), CN_OK);
    cn_real expect[9] = {-1, 0, -1, 1, 0, 1, 0, 0, 0};
    for (int i = 0; i < 9; i++) cr_assert_leq(fabs(t2[i] - expect[i]), TOL, "value %d", i);
    /* Other splits use the training range and may leave [-1, 1]. */
    cn_real test[3] = {8, 6, 0.5};
    cr_assert_eq(cn_scale_apply(&s, test, 1, 3, &err), CN_OK);
    cr_assert_leq(fabs(test[0] - 2.0), TOL);
    cr_assert_leq(fabs(test[1] - 1.0), TOL);
    cr_assert_leq(fabs(test[2] - 0.5), TOL);
    cr_assert_eq(cn_scale_apply(&s, test, 1, 2, &err), CN_ERR_SHAPE);
    cn_scale_free(&s);
    train[4] = (cn_real)INFINITY;
    cr_assert_eq(cn_scale_fit(train, 3, 3, &s, &err), CN_ERR_NUMERIC);
    cr_assert_not_null(strstr(err.msg, "row 1, column 1"), "%s", err.msg);
    cr_assert_eq(cn_scale_fit(train, 0, 3, &s, &err), CN_ERR_ARG);
}

/* ------------------------------------------------------------------ files */

static char tmp_dir[256];

static void make_tmp(void) {
    cr_assert_eq(tst_tmpdir_make(tmp_dir, sizeof tmp_dir, "pca"), 0, "mkdtemp failed");
}

static void remove_tmp(void) {
    tst_tmpdir_remove(tmp_dir);
    tmp_dir[0] = '\0';
}

/* parse_writer: serialise w and parse the image back. */
static cn_safetensors *parse_writer(cn_st_writer *w) {
    uint8_t *buf;
    size_t len;
    cn_error err;
    cr_assert_eq(cn_st_writer_serialize(w, &buf, &len, &err), CN_OK, "%s", err.msg);
    cn_safetensors *st;
    cr_assert_eq(cn_safetensors_parse(buf, len, "mem", &st, &err), CN_OK, "%s", err.msg);
    cn_free(buf);
    return st;
}

static void assert_pca_equal(const cn_pca *a, const cn_pca *b) {
    cr_assert_eq(a->d, b->d);
    cr_assert_eq(a->m, b->m);
    cr_assert_eq(memcmp(&a->total_var, &b->total_var, sizeof(cn_real)), 0);
    cr_assert_eq(memcmp(a->mean, b->mean, sizeof(cn_real) * a->d), 0);
    cr_assert_eq(memcmp(a->eigvals, b->eigvals, sizeof(cn_real) * a->m), 0);
    cr_assert_eq(memcmp(a->components, b->components, sizeof(cn_real) * a->m * a->d), 0);
}

Test(pcafile, round_trip_exact, .init = make_tmp, .fini = remove_tmp) {
    int d = 9, n = 60;
    double lambda[9], Q[81], mu[9];
    linear_lambda(d, lambda);
    cn_real X[60 * 9];
    make_data(n, d, lambda, 2, X, Q, mu);
    cn_pca pca, small, back, back2;
    cn_scale sc, scb;
    cn_error err;
    cr_assert_eq(cn_pca_fit(X, n, d, &pca, &err), CN_OK);
    cr_assert_eq(cn_pca_fit(X, n, d, &small, &err), CN_OK);
    cr_assert_eq(cn_pca_truncate(&small, 3, &err), CN_OK);
    cr_assert_eq(cn_scale_fit(X, n, d, &sc, &err), CN_OK);
    cn_st_writer *w = cn_st_writer_new(&err);
    cr_assert_not_null(w);
    /* Two PCAs and a scaling in one file, told apart by their prefixes, beside
     * another tensor as a model file would hold. */
    cr_assert_eq(cn_pca_save(&pca, w, "preproc.pca.", &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_pca_save(&small, w, "small.", &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_scale_save(&sc, w, "preproc.scale.", &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_pca_save(&pca, w, "preproc.pca.", &err), CN_ERR_ARG, "duplicate names");
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", tmp_dir);
    cr_assert_eq(cn_st_writer_save(w, path, &err), CN_OK, "%s", err.msg);
    cn_st_writer_free(w);
    cn_safetensors *st;
    cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_pca_load(st, "preproc.pca.", &back, &err), CN_OK, "%s", err.msg);
    assert_pca_equal(&pca, &back);
    cr_assert_eq(cn_pca_load(st, "small.", &back2, &err), CN_OK, "%s", err.msg);
    assert_pca_equal(&small, &back2);
    cr_assert_eq(back2.m, 3);
    cr_assert_eq(cn_scale_load(st, "preproc.scale.", &scb, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(scb.d, d);
    cr_assert_eq(memcmp(scb.lo, sc.lo, sizeof(cn_real) * d), 0);
    cr_assert_eq(memcmp(scb.hi, sc.hi, sizeof(cn_real) * d), 0);
    cn_pca_free(&back);
    cr_assert_eq(cn_pca_load(st, "other.", &back, &err), CN_ERR_ARG, "missing tensors");
    cr_assert_null(back.mean);
    cr_assert_not_null(strstr(err.msg, "other.mean"), "%s", err.msg);
    /* The loaded statistics transform exactly as the fitted ones. */
    cn_real Y1[60 * 9], Y2[60 * 9];
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_ZCA, 0, 1e-4, X, n, Y1, &err), CN_OK);
    cr_assert_eq(cn_pca_load(st, "preproc.pca.", &back, &err), CN_OK);
    cr_assert_eq(cn_pca_transform(&back, CN_PCA_ZCA, 0, 1e-4, X, n, Y2, &err), CN_OK);
    cr_assert_eq(memcmp(Y1, Y2, sizeof Y1), 0);
    cn_safetensors_free(st);
    cn_pca_free(&pca);
    cn_pca_free(&small);
    cn_pca_free(&back);
    cn_pca_free(&back2);
    cn_scale_free(&sc);
    cn_scale_free(&scb);
}

/* add_t: add a cn_real tensor of shape (d0) or (d0, d1) to w. */
static void add_t(cn_st_writer *w, const char *name, cn_real *data, int ndim, int d0, int d1) {
    cn_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.ndim = ndim;
    t.shape[0] = d0;
    t.shape[1] = d1;
    t.numel = (size_t)d0 * (ndim == 2 ? (size_t)d1 : 1);
    cn_error err;
    cr_assert_eq(cn_st_writer_add_real(w, name, &t, &err), CN_OK, "%s", err.msg);
}

/* load_variant: a file with the given stats; returns cn_pca_load's status. */
static cn_status load_variant(cn_real *mean, int d, cn_real *ev, int m, cn_real *comp, int cm,
                              int cd, cn_real tv, cn_error *err) {
    cn_st_writer *w = cn_st_writer_new(err);
    add_t(w, "p.mean", mean, 1, d, 0);
    add_t(w, "p.eigvals", ev, 1, m, 0);
    add_t(w, "p.components", comp, 2, cm, cd);
    add_t(w, "p.total_var", &tv, 1, 1, 0);
    cn_safetensors *st = parse_writer(w);
    cn_st_writer_free(w);
    cn_pca pca;
    cn_status s = cn_pca_load(st, "p.", &pca, err);
    if (s != CN_OK) cr_assert_null(pca.mean);
    cn_pca_free(&pca);
    cn_safetensors_free(st);
    return s;
}

Test(pcafile, rejects_inconsistent_statistics) {
    cn_real mean[2] = {0, 1}, ev[2] = {2, 1}, comp[4] = {1, 0, 0, 1};
    cn_error err;
    cr_assert_eq(load_variant(mean, 2, ev, 2, comp, 2, 2, 3, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(load_variant(mean, 2, ev, 2, comp, 1, 2, 3, &err), CN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "p.components"), "%s", err.msg);
    cr_assert_eq(load_variant(mean, 1, ev, 2, comp, 2, 1, 3, &err), CN_ERR_FORMAT);
    cr_assert_eq(load_variant(mean, 2, ev, 2, comp, 2, 2, -1, &err), CN_ERR_FORMAT);
    ev[1] = 3;
    cr_assert_eq(load_variant(mean, 2, ev, 2, comp, 2, 2, 3, &err), CN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "descending"), "%s", err.msg);
    ev[0] = 4;
    ev[1] = -1;
    cr_assert_eq(load_variant(mean, 2, ev, 2, comp, 2, 2, 3, &err), CN_ERR_FORMAT);
    ev[1] = 1;
    comp[3] = 2;
    cr_assert_eq(load_variant(mean, 2, ev, 2, comp, 2, 2, 3, &err), CN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "length"), "%s", err.msg);
    comp[3] = 1;
    mean[1] = (cn_real)NAN;
    cr_assert_eq(load_variant(mean, 2, ev, 2, comp, 2, 2, 3, &err), CN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "not finite"), "%s", err.msg);
    /* scaling: lo above hi, and a length mismatch */
    cn_real lo[2] = {0, 2}, hi[3] = {1, 1, 1};
    for (int variant = 0; variant < 2; variant++) {
        cn_st_writer *w = cn_st_writer_new(&err);
        add_t(w, "s.lo", lo, 1, 2, 0);
        add_t(w, "s.hi", hi, 1, variant ? 3 : 2, 0);
        cn_safetensors *st = parse_writer(w);
        cn_st_writer_free(w);
        cn_scale sc;
        cr_assert_eq(cn_scale_load(st, "s.", &sc, &err), CN_ERR_FORMAT);
        cr_assert_null(sc.lo);
        cn_safetensors_free(st);
    }
}

/* ------------------------------------------------------------------ real data */

Test(pca, fashion_mnist_top50_explained) {
    if (strcmp(cn_eigh_backend(), "lapack") != 0)
        cr_skip_test("the Jacobi fallback takes ~15 s for d = 784 (see docs/data/pca.md)");
    cn_error err;
    cn_dataset *ds = NULL;
    if (cn_dataset_load_idx(CN_FASHION_MNIST_DIR, "train", 1, &ds, &err) != CN_OK)
        cr_skip_test("Fashion-MNIST not readable at %s: %s", CN_FASHION_MNIST_DIR, err.msg);
    int n = 5000, d = 784;
    cr_assert_geq(ds->n, n);
    cn_pca pca;
    cr_assert_eq(cn_pca_fit(cn_dataset_flat(ds), n, d, &pca, &err), CN_OK, "%s", err.msg);
    double r50 = cn_pca_explained(&pca, 50);
    cr_log_info("Fashion-MNIST (5000 training images): top-50 components explain %.4f of the "
                "variance", r50);
    cr_assert_gt(r50, 0.8, "top-50 explain %g", r50);
    cr_assert_lt(r50, 0.95, "top-50 explain %g", r50);
    /* The whitened training images (top 50 directions) have identity covariance. */
    int k = 50;
    cn_real *Y = malloc(sizeof(cn_real) * n * k);
    double *C = malloc(sizeof(double) * k * k), m[50];
    cr_assert_eq(cn_pca_transform(&pca, CN_PCA_WHITEN, k, 1e-5, cn_dataset_flat(ds), n, Y, &err),
                 CN_OK, "%s", err.msg);
    covariance(Y, n, k, C, m);
    double dev = max_abs_dev_identity(C, k);
    cr_log_info("Fashion-MNIST whitened to 50 components (eps 1e-5): max |C - I| = %.3g", dev);
    cr_assert_lt(dev, 1e-2);
    free(Y);
    free(C);
    cn_pca_free(&pca);
    cn_dataset_free(ds);
}
