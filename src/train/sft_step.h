/* The compute of one sft step on one rank: forward and backward of its samples, packed into
 * micro-batches, with each sample's loss weighted so that the optimizer's SUM over the ranks is
 * the gradient of the global-batch objective (reference/train.md A.5):
 *   sample_mean (upstream): L = (1/G) sum_i mean_t CE_i,t       weight_i = 1 / G
 *   token_mean:             L = (1/T) sum_i sum_t CE_i,t         weight_i = n_i / T
 * (G samples, T target tokens in the global batch, n_i targets of sample i;
 * rv_vlm_sft_dlogp puts -weight_i / n_i on each target). Gradients accumulate in w->grads. */
#ifndef RADVLM_TRAIN_SFT_STEP_H
#define RADVLM_TRAIN_SFT_STEP_H

#include <stdbool.h>

#include "core/error.h"
#include "model/vlm.h"

/* Target tokens of a sample (mask[t] != 0 for t >= 1; every t >= 1 when mask is NULL). */
int rv_sft_targets(const rv_sample *s);

/* Forward + backward of s [n] in micro-batches of at most max_tokens. weight [n]. Returns in
 * *wsum the sum of weight_i * loss_i and in loss [n] (may be NULL) each sample's token-mean CE. */
int rv_sft_accumulate(rv_vlm *m, const rv_sample *s, int n, int max_tokens, const float *weight, double *wsum,
                      double *loss, rv_err *err);

/* Forward only (held-out loss): loss [n] = each sample's token-mean CE (0 without targets). */
int rv_sft_eval_losses(rv_vlm *m, const rv_sample *s, int n, int max_tokens, double *loss, rv_err *err);

#endif
