/* CheXbert (f1chexbert 0.0.2, reference/eval.md §4.1): a BERT-base encoder and 14 linear heads
 * on the final-layer [CLS] vector — 13 findings with 4 classes (blank, positive, negative,
 * uncertain) and "No Finding" with 2 — in the label order of eval/metrics/chexpert_labeler.h.
 * Labels are the argmax of each head (first maximum on ties, as torch.argmax); the "rrg"
 * mapping (rv_chx_rrg_bits) turns them into the bits every label F1 uses.
 *
 * A model directory: config.json (bert-base-uncased's), model.safetensors with the encoder
 * ("bert." names) and the heads "linear_heads.<i>.weight" [4 or 2, hidden] / ".bias", and
 * vocab.txt (+ tokenizer_config.json) of bert-base-uncased. tools/convert_pth.py makes one
 * from the published chexbert.pth (docs/metrics.md). */
#ifndef RADVLM_EVAL_NEURAL_CHEXBERT_H
#define RADVLM_EVAL_NEURAL_CHEXBERT_H

#include <stddef.h>

#include "core/error.h"
#include "eval/metrics/chexpert_labeler.h"
#include "kernels/kernels.h"

#define RV_CHEXBERT_NLOGITS (13 * 4 + 2)

/* The 14 heads: weights [RV_CHEXBERT_NLOGITS, hidden] row-major (head i's rows start at 4i),
 * biases [RV_CHEXBERT_NLOGITS]. */
typedef struct rv_chexbert_heads {
    int hidden;
    float *w, *b;
} rv_chexbert_heads;

/* logits[RV_CHEXBERT_NLOGITS] of one [CLS] vector [hidden] (accumulated in double). */
void rv_chexbert_logits(const rv_chexbert_heads *h, const float *cls_hidden, double *logits);
/* Head classes from logits: cls[i] in RV_CHX_* (No Finding: 0 blank / 1 positive). */
void rv_chexbert_classes(const double *logits, int cls[RV_CHX_NLABELS]);

typedef struct rv_chexbert rv_chexbert; /* opaque: encoder + tokenizer + heads */

/* Errors name the directory and the missing / mis-shaped head tensor. */
int rv_chexbert_load(rv_chexbert **out, const char *dir, rv_kctx *k, rv_err *err);
void rv_chexbert_free(rv_chexbert *c);
int rv_chexbert_hidden_size(const rv_chexbert *c);
const char *rv_chexbert_dir(const rv_chexbert *c);

/* Labels of n reports (f1chexbert's text preparation: whitespace runs -> one space, strip;
 * WordPiece; [CLS] ... [SEP] truncated to 512): classes[n][14], and optionally
 * logits[n * RV_CHEXBERT_NLOGITS] (NULL: not returned). */
int rv_chexbert_label(rv_chexbert *c, const char *const *texts, size_t n, int (*classes)[RV_CHX_NLABELS],
                      double *logits, rv_err *err);
/* Final-layer [CLS] vectors of n texts as RadEval's semantic_embedding_scores takes them (raw
 * text, truncation 512): out[n, hidden]. */
int rv_chexbert_embed(rv_chexbert *c, const char *const *texts, size_t n, float *out, rv_err *err);

#endif
