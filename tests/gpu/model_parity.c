/* The model on a GPU against the CPU backend: parts (b) and (c) of tests/gpu/run.sh. Public API
 * only; the training code paths themselves (never ctest: CI has no GPU).
 *
 * Usage: model_parity [--config tiny|100m] [--backend cuda|cpu] [--threads N]
 *
 * The same random weights (generated once on the CPU context, copied to the other) and the same
 * inputs (bench_cfg.h's shapes: an image sample, base + one grid tile, and a text sample) through:
 *  (b1) one SFT step's compute, rv_sft_accumulate (train/sft_step.h: packing, forward, weighted
 *       cross-entropy, backward): the weighted loss within LOSS_RTOL relative, and the gradient
 *       arena's cosine with the CPU's >= GRAD_COS, overall and for every tensor that carries a
 *       non-negligible part of the gradient;
 *  (b2) one GRPO mini-batch: 4 sequences (prompt + response) in 2 micro-batches of
 *       rv_grpo_micro_step at scale 1/2 each, upstream's loss (clip 0.2 / 0.28, dual clip, k3 KL),
 *       old and reference log-probs from the CPU model (perturbed so the clips are reached): the
 *       summed loss and the gradients as in (b1);
 *  (c)  greedy generation, rv_vlm_generate, 4 prompts x NEW tokens: the token sequences agree; a
 *       sequence may leave the CPU's only where the CPU's own logits call it a near tie (the two
 *       tokens' CPU logits within TIE_RTOL of the row's largest |logit|: bf16 GEMMs may flip it),
 *       and at most one of the 4 may do so.
 * "RESULT" lines are machine-readable. Exit 0 when all pass, 1 otherwise, 77 when the backend cannot
 * be created here (the message says why). --backend cpu runs everything against a second CPU context
 * with other threading (a self-check of this program). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench_cfg.h"
#include "model/generate.h"
#include "model/vlm.h"
#include "train/grpo_sequences.h"
#include "train/grpo_step.h"
#include "train/sft_step.h"

#define LOSS_RTOL 1e-2 /* issue I: loss within 1e-2 relative */
#define GRAD_COS 0.99  /* issue I: gradient cosine >= 0.99 */
#define TENSOR_SHARE 1e-3 /* tensors with ||g_t|| >= this x the largest tensor norm are held to GRAD_COS */
#define TIE_RTOL 2e-2
#define NEW 24
#define NPROMPT 4

typedef struct model {
    rv_kctx *k;
    rv_weights w;
    rv_vlm m;
} model;

typedef struct tally {
    int pass, fail;
} tally;

