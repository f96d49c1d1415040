/* Fused, vocabulary-chunked cross-entropy: a 3-class example written out, chunked = unchunked =
 * naive double reference (loss, lse, both gradients), the ignore mask, row blocks beyond 512,
 * finite-difference gradients with signed per-token weights (GRPO), thread-count independence and
 * target validation. */
#include "kernels_testutil.h"

static void test_hand(rv_kctx *k) {
    /* w = I so logits = hidden. row 0: z = [1,2,3], target 0: lse = log(e + e^2 + e^3)
     * = 3.40760596444438, loss = lse - 1 = 2.40760596444438, softmax = [0.09003057317038048,
     * 0.2447284710547977, 0.665240955774822]. row 1: ignored (-100). row 2: z = 0, target 2:
     * loss = log 3 = 1.0986122886681098, softmax = 1/3 each. */
    float w[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, h[9] = {1, 2, 3, 1, 2, 3, 0, 0, 0};
    int32_t tg[3] = {0, -100, 2};
    float loss[3], lse[3];
    rv_err err;
    CHECK(kt_xent_fwd(k, loss, lse, h, w, tg, 3, 3, 3, &err) == 0);
    CHECK_NEAR(loss[0], 2.40760596444438, 1e-6);
    CHECK_NEAR(lse[0], 3.40760596444438, 1e-6);
    CHECK(loss[1] == 0.0f && lse[1] == 0.0f);
    CHECK_NEAR(loss[2], 1.0986122886681098, 1e-6);
    /* dloss = [1, 5, 0.5]: dlogits row 0 = p - onehot(0); row 2 = 0.5 (1/3 - onehot(2)) =
     * [1/6, 1/6, -1/3]; row 1 is ignored (5 must have no effect). With w = I, dhidden = dlogits
     * and dw[v, :] = sum_t dlogits[t, v] h[t, :] = dlogits[0, v] * [1, 2, 3]. */
    float dloss[3] = {1, 5, 0.5f}, dh[9], dw[9] = {0};
    for (int i = 0; i < 9; i++) dh[i] = 7;
    CHECK(kt_xent_bwd(k, dh, dw, h, w, tg, lse, dloss, 3, 3, 3, 0, &err) == 0);
    double p[3] = {0.09003057317038048, 0.2447284710547977, 0.665240955774822};
    CHECK_NEAR(dh[0], p[0] - 1, 1e-6);
    CHECK_NEAR(dh[1], p[1], 1e-6);
    CHECK_NEAR(dh[2], p[2], 1e-6);
    CHECK(dh[3] == 0 && dh[4] == 0 && dh[5] == 0);
    CHECK_NEAR(dh[6], 1.0 / 6, 1e-6);
    CHECK_NEAR(dh[8], -1.0 / 3, 1e-6);
    CHECK_NEAR(dw[0], (p[0] - 1) * 1, 1e-6);
    CHECK_NEAR(dw[2], (p[0] - 1) * 3, 1e-6);
    CHECK_NEAR(dw[5], p[1] * 3, 1e-6);
    CHECK_NEAR(dw[7], p[2] * 2, 1e-6);
    /* a target outside the vocabulary is an error naming the token */
    int32_t bad[3] = {0, 3, 1};
    CHECK(kt_xent_fwd(k, loss, lse, h, w, bad, 3, 3, 3, &err) == -1);
    CHECK(strstr(err.msg, "token 1") != NULL);
}

/* Naive reference in double over the full [T, V] logits. */
static void ref_xent(const float *h, const float *w, const int32_t *tg, const float *dloss, int T,
                     int C, int V, double *loss, double *dh, double *dw) {
    double *z = malloc((size_t)V * sizeof(double));
    memset(dh, 0, (size_t)T * C * sizeof(double));
    memset(dw, 0, (size_t)V * C * sizeof(double));
    for (int t = 0; t < T; t++) {
        loss[t] = 0;
        if (tg[t] < 0) continue;
        double m = -INFINITY, s = 0;
        for (int v = 0; v < V; v++) {
            z[v] = 0;
            for (int c = 0; c < C; c++) z[v] += (double)h[(size_t)t * C + c] * w[(size_t)v * C + c];
            m = fmax(m, z[v]);
        }
        for (int v = 0; v < V; v++) s += exp(z[v] - m);
        double lse = m + log(s);
        loss[t] = lse - z[tg[t]];
        for (int v = 0; v < V; v++) {
            double g = dloss[t] * (exp(z[v] - lse) - (v == tg[t]));
            for (int c = 0; c < C; c++) {
                dh[(size_t)t * C + c] += g * w[(size_t)v * C + c];
                dw[(size_t)v * C + c] += g * h[(size_t)t * C + c];
            }
        }
    }
    free(z);
}

static double maxdiff_d(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static void run_vs_ref(int T, int C, int V, int vchunk, uint32_t seed, double tol) {
    rv_rng r;
    rv_rng_init(&r, 71, seed, 0);
    float *h = kt_randn(&r, (size_t)T * C, 1), *w = kt_randn(&r, (size_t)V * C, 0.5f);
    float *dloss = kt_randn(&r, T, 1);
    int32_t *tg = malloc(T * sizeof(int32_t));
    for (int t = 0; t < T; t++) tg[t] = rv_rng_below(&r, 4) == 0 ? -100 : (int32_t)rv_rng_below(&r, V);
    double *lref = malloc(T * sizeof(double)), *dhref = malloc((size_t)T * C * 8), *dwref = malloc((size_t)V * C * 8);
    ref_xent(h, w, tg, dloss, T, C, V, lref, dhref, dwref);
    rv_kctx *k = kt_ctx(2);
    kt_set_vchunk(k, vchunk);
    float *loss = malloc(T * 4), *lse = malloc(T * 4), *dh = malloc((size_t)T * C * 4), *dw = calloc((size_t)V * C, 4);
    rv_err err;
    CHECK(kt_xent_fwd(k, loss, lse, h, w, tg, T, C, V, &err) == 0);
    CHECK(kt_xent_bwd(k, dh, dw, h, w, tg, lse, dloss, T, C, V, 0, &err) == 0);
    double el = 0;
    for (int t = 0; t < T; t++) el = fmax(el, fabs(loss[t] - lref[t]));
    CHECK(el < tol);
    CHECK(maxdiff_d(dh, dhref, (size_t)T * C) < tol);
    CHECK(maxdiff_d(dw, dwref, (size_t)V * C) < tol);
    if (el >= tol) fprintf(stderr, "xent T=%d V=%d chunk=%d: loss error %g\n", T, V, vchunk, el);
    rvk_destroy(k);
    free(h), free(w), free(dloss), free(tg), free(lref), free(dhref), free(dwref), free(loss), free(lse), free(dh), free(dw);
}

static void test_chunks(void) {
    /* chunk 7 does not divide V = 50; chunk 50 is unchunked; chunk 1 is the extreme */
    run_vs_ref(37, 16, 50, 7, 0, 2e-5);
    run_vs_ref(37, 16, 50, 50, 0, 2e-5);
    run_vs_ref(37, 16, 50, 1, 0, 2e-5);
    /* more rows than one 512-row block */
    run_vs_ref(1100, 8, 20, 6, 1, 2e-5);
    /* chunked and unchunked agree with each other closely */
    rv_rng r;
    rv_rng_init(&r, 71, 5, 0);
    int T = 20, C = 12, V = 300;
    float *h = kt_randn(&r, (size_t)T * C, 1), *w = kt_randn(&r, (size_t)V * C, 1);
    int32_t tg[20];
    for (int t = 0; t < T; t++) tg[t] = (int32_t)rv_rng_below(&r, V);
    float l1[20], l2[20];
    rv_kctx *k = kt_ctx(1);
    rv_err err;
    kt_set_vchunk(k, 300);
    kt_xent_fwd(k, l1, NULL, h, w, tg, T, C, V, &err);
    kt_set_vchunk(k, 64);
    kt_xent_fwd(k, l2, NULL, h, w, tg, T, C, V, &err);
    CHECK(kt_maxdiff(l1, l2, T) < 1e-5);
    rvk_destroy(k);
    free(h), free(w);
}

typedef struct {
    rv_kctx *k;
    float *h, *w, *loss, *dloss;
    int32_t *tg;
    int T, C, V;
} xe_case;

static double xe_loss(void *ud) {
    xe_case *c = ud;
    rv_err err;
    kt_xent_fwd(c->k, c->loss, NULL, c->h, c->w, c->tg, c->T, c->C, c->V, &err);
    return kt_dotd(c->loss, c->dloss, c->T);
}

static void test_fd(rv_kctx *k) {
    rv_rng r;
    rv_rng_init(&r, 71, 9, 0);
    xe_case c = {.k = k, .T = 6, .C = 5, .V = 11};
    c.h = kt_randn(&r, 30, 1), c.w = kt_randn(&r, 55, 1), c.loss = malloc(6 * 4);
    float dloss[6] = {0.5f, -1.0f, 0.25f, 2.0f, -0.5f, 1.0f}; /* signed, as GRPO advantages */
    int32_t tg[6] = {3, -100, 0, 10, 5, 5};
    c.dloss = dloss, c.tg = tg;
    float lse[6], dh[30], dw[55] = {0};
    rv_err err;
    kt_set_vchunk(k, 4);
    CHECK(kt_xent_fwd(k, c.loss, lse, c.h, c.w, tg, 6, 5, 11, &err) == 0);
    CHECK(kt_xent_bwd(k, dh, dw, c.h, c.w, tg, lse, dloss, 6, 5, 11, 0, &err) == 0);
    kt_fd_check("xent dhidden", c.h, 30, dh, xe_loss, &c, 1e-2f, 1e-3, 1e-2, 1000);
    kt_fd_check("xent dw", c.w, 55, dw, xe_loss, &c, 1e-2f, 1e-3, 1e-2, 1000);
    /* ignored row 1 keeps its old value with accum = 1 */
    float dh2[30];
    for (int i = 0; i < 30; i++) dh2[i] = 1.0f;
    CHECK(kt_xent_bwd(k, dh2, NULL, c.h, c.w, tg, lse, dloss, 6, 5, 11, 1, &err) == 0);
    CHECK(dh2[5] == 1.0f && dh2[9] == 1.0f);
    CHECK_NEAR(dh2[0] - 1.0f, dh[0], 1e-6);
    kt_set_vchunk(k, 4096);
    free(c.h), free(c.w), free(c.loss);
}

static void test_threads(void) {
    rv_rng r;
    rv_rng_init(&r, 71, 10, 0);
    int T = 600, C = 64, V = 300;
    float *h = kt_randn(&r, (size_t)T * C, 1), *w = kt_randn(&r, (size_t)V * C, 1), *dl = kt_randn(&r, T, 1);
    int32_t *tg = malloc(T * sizeof(int32_t));
    for (int t = 0; t < T; t++) tg[t] = t % 5 == 0 ? -100 : (int32_t)rv_rng_below(&r, V);
    size_t n = (size_t)T * 2 + (size_t)T * C + (size_t)V * C;
    float *res[3];
    rv_err err;
    for (int t = 0; t < 3; t++) {
        rv_kctx *k = kt_ctx(t + 1);
        kt_set_vchunk(k, 128);
        res[t] = calloc(n, 4);
        float *loss = res[t], *lse = loss + T, *dh = lse + T, *dw = dh + (size_t)T * C;
        kt_xent_fwd(k, loss, lse, h, w, tg, T, C, V, &err);
        kt_xent_bwd(k, dh, dw, h, w, tg, lse, dl, T, C, V, 0, &err);
        rvk_destroy(k);
    }
    CHECK(memcmp(res[0], res[1], n * 4) == 0);
    CHECK(memcmp(res[0], res[2], n * 4) == 0);
    for (int t = 0; t < 3; t++) free(res[t]);
    free(h), free(w), free(dl), free(tg);
}

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(2);
        test_hand(k);
        test_chunks();
        test_fd(k);
        test_threads();
        rvk_destroy(k);
    }
    return check_summary("test_kernels_xent");
}
