#include "eval/run/eval_run.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/progress.h"
#include "eval/metrics/pytext.h"
#include "eval/neural/neural_metrics.h"
#include "eval/run/answer_store.h"
#include "eval/run/baseline.h"
#include "eval/run/eval_config.h"
#include "eval/run/prompt.h"
#include "eval/run/rank_plan.h"
#include "eval/run/run_files.h"
#include "eval/run/task_output.h"
#include "eval/run/testset.h"
#include "eval/tasks/task.h"
#include "model/gen_loop.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/sft_init.h"
#include "train/signals.h"

#define R1_SUFFIX " /think"

typedef struct evaluator {
    const rv_eval_cfg *c;
    const rv_eval_env *env;
    const char *baseline;       /* "prior" / "whole_image", or NULL: a model */
    char *model_path;           /* eval.model resolved (the newest checkpoint when empty) */
    rv_sft_model model;
    bool model_init;
    rv_kctx *k;
    rv_weights w;
    bool w_init;
    rv_vlm m;
    bool m_init;
    rv_pixel_norm norm;
    bool anyres;                /* eval.image_mode resolved */
    rv_tokenizer *tok;
    int32_t stop[2];
    int nstop;
    rv_shardset *shards;        /* eval.source=shards, or the baseline's training data */
    char *tag;
    uint64_t model_fp;          /* what the answers depend on besides the test set and the settings */
    char *out_dir, *ans_dir;
    long long answers_written;  /* by this process (eval.test_kill_after) */
    rv_eval_task_outputs outs;  /* rank 0: every finished task, for results.h5 */
    rv_eval_files files;        /* where and how the output files are written */
    rv_kctx *nk;                /* rank 0: the neural metrics' kernels and models (metrics.*), or NULL */
    rv_neural *nm;
} evaluator;

/* ---- setup ---- */

static bool is_baseline(const char *model) { return !strncmp(model, "baseline:", 9); }

static char *derive_tag(const evaluator *ev) {
    const char *m = ev->model_path;
    if (ev->baseline) return rv_xasprintf("baseline-%s", ev->baseline);
    if (!strncmp(m, "random:", 7)) return rv_xasprintf("random-%s", m + 7);
    char *abs = rv_path_abs(m);
    size_t l = strlen(abs);
    while (l > 1 && abs[l - 1] == '/') abs[--l] = 0;
    char *tag;
    const char *base = rv_path_basename(abs);
    if (l > 3 && !strcmp(abs + l - 3, ".h5")) {
        /* RUN/checkpoints/step-00000369.h5 -> <RUN name>-step-00000369 */
        char *dir = rv_path_dirname(abs), *run = rv_path_dirname(dir);
        tag = rv_xasprintf("%s-%.*s", rv_path_basename(run), (int)(strlen(base) - 3), base);
        free(dir);
        free(run);
    } else if (!strncmp(base, "checkpoint-", 11)) {
        /* upstream: an HF Trainer's checkpoint-N directory is named by its parent */
        char *dir = rv_path_dirname(abs);
        tag = rv_xstrdup(rv_path_basename(dir));
        free(dir);
    } else {
        tag = rv_xstrdup(base);
    }
    free(abs);
    return tag;
}

/* A file's identity for the fingerprint: its path, size and modification time. */
static uint64_t file_fp(uint64_t h, const char *path) {
    struct stat st;
    h = rv_fnv1a64_update_str(h, path);
    if (stat(path, &st) == 0) {
        int64_t v[2] = {(int64_t)st.st_size, (int64_t)st.st_mtime};
        h = rv_fnv1a64_update(h, v, sizeof v);
    }
    return h;
}

