/* The numeric kernel interface: the only way model code (src/model/, src/train/) touches tensor
 * numbers. Every function dispatches through the context's backend table (kernels/backend.h;
 * registry in kernels/registry.c). The CPU backend (kernels/cpu/, fp32, OpenMP + OpenBLAS sgemm)
 * is the reference; the CUDA backend (kernels/cuda/) fills the same table, so nothing here may
 * assume host memory.
 *
 * Conventions (details and tolerances in docs/kernels.md):
 * - Tensors are `float *` in the context's memory space (host for CPU, device for CUDA), taken
 *   from buffers (rvk_buf_alloc; legacy: rvk_alloc / rvk_alloc_i32), dense row-major, last
 *   dimension fastest. Host code reaches their values only by upload / download. Integer index arrays
 *   (token ids, targets, positions, sequence offsets) are int32 in the same memory space.
 * - Shapes are named N (rows), C (channels), OC (output channels), T (tokens), H (heads), D (head
 *   dim), V (vocabulary). Dimensions are int; element counts and offsets are size_t.
 * - Linear weights use the PyTorch layout W: [OC, C]; y = x W^T + b.
 * - Backward accumulate rule: PARAMETER gradients (dw, db, dgamma, dtable, ...) are always
 *   ACCUMULATED (+=), so micro-batches sum into one buffer that the caller zeroes once per step.
 *   ACTIVATION gradients (dx, dq, ...) are OVERWRITTEN when accum == 0 and ADDED when accum != 0
 *   (use accum for a tensor read by several ops, e.g. the normed input of q/k/v projections).
 *   Any gradient output may be NULL when it is not needed.
 * - Aliasing: an output may alias an input only where the comment says "in place allowed".
 * - Determinism (CPU): every reduction that spans rows is done in a fixed order that does not
 *   depend on the thread count, and sgemm runs as fixed tiles (see blas_threaded), so results are
 *   bitwise identical for any nthreads (docs/kernels.md). Not bitwise equal to a CUDA backend.
 * - Kernels with a status return (0 / -1 + rv_err) validate data-dependent indices (token ids,
 *   targets, sequence offsets); the rest trust their shape arguments (a caller bug, not input). */
#ifndef RADVLM_KERNELS_H
#define RADVLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Context and backends                                                                        */

/* Carried by every call: the backend's table of operations and its state (CPU: threads and
 * scratch; CUDA: stream and handles), and the sticky error status of queued work. Opaque; one
 * per rank (or per CUDA stream), not shared between threads. */
typedef struct rv_kctx rv_kctx;

/* Options of the CPU backend (other backends ignore them). Zero-initialised = the defaults. */
typedef struct rvk_cpu_opts {
    int nthreads;      /* OpenMP threads for CPU kernels and OpenBLAS; <= 0: omp_get_max_threads() */
    int xent_vchunk;   /* vocabulary chunk for cross-entropy; <= 0: 4096 */
    int blas_threaded; /* 0 (default): sgemm is split into fixed tiles run one per thread, so
                        * results do not depend on nthreads; 1: OpenBLAS threads each call
                        * itself (can be faster; the last bits then vary with nthreads) */
    size_t mem_limit;  /* bytes the context may hold in buffers (0 = no limit): emulates a device's
                        * memory size, so out-of-memory paths can be tested on the CPU */
    int bf16_weights;  /* 1: emulate a bf16 weight shadow (rvk_shadow_bind): GEMM operands inside
                        * the bound range read bf16-rounded values kept by rvk_shadow_refresh, so
                        * tests can check the refresh rule on the CPU. 0 (default): fp32 */
} rvk_cpu_opts;

/* Backends known to this binary, in registry order ("cpu" first). rvk_backend_built says
 * whether backend i is compiled in ("cuda": when configured with the CUDA toolkit; creating it
 * still needs a GPU, else rvk_create fails with the driver's reason). */
int rvk_backend_count(void);
const char *rvk_backend_name(int i);
int rvk_backend_built(int i);

/* Creates a context on the named backend ("cpu"; config key compute.backend). cpu may be NULL
 * (defaults). Fails with a message for an unknown or unbuilt backend. */
