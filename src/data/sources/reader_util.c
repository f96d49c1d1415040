#include "data/sources/reader_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/utf8.h"

/* ---- hash maps ---- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h;
}

static uint64_t hash_u64(uint64_t x) { /* splitmix64 finaliser */
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static size_t cap_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 1) cap *= 2;
    return cap;
}

void rv_smap_init(rv_smap *m, size_t expected) {
    m->cap = cap_for(expected);
    m->n = 0;
    m->keys = rv_xcalloc(m->cap, sizeof *m->keys);
    m->vals = rv_xcalloc(m->cap, sizeof *m->vals);
}

void rv_smap_free(rv_smap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static void smap_grow(rv_smap *m) {
    rv_smap g;
    rv_smap_init(&g, m->cap);
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) rv_smap_put(&g, m->keys[i], m->vals[i]);
    rv_smap_free(m);
    *m = g;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t smap_slot(const rv_smap *m, const char *key) {
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & (m->cap - 1);
    return i;
}

size_t rv_smap_put(rv_smap *m, const char *key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) smap_grow(m);
    size_t i = smap_slot(m, key);
    if (m->keys[i]) return m->vals[i];
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return RV_MAP_NONE;
}

void rv_smap_set(rv_smap *m, const char *key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) smap_grow(m);
    size_t i = smap_slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->n++;
    }
    m->vals[i] = val;
}

size_t rv_smap_get(const rv_smap *m, const char *key) {
    if (!m->cap) return RV_MAP_NONE;
    size_t i = smap_slot(m, key);
    return m->keys[i] ? m->vals[i] : RV_MAP_NONE;
}

void rv_imap_init(rv_imap *m, size_t expected) {
    m->cap = cap_for(expected);
    m->n = 0;
    m->keys = rv_xcalloc(m->cap, sizeof *m->keys);
    m->vals = rv_xcalloc(m->cap, sizeof *m->vals);
    m->used = rv_xcalloc(m->cap, 1);
}

void rv_imap_free(rv_imap *m) {
    free(m->keys);
    free(m->vals);
    free(m->used);
    memset(m, 0, sizeof *m);
}

static void imap_grow(rv_imap *m) {
    rv_imap g;
    rv_imap_init(&g, m->cap);
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i]) rv_imap_put(&g, m->keys[i], m->vals[i]);
    rv_imap_free(m);
    *m = g;
}

size_t rv_imap_put(rv_imap *m, uint64_t key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) imap_grow(m);
    size_t i = (size_t)hash_u64(key) & (m->cap - 1);
    while (m->used[i]) {
        if (m->keys[i] == key) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    m->used[i] = 1;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return RV_MAP_NONE;
}

size_t rv_imap_get(const rv_imap *m, uint64_t key) {
    if (!m->cap) return RV_MAP_NONE;
    size_t i = (size_t)hash_u64(key) & (m->cap - 1);
    while (m->used[i]) {
        if (m->keys[i] == key) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return RV_MAP_NONE;
}

/* ---- cells ---- */

bool rv_cell_isna(const char *s) {
    static const char *const na[] = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                                     "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None",
                                     "n/a", "nan", "null"};
    for (size_t i = 0; i < sizeof na / sizeof na[0]; i++)
        if (strcmp(s, na[i]) == 0) return true;
    return false;
}

bool rv_cell_num(const char *s, double *out) {
    if (!*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (*end || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool rv_cell_id(const char *s, int64_t *out) {
    double v;
    if (!rv_cell_num(s, &v)) return false;
    if (v < 0 || v >= 4294967296.0 || v != floor(v)) return false;
    *out = (int64_t)v;
    return true;
}

bool rv_cell_label(const char *s, double *v, bool *isna) {
    *isna = rv_cell_isna(s);
    if (*isna) { *v = 0; return true; }
    return rv_cell_num(s, v);
}

/* ---- files ---- */

int rv_read_text_py(const char *path, char **out, rv_err *err) {
    char *d;
    size_t n;
    if (rv_read_file(path, &d, &n, err) < 0) return -1;
    if (!rv_utf8_valid(d, n)) {
        free(d);
        return rv_fail(err, "%s: not valid UTF-8 (re-save the file as UTF-8)", path);
    }
    if (memchr(d, '\0', n)) {
        free(d);
        return rv_fail(err, "%s: contains a NUL byte (the file is not text)", path);
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\r') {
            d[o++] = '\n';
            if (i + 1 < n && d[i + 1] == '\n') i++;
        } else {
            d[o++] = d[i];
        }
    }
    d[o] = 0;
    *out = d;
    return 0;
}

int rv_reader_csv(const rv_reader_ctx *c, const char *path, const char *what, rv_csv **out, rv_err *err) {
    *out = NULL;
    if (!rv_is_file(path))
        return rv_fail(err, "%s: file not found (%s needs it; check data.dir / DATA_DIR and the dataset layout in docs)",
                       path, what);
    rv_csv *csv;
    if (rv_csv_read(path, &csv, err) < 0) return -1;
    for (size_t i = 0; i < csv->nbad; i++) {
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, csv->bad[i].line);
        if (rv_badrec_report(c->bad, err, where, "%s", csv->bad[i].reason) < 0) {
            rv_csv_free(csv);
            return -1;
        }
    }
    *out = csv;
    return 0;
}

int rv_reader_cols(const rv_csv *csv, const char *const *names, int *cols, size_t n, rv_err *err) {
    for (size_t i = 0; i < n; i++)
        if (rv_csv_require(csv, names[i], &cols[i], err) < 0) return -1;
    return 0;
}

int rv_nameset_load(rv_nameset *s, const char *dir, const char *suffix, rv_err *err) {
    memset(s, 0, sizeof *s);
    char **all;
    size_t n;
    if (rv_list_dir(dir, &all, &n, err) < 0) return -1;
    size_t sl = strlen(suffix), k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(all[i]);
        if (l >= sl && strcmp(all[i] + l - sl, suffix) == 0) {
            all[i][l - sl] = 0;
            all[k++] = all[i];
        } else {
            free(all[i]);
        }
    }
    s->names = all;
    s->n = k;
    rv_smap_init(&s->map, k);
    for (size_t i = 0; i < k; i++) rv_smap_put(&s->map, s->names[i], i);
    return 0;
}

bool rv_nameset_has(const rv_nameset *s, const char *name) { return rv_smap_get(&s->map, name) != RV_MAP_NONE; }

void rv_nameset_free(rv_nameset *s) {
    rv_free_strv(s->names, s->n);
    rv_smap_free(&s->map);
    memset(s, 0, sizeof *s);
}

const char *rv_mimic_split_value(const char *split) {
    if (!split) return NULL;
    if (strcmp(split, "train") == 0) return "train";
    if (strcmp(split, "validate") == 0 || strcmp(split, "valid") == 0) return "validate";
    if (strcmp(split, "test") == 0) return "test";
    return NULL;
}
