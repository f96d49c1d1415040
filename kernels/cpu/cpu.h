/* The CPU backend's private interface: its state, helpers shared by its kernels, and the kernel
 * functions its table (kernels/cpu/context.c) points at. Not part of the public interface. */
#ifndef RADVLM_KERNELS_CPU_H
#define RADVLM_KERNELS_CPU_H

#include <stddef.h>

#include "kernels/backend.h"

/* Column tile for reductions over rows: each tile is owned by one thread and summed over rows
 * in increasing order, so the result does not depend on the thread count. */
#define RVK_COL_TILE 64
/* Below this many elements an element-wise loop stays on one thread. */
#define RVK_PAR_MIN 16384

/* The emulated bf16 weight shadow (rvk_cpu_opts.bf16_weights; kernels/cpu/shadow.c): a bound
 * parameter range [lo, lo + n) and its fp32 copy holding bf16-rounded values. A few ranges per
 * context (a policy and a frozen reference model share one context in GRPO). */
#define RVK_SHADOW_RANGES 4
typedef struct rvk_cpu_shadow {
    const float *lo; /* NULL: slot free */
    size_t n;
    float *copy;     /* [n], from the context's allocator (counts against mem_limit) */
} rvk_cpu_shadow;

/* CPU backend state (rv_kctx.impl). */
typedef struct rvk_cpu {
    rvk_cpu_opts o;   /* defaults applied: nthreads >= 1, xent_vchunk >= 1 */
    size_t mem_used;  /* bytes held in buffers (checked against o.mem_limit) */
    void *ws;         /* scratch owned by the context, grown on demand */
    size_t ws_bytes;
    rvk_cpu_shadow shadow[RVK_SHADOW_RANGES];
    int nshadow;      /* bound ranges (0: every GEMM reads its operands as given) */
} rvk_cpu;

static inline rvk_cpu *rvk_cpu_of(const rv_kctx *k) { return (rvk_cpu *)k->impl; }
static inline int rvk_threads(const rv_kctx *k) {
    return k && rvk_cpu_of(k)->o.nthreads > 0 ? rvk_cpu_of(k)->o.nthreads : 1;
}

/* Scratch of at least `bytes`, valid until the next call that uses scratch; owned by k. */
void *rvk_cpu_scratch(rv_kctx *k, size_t bytes);

/* Sets OpenBLAS's pool to the context's thread count (OpenBLAS keeps it process-wide). */
void rvk_cpu_blas_threads(const rv_kctx *k);

/* out[c] += sum_{r < N} in[r * ld + c] for c < C, deterministic (column tiles). */
void rvk_cpu_colsum_add(const rv_kctx *k, float *out, const float *in, int N, int C, int ld);

/* Dot product with 8 independent partial sums (a fixed order, vectorizable without -ffast-math). */
static inline float rvk_dot(const float *a, const float *b, int n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* Memory of the context's allocator (what buffers use; counts against o.mem_limit). */
void *rvk_cpu_alloc_bytes(rv_kctx *k, size_t bytes, rv_err *err);
void rvk_cpu_free_bytes(rv_kctx *k, void *p);

/* The weight shadow (kernels.h rvk_shadow_*): p itself, or, when p lies in a bound range, the
 * same element of that range's bf16-rounded copy. Every GEMM operand goes through this (the CPU
 * GEMM entry point rvk_cpu_gemm), so matmul w, xent w and rvk_gemm A/B all read the copy. */
const float *rvk_cpu_shadowed(const rv_kctx *k, const float *p);
int rvk_cpu_shadow_bind(rv_kctx *k, const float *params, size_t n, rv_err *err);
void rvk_cpu_shadow_refresh(rv_kctx *k, const float *p, size_t n);
void rvk_cpu_shadow_unbind(rv_kctx *k);

/* The kernels (contracts in kernels.h). */
void rvk_cpu_fill(rv_kctx *k, float *x, float value, size_t n);
void rvk_cpu_to_bf16(rv_kctx *k, rvk_bf16 *dst, const float *src, size_t n);
void rvk_cpu_from_bf16(rv_kctx *k, float *dst, const rvk_bf16 *src, size_t n);
void rvk_cpu_add(rv_kctx *k, float *y, const float *a, const float *b, size_t n);
void rvk_cpu_axpy(rv_kctx *k, float *y, float alpha, const float *x, size_t n);
void rvk_cpu_scale(rv_kctx *k, float *x, float alpha, size_t n);
void rvk_cpu_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *Cm, int ldc);
void rvk_cpu_matmul_fwd(rv_kctx *k, float *y, const float *x, const float *w, const float *b, int N, int C, int OC);
void rvk_cpu_matmul_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        int N, int C, int OC, int accum);
void rvk_cpu_matmul_gelu_fwd(rv_kctx *k, float *h, float *pre, const float *x, const float *w, const float *b, int N,
                             int C, int OC, rvk_gelu_kind kind);
