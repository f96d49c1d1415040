/* Inside comm/: the state of a device binding (comm/device.h) and the hooks the float collectives
 * call. Not for use outside src/comm/ (and the tests). */
#ifndef RADVLM_COMM_DEVICE_IMPL_H
#define RADVLM_COMM_DEVICE_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "comm/device.h"
#include "comm/transport.h"

struct rv_nccl; /* comm/nccl.c: NCCL communicator, its stream and device */

typedef enum { RV_DEV_STAGED = 1, RV_DEV_NCCL = 2 } rv_dev_kind;

typedef struct rv_comm_device {
    rv_kctx *k;          /* the bound context (borrowed) */
    int refs;            /* bindings of k still held */
    rv_dev_kind kind;
    double timeout_s;
    bool every_pointer;  /* test hook: every pointer counts as k's memory (a CPU context staged) */
    struct rv_nccl *nccl;
    float *stage;        /* host staging buffer (kind STAGED), grown as needed */
    size_t stage_n;
} rv_comm_device;

/* The host paths of the float collectives (reduce.c), for the staged transport. */
void rv_comm_host_allreduce_f32(const rv_comm *c, const float *in, float *out, size_t n, rv_comm_op op);
void rv_comm_host_reduce_scatter_f32v(const rv_comm *c, const float *in, float *out, const size_t *counts);
void rv_comm_host_allgather_f32v(const rv_comm *c, const float *mine, float *out, const size_t *counts);

/* NCCL (comm/nccl.c; stubs when the build has no NCCL). */
bool rv_nccl_built(void);
/* True when p is device memory of the CUDA runtime (false without CUDA). */
bool rv_nccl_is_device_ptr(const void *p);
/* Starts an NCCL communicator over c on the current device. Returns NULL with err on this rank's
 * failure (the caller agrees with the other ranks). Collective over c. */
struct rv_nccl *rv_nccl_create(const rv_comm *c, double timeout_s, rv_err *err);
void rv_nccl_destroy(struct rv_nccl *n);
/* The collectives on device pointers; wait for completion (bounded, see device.h). */
void rv_nccl_allreduce(const rv_comm *c, struct rv_nccl *n, const float *in, float *out, size_t count, rv_comm_op op);
void rv_nccl_reduce_scatter_v(const rv_comm *c, struct rv_nccl *n, const float *in, float *out, const size_t *counts);
void rv_nccl_allgather_v(const rv_comm *c, struct rv_nccl *n, const float *mine, float *out, const size_t *counts);

/* The GPU count seen by this process, or -1 with err (no CUDA build, no driver). */
int rv_cuda_device_count(rv_err *err);
/* Makes device the current one; -1 with err. */
int rv_cuda_set_device(int device, rv_err *err);

/* Test hook: binds k with the staged transport and every pointer counted as k's memory, so
 * the download -> MPI -> upload path runs with a CPU context. Collective over c. */
int rv_comm_test_bind_staged(const rv_comm *c, rv_kctx *k, rv_err *err);

#endif