int rvk_create(rv_kctx **out, const char *backend, const rvk_cpu_opts *cpu, rv_err *err);
/* Frees the context (buffers allocated on it must be freed first). NULL is allowed. */
void rvk_destroy(rv_kctx *k);
const char *rvk_ctx_backend(const rv_kctx *k);
/* The backend's native queue, for interoperation: CUDA returns the context's cudaStream_t (all
 * its kernels and copies run in order on it, so e.g. NCCL collectives issued on it are ordered
 * with them without a host sync); NULL for the CPU backend. */
void *rvk_native_stream(const rv_kctx *k);
/* The CPU options of a CPU context (after defaults were applied), or -1 for another backend. */
int rvk_cpu_get_opts(const rv_kctx *k, rvk_cpu_opts *out);
/* Changes them (nthreads, xent_vchunk, blas_threaded; mem_limit; bf16_weights: 0 makes bound
 * ranges read fp32 again, 1 the copy); -1 for another backend. */
int rvk_cpu_set_opts(rv_kctx *k, const rvk_cpu_opts *o, rv_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Buffers: memory space + storage dtype + bytes, allocated and freed through the context.
 * New code allocates buffers (rvk_buf_alloc) and passes rvk_buf_f32(&b) etc. to the ops. */

typedef enum rvk_dtype {
    RVK_F32 = 0,  /* fp32 (the CPU backend's only floating storage) */
    RVK_BF16 = 1, /* bfloat16 storage (CUDA: weights with fp32 master copies in the optimizer) */
    RVK_F16 = 2,  /* IEEE half storage */
    RVK_I32 = 3,  /* int32 index arrays (ids, targets, positions, offsets) */
    RVK_F64 = 4   /* double accumulators (rvk_sumsq_acc slots) */
} rvk_dtype;

typedef enum rvk_space {
    RVK_MEM_DEVICE = 0, /* where the backend computes (CPU: host RAM; CUDA: device memory) */
    RVK_MEM_HOST = 1    /* host memory for staging transfers (CUDA: pinned); host may read it */
} rvk_space;

typedef struct rvk_buf {
    void *data;      /* in `space`: never dereference on the host unless space == RVK_MEM_HOST */
    size_t n;        /* elements */
    size_t bytes;    /* n * rvk_dtype_size(dtype) */
    rvk_dtype dtype;
    rvk_space space;
} rvk_buf;

/* bfloat16 storage element (the top 16 bits of an fp32). */
typedef uint16_t rvk_bf16;

size_t rvk_dtype_size(rvk_dtype d); /* bytes per stored element */
const char *rvk_dtype_name(rvk_dtype d);

/* Allocates n zero-filled elements of dtype in space. Out of memory, a dtype the backend does
 * not store (f16 on both backends) and size overflow are errors (-1, message with the byte
 * count); b is then all zero. Both backends store bf16 (storage only: the kernels compute on
 * f32; rvk_f32_to_bf16 / rvk_bf16_to_f32 convert). */
int rvk_buf_alloc(rv_kctx *k, rvk_buf *b, rvk_space space, rvk_dtype dtype, size_t n, rv_err *err);
void rvk_buf_free(rv_kctx *k, rvk_buf *b); /* b zeroed; a zeroed b is allowed */
/* Typed views of data (NULL when the dtype differs). Device pointers for RVK_MEM_DEVICE. */
float *rvk_buf_f32(const rvk_buf *b);
int32_t *rvk_buf_i32(const rvk_buf *b);
double *rvk_buf_f64(const rvk_buf *b);
rvk_bf16 *rvk_buf_bf16(const rvk_buf *b);

/* Queued transfers between host memory and a buffer, n elements at element offset off. The
 * host side holds float for F32/BF16 buffers (a BF16 transfer converts on the way, rounding to
 * nearest even, and completes before it returns), int32_t for I32 and double for F64. Host
 * memory must stay untouched until rvk_sync. A failing transfer (an
 * out-of-range offset, a device fault) does nothing and records the error in the context's
 * sticky status. On CPU the copy happens at once. */
void rvk_upload_async(rv_kctx *k, rvk_buf *dst, size_t off, const void *host_src, size_t n);
void rvk_download_async(rv_kctx *k, void *host_dst, const rvk_buf *src, size_t off, size_t n);
/* Waits for all queued work. Returns 0, or -1 with the FIRST error any queued operation hit
 * since the last rvk_sync that reported one (later errors are dropped: the first is the cause);
 * reporting clears the status. */
int rvk_sync(rv_kctx *k, rv_err *err);

/* Memory held by the context, for the per-rank memory report of the training phases. */
typedef struct rvk_mem_stats {
    size_t held;                /* bytes in this context's buffers now (both spaces) */
    size_t peak;                /* the most held at once since rvk_create */
    size_t dev_free, dev_total; /* the device's free / total bytes (CUDA: cudaMemGetInfo); 0 on CPU */
} rvk_mem_stats;
void rvk_mem_stats_get(rv_kctx *k, rvk_mem_stats *out);

/* Pointer-level memory (legacy; kept for the model code until it moves to an activation plan).
 * rvk_alloc / rvk_alloc_i32 return zero-filled device memory and ABORT when out of memory, like
 * rv_xmalloc; new code uses rvk_buf_alloc, which reports it as an rv_err. The copies are
 * synchronous (a failure is recorded in the sticky status). */
float *rvk_alloc(rv_kctx *k, size_t n);
int32_t *rvk_alloc_i32(rv_kctx *k, size_t n);
void rvk_free(rv_kctx *k, void *p);
void rvk_upload(rv_kctx *k, float *dst, const float *host_src, size_t n);
void rvk_download(rv_kctx *k, float *host_dst, const float *src, size_t n);
void rvk_upload_i32(rv_kctx *k, int32_t *dst, const int32_t *host_src, size_t n);
void rvk_download_i32(rv_kctx *k, int32_t *host_dst, const int32_t *src, size_t n);
void rvk_copy(rv_kctx *k, float *dst, const float *src, size_t n);   /* device to device */
void rvk_fill(rv_kctx *k, float *x, float value, size_t n);          /* x: [n] */

/* ------------------------------------------------------------------------------------------ */
/* bf16 storage: conversions and the weight shadow (mixed precision; docs/kernels.md "bf16")    */

/* dst = bf16(src) rounded to nearest, ties to even (overflow gives inf; NaN stays NaN), and
 * dst = fp32(src) (exact). src, dst: [n] backend memory. Activations kept for backward can be
 * stored as bf16 this way (half the bytes) and widened before use. */
void rvk_f32_to_bf16(rv_kctx *k, rvk_bf16 *dst, const float *src, size_t n);
void rvk_bf16_to_f32(rv_kctx *k, float *dst, const rvk_bf16 *src, size_t n);

/* The weight shadow. Declares [params, params + n) (f32 backend memory: the fp32 MASTER
 * weights the optimizer updates) as the model's parameters. A backend that computes its GEMMs
 * in bf16 (CUDA by default) keeps a bf16 copy of the range, and every GEMM operand that points
 * into the range (rvk_gemm A/B, the matmul w, the xent w) is read from that copy: the weights
 * are STORED in bf16 for the forward and backward, the fp32 masters only feed the optimizer.
 * The CPU backend keeps no copy (its GEMMs read the fp32 values) unless
 * rvk_cpu_opts.bf16_weights emulates one (tests of the refresh rule).
 * Rule: the copy changes ONLY in rvk_shadow_bind (which rounds the range's current values) and
 * rvk_shadow_refresh. Whoever writes parameters (an upload, the optimizer step, an all-gather of
 * updated shards) refreshes the written range before the next GEMM reads it. A context keeps up
 * to 4 disjoint ranges (GRPO's policy and frozen reference model share one context); binding a
 * range that starts where a bound one starts replaces it, and n == 0 just removes that range
 * (how one weights table lets go of its range). Returns -1 with err when the copy cannot be
 * allocated or 4 ranges are bound already. */
int rvk_shadow_bind(rv_kctx *k, const float *params, size_t n, rv_err *err);
/* Bytes per bound fp32 parameter that the named backend's shadow keeps, known without a context
 * (memory planning, sft.dry_run): cuda 2 (the bf16 copy) in RADVLM_CUDA_GEMM=bf16, the default;
 * 0 otherwise (cpu: its emulation is a test option, not a second copy the plan must hold). */
size_t rvk_shadow_bytes_per_param(const char *backend);
/* Re-rounds the copy of [p, p + n), which must lie inside one bound range (else the context's
 * sticky status gets an error naming both ranges); a no-op when nothing is bound. */
void rvk_shadow_refresh(rv_kctx *k, const float *p, size_t n);
void rvk_shadow_unbind(rv_kctx *k); /* frees every copy; GEMMs read fp32 again */

/* ------------------------------------------------------------------------------------------ */
/* Element-wise (x, y, a, b: [n]; in place allowed everywhere) */

void rvk_add(rv_kctx *k, float *y, const float *a, const float *b, size_t n);    /* y = a + b   */
void rvk_axpy(rv_kctx *k, float *y, float alpha, const float *x, size_t n);     /* y += a x    */
void rvk_scale(rv_kctx *k, float *x, float alpha, size_t n);                    /* x *= alpha  */

/* ------------------------------------------------------------------------------------------ */
/* Matmul                                                                                      */

typedef enum rvk_gelu_kind {
    RVK_GELU_TANH = 0, /* gelu_pytorch_tanh: SigLIP MLP */
    RVK_GELU_ERF = 1   /* exact erf GELU: the projector */
} rvk_gelu_kind;

/* General row-major sgemm: C[M,N] = alpha * op(A) op(B) + beta * C, where op(A) is [M,K]
 * (A stored [M,K] with lda, or [K,M] if transA), op(B) is [K,N] (B stored [K,N] with ldb, or
 * [N,K] if transB). */
void rvk_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *Cm, int ldc);

