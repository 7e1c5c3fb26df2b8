/* convnet/model.h: the neural-network engine's public API: a model is a DAG of
 * nodes (an op, its attributes and its input nodes), built with C calls,
 * compiled for a batch size (shape inference, topological order, parameter
 * layout, an exact memory plan), then run forward in training or evaluation
 * mode and backward for true gradients of the loss (or of any node's output)
 * with respect to every parameter and, on request, the input.
 *
 * Conventions (docs/ARCHITECTURE.md, docs/ops.md):
 *  - Shapes of nodes are PER SAMPLE (no batch dimension): an image input is
 *    (c, h, w), a feature vector (d). At run time every buffer is (n, shape...)
 *    for the batch n of that call, 1 <= n <= the compiled batch. Loss nodes
 *    output one real (the batch's mean loss), not n of them.
 *  - Gradients are true dL/dtheta. Parameter gradients ACCUMULATE over backward
 *    calls; cn_zero_grad clears them. A node's output gradient is the sum over
 *    its consumers.
 *  - The total loss is sum over loss nodes of weight * loss (attribute weight,
 *    1 by default; GoogLeNet's auxiliary heads use 0.3).
 *  - Randomness (dropout masks, RReLU slopes) comes only from the cn_rng passed
 *    to cn_model_forward. Passing rng == NULL in training mode replays the masks
 *    of the previous training forward, so a gradient check sees a fixed network.
 *  - Ids: cn_model_node and the builders return a node id >= 0, or -1 with err
 *    set. Every builder given an input id < 0 returns -1 at once (err untouched),
 *    so a chain of builder calls can be checked once at its end.
 */
#ifndef CONVNET_MODEL_H
#define CONVNET_MODEL_H

#include "convnet/core.h"
#include "convnet/activation_kernels.h"
#include "convnet/init.h"
#include "convnet/resample.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ ops */

/* cn_op_kind: every op of the engine. Names (cn_op_name) are what the model text
 * format and error messages use. docs/ops.md lists shapes, attributes and tests. */
