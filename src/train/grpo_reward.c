#include "train/grpo_reward.h"

#include <string.h>

#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/google_bleu.h"
#include "eval/metrics/rouge.h"
#include "eval/tasks/reasoning.h"

static const char *const names[] = {"google_bleu", "rouge_l", "label_f1"};

int rv_grpo_reward_parse(const char *name, rv_grpo_reward_kind *out, rv_err *err) {
    for (int k = 0; k < 3; k++)
        if (name && !strcmp(name, names[k])) {
            *out = (rv_grpo_reward_kind)k;
            return 0;
        }
    if (name && (!strcmp(name, "bertscore") || !strcmp(name, "radgraph") || !strcmp(name, "radcliq")))
        return rv_fail(err, "grpo.reward = %s needs the neural radiology metrics (BERTScore / RadGraph / CheXbert "
                            "models), which this build does not compute yet; use google_bleu, rouge_l or label_f1",
                       name);
    return rv_fail(err, "grpo.reward = %s is not a reward; use google_bleu, rouge_l or label_f1", name ? name : "(null)");
}

const char *rv_grpo_reward_name(rv_grpo_reward_kind k) { return (unsigned)k < 3 ? names[k] : "unknown"; }

/* F1 = 2TP / (2TP + FP + FN) over two label sets (bitmasks); 1 when both are empty. */
static double set_f1(unsigned truth, unsigned pred) {
    unsigned tp = (unsigned)__builtin_popcount(truth & pred), fp = (unsigned)__builtin_popcount(pred & ~truth),
             fn = (unsigned)__builtin_popcount(truth & ~pred);
    return tp + fp + fn == 0 ? 1.0 : 2.0 * tp / (2.0 * tp + fp + fn);
}

double rv_grpo_reward(rv_grpo_reward_kind k, bool reasoning, const char *response, size_t len, const char *truth,
                      size_t tlen, rv_eval_scratch *s, bool *penalty) {
    *penalty = false;
    rv_span a = {response, len};
    if (reasoning) {
        bool found;
        a = rv_reasoning_after_think(response, len, &found);
        if (!found) {
            *penalty = true;
            return -0.0; /* upstream's penalty for GLEU (and for BERTScore / RadGraph) */
        }
    }
    switch (k) {
    case RV_GRPO_REWARD_GOOGLE_BLEU: return rv_google_bleu(a.p, a.len, truth, tlen, &s->ngram);
    case RV_GRPO_REWARD_ROUGE_L: {
        rv_prf r[3];
        rv_rouge_pair(a.p, a.len, truth, tlen, r, &s->ngram);
        return r[RV_ROUGEL].f;
    }
    case RV_GRPO_REWARD_LABEL_F1: {
        int c[RV_CHX_NLABELS];
        rv_chx_label(truth, tlen, c);
        unsigned t = rv_chx_rrg_bits(c);
        rv_chx_label(a.p, a.len, c);
        return set_f1(t, rv_chx_rrg_bits(c));
    }
    }
    return 0.0;
}
