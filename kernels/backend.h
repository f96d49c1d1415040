/* The backend interface behind kernels.h (private to kernels/): a table of operations each
 * backend fills, and the context that carries it. kernels/dispatch.c implements the public
 * functions by calling through the table; a backend never sees another backend's state, and no
 * kernel asks which backend it runs on. Adding a backend = one rvk_backend_ops table, one create
 * function, one row in kernels/registry.c. */
#ifndef RADVLM_KERNELS_BACKEND_H
#define RADVLM_KERNELS_BACKEND_H

#include "kernels/kernels.h"

#ifdef __cplusplus /* the CUDA backend's .cu files are C++ */
extern "C" {
#endif

typedef enum rvk_copy_kind {
    RVK_H2D = 0, /* host memory -> backend memory */
    RVK_D2H = 1, /* backend memory -> host memory */
    RVK_D2D = 2, /* within the backend */
    RVK_H2H = 3  /* host memory <-> an RVK_MEM_HOST buffer (staging) */
} rvk_copy_kind;

typedef struct rvk_backend_ops {
    const char *name;
    void (*destroy)(rv_kctx *k); /* frees k->impl */

    /* Memory. alloc returns zero-filled memory of `bytes` (> 0) in space, or NULL with err
     * filled (out of memory: the message names the byte count). stores(dtype): 1 if buffers of
     * that dtype can be allocated. */
    void *(*alloc)(rv_kctx *k, rvk_space space, size_t bytes, rv_err *err);
    void (*free)(rv_kctx *k, rvk_space space, void *p);
    int (*stores)(const rv_kctx *k, rvk_dtype dtype);
    /* Byte copy; async = 1 may return before the copy completes (host memory must stay valid
     * until sync). Returns -1 with err when the copy cannot be issued. */
    int (*copy)(rv_kctx *k, void *dst, const void *src, size_t bytes, rvk_copy_kind kind, int async, rv_err *err);
    /* Waits for queued work; -1 with err if it failed. */
    int (*sync)(rv_kctx *k, rv_err *err);

    /* Kernels: the same arguments and contracts as the public functions in kernels.h. */
    void (*fill)(rv_kctx *k, float *x, float value, size_t n);
    void (*add)(rv_kctx *k, float *y, const float *a, const float *b, size_t n);
    void (*axpy)(rv_kctx *k, float *y, float alpha, const float *x, size_t n);
    void (*scale)(rv_kctx *k, float *x, float alpha, size_t n);
    void (*gemm)(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *Cm, int ldc);
    void (*matmul_fwd)(rv_kctx *k, float *y, const float *x, const float *w, const float *b, int N, int C, int OC);
    void (*matmul_bwd)(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                       int N, int C, int OC, int accum);
    void (*matmul_gelu_fwd)(rv_kctx *k, float *h, float *pre, const float *x, const float *w, const float *b, int N,
                            int C, int OC, rvk_gelu_kind kind);
    void (*matmul_bwd_gelu)(rv_kctx *k, float *dpre, float *dw, float *db, const float *dy, const float *h,
                            const float *pre, const float *w, int N, int C, int OC, rvk_gelu_kind kind);
    void (*layernorm_fwd)(rv_kctx *k, float *y, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int N, int C, float eps);
    void (*layernorm_bwd)(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const float *mean, const float *rstd, int N, int C, int accum);
    void (*rmsnorm_fwd)(rv_kctx *k, float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
    void (*rmsnorm_bwd)(rv_kctx *k, float *dx, float *dw, const float *dy, const float *x, const float *w,
                        const float *rstd, int N, int C, int accum);
    void (*gelu_fwd)(rv_kctx *k, float *y, const float *x, size_t n, rvk_gelu_kind kind);
    void (*gelu_bwd)(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, rvk_gelu_kind kind, int accum);
    void (*silu_fwd)(rv_kctx *k, float *y, const float *x, size_t n);
    void (*silu_bwd)(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, int accum);
    void (*swiglu_fwd)(rv_kctx *k, float *h, const float *g, const float *u, size_t n);
    void (*swiglu_bwd)(rv_kctx *k, float *dg, float *du, const float *dh, const float *g, const float *u, size_t n,
                       int accum);
    void (*rope_fwd)(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D, float theta);
    void (*rope_bwd)(rv_kctx *k, float *dx, const float *dy, const int32_t *pos, int T, int H, int D, float theta);
    int (*attention_fwd)(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                         const rvk_attn *a, rv_err *err);
    int (*attention_bwd)(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                         const float *kk, const float *v, const float *out, const float *lse, const rvk_attn *a,
                         int accum, rv_err *err);
    int (*embedding_fwd)(rv_kctx *k, float *out, const float *table, const int32_t *ids, int T, int C, int V,
                         rv_err *err);
    int (*embedding_bwd)(rv_kctx *k, float *dtable, const float *dout, const int32_t *ids, int T, int C, int V,
                         rv_err *err);
    int (*rows_scatter)(rv_kctx *k, float *dst, const int32_t *idx, const float *src, int n, int C, int R,
                        rv_err *err);
    int (*xent_fwd)(rv_kctx *k, float *loss, float *lse, const float *hidden, const float *w, const int32_t *targets,
                    int T, int C, int V, rv_err *err);
    int (*xent_bwd)(rv_kctx *k, float *dhidden, float *dw, const float *hidden, const float *w,
                    const int32_t *targets, const float *lse, const float *dloss, int T, int C, int V, int accum,
                    rv_err *err);
    void (*softmax)(rv_kctx *k, float *p, const float *logits, int N, int V, float temperature);
    int (*token_logp)(rv_kctx *k, float *logp, const float *logits, const int32_t *ids, int N, int V, rv_err *err);
    void (*adamw_step)(rv_kctx *k, float *param, const float *grad, float *m, float *v, size_t n,
                       const rvk_adamw_hp *hp, int flags);
    void (*sumsq_acc)(rv_kctx *k, double *acc, const float *x, size_t n);
    void (*sample)(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V, float temperature,
                   int top_k, float top_p);
    /* bf16 conversions (rvk_f32_to_bf16 / rvk_bf16_to_f32). */
    void (*to_bf16)(rv_kctx *k, rvk_bf16 *dst, const float *src, size_t n);
    void (*from_bf16)(rv_kctx *k, float *dst, const rvk_bf16 *src, size_t n);
    /* Optional (NULL: none): the native stream behind rvk_native_stream. */
    void *(*native_stream)(const rv_kctx *k);
    /* Optional (NULL: the backend keeps no weight shadow; bind/refresh/unbind are no-ops). */
    int (*shadow_bind)(rv_kctx *k, const float *params, size_t n, rv_err *err);
    void (*shadow_refresh)(rv_kctx *k, const float *p, size_t n);
    void (*shadow_unbind)(rv_kctx *k);
    /* Optional (NULL: zeros): device free/total bytes for rvk_mem_stats. */
    void (*device_mem)(rv_kctx *k, size_t *free_bytes, size_t *total_bytes);
} rvk_backend_ops;

struct rv_kctx {
    const rvk_backend_ops *ops;
    void *impl;        /* the backend's own state (CPU: struct rvk_cpu in kernels/cpu/cpu.h) */
    int failed;        /* sticky status: the first error of queued work, until rvk_sync reports it */
    rv_err status;
    double *slot;      /* [1] F64 device scalar for rvk_sumsq */
    size_t mem_held, mem_peak; /* bytes in buffers (rvk_buf_alloc / rvk_alloc), for rvk_mem_stats */
};

/* Records err as the context's status unless an earlier error is still unreported. */
void rvk_record_error(rv_kctx *k, const rv_err *err);

/* Backend constructors (one per built backend): fill k->ops and k->impl, or fail. */
int rvk_cpu_create(rv_kctx *k, const rvk_cpu_opts *opts, rv_err *err);
#ifdef RADVLM_HAVE_CUDA
/* kernels/cuda/context.cu: picks the rank's GPU; fails with the driver's reason when there is none */
int rvk_cuda_create(rv_kctx *k, const rvk_cpu_opts *opts, rv_err *err);
#endif

#ifdef __cplusplus
}
#endif

#endif