static void verdict(tally *t, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void verdict(tally *t, int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    ok ? t->pass++ : t->fail++;
}

static void die(const char *what, const rv_err *e) {
    fprintf(stderr, "model_parity: %s: %s\n", what, e->msg);
    exit(1);
}

static void open_model(model *md, const rv_model_cfg *c, const char *backend, const rvk_cpu_opts *co) {
    rv_err e;
    if (rvk_create(&md->k, backend, co, &e) || rv_weights_build(&md->w, c, md->k, &e) ||
        rv_vlm_init(&md->m, md->k, c, &md->w, true, &e) || rv_weights_alloc_grads(&md->w, &e))
        die(backend, &e);
}

static void close_model(model *md) {
    rv_vlm_free(&md->m);
    rv_weights_free(&md->w);
    rvk_destroy(md->k);
}

static float *grads_of(model *md) {
    float *g = malloc(md->w.total * sizeof *g);
    rvk_download(md->k, g, md->w.grads, md->w.total);
    return g;
}

/* Gradient agreement: overall cosine, and the worst cosine over tensors with a real share. */
static void compare_grads(tally *t, const char *what, const rv_weights *w, const float *ref, const float *got) {
    double dot = 0, rr = 0, gg = 0, tmax = 0;
    for (size_t i = 0; i < w->n; i++) {
        double s = 0;
        for (size_t k = 0; k < w->t[i].numel; k++) s += (double)ref[w->t[i].offset + k] * ref[w->t[i].offset + k];
        tmax = fmax(tmax, sqrt(s));
    }
    double worst = 1;
    const char *worst_name = "(none)";
    int held = 0;
    for (size_t i = 0; i < w->n; i++) {
        double d = 0, a = 0, b = 0;
        for (size_t k = 0; k < w->t[i].numel; k++) {
            double x = ref[w->t[i].offset + k], y = got[w->t[i].offset + k];
            d += x * y, a += x * x, b += y * y;
        }
        dot += d, rr += a, gg += b;
        if (sqrt(a) < TENSOR_SHARE * tmax) continue;
        held++;
        double cs = a > 0 && b > 0 ? d / sqrt(a * b) : 0;
        if (!(cs >= worst)) worst = cs, worst_name = w->t[i].name;
    }
    double cos_all = rr > 0 && gg > 0 ? dot / sqrt(rr * gg) : 0;
    verdict(t, cos_all >= GRAD_COS && rr > 0, "%s: gradient cosine %.6f (>= %.2f), norms cpu %.6g other %.6g", what,
            cos_all, GRAD_COS, sqrt(rr), sqrt(gg));
    verdict(t, worst >= GRAD_COS && held > 0, "%s: worst tensor cosine %.6f (%s; %d tensors above %.0e of the largest)",
            what, worst, worst_name, held, TENSOR_SHARE);
    printf("RESULT check=%s grad_cos=%.8f worst_tensor_cos=%.8f tensors=%d\n", what, cos_all, worst, held);
}

static void check_loss(tally *t, const char *what, double ref, double got) {
    double rel = fabs(got - ref) / fmax(fabs(ref), 1e-30);
    verdict(t, rel <= LOSS_RTOL && isfinite(got), "%s: loss cpu %.8g other %.8g (relative %.3g, tol %.0e)", what, ref,
            got, rel, LOSS_RTOL);
    printf("RESULT check=%s loss_cpu=%.10g loss_other=%.10g rel=%.6g\n", what, ref, got, rel);
}

/* bench_cfg.h's workload shape: sample 0 text + image (base + one grid tile) + text, sample 1 text. */
typedef struct inputs {
    int32_t *ids[2];
    uint8_t *mask[2];
    float *pix;
    rv_vlm_image img;
    rv_sample s[2];
} inputs;

static void make_inputs(const rv_model_cfg *c, const shape *sh, inputs *in) {
    const int V = c->text.vocab, S = c->vision.image_size;
    const int n_tiles = rv_vlm_image_tiles(c, sh->img, sh->img);
    const int n_img = rv_vlm_image_tokens(c, n_tiles, sh->img, sh->img);
    const int L0 = sh->pre + n_img + sh->post, L1 = L0 / 2;
    uint64_t st = 99;
    in->ids[0] = malloc((size_t)L0 * sizeof(int32_t));
    in->ids[1] = malloc((size_t)L1 * sizeof(int32_t));
    in->mask[0] = calloc((size_t)L0, 1);
    in->mask[1] = calloc((size_t)L1, 1);
    text_ids(in->ids[0], sh->pre, V, c->image_token_id, &st);
    for (int i = 0; i < n_img; i++) in->ids[0][sh->pre + i] = c->image_token_id;
    text_ids(in->ids[0] + sh->pre + n_img, sh->post, V, c->image_token_id, &st);
    text_ids(in->ids[1], L1, V, c->image_token_id, &st);
    for (int t = L0 - sh->n_target; t < L0; t++) in->mask[0][t] = 1;
    for (int t = L1 - sh->n_target / 2; t < L1; t++) in->mask[1][t] = 1;
    size_t np = (size_t)n_tiles * 3 * S * S;
    in->pix = malloc(np * sizeof *in->pix);
    for (size_t i = 0; i < np; i++) in->pix[i] = (float)(lcg(&st) % 20000) / 10000.0f - 1.0f;
    in->img = (rv_vlm_image){.tiles = in->pix, .n_tiles = n_tiles, .orig_h = sh->img, .orig_w = sh->img};
    in->s[0] = (rv_sample){.ids = in->ids[0], .len = L0, .mask = in->mask[0], .images = &in->img, .n_images = 1};
    in->s[1] = (rv_sample){.ids = in->ids[1], .len = L1, .mask = in->mask[1]};
}

static void free_inputs(inputs *in) {
    for (int i = 0; i < 2; i++) free(in->ids[i]), free(in->mask[i]);
    free(in->pix);
}

/* (b1) */
static void sft_step(tally *t, model *cpu, model *dev, const inputs *in) {
    rv_err e;
    const float wt[2] = {0.5f, 0.5f};
    double lc = 0, ld = 0;
    rv_weights_zero_grads(&cpu->w);
    rv_weights_zero_grads(&dev->w);
    if (rv_sft_accumulate(&cpu->m, in->s, 2, 1 << 16, wt, &lc, NULL, &e)) die("sft step (cpu)", &e);
    if (rv_sft_accumulate(&dev->m, in->s, 2, 1 << 16, wt, &ld, NULL, &e)) die("sft step (other)", &e);
    check_loss(t, "sft_step", lc, ld);
    float *gc = grads_of(cpu), *gd = grads_of(dev);
    compare_grads(t, "sft_step", &cpu->w, gc, gd);
    free(gc), free(gd);
}

/* (b2) */
static void grpo_minibatch(tally *t, model *cpu, model *dev, const inputs *in, const rv_model_cfg *c) {
    rv_err e;
    /* prompts: the image sample's prompt part and text prompts; responses: random tokens */
    rv_grpo_seq q[4];
    int32_t *resp[4];
    uint64_t st = 4711;
    for (int i = 0; i < 4; i++) {
        const rv_sample *src = &in->s[i == 0 ? 0 : 1];
        int plen = i == 0 ? src->len - 40 : 12 + 9 * i;
        if (plen > src->len) plen = src->len;
        rv_sample prompt = {.ids = src->ids, .len = plen, .images = i == 0 ? &in->img : NULL, .n_images = i == 0};
        int n = 20 + 7 * i;
        resp[i] = malloc((size_t)n * sizeof(int32_t));
        text_ids(resp[i], n, c->text.vocab, c->image_token_id, &st);
        rv_gen_result r = {.tokens = resp[i], .n = n};
        rv_grpo_seq_make(&q[i], &prompt, &r);
    }
    float *logp[4], *old[4], *ref[4];
    for (int i = 0; i < 4; i++) {
        logp[i] = malloc((size_t)q[i].resp_len * sizeof(float));
        old[i] = malloc((size_t)q[i].resp_len * sizeof(float));
        ref[i] = malloc((size_t)q[i].resp_len * sizeof(float));
    }
    if (rv_grpo_logprobs(&cpu->m, q, 4, 2, logp, &e)) die("grpo log-probs (cpu)", &e);
    /* old / ref: the CPU's log-probs moved by up to +-0.5 (ratios beyond the 0.2 / 0.28 clips) */
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < q[i].resp_len; k++) {
            old[i][k] = logp[i][k] + 0.5f * ((float)(lcg(&st) % 2001) / 1000.0f - 1.0f);
            ref[i][k] = logp[i][k] + 0.2f * ((float)(lcg(&st) % 2001) / 1000.0f - 1.0f);
        }
    const double adv[4] = {1.0, -0.5, 0.7, -1.2};
    rv_grpo_loss_cfg lc = rv_grpo_loss_cfg_upstream();
    double loss[2] = {0, 0};
    float *g[2];
    model *mods[2] = {cpu, dev};
    for (int b = 0; b < 2; b++) {
        rv_weights_zero_grads(&mods[b]->w);
        for (int j = 0; j < 2; j++) {
            rv_grpo_stats s;
            if (rv_grpo_micro_step(&mods[b]->m, q + 2 * j, 2, (const float *const *)old + 2 * j,
                                   (const float *const *)ref + 2 * j, adv + 2 * j, &lc, 0.5, 0, &s, &e))
                die(b ? "grpo micro-step (other)" : "grpo micro-step (cpu)", &e);
            loss[b] += s.loss;
        }
        g[b] = grads_of(mods[b]);
    }
    check_loss(t, "grpo_minibatch", loss[0], loss[1]);
    compare_grads(t, "grpo_minibatch", &cpu->w, g[0], g[1]);
    free(g[0]), free(g[1]);
    for (int i = 0; i < 4; i++) {
        rv_grpo_seq_free(&q[i]);
        free(resp[i]), free(logp[i]), free(old[i]), free(ref[i]);
    }
}

