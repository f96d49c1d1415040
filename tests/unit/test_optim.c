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
#include <sys/stat.h>

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
    CHECK(rv_optim_state_bytes_plan(&w, &pg, 0, 0, 1) == 280);
    /* as rank 1 of 2 under ZeRO-1: 84 elements = 6 units of 16, rank 1 owns [48, 84): E's 20 -> 160 */
    CHECK(rv_optim_state_bytes_plan(&w, &pg, 1, 1, 2) == 160 && rv_optim_state_bytes_plan(&w, &pg, 1, 0, 2) == 120);
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

/* ------------------------------------------------------------------------------------------ */
/* MPI mode                                                                                    */

typedef struct mpi_env {
    const rv_comm *world;
    rv_model_cfg mc;
    rv_pg_config pgc;
} mpi_env;

static void die_on(int rc, const rv_err *err, const char *what) {
    if (rc) rv_die("test_optim: %s: %s", what, err->msg);
}

/* The tiny model (seed-3 init unless blank), vision tower frozen, weight decay 0.1. */
static void tiny_build(mpi_env *env, rv_weights *w, rv_param_groups *pg, bool init) {
    rv_err err = {{0}};
    die_on(rv_weights_build(w, &env->mc, kc, &err), &err, "weights");
    if (init) die_on(rv_weights_init_random(w, 3, 0.02f, &err), &err, "init");
    die_on(rv_weights_alloc_grads(w, &err), &err, "grads");
    die_on(rv_param_groups_build(pg, w, &env->pgc, &err), &err, "groups");
}

static rv_optim *tiny_optim_b(mpi_env *env, rv_weights *w, rv_param_groups *pg, int zero, double max_norm, size_t bucket) {
    rv_err err = {{0}};
    rv_optim_cfg cfg = rv_optim_cfg_upstream();
    cfg.weight_decay = 0.1;
    cfg.max_grad_norm = max_norm;
    cfg.zero = zero;
    cfg.bucket_elems = bucket;
    rv_optim *o = NULL;
    die_on(rv_optim_create(&o, w, pg, env->world, &cfg, &err), &err, "optimizer");
    return o;
}
/* Odd buckets: they straddle tensors and partition boundaries. */
static rv_optim *tiny_optim(mpi_env *env, rv_weights *w, rv_param_groups *pg, int zero, double max_norm) {
    return tiny_optim_b(env, w, pg, zero, max_norm, 100003);
}

static float *arena_of(const rvk_buf *b, size_t n) {
    float *h = rv_xmalloc(n * sizeof *h);
    rv_err err;
    rvk_download_async(kc, h, b, 0, n);
    die_on(rvk_sync(kc, &err), &err, "download");
    return h;
}

typedef float (*grad_fn)(size_t e, int step, int rank, int nranks);

/* Every tensor (frozen ones too: the optimizer must ignore them), padding 0. */
static void set_grads(rv_weights *w, grad_fn f, int step, int rank, int nranks) {
    float *h = rv_xcalloc(w->total, sizeof *h);
    for (size_t i = 0; i < w->n; i++)
        for (size_t e = w->t[i].offset; e < w->t[i].offset + w->t[i].numel; e++) h[e] = f(e, step, rank, nranks);
    rv_err err;
    rvk_upload_async(kc, &w->grads_buf, 0, h, w->total);
    die_on(rvk_sync(kc, &err), &err, "upload");
    free(h);
}

/* (a)-(c): same-sign contributions (rank weights 0.7 + 0.45 r), so the float sum is accurate to a
 * few ulp in any order and the one-process reference is meaningful to 1e-6. */
static float g_rank(size_t e, int s, int r, int R) {
    (void)R;
    return (float)(1e-3 * sin(0.37 * (double)e + 1.3 * s + 0.1)) * (float)(0.7 + 0.45 * r);
}
/* (d): the last rank's gradient is 500 times the others'. */
static float g_big(size_t e, int s, int r, int R) {
    return (float)((r == R - 1 ? 0.05 : 1e-4) * sin(0.91 * (double)e + 0.2 * r + s));
}
/* (e): sample j's gradient is a multiple of 2^-16 in [-1000, 1000] * 2^-16; a rank sums its block of
 * the 6 samples of a step (rv_slice_block). Sums of up to 6 are exact in fp32 in any order, so
 * the global gradient has the same bits for every rank count. */
