#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime */
/* The NCCL transport of comm/device.h, and the CUDA runtime calls comm/ needs (device count,
 * current device, pointer kind). Built when CMake found CUDA and NCCL (RADVLM_HAVE_NCCL); else
 * stubs that say so.
 *
 * Waits: the communicator is non-blocking (config.blocking = 0), so no NCCL call blocks the host;
 * every wait is a poll of ncclCommGetAsyncError (start-up, group launch) or of the stream (the
 * collective's completion), bounded by the binding's timeout. A peer that died shows up as an
 * asynchronous error or as the timeout: the communicator is aborted (ncclCommAbort frees the
 * device resources and unblocks the kernels) and the job ends through rv_die naming it. */
#include "comm/device_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/die.h"

#ifdef RADVLM_HAVE_NCCL

#include <cuda_runtime_api.h>
#include <nccl.h>

struct rv_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
    double timeout_s;
    char name[64];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pause_briefly(void) {
    struct timespec ts = {0, 20000}; /* 20 us: short against a bucket's transfer time */
    nanosleep(&ts, NULL);
}

bool rv_nccl_built(void) { return true; }

bool rv_nccl_is_device_ptr(const void *p) {
    struct cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* not a pointer CUDA knows: host memory */
        return false;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

int rv_cuda_device_count(rv_err *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return rv_fail(err, "no usable CUDA device: %s (cudaGetDeviceCount)", cudaGetErrorString(e));
    }
    return n;
}

int rv_cuda_set_device(int device, rv_err *err) {
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return rv_fail(err, "cannot use CUDA device %d: %s (cudaSetDevice)", device, cudaGetErrorString(e));
    }
    return 0;
}

/* Aborts the communicator and ends the job: a peer is dead, stuck or NCCL failed. */
_Noreturn static void abort_and_die(const rv_comm *c, struct rv_nccl *n, ncclResult_t r, const char *what,
                                    const char *why) {
    const char *last = ncclGetLastError(n->comm);
    char detail[512];
    snprintf(detail, sizeof detail, "%s%s%s", ncclGetErrorString(r), last && last[0] ? ": " : "",
             last ? last : "");
    ncclCommAbort(n->comm);
    n->comm = NULL;
    rv_die("%s on NCCL communicator %s (rank %d of %d, GPU %d) %s (%s); NCCL communicator aborted, stopping the "
           "job so that no rank waits forever (a peer rank died or hangs: see its log; raise the device timeout "
           "only if a collective can legitimately take longer)",
           what, n->name, c->rank, c->size, n->device, why, detail);
}

/* Waits until the communicator's pending operation is issued (non-blocking mode). */
static ncclResult_t wait_issued(struct rv_nccl *n, ncclResult_t r, double t0, bool *timed_out) {
    *timed_out = false;
    while (r == ncclInProgress) {
        if (now_s() - t0 > n->timeout_s) {
            *timed_out = true;
            return r;
        }
        pause_briefly();
        if (ncclCommGetAsyncError(n->comm, &r) != ncclSuccess) return ncclInternalError;
    }
    return r;
}

/* After a group was issued: waits for the stream, polling NCCL's asynchronous error. */
static void wait_done(const rv_comm *c, struct rv_nccl *n, ncclResult_t issued, const char *what) {
    double t0 = now_s();
    bool to;
    ncclResult_t r = wait_issued(n, issued, t0, &to);
    if (to) abort_and_die(c, n, r, what, "was not issued within the device timeout");
    if (r != ncclSuccess) abort_and_die(c, n, r, what, "failed");
    for (;;) {
        cudaError_t e = cudaStreamQuery(n->stream);
        if (e == cudaSuccess) return;
        if (e != cudaErrorNotReady) {
            (void)cudaGetLastError();
            ncclCommAbort(n->comm);
            n->comm = NULL;
            rv_die("%s on NCCL communicator %s (rank %d of %d, GPU %d): CUDA error %s; stopping the job", what,
                   n->name, c->rank, c->size, n->device, cudaGetErrorString(e));
        }
        ncclResult_t a = ncclSuccess;
        if (ncclCommGetAsyncError(n->comm, &a) != ncclSuccess || (a != ncclSuccess && a != ncclInProgress))
            abort_and_die(c, n, a, what, "failed asynchronously");
        if (now_s() - t0 > n->timeout_s) {
            char why[96];
            snprintf(why, sizeof why, "did not finish within the device timeout (%.0f s)", n->timeout_s);
            abort_and_die(c, n, ncclInProgress, what, why);
        }
        pause_briefly();
    }
}

