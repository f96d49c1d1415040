/* Speed of the model core on the CPU backend: SFT step (forward+backward, then AdamW timed
 * separately) and greedy KV-cache generation, for the "tiny" preset and a ~100M-parameter
 * LLaVA-OneVision configuration ("100m"), on fixed pseudo-random inputs, with a given thread
 * count. Prints medians over repeated trials, tokens/s, analytic model GFLOP/s and, with --peak,
 * the utilisation against a measured sgemm peak. Not a test. docs/performance.md has the method.
 *
 * Usage: bench_model [--config tiny|100m] [--threads N] [--trials K] [--gen-new N]
 *                    [--peak GFLOPS] [--only train|gen] [--export DIR] [--recompute none|layers|layers-bf16]
 * --export DIR writes DIR/config.json (HF llava_onevision) and DIR/inputs.json (token ids, image
 * size, target start, new-token count) so bench_model_torch.py runs the same configuration and
 * inputs, and exits. Machine-readable lines start with "RESULT ". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "model/generate.h"
#include "model/vlm.h"
#include "bench_cfg.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One decode step at cache length ctx (the new token included): matmuls, attention over ctx
 * keys, lm_head. */
static double decode_flops(const rv_model_cfg *c, int ctx) {
    const rv_text_cfg *t = &c->text;
    double D = t->hidden, qd = (double)t->heads * t->head_dim, kvd = (double)t->kv_heads * t->head_dim;
    double lin = 2 * (D * qd + 2 * D * kvd + qd * D + 3 * D * t->intermediate);
    return t->layers * (lin + 4 * qd * ctx) + 2 * D * t->vocab;
}

static void json_ids(rv_sb *o, const char *key, const int32_t *ids, int n) {
    rv_sb_printf(o, "  \"%s\": [", key);
    for (int i = 0; i < n; i++) rv_sb_printf(o, "%s%d", i ? "," : "", ids[i]);
    rv_sb_printf(o, "],\n");
}

static int export_dir(const char *dir, const rv_model_cfg *c, const shape *s, const int32_t *ids, int L,
                      int tgt0, const int32_t *gp, int Lp, int n_tiles, rv_err *err) {
    char path[4096];
    rv_sb o;
    if (rv_mkdir_p(dir, err)) return -1;
    rv_sb_init(&o);
    rv_model_cfg_to_hf_json(c, &o);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = rv_write_atomic(path, o.s, o.len, err);
    rv_sb_clear(&o);
    rv_sb_printf(&o, "{\n  \"config\": \"%s\",\n", c->name);
    json_ids(&o, "train_ids", ids, L);
    json_ids(&o, "gen_prompt_ids", gp, Lp);
    rv_sb_printf(&o, "  \"target_start\": %d,\n  \"image_hw\": [%d, %d],\n  \"n_tiles\": %d,\n", tgt0, s->img,
                 s->img, n_tiles);
    rv_sb_printf(&o, "  \"gen_new\": %d\n}\n", s->gen_new);
    snprintf(path, sizeof path, "%s/inputs.json", dir);
    if (!rc) rc = rv_write_atomic(path, o.s, o.len, err);
    rv_sb_free(&o);
    return rc;
}

/* ---- timing ---- */

typedef struct stats {
    double med, lo, hi;
    int n, reps;
} stats;

static void result(const char *cfg, int threads, const char *what, const stats *st, double per, const char *unit,
                   double flops) {
    printf("RESULT impl=c config=%s threads=%d what=%s median_s=%.6g min_s=%.6g max_s=%.6g trials=%d reps=%d "
           "%s=%.6g flops=%.6g\n",
           cfg, threads, what, st->med, st->lo, st->hi, st->n, st->reps, unit, per / st->med, flops);
}

