/* Sum of squares for the global gradient norm, with the CPU backend's exact arithmetic
 * (kernels/cpu/reduce.c): each 4096-element block is summed in double in index order by one
 * thread, then the block sums are added in block order by one thread, and the total is added to
 * *acc, all with round-to-nearest intrinsics (no FMA). The same bits as the CPU backend, at the
 * price of uncoalesced loads (one thread walks a block): ~1/8 of the memory bandwidth, a few ms
 * per 7B-parameter norm. A tree reduction would be faster but give other last bits. */
#include "kernels/cuda/cuda_impl.h"

#define SUMSQ_BLOCK 4096

__global__ void sumsq_blocks_k(double *part, const float *x, size_t n, size_t nb) {
    size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (b >= nb) return;
    size_t i0 = b * SUMSQ_BLOCK, i1 = i0 + SUMSQ_BLOCK < n ? i0 + SUMSQ_BLOCK : n;
    double s = 0.0;
    for (size_t i = i0; i < i1; i++) {
        double xi = (double)x[i];
        s = __dadd_rn(s, __dmul_rn(xi, xi));
    }
    part[b] = s;
}

__global__ void sumsq_total_k(double *acc, const double *part, size_t nb) {
    double s = 0.0;
    for (size_t b = 0; b < nb; b++) s = __dadd_rn(s, part[b]);
    *acc = __dadd_rn(*acc, s);
}

void rvk_cuda_sumsq_acc(rv_kctx *k, double *acc, const float *x, size_t n) {
    if (n == 0) return;
    size_t nb = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
    double *part = (double *)rvk_cu_scratch(k, nb * sizeof(double));
    if (!part) return;
    cudaStream_t s = rvk_cu_stream(k);
    sumsq_blocks_k<<<(unsigned)((nb + RVK_CU_THREADS - 1) / RVK_CU_THREADS), RVK_CU_THREADS, 0, s>>>(part, x, n, nb);
    sumsq_total_k<<<1, 1, 0, s>>>(acc, part, nb);
    rvk_cu_launched(k, "sum of squares");
}