struct rv_nccl *rv_nccl_create(const rv_comm *c, double timeout_s, rv_err *err) {
    struct rv_nccl *n = rv_xcalloc(1, sizeof *n);
    n->timeout_s = timeout_s;
    snprintf(n->name, sizeof n->name, "%s", c->impl->name);
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    int ok = 1;
    if (c->rank == 0 && ncclGetUniqueId(&id) != ncclSuccess) ok = 0;
    /* The id travels over the MPI communicator (a failed rank 0 sends zeros, and says so). */
    rv_comm_check(c, MPI_Bcast(&ok, 1, MPI_INT, 0, c->impl->mpi), "starting NCCL (MPI_Bcast of the status)");
    if (!ok) {
        free(n);
        rv_fail(err, "ncclGetUniqueId failed on rank 0");
        return NULL;
    }
    rv_comm_check(c, MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, c->impl->mpi), "starting NCCL (MPI_Bcast of the id)");
    cudaError_t ce = cudaGetDevice(&n->device);
    if (ce == cudaSuccess) ce = cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking);
    /* The ranks agree before NCCL starts: the others would wait for a rank that never joins. */
    if (!rv_comm_all_ok(c, ce == cudaSuccess)) {
        if (ce != cudaSuccess) {
            (void)cudaGetLastError();
            rv_fail(err, "rank %d: no CUDA stream for NCCL: %s", c->rank, cudaGetErrorString(ce));
        } else {
            cudaStreamDestroy(n->stream);
            rv_fail(err, "another rank has no CUDA stream for NCCL (see its message)");
        }
        free(n);
        return NULL;
    }
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    double t0 = now_s();
    ncclResult_t r = ncclCommInitRankConfig(&n->comm, c->size, id, c->rank, &cfg);
    bool to = false;
    if (r == ncclSuccess || r == ncclInProgress) {
        ncclResult_t a = r;
        if (r == ncclSuccess && ncclCommGetAsyncError(n->comm, &a) != ncclSuccess) a = ncclInternalError;
        r = wait_issued(n, a, t0, &to);
    }
    if (r != ncclSuccess) {
        if (n->comm) ncclCommAbort(n->comm);
        cudaStreamDestroy(n->stream);
        rv_fail(err, "rank %d (GPU %d): ncclCommInitRankConfig %s: %s", c->rank, n->device,
                to ? "did not finish within the device timeout" : "failed", ncclGetErrorString(r));
        free(n);
        return NULL;
    }
    return n;
}

void rv_nccl_destroy(struct rv_nccl *n) {
    if (!n) return;
    if (n->comm) {
        /* Finalize flushes pending work; a communicator that cannot finalize is aborted. */
        ncclResult_t r = ncclCommFinalize(n->comm);
        double t0 = now_s();
        bool to;
        if (r == ncclInProgress) r = wait_issued(n, r, t0, &to);
        if (r == ncclSuccess) ncclCommDestroy(n->comm);
        else ncclCommAbort(n->comm);
    }
    cudaStreamDestroy(n->stream);
    free(n);
}

static ncclRedOp_t red_op(rv_comm_op op) { return op == RV_COMM_MAX ? ncclMax : ncclSum; }

void rv_nccl_allreduce(const rv_comm *c, struct rv_nccl *n, const float *in, float *out, size_t count, rv_comm_op op) {
    ncclResult_t r = ncclAllReduce(in, out, count, ncclFloat32, red_op(op), n->comm, n->stream);
    wait_done(c, n, r, "rv_comm_allreduce_f32");
}

static bool equal_counts(const size_t *counts, int p) {
    for (int r = 1; r < p; r++)
        if (counts[r] != counts[0]) return false;
    return true;
}

