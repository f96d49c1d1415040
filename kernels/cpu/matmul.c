/* Linear layers on OpenBLAS sgemm (row-major). Bias gradients use the deterministic column sum.
 * Every GEMM (rvk_gemm, the linear layers, the cross-entropy's lm_head chunks) goes through
 * rvk_cpu_gemm, which reads operands inside a bound weight-shadow range from the shadow. */
#include <cblas.h>

#include "kernels/cpu/cpu.h"

/* Tiles of C for the deterministic path. The split depends only on the shape, and OpenBLAS
 * computes each tile single-threaded, so an element's arithmetic is the same for any nthreads
 * (OpenBLAS's own threading moves tile edges with the thread count, which changes last bits). */
#define GEMM_TILE 256

void rvk_cpu_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *Cm, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *c = Cm + (size_t)i * ldc + j;
                *c = beta == 0.0f ? 0.0f : beta * *c;
            }
        return;
    }
    /* weights inside a bound shadow range are read from their bf16-rounded copy */
    A = rvk_cpu_shadowed(k, A);
    B = rvk_cpu_shadowed(k, B);
    CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
    if (rvk_cpu_of(k)->o.blas_threaded) {
        rvk_cpu_blas_threads(k);
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cm, ldc);
        return;
    }
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    int by_rows = M >= N;
    int ext = by_rows ? M : N, ntiles = (ext + GEMM_TILE - 1) / GEMM_TILE;
    int nt = rvk_threads(k) < ntiles ? rvk_threads(k) : ntiles;
    /* One row (a decoding step): sgemv reads each weight once; sgemm would first pack (copy)
     * the whole of B for a single row. Same column tiles, so still thread-count independent. */
    const int gemv = M == 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int t = 0; t < ntiles; t++) {
        int o = t * GEMM_TILE, len = ext - o < GEMM_TILE ? ext - o : GEMM_TILE;
        if (gemv && !by_rows) {
            int incx = transA ? lda : 1;
            if (transB) /* B [N, K]: y = B_tile x */
                cblas_sgemv(CblasRowMajor, CblasNoTrans, len, K, alpha, B + (size_t)o * ldb, ldb, A, incx, beta,
                            Cm + o, 1);
            else /* B [K, N]: y = B_tile^T x */
                cblas_sgemv(CblasRowMajor, CblasTrans, K, len, alpha, B + o, ldb, A, incx, beta, Cm + o, 1);
        } else if (by_rows)
            cblas_sgemm(CblasRowMajor, ta, tb, len, N, K, alpha, transA ? A + o : A + (size_t)o * lda, lda,
                        B, ldb, beta, Cm + (size_t)o * ldc, ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, M, len, K, alpha, A, lda,
                        transB ? B + (size_t)o * ldb : B + o, ldb, beta, Cm + o, ldc);
    }
}

void rvk_cpu_matmul_fwd(rv_kctx *k, float *y, const float *x, const float *w, const float *b,
                    int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (b) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)N * OC > RVK_PAR_MIN)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) y[(size_t)n * OC + o] = b[o];
    }
    rvk_cpu_gemm(k, 0, 1, N, OC, C, 1.0f, x, C, w, C, b ? 1.0f : 0.0f, y, OC);
}

void rvk_cpu_matmul_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy,
                    const float *x, const float *w, int N, int C, int OC, int accum) {
    if (N <= 0) return;
    if (dx) rvk_cpu_gemm(k, 0, 0, N, C, OC, 1.0f, dy, OC, w, C, accum ? 1.0f : 0.0f, dx, C);
    if (dw) rvk_cpu_gemm(k, 1, 0, OC, C, N, 1.0f, dy, OC, x, C, 1.0f, dw, C);
    if (db) rvk_cpu_colsum_add(k, db, dy, N, OC, OC);
}

/* The GELU-fused linear ops are their definitions here (kernels.h): the unfused sequence is the
 * reference the CUDA epilogues are checked against. Without pre, h holds the GEMM then the GELU
 * in place. */
void rvk_cpu_matmul_gelu_fwd(rv_kctx *k, float *h, float *pre, const float *x, const float *w, const float *b, int N,
                             int C, int OC, rvk_gelu_kind kind) {
    if (N <= 0 || OC <= 0) return;
    float *y = pre ? pre : h;
    rvk_cpu_matmul_fwd(k, y, x, w, b, N, C, OC);
    rvk_cpu_gelu_fwd(k, h, y, (size_t)N * OC, kind);
}

void rvk_cpu_matmul_bwd_gelu(rv_kctx *k, float *dpre, float *dw, float *db, const float *dy, const float *h,
                             const float *pre, const float *w, int N, int C, int OC, rvk_gelu_kind kind) {
    if (N <= 0) return;
    rvk_cpu_matmul_bwd(k, dpre, dw, db, dy, h, w, N, C, OC, 0);
    if (dpre) rvk_cpu_gelu_bwd(k, dpre, dpre, pre, (size_t)N * C, kind, 0);
}
