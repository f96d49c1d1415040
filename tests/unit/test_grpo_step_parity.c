/* The whole GRPO step against PyTorch (docs/grpo.md "The whole step against PyTorch"): the loss,
 * verl's metrics and every parameter gradient of rv_grpo_micro_step on the tiny LLaVA-OneVision
 * parity model (tests/fixtures/model) agree with transformers' model and verl's own loss functions
 * (tests/fixtures/grpo/gen_grpo_step_fixture.py -> grpo_step.safetensors), for
 *   - micro-batch 0 (an anyres image prompt and a text prompt) and micro-batch 1 (two text
 *     prompts), each alone at loss_scale_factor 1, and
 *   - the mini-batch of both with verl's gradient accumulation (scale 1/2 each, gradients summed),
 *     whose torch gradient is 0.5 * (grad0 + grad1) (the generator checks that equality).
 * Upstream's loss configuration (clip 0.2 / 0.28, dual clip 3, low_var_kl 0.01, token-mean); the
 * inputs reach clip-high, clip-low, the dual clip, the +-20 log-ratio clamp and the k3 clamp.
 * Skips (exit code 77) when a fixture file is absent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/safetensors.h"
#include "model/hf.h"
#include "train/grpo_step.h"

#define FIXM RADVLM_SOURCE_DIR "/tests/fixtures/model/"
#define FIXG RADVLM_SOURCE_DIR "/tests/fixtures/grpo/grpo_step.safetensors"

#define NSEQ 4
#define NMICRO 2
/* fp32 tolerances: torch computes in float32 with its own summation order, we in float32 on the
 * model and double in the loss; relative to the reference value (tensor: L2 norms). */
#define TOL_LOSS 1e-5
#define TOL_GRAD 1e-4
#define TOL_LOGP 1e-4 /* absolute, on log-probs of magnitude up to ~15 */

/* A fixture tensor read as floats (F32) or raw int32 (I32); NULL, with a failed check, if absent. */
static void *read_t(rv_st_file *f, const char *name, size_t want_numel, int i32) {
    rv_err e;
    const rv_st_tensor *t = rv_st_find(f, name);
    if (!t || (want_numel && t->numel != want_numel)) {
        fprintf(stderr, "%s: tensor %s %s\n", f->path, name, t ? "has the wrong size" : "is missing");
        CHECK(0);
        return NULL;
    }
    void *buf = malloc(t->nbytes ? t->nbytes : 4);
    if ((i32 ? rv_st_read_raw(f, t, buf, &e) : rv_st_read_f32(f, t, buf, &e)) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        CHECK(0);
        free(buf);
        return NULL;
    }
    return buf;
}

static float read_scalar(rv_st_file *f, const char *fmt, int j) {
    char name[64];
    snprintf(name, sizeof name, fmt, j);
    float *v = read_t(f, name, 1, 0), x = v ? v[0] : NAN;
    free(v);
    return x;
}

static int32_t read_count(rv_st_file *f, const char *fmt, int j) {
    char name[64];
    snprintf(name, sizeof name, fmt, j);
    int32_t *v = read_t(f, name, 1, 1), x = v ? v[0] : -1;
    free(v);
    return x;
}

/* want = sum_j coef[j] * grad{j} over the table (absent tensors: torch's None, zero); reached[i]
 * says whether any micro-batch has tensor i. Returns the number of fixture grad tensors read. */
static int expected_grads(rv_st_file *f, const rv_weights *w, const double *coef, float *want, int *reached) {
    rv_err e;
    int nread = 0;
    memset(want, 0, w->total * sizeof *want);
    float *tmp = malloc(rv_weights_max_numel(w) * sizeof *tmp);
    for (size_t i = 0; i < w->n; i++) {
        reached[i] = 0;
        for (int j = 0; j < NMICRO; j++) {
            if (coef[j] == 0) continue;
            char name[256];
            snprintf(name, sizeof name, "grad%d.%s", j, w->t[i].name);
            const rv_st_tensor *t = rv_st_find(f, name);
            if (!t) continue;
            CHECK(t->numel == w->t[i].numel && rv_st_read_f32(f, t, tmp, &e) == 0);
            for (size_t k = 0; k < w->t[i].numel; k++) want[w->t[i].offset + k] += (float)(coef[j] * tmp[k]);
            reached[i] = 1;
            nread++;
        }
    }
    free(tmp);
    return nread;
}

