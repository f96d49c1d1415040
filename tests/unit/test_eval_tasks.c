/* The eval/tasks library through its public API: the task table, per-record scoring of
 * hand-made records of each family (read through the per-record JSON the score phase writes),
 * aggregation and bootstrap into the metrics JSON, reading *_output.json records (and the
 * reasons bad ones are refused), and the GRPO reward of one answer per family. Expected values
 * are worked out by hand in the comments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "core/config.h"
#include "eval/tasks/aggregate.h"
#include "eval/tasks/metrics_json.h"
#include "eval/tasks/record_json.h"
#include "eval/tasks/task.h"

static rv_span sp(const char *s) {
    rv_span r = {s, strlen(s)};
    return r;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(x)) {
        fprintf(stderr, "key %s missing or not a number\n", key);
        return NAN;
    }
    return x->valuedouble;
}

/* The strings of a JSON array joined by '|', e.g. "a|b". */
static void join(const cJSON *arr, char *out, size_t cap) {
    const cJSON *x;
    out[0] = '\0';
    cJSON_ArrayForEach(x, arr) {
        if (out[0]) strncat(out, "|", cap - strlen(out) - 1);
        strncat(out, cJSON_IsString(x) ? x->valuestring : "?", cap - strlen(out) - 1);
    }
}

static void check_keys(const cJSON *o, const char *const *want, size_t n) {
    const cJSON *x;
    size_t i = 0;
    cJSON_ArrayForEach(x, o) {
        if (i < n) CHECK_STR(x->string, want[i]);
        i++;
    }
    CHECK(i == n);
}

/* coco BLEU-k of summed counts, written out: prod_k ((correct_k + 1e-15) / (guess_k + 1e-9))
 * to the 1/k, times the brevity penalty exp(1 - 1/ratio), ratio = (test + 1e-15)/(ref + 1e-9) < 1 */
static double bleu_k(const double *correct, const double *guess, int k, double test, double ref) {
    double prod = 1;
    for (int i = 0; i < k; i++) prod *= (correct[i] + 1e-15) / (guess[i] + 1e-9);
    double ratio = (test + 1e-15) / (ref + 1e-9);
    return pow(prod, 1.0 / k) * (ratio < 1 ? exp(1 - 1 / ratio) : 1);
}

static void test_table(void) {
    /* the conversation tasks are scored with the report family's reference-based text metrics */
    static const char *const names[9] = {"report_generation", "abnormality_classification", "region_grounding",
                                         "abnormality_grounding", "abnormality_detection", "phrase_grounding",
                                         "object_grounding", "conversation", "conversation_grounded"};
    static const char *const fam[9] = {"report", "classification", "grounding", "grounding", "grounding",
                                       "grounding", "grounding", "report", "report"};
    CHECK(rv_eval_task_count() == 9);
    for (size_t i = 0; i < 9; i++) {
        const rv_eval_task *t = rv_eval_task_find(names[i]);
        CHECK(t != NULL && t == rv_eval_task_at(i));
        if (!t) continue;
        CHECK_STR(rv_eval_task_name(t), names[i]);
        CHECK_STR(rv_eval_task_family(t), fam[i]);
        CHECK(rv_eval_nvalues(t) > 0);
    }
    CHECK(rv_eval_task_find("vqa") == NULL);      /* upstream accepts it on the CLI, then raises */
    CHECK(rv_eval_task_find("conversations") == NULL);
    CHECK(rv_eval_task_find(NULL) == NULL);
    CHECK(rv_eval_task_at(9) == NULL);
    /* the score.task choices of the config schema are exactly the table's names, in its order */
    const char *choices = NULL;
    for (const rv_cfg_key *k = rv_cfg_schema; k->key; k++)
        if (strcmp(k->key, "score.task") == 0) choices = k->choices;
    char joined[512] = "";
    for (size_t i = 0; i < rv_eval_task_count(); i++) {
        if (i) strcat(joined, "|");
        strcat(joined, rv_eval_task_name(rv_eval_task_at(i)));
    }
    CHECK_STR(choices, joined);
    /* aggregate keys: upstream's, in upstream's order, then ours */
    const rv_eval_task *r = rv_eval_task_find("report_generation"), *c = rv_eval_task_find("abnormality_classification"),
                       *g = rv_eval_task_find("phrase_grounding");
    CHECK(rv_eval_nstats(r) == 23); /* 14 text metrics + the 9 neural ones of issue J */
    CHECK_STR(rv_eval_stat_key(r, 0), "blue");
    CHECK_STR(rv_eval_stat_key(r, 1), "ciderd");
    CHECK_STR(rv_eval_stat_key(r, 13), "bleu_4_sentence_mean");
    CHECK_STR(rv_eval_stat_key(r, 14), "bertscore");
    CHECK_STR(rv_eval_stat_key(r, 22), "radcliq_v1");
    CHECK(rv_eval_nstats(c) == 6 + 13);
    CHECK_STR(rv_eval_stat_key(c, 0), "Precision(macro)");
    CHECK_STR(rv_eval_stat_key(c, 5), "F1 Score(micro)");
    CHECK_STR(rv_eval_stat_key(c, 6), "atelectasis");
    CHECK_STR(rv_eval_stat_key(c, 18), "support devices");
    CHECK(rv_eval_nstats(g) == 2);
    CHECK_STR(rv_eval_stat_key(g, 0), "mAP_0.5");
    CHECK_STR(rv_eval_stat_key(g, 1), "avg_iou");
}

