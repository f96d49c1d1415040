/* Abnormality classification as upstream scores it (compute_metrics_tasks.py): a label is
 * predicted when its lower-cased name is a substring of the lower-cased answer (no negation,
 * no word boundaries); precision, recall and F1 per label, micro (pooled counts) and macro
 * (unweighted mean over all labels, empty labels count 0), as scikit-learn computes them with
 * zero_division = 0 and F1 = 2TP / (2TP + FP + FN). */
#ifndef RADVLM_EVAL_CLASSIFICATION_H
#define RADVLM_EVAL_CLASSIFICATION_H

#include <stdbool.h>
#include <stddef.h>

#define RV_CLS_NLABELS 13
/* The 13 CheXpert findings, lower-cased, alphabetical (no "no finding"). */
extern const char *const rv_cls_labels[RV_CLS_NLABELS];

/* Bit i set when label i is predicted by the answer text. */
unsigned rv_cls_parse(const char *answer, size_t len);
/* Bit set for each ground-truth label name (case-insensitive exact name); unknown names are
 * ignored, as upstream ignores them. */
unsigned rv_cls_truth(const char *const *names, size_t n);

/* Per-label counts for multi-label binary data (any number of labels up to 32). */
typedef struct rv_prf_counts {
    double tp[32], fp[32], fn[32];
    int nlabels;
} rv_prf_counts;

void rv_prf_counts_init(rv_prf_counts *c, int nlabels);
void rv_prf_counts_add(rv_prf_counts *c, unsigned truth, unsigned pred);

typedef struct rv_prf_report {
    double p_micro, r_micro, f_micro;
    double p_macro, r_macro, f_macro;
    double p[32], r[32], f[32];
} rv_prf_report;

void rv_prf_report_compute(const rv_prf_counts *c, rv_prf_report *out);

#endif
