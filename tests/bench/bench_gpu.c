/* SFT training speed and MFU, and decode speed, of a LLaVA-OneVision shape on one device: part (d)
 * of tests/gpu/run.sh (docs/performance.md, "GPU"). Not a test: it prints measurements.
 *
 * Usage: bench_gpu [--config 0.5b|7b|100m|tiny] [--backend cuda|cpu] [--layers N | --mem-gib G]
 *                  [--tokens T] [--steps K] [--warmup K] [--peak-tflops P] [--decode-batch B]
 *                  [--decode-new N] [--threads N] [--recompute none|layers|layers-bf16]
 *        bench_gpu --attention full|small [--backend cuda|cpu] [--steps K] [--peak-tflops P]
 *
 * --attention: the attention micro-benchmark instead (the data that decides when
 * RADVLM_CUDA_ATTN=auto trains with the fused kernels, cuda_impl.h RVK_CU_FLASH_IN_AUTO): per shape,
 * a context with RADVLM_CUDA_ATTN=gemm and one with =flash, each timing the forward and forward +
 * backward (best of K after a warm-up), on random inputs with the host offsets given:
 *   llm     2 x 2048 tokens packed, causal, Hq 28 / Hkv 4, D 128 (Qwen2-7B's attention)
 *   siglip  16 x 729-token tiles, bidirectional, Hq = Hkv = 16, D 72 (SigLIP-so400m's)
 * ("small": the lengths / 16, to check the program itself, e.g. on the CPU backend). FLOPs:
 * forward 4 D Hq x (visible query-key pairs), forward + backward 3.5x that (2 + 5 matmuls);
 * TFLOP/s against --peak-tflops when given. Also printed: the normwise difference of out and dq
 * between the two paths, and whether two flash runs give bitwise the same dq, dk, dv
 * (determinism). RESULT lines: what=attention shape=... path=gemm|flash fwd_ms bwd_ms ...
 *
 * --recompute: the phases' compute.recompute = layers (with compute.activation_dtype = bf16 for
 * layers-bf16): only each layer's input is kept and the layer re-run in the backward, which
 * shrinks the plan so a 7B shape fits with all its layers (docs/model.md "Activation plan").
 * Model: the preset (model/config.c) with random weights: one N(0, 0.02) block of 16 Mi values
 * tiled over the parameter arena (the timing does not depend on the values; generating 7 B
 * normals on the host would take minutes). Decoder layers: --layers N, or the most that fit in
 * --mem-gib G of device memory by the estimate below, or the preset's. The layer count used is
 * printed (the "layers=" field of the RESULT lines): a 7B shape that does not fit is measured with
 * fewer layers, and says so.
 * Memory estimate (every rank of one): 16 bytes per parameter (fp32 weights, gradients, AdamW m
 * and v) + 2 bytes per parameter (a bf16 copy of the weights for the tensor cores, if the backend
 * keeps one) + the activation plan of the step's micro-batch (rv_vlm_plan_bytes for its tokens, tiles
 * and samples; the sft phase would size it for its largest anyres canvas), against 85% of G (cuBLAS workspaces, the CUDA context, fragmentation).
 *
 * SFT step: T tokens per step in samples of about 2048 tokens, each = 16 text tokens + one
 * 384 x 384 image (anyres: base + one grid tile) + text; the last 256 tokens of each are targets.
 * One micro-batch (sft.max_tokens = T), the phase's step compute (rv_sft_accumulate) and the
 * optimizer step (rv_optim_step: norm, clip, AdamW; one rank: no exchange). Time per step after a
 * device sync; FLOPs = 3 x the forward's (tests/bench/bench_cfg.h fwd_flops: matmuls, attention
 * over the causal half, the lm_head over the target rows only, SigLIP and the projector); MFU = FLOPs
 * / time / (--peak-tflops x 1e12), the device's dense bf16 peak.
 * Decode: rv_vlm_generate, greedy, B text prompts of 128 tokens, N new tokens each, no stop token;
 * decode tokens/s = B (N - 1) / (t(N new) - t(1 new)) (the prefill and first token subtracted).
 * Machine-readable lines start with "RESULT ". */