/* Report generation: two records in one corpus.
 *  A: "a b c d" vs itself;  B: "the dog is big" vs "the dog is normal".
 * No reference n-gram occurs in both references, and an n-gram in no reference has df 0 ->
 * max(1, df) = 1 too, so every CIDEr-D weight is tf * (ln 2 - ln 1) = ln 2: the cosine of an order
 * is (shared n-grams) / sqrt(#hyp * #ref), and both sides have equal bigram counts (no length
 * penalty). A: 10 * mean(1, 1, 1, 1) = 10. B: orders 1..4 share 3/4, 2/3, 1/2, 0/1 ->
 * 10 * (3/4 + 2/3 + 1/2 + 0) / 4 = 230/48.
 * BLEU counts: A guess (4,3,2,1) correct (4,3,2,1); B guess (4,3,2,1) correct (3,2,1,0).
 * ROUGE (stemming leaves these words alone): B R1 F = 3/4, R2 F = 2/3, RL F = LCS 3 / 4 = 3/4.
 * GoogleBLEU B: 6 matching n-grams of 10 per side -> 0.6. No CheXpert mention in either report:
 * the labeler says No Finding for all four. */
static void test_report(void) {
    const rv_eval_task *t = rv_eval_task_find("report_generation");
    size_t nv = rv_eval_nvalues(t);
    rv_eval_input in[2] = {{.answer = sp("a b c d"), .ref = sp("a b c d")},
                           {.answer = sp("the dog is big"), .ref = sp("the dog is normal")}};
    rv_eval_corpus *corpus = rv_eval_corpus_build(t, in, 2);
    CHECK(rv_eval_corpus_warning(corpus) == NULL);
    rv_eval_scratch s = {0};
    double *v = calloc(2 * nv, sizeof *v);
    for (int i = 0; i < 2; i++) rv_eval_score(t, &in[i], corpus, &s, v + i * nv);

    size_t index[2] = {0, 5};
    cJSON *sc = rv_eval_scored_json(t, v, 2, index);
    static const char *const rkeys[] = {"index", "bleu4", "ciderd", "rouge1", "rouge2", "rougel", "google_bleu",
                                        "labels_ref", "labels_output"};
    const cJSON *a = cJSON_GetArrayItem(sc, 0), *b = cJSON_GetArrayItem(sc, 1);
    check_keys(a, rkeys, 9);
    const double ca[4] = {4, 3, 2, 1}, g4[4] = {4, 3, 2, 1}, cb[4] = {3, 2, 1, 0};
    CHECK(num(a, "index") == 0 && num(b, "index") == 5);
    CHECK_NEAR(num(a, "bleu4"), bleu_k(ca, g4, 4, 4, 4), 1e-15);
    CHECK_NEAR(num(a, "bleu4"), 0.9999999992291674, 1e-15); /* the epsilons' known value */
    CHECK_NEAR(num(b, "bleu4"), bleu_k(cb, g4, 4, 4, 4), 1e-18); /* about 1.26e-4 */
    CHECK_NEAR(num(a, "ciderd"), 10.0, 1e-12);
    CHECK_NEAR(num(b, "ciderd"), 230.0 / 48.0, 1e-12);
    CHECK_NEAR(num(a, "rouge1"), 1.0, 1e-15);
    CHECK_NEAR(num(b, "rouge1"), 0.75, 1e-15);
    CHECK_NEAR(num(b, "rouge2"), 2.0 / 3.0, 1e-15);
    CHECK_NEAR(num(b, "rougel"), 0.75, 1e-15);
    CHECK_NEAR(num(a, "google_bleu"), 1.0, 1e-15);
    CHECK_NEAR(num(b, "google_bleu"), 0.6, 1e-15);
    char buf[256];
    join(cJSON_GetObjectItemCaseSensitive(b, "labels_ref"), buf, sizeof buf);
    CHECK_STR(buf, "No Finding");
    join(cJSON_GetObjectItemCaseSensitive(b, "labels_output"), buf, sizeof buf);
    CHECK_STR(buf, "No Finding");
    cJSON_Delete(sc);

    /* the reward is GoogleBLEU, from the values or from the answer alone */
    CHECK_NEAR(rv_eval_reward_of(t, v + nv), 0.6, 1e-15);
    CHECK_NEAR(rv_eval_reward(t, &in[1], RV_ANSWER_RAW, &s), 0.6, 1e-15);

    /* aggregate: corpus BLEU of the summed counts (guess 8,6,4,2, correct 7,5,3,1, lengths 8/8),
     * means of the per-pair scores; label F1 over 14 labels: only No Finding occurs, right both
     * times -> micro 1, macro 1/14; none of the top 5 occurs -> 0 and 0 */
    size_t bad[1] = {3};
    rv_eval_tally tally = {.n_records = 3, .bad = bad, .n_bad = 1, .boot_samples = 0, .boot_seed = 1};
    cJSON *m = rv_eval_metrics_json(t, v, 2, &tally);
    static const char *const mkeys[] = {"blue", "ciderd", "rouge1", "rouge2", "rougel", "bleu_1", "bleu_2", "bleu_3",
                                        "google_bleu", "chexpert_rules_all_micro", "chexpert_rules_all_macro",
                                        "chexpert_rules_5_micro", "chexpert_rules_5_macro", "bleu_4_sentence_mean",
                                        "task", "n_records", "n_scored", "n_bad_records", "bad_records",
                                        "unavailable", "bootstrap"};
    check_keys(m, mkeys, sizeof mkeys / sizeof *mkeys);
    const double csum[4] = {7, 5, 3, 1}, gsum[4] = {8, 6, 4, 2};
    CHECK_NEAR(num(m, "blue"), bleu_k(csum, gsum, 4, 8, 8), 1e-15);
    CHECK_NEAR(num(m, "bleu_1"), bleu_k(csum, gsum, 1, 8, 8), 1e-15);
    CHECK_NEAR(num(m, "bleu_3"), bleu_k(csum, gsum, 3, 8, 8), 1e-15);
    CHECK_NEAR(num(m, "ciderd"), (10.0 + 230.0 / 48.0) / 2, 1e-12);
    CHECK_NEAR(num(m, "rouge1"), 0.875, 1e-15);
    CHECK_NEAR(num(m, "rouge2"), (1 + 2.0 / 3.0) / 2, 1e-15);
    CHECK_NEAR(num(m, "google_bleu"), 0.8, 1e-15);
    CHECK_NEAR(num(m, "bleu_4_sentence_mean"), (bleu_k(ca, g4, 4, 4, 4) + bleu_k(cb, g4, 4, 4, 4)) / 2, 1e-15);
    CHECK_NEAR(num(m, "chexpert_rules_all_micro"), 1.0, 1e-15);
    CHECK_NEAR(num(m, "chexpert_rules_all_macro"), 1.0 / 14.0, 1e-15);
    CHECK(num(m, "chexpert_rules_5_micro") == 0.0 && num(m, "chexpert_rules_5_macro") == 0.0);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(m, "task")->valuestring, "report_generation");
    CHECK(num(m, "n_records") == 3 && num(m, "n_scored") == 2 && num(m, "n_bad_records") == 1);
    CHECK(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "bad_records"), 0)->valuedouble == 3);
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(m, "unavailable");
    CHECK(cJSON_GetObjectItemCaseSensitive(un, "bertscore") && cJSON_GetObjectItemCaseSensitive(un, "radcliq_v1") &&
          cJSON_GetObjectItemCaseSensitive(un, "chexbert_5_macro"));
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(m, "bootstrap");
    CHECK(num(bs, "samples") == 0 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(bs, "ci95")) == 0);
    cJSON_Delete(m);

    /* rv_eval_stats gives the same numbers without JSON, for any subset: record B alone */
    double st[23];
    size_t only_b = 1;
    rv_eval_stats(t, v, 1, &only_b, st);
    CHECK_NEAR(st[0], bleu_k(cb, g4, 4, 4, 4), 1e-18);
    CHECK_NEAR(st[2], 0.75, 1e-15);
    free(v);

    /* the labeler's bits per record: "Cardiomegaly." mentions Cardiomegaly (positive);
     * "No cardiomegaly." negates it with the pre-trigger "no", and then nothing but No Finding
     * is positive */
    rv_eval_input lab = {.answer = sp("No cardiomegaly."), .ref = sp("Cardiomegaly.")};
    double lv[64];
    rv_eval_score(t, &lab, NULL, &s, lv); /* no corpus: CIDEr-D 0 */
    size_t zero = 0;
    sc = rv_eval_scored_json(t, lv, 1, &zero);
    a = cJSON_GetArrayItem(sc, 0);
    join(cJSON_GetObjectItemCaseSensitive(a, "labels_ref"), buf, sizeof buf);
    CHECK_STR(buf, "Cardiomegaly");
    join(cJSON_GetObjectItemCaseSensitive(a, "labels_output"), buf, sizeof buf);
    CHECK_STR(buf, "No Finding");
    CHECK(num(a, "ciderd") == 0.0);
    cJSON_Delete(sc);

    /* a corpus whose references have no word: CIDEr-D cannot be computed, and the library says so */
    rv_eval_input empty = {.answer = sp("x"), .ref = sp("  ")};
    rv_eval_corpus *ec = rv_eval_corpus_build(t, &empty, 1);
    CHECK(rv_eval_corpus_warning(ec) != NULL && strstr(rv_eval_corpus_warning(ec), "CIDEr-D") != NULL);
    rv_eval_corpus_free(ec);
    ec = rv_eval_corpus_build(t, &empty, 0); /* no records: nothing to warn about */
    CHECK(rv_eval_corpus_warning(ec) == NULL);
    rv_eval_corpus_free(ec);
    rv_eval_corpus_free(corpus);
    rv_eval_scratch_free(&s);
}

