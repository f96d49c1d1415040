/* Trivial baselines (issue G, the learning table): one fixed answer for every question of a
 * task, taken from the training split of the packed shards, scored by the same scorer as a
 * model's answers:
 *   prior:       classification: the most frequent label set of the training cells, written as
 *                its label names ("no finding" for the empty set); report generation and the
 *                conversations: the most frequent training answer (reports; assistant turns);
 *                grounding: the mean training box of the task, "[x1, y1, x2, y2]" (2 decimals);
 *   whole_image: grounding: "[0.0, 0.0, 1.0, 1.0]"; other tasks: as prior.
 * Ties go to the answer met first in shard order. */
#ifndef RADVLM_EVAL_RUN_BASELINE_H
#define RADVLM_EVAL_RUN_BASELINE_H

#include <stdbool.h>

#include "core/error.h"
#include "io/shard_read.h"

/* kind: "prior" or "whole_image"; task: a test task name. *answer is malloc'd; *n_train the
 * number of training samples it was derived from (0 for the whole-image box). Fails when the
 * shards hold no training sample of the task (naming the shards and task). */
int rv_eval_baseline_answer(const rv_shardset *set, const char *kind, const char *task, char **answer, size_t *n_train,
                            rv_err *err);
bool rv_eval_baseline_kind_ok(const char *kind);

#endif
