/* tests/fuzz/fuzz_image.c: libFuzzer target for PNG/JPEG decoding (`make fuzz`).
 * Every input goes to cn_image_decode with small limits (1024 x 1024, 1 Mpixel)
 * as RGB with alpha composited, and as grey with alpha dropped. An accepted image
 * must have a size within the limits and every value finite in [0, 1]; both fits
 * of the resampler must keep it so; a rejected one must leave no image and a
 * message. Any violation traps. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/image.h"

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

static void check_unit(const cn_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++) CHECK(isfinite(x[i]) && x[i] >= 0 && x[i] <= 1);
}

static void decode_one(const uint8_t *data, size_t size, int channels, cn_image_alpha alpha)
{
    cn_image_opts o;
    cn_image_opts_default(&o);
    o.channels = channels;
    o.alpha = alpha;
    o.max_width = o.max_height = 1024;
    o.max_pixels = (size_t)1 << 20;
    cn_image img;
    cn_error err;
    cn_error_clear(&err);
    cn_status st = cn_image_decode(data, size, "fuzz", &o, &img, &err);
    if (st != CN_OK) {
        CHECK(img.data == NULL && err.msg[0] != '\0' && err.code == st);
        return;
    }
    CHECK(img.c == channels && img.h >= 1 && img.w >= 1 && img.h <= 1024 && img.w <= 1024);
    size_t n = (size_t)img.c * (size_t)img.h * (size_t)img.w;
    check_unit(img.data, n);
    cn_real out[3 * 7 * 5]; // (c, 7, 5)
    for (int f = 0; f < CN_IMAGE_FIT_COUNT; f++) {
        CHECK(cn_image_resize(img.data, img.c, img.h, img.w, out, 7, 5, (cn_image_fit)f, &err) ==
              CN_OK);
        check_unit(out, (size_t)img.c * 35);
    }
    cn_image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_one(data, size, 3, CN_IMAGE_ALPHA_BLACK);
    decode_one(data, size, 1, CN_IMAGE_ALPHA_DROP);
    return 0;
}
