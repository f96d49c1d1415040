/* The two JSON documents a scoring run writes, as the score phase writes them:
 * <stem>_metrics.json (aggregate metrics under upstream's keys and order, record counts, the
 * metrics this build cannot compute with the reason, bootstrap intervals) and
 * <stem>_scored.json (one object per scored record with its index and its scores). */
#ifndef RADVLM_EVAL_TASKS_METRICS_JSON_H
#define RADVLM_EVAL_TASKS_METRICS_JSON_H

#include <cjson/cJSON.h>

#include "eval/tasks/task.h"

/* What the metrics file says besides the metrics. */
typedef struct rv_eval_tally {
    size_t n_records;         /* records read: scored + bad */
    const size_t *bad;        /* indices of the bad (unscored) records, ascending [n_bad] */
    size_t n_bad;
    long long boot_samples;   /* bootstrap resamples (0 = no intervals) */
    long long boot_seed;
} rv_eval_tally;

/* The metrics object of n scored records (values [n, rv_eval_nvalues(t)], record order). */
cJSON *rv_eval_metrics_json(const rv_eval_task *t, const double *values, size_t n, const rv_eval_tally *tally);
/* The per-record array; index[i] is record i's position in the input. */
cJSON *rv_eval_scored_json(const rv_eval_task *t, const double *values, size_t n, const size_t *index);

#endif
