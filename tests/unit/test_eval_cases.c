/* Hand-computed cases of the parsers and the small metrics (grounding, classification,
 * reasoning extraction, RadCliQ-v1 combination, bootstrap, BLEU/CIDEr quirks). Expected values
 * are worked out in the comments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "eval/metrics/bleu.h"
#include "eval/metrics/bootstrap.h"
#include "eval/metrics/cider.h"
#include "eval/metrics/classification.h"
#include "eval/metrics/grounding.h"
#include "eval/metrics/radcliq.h"
#include "eval/tasks/reasoning.h"

static void test_box_parse(void) {
    rv_eval_box *b;
    size_t bad;
    const char *t = "[0.1, 0.2, 0.3, 0.4] and [1,2,3,4] [ 0.1, 0.2, 0.3, 0.4] [0.1, 0.2, 0.3, 0.4 ] "
                    "[-0.1, 0.2, 0.3, 0.4] [0.1.2, 0.2, 0.3, 0.4] [0.5,\t0.6,  0.7,0.8]";
    size_t n = rv_boxes_parse(t, strlen(t), &b, &bad);
    /* kept: first, the ints, the tab/space one; rejected by the pattern: leading space, trailing
     * space, negative; matched but not a number: 0.1.2 (counted bad) */
    CHECK(n == 3);
    CHECK(bad == 1);
    if (n == 3) {
        CHECK(b[0].x1 == 0.1 && b[0].y2 == 0.4);
        CHECK(b[1].x1 == 1 && b[1].x2 == 3);
        CHECK(b[2].x1 == 0.5 && b[2].y1 == 0.6 && b[2].x2 == 0.7 && b[2].y2 == 0.8);
    }
    free(b);
    n = rv_boxes_parse("[0.1, 0.2, 0.3, 0.4, 0.5]", 25, &b, &bad);
    CHECK(n == 0);
    free(b);
}

static void test_iou_ap(void) {
    rv_eval_box a = {0, 0, 1, 1}, c = {0.5, 0, 1.5, 1};
    /* inter 0.5, union 1.5 -> 1/3 */
    CHECK_NEAR(rv_box_iou(&a, &c), 1.0 / 3.0, 1e-15);
    rv_eval_box z = {0.2, 0.2, 0.2, 0.2};
    CHECK(rv_box_iou(&z, &z) == 0.0); /* degenerate: upstream divides by zero */

    rv_ground_sample s;
    /* one GT, predictions: miss then hit. IoUs (0, 1). tp = [0,1], fp = [1,0];
     * recall (0, 1), precision (0, 0.5); with sentinels r = 0,0,1,1 p = 0,0,0.5,0 ->
     * monotone p = 0.5,0.5,0.5,0; AP = (1-0)*0.5 = 0.5 */
    rv_eval_box gt[1] = {{0, 0, 1, 1}};
    rv_eval_box pr[2] = {{2, 2, 3, 3}, {0, 0, 1, 1}};
    rv_ground_score(pr, 2, gt, 1, 0.5, &s);
    CHECK_NEAR(s.ap, 0.5, 1e-15);
    CHECK_NEAR(s.iou_sum, 1.0, 1e-15);
    CHECK(s.pairs == 2);
    /* hit then duplicate: tp = [1,0] -> recall (1,1) precision (1, 0.5) -> AP 1 */
    rv_eval_box pr2[2] = {{0, 0, 1, 1}, {0, 0, 1, 1}};
    rv_ground_score(pr2, 2, gt, 1, 0.5, &s);
    CHECK_NEAR(s.ap, 1.0, 1e-15);
    /* two GTs, one prediction on the first: recall 0.5 precision 1 -> AP 0.5 */
    rv_eval_box gt2[2] = {{0, 0, 1, 1}, {5, 5, 6, 6}};
    rv_ground_score(pr2, 1, gt2, 2, 0.5, &s);
    CHECK_NEAR(s.ap, 0.5, 1e-15);
    CHECK_NEAR(s.iou_sum, 1.0, 1e-15);
    CHECK(s.pairs == 2);
    /* no fallback: both predictions' best GT is GT0 (IoU 1 and 0.6), GT1 has IoU 0.5 with pred 2
     * but pred 2 is FP. pred2 = [0,0,1,0.6]: IoU with GT0 = 0.6; GT1 = [0,0.1,1,0.7]: inter 0.5,
     * union 0.6+0.6-0.5 = 0.7 -> 0.714 > 0.6? then best is GT1. Use GT1 = [0,0.3,1,1.1]:
     * inter with pred2 = 0.3, union 0.6+0.8-0.3 = 1.1 -> 0.27 < 0.6: best stays GT0 (taken) -> FP.
     * tp = [1,0]: recall (0.5,0.5), precision (1,0.5) -> AP = 0.5*1 = 0.5 */
    rv_eval_box gt3[2] = {{0, 0, 1, 1}, {0, 0.3, 1, 1.1}};
    rv_eval_box pr3[2] = {{0, 0, 1, 1}, {0, 0, 1, 0.6}};
    rv_ground_score(pr3, 2, gt3, 2, 0.5, &s);
    CHECK_NEAR(s.ap, 0.5, 1e-15);
    rv_ground_score(pr3, 0, gt3, 2, 0.5, &s);
    CHECK(s.ap == 0 && s.pairs == 0);
}