static int setup_model(evaluator *ev, rv_err *err) {
    const rv_eval_cfg *c = ev->c;
    rv_sft_init_opts io = {ev->model_path, c->tokenizer, ev->env->data_dir, ev->env->run_dir, true};
    if (rv_sft_model_resolve(&ev->model, &io, err)) return rv_fail_wrap(err, "eval.model");
    ev->model_init = true;
    if (!ev->model.tokenizer)
        return rv_fail(err, "eval.model = %s carries no tokenizer.json and none was found: set eval.tokenizer", ev->model_path);
    if (rv_tokenizer_load_json(ev->model.tokenizer_from, ev->model.tokenizer, ev->model.tokenizer_len, &ev->tok, err))
        return rv_fail_wrap(err, "eval: the model's tokenizer");
    if (rv_eval_prompt_check_tokenizer(ev->tok, ev->model.tokenizer_from, err)) return -1;
    ev->nstop = 0;
    const char *stops[2] = {"<|im_end|>", "<|endoftext|>"};
    for (int i = 0; i < 2; i++) {
        int32_t id = rv_tokenizer_token_id(ev->tok, stops[i]);
        if (id >= 0) ev->stop[ev->nstop++] = id;
    }
    if (rv_sft_model_pixel_norm(&ev->model, &ev->norm, err)) return -1;
    rvk_cpu_opts co = {.nthreads = c->threads};
    if (rvk_create(&ev->k, c->backend, &co, err)) return -1;
    if (rv_sft_model_load_weights(&ev->model, &io, ev->k, c->run_seed, 0.02f, &ev->w, err)) return -1;
    ev->w_init = true;
    if (rv_vlm_init(&ev->m, ev->k, &ev->model.cfg, &ev->w, false, err)) return -1;
    ev->m_init = true;
    uint64_t h = RV_FNV1A64_BASIS;
    h = rv_fnv1a64_update_str(h, ev->model.source);
    h = rv_fnv1a64_update_str(h, ev->model.tokenizer_hash);
    h = rv_fnv1a64_update_str(h, ev->model.config_json);
    if (!strncmp(ev->model_path, "random:", 7)) h = rv_fnv1a64_update(h, &c->run_seed, sizeof c->run_seed);
    else h = file_fp(h, ev->model_path);
    ev->model_fp = h;
    return 0;
}

static int setup(evaluator *ev, rv_err *err) {
    const rv_eval_cfg *c = ev->c;
    const char *run = ev->env->run_dir;
    if (is_baseline(c->model)) {
        ev->baseline = c->model + 9;
        if (!rv_eval_baseline_kind_ok(ev->baseline))
            return rv_fail(err, "eval.model = %s: the baselines are baseline:prior and baseline:whole_image", c->model);
        ev->model_path = rv_xstrdup(c->model);
    } else if (!*c->model) {
        int r = rv_ckpt_latest(run, &ev->model_path, err);
        if (r < 0) return -1;
        if (r == 0)
            return rv_fail(err, "eval.model is empty and %s/checkpoints holds no checkpoint: train first (--phase sft), "
                                "or set eval.model to a checkpoint, a Hugging Face directory or random:<preset>", run);
    } else {
        ev->model_path = rv_xstrdup(c->model);
    }
    if (c->from_shards || ev->baseline) {
        if (rv_shardset_open(c->shards, NULL, &ev->shards, err))
            return rv_fail_wrap(err, "eval.shards (pack with pack.tests=true for eval.source=shards)");
    }
    if (ev->baseline) {
        ev->model_fp = rv_fnv1a64_str(c->model);
        ev->model_fp = file_fp(ev->model_fp, ev->shards->path);
    } else if (setup_model(ev, err)) {
        return -1;
    }
    if (!strcmp(c->image_mode, "auto"))
        ev->anyres = c->from_shards ? ev->shards->anyres : (!ev->baseline && ev->model.kind == RV_SFT_INIT_HF);
    else
        ev->anyres = !strcmp(c->image_mode, "anyres");
    if (c->from_shards && ev->anyres && !ev->shards->anyres)
        return rv_fail(err, "eval.image_mode = anyres but %s holds base images only: pack with pack.image_mode=anyres, "
                            "or use eval.source=json", ev->shards->path);
    ev->tag = *c->tag ? rv_xstrdup(c->tag) : derive_tag(ev);
    ev->out_dir = rv_path_join(run, "eval");
    ev->ans_dir = rv_path_join(ev->out_dir, "answers");
    ev->files = (rv_eval_files){.dir = ev->out_dir, .tag = ev->tag, .model_source = ev->model_path,
                                .config_json = ev->env->run_config_json, .r1 = c->r1, .bootstrap = c->bootstrap,
                                .seed = c->seed, .png_samples = c->png_samples};
    rv_info0("eval: model %s (tag %s), %d task(s), test sets from %s, %s images, batch %d per rank, %s", ev->model_path,
             ev->tag, c->ntasks, c->from_shards ? c->shards : "RUN/llava/test_<task>.json", ev->anyres ? "anyres" : "base",
             c->batch, c->temperature > 0 ? "sampled" : "greedy");
    return 0;
}

