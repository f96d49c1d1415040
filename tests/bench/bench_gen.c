/* Generation speed of the continuous-batching loop (model/gen_loop.h rv_gen_loop), the eval
 * phase's generator, on real test prompts; the C side of tests/bench/bench_eval.sh, which runs
 * transformers' batched generate (bench_eval_hf.py) on the same prompts and weights.
 *
 * Prompts by the eval phase's own code (eval/run/testset.h, prompt.h): the first question of the
 * first K cells of each test file (RUN/llava/test_<task>.json), CHATML with the generation prompt,
 * the model's tokenizer.json, the base tile (the image decoded as pack decodes it, resized to the
 * model's S, normalized, placeholder expanded to grid^2 + 1 image rows). Not a test: it prints
 * numbers and never fails on them.
 *
 *   bench_gen --preset 100m --tokenizer TOK --save DIR
 *       random weights (seed 7, std 0.02) of a preset saved as an HF directory (rv_hf_save) with
 *       TOK as its tokenizer.json, so both sides load the same weights
 *   bench_gen --model DIR --tests F1,F2,... --per-task K --export WL
 *       rank 0 writes WL/prompts.json (ids with the image rows expanded, tile and image sizes,
 *       stop and pad ids) and WL/pixels.bin ([n, 3, S, S] fp32 tiles) for bench_eval_hf.py
 *   mpirun -n W bench_gen --model DIR --tests ... --per-task K --slots B --max-new T
 *                         [--threads t] [--repeat R] [--tokens-out PREFIX]
 *       rank r takes the contiguous slice [r n / W, (r + 1) n / W) of the prompts (as the eval
 *       phase splits a test set), greedy rv_gen_loop with B slots, best of R timed runs (wall time
 *       of the slowest rank, after a barrier); prints a RESULT line; PREFIX-r<rank>.txt gets each
 *       prompt's generated tokens ("index n_tokens stopped tok ...", stop token included).
 *   ... --rollout-n N
 *       GRPO rollouts instead of greedy generation (tests/bench/bench_rollout.sh): each prompt
 *       sampled N times by rv_grpo_rollout (train/grpo_rollout.h: temperature 1, top-p 1, top-k
 *       off), --slots sequences decoding together (so B prompts x N samples = B * N slots is
 *       transformers' generate(num_return_sequences=N) over batches of B prompts); the RESULT
 *       line counts the N responses of every prompt. --tokens-out is not written (sampled
 *       tokens have nothing to agree with).
 * Stop ids: the tokenizer's <|im_end|> and the model's eos_token_id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "comm/comm.h"
#include "comm/world.h"
#include "core/fsutil.h"
#include "core/strbuf.h"
#include "data/loader/pixels.h"
#include "data/loader/shard_row.h"
#include "io/image.h"
#include "io/resize.h"
#include "model/config.h"
#include "model/gen_loop.h"
#include "model/hf.h"
#include "model/plan.h"
#include "model/weights.h"
#include "data/sources/sample.h"
#include "eval/run/prompt.h"
#include "eval/run/testset.h"
#include "tokenizer/tokenizer.h"
#include "train/grpo_rollout.h"

static int fail(const char *msg) {
    fprintf(stderr, "bench_gen: %s\n", msg);
    rv_world_finalize();
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct prompt_set {
    rv_loader_sample *s; /* [n] */
    rv_sample *view;     /* [n] */
    char **name;         /* [n] the cell ids */
    int n;
    int32_t stop[2];
    int n_stop;
} prompt_set;

static void prompts_free(prompt_set *P) {
    for (int i = 0; i < P->n; i++) {
        rv_loader_sample_free(&P->s[i]);
        free(P->name[i]);
    }
    free(P->s);
    free(P->view);
    free(P->name);
}

/* The first question (turn 0) of the first `per_task` cells of each comma-separated test file
 * (RUN/llava/test_<task>.json), built by the eval phase's own code (eval/run/testset.h, prompt.h). */
