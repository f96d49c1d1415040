/* CPU backend: context, scratch memory and the memory-space functions (plain host memory). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "kernels/cpu/cpu.h"

int rvk_init(rv_kctx *k, rvk_backend backend, int nthreads, rv_err *err) {
    memset(k, 0, sizeof *k);
    if (backend != RVK_BACKEND_CPU)
        return rv_fail(err, "kernels: backend %d is not built into this binary; use the CPU backend "
                            "(compute.backend=cpu) or rebuild with -DRADVLM_CUDA=ON", (int)backend);
    k->backend = backend;
    k->nthreads = nthreads > 0 ? nthreads : omp_get_max_threads();
    if (k->nthreads < 1) k->nthreads = 1;
    k->xent_vchunk = 4096;
    return 0;
}

void rvk_free_ctx(rv_kctx *k) {
    if (!k) return;
    free(k->ws);
    k->ws = NULL;
    k->ws_bytes = 0;
}

void *rvk_scratch(rv_kctx *k, size_t bytes) {
    if (bytes > k->ws_bytes) {
        free(k->ws);
        size_t want = bytes + bytes / 4 + 64;
        want = (want + 63) / 64 * 64;
        k->ws = aligned_alloc(64, want);
        if (!k->ws) {
            /* mirror rv_xmalloc: out of memory is not an input error */
            k->ws = rv_xmalloc(want);
        }
        k->ws_bytes = want;
    }
    return k->ws;
}

void rvk_sync(rv_kctx *k) { (void)k; }

float *rvk_alloc(rv_kctx *k, size_t n) {
    (void)k;
    return rv_xcalloc(n ? n : 1, sizeof(float));
}

int32_t *rvk_alloc_i32(rv_kctx *k, size_t n) {
    (void)k;
    return rv_xcalloc(n ? n : 1, sizeof(int32_t));
}

void rvk_free(rv_kctx *k, void *p) {
    (void)k;
    free(p);
}

void rvk_upload(rv_kctx *k, float *dst, const float *src, size_t n) {
    (void)k;
    if (n) memmove(dst, src, n * sizeof(float));
}

void rvk_download(rv_kctx *k, float *dst, const float *src, size_t n) {
    (void)k;
    if (n) memmove(dst, src, n * sizeof(float));
}

void rvk_upload_i32(rv_kctx *k, int32_t *dst, const int32_t *src, size_t n) {
    (void)k;
    if (n) memmove(dst, src, n * sizeof(int32_t));
}

void rvk_download_i32(rv_kctx *k, int32_t *dst, const int32_t *src, size_t n) {
    (void)k;
    if (n) memmove(dst, src, n * sizeof(int32_t));
}

void rvk_copy(rv_kctx *k, float *dst, const float *src, size_t n) {
    (void)k;
    if (n && dst != src) memmove(dst, src, n * sizeof(float));
}

void rvk_cpu_blas_threads(const rv_kctx *k) {
    int want = rvk_threads(k);
    if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
}

void rvk_cpu_colsum_add(const rv_kctx *k, float *out, const float *in, int N, int C, int ld) {
    int ntiles = (C + RVK_COL_TILE - 1) / RVK_COL_TILE;
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)N * C > RVK_PAR_MIN)
    for (int t = 0; t < ntiles; t++) {
        int c0 = t * RVK_COL_TILE, c1 = c0 + RVK_COL_TILE < C ? c0 + RVK_COL_TILE : C;
        float acc[RVK_COL_TILE];
        for (int c = c0; c < c1; c++) acc[c - c0] = out[c];
        for (int r = 0; r < N; r++) {
            const float *row = in + (size_t)r * ld;
            for (int c = c0; c < c1; c++) acc[c - c0] += row[c];
        }
        for (int c = c0; c < c1; c++) out[c] = acc[c - c0];
    }
}
