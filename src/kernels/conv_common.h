/* conv_common.h (internal): helpers shared by the convolution kernels
 * (im2col.c, conv2d.c, conv3d.c, conv_transpose2d.c): geometry arithmetic
 * (output size, clipped tap ranges, overflow-checked sizes), the bias forward
 * and backward, and the slot-ordered reduction of partial weight gradients.
 * Not part of the public API (nothing under include/ declares these); each
 * kernel keeps its own geometry and passes plain sizes.
 *
 * Determinism: every helper fixes its loop order and accumulates in cn_real,
 * and a parallel loop splits only independent outputs (schedule(static)), so
 * results are bit-identical for any thread count and for `parallel` 0 or 1.
 */
#ifndef CONVNET_SRC_KERNELS_CONV_COMMON_H
#define CONVNET_SRC_KERNELS_CONV_COMMON_H

#include "convnet/core.h"

#include <stddef.h>

/* CN_CONV_PAR_MIN_WORK: below this many multiply-adds a convolution runs on one
 * thread (waking a thread team costs more than it saves; results are identical). */
#define CN_CONV_PAR_MIN_WORK ((size_t)1 << 16)

/* cn_conv_parallel: 1 when work (a convolution's forward multiply-adds, computed
 * by the caller in double so it cannot overflow) reaches CN_CONV_PAR_MIN_WORK. */
int cn_conv_parallel(double work);

/* cn_conv_clip_range: for a kernel tap k along one axis (stride s, padding p,
 * dilation d), the positions o in [0, n_out) whose source position
 * o*s - p + k*d lies in [0, n_in): [*lo, *hi), empty when *lo >= *hi. Used by
 * every unfolding (im2col, vol2col, the transposed convolution's unfold) and the
 * depthwise loops so inner loops carry no bounds tests. s >= 1. */
void cn_conv_clip_range(int n_in, int n_out, int s, int p, int k, int d, int *lo, int *hi);

/* cn_conv_unfold_row: one row of an unfolding (im2col, vol2col, unfold):
 * o (n_out) [q] = src[q*s + off] for q in [lo, hi) (the tap's clipped range from
 * cn_conv_clip_range), 0 elsewhere. src is the source row (its valid entries are
 * src[lo*s + off] .. src[(hi-1)*s + off]); s == 1 copies a contiguous run. */
static inline void cn_conv_unfold_row(cn_real *o, const cn_real *src, int n_out, int lo, int hi,
                                      int s, long long off)
{
    for (int q = 0; q < lo; q++) o[q] = 0;
    if (s == 1) {
        const cn_real *run = src + (off + lo);
        for (int q = lo; q < hi; q++) o[q] = run[q - lo];
    } else {
        for (int q = lo; q < hi; q++) o[q] = src[(long long)q * s + off];
    }
    for (int q = hi; q < n_out; q++) o[q] = 0;
}

/* cn_conv_mul3: *out = a * b * c in size_t; returns 1 on overflow (*out is then
 * left unchanged), else 0. */
int cn_conv_mul3(size_t a, size_t b, size_t c, size_t *out);

/* cn_conv_check_bytes: CN_OK when count reals fit in size_t bytes and
 * overflowed is 0; else CN_ERR_RANGE with "<op>: <what> buffer size overflows
 * size_t" in err. op names the kernel ("conv2d"), what the buffer ("input"). */
cn_status cn_conv_check_bytes(const char *op, size_t count, int overflowed, const char *what,
                              cn_error *err);

/* cn_conv_out_size: *out = (in + 2p - (d*(k-1) + 1)) / s + 1, the output size of
 * one convolution axis ("height", named in messages with the kernel op);
 * CN_ERR_SHAPE when the dilated kernel is larger than the padded input,
 * CN_ERR_RANGE when the size overflows int. */
cn_status cn_conv_out_size(const char *op, const char *axis, int in, int k, int s, int p, int d,
                           int *out, cn_error *err);

/* cn_conv_add_bias: y (n, c, sp) += b (c), channel by channel (one plane of sp
 * outputs per iteration). parallel: 1 to run the planes on OpenMP threads. */
void cn_conv_add_bias(int n, int c, size_t sp, const cn_real *b, cn_real *y, int parallel);

/* cn_conv_bias_grad: db (c) += sum of dy (n, c, sp) over images, then
 * positions, in that fixed order in one cn_real accumulator per channel.
 * parallel: 1 to run the channels on OpenMP threads. */
void cn_conv_bias_grad(int n, int c, size_t sp, const cn_real *dy, cn_real *db, int parallel);

/* cn_conv_reduce_slots: dw (nw) += the slots' partial weight gradients added in
 * slot order: slot s's partial is part + s*stride (nw reals each, slots >= 1),
 * i.e. dw[k] += ((part_0[k] + part_1[k]) + ...) + part_{slots-1}[k].
 * parallel: 1 to run the entries on OpenMP threads. */
void cn_conv_reduce_slots(size_t nw, int slots, size_t stride, const cn_real *part, cn_real *dw,
                          int parallel);

/* cn_conv_slot_fn: the work of slot s of a convolution (its images, with its own
 * workspace slice); ctx carries the kernel's arguments. */
typedef void (*cn_conv_slot_fn)(void *ctx, int s);

/* cn_conv_run_slots: fn(ctx, s) for s in [0, slots): on OpenMP threads when
 * parallel and slots > 1, else in order on the calling thread OUTSIDE any
 * parallel region, so the GEMMs of a lone slot (batch 1) can still split across
 * the threads (inside an inactive `parallel if (0)` region, a nested split
 * measured 10x slower than none). Each slot writes only its own outputs, so
 * results do not depend on which way it ran. */
void cn_conv_run_slots(int slots, int parallel, cn_conv_slot_fn fn, void *ctx);

#endif /* CONVNET_SRC_KERNELS_CONV_COMMON_H */