#define _POSIX_C_SOURCE 200809L /* setenv: one context per attention path */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_cfg.h"
#include "comm/comm.h"
#include "core/rng.h"
#include "model/generate.h"
#include "model/vlm.h"
#include "train/optimizer.h"
#include "train/param_groups.h"
#include "train/sft_step.h"

#define SAMPLE_TOKENS 2048
#define SAMPLE_TARGETS 256
#define IMG 384
#define TILE_BLOCK ((size_t)1 << 24)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what, const char *msg) {
    fprintf(stderr, "bench_gpu: %s: %s\n", what, msg);
    return 1;
}

/* Bytes one rank needs for a training run of c at max_tokens (see the header); params gets the
 * parameter count. -1 (as SIZE_MAX) on failure. */
static size_t estimate(const rv_model_cfg *c, const rv_vlm_limits *lim, const rv_vlm_memory *mem, size_t *params,
                       rv_err *e) {
    rv_weights w;
    if (rv_weights_layout(&w, c, e)) return (size_t)-1;
    rv_kctx *k;
    rv_vlm m;
    size_t plan = (size_t)-1;
    if (!rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, e)) {
        if (!rv_vlm_init(&m, k, c, &w, false, e)) {
            m.grads = true; /* the training layout, as sft.dry_run measures it */
            if (!rv_vlm_set_memory(&m, mem, e)) plan = rv_vlm_plan_bytes(&m, lim);
            m.grads = false;
            rv_vlm_free(&m);
        }
        rvk_destroy(k);
    }
    *params = w.total;
    rv_weights_free(&w);
    return plan == (size_t)-1 ? plan : *params * 18 + plan;
}

/* The workload: n samples of about SAMPLE_TOKENS tokens, each with one image. */
typedef struct work {
    int n;
    rv_sample *s;
    int32_t **ids;
    uint8_t **mask;
    float *pix;
    rv_vlm_image img;
    int tiles, img_tokens;
} work;

static void make_work(const rv_model_cfg *c, int tokens, work *wk) {
    const int S = c->vision.image_size, V = c->text.vocab;
    wk->tiles = rv_vlm_image_tiles(c, IMG, IMG);
    wk->img_tokens = rv_vlm_image_tokens(c, wk->tiles, IMG, IMG);
    int len = SAMPLE_TOKENS > wk->img_tokens + 16 + SAMPLE_TARGETS ? SAMPLE_TOKENS : wk->img_tokens + 16 + SAMPLE_TARGETS;
    wk->n = tokens / len > 0 ? tokens / len : 1;
    wk->s = calloc((size_t)wk->n, sizeof *wk->s);
    wk->ids = calloc((size_t)wk->n, sizeof *wk->ids);
    wk->mask = calloc((size_t)wk->n, sizeof *wk->mask);
    size_t np = (size_t)wk->tiles * 3 * S * S;
    wk->pix = malloc(np * sizeof *wk->pix);
    uint64_t st = 12345;
    for (size_t i = 0; i < np; i++) wk->pix[i] = (float)(lcg(&st) % 20000) / 10000.0f - 1.0f;
    wk->img = (rv_vlm_image){.tiles = wk->pix, .n_tiles = wk->tiles, .orig_h = IMG, .orig_w = IMG};
    for (int i = 0; i < wk->n; i++) {
        int32_t *ids = malloc((size_t)len * sizeof *ids);
        uint8_t *mask = calloc((size_t)len, 1);
        text_ids(ids, 16, V, c->image_token_id, &st);
        for (int t = 0; t < wk->img_tokens; t++) ids[16 + t] = c->image_token_id;
        text_ids(ids + 16 + wk->img_tokens, len - 16 - wk->img_tokens, V, c->image_token_id, &st);
        for (int t = len - SAMPLE_TARGETS; t < len; t++) mask[t] = 1;
        wk->ids[i] = ids, wk->mask[i] = mask;
        wk->s[i] = (rv_sample){.ids = ids, .len = len, .mask = mask, .images = &wk->img, .n_images = 1};
    }
}

