/* GEMMs on cuBLASLt and the linear layer. Row-major C[M,N] = op(A) op(B) is cuBLASLt's
 * column-major C^T[N,M] = op(B)^T op(A)^T, so the operands are passed swapped (B first) with
 * their own transposes; the bias epilogue then adds a length-N (= column-major rows) vector to
 * every row of the row-major result. Arithmetic: RADVLM_CUDA_GEMM (cuda_impl.h), default bf16
 * tensor cores with fp32 accumulation and fp32 storage; a weight operand inside the bf16 weight
 * shadow (shadow.cu) is read from its bf16 copy and the GEMM runs bf16 x bf16 (gemm_operands:
 * the linear layers' forward and dx, the lm_head chunks of cross_entropy.cu, rvk_gemm; dw = dy^T x
 * has no weight operand and stays on the fp32-storage path). Bias gradients use the deterministic
 * two-stage column sum (not the BGRADB epilogue, which overwrites where kernels.h accumulates).
 * Epilogues: the bias; the tanh GELU with its pre-activation (GELU_AUX_BIAS) for
 * rvk_matmul_gelu_fwd and the GELU gradient (DGELU) for rvk_matmul_bwd_gelu's dx GEMM, where
 * plan.c's rule allows (rvk_cuda_gelu_epilogue). Fallbacks, in order, when cuBLASLt has no
 * algorithm: the GELU as a separate kernel, the bias as a separate kernel, then exact fp32
 * compute (tiny or oddly aligned shapes).
 * Descriptors and the heuristic's choice are cached per call shape (lt_key below). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_impl.h"

/* Largest power of two (<= 256) dividing the address of every batch's matrix (the pointer and,
 * when batched, the stride in bytes): cuBLASLt's heuristic must only pick kernels whose alignment
 * needs these pointers meet (its default assumes 256 bytes). */
static uint32_t align_of(const void *p, long long stride, int batch, size_t esize) {
    uintptr_t a = (uintptr_t)p | (batch > 1 ? (uintptr_t)stride * esize : 0);
    uint32_t al = 256;
    while (al > 1 && a % al) al >>= 1;
    return al;
}

static cublasComputeType_t compute_type(rvk_cu_gemm_mode m) {
    switch (m) {
    case RVK_CU_GEMM_FP32: return CUBLAS_COMPUTE_32F;
    case RVK_CU_GEMM_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    default: return CUBLAS_COMPUTE_32F_FAST_16BF;
    }
}

/* Column-major layout of `rows` x `cols` elements of type t with leading dimension ld, strided-batched. */
static cublasStatus_t layout(cublasLtMatrixLayout_t *l, cudaDataType_t t, int rows, int cols, int ld, int batch,
                             long long stride) {
    cublasStatus_t st = cublasLtMatrixLayoutCreate(l, t, (uint64_t)rows, (uint64_t)cols, (int64_t)ld);
    if (st != CUBLAS_STATUS_SUCCESS || batch <= 1) return st;
    int32_t b = batch;
    int64_t s = stride;
    st = cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b, sizeof b);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s, sizeof s);
    return st;
}

__global__ void scale_matrix_k(float *C, int M, int N, int ldc, float beta) {
    size_t n = (size_t)M * N;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        float *c = C + (e / N) * ldc + e % N;
        *c = beta == 0.0f ? 0.0f : beta * *c;
    }
}

/* y[r, c] += bias[c] for the epilogue-less fallback */
__global__ void add_bias_k(float *C, const float *bias, int M, int N, int ldc) {
    size_t n = (size_t)M * N;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        C[(e / N) * ldc + e % N] += bias[e % N];
}

/* What the epilogue does after C = alpha op(A) op(B) + beta C (row-major view): the bias [N]
 * added to every row, then per gelu (plan.h): nothing, the GELU (writing the pre-activation into
 * aux [M, N] with leading dimension ldc when asked), or the GELU gradient C *= gelu'(aux). */
typedef struct lt_epi {
    const float *bias;
    rvk_cu_gelu_epi gelu;
    const void *aux;
} lt_epi;

