/* Native checkpoints: one HDF5 file per saved step, RUN/checkpoints/step-NNNNNNNN.h5, holding the
 * weights (fp32, one dataset per named tensor, shaped as the table), the step, the RNG state, the
 * data cursor, free-form training state (JSON), the resolved run configuration, the model's HF
 * config.json and side files such as tokenizer.json; and, next to it, the AdamW moments as ZeRO-1
 * shards, one file per rank of the run that saved, step-NNNNNNNN.optim/rank-RRRRR-of-NNNNN.h5,
 * each holding its rank's arena range (train/partition.h) with its global offset.
 *
 * A checkpoint is complete or absent. Saving from N ranks:
 *   1. every rank r: rv_ckpt_write_shard(path, w, step, r, N, m_r, v_r)  (its own file, atomic;
 *      this first removes any checkpoint file at path, so from here on the step is absent);
 *   2. barrier (every shard is on disk);
 *   3. rank 0: rv_ckpt_write(path, {.optim_shards = N, ...}), which checks every shard, records
 *      the shard table, writes the weights, and sets the `complete` attribute last; the file is
 *      written under a temporary name, fsynced and renamed: the rename makes the step exist.
 * A single process holding all the state passes adam_m/adam_v instead (one shard of one rank).
 *
 * Loading re-slices: rv_ckpt_load_adam_range reads any arena range of the loading run's table
 * from the stored shards, whatever their number, so a run saved on N ranks continues on M. Files
 * of schema 1 (full moments per tensor, /adam/m/<name>) load through the same calls.
 *
 * The reader refuses files that are not HDF5, are truncated, carry another format/schema, or lack
 * the completion mark. Layout: docs/checkpoints.md. */
#ifndef RADVLM_TRAIN_CHECKPOINT_H
#define RADVLM_TRAIN_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/loader/sampler.h"
#include "model/weights.h"
#include "train/partition.h"

#define RV_CKPT_FORMAT "radvlm-hpc checkpoint"
#define RV_CKPT_SCHEMA 2        /* written; 1 and 2 are read */
#define RV_CKPT_SHARD_FORMAT "radvlm-hpc optimizer shard"

typedef struct rv_ckpt_file {
    const char *name;          /* plain file name, e.g. "tokenizer.json" */
    const void *data;
    size_t len;
} rv_ckpt_file;

typedef struct rv_ckpt_data {
    const rv_weights *w;               /* required: the table and its parameter arena */
    const float *adam_m, *adam_v;      /* [w->total] in arena layout (one process holds all the state), or NULL */
    int optim_shards;                  /* > 0: the number of ranks that wrote their shard with
                                          rv_ckpt_write_shard for this path and step (exclusive
                                          with adam_m/adam_v); 0: none */
    int64_t step;                      /* optimizer steps taken */
    const rv_rng *rng;                 /* NULL = none */
    const rv_sampler_cursor *cursor;   /* NULL = none */
    const char *state_json;            /* other training state (schedule, GRPO counters), or NULL */
    const char *run_config_json;       /* the resolved configuration, or NULL */
    const char *model_config_json;     /* required: HF config.json text describing w */
    const char *source_dtype;          /* "F32"/"F16"/"BF16": the dtype the weights came in (import), or NULL */
    const char *source;                /* provenance, e.g. the imported directory, or NULL */
    const rv_ckpt_file *files;         /* side files restored by export (tokenizer.json, ...) */
    size_t nfiles;
} rv_ckpt_data;

/* Writes path atomically (rank 0, after every shard is written). The parent directory must exist.
 * With optim_shards = N every shard rank-r-of-N must be present and match (step, rank, range,
 * arena size); a missing or foreign one is an error naming its file, and no checkpoint is made. */
int rv_ckpt_write(const char *path, const rv_ckpt_data *d, rv_err *err);

/* Writes rank's optimizer shard for the checkpoint at path: arena elements
 * rv_partition(w->total, rank, nranks) of the moments, m and v [that n]. Removes a checkpoint
 * file already at path first (a save of the same step invalidates it until rank 0 completes it). */
