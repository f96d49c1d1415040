#define _POSIX_C_SOURCE 200809L /* sigaction */
#include "core/temp_files.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomic ints");

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_LIVE, SLOT_CLAIMED };

/* The registry (the one global the signal path needs; see the header). */
static struct {
    atomic_int state;
    pid_t owner; /* the process that tracks it: a forked child (a decoder) must not remove it */
    char path[RV_TEMP_PATH_MAX];
} temps[RV_TEMP_SLOTS];

void rv_temp_track(const char *path) {
    size_t n = strlen(path);
    if (n >= RV_TEMP_PATH_MAX) return;
    for (int i = 0; i < RV_TEMP_SLOTS; i++) {
        int expect = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&temps[i].state, &expect, SLOT_FILLING)) continue;
        memcpy(temps[i].path, path, n + 1);
        temps[i].owner = getpid();
        atomic_store(&temps[i].state, SLOT_LIVE);
        return;
    }
}

void rv_temp_forget(const char *path) {
    for (int i = 0; i < RV_TEMP_SLOTS; i++) {
        /* a live slot's path changes only after it is freed, by the thread that tracks it next */
        if (atomic_load(&temps[i].state) != SLOT_LIVE || strcmp(temps[i].path, path) != 0) continue;
        int expect = SLOT_LIVE;
        atomic_compare_exchange_strong(&temps[i].state, &expect, SLOT_FREE);
        return;
    }
}

void rv_temp_remove_all(void) {
    const pid_t me = getpid(); /* async-signal-safe, as unlink */
    for (int i = 0; i < RV_TEMP_SLOTS; i++) {
        int expect = SLOT_LIVE;
        if (!atomic_compare_exchange_strong(&temps[i].state, &expect, SLOT_CLAIMED)) continue;
        if (temps[i].owner != me) { /* a child's copy of its parent's table: the parent's files */
            atomic_store(&temps[i].state, SLOT_LIVE);
            continue;
        }
        unlink(temps[i].path);
        atomic_store(&temps[i].state, SLOT_FREE);
    }
}

size_t rv_temp_count(void) {
    size_t n = 0;
    for (int i = 0; i < RV_TEMP_SLOTS; i++) n += atomic_load(&temps[i].state) == SLOT_LIVE;
    return n;
}

static void on_ending_signal(int sig) {
    rv_temp_remove_all();
    /* then the default action, so the exit status says "killed by sig" as without us */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig); /* delivered when this handler returns (the signal is blocked inside it) */
}

int rv_temp_cleanup_on_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_ending_signal;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0) return -1;
    return 0;
}
