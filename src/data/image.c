/* image.c: PNG and JPEG decoding through Debian's stb_image, compiled into this
 * one file (static, PNG and JPEG decoders only, no stdio, allocating through the
 * library's allocator). Every image is probed (our own PNG IHDR / JPEG DHT / PNG
 * chunk checks for stb 2.27 bugs, then stbi_info_from_memory) and
 * checked against the caller's limits before a single pixel is decoded; decoded
 * samples are converted to planar cn_real in [0, 1] with the requested channels
 * and optionally resized (resize.c). Files are read with open/read, never stdio. */
#include "convnet/image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Zeroed: stb_image 2.27 decodes a JPEG scan with whatever Huffman table memory
 * it finds when the file never defined that table; from uninitialised memory
 * that indexes far outside the table (found by fuzz_image), from zeros it decodes
 * zeros. Zeroing also covers its other never-written buffers. */
#define STBI_MALLOC(sz) cn_calloc(1, sz)
#define STBI_REALLOC(p, sz) cn_realloc(p, sz)
#define STBI_FREE(p) cn_free(p)
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_NO_GIF
#define STBI_MAX_DIMENSIONS CN_IMAGE_SIDE_CAP
/* stb's internal consistency asserts are compiled out, as in an NDEBUG build: one of
 * them (stbi__jpeg_huff_decode) fires on corrupt progressive JPEGs, and the library
 * must never abort on bad input (found by fuzz_image). The lookup it precedes is
 * kept in bounds by the zeroed allocations (STBI_MALLOC above). */
#define STBI_ASSERT(x) ((void)0)
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wdeprecated-non-prototype"
#endif
/* stb's JPEG bit reader stops filling its bit buffer at a marker, and corrupt
 * data can then drive the bit count below zero, so the next refill shifts a
 * 32-bit value by 32 or more: undefined behaviour without any memory access
 * (x86 masks the count; the decode then fails or yields garbage pixels), which the
 * sanitizer build traps on (found by fuzz_image). The function is declared here
 * first, without a prototype because its parameter type is defined inside stb,
 * to exempt it from the shift check only. */
#if defined(__GNUC__) || defined(__clang__)
static void stbi__grow_buffer_unsafe() __attribute__((no_sanitize("shift")));
#endif
#include <stb_image.h>
/* stb_image 2.27 declares this function but never defines it; with
 * STB_IMAGE_STATIC gcc then warns at the end of the file, outside any pragma.
 * Defined here (as the upstream fix does); convnet never calls it. */
STBIDEF void stbi_set_unpremultiply_on_load_thread(int flag_true_if_should_unpremultiply)
{
    stbi__unpremultiply_on_load_local = flag_true_if_should_unpremultiply;
    stbi__unpremultiply_on_load_set = 1;
}
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Paths longer than this are shown abbreviated in messages, so the reason after
 * the path still fits in cn_error's buffer. */
#define IMG_PATH_SHOWN 160

/* ------------------------------------------------------------------ options */

void cn_image_opts_default(cn_image_opts *o)
{
    memset(o, 0, sizeof *o);
    o->channels = 3;
    o->height = 0;
    o->width = 0;
    o->fit = CN_IMAGE_FIT_CROP;
    o->alpha = CN_IMAGE_ALPHA_BLACK;
    o->on_error = CN_IMAGE_ERRORS_STOP;
    o->max_width = CN_IMAGE_MAX_SIDE_DEFAULT;
    o->max_height = CN_IMAGE_MAX_SIDE_DEFAULT;
    o->max_pixels = CN_IMAGE_MAX_PIXELS_DEFAULT;
    o->max_file_bytes = CN_IMAGE_MAX_FILE_DEFAULT;
}

