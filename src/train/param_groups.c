#include "train/param_groups.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const part_names[RV_PART_COUNT] = {"vision", "projector", "lm"};
static const char *const tunable_names[RV_PART_COUNT] = {"mm_vision_tower", "mm_mlp_adapter", "mm_language_model"};

const char *rv_part_name(rv_part p) { return (unsigned)p < RV_PART_COUNT ? part_names[p] : "?"; }

rv_part rv_part_of(const rv_wtensor *t) {
    /* upstream tests names: 'vision_tower' in it, else 'mm_projector' (llava-hf: multi_modal_projector),
     * else the language model; image_newline falls in the last (A.3) */
    if (strstr(t->name, "vision_tower")) return RV_PART_VISION;
    if (strstr(t->name, "multi_modal_projector")) return RV_PART_PROJECTOR;
    return RV_PART_LM;
}

int rv_tunable_parts_parse(const char *s, bool trainable[RV_PART_COUNT], rv_err *err) {
    for (int p = 0; p < RV_PART_COUNT; p++) trainable[p] = false;
    int listed = 0;
    const char *at = s;
    for (;;) {
        const char *end = strchr(at, ',');
        size_t len = end ? (size_t)(end - at) : strlen(at);
        while (len && (*at == ' ' || *at == '\t')) at++, len--;
        while (len && (at[len - 1] == ' ' || at[len - 1] == '\t')) len--;
        int hit = -1;
        for (int p = 0; p < RV_PART_COUNT; p++)
            if (strlen(tunable_names[p]) == len && strncmp(at, tunable_names[p], len) == 0) hit = p;
        if (hit < 0)
            return rv_fail(err, "mm_tunable_parts '%s': '%.*s' is not a part; use a comma-separated list of "
                           "mm_vision_tower, mm_mlp_adapter, mm_language_model", s, (int)len, at);
        if (trainable[hit]) return rv_fail(err, "mm_tunable_parts '%s': '%s' is listed twice", s, tunable_names[hit]);
        trainable[hit] = true;
        listed++;
        if (!end) break;
        at = end + 1;
    }
    return listed ? 0 : rv_fail(err, "mm_tunable_parts is empty");
}

int rv_param_groups_build(rv_param_groups *pg, const rv_weights *w, const rv_pg_config *cfg, rv_err *err) {
    memset(pg, 0, sizeof *pg);
    for (int p = 0; p < RV_PART_COUNT; p++)
        if (!(cfg->lr[p] >= 0 && isfinite(cfg->lr[p])))
            return rv_fail(err, "param groups: the %s learning rate %g must be a finite number >= 0", part_names[p],
                           cfg->lr[p]);
    if (!(cfg->weight_decay >= 0 && isfinite(cfg->weight_decay)))
        return rv_fail(err, "param groups: weight_decay %g must be a finite number >= 0", cfg->weight_decay);
    for (int k = 0; k < RV_PG_COUNT; k++) {
        rv_param_group *g = &pg->g[k];
        g->part = (rv_part)(k / 2);
        g->decay = k % 2 == 0;
        snprintf(g->name, sizeof g->name, "%s.%s", part_names[g->part], g->decay ? "decay" : "no_decay");
        g->trainable = cfg->trainable[g->part];
        g->lr = cfg->lr[g->part];
        g->weight_decay = g->decay ? cfg->weight_decay : 0.0;
        g->tensors = rv_xmalloc((w->n ? w->n : 1) * sizeof *g->tensors);
    }
    pg->group_of = rv_xmalloc((w->n ? w->n : 1) * sizeof *pg->group_of);
    pg->n_tensors = w->n;
    for (size_t i = 0; i < w->n; i++) {
        const rv_wtensor *t = &w->t[i];
        if (!(t->flags & RV_WF_TRAINABLE)) {
            pg->group_of[i] = -1;
            pg->excluded_numel += t->numel;
            continue;
        }
        int k = 2 * (int)rv_part_of(t) + ((t->flags & RV_WF_DECAY) ? 0 : 1);
        rv_param_group *g = &pg->g[k];
        g->tensors[g->ntensors++] = i;
        g->numel += t->numel;
        pg->group_of[i] = k;
    }
    if (rv_pg_trainable_numel(pg) == 0) {
        rv_param_groups_free(pg);
        return rv_fail(err, "param groups: no parameter trains (check mm_tunable_parts)");
    }
    return 0;
}

void rv_param_groups_free(rv_param_groups *pg) {
    for (int k = 0; k < RV_PG_COUNT; k++) free(pg->g[k].tensors);
    free(pg->group_of);
    memset(pg, 0, sizeof *pg);
}

size_t rv_pg_trainable_numel(const rv_param_groups *pg) {
    size_t n = 0;
    for (int k = 0; k < RV_PG_COUNT; k++)
        if (pg->g[k].trainable) n += pg->g[k].numel;
    return n;
}

size_t rv_pg_frozen_numel(const rv_param_groups *pg) {
    size_t n = pg->excluded_numel;
    for (int k = 0; k < RV_PG_COUNT; k++)
        if (!pg->g[k].trainable) n += pg->g[k].numel;
    return n;
}
