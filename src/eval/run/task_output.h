/* A finished task on rank 0: the answered questions in dataset order, their scored answers
 * (answer rule applied) and per-question scores — what the output files are written from. */
#ifndef RADVLM_EVAL_RUN_TASK_OUTPUT_H
#define RADVLM_EVAL_RUN_TASK_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "eval/run/answer.h"
#include "eval/run/answer_store.h"
#include "eval/run/item.h"
#include "eval/tasks/task.h"

typedef struct rv_eval_task_output {
    const rv_eval_task *t;
    rv_eval_item *items;      /* [n] answered questions, dataset order (owned) */
    rv_eval_answer *ans;      /* [n] */
    double *values;           /* [n, rv_eval_nvalues(t)] */
    size_t n;
    size_t n_questions;       /* questions asked (after eval.max_samples) */
    size_t *failed;           /* [n_failed] test-file positions (idx) of the cells with a question that
                                 could not be asked (missing image, prompt too long), ascending */
    size_t n_failed;
    size_t n_no_final;        /* eval.r1: answers without \boxed{} or </think> */
    long long gen_tokens;
    double gen_seconds;       /* sum of per-answer seconds */
} rv_eval_task_output;

typedef struct rv_eval_task_outputs {
    rv_eval_task_output *v;
    size_t n;
} rv_eval_task_outputs;

/* Builds the output of a task from the answer set: takes (moves) the answered items out of
 * items[0..n_questions), applies the answer rule (r1 extraction or the raw text, cut to 4000
 * code points) and scores every answer. */
void rv_eval_task_output_build(rv_eval_task_output *o, const rv_eval_task *t, rv_eval_item *items,
                               size_t n_questions, rv_answer_set *as, bool r1);
/* Adds the neural metrics (nm: eval/neural/neural_metrics.h; NULL = none) to the scored answers. */
int rv_eval_task_output_neural(rv_eval_task_output *o, rv_neural *nm, rv_err *err);
void rv_eval_task_output_free(rv_eval_task_output *o);
void rv_eval_task_outputs_free(rv_eval_task_outputs *v);

#endif
