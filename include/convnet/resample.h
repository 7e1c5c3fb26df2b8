/* convnet/resample.h: pure resampling kernels on raw NCHW arrays (no tensors, no
 * graph): max unpooling (nn.MaxUnpool2d), upsampling by nearest neighbour or
 * bilinear interpolation (F.interpolate, modes 'nearest' and 'bilinear'), and
 * constant zero / value padding (F.pad, mode 'constant'), forward and backward,
 * each with PyTorch 1.13's CPU semantics to the letter.
 *
 * Conventions shared by every kernel here:
 *  - Arrays are contiguous, outermost-first: x (n, c, h, w). A plane is one
 *    (h, w) slice of one image and channel; there are n * c planes.
 *  - Each op has a _check function that validates sizes (and, for unpooling, the
 *    indices) once; the kernels then trust their arguments (violations they can
 *    see cheaply hit CN_ASSERT: they are programmer errors).
 *  - Kernels never allocate and never fail. Outputs must not alias inputs.
 *  - An input gradient dx is OVERWRITTEN (it is this op's dL/dx; the graph sums
 *    several consumers itself). These ops have no parameters.
 *  - OpenMP parallel loops over planes only; each plane is computed alone in a
 *    fixed order, so every result is bit-identical for any thread count (tested).
 *    Built OPENMP=0 everything is serial.
 *  - docs/kernels/resample.md gives the formulas and PyTorch's rules in full.
 */
#ifndef CONVNET_RESAMPLE_H
#define CONVNET_RESAMPLE_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ max unpooling */

/* cn_maxunpool2d_out_size: nn.MaxUnpool2d's default output size for one axis,
 * (in - 1) * s - 2p + k, for the max pooling (kernel k, stride s, padding p)
 * whose indices are being undone. Returns -1 when in, k or s is < 1, p < 0, or
 * the result is < 1 or does not fit int. (PyTorch's own default stride is k.) */
int cn_maxunpool2d_out_size(int in, int k, int s, int p);

/* cn_maxunpool2d_check: validate an unpooling of x (n, c, h, w) into
 * y (n, c, h_out, w_out) through idx (n, c, h, w).
 * Errors:
 *   CN_ERR_SHAPE  a size < 1;
 *   CN_ERR_ARG    idx NULL;
 *   CN_ERR_RANGE  a buffer whose element count overflows size_t, an output plane
 *                 h_out * w_out beyond int32, or an index outside
 *                 [0, h_out * w_out): the message names the first such element
 *                 as (n, c, h, w) and its value (the -1 that max pooling records
 *                 for an empty window is rejected too). */
cn_status cn_maxunpool2d_check(int n, int c, int h, int w, int h_out, int w_out,
                               const int32_t *idx, cn_error *err);

/* cn_maxunpool2d_forward: y zero-filled, then y[plane][idx[e]] = x[e] for every
 * input element e of that plane, in row-major scan order: where two inputs name
 * the same position the later one wins (PyTorch leaves that undefined; its
 * single-threaded CPU kernel does the same). idx are flat positions oh*w_out + ow
 * within an output plane, exactly what cn_maxpool2d_forward records (convnet/conv.h).
 *   x   (n, c, h, w)
 *   idx (n, c, h, w), every value in [0, h_out * w_out) (cn_maxunpool2d_check)
 *   y   (n, c, h_out, w_out), overwritten */
void cn_maxunpool2d_forward(int n, int c, int h, int w, int h_out, int w_out,
                            const cn_real *x, const int32_t *idx, cn_real *y);

/* cn_maxunpool2d_backward: dx OVERWRITTEN: dx[e] = dy[plane][idx[e]] (PyTorch's
 * gather). With duplicate indices every input that named a position receives its
 * gradient, as in PyTorch, although only the last one reached the output.
 *   dy (n, c, h_out, w_out), idx (n, c, h, w), dx (n, c, h, w) */
void cn_maxunpool2d_backward(int n, int c, int h, int w, int h_out, int w_out,
                             const cn_real *dy, const int32_t *idx, cn_real *dx);

/* ================================================================ upsampling */

/* cn_upsample_mode: F.interpolate's mode 'nearest' (the legacy, asymmetric
 * nearest neighbour, not 'nearest-exact') or 'bilinear'. */
typedef enum cn_upsample_mode {
    CN_UPSAMPLE_NEAREST = 0,
    CN_UPSAMPLE_BILINEAR = 1,
    CN_UPSAMPLE_MODE_COUNT
} cn_upsample_mode;

/* cn_upsample_mode_name: "nearest" or "bilinear" (PyTorch's names), or "unknown". */
const char *cn_upsample_mode_name(cn_upsample_mode mode);

