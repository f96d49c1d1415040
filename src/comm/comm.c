/* The communicator handle (comm/comm.h): split and free, partitions, agreement, integer sums and
 * the byte collectives. The float collectives are in reduce.c. */
#include "comm/comm.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/transport.h"
#include "comm/die.h"
#include "comm/wait.h"

static const char *name_of(const rv_comm *c) { return c->impl ? c->impl->name : "(no transport)"; }

struct rv_comm_impl *rv_comm_transport(const rv_comm *c, const char *what) {
    if (!c) rv_die("%s: no communicator given (internal error: pass the phase's ctx->comm or a split of it)", what);
    if (c->impl) return c->impl;
    if (c->size > 1)
        rv_die("%s: this communicator of %d ranks has no transport (a layout-only one from rv_comm_layout); "
               "collectives need rv_comm_world() or a split of it (internal error)", what, c->size);
    return NULL;
}

void rv_comm_wrap(MPI_Comm parent, const char *name, rv_comm *out) {
    struct rv_comm_impl *impl = rv_xcalloc(1, sizeof *impl);
    rv_comm tmp = {0, 1, NULL};
    /* A duplicate: our point-to-point messages never meet another library's, and the error
     * handler is ours to set. */
    int rc = MPI_Comm_dup(parent, &impl->mpi);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(impl->mpi, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(impl->mpi, &tmp.rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(impl->mpi, &tmp.size);
    snprintf(impl->name, sizeof impl->name, "%s", name);
    tmp.impl = impl;
    rv_comm_check(&tmp, rc, "creating a communicator (MPI_Comm_dup)");
    *out = tmp;
}

int rv_comm_split(const rv_comm *parent, int color, int key, rv_comm *out, rv_err *err) {
    struct rv_comm_impl *t = rv_comm_transport(parent, "rv_comm_split");
    bool ok = color >= 0;
    if (!rv_comm_all_ok(parent, ok)) {
        if (!ok) return rv_fail(err, "rv_comm_split of %s: rank %d gave color %d; colors must be >= 0", name_of(parent),
                                parent->rank, color);
        return rv_fail(err, "rv_comm_split of %s: another rank gave a negative color (see its message)",
                       name_of(parent));
    }
    char name[64];
    snprintf(name, sizeof name, "split of %.24s (color %d)", name_of(parent), color);
    if (!t) { /* one rank, no transport: the group is this rank */
        *out = (rv_comm){0, 1, NULL};
        return 0;
    }
    MPI_Comm sub;
    rv_comm_check(parent, MPI_Comm_split(t->mpi, color, key, &sub), "rv_comm_split (MPI_Comm_split)");
    rv_comm_wrap(sub, name, out);
    rv_comm_check(out, MPI_Comm_free(&sub), "rv_comm_split (MPI_Comm_free)");
    return 0;
}

void *rv_comm_scratch(struct rv_comm_impl *t, size_t bytes) {
    if (t->scratch_bytes < bytes) {
        free(t->scratch);
        t->scratch = rv_xmalloc(bytes);
        t->scratch_bytes = bytes;
    }
    return t->scratch;
}

void rv_comm_free(rv_comm *c) {
    if (!c || !c->impl) return;
    if (c->impl->dev) c->impl->dev->release(c); /* a device binding left (comm/device.h) */
    rv_comm_check(c, MPI_Comm_free(&c->impl->mpi), "rv_comm_free (MPI_Comm_free)");
    free(c->impl->scratch);
    free(c->impl);
    c->impl = NULL;
}

rv_comm rv_comm_layout(int rank, int size) { return (rv_comm){rank, size, NULL}; }

void rv_slice_block(size_t n, int part, int nparts, size_t *begin, size_t *end) {
    size_t r = (size_t)part, p = (size_t)nparts;
    size_t base = n / p, extra = n % p;
    *begin = r * base + (r < extra ? r : extra);
    *end = *begin + base + (r < extra ? 1 : 0);
}

void rv_comm_slice(const rv_comm *c, size_t n, size_t *begin, size_t *end) {
    if (!c) rv_die("rv_comm_slice: no communicator given (internal error)");
    rv_slice_block(n, c->rank, c->size, begin, end);
}

bool rv_comm_all_ok(const rv_comm *c, bool ok) {
    struct rv_comm_impl *t = rv_comm_transport(c, "rv_comm_all_ok");
    if (!t) return ok;
    int v = ok ? 1 : 0, all = 0;
    MPI_Request r;
    rv_comm_check(c, MPI_Iallreduce(&v, &all, 1, MPI_INT, MPI_MIN, t->mpi, &r), "rv_comm_all_ok (MPI_Iallreduce)");
    rv_comm_wait(c, &r, NULL, 1, "rv_comm_all_ok");
    return all == 1;
}

void rv_comm_barrier(const rv_comm *c) {
    struct rv_comm_impl *t = rv_comm_transport(c, "rv_comm_barrier");
    if (!t) return;
    MPI_Request r;
    rv_comm_check(c, MPI_Ibarrier(t->mpi, &r), "rv_comm_barrier (MPI_Ibarrier)");
    rv_comm_wait(c, &r, NULL, 1, "rv_comm_barrier");
}

uint64_t rv_comm_sum_u64(const rv_comm *c, uint64_t v) {
    struct rv_comm_impl *t = rv_comm_transport(c, "rv_comm_sum_u64");
    if (!t) return v;
    uint64_t s = 0;
    MPI_Request r;
    rv_comm_check(c, MPI_Iallreduce(&v, &s, 1, MPI_UINT64_T, MPI_SUM, t->mpi, &r), "rv_comm_sum_u64 (MPI_Iallreduce)");
    rv_comm_wait(c, &r, NULL, 1, "rv_comm_sum_u64");
    return s;
}

/* Large buffers travel in chunks so that counts fit MPI's int. */
#define CHUNK ((size_t)1 << 30)

static void send_big(const rv_comm *c, const char *buf, size_t len, int dest) {
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        MPI_Request r;
        rv_comm_check(c, MPI_Isend(buf + off, (int)n, MPI_BYTE, dest, RV_TAG_GATHER, c->impl->mpi, &r),
                      "rv_comm_gather_bytes (MPI_Isend)");
        rv_comm_wait(c, &r, &dest, 1, "rv_comm_gather_bytes (sending to the root)");
    }
}

static void recv_big(const rv_comm *c, char *buf, size_t len, int src) {
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        MPI_Request r;
        rv_comm_check(c, MPI_Irecv(buf + off, (int)n, MPI_BYTE, src, RV_TAG_GATHER, c->impl->mpi, &r),
                      "rv_comm_gather_bytes (MPI_Irecv)");
        rv_comm_wait(c, &r, &src, 1, "rv_comm_gather_bytes (receiving on the root)");
    }
}

