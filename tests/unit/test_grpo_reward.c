/* GRPO rewards (train/grpo_reward.h) on hand-computed cases: the metric of each kind, the
 * reasoning rule (text after the last </think>, stripped; none: the -0.0 penalty, flagged), and
 * the refusal of the rewards that need issue J's neural metrics. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "train/grpo_reward.h"
#include "train/reward_scorer.h"

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
    /* the neural rewards parse (issue J) but need their models: without them the configuration
     * is refused, naming the keys to set */
    CHECK(rv_grpo_reward_parse("radcliq", &k, &e) == 0 && k == RV_GRPO_REWARD_RADCLIQ && rv_grpo_reward_is_neural(k));
    rv_neural_opts no = {.bertscore_model = "", .bertscore_layer = 5, .bertscore_baseline = "auto",
                         .radcliq_bertscore_model = "", .chexbert_model = "/m/chexbert", .radgraph_model = ""};
    CHECK(rv_grpo_reward_neural_opts(k, &no, &e) == -1 && strstr(e.msg, "metrics.radgraph_model") &&
          strstr(e.msg, "[BERTScore missing]") && !strstr(e.msg, "[CheXbert missing]"));
    CHECK(rv_grpo_reward_neural_opts(RV_GRPO_REWARD_BERTSCORE, &no, &e) == -1 && strstr(e.msg, "metrics.bertscore_model"));
    /* a text reward loads no model, whatever is configured */
    CHECK(rv_grpo_reward_neural_opts(RV_GRPO_REWARD_ROUGE_L, &no, &e) == 0 && !rv_neural_opts_any(&no));
    /* radcliq keeps exactly its three models: the RadCliQ BERTScore one becomes the only BERTScore */
    rv_neural_opts all = {.bertscore_model = "/m/distilbert", .bertscore_layer = 5, .bertscore_baseline = "auto",
                          .radcliq_bertscore_model = "/m/distilroberta", .chexbert_model = "/m/cx", .radgraph_model = "/m/rg"};
    CHECK(rv_grpo_reward_neural_opts(RV_GRPO_REWARD_RADCLIQ, &all, &e) == 0 && !strcmp(all.bertscore_model, "/m/distilroberta") &&
          !all.radcliq_bertscore_model[0] && !strcmp(all.chexbert_model, "/m/cx") && !strcmp(all.radgraph_model, "/m/rg"));
    /* one pair without a model: NaN (the scorer computes these in batches); the reasoning penalty
     * without "</think>" is -3 for RadCliQ, -0.0 for the others */
    CHECK(isnan(R(RV_GRPO_REWARD_BERTSCORE, false, "a b c", "a b c", &pen)) && !pen);
    CHECK(R(RV_GRPO_REWARD_RADCLIQ, true, "no think", "x", &pen) == -3.0 && pen);
    p = R(RV_GRPO_REWARD_RADGRAPH, true, "no think", "x", &pen);
    CHECK(pen && p == 0.0 && signbit(p));
    CHECK(rv_grpo_reward_fallback(RV_GRPO_REWARD_RADCLIQ) == -3.0 && rv_grpo_reward_fallback(RV_GRPO_REWARD_BERTSCORE) == 0.0);
    CHECK(rv_grpo_reward_parse("bleu", &k, &e) == -1 && strstr(e.msg, "google_bleu"));
    CHECK(!strcmp(rv_grpo_reward_name(RV_GRPO_REWARD_LABEL_F1), "label_f1"));
    return check_summary("test_grpo_reward");
}
