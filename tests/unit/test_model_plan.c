/* The activation plan (model.md "Activation plan"): a steady-state SFT micro-step, forward and
 * generated token make no backend allocation (rvk_alloc / rvk_alloc_i32 are wrapped at link
 * time, CMakeLists.txt), and reusing the plan's buffers — dirty from a larger batch — gives
 * results bitwise identical to a fresh model that plans exactly for the batch: log-probs, every
 * parameter gradient and generated tokens (greedy and sampled). The inference layout (no
 * gradients: one layer's buffers shared by all layers) gives the same log-probs bit for bit.
 * Also: fixed limits fail with a message, growth re-plans once, and a second live pass is
 * refused. The micro model packs an anyres image with the bilinear cap and a single-tile one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "micro_model.h"
#include "core/rng.h"
#include "model/generate.h"
#include "model/vlm.h"

#include "alloc_count.h"

static void micro_cfg(rv_model_cfg *c) {
    micro_model_cfg(c);
}

/* Sample i of a pool: image 14x70 (anyres, capped) for even i, single tile for odd i; text
 * length grows with i. */
typedef struct pool {
    rv_vlm_image img[4];
    rv_sample s[4];
    int32_t *ids[4];
    uint8_t *mask[4];
    float *tiles[4];
} pool;

static void make_pool(const rv_model_cfg *c, pool *P) {
    rv_rng r;
    rv_rng_init(&r, 3, 1, 0);
    const size_t tile = 3 * 28 * 28;
    for (int i = 0; i < 4; i++) {
        rv_vlm_image *im = &P->img[i];
        im->orig_h = 14;
        im->orig_w = 70;
        im->n_tiles = i % 2 ? 1 : rv_vlm_image_tiles(c, 14, 70);
        P->tiles[i] = malloc(tile * (size_t)im->n_tiles * sizeof(float));
        for (size_t j = 0; j < tile * (size_t)im->n_tiles; j++) P->tiles[i][j] = (float)rv_rng_range(&r, -1, 1);
        im->tiles = P->tiles[i];
        int rows = rv_vlm_image_tokens(c, im->n_tiles, 14, 70);
        int len = 2 + rows + 6 + 3 * i;
        P->ids[i] = malloc((size_t)len * sizeof(int32_t));
        P->mask[i] = calloc((size_t)len, 1);
        for (int t = 0; t < len; t++) {
            P->ids[i][t] = (t >= 1 && t < 1 + rows) ? c->image_token_id : 1 + (int32_t)rv_rng_below(&r, 37);
            P->mask[i][t] = t > rows + 2;
        }
        P->s[i] = (rv_sample){.ids = P->ids[i], .len = len, .mask = P->mask[i], .images = im, .n_images = 1};
    }
}

typedef struct outputs {
    float *logp;      /* concatenated log-probs of the keep=false forward */
    float *grads;     /* after one SFT step from zero gradients */
    int32_t tok[2][2][10]; /* [greedy, sampled][prompt][token] */
    int ntok[2][2];
} outputs;

/* forward (keep=false), one SFT step, greedy and sampled generation, on samples s[0..n) */
static int run(rv_vlm *m, const rv_sample *s, int n, outputs *o) {
    rv_err e;
    rv_vlm_pass *p;
    if (rv_vlm_forward(m, s, n, false, &p, &e)) goto fail;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(o->logp + at, rv_vlm_pass_logp(p, i), (size_t)s[i].len * sizeof(float));
        at += (size_t)s[i].len;
    }
    rv_vlm_pass_free(m, p);
    if (m->grads) {
        double loss;
        rv_weights_zero_grads(m->w);
        if (rv_vlm_sft_step(m, s, n, &loss, &e)) goto fail;
        memcpy(o->grads, m->w->grads, m->w->total * sizeof(float));
    }
    rv_sample pr[2] = {s[0], s[1]};
    for (int q = 0; q < 2; q++) {
        rv_gen_opts go = {.max_new_tokens = 10, .temperature = q ? 0.9f : 0.0f, .top_p = 0.95f, .top_k = q ? 20 : 0,
                          .seed = 11, .stream = 3};
        rv_gen_out out[2];
        if (rv_vlm_generate(m, pr, 2, &go, out, &e)) goto fail;
        for (int b = 0; b < 2; b++) {
            o->ntok[q][b] = out[b].n;
            memcpy(o->tok[q][b], out[b].tokens, (size_t)out[b].n * sizeof(int32_t));
        }
        rv_gen_out_free(out, 2);
    }
    return 0;
fail:
    fprintf(stderr, "%s\n", e.msg);
    return -1;
}

