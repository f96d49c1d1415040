#define _POSIX_C_SOURCE 200809L
#include "train/sft_loop.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/device.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "data/loader/pixels.h"
#include "data/loader/sampler.h"
#include "data/loader/shard_row.h"
#include "model/vlm.h"
#include "train/metrics_log.h"
#include "train/mfu.h"
#include "train/optimizer.h"
#include "train/param_groups.h"
#include "train/schedule.h"
#include "train/sft_ckpt.h"
#include "train/sft_data.h"
#include "train/sft_init.h"
#include "train/sft_memory.h"
#include "train/sft_step.h"
#include "train/signals.h"

#define GN_WINDOW 100       /* grad-norm z-score window (steps) */
#define EVAL_CHUNK 32       /* held-out samples loaded at a time */

/* Everything one training run holds. */
typedef struct trainer {
    const rv_sft_cfg *c;
    const rv_sft_env *env;
    const rv_comm *dp;
    rv_kctx *k;
    rv_sft_model model;
    rv_sft_init_opts iopt;
    rv_weights w;
    rv_vlm m;
    bool m_init;
    rv_param_groups pg;
    bool pg_init;
    rv_optim *opt;
    rv_lr_schedule sched;
    rv_sft_data data;
    rv_sampler smp;
    bool smp_init;
    rv_pixel_norm norm;
    rv_rng rng;
    rv_sft_state st;
    rv_mlog *log, *elog;
    double peak_gflops;
    double gn[GN_WINDOW];
    int gn_n, gn_pos;
} trainer;

static void trainer_free(trainer *t) {
    if (t->log) rv_mlog_close(t->log);
    if (t->elog) rv_mlog_close(t->elog);
    if (t->smp_init) rv_sampler_free(&t->smp);
    rv_sft_data_close(&t->data);
    if (t->opt) rv_optim_free(t->opt);
    if (t->pg_init) rv_param_groups_free(&t->pg);
    if (t->m_init) rv_vlm_free(&t->m);
    rv_weights_free(&t->w);
    rv_sft_model_free(&t->model);
    if (t->k) rvk_destroy(t->k);
}

/* Loads rows [n] into samples; on failure frees what it made. */
static int load_samples(trainer *t, const uint64_t *rows, int n, rv_loader_sample *ls, rv_sample *s, rv_err *err) {
    for (int i = 0; i < n; i++) {
        if (rv_loader_read_sample(t->data.set, rows[i], &t->model.cfg, &t->norm, &ls[i], err)) {
            for (int j = 0; j < i; j++) rv_loader_sample_free(&ls[j]);
            return rv_fail_wrap(err, "sft.shards = %s (a damaged shard? radvlm-hpc --phase pack --set pack.check=true "
                                     "--set pack.out=%s lists the damage)", t->c->shards, t->c->shards);
        }
        s[i] = rv_loader_sample_view(&ls[i]);
    }
    return 0;
}

static void free_samples(rv_loader_sample *ls, int n) {
    for (int i = 0; i < n; i++) rv_loader_sample_free(&ls[i]);
}

/* Held-out loss: mean over the first sft.eval_samples held-out samples of each one's token-mean CE
 * (the same in both loss_agg modes, so curves compare across runs). Collective. */
static int eval_loss(trainer *t, double *out, rv_err *err) {
    size_t nh = t->data.nheld;
    if (t->c->eval_samples > 0 && (size_t)t->c->eval_samples < nh) nh = (size_t)t->c->eval_samples;
    size_t b, e;
    rv_comm_slice(t->dp, nh, &b, &e);
    double sum = 0;
    int rc = 0;
    rv_loader_sample ls[EVAL_CHUNK];
    rv_sample s[EVAL_CHUNK];
    double loss[EVAL_CHUNK];
    for (size_t i = b; i < e && !rc; i += EVAL_CHUNK) {
        int n = (int)(e - i < EVAL_CHUNK ? e - i : EVAL_CHUNK);
        rc = load_samples(t, t->data.held + i, n, ls, s, err);
        if (rc) break;
        rc = rv_sft_eval_losses(&t->m, s, n, (int)t->c->max_tokens, loss, err);
        for (int j = 0; j < n && !rc; j++) sum += loss[j];
        free_samples(ls, n);
    }
    if (!rv_comm_all_ok(t->dp, rc == 0)) return rc ? -1 : rv_fail(err, "sft: evaluation failed on another rank");
    double tot = rv_comm_sum_f64(t->dp, sum);
    *out = nh ? tot / (double)nh : NAN;
    return 0;
}

