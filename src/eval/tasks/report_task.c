/* Report generation (upstream's evaluate_reports = vilmedic calcAllMetrics_whole): the answer
 * is a report, the reference the ground-truth report. Per record: coco BLEU counts and sentence
 * BLEU-4, ROUGE-1/2/L F, CIDEr-D, GoogleBLEU, and the rule-based labeler's rrg bits of both
 * reports; aggregates: corpus BLEU from summed counts, means of the per-pair scores, label F1
 * from the summed bits. The GRPO reward is GoogleBLEU (upstream's in-process reward).
 * With the neural models configured (eval/neural/neural_metrics.h) a record also gets
 * BERTScore, the RadGraph-XL F1s, CheXbert's rrg bits of both reports and -RadCliQ-v1; their
 * aggregates are means (label F1 from summed CheXbert bits); a neural value that was not
 * computed is NaN and its metric is listed as unavailable instead. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics/bleu.h"
#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/google_bleu.h"
#include "eval/metrics/label_f1.h"
#include "eval/metrics/npstat.h"
#include "eval/metrics/rouge.h"
#include "eval/neural/neural_metrics.h"
#include "eval/tasks/family.h"
#include "io/json.h"

/* values[NV]: BLEU counts (testlen reflen guess[4] correct[4]) then the per-pair scores */
enum { V_BLEU = 0, V_BLEU4 = 10, V_R1, V_R2, V_RL, V_CIDER, V_GBLEU, V_REFBITS, V_HYPBITS,
       /* neural (NaN: not computed) */
       V_BERT, V_RG_S, V_RG_P, V_RG_C, V_CXB_REF, V_CXB_HYP, V_RADCLIQ, NV };

static const char *const value_names[NV] = {
    "bleu_testlen", "bleu_reflen", "bleu_guess_1", "bleu_guess_2", "bleu_guess_3", "bleu_guess_4",
    "bleu_correct_1", "bleu_correct_2", "bleu_correct_3", "bleu_correct_4", "bleu4", "rouge1", "rouge2",
    "rougel", "ciderd", "google_bleu", "labels_ref_bits", "labels_output_bits", "bertscore", "radgraph_simple",
    "radgraph_partial", "radgraph_complete", "chexbert_ref_bits", "chexbert_output_bits", "radcliq"};

#define NSTAT 23
/* upstream's keys first (blue, ciderd, rouge1, rouge2, rougel: upstream's order without its
 * neural keys), then ours, then the neural metrics (upstream's bertscore, radgraph_*, chexbert_*
 * and compute_radcliq.py's mean): a neural metric that was not computed is NaN, so its key is
 * absent and the file is the same as without the models */
enum { S_BLUE, S_CIDER, S_R1, S_R2, S_RL, S_BLEU1, S_GBLEU = S_BLEU1 + 3, S_RULES, S_BLEU4S = S_RULES + 4,
       S_BERT, S_RG, S_CXB = S_RG + 3, S_RADCLIQ = S_CXB + 4 };
static const char *const keys[NSTAT] = {
    "blue", "ciderd", "rouge1", "rouge2", "rougel", "bleu_1", "bleu_2", "bleu_3", "google_bleu",
    "chexpert_rules_all_micro", "chexpert_rules_all_macro", "chexpert_rules_5_micro",
    "chexpert_rules_5_macro", "bleu_4_sentence_mean", "bertscore", "radgraph_simple", "radgraph_partial",
    "radgraph_complete", "chexbert_all_micro", "chexbert_all_macro", "chexbert_5_micro", "chexbert_5_macro",
    "radcliq_v1"};
_Static_assert(S_RADCLIQ + 1 == NSTAT, "one key per statistic");

static const char *stat_key(size_t k) { return k < NSTAT ? keys[k] : NULL; }

static int ref_from_json(const cJSON *it, rv_eval_record *r, const char **why) {
    /* upstream's report metrics read "txt"; compute_radcliq.py reads "answer" (the same text) */
    const cJSON *gt = cJSON_GetObjectItemCaseSensitive(it, "txt");
    if (!gt) gt = cJSON_GetObjectItemCaseSensitive(it, "answer");
    if (!gt) { *why = "has neither \"txt\" nor \"answer\""; return 1; }
    if (!cJSON_IsString(gt)) { *why = "has a ground truth (\"txt\"/\"answer\") that is not a string"; return 1; }
    r->in.ref.p = gt->valuestring;
    r->in.ref.len = strlen(gt->valuestring);
    return 0;
}

