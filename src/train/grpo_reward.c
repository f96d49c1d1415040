#include "train/grpo_reward.h"

#include <math.h>
#include <string.h>

#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/google_bleu.h"
#include "eval/metrics/rouge.h"
#include "eval/tasks/reasoning.h"

static const char *const names[] = {"google_bleu", "rouge_l", "label_f1", "bertscore", "radgraph", "radcliq"};
#define NKINDS ((int)(sizeof names / sizeof *names))

int rv_grpo_reward_parse(const char *name, rv_grpo_reward_kind *out, rv_err *err) {
    for (int k = 0; k < NKINDS; k++)
        if (name && !strcmp(name, names[k])) {
            *out = (rv_grpo_reward_kind)k;
            return 0;
        }
    return rv_fail(err, "grpo.reward = %s is not a reward; use google_bleu, rouge_l, label_f1, bertscore, radgraph or "
                        "radcliq", name ? name : "(null)");
}

const char *rv_grpo_reward_name(rv_grpo_reward_kind k) { return (unsigned)k < (unsigned)NKINDS ? names[k] : "unknown"; }

bool rv_grpo_reward_is_neural(rv_grpo_reward_kind k) {
    return k == RV_GRPO_REWARD_BERTSCORE || k == RV_GRPO_REWARD_RADGRAPH || k == RV_GRPO_REWARD_RADCLIQ;
}

static bool given(const char *s) { return s && *s; }

int rv_grpo_reward_neural_opts(rv_grpo_reward_kind k, rv_neural_opts *o, rv_err *err) {
    const char *rcq = given(o->radcliq_bertscore_model) ? o->radcliq_bertscore_model : o->bertscore_model;
    switch (k) {
    case RV_GRPO_REWARD_BERTSCORE:
        if (!given(o->bertscore_model))
            return rv_fail(err, "grpo.reward = bertscore needs metrics.bertscore_model (upstream: distilbert-base-uncased, "
                                "layer 5; docs/metrics.md)");
        o->radcliq_bertscore_model = o->chexbert_model = o->radgraph_model = "";
        return 0;
    case RV_GRPO_REWARD_RADGRAPH:
        if (!given(o->radgraph_model))
            return rv_fail(err, "grpo.reward = radgraph needs metrics.radgraph_model (RadGraph-XL; docs/metrics.md)");
        o->bertscore_model = o->radcliq_bertscore_model = o->chexbert_model = "";
        return 0;
    case RV_GRPO_REWARD_RADCLIQ:
        if (!given(rcq) || !given(o->chexbert_model) || !given(o->radgraph_model))
            return rv_fail(err, "grpo.reward = radcliq needs metrics.radcliq_bertscore_model (or metrics.bertscore_model; "
                                "upstream: distilroberta-base), metrics.chexbert_model and metrics.radgraph_model%s%s%s "
                                "(docs/metrics.md)", given(rcq) ? "" : " [BERTScore missing]",
                           given(o->chexbert_model) ? "" : " [CheXbert missing]",
                           given(o->radgraph_model) ? "" : " [RadGraph-XL missing]");
        o->bertscore_model = rcq; /* one BERTScore model, the RadCliQ feature's */
        o->radcliq_bertscore_model = "";
        return 0;
    default:
        o->bertscore_model = o->radcliq_bertscore_model = o->chexbert_model = o->radgraph_model = "";
        return 0;
    }
}

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
            /* upstream's penalty: -0.0 for GLEU, BERTScore, RadGraph; -3 for RadCliQ */
            return k == RV_GRPO_REWARD_RADCLIQ ? -3.0 : -0.0;
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
    case RV_GRPO_REWARD_BERTSCORE:
    case RV_GRPO_REWARD_RADGRAPH:
    case RV_GRPO_REWARD_RADCLIQ:
        return NAN; /* a model's score: the reward scorer computes it in batches (reward_scorer.h) */
    }
    return 0.0;
}
