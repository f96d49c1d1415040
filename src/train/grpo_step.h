/* One GRPO micro-batch on the model (train.md B.7 steps 7-9): forward the sequences keeping the
 * activations, the per-token log-probs of the responses under the current weights, verl's actor
 * loss with its gradient d(loss)/d(logp) (train/grpo_math.h), and the backward pass that
 * accumulates the parameter gradients. The optimizer step (clip, AdamW) is the caller's, after
 * the micro-batches of a mini-batch, as in SFT. */
#ifndef RADVLM_TRAIN_GRPO_STEP_H
#define RADVLM_TRAIN_GRPO_STEP_H

#include "model/vlm.h"
#include "train/grpo_math.h"
#include "train/grpo_sequences.h"

/* q[n] sequences; old_logp[i], ref_logp[i] (ref may be NULL when cfg->kl_coef == 0): [resp_len_i]
 * each; adv[n]; scale and step_tokens as rv_grpo_loss takes them. st gets the loss and metrics. */
int rv_grpo_micro_step(rv_vlm *m, const rv_grpo_seq *q, int n, const float *const *old_logp,
                       const float *const *ref_logp, const double *adv, const rv_grpo_loss_cfg *cfg, double scale,
                       double step_tokens, rv_grpo_stats *st, rv_err *err);

#endif
