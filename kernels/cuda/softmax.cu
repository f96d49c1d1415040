/* Row softmax with temperature (sampling) and the per-token log-prob of a chosen id. One block per
 * row; max and sums are block reductions with a fixed tree (deterministic; not the CPU's
 * sequential order, so last bits differ). token_logp sums in double like the CPU backend. Its ids
 * are validated on a host copy (a sync), as the CPU backend validates them on the data. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"

__global__ void softmax_k(float *p, const float *logits, int V, float invT) {
    __shared__ float shf[32];
    const float *z = logits + (size_t)blockIdx.x * V;
    float *o = p + (size_t)blockIdx.x * V;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, z[j] * invT);
    m = rvk_block_max(m, shf);
    float s = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float e = expf(z[j] * invT - m);
        o[j] = e; /* in place allowed: element j is read, then written, by this thread only */
        s += e;
    }
    s = rvk_block_sum(s, shf);
    float inv = 1.0f / s;
    for (int j = threadIdx.x; j < V; j += blockDim.x) o[j] *= inv;
}

__global__ void token_logp_k(float *logp, const float *logits, const int32_t *ids, int V) {
    __shared__ float shf[32];
    __shared__ double shd[32];
    const float *z = logits + (size_t)blockIdx.x * V;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, z[j]);
    m = rvk_block_max(m, shf);
    double s = 0.0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) s += exp((double)z[j] - m);
    s = rvk_block_sum(s, shd);
    if (threadIdx.x == 0) logp[blockIdx.x] = (float)((double)z[ids[blockIdx.x]] - m - log(s));
}

void rvk_cuda_softmax(rv_kctx *k, float *p, const float *logits, int N, int V, float temperature) {
    if (N <= 0 || V <= 0) return;
    softmax_k<<<N, RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(p, logits, V, 1.0f / temperature);
    rvk_cu_launched(k, "softmax");
}

int rvk_cuda_token_logp(rv_kctx *k, float *logp, const float *logits, const int32_t *ids, int N, int V, rv_err *err) {
    if (N <= 0) return 0;
    int32_t *h = (int32_t *)rv_xmalloc((size_t)N * sizeof(int32_t));
    int rc = rvk_cu_fetch(k, h, ids, (size_t)N * sizeof(int32_t), err);
    for (int n = 0; rc == 0 && n < N; n++)
        if (h[n] < 0 || h[n] >= V)
            rc = rv_fail(err, "token_logp: row %d id %d is outside the vocabulary [0, %d)", n, h[n], V);
    free(h);
    if (rc) return -1;
    token_logp_k<<<N, RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(logp, logits, ids, V);
    rvk_cu_launched(k, "token log-prob");
    return 0;
}
