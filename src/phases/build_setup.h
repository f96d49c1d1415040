/* The reader context and instruction-builder options of a phase, from its configuration
 * (data.*, instruct.*, run.seed). Shared by every phase that builds cells from DATA_DIR. */
#ifndef RADVLM_PHASES_BUILD_SETUP_H
#define RADVLM_PHASES_BUILD_SETUP_H

#include "data/instruct/blocks.h"
#include "data/sources/readers.h"
#include "phases/phase.h"

/* Fails naming the key when a count is negative. ctx->data_dir must be set. */
int rv_build_setup(rv_phase_ctx *ctx, rv_reader_ctx *rc, rv_build_opts *o, rv_err *err);
/* data.max_file_bytes, checked to lie in 1 .. RV_READ_FILE_MAX (an error naming the key otherwise). */
int rv_data_max_file_bytes(const rv_config *cfg, size_t *out, rv_err *err);

#endif
