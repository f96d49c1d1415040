/* The bf16 weight shadow of the CUDA backend (kernels.h rvk_shadow_*): per bound fp32 parameter
 * range a bf16 copy in device memory (stream-ordered allocation), written only by bind and
 * refresh (the f32 -> bf16 conversion kernel, the same bits as the CPU's core/half.c). matmul.cu
 * reads weight operands from it (rvk_cu_shadowed), so the forward and backward GEMMs load 2
 * bytes per weight instead of 4 and run bf16 x bf16 on the tensor cores; the fp32 masters only
 * feed the optimizer. Kept in RADVLM_CUDA_GEMM=bf16 (the default) only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"

static rvk_cu_shadow *ranges(rv_kctx *k) {
    rvk_cuda *c = rvk_cu(k);
    if (!c->shadow) c->shadow = (rvk_cu_shadow *)rv_xcalloc(RVK_CU_SHADOW_RANGES, sizeof *c->shadow);
    return c->shadow;
}

const rvk_bf16 *rvk_cu_shadowed(const rv_kctx *k, const float *p) {
    const rvk_cuda *c = rvk_cu(k);
    if (!c->nshadow || !p) return NULL;
    for (int i = 0; i < RVK_CU_SHADOW_RANGES; i++) {
        const rvk_cu_shadow *s = &c->shadow[i];
        uintptr_t lo = (uintptr_t)s->lo, a = (uintptr_t)p;
        if (s->lo && a >= lo && (a - lo) / sizeof(float) < s->n) return s->copy + (a - lo) / sizeof(float);
    }
    return NULL;
}

rvk_bf16 *rvk_cu_bf16_ws(rv_kctx *k, size_t bytes) {
    rvk_cuda *c = rvk_cu(k);
    if (bytes <= c->bf16_ws_bytes) return (rvk_bf16 *)c->bf16_ws;
    if (c->bf16_ws) rvk_cu_check(k, cudaFreeAsync(c->bf16_ws, c->stream), "freeing the bf16 operand workspace");
    c->bf16_ws = NULL;
    c->bf16_ws_bytes = 0;
    size_t want = (bytes + bytes / 4 + 255) / 256 * 256; /* headroom: fewer regrowths */
    void *p = NULL;
    if (rvk_cu_check(k, cudaMallocAsync(&p, want, c->stream), "allocating the bf16 operand workspace") != 0)
        return NULL;
    c->bf16_ws = p;
    c->bf16_ws_bytes = want;
    return (rvk_bf16 *)p;
}

static void drop(rv_kctx *k, rvk_cu_shadow *s) {
    size_t bytes = s->n * sizeof(rvk_bf16);
    rvk_cu_check(k, cudaFreeAsync(s->copy, rvk_cu_stream(k)), "freeing the bf16 weight copy");
    k->mem_held -= bytes <= k->mem_held ? bytes : k->mem_held;
    *s = rvk_cu_shadow{};
    rvk_cu(k)->nshadow--;
}

int rvk_cuda_shadow_bind(rv_kctx *k, const float *params, size_t n, rv_err *err) {
    rvk_cuda *c = rvk_cu(k);
    rvk_cu_shadow *r = ranges(k);
    for (int i = 0; i < RVK_CU_SHADOW_RANGES; i++) /* same start: replaced (n == 0: removed) */
        if (r[i].lo && r[i].lo == params) drop(k, &r[i]);
    if (c->gemm != RVK_CU_GEMM_BF16 || !params || n == 0) return 0;
    int slot = -1;
    for (int i = 0; i < RVK_CU_SHADOW_RANGES && slot < 0; i++)
        if (!r[i].lo) slot = i;
    if (slot < 0)
        return rv_fail(err, "kernels (cuda): weight shadow: %d parameter ranges are bound already (the most one "
                            "context keeps); free a weights table before building another on this context",
                       RVK_CU_SHADOW_RANGES);
    size_t bytes = n * sizeof(rvk_bf16);
    void *p = NULL;
    cudaError_t e = cudaMallocAsync(&p, bytes, c->stream);
    if (e != cudaSuccess) {
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        cudaGetLastError(); /* allocation failures are not sticky */
        return rv_fail(err, "kernels: out of memory: the bf16 weight copy of %zu parameters needs %zu bytes (%.3f GiB) "
                            "on GPU %d (%s; %.3f of %.3f GiB free); use a smaller model, or RADVLM_CUDA_GEMM=tf32 "
                            "(no bf16 copy, slower GEMMs)", n, bytes, (double)bytes / (1u << 30), c->device,
                       cudaGetErrorString(e), (double)fr / (1u << 30), (double)tot / (1u << 30));
    }
    k->mem_held += bytes;
    if (k->mem_held > k->mem_peak) k->mem_peak = k->mem_held;
    r[slot] = rvk_cu_shadow{params, n, (rvk_bf16 *)p};
    c->nshadow++;
    rvk_cuda_to_bf16(k, r[slot].copy, params, n);
    return 0;
}

void rvk_cuda_shadow_refresh(rv_kctx *k, const float *p, size_t n) {
    rvk_cuda *c = rvk_cu(k);
    if (!c->nshadow || n == 0) return;
    for (int i = 0; i < RVK_CU_SHADOW_RANGES; i++) {
        rvk_cu_shadow *s = &c->shadow[i];
        uintptr_t lo = (uintptr_t)s->lo, a = (uintptr_t)p;
        if (!s->lo || a < lo) continue;
        size_t off = (a - lo) / sizeof(float);
        if (off <= s->n && n <= s->n - off) {
            rvk_cuda_to_bf16(k, s->copy + off, p, n);
            return;
        }
    }
    char bound[256];
    int at = 0;
    for (int i = 0; i < RVK_CU_SHADOW_RANGES && at < (int)sizeof bound; i++)
        if (c->shadow[i].lo)
            at += snprintf(bound + at, sizeof bound - (size_t)at, "%s[%p, +%zu)", at ? ", " : "",
                           (const void *)c->shadow[i].lo, c->shadow[i].n);
    rv_err e;
    rv_fail(&e, "kernels (cuda): weight shadow refresh of [%p, +%zu) (floats) lies outside the bound parameter "
                "range(s) %s: refresh only what rvk_shadow_bind declared (a parameter write outside the weights "
                "arena?)", (const void *)p, n, bound);
    rvk_record_error(k, &e);
}

void rvk_cuda_shadow_unbind(rv_kctx *k) {
    rvk_cuda *c = rvk_cu(k);
    if (!c->shadow) return;
    for (int i = 0; i < RVK_CU_SHADOW_RANGES; i++)
        if (c->shadow[i].lo) drop(k, &c->shadow[i]);
}

void rvk_cu_shadow_release(rv_kctx *k) {
    rvk_cuda *c = rvk_cu(k);
    rvk_cuda_shadow_unbind(k);
    free(c->shadow);
    c->shadow = NULL;
    if (c->bf16_ws) cudaFreeAsync(c->bf16_ws, c->stream);
    c->bf16_ws = NULL;
    c->bf16_ws_bytes = 0;
}
