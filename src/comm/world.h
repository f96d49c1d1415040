/* The process-wide MPI context: started once by main, it provides the whole job's communicator
 * (rv_comm_world, comm/comm.h); rv_die lives in comm/die.h. It is the one piece of global state comm/ keeps;
 * everything else is handed an rv_comm.
 * Failure protocol: a phase returns -1 on error; main agrees on the outcome with rv_comm_all_ok
 * so every rank exits non-zero together. A rank that fails alone while others wait in a
 * collective calls rv_die, which aborts the whole job (MPI_Abort). A rank that stops answering
 * (SIGSTOP, a hang, a dead node the launcher did not notice) is caught by the collective timeout
 * below: the ranks waiting for it end the job with a message naming it (comm/wait.h). */
#ifndef RADVLM_COMM_WORLD_H
#define RADVLM_COMM_WORLD_H

#include "comm/comm.h"
#include "comm/die.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MPI_Init_thread (funneled), the world communicator and every rank's host name (one
 * all-gather, for the messages that name a silent rank); -1 when MPI cannot start. */
int rv_world_init(int *argc, char ***argv);
/* Frees the world communicator and finalizes MPI (no-op without rv_world_init). */
void rv_world_finalize(void);

/* comm.timeout_s (kept with the waits, comm/wait.c): how long a wait inside any collective (or a point-to-point wait of a
 * collective) may see no progress before the job ends naming the silent rank; <= 0 = no limit.
 * One value for the whole job (main sets it from the config on every rank, before the phase). */
#define RV_COMM_TIMEOUT_DEFAULT_S 1800.0
void rv_comm_set_timeout(double seconds);
double rv_comm_timeout(void);

/* Host name of a world rank as MPI reports it ("?" before rv_world_init or out of range). */
const char *rv_world_host(int world_rank);

#ifdef __cplusplus
}
#endif

#endif
