/* Hugging Face safetensors: reader (single file, or sharded through model.safetensors.index.json),
 * atomic writer, and the F16/BF16 <-> F32 conversions.
 *
 * The reader validates the whole header before any tensor is touched: the 8-byte length, the JSON
 * object, every entry's dtype, shape and data_offsets (inside the data buffer, contiguous, not
 * overlapping, covering it exactly, size = numel * dtype size). Tensor bytes are read with pread
 * at offsets checked against the file size, so no header can make it read outside the file. */
#ifndef RADVLM_IO_SAFETENSORS_H
#define RADVLM_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/half.h"

/* Element types. The first three are the ones tensors can be loaded from and written as; the
 * others are recognised (so their offsets are validated) but refused when read. */
typedef enum {
    RV_ST_F32 = 0,
    RV_ST_F16,
    RV_ST_BF16,
    RV_ST_OTHER /* any other safetensors dtype; rv_st_tensor.dtype_name says which */
} rv_st_dtype;

const char *rv_st_dtype_name(rv_st_dtype t);     /* "F32", "F16", "BF16" */
size_t rv_st_dtype_size(rv_st_dtype t);          /* 4, 2, 2 */
/* Parses "F32"/"F16"/"BF16" (safetensors) or "f32"/"f16"/"bf16"/"float32"/"float16"/"bfloat16". */
int rv_st_dtype_parse(const char *s, rv_st_dtype *out);

/* Element conversions (rv_f32_to_bf16 ...): core/half.h. */
/* n elements of src type -> f32, and f32 -> dst type (F32 = memcpy). */
void rv_st_to_f32(rv_st_dtype src, const void *in, float *out, size_t n);
void rv_st_from_f32(rv_st_dtype dst, const float *in, void *out, size_t n);

#define RV_ST_MAX_DIMS 8
#define RV_ST_MAX_HEADER (100u * 1024u * 1024u) /* the reference reader's limit */

typedef struct rv_st_tensor {
    char *name;
    rv_st_dtype dtype;
    char dtype_name[12];                 /* as written in the header */
    int ndim;                            /* 0 = scalar */
    uint64_t shape[RV_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t offset, nbytes;             /* absolute file offset of the data, its length */
    int file;                            /* index of the file in an rv_st_set (0 for one file) */
} rv_st_tensor;

typedef struct rv_st_file {
    char *path;
    int fd;
    uint64_t size, data_start;           /* file size; 8 + header length */
    size_t n;
    rv_st_tensor *t;                     /* sorted by name */
    char *metadata_json;                 /* the __metadata__ object as JSON text, or NULL */
} rv_st_file;

/* "[d0, d1, ...]" for messages. */
void rv_st_shape_str(const uint64_t *shape, int ndim, char *buf, size_t cap);

/* Opens and validates one .safetensors file. Errors name the file and the tensor or key. */
int rv_st_open(rv_st_file *f, const char *path, rv_err *err);
void rv_st_close(rv_st_file *f);
const rv_st_tensor *rv_st_find(const rv_st_file *f, const char *name);

/* A model: one file, or the shards named by an index. */
typedef struct rv_st_set {
    char *source;                        /* what was opened, for messages */
    size_t nfiles;
    rv_st_file *files;
    size_t n;
    rv_st_tensor **t;                    /* every visible tensor, sorted by name (points into files) */
} rv_st_set;

/* path: a directory (model.safetensors.index.json, else model.safetensors, else the only
 * *.safetensors file), a .safetensors file, or an index .json file. Shard names in an index
 * must be plain file names in the index's directory. A tensor listed in the index must be in
 * its shard; two files holding the same name are an error. */
int rv_st_set_open(rv_st_set *s, const char *path, rv_err *err);
void rv_st_set_close(rv_st_set *s);
const rv_st_tensor *rv_st_set_find(const rv_st_set *s, const char *name);

/* Raw little-endian bytes of a tensor (t->nbytes of them) into dst. f is the file the tensor
 * belongs to (for a set: &s->files[t->file]). */
int rv_st_read_raw(const rv_st_file *f, const rv_st_tensor *t, void *dst, rv_err *err);
/* The tensor converted to f32 (t->numel floats); refuses dtypes other than F32/F16/BF16. */
int rv_st_read_f32(const rv_st_file *f, const rv_st_tensor *t, float *dst, rv_err *err);

/* ---- writing ---- */

typedef struct rv_st_out {
    const char *name;
    rv_st_dtype dtype;                      /* as stored in the file */
    int ndim;
    uint64_t shape[RV_ST_MAX_DIMS];
    const void *data;                    /* numel elements of src_dtype (converted when they differ) */
    rv_st_dtype src_dtype;
} rv_st_out;

/* Writes one file atomically (temporary name + rename): header with the tensors in the given
 * order, contiguous data, the header padded with spaces so the data starts 8-byte aligned, and
 * "__metadata__": {"format": "pt"}. Duplicate names are an error. */
int rv_st_write(const char *path, const rv_st_out *t, size_t n, rv_err *err);

/* Writes model.safetensors into dir when the data fits in max_shard_bytes (0 = no limit), else
 * model-0000k-of-0000n.safetensors shards (tensors kept in order, a shard closed before it would
 * exceed the limit) plus model.safetensors.index.json, written last. Stale model*.safetensors
 * files and index of an earlier export in dir are removed after the new files are in place.
 * *nshards (may be NULL) receives the number of files (1 = no index). */
int rv_st_write_dir(const char *dir, const rv_st_out *t, size_t n, uint64_t max_shard_bytes, int *nshards,
                    rv_err *err);

#endif