static cublasLtEpilogue_t lt_epilogue(const lt_epi *e) {
    switch (e->gelu) {
    case RVK_CU_EPI_GELU: return CUBLASLT_EPILOGUE_GELU;
    case RVK_CU_EPI_GELU_BIAS: return CUBLASLT_EPILOGUE_GELU_BIAS;
    case RVK_CU_EPI_GELU_AUX: return CUBLASLT_EPILOGUE_GELU_AUX;
    case RVK_CU_EPI_GELU_AUX_BIAS: return CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    case RVK_CU_EPI_DGELU: return CUBLASLT_EPILOGUE_DGELU;
    default: return e->bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    }
}

/* A cuBLASLt plan (descriptors + the heuristic's algorithm) per distinct call shape, kept in a
 * small per-context cache, so a repeated shape (every layer, every step) costs no descriptor
 * creation and no heuristic query. The key is everything the heuristic sees except pointers:
 * compute type, transposes, sizes, leading dimensions, batch and strides, the epilogue, and the
 * pointers' alignments. A shape without an algorithm is cached too (st). */
typedef struct lt_key {
    int ct, ab_bf16, transA, transB, M, N, K, lda, ldb, ldc, batch, epi; /* ab_bf16: A, B stored bf16 */
    long long sA, sB, sC;
    uint32_t alA, alB, alC, alAux;
} lt_key;

struct rvk_cu_lt_plan {
    lt_key key;
    int used;
    cublasStatus_t st;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
};

static void plan_clear(rvk_cu_lt_plan *p) {
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    memset(p, 0, sizeof *p);
}

void rvk_cu_lt_cache_free(rv_kctx *k) {
    rvk_cuda *c = rvk_cu(k);
    if (!c->lt_cache) return;
    for (int i = 0; i < RVK_CU_LT_CACHE; i++) plan_clear(&c->lt_cache[i]);
    free(c->lt_cache);
    c->lt_cache = NULL;
}

/* Builds p for p->key: descriptors, then the best algorithm for those alignments. aux: the first
 * call's aux pointer (the heuristic reads its alignment, which the key holds). */
static void plan_build(rvk_cuda *c, rvk_cu_lt_plan *p, const void *aux) {
    const lt_key *q = &p->key;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t opFirst = q->transB ? CUBLAS_OP_T : CUBLAS_OP_N;  /* first operand: B */
    cublasOperation_t opSecond = q->transA ? CUBLAS_OP_T : CUBLAS_OP_N; /* second operand: A */
    cublasStatus_t st = cublasLtMatmulDescCreate(&p->op, (cublasComputeType_t)q->ct, CUDA_R_32F);
#define LT_TRY(call) \
    if (st == CUBLAS_STATUS_SUCCESS) st = (call)
    LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opFirst, sizeof opFirst));
    LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opSecond, sizeof opSecond));
    if (q->epi != (int)CUBLASLT_EPILOGUE_DEFAULT) {
        cublasLtEpilogue_t epi = (cublasLtEpilogue_t)q->epi;
        LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    }
    if (aux) { /* the pre-activation matrix: C's column-major layout, fp32 like C */
        int64_t ld = q->ldc;
        LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux));
        LT_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
    }
    /* column-major shapes: op(first) is [N x K], op(second) is [K x M], C is [N x M] */
    cudaDataType_t ab = q->ab_bf16 ? CUDA_R_16BF : CUDA_R_32F;
    LT_TRY(layout(&p->la, ab, q->transB ? q->K : q->N, q->transB ? q->N : q->K, q->ldb, q->batch, q->sB));
    LT_TRY(layout(&p->lb, ab, q->transA ? q->M : q->K, q->transA ? q->K : q->M, q->lda, q->batch, q->sA));
    LT_TRY(layout(&p->lc, CUDA_R_32F, q->N, q->M, q->ldc, q->batch, q->sC));
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = c->lt_ws_bytes;
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &q->alB, sizeof q->alB));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &q->alA, sizeof q->alA));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &q->alC, sizeof q->alC));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &q->alC, sizeof q->alC));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    LT_TRY(cublasLtMatmulAlgoGetHeuristic(c->lt, p->op, p->la, p->lb, p->lc, p->lc, pref, 1, &res, &found));
    if (st == CUBLAS_STATUS_SUCCESS && found < 1) st = CUBLAS_STATUS_NOT_SUPPORTED;
