/* convnet/augment.h: data augmentation for training (seeded, composable from a
 * spec string such as "hflip,crop=32:4,jitter=0.4:0.4:0.4:0.1,erase=0.5") and
 * test-time augmentation (five-crop / ten-crop / flip views). The pipeline plugs
 * into the batch loader through cn_sample_transform (convnet/transform.h); the
 * deterministic image operations it is built from are public too, so they can be
 * tested and reused alone. Images are (c, h, w) arrays of cn_real with pixels in
 * [0, 1] (before normalisation: colour jitter clamps to [0, 1] as torchvision
 * does). The spec format is documented in docs/data/augment.md. */
#ifndef CONVNET_AUGMENT_H
#define CONVNET_AUGMENT_H

#include "convnet/core.h"
#include "convnet/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ the pipeline */

/* The kinds of augmentation step, in spec order; names in cn_aug_kind_name. */
typedef enum cn_aug_kind {
    CN_AUG_HFLIP = 0,  /* "hflip":    horizontal flip with probability p */
    CN_AUG_VFLIP,      /* "vflip":    vertical flip with probability p */
    CN_AUG_CROP,       /* "crop":     zero padding + random crop (torchvision RandomCrop) */
    CN_AUG_RCROP,      /* "rcrop":    random resized crop (torchvision RandomResizedCrop) */
    CN_AUG_ROTATE,     /* "rotate":   rotation + translation, bilinear, zero fill */
    CN_AUG_JITTER,     /* "jitter":   colour jitter (torchvision ColorJitter) */
    CN_AUG_LIGHTING,   /* "lighting": AlexNet's PCA lighting noise */
    CN_AUG_ERASE,      /* "erase":    random erasing (torchvision RandomErasing) */
    CN_AUG_CUTOUT,     /* "cutout":   a square hole at a random centre (DeVries & Taylor) */
    CN_AUG_NOISE,      /* "noise":    additive Gaussian noise */
    CN_AUG_KIND_COUNT
} cn_aug_kind;

#define CN_AUG_MAX_STEPS 16
#define CN_AUG_MAX_SIZE 4096 /* largest crop / output side a spec may ask for */

/* cn_aug_step: one step. Which fields a kind reads:
 *   hflip, vflip: p
 *   crop:     out_h, out_w, pad
 *   rcrop:    out_h, out_w, scale_lo, scale_hi, ratio_lo, ratio_hi
 *   rotate:   degrees (angle uniform in [-degrees, degrees]), translate (fraction)
 *   jitter:   brightness, contrast, saturation, hue
 *   lighting: std (of alpha)
 *   erase:    p, scale_lo, scale_hi, ratio_lo, ratio_hi, value
 *   cutout:   size (side), p
 *   noise:    std, p */
typedef struct cn_aug_step {
    cn_aug_kind kind;
    double p;
    int out_h, out_w, pad, size;
    double scale_lo, scale_hi, ratio_lo, ratio_hi;
    double degrees, translate;
    double brightness, contrast, saturation, hue;
    double std, value;
} cn_aug_step;

/* cn_augment: a parsed pipeline (a plain value: copy it freely), the lighting
 * statistics when fitted, and the input shape bound by cn_augment_transform. */
typedef struct cn_augment {
    int nsteps;
    cn_aug_step steps[CN_AUG_MAX_STEPS];
    int light_fitted;        /* cn_augment_fit_lighting was called */
    int light_c;             /* channels the statistics were fitted on (1 or 3) */
    double light_eigval[3];  /* eigenvalues of the RGB covariance, descending */
    double light_eigvec[9];  /* (3, 3) row-major; column k is eigenvector k */
    int c, h, w;             /* input shape bound by cn_augment_transform */
} cn_augment;

/* cn_aug_kind_name: the spec name of a kind ("hflip", ...), or "?" if invalid. */
const char *cn_aug_kind_name(cn_aug_kind k);

/* cn_augment_parse: parse spec into *out (zeroed first). The grammar is
 * STEP[,STEP]... with STEP = NAME[=ARG[:ARG]...], positional arguments as in
 * docs/data/augment.md; an empty spec or "none" is the identity pipeline. Errors
 * (CN_ERR_ARG) name the column (1-based) in spec: an unknown step with the nearest
 * valid name, a missing, extra or malformed argument, a value out of range, a
 * lower bound above its upper bound, or more than CN_AUG_MAX_STEPS steps. */
cn_status cn_augment_parse(const char *spec, cn_augment *out, cn_error *err);

/* cn_augment_format: write the canonical spec of a (every argument explicit) into
 * buf (size bytes, always NUL-terminated); parsing it gives the same steps.
 * Returns the length it needed (as snprintf), so a result >= size means truncated. */
