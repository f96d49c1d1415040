/* tools/plot_log.py on a log written by the C API (train/metrics_log.h):
 *  - a run of 60 steps: six lr_<group> columns from the HF cosine schedule (train/schedule.h,
 *    3 warmup steps), loss 0.3 + 7.6 * 0.95^(step-1), grad norm 0.5 + 5 * 0.97^step, 1000 tokens
 *    and 0.5 s per step, step 25 skipped (loss NaN); an "eval" table every 10 steps with
 *    loss = the train formula + 0.2;
 *  - `plot_log.py DIR --summary -o PNG` prints the rows, the skipped count, the first and last
 *    finite train loss, tokens/s (60000 tokens / 30 s = 2000) and the eval values, each equal to
 *    what was written (formatted %.6g on both sides), and writes a PNG (signature checked).
 * Skipped (77) when python3 lacks h5py or matplotlib (the tool is optional). */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "train/metrics_log.h"
#include "train/schedule.h"

static double train_loss(int s) { return 0.3 + 7.6 * pow(0.95, s - 1); }

/* The repository root from this file's path (CMake compiles it by absolute path). */
static void repo_root(char *out, size_t n) {
    snprintf(out, n, "%s", __FILE__);
    char *p = strstr(out, "/tests/unit/");
    if (p) *p = 0;
    else snprintf(out, n, ".");
}

int main(void) {
    const char *name = "test_plot_log";
    if (system("python3 -c 'import h5py, matplotlib' >/dev/null 2>&1") != 0)
        return check_skip(name, "python3 has no h5py or matplotlib (pip install h5py matplotlib)");
    char tmp[256] = "/tmp/rv_plotlog_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    rv_err err = {{0}};
    char *path = rv_path_join(tmp, "log.h5");

    const char *groups[] = {"vision.decay", "vision.no_decay", "projector.decay",
                            "projector.no_decay", "lm.decay", "lm.no_decay"};
    const double base_lr[6] = {2e-6, 2e-6, 1e-5, 1e-5, 1e-5, 1e-5};
    rv_lr_schedule sch;
    CHECK(rv_sched_init(&sch, 60, 0.05, -1, &err) == 0 && sch.warmup == 3); /* ceil(60 * 0.05) = 3 */
    rv_mcol *cols;
    int ncols;
    rv_mlog_train_columns(groups, 6, &cols, &ncols);
    rv_mlog *l;
    CHECK(rv_mlog_open(&l, path, "train", cols, ncols, -1, &err) == 0);
    for (int s = 1; s <= 60; s++) {
        rv_mval row[12];
        int k = 0;
        row[k++].i = s;
        row[k++].f = s == 25 ? NAN : train_loss(s);
        for (int g = 0; g < 6; g++) row[k++].f = base_lr[g] * rv_sched_factor(&sch, s - 1);
        row[k++].f = 0.5 + 5 * pow(0.97, s);
        row[k++].i = 1000;
        row[k++].f = 0.5 * s;
        row[k++].i = s == 25;
        CHECK(rv_mlog_append(l, row, &err) == 0);
    }
    rv_mlog_close(l);
    rv_mcol ecols[2] = {{"step", RV_MCOL_I64}, {"loss", RV_MCOL_F64}};
    CHECK(rv_mlog_open(&l, path, "eval", ecols, 2, -1, &err) == 0);
    for (int s = 10; s <= 60; s += 10) {
        rv_mval row[2] = {{.i = s}, {.f = train_loss(s) + 0.2}};
        CHECK(rv_mlog_append(l, row, &err) == 0);
    }
    rv_mlog_close(l);

    char root[4096], cmd[8192], png[512];
    repo_root(root, sizeof root);
    snprintf(png, sizeof png, "%s/curves.png", tmp);
    snprintf(cmd, sizeof cmd, "python3 '%s/tools/plot_log.py' '%s' --summary -o '%s' 2>&1", root, tmp, png);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    char out[8192] = {0};
    size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[got] = 0;
    int rc = p ? pclose(p) : -1;
    CHECK(rc == 0);
    printf("%s", out);

    /* expected lines, computed here from what was written */
    char want[512];
    CHECK(strstr(out, "train rows 60 steps 1..60 skipped 1\n") != NULL);
    snprintf(want, sizeof want, "train loss first %.6g last %.6g min %.6g\n", train_loss(1), train_loss(60),
             train_loss(60));
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "tokens 60000 time 30 s tokens/s 2000\n") != NULL);
    snprintf(want, sizeof want, "eval rows 6 loss first %.6g last %.6g\n", train_loss(10) + 0.2, train_loss(60) + 0.2);
    CHECK(strstr(out, want) != NULL);

    unsigned char sig[8] = {0};
    FILE *f = fopen(png, "rb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fread(sig, 1, 8, f) == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0);
        fseek(f, 0, SEEK_END);
        CHECK(ftell(f) > 20000); /* three panels of curves, not an empty canvas */
        fclose(f);
    }
    /* a missing log is an error naming the file */
    snprintf(cmd, sizeof cmd, "python3 '%s/tools/plot_log.py' '%s/nope.h5' 2>&1", root, tmp);
    p = popen(cmd, "r");
    got = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[got] = 0;
    rc = p ? pclose(p) : 0;
    CHECK(rc != 0 && strstr(out, "nope.h5 does not exist") != NULL);

    if (!getenv("KEEP_PLOT")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    } else {
        printf("kept %s\n", tmp);
    }
    free(path);
    rv_mlog_cols_free(cols, ncols);
    return check_summary(name);
}
