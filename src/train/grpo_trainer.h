/* What one GRPO run holds on a policy rank, shared by the pieces of the run: grpo_setup.c (setup,
 * resume, logs, checkpoints), grpo_one_step.c (a step), grpo_validate.c (validation) and
 * grpo_loop.c (the roles and the loop). Internal to train/. */
#ifndef RADVLM_TRAIN_GRPO_TRAINER_H
#define RADVLM_TRAIN_GRPO_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "data/loader/pixels.h"
#include "eval/run/prompt.h"
#include "model/vlm.h"
#include "train/grpo_ckpt.h"
#include "train/grpo_config.h"
#include "train/grpo_prompts.h"
#include "train/metrics_log.h"
#include "train/optimizer.h"
#include "train/param_groups.h"
#include "train/reward_service.h"
#include "train/sft_init.h"

/* One row of table grpo (RUN/log.h5): the step's metrics, in column order after `step`. */
enum rv_grpo_metric {
    M_REWARD_MEAN, M_REWARD_STD, M_REWARD_MIN, M_REWARD_MAX, M_PENALTIES, M_FALLBACKS,
    M_ADV_MEAN, M_ADV_STD, M_ADV_MIN, M_ADV_MAX,
    M_PG_LOSS, M_PG_CLIPFRAC, M_PG_CLIPFRAC_LOWER, M_PPO_KL, M_KL_LOSS, M_GRAD_NORM, M_SKIPPED,
    M_RESP_LEN_MEAN, M_RESP_LEN_MAX, M_RESP_CLIPPED, M_ENTROPY, M_TOKENS, M_THROUGHPUT, M_PAIRS_PER_S,
    M_T_ROLLOUT, M_T_REWARD_WAIT, M_T_OLD_LOGP, M_T_REF_LOGP, M_T_UPDATE, M_T_STEP, M_TIME, M_COUNT
};
extern const rv_mcol rv_grpo_step_cols[M_COUNT + 1]; /* step, then the metrics */

typedef struct grpo_trainer {
    const rv_grpo_cfg *c;
    const rv_grpo_env *env;
    rv_comm dp;                 /* the policy ranks */
    bool dp_init;
    rv_reward_roles roles;
    rv_reward_client rc;
    bool rc_init;
    rv_kctx *k;
    rv_sft_model model;
    rv_sft_init_opts iopt;
    char *init_path;            /* grpo.init resolved (a run directory -> its newest checkpoint) */
    rv_tokenizer *tok;
    int32_t stop[2];
    int nstop;
    int32_t ban;                /* the image placeholder: never generated */
    rv_weights w, wref;
    bool w_init, wref_init;
    rv_vlm m, ref;
    bool m_init, ref_init;
    rv_param_groups pg;
    bool pg_init;
    rv_optim *opt;
    rv_shardset *set;
    rv_pixel_norm norm;
    rv_eval_prompt_ctx pc;
    const char *suffix;         /* " /think" in reasoning mode, else NULL */
    rv_grpo_prompts P;
    bool P_init;
    rv_grpo_state st;
    rv_mlog *log, *vlog;
} grpo_trainer;

/* grpo_setup.c: the model, reference model, optimizer, prompts and tokenizer of a run, from
 * grpo.init or the checkpoint to resume (*resume_path, malloc'd, NULL when starting anew); the
 * resume itself; the log tables (policy rank 0); a checkpoint of the current state; teardown. */
int rv_grpo_setup(grpo_trainer *t, char **resume_path, rv_err *err);
int rv_grpo_resume(grpo_trainer *t, const char *path, rv_err *err);
int rv_grpo_open_logs(grpo_trainer *t, rv_err *err);
int rv_grpo_save(grpo_trainer *t, rv_err *err);
void rv_grpo_trainer_free(grpo_trainer *t);

/* grpo_one_step.c: one GRPO step (rollouts, rewards, balance, log-probs, advantages, update) at
 * 0-based `step`; m[M_COUNT] gets its metrics (m[M_TIME] is the caller's). Collective over the
 * policy ranks. */
int rv_grpo_run_step(grpo_trainer *t, int64_t step, double *m, rv_err *err);

/* Greedy responses to the validation prompts (sliced over the policy ranks), their mean reward and
 * report metrics, logged as a row of table val at `step`. *mean_reward: the validation reward.
 * Collective over the policy ranks. */
int rv_grpo_validate(grpo_trainer *t, int64_t step, double *mean_reward, rv_err *err);

#endif