void rv_nccl_reduce_scatter_v(const rv_comm *c, struct rv_nccl *n, const float *in, float *out, const size_t *counts) {
    const int p = c->size;
    ncclResult_t r;
    if (equal_counts(counts, p)) {
        if (counts[0] == 0) return;
        r = ncclReduceScatter(in, out, counts[0], ncclFloat32, ncclSum, n->comm, n->stream);
    } else {
        /* Uneven blocks (the ZeRO-1 partition cuts a bucket anywhere): one reduce per non-empty
         * block to its owner, grouped so NCCL runs them together. */
        size_t off = 0;
        ncclResult_t g = ncclGroupStart();
        r = g;
        for (int q = 0; q < p && (r == ncclSuccess || r == ncclInProgress); off += counts[q], q++)
            if (counts[q]) r = ncclReduce(in + off, q == c->rank ? out : NULL, counts[q], ncclFloat32, ncclSum, q,
                                          n->comm, n->stream);
        ncclResult_t e = ncclGroupEnd();
        if (r == ncclSuccess) r = e;
    }
    wait_done(c, n, r, "rv_comm_reduce_scatter_f32v");
}

void rv_nccl_allgather_v(const rv_comm *c, struct rv_nccl *n, const float *mine, float *out, const size_t *counts) {
    const int p = c->size;
    ncclResult_t r;
    if (equal_counts(counts, p)) {
        if (counts[0] == 0) return;
        r = ncclAllGather(mine, out, counts[0], ncclFloat32, n->comm, n->stream);
    } else {
        /* Uneven blocks: one broadcast per non-empty block from its owner, grouped. */
        size_t off = 0;
        ncclResult_t g = ncclGroupStart();
        r = g;
        for (int q = 0; q < p && (r == ncclSuccess || r == ncclInProgress); off += counts[q], q++)
            if (counts[q]) r = ncclBroadcast(q == c->rank ? (const void *)mine : NULL, out + off, counts[q],
                                             ncclFloat32, q, n->comm, n->stream);
        ncclResult_t e = ncclGroupEnd();
        if (r == ncclSuccess) r = e;
    }
    wait_done(c, n, r, "rv_comm_allgather_f32v");
}

#else /* no NCCL in this build */

struct rv_nccl {
    int unused;
};

bool rv_nccl_built(void) { return false; }
bool rv_nccl_is_device_ptr(const void *p) {
    (void)p;
    return false;
}
int rv_cuda_device_count(rv_err *err) {
    return rv_fail(err, "this build has no CUDA (configure with the CUDA toolkit and NCCL present, RADVLM_CUDA=AUTO or ON)");
}
int rv_cuda_set_device(int device, rv_err *err) {
    return rv_fail(err, "this build has no CUDA: cannot select GPU %d", device);
}
struct rv_nccl *rv_nccl_create(const rv_comm *c, double timeout_s, rv_err *err) {
    (void)c, (void)timeout_s;
    rv_fail(err, "this build has no NCCL");
    return NULL;
}
void rv_nccl_destroy(struct rv_nccl *n) { free(n); }
_Noreturn static void unbuilt(const char *what) { rv_die("%s: NCCL called in a build without NCCL (internal error)", what); }
void rv_nccl_allreduce(const rv_comm *c, struct rv_nccl *n, const float *in, float *out, size_t count, rv_comm_op op) {
    (void)c, (void)n, (void)in, (void)out, (void)count, (void)op;
    unbuilt("rv_comm_allreduce_f32");
}
void rv_nccl_reduce_scatter_v(const rv_comm *c, struct rv_nccl *n, const float *in, float *out, const size_t *counts) {
    (void)c, (void)n, (void)in, (void)out, (void)counts;
    unbuilt("rv_comm_reduce_scatter_f32v");
}
void rv_nccl_allgather_v(const rv_comm *c, struct rv_nccl *n, const float *mine, float *out, const size_t *counts) {
    (void)c, (void)n, (void)mine, (void)out, (void)counts;
    unbuilt("rv_comm_allgather_f32v");
}

#endif
