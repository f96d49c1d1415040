/* The eval run (docs/evaluation.md): for every chosen test task, the questions still without an
 * answer are dealt to the ranks by cost, asked in continuous batches (model/gen_loop.h) and each
 * finished answer is appended to the rank's answer file (eval/run/answer_store.h); then rank 0
 * reads every answer back in dataset order, scores them with the task library (eval/tasks/) and
 * writes RUN/eval/<tag>_<task>_output.json, <tag>_<task>.json (metrics, bootstrap intervals),
 * for grounding tasks <tag>_<task>_boxes.png, and at the end RUN/eval/results.h5. Answers do not
 * depend on the rank count, the batch or the slot a question ran in, so neither do the files. */
#ifndef RADVLM_EVAL_RUN_EVAL_RUN_H
#define RADVLM_EVAL_RUN_EVAL_RUN_H

#include "comm/comm.h"
#include "core/badrec.h"
#include "core/config.h"
#include "core/error.h"

typedef struct rv_eval_env {
    const rv_comm *comm;
    const char *run_dir;
    const char *data_dir;         /* may be NULL */
    rv_badrec *bad;
    const char *run_config_json;  /* recorded in results.h5 */
} rv_eval_env;

/* Collective. *stopped = 1 when a stop signal (SIGUSR1/SIGTERM) ended the run early: every answer
 * finished so far is kept and a rerun continues (the phase exits 75). */
int rv_eval_run(const rv_config *cfg, const rv_eval_env *env, int *stopped, rv_err *err);

#endif
