/* Progress off a terminal (as under Slurm): plain lines with count, percentage, rate and ETA,
 * at most one per interval, and a single final line. */
#define _DEFAULT_SOURCE /* mkstemp, usleep */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "core/progress.h"

static int count_lines(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

int main(void) {
    char path[] = "/tmp/rvprogXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    FILE *log = freopen(path, "w", stderr); /* not a terminal */
    CHECK(log != NULL);

    rv_progress *p = rv_progress_start("demo", 100, 0.05);
    for (int i = 1; i <= 100; i++) {
        rv_progress_update(p, (uint64_t)i);
        if (i % 10 == 0) usleep(30000);
    }
    rv_progress_finish(p);
    /* A job stopped early (checkpoint and exit) ends on the step it reached, not 100%. */
    p = rv_progress_start("stopped", 30, 10);
    rv_progress_update(p, 4);
    rv_progress_stop(p);
    /* Zero interval items still finish with one line. */
    p = rv_progress_start("empty", 0, 10);
    rv_progress_finish(p);
    fflush(stderr);

    char *out;
    size_t len;
    rv_err err;
    CHECK(rv_read_file(path, &out, &len, &err) == 0);
    if (out) {
        int lines = count_lines(out, "demo: ");
        /* ~0.3 s of work at a 0.05 s interval: a handful of lines, far fewer than 100 updates. */
        CHECK(lines >= 2 && lines <= 12);
        CHECK(count_lines(out, "demo: 100/100 (100.0%)") == 1);
        CHECK(strstr(out, "/s ETA ") != NULL);
        CHECK(strchr(out, '\r') == NULL); /* no live bar off a terminal */
        CHECK(count_lines(out, "empty: 0/0") == 1);
        CHECK(count_lines(out, "stopped: 4/30 (13.3%)") == 1);
        CHECK(strstr(out, "stopped: 30/30") == NULL);
        if (check_failed_) printf("captured:\n%s", out);
        free(out);
    }
    unlink(path);
    return check_summary("test_progress");
}
