/* CheXpert-style label F1 (upstream's chexbert_* keys): labels of the reference and of the
 * generated report by a labeler, the "rrg" binary mapping, then scikit-learn's
 * classification_report micro and macro F1 over the 14 labels and over the top 5. */
#ifndef RADVLM_EVAL_LABEL_F1_H
#define RADVLM_EVAL_LABEL_F1_H

#include "eval/metrics/classification.h"

/* Projects 14-label rrg bits onto the top-5 labels (bit k = rv_chx_top5[k]). */
unsigned rv_label_top5_bits(unsigned bits14);

typedef struct rv_label_f1 {
    rv_prf_counts all, top5;
} rv_label_f1;

void rv_label_f1_init(rv_label_f1 *s);
void rv_label_f1_add(rv_label_f1 *s, unsigned ref_bits14, unsigned hyp_bits14);
/* out[0..3] = all micro, all macro, top5 micro, top5 macro. */
void rv_label_f1_result(const rv_label_f1 *s, double out[4]);

#endif
