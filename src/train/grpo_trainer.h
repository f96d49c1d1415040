/* What one GRPO run holds on a policy rank, shared by the pieces of the loop (grpo_loop.c: setup
 * and steps; grpo_validate.c: validation; grpo_dump.c: the rollout files). Internal to train/. */
#ifndef RADVLM_TRAIN_GRPO_TRAINER_H
#define RADVLM_TRAIN_GRPO_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "data/loader/pixels.h"
#include "eval/run/prompt.h"
#include "model/vlm.h"
#include "train/grpo_ckpt.h"
#include "train/grpo_loop.h"
#include "train/grpo_prompts.h"
#include "train/metrics_log.h"
#include "train/optimizer.h"
#include "train/param_groups.h"
#include "train/reward_service.h"
#include "train/sft_init.h"

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

/* Greedy responses to the validation prompts (sliced over the policy ranks), their mean reward and
 * report metrics, logged as a row of table val at `step`. *mean_reward: the validation reward.
 * Collective over the policy ranks. */
int rv_grpo_validate(grpo_trainer *t, int64_t step, double *mean_reward, rv_err *err);

#endif
