/* RadGraph annotations and the report-pair scores computed from them:
 *  - the annotation of radgraph 0.1.18 utils.py get_entity (entities in prediction order, each
 *    with its space-joined tokens, label and relations to other entities);
 *  - rewards.py's simple / partial / complete F1 (reward_level "all"; eval.md §4.2);
 *  - RadEval's RadCliQ-v1 radgraph feature (entity F1 + relation F1) / 2 (eval.md §4.4). */
#ifndef RADVLM_EVAL_NEURAL_RADGRAPH_F1_H
#define RADVLM_EVAL_NEURAL_RADGRAPH_F1_H

#include <stddef.h>

#include "eval/neural/radgraph_model.h"

typedef struct rv_rg_entity {
    char *tokens;     /* words[start..end] joined by ' ' */
    const char *label;
    int start, end;
    size_t n_rel;
    const char **rel_type; /* [n_rel] relation label */
    int *rel_target;       /* [n_rel] index into the annotation's entities */
} rv_rg_entity;

typedef struct rv_rg_annot {
    rv_rg_entity *e;
    size_t n;
} rv_rg_annot;

/* get_entity: an entity per predicted span; a relation is attached to the entity whose span is
 * its source, and kept only when its target span is an entity (the first with that span).
 * Label strings point into cfg (which must outlive the annotation). */
void rv_rg_annot_build(rv_rg_annot *a, const rv_rg_cfg *cfg, char *const *words, const rv_rg_pred *p);
void rv_rg_annot_free(rv_rg_annot *a);

/* rewards.py compute_reward(..., "all"): out[0..2] = simple, partial, complete; all 0 when
 * either side has no entity. */
void rv_rg_rewards(const rv_rg_annot *hyp, const rv_rg_annot *ref, double out[3]);

/* RadEval radcliq_radgraph_scores for one pair: (F1 of {(tokens, label)} + F1 of
 * {((src tokens, src label), (tgt tokens, tgt label), type)}) / 2, each F1 0 when P + R = 0. */
double rv_rg_radcliq_feature(const rv_rg_annot *hyp, const rv_rg_annot *ref);

#endif
