/* The eval phase's <tag>_<task>_output.json records (layout and key order in output_json.h). */
#include "eval/run/output_json.h"

#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/json.h"

bool rv_eval_task_is_conversation(const rv_eval_task *t) {
    return strncmp(rv_eval_task_name(t), "conversation", 12) == 0;
}

static cJSON *str_or_empty(const char *s) { return cJSON_CreateString(s ? s : ""); }

static cJSON *record(const rv_eval_task *t, const rv_eval_item *it, const rv_eval_answer *a, bool r1) {
    const char *fam = rv_eval_task_family(t);
    cJSON *o = cJSON_CreateObject();
    if (r1) cJSON_AddItemToObject(o, "full_output", str_or_empty(a->full_output));
    cJSON_AddItemToObject(o, "output", str_or_empty(a->output));
    cJSON_AddItemToObject(o, "instr", str_or_empty(it->instr));
    cJSON_AddItemToObject(o, "answer", str_or_empty(it->answer));
    if (it->id) cJSON_AddStringToObject(o, "id", it->id);
    cJSON_AddNumberToObject(o, "idx", (double)it->idx);
    if (it->img_path) cJSON_AddStringToObject(o, "img_path", it->img_path);
    if (it->has_labels) {
        cJSON *l = cJSON_CreateArray();
        for (size_t k = 0; k < it->nlabels; k++) cJSON_AddItemToArray(l, str_or_empty(it->labels[k]));
        cJSON_AddItemToObject(o, "labels", l);
    }
    /* upstream's report metrics read "txt" (the reference); a conversation turn's reference
     * is the asked turn's gpt text */
    if (strcmp(fam, "report") == 0) cJSON_AddItemToObject(o, "txt", str_or_empty(it->answer));
    if (strcmp(fam, "grounding") == 0) {
        cJSON *bs = cJSON_CreateArray();
        for (size_t k = 0; k < it->nboxes; k++) {
            const rv_eval_box *b = &it->boxes[k];
            cJSON *x = cJSON_CreateArray();
            cJSON_AddItemToArray(x, rv_json_float(b->x1));
            cJSON_AddItemToArray(x, rv_json_float(b->y1));
            cJSON_AddItemToArray(x, rv_json_float(b->x2));
            cJSON_AddItemToArray(x, rv_json_float(b->y2));
            cJSON_AddItemToArray(bs, x);
        }
        cJSON_AddItemToObject(o, "boxes", bs);
    }
    if (rv_eval_task_is_conversation(t)) cJSON_AddNumberToObject(o, "turn", it->turn);
    cJSON_AddNumberToObject(o, "n_tokens", a->n_tokens);
    cJSON_AddBoolToObject(o, "stopped", a->stopped != 0);
    return o;
}

cJSON *rv_eval_output_json(const rv_eval_task *t, const rv_eval_item *items, const rv_eval_answer *answers,
                           size_t n, bool r1) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, record(t, &items[i], &answers[i], r1));
    return arr;
}

int rv_eval_output_json_write(const char *path, const rv_eval_task *t, const rv_eval_item *items,
                              const rv_eval_answer *answers, size_t n, bool r1, rv_err *err) {
    cJSON *arr = rv_eval_output_json(t, items, answers, n, r1);
    int rc = rv_pyjson_write_file(path, arr, 2, true, err); /* upstream's json.dump: ensure_ascii */
    cJSON_Delete(arr);
    return rc;
}
