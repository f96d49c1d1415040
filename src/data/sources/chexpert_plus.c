/* CheXpert-Plus report generation (data.md §3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "data/sources/reader_util.h"
#include "data/sources/report_text.h"
#include "io/json.h"

/* "train/patient42142/study5/view1_frontal.jpg" -> "train_patient42142_study5" (first 3 parts). */
static char *report_stem(const char *path) {
    rv_sb b;
    rv_sb_init(&b);
    int parts = 0;
    const char *s = path;
    while (parts < 3) {
        const char *e = strchr(s, '/');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (parts) rv_sb_putc(&b, '_');
        rv_sb_append(&b, s, l);
        parts++;
        if (!e) break;
        s = e + 1;
    }
    return rv_sb_take(&b);
}

/* Positive labels per image from chexbert_labels/report_fixed.json (JSON Lines). Only the
 * images in `wanted` are kept; each label list is stored NUL-separated, ending with "\0\0". */
typedef struct labels {
    char **paths, **lists;
    size_t n;
    rv_smap map;
} labels;

static void labels_free(labels *L) {
    rv_free_strv(L->paths, L->n);
    rv_free_strv(L->lists, L->n);
    rv_smap_free(&L->map);
}

static int labels_load(const rv_reader_ctx *c, const char *path, const rv_smap *wanted, labels *L, rv_err *err) {
    memset(L, 0, sizeof *L);
    rv_smap_init(&L->map, wanted->n);
    if (!rv_is_file(path))
        return rv_fail(err, "%s: file not found (CheXpert-Plus chexbert labels, JSON Lines; it comes with the "
                            "CheXpert-Plus download)", path);
    char *text;
    size_t len;
    if (rv_read_file(path, &text, &len, err) < 0) return -1;
    size_t line = 0, cap = 0;
    int rc = 0;
    for (char *s = text; s < text + len && rc == 0;) {
        char *e = memchr(s, '\n', (size_t)(text + len - s));
        size_t l = e ? (size_t)(e - s) : (size_t)(text + len - s);
        line++;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, line);
        size_t a = 0;
        while (a < l && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) a++;
        if (a < l) {
            rv_err e2;
            cJSON *o = rv_json_parse(where, s, l, &e2);
            const cJSON *p = o ? cJSON_GetObjectItemCaseSensitive(o, "path_to_image") : NULL;
            if (!o || !cJSON_IsObject(o) || !cJSON_IsString(p)) {
                rc = rv_badrec_report(c->bad, err, where, "%s",
                                      !o ? e2.msg : "expected an object with a \"path_to_image\" string");
            } else if (rv_smap_get(wanted, p->valuestring) != RV_MAP_NONE) {
                rv_sb b;
                rv_sb_init(&b);
                const cJSON *kv;
                cJSON_ArrayForEach(kv, o) {
                    if (kv == p) continue;
                    if ((cJSON_IsNumber(kv) && kv->valuedouble == 1.0) || cJSON_IsTrue(kv)) {
                        rv_sb_puts(&b, kv->string);
                        rv_sb_putc(&b, '\0');
                    }
                }
                rv_sb_putc(&b, '\0');
                rv_sb_putc(&b, '\0');
                size_t k = rv_smap_get(&L->map, p->valuestring);
                if (k != RV_MAP_NONE) { /* later lines overwrite earlier ones (dict assignment) */
                    free(L->lists[k]);
                    L->lists[k] = rv_sb_take(&b);
                } else {
                    if (L->n == cap) {
                        cap = cap ? 2 * cap : 1024;
                        L->paths = rv_xrealloc(L->paths, cap * sizeof *L->paths);
                        L->lists = rv_xrealloc(L->lists, cap * sizeof *L->lists);
                    }
                    L->paths[L->n] = rv_xstrdup(p->valuestring);
                    L->lists[L->n] = rv_sb_take(&b);
                    rv_smap_put(&L->map, L->paths[L->n], L->n);
                    L->n++;
                }
            }
            if (o) cJSON_Delete(o);
        }
        s = e ? e + 1 : text + len;
    }
    free(text);
    return rc;
}

