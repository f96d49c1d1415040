/* The sft phase: supervised fine-tuning over the packed shards, data parallel over the ranks,
 * resumable (docs/training.md). This file only reads the configuration and hands over to the
 * train room: train/sft_loop.h (the steps), train/sft_memory.h (sft.dry_run). */
#include <math.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/log.h"
#include "phases/phase.h"
#include "train/sft_config.h"
#include "train/sft_loop.h"
#include "train/sft_memory.h"

/* "Checkpointed, rerun me" (EX_TEMPFAIL): stopped by a signal or the time budget after a save. */
#define SFT_EXIT_RERUN 75

int rv_phase_sft(rv_phase_ctx *ctx, rv_err *err) {
    rv_sft_cfg c;
    if (rv_sft_cfg_read(ctx->cfg, ctx->run_dir, ctx->comm->size, &c, err)) {
        rv_sft_cfg_free(&c);
        return -1;
    }
    rv_sft_env env = {.dp = ctx->comm, .run_dir = ctx->run_dir, .data_dir = ctx->data_dir};
    int rc;
    if (c.dry_run) {
        rv_sft_memory mem;
        rc = rv_sft_dry_run(&c, &env, &mem, err);
    } else {
        char *json = rv_config_to_json(ctx->cfg);
        env.run_config_json = json;
        rv_sft_result r;
        rc = rv_sft_train(&c, &env, &r, err);
        free(json);
        if (!rc) {
            rv_info0("sft: %s %lld steps, final loss %.4f, %.0f tokens/s", r.stopped ? "stopped (checkpointed) after" : "done:",
                     (long long)r.steps, r.final_loss, r.tokens_per_s);
            if (r.stopped) ctx->exit_code = SFT_EXIT_RERUN;
        }
    }
    rv_sft_cfg_free(&c);
    return rc;
}
