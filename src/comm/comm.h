/* Communicators: an explicit handle on a group of ranks, and the collectives the phases and the
 * trainers run on it. Nothing below reaches for MPI_COMM_WORLD: code is given the communicator it
 * works on (rv_phase_ctx.comm, the sampler's data-parallel group, the bad-record totals), so the
 * same code runs on the whole job or on a sub-group made by rv_comm_split.
 *
 * The handle: rank and size are plain fields (read them directly); the transport behind them is
 * opaque (struct rv_comm_impl: an MPI communicator duplicated from its parent, with an error
 * handler that returns, and the device binding of comm/device.h: NCCL or host staging for the
 * float collectives of a bound kernel context's device memory, behind the same calls). A communicator
 * with impl == NULL has no transport: the world of a process without MPI (unit tests) has size 1
 * and its collectives are local copies; rv_comm_layout makes one of any size for code that only
 * needs the rank layout (simulating ranks in one process); its collectives end the job.
 * A handle belongs to whoever made it (the world to comm/world.c, a split to its caller, who
 * frees it): pass pointers to it rather than copies, since a copy shares the transport.
 *
 * Collectives: every rank of the communicator calls the same collective in the same order with
 * consistent arguments (the MPI rule). They return once this rank's part is done.
 *
 * Failure protocol (as comm/world.h): a phase function returns -1 and the ranks agree on the
 * outcome with rv_comm_all_ok. A rank that fails alone while the others wait in a collective
 * calls rv_die, which ends the job (MPI_Abort). The collectives themselves never return an MPI
 * error: any transport error, or arguments that cannot be right (a root out of range, counts
 * that do not add up), ends the job through rv_die with a message naming the collective, the
 * communicator and the MPI error text, rather than leaving the other ranks waiting forever.
 *
 * Determinism: the float and double SUM reductions are the rank-order sum
 * ((x_0 + x_1) + x_2) + ... of the ranks' values, element by element, computed the same way on
 * every rank whatever the message sizes, the MPI library or its algorithm choice: bit-identical
 * across runs and equal to a one-process loop over the contributions in rank order. (They are
 * built from point-to-point messages and a local loop, not MPI_SUM, whose association MPI leaves
 * open.) MAX propagates NaN: a non-finite value on any rank is seen by all. Different rank counts
 * give different association, so sums agree only to rounding across rank counts.
 *
 * Next (why the calls are shaped this way):
 *  - ZeRO-1 (issue F): gradients are reduced in fixed buckets, in a fixed order, with
 *    rv_comm_reduce_scatter_f32v (each rank gets the rank-order sum of its shard: counts from
 *    rv_slice_block), the optimizer steps its shard, and rv_comm_allgather_f32v (in place)
 *    rebuilds the parameters. Plain data parallel is rv_comm_allreduce_f32 of the same buckets and
 *    gives bit-identical sums, since it is the same reduce-scatter followed by the all-gather.
 *  - GRPO (issue H): rv_comm_split(world, role, rank) makes the policy and reward groups; each
 *    group runs its own collectives, the world carries the hand-over.
 *  - NCCL (issue I, comm/device.h): a device communicator created next to the MPI one in
 *    rv_comm_impl when a kernel context is bound; the float collectives of its device buffers
 *    dispatch to it (NCCL's sum order, not the rank order above), the byte collectives and host
 *    buffers stay on MPI. */
#ifndef RADVLM_COMM_COMM_H
#define RADVLM_COMM_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rv_comm_impl;

typedef struct rv_comm {
    int rank, size;               /* this process's rank in the group, and the group's size */
    struct rv_comm_impl *impl;    /* transport (opaque); NULL = none (see above) */
} rv_comm;

typedef enum { RV_COMM_SUM = 0, RV_COMM_MAX } rv_comm_op;

/* ---- communicators ---- */

/* The whole job (comm/world.h starts it); size 1 without transport before rv_world_init. */
const rv_comm *rv_comm_world(void);

