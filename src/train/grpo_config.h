/* The grpo phase's settings: every grpo.* key (docs/grpo.md "Keys"), plus run.seed, train.zero,
 * compute.* and log.progress_interval_s, read once and checked against the job's shape (policy
 * rank count), so the rest of the phase never touches the config. */
#ifndef RADVLM_TRAIN_GRPO_CONFIG_H
#define RADVLM_TRAIN_GRPO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "comm/comm.h"
#include "core/badrec.h"
#include "core/config.h"
#include "core/error.h"
#include "train/grpo_math.h"
#include "eval/neural/neural_metrics.h"
#include "train/grpo_reward.h"
#include "model/vlm.h"

typedef struct rv_grpo_cfg {
    char *shards;                 /* resolved (malloc'd) */
    const char *init, *tokenizer, *resume, *tunable_parts; /* borrowed from the config */
    rv_grpo_reward_kind reward;
    rv_neural_opts neural;        /* metrics.*: the models of the neural rewards (borrowed strings) */
    bool reasoning, think_suffix;
    int reward_ranks;
    double reward_timeout_s, pair_deadline_s, policy_timeout_s;
    int64_t prompts_per_step, n, max_response, max_prompt, mini_batch_prompts, micro, logp_micro, slots;
    double lr, weight_decay, beta1, beta2, eps, max_grad_norm, adv_eps;
    rv_grpo_loss_cfg loss;
    int64_t epochs, total_steps, val_size, test_freq, save_freq, keep;
    uint64_t data_seed;
    double train_frac, time_budget_min;
    bool rollout_dump;
    int64_t test_kill_step;
    int zero, threads;
    uint64_t seed;                /* run.seed: the rollouts' draws */
    double progress_interval_s;
    const char *backend;
    rv_vlm_memory mem;            /* compute.recompute, compute.activation_dtype (the policy's training layout) */
} rv_grpo_cfg;

/* Where the run happens (the phase's context, not configuration). */
typedef struct rv_grpo_env {
    const rv_comm *world;       /* every rank of the job */
    const char *run_dir, *data_dir;
    const char *run_config_json;
    rv_badrec *bad;
} rv_grpo_env;

/* Reads and checks the keys; errors name the key and the allowed range. nranks: the job's ranks
 * (grpo.reward_ranks of them score; the others, the policy ranks, must divide
 * grpo.prompts_per_step and grpo.ppo_mini_batch_size). */
int rv_grpo_cfg_read(const rv_config *c, const char *run_dir, int nranks, rv_grpo_cfg *out, rv_err *err);
void rv_grpo_cfg_free(rv_grpo_cfg *g);

#endif
