/* AdamW, with the arithmetic of torch.optim.AdamW (single-tensor path, fp32 state). */
#include <math.h>

#include "kernels/cpu/cpu.h"

void rvk_cpu_adamw_step(rv_kctx *k, float *param, const float *grad, float *m, float *v, size_t n,
                    const rvk_adamw_hp *hp, int flags) {
    double bc1 = 1.0 - pow(hp->beta1, hp->step);
    double bc2 = 1.0 - pow(hp->beta2, hp->step);
    float step_size = (float)(hp->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (flags & RVK_ADAMW_NO_DECAY) ? 1.0f : (float)(1.0 - hp->lr * hp->weight_decay);
    float b2 = (float)hp->beta2, eps = (float)hp->eps, gs = (float)hp->grad_scale;
    float w1 = (float)(1.0 - hp->beta1), w2 = (float)(1.0 - hp->beta2);
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] * gs;
        float p = param[i] * decay;
        float mi = m[i] + w1 * (g - m[i]); /* torch lerp_(grad, 1 - beta1) */
        float vi = v[i] * b2 + w2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}
