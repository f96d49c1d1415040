/* Kernel conformance on a GPU: every function of kernels/kernels.h run on the same random inputs
 * through a "cpu" context (the fp32 reference) and a "cuda" context, outputs compared with the
 * per-kernel tolerances below (also in docs/kernels.md, "CUDA against CPU"). Public API only.
 * Part (a) of tests/gpu/run.sh; never run by ctest (CI has no GPU).
 *
 * Usage: kernel_conformance [--backend NAME] [--fp32-gemm] [--only CASE]
 * --backend (default cuda; "cpu" compares the CPU backend with
 * another CPU context of other options: 3 threads, OpenBLAS threading, a 1000-column xent chunk, so
 * the reductions round differently: a self-check of this program, small non-zero errors);
 * --fp32-gemm holds the GEMM-fed outputs to the reductions' 1e-4, for a CUDA backend told to run
 * its GEMMs in fp32 (RADVLM_CUDA_GEMM=fp32): an index error cannot hide in bf16 rounding there);
 * --only CASE runs the cases whose name contains CASE (e.g. "attention": both attention cases,
 * as run.sh does once more with RADVLM_CUDA_ATTN=flash)
 * Output: one line per compared output, "PASS|FAIL kernel/output err E tol T", machine-readable
 * "RESULT kernel=... output=... err=... tol=... ok=0|1" lines, and a summary. Exit 0 when every
 * output is within its tolerance, 1 otherwise, 77 (skip) when the backend cannot be created here
 * (no GPU, no driver, a build without CUDA: the message says which).
 *
 * The error of an output is normwise: ||gpu - cpu||_2 / ||cpu||_2 (absolute ||gpu||_2 when the
 * reference is all zero; NaN or Inf anywhere fails). Integer outputs (ids, status codes) must be
 * equal. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "kernels/sample_rule.h" /* the rule a backend's sample ids must follow */

/* ---- tolerances (normwise relative; docs/kernels.md "CUDA against CPU") ----
 * The CUDA backend keeps fp32 buffers and fp32 accumulation; GEMM inputs go to the tensor cores
 * as bf16 (8-bit mantissa: a rounding of 2^-9 per input, so a dot product's relative error is a
 * few 1e-3 whatever K, the errors of random terms adding in quadrature). */
#define TOL_BF16 2e-2  /* everything fed by a bf16 GEMM: gemm, matmul, attention, xent */
#define TOL_RED 1e-4   /* fp32 reductions in another order: norms, softmax, log-probs, sums */
#define TOL_F32 1e-5   /* element-wise fp32 math (expf, tanhf, erff, sincosf with other ulps) */
#define TOL_ADAMW 1e-6 /* the CPU backend's AdamW arithmetic, step for step */
#define TOL_EXACT 0.0  /* copies, fills, gathers, scatters of values, argmax ids */

typedef struct outs {
    rv_kctx *k;      /* the context the case runs on */
    double tol_gemm; /* TOL_BF16, or TOL_RED with --fp32-gemm */
    int n;
    char name[32][96];
    float *v[32];
    size_t len[32];
    double tol[32];
} outs;

typedef struct tally {
    int pass, fail;
} tally;

static float *randn(uint64_t seed, size_t n, float scale) {
    rv_rng r;
    rv_rng_init(&r, seed, 0, 0);
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)rv_rng_normal(&r) * scale;
    return x;
}

static float *up(outs *o, const float *h, size_t n) {
    float *d = rvk_alloc(o->k, n ? n : 1);
    if (n) rvk_upload(o->k, d, h, n);
    return d;
}

static int32_t *upi(outs *o, const int32_t *h, size_t n) {
    int32_t *d = rvk_alloc_i32(o->k, n ? n : 1);
    if (n) rvk_upload_i32(o->k, d, h, n);
    return d;
}

/* Downloads a device output into the case's results (the device copy is freed). */
static void keep(outs *o, const char *name, float *dev, size_t n, double tol) {
    if (o->n == (int)(sizeof o->v / sizeof o->v[0])) {
        fprintf(stderr, "kernel_conformance: more outputs in one case than outs holds (internal error)\n");
        exit(1);
    }
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (n) rvk_download(o->k, h, dev, n);
    rvk_free(o->k, dev);
    snprintf(o->name[o->n], sizeof o->name[o->n], "%s", name);
    o->v[o->n] = h;
    o->len[o->n] = n;
    o->tol[o->n] = tol;
    o->n++;
}

/* A host value (a status code, a sum) kept as an output. */
static void keep_host(outs *o, const char *name, const float *h, size_t n, double tol) {
    float *d = up(o, h, n);
    keep(o, name, d, n, tol);
}

static void keep_i32(outs *o, const char *name, int32_t *dev, size_t n) {
    int32_t *h = malloc((n ? n : 1) * sizeof *h);
    if (n) rvk_download_i32(o->k, h, dev, n);
    rvk_free(o->k, dev);
    float *f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)h[i];
    free(h);
    keep_host(o, name, f, n, TOL_EXACT);
    free(f);
}

/* ---- the cases: each runs on K and keeps its outputs; inputs depend only on fixed seeds ---- */

static void c_elementwise(outs *o) {
    const size_t n = 10007;
    float *ha = randn(1, n, 1), *hb = randn(2, n, 1);
    float *a = up(o, ha, n), *b = up(o, hb, n), *y = rvk_alloc(o->k, n), *f = rvk_alloc(o->k, n), *c = rvk_alloc(o->k, n);
    rvk_add(o->k, y, a, b, n);
    rvk_axpy(o->k, y, -0.75f, a, n);
    rvk_scale(o->k, b, 1.5f, n);
    rvk_fill(o->k, f, 0.3125f, n);
    rvk_copy(o->k, c, a, n);
    keep(o, "add+axpy", y, n, TOL_F32);
    keep(o, "scale", b, n, TOL_F32);
    keep(o, "fill", f, n, TOL_EXACT);
    keep(o, "copy", c, n, TOL_EXACT);
    rvk_free(o->k, a);
    free(ha), free(hb);
}

