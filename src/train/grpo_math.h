/* verl's GRPO update math on host arrays (reference/train.md B.7; docs/grpo.md "The update math"):
 * the group-normalised outcome advantage, the clipped surrogate with clip-higher and dual clip,
 * the low_var_kl (k3) penalty, verl's loss aggregation modes, and the per-token gradient
 * d(loss)/d(logp) that the model's backward pass takes.
 *
 * Reference: verl 0.5.0.dev as upstream ran it = PyPI verl 0.6.0 for these functions,
 * verl/trainer/ppo/core_algos.py: compute_grpo_outcome_advantage, compute_policy_loss_vanilla,
 * kl_penalty / kl_penalty_forward ("low_var_kl"), agg_loss; the per-micro-batch composition of
 * verl/workers/actor/dp_actor.py update_policy. tests/unit/test_grpo_math.c checks every value and
 * gradient against verl's own functions (fixture tests/fixtures/grpo/gen_grpo_fixture.py).
 *
 * Precision: verl runs this in torch float32. Here inputs are what the model produces (float
 * log-probs) and every intermediate and sum is double, so results are the exact values of the
 * formulas to ~1e-15; verl's float32 results differ from them only by its own rounding (about 1e-7
 * relative for the per-token terms; more where float32 cancels: k3 for small |kappa|, advantages
 * of groups whose spread is tiny next to the rewards). One deliberate difference: a group of
 * identical rewards gets advantage exactly 0 here, while verl's float32 torch.mean of n equal values
 * is an ulp off in about half the cases and torch.std is taken around it, so verl returns
 * d / (|d| sqrt(n / (n - 1)) + 1e-6) with d = x - mean32: noise up to ~0.2 (docs/grpo.md).
 * Comparisons (clip, clamp, dual clip) are made
 * on the double values; they differ from float32's only within a rounding of the bound.
 *
 * Gradients follow torch autograd exactly, including its conventions: a clamp passes the gradient
 * at its bounds (min <= x <= max) and blocks it outside; a max/min of two equal values sends half
 * of the gradient to each side; torch.where sends it only to the chosen branch. */
#ifndef RADVLM_TRAIN_GRPO_MATH_H
#define RADVLM_TRAIN_GRPO_MATH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

#define RV_GRPO_ADV_EPS 1e-6      /* compute_grpo_outcome_advantage's epsilon */
#define RV_GRPO_LOGRATIO_CLAMP 20 /* |logp - old_logp| and |ref_logp - logp| are clamped to this */
#define RV_GRPO_K3_CLAMP 10       /* low_var_kl is clamped to [-10, 10] */

/* GRPO outcome advantage, per group g of responses to one prompt (equal group_id):
 *   A_i = (R_i - mean_g) / (std_g + eps), std unbiased (n_g - 1); a one-member group uses mean 0,
 *   std 1 (A = R / (1 + eps)); identical rewards give exactly 0.
 * scores [n]: one scalar reward per response; group_id [n]: any integers, members need not be
 * adjacent; out [n] (may alias scores). eps: RV_GRPO_ADV_EPS upstream. Fails on n < 0, NULL
 * arrays (n > 0), eps < 0 or non-finite, and a non-finite score (naming its index). */
int rv_grpo_advantages(const double *scores, const int64_t *group_id, int n, double eps, double *out, rv_err *err);

/* verl's loss_agg_mode values, plus the mini-batch token mean. With w_it the weight of token t of
 * response i (m: response mask, n responses, T padded length), the aggregate of per-token values
 * X_it is sum_it w_it * X_it with:
 *   TOKEN_MEAN               "token-mean" (verl's default): m / (sum m + 1e-8), over this micro-batch
 *   SEQ_MEAN_TOKEN_SUM       "seq-mean-token-sum": m / n
 *   SEQ_MEAN_TOKEN_MEAN      "seq-mean-token-mean": m / (n * sum_t m_i.) (every response needs a token)
 *   SEQ_MEAN_TOKEN_SUM_NORM  "seq-mean-token-sum-norm" (Dr. GRPO): m / norm_len (verl: T; not / n)
 *   STEP_TOKEN_MEAN          ours, "step-token-mean": m / step_tokens, the token count of the whole
 *                            mini-batch (every micro-batch of every rank): the global token mean
 *                            OpenRLHF/TRL users expect, once the micro-batch losses are summed. */
typedef enum rv_grpo_agg {
    RV_GRPO_AGG_TOKEN_MEAN = 0,
    RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM,
    RV_GRPO_AGG_SEQ_MEAN_TOKEN_MEAN,
    RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM,
    RV_GRPO_AGG_STEP_TOKEN_MEAN,
} rv_grpo_agg;

/* Accepts verl's names above and the config aliases micro_token_mean (= token-mean),
 * step_token_mean, seq_mean (= seq-mean-token-mean), seq_mean_token_sum, seq_mean_token_sum_norm.
 * An unknown name fails, listing the accepted ones. */
int rv_grpo_agg_parse(const char *name, rv_grpo_agg *out, rv_err *err);
const char *rv_grpo_agg_name(rv_grpo_agg a); /* verl's name ("step-token-mean" for ours) */

