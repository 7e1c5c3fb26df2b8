/* input.c: the input op: a node whose output the caller fills (cn_model_forward
 * copies x into input 0; cn_model_input_buffer gives every input's buffer). */
#include "op.h"

/* input_infer: the per-sample shape comes from the attributes. */
static cn_status input_infer(cn_infer *inf, cn_error *err)
{
    const cn_attrs *a = inf->a;
    if (a->ndim < 1 || a->ndim > CN_MAX_DIMS - 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (input): %d dims per sample, expected 1 to %d",
                            inf->node, a->ndim, CN_MAX_DIMS - 1);
    inf->out.ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 1)
            return cn_error_set(err, CN_ERR_SHAPE,
                                "node '%s' (input): dim %d is %d, must be >= 1", inf->node,
                                i, a->shape[i]);
        inf->out.d[i] = a->shape[i];
    }
    return CN_OK;
}

/* input_forward / input_backward: nothing to compute (the graph skips inputs). */
static cn_status input_forward(cn_op_ctx *c, cn_error *err)
{
    (void)c;
    (void)err;
    return CN_OK;
}

static void input_backward(cn_op_ctx *c) { (void)c; }

const cn_op_vtable cn_op_vt_input = {CN_OP_INPUT, "input", 0, 0, 0,
                                     input_infer, input_forward, input_backward};
