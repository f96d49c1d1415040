/* Grounding tasks (upstream's evaluate_boxes): boxes parsed from the answer, the reference is
 * the record's ground-truth boxes. Per record: AP at IoU 0.5, the sum of IoUs over all
 * prediction x truth pairs and their number, the predicted and unparsable box counts;
 * aggregates: mAP_0.5 = mean AP, avg_iou = summed IoUs / summed pairs (NaN, so omitted, when no
 * record had both boxes). */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "eval/metrics/grounding.h"
#include "eval/metrics/npstat.h"
#include "eval/tasks/family.h"
#include "io/json.h"

enum { V_AP, V_IOU_SUM, V_PAIRS, V_NPRED, V_NBAD, NV };
static const char *const value_names[NV] = {"ap", "iou_sum", "iou_pairs", "n_pred_boxes", "n_unparsable_boxes"};

#define NSTAT 2
static const char *const keys[NSTAT] = {"mAP_0.5", "avg_iou"};

static const char *stat_key(size_t k) { return k < NSTAT ? keys[k] : NULL; }

static int ref_from_json(const cJSON *it, rv_eval_record *r, const char **why) {
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(it, "boxes"), *x, *v;
    if (!cJSON_IsArray(b)) { *why = "has no \"boxes\" array"; return 1; }
    cJSON_ArrayForEach(x, b) {
        if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 4) { *why = "has a box that is not a list of 4 numbers"; return 1; }
        cJSON_ArrayForEach(v, x) if (!cJSON_IsNumber(v)) { *why = "has a box that is not a list of 4 numbers"; return 1; }
    }
    size_t ng = (size_t)cJSON_GetArraySize(b), k = 0;
    r->box_store = rv_xcalloc(ng ? ng : 1, sizeof *r->box_store);
    cJSON_ArrayForEach(x, b) {
        rv_eval_box *g = &r->box_store[k++];
        g->x1 = cJSON_GetArrayItem(x, 0)->valuedouble; g->y1 = cJSON_GetArrayItem(x, 1)->valuedouble;
        g->x2 = cJSON_GetArrayItem(x, 2)->valuedouble; g->y2 = cJSON_GetArrayItem(x, 3)->valuedouble;
    }
    r->in.boxes = r->box_store;
    r->in.nboxes = ng;
    return 0;
}

static void score(const rv_eval_input *in, const rv_cider_df *df, rv_eval_scratch *s, double *o) {
    (void)df; (void)s;
    rv_eval_box *pred = NULL;
    size_t bad = 0, np = rv_boxes_parse(in->answer.p, in->answer.len, &pred, &bad);
    rv_ground_sample g;
    rv_ground_score(pred, np, in->boxes, in->nboxes, 0.5, &g);
    o[V_AP] = g.ap; o[V_IOU_SUM] = g.iou_sum; o[V_PAIRS] = g.pairs;
    o[V_NPRED] = (double)np; o[V_NBAD] = (double)bad;
    free(pred);
}

static double reward(const rv_eval_input *in, rv_eval_scratch *s) {
    double v[NV];
    score(in, NULL, s, v);
    return v[V_AP];
}

static double reward_of(const double *v) { return v[V_AP]; }

static void stats(const double *values, size_t n, const size_t *idx, double *out) {
    double *col = rv_xmalloc((n ? n : 1) * sizeof *col);
    double iou = 0, pairs = 0;
    for (size_t i = 0; i < n; i++) {
        const double *r = rv_eval_row(values, NV, idx, i);
        col[i] = r[V_AP];
        iou += r[V_IOU_SUM];
        pairs += r[V_PAIRS];
    }
    out[0] = rv_np_mean(col, n);
    out[1] = pairs > 0 ? iou / pairs : NAN;
    free(col);
}

static void record_json(const double *r, cJSON *o) {
    cJSON_AddItemToObject(o, "ap", rv_json_float(r[V_AP]));
    if (r[V_PAIRS] > 0) cJSON_AddItemToObject(o, "mean_iou", rv_json_float(r[V_IOU_SUM] / r[V_PAIRS]));
    cJSON_AddNumberToObject(o, "n_pred_boxes", r[V_NPRED]);
    cJSON_AddNumberToObject(o, "n_unparsable_boxes", r[V_NBAD]);
}

const rv_eval_family rv_eval_grounding_family = {
    .name = "grounding",
    .nvalues = NV,
    .nstats = NSTAT,
    .needs_corpus = false,
    .stat_key = stat_key,
    .value_names = value_names,
    .ref_from_json = ref_from_json,
    .score = score,
    .reward = reward,
    .reward_of = reward_of,
    .stats = stats,
    .record_json = record_json,
    .unavailable = NULL,
};
