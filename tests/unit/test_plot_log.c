/* tools/plot_log.py on a log written by the C API (train/metrics_log.h):
 *  - a run of 60 steps: six lr_<group> columns from the HF cosine schedule (train/schedule.h,
 *    3 warmup steps), loss 0.3 + 7.6 * 0.95^(step-1), grad norm 0.5 + 5 * 0.97^step, 1000 tokens
 *    and 0.5 s per step, step 25 skipped (loss NaN); an "eval" table every 10 steps with
 *    loss = the train formula + 0.2;
 *  - `plot_log.py DIR --summary -o PNG` prints the rows, the skipped count, the first and last
 *    finite train loss, tokens/s (60000 tokens / 30 s = 2000) and the eval values, each equal to
 *    what was written (formatted %.6g on both sides), and writes a PNG (signature checked);
 *  - a GRPO run's log (the grpo phase's tables: "grpo" with every column of src/train/grpo_loop.c,
 *    20 steps, reward mean 0.1 + 0.01 * step except 0.5 at step 13, kl_loss 0.001 * step, pg_clipfrac
 *    0.01 / step, response length mean 20 + step, 500 tokens and 0.25 s per step, step 7 skipped;
 *    "val" at steps 0, 5, ..., 20 with reward 0.2 + 0.01 * step except 0.45 at step 10): the
 *    summary's rows, skipped count, first / last / best (and its step) mean and validation
 *    rewards, tokens/s (10000 tokens / 5 s = 2000), and a four-panel PNG.
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

static double grpo_reward(int s) { return s == 13 ? 0.5 : 0.1 + 0.01 * s; }
static double grpo_val_reward(int s) { return s == 10 ? 0.45 : 0.2 + 0.01 * s; }

/* Runs `plot_log.py DIR --summary -o PNG` into out; returns its exit status. */
static int run_plot(const char *root, const char *dir, const char *png, char *out, size_t n) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "python3 '%s/tools/plot_log.py' '%s' --summary -o '%s' 2>&1", root, dir, png);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    return pclose(p);
}

/* A PNG file (signature) of more than min_bytes: curves, not an empty canvas. */
static int is_png(const char *png, long min_bytes) {
    unsigned char sig[8] = {0};
    FILE *f = fopen(png, "rb");
    if (!f) return 0;
    int ok = fread(sig, 1, 8, f) == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0;
    fseek(f, 0, SEEK_END);
    ok = ok && ftell(f) > min_bytes;
    fclose(f);
    return ok;
}