#undef LT_TRY
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS) p->algo = res.algo;
    p->st = st;
}

/* One cuBLASLt matmul; returns the status (CUBLAS_STATUS_NOT_SUPPORTED when no algorithm fits).
 * ab_bf16: A and B are bf16 (rvk_bf16) instead of fp32; C, the bias and aux are fp32 either way. */
static cublasStatus_t lt_matmul(rv_kctx *k, cublasComputeType_t ct, int ab_bf16, int transA, int transB, int M, int N,
                                int K, float alpha, const void *A, int lda, long long strideA, const void *B, int ldb,
                                long long strideB, float beta, float *C, int ldc, long long strideC, int batch,
                                const lt_epi *e) {
    rvk_cuda *c = rvk_cu(k);
    lt_key key;
    memset(&key, 0, sizeof key); /* padding too: keys are compared with memcmp */
    key.ct = (int)ct, key.ab_bf16 = ab_bf16, key.transA = transA, key.transB = transB, key.M = M, key.N = N, key.K = K;
    key.lda = lda, key.ldb = ldb, key.ldc = ldc, key.batch = batch, key.epi = (int)lt_epilogue(e);
    key.sA = batch > 1 ? strideA : 0, key.sB = batch > 1 ? strideB : 0, key.sC = batch > 1 ? strideC : 0;
    /* alA/alB: the row-major A and B (cuBLASLt's second and first operands) */
    size_t es = ab_bf16 ? sizeof(rvk_bf16) : sizeof(float);
    key.alA = align_of(A, strideA, batch, es), key.alB = align_of(B, strideB, batch, es);
    key.alC = align_of(C, strideC, batch, sizeof(float));
    key.alAux = e->aux ? align_of(e->aux, 0, 1, sizeof(float)) : 0;
    if (!c->lt_cache) c->lt_cache = (rvk_cu_lt_plan *)rv_xcalloc(RVK_CU_LT_CACHE, sizeof *c->lt_cache);
    rvk_cu_lt_plan *p = NULL;
    for (int i = 0; i < RVK_CU_LT_CACHE && !p; i++)
        if (c->lt_cache[i].used && memcmp(&c->lt_cache[i].key, &key, sizeof key) == 0) p = &c->lt_cache[i];
    if (!p) { /* replace round-robin: a fixed rule, so which shapes are cached never changes results */
        p = &c->lt_cache[c->lt_next];
        c->lt_next = (c->lt_next + 1) % RVK_CU_LT_CACHE;
        plan_clear(p);
        p->key = key;
        p->used = 1;
        plan_build(c, p, e->aux);
    }
    if (p->st != CUBLAS_STATUS_SUCCESS) return p->st;
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    if (e->bias) st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &e->bias, sizeof e->bias);
    if (st == CUBLAS_STATUS_SUCCESS && e->aux)
        st = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &e->aux, sizeof e->aux);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmul(c->lt, p->op, &alpha, B, p->la, A, p->lb, &beta, C, p->lc, C, p->lc, &p->algo, c->lt_ws,
                            c->lt_ws_bytes, c->stream);
    return st;
}

/* Elements spanned by a stored rows x cols matrix with leading dimension ld (the gaps between rows
 * included: converting them too keeps ld, and they lie inside the operand's allocation). */
static size_t extent(int rows, int cols, int ld) { return (size_t)(rows - 1) * (size_t)ld + (size_t)cols; }

/* The operands one GEMM runs on: with a weight operand inside the bf16 shadow, both as bf16 (the
 * shadowed one from its copy, the other converted into the bf16 workspace) and cuBLASLt computes
 * bf16 x bf16 -> fp32; otherwise the fp32 tensors with the context's compute type. */