static void test_classification(void) {
    /* substring matching without negation or word boundaries */
    const char *o = "No Pneumothorax. Cardiomegaly and pleural effusions; supportdevices";
    unsigned p = rv_cls_parse(o, strlen(o));
    CHECK(p == ((1u << 11) | (1u << 1) | (1u << 8))); /* pneumothorax, cardiomegaly, pleural effusion */
    const char *names[3] = {"Cardiomegaly", "PLEURAL EFFUSION", "No Finding"};
    CHECK(rv_cls_truth(names, 3) == ((1u << 1) | (1u << 8)));
    /* two samples: truth {CM, PE} pred {CM, PX}; truth {} pred {} ->
     * CM tp1, PE fn1, PX fp1: micro P = 1/2, R = 1/2, F = 2/(2+1+1) = 0.5
     * per label F: CM 1, others 0 -> macro F = 1/13; macro P = 1/13; macro R = 1/13 */
    rv_prf_counts c;
    rv_prf_counts_init(&c, RV_CLS_NLABELS);
    rv_prf_counts_add(&c, (1u << 1) | (1u << 8), (1u << 1) | (1u << 11));
    rv_prf_counts_add(&c, 0, 0);
    rv_prf_report r;
    rv_prf_report_compute(&c, &r);
    CHECK_NEAR(r.p_micro, 0.5, 1e-15);
    CHECK_NEAR(r.r_micro, 0.5, 1e-15);
    CHECK_NEAR(r.f_micro, 0.5, 1e-15);
    CHECK_NEAR(r.f_macro, 1.0 / 13.0, 1e-15);
    CHECK_NEAR(r.p_macro, 1.0 / 13.0, 1e-15);
}

static void check_ans(const char *t, const char *want, bool want_found) {
    bool f;
    rv_span s = rv_reasoning_answer(t, strlen(t), 4000, &f);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)s.len, s.p);
    CHECK_STR(buf, want);
    CHECK(f == want_found);
}

static void test_reasoning(void) {
    check_ans("<think>a</think>  The answer.\n", "The answer.", true);
    check_ans("<think>a</think> x </think> y ", "y", true);
    check_ans("no think tag here ", "no think tag here", false);
    check_ans("<think>\\boxed{first}</think> \\boxed {second} text", "second", true);
    check_ans("\\boxed{a {b} c}", "a {b", true);            /* shortest run to the first } */
    check_ans("<think>t</think> after \\boxed{}", "after \\boxed{}", true); /* empty box falls through */
    check_ans("\\boxed{multi\nline}", "multi\nline", true);
    check_ans("\\boxed{unclosed", "\\boxed{unclosed", false);
    /* 4000 code points: a 2-byte character counts once */
    char *big = malloc(5001 * 2 + 1);
    for (int i = 0; i < 5000; i++) { big[2 * i] = (char)0xC3; big[2 * i + 1] = (char)0xA9; }
    big[10000] = '\0';
    bool f;
    rv_span s = rv_reasoning_answer(big, 10000, 4000, &f);
    CHECK(s.len == 8000);
    free(big);
    bool found;
    rv_span r = rv_reasoning_after_think("no tag", 6, &found);
    CHECK(!found && r.len == 0);
    r = rv_reasoning_after_think("<think>x</think>\u00a0ok\u3000", strlen("<think>x</think>\u00a0ok\u3000"), &found);
    CHECK(found && r.len == 2 && memcmp(r.p, "ok", 2) == 0); /* Unicode whitespace stripped */
}

