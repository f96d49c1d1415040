/* Linear layer and sgemm: a hand-computed forward, finite-difference gradients, the accumulate
 * convention, transposed gemm against a naive loop, thread-count independence, and the GELU-fused
 * linear ops (rvk_matmul_gelu_fwd / rvk_matmul_bwd_gelu) against a double reference written here,
 * finite differences, and (CPU) the unfused sequence they are defined as, bit for bit. */
#include "kernels_testutil.h"

typedef struct {
    rv_kctx *k;
    float *x, *w, *b, *y, *r;
    int N, C, OC;
} mm_case;

static double mm_loss(void *ud) {
    mm_case *c = ud;
    kt_matmul_fwd(c->k, c->y, c->x, c->w, c->b, c->N, c->C, c->OC);
    return kt_dotd(c->y, c->r, (size_t)c->N * c->OC);
}

static void test_hand(rv_kctx *k) {
    /* x = [[1,2,3],[4,5,6]], w = [[1,0,-1],[2,1,0]], b = [0.5,-1]
     * y[0] = [1-3+0.5, 2+2-1] = [-1.5, 3]; y[1] = [4-6+0.5, 8+5-1] = [-1.5, 12] */
    float x[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 0, -1, 2, 1, 0}, b[2] = {0.5f, -1}, y[4];
    kt_matmul_fwd(k, y, x, w, b, 2, 3, 2);
    CHECK(y[0] == -1.5f && y[1] == 3.0f && y[2] == -1.5f && y[3] == 12.0f);
    kt_matmul_fwd(k, y, x, w, NULL, 2, 3, 2);
    CHECK(y[0] == -2.0f && y[1] == 4.0f && y[2] == -2.0f && y[3] == 13.0f);
    /* dy = [[1,0],[0,1]]: dx = dy w = w rows; dw = dy^T x = x rows; db = [1,1] */
    float dy[4] = {1, 0, 0, 1}, dx[6] = {9, 9, 9, 9, 9, 9}, dw[6] = {0}, db[2] = {10, 20};
    kt_matmul_bwd(k, dx, dw, db, dy, x, w, 2, 3, 2, 0);
    CHECK(dx[0] == 1 && dx[1] == 0 && dx[2] == -1 && dx[3] == 2 && dx[4] == 1 && dx[5] == 0);
    CHECK(dw[0] == 1 && dw[2] == 3 && dw[3] == 4 && dw[5] == 6);
    CHECK(db[0] == 11 && db[1] == 21); /* parameter gradients accumulate */
    kt_matmul_bwd(k, dx, dw, NULL, dy, x, w, 2, 3, 2, 1);
    CHECK(dx[0] == 2 && dx[2] == -2 && dx[3] == 4); /* accum = 1 adds */
    CHECK(dw[0] == 2 && dw[5] == 12);
}

static void test_fd(rv_kctx *k) {
    rv_rng r;
    rv_rng_init(&r, 11, 1, 0);
    mm_case c = {.k = k, .N = 5, .C = 7, .OC = 4};
    c.x = kt_randn(&r, 35, 1), c.w = kt_randn(&r, 28, 1), c.b = kt_randn(&r, 4, 1);
    c.y = kt_randn(&r, 20, 1), c.r = kt_randn(&r, 20, 1);
    float dx[35], dw[28] = {0}, db[4] = {0};
    kt_matmul_bwd(k, dx, dw, db, c.r, c.x, c.w, 5, 7, 4, 0);
    kt_fd_check("matmul dx", c.x, 35, dx, mm_loss, &c, 1e-2f, 1e-3, 1e-3, 1000);
    kt_fd_check("matmul dw", c.w, 28, dw, mm_loss, &c, 1e-2f, 1e-3, 1e-3, 1000);
    kt_fd_check("matmul db", c.b, 4, db, mm_loss, &c, 1e-2f, 1e-3, 1e-3, 1000);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r);
}