static void c_gemm(outs *o) {
    static const char *names[4] = {"C(NN)", "C(NT)", "C(TN)", "C(TT)"};
    const int M = 37, N = 45, Kd = 70;
    for (int t = 0; t < 4; t++) {
        int ta = t >> 1, tb = t & 1;
        float *hA = randn(10 + t, (size_t)M * Kd, 1), *hB = randn(20 + t, (size_t)Kd * N, 1),
              *hC = randn(30 + t, (size_t)M * N, 1);
        float *A = up(o, hA, (size_t)M * Kd), *B = up(o, hB, (size_t)Kd * N), *C = up(o, hC, (size_t)M * N);
        rvk_gemm(o->k, ta, tb, M, N, Kd, 0.8f, A, ta ? M : Kd, B, tb ? Kd : N, 0.5f, C, N);
        keep(o, names[t], C, (size_t)M * N, o->tol_gemm);
        rvk_free(o->k, A), rvk_free(o->k, B);
        free(hA), free(hB), free(hC);
    }
}

static void c_matmul(outs *o) {
    const int N = 53, C = 96, OC = 80;
    float *hx = randn(40, (size_t)N * C, 1), *hw = randn(41, (size_t)OC * C, 0.1f), *hb = randn(42, OC, 1),
          *hdy = randn(43, (size_t)N * OC, 1), *hdx0 = randn(44, (size_t)N * C, 1),
          *hdw0 = randn(45, (size_t)OC * C, 1), *hdb0 = randn(46, OC, 1);
    float *x = up(o, hx, (size_t)N * C), *w = up(o, hw, (size_t)OC * C), *b = up(o, hb, OC), *dy = up(o, hdy, (size_t)N * OC);
    float *y = rvk_alloc(o->k, (size_t)N * OC), *y2 = rvk_alloc(o->k, (size_t)N * OC);
    rvk_matmul_fwd(o->k, y, x, w, b, N, C, OC);
    rvk_matmul_fwd(o->k, y2, x, w, NULL, N, C, OC);
    keep(o, "y(bias)", y, (size_t)N * OC, o->tol_gemm);
    keep(o, "y(no bias)", y2, (size_t)N * OC, o->tol_gemm);
    /* accumulate rules: dx += (accum 1), dw and db += always */
    float *dx = up(o, hdx0, (size_t)N * C), *dw = up(o, hdw0, (size_t)OC * C), *db = up(o, hdb0, OC);
    rvk_matmul_bwd(o->k, dx, dw, db, dy, x, w, N, C, OC, 1);
    keep(o, "dx(accum)", dx, (size_t)N * C, o->tol_gemm);
    keep(o, "dw(+=)", dw, (size_t)OC * C, o->tol_gemm);
    keep(o, "db(+=)", db, OC, TOL_RED);
    float *dx2 = up(o, hdx0, (size_t)N * C);
    rvk_matmul_bwd(o->k, dx2, NULL, NULL, dy, x, w, N, C, OC, 0);
    keep(o, "dx(overwrite)", dx2, (size_t)N * C, o->tol_gemm);
    rvk_free(o->k, x), rvk_free(o->k, w), rvk_free(o->k, b), rvk_free(o->k, dy);
    free(hx), free(hw), free(hb), free(hdy), free(hdx0), free(hdw0), free(hdb0);
}

/* The GELU-fused linear ops (SigLIP fc1 / fc2): on CUDA the tanh GELU and its gradient run in the
 * cuBLASLt epilogue when the pre-activation is 16-byte aligned and the width a multiple of 8
 * (plan.c); a pre-activation one float off the alignment takes the unfused path; the erf GELU is
 * never fused. Every variant against the CPU's matmul-then-GELU. */
static void c_matmul_gelu(outs *o) {
    const int N = 53, C = 96, I = 80, OC = 48;
    const size_t NI = (size_t)N * I;
    float *hx = randn(180, (size_t)N * C, 1), *hw1 = randn(181, (size_t)I * C, 0.1f), *hb1 = randn(182, I, 1),
          *hw2 = randn(183, (size_t)OC * I, 0.1f), *hdy = randn(184, (size_t)N * OC, 1), *hdb = randn(185, OC, 1);
    float *x = up(o, hx, (size_t)N * C), *w1 = up(o, hw1, (size_t)I * C), *b1 = up(o, hb1, I);
    float *w2 = up(o, hw2, (size_t)OC * I), *dy = up(o, hdy, (size_t)N * OC);
    float *hbuf = malloc(NI * sizeof *hbuf);
    for (int kind = RVK_GELU_TANH; kind <= RVK_GELU_ERF; kind++) {
        const char *kn = kind == RVK_GELU_TANH ? "tanh" : "erf";
        char nm[96];
        for (int off = 0; off < 2; off++) { /* off 1: pre one float past an aligned address */
            float *hbase = rvk_alloc(o->k, NI + 4), *pbase = rvk_alloc(o->k, NI + 4), *pre = pbase + off;
            float *h = hbase + off;
            rvk_matmul_gelu_fwd(o->k, h, pre, x, w1, b1, N, C, I, (rvk_gelu_kind)kind);
            float *dpre = rvk_alloc(o->k, NI), *dw = rvk_alloc(o->k, (size_t)OC * I), *db = up(o, hdb, OC);
            rvk_fill(o->k, dw, 0.5f, (size_t)OC * I);
            rvk_matmul_bwd_gelu(o->k, dpre, dw, db, dy, h, pre, w2, N, I, OC, (rvk_gelu_kind)kind);
            rvk_download(o->k, hbuf, h, NI);
            snprintf(nm, sizeof nm, "%s h%s", kn, off ? " (pre unaligned)" : "");
            keep_host(o, nm, hbuf, NI, o->tol_gemm);
            rvk_download(o->k, hbuf, pre, NI);
            snprintf(nm, sizeof nm, "%s pre%s", kn, off ? " (unaligned)" : "");
            keep_host(o, nm, hbuf, NI, o->tol_gemm);
            snprintf(nm, sizeof nm, "%s dpre%s", kn, off ? " (pre unaligned)" : "");
            keep(o, nm, dpre, NI, o->tol_gemm);
            if (!off) {
                snprintf(nm, sizeof nm, "%s dw(+=)", kn);
                keep(o, nm, dw, (size_t)OC * I, o->tol_gemm);
                snprintf(nm, sizeof nm, "%s db(+=)", kn);
                keep(o, nm, db, OC, TOL_RED);
            } else {
                rvk_free(o->k, dw), rvk_free(o->k, db);
            }
            /* inference: no pre-activation kept */
            if (!off) {
                float *h2 = rvk_alloc(o->k, NI);
                rvk_matmul_gelu_fwd(o->k, h2, NULL, x, w1, b1, N, C, I, (rvk_gelu_kind)kind);
                snprintf(nm, sizeof nm, "%s h (no pre)", kn);
                keep(o, nm, h2, NI, o->tol_gemm);
            }
            rvk_free(o->k, hbase), rvk_free(o->k, pbase);
        }
    }
    rvk_free(o->k, x), rvk_free(o->k, w1), rvk_free(o->k, b1), rvk_free(o->k, w2), rvk_free(o->k, dy);
    free(hx), free(hw1), free(hb1), free(hw2), free(hdy), free(hdb), free(hbuf);
}

