/* convnet/image.h: PNG and JPEG images: decoding through Debian's stb_image (only
 * the PNG and JPEG decoders compiled in, a maximum size checked before decoding),
 * channel conversion (grey / grey+alpha / RGB / RGBA to 1 or 3 channels),
 * antialiased bilinear resizing with a crop-or-stretch policy, and datasets read
 * from image folders (ImageFolder layout) or list files. See docs/data/images.md. */
#ifndef CONVNET_IMAGE_H
#define CONVNET_IMAGE_H

#include "convnet/core.h"
#include "convnet/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults for cn_image_opts (cn_image_opts_default). */
#define CN_IMAGE_MAX_SIDE_DEFAULT 8192               /* pixels per side */
#define CN_IMAGE_MAX_PIXELS_DEFAULT ((size_t)1 << 26) /* 64 Mpixel */
#define CN_IMAGE_MAX_FILE_DEFAULT ((size_t)1 << 28)   /* 256 MiB per file */
/* The hard cap compiled into stb_image (STBI_MAX_DIMENSIONS): max_width and
 * max_height may not exceed it. */
#define CN_IMAGE_SIDE_CAP 65536

/* cn_image_fit: how an image whose size differs from the requested output size
 * is brought to it. Both resample with antialiased bilinear filtering. */
typedef enum cn_image_fit {
    CN_IMAGE_FIT_CROP = 0, /* default: scale so the image covers the output (the
                              shorter side, relative to the output's aspect, meets
                              the target), then take the centred window */
    CN_IMAGE_FIT_STRETCH,  /* scale each axis independently to the output size
                              (aspect ratio not kept, nothing cut off) */
    CN_IMAGE_FIT_COUNT
} cn_image_fit;

/* cn_image_alpha: what happens to an alpha channel. */
typedef enum cn_image_alpha {
    CN_IMAGE_ALPHA_BLACK = 0, /* default: composite over black (colour * alpha) */
    CN_IMAGE_ALPHA_DROP,      /* ignore alpha (keep the stored colour) */
    CN_IMAGE_ALPHA_COUNT
} cn_image_alpha;

/* cn_image_on_error: what a dataset loader does with a file that fails to read
 * or decode. */
typedef enum cn_image_on_error {
    CN_IMAGE_ERRORS_STOP = 0, /* default: fail the whole load, naming the file */
    CN_IMAGE_ERRORS_SKIP,     /* leave the file out and count it */
    CN_IMAGE_ERRORS_COUNT
} cn_image_on_error;

/* cn_image_opts: decoding, conversion and loading options. Start from
 * cn_image_opts_default and change fields. */
typedef struct cn_image_opts {
    int channels;             /* 1 (grey) or 3 (RGB); default 3 */
    int height, width;        /* output size; 0, 0 (default) = native size
                                 (datasets: the first decoded image's size) */
    cn_image_fit fit;         /* default CN_IMAGE_FIT_CROP */
    cn_image_alpha alpha;     /* default CN_IMAGE_ALPHA_BLACK */
    cn_image_on_error on_error; /* default CN_IMAGE_ERRORS_STOP */
    int max_width, max_height; /* largest accepted width / height, 1..CN_IMAGE_SIDE_CAP;
                                  default CN_IMAGE_MAX_SIDE_DEFAULT */
    size_t max_pixels;        /* largest accepted width * height (> 0); default
                                 CN_IMAGE_MAX_PIXELS_DEFAULT */
    size_t max_file_bytes;    /* largest accepted file (> 0, < 2 GiB); default
                                 CN_IMAGE_MAX_FILE_DEFAULT */
} cn_image_opts;

/* cn_image_opts_default: fill o with the defaults above. */
void cn_image_opts_default(cn_image_opts *o);

/* cn_image_opts_check: CN_ERR_ARG (naming the field) if o is out of range. Every
 * function taking opts calls it first. */
cn_status cn_image_opts_check(const cn_image_opts *o, cn_error *err);

/* Names for flags and messages: "crop" / "stretch", "black" / "drop",
 * "stop" / "skip". The parsers return CN_ERR_ARG listing the valid names. */
const char *cn_image_fit_name(cn_image_fit f);
cn_status cn_image_fit_parse(const char *s, cn_image_fit *out, cn_error *err);
const char *cn_image_alpha_name(cn_image_alpha a);
cn_status cn_image_alpha_parse(const char *s, cn_image_alpha *out, cn_error *err);
const char *cn_image_on_error_name(cn_image_on_error e);
cn_status cn_image_on_error_parse(const char *s, cn_image_on_error *out, cn_error *err);

/* cn_image: one decoded image, planar (c, h, w) cn_real in [0, 1]. Owns data. */
typedef struct cn_image {
    cn_real *data; /* (c, h, w) */
    int c, h, w;
} cn_image;

