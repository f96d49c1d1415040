/* LLaVA cells (data.md §9.2) and the byte layout of Python json.dump(list, indent=4)
 * (ensure_ascii) for a list of cells, assembled from per-cell pieces so that ranks can render
 * disjoint slices and rank 0 only concatenates. */
#ifndef RADVLM_DATA_INSTRUCT_LLAVA_H
#define RADVLM_DATA_INSTRUCT_LLAVA_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "core/strbuf.h"
#include "data/sources/sample.h" /* rv_box */

/* Key order: image, conversations, id, labels (when has_labels), pathologies (when
 * pathologies: the 13 CheXpert names). The human turn gets "<image>\n" + question. */
cJSON *rv_llava_cell_qa(const char *image, const char *question, const char *answer, const char *id,
                        char *const *labels, size_t nlabels, bool has_labels, bool pathologies);

/* Appends the key "boxes": the ground-truth boxes [[x1, y1, x2, y2], ...] unrounded, as Python
 * floats (test sets of the grounding tasks; the answer text rounds them to 2 decimals). */
void rv_llava_add_boxes(cJSON *cell, const rv_box *boxes, size_t n);

/* Number of usable turns in a stored conversation (an array, or a single object as upstream
 * wraps it): elements with string "from" and "value" count 1, elements with string "question"
 * and "answer" count 2; anything else is malformed and counted in *malformed. */
size_t rv_llava_count_turns(const cJSON *conversation, size_t *malformed);

/* A cell from a stored conversation: usable elements are copied with all their keys
 * (question/answer elements become a human and a gpt turn); malformed elements are skipped.
 * "<image>\n" goes on the first usable turn (upstream: element 0 only, so a malformed first
 * element lost the image token; P18). Returns NULL when no usable turn is left. */
cJSON *rv_llava_cell_conv(const char *image, const cJSON *conversation, const char *id,
                          char *const *labels, size_t nlabels, bool has_labels, bool pathologies);

/* Appends ",\n" + the cell as an element of a top-level indent-4 list (each line indented by
 * four more spaces). */
void rv_llava_append_cell(rv_sb *out, const cJSON *cell);
/* Wraps the concatenation of rv_llava_append_cell pieces (in list order) into the final file
 * text: "[\n" + pieces without the first ",\n" + "\n]", or "[]" when there is no cell. */
void rv_llava_finish(rv_sb *out, const char *pieces, size_t len);

#endif
