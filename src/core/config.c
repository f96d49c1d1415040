#define _GNU_SOURCE
#include "core/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/json.h"

typedef struct value {
    char *s;   /* STR, ENUM */
    long long i;
    double d;
    bool b;
    bool set;  /* from the job file or --set */
} value;

struct rv_config {
    size_t n;
    value *v;
};

static size_t schema_len(void) {
    size_t n = 0;
    while (rv_cfg_schema[n].key) n++;
    return n;
}

static long find_key(const char *key) {
    for (size_t i = 0; rv_cfg_schema[i].key; i++)
        if (strcmp(rv_cfg_schema[i].key, key) == 0) return (long)i;
    return -1;
}

size_t rv_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = rv_xmalloc((lb + 1) * sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

static const char *closest_key(const char *key) {
    const char *best = rv_cfg_schema[0].key;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; rv_cfg_schema[i].key; i++) {
        size_t d = rv_edit_distance(key, rv_cfg_schema[i].key);
        if (d < bestd) { bestd = d; best = rv_cfg_schema[i].key; }
    }
    return best;
}

static const char *type_name(const rv_cfg_key *k) {
    switch (k->type) {
    case RV_CFG_STR: return "a string";
    case RV_CFG_INT: return "an integer";
    case RV_CFG_NUM: return "a number";
    case RV_CFG_BOOL: return "true or false";
    case RV_CFG_ENUM: return "one of";
    }
    return "?";
}

static bool enum_has(const char *choices, const char *s) {
    size_t n = strlen(s);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

/* Parses text for key index k into out; origin names where the text came from. */
static int parse_text(size_t k, const char *text, value *out, const char *origin, rv_err *err) {
    const rv_cfg_key *K = &rv_cfg_schema[k];
    char *end;
    switch (K->type) {
    case RV_CFG_STR:
        free(out->s);
        out->s = rv_xstrdup(text);
        return 0;
    case RV_CFG_ENUM:
        if (!enum_has(K->choices, text))
            return rv_fail(err, "%s: key '%s' must be one of %s, got \"%s\"", origin, K->key, K->choices, text);
        free(out->s);
        out->s = rv_xstrdup(text);
        return 0;
    case RV_CFG_INT:
        errno = 0;
        out->i = strtoll(text, &end, 10);
        if (errno || end == text || *end)
            return rv_fail(err, "%s: key '%s' must be an integer, got \"%s\"", origin, K->key, text);
        return 0;
    case RV_CFG_NUM:
        errno = 0;
        out->d = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(out->d))
            return rv_fail(err, "%s: key '%s' must be a finite number, got \"%s\"", origin, K->key, text);
        return 0;
    case RV_CFG_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes")) out->b = true;
        else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no")) out->b = false;
        else return rv_fail(err, "%s: key '%s' must be true or false, got \"%s\"", origin, K->key, text);
        return 0;
    }
    return -1;
}

static int unknown_key(const char *origin, const char *key, rv_err *err) {
    return rv_fail(err, "%s: unknown key '%s'; the closest valid key is '%s' (radvlm-hpc --help lists every key)",
                   origin, key, closest_key(key));
}

/* Applies one JSON value (from the job file) to key path. */
static int apply_json(rv_config *c, const char *path, const cJSON *node, const char *origin, rv_err *err) {
    if (cJSON_IsObject(node)) {
        /* A section: recurse. An object where a leaf key is expected is also caught here. */
        long leaf = find_key(path);
        if (leaf >= 0)
            return rv_fail(err, "%s: key '%s' must be %s%s%s, got an object", origin, path, type_name(&rv_cfg_schema[leaf]),
                           rv_cfg_schema[leaf].choices ? " " : "", rv_cfg_schema[leaf].choices ? rv_cfg_schema[leaf].choices : "");
        for (const cJSON *ch = node->child; ch; ch = ch->next) {
            char *sub = *path ? rv_xasprintf("%s.%s", path, ch->string) : rv_xstrdup(ch->string);
            int rc = apply_json(c, sub, ch, origin, err);
            free(sub);
            if (rc) return rc;
        }
        return 0;
    }
    long k = find_key(path);
    if (k < 0) {
        /* A path that is a prefix of known keys is a section given a non-object value. */
        size_t n = strlen(path);
        for (size_t i = 0; rv_cfg_schema[i].key; i++)
            if (!strncmp(rv_cfg_schema[i].key, path, n) && rv_cfg_schema[i].key[n] == '.')
                return rv_fail(err, "%s: '%s' is a section and must be an object", origin, path);
        return unknown_key(origin, path, err);
    }
    const rv_cfg_key *K = &rv_cfg_schema[k];
    value *v = &c->v[k];
    char text[64];
    switch (K->type) {
    case RV_CFG_STR:
    case RV_CFG_ENUM:
        if (!cJSON_IsString(node)) goto bad;
        if (parse_text((size_t)k, node->valuestring, v, origin, err)) return -1;
        break;
    case RV_CFG_INT:
        if (!cJSON_IsNumber(node) || node->valuedouble != floor(node->valuedouble) || fabs(node->valuedouble) > 9.0e15)
            goto bad;
        v->i = (long long)node->valuedouble;
        break;
    case RV_CFG_NUM:
        if (!cJSON_IsNumber(node)) goto bad;
        v->d = node->valuedouble;
        break;
    case RV_CFG_BOOL:
        if (!cJSON_IsBool(node)) goto bad;
        v->b = cJSON_IsTrue(node);
        break;
    }
    v->set = true;
    return 0;
bad:
    if (cJSON_IsString(node)) snprintf(text, sizeof text, "string \"%.40s\"", node->valuestring);
    else if (cJSON_IsNumber(node)) snprintf(text, sizeof text, "number %g", node->valuedouble);
    else if (cJSON_IsBool(node)) snprintf(text, sizeof text, "%s", cJSON_IsTrue(node) ? "true" : "false");
    else if (cJSON_IsArray(node)) snprintf(text, sizeof text, "an array");
    else snprintf(text, sizeof text, "null");
    return rv_fail(err, "%s: key '%s' must be %s%s%s, got %s", origin, path, type_name(K), K->choices ? " " : "",
                   K->choices ? K->choices : "", text);
}

