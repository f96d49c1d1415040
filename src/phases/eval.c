/* The eval phase: every chosen test task asked of a model across the ranks, scored, written
 * (docs/evaluation.md). This file only hands over to the eval run (eval/run/eval_run.h). */
#include <stdlib.h>

#include "core/config.h"
#include "eval/run/eval_run.h"
#include "phases/phase.h"

/* "Answers kept, rerun me" (EX_TEMPFAIL), as the sft phase after a stop. */
#define EVAL_EXIT_RERUN 75

int rv_phase_eval(rv_phase_ctx *ctx, rv_err *err) {
    char *json = rv_config_to_json(ctx->cfg);
    rv_eval_env env = {.comm = ctx->comm, .run_dir = ctx->run_dir, .data_dir = ctx->data_dir, .bad = &ctx->bad,
                       .run_config_json = json};
    int stopped = 0;
    int rc = rv_eval_run(ctx->cfg, &env, &stopped, err);
    free(json);
    if (!rc && stopped) ctx->exit_code = EVAL_EXIT_RERUN;
    return rc;
}
