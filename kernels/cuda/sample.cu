/* Token sampling. Greedy (temperature <= 0) runs on the device: a block-wide argmax per row, the
 * first index of the maximum (ties go to the lower id, as the CPU's strict > scan). Temperature
 * sampling downloads the row logits and runs the CPU backend's algorithm (kernels/cpu/sample.c:
 * softmax, top-k, top-p, the draw) on a host context, then uploads the ids: the same token as the
 * CPU backend for the same logits, at the cost of moving [N, V] logits over PCIe per step (a
 * device top-k/top-p is open work, docs/kernels.md). */
#include <math.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"

/* (value, index) pairs: a beats b if larger, or equal with the lower index */
__device__ inline void better(float &bv, int &bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) bv = v, bi = i;
}

__global__ void argmax_k(int32_t *ids, const float *logits, int V) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const float *x = logits + (size_t)blockIdx.x * V;
    float bv = -INFINITY;
    int bi = V; /* "none": any real index beats it at equal value */
    for (int j = threadIdx.x; j < V; j += blockDim.x) better(bv, bi, x[j], j);
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        better(bv, bi, ov, oi);
    }
    int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    if (l == 0) sv[w] = bv, si[w] = bi;
    __syncthreads();
    if (w == 0) {
        bv = l < nw ? sv[l] : -INFINITY;
        bi = l < nw ? si[l] : V;
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            better(bv, bi, ov, oi);
        }
        /* all -inf (or NaN) rows: the CPU scan keeps index 0 */
        if (l == 0) ids[blockIdx.x] = bi < V ? bi : 0;
    }
}

void rvk_cuda_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V,
                     float temperature, int top_k, float top_p) {
    if (N <= 0 || V <= 0) return;
    if (temperature <= 0) {
        argmax_k<<<N, RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(ids, logits, V);
        rvk_cu_launched(k, "greedy argmax");
        return;
    }
    size_t nv = (size_t)N * V;
    float *hl = (float *)rv_xmalloc(nv * sizeof(float));
    int32_t *hi = (int32_t *)rv_xmalloc((size_t)N * sizeof(int32_t));
    rv_err e;
    if (rvk_cu_fetch(k, hl, logits, nv * sizeof(float), &e) != 0) rvk_record_error(k, &e);
    else {
        rvk_cuda *c = rvk_cu(k);
        c->host->ops->sample(c->host, hi, hl, u, N, V, temperature, top_k, top_p);
        rvk_cu_put(k, ids, hi, (size_t)N * sizeof(int32_t));
    }
    free(hl);
    free(hi);
}
