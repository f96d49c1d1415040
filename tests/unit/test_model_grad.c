/* Whole-model finite-difference check: every parameter tensor of a micro LLaVA-OneVision
 * (2 SigLIP layers, projector, 2 Qwen2 layers; tied and untied heads) gets its analytic
 * gradient compared with a central difference of the loss along a random direction. The batch
 * packs two samples: one anyres image (3 tiles, unpad crop, anyres_max cap -> bilinear
 * downscale) and one single-tile image, so every packing path is differentiated. Also checks
 * the weighted (GRPO-style) objective sum_t w_t logp_t and that unused tensors get no gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "data/loader/placeholders.h"
#include "model/vlm.h"

static void micro_cfg(rv_model_cfg *c, bool tie) {
    rv_err e;
    rv_model_cfg_preset("tiny", c, &e);
    rv_vision_cfg *v = &c->vision;
    v->hidden = 16; v->layers = 3; v->heads = 2; v->intermediate = 24; v->patch = 7; v->image_size = 28;
    v->feature_layer = -2; /* runs 2 of 3 layers: layer 2 is UNUSED */
    rv_text_cfg *t = &c->text;
    t->hidden = 24; t->layers = 2; t->heads = 4; t->kv_heads = 2; t->head_dim = 8; t->intermediate = 40;
    t->vocab = 40; t->tie_embeddings = tie; t->rope_theta = 10000.0;
    c->image_token_id = 39;
    c->anyres_max = 1;
    c->n_pinpoints = 3;
    int pp[3][2] = {{28, 28}, {28, 56}, {28, 84}};
    memcpy(c->pinpoints, pp, sizeof pp);
}

/* Generated on the host and uploaded (the arenas are backend buffers). */
static void randomize(rv_weights *w, uint64_t seed) {
    float *p = malloc(w->total * sizeof *p);
    rv_err e;
    for (size_t i = 0; i < w->n; i++) {
        rv_wtensor *t = &w->t[i];
        rv_rng r;
        rv_rng_init(&r, seed, (uint32_t)i, 0);
        bool norm = strstr(t->name, "norm") && strstr(t->name, ".weight") && t->ndim == 1;
        for (size_t k = 0; k < t->numel; k++) p[k] = (float)((norm ? 1.0 : 0.0) + 0.3 * rv_rng_normal(&r));
        CHECK(rv_weights_upload_tensor(w, i, p, &e) == 0);
    }
    free(p);
}

typedef struct batch {
    rv_vlm_image img[2];
    rv_sample s[2];
    float *tiles0, *tiles1;
    int32_t *ids[2];
    uint8_t *mask[2];
    float *wt[2]; /* per-token weights for the weighted objective */
} batch;

static void make_batch(const rv_model_cfg *c, batch *b) {
    rv_rng r;
    rv_rng_init(&r, 7, 1, 0);
    size_t tile = 3 * 28 * 28;
    /* image 0: 14x70 (HxW) -> best canvas 28x84 = 3 grid tiles (+1 base); map 4x12, unpad:
     * newH = int(14*12/70) = 2, pad 1 -> rows 1..2 (2x12); cap anyres_max_1: ratio
     * sqrt(24/16) = 1.22 > 1.1 -> bilinear 1x9; rows 16 + 1*10 = 26 */
    b->img[0].n_tiles = rv_vlm_image_tiles(c, 14, 70);
    b->img[0].orig_h = 14;
    b->img[0].orig_w = 70;
    b->tiles0 = malloc(tile * (size_t)b->img[0].n_tiles * sizeof(float));
    for (size_t i = 0; i < tile * (size_t)b->img[0].n_tiles; i++) b->tiles0[i] = (float)rv_rng_range(&r, -1, 1);
    b->img[0].tiles = b->tiles0;
    b->img[1].n_tiles = 1;
    b->tiles1 = malloc(tile * sizeof(float));
    for (size_t i = 0; i < tile; i++) b->tiles1[i] = (float)rv_rng_range(&r, -1, 1);
    b->img[1].tiles = b->tiles1;
    for (int s = 0; s < 2; s++) {
        int32_t text[12];
        uint8_t m[12];
        int n = 0;
        text[n] = 5; m[n++] = 0;
        text[n] = c->image_token_id; m[n++] = 0;
        for (int j = 0; j < 6 + 3 * s; j++) {
            text[n] = (int32_t)rv_rng_below(&r, 38);
            m[n++] = j >= 2;
        }
        rv_err e;
        int len;
        if (rv_loader_expand_placeholders(c, text, m, n, &b->img[s], 1, &b->ids[s], &b->mask[s], &len, &e))
            fprintf(stderr, "%s\n", e.msg);
        if (s == 0) CHECK(len == 1 + 26 + 6);      /* the 26 image rows worked out above */
        if (s == 1) CHECK(len == 1 + 16 + 1 + 9); /* single tile: 16 patches + newline */
        b->s[s] = (rv_sample){.ids = b->ids[s], .len = len, .mask = b->mask[s], .images = &b->img[s], .n_images = 1};
        b->wt[s] = malloc((size_t)len * sizeof(float));
        for (int t = 0; t < len; t++) b->wt[s][t] = (float)rv_rng_range(&r, -1, 1);
    }
}

static void free_batch(batch *b) {
    free(b->tiles0);
    free(b->tiles1);
    for (int s = 0; s < 2; s++) {
        free(b->ids[s]);
        free(b->mask[s]);
        free(b->wt[s]);
    }
}

