/* GRPO update math (src/train/grpo_math.h) against verl's own functions and hand calculations.
 *
 * Fixture tests/fixtures/grpo/grpo_verl.json, written by gen_grpo_fixture.py with verl 0.6.0
 * (= upstream's 0.5.0.dev for these functions) in torch float32: compute_grpo_outcome_advantage,
 * compute_policy_loss_vanilla per token and per micro-batch, kl_penalty(low_var_kl), agg_loss in
 * each mode, dp_actor's loss composition, autograd gradients w.r.t. logp.
 *
 * Tolerances. Ours are the exact values of the formulas (double); verl's are float32, so every
 * check allows verl's float32 rounding, propagated through the formula (u = 2^-24, one float32
 * rounding):
 *   per-token pg loss / gradient:  4u (2 + |delta|) |x|   (delta = logp - old is rounded, then exp)
 *   k3:                            4u (e^k (2 + |k|) + |k| + 1)   (exp(k) - k - 1 cancels)
 *   dk3 = 1 - e^k:                 4u (e^k (2 + |k|) + 1)
 *   advantages:                    4u (n M / (sd + eps) (1 + |A|) + |A|)   (M = max |R| of the
 *                                  group: float32 mean and std of n values)
 *   aggregates: 1e-6 of the aggregate of |terms| plus the terms' own tolerances; gradients: the
 *   token's tolerances times its weight. Clip flags and masked gradients: exact.
 * The test prints the largest error seen as a fraction of its tolerance and as a relative error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "io/json.h"
#include "train/grpo_math.h"

#define U32 (1.0 / 16777216.0) /* 2^-24 */

/* The largest error per quantity, as a fraction of its tolerance and relative to verl's value. */
static struct worst {
    const char *what;
    double frac, rel;
} worst[32];
static int n_worst;

static void track(const char *what, double got, double want, double tol) {
    int k = 0;
    while (k < n_worst && strcmp(worst[k].what, what) != 0) k++;
    if (k == n_worst) {
        if (n_worst == 32) return;
        worst[n_worst++] = (struct worst){what, 0, 0};
    }
    double e = fabs(got - want);
    if (tol > 0 && e / tol > worst[k].frac) worst[k].frac = e / tol;
    if (want != 0 && e / fabs(want) > worst[k].rel) worst[k].rel = e / fabs(want);
}

#define CHECK_TOL(got, want, tol, what, idx)                                                                   \
    do {                                                                                                       \
        double g__ = (got), w__ = (want), t__ = (tol);                                                         \
        track(what, g__, w__, t__);                                                                                  \
        if (fabs(g__ - w__) <= t__) check_passed_++;                                                           \
        else { check_failed_++; fprintf(stderr, "%s:%d: %s[%d]: got %.17g, verl %.17g (tol %g)\n", __FILE__, __LINE__, what, (int)(idx), g__, w__, t__); } \
    } while (0)

/* ---- fixture access ---------------------------------------------------------------------------- */

static cJSON *load_fixture(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/grpo/grpo_verl.json", RADVLM_SOURCE_DIR);
    rv_err err;
    cJSON *j = rv_json_parse_file(path, &err);
    if (!j) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    return j;
}

static const cJSON *get(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) { fprintf(stderr, "fixture: key \"%s\" missing (regenerate with gen_grpo_fixture.py)\n", key); exit(1); }
    return v;
}

/* A float32 array written as shortest decimals: each value rounded back to float32. */
static float *f32_array(const cJSON *o, const char *key, int n) {
    const cJSON *a = get(o, key);
    if (cJSON_GetArraySize(a) != n) { fprintf(stderr, "fixture: %s has %d values, want %d\n", key, cJSON_GetArraySize(a), n); exit(1); }
    float *x = malloc((size_t)n * sizeof *x);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) x[i++] = (float)v->valuedouble;
    return x;
}

static int *int_array(const cJSON *o, const char *key, int n) {
    const cJSON *a = get(o, key);
    if (cJSON_GetArraySize(a) != n) { fprintf(stderr, "fixture: %s has %d values, want %d\n", key, cJSON_GetArraySize(a), n); exit(1); }
    int *x = malloc((size_t)n * sizeof *x);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) x[i++] = v->valueint;
    return x;
}

static double num(const cJSON *o, const char *key) { return get(o, key)->valuedouble; }

/* ---- advantages --------------------------------------------------------------------------------- */