int main(void) {
    rv_err e;
    rv_model_cfg c;
    micro_cfg(&c);
    rv_kctx *k = NULL;
    CHECK(rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, &e) == 0);
    pool P;
    make_pool(&c, &P);
    rv_weights w1, w2, w3;
    CHECK(rv_weights_build(&w1, &c, k, &e) == 0 && rv_weights_build(&w2, &c, k, &e) == 0 &&
          rv_weights_build(&w3, &c, k, &e) == 0);
    CHECK(rv_weights_init_random(&w1, 5, 0.3f, &e) == 0);
    CHECK(rv_weights_init_random(&w2, 5, 0.3f, &e) == 0);
    CHECK(rv_weights_init_random(&w3, 5, 0.3f, &e) == 0);
    CHECK(memcmp(w1.params, w2.params, w1.total * sizeof(float)) == 0);
    rv_vlm m1, m2, m3;
    CHECK(rv_vlm_init(&m1, k, &c, &w1, true, &e) == 0);
    CHECK(rv_vlm_init(&m2, k, &c, &w2, true, &e) == 0);
    CHECK(rv_vlm_init(&m3, k, &c, &w3, false, &e) == 0); /* inference layout */
    size_t L = 0;
    for (int i = 0; i < 4; i++) L += (size_t)P.s[i].len;
    outputs big = {calloc(L, 4), calloc(w1.total, 4), {{{0}}}, {{0}}};
    outputs a1 = {calloc(L, 4), calloc(w1.total, 4), {{{0}}}, {{0}}};
    outputs a1b = {calloc(L, 4), calloc(w1.total, 4), {{{0}}}, {{0}}};
    outputs a2 = {calloc(L, 4), calloc(w1.total, 4), {{{0}}}, {{0}}};
    outputs a3 = {calloc(L, 4), NULL, {{{0}}}, {{0}}};

    /* m1: a plan for the 4-sample batch, the big batch first (dirty buffers), then samples 1..2 */
    int tiles = 0;
    for (int i = 0; i < 4; i++) tiles += P.img[i].n_tiles;
    rv_vlm_limits lim = {.max_tokens = (int)L, .max_tiles = tiles, .max_seqs = 4, .max_cache = 60};
    long before = n_alloc;
    CHECK(rv_vlm_plan(&m1, &lim, &e) == 0);
    CHECK(n_alloc - before >= 1); /* the wrap sees the plan's allocation: the counts below are real */
    rv_vlm_plan_info info;
    rv_vlm_plan_get(&m1, &info);
    CHECK(info.builds == 1 && info.bytes == rv_vlm_plan_bytes(&m1, &lim) && info.bytes > 0);
    CHECK(run(&m1, P.s, 4, &big) == 0);
    before = n_alloc;
    CHECK(run(&m1, P.s + 1, 2, &a1) == 0);
    CHECK(run(&m1, P.s + 1, 2, &a1b) == 0);
    printf("steady state: %ld backend allocations in 2 x (forward + SFT step + 2 generate calls of 10 tokens)\n",
           n_alloc - before);
    CHECK(n_alloc - before == 0);
    rv_vlm_plan_get(&m1, &info);
    CHECK(info.builds == 1);

    /* m2: fresh, the plan sized by the batch itself; m3: inference layout */
    CHECK(run(&m2, P.s + 1, 2, &a2) == 0);
    CHECK(run(&m3, P.s + 1, 2, &a3) == 0);
    size_t L12 = (size_t)P.s[1].len + (size_t)P.s[2].len;
    CHECK(memcmp(a1.logp, a2.logp, L12 * sizeof(float)) == 0);
    CHECK(memcmp(a1.logp, a1b.logp, L12 * sizeof(float)) == 0);
    CHECK(memcmp(a1.logp, a3.logp, L12 * sizeof(float)) == 0);
    CHECK(memcmp(a1.grads, a2.grads, w1.total * sizeof(float)) == 0);
    CHECK(memcmp(a1.grads, a1b.grads, w1.total * sizeof(float)) == 0);
    double gsum = 0;
    for (size_t i = 0; i < w1.total; i++) gsum += a1.grads[i] * (double)a1.grads[i];
    CHECK(gsum > 0); /* a real gradient was compared */
    CHECK(memcmp(a1.ntok, a2.ntok, sizeof a1.ntok) == 0 && memcmp(a1.tok, a2.tok, sizeof a1.tok) == 0);
    CHECK(memcmp(a1.ntok, a3.ntok, sizeof a1.ntok) == 0 && memcmp(a1.tok, a3.tok, sizeof a1.tok) == 0);
    CHECK(a1.ntok[0][0] == 10 && a1.ntok[1][1] == 10);

    /* growth: m2 planned for 2 samples re-plans once for 4, then stays */
    rv_vlm_plan_get(&m2, &info);
    int b0 = info.builds;
    CHECK(run(&m2, P.s, 4, &big) == 0);
    CHECK(run(&m2, P.s, 4, &big) == 0);
    rv_vlm_plan_get(&m2, &info);
    CHECK(info.builds == b0 + 1 && info.lim.max_seqs == 4);

    /* the memory formula of model.md, per token of a text-only plan (16 more tokens keep every
     * buffer a multiple of 16 floats, so rounding does not enter). Micro model: D 24, q 32,
     * kv 16, H 4, I 40, L 3. Per layer N(3D + 2q + 2kv + H + 3I + 2) = 294 N.
     * training: 3 layers 882 + residual and final norm (L + 2) D + 1 = 121 + backward scratch
     *   max(D, q) + q + 2kv + 2I = 176 + batch 6 + dloss 1 + dxf, dx0 2D = 55 -> 1234 floats;
     * inference: one layer 294 + residual 3D + 1 = 73 + batch 6 -> 373 floats;
     * KV cache: 2 L kv = 96 floats per cache row per sequence. */
    rv_vlm_limits t32 = {.max_tokens = 32, .max_seqs = 1}, t48 = {.max_tokens = 48, .max_seqs = 1};
    CHECK(rv_vlm_plan_bytes(&m1, &t48) - rv_vlm_plan_bytes(&m1, &t32) == 16 * 1234 * sizeof(float));
    CHECK(rv_vlm_plan_bytes(&m3, &t48) - rv_vlm_plan_bytes(&m3, &t32) == 16 * 373 * sizeof(float));
    rv_vlm_limits c32 = {.max_tokens = 32, .max_seqs = 1, .max_cache = 32}, c48 = c32;
    c48.max_cache = 48;
    CHECK(rv_vlm_plan_bytes(&m3, &c48) - rv_vlm_plan_bytes(&m3, &c32) == 16 * 96 * sizeof(float));

    /* fixed limits: a batch beyond them fails and names the plan */
    rv_vlm_limits small = {.max_tokens = P.s[1].len, .max_tiles = 1, .max_seqs = 1, .max_cache = 0, .fixed = true};
    CHECK(rv_vlm_plan(&m2, &small, &e) == 0);
    rv_vlm_pass *p = NULL, *q = NULL;
    CHECK(rv_vlm_forward(&m2, P.s, 2, false, &p, &e) != 0 && p == NULL);
    CHECK(strstr(e.msg, "fixed") != NULL);
    CHECK(rv_vlm_forward(&m2, P.s + 1, 1, false, &p, &e) == 0);
    /* one live pass at a time */
    CHECK(rv_vlm_forward(&m2, P.s + 1, 1, false, &q, &e) != 0 && q == NULL);
    CHECK(strstr(e.msg, "live") != NULL);
    rv_vlm_pass_free(&m2, p);
    CHECK(rv_vlm_forward(&m2, P.s + 1, 1, false, &q, &e) == 0);
    rv_vlm_pass_free(&m2, q);

    rv_vlm_free(&m1);
    rv_vlm_free(&m2);
    rv_vlm_free(&m3);
    rv_weights_free(&w1);
    rv_weights_free(&w2);
    rv_weights_free(&w3);
    /* Out of backend memory while planning is an error naming the plan, not an abort: a context
     * whose memory cap leaves room for the weights and gradients but not for 4096 tokens. */
    {
        rv_kctx *kl = NULL;
        rv_weights w4;
        rv_vlm m4;
        CHECK(rvk_create(&kl, "cpu", &(rvk_cpu_opts){.nthreads = 1}, &e) == 0);
        CHECK(rv_weights_build(&w4, &c, kl, &e) == 0 && rv_vlm_init(&m4, kl, &c, &w4, true, &e) == 0);
        rv_vlm_limits huge = {.max_tokens = 4096, .max_tiles = 1, .max_seqs = 1, .fixed = true};
        size_t need = rv_vlm_plan_bytes(&m4, &huge);
        CHECK(need > 1000000); /* the cap below must leave the plan out */
        rvk_cpu_opts o = {.nthreads = 1, .mem_limit = 2 * 2 * w4.total * sizeof(float) + need / 2};
        CHECK(rvk_cpu_set_opts(kl, &o, &e) == 0);
        CHECK(rv_vlm_plan(&m4, &huge, &e) == -1);
        CHECK(strstr(e.msg, "activation plan (4096 tokens") != NULL);
        printf("plan out of memory: %s\n", e.msg);
        rv_vlm_free(&m4);
        rv_weights_free(&w4);
        rvk_destroy(kl);
    }
    outputs *all[] = {&big, &a1, &a1b, &a2, &a3};
    for (int i = 0; i < 5; i++) free(all[i]->logp), free(all[i]->grads);
    for (int i = 0; i < 4; i++) free(P.ids[i]), free(P.mask[i]), free(P.tiles[i]);
    rvk_destroy(k);
    return check_summary("test_model_plan");
}