/* The CPU's logits of the token after prompt + toks[0 .. n): [V] into row. */
static void cpu_next_logits(model *cpu, const rv_sample *prompt, const int32_t *toks, int n, float *row, int V) {
    rv_err e;
    int L = prompt->len + n;
    int32_t *ids = malloc((size_t)L * sizeof *ids);
    memcpy(ids, prompt->ids, (size_t)prompt->len * sizeof *ids);
    memcpy(ids + prompt->len, toks, (size_t)n * sizeof *ids);
    rv_sample s = {.ids = ids, .len = L, .images = prompt->images, .n_images = prompt->n_images};
    rv_vlm_pass *p;
    float *all = malloc((size_t)L * V * sizeof *all);
    if (rv_vlm_forward(&cpu->m, &s, 1, false, &p, &e) || rv_vlm_pass_logits(&cpu->m, p, 0, all, &e))
        die("cpu logits", &e);
    memcpy(row, all + (size_t)(L - 1) * V, (size_t)V * sizeof *row);
    rv_vlm_pass_free(&cpu->m, p);
    free(all), free(ids);
}

/* (c) */
static void greedy(tally *t, model *cpu, model *dev, const inputs *in, const rv_model_cfg *c) {
    rv_err e;
    rv_sample pr[NPROMPT];
    for (int i = 0; i < NPROMPT; i++) {
        const rv_sample *src = &in->s[i == 0 ? 0 : 1];
        int plen = i == 0 ? src->len - 40 : 10 + 13 * i;
        pr[i] = (rv_sample){.ids = src->ids + (i == 0 ? 0 : 5 * i), .len = plen, .images = i == 0 ? &in->img : NULL,
                            .n_images = i == 0};
    }
    rv_gen_opts o = {.max_new_tokens = NEW, .temperature = 0, .top_p = 1, .top_k = 0};
    rv_gen_out a[NPROMPT], b[NPROMPT];
    if (rv_vlm_generate(&cpu->m, pr, NPROMPT, &o, a, &e)) die("generate (cpu)", &e);
    if (rv_vlm_generate(&dev->m, pr, NPROMPT, &o, b, &e)) die("generate (other)", &e);
    const int V = c->text.vocab;
    float *row = malloc((size_t)V * sizeof *row);
    int same = 0, ties = 0, real = 0, agree_tokens = 0, total = 0;
    for (int i = 0; i < NPROMPT; i++) {
        int n = a[i].n < b[i].n ? a[i].n : b[i].n, d = 0;
        while (d < n && a[i].tokens[d] == b[i].tokens[d]) d++;
        agree_tokens += d;
        total += a[i].n;
        if (d == n && a[i].n == b[i].n) {
            same++;
            continue;
        }
        if (d == n) { /* one stopped early: no stop ids here, so lengths cannot differ */
            real++;
            printf("  prompt %d: lengths differ (%d, %d)\n", i, a[i].n, b[i].n);
            continue;
        }
        cpu_next_logits(cpu, &pr[i], a[i].tokens, d, row, V);
        double amax = 0;
        for (int v = 0; v < V; v++) amax = fmax(amax, fabs(row[v]));
        double gap = (double)row[a[i].tokens[d]] - row[b[i].tokens[d]];
        int tie = gap <= TIE_RTOL * amax;
        tie ? ties++ : real++;
        printf("  prompt %d: first difference at new token %d (cpu %d, other %d): cpu logit gap %.4g, %s (%.0e x max "
               "|logit| %.4g)\n",
               i, d, a[i].tokens[d], b[i].tokens[d], gap, tie ? "a near tie" : "NOT a near tie", TIE_RTOL, amax);
    }
    verdict(t, real == 0 && ties <= 1,
            "greedy generation: %d of %d prompts identical over %d new tokens, %d leave at a near tie, %d elsewhere "
            "(%d of %d tokens before the first difference)",
            same, NPROMPT, NEW, ties, real, agree_tokens, total);
    printf("RESULT check=greedy identical=%d near_tie=%d other=%d prompts=%d\n", same, ties, real, NPROMPT);
    free(row);
    rv_gen_out_free(a, NPROMPT);
    rv_gen_out_free(b, NPROMPT);
}

