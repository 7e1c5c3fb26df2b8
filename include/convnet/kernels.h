/* convnet/kernels.h: pure compute kernels on raw arrays (no tensors, no graph):
 * GEMM over CBLAS with a portable blocked fallback, and pairwise distances.
 * Kernels take sizes explicitly and never allocate unless documented. */
#ifndef CONVNET_KERNELS_H
#define CONVNET_KERNELS_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cn_trans { CN_NO_TRANS = 0, CN_TRANS = 1 } cn_trans;

/* cn_gemm: C = alpha * op(A) * op(B) + beta * C, all row-major.
 *   op(A) is (M, K): A is (M, K) with lda >= K, or (K, M) with lda >= M if ta.
 *   op(B) is (K, N): B is (K, N) with ldb >= N, or (N, K) with ldb >= K if tb.
 *   C is (M, N) with ldc >= N. beta == 0 means C is not read (may hold NaN).
 * Uses CBLAS (OpenBLAS) unless built with BLAS=none, then cn_gemm_portable.
 * M, N or K of 0 is allowed (C is scaled by beta; with K == 0, C = beta*C).
 * Threads: the BLAS always runs single-threaded (cn_gemm sets it so); called
 * outside an OpenMP parallel region with at least CN_GEMM_SPLIT_MIN multiply-adds,
 * cn_gemm splits C into column (or, when M > N, row) blocks, one per OpenMP
 * thread; inside a parallel region it runs on the calling thread. A product with
 * M == 1 or N == 1 is a matrix-vector product (BLAS gemv, no packing), split
 * into blocks of its output from CN_GEMV_SPLIT_MIN multiply-adds (it is bound by
 * memory bandwidth, which a second core adds to). */
#define CN_GEMM_SPLIT_MIN ((double)(1 << 22))
#define CN_GEMV_SPLIT_MIN ((double)(1 << 18))
void cn_gemm(cn_trans ta, cn_trans tb, int M, int N, int K, cn_real alpha,
             const cn_real *A, int lda, const cn_real *B, int ldb, cn_real beta,
             cn_real *C, int ldc);

/* cn_gemm_portable: the same contract as cn_gemm, always the blocked C
 * implementation (cache blocking + packed panels, OpenMP over row blocks). */
void cn_gemm_portable(cn_trans ta, cn_trans tb, int M, int N, int K, cn_real alpha,
                      const cn_real *A, int lda, const cn_real *B, int ldb, cn_real beta,
                      cn_real *C, int ldc);

/* cn_gemm_backend: "openblas" or "portable". */
const char *cn_gemm_backend(void);

/* cn_sq_norms: out[i] = sum_j X[i*d + j]^2 for X (n, d). */
void cn_sq_norms(const cn_real *X, int n, int d, cn_real *out);

/* cn_dist_l2sq: squared Euclidean distances out (nq, nr), row stride ldo >= nr,
 * between the rows of Q (nq, d) and R (nr, d), through the expansion
 * |q|^2 - 2 q.r + |r|^2 with one GEMM. qn (nq) and rn (nr) are the squared norms
 * from cn_sq_norms. Results are clamped at 0 (the expansion can round below). */
void cn_dist_l2sq(const cn_real *Q, const cn_real *qn, int nq, const cn_real *R,
                  const cn_real *rn, int nr, int d, cn_real *out, int ldo);

/* cn_dist_l1: Manhattan distances out (nq, nr), row stride ldo >= nr, between the
 * rows of Q (nq, d) and R (nr, d). Blocked over query and reference rows so
 * tiles stay in cache; the inner loop over d vectorises. OpenMP over tiles. */
void cn_dist_l1(const cn_real *Q, int nq, const cn_real *R, int nr, int d,
                cn_real *out, int ldo);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_KERNELS_H */