static void c_norms(outs *o) {
    const int N = 29, C = 1152;
    const size_t nc = (size_t)N * C;
    float *hx = randn(50, nc, 2), *hw = randn(51, C, 1), *hb = randn(52, C, 1), *hdy = randn(53, nc, 1),
          *hdx0 = randn(54, nc, 1);
    for (int c = 0; c < C; c++) hw[c] += 1.0f;
    float *x = up(o, hx, nc), *w = up(o, hw, C), *b = up(o, hb, C), *dy = up(o, hdy, nc);
    float *y = rvk_alloc(o->k, nc), *mean = rvk_alloc(o->k, N), *rstd = rvk_alloc(o->k, N);
    rvk_layernorm_fwd(o->k, y, mean, rstd, x, w, b, N, C, 1e-6f);
    float *dx = up(o, hdx0, nc), *dw = up(o, hb, C), *db = up(o, hw, C);
    rvk_layernorm_bwd(o->k, dx, dw, db, dy, x, w, mean, rstd, N, C, 1);
    keep(o, "layernorm y", y, nc, TOL_RED);
    keep(o, "layernorm dx(accum)", dx, nc, TOL_RED);
    keep(o, "layernorm dw(+=)", dw, C, TOL_RED);
    keep(o, "layernorm db(+=)", db, C, TOL_RED);
    keep(o, "layernorm mean", mean, N, TOL_RED);
    keep(o, "layernorm rstd", rstd, N, TOL_RED);
    float *ry = rvk_alloc(o->k, nc), *rr = rvk_alloc(o->k, N), *rdx = rvk_alloc(o->k, nc), *rdw = up(o, hb, C);
    rvk_rmsnorm_fwd(o->k, ry, rr, x, w, N, C, 1e-6f);
    rvk_rmsnorm_bwd(o->k, rdx, rdw, dy, x, w, rr, N, C, 0);
    keep(o, "rmsnorm y", ry, nc, TOL_RED);
    keep(o, "rmsnorm rstd", rr, N, TOL_RED);
    keep(o, "rmsnorm dx", rdx, nc, TOL_RED);
    keep(o, "rmsnorm dw(+=)", rdw, C, TOL_RED);
    rvk_free(o->k, x), rvk_free(o->k, w), rvk_free(o->k, b), rvk_free(o->k, dy);
    free(hx), free(hw), free(hb), free(hdy), free(hdx0);
}

static void c_activations(outs *o) {
    const size_t n = 20011;
    float *hx = randn(60, n, 3), *hu = randn(61, n, 1), *hdy = randn(62, n, 1), *hd0 = randn(63, n, 1);
    float *x = up(o, hx, n), *u = up(o, hu, n), *dy = up(o, hdy, n);
    static const char *fw[2] = {"gelu tanh y", "gelu erf y"}, *bw[2] = {"gelu tanh dx(accum)", "gelu erf dx"};
    for (int kind = 0; kind < 2; kind++) {
        float *y = rvk_alloc(o->k, n), *dx = up(o, hd0, n);
        rvk_gelu_fwd(o->k, y, x, n, (rvk_gelu_kind)kind);
        rvk_gelu_bwd(o->k, dx, dy, x, n, (rvk_gelu_kind)kind, kind == 0);
        keep(o, fw[kind], y, n, TOL_F32);
        keep(o, bw[kind], dx, n, TOL_F32);
    }
    float *sy = rvk_alloc(o->k, n), *sdx = up(o, hd0, n);
    rvk_silu_fwd(o->k, sy, x, n);
    rvk_silu_bwd(o->k, sdx, dy, x, n, 1);
    keep(o, "silu y", sy, n, TOL_F32);
    keep(o, "silu dx(accum)", sdx, n, TOL_F32);
    float *h = rvk_alloc(o->k, n), *dg = up(o, hd0, n), *du = up(o, hd0, n);
    rvk_swiglu_fwd(o->k, h, x, u, n);
    rvk_swiglu_bwd(o->k, dg, du, dy, x, u, n, 1);
    keep(o, "swiglu h", h, n, TOL_F32);
    keep(o, "swiglu dg(accum)", dg, n, TOL_F32);
    keep(o, "swiglu du(accum)", du, n, TOL_F32);
    rvk_free(o->k, x), rvk_free(o->k, u), rvk_free(o->k, dy);
    free(hx), free(hu), free(hdy), free(hd0);
}

