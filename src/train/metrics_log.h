/* RUN/log.h5: training metrics as HDF5 tables, one row per step, appended as training goes and
 * readable while it runs (h5py: `pd.DataFrame(h5py.File("RUN/log.h5")["train"][()])`).
 *
 * A table is a 1-D extendible compound dataset /<table> whose fields are int64 or float64
 * columns; column 0 is always `step` (int64). Every append opens the file, extends the table by
 * one row, writes it and closes the file, so between steps the file is consistent and unlocked
 * (readers and plots may open it) and a kill between steps loses nothing.
 *
 * Resume: opening with keep_through = S drops the rows with step > S, the steps a run killed after
 * its checkpoint at S logged and will redo, so no row is duplicated or lost. A file that is not
 * readable HDF5 (a kill inside an append, the only window) is moved aside to log.h5.damaged-<time>
 * with a warning, and a new one started. */
#ifndef RADVLM_TRAIN_METRICS_LOG_H
#define RADVLM_TRAIN_METRICS_LOG_H

#include <stdint.h>

#include "core/error.h"

typedef enum rv_mcol_type { RV_MCOL_I64 = 0, RV_MCOL_F64 = 1 } rv_mcol_type;

typedef struct rv_mcol {
    const char *name;
    rv_mcol_type type;
} rv_mcol;

typedef union rv_mval {
    int64_t i;   /* RV_MCOL_I64 columns */
    double f;    /* RV_MCOL_F64 columns */
} rv_mval;

typedef struct rv_mlog rv_mlog;

/* Opens table `table` of the log at path, creating the file and the table when absent. cols[0]
 * must be {"step", RV_MCOL_I64}; an existing table must have exactly these columns (names, types,
 * order) or the error names the first difference. keep_through >= 0 truncates the table to the
 * rows with step <= keep_through; -1 keeps every row. */
int rv_mlog_open(rv_mlog **out, const char *path, const char *table, const rv_mcol *cols, int ncols,
                 int64_t keep_through, rv_err *err);
/* Appends one row, vals[ncols] in column order; on disk when it returns. */
int rv_mlog_append(rv_mlog *l, const rv_mval *vals, rv_err *err);
uint64_t rv_mlog_rows(const rv_mlog *l);
void rv_mlog_close(rv_mlog *l);

/* One column of a table (tests, tools): *vals malloc'd [*n] (NULL when n = 0). */
int rv_mlog_read_column(const char *path, const char *table, const char *column, rv_mval **vals, uint64_t *n,
                        rv_err *err);

/* The sft `train` table's columns: step, loss, lr_<group> for each of the ngroups group names,
 * grad_norm, tokens, time (seconds since the run started), skipped (1 when the step was skipped
 * for a non-finite loss or gradient). *cols and the names are malloc'd; free with rv_mlog_cols_free. */
int rv_mlog_train_columns(const char *const *groups, int ngroups, rv_mcol **cols, int *ncols);
void rv_mlog_cols_free(rv_mcol *cols, int ncols);

#endif
