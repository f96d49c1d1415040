/* The grpo phase's run (docs/grpo.md): the job split into policy and reward ranks; each step the
 * policy ranks roll out groups of responses for their prompts, send them to the reward ranks and,
 * while those score, gather every response, balance them over the ranks, compute the old and
 * reference log-probs; then the advantages and verl's actor update (train/grpo_update.h).
 * Validation, logging (RUN/log.h5 tables grpo and val), checkpoints, stop signals and resume as
 * the sft phase. */
#ifndef RADVLM_TRAIN_GRPO_LOOP_H
#define RADVLM_TRAIN_GRPO_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "train/grpo_config.h" /* rv_grpo_cfg, rv_grpo_env */

typedef struct rv_grpo_result {
    int64_t steps;              /* GRPO steps done at the end */
    bool stopped;               /* stopped by a signal or the time budget (checkpointed; rerun) */
    bool reward_rank;           /* this rank served rewards */
    double first_val, last_val; /* mean validation reward of the run's first and last validation (NaN: none) */
} rv_grpo_result;

/* Collective over env->world. */
int rv_grpo_train(const rv_grpo_cfg *c, const rv_grpo_env *env, rv_grpo_result *out, rv_err *err);

#endif
