/* The backend registry: which backends this binary knows, which are built, and context
 * creation by name (config key compute.backend). */
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cuda/plan.h"

typedef struct rvk_backend_entry {
    const char *name;
    int (*create)(rv_kctx *k, const rvk_cpu_opts *opts, rv_err *err); /* NULL: not built */
    const char *why_not;
} rvk_backend_entry;

static const rvk_backend_entry registry[] = {
    {"cpu", rvk_cpu_create, NULL},
#ifdef RADVLM_HAVE_CUDA
    {"cuda", rvk_cuda_create, NULL},
#else
    {"cuda", NULL,
     "this build has no CUDA backend: it was configured with -DRADVLM_CUDA=OFF, with sanitizers, or without "
     "nvcc/cuBLAS/NCCL; rebuild with the CUDA toolkit and -DRADVLM_CUDA=AUTO"},
#endif
};
#define N_BACKENDS ((int)(sizeof registry / sizeof registry[0]))

int rvk_backend_count(void) { return N_BACKENDS; }

const char *rvk_backend_name(int i) { return i >= 0 && i < N_BACKENDS ? registry[i].name : NULL; }

int rvk_backend_built(int i) { return i >= 0 && i < N_BACKENDS && registry[i].create != NULL; }

int rvk_create(rv_kctx **out, const char *backend, const rvk_cpu_opts *cpu, rv_err *err) {
    *out = NULL;
    const rvk_backend_entry *e = NULL;
    for (int i = 0; i < N_BACKENDS; i++)
        if (backend && strcmp(registry[i].name, backend) == 0) e = &registry[i];
    if (!e)
        return rv_fail(err, "kernels: unknown backend '%s' (compute.backend); this binary knows cpu and cuda",
                       backend ? backend : "(null)");
    if (!e->create)
        return rv_fail(err, "kernels: backend '%s' is not built into this binary (%s); use the CPU backend "
                            "(compute.backend=cpu)", e->name, e->why_not);
    rv_kctx *k = rv_xcalloc(1, sizeof *k);
    if (e->create(k, cpu, err) != 0) {
        free(k);
        return -1;
    }
    /* the device scalar behind rvk_sumsq (a host-returning reduction built on rvk_sumsq_acc) */
    k->slot = k->ops->alloc(k, RVK_MEM_DEVICE, sizeof(double), err);
    if (!k->slot) {
        k->ops->destroy(k);
        free(k);
        return -1;
    }
    *out = k;
    return 0;
}

void rvk_destroy(rv_kctx *k) {
    if (!k) return;
    if (k->slot) k->ops->free(k, RVK_MEM_DEVICE, k->slot);
    k->ops->destroy(k);
    free(k);
}

const char *rvk_ctx_backend(const rv_kctx *k) { return k->ops->name; }

void *rvk_native_stream(const rv_kctx *k) { return k->ops->native_stream ? k->ops->native_stream(k) : NULL; }

void rvk_record_error(rv_kctx *k, const rv_err *err) {
    if (k->failed) return;
    k->failed = 1;
    k->status = *err;
}

size_t rvk_shadow_bytes_per_param(const char *backend) {
    if (!backend || strcmp(backend, "cuda") != 0) return 0;
    return rvk_cuda_gemm_mode_parse(getenv("RADVLM_CUDA_GEMM")) == 0 ? sizeof(rvk_bf16) : 0;
}
