#include "train/grpo_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- advantages ---------------------------------------------------------------------------- */

typedef struct member {
    int64_t id;
    int i;
} member;

/* By group, then by position: members of a group are visited in response order. */
static int member_cmp(const void *a, const void *b) {
    const member *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int rv_grpo_advantages(const double *scores, const int64_t *group_id, int n, double eps, double *out, rv_err *err) {
    if (n < 0) return rv_fail(err, "grpo advantages: n = %d responses; it must be >= 0", n);
    if (n > 0 && (!scores || !group_id || !out))
        return rv_fail(err, "grpo advantages: scores, group_id and out must be non-NULL arrays of %d values", n);
    if (!(eps >= 0) || !isfinite(eps))
        return rv_fail(err, "grpo advantages: eps = %g; it must be finite and >= 0 (verl: 1e-6)", eps);
    for (int i = 0; i < n; i++)
        if (!isfinite(scores[i]))
            return rv_fail(err, "grpo advantages: score %d of %d is %g; a reward must be finite (reward functions "
                           "replace failures by their fallback value)", i, n, scores[i]);
    if (n == 0) return 0;
    member *m = rv_xmalloc((size_t)n * sizeof *m);
    for (int i = 0; i < n; i++) m[i] = (member){group_id[i], i};
    qsort(m, (size_t)n, sizeof *m, member_cmp);
    /* Scores are read before out is written group by group: out may alias scores, and each group's
     * values are gathered first. */
    double *x = rv_xmalloc((size_t)n * sizeof *x);
    for (int a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && m[b].id == m[a].id; b++) {}
        int k = b - a;
        for (int j = 0; j < k; j++) x[j] = scores[m[a + j].i];
        double mean = 0, sd = 1;
        double *dev = x; /* deviations from the mean, in place */
        if (k > 1) {
            /* Two passes on values shifted by the first member: exact zeros for identical rewards
             * (so A = 0 exactly) and no cancellation when the rewards sit far from 0. */
            double x0 = x[0], s = 0, ss = 0;
            for (int j = 0; j < k; j++) s += x[j] - x0;
            double dmean = s / k;
            for (int j = 0; j < k; j++) {
                dev[j] = (x[j] - x0) - dmean;
                ss += dev[j] * dev[j];
            }
            mean = x0 + dmean;
            sd = sqrt(ss / (k - 1)); /* torch.std: unbiased */
        } else {
            dev[0] = x[0] - mean; /* one member: mean 0, std 1 (verl) */
        }
        for (int j = 0; j < k; j++) out[m[a + j].i] = dev[j] / (sd + eps);
    }
    free(x);
    free(m);
    return 0;
}

/* ---- aggregation names ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    rv_grpo_agg agg;
} agg_names[] = {
    {"token-mean", RV_GRPO_AGG_TOKEN_MEAN},
    {"seq-mean-token-sum", RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM},
    {"seq-mean-token-mean", RV_GRPO_AGG_SEQ_MEAN_TOKEN_MEAN},
    {"seq-mean-token-sum-norm", RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM},
    {"step-token-mean", RV_GRPO_AGG_STEP_TOKEN_MEAN},
    {"micro_token_mean", RV_GRPO_AGG_TOKEN_MEAN},
    {"step_token_mean", RV_GRPO_AGG_STEP_TOKEN_MEAN},
    {"seq_mean", RV_GRPO_AGG_SEQ_MEAN_TOKEN_MEAN},
    {"seq_mean_token_sum", RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM},
    {"seq_mean_token_sum_norm", RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM},
};
#define N_AGG_NAMES (int)(sizeof agg_names / sizeof agg_names[0])

int rv_grpo_agg_parse(const char *name, rv_grpo_agg *out, rv_err *err) {
    for (int k = 0; name && k < N_AGG_NAMES; k++)
        if (strcmp(name, agg_names[k].name) == 0) {
            *out = agg_names[k].agg;
            return 0;
        }
    return rv_fail(err, "grpo.loss_agg: unknown mode \"%s\"; use micro_token_mean (verl's token-mean, the default), "
                   "step_token_mean, seq_mean (seq-mean-token-mean), seq_mean_token_sum or seq_mean_token_sum_norm "
                   "(verl's names are accepted too)", name ? name : "(null)");
}

const char *rv_grpo_agg_name(rv_grpo_agg a) {
    for (int k = 0; k < N_AGG_NAMES; k++)
        if (agg_names[k].agg == a) return agg_names[k].name; /* the verl-style names come first */
    return "?";
}

/* ---- configuration ---------------------------------------------------------------------------- */

rv_grpo_loss_cfg rv_grpo_loss_cfg_upstream(void) {
    return (rv_grpo_loss_cfg){.clip_low = 0.20, .clip_high = 0.28, .clip_c = 3.0, .kl_coef = 0.01,
                              .agg = RV_GRPO_AGG_TOKEN_MEAN, .norm_len = 0};
}