typedef enum cn_op_kind {
    CN_OP_INPUT = 0,           /* "input": attrs ndim, shape (per sample) */
    /* affine and convolution */
    CN_OP_LINEAR,              /* "linear": out, bias, p (DropConnect) */
    CN_OP_CONV1D,              /* "conv1d": out, k, stride, pad, dil, groups, bias */
    CN_OP_CONV2D,              /* "conv2d" */
    CN_OP_CONV3D,              /* "conv3d" */
    CN_OP_CONV_TRANSPOSE2D,    /* "conv_transpose2d": + out_pad */
    /* pooling and resampling */
    CN_OP_MAXPOOL2D,           /* "maxpool2d": k, stride, pad, dil, ceil_mode */
    CN_OP_AVGPOOL2D,           /* "avgpool2d": k, stride, pad, ceil_mode, count_include_pad */
    CN_OP_GLOBAL_AVGPOOL,      /* "global_avgpool": (c, ...) -> (c) */
    CN_OP_GLOBAL_MAXPOOL,      /* "global_maxpool" */
    CN_OP_ADAPTIVE_AVGPOOL2D,  /* "adaptive_avgpool2d": size_hw = output (h, w) (text key out) */
    CN_OP_MAXUNPOOL2D,         /* "maxunpool2d": inputs (x, the maxpool2d node); k, stride, pad */
    CN_OP_UPSAMPLE,            /* "upsample": mode, scale or size, align_corners */
    /* normalisation */
    CN_OP_BATCHNORM,           /* "batchnorm": eps, momentum, affine, track_stats */
    CN_OP_LAYERNORM,           /* "layernorm": eps, affine; normalises the whole sample */
    CN_OP_GROUPNORM,           /* "groupnorm": groups, eps, affine */
    CN_OP_INSTANCENORM,        /* "instancenorm": eps, momentum, affine, track_stats */
    CN_OP_LRN,                 /* "lrn": size, alpha, beta, lrn_k */
    /* regularisation */
    CN_OP_DROPOUT,             /* "dropout": p */
    CN_OP_DROPOUT2D,           /* "dropout2d": p, one draw per (sample, channel) */
    CN_OP_DROP_PATH,           /* "drop_path": p in [0, 1), one draw per sample (stoch. depth) */
    /* activations (element-wise; act holds their parameters) */
    CN_OP_SIGMOID,             /* "sigmoid" */
    CN_OP_TANH,                /* "tanh" */
    CN_OP_RELU,                /* "relu" */
    CN_OP_LEAKY_RELU,          /* "leaky_relu": act.slope */
    CN_OP_PRELU,               /* "prelu": act.prelu_channels */
    CN_OP_ELU,                 /* "elu": act.alpha */
    CN_OP_SELU,                /* "selu" */
    CN_OP_RRELU,               /* "rrelu": act.lower, act.upper */
    CN_OP_SOFTPLUS,            /* "softplus": act.beta, act.threshold */
    CN_OP_GELU,                /* "gelu": act.gelu_tanh */
    CN_OP_MAXOUT,              /* "maxout": pieces */
    CN_OP_SOFTMAX,             /* "softmax": axis */
    CN_OP_LOG_SOFTMAX,         /* "log_softmax": axis */
    /* structure */
    CN_OP_ADD,                 /* "add": 2+ inputs of one shape (residual) */
    CN_OP_MUL,                 /* "mul": 2 inputs of one shape */
    CN_OP_CHANNEL_SCALE,       /* "channel_scale": (x (c, ...), s (c)) -> x * s per channel (SE) */
    CN_OP_CONCAT,              /* "concat": 1+ inputs, along axis (channels) */
    CN_OP_SLICE,               /* "slice": start, count along axis: one part of a split */
    CN_OP_FLATTEN,             /* "flatten": (d1, d2, ...) -> (d1 * d2 * ...) */
    CN_OP_RESHAPE,             /* "reshape": ndim, shape (one entry may be -1) */
    CN_OP_PAD,                 /* "pad": pads (top, bottom, left, right), value */
    CN_OP_IDENTITY,            /* "identity" */
    /* losses: scalar output; targets from cn_target */
    CN_OP_CROSS_ENTROPY,       /* "cross_entropy": labels; class_weights, smoothing */
    CN_OP_HINGE,               /* "hinge": labels; margin, squared */
    CN_OP_BCE_LOGITS,          /* "bce_logits": values (multi-label 0/1 targets) */
    CN_OP_MSE,                 /* "mse": values */
    CN_OP_L1,                  /* "l1": values */
    CN_OP_SMOOTH_L1,           /* "smooth_l1": values; beta */
    CN_OP_HUBER,               /* "huber": values; delta */
    CN_OP_KL_DIV,              /* "kl_div": values (target distributions) */
    CN_OP_LSOFTMAX,            /* "lsoftmax": labels; out (classes), m, lambda; owns W */
    CN_OP_CENTER,              /* "center": labels; out (classes); owns the centres */
    CN_OP_RAMP,                /* "ramp": labels; margin, cap */
    CN_OP_TRIPLET,             /* "triplet": 1 input (batch = 3 blocks a|p|n) or 3; margin */
    CN_OP_CONTRASTIVE,         /* "contrastive": 1 input (2 blocks) or 2; labels; margin */
    CN_OP_COUNT
} cn_op_kind;

/* cn_op_name: the op's name ("conv2d"), "?" for an invalid value. */
const char *cn_op_name(cn_op_kind op);

/* cn_op_parse: name -> op. CN_ERR_ARG naming the nearest valid name for an
 * unknown one. */
cn_status cn_op_parse(const char *name, cn_op_kind *out, cn_error *err);

/* cn_op_is_loss: 1 for the loss ops (scalar output), 0 otherwise. */
int cn_op_is_loss(cn_op_kind op);

