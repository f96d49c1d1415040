/* RadCliQ-v1's semb_score (reference/eval.md §4.3): the cosine of the CheXbert final-layer
 * [CLS] vectors of the reference and the candidate; 0 when either norm is 0. */
#ifndef RADVLM_EVAL_NEURAL_SEMB_H
#define RADVLM_EVAL_NEURAL_SEMB_H

double rv_semb_cosine(const float *a, const float *b, int dim);

#endif