int rv_grpo_loss_cfg_check(const rv_grpo_loss_cfg *c, rv_err *err) {
    if (!c) return rv_fail(err, "grpo loss: no configuration given");
    if (!isfinite(c->clip_low) || c->clip_low < 0 || c->clip_low >= 1)
        return rv_fail(err, "grpo.clip_ratio_low = %g; it must be in [0, 1) (upstream 0.20)", c->clip_low);
    if (!isfinite(c->clip_high) || c->clip_high < 0)
        return rv_fail(err, "grpo.clip_ratio_high = %g; it must be >= 0 (upstream 0.28)", c->clip_high);
    if (!isfinite(c->clip_c) || !(c->clip_c > 1))
        return rv_fail(err, "grpo.clip_ratio_c = %g; the dual-clip bound must be > 1 (upstream 3.0)", c->clip_c);
    if (!isfinite(c->kl_coef) || c->kl_coef < 0)
        return rv_fail(err, "grpo.kl_loss_coef = %g; it must be >= 0 (upstream 0.01; 0 turns the KL loss off)",
                       c->kl_coef);
    if ((unsigned)c->agg > RV_GRPO_AGG_STEP_TOKEN_MEAN)
        return rv_fail(err, "grpo.loss_agg: unknown mode %d", (int)c->agg);
    if (c->norm_len < 0)
        return rv_fail(err, "grpo loss: norm_len = %d; it must be >= 0 (0 = the padded response length)", c->norm_len);
    return 0;
}

/* ---- per-token terms ---------------------------------------------------------------------------- */

/* torch.clamp's value and the factor its backward applies (1 at and inside the bounds). */
static double clamp_d(double x, double lo, double hi, double *pass) {
    *pass = (x >= lo && x <= hi) ? 1.0 : 0.0;
    return x < lo ? lo : x > hi ? hi : x;
}

rv_grpo_pg_token rv_grpo_pg_token_eval(double logp, double old_logp, double adv, const rv_grpo_loss_cfg *c) {
    rv_grpo_pg_token o;
    double pass_d, pass_r;
    double delta = clamp_d(logp - old_logp, -RV_GRPO_LOGRATIO_CLAMP, RV_GRPO_LOGRATIO_CLAMP, &pass_d);
    double r = exp(delta), dr = r * pass_d; /* dr/dlogp */
    double l1 = -adv * r, dl1 = -adv * dr;
    double rc = clamp_d(r, 1.0 - c->clip_low, 1.0 + c->clip_high, &pass_r);
    double l2 = -adv * rc, dl2 = -adv * dr * pass_r;
    /* torch.maximum: a tie (r inside the clip range, where L1 == L2) splits the gradient. */
    double lc = l1 > l2 ? l1 : l2;
    double dlc = l1 > l2 ? dl1 : l2 > l1 ? dl2 : 0.5 * (dl1 + dl2);
    o.loss = lc;
    o.dlogp = dlc;
    o.clipped = l2 > l1;
    o.clipped_lower = false;
    if (adv < 0) {
        double l3 = -adv * c->clip_c; /* constant in logp */
        o.clipped_lower = lc > l3;
        o.loss = lc < l3 ? lc : l3;
        o.dlogp = lc < l3 ? dlc : lc > l3 ? 0.0 : 0.5 * dlc; /* torch.min tie: half */
    }
    o.neg_delta = -delta;
    return o;
}

double rv_grpo_k3(double logp, double ref_logp, double *dlogp) {
    double pass_kappa, pass_k;
    double kappa = clamp_d(ref_logp - logp, -RV_GRPO_LOGRATIO_CLAMP, RV_GRPO_LOGRATIO_CLAMP, &pass_kappa);
    /* expm1: exp(kappa) - 1 without cancellation (k3 ~ kappa^2 / 2 for small kappa). */
    double em1 = expm1(kappa);
    double k = clamp_d(em1 - kappa, -RV_GRPO_K3_CLAMP, RV_GRPO_K3_CLAMP, &pass_k);
    /* dk/dkappa = exp(kappa) - 1, dkappa/dlogp = -1 */
    if (dlogp) *dlogp = -em1 * pass_kappa * pass_k;
    return k;
}

/* ---- aggregation ------------------------------------------------------------------------------ */

