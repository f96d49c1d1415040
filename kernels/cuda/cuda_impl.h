/* The CUDA backend's private interface (C++ / CUDA only, included by the .cu files of kernels/cuda): its
 * state, the helpers its kernels share (error recording, scratch, index downloads, launch
 * shapes, block reductions, the row-major cuBLASLt GEMM) and the functions its table
 * (context.cu) points at. Contracts of the kernels: kernels/kernels.h. */
#ifndef RADVLM_KERNELS_CUDA_IMPL_H
#define RADVLM_KERNELS_CUDA_IMPL_H

#include <cublasLt.h>
#include <cuda_runtime.h>

extern "C" {
#include "core/error.h" /* before kernels.h, so rv_fail gets C linkage */
}
#include "kernels/backend.h"
#include "kernels/cuda/plan.h"
#include "kernels/sample_rule.h"

/* Threads per block of element-wise and row kernels; grid-stride loops cap the grid. */
#define RVK_CU_THREADS 256
#define RVK_CU_MAX_BLOCKS 65535u
/* Device scratch the chunked kernels (attention scores, cross-entropy logits) plan for. */
#define RVK_CU_CHUNK_FLOATS ((size_t)64 << 20) /* 256 MiB per score/logit matrix */

/* GEMM arithmetic on fp32 tensors (env RADVLM_CUDA_GEMM, read once per context). */
typedef enum rvk_cu_gemm_mode { /* the values of rvk_cuda_gemm_mode_parse (plan.h) */
    RVK_CU_GEMM_BF16 = 0, /* default: tensor cores with bf16 inputs, fp32 accumulate and output */
    RVK_CU_GEMM_TF32 = 1, /* tensor cores with tf32 inputs */
    RVK_CU_GEMM_FP32 = 2  /* exact fp32 (CUDA cores): for parity checks against the CPU backend */
} rvk_cu_gemm_mode;

/* Attention forward path (env RADVLM_CUDA_ATTN, read once per context). */
typedef enum rvk_cu_attn_mode {
    RVK_CU_ATTN_AUTO = 0,    /* row-wise kernel for decoding (few query rows), GEMMs otherwise
                                (flash instead of the GEMMs once RVK_CU_FLASH_IN_AUTO is 1) */
    RVK_CU_ATTN_GEMM = 1,    /* always cuBLASLt QK^T + softmax + PV */
    RVK_CU_ATTN_ROWWISE = 2, /* always the row-wise online-softmax kernel (forward; backward: GEMMs) */
    RVK_CU_ATTN_FLASH = 3    /* always the fused FlashAttention-2-style kernels (head dim <= 128,
                                else the GEMM path) */
} rvk_cu_attn_mode;

/* Largest head dimension of the fused attention kernels (attention_flash.cu); larger ones take
 * the GEMM path. */
#define RVK_CU_FLASH_MAX_D 128
/* Whether RADVLM_CUDA_ATTN=auto (the default) trains with the fused kernels instead of the GEMM
 * path. 0 until a GPU run of bench_gpu --attention measures flash faster on the 2x2048 causal
 * and SigLIP shapes (docs/performance.md, "GPU"): that measurement flips it here. */
#define RVK_CU_FLASH_IN_AUTO 0

/* cuBLASLt plans cached per call shape (matmul.cu) */
#define RVK_CU_LT_CACHE 256
typedef struct rvk_cu_lt_plan rvk_cu_lt_plan;

/* CUDA backend state (rv_kctx.impl). */
typedef struct rvk_cuda {
    int device;
    cudaStream_t stream;      /* every kernel, copy and cuBLASLt call of the context runs here */
    cublasLtHandle_t lt;
    void *lt_ws;              /* cuBLASLt workspace */
    size_t lt_ws_bytes;
    rvk_cu_lt_plan *lt_cache; /* [RVK_CU_LT_CACHE], allocated on first use */
    int lt_next;              /* next cache slot to replace */
    rvk_cu_gemm_mode gemm;
    rvk_cu_attn_mode attn;
    void *scratch;            /* device scratch, grown stream-ordered; valid until the next request */
    size_t scratch_bytes;
    float *rope_inv;          /* [D/2] inverse frequencies of the last (theta, D) used */
    int rope_D;
    float rope_theta;
    /* -- the bf16 weight shadow (shadow.cu) -- */
    struct rvk_cu_shadow *shadow; /* [RVK_CU_SHADOW_RANGES] bound ranges, allocated on first bind */
    int nshadow;
    void *bf16_ws;            /* bf16 copy of a GEMM's activation operand (grown stream-ordered) */
    size_t bf16_ws_bytes;
    rvk_sample_tally sample_tally; /* temperature-sampling rows and their host fallbacks (sample.cu) */
} rvk_cuda;

static inline rvk_cuda *rvk_cu(const rv_kctx *k) { return (rvk_cuda *)k->impl; }
static inline cudaStream_t rvk_cu_stream(const rv_kctx *k) { return rvk_cu(k)->stream; }

