/* RUN/log.h5 tables (train/metrics_log.h):
 *  - rows appended one at a time survive closing and reopening; every column reads back exactly;
 *  - resume: reopening with keep_through = 3 after steps 1..5 drops 4 and 5, and re-logging them
 *    gives steps 1..5 once each, with the new values;
 *  - a second table (eval) lives next to the first; a table with other columns is refused by name;
 *  - a damaged file is moved aside and a new log started;
 *  - h5py (when python3 has it) reads the table: field names, steps and values. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "train/metrics_log.h"

static char tmp[256];

static rv_mval *col(const char *path, const char *table, const char *name, uint64_t *n) {
    rv_err err;
    rv_mval *v = NULL;
    if (rv_mlog_read_column(path, table, name, &v, n, &err)) fprintf(stderr, "%s\n", err.msg);
    return v;
}

static int log_step(rv_mlog *l, int64_t step, double loss, rv_err *err) {
    /* step, loss, lr_vision, lr_lm, grad_norm, tokens, time, skipped */
    rv_mval row[8] = {{.i = step}, {.f = loss}, {.f = 2e-6 * (double)step}, {.f = 1e-5 * (double)step},
                      {.f = 1.0 + 0.5 * (double)step}, {.i = 1000 * step}, {.f = 0.25 * (double)step},
                      {.i = step == 2}};
    return rv_mlog_append(l, row, err);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/rv_mlog_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    rv_err err = {{0}};
    char *path = rv_path_join(tmp, "log.h5");
    const char *groups[] = {"vision", "lm"};
    rv_mcol *cols;
    int ncols;
    rv_mlog_train_columns(groups, 2, &cols, &ncols);
    CHECK(ncols == 8 && strcmp(cols[2].name, "lr_vision") == 0 && strcmp(cols[7].name, "skipped") == 0);

    rv_mlog *l;
    CHECK(rv_mlog_open(&l, path, "train", cols, ncols, -1, &err) == 0 && rv_mlog_rows(l) == 0);
    for (int s = 1; s <= 5; s++) CHECK(log_step(l, s, 10.0 - s, &err) == 0);
    CHECK(rv_mlog_rows(l) == 5);
    rv_mlog_close(l);

    uint64_t n = 0;
    rv_mval *steps = col(path, "train", "step", &n), *loss;
    CHECK(n == 5 && steps && steps[0].i == 1 && steps[4].i == 5);
    free(steps);
    rv_mval *tok = col(path, "train", "tokens", &n), *lr = col(path, "train", "lr_lm", &n);
    CHECK(n == 5 && tok[2].i == 3000 && lr[2].f == 1e-5 * 3.0);
    free(tok);
    free(lr);
    rv_mval *sk = col(path, "train", "skipped", &n);
    CHECK(n == 5 && sk[0].i == 0 && sk[1].i == 1 && sk[2].i == 0);
    free(sk);

    /* reopen without truncation keeps everything */
    CHECK(rv_mlog_open(&l, path, "train", cols, ncols, -1, &err) == 0 && rv_mlog_rows(l) == 5);
    rv_mlog_close(l);
    /* resume from a checkpoint at step 3: steps 4 and 5 are logged again, once */
    CHECK(rv_mlog_open(&l, path, "train", cols, ncols, 3, &err) == 0 && rv_mlog_rows(l) == 3);
    CHECK(log_step(l, 4, 40.0, &err) == 0 && log_step(l, 5, 50.0, &err) == 0 && rv_mlog_rows(l) == 5);
    rv_mlog_close(l);
    steps = col(path, "train", "step", &n);
    loss = col(path, "train", "loss", &n);
    CHECK(n == 5);
    bool ok = n == 5;
    for (uint64_t i = 0; ok && i < n; i++) ok = steps[i].i == (int64_t)i + 1;
    CHECK(ok);
    CHECK(n == 5 && loss[0].f == 9.0 && loss[2].f == 7.0 && loss[3].f == 40.0 && loss[4].f == 50.0);
    free(steps);
    free(loss);
    /* keep_through past the end keeps all */
    CHECK(rv_mlog_open(&l, path, "train", cols, ncols, 99, &err) == 0 && rv_mlog_rows(l) == 5);
    rv_mlog_close(l);

    /* a second table in the same file */
    rv_mcol ecols[] = {{"step", RV_MCOL_I64}, {"valid_loss", RV_MCOL_F64}};
    CHECK(rv_mlog_open(&l, path, "eval", ecols, 2, -1, &err) == 0);
    CHECK(rv_mlog_append(l, (rv_mval[]){{.i = 5}, {.f = 3.5}}, &err) == 0);
    rv_mlog_close(l);
    rv_mval *vl = col(path, "eval", "valid_loss", &n);
    CHECK(n == 1 && vl && vl[0].f == 3.5);
    free(vl);
    steps = col(path, "train", "step", &n);
    CHECK(n == 5);
    free(steps);

    /* another column set is refused, naming the column; so are bad table definitions */
    rv_mcol other[] = {{"step", RV_MCOL_I64}, {"loss", RV_MCOL_F64}, {"lr", RV_MCOL_F64}};
    CHECK(rv_mlog_open(&l, path, "train", other, 3, -1, &err) == -1 && strstr(err.msg, "'lr_vision'") &&
          strstr(err.msg, "'lr'"));
    rv_mcol nostep[] = {{"loss", RV_MCOL_F64}};
    CHECK(rv_mlog_open(&l, path, "x", nostep, 1, -1, &err) == -1 && strstr(err.msg, "'step'"));
    CHECK(rv_mlog_open(&l, path, "a/b", ecols, 2, -1, &err) == -1 && strstr(err.msg, "plain name"));
    CHECK(rv_mlog_read_column(path, "train", "nope", &vl, &n, &err) == -1 && strstr(err.msg, "'nope'"));

    /* h5py reads it (optional: only when python3 has h5py) */
    if (system("python3 -c 'import h5py' >/dev/null 2>&1") == 0) {
        char *cmd = rv_xasprintf(
            "python3 -c \"import h5py, sys\n"
            "f = h5py.File(sys.argv[1], 'r'); t = f['train'][()]\n"
            "assert t.dtype.names == ('step', 'loss', 'lr_vision', 'lr_lm', 'grad_norm', 'tokens', 'time', 'skipped'), t.dtype.names\n"
            "assert list(t['step']) == [1, 2, 3, 4, 5] and t['loss'][3] == 40.0 and t['tokens'][4] == 5000\n"
            "assert t['lr_vision'][1] == 4e-6 and list(t['skipped']) == [0, 1, 0, 0, 0]\n"
            "assert f['eval'][()]['valid_loss'][0] == 3.5\n"
            "print('h5py reads log.h5')\" '%s'", path);
        CHECK(system(cmd) == 0);
        free(cmd);
    } else {
        printf("note: python3 without h5py; skipped the h5py read check\n");
    }

    /* a damaged file is moved aside; the new log starts empty */
    CHECK(rv_write_atomic(path, "not hdf5 at all", 15, &err) == 0);
    rv_log_set_level(RV_LOG_ERROR);
    CHECK(rv_mlog_open(&l, path, "train", cols, ncols, 3, &err) == 0 && rv_mlog_rows(l) == 0);
    CHECK(log_step(l, 4, 1.0, &err) == 0);
    rv_mlog_close(l);
    char **names;
    size_t nn;
    int aside = 0;
    if (rv_list_dir(tmp, &names, &nn, &err) == 0) {
        for (size_t i = 0; i < nn; i++) aside += strncmp(names[i], "log.h5.damaged-", 15) == 0;
        rv_free_strv(names, nn);
    }
    CHECK(aside == 1);

    rv_mlog_cols_free(cols, ncols);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
    free(path);
    return check_summary("metrics_log");
}
