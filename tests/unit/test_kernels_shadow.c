/* The bf16 weight shadow (kernels.h rvk_shadow_*) as the CPU backend emulates it
 * (rvk_cpu_opts.bf16_weights = 1), against a plain fp32 context fed explicitly rounded weights:
 * - matmul fwd/bwd, rvk_gemm (A or B in range) and cross-entropy fwd/bwd with the weight inside
 *   the bound range equal, bit for bit, the same op on a bf16_weights = 0 context given
 *   w_r = fp32(bf16(w)) (rounded here with core/half.h), and differ from the op on unrounded w
 *   (so the copy is really read); the bias, a non-GEMM operand, stays fp32;
 * - the refresh rule: a write to the masters without rvk_shadow_refresh leaves the GEMMs on the
 *   old values, a refresh of the written range picks the new ones up;
 * - a refresh outside the bound range is a sticky error naming both ranges;
 * - operands outside the range are read as fp32;
 * - the copy counts against mem_limit and in rvk_mem_stats, and is returned on unbind;
 * - bf16_weights = 0: bind keeps no copy (results bit-identical to never binding);
 * - two ranges on one context, and bind(p, 0) removing one of them;
 * - bf16_weights set back to 0 while bound: fp32 reads. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/half.h"
#include "core/rng.h"
#include "kernels/kernels.h"

#define N 37  /* rows */
#define C 70  /* in features (not a multiple of 8: the tail paths) */
#define OC 45 /* out features */
#define V 300 /* vocabulary (xent_vchunk 128: three chunks, the last partial) */

/* Parameter arena layout: [pad 5 | w: OC*C | b: OC | head: V*C | pad 3] */
#define OFF_W 5
#define OFF_B (OFF_W + OC * C)
#define OFF_HEAD (OFF_B + OC)
#define TOTAL (OFF_HEAD + V * C + 3)

static rv_kctx *make(int bf16, size_t mem_limit) {
    rv_kctx *k = NULL;
    rv_err e;
    rvk_cpu_opts o = {.nthreads = 2, .xent_vchunk = 128, .bf16_weights = bf16, .mem_limit = mem_limit};
    if (rvk_create(&k, "cpu", &o, &e)) {
        fprintf(stderr, "rvk_create: %s\n", e.msg);
        exit(1);
    }
    return k;
}

static float *randn(rv_rng *r, size_t n, float scale) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)rv_rng_normal(r) * scale;
    return x;
}

