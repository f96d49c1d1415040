#define _POSIX_C_SOURCE 200809L
#include "train/grpo_loop.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/die.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/strbuf.h"
#include "train/grpo_balance.h"
#include "train/grpo_dump.h"
#include "train/grpo_rollout.h"
#include "train/grpo_trainer.h"
#include "train/grpo_update.h"
#include "train/sft_ckpt.h"
#include "train/signals.h"

#define THINK_SUFFIX " /think"

/* ---- the step's metrics: one row of table grpo ---- */

enum {
    M_REWARD_MEAN, M_REWARD_STD, M_REWARD_MIN, M_REWARD_MAX, M_PENALTIES, M_FALLBACKS,
    M_ADV_MEAN, M_ADV_STD, M_ADV_MIN, M_ADV_MAX,
    M_PG_LOSS, M_PG_CLIPFRAC, M_PG_CLIPFRAC_LOWER, M_PPO_KL, M_KL_LOSS, M_GRAD_NORM, M_SKIPPED,
    M_RESP_LEN_MEAN, M_RESP_LEN_MAX, M_RESP_CLIPPED, M_ENTROPY, M_TOKENS, M_THROUGHPUT, M_PAIRS_PER_S,
    M_T_ROLLOUT, M_T_REWARD_WAIT, M_T_OLD_LOGP, M_T_REF_LOGP, M_T_UPDATE, M_T_STEP, M_TIME, M_COUNT
};
static const rv_mcol grpo_cols[M_COUNT + 1] = {
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

/* ---- setup ---- */

static void trainer_free(grpo_trainer *t) {
    if (t->log) rv_mlog_close(t->log);
    if (t->vlog) rv_mlog_close(t->vlog);
    if (t->P_init) rv_grpo_prompts_free(&t->P);
    if (t->set) rv_shardset_close(t->set);
    if (t->opt) rv_optim_free(t->opt);
    if (t->pg_init) rv_param_groups_free(&t->pg);
    if (t->ref_init) rv_vlm_free(&t->ref);
    if (t->m_init) rv_vlm_free(&t->m);
    if (t->wref_init) rv_weights_free(&t->wref);
    if (t->w_init) rv_weights_free(&t->w);
    if (t->tok) rv_tokenizer_free(t->tok);
    rv_sft_model_free(&t->model);
    if (t->k) rvk_destroy(t->k);
    free(t->init_path);
}

/* grpo.init: a run directory (one with a checkpoints/ folder; a Hugging Face directory has none)
 * means its newest checkpoint. */
static int resolve_init(grpo_trainer *t, rv_err *err) {
    const char *init = t->c->init;
    char *ck = rv_path_join(init, "checkpoints");
    bool run_dir = rv_is_dir(ck);
    free(ck);
    if (!run_dir) {
        t->init_path = rv_xstrdup(init);
        return 0;
    }
    int r = rv_ckpt_latest(init, &t->init_path, err);
    if (r < 0) return -1;
    if (r == 0) return rv_fail(err, "grpo.init = %s: a run directory without a checkpoint; train it first (--phase sft)", init);
    return 0;
}

static int setup(grpo_trainer *t, char **resume_path, rv_err *err) {
    const rv_grpo_cfg *c = t->c;
    if (resolve_init(t, err)) return -1;
    t->iopt = (rv_sft_init_opts){t->init_path, c->tokenizer, t->env->data_dir, t->env->run_dir, true};
    if (rv_sft_model_resolve(&t->model, &t->iopt, err)) return rv_fail_wrap(err, "grpo.init");
    if (!t->model.tokenizer)
        return rv_fail(err, "grpo.init = %s carries no tokenizer.json and none was found: set grpo.tokenizer", t->init_path);
    if (rv_tokenizer_load_json(t->model.tokenizer_from, t->model.tokenizer, t->model.tokenizer_len, &t->tok, err))
        return rv_fail_wrap(err, "grpo: the model's tokenizer");
    if (rv_eval_prompt_check_tokenizer(t->tok, t->model.tokenizer_from, err)) return -1;
    const char *stops[2] = {"<|im_end|>", "<|endoftext|>"};
    for (int i = 0; i < 2; i++) {
        int32_t id = rv_tokenizer_token_id(t->tok, stops[i]);
        if (id >= 0) t->stop[t->nstop++] = id;
    }
    t->ban = t->model.cfg.image_token_id;
    if (rv_sft_model_pixel_norm(&t->model, &t->norm, err)) return -1;
    if (rv_shardset_open(c->shards, NULL, &t->set, err)) return rv_fail_wrap(err, "grpo.shards");
    if (rv_sft_model_check_tokenizer(&t->model, c->shards, t->set->tokenizer_hash, err)) return -1;
    if (rv_grpo_prompts_open(&t->P, t->set, c->data_seed, c->train_frac, (size_t)c->val_size, c->seed,
                             c->prompts_per_step, t->env->bad, err))
        return -1;
    t->P_init = true;
    t->pc = (rv_eval_prompt_ctx){.tok = t->tok, .cfg = &t->model.cfg, .norm = &t->norm, .set = t->set,
                                 .anyres = t->set->anyres};
    t->suffix = c->reasoning && c->think_suffix ? THINK_SUFFIX : NULL;

    rvk_cpu_opts co = {.nthreads = c->threads};
    if (rvk_create(&t->k, c->backend, &co, err)) return -1;
    int r = rv_grpo_find_resume(t->env->run_dir, c->resume, resume_path, err);
    if (r < 0) return -1;
    if (*resume_path) {
        rv_ckpt *ck = NULL;
        if (rv_ckpt_open(&ck, *resume_path, err)) return rv_fail_wrap(err, "grpo.resume");
        int rc = rv_sft_model_check_ckpt(&t->model, ck, err);
        rv_ckpt_close(ck);
        if (rc) return -1;
        if (rv_weights_build(&t->w, &t->model.cfg, t->k, err)) return -1;
    } else if (rv_sft_model_load_weights(&t->model, &t->iopt, t->k, c->seed, 0.02f, &t->w, err)) {
        return -1;
    }
    t->w_init = true;
    if (rv_vlm_init(&t->m, t->k, &t->model.cfg, &t->w, true, err)) return -1;
    t->m_init = true;
    /* The reference model: grpo.init itself, frozen (no gradients, no optimizer state). */
    if (c->loss.kl_coef > 0) {
        if (rv_sft_model_load_weights(&t->model, &t->iopt, t->k, c->seed, 0.02f, &t->wref, err)) return -1;
        t->wref_init = true;
        if (rv_vlm_init(&t->ref, t->k, &t->model.cfg, &t->wref, false, err)) return -1;
        t->ref_init = true;
    }
    rv_pg_config pc = {.lr = {c->lr, c->lr, c->lr}, .weight_decay = c->weight_decay};
    if (rv_tunable_parts_parse(c->tunable_parts, pc.trainable, err)) return rv_fail_wrap(err, "grpo.tunable_parts");
    if (rv_param_groups_build(&t->pg, &t->w, &pc, err)) return -1;
    t->pg_init = true;
    rv_optim_cfg oc = {.beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps, .weight_decay = c->weight_decay,
                       .max_grad_norm = c->max_grad_norm, .zero = c->zero};
    if (rv_optim_create(&t->opt, &t->w, &t->pg, &t->dp, &oc, err)) return -1;

    int64_t spe = rv_grpo_steps_per_epoch(&t->P, c->prompts_per_step);
    t->st = (rv_grpo_state){.total_steps = c->total_steps > 0 ? c->total_steps : c->epochs * spe,
                            .prompts_per_step = c->prompts_per_step, .n = c->n};
    snprintf(t->st.reward, sizeof t->st.reward, "%s", rv_grpo_reward_name(c->reward));
    snprintf(t->st.loss_agg, sizeof t->st.loss_agg, "%s", rv_grpo_agg_name(c->loss.agg));
    snprintf(t->st.init, sizeof t->st.init, "%s", t->init_path);
    return 0;
}

/* Continues the saved run with the same shape (else its curve would silently change). */
static int resume(grpo_trainer *t, const char *path, rv_err *err) {
    rv_ckpt *ck = NULL;
    if (rv_ckpt_open(&ck, path, err)) return -1;
    rv_grpo_state s;
    int rc = rv_grpo_state_from_json(path, rv_ckpt_state_json(ck), &s, err);
    if (!rc) rc = rv_train_restore_weights(ck, &t->w, t->opt, s.optim_steps, err);
    rv_ckpt_close(ck);
    if (rc) return rv_fail_wrap(err, "grpo.resume (%s)", path);
    if (s.total_steps != t->st.total_steps || s.prompts_per_step != t->st.prompts_per_step || s.n != t->st.n ||
        strcmp(s.reward, t->st.reward) || strcmp(s.loss_agg, t->st.loss_agg))
        return rv_fail(err, "%s: saved with %lld steps of %lld prompts x %lld, reward %s, loss %s; this run has %lld, %lld x "
                            "%lld, %s, %s: resume with the same settings, or start anew with grpo.resume=never",
                       path, (long long)s.total_steps, (long long)s.prompts_per_step, (long long)s.n, s.reward, s.loss_agg,
                       (long long)t->st.total_steps, (long long)t->st.prompts_per_step, (long long)t->st.n,
                       t->st.reward, t->st.loss_agg);
    if (strcmp(s.init, t->st.init))
        rv_warn0("grpo: %s was trained from grpo.init = %s, this run names %s: the reference model is this run's", path,
                 s.init, t->st.init);
    snprintf(s.init, sizeof s.init, "%s", t->st.init);
    t->st = s;
    return 0;
}

static int open_logs(grpo_trainer *t, rv_err *err) {
    int rc = 0;
    if (t->dp.rank == 0) {
        static const rv_mcol vcols[] = {{"step", RV_MCOL_I64},         {"reward", RV_MCOL_F64},
                                        {"google_bleu", RV_MCOL_F64},  {"rouge_l", RV_MCOL_F64},
                                        {"label_f1", RV_MCOL_F64},     {"response_length_mean", RV_MCOL_F64},
                                        {"penalties", RV_MCOL_F64},    {"fallbacks", RV_MCOL_F64},
                                        {"seconds", RV_MCOL_F64}};
        char *path = rv_path_join(t->env->run_dir, "log.h5");
        rc = rv_mlog_open(&t->log, path, "grpo", grpo_cols, M_COUNT + 1, t->st.step, err);
        if (!rc) rc = rv_mlog_open(&t->vlog, path, "val", vcols, (int)(sizeof vcols / sizeof *vcols), t->st.step, err);
        free(path);
    }
    return rv_comm_all_ok(&t->dp, rc == 0) ? 0 : (rc ? -1 : rv_fail(err, "grpo: opening RUN/log.h5 failed on rank 0"));
}

static int save(grpo_trainer *t, rv_err *err) {
    char *state = rv_grpo_state_to_json(&t->st);
    rv_sft_save_in in = {.run_dir = t->env->run_dir, .w = &t->w, .opt = t->opt, .state_json = state,
                         .step = t->st.step, .phase = "grpo", .model = &t->model,
                         .run_config_json = t->env->run_config_json, .keep = t->c->keep};
    double t0 = rv_now();
    int rc = rv_sft_save(&t->dp, &in, err);
    free(state);
    if (!rc) rv_info0("grpo: checkpoint step %lld saved in %.1f s", (long long)t->st.step, rv_now() - t0);
    return rc;
}

/* ---- one step ---- */

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

static int run_step(grpo_trainer *t, int64_t step, double *m, rv_err *err) {
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

/* ---- the loop ---- */


static void progress_note(rv_progress *prog, const double *m, double val) {
    char note[256];
    int l = snprintf(note, sizeof note, "reward %.4f (+-%.3f) kl %.2g clip %.2f len %.0f gnorm %.3g %.0f tok/s/rank",
                     m[M_REWARD_MEAN], m[M_REWARD_STD], m[M_KL_LOSS], m[M_PG_CLIPFRAC], m[M_RESP_LEN_MEAN],
                     m[M_GRAD_NORM], m[M_THROUGHPUT]);
    if (!isnan(val) && l > 0 && (size_t)l < sizeof note) snprintf(note + l, sizeof note - (size_t)l, " val %.4f", val);
    rv_progress_note(prog, note);
}

static int policy_run(grpo_trainer *t, rv_grpo_result *out, rv_err *err) {
    const rv_grpo_cfg *c = t->c;
    const rv_comm *dp = &t->dp;
    char *resume_path = NULL;
    int rc = setup(t, &resume_path, err);
    if (!rv_comm_all_ok(dp, rc == 0)) {
        if (!rc) rv_fail(err, "grpo: setup failed on another policy rank (see its error)");
        free(resume_path);
        return -1;
    }
    rc = resume_path ? resume(t, resume_path, err) : 0;
    if (!rv_comm_all_ok(dp, rc == 0)) {
        if (!rc) rv_fail(err, "grpo: resume failed on another policy rank (see its error)");
        free(resume_path);
        return -1;
    }
    if (open_logs(t, err)) {
        free(resume_path);
        return -1;
    }
    const int64_t total = t->st.total_steps;
    rv_info0("grpo: %s; reward %s%s on %s; %d policy + %d reward rank(s); %zu train prompts, %zu validation; %lld steps "
             "of %lld prompts x %lld responses (%lld optimizer steps each), up to %lld new tokens; loss %s, kl %g, "
             "lr %g%s%s",
             t->model.source, rv_grpo_reward_name(c->reward), c->reasoning ? " (reasoning)" : "",
             t->roles.nreward ? "reward ranks" : "the policy ranks", t->roles.npolicy, t->roles.nreward, t->P.ntrain,
             t->P.nval, (long long)total, (long long)c->prompts_per_step, (long long)c->n,
             (long long)(c->prompts_per_step / c->mini_batch_prompts), (long long)c->max_response,
             rv_grpo_agg_name(c->loss.agg), c->loss.kl_coef, c->lr, resume_path ? "; resuming from " : "",
             resume_path ? resume_path : "");
    out->first_val = out->last_val = NAN;
    double val = NAN;
    bool validate = c->test_freq > 0 && t->P.nval > 0;
    if (validate && !resume_path) {
        if (rv_grpo_validate(t, 0, &val, err)) {
            free(resume_path);
            return -1;
        }
        out->first_val = out->last_val = val;
    }
    free(resume_path);
    rv_progress *prog = rv_progress_start("grpo", (uint64_t)total, c->progress_interval_s);
    rv_progress_resume_at(prog, (uint64_t)t->st.step);
    double t_start = rv_now(), elapsed0 = t->st.elapsed_s;
    bool stop = false, failed = false;
    while (t->st.step < total && !stop && !failed) {
        int64_t step = t->st.step;
        double m[M_COUNT];
        if (run_step(t, step, m, err)) {
            failed = true;
            break;
        }
        t->st.step = step + 1;
        double now = rv_now();
        t->st.elapsed_s = elapsed0 + (now - t_start);
        m[M_TIME] = t->st.elapsed_s;
        int lrc = 0;
        if (t->log) {
            rv_mval row[M_COUNT + 1];
            row[0].i = t->st.step;
            for (int i = 0; i < M_COUNT; i++) row[i + 1].f = m[i];
            lrc = rv_mlog_append(t->log, row, err);
        }
        bool at_end = t->st.step == total;
        val = NAN;
        if (validate && (t->st.step % c->test_freq == 0 || at_end)) {
            if (rv_grpo_validate(t, t->st.step, &val, err)) {
                failed = true;
                break;
            }
            if (isnan(out->first_val)) out->first_val = val;
            out->last_val = val;
        }
        progress_note(prog, m, val);
        rv_progress_update(prog, (uint64_t)t->st.step);
        if (c->test_kill_step >= 0 && t->st.step == c->test_kill_step) raise(SIGKILL); /* tests: a crash */
        double v[3] = {rv_signals_pending() ? 1 : 0,
                       c->time_budget_min > 0 && (now - t_start) >= c->time_budget_min * 60 ? 1 : 0, lrc ? 1 : 0};
        double vmax[3];
        rv_comm_allreduce_f64(dp, v, vmax, 3, RV_COMM_MAX);
        if (vmax[2] > 0) {
            if (!lrc) rv_fail(err, "grpo: writing RUN/log.h5 failed on rank 0");
            failed = true;
            break;
        }
        stop = vmax[0] > 0 || vmax[1] > 0;
        if (stop)
            rv_info0("grpo: %s at step %lld: saving a checkpoint, then exiting with 75 (rerun to continue)",
                     vmax[0] > 0 ? "stop signal" : "grpo.time_budget_min reached", (long long)t->st.step);
        if ((c->save_freq > 0 && t->st.step % c->save_freq == 0) || at_end || stop) {
            if (save(t, err)) {
                failed = true;
                break;
            }
        }
    }
    if (failed) rv_progress_abandon(prog);
    else if (stop) rv_progress_stop(prog);
    else rv_progress_finish(prog);
    if (failed) return -1;
    out->steps = t->st.step;
    out->stopped = stop && t->st.step < total;
    return 0;
}

int rv_grpo_train(const rv_grpo_cfg *c, const rv_grpo_env *env, rv_grpo_result *out, rv_err *err) {
    grpo_trainer T = {.c = c, .env = env};
    grpo_trainer *t = &T;
    *out = (rv_grpo_result){.first_val = NAN, .last_val = NAN};
    if (rv_reward_roles_make(env->world, c->reward_ranks, &t->roles, err)) return -1;
    if (rv_comm_split(env->world, t->roles.is_reward ? 1 : 0, env->world->rank, &t->dp, err)) return -1;
    t->dp_init = true;
    /* every rank: Slurm's USR1 reaches the reward ranks too, whose default action would kill them */
    rv_signals_saved sig = {0};
    if (rv_signals_install(&sig, err)) {
        rv_comm_free(&t->dp);
        return -1;
    }
    if (t->roles.is_reward) {
        out->reward_rank = true;
        uint64_t pairs = 0;
        double t0 = rv_now();
        int rc = rv_reward_serve(env->world, &t->roles, c->policy_timeout_s, &pairs, err);
        /* the policy ranks may be alive but stuck: only an abort ends every rank */
        if (rc) rv_die("%s", err->msg);
        if (!rc)
            rv_info("grpo: reward rank %d scored %llu pairs in %.1f s", env->world->rank, (unsigned long long)pairs,
                    rv_now() - t0);
        rv_signals_restore(&sig);
        rv_comm_free(&t->dp);
        return rc;
    }
    rv_reward_client_init(&t->rc, env->world, &t->roles, c->reward, c->reasoning, c->reward_timeout_s, c->pair_deadline_s);
    int rc = policy_run(t, out, err);
    /* the reward ranks end when every policy rank said stop, after a failure too */
    rv_err e2;
    if (rv_reward_client_finish(&t->rc, &e2)) {
        if (rc) rv_error("%s", err->msg);
        rv_reward_lost(&e2);
    }
    rv_signals_restore(&sig);
    trainer_free(t);
    rv_comm_free(&t->dp);
    return rc;
}