static int log_eval(trainer *t, int64_t step, rv_err *err) {
    if (!t->data.nheld || t->c->eval_every <= 0) return 0;
    double l;
    if (eval_loss(t, &l, err)) return -1;
    rv_info0("sft: step %lld held-out loss %.4f (%zu samples, %s)", (long long)step, l,
             t->c->eval_samples > 0 && (size_t)t->c->eval_samples < t->data.nheld ? (size_t)t->c->eval_samples
                                                                                     : t->data.nheld,
             t->data.held_from);
    int rc = 0;
    if (t->elog) {
        rv_mval row[2] = {{.i = step}, {.f = l}};
        rc = rv_mlog_append(t->elog, row, err);
    }
    return rv_comm_all_ok(t->dp, rc == 0) ? 0 : (rc ? -1 : rv_fail(err, "sft: writing the log failed on rank 0"));
}

/* z-score of g against the window of previous finite norms (0 until there are a few). */
static double gn_z(trainer *t, double g) {
    double z = 0;
    if (t->gn_n >= 5) {
        double mu = 0, var = 0;
        for (int i = 0; i < t->gn_n; i++) mu += t->gn[i];
        mu /= t->gn_n;
        for (int i = 0; i < t->gn_n; i++) var += (t->gn[i] - mu) * (t->gn[i] - mu);
        double sd = sqrt(var / (t->gn_n - 1));
        z = sd > 0 ? (g - mu) / sd : 0;
    }
    if (isfinite(g)) {
        t->gn[t->gn_pos] = g;
        t->gn_pos = (t->gn_pos + 1) % GN_WINDOW;
        if (t->gn_n < GN_WINDOW) t->gn_n++;
    }
    return z;
}