int rv_config_load(rv_config **out, const char *path, const char *const *sets, int nsets, rv_err *err) {
    rv_config *c = rv_xcalloc(1, sizeof *c);
    c->n = schema_len();
    c->v = rv_xcalloc(c->n, sizeof *c->v);
    for (size_t i = 0; i < c->n; i++) {
        rv_err e2;
        if (parse_text(i, rv_cfg_schema[i].def, &c->v[i], "built-in default", &e2)) {
            rv_config_free(c);
            return rv_fail(err, "internal: %s", e2.msg);
        }
    }
    if (path) {
        cJSON *root = rv_json_parse_file(path, err);
        if (!root) { rv_config_free(c); return -1; }
        int rc = cJSON_IsObject(root) ? apply_json(c, "", root, path, err)
                                      : rv_fail(err, "%s: a job config must be a JSON object of sections", path);
        cJSON_Delete(root);
        if (rc) { rv_config_free(c); return -1; }
    }
    for (int i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq) {
            rv_config_free(c);
            return rv_fail(err, "--set %s: expected key=value", sets[i]);
        }
        char *key = rv_xstrndup(sets[i], (size_t)(eq - sets[i]));
        int rc = rv_cfg_set(c, key, eq + 1, err);
        free(key);
        if (rc) { rv_config_free(c); return -1; }
    }
    *out = c;
    return 0;
}

int rv_cfg_set(rv_config *c, const char *key, const char *value_text, rv_err *err) {
    long k = find_key(key);
    if (k < 0) return unknown_key("--set", key, err);
    if (parse_text((size_t)k, value_text, &c->v[k], "--set", err)) return -1;
    c->v[k].set = true;
    return 0;
}

void rv_config_free(rv_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->v[i].s);
    free(c->v);
    free(c);
}

static const value *get(const rv_config *c, const char *key, rv_cfg_type want) {
    long k = find_key(key);
    if (k < 0 || (rv_cfg_schema[k].type != want && !(want == RV_CFG_STR && rv_cfg_schema[k].type == RV_CFG_ENUM))) {
        fprintf(stderr, "radvlm-hpc: internal error: config key '%s' read with the wrong type or missing from the schema\n", key);
        abort();
    }
    return &c->v[k];
}

const char *rv_cfg_str(const rv_config *c, const char *key) { return get(c, key, RV_CFG_STR)->s; }
long long rv_cfg_int(const rv_config *c, const char *key) { return get(c, key, RV_CFG_INT)->i; }
double rv_cfg_num(const rv_config *c, const char *key) { return get(c, key, RV_CFG_NUM)->d; }
bool rv_cfg_bool(const rv_config *c, const char *key) { return get(c, key, RV_CFG_BOOL)->b; }

bool rv_cfg_is_set(const rv_config *c, const char *key) {
    long k = find_key(key);
    return k >= 0 && c->v[k].set;
}

/* Finds or creates the object for the section part of a dotted key. */
static cJSON *section(cJSON *root, const char *key, const char **leaf) {
    cJSON *obj = root;
    const char *p = key;
    const char *dot;
    while ((dot = strchr(p, '.'))) {
        char *name = rv_xstrndup(p, (size_t)(dot - p));
        cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!next) next = cJSON_AddObjectToObject(obj, name);
        free(name);
        obj = next;
        p = dot + 1;
    }
    *leaf = p;
    return obj;
}

char *rv_config_to_json(const rv_config *c) {
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; i < c->n; i++) {
        const char *leaf;
        cJSON *obj = section(root, rv_cfg_schema[i].key, &leaf);
        const value *v = &c->v[i];
        switch (rv_cfg_schema[i].type) {
        case RV_CFG_STR:
        case RV_CFG_ENUM: cJSON_AddStringToObject(obj, leaf, v->s); break;
        case RV_CFG_INT: cJSON_AddNumberToObject(obj, leaf, (double)v->i); break;
        case RV_CFG_NUM: cJSON_AddItemToObject(obj, leaf, rv_json_float(v->d)); break;
        case RV_CFG_BOOL: cJSON_AddBoolToObject(obj, leaf, v->b); break;
        }
    }
    rv_sb b;
    rv_sb_init(&b);
    rv_pyjson_dump(&b, root, 2, false);
    rv_sb_putc(&b, '\n');
    cJSON_Delete(root);
    return rv_sb_take(&b);
}

char *rv_config_help(const char *prefix) {
    rv_sb b;
    rv_sb_init(&b);
    size_t n = strlen(prefix);
    for (size_t i = 0; rv_cfg_schema[i].key; i++) {
        const rv_cfg_key *K = &rv_cfg_schema[i];
        if (strncmp(K->key, prefix, n) != 0) continue;
        const char *t = K->type == RV_CFG_STR ? "string" : K->type == RV_CFG_INT ? "int" : K->type == RV_CFG_NUM ? "number"
                      : K->type == RV_CFG_BOOL ? "bool" : K->choices;
        rv_sb_printf(&b, "  %-32s %-18s default %s\n      %s\n", K->key, t, *K->def ? K->def : "\"\"", K->help);
    }
    return rv_sb_take(&b);
}