static void free_work(work *wk) {
    for (int i = 0; i < wk->n; i++) free(wk->ids[i]), free(wk->mask[i]);
    free(wk->ids), free(wk->mask), free(wk->s), free(wk->pix);
}

/* One N(0, 0.02) block tiled over the arena (see the header). */
static int fill_random(rv_weights *w, rv_err *e) {
    size_t nb = w->total < TILE_BLOCK ? w->total : TILE_BLOCK;
    float *blk = malloc(nb * sizeof *blk);
    rv_rng r;
    rv_rng_init(&r, 7, 0, 0);
    for (size_t i = 0; i < nb; i++) blk[i] = (float)(0.02 * rv_rng_normal(&r));
    for (size_t off = 0; off < w->total; off += nb)
        rvk_upload(w->k, w->params + off, blk, w->total - off < nb ? w->total - off : nb);
    rvk_shadow_refresh(w->k, w->params, w->total); /* raw parameter writes: re-round the bf16 weight copy */
    free(blk);
    return rvk_sync(w->k, e);
}

/* ---- the attention micro-benchmark (--attention) ---- */

typedef struct attn_shape {
    const char *name;
    int nseq, len, Hq, Hkv, D, causal;
} attn_shape;

/* normwise ||a - b|| / ||b|| */
static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)b[i] * b[i];
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

/* One path (RADVLM_CUDA_ATTN=path) on one shape: best forward and forward + backward times in
 * seconds; out / dq / dk / dv of the last run into the host buffers (dq2.. of a second identical
 * backward, for the determinism check). 0 on success. */
static int attn_time(const char *backend, const char *path, const attn_shape *sh, int steps, const float *hq,
                     const float *hk, const float *hv, const float *hdo, float *hout, float *hdq, float *hdk,
                     float *hdv, float *hdq2, float *hdk2, float *hdv2, double *t_fwd, double *t_all) {
    setenv("RADVLM_CUDA_ATTN", path, 1); /* read once, when the context is created */
    rv_err e;
    rv_kctx *k;
    if (rvk_create(&k, backend, &(rvk_cpu_opts){.nthreads = 0}, &e)) {
        printf("bench_gpu: SKIP: backend %s cannot run here: %s\n", backend, e.msg);
        return 77;
    }
    const int T = sh->nseq * sh->len;
    const size_t nq = (size_t)T * sh->Hq * sh->D, nk = (size_t)T * sh->Hkv * sh->D;
    int32_t *cu = malloc((size_t)(sh->nseq + 1) * sizeof *cu);
    for (int s = 0; s <= sh->nseq; s++) cu[s] = s * sh->len;
    int32_t *dcu = rvk_alloc_i32(k, (size_t)sh->nseq + 1);
    rvk_upload_i32(k, dcu, cu, (size_t)sh->nseq + 1);
    float *q = rvk_alloc(k, nq), *kk = rvk_alloc(k, nk), *v = rvk_alloc(k, nk), *dout = rvk_alloc(k, nq);
    float *out = rvk_alloc(k, nq), *lse = rvk_alloc(k, (size_t)T * sh->Hq);
    float *dq = rvk_alloc(k, nq), *dk = rvk_alloc(k, nk), *dv = rvk_alloc(k, nk);
    rvk_upload(k, q, hq, nq), rvk_upload(k, kk, hk, nk), rvk_upload(k, v, hv, nk), rvk_upload(k, dout, hdo, nq);
    rvk_attn a = {.nseq = sh->nseq, .cu_q = dcu, .Tq = T, .Tk = T, .Hq = sh->Hq, .Hkv = sh->Hkv, .D = sh->D,
                  .scale = 1.0f / sqrtf((float)sh->D), .causal = sh->causal, .host_cu_q = cu};
    int rc = 0;
    *t_fwd = *t_all = INFINITY;
    for (int it = 0; it < steps + 1 && !rc; it++) { /* it 0: warm-up */
        double t0 = now();
        rc = rvk_attention_fwd(k, out, lse, q, kk, v, &a, &e) || rvk_sync(k, &e);
        double t1 = now();
        rc = rc || rvk_attention_bwd(k, dq, dk, dv, dout, q, kk, v, out, lse, &a, 0, &e) || rvk_sync(k, &e);
        double t2 = now();
        if (it > 0) *t_fwd = fmin(*t_fwd, t1 - t0), *t_all = fmin(*t_all, t2 - t0);
    }
    if (!rc) {
        rvk_download(k, hout, out, nq), rvk_download(k, hdq, dq, nq), rvk_download(k, hdk, dk, nk),
            rvk_download(k, hdv, dv, nk);
        rc = rvk_sync(k, &e); /* host buffers complete before the second backward overwrites dq */
        rc = rc || rvk_attention_bwd(k, dq, dk, dv, dout, q, kk, v, out, lse, &a, 0, &e);
        if (!rc) rvk_download(k, hdq2, dq, nq), rvk_download(k, hdk2, dk, nk), rvk_download(k, hdv2, dv, nk);
        rc = rc || rvk_sync(k, &e);
    }
    if (rc) fprintf(stderr, "bench_gpu: attention (%s, %s): %s\n", sh->name, path, e.msg);
    rvk_free(k, q), rvk_free(k, kk), rvk_free(k, v), rvk_free(k, dout), rvk_free(k, out), rvk_free(k, lse);
    rvk_free(k, dq), rvk_free(k, dk), rvk_free(k, dv);
    rvk_free(k, dcu);
    free(cu);
    rvk_destroy(k);
    return rc ? 1 : 0;
}

