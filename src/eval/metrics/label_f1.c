#include "eval/metrics/label_f1.h"

#include "eval/metrics/chexpert_labeler.h"

unsigned rv_label_top5_bits(unsigned bits14) {
    unsigned b = 0;
    for (int k = 0; k < 5; k++) if ((bits14 >> rv_chx_top5[k]) & 1u) b |= 1u << k;
    return b;
}

void rv_label_f1_init(rv_label_f1 *s) {
    rv_prf_counts_init(&s->all, RV_CHX_NLABELS);
    rv_prf_counts_init(&s->top5, 5);
}

void rv_label_f1_add(rv_label_f1 *s, unsigned ref, unsigned hyp) {
    rv_prf_counts_add(&s->all, ref, hyp);
    rv_prf_counts_add(&s->top5, rv_label_top5_bits(ref), rv_label_top5_bits(hyp));
}

void rv_label_f1_result(const rv_label_f1 *s, double out[4]) {
    rv_prf_report r;
    rv_prf_report_compute(&s->all, &r);
    out[0] = r.f_micro;
    out[1] = r.f_macro;
    rv_prf_report_compute(&s->top5, &r);
    out[2] = r.f_micro;
    out[3] = r.f_macro;
}