/* Compares the gradient arena with want, per tensor: ||ours - want||_2 <= TOL_GRAD ||want||_2, and
 * exactly 0 where torch has no gradient. Tensors whose true gradient is 0 by symmetry (SigLIP's
 * k_proj.bias: softmax is shift-invariant) hold rounding noise on both sides; those with
 * ||want|| < 1e-6 * the largest tensor norm are held to that absolute bound instead. */
static void compare_grads(const char *what, const rv_weights *w, const float *ours, const float *want,
                          const int *reached, double *worst_out) {
    double gmax = 0;
    for (size_t i = 0; i < w->n; i++) {
        double s = 0;
        for (size_t k = 0; k < w->t[i].numel; k++) s += (double)want[w->t[i].offset + k] * want[w->t[i].offset + k];
        gmax = fmax(gmax, sqrt(s));
    }
    double worst = 0, worst_noise = 0;
    const char *worst_name = "";
    int bad = 0, nrel = 0, nzero = 0;
    for (size_t i = 0; i < w->n; i++) {
        const float *a = ours + w->t[i].offset, *b = want + w->t[i].offset;
        double dn = 0, bn = 0, an = 0;
        for (size_t k = 0; k < w->t[i].numel; k++) {
            dn += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
            bn += (double)b[k] * b[k];
            an += (double)a[k] * a[k];
        }
        dn = sqrt(dn);
        bn = sqrt(bn);
        if (!reached[i]) {
            nzero++;
            if (an != 0) {
                bad++;
                fprintf(stderr, "%s: %s has a gradient (norm %.3g) where torch has none\n", what, w->t[i].name, sqrt(an));
            }
            continue;
        }
        if (bn < 1e-6 * gmax) {
            worst_noise = fmax(worst_noise, dn / gmax);
            if (!(dn <= 1e-6 * gmax)) {
                bad++;
                fprintf(stderr, "%s: %s: |diff| %.3g above the noise bound %.3g\n", what, w->t[i].name, dn, 1e-6 * gmax);
            }
            continue;
        }
        nrel++;
        double rel = dn / bn;
        if (!(rel <= TOL_GRAD)) {
            bad++;
            fprintf(stderr, "%s: %s: relative L2 error %.3g (norm %.4g)\n", what, w->t[i].name, rel, bn);
        }
        if (rel > worst || !(rel == rel)) {
            worst = rel;
            worst_name = w->t[i].name;
        }
    }
    printf("%s: %zu tensors (%d compared relatively, %d zero in torch): worst relative L2 error %.3g (%s); "
           "near-zero tensors: |diff| <= %.3g x the largest norm %.4g\n",
           what, w->n, nrel, nzero, worst, worst_name, worst_noise, gmax);
    CHECK(bad == 0);
    CHECK(nrel >= 20); /* not vacuous: most of the model is compared */
    *worst_out = fmax(*worst_out, worst);
}

/* The stats of one micro-batch against the fixture's (verl's) values at scale `scale`. */
static void compare_stats(rv_st_file *f, int j, const rv_grpo_stats *st, double scale, double *worst_loss) {
    double loss = read_scalar(f, "micro%d.loss", j), pg = read_scalar(f, "micro%d.pg_loss", j),
           kl = read_scalar(f, "micro%d.kl_loss", j), cf = read_scalar(f, "micro%d.pg_clipfrac", j),
           cfl = read_scalar(f, "micro%d.pg_clipfrac_lower", j), ppo_kl = read_scalar(f, "micro%d.ppo_kl", j);
    int32_t tokens = read_count(f, "micro%d.tokens", j);
    double rel = fabs(st->loss - scale * loss) / fabs(scale * loss);
    printf("  micro-batch %d x %.2g: loss ours %.9g torch %.9g (rel %.2g); pg_loss %.7g / %.7g, kl_loss %.7g / %.7g; "
           "clipfrac %.6g / %.6g, lower %.6g / %.6g, ppo_kl %.7g / %.7g\n",
           j, scale, st->loss, scale * loss, rel, st->pg_loss, pg, st->kl_loss, kl, st->pg_clipfrac, cf,
           st->pg_clipfrac_lower, cfl, st->ppo_kl, ppo_kl);
    CHECK(rel <= TOL_LOSS);
    *worst_loss = fmax(*worst_loss, rel);
    CHECK(fabs(st->pg_loss - pg) <= TOL_LOSS * fabs(pg));
    CHECK(fabs(st->kl_loss - kl) <= TOL_LOSS * fabs(kl));
    CHECK(st->tokens == tokens);
    /* the clip fractions are counts over `tokens`: the same tokens are clipped (torch's value is a
     * float32 quotient, ours a double one) */
    CHECK(tokens > 0 && lround(st->pg_clipfrac * tokens) == lround(cf * tokens) && lround(cf * tokens) > 0);
    CHECK(lround(st->pg_clipfrac_lower * tokens) == lround(cfl * tokens) && lround(cfl * tokens) > 0);
    CHECK_NEAR(st->pg_clipfrac, cf, 1e-6);
    CHECK_NEAR(st->pg_clipfrac_lower, cfl, 1e-6);
    /* ppo_kl = mean(-delta) mixes +-20 clamped and O(1) terms: float32 rounding of the sum */
    CHECK_NEAR(st->ppo_kl, ppo_kl, 1e-5 * fmax(1.0, fabs(ppo_kl)));
}

