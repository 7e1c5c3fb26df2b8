/* png.c: image grids written as PNG through Debian's stb_image_write (compiled
 * into this one file, static, allocating through the library's allocator). The
 * PNG is encoded into memory first, then written with checked stdio calls so that
 * every I/O error reaches the caller. */
#include "convnet/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STBIW_MALLOC(sz) cn_malloc(sz)
#define STBIW_REALLOC(p, sz) cn_realloc(p, sz)
#define STBIW_FREE(p) cn_free(p)
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#endif
#include <stb_image_write.h>
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#define PNG_MAX_SIDE 16384

/* A growable byte buffer filled by stb's write callback. */
typedef struct png_buf {
    unsigned char *data;
    size_t len, cap;
    int failed;  /* an allocation failed */
} png_buf;

static void png_buf_write(void *ctx, void *data, int size)
{
    png_buf *b = ctx;
    if (b->failed || size <= 0) return;
    size_t need = b->len + (size_t)size;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need) cap *= 2;
        unsigned char *p = cn_realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, (size_t)size);
    b->len = need;
}

/* tile_range: min and max over the finite values of v (len); lo = hi = 0 when
 * none is finite. */
static void tile_range(const cn_real *v, size_t len, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (size_t k = 0; k < len; k++) {
        double x = (double)v[k];
        if (!isfinite(x)) continue;
        if (x < a) a = x;
        if (x > b) b = x;
    }
    if (a > b) a = b = 0.0;
    *lo = a;
    *hi = b;
}

/* to_byte: x mapped from [lo, hi] to 0..255 (0 for a constant tile or NaN). */
static unsigned char to_byte(double x, double lo, double hi)
{
    if (!(hi > lo) || isnan(x)) return 0;
    double t = (x - lo) / (hi - lo);
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    return (unsigned char)lrint(t * 255.0);
}

/* write_file: the encoded bytes to path with checked fopen/fwrite/fclose; a
 * partly written file is removed. */
static cn_status write_file(const char *path, const png_buf *b, cn_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) return cn_error_set(err, CN_ERR_IO, "%s: cannot open for writing: %s", path,
                                strerror(errno));
    size_t wrote = fwrite(b->data, 1, b->len, f);
    int werr = errno;
    if (wrote != b->len) {
        fclose(f);
        remove(path);
        return cn_error_set(err, CN_ERR_IO, "%s: byte %zu: write failed: %s", path, wrote,
                            strerror(werr));
    }
    if (fclose(f) != 0) {
        werr = errno;
        remove(path);
        return cn_error_set(err, CN_ERR_IO, "%s: close failed: %s", path, strerror(werr));
    }
    return CN_OK;
}

cn_status cn_png_write_grid(const char *path, const cn_real *images, int n, int c, int h,
                            int w, int ncols, int pad, int upscale, cn_png_scale scale,
                            cn_error *err)
{
    if (!path || !images) return cn_error_set(err, CN_ERR_ARG, "png grid: NULL argument");
    if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || ncols < 1 || pad < 0 || upscale < 1)
        return cn_error_set(err, CN_ERR_ARG,
                            "%s: png grid: bad sizes n=%d c=%d h=%d w=%d ncols=%d pad=%d "
                            "upscale=%d (need n, h, w, ncols, upscale >= 1, c = 1 or 3, "
                            "pad >= 0)",
                            path, n, c, h, w, ncols, pad, upscale);
    if ((int)scale < 0 || scale > CN_PNG_SCALE_UNIT)
        return cn_error_set(err, CN_ERR_ARG, "%s: png grid: unknown scale %d", path,
                            (int)scale);
    /* sizes in 64 bits: tile side up to 2^31 * 2^31 cannot overflow */
    const int cols = n < ncols ? n : ncols;
    const int rows = (n + cols - 1) / cols;
    const long long th = (long long)h * upscale, tw = (long long)w * upscale;
    const long long gh = rows * th + (long long)(rows - 1) * pad;
    const long long gw = cols * tw + (long long)(cols - 1) * pad;
    if (gh > PNG_MAX_SIDE || gw > PNG_MAX_SIDE)
        return cn_error_set(err, CN_ERR_RANGE,
                            "%s: png grid of %lld x %lld pixels exceeds %d a side", path, gw,
                            gh, PNG_MAX_SIDE);

    const size_t tile = (size_t)c * (size_t)h * (size_t)w;
    const size_t stride = (size_t)gw * (size_t)c;
    unsigned char *pix = cn_calloc((size_t)gh, stride); /* (gh, gw, c), black padding */
    if (!pix) return cn_error_set(err, CN_ERR_NOMEM, "%s: png grid: out of memory", path);

    double lo = 0.0, hi = 1.0;
    if (scale == CN_PNG_SCALE_ALL) tile_range(images, tile * (size_t)n, &lo, &hi);
    for (int t = 0; t < n; t++) {
        const cn_real *img = images + (size_t)t * tile; /* (c, h, w) */
        if (scale == CN_PNG_SCALE_EACH) tile_range(img, tile, &lo, &hi);
        const size_t y0 = (size_t)(t / cols) * (size_t)(th + pad);
        const size_t x0 = (size_t)(t % cols) * (size_t)(tw + pad);
        for (long long py = 0; py < th; py++) {
            const int sy = (int)(py / upscale);
            unsigned char *row = pix + (y0 + (size_t)py) * stride + x0 * (size_t)c;
            for (long long px = 0; px < tw; px++) {
                const int sx = (int)(px / upscale);
                for (int ch = 0; ch < c; ch++) {
                    double v = (double)img[((size_t)ch * h + sy) * w + sx];
                    row[(size_t)px * c + ch] = to_byte(v, lo, hi);
                }
            }
        }
    }

    png_buf b = {0};
    int ok = stbi_write_png_to_func(png_buf_write, &b, (int)gw, (int)gh, c, pix, (int)stride);
    cn_free(pix);
    cn_status st;
    if (!ok || b.failed)
        st = cn_error_set(err, CN_ERR_NOMEM, "%s: png encoding failed (out of memory)", path);
    else
        st = write_file(path, &b, err);
    cn_free(b.data);
    return st;
}

cn_status cn_png_encode(const uint8_t *pix, int w, int h, int c, uint8_t **out, size_t *len,
                        cn_error *err)
{
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!pix || !out || !len) return cn_error_set(err, CN_ERR_ARG, "png encode: NULL argument");
    if (w < 1 || h < 1 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE || (c != 1 && c != 3 && c != 4))
        return cn_error_set(err, CN_ERR_ARG,
                            "png encode: bad sizes w=%d h=%d c=%d (need 1..%d a side, c = 1, "
                            "3 or 4)", w, h, c, PNG_MAX_SIDE);
    png_buf b = {0};
    int ok = stbi_write_png_to_func(png_buf_write, &b, w, h, c, pix, w * c);
    if (!ok || b.failed) {
        cn_free(b.data);
        return cn_error_set(err, CN_ERR_NOMEM, "png encode: out of memory");
    }
    *out = b.data;
    *len = b.len;
    return CN_OK;
}
