/* Progress on rank 0: a live bar with rate and ETA on a terminal, and one plain line every
 * interval seconds otherwise (as under Slurm). Other ranks get a no-op handle. */
#ifndef RADVLM_CORE_PROGRESS_H
#define RADVLM_CORE_PROGRESS_H

#include <stdint.h>

typedef struct rv_progress rv_progress;

rv_progress *rv_progress_start(const char *label, uint64_t total, double interval_s);
/* done = items finished so far (on this rank; the caller scales when it knows the world). */
void rv_progress_update(rv_progress *p, uint64_t done);
/* A resumed job: items before `done` were finished earlier, so the rate and ETA count from here. */
void rv_progress_resume_at(rv_progress *p, uint64_t done);
/* Text shown after the rate and ETA on every following line (the trainer's loss, LR, ...);
 * copied, truncated to 255 bytes. */
void rv_progress_note(rv_progress *p, const char *note);
void rv_progress_finish(rv_progress *p);
/* Ends a job stopped before its total (a checkpoint-and-exit): the final line shows where it
 * stopped, not 100%. Frees p. */
void rv_progress_stop(rv_progress *p);
/* Frees p without a final line (the work failed: the bar must not claim 100%). */
void rv_progress_abandon(rv_progress *p);

/* Monotonic seconds. */
double rv_now(void);

#endif
