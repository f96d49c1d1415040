/* Checkpoints of the sft phase (train/checkpoint.h format): every rank writes its ZeRO-1 shard of
 * the AdamW moments (its train/partition.h range, sliced out of the full moments when the optimizer
 * is not sharded), a barrier, then rank 0 writes the weights, the step, the sampler cursor, the
 * RNG and the training state and marks the file complete; then the oldest checkpoints beyond
 * sft.keep are deleted. Resuming reads the moments of this run's range from whatever shards were
 * stored, so a run saved on N ranks continues on M. */
#ifndef RADVLM_TRAIN_SFT_CKPT_H
#define RADVLM_TRAIN_SFT_CKPT_H

#include <stdbool.h>
#include <stdint.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/loader/sampler.h"
#include "model/weights.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/sft_init.h"

/* Training state beyond weights, moments and cursor (the checkpoint's state_json). */
typedef struct rv_sft_state {
    int64_t step;            /* global batches done (the checkpoint's step) */
    int64_t optim_steps;     /* optimizer updates taken (skipped steps excluded) */
    int64_t skipped_total;   /* skipped steps so far */
    int64_t skipped_run;     /* consecutive skipped steps ending at step */
    double elapsed_s;        /* training seconds over every segment of the run */
    int64_t tokens;          /* tokens trained so far (all ranks) */
    int64_t total_steps, warmup_steps, global_batch;
    char order[24], loss_agg[16];
} rv_sft_state;

char *rv_sft_state_to_json(const rv_sft_state *s);
int rv_sft_state_from_json(const char *where, const char *json, rv_sft_state *s, rv_err *err);

typedef struct rv_sft_save_in {
    const char *run_dir;
    rv_weights *w;
    const rv_optim *opt;
    const rv_sft_state *state;   /* the sft phase's state; NULL: another trainer's (below) */
    const char *state_json;      /* state == NULL: the state written (GRPO's), at step `step` */
    int64_t step;
    const char *phase;           /* for messages ("sft" when NULL) */
    const rv_sampler_cursor *cursor;
    const rv_rng *rng;
    const rv_sft_model *model;   /* config.json and side files */
    const char *run_config_json;
    int64_t keep;                /* newest checkpoints kept (0 = all) */
    bool test_kill_after_shards; /* tests: SIGKILL once every shard is on disk, before rank 0 completes */
} rv_sft_save_in;

/* Collective over dp. Returns 0 on every rank when the checkpoint is complete; on failure the
 * previous checkpoints are untouched (a save removes nothing before its own file is complete). */
int rv_sft_save(const rv_comm *dp, const rv_sft_save_in *in, rv_err *err);

/* The checkpoint to resume from: sft.resume = never (none), auto (the newest complete checkpoint
 * of RUN/checkpoints that holds optimizer moments; an imported one without moments is not a
 * training state), or a path. 1 and a malloc'd *path, 0 when none, -1 on error. */
int rv_sft_find_resume(const char *run_dir, const char *resume, char **path, rv_err *err);

/* The same rule for any trainer: resume (the key's value: never, auto or a path; key names it in
 * messages); with auto, accept(ck, path, run_dir, err) judges the newest checkpoint: 1 resume from
 * it, 0 start anew, -1 error. */
typedef int (*rv_resume_accept)(rv_ckpt *ck, const char *path, const char *run_dir, rv_err *err);
int rv_train_find_resume(const char *run_dir, const char *resume, const char *key, rv_resume_accept accept,
                         char **path, rv_err *err);

/* Loads a checkpoint into this run: weights, this rank's range of the moments (re-sliced for this
 * rank count) with the optimizer step count, the state, the cursor and the RNG. */
int rv_sft_restore(rv_ckpt *ck, rv_weights *w, rv_optim *opt, rv_sft_state *state, rv_sampler_cursor *cursor,
                   rv_rng *rng, rv_err *err);

/* The part of a restore every trainer shares: the weights, and this rank's range of the moments
 * (re-sliced for this rank count) with the optimizer step count. */
int rv_train_restore_weights(rv_ckpt *ck, rv_weights *w, rv_optim *opt, int64_t optim_steps, rv_err *err);

/* Deletes the oldest sft checkpoints (those with an optimizer shard directory) of RUN beyond keep. */
int rv_sft_prune(const char *run_dir, int64_t keep, rv_err *err);

#endif
