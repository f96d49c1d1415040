/* Activation recomputation (model.md "Activation plan": compute.recompute, compute.activation_dtype)
 * on a micro model, CPU, for a packed batch of three samples (an anyres image with the bilinear cap,
 * single-tile images, text):
 * - recompute = layers with fp32 checkpoints: the loss, the keep=false log-probs and EVERY
 *   parameter gradient are bitwise equal to recompute = none. Why they must be: the recomputed
 *   forward runs the same kernels in the same order on the same fp32 input (the kept layer
 *   input), so it writes the same bits the first forward wrote, and the backward then runs the
 *   same ops on them; the CPU kernels are deterministic (kernels.h);
 * - bf16 checkpoints: loss within 1e-2 relative of fp32, gradient cosine >= 0.99 (issue I's bar),
 *   and the checkpoints really are bf16: the first checkpoint's text rows equal the embedding
 *   rows rounded to bf16 on the host (round to nearest even, written out below), and the fp32
 *   stream the final norm reads holds only bf16-representable values equal to the last
 *   checkpoint;
 * - the plan: the layouts share one set of layer buffers (pointers), and rv_vlm_plan_bytes
 *   shrinks by exactly what the layout formula (written out below) says;
 * - generation (GRPO rollouts run on the policy's training layout): greedy tokens of layers/f32
 *   equal none's; layers/bf16 generates (rounded stream, tokens not compared);
 * - bf16 without recompute is a configuration error naming both keys. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "micro_model.h"
#include "core/rng.h"
#include "model/generate.h"
#include "model/plan.h"
#include "model/vlm.h"
#include "train/sft_memory.h"

static void micro_cfg(rv_model_cfg *c) {
    micro_model_cfg(c);
    c->vision.post_ln = true;
    c->text.layers = 4;
}

enum { NS = 3 };
typedef struct batch {
    rv_vlm_image img[NS];
    rv_sample s[NS];
    int32_t *ids[NS];
    float *tiles[NS];
} batch;

/* sample 0: anyres 14x70 image (capped); 1: single tile; 2: text only */
static void make_batch(const rv_model_cfg *c, batch *B) {
    rv_rng r;
    rv_rng_init(&r, 7, 2, 0);
    const size_t tile = 3 * 28 * 28;
    for (int i = 0; i < NS; i++) {
        rv_vlm_image *im = &B->img[i];
        im->orig_h = 14;
        im->orig_w = 70;
        im->n_tiles = i == 0 ? rv_vlm_image_tiles(c, 14, 70) : 1;
        int nimg = i < 2;
        B->tiles[i] = malloc(tile * (size_t)im->n_tiles * sizeof(float));
        for (size_t j = 0; j < tile * (size_t)im->n_tiles; j++) B->tiles[i][j] = (float)rv_rng_range(&r, -1, 1);
        im->tiles = B->tiles[i];
        int rows = nimg ? rv_vlm_image_tokens(c, im->n_tiles, 14, 70) : 0;
        int len = 2 + rows + 9 + 4 * i;
        B->ids[i] = malloc((size_t)len * sizeof(int32_t));
        for (int t = 0; t < len; t++)
            B->ids[i][t] = (t >= 1 && t < 1 + rows) ? c->image_token_id : 1 + (int32_t)rv_rng_below(&r, 37);
        B->s[i] = (rv_sample){.ids = B->ids[i], .len = len, .images = im, .n_images = nimg};
    }
}

static void free_batch(batch *B) {
    for (int i = 0; i < NS; i++) {
        free(B->ids[i]);
        free(B->tiles[i]);
    }
}

typedef struct result {
    double loss;
    float *grads; /* [total] */
    float *logp;  /* keep=false log-probs, concatenated */
} result;

