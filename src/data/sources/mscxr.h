/* MS-CXR sentence/box annotations (data.md §6): normalisation of
 * MS_CXR_Local_Alignment_v1.0.0.csv, the per-image JSON files it produces, and the index the
 * readers use (per-image JSON directory, or the CSV normalised in memory). */
#ifndef RADVLM_DATA_SOURCES_MSCXR_H
#define RADVLM_DATA_SOURCES_MSCXR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/strbuf.h"
#include "data/sources/reader_util.h"
#include "data/sources/readers.h"

typedef struct rv_mscxr_entry {
    char *observation;
    rv_box box;            /* [x/W, y/H, (x+w)/W, (y+h)/H], unrounded, unclipped */
} rv_mscxr_entry;

typedef struct rv_mscxr_image {
    char *dicom_id;
    rv_mscxr_entry *e;     /* per-image JSON order: observations in first-appearance order, */
    size_t n;              /* each with its boxes in CSV order */
} rv_mscxr_image;

typedef struct rv_mscxr_index {
    rv_mscxr_image *img;   /* first-appearance order of dicom_id (CSV) or sorted names (directory) */
    size_t n, cap;
    rv_smap map;           /* dicom_id -> img index */
} rv_mscxr_index;

/* Normalises the CSV as normalize_mscxr.py does. Rows with a missing/non-numeric value,
 * image_width or image_height <= 0, or w/h < 0 are reported as bad records (path:line). */
int rv_mscxr_normalize_csv(const rv_reader_ctx *c, const char *csv_path, rv_mscxr_index *out, rv_err *err);

/* One image's file content, as json.dump(list, indent=4, ensure_ascii=False) writes it. */
void rv_mscxr_image_json(const rv_mscxr_image *im, rv_sb *out);
/* Writes <dir>/<dicom_id>.json for every image (atomically; creates dir). */
int rv_mscxr_write_dir(const rv_mscxr_index *ix, const char *dir, rv_err *err);

/* The index the readers use: DATA_DIR/MS-CXR/sentences_and_BBox_mscxr/ (upstream's readers),
 * else sentences_BBox_mscxr/ (upstream's writer; P5), else the CSV normalised in memory.
 * *found is false (and 0 returned) when none of the three exists. */
int rv_mscxr_load(const rv_reader_ctx *c, rv_mscxr_index *out, bool *found, rv_err *err);

const rv_mscxr_image *rv_mscxr_find(const rv_mscxr_index *ix, const char *dicom_id);
void rv_mscxr_index_free(rv_mscxr_index *ix);

#endif