/* cn_attrs: every attribute of every op in one flat struct (each op reads its
 * own; cn_attrs_make gives an op's defaults, PyTorch's where it has the op).
 * Spatial arrays k, stride, pad, dil, out_pad are in the op's spatial order:
 * conv1d (w), 2-D ops (h, w), conv3d (d, h, w). */
typedef struct cn_attrs {
    int ndim, shape[CN_MAX_DIMS]; /* input, reshape: per-sample shape */
    int out;                     /* linear: features; conv: channels; lsoftmax, center: classes */
    int k[3], stride[3], pad[3], dil[3], out_pad[3];
    int groups;                  /* conv (1), groupnorm (32) */
    int bias;                    /* linear, conv: 1 adds a bias (1) */
    int ceil_mode;               /* pooling (0) */
    int count_include_pad;       /* avgpool2d (1) */
    double p;                    /* dropout, dropout2d, drop_path (0.5); linear: DropConnect p
                                    (0 = off) */
    double eps;                  /* norms (1e-5) */
    double momentum;             /* batchnorm, instancenorm (0.1) */
    int affine;                  /* norms: learnable gamma, beta (1) */
    int track_stats;             /* batchnorm (1), instancenorm (0): running statistics */
    cn_act_params act;           /* activations: cn_act_params_default() */
    int pieces;                  /* maxout (2) */
    int size;                    /* lrn window (5) */
    double alpha, beta, lrn_k;   /* lrn (1e-4, 0.75, 1) */
    int axis;                    /* softmax, log_softmax, concat, slice: per-sample axis (0) */
    int start, count;            /* slice */
    int pads[4];                 /* pad: top, bottom, left, right (0) */
    double value;                /* pad: fill value (0) */
    cn_upsample_mode mode;       /* upsample (CN_UPSAMPLE_NEAREST) */
    int align_corners;           /* upsample bilinear (0) */
    double scale[2];             /* upsample: factor (h, w) (2, 2); 0 when size is given */
    int size_hw[2];              /* upsample, maxunpool2d: output size (h, w), used when scale
                                    is 0; adaptive_avgpool2d: output size (h, w), >= 1 */
    double weight;               /* losses: weight in the total loss (1) */
    double smoothing;            /* cross_entropy: label smoothing (0) */
    int n_class_weights;         /* cross_entropy: number of class weights (0 = none) */
    const cn_real *class_weights;/* cross_entropy: (n_class_weights); copied by cn_model_node */
    double margin;               /* hinge (1), ramp (1), triplet (1), contrastive (1) */
    int squared;                 /* hinge: 1 squared hinge (0) */
    double cap;                  /* ramp (CN_RAMP_CAP_DEFAULT) */
    double delta;                /* huber delta (1); smooth_l1 beta (1) */
    int m;                       /* lsoftmax margin 1..4 (2) */
    double lambda;               /* lsoftmax annealing weight (0) */
    cn_init weight_init;         /* parameters: kind CN_INIT_DEFAULT = the op's choice */
    cn_init bias_init;           /* biases: default zeros */
} cn_attrs;

/* cn_attrs_make: the defaults of op (listed above). */
cn_attrs cn_attrs_make(cn_op_kind op);

/* cn_target: what the loss nodes compare against, for one batch of n samples.
 * Either may be NULL when no loss node of the model reads it.
 *   labels  (n) class indices (cross_entropy, hinge, lsoftmax, center, ramp);
 *           contrastive: (pairs) 1 similar, 0 dissimilar
 *   values  (n, shape of the loss's input) targets (mse, l1, smooth_l1, huber,
 *           bce_logits, kl_div) */
typedef struct cn_target {
    const int *labels;
    const cn_real *values;
} cn_target;

/* ================================================================ building */

typedef struct cn_model cn_model;

/* cn_model_new: an empty model. NULL with err set (CN_ERR_NOMEM) on failure.
 * Free with cn_model_free. */
cn_model *cn_model_new(cn_error *err);