static void c_rope(outs *o) {
    const int T = 47, H = 6, D = 64;
    const size_t n = (size_t)T * H * D;
    int32_t hpos[47];
    for (int t = 0; t < T; t++) hpos[t] = t < 20 ? t : 3000 + 97 * t; /* large angles too */
    float *hx = randn(70, n, 1);
    float *x = up(o, hx, n), *y = rvk_alloc(o->k, n), *dx = rvk_alloc(o->k, n);
    int32_t *pos = upi(o, hpos, (size_t)T);
    rvk_rope_fwd(o->k, y, x, pos, T, H, D, 1e6f);
    rvk_rope_bwd(o->k, dx, x, pos, T, H, D, 10000.0f);
    keep(o, "rope y (theta 1e6)", y, n, TOL_F32 * 10);
    keep(o, "rope dx (theta 1e4)", dx, n, TOL_F32 * 10);
    rvk_free(o->k, x);
    rvk_free(o->k, pos);
    free(hx);
}

/* One attention layout: forward and backward outputs. lens_q/lens_k per sequence; cap_k: KV rows
 * reserved per sequence (> len_k: a fixed-capacity cache read through len_k). */
static void attn_case(outs *o, const char *tag, int nseq, const int *lq, const int *lk, const int *capk, int Hq,
                      int Hkv, int D, int causal, uint64_t seed, int host_offsets) {
    int32_t cuq[8], cuk[8], lenk[8];
    cuq[0] = cuk[0] = 0;
    for (int s = 0; s < nseq; s++) {
        cuq[s + 1] = cuq[s] + lq[s];
        cuk[s + 1] = cuk[s] + (capk ? capk[s] : lk[s]);
        lenk[s] = lk[s];
    }
    const int Tq = cuq[nseq], Tk = cuk[nseq];
    const size_t nq = (size_t)Tq * Hq * D, nk = (size_t)Tk * Hkv * D;
    float *hq = randn(seed, nq, 1), *hk = randn(seed + 1, nk, 1), *hv = randn(seed + 2, nk, 1),
          *hdo = randn(seed + 3, nq, 1);
    int32_t *dcuq = upi(o, cuq, (size_t)nseq + 1), *dcuk = upi(o, cuk, (size_t)nseq + 1), *dlenk = upi(o, lenk, (size_t)nseq);
    rvk_attn a = {.nseq = nseq, .cu_q = dcuq, .cu_k = dcuk, .len_k = capk ? dlenk : NULL, .Tq = Tq, .Tk = Tk,
                  .Hq = Hq, .Hkv = Hkv, .D = D, .scale = 1.0f / sqrtf((float)D), .causal = causal};
    if (host_offsets) { /* the optional host copies: the backend plans without downloading them */
        a.host_cu_q = cuq;
        a.host_cu_k = cuk;
        a.host_len_k = capk ? lenk : NULL;
    }
    float *q = up(o, hq, nq), *k = up(o, hk, nk), *v = up(o, hv, nk), *dout = up(o, hdo, nq);
    float *out = rvk_alloc(o->k, nq), *lse = rvk_alloc(o->k, (size_t)Tq * Hq);
    float *dq = rvk_alloc(o->k, nq), *dk = rvk_alloc(o->k, nk), *dv = rvk_alloc(o->k, nk);
    rv_err e;
    float rc[2];
    rc[0] = (float)rvk_attention_fwd(o->k, out, lse, q, k, v, &a, &e);
    rc[1] = (float)rvk_attention_bwd(o->k, dq, dk, dv, dout, q, k, v, out, lse, &a, 0, &e);
    static const char *part[6] = {"out", "lse", "dq", "dk", "dv", "status"};
    char nm[6][96];
    for (int i = 0; i < 6; i++) snprintf(nm[i], sizeof nm[i], "%s %s", tag, part[i]);
    keep(o, nm[0], out, nq, o->tol_gemm);
    keep(o, nm[1], lse, (size_t)Tq * Hq, o->tol_gemm);
    keep(o, nm[2], dq, nq, o->tol_gemm);
    keep(o, nm[3], dk, nk, o->tol_gemm);
    keep(o, nm[4], dv, nk, o->tol_gemm);
    keep_host(o, nm[5], rc, 2, TOL_EXACT);
    rvk_free(o->k, q), rvk_free(o->k, k), rvk_free(o->k, v), rvk_free(o->k, dout);
    rvk_free(o->k, dcuq), rvk_free(o->k, dcuk), rvk_free(o->k, dlenk);
    free(hq), free(hk), free(hv), free(hdo);
}

static void c_attention(outs *o) {
    const int lq1[3] = {5, 17, 40};
    attn_case(o, "attn varlen causal GQA 4/2", 3, lq1, lq1, NULL, 4, 2, 64, 1, 80, 0);
    attn_case(o, "attn varlen causal GQA 4/2, host offsets", 3, lq1, lq1, NULL, 4, 2, 64, 1, 80, 1);
    const int lq2[2] = {16, 16};
    attn_case(o, "attn bidirectional 2/2", 2, lq2, lq2, NULL, 2, 2, 32, 0, 90, 0);
    /* several 64-row tiles per sequence and a head dim that is no multiple of 16 (SigLIP's 72):
     * the tiling of the fused kernels (RADVLM_CUDA_ATTN=flash) */
    const int lq3[3] = {150, 67, 1};
    attn_case(o, "attn multi-tile causal GQA 6/2 D72", 3, lq3, lq3, NULL, 6, 2, 72, 1, 95, 1);
    const int lq4[2] = {130, 65};
    attn_case(o, "attn multi-tile bidirectional 3/3 D72", 2, lq4, lq4, NULL, 3, 3, 72, 0, 96, 0);
}

static void c_attention_cache(outs *o) {
    /* decoding with a KV cache: 1 and 3 new queries, 23 and 50 valid keys of 64 reserved each;
     * an empty sequence (0 queries, 0 keys) in between */
    const int lq[3] = {1, 0, 3}, lk[3] = {23, 0, 50}, cap[3] = {64, 64, 64};
    attn_case(o, "attn KV cache GQA 8/2 (len_k)", 3, lq, lk, cap, 8, 2, 128, 1, 100, 0);
    attn_case(o, "attn KV cache GQA 8/2 (len_k), host offsets", 3, lq, lk, cap, 8, 2, 128, 1, 100, 1);
    /* more queries than keys, causal: the first 6 rows of sequence 0 see no key (out 0, lse -inf) */
    const int lq2[2] = {10, 70}, lk2[2] = {4, 90}, cap2[2] = {6, 96};
    attn_case(o, "attn causal Lq > Lk, Lq < Lk 4/2 (len_k)", 2, lq2, lk2, cap2, 4, 2, 64, 1, 101, 1);
}