static void test_advantages_fixture(const cJSON *root) {
    const cJSON *c;
    int identical_nonzero = 0, cases = 0;
    cJSON_ArrayForEach(c, get(root, "advantage_cases")) {
        const char *name = get(c, "name")->valuestring;
        int n = cJSON_GetArraySize(get(c, "scores"));
        float *sc = f32_array(c, "scores", n), *verl = f32_array(c, "verl", n), *mean32 = f32_array(c, "mean32", n);
        int *idx = int_array(c, "index", n);
        double *s = malloc((size_t)n * sizeof *s), *a = malloc((size_t)n * sizeof *a);
        int64_t *g = malloc((size_t)n * sizeof *g);
        for (int i = 0; i < n; i++) s[i] = sc[i], g[i] = idx[i];
        rv_err err;
        CHECK(rv_grpo_advantages(s, g, n, num(c, "eps"), a, &err) == 0);
        for (int i = 0; i < n; i++) {
            /* the member's group: size, max |R|, whether all equal, unbiased std (independent of the
             * code under test: a direct O(n^2) pass) */
            int k = 0;
            double M = 0, sum = 0, ss = 0;
            int equal = 1;
            for (int j = 0; j < n; j++)
                if (g[j] == g[i]) {
                    k++;
                    sum += s[j];
                    if (fabs(s[j]) > M) M = fabs(s[j]);
                    if (s[j] != s[i]) equal = 0;
                }
            for (int j = 0; j < n; j++)
                if (g[j] == g[i]) ss += (s[j] - sum / k) * (s[j] - sum / k);
            double sd = k > 1 ? sqrt(ss / (k - 1)) : 1.0;
            if (k > 1 && equal) {
                /* Identical rewards: ours is exactly 0. verl's float32 torch.mean of the group,
                 * mean32, is an ulp off in about half the cases, and torch.std is taken around it:
                 * every member deviates by d = x - mean32, so std = |d| sqrt(k / (k - 1)) and verl
                 * returns d / (|d| sqrt(k / (k - 1)) + 1e-6): reproduce that to show where its noise
                 * comes from. */
                CHECK(a[i] == 0.0);
                double d = (double)sc[i] - mean32[i];
                double q = d / (fabs(d) * sqrt((double)k / (k - 1)) + 1e-6);
                CHECK_NEAR(q, verl[i], 1e-6 * fabs(q) + 1e-30);
                if (verl[i] != 0) identical_nonzero++;
                continue;
            }
            double tol = 4 * U32 * (k * M / (sd + 1e-6) * (1 + fabs(a[i])) + fabs(a[i]));
            CHECK_TOL(a[i], verl[i], tol, name, i);
        }
        free(sc), free(verl), free(mean32), free(idx), free(s), free(a), free(g);
        cases++;
    }
    CHECK(cases >= 6);
    CHECK(identical_nonzero > 0); /* the float32 artifact docs/grpo.md describes is in the fixture */
}

