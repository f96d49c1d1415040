/* AdamW over the parameter groups, data parallel, optionally ZeRO-1 (upstream's recipe,
 * reference/train.md A.2-A.4; docs/training.md "Optimizer and data-parallel exchange").
 *
 * One step (rv_optim_step), the same on every rank of dp:
 *   1. exchange: the SUM over the ranks of w->grads over the trainable tensors (train/grad_exchange.h:
 *      fixed buckets, fixed order); plain data parallel all-reduces, ZeRO-1 reduce-scatters so rank r
 *      holds the sum only over its partition range (train/partition.h);
 *   2. global norm: the trainable tensors cut at the ZeRO partition boundaries into pieces; partial
 *      sum of squares p_r = rvk_sumsq_acc over the pieces inside partition r in arena order (one
 *      device slot per partition, one download); norm = sqrt(((p_0 + p_1) + p_2) + ...). Under plain
 *      DP a rank computes every p_r itself; under ZeRO-1 rank r computes p_r and the slots are summed
 *      over the ranks (the others' slots are 0, so the sum is exact). Same bits in both modes;
 *   3. a non-finite norm skips the step (no update, step count unchanged), as HF and verl do;
 *   4. clip: grad_scale = rvk_clip_scale(norm, max_grad_norm) = min(1, max / (norm + 1e-6));
 *   5. AdamW (rvk_adamw_step, PyTorch's arithmetic) on every piece this rank owns (all of them
 *      under plain DP, its partition's under ZeRO-1), with its group's lr * lr_factor, weight decay
 *      and decay flag, and the 1-based step count; the very same kernel calls in both modes, so the
 *      parameters have the same bits;
 *   6. ZeRO-1: all-gather the updated parameters (the same buckets);
 *   7. zero w->grads (frozen tensors' included).
 *
 * Moments m, v: backend buffers (rvk_buf_alloc) holding only the trainable elements of this rank's
 * range, pieces packed in arena order (frozen tensors and padding take no memory). The checkpoint
 * hooks speak arena coordinates: rv_optim_range is [off, off + n) of the arena (the whole arena
 * without ZeRO-1 or on one rank), rv_optim_get/set_moments move host arrays [n] of that range, with
 * 0 for frozen tensors and padding (what rv_ckpt_write_shard stores and rv_ckpt_load_adam_shard
 * gives back).
 *
 * Frozen groups (param_groups.h trainable = false) and tensors in no group are neither exchanged,
 * nor counted in the norm, nor updated. */
#ifndef RADVLM_TRAIN_OPTIMIZER_H
#define RADVLM_TRAIN_OPTIMIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"
#include "core/error.h"
#include "model/weights.h"
#include "train/param_groups.h"

typedef struct rv_optim rv_optim;

typedef struct rv_optim_cfg {
    double beta1, beta2, eps, weight_decay; /* upstream: 0.9, 0.999, 1e-8, 0 */
    double max_grad_norm;                   /* 1.0; <= 0: no clipping */
    int zero;                               /* 0: every rank holds all moments; 1: ZeRO-1 */
    size_t bucket_elems;                    /* gradient exchange bucket (elements), fixed order;
                                               0 = RV_GX_DEFAULT_BUCKET (4 Mi) */
} rv_optim_cfg;

typedef struct rv_optim_stats {
    double grad_norm;      /* global L2 norm over all ranks, before clipping (NaN/inf if non-finite) */
    double clip_coef;      /* min(1, max_norm / (norm + 1e-6)) as PyTorch's clip_grad_norm_ (the fp32
                              factor applied; 1 without clipping; NaN when skipped) */
    bool skipped;          /* non-finite norm: no update, step count unchanged */
} rv_optim_stats;

/* Upstream's values: beta 0.9/0.999, eps 1e-8, weight decay 0, clipping at 1.0, no ZeRO, default
 * buckets. */
rv_optim_cfg rv_optim_cfg_upstream(void);

/* groups: train/param_groups.h (per-group base lr, trainable, decay); each decay group's
 * weight_decay is the one applied, and must equal cfg->weight_decay (a mismatch is an error naming
 * both, so two configuration paths cannot silently disagree). dp: the data-parallel comm.
 * w, groups and dp are borrowed and must outlive the optimizer. Allocates w's gradient arena if
 * it has none. Collective over dp only in rv_optim_step, and, for a context on a device backend, in
 * create and free (they bind w->k to dp for the exchange: comm/device.h). */
int rv_optim_create(rv_optim **out, rv_weights *w, const rv_param_groups *groups, const rv_comm *dp,
                    const rv_optim_cfg *cfg, rv_err *err);
void rv_optim_free(rv_optim *o);

/* One step from the gradients every rank accumulated in w->grads (see above). The exchange SUMS
 * over the dp ranks (callers weight their loss so that the sum is the global-batch gradient).
 * lr = group base lr * lr_factor. Zeroes w->grads afterwards. Collective over dp. Fails only when
 * the backend reports an error (then the state is undefined: stop the run). */
int rv_optim_step(rv_optim *o, double lr_factor, rv_optim_stats *st, rv_err *err);
int64_t rv_optim_step_count(const rv_optim *o);

/* Checkpoint hooks (see above). */
void rv_optim_range(const rv_optim *o, size_t *off, size_t *n);
int rv_optim_get_moments(const rv_optim *o, float *m, float *v, rv_err *err);   /* host [n] each */
int rv_optim_set_moments(rv_optim *o, const float *m, const float *v, int64_t step_count, rv_err *err);

size_t rv_optim_state_bytes(const rv_optim *o);          /* optimizer bytes held by this rank */
size_t rv_optim_state_bytes_unsharded(const rv_optim *o); /* what it would be without ZeRO-1 */
/* The same figure before any allocation (a layout-only table is enough: dry runs, memory plans):
 * the bytes rank `rank` of `nranks` would hold, with ZeRO-1 (zero = 1) or without (zero = 0, the
 * unsharded figure). 8 bytes (m and v, fp32) per trainable element of the rank's range. */
size_t rv_optim_state_bytes_plan(const rv_weights *w, const rv_param_groups *groups, int zero, int rank, int nranks);

#endif
