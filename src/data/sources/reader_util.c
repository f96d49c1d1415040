#include "data/sources/reader_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/utf8.h"

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
    /* data.max_file_bytes: the CSV reader itself applies only the 4 GiB default */
    if (c->max_file_bytes && rv_check_input_file(path, c->max_file_bytes, err) != 0) return -1;
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
