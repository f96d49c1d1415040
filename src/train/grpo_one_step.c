/* One GRPO step on the policy ranks (docs/grpo.md "Roles and one step"): rollouts of this rank's
 * prompts, rewards sent to the reward ranks, every response gathered and balanced over the ranks,
 * old and reference log-probs, the step's advantages, the actor update, and the step's metrics. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/progress.h"
#include "core/strbuf.h"
#include "train/grpo_balance.h"
#include "train/grpo_dump.h"
#include "train/grpo_rollout.h"
#include "train/grpo_trainer.h"
#include "train/grpo_update.h"

const rv_mcol rv_grpo_step_cols[M_COUNT + 1] = {
    {"step", RV_MCOL_I64},
    {"reward_mean", RV_MCOL_F64}, {"reward_std", RV_MCOL_F64}, {"reward_min", RV_MCOL_F64}, {"reward_max", RV_MCOL_F64},
    {"penalties", RV_MCOL_F64}, {"fallbacks", RV_MCOL_F64},
    {"adv_mean", RV_MCOL_F64}, {"adv_std", RV_MCOL_F64}, {"adv_min", RV_MCOL_F64}, {"adv_max", RV_MCOL_F64},
    {"pg_loss", RV_MCOL_F64}, {"pg_clipfrac", RV_MCOL_F64}, {"pg_clipfrac_lower", RV_MCOL_F64},
    {"ppo_kl", RV_MCOL_F64}, {"kl_loss", RV_MCOL_F64}, {"grad_norm", RV_MCOL_F64}, {"skipped", RV_MCOL_F64},
    {"response_length_mean", RV_MCOL_F64}, {"response_length_max", RV_MCOL_F64}, {"response_clip_ratio", RV_MCOL_F64},
    {"entropy", RV_MCOL_F64}, {"tokens", RV_MCOL_F64}, {"throughput", RV_MCOL_F64}, {"reward_pairs_per_s", RV_MCOL_F64},
    {"time_rollout", RV_MCOL_F64}, {"time_reward_wait", RV_MCOL_F64}, {"time_old_log_prob", RV_MCOL_F64},
    {"time_ref_log_prob", RV_MCOL_F64}, {"time_update", RV_MCOL_F64}, {"time_step", RV_MCOL_F64},
    {"time", RV_MCOL_F64},
};

/* The rollout draws of step s: a function of run.seed and s only. */
static uint64_t step_seed(uint64_t seed, int64_t step) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(step + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Every response of the step, as gathered from the policy ranks (global order g = uid * n + k). */
typedef struct step_batch {
    int N;
    int32_t *plen, *rlen, *stopped;
    const int32_t **tok;     /* [N] into buf */
    char *buf;
} step_batch;

static void batch_free(step_batch *b) {
    free(b->plen);
    free(b->rlen);
    free(b->stopped);
    free(b->tok);
    free(b->buf);
    memset(b, 0, sizeof *b);
}

/* Gathers every rank's responses: per response int32 prompt length, response length, stopped,
 * then the tokens. */
static void gather_responses(grpo_trainer *t, const rv_gen_result *ro, int nmine, const int32_t *my_plen, int n,
                             int N, step_batch *b) {
    rv_sb sb;
    rv_sb_init(&sb);
    for (int i = 0; i < nmine; i++) {
        int32_t h[3] = {my_plen[i / n], ro[i].n, ro[i].stopped};
        rv_sb_append(&sb, h, sizeof h);
        rv_sb_append(&sb, ro[i].tokens, (size_t)ro[i].n * sizeof(int32_t));
    }
    size_t len = 0;
    rv_comm_allgather_bytes(&t->dp, sb.s, sb.len, &b->buf, &len);
    rv_sb_free(&sb);
    b->N = N;
    b->plen = rv_xmalloc((size_t)N * sizeof *b->plen);
    b->rlen = rv_xmalloc((size_t)N * sizeof *b->rlen);
    b->stopped = rv_xmalloc((size_t)N * sizeof *b->stopped);
    b->tok = rv_xmalloc((size_t)N * sizeof *b->tok);
    size_t at = 0;
    for (int g = 0; g < N; g++) {
        int32_t h[3];
        memcpy(h, b->buf + at, sizeof h);
        at += sizeof h;
        b->plen[g] = h[0];
        b->rlen[g] = h[1];
        b->stopped[g] = h[2];
        b->tok[g] = (const int32_t *)(void *)(b->buf + at); /* 4-byte aligned: every record is whole int32s */
        at += (size_t)h[1] * sizeof(int32_t);
    }
}

typedef struct step_work {
    rv_loader_sample *pls;   /* [B] prompt samples by uid, built on demand */
    bool *have;
    size_t *item;            /* [B] the cells' items */
    rv_gen_result *ro;       /* [Bp * n] this rank's rollouts */
    rv_sb *text;             /* [Bp * n] decoded */
    rv_grpo_seq *q;          /* [na] this rank's share after balancing */
    float **old_lp, **ref_lp;
    int *mine;               /* [na] global indices g */
    double *score, *adv;     /* [N] */
    uint8_t *flag;           /* [N] */
    int32_t *my_plen;        /* [Bp] prompt lengths of this rank's prompts */
} step_work;

static int prompt_of(grpo_trainer *t, step_work *w, int64_t u, rv_err *err) {
    if (w->have[u]) return 0;
    const rv_eval_item *it = &t->P.cells.items[w->item[u]];
    if (rv_grpo_prompt_make(&t->pc, it, t->suffix, &w->pls[u], err))
        return rv_fail_wrap(err, "grpo: the prompt of cell %s", it->id);
    w->have[u] = true;
    if (w->pls[u].len > t->c->max_prompt)
        return rv_fail(err, "grpo: the prompt of cell %s has %d tokens (image rows included), more than "
                            "grpo.max_prompt_length = %lld (upstream's truncation=error): raise it",
                       it->id, w->pls[u].len, (long long)t->c->max_prompt);
    return 0;
}

static void work_free(step_work *w, int64_t B, int nmine, int na) {
    if (w->pls)
        for (int64_t u = 0; u < B; u++)
            if (w->have[u]) rv_loader_sample_free(&w->pls[u]);
    if (w->ro) rv_gen_results_free(w->ro, nmine);
    if (w->text)
        for (int i = 0; i < nmine; i++) rv_sb_free(&w->text[i]);
    if (w->q)
        for (int i = 0; i < na; i++) rv_grpo_seq_free(&w->q[i]);
    if (w->old_lp)
        for (int i = 0; i < na; i++) free(w->old_lp[i]);
    if (w->ref_lp)
        for (int i = 0; i < na; i++) free(w->ref_lp[i]);
    free(w->pls);
    free(w->have);
    free(w->item);
    free(w->ro);
    free(w->text);
    free(w->q);
    free(w->old_lp);
    free(w->ref_lp);
    free(w->mine);
    free(w->score);
    free(w->adv);
    free(w->flag);
    free(w->my_plen);
    memset(w, 0, sizeof *w);
}

static void stats4(const double *x, int n, double *mean, double *sd, double *mn, double *mx) {
    double s = 0, ss = 0, lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        s += x[i];
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *mean = n ? s / n : NAN;
    for (int i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
    *mn = n ? lo : NAN;
    *mx = n ? hi : NAN;
}

/* Fails on every rank when one failed. */
#define AGREE(cond, what)                                                                                       \
    do {                                                                                                        \
        bool ok_ = (cond);                                                                                      \
        if (!rv_comm_all_ok(&t->dp, ok_)) {                                                                     \
            if (ok_) rv_fail(err, "grpo: step %lld: %s failed on another policy rank", (long long)step + 1, what); \
            goto out;                                                                                           \
        }                                                                                                       \
    } while (0)

int rv_grpo_run_step(grpo_trainer *t, int64_t step, double *m, rv_err *err) {
    const rv_grpo_cfg *c = t->c;
    const int P = t->dp.size, r = t->dp.rank, n = (int)c->n;
    const int64_t B = c->prompts_per_step, Bp = B / P;
    const int N = (int)(B * n), nmine = (int)(Bp * n), na = N / P;
    step_work w = {0};
    step_batch b = {0};
    rv_reward_ticket ticket;
    bool submitted = false;
    int rc = -1;
    double t0 = rv_now(), tm[5] = {0};
    w.pls = rv_xcalloc((size_t)B, sizeof *w.pls);
    w.have = rv_xcalloc((size_t)B, sizeof *w.have);
    w.item = rv_xmalloc((size_t)B * sizeof *w.item);
    for (int64_t u = 0; u < B; u++) w.item[u] = rv_grpo_prompt_item(&t->P, step, B, u);

    /* 1. rollouts of this rank's prompts (uids [r Bp, (r + 1) Bp)) */
    int prc = 0;
    for (int64_t j = 0; j < Bp && !prc; j++) prc = prompt_of(t, &w, r * Bp + j, err);
    AGREE(prc == 0, "building the prompts");
    rv_sample *ps = rv_xmalloc((size_t)Bp * sizeof *ps);
    uint64_t *uid = rv_xmalloc((size_t)Bp * sizeof *uid);
    int32_t *my_plen = w.my_plen = rv_xmalloc((size_t)Bp * sizeof *my_plen);
    for (int64_t j = 0; j < Bp; j++) {
        ps[j] = rv_loader_sample_view(&w.pls[r * Bp + j]);
        uid[j] = (uint64_t)(r * Bp + j);
        my_plen[j] = ps[j].len;
    }
    w.ro = rv_xcalloc((size_t)nmine, sizeof *w.ro);
    rv_grpo_rollout_opts ro = {.n = n, .max_response = (int)c->max_response, .slots = (int)c->slots,
                               .seed = step_seed(c->seed, step), .stop_ids = t->stop, .n_stop = t->nstop,
                               .ban_ids = &t->ban, .n_ban = 1};
    prc = rv_grpo_rollout(&t->m, ps, uid, (int)Bp, &ro, w.ro, err);
    free(ps);
    free(uid);
    if (prc) {
        free(w.ro); /* holds nothing after a failure */
        w.ro = NULL;
    }
    AGREE(prc == 0, "the rollout");
    tm[0] = rv_now() - t0;

    /* 2. decode and send to the reward ranks; they score while this rank goes on */
    w.text = rv_xcalloc((size_t)nmine, sizeof *w.text);
    rv_reward_pair *pairs = rv_xmalloc((size_t)nmine * sizeof *pairs);
    for (int i = 0; i < nmine && !prc; i++) {
        rv_sb_init(&w.text[i]);
        prc = rv_tokenizer_decode(t->tok, w.ro[i].tokens, (size_t)w.ro[i].n, true, &w.text[i], err);
        const rv_eval_item *it = &t->P.cells.items[w.item[r * Bp + i / n]];
        pairs[i] = (rv_reward_pair){w.text[i].s ? w.text[i].s : "", w.text[i].len, it->answer, strlen(it->answer)};
    }
    double t_submit = rv_now();
    if (!prc && rv_reward_submit(&t->rc, pairs, (size_t)nmine, &ticket, err)) rv_reward_lost(err);
    free(pairs);
    submitted = prc == 0;
    AGREE(prc == 0, "sending the rewards");

    /* 3. every response on every rank, balanced by tokens over the ranks */
    gather_responses(t, w.ro, nmine, my_plen, n, N, &b);
    int64_t *lens = rv_xmalloc((size_t)N * sizeof *lens);
    int *part = rv_xmalloc((size_t)N * sizeof *part);
    for (int g = 0; g < N; g++) lens[g] = (int64_t)b.plen[g] + b.rlen[g];
    rv_grpo_balance(lens, N, P, part);
    w.mine = rv_xmalloc((size_t)na * sizeof *w.mine);
    int k = 0;
    for (int g = 0; g < N; g++)
        if (part[g] == r) w.mine[k++] = g;
    free(lens);
    free(part);
    w.q = rv_xcalloc((size_t)na, sizeof *w.q);
    for (int i = 0; i < na && !prc; i++) {
        int64_t u = w.mine[i] / n;
        prc = prompt_of(t, &w, u, err);
        if (prc) break;
        rv_sample pv = rv_loader_sample_view(&w.pls[u]);
        rv_gen_result gr = {.tokens = (int32_t *)(uintptr_t)b.tok[w.mine[i]], .n = b.rlen[w.mine[i]]};
        rv_grpo_seq_make(&w.q[i], &pv, &gr);
    }
    AGREE(prc == 0, "building the sequences");

    /* 4. old and reference log-probs of this rank's share */
    double t1 = rv_now();
    w.old_lp = rv_xcalloc((size_t)na, sizeof *w.old_lp);
    for (int i = 0; i < na; i++) w.old_lp[i] = rv_xmalloc((size_t)(w.q[i].resp_len ? w.q[i].resp_len : 1) * sizeof(float));
    prc = rv_grpo_logprobs(&t->m, w.q, na, (int)c->logp_micro, w.old_lp, err);
    tm[2] = rv_now() - t1;
    AGREE(prc == 0, "the old log-probs");
    if (t->ref_init) {
        t1 = rv_now();
        w.ref_lp = rv_xcalloc((size_t)na, sizeof *w.ref_lp);
        for (int i = 0; i < na; i++)
            w.ref_lp[i] = rv_xmalloc((size_t)(w.q[i].resp_len ? w.q[i].resp_len : 1) * sizeof(float));
        prc = rv_grpo_logprobs(&t->ref, w.q, na, (int)c->logp_micro, w.ref_lp, err);
        tm[3] = rv_now() - t1;
        AGREE(prc == 0, "the reference log-probs");
    }

    /* 5. the scores, then every rank's: rewards of the whole step in g order */
    t1 = rv_now();
    double *my_score = rv_xmalloc((size_t)nmine * sizeof *my_score);
    uint8_t *my_flag = rv_xmalloc((size_t)nmine);
    if (rv_reward_collect(&t->rc, &ticket, my_score, my_flag, err)) rv_reward_lost(err);
    submitted = false;
    double t_scored = rv_now();
    tm[1] = t_scored - t1;
    for (int i = 0; i < nmine; i++)
        if (my_flag[i] == RV_REWARD_FALLBACK)
            rv_warn("grpo: step %lld: response %d of cell %s (uid %lld) got the fallback reward %g (late or failed "
                    "scoring; see grpo.reward_pair_deadline_s)", (long long)step + 1, i % n,
                    t->P.cells.items[w.item[r * Bp + i / n]].id, (long long)(r * Bp + i / n), my_score[i]);
    rv_sb sb;
    rv_sb_init(&sb);
    rv_sb_append(&sb, my_score, (size_t)nmine * sizeof *my_score);
    rv_sb_append(&sb, my_flag, (size_t)nmine);
    free(my_score);
    free(my_flag);
    char *all = NULL;
    size_t alllen = 0;
    rv_comm_allgather_bytes(&t->dp, sb.s, sb.len, &all, &alllen);
    rv_sb_free(&sb);
    w.score = rv_xmalloc((size_t)N * sizeof *w.score);
    w.flag = rv_xmalloc((size_t)N);
    const size_t per = (size_t)nmine * (sizeof(double) + 1);
    for (int p = 0; p < P; p++) {
        memcpy(w.score + (size_t)p * nmine, all + p * per, (size_t)nmine * sizeof(double));
        memcpy(w.flag + (size_t)p * nmine, all + p * per + (size_t)nmine * sizeof(double), (size_t)nmine);
    }
    free(all);
    double pairs_per_s = rv_comm_max_f64(&t->dp, t_scored - t_submit);
    pairs_per_s = pairs_per_s > 0 ? N / pairs_per_s : 0;

    /* 6. advantages per group (every rank the same numbers), this rank's share */
    w.adv = rv_xmalloc((size_t)N * sizeof *w.adv);
    int64_t *gid = rv_xmalloc((size_t)N * sizeof *gid);
    for (int g = 0; g < N; g++) gid[g] = g / n;
    prc = rv_grpo_advantages(w.score, gid, N, c->adv_eps, w.adv, err);
    free(gid);
    AGREE(prc == 0, "the advantages");
    if (t->c->rollout_dump && r == 0) {
        rv_grpo_dump_in d = {.run_dir = t->env->run_dir, .step = step + 1, .n = n, .N = N, .tok = t->tok,
                             .resp = b.tok, .rlen = b.rlen, .score = w.score, .flag = w.flag, .adv = w.adv};
        const char **ids = rv_xmalloc((size_t)B * sizeof *ids);
        for (int64_t u = 0; u < B; u++) ids[u] = t->P.cells.items[w.item[u]].id;
        d.ids = ids;
        rv_err de;
        if (rv_grpo_dump(&d, &de)) rv_warn("grpo: %s (the rollout file of this step is missing)", de.msg);
        free(ids);
    }

    /* 7. the actor update */
    t1 = rv_now();
    double *my_adv = rv_xmalloc((size_t)na * sizeof *my_adv);
    for (int i = 0; i < na; i++) my_adv[i] = w.adv[w.mine[i]];
    rv_grpo_update_cfg uc = {.mini_batches = (int)(B / c->mini_batch_prompts), .micro = (int)c->micro, .loss = c->loss};
    rv_grpo_update_stats us;
    prc = rv_grpo_update(&t->m, t->opt, &t->dp, w.q, na, (const float *const *)w.old_lp,
                         (const float *const *)w.ref_lp, my_adv, &uc, 1.0, &us, err);
    free(my_adv);
    tm[4] = rv_now() - t1;
    if (prc) goto out; /* rv_grpo_update agreed already */

    /* 8. metrics */
    double *rl = rv_xmalloc((size_t)N * sizeof *rl);
    double tok = 0, clipped = 0, pen = 0, fb = 0;
    for (int g = 0; g < N; g++) {
        rl[g] = b.rlen[g];
        tok += b.plen[g] + b.rlen[g];
        clipped += !b.stopped[g];
        pen += w.flag[g] == RV_REWARD_PENALTY;
        fb += w.flag[g] == RV_REWARD_FALLBACK;
    }
    stats4(w.score, N, &m[M_REWARD_MEAN], &m[M_REWARD_STD], &m[M_REWARD_MIN], &m[M_REWARD_MAX]);
    stats4(w.adv, N, &m[M_ADV_MEAN], &m[M_ADV_STD], &m[M_ADV_MIN], &m[M_ADV_MAX]);
    double sd;
    stats4(rl, N, &m[M_RESP_LEN_MEAN], &sd, &sd, &m[M_RESP_LEN_MAX]);
    free(rl);
    m[M_PENALTIES] = pen;
    m[M_FALLBACKS] = fb;
    m[M_RESP_CLIPPED] = clipped / N;
    /* entropy: the sampled estimate E[-log pi(y)] over the rollouts (temperature 1) */
    double loc[7] = {0, 0, us.pg_loss, us.pg_clipfrac, us.pg_clipfrac_lower, us.ppo_kl, us.kl_loss}, glob[7];
    for (int i = 0; i < nmine; i++)
        for (int j = 0; j < w.ro[i].n; j++) loc[0] -= w.ro[i].logp[j];
    for (int i = 0; i < nmine; i++) loc[1] += w.ro[i].n;
    rv_comm_allreduce_f64(&t->dp, loc, glob, 7, RV_COMM_SUM);
    m[M_ENTROPY] = glob[1] > 0 ? glob[0] / glob[1] : NAN;
    m[M_PG_LOSS] = glob[2] / P;
    m[M_PG_CLIPFRAC] = glob[3] / P;
    m[M_PG_CLIPFRAC_LOWER] = glob[4] / P;
    m[M_PPO_KL] = glob[5] / P;
    m[M_KL_LOSS] = glob[6] / P;
    m[M_GRAD_NORM] = us.grad_norm;
    m[M_SKIPPED] = us.skipped;
    m[M_TOKENS] = tok;
    double dt = rv_now() - t0;
    m[M_THROUGHPUT] = tok / (dt * P); /* verl's perf/throughput */
    m[M_PAIRS_PER_S] = pairs_per_s;
    /* the time split: the slowest rank's */
    rv_comm_allreduce_f64(&t->dp, tm, m + M_T_ROLLOUT, 5, RV_COMM_MAX);
    m[M_T_STEP] = dt;
    t->st.optim_steps += us.optimizer_steps - us.skipped;
    t->st.skipped_total += us.skipped;
    t->st.tokens += (int64_t)tok;
    rc = 0;
out:
    if (submitted) { /* a failure with a batch in flight: take its reply, so the channel stays in order */
        double *s = rv_xmalloc((size_t)nmine * sizeof *s);
        uint8_t *f = rv_xmalloc((size_t)nmine);
        rv_err e2;
        rv_reward_collect(&t->rc, &ticket, s, f, &e2);
        free(s);
        free(f);
    }
    batch_free(&b);
    work_free(&w, B, nmine, na);
    return rc;
}