/* Linear layer. x: [N, C], w: [OC, C] (PyTorch Linear layout), b: [OC] or NULL, y: [N, OC].
 * y = x w^T + b. y must not alias x. */
void rvk_matmul_fwd(rv_kctx *k, float *y, const float *x, const float *w, const float *b,
                    int N, int C, int OC);
/* dy: [N, OC], x: [N, C], w: [OC, C].
 * dx: [N, C]   = (accum ? dx : 0) + dy w      (activation gradient)
 * dw: [OC, C] += dy^T x                       (parameter gradient, always accumulated)
 * db: [OC]    += sum over rows of dy          (parameter gradient, always accumulated)
 * Any of dx, dw, db may be NULL. */
void rvk_matmul_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy,
                    const float *x, const float *w, int N, int C, int OC, int accum);

/* Linear layer followed by GELU (SigLIP's fc1, the projector's first linear).
 * x: [N, C], w: [OC, C], b: [OC] or NULL; pre: [N, OC] = x w^T + b (the GELU's input, kept for the
 * backward; NULL when not needed), h: [N, OC] = gelu(pre). h must not alias x or pre.
 * Defined as rvk_matmul_fwd then rvk_gelu_fwd (the CPU does exactly that); CUDA fuses the GELU
 * into the GEMM's epilogue where cuBLASLt has one (tanh GELU, docs/kernels.md). */
