/* Sequence packing: a rank's samples of one step, in order, cut into micro-batches, each one
 * token stream of several whole samples up to max_tokens (the model's varlen attention keeps
 * samples apart, so packing changes the cost of a step, not its loss). Greedy in order: a
 * sample starts a new micro-batch when it would overflow the current one. */
#ifndef RADVLM_TRAIN_MICROBATCH_H
#define RADVLM_TRAIN_MICROBATCH_H

#include "core/error.h"

/* lens [n] -> starts [n + 1]: micro-batch b holds samples starts[b] .. starts[b + 1] - 1, *nmb of
 * them. A sample longer than max_tokens is an error naming its position and length. */
int rv_microbatch_plan(const int *lens, int n, int max_tokens, int *starts, int *nmb, rv_err *err);

#endif
