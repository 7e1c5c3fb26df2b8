/* distance.c: pairwise distance kernels for k-nearest neighbours: squared row
 * norms, squared Euclidean distances through the |q|^2 - 2 q.r + |r|^2 expansion
 * (one GEMM), and Manhattan distances with a register- and cache-blocked kernel
 * whose inner loop over d vectorises. No loop over pairs in Python-course style:
 * every distance matrix is produced by whole-block arithmetic. */
#include "convnet/kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef CN_DOUBLE
#define CN_ABS(x) fabs(x)
#else
#define CN_ABS(x) fabsf(x)
#endif

/* Lanes of the L1 accumulators: one 64-byte vector of cn_real (16 floats or 8
 * doubles). Each (query, reference) pair keeps LANES independent partial sums,
 * so the loop over d has no serial dependency and vectorises without
 * reassociating floating point (no -ffast-math needed). */
#define L1_LANES (64 / (int)sizeof(cn_real))
/* Micro-tile: L1_MQ query rows x L1_MR reference rows share every load. */
#define L1_MQ 4
#define L1_MR 2
/* Cache tile handed to one thread: L1_TQ query rows x L1_TR reference rows. */
#define L1_TQ 16
#define L1_TR 128

void cn_sq_norms(const cn_real *X, int n, int d, cn_real *out)
{
    CN_ASSERT(n >= 0 && d >= 0);
    CN_ASSERT(n == 0 || (X != NULL && out != NULL));
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int i = 0; i < n; i++) {
        const cn_real *x = X + (size_t)i * (size_t)d; // x (d)
        double s = 0.0;
        for (int j = 0; j < d; j++)
            s += (double)x[j] * (double)x[j];
        out[i] = (cn_real)s;
    }
}

void cn_dist_l2sq(const cn_real *Q, const cn_real *qn, int nq, const cn_real *R,
                  const cn_real *rn, int nr, int d, cn_real *out, int ldo)
{
    CN_ASSERT(nq >= 0 && nr >= 0 && d >= 0 && ldo >= nr);
    if (nq == 0 || nr == 0)
        return;
    CN_ASSERT(Q != NULL && qn != NULL && R != NULL && rn != NULL && out != NULL);
    // out (nq, nr) = -2 Q R^T, one GEMM for the whole block
    cn_gemm(CN_NO_TRANS, CN_TRANS, nq, nr, d, (cn_real)-2, Q, d, R, d, (cn_real)0, out,
            ldo);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int i = 0; i < nq; i++) {
        cn_real *o = out + (size_t)i * (size_t)ldo; // o (nr)
        const cn_real a = qn[i];
        for (int j = 0; j < nr; j++) {
            cn_real v = o[j] + a + rn[j];
            o[j] = v > (cn_real)0 ? v : (cn_real)0;
        }
    }
}

#if defined(__GNUC__)
/* l1_vec: one 64-byte vector of cn_real (GCC/Clang vector extension; without
 * AVX-512 the compiler splits it into two or four narrower registers). Only
 * local variables of this type are used, never arguments or return values, so
 * the ABI does not depend on the instruction set. */
typedef cn_real l1_vec __attribute__((vector_size(64)));
#ifdef CN_DOUBLE
typedef int64_t l1_ivec __attribute__((vector_size(64)));
#define L1_ABS_MASK INT64_MAX
#else
typedef int32_t l1_ivec __attribute__((vector_size(64)));
#define L1_ABS_MASK INT32_MAX
#endif
/* |x| by clearing the sign bit: the vectorised fabs. */
#define L1_VABS(x) ((l1_vec)((l1_ivec)(x) & L1_ABS_MASK))

/* l1_micro: out[a*ldo + b] = sum_k |q_a[k] - r_b[k]| for L1_MQ = 4 query rows q
 * (stride d) and L1_MR = 2 reference rows r (stride d). Eight vector
 * accumulators (one per pair) stay in registers; each loaded vector of a query
 * row is used twice and each of a reference row four times. */
static void l1_micro(const cn_real *q, const cn_real *r, int d, cn_real *out, int ldo)
{
    const size_t sd = (size_t)d;
    const cn_real *q0 = q, *q1 = q + sd, *q2 = q + 2 * sd, *q3 = q + 3 * sd;
    const cn_real *r0 = r, *r1 = r + sd;
    l1_vec a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0};
    l1_vec a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
    const int dv = d - d % L1_LANES;
    for (int k = 0; k < dv; k += L1_LANES) {
        l1_vec x0, x1, y;
        memcpy(&x0, r0 + k, sizeof x0);
        memcpy(&x1, r1 + k, sizeof x1);
        memcpy(&y, q0 + k, sizeof y);
        a00 += L1_VABS(y - x0);
        a01 += L1_VABS(y - x1);
        memcpy(&y, q1 + k, sizeof y);
        a10 += L1_VABS(y - x0);
        a11 += L1_VABS(y - x1);
        memcpy(&y, q2 + k, sizeof y);
        a20 += L1_VABS(y - x0);
        a21 += L1_VABS(y - x1);
        memcpy(&y, q3 + k, sizeof y);
        a30 += L1_VABS(y - x0);
        a31 += L1_VABS(y - x1);
    }
    cn_real acc[L1_MQ][L1_MR][L1_LANES];
    memcpy(acc[0][0], &a00, sizeof a00);
    memcpy(acc[0][1], &a01, sizeof a01);
    memcpy(acc[1][0], &a10, sizeof a10);
    memcpy(acc[1][1], &a11, sizeof a11);
    memcpy(acc[2][0], &a20, sizeof a20);
    memcpy(acc[2][1], &a21, sizeof a21);
    memcpy(acc[3][0], &a30, sizeof a30);
    memcpy(acc[3][1], &a31, sizeof a31);
