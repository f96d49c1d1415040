/* verl's balance_batch (train.md B.3, trainer.balance_batch = True): the step's responses are
 * reordered so every policy rank gets the same number of them and about the same total tokens
 * (prompt + response), since a rank's update time follows its tokens. verl partitions with
 * Karmarkar-Karp; this is the greedy longest-first rule under the same equal-count constraint
 * (simpler, the same aim; deterministic: ties by index and rank). It depends only on the
 * lengths, so every rank computes the same assignment. */
#ifndef RADVLM_TRAIN_GRPO_BALANCE_H
#define RADVLM_TRAIN_GRPO_BALANCE_H

#include <stdint.h>

/* lens[n] tokens per response; n divisible by nparts. part[n]: the rank of each response; each
 * rank gets n / nparts of them. The longest unassigned response goes to the rank with the fewest
 * tokens so far among those with room (lowest rank on ties). */
void rv_grpo_balance(const int64_t *lens, int n, int nparts, int *part);

#endif