static void teardown(evaluator *ev) {
    rv_neural_free(ev->nm);
    rvk_destroy(ev->nk);
    rv_eval_task_outputs_free(&ev->outs);
    if (ev->m_init) rv_vlm_free(&ev->m);
    if (ev->w_init) rv_weights_free(&ev->w);
    if (ev->k) rvk_destroy(ev->k);
    if (ev->model_init) rv_sft_model_free(&ev->model);
    rv_tokenizer_free(ev->tok);
    if (ev->shards) rv_shardset_close(ev->shards);
    free(ev->model_path);
    free(ev->tag);
    free(ev->out_dir);
    free(ev->ans_dir);
}

/* Rank 0 scores the answers: it loads the neural metric models when metrics.* names any. */
static int setup_neural(evaluator *ev, const rv_config *cfg, rv_err *err) {
    rv_neural_opts o;
    rv_neural_opts_from_cfg(cfg, &o);
    if (!rv_neural_opts_any(&o)) return 0;
    rvk_cpu_opts co = {.nthreads = ev->c->threads};
    if (rvk_create(&ev->nk, ev->c->backend, &co, err)) return rv_fail_wrap(err, "eval: neural metrics");
    if (rv_neural_load(&ev->nm, &o, ev->nk, err)) return rv_fail_wrap(err, "eval");
    rv_info0("eval: neural metrics: %s", rv_neural_describe(ev->nm));
    return 0;
}

/* ---- one task ---- */

static uint64_t task_fingerprint(const evaluator *ev, const char *task, const rv_eval_testset *ts, int max_new) {
    const rv_eval_cfg *c = ev->c;
    uint64_t h = rv_hash_mix64(ev->model_fp);
    h = rv_fnv1a64_update_str(h, task);
    for (size_t i = 0; i < ts->n; i++) {
        const rv_eval_item *it = &ts->items[i];
        for (size_t m = 0; m < it->nmsgs; m++) h = rv_fnv1a64_update_str(h, it->msgs[m].content);
        h = rv_fnv1a64_update_str(h, it->img_path);
    }
    /* the settings as one array of doubles (a struct would hash its padding bytes) */
    double s[8] = {max_new, c->top_k, c->r1, c->r1 && c->think_suffix, ev->anyres, c->temperature, c->top_p,
                   (double)c->seed};
    return rv_fnv1a64_update(h, s, sizeof s);
}

typedef struct chunk_ctx {
    evaluator *ev;
    rv_answer_writer *w;
    const size_t *q;            /* [n] question index of queue position */
    const int *prompt_len;      /* [n] */
    rv_sb text;
    int rc;
    rv_err *err;
} chunk_ctx;

static void kill_test(evaluator *ev) {
    if (ev->c->test_kill_after >= 0 && ev->answers_written >= ev->c->test_kill_after) {
        rv_warn("eval: eval.test_kill_after = %lld reached: killing this process (test)", (long long)ev->c->test_kill_after);
        raise(SIGKILL);
    }
}

static void on_done(void *ctx, int i, const rv_gen_result *r) {
    chunk_ctx *cc = ctx;
    if (cc->rc) return;
    cc->text.len = 0;
    if (cc->text.s) cc->text.s[0] = 0;
    if (rv_tokenizer_decode(cc->ev->tok, r->tokens, (size_t)r->n, true, &cc->text, cc->err)) {
        cc->rc = -1;
        return;
    }
    rv_eval_answer a = {.full_output = cc->text.s ? cc->text.s : "", .n_tokens = r->n, .stopped = r->stopped,
                        .prompt_tokens = cc->prompt_len[i], .seconds = r->seconds};
    if (rv_answer_writer_put(cc->w, cc->q[i], &a, cc->err)) cc->rc = -1;
    cc->ev->answers_written++;
    kill_test(cc->ev);
}