static int build_prompts(const rv_model_cfg *c, const rv_tokenizer *tok, const char *tests, int per_task,
                         prompt_set *P, rv_err *err) {
    memset(P, 0, sizeof *P);
    const int32_t im_end = rv_tokenizer_token_id(tok, "<|im_end|>");
    if (rv_eval_prompt_check_tokenizer(tok, "the model's tokenizer.json", err)) return -1;
    P->stop[P->n_stop++] = im_end;
    if (c->text.eos_id != im_end) P->stop[P->n_stop++] = c->text.eos_id;
    const rv_pixel_norm norm = rv_pixel_norm_siglip();
    rv_eval_prompt_ctx pc = {.tok = tok, .cfg = c, .norm = &norm};
    rv_badrec bad;
    rv_badrec_init(&bad, rv_comm_world(), true);
    char *list = rv_xstrdup(tests);
    int rc = 0;
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f && !rc; f = strtok_r(NULL, ",", &save)) {
        const char *base = rv_path_basename(f);
        char name[128];
        snprintf(name, sizeof name, "%s", base);
        char *dot = strstr(name, ".json");
        if (dot) *dot = 0;
        rv_task task;
        if (strncmp(name, "test_", 5) || rv_task_parse(name + 5, &task)) {
            rc = rv_fail(err, "%s: not a test_<task>.json file", f);
            break;
        }
        rv_eval_testset ts;
        if (rv_eval_testset_read_json(f, task, &bad, &ts, err)) {
            rc = -1;
            break;
        }
        int k = 0;
        for (size_t i = 0; i < ts.n && k < per_task && !rc; i++) {
            if (ts.items[i].turn != 0) continue;
            P->s = rv_xrealloc(P->s, (size_t)(P->n + 1) * sizeof *P->s);
            P->name = rv_xrealloc(P->name, (size_t)(P->n + 1) * sizeof *P->name);
            rc = rv_eval_prompt_make(&pc, &ts.items[i], NULL, &P->s[P->n], err);
            if (!rc) P->name[P->n++] = rv_xstrdup(ts.items[i].id);
            k++;
        }
        rv_eval_testset_free(&ts);
    }
    free(list);
    if (rc) {
        prompts_free(P);
        return -1;
    }
    P->view = rv_xmalloc((size_t)(P->n ? P->n : 1) * sizeof *P->view);
    for (int i = 0; i < P->n; i++) P->view[i] = rv_loader_sample_view(&P->s[i]);
    return 0;
}

static int export_prompts(const char *dir, const rv_model_cfg *c, const prompt_set *P, rv_err *err) {
    if (rv_mkdir_p(dir, err)) return -1;
    const int S = c->vision.image_size;
    rv_sb o;
    rv_sb_init(&o);
    rv_sb_printf(&o, "{\"image_token_id\": %d, \"pad_id\": %d, \"tile\": %d, \"stop_ids\": [%d", (int)c->image_token_id,
                 (int)c->text.pad_id, S, (int)P->stop[0]);
    for (int j = 1; j < P->n_stop; j++) rv_sb_printf(&o, ", %d", (int)P->stop[j]);
    rv_sb_printf(&o, "],\n \"prompts\": [\n");
    size_t off = 0;
    for (int i = 0; i < P->n; i++) {
        const rv_loader_sample *s = &P->s[i];
        rv_sb_printf(&o, "  {\"name\": \"%s\", \"n_tiles\": %d, \"image_hw\": [%d, %d], \"pixel_offset\": %zu, \"ids\": [",
                     P->name[i], s->image.n_tiles, s->image.orig_h, s->image.orig_w, off);
        for (int t = 0; t < s->len; t++) rv_sb_printf(&o, t ? ",%d" : "%d", (int)s->ids[t]);
        rv_sb_printf(&o, "]}%s\n", i + 1 < P->n ? "," : "");
        off += (size_t)s->image.n_tiles * 3 * S * S;
    }
    rv_sb_printf(&o, " ]}\n");
    char *p = rv_path_join(dir, "prompts.json");
    int rc = rv_write_atomic(p, o.s, o.len, err);
    free(p);
    rv_sb_free(&o);
    if (rc) return -1;
    p = rv_path_join(dir, "pixels.bin");
    FILE *f = fopen(p, "wb");
    for (int i = 0; f && i < P->n; i++) {
        size_t n = (size_t)P->s[i].image.n_tiles * 3 * S * S;
        if (fwrite(P->s[i].tiles, sizeof(float), n, f) != n) break;
    }
    rc = (!f || ferror(f)) ? rv_fail(err, "%s: cannot write", p) : 0;
    if (f && fclose(f)) rc = rv_fail(err, "%s: cannot write", p);
    free(p);
    return rc;
}

/* Random weights of a preset, saved as an HF directory with tok as its tokenizer.json. */
static int save_random(const char *preset, const char *tokpath, const char *dir, rv_err *err) {
    rv_model_cfg c;
    if (rv_model_cfg_preset(preset, &c, err)) return -1;
    rv_kctx *k = NULL;
    rv_weights w;
    if (rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, err)) return -1;
    int rc = rv_weights_build(&w, &c, k, err);
    if (!rc && (rc = rv_weights_init_random(&w, 7, 0.02f, err))) rv_weights_free(&w);
    if (rc) {
        rvk_destroy(k);
        return -1;
    }
    rv_sb js;
    rv_sb_init(&js);
    rv_model_cfg_to_hf_json(&c, &js);
    rv_hf_file f = {"tokenizer.json", NULL, 0};
    rc = rv_read_file(tokpath, &f.data, &f.len, err);
    if (!rc) rc = rv_hf_save(dir, &w, js.s, RV_ST_F32, 0, &f, 1, NULL, err);
    free(f.data);
    rv_sb_free(&js);
    rv_weights_free(&w);
    rvk_destroy(k);
    return rc;
}

