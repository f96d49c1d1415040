/* LayerNorm (SigLIP) and RMSNorm (Qwen2), forward and backward, fused per row: one block per row,
 * row statistics as fp32 block reductions (fixed tree). Parameter gradients (dw, db) are
 * deterministic two-stage column sums: per (column, chunk of rows) partials in row order, then
 * the chunks in order (chunking depends on N only), added to the accumulators. */
#include "kernels/cuda/cuda_impl.h"

#define COLSUM_MIN_ROWS 32
#define COLSUM_MAX_CHUNKS 1024

__global__ void layernorm_fwd_k(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                                int C, float eps) {
    __shared__ float sh[32];
    size_t row = blockIdx.x;
    const float *xr = x + row * C;
    float *yr = y + row * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += xr[c];
    float mu = rvk_block_sum(s, sh) / C;
    float v = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float d = xr[c] - mu;
        v += d * d;
    }
    float rs = 1.0f / sqrtf(rvk_block_sum(v, sh) / C + eps);
    /* y may alias x: each element is read then written by the same thread, after the stats */
    for (int c = threadIdx.x; c < C; c += blockDim.x) yr[c] = (xr[c] - mu) * rs * w[c] + (b ? b[c] : 0.0f);
    if (threadIdx.x == 0) {
        if (mean) mean[row] = mu;
        if (rstd) rstd[row] = rs;
    }
}

__global__ void layernorm_dx_k(float *dx, const float *dy, const float *x, const float *w, const float *mean,
                               const float *rstd, int C, int accum) {
    __shared__ float sh[32];
    size_t row = blockIdx.x;
    const float *xr = x + row * C, *dyr = dy + row * C;
    float *dxr = dx + row * C;
    float mu = mean[row], rs = rstd[row];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float g = dyr[c] * w[c];
        sg += g;
        sgx += g * ((xr[c] - mu) * rs);
    }
    float mg = rvk_block_sum(sg, sh) / C;
    float mgx = rvk_block_sum(sgx, sh) / C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float xh = (xr[c] - mu) * rs;
        float d = (dyr[c] * w[c] - mg - xh * mgx) * rs;
        dxr[c] = accum ? dxr[c] + d : d;
    }
}

__global__ void rmsnorm_fwd_k(float *y, float *rstd, const float *x, const float *w, int C, float eps) {
    __shared__ float sh[32];
    size_t row = blockIdx.x;
    const float *xr = x + row * C;
    float *yr = y + row * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += xr[c] * xr[c];
    float rs = 1.0f / sqrtf(rvk_block_sum(s, sh) / C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) yr[c] = w[c] * (xr[c] * rs); /* HF order */
    if (threadIdx.x == 0 && rstd) rstd[row] = rs;
}

__global__ void rmsnorm_dx_k(float *dx, const float *dy, const float *x, const float *w, const float *rstd, int C,
                             int accum) {
    __shared__ float sh[32];
    size_t row = blockIdx.x;
    const float *xr = x + row * C, *dyr = dy + row * C;
    float *dxr = dx + row * C;
    float rs = rstd[row];
    float sgx = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) sgx += (dyr[c] * w[c]) * xr[c];
    float k3 = rvk_block_sum(sgx, sh) / C * rs * rs * rs;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float d = rs * (dyr[c] * w[c]) - xr[c] * k3;
        dxr[c] = accum ? dxr[c] + d : d;
    }
}

/* Stage 1 of the parameter gradients: per (column c, chunk ch of `rows` rows), in row order,
 * pw = sum dy * xhat and pb = sum dy (LayerNorm: xhat = (x - mean) rstd; RMSNorm: x rstd). */