void rvk_matmul_gelu_fwd(rv_kctx *k, float *h, float *pre, const float *x, const float *w, const float *b,
                         int N, int C, int OC, rvk_gelu_kind kind);
/* Backward of a linear layer whose input is h = gelu(pre) (SigLIP's fc2 after fc1's GELU).
 * dy: [N, OC], h, pre: [N, C], w: [OC, C].
 * dpre: [N, C] = (dy w) * gelu'(pre)   (OVERWRITTEN: the gradient of the GELU's input)
 * dw: [OC, C] += dy^T h, db: [OC] += sum over rows of dy (either may be NULL).
 * Defined as rvk_matmul_bwd(dx = dpre, accum 0) then rvk_gelu_bwd(dpre, dpre, pre, accum 0);
 * CUDA fuses the GELU gradient into the dx GEMM's epilogue where it can (tanh GELU). */
void rvk_matmul_bwd_gelu(rv_kctx *k, float *dpre, float *dw, float *db, const float *dy, const float *h,
                         const float *pre, const float *w, int N, int C, int OC, rvk_gelu_kind kind);

/* ------------------------------------------------------------------------------------------ */
/* Normalization                                                                               */

/* LayerNorm over the last dim (biased variance, eps inside the sqrt).
 * x: [N, C], w: [C], b: [C] or NULL, y: [N, C] (in place allowed),
 * mean, rstd: [N] saved for backward (either may be NULL when not training). */