/* Records a failed CUDA call (or the last launch error, when e == cudaSuccess it checks
 * cudaGetLastError) in the sticky status, naming `what`. Returns 0 if all is well. */
int rvk_cu_check(rv_kctx *k, cudaError_t e, const char *what);
static inline int rvk_cu_launched(rv_kctx *k, const char *what) { return rvk_cu_check(k, cudaGetLastError(), what); }
/* Device scratch of at least `bytes` (stream-ordered; NULL + sticky error on failure). */
void *rvk_cu_scratch(rv_kctx *k, size_t bytes);
/* Copies n device int32/float values to host memory and waits for them (and for all queued
 * work): how index arrays are validated and planned on the host. -1 with err on failure. */
int rvk_cu_fetch(rv_kctx *k, void *host, const void *dev, size_t bytes, rv_err *err);
/* Queued upload of host memory (pageable: the runtime stages it before returning, so host may
 * be freed at once). Failure goes to the sticky status. */
void rvk_cu_put(rv_kctx *k, void *dev, const void *host, size_t bytes);
static inline unsigned rvk_cu_grid(size_t n) { return rvk_cuda_blocks(n, RVK_CU_THREADS, RVK_CU_MAX_BLOCKS); }

/* Row-major GEMM on cuBLASLt, optionally strided-batched: for b < batch,
 * C_b[M,N] = alpha op(A_b) op(B_b) + beta C_b (+ bias[N] broadcast over rows, when bias != NULL),
 * X_b = X + b * strideX (elements). Layouts as rvk_gemm. Errors go to the sticky status. */
void rvk_cu_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                 long long strideA, const float *B, int ldb, long long strideB, float beta, float *C, int ldc,
                 long long strideC, int batch, const float *bias);

/* Frees the cached cuBLASLt plans (context destruction). */
void rvk_cu_lt_cache_free(rv_kctx *k);

/* out[c] += sum over rows r < N of in[r * ld + c], c < C: deterministic two-stage sum (row
 * chunks of rvk_cuda_colsum_rows(N), then the chunks in order). */
void rvk_cu_colsum_add(rv_kctx *k, float *out, const float *in, int N, int C, int ld);

/* ---- the bf16 weight shadow (shadow.cu; kernels.h rvk_shadow_*) ----
 * Kept only in RADVLM_CUDA_GEMM=bf16 (the default): a bound fp32 parameter range gets a bf16
 * copy, refreshed by the conversion kernel; GEMMs whose weight operand lies in a range run
 * cuBLASLt with both operands bf16 (the activation converted into bf16_ws first). tf32 / fp32
 * keep no copy: those modes exist to compare against fp32. */
#define RVK_CU_SHADOW_RANGES 4
typedef struct rvk_cu_shadow {
    const float *lo; /* NULL: slot free */
    size_t n;
    rvk_bf16 *copy;  /* [n] device */
} rvk_cu_shadow;
/* The element of a bound range's bf16 copy that p maps to, or NULL when p is in no range. */
const rvk_bf16 *rvk_cu_shadowed(const rv_kctx *k, const float *p);
/* Device workspace for a bf16 operand of at least `bytes` (stream-ordered; NULL + sticky error). */
rvk_bf16 *rvk_cu_bf16_ws(rv_kctx *k, size_t bytes);
int rvk_cuda_shadow_bind(rv_kctx *k, const float *params, size_t n, rv_err *err);
void rvk_cuda_shadow_refresh(rv_kctx *k, const float *p, size_t n);
void rvk_cuda_shadow_unbind(rv_kctx *k);
/* Frees the copies and the workspace (context destruction, before the stream goes). */
void rvk_cu_shadow_release(rv_kctx *k);

/* ---- device helpers ---- */

/* Sum over the block (blockDim.x a multiple of 32, <= 1024), a fixed tree: deterministic. All
 * threads get the result. sh: __shared__ T[32]. */
template <typename T> __device__ inline T rvk_block_sum(T v, T *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads(); /* sh may still be read by a previous reduction */
    if (l == 0) sh[w] = v;
    __syncthreads();
    v = l < nw ? sh[l] : T(0);
    if (w == 0)
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) sh[0] = v;
    __syncthreads();
    return sh[0];
}

__device__ inline float rvk_block_max(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (l == 0) sh[w] = v;
    __syncthreads();
    v = l < nw ? sh[l] : -INFINITY;
    if (w == 0)
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (threadIdx.x == 0) sh[0] = v;
    __syncthreads();
    return sh[0];
}

