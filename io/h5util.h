/* Small HDF5 helpers for the shard and index files. HDF5's own error printing is switched off
 * (rv_h5_quiet) and its innermost message is folded into an rv_err that names the file and the
 * dataset. Every dataset written here is chunked and carries a Fletcher32 checksum, so damage
 * is detected when it is read back. */
#ifndef RADVLM_IO_H5UTIL_H
#define RADVLM_IO_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Turns off HDF5's automatic error printing for this process (idempotent). */
void rv_h5_quiet(void);

/* Fills err with "<what>: <innermost HDF5 message>" and returns -1. */
int rv_h5_fail(rv_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens an existing file read-only; a missing, truncated or non-HDF5 file is a clear error. */
hid_t rv_h5_open_ro(const char *path, rv_err *err);
/* Creates (truncates) a file. */
hid_t rv_h5_create(const char *path, rv_err *err);
/* Closes a file and everything still open in it (strong close). */
void rv_h5_close_file(hid_t f);

/* Creates every missing group of a path like "/samples" (no-op for "/"). */
int rv_h5_group(hid_t file, const char *path, const char *where, rv_err *err);

/* Writes a chunked, Fletcher32-checked dataset of rank 1 or 2 (dims[1] = 1 for rank 1 when
 * ncols is 0). chunk_rows rows per chunk (clamped to [1, rows]). data may be NULL when rows = 0. */
int rv_h5_write(hid_t file, const char *name, hid_t filetype, hid_t memtype, const void *data, uint64_t rows,
                uint64_t ncols, uint64_t chunk_rows, const char *where, rv_err *err);
/* The same for a 3-D uint8 array [rows, h, w] chunked one row (image) per chunk; rows are
 * written by rv_h5_write_row. Returns the dataset id (close with H5Dclose) or -1. */
hid_t rv_h5_create_images(hid_t file, const char *name, uint64_t rows, int h, int w, const char *where, rv_err *err);
int rv_h5_write_row(hid_t dset, uint64_t row, const uint8_t *pixels, int h, int w, const char *where, rv_err *err);

/* Reads a whole 1-D or 2-D dataset into a malloc'd buffer of memtype; *rows (and *ncols, 1 for
 * 1-D, may be NULL) receive its shape. A checksum or I/O failure names file and dataset. */
int rv_h5_read_all(hid_t file, const char *name, hid_t memtype, void **out, uint64_t *rows, uint64_t *ncols,
                   const char *where, rv_err *err);
/* Reads rows [first, first+count) of a 1-D/2-D dataset (ncols elements per row) into buf. */
int rv_h5_read_rows(hid_t file, const char *name, hid_t memtype, uint64_t first, uint64_t count, void *buf,
                    const char *where, rv_err *err);
/* Shape of a dataset (rank <= 3); returns its rank, or -1. */
int rv_h5_shape(hid_t file, const char *name, uint64_t dims[3], const char *where, rv_err *err);

/* Attributes on an object (file root = the file id). */
int rv_h5_attr_str_set(hid_t obj, const char *name, const char *value, const char *where, rv_err *err);
int rv_h5_attr_i64_set(hid_t obj, const char *name, const int64_t *v, size_t n, const char *where, rv_err *err);
/* malloc'd value; a missing attribute is an error naming it. */
int rv_h5_attr_str_get(hid_t obj, const char *name, char **out, const char *where, rv_err *err);
int rv_h5_attr_i64_get(hid_t obj, const char *name, int64_t *v, size_t n, const char *where, rv_err *err);

/* A uint8-based enum type with the given names (values 0..n-1). Close with H5Tclose. */
hid_t rv_h5_enum_type(const char *const *names, size_t n);

#endif
