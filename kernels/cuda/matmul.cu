/* GEMMs on cuBLASLt and the linear layer. Row-major C[M,N] = op(A) op(B) is cuBLASLt's
 * column-major C^T[N,M] = op(B)^T op(A)^T, so the operands are passed swapped (B first) with
 * their own transposes; the bias epilogue then adds a length-N (= column-major rows) vector to
 * every row of the row-major result. Arithmetic: RADVLM_CUDA_GEMM (cuda_impl.h), default bf16
 * tensor cores with fp32 accumulation and fp32 storage. Bias gradients use the deterministic
 * two-stage column sum (not the BGRADB epilogue, which overwrites where kernels.h accumulates).
 * Fallbacks, in order, when cuBLASLt has no algorithm: the bias as a separate kernel, then exact
 * fp32 compute (tiny or oddly aligned shapes).
 * Descriptors and the heuristic are made per call (tens of microseconds; caching them per shape
 * is open work). */
#include <stdint.h>

#include "kernels/cuda/cuda_impl.h"

/* Largest power of two (<= 256) dividing the address of every batch's matrix (the pointer and,
 * when batched, the stride in bytes): cuBLASLt's heuristic must only pick kernels whose alignment
 * needs these pointers meet (its default assumes 256 bytes). */
static uint32_t align_of(const void *p, long long stride, int batch) {
    uintptr_t a = (uintptr_t)p | (batch > 1 ? (uintptr_t)stride * sizeof(float) : 0);
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

/* Column-major layout of `rows` x `cols` with leading dimension ld, strided-batched. */
static cublasStatus_t layout(cublasLtMatrixLayout_t *l, int rows, int cols, int ld, int batch, long long stride) {
    cublasStatus_t st = cublasLtMatrixLayoutCreate(l, CUDA_R_32F, (uint64_t)rows, (uint64_t)cols, (int64_t)ld);
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

/* One cuBLASLt matmul; returns the status (CUBLAS_STATUS_NOT_SUPPORTED when no algorithm fits). */
static cublasStatus_t lt_matmul(rv_kctx *k, cublasComputeType_t ct, int transA, int transB, int M, int N, int K,
                                float alpha, const float *A, int lda, long long strideA, const float *B, int ldb,
                                long long strideB, float beta, float *C, int ldc, long long strideC, int batch,
                                const float *bias) {
    rvk_cuda *c = rvk_cu(k);
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t opFirst = transB ? CUBLAS_OP_T : CUBLAS_OP_N;  /* first operand: B */
    cublasOperation_t opSecond = transA ? CUBLAS_OP_T : CUBLAS_OP_N; /* second operand: A */
    cublasStatus_t st = cublasLtMatmulDescCreate(&op, ct, CUDA_R_32F);
#define LT_TRY(call) \
    if (st == CUBLAS_STATUS_SUCCESS) st = (call)
    LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opFirst, sizeof opFirst));
    LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opSecond, sizeof opSecond));
    if (bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        LT_TRY(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    }
    /* column-major shapes: op(first) is [N x K], op(second) is [K x M], C is [N x M] */
    LT_TRY(layout(&la, transB ? K : N, transB ? N : K, ldb, batch, strideB));
    LT_TRY(layout(&lb, transA ? M : K, transA ? K : M, lda, batch, strideA));
    LT_TRY(layout(&lc, N, M, ldc, batch, strideC));
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = c->lt_ws_bytes;
    uint32_t alA = align_of(B, strideB, batch), alB = align_of(A, strideA, batch), alC = align_of(C, strideC, batch);
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alA, sizeof alA));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alB, sizeof alB));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alC, sizeof alC));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alC, sizeof alC));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    LT_TRY(cublasLtMatmulAlgoGetHeuristic(c->lt, op, la, lb, lc, lc, pref, 1, &res, &found));
    if (st == CUBLAS_STATUS_SUCCESS && found < 1) st = CUBLAS_STATUS_NOT_SUPPORTED;
    LT_TRY(cublasLtMatmul(c->lt, op, &alpha, B, la, A, lb, &beta, C, lc, C, lc, &res.algo, c->lt_ws, ws, c->stream));
#undef LT_TRY
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    return st;
}

void rvk_cu_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                 long long strideA, const float *B, int ldb, long long strideB, float beta, float *C, int ldc,
                 long long strideC, int batch, const float *bias) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    cudaStream_t s = rvk_cu_stream(k);
    if (K <= 0) { /* C = beta C (+ bias) */
        for (int b = 0; b < batch; b++) {
            float *Cb = C + (size_t)b * strideC;
            scale_matrix_k<<<rvk_cu_grid((size_t)M * N), RVK_CU_THREADS, 0, s>>>(Cb, M, N, ldc, beta);
            if (bias) add_bias_k<<<rvk_cu_grid((size_t)M * N), RVK_CU_THREADS, 0, s>>>(Cb, bias, M, N, ldc);
        }
        rvk_cu_launched(k, "gemm with K = 0");
        return;
    }
    /* the bias epilogue needs a 16-byte aligned vector (parameters in an arena may be less) */
    cublasComputeType_t ct = compute_type(rvk_cu(k)->gemm);
    int fuse = bias && (uintptr_t)bias % 16 == 0;
    cublasStatus_t st = lt_matmul(k, ct, transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C,
                                  ldc, strideC, batch, fuse ? bias : NULL);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED && fuse) { /* no fused-bias kernel for this shape */
        fuse = 0;
        st = lt_matmul(k, ct, transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC,
                       batch, NULL);
    }
    /* odd shapes or alignments may have no tensor-core kernel: exact fp32 then */
    if (st == CUBLAS_STATUS_NOT_SUPPORTED && ct != CUBLAS_COMPUTE_32F)
        st = lt_matmul(k, CUBLAS_COMPUTE_32F, transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta,
                       C, ldc, strideC, batch, NULL);
    if (st == CUBLAS_STATUS_SUCCESS && bias && !fuse) {
        for (int b = 0; b < batch; b++)
            add_bias_k<<<rvk_cu_grid((size_t)M * N), RVK_CU_THREADS, 0, s>>>(C + (size_t)b * strideC, bias, M, N, ldc);
        rvk_cu_launched(k, "bias add");
    }
    if (st != CUBLAS_STATUS_SUCCESS) {
        rv_err e;
        rv_fail(&e, "kernels (cuda): cuBLASLt matmul M=%d N=%d K=%d (transA %d, transB %d, lda %d, ldb %d, ldc %d, "
                    "batch %d) failed: %s", M, N, K, transA, transB, lda, ldb, ldc, batch, cublasLtGetStatusString(st));
        rvk_record_error(k, &e);
    }
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
