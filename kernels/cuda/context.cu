/* CUDA backend: device selection and its failure message, the stream / cuBLASLt handle /
 * scratch of a context, memory (stream-ordered cudaMallocAsync for RVK_MEM_DEVICE, pinned
 * cudaMallocHost for RVK_MEM_HOST), queued copies, sync and the table kernels/dispatch.c calls. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_impl.h"

#define LT_WORKSPACE ((size_t)32 << 20) /* cuBLASLt's recommendation for Hopper */

int rvk_cu_check(rv_kctx *k, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return 0;
    rv_err err;
    rv_fail(&err, "kernels (cuda): %s failed: %s (%s)%s", what, cudaGetErrorString(e), cudaGetErrorName(e),
            e == cudaErrorMemoryAllocation ? "; use a smaller model, batch or sft.max_tokens" : "");
    rvk_record_error(k, &err);
    return -1;
}

void *rvk_cu_scratch(rv_kctx *k, size_t bytes) {
    rvk_cuda *c = rvk_cu(k);
    if (bytes <= c->scratch_bytes) return c->scratch;
    if (c->scratch) rvk_cu_check(k, cudaFreeAsync(c->scratch, c->stream), "freeing scratch");
    c->scratch = NULL;
    c->scratch_bytes = 0;
    size_t want = (bytes + bytes / 4 + 255) / 256 * 256; /* headroom: fewer regrowths */
    void *p = NULL;
    if (rvk_cu_check(k, cudaMallocAsync(&p, want, c->stream), "allocating device scratch") != 0) return NULL;
    c->scratch = p;
    c->scratch_bytes = want;
    return p;
}

int rvk_cu_fetch(rv_kctx *k, void *host, const void *dev, size_t bytes, rv_err *err) {
    if (bytes == 0) return 0;
    cudaStream_t s = rvk_cu_stream(k);
    cudaError_t e = cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDefault, s); /* UVA: any source space */
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
    if (e != cudaSuccess)
        return rv_fail(err, "kernels (cuda): downloading %zu bytes of indices for host validation failed: %s (%s)",
                       bytes, cudaGetErrorString(e), cudaGetErrorName(e));
    return 0;
}

void rvk_cu_put(rv_kctx *k, void *dev, const void *host, size_t bytes) {
    if (bytes) rvk_cu_check(k, cudaMemcpyAsync(dev, host, bytes, cudaMemcpyDefault, rvk_cu_stream(k)), "upload");
}

static void *cu_alloc(rv_kctx *k, rvk_space space, size_t bytes, rv_err *err) {
    rvk_cuda *c = rvk_cu(k);
    void *p = NULL;
    cudaError_t e;
    if (space == RVK_MEM_HOST) {
        e = cudaMallocHost(&p, bytes);
        if (e == cudaSuccess) memset(p, 0, bytes);
    } else {
        e = cudaMallocAsync(&p, bytes, c->stream);
        if (e == cudaSuccess) e = cudaMemsetAsync(p, 0, bytes, c->stream);
    }
    if (e != cudaSuccess) {
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        cudaGetLastError(); /* allocation failures are not sticky: clear them */
        rv_fail(err, "kernels: out of memory: %zu bytes (%.3f GiB) requested in %s memory of GPU %d (%s; %.3f of %.3f "
                     "GiB free); use a smaller model or batch, or a GPU with more memory", bytes,
                (double)bytes / (1u << 30), space == RVK_MEM_HOST ? "pinned host" : "device", c->device,
                cudaGetErrorString(e), (double)fr / (1u << 30), (double)tot / (1u << 30));
        return NULL;
    }
    return p;
}

static void cu_free(rv_kctx *k, rvk_space space, void *p) {
    if (!p) return;
    if (space == RVK_MEM_HOST) rvk_cu_check(k, cudaFreeHost(p), "cudaFreeHost");
    else rvk_cu_check(k, cudaFreeAsync(p, rvk_cu_stream(k)), "cudaFreeAsync");
}

/* f32, i32, f64 (what the kernels take) and bf16 (storage: the weight shadow, saved activations). */
static int cu_stores(const rv_kctx *k, rvk_dtype dtype) {
    (void)k;
    return dtype == RVK_F32 || dtype == RVK_BF16 || dtype == RVK_I32 || dtype == RVK_F64;
}

/* With unified addressing cudaMemcpyDefault routes every kind (including pageable host memory
 * and pinned RVK_MEM_HOST buffers) through the context's stream, so copies stay ordered. */
