/* Rotary position embedding (Qwen2/HF half-split pairs). The inverse frequencies are computed on
 * the host with the CPU backend's expression (1 / powf(theta, float(2i) / D)), so both backends
 * rotate by the same fp32 angles pos * inv[i]; only cosf/sinf differ (device: <= 2 ulp). Cached
 * per context for the last (theta, D). One thread per (token, head, pair); in place allowed (a
 * thread reads its pair before writing it). */
#include <math.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"

__global__ void rope_k(float *y, const float *x, const int32_t *pos, const float *inv, int T, int H, int D,
                       float dir) {
    int half = D / 2;
    size_t n = (size_t)T * H * half;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(e % half);
        size_t th = e / half; /* t * H + h */
        int t = (int)(th / H);
        float ang = (float)pos[t] * inv[i];
        float c = cosf(ang), s = dir * sinf(ang);
        size_t base = th * D;
        float a = x[base + i], b = x[base + i + half];
        y[base + i] = a * c - b * s;
        y[base + i + half] = b * c + a * s;
    }
}

static const float *inv_freq(rv_kctx *k, int D, float theta) {
    rvk_cuda *c = rvk_cu(k);
    if (c->rope_inv && c->rope_D == D && c->rope_theta == theta) return c->rope_inv;
    int half = D / 2;
    float *h = (float *)rv_xmalloc((size_t)half * sizeof(float));
    for (int i = 0; i < half; i++) h[i] = 1.0f / powf(theta, (float)(2 * i) / (float)D);
    if (c->rope_inv) rvk_cu_check(k, cudaFreeAsync(c->rope_inv, c->stream), "freeing rope frequencies");
    c->rope_inv = NULL;
    void *d = NULL;
    if (rvk_cu_check(k, cudaMallocAsync(&d, (size_t)half * sizeof(float), c->stream), "allocating rope frequencies")) {
        free(h);
        return NULL;
    }
    rvk_cu_put(k, d, h, (size_t)half * sizeof(float)); /* pageable source: staged before return */
    free(h);
    c->rope_inv = (float *)d;
    c->rope_D = D;
    c->rope_theta = theta;
    return c->rope_inv;
}

static void rope_apply(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D, float theta,
                       float dir) {
    if (T <= 0 || H <= 0 || D / 2 <= 0) return;
    const float *inv = inv_freq(k, D, theta);
    if (!inv) return;
    size_t n = (size_t)T * H * (D / 2);
    rope_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(y, x, pos, inv, T, H, D, dir);
    rvk_cu_launched(k, "rope");
}

void rvk_cuda_rope_fwd(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D, float theta) {
    rope_apply(k, y, x, pos, T, H, D, theta, 1.0f);
}

void rvk_cuda_rope_bwd(rv_kctx *k, float *dx, const float *dy, const int32_t *pos, int T, int H, int D,
                       float theta) {
    rope_apply(k, dx, dy, pos, T, H, D, theta, -1.0f);
}
