/* The per-task <tag>_<task>_output.json of the eval phase: a JSON array with one record per
 * item, in upstream's record layout (evaluate_instructions.py save_results, HF path; eval.md
 * §1.5), so upstream's own scripts (json.load, then r["output"], r["txt"], r["answer"],
 * r["boxes"] ...) and our score phase read it unchanged. Key order:
 *   full_output (only with eval.r1), output, instr, answer,
 *   then upstream's optional keys in its order: id, idx, img_path, labels (when the cell has
 *   "labels"), txt (report generation and conversation tasks: the reference text), boxes
 *   (grounding tasks: the ground-truth boxes, lists of 4 floats),
 *   then ours: turn (conversation tasks), n_tokens, stopped.
 * Upstream's `img` and `label` keys are not written (the item does not carry them). */
#ifndef RADVLM_EVAL_RUN_OUTPUT_JSON_H
#define RADVLM_EVAL_RUN_OUTPUT_JSON_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "core/error.h"
#include "eval/run/answer.h"
#include "eval/run/item.h"
#include "eval/tasks/task.h"

/* True for the tasks whose items are turns of a conversation (conversation, conversation_grounded). */
bool rv_eval_task_is_conversation(const rv_eval_task *t);

/* The record array of n items and their answers (items[i] answered by answers[i]). r1 adds
 * "full_output" first in each record. */
cJSON *rv_eval_output_json(const rv_eval_task *t, const rv_eval_item *items, const rv_eval_answer *answers,
                           size_t n, bool r1);

/* Writes the array as Python's json.dump(records, f, indent=2) writes it (ensure_ascii, as
 * upstream's default), plus a final newline, atomically (temp name + rename). */
int rv_eval_output_json_write(const char *path, const rv_eval_task *t, const rv_eval_item *items,
                              const rv_eval_answer *answers, size_t n, bool r1, rv_err *err);

#endif
