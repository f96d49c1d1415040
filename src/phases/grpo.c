/* The grpo phase: GRPO from an SFT model, policy and reward ranks in one job (docs/grpo.md). This
 * file only reads the configuration and hands over to the train room (train/grpo_loop.h). */
#include <math.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/log.h"
#include "phases/phase.h"
#include "train/grpo_config.h"
#include "train/grpo_loop.h"

/* "Checkpointed, rerun me" (EX_TEMPFAIL), as the sft phase after a stop. */
#define GRPO_EXIT_RERUN 75

int rv_phase_grpo(rv_phase_ctx *ctx, rv_err *err) {
    rv_grpo_cfg c;
    if (rv_grpo_cfg_read(ctx->cfg, ctx->run_dir, ctx->comm->size, &c, err)) {
        rv_grpo_cfg_free(&c);
        return -1;
    }
    char *json = rv_config_to_json(ctx->cfg);
    rv_grpo_env env = {.world = ctx->comm, .run_dir = ctx->run_dir, .data_dir = ctx->data_dir,
                       .run_config_json = json, .bad = &ctx->bad};
    rv_grpo_result r;
    int rc = rv_grpo_train(&c, &env, &r, err);
    free(json);
    if (!rc && !r.reward_rank) {
        rv_info0("grpo: %s %lld steps; validation reward %.4f -> %.4f", r.stopped ? "stopped (checkpointed) after" : "done:",
                 (long long)r.steps, r.first_val, r.last_val);
        if (r.stopped) ctx->exit_code = GRPO_EXIT_RERUN;
    }
    /* every rank exits with the same status (the reward ranks do not know of a stop) */
    double v = ctx->exit_code, vmax;
    rv_comm_allreduce_f64(ctx->comm, &v, &vmax, 1, RV_COMM_MAX);
    if (!rc) ctx->exit_code = (int)vmax;
    rv_grpo_cfg_free(&c);
    return rc;
}