int rv_read_chexpert_plus(const rv_reader_ctx *c, const char *split, rv_dataset **out, rv_err *err) {
    *out = NULL;
    const char *value;
    if (split && strcmp(split, "train") == 0) value = "train";
    else if (split && strcmp(split, "test") == 0) value = "valid"; /* upstream's test set is the CSV's valid rows */
    else if (split && strcmp(split, "valid") == 0)
        return rv_fail(err, "CheXpert-Plus: there is no 'valid' split (upstream trains on 100%% of train; its "
                            "'test' is the CSV's valid rows): use train or test");
    else
        return rv_fail(err, "CheXpert-Plus: split '%s' is not one of train, test", split ? split : "(null)");

    char *dir = rv_path_join(c->data_dir, "CheXpert");
    char *csv_path = rv_path_join(dir, "df_chexpert_plus_240401.csv");
    char *rep_dir = rv_path_join(dir, "filtered_reports");
    char *lab_path = rv_path_join(dir, "chexbert_labels/report_fixed.json");
    rv_csv *csv = NULL;
    rv_nameset files = {0};
    rv_smap wanted = {0};
    labels L = {0};
    size_t *sel = NULL, nsel = 0, dropped = 0;
    char **texts = NULL;
    rv_dataset *d = NULL;
    int rc = -1;

    if (rv_reader_csv(c, csv_path, "CheXpert-Plus", &csv, err) < 0) goto out;
    static const char *const names[6] = {"path_to_image", "split", "frontal_lateral", "section_findings",
                                         "section_impression", "section_end_of_impression"};
    int col[6];
    if (rv_reader_cols(csv, names, col, 6, err) < 0) goto out;
    bool use_files = rv_is_dir(rep_dir);
    if (use_files) {
        if (rv_nameset_load(&files, rep_dir, ".txt", err) < 0) goto out;
    } else {
        rv_warn("%s: no such directory; CheXpert-Plus uses the raw report sections%s", rep_dir,
                c->report_filter == RV_REPORT_FILTER_RULES ? " through the offline rule filter" : " unfiltered");
    }

    /* rows: split, frontal, and a filtered report (or usable raw text) */
    sel = rv_xmalloc((csv->nrows + 1) * sizeof *sel);
    texts = rv_xcalloc(csv->nrows + 1, sizeof *texts);
    rv_smap_init(&wanted, csv->nrows);
    for (size_t i = 0; i < csv->nrows; i++) {
        if (strcmp(rv_csv_get(csv, i, col[1]), value) != 0) continue;
        if (strcmp(rv_csv_get(csv, i, col[2]), "Frontal") != 0) continue;
        const char *img = rv_csv_get(csv, i, col[0]);
        char *text = NULL;
        if (use_files) {
            char *stem = report_stem(img);
            bool has = rv_nameset_has(&files, stem);
            if (has) {
                char *fname = rv_xasprintf("%s.txt", stem);
                char *p = rv_path_join(rep_dir, fname);
                free(fname);
                rv_err e;
                if (rv_read_text_py(p, &text, &e) < 0) {
                    int brc = rv_badrec_report(c->bad, err, p, "filtered report unreadable: %s", e.msg);
                    free(p);
                    free(stem);
                    if (brc < 0) goto out;
                    continue;
                }
                free(p);
            }
            free(stem);
            if (!has) continue;
        } else {
            text = rv_report_apply_filter(
                c->report_filter, rv_report_chexpert_plus_raw(rv_csv_get(csv, i, col[3]), rv_csv_get(csv, i, col[4]),
                                                              rv_csv_get(csv, i, col[5])));
            if (!text) {
                dropped++;
                continue;
            }
        }
        texts[nsel] = text;
        sel[nsel++] = i;
        rv_smap_put(&wanted, img, i);
    }
    if (dropped)
        rv_info("CheXpert-Plus: %zu records without report text after %s were left out", dropped,
                c->report_filter == RV_REPORT_FILTER_RULES ? "the rule filter" : "section concatenation");
    if (labels_load(c, lab_path, &wanted, &L, err) < 0) goto out;

    char name[32];
    snprintf(name, sizeof name, "chexpertplus-%s", split);
    d = rv_dataset_new(name, RV_TASK_REPORT);
    for (size_t k = 0; k < nsel; k++) {
        const char *img = rv_csv_get(csv, sel[k], col[0]);
        rv_item *it = rv_dataset_push(d);
        it->image = rv_path_join(dir, img);
        it->id = rv_xstrdup(img);
        it->text = texts[k];
        texts[k] = NULL;
        it->has_labels_field = true;
        size_t li = rv_smap_get(&L.map, img);
        if (li != RV_MAP_NONE)
            for (const char *s = L.lists[li]; *s; s += strlen(s) + 1) rv_item_add_label(it, s);
    }
    rc = 0;
out:
    if (texts)
        for (size_t k = 0; k < nsel; k++) free(texts[k]);
    free(texts);
    free(sel);
    free(dir);
    free(csv_path);
    free(rep_dir);
    free(lab_path);
    rv_csv_free(csv);
    rv_nameset_free(&files);
    rv_smap_free(&wanted);
    labels_free(&L);
    if (rc < 0) {
        rv_dataset_free(d);
        return -1;
    }
    *out = d;
    return 0;
}