/* Classification: C1 "Cardiomegaly and no pneumothorax." vs {Cardiomegaly, Edema}: predicted
 * {cardiomegaly, pneumothorax} (substring rule, no negation) -> TP cardiomegaly, FP pneumothorax,
 * FN edema; record F1 = 2/(2+1+1) = 0.5. C2 "no findings" vs {}: nothing either side -> reward 1.
 * C3 "pleural effusion" vs {Pleural Effusion, No Finding} ("no finding" is not one of the 13) ->
 * TP only -> 1.
 * Over C1..C3: TP 2 (cardiomegaly, pleural effusion), FP 1, FN 1 -> micro P = R = F = 2/3;
 * per-label P, R and F are 1 for cardiomegaly and pleural effusion, 0 for the other 11 ->
 * every macro = 2/13. */
static void test_classification(void) {
    const rv_eval_task *t = rv_eval_task_find("abnormality_classification");
    size_t nv = rv_eval_nvalues(t);
    const char *l1[2] = {"Cardiomegaly", "Edema"}, *l3[2] = {"Pleural Effusion", "No Finding"};
    rv_eval_input in[3] = {{.answer = sp("Cardiomegaly and no pneumothorax."), .labels = l1, .nlabels = 2},
                           {.answer = sp("no findings"), .labels = NULL, .nlabels = 0},
                           {.answer = sp("pleural effusion"), .labels = l3, .nlabels = 2}};
    rv_eval_scratch s = {0};
    double *v = calloc(3 * nv, sizeof *v);
    for (int i = 0; i < 3; i++) rv_eval_score(t, &in[i], NULL, &s, v + i * nv);
    const double want_reward[3] = {0.5, 1.0, 1.0};
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(rv_eval_reward_of(t, v + i * nv), want_reward[i], 1e-15);
        CHECK_NEAR(rv_eval_reward(t, &in[i], RV_ANSWER_RAW, &s), want_reward[i], 1e-15);
    }
    size_t index[3] = {0, 1, 2};
    cJSON *sc = rv_eval_scored_json(t, v, 3, index);
    const cJSON *c1 = cJSON_GetArrayItem(sc, 0);
    static const char *const rkeys[] = {"index", "correct_labels", "incorrect_labels", "missing_labels"};
    check_keys(c1, rkeys, 4);
    char buf[256];
    join(cJSON_GetObjectItemCaseSensitive(c1, "correct_labels"), buf, sizeof buf);
    CHECK_STR(buf, "cardiomegaly");
    join(cJSON_GetObjectItemCaseSensitive(c1, "incorrect_labels"), buf, sizeof buf);
    CHECK_STR(buf, "pneumothorax");
    join(cJSON_GetObjectItemCaseSensitive(c1, "missing_labels"), buf, sizeof buf);
    CHECK_STR(buf, "edema");
    cJSON_Delete(sc);

    rv_eval_tally tally = {.n_records = 3, .bad = NULL, .n_bad = 0, .boot_samples = 0, .boot_seed = 0};
    cJSON *m = rv_eval_metrics_json(t, v, 3, &tally);
    CHECK_NEAR(num(m, "Precision(micro)"), 2.0 / 3.0, 1e-15);
    CHECK_NEAR(num(m, "Recall(micro)"), 2.0 / 3.0, 1e-15);
    CHECK_NEAR(num(m, "F1 Score(micro)"), 2.0 / 3.0, 1e-15);
    CHECK_NEAR(num(m, "Precision(macro)"), 2.0 / 13.0, 1e-15);
    CHECK_NEAR(num(m, "Recall(macro)"), 2.0 / 13.0, 1e-15);
    CHECK_NEAR(num(m, "F1 Score(macro)"), 2.0 / 13.0, 1e-15);
    CHECK(num(m, "cardiomegaly") == 1.0 && num(m, "pleural effusion") == 1.0);
    CHECK(num(m, "edema") == 0.0 && num(m, "pneumothorax") == 0.0 && num(m, "fracture") == 0.0);
    CHECK(cJSON_GetObjectItemCaseSensitive(m, "unavailable") == NULL); /* nothing unavailable here */
    cJSON_Delete(m);
    free(v);
    rv_eval_scratch_free(&s);
}

