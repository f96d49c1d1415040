/* Speed of an SFT training step, data parallel over MPI ranks, at the ~100M configuration
 * (bench_cfg.h "100m"; "tiny" for a quick check): one global batch of packed samples, forward +
 * backward over each rank's micro-batches, the gradient exchange, the global-norm clip and AdamW,
 * exactly the work of one optimizer step of the sft phase. Not a test: it prints step times,
 * tokens/s and, with --peak, the utilisation against a measured sgemm peak
 * (docs/performance.md, "SFT"). tests/bench/bench_sft.sh runs it next to bench_sft_torch.py.
 *
 * Usage: mpirun -n W bench_sft [--config 100m|tiny] [--threads N] [--steps K] [--warmup K]
 *                              [--max-tokens N] [--peak GFLOPS] [--export DIR]
 *
 * The workload (the same for any W): a global batch of 4 samples, in the order
 *   0: text + one image (base + 1 grid tile) + text      (bench_cfg.h shape: 800 tokens at 100m)
 *   1: text only, half that length
 *   2: like 0 with other ids and fewer targets
 *   3: like 1 with other ids and fewer targets
 * Each sample's targets are its last n tokens (an answer). Ranks take strided positions of the
 * length-sorted batch (as data/loader/sampler.h does), and each rank packs its samples in that
 * order into micro-batches of at most --max-tokens tokens (greedy, as sft packing does). Each
 * sample's loss is its token-mean cross-entropy weighted 1/global_batch (upstream's sample mean,
 * train.md A.5), so the summed gradient over ranks is the global-batch gradient.
 * --export DIR writes DIR/config.json (HF llava_onevision), DIR/workload.json (ids, targets,
 * images, the packing for 1 and 2 ranks) and DIR/pixels.bin (fp32 tiles) for bench_sft_torch.py,
 * then exits.
 *
 * The step compute: rv_sft_accumulate (train/sft_step.h, the sft phase's forward + backward over
 * its micro-batch plan) when the build has it (RV_HAVE_SFT_STEP), else the same calls inline
 * (rv_vlm_forward, rv_vlm_sft_dlogp with weight 1/G, rv_vlm_backward per micro-batch).
 * The optimizer step: rv_optim (train/optimizer.h) when the build has it (RV_HAVE_OPTIM), else an
 * equivalent sequence over the same calls it makes: bucketed in-place rank-order all-reduce of
 * the gradient arena (rv_comm_allreduce_f32), global norm (rvk_sumsq), clip coefficient
 * (rvk_clip_scale, max norm 1.0) and rvk_adamw_step per tensor with its group's LR
 * (train/param_groups.h: vision 2e-6, others 1e-5; weight decay 0). Machine-readable lines start
 * with "RESULT ". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_cfg.h"
#include "comm/comm.h"
#include "comm/world.h"
#include "core/fsutil.h"
#include "core/strbuf.h"
#include "model/vlm.h"
#include "train/param_groups.h"
#ifdef RV_HAVE_SFT_STEP
#include "train/sft_step.h"
#endif
#ifdef RV_HAVE_OPTIM
#include "train/optimizer.h"
#endif

#define GLOBAL_BATCH 4
#define MAX_RANKS_EXPORTED 2
#define BUCKET_ELEMS ((size_t)1 << 22) /* 16 MiB of fp32 per all-reduce call */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One sample of the workload: ids [len] with the image placeholder run expanded, targets the
 * last n_target tokens, at most one image. */
typedef struct bsample {
    int32_t *ids;
    uint8_t *mask;
    int len, n_target, has_image, n_tiles;
    float *pix;                 /* [n_tiles, 3, S, S] or NULL */
    rv_vlm_image img;
} bsample;