/* cn_model_free: free m, its nodes, parameters and buffers. NULL is a no-op. */
void cn_model_free(cn_model *m);

/* cn_model_node: append a node of kind op with attributes a (NULL: the op's
 * defaults) reading inputs[0..n_inputs) (existing node ids). name may be NULL
 * (then "<op><k>", k counting that op's nodes from 1: "conv2d1"); it must be
 * unique and may hold letters, digits, '_', '-' and '.'. The attributes are
 * copied (class_weights too). Attribute values are checked here when they do not
 * depend on shapes (CN_ERR_ARG naming the node and attribute); shapes are
 * checked by cn_model_compile. Returns the new id, or -1 with err set. Adding a
 * node to a compiled model makes it uncompiled. */
int cn_model_node(cn_model *m, cn_op_kind op, const cn_attrs *a, const int *inputs,
                  int n_inputs, const char *name, cn_error *err);

/* Builders for the common cases (defaults for every other attribute; the node is
 * named automatically). Each returns the new id or -1 (see the file comment). */
int cn_model_input(cn_model *m, int c, int h, int w, cn_error *err); /* (c, h, w); h = w = 0: (c) */
int cn_model_linear(cn_model *m, int x, int out, cn_error *err);
int cn_model_conv2d(cn_model *m, int x, int out, int k, int stride, int pad, cn_error *err);
int cn_model_maxpool2d(cn_model *m, int x, int k, int stride, cn_error *err);
int cn_model_avgpool2d(cn_model *m, int x, int k, int stride, cn_error *err);
int cn_model_batchnorm(cn_model *m, int x, cn_error *err);
int cn_model_dropout(cn_model *m, int x, double p, cn_error *err);
int cn_model_flatten(cn_model *m, int x, cn_error *err);
int cn_model_add(cn_model *m, int a, int b, cn_error *err);
/* cn_model_unary: a single-input op with its default attributes (relu, tanh,
 * global_avgpool, identity, softmax, ...) or a single-input loss. */
int cn_model_unary(cn_model *m, cn_op_kind op, int x, cn_error *err);

/* ================================================================ compiling */

/* cn_compile_opts: what cn_model_compile plans memory for. */
typedef struct cn_compile_opts {
    int batch;       /* the largest batch forward will be called with (>= 1) */
    int training;    /* 1: keep what backward needs and plan gradient memory */
    int input_grad;  /* 1 (needs training): also compute dL/d(input) */
    size_t max_params; /* 0: no limit; else more parameters + buffer values than
                          this is CN_ERR_RANGE before anything is allocated (model
                          files bound what their bytes can hold this way) */
    int reuse_memory;  /* 1: share memory by liveness. Evaluation (training = 0):
                          node outputs share buffers (one is reused once every reader
                          of the node that wrote it has run); after forward only the
                          inputs, the losses and the prediction node (cn_model_output
                          at compile time) keep their values: cn_model_node_value of
                          any other node is NULL; a ReLU that alone reads a
                          batchnorm, conv2d or linear node is fused into it (batch
                          norm + ReLU in one pass; the ReLU after the bias
                          otherwise). Training: output gradients share
                          buffers over the backward sweep, and so do the outputs no
                          backward reads (a batch norm's output read only by a ReLU,
                          a residual sum); cn_model_node_grad / _value are NULL for
                          those (inputs, losses, the prediction node and nodes
                          without consumers keep theirs) and cn_model_backward_from
                          is refused */
} cn_compile_opts;

/* cn_model_compile: shape inference (errors name the node, its op and the
 * shapes that disagree: CN_ERR_SHAPE), topological order (the build order: a node
 * can only read earlier nodes, so there are no cycles), the parameter layout and
 * an exact memory plan for o->batch. The model must have at least one input node.
 * Compiling again (for another batch size) is explicit and keeps parameter values
 * (matched by name and shape). Errors: CN_ERR_ARG (bad options, no input),
 * CN_ERR_SHAPE, CN_ERR_RANGE (sizes overflowing), CN_ERR_NOMEM. */
