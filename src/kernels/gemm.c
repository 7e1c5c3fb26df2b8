/* gemm.c: row-major C = alpha * op(A) * op(B) + beta * C, through CBLAS (OpenBLAS)
 * when built with BLAS=openblas, and a portable cache-blocked implementation that
 * is always available (cn_gemm_portable) and is what BLAS=none builds use.
 *
 * The portable kernel packs a KC x NC panel of op(B) and an MC x KC block of
 * alpha * op(A) into contiguous buffers, then updates C four rows at a time with
 * an inner loop over columns that the compiler vectorises. Row blocks of C are
 * split across OpenMP threads; each thread packs its own A block, so the
 * partition of work (and therefore every sum) is fixed and results do not
 * depend on the thread count. */
#include "convnet/kernels.h"

#include <string.h>
#ifdef CN_USE_CBLAS
#include <cblas.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

enum { GEMM_MC = 64, GEMM_KC = 256, GEMM_NC = 512 };

/* C (M, N) <- beta * C; beta == 0 writes zeros without reading C. */
static void scale_c(int M, int N, cn_real beta, cn_real *C, int ldc)
{
    if (beta == (cn_real)1) return;
    for (int i = 0; i < M; i++) {
        cn_real *c = C + (size_t)i * ldc;
        if (beta == (cn_real)0)
            memset(c, 0, (size_t)N * sizeof *c);
        else
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

static inline cn_real elem_a(cn_trans ta, const cn_real *A, int lda, int i, int p)
{
    return ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p];
}

static inline cn_real elem_b(cn_trans tb, const cn_real *B, int ldb, int p, int j)
{
    return tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j];
}

/* The unpacked reference loop, used only if the packing buffers cannot be
 * allocated (cn_gemm has no failure path). C already holds beta * C. */
static void gemm_unpacked(cn_trans ta, cn_trans tb, int M, int N, int K, cn_real alpha,
                          const cn_real *A, int lda, const cn_real *B, int ldb, cn_real *C,
                          int ldc)
{
    for (int i = 0; i < M; i++)
        for (int p = 0; p < K; p++) {
            cn_real a = alpha * elem_a(ta, A, lda, i, p);
            cn_real *c = C + (size_t)i * ldc;
            for (int j = 0; j < N; j++) c[j] += a * elem_b(tb, B, ldb, p, j);
        }
}

/* Bp (kc, nc) <- op(B)[pc:pc+kc, jc:jc+nc] */
static void pack_b(cn_trans tb, const cn_real *B, int ldb, int pc, int kc, int jc, int nc,
                   cn_real *Bp)
{
    for (int p = 0; p < kc; p++) {
        cn_real *dst = Bp + (size_t)p * nc;
        if (!tb) {
            memcpy(dst, B + (size_t)(pc + p) * ldb + jc, (size_t)nc * sizeof *dst);
        } else {
            for (int j = 0; j < nc; j++) dst[j] = B[(size_t)(jc + j) * ldb + pc + p];
        }
    }
}

/* Ap (mc, kc) <- alpha * op(A)[ic:ic+mc, pc:pc+kc] */
static void pack_a(cn_trans ta, const cn_real *A, int lda, int ic, int mc, int pc, int kc,
                   cn_real alpha, cn_real *Ap)
{
    for (int i = 0; i < mc; i++)
        for (int p = 0; p < kc; p++)
            Ap[(size_t)i * kc + p] = alpha * elem_a(ta, A, lda, ic + i, pc + p);
}

/* C[ic.., jc..] (mc, nc) += Ap (mc, kc) * Bp (kc, nc) */
static void block_kernel(int mc, int nc, int kc, const cn_real *Ap, const cn_real *Bp,
                         cn_real *C, int ldc)
{
    int i = 0;
    for (; i + 4 <= mc; i += 4) {
        cn_real *restrict c0 = C + (size_t)i * ldc;
        cn_real *restrict c1 = c0 + ldc;
        cn_real *restrict c2 = c1 + ldc;
        cn_real *restrict c3 = c2 + ldc;
        const cn_real *a = Ap + (size_t)i * kc;
        for (int p = 0; p < kc; p++) {
            const cn_real a0 = a[p], a1 = a[kc + p], a2 = a[2 * kc + p], a3 = a[3 * kc + p];
            const cn_real *restrict b = Bp + (size_t)p * nc;
            for (int j = 0; j < nc; j++) {
                const cn_real bj = b[j];
                c0[j] += a0 * bj;
                c1[j] += a1 * bj;
                c2[j] += a2 * bj;
                c3[j] += a3 * bj;
            }
        }
    }
    for (; i < mc; i++) {
        cn_real *restrict c0 = C + (size_t)i * ldc;
        const cn_real *a = Ap + (size_t)i * kc;
        for (int p = 0; p < kc; p++) {
            const cn_real a0 = a[p];
            const cn_real *restrict b = Bp + (size_t)p * nc;
            for (int j = 0; j < nc; j++) c0[j] += a0 * b[j];
        }
    }
}

