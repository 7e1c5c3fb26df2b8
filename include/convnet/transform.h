/* convnet/transform.h: the per-sample transform interface that joins data
 * augmentation (convnet/augment.h) and the batch loader (convnet/loader.h): the
 * loader calls apply once per sample, from worker threads, with an RNG derived
 * only from (seed, epoch, sample position), so results never depend on timing. */
#ifndef CONVNET_TRANSFORM_H
#define CONVNET_TRANSFORM_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cn_sample_transform: maps one image in (c, h, w) to out (oc, oh, ow).
 * apply must be thread-safe for concurrent calls with different in/out/rng (ctx
 * is read-only during loading); it draws randomness only from rng. It returns
 * CN_OK or an error status with err filled. A NULL apply means identity (then
 * oc, oh, ow must equal c, h, w). */
typedef struct cn_sample_transform {
    cn_status (*apply)(const void *ctx, const cn_real *in, cn_real *out, cn_rng *rng,
                       cn_error *err);
    const void *ctx;
    int c, h, w;     /* input shape */
    int oc, oh, ow;  /* output shape */
} cn_sample_transform;

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_TRANSFORM_H */
