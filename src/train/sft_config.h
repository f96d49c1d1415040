/* The sft phase's settings: every sft.* key (docs/training.md), plus run.seed, train.zero and
 * compute.threads, read once and checked, so the rest of the phase never touches the config. */
#ifndef RADVLM_TRAIN_SFT_CONFIG_H
#define RADVLM_TRAIN_SFT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "data/loader/sampler.h"
#include "model/vlm.h"

typedef struct rv_sft_cfg {
    char *shards;                 /* resolved shard directory (malloc'd) */
    const char *init, *tokenizer, *resume, *tunable_parts; /* borrowed from the config */
    double init_std;
    int64_t max_tokens, global_batch, epochs, max_steps, warmup_steps;
    double lr, projector_lr, vision_lr, warmup_ratio, weight_decay;
    double beta1, beta2, eps, max_grad_norm;
    bool token_mean;              /* sft.loss_agg = token_mean */
    rv_sampler_order order;       /* sft.order */
    int64_t save_every, keep;
    double time_budget_min;
    int64_t eval_every, eval_samples;
    double eval_holdout;
    int64_t max_skipped;
    bool dry_run;
    double peak_gflops;
    int64_t bucket_elems;
    int64_t test_nan_step, test_nan_count, test_kill_step, test_kill_save;
    int zero;                     /* train.zero */
    int threads;                  /* compute.threads */
    uint64_t seed;                /* run.seed */
    double progress_interval_s;   /* log.progress_interval_s */
    const char *backend;          /* compute.backend */
    rv_vlm_memory mem;            /* compute.recompute, compute.activation_dtype */
} rv_sft_cfg;

/* Reads and checks the keys; errors name the key and the allowed range. nranks: the
 * data-parallel size (the global batch must be a multiple of it). */
int rv_sft_cfg_read(const rv_config *c, const char *run_dir, int nranks, rv_sft_cfg *out, rv_err *err);
void rv_sft_cfg_free(rv_sft_cfg *s);

#endif
