/* Inside the task library: a family is the set of rules that tasks share (one file each:
 * report_task.c, classification_task.c, grounding_task.c), the task table maps names to them. */
#ifndef RADVLM_EVAL_TASKS_FAMILY_H
#define RADVLM_EVAL_TASKS_FAMILY_H

#include <cjson/cJSON.h>

#include "eval/metrics/cider.h"
#include "eval/tasks/record_json.h"
#include "eval/tasks/task.h"

typedef struct rv_eval_family {
    const char *name;
    size_t nvalues;      /* doubles per record */
    size_t nstats;       /* aggregate statistics */
    bool needs_corpus;   /* CIDEr-D document frequencies over the references */
    const char *(*stat_key)(size_t k);
    const char *const *value_names; /* [nvalues]: the name of each per-record value */
    /* the reference part of a record (r->in.answer is already set); 0 or 1 with *why */
    int (*ref_from_json)(const cJSON *item, rv_eval_record *r, const char **why);
    void (*score)(const rv_eval_input *in, const rv_cider_df *df, rv_eval_scratch *s, double *values);
    double (*reward)(const rv_eval_input *in, rv_eval_scratch *s);
    double (*reward_of)(const double *values);
    void (*stats)(const double *values, size_t n, const size_t *idx, double *out);
    /* the per-record scores of <stem>_scored.json, added to o after "index" */
    void (*record_json)(const double *values, cJSON *o);
    /* the neural metrics of n records into their vectors (values [n, nvalues]); NULL when none */
    int (*score_neural)(const rv_eval_input *in, size_t n, rv_neural *nm, double *values, rv_err *err);
    /* metrics not computed for these n records (values [n, nvalues]; n may be 0): key -> reason
     * added to un; NULL when the family computes everything */
    void (*unavailable)(const double *values, size_t n, cJSON *un);
} rv_eval_family;

extern const rv_eval_family rv_eval_report_family;
extern const rv_eval_family rv_eval_classification_family;
extern const rv_eval_family rv_eval_grounding_family;

struct rv_eval_task {
    const char *name;
    const rv_eval_family *family;
};

/* Record r of values (stride nvalues) for resample position i (idx NULL: identity). */
static inline const double *rv_eval_row(const double *values, size_t nvalues, const size_t *idx, size_t i) {
    return values + (idx ? idx[i] : i) * nvalues;
}

#endif