cn_status cn_image_opts_check(const cn_image_opts *o, cn_error *err)
{
    if (!o) return cn_error_set(err, CN_ERR_ARG, "image options: NULL");
    if (o->channels != 1 && o->channels != 3)
        return cn_error_set(err, CN_ERR_ARG, "image options: channels %d (need 1 or 3)",
                            o->channels);
    if (o->height < 0 || o->width < 0 || (o->height == 0) != (o->width == 0))
        return cn_error_set(err, CN_ERR_ARG,
                            "image options: output size %dx%d (need both > 0, or both 0 "
                            "for the native size)", o->width, o->height);
    if ((unsigned)o->fit >= CN_IMAGE_FIT_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "image options: fit %d unknown", (int)o->fit);
    if ((unsigned)o->alpha >= CN_IMAGE_ALPHA_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "image options: alpha %d unknown", (int)o->alpha);
    if ((unsigned)o->on_error >= CN_IMAGE_ERRORS_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "image options: on_error %d unknown",
                            (int)o->on_error);
    if (o->max_width < 1 || o->max_width > CN_IMAGE_SIDE_CAP || o->max_height < 1 ||
        o->max_height > CN_IMAGE_SIDE_CAP)
        return cn_error_set(err, CN_ERR_ARG,
                            "image options: max size %dx%d (each side must be 1..%d)",
                            o->max_width, o->max_height, CN_IMAGE_SIDE_CAP);
    if (o->max_pixels == 0)
        return cn_error_set(err, CN_ERR_ARG, "image options: max_pixels is 0");
    if (o->max_file_bytes == 0 || o->max_file_bytes > (size_t)INT_MAX)
        return cn_error_set(err, CN_ERR_ARG,
                            "image options: max_file_bytes %zu (need 1..%d)",
                            o->max_file_bytes, INT_MAX);
    return CN_OK;
}

static const char *const fit_names[CN_IMAGE_FIT_COUNT] = {"crop", "stretch"};
static const char *const alpha_names[CN_IMAGE_ALPHA_COUNT] = {"black", "drop"};
static const char *const on_error_names[CN_IMAGE_ERRORS_COUNT] = {"stop", "skip"};

/* Find s in names[0..n); CN_ERR_ARG listing the names otherwise. */
static cn_status parse_name(const char *what, const char *const *names, int n, const char *s,
                            int *out, cn_error *err)
{
    for (int i = 0; s && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return CN_OK;
        }
    }
    return cn_error_set(err, CN_ERR_ARG, "unknown %s '%s' (expected %s or %s)", what,
                        s ? s : "(null)", names[0], names[1]);
}

const char *cn_image_fit_name(cn_image_fit f)
{
    return (unsigned)f < CN_IMAGE_FIT_COUNT ? fit_names[f] : "?";
}

cn_status cn_image_fit_parse(const char *s, cn_image_fit *out, cn_error *err)
{
    int v = 0;
    cn_status st = parse_name("image fit", fit_names, CN_IMAGE_FIT_COUNT, s, &v, err);
    if (st == CN_OK) *out = (cn_image_fit)v;
    return st;
}

const char *cn_image_alpha_name(cn_image_alpha a)
{
    return (unsigned)a < CN_IMAGE_ALPHA_COUNT ? alpha_names[a] : "?";
}

cn_status cn_image_alpha_parse(const char *s, cn_image_alpha *out, cn_error *err)
{
    int v = 0;
    cn_status st = parse_name("alpha policy", alpha_names, CN_IMAGE_ALPHA_COUNT, s, &v, err);
    if (st == CN_OK) *out = (cn_image_alpha)v;
    return st;
}

const char *cn_image_on_error_name(cn_image_on_error e)
{
    return (unsigned)e < CN_IMAGE_ERRORS_COUNT ? on_error_names[e] : "?";
}

cn_status cn_image_on_error_parse(const char *s, cn_image_on_error *out, cn_error *err)
{
    int v = 0;
    cn_status st =
        parse_name("decode-error policy", on_error_names, CN_IMAGE_ERRORS_COUNT, s, &v, err);
    if (st == CN_OK) *out = (cn_image_on_error)v;
    return st;
}

/* ------------------------------------------------------------------ helpers */

void cn_image_free(cn_image *img)
{
    if (!img) return;
    cn_free(img->data);
    memset(img, 0, sizeof *img);
}

/* Write path into buf for messages: as is when short, else its first and last
 * characters around "...", with the full length. */
