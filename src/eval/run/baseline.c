#include "eval/run/baseline.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/hashmap.h"
#include "core/strbuf.h"
#include "eval/run/eval_config.h"

#define SPLIT_TRAIN 0

bool rv_eval_baseline_kind_ok(const char *kind) { return !strcmp(kind, "prior") || !strcmp(kind, "whole_image"); }

static bool is_grounding(const char *task) { return strstr(task, "grounding") || !strcmp(task, "abnormality_detection"); }

/* Counts strings (owned copies), remembering first-seen order for ties. */
typedef struct counter {
    rv_smap map;
    char **keys;
    size_t *count;
    size_t n, cap;
} counter;

static void count_add(counter *c, const char *s) {
    size_t at = rv_smap_get(&c->map, s);
    if (at != RV_MAP_NONE) {
        c->count[at]++;
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->keys = rv_xrealloc(c->keys, c->cap * sizeof *c->keys);
        c->count = rv_xrealloc(c->count, c->cap * sizeof *c->count);
    }
    /* the map borrows the key: each key is its own allocation, so growing the array moves none */
    c->keys[c->n] = rv_xstrdup(s);
    c->count[c->n] = 1;
    rv_smap_put(&c->map, c->keys[c->n], c->n);
    c->n++;
}

static void count_free(counter *c) {
    rv_smap_free(&c->map);
    for (size_t i = 0; i < c->n; i++) free(c->keys[i]);
    free(c->keys);
    free(c->count);
}

static const char *count_top(const counter *c) {
    size_t best = 0;
    for (size_t i = 1; i < c->n; i++)
        if (c->count[i] > c->count[best]) best = i;
    return c->n ? c->keys[best] : NULL;
}

/* The assistant turns of a stored conversation (JSON list of {"from", "value"}). */
static void add_answers(counter *c, const char *conv_json) {
    cJSON *j = cJSON_Parse(conv_json), *t;
    cJSON_ArrayForEach(t, j) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "from"), *v = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (cJSON_IsString(f) && cJSON_IsString(v) && !strcmp(f->valuestring, "gpt")) count_add(c, v->valuestring);
    }
    cJSON_Delete(j);
}

int rv_eval_baseline_answer(const rv_shardset *set, const char *kind, const char *task, char **answer, size_t *n_train,
                            rv_err *err) {
    *answer = NULL;
    *n_train = 0;
    if (!rv_eval_baseline_kind_ok(kind))
        return rv_fail(err, "eval.model = baseline:%s: the baselines are baseline:prior and baseline:whole_image", kind);
    if (!strcmp(kind, "whole_image") && is_grounding(task)) {
        *answer = rv_xstrdup("[0.0, 0.0, 1.0, 1.0]");
        return 0;
    }
    int ti = -1;
    for (int i = 0; i < 8; i++)
        if (!strcmp(rv_eval_test_tasks[i], task)) ti = i;
    counter c = {0};
    double box_sum[4] = {0};
    size_t nbox = 0, n = 0;
    int rc = 0;
    for (uint64_t s = 0; s < set->nsamples && rc == 0; s++) {
        if (set->split[s] != SPLIT_TRAIN || set->task[s] != ti) continue;
        n++;
        if (is_grounding(task)) {
            float *b = NULL;
            size_t nb = 0;
            rc = rv_shardset_boxes(set, s, &b, &nb, err);
            for (size_t k = 0; rc == 0 && k < nb; k++, nbox++)
                for (int q = 0; q < 4; q++) box_sum[q] += b[4 * k + q];
            free(b);
        } else {
            char *txt = NULL;
            bool labels = !strcmp(task, "abnormality_classification");
            rc = rv_shardset_text(set, s, labels ? "labels" : "text", &txt, err);
            if (rc == 0) {
                if (labels) count_add(&c, txt);
                else add_answers(&c, txt);
            }
            free(txt);
        }
    }
    if (rc == 0 && (n == 0 || (is_grounding(task) ? nbox == 0 : c.n == 0)))
        rc = rv_fail(err, "eval.model = baseline:%s: %s holds no training sample of %s to derive the baseline from "
                          "(pack the training set there, or set eval.shards)", kind, set->path, task);
    if (rc == 0) {
        if (is_grounding(task)) {
            *answer = rv_xasprintf("[%.2f, %.2f, %.2f, %.2f]", box_sum[0] / nbox, box_sum[1] / nbox, box_sum[2] / nbox,
                                   box_sum[3] / nbox);
        } else if (!strcmp(task, "abnormality_classification")) {
            const char *top = count_top(&c);
            rv_sb sb;
            rv_sb_init(&sb);
            for (const char *p = top; *p; p++) rv_sb_puts(&sb, *p == '\n' ? ", " : (char[2]){*p, 0});
            if (sb.len) {
                *answer = sb.s;
            } else {
                rv_sb_free(&sb);
                *answer = rv_xstrdup("no finding");
            }
        } else {
            *answer = rv_xstrdup(count_top(&c));
        }
        *n_train = n;
    }
    count_free(&c);
    return rc;
}