/* Grounding: G1 "[0.1, 0.2, 0.5, 0.6] and [0.3, 0.3, 0.9, 0.9]" vs [[0.1, 0.2, 0.5, 0.6]]:
 * the first prediction is the box (IoU 1, TP), the second is FP after it -> AP 1; the second's
 * IoU: intersection 0.2 x 0.3 = 0.06, union 0.16 + 0.36 - 0.06 = 0.46. G2 "[0.5, 0.5, 0.6, 0.6]"
 * vs [[0, 0, 0.2, 0.2]]: IoU 0 -> AP 0, one pair. G3 "none, [0.1.2, 0.2, 0.3, 0.4]" vs []:
 * no box parses (0.1.2 is counted unparsable), no truth -> AP 0, no pair, no mean_iou.
 * mAP_0.5 = (1 + 0 + 0) / 3; avg_iou = (1 + 0.06/0.46 + 0) / 3 pairs. */
static void test_grounding(void) {
    const rv_eval_task *t = rv_eval_task_find("phrase_grounding");
    size_t nv = rv_eval_nvalues(t);
    rv_eval_box g1 = {0.1, 0.2, 0.5, 0.6}, g2 = {0, 0, 0.2, 0.2};
    rv_eval_input in[3] = {{.answer = sp("[0.1, 0.2, 0.5, 0.6] and [0.3, 0.3, 0.9, 0.9]"), .boxes = &g1, .nboxes = 1},
                           {.answer = sp("[0.5, 0.5, 0.6, 0.6]"), .boxes = &g2, .nboxes = 1},
                           {.answer = sp("none, [0.1.2, 0.2, 0.3, 0.4]"), .boxes = NULL, .nboxes = 0}};
    rv_eval_scratch s = {0};
    double *v = calloc(3 * nv, sizeof *v);
    for (int i = 0; i < 3; i++) rv_eval_score(t, &in[i], NULL, &s, v + i * nv);
    size_t index[3] = {0, 1, 2};
    cJSON *sc = rv_eval_scored_json(t, v, 3, index);
    const cJSON *r1 = cJSON_GetArrayItem(sc, 0), *r2 = cJSON_GetArrayItem(sc, 1), *r3 = cJSON_GetArrayItem(sc, 2);
    static const char *const k1[] = {"index", "ap", "mean_iou", "n_pred_boxes", "n_unparsable_boxes"};
    static const char *const k3[] = {"index", "ap", "n_pred_boxes", "n_unparsable_boxes"};
    check_keys(r1, k1, 5);
    check_keys(r3, k3, 4);
    CHECK_NEAR(num(r1, "ap"), 1.0, 1e-15);
    CHECK_NEAR(num(r1, "mean_iou"), (1 + 0.06 / 0.46) / 2, 1e-12);
    CHECK(num(r1, "n_pred_boxes") == 2 && num(r1, "n_unparsable_boxes") == 0);
    CHECK(num(r2, "ap") == 0.0 && num(r2, "mean_iou") == 0.0);
    CHECK(num(r3, "ap") == 0.0 && num(r3, "n_pred_boxes") == 0 && num(r3, "n_unparsable_boxes") == 1);
    cJSON_Delete(sc);
    /* reward = the record's AP */
    CHECK(rv_eval_reward_of(t, v) == 1.0 && rv_eval_reward_of(t, v + nv) == 0.0);
    CHECK_NEAR(rv_eval_reward(t, &in[0], RV_ANSWER_RAW, &s), 1.0, 1e-15);
    CHECK(rv_eval_reward(t, &in[1], RV_ANSWER_RAW, &s) == 0.0);

    rv_eval_tally tally = {.n_records = 3, .bad = NULL, .n_bad = 0, .boot_samples = 100, .boot_seed = 4};
    cJSON *m = rv_eval_metrics_json(t, v, 3, &tally);
    static const char *const mkeys[] = {"mAP_0.5", "avg_iou", "task", "n_records", "n_scored", "n_bad_records",
                                        "bad_records", "bootstrap"};
    check_keys(m, mkeys, 8);
    CHECK_NEAR(num(m, "mAP_0.5"), 1.0 / 3.0, 1e-15);
    CHECK_NEAR(num(m, "avg_iou"), (1 + 0.06 / 0.46) / 3, 1e-12);
    /* bootstrap intervals hold the point estimate's range: mAP of 3 records lies in [0, 1] */
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "bootstrap"), "ci95");
    const cJSON *map_ci = cJSON_GetObjectItemCaseSensitive(ci, "mAP_0.5");
    CHECK(cJSON_GetArraySize(map_ci) == 2 && cJSON_GetArraySize(ci) == 2);
    double lo = cJSON_GetArrayItem(map_ci, 0)->valuedouble, hi = cJSON_GetArrayItem(map_ci, 1)->valuedouble;
    CHECK(lo >= 0 && lo <= 1.0 / 3.0 && hi >= 1.0 / 3.0 && hi <= 1.0);
    cJSON_Delete(m);

    /* a single record: every resample is that record, so lo = hi = the point estimate; G3 alone
     * has no box pair, so avg_iou is undefined: omitted from the metrics and from ci95 */
    double lo2[2], hi2[2], pt[2];
    rv_eval_bootstrap(t, v, 1, 50, 9, lo2, hi2);
    rv_eval_stats(t, v, 1, NULL, pt);
    CHECK(lo2[0] == 1.0 && hi2[0] == 1.0 && pt[0] == 1.0);
    CHECK(lo2[1] == pt[1] && hi2[1] == pt[1]);
    m = rv_eval_metrics_json(t, v + 2 * nv, 1, &tally);
    CHECK(cJSON_GetObjectItemCaseSensitive(m, "avg_iou") == NULL);
    ci = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "bootstrap"), "ci95");
    CHECK(cJSON_GetArraySize(ci) == 1 && cJSON_GetObjectItemCaseSensitive(ci, "mAP_0.5") != NULL);
    cJSON_Delete(m);
    free(v);
    rv_eval_scratch_free(&s);
}

