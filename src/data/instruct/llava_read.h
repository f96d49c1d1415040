/* Reading an existing LLaVA-format JSON (upstream's all_train.json, or our instruct phase's
 * llava/ JSON files) into the same cell model the builder renders (data.md §9.2): a JSON array of
 * cells {"image", "conversations": [{"from", "value"}...], "id", "labels"?, ...}. Malformed
 * cells are reported through data.on_bad_record and removed; the rest are kept in order. */
#ifndef RADVLM_DATA_INSTRUCT_LLAVA_READ_H
#define RADVLM_DATA_INSTRUCT_LLAVA_READ_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "core/badrec.h"
#include "core/error.h"

/* *out: the array of valid cells (owned). */
int rv_llava_read(const char *path, rv_badrec *bad, cJSON **out, rv_err *err);

/* Task and source of a cell from its id: "<prefix>_<N>" with an upstream block prefix
 * (data.md §9.1, e.g. "vindr-cxr-mono-train1" -> abnormality_grounding / vindr-cxr) or an
 * evaluation task name ("phrase_grounding_12"). -1 each when unknown. */
void rv_llava_infer(const char *id, int *task, int *source);

/* The ground-truth boxes of an answer text, as pack stores them when a cell has no "boxes" key:
 * every "[a, b, c, d]" of plain decimals (negative allowed, as P11 boxes may be), in textual
 * order, appended to *boxes (4 floats each; *n used, *cap allocated). */
void rv_llava_answer_boxes(const char *s, float **boxes, size_t *n, size_t *cap);

/* A test cell's "boxes" key (unrounded ground truth, docs/data.md §10): 1 and *out = the
 * coordinates [*n, 4] (malloc'd; NULL when *n is 0) when present and a list of 4-number lists;
 * 0 when the key is absent; -1 when it is malformed. */
int rv_llava_cell_boxes(const cJSON *cell, double **out, size_t *n);

#endif
