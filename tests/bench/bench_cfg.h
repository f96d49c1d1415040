/* Shared by the model benchmarks (bench_model.c, bench_sft.c): the "tiny" and ~100M
 * configurations, their sample shapes, the analytic FLOP count and the fixed LCG inputs, so both
 * benchmarks measure the same model with the same work definition (docs/performance.md). */
#ifndef RADVLM_BENCH_CFG_H
#define RADVLM_BENCH_CFG_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/config.h"

/* The benchmark's shapes: one sample = pre text, one image (n_tiles tiles), post text; the last
 * n_target tokens are the SFT targets (an answer). The generation prompt is pre + image +
 * gen_tail text tokens. */
typedef struct shape {
    int img;             /* square image side in pixels (one grid tile of the anyres canvas) */
    int pre, post, n_target, gen_tail, gen_new;
} shape;

static int make_cfg(const char *name, rv_model_cfg *c, shape *s, rv_err *err) {
    if (strcmp(name, "tiny") == 0) {
        if (rv_model_cfg_preset("tiny", c, err)) return -1;
        /* 56 px image -> base tile + one grid tile -> 16 + 4*5 = 36 image rows; L = 136 */
        *s = (shape){.img = 56, .pre = 8, .post = 92, .n_target = 64, .gen_tail = 8, .gen_new = 64};
        return 0;
    }
    if (strcmp(name, "100m") == 0) {
        if (rv_model_cfg_preset("100m", c, err)) return -1;
        /* 224 px image -> 2 tiles -> 256 + 16*17 = 528 image rows; L = 8 + 528 + 264 = 800 */
        *s = (shape){.img = 224, .pre = 8, .post = 264, .n_target = 200, .gen_tail = 8, .gen_new = 32};
        return 0;
    }
    return rv_fail(err, "bench_model: unknown --config '%s' (use tiny or 100m)", name);
}

/* ---- analytic FLOPs (multiply-add = 2) ---- */

/* Vision tower, projector and decoder forward for a sequence of L tokens of which n_tgt get
 * the lm_head, with an image of n_tiles tiles. Causal attention counts only the unmasked
 * (query, key) pairs: L(L+1)/2 per head, QK^T and PV each 2*hd per pair. */
static double fwd_flops(const rv_model_cfg *c, int n_tiles, int L, int n_tgt, double *vis_out, double *attn_out) {
    const rv_vision_cfg *v = &c->vision;
    const rv_text_cfg *t = &c->text;
    double g = rv_vision_grid(v), n = g * g, Dv = v->hidden, Iv = v->intermediate;
    double vis_layer = 2 * n * (4 * Dv * Dv + 2 * Dv * Iv) + 4 * n * n * Dv;
    double vis = n_tiles * (2 * n * v->channels * v->patch * v->patch * Dv + rv_vision_run_layers(v) * vis_layer);
    double proj = n_tiles * n * 2 * (Dv * t->hidden + (double)t->hidden * t->hidden);
    double D = t->hidden, qd = (double)t->heads * t->head_dim, kvd = (double)t->kv_heads * t->head_dim;
    double lin = 2 * (D * qd + 2 * D * kvd + qd * D + 3 * D * t->intermediate);
    double attn = 4 * qd * ((double)L * (L + 1) / 2);
    double dec = t->layers * (L * lin + attn);
    double head = 2 * D * t->vocab * n_tgt;
    if (vis_out) *vis_out = vis + proj;
    if (attn_out) *attn_out = t->layers * attn;
    return vis + proj + dec + head;
}

/* ---- inputs ---- */

static uint32_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void text_ids(int32_t *ids, int n, int V, int image_id, uint64_t *st) {
    for (int i = 0; i < n; i++) {
        int32_t x;
        do x = 3 + (int32_t)(lcg(st) % (uint32_t)(V - 3));
        while (x == image_id);
        ids[i] = x;
    }
}

#endif
