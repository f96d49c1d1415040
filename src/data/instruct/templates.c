#include "data/instruct/templates.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/json.h"

enum { PH_LABEL = 1, PH_BOXES = 2, PH_PHRASE = 4, PH_ARTICLE = 8 };

static const struct { const char *name; unsigned bit; } placeholders[] = {
    {"label", PH_LABEL}, {"boxes", PH_BOXES}, {"phrase", PH_PHRASE}, {"article", PH_ARTICLE}};

/* Scans a template: the set of placeholders used, or -1 with a reason. */
static int scan(const char *t, unsigned *used, char *why, size_t whylen) {
    *used = 0;
    for (const char *p = t; *p; p++) {
        if (*p == '{') {
            if (p[1] == '{') { p++; continue; }
            const char *e = strchr(p, '}');
            if (!e) { snprintf(why, whylen, "unclosed '{'"); return -1; }
            size_t n = (size_t)(e - p - 1);
            unsigned bit = 0;
            for (size_t i = 0; i < sizeof placeholders / sizeof *placeholders; i++)
                if (strlen(placeholders[i].name) == n && strncmp(p + 1, placeholders[i].name, n) == 0)
                    bit = placeholders[i].bit;
            if (!bit) {
                snprintf(why, whylen, "unknown placeholder '{%.*s}' (known: {label}, {boxes}, {phrase}, {article}; write '{{' for a literal brace)",
                         (int)(n > 40 ? 40 : n), p + 1);
                return -1;
            }
            *used |= bit;
            p = e;
        } else if (*p == '}') {
            if (p[1] == '}') { p++; continue; }
            snprintf(why, whylen, "unmatched '}' (write '}}' for a literal brace)");
            return -1;
        }
    }
    return 0;
}

static void ph_names(unsigned set, char *buf, size_t len) {
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof placeholders / sizeof *placeholders; i++)
        if (set & placeholders[i].bit) {
            size_t l = strlen(buf);
            snprintf(buf + l, len - l, "%s{%s}", l ? " " : "", placeholders[i].name);
        }
    if (!buf[0]) snprintf(buf, len, "none");
}

/* Checks one template string: exactly the placeholders in `need` (each at least once). */
static int check_one(const char *where, const char *key, size_t idx, const char *s, unsigned need, rv_err *err) {
    unsigned used;
    char why[200], want[80], got[80];
    if (scan(s, &used, why, sizeof why) != 0)
        return rv_fail(err, "%s: %s[%zu]: %s in \"%s\"", where, key, idx, why, s);
    if (used != need) {
        ph_names(need, want, sizeof want);
        ph_names(used, got, sizeof got);
        return rv_fail(err, "%s: %s[%zu]: placeholders must be %s but \"%s\" has %s; fix the template file",
                       where, key, idx, want, s, got);
    }
    return 0;
}

static int get_list(const cJSON *root, const char *where, const char *sec, const char *key, unsigned need,
                    rv_tlist *out, rv_err *err) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, sec);
    if (!cJSON_IsObject(s))
        return rv_fail(err, "%s: section '%s' is missing or not an object; see data/templates/instructions.json for the format", where, sec);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) == 0)
        return rv_fail(err, "%s: '%s.%s' must be a non-empty list of strings", where, sec, key);
    size_t n = (size_t)cJSON_GetArraySize(a);
    out->s = rv_xcalloc(n, sizeof *out->s);
    out->n = 0;
    char full[128];
    snprintf(full, sizeof full, "%s.%s", sec, key);
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0')
            return rv_fail(err, "%s: %s[%zu] must be a non-empty string", where, full, out->n);
        if (check_one(where, full, out->n, it->valuestring, need, err) != 0) return -1;
        out->s[out->n++] = rv_xstrdup(it->valuestring);
    }
    return 0;
}

static int get_str(const cJSON *root, const char *where, const char *sec, const char *key, unsigned need,
                   char **out, rv_err *err) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, sec);
    const cJSON *v = cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, key) : NULL;
    if (!cJSON_IsString(v))
        return rv_fail(err, "%s: '%s.%s' must be a string", where, sec, key);
    char full[128];
    snprintf(full, sizeof full, "%s.%s", sec, key);
    if (check_one(where, full, 0, v->valuestring, need, err) != 0) return -1;
    *out = rv_xstrdup(v->valuestring);
    return 0;
}

