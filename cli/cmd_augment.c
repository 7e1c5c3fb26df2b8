/* cli/cmd_augment.c: `convnet augment`: preview a data-augmentation spec before
 * training. Picks --n training images (seeded), runs the --augment pipeline
 * --copies times on each and writes a PNG grid: one row per image, the original
 * in the first column and the augmented copies after it. Lighting statistics are
 * fitted on the training split, as training will. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "convnet/augment.h"
#include "load.h"
#include "output.h"
#include "progress.h"

#define AUG_DEFAULT_SPEC "hflip,rotate=10:0.1,jitter=0.4:0.4:0.4:0.1,erase=0.5"
#define AUG_DEFAULT_N 8
#define AUG_DEFAULT_COPIES 8
#define AUG_DEFAULT_SEED 1
#define AUG_DEFAULT_SCALE 4
#define AUG_TILE_PAD 1 /* black pixels between tiles, before upscaling */
/* The RNG streams: image choice, then one stream per shown image. */
#define AUG_STREAM_PICK 1
#define AUG_STREAM_IMAGE 1000

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct augment_cfg {
    const char *data, *show, *spec;
    int n, copies, seed, scale, train_limit;
    int json, quiet;
} augment_cfg;

static void augment_cfg_default(augment_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->data = CN_FASHION_MNIST_DIR;
    c->spec = AUG_DEFAULT_SPEC;
    c->n = AUG_DEFAULT_N;
    c->copies = AUG_DEFAULT_COPIES;
    c->seed = AUG_DEFAULT_SEED;
    c->scale = AUG_DEFAULT_SCALE;
}

#define AUGMENT_NFLAGS 11

/* augment_flags: the flag table of `convnet augment` over the fields of c. */
static int augment_flags(cli_flag *f, augment_cfg *c)
{
    cli_flag t[AUGMENT_NFLAGS] = {
        {"data", CLI_FLAG_STRING, "DIR",
         "dataset folder: IDX, CIFAR, image folders or lists (detected)",
         CN_FASHION_MNIST_DIR, 0, 0, 0, NULL, &c->data, 0},
        {"show", CLI_FLAG_STRING, "FILE.png", "write the grid of augmented samples here "
         "(required)", NULL, 0, 0, 0, NULL, &c->show, 0},
        {"augment", CLI_FLAG_STRING, "SPEC", "augmentation steps (docs/data/augment.md)",
         AUG_DEFAULT_SPEC, 0, 0, 0, NULL, &c->spec, 0},
        {"n", CLI_FLAG_INT, "N", "images shown (grid rows)", STR(AUG_DEFAULT_N), 1, 64, 0, NULL,
         &c->n, 0},
        {"copies", CLI_FLAG_INT, "K", "augmented copies of each image (grid columns after the "
         "original)", STR(AUG_DEFAULT_COPIES), 1, 64, 0, NULL, &c->copies, 0},
        {"seed", CLI_FLAG_INT, "S", "seed of the image choice and of the augmentation",
         STR(AUG_DEFAULT_SEED), 0, 2147483647.0, 0, NULL, &c->seed, 0},
        {"scale", CLI_FLAG_INT, "F", "integer upscale factor of the PNG", STR(AUG_DEFAULT_SCALE),
         1, 16, 0, NULL, &c->scale, 0},
        {"train-limit", CLI_FLAG_INT, "N", "use only the first N training images", "all", 2,
         1e9, 0, NULL, &c->train_limit, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout instead of a table", "off",
         0, 0, 0, NULL, &c->json, 0},
        {"quiet", CLI_FLAG_BOOL, "", "no progress on stderr", "off", 0, 0, 0, NULL, &c->quiet,
         0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
    };
    memcpy(f, t, sizeof t);
    return AUGMENT_NFLAGS;
}

void cmd_augment_help(FILE *f)
{
    augment_cfg c;
    cli_flag flags[AUGMENT_NFLAGS];
    augment_cfg_default(&c);
    int n = augment_flags(flags, &c);
    fprintf(f,
            "Usage: convnet augment --show FILE.png [FLAGS]\n\n"
            "Preview data augmentation before training: --n training images chosen with\n"
            "--seed, each in one row of a PNG grid: the original, then --copies augmented\n"
            "copies. --augment is a comma-separated list of steps, each NAME[=ARG[:ARG]...]:\n"
            "  hflip[=P]  vflip[=P]  crop=SIZE[:PAD]  rcrop=SIZE[:SMIN:SMAX[:RMIN:RMAX]]\n"
            "  rotate=DEG[:TRANSLATE]  jitter=B[:C[:S[:H]]]  lighting[=STD]\n"
            "  erase[=P[:SMIN:SMAX[:RMIN:RMAX[:VALUE]]]]  cutout=SIZE[:P]  noise=STD[:P]\n"
            "(SIZE is N or HxW; see docs/data/augment.md.) Lighting is fitted on the training\n"
            "images. Pixels are shown clamped to [0, 1]; when a crop changes the size, tiles\n"
            "are centred on a black background.\n\n"
            "Flags (a repeated flag: the last one wins):\n");
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet augment --show aug.png\n"
               "  convnet augment --show aug.png --augment hflip,crop=28:4,erase=0.5 --n 4\n"
               "  convnet augment --show aug.png --augment rcrop=24:0.3:1,lighting --seed 7\n");
}

