/* src/data/tta.c: test-time augmentation: the k views of one image (centre
 * crop, its mirror, torchvision's FiveCrop and TenCrop) whose predictions a
 * caller averages. */
#include <math.h>
#include <string.h>

#include "convnet/augment.h"

static const char *const TTA_NAMES[CN_TTA_MODE_COUNT] = {"none", "flip", "five", "ten"};
static const int TTA_VIEWS[CN_TTA_MODE_COUNT] = {1, 2, 5, 10};

const char *cn_tta_mode_name(cn_tta_mode m)
{
    if ((int)m < 0 || m >= CN_TTA_MODE_COUNT)
        return "?";
    return TTA_NAMES[m];
}

cn_status cn_tta_mode_parse(const char *s, cn_tta_mode *out, cn_error *err)
{
    for (int m = 0; s && m < CN_TTA_MODE_COUNT; m++)
        if (strcmp(s, TTA_NAMES[m]) == 0) {
            *out = (cn_tta_mode)m;
            return CN_OK;
        }
    return cn_error_set(err, CN_ERR_ARG, "unknown test-time augmentation '%s' (expected none, "
                                         "flip, five or ten)", s ? s : "(null)");
}

int cn_tta_num_views(cn_tta_mode m)
{
    if ((int)m < 0 || m >= CN_TTA_MODE_COUNT)
        return 0;
    return TTA_VIEWS[m];
}

cn_status cn_tta_views(cn_tta_mode m, const cn_real *in, int c, int h, int w, int oh, int ow,
                       cn_real *out, cn_error *err)
{
    int k = cn_tta_num_views(m);
    if (k == 0)
        return cn_error_set(err, CN_ERR_ARG, "cn_tta_views: bad mode %d", (int)m);
    if (!in || !out || c <= 0 || h <= 0 || w <= 0 || oh <= 0 || ow <= 0)
        return cn_error_set(err, CN_ERR_ARG, "cn_tta_views: bad arguments (image %dx%dx%d, "
                                             "crop %dx%d)", c, h, w, oh, ow);
    if (oh > h || ow > w)
        return cn_error_set(err, CN_ERR_SHAPE, "cn_tta_views: a %dx%d crop does not fit a "
                                               "%dx%d image", oh, ow, h, w);
    size_t view = (size_t)c * oh * ow;
    /* torchvision center_crop: int(round((h - oh) / 2)), half to even */
    int ct = (int)nearbyint((h - oh) / 2.0), cl = (int)nearbyint((w - ow) / 2.0);
    int tops[5] = {0, 0, h - oh, h - oh, ct};
    int lefts[5] = {0, w - ow, 0, w - ow, cl};
    if (m == CN_TTA_NONE || m == CN_TTA_FLIP) {
        cn_aug_crop(in, c, h, w, 0, ct, cl, out, oh, ow);
        if (m == CN_TTA_FLIP)
            cn_aug_hflip(out, c, oh, ow, out + view);
        return CN_OK;
    }
    for (int i = 0; i < 5; i++)
        cn_aug_crop(in, c, h, w, 0, tops[i], lefts[i], out + (size_t)i * view, oh, ow);
    if (m == CN_TTA_TEN_CROP) {
        /* TenCrop: the five crops of the mirrored image; crop (t, l) of the mirror is
         * the mirror of crop (t, w - ow - l) of the image, so tl <-> tr swap */
        for (int i = 0; i < 5; i++) {
            int mirror_left = w - ow - lefts[i];
            cn_real *dst = out + (size_t)(5 + i) * view; // (c, oh, ow)
            cn_aug_crop(in, c, h, w, 0, tops[i], mirror_left, dst, oh, ow);
            /* mirror in place, row by row */
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < oh; y++) {
                    cn_real *row = dst + ((size_t)ch * oh + y) * ow;
                    for (int x = 0; x < ow / 2; x++) {
                        cn_real t = row[x];
                        row[x] = row[ow - 1 - x];
                        row[ow - 1 - x] = t;
                    }
                }
        }
    }
    return CN_OK;
}