/* Asks questions q[0..n) (prompts built, lengths known) with max_new tokens each. */
static int generate(evaluator *ev, rv_answer_writer *w, const size_t *q, const rv_sample *prompts, const int *plen,
                    int n, int max_new, const char *task, rv_err *err) {
    uint64_t *ids = rv_xmalloc((size_t)n * sizeof *ids);
    uint64_t base = rv_fnv1a64_str(task);
    for (int i = 0; i < n; i++) ids[i] = base + q[i]; /* the question's draws: (seed, task, question, step) */
    chunk_ctx cc = {.ev = ev, .w = w, .q = q, .prompt_len = plen, .err = err};
    rv_sb_init(&cc.text);
    rv_gen_loop_opts o = {.slots = ev->c->batch, .max_new_tokens = max_new, .temperature = ev->c->temperature,
                          .top_p = ev->c->top_p, .top_k = ev->c->top_k, .stop_ids = ev->stop, .n_stop = ev->nstop,
                          .seed = ev->c->seed, .on_done = on_done, .ctx = &cc};
    int rc = rv_gen_loop(&ev->m, prompts, ids, n, &o, NULL, err);
    if (!rc) rc = cc.rc;
    rv_sb_free(&cc.text);
    free(ids);
    return rc;
}

/* This rank's questions mine[0..n), in chunks: build the prompts (a question that cannot be asked is
 * recorded as failed), generate, append. Stops between chunks on a stop signal. */