typedef struct gemm_ops {
    const void *A, *B;
    int ab_bf16;
    cublasComputeType_t ct;
    long long sA, sB;
} gemm_ops;

/* Returns -1 when the bf16 workspace could not be had (the sticky error is recorded). */
static int gemm_operands(rv_kctx *k, gemm_ops *g, int transA, int transB, int M, int N, int K, const float *A, int lda,
                         long long strideA, const float *B, int ldb, long long strideB, int batch) {
    const rvk_bf16 *a16 = NULL, *b16 = NULL;
    if (batch == 1 && rvk_cu(k)->nshadow) a16 = rvk_cu_shadowed(k, A), b16 = rvk_cu_shadowed(k, B);
    if (!a16 && !b16) {
        *g = (gemm_ops){A, B, 0, compute_type(rvk_cu(k)->gemm), strideA, strideB};
        return 0;
    }
    if (!a16 || !b16) { /* the activation operand: A stored [M, K] (or [K, M]), B [K, N] (or [N, K]) */
        size_t n = a16 ? extent(transB ? N : K, transB ? K : N, ldb) : extent(transA ? K : M, transA ? M : K, lda);
        rvk_bf16 *ws = rvk_cu_bf16_ws(k, n * sizeof(rvk_bf16));
        if (!ws) return -1;
        rvk_cuda_to_bf16(k, ws, a16 ? B : A, n);
        if (a16) b16 = ws;
        else a16 = ws;
    }
    *g = (gemm_ops){a16, b16, 1, CUBLAS_COMPUTE_32F, 0, 0};
    return 0;
}

/* What follows a GEMM besides the bias: nothing, the GELU (h = gelu(pre)), or its gradient. */
typedef enum gemm_act { ACT_NONE, ACT_GELU, ACT_DGELU } gemm_act;

/* C = alpha op(A) op(B) + beta C (+ bias), then act, on cuBLASLt; fuse: the epilogue to ask
 * cuBLASLt for the whole thing (plan.h; UNFUSED: do not try). aux: the pre-activation (ACT_GELU:
 * written when not NULL; ACT_DGELU: read). Fallbacks, in order, when cuBLASLt has no algorithm:
 * the activation as a separate kernel (bias kept in the epilogue), the bias as a separate kernel,
 * then exact fp32 compute on the fp32 tensors. An activation is only asked for with batch 1,
 * beta 0 and ldc == N (a dense C: the separate kernels run over M N elements). */
