/* GRPO's prompts (train.md B.5): the report-generation cells of the shards' train split, split
 * into train and validation prompts (train/grpo_data.h), and the prompt of each: the cell's first
 * human turn (with " /think" appended in reasoning mode unless grpo.think_suffix = false) in the
 * chat template with the generation prompt, and its stored image — the eval phase's prompt
 * builder (eval/run/prompt.h), so a GRPO prompt and an eval prompt of the same cell are the same
 * tokens. The ground truth is the cell's first gpt turn (the reference report).
 * Step order (verl's RandomSampler over the train prompts, drop_last): epoch e is a permutation of
 * the train prompts drawn from (run seed, "grpo-epoch", e); step s of an epoch takes positions
 * [s B, (s + 1) B) of it, B = grpo.prompts_per_step; the prompt of global uid u is position s B + u. */
#ifndef RADVLM_TRAIN_GRPO_PROMPTS_H
#define RADVLM_TRAIN_GRPO_PROMPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/badrec.h"
#include "eval/run/prompt.h"
#include "eval/run/testset.h"

typedef struct rv_grpo_prompts {
    rv_eval_testset cells;  /* the train split's report items */
    size_t *train, ntrain;  /* indices into cells.items, shuffled (grpo.data_seed) */
    size_t *val, nval;
    uint64_t seed;          /* run.seed: the epoch permutations */
    int64_t epoch;          /* the cached permutation's epoch, -1 none */
    size_t *perm;           /* [ntrain] */
} rv_grpo_prompts;

/* Reads the cells from an open shard set. Fails (naming the set) when it has no train report
 * cells, or too few for one step of `per_step` prompts. */
int rv_grpo_prompts_open(rv_grpo_prompts *p, const rv_shardset *set, uint64_t data_seed, double train_frac,
                         size_t val_size, uint64_t seed, int64_t per_step, rv_badrec *bad, rv_err *err);
void rv_grpo_prompts_free(rv_grpo_prompts *p);

/* Steps in one epoch: floor(ntrain / per_step). */
int64_t rv_grpo_steps_per_epoch(const rv_grpo_prompts *p, int64_t per_step);
/* The item (index into cells.items) of global uid u of step `step` (0-based). */
size_t rv_grpo_prompt_item(rv_grpo_prompts *p, int64_t step, int64_t per_step, int64_t u);

/* The model sample of item it's prompt (see above); suffix: " /think" or NULL. */
int rv_grpo_prompt_make(const rv_eval_prompt_ctx *pc, const rv_eval_item *it, const char *suffix, rv_loader_sample *out,
                        rv_err *err);

#endif
