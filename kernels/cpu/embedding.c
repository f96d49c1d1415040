/* Row gather (embedding lookup), deterministic scatter-add (its backward) and row scatter. */
#include <string.h>

#include "kernels/cpu/cpu.h"

static int check_ids(const int32_t *ids, int T, int V, const char *what, rv_err *err) {
    for (int t = 0; t < T; t++)
        if (ids[t] >= V)
            return rv_fail(err, "%s: index %d at row %d is outside the table of %d rows; check the "
                                "tokenizer/vocabulary size against the model", what, ids[t], t, V);
    return 0;
}

int rvk_cpu_embedding_fwd(rv_kctx *k, float *out, const float *table, const int32_t *ids, int T,
                      int C, int V, rv_err *err) {
    if (check_ids(ids, T, V, "embedding", err) != 0) return -1;
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)T * C > RVK_PAR_MIN)
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * C;
        if (ids[t] < 0) memset(o, 0, (size_t)C * sizeof(float));
        else memcpy(o, table + (size_t)ids[t] * C, (size_t)C * sizeof(float));
    }
    return 0;
}

int rvk_cpu_embedding_bwd(rv_kctx *k, float *dtable, const float *dout, const int32_t *ids, int T,
                      int C, int V, rv_err *err) {
    if (check_ids(ids, T, V, "embedding backward", err) != 0) return -1;
    int ntiles = (C + RVK_COL_TILE - 1) / RVK_COL_TILE;
    /* a column tile per thread, rows in increasing t: repeated ids add in a fixed order */
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)T * C > RVK_PAR_MIN)
    for (int tile = 0; tile < ntiles; tile++) {
        int c0 = tile * RVK_COL_TILE, c1 = c0 + RVK_COL_TILE < C ? c0 + RVK_COL_TILE : C;
        for (int t = 0; t < T; t++) {
            if (ids[t] < 0) continue;
            float *d = dtable + (size_t)ids[t] * C;
            const float *g = dout + (size_t)t * C;
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
    return 0;
}

int rvk_cpu_rows_scatter(rv_kctx *k, float *dst, const int32_t *idx, const float *src, int n,
                     int C, int R, rv_err *err) {
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= R)
            return rv_fail(err, "rows scatter: index %d at row %d is outside [0, %d)", idx[i], i, R);
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)n * C > RVK_PAR_MIN)
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)idx[i] * C, src + (size_t)i * C, (size_t)C * sizeof(float));
    return 0;
}
