/* The eval phase's additions to the metrics document (run_info.h). */
#include "eval/run/run_info.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics/classification.h"
#include "eval/metrics/grounding.h"
#include "eval/run/output_json.h"
#include "io/json.h"

bool rv_eval_answer_unparsed(const rv_eval_task *t, const char *output) {
    const char *fam = rv_eval_task_family(t);
    const char *s = output ? output : "";
    size_t len = strlen(s);
    if (strcmp(fam, "grounding") == 0) {
        rv_eval_box *b = NULL;
        size_t bad = 0, nb = rv_boxes_parse(s, len, &b, &bad);
        free(b);
        return nb == 0;
    }
    if (strcmp(fam, "classification") == 0) return rv_cls_parse(s, len) == 0;
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

size_t rv_eval_count_unparsed(const rv_eval_task *t, const rv_eval_answer *answers, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += rv_eval_answer_unparsed(t, answers[i].output);
    return c;
}

void rv_eval_run_info_count(const rv_eval_task *t, const rv_eval_answer *answers, size_t n, rv_eval_run_info *info) {
    info->n_items = n;
    info->n_unparsed = rv_eval_count_unparsed(t, answers, n);
    info->n_no_final_answer = 0;
    info->generated_tokens = 0;
    for (size_t i = 0; i < n; i++) {
        info->generated_tokens += answers[i].n_tokens;
        if (info->r1 && !answers[i].found) info->n_no_final_answer++;
    }
}

void rv_eval_metrics_add_run_info(cJSON *m, const rv_eval_task *t, const rv_eval_run_info *info) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "model", info->model_tag ? info->model_tag : "");
    cJSON_AddStringToObject(e, "model_source", info->model_source ? info->model_source : "");
    cJSON_AddBoolToObject(e, "r1", info->r1);
    cJSON_AddNumberToObject(e, "n_items", (double)info->n_items);
    cJSON_AddNumberToObject(e, "n_unparsed", (double)info->n_unparsed);
    if (info->r1) cJSON_AddNumberToObject(e, "n_no_final_answer", (double)info->n_no_final_answer);
    else cJSON_AddNullToObject(e, "n_no_final_answer");
    cJSON_AddNumberToObject(e, "generated_tokens", (double)info->generated_tokens);
    cJSON_AddItemToObject(m, "eval", e);
    if (rv_eval_task_is_conversation(t)) {
        cJSON *un = cJSON_GetObjectItemCaseSensitive(m, "unavailable");
        if (!un) {
            un = cJSON_CreateObject();
            cJSON_AddItemToObject(m, "unavailable", un);
        }
        cJSON_AddStringToObject(un, "judge_score",
                                "upstream scores conversations with a GPT-4o judge (evaluate_conversations.py, "
                                "'Overall score: N/10' per conversation through Azure OpenAI); it is not computed "
                                "offline. The turns are scored here with the report-generation text metrics "
                                "against the reference answers instead");
    }
}
