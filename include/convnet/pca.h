/* convnet/pca.h: preprocessing beyond mean subtraction, as the CS231n notes
 * describe: scaling to [-1, 1], PCA with reduction to k components, PCA
 * whitening and ZCA whitening with epsilon, all fitted on the training split
 * only and serialisable as safetensors tensors (under a name prefix) so a model
 * file can carry them; and the symmetric eigensolver they rest on (LAPACK's
 * ?syevd through OpenBLAS, or a cyclic Jacobi fallback in BLAS=none builds).
 *
 * Data are row-major matrices X (n, d): one record (a flattened image, see
 * cn_dataset_flat) per row. docs/data/pca.md has the formulas and an example. */
#ifndef CONVNET_PCA_H
#define CONVNET_PCA_H

#include "convnet/core.h"
#include "convnet/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest dimension d the eigensolver and PCA accept (LAPACK's 32-bit
 * workspace sizes stay in range below it). Larger d: CN_ERR_RANGE. */
#define CN_PCA_MAX_DIM 16384

/* ------------------------------------------------------------------ eigensolver */

/* cn_eigh: eigendecomposition of the symmetric matrix A (d, d), row-major (both
 * triangles must hold the same values; the lower one is read). On success
 * w (d) holds the eigenvalues in descending order and row i of V (d, d) the unit
 * eigenvector of w[i], its sign chosen so that its largest-magnitude entry (the
 * first one on a tie) is positive: results are deterministic. A is not modified;
 * V must not overlap A. Uses LAPACK's ssyevd_ (float) / dsyevd_ (double) when
 * built with CBLAS, else cn_eigh_jacobi. Errors: d outside 1..CN_PCA_MAX_DIM
 * (CN_ERR_ARG / CN_ERR_RANGE), a NaN or Inf entry (CN_ERR_NUMERIC naming the
 * entry), allocation failure (CN_ERR_NOMEM), no convergence (CN_ERR_NUMERIC). */
cn_status cn_eigh(const cn_real *A, int d, cn_real *w, cn_real *V, cn_error *err);

/* cn_eigh_jacobi: the same contract as cn_eigh, always the cyclic Jacobi method
 * (computed in double; O(d^3) per sweep, a few sweeps: fine up to d ~ 1000). */
cn_status cn_eigh_jacobi(const cn_real *A, int d, cn_real *w, cn_real *V, cn_error *err);

/* cn_eigh_backend: "lapack" or "jacobi" (what cn_eigh uses in this build). */
const char *cn_eigh_backend(void);

/* ------------------------------------------------------------------ PCA */

/* How cn_pca_transform maps a centred record x - mean (V_k: the top k rows of
 * components, lambda: their eigenvalues):
 *   CN_PCA_REDUCE  y = V_k (x - mean)                              (k values)
 *   CN_PCA_WHITEN  y = diag(1 / sqrt(lambda + eps)) V_k (x - mean)  (k values)
 *   CN_PCA_ZCA     y = V_k^T diag(1 / sqrt(lambda + eps)) V_k (x - mean)
 *                  (d values: whitened, rotated back into the input space; with
 *                  k = d this is the symmetric matrix C^(-1/2) for eps = 0) */
typedef enum cn_pca_mode {
    CN_PCA_REDUCE = 0,
    CN_PCA_WHITEN,
    CN_PCA_ZCA,
    CN_PCA_MODE_COUNT
} cn_pca_mode;

/* cn_pca: fitted statistics. Owns its arrays. components rows are unit
 * eigenvectors of the training covariance X_c^T X_c / n, in order of descending
 * eigenvalue, signs as in cn_eigh. m = d after cn_pca_fit; cn_pca_truncate
 * lowers it (total_var keeps the variance of all d directions). */
typedef struct cn_pca {
    int d;               /* input dimension */
    int m;               /* components kept, 1..d */
    cn_real *mean;       /* (d) training mean (accumulated in double) */
    cn_real *eigvals;    /* (m) descending, >= 0 (round-off negatives clamped) */
    cn_real *components; /* (m, d) row i: eigenvector of eigvals[i] */
    cn_real total_var;   /* trace of the covariance: sum of all d eigenvalues */
} cn_pca;

