#include "train/grpo_update.h"

#include <string.h>

int rv_grpo_update(rv_vlm *m, rv_optim *opt, const rv_comm *dp, const rv_grpo_seq *q, int n,
                   const float *const *old_logp, const float *const *ref_logp, const double *adv,
                   const rv_grpo_update_cfg *c, double lr_factor, rv_grpo_update_stats *st, rv_err *err) {
    memset(st, 0, sizeof *st);
    if (c->mini_batches < 1 || c->micro < 1 || n < c->mini_batches || n % c->mini_batches)
        return rv_fail(err, "grpo: %d responses per rank do not split into %d mini-batches of micro-batches of %d "
                            "(grpo.ppo_mini_batches, grpo.micro_batch)", n, c->mini_batches, c->micro);
    const int mb = n / c->mini_batches, accum = (mb + c->micro - 1) / c->micro;
    const bool step_mean = c->loss.agg == RV_GRPO_AGG_STEP_TOKEN_MEAN;
    int nmicro = 0, rc = 0;
    for (int b = 0; b < c->mini_batches && !rc; b++) {
        const int at = b * mb;
        double step_tokens = 0;
        if (step_mean) {
            for (int i = at; i < at + mb; i++) step_tokens += q[i].resp_len;
            step_tokens = rv_comm_sum_f64(dp, step_tokens);
        }
        const double scale = step_mean ? 1.0 : 1.0 / ((double)accum * dp->size);
        for (int u = at; u < at + mb && !rc; u += c->micro) {
            int k = at + mb - u < c->micro ? at + mb - u : c->micro;
            rv_grpo_stats ms;
            rc = rv_grpo_micro_step(m, q + u, k, old_logp + u, ref_logp ? ref_logp + u : NULL, adv + u, &c->loss,
                                    scale, step_tokens, &ms, err);
            if (rc) break;
            st->pg_loss += ms.pg_loss;
            st->kl_loss += ms.kl_loss;
            st->pg_clipfrac += ms.pg_clipfrac;
            st->pg_clipfrac_lower += ms.pg_clipfrac_lower;
            st->ppo_kl += ms.ppo_kl;
            nmicro++;
        }
        /* every rank reaches the exchange, or none does */
        if (!rv_comm_all_ok(dp, rc == 0)) return rc ? -1 : rv_fail(err, "grpo: the update failed on another rank");
        rv_optim_stats os;
        rc = rv_optim_step(opt, lr_factor, &os, err);
        st->grad_norm = os.grad_norm;
        st->skipped += os.skipped;
        st->optimizer_steps++;
    }
    if (nmicro) {
        st->pg_loss /= nmicro;
        st->kl_loss /= nmicro;
        st->pg_clipfrac /= nmicro;
        st->pg_clipfrac_lower /= nmicro;
        st->ppo_kl /= nmicro;
    }
    return rc;
}