static int cu_copy(rv_kctx *k, void *dst, const void *src, size_t bytes, rvk_copy_kind kind, int async, rv_err *err) {
    (void)kind;
    if (!bytes || dst == src) return 0;
    cudaStream_t s = rvk_cu_stream(k);
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s);
    if (e == cudaSuccess && !async) e = cudaStreamSynchronize(s);
    if (e != cudaSuccess)
        return rv_fail(err, "kernels (cuda): copy of %zu bytes failed: %s (%s)", bytes, cudaGetErrorString(e),
                       cudaGetErrorName(e));
    return 0;
}

static int cu_sync(rv_kctx *k, rv_err *err) {
    cudaError_t e = cudaStreamSynchronize(rvk_cu_stream(k));
    if (e != cudaSuccess)
        return rv_fail(err, "kernels (cuda): queued GPU work failed: %s (%s); a device fault leaves the context "
                            "unusable: stop the run and rerun with CUDA_LAUNCH_BLOCKING=1 or compute-sanitizer to "
                            "find the kernel", cudaGetErrorString(e), cudaGetErrorName(e));
    return 0;
}

static void cu_destroy(rv_kctx *k) {
    rvk_cuda *c = rvk_cu(k);
    if (!c) return;
    if (c->stream) {
        rvk_cu_shadow_release(k);
        if (c->scratch) cudaFreeAsync(c->scratch, c->stream);
        if (c->rope_inv) cudaFreeAsync(c->rope_inv, c->stream);
        if (c->lt_ws) cudaFreeAsync(c->lt_ws, c->stream);
        cudaStreamSynchronize(c->stream);
        cudaStreamDestroy(c->stream);
    }
    rvk_cu_lt_cache_free(k);
    if (c->lt) cublasLtDestroy(c->lt);
    free(c);
    k->impl = NULL;
}

static void *cu_native_stream(const rv_kctx *k) { return (void *)rvk_cu_stream(k); }

static void cu_device_mem(rv_kctx *k, size_t *free_bytes, size_t *total_bytes) {
    if (cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
        *free_bytes = *total_bytes = 0;
        cudaGetLastError();
    }
    (void)k;
}

static const rvk_backend_ops cuda_ops = {
    .name = "cuda",
    .destroy = cu_destroy,
    .alloc = cu_alloc,
    .free = cu_free,
    .stores = cu_stores,
    .copy = cu_copy,
    .sync = cu_sync,
    .fill = rvk_cuda_fill,
    .add = rvk_cuda_add,
    .axpy = rvk_cuda_axpy,
    .scale = rvk_cuda_scale,
    .gemm = rvk_cuda_gemm,
    .matmul_fwd = rvk_cuda_matmul_fwd,
    .matmul_bwd = rvk_cuda_matmul_bwd,
    .matmul_gelu_fwd = rvk_cuda_matmul_gelu_fwd,
    .matmul_bwd_gelu = rvk_cuda_matmul_bwd_gelu,
    .layernorm_fwd = rvk_cuda_layernorm_fwd,
    .layernorm_bwd = rvk_cuda_layernorm_bwd,
    .rmsnorm_fwd = rvk_cuda_rmsnorm_fwd,
    .rmsnorm_bwd = rvk_cuda_rmsnorm_bwd,
    .gelu_fwd = rvk_cuda_gelu_fwd,
    .gelu_bwd = rvk_cuda_gelu_bwd,
    .silu_fwd = rvk_cuda_silu_fwd,
    .silu_bwd = rvk_cuda_silu_bwd,
    .swiglu_fwd = rvk_cuda_swiglu_fwd,
    .swiglu_bwd = rvk_cuda_swiglu_bwd,
    .rope_fwd = rvk_cuda_rope_fwd,
    .rope_bwd = rvk_cuda_rope_bwd,
    .attention_fwd = rvk_cuda_attention_fwd,
    .attention_bwd = rvk_cuda_attention_bwd,
    .embedding_fwd = rvk_cuda_embedding_fwd,
    .embedding_bwd = rvk_cuda_embedding_bwd,
    .rows_scatter = rvk_cuda_rows_scatter,
    .xent_fwd = rvk_cuda_xent_fwd,
    .xent_bwd = rvk_cuda_xent_bwd,
    .softmax = rvk_cuda_softmax,
    .token_logp = rvk_cuda_token_logp,
    .adamw_step = rvk_cuda_adamw_step,
    .sumsq_acc = rvk_cuda_sumsq_acc,
    .sample = rvk_cuda_sample,
    .to_bf16 = rvk_cuda_to_bf16,
    .from_bf16 = rvk_cuda_from_bf16,
    .native_stream = cu_native_stream,
    .shadow_bind = rvk_cuda_shadow_bind, /* the bf16 weight shadow (shadow.cu) */
    .shadow_refresh = rvk_cuda_shadow_refresh,
    .shadow_unbind = rvk_cuda_shadow_unbind,
    .device_mem = cu_device_mem,
};

