/* Row gather (embedding lookup), its deterministic scatter-add, and row scatter (image-feature
 * placement). Index arrays are validated on a host copy (one small download and a sync per call:
 * the CPU backend's messages, returned at once). The scatter-add uses per-row ownership without
 * atomics: the host groups the rows by id (plan.c), and one block per distinct id adds its rows
 * in increasing t, the CPU backend's order, so both backends give the same bits. */
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"

__global__ void gather_rows_k(float *out, const float *table, const int32_t *ids, int T, int C) {
    size_t n = (size_t)T * C;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        int t = (int)(e / C), c = (int)(e % C), id = ids[t];
        out[e] = id < 0 ? 0.0f : table[(size_t)id * C + c];
    }
}

/* blockIdx.x: group u (table row uniq[u]); threads stride over the columns */
__global__ void scatter_add_grouped_k(float *dtable, const float *dout, const int32_t *uniq, const int32_t *off,
                                      const int32_t *rows, int C) {
    int u = blockIdx.x;
    float *d = dtable + (size_t)uniq[u] * C;
    int e0 = off[u], e1 = off[u + 1];
    for (int c = blockIdx.y * blockDim.x + threadIdx.x; c < C; c += gridDim.y * blockDim.x) {
        float acc = d[c];
        for (int e = e0; e < e1; e++) acc = __fadd_rn(acc, dout[(size_t)rows[e] * C + c]);
        d[c] = acc;
    }
}

__global__ void scatter_rows_k(float *dst, const int32_t *idx, const float *src, int n, int C) {
    size_t tot = (size_t)n * C;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < tot; e += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(e / C), c = (int)(e % C);
        dst[(size_t)idx[i] * C + c] = src[e];
    }
}

static int32_t *fetch_ids(rv_kctx *k, const int32_t *ids, int T, rv_err *err) {
    int32_t *h = (int32_t *)rv_xmalloc((size_t)(T > 0 ? T : 1) * sizeof(int32_t));
    if (rvk_cu_fetch(k, h, ids, (size_t)T * sizeof(int32_t), err) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

int rvk_cuda_embedding_fwd(rv_kctx *k, float *out, const float *table, const int32_t *ids, int T, int C, int V,
                           rv_err *err) {
    if (T <= 0) return 0;
    int32_t *h = fetch_ids(k, ids, T, err);
    if (!h) return -1;
    int rc = rvk_cuda_check_ids(h, T, V, "embedding", err);
    free(h);
    if (rc) return -1;
    if (C <= 0) return 0;
    gather_rows_k<<<rvk_cu_grid((size_t)T * C), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(out, table, ids, T, C);
    rvk_cu_launched(k, "embedding gather");
    return 0;
}

int rvk_cuda_embedding_bwd(rv_kctx *k, float *dtable, const float *dout, const int32_t *ids, int T, int C, int V,
                           rv_err *err) {
    if (T <= 0) return 0;
    int32_t *h = fetch_ids(k, ids, T, err);
    if (!h) return -1;
    /* plan: uniq [T] | off [T + 1] | rows [T], uploaded as one array */
    int32_t *plan = (int32_t *)rv_xmalloc((size_t)(3 * T + 1) * sizeof(int32_t));
    int U = rvk_cuda_group_rows(h, T, V, "embedding backward", plan, plan + T, plan + 2 * T + 1, err);
    free(h);
    if (U < 0) {
        free(plan);
        return -1;
    }
    if (U > 0 && C > 0) {
        int32_t *d = (int32_t *)rvk_cu_scratch(k, (size_t)(3 * T + 1) * sizeof(int32_t));
        if (d) {
            rvk_cu_put(k, d, plan, (size_t)(3 * T + 1) * sizeof(int32_t));
            unsigned gy = (unsigned)((C + RVK_CU_THREADS - 1) / RVK_CU_THREADS);
            scatter_add_grouped_k<<<dim3((unsigned)U, gy), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(
                dtable, dout, d, d + T, d + 2 * T + 1, C);
            rvk_cu_launched(k, "embedding scatter-add");
        }
    }
    free(plan);
    return 0;
}

int rvk_cuda_rows_scatter(rv_kctx *k, float *dst, const int32_t *idx, const float *src, int n, int C, int R,
                          rv_err *err) {
    if (n <= 0) return 0;
    int32_t *h = fetch_ids(k, idx, n, err);
    if (!h) return -1;
    int rc = rvk_cuda_check_idx_range(h, n, R, "rows scatter", err);
    free(h);
    if (rc) return -1;
    if (C <= 0) return 0;
    scatter_rows_k<<<rvk_cu_grid((size_t)n * C), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(dst, idx, src, n, C);
    rvk_cu_launched(k, "rows scatter");
    return 0;
}