int cn_augment_format(const cn_augment *a, char *buf, size_t size);

/* cn_augment_needs_lighting: non-zero when a has a lighting step. */
int cn_augment_needs_lighting(const cn_augment *a);

/* cn_augment_fit_lighting: fit the lighting statistics of AlexNet's "fancy PCA":
 * the covariance (accumulated in double) of the c-channel pixel vectors of
 * images (n, c, h, w) — the training split only — and its eigenvalues (descending)
 * and eigenvectors (a 3x3 Jacobi eigensolver). c must be 1 or 3 (CN_ERR_SHAPE);
 * n, h, w > 0 (CN_ERR_ARG). Non-finite pixels give CN_ERR_NUMERIC. */
cn_status cn_augment_fit_lighting(cn_augment *a, const cn_real *images, int n, int c, int h,
                                  int w, cn_error *err);

/* cn_augment_out_shape: the output (h, w) of a on (c, h, w) images (channels are
 * kept). Checks every step can run on that shape: CN_ERR_SHAPE when a crop is
 * larger than the padded image, jitter runs on c other than 1 or 3, or lighting
 * runs on a c other than the fitted one; CN_ERR_ARG when lighting is not fitted;
 * CN_ERR_RANGE when a buffer size would overflow. */
cn_status cn_augment_out_shape(const cn_augment *a, int c, int h, int w, int *oh, int *ow,
                               cn_error *err);

/* cn_augment_scratch_len: the number of cn_real that cn_augment_apply needs as
 * scratch for (c, h, w) input (0 for pipelines of fewer than two steps), or 0
 * when the shape is invalid (check with cn_augment_out_shape first). */
size_t cn_augment_scratch_len(const cn_augment *a, int c, int h, int w);

/* cn_augment_apply: run the pipeline on one image in (c, h, w), writing out
 * (c, oh, ow) (cn_augment_out_shape). in and out must not overlap. Randomness
 * comes only from rng, in step order, so the same rng state gives the same
 * result. scratch: cn_augment_scratch_len reals owned by the caller, or NULL to
 * allocate (cn_malloc) and free them within the call. Thread-safe for distinct
 * out, scratch and rng: a is only read. Errors as cn_augment_out_shape, plus
 * CN_ERR_NOMEM. */
cn_status cn_augment_apply(const cn_augment *a, const cn_real *in, int c, int h, int w,
                           cn_real *out, cn_real *scratch, cn_rng *rng, cn_error *err);

/* cn_augment_transform: bind the input shape (c, h, w) into a (a->c, a->h,
 * a->w) and fill *out with a cn_sample_transform whose apply runs
 * cn_augment_apply with ctx = a. a must outlive the transform and must not be
 * modified while it is in use. Each apply call allocates its scratch with
 * cn_malloc and frees it before returning (nothing is shared between calls), so
 * concurrent calls from loader threads are safe. Errors as cn_augment_out_shape. */
cn_status cn_augment_transform(cn_augment *a, int c, int h, int w, cn_sample_transform *out,
                               cn_error *err);

/* ------------------------------------------------------------------ image operations */
/* Deterministic building blocks of the pipeline (src (c, h, w) -> dst; src and
 * dst never overlap unless stated). */

/* cn_aug_hflip / cn_aug_vflip: mirror left-right / top-bottom. */
void cn_aug_hflip(const cn_real *src, int c, int h, int w, cn_real *dst);
void cn_aug_vflip(const cn_real *src, int c, int h, int w, cn_real *dst);

/* cn_aug_crop: dst (c, oh, ow) = the window at (top, left) of src zero-padded by
 * pad on every side (coordinates in the padded image; pixels outside it are 0). */
void cn_aug_crop(const cn_real *src, int c, int h, int w, int pad, int top, int left,
                 cn_real *dst, int oh, int ow);

/* cn_aug_resize: bilinear resize (align_corners = false, no antialiasing) of the
 * window (top, left, ch, cw) of src to dst (c, oh, ow). */
void cn_aug_resize(const cn_real *src, int c, int h, int w, int top, int left, int ch, int cw,
                   cn_real *dst, int oh, int ow);

/* cn_aug_affine: rotate by degrees (positive: counter-clockwise on screen, as
 * torchvision) about the image centre, then translate by (tx, ty) pixels;
 * bilinear sampling, 0 outside src. degrees = tx = ty = 0 copies src exactly. */
void cn_aug_affine(const cn_real *src, int c, int h, int w, double degrees, double tx,
                   double ty, cn_real *dst);