/* Copy img (c, h, w) centred into tile (c, th, tw), which is zero elsewhere. */
static void place(const cn_real *img, int c, int h, int w, cn_real *tile, int th, int tw)
{
    int oy = (th - h) / 2, ox = (tw - w) / 2;
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            memcpy(tile + ((size_t)k * th + oy + y) * tw + ox, img + ((size_t)k * h + y) * w,
                   (size_t)w * sizeof *tile);
}

/* Fill grid (rows * (1 + copies), c, th, tw) and write it to c->show. */
static int make_grid(const augment_cfg *cfg, const cn_augment *a, const cn_dataset *ds,
                     const int *pick, int rows, int oh, int ow, cn_error *err)
{
    int c = ds->c, h = ds->h, w = ds->w;
    int th = h > oh ? h : oh, tw = w > ow ? w : ow;
    int cols = 1 + cfg->copies;
    size_t tile = (size_t)c * th * tw;
    size_t ntiles = (size_t)rows * cols;
    cn_real *grid = cn_calloc(ntiles * tile, sizeof *grid);           // (rows*cols, c, th, tw)
    cn_real *aug = cn_malloc((size_t)c * oh * ow * sizeof *aug);       // (c, oh, ow)
    cn_real *scratch = NULL;
    size_t sl = cn_augment_scratch_len(a, c, h, w);
    if (sl)
        scratch = cn_malloc(sl * sizeof *scratch);
    cn_status st = CN_OK;
    if (!grid || !aug || (sl && !scratch))
        st = cn_error_set(err, CN_ERR_NOMEM, "out of memory for a %zu-tile grid", ntiles);
    const cn_real *flat = cn_dataset_flat(ds);
    size_t d = (size_t)c * h * w;
    for (int i = 0; i < rows && st == CN_OK; i++) {
        const cn_real *img = flat + (size_t)pick[i] * d;
        place(img, c, h, w, grid + (size_t)i * cols * tile, th, tw);
        cn_rng r;
        cn_rng_seed(&r, (uint64_t)cfg->seed, AUG_STREAM_IMAGE + (uint64_t)pick[i]);
        for (int j = 0; j < cfg->copies && st == CN_OK; j++) {
            st = cn_augment_apply(a, img, c, h, w, aug, scratch, &r, err);
            if (st == CN_OK)
                place(aug, c, oh, ow, grid + ((size_t)i * cols + 1 + j) * tile, th, tw);
        }
    }
    if (st == CN_OK)
        st = cn_png_write_grid(cfg->show, grid, (int)ntiles, c, th, tw, cols,
                               AUG_TILE_PAD * cfg->scale, cfg->scale, CN_PNG_SCALE_UNIT, err);
    cn_free(grid);
    cn_free(aug);
    cn_free(scratch);
    return st;
}

