/* The stop flag (train/signals.h), by raising real signals in this process:
 *  - after install, raise(SIGUSR1) returns (the process lives) and the flag reads SIGUSR1; a later
 *    SIGTERM does not overwrite the first request; clear resets it;
 *  - restore puts back the handler that was there before (a test handler counting calls);
 *  - in a child, after restore with default handlers, SIGTERM terminates it as usual. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "train/signals.h"

static volatile sig_atomic_t prev_calls;
static void prev_handler(int sig) { (void)sig; prev_calls++; }

int main(void) {
    rv_err err;
    struct sigaction sa = {0};
    sa.sa_handler = prev_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    rv_signals_saved saved = {0};
    CHECK(rv_signals_install(&saved, &err) == 0 && saved.installed);
    CHECK(rv_signals_pending() == 0);
    CHECK(raise(SIGUSR1) == 0);
    CHECK(rv_signals_pending() == SIGUSR1);
    CHECK(prev_calls == 0); /* ours ran, not the previous one */
    CHECK(raise(SIGTERM) == 0); /* would kill the process without the handler */
    CHECK(rv_signals_pending() == SIGUSR1);
    rv_signals_clear();
    CHECK(rv_signals_pending() == 0);
    CHECK(raise(SIGTERM) == 0);
    CHECK(rv_signals_pending() == SIGTERM);

    rv_signals_restore(&saved);
    CHECK(!saved.installed);
    CHECK(raise(SIGUSR1) == 0);
    CHECK(prev_calls == 1); /* the previous handler is back */
    CHECK(rv_signals_pending() == SIGTERM); /* restore keeps the flag's value */
    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    CHECK(now.sa_handler == SIG_DFL);

    /* a child that installs, restores, then gets SIGTERM dies of it */
    pid_t pid = fork();
    if (pid == 0) {
        rv_signals_saved s2 = {0};
        signal(SIGTERM, SIG_DFL);
        if (rv_signals_install(&s2, &err)) _exit(3);
        raise(SIGTERM);
        if (rv_signals_pending() != SIGTERM) _exit(4);
        rv_signals_restore(&s2);
        raise(SIGTERM);
        _exit(5); /* not reached */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    /* install twice keeps working (the step loop may run more than once per process) */
    CHECK(rv_signals_install(&saved, &err) == 0 && rv_signals_pending() == 0);
    CHECK(kill(getpid(), SIGUSR1) == 0 && rv_signals_pending() == SIGUSR1);
    rv_signals_restore(&saved);
    return check_summary("signals");
}
