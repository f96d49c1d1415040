/* GRPO rewards of one rollout: upstream's dispatch (train.md B.6, eval.md §5.1) over the reward
 * metrics this build computes in-process. A response is the decoded rollout (special tokens
 * skipped); the ground truth is the cell's reference report.
 *   data source mimic_grpo (reasoning = false): reward = metric(response, truth);
 *   mimic_grpo_reasoning (reasoning = true): the text after the last "</think>", stripped, is
 *     scored; no "</think>" gives the fixed penalty (-0.0 for GoogleBLEU, RadGraph, BERTScore;
 *     -3 for RadCliQ), counted as a penalty.
 * Metrics:
 *   google_bleu: HF evaluate's google_bleu, sentence level, one reference (upstream's in-process
 *     GLEU reward; no length rule, no lower-casing, as upstream);
 *   rouge_l: rouge-score's ROUGE-L F (stemmed), an in-process reward not in upstream's jobs;
 *   label_f1: F1 of the rule-based CheXpert labels of response vs truth over the 14 labels
 *     (rrg mapping), 1 when both name none; in-process, not in upstream's jobs.
 *   bertscore, radgraph, radcliq: upstream's server rewards (eval.md §5.2) computed in-process
 *     by the neural metrics (eval/neural/neural_metrics.h: BERTScore-F of metrics.bertscore_model,
 *     RadGraph-XL complete F1, -RadCliQ-v1) in batches by the reward scorer (reward_scorer.h),
 *     which needs their models loaded; rv_grpo_reward (one pair, no model) returns NaN for them. */
#ifndef RADVLM_TRAIN_GRPO_REWARD_H
#define RADVLM_TRAIN_GRPO_REWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "eval/neural/neural_metrics.h"
#include "eval/tasks/task.h"

typedef enum rv_grpo_reward_kind {
    RV_GRPO_REWARD_GOOGLE_BLEU = 0,
    RV_GRPO_REWARD_ROUGE_L,
    RV_GRPO_REWARD_LABEL_F1,
    RV_GRPO_REWARD_BERTSCORE,
    RV_GRPO_REWARD_RADGRAPH,
    RV_GRPO_REWARD_RADCLIQ,
} rv_grpo_reward_kind;
#define RV_GRPO_REWARD_LAST RV_GRPO_REWARD_RADCLIQ

/* Whether kind k is scored by a neural model (bertscore, radgraph, radcliq). */
bool rv_grpo_reward_is_neural(rv_grpo_reward_kind k);

/* grpo.reward: google_bleu | rouge_l | label_f1 | bertscore | radgraph | radcliq; anything else
 * names the choices. */
int rv_grpo_reward_parse(const char *name, rv_grpo_reward_kind *out, rv_err *err);
const char *rv_grpo_reward_name(rv_grpo_reward_kind k);

/* Keeps in o only the models reward k needs (none for the text rewards; bertscore:
 * metrics.bertscore_model; radgraph: metrics.radgraph_model; radcliq: the RadCliQ BERTScore
 * model, CheXbert and RadGraph-XL), so the scoring ranks load nothing more. Fails naming the
 * metrics.* key to set when a needed model is not configured. */
int rv_grpo_reward_neural_opts(rv_grpo_reward_kind k, rv_neural_opts *o, rv_err *err);

/* The reward of one response; *penalty = true when the reasoning rule found no "</think>" (the
 * reward is then the fixed penalty). s: scratch reused across calls (rv_eval_scratch_free). */
double rv_grpo_reward(rv_grpo_reward_kind k, bool reasoning, const char *response, size_t len, const char *truth,
                      size_t tlen, rv_eval_scratch *s, bool *penalty);

#endif
