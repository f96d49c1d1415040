/* Final answers of reasoning outputs, as upstream extracts them (models_loading_inference.py
 * _extract_answer with r1, and the GRPO reward's reasoning branch). */
#ifndef RADVLM_EVAL_REASONING_H
#define RADVLM_EVAL_REASONING_H

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

#endif
