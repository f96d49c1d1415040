#include "train/grpo_sequences.h"

#include <stdlib.h>
#include <string.h>

void rv_grpo_seq_make(rv_grpo_seq *q, const rv_sample *prompt, const rv_gen_result *r) {
    q->prompt_len = prompt->len;
    q->resp_len = r->n;
    q->len = prompt->len + r->n;
    q->ids = rv_xmalloc((size_t)q->len * sizeof *q->ids);
    q->mask = rv_xcalloc((size_t)q->len, 1);
    memcpy(q->ids, prompt->ids, (size_t)prompt->len * sizeof *q->ids);
    memcpy(q->ids + prompt->len, r->tokens, (size_t)r->n * sizeof *q->ids);
    memset(q->mask + prompt->len, 1, (size_t)r->n);
    q->s = (rv_sample){.ids = q->ids, .len = q->len, .mask = q->mask, .images = prompt->images,
                       .n_images = prompt->n_images};
}

void rv_grpo_seq_free(rv_grpo_seq *q) {
    free(q->ids);
    free(q->mask);
    memset(q, 0, sizeof *q);
}

int rv_grpo_logprobs(rv_vlm *m, const rv_grpo_seq *q, int n, int micro, float *const *logp, rv_err *err) {
    if (micro <= 0) return rv_fail(err, "grpo: log-prob micro-batch must be > 0 (got %d)", micro);
    rv_sample *s = rv_xmalloc((size_t)(micro < n ? micro : (n ? n : 1)) * sizeof *s);
    int rc = 0;
    for (int at = 0; at < n && !rc; at += micro) {
        int k = n - at < micro ? n - at : micro;
        for (int j = 0; j < k; j++) s[j] = q[at + j].s;
        rv_vlm_pass *p = NULL;
        rc = rv_vlm_forward(m, s, k, false, &p, err);
        if (rc) break;
        for (int j = 0; j < k; j++) {
            const rv_grpo_seq *x = &q[at + j];
            const float *lp = rv_vlm_pass_logp(p, j);
            memcpy(logp[at + j], lp + x->prompt_len, (size_t)x->resp_len * sizeof(float));
        }
        rv_vlm_pass_free(m, p);
    }
    free(s);
    return rc;
}