cn_status cn_model_compile(cn_model *m, const cn_compile_opts *o, cn_error *err);

/* cn_model_init: fill every parameter from its initialiser (the node's
 * weight_init / bias_init, else the op's default: Kaiming normal, fan-in,
 * ReLU gain for linear and convolution weights; zeros for biases; ones and
 * zeros for normalisation gamma and beta) and reset buffers (running mean 0,
 * running variance 1), drawing from rng in parameter order. Needs a compiled
 * model. */
cn_status cn_model_init(cn_model *m, cn_rng *rng, cn_error *err);

/* cn_model_mark_initialised: declare that every parameter value of the compiled
 * model m was set by the caller (copied in through cn_model_params, or loaded by
 * cn_model_load_weights / cn_checkpoint_load, which call this), so forward may
 * run without cn_model_init. A no-op for NULL or an uncompiled model. */
void cn_model_mark_initialised(cn_model *m);

/* ================================================================ running */

typedef enum cn_mode { CN_EVAL = 0, CN_TRAIN = 1 } cn_mode;

/* cn_model_forward: run the compiled model on a batch of n samples.
 *   n     1 <= n <= the compiled batch
 *   x     (n, shape of input node 0): copied in; NULL when every input's buffer
 *         was filled through cn_model_input_buffer
 *   t     targets for the loss nodes, or NULL to skip every loss node (prediction)
 *   mode  CN_TRAIN (dropout active, batch statistics, needs training=1 at
 *         compile) or CN_EVAL
 *   rng   random draws in training (NULL replays the previous masks); unused in
 *         evaluation (may be NULL)
 *   loss  if not NULL: the total loss (0 when t is NULL or there is no loss)
 * Errors: CN_ERR_ARG (not compiled, bad n, parameters never initialised or
 * loaded, a loss node missing its targets, rng NULL before any training
 * forward), CN_ERR_RANGE (a label outside [0, classes), naming the node and
 * sample), errors of a kernel (CN_ERR_SHAPE for batch norm on one value per
 * channel). */
cn_status cn_model_forward(cn_model *m, int n, const cn_real *x, const cn_target *t,
                           cn_mode mode, cn_rng *rng, double *loss, cn_error *err);

/* cn_model_backward: after a forward with targets, back-propagate the total loss:
 * parameter gradients ACCUMULATE; node output gradients (cn_model_node_grad) and,
 * with input_grad, the input gradients are OVERWRITTEN. CN_ERR_ARG when the model
 * was not compiled for training or no forward with targets preceded. */
cn_status cn_model_backward(cn_model *m, cn_error *err);

/* cn_model_backward_from: back-propagate dL/d(node output) = dy (n, node shape)
 * from one node (saliency maps, feature inversion, style transfer): as
 * cn_model_backward but seeded at node instead of the losses (loss nodes are
 * ignored). Needs a preceding forward (targets optional). */
cn_status cn_model_backward_from(cn_model *m, int node, const cn_real *dy, cn_error *err);

/* cn_zero_grad: set every parameter gradient to 0. */
void cn_zero_grad(cn_model *m);

/* ================================================================ profiling */

/* cn_node_profile: the time one node took since cn_model_profile_start:
 * wall-clock seconds in its op's forward and backward (backward includes adding
 * its input gradients into nodes read by several consumers) and the call counts. */
typedef struct cn_node_profile {
    double fwd_s, bwd_s;
    long long fwd_calls, bwd_calls;
} cn_node_profile;

/* cn_model_profile_start: time every node's forward and backward from now on
 * (restarting from zero when already on); two clock reads per node call. Errors:
 * CN_ERR_ARG (NULL), CN_ERR_NOMEM. */