static void test_advantages_hand(void) {
    rv_err err;
    /* {1, 2, 3}: mean 2, unbiased std sqrt((1 + 0 + 1) / 2) = 1 -> A = (-1, 0, 1) / (1 + 1e-6) */
    double s1[3] = {1, 2, 3}, a1[3];
    int64_t g1[3] = {7, 7, 7};
    CHECK(rv_grpo_advantages(s1, g1, 3, 1e-6, a1, &err) == 0);
    CHECK_NEAR(a1[0], -1.0 / (1.0 + 1e-6), 1e-15);
    CHECK(a1[1] == 0.0);
    CHECK_NEAR(a1[2], 1.0 / (1.0 + 1e-6), 1e-15);
    /* {0, 1}: mean 0.5, std sqrt(0.5) -> A = -+0.5 / (sqrt(0.5) + 1e-6) = -+0.707105781187962;
     * a one-member group {0.7}: mean 0, std 1 -> 0.7 / (1 + 1e-6) = 0.6999993000007;
     * identical {0.1, 0.1, 0.1} (0.1 + 0.1 + 0.1 != 0.3 in double, yet A = 0 exactly);
     * the groups interleaved, ids not sorted nor adjacent. */
    double s2[6] = {0.0, 0.1, 0.7, 0.1, 1.0, 0.1}, a2[6];
    int64_t g2[6] = {-5, 3, 1000000000000LL, 3, -5, 3};
    CHECK(rv_grpo_advantages(s2, g2, 6, 1e-6, a2, &err) == 0);
    CHECK_NEAR(a2[0], -0.5 / (sqrt(0.5) + 1e-6), 1e-15);
    CHECK_NEAR(a2[4], 0.5 / (sqrt(0.5) + 1e-6), 1e-15);
    CHECK_NEAR(a2[0], -0.70710578118796164, 1e-12); /* 0.5 / 0.70710778118654757 */
    CHECK_NEAR(a2[2], 0.6999993000007, 1e-13);
    CHECK(a2[1] == 0.0 && a2[3] == 0.0 && a2[5] == 0.0);
    /* identical rewards far from 0 (a -RadCliQ-like reward): still exactly 0 */
    double s3[8], a3[8];
    int64_t g3[8];
    for (int i = 0; i < 8; i++) s3[i] = -1.1834567891234567, g3[i] = 1;
    CHECK(rv_grpo_advantages(s3, g3, 8, 1e-6, a3, &err) == 0);
    int zeros = 0;
    for (int i = 0; i < 8; i++) zeros += a3[i] == 0.0;
    CHECK(zeros == 8);
    /* out may alias scores; eps 0 (no epsilon): {2, 4} -> mean 3, std sqrt(2) -> -+1/sqrt(2) */
    double s4[2] = {2, 4};
    int64_t g4[2] = {0, 0};
    CHECK(rv_grpo_advantages(s4, g4, 2, 0.0, s4, &err) == 0);
    CHECK_NEAR(s4[0], -1 / sqrt(2.0), 1e-15);
    CHECK_NEAR(s4[1], 1 / sqrt(2.0), 1e-15);
    /* n = 0 is an empty batch, not an error */
    CHECK(rv_grpo_advantages(NULL, NULL, 0, 1e-6, NULL, &err) == 0);
    /* bad arguments */
    double bad[2] = {1.0, NAN}, o[2];
    int64_t gb[2] = {0, 0};
    CHECK(rv_grpo_advantages(bad, gb, 2, 1e-6, o, &err) != 0 && strstr(err.msg, "score 1"));
    CHECK(rv_grpo_advantages(s1, g1, -1, 1e-6, a1, &err) != 0 && strstr(err.msg, "n = -1"));
    CHECK(rv_grpo_advantages(s1, g1, 3, -1e-6, a1, &err) != 0 && strstr(err.msg, "eps"));
    CHECK(rv_grpo_advantages(NULL, g1, 3, 1e-6, a1, &err) != 0 && strstr(err.msg, "non-NULL"));
}

/* ---- per-token terms ------------------------------------------------------------------------------ */

static double tol_pg(double x, double delta) { return 4 * U32 * (2 + fabs(delta)) * fabs(x); }
static double tol_k3(double kappa) {
    return 4 * U32 * (exp(kappa) * (2 + fabs(kappa)) + fabs(kappa) + 1);
}
static double tol_dk3(double kappa) { return 4 * U32 * (exp(kappa) * (2 + fabs(kappa)) + 1); }
static double clamp20(double x) { return x < -20 ? -20 : x > 20 ? 20 : x; }

typedef struct loss_case {
    const cJSON *j;
    const char *name;
    int n, T;
    float *logp, *old, *ref, *adv32;
    double *adv;
    uint8_t *mask;
    rv_grpo_loss_cfg cfg;
} loss_case;

static loss_case read_case(const cJSON *c) {
    loss_case L = {.j = c, .name = get(c, "name")->valuestring};
    L.n = (int)num(c, "n");
    L.T = (int)num(c, "T");
    int nt = L.n * L.T;
    L.logp = f32_array(c, "logp", nt);
    L.old = f32_array(c, "old_logp", nt);
    L.ref = f32_array(c, "ref_logp", nt);
    L.adv32 = f32_array(c, "adv", L.n);
    L.adv = malloc((size_t)L.n * sizeof *L.adv);
    for (int i = 0; i < L.n; i++) L.adv[i] = L.adv32[i];
    int *m = int_array(c, "mask", nt);
    L.mask = malloc((size_t)nt);
    for (int k = 0; k < nt; k++) L.mask[k] = (uint8_t)m[k];
    free(m);
    L.cfg = rv_grpo_loss_cfg_upstream();
    L.cfg.clip_low = num(c, "clip_low");
    L.cfg.clip_high = num(c, "clip_high");
    L.cfg.clip_c = num(c, "clip_c");
    L.cfg.kl_coef = num(c, "kl_coef");
    return L;
}

static void free_case(loss_case *L) { free(L->logp), free(L->old), free(L->ref), free(L->adv32), free(L->adv), free(L->mask); }