/* cn_pca_mode_name / cn_pca_mode_parse: "reduce", "whiten", "zca". */
const char *cn_pca_mode_name(cn_pca_mode m);
cn_status cn_pca_mode_parse(const char *s, cn_pca_mode *out, cn_error *err);

/* cn_pca_fit: fit on the training rows X (n, d) only: the mean (summed in
 * double), the covariance of the centred rows (X - mean)^T (X - mean) / n
 * through cn_gemm (accumulated in cn_real; rows are centred in blocks so no
 * copy of X is made), and its eigendecomposition by cn_eigh. n >= 1,
 * 1 <= d <= CN_PCA_MAX_DIM. Errors: bad sizes (CN_ERR_ARG / CN_ERR_RANGE), a NaN
 * or Inf in X (CN_ERR_NUMERIC "row r, column j"), CN_ERR_NOMEM, eigensolver
 * failures. On success *out is owned by the caller (cn_pca_free); on error it is
 * zeroed. */
cn_status cn_pca_fit(const cn_real *X, int n, int d, cn_pca *out, cn_error *err);

/* cn_pca_free: release the arrays and zero the struct. NULL is a no-op. */
void cn_pca_free(cn_pca *pca);

/* cn_pca_truncate: keep only the top k components (1 <= k <= pca->m; else
 * CN_ERR_ARG), so a model file carries k * d values instead of d * d. */
cn_status cn_pca_truncate(cn_pca *pca, int k, cn_error *err);

/* cn_pca_explained: the fraction of the training variance that the top k
 * components explain, sum(eigvals[0..k)) / total_var; k is clamped to 0..m.
 * 1.0 when total_var is 0 (constant data). */
double cn_pca_explained(const cn_pca *pca, int k);

/* cn_pca_components_for: the smallest k whose explained fraction reaches ratio
 * (0 < ratio <= 1), or m when the kept components never reach it. */
int cn_pca_components_for(const cn_pca *pca, double ratio);

/* cn_pca_out_dim: the number of values per record mode produces: k for
 * REDUCE and WHITEN, d for ZCA. k = 0 selects m. */
int cn_pca_out_dim(const cn_pca *pca, cn_pca_mode mode, int k);

/* cn_pca_matrix: the linear map of mode as a matrix W (p, d), p =
 * cn_pca_out_dim(pca, mode, k), so that y = W (x - mean). k in 0..m (0 selects
 * m); eps >= 0 is added to each eigenvalue before the square root (WHITEN and
 * ZCA; ignored by REDUCE). Errors: k or eps out of range, or a component with
 * lambda + eps <= 0 when whitening (CN_ERR_NUMERIC: give eps > 0) - W is then
 * left unspecified. For ZCA, W is symmetric (computed as one product whose
 * mirrored halves are made equal exactly). */
cn_status cn_pca_matrix(const cn_pca *pca, cn_pca_mode mode, int k, double eps,
                        cn_real *W, cn_error *err);

/* cn_pca_project: out (n, p) = (X - mean) W^T for X (n, d), mean (d), W (p, d):
 * applies a matrix from cn_pca_matrix (build it once, project many batches).
 * Rows are centred in blocks of a bounded scratch buffer, one cn_gemm per block;
 * X and out must not overlap. n >= 0, p >= 1, d >= 1 (CN_ERR_ARG otherwise);
 * CN_ERR_NOMEM when the scratch buffer cannot be allocated. */
cn_status cn_pca_project(const cn_real *mean, const cn_real *W, int p, int d,
                         const cn_real *X, int n, cn_real *out, cn_error *err);

/* cn_pca_transform: out (n, p) from X (n, d) with the fitted training
 * statistics (cn_pca_matrix then cn_pca_project). n >= 0. Errors as
 * cn_pca_matrix, and CN_ERR_NOMEM. */
