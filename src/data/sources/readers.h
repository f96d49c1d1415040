/* One reader per source dataset, with upstream's selection rules (reference/data.md §1–§7).
 * Every rank may call a reader; the result depends only on the files, never on the rank.
 * Readers fail (err) when a required file or column is missing, and report bad records
 * through ctx->bad (skip or fatal by data.on_bad_record). */
#ifndef RADVLM_DATA_SOURCES_READERS_H
#define RADVLM_DATA_SOURCES_READERS_H

#include <stdbool.h>

#include "comm/comm.h"
#include "core/badrec.h"
#include "core/error.h"
#include "data/sources/sample.h"
#include "io/resize.h"

typedef enum { RV_REPORT_FILTER_NONE = 0, RV_REPORT_FILTER_RULES } rv_report_filter;
typedef enum { RV_VINDR_MINMAX = 0, RV_VINDR_VOI } rv_vindr_convert;

typedef struct rv_reader_ctx {
    const char *data_dir;            /* DATA_DIR */
    rv_badrec *bad;
    rv_report_filter report_filter;  /* offline prior-statement filter when filtered_reports/ is absent */
    rv_vindr_convert vindr_convert;  /* DICOM -> 8-bit recipe */
    const rv_comm *comm;             /* the ranks sharing rv_vindr_prepare's conversion */
    rv_pillow pillow_resize;         /* whose 512x512 resize the DICOM conversion reproduces; 0 = RV_PILLOW_DEFAULT */
    size_t max_file_bytes;           /* data.max_file_bytes; 0 = RV_READ_FILE_MAX */
    long long max_image_pixels;      /* data.max_image_pixels for the DICOM conversion; 0 = no budget */
} rv_reader_ctx;

/* Source directories under DATA_DIR. */
typedef enum {
    RV_SRC_MIMIC = 0, RV_SRC_CHEXPERT, RV_SRC_CHEXPERT_PLUS, RV_SRC_IMAGENOME,
    RV_SRC_VINDR, RV_SRC_MSCXR, RV_SRC_PADCHEST, RV_SRC_COUNT
} rv_source;
const char *rv_source_name(rv_source s);   /* "mimic-cxr", "chexpert", ... */
/* Whether the source's directory/main file exists under DATA_DIR (absent sources are skipped
 * by the builders with a log line). */
bool rv_source_present(const rv_reader_ctx *c, rv_source s);

/* ---- MIMIC-CXR family (data.md §1, §4, §6) ---- */
typedef struct rv_mimic_query {
    const char *split;          /* "train" | "validate" | "test" (official MIMIC split) */
    bool only_frontal;          /* ViewPosition exactly PA or AP */
    bool filtered_reports;      /* keep studies with filtered_reports/<study_id>.txt; text = that file */
    rv_task task;               /* RV_TASK_REPORT | RV_TASK_CLASSIFY | RV_TASK_CONV | RV_TASK_GCONV */
    const char *conv_split;     /* CONV/GCONV: conversations/<conv_split>/{standard,grounding} */
} rv_mimic_query;
int rv_read_mimic(const rv_reader_ctx *c, const rv_mimic_query *q, rv_dataset **out, rv_err *err);

/* Chest ImaGenome anatomical grounding: ImaGenome split "train"|"valid"|"test" intersected with
 * MIMIC official train (P2 kept, as upstream's test sets are defined that way; see docs). */
int rv_read_imagenome(const rv_reader_ctx *c, const char *split, rv_dataset **out, rv_err *err);

/* MS-CXR phrase grounding on the MIMIC split (frontal, reports.csv row required). */
int rv_read_mscxr(const rv_reader_ctx *c, const char *mimic_split, rv_dataset **out, rv_err *err);

/* ---- CheXpert (data.md §2, §3) ---- */
int rv_read_chexpert(const rv_reader_ctx *c, const char *split /* train|valid|test */, rv_dataset **out, rv_err *err);
int rv_read_chexpert_plus(const rv_reader_ctx *c, const char *split /* train|test */, rv_dataset **out, rv_err *err);

/* ---- VinDr-CXR (data.md §5) ---- */
/* Collective: converts <split>/NAME.dicom to <split>_jpg/NAME.jpg (512x512, quality 75) and writes
 * image_resolutions_<split>.json, parallel over the ranks of c->comm; skips work already complete. */
int rv_vindr_prepare(const rv_reader_ctx *c, const char *split /* train|test */, rv_err *err);
int rv_read_vindr(const rv_reader_ctx *c, const char *split, bool single_label, rv_dataset **out, rv_err *err);

/* ---- PadChest-GR (data.md §7) ---- */
int rv_read_padchest_phrases(const rv_reader_ctx *c, const char *split /* train|validation|test */, rv_dataset **out, rv_err *err);
int rv_read_padchest_conversations(const rv_reader_ctx *c, const char *split, rv_dataset **out, rv_err *err);

#endif