static const char *shown_path(const char *path, char *buf, size_t size)
{
    size_t n = strlen(path);
    if (n <= IMG_PATH_SHOWN) return path;
    snprintf(buf, size, "%.80s...%s (a %zu-character path)", path, path + n - 60, n);
    return buf;
}

/* The format of buf when it is one stb can recognise but this build leaves out,
 * or NULL. Only for a clearer message: stb itself rejects these. */
static const char *other_format(const uint8_t *buf, size_t len)
{
    if (len >= 4 && memcmp(buf, "GIF8", 4) == 0) return "GIF";
    if (len >= 2 && buf[0] == 'B' && buf[1] == 'M') return "BMP";
    if (len >= 4 && memcmp(buf, "8BPS", 4) == 0) return "PSD";
    if (len >= 2 && buf[0] == '#' && buf[1] == '?') return "HDR";
    if (len >= 4 && memcmp(buf, "\x53\x80\xF6\x34", 4) == 0) return "PIC";
    if (len >= 2 && buf[0] == 'P' && buf[1] >= '1' && buf[1] <= '6') return "PNM";
    return NULL;
}

/* Big-endian 32-bit value at p. */
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Byte i of buf, or 0 past its end (what stb's reader returns there). */
static unsigned byte_at(const uint8_t *buf, size_t len, size_t i)
{
    return i < len ? buf[i] : 0u;
}

/* stb_image 2.27 writes past its 257-entry Huffman size table when a DHT table
 * declares more than 256 codes (stbi__build_huffman), before any other check,
 * both in the info call and in decoding. Walk the JPEG's segments the way stb
 * does (lengths for segments, byte by byte through entropy-coded data, fill bytes,
 * stuffing and restart markers) and reject such a table first. */
static cn_status jpeg_check_dht(const uint8_t *buf, size_t len, size_t start,
                                const char *name, cn_error *err)
{
    size_t i = start;
    while (i + 1 < len) {
        if (buf[i] != 0xFF) {
            i++;
            continue;
        }
        unsigned m = buf[i + 1];
        if (m == 0xFF) {
            i++;
            continue;
        }
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            i += 2;
            continue;
        }
        if (m == 0xD9) break;
        size_t seg = byte_at(buf, len, i + 2) << 8 | byte_at(buf, len, i + 3);
        if (m == 0xC4) {
            /* Mirror stb: tables while the remaining length is positive, reading
             * on past the segment (and as zeros past the file) if they say so. */
            long rest = (long)seg - 2;
            size_t p = i + 4;
            while (rest > 0) {
                unsigned q = byte_at(buf, len, p);
                if ((q >> 4) > 1 || (q & 15) > 3) break; /* stb rejects it itself */
                size_t n = 0;
                for (int k = 0; k < 16; k++) n += byte_at(buf, len, p + 1 + (size_t)k);
                if (n > 256)
                    return cn_error_set(err, CN_ERR_FORMAT,
                                        "%s: byte %zu: corrupt JPEG Huffman table (%zu codes, "
                                        "at most 256)", name, p, n);
                p += 17 + n;
                rest -= 17 + (long)n;
                if (p > len) break;
            }
        }
        i += 2 + seg;
    }
    return CN_OK;
}

/* Check a header's size against the limits of opts and against int overflow of
 * the decoded buffer (stb computes w * h * channels * bytes-per-sample in int: up
 * to 4 channels x 2 bytes). */
static cn_status check_size(const char *name, uint32_t x, uint32_t y, const cn_image_opts *opts,
                            cn_error *err)
{
    if (x > (uint32_t)opts->max_width || y > (uint32_t)opts->max_height)
        return cn_error_set(err, CN_ERR_RANGE,
                            "%s: header: image is %" PRIu32 "x%" PRIu32
                            ", above the limit of %dx%d", name, x, y, opts->max_width,
                            opts->max_height);
    uint64_t pixels = (uint64_t)x * y;
    if (pixels > (uint64_t)opts->max_pixels)
        return cn_error_set(err, CN_ERR_RANGE,
                            "%s: header: image is %" PRIu32 "x%" PRIu32 " = %" PRIu64
                            " pixels, above the limit of %zu", name, x, y, pixels,
                            opts->max_pixels);
    if (pixels > (uint64_t)INT_MAX / 8)
        return cn_error_set(err, CN_ERR_RANGE,
                            "%s: header: %" PRIu32 "x%" PRIu32
                            " x 4 channels x 2 bytes overflows an int", name, x, y);
    return CN_OK;
}