static void check_root(const rv_comm *c, int root, const char *what) {
    if (root < 0 || root >= c->size)
        rv_die("%s: root %d is not a rank of a communicator of %d (internal error)", what, root, c->size);
}

void rv_comm_gather_bytes(const rv_comm *c, const void *buf, size_t len, int root, char **out, size_t *out_len) {
    struct rv_comm_impl *t = rv_comm_transport(c, "rv_comm_gather_bytes");
    check_root(c, root, "rv_comm_gather_bytes");
    if (!t) {
        *out = rv_xmalloc(len + 1);
        if (len) memcpy(*out, buf, len);
        (*out)[len] = 0;
        *out_len = len;
        return;
    }
    int rank = c->rank, size = c->size;
    unsigned long long mine = len;
    unsigned long long *lens = rank == root ? rv_xmalloc((size_t)size * sizeof *lens) : NULL;
    MPI_Request r;
    rv_comm_check(c, MPI_Igather(&mine, 1, MPI_UNSIGNED_LONG_LONG, lens, 1, MPI_UNSIGNED_LONG_LONG, root, t->mpi, &r),
                  "rv_comm_gather_bytes (MPI_Igather of the lengths)");
    rv_comm_wait(c, &r, NULL, 1, "rv_comm_gather_bytes (the lengths)");
    if (rank != root) {
        send_big(c, buf, len, root);
        *out = NULL;
        *out_len = 0;
        return;
    }
    size_t total = 0;
    for (int r = 0; r < size; r++) total += (size_t)lens[r];
    char *all = rv_xmalloc(total + 1);
    size_t off = 0;
    for (int r = 0; r < size; r++) {
        if (r == root) { if (len) memcpy(all + off, buf, len); }
        else recv_big(c, all + off, (size_t)lens[r], r);
        off += (size_t)lens[r];
    }
    all[total] = 0;
    free(lens);
    *out = all;
    *out_len = total;
}

void rv_comm_bcast_bytes(const rv_comm *c, char **buf, size_t *len, int root) {
    struct rv_comm_impl *t = rv_comm_transport(c, "rv_comm_bcast_bytes");
    check_root(c, root, "rv_comm_bcast_bytes");
    if (!t) return;
    unsigned long long n = c->rank == root ? *len : 0;
    MPI_Request r;
    rv_comm_check(c, MPI_Ibcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, t->mpi, &r),
                  "rv_comm_bcast_bytes (MPI_Ibcast of the length)");
    rv_comm_wait(c, &r, NULL, 1, "rv_comm_bcast_bytes (the length)");
    if (c->rank != root) {
        *buf = rv_xmalloc((size_t)n + 1);
        (*buf)[n] = 0;
        *len = (size_t)n;
    }
    for (size_t off = 0; off < (size_t)n; off += CHUNK) {
        size_t k = (size_t)n - off < CHUNK ? (size_t)n - off : CHUNK;
        rv_comm_check(c, MPI_Ibcast(*buf + off, (int)k, MPI_BYTE, root, t->mpi, &r), "rv_comm_bcast_bytes (MPI_Ibcast)");
        rv_comm_wait(c, &r, NULL, 1, "rv_comm_bcast_bytes");
    }
}

void rv_comm_allgather_bytes(const rv_comm *c, const void *buf, size_t len, char **out, size_t *out_len) {
    rv_comm_gather_bytes(c, buf, len, 0, out, out_len);
    rv_comm_bcast_bytes(c, out, out_len, 0);
}
