/* The eval run's files on rank 0, from finished task outputs (eval/run/task_output.h): per task
 * <tag>_<task>_output.json (upstream's records), <tag>_<task>.json (metrics, bootstrap
 * intervals, run info) and for grounding tasks <tag>_<task>_boxes.png; per run results.h5.
 * Layouts: docs/formats.md, "Eval outputs". */
#ifndef RADVLM_EVAL_RUN_RUN_FILES_H
#define RADVLM_EVAL_RUN_RUN_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "eval/run/task_output.h"

typedef struct rv_eval_files {
    const char *dir;           /* RUN/eval */
    const char *tag;
    const char *model_source;
    const char *config_json;   /* the resolved configuration (results.h5) */
    bool r1;
    long long bootstrap;       /* resamples; 0 = no intervals */
    uint64_t seed;             /* of the bootstrap */
    int png_samples;           /* grounding figure: the last N samples (0 = none) */
} rv_eval_files;

/* Writes one task's files and logs its summary line (the main metric with its interval). */
int rv_eval_write_task_files(const rv_eval_files *f, const rv_eval_task_output *o, rv_err *err);
/* Writes RUN/eval/results.h5 over every task of the run. */
int rv_eval_write_results(const rv_eval_files *f, const rv_eval_task_outputs *outs, double seconds, rv_err *err);

#endif
