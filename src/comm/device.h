/* Device transport: the float collectives of comm/comm.h on a kernel context's memory (issue I).
 *
 * Model and training code never asks which backend it runs on. It binds the kernel context that
 * holds its arenas to the communicator it exchanges them over (rv_comm_bind_kctx; the optimizer
 * does it for the gradient exchange), and from then on rv_comm_allreduce_f32,
 * rv_comm_reduce_scatter_f32v / _f32 and rv_comm_allgather_f32v / _f32 given pointers into that
 * context's device memory run through the device transport; pointers to host memory (loss sums,
 * counters) keep the MPI path. The decision is made here, per call, from the pointer.
 *
 * Transports behind a binding:
 *  - "none": the context computes in host memory (the CPU backend): MPI reads the arenas
 *    directly, nothing changes (the binding is a no-op and not collective);
 *  - "nccl": a GPU context in a build with NCCL: an NCCL communicator over the same ranks,
 *    bootstrapped by MPI (rank 0's ncclGetUniqueId broadcast over the MPI communicator), created
 *    non-blocking so that every wait can be bounded: a collective that does not finish within
 *    timeout_s, or an asynchronous NCCL error (a peer died), aborts the NCCL communicator and ends
 *    the job (rv_die) with a message naming the communicator. Sums are NCCL's (ring / tree order):
 *    deterministic for a fixed rank count, topology and NCCL version, but not the rank-order bits
 *    of the MPI path;
 *  - "staged": a GPU context without NCCL (not built, mode STAGED, or NCCL failed to start on some
 *    rank: every rank then falls back together): each call downloads the operand to a host buffer,
 *    runs the MPI collective (rank-order sums, the same bits as the host path) and uploads the
 *    result. Correct everywhere, slow (two PCIe copies per call).
 * Device collectives first wait for the context's queued work (rvk_sync: the gradients are
 * complete), and return once the result is in place (the next kernel on the context sees it). A
 * device error found there ends the job with its message, like a transport error.
 *
 * Every rank of the communicator binds the same way (same backend, same mode): the binding is
 * collective over c for "nccl" and "staged". Binding the same context again only counts a
 * reference; rv_comm_unbind_kctx releases one, the last one destroys the NCCL communicator.
 * rv_comm_free releases whatever binding is left. */
#ifndef RADVLM_COMM_DEVICE_H
#define RADVLM_COMM_DEVICE_H

#include <stdbool.h>

#include "comm/comm.h"
#include "core/error.h"
#include "kernels/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rv_comm_device_mode {
    RV_COMM_DEVICE_AUTO = 0, /* NCCL when built and it starts on every rank, else staged */
    RV_COMM_DEVICE_NCCL,     /* NCCL, or an error when it is not built or does not start */
    RV_COMM_DEVICE_STAGED    /* always host staging through MPI (rank-order sums) */
} rv_comm_device_mode;

#define RV_COMM_DEVICE_TIMEOUT_S 1800.0 /* default bound on one device collective or NCCL start-up */

typedef struct rv_comm_device_opts {
    rv_comm_device_mode mode;
    double timeout_s; /* <= 0: RV_COMM_DEVICE_TIMEOUT_S */
} rv_comm_device_opts;

/* Binds k to c (see above). o may be NULL (AUTO, default timeout). Returns -1 with err (on every
 * rank: the ranks agree) when mode NCCL cannot be honoured or k is already another binding's.
 * c's handle is not changed; the transport behind it is (copies of the handle share it). */
int rv_comm_bind_kctx(const rv_comm *c, rv_kctx *k, const rv_comm_device_opts *o, rv_err *err);
/* Releases one binding of k (collective over c when it destroys an NCCL communicator). */
void rv_comm_unbind_kctx(const rv_comm *c, rv_kctx *k);
/* The transport of c's binding, for logs: "none" (no binding, or host memory), "nccl", "staged". */
const char *rv_comm_device_transport(const rv_comm *c);

/* One GPU per rank. Before a context of backend `backend` is created, makes this rank's GPU the
 * current device (CUDA: the context then lives on it); a no-op returning 0 for "cpu".
 * RADVLM_CUDA_DEVICE=i names the GPU outright; otherwise the local rank comes from the launcher
 * (rv_local_rank_from_env; without one, the world rank: single-node jobs) and the GPU from
 * rv_gpu_for_local_rank. Not collective. -1 with err when the backend needs
 * a GPU and this rank has none (or the build has no CUDA). *device (may be NULL) gets the
 * device index, -1 for "cpu". */
int rv_comm_device_prepare(const rv_comm *world, const char *backend, int *device, rv_err *err);

/* ---- the rules, host-testable ---- */

/* Node-local rank from a launcher's environment: the first of OMPI_COMM_WORLD_LOCAL_RANK (Open
 * MPI), SLURM_LOCALID (srun), MPI_LOCALRANKID (MPICH / Hydra), MV2_COMM_WORLD_LOCAL_RANK
 * (MVAPICH) that is set. envp: NULL-terminated "NAME=value" strings (environ). Returns the rank
 * (>= 0) and its variable's name in *from (may be NULL); -1 when none is set (*from = NULL);
 * -2 with err when the first set one is not a non-negative integer. */
int rv_local_rank_from_env(char *const *envp, const char **from, rv_err *err);
/* Number of entries of a CUDA_VISIBLE_DEVICES value ("0,1,3" -> 3; "" -> 0); -1 for NULL. */
int rv_visible_device_count(const char *cuda_visible_devices);
/* The GPU (index among the visible ones) for a rank with node-local rank local_rank when this
 * process sees ndevices GPUs: a launcher that bound one GPU per rank (CUDA_VISIBLE_DEVICES with
 * one entry) gives device 0; otherwise device local_rank, one per rank. -1 with err naming the
 * counts when there is no GPU or fewer GPUs than local ranks (two ranks never share a GPU: NCCL
 * refuses it and each would have half the memory). */
int rv_gpu_for_local_rank(int local_rank, int ndevices, const char *cuda_visible_devices, int *device, rv_err *err);

#ifdef __cplusplus
}
#endif

#endif
