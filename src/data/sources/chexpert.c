/* CheXpert abnormality classification (data.md §2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "data/sources/reader_util.h"

/* Removes every occurrence of pat from s, in place (str.replace(pat, "")). */
static void remove_all(char *s, const char *pat) {
    size_t pl = strlen(pat);
    char *p;
    while ((p = strstr(s, pat))) memmove(p, p + pl, strlen(p + pl) + 1);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

int rv_read_chexpert(const rv_reader_ctx *c, const char *split, rv_dataset **out, rv_err *err) {
    *out = NULL;
    if (!split || (strcmp(split, "train") != 0 && strcmp(split, "valid") != 0 && strcmp(split, "test") != 0))
        return rv_fail(err, "CheXpert: split '%s' is not one of train, valid, test", split ? split : "(null)");
    char *dir = rv_path_join(c->data_dir, "CheXpert");
    char fname[16];
    snprintf(fname, sizeof fname, "%s.csv", split);
    char *path = rv_path_join(dir, fname);
    rv_csv *csv = NULL;
    rv_dataset *d = NULL;
    int rc = -1;
    if (rv_reader_csv(c, path, "CheXpert", &csv, err) < 0) goto out;
    static const char *const id_names[2] = {"Path", "No Finding"};
    int ic[2], lc[13];
    if (rv_reader_cols(csv, id_names, ic, 2, err) < 0 || rv_reader_cols(csv, rv_chexpert13, lc, 13, err) < 0) goto out;

    char name[32];
    snprintf(name, sizeof name, "chexpert-%s", split);
    d = rv_dataset_new(name, RV_TASK_CLASSIFY);
    d->pathologies = true;
    for (size_t i = 0; i < csv->nrows; i++) {
        const char *rel = rv_csv_get(csv, i, ic[0]);
        if (!ends_with(rel, "frontal.jpg")) continue; /* regex frontal\.jpg$ (P15) */
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, csv->line[i]);
        double v, nf;
        bool na, nf_na;
        if (!rv_cell_label(rv_csv_get(csv, i, ic[1]), &nf, &nf_na)) {
            if (rv_badrec_report(c->bad, err, where, "No Finding = '%s' is not a number", rv_csv_get(csv, i, ic[1])) < 0)
                goto out;
            continue;
        }
        bool healthy = !nf_na && nf == 1.0;
        uint16_t pos = 0;
        int bad = -1;
        for (int k = 0; k < 13 && bad < 0; k++) {
            if (!rv_cell_label(rv_csv_get(csv, i, lc[k]), &v, &na)) {
                bad = k;
                break;
            }
            if (healthy && strcmp(rv_chexpert13[k], "Support Devices") != 0) continue; /* forced to 0 */
            if (!na && (v == 1.0 || v == -1.0)) pos |= (uint16_t)(1u << k);          /* -1 -> 1; NaN never 1 */
        }
        if (bad >= 0) {
            if (rv_badrec_report(c->bad, err, where, "%s = '%s' is not a number (expected 1.0, 0.0, -1.0 or blank)",
                                 rv_chexpert13[bad], rv_csv_get(csv, i, lc[bad])) < 0)
                goto out;
            continue;
        }
        rv_item *it = rv_dataset_push(d);
        /* the version prefixes are removed from the CSV path only, not from DATA_DIR */
        char *clean = rv_xstrdup(rel);
        remove_all(clean, "CheXpert-v1.0-small/");
        remove_all(clean, "CheXpert-v1.0/");
        it->image = rv_path_join(dir, clean);
        free(clean);
        it->id = rv_xstrdup(rel);
        for (int k = 0; k < 13; k++)
            if (pos & (1u << k)) rv_item_add_label(it, rv_chexpert13[k]);
        it->has_labels_field = true;
    }
    rc = 0;
out:
    free(dir);
    free(path);
    rv_csv_free(csv);
    if (rc < 0) {
        rv_dataset_free(d);
        return -1;
    }
    *out = d;
    return 0;
}