/* The largest n values' sum (the plan limit gen_loop computes for a step's segments). */
static long top_sum(const int *v, int n, int k) {
    int *c = malloc((size_t)(n ? n : 1) * sizeof *c);
    memcpy(c, v, (size_t)n * sizeof *c);
    long s = 0;
    for (int j = 0; j < k && j < n; j++) {
        int b = j;
        for (int i = j + 1; i < n; i++)
            if (c[i] > c[b]) b = i;
        int t = c[j];
        c[j] = c[b];
        c[b] = t;
        s += c[j];
    }
    free(c);
    return s;
}

int main(int argc, char **argv) {
    if (rv_world_init(&argc, &argv)) {
        fprintf(stderr, "bench_gen: MPI did not start\n");
        return 1;
    }
    const rv_comm *dp = rv_comm_world();
    const char *model = NULL, *tests = NULL, *exp = NULL, *preset = NULL, *save = NULL, *tokpath = NULL, *tout = NULL;
    const char *label = "model";
    int per_task = 4, slots = 8, max_new = 64, threads = 1, repeat = 2, rollout_n = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return fail("every option takes a value");
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--tests")) tests = v;
        else if (!strcmp(a, "--per-task")) per_task = atoi(v);
        else if (!strcmp(a, "--export")) exp = v;
        else if (!strcmp(a, "--preset")) preset = v;
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--tokenizer")) tokpath = v;
        else if (!strcmp(a, "--slots")) slots = atoi(v);
        else if (!strcmp(a, "--max-new")) max_new = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--repeat")) repeat = atoi(v);
        else if (!strcmp(a, "--tokens-out")) tout = v;
        else if (!strcmp(a, "--label")) label = v;
        else if (!strcmp(a, "--rollout-n")) rollout_n = atoi(v);
        else {
            fprintf(stderr, "bench_gen: unknown option %s\n", a);
            rv_world_finalize();
            return 2;
        }
    }
    rv_err e;
    if (preset || save) {
        if (!preset || !save || !tokpath) return fail("--preset needs --save DIR and --tokenizer FILE");
        if (dp->rank == 0 && save_random(preset, tokpath, save, &e)) return fail(e.msg);
        rv_world_finalize();
        return 0;
    }
    if (!model || !tests) return fail("give --model HF_DIR and --tests FILE[,FILE...]");
    if (per_task < 1 || slots < 1 || max_new < 1 || threads < 1 || repeat < 1 || rollout_n < 0)
        return fail("--per-task, --slots, --max-new, --threads and --repeat must be >= 1, --rollout-n >= 0");

    rv_kctx *k = NULL;
    rv_model_cfg c;
    rv_weights w;
    rv_hf_info info;
    if (rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = threads}, &e) ||
        rv_hf_load(model, NULL, k, &c, &w, &info, &e))
        return fail(e.msg);
    rv_hf_info_free(&info);
    rv_tokenizer *tok = NULL;
    char *tp = tokpath ? rv_xstrdup(tokpath) : rv_path_join(model, "tokenizer.json");
    int rc = rv_tokenizer_load(tp, &tok, &e);
    free(tp);
    if (rc) return fail(e.msg);
    prompt_set P;
    if (build_prompts(&c, tok, tests, per_task, &P, &e)) return fail(e.msg);
    rv_tokenizer_free(tok);
    if (exp) {
        if (dp->rank == 0 && export_prompts(exp, &c, &P, &e)) return fail(e.msg);
        if (dp->rank == 0) printf("exported %d prompts to %s\n", P.n, exp);
        prompts_free(&P);
        rv_weights_free(&w);
        rvk_destroy(k);
        rv_world_finalize();
        return 0;
    }
    const int lo = (int)((long)P.n * dp->rank / dp->size), hi = (int)((long)P.n * (dp->rank + 1) / dp->size);
    const int n = hi - lo;
    rv_vlm m;
    if (rv_vlm_init(&m, k, &c, &w, false, &e)) return fail(e.msg);
    uint64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    int *lens = malloc((size_t)(n ? n : 1) * sizeof *lens), *tiles = malloc((size_t)(n ? n : 1) * sizeof *tiles);
    int cap = 0;
    long prompt_tokens = 0;
    for (int i = 0; i < n; i++) {
        ids[i] = (uint64_t)(lo + i);
        lens[i] = P.view[lo + i].len;
        tiles[i] = P.s[lo + i].image.n_tiles;
        prompt_tokens += lens[i];
        if (lens[i] + max_new > cap) cap = lens[i] + max_new;
    }
    rv_gen_loop_opts o = {.slots = slots, .max_new_tokens = max_new, .stop_ids = P.stop, .n_stop = P.n_stop, .seed = 1};
    /* rollouts: the queue holds every prompt rollout_n times, nseq sequences in all */
    const int reps = rollout_n ? rollout_n : 1, nseq = n * reps;
    rv_grpo_rollout_opts ro = {.n = reps, .max_response = max_new, .slots = slots, .seed = 1, .stop_ids = P.stop,
                               .n_stop = P.n_stop};
    rv_gen_result *out = calloc((size_t)(nseq ? nseq : 1), sizeof *out);
    if (n > 0) {
        /* warm-up, untimed: the activation plan at the size the timed runs need (one allocation,
         * as the eval phase makes once per task), then a 2-token run to touch its pages */
        const int S = slots < nseq ? slots : nseq;
        int *qlens = malloc((size_t)nseq * sizeof *qlens), *qtiles = malloc((size_t)nseq * sizeof *qtiles);
        for (int i = 0; i < nseq; i++) {
            qlens[i] = lens[i / reps];
            qtiles[i] = tiles[i / reps];
        }
        long mt = top_sum(qlens, nseq, S);
        if (mt < S) mt = S;
        rv_gen_loop_opts wo = o;
        wo.max_new_tokens = 2;
        rv_grpo_rollout_opts wro = ro;
        wro.max_response = 2;
        const int wp = (S + reps - 1) / reps < n ? (S + reps - 1) / reps : n; /* warm-up prompts */
        int rc = rv_vlm_plan_fit(&m, (int)mt, (int)top_sum(qtiles, nseq, S), S, cap, &e);
        if (!rc) rc = rollout_n ? rv_grpo_rollout(&m, P.view + lo, ids, wp, &wro, out, &e)
                                : rv_gen_loop(&m, P.view + lo, ids, S, &wo, out, &e);
        free(qlens);
        free(qtiles);
        if (rc) return fail(e.msg);
        rv_gen_results_free(out, rollout_n ? wp * reps : S);
    }
    double best = 1e30;
    long gen_tokens = 0;
    for (int r = 0; r < repeat; r++) {
        rv_comm_barrier(dp);
        double t0 = now_s();
        if (n > 0 && (rollout_n ? rv_grpo_rollout(&m, P.view + lo, ids, n, &ro, out, &e)
                                : rv_gen_loop(&m, P.view + lo, ids, n, &o, out, &e)))
            return fail(e.msg);
        double dt = rv_comm_max_f64(dp, now_s() - t0);
        if (dt < best) best = dt;
        long mine = 0;
        for (int i = 0; i < nseq; i++) mine += out[i].n;
        gen_tokens = (long)rv_comm_sum_f64(dp, (double)mine);
        if (r + 1 < repeat) rv_gen_results_free(out, nseq);
        if (dp->rank == 0)
            printf("run %d: %.3f s, %ld generated tokens = %.1f tokens/s\n", r + 1, dt, gen_tokens, gen_tokens / dt);
    }
    long all_prompt_tokens = (long)rv_comm_sum_f64(dp, (double)prompt_tokens);
    if (tout && !rollout_n) {
        char *p = rv_xasprintf("%s-r%d.txt", tout, dp->rank);
        FILE *f = fopen(p, "w");
        for (int i = 0; f && i < n; i++) {
            fprintf(f, "%d %d %d", lo + i, out[i].n, out[i].stopped);
            for (int t = 0; t < out[i].n; t++) fprintf(f, " %d", (int)out[i].tokens[t]);
            fprintf(f, "\n");
        }
        if (!f || fclose(f)) fprintf(stderr, "bench_gen: cannot write %s\n", p);
        free(p);
    }
    if (dp->rank == 0 && rollout_n)
        printf("RESULT impl=c model=%s ranks=%d threads=%d slots=%d n=%d prompts=%d sequences=%d max_new=%d "
               "tokens=%ld best_s=%.4f tokens_per_s=%.2f sequences_per_s=%.3f\n",
               label, dp->size, threads, slots, rollout_n, P.n, P.n * rollout_n, max_new, gen_tokens, best,
               gen_tokens / best, P.n * rollout_n / best);
    else if (dp->rank == 0)
        printf("RESULT impl=c model=%s ranks=%d threads=%d batch=%d prompts=%d prompt_tokens=%ld max_new=%d tokens=%ld "
               "best_s=%.4f tokens_per_s=%.2f samples_per_s=%.3f\n",
               label, dp->size, threads, slots, P.n, all_prompt_tokens, max_new, gen_tokens, best, gen_tokens / best,
               P.n / best);
    rv_gen_results_free(out, nseq);
    free(out);
    free(ids);
    free(lens);
    free(tiles);
    rv_vlm_free(&m);
    prompts_free(&P);
    rv_weights_free(&w);
    rvk_destroy(k);
    rv_world_finalize();
    return 0;
}