void rvk_layernorm_fwd(rv_kctx *k, float *y, float *mean, float *rstd, const float *x,
                       const float *w, const float *b, int N, int C, float eps);
/* dy, x: [N, C], w: [C], mean, rstd: [N] from the forward.
 * dx: [N, C] (overwrite / accum; must not alias dy unless accum == 0),
 * dw, db: [C] += (parameter gradients). */
void rvk_layernorm_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy,
                       const float *x, const float *w, const float *mean, const float *rstd,
                       int N, int C, int accum);

/* RMSNorm (Qwen2): y = w * x / sqrt(mean(x^2) + eps).
 * x: [N, C], w: [C], y: [N, C] (in place allowed), rstd: [N] saved (may be NULL). */
void rvk_rmsnorm_fwd(rv_kctx *k, float *y, float *rstd, const float *x, const float *w,
                     int N, int C, float eps);
/* dy, x: [N, C], w: [C], rstd: [N]. dx: [N, C] (overwrite / accum), dw: [C] +=. */
void rvk_rmsnorm_bwd(rv_kctx *k, float *dx, float *dw, const float *dy, const float *x,
                     const float *w, const float *rstd, int N, int C, int accum);

/* ------------------------------------------------------------------------------------------ */
/* Activations (all element-wise over n; forward in place allowed)                             */

/* x, y: [n] */
void rvk_gelu_fwd(rv_kctx *k, float *y, const float *x, size_t n, rvk_gelu_kind kind);
/* dy, x: [n] (x is the forward INPUT); dx: [n] (overwrite / accum; may alias dy if !accum) */
void rvk_gelu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n,
                  rvk_gelu_kind kind, int accum);

/* silu(x) = x / (1 + exp(-x)). x, y: [n] */
void rvk_silu_fwd(rv_kctx *k, float *y, const float *x, size_t n);
void rvk_silu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, int accum);

/* SwiGLU (Qwen2 MLP): h = silu(g) * u. g, u, h: [n] (h may alias g or u). */
void rvk_swiglu_fwd(rv_kctx *k, float *h, const float *g, const float *u, size_t n);
/* dh, g, u: [n] (g, u are the forward inputs). dg, du: [n] (overwrite / accum; either may be
 * NULL). Each element is read before it is written, so outputs may alias inputs (dg != du). */
void rvk_swiglu_bwd(rv_kctx *k, float *dg, float *du, const float *dh, const float *g,
                    const float *u, size_t n, int accum);

/* ------------------------------------------------------------------------------------------ */
/* Rotary position embedding, Qwen2 convention (model.md §7): half-split pairs (i, i + D/2),
 * inv_freq[i] = 1 / theta^(2i/D) and angle = pos * inv_freq[i], all in fp32.
 * x, y: [T, H, D] (D even; in place allowed), pos: [T] position id of each token. */
void rvk_rope_fwd(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D,
                  float theta);
/* Rotation by -angle. dy: [T, H, D]; dx: [T, H, D] overwritten (in place allowed). */
void rvk_rope_bwd(rv_kctx *k, float *dx, const float *dy, const int32_t *pos, int T, int H,
                  int D, float theta);

/* ------------------------------------------------------------------------------------------ */
/* Attention: softmax(q k^T * scale [+ mask]) v per head, over packed variable-length sequences
 * (varlen, as in FlashAttention). Sequence s owns query rows [cu_q[s], cu_q[s+1]) and key rows
 * [cu_k[s], cu_k[s] + len_k(s)), len_k(s) = len_k ? len_k[s] : cu_k[s+1] - cu_k[s]. Queries never
 * see keys of another sequence. Causal masks align to the END of the keys: query i of a
 * sequence with Lq queries and Lk keys sees keys j <= i + (Lk - Lq) (training: Lq == Lk, j <= i;
 * decoding with a KV cache: the new tokens see the whole cache). GQA: query head h reads KV head
 * h / (Hq / Hkv). */
