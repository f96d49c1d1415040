#include "train/sft_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

static int need_range(rv_err *err, const char *key, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) return rv_fail(err, "%s = %g is out of range: use a value in [%g, %g]", key, v, lo, hi);
    return 0;
}

int rv_sft_cfg_read(const rv_config *c, const char *run_dir, int nranks, rv_sft_cfg *s, rv_err *err) {
    memset(s, 0, sizeof *s);
    const char *sh = rv_cfg_str(c, "sft.shards");
    s->shards = sh[0] ? rv_xstrdup(sh) : rv_path_join(run_dir, "shards");
    s->init = rv_cfg_str(c, "sft.init");
    s->tokenizer = rv_cfg_str(c, "sft.tokenizer");
    s->resume = rv_cfg_str(c, "sft.resume");
    s->tunable_parts = rv_cfg_str(c, "sft.tunable_parts");
    s->init_std = rv_cfg_num(c, "sft.init_std");
    s->max_tokens = rv_cfg_int(c, "sft.max_tokens");
    s->global_batch = rv_cfg_int(c, "sft.global_batch");
    s->epochs = rv_cfg_int(c, "sft.epochs");
    s->max_steps = rv_cfg_int(c, "sft.max_steps");
    s->warmup_steps = rv_cfg_int(c, "sft.warmup_steps");
    s->lr = rv_cfg_num(c, "sft.lr");
    s->projector_lr = rv_cfg_num(c, "sft.projector_lr");
    if (s->projector_lr == 0) s->projector_lr = s->lr;
    s->vision_lr = rv_cfg_num(c, "sft.vision_lr");
    s->warmup_ratio = rv_cfg_num(c, "sft.warmup_ratio");
    s->weight_decay = rv_cfg_num(c, "sft.weight_decay");
    s->beta1 = rv_cfg_num(c, "sft.adam_beta1");
    s->beta2 = rv_cfg_num(c, "sft.adam_beta2");
    s->eps = rv_cfg_num(c, "sft.adam_eps");
    s->max_grad_norm = rv_cfg_num(c, "sft.max_grad_norm");
    s->token_mean = strcmp(rv_cfg_str(c, "sft.loss_agg"), "token_mean") == 0;
    s->order = strcmp(rv_cfg_str(c, "sft.order"), "shuffle") == 0 ? RV_SAMPLER_SHUFFLE : RV_SAMPLER_MODALITY_LENGTH;
    s->save_every = rv_cfg_int(c, "sft.save_every");
    s->keep = rv_cfg_int(c, "sft.keep");
    s->time_budget_min = rv_cfg_num(c, "sft.time_budget_min");
    s->eval_every = rv_cfg_int(c, "sft.eval_every");
    s->eval_samples = rv_cfg_int(c, "sft.eval_samples");
    s->eval_holdout = rv_cfg_num(c, "sft.eval_holdout");
    s->max_skipped = rv_cfg_int(c, "sft.max_skipped");
    s->dry_run = rv_cfg_bool(c, "sft.dry_run");
    s->peak_gflops = rv_cfg_num(c, "sft.peak_gflops");
    s->bucket_elems = rv_cfg_int(c, "sft.bucket_elems");
    s->test_nan_step = rv_cfg_int(c, "sft.test_nan_step");
    s->test_nan_count = rv_cfg_int(c, "sft.test_nan_count");
    s->test_kill_step = rv_cfg_int(c, "sft.test_kill_step");
    s->test_kill_save = rv_cfg_int(c, "sft.test_kill_save");
    s->zero = (int)rv_cfg_int(c, "train.zero");
    s->threads = (int)rv_cfg_int(c, "compute.threads");
    s->seed = (uint64_t)rv_cfg_int(c, "run.seed");
    s->progress_interval_s = rv_cfg_num(c, "log.progress_interval_s");
    s->backend = rv_cfg_str(c, "compute.backend");
    if (rv_vlm_memory_parse(rv_cfg_str(c, "compute.recompute"), rv_cfg_str(c, "compute.activation_dtype"), &s->mem,
                            err))
        return -1;

    if (!s->init[0]) return rv_fail(err, "sft.init is empty: give a native checkpoint, a Hugging Face directory or random:<preset>");
    if (s->max_tokens < 16 || s->max_tokens > (1 << 30))
        return rv_fail(err, "sft.max_tokens = %lld: use at least 16 (and at most 2^30) tokens per micro-batch", (long long)s->max_tokens);
    if (s->global_batch < 1 || s->global_batch % nranks != 0)
        return rv_fail(err, "sft.global_batch = %lld must be a positive multiple of the rank count (%d): every rank takes "
                            "the same number of samples of each global batch", (long long)s->global_batch, nranks);
    if (s->epochs < 1 && s->max_steps <= 0) return rv_fail(err, "sft.epochs = %lld: use at least 1 (or set sft.max_steps)", (long long)s->epochs);
    if (s->max_steps < 0) return rv_fail(err, "sft.max_steps = %lld must be >= 0 (0 = from sft.epochs)", (long long)s->max_steps);
    if (need_range(err, "sft.lr", s->lr, 0, 10) || need_range(err, "sft.vision_lr", s->vision_lr, 0, 10) ||
        need_range(err, "sft.projector_lr", s->projector_lr, 0, 10) ||
        need_range(err, "sft.warmup_ratio", s->warmup_ratio, 0, 1) ||
        need_range(err, "sft.weight_decay", s->weight_decay, 0, 10) ||
        need_range(err, "sft.adam_beta1", s->beta1, 0, 0.999999999) ||
        need_range(err, "sft.adam_beta2", s->beta2, 0, 0.999999999999) ||
        need_range(err, "sft.adam_eps", s->eps, 1e-30, 1) ||
        need_range(err, "sft.max_grad_norm", s->max_grad_norm, -1e300, 1e300) ||
        need_range(err, "sft.time_budget_min", s->time_budget_min, 0, 1e9) ||
        need_range(err, "sft.eval_holdout", s->eval_holdout, 0, 0.5) ||
        need_range(err, "sft.init_std", s->init_std, 0, 10) ||
        need_range(err, "sft.peak_gflops", s->peak_gflops, 0, 1e12))
        return -1;
    if (s->save_every < 0) return rv_fail(err, "sft.save_every = %lld must be >= 0 (0 = only at the end)", (long long)s->save_every);
    if (s->keep < 0) return rv_fail(err, "sft.keep = %lld must be >= 0 (0 = keep every checkpoint)", (long long)s->keep);
    if (s->eval_every < 0 || s->eval_samples < 0)
        return rv_fail(err, "sft.eval_every and sft.eval_samples must be >= 0 (got %lld, %lld)", (long long)s->eval_every,
                       (long long)s->eval_samples);
    if (s->max_skipped < 0) return rv_fail(err, "sft.max_skipped = %lld must be >= 0", (long long)s->max_skipped);
    if (s->bucket_elems < 0) return rv_fail(err, "sft.bucket_elems = %lld must be >= 0 (0 = default)", (long long)s->bucket_elems);
    if (s->zero != 0 && s->zero != 1) return rv_fail(err, "train.zero = %d: use 0 (plain data parallel) or 1 (ZeRO-1)", s->zero);
    if (s->threads < 0 || s->threads > 4096) return rv_fail(err, "compute.threads = %d: use 0 (automatic) to 4096", s->threads);
    return 0;
}

void rv_sft_cfg_free(rv_sft_cfg *s) {
    free(s->shards);
    memset(s, 0, sizeof *s);
}