static int run(rv_vlm *m, const batch *B, result *o) {
    rv_err e;
    rv_vlm_pass *p;
    if (rv_vlm_forward(m, B->s, NS, false, &p, &e)) goto fail;
    size_t at = 0;
    for (int i = 0; i < NS; i++) {
        memcpy(o->logp + at, rv_vlm_pass_logp(p, i), (size_t)B->s[i].len * sizeof(float));
        at += (size_t)B->s[i].len;
    }
    rv_vlm_pass_free(m, p);
    rv_weights_zero_grads(m->w);
    if (rv_vlm_sft_step(m, B->s, NS, &o->loss, &e)) goto fail;
    memcpy(o->grads, m->w->grads, m->w->total * sizeof(float));
    return 0;
fail:
    fprintf(stderr, "%s\n", e.msg);
    return -1;
}

/* fp32 -> bf16 -> fp32 on the host: round to nearest, ties to even (finite inputs). */
static float host_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    float y;
    memcpy(&y, &u, 4);
    return y;
}

static int bf16_exact(float x) { return host_bf16(x) == x; }

/* arena floats of a buffer of n floats (rv_arena_take: 16-float granules, at least one) */
static size_t r16(size_t n) { return n ? (n + 15) / 16 * 16 : 16; }

/* The plan-size differences by the layout formula. Per stack of n layers with layer buffers of
 * sizes s_i (floats) and a residual stream of X floats (arena granule r16):
 *   none:        n * sum r16(s_i) + (n + 1) r16(X)
 *   layers/f32:  1 * sum r16(s_i) + (n + 1) r16(X)
 *   layers/bf16: 1 * sum r16(s_i) + 2 r16(X) + n r16(ceil(X / 2))   (the inputs of the n layers)
 * everything else in the plan is the same in the three layouts. save1 = none - layers/f32,
 * save2 = layers/f32 - layers/bf16, in bytes, decoder + vision tower. */
static void savings(const rv_model_cfg *c, const rv_vlm_limits *lim, size_t *save1, size_t *save2) {
    const int g = rv_vision_grid(&c->vision);
    const size_t Ld = (size_t)c->text.layers, Lv = (size_t)rv_vision_run_layers(&c->vision);
    const size_t N = (size_t)lim->max_tokens, Nv = (size_t)lim->max_tiles * g * g;
    const size_t D = (size_t)c->text.hidden, qd = (size_t)c->text.heads * c->text.head_dim;
    const size_t kvd = (size_t)c->text.kv_heads * c->text.head_dim, I = (size_t)c->text.intermediate;
    /* decoder: a, q, k, v, o, lse, xm, m, gate, up, h, rstd1, rstd2 */
    const size_t dec_set = r16(N * D) + r16(N * qd) + 2 * r16(N * kvd) + r16(N * qd) + r16(N * c->text.heads) +
                           2 * r16(N * D) + 3 * r16(N * I) + 2 * r16(N);
    const size_t C = (size_t)c->vision.hidden, Iv = (size_t)c->vision.intermediate;
    /* vision: h1, q, k, v, o, lse, xm, h2, fc1, gelu, mean1, rstd1, mean2, rstd2 */
    const size_t vis_set = lim->max_tiles > 0 ? 5 * r16(Nv * C) + r16(Nv * c->vision.heads) + 2 * r16(Nv * C) +
                                                    2 * r16(Nv * Iv) + 4 * r16(Nv)
                                              : 0;
    const size_t Xd = N * D, Xv = Nv * C;
    *save1 = 4 * ((Ld - 1) * dec_set + (Lv - 1) * vis_set);
    *save2 = 4 * ((Ld + 1) * r16(Xd) - 2 * r16(Xd) - Ld * r16((Xd + 1) / 2));
    if (lim->max_tiles > 0) *save2 += 4 * ((Lv + 1) * r16(Xv) - 2 * r16(Xv) - Lv * r16((Xv + 1) / 2));
}