cn_status cn_model_profile_start(cn_model *m, cn_error *err);
/* cn_model_profile_stop: stop timing and drop the figures. NULL is a no-op. */
void cn_model_profile_stop(cn_model *m);
/* cn_model_profile_get: copy the figures of nodes 0..n-1 to out (n <=
 * cn_model_num_nodes; nodes added after the start read as zeros). CN_ERR_ARG
 * when profiling is off, arguments are NULL or n is out of range. */
cn_status cn_model_profile_get(const cn_model *m, cn_node_profile *out, int n, cn_error *err);

/* ================================================================ inspecting */

int cn_model_num_nodes(const cn_model *m);
/* cn_model_find: the id of the node called name, or -1. */
int cn_model_find(const cn_model *m, const char *name);
const char *cn_model_node_name(const cn_model *m, int id); /* NULL for a bad id */
cn_op_kind cn_model_node_op(const cn_model *m, int id);     /* CN_OP_COUNT for a bad id */
/* cn_model_node_inputs: the node's input ids (count in *n); NULL for a bad id. */
const int *cn_model_node_inputs(const cn_model *m, int id, int *n);
/* cn_model_node_attrs: the node's attributes (read-only); NULL for a bad id. */
const cn_attrs *cn_model_node_attrs(const cn_model *m, int id);

/* cn_model_node_shape: after compile, the per-sample output shape of node id
 * (ndim 0 for a loss). CN_ERR_ARG for a bad id or an uncompiled model. */
cn_status cn_model_node_shape(const cn_model *m, int id, int *ndim, int shape[CN_MAX_DIMS],
                              cn_error *err);

/* cn_model_batch: the batch m was last compiled for (the largest n forward
 * accepts), or 0 when m is NULL or not compiled. */
int cn_model_batch(const cn_model *m);

/* cn_model_output: the node whose output is the model's prediction: the one set
 * by cn_model_set_output, else the last non-loss node added. */
int cn_model_output(const cn_model *m);
cn_status cn_model_set_output(cn_model *m, int id, cn_error *err);

/* cn_model_node_value / cn_model_node_grad: node id's output (n, shape) from the
 * last forward, and its gradient from the last backward (NULL when the node has
 * none: not compiled for training, or nothing upstream needs a gradient). The
 * model owns both; they change with the next call. */
const cn_real *cn_model_node_value(const cn_model *m, int id);
const cn_real *cn_model_node_grad(const cn_model *m, int id);

/* cn_model_num_inputs / cn_model_input_node: the input nodes in build order. */
int cn_model_num_inputs(const cn_model *m);
int cn_model_input_node(const cn_model *m, int index);
/* cn_model_input_buffer: input index's buffer (batch, shape) to fill before a
 * forward with x == NULL; NULL before compile or for a bad index. */
cn_real *cn_model_input_buffer(cn_model *m, int index);

/* cn_model_node_flops: forward FLOPs per sample of node id (a multiply-add counts
 * 2), from compile; cn_model_flops: their sum. Backward costs about twice. */
double cn_model_node_flops(const cn_model *m, int id);
double cn_model_flops(const cn_model *m);

/* cn_model_memory: the compiled plan, in bytes. */
typedef struct cn_model_memory {
    size_t activations;   /* every node's output, batch samples */
    size_t gradients;     /* output gradients of nodes that need them */
    size_t saved;         /* what backward needs besides outputs (indices, statistics, masks) */
    size_t workspace;     /* shared scratch (im2col) and gradient-sum scratch */
    size_t parameters;    /* values + gradients + buffers */
} cn_model_memory;
cn_status cn_model_memory_plan(const cn_model *m, cn_model_memory *out, cn_error *err);

/* ================================================================ parameters */

/* cn_param_role: what a parameter is, for parameter groups (no weight decay on
 * biases and normalisation parameters by default, issue 4) and initialisation. */
typedef enum cn_param_role {
    CN_PARAM_WEIGHT = 0,  /* linear / conv weights, L-Softmax W, centres */
    CN_PARAM_BIAS,        /* biases */
    CN_PARAM_NORM,        /* normalisation gamma and beta, PReLU slopes */
    CN_PARAM_BUFFER       /* running statistics: not trained, no gradient */
} cn_param_role;

