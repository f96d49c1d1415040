/* The actor update of one GRPO step (train.md B.4, B.7 steps 9-10): this rank's responses split
 * into mini-batches (verl's ppo_mini_batch_size: one optimizer step each, the first on-policy,
 * the later ones increasingly off-policy), each into micro-batches whose losses are accumulated
 * (rv_grpo_micro_step), then one rv_optim_step: the gradient exchange over the policy ranks,
 * global-norm clipping, a skipped step on a non-finite norm, AdamW.
 * Loss scale: verl's modes average the micro-batch losses over the accumulation count and the
 * ranks (FSDP's reduce-scatter mean); our exchange sums over ranks, so each micro-batch loss is
 * scaled by 1 / (accumulation count x ranks). step_token_mean instead divides by the mini-batch's
 * token count over every rank (summed across the ranks first), scale 1. */
#ifndef RADVLM_TRAIN_GRPO_UPDATE_H
#define RADVLM_TRAIN_GRPO_UPDATE_H

#include "comm/comm.h"
#include "train/grpo_step.h"
#include "train/optimizer.h"

typedef struct rv_grpo_update_cfg {
    int mini_batches;        /* optimizer steps per GRPO step (upstream 4); divides n */
    int micro;               /* responses per micro-batch (upstream 4) */
    rv_grpo_loss_cfg loss;
} rv_grpo_update_cfg;

typedef struct rv_grpo_update_stats {
    double pg_loss, kl_loss, pg_clipfrac, pg_clipfrac_lower, ppo_kl; /* means over micro-batches */
    double grad_norm;        /* of the last mini-batch */
    int skipped;             /* mini-batches whose step was skipped (non-finite norm) */
    int optimizer_steps;
} rv_grpo_update_stats;

/* q[n], old_logp[n], ref_logp[n] (NULL when kl_coef == 0), adv[n]: this rank's responses; n must
 * be the same on every rank of dp and divisible by mini_batches. Collective over dp. */
int rv_grpo_update(rv_vlm *m, rv_optim *opt, const rv_comm *dp, const rv_grpo_seq *q, int n,
                   const float *const *old_logp, const float *const *ref_logp, const double *adv,
                   const rv_grpo_update_cfg *c, double lr_factor, rv_grpo_update_stats *st, rv_err *err);

#endif
