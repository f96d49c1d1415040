/* Optimizer parameter groups over the weights table, as upstream's trainer builds them
 * (reference/train.md A.3): three parts, each with its own base LR and a trainable switch
 * (LLaVA's mm_tunable_parts), and each split into a decay and a no-decay group by the table's
 * RV_WF_DECAY flag (matrices and embeddings decay; biases, norm weights and image_newline do not).
 *
 * Parts (upstream's name tests, not the table's module): `mm_vision_tower` = every SigLIP tensor;
 * `mm_mlp_adapter` = the projector's linear layers; `mm_language_model` = everything else: the
 * Qwen2 LM with embeddings and lm_head, and image_newline (upstream unfreezes and schedules it with
 * the LM, A.3, although the table files it under the projector module).
 *
 * Groups come in a fixed order, empty ones included, so their index is stable (log columns, the
 * optimizer's per-group state): vision.decay, vision.no_decay, projector.decay, projector.no_decay,
 * lm.decay, lm.no_decay. The optimizer (issue F) walks each trainable group's tensors and applies
 * AdamW with the group's lr * schedule factor and weight_decay. */
#ifndef RADVLM_TRAIN_PARAM_GROUPS_H
#define RADVLM_TRAIN_PARAM_GROUPS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "model/weights.h"

typedef enum rv_part { RV_PART_VISION = 0, RV_PART_PROJECTOR = 1, RV_PART_LM = 2 } rv_part;
#define RV_PART_COUNT 3
#define RV_PG_COUNT (2 * RV_PART_COUNT)

typedef struct rv_param_group {
    char name[24];          /* "vision.decay", "lm.no_decay", ... */
    rv_part part;
    bool decay;             /* weight decay applies (weight_decay is the group's value) */
    bool trainable;         /* false: frozen, the optimizer leaves these tensors alone */
    double lr;              /* base LR; the schedule scales it */
    double weight_decay;    /* 0 for no-decay groups */
    size_t ntensors;
    size_t *tensors;        /* [ntensors] handles into the table, in table order */
    size_t numel;           /* elements of those tensors (no padding) */
} rv_param_group;

typedef struct rv_param_groups {
    rv_param_group g[RV_PG_COUNT];
    int *group_of;          /* [w->n]: each tensor's group index, -1 when the table marks it untrainable */
    size_t n_tensors;
    size_t excluded_numel;  /* elements of the tensors in no group */
} rv_param_groups;

typedef struct rv_pg_config {
    double lr[RV_PART_COUNT];          /* base LR per part (upstream: vision 2e-6, others 1e-5) */
    bool trainable[RV_PART_COUNT];     /* from rv_tunable_parts_parse */
    double weight_decay;               /* for decay groups (upstream: 0) */
} rv_pg_config;

/* The part a tensor belongs to, by its name (upstream's rule). */
rv_part rv_part_of(const rv_wtensor *t);
const char *rv_part_name(rv_part p); /* "vision", "projector", "lm" */

/* Parses mm_tunable_parts: comma-separated names among mm_vision_tower, mm_mlp_adapter,
 * mm_language_model (spaces around names ignored). Listed parts train, the others are frozen.
 * An unknown or repeated name, or an empty list, is an error naming it. */
int rv_tunable_parts_parse(const char *s, bool trainable[RV_PART_COUNT], rv_err *err);

/* Builds the six groups over w. A tensor without RV_WF_TRAINABLE in the table is in no group
 * (group_of = -1): nothing updates it, whatever its part. Fails when nothing trains, or on a
 * negative or non-finite LR / weight decay (naming the part). */
int rv_param_groups_build(rv_param_groups *pg, const rv_weights *w, const rv_pg_config *cfg, rv_err *err);
void rv_param_groups_free(rv_param_groups *pg);

/* Elements that the optimizer updates / leaves alone (frozen groups and excluded tensors). */
size_t rv_pg_trainable_numel(const rv_param_groups *pg);
size_t rv_pg_frozen_numel(const rv_param_groups *pg);

#endif
