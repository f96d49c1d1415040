#define _GNU_SOURCE
#include "io/h5util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rv_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* The most specific message on HDF5's error stack (walked from the innermost frame). */
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    char *buf = data;
    if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
    return 0;
}

int rv_h5_fail(rv_err *err, const char *fmt, ...) {
    char what[1024], inner[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, inner);
    H5Eclear2(H5E_DEFAULT);
    if (inner[0]) return rv_fail(err, "%s (HDF5: %s)", what, inner);
    return rv_fail(err, "%s", what);
}

hid_t rv_h5_open_ro(const char *path, rv_err *err) {
    rv_h5_quiet();
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        rv_fail(err, "%s: cannot open (missing or unreadable); run the pack phase to create it", path);
        return -1;
    }
    fclose(fp);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        rv_fail(err, "%s: not an HDF5 file (foreign or truncated); re-run the pack phase to rewrite it", path);
        return -1;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        rv_h5_fail(err, "%s: cannot open as HDF5 (damaged or truncated?); re-run the pack phase", path);
        return -1;
    }
    return f;
}

hid_t rv_h5_create(const char *path, rv_err *err) {
    rv_h5_quiet();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    /* 1.8-compatible format: h5py and HDFView of any recent age read it. */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        rv_h5_fail(err, "%s: cannot create; check that the directory exists and is writable", path);
        return -1;
    }
    return f;
}

void rv_h5_close_file(hid_t f) {
    if (f >= 0) H5Fclose(f);
}