static void score(const rv_eval_input *in, const rv_cider_df *df, rv_eval_scratch *s, double *o) {
    const char *hyp = in->answer.p, *ref = in->ref.p;
    size_t hlen = in->answer.len, rlen = in->ref.len;
    rv_ngram_ws *ws = &s->ngram;
    memset(o, 0, NV * sizeof *o);
    rv_bleu_stats st;
    rv_bleu_stats_pair(hyp, hlen, ref, rlen, &st, ws);
    o[V_BLEU + 0] = st.testlen; o[V_BLEU + 1] = st.reflen;
    for (int k = 0; k < 4; k++) { o[V_BLEU + 2 + k] = st.guess[k]; o[V_BLEU + 6 + k] = st.correct[k]; }
    double b[4];
    rv_bleu_score(&st, b);
    o[V_BLEU4] = b[3];
    rv_prf rg[3];
    rv_rouge_pair(hyp, hlen, ref, rlen, rg, ws);
    o[V_R1] = rg[RV_ROUGE1].f; o[V_R2] = rg[RV_ROUGE2].f; o[V_RL] = rg[RV_ROUGEL].f;
    o[V_CIDER] = df ? rv_cider_pair(df, hyp, hlen, ref, rlen, ws) : 0.0;
    o[V_GBLEU] = rv_google_bleu(hyp, hlen, ref, rlen, ws);
    int c[RV_CHX_NLABELS];
    rv_chx_label(ref, rlen, c);
    o[V_REFBITS] = rv_chx_rrg_bits(c);
    rv_chx_label(hyp, hlen, c);
    o[V_HYPBITS] = rv_chx_rrg_bits(c);
    for (int k = V_BERT; k < NV; k++) o[k] = NAN; /* score_neural's */
}

static int score_neural(const rv_eval_input *in, size_t n, rv_neural *nm, double *values, rv_err *err) {
    rv_span *h = rv_xmalloc(n * sizeof *h), *r = rv_xmalloc(n * sizeof *r);
    rv_neural_feats *f = rv_xmalloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) { h[i] = in[i].answer; r[i] = in[i].ref; }
    int rc = rv_neural_score_pairs(nm, h, r, n, f, err);
    for (size_t i = 0; !rc && i < n; i++) {
        double *o = values + i * NV;
        o[V_BERT] = f[i].bertscore;
        o[V_RG_S] = f[i].radgraph[0]; o[V_RG_P] = f[i].radgraph[1]; o[V_RG_C] = f[i].radgraph[2];
        o[V_CXB_REF] = f[i].chexbert_ref_bits; o[V_CXB_HYP] = f[i].chexbert_hyp_bits;
        o[V_RADCLIQ] = f[i].radcliq;
    }
    free(h); free(r); free(f);
    return rc;
}

static double reward(const rv_eval_input *in, rv_eval_scratch *s) {
    return rv_google_bleu(in->answer.p, in->answer.len, in->ref.p, in->ref.len, &s->ngram);
}

static double reward_of(const double *v) { return v[V_GBLEU]; }

static void stats(const double *values, size_t n, const size_t *idx, double *out) {
    double *col = rv_xmalloc((n ? n : 1) * sizeof *col);
    rv_bleu_stats tot = {0};
    rv_label_f1 lf;
    rv_label_f1_init(&lf);
    for (size_t i = 0; i < n; i++) {
        const double *r = rv_eval_row(values, NV, idx, i);
        rv_bleu_stats st;
        st.testlen = r[V_BLEU + 0]; st.reflen = r[V_BLEU + 1];
        for (int k = 0; k < 4; k++) { st.guess[k] = r[V_BLEU + 2 + k]; st.correct[k] = r[V_BLEU + 6 + k]; }
        rv_bleu_stats_add(&tot, &st);
        rv_label_f1_add(&lf, (unsigned)r[V_REFBITS], (unsigned)r[V_HYPBITS]);
    }
    double b[4], lf4[4];
    rv_bleu_score(&tot, b);
    rv_label_f1_result(&lf, lf4);
    out[S_BLUE] = b[3];
    /* means with numpy's pairwise summation, so they equal np.mean bit for bit; a column with a
     * NaN (a neural metric not computed) has a NaN mean: the key is left out */
    const int fields[] = {V_CIDER, V_R1, V_R2, V_RL, V_GBLEU, V_BLEU4, V_BERT, V_RG_S, V_RG_P, V_RG_C, V_RADCLIQ};
    const int to[] = {S_CIDER, S_R1, S_R2, S_RL, S_GBLEU, S_BLEU4S, S_BERT, S_RG, S_RG + 1, S_RG + 2, S_RADCLIQ};
    for (size_t k = 0; k < sizeof fields / sizeof *fields; k++) {
        for (size_t i = 0; i < n; i++) col[i] = rv_eval_row(values, NV, idx, i)[fields[k]];
        out[to[k]] = rv_np_mean(col, n);
    }
    for (int k = 0; k < 3; k++) out[S_BLEU1 + k] = b[k];
    for (int k = 0; k < 4; k++) out[S_RULES + k] = lf4[k];
    /* upstream's chexbert_* F1s, from CheXbert's labels */
    bool cxb = true;
    rv_label_f1_init(&lf);
    for (size_t i = 0; i < n && cxb; i++) {
        const double *r = rv_eval_row(values, NV, idx, i);
        if (isnan(r[V_CXB_REF]) || isnan(r[V_CXB_HYP])) cxb = false;
        else rv_label_f1_add(&lf, (unsigned)r[V_CXB_REF], (unsigned)r[V_CXB_HYP]);
    }
    rv_label_f1_result(&lf, lf4);
    for (int k = 0; k < 4; k++) out[S_CXB + k] = cxb ? lf4[k] : NAN;
    free(col);
}

