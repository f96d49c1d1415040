/* The sft phase's view of the packed shards: the train items (sample rows of the train split,
 * with their text token counts, the sampler's length key) and the held-out items (the valid split,
 * or, when the shards have none, a seeded slice of the train images, so no held-out image is
 * trained on). */
#ifndef RADVLM_TRAIN_SFT_DATA_H
#define RADVLM_TRAIN_SFT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/shard_read.h"

typedef struct rv_sft_data {
    rv_shardset *set;
    uint64_t *train;          /* [ntrain] sample rows */
    uint32_t *train_len;      /* [ntrain] stored tokens (the image placeholder counts as one) */
    size_t ntrain;
    uint64_t *held;           /* [nheld] held-out sample rows */
    size_t nheld;
    const char *held_from;    /* "valid split" or "held-out train images" */
} rv_sft_data;

/* Opens dir (index.h5) and lists the items. holdout: fraction of the train images held out when
 * there is no valid split (0 = none). Errors name the directory (missing, damaged, no train rows). */
int rv_sft_data_open(rv_sft_data *d, const char *dir, double holdout, uint64_t seed, rv_err *err);
void rv_sft_data_close(rv_sft_data *d);

#endif