/* fp32(bf16(x)), elementwise: what a bf16 store of x holds */
static float *rounded(const float *x, size_t n) {
    float *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = rv_bf16_to_f32(rv_f32_to_bf16(x[i]));
    return y;
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static int synced(rv_kctx *k) {
    rv_err e;
    int rc = rvk_sync(k, &e);
    if (rc) fprintf(stderr, "sync: %s\n", e.msg);
    return rc == 0;
}

/* An fp32 buffer on k holding host values (the CPU's device memory is host memory). */
static float *dev(rv_kctx *k, const float *host, size_t n) {
    float *p = rvk_alloc(k, n);
    if (host) rvk_upload(k, p, host, n);
    return p;
}

static void test_matmul_and_rule(void) {
    rv_rng r;
    rv_rng_init(&r, 7, 0, 0);
    rv_kctx *ks = make(1, 0), *kr = make(0, 0);
    float *host = randn(&r, TOTAL, 0.3f), *x = randn(&r, (size_t)N * C, 1.0f);
    float *P = dev(ks, host, TOTAL);
    rv_err e;
    CHECK(rvk_shadow_bind(ks, P, TOTAL, &e) == 0);

    /* forward: shadowed w, fp32 bias */
    float *y = dev(ks, NULL, (size_t)N * OC);
    rvk_matmul_fwd(ks, y, x, P + OFF_W, P + OFF_B, N, C, OC);
    float *wr = rounded(host + OFF_W, (size_t)OC * C);
    float *wrd = dev(kr, wr, (size_t)OC * C), *wd = dev(kr, host + OFF_W, (size_t)OC * C);
    float *bd = dev(kr, host + OFF_B, OC), *yr = dev(kr, NULL, (size_t)N * OC), *yf = dev(kr, NULL, (size_t)N * OC);
    rvk_matmul_fwd(kr, yr, x, wrd, bd, N, C, OC);
    rvk_matmul_fwd(kr, yf, x, wd, bd, N, C, OC);
    CHECK(synced(ks) && synced(kr));
    CHECK(same(y, yr, (size_t)N * OC));  /* the GEMM read fp32(bf16(w)) and the fp32 bias */
    CHECK(!same(y, yf, (size_t)N * OC)); /* ... not the unrounded masters */

    /* backward: dx reads the shadow; dw (dy^T x) and db have no weight operand */
    float *dy = randn(&r, (size_t)N * OC, 1.0f);
    float *dx = dev(ks, NULL, (size_t)N * C), *dw = dev(ks, NULL, (size_t)OC * C), *db = dev(ks, NULL, OC);
    float *dxr = dev(kr, NULL, (size_t)N * C), *dwr = dev(kr, NULL, (size_t)OC * C), *dbr = dev(kr, NULL, OC);
    float *dxf = dev(kr, NULL, (size_t)N * C);
    rvk_matmul_bwd(ks, dx, dw, db, dy, x, P + OFF_W, N, C, OC, 0);
    rvk_matmul_bwd(kr, dxr, dwr, dbr, dy, x, wrd, N, C, OC, 0);
    rvk_matmul_bwd(kr, dxf, NULL, NULL, dy, x, wd, N, C, OC, 0);
    CHECK(synced(ks) && synced(kr));
    CHECK(same(dx, dxr, (size_t)N * C) && same(dw, dwr, (size_t)OC * C) && same(db, dbr, OC));
    CHECK(!same(dx, dxf, (size_t)N * C));

    /* the rule: new masters without a refresh -> the GEMM still reads the old copy */
    float *host2 = randn(&r, (size_t)OC * C, 0.3f);
    rvk_upload(ks, P + OFF_W, host2, (size_t)OC * C);
    float *y2 = dev(ks, NULL, (size_t)N * OC);
    rvk_matmul_fwd(ks, y2, x, P + OFF_W, P + OFF_B, N, C, OC);
    CHECK(synced(ks));
    CHECK(same(y2, yr, (size_t)N * OC));
    /* a refresh of the written range picks them up */
    rvk_shadow_refresh(ks, P + OFF_W, (size_t)OC * C);
    rvk_matmul_fwd(ks, y2, x, P + OFF_W, P + OFF_B, N, C, OC);
    float *wr2 = rounded(host2, (size_t)OC * C);
    rvk_upload(kr, wrd, wr2, (size_t)OC * C);
    rvk_matmul_fwd(kr, yr, x, wrd, bd, N, C, OC);
    CHECK(synced(ks) && synced(kr));
    CHECK(same(y2, yr, (size_t)N * OC));
    /* a partial refresh re-rounds exactly that part: rows 0..9 of w new, the rest still old */
    float *host3 = randn(&r, (size_t)10 * C, 0.3f);
    rvk_upload(ks, P + OFF_W, host3, (size_t)10 * C);
    rvk_upload(ks, P + OFF_W + 10 * C, host + OFF_W + 10 * C, (size_t)(OC - 10) * C); /* no refresh */
    rvk_shadow_refresh(ks, P + OFF_W, (size_t)10 * C);
    float *wmix = malloc((size_t)OC * C * sizeof *wmix);
    memcpy(wmix, host3, (size_t)10 * C * sizeof *wmix);
    memcpy(wmix + 10 * C, host2 + 10 * C, (size_t)(OC - 10) * C * sizeof *wmix); /* stale: host2 */
    float *wmixr = rounded(wmix, (size_t)OC * C);
    rvk_upload(kr, wrd, wmixr, (size_t)OC * C);
    rvk_matmul_fwd(ks, y2, x, P + OFF_W, NULL, N, C, OC);
    rvk_matmul_fwd(kr, yr, x, wrd, NULL, N, C, OC);
    CHECK(synced(ks) && synced(kr));
    CHECK(same(y2, yr, (size_t)N * OC));

    /* an operand outside the range is read as fp32 */
    float *wo = dev(ks, host + OFF_W, (size_t)OC * C);
    rvk_matmul_fwd(ks, y2, x, wo, NULL, N, C, OC);
    rvk_matmul_fwd(kr, yf, x, wd, NULL, N, C, OC);
    CHECK(synced(ks) && synced(kr));
    CHECK(same(y2, yf, (size_t)N * OC));

    /* out-of-range refreshes: a sticky error naming both ranges */
    char want_p[64], want_b[64];
    rvk_shadow_refresh(ks, wo, 10);
    CHECK(rvk_sync(ks, &e) == -1);
    snprintf(want_p, sizeof want_p, "[%p, +10)", (void *)wo);
    snprintf(want_b, sizeof want_b, "[%p, +%d)", (void *)P, TOTAL);
    CHECK(strstr(e.msg, "outside the bound") && strstr(e.msg, want_p) && strstr(e.msg, want_b));
    rvk_shadow_refresh(ks, P + TOTAL - 2, 5); /* starts inside, runs past the end */
    CHECK(rvk_sync(ks, &e) == -1 && strstr(e.msg, "outside the bound"));
    rvk_shadow_refresh(ks, P + TOTAL - 2, 2); /* the last two: inside */
    CHECK(synced(ks));

    rvk_shadow_unbind(ks);
    /* unbound: the GEMM reads the masters, which now hold host3 (rows 0..9) and host (the rest) */
    rvk_matmul_fwd(ks, y2, x, P + OFF_W, NULL, N, C, OC);
    float *wnow = malloc((size_t)OC * C * sizeof *wnow);
    memcpy(wnow, host3, (size_t)10 * C * sizeof *wnow);
    memcpy(wnow + 10 * C, host + OFF_W + 10 * C, (size_t)(OC - 10) * C * sizeof *wnow);
    rvk_upload(kr, wd, wnow, (size_t)OC * C);
    rvk_matmul_fwd(kr, yf, x, wd, NULL, N, C, OC);
    CHECK(synced(ks) && synced(kr));
    CHECK(same(y2, yf, (size_t)N * OC));
    rvk_shadow_refresh(ks, wo, 10); /* nothing bound: a no-op, no error */
    CHECK(synced(ks));

    free(wnow), free(wmix), free(wmixr), free(host3), free(wr2), free(host2), free(dy), free(wr), free(x), free(host);
    rvk_free(ks, P), rvk_free(ks, y), rvk_free(ks, y2), rvk_free(ks, dx), rvk_free(ks, dw), rvk_free(ks, db);
    rvk_free(ks, wo);
    rvk_free(kr, wrd), rvk_free(kr, wd), rvk_free(kr, bd), rvk_free(kr, yr), rvk_free(kr, yf);
    rvk_free(kr, dxr), rvk_free(kr, dwr), rvk_free(kr, dbr), rvk_free(kr, dxf);
    rvk_destroy(ks), rvk_destroy(kr);
}

/* rvk_gemm with A or B in range, both transposes */
static void test_gemm(void) {
    rv_rng r;
    rv_rng_init(&r, 8, 0, 0);
    rv_kctx *ks = make(1, 0), *kr = make(0, 0);
    const int M = 33, Nn = 29, K = 70; /* the weight block [OC, C] = [45, 70] serves as [K, .] or [., K] views */
    float *host = randn(&r, TOTAL, 0.3f), *hr = rounded(host, TOTAL);
    float *P = dev(ks, host, TOTAL), *Pr = dev(kr, hr, TOTAL), *Pf = dev(kr, host, TOTAL);
    rv_err e;
    CHECK(rvk_shadow_bind(ks, P, TOTAL, &e) == 0);
    float *X = randn(&r, (size_t)70 * 70, 1.0f);
    float *Xs = dev(ks, X, (size_t)70 * 70), *Xr = dev(kr, X, (size_t)70 * 70);
    float *Cs = dev(ks, NULL, (size_t)M * Nn), *Cr = dev(kr, NULL, (size_t)M * Nn), *Cf = dev(kr, NULL, (size_t)M * Nn);
    for (int which = 0; which < 2; which++)
        for (int tr = 0; tr < 2; tr++) {
            /* which 0: A = weights (op(A) [M, K]); 1: B = weights (op(B) [K, Nn]) */
            const float *As = which == 0 ? P + OFF_HEAD : Xs, *Bs = which == 1 ? P + OFF_HEAD : Xs;
            const float *Ar = which == 0 ? Pr + OFF_HEAD : Xr, *Br = which == 1 ? Pr + OFF_HEAD : Xr;
            const float *Af = which == 0 ? Pf + OFF_HEAD : Xr, *Bf = which == 1 ? Pf + OFF_HEAD : Xr;
            int tA = which == 0 ? tr : 0, tB = which == 1 ? tr : 0;
            int lda = tA ? M : K, ldb = tB ? K : Nn;
            rvk_gemm(ks, tA, tB, M, Nn, K, 0.5f, As, lda, Bs, ldb, 0.0f, Cs, Nn);
            rvk_gemm(kr, tA, tB, M, Nn, K, 0.5f, Ar, lda, Br, ldb, 0.0f, Cr, Nn);
            rvk_gemm(kr, tA, tB, M, Nn, K, 0.5f, Af, lda, Bf, ldb, 0.0f, Cf, Nn);
            CHECK(synced(ks) && synced(kr));
            CHECK(same(Cs, Cr, (size_t)M * Nn));
            CHECK(!same(Cs, Cf, (size_t)M * Nn));
        }
    free(host), free(hr), free(X);
    rvk_free(ks, P), rvk_free(ks, Xs), rvk_free(ks, Cs);
    rvk_free(kr, Pr), rvk_free(kr, Pf), rvk_free(kr, Xr), rvk_free(kr, Cr), rvk_free(kr, Cf);
    rvk_destroy(ks), rvk_destroy(kr);
}

/* fused lm_head + cross-entropy with the head in range */
static void test_xent(void) {
    rv_rng r;
    rv_rng_init(&r, 9, 0, 0);
    rv_kctx *ks = make(1, 0), *kr = make(0, 0);
    const int T = 21;
    float *host = randn(&r, TOTAL, 0.3f), *hid = randn(&r, (size_t)T * C, 1.0f);
    float *headr = rounded(host + OFF_HEAD, (size_t)V * C);
    int32_t tg[T];
    for (int t = 0; t < T; t++) tg[t] = t % 5 == 3 ? -100 : (int32_t)rv_rng_below(&r, V);
    float dl[T];
    for (int t = 0; t < T; t++) dl[t] = 1.0f / T;
    float *P = dev(ks, host, TOTAL);
    rv_err e;
    CHECK(rvk_shadow_bind(ks, P, TOTAL, &e) == 0);
    float loss_s[T], lse_s[T], loss_r[T], lse_r[T], loss_f[T], lse_f[T];
    float *dh_s = calloc((size_t)T * C, sizeof(float)), *dh_r = calloc((size_t)T * C, sizeof(float));
    float *dw_s = calloc((size_t)V * C, sizeof(float)), *dw_r = calloc((size_t)V * C, sizeof(float));
    float *hd = dev(kr, headr, (size_t)V * C), *hf = dev(kr, host + OFF_HEAD, (size_t)V * C);
    /* CPU memory is host memory: the host arrays serve as the backend's tensors here */
    CHECK(rvk_xent_fwd(ks, loss_s, lse_s, hid, P + OFF_HEAD, tg, T, C, V, &e) == 0);
    CHECK(rvk_xent_fwd(kr, loss_r, lse_r, hid, hd, tg, T, C, V, &e) == 0);
    CHECK(rvk_xent_fwd(kr, loss_f, lse_f, hid, hf, tg, T, C, V, &e) == 0);
    CHECK(same(loss_s, loss_r, T) && same(lse_s, lse_r, T));
    CHECK(!same(loss_s, loss_f, T));
    CHECK(rvk_xent_bwd(ks, dh_s, dw_s, hid, P + OFF_HEAD, tg, lse_s, dl, T, C, V, 0, &e) == 0);
    CHECK(rvk_xent_bwd(kr, dh_r, dw_r, hid, hd, tg, lse_r, dl, T, C, V, 0, &e) == 0);
    CHECK(same(dh_s, dh_r, (size_t)T * C) && same(dw_s, dw_r, (size_t)V * C));
    free(host), free(hid), free(headr), free(dh_s), free(dh_r), free(dw_s), free(dw_r);
    rvk_free(ks, P), rvk_free(kr, hd), rvk_free(kr, hf);
    rvk_destroy(ks), rvk_destroy(kr);
}

/* mem_limit and rvk_mem_stats; bf16_weights = 0 keeps no copy; two ranges; bind(p, 0) */
static void test_memory_and_ranges(void) {
    const size_t n = 1000;
    rv_err e;
    rvk_mem_stats st;
    /* the arena (4n bytes) fits, the copy (another 4n) does not; + 8: the context's own f64 slot
     * for rvk_sumsq (kernels/registry.c), which the limit counts too */
    const size_t slot = sizeof(double);
    rv_kctx *k = make(1, 2 * n * sizeof(float) - 1 + slot);
    rvk_buf b = {0};
    CHECK(rvk_buf_alloc(k, &b, RVK_MEM_DEVICE, RVK_F32, n, &e) == 0);
    CHECK(rvk_shadow_bind(k, rvk_buf_f32(&b), n, &e) == -1);
    CHECK(strstr(e.msg, "out of memory") && strstr(e.msg, "4000 bytes") && strstr(e.msg, "weight shadow"));
    rvk_mem_stats_get(k, &st);
    CHECK(st.held == n * sizeof(float));
    rvk_buf_free(k, &b);
    rvk_destroy(k);
    /* exactly enough: bound, counted in held/peak, returned on unbind */
    k = make(1, 2 * n * sizeof(float) + slot);
    CHECK(rvk_buf_alloc(k, &b, RVK_MEM_DEVICE, RVK_F32, n, &e) == 0);
    CHECK(rvk_shadow_bind(k, rvk_buf_f32(&b), n, &e) == 0);
    rvk_mem_stats_get(k, &st);
    CHECK(st.held == 2 * n * sizeof(float) && st.peak == 2 * n * sizeof(float));
    rvk_buf c = {0}; /* nothing more fits now */
    CHECK(rvk_buf_alloc(k, &c, RVK_MEM_DEVICE, RVK_F32, 1, &e) == -1);
    rvk_shadow_unbind(k);
    rvk_mem_stats_get(k, &st);
    CHECK(st.held == n * sizeof(float) && st.peak == 2 * n * sizeof(float));
    CHECK(rvk_buf_alloc(k, &c, RVK_MEM_DEVICE, RVK_F32, 1, &e) == 0);
    rvk_buf_free(k, &c);
    rvk_buf_free(k, &b);
    rvk_destroy(k);

    /* bf16_weights = 0: no copy, no memory, the GEMM reads the masters */
    k = make(0, n * sizeof(float) + slot);
    CHECK(rvk_buf_alloc(k, &b, RVK_MEM_DEVICE, RVK_F32, n, &e) == 0);
    CHECK(rvk_shadow_bind(k, rvk_buf_f32(&b), n, &e) == 0);
    rvk_mem_stats_get(k, &st);
    CHECK(st.held == n * sizeof(float));
    float one[3] = {1.0f + 1.0f / 1024, 1.0f, 1.0f}, out = 0; /* 1 + 2^-10 is not a bf16 value */
    rvk_upload(k, rvk_buf_f32(&b), one, 3);
    rvk_shadow_refresh(k, (const float *)rvk_buf_f32(&b) + n, 5); /* nothing bound: no error */
    CHECK(synced(k));
    float xs[1] = {1.0f};
    rvk_gemm(k, 0, 0, 1, 1, 1, 1.0f, xs, 1, rvk_buf_f32(&b), 1, 0.0f, &out, 1);
    CHECK(out == 1.0f + 1.0f / 1024);
    rvk_buf_free(k, &b);
    rvk_destroy(k);

    /* two ranges on one context; bind(p, 0) lets go of one */
    k = make(1, 0);
    rvk_buf b1 = {0}, b2 = {0};
    CHECK(rvk_buf_alloc(k, &b1, RVK_MEM_DEVICE, RVK_F32, 4, &e) == 0 && rvk_buf_alloc(k, &b2, RVK_MEM_DEVICE, RVK_F32, 4, &e) == 0);
    float v1[4] = {1.0f + 1.0f / 1024, 0, 0, 0}, v2[4] = {3.0f + 3.0f / 1024, 0, 0, 0};
    rvk_upload(k, rvk_buf_f32(&b1), v1, 4);
    rvk_upload(k, rvk_buf_f32(&b2), v2, 4);
    CHECK(rvk_shadow_bind(k, rvk_buf_f32(&b1), 4, &e) == 0 && rvk_shadow_bind(k, rvk_buf_f32(&b2), 4, &e) == 0);
    /* bf16 has 8 significant bits: 1 + 2^-10 -> 1, 3 + 3 * 2^-10 = 3.0029... -> 3 */
    rvk_gemm(k, 0, 0, 1, 1, 1, 1.0f, xs, 1, rvk_buf_f32(&b1), 1, 0.0f, &out, 1);
    CHECK(out == 1.0f);
    rvk_gemm(k, 0, 0, 1, 1, 1, 1.0f, xs, 1, rvk_buf_f32(&b2), 1, 0.0f, &out, 1);
    CHECK(out == 3.0f);
    rvk_shadow_refresh(k, rvk_buf_f32(&b1), 4);
    rvk_shadow_refresh(k, rvk_buf_f32(&b2), 4);
    CHECK(synced(k));
    CHECK(rvk_shadow_bind(k, rvk_buf_f32(&b1), 0, &e) == 0); /* range 1 let go */
    rvk_gemm(k, 0, 0, 1, 1, 1, 1.0f, xs, 1, rvk_buf_f32(&b1), 1, 0.0f, &out, 1);
    CHECK(out == 1.0f + 1.0f / 1024);
    rvk_gemm(k, 0, 0, 1, 1, 1, 1.0f, xs, 1, rvk_buf_f32(&b2), 1, 0.0f, &out, 1);
    CHECK(out == 3.0f);
    /* options changed to bf16_weights = 0 while bound: the GEMMs read fp32 again; back to 1: the copy */
    rvk_cpu_opts oo;
    CHECK(rvk_cpu_get_opts(k, &oo) == 0 && oo.bf16_weights == 1);
    oo.bf16_weights = 0;
    CHECK(rvk_cpu_set_opts(k, &oo, &e) == 0);
    rvk_gemm(k, 0, 0, 1, 1, 1, 1.0f, xs, 1, rvk_buf_f32(&b2), 1, 0.0f, &out, 1);
    CHECK(out == 3.0f + 3.0f / 1024);
    oo.bf16_weights = 1;
    CHECK(rvk_cpu_set_opts(k, &oo, &e) == 0);
    rvk_gemm(k, 0, 0, 1, 1, 1, 1.0f, xs, 1, rvk_buf_f32(&b2), 1, 0.0f, &out, 1);
    CHECK(out == 3.0f);
    rvk_shadow_refresh(k, rvk_buf_f32(&b1), 4); /* no longer bound, range 2 is: an error */
    CHECK(rvk_sync(k, &e) == -1 && strstr(e.msg, "outside the bound"));
    rvk_mem_stats_get(k, &st);
    CHECK(st.held == 2 * 4 * sizeof(float) + 4 * sizeof(float));
    rvk_shadow_unbind(k);
    rvk_buf_free(k, &b1), rvk_buf_free(k, &b2);
    rvk_mem_stats_get(k, &st);
    CHECK(st.held == 0);
    rvk_destroy(k);
}

int main(void) {
    test_matmul_and_rule();
    test_gemm();
    test_xent();
    test_memory_and_ranges();
    return check_summary("test_kernels_shadow");
}
