#include "train/mfu.h"

#include "core/progress.h"

double rv_sgemm_peak_gflops(rv_kctx *k, int n) {
    size_t nn = (size_t)n * (size_t)n;
    float *a = rvk_alloc(k, nn), *b = rvk_alloc(k, nn), *c = rvk_alloc(k, nn);
    rvk_fill(k, a, 0.5f, nn);
    rvk_fill(k, b, 0.25f, nn);
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = rv_now();
        rvk_gemm(k, 0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        rv_err e;
        rvk_sync(k, &e);
        double dt = rv_now() - t0;
        double g = dt > 0 ? 2.0 * n * (double)nn / dt / 1e9 : 0;
        if (g > best) best = g;
    }
    rvk_free(k, a);
    rvk_free(k, b);
    rvk_free(k, c);
    return best;
}

double rv_sample_train_flops(const rv_model_cfg *c, int len, int tiles) {
    const rv_text_cfg *t = &c->text;
    const rv_vision_cfg *v = &c->vision;
    double D = t->hidden, hd = t->head_dim, q = (double)t->heads * hd, kv = (double)t->kv_heads * hd;
    double lm_w = t->layers * (D * (q + 2 * kv) + q * D + 3 * D * t->intermediate) + D * t->vocab;
    double L = len;
    double fwd = 2 * lm_w * L + t->layers * 4 * q * (L * L / 2);
    if (tiles > 0) {
        int layers = rv_vision_run_layers(v);
        double Dv = v->hidden, g = rv_vision_grid(v), P = g * g;
        double vis_w = layers * (4 * Dv * Dv + 2 * Dv * v->intermediate) +
                       (double)v->channels * v->patch * v->patch * Dv;
        double proj_w = Dv * D + D * D;
        fwd += tiles * (2 * (vis_w + proj_w) * P + layers * 4 * Dv * P * P);
    }
    return 3 * fwd;
}
