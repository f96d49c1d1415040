#include "comm/world.h"

#include <limits.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"

/* The process-wide MPI context (allowed global state). Without rv_world_init (unit tests)
 * the world is one rank and the collectives are local. */
static struct {
    rv_world w;
    int mpi;
} g_world = {{0, 1}, 0};

int rv_world_init(int *argc, char ***argv) {
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return -1;
    g_world.mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_world.w.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world.w.size);
    return 0;
}

void rv_world_finalize(void) {
    if (g_world.mpi) MPI_Finalize();
    g_world.mpi = 0;
}

const rv_world *rv_world_get(void) { return &g_world.w; }

_Noreturn void rv_die(const char *fmt, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rv_error("%s", msg);
    fflush(stderr);
    if (g_world.mpi && g_world.w.size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

bool rv_world_all_ok(bool ok) {
    if (!g_world.mpi) return ok;
    int v = ok ? 1 : 0, all = 0;
    MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all == 1;
}

void rv_world_barrier(void) {
    if (g_world.mpi) MPI_Barrier(MPI_COMM_WORLD);
}

uint64_t rv_world_sum_u64(uint64_t v) {
    if (!g_world.mpi) return v;
    uint64_t s = 0;
    MPI_Allreduce(&v, &s, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    return s;
}

double rv_world_sum_f64(double v) {
    if (!g_world.mpi) return v;
    double s = 0;
    MPI_Allreduce(&v, &s, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return s;
}

void rv_world_slice(size_t n, size_t *begin, size_t *end) {
    size_t r = (size_t)g_world.w.rank, p = (size_t)g_world.w.size;
    size_t base = n / p, extra = n % p;
    *begin = r * base + (r < extra ? r : extra);
    *end = *begin + base + (r < extra ? 1 : 0);
}

/* Large buffers travel in chunks so that counts fit MPI's int. */
#define CHUNK ((size_t)1 << 30)

static void send_big(const char *buf, size_t len, int dest) {
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        MPI_Send(buf + off, (int)n, MPI_BYTE, dest, 7, MPI_COMM_WORLD);
    }
}

static void recv_big(char *buf, size_t len, int src) {
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        MPI_Recv(buf + off, (int)n, MPI_BYTE, src, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
}

int rv_world_gather_bytes(const void *buf, size_t len, int root, char **out, size_t *out_len) {
    int rank = g_world.w.rank, size = g_world.w.size;
    if (!g_world.mpi || size == 1) {
        *out = rv_xmalloc(len + 1);
        if (len) memcpy(*out, buf, len);
        (*out)[len] = 0;
        *out_len = len;
        return 0;
    }
    unsigned long long mine = len;
    unsigned long long *lens = rank == root ? rv_xmalloc((size_t)size * sizeof *lens) : NULL;
    MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, lens, 1, MPI_UNSIGNED_LONG_LONG, root, MPI_COMM_WORLD);
    if (rank != root) {
        send_big(buf, len, root);
        *out = NULL;
        *out_len = 0;
        return 0;
    }
    size_t total = 0;
    for (int r = 0; r < size; r++) total += (size_t)lens[r];
    char *all = rv_xmalloc(total + 1);
    size_t off = 0;
    for (int r = 0; r < size; r++) {
        if (r == root) { if (len) memcpy(all + off, buf, len); }
        else recv_big(all + off, (size_t)lens[r], r);
        off += (size_t)lens[r];
    }
    all[total] = 0;
    free(lens);
    *out = all;
    *out_len = total;
    return 0;
}

int rv_world_bcast_bytes(char **buf, size_t *len, int root) {
    if (!g_world.mpi || g_world.w.size == 1) return 0;
    unsigned long long n = g_world.w.rank == root ? *len : 0;
    MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, MPI_COMM_WORLD);
    if (g_world.w.rank != root) {
        *buf = rv_xmalloc((size_t)n + 1);
        (*buf)[n] = 0;
        *len = (size_t)n;
    }
    for (size_t off = 0; off < (size_t)n; off += CHUNK) {
        size_t c = (size_t)n - off < CHUNK ? (size_t)n - off : CHUNK;
        MPI_Bcast(*buf + off, (int)c, MPI_BYTE, root, MPI_COMM_WORLD);
    }
    return 0;
}

int rv_world_allgather_bytes(const void *buf, size_t len, char **out, size_t *out_len) {
    if (rv_world_gather_bytes(buf, len, 0, out, out_len)) return -1;
    return rv_world_bcast_bytes(out, out_len, 0);
}