/* cn_image_free: release img->data and zero the struct; NULL is a no-op. */
void cn_image_free(cn_image *img);

/* cn_image_probe: read the header of the PNG or JPEG in buf[0..len) and check it
 * against the limits of opts without decoding pixels. *w, *h get the size and
 * *comp the stored channel count (1..4); any may be NULL. name labels messages
 * (a path, or NULL for "<memory>"). Errors: an empty buffer, a format other than
 * PNG / JPEG (GIF, BMP, HDR, PSD, TGA, ... are not compiled in) or an unreadable
 * header (CN_ERR_FORMAT); a size above max_width / max_height / max_pixels or a
 * decoded size w * h * 4 channels * 2 bytes that overflows an int (CN_ERR_RANGE).
 * A PNG's IHDR size is checked even where stb's own header parser gives up. */
cn_status cn_image_probe(const uint8_t *buf, size_t len, const char *name,
                         const cn_image_opts *opts, int *w, int *h, int *comp,
                         cn_error *err);

/* cn_image_decode: probe, then decode buf[0..len) into *out with opts->channels
 * channels: RGB -> grey by the ITU-R BT.601 luma weights (0.299 R + 0.587 G +
 * 0.114 B), grey -> RGB by replication, alpha per opts->alpha. 8-bit samples map
 * to v / 255, 16-bit PNG samples to v / 65535 (full precision kept). With a non-zero
 * opts->height / width the image is then resized by cn_image_resize with
 * opts->fit. Corrupt data is CN_ERR_FORMAT with stb's reason; *out is zeroed on
 * error and owned by the caller (cn_image_free) on success. */
cn_status cn_image_decode(const uint8_t *buf, size_t len, const char *name,
                          const cn_image_opts *opts, cn_image *out, cn_error *err);

/* cn_image_load: read the file at path (at most opts->max_file_bytes; a directory,
 * a missing file or a path the system rejects, e.g. ENAMETOOLONG, is CN_ERR_IO with
 * the system's message) and cn_image_decode it. Messages name the path (very long
 * paths abbreviated in the middle). */
cn_status cn_image_load(const char *path, const cn_image_opts *opts, cn_image *out,
                        cn_error *err);

/* cn_image_resize: resample in (c, h, w) into out (c, oh, ow) with bilinear
 * (triangle) filtering whose support widens by the scale factor when shrinking,
 * so downscaling averages every input pixel (antialiasing, as PIL's BILINEAR and
 * torch's interpolate(antialias=True)); pixel centres are aligned
 * (align_corners=False), edges clamp. fit chooses between the centred crop and the
 * stretch. Same size with either fit copies. Allocates a (c, h, ow) scratch
 * buffer: CN_ERR_NOMEM on failure, CN_ERR_ARG for non-positive sizes. */
cn_status cn_image_resize(const cn_real *in, int c, int h, int w, cn_real *out, int oh,
                          int ow, cn_image_fit fit, cn_error *err);

/* cn_dataset_load_image_folder: read DIR/<class>/<file> for every class
 * sub-folder of dir (names sorted bytewise, hidden names starting with '.'
 * skipped, every sub-folder a class even when empty) and every file ending in
 * .png, .jpg or .jpeg (any case; other files ignored) sorted bytewise by name.
 * Label = the class folder's index, class names = the folder names. Images become
 * (n, opts->channels, oh, ow) in [0, 1]; with opts height/width 0 the first decoded
 * image's size is used for all. A file that fails to read or decode stops the
 * load (message naming the file) or, with CN_IMAGE_ERRORS_SKIP, is left out and
 * counted in *skipped (may be NULL). No class folder, no image file, or no image
 * decoded is CN_ERR_FORMAT. *out is owned by the caller. */
cn_status cn_dataset_load_image_folder(const char *dir, const cn_image_opts *opts,
                                       cn_dataset **out, int *skipped, cn_error *err);

/* cn_dataset_load_image_list: read a list file: one "path label" per line; the
 * label is the last whitespace-separated word (a non-negative decimal integer,
 * at most 100000) and the path everything before it, trimmed (so paths may hold
 * spaces); relative paths are relative to the list file's folder. Blank lines and
 * lines whose first non-blank character is '#' are skipped; CRLF and a UTF-8 BOM
 * are accepted. Syntax errors are CN_ERR_FORMAT "LIST:L:C: ..." (line, byte column). Class
 * names come from classes.txt in the list file's folder (one name per line, blank
 * lines ignored; every label must be below their count, else CN_ERR_RANGE with
 * LIST:L:C) when it exists, else they are "0".."K-1" with K = max label + 1.
 * Decoding, sizing and the error policy are as in cn_dataset_load_image_folder. */
cn_status cn_dataset_load_image_list(const char *list_path, const cn_image_opts *opts,
                                     cn_dataset **out, int *skipped, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_IMAGE_H */
