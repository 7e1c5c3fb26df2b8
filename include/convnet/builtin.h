/* convnet/builtin.h: the built-in models of `convnet train` (until the model text
 * format exists): the course's classifiers, described by a name and a few
 * options, and a one-line text description of them that model files store so a
 * saved model can be rebuilt (`convnet eval` needs nothing else).
 *
 *   softmax              flatten -> linear(classes) -> loss
 *   two-layer            flatten -> linear(hidden) -> relu -> linear(classes) -> loss
 *   mlp                  flatten -> [linear(h_i) -> (batchnorm) -> relu -> (dropout)]*
 *                        -> linear(classes) -> loss      (the course's FullyConnectedNet)
 *   three-layer-convnet  conv(filters, kernel, stride 1, pad kernel/2) -> (batchnorm) ->
 *                        relu -> maxpool 2x2 -> flatten -> linear(hidden) -> relu ->
 *                        (dropout) -> linear(classes) -> loss   (the course's
 *                        ThreeLayerConvNet)
 * The loss is cross_entropy ("softmax") or multi-class hinge ("svm"); the
 * prediction node (cn_model_output) is the last linear layer's logits. Weights
 * start from the engine's defaults (Kaiming normal, zero biases) unless init_std
 * > 0 (N(0, init_std^2), the course's weight_scale).
 *
 * The description: "NAME key=value key=value ...", e.g.
 *   "three-layer-convnet input=1x28x28 classes=10 filters=32 kernel=7 hidden=100
 *    dropout=0 batchnorm=0 loss=softmax init_std=0"
 * (one line; keys in the order of cn_builtin_describe; `hidden` is a
 * comma-separated list for mlp). */
#ifndef CONVNET_BUILTIN_H
#define CONVNET_BUILTIN_H

#include <stddef.h>

#include "convnet/core.h"
#include "convnet/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_BUILTIN_MAX_HIDDEN 8
#define CN_BUILTIN_NAME_MAX 32

typedef enum cn_builtin_loss {
    CN_BUILTIN_SOFTMAX = 0, /* "softmax": cross_entropy */
    CN_BUILTIN_SVM,         /* "svm": multi-class hinge (margin 1) */
    CN_BUILTIN_LOSS_COUNT
} cn_builtin_loss;

/* cn_builtin_spec: a built-in model and its options. Defaults by name
 * (cn_builtin_spec_default): hidden {100} (two-layer, three-layer-convnet),
 * {100, 100} (mlp), none (softmax); filters 32, kernel 7; dropout 0; batchnorm 0;
 * loss softmax; init_std 0; input 1x28x28; classes 10. */
typedef struct cn_builtin_spec {
    char name[CN_BUILTIN_NAME_MAX];
    int c, h, w;                         /* input image; >= 1 each */
    int classes;                         /* >= 2 */
    int hidden[CN_BUILTIN_MAX_HIDDEN];   /* widths of the hidden layers, each >= 1 */
    int n_hidden;                        /* two-layer and three-layer-convnet: 1;
                                            mlp: 1..CN_BUILTIN_MAX_HIDDEN; softmax: 0 */
    int filters, kernel;                 /* three-layer-convnet; kernel odd, >= 1 */
    double dropout;                      /* [0, 1): dropout after hidden ReLUs (0: none) */
    int batchnorm;                       /* 0/1: batch norm before hidden ReLUs (mlp,
                                            three-layer-convnet) */
    cn_builtin_loss loss;
    double init_std;                     /* >= 0; 0: the engine's default initialisers */
} cn_builtin_spec;

/* cn_builtin_count / cn_builtin_name: the built-in model names, in the order
 * listed above (i in 0..count-1; NULL outside). */
int cn_builtin_count(void);
const char *cn_builtin_name(int i);

/* cn_builtin_spec_default: fill *s with name's defaults. Errors: CN_ERR_ARG for an
 * unknown name ("unknown model 'x' (built-in models: softmax, two-layer, ...)"). */
cn_status cn_builtin_spec_default(const char *name, cn_builtin_spec *s, cn_error *err);

/* cn_builtin_set: set one option of s from text, as the CLI and configuration
 * files give it: key in {input ("CxHxW"), classes, hidden ("100" or "512,256"),
 * filters, kernel, dropout, batchnorm (0/1), loss (softmax/svm), init_std}.
 * Numbers are parsed strictly. Errors: CN_ERR_ARG naming the key and value (unknown
 * key with the list of keys; a value out of range; hidden with more than one width
 * for two-layer / three-layer-convnet; any hidden for softmax; batchnorm for
 * softmax / two-layer). s is unchanged on error. */
cn_status cn_builtin_set(cn_builtin_spec *s, const char *key, const char *value,
                         cn_error *err);

/* cn_builtin_check: validate every field of s (the rules above). CN_ERR_ARG naming
 * the field. */
cn_status cn_builtin_check(const cn_builtin_spec *s, cn_error *err);

/* cn_builtin_describe: write s's one-line description (see above) to buf[0..cap).
 * Returns the length written (excluding the NUL), or -1 when cap is too small
 * (buf then holds a truncated, NUL-terminated string). Real values are printed
 * with "%.17g" so parsing them back is exact. */
int cn_builtin_describe(const cn_builtin_spec *s, char *buf, size_t cap);

/* cn_builtin_parse: the inverse of cn_builtin_describe: fill *s from a
 * description (the name's defaults, then every key=value in turn through
 * cn_builtin_set, then cn_builtin_check). Errors: CN_ERR_FORMAT naming the
 * column (from 1) and the word: an unknown model, a word without '=', a bad value.
 * s is unchanged on error. */
cn_status cn_builtin_parse(const char *desc, cn_builtin_spec *s, cn_error *err);

/* cn_builtin_build: a new, uncompiled model for s (caller: cn_model_compile with
 * its batch and training flag, then cn_model_init, then cn_model_free). Node
 * names are the engine's automatic ones ("conv2d1", "linear1", ...). When
 * init_std > 0 every linear / conv weight gets N(0, init_std^2). Errors
 * (NULL returned): CN_ERR_ARG from cn_builtin_check, CN_ERR_NOMEM. */
cn_model *cn_builtin_build(const cn_builtin_spec *s, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_BUILTIN_H */