static int bench_attention(const char *backend, int small, int steps, double peak) {
    const attn_shape shapes[2] = {
        {"llm", 2, small ? 128 : 2048, 28, 4, 128, 1},
        {"siglip", 16, small ? 46 : 729, 16, 16, 72, 0},
    };
    static const char *paths[2] = {"gemm", "flash"};
    int rc = 0;
    for (int si = 0; si < 2 && !rc; si++) {
        const attn_shape *sh = &shapes[si];
        const int T = sh->nseq * sh->len;
        const size_t nq = (size_t)T * sh->Hq * sh->D, nk = (size_t)T * sh->Hkv * sh->D;
        /* visible (query, key) pairs: L (L + 1) / 2 per causal sequence, L^2 bidirectional */
        double pairs = sh->nseq * (sh->causal ? 0.5 * sh->len * (sh->len + 1.0) : (double)sh->len * sh->len);
        double ffwd = 4.0 * sh->D * sh->Hq * pairs, fall = 3.5 * ffwd;
        uint64_t st = 99 + si;
        float *h[4], *res[2][7];
        size_t n4[4] = {nq, nk, nk, nq};
        for (int i = 0; i < 4; i++) {
            h[i] = malloc(n4[i] * sizeof(float));
            for (size_t j = 0; j < n4[i]; j++) h[i][j] = (float)(lcg(&st) % 20001) / 10000.0f - 1.0f;
        }
        const size_t nres[7] = {nq, nq, nk, nk, nq, nk, nk}; /* out dq dk dv, dq2 dk2 dv2 */
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < 7; i++) res[p][i] = malloc(nres[i] * sizeof(float));
        printf("attention %s: %d x %d tokens, %s, Hq %d / Hkv %d, D %d; %.3g GFLOP forward, %.3g forward + backward\n",
               sh->name, sh->nseq, sh->len, sh->causal ? "causal" : "bidirectional", sh->Hq, sh->Hkv, sh->D,
               ffwd * 1e-9, fall * 1e-9);
        double tf[2] = {0, 0}, ta[2] = {0, 0};
        for (int p = 0; p < 2 && !rc; p++) {
            rc = attn_time(backend, paths[p], sh, steps, h[0], h[1], h[2], h[3], res[p][0], res[p][1], res[p][2],
                           res[p][3], res[p][4], res[p][5], res[p][6], &tf[p], &ta[p]);
            if (rc) break;
            int det = !memcmp(res[p][1], res[p][4], nq * sizeof(float)) &&
                      !memcmp(res[p][2], res[p][5], nk * sizeof(float)) && !memcmp(res[p][3], res[p][6], nk * sizeof(float));
            printf("  %-5s forward %8.3f ms (%6.1f TFLOP/s)  forward+backward %8.3f ms (%6.1f TFLOP/s)  backward "
                   "bitwise repeatable: %s\n",
                   paths[p], tf[p] * 1e3, ffwd / tf[p] * 1e-12, ta[p] * 1e3, fall / ta[p] * 1e-12, det ? "yes" : "NO");
            printf("RESULT what=attention shape=%s path=%s fwd_ms=%.6g fwdbwd_ms=%.6g fwd_tflops=%.6g "
                   "fwdbwd_tflops=%.6g fwdbwd_mfu=%.6g deterministic=%d\n",
                   sh->name, paths[p], tf[p] * 1e3, ta[p] * 1e3, ffwd / tf[p] * 1e-12, fall / ta[p] * 1e-12,
                   peak > 0 ? fall / ta[p] / (peak * 1e12) : -1.0, det);
        }
        if (!rc) {
            double dout_ = rel_diff(res[1][0], res[0][0], nq), ddq = rel_diff(res[1][1], res[0][1], nq);
            double ddk = rel_diff(res[1][2], res[0][2], nk), ddv = rel_diff(res[1][3], res[0][3], nk);
            printf("  flash vs gemm (normwise): out %.3g dq %.3g dk %.3g dv %.3g; forward+backward speed-up %.2fx\n",
                   dout_, ddq, ddk, ddv, ta[0] / ta[1]);
            printf("RESULT what=attention_compare shape=%s diff_out=%.6g diff_dq=%.6g diff_dk=%.6g diff_dv=%.6g "
                   "speedup_fwd=%.6g speedup_fwdbwd=%.6g\n",
                   sh->name, dout_, ddq, ddk, ddv, tf[0] / tf[1], ta[0] / ta[1]);
            /* the paths compute the same function: a large difference is a bug, not noise */
            if (!(ddq < 5e-2 && dout_ < 5e-2)) {
                printf("bench_gpu: FAIL: flash and gemm disagree on %s\n", sh->name);
                rc = 1;
            }
        }
        fflush(stdout);
        for (int i = 0; i < 4; i++) free(h[i]);
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < 7; i++) free(res[p][i]);
    }
    return rc;
}

