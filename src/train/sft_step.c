#include "train/sft_step.h"

#include <stdlib.h>

#include "train/microbatch.h"

int rv_sft_targets(const rv_sample *s) {
    int n = 0;
    for (int t = 1; t < s->len; t++) n += s->mask ? s->mask[t] != 0 : 1;
    return n;
}

static int plan(const rv_sample *s, int n, int max_tokens, int **starts, int *nmb, rv_err *err) {
    int *lens = rv_xmalloc((size_t)(n ? n : 1) * sizeof *lens);
    for (int i = 0; i < n; i++) lens[i] = s[i].len;
    *starts = rv_xmalloc((size_t)(n + 1) * sizeof **starts);
    int rc = rv_microbatch_plan(lens, n, max_tokens, *starts, nmb, err);
    free(lens);
    if (rc) {
        free(*starts);
        *starts = NULL;
    }
    return rc;
}

int rv_sft_accumulate(rv_vlm *m, const rv_sample *s, int n, int max_tokens, const float *weight, double *wsum,
                      double *loss, rv_err *err) {
    int *starts = NULL, nmb = 0;
    *wsum = 0;
    if (plan(s, n, max_tokens, &starts, &nmb, err)) return -1;
    int rc = 0;
    float **d = rv_xcalloc((size_t)(n ? n : 1), sizeof *d);
    for (int b = 0; b < nmb && !rc; b++) {
        int a = starts[b], k = starts[b + 1] - a;
        rv_vlm_pass *p = NULL;
        if (rv_vlm_forward(m, s + a, k, true, &p, err)) { rc = -1; break; }
        for (int i = 0; i < k; i++) {
            d[a + i] = rv_xmalloc((size_t)s[a + i].len * sizeof(float));
            double li = rv_vlm_sft_dlogp(p, i, weight[a + i], d[a + i]);
            if (loss) loss[a + i] = li;
            *wsum += (double)weight[a + i] * li;
        }
        rc = rv_vlm_backward(m, p, (const float *const *)(d + a), err);
        rv_vlm_pass_free(m, p);
    }
    for (int i = 0; i < n; i++) free(d[i]);
    free(d);
    free(starts);
    return rc;
}

int rv_sft_eval_losses(rv_vlm *m, const rv_sample *s, int n, int max_tokens, double *loss, rv_err *err) {
    int *starts = NULL, nmb = 0;
    if (plan(s, n, max_tokens, &starts, &nmb, err)) return -1;
    int rc = 0;
    for (int b = 0; b < nmb && !rc; b++) {
        int a = starts[b], k = starts[b + 1] - a;
        rv_vlm_pass *p = NULL;
        if (rv_vlm_forward(m, s + a, k, false, &p, err)) { rc = -1; break; }
        for (int i = 0; i < k; i++) {
            const rv_sample *x = &s[a + i];
            const float *lp = rv_vlm_pass_logp(p, i);
            double sum = 0;
            int nt = 0;
            for (int t = 1; t < x->len; t++)
                if (!x->mask || x->mask[t]) {
                    sum -= lp[t];
                    nt++;
                }
            loss[a + i] = nt ? sum / nt : 0;
        }
        rv_vlm_pass_free(m, p);
    }
    free(starts);
    return rc;
}
