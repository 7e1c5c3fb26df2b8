/* convnet/modelfile.h: the trained-model file that `convnet train` writes and
 * `convnet eval` reads: one safetensors file holding every parameter and buffer
 * (named as cn_model_save_weights names them), the normalisation statistics the
 * training split was fitted with (tensors "norm/..."), and metadata: "format"
 * (CN_MODEL_FORMAT), "model" (a cn_builtin_describe line, or "text NAME" for a
 * network given in the model text format), "model_text" (the network in the model
 * text format, cn_model_print: every file is self-describing), "classes" (a JSON
 * array of the class names), plus caller pairs (epoch, accuracy, ...). With
 * it, evaluation rebuilds the network, normalises raw pixels exactly as training
 * did and names the classes: nothing else is needed.
 * docs/modelfile.md has the layout. */
#ifndef CONVNET_MODELFILE_H
#define CONVNET_MODELFILE_H

#include "convnet/builtin.h"
#include "convnet/checkpoint.h"
#include "convnet/core.h"
#include "convnet/data.h"
#include "convnet/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_MODEL_FORMAT "convnet-model-1"

/* cn_model_info: what a model file says besides the weights.
 *   spec         the built-in model (its description is stored); with from_text,
 *                spec.name is the network's name (at most CN_BUILTIN_NAME_MAX - 1
 *                bytes, no blanks; "" allowed) and only spec.c, h, w (the input
 *                node's shape; h = w = 1 for a vector input) and classes (the size
 *                of the prediction node) are meaningful: the rest is zero
 *   from_text    0: a built-in model (cn_builtin_build of spec); 1: any network,
 *                rebuilt from the stored model text
 *   class_names  spec.classes names, or NULL (stored then as "0", "1", ...);
 *                each a NUL-terminated UTF-8 string
 *   norm         the normalisation fitted on the training split; mode
 *                CN_NORM_NONE when the pixels were used as they are
 *   text         after cn_model_file_load: the stored model text (cn_model_print
 *                form; owned); ignored by cn_model_file_save, which prints m
 * After cn_model_file_load the struct owns class_names (always spec.classes
 * names), norm and text: release with cn_model_info_free. For cn_model_file_save
 * it is only read. */
typedef struct cn_model_info {
    cn_builtin_spec spec;
    char **class_names;
    cn_norm norm;
    int from_text;
    char *text;
} cn_model_info;

/* cn_model_info_free: free class_names and norm; zero the struct. NULL is a no-op. */
void cn_model_info_free(cn_model_info *info);

/* cn_model_file_save: write m (compiled from info->spec, or any compiled network
 * with info->from_text) with info, m's model text and the n_meta pairs of meta
 * (keys "format", "model", "model_text" and "classes" are reserved) to path,
 * atomically (cn_st_writer_save). Errors: CN_ERR_ARG (NULL arguments, an
 * uncompiled model, a reserved or repeated key, class names that are not valid
 * UTF-8, with from_text a name with blanks or an input or prediction node whose
 * size differs from spec's c, h, w or classes), CN_ERR_NOMEM, CN_ERR_IO naming
 * the path. */
cn_status cn_model_file_save(const char *path, const cn_model *m, const cn_model_info *info,
                             const cn_meta_pair *meta, int n_meta, cn_error *err);

/* cn_model_file_load: read path, rebuild its model (cn_builtin_parse +
 * cn_builtin_build; for "text NAME" files cn_model_parse of "model_text"; a
 * network needing more values than the file's bytes can hold is refused before
 * anything is allocated), compile it for batch (>= 1) in evaluation mode (training = 0),
 * load every weight (cn_model_load_weights' rules: every parameter present with its
 * exact shape, no unexpected tensor outside "norm/"), and fill *info (owned by the
 * caller). Returns the model (cn_model_free), or NULL with err set: CN_ERR_ARG,
 * CN_ERR_IO, CN_ERR_FORMAT (not a model file: a missing "format"/"model"/"classes"
 * key, a class list that is not a JSON array of spec.classes strings, a bad
 * description, bad normalisation tensors, weight errors; the message names the file
 * and the key or tensor), CN_ERR_UNSUPPORTED (another format version), CN_ERR_NOMEM. */
cn_model *cn_model_file_load(const char *path, int batch, cn_model_info *info,
                             cn_error *err);

/* cn_model_file_meta: the value of metadata key in the model file at path, copied
 * to buf[0..cap) ("" when absent). Errors: CN_ERR_IO, CN_ERR_FORMAT, CN_ERR_RANGE
 * (cap too small). */
cn_status cn_model_file_meta(const char *path, const char *key, char *buf, size_t cap,
                             cn_error *err);

/* cn_model_predict: class probabilities of ds under the compiled model m:
 * forward in CN_EVAL over batches of at most m's compiled batch, softmax of the
 * prediction node (cn_model_output, shape (classes)), written to probs
 * (ds->n, classes) (caller-allocated). ds must already be normalised and match
 * the model's input. Errors: CN_ERR_ARG (NULL arguments, shapes that do not
 * match, naming both), forward errors. */
cn_status cn_model_predict(cn_model *m, const cn_dataset *ds, cn_real *probs, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_MODELFILE_H */
