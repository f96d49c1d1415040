/* Reading an existing LLaVA-format JSON (upstream's all_train.json, or our instruct phase's
 * llava/ JSON files) into the same cell model the builder renders (data.md §9.2): a JSON array of
 * cells {"image", "conversations": [{"from", "value"}...], "id", "labels"?, ...}. Malformed
 * cells are reported through data.on_bad_record and removed; the rest are kept in order. */
#ifndef RADVLM_DATA_INSTRUCT_LLAVA_READ_H
#define RADVLM_DATA_INSTRUCT_LLAVA_READ_H

#include <cjson/cJSON.h>

#include "core/badrec.h"
#include "core/error.h"

/* *out: the array of valid cells (owned). */
int rv_llava_read(const char *path, rv_badrec *bad, cJSON **out, rv_err *err);

/* Task and source of a cell from its id: "<prefix>_<N>" with an upstream block prefix
 * (data.md §9.1, e.g. "vindr-cxr-mono-train1" -> abnormality_grounding / vindr-cxr) or an
 * evaluation task name ("phrase_grounding_12"). -1 each when unknown. */
void rv_llava_infer(const char *id, int *task, int *source);

#endif