static void test_radcliq(void) {
    rv_radcliq_features f = {0};
    double s;
    const char *why;
    f.have_bleu = true;
    CHECK(!rv_radcliq_v1(&f, &s, &why));
    CHECK(why != NULL && strstr(why, "BERTScore") != NULL);
    /* all features 0 -> sum c_i * (-mu_i / sigma_i) + c0; eval.md closed form gives 2.45014 */
    f.have_radgraph = f.have_bertscore = f.have_semb = true;
    CHECK(rv_radcliq_v1(&f, &s, &why));
    double want = -3.77083683e-01 * (-0.53792312 / 0.30282584) + -3.70300100e-01 * (-0.61757256 / 0.22430938) +
                  -2.52616218e-01 * (-0.76479421 / 0.25394391) + 4.31504841e-12 * (-0.44738335 / 0.29892717) + 2.46655256e-10;
    CHECK_NEAR(s, want, 1e-12);
    CHECK_NEAR(s, 2.45014, 1e-5);
    /* perfect match: radgraph 1, bertscore 1, semb 1, bleu 1 -> about -1.44069 (eval.md) */
    f.radgraph = f.bertscore = f.semb = f.bleu = 1.0;
    rv_radcliq_v1(&f, &s, &why);
    CHECK_NEAR(s, -1.44069, 1e-4);
}

static void test_bootstrap(void) {
    double v[50];
    for (int i = 0; i < 50; i++) v[i] = (double)i;
    double lo, hi, lo2, hi2;
    rv_bootstrap(50, 2000, 7, 1, rv_boot_mean, v, 2.5, 97.5, &lo, &hi);
    /* mean 24.5, sd of the mean ~ 14.4/sqrt(50) = 2.04 -> CI about 24.5 +- 4 */
    CHECK(lo < 24.5 && hi > 24.5);
    CHECK(lo > 19 && hi < 30);
    rv_bootstrap(50, 2000, 7, 1, rv_boot_mean, v, 2.5, 97.5, &lo2, &hi2);
    CHECK(lo == lo2 && hi == hi2); /* seeded */
    rv_bootstrap(50, 2000, 8, 1, rv_boot_mean, v, 2.5, 97.5, &lo2, &hi2);
    CHECK(lo != lo2 || hi != hi2);
    double one = 3.0;
    rv_bootstrap(1, 100, 1, 1, rv_boot_mean, &one, 2.5, 97.5, &lo, &hi);
    CHECK(lo == 3.0 && hi == 3.0);
    /* a statistic undefined on some resamples (NaN) is left out there (numpy.nanpercentile): the
     * mean of values {NaN, 1}: resamples holding the NaN give NaN, the others exactly 1; so the
     * interval is [1, 1] and not NaN. Every resample NaN: NaN. */
    double two[2] = {NAN, 1.0};
    rv_bootstrap(2, 200, 3, 1, rv_boot_mean, two, 2.5, 97.5, &lo, &hi);
    CHECK(lo == 1.0 && hi == 1.0);
    double none = NAN;
    rv_bootstrap(1, 50, 3, 1, rv_boot_mean, &none, 2.5, 97.5, &lo, &hi);
    CHECK(isnan(lo) && isnan(hi));
}

static void test_quirks(void) {
    /* BLEU: an exact 4-word match scores 0.9999999992291674 for BLEU-4 (eval.md §3.1) */
    rv_ngram_ws ws = {0};
    rv_bleu_stats st;
    rv_bleu_stats_pair("a b c d", 7, "a b c d", 7, &st, &ws);
    double b[4];
    rv_bleu_score(&st, b);
    CHECK_NEAR(b[3], 0.9999999992291674, 1e-16);
    /* CIDEr-D: a single-pair corpus scores 0; an identical 3-word pair among others scores 7.5
     * when none of its n-grams appears in another reference (idf equal for all, no 4-grams) */
    const char *r1[1] = {"x y z"};
    rv_cider_df *df = rv_cider_df_build(r1, NULL, 1);
    CHECK(rv_cider_pair(df, "x y z", 5, "x y z", 5, &ws) == 0.0);
    rv_cider_df_free(df);
    const char *r2[2] = {"x y z", "p q"};
    df = rv_cider_df_build(r2, NULL, 2);
    CHECK_NEAR(rv_cider_pair(df, "x y z", 5, "x y z", 5, &ws), 7.5, 1e-12);
    rv_cider_df_free(df);
    rv_ngram_ws_free(&ws);
}

int main(void) {
    test_box_parse();
    test_iou_ap();
    test_classification();
    test_reasoning();
    test_radcliq();
    test_bootstrap();
    test_quirks();
    return check_summary("test_eval_cases");
}
