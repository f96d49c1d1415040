/* Records of an upstream-style *_output.json as task inputs: "output" is the answer; the
 * reference is "txt" (else "answer") for report generation, "labels" (strings) for
 * classification, "boxes" (lists of 4 numbers) for grounding. A record that does not fit is
 * rejected with the reason, so the caller can report it by index and go on. */
#ifndef RADVLM_EVAL_TASKS_RECORD_JSON_H
#define RADVLM_EVAL_TASKS_RECORD_JSON_H

#include <cjson/cJSON.h>

#include "eval/tasks/task.h"

/* A checked record: in borrows the texts of the cJSON tree (keep it alive) and the two arrays
 * below, which the record owns. */
typedef struct rv_eval_record {
    rv_eval_input in;
    const char **label_store;
    rv_eval_box *box_store;
} rv_eval_record;

/* Fills r from item, with the answer picked by rule. Returns 0, or 1 with *why set to the
 * reason (static text, e.g. "has no \"boxes\" array"; it completes "record N ..."). r needs
 * rv_eval_record_free either way. */
int rv_eval_record_from_json(const rv_eval_task *t, const cJSON *item, rv_answer_rule rule,
                             rv_eval_record *r, const char **why);
void rv_eval_record_free(rv_eval_record *r);

#endif
