/* convnet/summary.h: a per-node summary of a compiled model, the layout of the
 * CS231n notes' VGG-16 walk-through: for every node its output shape, the
 * memory its activations take per image (forward only, and for training), its
 * parameter count, its forward FLOPs per image and its receptive field on the
 * input image (size r, jump j, centre of the first output's field), plus totals.
 * `convnet summary` prints it; docs/summary.md has the formulas and the memory
 * accounting. */
#ifndef CONVNET_SUMMARY_H
#define CONVNET_SUMMARY_H

#include <stddef.h>

#include "convnet/core.h"
#include "convnet/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cn_summary_row: one node (rows are in build order, row i is node i).
 *   name             the node's name: points into the model (valid until the model
 *                    is freed or a node is added)
 *   ndim, shape      per-sample output shape (ndim 0 for a loss)
 *   params           trainable parameters the node owns (buffers excluded)
 *   act_bytes_fwd    the output of one image: numel * sizeof(cn_real) (0 for a
 *                    loss: its one value is per batch)
 *   act_bytes_train  what one image keeps during training: the output, its
 *                    gradient (when a gradient would reach it with training on and
 *                    no input gradient: the node owns parameters or reads a node
 *                    that receives one) and the node's saved area for backward
 *                    (indices, masks, statistics) divided by the compiled batch,
 *                    rounded up. Shared scratch (im2col) and parameter memory are
 *                    not counted.
 *   flops            forward FLOPs per image (cn_model_node_flops)
 *   rf_valid         1 when the output is a spatial map of an image input with a
 *                    finite receptive field; 0 otherwise (a loss, a vector after
 *                    flatten / linear / global pooling / reshape, a non-image
 *                    input, or a map that depends on the whole image through such
 *                    a vector, e.g. channel_scale): its field is the whole input
 *   rf_size, rf_jump, rf_start  (h, w), in input pixels: the receptive field's
 *                    size r, the distance j between neighbouring outputs' fields,
 *                    and the centre of output 0's field (input pixel k spans
 *                    [k, k + 1), so its centre is k + 0.5) */
typedef struct cn_summary_row {
    int node;
    const char *name;
    cn_op_kind op;
    int ndim, shape[CN_MAX_DIMS];
    size_t params;
    size_t act_bytes_fwd;
    size_t act_bytes_train;
    double flops;
    int rf_valid;
    double rf_size[2], rf_jump[2], rf_start[2];
} cn_summary_row;

/* cn_summary: every node's row and the totals (sums over the rows).
 *   params           equals cn_model_params(m)->count
 *   buffers          non-trainable values (running statistics),
 *                    cn_model_params(m)->buffer_count
 *   flops            equals cn_model_flops(m)
 *   batch            the batch the model was compiled for (act_bytes_train divides
 *                    saved areas by it) */
typedef struct cn_summary {
    int n;
    cn_summary_row *rows;   /* (n) */
    size_t params, buffers;
    size_t act_bytes_fwd, act_bytes_train;
    double flops;
    int batch;
} cn_summary;

/* cn_model_summarize: fill *out for the compiled model m (any batch, training or
 * not). out owns its rows afterwards (cn_summary_free). Receptive fields (per
 * spatial axis, input: r = 1, j = 1, start = 0.5):
 *   conv2d, maxpool2d, avgpool2d (kernel k, stride s, pad p, dilation d):
 *     k_eff = d (k - 1) + 1, j' = j s, r' = r + (k_eff - 1) j,
 *     start' = start + ((k_eff - 1) / 2 - p) j
 *   adaptive_avgpool2d: when the output size divides the input's, the window
 *     k = s = in / out (pad 0) above; otherwise rf_valid 0 (the bins are not one grid)
 *   conv_transpose2d, maxunpool2d (the zero-stuffing view: upsample by s, then a
 *     stride-1 kernel on the finer grid): j' = j / s, r' = r + (k_eff - 1) j',
 *     start' = start + (p - (k_eff - 1) / 2) j'
 *   upsample (effective factor f = out / in per axis): nearest keeps r, bilinear
 *     adds j (it reads two neighbours); j' = j / f and start' = start - j / 2 +
 *     j' / 2 (with align_corners: j' = j (in - 1) / (out - 1), start kept)
 *   pad: start' = start - pad_before j; slice along a spatial axis: start' =
 *     start + offset j
 *   add, mul, concat: the largest r over the inputs, the first input's j and start
 *   element-wise ops, activations, normalisations (statistics treated as
 *     constants), dropout, drop_path, lrn, maxout, softmax, identity: the input's
 *   everything else (flatten, linear, global pooling, reshape, losses, conv1d/3d
 *     on non-image inputs): rf_valid 0; so is any node reading an rf_valid 0 node.
 * Errors: CN_ERR_ARG (NULL arguments, an uncompiled model), CN_ERR_NOMEM,
 * CN_ERR_RANGE (byte counts overflowing size_t). On error *out is zeroed. */
cn_status cn_model_summarize(const cn_model *m, cn_summary *out, cn_error *err);

/* cn_summary_free: free s's rows and zero it. NULL is a no-op. */
void cn_summary_free(cn_summary *s);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_SUMMARY_H */
