/* Token sampling on backend data (kernels.h "Sampling"): greedy argmax, or softmax(logits / T)
 * -> top-k -> top-p -> one draw by the shared rule (kernels/sample_rule.c: exactly the token a
 * full sort by (p desc, id asc) would give, without sorting the row; the CUDA backend applies the
 * same rule to its own probabilities). All row arithmetic is sequential (deterministic,
 * independent of the thread count). */
#include "kernels/cpu/cpu.h"
#include "kernels/sample_rule.h"

void rvk_cpu_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V, float temperature,
                int top_k, float top_p) {
    if (temperature <= 0) { /* greedy: first index of the maximum */
        for (int n = 0; n < N; n++) {
            const float *x = logits + (size_t)n * V;
            int32_t best = 0;
            for (int v = 1; v < V; v++)
                if (x[v] > x[best]) best = v;
            ids[n] = best;
        }
        return;
    }
    const size_t Vs = (size_t)V;
    char *ws = rvk_cpu_scratch(k, Vs * (sizeof(float) + sizeof(rvk_sample_cand) + 2 * sizeof(float)));
    rvk_sample_cand *c = (rvk_sample_cand *)(void *)ws;
    float *prob = (float *)(void *)(ws + Vs * sizeof(rvk_sample_cand));
    float *tail = prob + Vs;
    for (int n = 0; n < N; n++) {
        rvk_cpu_softmax(k, prob, logits + (size_t)n * V, 1, V, temperature);
        ids[n] = rvk_sample_row(prob, V, top_k, top_p, u[n], c, tail);
    }
}