cn_status cn_pca_transform(const cn_pca *pca, cn_pca_mode mode, int k, double eps,
                           const cn_real *X, int n, cn_real *out, cn_error *err);

/* cn_pca_inverse: map transformed rows Y (n, p) back to the input space,
 * out (n, d) = Y M + mean, with M (p, d) the inverse map of mode (REDUCE: V_k;
 * WHITEN: diag(sqrt(lambda + eps)) V_k; ZCA: V_k^T diag(sqrt(lambda + eps)) V_k).
 * With k = d this reconstructs X exactly (up to round-off); with k < d it is
 * the projection onto the top-k subspace. Arguments as cn_pca_transform. */
cn_status cn_pca_inverse(const cn_pca *pca, cn_pca_mode mode, int k, double eps,
                         const cn_real *Y, int n, cn_real *out, cn_error *err);

/* cn_pca_save: add the statistics to w as four cn_real tensors (F32, or F64
 * when CN_DOUBLE) named prefix + "mean" (d), "eigvals" (m), "components" (m, d)
 * and "total_var" (1), e.g. prefix "preproc.pca." in a model file. Writer
 * errors are passed on. */
cn_status cn_pca_save(const cn_pca *pca, cn_st_writer *w, const char *prefix,
                      cn_error *err);

/* cn_pca_load: read those four tensors back from st (F32 or F64) into *out
 * (owned by the caller; zeroed on error). Checks, each CN_ERR_FORMAT naming the
 * tensor: shapes agree ((d), (m), (m, d), (1) with 1 <= m <= d <=
 * CN_PCA_MAX_DIM), every value finite, eigenvalues non-negative and descending,
 * each component of unit length (within 1e-3). A missing tensor: CN_ERR_ARG
 * from cn_safetensors_get_real. Round-trips bit-exactly at the same precision. */
cn_status cn_pca_load(const cn_safetensors *st, const char *prefix, cn_pca *out,
                      cn_error *err);

/* ------------------------------------------------------------------ [-1, 1] */

/* cn_scale_pm1: x -> 2x - 1 for count values in place: maps data in [0, 1]
 * (cn_dataset pixels) to [-1, 1]; needs no fitting. */
void cn_scale_pm1(cn_real *X, size_t count);

/* cn_scale: per-dimension minimum and maximum fitted on training rows, for
 * x -> 2 (x - lo) / (hi - lo) - 1, which maps the training data's range of every
 * dimension onto [-1, 1] (other splits may fall outside). A dimension that is
 * constant in the training data (hi == lo) maps to x - lo (0 on the training
 * data). Owns its arrays. */
typedef struct cn_scale {
    int d;
    cn_real *lo;   /* (d) training minimum */
    cn_real *hi;   /* (d) training maximum */
} cn_scale;

/* cn_scale_fit: lo and hi of every column of X (n, d), n >= 1, d >= 1. A NaN
 * or Inf: CN_ERR_NUMERIC naming row and column. *out is owned by the caller
 * (cn_scale_free); zeroed on error. */
cn_status cn_scale_fit(const cn_real *X, int n, int d, cn_scale *out, cn_error *err);

/* cn_scale_apply: scale X (n, d) in place; d must equal s->d (CN_ERR_SHAPE). */
cn_status cn_scale_apply(const cn_scale *s, cn_real *X, int n, int d, cn_error *err);

/* cn_scale_free: release the arrays and zero the struct. NULL is a no-op. */
void cn_scale_free(cn_scale *s);

/* cn_scale_save / cn_scale_load: tensors prefix + "lo" (d) and "hi" (d).
 * Load checks equal shapes, finite values and lo <= hi (CN_ERR_FORMAT naming
 * the tensor and index). */
cn_status cn_scale_save(const cn_scale *s, cn_st_writer *w, const char *prefix,
                        cn_error *err);
cn_status cn_scale_load(const cn_safetensors *st, const char *prefix, cn_scale *out,
                        cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_PCA_H */
