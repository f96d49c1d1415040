/* CPU backend: its state and options, scratch, memory (plain host memory for both spaces, with
 * an optional byte limit), copies, and the table of operations kernels/dispatch.c calls. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "kernels/cpu/cpu.h"

/* Each block carries a 64-byte header in front of the returned (64-byte aligned) pointer: the
 * malloc'd base and the block's bytes, so free can account for it without a lookup. */
#define HDR 64

typedef struct block_hdr {
    void *base;
    size_t bytes;
} block_hdr;

static void *cpu_alloc(rv_kctx *k, rvk_space space, size_t bytes, rv_err *err) {
    (void)space;
    rvk_cpu *c = rvk_cpu_of(k);
    if (c->o.mem_limit && (bytes > c->o.mem_limit || c->mem_used > c->o.mem_limit - bytes))
        return rv_fail(err, "kernels: out of memory: %zu bytes (%.3f GiB) requested with %zu of the cpu backend's "
                            "%zu-byte limit in use; use a smaller model or batch, or raise the limit", bytes,
                       (double)bytes / (1u << 30), c->mem_used, c->o.mem_limit), NULL;
    if (bytes > SIZE_MAX - 2 * HDR)
        return rv_fail(err, "kernels: out of memory: %zu bytes requested on the cpu backend", bytes), NULL;
    /* calloc keeps large blocks lazily zeroed (fresh pages), as the previous rv_xcalloc did */
    char *base = calloc(1, bytes + 2 * HDR);
    if (!base)
        return rv_fail(err, "kernels: out of memory: cannot allocate %zu bytes (%.3f GiB) on the cpu backend (%zu bytes "
                            "already held); use a smaller model or batch, fewer ranks per node, or a node with more "
                            "memory", bytes, (double)bytes / (1u << 30), c->mem_used), NULL;
    char *p = base + HDR + (HDR - (uintptr_t)(base + HDR) % HDR) % HDR;
    block_hdr *h = (block_hdr *)(p - sizeof(block_hdr));
    h->base = base;
    h->bytes = bytes;
    c->mem_used += bytes;
    return p;
}

static void cpu_free(rv_kctx *k, rvk_space space, void *p) {
    (void)space;
    if (!p) return;
    block_hdr *h = (block_hdr *)((char *)p - sizeof(block_hdr));
    rvk_cpu_of(k)->mem_used -= h->bytes;
    free(h->base);
}

static int cpu_stores(const rv_kctx *k, rvk_dtype dtype) {
    (void)k;
    return dtype == RVK_F32 || dtype == RVK_BF16 || dtype == RVK_I32 || dtype == RVK_F64;
}

/* Both spaces are host memory: every kind is a memmove, done at once (so async is complete). */
static int cpu_copy(rv_kctx *k, void *dst, const void *src, size_t bytes, rvk_copy_kind kind, int async, rv_err *err) {
    (void)k, (void)kind, (void)async, (void)err;
    if (bytes && dst != src) memmove(dst, src, bytes);
    return 0;
}

static int cpu_sync(rv_kctx *k, rv_err *err) {
    (void)k, (void)err;
    return 0;
}

void *rvk_cpu_alloc_bytes(rv_kctx *k, size_t bytes, rv_err *err) { return cpu_alloc(k, RVK_MEM_DEVICE, bytes, err); }
void rvk_cpu_free_bytes(rv_kctx *k, void *p) { cpu_free(k, RVK_MEM_DEVICE, p); }

static void cpu_destroy(rv_kctx *k) {
    rvk_cpu *c = rvk_cpu_of(k);
    if (!c) return;
    rvk_cpu_shadow_unbind(k);
    free(c->ws);
    free(c);
    k->impl = NULL;
}