static cJSON *label_list(unsigned bits) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < RV_CHX_NLABELS; i++)
        if ((bits >> i) & 1u) cJSON_AddItemToArray(a, cJSON_CreateString(rv_chx_label_names[i]));
    return a;
}

static void record_json(const double *r, cJSON *o) {
    cJSON_AddItemToObject(o, "bleu4", rv_json_float(r[V_BLEU4]));
    cJSON_AddItemToObject(o, "ciderd", rv_json_float(r[V_CIDER]));
    cJSON_AddItemToObject(o, "rouge1", rv_json_float(r[V_R1]));
    cJSON_AddItemToObject(o, "rouge2", rv_json_float(r[V_R2]));
    cJSON_AddItemToObject(o, "rougel", rv_json_float(r[V_RL]));
    cJSON_AddItemToObject(o, "google_bleu", rv_json_float(r[V_GBLEU]));
    cJSON_AddItemToObject(o, "labels_ref", label_list((unsigned)r[V_REFBITS]));
    cJSON_AddItemToObject(o, "labels_output", label_list((unsigned)r[V_HYPBITS]));
    if (!isnan(r[V_BERT])) cJSON_AddItemToObject(o, "bertscore", rv_json_float(r[V_BERT]));
    if (!isnan(r[V_RG_S])) {
        cJSON_AddItemToObject(o, "radgraph_simple", rv_json_float(r[V_RG_S]));
        cJSON_AddItemToObject(o, "radgraph_partial", rv_json_float(r[V_RG_P]));
        cJSON_AddItemToObject(o, "radgraph_complete", rv_json_float(r[V_RG_C]));
    }
    if (!isnan(r[V_CXB_REF])) {
        cJSON_AddItemToObject(o, "chexbert_labels_ref", label_list((unsigned)r[V_CXB_REF]));
        cJSON_AddItemToObject(o, "chexbert_labels_output", label_list((unsigned)r[V_CXB_HYP]));
    }
    if (!isnan(r[V_RADCLIQ])) cJSON_AddItemToObject(o, "radcliq", rv_json_float(r[V_RADCLIQ]));
}

/* A neural column is computed for all records or for none (one model set per run). */
static bool computed(const double *values, size_t n, int v) { return n && !isnan(values[v]); }

static void unavailable(const double *values, size_t n, cJSON *un) {
    static const char *const rg_keys[] = {"radgraph_simple", "radgraph_partial", "radgraph_complete"};
    static const char *const cxb_keys[] = {"chexbert_all_micro", "chexbert_all_macro", "chexbert_5_micro", "chexbert_5_macro"};
    if (!computed(values, n, V_BERT)) cJSON_AddStringToObject(un, "bertscore", rv_neural_unavailable(NULL, RV_NEURAL_BERTSCORE));
    for (size_t k = 0; k < 3; k++)
        if (!computed(values, n, V_RG_S)) cJSON_AddStringToObject(un, rg_keys[k], rv_neural_unavailable(NULL, RV_NEURAL_RADGRAPH));
    for (size_t k = 0; k < 4; k++)
        if (!computed(values, n, V_CXB_REF)) cJSON_AddStringToObject(un, cxb_keys[k], rv_neural_unavailable(NULL, RV_NEURAL_CHEXBERT));
    if (!computed(values, n, V_RADCLIQ)) cJSON_AddStringToObject(un, "radcliq_v1", rv_neural_unavailable(NULL, RV_NEURAL_RADCLIQ));
}

const rv_eval_family rv_eval_report_family = {
    .name = "report",
    .nvalues = NV,
    .nstats = NSTAT,
    .needs_corpus = true,
    .stat_key = stat_key,
    .value_names = value_names,
    .ref_from_json = ref_from_json,
    .score = score,
    .score_neural = score_neural,
    .reward = reward,
    .reward_of = reward_of,
    .stats = stats,
    .record_json = record_json,
    .unavailable = unavailable,
};
