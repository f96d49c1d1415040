#include "data/instruct/llava.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/sources/sample.h"
#include "io/json.h"

static cJSON *turn(const char *from, const char *prefix, const char *value) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddItemToObject(t, "from", cJSON_CreateString(from));
    if (prefix) {
        char *v = rv_xasprintf("%s%s", prefix, value);
        cJSON_AddItemToObject(t, "value", cJSON_CreateString(v));
        free(v);
    } else {
        cJSON_AddItemToObject(t, "value", cJSON_CreateString(value));
    }
    return t;
}

static void add_tail(cJSON *cell, const char *id, char *const *labels, size_t nlabels, bool has_labels,
                     bool pathologies) {
    cJSON_AddItemToObject(cell, "id", cJSON_CreateString(id));
    if (has_labels) {
        cJSON *l = cJSON_CreateArray();
        for (size_t i = 0; i < nlabels; i++) cJSON_AddItemToArray(l, cJSON_CreateString(labels[i]));
        cJSON_AddItemToObject(cell, "labels", l);
    }
    if (pathologies) {
        cJSON *p = cJSON_CreateArray();
        for (size_t i = 0; i < 13; i++) cJSON_AddItemToArray(p, cJSON_CreateString(rv_chexpert13[i]));
        cJSON_AddItemToObject(cell, "pathologies", p);
    }
}

cJSON *rv_llava_cell_qa(const char *image, const char *question, const char *answer, const char *id,
                        char *const *labels, size_t nlabels, bool has_labels, bool pathologies) {
    cJSON *cell = cJSON_CreateObject();
    cJSON_AddItemToObject(cell, "image", cJSON_CreateString(image));
    cJSON *conv = cJSON_CreateArray();
    cJSON_AddItemToArray(conv, turn("human", "<image>\n", question));
    cJSON_AddItemToArray(conv, turn("gpt", NULL, answer));
    cJSON_AddItemToObject(cell, "conversations", conv);
    add_tail(cell, id, labels, nlabels, has_labels, pathologies);
    return cell;
}

void rv_llava_add_boxes(cJSON *cell, const rv_box *boxes, size_t n) {
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *b = cJSON_CreateArray();
        for (int k = 0; k < 4; k++) cJSON_AddItemToArray(b, rv_json_float(boxes[i].v[k]));
        cJSON_AddItemToArray(list, b);
    }
    cJSON_AddItemToObject(cell, "boxes", list);
}

static int kind(const cJSON *e) {
    if (!cJSON_IsObject(e)) return 0;
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "from")) &&
        cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "value")))
        return 1;
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "question")) &&
        cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "answer")))
        return 2;
    return 0;
}

size_t rv_llava_count_turns(const cJSON *conversation, size_t *malformed) {
    size_t n = 0;
    if (cJSON_IsObject(conversation)) {
        int k = kind(conversation);
        if (!k) (*malformed)++;
        return (size_t)k;
    }
    if (!cJSON_IsArray(conversation)) {
        (*malformed)++;
        return 0;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, conversation) {
        int k = kind(e);
        if (!k) (*malformed)++;
        n += (size_t)k;
    }
    return n;
}

static void add_element(cJSON *conv, const cJSON *e, bool *first) {
    const char *pre = *first ? "<image>\n" : NULL;
    if (kind(e) == 1) {
        cJSON *c = cJSON_Duplicate(e, 1);
        if (pre) {
            const char *v = cJSON_GetObjectItemCaseSensitive(e, "value")->valuestring;
            char *nv = rv_xasprintf("%s%s", pre, v);
            cJSON_ReplaceItemInObjectCaseSensitive(c, "value", cJSON_CreateString(nv));
            free(nv);
        }
        cJSON_AddItemToArray(conv, c);
        *first = false;
    } else if (kind(e) == 2) {
        cJSON_AddItemToArray(conv, turn("human", pre, cJSON_GetObjectItemCaseSensitive(e, "question")->valuestring));
        cJSON_AddItemToArray(conv, turn("gpt", NULL, cJSON_GetObjectItemCaseSensitive(e, "answer")->valuestring));
        *first = false;
    }
}

cJSON *rv_llava_cell_conv(const char *image, const cJSON *conversation, const char *id,
                          char *const *labels, size_t nlabels, bool has_labels, bool pathologies) {
    cJSON *conv = cJSON_CreateArray();
    bool first = true;
    if (cJSON_IsArray(conversation)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, conversation) add_element(conv, e, &first);
    } else {
        add_element(conv, conversation, &first);
    }
    if (first) {
        cJSON_Delete(conv);
        return NULL;
    }
    cJSON *cell = cJSON_CreateObject();
    cJSON_AddItemToObject(cell, "image", cJSON_CreateString(image));
    cJSON_AddItemToObject(cell, "conversations", conv);
    add_tail(cell, id, labels, nlabels, has_labels, pathologies);
    return cell;
}

void rv_llava_append_cell(rv_sb *out, const cJSON *cell) {
    rv_sb one;
    rv_sb_init(&one);
    rv_pyjson_dump(&one, cell, 4, true);
    /* Nest one level: string literals never hold a raw newline (json escapes it), so every
     * '\n' in the text is a line break of the layout. */
    rv_sb_puts(out, ",\n    ");
    for (size_t i = 0; i < one.len; i++) {
        rv_sb_putc(out, one.s[i]);
        if (one.s[i] == '\n') rv_sb_puts(out, "    ");
    }
    rv_sb_free(&one);
}

void rv_llava_finish(rv_sb *out, const char *pieces, size_t len) {
    if (len < 2) {
        rv_sb_puts(out, "[]");
        return;
    }
    rv_sb_puts(out, "[\n");
    rv_sb_append(out, pieces + 2, len - 2);
    rv_sb_puts(out, "\n]");
}