/* ------------------------------------------------------------------ decoding */

cn_status cn_image_probe(const uint8_t *buf, size_t len, const char *name,
                         const cn_image_opts *opts, int *w, int *h, int *comp,
                         cn_error *err)
{
    cn_status st = cn_image_opts_check(opts, err);
    if (st != CN_OK) return st;
    if (!name) name = "<memory>";
    if (!buf || len == 0) return cn_error_set(err, CN_ERR_FORMAT, "%s: empty file", name);
    if (len > (size_t)INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "%s: %zu bytes, above %d", name, len, INT_MAX);
    /* A PNG's size sits at a fixed place in IHDR: check it first, because stb's
     * info call fails without saying why on PNGs above its own bound. */
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (len >= 24 && memcmp(buf, png_sig, 8) == 0 && memcmp(buf + 12, "IHDR", 4) == 0) {
        st = check_size(name, be32(buf + 16), be32(buf + 20), opts, err);
        if (st != CN_OK) return st;
    }
    /* stb takes any run of 0xFF bytes followed by D8 as the JPEG's SOI marker. */
    size_t soi = 0;
    while (soi < len && buf[soi] == 0xFF) soi++;
    if (soi > 0 && soi < len && buf[soi] == 0xD8) {
        st = jpeg_check_dht(buf, len, soi + 1, name, err);
        if (st != CN_OK) return st;
    }
    int x = 0, y = 0, n = 0;
    if (!stbi_info_from_memory(buf, (int)len, &x, &y, &n)) {
        const char *why = stbi_failure_reason();
        const char *other = other_format(buf, len);
        if (other)
            return cn_error_set(err, CN_ERR_UNSUPPORTED,
                                "%s: byte 0: a %s image; only PNG and JPEG are supported",
                                name, other);
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: header: not a PNG or JPEG image, or a corrupt header (%s)",
                            name, why ? why : "unknown reason");
    }
    if (x < 1 || y < 1 || n < 1 || n > 4)
        return cn_error_set(err, CN_ERR_FORMAT, "%s: header: bad size %dx%d with %d channels",
                            name, x, y, n);
    st = check_size(name, (uint32_t)x, (uint32_t)y, opts, err);
    if (st != CN_OK) return st;
    if (w) *w = x;
    if (h) *h = y;
    if (comp) *comp = n;
    return CN_OK;
}

/* Two stb_image 2.27 problems with PNG chunks, handled before stb sees the file:
 *  - an IDAT chunk's buffer is grown to its declared length before its data is
 *    read, so a 100-byte file declaring a 2 GiB IDAT allocates 2 GiB: an IDAT
 *    running past the end of the file is rejected here (truncated);
 *  - an empty first IDAT chunk (legal, if odd) makes stb compute `idata + ioff`
 *    on a NULL idata, undefined behaviour the sanitizer build traps on: when a
 *    PNG has empty IDAT chunks, *copy receives a copy without them (stb does not
 *    check CRCs, so the image is unchanged); *copy stays NULL otherwise.
 * Chunks are walked as stb walks them: 8-byte signature, then length, type,
 * data, CRC; stb stops with an error where this walk stops. */
static cn_status png_precheck(const uint8_t *buf, size_t len, const char *name,
                              uint8_t **copy, size_t *copy_len, cn_error *err)
{
    *copy = NULL;
    *copy_len = 0;
    size_t empty = 0;
    for (size_t i = 8; i + 8 <= len;) {
        size_t n = be32(buf + i);
        int idat = memcmp(buf + i + 4, "IDAT", 4) == 0;
        if (idat && n > len - i - 8)
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s: byte %zu: IDAT chunk of %zu bytes runs past the end of "
                                "the file (truncated)", name, i, n);
        if (idat && n == 0) empty++;
        if (len - i < 12 || n > len - i - 12) break;
        i += 12 + n;
    }
    if (empty == 0) return CN_OK;
    uint8_t *c = cn_malloc(len); // (len)
    if (!c) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", name);
    memcpy(c, buf, 8);
    size_t o = 8, i = 8;
    while (i + 12 <= len) {
        size_t n = be32(buf + i);
        size_t step = n > len - i - 12 ? len - i : 12 + n;
        if (!(n == 0 && memcmp(buf + i + 4, "IDAT", 4) == 0)) {
            memcpy(c + o, buf + i, step);
            o += step;
        }
        i += step;
    }
    memcpy(c + o, buf + i, len - i); /* a tail shorter than a chunk header */
    o += len - i;
    *copy = c;
    *copy_len = o;
    return CN_OK;
}

