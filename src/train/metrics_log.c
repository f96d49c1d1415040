#define _GNU_SOURCE
#include "train/metrics_log.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "io/h5util.h"

struct rv_mlog {
    char *path, *table;
    int ncols;
    rv_mcol *cols;    /* owned copies */
    uint64_t rows;
};

/* Packed compound of ncols 8-byte fields; file = true gives the little-endian file types. */
static hid_t row_type(const rv_mcol *cols, int ncols, bool file) {
    hid_t t = H5Tcreate(H5T_COMPOUND, (size_t)ncols * 8);
    for (int i = 0; i < ncols; i++) {
        hid_t ft = cols[i].type == RV_MCOL_I64 ? (file ? H5T_STD_I64LE : H5T_NATIVE_INT64)
                                               : (file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE);
        H5Tinsert(t, cols[i].name, (size_t)i * 8, ft);
    }
    return t;
}

static hid_t open_rw(const char *path, rv_err *err) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (f < 0) rv_h5_fail(err, "%s: cannot open the metrics log for writing", path);
    return f;
}

/* The table's columns must be cols, in order. */
static int check_columns(hid_t d, const char *where, const rv_mcol *cols, int ncols, rv_err *err) {
    hid_t t = H5Dget_type(d);
    int n = H5Tget_class(t) == H5T_COMPOUND ? H5Tget_nmembers(t) : -1;
    int rc = 0;
    for (int i = 0; i < ncols && i < n && !rc; i++) {
        char *name = H5Tget_member_name(t, (unsigned)i);
        H5T_class_t cl = H5Tget_member_class(t, (unsigned)i);
        bool type_ok = cl == (cols[i].type == RV_MCOL_I64 ? H5T_INTEGER : H5T_FLOAT);
        if (!name || strcmp(name, cols[i].name) != 0 || !type_ok)
            rc = rv_fail(err, "%s: column %d is '%s' (%s), this run logs '%s' (%s); the log belongs to another "
                         "configuration: use a new --run or move the log aside", where, i, name ? name : "?",
                         cl == H5T_INTEGER ? "int64" : "float64", cols[i].name,
                         cols[i].type == RV_MCOL_I64 ? "int64" : "float64");
        H5free_memory(name);
    }
    if (!rc && n != ncols)
        rc = rv_fail(err, "%s: the table has %d columns, this run logs %d; use a new --run or move the log aside", where,
                     n, ncols);
    H5Tclose(t);
    return rc;
}

static int create_table(hid_t f, const char *where, const char *table, const rv_mcol *cols, int ncols, rv_err *err) {
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {256};
    hid_t space = H5Screate_simple(1, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, chunk);
    H5Pset_fletcher32(dcpl);
    hid_t ft = row_type(cols, ncols, true);
    char name[300];
    snprintf(name, sizeof name, "/%s", table);
    hid_t d = H5Dcreate2(f, name, ft, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = d < 0 ? rv_h5_fail(err, "%s: cannot create table %s", where, name) : 0;
    if (d >= 0) H5Dclose(d);
    H5Tclose(ft);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

/* Reads the step column and shrinks the table to the rows with step <= keep_through. */
static int truncate_table(hid_t d, const char *where, int64_t keep_through, uint64_t *rows, rv_err *err) {
    hid_t s = H5Dget_space(d);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(s, &n, NULL);
    H5Sclose(s);
    *rows = n;
    if (keep_through < 0 || n == 0) return 0;
    int64_t *steps = rv_xmalloc(n * sizeof *steps);
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(int64_t));
    H5Tinsert(mt, "step", 0, H5T_NATIVE_INT64);
    int rc = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, steps) < 0
                 ? rv_h5_fail(err, "%s: cannot read the step column (damaged?)", where)
                 : 0;
    H5Tclose(mt);
    hsize_t keep = 0;
    while (!rc && keep < n && steps[keep] <= keep_through) keep++;
    free(steps);
    if (!rc && keep < n) {
        if (H5Dset_extent(d, &keep) < 0) rc = rv_h5_fail(err, "%s: cannot truncate the table", where);
        else rv_info("metrics log %s: dropped %llu row(s) after step %lld (resumed run)", where,
                     (unsigned long long)(n - keep), (long long)keep_through);
        *rows = keep;
    }
    return rc;
}

int rv_mlog_open(rv_mlog **out, const char *path, const char *table, const rv_mcol *cols, int ncols,
                 int64_t keep_through, rv_err *err) {
    *out = NULL;
    rv_h5_quiet();
    if (ncols < 1 || strcmp(cols[0].name, "step") != 0 || cols[0].type != RV_MCOL_I64)
        return rv_fail(err, "%s: metrics table %s must start with an int64 'step' column", path, table);
    if (!table[0] || strchr(table, '/')) return rv_fail(err, "%s: metrics table name '%s' is not a plain name", path, table);
    if (rv_exists(path) && H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        char *aside = rv_xasprintf("%s.damaged-%lld", path, (long long)time(NULL));
        if (rename(path, aside) != 0) {
            int rc = rv_fail(err, "%s: not a readable HDF5 file, and it cannot be moved aside; remove it", path);
            free(aside);
            return rc;
        }
        rv_warn("%s is not a readable HDF5 file (a run killed while logging?); moved it to %s, starting a new log", path,
                aside);
        free(aside);
    }
    hid_t f = rv_exists(path) ? open_rw(path, err) : rv_h5_create(path, err);
    if (f < 0) return -1;
    char name[300];
    snprintf(name, sizeof name, "/%s", table);
    uint64_t rows = 0;
    int rc = 0;
    htri_t has = H5Lexists(f, name, H5P_DEFAULT);
    if (has <= 0) H5Eclear2(H5E_DEFAULT);
    if (has <= 0) rc = create_table(f, path, table, cols, ncols, err);
    else {
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        if (d < 0) rc = rv_h5_fail(err, "%s: cannot open table %s", path, name);
        else {
            char where[600];
            snprintf(where, sizeof where, "%s:%s", path, name);
            rc = check_columns(d, where, cols, ncols, err);
            if (!rc) rc = truncate_table(d, where, keep_through, &rows, err);
            H5Dclose(d);
        }
    }
    if (H5Fclose(f) < 0 && !rc) rc = rv_h5_fail(err, "%s: closing the metrics log failed (disk full?)", path);
    if (rc) return -1;
    rv_mlog *l = rv_xcalloc(1, sizeof *l);
    l->path = rv_xstrdup(path);
    l->table = rv_xstrdup(table);
    l->ncols = ncols;
    l->cols = rv_xcalloc((size_t)ncols, sizeof *l->cols);
    for (int i = 0; i < ncols; i++) l->cols[i] = (rv_mcol){rv_xstrdup(cols[i].name), cols[i].type};
    l->rows = rows;
    *out = l;
    return 0;
}