/* cn_upsample2d_out_size: the output size F.interpolate gives one axis of size
 * in for scale_factor scale: floor(in * scale) in double. Returns -1 when in < 1,
 * scale is not a finite number > 0, or the result is < 1 or does not fit int. */
int cn_upsample2d_out_size(int in, double scale);

/* cn_upsample2d_check: validate an upsampling of x (n, c, h, w) into
 * y (n, c, h_out, w_out). scale_h / scale_w > 0 mean "called with scale_factor"
 * (then h_out must be cn_upsample2d_out_size(h, scale_h), F.interpolate's rule;
 * likewise w); 0 means "called with an explicit size". The two axes are
 * independent.
 * Errors:
 *   CN_ERR_ARG    an unknown mode, align_corners set with mode nearest (PyTorch
 *                 rejects it too), a scale that is negative or not finite;
 *   CN_ERR_SHAPE  a size < 1, or an output size that disagrees with the scale;
 *   CN_ERR_RANGE  a buffer whose element count overflows size_t. */
cn_status cn_upsample2d_check(cn_upsample_mode mode, int align_corners, int n, int c, int h,
                              int w, int h_out, int w_out, double scale_h, double scale_w,
                              cn_error *err);

/* cn_upsample2d_forward: y = F.interpolate(x, ..., mode, align_corners) with
 * PyTorch 1.13's source positions, per axis (in, out, scale as above):
 *   nearest:  src = out == in ? o : out == 2 in ? o / 2 :
 *             min(floor(o * r), in - 1) with r = float(1 / scale) if scale > 0
 *             else float(in) / out, computed in single precision as PyTorch does;
 *   bilinear: out == in: a copy; else with align_corners r = (in - 1) / (out - 1)
 *             (0 when out == 1) and src = r * o; without, r = 1 / scale if
 *             scale > 0 else in / out and src = max(r * (o + 0.5) - 0.5, 0);
 *             i0 = trunc(src), i1 = min(i0 + 1, in - 1), l1 = src - i0, l0 = 1 - l1,
 *             y = l0h (l0w x[i0h,i0w] + l1w x[i0h,i1w]) + l1h (l0w x[i1h,i0w] + l1w x[i1h,i1w]).
 * Arguments as validated by cn_upsample2d_check (align_corners: nonzero means
 * true; nearest has none).
 *   x (n, c, h, w), y (n, c, h_out, w_out) overwritten */
void cn_upsample2d_forward(cn_upsample_mode mode, int align_corners, int n, int c, int h,
                           int w, int h_out, int w_out, double scale_h, double scale_w,
                           const cn_real *x, cn_real *y);

/* cn_upsample2d_backward: dx OVERWRITTEN with dL/dx: zero, then every dy element
 * is scattered to the input positions it was read from with the forward weights
 * (nearest: weight 1; bilinear: l0h l0w, l0h l1w, l1h l0w, l1h l1w, added in that
 * order), outputs in row-major order within each plane (PyTorch's order).
 *   dy (n, c, h_out, w_out), dx (n, c, h, w) */
void cn_upsample2d_backward(cn_upsample_mode mode, int align_corners, int n, int c, int h,
                            int w, int h_out, int w_out, double scale_h, double scale_w,
                            const cn_real *dy, cn_real *dx);

/* ================================================================ padding */

/* cn_pad2d_check: validate a constant padding of x (n, c, h, w) by top / bottom
 * rows and left / right columns into y (n, c, h + top + bottom, w + left + right).
 * Errors:
 *   CN_ERR_SHAPE  a size < 1;
 *   CN_ERR_ARG    a negative pad (F.pad would crop; convnet does not);
 *   CN_ERR_RANGE  a padded size beyond int, or a buffer whose element count
 *                 overflows size_t. */
cn_status cn_pad2d_check(int n, int c, int h, int w, int top, int bottom, int left,
                         int right, cn_error *err);

/* cn_pad2d_forward: F.pad(x, (left, right, top, bottom), mode='constant',
 * value=value): y[.., i + top, j + left] = x[.., i, j], every other element value.
 *   x (n, c, h, w), y (n, c, h + top + bottom, w + left + right) overwritten */
void cn_pad2d_forward(int n, int c, int h, int w, int top, int bottom, int left, int right,
                      cn_real value, const cn_real *x, cn_real *y);

/* cn_pad2d_backward: dx OVERWRITTEN with the crop dx[.., i, j] = dy[.., i + top, j + left]
 * (the padding's own values are constants and receive no gradient).
 *   dy (n, c, h + top + bottom, w + left + right), dx (n, c, h, w) */
void cn_pad2d_backward(int n, int c, int h, int w, int top, int bottom, int left, int right,
                       const cn_real *dy, cn_real *dx);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_RESAMPLE_H */
