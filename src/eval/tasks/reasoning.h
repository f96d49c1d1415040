/* Which part of a generated text is the answer that gets scored: the whole text, or the final
 * answer of a reasoning output as upstream extracts it (models_loading_inference.py
 * _extract_answer with --r1, and the GRPO reward's `mimic_grpo_reasoning` branch). */
#ifndef RADVLM_EVAL_TASKS_REASONING_H
#define RADVLM_EVAL_TASKS_REASONING_H

#include <stdbool.h>
#include <stddef.h>

#include "eval/metrics/pytext.h"

/* Eval extraction (--r1): the content of the last "\boxed{...}" ("\boxed", optional whitespace,
 * "{", shortest run up to the first "}") when that content is non-empty; else the text after the
 * last "</think>", stripped; else the whole text stripped with *found = false. The answer is then
 * cut to its first max_cp code points (upstream: 4000; 0 = no cut). Returns a span of text. */
rv_span rv_reasoning_answer(const char *text, size_t len, size_t max_cp, bool *found);

/* GRPO reward extraction: the text after the last "</think>", stripped; *found = false (and an
 * empty span) when there is none. */
rv_span rv_reasoning_after_think(const char *text, size_t len, bool *found);

/* The answer rules the three callers use. */
typedef enum rv_answer_rule {
    RV_ANSWER_RAW,         /* the whole text, untouched (score / eval without --r1, `mimic_grpo`) */
    RV_ANSWER_R1,          /* rv_reasoning_answer(..., 4000) (score.r1, eval --r1) */
    RV_ANSWER_AFTER_THINK, /* rv_reasoning_after_think (`mimic_grpo_reasoning` rewards) */
} rv_answer_rule;

#define RV_R1_MAX_CODE_POINTS 4000

/* The answer of text under rule; *found is false when a reasoning rule found no final answer
 * (RAW always finds one). A span of text. */
rv_span rv_answer_extract(const char *text, size_t len, rv_answer_rule rule, bool *found);

#endif