#define E_SAMPLES 6
static float g_sample(size_t e, int s, int j) {
    uint64_t x = (uint64_t)e * 0x9E3779B97F4A7C15ull + (uint64_t)s * 0xBF58476D1CE4E5B9ull + (uint64_t)j * 0x94D049BB133111EBull;
    x ^= x >> 31;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 29;
    return (float)((int)(x % 2001) - 1000) * (1.0f / 65536.0f);
}
static float g_exact(size_t e, int s, int r, int R) {
    size_t b, end;
    rv_slice_block(E_SAMPLES, r, R, &b, &end);
    float sum = 0;
    for (size_t j = b; j < end; j++) sum += g_sample(e, s, (int)j);
    return sum;
}

static double lr_factor_of(int s) { return 1.0 - 0.1 * s; }

static uint64_t fnv(const void *p, size_t n) {
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static bool same_on_all_ranks(const rv_comm *c, const float *a, size_t n) {
    uint64_t h = fnv(a, n * sizeof *a);
    char *all;
    size_t len;
    rv_comm_allgather_bytes(c, &h, sizeof h, &all, &len);
    bool same = len == (size_t)c->size * sizeof h;
    for (int r = 0; same && r < c->size; r++) same = memcmp(all + (size_t)r * sizeof h, &h, sizeof h) == 0;
    free(all);
    return same;
}

/* Largest over tensors of max|a - b| / max|b| (the tensor's own scale). */
static double max_rel_diff(const rv_weights *w, const float *a, const float *b) {
    double worst = 0;
    for (size_t i = 0; i < w->n; i++) {
        double d = 0, s = 0;
        for (size_t e = w->t[i].offset; e < w->t[i].offset + w->t[i].numel; e++) {
            d = fmax(d, fabs((double)a[e] - b[e]));
            s = fmax(s, fabs((double)b[e]));
        }
        if (d > 0) worst = fmax(worst, s > 0 ? d / s : INFINITY);
    }
    return worst;
}

static bool frozen_untouched(const rv_weights *w, const rv_param_groups *pg, const float *now, const float *init) {
    size_t checked = 0;
    for (size_t i = 0; i < w->n; i++) {
        int g = pg->group_of[i];
        if (g >= 0 && pg->g[g].trainable) continue;
        checked += w->t[i].numel;
        if (memcmp(now + w->t[i].offset, init + w->t[i].offset, w->t[i].numel * sizeof *now)) return false;
    }
    return checked > 0;
}

#define K_STEPS 3
#define ABC_MAX_NORM 0.8

static void mpi_abc(mpi_env *env) {
    const rv_comm *c = env->world;
    int R = c->size;
    rv_err err = {{0}};
    rv_weights wd, wz, wr;
    rv_param_groups pd, pz, pr;
    tiny_build(env, &wd, &pd, true);
    tiny_build(env, &wz, &pz, true);
    float *init = arena_of(&wd.params_buf, wd.total);
    rv_optim *od = tiny_optim(env, &wd, &pd, 0, ABC_MAX_NORM), *oz = tiny_optim(env, &wz, &pz, 1, ABC_MAX_NORM);
    double nd[K_STEPS], nz[K_STEPS], cd[K_STEPS], cz[K_STEPS];
    for (int s = 0; s < K_STEPS; s++) {
        rv_optim_stats a, b;
        set_grads(&wd, g_rank, s, c->rank, R);
        set_grads(&wz, g_rank, s, c->rank, R);
        die_on(rv_optim_step(od, lr_factor_of(s), &a, &err), &err, "step (DP)");
        die_on(rv_optim_step(oz, lr_factor_of(s), &b, &err), &err, "step (ZeRO-1)");
        nd[s] = a.grad_norm, nz[s] = b.grad_norm, cd[s] = a.clip_coef, cz[s] = b.clip_coef;
        CHECK(!a.skipped && !b.skipped);
    }
    float *pdh = arena_of(&wd.params_buf, wd.total), *pzh = arena_of(&wz.params_buf, wz.total);
    /* the bucket size changes the messages, not the sums: 1000-element buckets and the default
     * (one bucket per span) give the same bits, ZeRO-1 and plain DP */
    for (int zb = 0; zb < 2; zb++) {
        rv_weights wb;
        rv_param_groups pb;
        tiny_build(env, &wb, &pb, true);
        rv_optim *ob = tiny_optim_b(env, &wb, &pb, zb, ABC_MAX_NORM, zb ? 1000 : 0);
        for (int s = 0; s < K_STEPS; s++) {
            rv_optim_stats st;
            set_grads(&wb, g_rank, s, c->rank, R);
            die_on(rv_optim_step(ob, lr_factor_of(s), &st, &err), &err, "step (buckets)");
        }
        float *pb_h = arena_of(&wb.params_buf, wb.total);
        CHECK(memcmp(pb_h, pzh, wb.total * sizeof *pb_h) == 0);
        free(pb_h);
        rv_optim_free(ob);
        rv_param_groups_free(&pb);
        rv_weights_free(&wb);
    }
    /* (a) the same weights on every rank, in both modes */
    CHECK(same_on_all_ranks(c, pdh, wd.total));
    CHECK(same_on_all_ranks(c, pzh, wz.total));
    CHECK(frozen_untouched(&wd, &pd, pdh, init) && frozen_untouched(&wz, &pz, pzh, init));
    CHECK(memcmp(pdh, init, wd.total * sizeof *init) != 0);
    /* (b) ZeRO-1 == plain DP, bit for bit */
    CHECK(memcmp(pdh, pzh, wd.total * sizeof *pdh) == 0);
    CHECK(memcmp(nd, nz, sizeof nd) == 0 && memcmp(cd, cz, sizeof cd) == 0);
    /* moments: ZeRO-1 holds its partition's share of DP's; bytes shrink by about R */
    size_t off, n, offd, nd_;
    rv_optim_range(oz, &off, &n);
    rv_optim_range(od, &offd, &nd_);
    rv_range mine = rv_partition(wz.total, c->rank, R);
    CHECK(off == mine.off && n == mine.n && offd == 0 && nd_ == wd.total);
    float *mz = rv_xmalloc((n ? n : 1) * sizeof(float)), *vz = rv_xmalloc((n ? n : 1) * sizeof(float));
    float *md = rv_xmalloc(wd.total * sizeof(float)), *vd = rv_xmalloc(wd.total * sizeof(float));
    CHECK(rv_optim_get_moments(oz, mz, vz, &err) == 0 && rv_optim_get_moments(od, md, vd, &err) == 0);
    CHECK(memcmp(mz, md + off, n * sizeof *mz) == 0 && memcmp(vz, vd + off, n * sizeof *vz) == 0);
    size_t trainable = rv_pg_trainable_numel(&pd);
    CHECK(rv_optim_state_bytes_unsharded(od) == 8 * trainable && rv_optim_state_bytes(od) == 8 * trainable);
    CHECK(rv_optim_state_bytes_unsharded(oz) == 8 * trainable);
    CHECK(rv_comm_sum_u64(c, rv_optim_state_bytes(oz)) == 8 * trainable);
    if (R > 1) CHECK(rv_optim_state_bytes(oz) < 8 * trainable / (size_t)(R - 1));
    CHECK(rv_optim_state_bytes_plan(&wz, &pz, 1, c->rank, R) == rv_optim_state_bytes(oz));
    CHECK(rv_optim_state_bytes_plan(&wz, &pz, 0, c->rank, R) == 8 * trainable);
    if (c->rank == 0)
        printf("optimizer bytes per rank: %zu without ZeRO-1, %zu with (rank 0 of %d)\n",
               rv_optim_state_bytes_unsharded(oz), rv_optim_state_bytes(oz), R);

    /* (c) one process fed the summed gradients (summed in double, rounded once) */
    rv_comm solo;
    die_on(rv_comm_split(c, c->rank, 0, &solo, &err), &err, "split");
    tiny_build(env, &wr, &pr, true);
    rv_optim_cfg cfg = rv_optim_cfg_upstream();
    cfg.weight_decay = 0.1;
    cfg.max_grad_norm = ABC_MAX_NORM;
    rv_optim *orf = NULL;
    die_on(rv_optim_create(&orf, &wr, &pr, &solo, &cfg, &err), &err, "reference optimizer");
    float *sum = rv_xcalloc(wr.total, sizeof *sum);
    for (int s = 0; s < K_STEPS; s++) {
        for (size_t i = 0; i < wr.n; i++)
            for (size_t e = wr.t[i].offset; e < wr.t[i].offset + wr.t[i].numel; e++) {
                double acc = 0;
                for (int r = 0; r < R; r++) acc += g_rank(e, s, r, R);
                sum[e] = (float)acc;
            }
        rvk_upload_async(kc, &wr.grads_buf, 0, sum, wr.total);
        rv_optim_stats st;
        die_on(rv_optim_step(orf, lr_factor_of(s), &st, &err), &err, "reference step");
        CHECK_NEAR(st.grad_norm, nd[s], 1e-6 * nd[s]);
        CHECK_NEAR(st.clip_coef, cd[s], 1e-6 * cd[s]);
    }
    float *prh = arena_of(&wr.params_buf, wr.total);
    double rel = max_rel_diff(&wr, pdh, prh);
    CHECK(rel <= 1e-6);
    if (c->rank == 0) printf("(c) %d ranks vs one process on the summed gradients: max relative difference %.3g\n", R, rel);
    /* clipping is active with more than one rank (norms about 0.38, 1.0, 1.9 for 1, 2, 3 ranks) */
    for (int s = 0; s < K_STEPS; s++) CHECK(R > 1 ? cd[s] < 1.0 : cd[s] == 1.0);
    free(sum);
    free(prh);
    rv_optim_free(orf);
    rv_comm_free(&solo);
    rv_param_groups_free(&pr);
    rv_weights_free(&wr);

    /* (d) clipping with one large rank: the global norm of the SUM, by hand in double */
    rv_optim_free(od);
    rv_optim_free(oz);
    rv_weights_free(&wd);
    rv_weights_free(&wz);
    rv_param_groups_free(&pd);
    rv_param_groups_free(&pz);
    tiny_build(env, &wd, &pd, true);
    tiny_build(env, &wz, &pz, true);
    od = tiny_optim(env, &wd, &pd, 0, 1.0);
    oz = tiny_optim(env, &wz, &pz, 1, 1.0);
    double *gsum = rv_xcalloc(wd.total, sizeof *gsum), ss = 0;
    for (size_t i = 0; i < wd.n; i++) {
        int g = pd.group_of[i];
        bool tr = g >= 0 && pd.g[g].trainable;
        for (size_t e = wd.t[i].offset; e < wd.t[i].offset + wd.t[i].numel; e++) {
            for (int r = 0; r < R; r++) gsum[e] += g_big(e, 0, r, R);
            if (tr) ss += gsum[e] * gsum[e];
            else gsum[e] = 0; /* frozen: no moments */
        }
    }
    double norm = sqrt(ss), coef = 1.0 / (norm + 1e-6);
    rv_optim_stats a, b;
    set_grads(&wd, g_big, 0, c->rank, R);
    set_grads(&wz, g_big, 0, c->rank, R);
    die_on(rv_optim_step(od, 1.0, &a, &err), &err, "step (d, DP)");
    die_on(rv_optim_step(oz, 1.0, &b, &err), &err, "step (d, ZeRO-1)");
    CHECK_NEAR(a.grad_norm, norm, 1e-6 * norm);
    CHECK_NEAR(a.clip_coef, coef, 1e-6 * coef);
    CHECK(a.clip_coef < 0.1 && a.grad_norm == b.grad_norm && a.clip_coef == b.clip_coef);
    if (c->rank == 0) printf("(d) global norm %.9g (hand %.9g), clip coefficient %.9g\n", a.grad_norm, norm, a.clip_coef);
    /* the first moment is (1 - beta1) * coef * g_sum on every element this rank holds */
    for (int mode = 0; mode < 2; mode++) {
        rv_optim *o = mode ? oz : od;
        rv_optim_range(o, &off, &n);
        float *m = rv_xmalloc((n ? n : 1) * sizeof *m), *v = rv_xmalloc((n ? n : 1) * sizeof *v);
        CHECK(rv_optim_get_moments(o, m, v, &err) == 0);
        double dmax = 0, smax = 0;
        for (size_t e = 0; e < n; e++) {
            double want = 0.1 * coef * gsum[off + e];
            dmax = fmax(dmax, fabs(m[e] - want));
            smax = fmax(smax, fabs(want));
        }
        CHECK(n == 0 || (smax > 0 && dmax <= 1e-6 * smax));
        free(m);
        free(v);
    }
    free(gsum);
    float *p1 = arena_of(&wd.params_buf, wd.total), *p2 = arena_of(&wz.params_buf, wz.total);
    CHECK(memcmp(p1, p2, wd.total * sizeof *p1) == 0 && same_on_all_ranks(c, p1, wd.total));
    free(p1);
    free(p2);
    free(mz), free(vz), free(md), free(vd);
    free(init), free(pdh), free(pzh);
    rv_optim_free(od);
    rv_optim_free(oz);
    rv_param_groups_free(&pd);
    rv_param_groups_free(&pz);
    rv_weights_free(&wd);
    rv_weights_free(&wz);
}

#define E_BEFORE 2 /* steps before the checkpoint */
#define E_AFTER 2  /* steps after it */
static const double e_max_norm[2] = {0.0, 5.0};

static char *cont_path(const char *dir, int variant, int R) { return rv_xasprintf("%s/cont-%d-%d.bin", dir, variant, R); }
static char *run_dir(const char *dir, int variant) { return rv_xasprintf("%s/run-%d", dir, variant); }

static void continue_steps(rv_optim *o, rv_weights *w, const rv_comm *c) {
    rv_err err = {{0}};
    for (int s = E_BEFORE; s < E_BEFORE + E_AFTER; s++) {
        rv_optim_stats st;
        set_grads(w, g_exact, s, c->rank, c->size);
        die_on(rv_optim_step(o, lr_factor_of(s), &st, &err), &err, "step");
        CHECK(!st.skipped);
    }
    CHECK(rv_optim_step_count(o) == E_BEFORE + E_AFTER);
}

static void mpi_save(mpi_env *env, const char *dir) {
    const rv_comm *c = env->world;
    rv_err err = {{0}};
    rv_sb sb;
    rv_sb_init(&sb);
    rv_model_cfg_to_hf_json(&env->mc, &sb);
    char *mcj = rv_sb_take(&sb);
    for (int V = 0; V < 2; V++) {
        rv_weights w;
        rv_param_groups pg;
        tiny_build(env, &w, &pg, true);
        rv_optim *o = tiny_optim(env, &w, &pg, 1, e_max_norm[V]);
        for (int s = 0; s < E_BEFORE; s++) {
            rv_optim_stats st;
            set_grads(&w, g_exact, s, c->rank, c->size);
            die_on(rv_optim_step(o, lr_factor_of(s), &st, &err), &err, "step");
        }
        char *run = run_dir(dir, V), *ckdir = rv_xasprintf("%s/checkpoints", run);
        if (c->rank == 0) {
            mkdir(run, 0755);
            mkdir(ckdir, 0755);
        }
        rv_comm_barrier(c);
        char *path = rv_ckpt_path(run, E_BEFORE);
        size_t off, n;
        rv_optim_range(o, &off, &n);
        float *m = rv_xmalloc((n ? n : 1) * sizeof *m), *v = rv_xmalloc((n ? n : 1) * sizeof *v);
        die_on(rv_optim_get_moments(o, m, v, &err), &err, "get moments");
        die_on(rv_ckpt_write_shard(path, &w, rv_optim_step_count(o), c->rank, c->size, m, v, &err), &err, "shard");
        rv_comm_barrier(c);
        if (c->rank == 0) {
            rv_ckpt_data d = {.w = &w, .optim_shards = c->size, .step = rv_optim_step_count(o), .model_config_json = mcj};
            die_on(rv_ckpt_write(path, &d, &err), &err, "checkpoint");
        }
        rv_comm_barrier(c);
        continue_steps(o, &w, c);
        float *p = arena_of(&w.params_buf, w.total);
        CHECK(same_on_all_ranks(c, p, w.total));
        if (c->rank == 0) {
            char *out = cont_path(dir, V, c->size);
            FILE *f = fopen(out, "wb");
            CHECK(f && fwrite(p, sizeof *p, w.total, f) == w.total && fclose(f) == 0);
            free(out);
        }
        free(p), free(m), free(v), free(path), free(run), free(ckdir);
        rv_optim_free(o);
        rv_param_groups_free(&pg);
        rv_weights_free(&w);
    }
    free(mcj);
}

static void mpi_resume(mpi_env *env, const char *dir) {
    const rv_comm *c = env->world;
    rv_err err = {{0}};
    for (int V = 0; V < 2; V++) {
        char *ref_path = cont_path(dir, V, 2), *run = run_dir(dir, V), *path = rv_ckpt_path(run, E_BEFORE);
        for (int zero = 1; zero >= 0; zero--) {
            rv_weights w;
            rv_param_groups pg;
            tiny_build(env, &w, &pg, false);
            rv_ckpt *ck;
            die_on(rv_ckpt_open(&ck, path, &err), &err, "open checkpoint");
            die_on(rv_ckpt_load_weights(ck, &w, &err), &err, "load weights");
            float *start = arena_of(&w.params_buf, w.total);
            rv_optim *o = tiny_optim(env, &w, &pg, zero, e_max_norm[V]);
            size_t off, n;
            rv_optim_range(o, &off, &n);
            rv_range want = zero ? rv_partition(w.total, c->rank, c->size) : (rv_range){0, w.total};
            CHECK(off == want.off && n == want.n);
            float *m = rv_xmalloc((n ? n : 1) * sizeof *m), *v = rv_xmalloc((n ? n : 1) * sizeof *v);
            if (zero) die_on(rv_ckpt_load_adam_shard(ck, &w, c->rank, c->size, m, v, &err), &err, "load shard");
            else die_on(rv_ckpt_load_adam(ck, &w, m, v, &err), &err, "load moments");
            CHECK(rv_ckpt_adam_nranks(ck) == 2 || c->rank != 0); /* saved on 2 ranks (the script's plan) */
            die_on(rv_optim_set_moments(o, m, v, rv_ckpt_step(ck), &err), &err, "set moments");
            rv_ckpt_close(ck);
            continue_steps(o, &w, c);
            float *p = arena_of(&w.params_buf, w.total);
            CHECK(same_on_all_ranks(c, p, w.total));
            CHECK(memcmp(p, start, w.total * sizeof *p) != 0);
            float *ref = rv_xmalloc(w.total * sizeof *ref);
            FILE *f = fopen(ref_path, "rb");
            bool read_ok = f && fread(ref, sizeof *ref, w.total, f) == w.total;
            if (f) fclose(f);
            CHECK(read_ok);
            if (read_ok) {
                if (V == 0) CHECK(memcmp(p, ref, w.total * sizeof *p) == 0);
                double rel = max_rel_diff(&w, p, ref);
                CHECK(rel <= 1e-6);
                if (c->rank == 0)
                    printf("(e) %s on %d ranks after the 2-rank checkpoint, %s: max relative difference to "
                           "continuing on 2 ranks %.3g%s\n",
                           zero ? "ZeRO-1" : "plain DP", c->size, V ? "clipping at 5" : "no clipping", rel,
                           memcmp(p, ref, w.total * sizeof *p) == 0 ? " (bitwise equal)" : "");
            }
            free(ref), free(p), free(m), free(v), free(start);
            rv_optim_free(o);
            rv_param_groups_free(&pg);
            rv_weights_free(&w);
        }
        free(ref_path), free(run), free(path);
    }
}

static int mpi_main(const char *mode, const char *dir) {
    if (rv_world_init(NULL, NULL) != 0) { fprintf(stderr, "MPI did not start\n"); return 1; }
    mpi_env env = {.world = rv_comm_world()};
    rv_err err = {{0}};
    rvk_cpu_opts opts = {.nthreads = 1};
    die_on(rvk_create(&kc, "cpu", &opts, &err), &err, "backend");
    die_on(rv_model_cfg_preset("tiny", &env.mc, &err), &err, "preset");
    env.pgc = (rv_pg_config){.lr = {2e-3, 1e-2, 5e-3}, .weight_decay = 0.1};
    die_on(rv_tunable_parts_parse("mm_mlp_adapter,mm_language_model", env.pgc.trainable, &err), &err, "parts");
    if (strcmp(mode, "--mpi") == 0) mpi_abc(&env);
    else if (strcmp(mode, "--save") == 0) mpi_save(&env, dir);
    else mpi_resume(&env, dir);
    char name[96];
    snprintf(name, sizeof name, "test_optim %s [rank %d of %d]", mode, env.world->rank, env.world->size);
    int rc = check_summary(name);
    rc = rv_comm_all_ok(env.world, rc == 0) ? 0 : 1;
    rvk_destroy(kc);
    rv_world_finalize();
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--mpi") == 0) return mpi_main(argv[1], NULL);
    if (argc == 3 && (strcmp(argv[1], "--save") == 0 || strcmp(argv[1], "--resume") == 0)) return mpi_main(argv[1], argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_optim [--mpi | --save DIR | --resume DIR]\n");
        return 2;
    }
    return unit_main();
}
