/* Row gather (embedding), scatter-add backward with repeated ids, row scatter, index errors and
 * thread-count independence of the scatter-add. */
#include "kernels_testutil.h"

static void test_hand(rv_kctx *k) {
    float table[12] = {0, 0, 0, 1, 10, 100, 2, 20, 200, 3, 30, 300}; /* row i = [i, 10i, 100i] */
    int32_t ids[4] = {2, -1, 0, 2};
    float out[12];
    rv_err err;
    CHECK(kt_embedding_fwd(k, out, table, ids, 4, 3, 4, &err) == 0);
    float want[12] = {2, 20, 200, 0, 0, 0, 0, 0, 0, 2, 20, 200};
    CHECK(memcmp(out, want, sizeof want) == 0);
    /* backward: row 2 gets dout[0] + dout[3], row 0 gets dout[2], the placeholder nothing */
    float dout[12] = {1, 1, 1, 5, 5, 5, 2, 2, 2, 3, 3, 3};
    float dt[12] = {0, 0, 0, 0, 0, 0, 0.5f, 0.5f, 0.5f, 0, 0, 0};
    CHECK(kt_embedding_bwd(k, dt, dout, ids, 4, 3, 4, &err) == 0);
    float wantd[12] = {2, 2, 2, 0, 0, 0, 4.5f, 4.5f, 4.5f, 0, 0, 0};
    CHECK(memcmp(dt, wantd, sizeof wantd) == 0);
    /* out of range ids are reported with their row */
    int32_t bad[3] = {0, 1, 4};
    CHECK(kt_embedding_fwd(k, out, table, bad, 3, 3, 4, &err) == -1);
    CHECK(strstr(err.msg, "row 2") != NULL);
    CHECK(kt_embedding_bwd(k, dt, dout, bad, 3, 3, 4, &err) == -1);
    /* row scatter: dst rows 4 and 1 are overwritten, the others kept */
    float dst[15], src[6] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 15; i++) dst[i] = -1;
    int32_t idx[2] = {4, 1};
    CHECK(kt_rows_scatter(k, dst, idx, src, 2, 3, 5, &err) == 0);
    CHECK(dst[12] == 1 && dst[13] == 2 && dst[14] == 3 && dst[3] == 4 && dst[5] == 6 && dst[0] == -1 && dst[9] == -1);
    int32_t idx_bad[1] = {5};
    CHECK(kt_rows_scatter(k, dst, idx_bad, src, 1, 3, 5, &err) == -1);
}

static void test_threads(void) {
    rv_rng r;
    rv_rng_init(&r, 61, 0, 0);
    int T = 500, C = 200, V = 7;
    float *dout = kt_randn(&r, (size_t)T * C, 1);
    int32_t *ids = malloc(T * sizeof(int32_t));
    for (int t = 0; t < T; t++) ids[t] = (int32_t)rv_rng_below(&r, V + 1) - 1; /* -1..V-1 */
    float *res[3];
    rv_err err;
    for (int t = 0; t < 3; t++) {
        rv_kctx *k = kt_ctx(t + 1);
        res[t] = calloc((size_t)V * C, 4);
        CHECK(kt_embedding_bwd(k, res[t], dout, ids, T, C, V, &err) == 0);
        rvk_destroy(k);
    }
    CHECK(memcmp(res[0], res[1], (size_t)V * C * 4) == 0);
    CHECK(memcmp(res[0], res[2], (size_t)V * C * 4) == 0);
    /* against a serial double sum */
    double worst = 0;
    for (int v = 0; v < V; v++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int t = 0; t < T; t++)
                if (ids[t] == v) s += dout[(size_t)t * C + c];
            worst = fmax(worst, fabs(s - res[0][(size_t)v * C + c]));
        }
    CHECK(worst < 1e-4);
    for (int t = 0; t < 3; t++) free(res[t]);
    free(dout), free(ids);
}

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(2);
        test_hand(k);
        test_threads();
        rvk_destroy(k);
    }
    return check_summary("test_kernels_embedding");
}
