/* The grpo run's setup and state on a policy rank (train/grpo_trainer.h): the models, the
 * optimizer, the prompts, resume, the log tables and checkpoints. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/device.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/progress.h"
#include "train/grpo_trainer.h"
#include "train/sft_ckpt.h"

#define THINK_SUFFIX " /think"

void rv_grpo_trainer_free(grpo_trainer *t) {
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

int rv_grpo_setup(grpo_trainer *t, char **resume_path, rv_err *err) {
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
    /* one GPU per rank on a device backend (a no-op on cpu): comm/device.h */
    if (rv_comm_device_prepare(rv_comm_world(), c->backend, NULL, err)) return -1;
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
    if (rv_vlm_set_memory(&t->m, &c->mem, err)) return -1;
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
int rv_grpo_resume(grpo_trainer *t, const char *path, rv_err *err) {
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

int rv_grpo_open_logs(grpo_trainer *t, rv_err *err) {
    int rc = 0;
    if (t->dp.rank == 0) {
        static const rv_mcol vcols[] = {{"step", RV_MCOL_I64},         {"reward", RV_MCOL_F64},
                                        {"google_bleu", RV_MCOL_F64},  {"rouge_l", RV_MCOL_F64},
                                        {"label_f1", RV_MCOL_F64},     {"response_length_mean", RV_MCOL_F64},
                                        {"penalties", RV_MCOL_F64},    {"fallbacks", RV_MCOL_F64},
                                        {"seconds", RV_MCOL_F64}};
        char *path = rv_path_join(t->env->run_dir, "log.h5");
        rc = rv_mlog_open(&t->log, path, "grpo", rv_grpo_step_cols, M_COUNT + 1, t->st.step, err);
        if (!rc) rc = rv_mlog_open(&t->vlog, path, "val", vcols, (int)(sizeof vcols / sizeof *vcols), t->st.step, err);
        free(path);
    }
    return rv_comm_all_ok(&t->dp, rc == 0) ? 0 : (rc ? -1 : rv_fail(err, "grpo: opening RUN/log.h5 failed on rank 0"));
}

int rv_grpo_save(grpo_trainer *t, rv_err *err) {
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
