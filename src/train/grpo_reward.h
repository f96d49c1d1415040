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
 *   bertscore, radgraph, radcliq: upstream's server rewards; they need the neural metrics of
 *     issue J, so rv_grpo_reward_parse refuses them with that reason (never a silent 0). */
#ifndef RADVLM_TRAIN_GRPO_REWARD_H
#define RADVLM_TRAIN_GRPO_REWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "eval/tasks/task.h"

typedef enum rv_grpo_reward_kind {
    RV_GRPO_REWARD_GOOGLE_BLEU = 0,
    RV_GRPO_REWARD_ROUGE_L,
    RV_GRPO_REWARD_LABEL_F1,
} rv_grpo_reward_kind;

/* grpo.reward: google_bleu | rouge_l | label_f1; bertscore / radgraph / radcliq are refused with
 * the reason; anything else names the choices. */
int rv_grpo_reward_parse(const char *name, rv_grpo_reward_kind *out, rv_err *err);
const char *rv_grpo_reward_name(rv_grpo_reward_kind k);

/* The reward of one response; *penalty = true when the reasoning rule found no "</think>" (the
 * reward is then the fixed penalty). s: scratch reused across calls (rv_eval_scratch_free). */
double rv_grpo_reward(rv_grpo_reward_kind k, bool reasoning, const char *response, size_t len, const char *truth,
                      size_t tlen, rv_eval_scratch *s, bool *penalty);

#endif