/* The rank's GPU: RADVLM_CUDA_DEVICE if set, else the node-local rank (Open MPI, MPICH, MVAPICH,
 * Slurm) modulo the visible devices, so ranks of a node spread over its GPUs; else the current
 * device. */
static int pick_device(int ndev) {
    const char *names[] = {"RADVLM_CUDA_DEVICE", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                           "MV2_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) {
            int r = atoi(v);
            return (r < 0 ? 0 : r) % ndev;
        }
    }
    /* no launcher variable: keep the device already chosen (rv_comm_device_prepare sets it from
     * the world rank before the context is created), else 0 */
    int cur = 0;
    if (cudaGetDevice(&cur) != cudaSuccess || cur < 0 || cur >= ndev) cur = 0;
    return cur;
}

static rvk_cu_gemm_mode gemm_mode(void) { return (rvk_cu_gemm_mode)rvk_cuda_gemm_mode_parse(getenv("RADVLM_CUDA_GEMM")); }

static rvk_cu_attn_mode attn_mode(void) {
    const char *v = getenv("RADVLM_CUDA_ATTN");
    if (v && strcmp(v, "gemm") == 0) return RVK_CU_ATTN_GEMM;
    if (v && strcmp(v, "rowwise") == 0) return RVK_CU_ATTN_ROWWISE;
    if (v && strcmp(v, "flash") == 0) return RVK_CU_ATTN_FLASH;
    return RVK_CU_ATTN_AUTO;
}

extern "C" int rvk_cuda_create(rv_kctx *k, const rvk_cpu_opts *opts, rv_err *err) {
    (void)opts; /* CPU-only options */
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return rv_fail(err, "kernels: compute.backend=cuda, but this machine has no usable CUDA device: "
                            "cudaGetDeviceCount failed: %s (%s); run on a GPU node whose NVIDIA driver supports "
                            "CUDA %d.%d (this binary's runtime), or use the CPU backend (compute.backend=cpu)",
                       cudaGetErrorString(e), cudaGetErrorName(e), CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
    }
    if (ndev <= 0) {
        const char *vis = getenv("CUDA_VISIBLE_DEVICES");
        return rv_fail(err, "kernels: compute.backend=cuda, but no CUDA device is visible (CUDA_VISIBLE_DEVICES=%s); "
                            "run on a GPU node or use the CPU backend (compute.backend=cpu)", vis ? vis : "(unset)");
    }
    int dev = pick_device(ndev);
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess || (e = cudaSetDevice(dev)) != cudaSuccess)
        return rv_fail(err, "kernels: cannot use CUDA device %d of %d: %s (%s)", dev, ndev, cudaGetErrorString(e),
                       cudaGetErrorName(e));
    if (prop.major < 8)
        return rv_fail(err, "kernels: CUDA device %d (%s) has compute capability %d.%d; the cuda backend is built for "
                            "8.0 and 9.0 (bf16 tensor cores): use an A100/H100-class GPU or compute.backend=cpu",
                       dev, prop.name, prop.major, prop.minor);
    /* stream-ordered allocations: keep freed memory in the pool instead of returning it to the
     * driver at every sync (the default threshold 0), so per-step buffers cost no driver calls */
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess) {
        uint64_t keep = UINT64_MAX;
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    cudaGetLastError();
    rvk_cuda *c = (rvk_cuda *)rv_xcalloc(1, sizeof *c);
    c->device = dev;
    c->gemm = gemm_mode();
    c->attn = attn_mode();
    k->ops = &cuda_ops;
    k->impl = c;
    cublasStatus_t st;
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaMallocAsync(&c->lt_ws, LT_WORKSPACE, c->stream)) != cudaSuccess) {
        rv_fail(err, "kernels: creating the CUDA stream and workspace on device %d failed: %s", dev,
                cudaGetErrorString(e));
        cu_destroy(k);
        return -1;
    }
    c->lt_ws_bytes = LT_WORKSPACE;
    if ((st = cublasLtCreate(&c->lt)) != CUBLAS_STATUS_SUCCESS) {
        rv_fail(err, "kernels: cublasLtCreate on device %d failed: %s", dev, cublasLtGetStatusString(st));
        c->lt = NULL;
        cu_destroy(k);
        return -1;
    }
    return 0;
}
