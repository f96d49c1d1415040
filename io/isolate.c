/* rv_isolate_run (io/isolate.h): fork, limits in the child, a polling wait with a wall clock. */
#define _GNU_SOURCE
#include "io/isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define RV_ISOLATE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RV_ISOLATE_ASAN 1
#endif
#endif

void *rv_shared_alloc(size_t len) {
    void *p = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void rv_shared_free(void *p, size_t len) {
    if (p) munmap(p, len ? len : 1);
}

/* The address space this process has mapped now (bytes), from /proc/self/statm; 0 if unknown. */
static size_t current_address_space(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void child_limits(const rv_isolate_limits *lim, size_t address_space) {
    /* a fatal signal ends the child (the parent reports it), whatever handler the parent has */
    const int fatal[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    struct rlimit r = {0, 0};
    setrlimit(RLIMIT_CORE, &r); /* an assertion in the child is a bad record, not a core file */
    if (lim->cpu_seconds) {
        r.rlim_cur = lim->cpu_seconds;
        r.rlim_max = (rlim_t)lim->cpu_seconds + 1;
        setrlimit(RLIMIT_CPU, &r);
    }
#ifndef RV_ISOLATE_ASAN
    if (address_space) {
        r.rlim_cur = r.rlim_max = address_space;
        setrlimit(RLIMIT_AS, &r);
    }
#else
    (void)address_space;
#endif
}

/* Keeps the last bytes the child wrote to stderr (the library's own words on why it stopped). */
typedef struct tail_buf {
    char b[400];
    size_t n;
} tail_buf;

/* Reads what is there; returns 0 at end of file (the child has exited), 1 otherwise. */
static int drain(int fd, tail_buf *t) {
    char chunk[4096];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            if (t->n == sizeof t->b - 1) {
                memmove(t->b, t->b + 1, t->n - 1);
                t->n--;
            }
            t->b[t->n++] = chunk[i] == '\n' ? ' ' : chunk[i];
        }
    }
    t->b[t->n] = '\0';
    return r == 0 ? 0 : 1;
}

int rv_isolate_run(const char *where, int (*fn)(void *arg), void *arg, const rv_isolate_limits *lim, rv_err *err) {
    /* measured before the fork: the child starts with the same mappings */
    const size_t base = lim->extra_address_space ? current_address_space() : 0;
    const size_t address_space = base ? base + lim->extra_address_space : 0;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return rv_fail(err, "%s: cannot start the isolated decoder (pipe: %s)", where, strerror(errno));
    const pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return rv_fail(err, "%s: cannot start the isolated decoder (fork: %s)", where, strerror(errno));
    }
    if (pid == 0) {
        /* the child's stderr goes to the parent, which quotes its end in the message */
        close(pfd[0]);
        dup2(pfd[1], 2);
        close(pfd[1]);
        child_limits(lim, address_space);
        _exit(fn(arg) == 0 ? 0 : 1); /* _exit: no atexit handlers (MPI), no stdio flush of the parent's buffers */
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    tail_buf said = {{0}, 0};
    const double t0 = now_s();
    int st = 0;
    bool done = false;
    /* The pipe reaches end-of-file when the child exits: poll() wakes at once. A child that a
     * stray fork in another thread keeps the pipe open for is still seen by waitpid, 50 ms later. */
    while (!done) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        const int r = poll(&p, 1, 50);
        if (r > 0 && drain(pfd[0], &said) == 0) done = waitpid(pid, &st, 0) == pid;
        else if (r >= 0 || errno == EINTR) done = waitpid(pid, &st, WNOHANG) == pid;
        else {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            close(pfd[0]);
            return rv_fail(err, "%s: lost the isolated decoder (poll: %s)", where, strerror(errno));
        }
        if (!done && lim->wall_seconds > 0 && now_s() - t0 > lim->wall_seconds) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            close(pfd[0]);
            return rv_fail(err, "%s: the decoder did not finish within %.0f s and was stopped; the file is damaged "
                                "(or raise the limit)", where, lim->wall_seconds);
        }
    }
    drain(pfd[0], &said);
    close(pfd[0]);
    if (WIFEXITED(st)) {
        if (WEXITSTATUS(st) == 0) return 0;
        if (WEXITSTATUS(st) == 1) return 1;
        return rv_fail(err, "%s: the decoder exited with status %d; the file is damaged", where, WEXITSTATUS(st));
    }
    const int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    const char *why = sig == SIGABRT   ? " (an assertion or abort in the decoding library)"
                      : sig == SIGXCPU ? " (its CPU time limit)"
                      : sig == SIGSEGV || sig == SIGBUS ? " (a crash in the decoding library)"
                      : "";
    return rv_fail(err, "%s: the decoder died on signal %d (%s)%s; the file is damaged%s%s%s", where, sig, strsignal(sig),
                   why, said.n ? " [decoder said: " : "", said.b, said.n ? "]" : "");
}