static void test_gemm_trans(rv_kctx *k) {
    rv_rng r;
    rv_rng_init(&r, 11, 2, 0);
    int M = 6, N = 5, K = 4;
    float *A = kt_randn(&r, 24, 1), *B = kt_randn(&r, 20, 1), *C0 = kt_randn(&r, 30, 1);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float *Cm = kt_copy(C0, 30);
            kt_gemm(k, ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 2.0f, Cm, N);
            double worst = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int l = 0; l < K; l++)
                        s += (double)(ta ? A[l * M + i] : A[i * K + l]) * (tb ? B[j * K + l] : B[l * N + j]);
                    double want = 0.5 * s + 2.0 * C0[i * N + j];
                    worst = fmax(worst, fabs(want - Cm[i * N + j]));
                }
            CHECK(worst < 1e-5);
            free(Cm);
        }
    free(A), free(B), free(C0);
}

static void test_threads(void) {
    rv_rng r;
    rv_rng_init(&r, 11, 3, 0);
    int N = 600, C = 130, OC = 300; /* several 256-row tiles in every gemm */
    float *x = kt_randn(&r, (size_t)N * C, 1), *w = kt_randn(&r, (size_t)OC * C, 1);
    float *b = kt_randn(&r, OC, 1), *dy = kt_randn(&r, (size_t)N * OC, 1);
    float *out[3][4];
    for (int t = 0; t < 3; t++) {
        rv_kctx *k = kt_ctx(t + 1);
        out[t][0] = calloc((size_t)N * OC, 4), out[t][1] = calloc((size_t)N * C, 4);
        out[t][2] = calloc((size_t)OC * C, 4), out[t][3] = calloc(OC, 4);
        kt_matmul_fwd(k, out[t][0], x, w, b, N, C, OC);
        kt_matmul_bwd(k, out[t][1], out[t][2], out[t][3], dy, x, w, N, C, OC, 0);
        rvk_destroy(k);
    }
    CHECK(memcmp(out[0][0], out[1][0], (size_t)N * OC * 4) == 0);
    CHECK(memcmp(out[0][1], out[1][1], (size_t)N * C * 4) == 0);
    CHECK(memcmp(out[0][2], out[1][2], (size_t)OC * C * 4) == 0);
    CHECK(memcmp(out[0][3], out[1][3], (size_t)OC * 4) == 0);
    for (int i = 0; i < 4; i++) { /* 3 threads: tiles split unevenly over the threads */
        size_t n = i == 0 ? (size_t)N * OC : i == 1 ? (size_t)N * C : i == 2 ? (size_t)OC * C : (size_t)OC;
        CHECK(memcmp(out[0][i], out[2][i], n * 4) == 0);
    }
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 4; i++) free(out[t][i]);
    free(x), free(w), free(b), free(dy);
}

/* GELU written here from its definitions (double): tanh form (gelu_pytorch_tanh) and erf form */
static double gelu_ref(double x, rvk_gelu_kind kind) {
    if (kind == RVK_GELU_ERF) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}

typedef struct {
    rv_kctx *k;
    float *pre, *h, *w, *b, *y, *r;
    int N, I, OC;
    rvk_gelu_kind kind;
} gl_case;

/* L = sum r . (gelu(pre) w^T + b): its gradient in pre is what rvk_matmul_bwd_gelu returns as dpre */
static double gl_loss(void *ud) {
    gl_case *c = ud;
    kt_gelu_fwd(c->k, c->h, c->pre, (size_t)c->N * c->I, c->kind);
    kt_matmul_fwd(c->k, c->y, c->h, c->w, c->b, c->N, c->I, c->OC);
    return kt_dotd(c->y, c->r, (size_t)c->N * c->OC);
}