/* The reward of reasoning outputs: the text after the last </think> (stripped) is the answer;
 * without </think> the reward is upstream's penalty -0.0. The eval rule (--r1) prefers the last
 * non-empty \boxed{...}. */
static void test_reward_rules(void) {
    rv_eval_scratch s = {0};
    const rv_eval_task *r = rv_eval_task_find("report_generation");
    rv_eval_input in = {.answer = sp("<think>the dog</think>  the dog is big \n"), .ref = sp("the dog is normal")};
    CHECK_NEAR(rv_eval_reward(r, &in, RV_ANSWER_AFTER_THINK, &s), 0.6, 1e-15);
    /* RAW scores the whole text: 13a tokens "<", "think", ">", ... lower the overlap ratio */
    CHECK(rv_eval_reward(r, &in, RV_ANSWER_RAW, &s) < 0.6);
    in.answer = sp("the dog is big");
    double pen = rv_eval_reward(r, &in, RV_ANSWER_AFTER_THINK, &s);
    CHECK(pen == 0.0 && signbit(pen));
    in.answer = sp("<think>x</think> the dog \\boxed{the dog is big}");
    CHECK_NEAR(rv_eval_reward(r, &in, RV_ANSWER_R1, &s), 0.6, 1e-15);

    const rv_eval_task *c = rv_eval_task_find("abnormality_classification");
    const char *lab[1] = {"Edema"};
    rv_eval_input ci = {.answer = sp("<think>cardiomegaly?</think> edema"), .labels = lab, .nlabels = 1};
    CHECK_NEAR(rv_eval_reward(c, &ci, RV_ANSWER_AFTER_THINK, &s), 1.0, 1e-15);
    /* raw: cardiomegaly in the thinking is a false positive -> 2/(2+1) */
    CHECK_NEAR(rv_eval_reward(c, &ci, RV_ANSWER_RAW, &s), 2.0 / 3.0, 1e-15);

    const rv_eval_task *g = rv_eval_task_find("abnormality_detection");
    rv_eval_box gt = {0.1, 0.2, 0.5, 0.6};
    rv_eval_input gi = {.answer = sp("<think>[0.5, 0.5, 0.6, 0.6]</think>[0.1, 0.2, 0.5, 0.6]"), .boxes = &gt, .nboxes = 1};
    CHECK_NEAR(rv_eval_reward(g, &gi, RV_ANSWER_AFTER_THINK, &s), 1.0, 1e-15);
    /* raw: a miss first, then the hit -> precision 0, 1/2 at recall 0, 1 -> AP 0.5 */
    CHECK_NEAR(rv_eval_reward(g, &gi, RV_ANSWER_RAW, &s), 0.5, 1e-15);
    gi.answer = sp("[0.1, 0.2, 0.5, 0.6]");
    pen = rv_eval_reward(g, &gi, RV_ANSWER_AFTER_THINK, &s);
    CHECK(pen == 0.0 && signbit(pen));
    rv_eval_scratch_free(&s);
}

