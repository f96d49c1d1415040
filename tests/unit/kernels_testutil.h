/* Helpers for the kernel tests: seeded random tensors, a finite-difference gradient checker, the
 * backend loop and the op wrappers that make the tests a conformance suite (as ggml's
 * test-backend-ops): every test body runs once per BUILT backend of the registry
 * (kt_backend_next), and every op is called through a kt_ wrapper with host arrays that uploads
 * each argument into a backend buffer, runs the op on the device pointers, downloads the outputs
 * and checks the context's sticky status. So one set of inputs and reference expectations
 * (hand values, naive double references, finite differences) checks every backend, and a new
 * backend (CUDA, issue I) is tested by the tests that exist. Outputs are uploaded too (their old
 * contents matter for accum and parameter gradients); arguments given the same host pointer
 * share one device buffer (in-place calls stay in place).
 * Gradient checks use fp32 central differences of a double-summed scalar L = sum_i r_i y_i
 * (r random), so the analytic backward receives dy = r. */
#ifndef RADVLM_TESTS_KERNELS_TESTUTIL_H
#define RADVLM_TESTS_KERNELS_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "kernels/kernels.h"

static inline float *kt_randn(rv_rng *r, size_t n, float scale) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)rv_rng_normal(r) * scale;
    return x;
}