static int answer_mine(evaluator *ev, const char *task, const rv_eval_testset *ts, const size_t *mine, size_t n,
                       int max_new, rv_answer_writer *w, int *stopped, rv_err *err) {
    const int CH = ev->c->batch * 4 > 32 ? ev->c->batch * 4 : 32;
    if (ev->baseline) {
        char *ans = NULL;
        size_t ntrain = 0;
        if (n && rv_eval_baseline_answer(ev->shards, ev->baseline, task, &ans, &ntrain, err)) return -1;
        for (size_t j = 0; j < n; j++) {
            rv_eval_answer a = {.full_output = ans, .stopped = 1};
            if (rv_answer_writer_put(w, mine[j], &a, err)) {
                free(ans);
                return -1;
            }
            ev->answers_written++;
            kill_test(ev);
        }
        free(ans);
        return 0;
    }
    const int max_pos = ev->model.cfg.text.max_pos;
    rv_eval_prompt_ctx pc = {.tok = ev->tok, .cfg = &ev->model.cfg, .norm = &ev->norm,
                             .set = ev->c->from_shards ? ev->shards : NULL, .anyres = ev->anyres,
                             .pillow = ev->c->pillow, .max_pixels = ev->c->max_pixels};
    rv_loader_sample *ls = rv_xcalloc((size_t)CH, sizeof *ls);
    rv_sample *ps = rv_xmalloc((size_t)CH * sizeof *ps);
    size_t *q = rv_xmalloc((size_t)CH * sizeof *q);
    int *plen = rv_xmalloc((size_t)CH * sizeof *plen), *cap = rv_xmalloc((size_t)CH * sizeof *cap);
    const char *suffix = ev->c->r1 && ev->c->think_suffix ? R1_SUFFIX : NULL;
    rv_progress *pr = rv_progress_start(task, n, ev->c->progress_s);
    int rc = 0;
    for (size_t at = 0; at < n && !rc; at += (size_t)CH) {
        if (rv_signals_pending()) {
            *stopped = 1;
            break;
        }
        int m = (int)(n - at < (size_t)CH ? n - at : (size_t)CH), built = 0;
        for (int j = 0; j < m && !rc; j++) {
            size_t qi = mine[at + (size_t)j];
            rv_err pe;
            if (rv_eval_prompt_make(&pc, &ts->items[qi], suffix, &ls[built], &pe)) {
                char where[600];
                snprintf(where, sizeof where, "%s: question %zu (id %s)", ts->source, qi, ts->items[qi].id);
                if (rv_badrec_report(ev->env->bad, err, where, "%s; it is not evaluated", pe.msg)) rc = -1;
                else rc = rv_answer_writer_fail(w, qi, pe.msg, err);
                continue;
            }
            int len = ls[built].len;
            if (len + 1 > max_pos) {
                char where[600];
                snprintf(where, sizeof where, "%s: question %zu (id %s)", ts->source, qi, ts->items[qi].id);
                char why[200];
                snprintf(why, sizeof why, "the prompt has %d tokens, the model's max_position_embeddings is %d", len, max_pos);
                rv_loader_sample_free(&ls[built]);
                if (rv_badrec_report(ev->env->bad, err, where, "%s; it is not evaluated", why)) rc = -1;
                else rc = rv_answer_writer_fail(w, qi, why, err);
                continue;
            }
            q[built] = qi;
            plen[built] = len;
            /* a long prompt gets fewer new tokens: what fits the positions (a property of the
             * question alone, so its answer still does not depend on the batch) */
            cap[built] = max_new < max_pos - len ? max_new : max_pos - len;
            ps[built] = rv_loader_sample_view(&ls[built]);
            built++;
        }
        /* one generation call per distinct cap (almost always one) */
        bool *done = rv_xcalloc((size_t)built + 1, 1);
        for (int j = 0; j < built && !rc; j++) {
            if (done[j]) continue;
            size_t gn = 0;
            size_t *gq = rv_xmalloc((size_t)built * sizeof *gq);
            rv_sample *gs = rv_xmalloc((size_t)built * sizeof *gs);
            int *gl = rv_xmalloc((size_t)built * sizeof *gl);
            for (int k = j; k < built; k++)
                if (!done[k] && cap[k] == cap[j]) {
                    done[k] = true;
                    gq[gn] = q[k];
                    gs[gn] = ps[k];
                    gl[gn] = plen[k];
                    gn++;
                }
            rc = generate(ev, w, gq, gs, gl, (int)gn, cap[j], task, err);
            free(gq);
            free(gs);
            free(gl);
        }
        free(done);
        for (int j = 0; j < built; j++) rv_loader_sample_free(&ls[j]);
        rv_progress_update(pr, at + (size_t)m);
    }
    if (rc) rv_progress_abandon(pr);
    else if (*stopped) rv_progress_stop(pr);
    else rv_progress_finish(pr);
    free(ls);
    free(ps);
    free(q);
    free(plen);
    free(cap);
    return rc;
}

/* Loads the task's test set on every rank (replicated work: bad records are reported once). */
static int load_testset(evaluator *ev, const char *task, rv_eval_testset *ts, rv_err *err) {
    rv_badrec *bad = ev->env->bad;
    rv_task tk;
    if (rv_task_parse(task, &tk)) return rv_fail(err, "eval: %s is not a test task (internal error)", task);
    bad->replicated = true;
    int rc;
    if (ev->c->from_shards) {
        rc = rv_eval_testset_read_shards(ev->shards, tk, bad, ts, err);
        if (!rc && ts->n == 0)
            rv_warn0("eval: %s holds no test sample of %s (packed with pack.tests=true?)", ev->shards->path, task);
    } else {
        char *name = rv_xasprintf("llava/test_%s.json", task);
        char *path = rv_path_join(ev->env->run_dir, name);
        free(name);
        if (!rv_is_file(path))
            rc = rv_fail(err, "eval: %s does not exist: run the instruct phase (instruct.tests=true, the default) for "
                              "this run, or leave %s out of eval.tasks", path, task);
        else
            rc = rv_eval_testset_read_json(path, tk, bad, ts, err);
        free(path);
    }
    bad->replicated = false;
    if (!rc && ts->boxes_from_answer)
        rv_warn0("eval: %s: %zu grounding cell(s) have no \"boxes\" key (a test file from an older build): their true "
                 "boxes are read from the reference answer (2 decimals); rerun the instruct phase for exact boxes",
                 ts->source, ts->boxes_from_answer);
    return rc;
}

