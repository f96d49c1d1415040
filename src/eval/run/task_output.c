#include "eval/run/task_output.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics/pytext.h"

void rv_eval_task_output_build(rv_eval_task_output *o, const rv_eval_task *t, rv_eval_item *items,
                               size_t n_questions, rv_answer_set *as, bool r1) {
    memset(o, 0, sizeof *o);
    o->t = t;
    o->n_questions = n_questions;
    size_t cap = n_questions ? n_questions : 1;
    o->items = rv_xcalloc(cap, sizeof *o->items);
    o->ans = rv_xcalloc(cap, sizeof *o->ans);
    o->failed = rv_xmalloc(cap * sizeof *o->failed);
    for (size_t i = 0; i < n_questions; i++) {
        if (as->state[i] != 1) {
            /* listed by the cell's position in the test file (once per cell: conversation turns share it) */
            if (!o->n_failed || o->failed[o->n_failed - 1] != items[i].idx) o->failed[o->n_failed++] = items[i].idx;
            continue;
        }
        rv_eval_answer *a = &o->ans[o->n];
        *a = as->ans[i];
        memset(&as->ans[i], 0, sizeof as->ans[i]); /* moved */
        as->state[i] = 0;
        const char *full = a->full_output;
        size_t len = strlen(full);
        bool found = true;
        rv_span s;
        if (r1) {
            s = rv_answer_extract(full, len, RV_ANSWER_R1, &found);
        } else {
            s.p = full;
            s.len = rv_py_prefix_cp(full, len, RV_R1_MAX_CODE_POINTS); /* upstream keeps answer[:4000] */
        }
        a->output = rv_xmalloc(s.len + 1);
        memcpy(a->output, s.p, s.len);
        a->output[s.len] = 0;
        a->found = found;
        if (!found) o->n_no_final++;
        o->gen_tokens += a->n_tokens;
        o->gen_seconds += a->seconds;
        o->items[o->n] = items[i];
        memset(&items[i], 0, sizeof items[i]); /* moved */
        o->n++;
    }
    size_t nv = rv_eval_nvalues(t);
    o->values = rv_xcalloc(o->n * nv + 1, sizeof *o->values);
    rv_eval_input *in = rv_xmalloc((o->n ? o->n : 1) * sizeof *in);
    for (size_t k = 0; k < o->n; k++) {
        const rv_eval_item *it = &o->items[k];
        in[k] = (rv_eval_input){.answer = {o->ans[k].output, strlen(o->ans[k].output)},
                                .ref = {it->answer, strlen(it->answer)},
                                .labels = (const char *const *)it->labels,
                                .nlabels = it->nlabels,
                                .boxes = it->boxes,
                                .nboxes = it->nboxes};
    }
    rv_eval_corpus *corpus = rv_eval_corpus_build(t, in, o->n);
    rv_eval_scratch scratch = {0};
    for (size_t k = 0; k < o->n; k++) rv_eval_score(t, &in[k], corpus, &scratch, o->values + k * nv);
    rv_eval_scratch_free(&scratch);
    rv_eval_corpus_free(corpus);
    free(in);
}

int rv_eval_task_output_neural(rv_eval_task_output *o, rv_neural *nm, rv_err *err) {
    if (!nm || !o->n) return 0;
    rv_eval_input *in = rv_xmalloc(o->n * sizeof *in);
    for (size_t k = 0; k < o->n; k++) {
        const rv_eval_item *it = &o->items[k];
        in[k] = (rv_eval_input){.answer = {o->ans[k].output, strlen(o->ans[k].output)},
                                .ref = {it->answer, strlen(it->answer)},
                                .labels = (const char *const *)it->labels,
                                .nlabels = it->nlabels,
                                .boxes = it->boxes,
                                .nboxes = it->nboxes};
    }
    int rc = rv_eval_score_neural(o->t, in, o->n, nm, o->values, err);
    free(in);
    return rc ? rv_fail_wrap(err, "eval: %s: neural metrics", rv_eval_task_name(o->t)) : 0;
}

void rv_eval_task_output_free(rv_eval_task_output *o) {
    for (size_t k = 0; k < o->n; k++) {
        rv_eval_item_free(&o->items[k]);
        rv_eval_answer_free(&o->ans[k]);
    }
    free(o->items);
    free(o->ans);
    free(o->values);
    free(o->failed);
    memset(o, 0, sizeof *o);
}

void rv_eval_task_outputs_free(rv_eval_task_outputs *v) {
    for (size_t i = 0; i < v->n; i++) rv_eval_task_output_free(&v->v[i]);
    free(v->v);
    memset(v, 0, sizeof *v);
}