/* The workload; see the header comment. */
static void make_workload(const rv_model_cfg *c, const shape *sh, bsample *s) {
    const int V = c->text.vocab, S = c->vision.image_size;
    const int n_tiles = rv_vlm_image_tiles(c, sh->img, sh->img);
    const int n_img = rv_vlm_image_tokens(c, n_tiles, sh->img, sh->img);
    const int Limg = sh->pre + n_img + sh->post;
    uint64_t st = 4242;
    for (int k = 0; k < GLOBAL_BATCH; k++) {
        bsample *b = &s[k];
        memset(b, 0, sizeof *b);
        b->has_image = k % 2 == 0;
        b->len = b->has_image ? Limg : Limg / 2;
        b->n_target = b->has_image ? sh->n_target - (k / 2) * sh->n_target / 4 : sh->n_target * 3 / 4 - (k / 2) * sh->n_target / 4;
        b->ids = malloc((size_t)b->len * sizeof *b->ids);
        b->mask = calloc((size_t)b->len, 1);
        if (b->has_image) {
            text_ids(b->ids, sh->pre, V, c->image_token_id, &st);
            for (int i = 0; i < n_img; i++) b->ids[sh->pre + i] = c->image_token_id;
            text_ids(b->ids + sh->pre + n_img, sh->post, V, c->image_token_id, &st);
            b->n_tiles = n_tiles;
            size_t np = (size_t)n_tiles * 3 * S * S;
            b->pix = malloc(np * sizeof *b->pix);
            for (size_t i = 0; i < np; i++) b->pix[i] = (float)(lcg(&st) % 20000) / 10000.0f - 1.0f;
            b->img = (rv_vlm_image){.tiles = b->pix, .n_tiles = n_tiles, .orig_h = sh->img, .orig_w = sh->img};
        } else {
            text_ids(b->ids, b->len, V, c->image_token_id, &st);
        }
        for (int t = b->len - b->n_target; t < b->len; t++) b->mask[t] = 1;
    }
}

/* Rank r of W: strided positions of the length-sorted batch (stable: longest first, ties by
 * index), the sampler's rule. order[] gets this rank's sample indices; returns their count. */
