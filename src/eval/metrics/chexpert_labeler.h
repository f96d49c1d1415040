/* A rule-based, CheXpert-style report labeler (not CheXbert): mention phrases per observation
 * (the public CheXpert labeler's lists), then negation and uncertainty decided by our own
 * NegEx-style trigger phrases with word-window scopes and terminators (data/chexpert-labeler/
 * rules.txt, embedded in chexpert_data.c). Per report and observation: positive if any mention
 * is positive, else uncertain if any is uncertain, else negative if any is negated, else blank;
 * No Finding is positive when no observation other than Support Devices (and none of the
 * "other findings" phrases) is positive or uncertain. */
#ifndef RADVLM_EVAL_CHEXPERT_LABELER_H
#define RADVLM_EVAL_CHEXPERT_LABELER_H

#include <stddef.h>

#define RV_CHX_NLABELS 14
#define RV_CHX_NO_FINDING 13
#define RV_CHX_SUPPORT_DEVICES 12

/* CheXbert head classes. */
enum { RV_CHX_BLANK = 0, RV_CHX_POS = 1, RV_CHX_NEG = 2, RV_CHX_UNC = 3 };

/* CheXbert label order: Enlarged Cardiomediastinum, Cardiomegaly, Lung Opacity, Lung Lesion,
 * Edema, Consolidation, Pneumonia, Atelectasis, Pneumothorax, Pleural Effusion, Pleural Other,
 * Fracture, Support Devices, No Finding. */
extern const char *const rv_chx_label_names[RV_CHX_NLABELS];
/* Indices of the top-5 labels (Cardiomegaly, Edema, Consolidation, Atelectasis, Pleural Effusion). */
extern const int rv_chx_top5[5];

typedef struct rv_chx_rule {
    const char *kind; /* neg_pre | neg_post | unc_pre | unc_post | term | pseudo */
    int window;
    const char *phrase;
} rv_chx_rule;

/* Embedded data (chexpert_data.c): NULL-terminated phrase lists per label ("no_finding" lists
 * the other findings), and the rules terminated by {NULL}. */
extern const char *const *const rv_chx_mention[RV_CHX_NLABELS];
extern const char *const *const rv_chx_unmention[RV_CHX_NLABELS];
extern const rv_chx_rule rv_chx_rules[];

/* Labels one report: cls[i] is one of the RV_CHX_* classes. */
void rv_chx_label(const char *report, size_t len, int cls[RV_CHX_NLABELS]);
/* The "rrg" mapping used by every upstream F1: positive or uncertain -> 1, else 0. Bit i = label i. */
unsigned rv_chx_rrg_bits(const int cls[RV_CHX_NLABELS]);

#endif
