/* GRPO checkpoints: the sft phase's format and writer (train/sft_ckpt.h: optimizer shards, then
 * rank 0 completes the file atomically; pruning beyond grpo.keep) with GRPO's own state. Nothing
 * else is needed to continue bit for bit: the prompts of step s and every rollout draw are
 * functions of (seeds, s), and the reference model is grpo.init itself, reloaded. */
#ifndef RADVLM_TRAIN_GRPO_CKPT_H
#define RADVLM_TRAIN_GRPO_CKPT_H

#include <stdint.h>

#include "core/error.h"
#include "train/checkpoint.h"

typedef struct rv_grpo_state {
    int64_t step;             /* GRPO steps done (the checkpoint's step) */
    int64_t optim_steps;      /* optimizer steps taken (mini-batches not skipped) */
    int64_t skipped_total;    /* optimizer steps skipped (non-finite gradient norm) */
    double elapsed_s;         /* training seconds over every segment of the run */
    int64_t tokens;           /* prompt + response tokens trained so far (all ranks) */
    int64_t total_steps, prompts_per_step, n;
    char reward[24], loss_agg[32];
    char init[512];           /* grpo.init: the reference model a resume reloads */
} rv_grpo_state;

char *rv_grpo_state_to_json(const rv_grpo_state *s);
/* Fails (naming where) unless json is a GRPO state ("phase": "grpo"). */
int rv_grpo_state_from_json(const char *where, const char *json, rv_grpo_state *s, rv_err *err);

/* The checkpoint to resume from: grpo.resume = never (none), auto (the newest complete checkpoint
 * of RUN/checkpoints; one written by another phase is an error: GRPO needs its own run directory),
 * or a path. 1 and a malloc'd *path, 0 when none, -1 on error. */
int rv_grpo_find_resume(const char *run_dir, const char *resume, char **path, rv_err *err);

#endif