static int rank_samples(const bsample *s, int r, int W, int *order) {
    int sorted[GLOBAL_BATCH], n = 0;
    for (int i = 0; i < GLOBAL_BATCH; i++) sorted[i] = i;
    for (int i = 1; i < GLOBAL_BATCH; i++)
        for (int j = i; j > 0 && s[sorted[j]].len > s[sorted[j - 1]].len; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    for (int p = r; p < GLOBAL_BATCH; p += W) order[n++] = sorted[p];
    return n;
}

/* Greedy packing of order[0..n) into micro-batches of at most max_tokens (a longer sample goes
 * alone). mb_start[j] = first position of micro-batch j (mb_start[nmb] = n); returns nmb. */
static int pack(const bsample *s, const int *order, int n, int max_tokens, int *mb_start) {
    int nmb = 0, tok = 0;
    for (int i = 0; i < n; i++) {
        int L = s[order[i]].len;
        if (i == 0 || tok + L > max_tokens) {
            mb_start[nmb++] = i;
            tok = 0;
        }
        tok += L;
    }
    mb_start[nmb] = n;
    return nmb;
}

static int export_dir(const char *dir, const rv_model_cfg *c, const shape *sh, const bsample *s, int max_tokens,
                      rv_err *err) {
    char path[4096];
    rv_sb o;
    if (rv_mkdir_p(dir, err)) return -1;
    rv_sb_init(&o);
    rv_model_cfg_to_hf_json(c, &o);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (rv_write_atomic(path, o.s, o.len, err)) return rv_sb_free(&o), -1;
    rv_sb_clear(&o);
    const size_t S = (size_t)c->vision.image_size;
    size_t off = 0;
    rv_sb_printf(&o, "{\n  \"config\": \"%s\",\n  \"global_batch\": %d,\n  \"max_tokens\": %d,\n  \"samples\": [\n",
                 c->name, GLOBAL_BATCH, max_tokens);
    for (int k = 0; k < GLOBAL_BATCH; k++) {
        const bsample *b = &s[k];
        rv_sb_printf(&o, "    {\"ids\": [");
        for (int i = 0; i < b->len; i++) rv_sb_printf(&o, "%s%d", i ? "," : "", b->ids[i]);
        rv_sb_printf(&o, "], \"target_start\": %d, \"n_tiles\": %d, \"image_hw\": [%d, %d], \"pixel_offset\": %zu}%s\n",
                     b->len - b->n_target, b->n_tiles, b->has_image ? sh->img : 0, b->has_image ? sh->img : 0, off,
                     k + 1 < GLOBAL_BATCH ? "," : "");
        off += (size_t)b->n_tiles * 3 * S * S;
    }
    rv_sb_printf(&o, "  ],\n  \"packing\": {");
    for (int W = 1; W <= MAX_RANKS_EXPORTED; W++) {
        rv_sb_printf(&o, "%s\n    \"%d\": [", W > 1 ? "," : "", W);
        for (int r = 0; r < W; r++) {
            int order[GLOBAL_BATCH], mb[GLOBAL_BATCH + 1];
            int n = rank_samples(s, r, W, order), nmb = pack(s, order, n, max_tokens, mb);
            rv_sb_printf(&o, "%s[", r ? ", " : "");
            for (int j = 0; j < nmb; j++) {
                rv_sb_printf(&o, "%s[", j ? ", " : "");
                for (int i = mb[j]; i < mb[j + 1]; i++) rv_sb_printf(&o, "%s%d", i > mb[j] ? ", " : "", order[i]);
                rv_sb_printf(&o, "]");
            }
            rv_sb_printf(&o, "]");
        }
        rv_sb_printf(&o, "]");
    }
    rv_sb_printf(&o, "\n  }\n}\n");
    snprintf(path, sizeof path, "%s/workload.json", dir);
    int rc = rv_write_atomic(path, o.s, o.len, err);
    rv_sb_free(&o);
    if (rc) return -1;
    snprintf(path, sizeof path, "%s/pixels.bin", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return rv_fail(err, "bench_sft: cannot write %s", path);
    for (int k = 0; k < GLOBAL_BATCH; k++)
        if (s[k].pix && fwrite(s[k].pix, sizeof(float), (size_t)s[k].n_tiles * 3 * S * S, f) !=
                            (size_t)s[k].n_tiles * 3 * S * S) {
            fclose(f);
            return rv_fail(err, "bench_sft: short write to %s", path);
        }
    if (fclose(f)) return rv_fail(err, "bench_sft: cannot close %s", path);
    return 0;
}

#ifndef RV_HAVE_OPTIM
/* The optimizer step without train/optimizer.h: the calls rv_optim_step makes, in its order. */
typedef struct fallback_opt {
    float *m, *v;
    int64_t step;
} fallback_opt;

static void fallback_step(rv_kctx *k, rv_weights *w, const rv_param_groups *pg, const rv_comm *dp, fallback_opt *o,
                          double *norm_out) {
    for (size_t off = 0; off < w->total && dp->size > 1; off += BUCKET_ELEMS) {
        size_t n = w->total - off < BUCKET_ELEMS ? w->total - off : BUCKET_ELEMS;
        rv_comm_allreduce_f32(dp, w->grads + off, w->grads + off, n, RV_COMM_SUM);
    }
    double ss = 0;
    for (int g = 0; g < RV_PG_COUNT; g++) {
        if (!pg->g[g].trainable) continue;
        for (size_t j = 0; j < pg->g[g].ntensors; j++) {
            const rv_wtensor *t = &w->t[pg->g[g].tensors[j]];
            ss += rvk_sumsq(k, w->grads + t->offset, t->numel);
        }
    }
    double norm = sqrt(ss);
    *norm_out = norm;
    float clip = rvk_clip_scale(norm, 1.0f);
    o->step++;
    for (int g = 0; g < RV_PG_COUNT; g++) {
        const rv_param_group *G = &pg->g[g];
        if (!G->trainable) continue;
        rvk_adamw_hp hp = {.lr = G->lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = G->weight_decay,
                           .step = (int)o->step, .grad_scale = clip};
        for (size_t j = 0; j < G->ntensors; j++) {
            const rv_wtensor *t = &w->t[G->tensors[j]];
            rvk_adamw_step(k, w->params + t->offset, w->grads + t->offset, o->m + t->offset, o->v + t->offset,
                           t->numel, &hp, G->decay ? 0 : RVK_ADAMW_NO_DECAY);
        }
    }
    rvk_shadow_refresh(k, w->params, w->total); /* the masters changed: re-round the bf16 weight copy */
    rv_weights_zero_grads(w);
}
#endif

static int fail(const char *msg) {
    fprintf(stderr, "bench_sft: %s\n", msg);
    rv_world_finalize();
    return 1;
}

int main(int argc, char **argv) {
    if (rv_world_init(&argc, &argv)) {
        fprintf(stderr, "bench_sft: MPI did not start\n");
        return 1;
    }
    const rv_comm *dp = rv_comm_world();
    const char *cfgname = "100m", *exp = NULL;
    int threads = 1, steps = 3, warmup = 1, max_tokens = 2048;
    double peak = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) return fail("an option needs a value");
        if (!strcmp(a, "--config")) cfgname = val;
        else if (!strcmp(a, "--threads")) threads = atoi(val);
        else if (!strcmp(a, "--steps")) steps = atoi(val);
        else if (!strcmp(a, "--warmup")) warmup = atoi(val);
        else if (!strcmp(a, "--max-tokens")) max_tokens = atoi(val);
        else if (!strcmp(a, "--peak")) peak = atof(val);
        else if (!strcmp(a, "--export")) exp = val;
        else {
            fprintf(stderr, "bench_sft: unknown option %s\n", a);
            rv_world_finalize();
            return 2;
        }
        i++;
    }
    if (threads < 1 || steps < 1 || warmup < 0 || max_tokens < 1) return fail("--threads, --steps, --max-tokens >= 1");
    if (dp->size > GLOBAL_BATCH) return fail("more ranks than samples in the global batch (4)");
    rv_err e;
    rv_model_cfg c;
    shape sh = {0};
    if (make_cfg(cfgname, &c, &sh, &e) || rv_model_cfg_validate(&c, &e)) return fail(e.msg);
    bsample s[GLOBAL_BATCH];
    make_workload(&c, &sh, s);
    if (exp) {
        int rc = dp->rank == 0 ? export_dir(exp, &c, &sh, s, max_tokens, &e) : 0;
        if (rc) return fail(e.msg);
        if (dp->rank == 0) printf("exported %s config, workload and pixels to %s\n", cfgname, exp);
        rv_world_finalize();
        return 0;
    }
    int order[GLOBAL_BATCH], mb[GLOBAL_BATCH + 1];
    int nmine = rank_samples(s, dp->rank, dp->size, order), nmb = pack(s, order, nmine, max_tokens, mb);
    double flops = 0;
    long tokens = 0, targets = 0;
    for (int k = 0; k < GLOBAL_BATCH; k++) {
        flops += 3 * fwd_flops(&c, s[k].n_tiles, s[k].len, s[k].n_target, NULL, NULL);
        tokens += s[k].len;
        targets += s[k].n_target;
    }

    rv_weights w;
    rv_kctx *k;
    rv_vlm m;
    rvk_cpu_opts ko = {.nthreads = threads};
    if (rvk_create(&k, "cpu", &ko, &e) || rv_weights_build(&w, &c, k, &e) || rv_weights_init_random(&w, 7, 0.02f, &e) ||
        rv_vlm_init(&m, k, &c, &w, true, &e))
        return fail(e.msg);
    rv_pg_config pgc = {.lr = {2e-6, 1e-5, 1e-5}, .trainable = {true, true, true}, .weight_decay = 0};
    rv_param_groups pg;
    if (rv_param_groups_build(&pg, &w, &pgc, &e)) return fail(e.msg);
#ifdef RV_HAVE_OPTIM
    rv_optim *opt;
    rv_optim_cfg oc = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .max_grad_norm = 1.0,
                       .zero = getenv("BENCH_ZERO") ? atoi(getenv("BENCH_ZERO")) : 0, .bucket_elems = BUCKET_ELEMS};
    if (rv_optim_create(&opt, &w, &pg, dp, &oc, &e)) return fail(e.msg);
    const char *optname = oc.zero ? "rv_optim (ZeRO-1)" : "rv_optim";
