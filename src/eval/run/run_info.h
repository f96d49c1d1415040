/* What the eval phase's metrics file <tag>_<task>.json says beyond the score phase's
 * <stem>_metrics.json: the document is rv_eval_metrics_json's (upstream's metric keys, record
 * counts, unavailable metrics, bootstrap intervals), and rv_eval_metrics_add_run_info appends
 * an "eval" object (model, item and unparsed counts, tokens, time) and, for the conversation
 * tasks, the note that upstream's GPT-4o judge score is not computed. */
#ifndef RADVLM_EVAL_RUN_RUN_INFO_H
#define RADVLM_EVAL_RUN_RUN_INFO_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "eval/run/answer.h"
#include "eval/tasks/task.h"

typedef struct rv_eval_run_info {
    const char *model_tag;       /* upstream's model tag (file name prefix) */
    const char *model_source;    /* the checkpoint or Hugging Face directory evaluated */
    bool r1;                     /* eval.r1: answers are the extracted final answers */
    size_t n_items;              /* items asked (= records of the _output.json) */
    size_t n_unparsed;           /* rv_eval_count_unparsed */
    size_t n_no_final_answer;    /* eval.r1: answers without \boxed{} or </think> (found == 0) */
    long long generated_tokens;  /* sum of n_tokens */
} rv_eval_run_info;

/* Answers the task's parsing rule finds nothing in, which upstream scores as empty:
 * grounding: no box (rv_boxes_parse finds none); classification: no label name;
 * report generation and conversations: an empty or all-whitespace answer. */
bool rv_eval_answer_unparsed(const rv_eval_task *t, const char *output);
size_t rv_eval_count_unparsed(const rv_eval_task *t, const rv_eval_answer *answers, size_t n);

/* Fills the counts of info (n_items, n_unparsed, n_no_final_answer when r1, generated_tokens)
 * from the answers; the caller sets the model and r1. The file holds no timing, so two runs of
 * the same evaluation write the same bytes (seconds are in results.h5 and the log). */
void rv_eval_run_info_count(const rv_eval_task *t, const rv_eval_answer *answers, size_t n, rv_eval_run_info *info);

/* Appends to the metrics object m (from rv_eval_metrics_json):
 *   "eval": {"model", "model_source", "r1", "n_items", "n_unparsed", "n_no_final_answer"
 *            (null without r1), "generated_tokens"};
 * and for the conversation tasks "unavailable"."judge_score" with the reason. */
void rv_eval_metrics_add_run_info(cJSON *m, const rv_eval_task *t, const rv_eval_run_info *info);

#endif