/* Collective over parent: ranks with the same color (>= 0) form one new communicator, ranked by
 * key, ties by parent rank. The ranks first agree that every color is valid; when one is not,
 * every rank returns -1 (err names the offending rank's color on that rank) and *out is untouched.
 * Free the result with rv_comm_free (collective over the new group). */
int rv_comm_split(const rv_comm *parent, int color, int key, rv_comm *out, rv_err *err);
void rv_comm_free(rv_comm *c);

/* A layout-only communicator: rank and size, no transport. For code that only needs to know its
 * place (the sampler's slice), e.g. to simulate every rank of a group in one process. */
rv_comm rv_comm_layout(int rank, int size);

/* ---- partitions ---- */

/* Part `part` of `nparts` of n items, contiguous, in order: [begin, end). The first n % nparts
 * parts hold one item more. */
void rv_slice_block(size_t n, int part, int nparts, size_t *begin, size_t *end);
/* This rank's block of n items on c. */
void rv_comm_slice(const rv_comm *c, size_t n, size_t *begin, size_t *end);

/* ---- agreement and small values ---- */

/* True on every rank iff ok is true on every rank. */
bool rv_comm_all_ok(const rv_comm *c, bool ok);
void rv_comm_barrier(const rv_comm *c);
uint64_t rv_comm_sum_u64(const rv_comm *c, uint64_t v);          /* exact (wraps past 2^64) */
double rv_comm_sum_f64(const rv_comm *c, double v);              /* rank-order sum */
double rv_comm_max_f64(const rv_comm *c, double v);              /* NaN wins */

/* ---- float collectives (rank-order sums; see Determinism) ---- */

/* out[i] = op over ranks of in[i], on every rank; in == out allowed (in place), other overlap not.
 * n is the same on every rank. */
void rv_comm_allreduce_f32(const rv_comm *c, const float *in, float *out, size_t n, rv_comm_op op);
void rv_comm_allreduce_f64(const rv_comm *c, const double *in, double *out, size_t n, rv_comm_op op);

/* Reduce-scatter SUM: in is [sum(counts)] on every rank, in blocks in rank order (block r has
 * counts[r] elements); rank r gets out[0 .. counts[r]) = the rank-order sum of every rank's
 * block r. counts (c->size entries) are the same on every rank; out may be the rank's own block
 * inside in, no other overlap. */
void rv_comm_reduce_scatter_f32v(const rv_comm *c, const float *in, float *out, const size_t *counts);
/* Equal blocks: in is [c->size * n], out is [n]. */
void rv_comm_reduce_scatter_f32(const rv_comm *c, const float *in, float *out, size_t n);

/* All-gather: rank r contributes mine[0 .. counts[r]); every rank gets the blocks concatenated in
 * rank order in out [sum(counts)]. mine may be the rank's own block inside out (in place). */
void rv_comm_allgather_f32v(const rv_comm *c, const float *mine, float *out, const size_t *counts);
/* Equal blocks: mine is [n], out is [c->size * n]. */
void rv_comm_allgather_f32(const rv_comm *c, const float *mine, float *out, size_t n);

/* ---- bytes ---- */

/* Concatenates every rank's bytes in rank order on root (others get *out = NULL, *out_len = 0).
 * *out is malloc'd on root and NUL-terminated. */
void rv_comm_gather_bytes(const rv_comm *c, const void *buf, size_t len, int root, char **out, size_t *out_len);
/* The same concatenation on every rank (malloc'd, NUL-terminated). */
void rv_comm_allgather_bytes(const rv_comm *c, const void *buf, size_t len, char **out, size_t *out_len);
/* Root's *buf (*len bytes) to every rank; *buf is malloc'd (NUL-terminated) on the other ranks. */
void rv_comm_bcast_bytes(const rv_comm *c, char **buf, size_t *len, int root);

#ifdef __cplusplus
}
#endif

#endif