template <bool LN>
__global__ void norm_param_chunks_k(float *pw, float *pb, const float *dy, const float *x, const float *mean,
                                    const float *rstd, int N, int C, int rows) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, ch = blockIdx.y;
    if (c >= C) return;
    int r0 = ch * rows, r1 = r0 + rows < N ? r0 + rows : N;
    float aw = 0.0f, ab = 0.0f;
    for (int r = r0; r < r1; r++) {
        float g = dy[(size_t)r * C + c], xv = x[(size_t)r * C + c];
        float xh = LN ? (xv - mean[r]) * rstd[r] : xv * rstd[r];
        aw += g * xh;
        ab += g;
    }
    pw[(size_t)ch * C + c] = aw;
    if (pb) pb[(size_t)ch * C + c] = ab;
}

__global__ void norm_param_finish_k(float *dw, float *db, const float *pw, const float *pb, int C, int nch) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sw = 0.0f, sb = 0.0f;
    for (int ch = 0; ch < nch; ch++) {
        sw += pw[(size_t)ch * C + c];
        if (db) sb += pb[(size_t)ch * C + c];
    }
    if (dw) dw[c] += sw;
    if (db) db[c] += sb;
}

template <bool LN>
static void norm_params(rv_kctx *k, float *dw, float *db, const float *dy, const float *x, const float *mean,
                        const float *rstd, int N, int C) {
    if (N <= 0 || C <= 0 || (!dw && !db)) return;
    int rows = rvk_cuda_colsum_rows(N, COLSUM_MIN_ROWS, COLSUM_MAX_CHUNKS), nch = (N + rows - 1) / rows;
    float *pw = (float *)rvk_cu_scratch(k, (size_t)2 * nch * C * sizeof(float));
    if (!pw) return;
    float *pb = db ? pw + (size_t)nch * C : NULL;
    cudaStream_t s = rvk_cu_stream(k);
    unsigned gx = (unsigned)((C + RVK_CU_THREADS - 1) / RVK_CU_THREADS);
    norm_param_chunks_k<LN><<<dim3(gx, (unsigned)nch), RVK_CU_THREADS, 0, s>>>(pw, pb, dy, x, mean, rstd, N, C, rows);
    norm_param_finish_k<<<gx, RVK_CU_THREADS, 0, s>>>(dw, db, pw, pb, C, nch);
    rvk_cu_launched(k, LN ? "layernorm parameter gradients" : "rmsnorm weight gradient");
}

void rvk_cuda_layernorm_fwd(rv_kctx *k, float *y, float *mean, float *rstd, const float *x, const float *w,
                            const float *b, int N, int C, float eps) {
    if (N <= 0 || C <= 0) return;
    layernorm_fwd_k<<<N, RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(y, mean, rstd, x, w, b, C, eps);
    rvk_cu_launched(k, "layernorm forward");
}

void rvk_cuda_layernorm_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const float *mean, const float *rstd, int N, int C, int accum) {
    if (N <= 0 || C <= 0) return;
    /* the parameter sums first: dx may alias dy when !accum (kernels.h) */
    norm_params<true>(k, dw, db, dy, x, mean, rstd, N, C);
    if (dx) {
        layernorm_dx_k<<<N, RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(dx, dy, x, w, mean, rstd, C, accum);
        rvk_cu_launched(k, "layernorm backward");
    }
}

void rvk_cuda_rmsnorm_fwd(rv_kctx *k, float *y, float *rstd, const float *x, const float *w, int N, int C, float eps) {
    if (N <= 0 || C <= 0) return;
    rmsnorm_fwd_k<<<N, RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(y, rstd, x, w, C, eps);
    rvk_cu_launched(k, "rmsnorm forward");
}

void rvk_cuda_rmsnorm_bwd(rv_kctx *k, float *dx, float *dw, const float *dy, const float *x, const float *w,
                          const float *rstd, int N, int C, int accum) {
    if (N <= 0 || C <= 0) return;
    norm_params<false>(k, dw, NULL, dy, x, NULL, rstd, N, C);
    if (dx) {
        rmsnorm_dx_k<<<N, RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(dx, dy, x, w, rstd, C, accum);
        rvk_cu_launched(k, "rmsnorm backward");
    }
}
