#include "train/grpo_step.h"

#include <stdlib.h>
#include <string.h>

int rv_grpo_micro_step(rv_vlm *m, const rv_grpo_seq *q, int n, const float *const *old_logp,
                       const float *const *ref_logp, const double *adv, const rv_grpo_loss_cfg *cfg, double scale,
                       double step_tokens, rv_grpo_stats *st, rv_err *err) {
    if (n < 1) return rv_fail(err, "grpo: an empty micro-batch");
    int T = 1;
    for (int i = 0; i < n; i++)
        if (q[i].resp_len > T) T = q[i].resp_len;
    rv_sample *s = rv_xmalloc((size_t)n * sizeof *s);
    for (int i = 0; i < n; i++) s[i] = q[i].s;
    rv_vlm_pass *p = NULL;
    int rc = rv_vlm_forward(m, s, n, true, &p, err);
    free(s);
    if (rc) return -1;
    /* verl's padded layout [n, T]: row i = response i, right-padded, mask 0 on the padding */
    size_t nt = (size_t)n * T;
    float *lp = rv_xcalloc(nt, sizeof *lp), *old = rv_xcalloc(nt, sizeof *old);
    float *ref = ref_logp ? rv_xcalloc(nt, sizeof *ref) : NULL, *dl = rv_xcalloc(nt, sizeof *dl);
    uint8_t *mask = rv_xcalloc(nt, 1);
    for (int i = 0; i < n; i++) {
        const float *all = rv_vlm_pass_logp(p, i);
        size_t r = (size_t)i * T, L = (size_t)q[i].resp_len;
        memcpy(lp + r, all + q[i].prompt_len, L * sizeof *lp);
        memcpy(old + r, old_logp[i], L * sizeof *old);
        if (ref) memcpy(ref + r, ref_logp[i], L * sizeof *ref);
        memset(mask + r, 1, L);
    }
    rv_grpo_batch b = {.n = n, .T = T, .logp = lp, .old_logp = old, .ref_logp = ref, .adv = adv, .mask = mask,
                       .step_tokens = step_tokens};
    rc = rv_grpo_loss(&b, cfg, scale, st, dl, err);
    if (!rc) {
        /* back to the model's per-sample layout: d(loss)/d(logp[t]) at the response targets */
        float **d = rv_xmalloc((size_t)n * sizeof *d);
        for (int i = 0; i < n; i++) {
            d[i] = rv_xcalloc((size_t)q[i].len, sizeof **d);
            memcpy(d[i] + q[i].prompt_len, dl + (size_t)i * T, (size_t)q[i].resp_len * sizeof **d);
        }
        rc = rv_vlm_backward(m, p, (const float *const *)d, err);
        for (int i = 0; i < n; i++) free(d[i]);
        free(d);
    }
    rv_vlm_pass_free(m, p);
    free(lp);
    free(old);
    free(ref);
    free(dl);
    free(mask);
    return rc;
}
