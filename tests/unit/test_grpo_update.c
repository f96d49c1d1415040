/* The GRPO actor update (train/grpo_update.h) on the tiny preset: rollouts sampled from the model,
 * a synthetic reward, group advantages, then one update of 2 mini-batches (2 AdamW steps) of
 * micro-batches of 2: the policy-gradient objective sum_i A_i sum_t log pi(y_it) must rise (the
 * update moves toward responses with positive advantage and away from the others), the stats
 * must show 2 optimizer steps, none skipped, and the first micro-batches on-policy (ratio 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/grpo_rollout.h"
#include "train/grpo_update.h"
#include "train/param_groups.h"
#include "tiny_model.h"

#define NPROMPT 2
#define N 4
#define NS (NPROMPT * N)

static double objective(rv_vlm *m, const rv_grpo_seq *q, const double *adv) {
    rv_err e;
    float *lp[NS];
    for (int i = 0; i < NS; i++) lp[i] = malloc((size_t)(q[i].resp_len ? q[i].resp_len : 1) * sizeof(float));
    double J = NAN;
    if (rv_grpo_logprobs(m, q, NS, NS, lp, &e) == 0) {
        J = 0;
        for (int i = 0; i < NS; i++)
            for (int t = 0; t < q[i].resp_len; t++) J += adv[i] * lp[i][t];
    }
    for (int i = 0; i < NS; i++) free(lp[i]);
    return J;
}

int main(void) {
    rv_err e;
    tiny_model tm;
    tiny_model_open(&tm, 1, 31, 0.1f, true);
    rv_vlm *m = &tm.m;
    rv_pg_config pc = {.lr = {1e-3, 1e-3, 1e-3}, .weight_decay = 0.01};
    for (int p = 0; p < RV_PART_COUNT; p++) pc.trainable[p] = true;
    rv_param_groups pg;
    CHECK(rv_param_groups_build(&pg, &tm.w, &pc, &e) == 0);
    rv_optim_cfg oc = rv_optim_cfg_upstream();
    oc.weight_decay = 0.01;
    rv_optim *opt = NULL;
    const rv_comm *dp = rv_comm_world();
    CHECK(rv_optim_create(&opt, &tm.w, &pg, dp, &oc, &e) == 0);

    rv_sample s[NPROMPT];
    int32_t ids[NPROMPT * 6];
    tiny_text_prompts(s, ids, NPROMPT, 6, 0, 8);
    int32_t stop = 9;
    uint64_t uid[NPROMPT] = {0, 1};
    rv_grpo_rollout_opts o = {.n = N, .max_response = 8, .slots = 8, .seed = 4, .stop_ids = &stop, .n_stop = 1};
    rv_gen_result res[NS];
    CHECK(rv_grpo_rollout(m, s, uid, NPROMPT, &o, res, &e) == 0);
    /* reward: the fraction of even token ids (any function of the response will do) */
    double score[NS], adv[NS];
    int64_t group[NS];
    rv_grpo_seq q[NS];
    float *old[NS];
    for (int i = 0; i < NS; i++) {
        int even = 0;
        for (int t = 0; t < res[i].n; t++) even += res[i].tokens[t] % 2 == 0;
        score[i] = (double)even / res[i].n;
        group[i] = i / N;
        rv_grpo_seq_make(&q[i], &s[i / N], &res[i]);
        old[i] = res[i].logp;
    }
    CHECK(rv_grpo_advantages(score, group, NS, RV_GRPO_ADV_EPS, adv, &e) == 0);
    double anorm = 0;
    for (int i = 0; i < NS; i++) anorm += fabs(adv[i]);
    CHECK(anorm > 0.5); /* the rewards differ within the groups */
    double J0 = objective(m, q, adv);
    rv_grpo_update_cfg uc = {.mini_batches = 2, .micro = 2, .loss = rv_grpo_loss_cfg_upstream()};
    rv_grpo_update_stats st;
    CHECK(rv_grpo_update(m, opt, dp, q, NS, (const float *const *)old, (const float *const *)old, adv, &uc, 1.0,
                         &st, &e) == 0);
    double J1 = objective(m, q, adv);
    printf("sum A log pi: %.6g -> %.6g; pg_loss %.4g, ppo_kl %.3g, clipfrac %.3g, grad norm %.4g\n", J0, J1, st.pg_loss,
           st.ppo_kl, st.pg_clipfrac, st.grad_norm);
    CHECK(J1 > J0 + 1e-3);
    CHECK(st.optimizer_steps == 2 && st.skipped == 0 && isfinite(st.grad_norm) && st.grad_norm > 0);
    /* a bad split is refused */
    uc.mini_batches = 3;
    CHECK(rv_grpo_update(m, opt, dp, q, NS, (const float *const *)old, NULL, adv, &uc, 1.0, &st, &e) == -1 &&
          strstr(e.msg, "mini-batches"));
    for (int i = 0; i < NS; i++) rv_grpo_seq_free(&q[i]);
    rv_gen_results_free(res, NS);
    rv_optim_free(opt);
    rv_param_groups_free(&pg);
    tiny_model_close(&tm);
    return check_summary("test_grpo_update");
}