int main(int argc, char **argv) {
    const char *cfgname = "tiny", *backend = "cuda";
    int threads = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--config")) cfgname = argv[i + 1];
        else if (!strcmp(argv[i], "--backend")) backend = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: model_parity [--config tiny|100m] [--backend cuda|cpu] [--threads N]\n");
            return 2;
        }
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: model_parity [--config tiny|100m] [--backend cuda|cpu] [--threads N]\n");
        return 2;
    }
    rv_err e;
    rv_model_cfg c;
    shape sh = {0};
    (void)fwd_flops; /* bench_cfg.h's FLOP count: the benchmark's, not needed here */
    if (make_cfg(cfgname, &c, &sh, &e) || rv_model_cfg_validate(&c, &e)) die("config", &e);
    rv_kctx *probe;
    rvk_cpu_opts other = {.nthreads = threads > 1 ? threads - 1 : 1, .blas_threaded = 1};
    if (rvk_create(&probe, backend, &other, &e)) {
        printf("model_parity: SKIP: backend %s cannot run here: %s\n", backend, e.msg);
        return 77;
    }
    rvk_destroy(probe);
    model cpu, dev;
    rvk_cpu_opts co = {.nthreads = threads};
    open_model(&cpu, &c, "cpu", &co);
    open_model(&dev, &c, backend, &other);
    if (rv_weights_init_random(&cpu.w, 7, 0.02f, &e)) die("init", &e);
    float *p = malloc(cpu.w.total * sizeof *p);
    rvk_download(cpu.k, p, cpu.w.params, cpu.w.total);
    rvk_upload(dev.k, dev.w.params, p, cpu.w.total);
    /* a raw parameter write: the bf16 weight copy (bound by rv_weights_build) follows by refresh */
    rvk_shadow_refresh(dev.k, dev.w.params, dev.w.total);
    free(p);
    if (rvk_sync(dev.k, &e)) die("weights upload", &e);
    rvk_mem_stats ms;
    rvk_mem_stats_get(dev.k, &ms);
    /* fp32 masters (4 bytes per parameter) + grads (4) + the bf16 copy (2, under the default
     * RADVLM_CUDA_GEMM=bf16) + whatever the model planned so far */
    printf("model parity: %s holds %.1f MB after the weights (%.2f bytes per parameter)\n", backend, ms.held / 1e6,
           (double)ms.held / cpu.w.total);
    printf("model parity: config %s (%.1f M parameters), cpu (%d threads) against %s\n", cfgname, cpu.w.total / 1e6,
           threads, backend);

    inputs in;
    make_inputs(&c, &sh, &in);
    tally t = {0, 0};
    sft_step(&t, &cpu, &dev, &in);
    grpo_minibatch(&t, &cpu, &dev, &in, &c);
    greedy(&t, &cpu, &dev, &in, &c);
    printf("model_parity %s %s: %d checks passed, %d failed\n", cfgname, backend, t.pass, t.fail);
    free_inputs(&in);
    close_model(&dev);
    close_model(&cpu);
    return t.fail ? 1 : 0;
}
