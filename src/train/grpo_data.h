/* GRPO's prompts (train.md B.5): the report-generation training cells, shuffled with a seed
 * (upstream: 42), the first 99% for training and the next 128 for validation. Upstream shuffles
 * the LLaVA JSON with Python's RNG; here the cells are first put in id order (so the split does
 * not depend on how the shards were packed) and shuffled with the project's Philox stream named by
 * (seed, "grpo-data") — the same fractions and sizes, not the same cells as upstream's shuffle. */
#ifndef RADVLM_TRAIN_GRPO_DATA_H
#define RADVLM_TRAIN_GRPO_DATA_H

#include <stddef.h>
#include <stdint.h>

/* ids[n]: the cells' ids. Writes the train cells to train[] (*ntrain) and the validation cells to
 * val[] (*nval), as indices into ids, each in shuffled order: ntrain = floor(train_frac * n),
 * nval = min(val_n, n - ntrain). train and val have room for n. */
void rv_grpo_split(const char *const *ids, size_t n, uint64_t seed, double train_frac, size_t val_n, size_t *train,
                   size_t *ntrain, size_t *val, size_t *nval);

#endif
