#define _POSIX_C_SOURCE 200809L /* environ */
/* One GPU per rank (comm/device.h): the node-local rank from the launcher's environment, the GPU
 * it gets, and rv_comm_device_prepare, which makes that GPU current before a context is made. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "comm/device_impl.h"

/* The value of NAME in envp, or NULL. */
static const char *lookup(char *const *envp, const char *name) {
    size_t len = strlen(name);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') return *e + len + 1;
    return NULL;
}

int rv_local_rank_from_env(char *const *envp, const char **from, rv_err *err) {
    /* in order of precedence: the MPI launcher's own view first, then the resource manager's */
    static const char *const names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID",
                                        "MV2_COMM_WORLD_LOCAL_RANK"};
    if (from) *from = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = lookup(envp, names[i]);
        if (!v) continue;
        char *end = NULL;
        errno = 0;
        long r = strtol(v, &end, 10);
        if (errno || end == v || *end || r < 0 || r > INT_MAX) {
            rv_fail(err, "%s='%s' is not a node-local rank (a non-negative integer); fix the launcher's environment",
                    names[i], v);
            return -2;
        }
        if (from) *from = names[i];
        return (int)r;
    }
    return -1;
}

int rv_visible_device_count(const char *cvd) {
    if (!cvd) return -1;
    if (!*cvd) return 0;
    int n = 1;
    for (const char *p = cvd; *p; p++) n += *p == ',';
    return n;
}

int rv_gpu_for_local_rank(int local_rank, int ndevices, const char *cvd, int *device, rv_err *err) {
    if (ndevices <= 0)
        return rv_fail(err, "node-local rank %d: no GPU is visible (CUDA_VISIBLE_DEVICES=%s)", local_rank,
                       cvd ? cvd : "(unset)");
    if (rv_visible_device_count(cvd) == 1 && ndevices == 1) { /* the launcher bound this rank's GPU */
        *device = 0;
        return 0;
    }
    if (local_rank >= ndevices)
        return rv_fail(err, "node-local rank %d needs its own GPU but this node shows only %d (CUDA_VISIBLE_DEVICES=%s); "
                            "start at most %d rank(s) per node, or bind one GPU per rank (srun --gpus-per-task=1)",
                       local_rank, ndevices, cvd ? cvd : "(unset)", ndevices);
    *device = local_rank;
    return 0;
}

extern char **environ;

int rv_comm_device_prepare(const rv_comm *world, const char *backend, int *device, rv_err *err) {
    if (device) *device = -1;
    if (!backend || strcmp(backend, "cpu") == 0) return 0;
    const char *from = NULL;
    int local = rv_local_rank_from_env(environ, &from, err);
    if (local == -2) return -1;
    if (local < 0) local = world ? world->rank : 0; /* no launcher variable: one node */
    int n = rv_cuda_device_count(err);
    if (n < 0) return rv_fail_wrap(err, "compute.backend = %s", backend);
    int dev;
    /* RADVLM_CUDA_DEVICE names the GPU outright (the CUDA backend's rvk_create honours it too) */
    const char *forced = getenv("RADVLM_CUDA_DEVICE");
    if (forced && *forced) {
        char *end = NULL;
        long d = strtol(forced, &end, 10);
        if (*end || d < 0 || d >= n)
            return rv_fail(err, "compute.backend = %s: RADVLM_CUDA_DEVICE='%s' is not a GPU of this node (%d visible)",
                           backend, forced, n);
        if (rv_cuda_set_device((int)d, err)) return rv_fail_wrap(err, "compute.backend = %s", backend);
        if (device) *device = (int)d;
        return 0;
    }
    if (rv_gpu_for_local_rank(local, n, getenv("CUDA_VISIBLE_DEVICES"), &dev, err) ||
        rv_cuda_set_device(dev, err))
        return rv_fail_wrap(err, "compute.backend = %s (rank %d, local rank %d from %s)", backend,
                            world ? world->rank : 0, local, from ? from : "the world rank");
    if (device) *device = dev;
    return 0;
}