static void gemm_epi(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     long long strideA, const float *B, int ldb, long long strideB, float beta, float *C, int ldc,
                     long long strideC, int batch, const float *bias, gemm_act act, rvk_cu_gelu_epi fuse, float *aux,
                     rvk_gelu_kind kind) {
    cudaStream_t s = rvk_cu_stream(k);
    float *out = act == ACT_GELU && aux ? aux : C; /* where the GEMM (+ bias) lands unfused */
    if (K <= 0) { /* C = beta C (+ bias), then the activation below */
        for (int b = 0; b < batch; b++) {
            float *Cb = out + (size_t)b * strideC;
            scale_matrix_k<<<rvk_cu_grid((size_t)M * N), RVK_CU_THREADS, 0, s>>>(Cb, M, N, ldc, beta);
            if (bias) add_bias_k<<<rvk_cu_grid((size_t)M * N), RVK_CU_THREADS, 0, s>>>(Cb, bias, M, N, ldc);
        }
        rvk_cu_launched(k, "gemm with K = 0");
    }
    gemm_ops g;
    if (K > 0 && gemm_operands(k, &g, transA, transB, M, N, K, A, lda, strideA, B, ldb, strideB, batch) != 0) return;
    cublasStatus_t st = K > 0 ? CUBLAS_STATUS_NOT_SUPPORTED : CUBLAS_STATUS_SUCCESS;
    int fused_act = 0, fused_bias = K <= 0;
    if (K > 0 && act != ACT_NONE && fuse != RVK_CU_EPI_UNFUSED) { /* the whole epilogue */
        const lt_epi e = {bias, fuse, aux};
        st = lt_matmul(k, g.ct, g.ab_bf16, transA, transB, M, N, K, alpha, g.A, lda, g.sA, g.B, ldb, g.sB, beta, C, ldc,
                       strideC, batch, &e);
        fused_act = fused_bias = st == CUBLAS_STATUS_SUCCESS;
    }
    const lt_epi none = {NULL, RVK_CU_EPI_UNFUSED, NULL};
    /* the bias epilogue needs a 16-byte aligned vector (parameters in an arena may be less) */
    if (st == CUBLAS_STATUS_NOT_SUPPORTED && bias && (uintptr_t)bias % 16 == 0) {
        const lt_epi e = {bias, RVK_CU_EPI_UNFUSED, NULL};
        st = lt_matmul(k, g.ct, g.ab_bf16, transA, transB, M, N, K, alpha, g.A, lda, g.sA, g.B, ldb, g.sB, beta, out,
                       ldc, strideC, batch, &e);
        fused_bias = st == CUBLAS_STATUS_SUCCESS;
    }
    if (st == CUBLAS_STATUS_NOT_SUPPORTED)
        st = lt_matmul(k, g.ct, g.ab_bf16, transA, transB, M, N, K, alpha, g.A, lda, g.sA, g.B, ldb, g.sB, beta, out,
                       ldc, strideC, batch, &none);
    /* odd shapes or alignments may have no tensor-core kernel: exact fp32 on the fp32 tensors */
    if (st == CUBLAS_STATUS_NOT_SUPPORTED && (g.ab_bf16 || g.ct != CUBLAS_COMPUTE_32F))
        st = lt_matmul(k, CUBLAS_COMPUTE_32F, 0, transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta,
                       out, ldc, strideC, batch, &none);
    if (st != CUBLAS_STATUS_SUCCESS) {
        rv_err err;
        rv_fail(&err, "kernels (cuda): cuBLASLt matmul M=%d N=%d K=%d (transA %d, transB %d, lda %d, ldb %d, ldc %d, "
                      "batch %d%s) failed: %s", M, N, K, transA, transB, lda, ldb, ldc, batch,
                g.ab_bf16 ? ", weights from the bf16 copy" : "", cublasLtGetStatusString(st));
        rvk_record_error(k, &err);
        return;
    }
    if (bias && !fused_bias) {
        for (int b = 0; b < batch; b++)
            add_bias_k<<<rvk_cu_grid((size_t)M * N), RVK_CU_THREADS, 0, s>>>(out + (size_t)b * strideC, bias, M, N,
                                                                              ldc);
        rvk_cu_launched(k, "bias add");
    }
    if (fused_act || act == ACT_NONE) return;
    if (act == ACT_GELU) rvk_cuda_gelu_fwd(k, C, out, (size_t)M * N, kind);
    else rvk_cuda_gelu_bwd(k, C, C, aux, (size_t)M * N, kind, 0);
}

void rvk_cu_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                 long long strideA, const float *B, int ldb, long long strideB, float beta, float *C, int ldc,
                 long long strideC, int batch, const float *bias) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    gemm_epi(k, transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC, batch, bias,
             ACT_NONE, RVK_CU_EPI_UNFUSED, NULL, RVK_GELU_TANH);
}

/* ---- deterministic column sum: stage 1 sums a chunk of rows per (column, chunk) in row order,
 * stage 2 adds the chunk sums in chunk order to out ---- */

#define COLSUM_MIN_ROWS 32
#define COLSUM_MAX_CHUNKS 1024

__global__ void colsum_chunks_k(float *part, const float *in, int N, int C, int ld, int rows) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, ch = blockIdx.y;
    if (c >= C) return;
    int r0 = ch * rows, r1 = r0 + rows < N ? r0 + rows : N;
    float s = 0.0f;
    for (int r = r0; r < r1; r++) s += in[(size_t)r * ld + c];
    part[(size_t)ch * C + c] = s;
}

