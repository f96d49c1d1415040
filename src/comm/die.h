/* Ending the whole job from one rank: the last resort when a rank fails alone while others may
 * wait in a collective (a silent peer must never leave the job hanging). Kept apart from the world
 * context so the collectives can call it without depending on who created the communicator. */
#ifndef RADVLM_COMM_DIE_H
#define RADVLM_COMM_DIE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Logs the message as an error, removes this rank's unfinished temporaries (core/temp_files.h) and ends the job with exit code 1 on every rank (MPI_Abort when
 * MPI is running with more than one rank, exit otherwise). */
_Noreturn void rv_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif
