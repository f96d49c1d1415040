/* RoPE (Qwen2 half-split convention): a hand-rotated vector, the pairing (i, i + D/2), position 0
 * as identity, backward = inverse rotation (round trip and adjoint identity), finite differences,
 * in-place use and thread-count independence. */
#include "kernels_testutil.h"

static void test_hand(rv_kctx *k) {
    /* D = 4, theta = 10000: inv_freq = [1, 1/10000^(2/4)] = [1, 0.01]; at position 3 the angles are
     * [3, 0.03]. Pairs are (0,2) and (1,3):
     * y0 = 1 cos3 - 3 sin3, y2 = 3 cos3 + 1 sin3, y1 = 2 cos.03 - 4 sin.03, y3 = 4 cos.03 + 2 sin.03 */
    float x[8] = {1, 2, 3, 4, 1, 2, 3, 4}, y[8];
    int32_t pos[1] = {3};
    kt_rope_fwd(k, y, x, pos, 1, 2, 4, 10000.0f);
    double want[4] = {-1.413352520780047, 1.8791180666879925, -2.828857481741469, 4.058191135400942};
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 4; i++) CHECK_NEAR(y[h * 4 + i], want[i], 2e-6);
    /* a unit vector in element 0 only moves within the pair (0, D/2) */
    float e[8] = {1, 0, 0, 0, 0, 0, 0, 0}, ye[8];
    int32_t p5[1] = {5};
    kt_rope_fwd(k, ye, e, p5, 1, 1, 8, 10000.0f);
    CHECK_NEAR(ye[0], cos(5.0), 1e-6);
    CHECK_NEAR(ye[4], sin(5.0), 1e-6);
    CHECK(ye[1] == 0 && ye[2] == 0 && ye[3] == 0 && ye[5] == 0 && ye[6] == 0 && ye[7] == 0);
    /* position 0 is the identity */
    int32_t p0[1] = {0};
    kt_rope_fwd(k, y, x, p0, 1, 2, 4, 1e6f);
    CHECK(memcmp(x, y, sizeof x) == 0);
}

typedef struct {
    rv_kctx *k;
    float *x, *y, *r;
    int32_t *pos;
    int T, H, D;
} rope_case;

static double rope_loss(void *ud) {
    rope_case *c = ud;
    kt_rope_fwd(c->k, c->y, c->x, c->pos, c->T, c->H, c->D, 1e6f);
    return kt_dotd(c->y, c->r, (size_t)c->T * c->H * c->D);
}

static void test_grad(rv_kctx *k) {
    rv_rng r;
    rv_rng_init(&r, 41, 0, 0);
    int T = 5, H = 3, D = 16;
    size_t n = (size_t)T * H * D;
    int32_t pos[5] = {0, 1, 7, 100, 4095};
    rope_case c = {.k = k, .T = T, .H = H, .D = D, .pos = pos};
    c.x = kt_randn(&r, n, 1), c.y = malloc(n * 4), c.r = kt_randn(&r, n, 1);
    float *dx = malloc(n * 4);
    kt_rope_bwd(k, dx, c.r, pos, T, H, D, 1e6f);
    kt_fd_check("rope dx", c.x, n, dx, rope_loss, &c, 1e-2f, 1e-3, 1e-3, 1000);
    /* adjoint: <R x, r> = <x, R^T r>; round trip R^T R x = x */
    kt_rope_fwd(k, c.y, c.x, pos, T, H, D, 1e6f);
    CHECK_NEAR(kt_dotd(c.y, c.r, n), kt_dotd(c.x, dx, n), 1e-4);
    float *back = malloc(n * 4);
    kt_rope_bwd(k, back, c.y, pos, T, H, D, 1e6f);
    CHECK(kt_maxdiff(back, c.x, n) < 1e-5);
    /* in place gives the same result */
    float *inpl = kt_copy(c.x, n);
    kt_rope_fwd(k, inpl, inpl, pos, T, H, D, 1e6f);
    CHECK(memcmp(inpl, c.y, n * 4) == 0);
    /* thread count, on a shape large enough to use several threads */
    rv_kctx *k1 = kt_ctx(1), *k3 = kt_ctx(3);
    size_t nb = 200 * 4 * 64;
    int32_t *pb = malloc(200 * sizeof(int32_t));
    for (int t = 0; t < 200; t++) pb[t] = 37 * t;
    float *xb = kt_randn(&r, nb, 1), *y1 = malloc(nb * 4), *y3 = malloc(nb * 4);
    kt_rope_fwd(k1, y1, xb, pb, 200, 4, 64, 1e6f);
    kt_rope_fwd(k3, y3, xb, pb, 200, 4, 64, 1e6f);
    CHECK(memcmp(y1, y3, nb * 4) == 0);
    float *y2 = malloc(nb * 4); /* k runs 2 threads */
    kt_rope_fwd(k, y2, xb, pb, 200, 4, 64, 1e6f);
    CHECK(memcmp(y1, y2, nb * 4) == 0);
    free(y2);
    free(pb), free(xb);
    rvk_destroy(k1), rvk_destroy(k3);
    free(c.x), free(c.y), free(c.r), free(dx), free(back), free(inpl), free(y1), free(y3);
}

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(2);
        test_hand(k);
        test_grad(k);
        rvk_destroy(k);
    }
    return check_summary("test_kernels_rope");
}
