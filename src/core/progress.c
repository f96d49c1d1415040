#define _POSIX_C_SOURCE 200809L
#include "core/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"

struct rv_progress {
    char label[64];
    uint64_t total, done, printed; /* printed: done at the last line, to not repeat it */
    uint64_t base;                 /* done when this process started (a resumed job) */
    char note[256];
    double start, last_print, interval;
    int tty, active;
};

double rv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

rv_progress *rv_progress_start(const char *label, uint64_t total, double interval_s) {
    rv_progress *p = rv_xcalloc(1, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->printed = UINT64_MAX; /* nothing printed yet */
    p->start = p->last_print = rv_now();
    p->interval = interval_s > 0 ? interval_s : 10.0;
    p->active = rv_log_rank() == 0;
    p->tty = p->active && isatty(STDERR_FILENO);
    return p;
}

static void fmt_eta(double s, char *buf, size_t n) {
    if (s < 0 || s > 1e7) { snprintf(buf, n, "--:--"); return; }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

static void print(rv_progress *p, int final) {
    p->printed = p->done;
    double el = rv_now() - p->start;
    double rate = el > 0 && p->done >= p->base ? (double)(p->done - p->base) / el : 0;
    double frac = p->total ? (double)p->done / (double)p->total : 1.0;
    char eta[32];
    fmt_eta(rate > 0 ? (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate : -1, eta, sizeof eta);
    if (p->tty) {
        char bar[31];
        int filled = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %llu/%llu %5.1f%% %.1f/s ETA %s%s%s%s", p->label, bar, (unsigned long long)p->done,
                (unsigned long long)p->total, 100 * frac, rate, eta, p->note[0] ? " " : "", p->note, final ? "\n" : "");
        fflush(stderr);
    } else {
        rv_info("%s: %llu/%llu (%.1f%%) %.1f/s ETA %s%s%s", p->label, (unsigned long long)p->done,
                (unsigned long long)p->total, 100 * frac, rate, eta, p->note[0] ? " " : "", p->note);
    }
}

void rv_progress_update(rv_progress *p, uint64_t done) {
    if (!p) return;
    p->done = done;
    if (!p->active) return;
    double now = rv_now();
    double every = p->tty ? 0.2 : p->interval;
    if (now - p->last_print >= every) {
        p->last_print = now;
        print(p, 0);
    }
}

void rv_progress_resume_at(rv_progress *p, uint64_t done) {
    if (!p) return;
    p->base = p->done = done;
}

void rv_progress_note(rv_progress *p, const char *note) {
    if (!p) return;
    snprintf(p->note, sizeof p->note, "%s", note);
}

void rv_progress_finish(rv_progress *p) {
    if (!p) return;
    if (p->active) {
        if (p->done < p->total) p->done = p->total;
        if (p->tty || p->printed != p->done) print(p, 1);
    }
    free(p);
}

void rv_progress_stop(rv_progress *p) {
    if (!p) return;
    if (p->active && (p->tty || p->printed != p->done)) print(p, 1);
    free(p);
}

void rv_progress_abandon(rv_progress *p) {
    if (p && p->active && p->tty) fputc('\n', stderr);
    free(p);
}
