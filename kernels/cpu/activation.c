/* GELU (tanh and erf), SiLU and SwiGLU, forward and backward (model.md §8.2 formulas). */
#include <math.h>

#include "kernels/cpu/cpu.h"

#define GELU_C 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_A 0.044715f
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT2PI 0.3989422804014327f

void rvk_cpu_gelu_fwd(rv_kctx *k, float *y, const float *x, size_t n, rvk_gelu_kind kind) {
    if (kind == RVK_GELU_TANH) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(GELU_C * (v + GELU_A * v * v * v)));
        }
    } else {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + erff(v * INV_SQRT2));
        }
    }
}

void rvk_cpu_gelu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n,
                  rvk_gelu_kind kind, int accum) {
    if (kind == RVK_GELU_TANH) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float v = x[i], g = dy[i];
            float t = tanhf(GELU_C * (v + GELU_A * v * v * v));
            float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
            dx[i] = accum ? dx[i] + g * d : g * d;
        }
    } else {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float v = x[i], g = dy[i];
            float d = 0.5f * (1.0f + erff(v * INV_SQRT2)) + v * expf(-0.5f * v * v) * INV_SQRT2PI;
            dx[i] = accum ? dx[i] + g * d : g * d;
        }
    }
}

static inline float sigmoidf_(float v) { return 1.0f / (1.0f + expf(-v)); }

void rvk_cpu_silu_fwd(rv_kctx *k, float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf_(x[i]);
}

void rvk_cpu_silu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, int accum) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i], s = sigmoidf_(v);
        float d = dy[i] * s * (1.0f + v * (1.0f - s));
        dx[i] = accum ? dx[i] + d : d;
    }
}

void rvk_cpu_swiglu_fwd(rv_kctx *k, float *h, const float *g, const float *u, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float gv = g[i], uv = u[i];
        h[i] = gv * sigmoidf_(gv) * uv;
    }
}

void rvk_cpu_swiglu_bwd(rv_kctx *k, float *dg, float *du, const float *dh, const float *g,
                    const float *u, size_t n, int accum) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float gv = g[i], uv = u[i], d = dh[i];
        float s = sigmoidf_(gv);
        float dgv = d * uv * s * (1.0f + gv * (1.0f - s));
        float duv = d * gv * s;
        if (dg) dg[i] = accum ? dg[i] + dgv : dgv;
        if (du) du[i] = accum ? du[i] + duv : duv;
    }
}
