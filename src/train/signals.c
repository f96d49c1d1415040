#define _POSIX_C_SOURCE 200809L
#include "train/signals.h"

#include <errno.h>
#include <string.h>

/* The only mutable global of the train room: written by the handler, read by the step loop. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) {
    if (!stop_signal) stop_signal = sig; /* the first request wins; later ones change nothing */
}

int rv_signals_install(rv_signals_saved *saved, rv_err *err) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    if (sigaction(SIGUSR1, &sa, &saved->usr1) != 0)
        return rv_fail(err, "signals: cannot install the SIGUSR1 handler: %s", strerror(errno));
    if (sigaction(SIGTERM, &sa, &saved->term) != 0) {
        int e = errno;
        sigaction(SIGUSR1, &saved->usr1, NULL);
        return rv_fail(err, "signals: cannot install the SIGTERM handler: %s", strerror(e));
    }
    saved->installed = true;
    return 0;
}

void rv_signals_restore(rv_signals_saved *saved) {
    if (!saved->installed) return;
    sigaction(SIGUSR1, &saved->usr1, NULL);
    sigaction(SIGTERM, &saved->term, NULL);
    saved->installed = false;
}

int rv_signals_pending(void) { return (int)stop_signal; }

void rv_signals_clear(void) { stop_signal = 0; }
