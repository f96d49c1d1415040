/* The sft step loop (docs/training.md): data-parallel steps over the packed shards with upstream's
 * recipe, checkpoints, resume, stop on a signal or time budget, progress and RUN/log.h5.
 *
 * One step s (0-based; the log and checkpoints count completed steps, s + 1):
 *   sampler -> this rank's G / R samples of global batch s -> loader samples -> packed micro-batches
 *   -> forward/backward with per-sample loss weights (train/sft_step.h) -> loss = rank-order sum
 *   -> non-finite loss: skip (grads zeroed); else rv_optim_step(lr factor of step s) (which skips a
 *   non-finite gradient norm itself) -> log row -> held-out loss every sft.eval_every steps ->
 *   stop flag (signal, time budget) all-reduced -> checkpoint every sft.save_every steps, at the
 *   end and on a stop. */
#ifndef RADVLM_TRAIN_SFT_LOOP_H
#define RADVLM_TRAIN_SFT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "comm/comm.h"
#include "core/error.h"
#include "train/sft_config.h"

typedef struct rv_sft_result {
    int64_t steps;          /* completed steps of the run (over every segment) */
    double final_loss;      /* loss of the last step (NaN when none ran) */
    double tokens_per_s;    /* tokens per second of this process's steps (all ranks) */
    bool stopped;           /* stopped by a signal or sft.time_budget_min after a checkpoint: rerun me */
} rv_sft_result;

typedef struct rv_sft_env {
    const rv_comm *dp;            /* the data-parallel ranks */
    const char *run_dir;
    const char *data_dir;         /* may be NULL */
    const char *run_config_json;  /* recorded in checkpoints */
} rv_sft_env;

int rv_sft_train(const rv_sft_cfg *c, const rv_sft_env *env, rv_sft_result *out, rv_err *err);

#endif