static int setup(trainer *t, char **resume_path, rv_err *err) {
    const rv_sft_cfg *c = t->c;
    const rv_comm *dp = t->dp;
    t->iopt = (rv_sft_init_opts){c->init, c->tokenizer, t->env->data_dir, t->env->run_dir, true};
    if (rv_sft_model_resolve(&t->model, &t->iopt, err)) return -1;
    if (rv_sft_data_open(&t->data, c->shards, c->eval_holdout, c->seed, err)) return -1;
    if (rv_sft_model_check_tokenizer(&t->model, c->shards, t->data.set->tokenizer_hash, err)) return -1;
    if (rv_sft_model_pixel_norm(&t->model, &t->norm, err)) return -1;
    if (t->data.set->height != t->data.set->width)
        return rv_fail(err, "sft.shards = %s: images are %dx%d; the loader expects square stored images", c->shards,
                       t->data.set->height, t->data.set->width);
    if (t->data.set->height != t->model.cfg.vision.image_size)
        rv_warn0("sft: the shards store %dx%d images and the model's tile is %d: the loader resizes every image again "
                 "(pack with pack.image_size=%d to avoid the double resize; docs/data.md)",
                 t->data.set->height, t->data.set->width, t->model.cfg.vision.image_size,
                 t->model.cfg.vision.image_size);

    rvk_cpu_opts co = {.nthreads = c->threads};
    /* one GPU per rank on a device backend (a no-op on cpu): comm/device.h */
    if (rv_comm_device_prepare(rv_comm_world(), c->backend, NULL, err)) return -1;
    if (rvk_create(&t->k, c->backend, &co, err)) return -1;
    int r = rv_sft_find_resume(t->env->run_dir, c->resume, resume_path, err);
    if (r < 0) return -1;
    if (*resume_path) {
        /* Weights come from the checkpoint: build the init's table only, after checking the shapes. */
        rv_ckpt *ck = NULL;
        if (rv_ckpt_open(&ck, *resume_path, err)) return rv_fail_wrap(err, "sft.resume");
        int rc = rv_sft_model_check_ckpt(&t->model, ck, err);
        rv_ckpt_close(ck);
        if (rc) return -1;
        if (rv_weights_build(&t->w, &t->model.cfg, t->k, err)) return -1;
    } else if (rv_sft_model_load_weights(&t->model, &t->iopt, t->k, c->seed, (float)c->init_std, &t->w, err)) {
        return -1;
    }
    if (rv_vlm_init(&t->m, t->k, &t->model.cfg, &t->w, true, err)) return -1;
    t->m_init = true;
    if (rv_vlm_set_memory(&t->m, &c->mem, err)) return -1;
    /* Size the activation plan once for a full micro-batch (a larger one would grow it). */
    int seqs = (int)(c->global_batch / dp->size) > EVAL_CHUNK ? (int)(c->global_batch / dp->size) : EVAL_CHUNK;
    rv_vlm_limits lim = rv_sft_plan_limits(&t->model.cfg, (int)c->max_tokens, seqs);
    if (rv_vlm_plan(&t->m, &lim, err)) return rv_fail_wrap(err, "sft.max_tokens = %lld", (long long)c->max_tokens);

    rv_pg_config pc = {.lr = {c->vision_lr, c->projector_lr, c->lr}, .weight_decay = c->weight_decay};
    if (rv_tunable_parts_parse(c->tunable_parts, pc.trainable, err)) return rv_fail_wrap(err, "sft.tunable_parts");
    if (rv_param_groups_build(&t->pg, &t->w, &pc, err)) return -1;
    t->pg_init = true;
    rv_optim_cfg oc = {.beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps, .weight_decay = c->weight_decay,
                       .max_grad_norm = c->max_grad_norm, .zero = c->zero, .bucket_elems = (size_t)c->bucket_elems};
    if (rv_optim_create(&t->opt, &t->w, &t->pg, dp, &oc, err)) return -1;

    size_t bpr = (size_t)(c->global_batch / dp->size);
    rv_sampler_opts so = {.seed = c->seed, .batch_per_rank = bpr, .order = c->order};
    if (rv_sampler_init(&t->smp, dp, &so, t->data.train, t->data.train_len, t->data.ntrain, err))
        return rv_fail_wrap(err, "sft.global_batch = %lld", (long long)c->global_batch);
    t->smp_init = true;
    int64_t total = c->max_steps > 0 ? c->max_steps : c->epochs * (int64_t)t->smp.steps_per_epoch;
    if (rv_sched_init(&t->sched, total, c->warmup_ratio, c->warmup_steps, err)) return -1;
    rv_rng_init(&t->rng, c->seed, rv_hash32("sft"), 0);
    t->st = (rv_sft_state){.total_steps = total, .warmup_steps = t->sched.warmup, .global_batch = c->global_batch};
    snprintf(t->st.order, sizeof t->st.order, "%s", c->order == RV_SAMPLER_SHUFFLE ? "shuffle" : "modality_length");
    snprintf(t->st.loss_agg, sizeof t->st.loss_agg, "%s", c->token_mean ? "token_mean" : "sample_mean");
    return 0;
}

/* Continues the saved run: same schedule, batch, order and loss (else the curve would silently change). */
static int resume(trainer *t, const char *path, rv_err *err) {
    rv_ckpt *ck = NULL;
    if (rv_ckpt_open(&ck, path, err)) return -1;
    rv_sft_state s;
    rv_sampler_cursor cur;
    int rc = rv_sft_restore(ck, &t->w, t->opt, &s, &cur, &t->rng, err);
    rv_ckpt_close(ck);
    if (rc) return rv_fail_wrap(err, "sft.resume (%s)", path);
    if (s.total_steps != t->st.total_steps || s.global_batch != t->st.global_batch || strcmp(s.order, t->st.order) ||
        strcmp(s.loss_agg, t->st.loss_agg) || s.warmup_steps != t->st.warmup_steps)
        return rv_fail(err, "%s: saved with %lld total steps (warmup %lld), sft.global_batch=%lld, sft.order=%s, "
                            "sft.loss_agg=%s; this run has %lld (warmup %lld), %lld, %s, %s: resume with the same "
                            "settings, or start anew with sft.resume=never",
                       path, (long long)s.total_steps, (long long)s.warmup_steps, (long long)s.global_batch, s.order,
                       s.loss_agg, (long long)t->st.total_steps, (long long)t->st.warmup_steps,
                       (long long)t->st.global_batch, t->st.order, t->st.loss_agg);
    if (rv_sampler_restore(&t->smp, &cur, err)) return rv_fail_wrap(err, "%s", path);
    t->st = s;
    return 0;
}