/* Reads one record (the texts stay in the parsed tree: the caller deletes it last). */
static int from_json(const char *task, const char *json, rv_answer_rule rule, rv_eval_record *r, const char **why,
                     cJSON **tree) {
    *tree = cJSON_Parse(json);
    *why = NULL;
    return rv_eval_record_from_json(rv_eval_task_find(task), *tree, rule, r, why);
}

static void check_bad(const char *task, const char *json, const char *want_why) {
    rv_eval_record r;
    const char *why;
    cJSON *j;
    CHECK(from_json(task, json, RV_ANSWER_RAW, &r, &why, &j) == 1);
    CHECK_STR(why, want_why);
    rv_eval_record_free(&r);
    cJSON_Delete(j);
}

static void test_records(void) {
    rv_eval_record r;
    const char *why;
    cJSON *j;
    /* "txt" wins over "answer" (upstream's report metrics read txt) */
    CHECK(from_json("report_generation", "{\"output\": \"o\", \"answer\": \"a\", \"txt\": \"t\"}", RV_ANSWER_RAW, &r, &why, &j) == 0);
    CHECK(r.in.answer.len == 1 && r.in.answer.p[0] == 'o' && r.in.ref.len == 1 && r.in.ref.p[0] == 't');
    rv_eval_record_free(&r);
    cJSON_Delete(j);
    /* the answer rule applies to "output": --r1 takes the last non-empty \boxed{} */
    CHECK(from_json("report_generation", "{\"output\": \" <think>a</think> \\\\boxed{b c} \", \"answer\": \"a\"}", RV_ANSWER_R1, &r, &why, &j) == 0);
    CHECK(r.in.answer.len == 3 && memcmp(r.in.answer.p, "b c", 3) == 0 && r.in.ref.p[0] == 'a');
    rv_eval_record_free(&r);
    cJSON_Delete(j);
    CHECK(from_json("abnormality_classification", "{\"output\": \"x\", \"labels\": [\"Edema\", \"Fracture\"]}", RV_ANSWER_RAW, &r, &why, &j) == 0);
    CHECK(r.in.nlabels == 2 && strcmp(r.in.labels[1], "Fracture") == 0);
    rv_eval_record_free(&r);
    cJSON_Delete(j);
    CHECK(from_json("region_grounding", "{\"output\": \"x\", \"boxes\": [[0.5, 1, 2, 3.25], [0, 0, 0, 0]]}", RV_ANSWER_RAW, &r, &why, &j) == 0);
    CHECK(r.in.nboxes == 2 && r.in.boxes[0].x1 == 0.5 && r.in.boxes[0].y1 == 1 && r.in.boxes[0].y2 == 3.25);
    rv_eval_record_free(&r);
    cJSON_Delete(j);

    check_bad("report_generation", "[1]", "is not a JSON object");
    check_bad("report_generation", "{\"txt\": \"t\"}", "has no \"output\" key");
    check_bad("report_generation", "{\"output\": 3, \"txt\": \"t\"}", "has an \"output\" that is not a string");
    check_bad("report_generation", "{\"output\": \"o\"}", "has neither \"txt\" nor \"answer\"");
    check_bad("report_generation", "{\"output\": \"o\", \"txt\": null}", "has a ground truth (\"txt\"/\"answer\") that is not a string");
    check_bad("abnormality_classification", "{\"output\": \"o\"}", "has no \"labels\" array");
    check_bad("abnormality_classification", "{\"output\": \"o\", \"labels\": [\"Edema\", 1]}", "has a non-string entry in \"labels\"");
    check_bad("phrase_grounding", "{\"output\": \"o\", \"boxes\": {}}", "has no \"boxes\" array");
    check_bad("phrase_grounding", "{\"output\": \"o\", \"boxes\": [[1, 2, 3]]}", "has a box that is not a list of 4 numbers");
    check_bad("phrase_grounding", "{\"output\": \"o\", \"boxes\": [[1, 2, 3, \"4\"]]}", "has a box that is not a list of 4 numbers");
}

int main(void) {
    test_table();
    test_report();
    test_classification();
    test_grounding();
    test_reward_rules();
    test_records();
    return check_summary("test_eval_tasks");
}