static void test_tokens_fixture(const loss_case *L) {
    const cJSON *tok = get(L->j, "tok");
    int nt = L->n * L->T;
    float *pg = f32_array(tok, "pg", nt), *dpg = f32_array(tok, "dpg", nt), *nd = f32_array(tok, "neg_delta", nt),
          *k3 = f32_array(tok, "k3", nt), *dk3 = f32_array(tok, "dk3", nt);
    int *clip = int_array(tok, "clip", nt), *lower = int_array(tok, "clip_lower", nt);
    int nvalid = 0, nclip = 0, nlower = 0, nclamp = 0, nk3clamp = 0;
    for (int k = 0; k < nt; k++) {
        int i = k / L->T;
        rv_grpo_pg_token p = rv_grpo_pg_token_eval(L->logp[k], L->old[k], L->adv[i], &L->cfg);
        double delta = clamp20((double)L->logp[k] - L->old[k]);
        CHECK_TOL(p.loss, pg[k], tol_pg(pg[k], delta) + 1e-300, "pg loss", k);
        CHECK_TOL(p.dlogp, dpg[k], tol_pg(dpg[k], delta), "pg dlogp", k);
        CHECK_TOL(p.neg_delta, nd[k], 2 * U32 * fabs(delta), "neg_delta", k);
        CHECK(p.clipped == (clip[k] != 0));
        CHECK(p.clipped_lower == (lower[k] != 0));
        double d, kappa = clamp20((double)L->ref[k] - L->logp[k]);
        double v = rv_grpo_k3(L->logp[k], L->ref[k], &d);
        CHECK_TOL(v, k3[k], tol_k3(kappa), "k3", k);
        CHECK_TOL(d, dk3[k], tol_dk3(kappa), "dk3", k);
        if (!L->mask[k]) continue; /* the counts below are over valid tokens; every token is checked */
        nvalid++;
        nclip += clip[k], nlower += lower[k];
        nclamp += fabs((double)L->logp[k] - L->old[k]) > 20 || fabs((double)L->ref[k] - L->logp[k]) > 20;
        nk3clamp += k3[k] == 10.0f;
    }
    printf("  %s: %d tokens, %d valid: %d clipped, %d dual-clipped, %d log-ratio clamps, %d k3 clamps\n", L->name, nt,
           nvalid, nclip, nlower, nclamp, nk3clamp);
    free(pg), free(dpg), free(nd), free(k3), free(dk3), free(clip), free(lower);
}