/* Colour adjustments with torchvision's semantics, in place on img (c, h, w),
 * c = 1 or 3 (saturation and hue leave c = 1 unchanged); results clamped to
 * [0, 1] except for hue. brightness: img * f; contrast: blend with the mean of
 * the greyscale image (0.2989 R + 0.587 G + 0.114 B); saturation: blend with the
 * greyscale image; hue: shift H in HSV by f turns (any real; torchvision allows
 * [-0.5, 0.5]; a whole number of turns returns the image). */
void cn_aug_adjust_brightness(cn_real *img, int c, int h, int w, double f);
void cn_aug_adjust_contrast(cn_real *img, int c, int h, int w, double f);
void cn_aug_adjust_saturation(cn_real *img, int c, int h, int w, double f);
void cn_aug_adjust_hue(cn_real *img, int c, int h, int w, double f);

/* cn_aug_color_jitter: torchvision's ColorJitter on img (c, h, w) in place: a
 * random order of the four adjustments (a uniform permutation), factors drawn
 * uniformly from [max(0, 1 - b), 1 + b], [max(0, 1 - cs), 1 + cs],
 * [max(0, 1 - s), 1 + s] and [-hue, hue]; an adjustment whose strength is 0 is
 * skipped (no draw), so all-zero strengths leave img unchanged. */
void cn_aug_color_jitter(cn_real *img, int c, int h, int w, double brightness,
                         double contrast, double saturation, double hue, cn_rng *rng);

/* cn_aug_lighting: AlexNet's PCA lighting noise on img (c, h, w) in place, with
 * the statistics fitted in a (a->light_c must equal c): alpha_k ~ N(0, std^2)
 * and every pixel vector gets V (alpha * lambda) added (no clamping). */
void cn_aug_lighting(const cn_augment *a, cn_real *img, int c, int h, int w, double std,
                     cn_rng *rng);

/* cn_aug_fill_rect: set the window (top, left, rh, rw) of img (c, h, w) to value,
 * clipped to the image. */
void cn_aug_fill_rect(cn_real *img, int c, int h, int w, int top, int left, int rh, int rw,
                      cn_real value);

/* cn_aug_rcrop_params: the window of torchvision's RandomResizedCrop.get_params
 * on an h x w image: up to 10 draws of area fraction in [scale_lo, scale_hi] and
 * log-uniform aspect ratio (w/h) in [ratio_lo, ratio_hi], sides rounded half to
 * even; the first window that fits wins, else the central crop clamped to the
 * ratio range. Writes (*top, *left, *ch, *cw). */
void cn_aug_rcrop_params(cn_rng *rng, int h, int w, double scale_lo, double scale_hi,
                         double ratio_lo, double ratio_hi, int *top, int *left, int *ch,
                         int *cw);

/* cn_aug_erase_params: the rectangle of torchvision's RandomErasing.get_params
 * (scale and ratio as there; the rectangle must be strictly smaller than the
 * image on both sides). Returns 1 and writes (*top, *left, *eh, *ew) when one of
 * 10 draws fits, 0 (nothing to erase) otherwise. Does not draw the p test. */
int cn_aug_erase_params(cn_rng *rng, int h, int w, double scale_lo, double scale_hi,
                        double ratio_lo, double ratio_hi, int *top, int *left, int *eh,
                        int *ew);

/* ------------------------------------------------------------------ test-time augmentation */

typedef enum cn_tta_mode {
    CN_TTA_NONE = 0,  /* "none":     1 view: the centre crop */
    CN_TTA_FLIP,      /* "flip":     2 views: centre crop, its mirror */
    CN_TTA_FIVE_CROP, /* "five":     5 views: top-left, top-right, bottom-left,
                                     bottom-right, centre (torchvision FiveCrop) */
    CN_TTA_TEN_CROP,  /* "ten":      10 views: the five crops, then the five crops of
                                     the mirrored image (torchvision TenCrop) */
    CN_TTA_MODE_COUNT
} cn_tta_mode;

/* cn_tta_mode_name / cn_tta_mode_parse: "none", "flip", "five", "ten". */
const char *cn_tta_mode_name(cn_tta_mode m);
cn_status cn_tta_mode_parse(const char *s, cn_tta_mode *out, cn_error *err);

/* cn_tta_num_views: 1, 2, 5 or 10 (0 for an invalid mode). */
int cn_tta_num_views(cn_tta_mode m);

/* cn_tta_views: the views of one image in (c, h, w) as crops of size (oh, ow)
 * into out (k, c, oh, ow), k = cn_tta_num_views(m). The centre crop starts at
 * round((h - oh) / 2), round((w - ow) / 2) (half to even, as torchvision).
 * CN_ERR_ARG for a bad mode or sizes, CN_ERR_SHAPE when oh > h or ow > w. */
cn_status cn_tta_views(cn_tta_mode m, const cn_real *in, int c, int h, int w, int oh, int ow,
                       cn_real *out, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_AUGMENT_H */
