/* Running a decoder in a child process, so that a library that aborts (an assertion), crashes,
 * loops or allocates without bound on a damaged file costs a bad record instead of the process
 * (and with it the MPI job). Used for every DICOM decode (io/dicom_gdcm.cpp): GDCM as packaged
 * asserts on many kinds of damaged input, down to its JPEG / JPEG-LS / JPEG 2000 / RLE codecs,
 * which no pre-check can rule out. The child is a fork(): it shares nothing writable with the
 * parent except a shared mapping (rv_shared_alloc) that carries the result back. */
#ifndef RADVLM_IO_ISOLATE_H
#define RADVLM_IO_ISOLATE_H

#include <stddef.h>

#include "core/error.h"

/* A mapping shared with the children forked after it is made (zero-filled). NULL on failure. */
void *rv_shared_alloc(size_t len);
void rv_shared_free(void *p, size_t len);

typedef struct rv_isolate_limits {
    unsigned cpu_seconds;       /* RLIMIT_CPU of the child (0: none) */
    double wall_seconds;        /* the child is killed after this long (0: no limit) */
    size_t extra_address_space; /* RLIMIT_AS = the parent's current address space + this (0: none;
                                   not applied in sanitizer builds, whose shadow memory is huge) */
} rv_isolate_limits;

/* Runs fn(arg) in a forked child (core dumps off, the limits applied); fn returns 0 on success
 * and must leave what it produced in shared memory, since the child's memory is gone after it.
 * Returns 0 when fn returned 0, 1 when it returned non-zero (its own message, e.g. in shared
 * memory, says why), or -1 with err "<where>: the decoder ..." when the child died (signal,
 * limit, timeout) or could not be started. */
int rv_isolate_run(const char *where, int (*fn)(void *arg), void *arg, const rv_isolate_limits *lim, rv_err *err);

#endif
