/* convnet/io.h: files written by the library: PNG image grids (through Debian's
 * stb_image_write). */
#ifndef CONVNET_IO_H
#define CONVNET_IO_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rescaling policy for cn_png_write_grid. */
typedef enum cn_png_scale {
    CN_PNG_SCALE_EACH = 0,  /* each tile min..max -> 0..255 on its own */
    CN_PNG_SCALE_ALL,       /* one min..max over all tiles */
    CN_PNG_SCALE_UNIT       /* values already in [0, 1]: clamp and * 255 */
} cn_png_scale;

/* cn_png_write_grid: write n images (n, c, h, w), c == 1 (grey) or 3 (RGB), as a
 * grid of ncols columns (rows as needed) with pad black pixels between tiles and
 * an integer upscale factor (>= 1, nearest neighbour) to a PNG file at path.
 * CN_ERR_ARG for bad sizes, CN_ERR_RANGE if the grid would be too large
 * (> 16384 pixels a side), CN_ERR_IO if the file cannot be written. */
cn_status cn_png_write_grid(const char *path, const cn_real *images, int n, int c, int h,
                            int w, int ncols, int pad, int upscale, cn_png_scale scale,
                            cn_error *err);

/* cn_png_encode: encode pix (h, w, c) 8-bit samples (c = 1 grey, 3 RGB, 4 RGBA),
 * rows back to back, as a PNG into a new buffer *out (cn_free) of *len bytes.
 * Deterministic (same pixels, same bytes). CN_ERR_ARG for NULL arguments or sizes
 * outside 1..16384 a side, CN_ERR_NOMEM. */
cn_status cn_png_encode(const uint8_t *pix, int w, int h, int c, uint8_t **out, size_t *len,
                        cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_IO_H */
