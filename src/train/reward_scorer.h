/* Scoring a batch of GRPO reward pairs with a per-pair deadline (issue H §2 "Faults"): a pair
 * whose metric takes longer than grpo.reward_pair_deadline_s, or returns a non-finite value (the
 * C metrics cannot throw; NaN / Inf is their "exception"), gets the reward's fallback value and
 * the flag RV_REWARD_FALLBACK, and the batch goes on — verl added exactly this after one slow
 * sample hung training. Used by the reward ranks (reward_service.h) and by policy ranks that
 * score their own rollouts (grpo.reward_ranks = 0).
 *
 * How: the C metrics cannot be interrupted, so with a deadline the pairs are scored by a worker
 * thread while the calling thread waits on a condition variable with a timeout (one wake-up per
 * batch when nothing is late, not one per pair). A worker owns a copy of the pairs it scores and
 * the slots it writes; when its current pair passes the deadline the caller abandons it
 * (detached: it frees its own memory whenever the metric returns) and a new worker goes on with
 * the next pair. At most RV_REWARD_MAX_STUCK abandoned workers may still be running at once
 * (each holds a core while its metric runs on): one more is a hanging metric, not a slow sample,
 * and the batch fails with a message saying so. Deadline <= 0: no deadline, no thread (the pairs
 * are scored inline). The worst case of a batch is n x deadline; grpo.reward_timeout_s must
 * cover what the policy ranks wait for.
 *
 * The neural rewards (bertscore, radgraph, radcliq) are scored differently: on the calling thread
 * (a model run cannot be abandoned halfway: the models' buffers are shared), one pair per model
 * pass (its two texts in one packed batch; a reward must not depend on which pairs share a
 * rank's batch), with upstream's rules per pair (reasoning penalty,
 * <= 5 code points, 2048-code-point lower-cased prefixes); a failed model run or a non-finite
 * score gives the fallback to the pairs concerned, as upstream's workers do on an exception;
 * grpo.reward_pair_deadline_s does not apply to them (docs/grpo.md). */
#ifndef RADVLM_TRAIN_REWARD_SCORER_H
#define RADVLM_TRAIN_REWARD_SCORER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "eval/neural/neural_metrics.h"
#include "eval/tasks/task.h"
#include "train/grpo_reward.h"

#define RV_REWARD_MAX_STUCK 16

typedef struct rv_reward_pair {
    const char *response; /* decoded rollout */
    size_t rlen;
    const char *truth;    /* reference report */
    size_t tlen;
} rv_reward_pair;

/* What a score is: the metric's value, upstream's fixed penalty (reasoning without "</think>"),
 * or the reward's fallback (the pair ran past its deadline or scored non-finite). */
typedef enum rv_reward_flag { RV_REWARD_OK = 0, RV_REWARD_PENALTY = 1, RV_REWARD_FALLBACK = 2 } rv_reward_flag;

/* The value a pair gets when its score is lost: upstream's reward functions return it when
 * scoring throws (0 for GoogleBLEU, BERTScore, RadGraph; -3 for RadCliQ). */
double rv_grpo_reward_fallback(rv_grpo_reward_kind k);

/* The metric of one pair, rv_grpo_reward's signature. Tests inject a slow or non-finite one
 * (the scorer calls it from worker threads: it must touch nothing but its arguments and
 * read-only data; s is the calling thread's own scratch). */
typedef double (*rv_reward_metric_fn)(rv_grpo_reward_kind k, bool reasoning, const char *response, size_t len,
                                      const char *truth, size_t tlen, rv_eval_scratch *s, bool *penalty);

/* Counts over the batches scored (fallbacks = late + non-finite). */
typedef struct rv_reward_counts {
    uint64_t pairs, penalties, late, nonfinite;
} rv_reward_counts;

typedef struct rv_reward_stuck rv_reward_stuck; /* shared with abandoned workers (reward_scorer.c) */

typedef struct rv_reward_scorer {
    rv_reward_metric_fn metric;
    rv_eval_scratch scratch;   /* inline scoring (no deadline) */
    rv_reward_stuck *stuck;    /* abandoned workers still running */
    int max_stuck;             /* RV_REWARD_MAX_STUCK; tests lower it */
    rv_reward_counts counts;
    rv_neural *neural;         /* borrowed: the models of the neural rewards (NULL: none loaded) */
} rv_reward_scorer;

/* metric NULL: rv_grpo_reward. */
void rv_reward_scorer_init(rv_reward_scorer *sc, rv_reward_metric_fn metric);
/* Releases the scorer; abandoned workers still running free themselves when their metric returns. */
void rv_reward_scorer_free(rv_reward_scorer *sc);
/* Abandoned workers whose metric has not returned yet (for logs; tests wait for 0). */
int rv_reward_scorer_stuck(const rv_reward_scorer *sc);

/* scores[n], flags[n] (rv_reward_flag) of pairs[n], each pair within deadline_s seconds (<= 0:
 * none). Fallbacks are logged (warn) with the pair's index and `label` (who asked: e.g. "rank 0's
 * batch 3"). Fails only when more than max_stuck abandoned workers would be running, or a thread
 * cannot be started. */
int rv_reward_score(rv_reward_scorer *sc, rv_grpo_reward_kind kind, bool reasoning, double deadline_s,
                    const rv_reward_pair *pairs, size_t n, double *scores, uint8_t *flags, const char *label,
                    rv_err *err);

#endif