int rv_h5_group(hid_t file, const char *path, const char *where, rv_err *err) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (buf[1] && H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
                hid_t g = H5Gcreate2(file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                if (g < 0) return rv_h5_fail(err, "%s: cannot create group %s", where, buf);
                H5Gclose(g);
            }
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

/* Chunked + Fletcher32 creation property list; an empty dataset gets unlimited max dims so
 * that a chunk (>= 1 row) fits. */
static hid_t make_dcpl(int rank, const hsize_t *dims, hsize_t *maxdims, hsize_t chunk_rows) {
    hsize_t chunk[3];
    for (int i = 0; i < rank; i++) {
        chunk[i] = dims[i] ? dims[i] : 1;
        maxdims[i] = dims[i];
    }
    if (dims[0] == 0) maxdims[0] = H5S_UNLIMITED;
    chunk[0] = chunk_rows < 1 ? 1 : chunk_rows;
    if (dims[0] && chunk[0] > dims[0]) chunk[0] = dims[0];
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_fletcher32(dcpl);
    return dcpl;
}

int rv_h5_write(hid_t file, const char *name, hid_t filetype, hid_t memtype, const void *data, uint64_t rows,
                uint64_t ncols, uint64_t chunk_rows, const char *where, rv_err *err) {
    int rank = ncols ? 2 : 1;
    hsize_t dims[2] = {rows, ncols}, maxdims[2];
    hid_t dcpl = make_dcpl(rank, dims, maxdims, chunk_rows);
    hid_t space = H5Screate_simple(rank, dims, maxdims);
    hid_t d = H5Dcreate2(file, name, filetype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int rc = 0;
    if (d < 0) rc = rv_h5_fail(err, "%s: cannot create dataset %s", where, name);
    else if (rows && H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = rv_h5_fail(err, "%s: cannot write dataset %s (disk full?)", where, name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
    return rc;
}

hid_t rv_h5_create_images(hid_t file, const char *name, uint64_t rows, int h, int w, const char *where, rv_err *err) {
    hsize_t dims[3] = {rows, (hsize_t)h, (hsize_t)w}, maxdims[3];
    hid_t dcpl = make_dcpl(3, dims, maxdims, 1);
    hid_t space = H5Screate_simple(3, dims, maxdims);
    hid_t d = H5Dcreate2(file, name, H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (d < 0) rv_h5_fail(err, "%s: cannot create dataset %s", where, name);
    return d;
}

int rv_h5_write_row(hid_t dset, uint64_t row, const uint8_t *pixels, int h, int w, const char *where, rv_err *err) {
    hsize_t start[3] = {row, 0, 0}, count[3] = {1, (hsize_t)h, (hsize_t)w};
    hid_t fs = H5Dget_space(dset);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(3, count, NULL);
    herr_t st = H5Dwrite(dset, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, pixels);
    H5Sclose(ms);
    H5Sclose(fs);
    if (st < 0) return rv_h5_fail(err, "%s: cannot write image row %llu (disk full?)", where, (unsigned long long)row);
    return 0;
}

int rv_h5_shape(hid_t file, const char *name, uint64_t dims[3], const char *where, rv_err *err) {
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return rv_fail(err, "%s: dataset %s is missing (not a shard of this schema?)", where, name);
    }
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return rv_h5_fail(err, "%s: cannot open dataset %s", where, name);
    hid_t s = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(s);
    hsize_t hd[H5S_MAX_RANK];
    if (rank < 1 || rank > 3) {
        H5Sclose(s);
        H5Dclose(d);
        return rv_fail(err, "%s: dataset %s has rank %d (expected 1 to 3)", where, name, rank);
    }
    H5Sget_simple_extent_dims(s, hd, NULL);
    for (int i = 0; i < 3; i++) dims[i] = i < rank ? hd[i] : 1;
    H5Sclose(s);
    H5Dclose(d);
    return rank;
}

/* Enum datasets (task, source, split) read into plain integers of the same size: HDF5 has
 * no integer<->enum conversion, so the dataset's own (native) enum type is used instead. */
static hid_t mem_type_for(hid_t d, hid_t memtype, bool *owned) {
    *owned = false;
    hid_t ft = H5Dget_type(d);
    if (ft >= 0 && H5Tget_class(ft) == H5T_ENUM && H5Tget_class(memtype) == H5T_INTEGER &&
        H5Tget_size(ft) == H5Tget_size(memtype)) {
        hid_t nt = H5Tget_native_type(ft, H5T_DIR_ASCEND);
        H5Tclose(ft);
        *owned = true;
        return nt;
    }
    if (ft >= 0) H5Tclose(ft);
    return memtype;
}

int rv_h5_read_all(hid_t file, const char *name, hid_t memtype, void **out, uint64_t *rows, uint64_t *ncols,
                   const char *where, rv_err *err) {
    uint64_t dims[3];
    int rank = rv_h5_shape(file, name, dims, where, err);
    if (rank < 0) return -1;
    if (rank > 2) return rv_fail(err, "%s: dataset %s has rank %d (expected 1 or 2)", where, name, rank);
    size_t esz = H5Tget_size(memtype);
    uint64_t n = dims[0] * dims[1];
    void *buf = rv_xmalloc((size_t)(n ? n : 1) * esz);
    if (n) {
        hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
        bool own = false;
        hid_t mt = d < 0 ? memtype : mem_type_for(d, memtype, &own);
        herr_t st = d < 0 ? -1 : H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        if (own) H5Tclose(mt);
        if (d >= 0) H5Dclose(d);
        if (st < 0) {
            free(buf);
            return rv_h5_fail(err, "%s: cannot read dataset %s (damaged: checksum or I/O error)", where, name);
        }
    }
    *out = buf;
    *rows = dims[0];
    if (ncols) *ncols = dims[1];
    return 0;
}

int rv_h5_read_rows(hid_t file, const char *name, hid_t memtype, uint64_t first, uint64_t count, void *buf,
                    const char *where, rv_err *err) {
    if (count == 0) return 0;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return rv_h5_fail(err, "%s: cannot open dataset %s", where, name);
    hid_t fs = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(fs);
    hsize_t dims[3] = {0, 1, 1}, start[3] = {first, 0, 0}, cnt[3];
    H5Sget_simple_extent_dims(fs, dims, NULL);
    int rc = 0;
    if (rank < 1 || rank > 3 || first + count > dims[0]) {
        rc = rv_fail(err, "%s: rows %llu..%llu of dataset %s are out of range (%llu rows); the file is inconsistent",
                     where, (unsigned long long)first, (unsigned long long)(first + count), name,
                     (unsigned long long)dims[0]);
    } else {
        cnt[0] = count;
        for (int i = 1; i < rank; i++) cnt[i] = dims[i];
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
        hid_t ms = H5Screate_simple(rank, cnt, NULL);
        bool own = false;
        hid_t mt = mem_type_for(d, memtype, &own);
        herr_t st = H5Dread(d, mt, ms, fs, H5P_DEFAULT, buf);
        if (own) H5Tclose(mt);
        if (st < 0)
            rc = rv_h5_fail(err, "%s: cannot read rows %llu..%llu of dataset %s (damaged: checksum or I/O error)", where,
                            (unsigned long long)first, (unsigned long long)(first + count), name);
        H5Sclose(ms);
    }
    H5Sclose(fs);
    H5Dclose(d);
    return rc;
}

int rv_h5_attr_str_set(hid_t obj, const char *name, const char *value, const char *where, rv_err *err) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, t, value) < 0) rc = rv_h5_fail(err, "%s: cannot write attribute %s", where, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

int rv_h5_attr_i64_set(hid_t obj, const char *name, const int64_t *v, size_t n, const char *where, rv_err *err) {
    hsize_t dims = n;
    hid_t s = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, H5T_NATIVE_INT64, v) < 0) rc = rv_h5_fail(err, "%s: cannot write attribute %s", where, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    return rc;
}

static hid_t open_attr(hid_t obj, const char *name, const char *where, rv_err *err) {
    if (H5Aexists(obj, name) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        rv_fail(err, "%s: attribute '%s' is missing (not written by radvlm-hpc pack, or an older schema); re-run the "
                     "pack phase", where, name);
        return -1;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) rv_h5_fail(err, "%s: cannot open attribute %s", where, name);
    return a;
}

int rv_h5_attr_str_get(hid_t obj, const char *name, char **out, const char *where, rv_err *err) {
    hid_t a = open_attr(obj, name, where, err);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    int rc = 0;
    if (H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0) {
        rc = rv_fail(err, "%s: attribute %s is not a fixed-length string", where, name);
    } else {
        size_t n = H5Tget_size(ft);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *buf = rv_xcalloc(n + 2, 1);
        if (H5Aread(a, mt, buf) < 0) {
            free(buf);
            rc = rv_h5_fail(err, "%s: cannot read attribute %s", where, name);
        } else {
            *out = buf;
        }
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

int rv_h5_attr_i64_get(hid_t obj, const char *name, int64_t *v, size_t n, const char *where, rv_err *err) {
    hid_t a = open_attr(obj, name, where, err);
    if (a < 0) return -1;
    hid_t s = H5Aget_space(a);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    int rc = 0;
    if (np != (hssize_t)n) rc = rv_fail(err, "%s: attribute %s has %lld values (expected %zu)", where, name, (long long)np, n);
    else if (H5Aread(a, H5T_NATIVE_INT64, v) < 0) rc = rv_h5_fail(err, "%s: cannot read attribute %s", where, name);
    H5Aclose(a);
    return rc;
}

hid_t rv_h5_enum_type(const char *const *names, size_t n) {
    hid_t t = H5Tenum_create(H5T_STD_U8LE);
    for (size_t i = 0; i < n; i++) {
        uint8_t v = (uint8_t)i;
        H5Tenum_insert(t, names[i], &v);
    }
    return t;
}