/* cn_param: a named view into the flat store (value and grad point into it;
 * grad is NULL for buffers). */
typedef struct cn_param {
    char name[96];          /* "<node>.<what>": "conv2d1.weight", "batchnorm1.running_var" */
    int node;               /* the node that owns it */
    cn_param_role role;
    int ndim, shape[CN_MAX_DIMS];
    size_t offset;          /* into values (or buffers for CN_PARAM_BUFFER) */
    size_t numel;
    cn_real *value;
    cn_real *grad;
    int frozen;             /* 1: optimisers skip it (fine-tuning) */
} cn_param;

/* cn_params: the flat parameter store. values, grads (count each) hold every
 * trainable parameter back to back in node order; buffers (buffer_count) the
 * running statistics; state (state_slots * count) is optimiser state. */
typedef struct cn_params {
    size_t count;
    cn_real *values;        /* (count) */
    cn_real *grads;         /* (count) */
    size_t buffer_count;
    cn_real *buffers;       /* (buffer_count) */
    int n;                  /* parameters (trainable ones, then buffers) */
    cn_param *p;            /* (n) */
    int state_slots;
    cn_real *state;         /* (state_slots, count), zero-filled by cn_params_state */
} cn_params;

/* cn_model_params: the store of a compiled model (NULL before the first compile).
 * The model owns it; pointers stay valid until the next compile. */
cn_params *cn_model_params(cn_model *m);

/* cn_params_find: the parameter called name, or NULL. */
cn_param *cn_params_find(cn_params *ps, const char *name);

/* cn_params_state: make the optimiser state slots * count reals, zero-filled,
 * and return it (kept until the next call or the model's end; an existing state
 * of the same size is kept, not cleared). CN_ERR_NOMEM / CN_ERR_RANGE. */
cn_real *cn_params_state(cn_params *ps, int slots, cn_error *err);

/* cn_params_freeze: set frozen on every parameter whose name starts with prefix
 * ("" matches all). Returns how many matched, or -1 with CN_ERR_ARG when none. */
int cn_params_freeze(cn_params *ps, const char *prefix, int frozen, cn_error *err);

/* ================================================================ gradient check */

/* cn_model_gradcheck_opts: which coordinates cn_model_gradcheck compares. */
typedef struct cn_model_gradcheck_opts {
    int per_param;      /* coordinates drawn per parameter (0: every one) */
    int input;          /* 1: also check dL/d(input 0) (compiled with input_grad) */
    double h;           /* centred-difference step (1e-5 in double, 1e-2 in float) */
    uint64_t seed;      /* for drawing coordinates */
} cn_model_gradcheck_opts;

/* cn_model_gradcheck_report: the worst relative error overall and where. */
typedef struct cn_model_gradcheck_report {
    double max_rel_err;
    char worst[128];    /* "conv2d1.weight[17]" or "input[3]" */
    double worst_analytic, worst_numeric;
    size_t checked;
} cn_model_gradcheck_report;

/* cn_model_gradcheck: the course's whole-model gradient check: one forward (with
 * rng: the masks it draws are then held fixed) and backward, then centred
 * differences of the total loss for the chosen coordinates of every trainable
 * parameter (and the input), in mode. Parameter values, gradients, and buffers
 * are restored. Relative error of a coordinate: |a - n| / max(|a|, |n|, 1e-3 *
 * the largest |a| checked in the same tensor) (a gradient a thousandth of its
 * tensor's largest is judged on that scale: rounding dominates its difference).
 * Use the double build
 * (-DCN_DOUBLE) for meaningful errors (< 1e-7 for smooth models). */
cn_status cn_model_gradcheck(cn_model *m, int n, const cn_real *x, const cn_target *t,
                             cn_mode mode, cn_rng *rng, const cn_model_gradcheck_opts *o,
                             cn_model_gradcheck_report *rep, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_MODEL_H */
