/* Abnormality classification (upstream's evaluate_classification): a label is predicted when
 * its name is a substring of the answer (eval/metrics/classification.h); the reference is the
 * record's label names. Per record: the truth and predicted label bits; aggregates:
 * scikit-learn's macro/micro precision, recall and F1 and the per-label F1 over the 13 labels. */
#include <string.h>

#include "core/error.h"
#include "eval/metrics/classification.h"
#include "eval/tasks/family.h"

/* values[NV]: truth bits, predicted bits (integers below 2^13, exact in a double) */
enum { V_TRUTH, V_PRED, NV };
static const char *const value_names[NV] = {"truth_bits", "pred_bits"};

#define NSUMMARY 6
#define NSTAT (NSUMMARY + RV_CLS_NLABELS)
static const char *const summary_keys[NSUMMARY] = {"Precision(macro)", "Precision(micro)", "Recall(macro)",
                                                   "Recall(micro)", "F1 Score(macro)", "F1 Score(micro)"};

/* the six summary keys, then one per label (its lower-cased name) with its F1 */
static const char *stat_key(size_t k) {
    if (k < NSUMMARY) return summary_keys[k];
    return k < NSTAT ? rv_cls_labels[k - NSUMMARY] : NULL;
}

static int ref_from_json(const cJSON *it, rv_eval_record *r, const char **why) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(it, "labels"), *x;
    if (!cJSON_IsArray(l)) { *why = "has no \"labels\" array"; return 1; }
    cJSON_ArrayForEach(x, l) if (!cJSON_IsString(x)) { *why = "has a non-string entry in \"labels\""; return 1; }
    size_t n = (size_t)cJSON_GetArraySize(l), k = 0;
    r->label_store = rv_xmalloc((n ? n : 1) * sizeof *r->label_store);
    cJSON_ArrayForEach(x, l) r->label_store[k++] = x->valuestring;
    r->in.labels = r->label_store;
    r->in.nlabels = n;
    return 0;
}

static void score(const rv_eval_input *in, const rv_cider_df *df, rv_eval_scratch *s, double *o) {
    (void)df; (void)s;
    o[V_TRUTH] = rv_cls_truth(in->labels, in->nlabels);
    o[V_PRED] = rv_cls_parse(in->answer.p, in->answer.len);
}

/* Example-based F1 of one record: 2TP / (2TP + FP + FN); a record where neither side names a
 * label is right, so 1 (scikit-learn's zero_division would say 0, which would punish it). */
static int nbits(unsigned x) {
    int n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

static double f1_of_bits(unsigned truth, unsigned pred) {
    int tp = nbits(truth & pred), fp = nbits(pred & ~truth), fn = nbits(truth & ~pred);
    if (tp + fp + fn == 0) return 1.0;
    return 2.0 * tp / (2.0 * tp + fp + fn);
}

static double reward(const rv_eval_input *in, rv_eval_scratch *s) {
    (void)s;
    return f1_of_bits(rv_cls_truth(in->labels, in->nlabels), rv_cls_parse(in->answer.p, in->answer.len));
}

static double reward_of(const double *v) { return f1_of_bits((unsigned)v[V_TRUTH], (unsigned)v[V_PRED]); }

static void stats(const double *values, size_t n, const size_t *idx, double *out) {
    rv_prf_counts c;
    rv_prf_counts_init(&c, RV_CLS_NLABELS);
    for (size_t i = 0; i < n; i++) {
        const double *r = rv_eval_row(values, NV, idx, i);
        rv_prf_counts_add(&c, (unsigned)r[V_TRUTH], (unsigned)r[V_PRED]);
    }
    rv_prf_report rep;
    rv_prf_report_compute(&c, &rep);
    out[0] = rep.p_macro; out[1] = rep.p_micro; out[2] = rep.r_macro;
    out[3] = rep.r_micro; out[4] = rep.f_macro; out[5] = rep.f_micro;
    for (int l = 0; l < RV_CLS_NLABELS; l++) out[NSUMMARY + l] = rep.f[l];
}

static cJSON *label_list(unsigned bits) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < RV_CLS_NLABELS; i++)
        if ((bits >> i) & 1u) cJSON_AddItemToArray(a, cJSON_CreateString(rv_cls_labels[i]));
    return a;
}

static void record_json(const double *r, cJSON *o) {
    unsigned t = (unsigned)r[V_TRUTH], p = (unsigned)r[V_PRED];
    cJSON_AddItemToObject(o, "correct_labels", label_list(t & p));
    cJSON_AddItemToObject(o, "incorrect_labels", label_list(p & ~t));
    cJSON_AddItemToObject(o, "missing_labels", label_list(t & ~p));
}

const rv_eval_family rv_eval_classification_family = {
    .name = "classification",
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