int rv_ckpt_write_shard(const char *path, const rv_weights *w, int64_t step, int rank, int nranks, const float *m,
                        const float *v, rv_err *err);
/* The shard directory (path without ".h5", plus ".optim") and one shard's file (malloc'd). */
char *rv_ckpt_shard_dir(const char *path);
char *rv_ckpt_shard_path(const char *path, int rank, int nranks);
/* Deletes a checkpoint: the file first (so the step is absent at once), then its shard directory.
 * Missing parts are not an error. */
int rv_ckpt_remove(const char *path, rv_err *err);

typedef struct rv_ckpt rv_ckpt;

/* Opens and checks a checkpoint (format, schema, completion mark). */
int rv_ckpt_open(rv_ckpt **out, const char *path, rv_err *err);
void rv_ckpt_close(rv_ckpt *c);

const char *rv_ckpt_path_of(const rv_ckpt *c);
int64_t rv_ckpt_step(const rv_ckpt *c);
const char *rv_ckpt_model_config(const rv_ckpt *c);  /* HF config.json text */
const char *rv_ckpt_run_config(const rv_ckpt *c);    /* "" when none */
const char *rv_ckpt_state_json(const rv_ckpt *c);    /* "" when none */
const char *rv_ckpt_source_dtype(const rv_ckpt *c);  /* "" when none */
const char *rv_ckpt_source(const rv_ckpt *c);        /* "" when none */
int rv_ckpt_schema(const rv_ckpt *c);                /* 1 or 2 */
bool rv_ckpt_has_adam(const rv_ckpt *c);
/* Ranks whose shards the file holds (1 for a schema-1 file with moments), 0 when none. */
int rv_ckpt_adam_nranks(const rv_ckpt *c);

/* Fills w->params. Every tensor of the table must be in the file with the same shape, and the
 * file must hold no other tensor; errors name the tensor. */
int rv_ckpt_load_weights(rv_ckpt *c, rv_weights *w, rv_err *err);
/* Fills m and v [n] with the moments of arena elements [off, off + n) of w's layout (padding
 * elements get 0), reading the overlapping parts of whichever shards are stored; tensors are matched
 * by name, so the stored arena layout may differ from w's. Fails when the file holds no moments,
 * when a shard is missing or damaged (naming its file), or when the stored tensors are not w's. */
int rv_ckpt_load_adam_range(rv_ckpt *c, const rv_weights *w, size_t off, size_t n, float *m, float *v, rv_err *err);
/* This rank's ZeRO-1 share of a run with nranks ranks: the range rv_partition(w->total, rank, nranks). */
int rv_ckpt_load_adam_shard(rv_ckpt *c, const rv_weights *w, int rank, int nranks, float *m, float *v, rv_err *err);
/* All of it: m and v [w->total] in arena layout (padding 0). */
int rv_ckpt_load_adam(rv_ckpt *c, const rv_weights *w, float *m, float *v, rv_err *err);
/* Return 1 and fill *out when stored, 0 when the checkpoint has none, -1 on error. */
int rv_ckpt_load_rng(rv_ckpt *c, rv_rng *out, rv_err *err);
int rv_ckpt_load_cursor(rv_ckpt *c, rv_sampler_cursor *out, rv_err *err);
/* A side file: 1 and a malloc'd, NUL-terminated *data when stored, 0 when absent, -1 on error. */
int rv_ckpt_load_file(rv_ckpt *c, const char *name, char **data, size_t *len, rv_err *err);
/* Names of the stored side files (malloc'd vector, free with rv_free_strv). */
int rv_ckpt_list_files(rv_ckpt *c, char ***names, size_t *n, rv_err *err);

/* RUN/checkpoints/step-NNNNNNNN.h5 (malloc'd). */
char *rv_ckpt_path(const char *run_dir, int64_t step);
/* The highest-step checkpoint file in RUN/checkpoints: 1 and a malloc'd *path when one exists,
 * 0 when there is none. Temporary files of interrupted writes are never chosen. */
int rv_ckpt_latest(const char *run_dir, char **path, rv_err *err);

#endif
