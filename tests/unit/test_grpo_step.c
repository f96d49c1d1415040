/* One GRPO micro-batch on the model (train/grpo_step.h): the parameter gradient it accumulates
 * is the derivative of verl's actor loss (train/grpo_math.h: clipped surrogate + 0.01 low_var_kl,
 * token-mean) through the whole model, checked against a central difference of that
 * loss along a random unit direction of every parameter tensor the sequences reach (the tiny
 * preset, text-only rollouts sampled from it, so the old policy is the current one and every ratio
 * sits inside the clip range; reference log-probs shifted so the KL term is not flat). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "train/grpo_rollout.h"
#include "train/grpo_step.h"
#include "tiny_model.h"

#define NPROMPT 2
#define N 3
#define NS (NPROMPT * N)

typedef struct setup {
    rv_grpo_seq q[NS];
    float *old[NS], *ref[NS];
    double adv[NS];
    rv_grpo_loss_cfg cfg;
} setup;

static double objective(rv_vlm *m, setup *S) {
    rv_err e;
    int T = 1;
    for (int i = 0; i < NS; i++) T = S->q[i].resp_len > T ? S->q[i].resp_len : T;
    float *lp = calloc((size_t)NS * T, sizeof *lp), *old = calloc((size_t)NS * T, sizeof *old),
          *ref = calloc((size_t)NS * T, sizeof *ref);
    uint8_t *mask = calloc((size_t)NS * T, 1);
    float *row[NS];
    for (int i = 0; i < NS; i++) row[i] = lp + (size_t)i * T;
    double L = NAN;
    if (rv_grpo_logprobs(m, S->q, NS, NS, row, &e) == 0) {
        for (int i = 0; i < NS; i++) {
            memcpy(old + (size_t)i * T, S->old[i], (size_t)S->q[i].resp_len * sizeof(float));
            memcpy(ref + (size_t)i * T, S->ref[i], (size_t)S->q[i].resp_len * sizeof(float));
            memset(mask + (size_t)i * T, 1, (size_t)S->q[i].resp_len);
        }
        rv_grpo_batch b = {.n = NS, .T = T, .logp = lp, .old_logp = old, .ref_logp = ref, .adv = S->adv, .mask = mask};
        rv_grpo_stats st;
        if (rv_grpo_loss(&b, &S->cfg, 1.0, &st, NULL, &e) == 0) L = st.loss;
    }
    free(lp);
    free(old);
    free(ref);
    free(mask);
    return L;
}

int main(void) {
    rv_err e;
    tiny_model tm;
    tiny_model_open(&tm, 1, 21, 0.1f, true); /* one decoder layer: small and quick */
    rv_vlm *m = &tm.m;
    rv_weights *w = &tm.w;
    rv_kctx *k = tm.k;
    rv_sample s[NPROMPT];
    int32_t ids[NPROMPT * 6];
    tiny_text_prompts(s, ids, NPROMPT, 6, 0, 5);
    rv_rng r;
    rv_rng_init(&r, 6, 0, 0);
    int32_t stop = 9;
    uint64_t uid[NPROMPT] = {1, 2};
    rv_grpo_rollout_opts o = {.n = N, .max_response = 6, .slots = 4, .seed = 3, .stop_ids = &stop, .n_stop = 1};
    rv_gen_result res[NS];
    CHECK(rv_grpo_rollout(m, s, uid, NPROMPT, &o, res, &e) == 0);
    setup S;
    S.cfg = rv_grpo_loss_cfg_upstream();
    for (int i = 0; i < NS; i++) {
        rv_grpo_seq_make(&S.q[i], &s[i / N], &res[i]);
        S.old[i] = malloc((size_t)res[i].n * sizeof(float));
        S.ref[i] = malloc((size_t)res[i].n * sizeof(float));
        memcpy(S.old[i], res[i].logp, (size_t)res[i].n * sizeof(float));
        for (int t = 0; t < res[i].n; t++) S.ref[i][t] = res[i].logp[t] + (float)rv_rng_range(&r, -0.5, 0.5);
        S.adv[i] = (i % 2 ? -1.0 : 1.0) * (2.0 + i);
    }
    rv_weights_zero_grads(w);
    rv_grpo_stats st;
    CHECK(rv_grpo_micro_step(m, S.q, NS, (const float *const *)S.old, (const float *const *)S.ref, S.adv, &S.cfg,
                             1.0, 0, &st, &e) == 0);
    CHECK(fabs(st.loss - objective(m, &S)) < 1e-9 * fmax(1.0, fabs(st.loss)));
    CHECK(st.pg_clipfrac == 0.0); /* on-policy: no ratio is clipped */
    float *g = malloc(w->total * sizeof(float));
    rvk_download(k, g, w->grads, w->total);
    int checked = 0, bad = 0;
    double maxan = 0;
    const double eps = 1e-2;
    for (size_t i = 0; i < w->n; i++) {
        rv_wtensor *t = &w->t[i];
        const float *gt = g + t->offset;
        double gn = 0;
        for (size_t j = 0; j < t->numel; j++) gn += fabs(gt[j]);
        if (gn == 0) continue; /* not reached by text-only sequences (the vision tower) */
        rv_rng ru;
        rv_rng_init(&ru, 77, (uint32_t)i, 0);
        float *u = malloc(t->numel * sizeof *u), *save = malloc(t->numel * sizeof *save), *p = malloc(t->numel * sizeof *p);
        double nn = 0, an = 0;
        for (size_t j = 0; j < t->numel; j++) {
            u[j] = (float)rv_rng_normal(&ru);
            nn += (double)u[j] * u[j];
        }
        for (size_t j = 0; j < t->numel; j++) {
            u[j] = (float)(u[j] / sqrt(nn));
            an += (double)gt[j] * u[j];
        }
        CHECK(rv_weights_download_tensor(w, i, save, &e) == 0);
        for (size_t j = 0; j < t->numel; j++) p[j] = save[j] + (float)eps * u[j];
        CHECK(rv_weights_upload_tensor(w, i, p, &e) == 0);
        double lp = objective(m, &S);
        for (size_t j = 0; j < t->numel; j++) p[j] = save[j] - (float)eps * u[j];
        CHECK(rv_weights_upload_tensor(w, i, p, &e) == 0);
        double lm = objective(m, &S);
        CHECK(rv_weights_upload_tensor(w, i, save, &e) == 0);
        double fd = (lp - lm) / (2 * eps), tol = 2e-2 * fmax(fabs(fd), fabs(an)) + 2e-5;
        checked++;
        if (fabs(an) > maxan) maxan = fabs(an);
        if (!(fabs(fd - an) <= tol)) {
            bad++;
            fprintf(stderr, "grad mismatch %s: analytic %.6g fd %.6g\n", t->name, an, fd);
        }
        free(u);
        free(save);
        free(p);
    }
    printf("grpo step fd check: %d tensors, %d mismatches, loss %.6g, largest directional derivative %.3g\n", checked,
           bad, st.loss, maxan);
    CHECK(maxan > 1e-2); /* the check is not vacuous against the 2e-5 absolute tolerance */
    CHECK(checked >= 8);
    CHECK(bad == 0);
    free(g);
    for (int i = 0; i < NS; i++) {
        rv_grpo_seq_free(&S.q[i]);
        free(S.old[i]);
        free(S.ref[i]);
    }
    rv_gen_results_free(res, NS);
    tiny_model_close(&tm);
    return check_summary("test_grpo_step");
}
