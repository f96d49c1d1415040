/* The attention backward's pre-pass, shared by the GEMM path (attention.cu) and the fused kernels
 * (attention_flash.cu, also compiled as host C++ by tests/gpu/flash_emu.cpp): static, so each
 * file keeps its own copy of the one definition. */
#ifndef RADVLM_KERNELS_CUDA_ATTENTION_DSUM_CUH
#define RADVLM_KERNELS_CUDA_ATTENTION_DSUM_CUH

/* Dsum[row] = dout[row, :] . out[row, :] over D, one warp per (token, head) row */
static __global__ void attn_dsum_k(float *dsum, const float *dout, const float *out, size_t rows, int D) {
    size_t w = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (w >= rows) return;
    const float *a = dout + w * D, *c = out + w * D;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s = fmaf(a[d], c[d], s);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) dsum[w] = s;
}

#endif