static void test_agg_fixture(const loss_case *L) {
    static const char *modes[] = {"token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm",
                                  "step-token-mean"};
    int nt = L->n * L->T;
    rv_grpo_batch b = {.n = L->n, .T = L->T, .logp = L->logp, .old_logp = L->old, .ref_logp = L->ref, .adv = L->adv,
                       .mask = L->mask, .step_tokens = num(L->j, "step_tokens")};
    /* per-token tolerances and magnitudes, shared by every mode */
    double *tl = malloc((size_t)nt * sizeof *tl), *tk = malloc((size_t)nt * sizeof *tk);
    double *td = malloc((size_t)nt * sizeof *td), *al = malloc((size_t)nt * sizeof *al), *ak = malloc((size_t)nt * sizeof *ak);
    for (int k = 0; k < nt; k++) {
        int i = k / L->T;
        rv_grpo_pg_token p = rv_grpo_pg_token_eval(L->logp[k], L->old[k], L->adv[i], &L->cfg);
        double d, kappa = clamp20((double)L->ref[k] - L->logp[k]), delta = clamp20((double)L->logp[k] - L->old[k]);
        double v = rv_grpo_k3(L->logp[k], L->ref[k], &d);
        tl[k] = tol_pg(p.loss, delta);
        tk[k] = tol_k3(kappa);
        td[k] = tol_pg(p.dlogp, delta) + L->cfg.kl_coef * tol_dk3(kappa);
        al[k] = fabs(p.loss);
        ak[k] = fabs(v);
    }
    for (int mi = 0; mi < 5; mi++) {
        const cJSON *want = get(get(L->j, "agg"), modes[mi]);
        rv_grpo_loss_cfg cfg = L->cfg;
        rv_err err;
        CHECK(rv_grpo_agg_parse(modes[mi], &cfg.agg, &err) == 0);
        double scale = num(want, "scale");
        float *grad = malloc((size_t)nt * sizeof *grad), *vg = f32_array(want, "grad", nt);
        rv_grpo_stats st;
        if (rv_grpo_loss(&b, &cfg, scale, &st, grad, &err)) {
            CHECK(!"rv_grpo_loss failed");
            fprintf(stderr, "%s\n", err.msg);
            free(grad), free(vg);
            continue;
        }
        /* the weight of each valid token in this mode, to scale the per-token tolerances */
        double sum_al = 0, sum_ak = 0, sum_tl = 0, sum_tk = 0;
        int64_t ntok = 0;
        for (int k = 0; k < nt; k++) ntok += L->mask[k];
        for (int i = 0; i < L->n; i++) {
            int ni = 0;
            for (int t = 0; t < L->T; t++) ni += L->mask[i * L->T + t];
            double w = mi == 0 ? 1.0 / ntok : mi == 1 ? 1.0 / L->n : mi == 2 ? 1.0 / ((double)L->n * ni)
                     : mi == 3 ? 1.0 / L->T : 1.0 / b.step_tokens;
            for (int t = 0; t < L->T; t++) {
                int k = i * L->T + t;
                if (!L->mask[k]) {
                    CHECK(grad[k] == 0.0f && vg[k] == 0.0f); /* masked: no gradient, exactly */
                    continue;
                }
                sum_al += w * al[k], sum_ak += w * ak[k], sum_tl += w * tl[k], sum_tk += w * tk[k];
                double tg = fabs(scale) * w * td[k] + 2 * U32 * fabs(vg[k]);
                CHECK_TOL(grad[k], vg[k], tg, modes[mi], k);
            }
        }
        double tpg = 1e-6 * sum_al + sum_tl, tkl = 1e-6 * sum_ak + sum_tk;
        CHECK_TOL(st.pg_loss, num(want, "pg_loss"), tpg, "pg_loss", mi);
        CHECK_TOL(st.kl_loss, num(want, "kl_loss"), tkl, "kl_loss", mi);
        CHECK_TOL(st.loss, num(want, "loss"), fabs(scale) * (tpg + cfg.kl_coef * tkl) + 2 * U32 * fabs(num(want, "loss")),
                  "loss", mi);
        const cJSON *m = get(L->j, "metrics");
        CHECK_TOL(st.pg_clipfrac, num(m, "pg_clipfrac"), 2 * U32, "pg_clipfrac", mi);
        CHECK_TOL(st.pg_clipfrac_lower, num(m, "pg_clipfrac_lower"), 2 * U32, "pg_clipfrac_lower", mi);
        double sum_abs_delta = 0;
        for (int k = 0; k < nt; k++)
            if (L->mask[k]) sum_abs_delta += fabs(clamp20((double)L->logp[k] - L->old[k]));
        CHECK_TOL(st.ppo_kl, num(m, "ppo_kl"), 1e-6 * sum_abs_delta / ntok, "ppo_kl", mi);
        CHECK(st.tokens == ntok);
        free(grad), free(vg);
    }
    free(tl), free(tk), free(td), free(al), free(ak);
}

/* ---- hand-computed cases ---------------------------------------------------------------------------- */

