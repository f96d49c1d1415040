/* AdamW with the CPU backend's exact arithmetic (kernels/cpu/adamw.c, torch.optim.AdamW's
 * single-tensor path): the per-step scalars are formed on the host in double exactly as there,
 * and every fp32 operation uses a round-to-nearest intrinsic so nvcc cannot contract a multiply
 * and an add into an FMA; sqrt and division are IEEE. Same inputs -> the same bits as the CPU. */
#include <math.h>

#include "kernels/cuda/cuda_impl.h"

__global__ void adamw_k(float *param, const float *grad, float *m, float *v, size_t n, float gs, float decay,
                        float w1, float b2, float w2, float bc2_sqrt, float eps, float step_size) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float g = __fmul_rn(grad[i], gs);
        float p = __fmul_rn(param[i], decay);
        float mi = __fadd_rn(m[i], __fmul_rn(w1, __fsub_rn(g, m[i])));             /* m + w1 (g - m) */
        float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(w2, g), g)); /* v b2 + (w2 g) g */
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
        param[i] = __fsub_rn(p, __fmul_rn(step_size, __fdiv_rn(mi, denom)));
        m[i] = mi;
        v[i] = vi;
    }
}

void rvk_cuda_adamw_step(rv_kctx *k, float *param, const float *grad, float *m, float *v, size_t n,
                         const rvk_adamw_hp *hp, int flags) {
    if (!n) return;
    double bc1 = 1.0 - pow(hp->beta1, hp->step);
    double bc2 = 1.0 - pow(hp->beta2, hp->step);
    float step_size = (float)(hp->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (flags & RVK_ADAMW_NO_DECAY) ? 1.0f : (float)(1.0 - hp->lr * hp->weight_decay);
    float b2 = (float)hp->beta2, eps = (float)hp->eps, gs = (float)hp->grad_scale;
    float w1 = (float)(1.0 - hp->beta1), w2 = (float)(1.0 - hp->beta2);
    adamw_k<<<rvk_cu_grid(n), RVK_CU_THREADS, 0, rvk_cu_stream(k)>>>(param, grad, m, v, n, gs, decay, w1, b2, w2,
                                                                      bc2_sqrt, eps, step_size);
    rvk_cu_launched(k, "adamw step");
}
