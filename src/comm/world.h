/* The process-wide MPI context: rank, size, and the few collectives the phases need.
 * Failure protocol: a phase returns -1 on error; main agrees on the outcome with
 * rv_world_all_ok so every rank exits non-zero together. A rank that fails alone while others
 * wait in a collective calls rv_die, which aborts the whole job (MPI_Abort). */
#ifndef RADVLM_COMM_WORLD_H
#define RADVLM_COMM_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rv_world {
    int rank, size;
} rv_world;

int rv_world_init(int *argc, char ***argv);
void rv_world_finalize(void);
const rv_world *rv_world_get(void);
static inline int rv_rank(void) { return rv_world_get()->rank; }
static inline int rv_nranks(void) { return rv_world_get()->size; }

/* Logs the message as an error and ends the job with exit code 1 on every rank. */
_Noreturn void rv_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Collective: true on every rank iff ok is true on every rank. */
bool rv_world_all_ok(bool ok);
void rv_world_barrier(void);
/* Collective sums. */
uint64_t rv_world_sum_u64(uint64_t v);
double rv_world_sum_f64(double v);

/* This rank's contiguous share [begin, end) of n items (block partition, rank order). */
void rv_world_slice(size_t n, size_t *begin, size_t *end);

/* Collective: concatenates every rank's bytes in rank order on root (others get NULL).
 * *out is malloc'd on root and NUL-terminated. */
int rv_world_gather_bytes(const void *buf, size_t len, int root, char **out, size_t *out_len);
/* Collective: the same concatenation on every rank. */
int rv_world_allgather_bytes(const void *buf, size_t len, char **out, size_t *out_len);
/* Collective: root's buffer to all ranks (*buf malloc'd on non-root ranks). */
int rv_world_bcast_bytes(char **buf, size_t *len, int root);

#endif
