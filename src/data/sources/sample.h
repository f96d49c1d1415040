/* What a source reader produces and the instruction builder consumes: one dataset per
 * (source, task, split), each a list of items in upstream order (data.md §1–§7). */
#ifndef RADVLM_DATA_SOURCES_SAMPLE_H
#define RADVLM_DATA_SOURCES_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

typedef enum {
    RV_TASK_REPORT = 0,   /* report generation */
    RV_TASK_CLASSIFY,     /* abnormality classification */
    RV_TASK_ANATOMY,      /* anatomical grounding (Chest ImaGenome) */
    RV_TASK_ABN_GROUND,   /* abnormality grounding (VinDr single label) */
    RV_TASK_DETECT,       /* abnormality detection (VinDr all boxes) */
    RV_TASK_PHRASE,       /* phrase grounding (MS-CXR, PadChest-GR) */
    RV_TASK_CONV,         /* conversation */
    RV_TASK_GCONV,        /* grounded conversation */
    RV_TASK_COUNT
} rv_task;

/* Task names as the eval CLI spells them (report_generation, abnormality_classification,
 * region_grounding, abnormality_grounding, abnormality_detection, phrase_grounding,
 * conversation, conversation_grounded). */
const char *rv_task_name(rv_task t);
int rv_task_parse(const char *name, rv_task *out);

/* The keys upstream's evaluation datasets give every test cell of a task (data.md §9.2, §10):
 * "labels" for report generation, classification, detection and both conversation sets;
 * "pathologies" (the 13 names) for every task but the two VinDr ones. The instruct phase writes
 * them so, and the eval shard reader needs the first (pack keeps no trace of an absent key). */
bool rv_task_test_labels(rv_task t);
bool rv_task_test_pathologies(rv_task t);

/* [x_min, y_min, x_max, y_max], normalised to 0..1 (not clipped where upstream does not clip).
 * int_mask bit i (0..3): coordinate i came from an integer JSON literal (PadChest-GR) and renders
 * without a decimal point. RV_BOX_NUMPY in int_mask: upstream holds these coordinates as
 * numpy.float64 (Chest ImaGenome, VinDr-CXR where it stays numpy), so the box text uses numpy's
 * round(v, 2), not Python's (data.md §0.2). */
#define RV_BOX_NUMPY (1u << 4)
typedef struct rv_box {
    double v[4];
    unsigned int_mask;
} rv_box;

typedef struct rv_region {
    char *name;
    rv_box box;
} rv_region;

typedef struct rv_item {
    char *image;          /* absolute image path exactly as written into the JSON */
    char *id;             /* source record id (dicom_id, image_id, ImageID, Path), for messages */
    char *text;           /* REPORT: report; PHRASE: phrase; ABN_GROUND: class name */
    char **labels;        /* CLASSIFY, MIMIC: positive names; DETECT: class per box; JSON "labels" */
    size_t nlabels;
    bool has_labels_field;/* write the "labels" key into the cell */
    rv_box *boxes;        /* grounding boxes; DETECT: parallel to labels */
    size_t nboxes;
    rv_region *regions;   /* ANATOMY: candidate regions; one is drawn per cell */
    size_t nregions;
    cJSON *conversation;  /* CONV/GCONV: stored turns (owned) */
} rv_item;

typedef struct rv_dataset {
    char *name;           /* e.g. "mimic-train" (for logs) */
    rv_task task;
    bool pathologies;     /* write the 13-name "pathologies" key into each cell */
    rv_item *items;
    size_t n, cap;
} rv_dataset;

/* The 13 CheXpert pathologies in upstream's sorted order (data.md §8.2). */
extern const char *const rv_chexpert13[13];

rv_dataset *rv_dataset_new(const char *name, rv_task task);
rv_item *rv_dataset_push(rv_dataset *d); /* zeroed new item */
void rv_item_add_label(rv_item *it, const char *label);
void rv_item_add_box(rv_item *it, rv_box box);
void rv_item_add_region(rv_item *it, const char *name, rv_box box);
void rv_dataset_free(rv_dataset *d);

#endif
