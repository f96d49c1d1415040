#include "data/instruct/llava_read.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/sources/readers.h"
#include "data/sources/sample.h"
#include "io/json.h"
#include "io/utf8.h"

/* Why a cell cannot be packed, or NULL when it is fine. */
static const char *cell_problem(const cJSON *c) {
    if (!cJSON_IsObject(c)) return "not a JSON object";
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(c, "image");
    if (!cJSON_IsString(img) || !img->valuestring[0]) return "key 'image' missing or not a non-empty string";
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(c, "conversations");
    if (!cJSON_IsArray(conv) || cJSON_GetArraySize(conv) == 0) return "key 'conversations' missing or empty";
    const cJSON *t;
    cJSON_ArrayForEach(t, conv) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "from"), *v = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (!cJSON_IsString(f) || !cJSON_IsString(v)) return "a conversation turn lacks string 'from' and 'value'";
        if (strcmp(f->valuestring, "human") && strcmp(f->valuestring, "gpt")) return "a turn's 'from' is neither 'human' nor 'gpt'";
        if (!rv_utf8_valid(v->valuestring, strlen(v->valuestring))) return "a turn's text is not valid UTF-8";
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
    if (id && !cJSON_IsString(id) && !cJSON_IsNumber(id)) return "key 'id' is neither a string nor a number";
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(c, "labels");
    if (lab) {
        if (!cJSON_IsArray(lab)) return "key 'labels' is not a list";
        cJSON_ArrayForEach(t, lab) if (!cJSON_IsString(t)) return "key 'labels' holds a non-string";
    }
    return NULL;
}

int rv_llava_read(const char *path, rv_badrec *bad, cJSON **out, rv_err *err) {
    cJSON *root = rv_json_parse_file(path, err);
    if (!root) return -1;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return rv_fail(err, "%s: expected a JSON list of LLaVA cells ({\"image\", \"conversations\", \"id\"})", path);
    }
    size_t i = 0;
    for (cJSON *c = root->child, *next; c; c = next, i++) {
        next = c->next;
        const char *why = cell_problem(c);
        if (!why) continue;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        char where[1200];
        snprintf(where, sizeof where, "%s: cell %zu%s%s%s", path, i, cJSON_IsString(id) ? " (id " : "",
                 cJSON_IsString(id) ? id->valuestring : "", cJSON_IsString(id) ? ")" : "");
        if (rv_badrec_report(bad, err, where, "%s", why) != 0) {
            cJSON_Delete(root);
            return -1;
        }
        cJSON_Delete(cJSON_DetachItemViaPointer(root, c));
    }
    *out = root;
    return 0;
}

static const struct {
    const char *prefix;
    rv_task task;
    rv_source source;
} prefixes[] = {
    {"vindr-cxr-train", RV_TASK_DETECT, RV_SRC_VINDR},
    {"vindr-cxr-mono-train", RV_TASK_ABN_GROUND, RV_SRC_VINDR},
    {"mscxr-train", RV_TASK_PHRASE, RV_SRC_MSCXR},
    {"padchest-train", RV_TASK_PHRASE, RV_SRC_PADCHEST},
    {"mimic-train", RV_TASK_REPORT, RV_SRC_MIMIC},
    {"chexpertplus-train", RV_TASK_REPORT, RV_SRC_CHEXPERT_PLUS},
    {"chestima-train", RV_TASK_ANATOMY, RV_SRC_IMAGENOME},
    {"mimic-labels-train", RV_TASK_CLASSIFY, RV_SRC_MIMIC},
    {"chexpert-train", RV_TASK_CLASSIFY, RV_SRC_CHEXPERT},
    {"conv-train", RV_TASK_CONV, RV_SRC_MIMIC},
    {"conv-grounded-train", RV_TASK_GCONV, RV_SRC_MSCXR},
    {"conv-grounded-padchest-train", RV_TASK_GCONV, RV_SRC_PADCHEST},
};

/* Source of each evaluation set (data.md §10, upstream RadVLM's choices). */
static const rv_source test_source[RV_TASK_COUNT] = {
    [RV_TASK_REPORT] = RV_SRC_MIMIC,   [RV_TASK_CLASSIFY] = RV_SRC_CHEXPERT, [RV_TASK_ANATOMY] = RV_SRC_IMAGENOME,
    [RV_TASK_ABN_GROUND] = RV_SRC_VINDR, [RV_TASK_DETECT] = RV_SRC_VINDR,  [RV_TASK_PHRASE] = RV_SRC_MSCXR,
    [RV_TASK_CONV] = RV_SRC_MIMIC,     [RV_TASK_GCONV] = RV_SRC_MSCXR,
};

void rv_llava_infer(const char *id, int *task, int *source) {
    *task = *source = -1;
    if (!id) return;
    const char *us = strrchr(id, '_');
    size_t n = us ? (size_t)(us - id) : strlen(id);
    char base[128];
    if (n >= sizeof base) return;
    memcpy(base, id, n);
    base[n] = 0;
    rv_task t;
    if (rv_task_parse(base, &t) == 0) {
        *task = (int)t;
        *source = (int)test_source[t];
        return;
    }
    while (n > 0 && isdigit((unsigned char)base[n - 1])) base[--n] = 0; /* "mscxr-train3" -> "mscxr-train" */
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strcmp(base, prefixes[i].prefix) == 0) {
            *task = (int)prefixes[i].task;
            *source = (int)prefixes[i].source;
            return;
        }
}

void rv_llava_answer_boxes(const char *s, float **boxes, size_t *n, size_t *cap) {
    for (const char *p = strchr(s, '['); p; p = strchr(p + 1, '[')) {
        double v[4];
        const char *q = p + 1;
        int k = 0;
        for (; k < 4; k++) {
            while (k && (*q == ' ' || *q == '\t' || *q == '\n')) q++;
            const char *st = q;
            if (*q == '-') q++;
            while ((*q >= '0' && *q <= '9') || *q == '.') q++;
            if (q == st || (q == st + 1 && *st == '-')) break;
            v[k] = strtod(st, NULL);
            if (k < 3) {
                if (*q != ',') break;
                q++;
            }
        }
        if (k < 4 || *q != ']') continue;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 8;
            *boxes = rv_xrealloc(*boxes, *cap * 4 * sizeof **boxes);
        }
        for (int j = 0; j < 4; j++) (*boxes)[*n * 4 + j] = (float)v[j];
        (*n)++;
    }
}

int rv_llava_cell_boxes(const cJSON *cell, double **out, size_t *n) {
    *out = NULL;
    *n = 0;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cell, "boxes"), *b, *v;
    if (!list) return 0;
    if (!cJSON_IsArray(list)) return -1;
    size_t cnt = (size_t)cJSON_GetArraySize(list), i = 0;
    double *o = cnt ? rv_xmalloc(cnt * 4 * sizeof *o) : NULL;
    cJSON_ArrayForEach(b, list) {
        int k = 0;
        if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) != 4) break;
        cJSON_ArrayForEach(v, b) {
            if (!cJSON_IsNumber(v)) break;
            o[i * 4 + k++] = v->valuedouble;
        }
        if (k < 4) break;
        i++;
    }
    if (i < cnt) {
        free(o);
        return -1;
    }
    *out = o;
    *n = cnt;
    return 1;
}
