/* Temporary files in flight, removed when the process is stopped by a signal.
 *
 * Outputs are written under a temporary name and renamed when complete (core/fsutil.h, the HDF5
 * writers), so a killed process never leaves a finished-looking file; but without this it leaves
 * the temporaries (shard-00001-of-00003.h5.tmp-4242, .config.json.partial-4242, ...) behind. Every
 * writer tracks its temporary from creation to rename (or removal); on SIGTERM, SIGINT or SIGHUP
 * (scancel, Ctrl-C, a lost terminal, the launcher ending the job after an MPI_Abort) the handler
 * removes the tracked files, then lets the signal end the process as it would have. rv_die
 * removes them too before aborting the job.
 *
 * Signal safety: the table is a fixed array (no malloc); a slot's state is a lock-free atomic
 * (free -> filling -> live -> claimed), so the handler only unlinks slots that are fully written
 * and claims each before reading its path; a thread that tracks or forgets concurrently never
 * meets a half-written path. This table is the only global the signal path needs (a handler can
 * reach nothing else). Phases that install their own stop handler (training: save and exit,
 * train/signals.h) replace this one while they run and put it back after, so a stop request there
 * still ends in a checkpoint, whose writes then finish or clean up normally. */
#ifndef RADVLM_CORE_TEMP_FILES_H
#define RADVLM_CORE_TEMP_FILES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RV_TEMP_SLOTS 64      /* temporaries open at once in one process (a rank writes a few) */
#define RV_TEMP_PATH_MAX 4096 /* a longer path is not tracked (it is still removed on errors) */

/* Starts tracking path (call before creating the file). Without a free slot, or with a path
 * too long, the file is simply not tracked: a signal then leaves it, as before. */
void rv_temp_track(const char *path);
/* Stops tracking path (after its rename or removal); no-op when it is not tracked. */
void rv_temp_forget(const char *path);
/* Removes every file this process tracks and forgets it. Async-signal-safe. A forked child
 * (io/isolate's decoders) inherits the table and the handler, but removes none of its parent's
 * files: each entry records the process that tracked it. */
void rv_temp_remove_all(void);
/* Number of tracked files (tests). */
size_t rv_temp_count(void);

/* Routes SIGTERM, SIGINT and SIGHUP to: remove the tracked files, then end the process by the
 * same signal with its default action (the exit status a launcher expects). -1 with errno when
 * sigaction fails. */
int rv_temp_cleanup_on_signals(void);

#ifdef __cplusplus
}
#endif

#endif