typedef struct rv_grpo_loss_cfg {
    double clip_low;  /* actor.clip_ratio_low: ratio clipped below at 1 - clip_low (0.20) */
    double clip_high; /* actor.clip_ratio_high: above at 1 + clip_high (0.28, "clip-higher") */
    double clip_c;    /* actor.clip_ratio_c: dual clip, loss <= -clip_c * A for A < 0 (3.0; > 1) */
    double kl_coef;   /* actor.kl_loss_coef for low_var_kl (0.01); 0 = no KL term (use_kl_loss off) */
    rv_grpo_agg agg;  /* actor.loss_agg_mode (token-mean) */
    int norm_len;     /* SEQ_MEAN_TOKEN_SUM_NORM's divisor; 0 = T (verl: loss_mask.shape[-1], the
                         padded response length) */
} rv_grpo_loss_cfg;

/* Upstream's values (reference/train.md B.3): 0.20 / 0.28 / 3.0, kl 0.01, token-mean. */
rv_grpo_loss_cfg rv_grpo_loss_cfg_upstream(void);
/* Fails, naming the key, on clip_low outside [0, 1), clip_high < 0, clip_c <= 1 (verl asserts it),
 * kl_coef < 0, non-finite values, an unknown agg or norm_len < 0. */
int rv_grpo_loss_cfg_check(const rv_grpo_loss_cfg *c, rv_err *err);

/* One token of compute_policy_loss_vanilla:
 *   delta = clamp(logp - old_logp, -20, 20), r = exp(delta)
 *   L1 = -A r, L2 = -A clamp(r, 1 - clip_low, 1 + clip_high), Lc = max(L1, L2)
 *   L  = A < 0 ? min(Lc, -clip_c A) : Lc */
typedef struct rv_grpo_pg_token {
    double loss;        /* L */
    double dlogp;       /* dL/dlogp as torch autograd gives it (0 where a clamp or clip is active) */
    double neg_delta;   /* -delta: ppo_kl's term */
    bool clipped;       /* L2 > L1: pg_clipfrac's term */
    bool clipped_lower; /* A < 0 and Lc > -clip_c A (dual clip active): pg_clipfrac_lower's term */
} rv_grpo_pg_token;

rv_grpo_pg_token rv_grpo_pg_token_eval(double logp, double old_logp, double adv, const rv_grpo_loss_cfg *c);

/* One token of low_var_kl (k3): kappa = clamp(ref_logp - logp, -20, 20),
 * k3 = clamp(exp(kappa) - kappa - 1, -10, 10). Returns k3; *dlogp = dk3/dlogp = 1 - exp(kappa),
 * 0 where either clamp is active (no straight-through: that is verl's "k3+", not used). */
double rv_grpo_k3(double logp, double ref_logp, double *dlogp);

/* A (micro-)batch of responses in verl's padded layout: row i = response i, T tokens a row. */
typedef struct rv_grpo_batch {
    int n, T;
    const float *logp;     /* [n, T] log pi_theta(y_it) (temperature-scaled logits, as verl) */
    const float *old_logp; /* [n, T] log pi_old, recomputed before the update */
    const float *ref_logp; /* [n, T] log pi_ref; may be NULL when kl_coef == 0 */
    const double *adv;     /* [n] per-response advantage (rv_grpo_advantages), broadcast over tokens */
    const uint8_t *mask;   /* [n, T] response mask, 0 or 1; values at 0 positions are never read */
    double step_tokens;    /* STEP_TOKEN_MEAN only: sum of the mask over the whole mini-batch, > 0 */
} rv_grpo_batch;

typedef struct rv_grpo_stats {
    double loss;              /* scale * (pg_loss + kl_coef * kl_loss): the value dlogp differentiates */
    double pg_loss, kl_loss;  /* the aggregates, unscaled (verl logs them times loss_scale_factor) */
    double pg_clipfrac;       /* masked token means over this batch, whatever the agg mode, as verl */
    double pg_clipfrac_lower;
    double ppo_kl;            /* mean of -delta */
    int64_t tokens;           /* sum of the mask */
} rv_grpo_stats;

/* The actor loss of one micro-batch as dp_actor.update_policy builds it (entropy_coeff 0):
 *   loss = scale * (agg(L) + kl_coef * agg(k3)),
 * with scale = 1 / gradient_accumulation for verl's modes (and / data-parallel ranks when the
 * gradient exchange sums over ranks), 1 for STEP_TOKEN_MEAN summed over micro-batches and ranks.
 * st: the loss and verl's metrics. dlogp [n, T] (may be NULL): d(loss)/d(logp_it), 0 at masked
 * tokens. Fails, naming the position, on bad arguments: NULL arrays, n < 1, T < 1, a mask value
 * other than 0/1, a non-finite logp/old/ref/advantage at a valid token, a response without valid
 * tokens under SEQ_MEAN_TOKEN_MEAN (verl gives NaN), step_tokens <= 0 under STEP_TOKEN_MEAN. */
int rv_grpo_loss(const rv_grpo_batch *b, const rv_grpo_loss_cfg *cfg, double scale, rv_grpo_stats *st, float *dlogp,
                 rv_err *err);

#endif
