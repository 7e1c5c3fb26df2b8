/* templates.c: the learned weights of a linear classifier shown as one image per
 * class (the course's "templates"): column j of W reshaped to (ch, h, w), each
 * rescaled to 0..255 on its own, laid out as a PNG grid. */
#include "convnet/classic.h"
#include "convnet/io.h"

/* Layout of the grid: columns, black padding pixels between tiles, upscale. */
#define TEMPLATE_COLS 5
#define TEMPLATE_PAD 2
#define TEMPLATE_UPSCALE 4

cn_status cn_linear_templates_png(const cn_linear *m, int ch, int h, int w,
                                  const char *path, cn_error *err)
{
    if (!m || !path) return cn_error_set(err, CN_ERR_ARG, "templates: NULL argument");
    if (ch < 1 || h < 1 || w < 1 || (long long)ch * h * w != (long long)m->d)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "%s: templates: image shape (%d, %d, %d) does not match the "
                            "model's %d inputs",
                            path, ch, h, w, m->d);
    const int d = m->d, c = m->c;
    cn_real *tiles = cn_aligned_alloc((size_t)c * (size_t)d * sizeof *tiles); /* (c, ch, h, w) */
    if (!tiles) return cn_error_set(err, CN_ERR_NOMEM, "%s: templates: out of memory", path);
    /* tile j = column j of W (d, c): a transpose */
    for (int j = 0; j < c; j++)
        for (int k = 0; k < d; k++) tiles[(size_t)j * d + k] = m->W[(size_t)k * c + j];
    cn_status st = cn_png_write_grid(path, tiles, c, ch, h, w, TEMPLATE_COLS, TEMPLATE_PAD,
                                     TEMPLATE_UPSCALE, CN_PNG_SCALE_EACH, err);
    cn_aligned_free(tiles);
    return st;
}
