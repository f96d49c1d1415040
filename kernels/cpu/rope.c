/* Rotary position embedding, Qwen2/HF convention: pairs (i, i + D/2), angles in fp32 exactly as
 * transformers computes them (inv_freq = 1 / theta^(float(2i)/D); angle = float(pos) * inv_freq). */
#include <math.h>

#include "kernels/cpu/cpu.h"

/* dir = +1: rotate by +angle (forward); -1: by -angle (backward, the transpose). */
static void rope_apply(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H,
                       int D, float theta, float dir) {
    int half = D / 2;
    if (T <= 0 || half <= 0) return;
    float *inv = rvk_cpu_scratch(k, (size_t)half * sizeof(float));
    for (int i = 0; i < half; i++) inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)D);
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)T * H * D > RVK_PAR_MIN)
    for (int t = 0; t < T; t++) {
        float p = (float)pos[t];
        for (int i = 0; i < half; i++) {
            float ang = p * inv[i];
            float c = cosf(ang), s = dir * sinf(ang);
            for (int h = 0; h < H; h++) {
                size_t base = ((size_t)t * H + h) * D;
                float a = x[base + i], b = x[base + i + half];
                y[base + i] = a * c - b * s;
                y[base + i + half] = b * c + a * s;
            }
        }
    }
}

void rvk_cpu_rope_fwd(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D,
                  float theta) {
    rope_apply(k, y, x, pos, T, H, D, theta, 1.0f);
}

void rvk_cpu_rope_bwd(rv_kctx *k, float *dx, const float *dy, const int32_t *pos, int T, int H,
                  int D, float theta) {
    rope_apply(k, dx, dy, pos, T, H, D, theta, -1.0f);
}
