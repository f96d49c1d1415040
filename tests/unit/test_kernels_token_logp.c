/* rvk_token_logp on every built backend: hand-computed rows, random rows against a long double
 * log-sum-exp, shifted logits (1000 + z: no overflow, same value), row independence (a row alone
 * equals the same row inside a batch, bitwise), and ids outside the vocabulary rejected. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "kernels_testutil.h"

static void conform(rv_kctx *k) {
    rv_err e;
    /* softmax([0, ln 3]) = [1/4, 3/4]; softmax([ln 1, ln 2, ln 5]) = [1/8, 2/8, 5/8] */
    float hand[2 * 3] = {0.0f, logf(3.0f), -INFINITY, 0.0f, logf(2.0f), logf(5.0f)};
    {
        float lp[2];
        int32_t id2[2] = {1, 0};
        CHECK(kt_token_logp(k, lp, hand, id2, 1, 2, &e) == 0);
        CHECK_NEAR(lp[0], log(0.75), 1e-6);
        float row3[3] = {0.0f, logf(2.0f), logf(5.0f)};
        int32_t ids3[3] = {0, 1, 2};
        float row3x3[9];
        for (int r = 0; r < 3; r++) memcpy(row3x3 + 3 * r, row3, sizeof row3);
        float lp3[3];
        CHECK(kt_token_logp(k, lp3, row3x3, ids3, 3, 3, &e) == 0);
        CHECK_NEAR(lp3[0], log(1.0 / 8), 1e-6);
        CHECK_NEAR(lp3[1], log(2.0 / 8), 1e-6);
        CHECK_NEAR(lp3[2], log(5.0 / 8), 1e-6);
    }
    /* random rows, a Qwen2-like vocabulary */
    enum { N = 5, V = 151936 / 4 };
    float *z = malloc((size_t)N * V * sizeof(float)), *zs = malloc((size_t)N * V * sizeof(float));
    rv_rng r;
    rv_rng_init(&r, 9, 4, 0);
    int32_t ids[N];
    for (int n = 0; n < N; n++) {
        double scale = n == 3 ? 30.0 : 4.0; /* row 3 peaked */
        for (int v = 0; v < V; v++) z[(size_t)n * V + v] = (float)(scale * rv_rng_normal(&r));
        ids[n] = (int32_t)rv_rng_below(&r, V);
    }
    ids[4] = V - 1;
    for (size_t i = 0; i < (size_t)N * V; i++) zs[i] = z[i] + 1000.0f;
    float lp[N], lps[N], one;
    CHECK(kt_token_logp(k, lp, z, ids, N, V, &e) == 0);
    CHECK(kt_token_logp(k, lps, zs, ids, N, V, &e) == 0);
    for (int n = 0; n < N; n++) {
        long double s = 0;
        for (int v = 0; v < V; v++) s += expl((long double)z[(size_t)n * V + v]);
        double want = (double)((long double)z[(size_t)n * V + ids[n]] - logl(s));
        CHECK_NEAR(lp[n], want, 1e-5 * fmax(1.0, fabs(want)));
        CHECK_NEAR(lps[n], want, 2e-4 * fmax(1.0, fabs(want))); /* 1000 + z rounds z to 2^-14 */
        CHECK(kt_token_logp(k, &one, z + (size_t)n * V, &ids[n], 1, V, &e) == 0);
        CHECK(memcmp(&one, &lp[n], sizeof one) == 0);
    }
    int32_t bad[1] = {V};
    CHECK(kt_token_logp(k, &one, z, bad, 1, V, &e) != 0 && strstr(e.msg, "outside the vocabulary"));
    bad[0] = -1;
    CHECK(kt_token_logp(k, &one, z, bad, 1, V, &e) != 0);
    free(z);
    free(zs);
}

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(1);
        conform(k);
        rvk_destroy(k);
    }
    return check_summary("test_kernels_token_logp");
}