static int open_logs(trainer *t, rv_err *err) {
    int rc = 0;
    if (t->dp->rank == 0) {
        const char *names[RV_PG_COUNT];
        for (int i = 0; i < RV_PG_COUNT; i++) names[i] = t->pg.g[i].name;
        rv_mcol *cols = NULL;
        int nc = 0;
        char *path = rv_path_join(t->env->run_dir, "log.h5");
        rc = rv_mlog_train_columns(names, RV_PG_COUNT, &cols, &nc);
        if (!rc) rc = rv_mlog_open(&t->log, path, "train", cols, nc, t->st.step, err);
        rv_mlog_cols_free(cols, nc);
        static const rv_mcol ecols[2] = {{"step", RV_MCOL_I64}, {"loss", RV_MCOL_F64}};
        if (!rc) rc = rv_mlog_open(&t->elog, path, "eval", ecols, 2, t->st.step, err);
        free(path);
    }
    return rv_comm_all_ok(t->dp, rc == 0) ? 0 : (rc ? -1 : rv_fail(err, "sft: opening RUN/log.h5 failed on rank 0"));
}

static int save(trainer *t, rv_err *err) {
    rv_sampler_cursor cur;
    rv_sampler_save(&t->smp, &cur);
    rv_sft_save_in in = {.run_dir = t->env->run_dir, .w = &t->w, .opt = t->opt, .state = &t->st, .cursor = &cur,
                         .rng = &t->rng, .model = &t->model, .run_config_json = t->env->run_config_json,
                         .keep = t->c->keep,
                         .test_kill_after_shards = t->c->test_kill_save >= 0 && t->st.step == t->c->test_kill_save};
    double t0 = rv_now();
    if (rv_sft_save(t->dp, &in, err)) return -1;
    rv_info0("sft: checkpoint step %lld saved in %.1f s", (long long)t->st.step, rv_now() - t0);
    return 0;
}

/* Names the step's samples on this rank (row and id) for the too-many-skips error. */
static void name_samples(trainer *t, const uint64_t *rows, int n, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used + 64 < cap; i++) {
        char *id = NULL;
        rv_err e;
        if (rv_shardset_text(t->data.set, rows[i], "id", &id, &e)) id = NULL;
        used += (size_t)snprintf(buf + used, cap - used, "%s%llu (%s)", i ? ", " : "", (unsigned long long)rows[i],
                                 id ? id : "?");
        free(id);
    }
}