/* Sample k of pixel p of a decoded buffer with n channels per pixel, in [0, 1]. */
static double sample_at(const void *pix, int bits, size_t p, int n, int k)
{
    size_t i = p * (size_t)n + (size_t)k;
    if (bits == 16) return ((const uint16_t *)pix)[i] / 65535.0;
    return ((const uint8_t *)pix)[i] / 255.0;
}

/* Convert npix interleaved pixels with n channels (1 grey, 2 grey+alpha, 3 RGB,
 * 4 RGBA) into planar out (oc, npix). */
static void convert(const void *pix, int bits, int n, size_t npix, int oc,
                    cn_image_alpha alpha, cn_real *out)
{
    for (size_t p = 0; p < npix; p++) {
        double r, g, b, a = 1.0;
        if (n <= 2) {
            r = g = b = sample_at(pix, bits, p, n, 0);
            if (n == 2) a = sample_at(pix, bits, p, n, 1);
        } else {
            r = sample_at(pix, bits, p, n, 0);
            g = sample_at(pix, bits, p, n, 1);
            b = sample_at(pix, bits, p, n, 2);
            if (n == 4) a = sample_at(pix, bits, p, n, 3);
        }
        if (alpha == CN_IMAGE_ALPHA_BLACK) {
            r *= a;
            g *= a;
            b *= a;
        }
        if (oc == 1) {
            double v = n <= 2 ? g : 0.299 * r + 0.587 * g + 0.114 * b;
            out[p] = (cn_real)(v > 1.0 ? 1.0 : v);
        } else {
            out[p] = (cn_real)r;
            out[npix + p] = (cn_real)g;
            out[2 * npix + p] = (cn_real)b;
        }
    }
}

cn_status cn_image_decode(const uint8_t *buf, size_t len, const char *name,
                          const cn_image_opts *opts, cn_image *out, cn_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    CN_ASSERT(out != NULL);
    if (!name) name = "<memory>";
    int pw = 0, ph = 0, pn = 0;
    cn_status st = cn_image_probe(buf, len, name, opts, &pw, &ph, &pn, err);
    if (st != CN_OK) return st;

    uint8_t *stripped = NULL;
    size_t stripped_len = 0;
    if (len > 8 && memcmp(buf, "\x89PNG", 4) == 0) {
        st = png_precheck(buf, len, name, &stripped, &stripped_len, err);
        if (st != CN_OK) return st;
    }
    const uint8_t *src = stripped ? stripped : buf;
    const int src_len = stripped ? (int)stripped_len : (int)len;
    int x = 0, y = 0, n = 0, bits = 8;
    void *pix;
    if (stbi_is_16_bit_from_memory(src, src_len)) {
        bits = 16;
        pix = stbi_load_16_from_memory(src, src_len, &x, &y, &n, 0);
    } else {
        pix = stbi_load_from_memory(src, src_len, &x, &y, &n, 0);
    }
    cn_free(stripped);
    if (!pix) {
        const char *why = stbi_failure_reason();
        if (why && strcmp(why, "outofmem") == 0)
            return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory decoding %dx%d", name,
                                pw, ph);
        return cn_error_set(err, CN_ERR_FORMAT, "%s: corrupt %dx%d image: %s", name, pw, ph,
                            why ? why : "unknown reason");
    }
    if (x != pw || y != ph || n < 1 || n > 4) {
        stbi_image_free(pix);
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: decoded size %dx%dx%d differs from the header's %dx%d", name,
                            x, y, n, pw, ph);
    }
    const int oc = opts->channels;
    const size_t npix = (size_t)x * (size_t)y;
    cn_real *planar = cn_malloc(npix * (size_t)oc * sizeof *planar); // (oc, y, x)
    if (!planar) {
        stbi_image_free(pix);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for a %dx%d image", name, x,
                            y);
    }
    convert(pix, bits, n, npix, oc, opts->alpha, planar);
    stbi_image_free(pix);

    if (opts->height > 0 && (opts->height != y || opts->width != x)) {
        size_t on = 0;
        if (cn_mul_overflow((size_t)opts->height * (size_t)opts->width, (size_t)oc, &on) ||
            cn_mul_overflow(on, sizeof(cn_real), &on)) {
            cn_free(planar);
            return cn_error_set(err, CN_ERR_RANGE, "%s: output size %dx%d overflows", name,
                                opts->width, opts->height);
        }
        cn_real *resized = cn_malloc(on); // (oc, height, width)
        if (!resized) {
            cn_free(planar);
            return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory resizing", name);
        }
        st = cn_image_resize(planar, oc, y, x, resized, opts->height, opts->width, opts->fit,
                             err);
        cn_free(planar);
        if (st != CN_OK) {
            cn_free(resized);
            if (err) cn_error_prefix(err, "%s: ", name);
            return st;
        }
        planar = resized;
        y = opts->height;
        x = opts->width;
    }
    out->data = planar;
    out->c = oc;
    out->h = y;
    out->w = x;
    return CN_OK;
}