static void c_rows(outs *o) {
    const int T = 41, C = 72, V = 300, R = 60, n = 12;
    int32_t hids[41], hidx[12];
    for (int t = 0; t < T; t++) hids[t] = t % 7 == 3 ? -1 : (t * 37) % 50; /* repeats and placeholders */
    for (int i = 0; i < n; i++) hidx[i] = (i * 7 + 5) % R;                  /* distinct */
    float *htab = randn(110, (size_t)V * C, 1), *hdo = randn(111, (size_t)T * C, 1), *hsrc = randn(112, (size_t)n * C, 1),
          *hdst = randn(113, (size_t)R * C, 1);
    float *tab = up(o, htab, (size_t)V * C), *dout = up(o, hdo, (size_t)T * C), *src = up(o, hsrc, (size_t)n * C);
    float *out = rvk_alloc(o->k, (size_t)T * C), *dtab = up(o, htab, (size_t)V * C), *dst = up(o, hdst, (size_t)R * C);
    int32_t *ids = upi(o, hids, (size_t)T), *idx = upi(o, hidx, (size_t)n);
    rv_err e;
    float rc[4];
    rc[0] = (float)rvk_embedding_fwd(o->k, out, tab, ids, T, C, V, &e);
    rc[1] = (float)rvk_embedding_bwd(o->k, dtab, dout, ids, T, C, V, &e);
    rc[2] = (float)rvk_rows_scatter(o->k, dst, idx, src, n, C, R, &e);
    keep(o, "embedding out", out, (size_t)T * C, TOL_EXACT);
    keep(o, "embedding dtable(+=)", dtab, (size_t)V * C, TOL_RED);
    keep(o, "rows_scatter dst", dst, (size_t)R * C, TOL_EXACT);
    /* a token id >= V is reported (-1) by both */
    int32_t bad[3] = {1, V, 2};
    int32_t *dbad = upi(o, bad, 3);
    float *o3 = rvk_alloc(o->k, (size_t)3 * C);
    rc[3] = (float)rvk_embedding_fwd(o->k, o3, tab, dbad, 3, C, V, &e);
    rvk_sync(o->k, &e); /* the reported error is not sticky work to carry into the next case */
    keep_host(o, "embedding status (ok, ok, ok, id >= V)", rc, 4, TOL_EXACT);
    rvk_free(o->k, o3), rvk_free(o->k, dbad);
    rvk_free(o->k, tab), rvk_free(o->k, dout), rvk_free(o->k, src), rvk_free(o->k, ids), rvk_free(o->k, idx);
    free(htab), free(hdo), free(hsrc), free(hdst);
}

static void c_xent(outs *o) {
    /* V > 4096: the CPU's vocabulary chunk is crossed; ignored rows (-100) in the middle */
    const int T = 33, C = 64, V = 5003;
    int32_t ht[33];
    for (int t = 0; t < T; t++) ht[t] = t % 5 == 2 ? -100 : (int32_t)((t * 997 + 11) % V);
    float *hh = randn(120, (size_t)T * C, 1), *hw = randn(121, (size_t)V * C, 0.2f), *hdl = randn(122, T, 0.05f),
          *hdh0 = randn(123, (size_t)T * C, 1);
    float *h = up(o, hh, (size_t)T * C), *w = up(o, hw, (size_t)V * C), *dl = up(o, hdl, T);
    int32_t *tg = upi(o, ht, (size_t)T);
    float *loss = rvk_alloc(o->k, T), *lse = rvk_alloc(o->k, T), *dh = up(o, hdh0, (size_t)T * C), *dw = up(o, hw, (size_t)V * C);
    rv_err e;
    float rc[2];
    rc[0] = (float)rvk_xent_fwd(o->k, loss, lse, h, w, tg, T, C, V, &e);
    rc[1] = (float)rvk_xent_bwd(o->k, dh, dw, h, w, tg, lse, dl, T, C, V, 1, &e);
    keep(o, "xent loss", loss, T, o->tol_gemm);
    keep(o, "xent lse", lse, T, o->tol_gemm);
    keep(o, "xent dhidden(accum)", dh, (size_t)T * C, o->tol_gemm);
    keep(o, "xent dw(+=)", dw, (size_t)V * C, o->tol_gemm);
    keep_host(o, "xent status", rc, 2, TOL_EXACT);
    rvk_free(o->k, h), rvk_free(o->k, w), rvk_free(o->k, dl), rvk_free(o->k, tg);
    free(hh), free(hw), free(hdl), free(hdh0);
}

/* How many rows of rvk_sample (temperature > 0) on this context differ from the shared rule
 * (kernels/sample_rule.c) applied to this context's own softmax probabilities: the rule of
 * rvk_sample on every backend (the CUDA backend's softmax differs from the CPU's by ulps, so its
 * ids are not the CPU's ids for the same logits, but the CPU rule on the CUDA probabilities). */
static float sample_rule_mismatches(outs *o, const float *lg, int N, int V, float T, int top_k, float top_p,
                                    const double *u) {
    const size_t nv = (size_t)N * V;
    float *p = rvk_alloc(o->k, nv), *hp = malloc(nv * sizeof *hp), *tail = malloc(2 * (size_t)V * sizeof *tail);
    int32_t *ids = rvk_alloc_i32(o->k, N), *hid = malloc((size_t)N * sizeof *hid);
    rvk_sample_cand *c = malloc((size_t)V * sizeof *c);
    rvk_softmax(o->k, p, lg, N, V, T);
    rvk_sample(o->k, ids, lg, u, N, V, T, top_k, top_p);
    rvk_download(o->k, hp, p, nv);
    rvk_download_i32(o->k, hid, ids, (size_t)N);
    int bad = 0;
    for (int n = 0; n < N; n++) {
        const int32_t want = rvk_sample_row(hp + (size_t)n * V, V, top_k, top_p, u[n], c, tail);
        if (hid[n] != want) {
            printf("note: %s sample row %d (V %d, T %g, top_k %d, top_p %g, u %.17g): id %d, the rule on its "
                   "softmax gives %d\n", rvk_ctx_backend(o->k), n, V, T, top_k, top_p, u[n], hid[n], want);
            bad++;
        }
    }
    rvk_free(o->k, p), rvk_free(o->k, ids);
    free(hp), free(tail), free(hid), free(c);
    return (float)bad;
}

