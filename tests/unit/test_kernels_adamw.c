/* AdamW steps worked by hand, the no-decay flag and grad_scale; sum of squares and the clip
 * factor; thread-count independence of both. */
#include "kernels_testutil.h"

static void test_adamw(rv_kctx *k) {
    /* p = 1, lr 0.1, betas (0.9, 0.999), eps 1e-8, wd 0.01.
     * step 1, g = 0.5: p = 1 (1 - 0.001) = 0.999; m = 0.05; v = 0.001 * 0.25 = 2.5e-4;
     *   bias corrections 0.1 and 0.001 -> p -= (0.1 / 0.1) * 0.05 / (sqrt(2.5e-4)/sqrt(0.001) + 1e-8)
     *   = 0.999 - 0.05 / 0.50000001 = 0.899000002.
     * step 2, g = -0.25: m = 0.045 - 0.025 = 0.02; v = 0.999 * 2.5e-4 + 0.001 * 0.0625 = 3.1225e-4;
     *   corrections 0.19 and 0.001999; p = 0.899000002 * 0.999 - (0.1/0.19) * 0.02 /
     *   (sqrt(3.1225e-4 / 0.001999) + 1e-8) = 0.8714672987058463. */
    float p = 1, m = 0, v = 0, g = 0.5f;
    rvk_adamw_hp hp = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01,
                       .step = 1, .grad_scale = 1.0};
    kt_adamw_step(k, &p, &g, &m, &v, 1, &hp, 0);
    CHECK_NEAR(p, 0.899000002, 1e-6);
    CHECK_NEAR(m, 0.05, 1e-8); /* fp32 state: 1e-8 ~ a few ulps */
    CHECK_NEAR(v, 2.5e-4, 1e-10);
    g = -0.25f, hp.step = 2;
    kt_adamw_step(k, &p, &g, &m, &v, 1, &hp, 0);
    CHECK_NEAR(p, 0.8714672987058463, 1e-6);
    CHECK_NEAR(m, 0.02, 1e-8);
    CHECK_NEAR(v, 3.1225e-4, 1e-10);
    /* no decay: p = 1 - 0.1 * 0.05 / 0.50000001 = 0.900000002 */
    float p2 = 1, m2 = 0, v2 = 0, g2 = 0.5f;
    hp.step = 1;
    kt_adamw_step(k, &p2, &g2, &m2, &v2, 1, &hp, RVK_ADAMW_NO_DECAY);
    CHECK_NEAR(p2, 0.900000002, 1e-6);
    /* grad_scale multiplies the gradient first: g = 2 * 0.5 = 1 -> m = 0.1, v = 1e-3 */
    float p3 = 1, m3 = 0, v3 = 0, g3 = 0.5f;
    hp.grad_scale = 2.0;
    kt_adamw_step(k, &p3, &g3, &m3, &v3, 1, &hp, 0);
    CHECK_NEAR(m3, 0.1, 1e-8);
    CHECK_NEAR(v3, 1e-3, 1e-10);
    CHECK_NEAR(p3, 0.999 - 0.1 / (1.0 + 1e-8), 1e-6);
}

static void test_sumsq(rv_kctx *k) {
    float x[2] = {3, 4};
    CHECK(kt_sumsq(k, x, 2) == 25.0);
    CHECK(kt_sumsq(k, x, 0) == 0.0);
    CHECK_NEAR(rvk_clip_scale(10.0, 1.0f), 1.0 / (10.0 + 1e-6), 1e-8);
    CHECK(rvk_clip_scale(0.5, 1.0f) == 1.0f);
    CHECK(rvk_clip_scale(100.0, 0.0f) == 1.0f);
    rv_rng r;
    rv_rng_init(&r, 81, 0, 0);
    size_t n = 100003;
    float *y = kt_randn(&r, n, 1);
    double ref = 0, got[3];
    for (size_t i = 0; i < n; i++) ref += (double)y[i] * y[i];
    for (int t = 0; t < 3; t++) {
        rv_kctx *kt = kt_ctx(t + 1);
        got[t] = kt_sumsq(kt, y, n);
        rvk_destroy(kt);
    }
    CHECK(got[0] == got[1] && got[0] == got[2]);
    CHECK_NEAR(got[0], ref, 1e-9 * ref);
    /* AdamW over a long vector: same bits for any thread count */
    float *g = kt_randn(&r, n, 1), *res[3];
    rvk_adamw_hp hp = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                       .step = 3, .grad_scale = 0.7f};
    for (int t = 0; t < 3; t++) {
        rv_kctx *kt = kt_ctx(t + 1);
        res[t] = calloc(3 * n, 4);
        memcpy(res[t], y, n * 4);
        kt_adamw_step(kt, res[t], g, res[t] + n, res[t] + 2 * n, n, &hp, 0);
        rvk_destroy(kt);
    }
    CHECK(memcmp(res[0], res[1], 3 * n * 4) == 0);
    CHECK(memcmp(res[0], res[2], 3 * n * 4) == 0);
    free(y), free(g), free(res[0]), free(res[1]), free(res[2]);
    (void)k;
}

static void test_elementwise(rv_kctx *k) {
    float a[3] = {1, 2, 3}, b[3] = {10, 20, 30}, y[3];
    kt_add(k, y, a, b, 3);
    CHECK(y[0] == 11 && y[2] == 33);
    kt_axpy(k, y, -2.0f, a, 3); /* 11 - 2, 22 - 4, 33 - 6 */
    CHECK(y[0] == 9 && y[1] == 18 && y[2] == 27);
    kt_scale(k, y, 0.5f, 3);
    CHECK(y[1] == 9);
    kt_fill(k, y, 2.5f, 3);
    CHECK(y[0] == 2.5f && y[2] == 2.5f);
    float *d = rvk_alloc(k, 4);
    float zeros[4] = {7, 7, 7, 7}; /* device memory is read through a download */
    rvk_download(k, zeros, d, 4);
    CHECK(zeros[0] == 0 && zeros[3] == 0);
    rvk_upload(k, d, a, 3);
    float back[3];
    rvk_download(k, back, d, 3);
    CHECK(back[2] == 3);
    rvk_free(k, d);
    rv_kctx *cuda = NULL;
    rv_err err;
#ifdef RADVLM_HAVE_CUDA
    if (rvk_create(&cuda, "cuda", NULL, &err) == 0) rvk_destroy(cuda); /* a GPU is here: nothing refused */
    else CHECK(cuda == NULL && strstr(err.msg, "CPU backend") != NULL);  /* no device: the reason, and the way out */
#else
    CHECK(rvk_create(&cuda, "cuda", NULL, &err) == -1 && cuda == NULL);
    CHECK(strstr(err.msg, "CPU backend") != NULL);
#endif
}

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(2);
        test_adamw(k);
        test_sumsq(k);
        test_elementwise(k);
        rvk_destroy(k);
    }
    return check_summary("test_kernels_adamw");
}
