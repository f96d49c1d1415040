/* The float collectives of comm/comm.h, built so that a SUM is the rank-order sum on every rank:
 *  - reduce-scatter: rank r receives block r from every rank (point-to-point, in rounds of at
 *    most `chunk` elements per block) and adds the contributions in rank order;
 *  - all-gather: every rank sends its block to every other rank;
 *  - all-reduce: reduce-scatter over an even split of the array, then all-gather (the
 *    bandwidth-optimal pair, as a ring all-reduce), or, for small arrays, one MPI_Allgather of
 *    every contribution and the same rank-order loop locally. Both give the same bits.
 * O(size) messages per round: meant for tens of ranks; a ring or a device backend can replace
 * the transport without changing the results' definition. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm/device_impl.h"
#include "comm/die.h"
#include "comm/wait.h"

/* Bytes of one round's receive buffer (size blocks of `chunk` elements). */
#define ROUND_BYTES ((size_t)64 << 20)
/* Arrays up to this many elements times ranks are all-reduced through one all-gather. */
#define SMALL_ALLREDUCE 4096

typedef struct elem_type {
    size_t bytes;
    MPI_Datatype mpi;
    /* acc[i] = acc[i] op x[i] */
    void (*combine)(void *acc, const void *x, size_t n, rv_comm_op op);
} elem_type;

#define DEFINE_COMBINE(T, name)                                                           \
    static void name(void *acc_, const void *x_, size_t n, rv_comm_op op) {               \
        T *acc = acc_;                                                                    \
        const T *x = x_;                                                                  \
        if (op == RV_COMM_SUM)                                                            \
            for (size_t i = 0; i < n; i++) acc[i] += x[i];                                \
        else /* MAX; a NaN, once there, stays */                                          \
            for (size_t i = 0; i < n; i++)                                                \
                if (!isnan(acc[i]) && (isnan(x[i]) || x[i] > acc[i])) acc[i] = x[i];      \
    }
DEFINE_COMBINE(float, combine_f32)
DEFINE_COMBINE(double, combine_f64)

static elem_type type_f32(void) { return (elem_type){sizeof(float), MPI_FLOAT, combine_f32}; }
static elem_type type_f64(void) { return (elem_type){sizeof(double), MPI_DOUBLE, combine_f64}; }

static size_t default_chunk(const rv_comm *c, const elem_type *t) {
    size_t k = ROUND_BYTES / t->bytes / (size_t)c->size;
    return k < 1 ? 1 : k > (size_t)INT_MAX ? (size_t)INT_MAX : k;
}

static size_t clamp_len(size_t count, size_t off, size_t chunk) {
    return count <= off ? 0 : count - off < chunk ? count - off : chunk;
}


/* Offsets of the p blocks of `counts` (malloc'd [p]) and the largest block in *maxc. */
static size_t *block_displ(const size_t *counts, int p, size_t *maxc) {
    size_t *displ = rv_xmalloc((size_t)p * sizeof *displ);
    displ[0] = 0;
    *maxc = counts[0];
    for (int r = 1; r < p; r++) {
        displ[r] = displ[r - 1] + counts[r - 1];
        if (counts[r] > *maxc) *maxc = counts[r];
    }
    return displ;
}

/* Reduce-scatter with op over blocks of `counts`; rounds of at most `chunk` elements per block. */
static void reduce_scatter(const rv_comm *c, const elem_type *t, const void *in_, void *out_, const size_t *counts,
                           rv_comm_op op, size_t chunk, const char *what) {
    struct rv_comm_impl *tr = rv_comm_transport(c, what);
    const char *in = in_;
    char *out = out_;
    int p = c->size, me = c->rank;
    size_t maxc;
    size_t *displ = block_displ(counts, p, &maxc);
    const size_t eb = t->bytes, mine = counts[me];
    if (!tr) {
        if (mine && out != in + displ[me] * eb) memmove(out, in + displ[me] * eb, mine * eb);
        free(displ);
        return;
    }
    if (chunk < 1) chunk = 1;
    if (chunk > maxc) chunk = maxc ? maxc : 1;
    char *tmp = rv_comm_scratch(tr, (size_t)p * chunk * eb);
    /* This rank's own values are read where they are, unless the result overwrites them before
     * their turn in the rank order (in place on a rank > 0): then they are copied first. */
    const bool own_copy = me > 0 && out == in + displ[me] * eb;
    MPI_Request *req = rv_xmalloc(2 * (size_t)p * sizeof *req);
    int *peer = rv_xmalloc(2 * (size_t)p * sizeof *peer); /* the rank each request exchanges with */
    for (size_t off = 0; off < maxc; off += chunk) {
        int nreq = 0;
        size_t lm = clamp_len(mine, off, chunk);
        for (int q = 0; q < p; q++) {
            if (q == me) continue;
            size_t lq = clamp_len(counts[q], off, chunk);
            if (lm) {
                peer[nreq] = q;
                rv_comm_check(c, MPI_Irecv(tmp + (size_t)q * chunk * eb, (int)lm, t->mpi, q, RV_TAG_REDUCE, tr->mpi,
                                           &req[nreq++]), what);
            }
            if (lq) {
                peer[nreq] = q;
                rv_comm_check(c, MPI_Isend(in + (displ[q] + off) * eb, (int)lq, t->mpi, q, RV_TAG_REDUCE, tr->mpi,
                                           &req[nreq++]), what);
            }
        }
        const char *own = in + (displ[me] + off) * eb;
        if (lm && own_copy) {
            memcpy(tmp + (size_t)me * chunk * eb, own, lm * eb);
            own = tmp + (size_t)me * chunk * eb;
        }
        rv_comm_wait(c, req, peer, nreq, what);
        if (lm) {
            /* rank order: start from rank 0's values, add rank 1's, then rank 2's ... */
            char *acc = out + off * eb;
            const char *first = me == 0 ? own : tmp;
            if (acc != first) memcpy(acc, first, lm * eb);
            for (int q = 1; q < p; q++) t->combine(acc, q == me ? own : tmp + (size_t)q * chunk * eb, lm, op);
        }
    }
    free(req);
    free(peer);
    free(displ);
}

