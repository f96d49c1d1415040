/* GRPO rollouts (train.md B.7 step 1): every prompt of a step sampled n times at temperature 1,
 * top-p 1, top-k off, up to max_response tokens, through the generation loop (model/gen_loop.h).
 * Response k of prompt u draws from the stream keyed by (seed, u * n + k, step), u being the
 * prompt's global uid in the step, so a rollout does not depend on the rank that runs it, the
 * number of slots or the order of the queue. The response mask is 1 up to and including the first
 * EOS (verl's get_response_mask): the loop stops a sequence at its first stop token, so the mask
 * is all ones over the returned tokens. */
#ifndef RADVLM_TRAIN_GRPO_ROLLOUT_H
#define RADVLM_TRAIN_GRPO_ROLLOUT_H

#include <stdint.h>

#include "model/gen_loop.h"
#include "model/vlm.h"

typedef struct rv_grpo_rollout_opts {
    int n;                   /* responses per prompt (grpo.n; upstream 8) */
    int max_response;        /* grpo.max_response_length */
    int slots;               /* sequences decoding together */
    uint64_t seed;           /* the step's seed (e.g. hash of run.seed and the step) */
    const int32_t *stop_ids; /* <|im_end|>, EOS */
    int n_stop;
    const int32_t *ban_ids;  /* never sampled (the image placeholder) */
    int n_ban;
} rv_grpo_rollout_opts;

/* prompts[np] with their global uids uid[np]; out[np * n]: response k of prompt j at j * n + k,
 * each with its tokens and per-token log-probs under the sampling model (temperature 1). On
 * failure out holds nothing. */
int rv_grpo_rollout(rv_vlm *m, const rv_sample *prompts, const uint64_t *uid, int np, const rv_grpo_rollout_opts *o,
                    rv_gen_result *out, rv_err *err);

#endif