typedef struct rvk_attn {
    int nseq;
    const int32_t *cu_q;  /* [nseq + 1], cu_q[0] = 0, cu_q[nseq] = Tq, non-decreasing */
    const int32_t *cu_k;  /* [nseq + 1] or NULL (= cu_q, self-attention) */
    const int32_t *len_k; /* [nseq] or NULL (see above; lets a fixed-capacity KV cache be used) */
    int Tq, Tk;           /* rows of q/out and of k/v (Tk = Tq when cu_k is NULL) */
    int Hq, Hkv, D;       /* Hq % Hkv == 0 */
    float scale;          /* usually 1/sqrt(D) */
    int causal;           /* 1: causal (Qwen2), 0: bidirectional (SigLIP tiles) */
    /* Optional HOST copies of cu_q / cu_k / len_k with the same values (NULL: none; give all the
     * non-NULL ones or none). A device backend plans its launches on the host: with the copies it
     * skips downloading the offsets, a sync per call (CUDA); the CPU backend ignores them. */
    const int32_t *host_cu_q, *host_cu_k, *host_len_k;
} rvk_attn;

/* q: [Tq, Hq, D], k, v: [Tk, Hkv, D], out: [Tq, Hq, D], lse: [Tq, Hq] log-sum-exp of the scaled
 * scores (saved for backward; may be NULL). A query with no visible key gets out = 0 and
 * lse = -INFINITY. Returns -1 if the offsets are inconsistent with Tq/Tk. */
int rvk_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk,
                      const float *v, const rvk_attn *a, rv_err *err);
/* dout, out: [Tq, Hq, D], lse: [Tq, Hq] from the forward; q, kk, v as in the forward.
 * dq: [Tq, Hq, D], dk, dv: [Tk, Hkv, D] (overwrite / accum; any may be NULL). KV-head gradients
 * are summed over the query heads that share them, in fixed order. Recomputes the probabilities
 * from lse; never stores a [T, T] matrix. */
int rvk_attention_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout,
                      const float *q, const float *kk, const float *v, const float *out,
                      const float *lse, const rvk_attn *a, int accum, rv_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Row gather / scatter (embedding lookup, image-feature placement, packing re-indexing)       */

/* out[t, :] = table[ids[t], :]; ids[t] < 0 gives a zero row (placeholder to be overwritten).
 * table: [V, C], ids: [T], out: [T, C]. Returns -1 (naming t) if some ids[t] >= V. */
int rvk_embedding_fwd(rv_kctx *k, float *out, const float *table, const int32_t *ids, int T,
                      int C, int V, rv_err *err);
/* dtable[ids[t], :] += dout[t, :] for ids[t] >= 0 (scatter-add; deterministic: each column tile
 * is summed over t in increasing order). dout: [T, C], dtable: [V, C]. */
int rvk_embedding_bwd(rv_kctx *k, float *dtable, const float *dout, const int32_t *ids, int T,
                      int C, int V, rv_err *err);
/* dst[idx[i], :] = src[i, :] (overwrite; idx must be distinct). src: [n, C], dst: [R, C].
 * The backward of this is rvk_embedding_fwd(dsrc, ddst, idx, ...). Returns -1 if idx >= R. */