int main(int argc, char **argv) {
    const char *cfgname = "0.5b", *backend = "cuda";
    int layers = 0, tokens = 4096, steps = 3, warmup = 1, dec_b = 8, dec_n = 64, threads = 0;
    double mem_gib = 0, peak = 0;
    const char *attention = NULL, *recompute = "none";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return fail("usage", "every option takes a value");
        if (!strcmp(a, "--config")) cfgname = v;
        else if (!strcmp(a, "--backend")) backend = v;
        else if (!strcmp(a, "--layers")) layers = atoi(v);
        else if (!strcmp(a, "--mem-gib")) mem_gib = atof(v);
        else if (!strcmp(a, "--tokens")) tokens = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--warmup")) warmup = atoi(v);
        else if (!strcmp(a, "--peak-tflops")) peak = atof(v);
        else if (!strcmp(a, "--decode-batch")) dec_b = atoi(v);
        else if (!strcmp(a, "--decode-new")) dec_n = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--attention")) attention = v;
        else if (!strcmp(a, "--recompute")) recompute = v;
        else return fail("usage", a);
    }
    if (tokens < 1 || steps < 1 || warmup < 0 || dec_b < 1 || dec_n < 2) return fail("usage", "bad counts");
    if (attention) {
        if (strcmp(attention, "full") && strcmp(attention, "small")) return fail("usage", "--attention full|small");
        return bench_attention(backend, !strcmp(attention, "small"), steps, peak);
    }
    (void)make_cfg; /* bench_cfg.h's tiny / 100m shapes: this bench uses the presets directly */
    rv_err e;
    rv_model_cfg c;
    if (rv_model_cfg_preset(cfgname, &c, &e)) return fail("config", e.msg);
    /* activation recomputation (compute.recompute / compute.activation_dtype of the phases) */
    rv_vlm_memory mem;
    const int ck_bf16 = !strcmp(recompute, "layers-bf16");
    if (rv_vlm_memory_parse(ck_bf16 ? "layers" : recompute, ck_bf16 ? "bf16" : "f32", &mem, &e))
        return fail("--recompute none|layers|layers-bf16", e.msg);
    const int full = c.text.layers;
    work wk;
    make_work(&c, tokens, &wk);
    int max_tokens = 0;
    for (int i = 0; i < wk.n; i++) max_tokens += wk.s[i].len;
    /* the plan of this workload (the sft phase sizes its plan for the largest anyres canvas) */
    rv_vlm_limits lim = {.max_tokens = max_tokens, .max_tiles = wk.n * wk.tiles, .max_seqs = wk.n};

    /* the layer count */
    size_t params = 0, need = 0;
    if (layers > 0) {
        c.text.layers = layers < full ? layers : full;
    } else if (mem_gib > 0) {
        double budget = 0.85 * mem_gib * 1073741824.0;
        for (int L = full; L >= 1; L--) {
            c.text.layers = L;
            need = estimate(&c, &lim, &mem, &params, &e);
            if (need == (size_t)-1) return fail("memory estimate", e.msg);
            if ((double)need <= budget) break;
            if (L == 1) return fail("memory", "not even one decoder layer fits the given device memory");
        }
    }
    need = estimate(&c, &lim, &mem, &params, &e);
    if (need == (size_t)-1) return fail("memory estimate", e.msg);
    if (rv_model_cfg_validate(&c, &e)) return fail("config", e.msg);
    printf("bench_gpu: %s shape, %d of %d decoder layers%s, %.3f B parameters; estimated %.1f GiB per rank "
           "(18 B/parameter + activation plan); backend %s\n",
           cfgname, c.text.layers, full, c.text.layers < full ? " (the layers that fit)" : "", params / 1e9,
           need / 1073741824.0, backend);
    fflush(stdout);

    rv_kctx *k;
    rv_weights w;
    rv_vlm m;
    rvk_cpu_opts co = {.nthreads = threads};
    if (rvk_create(&k, backend, &co, &e)) {
        printf("bench_gpu: SKIP: backend %s cannot run here: %s\n", backend, e.msg);
        free_work(&wk);
        return 77;
    }
    double t0 = now();
    if (rv_weights_build(&w, &c, k, &e) || fill_random(&w, &e) || rv_vlm_init(&m, k, &c, &w, true, &e) ||
        rv_vlm_set_memory(&m, &mem, &e))
        return fail("model", e.msg);
    if (rv_vlm_plan(&m, &lim, &e)) return fail("activation plan", e.msg);
    rv_pg_config pgc = {.lr = {2e-6, 1e-5, 1e-5}, .trainable = {true, true, true}, .weight_decay = 0};
    rv_param_groups pg;
    rv_optim *opt;
    rv_optim_cfg oc = rv_optim_cfg_upstream();
    if (rv_param_groups_build(&pg, &w, &pgc, &e) || rv_optim_create(&opt, &w, &pg, rv_comm_world(), &oc, &e))
        return fail("optimizer", e.msg);
    printf("model ready in %.1f s\n", now() - t0);

    double flops = 0;
    for (int i = 0; i < wk.n; i++) flops += 3 * fwd_flops(&c, wk.tiles, wk.s[i].len, SAMPLE_TARGETS, NULL, NULL);
    float *wt = malloc((size_t)wk.n * sizeof *wt);
    for (int i = 0; i < wk.n; i++) wt[i] = 1.0f / (float)wk.n;
    double best = INFINITY, sum = 0;
    for (int st = 0; st < warmup + steps; st++) {
        double a = now(), lsum = 0;
        rv_optim_stats os;
        if (rv_sft_accumulate(&m, wk.s, wk.n, max_tokens, wt, &lsum, NULL, &e) || rv_optim_step(opt, 1.0, &os, &e) ||
            rvk_sync(k, &e))
            return fail("sft step", e.msg);
        double dt = now() - a;
        printf("step %d%s: loss %.4f grad_norm %.4f  %.3f s = %.0f tokens/s\n", st + 1, st < warmup ? " (warm-up)" : "",
               lsum, os.grad_norm, dt, max_tokens / dt);
        fflush(stdout);
        if (st >= warmup) best = fmin(best, dt), sum += dt;
    }
    double tps = max_tokens / best, achieved = flops / best;
    printf("SFT: %d samples, %d tokens per step (%d image tiles each); best step %.3f s (mean %.3f) = %.0f tokens/s, "
           "%.1f TFLOP/s",
           wk.n, max_tokens, wk.tiles, best, sum / steps, tps, achieved * 1e-12);
    if (peak > 0) printf(", MFU %.1f%% of %.0f TFLOP/s", 100 * achieved / (peak * 1e12), peak);
    printf("\n");
    printf("RESULT what=sft config=%s layers=%d full_layers=%d recompute=%s params=%zu tokens=%d best_s=%.6g "
           "tokens_per_s=%.6g tflops=%.6g mfu=%.6g peak_tflops=%.6g\n",
           cfgname, c.text.layers, full, recompute, params, max_tokens, best, tps, achieved * 1e-12,
           peak > 0 ? achieved / (peak * 1e12) : -1.0, peak);
    fflush(stdout);
    free(wt);

    /* decode */
    int32_t *pids = malloc((size_t)dec_b * 128 * sizeof *pids);
    rv_sample *pr = calloc((size_t)dec_b, sizeof *pr);
    uint64_t st = 777;
    for (int b = 0; b < dec_b; b++) {
        text_ids(pids + (size_t)b * 128, 128, c.text.vocab, c.image_token_id, &st);
        pr[b] = (rv_sample){.ids = pids + (size_t)b * 128, .len = 128};
    }
    rv_gen_out *go = calloc((size_t)dec_b, sizeof *go);
    double tn[2];
    const int news[2] = {1, dec_n};
    for (int r = 0; r < 3; r++) { /* run 0 warms up (plan growth, first calls) */
        for (int j = 0; j < 2; j++) {
            rv_gen_opts o = {.max_new_tokens = news[j], .temperature = 0, .top_p = 1, .top_k = 0};
            double a = now();
            if (rv_vlm_generate(&m, pr, dec_b, &o, go, &e)) return fail("generate", e.msg);
            double dt = now() - a;
            rv_gen_out_free(go, dec_b);
            if (r == 0) continue;
            tn[j] = r == 1 ? dt : fmin(tn[j], dt);
        }
    }
    /* a non-positive difference: too few new tokens to see past the timing noise */
    double dec = tn[1] > tn[0] ? dec_b * (double)(dec_n - 1) / (tn[1] - tn[0]) : NAN;
    printf("decode: %d prompts x 128 tokens, %d new tokens each: prefill + 1 token %.3f s, all %.3f s = %.0f decode "
           "tokens/s (%.1f per sequence)\n",
           dec_b, dec_n, tn[0], tn[1], dec, dec / dec_b);
    printf("RESULT what=decode config=%s layers=%d batch=%d new=%d t1_s=%.6g tn_s=%.6g decode_tokens_per_s=%.6g\n", cfgname,
           c.text.layers, dec_b, dec_n, tn[0], tn[1], dec);
    free(go), free(pr), free(pids);

    rv_optim_free(opt);
    rv_param_groups_free(&pg);
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    free_work(&wk);
    return 0;
}
