/* The CUDA backend on a machine without a GPU: rvk_backend_built reports it built (when this
 * binary was configured with the CUDA toolkit), and compute.backend=cuda fails at rvk_create with
 * the driver's reason (cudaGetDeviceCount's error, or no visible device) and the way out, while
 * the CPU backend works as before. Skips when a GPU is present (there is nothing to refuse) or
 * when the build has no CUDA backend. */
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"

int main(void) {
    int cuda = -1;
    for (int i = 0; i < rvk_backend_count(); i++)
        if (strcmp(rvk_backend_name(i), "cuda") == 0) cuda = i;
    CHECK(cuda > 0);
#ifndef RADVLM_HAVE_CUDA
    CHECK(!rvk_backend_built(cuda));
    return check_skip("test_kernels_cuda_nodevice", "this build has no CUDA backend (RADVLM_CUDA=OFF or sanitizers)");
#else
    CHECK(rvk_backend_built(cuda));
    rv_kctx *k = (rv_kctx *)&k;
    rv_err err;
    if (rvk_create(&k, "cuda", NULL, &err) == 0) {
        rvk_destroy(k);
        return check_skip("test_kernels_cuda_nodevice", "a CUDA device is present: the no-device refusal cannot be "
                                                        "checked here (tests/gpu checks the backend itself)");
    }
    fprintf(stderr, "refusal: %s\n", err.msg);
    CHECK(k == NULL);
    CHECK(strstr(err.msg, "compute.backend=cuda") != NULL);
    /* the reason: either the runtime's error from cudaGetDeviceCount, or an empty device list */
    CHECK(strstr(err.msg, "cudaGetDeviceCount failed: ") != NULL || strstr(err.msg, "no CUDA device is visible"));
    CHECK(strstr(err.msg, "compute.backend=cpu") != NULL); /* the way out */
    rv_kctx *cpu = NULL;
    CHECK(rvk_create(&cpu, "cpu", NULL, &err) == 0 && strcmp(rvk_ctx_backend(cpu), "cpu") == 0);
    CHECK(rvk_native_stream(cpu) == NULL); /* the CPU backend has no native queue */
    rvk_destroy(cpu);
    return check_summary("test_kernels_cuda_nodevice");
#endif
}
