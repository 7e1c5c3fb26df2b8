/* registry.c: the table from op kind to its vtable (each defined in its own
 * src/ops/<group>.c). Read-only data: no state. */
#include "op.h"

/* vtables, by the file that defines them */
/* input.c, linear.c, conv.c, conv_more.c, pool.c, resample.c */
extern const cn_op_vtable cn_op_vt_input, cn_op_vt_linear, cn_op_vt_conv1d,
    cn_op_vt_conv2d, cn_op_vt_maxpool2d, cn_op_vt_avgpool2d, cn_op_vt_global_avgpool,
    cn_op_vt_global_maxpool, cn_op_vt_conv3d, cn_op_vt_conv_transpose2d, cn_op_vt_maxunpool2d,
    cn_op_vt_upsample, cn_op_vt_adaptive_avgpool2d;
/* group:norm */
/* norm.c, dropout.c */
extern const cn_op_vtable cn_op_vt_batchnorm, cn_op_vt_layernorm, cn_op_vt_groupnorm,
    cn_op_vt_instancenorm, cn_op_vt_lrn, cn_op_vt_dropout, cn_op_vt_dropout2d,
    cn_op_vt_drop_path;
/* group:act */
/* activation.c, structure.c */
extern const cn_op_vtable cn_op_vt_sigmoid, cn_op_vt_tanh, cn_op_vt_relu, cn_op_vt_leaky_relu,
    cn_op_vt_prelu, cn_op_vt_elu, cn_op_vt_selu, cn_op_vt_rrelu, cn_op_vt_softplus,
    cn_op_vt_gelu, cn_op_vt_maxout, cn_op_vt_softmax, cn_op_vt_log_softmax, cn_op_vt_add,
    cn_op_vt_mul, cn_op_vt_channel_scale, cn_op_vt_concat, cn_op_vt_slice, cn_op_vt_flatten,
    cn_op_vt_reshape, cn_op_vt_pad, cn_op_vt_identity;
/* group:loss */
extern const cn_op_vtable cn_op_vt_mse, cn_op_vt_l1, cn_op_vt_smooth_l1, cn_op_vt_huber,
    cn_op_vt_bce_logits, cn_op_vt_kl_div, cn_op_vt_cross_entropy, cn_op_vt_hinge,
    cn_op_vt_ramp, cn_op_vt_lsoftmax, cn_op_vt_center, cn_op_vt_triplet, cn_op_vt_contrastive;

/* table: indexed by cn_op_kind; every kind has an entry once its op file exists */
static const cn_op_vtable *const table[CN_OP_COUNT] = {
    [CN_OP_INPUT] = &cn_op_vt_input,
    [CN_OP_LINEAR] = &cn_op_vt_linear,
    [CN_OP_CONV1D] = &cn_op_vt_conv1d,
    [CN_OP_CONV2D] = &cn_op_vt_conv2d,
    [CN_OP_MAXPOOL2D] = &cn_op_vt_maxpool2d,
    [CN_OP_AVGPOOL2D] = &cn_op_vt_avgpool2d,
    [CN_OP_GLOBAL_AVGPOOL] = &cn_op_vt_global_avgpool,
    [CN_OP_GLOBAL_MAXPOOL] = &cn_op_vt_global_maxpool,
    [CN_OP_ADAPTIVE_AVGPOOL2D] = &cn_op_vt_adaptive_avgpool2d,
    [CN_OP_CONV3D] = &cn_op_vt_conv3d,
    [CN_OP_CONV_TRANSPOSE2D] = &cn_op_vt_conv_transpose2d,
    [CN_OP_MAXUNPOOL2D] = &cn_op_vt_maxunpool2d,
    [CN_OP_UPSAMPLE] = &cn_op_vt_upsample,
    /* table:norm */
    [CN_OP_BATCHNORM] = &cn_op_vt_batchnorm,
    [CN_OP_LAYERNORM] = &cn_op_vt_layernorm,
    [CN_OP_GROUPNORM] = &cn_op_vt_groupnorm,
    [CN_OP_INSTANCENORM] = &cn_op_vt_instancenorm,
    [CN_OP_LRN] = &cn_op_vt_lrn,
    [CN_OP_DROPOUT] = &cn_op_vt_dropout,
    [CN_OP_DROPOUT2D] = &cn_op_vt_dropout2d,
    [CN_OP_DROP_PATH] = &cn_op_vt_drop_path,
    /* table:act */
    [CN_OP_SIGMOID] = &cn_op_vt_sigmoid,
    [CN_OP_TANH] = &cn_op_vt_tanh,
    [CN_OP_RELU] = &cn_op_vt_relu,
    [CN_OP_LEAKY_RELU] = &cn_op_vt_leaky_relu,
    [CN_OP_PRELU] = &cn_op_vt_prelu,
    [CN_OP_ELU] = &cn_op_vt_elu,
    [CN_OP_SELU] = &cn_op_vt_selu,
    [CN_OP_RRELU] = &cn_op_vt_rrelu,
    [CN_OP_SOFTPLUS] = &cn_op_vt_softplus,
    [CN_OP_GELU] = &cn_op_vt_gelu,
    [CN_OP_MAXOUT] = &cn_op_vt_maxout,
    [CN_OP_SOFTMAX] = &cn_op_vt_softmax,
    [CN_OP_LOG_SOFTMAX] = &cn_op_vt_log_softmax,
    [CN_OP_ADD] = &cn_op_vt_add,
    [CN_OP_MUL] = &cn_op_vt_mul,
    [CN_OP_CHANNEL_SCALE] = &cn_op_vt_channel_scale,
    [CN_OP_CONCAT] = &cn_op_vt_concat,
    [CN_OP_SLICE] = &cn_op_vt_slice,
    [CN_OP_FLATTEN] = &cn_op_vt_flatten,
    [CN_OP_RESHAPE] = &cn_op_vt_reshape,
    [CN_OP_PAD] = &cn_op_vt_pad,
    [CN_OP_IDENTITY] = &cn_op_vt_identity,
    /* table:loss */
    [CN_OP_CROSS_ENTROPY] = &cn_op_vt_cross_entropy,
    [CN_OP_HINGE] = &cn_op_vt_hinge,
    [CN_OP_BCE_LOGITS] = &cn_op_vt_bce_logits,
    [CN_OP_MSE] = &cn_op_vt_mse,
    [CN_OP_L1] = &cn_op_vt_l1,
    [CN_OP_SMOOTH_L1] = &cn_op_vt_smooth_l1,
    [CN_OP_HUBER] = &cn_op_vt_huber,
    [CN_OP_KL_DIV] = &cn_op_vt_kl_div,
    [CN_OP_LSOFTMAX] = &cn_op_vt_lsoftmax,
    [CN_OP_CENTER] = &cn_op_vt_center,
    [CN_OP_RAMP] = &cn_op_vt_ramp,
    [CN_OP_TRIPLET] = &cn_op_vt_triplet,
    [CN_OP_CONTRASTIVE] = &cn_op_vt_contrastive,
};

const cn_op_vtable *cn_op_table(cn_op_kind op)
{
    if ((int)op < 0 || op >= CN_OP_COUNT) return NULL;
    return table[op];
}
