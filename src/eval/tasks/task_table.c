/* The task table: upstream's task names and the family whose rules each one uses, and the
 * entry points that dispatch to the family. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/tasks/family.h"

static const rv_eval_task tasks[] = {
    {"report_generation", &rv_eval_report_family},
    {"abnormality_classification", &rv_eval_classification_family},
    {"region_grounding", &rv_eval_grounding_family},
    {"abnormality_grounding", &rv_eval_grounding_family},
    {"abnormality_detection", &rv_eval_grounding_family},
    {"phrase_grounding", &rv_eval_grounding_family},
    {"object_grounding", &rv_eval_grounding_family},
    /* conversations are scored against the reference answer with the report family's text
     * metrics; upstream's GPT-4o judge score is not computed offline (metrics file: unavailable) */
    {"conversation", &rv_eval_report_family},
    {"conversation_grounded", &rv_eval_report_family},
};
#define NTASKS (sizeof tasks / sizeof tasks[0])

const rv_eval_task *rv_eval_task_find(const char *name) {
    for (size_t i = 0; name && i < NTASKS; i++)
        if (strcmp(tasks[i].name, name) == 0) return &tasks[i];
    return NULL;
}

size_t rv_eval_task_count(void) { return NTASKS; }
const rv_eval_task *rv_eval_task_at(size_t i) { return i < NTASKS ? &tasks[i] : NULL; }
const char *rv_eval_task_name(const rv_eval_task *t) { return t->name; }
const char *rv_eval_task_family(const rv_eval_task *t) { return t->family->name; }
size_t rv_eval_nvalues(const rv_eval_task *t) { return t->family->nvalues; }
const char *rv_eval_value_name(const rv_eval_task *t, size_t k) {
    return k < t->family->nvalues ? t->family->value_names[k] : NULL;
}

void rv_eval_scratch_free(rv_eval_scratch *s) { rv_ngram_ws_free(&s->ngram); }

struct rv_eval_corpus {
    rv_cider_df *df; /* NULL for families without CIDEr-D */
    bool no_words;   /* records exist but no reference has an n-gram */
};

rv_eval_corpus *rv_eval_corpus_build(const rv_eval_task *t, const rv_eval_input *in, size_t n) {
    rv_eval_corpus *c = rv_xcalloc(1, sizeof *c);
    if (!t->family->needs_corpus) return c;
    const char **refs = rv_xmalloc((n ? n : 1) * sizeof *refs);
    size_t *lens = rv_xmalloc((n ? n : 1) * sizeof *lens);
    for (size_t k = 0; k < n; k++) { refs[k] = in[k].ref.p; lens[k] = in[k].ref.len; }
    c->df = rv_cider_df_build(refs, lens, n);
    c->no_words = n && rv_cider_df_empty(c->df);
    free(refs);
    free(lens);
    return c;
}

void rv_eval_corpus_free(rv_eval_corpus *c) {
    if (!c) return;
    rv_cider_df_free(c->df);
    free(c);
}

const char *rv_eval_corpus_warning(const rv_eval_corpus *c) {
    return c && c->no_words ? "no reference has any word; CIDEr-D is reported as 0 (the reference scorer fails here)"
                            : NULL;
}

void rv_eval_score(const rv_eval_task *t, const rv_eval_input *in, const rv_eval_corpus *corpus,
                   rv_eval_scratch *s, double *values) {
    t->family->score(in, corpus ? corpus->df : NULL, s, values);
}

double rv_eval_reward(const rv_eval_task *t, const rv_eval_input *in, rv_answer_rule rule, rv_eval_scratch *s) {
    bool found;
    rv_eval_input a = *in;
    a.answer = rv_answer_extract(in->answer.p, in->answer.len, rule, &found);
    if (!found) return -0.0; /* upstream's penalty for a reasoning output without a final answer */
    return t->family->reward(&a, s);
}

double rv_eval_reward_of(const rv_eval_task *t, const double *values) { return t->family->reward_of(values); }

int rv_eval_score_neural(const rv_eval_task *t, const rv_eval_input *in, size_t n, rv_neural *nm, double *values,
                         rv_err *err) {
    if (!nm || !n || !t->family->score_neural) return 0;
    size_t nv = t->family->nvalues;
    for (size_t b = 0; b < n; b += RV_EVAL_NEURAL_BLOCK) {
        size_t m = n - b < RV_EVAL_NEURAL_BLOCK ? n - b : RV_EVAL_NEURAL_BLOCK;
        if (t->family->score_neural(in + b, m, nm, values + b * nv, err)) return -1;
    }
    return 0;
}

void rv_eval_neural_slice(size_t n, int rank, int size, size_t *b, size_t *e) {
    size_t blocks = (n + RV_EVAL_NEURAL_BLOCK - 1) / RV_EVAL_NEURAL_BLOCK;
    size_t per = blocks / (size_t)size, extra = blocks % (size_t)size, r = (size_t)rank;
    size_t bb = r * per + (r < extra ? r : extra), be = bb + per + (r < extra);
    *b = bb * RV_EVAL_NEURAL_BLOCK < n ? bb * RV_EVAL_NEURAL_BLOCK : n;
    *e = be * RV_EVAL_NEURAL_BLOCK < n ? be * RV_EVAL_NEURAL_BLOCK : n;
}
