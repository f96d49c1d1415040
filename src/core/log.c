#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The process-wide logger (allowed global state): rank, size and threshold. */
static struct {
    int rank, size;
    rv_log_level min;
} g_log = {0, 1, RV_LOG_INFO};

void rv_log_init(int rank, int size, rv_log_level min_level) {
    g_log.rank = rank;
    g_log.size = size;
    g_log.min = min_level;
}

void rv_log_set_level(rv_log_level min_level) { g_log.min = min_level; }
int rv_log_rank(void) { return g_log.rank; }

int rv_log_level_parse(const char *s, rv_log_level *out) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) { *out = (rv_log_level)i; return 0; }
    return -1;
}

static void vlog(rv_log_level lvl, const char *fmt, va_list ap) {
    if (lvl < g_log.min) return;
    static const char *tags[] = {"debug", "info", "warn", "error"};
    char line[8192];
    int n = 0;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    n += (int)strftime(line, sizeof line, "%H:%M:%S ", &tm);
    if (g_log.size > 1) n += snprintf(line + n, sizeof line - (size_t)n, "[rank %d/%d] ", g_log.rank, g_log.size);
    if (lvl != RV_LOG_INFO) n += snprintf(line + n, sizeof line - (size_t)n, "%s: ", tags[lvl]);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /* One fputs per line so lines from ranks sharing a terminal do not interleave mid-line. */
    size_t len = strlen(line);
    if (len + 1 < sizeof line) { line[len] = '\n'; line[len + 1] = 0; }
    fputs(line, stderr);
}

void rv_log(rv_log_level lvl, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap);
    va_end(ap);
}

void rv_log0(rv_log_level lvl, const char *fmt, ...) {
    if (g_log.rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap);
    va_end(ap);
}
