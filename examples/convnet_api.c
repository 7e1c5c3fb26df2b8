/* convnet_api.c: the smallest complete use of the C API: build the course's
 * three-layer ConvNet (conv 5x5 - relu - maxpool 2x2 - affine - relu - affine -
 * softmax cross-entropy) for 1x28x28 images, compile it for a batch, initialise
 * it, run one forward and backward pass on a random batch and print the loss
 * and the gradient norm.
 *
 *   make && build/examples/convnet_api
 */
#include <math.h>
#include <stdio.h>

#include "convnet.h"

int main(void)
{
    enum { BATCH = 8 };
    cn_error err;
    cn_model *m = cn_model_new(&err);
    if (!m) return fprintf(stderr, "%s\n", err.msg), 1;

    /* every builder returns a node id; a failure returns -1 and later
     * builders pass it on, so checking the last id is enough */
    int x = cn_model_input(m, 1, 28, 28, &err);       /* (1, 28, 28) */
    int h = cn_model_conv2d(m, x, 16, 5, 1, 2, &err); /* (16, 28, 28) */
    h = cn_model_unary(m, CN_OP_RELU, h, &err);
    h = cn_model_maxpool2d(m, h, 2, 2, &err);         /* (16, 14, 14) */
    h = cn_model_linear(m, h, 100, &err);             /* (100) */
    h = cn_model_unary(m, CN_OP_RELU, h, &err);
    h = cn_model_linear(m, h, 10, &err);              /* (10) scores */
    int loss = cn_model_unary(m, CN_OP_CROSS_ENTROPY, h, &err);
    if (loss < 0) return fprintf(stderr, "%s\n", err.msg), 1;

    cn_compile_opts opts = {.batch = BATCH, .training = 1};
    cn_rng rng;
    cn_rng_seed(&rng, 1, 0);
    if (cn_model_compile(m, &opts, &err) != CN_OK || cn_model_init(m, &rng, &err) != CN_OK)
        return fprintf(stderr, "%s\n", err.msg), cn_model_free(m), 1;

    /* a random batch: images ~ N(0, 1), labels 0..9 */
    static cn_real images[BATCH * 28 * 28]; /* (BATCH, 1, 28, 28) */
    int labels[BATCH];
    for (int i = 0; i < BATCH * 28 * 28; i++) images[i] = (cn_real)cn_rng_normal(&rng);
    for (int i = 0; i < BATCH; i++) labels[i] = i % 10;
    cn_target t = {.labels = labels};

    double l;
    if (cn_model_forward(m, BATCH, images, &t, CN_TRAIN, &rng, &l, &err) != CN_OK ||
        cn_model_backward(m, &err) != CN_OK)
        return fprintf(stderr, "%s\n", err.msg), cn_model_free(m), 1;

    cn_params *ps = cn_model_params(m);
    double g2 = 0;
    for (size_t i = 0; i < ps->count; i++) g2 += (double)ps->grads[i] * ps->grads[i];
    printf("parameters: %zu, forward: %.1f MFLOP per image\n", ps->count,
           cn_model_flops(m) / 1e6);
    printf("loss: %.4f, gradient norm: %.4f\n", l, sqrt(g2));
    cn_model_free(m);
    return 0;
}
