/* sft.dry_run: configure, build the weights table (layout only) and report the memory one rank
 * needs (weights, gradients, AdamW moments with and without ZeRO-1, the activation plan of one
 * micro-batch), without allocating any of it. */
#ifndef RADVLM_TRAIN_SFT_MEMORY_H
#define RADVLM_TRAIN_SFT_MEMORY_H

#include <stddef.h>

#include "core/error.h"
#include "model/vlm.h"
#include "train/sft_loop.h"

/* The activation plan of one micro-batch of max_tokens rows: image rows from at most
 * ceil(max_tokens / patches per tile) + 1 tiles, or one anyres image of the largest pinpoint canvas
 * (1 + its grid tiles) when that is more, and at most max_seqs samples (not fixed: a batch beyond
 * it grows the plan). */
rv_vlm_limits rv_sft_plan_limits(const rv_model_cfg *c, int max_tokens, int max_seqs);

/* Backend bytes of the training-layout activation plan for these limits (model cfg, layout-only:
 * nothing allocated), keeping activations as mem says (recompute, checkpoint dtype). */
int rv_sft_activation_bytes(const rv_model_cfg *c, const rv_vlm_limits *lim, const rv_vlm_memory *mem, size_t *bytes,
                            rv_err *err);

/* The per-rank memory line of a training phase (issue I): every rank logs (rv_info) the bytes its
 * kernel context holds now and at most so far, the device's free / total when the backend reports
 * them, and m's activation plan with its layout. Call once the model, optimizer and plan exist. */
void rv_train_memory_report(const char *phase, int rank, rv_kctx *k, const rv_vlm *m);

typedef struct rv_sft_memory {
    size_t params, trainable;          /* elements */
    size_t weights, grads;             /* bytes per rank */
    size_t shadow;                     /* bytes per rank: the backend's bf16 weight copy (cuda: 2 B/param) */
    size_t moments, moments_zero1;     /* bytes per rank: every rank holds all / the largest ZeRO-1 share */
    size_t plan;                       /* activation plan bytes (with compute.recompute / activation_dtype) */
    int plan_tokens, plan_tiles, plan_seqs;
} rv_sft_memory;

/* Fills mem for the run c would make on env->dp->size ranks and prints it on rank 0. */
int rv_sft_dry_run(const rv_sft_cfg *c, const rv_sft_env *env, rv_sft_memory *mem, rv_err *err);

#endif
