/* Stop requests from the batch system: SIGUSR1 (Slurm's --signal=USR1@120 warning before the
 * time limit) and SIGTERM (scancel, preemption). The handler only records which signal came, in a
 * sig_atomic_t (the one global flag the project allows); the step loop polls it at step
 * boundaries (all-reducing it, so every rank stops at the same step), saves and exits. Nothing
 * else happens in signal context. */
#ifndef RADVLM_TRAIN_SIGNALS_H
#define RADVLM_TRAIN_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

#include "core/error.h"

/* The handlers that were there before rv_signals_install, for rv_signals_restore. */
typedef struct rv_signals_saved {
    struct sigaction usr1, term;
    bool installed;
} rv_signals_saved;

/* Clears the flag and routes SIGUSR1 and SIGTERM to it (SA_RESTART, so interrupted I/O resumes). */
int rv_signals_install(rv_signals_saved *saved, rv_err *err);
/* Puts the previous handlers back (no-op when not installed). The flag keeps its value. */
void rv_signals_restore(rv_signals_saved *saved);
/* The first stop signal received since install/clear (SIGUSR1 or SIGTERM), 0 when none. */
int rv_signals_pending(void);
void rv_signals_clear(void);

#endif