#else
    fallback_opt fo = {.m = rvk_alloc(k, w.total), .v = rvk_alloc(k, w.total)};
    const char *optname = "fallback (all-reduce + clip + rvk_adamw_step)";
#endif
    if (dp->rank == 0) {
        printf("config %s: %.2fM parameters; %d rank(s) x %d thread(s); optimizer %s\n", cfgname, w.total / 1e6,
               dp->size, threads, optname);
        printf("global batch: %d samples, %ld tokens (%ld targets), train FLOPs %.2f GFLOP (3 x forward); "
               "max_tokens %d; rank 0 micro-batches:",
               GLOBAL_BATCH, tokens, targets, flops * 1e-9, max_tokens);
        for (int j = 0; j < nmb; j++) {
            int t = 0;
            for (int i = mb[j]; i < mb[j + 1]; i++) t += s[order[i]].len;
            printf(" [%d samples, %d tokens]", mb[j + 1] - mb[j], t);
        }
        printf("\n");
        fflush(stdout);
    }

    int total = warmup + steps;
    double *tstep = calloc((size_t)total, sizeof *tstep), *tfb = calloc((size_t)total, sizeof *tfb);
    rv_sample ms[GLOBAL_BATCH];
#ifdef RV_HAVE_SFT_STEP
    float wt[GLOBAL_BATCH];
    const char *stepname = "rv_sft_accumulate (train/sft_step.h)";
#else
    float *dl[GLOBAL_BATCH];
    const char *stepname = "rv_vlm_forward/backward per micro-batch";