/* All-gather of blocks of `counts` into out; mine may already be this rank's block of out. */
static void all_gather(const rv_comm *c, const elem_type *t, const void *mine, void *out_, const size_t *counts,
                       size_t chunk, const char *what) {
    struct rv_comm_impl *tr = rv_comm_transport(c, what);
    char *out = out_;
    int p = c->size, me = c->rank;
    size_t maxc;
    size_t *displ = block_displ(counts, p, &maxc);
    const size_t eb = t->bytes;
    char *own = out + displ[me] * eb;
    if (counts[me] && (const char *)mine != own) memmove(own, mine, counts[me] * eb);
    if (!tr) { free(displ); return; }
    if (chunk < 1) chunk = 1;
    MPI_Request *req = rv_xmalloc(2 * (size_t)p * sizeof *req);
    int *peer = rv_xmalloc(2 * (size_t)p * sizeof *peer);
    for (size_t off = 0; off < maxc; off += chunk) {
        int nreq = 0;
        size_t lm = clamp_len(counts[me], off, chunk);
        for (int q = 0; q < p; q++) {
            if (q == me) continue;
            size_t lq = clamp_len(counts[q], off, chunk);
            if (lq) {
                peer[nreq] = q;
                rv_comm_check(c, MPI_Irecv(out + (displ[q] + off) * eb, (int)lq, t->mpi, q, RV_TAG_GATHER_F, tr->mpi,
                                           &req[nreq++]), what);
            }
            if (lm) {
                peer[nreq] = q;
                rv_comm_check(c, MPI_Isend(own + off * eb, (int)lm, t->mpi, q, RV_TAG_GATHER_F, tr->mpi, &req[nreq++]),
                              what);
            }
        }
        rv_comm_wait(c, req, peer, nreq, what);
    }
    free(req);
    free(peer);
    free(displ);
}

/* Arrays of at most small_limit elements times ranks go through one all-gather. */
static void all_reduce(const rv_comm *c, const elem_type *t, const void *in, void *out_, size_t n, rv_comm_op op,
                       size_t chunk, size_t small_limit, const char *what) {
    struct rv_comm_impl *tr = rv_comm_transport(c, what);
    char *out = out_;
    const size_t eb = t->bytes;
    if (op != RV_COMM_SUM && op != RV_COMM_MAX) rv_die("%s: unknown operation %d (internal error)", what, (int)op);
    if (n == 0) return;
    if (!tr) {
        if (out != in) memmove(out, in, n * eb);
        return;
    }
    int p = c->size;
    if (n * (size_t)p <= small_limit) {
        char *all = rv_xmalloc(n * (size_t)p * eb);
        MPI_Request r;
        rv_comm_check(c, MPI_Iallgather(in, (int)n, t->mpi, all, (int)n, t->mpi, tr->mpi, &r), what);
        rv_comm_wait(c, &r, NULL, 1, what);
        memcpy(out, all, n * eb);
        for (int q = 1; q < p; q++) t->combine(out, all + (size_t)q * n * eb, n, op);
        free(all);
        return;
    }
    size_t *counts = rv_xmalloc((size_t)p * sizeof *counts);
    for (int r = 0; r < p; r++) {
        size_t b, e;
        rv_slice_block(n, r, p, &b, &e);
        counts[r] = e - b;
    }
    size_t b, e;
    rv_slice_block(n, c->rank, p, &b, &e);
    reduce_scatter(c, t, in, out + b * eb, counts, op, chunk, what);
    all_gather(c, t, out + b * eb, out, counts, chunk, what);
    free(counts);
}

/* ---- public entry points ---- */

