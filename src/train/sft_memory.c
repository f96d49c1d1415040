#include "train/sft_memory.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "model/vlm.h"
#include "train/param_groups.h"
#include "train/optimizer.h"
#include "train/sft_init.h"

rv_vlm_limits rv_sft_plan_limits(const rv_model_cfg *c, int max_tokens, int max_seqs) {
    int P = rv_vision_grid(&c->vision);
    P *= P;
    if (max_seqs > max_tokens) max_seqs = max_tokens;
    int tiles = (max_tokens + P - 1) / P + 1;
    /* ...and room for one anyres image with the largest pinpoint canvas (base + its grid). */
    int S = c->vision.image_size;
    for (int i = 0; i < c->n_pinpoints; i++) {
        int t = 1 + (c->pinpoints[i][0] / S) * (c->pinpoints[i][1] / S);
        if (t > tiles) tiles = t;
    }
    return (rv_vlm_limits){.max_tokens = max_tokens, .max_tiles = tiles,
                           .max_seqs = max_seqs > 0 ? max_seqs : 1, .max_cache = 0, .fixed = false};
}

static double gib(size_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

int rv_sft_activation_bytes(const rv_model_cfg *c, const rv_vlm_limits *lim, const rv_vlm_memory *mem, size_t *bytes,
                            rv_err *err) {
    *bytes = 0;
    rv_weights w;
    if (rv_weights_layout(&w, c, err)) return -1;
    /* Binding the model to the layout-only table resolves no memory; only sizes are read. */
    rv_kctx *k = NULL;
    rv_vlm m;
    int rc = rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, err);
    if (!rc) rc = rv_vlm_init(&m, k, c, &w, false, err);
    if (!rc) {
        m.grads = true; /* the training layout */
        rc = rv_vlm_set_memory(&m, mem, err);
        if (!rc) *bytes = rv_vlm_plan_bytes(&m, lim);
        m.grads = false;
        rv_vlm_free(&m);
    }
    if (k) rvk_destroy(k);
    rv_weights_free(&w);
    return rc;
}

static const char *mem_layout(const rv_vlm_memory *m) {
    if (m->recompute != RV_RECOMPUTE_LAYERS) return "recompute none";
    return m->ckpt_bf16 ? "recompute layers, bf16 checkpoints" : "recompute layers, f32 checkpoints";
}

void rv_train_memory_report(const char *phase, int rank, rv_kctx *k, const rv_vlm *m) {
    rvk_mem_stats s;
    rvk_mem_stats_get(k, &s);
    rv_vlm_plan_info pi;
    rv_vlm_plan_get(m, &pi);
    char dev[96] = "";
    if (s.dev_total > 0)
        snprintf(dev, sizeof dev, "; device %.2f GiB free of %.2f GiB", gib(s.dev_free), gib(s.dev_total));
    rv_info("%s: rank %d memory (%s backend): held %.3f GiB, peak %.3f GiB; activation plan %.3f GiB (%s; %d tokens, "
            "%d tiles, %d sequences)%s",
            phase, rank, rvk_ctx_backend(k), gib(s.held), gib(s.peak), gib(pi.bytes),
            pi.train ? mem_layout(&pi.mem) : "inference layout", pi.lim.max_tokens, pi.lim.max_tiles, pi.lim.max_seqs,
            dev);
}

int rv_sft_dry_run(const rv_sft_cfg *c, const rv_sft_env *env, rv_sft_memory *mem, rv_err *err) {
    memset(mem, 0, sizeof *mem);
    rv_sft_init_opts io = {c->init, c->tokenizer, env->data_dir, env->run_dir, false};
    rv_sft_model model;
    if (rv_sft_model_resolve(&model, &io, err)) return -1;
    rv_weights w;
    rv_param_groups pg;
    bool pg_ok = false;
    int rc = rv_weights_layout(&w, &model.cfg, err);
    if (rc) {
        rv_sft_model_free(&model);
        return -1;
    }
    rv_pg_config pc = {.lr = {c->vision_lr, c->projector_lr, c->lr}, .weight_decay = c->weight_decay};
    rc = rv_tunable_parts_parse(c->tunable_parts, pc.trainable, err);
    if (!rc) rc = rv_param_groups_build(&pg, &w, &pc, err);
    pg_ok = rc == 0;
    int R = env->dp->size;
    if (!rc) {
        mem->params = rv_weights_numel(&w, -1, 0);
        mem->trainable = rv_pg_trainable_numel(&pg);
        mem->weights = w.total * sizeof(float);
        mem->grads = w.total * sizeof(float);
        mem->shadow = w.total * rvk_shadow_bytes_per_param(c->backend);
        /* ZeRO-1: the largest share among the ranks (train/optimizer.h's plan figure). */
        size_t worst = 0;
        for (int r = 0; r < R; r++) {
            size_t b = rv_optim_state_bytes_plan(&w, &pg, 1, r, R);
            if (b > worst) worst = b;
        }
        mem->moments = rv_optim_state_bytes_plan(&w, &pg, 0, 0, R);
        mem->moments_zero1 = worst;
        rv_vlm_limits lim = rv_sft_plan_limits(&model.cfg, (int)c->max_tokens, (int)(c->global_batch / R));
        mem->plan_tokens = lim.max_tokens;
        mem->plan_tiles = lim.max_tiles;
        mem->plan_seqs = lim.max_seqs;
        rc = rv_sft_activation_bytes(&model.cfg, &lim, &c->mem, &mem->plan, err);
    }
    if (!rc) {
        size_t base = mem->weights + mem->grads + mem->shadow + mem->plan;
        char shadow[160] = "";
        if (mem->shadow)
            snprintf(shadow, sizeof shadow, ", bf16 weight copy %.2f GiB (compute.backend=%s; RADVLM_CUDA_GEMM=tf32 or fp32 "
                     "keeps none)", gib(mem->shadow), c->backend);
        rv_info0("sft dry run: model %s: %zu tensors, %.3f B parameters (%.3f B trainable; sft.tunable_parts=%s)",
                 model.source, w.n, mem->params / 1e9, mem->trainable / 1e9, c->tunable_parts);
        rv_info0("sft dry run: per rank of %d (fp32): weights %.2f GiB, gradients %.2f GiB, AdamW moments %.2f GiB "
                 "(ZeRO-1: %.2f GiB)%s, activation plan %.2f GiB (%d tokens, %d tiles, %d samples per micro-batch; %s)",
                 R, gib(mem->weights), gib(mem->grads), gib(mem->moments), gib(mem->moments_zero1), shadow,
                 gib(mem->plan), mem->plan_tokens, mem->plan_tiles, mem->plan_seqs, mem_layout(&c->mem));
        rv_info0("sft dry run: total per rank %.2f GiB without ZeRO-1, %.2f GiB with ZeRO-1 (train.zero=%d); "
                 "global batch %lld = %lld per rank; nothing allocated",
                 gib(base + mem->moments), gib(base + mem->moments_zero1), c->zero, (long long)c->global_batch,
                 (long long)(c->global_batch / R));
    }
    if (pg_ok) rv_param_groups_free(&pg);
    rv_weights_free(&w);
    rv_sft_model_free(&model);
    return rc;
}
