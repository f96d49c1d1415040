/* Element-wise vector operations (residual adds, scaling) as grid-stride loops. axpy rounds the
 * product before the sum (no FMA contraction), as the CPU backend's compiled loop does, so both
 * backends give the same bits. */
#include "kernels/cuda/cuda_impl.h"

#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
                               i += (size_t)gridDim.x * blockDim.x)

__global__ void fill_k(float *x, float value, size_t n) {
    GRID_STRIDE(i, n) x[i] = value;
}
__global__ void add_k(float *y, const float *a, const float *b, size_t n) {
    GRID_STRIDE(i, n) y[i] = __fadd_rn(a[i], b[i]);
}
__global__ void axpy_k(float *y, float alpha, const float *x, size_t n) {
    GRID_STRIDE(i, n) y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
}
__global__ void scale_k(float *x, float alpha, size_t n) {
    GRID_STRIDE(i, n) x[i] = __fmul_rn(x[i], alpha);
}

void rvk_cuda_fill(rv_kctx *k, float *x, float value, size_t n) {
    if (!n) return;
    fill_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(x, value, n);
    rvk_cu_launched(k, "fill");
}
void rvk_cuda_add(rv_kctx *k, float *y, const float *a, const float *b, size_t n) {
    if (!n) return;
    add_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(y, a, b, n);
    rvk_cu_launched(k, "add");
}
void rvk_cuda_axpy(rv_kctx *k, float *y, float alpha, const float *x, size_t n) {
    if (!n) return;
    axpy_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(y, alpha, x, n);
    rvk_cu_launched(k, "axpy");
}
void rvk_cuda_scale(rv_kctx *k, float *x, float alpha, size_t n) {
    if (!n) return;
    scale_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(x, alpha, n);
    rvk_cu_launched(k, "scale");
}
