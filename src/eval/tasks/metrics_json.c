/* The metrics and per-record JSON documents of a scoring run (layout in metrics_json.h and
 * docs/metrics.md). Key order is upstream's for the metrics, then our bookkeeping keys. */
#include "eval/tasks/metrics_json.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "eval/tasks/aggregate.h"
#include "eval/tasks/family.h"
#include "io/json.h"

/* NaN marks an undefined metric (avg_iou without box pairs): upstream omits the key */
static void add_num(cJSON *o, const char *k, double v) {
    if (isnan(v)) return;
    cJSON_AddItemToObject(o, k, rv_json_float(v));
}

cJSON *rv_eval_metrics_json(const rv_eval_task *t, const double *values, size_t n, const rv_eval_tally *tally) {
    size_t nstat = rv_eval_nstats(t);
    long long B = tally->boot_samples;
    double *pt = rv_xcalloc(nstat, sizeof *pt), *lo = rv_xcalloc(nstat, sizeof *lo), *hi = rv_xcalloc(nstat, sizeof *hi);
    if (n) rv_eval_stats(t, values, n, NULL, pt);
    else for (size_t k = 0; k < nstat; k++) pt[k] = NAN; /* no record: no metric, never a plausible 0.0 */
    if (n && B > 0) rv_eval_bootstrap(t, values, n, (size_t)B, (uint64_t)tally->boot_seed, lo, hi);

    cJSON *m = cJSON_CreateObject(), *ci = cJSON_CreateObject(), *un = cJSON_CreateObject();
    for (size_t k = 0; k < nstat; k++) add_num(m, rv_eval_stat_key(t, k), pt[k]);
    if (t->family->unavailable) t->family->unavailable(values, n, un);
    if (!n) /* (a metric whose model is missing keeps that reason) */
        for (size_t k = 0; k < nstat; k++)
            if (!cJSON_GetObjectItemCaseSensitive(un, rv_eval_stat_key(t, k)))
                cJSON_AddStringToObject(un, rv_eval_stat_key(t, k), "no record could be scored (n_scored = 0)");
    if (B > 0 && n)
        for (size_t k = 0; k < nstat; k++) {
            if (isnan(pt[k])) continue;
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, rv_json_float(lo[k]));
            cJSON_AddItemToArray(pair, rv_json_float(hi[k]));
            cJSON_AddItemToObject(ci, rv_eval_stat_key(t, k), pair);
        }
    cJSON_AddStringToObject(m, "task", rv_eval_task_name(t));
    cJSON_AddNumberToObject(m, "n_records", (double)tally->n_records);
    cJSON_AddNumberToObject(m, "n_scored", (double)n);
    cJSON_AddNumberToObject(m, "n_bad_records", (double)tally->n_bad);
    cJSON *badarr = cJSON_CreateArray();
    for (size_t i = 0; i < tally->n_bad; i++) cJSON_AddItemToArray(badarr, cJSON_CreateNumber((double)tally->bad[i]));
    cJSON_AddItemToObject(m, "bad_records", badarr);
    if (cJSON_GetArraySize(un)) cJSON_AddItemToObject(m, "unavailable", un); else cJSON_Delete(un);
    cJSON *bs = cJSON_CreateObject();
    cJSON_AddNumberToObject(bs, "samples", (double)B);
    cJSON_AddNumberToObject(bs, "seed", (double)tally->boot_seed);
    cJSON_AddStringToObject(bs, "interval", "percentile 2.5 / 97.5");
    cJSON_AddItemToObject(bs, "ci95", ci);
    cJSON_AddItemToObject(m, "bootstrap", bs);
    free(pt); free(lo); free(hi);
    return m;
}

cJSON *rv_eval_scored_json(const rv_eval_task *t, const double *values, size_t n, const size_t *index) {
    size_t nv = rv_eval_nvalues(t);
    cJSON *sc = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)index[i]);
        t->family->record_json(values + i * nv, o);
        cJSON_AddItemToArray(sc, o);
    }
    return sc;
}
