/* Row softmax with temperature (sampling). */
#include <math.h>

#include "kernels/cpu/cpu.h"

void rvk_cpu_softmax(rv_kctx *k, float *p, const float *logits, int N, int V, float temperature) {
    float invT = 1.0f / temperature;
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)N * V > RVK_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *o = p + (size_t)n * V;
        float m = -INFINITY;
        for (int j = 0; j < V; j++) m = z[j] * invT > m ? z[j] * invT : m;
        double s = 0.0;
        for (int j = 0; j < V; j++) {
            o[j] = expf(z[j] * invT - m);
            s += o[j];
        }
        float inv = (float)(1.0 / s);
        for (int j = 0; j < V; j++) o[j] *= inv;
    }
}

int rvk_cpu_token_logp(rv_kctx *k, float *logp, const float *logits, const int32_t *ids, int N, int V, rv_err *err) {
    (void)k;
    for (int n = 0; n < N; n++)
        if (ids[n] < 0 || ids[n] >= V) return rv_fail(err, "token_logp: row %d id %d is outside the vocabulary [0, %d)", n, ids[n], V);
    /* one row is a few thousand exps: sequential, so a row never depends on the others or the threads */
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float m = -INFINITY;
        for (int j = 0; j < V; j++) m = z[j] > m ? z[j] : m;
        double s = 0.0;
        for (int j = 0; j < V; j++) s += exp((double)z[j] - m);
        logp[n] = (float)((double)z[ids[n]] - m - log(s));
    }
    return 0;
}
