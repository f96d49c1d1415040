/* The optimizer (train/optimizer.h) and the gradient exchange (train/grad_exchange.h).
 *
 * Unit mode (no arguments, one process): a hand-made table of five tensors in four groups
 *   A [5]  vision.decay       lr 0.01, weight decay 0.1
 *   B [3]  vision.no_decay    lr 0.01
 *   C [7]  lm.decay           lr 0.05, weight decay 0.1
 *   D [4]  projector.decay    frozen
 *   E [20] lm.no_decay        lr 0.05
 * at arena offsets 0, 16, 32, 48, 64 (16-element alignment, total 84), against a double-precision
 * transcription of torch.optim.AdamW (decoupled decay, bias corrections) and of
 * torch.nn.utils.clip_grad_norm_ written out below; skipped steps on NaN / inf; moments round trip;
 * state bytes; the exchange's spans and buckets.
 *
 * MPI mode (tests/e2e/test_optim.sh runs it under mpirun -n 1, 2, 3), on the tiny model with the
 * vision tower frozen:
 *   --mpi            (a) identical weights on every rank, (b) ZeRO-1 == plain DP bitwise (weights,
 *                    norms), (c) equal to one process fed the summed gradients within 1e-6 relative
 *                    (per tensor, against its largest magnitude), (d) clipping uses the global norm
 *                    when one rank's gradient is large (hand-computed norm, moments = 0.1 coef g);
 *   --save DIR       k steps, a checkpoint (every rank its moment shard), j more steps, weights to
 *                    DIR/cont-V-R.bin, for two variants V (no clipping; clipping at 0.05);
 *   --resume DIR     the checkpoint re-sliced for this rank count (ZeRO-1 and plain DP), j steps,
 *                    compared with DIR/cont-V-2.bin: bitwise without clipping (the gradients are
 *                    sums of multiples of 2^-16, exact in any order, and without clipping the
 *                    global norm, whose association changes with the rank count, does not enter
 *                    the update), within 1e-6 relative with clipping (the clip factor may differ in
 *                    its last bit). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "comm/comm.h"
#include "comm/world.h"
#include "core/strbuf.h"
#include "kernels/kernels.h"
#include "model/config.h"
#include "model/weights.h"
#include "train/checkpoint.h"
#include "train/grad_exchange.h"
#include "train/optimizer.h"
#include "train/param_groups.h"
#include "train/partition.h"

/* ------------------------------------------------------------------------------------------ */
/* Unit mode                                                                                   */

#define NT 5
static const size_t t_numel[NT] = {5, 3, 7, 4, 20};
static const size_t t_off[NT] = {0, 16, 32, 48, 64};
static const int t_group[NT] = {0, 1, 4, 2, 5};
#define TOTAL 84

static rv_kctx *kc;