static void test_tokens_hand(void) {
    rv_grpo_loss_cfg c = rv_grpo_loss_cfg_upstream(); /* clip 0.8 / 1.28, dual clip 3 */
    rv_grpo_pg_token p;
    /* r = 1 (logp = old), A = 2: L = -2, dL/dlogp = -A r = -2 (tie of L1 and L2: half + half) */
    p = rv_grpo_pg_token_eval(-1.0, -1.0, 2.0, &c);
    CHECK(p.loss == -2.0 && p.dlogp == -2.0 && !p.clipped && !p.clipped_lower && p.neg_delta == 0);
    /* A = 1, delta = 0.5: r = e^0.5 = 1.6487 > 1.28 -> L = max(-1.6487, -1.28) = -1.28, clipped, no grad */
    p = rv_grpo_pg_token_eval(-1.0, -1.5, 1.0, &c);
    CHECK_NEAR(p.loss, -1.28, 1e-15);
    CHECK(p.dlogp == 0 && p.clipped && !p.clipped_lower);
    /* A = 1, delta = -0.5: r = 0.60653 < 0.8 but L1 = -0.60653 > L2 = -0.8: unclipped, dL = -r */
    p = rv_grpo_pg_token_eval(-1.5, -1.0, 1.0, &c);
    CHECK_NEAR(p.loss, -exp(-0.5), 1e-15);
    CHECK_NEAR(p.dlogp, -exp(-0.5), 1e-15);
    CHECK(!p.clipped);
    /* A = -1, delta = 1.5: r = 4.4817, L1 = 4.4817 > L2 = 1.28, > -3A = 3 -> dual clip: L = 3, no grad */
    p = rv_grpo_pg_token_eval(-0.5, -2.0, -1.0, &c);
    CHECK(p.loss == 3.0 && p.dlogp == 0 && !p.clipped && p.clipped_lower);
    /* A = -1, delta = 1: r = e = 2.71828 < 3: L = L1 = 2.71828, dL = -A r = 2.71828 */
    p = rv_grpo_pg_token_eval(-1.0, -2.0, -1.0, &c);
    CHECK_NEAR(p.loss, exp(1.0), 1e-15);
    CHECK_NEAR(p.dlogp, exp(1.0), 1e-15);
    CHECK(!p.clipped && !p.clipped_lower);
    /* A = -1, delta = -0.5: L1 = 0.60653 < L2 = 0.8 -> L = 0.8, clipped, no grad */
    p = rv_grpo_pg_token_eval(-1.5, -1.0, -1.0, &c);
    CHECK_NEAR(p.loss, 0.8, 1e-15);
    CHECK(p.dlogp == 0 && p.clipped && !p.clipped_lower);
    /* delta = 25 clamped to 20: A = 1 -> L = -1.28 (clipped), neg_delta = -20, no grad;
     * delta = -25 -> -20, A = 1: L = -e^-20 (L1 is the max), grad 0 through the clamp */
    p = rv_grpo_pg_token_eval(-5.0, -30.0, 1.0, &c);
    CHECK_NEAR(p.loss, -1.28, 1e-15);
    CHECK(p.dlogp == 0 && p.neg_delta == -20.0);
    p = rv_grpo_pg_token_eval(-30.0, -5.0, 1.0, &c);
    CHECK_NEAR(p.loss, -exp(-20.0), 1e-24);
    CHECK(p.dlogp == 0 && p.neg_delta == 20.0 && !p.clipped);
    /* A = 0: L = 0, no gradient, nothing clipped */
    p = rv_grpo_pg_token_eval(-1.0, -3.0, 0.0, &c);
    CHECK(p.loss == 0 && p.dlogp == 0 && !p.clipped && !p.clipped_lower);
    /* exact ties with -clip_c A send half the gradient (torch.min): clip_c = e^1 exactly as the ratio
     * r = exp(1.0): L1 = r = -clip_c A -> L = r, dL = 0.5 * (-A r) */
    rv_grpo_loss_cfg ct = c;
    ct.clip_c = exp(1.0);
    p = rv_grpo_pg_token_eval(-1.0, -2.0, -1.0, &ct);
    CHECK(p.loss == exp(1.0) && p.dlogp == 0.5 * exp(1.0) && !p.clipped_lower);

    /* low_var_kl: kappa = ref - logp */
    double d;
    CHECK(rv_grpo_k3(-1.0, -1.0, &d) == 0 && d == 0);                /* kappa 0: k3 0 */
    CHECK_NEAR(rv_grpo_k3(-2.0, -1.0, &d), exp(1.0) - 2, 1e-15);     /* kappa 1: e - 2 = 0.71828 */
    CHECK_NEAR(d, 1 - exp(1.0), 1e-15);                              /* dk3/dlogp = 1 - e */
    CHECK_NEAR(rv_grpo_k3(-3.0, -8.0, &d), exp(-5.0) + 4, 1e-15);    /* kappa -5: e^-5 + 4 = 4.00674 */
    CHECK_NEAR(d, 1 - exp(-5.0), 1e-15);
    CHECK(rv_grpo_k3(-1.0, 2.0, &d) == 10.0 && d == 0);              /* kappa 3: e^3 - 4 = 16.1 -> 10 */
    CHECK(rv_grpo_k3(-30.0, -5.0, &d) == 10.0 && d == 0);            /* kappa 25 -> 20 -> clamp 10 */
    CHECK(rv_grpo_k3(-5.0, -30.0, &d) == 10.0 && d == 0);            /* kappa -25 -> -20: e^-20 + 19 -> 10 */
    CHECK_NEAR(rv_grpo_k3(-2.0, -1.999, &d), 5.0016670833e-7, 1e-16); /* kappa 1e-3: k^2/2 + k^3/6 */
}