/* A GRPO run's log.h5 (tables grpo and val, as the grpo phase writes them) and its summary. */
static void check_grpo_log(const char *root, const char *tmp) {
    rv_err err = {{0}};
    char dir[512], png[600];
    snprintf(dir, sizeof dir, "%s/grpo", tmp);
    CHECK(rv_mkdir_p(dir, &err) == 0);
    char *path = rv_path_join(dir, "log.h5");
    /* the columns of table grpo, in the phase's order (src/train/grpo_loop.c grpo_cols) */
    static const char *names[] = {"reward_mean", "reward_std", "reward_min", "reward_max", "penalties", "fallbacks",
                                  "adv_mean", "adv_std", "adv_min", "adv_max", "pg_loss", "pg_clipfrac",
                                  "pg_clipfrac_lower", "ppo_kl", "kl_loss", "grad_norm", "skipped",
                                  "response_length_mean", "response_length_max", "response_clip_ratio", "entropy",
                                  "tokens", "throughput", "reward_pairs_per_s", "time_rollout", "time_reward_wait",
                                  "time_old_log_prob", "time_ref_log_prob", "time_update", "time_step", "time"};
    enum { NG = sizeof names / sizeof *names };
    rv_mcol cols[NG + 1] = {{"step", RV_MCOL_I64}};
    for (int c = 0; c < NG; c++) cols[c + 1] = (rv_mcol){names[c], RV_MCOL_F64};
    rv_mlog *l;
    CHECK(rv_mlog_open(&l, path, "grpo", cols, NG + 1, -1, &err) == 0);
    for (int s = 1; s <= 20; s++) {
        rv_mval row[NG + 1];
        for (int c = 0; c <= NG; c++) row[c].f = 0.01 * c; /* the columns the summary does not read */
        row[0].i = s;
        double r = grpo_reward(s);
        row[1].f = r, row[2].f = 0.05, row[3].f = r - 0.1, row[4].f = r + 0.1;
        row[12].f = 0.01 / s;     /* pg_clipfrac */
        row[13].f = 0.002 / s;    /* pg_clipfrac_lower */
        row[14].f = 0.0005 * s;   /* ppo_kl */
        row[15].f = 0.001 * s;    /* kl_loss */
        row[17].f = s == 7;       /* skipped */
        row[18].f = 20 + s;       /* response_length_mean */
        row[19].f = 40;           /* response_length_max */
        row[22].f = 500;          /* tokens */
        row[NG].f = 0.25 * s;     /* time (cumulative) */
        CHECK(rv_mlog_append(l, row, &err) == 0);
    }
    rv_mlog_close(l);
    rv_mcol vcols[9] = {{"step", RV_MCOL_I64},           {"reward", RV_MCOL_F64},   {"google_bleu", RV_MCOL_F64},
                        {"rouge_l", RV_MCOL_F64},        {"label_f1", RV_MCOL_F64}, {"response_length_mean", RV_MCOL_F64},
                        {"penalties", RV_MCOL_F64},      {"fallbacks", RV_MCOL_F64}, {"seconds", RV_MCOL_F64}};
    CHECK(rv_mlog_open(&l, path, "val", vcols, 9, -1, &err) == 0);
    for (int s = 0; s <= 20; s += 5) {
        rv_mval row[9] = {{.i = s}, {.f = grpo_val_reward(s)}, {.f = 0.1}, {.f = 0.2}, {.f = 0.3}, {.f = 25},
                          {.f = 0},  {.f = 0},                   {.f = 1}};
        CHECK(rv_mlog_append(l, row, &err) == 0);
    }
    rv_mlog_close(l);

    snprintf(png, sizeof png, "%s/grpo.png", tmp);
    char out[8192];
    CHECK(run_plot(root, dir, png, out, sizeof out) == 0);
    printf("%s", out);
    char want[512];
    CHECK(strstr(out, "grpo rows 20 steps 1..20 skipped 1\n") != NULL);
    snprintf(want, sizeof want, "grpo reward mean first %.6g last %.6g best %.6g at step 13\n", grpo_reward(1),
             grpo_reward(20), grpo_reward(13));
    CHECK(strstr(out, want) != NULL);
    snprintf(want, sizeof want, "grpo kl_loss first %.6g last %.6g\n", 0.001 * 1, 0.001 * 20);
    CHECK(strstr(out, want) != NULL);
    snprintf(want, sizeof want, "grpo pg_clipfrac first %.6g last %.6g\n", 0.01 / 1, 0.01 / 20);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "grpo response_length_mean first 21 last 40\n") != NULL);
    CHECK(strstr(out, "tokens 10000 time 5 s tokens/s 2000\n") != NULL); /* 20 x 500 tokens / (20 x 0.25 s) */
    snprintf(want, sizeof want, "val rows 5 steps 0..20 reward first %.6g last %.6g best %.6g at step 10\n",
             grpo_val_reward(0), grpo_val_reward(20), grpo_val_reward(10));
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "train rows") == NULL); /* not drawn as an SFT log */
    CHECK(is_png(png, 20000));
    free(path);
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
    char out[8192] = {0};
    CHECK(run_plot(root, tmp, png, out, sizeof out) == 0);
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

    CHECK(is_png(png, 20000)); /* three panels of curves, not an empty canvas */
    check_grpo_log(root, tmp);
    /* a missing log is an error naming the file */
    snprintf(cmd, sizeof cmd, "python3 '%s/tools/plot_log.py' '%s/nope.h5' 2>&1", root, tmp);
    FILE *p = popen(cmd, "r");
    size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[got] = 0;
    int rc = p ? pclose(p) : 0;
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
