/* GRPO validation (verl's _validate, train.md B.3): the validation prompts answered greedily
 * (temperature 0, one response each) by the current policy, sliced over the policy ranks, scored
 * with the run's reward (through the reward ranks, like the rollouts) and with the lexical report
 * metrics computed here (GoogleBLEU, ROUGE-L, CheXpert label F1; on the text after the last
 * </think> in reasoning mode); one row of table val. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/progress.h"
#include "core/strbuf.h"
#include "model/gen_loop.h"
#include "train/grpo_trainer.h"

enum { V_REWARD, V_BLEU, V_ROUGE, V_F1, V_LEN, V_PEN, V_FB, V_N, V_COUNT };

int rv_grpo_validate(grpo_trainer *t, int64_t step, double *mean_reward, rv_err *err) {
    double t0 = rv_now();
    size_t b, e;
    rv_comm_slice(&t->dp, t->P.nval, &b, &e);
    const int n = (int)(e - b);
    double loc[V_COUNT] = {0}, glob[V_COUNT];
    rv_loader_sample *ls = rv_xcalloc((size_t)(n ? n : 1), sizeof *ls);
    rv_sample *ps = rv_xmalloc((size_t)(n ? n : 1) * sizeof *ps);
    uint64_t *ids = rv_xmalloc((size_t)(n ? n : 1) * sizeof *ids);
    rv_gen_result *out = rv_xcalloc((size_t)(n ? n : 1), sizeof *out);
    rv_sb *text = rv_xcalloc((size_t)(n ? n : 1), sizeof *text);
    rv_reward_pair *pairs = rv_xmalloc((size_t)(n ? n : 1) * sizeof *pairs);
    double *score = rv_xmalloc((size_t)(n ? n : 1) * sizeof *score);
    uint8_t *flag = rv_xmalloc((size_t)(n ? n : 1));
    int built = 0, rc = 0;
    bool generated = false;
    for (int i = 0; i < n && !rc; i++) {
        const rv_eval_item *it = &t->P.cells.items[t->P.val[b + (size_t)i]];
        rc = rv_grpo_prompt_make(&t->pc, it, t->suffix, &ls[i], err);
        if (rc) {
            rv_fail_wrap(err, "grpo: the validation prompt of cell %s", it->id);
            break;
        }
        built++;
        ps[i] = rv_loader_sample_view(&ls[i]);
        ids[i] = b + (size_t)i;
    }
    if (!rc && n > 0) {
        rv_gen_loop_opts g = {.slots = (int)t->c->slots, .max_new_tokens = (int)t->c->max_response, .temperature = 0,
                              .top_p = 1, .top_k = 0, .stop_ids = t->stop, .n_stop = t->nstop,
                              .ban_ids = &t->ban, .n_ban = 1};
        rc = rv_gen_loop(&t->m, ps, ids, n, &g, out, err);
        generated = rc == 0;
    }
    for (int i = 0; i < n && generated && !rc; i++) {
        const rv_eval_item *it = &t->P.cells.items[t->P.val[b + (size_t)i]];
        rv_sb_init(&text[i]);
        rc = rv_tokenizer_decode(t->tok, out[i].tokens, (size_t)out[i].n, true, &text[i], err);
        pairs[i] = (rv_reward_pair){text[i].s ? text[i].s : "", text[i].len, it->answer, strlen(it->answer)};
    }
    if (!rc && n > 0) {
        rv_reward_ticket tk;
        if (rv_reward_submit(&t->rc, pairs, (size_t)n, &tk, err) || rv_reward_collect(&t->rc, &tk, score, flag, err))
            rv_reward_lost(err);
    }
    if (!rc && n > 0) {
        rv_eval_scratch s = {0};
        const rv_grpo_reward_kind kinds[3] = {RV_GRPO_REWARD_GOOGLE_BLEU, RV_GRPO_REWARD_ROUGE_L, RV_GRPO_REWARD_LABEL_F1};
        for (int i = 0; i < n; i++) {
            loc[V_REWARD] += score[i];
            for (int k = 0; k < 3; k++) {
                bool pen;
                double v = rv_grpo_reward(kinds[k], t->c->reasoning, pairs[i].response, pairs[i].rlen, pairs[i].truth,
                                          pairs[i].tlen, &s, &pen);
                loc[V_BLEU + k] += pen ? 0 : v;
            }
            loc[V_LEN] += out[i].n;
            loc[V_PEN] += flag[i] == RV_REWARD_PENALTY;
            loc[V_FB] += flag[i] == RV_REWARD_FALLBACK;
        }
        loc[V_N] = n;
        rv_eval_scratch_free(&s);
    }
    for (int i = 0; i < built; i++) rv_loader_sample_free(&ls[i]);
    if (generated) rv_gen_results_free(out, n);
    for (int i = 0; i < n; i++) rv_sb_free(&text[i]);
    free(ls);
    free(ps);
    free(ids);
    free(out);
    free(text);
    free(pairs);
    free(score);
    free(flag);
    if (!rv_comm_all_ok(&t->dp, rc == 0)) return rc ? -1 : rv_fail(err, "grpo: validation failed on another policy rank");
    rv_comm_allreduce_f64(&t->dp, loc, glob, V_COUNT, RV_COMM_SUM);
    double N = glob[V_N];
    for (int k = 0; k < V_N; k++)
        if (k != V_PEN && k != V_FB) glob[k] = N > 0 ? glob[k] / N : NAN;
    *mean_reward = glob[V_REWARD];
    double sec = rv_now() - t0;
    rv_info0("grpo: validation at step %lld: reward %.4f (%s), GoogleBLEU %.4f, ROUGE-L %.4f, label F1 %.4f, "
             "response %.1f tokens, %.0f penalties, %.0f fallbacks; %.0f prompts in %.1f s",
             (long long)step, glob[V_REWARD], rv_grpo_reward_name(t->c->reward), glob[V_BLEU], glob[V_ROUGE], glob[V_F1],
             glob[V_LEN], glob[V_PEN], glob[V_FB], N, sec);
    int lrc = 0;
    if (t->vlog) {
        rv_mval row[9] = {{.i = step}, {.f = glob[V_REWARD]}, {.f = glob[V_BLEU]}, {.f = glob[V_ROUGE]},
                          {.f = glob[V_F1]}, {.f = glob[V_LEN]}, {.f = glob[V_PEN]}, {.f = glob[V_FB]}, {.f = sec}};
        lrc = rv_mlog_append(t->vlog, row, err);
    }
    return rv_comm_all_ok(&t->dp, lrc == 0) ? 0 : (lrc ? -1 : rv_fail(err, "grpo: writing RUN/log.h5 failed on rank 0"));
}
