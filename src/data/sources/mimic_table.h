/* The MIMIC-CXR table shared by the MIMIC, Chest ImaGenome and MS-CXR readers (data.md §1.2):
 * one row per DICOM, in upstream order (chexpert CSV rows, each fanned out to its DICOMs in
 * metadata order), restricted to the official split and to studies with a reports.csv row.
 * Internal to src/data. */
#ifndef RADVLM_DATA_SOURCES_MIMIC_TABLE_H
#define RADVLM_DATA_SOURCES_MIMIC_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "data/sources/readers.h"
#include "io/csv.h"

typedef struct rv_mimic_row {
    const char *dicom_id, *view, *rows, *cols; /* borrowed from the metadata CSV */
    int64_t subject_id, study_id;
    size_t meta_line;                          /* line in the metadata CSV, for messages */
    size_t report;                             /* row in the reports CSV */
    uint16_t labels;                           /* bit i: rv_chexpert13[i] is 1 or -1 (blank -> 0) */
} rv_mimic_row;

typedef struct rv_mimic_table {
    char *dir;                  /* DATA_DIR/MIMIC-CXR-JPG */
    rv_csv *meta, *reports;     /* kept: rows borrow from them */
    int rep_col[3];             /* findings, impression, last_paragraph */
    rv_mimic_row *rows;
    size_t n;
} rv_mimic_table;

/* split_value: "train" | "validate" | "test" (split CSV values). */
int rv_mimic_table_load(const rv_reader_ctx *c, const char *split_value, rv_mimic_table *t, rv_err *err);
void rv_mimic_table_free(rv_mimic_table *t);

/* DATA_DIR/MIMIC-CXR-JPG/files/p<first 2 digits>/p<subject>/s<study>/<dicom_id>.jpg (malloc'd). */
char *rv_mimic_image_path(const rv_mimic_table *t, const rv_mimic_row *r);
/* Adds the row's positive pathologies in rv_chexpert13 order. */
void rv_mimic_add_labels(rv_item *it, const rv_mimic_row *r);
/* Raw report text of the row (§1.3, no filtered file). malloc'd. */
char *rv_mimic_raw_text(const rv_mimic_table *t, const rv_mimic_row *r);

#endif