static size_t first_missing(const rv_answer_set *as) {
    for (size_t i = 0; i < as->n; i++)
        if (!as->state[i]) return i;
    return as->n;
}

/* Generates what is missing of one task (every rank), then rank 0 scores and writes it. */
static int run_task(evaluator *ev, const char *task, int *stopped, rv_err *err) {
    const rv_eval_cfg *c = ev->c;
    const rv_comm *comm = ev->env->comm;
    const rv_eval_task *t = rv_eval_task_find(task);
    if (!t) return rv_fail(err, "eval: task %s has no scorer in this build (internal error)", task);
    rv_eval_testset ts = {0};
    if (load_testset(ev, task, &ts, err)) {
        rv_eval_testset_free(&ts);
        return -1;
    }
    size_t nq = ts.n;
    if (c->max_samples > 0 && (size_t)c->max_samples < nq) nq = (size_t)c->max_samples;
    int max_new = c->max_new_tokens > 0 ? c->max_new_tokens : rv_eval_default_max_new(task);
    uint64_t fp = task_fingerprint(ev, task, &ts, max_new);
    int rc = 0;
    bool ok = true;
    if (!c->resume && comm->rank == 0) ok = rv_answer_store_clear(ev->ans_dir, ev->tag, task, err) == 0;
    if (!rv_comm_all_ok(comm, ok)) {
        rv_eval_testset_free(&ts);
        return ok ? rv_fail(err, "eval: rank 0 could not clear %s", ev->ans_dir) : -1;
    }
    rv_answer_set as;
    if (rv_answer_set_read(&as, ev->ans_dir, ev->tag, task, fp, nq, err)) rc = -1;
    /* every rank has read the store before any rank appends to it: the plan below depends on what
     * is already answered, and must be the same on every rank */
    if (!rv_comm_all_ok(comm, rc == 0)) {
        rv_answer_set_free(&as);
        rv_eval_testset_free(&ts);
        return rc ? -1 : rv_fail(err, "eval: %s: another rank could not read %s", task, ev->ans_dir);
    }
    /* the questions still without an answer (failed ones are asked again: the image may be back) */
    size_t *todo = rv_xmalloc((nq ? nq : 1) * sizeof *todo), ntodo = 0;
    int64_t *cost = rv_xmalloc((nq ? nq : 1) * sizeof *cost);
    for (size_t i = 0; rc == 0 && i < nq; i++)
        if (as.state[i] != 1) {
            cost[ntodo] = rv_eval_testset_cost(&ts.items[i]);
            todo[ntodo++] = i;
        }
    if (rc == 0) {
        if (as.ignored_files)
            rv_warn0("eval: %s: %zu answer file(s) in %s were made with other settings (model, test set or "
                     "generation keys) and are ignored", task, as.ignored_files, ev->ans_dir);
        if (ntodo < nq)
            rv_info0("eval: %s: %zu of %zu questions already answered (eval.resume=auto), %zu to generate", task,
                     nq - ntodo, nq, ntodo);
        else
            rv_info0("eval: %s: %zu questions (%s), max_new_tokens %d", task, nq, ts.source, max_new);
    }
    rv_answer_set_free(&as);
    size_t *mine = rv_xmalloc((ntodo ? ntodo : 1) * sizeof *mine);
    size_t nmine = rc ? 0 : rv_eval_rank_plan(todo, cost, ntodo, comm->rank, comm->size, mine);
    free(todo);
    free(cost);
    if (rc == 0 && nmine > 0) {
        rv_answer_writer w;
        rc = rv_answer_writer_open(&w, ev->ans_dir, ev->tag, task, comm->rank, comm->size, fp, err);
        if (rc == 0) {
            rc = answer_mine(ev, task, &ts, mine, nmine, max_new, &w, stopped, err);
            rv_err ce;
            if (rv_answer_writer_close(&w, &ce) && rc == 0) {
                *err = ce;
                rc = -1;
            }
        }
    }
    free(mine);
    /* every rank's answers are on disk (closed and synced) before rank 0 reads them */
    if (!rv_comm_all_ok(comm, rc == 0)) {
        rv_eval_testset_free(&ts);
        return rc ? -1 : rv_fail(err, "eval: %s: another rank failed (see its message)", task);
    }
    if (!rv_comm_all_ok(comm, !*stopped)) {
        *stopped = 1;
        rv_eval_testset_free(&ts);
        return 0;
    }
    if (comm->rank == 0) {
        rv_eval_task_output o;
        size_t missing = nq;
        if (rv_answer_set_read(&as, ev->ans_dir, ev->tag, task, fp, nq, err)) {
            rc = -1;
        } else if ((missing = first_missing(&as)) < nq) {
            /* every rank reported success, so an answer without a line is a lost write */
            rc = rv_fail(err, "eval: %s: question %zu has no line in %s/%s_%s.r*.jsonl although every rank finished "
                              "(a lost write on a shared file system?); rerun to ask it again",
                         task, missing, ev->ans_dir, ev->tag, task);
            rv_answer_set_free(&as);
        } else {
            if (c->r1 && c->think_suffix) /* the question as asked (upstream's instr carries it too) */
                for (size_t i = 0; i < nq; i++) {
                    char *q = rv_xasprintf("%s%s", ts.items[i].instr, R1_SUFFIX);
                    free(ts.items[i].instr);
                    ts.items[i].instr = q;
                }
            rv_eval_task_output_build(&o, t, ts.items, nq, &as, c->r1);
            rv_answer_set_free(&as);
            rc = rv_eval_task_output_neural(&o, ev->nm, err);
            if (!rc) rc = rv_eval_write_task_files(&ev->files, &o, err);
            ev->outs.v = rv_xrealloc(ev->outs.v, (ev->outs.n + 1) * sizeof *ev->outs.v);
            ev->outs.v[ev->outs.n++] = o;
        }
    }
    rv_eval_testset_free(&ts);
    if (!rv_comm_all_ok(comm, rc == 0)) return rc ? -1 : rv_fail(err, "eval: %s: rank 0 could not write the outputs", task);
    return 0;
}

