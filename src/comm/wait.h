/* Inside comm/: the one way a collective waits for its messages. No MPI_Wait* and no blocking
 * MPI collective is used: every wait polls with a deadline, so a peer that stops answering
 * (SIGSTOP, a hang, a node the launcher lost) ends the job with a message naming it instead of
 * leaving every other rank spinning forever with no output.
 *
 * Polling: MPI_Testsome in a loop that spins for 1 ms after the last progress (a collective of a
 * few MB pays no sleep), then sleeps 20 us per poll until 0.1 s, then 1 ms (a rank waiting
 * minutes for a slow peer costs about 2% of a core, measured, not a whole one). Every
 * sleeping poll also answers roll calls (below).
 *
 * Deadline: comm.timeout_s (rv_comm_timeout, comm/world.h) of no progress: the clock restarts
 * whenever one of the awaited requests completes, so a long multi-round collective is fine as
 * long as it moves.
 *
 * Roll call: on timeout this rank sends a small message (tag RV_TAG_ROLL_CALL on the world) to
 * every other rank of the communicator. A rank that is itself waiting in any of our collectives
 * or point-to-point waits answers at once with what it waits in; a rank that does not answer
 * within a grace period (a quarter of the timeout, 1 to 10 s) is stopped, hung, or busy outside
 * the collectives. The job then ends (rv_die -> MPI_Abort) naming the silent ranks (rank in the
 * communicator, world rank, host) and what the answering ones wait in. When every rank answered
 * but nothing completed, ranks wait in different collectives: an internal error, also named.
 * When the awaited requests complete during the grace period, the peer was only slow: a warning,
 * and the collective goes on. */
#ifndef RADVLM_COMM_WAIT_H
#define RADVLM_COMM_WAIT_H

#include <mpi.h>

#include "comm/comm.h"

/* World-communicator tags of the roll call (distinct from the collectives' and services' tags). */
enum { RV_TAG_ROLL_CALL = 13, RV_TAG_ROLL_ANSWER = 14 };

/* Called by comm/world.c: starts the watch on the world's communicator (its duplicate; all-gathers
 * the ranks' host names, a collective) and stops it before that communicator is freed. The
 * timeout and the host names (rv_comm_set_timeout, rv_world_host: comm/world.h) live here. */
void rv_comm_watch_start(MPI_Comm world);
void rv_comm_watch_stop(void);

/* Waits until every request of req[0..n) completed (each becomes MPI_REQUEST_NULL). peer[i] is
 * the rank in c that request i exchanges with, or peer == NULL for a collective (all of c).
 * `what` names the collective in messages. Never returns on an MPI error or on a silent peer. */
void rv_comm_wait(const rv_comm *c, MPI_Request *req, const int *peer, int n, const char *what);

/* The pause before the next poll, idle_s seconds after the last progress: none in the first
 * millisecond, then 20 us until 0.1 s, then 1 ms. */
void rv_comm_pause(double idle_s);

/* Answers roll calls waiting for this rank; `what` and c (may be NULL) say what it waits in.
 * Cheap when there is none (one MPI_Iprobe). No-op without MPI. */
void rv_comm_answer_roll_calls(const rv_comm *c, const char *what);

#endif