static int check_batch(const rv_grpo_batch *b, const rv_grpo_loss_cfg *c, double scale, rv_err *err) {
    if (!b) return rv_fail(err, "grpo loss: no batch given");
    if (b->n < 1 || b->T < 1)
        return rv_fail(err, "grpo loss: batch of %d responses x %d tokens; both must be >= 1", b->n, b->T);
    if (!b->logp || !b->old_logp || !b->adv || !b->mask)
        return rv_fail(err, "grpo loss: logp, old_logp, adv and mask must be non-NULL");
    if (c->kl_coef > 0 && !b->ref_logp)
        return rv_fail(err, "grpo loss: kl_loss_coef = %g needs ref_logp (the reference model's log-probs)",
                       c->kl_coef);
    if (!isfinite(scale)) return rv_fail(err, "grpo loss: scale = %g; it must be finite", scale);
    if (c->agg == RV_GRPO_AGG_STEP_TOKEN_MEAN && !(b->step_tokens > 0 && isfinite(b->step_tokens)))
        return rv_fail(err, "grpo loss: step_token_mean needs step_tokens > 0 (the mask sum over the whole mini-batch "
                       "on every rank), got %g", b->step_tokens);
    for (int i = 0; i < b->n; i++) {
        bool any = false;
        for (int t = 0; t < b->T; t++) {
            size_t k = (size_t)i * (size_t)b->T + (size_t)t;
            if (b->mask[k] > 1)
                return rv_fail(err, "grpo loss: mask[%d][%d] = %d; a response mask holds 0 or 1", i, t, b->mask[k]);
            if (!b->mask[k]) continue;
            any = true;
            if (!isfinite(b->logp[k]) || !isfinite(b->old_logp[k]) || (b->ref_logp && c->kl_coef > 0 && !isfinite(b->ref_logp[k])))
                return rv_fail(err, "grpo loss: response %d token %d: non-finite log-prob (logp %g, old %g, ref %g); "
                               "the forward pass produced it", i, t, b->logp[k], b->old_logp[k],
                               b->ref_logp ? b->ref_logp[k] : 0.0);
        }
        if (any && !isfinite(b->adv[i]))
            return rv_fail(err, "grpo loss: advantage of response %d is %g; it must be finite", i, b->adv[i]);
        if (!any && c->agg == RV_GRPO_AGG_SEQ_MEAN_TOKEN_MEAN)
            return rv_fail(err, "grpo loss: response %d has no valid token; seq-mean-token-mean divides by each "
                           "response's token count (verl gives NaN): drop it or use another loss_agg", i);
    }
    return 0;
}

int rv_grpo_loss(const rv_grpo_batch *b, const rv_grpo_loss_cfg *cfg, double scale, rv_grpo_stats *st, float *dlogp,
                 rv_err *err) {
    if (rv_grpo_loss_cfg_check(cfg, err)) return -1;
    if (check_batch(b, cfg, scale, err)) return -1;
    const int n = b->n, T = b->T;
    const bool kl = cfg->kl_coef > 0;
    int64_t tokens = 0;
    for (size_t k = 0; k < (size_t)n * (size_t)T; k++) tokens += b->mask[k];

    double pg = 0, klsum = 0, nclip = 0, nlower = 0, negdelta = 0;
    for (int i = 0; i < n; i++) {
        const size_t row = (size_t)i * (size_t)T;
        int64_t ntok_i = 0;
        for (int t = 0; t < T; t++) ntok_i += b->mask[row + t];
        /* w: d(aggregate)/d(token value) for the valid tokens of response i (see the header). */
        double w;
        switch (cfg->agg) {
        case RV_GRPO_AGG_TOKEN_MEAN:
            /* verl divides by (sum m + 1e-8) in float32, where 1e-8 vanishes for sum m >= 1 (and an
             * empty mask gives 0 either way). */
            w = tokens > 0 ? 1.0 / (double)tokens : 0.0;
            break;
        case RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM: w = 1.0 / n; break;
        case RV_GRPO_AGG_SEQ_MEAN_TOKEN_MEAN: w = 1.0 / ((double)n * (double)ntok_i); break;
        case RV_GRPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM: w = 1.0 / (cfg->norm_len > 0 ? cfg->norm_len : T); break;
        default: w = 1.0 / b->step_tokens; break;
        }
        for (int t = 0; t < T; t++) {
            const size_t k = row + (size_t)t;
            if (!b->mask[k]) {
                if (dlogp) dlogp[k] = 0.0f;
                continue;
            }
            rv_grpo_pg_token p = rv_grpo_pg_token_eval(b->logp[k], b->old_logp[k], b->adv[i], cfg);
            double dk = 0, k3 = kl ? rv_grpo_k3(b->logp[k], b->ref_logp[k], &dk) : 0.0;
            pg += w * p.loss;
            klsum += w * k3;
            nclip += p.clipped;
            nlower += p.clipped_lower;
            negdelta += p.neg_delta;
            if (dlogp) dlogp[k] = (float)(scale * w * (p.dlogp + cfg->kl_coef * dk));
        }
    }
    if (st) {
        /* verl's masked_mean: sum / (sum m + 1e-8); 0 for an empty mask */
        const double ntok = tokens > 0 ? (double)tokens : 1e-8;
        st->pg_loss = pg;
        st->kl_loss = klsum;
        st->loss = scale * (pg + cfg->kl_coef * klsum);
        st->pg_clipfrac = nclip / ntok;
        st->pg_clipfrac_lower = nlower / ntok;
        st->ppo_kl = negdelta / ntok;
        st->tokens = tokens;
    }
    return 0;
}