#endif
    if (dp->rank == 0) printf("step compute: %s\n", stepname);
    rv_weights_zero_grads(&w);
    for (int st = 0; st < total; st++) {
        rv_comm_barrier(dp);
        double t0 = now(), lsum = 0;
#ifdef RV_HAVE_SFT_STEP
        /* the phase's own step compute: its micro-batch plan, forward, weighted CE, backward */
        for (int i = 0; i < nmine; i++) {
            const bsample *b = &s[order[i]];
            ms[i] = (rv_sample){.ids = b->ids, .len = b->len, .mask = b->mask, .images = b->has_image ? &b->img : NULL,
                                .n_images = b->has_image};
            wt[i] = 1.0f / GLOBAL_BATCH;
        }
        if (rv_sft_accumulate(&m, ms, nmine, max_tokens, wt, &lsum, NULL, &e)) rv_die("%s", e.msg);
#else
        for (int j = 0; j < nmb; j++) {
            int n = mb[j + 1] - mb[j];
            for (int i = 0; i < n; i++) {
                const bsample *b = &s[order[mb[j] + i]];
                ms[i] = (rv_sample){.ids = b->ids, .len = b->len, .mask = b->mask, .images = b->has_image ? &b->img : NULL,
                                    .n_images = b->has_image};
            }
            rv_vlm_pass *p;
            if (rv_vlm_forward(&m, ms, n, true, &p, &e)) rv_die("%s", e.msg);
            for (int i = 0; i < n; i++) {
                dl[i] = malloc((size_t)ms[i].len * sizeof(float));
                lsum += rv_vlm_sft_dlogp(p, i, 1.0f / GLOBAL_BATCH, dl[i]) / GLOBAL_BATCH;
            }
            if (rv_vlm_backward(&m, p, (const float *const *)dl, &e)) rv_die("%s", e.msg);
            for (int i = 0; i < n; i++) free(dl[i]);
            rv_vlm_pass_free(&m, p);
        }
#endif
        double t1 = now(), norm;
#ifdef RV_HAVE_OPTIM
        rv_optim_stats ost;
        if (rv_optim_step(opt, 1.0, &ost, &e)) rv_die("%s", e.msg);
        norm = ost.grad_norm;
#else
        fallback_step(k, &w, &pg, dp, &fo, &norm);
#endif
        double loss = rv_comm_sum_f64(dp, lsum);
        double t2 = now();
        tstep[st] = rv_comm_max_f64(dp, t2 - t0);
        tfb[st] = rv_comm_max_f64(dp, t1 - t0);
        if (dp->rank == 0) {
            printf("step %d%s: loss %.4f grad_norm %.4f  %.3f s (fwd+bwd %.3f, exchange+optimizer %.3f) = %.1f tokens/s\n",
                   st + 1, st < warmup ? " (warm-up)" : "", loss, norm, tstep[st], tfb[st], tstep[st] - tfb[st],
                   tokens / tstep[st]);
            fflush(stdout);
        }
    }
    if (dp->rank == 0) {
        double *ts = tstep + warmup, *tf = tfb + warmup;
        double tsum = 0;
        for (int i = 0; i < steps; i++) tsum += ts[i];
        double best = ts[0], fbbest = tf[0];
        for (int i = 1; i < steps; i++)
            if (ts[i] < best) best = ts[i], fbbest = tf[i];
        qsort(ts, (size_t)steps, sizeof *ts, cmp_dbl);
        double med = steps % 2 ? ts[steps / 2] : 0.5 * (ts[steps / 2 - 1] + ts[steps / 2]);
        double gf = flops / best * 1e-9;
        printf("best step %.3f s (median %.3f, mean %.3f over %d) = %.1f tokens/s, %.2f GFLOP/s", best, med, tsum / steps,
               steps, tokens / best, gf);
        if (peak > 0) printf(", %.1f%% of the %.1f GFLOP/s sgemm peak", 100 * gf / peak, peak);
        printf("\n");
        printf("RESULT impl=c config=%s ranks=%d threads=%d what=sft_step best_s=%.6g median_s=%.6g fb_s=%.6g "
               "tokens=%ld tokens_per_s=%.6g flops=%.6g steps=%d\n",
               cfgname, dp->size, threads, best, med, fbbest, tokens, tokens / best, flops, steps);
    }
    free(tstep), free(tfb);
#ifdef RV_HAVE_OPTIM
    rv_optim_free(opt);
#else
    rvk_free(k, fo.m);
    rvk_free(k, fo.v);
#endif
    rv_param_groups_free(&pg);
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    for (int i = 0; i < GLOBAL_BATCH; i++) free(s[i].ids), free(s[i].mask), free(s[i].pix);
    rv_world_finalize();
    return 0;
}