/* The float collectives first offer the call to a device binding (comm/device.h): a pointer
 * into a bound context's device memory goes through NCCL or host staging; the rest is below. */
void rv_comm_allreduce_f32(const rv_comm *c, const float *in, float *out, size_t n, rv_comm_op op) {
    rv_comm_transport(c, "rv_comm_allreduce_f32");
    const struct rv_comm_impl *t = c->impl;
    if (!(t && t->dev && t->dev->allreduce_f32(c, in, out, n, op))) rv_comm_host_allreduce_f32(c, in, out, n, op);
}

void rv_comm_host_allreduce_f32(const rv_comm *c, const float *in, float *out, size_t n, rv_comm_op op) {
    elem_type t = type_f32();
    all_reduce(c, &t, in, out, n, op, default_chunk(c, &t), SMALL_ALLREDUCE, "rv_comm_allreduce_f32");
}

void rv_comm_allreduce_f64(const rv_comm *c, const double *in, double *out, size_t n, rv_comm_op op) {
    elem_type t = type_f64();
    rv_comm_transport(c, "rv_comm_allreduce_f64");
    all_reduce(c, &t, in, out, n, op, default_chunk(c, &t), SMALL_ALLREDUCE, "rv_comm_allreduce_f64");
}

double rv_comm_sum_f64(const rv_comm *c, double v) {
    rv_comm_allreduce_f64(c, &v, &v, 1, RV_COMM_SUM);
    return v;
}

double rv_comm_max_f64(const rv_comm *c, double v) {
    rv_comm_allreduce_f64(c, &v, &v, 1, RV_COMM_MAX);
    return v;
}

void rv_comm_reduce_scatter_f32v(const rv_comm *c, const float *in, float *out, const size_t *counts) {
    rv_comm_transport(c, "rv_comm_reduce_scatter_f32v");
    const struct rv_comm_impl *t = c->impl;
    if (!(t && t->dev && t->dev->reduce_scatter_f32v(c, in, out, counts)))
        rv_comm_host_reduce_scatter_f32v(c, in, out, counts);
}

void rv_comm_host_reduce_scatter_f32v(const rv_comm *c, const float *in, float *out, const size_t *counts) {
    elem_type t = type_f32();
    reduce_scatter(c, &t, in, out, counts, RV_COMM_SUM, default_chunk(c, &t), "rv_comm_reduce_scatter_f32v");
}

void rv_comm_reduce_scatter_f32(const rv_comm *c, const float *in, float *out, size_t n) {
    rv_comm_transport(c, "rv_comm_reduce_scatter_f32");
    size_t *counts = rv_xmalloc((size_t)c->size * sizeof *counts);
    for (int r = 0; r < c->size; r++) counts[r] = n;
    rv_comm_reduce_scatter_f32v(c, in, out, counts);
    free(counts);
}

void rv_comm_allgather_f32v(const rv_comm *c, const float *mine, float *out, const size_t *counts) {
    rv_comm_transport(c, "rv_comm_allgather_f32v");
    const struct rv_comm_impl *t = c->impl;
    if (!(t && t->dev && t->dev->allgather_f32v(c, mine, out, counts))) rv_comm_host_allgather_f32v(c, mine, out, counts);
}

void rv_comm_host_allgather_f32v(const rv_comm *c, const float *mine, float *out, const size_t *counts) {
    elem_type t = type_f32();
    all_gather(c, &t, mine, out, counts, default_chunk(c, &t), "rv_comm_allgather_f32v");
}

void rv_comm_allgather_f32(const rv_comm *c, const float *mine, float *out, size_t n) {
    rv_comm_transport(c, "rv_comm_allgather_f32");
    size_t *counts = rv_xmalloc((size_t)c->size * sizeof *counts);
    for (int r = 0; r < c->size; r++) counts[r] = n;
    rv_comm_allgather_f32v(c, mine, out, counts);
    free(counts);
}

/* Test hooks (comm/transport.h): the same collectives with a given round size; the all-reduce
 * always takes the reduce-scatter + all-gather path. */
void rv_comm_test_allreduce_f32(const rv_comm *c, const float *in, float *out, size_t n, rv_comm_op op, size_t chunk) {
    elem_type t = type_f32();
    all_reduce(c, &t, in, out, n, op, chunk, 0, "rv_comm_allreduce_f32 (test rounds)");
}

void rv_comm_test_reduce_scatter_f32v(const rv_comm *c, const float *in, float *out, const size_t *counts,
                                      size_t chunk) {
    elem_type t = type_f32();
    reduce_scatter(c, &t, in, out, counts, RV_COMM_SUM, chunk, "rv_comm_reduce_scatter_f32v (test rounds)");
}

void rv_comm_test_allgather_f32v(const rv_comm *c, const float *mine, float *out, const size_t *counts, size_t chunk) {
    elem_type t = type_f32();
    all_gather(c, &t, mine, out, counts, chunk, "rv_comm_allgather_f32v (test rounds)");
}
