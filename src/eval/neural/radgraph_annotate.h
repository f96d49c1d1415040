/* The annotation step of RadGraph-XL (radgraph 0.1.18 RadGraph.forward): texts -> entities
 * and relations, for tests and tools that need more than the pair scores of radgraph.h. */
#ifndef RADVLM_EVAL_NEURAL_RADGRAPH_ANNOTATE_H
#define RADVLM_EVAL_NEURAL_RADGRAPH_ANNOTATE_H

#include <stddef.h>

#include "eval/neural/radgraph.h"
#include "eval/neural/radgraph_f1.h"
#include "eval/neural/radgraph_model.h"

/* Annotates n texts (each as given: the caller substitutes "None" for an empty text, as
 * RadGraph.forward does); out: [n], each freed with rv_rg_annot_free. Texts are encoded in
 * packed batches of several texts per encoder forward. */
int rv_radgraph_annotate(rv_radgraph *g, const char *const *texts, size_t n, rv_rg_annot *out, rv_err *err);

/* Wordpieces (segments' tokens) per encoder forward; a text is never split across forwards
 * (default 8192). Results do not depend on it; tests set it small to exercise batching. */
void rv_radgraph_set_batch_tokens(rv_radgraph *g, int max_tokens);

/* The loaded hyper-parameters and labels (label strings of annotations point into them). */
const rv_rg_cfg *rv_radgraph_cfg(const rv_radgraph *g);

#endif