int main(void) {
    rv_err e;
    rv_model_cfg c;
    micro_cfg(&c);
    rv_kctx *k = NULL;
    CHECK(rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, &e) == 0);
    batch B;
    make_batch(&c, &B);
    size_t ntok = 0;
    for (int i = 0; i < NS; i++) ntok += (size_t)B.s[i].len;

    /* three identical models: none, layers/f32, layers/bf16 */
    const rv_vlm_memory modes[3] = {{RV_RECOMPUTE_NONE, false}, {RV_RECOMPUTE_LAYERS, false},
                                    {RV_RECOMPUTE_LAYERS, true}};
    rv_weights w[3];
    rv_vlm m[3];
    result r[3];
    for (int i = 0; i < 3; i++) {
        CHECK(rv_weights_build(&w[i], &c, k, &e) == 0);
        CHECK(rv_weights_init_random(&w[i], 9, 0.3f, &e) == 0);
        CHECK(rv_vlm_init(&m[i], k, &c, &w[i], true, &e) == 0);
        CHECK(rv_vlm_set_memory(&m[i], &modes[i], &e) == 0);
        r[i].grads = malloc(w[i].total * sizeof(float));
        r[i].logp = malloc(ntok * sizeof(float));
        CHECK(run(&m[i], &B, &r[i]) == 0);
    }
    const size_t G = w[0].total;
    const int Ld = c.text.layers, Lv = m[0].vis.nrun;
    CHECK(Ld == 4 && Lv >= 2);

    /* the layouts really differ: one shared set of layer buffers with recomputation */
    const rv_act_plan *P0 = m[0].plan, *P1 = m[1].plan, *P2 = m[2].plan;
    CHECK(P0->dec.q[0] != P0->dec.q[1] && P0->vis.f[0] != P0->vis.f[1] && !P0->dec.recompute && !P0->dec.ck);
    CHECK(P1->dec.q[0] == P1->dec.q[Ld - 1] && P1->vis.f[0] == P1->vis.f[Lv - 1] && P1->dec.recompute &&
          P1->vis.recompute && !P1->dec.ck && !P1->vis.ck);
    CHECK(P1->dec.x[0] != P1->dec.x[2]); /* fp32 checkpoints: every layer input kept */
    CHECK(P2->dec.ck && P2->vis.ck && P2->dec.x[0] == P2->dec.x[2]); /* bf16: the stream alternates */

    /* 1. fp32 checkpoints: bitwise equal to no recomputation */
    CHECK(memcmp(&r[1].loss, &r[0].loss, sizeof(double)) == 0);
    CHECK(memcmp(r[1].logp, r[0].logp, ntok * sizeof(float)) == 0);
    CHECK(memcmp(r[1].grads, r[0].grads, G * sizeof(float)) == 0);
    size_t nz = 0;
    for (size_t j = 0; j < G; j++) nz += r[0].grads[j] != 0.0f;
    CHECK(nz > G / 2); /* the comparison covers real gradients (vision tower included) */
    {
        int h = rv_weights_find(&w[0], "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight");
        CHECK(h >= 0);
        double s = 0;
        for (size_t j = 0; h >= 0 && j < w[0].t[h].numel; j++) s += fabs(r[0].grads[w[0].t[h].offset + j]);
        CHECK(s > 0);
    }

    /* 2. bf16 checkpoints: close to fp32, not equal */
    double rel = fabs(r[2].loss - r[0].loss) / fabs(r[0].loss);
    printf("loss fp32 %.9g, bf16 checkpoints %.9g (relative %.3g)\n", r[0].loss, r[2].loss, rel);
    CHECK(rel <= 1e-2);
    double dot = 0, n0 = 0, n2 = 0;
    for (size_t j = 0; j < G; j++) {
        dot += (double)r[0].grads[j] * r[2].grads[j];
        n0 += (double)r[0].grads[j] * r[0].grads[j];
        n2 += (double)r[2].grads[j] * r[2].grads[j];
    }
    double cosv = dot / sqrt(n0 * n2);
    printf("gradient cosine bf16 vs fp32 checkpoints: %.6f\n", cosv);
    CHECK(cosv >= 0.99);
    CHECK(memcmp(r[2].grads, r[0].grads, G * sizeof(float)) != 0); /* the rounding happened */

    /* the checkpoints are bf16: after a forward, checkpoint 0 of the decoder at the text rows is
     * the embedding row rounded to bf16 (host reference), and the stream the last layer read is
     * its checkpoint widened (a backward would rewrite that stream buffer) */
    {
        rv_vlm_pass *p2 = NULL;
        CHECK(rv_vlm_forward(&m[2], B.s, NS, true, &p2, &e) == 0);
        const int D = c.text.hidden;
        float *ck0 = malloc(ntok * (size_t)D * sizeof(float)), *xn = malloc(ntok * (size_t)D * sizeof(float));
        float *ckn = malloc(ntok * (size_t)D * sizeof(float));
        rvk_buf tmp;
        CHECK(rvk_buf_alloc(k, &tmp, RVK_MEM_DEVICE, RVK_F32, ntok * (size_t)D, &e) == 0);
        rvk_bf16_to_f32(k, rvk_buf_f32(&tmp), P2->dec.ck[0], ntok * (size_t)D);
        rvk_download(k, ck0, rvk_buf_f32(&tmp), ntok * (size_t)D);
        rvk_bf16_to_f32(k, rvk_buf_f32(&tmp), P2->dec.ck[Ld - 1], ntok * (size_t)D);
        rvk_download(k, ckn, rvk_buf_f32(&tmp), ntok * (size_t)D);
        rvk_download(k, xn, P2->dec.x[Ld - 1], ntok * (size_t)D);
        rvk_buf_free(k, &tmp);
        const float *emb = rv_weights_param(&w[2], "language_model.model.embed_tokens.weight");
        int rows = 0, bad = 0, inexact = 0;
        size_t at = 0;
        for (int i = 0; i < NS; i++) {
            for (int t = 0; t < B.s[i].len; t++) {
                int32_t id = B.s[i].ids[t];
                if (id == c.image_token_id) continue;
                rows++;
                for (int d = 0; d < D; d++) {
                    float want = host_bf16(emb[(size_t)id * D + d]);
                    if (ck0[(at + (size_t)t) * D + d] != want) bad++;
                    if (!bf16_exact(emb[(size_t)id * D + d])) inexact++;
                }
            }
            at += (size_t)B.s[i].len;
        }
        CHECK(rows > 20 && bad == 0);
        CHECK(inexact > 0); /* the embeddings are not bf16 already: the rounding was observable */
        int nonbf = 0, diff = 0;
        for (size_t j = 0; j < ntok * (size_t)D; j++) {
            nonbf += !bf16_exact(xn[j]);
            diff += xn[j] != ckn[j];
        }
        CHECK(nonbf == 0 && diff == 0);
        rv_vlm_pass_free(&m[2], p2);
        free(ck0);
        free(xn);
        free(ckn);
    }

    /* generation on the training layouts: the same decoder code with the shared layer set */
    {
        rv_gen_opts go = {.max_new_tokens = 8, .temperature = 0.0f, .seed = 1};
        rv_gen_out out[3][2];
        rv_sample pr[2] = {B.s[1], B.s[2]};
        for (int i = 0; i < 3; i++) CHECK(rv_vlm_generate(&m[i], pr, 2, &go, out[i], &e) == 0);
        for (int b = 0; b < 2; b++) {
            CHECK(out[1][b].n == out[0][b].n && out[0][b].n > 0);
            CHECK(memcmp(out[1][b].tokens, out[0][b].tokens, (size_t)out[0][b].n * sizeof(int32_t)) == 0);
            CHECK(out[2][b].n > 0);
        }
        for (int i = 0; i < 3; i++) rv_gen_out_free(out[i], 2);
    }

    /* 3. plan bytes: the layout formula (savings(), written out above it) */
    {
        const rv_vlm_limits lim = {.max_tokens = 200, .max_tiles = 6, .max_seqs = 4};
        size_t b[3], save1, save2;
        for (int i = 0; i < 3; i++) b[i] = rv_vlm_plan_bytes(&m[i], &lim);
        savings(&c, &lim, &save1, &save2);
        printf("plan bytes (micro model, 200 tokens, 6 tiles): none %zu, layers/f32 %zu, layers/bf16 %zu\n", b[0], b[1],
               b[2]);
        CHECK(b[1] < b[0] && b[0] - b[1] == save1);
        CHECK(b[2] < b[1] && b[1] - b[2] == save2);
        /* the built plans report their layout and size */
        rv_vlm_plan_info pi;
        rv_vlm_plan_get(&m[2], &pi);
        CHECK(pi.train && pi.mem.recompute == RV_RECOMPUTE_LAYERS && pi.mem.ckpt_bf16);
        CHECK(pi.bytes == rv_vlm_plan_bytes(&m[2], &pi.lim));
        /* switching the mode of a planned model rebuilds it with the same limits */
        int builds = pi.builds;
        CHECK(rv_vlm_set_memory(&m[2], &modes[0], &e) == 0);
        rv_vlm_plan_get(&m[2], &pi);
        CHECK(pi.builds == builds + 1 && pi.mem.recompute == RV_RECOMPUTE_NONE && !pi.mem.ckpt_bf16);
        CHECK(pi.bytes == rv_vlm_plan_bytes(&m[0], &pi.lim));
    }

    /* the estimate of sft.dry_run (layout only: nothing allocated) follows the same formula, here
     * for the tiny and ~100M presets at 2048 tokens (the sft default micro-batch) */
    const char *presets[2] = {"tiny", "100m"};
    for (int q = 0; q < 2; q++) {
        rv_model_cfg pc;
        CHECK(rv_model_cfg_preset(presets[q], &pc, &e) == 0);
        const rv_vlm_limits lim = rv_sft_plan_limits(&pc, 2048, 8);
        size_t b[3], save1, save2;
        for (int i = 0; i < 3; i++) CHECK(rv_sft_activation_bytes(&pc, &lim, &modes[i], &b[i], &e) == 0);
        savings(&pc, &lim, &save1, &save2);
        printf("sft.dry_run activation plan, %s, %d tokens, %d tiles: none %.1f MiB, layers/f32 %.1f MiB, "
               "layers/bf16 %.1f MiB\n", presets[q], lim.max_tokens, lim.max_tiles, b[0] / 1048576.0, b[1] / 1048576.0,
               b[2] / 1048576.0);
        CHECK(b[0] - b[1] == save1 && b[1] - b[2] == save2);
    }

    /* 4. configuration: bf16 needs recompute = layers; errors name both keys */
    {
        rv_vlm_memory mo;
        CHECK(rv_vlm_memory_parse("none", "bf16", &mo, &e) == -1);
        CHECK(strstr(e.msg, "compute.activation_dtype") && strstr(e.msg, "compute.recompute"));
        CHECK(rv_vlm_memory_parse("layers", "bf16", &mo, &e) == 0 && mo.recompute == RV_RECOMPUTE_LAYERS &&
              mo.ckpt_bf16);
        CHECK(rv_vlm_memory_parse("none", "f32", &mo, &e) == 0 && mo.recompute == RV_RECOMPUTE_NONE && !mo.ckpt_bf16);
        CHECK(rv_vlm_memory_parse("all", "f32", &mo, &e) == -1 && strstr(e.msg, "compute.recompute"));
        CHECK(rv_vlm_memory_parse("layers", "fp8", &mo, &e) == -1 && strstr(e.msg, "compute.activation_dtype"));
        const rv_vlm_memory badm = {RV_RECOMPUTE_NONE, true};
        CHECK(rv_vlm_set_memory(&m[0], &badm, &e) == -1 && strstr(e.msg, "compute.recompute"));
    }

    for (int i = 0; i < 3; i++) {
        free(r[i].grads);
        free(r[i].logp);
        rv_vlm_free(&m[i]);
        rv_weights_free(&w[i]);
    }
    free_batch(&B);
    rvk_destroy(k);
    return check_summary("test_model_recompute");
}
