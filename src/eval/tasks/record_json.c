/* Checking and reading one *_output.json record for its task: the answer ("output") is common
 * to every task, the reference is the family's. */
#include "eval/tasks/record_json.h"

#include <stdlib.h>
#include <string.h>

#include "eval/tasks/family.h"

int rv_eval_record_from_json(const rv_eval_task *t, const cJSON *it, rv_answer_rule rule, rv_eval_record *r,
                             const char **why) {
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(it)) { *why = "is not a JSON object"; return 1; }
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(it, "output");
    if (!out) { *why = "has no \"output\" key"; return 1; }
    if (!cJSON_IsString(out)) { *why = "has an \"output\" that is not a string"; return 1; }
    bool found;
    r->in.answer = rv_answer_extract(out->valuestring, strlen(out->valuestring), rule, &found);
    return t->family->ref_from_json(it, r, why);
}

void rv_eval_record_free(rv_eval_record *r) {
    free(r->label_store);
    free(r->box_store);
    memset(r, 0, sizeof *r);
}