void *rvk_cpu_scratch(rv_kctx *k, size_t bytes) {
    rvk_cpu *c = rvk_cpu_of(k);
    if (bytes > c->ws_bytes) {
        free(c->ws);
        size_t want = bytes + bytes / 4 + 64;
        want = (want + 63) / 64 * 64;
        c->ws = aligned_alloc(64, want);
        if (!c->ws) {
            /* scratch is requested inside kernels without an error path: mirror rv_xmalloc */
            c->ws = rv_xmalloc(want);
        }
        c->ws_bytes = want;
    }
    return c->ws;
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

static const rvk_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .stores = cpu_stores,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .fill = rvk_cpu_fill,
    .add = rvk_cpu_add,
    .axpy = rvk_cpu_axpy,
    .scale = rvk_cpu_scale,
    .gemm = rvk_cpu_gemm,
    .matmul_fwd = rvk_cpu_matmul_fwd,
    .matmul_bwd = rvk_cpu_matmul_bwd,
    .matmul_gelu_fwd = rvk_cpu_matmul_gelu_fwd,
    .matmul_bwd_gelu = rvk_cpu_matmul_bwd_gelu,
    .layernorm_fwd = rvk_cpu_layernorm_fwd,
    .layernorm_bwd = rvk_cpu_layernorm_bwd,
    .rmsnorm_fwd = rvk_cpu_rmsnorm_fwd,
    .rmsnorm_bwd = rvk_cpu_rmsnorm_bwd,
    .gelu_fwd = rvk_cpu_gelu_fwd,
    .gelu_bwd = rvk_cpu_gelu_bwd,
    .silu_fwd = rvk_cpu_silu_fwd,
    .silu_bwd = rvk_cpu_silu_bwd,
    .swiglu_fwd = rvk_cpu_swiglu_fwd,
    .swiglu_bwd = rvk_cpu_swiglu_bwd,
    .rope_fwd = rvk_cpu_rope_fwd,
    .rope_bwd = rvk_cpu_rope_bwd,
    .attention_fwd = rvk_cpu_attention_fwd,
    .attention_bwd = rvk_cpu_attention_bwd,
    .embedding_fwd = rvk_cpu_embedding_fwd,
    .embedding_bwd = rvk_cpu_embedding_bwd,
    .rows_scatter = rvk_cpu_rows_scatter,
    .xent_fwd = rvk_cpu_xent_fwd,
    .xent_bwd = rvk_cpu_xent_bwd,
    .softmax = rvk_cpu_softmax,
    .token_logp = rvk_cpu_token_logp,
    .adamw_step = rvk_cpu_adamw_step,
    .sumsq_acc = rvk_cpu_sumsq_acc,
    .sample = rvk_cpu_sample,
    .to_bf16 = rvk_cpu_to_bf16,
    .from_bf16 = rvk_cpu_from_bf16,
    .shadow_bind = rvk_cpu_shadow_bind,
    .shadow_refresh = rvk_cpu_shadow_refresh,
    .shadow_unbind = rvk_cpu_shadow_unbind,
};

static void apply_defaults(rvk_cpu_opts *o) {
    if (o->nthreads <= 0) o->nthreads = omp_get_max_threads();
    if (o->nthreads < 1) o->nthreads = 1;
    if (o->xent_vchunk <= 0) o->xent_vchunk = 4096;
    o->blas_threaded = o->blas_threaded != 0;
}

int rvk_cpu_create(rv_kctx *k, const rvk_cpu_opts *opts, rv_err *err) {
    (void)err;
    rvk_cpu *c = rv_xcalloc(1, sizeof *c);
    if (opts) c->o = *opts;
    apply_defaults(&c->o);
    k->ops = &cpu_ops;
    k->impl = c;
    return 0;
}

int rvk_cpu_get_opts(const rv_kctx *k, rvk_cpu_opts *out) {
    if (k->ops != &cpu_ops) return -1;
    *out = rvk_cpu_of(k)->o;
    return 0;
}

int rvk_cpu_set_opts(rv_kctx *k, const rvk_cpu_opts *o, rv_err *err) {
    if (k->ops != &cpu_ops)
        return rv_fail(err, "kernels: CPU options given to a %s context; they apply to compute.backend=cpu only",
                       k->ops->name);
    rvk_cpu *c = rvk_cpu_of(k);
    c->o = *o;
    apply_defaults(&c->o);
    return 0;
}
