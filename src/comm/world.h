/* The process-wide MPI context: started once by main, it provides the whole job's communicator
 * (rv_comm_world, comm/comm.h); rv_die lives in comm/die.h. It is the one piece of global state comm/ keeps;
 * everything else is handed an rv_comm.
 * Failure protocol: a phase returns -1 on error; main agrees on the outcome with rv_comm_all_ok
 * so every rank exits non-zero together. A rank that fails alone while others wait in a
 * collective calls rv_die, which aborts the whole job (MPI_Abort). */
#ifndef RADVLM_COMM_WORLD_H
#define RADVLM_COMM_WORLD_H

#include "comm/comm.h"
#include "comm/die.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MPI_Init_thread (funneled) and the world communicator; -1 when MPI cannot start. */
int rv_world_init(int *argc, char ***argv);
/* Frees the world communicator and finalizes MPI (no-op without rv_world_init). */
void rv_world_finalize(void);

#ifdef __cplusplus
}
#endif

#endif
