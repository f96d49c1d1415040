/* Score input (the score phase's *_output.json): the records checked for every task of the
 * table with both answer rules, then every valid record scored with the corpus statistics, as
 * src/phases/score.c does. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "eval/tasks/record_json.h"
#include "eval/tasks/task.h"
#include "fuzz.h"
#include "io/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rv_err err;
    cJSON *root = rv_json_parse("fuzz_output.json", (const char *)data, size, &err);
    if (!root) return 0;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return 0;
    }
    const size_t n = (size_t)cJSON_GetArraySize(root);
    rv_eval_record *recs = calloc(n ? n : 1, sizeof *recs);
    rv_eval_input *ins = calloc(n ? n : 1, sizeof *ins);
    for (size_t ti = 0; ti < rv_eval_task_count(); ti++) {
        const rv_eval_task *t = rv_eval_task_at(ti);
        for (int r = 0; r < 2; r++) {
            const rv_answer_rule rule = r ? RV_ANSWER_R1 : RV_ANSWER_RAW;
            size_t nvalid = 0, i = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, root) {
                const char *why = NULL;
                if (rv_eval_record_from_json(t, it, rule, &recs[i], &why) == 0) ins[nvalid++] = recs[i].in;
                i++;
            }
            rv_eval_corpus *corpus = rv_eval_corpus_build(t, ins, nvalid);
            rv_eval_scratch scratch = {0};
            double *values = malloc(rv_eval_nvalues(t) * sizeof *values);
            for (size_t k = 0; k < nvalid; k++) {
                rv_eval_score(t, &ins[k], corpus, &scratch, values);
                rv_eval_reward(t, &ins[k], rule, &scratch);
            }
            free(values);
            rv_eval_scratch_free(&scratch);
            rv_eval_corpus_free(corpus);
            for (size_t k = 0; k < n; k++) rv_eval_record_free(&recs[k]);
        }
    }
    free(ins);
    free(recs);
    cJSON_Delete(root);
    return 0;
}