void cn_gemm_portable(cn_trans ta, cn_trans tb, int M, int N, int K, cn_real alpha,
                      const cn_real *A, int lda, const cn_real *B, int ldb, cn_real beta,
                      cn_real *C, int ldc)
{
    CN_ASSERT(M >= 0 && N >= 0 && K >= 0);
    if (M == 0 || N == 0) return;
    scale_c(M, N, beta, C, ldc);
    if (K == 0 || alpha == (cn_real)0) return;

    cn_real *Bp = cn_aligned_alloc((size_t)GEMM_KC * GEMM_NC * sizeof(cn_real));
    if (!Bp) {
        gemm_unpacked(ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc);
        return;
    }
    const int nblocks = (M + GEMM_MC - 1) / GEMM_MC;
    for (int jc = 0; jc < N; jc += GEMM_NC) {
        const int nc = N - jc < GEMM_NC ? N - jc : GEMM_NC;
        for (int pc = 0; pc < K; pc += GEMM_KC) {
            const int kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            pack_b(tb, B, ldb, pc, kc, jc, nc, Bp);
            int failed = 0;
#ifdef _OPENMP
#pragma omp parallel reduction(| : failed)
#endif
            {
                cn_real *Ap = cn_aligned_alloc((size_t)GEMM_MC * GEMM_KC * sizeof(cn_real));
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (int blk = 0; blk < nblocks; blk++) {
                    const int ic = blk * GEMM_MC;
                    const int mc = M - ic < GEMM_MC ? M - ic : GEMM_MC;
                    cn_real *cblk = C + (size_t)ic * ldc + jc;
                    if (Ap) {
                        pack_a(ta, A, lda, ic, mc, pc, kc, alpha, Ap);
                        block_kernel(mc, nc, kc, Ap, Bp, cblk, ldc);
                    } else {
                        failed = 1;
                        for (int i = 0; i < mc; i++)
                            for (int p = 0; p < kc; p++) {
                                cn_real a = alpha * elem_a(ta, A, lda, ic + i, pc + p);
                                const cn_real *b = Bp + (size_t)p * nc;
                                cn_real *c = cblk + (size_t)i * ldc;
                                for (int j = 0; j < nc; j++) c[j] += a * b[j];
                            }
                    }
                }
                cn_aligned_free(Ap);
            }
            (void)failed;
        }
    }
    cn_aligned_free(Bp);
}