static void test_gelu_fused(rv_kctx *k, int exact) {
    rv_rng r;
    rv_rng_init(&r, 11, 4, 0);
    enum { N = 5, C = 7, I = 16, OC = 3 }; /* I a multiple of 8: the CUDA epilogue's AUX_LD rule */
    float *x = kt_randn(&r, (size_t)N * C, 1), *w1 = kt_randn(&r, (size_t)I * C, 0.6f), *b1 = kt_randn(&r, I, 1);
    float *w2 = kt_randn(&r, (size_t)OC * I, 1), *b2 = kt_randn(&r, OC, 1), *dy = kt_randn(&r, (size_t)N * OC, 1);
    for (int kind = RVK_GELU_TANH; kind <= RVK_GELU_ERF; kind++) {
        float h[N * I], pre[N * I], h2[N * I], pre2[N * I], h3[N * I];
        kt_matmul_gelu_fwd(k, h, pre, x, w1, b1, N, C, I, (rvk_gelu_kind)kind);
        kt_matmul_gelu_fwd(k, h3, NULL, x, w1, b1, N, C, I, (rvk_gelu_kind)kind); /* no pre wanted */
        double werr_pre = 0, werr_h = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < I; i++) {
                double p = b1[i];
                for (int c = 0; c < C; c++) p += (double)x[n * C + c] * w1[i * C + c];
                werr_pre = fmax(werr_pre, fabs(p - pre[n * I + i]));
                werr_h = fmax(werr_h, fabs(gelu_ref(p, (rvk_gelu_kind)kind) - h[n * I + i]));
            }
        CHECK(werr_pre < 1e-5);
        CHECK(werr_h < 1e-5);
        CHECK(kt_maxdiff(h, h3, (size_t)N * I) < 1e-6);
        /* the two GELUs really differ here (so the kind is honoured): up to ~1e-3 */
        double dk = 0;
        for (int e = 0; e < N * I; e++)
            dk = fmax(dk, fabs(gelu_ref(pre[e], RVK_GELU_TANH) - gelu_ref(pre[e], RVK_GELU_ERF)));
        CHECK(dk > 1e-5);
        if (exact) { /* the definition: rvk_matmul_fwd then rvk_gelu_fwd */
            kt_matmul_fwd(k, pre2, x, w1, b1, N, C, I);
            kt_gelu_fwd(k, h2, pre2, (size_t)N * I, (rvk_gelu_kind)kind);
            CHECK(memcmp(pre, pre2, sizeof pre) == 0 && memcmp(h, h2, sizeof h) == 0 && memcmp(h, h3, sizeof h) == 0);
        }
        /* backward through fc2 and the GELU */
        float dpre[N * I], dw[OC * I], db[OC], dpre2[N * I], dw2[OC * I], db2[OC];
        for (int e = 0; e < N * I; e++) dpre[e] = 99.0f; /* overwritten, never added to */
        for (int e = 0; e < OC * I; e++) dw[e] = dw2[e] = 0.25f;
        for (int e = 0; e < OC; e++) db[e] = db2[e] = -0.5f;
        kt_matmul_bwd_gelu(k, dpre, dw, db, dy, h, pre, w2, N, I, OC, (rvk_gelu_kind)kind);
        gl_case g = {k, kt_copy(pre, (size_t)N * I), kt_copy(h, (size_t)N * I), w2, b2, calloc((size_t)N * OC, 4),
                     dy, N, I, OC, (rvk_gelu_kind)kind};
        kt_fd_check("matmul_bwd_gelu dpre", g.pre, (size_t)N * I, dpre, gl_loss, &g, 1e-2f, 1e-3, 1e-3, 1000);
        double werr_dw = 0, werr_db = 0;
        for (int o = 0; o < OC; o++) {
            double sb = -0.5;
            for (int n = 0; n < N; n++) sb += dy[n * OC + o];
            werr_db = fmax(werr_db, fabs(sb - db[o]));
            for (int i = 0; i < I; i++) {
                double sw = 0.25;
                for (int n = 0; n < N; n++) sw += (double)dy[n * OC + o] * h[n * I + i];
                werr_dw = fmax(werr_dw, fabs(sw - dw[o * I + i]));
            }
        }
        CHECK(werr_dw < 1e-5 && werr_db < 1e-5); /* parameter gradients accumulate onto 0.25 / -0.5 */
        if (exact) { /* rvk_matmul_bwd(dx, accum 0) then rvk_gelu_bwd in place */
            kt_matmul_bwd(k, dpre2, dw2, db2, dy, h, w2, N, I, OC, 0);
            kt_gelu_bwd(k, dpre2, dpre2, pre, (size_t)N * I, (rvk_gelu_kind)kind, 0);
            CHECK(memcmp(dpre, dpre2, sizeof dpre) == 0 && memcmp(dw, dw2, sizeof dw) == 0 &&
                  memcmp(db, db2, sizeof db) == 0);
        }
        free(g.pre), free(g.h), free(g.y);
    }
    free(x), free(w1), free(b1), free(w2), free(b2), free(dy);
}

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(2);
        test_hand(k);
        test_fd(k);
        test_gemm_trans(k);
        test_threads();
        test_gelu_fused(k, strcmp(rvk_backend_name(bi), "cpu") == 0);
        rvk_destroy(k);
    }
    return check_summary("test_kernels_matmul");
}
