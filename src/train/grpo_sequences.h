/* GRPO's training sequences: a prompt followed by one of its sampled responses, as one model
 * sample whose targets are exactly the response tokens (the response mask), and the per-token
 * log-probs of those targets under a model — the old policy's before the update and the frozen
 * reference model's (train.md B.7 steps 4-5). Log-probs use temperature 1 (the rollout's). */
#ifndef RADVLM_TRAIN_GRPO_SEQUENCES_H
#define RADVLM_TRAIN_GRPO_SEQUENCES_H

#include <stdint.h>

#include "model/gen_loop.h"
#include "model/vlm.h"

typedef struct rv_grpo_seq {
    int32_t *ids;      /* [len] prompt ids then response tokens */
    uint8_t *mask;     /* [len] 1 on response tokens (targets), 0 on the prompt */
    int len, prompt_len, resp_len;
    rv_sample s;       /* the model's view (points into ids/mask and the prompt's images) */
} rv_grpo_seq;

/* prompt (its images stay borrowed) + response r. */
void rv_grpo_seq_make(rv_grpo_seq *q, const rv_sample *prompt, const rv_gen_result *r);
void rv_grpo_seq_free(rv_grpo_seq *q);

/* logp[i] (caller-allocated, resp_len floats each) = log p(response token t | prefix) under m,
 * for n sequences, forwarded `micro` at a time (no activations kept). */
int rv_grpo_logprobs(rv_vlm *m, const rv_grpo_seq *q, int n, int micro, float *const *logp, rv_err *err);

#endif