int main(int argc, char **argv) {
    const char *cfgname = "tiny", *only = "", *exp = NULL, *recompute = "none";
    int threads = 1, trials = 5, gen_new = 0;
    double peak = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) {
            fprintf(stderr, "bench_model: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--config")) cfgname = val;
        else if (!strcmp(a, "--threads")) threads = atoi(val);
        else if (!strcmp(a, "--trials")) trials = atoi(val);
        else if (!strcmp(a, "--gen-new")) gen_new = atoi(val);
        else if (!strcmp(a, "--peak")) peak = atof(val);
        else if (!strcmp(a, "--only")) only = val;
        else if (!strcmp(a, "--export")) exp = val;
        else if (!strcmp(a, "--recompute")) recompute = val;
        else {
            fprintf(stderr, "bench_model: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (threads < 1 || trials < 1) {
        fprintf(stderr, "bench_model: --threads and --trials must be >= 1\n");
        return 2;
    }
    rv_err e;
    rv_model_cfg c;
    shape sh = {0};
    if (make_cfg(cfgname, &c, &sh, &e) || rv_model_cfg_validate(&c, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    if (gen_new > 0) sh.gen_new = gen_new;

    /* inputs: text ids from a fixed LCG, the image placeholder expanded, pixels in [-1, 1) */
    const int V = c.text.vocab, S = c.vision.image_size;
    const int n_tiles = rv_vlm_image_tiles(&c, sh.img, sh.img);
    const int n_img = rv_vlm_image_tokens(&c, n_tiles, sh.img, sh.img);
    const int L = sh.pre + n_img + sh.post, tgt0 = L - sh.n_target;
    const int Lp = sh.pre + n_img + sh.gen_tail;
    uint64_t st = 12345;
    int32_t *ids = malloc((size_t)L * sizeof *ids), *gp = malloc((size_t)Lp * sizeof *gp);
    text_ids(ids, sh.pre, V, c.image_token_id, &st);
    for (int i = 0; i < n_img; i++) ids[sh.pre + i] = c.image_token_id;
    text_ids(ids + sh.pre + n_img, sh.post, V, c.image_token_id, &st);
    memcpy(gp, ids, (size_t)(sh.pre + n_img) * sizeof *gp);
    text_ids(gp + sh.pre + n_img, sh.gen_tail, V, c.image_token_id, &st);
    if (exp) {
        if (export_dir(exp, &c, &sh, ids, L, tgt0, gp, Lp, n_tiles, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        printf("exported %s config and inputs to %s\n", cfgname, exp);
        free(ids), free(gp);
        return 0;
    }
    size_t npix = (size_t)n_tiles * 3 * S * S;
    float *pix = malloc(npix * sizeof *pix);
    for (size_t i = 0; i < npix; i++) pix[i] = (float)(lcg(&st) % 20000) / 10000.0f - 1.0f;
    uint8_t *mask = calloc((size_t)L, 1);
    for (int t = tgt0; t < L; t++) mask[t] = 1;
    rv_vlm_image img = {.tiles = pix, .n_tiles = n_tiles, .orig_h = sh.img, .orig_w = sh.img};
    rv_sample smp = {.ids = ids, .len = L, .mask = mask, .images = &img, .n_images = 1};
    rv_sample prm = {.ids = gp, .len = Lp, .mask = NULL, .images = &img, .n_images = 1};

    rv_weights w;
    rv_kctx *k;
    rv_vlm m;
    rvk_cpu_opts ko = {.nthreads = threads};
    if (rvk_create(&k, "cpu", &ko, &e) || rv_weights_build(&w, &c, k, &e) || rv_weights_init_random(&w, 7, 0.02f, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    rv_vlm_memory mem;
    int bf = !strcmp(recompute, "layers-bf16");
    if (rv_vlm_init(&m, k, &c, &w, true, &e) ||
        rv_vlm_memory_parse(bf ? "layers" : recompute, bf ? "bf16" : "f32", &mem, &e) ||
        rv_vlm_set_memory(&m, &mem, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double fvis, fattn, ffwd = fwd_flops(&c, n_tiles, L, sh.n_target, &fvis, &fattn);
    double ftrain = 3 * ffwd;
    printf("config %s: %.2fM parameters (vision %.2fM, projector %.2fM, lm %.2fM); threads %d; trials %d\n", cfgname,
           w.total / 1e6, rv_weights_numel(&w, RV_MOD_VISION, 0) / 1e6, rv_weights_numel(&w, RV_MOD_PROJECTOR, 0) / 1e6,
           rv_weights_numel(&w, RV_MOD_LM, 0) / 1e6, threads, trials);
    printf("train sample: %d tokens (%d image rows from %d tiles, %d targets); forward %.2f GFLOP "
           "(vision+projector %.2f, decoder attention %.2f); train step = 3 x forward = %.2f GFLOP\n",
           L, n_img, n_tiles, sh.n_target, ffwd * 1e-9, fvis * 1e-9, fattn * 1e-9, ftrain * 1e-9);
    fflush(stdout);
    double *tv = malloc((size_t)trials * sizeof *tv), *ta = malloc((size_t)trials * sizeof *ta);

    if (strcmp(only, "gen") != 0) {
        /* forward+backward (rv_vlm_sft_step), then AdamW over every tensor; a warm-up step first,
         * and each trial repeats the step enough times to last >= 0.3 s (tiny) */
        float *am = rvk_alloc(k, w.total), *av = rvk_alloc(k, w.total);
        double loss = 0;
        int step = 0;
        double t0 = now();
        rv_weights_zero_grads(&w);
        if (rv_vlm_sft_step(&m, &smp, 1, &loss, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        double warm = now() - t0, loss0 = loss;
        rv_vlm_plan_info pi;
        rv_vlm_plan_get(&m, &pi);
        printf("activation plan (training layout, sized by the warm-up step): %.1f MB\n", pi.bytes / 1e6);
        int reps = warm > 0.3 ? 1 : (int)ceil(0.3 / fmax(warm, 1e-6));
        for (int r = 0; r < trials; r++) {
            double fb = 0, op = 0;
            for (int j = 0; j < reps; j++) {
                rv_weights_zero_grads(&w);
                t0 = now();
                if (rv_vlm_sft_step(&m, &smp, 1, &loss, &e)) {
                    fprintf(stderr, "%s\n", e.msg);
                    return 1;
                }
                double t1 = now();
                rvk_adamw_hp hp = {.lr = 1e-5, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0,
                                   .step = ++step, .grad_scale = 1.0};
                for (size_t i = 0; i < w.n; i++) {
                    const rv_wtensor *tt = &w.t[i];
                    if (!(tt->flags & RV_WF_TRAINABLE)) continue;
                    rvk_adamw_step(k, w.params + tt->offset, w.grads + tt->offset, am + tt->offset,
                                   av + tt->offset, tt->numel, &hp, (tt->flags & RV_WF_DECAY) ? 0 : RVK_ADAMW_NO_DECAY);
                }
                rvk_shadow_refresh(k, w.params, w.total); /* the masters changed: re-round the bf16 copy */
                fb += t1 - t0;
                op += now() - t1;
            }
            tv[r] = fb / reps;
            ta[r] = op / reps;
        }
        printf("first-step loss %.4f (random init; ln V = %.4f)\n", loss0, log((double)V));
        stats s1 = {.n = trials, .reps = reps};
        s1.med = median(tv, trials), s1.lo = tv[0], s1.hi = tv[trials - 1];
        stats s2 = {.n = trials, .reps = reps};
        s2.med = median(ta, trials), s2.lo = ta[0], s2.hi = ta[trials - 1];
        printf("fwd+bwd: median %.4f s (min %.4f, max %.4f) = %.0f tokens/s, %.2f GFLOP/s", s1.med, s1.lo, s1.hi,
               L / s1.med, ftrain / s1.med * 1e-9);
        if (peak > 0) printf(", %.1f%% of the %.1f GFLOP/s sgemm peak", 100 * ftrain / s1.med * 1e-9 / peak, peak);
        printf("\nadamw:   median %.4f s (min %.4f, max %.4f) over %.2fM parameters\n", s2.med, s2.lo, s2.hi,
               w.total / 1e6);
        result(cfgname, threads, "train_fb", &s1, L, "tokens_per_s", ftrain);
        result(cfgname, threads, "adamw", &s2, (double)w.total, "params_per_s", 0);
        rvk_free(k, am);
        rvk_free(k, av);
        fflush(stdout);
    }

    if (strcmp(only, "train") != 0) {
        /* greedy generation, no stop ids: exactly n new tokens. A 1-token call is the prefill
         * (vision + prompt + first token); decode rate = (N - 1) / (t_N - t_1). */
        int ns[2] = {1, sh.gen_new};
        stats gs[2];
        for (int q = 0; q < 2; q++) {
            rv_gen_opts o = {.max_new_tokens = ns[q], .temperature = 0, .top_p = 1, .n_stop = 0};
            rv_gen_out out;
            if (rv_vlm_generate(&m, &prm, 1, &o, &out, &e)) { /* warm-up */
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
            if (out.n != ns[q]) {
                fprintf(stderr, "generate returned %d tokens, wanted %d\n", out.n, ns[q]);
                return 1;
            }
            rv_gen_out_free(&out, 1);
            int reps = 1;
            for (int r = 0; r < trials; r++) {
                double t0 = now();
                if (rv_vlm_generate(&m, &prm, 1, &o, &out, &e)) {
                    fprintf(stderr, "%s\n", e.msg);
                    return 1;
                }
                tv[r] = now() - t0;
                rv_gen_out_free(&out, 1);
            }
            gs[q] = (stats){.n = trials, .reps = reps};
            gs[q].med = median(tv, trials), gs[q].lo = tv[0], gs[q].hi = tv[trials - 1];
        }
        double pf = fwd_flops(&c, n_tiles, Lp, 1, NULL, NULL), df = 0;
        for (int i = 1; i < sh.gen_new; i++) df += decode_flops(&c, Lp + i);
        double dt = gs[1].med - gs[0].med;
        printf("generate: prompt %d tokens; prefill (1 new token) median %.4f s; %d new tokens median %.4f s "
               "= %.1f tokens/s end to end; decode %.1f tokens/s (%.2f GFLOP/s)\n",
               Lp, gs[0].med, sh.gen_new, gs[1].med, sh.gen_new / gs[1].med, (sh.gen_new - 1) / dt, df / dt * 1e-9);
        result(cfgname, threads, "gen_prefill", &gs[0], 1, "calls_per_s", pf);
        result(cfgname, threads, "gen_total", &gs[1], sh.gen_new, "tokens_per_s", pf + df);
        printf("RESULT impl=c config=%s threads=%d what=gen_decode median_s=%.6g tokens_per_s=%.6g flops=%.6g\n",
               cfgname, threads, dt, (sh.gen_new - 1) / dt, df);
    }
    free(tv), free(ta);
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    free(ids), free(gp), free(pix), free(mask);
    return 0;
}