int rv_mlog_append(rv_mlog *l, const rv_mval *vals, rv_err *err) {
    hid_t f = open_rw(l->path, err);
    if (f < 0) return -1;
    char name[300];
    snprintf(name, sizeof name, "/%s", l->table);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    int rc = d < 0 ? rv_h5_fail(err, "%s: cannot open table %s", l->path, name) : 0;
    if (!rc) {
        hsize_t n = l->rows + 1, start = l->rows, one = 1;
        hid_t mt = row_type(l->cols, l->ncols, false);
        if (H5Dset_extent(d, &n) < 0) rc = rv_h5_fail(err, "%s: cannot extend table %s", l->path, name);
        hid_t fs = rc ? -1 : H5Dget_space(d), ms = H5Screate_simple(1, &one, NULL);
        if (!rc) H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL);
        if (!rc && H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, vals) < 0)
            rc = rv_h5_fail(err, "%s: cannot write row %llu of table %s (disk full?)", l->path,
                            (unsigned long long)start, name);
        if (fs >= 0) H5Sclose(fs);
        H5Sclose(ms);
        H5Tclose(mt);
        H5Dclose(d);
    }
    if (H5Fclose(f) < 0 && !rc) rc = rv_h5_fail(err, "%s: closing the metrics log failed (disk full?)", l->path);
    if (!rc) l->rows++;
    return rc;
}

uint64_t rv_mlog_rows(const rv_mlog *l) { return l->rows; }

void rv_mlog_close(rv_mlog *l) {
    if (!l) return;
    for (int i = 0; i < l->ncols; i++) free((char *)l->cols[i].name);
    free(l->cols);
    free(l->path);
    free(l->table);
    free(l);
}

int rv_mlog_read_column(const char *path, const char *table, const char *column, rv_mval **vals, uint64_t *n,
                        rv_err *err) {
    *vals = NULL;
    *n = 0;
    hid_t f = rv_h5_open_ro(path, err);
    if (f < 0) return -1;
    char name[300];
    snprintf(name, sizeof name, "/%s", table);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    int rc = d < 0 ? rv_h5_fail(err, "%s: no table %s", path, name) : 0;
    if (!rc) {
        hid_t t = H5Dget_type(d);
        int idx = H5Tget_member_index(t, column);
        if (idx < 0) rc = rv_fail(err, "%s: table %s has no column '%s'", path, name, column);
        H5T_class_t cl = idx < 0 ? H5T_NO_CLASS : H5Tget_member_class(t, (unsigned)idx);
        H5Tclose(t);
        hid_t s = H5Dget_space(d);
        hsize_t rows = 0;
        H5Sget_simple_extent_dims(s, &rows, NULL);
        H5Sclose(s);
        if (!rc && rows) {
            hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(rv_mval));
            H5Tinsert(mt, column, 0, cl == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
            *vals = rv_xmalloc(rows * sizeof **vals);
            if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, *vals) < 0) {
                rc = rv_h5_fail(err, "%s: cannot read column %s of %s (damaged?)", path, column, name);
                free(*vals);
                *vals = NULL;
            } else {
                *n = rows;
            }
            H5Tclose(mt);
        }
        H5Dclose(d);
    }
    rv_h5_close_file(f);
    return rc;
}

int rv_mlog_train_columns(const char *const *groups, int ngroups, rv_mcol **cols, int *ncols) {
    int n = 6 + ngroups, k = 0;
    rv_mcol *c = rv_xcalloc((size_t)n, sizeof *c);
    c[k++] = (rv_mcol){rv_xstrdup("step"), RV_MCOL_I64};
    c[k++] = (rv_mcol){rv_xstrdup("loss"), RV_MCOL_F64};
    for (int g = 0; g < ngroups; g++) c[k++] = (rv_mcol){rv_xasprintf("lr_%s", groups[g]), RV_MCOL_F64};
    c[k++] = (rv_mcol){rv_xstrdup("grad_norm"), RV_MCOL_F64};
    c[k++] = (rv_mcol){rv_xstrdup("tokens"), RV_MCOL_I64};
    c[k++] = (rv_mcol){rv_xstrdup("time"), RV_MCOL_F64};
    c[k++] = (rv_mcol){rv_xstrdup("skipped"), RV_MCOL_I64};
    *cols = c;
    *ncols = n;
    return 0;
}

void rv_mlog_cols_free(rv_mcol *cols, int ncols) {
    for (int i = 0; i < ncols; i++) free((char *)cols[i].name);
    free(cols);
}
