/* The grpo run (train/grpo_loop.h): the roles, then on the policy ranks the step loop with
 * validation, logging, checkpoints and the stop vote; reward ranks serve until their policy ranks
 * stop. */
#define _POSIX_C_SOURCE 200809L
#include "train/grpo_loop.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/die.h"
#include "core/log.h"
#include "core/progress.h"
#include "train/grpo_trainer.h"
#include "train/sft_memory.h"
#include "train/signals.h"


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
    int rc = rv_grpo_setup(t, &resume_path, err);
    if (!rv_comm_all_ok(dp, rc == 0)) {
        if (!rc) rv_fail(err, "grpo: setup failed on another policy rank (see its error)");
        free(resume_path);
        return -1;
    }
    rc = resume_path ? rv_grpo_resume(t, resume_path, err) : 0;
    if (!rv_comm_all_ok(dp, rc == 0)) {
        if (!rc) rv_fail(err, "grpo: resume failed on another policy rank (see its error)");
        free(resume_path);
        return -1;
    }
    if (rv_grpo_open_logs(t, err)) {
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
    const int64_t first_step = t->st.step;
    while (t->st.step < total && !stop && !failed) {
        int64_t step = t->st.step;
        double m[M_COUNT];
        if (rv_grpo_run_step(t, step, m, err)) {
            failed = true;
            break;
        }
        t->st.step = step + 1;
        /* the plan is sized by the first step's rollouts and update: report memory then */
        if (step == first_step) rv_train_memory_report("grpo", dp->rank, t->k, &t->m);
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
            if (rv_grpo_save(t, err)) {
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

/* The neural reward's models, on the ranks that score (reward ranks, or every policy rank when
 * grpo.reward_ranks = 0); *nm NULL for the text rewards. */
static int load_reward_models(const rv_grpo_cfg *c, rv_kctx **k, rv_neural **nm, rv_err *err) {
    *k = NULL;
    *nm = NULL;
    if (!rv_neural_opts_any(&c->neural)) return 0;
    rvk_cpu_opts co = {.nthreads = c->threads};
    if (rvk_create(k, c->backend, &co, err)) return rv_fail_wrap(err, "grpo: the %s reward's models", rv_grpo_reward_name(c->reward));
    if (rv_neural_load(nm, &c->neural, *k, err)) return rv_fail_wrap(err, "grpo.reward = %s", rv_grpo_reward_name(c->reward));
    rv_info("grpo: rank scoring %s rewards with %s", rv_grpo_reward_name(c->reward), rv_neural_describe(*nm));
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
    /* the scoring ranks load the neural reward's models; any failure stops every rank */
    rv_kctx *nk = NULL;
    rv_neural *nm = NULL;
    int lrc = t->roles.is_reward || t->roles.nreward == 0 ? load_reward_models(c, &nk, &nm, err) : 0;
    if (!rv_comm_all_ok(env->world, lrc == 0)) {
        if (!lrc) rv_fail(err, "grpo: another rank could not load the %s reward's models (see its message)",
                          rv_grpo_reward_name(c->reward));
        rv_neural_free(nm);
        rvk_destroy(nk);
        rv_signals_restore(&sig);
        rv_comm_free(&t->dp);
        return -1;
    }
    if (t->roles.is_reward) {
        out->reward_rank = true;
        uint64_t pairs = 0;
        double t0 = rv_now();
        int rc = rv_reward_serve_models(env->world, &t->roles, c->policy_timeout_s, nm, &pairs, err);
        rv_neural_free(nm);
        rvk_destroy(nk);
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
    t->rc.scorer.neural = nm;
    int rc = policy_run(t, out, err);
    /* the reward ranks end when every policy rank said stop, after a failure too */
    rv_err e2;
    if (rv_reward_client_finish(&t->rc, &e2)) {
        if (rc) rv_error("%s", err->msg);
        rv_reward_lost(&e2);
    }
    rv_signals_restore(&sig);
    rv_grpo_trainer_free(t);
    rv_neural_free(nm);
    rvk_destroy(nk);
    rv_comm_free(&t->dp);
    return rc;
}
