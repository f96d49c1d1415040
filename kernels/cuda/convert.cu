/* bf16 <-> fp32 conversions of backend buffers, with the CPU's rounding (core/half.c: nearest,
 * ties to even, NaN kept with its sign and top payload bits), so both backends store the same bits. */
#include <stdint.h>

#include "kernels/cuda/cuda_impl.h"

__device__ __forceinline__ uint16_t f32_to_bf16_bits(float f) {
    uint32_t x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) { /* NaN: truncate, keep it a NaN */
        uint16_t h = (uint16_t)(x >> 16);
        return (h & 0x7f) ? h : (uint16_t)(h | 0x40);
    }
    x += 0x7fffu + ((x >> 16) & 1u); /* ties to even; overflow carries into inf */
    return (uint16_t)(x >> 16);
}

__global__ void to_bf16_k(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = f32_to_bf16_bits(src[i]);
}

__global__ void from_bf16_k(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __uint_as_float((uint32_t)src[i] << 16);
}

void rvk_cuda_to_bf16(rv_kctx *k, rvk_bf16 *dst, const float *src, size_t n) {
    if (!n) return;
    to_bf16_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(dst, src, n);
    rvk_cu_launched(k, "f32_to_bf16");
}

void rvk_cuda_from_bf16(rv_kctx *k, float *dst, const rvk_bf16 *src, size_t n) {
    if (!n) return;
    from_bf16_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(dst, src, n);
    rvk_cu_launched(k, "bf16_to_f32");
}