static int augment_run(const augment_cfg *c, const cn_augment *spec, cli_progress *p,
                       cli_out *out, double t0)
{
    cn_error err;
    cn_error_clear(&err);
    cli_data d;
    int rc = cli_data_load("augment", c->data, c->train_limit, 1, 1, (uint64_t)c->seed, 1, p,
                           &d);
    if (rc != CLI_EXIT_OK)
        return rc;
    cn_augment a = *spec;
    const cn_dataset *ds = d.all_train;
    if (cn_augment_needs_lighting(&a)) {
        cli_progress_stage(p, "fitting the lighting PCA on %d training images...", d.train->n);
        if (cn_augment_fit_lighting(&a, cn_dataset_flat(d.train), d.train->n, d.train->c,
                                    d.train->h, d.train->w, &err) != CN_OK) {
            cli_data_free(&d);
            return cli_usage_error("augment", "--augment: %s", err.msg);
        }
    }
    int oh, ow;
    if (cn_augment_out_shape(&a, ds->c, ds->h, ds->w, &oh, &ow, &err) != CN_OK) {
        rc = cli_usage_error("augment", "--augment on %dx%dx%d images: %s", ds->c, ds->h,
                             ds->w, err.msg);
        cli_data_free(&d);
        return rc;
    }
    int rows = c->n < ds->n ? c->n : ds->n;
    int *idx = cn_malloc((size_t)ds->n * sizeof *idx); // (n) image indices
    if (!idx) {
        rc = cli_runtime_error("augment", "out of memory for %d indices", ds->n);
        cli_data_free(&d);
        return rc;
    }
    for (int i = 0; i < ds->n; i++)
        idx[i] = i;
    cn_rng r;
    cn_rng_seed(&r, (uint64_t)c->seed, AUG_STREAM_PICK);
    cn_rng_shuffle(&r, idx, (size_t)ds->n);
    char canon[1024];
    cn_augment_format(&a, canon, sizeof canon);
    cli_progress_stage(p, "augmenting %d images x %d copies: %s", rows, c->copies, canon);
    if (make_grid(c, &a, ds, idx, rows, oh, ow, &err) != CN_OK)
        rc = cli_lib_error("augment", &err);
    if (rc == CLI_EXIT_OK) {
        json_t *shown = json_array();
        for (int i = 0; i < rows && shown; i++)
            json_array_append_new(shown, json_integer(idx[i]));
        cli_out_str(out, "data", "data", c->data);
        cli_out_str(out, "augment", "augment", canon);
        cli_out_int(out, "images", "images (rows)", rows);
        cli_out_int(out, "copies", "copies", c->copies);
        cli_out_int(out, "seed", "seed", c->seed);
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%dx%d -> %dx%dx%d", ds->c, ds->h, ds->w, ds->c, oh,
                 ow);
        cli_out_str(out, "shape", "shape", shape);
        cli_out_json(out, "indices", shown);
        cli_out_str(out, "show", "grid", c->show);
        cli_out_real(out, "seconds", "seconds", cn_time_now() - t0, CLI_FMT_SEC);
    }
    cn_free(idx);
    cli_data_free(&d);
    return rc;
}

int cmd_augment(int argc, char **argv)
{
    double t0 = cn_time_now();
    augment_cfg c;
    cli_flag flags[AUGMENT_NFLAGS];
    augment_cfg_default(&c);
    int n = augment_flags(flags, &c);
    int help = 0;
    int rc = cli_args_parse(flags, n, argc, argv, "augment", &help);
    if (rc != 0)
        return rc;
    if (help) {
        cmd_augment_help(stdout);
        return CLI_EXIT_OK;
    }
    if (!c.show)
        return cli_usage_error("augment", "--show FILE.png is required; see 'convnet help "
                                          "augment'");
    cn_augment spec;
    cn_error err;
    cn_error_clear(&err);
    if (cn_augment_parse(c.spec, &spec, &err) != CN_OK)
        return cli_usage_error("augment", "--augment: %s", err.msg);
    /* fail before any work when the output file cannot be written */
    rc = cli_check_output("augment", "--show", c.show, c.data);
    if (rc != CLI_EXIT_OK)
        return rc;
    cli_progress p;
    cli_progress_init(&p, c.quiet);
    cli_out *out = cli_out_new("augment");
    if (!out) {
        cli_progress_destroy(&p);
        return cli_runtime_error("augment", "out of memory");
    }
    rc = augment_run(&c, &spec, &p, out, t0);
    if (rc == CLI_EXIT_OK && cli_out_print(out, c.json) != 0)
        rc = CLI_EXIT_RUNTIME;
    cli_out_free(out);
    cli_progress_destroy(&p);
    return rc;
}