static void test_agg_hand(void) {
    /* 2 responses, T = 3, masks {1, 1, 0} and {1, 0, 0}, logp = old = ref (r = 1, k3 = 0),
     * A = (1, -1): token losses -1, -1, (masked), +1; dL/dlogp = -A r = -1, -1, 0, +1.
     *   token-mean:                (-1 - 1 + 1) / 3 = -1/3       weight 1/3
     *   seq-mean-token-sum:        (-2 + 1) / 2 = -1/2            weight 1/2
     *   seq-mean-token-mean:       (-2/2 + 1/1) / 2 = 0           weights 1/4 and 1/2
     *   seq-mean-token-sum-norm:   (-2 + 1) / T = -1/3            weight 1/3 (not / n)
     *   step-token-mean, 10 tokens in the mini-batch: -1/10       weight 1/10
     * with scale 0.5 on the loss and gradients. Masked values (NaN here) are never read. */
    float lp[6] = {-1, -2, NAN, -0.5f, NAN, NAN};
    uint8_t mask[6] = {1, 1, 0, 1, 0, 0};
    double adv[2] = {1, -1};
    rv_grpo_batch b = {.n = 2, .T = 3, .logp = lp, .old_logp = lp, .ref_logp = lp, .adv = adv, .mask = mask,
                       .step_tokens = 10};
    const struct { rv_grpo_agg agg; double loss, w0, w1; } cases[] = {
        {RV_GRPO_AGG_TOKEN_MEAN, -1.0 / 3, 1.0 / 3, 1.0 / 3},
        {RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM, -0.5, 0.5, 0.5},
        {RV_GRPO_AGG_SEQ_MEAN_TOKEN_MEAN, 0.0, 0.25, 0.5},
        {RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM, -1.0 / 3, 1.0 / 3, 1.0 / 3},
        {RV_GRPO_AGG_STEP_TOKEN_MEAN, -0.1, 0.1, 0.1},
    };
    for (int k = 0; k < 5; k++) {
        rv_grpo_loss_cfg c = rv_grpo_loss_cfg_upstream();
        c.agg = cases[k].agg;
        rv_grpo_stats st;
        float g[6];
        rv_err err;
        CHECK(rv_grpo_loss(&b, &c, 0.5, &st, g, &err) == 0);
        CHECK_NEAR(st.pg_loss, cases[k].loss, 1e-15);
        CHECK(st.kl_loss == 0 && st.ppo_kl == 0 && st.pg_clipfrac == 0 && st.tokens == 3);
        CHECK_NEAR(st.loss, 0.5 * cases[k].loss, 1e-15);
        CHECK_NEAR(g[0], 0.5 * -1 * cases[k].w0, 1e-7);
        CHECK_NEAR(g[1], 0.5 * -1 * cases[k].w0, 1e-7);
        CHECK_NEAR(g[3], 0.5 * 1 * cases[k].w1, 1e-7);
        CHECK(g[2] == 0 && g[4] == 0 && g[5] == 0);
    }
    /* norm_len overrides T in seq-mean-token-sum-norm: (-2 + 1) / 4 */
    rv_grpo_loss_cfg c = rv_grpo_loss_cfg_upstream();
    c.agg = RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM;
    c.norm_len = 4;
    rv_grpo_stats st;
    rv_err err;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) == 0);
    CHECK_NEAR(st.pg_loss, -0.25, 1e-15);
    /* KL term: ref - logp = 1 at every valid token: k3 = e - 2 each, token-mean e - 2, loss adds
     * kl_coef (e - 2); the gradient adds kl_coef (1 - e) / 3 per token */
    float ref[6] = {0, -1, NAN, 0.5f, NAN, NAN};
    b.ref_logp = ref;
    c = rv_grpo_loss_cfg_upstream();
    float g[6];
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, g, &err) == 0);
    CHECK_NEAR(st.kl_loss, exp(1.0) - 2, 1e-15);
    CHECK_NEAR(st.loss, -1.0 / 3 + 0.01 * (exp(1.0) - 2), 1e-15);
    CHECK_NEAR(g[0], (-1 + 0.01 * (1 - exp(1.0))) / 3, 1e-7);
    CHECK_NEAR(g[3], (1 + 0.01 * (1 - exp(1.0))) / 3, 1e-7);
    /* kl_coef 0: no KL term, ref_logp not needed */
    c.kl_coef = 0;
    b.ref_logp = NULL;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, g, &err) == 0);
    CHECK(st.kl_loss == 0);
    CHECK_NEAR(st.loss, -1.0 / 3, 1e-15);
}

