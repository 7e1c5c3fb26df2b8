/* convnet/model_text.h: the model text format (.cnm): a line-oriented description
 * of a network (nodes, their ops and attributes, reusable blocks with parameters
 * and repeat counts) that builds an uncompiled cn_model, and the printer that
 * writes any model back in the flat form (no blocks, no params) so that parsing
 * it again builds the same model. docs/model-format.md has the grammar, every
 * attribute key, the error messages and the reliability rows (T1-T15). */
#ifndef CONVNET_MODEL_TEXT_H
#define CONVNET_MODEL_TEXT_H

#include <stddef.h>

#include "convnet/core.h"
#include "convnet/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cn_model_text_opts: options of cn_model_parse / cn_model_load_text (NULL: all
 * defaults).
 *   overrides    n_overrides strings "NAME=EXPR" ("classes=100") replacing the
 *                default of the file's `param NAME`; an override naming no param
 *                of the file is an error (CN_ERR_ARG, naming the nearest param)
 *   max_nodes    the most nodes the model may have (0: 100000); more is the
 *                error "too many nodes"
 *   defaults     n_defaults strings "NAME=EXPR" applied like overrides but before
 *                them (an override of the same NAME wins), and ignored where the
 *                file declares no `param NAME` (the CLI passes the data's c, h, w
 *                and classes this way) */
typedef struct cn_model_text_opts {
    const char *const *overrides;
    int n_overrides;
    int max_nodes;
    const char *const *defaults;
    int n_defaults;
} cn_model_text_opts;

/* cn_model_parse: build an uncompiled model from the len bytes of text (need not
 * be NUL-terminated). Node names are as written; nodes made by a block instance
 * NAME are called NAME.node (NAME.k.node, k = 1..N, with repeat=N). The prediction
 * node is the one named by `output`, else cn_model_output's default. Errors name
 * "path_for_errors:line:col" (path_for_errors NULL: "<text>"): CN_ERR_FORMAT for
 * everything the file says wrong (syntax, unknown op, block, attribute or node
 * with the nearest valid name, missing required attribute, duplicate key, bad or
 * out-of-range number, invalid UTF-8, NUL byte, a line over 65536 bytes, no
 * nodes, too many nodes), CN_ERR_ARG for bad arguments or overrides, CN_ERR_NOMEM.
 * Returns the model (cn_model_free) or NULL with err set. Locale-independent. */
cn_model *cn_model_parse(const char *text, size_t len, const char *path_for_errors,
                         const cn_model_text_opts *o, cn_error *err);

/* cn_model_load_text: read the file at path (at most 64 MiB) and cn_model_parse
 * it with path in the errors. CN_ERR_IO when it cannot be read. */
cn_model *cn_model_load_text(const char *path, const cn_model_text_opts *o, cn_error *err);

/* cn_model_print: m (compiled or not) in the flat text form: one statement per
 * node ("name = op in1, in2 key=value ..."), with the attributes that differ from
 * cn_attrs_make(op) plus the op's required ones, then "output NAME". Reals are
 * written in the shortest form that reads back exactly, independent of the
 * locale. Returns a cn_malloc'd NUL-terminated string (cn_free), or NULL with err
 * set: CN_ERR_ARG (NULL or empty model, a non-finite real attribute),
 * CN_ERR_NOMEM. */
char *cn_model_print(const cn_model *m, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_MODEL_TEXT_H */
