/* GRPO rewards (train/grpo_reward.h) on hand-computed cases: the metric of each kind, the
 * reasoning rule (text after the last </think>, stripped; none: the -0.0 penalty, flagged), and
 * the refusal of the rewards that need issue J's neural metrics. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "train/grpo_reward.h"

static double R(rv_grpo_reward_kind k, bool reasoning, const char *resp, const char *truth, bool *pen) {
    rv_eval_scratch s = {0};
    double v = rv_grpo_reward(k, reasoning, resp, strlen(resp), truth, strlen(truth), &s, pen);
    rv_eval_scratch_free(&s);
    return v;
}

int main(void) {
    bool pen;
    /* GoogleBLEU, n = 1..4: "a b c" vs "a b d": hyp n-grams a b c | ab bc | abc = 6, ref likewise 6,
     * matches a, b, ab = 3; min(3/6, 3/6) = 0.5 */
    CHECK_NEAR(R(RV_GRPO_REWARD_GOOGLE_BLEU, false, "a b c", "a b d", &pen), 0.5, 1e-12);
    CHECK(!pen);
    CHECK_NEAR(R(RV_GRPO_REWARD_GOOGLE_BLEU, false, "the heart is normal", "the heart is normal", &pen), 1.0, 1e-12);
    CHECK_NEAR(R(RV_GRPO_REWARD_GOOGLE_BLEU, false, "x y", "a b", &pen), 0.0, 1e-12);
    /* reasoning: the text after the last </think>, stripped */
    CHECK_NEAR(R(RV_GRPO_REWARD_GOOGLE_BLEU, true, "<think>a</think>q</think>  a b c \n", "a b d", &pen), 0.5, 1e-12);
    CHECK(!pen);
    double p = R(RV_GRPO_REWARD_GOOGLE_BLEU, true, "a b d", "a b d", &pen);
    CHECK(pen && p == 0.0 && signbit(p)); /* upstream's -0.0 */
    /* ROUGE-L F: LCS("a b c", "a b d") = 2 -> P = R = 2/3 -> F = 2/3 */
    CHECK_NEAR(R(RV_GRPO_REWARD_ROUGE_L, false, "a b c", "a b d", &pen), 2.0 / 3.0, 1e-12);
    /* label F1: truth {cardiomegaly, pleural effusion}, response {cardiomegaly}: 2*1 / (2*1 + 0 + 1) */
    CHECK_NEAR(R(RV_GRPO_REWARD_LABEL_F1, false, "Cardiomegaly.", "Cardiomegaly. Pleural effusion.", &pen), 2.0 / 3.0,
               1e-12);
    CHECK_NEAR(R(RV_GRPO_REWARD_LABEL_F1, false, "Pleural effusion.", "Pleural effusion.", &pen), 1.0, 1e-12);
    /* names */
    rv_err e;
    rv_grpo_reward_kind k;
    CHECK(rv_grpo_reward_parse("rouge_l", &k, &e) == 0 && k == RV_GRPO_REWARD_ROUGE_L);
    CHECK(rv_grpo_reward_parse("google_bleu", &k, &e) == 0 && k == RV_GRPO_REWARD_GOOGLE_BLEU);
    CHECK(rv_grpo_reward_parse("radcliq", &k, &e) == -1 && strstr(e.msg, "neural"));
    CHECK(rv_grpo_reward_parse("bleu", &k, &e) == -1 && strstr(e.msg, "google_bleu"));
    CHECK(!strcmp(rv_grpo_reward_name(RV_GRPO_REWARD_LABEL_F1), "label_f1"));
    return check_summary("test_grpo_reward");
}