int rv_sft_train(const rv_sft_cfg *c, const rv_sft_env *env, rv_sft_result *out, rv_err *err) {
    trainer T = {.c = c, .env = env, .dp = env->dp};
    trainer *t = &T;
    const rv_comm *dp = env->dp;
    char *resume_path = NULL;
    *out = (rv_sft_result){.final_loss = NAN};
    rv_signals_saved sig = {0};
    /* First, so a stop signal during a long setup (loading a 7B model) is a flag, not the default
     * action (SIGUSR1 terminates): the run then stops after its first step, with a checkpoint. */
    if (rv_signals_install(&sig, err)) return -1;
    int rc = setup(t, &resume_path, err);
    if (!rv_comm_all_ok(dp, rc == 0)) {
        if (!rc) rv_fail(err, "sft: setup failed on another rank (see its error)");
        goto fail;
    }
    rc = resume_path ? resume(t, resume_path, err) : 0;
    if (!rv_comm_all_ok(dp, rc == 0)) {
        if (!rc) rv_fail(err, "sft: resume failed on another rank (see its error)");
        goto fail;
    }
    if (open_logs(t, err)) goto fail;
    t->peak_gflops = c->peak_gflops > 0 ? c->peak_gflops : rv_sgemm_peak_gflops(t->k, 512);

    const int64_t total = t->st.total_steps, bpr = c->global_batch / dp->size;
    rv_info0("sft: %s; %zu train samples, %zu held out (%s); %lld steps of %lld samples (%lld per rank, packed up to "
             "%lld tokens), warmup %lld, loss %s, order %s, ZeRO-%d; optimizer %.1f MiB per rank (%.1f MiB without "
             "ZeRO-1); sgemm peak %.1f GFLOP/s per rank%s%s",
             t->model.source, t->data.ntrain, t->data.nheld, t->data.held_from, (long long)total,
             (long long)c->global_batch, (long long)bpr, (long long)c->max_tokens, (long long)t->sched.warmup,
             t->st.loss_agg, t->st.order, c->zero, rv_optim_state_bytes(t->opt) / 1048576.0,
             rv_optim_state_bytes_unsharded(t->opt) / 1048576.0, t->peak_gflops, resume_path ? "; resuming from " : "",
             resume_path ? resume_path : "");
    rv_train_memory_report("sft", dp->rank, t->k, &t->m);
    if (c->eval_every > 0 && t->data.nheld == 0)
        rv_warn0("sft: sft.eval_every = %lld but there are no held-out samples (no valid split and sft.eval_holdout = "
                 "%g): no eval rows", (long long)c->eval_every, c->eval_holdout);
    if (!resume_path && log_eval(t, 0, err)) goto fail;

    rv_progress *prog = rv_progress_start("sft", (uint64_t)total, c->progress_interval_s);
    rv_progress_resume_at(prog, (uint64_t)t->st.step);
    uint64_t *rows = rv_xmalloc((size_t)bpr * sizeof *rows);
    rv_loader_sample *ls = rv_xcalloc((size_t)bpr, sizeof *ls);
    rv_sample *s = rv_xcalloc((size_t)bpr, sizeof *s);
    float *weight = rv_xmalloc((size_t)bpr * sizeof *weight);
    double t_start = rv_now(), elapsed0 = t->st.elapsed_s, tok_here = 0;
    int64_t steps_here = 0;
    bool stop = false, failed = false;
    while (t->st.step < total && !stop && !failed) {
        int64_t step = t->st.step; /* 0-based index of this step */
        double t0 = rv_now();
        rv_sampler_next(&t->smp, rows);
        rc = load_samples(t, rows, (int)bpr, ls, s, err);
        if (!rv_comm_all_ok(dp, rc == 0)) {
            if (!rc) { rv_fail(err, "sft: step %lld: loading samples failed on another rank", (long long)step + 1); free_samples(ls, (int)bpr); }
            failed = true;
            break;
        }
        /* Loss weights (sft_step.h). */
        double local[3] = {0, 0, 0}; /* weighted loss, tokens, FLOPs */
        int64_t ntok = 0, ntgt = 0;
        double flops = 0;
        for (int i = 0; i < bpr; i++) {
            ntok += s[i].len;
            ntgt += rv_sft_targets(&s[i]);
            flops += rv_sample_train_flops(&t->model.cfg, s[i].len, s[i].n_images ? s[i].images[0].n_tiles : 0);
        }
        double T_all = c->token_mean ? (double)rv_comm_sum_u64(dp, (uint64_t)ntgt) : 0;
        bool inject = c->test_nan_step >= 0 && step + 1 >= c->test_nan_step && step + 1 < c->test_nan_step + c->test_nan_count;
        for (int i = 0; i < bpr; i++) {
            weight[i] = c->token_mean ? (T_all > 0 ? (float)(rv_sft_targets(&s[i]) / T_all) : 0.0f)
                                      : (float)(1.0 / (double)c->global_batch);
            if (inject) weight[i] = NAN;
        }
        rc = rv_sft_accumulate(&t->m, s, (int)bpr, (int)c->max_tokens, weight, &local[0], NULL, err);
        free_samples(ls, (int)bpr);
        if (!rv_comm_all_ok(dp, rc == 0)) {
            if (!rc) rv_fail(err, "sft: step %lld: forward/backward failed on another rank", (long long)step + 1);
            failed = true;
            break;
        }
        local[1] = (double)ntok;
        local[2] = flops;
        double glob[3];
        rv_comm_allreduce_f64(dp, local, glob, 3, RV_COMM_SUM);
        /* HF steps the schedule only when the optimizer ran: the position is the update count. */
        double loss = glob[0], lr_f = rv_sched_factor(&t->sched, t->st.optim_steps);
        rv_optim_stats os = {.grad_norm = NAN, .clip_coef = 1};
        bool skipped;
        if (!isfinite(loss)) {
            rv_weights_zero_grads(&t->w);
            skipped = true;
        } else {
            if (rv_optim_step(t->opt, lr_f, &os, err)) { failed = true; break; }
            skipped = os.skipped;
        }
        t->st.step = step + 1;
        t->st.tokens += (int64_t)glob[1];
        if (skipped) {
            t->st.skipped_total++;
            t->st.skipped_run++;
            rv_warn0("sft: step %lld skipped (non-finite %s; %lld in a row)", (long long)step + 1,
                     isfinite(loss) ? "gradient norm" : "loss", (long long)t->st.skipped_run);
        } else {
            t->st.skipped_run = 0;
            t->st.optim_steps = rv_optim_step_count(t->opt);
        }
        double now = rv_now(), dt = now - t0;
        t->st.elapsed_s = elapsed0 + (now - t_start);
        steps_here++;
        tok_here += glob[1];
        out->final_loss = loss;
        /* Log row (rank 0); its failure joins the stop vote below. */
        int lrc = 0;
        if (t->log) {
            rv_mval row[4 + RV_PG_COUNT + 3];
            int k = 0;
            row[k++].i = t->st.step;
            row[k++].f = loss;
            for (int g = 0; g < RV_PG_COUNT; g++) row[k++].f = t->pg.g[g].lr * lr_f;
            row[k++].f = os.grad_norm;
            row[k++].i = (int64_t)glob[1];
            row[k++].f = t->st.elapsed_s;
            row[k++].i = skipped;
            lrc = rv_mlog_append(t->log, row, err);
        }
        double z = gn_z(t, os.grad_norm);
        char note[256];
        double el_here = now - t_start;
        snprintf(note, sizeof note, "loss %.4f lr %.3g gnorm %.3g (z %+.1f) %.0f tok/s %.2f samples/s MFU %.1f%%%s",
                 loss, c->lr * lr_f, os.grad_norm, z, el_here > 0 ? tok_here / el_here : 0,
                 el_here > 0 ? (double)(steps_here * c->global_batch) / el_here : 0,
                 dt > 0 && t->peak_gflops > 0 ? 100.0 * glob[2] / dt / (t->peak_gflops * 1e9 * dp->size) : 0,
                 skipped ? " SKIPPED" : "");
        rv_progress_note(prog, note);
        rv_progress_update(prog, (uint64_t)t->st.step);
        if (c->test_kill_step >= 0 && t->st.step == c->test_kill_step) raise(SIGKILL); /* tests: a crash */
        if (t->st.skipped_run > c->max_skipped) {
            char ids[1024];
            name_samples(t, rows, (int)bpr, ids, sizeof ids);
            rv_fail(err, "sft: %lld consecutive skipped steps (more than sft.max_skipped = %lld), the last at step %lld; "
                         "this rank's samples of that step (row (id)): %s",
                    (long long)t->st.skipped_run, (long long)c->max_skipped, (long long)t->st.step, ids);
            failed = true;
            break;
        }
        if (c->eval_every > 0 && t->st.step % c->eval_every == 0 && t->st.step < total && log_eval(t, t->st.step, err)) {
            failed = true;
            break;
        }
        /* Stop vote: a signal on any rank, the time budget, or a failed log write on rank 0. */
        double v[3] = {rv_signals_pending() ? 1 : 0,
                       c->time_budget_min > 0 && (now - t_start) >= c->time_budget_min * 60 ? 1 : 0, lrc ? 1 : 0};
        double vmax[3];
        rv_comm_allreduce_f64(dp, v, vmax, 3, RV_COMM_MAX);
        if (vmax[2] > 0) {
            if (!lrc) rv_fail(err, "sft: writing RUN/log.h5 failed on rank 0");
            failed = true;
            break;
        }
        stop = vmax[0] > 0 || vmax[1] > 0;
        if (stop)
            rv_info0("sft: %s at step %lld: saving a checkpoint, then exiting with 75 (rerun to continue)",
                     vmax[0] > 0 ? "stop signal" : "sft.time_budget_min reached", (long long)t->st.step);
        bool at_end = t->st.step == total;
        if ((c->save_every > 0 && t->st.step % c->save_every == 0) || at_end || stop) {
            if (save(t, err)) { failed = true; break; }
        }
        if (at_end && log_eval(t, t->st.step, err)) { failed = true; break; }
    }
    if (failed) rv_progress_abandon(prog);
    else if (stop) rv_progress_stop(prog);
    else rv_progress_finish(prog);
    free(rows);
    free(ls);
    free(s);
    free(weight);
    if (failed) goto fail;
    out->steps = t->st.step;
    out->stopped = stop && t->st.step < total; /* a stop at the last step: finished, not "rerun me" */
    double el = t->st.elapsed_s - elapsed0;
    out->tokens_per_s = el > 0 ? tok_here / el : 0;
    rv_signals_restore(&sig);
    free(resume_path);
    trainer_free(t);
    return 0;
fail:
    rv_signals_restore(&sig);
    free(resume_path);
    trainer_free(t);
    return -1;
}