static void test_errors(void) {
    float lp[4] = {-1, -1, -1, -1};
    uint8_t mask[4] = {1, 1, 0, 0};
    double adv[2] = {1, 1};
    rv_grpo_batch b = {.n = 2, .T = 2, .logp = lp, .old_logp = lp, .ref_logp = lp, .adv = adv, .mask = mask};
    rv_grpo_loss_cfg c = rv_grpo_loss_cfg_upstream();
    rv_grpo_stats st;
    rv_err err;
    /* response 1 has no valid token: fine for token-mean, an error for seq-mean-token-mean */
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) == 0 && st.tokens == 2);
    c.agg = RV_GRPO_AGG_SEQ_MEAN_TOKEN_MEAN;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) != 0 && strstr(err.msg, "response 1 has no valid token"));
    c.agg = RV_GRPO_AGG_STEP_TOKEN_MEAN;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) != 0 && strstr(err.msg, "step_tokens"));
    c = rv_grpo_loss_cfg_upstream();
    c.clip_c = 1.0;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) != 0 && strstr(err.msg, "clip_ratio_c"));
    c = rv_grpo_loss_cfg_upstream();
    c.clip_low = 1.0;
    CHECK(rv_grpo_loss_cfg_check(&c, &err) != 0 && strstr(err.msg, "clip_ratio_low"));
    c = rv_grpo_loss_cfg_upstream();
    c.kl_coef = -0.1;
    CHECK(rv_grpo_loss_cfg_check(&c, &err) != 0 && strstr(err.msg, "kl_loss_coef"));
    c = rv_grpo_loss_cfg_upstream();
    CHECK(rv_grpo_loss_cfg_check(&c, &err) == 0);
    b.ref_logp = NULL;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) != 0 && strstr(err.msg, "ref_logp"));
    b.ref_logp = lp;
    mask[3] = 2;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) != 0 && strstr(err.msg, "mask[1][1] = 2"));
    mask[3] = 0;
    lp[1] = NAN;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) != 0 && strstr(err.msg, "response 0 token 1"));
    lp[1] = -1;
    adv[0] = INFINITY;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) != 0 && strstr(err.msg, "advantage of response 0"));
    adv[0] = 1;
    b.n = 0;
    CHECK(rv_grpo_loss(&b, &c, 1.0, &st, NULL, &err) != 0 && strstr(err.msg, ">= 1"));
    b.n = 2;
    CHECK(rv_grpo_loss(&b, &c, NAN, &st, NULL, &err) != 0 && strstr(err.msg, "scale"));
    /* names */
    rv_grpo_agg a;
    CHECK(rv_grpo_agg_parse("micro_token_mean", &a, &err) == 0 && a == RV_GRPO_AGG_TOKEN_MEAN);
    CHECK(rv_grpo_agg_parse("seq_mean", &a, &err) == 0 && a == RV_GRPO_AGG_SEQ_MEAN_TOKEN_MEAN);
    CHECK(rv_grpo_agg_parse("step_token_mean", &a, &err) == 0 && a == RV_GRPO_AGG_STEP_TOKEN_MEAN);
    CHECK(rv_grpo_agg_parse("seq-mean-token-sum-norm", &a, &err) == 0 && a == RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM);
    CHECK(rv_grpo_agg_parse("token_mean_global", &a, &err) != 0 && strstr(err.msg, "micro_token_mean"));
    CHECK_STR(rv_grpo_agg_name(RV_GRPO_AGG_TOKEN_MEAN), "token-mean");
    CHECK_STR(rv_grpo_agg_name(RV_GRPO_AGG_STEP_TOKEN_MEAN), "step-token-mean");
}

int main(void) {
    cJSON *root = load_fixture();
    const cJSON *prov = get(root, "provenance");
    printf("fixture: verl %s, torch %s\n", get(prov, "verl")->valuestring, get(prov, "torch")->valuestring);
    test_advantages_fixture(root);
    const cJSON *c;
    int ncases = 0;
    cJSON_ArrayForEach(c, get(root, "loss_cases")) {
        loss_case L = read_case(c);
        test_tokens_fixture(&L);
        test_agg_fixture(&L);
        free_case(&L);
        ncases++;
    }
    CHECK(ncases >= 2);
    printf("  largest |ours - verl|, as a fraction of the tolerance and relative to verl's value:\n");
    for (int k = 0; k < n_worst; k++)
        printf("    %-52s %8.3g of tol  %9.3g rel\n", worst[k].what, worst[k].frac, worst[k].rel);
    cJSON_Delete(root);
    test_advantages_hand();
    test_tokens_hand();
    test_agg_hand();
    test_errors();
    return check_summary("test_grpo_math");
}