int rvk_rows_scatter(rv_kctx *k, float *dst, const int32_t *idx, const float *src, int n,
                     int C, int R, rv_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Cross-entropy over the vocabulary, fused with the lm_head matmul and chunked over V
 * (the CPU option xent_vchunk columns at a time), so a [T, V] logits matrix is never stored. Rows whose
 * target is < 0 (ignore, e.g. -100) are skipped entirely (no matmul work for them).
 * logits_t = hidden_t w^T; lse_t = log sum_v exp(logits_t,v); loss_t = lse_t - logits_t,y_t.
 * The per-token log-prob of the target (GRPO, eval scoring) is -loss_t. */

/* hidden: [T, C], w: [V, C] (lm_head, or the tied embedding table), targets: [T].
 * loss: [T] (0 for ignored rows), lse: [T] (saved for backward; 0 for ignored rows; may be NULL).
 * Returns -1 (naming t) if a target is >= V. */
int rvk_xent_fwd(rv_kctx *k, float *loss, float *lse, const float *hidden, const float *w,
                 const int32_t *targets, int T, int C, int V, rv_err *err);
/* Gradient of L = sum_t dloss_t * loss_t: dlogits_t = dloss_t * (softmax_t - onehot(y_t)).
 * dloss: [T] (e.g. 1/N_valid for a mean SFT loss; -A_t/|o| for GRPO's sum of A_t log p_t);
 * lse: [T] from rvk_xent_fwd. dhidden: [T, C] (overwrite / accum; ignored rows get 0 / are left),
 * dw: [V, C] += (may be NULL for a frozen head). Rows with target < 0 or dloss == 0 do no work. */
int rvk_xent_bwd(rv_kctx *k, float *dhidden, float *dw, const float *hidden, const float *w,
                 const int32_t *targets, const float *lse, const float *dloss, int T, int C,
                 int V, int accum, rv_err *err);

/* Row softmax for sampling: p[n, :] = softmax(logits[n, :] / temperature), temperature > 0.
 * logits, p: [N, V] (in place allowed). */
void rvk_softmax(rv_kctx *k, float *p, const float *logits, int N, int V, float temperature);
/* Log-prob of one chosen token per row at temperature 1 (generation's per-token logp, GRPO):
 * logp[n] = logits[n, ids[n]] - log sum_v exp(logits[n, v]), the sum in double over v in order
 * (row-independent, so a row's value does not depend on N). logits: [N, V], ids: [N], logp: [N],
 * all backend memory. Returns -1 (naming n) if an id is outside [0, V). */
int rvk_token_logp(rv_kctx *k, float *logp, const float *logits, const int32_t *ids, int N, int V, rv_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Optimizer                                                                                   */

/* Hyper-parameters are double, like PyTorch's Python floats: 1 - beta2 etc. are formed in double
 * and rounded to fp32 once, as torch does when it applies them to fp32 tensors. */
typedef struct rvk_adamw_hp {
    double lr, beta1, beta2, eps, weight_decay;
    int step;           /* 1-based step count for the bias corrections */
    double grad_scale;  /* gradients are multiplied by this first (clipping, 1/accum); 1 = none */
} rvk_adamw_hp;

enum { RVK_ADAMW_NO_DECAY = 1 }; /* per-tensor flag: skip weight decay (norms, biases) */

/* AdamW (decoupled decay, PyTorch torch.optim.AdamW arithmetic):
 * g = grad_scale * grad; p -= lr * wd * p (unless NO_DECAY); m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * param, grad, m, v: [n] (the caller's shard of a tensor for ZeRO-1). */
void rvk_adamw_step(rv_kctx *k, float *param, const float *grad, float *m, float *v, size_t n,
                    const rvk_adamw_hp *hp, int flags);

/* Sum of squares of x: [n], accumulated in double over fixed 4096-element blocks combined in
 * order (the same value for any thread count). A global norm is sqrt of the sum over tensors
 * (and ranks). Returns to the host, so it syncs: for many tensors use rvk_sumsq_acc. */
double rvk_sumsq(rv_kctx *k, const float *x, size_t n);
/* Device-side accumulation for a global norm without a host sync per tensor:
 * *acc += rvk_sumsq(x, n) (the same blocks and order), where acc points into an F64 device
 * buffer (one slot per group if wanted). Download the slots once at the end. */
void rvk_sumsq_acc(rv_kctx *k, double *acc, const float *x, size_t n);
/* Clip factor for a global norm: min(1, max_norm / (norm + 1e-6)); 1 when max_norm <= 0. */
float rvk_clip_scale(double norm, float max_norm);

/* ------------------------------------------------------------------------------------------ */
/* Sampling                                                                                    */

/* One token per row of logits: [N, V] (backend memory) into ids: [N] (backend memory), so only
 * the ids need to leave the device. temperature <= 0: greedy (argmax, first index on ties; u
 * unused, may be NULL). Otherwise p = softmax(logits / temperature) (as rvk_softmax), top-k
 * (top_k <= 0 or >= V disables), then top-p over the renormalised top-k (top_p outside (0, 1)
 * disables; the smallest prefix whose mass reaches top_p, at least one token), then the first
 * token, in order of decreasing p (lower id first on ties), whose cumulative probability
 * exceeds u[n] * (kept mass), all sums in double in that order. u: [N] uniform draws in [0, 1)
 * (a HOST array of per-row parameters, like the scalar arguments). Partial selection: never
 * sorts the whole vocabulary when top-k is set, and only as far as the draw needs otherwise. */
void rvk_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V, float temperature,
                int top_k, float top_p);

#ifdef __cplusplus
}
#endif

#endif
