/* BERTScore as bert_score 0.3.13 computes it with idf off (reference/eval.md §3.5): greedy
 * cosine matching of the token embeddings of a candidate (hyp) and a reference, the [CLS]/[SEP]
 * (<s>/</s>) tokens weighted 0 on their own side but matched on the other side, P / R / F,
 * NaN F -> 0, a side with only its two special tokens (empty text) -> P = R = F = 0, and the
 * published baseline rescale x' = (x - b) / (1 - b) (data/bertscore_baselines.tsv).
 *
 * The pure math (rv_bertscore_greedy, the baselines) needs no model; rv_bertscorer runs an
 * encoder (textenc/encoder.h) over batches of texts. */
#ifndef RADVLM_EVAL_NEURAL_BERTSCORE_H
#define RADVLM_EVAL_NEURAL_BERTSCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "kernels/kernels.h"

typedef struct rv_bertscore_prf {
    double p, r, f;
} rv_bertscore_prf;

/* Raw (not rescaled) P / R / F of one pair. hyp: [nh, dim] token embeddings of the candidate
 * (special tokens included) with their ids hyp_ids[nh]; ref: [nr, dim] likewise. Tokens whose
 * id is cls or sep weigh 0 on their own side. Embeddings need not be normalised.
 * The max of a token runs over every token of the other side. bert_score pads the candidates
 * (references) of a batch to the longest one and masks the padded cosines to 0, so a padded
 * position's 0 also takes part in the max: ref_padded (hyp_padded) says the reference
 * (candidate) was shorter than the longest of its batch, and then a hyp (ref) token's best
 * cosine is at least 0. */
void rv_bertscore_greedy(const float *hyp, const int32_t *hyp_ids, int nh, const float *ref,
                         const int32_t *ref_ids, int nr, int dim, int32_t cls, int32_t sep,
                         bool hyp_padded, bool ref_padded, rv_bertscore_prf *out);

/* A published rescale baseline row (bert_score/rescale_baseline/en/<model>.tsv, row = layer). */
typedef struct rv_bertscore_baseline {
    const char *model;
    int layer;
    float p, r, f; /* bert_score loads them as float32 */
} rv_bertscore_baseline;

/* The row of (model, layer), or NULL. */
const rv_bertscore_baseline *rv_bertscore_baseline_find(const char *model, int layer);
/* Every row, in data/bertscore_baselines.tsv order (*n rows). */
const rv_bertscore_baseline *rv_bertscore_baselines(size_t *n);
/* x' = (x - b) / (1 - b) for P, R and F (F from the raw P, R, as bert_score). b NULL: unchanged. */
void rv_bertscore_rescale(const rv_bertscore_baseline *b, rv_bertscore_prf *x);

/* ---- with a model ---- */
typedef struct rv_bertscorer rv_bertscorer; /* opaque: encoder (first `layer` blocks) + tokenizer */

/* dir: a model directory (textenc/encoder.h). layer: the number of blocks whose output is the
 * embedding (bert_score's num_layers; upstream: 5). baseline: "auto" (the row of the model
 * named by the directory's base name or config.json _name_or_path; a model without a
 * published row is an error naming the choices), "none" (raw scores) or a model name of
 * data/bertscore_baselines.tsv. */
int rv_bertscorer_load(rv_bertscorer **out, const char *dir, int layer, const char *baseline, rv_kctx *k,
                       rv_err *err);
void rv_bertscorer_free(rv_bertscorer *b);
/* The baseline row in use (NULL: raw scores), and a short description ("distilbert-base-uncased
 * layer 5, rescaled") for logs and the metrics file. */
const rv_bertscore_baseline *rv_bertscorer_baseline(const rv_bertscorer *b);
const char *rv_bertscorer_describe(const rv_bertscorer *b);

/* Scores n (hyp, ref) pairs: out[n] rescaled (when a baseline is in use). Texts are stripped
 * (str.strip) and tokenised as bert_score does (RoBERTa with add_prefix_space, truncation to
 * 512 ids), each distinct text encoded once, in packed batches. chunk: bert_score's batch_size
 * of the call being reproduced — the pairs [0, chunk), [chunk, 2 chunk), ... are padded
 * together (rv_bertscore_greedy); 1 = one pair per call (upstream's reward and RadCliQ
 * workers), 64 = one call over a whole list (upstream's report metric; the pairs must then
 * start at a multiple of 64 of that list). */
int rv_bertscorer_score(rv_bertscorer *b, const char *const *hyps, const char *const *refs, size_t n, size_t chunk,
                        rv_bertscore_prf *out, rv_err *err);

#endif
