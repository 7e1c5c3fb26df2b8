/* test_gemm.c: cn_gemm (CBLAS or portable) and cn_gemm_portable against a naive
 * triple loop in double, on awkward sizes, both transposes, alpha/beta, strides. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "convnet.h"

#ifdef CN_DOUBLE
#define TOL 1e-12
#else
#define TOL 2e-5
#endif

typedef void (*gemm_fn)(cn_trans, cn_trans, int, int, int, cn_real, const cn_real *, int,
                        const cn_real *, int, cn_real, cn_real *, int);

static void fill(cn_rng *r, cn_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (cn_real)(2.0 * cn_rng_uniform(r) - 1.0);
}

/* Checks one configuration; padding of 3 in every leading dimension. */
static void check(gemm_fn fn, cn_trans ta, cn_trans tb, int M, int N, int K, double alpha,
                  double beta)
{
    cn_rng r;
    cn_rng_seed(&r, (uint64_t)(M * 131 + N * 17 + K), 3);
    int arows = ta ? K : M, acols = ta ? M : K;
    int brows = tb ? N : K, bcols = tb ? K : N;
    int lda = acols + 3, ldb = bcols + 3, ldc = N + 3;
    cn_real *A = calloc((size_t)arows * lda + 1, sizeof *A);
    cn_real *B = calloc((size_t)brows * ldb + 1, sizeof *B);
    cn_real *C = calloc((size_t)M * ldc + 1, sizeof *C);
    double *ref = calloc((size_t)M * N + 1, sizeof *ref);
    fill(&r, A, (size_t)arows * lda);
    fill(&r, B, (size_t)brows * ldb);
    fill(&r, C, (size_t)M * ldc);
    double scale = 1.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int p = 0; p < K; p++) {
                double a = ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
                double b = tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
                s += a * b;
            }
            ref[(size_t)i * N + j] = alpha * s + (beta != 0 ? beta * C[(size_t)i * ldc + j] : 0);
        }
    if (beta == 0) /* beta == 0 must not read C: poison it */
        for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = (cn_real)NAN;
    cn_real pad = M > 0 ? C[ldc - 1] : 0;
    fn(ta, tb, M, N, K, (cn_real)alpha, A, lda, B, ldb, (cn_real)beta, C, ldc);
    if (K > 0) scale = sqrt((double)K);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double got = C[(size_t)i * ldc + j], want = ref[(size_t)i * N + j];
            cr_assert(fabs(got - want) <= TOL * scale * (1 + fabs(want)),
                      "M=%d N=%d K=%d ta=%d tb=%d (%d,%d): got %g want %g", M, N, K, ta, tb, i,
                      j, got, want);
        }
    if (beta != 0 && N > 0 && M > 0) /* padding columns untouched */
        cr_assert(C[ldc - 1] == pad || (isnan(C[ldc - 1]) && isnan(pad)));
    free(A);
    free(B);
    free(C);
    free(ref);
}

static void check_all(gemm_fn fn)
{
    static const int sizes[][3] = {{1, 1, 1},   {7, 13, 5},   {13, 7, 5},   {5, 1, 9},
                                   {1, 9, 300}, {65, 70, 257}, {64, 512, 256}, {3, 600, 2},
                                   {130, 3, 1}, {0, 4, 4},    {4, 0, 4},    {4, 4, 0}};
    static const double ab[][2] = {{1, 0}, {0.5, 2}, {-1.5, 1}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t k = 0; k < sizeof ab / sizeof *ab; k++)
                    check(fn, (cn_trans)ta, (cn_trans)tb, sizes[s][0], sizes[s][1],
                          sizes[s][2], ab[k][0], ab[k][1]);
}

Test(gemm, default_backend_matches_naive)
{
    check_all(cn_gemm);
}

Test(gemm, portable_matches_naive)
{
    check_all(cn_gemm_portable);
}

Test(gemm, portable_single_and_two_threads_identical)
{
    const int M = 150, N = 90, K = 300;
    cn_real *A = malloc(sizeof(cn_real) * M * K), *B = malloc(sizeof(cn_real) * K * N);
    cn_real *C1 = malloc(sizeof(cn_real) * M * N), *C2 = malloc(sizeof(cn_real) * M * N);
    cn_rng r;
    cn_rng_seed(&r, 9, 9);
    fill(&r, A, (size_t)M * K);
    fill(&r, B, (size_t)K * N);
    cn_set_num_threads(1);
    cn_gemm_portable(CN_NO_TRANS, CN_NO_TRANS, M, N, K, 1, A, K, B, N, 0, C1, N);
    cn_set_num_threads(2);
    cn_gemm_portable(CN_NO_TRANS, CN_NO_TRANS, M, N, K, 1, A, K, B, N, 0, C2, N);
    for (int i = 0; i < M * N; i++) cr_assert_eq(C1[i], C2[i]);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

Test(gemm, backend_name)
{
    const char *b = cn_gemm_backend();
#ifdef CN_USE_CBLAS
    cr_assert_str_eq(b, "openblas");
#else
    cr_assert_str_eq(b, "portable");
#endif
}

/* M == 1 or N == 1 runs as a matrix-vector product (split across threads when
 * long enough): every transpose, with strides, against the naive loop at 1 and 2
 * threads, and the two thread counts give the same bits. */
Test(gemm, vector_products_split_and_match)
{
    static const int sizes[][3] = {{1, 1100, 4000}, {1100, 1, 4000}, {1, 33, 7}, {40, 1, 3}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
                for (int t = 1; t <= 2; t++) {
                    cn_set_num_threads(t);
                    check(cn_gemm, (cn_trans)ta, (cn_trans)tb, M, N, K, 1, 0);
                    check(cn_gemm, (cn_trans)ta, (cn_trans)tb, M, N, K, -0.5, 1.5);
                }
                const int arows = ta ? K : M, acols = ta ? M : K;
                const int brows = tb ? N : K, bcols = tb ? K : N;
                const int ldc = N + 2;
                cn_real *A = malloc(sizeof(cn_real) * arows * acols);
                cn_real *B = malloc(sizeof(cn_real) * brows * bcols);
                cn_real *C[2] = {calloc((size_t)M * ldc, sizeof(cn_real)),
                                 calloc((size_t)M * ldc, sizeof(cn_real))};
                cn_rng r;
                cn_rng_seed(&r, 5, 5);
                fill(&r, A, (size_t)arows * acols);
                fill(&r, B, (size_t)brows * bcols);
                for (int t = 1; t <= 2; t++) {
                    cn_set_num_threads(t);
                    cn_gemm((cn_trans)ta, (cn_trans)tb, M, N, K, 1, A, acols, B, bcols, 0,
                            C[t - 1], ldc);
                }
                for (int i = 0; i < M * ldc; i++)
                    cr_assert_eq(C[0][i], C[1][i], "M=%d N=%d ta=%d tb=%d at %d", M, N, ta, tb,
                                 i);
                free(A);
                free(B);
                free(C[0]);
                free(C[1]);
            }
    cn_set_num_threads(0);
}
