/* Native checkpoints: one HDF5 file per saved step, RUN/checkpoints/step-NNNNNNNN.h5, holding the
 * weights (fp32, one dataset per named tensor, shaped as the table), optionally the AdamW moments,
 * the step, the RNG state, the data cursor, free-form training state (JSON), the resolved run
 * configuration, the model's HF config.json and side files such as tokenizer.json.
 *
 * A checkpoint is complete or absent: it is written under a temporary name, fsynced and renamed;
 * a `complete` attribute is its last write. The reader refuses files that are not HDF5, are
 * truncated, carry another format/schema, or lack the completion mark. Layout: docs/checkpoints.md. */
#ifndef RADVLM_MODEL_CHECKPOINT_H
#define RADVLM_MODEL_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/loader/sampler.h"
#include "model/weights.h"

#define RV_CKPT_FORMAT "radvlm-hpc checkpoint"
#define RV_CKPT_SCHEMA 1

typedef struct rv_ckpt_file {
    const char *name;          /* plain file name, e.g. "tokenizer.json" */
    const void *data;
    size_t len;
} rv_ckpt_file;

typedef struct rv_ckpt_data {
    const rv_weights *w;               /* required: the table and its parameter arena */
    const float *adam_m, *adam_v;      /* [w->total] in arena layout, or both NULL (no optimizer state) */
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

/* Writes path atomically. The parent directory must exist. */
int rv_ckpt_write(const char *path, const rv_ckpt_data *d, rv_err *err);

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
bool rv_ckpt_has_adam(const rv_ckpt *c);

/* Fills w->params. Every tensor of the table must be in the file with the same shape, and the
 * file must hold no other tensor; errors name the tensor. */
int rv_ckpt_load_weights(rv_ckpt *c, rv_weights *w, rv_err *err);
/* Fills m and v ([w->total], arena layout; padding left untouched). Fails when absent. */
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
