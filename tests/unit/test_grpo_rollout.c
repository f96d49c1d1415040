/* GRPO rollouts (train/grpo_rollout.h) on the tiny preset with random weights: n responses per
 * prompt, keyed by (uid, k), so the same prompts split across "ranks" (two calls, other slot
 * counts, another order) give the same tokens bitwise and the same log-probs (within the CPU
 * gemm's last-bit row dependence, docs/model.md); responses of one group differ (sampled); each
 * response ends at its first stop token or at max_response. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tiny_model.h"
#include "train/grpo_rollout.h"
#include "train/grpo_sequences.h"

#define NPROMPT 3
#define N 4
#define MAXR 12

int main(void) {
    rv_err e;
    tiny_model tm;
    tiny_model_open(&tm, 0, 11, 0.2f, false);
    rv_vlm *m = &tm.m;
    rv_sample s[NPROMPT];
    int32_t ids[NPROMPT * 9];
    tiny_text_prompts(s, ids, NPROMPT, 5, 1, 3);
    /* a stop token the random model emits now and then: the most common first token is not
     * needed, any id works; 7 is arbitrary */
    int32_t stop = 7;
    uint64_t uid[NPROMPT] = {10, 11, 12};
    rv_grpo_rollout_opts o = {.n = N, .max_response = MAXR, .slots = 8, .seed = 99, .stop_ids = &stop, .n_stop = 1};
    rv_gen_result all[NPROMPT * N], a[2 * N], b[N];
    CHECK(rv_grpo_rollout(m, s, uid, NPROMPT, &o, all, &e) == 0);
    /* "rank 0" takes prompts 0 and 1 with 3 slots, "rank 1" prompt 2 with 1 slot */
    rv_grpo_rollout_opts o3 = o, o1 = o;
    o3.slots = 3;
    o1.slots = 1;
    CHECK(rv_grpo_rollout(m, s, uid, 2, &o3, a, &e) == 0);
    CHECK(rv_grpo_rollout(m, s + 2, uid + 2, 1, &o1, b, &e) == 0);
    int same = 1;
    double dev = 0;
    for (int i = 0; i < NPROMPT * N; i++) {
        const rv_gen_result *x = &all[i], *y = i < 2 * N ? &a[i] : &b[i - 2 * N];
        if (x->n != y->n || memcmp(x->tokens, y->tokens, (size_t)x->n * sizeof(int32_t))) same = 0;
        for (int t = 0; same && t < x->n; t++) /* relative above 1, as test_gen_loop */
            dev = fmax(dev, fabs((double)x->logp[t] - y->logp[t]) / fmax(1.0, fabs(x->logp[t])));
        /* ends at the first stop token, or runs to max_response without one */
        int first_stop = -1;
        for (int t = 0; t < x->n; t++)
            if (x->tokens[t] == stop && first_stop < 0) first_stop = t;
        CHECK(x->stopped ? first_stop == x->n - 1 : (first_stop < 0 && x->n == MAXR));
        for (int t = 0; t < x->n; t++) CHECK(x->logp[t] <= 0 && isfinite(x->logp[t]));
    }
    CHECK(same);
    if (dev >= 1e-5) fprintf(stderr, "max relative logp difference %.3g\n", dev);
    CHECK(dev < 1e-5);
    /* sampled: the 4 responses of prompt 0 are not all the same */
    int differ = 0;
    for (int kk = 1; kk < N; kk++)
        if (all[kk].n != all[0].n || memcmp(all[kk].tokens, all[0].tokens, (size_t)all[0].n * sizeof(int32_t))) differ = 1;
    CHECK(differ);
    /* the old-policy log-probs recomputed by full forwards of prompt + response (micro-batches of
     * 5) equal the rollout's own per-token log-probs (same model): within 1e-5 relative */
    rv_grpo_seq q[NPROMPT * N];
    float *lp[NPROMPT * N];
    for (int i = 0; i < NPROMPT * N; i++) {
        rv_grpo_seq_make(&q[i], &s[i / N], &all[i]);
        lp[i] = malloc((size_t)all[i].n * sizeof(float));
        CHECK(q[i].len == s[i / N].len + all[i].n && q[i].mask[q[i].prompt_len - 1] == 0 && q[i].mask[q[i].len - 1] == 1);
    }
    CHECK(rv_grpo_logprobs(m, q, NPROMPT * N, 5, lp, &e) == 0);
    double ldev = 0;
    for (int i = 0; i < NPROMPT * N; i++)
        for (int t = 0; t < all[i].n; t++)
            ldev = fmax(ldev, fabs((double)lp[i][t] - all[i].logp[t]) / fmax(1.0, fabs(all[i].logp[t])));
    if (ldev >= 1e-5) fprintf(stderr, "recomputed log-probs: max relative difference %.3g\n", ldev);
    CHECK(ldev < 1e-5);
    for (int i = 0; i < NPROMPT * N; i++) {
        rv_grpo_seq_free(&q[i]);
        free(lp[i]);
    }
    /* another seed: other responses */
    rv_grpo_rollout_opts o2 = o;
    o2.seed = 100;
    rv_gen_result c2[NPROMPT * N];
    CHECK(rv_grpo_rollout(m, s, uid, NPROMPT, &o2, c2, &e) == 0);
    CHECK(c2[0].n != all[0].n || memcmp(c2[0].tokens, all[0].tokens, (size_t)all[0].n * sizeof(int32_t)));
    rv_gen_results_free(all, NPROMPT * N);
    rv_gen_results_free(a, 2 * N);
    rv_gen_results_free(b, N);
    rv_gen_results_free(c2, NPROMPT * N);
    tiny_model_close(&tm);
    return check_summary("test_grpo_rollout");
}
