/* Writing the sharded HDF5 training set (docs/formats.md): one shard per rank,
 * shard-RRRRR-of-NNNNN.h5, plus index.h5 whose datasets are HDF5 virtual datasets over every
 * shard. A shard is written under a temporary name and renamed when complete, so a killed
 * pack never leaves a file that looks finished. Images are streamed to disk as they come;
 * the per-sample arrays are kept in memory and written at commit. */
#ifndef RADVLM_IO_SHARD_WRITE_H
#define RADVLM_IO_SHARD_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Schema history (readers accept only the current one):
 *   1: tokenizer_hash was FNV-1a 64 with a wrong offset basis (1469598103934665603);
 *   2: tokenizer_hash is the standard FNV-1a 64 (core/hash.h); the layout is unchanged. */
#define RV_SHARD_SCHEMA 2

/* How pack stores the <image> placeholder in /samples/tokens: LLaVA's IMAGE_TOKEN_INDEX
 * (formats.md "Tokens"); the loader turns it into the model's image_token_id. */
#define RV_SHARD_IMAGE_TOKEN (-200)

/* What every shard (and the index) records in its root attributes. */
typedef struct rv_shard_meta {
    int rank, nshards;
    int height, width;                 /* stored image size (uint8 grey) */
    const char *tokenizer_hash;        /* tokenizer.json identity (a hex digest) */
    const char *tokenizer_path;        /* for messages only */
    const char *config_json;           /* the resolved configuration */
    const char *const *task_names;     /* enum names of samples/task (value = position) */
    size_t ntasks;
    const char *const *source_names;
    size_t nsources;
    const char *const *split_names;
    size_t nsplits;
    bool anyres;                       /* pack.image_mode=anyres: originals stored too (below) */
} rv_shard_meta;

/* One sample row. tokens/mask have ntok entries; boxes has 4*nbox floats
 * ([x_min, y_min, x_max, y_max] each); labels is one label per line ("" = none). */
typedef struct rv_shard_sample {
    uint8_t task, source, split;
    int64_t image;                     /* row in this shard's images */
    const int32_t *tokens;
    const uint8_t *mask;
    size_t ntok;
    const float *boxes;
    size_t nbox;
    const char *text;                  /* the conversation (JSON array of turns) */
    const char *id;
    const char *labels;
} rv_shard_sample;

typedef struct rv_shard_writer rv_shard_writer;

/* "DIR/shard-RRRRR-of-NNNNN.h5" (malloc'd). */
char *rv_shard_path(const char *dir, int rank, int nshards);

/* Starts DIR/shard-RRRRR-of-NNNNN.h5 under a temporary name. */
int rv_shard_open(rv_shard_writer **out, const char *dir, const rv_shard_meta *meta, rv_err *err);
/* Appends one image (height*width uint8, row-major); *row receives its row. */
int rv_shard_add_image(rv_shard_writer *w, const uint8_t *pixels, const char *path, int64_t *row, rv_err *err);
int rv_shard_add_sample(rv_shard_writer *w, const rv_shard_sample *s, rv_err *err);
uint64_t rv_shard_nsamples(const rv_shard_writer *w);
uint64_t rv_shard_nimages(const rv_shard_writer *w);
/* Writes the sample arrays and attributes, syncs and renames into place; frees w. */
int rv_shard_commit(rv_shard_writer *w, rv_err *err);
/* Drops the temporary file; frees w (NULL is fine). */
void rv_shard_abort(rv_shard_writer *w);

/* Writes DIR/index.h5 (atomically) over the nshards committed shards of DIR: virtual datasets
 * for every row and flat array, and real datasets for the offsets and image indexes rebased
 * to global positions. Checks that the shards agree on schema, tokenizer hash and image size. */
int rv_shard_write_index(const char *dir, int nshards, rv_err *err);

/* The datasets of a shard. Flat arrays are concatenated by index.h5; "offsets" datasets
 * (n+1 entries, CSR) index the flat array named in `of`. */
typedef struct rv_shard_dset {
    const char *name;
    const char *offsets_of;            /* CSR offsets: the flat dataset they index; else NULL */
} rv_shard_dset;
extern const rv_shard_dset rv_shard_dsets[];
extern const size_t rv_shard_ndsets;

/* ---- pack.image_mode=anyres (docs/formats.md "Anyres images") ----
 * Such shards also hold every image at its original resolution, so the loader can cut upstream's
 * anyres tiles for any tile size and pinpoint list: a JPEG source as its file's bytes (decoded
 * by the reader with the same libjpeg-turbo call pack uses), anything else as the 8-bit grey
 * pixels pack decoded (after the 16->8-bit step). The root attribute image_mode = "anyres" marks
 * them; a file without it is a base file ("base" is never written: base outputs are unchanged). */
extern const rv_shard_dset rv_shard_anyres_dsets[];   /* present only in anyres files */
extern const size_t rv_shard_anyres_ndsets;
typedef enum { RV_ORIGINAL_RAW = 0, RV_ORIGINAL_JPEG = 1 } rv_original_codec;
extern const char *const rv_original_codec_names[2]; /* "raw", "jpeg": the enum of /images/original_codec */
/* Appends the original of the image just added with rv_shard_add_image (anyres writers only:
 * one call after each rv_shard_add_image; commit refuses a shard where the counts differ).
 * data: len bytes, height*width grey pixels (RV_ORIGINAL_RAW, len must match) or a JPEG file
 * that decodes to height x width (RV_ORIGINAL_JPEG). */
int rv_shard_add_original(rv_shard_writer *w, rv_original_codec codec, const void *data, size_t len, int height,
                          int width, rv_err *err);
/* Reads a file's image_mode attribute (file: an open hid_t): absent or "base" -> false, "anyres"
 * -> true, anything else an error naming the file. */
int rv_shard_read_image_mode(int64_t file, bool *anyres, const char *where, rv_err *err);

#endif