static inline float *kt_copy(const float *x, size_t n) {
    float *y = malloc((n ? n : 1) * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

static inline double kt_dotd(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static inline double kt_maxdiff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

/* Evaluates the scalar loss for the current contents of the perturbed tensor. */
typedef double (*kt_loss_fn)(void *ud);

/* Compares grad[i] with (L(x_i + h) - L(x_i - h)) / 2h for up to `maxn` elements of x (evenly
 * strided). Passes when |g - fd| <= atol + rtol |fd| for every checked element. */
static inline void kt_fd_check(const char *what, float *x, size_t n, const float *grad,
                               kt_loss_fn loss, void *ud, float h, double atol, double rtol,
                               size_t maxn) {
    size_t step = n > maxn ? (n + maxn - 1) / maxn : 1;
    double worst = 0.0, worst_g = 0.0, worst_fd = 0.0;
    int bad = 0;
    for (size_t i = 0; i < n; i += step) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = loss(ud);
        x[i] = keep - h;
        double lm = loss(ud);
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * (double)h);
        double err = fabs(fd - grad[i]);
        if (err > atol + rtol * fabs(fd)) bad++;
        if (err > worst) { worst = err; worst_g = grad[i]; worst_fd = fd; }
    }
    if (bad) fprintf(stderr, "fd %s: %d elements out of tolerance; worst |g-fd| = %.3g (g %.6g fd %.6g)\n",
                     what, bad, worst, worst_g, worst_fd);
    CHECK(bad == 0);
}

/* ---- the backend loop ---- */

static const char *kt_backend = "cpu"; /* backend of the current pass (tests only) */

/* Advances *i (start at -1) to the next built backend and selects it; 0 when done. */
static inline int kt_backend_next(int *i) {
    for ((*i)++; *i < rvk_backend_count(); (*i)++)
        if (rvk_backend_built(*i)) {
            /* a built backend whose device is absent (cuda on a GPU-less machine) is reported and
             * skipped; test_kernels_cuda_nodevice checks that refusal itself */
            rv_kctx *probe;
            rv_err err;
            if (rvk_create(&probe, rvk_backend_name(*i), NULL, &err) != 0) {
                fprintf(stderr, "-- backend %s is built but cannot run here, skipped: %s\n", rvk_backend_name(*i),
                        err.msg);
                continue;
            }
            rvk_destroy(probe);
            kt_backend = rvk_backend_name(*i);
            fprintf(stderr, "-- backend %s\n", kt_backend);
            return 1;
        }
    return 0;
}

/* A context on the current backend; nthreads is the CPU backend's option (others ignore it). */
static inline rv_kctx *kt_ctx(int nthreads) {
    rv_kctx *k;
    rv_err err;
    rvk_cpu_opts o = {.nthreads = nthreads};
    if (rvk_create(&k, kt_backend, &o, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return k;
}

/* The CPU cross-entropy chunk; other backends choose their own (the tests still compare with
 * the same references). */
static inline void kt_set_vchunk(rv_kctx *k, int vchunk) {
    rvk_cpu_opts o;
    if (rvk_cpu_get_opts(k, &o) != 0) return;
    o.xent_vchunk = vchunk;
    rvk_cpu_set_opts(k, &o, NULL);
}

/* ---- host arrays <-> backend buffers for one op call ---- */

#define KT_MAX_ARGS 16
typedef struct kt_map {
    rv_kctx *k;
    int n;
    struct {
        void *host;
        size_t n;
        int out;
        rvk_buf b;
    } e[KT_MAX_ARGS];
} kt_map;

static inline kt_map kt_begin(rv_kctx *k) {
    kt_map m;
    memset(&m, 0, sizeof m);
    m.k = k;
    return m;
}

/* Device copy of host[0..n) (dtype F32 or I32); out = 1: downloaded back by kt_end. */
static inline void *kt_arg(kt_map *m, const void *host, size_t n, rvk_dtype dt, int out) {
    if (!host) return NULL;
    for (int i = 0; i < m->n; i++) {
        if (m->e[i].host != host) continue;
        if (n == m->e[i].n && m->e[i].b.dtype == dt) {
            m->e[i].out |= out;
            return m->e[i].b.data;
        }
        if (out || m->e[i].out) { /* an output must keep one device copy */
            fprintf(stderr, "kt_arg: an output array passed again with another size or dtype\n");
            abort();
        }
        /* the same host array read as inputs of different sizes: separate read-only copies */
    }
    if (m->n == KT_MAX_ARGS) abort();
    rv_err err;
    int i = m->n++;
    m->e[i].host = (void *)host, m->e[i].n = n, m->e[i].out = out;
    if (rvk_buf_alloc(m->k, &m->e[i].b, RVK_MEM_DEVICE, dt, n, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    rvk_upload_async(m->k, &m->e[i].b, 0, host, n);
    return m->e[i].b.data;
}
#define KT_IN(m, p, n) ((const float *)kt_arg(m, p, n, RVK_F32, 0))
#define KT_OUT(m, p, n) ((float *)kt_arg(m, p, n, RVK_F32, 1))
#define KT_I32(m, p, n) ((const int32_t *)kt_arg(m, p, n, RVK_I32, 0))
#define KT_OUT_I32(m, p, n) ((int32_t *)kt_arg(m, p, n, RVK_I32, 1))

static inline void kt_end(kt_map *m) {
    for (int i = 0; i < m->n; i++)
        if (m->e[i].out) rvk_download_async(m->k, m->e[i].host, &m->e[i].b, 0, m->e[i].n);
    rv_err err;
    int rc = rvk_sync(m->k, &err);
    if (rc != 0) fprintf(stderr, "kt_end: %s\n", err.msg);
    CHECK(rc == 0);
    for (int i = 0; i < m->n; i++) rvk_buf_free(m->k, &m->e[i].b);
}

/* ---- the ops with host arguments (same signatures as kernels.h) ---- */

static inline void kt_fill(rv_kctx *k, float *x, float value, size_t n) {
    kt_map m = kt_begin(k);
    rvk_fill(k, KT_OUT(&m, x, n), value, n);
    kt_end(&m);
}
static inline void kt_add(rv_kctx *k, float *y, const float *a, const float *b, size_t n) {
    kt_map m = kt_begin(k);
    float *dy = KT_OUT(&m, y, n);
    rvk_add(k, dy, KT_IN(&m, a, n), KT_IN(&m, b, n), n);
    kt_end(&m);
}
static inline void kt_axpy(rv_kctx *k, float *y, float alpha, const float *x, size_t n) {
    kt_map m = kt_begin(k);
    float *dy = KT_OUT(&m, y, n);
    rvk_axpy(k, dy, alpha, KT_IN(&m, x, n), n);
    kt_end(&m);
}
static inline void kt_scale(rv_kctx *k, float *x, float alpha, size_t n) {
    kt_map m = kt_begin(k);
    rvk_scale(k, KT_OUT(&m, x, n), alpha, n);
    kt_end(&m);
}
static inline void kt_gemm(rv_kctx *k, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *Cm, int ldc) {
    kt_map m = kt_begin(k);
    float *dc = KT_OUT(&m, Cm, (size_t)M * ldc);
    const float *da = KT_IN(&m, A, (size_t)(ta ? K : M) * lda), *db = KT_IN(&m, B, (size_t)(tb ? N : K) * ldb);
    rvk_gemm(k, ta, tb, M, N, K, alpha, da, lda, db, ldb, beta, dc, ldc);
    kt_end(&m);
}
static inline void kt_matmul_fwd(rv_kctx *k, float *y, const float *x, const float *w, const float *b, int N, int C,
                                 int OC) {
    kt_map m = kt_begin(k);
    float *dy = KT_OUT(&m, y, (size_t)N * OC);
    rvk_matmul_fwd(k, dy, KT_IN(&m, x, (size_t)N * C), KT_IN(&m, w, (size_t)OC * C), KT_IN(&m, b, OC), N, C, OC);
    kt_end(&m);
}
static inline void kt_matmul_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x,
                                 const float *w, int N, int C, int OC, int accum) {
    kt_map m = kt_begin(k);
    float *ddx = KT_OUT(&m, dx, (size_t)N * C), *ddw = KT_OUT(&m, dw, (size_t)OC * C), *ddb = KT_OUT(&m, db, OC);
    rvk_matmul_bwd(k, ddx, ddw, ddb, KT_IN(&m, dy, (size_t)N * OC), KT_IN(&m, x, (size_t)N * C),
                   KT_IN(&m, w, (size_t)OC * C), N, C, OC, accum);
    kt_end(&m);
}
static inline void kt_matmul_gelu_fwd(rv_kctx *k, float *h, float *pre, const float *x, const float *w,
                                      const float *b, int N, int C, int OC, rvk_gelu_kind kind) {
    kt_map m = kt_begin(k);
    float *dh = KT_OUT(&m, h, (size_t)N * OC), *dp = KT_OUT(&m, pre, (size_t)N * OC);
    rvk_matmul_gelu_fwd(k, dh, dp, KT_IN(&m, x, (size_t)N * C), KT_IN(&m, w, (size_t)OC * C), KT_IN(&m, b, OC), N, C,
                        OC, kind);
    kt_end(&m);
}
static inline void kt_matmul_bwd_gelu(rv_kctx *k, float *dpre, float *dw, float *db, const float *dy, const float *h,
                                      const float *pre, const float *w, int N, int C, int OC, rvk_gelu_kind kind) {
    kt_map m = kt_begin(k);
    float *ddp = KT_OUT(&m, dpre, (size_t)N * C), *ddw = KT_OUT(&m, dw, (size_t)OC * C), *ddb = KT_OUT(&m, db, OC);
    rvk_matmul_bwd_gelu(k, ddp, ddw, ddb, KT_IN(&m, dy, (size_t)N * OC), KT_IN(&m, h, (size_t)N * C),
                        KT_IN(&m, pre, (size_t)N * C), KT_IN(&m, w, (size_t)OC * C), N, C, OC, kind);
    kt_end(&m);
}
static inline void kt_layernorm_fwd(rv_kctx *k, float *y, float *mean, float *rstd, const float *x, const float *w,
                                    const float *b, int N, int C, float eps) {
    kt_map m = kt_begin(k);
    size_t nc = (size_t)N * C;
    float *dy = KT_OUT(&m, y, nc), *dm = KT_OUT(&m, mean, N), *dr = KT_OUT(&m, rstd, N);
    rvk_layernorm_fwd(k, dy, dm, dr, KT_IN(&m, x, nc), KT_IN(&m, w, C), KT_IN(&m, b, C), N, C, eps);
    kt_end(&m);
}
static inline void kt_layernorm_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x,
                                    const float *w, const float *mean, const float *rstd, int N, int C, int accum) {
    kt_map m = kt_begin(k);
    size_t nc = (size_t)N * C;
    float *ddx = KT_OUT(&m, dx, nc), *ddw = KT_OUT(&m, dw, C), *ddb = KT_OUT(&m, db, C);
    rvk_layernorm_bwd(k, ddx, ddw, ddb, KT_IN(&m, dy, nc), KT_IN(&m, x, nc), KT_IN(&m, w, C), KT_IN(&m, mean, N),
                      KT_IN(&m, rstd, N), N, C, accum);
    kt_end(&m);
}
static inline void kt_rmsnorm_fwd(rv_kctx *k, float *y, float *rstd, const float *x, const float *w, int N, int C,
                                  float eps) {
    kt_map m = kt_begin(k);
    size_t nc = (size_t)N * C;
    float *dy = KT_OUT(&m, y, nc), *dr = KT_OUT(&m, rstd, N);
    rvk_rmsnorm_fwd(k, dy, dr, KT_IN(&m, x, nc), KT_IN(&m, w, C), N, C, eps);
    kt_end(&m);
}
static inline void kt_rmsnorm_bwd(rv_kctx *k, float *dx, float *dw, const float *dy, const float *x, const float *w,
                                  const float *rstd, int N, int C, int accum) {
    kt_map m = kt_begin(k);
    size_t nc = (size_t)N * C;
    float *ddx = KT_OUT(&m, dx, nc), *ddw = KT_OUT(&m, dw, C);
    rvk_rmsnorm_bwd(k, ddx, ddw, KT_IN(&m, dy, nc), KT_IN(&m, x, nc), KT_IN(&m, w, C), KT_IN(&m, rstd, N), N, C,
                    accum);
    kt_end(&m);
}
static inline void kt_gelu_fwd(rv_kctx *k, float *y, const float *x, size_t n, rvk_gelu_kind kind) {
    kt_map m = kt_begin(k);
    float *dy = KT_OUT(&m, y, n);
    rvk_gelu_fwd(k, dy, KT_IN(&m, x, n), n, kind);
    kt_end(&m);
}
static inline void kt_gelu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, rvk_gelu_kind kind,
                               int accum) {
    kt_map m = kt_begin(k);
    float *ddx = KT_OUT(&m, dx, n);
    rvk_gelu_bwd(k, ddx, KT_IN(&m, dy, n), KT_IN(&m, x, n), n, kind, accum);
    kt_end(&m);
}
static inline void kt_silu_fwd(rv_kctx *k, float *y, const float *x, size_t n) {
    kt_map m = kt_begin(k);
    float *dy = KT_OUT(&m, y, n);
    rvk_silu_fwd(k, dy, KT_IN(&m, x, n), n);
    kt_end(&m);
}
static inline void kt_silu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, int accum) {
    kt_map m = kt_begin(k);
    float *ddx = KT_OUT(&m, dx, n);
    rvk_silu_bwd(k, ddx, KT_IN(&m, dy, n), KT_IN(&m, x, n), n, accum);
    kt_end(&m);
}
static inline void kt_swiglu_fwd(rv_kctx *k, float *h, const float *g, const float *u, size_t n) {
    kt_map m = kt_begin(k);
    float *dh = KT_OUT(&m, h, n);
    rvk_swiglu_fwd(k, dh, KT_IN(&m, g, n), KT_IN(&m, u, n), n);
    kt_end(&m);
}
static inline void kt_swiglu_bwd(rv_kctx *k, float *dg, float *du, const float *dh, const float *g, const float *u,
                                 size_t n, int accum) {
    kt_map m = kt_begin(k);
    float *ddg = KT_OUT(&m, dg, n), *ddu = KT_OUT(&m, du, n);
    rvk_swiglu_bwd(k, ddg, ddu, KT_IN(&m, dh, n), KT_IN(&m, g, n), KT_IN(&m, u, n), n, accum);
    kt_end(&m);
}
static inline void kt_rope_fwd(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D,
                               float theta) {
    kt_map m = kt_begin(k);
    size_t n = (size_t)T * H * D;
    float *dy = KT_OUT(&m, y, n);
    rvk_rope_fwd(k, dy, KT_IN(&m, x, n), KT_I32(&m, pos, T), T, H, D, theta);
    kt_end(&m);
}
static inline void kt_rope_bwd(rv_kctx *k, float *dx, const float *dy, const int32_t *pos, int T, int H, int D,
                               float theta) {
    kt_map m = kt_begin(k);
    size_t n = (size_t)T * H * D;
    float *ddx = KT_OUT(&m, dx, n);
    rvk_rope_bwd(k, ddx, KT_IN(&m, dy, n), KT_I32(&m, pos, T), T, H, D, theta);
    kt_end(&m);
}
/* The offsets of an rvk_attn live in backend memory too. */
static inline rvk_attn kt_attn_args(kt_map *m, const rvk_attn *a) {
    rvk_attn d = *a;
    size_t ns = a->nseq > 0 ? (size_t)a->nseq : 0;
    d.cu_q = KT_I32(m, a->cu_q, ns + 1);
    d.cu_k = KT_I32(m, a->cu_k, ns + 1);
    d.len_k = KT_I32(m, a->len_k, ns);
    return d;
}
static inline int kt_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk,
                                   const float *v, const rvk_attn *a, rv_err *err) {
    kt_map m = kt_begin(k);
    size_t nq = (size_t)a->Tq * a->Hq * a->D, nk = (size_t)a->Tk * a->Hkv * a->D;
    float *dout = KT_OUT(&m, out, nq), *dlse = KT_OUT(&m, lse, (size_t)a->Tq * a->Hq);
    rvk_attn d = kt_attn_args(&m, a);
    int rc = rvk_attention_fwd(k, dout, dlse, KT_IN(&m, q, nq), KT_IN(&m, kk, nk), KT_IN(&m, v, nk), &d, err);
    kt_end(&m);
    return rc;
}
static inline int kt_attention_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                                   const float *kk, const float *v, const float *out, const float *lse,
                                   const rvk_attn *a, int accum, rv_err *err) {
    kt_map m = kt_begin(k);
    size_t nq = (size_t)a->Tq * a->Hq * a->D, nk = (size_t)a->Tk * a->Hkv * a->D;
    float *ddq = KT_OUT(&m, dq, nq), *ddk = KT_OUT(&m, dk, nk), *ddv = KT_OUT(&m, dv, nk);
    rvk_attn d = kt_attn_args(&m, a);
    int rc = rvk_attention_bwd(k, ddq, ddk, ddv, KT_IN(&m, dout, nq), KT_IN(&m, q, nq), KT_IN(&m, kk, nk),
                               KT_IN(&m, v, nk), KT_IN(&m, out, nq), KT_IN(&m, lse, (size_t)a->Tq * a->Hq), &d, accum,
                               err);
    kt_end(&m);
    return rc;
}
static inline int kt_embedding_fwd(rv_kctx *k, float *out, const float *table, const int32_t *ids, int T, int C,
                                   int V, rv_err *err) {
    kt_map m = kt_begin(k);
    float *dout = KT_OUT(&m, out, (size_t)T * C);
    int rc = rvk_embedding_fwd(k, dout, KT_IN(&m, table, (size_t)V * C), KT_I32(&m, ids, T), T, C, V, err);
    kt_end(&m);
    return rc;
}
static inline int kt_embedding_bwd(rv_kctx *k, float *dtable, const float *dout, const int32_t *ids, int T, int C,
                                   int V, rv_err *err) {
    kt_map m = kt_begin(k);
    float *dt = KT_OUT(&m, dtable, (size_t)V * C);
    int rc = rvk_embedding_bwd(k, dt, KT_IN(&m, dout, (size_t)T * C), KT_I32(&m, ids, T), T, C, V, err);
    kt_end(&m);
    return rc;
}
static inline int kt_rows_scatter(rv_kctx *k, float *dst, const int32_t *idx, const float *src, int n, int C, int R,
                                  rv_err *err) {
    kt_map m = kt_begin(k);
    float *dd = KT_OUT(&m, dst, (size_t)R * C);
    int rc = rvk_rows_scatter(k, dd, KT_I32(&m, idx, n), KT_IN(&m, src, (size_t)n * C), n, C, R, err);
    kt_end(&m);
    return rc;
}
static inline int kt_xent_fwd(rv_kctx *k, float *loss, float *lse, const float *hidden, const float *w,
                              const int32_t *targets, int T, int C, int V, rv_err *err) {
    kt_map m = kt_begin(k);
    float *dl = KT_OUT(&m, loss, T), *dlse = KT_OUT(&m, lse, T);
    int rc = rvk_xent_fwd(k, dl, dlse, KT_IN(&m, hidden, (size_t)T * C), KT_IN(&m, w, (size_t)V * C),
                          KT_I32(&m, targets, T), T, C, V, err);
    kt_end(&m);
    return rc;
}
static inline int kt_xent_bwd(rv_kctx *k, float *dhidden, float *dw, const float *hidden, const float *w,
                              const int32_t *targets, const float *lse, const float *dloss, int T, int C, int V,
                              int accum, rv_err *err) {
    kt_map m = kt_begin(k);
    float *ddh = KT_OUT(&m, dhidden, (size_t)T * C), *ddw = KT_OUT(&m, dw, (size_t)V * C);
    int rc = rvk_xent_bwd(k, ddh, ddw, KT_IN(&m, hidden, (size_t)T * C), KT_IN(&m, w, (size_t)V * C),
                          KT_I32(&m, targets, T), KT_IN(&m, lse, T), KT_IN(&m, dloss, T), T, C, V, accum, err);
    kt_end(&m);
    return rc;
}
static inline void kt_softmax(rv_kctx *k, float *p, const float *logits, int N, int V, float temperature) {
    kt_map m = kt_begin(k);
    float *dp = KT_OUT(&m, p, (size_t)N * V);
    rvk_softmax(k, dp, KT_IN(&m, logits, (size_t)N * V), N, V, temperature);
    kt_end(&m);
}
static inline int kt_token_logp(rv_kctx *k, float *logp, const float *logits, const int32_t *ids, int N, int V,
                                rv_err *err) {
    kt_map m = kt_begin(k);
    float *dl = KT_OUT(&m, logp, (size_t)N);
    int rc = rvk_token_logp(k, dl, KT_IN(&m, logits, (size_t)N * V), KT_I32(&m, ids, N), N, V, err);
    kt_end(&m);
    return rc;
}
/* u stays a host array: it is a per-row parameter, like the scalar arguments. */
static inline void kt_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V,
                             float temperature, int top_k, float top_p) {
    kt_map m = kt_begin(k);
    int32_t *dids = KT_OUT_I32(&m, ids, (size_t)N);
    rvk_sample(k, dids, KT_IN(&m, logits, (size_t)N * V), u, N, V, temperature, top_k, top_p);
    kt_end(&m);
}
static inline void kt_adamw_step(rv_kctx *k, float *param, const float *grad, float *mm, float *v, size_t n,
                                 const rvk_adamw_hp *hp, int flags) {
    kt_map m = kt_begin(k);
    float *dp = KT_OUT(&m, param, n), *dm = KT_OUT(&m, mm, n), *dv = KT_OUT(&m, v, n);
    rvk_adamw_step(k, dp, KT_IN(&m, grad, n), dm, dv, n, hp, flags);
    kt_end(&m);
}
static inline double kt_sumsq(rv_kctx *k, const float *x, size_t n) {
    kt_map m = kt_begin(k);
    double s = rvk_sumsq(k, KT_IN(&m, x, n), n);
    kt_end(&m);
    return s;
}

#endif
