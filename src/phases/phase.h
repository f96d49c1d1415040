/* The phase interface: main resolves the configuration and the run directory, then calls one
 * phase function on every rank of ctx->comm. A phase returns 0, or -1 with err filled in (main makes all
 * ranks agree and exit non-zero). */
#ifndef RADVLM_PHASES_PHASE_H
#define RADVLM_PHASES_PHASE_H

#include "comm/comm.h"
#include "core/badrec.h"
#include "core/config.h"
#include "core/error.h"

typedef struct rv_phase_ctx {
    rv_config *cfg;
    const rv_comm *comm;   /* the ranks running the phase (main: the world); every collective of
                              the phase runs on it */
    const char *run_dir;   /* --run DIR or run.dir; exists when the phase starts */
    const char *data_dir;  /* data.dir, else $DATA_DIR; NULL when neither is set */
    rv_badrec bad;         /* data.on_bad_record policy and counts for this rank */
    int exit_code;         /* process exit status when the phase returns 0 (0 unless the phase sets
                              it; sft: 75 = checkpointed after a stop, rerun me;
                              eval: 75 = stopped, answers kept, rerun me; grpo as sft) */
} rv_phase_ctx;

typedef int (*rv_phase_fn)(rv_phase_ctx *ctx, rv_err *err);

typedef struct rv_phase {
    const char *name;
    rv_phase_fn run;
    const char *summary;     /* one line for --help */
    const char *cfg_prefix;  /* config section shown by --help --phase NAME */
    int needs_data_dir;
} rv_phase;

/* The phase table (phases.c), terminated by {NULL}. */
extern const rv_phase rv_phases[];
const rv_phase *rv_phase_find(const char *name);

int rv_phase_synth(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_instruct(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_pack(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_import(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_export(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_score(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_sft(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_eval(rv_phase_ctx *ctx, rv_err *err);
int rv_phase_grpo(rv_phase_ctx *ctx, rv_err *err);

#endif