static void free_list(rv_tlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
}

void rv_templates_free(rv_templates *t) {
    if (!t) return;
    rv_tlist *ls[] = {&t->report_q, &t->cls_q, &t->cls_none, &t->cls_single, &t->cls_multi, &t->phrase_q,
                      &t->phrase_a, &t->loc_q, &t->loc_a, &t->det_q, &t->det_none, &t->det_prefix};
    for (size_t i = 0; i < sizeof ls / sizeof *ls; i++) free_list(ls[i]);
    free(t->det_group);
    free(t->source);
    free(t);
}

int rv_templates_parse(const char *where, const char *text, size_t len, rv_templates **out, rv_err *err) {
    *out = NULL;
    cJSON *root = rv_json_parse(where, text, len, err);
    if (!root) return -1;
    rv_templates *t = rv_xcalloc(1, sizeof *t);
    t->source = rv_xstrdup(where);
    int rc = -1;
    if (!cJSON_IsObject(root)) { rv_fail(err, "%s: the template file must hold a JSON object", where); goto done; }
    if (get_list(root, where, "report_generation", "questions", 0, &t->report_q, err) ||
        get_list(root, where, "abnormality_classification", "questions", 0, &t->cls_q, err) ||
        get_list(root, where, "abnormality_classification", "answers_none", 0, &t->cls_none, err) ||
        get_list(root, where, "abnormality_classification", "prefixes_single", 0, &t->cls_single, err) ||
        get_list(root, where, "abnormality_classification", "prefixes_multi", 0, &t->cls_multi, err) ||
        get_list(root, where, "phrase_grounding", "questions", PH_PHRASE, &t->phrase_q, err) ||
        get_list(root, where, "phrase_grounding", "answers", PH_BOXES, &t->phrase_a, err) ||
        get_list(root, where, "location", "questions", PH_LABEL, &t->loc_q, err) ||
        get_list(root, where, "location", "answers", PH_LABEL | PH_BOXES, &t->loc_a, err) ||
        get_list(root, where, "abnormality_detection", "questions", 0, &t->det_q, err) ||
        get_list(root, where, "abnormality_detection", "answers_none", 0, &t->det_none, err) ||
        get_list(root, where, "abnormality_detection", "prefixes", 0, &t->det_prefix, err) ||
        get_str(root, where, "abnormality_detection", "group", PH_ARTICLE | PH_LABEL | PH_BOXES, &t->det_group, err))
        goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc != 0) { rv_templates_free(t); return -1; }
    *out = t;
    return 0;
}

int rv_templates_load(const char *path, rv_templates **out, rv_err *err) {
    if (path && path[0]) {
        char *text;
        size_t len;
        if (rv_read_file(path, &text, &len, err) != 0)
            return rv_fail_wrap(err, "data.templates");
        int rc = rv_templates_parse(path, text, len, out, err);
        free(text);
        return rc;
    }
    return rv_templates_parse("built-in templates", rv_default_templates_json, strlen(rv_default_templates_json), out, err);
}

void rv_template_render(rv_sb *out, const char *tmpl, const rv_tvars *v) {
    for (const char *p = tmpl; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            rv_sb_putc(out, *p);
            p++;
            continue;
        }
        if (*p != '{') { rv_sb_putc(out, *p); continue; }
        const char *e = strchr(p, '}');
        size_t n = e ? (size_t)(e - p - 1) : 0;
        const char *val = NULL;
        if (e && n == 5 && !strncmp(p + 1, "label", 5)) val = v->label;
        else if (e && n == 5 && !strncmp(p + 1, "boxes", 5)) val = v->boxes;
        else if (e && n == 6 && !strncmp(p + 1, "phrase", 6)) val = v->phrase;
        else if (e && n == 7 && !strncmp(p + 1, "article", 7)) val = v->article;
        if (!e) { rv_sb_puts(out, p); return; }
        rv_sb_puts(out, val ? val : "");
        p = e;
    }
}