#ifdef CN_USE_CBLAS
/* One single-threaded BLAS call. */
static void blas_gemm(cn_trans ta, cn_trans tb, int M, int N, int K, cn_real alpha,
                      const cn_real *A, int lda, const cn_real *B, int ldb, cn_real beta,
                      cn_real *C, int ldc)
{
#ifdef CN_DOUBLE
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

/* One single-threaded BLAS matrix-vector product: y (len, stride incy) =
 * alpha * op(Mat) v + beta * y with Mat row-major (rows, cols, ld) and op the
 * transpose when tm; beta == 0 writes y without reading it (BLAS may scale a
 * NaN in y by zero). */
static void blas_gemv(int tm, int rows, int cols, cn_real alpha, const cn_real *Mat, int ld,
                      const cn_real *v, int incv, cn_real beta, cn_real *y, int incy)
{
    if (beta == (cn_real)0) {
        const int len = tm ? cols : rows;
        for (int i = 0; i < len; i++) y[(size_t)i * incy] = 0;
    }
#ifdef CN_DOUBLE
    cblas_dgemv(CblasRowMajor, tm ? CblasTrans : CblasNoTrans, rows, cols, alpha, Mat, ld, v,
                incv, beta, y, incy);
#else
    cblas_sgemv(CblasRowMajor, tm ? CblasTrans : CblasNoTrans, rows, cols, alpha, Mat, ld, v,
                incv, beta, y, incy);
#endif
}

/* The blocks of a split: T blocks of `chunk` columns (or rows), a multiple of 16
 * so every block but the last keeps the BLAS kernels' full tiles. */
static int split_chunk(int n, int T)
{
    int chunk = (n + T - 1) / T;
    return (chunk + 15) / 16 * 16;
}

/* C split across T OpenMP threads: column blocks when N >= M, else row blocks;
 * each block is one single-threaded BLAS call over the whole K. */
static void gemm_split(int T, cn_trans ta, cn_trans tb, int M, int N, int K, cn_real alpha,
                       const cn_real *A, int lda, const cn_real *B, int ldb, cn_real beta,
                       cn_real *C, int ldc)
{
    const int by_cols = N >= M;
    const int chunk = split_chunk(by_cols ? N : M, T);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(T)
#endif
    for (int t = 0; t < T; t++) {
        const int lo = t * chunk, n = by_cols ? N : M;
        if (lo >= n) continue;
        const int len = n - lo < chunk ? n - lo : chunk;
        if (by_cols) {
            const cn_real *Bb = tb ? B + (size_t)lo * ldb : B + lo; // op(B)[:, lo:lo+len]
            blas_gemm(ta, tb, M, len, K, alpha, A, lda, Bb, ldb, beta, C + lo, ldc);
        } else {
            const cn_real *Ab = ta ? A + lo : A + (size_t)lo * lda; // op(A)[lo:lo+len, :]
            blas_gemm(ta, tb, len, N, K, alpha, Ab, lda, B, ldb, beta, C + (size_t)lo * ldc,
                      ldc);
        }
    }
}

/* A product with M == 1 or N == 1 as a matrix-vector product (GEMM would pack
 * the whole matrix for one row or column: at batch 1 a linear layer's weights
 * were copied on every call). y, the row or column of C, is split into T blocks
 * of whole-tile lengths, each one BLAS call, as gemm_split does. */
static void gemm_vector(int T, cn_trans ta, cn_trans tb, int M, int N, int K, cn_real alpha,
                        const cn_real *A, int lda, const cn_real *B, int ldb, cn_real beta,
                        cn_real *C, int ldc)
{
    const cn_real *Mat, *v;
    int tm, ld, incv, incy, len;
    if (M == 1) { /* c (N) = op(B)^T op(A)[0, :] */
        v = A;
        incv = ta ? lda : 1;
        Mat = B;
        ld = ldb;
        tm = !tb; /* B (N, K) used as is; B (K, N) transposed */
        incy = 1;
        len = N;
    } else { /* C[:, 0] (M) = op(A) op(B)[:, 0] */
        v = B;
        incv = tb ? 1 : ldb;
        Mat = A;
        ld = lda;
        tm = ta != CN_NO_TRANS;
        incy = ldc;
        len = M;
    }
    const int rows = tm ? K : len, cols = tm ? len : K;
    if (T < 2 || (double)len * K < CN_GEMV_SPLIT_MIN || len < 32) {
        blas_gemv(tm, rows, cols, alpha, Mat, ld, v, incv, beta, C, incy);
        return;
    }
    const int chunk = split_chunk(len, T);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(T)
#endif
    for (int t = 0; t < T; t++) {
        const int lo = t * chunk;
        if (lo >= len) continue;
        const int n = len - lo < chunk ? len - lo : chunk;
        const cn_real *Mb = tm ? Mat + lo : Mat + (size_t)lo * ld; // op(Mat)[lo:lo+n, :]
        blas_gemv(tm, tm ? K : n, tm ? n : K, alpha, Mb, ld, v, incv, beta,
                  C + (size_t)lo * incy, incy);
    }
}

#endif

void cn_gemm(cn_trans ta, cn_trans tb, int M, int N, int K, cn_real alpha, const cn_real *A,
             int lda, const cn_real *B, int ldb, cn_real beta, cn_real *C, int ldc)
{
#ifdef CN_USE_CBLAS
    CN_ASSERT(M >= 0 && N >= 0 && K >= 0);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    int T = 1;
#ifdef _OPENMP
    if (!omp_in_parallel()) {
        /* one threading layer: OpenBLAS's own pool would fight OpenMP's */
        if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
        T = omp_get_max_threads();
    }
#endif
    if (M == 1 || N == 1) {
        gemm_vector(T, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (T > 1 && (double)M * N * K >= CN_GEMM_SPLIT_MIN && (M >= 32 || N >= 32)) {
        gemm_split(T, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cn_gemm_portable(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

const char *cn_gemm_backend(void)
{
#ifdef CN_USE_CBLAS
    return "openblas";
#else
    return "portable";
#endif
}