#else
/* l1_micro: out[a*ldo + b] = sum_k |q_a[k] - r_b[k]| for L1_MQ query rows q
 * (stride d) and L1_MR reference rows r (stride d); portable lane-wise sums. */
static void l1_micro(const cn_real *q, const cn_real *r, int d, cn_real *out, int ldo)
{
    const size_t sd = (size_t)d;
    cn_real acc[L1_MQ][L1_MR][L1_LANES];
    const int dv = d - d % L1_LANES;
    for (int a = 0; a < L1_MQ; a++)
        for (int b = 0; b < L1_MR; b++) {
            for (int t = 0; t < L1_LANES; t++)
                acc[a][b][t] = 0;
            for (int k = 0; k < dv; k += L1_LANES)
                for (int t = 0; t < L1_LANES; t++)
                    acc[a][b][t] += CN_ABS(q[a * sd + k + t] - r[b * sd + k + t]);
        }
#endif
    for (int a = 0; a < L1_MQ; a++) {
        const cn_real *qa = q + (size_t)a * sd;
        for (int b = 0; b < L1_MR; b++) {
            const cn_real *rb = r + (size_t)b * sd;
            cn_real s = 0;
            for (int k = dv; k < d; k++)
                s += CN_ABS(qa[k] - rb[k]);
            for (int t = 0; t < L1_LANES; t++)
                s += acc[a][b][t];
            out[(size_t)a * (size_t)ldo + b] = s;
        }
    }
}

/* l1_one: the distance between one query row and one reference row, with the
 * same lane-wise partial sums (used for the edges of a tile). */
static cn_real l1_one(const cn_real *q, const cn_real *r, int d)
{
    cn_real acc[L1_LANES];
    for (int t = 0; t < L1_LANES; t++)
        acc[t] = 0;
    const int dv = d - d % L1_LANES;
    for (int k = 0; k < dv; k += L1_LANES)
        for (int t = 0; t < L1_LANES; t++)
            acc[t] += CN_ABS(q[k + t] - r[k + t]);
    cn_real s = 0;
    for (int k = dv; k < d; k++)
        s += CN_ABS(q[k] - r[k]);
    for (int t = 0; t < L1_LANES; t++)
        s += acc[t];
    return s;
}

/* l1_tile: distances for query rows [i0, i1) and reference rows [j0, j1). */
static void l1_tile(const cn_real *Q, int i0, int i1, const cn_real *R, int j0, int j1,
                    int d, cn_real *out, int ldo)
{
    const size_t sd = (size_t)d;
    int i = i0;
    for (; i + L1_MQ <= i1; i += L1_MQ) {
        int j = j0;
        for (; j + L1_MR <= j1; j += L1_MR)
            l1_micro(Q + (size_t)i * sd, R + (size_t)j * sd, d,
                     out + (size_t)i * (size_t)ldo + j, ldo);
        for (; j < j1; j++)
            for (int a = 0; a < L1_MQ; a++)
                out[(size_t)(i + a) * (size_t)ldo + j] =
                    l1_one(Q + (size_t)(i + a) * sd, R + (size_t)j * sd, d);
    }
    for (; i < i1; i++)
        for (int j = j0; j < j1; j++)
            out[(size_t)i * (size_t)ldo + j] =
                l1_one(Q + (size_t)i * sd, R + (size_t)j * sd, d);
}

void cn_dist_l1(const cn_real *Q, int nq, const cn_real *R, int nr, int d, cn_real *out,
                int ldo)
{
    CN_ASSERT(nq >= 0 && nr >= 0 && d >= 0 && ldo >= nr);
    if (nq == 0 || nr == 0)
        return;
    CN_ASSERT(Q != NULL && R != NULL && out != NULL);
    const int tq = (nq + L1_TQ - 1) / L1_TQ;
    const int tr = (nr + L1_TR - 1) / L1_TR;
    const long ntiles = (long)tq * (long)tr;
    // Tiles are ordered reference-tile-major so consecutive tiles (and the
    // threads working on neighbouring ones) share a reference tile in cache.
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4)
#endif
    for (long t = 0; t < ntiles; t++) {
        const int bj = (int)(t / tq), bi = (int)(t % tq);
        const int i0 = bi * L1_TQ, j0 = bj * L1_TR;
        const int i1 = i0 + L1_TQ < nq ? i0 + L1_TQ : nq;
        const int j1 = j0 + L1_TR < nr ? j0 + L1_TR : nr;
        l1_tile(Q, i0, i1, R, j0, j1, d, out, ldo);
    }
}
