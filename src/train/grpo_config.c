#include "train/grpo_config.h"

#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"

static int need_range(rv_err *err, const char *key, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) return rv_fail(err, "%s = %g is out of range: use a value in [%g, %g]", key, v, lo, hi);
    return 0;
}

static int need_int(rv_err *err, const char *key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
        return rv_fail(err, "%s = %lld is out of range: use a value in [%lld, %lld]", key, (long long)v, (long long)lo,
                       (long long)hi);
    return 0;
}

int rv_grpo_cfg_read(const rv_config *c, const char *run_dir, int nranks, rv_grpo_cfg *g, rv_err *err) {
    memset(g, 0, sizeof *g);
    const char *sh = rv_cfg_str(c, "grpo.shards");
    g->shards = sh[0] ? rv_xstrdup(sh) : rv_path_join(run_dir, "shards");
    g->init = rv_cfg_str(c, "grpo.init");
    g->tokenizer = rv_cfg_str(c, "grpo.tokenizer");
    g->resume = rv_cfg_str(c, "grpo.resume");
    g->tunable_parts = rv_cfg_str(c, "grpo.tunable_parts");
    if (rv_grpo_reward_parse(rv_cfg_str(c, "grpo.reward"), &g->reward, err)) return rv_fail_wrap(err, "grpo.reward");
    rv_neural_opts_from_cfg(c, &g->neural);
    if (rv_grpo_reward_neural_opts(g->reward, &g->neural, err)) return -1;
    g->reasoning = rv_cfg_bool(c, "grpo.reasoning");
    g->think_suffix = rv_cfg_bool(c, "grpo.think_suffix");
    g->reward_ranks = (int)rv_cfg_int(c, "grpo.reward_ranks");
    g->reward_timeout_s = rv_cfg_num(c, "grpo.reward_timeout_s");
    g->pair_deadline_s = rv_cfg_num(c, "grpo.reward_pair_deadline_s");
    g->policy_timeout_s = rv_cfg_num(c, "grpo.policy_timeout_s");
    g->prompts_per_step = rv_cfg_int(c, "grpo.prompts_per_step");
    g->n = rv_cfg_int(c, "grpo.n");
    g->max_response = rv_cfg_int(c, "grpo.max_response_length");
    g->max_prompt = rv_cfg_int(c, "grpo.max_prompt_length");
    g->mini_batch_prompts = rv_cfg_int(c, "grpo.ppo_mini_batch_size");
    g->micro = rv_cfg_int(c, "grpo.micro_batch");
    g->logp_micro = rv_cfg_int(c, "grpo.log_prob_micro_batch");
    g->slots = rv_cfg_int(c, "grpo.rollout_slots");
    g->lr = rv_cfg_num(c, "grpo.lr");
    g->weight_decay = rv_cfg_num(c, "grpo.weight_decay");
    g->beta1 = rv_cfg_num(c, "grpo.adam_beta1");
    g->beta2 = rv_cfg_num(c, "grpo.adam_beta2");
    g->eps = rv_cfg_num(c, "grpo.adam_eps");
    g->max_grad_norm = rv_cfg_num(c, "grpo.max_grad_norm");
    g->adv_eps = rv_cfg_num(c, "grpo.adv_eps");
    g->loss = rv_grpo_loss_cfg_upstream();
    g->loss.clip_low = rv_cfg_num(c, "grpo.clip_ratio_low");
    g->loss.clip_high = rv_cfg_num(c, "grpo.clip_ratio_high");
    g->loss.clip_c = rv_cfg_num(c, "grpo.clip_ratio_c");
    g->loss.kl_coef = rv_cfg_num(c, "grpo.kl_coef");
    if (rv_grpo_agg_parse(rv_cfg_str(c, "grpo.loss_agg"), &g->loss.agg, err)) return rv_fail_wrap(err, "grpo.loss_agg");
    if (rv_grpo_loss_cfg_check(&g->loss, err)) return rv_fail_wrap(err, "grpo");
    g->epochs = rv_cfg_int(c, "grpo.epochs");
    g->total_steps = rv_cfg_int(c, "grpo.total_steps");
    g->val_size = rv_cfg_int(c, "grpo.val_size");
    g->test_freq = rv_cfg_int(c, "grpo.test_freq");
    g->save_freq = rv_cfg_int(c, "grpo.save_freq");
    g->keep = rv_cfg_int(c, "grpo.keep");
    g->data_seed = (uint64_t)rv_cfg_int(c, "grpo.data_seed");
    g->train_frac = rv_cfg_num(c, "grpo.train_frac");
    g->time_budget_min = rv_cfg_num(c, "grpo.time_budget_min");
    g->rollout_dump = rv_cfg_bool(c, "grpo.rollout_dump");
    g->test_kill_step = rv_cfg_int(c, "grpo.test_kill_step");
    g->zero = (int)rv_cfg_int(c, "train.zero");
    g->threads = (int)rv_cfg_int(c, "compute.threads");
    g->seed = (uint64_t)rv_cfg_int(c, "run.seed");
    g->progress_interval_s = rv_cfg_num(c, "log.progress_interval_s");
    g->backend = rv_cfg_str(c, "compute.backend");
    if (rv_vlm_memory_parse(rv_cfg_str(c, "compute.recompute"), rv_cfg_str(c, "compute.activation_dtype"), &g->mem,
                            err))
        return -1;

    if (!g->init[0])
        return rv_fail(err, "grpo.init is empty: give the SFT model (a checkpoint, a run directory of the sft phase, or a "
                            "Hugging Face directory)");
    if (g->reward_ranks < 0 || g->reward_ranks >= nranks)
        return rv_fail(err, "grpo.reward_ranks = %d with %d rank(s): use 0 to %d (at least one policy rank)", g->reward_ranks,
                       nranks, nranks - 1);
    const int64_t np = nranks - g->reward_ranks;
    if (need_int(err, "grpo.n", g->n, 1, 1 << 16) || need_int(err, "grpo.max_response_length", g->max_response, 1, 1 << 20) ||
        need_int(err, "grpo.max_prompt_length", g->max_prompt, 1, 1 << 24) ||
        need_int(err, "grpo.micro_batch", g->micro, 1, 1 << 16) ||
        need_int(err, "grpo.log_prob_micro_batch", g->logp_micro, 1, 1 << 16) ||
        need_int(err, "grpo.rollout_slots", g->slots, 1, 1 << 16) || need_int(err, "grpo.epochs", g->epochs, 1, 1 << 20) ||
        need_int(err, "grpo.total_steps", g->total_steps, 0, INT64_C(1) << 40) ||
        need_int(err, "grpo.val_size", g->val_size, 0, INT64_C(1) << 40) ||
        need_int(err, "grpo.test_freq", g->test_freq, 0, INT64_C(1) << 40) ||
        need_int(err, "grpo.save_freq", g->save_freq, 0, INT64_C(1) << 40) ||
        need_int(err, "grpo.keep", g->keep, 0, INT64_C(1) << 40))
        return -1;
    if (g->prompts_per_step < 1 || g->prompts_per_step % np)
        return rv_fail(err, "grpo.prompts_per_step = %lld must be a positive multiple of the policy rank count (%lld = %d "
                            "ranks - grpo.reward_ranks %d): every policy rank rolls out the same number of prompts",
                       (long long)g->prompts_per_step, (long long)np, nranks, g->reward_ranks);
    if (g->mini_batch_prompts < 1 || g->prompts_per_step % g->mini_batch_prompts)
        return rv_fail(err, "grpo.ppo_mini_batch_size = %lld must divide grpo.prompts_per_step = %lld (verl's rule: "
                            "one optimizer step per mini-batch)", (long long)g->mini_batch_prompts,
                       (long long)g->prompts_per_step);
    if ((g->mini_batch_prompts * g->n) % np)
        return rv_fail(err, "grpo.ppo_mini_batch_size x grpo.n = %lld responses must split evenly over the %lld policy "
                            "ranks (verl: ppo_mini_batch_size * n %% world size == 0)",
                       (long long)(g->mini_batch_prompts * g->n), (long long)np);
    if (need_range(err, "grpo.lr", g->lr, 0, 10) || need_range(err, "grpo.weight_decay", g->weight_decay, 0, 10) ||
        need_range(err, "grpo.adam_beta1", g->beta1, 0, 0.999999999) ||
        need_range(err, "grpo.adam_beta2", g->beta2, 0, 0.999999999999) ||
        need_range(err, "grpo.adam_eps", g->eps, 1e-30, 1) ||
        need_range(err, "grpo.max_grad_norm", g->max_grad_norm, -1e300, 1e300) ||
        need_range(err, "grpo.adv_eps", g->adv_eps, 0, 1) ||
        need_range(err, "grpo.train_frac", g->train_frac, 0.01, 1) ||
        need_range(err, "grpo.reward_timeout_s", g->reward_timeout_s, 0.001, 1e9) ||
        need_range(err, "grpo.reward_pair_deadline_s", g->pair_deadline_s, 0, 1e9) ||
        need_range(err, "grpo.policy_timeout_s", g->policy_timeout_s, 0.001, 1e9) ||
        need_range(err, "grpo.time_budget_min", g->time_budget_min, 0, 1e9))
        return -1;
    if (g->pair_deadline_s > 0 && g->reward_timeout_s <= 2 * g->pair_deadline_s)
        return rv_fail(err, "grpo.reward_timeout_s = %g must exceed twice grpo.reward_pair_deadline_s = %g: a batch with "
                            "late pairs waits one deadline per late pair, and must not be taken for a dead reward rank",
                       g->reward_timeout_s, g->pair_deadline_s);
    if (g->zero != 0 && g->zero != 1) return rv_fail(err, "train.zero = %d: use 0 (plain data parallel) or 1 (ZeRO-1)", g->zero);
    if (g->threads < 0 || g->threads > 4096) return rv_fail(err, "compute.threads = %d: use 0 (automatic) to 4096", g->threads);
    return 0;
}

void rv_grpo_cfg_free(rv_grpo_cfg *g) {
    free(g->shards);
    memset(g, 0, sizeof *g);
}
