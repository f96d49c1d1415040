/* Where the sft phase's model comes from (sft.init): a native checkpoint (.h5), a Hugging Face
 * directory (imported on the fly, as the import phase does) or random:<preset>; and its
 * tokenizer, whose hash (FNV-1a 64 of the tokenizer.json bytes, as pack records it) must be the
 * shards'. The model's side files (tokenizer.json, ...) travel into every checkpoint. */
#ifndef RADVLM_TRAIN_SFT_INIT_H
#define RADVLM_TRAIN_SFT_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "data/loader/pixels.h"
#include "kernels/kernels.h"
#include "model/config.h"
#include "model/hf.h"
#include "model/weights.h"
#include "train/checkpoint.h"

typedef enum rv_sft_init_kind { RV_SFT_INIT_RANDOM = 0, RV_SFT_INIT_CKPT = 1, RV_SFT_INIT_HF = 2 } rv_sft_init_kind;

typedef struct rv_sft_model {
    rv_sft_init_kind kind;
    rv_model_cfg cfg;
    char *config_json;        /* HF config.json text describing cfg (malloc'd) */
    rv_hf_file *files;        /* side files carried into checkpoints; tokenizer.json first when known */
    size_t nfiles;
    const char *tokenizer;    /* points into files (tokenizer.json), or NULL: the model has none */
    size_t tokenizer_len;
    char tokenizer_hash[40];  /* "fnv1a64:<16 hex>", "" when no tokenizer */
    char *tokenizer_from;     /* where the tokenizer was read (malloc'd), for messages */
    char *source;             /* provenance recorded in checkpoints (malloc'd) */
} rv_sft_model;

typedef struct rv_sft_init_opts {
    const char *init;          /* sft.init */
    const char *tokenizer;     /* sft.tokenizer ("" = the init's own, else data_dir / run_dir tokenizer.json) */
    const char *data_dir, *run_dir; /* data_dir may be NULL */
    bool need_tokenizer;       /* false for dry runs: a preset keeps its own vocabulary */
} rv_sft_init_opts;

/* Resolves the model configuration, config.json text and side files of the init, without any
 * weights. random:<preset>: the preset with vocab and special ids from the tokenizer (an <image>
 * token is added after the last id when the file has none, as pack and upstream do). Errors name
 * the init and what is missing (an HF directory without config.json, a checkpoint that is not one). */
int rv_sft_model_resolve(rv_sft_model *m, const rv_sft_init_opts *o, rv_err *err);
void rv_sft_model_free(rv_sft_model *m);

/* Builds w on k and fills it from the init: random init (seed, std), the checkpoint's weights or the
 * HF directory's tensors (whose shapes must match m->cfg). */
int rv_sft_model_load_weights(const rv_sft_model *m, const rv_sft_init_opts *o, rv_kctx *k, uint64_t seed, float std,
                              rv_weights *w, rv_err *err);

/* Fails unless the checkpoint's model config has the same weights table as m (names and shapes),
 * naming the first difference: a resume from a checkpoint of another model. */
int rv_sft_model_check_ckpt(const rv_sft_model *m, rv_ckpt *ck, rv_err *err);

/* The model's pixel constants: its preprocessor_config.json when it carries one, else SigLIP's. */
int rv_sft_model_pixel_norm(const rv_sft_model *m, rv_pixel_norm *n, rv_err *err);

/* Fails unless the shards' tokenizer hash equals the model's, naming both hashes and files. */
int rv_sft_model_check_tokenizer(const rv_sft_model *m, const char *shards_dir, const char *shards_hash, rv_err *err);

#endif
