#define _POSIX_C_SOURCE 200809L
#include "train/sft_ckpt.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "train/partition.h"

char *rv_sft_state_to_json(const rv_sft_state *s) {
    return rv_xasprintf("{\"step\": %lld, \"optim_steps\": %lld, \"skipped_total\": %lld, \"skipped_run\": %lld, "
                        "\"elapsed_s\": %.17g, \"tokens\": %lld, \"total_steps\": %lld, \"warmup_steps\": %lld, "
                        "\"global_batch\": %lld, \"order\": \"%s\", \"loss_agg\": \"%s\"}",
                        (long long)s->step, (long long)s->optim_steps, (long long)s->skipped_total,
                        (long long)s->skipped_run, s->elapsed_s, (long long)s->tokens, (long long)s->total_steps,
                        (long long)s->warmup_steps, (long long)s->global_batch, s->order, s->loss_agg);
}

int rv_sft_state_from_json(const char *where, const char *json, rv_sft_state *s, rv_err *err) {
    memset(s, 0, sizeof *s);
    cJSON *r = cJSON_Parse(json);
    if (!r) return rv_fail(err, "%s: the training state is not JSON (not a checkpoint of the sft phase?)", where);
    const char *need[] = {"step", "optim_steps", "skipped_total", "skipped_run", "elapsed_s", "tokens",
                          "total_steps", "warmup_steps", "global_batch"};
    double v[9];
    for (int i = 0; i < 9; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(r, need[i]);
        if (!cJSON_IsNumber(x)) {
            cJSON_Delete(r);
            return rv_fail(err, "%s: the training state lacks %s (not a checkpoint of the sft phase?)", where, need[i]);
        }
        v[i] = x->valuedouble;
    }
    s->step = (int64_t)v[0];
    s->optim_steps = (int64_t)v[1];
    s->skipped_total = (int64_t)v[2];
    s->skipped_run = (int64_t)v[3];
    s->elapsed_s = v[4];
    s->tokens = (int64_t)v[5];
    s->total_steps = (int64_t)v[6];
    s->warmup_steps = (int64_t)v[7];
    s->global_batch = (int64_t)v[8];
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "order"), *l = cJSON_GetObjectItemCaseSensitive(r, "loss_agg");
    snprintf(s->order, sizeof s->order, "%s", cJSON_IsString(o) ? o->valuestring : "");
    snprintf(s->loss_agg, sizeof s->loss_agg, "%s", cJSON_IsString(l) ? l->valuestring : "");
    cJSON_Delete(r);
    return 0;
}

int rv_sft_save(const rv_comm *dp, const rv_sft_save_in *in, rv_err *err) {
    const rv_weights *w = in->w;
    int rank = dp->rank, nranks = dp->size;
    int64_t step = in->state ? in->state->step : in->step;
    const char *phase = in->phase ? in->phase : "sft";
    char *path = rv_ckpt_path(in->run_dir, step);
    size_t off, n;
    rv_optim_range(in->opt, &off, &n);
    rv_range p = rv_partition(w->total, rank, nranks);
    float *m = rv_xmalloc((n ? n : 1) * sizeof *m), *v = rv_xmalloc((n ? n : 1) * sizeof *v);
    int rc = rv_optim_get_moments(in->opt, m, v, err);
    if (!rc && (p.off < off || p.off + p.n > off + n))
        rc = rv_fail(err, "%s: the optimizer holds arena elements [%zu, %zu), not this rank's checkpoint range [%zu, %zu) "
                          "(internal error)", phase, off, off + n, p.off, p.off + p.n);
    if (!rc) rc = rv_ckpt_write_shard(path, w, step, rank, nranks, m + (p.off - off), v + (p.off - off), err);
    free(m);
    free(v);
    /* Every shard on disk before rank 0 checks and completes the checkpoint. */
    bool ok = rv_comm_all_ok(dp, rc == 0);
    if (in->test_kill_after_shards) raise(SIGKILL); /* a save killed half way (tests) */
    if (ok && rank == 0) {
        char *state = in->state ? rv_sft_state_to_json(in->state) : rv_xstrdup(in->state_json);
        rv_ckpt_file *files = rv_xcalloc(in->model->nfiles + 1, sizeof *files);
        for (size_t i = 0; i < in->model->nfiles; i++)
            files[i] = (rv_ckpt_file){in->model->files[i].name, in->model->files[i].data, in->model->files[i].len};
        rv_ckpt_data d = {.w = w, .optim_shards = nranks, .step = step, .rng = in->rng, .cursor = in->cursor,
                          .state_json = state, .run_config_json = in->run_config_json,
                          .model_config_json = in->model->config_json, .source = in->model->source,
                          .files = files, .nfiles = in->model->nfiles};
        rc = rv_ckpt_write(path, &d, err);
        free(files);
        free(state);
        if (!rc && in->keep > 0) {
            rv_err e2;
            if (rv_sft_prune(in->run_dir, in->keep, &e2)) rv_warn("%s: %s (older checkpoints left in place)", phase, e2.msg);
        }
    }
    ok = rv_comm_all_ok(dp, ok && rc == 0);
    if (!ok && rc == 0) rc = rv_fail(err, "%s: saving %s failed on another rank (see its error)", phase, path);
    free(path);
    return ok ? 0 : -1;
}