static void make_table(rv_weights *w) {
    rv_err err;
    memset(w, 0, sizeof *w);
    w->n = NT;
    w->total = TOTAL;
    w->k = kc;
    w->t = rv_xcalloc(NT, sizeof *w->t);
    for (int i = 0; i < NT; i++) {
        w->t[i].name = rv_xasprintf("t%c", 'A' + i);
        w->t[i].ndim = 1;
        w->t[i].shape[0] = (int64_t)t_numel[i];
        w->t[i].numel = t_numel[i];
        w->t[i].offset = t_off[i];
        w->t[i].flags = RV_WF_TRAINABLE | (t_group[i] % 2 == 0 ? RV_WF_DECAY : 0);
    }
    if (rvk_buf_alloc(kc, &w->params_buf, RVK_MEM_DEVICE, RVK_F32, TOTAL, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    w->params = rvk_buf_f32(&w->params_buf);
}

static void free_table(rv_weights *w) {
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    rvk_buf_free(kc, &w->params_buf);
    rvk_buf_free(kc, &w->grads_buf);
}

static void make_groups(rv_param_groups *pg, double wd) {
    static const char *names[RV_PG_COUNT] = {"vision.decay", "vision.no_decay", "projector.decay", "projector.no_decay",
                                             "lm.decay", "lm.no_decay"};
    static const double lr[RV_PG_COUNT] = {0.01, 0.01, 0.02, 0.02, 0.05, 0.05};
    memset(pg, 0, sizeof *pg);
    pg->n_tensors = NT;
    pg->group_of = rv_xcalloc(NT, sizeof *pg->group_of);
    for (int k = 0; k < RV_PG_COUNT; k++) {
        snprintf(pg->g[k].name, sizeof pg->g[k].name, "%s", names[k]);
        pg->g[k].part = (rv_part)(k / 2);
        pg->g[k].decay = k % 2 == 0;
        pg->g[k].trainable = k / 2 != RV_PART_PROJECTOR; /* the projector (D) is frozen */
        pg->g[k].lr = lr[k];
        pg->g[k].weight_decay = k % 2 == 0 ? wd : 0.0;
        pg->g[k].tensors = rv_xcalloc(NT, sizeof(size_t));
    }
    for (int i = 0; i < NT; i++) {
        rv_param_group *g = &pg->g[t_group[i]];
        pg->group_of[i] = t_group[i];
        g->tensors[g->ntensors++] = (size_t)i;
        g->numel += t_numel[i];
    }
}

static void upload(rvk_buf *b, const float *host) {
    rv_err err;
    rvk_upload_async(kc, b, 0, host, TOTAL);
    if (rvk_sync(kc, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
}
static void download(float *host, const rvk_buf *b, size_t n) {
    rv_err err;
    rvk_download_async(kc, host, b, 0, n);
    if (rvk_sync(kc, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
}

/* Initial values and the gradient of step s (0-based); padding stays 0. */
static float p0_of(size_t e) { return (float)(0.5 * sin(0.7 * (double)e + 0.3)); }
static float g_of(size_t e, int s) { return (float)(0.4 * cos(1.3 * (double)e + 0.9 * s) + 0.05 * s); }

static bool in_tensor(size_t e, int *ti) {
    for (int i = 0; i < NT; i++)
        if (e >= t_off[i] && e < t_off[i] + t_numel[i]) { *ti = i; return true; }
    return false;
}

/* torch.optim.AdamW (foreach=False, amsgrad=False) with torch.nn.utils.clip_grad_norm_, in double:
 *   total_norm = ||g|| over the trainable parameters; coef = min(1, max_norm / (total_norm + 1e-6))
 *   g *= coef
 *   p *= 1 - lr * weight_decay                     (decay groups)
 *   m = beta1 m + (1 - beta1) g ;  v = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
typedef struct ref_state { double p[TOTAL], m[TOTAL], v[TOTAL]; } ref_state;

static void ref_step(ref_state *r, const rv_param_groups *pg, const double *g, int t, double lr_factor,
                     double max_norm, double *norm_out, double *coef_out) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double ss = 0;
    for (size_t e = 0; e < TOTAL; e++) {
        int ti;
        if (in_tensor(e, &ti) && pg->g[t_group[ti]].trainable) ss += g[e] * g[e];
    }
    double norm = sqrt(ss), coef = max_norm > 0 ? fmin(1.0, max_norm / (norm + 1e-6)) : 1.0;
    *norm_out = norm;
    *coef_out = coef;
    for (size_t e = 0; e < TOTAL; e++) {
        int ti;
        if (!in_tensor(e, &ti) || !pg->g[t_group[ti]].trainable) continue;
        const rv_param_group *G = &pg->g[t_group[ti]];
        double lr = G->lr * lr_factor, gg = g[e] * coef;
        if (G->decay) r->p[e] *= 1.0 - lr * G->weight_decay;
        r->m[e] = b1 * r->m[e] + (1 - b1) * gg;
        r->v[e] = b2 * r->v[e] + (1 - b2) * gg * gg;
        r->p[e] -= lr / (1 - pow(b1, t)) * r->m[e] / (sqrt(r->v[e]) / sqrt(1 - pow(b2, t)) + eps);
    }
}

static void unit_adamw_vs_reference(double max_norm) {
    rv_err err = {{0}};
    rv_weights w;
    rv_param_groups pg;
    make_table(&w);
    make_groups(&pg, 0.1);
    float host[TOTAL] = {0}, got[TOTAL];
    ref_state r;
    memset(&r, 0, sizeof r);
    for (size_t e = 0; e < TOTAL; e++) {
        int ti;
        host[e] = in_tensor(e, &ti) ? p0_of(e) : 0.0f;
        r.p[e] = host[e];
    }
    upload(&w.params_buf, host);
    rv_optim_cfg cfg = rv_optim_cfg_upstream();
    cfg.weight_decay = 0.1;
    cfg.max_grad_norm = max_norm;
    cfg.bucket_elems = 8;
    rv_optim *o = NULL;
    CHECK(rv_optim_create(&o, &w, &pg, rv_comm_world(), &cfg, &err) == 0);
    if (!o) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    static const double factors[3] = {1.0, 0.5, 0.25};
    bool clipped = false, unclipped = false;
    for (int s = 0; s < 3; s++) {
        float g[TOTAL] = {0};
        double gd[TOTAL] = {0}, norm, coef;
        for (size_t e = 0; e < TOTAL; e++) {
            int ti;
            if (!in_tensor(e, &ti)) continue;
            /* the frozen tensor's gradient is large: it must not enter the norm */
            g[e] = ti == 3 ? 100.0f : g_of(e, s);
            gd[e] = g[e];
        }
        upload(&w.grads_buf, g);
        rv_optim_stats st;
        CHECK(rv_optim_step(o, factors[s], &st, &err) == 0);
        ref_step(&r, &pg, gd, s + 1, factors[s], max_norm, &norm, &coef);
        CHECK(!st.skipped);
        CHECK_NEAR(st.grad_norm, norm, 1e-6 * norm);
        CHECK_NEAR(st.clip_coef, coef, 1e-6 * coef);
        if (coef < 1) clipped = true;
        else unclipped = true;
        CHECK(rv_optim_step_count(o) == s + 1);
        download(got, &w.params_buf, TOTAL);
        int bad = 0;
        for (size_t e = 0; e < TOTAL; e++) {
            int ti;
            if (!in_tensor(e, &ti)) { bad += got[e] != 0.0f; continue; }
            if (ti == 3) { bad += got[e] != host[e]; continue; } /* frozen: untouched, bit for bit */
            double tol = 1e-6 * fmax(1.0, fabs(r.p[e]));
            if (fabs(got[e] - r.p[e]) > tol) {
                if (bad < 5) fprintf(stderr, "  step %d element %zu: %.9g vs reference %.9g\n", s + 1, e, got[e], r.p[e]);
                bad++;
            }
        }
        CHECK(bad == 0);
        /* gradients zeroed after the step */
        download(got, &w.grads_buf, TOTAL);
        bool zero = true;
        for (size_t e = 0; e < TOTAL; e++) zero = zero && got[e] == 0.0f;
        CHECK(zero);
    }
    if (max_norm > 0) CHECK(clipped && unclipped); /* the test covers both sides of the clip */
    /* moments in arena coordinates: the reference's where trainable, 0 for the frozen tensor and padding */
    size_t off, n;
    rv_optim_range(o, &off, &n);
    CHECK(off == 0 && n == TOTAL);
    float m[TOTAL], v[TOTAL];
    CHECK(rv_optim_get_moments(o, m, v, &err) == 0);
    int bad = 0;
    for (size_t e = 0; e < TOTAL; e++) {
        int ti;
        if (!in_tensor(e, &ti) || ti == 3) { bad += m[e] != 0.0f || v[e] != 0.0f; continue; }
        bad += fabs(m[e] - r.m[e]) > 1e-6 * fabs(r.m[e]) + 1e-9 || fabs(v[e] - r.v[e]) > 1e-5 * fabs(r.v[e]) + 1e-12;
    }
    CHECK(bad == 0);
    /* 2 * 4 bytes per trainable element: A 5 + B 3 + C 7 + E 20 = 35 -> 280 (D frozen, padding free) */
    CHECK(rv_optim_state_bytes(o) == 280 && rv_optim_state_bytes_unsharded(o) == 280);
    rv_optim_free(o);
    rv_param_groups_free(&pg);
    free_table(&w);
}

static void unit_skip_and_roundtrip(void) {
    rv_err err = {{0}};
    rv_weights w;
    rv_param_groups pg;
    make_table(&w);
    make_groups(&pg, 0.0);
    float host[TOTAL] = {0}, g[TOTAL] = {0}, before[TOTAL], got[TOTAL];
    for (size_t e = 0; e < TOTAL; e++) {
        int ti;
        if (in_tensor(e, &ti)) { host[e] = p0_of(e); g[e] = g_of(e, 0); }
    }
    upload(&w.params_buf, host);
    rv_optim_cfg cfg = rv_optim_cfg_upstream();
    rv_optim *o = NULL, *o2 = NULL;
    CHECK(rv_optim_create(&o, &w, &pg, rv_comm_world(), &cfg, &err) == 0);
    if (!o) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    rv_optim_stats st;
    upload(&w.grads_buf, g);
    CHECK(rv_optim_step(o, 1.0, &st, &err) == 0 && !st.skipped && rv_optim_step_count(o) == 1);
    download(before, &w.params_buf, TOTAL);
    float m1[TOTAL], v1[TOTAL];
    CHECK(rv_optim_get_moments(o, m1, v1, &err) == 0);

    /* NaN, then +inf, in a trainable tensor: skipped, nothing moves, count unchanged, grads zeroed */
    for (int bad = 0; bad < 2; bad++) {
        float gb[TOTAL];
        memcpy(gb, g, sizeof gb);
        gb[t_off[2] + 3] = bad == 0 ? NAN : INFINITY;
        upload(&w.grads_buf, gb);
        CHECK(rv_optim_step(o, 1.0, &st, &err) == 0);
        CHECK(st.skipped && !isfinite(st.grad_norm));
        CHECK(rv_optim_step_count(o) == 1);
        download(got, &w.params_buf, TOTAL);
        CHECK(memcmp(got, before, sizeof got) == 0);
        float m[TOTAL], v[TOTAL];
        CHECK(rv_optim_get_moments(o, m, v, &err) == 0);
        CHECK(memcmp(m, m1, sizeof m) == 0 && memcmp(v, v1, sizeof v) == 0);
        download(got, &w.grads_buf, TOTAL);
        bool zero = true;
        for (size_t e = 0; e < TOTAL; e++) zero = zero && got[e] == 0.0f;
        CHECK(zero);
    }
    /* a NaN in the frozen tensor's gradient is not the optimizer's business: the step happens */
    {
        float gb[TOTAL];
        memcpy(gb, g, sizeof gb);
        gb[t_off[3]] = NAN;
        upload(&w.grads_buf, gb);
        CHECK(rv_optim_step(o, 1.0, &st, &err) == 0 && !st.skipped && isfinite(st.grad_norm));
        CHECK(rv_optim_step_count(o) == 2);
        download(got, &w.params_buf, TOTAL);
        CHECK(got[t_off[3]] == before[t_off[3]] && got[t_off[0]] != before[t_off[0]]);
    }

    /* round trip: a second optimizer given o's moments and count steps exactly as o does */
    float m[TOTAL], v[TOTAL];
    CHECK(rv_optim_get_moments(o, m, v, &err) == 0);
    CHECK(rv_optim_create(&o2, &w, &pg, rv_comm_world(), &cfg, &err) == 0);
    CHECK(rv_optim_set_moments(o2, m, v, rv_optim_step_count(o), &err) == 0 && rv_optim_step_count(o2) == 2);
    float m2[TOTAL], v2[TOTAL];
    CHECK(rv_optim_get_moments(o2, m2, v2, &err) == 0);
    CHECK(memcmp(m, m2, sizeof m) == 0 && memcmp(v, v2, sizeof v) == 0);
    float start[TOTAL], after1[TOTAL], after2[TOTAL];
    download(start, &w.params_buf, TOTAL);
    upload(&w.grads_buf, g);
    CHECK(rv_optim_step(o, 0.5, &st, &err) == 0 && rv_optim_step_count(o) == 3);
    download(after1, &w.params_buf, TOTAL);
    upload(&w.params_buf, start);
    upload(&w.grads_buf, g);
    CHECK(rv_optim_step(o2, 0.5, &st, &err) == 0 && rv_optim_step_count(o2) == 3);
    download(after2, &w.params_buf, TOTAL);
    CHECK(memcmp(after1, after2, sizeof after1) == 0 && memcmp(after1, start, sizeof start) != 0);
    CHECK(rv_optim_set_moments(o2, m, v, -1, &err) == -1 && strstr(err.msg, "step count -1"));
    rv_optim_free(o2);
    rv_optim_free(o);

    /* a decay group whose weight decay differs from the optimizer's is refused, naming both */
    cfg.weight_decay = 0.01;
    CHECK(rv_optim_create(&o, &w, &pg, rv_comm_world(), &cfg, &err) == -1 && o == NULL &&
          strstr(err.msg, "vision.decay has weight decay 0") && strstr(err.msg, "given 0.01"));
    cfg.weight_decay = 0;
    cfg.beta2 = 1.0;
    CHECK(rv_optim_create(&o, &w, &pg, rv_comm_world(), &cfg, &err) == -1 && strstr(err.msg, "betas"));
    rv_param_groups_free(&pg);
    free_table(&w);
}

static void unit_exchange_layout(void) {
    rv_err err = {{0}};
    rv_weights w;
    make_table(&w);
    bool ex[NT] = {true, true, true, false, true}; /* D frozen */
    rv_grad_exchange gx;
    CHECK(rv_gx_init(&gx, &w, ex, rv_comm_world(), 8, &err) == 0);
    /* runs: A..C = [0, 39) (padding between them included), E = [64, 84) */
    CHECK(gx.nspans == 2);
    CHECK(gx.spans[0].off == 0 && gx.spans[0].n == 39 && gx.spans[1].off == 64 && gx.spans[1].n == 20);
    CHECK(gx.nbuckets == 5 + 3 && gx.elems == 59); /* ceil(39/8) + ceil(20/8) */
    rv_gx_free(&gx);
    bool ex2[NT] = {false, true, true, true, false};
    CHECK(rv_gx_init(&gx, &w, ex2, rv_comm_world(), 0, &err) == 0);
    CHECK(gx.nspans == 1 && gx.spans[0].off == 16 && gx.spans[0].n == 36 && gx.bucket == RV_GX_DEFAULT_BUCKET &&
          gx.nbuckets == 1);
    rv_gx_free(&gx);
    free_table(&w);
}

static int unit_main(void) {
    rv_err err;
    rvk_cpu_opts opts = {.nthreads = 1};
    if (rvk_create(&kc, "cpu", &opts, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    unit_adamw_vs_reference(0.0);  /* no clipping */
    unit_adamw_vs_reference(1.7);  /* norms 1.63, 1.71, 1.84 (by hand): clipping on steps 2 and 3 only */
    unit_skip_and_roundtrip();
    unit_exchange_layout();
    rvk_destroy(kc);
    return check_summary("test_optim");
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return unit_main();
}
