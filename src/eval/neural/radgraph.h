/* RadGraph-XL in C (issue J): the DyGIE++ span model of the `radgraph` 0.1.18 package with
 * coref and events off, over a BERT-family encoder (textenc/encoder.h), its text preprocessing
 * (reference/eval.md §4.2) and the report-pair rewards: simple / partial / complete F1 and the
 * RadCliQ-v1 feature (entity F1 + relation F1) / 2 (§4.4). Shapes and hyper-parameters come from
 * the model's own config.json (AllenNLP style). */
#ifndef RADVLM_EVAL_NEURAL_RADGRAPH_H
#define RADVLM_EVAL_NEURAL_RADGRAPH_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/kernels.h"

typedef struct rv_radgraph rv_radgraph; /* opaque: encoder + span scorers */

/* dir: a converted RadGraph-XL directory (docs/metrics.md says how to make one from the
 * published archive). Errors name the file and the key or tensor. */
int rv_radgraph_load(rv_radgraph **out, const char *dir, rv_kctx *k, rv_err *err);
void rv_radgraph_free(rv_radgraph *g);

typedef struct rv_radgraph_pair {
    double simple, partial, complete; /* radgraph rewards.py, reward_level "all" */
    double rcq;                       /* RadCliQ-v1 feature: (entity F1 + relation F1) / 2 */
} rv_radgraph_pair;

/* Scores n (hyp, ref) pairs; out: [n]. An empty string on either side or 0 entities gives
 * simple = partial = complete = 0, as upstream (rewards.py); the RadCliQ feature annotates an
 * empty text as "None", as RadGraph.forward does for RadEval. Texts are annotated in batches
 * (each distinct text once). */
int rv_radgraph_score(rv_radgraph *g, const char *const *hyps, const char *const *refs, size_t n,
                      rv_radgraph_pair *out, rv_err *err);

#endif
