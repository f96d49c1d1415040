/* Inside comm/: what stands behind an rv_comm handle, and the checks every collective makes.
 * Not for use outside src/comm/. */
#ifndef RADVLM_COMM_TRANSPORT_H
#define RADVLM_COMM_TRANSPORT_H

#include <mpi.h>

#include "comm/comm.h"

/* A device binding's entry points (comm/device.c sets them when a kernel context is bound). The
 * host collectives call through these pointers, so they do not depend on the device transport's
 * code (the link graph stays one-way: device.c uses comm.c and reduce.c, not the reverse). The
 * collectives return true when the device transport carried the call. */
typedef struct rv_comm_dev_hooks {
    bool (*allreduce_f32)(const rv_comm *c, const float *in, float *out, size_t n, rv_comm_op op);
    bool (*reduce_scatter_f32v)(const rv_comm *c, const float *in, float *out, const size_t *counts);
    bool (*allgather_f32v)(const rv_comm *c, const float *mine, float *out, const size_t *counts);
    void (*release)(const rv_comm *c); /* rv_comm_free: drop whatever binding is left */
} rv_comm_dev_hooks;

struct rv_comm_impl {
    MPI_Comm mpi;     /* a duplicate owned by the handle, errors returned (MPI_ERRORS_RETURN) */
    char name[64];    /* for messages: "world", "split of world (color 1)" */
    struct rv_comm_device *device; /* the bound kernel context and its transport (comm/device.h); NULL: none */
    const rv_comm_dev_hooks *dev;  /* its entry points; NULL when nothing is bound */
    void *scratch;    /* the float collectives' receive buffer, kept between calls (a trainer
                         reduces the same buckets every step: no allocation, no page faults) */
    size_t scratch_bytes;
};

/* The communicator's scratch buffer of at least `bytes` (grown as needed, freed with it). */
void *rv_comm_scratch(struct rv_comm_impl *t, size_t bytes);

/* Ends the job (rv_die) when c is NULL, or has more than one rank and no transport. Returns
 * the transport, or NULL for a one-rank communicator (the collective is then a local copy). */
struct rv_comm_impl *rv_comm_transport(const rv_comm *c, const char *what);
/* Ends the job with MPI's error text when rc is not MPI_SUCCESS. */
void rv_comm_check(const rv_comm *c, int rc, const char *what);
/* Wraps an MPI communicator (duplicated, errors returned) into *out. */
void rv_comm_wrap(MPI_Comm parent, const char *name, rv_comm *out);

/* Point-to-point tags of the collectives built from messages (one per collective kind). */
enum { RV_TAG_GATHER = 7, RV_TAG_REDUCE = 11, RV_TAG_GATHER_F = 12 };

/* Test hooks: the float collectives with a given round size (elements per block per round),
 * so that a test can make small arrays take several rounds (the all-reduce always takes the
 * reduce-scatter + all-gather path, which small arrays otherwise skip). */
void rv_comm_test_allreduce_f32(const rv_comm *c, const float *in, float *out, size_t n, rv_comm_op op, size_t chunk);
void rv_comm_test_reduce_scatter_f32v(const rv_comm *c, const float *in, float *out, const size_t *counts,
                                      size_t chunk);
void rv_comm_test_allgather_f32v(const rv_comm *c, const float *mine, float *out, const size_t *counts, size_t chunk);

#endif