static void c_softmax_logp_sample(outs *o) {
    const int N = 9, V = 32003;
    const size_t nv = (size_t)N * V;
    float *hl = randn(130, nv, 3);
    int32_t hid[9];
    for (int i = 0; i < N; i++) hid[i] = (int32_t)((i * 7919 + 3) % V);
    float *lg = up(o, hl, nv), *p = rvk_alloc(o->k, nv), *lp = rvk_alloc(o->k, N);
    int32_t *ids = upi(o, hid, (size_t)N), *pick = rvk_alloc_i32(o->k, N);
    rv_err e;
    rvk_softmax(o->k, p, lg, N, V, 0.7f);
    float rc = (float)rvk_token_logp(o->k, lp, lg, ids, N, V, &e);
    rvk_sample(o->k, pick, lg, NULL, N, V, 0.0f, 0, 0.0f); /* greedy */
    double u[9];
    for (int i = 0; i < N; i++) u[i] = (i + 0.5) / N;
    /* temperature sampling with fixed draws: 0 rows off the rule on either side */
    float miss[3];
    miss[0] = sample_rule_mismatches(o, lg, N, V, 0.8f, 50, 0.9f, u);  /* top-k and top-p */
    miss[1] = sample_rule_mismatches(o, lg, N, V, 1.0f, 200, 1.0f, u); /* top-k only */
    {   /* flat rows of a Qwen2-sized vocabulary, neither top-k nor top-p: the draw goes deep */
        const int Nf = 8, Vf = 151936;
        float *hf = randn(131, (size_t)Nf * Vf, 1);
        float *lf = up(o, hf, (size_t)Nf * Vf);
        double uf[8];
        for (int i = 0; i < Nf; i++) uf[i] = (i + 0.25) / Nf;
        miss[2] = sample_rule_mismatches(o, lf, Nf, Vf, 1.0f, 0, 1.0f, uf);
        rvk_free(o->k, lf);
        free(hf);
    }
    keep(o, "softmax p (T 0.7)", p, nv, TOL_RED);
    keep(o, "token_logp", lp, N, TOL_RED);
    keep_i32(o, "sample greedy ids", pick, (size_t)N);
    keep_host(o, "sample ids off the rule on own softmax: k50 p0.9 | k200 | flat V151936", miss, 3, TOL_EXACT);
    keep_host(o, "token_logp status", &rc, 1, TOL_EXACT);
    rvk_free(o->k, lg), rvk_free(o->k, ids);
    free(hl);
}

static void c_optimizer(outs *o) {
    const size_t n = 50021;
    float *hp = randn(140, n, 1), *hg = randn(141, n, 0.01f);
    float *p = up(o, hp, n), *g = up(o, hg, n), *m = rvk_alloc(o->k, n), *v = rvk_alloc(o->k, n);
    for (int step = 1; step <= 3; step++) {
        rvk_adamw_hp hp2 = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1,
                            .step = step, .grad_scale = 0.5};
        rvk_adamw_step(o->k, p, g, m, v, n / 2, &hp2, 0);
        rvk_adamw_step(o->k, p + n / 2, g + n / 2, m + n / 2, v + n / 2, n - n / 2, &hp2, RVK_ADAMW_NO_DECAY);
    }
    double ss = rvk_sumsq(o->k, g, n);
    rvk_buf acc;
    rv_err e;
    float sums[3] = {(float)ss, 0, 0};
    if (rvk_buf_alloc(o->k, &acc, RVK_MEM_DEVICE, RVK_F64, 2, &e) == 0) {
        rvk_sumsq_acc(o->k, rvk_buf_f64(&acc), g, n);
        rvk_sumsq_acc(o->k, rvk_buf_f64(&acc) + 1, p, 777);
        rvk_sumsq_acc(o->k, rvk_buf_f64(&acc) + 1, p + 777, n - 777);
        double h2[2] = {0, 0};
        rvk_download_async(o->k, h2, &acc, 0, 2);
        rvk_sync(o->k, &e);
        sums[1] = (float)h2[0], sums[2] = (float)h2[1];
        rvk_buf_free(o->k, &acc);
    }
    keep(o, "adamw param (3 steps, decay / no decay)", p, n, TOL_ADAMW);
    keep(o, "adamw m", m, n, TOL_ADAMW);
    keep(o, "adamw v", v, n, TOL_ADAMW);
    keep_host(o, "sumsq, sumsq_acc slots", sums, 3, TOL_RED);
    rvk_free(o->k, g);
    free(hp), free(hg);
}

/* bf16 storage (if the backend stores it): upload converts, download widens. */
static void c_bf16_buffer(outs *o) {
    const size_t n = 4099;
    float *hx = randn(150, n, 10);
    rvk_buf b;
    rv_err e;
    float *back = calloc(n, sizeof *back);
    if (rvk_buf_alloc(o->k, &b, RVK_MEM_DEVICE, RVK_BF16, n, &e) == 0) {
        rvk_upload_async(o->k, &b, 0, hx, n);
        rvk_download_async(o->k, back, &b, 0, n);
        rvk_sync(o->k, &e);
        rvk_buf_free(o->k, &b);
    } else {
        if (strcmp(rvk_ctx_backend(o->k), "cpu") != 0)
            printf("note: backend %s does not store bf16 buffers (%s): the bf16 round trip is not checked\n",
                   rvk_ctx_backend(o->k), e.msg);
        /* the CPU reference: round to nearest even on the host, as the rule in docs/kernels.md */
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &hx[i], 4);
            u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
            memcpy(&back[i], &u, 4);
        }
    }
    keep_host(o, "bf16 buffer round trip (RNE)", back, n, TOL_EXACT);
    free(back), free(hx);
}

