/* LayerNorm (SigLIP) and RMSNorm (Qwen2), forward and backward. Row statistics are accumulated in
 * double by one thread per row; parameter gradients are column reductions in row order. */
#include <math.h>

#include "kernels/cpu/cpu.h"

void rvk_cpu_layernorm_fwd(rv_kctx *k, float *y, float *mean, float *rstd, const float *x,
                       const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)N * C > RVK_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *yr = y + (size_t)n * C;
        double s = 0.0;
        for (int c = 0; c < C; c++) s += xr[c];
        float mu = (float)(s / C);
        double v = 0.0;
        for (int c = 0; c < C; c++) {
            double d = (double)xr[c] - mu;
            v += d * d;
        }
        float rs = (float)(1.0 / sqrt(v / C + (double)eps));
        for (int c = 0; c < C; c++) {
            float xh = (xr[c] - mu) * rs;
            yr[c] = xh * w[c] + (b ? b[c] : 0.0f);
        }
        if (mean) mean[n] = mu;
        if (rstd) rstd[n] = rs;
    }
}

void rvk_cpu_layernorm_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy,
                       const float *x, const float *w, const float *mean, const float *rstd,
                       int N, int C, int accum) {
    int nt = rvk_threads(k);
    if (dx) {
#pragma omp parallel for schedule(static) num_threads(nt) if ((size_t)N * C > RVK_PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * C, *dyr = dy + (size_t)n * C;
            float *dxr = dx + (size_t)n * C;
            float mu = mean[n], rs = rstd[n];
            double sg = 0.0, sgx = 0.0;
            for (int c = 0; c < C; c++) {
                float g = dyr[c] * w[c];
                sg += g;
                sgx += (double)g * ((xr[c] - mu) * rs);
            }
            float mg = (float)(sg / C), mgx = (float)(sgx / C);
            for (int c = 0; c < C; c++) {
                float xh = (xr[c] - mu) * rs;
                float d = (dyr[c] * w[c] - mg - xh * mgx) * rs;
                dxr[c] = accum ? dxr[c] + d : d;
            }
        }
    }
    if (dw || db) {
        int ntiles = (C + RVK_COL_TILE - 1) / RVK_COL_TILE;
#pragma omp parallel for schedule(static) num_threads(nt) if ((size_t)N * C > RVK_PAR_MIN)
        for (int t = 0; t < ntiles; t++) {
            int c0 = t * RVK_COL_TILE, c1 = c0 + RVK_COL_TILE < C ? c0 + RVK_COL_TILE : C;
            float aw[RVK_COL_TILE] = {0}, ab[RVK_COL_TILE] = {0};
            for (int n = 0; n < N; n++) {
                const float *xr = x + (size_t)n * C, *dyr = dy + (size_t)n * C;
                float mu = mean[n], rs = rstd[n];
                for (int c = c0; c < c1; c++) {
                    aw[c - c0] += dyr[c] * ((xr[c] - mu) * rs);
                    ab[c - c0] += dyr[c];
                }
            }
            for (int c = c0; c < c1; c++) {
                if (dw) dw[c] += aw[c - c0];
                if (db) db[c] += ab[c - c0];
            }
        }
    }
}

void rvk_cpu_rmsnorm_fwd(rv_kctx *k, float *y, float *rstd, const float *x, const float *w,
                     int N, int C, float eps) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)N * C > RVK_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *yr = y + (size_t)n * C;
        double s = 0.0;
        for (int c = 0; c < C; c++) s += (double)xr[c] * xr[c];
        float rs = (float)(1.0 / sqrt(s / C + (double)eps));
        /* HF order: normalize, then multiply by the weight */
        for (int c = 0; c < C; c++) yr[c] = w[c] * (xr[c] * rs);
        if (rstd) rstd[n] = rs;
    }
}

void rvk_cpu_rmsnorm_bwd(rv_kctx *k, float *dx, float *dw, const float *dy, const float *x,
                     const float *w, const float *rstd, int N, int C, int accum) {
    int nt = rvk_threads(k);
    if (dx) {
#pragma omp parallel for schedule(static) num_threads(nt) if ((size_t)N * C > RVK_PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * C, *dyr = dy + (size_t)n * C;
            float *dxr = dx + (size_t)n * C;
            float rs = rstd[n];
            double sgx = 0.0;
            for (int c = 0; c < C; c++) sgx += (double)(dyr[c] * w[c]) * xr[c];
            float k3 = (float)(sgx / C) * rs * rs * rs;
            for (int c = 0; c < C; c++) {
                float d = rs * (dyr[c] * w[c]) - xr[c] * k3;
                dxr[c] = accum ? dxr[c] + d : d;
            }
        }
    }
    if (dw) {
        int ntiles = (C + RVK_COL_TILE - 1) / RVK_COL_TILE;
#pragma omp parallel for schedule(static) num_threads(nt) if ((size_t)N * C > RVK_PAR_MIN)
        for (int t = 0; t < ntiles; t++) {
            int c0 = t * RVK_COL_TILE, c1 = c0 + RVK_COL_TILE < C ? c0 + RVK_COL_TILE : C;
            float aw[RVK_COL_TILE] = {0};
            for (int n = 0; n < N; n++) {
                const float *xr = x + (size_t)n * C, *dyr = dy + (size_t)n * C;
                float rs = rstd[n];
                for (int c = c0; c < c1; c++) aw[c - c0] += dyr[c] * (xr[c] * rs);
            }
            for (int c = c0; c < c1; c++) dw[c] += aw[c - c0];
        }
    }
}