__global__ void colsum_finish_k(float *out, const float *part, int C, int nch) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int ch = 0; ch < nch; ch++) s += part[(size_t)ch * C + c];
    out[c] += s;
}

void rvk_cu_colsum_add(rv_kctx *k, float *out, const float *in, int N, int C, int ld) {
    if (N <= 0 || C <= 0) return;
    int rows = rvk_cuda_colsum_rows(N, COLSUM_MIN_ROWS, COLSUM_MAX_CHUNKS), nch = (N + rows - 1) / rows;
    float *part = (float *)rvk_cu_scratch(k, (size_t)nch * C * sizeof(float));
    if (!part) return;
    cudaStream_t s = rvk_cu_stream(k);
    unsigned gx = (unsigned)((C + RVK_CU_THREADS - 1) / RVK_CU_THREADS);
    colsum_chunks_k<<<dim3(gx, (unsigned)nch), RVK_CU_THREADS, 0, s>>>(part, in, N, C, ld, rows);
    colsum_finish_k<<<gx, RVK_CU_THREADS, 0, s>>>(out, part, C, nch);
    rvk_cu_launched(k, "column sum");
}

/* ---- the public operations ---- */

void rvk_cuda_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *Cm, int ldc) {
    rvk_cu_gemm(k, transA, transB, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, Cm, ldc, 0, 1, NULL);
}

/* y [N, OC] = x [N, C] w^T + b: w is [OC, C], i.e. op(B) = w^T (transB) */
void rvk_cuda_matmul_fwd(rv_kctx *k, float *y, const float *x, const float *w, const float *b, int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    rvk_cu_gemm(k, 0, 1, N, OC, C, 1.0f, x, C, 0, w, C, 0, 0.0f, y, OC, 0, 1, b);
}

void rvk_cuda_matmul_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, int N, int C, int OC, int accum) {
    if (N <= 0) return;
    if (dx) rvk_cu_gemm(k, 0, 0, N, C, OC, 1.0f, dy, OC, 0, w, C, 0, accum ? 1.0f : 0.0f, dx, C, 0, 1, NULL);
    if (dw) rvk_cu_gemm(k, 1, 0, OC, C, N, 1.0f, dy, OC, 0, x, C, 0, 1.0f, dw, C, 0, 1, NULL);
    if (db) rvk_cu_colsum_add(k, db, dy, N, OC, OC);
}

/* h [N, OC] = gelu(pre), pre = x w^T + b (the GELU in the epilogue where plan.h allows) */
void rvk_cuda_matmul_gelu_fwd(rv_kctx *k, float *h, float *pre, const float *x, const float *w, const float *b, int N,
                              int C, int OC, rvk_gelu_kind kind) {
    if (N <= 0 || OC <= 0) return;
    rvk_cu_gelu_epi fuse = rvk_cuda_gelu_epilogue(0, kind == RVK_GELU_ERF, OC, (uintptr_t)pre, (uintptr_t)b);
    gemm_epi(k, 0, 1, N, OC, C, 1.0f, x, C, 0, w, C, 0, 0.0f, h, OC, 0, 1, b, ACT_GELU, fuse, pre, kind);
}

/* dpre [N, C] = (dy w) * gelu'(pre): the GELU gradient in the dx GEMM's epilogue where it fuses */
void rvk_cuda_matmul_bwd_gelu(rv_kctx *k, float *dpre, float *dw, float *db, const float *dy, const float *h,
                              const float *pre, const float *w, int N, int C, int OC, rvk_gelu_kind kind) {
    if (N <= 0) return;
    if (dpre && C > 0) {
        rvk_cu_gelu_epi fuse = rvk_cuda_gelu_epilogue(1, kind == RVK_GELU_ERF, C, (uintptr_t)pre, 0);
        gemm_epi(k, 0, 0, N, C, OC, 1.0f, dy, OC, 0, w, C, 0, 0.0f, dpre, C, 0, 1, NULL, ACT_DGELU, fuse,
                 (float *)pre, kind);
    }
    rvk_cuda_matmul_bwd(k, NULL, dw, db, dy, h, w, N, C, OC, 0);
}