int rv_eval_run(const rv_config *cfg, const rv_eval_env *env, int *stopped, rv_err *err) {
    *stopped = 0;
    rv_eval_cfg c;
    evaluator ev = {.c = &c, .env = env};
    int rc = rv_eval_cfg_read(cfg, env->run_dir, &c, err);
    if (!rc) rc = setup(&ev, err);
    if (!rc && env->comm->rank == 0) rc = setup_neural(&ev, cfg, err);
    if (!rv_comm_all_ok(env->comm, rc == 0)) {
        if (!rc) rc = rv_fail(err, "eval: setup failed on another rank (see its message)");
    } else {
        bool ok = env->comm->rank != 0 || rv_mkdir_p(ev.ans_dir, err) == 0;
        if (!rv_comm_all_ok(env->comm, ok)) rc = ok ? rv_fail(err, "eval: rank 0 could not create %s", ev.ans_dir) : -1;
    }
    rv_signals_saved sig = {0};
    if (!rc) rc = rv_signals_install(&sig, err);
    double t0 = rv_now();
    for (int i = 0; !rc && !*stopped && i < c.ntasks; i++) rc = run_task(&ev, c.tasks[i], stopped, err);
    rv_signals_restore(&sig);
    if (!rc && *stopped)
        rv_warn0("eval: stopped by a signal; every finished answer is kept in %s: rerun the same command to continue",
                 ev.ans_dir);
    if (!rc && !*stopped) {
        int wrc = env->comm->rank == 0 ? rv_eval_write_results(&ev.files, &ev.outs, rv_now() - t0, err) : 0;
        if (!rv_comm_all_ok(env->comm, wrc == 0)) rc = wrc ? -1 : rv_fail(err, "eval: rank 0 could not write results.h5");
    }
    teardown(&ev);
    rv_eval_cfg_free(&c);
    return rc;
}
