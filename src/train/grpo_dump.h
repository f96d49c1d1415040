/* The rollout files (grpo.rollout_dump, verl's rollout_data_dir): every response of a step with
 * its reward and advantage, one JSON object per line, in RUN/grpo/rollouts/step-<8 digits>.jsonl,
 * written atomically by policy rank 0. Keys: step, uid (the prompt's place in the step), k (the
 * response's place in its group), id (the cell id), response (decoded, special tokens skipped),
 * response_tokens, reward, flag ("ok", "penalty", "fallback"), advantage. The files depend only on
 * the seeds and the step, so runs on different rank counts write the same bytes. */
#ifndef RADVLM_TRAIN_GRPO_DUMP_H
#define RADVLM_TRAIN_GRPO_DUMP_H

#include <stdint.h>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

typedef struct rv_grpo_dump_in {
    const char *run_dir;
    int64_t step;              /* 1-based: the step these responses trained */
    int n, N;                  /* group size, responses (N = prompts x n) */
    const rv_tokenizer *tok;
    const char *const *ids;    /* [N / n] cell ids by uid */
    const int32_t *const *resp; /* [N] tokens, global order uid * n + k */
    const int32_t *rlen;       /* [N] */
    const double *score, *adv; /* [N] */
    const uint8_t *flag;       /* [N] rv_reward_flag */
} rv_grpo_dump_in;

int rv_grpo_dump(const rv_grpo_dump_in *d, rv_err *err);

#endif
