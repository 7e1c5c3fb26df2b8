/* op.h (internal): the contract between the model graph (src/model/) and the
 * ops (src/ops/<op>.c). One const vtable per op kind; the graph calls infer at
 * compile time and forward / backward at run time; an op never allocates at run
 * time: it declares what it needs (parameters, buffers, saved bytes, scratch)
 * in infer and receives it in its context.
 *
 * Conventions:
 *  - Shapes in cn_shape are per sample (no batch); run-time buffers are
 *    (n, shape...) with the call's batch n <= the compiled batch.
 *  - forward writes y; backward OVERWRITES each dx[j] that is not NULL (the
 *    graph sums several consumers) and ACCUMULATES parameter gradients.
 *  - Sizes that infer declares for the compiled batch must not grow when n is
 *    smaller (forward gets the same buffers for any n <= batch).
 */
#ifndef CONVNET_SRC_OPS_OP_H
#define CONVNET_SRC_OPS_OP_H

#include "convnet/model.h"
#include "convnet/kernels.h"
#include "convnet/conv.h"
#include "convnet/norm_kernels.h"
#include "convnet/activation_kernels.h"
#include "convnet/loss_kernels.h"

/* the most parameters (or buffers) one op declares */
#define CN_OP_MAX_PARAMS 4

/* cn_shape: a per-sample shape. ndim 0 is a scalar (losses). */
typedef struct cn_shape {
    int ndim;
    int d[CN_MAX_DIMS];
} cn_shape;

/* cn_shape_numel: product of the dims (1 for ndim 0); saturates at SIZE_MAX. */
size_t cn_shape_numel(const cn_shape *s);
/* cn_shape_str: "(3, 32, 32)" into buf (always terminated); returns buf. */
char *cn_shape_str(const cn_shape *s, char *buf, size_t size);
/* cn_shape_eq: 1 when equal. */
int cn_shape_eq(const cn_shape *a, const cn_shape *b);

/* cn_param_decl: one parameter or buffer an op asks for. */
typedef struct cn_param_decl {
    const char *what;       /* "weight", "bias", "running_mean", ... */
    cn_param_role role;
    int ndim, shape[CN_MAX_DIMS];
    cn_init init;           /* its default initialiser (overridden by the node's
                               weight_init / bias_init when not CN_INIT_DEFAULT) */
} cn_param_decl;

/* cn_infer: the compile-time question and the op's answer. */
typedef struct cn_infer {
    /* given */
    const char *node;               /* node name, for messages */
    const cn_attrs *a;
    int n_in;
    const cn_shape *const *in;      /* (n_in) input shapes */
    int batch;                      /* the compiled batch */
    /* answered by infer (zeroed before the call) */
    cn_shape out;                   /* output shape (ndim 0 for losses) */
    int n_params;
    cn_param_decl params[CN_OP_MAX_PARAMS];  /* trainable, in order */
    int n_buffers;
    cn_param_decl buffers[CN_OP_MAX_PARAMS]; /* running statistics */
    size_t saved_bytes;             /* kept from forward to backward, for batch samples */
    size_t ws_reals;                /* scratch for forward and backward */
    double flops;                   /* forward FLOPs per sample */
} cn_infer;

/* cn_op_ctx: one forward or backward call. */
typedef struct cn_op_ctx {
    const char *node;               /* node name, for messages */
    const cn_attrs *a;
    int n;                          /* batch of this call */
    int training;                   /* 1 in CN_TRAIN mode */
    int fuse_relu;                  /* forward applies ReLU to y too (evaluation
                                       fusion; batchnorm does it in its own pass,
                                       for other ops the graph does it after) */
    cn_rng *rng;                    /* NULL: replay saved randomness */
    int n_in;
    const cn_shape *const *in;      /* (n_in) per-sample input shapes */
    const cn_shape *out;
    const cn_real *const *x;        /* (n_in) inputs, each (n, in[j]) */
    cn_real *y;                     /* (n, out) output; loss: (1) */
    cn_real *const *param;          /* parameter values, declaration order */
    cn_real *const *grad;           /* their gradients (NULL in eval-only models) */
    cn_real *const *buffer;         /* buffers, declaration order */
    void *saved;                    /* saved_bytes, 64-byte aligned */
    const void *const *in_saved;    /* (n_in) the inputs' saved areas (maxunpool2d) */
    cn_real *ws;                    /* ws_reals scratch */
    const cn_target *target;        /* losses */
    /* backward only */
    const cn_real *dy;              /* (n, out); NULL for losses */
    cn_real *const *dx;             /* (n_in) each (n, in[j]) or NULL: OVERWRITE */
    double dloss;                   /* losses: dL_total/d(this loss) = weight */
} cn_op_ctx;

/* cn_op_vtable: one op kind. */
typedef struct cn_op_vtable {
    cn_op_kind kind;
    const char *name;
    int min_in, max_in;             /* max_in 0: unlimited */
    int is_loss;
    /* infer: check attributes against input shapes; fill the answer.
     * CN_ERR_SHAPE / CN_ERR_ARG with a message naming inf->node. */
    cn_status (*infer)(cn_infer *inf, cn_error *err);
    /* forward: y from x. Returns an error only for data-dependent faults
     * (labels out of range, batch-norm statistics over one value). Losses
     * store the loss in y[0]. */
    cn_status (*forward)(cn_op_ctx *c, cn_error *err);
    /* backward: dx from dy (or from dloss for losses); parameter grads +=. */
    void (*backward)(cn_op_ctx *c);
} cn_op_vtable;

/* cn_op_table: the vtable of op, or NULL for an invalid kind. */
const cn_op_vtable *cn_op_table(cn_op_kind op);

/* Helpers shared by ops (src/ops/common.c). */

/* cn_infer_param: append a trainable parameter declaration. */
void cn_infer_param(cn_infer *inf, const char *what, cn_param_role role, int ndim,
                    const int *shape, cn_init init);
/* cn_infer_buffer: append a buffer declaration filled with value at init. */
void cn_infer_buffer(cn_infer *inf, const char *what, int ndim, const int *shape,
                     double value);
/* cn_infer_same_shape: CN_ERR_SHAPE unless every input has the shape of input 0
 * (message names the node and both shapes). */
cn_status cn_infer_same_shape(const cn_infer *inf, cn_error *err);
/* cn_infer_rank: CN_ERR_SHAPE unless input j has a rank in [lo, hi]. */
cn_status cn_infer_rank(const cn_infer *inf, int j, int lo, int hi, cn_error *err);
/* cn_infer_inner: the product of input j's dims after the first (1 for rank 1);
 * fails with CN_ERR_RANGE when it does not fit int. */
cn_status cn_infer_inner(const cn_infer *inf, int j, int *inner, cn_error *err);
/* cn_mul_size: a * b saturating at SIZE_MAX. */
size_t cn_mul_size(size_t a, size_t b);

/* cn_init_of: a default initialiser of kind k (cn_init_make). */
cn_init cn_init_of(cn_init_kind k);

/* cn_ctx_inner: product of in[j]'s dims after the first (1 for rank 1). */
size_t cn_ctx_inner(const cn_op_ctx *c, int j);

#endif /* CONVNET_SRC_OPS_OP_H */
