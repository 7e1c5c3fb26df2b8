/* model_internal.h (internal): the model's structs, shared by the files of
 * src/model/ (build, compile, run, parameters, gradient check). */
#ifndef CONVNET_SRC_MODEL_INTERNAL_H
#define CONVNET_SRC_MODEL_INTERNAL_H

#include "convnet/model.h"
#include "../ops/op.h"

/* cn_node: one node. The build fields are set by cn_model_node; the rest by
 * cn_model_compile. */
typedef struct cn_node {
    cn_op_kind op;
    const cn_op_vtable *vt;
    char *name;
    cn_attrs a;                 /* a.class_weights points to owned memory */
    int n_in;
    int *in;                    /* (n_in) input ids, each < this node's id */
    /* compile */
    cn_shape out;
    size_t numel;               /* per sample (1 for losses) */
    int is_loss;
    int needs_grad;             /* a gradient flows to this node's output */
    int first_param, n_params;  /* trainable parameters in the store */
    int first_buffer, n_buffers;
    size_t saved_bytes, ws_reals;
    double flops;
    cn_real *y;                 /* (batch, out) or (1) */
    cn_real *dy;                /* (batch, out) or NULL */
    void *saved;
    int y_shared;               /* y lives in the liveness-shared region (reuse_memory) */
    int dy_shared;              /* dy likewise (training with reuse_memory) */
    int fuse_relu;              /* evaluation fusion: this node also applies the ReLU */
    int alias_of;               /* a fused ReLU: the producer whose y it is, else -1 */
    int grad_written;           /* backward bookkeeping */
} cn_node;

struct cn_model {
    int n_nodes, cap_nodes;
    cn_node *nodes;
    int output;                 /* set by cn_model_set_output, -1: automatic */
    /* compile */
    int compiled;
    cn_compile_opts opts;
    cn_params *params;          /* kept across compiles */
    int params_ready;           /* initialised or loaded */
    char *arena;                /* one allocation for the memory plan */
    cn_model_memory mem;
    cn_real *ws;                /* shared scratch */
    cn_real *sum_scratch;       /* gradient-sum scratch */
    const cn_shape **shape_ptrs;/* per node: pointers to input shapes, packed */
    const cn_real **x_ptrs;     /* per node: input values, packed */
    cn_real **dx_ptrs;          /* per node: input gradients, packed */
    const void **saved_ptrs;    /* per node: inputs' saved areas, packed */
    cn_real **param_ptrs;       /* per param: value */
    cn_real **grad_ptrs;        /* per param: grad */
    cn_real **buffer_ptrs;      /* per buffer: value */
    int *in_offset;             /* per node: start of its packed input slots */
    /* run */
    int last_n;                 /* batch of the last forward */
    int last_mode;
    int last_had_targets;       /* 1: the losses ran */
    int have_masks;             /* a training forward has drawn masks */
    cn_target last_target;
    /* profiling (cn_model_profile_start): per node, or NULL when off */
    cn_node_profile *prof;      /* (n_prof) */
    int n_prof;
};

/* cn_model_fuse_plan (memplan.c): for a reuse_memory evaluation compile, mark
 * ReLU nodes whose single input is a batchnorm, conv2d or linear node read by
 * nothing else (and neither of them the prediction node): producer fuse_relu = 1,
 * relu alias_of = producer. Clears every mark first. */
void cn_model_fuse_plan(cn_model *m, int fuse);

/* cn_model_share_plan (memplan.c): for a reuse_memory compile at batch, off[i]
 * (n_nodes) = node i's output offset in the shared region, SIZE_MAX for a node
 * with its own buffer (inputs, losses, the prediction node; in training also
 * every output a backward reads); *total: the region's bytes. Needs the shapes
 * (numel) inferred. 0, or -1 when out of memory. */
int cn_model_share_plan(const cn_model *m, int batch, int training, size_t *off,
                        size_t *total);
/* cn_model_share_grad_plan: the same for output gradients over the backward sweep
 * of a training compile (needs needs_grad set); SIZE_MAX: own buffer (nodes
 * without consumers, inputs). */
int cn_model_share_grad_plan(const cn_model *m, int batch, size_t *off, size_t *total);

/* cn_model_run_forward / _backward live in run.c; params in params.c. */
void cn_params_free_store(cn_params *ps);

#endif /* CONVNET_SRC_MODEL_INTERNAL_H */
