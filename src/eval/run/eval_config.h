/* The eval phase's settings (eval.* keys, docs/evaluation.md), read and checked once. */
#ifndef RADVLM_EVAL_RUN_EVAL_CONFIG_H
#define RADVLM_EVAL_RUN_EVAL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "io/resize.h"

#define RV_EVAL_MAX_TASKS 16

typedef struct rv_eval_cfg {
    const char *model;          /* eval.model as given ("" = newest checkpoint of RUN) */
    const char *tag;            /* eval.tag ("" = derived) */
    const char *tokenizer;
    const char *tasks[RV_EVAL_MAX_TASKS];  /* the tasks, in the table's order */
    int ntasks;
    bool from_shards;
    rv_pillow pillow;           /* data.pillow_resize: JSON items' images resized as pack does */
    long long max_pixels;       /* data.max_image_pixels: JSON items' image budget (0 = none) */
    const char *image_mode;     /* eval.image_mode: auto|base|anyres */
    char *shards;               /* eval.shards, else RUN/shards (malloc'd) */
    int64_t max_samples;
    int batch;
    int max_new_tokens;         /* 0 = per-task default */
    float temperature, top_p;
    int top_k;
    uint64_t seed;
    uint64_t run_seed;          /* run.seed: random:<preset> weights */
    bool r1, think_suffix;
    int64_t bootstrap;
    bool resume;
    int png_samples;
    int64_t test_kill_after;
    double progress_s;          /* log.progress_interval_s */
    const char *backend;
    int threads;
} rv_eval_cfg;

int rv_eval_cfg_read(const rv_config *c, const char *run_dir, rv_eval_cfg *out, rv_err *err);
void rv_eval_cfg_free(rv_eval_cfg *c);

/* The per-task default of eval.max_new_tokens (docs/evaluation.md says why each). */
int rv_eval_default_max_new(const char *task);

/* The eight test tasks, in the order the eval phase runs them. */
extern const char *const rv_eval_test_tasks[8];

#endif