void rvk_cpu_matmul_bwd_gelu(rv_kctx *k, float *dpre, float *dw, float *db, const float *dy, const float *h,
                             const float *pre, const float *w, int N, int C, int OC, rvk_gelu_kind kind);
void rvk_cpu_layernorm_fwd(rv_kctx *k, float *y, float *mean, float *rstd, const float *x, const float *w,
                           const float *b, int N, int C, float eps);
void rvk_cpu_layernorm_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int C, int accum);
void rvk_cpu_rmsnorm_fwd(rv_kctx *k, float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
void rvk_cpu_rmsnorm_bwd(rv_kctx *k, float *dx, float *dw, const float *dy, const float *x, const float *w,
                         const float *rstd, int N, int C, int accum);
void rvk_cpu_gelu_fwd(rv_kctx *k, float *y, const float *x, size_t n, rvk_gelu_kind kind);
void rvk_cpu_gelu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, rvk_gelu_kind kind,
                      int accum);
void rvk_cpu_silu_fwd(rv_kctx *k, float *y, const float *x, size_t n);
void rvk_cpu_silu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, int accum);
void rvk_cpu_swiglu_fwd(rv_kctx *k, float *h, const float *g, const float *u, size_t n);
void rvk_cpu_swiglu_bwd(rv_kctx *k, float *dg, float *du, const float *dh, const float *g, const float *u, size_t n,
                        int accum);
void rvk_cpu_rope_fwd(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D, float theta);
void rvk_cpu_rope_bwd(rv_kctx *k, float *dx, const float *dy, const int32_t *pos, int T, int H, int D, float theta);
int rvk_cpu_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                          const rvk_attn *a, rv_err *err);
int rvk_cpu_attention_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                          const float *kk, const float *v, const float *out, const float *lse, const rvk_attn *a,
                          int accum, rv_err *err);
int rvk_cpu_embedding_fwd(rv_kctx *k, float *out, const float *table, const int32_t *ids, int T, int C, int V,
                          rv_err *err);
int rvk_cpu_embedding_bwd(rv_kctx *k, float *dtable, const float *dout, const int32_t *ids, int T, int C, int V,
                          rv_err *err);
int rvk_cpu_rows_scatter(rv_kctx *k, float *dst, const int32_t *idx, const float *src, int n, int C, int R,
                         rv_err *err);
int rvk_cpu_xent_fwd(rv_kctx *k, float *loss, float *lse, const float *hidden, const float *w,
                     const int32_t *targets, int T, int C, int V, rv_err *err);
int rvk_cpu_xent_bwd(rv_kctx *k, float *dhidden, float *dw, const float *hidden, const float *w,
                     const int32_t *targets, const float *lse, const float *dloss, int T, int C, int V, int accum,
                     rv_err *err);
void rvk_cpu_softmax(rv_kctx *k, float *p, const float *logits, int N, int V, float temperature);
int rvk_cpu_token_logp(rv_kctx *k, float *logp, const float *logits, const int32_t *ids, int N, int V, rv_err *err);
void rvk_cpu_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V, float temperature,
                    int top_k, float top_p);
void rvk_cpu_adamw_step(rv_kctx *k, float *param, const float *grad, float *m, float *v, size_t n,
                        const rvk_adamw_hp *hp, int flags);
void rvk_cpu_sumsq_acc(rv_kctx *k, double *acc, const float *x, size_t n);

#endif