/* The bf16 weight shadow (rvk_shadow_*): matmul fwd/bwd, rvk_gemm (A, then B in range) and the
 * fused lm_head + cross-entropy with their weights inside a bound parameter arena, against the
 * CPU's emulation (bf16_weights = 1: the same bf16 bits of the weights, rounded by the same RNE
 * rule). Tolerance: the bf16 class (TOL_BF16): the weights are identical on both sides, but the
 * GPU also rounds the activation operand to bf16 (2^-9 relative per element, which the CPU
 * emulation keeps in fp32) and accumulates in another order. The refresh rule: new masters
 * without a refresh must still give the old product (a GPU that read the masters would be off
 * by the whole change, far beyond the tolerance), and after the refresh the new one. With
 * --fp32-gemm the GPU keeps no copy (RADVLM_CUDA_GEMM=fp32 compares against fp32), so the CPU
 * reference keeps none either. */
static void c_shadow(outs *o) {
    const int N = 53, C = 96, OC = 80, V = 5003, T = 33, M = 37, Nn = 45;
    const size_t offw = 16, offb = offw + (size_t)OC * C, offh = offb + (size_t)OC + 16, total = offh + (size_t)V * C;
    int emulate = o->tol_gemm == TOL_BF16;
    rvk_cpu_opts saved, with;
    int is_cpu = rvk_cpu_get_opts(o->k, &saved) == 0;
    rv_err e;
    if (is_cpu) {
        with = saved;
        with.bf16_weights = emulate;
        rvk_cpu_set_opts(o->k, &with, &e);
    }
    float *hp = randn(160, total, 0.1f), *hx = randn(161, (size_t)N * C, 1), *hdy = randn(162, (size_t)N * OC, 1);
    float *hh = randn(163, (size_t)T * C, 1), *hw2 = randn(164, (size_t)OC * C, 0.1f);
    float *P = up(o, hp, total), *x = up(o, hx, (size_t)N * C), *dy = up(o, hdy, (size_t)N * OC);
    float *hid = up(o, hh, (size_t)T * C);
    if (rvk_shadow_bind(o->k, P, total, &e)) {
        printf("FAIL shadow: bind: %s\n", e.msg);
        exit(1);
    }
    float *y = rvk_alloc(o->k, (size_t)N * OC), *dx = rvk_alloc(o->k, (size_t)N * C), *dw = rvk_alloc(o->k, (size_t)OC * C);
    rvk_matmul_fwd(o->k, y, x, P + offw, P + offb, N, C, OC);
    rvk_matmul_bwd(o->k, dx, dw, NULL, dy, x, P + offw, N, C, OC, 0);
    keep(o, "shadow matmul y(bias)", y, (size_t)N * OC, o->tol_gemm);
    keep(o, "shadow matmul dx", dx, (size_t)N * C, o->tol_gemm);
    keep(o, "shadow matmul dw (no weight operand)", dw, (size_t)OC * C, o->tol_gemm);
    { /* the GELU epilogues on bf16 operands: fc1-like forward, fc2-like backward (w [OC, C] as fc2) */
        float *h = rvk_alloc(o->k, (size_t)N * OC), *pre = rvk_alloc(o->k, (size_t)N * OC);
        float *dpre = rvk_alloc(o->k, (size_t)N * C);
        rvk_matmul_gelu_fwd(o->k, h, pre, x, P + offw, P + offb, N, C, OC, RVK_GELU_TANH);
        rvk_matmul_bwd_gelu(o->k, dpre, NULL, NULL, dy, x, x, P + offw, N, C, OC, RVK_GELU_TANH);
        keep(o, "shadow matmul_gelu h", h, (size_t)N * OC, o->tol_gemm);
        keep(o, "shadow matmul_gelu pre", pre, (size_t)N * OC, o->tol_gemm);
        keep(o, "shadow matmul_bwd_gelu dpre", dpre, (size_t)N * C, o->tol_gemm);
    }
    for (int which = 0; which < 2; which++) { /* the head block as op(A) [M, C] (transA) or op(B) [C, Nn] */
        float *Cm = rvk_alloc(o->k, (size_t)M * Nn), *X = up(o, hx, (size_t)N * C);
        if (which == 0) rvk_gemm(o->k, 1, 0, M, Nn, C, 0.7f, P + offh, M, X, Nn, 0.0f, Cm, Nn);
        else rvk_gemm(o->k, 0, 1, M, Nn, C, 0.7f, X, C, P + offh, C, 0.0f, Cm, Nn);
        keep(o, which == 0 ? "shadow gemm A in range (TN)" : "shadow gemm B in range (NT)", Cm, (size_t)M * Nn,
             o->tol_gemm);
        rvk_free(o->k, X);
    }
    int32_t ht[33];
    for (int t = 0; t < T; t++) ht[t] = t % 9 == 4 ? -100 : (t * 577) % V;
    float hdl[33];
    for (int t = 0; t < T; t++) hdl[t] = 1.0f / T;
    int32_t *tg = upi(o, ht, T);
    float *dl = up(o, hdl, T), *loss = rvk_alloc(o->k, T), *lse = rvk_alloc(o->k, T), *dh = rvk_alloc(o->k, (size_t)T * C);
    float *dhead = rvk_alloc(o->k, (size_t)V * C);
    float st[2];
    st[0] = (float)rvk_xent_fwd(o->k, loss, lse, hid, P + offh, tg, T, C, V, &e);
    st[1] = (float)rvk_xent_bwd(o->k, dh, dhead, hid, P + offh, tg, lse, dl, T, C, V, 0, &e);
    keep_host(o, "shadow xent status", st, 2, TOL_EXACT);
    keep(o, "shadow xent loss", loss, T, o->tol_gemm);
    keep(o, "shadow xent dhidden", dh, (size_t)T * C, o->tol_gemm);
    keep(o, "shadow xent dw", dhead, (size_t)V * C, o->tol_gemm);
    /* the refresh rule */
    rvk_upload(o->k, P + offw, hw2, (size_t)OC * C);
    float *ys = rvk_alloc(o->k, (size_t)N * OC), *yn = rvk_alloc(o->k, (size_t)N * OC);
    rvk_matmul_fwd(o->k, ys, x, P + offw, NULL, N, C, OC);
    rvk_shadow_refresh(o->k, P + offw, (size_t)OC * C);
    rvk_matmul_fwd(o->k, yn, x, P + offw, NULL, N, C, OC);
    keep(o, "shadow rule: y before the refresh", ys, (size_t)N * OC, o->tol_gemm);
    keep(o, "shadow rule: y after the refresh", yn, (size_t)N * OC, o->tol_gemm);
    rvk_shadow_unbind(o->k);
    rvk_free(o->k, P), rvk_free(o->k, x), rvk_free(o->k, dy), rvk_free(o->k, hid), rvk_free(o->k, dl);
    rvk_free(o->k, tg), rvk_free(o->k, lse);
    free(hp), free(hx), free(hdy), free(hh), free(hw2);
    if (is_cpu) rvk_cpu_set_opts(o->k, &saved, &e);
}

