/* LayerNorm and RMSNorm: hand-computed forwards, finite-difference gradients, the accumulate
 * convention, and thread-count independence of the parameter gradients. */
#include "kernels_testutil.h"

static void test_rms_hand(rv_kctx *k) {
    /* row 0: mean(x^2) = 30/4 = 7.5, r = 1/sqrt(7.5 + 1e-6) = 0.3651483473268884;
     * y = w * x * r = [r, 0.5*2r, 2*3r, 4r]. row 1: all zero -> y = 0, r = 1/sqrt(1e-6) = 1000.
     * row 2: mean(x^2) = 4, r = 0.49999993750001176, y = [-2r, 0.5*2r, 2*(-2r), 2r]. */
    float x[12] = {1, 2, 3, 4, 0, 0, 0, 0, -2, 2, -2, 2}, w[4] = {1, 0.5f, 2, 1}, y[12], rs[3];
    kt_rmsnorm_fwd(k, y, rs, x, w, 3, 4, 1e-6f);
    double r0 = 0.3651483473268884, r2 = 0.49999993750001176;
    double want[12] = {r0, r0, 6 * r0, 4 * r0, 0, 0, 0, 0, -2 * r2, r2, -4 * r2, 2 * r2};
    for (int i = 0; i < 12; i++) CHECK_NEAR(y[i], want[i], 1e-6);
    CHECK_NEAR(rs[0], r0, 1e-7);
    CHECK_NEAR(rs[1], 1000.0, 1e-3);
}

static void test_ln_hand(rv_kctx *k) {
    /* x = [1,2,3,4]: mean 2.5, biased var 1.25, rstd = 1/sqrt(1.25 + 1e-6) = 0.8944268332292541;
     * xhat = [-1.5, -0.5, 0.5, 1.5] rstd; y = xhat * [1,2,1,1] + [0,0,1,-1]. */
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 2, 1, 1}, b[4] = {0, 0, 1, -1}, y[4], mu, rs;
    kt_layernorm_fwd(k, y, &mu, &rs, x, w, b, 1, 4, 1e-6f);
    double want[4] = {-1.341640249843881, -0.8944268332292541, 1.447213416614627, 0.3416402498438811};
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], want[i], 1e-6);
    CHECK_NEAR(mu, 2.5, 0);
    CHECK_NEAR(rs, 0.8944268332292541, 1e-7);
}

typedef struct {
    rv_kctx *k;
    float *x, *w, *b, *y, *r;
    int N, C, rms;
} nm_case;

static double nm_loss(void *ud) {
    nm_case *c = ud;
    if (c->rms) kt_rmsnorm_fwd(c->k, c->y, NULL, c->x, c->w, c->N, c->C, 1e-6f);
    else kt_layernorm_fwd(c->k, c->y, NULL, NULL, c->x, c->w, c->b, c->N, c->C, 1e-6f);
    return kt_dotd(c->y, c->r, (size_t)c->N * c->C);
}

static void test_fd(rv_kctx *k, int rms) {
    rv_rng r;
    rv_rng_init(&r, 21, (uint32_t)rms, 0);
    int N = 4, C = 9;
    size_t n = (size_t)N * C;
    nm_case c = {.k = k, .N = N, .C = C, .rms = rms};
    c.x = kt_randn(&r, n, 1), c.w = kt_randn(&r, C, 1), c.b = kt_randn(&r, C, 1);
    c.y = kt_randn(&r, n, 1), c.r = kt_randn(&r, n, 1);
    float mean[4], rstd[4], *dx = kt_randn(&r, n, 1), dw[9] = {0}, db[9] = {0};
    float *dx0 = kt_copy(dx, n);
    if (rms) {
        kt_rmsnorm_fwd(k, c.y, rstd, c.x, c.w, N, C, 1e-6f);
        kt_rmsnorm_bwd(k, dx, dw, c.r, c.x, c.w, rstd, N, C, 1); /* accum: dx0 + grad */
    } else {
        kt_layernorm_fwd(k, c.y, mean, rstd, c.x, c.w, c.b, N, C, 1e-6f);
        kt_layernorm_bwd(k, dx, dw, db, c.r, c.x, c.w, mean, rstd, N, C, 1);
    }
    for (size_t i = 0; i < n; i++) dx[i] -= dx0[i];
    const char *nx = rms ? "rmsnorm dx" : "layernorm dx", *nw = rms ? "rmsnorm dw" : "layernorm dw";
    kt_fd_check(nx, c.x, n, dx, nm_loss, &c, 1e-2f, 2e-3, 1e-2, 1000);
    kt_fd_check(nw, c.w, C, dw, nm_loss, &c, 1e-2f, 2e-3, 1e-2, 1000);
    if (!rms) kt_fd_check("layernorm db", c.b, C, db, nm_loss, &c, 1e-2f, 2e-3, 1e-2, 1000);
    /* overwrite mode gives the same gradient without the old contents */
    float *dx2 = kt_copy(dx0, n);
    if (rms) kt_rmsnorm_bwd(k, dx2, NULL, c.r, c.x, c.w, rstd, N, C, 0);
    else kt_layernorm_bwd(k, dx2, NULL, NULL, c.r, c.x, c.w, mean, rstd, N, C, 0);
    CHECK(kt_maxdiff(dx2, dx, n) < 1e-5);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(dx), free(dx0), free(dx2);
}

static void test_threads(void) {
    rv_rng r;
    rv_rng_init(&r, 21, 9, 0);
    int N = 300, C = 200;
    size_t n = (size_t)N * C;
    float *x = kt_randn(&r, n, 1), *w = kt_randn(&r, C, 1), *b = kt_randn(&r, C, 1), *dy = kt_randn(&r, n, 1);
    float *res[3][4];
    for (int t = 0; t < 3; t++) {
        rv_kctx *k = kt_ctx(t + 1);
        float *y = malloc(n * 4), *dx = malloc(n * 4), *dw = calloc(C, 4), *db = calloc(C, 4);
        float mean[300], rstd[300];
        kt_layernorm_fwd(k, y, mean, rstd, x, w, b, N, C, 1e-6f);
        kt_layernorm_bwd(k, dx, dw, db, dy, x, w, mean, rstd, N, C, 0);
        kt_rmsnorm_bwd(k, dx, dw, dy, x, w, rstd, N, C, 1);
        res[t][0] = y, res[t][1] = dx, res[t][2] = dw, res[t][3] = db;
        rvk_destroy(k);
    }
    for (int t = 1; t < 3; t++) {
        CHECK(memcmp(res[0][0], res[t][0], n * 4) == 0);
        CHECK(memcmp(res[0][1], res[t][1], n * 4) == 0);
        CHECK(memcmp(res[0][2], res[t][2], (size_t)C * 4) == 0);
        CHECK(memcmp(res[0][3], res[t][3], (size_t)C * 4) == 0);
    }
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 4; i++) free(res[t][i]);
    free(x), free(w), free(b), free(dy);
}

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(2);
        test_rms_hand(k);
        test_ln_hand(k);
        test_fd(k, 0);
        test_fd(k, 1);
        test_threads();
        rvk_destroy(k);
    }
    return check_summary("test_kernels_norm");
}
