/* Aggregating scored records into a task's metrics (upstream's keys and order), and their
 * percentile-bootstrap intervals. values holds n records' vectors from rv_eval_score, in record
 * order ([n, rv_eval_nvalues(t)]); the statistics of a resample are computed exactly as those of
 * the records themselves (corpus BLEU from summed counts, means, micro/macro F1 from summed
 * counts, mAP, avg_iou), so point and interval agree in definition. */
#ifndef RADVLM_EVAL_TASKS_AGGREGATE_H
#define RADVLM_EVAL_TASKS_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "eval/tasks/task.h"

/* Number of aggregate statistics, and the output key of statistic k (upstream's order). */
size_t rv_eval_nstats(const rv_eval_task *t);
const char *rv_eval_stat_key(const rv_eval_task *t, size_t k);

/* out[rv_eval_nstats(t)] over the n records idx[0..n) of values (idx NULL: records 0..n-1).
 * A statistic that is undefined (avg_iou without any box pair) is NaN. n > 0. */
void rv_eval_stats(const rv_eval_task *t, const double *values, size_t n, const size_t *idx, double *out);

/* lo/hi[rv_eval_nstats(t)] = 2.5 / 97.5 percentiles over B resamples of the n records (Philox
 * stream named by seed, independent of the rank count). n > 0. */
void rv_eval_bootstrap(const rv_eval_task *t, const double *values, size_t n, size_t B, uint64_t seed,
                       double *lo, double *hi);

#endif
