#include "eval/run/item.h"

#include <stdlib.h>
#include <string.h>

#include "eval/run/answer.h"

void rv_eval_item_free(rv_eval_item *it) {
    if (!it) return;
    free(it->id);
    free(it->img_path);
    for (size_t i = 0; i < it->nmsgs; i++) {
        free(it->msgs[i].role);
        free(it->msgs[i].content);
    }
    free(it->msgs);
    free(it->instr);
    free(it->answer);
    for (size_t i = 0; i < it->nlabels; i++) free(it->labels[i]);
    free(it->labels);
    free(it->boxes);
    memset(it, 0, sizeof *it);
}

void rv_eval_answer_free(rv_eval_answer *a) {
    if (!a) return;
    free(a->full_output);
    free(a->output);
    memset(a, 0, sizeof *a);
}