/* objective: mode 0 = SFT mean of per-sample token-mean CE; 1 = sum_t w_t logp_t */
static double objective(rv_vlm *m, batch *b, int mode) {
    rv_vlm_pass *p;
    rv_err e;
    if (rv_vlm_forward(m, b->s, 2, false, &p, &e)) {
        fprintf(stderr, "forward: %s\n", e.msg);
        return NAN;
    }
    double L = 0;
    for (int i = 0; i < 2; i++) {
        const float *lp = rv_vlm_pass_logp(p, i);
        if (mode == 0) {
            int nt = 0;
            double s = 0;
            for (int t = 1; t < b->s[i].len; t++)
                if (b->s[i].mask[t]) {
                    s -= lp[t];
                    nt++;
                }
            L += 0.5 * s / nt;
        } else {
            for (int t = 1; t < b->s[i].len; t++)
                if (b->s[i].mask[t]) L += (double)b->wt[i][t] * lp[t];
        }
    }
    rv_vlm_pass_free(m, p);
    return L;
}

static int backward(rv_vlm *m, batch *b, int mode) {
    rv_err e;
    rv_weights_zero_grads(m->w);
    if (mode == 0) {
        double loss;
        if (rv_vlm_sft_step(m, b->s, 2, &loss, &e)) {
            fprintf(stderr, "sft: %s\n", e.msg);
            return -1;
        }
        return 0;
    }
    rv_vlm_pass *p;
    if (rv_vlm_forward(m, b->s, 2, true, &p, &e)) return -1;
    const float *d[2] = {b->wt[0], b->wt[1]};
    int rc = rv_vlm_backward(m, p, d, &e);
    if (rc) fprintf(stderr, "backward: %s\n", e.msg);
    rv_vlm_pass_free(m, p);
    return rc;
}

static void check_model(bool tie, int mode) {
    rv_model_cfg c;
    micro_cfg(&c, tie);
    rv_weights w;
    rv_err e;
    rv_kctx *k;
    rvk_cpu_opts one = {.nthreads = 1};
    CHECK(rvk_create(&k, "cpu", &one, &e) == 0);
    CHECK(rv_weights_build(&w, &c, k, &e) == 0);
    randomize(&w, 11 + (uint64_t)tie);
    rv_vlm m;
    if (rv_vlm_init(&m, k, &c, &w, true, &e)) {
        fprintf(stderr, "init: %s\n", e.msg);
        CHECK(0);
        return;
    }
    batch b;
    make_batch(&c, &b);
    CHECK(backward(&m, &b, mode) == 0);
    float *g = malloc(w.total * sizeof(float));
    rvk_download(k, g, w.grads, w.total);
    int bad = 0, checked = 0;
    const double eps = 1e-2;
    for (size_t i = 0; i < w.n; i++) {
        rv_wtensor *t = &w.t[i];
        const float *gt = g + t->offset;
        if (t->flags & RV_WF_UNUSED) {
            double s = 0;
            for (size_t j = 0; j < t->numel; j++) s += fabs(gt[j]);
            CHECK(s == 0.0);
            continue;
        }
        /* random unit direction u over the tensor */
        rv_rng r;
        rv_rng_init(&r, 99, (uint32_t)i, (uint32_t)mode);
        float *u = malloc(t->numel * sizeof *u);
        double nn = 0;
        for (size_t j = 0; j < t->numel; j++) {
            u[j] = (float)rv_rng_normal(&r);
            nn += (double)u[j] * u[j];
        }
        double an = 0;
        for (size_t j = 0; j < t->numel; j++) {
            u[j] = (float)(u[j] / sqrt(nn));
            an += (double)gt[j] * u[j];
        }
        /* perturb through the host staging API */
        float *save = malloc(t->numel * sizeof *save), *p = malloc(t->numel * sizeof *p);
        CHECK(rv_weights_download_tensor(&w, i, save, &e) == 0);
        for (size_t j = 0; j < t->numel; j++) p[j] = save[j] + (float)eps * u[j];
        CHECK(rv_weights_upload_tensor(&w, i, p, &e) == 0);
        double lp = objective(&m, &b, mode);
        for (size_t j = 0; j < t->numel; j++) p[j] = save[j] - (float)eps * u[j];
        CHECK(rv_weights_upload_tensor(&w, i, p, &e) == 0);
        double lm = objective(&m, &b, mode);
        CHECK(rv_weights_upload_tensor(&w, i, save, &e) == 0);
        free(p);
        double fd = (lp - lm) / (2 * eps);
        double tol = 2e-2 * fmax(fabs(fd), fabs(an)) + 2e-3;
        checked++;
        if (!(fabs(fd - an) <= tol)) {
            bad++;
            fprintf(stderr, "grad mismatch (tie=%d mode=%d) %s: analytic %.6g fd %.6g\n", tie, mode, t->name, an, fd);
        }
        free(u);
        free(save);
    }
    printf("fd check tie=%d mode=%d: %d tensors, %d mismatches\n", tie, mode, checked, bad);
    CHECK(checked > 40);
    CHECK(bad == 0);
    free(g);
    free_batch(&b);
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
}

int main(void) {
    check_model(true, 0);
    check_model(false, 0);
    check_model(true, 1);
    return check_summary("test_model_grad");
}