int rv_train_find_resume(const char *run_dir, const char *resume, const char *key, rv_resume_accept accept,
                         char **path, rv_err *err) {
    *path = NULL;
    if (strcmp(resume, "never") == 0) return 0;
    if (strcmp(resume, "auto") != 0) {
        if (!rv_is_file(resume)) return rv_fail(err, "%s = %s: no such checkpoint file (use auto, never or a path)", key, resume);
        *path = rv_xstrdup(resume);
        return 1;
    }
    char *latest = NULL;
    int l = rv_ckpt_latest(run_dir, &latest, err);
    if (l <= 0) return l;
    rv_ckpt *ck = NULL;
    if (rv_ckpt_open(&ck, latest, err)) {
        rv_fail_wrap(err, "%s = auto: the newest checkpoint cannot be read; move it aside to resume from the one before, "
                          "or set %s=never", key, key);
        free(latest);
        return -1;
    }
    int a = accept(ck, latest, run_dir, err);
    rv_ckpt_close(ck);
    if (a <= 0) {
        free(latest);
        return a;
    }
    *path = latest;
    return 1;
}

/* sft: a checkpoint without optimizer moments (an imported model) is not a training state. */
static int sft_accept(rv_ckpt *ck, const char *path, const char *run_dir, rv_err *err) {
    (void)run_dir;
    (void)err;
    if (rv_ckpt_has_adam(ck)) return 1;
    rv_info0("sft: %s holds no optimizer state (an imported model?): not resuming from it", path);
    return 0;
}

int rv_sft_find_resume(const char *run_dir, const char *resume, char **path, rv_err *err) {
    return rv_train_find_resume(run_dir, resume, "sft.resume", sft_accept, path, err);
}

int rv_sft_restore(rv_ckpt *ck, rv_weights *w, rv_optim *opt, rv_sft_state *state, rv_sampler_cursor *cursor,
                   rv_rng *rng, rv_err *err) {
    if (rv_sft_state_from_json(rv_ckpt_path_of(ck), rv_ckpt_state_json(ck), state, err)) return -1;
    if (state->step != rv_ckpt_step(ck))
        return rv_fail(err, "%s: state step %lld differs from the checkpoint step %lld", rv_ckpt_path_of(ck),
                       (long long)state->step, (long long)rv_ckpt_step(ck));
    if (rv_train_restore_weights(ck, w, opt, state->optim_steps, err)) return -1;
    int c = rv_ckpt_load_cursor(ck, cursor, err);
    if (c < 0) return -1;
    if (c == 0) return rv_fail(err, "%s: no sampler cursor stored (not a checkpoint of the sft phase)", rv_ckpt_path_of(ck));
    if (rv_ckpt_load_rng(ck, rng, err) < 0) return -1;
    return 0;
}

int rv_train_restore_weights(rv_ckpt *ck, rv_weights *w, rv_optim *opt, int64_t optim_steps, rv_err *err) {
    if (rv_ckpt_load_weights(ck, w, err)) return -1;
    size_t off, n;
    rv_optim_range(opt, &off, &n);
    float *m = rv_xmalloc((n ? n : 1) * sizeof *m), *v = rv_xmalloc((n ? n : 1) * sizeof *v);
    int rc = rv_ckpt_load_adam_range(ck, w, off, n, m, v, err);
    if (!rc) rc = rv_optim_set_moments(opt, m, v, optim_steps, err);
    free(m);
    free(v);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int rv_sft_prune(const char *run_dir, int64_t keep, rv_err *err) {
    char *dir = rv_path_join(run_dir, "checkpoints");
    char **names = NULL;
    size_t n = 0;
    if (rv_list_dir(dir, &names, &n, err)) {
        free(dir);
        return -1;
    }
    /* step-NNNNNNNN.h5 with a shard directory: written by a trainer. Names sort by step. */
    char **mine = rv_xcalloc(n + 1, sizeof *mine);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        long long s;
        int used = 0;
        if (sscanf(names[i], "step-%lld.h5%n", &s, &used) != 1 || (size_t)used != strlen(names[i])) continue;
        char *p = rv_path_join(dir, names[i]);
        char *sd = rv_ckpt_shard_dir(p);
        if (rv_is_dir(sd)) mine[k++] = p;
        else free(p);
        free(sd);
    }
    qsort(mine, k, sizeof *mine, cmp_str);
    int rc = 0;
    for (size_t i = 0; i + (size_t)keep < k && !rc; i++) rc = rv_ckpt_remove(mine[i], err);
    for (size_t i = 0; i < k; i++) free(mine[i]);
    free(mine);
    rv_free_strv(names, n);
    free(dir);
    return rc;
}
