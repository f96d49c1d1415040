#include "data/sources/sample.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const task_names[RV_TASK_COUNT] = {
    "report_generation", "abnormality_classification", "region_grounding", "abnormality_grounding",
    "abnormality_detection", "phrase_grounding", "conversation", "conversation_grounded",
};

const char *rv_task_name(rv_task t) {
    if ((int)t < 0 || t >= RV_TASK_COUNT) return "unknown";
    return task_names[t];
}

bool rv_task_test_labels(rv_task t) {
    /* MIMIC's test sets are built with flag_lab=True; CheXpert and VinDr detection always label */
    return t == RV_TASK_REPORT || t == RV_TASK_CLASSIFY || t == RV_TASK_DETECT || t == RV_TASK_CONV ||
           t == RV_TASK_GCONV;
}

bool rv_task_test_pathologies(rv_task t) {
    /* the MIMIC classes (MS-CXR and Chest ImaGenome included) and CheXpert set .pathologies;
     * a test set is one dataset, never a ConcatDataset, so it keeps them */
    return t == RV_TASK_REPORT || t == RV_TASK_CLASSIFY || t == RV_TASK_ANATOMY || t == RV_TASK_PHRASE ||
           t == RV_TASK_CONV || t == RV_TASK_GCONV;
}

int rv_task_parse(const char *name, rv_task *out) {
    if (!name) return -1;
    for (int i = 0; i < RV_TASK_COUNT; i++)
        if (strcmp(name, task_names[i]) == 0) {
            *out = (rv_task)i;
            return 0;
        }
    return -1;
}

const char *const rv_chexpert13[13] = {
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
    "Fracture", "Lung Lesion", "Lung Opacity", "Pleural Effusion", "Pleural Other",
    "Pneumonia", "Pneumothorax", "Support Devices",
};

rv_dataset *rv_dataset_new(const char *name, rv_task task) {
    rv_dataset *d = rv_xcalloc(1, sizeof *d);
    d->name = rv_xstrdup(name ? name : "");
    d->task = task;
    return d;
}

rv_item *rv_dataset_push(rv_dataset *d) {
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 64;
        d->items = rv_xrealloc(d->items, d->cap * sizeof *d->items);
    }
    rv_item *it = &d->items[d->n++];
    memset(it, 0, sizeof *it);
    return it;
}

/* Grown one element at a time: items hold a handful of labels/boxes, and a caller may have
 * filled an array itself, so no capacity is assumed beyond the count. */
static void *grow1(void *p, size_t n, size_t elem) { return rv_xrealloc(p, (n + 1) * elem); }

void rv_item_add_label(rv_item *it, const char *label) {
    it->labels = grow1(it->labels, it->nlabels, sizeof *it->labels);
    it->labels[it->nlabels++] = rv_xstrdup(label);
}

void rv_item_add_box(rv_item *it, rv_box box) {
    it->boxes = grow1(it->boxes, it->nboxes, sizeof *it->boxes);
    it->boxes[it->nboxes++] = box;
}

void rv_item_add_region(rv_item *it, const char *name, rv_box box) {
    it->regions = grow1(it->regions, it->nregions, sizeof *it->regions);
    it->regions[it->nregions].name = rv_xstrdup(name);
    it->regions[it->nregions].box = box;
    it->nregions++;
}

static void item_free(rv_item *it) {
    free(it->image);
    free(it->id);
    free(it->text);
    for (size_t i = 0; i < it->nlabels; i++) free(it->labels[i]);
    free(it->labels);
    free(it->boxes);
    for (size_t i = 0; i < it->nregions; i++) free(it->regions[i].name);
    free(it->regions);
    if (it->conversation) cJSON_Delete(it->conversation);
}

void rv_dataset_free(rv_dataset *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) item_free(&d->items[i]);
    free(d->items);
    free(d->name);
    free(d);
}