int main(void) {
    if (access(FIXM "config.json", R_OK) || access(FIXM "weights.safetensors", R_OK) ||
        access(FIXM "io.safetensors", R_OK) || access(FIXG, R_OK))
        return check_skip("test_grpo_step_parity", "fixtures absent (tests/fixtures/grpo/gen_grpo_step_fixture.py)");
    rv_err e;
    rv_kctx *k = NULL;
    CHECK(rvk_create(&k, "cpu", NULL, &e) == 0);
    rv_model_cfg cfg;
    rv_weights w;
    rv_hf_info info;
    if (rv_hf_load(FIXM "weights.safetensors", FIXM "config.json", k, &cfg, &w, &info, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        CHECK(0);
        return check_summary("test_grpo_step_parity");
    }
    rv_hf_info_free(&info);
    rv_vlm m;
    if (rv_vlm_init(&m, k, &cfg, &w, true, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        CHECK(0);
        return check_summary("test_grpo_step_parity");
    }

    /* the image: the model fixture's anyres image (base + 1x3 grid) */
    rv_st_file io, f;
    CHECK(rv_st_open(&io, FIXM "io.safetensors", &e) == 0);
    float *pix = read_t(&io, "pixel_values", 0, 0);
    int32_t *hw = read_t(&io, "image_size", 2, 1);
    const size_t tile = 3 * (size_t)cfg.vision.image_size * cfg.vision.image_size;
    const rv_st_tensor *pt = rv_st_find(&io, "pixel_values");
    const int n_tiles = pt ? (int)(pt->numel / tile) : 0;
    rv_st_close(&io);
    if (rv_st_open(&f, FIXG, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        CHECK(0);
        return check_summary("test_grpo_step_parity");
    }
    int32_t *plen = read_t(&f, "prompt_len", NSEQ, 1), *rlen = read_t(&f, "resp_len", NSEQ, 1),
            *has_img = read_t(&f, "has_image", NSEQ, 1), *micro = read_t(&f, "micro", NSEQ, 1);
    float *adv32 = read_t(&f, "adv", NSEQ, 0);
    if (!pix || !hw || !n_tiles || !plen || !rlen || !has_img || !micro || !adv32) return check_summary("test_grpo_step_parity");
    rv_vlm_image img = {.tiles = pix, .n_tiles = n_tiles, .orig_h = hw[0], .orig_w = hw[1]};
    CHECK(img.n_tiles == rv_vlm_image_tiles(&cfg, hw[0], hw[1]));

    /* the sequences, built as the phase builds them: prompt + response (rv_grpo_seq_make) */
    rv_grpo_seq q[NSEQ];
    int32_t *ids[NSEQ];
    float *old[NSEQ], *ref[NSEQ], *tlogp[NSEQ], *logp[NSEQ];
    double adv[NSEQ];
    for (int i = 0; i < NSEQ; i++) {
        char name[64];
        snprintf(name, sizeof name, "seq%d.ids", i);
        ids[i] = read_t(&f, name, (size_t)(plen[i] + rlen[i]), 1);
        snprintf(name, sizeof name, "seq%d.old_logp", i);
        old[i] = read_t(&f, name, (size_t)rlen[i], 0);
        snprintf(name, sizeof name, "seq%d.ref_logp", i);
        ref[i] = read_t(&f, name, (size_t)rlen[i], 0);
        snprintf(name, sizeof name, "seq%d.logp", i);
        tlogp[i] = read_t(&f, name, (size_t)rlen[i], 0);
        if (!ids[i] || !old[i] || !ref[i] || !tlogp[i]) return check_summary("test_grpo_step_parity");
        rv_sample prompt = {.ids = ids[i], .len = plen[i], .images = has_img[i] ? &img : NULL,
                            .n_images = has_img[i] ? 1 : 0};
        rv_gen_result r = {.tokens = ids[i] + plen[i], .n = rlen[i]};
        rv_grpo_seq_make(&q[i], &prompt, &r);
        logp[i] = malloc((size_t)rlen[i] * sizeof(float));
        adv[i] = adv32[i];
        /* micro-batches are contiguous runs of sequences, micro-batch 0 holds the image */
        CHECK(micro[i] == (i < NSEQ / 2 ? 0 : 1));
    }
    CHECK(has_img[0] == 1 && has_img[1] + has_img[2] + has_img[3] == 0);

    /* the loss configuration the fixture used: upstream's (train.md B.3) */
    rv_grpo_loss_cfg lc = rv_grpo_loss_cfg_upstream();
    CHECK(lc.clip_low == 0.20 && lc.clip_high == 0.28 && lc.clip_c == 3.0 && lc.kl_coef == 0.01 &&
          lc.agg == RV_GRPO_AGG_TOKEN_MEAN);

    /* current log-probs: ours against transformers' */
    CHECK(rv_grpo_logprobs(&m, q, NSEQ, NSEQ, logp, &e) == 0);
    double dlogp = 0;
    for (int i = 0; i < NSEQ; i++)
        for (int t = 0; t < rlen[i]; t++) dlogp = fmax(dlogp, fabs((double)logp[i][t] - tlogp[i][t]));
    printf("response log-probs: max |ours - transformers| = %.3g\n", dlogp);
    CHECK(dlogp <= TOL_LOGP);

    const float *const *oldc = (const float *const *)old, *const *refc = (const float *const *)ref;
    float *ours = malloc(w.total * sizeof *ours), *want = malloc(w.total * sizeof *want);
    int *reached = malloc(w.n * sizeof *reached);
    double worst_grad = 0, worst_loss = 0;
    rv_grpo_stats st;

    /* each micro-batch alone, loss_scale_factor 1 */
    for (int j = 0; j < NMICRO; j++) {
        const int at = j * NSEQ / 2, cnt = NSEQ / 2;
        rv_weights_zero_grads(&w);
        CHECK(rv_grpo_micro_step(&m, q + at, cnt, oldc + at, refc + at, adv + at, &lc, 1.0, 0, &st, &e) == 0);
        compare_stats(&f, j, &st, 1.0, &worst_loss);
        rvk_download(k, ours, w.grads, w.total);
        double coef[NMICRO] = {0};
        coef[j] = 1.0;
        CHECK(expected_grads(&f, &w, coef, want, reached) > 0);
        char what[64];
        snprintf(what, sizeof what, "micro-batch %d gradient", j);
        compare_grads(what, &w, ours, want, reached, &worst_grad);
    }

    /* the mini-batch: verl's gradient accumulation over 2 micro-batches, 1/2 each */
    rv_weights_zero_grads(&w);
    for (int j = 0; j < NMICRO; j++) {
        const int at = j * NSEQ / 2, cnt = NSEQ / 2;
        CHECK(rv_grpo_micro_step(&m, q + at, cnt, oldc + at, refc + at, adv + at, &lc, 1.0 / NMICRO, 0, &st, &e) == 0);
        compare_stats(&f, j, &st, 1.0 / NMICRO, &worst_loss);
    }
    rvk_download(k, ours, w.grads, w.total);
    double half[NMICRO] = {0.5, 0.5};
    int nread = expected_grads(&f, &w, half, want, reached);
    /* micro-batch 0 reaches all but SigLIP's post_layernorm (2 tensors), micro-batch 1 the language model */
    int nreached = 0;
    for (size_t i = 0; i < w.n; i++) nreached += reached[i];
    CHECK((size_t)nreached == w.n - 2);
    CHECK(nread > nreached);
    compare_grads("mini-batch gradient (2 micro-batches, 1/2 each)", &w, ours, want, reached, &worst_grad);
    printf("worst: loss relative error %.3g, gradient relative L2 error %.3g\n", worst_loss, worst_grad);

    free(ours);
    free(want);
    free(reached);
    for (int i = 0; i < NSEQ; i++) {
        rv_grpo_seq_free(&q[i]);
        free(ids[i]);
        free(old[i]);
        free(ref[i]);
        free(tlogp[i]);
        free(logp[i]);
    }
    free(plen);
    free(rlen);
    free(has_img);
    free(micro);
    free(adv32);
    free(pix);
    free(hw);
    rv_st_close(&f);
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    return check_summary("test_grpo_step_parity");
}