typedef void (*case_fn)(outs *o);
static const struct {
    const char *name;
    case_fn fn;
} CASES[] = {
    {"elementwise", c_elementwise}, {"gemm", c_gemm},     {"matmul", c_matmul}, {"matmul_gelu", c_matmul_gelu},
    {"norms", c_norms},             {"activations", c_activations}, {"rope", c_rope},
    {"attention", c_attention},     {"attention_cache", c_attention_cache}, {"rows", c_rows},
    {"xent", c_xent},               {"softmax_logp_sample", c_softmax_logp_sample}, {"optimizer", c_optimizer},
    {"bf16_buffer", c_bf16_buffer}, {"shadow", c_shadow},
};

static double compare(const float *ref, const float *got, size_t n, double tol, int *bad, double *refnorm) {
    double dn = 0, rn = 0, gn = 0;
    *bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) != isnan(ref[i]) || isinf(got[i]) != isinf(ref[i])) *bad = 1;
        if (!isfinite(ref[i]) || !isfinite(got[i])) continue; /* -inf lse of an empty query row */
        double d = (double)got[i] - ref[i];
        dn += d * d, rn += (double)ref[i] * ref[i], gn += (double)got[i] * got[i];
    }
    double err = rn > 0 ? sqrt(dn / rn) : sqrt(gn);
    *refnorm = sqrt(rn);
    if (tol == TOL_EXACT && dn != 0) *bad = 1;
    return err;
}

int main(int argc, char **argv) {
    const char *backend = "cuda", *only = NULL;
    double tol_gemm = TOL_BF16;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--fp32-gemm")) tol_gemm = TOL_RED;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: kernel_conformance [--backend cuda|cpu] [--fp32-gemm] [--only CASE]\n");
            return 2;
        }
    }
    rv_err e;
    rv_kctx *cpu, *dev;
    if (rvk_create(&cpu, "cpu", &(rvk_cpu_opts){.nthreads = 4}, &e)) {
        fprintf(stderr, "kernel_conformance: %s\n", e.msg);
        return 1;
    }
    /* cpu against cpu: other options, so that rounding differs (the self-check) */
    rvk_cpu_opts other = {.nthreads = 3, .xent_vchunk = 1000, .blas_threaded = 1};
    if (rvk_create(&dev, backend, &other, &e)) {
        printf("kernel_conformance: SKIP: backend %s cannot run here: %s\n", backend, e.msg);
        rvk_destroy(cpu);
        return 77;
    }
    tally t = {0, 0};
    printf("kernel conformance: %s against cpu (tolerances: GEMM-fed %.0e%s, reductions %.0e, element-wise %.0e, "
           "adamw %.0e, exact 0; normwise relative)\n",
           backend, tol_gemm, tol_gemm == TOL_BF16 ? " (bf16 tensor cores)" : " (--fp32-gemm)", TOL_RED, TOL_F32,
           TOL_ADAMW);
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        if (only && !strstr(CASES[c].name, only)) continue;
        outs ref = {.k = cpu, .tol_gemm = tol_gemm}, got = {.k = dev, .tol_gemm = tol_gemm};
        CASES[c].fn(&ref);
        int rc_cpu = rvk_sync(cpu, &e);
        CASES[c].fn(&got);
        int rc_dev = rvk_sync(dev, &e);
        if (rc_cpu || rc_dev || ref.n != got.n) {
            printf("FAIL %s: the case itself failed (cpu status %d, %s status %d%s%s)\n", CASES[c].name, rc_cpu, backend,
                   rc_dev, rc_dev ? ": " : "", rc_dev ? e.msg : "");
            t.fail++;
        }
        for (int i = 0; i < ref.n && i < got.n; i++) {
            int bad;
            double rn;
            double err = compare(ref.v[i], got.v[i], ref.len[i], ref.tol[i], &bad, &rn);
            int ok = !bad && err <= ref.tol[i];
            printf("%s %s/%s: err %.3g tol %.0e (%zu values, reference norm %.4g)\n", ok ? "PASS" : "FAIL",
                   CASES[c].name, ref.name[i], err, ref.tol[i], ref.len[i], rn);
            printf("RESULT kernel=%s output=\"%s\" err=%.6g tol=%.6g ok=%d\n", CASES[c].name, ref.name[i], err,
                   ref.tol[i], ok);
            ok ? t.pass++ : t.fail++;
        }
        for (int i = 0; i < ref.n; i++) free(ref.v[i]);
        for (int i = 0; i < got.n; i++) free(got.v[i]);
    }
    printf("kernel_conformance %s: %d outputs within tolerance, %d not\n", backend, t.pass, t.fail);
    rvk_destroy(dev);
    rvk_destroy(cpu);
    return t.fail ? 1 : 0;
}
