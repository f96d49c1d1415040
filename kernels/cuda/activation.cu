/* GELU (tanh and erf), SiLU and SwiGLU, forward and backward: the CPU backend's formulas
 * (kernels/cpu/activation.c) with the device's IEEE-accurate tanhf/erff/expf (no fast-math),
 * one element per thread in grid-stride loops. */
#include "kernels/cuda/cuda_impl.h"

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT2PI 0.3989422804014327f
#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
                               i += (size_t)gridDim.x * blockDim.x)

__device__ inline float sigmoid_(float v) { return 1.0f / (1.0f + expf(-v)); }

__global__ void gelu_fwd_k(float *y, const float *x, size_t n, int erf_kind) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = erf_kind ? 0.5f * v * (1.0f + erff(v * INV_SQRT2))
                        : 0.5f * v * (1.0f + tanhf(GELU_C * (v + GELU_A * v * v * v)));
    }
}

__global__ void gelu_bwd_k(float *dx, const float *dy, const float *x, size_t n, int erf_kind, int accum) {
    GRID_STRIDE(i, n) {
        float v = x[i], g = dy[i], d;
        if (erf_kind) {
            d = 0.5f * (1.0f + erff(v * INV_SQRT2)) + v * expf(-0.5f * v * v) * INV_SQRT2PI;
        } else {
            float t = tanhf(GELU_C * (v + GELU_A * v * v * v));
            d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
        }
        dx[i] = accum ? dx[i] + g * d : g * d;
    }
}

__global__ void silu_fwd_k(float *y, const float *x, size_t n) {
    GRID_STRIDE(i, n) y[i] = x[i] * sigmoid_(x[i]);
}

__global__ void silu_bwd_k(float *dx, const float *dy, const float *x, size_t n, int accum) {
    GRID_STRIDE(i, n) {
        float v = x[i], s = sigmoid_(v);
        float d = dy[i] * s * (1.0f + v * (1.0f - s));
        dx[i] = accum ? dx[i] + d : d;
    }
}

__global__ void swiglu_fwd_k(float *h, const float *g, const float *u, size_t n) {
    GRID_STRIDE(i, n) {
        float gv = g[i], uv = u[i];
        h[i] = gv * sigmoid_(gv) * uv;
    }
}

/* every input element is read before any output element of the same index is written, so
 * outputs may alias inputs (kernels.h) */
__global__ void swiglu_bwd_k(float *dg, float *du, const float *dh, const float *g, const float *u, size_t n,
                             int accum) {
    GRID_STRIDE(i, n) {
        float gv = g[i], uv = u[i], d = dh[i];
        float s = sigmoid_(gv);
        float dgv = d * uv * s * (1.0f + gv * (1.0f - s));
        float duv = d * gv * s;
        if (dg) dg[i] = accum ? dg[i] + dgv : dgv;
        if (du) du[i] = accum ? du[i] + duv : duv;
    }
}

void rvk_cuda_gelu_fwd(rv_kctx *k, float *y, const float *x, size_t n, rvk_gelu_kind kind) {
    if (!n) return;
    gelu_fwd_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(y, x, n, kind == RVK_GELU_ERF);
    rvk_cu_launched(k, "gelu forward");
}
void rvk_cuda_gelu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, rvk_gelu_kind kind,
                       int accum) {
    if (!n) return;
    gelu_bwd_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(dx, dy, x, n, kind == RVK_GELU_ERF, accum);
    rvk_cu_launched(k, "gelu backward");
}
void rvk_cuda_silu_fwd(rv_kctx *k, float *y, const float *x, size_t n) {
    if (!n) return;
    silu_fwd_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(y, x, n);
    rvk_cu_launched(k, "silu forward");
}
void rvk_cuda_silu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, int accum) {
    if (!n) return;
    silu_bwd_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(dx, dy, x, n, accum);
    rvk_cu_launched(k, "silu backward");
}
void rvk_cuda_swiglu_fwd(rv_kctx *k, float *h, const float *g, const float *u, size_t n) {
    if (!n) return;
    swiglu_fwd_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(h, g, u, n);
    rvk_cu_launched(k, "swiglu forward");
}
void rvk_cuda_swiglu_bwd(rv_kctx *k, float *dg, float *du, const float *dh, const float *g, const float *u,
                         size_t n, int accum) {
    if (!n || (!dg && !du)) return;
    swiglu_bwd_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(dg, du, dh, g, u, n, accum);
    rvk_cu_launched(k, "swiglu backward");
}
