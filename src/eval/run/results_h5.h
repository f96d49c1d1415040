/* RUN/eval/results.h5: every task of an eval run in one HDF5 file, readable with h5py (and from
 * there pandas) without project code. Layout (docs/formats.md, "Eval outputs"):
 *
 *   /                          attrs format = "radvlm-hpc eval results", schema_version = 1,
 *                              model_tag, model_source, config (JSON), tasks (string list),
 *                              run_dependent (the columns that vary between identical runs)
 *   /tasks/<task>/             attrs family, n_items
 *   /tasks/<task>/samples/     one 1-D dataset per column, n rows, row i = item i:
 *       task, id, img_path, prompt, output, full_output, reference, labels, parsed_labels
 *                              (variable-length UTF-8 strings; labels newline-joined)
 *       idx, turn, n_tokens, prompt_tokens (int64), stopped, found (int8), seconds (float64)
 *     and, not one row per item:
 *       scores [n, nvalues] float64 with attr value_names (rv_eval_value_name)
 *       pred_boxes [B, 4] float64 + pred_box_offsets [n+1] int64 (grounding: boxes parsed from
 *       the output with upstream's rule; others: none); ref_boxes / ref_box_offsets likewise
 *       for the ground truth
 *   /tasks/<task>/metrics/     key (string), value, ci_lo, ci_hi (float64; NaN = undefined or
 *                              no interval), one row per aggregate statistic in upstream's order
 *
 * Only `seconds` varies between two runs of the same evaluation (root attr run_dependent). */
#ifndef RADVLM_EVAL_RUN_RESULTS_H5_H
#define RADVLM_EVAL_RUN_RESULTS_H5_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "eval/run/answer.h"
#include "eval/run/item.h"
#include "eval/tasks/task.h"

#define RV_EVAL_RESULTS_FORMAT "radvlm-hpc eval results"
#define RV_EVAL_RESULTS_SCHEMA 1

/* One task's results (all borrowed). */
typedef struct rv_eval_task_result {
    const rv_eval_task *task;
    const rv_eval_item *items;      /* [n] */
    const rv_eval_answer *answers;  /* [n]: answers[i] answers items[i] */
    size_t n;
    const double *values;           /* [n, rv_eval_nvalues(task)]: per-item scores (rv_eval_score) */
    /* [rv_eval_nstats(task)] each, or NULL: stats NULL = computed from values (rv_eval_stats);
     * lo/hi NULL = computed with rv_eval_bootstrap(boot_samples, boot_seed) when boot_samples > 0,
     * else NaN */
    const double *stats, *lo, *hi;
} rv_eval_task_result;

typedef struct rv_eval_results_meta {
    const char *model_tag;
    const char *model_source;
    const char *config_json;        /* the resolved configuration */
    long long boot_samples;         /* for intervals computed here */
    long long boot_seed;
} rv_eval_results_meta;

/* Writes path (temp name path.tmp-PID, renamed when complete). Task names must be distinct. */
int rv_eval_results_h5_write(const char *path, const rv_eval_results_meta *meta, const rv_eval_task_result *tasks,
                             size_t ntasks, rv_err *err);

#endif