/* ---- the kernels (contracts in kernels.h) ---- */
void rvk_cuda_fill(rv_kctx *k, float *x, float value, size_t n);
void rvk_cuda_to_bf16(rv_kctx *k, rvk_bf16 *dst, const float *src, size_t n);
void rvk_cuda_from_bf16(rv_kctx *k, float *dst, const rvk_bf16 *src, size_t n);
void rvk_cuda_add(rv_kctx *k, float *y, const float *a, const float *b, size_t n);
void rvk_cuda_axpy(rv_kctx *k, float *y, float alpha, const float *x, size_t n);
void rvk_cuda_scale(rv_kctx *k, float *x, float alpha, size_t n);
void rvk_cuda_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *Cm, int ldc);
void rvk_cuda_matmul_fwd(rv_kctx *k, float *y, const float *x, const float *w, const float *b, int N, int C, int OC);
void rvk_cuda_matmul_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, int N, int C, int OC, int accum);
void rvk_cuda_matmul_gelu_fwd(rv_kctx *k, float *h, float *pre, const float *x, const float *w, const float *b, int N,
                              int C, int OC, rvk_gelu_kind kind);
void rvk_cuda_matmul_bwd_gelu(rv_kctx *k, float *dpre, float *dw, float *db, const float *dy, const float *h,
                              const float *pre, const float *w, int N, int C, int OC, rvk_gelu_kind kind);
void rvk_cuda_layernorm_fwd(rv_kctx *k, float *y, float *mean, float *rstd, const float *x, const float *w,
                            const float *b, int N, int C, float eps);
void rvk_cuda_layernorm_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const float *mean, const float *rstd, int N, int C, int accum);
void rvk_cuda_rmsnorm_fwd(rv_kctx *k, float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
void rvk_cuda_rmsnorm_bwd(rv_kctx *k, float *dx, float *dw, const float *dy, const float *x, const float *w,
                          const float *rstd, int N, int C, int accum);
void rvk_cuda_gelu_fwd(rv_kctx *k, float *y, const float *x, size_t n, rvk_gelu_kind kind);
void rvk_cuda_gelu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, rvk_gelu_kind kind,
                       int accum);
void rvk_cuda_silu_fwd(rv_kctx *k, float *y, const float *x, size_t n);
void rvk_cuda_silu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, int accum);
void rvk_cuda_swiglu_fwd(rv_kctx *k, float *h, const float *g, const float *u, size_t n);
void rvk_cuda_swiglu_bwd(rv_kctx *k, float *dg, float *du, const float *dh, const float *g, const float *u,
                         size_t n, int accum);
void rvk_cuda_rope_fwd(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D, float theta);
void rvk_cuda_rope_bwd(rv_kctx *k, float *dx, const float *dy, const int32_t *pos, int T, int H, int D, float theta);
int rvk_cuda_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                           const rvk_attn *a, rv_err *err);
int rvk_cuda_attention_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *kk, const float *v, const float *out, const float *lse, const rvk_attn *a,
                           int accum, rv_err *err);
/* The fused kernels (attention_flash.cu) over the sequence table seq [a->nseq] that
 * attention.cu's host validation produced; a->D <= RVK_CU_FLASH_MAX_D. Same contracts as
 * rvk_attention_fwd/bwd; errors go to the sticky status. bf16: inner products on bf16 tensor
 * cores (WMMA, fp32 accumulation; RADVLM_CUDA_GEMM=bf16), else fp32 FMA throughout. */
int rvk_cuda_flash_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                       const rvk_attn *a, const rvk_attn_seq *seq, int bf16);
int rvk_cuda_flash_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                       const float *kk, const float *v, const float *out, const float *lse, const rvk_attn *a,
                       const rvk_attn_seq *seq, int accum, int bf16);
int rvk_cuda_embedding_fwd(rv_kctx *k, float *out, const float *table, const int32_t *ids, int T, int C, int V,
                           rv_err *err);
int rvk_cuda_embedding_bwd(rv_kctx *k, float *dtable, const float *dout, const int32_t *ids, int T, int C, int V,
                           rv_err *err);
int rvk_cuda_rows_scatter(rv_kctx *k, float *dst, const int32_t *idx, const float *src, int n, int C, int R,
                          rv_err *err);
int rvk_cuda_xent_fwd(rv_kctx *k, float *loss, float *lse, const float *hidden, const float *w,
                      const int32_t *targets, int T, int C, int V, rv_err *err);
int rvk_cuda_xent_bwd(rv_kctx *k, float *dhidden, float *dw, const float *hidden, const float *w,
                      const int32_t *targets, const float *lse, const float *dloss, int T, int C, int V, int accum,
                      rv_err *err);
void rvk_cuda_softmax(rv_kctx *k, float *p, const float *logits, int N, int V, float temperature);
int rvk_cuda_token_logp(rv_kctx *k, float *logp, const float *logits, const int32_t *ids, int N, int V,
                        rv_err *err);
void rvk_cuda_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V,
                     float temperature, int top_k, float top_p);
void rvk_cuda_adamw_step(rv_kctx *k, float *param, const float *grad, float *m, float *v, size_t n,
                         const rvk_adamw_hp *hp, int flags);
void rvk_cuda_sumsq_acc(rv_kctx *k, double *acc, const float *x, size_t n);

#endif
