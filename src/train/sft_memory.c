#include "train/sft_memory.h"

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

int rv_sft_dry_run(const rv_sft_cfg *c, const rv_sft_env *env, rv_sft_memory *mem, rv_err *err) {
    memset(mem, 0, sizeof *mem);
    rv_sft_init_opts io = {c->init, c->tokenizer, env->data_dir, env->run_dir, false};
    rv_sft_model model;
    if (rv_sft_model_resolve(&model, &io, err)) return -1;
    rv_weights w;
    rv_param_groups pg;
    rv_kctx *k = NULL;
    rv_vlm m;
    bool m_ok = false, pg_ok = false;
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
        /* Binding the model to the layout-only table resolves no memory; only sizes are read. */
        rvk_cpu_opts co = {.nthreads = 1};
        rc = rvk_create(&k, "cpu", &co, err);
        if (!rc) rc = rv_vlm_init(&m, k, &model.cfg, &w, false, err);
        m_ok = rc == 0;
        if (!rc) {
            m.grads = true; /* the training layout */
            mem->plan = rv_vlm_plan_bytes(&m, &lim);
            m.grads = false;
        }
    }
    if (!rc) {
        size_t base = mem->weights + mem->grads + mem->plan;
        rv_info0("sft dry run: model %s: %zu tensors, %.3f B parameters (%.3f B trainable; sft.tunable_parts=%s)",
                 model.source, w.n, mem->params / 1e9, mem->trainable / 1e9, c->tunable_parts);
        rv_info0("sft dry run: per rank of %d (fp32): weights %.2f GiB, gradients %.2f GiB, AdamW moments %.2f GiB "
                 "(ZeRO-1: %.2f GiB), activation plan %.2f GiB (%d tokens, %d tiles, %d samples per micro-batch)",
                 R, gib(mem->weights), gib(mem->grads), gib(mem->moments), gib(mem->moments_zero1), gib(mem->plan),
                 mem->plan_tokens, mem->plan_tiles, mem->plan_seqs);
        rv_info0("sft dry run: total per rank %.2f GiB without ZeRO-1, %.2f GiB with ZeRO-1 (train.zero=%d); "
                 "global batch %lld = %lld per rank; nothing allocated",
                 gib(base + mem->moments), gib(base + mem->moments_zero1), c->zero, (long long)c->global_batch,
                 (long long)(c->global_batch / R));
    }
    if (m_ok) rv_vlm_free(&m);
    if (k) rvk_destroy(k);
    if (pg_ok) rv_param_groups_free(&pg);
    rv_weights_free(&w);
    rv_sft_model_free(&model);
    return rc;
}