/* ------------------------------------------------------------------ files */

/* Read the whole regular file at path (at most max bytes) into a new buffer. */
static cn_status read_file(const char *path, const char *shown, size_t max, uint8_t **data,
                           size_t *len, cn_error *err)
{
    *data = NULL;
    *len = 0;
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return cn_error_set(err, CN_ERR_IO, "%s: cannot open: %s", shown, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return cn_error_set(err, CN_ERR_IO, "%s: cannot stat: %s", shown, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return cn_error_set(err, CN_ERR_IO, "%s: %s", shown, strerror(EISDIR));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cn_error_set(err, CN_ERR_IO, "%s: not a regular file", shown);
    }
    if (sb.st_size <= 0) {
        close(fd);
        return cn_error_set(err, CN_ERR_FORMAT, "%s: empty file", shown);
    }
    if ((uintmax_t)sb.st_size > (uintmax_t)max) {
        close(fd);
        return cn_error_set(err, CN_ERR_RANGE, "%s: file is %jd bytes, above the limit of %zu",
                            shown, (intmax_t)sb.st_size, max);
    }
    size_t size = (size_t)sb.st_size, got = 0;
    uint8_t *buf = cn_malloc(size); // (size)
    if (!buf) {
        close(fd);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for %zu bytes", shown, size);
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            cn_free(buf);
            close(fd);
            return cn_error_set(err, CN_ERR_IO, "%s: byte %zu: read failed: %s", shown, got,
                                strerror(e));
        }
        if (r == 0) break; /* the file shrank: decode what is there */
        got += (size_t)r;
    }
    close(fd);
    if (got == 0) {
        cn_free(buf);
        return cn_error_set(err, CN_ERR_FORMAT, "%s: empty file", shown);
    }
    *data = buf;
    *len = got;
    return CN_OK;
}

cn_status cn_image_load(const char *path, const cn_image_opts *opts, cn_image *out,
                        cn_error *err)
{
    CN_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (!path) return cn_error_set(err, CN_ERR_ARG, "cn_image_load: NULL path");
    cn_status st = cn_image_opts_check(opts, err);
    if (st != CN_OK) return st;
    char sbuf[IMG_PATH_SHOWN + 96];
    const char *shown = shown_path(path, sbuf, sizeof sbuf);
    uint8_t *data = NULL;
    size_t len = 0;
    st = read_file(path, shown, opts->max_file_bytes, &data, &len, err);
    if (st != CN_OK) return st;
    st = cn_image_decode(data, len, shown, opts, out, err);
    cn_free(data);
    return st;
}
