/* The MIMIC-CXR table (data.md §1.2) shared by the MIMIC, Chest ImaGenome and MS-CXR readers:
 * its own module so that mimic.c (which uses the MS-CXR index) and mscxr.c (which uses the table)
 * do not depend on each other. */
#include "data/sources/mimic_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/sources/reader_util.h"
#include "data/sources/report_text.h"

#define KEY(subject, study) (((uint64_t)(subject) << 32) | (uint64_t)(study))

static int bad_at(const rv_reader_ctx *c, rv_err *err, const rv_csv *csv, size_t row, const char *fmt, const char *a,
                  const char *b) {
    char where[4200];
    snprintf(where, sizeof where, "%s:%zu", csv->path, csv->line[row]);
    return rv_badrec_report(c->bad, err, where, fmt, a, b);
}

void rv_mimic_table_free(rv_mimic_table *t) {
    free(t->dir);
    rv_csv_free(t->meta);
    rv_csv_free(t->reports);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

static int read_tables(const rv_reader_ctx *c, rv_mimic_table *t, rv_csv **split, rv_csv **chex, rv_err *err) {
    static const char *const files[4] = {"mimic-cxr-2.0.0-split.csv", "mimic-cxr-2.0.0-metadata.csv",
                                         "mimic-cxr-2.0.0-chexpert.csv", "reports.csv"};
    rv_csv **dst[4] = {split, &t->meta, chex, &t->reports};
    for (int i = 0; i < 4; i++) {
        char *p = rv_path_join(t->dir, files[i]);
        int rc = rv_reader_csv(c, p, "MIMIC-CXR (and Chest ImaGenome / MS-CXR, which build on it)", dst[i], err);
        free(p);
        if (rc < 0) return -1;
    }
    return 0;
}

int rv_mimic_table_load(const rv_reader_ctx *c, const char *split_value, rv_mimic_table *t, rv_err *err) {
    memset(t, 0, sizeof *t);
    t->dir = rv_path_join(c->data_dir, "MIMIC-CXR-JPG");
    rv_csv *split = NULL, *chex = NULL;
    rv_smap split_map = {0};
    rv_imap groups = {0}, report_map = {0}, chex_seen = {0};
    size_t *next = NULL, *first = NULL, *last = NULL;
    size_t cap = 0;
    int rc = -1;

    if (read_tables(c, t, &split, &chex, err) < 0) goto out;

    static const char *const split_names[4] = {"dicom_id", "subject_id", "study_id", "split"};
    static const char *const meta_names[6] = {"dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns"};
    static const char *const rep_names[4] = {"study", "findings", "impression", "last_paragraph"};
    int sc[4], mc[6], rcol[4], cc[2], lc[13];
    static const char *const chex_ids[2] = {"subject_id", "study_id"};
    if (rv_reader_cols(split, split_names, sc, 4, err) < 0 || rv_reader_cols(t->meta, meta_names, mc, 6, err) < 0 ||
        rv_reader_cols(t->reports, rep_names, rcol, 4, err) < 0 || rv_reader_cols(chex, chex_ids, cc, 2, err) < 0 ||
        rv_reader_cols(chex, rv_chexpert13, lc, 13, err) < 0)
        goto out;
    memcpy(t->rep_col, rcol + 1, sizeof t->rep_col);

    /* split rows by dicom_id */
    rv_smap_init(&split_map, split->nrows);
    for (size_t i = 0; i < split->nrows; i++)
        if (rv_smap_put(&split_map, rv_csv_get(split, i, sc[0]), i) != RV_MAP_NONE &&
            bad_at(c, err, split, i, "duplicate dicom_id '%s'%s; the first row is used", rv_csv_get(split, i, sc[0]),
                   "") < 0)
            goto out;

    /* metadata rows of the wanted split, chained per (subject, study) in metadata order */
    const rv_csv *m = t->meta;
    next = rv_xmalloc((m->nrows + 1) * sizeof *next);
    rv_imap_init(&groups, m->nrows / 2 + 1);
    rv_smap seen_dicom;
    rv_smap_init(&seen_dicom, m->nrows);
    for (size_t i = 0; i < m->nrows; i++) {
        next[i] = RV_MAP_NONE;
        const char *dicom = rv_csv_get(m, i, mc[0]);
        int64_t subj, study;
        if (!rv_cell_id(rv_csv_get(m, i, mc[1]), &subj) || !rv_cell_id(rv_csv_get(m, i, mc[2]), &study)) {
            if (bad_at(c, err, m, i, "subject_id '%s' / study_id '%s' must be non-negative integers",
                       rv_csv_get(m, i, mc[1]), rv_csv_get(m, i, mc[2])) < 0)
                goto out_meta;
            continue;
        }
        if (rv_smap_put(&seen_dicom, dicom, i) != RV_MAP_NONE) {
            if (bad_at(c, err, m, i, "duplicate dicom_id '%s'%s; the first row is used", dicom, "") < 0) goto out_meta;
            continue;
        }
        size_t s = rv_smap_get(&split_map, dicom);
        if (s == RV_MAP_NONE) continue; /* no split row: split is NaN upstream, never selected */
        int64_t ssub, sstudy;
        if (!rv_cell_id(rv_csv_get(split, s, sc[1]), &ssub) || !rv_cell_id(rv_csv_get(split, s, sc[2]), &sstudy) ||
            ssub != subj || sstudy != study)
            continue; /* the (dicom, subject, study) triple must match, as upstream's index join */
        if (split_value && strcmp(rv_csv_get(split, s, sc[3]), split_value) != 0) continue;
        size_t g = rv_imap_get(&groups, KEY(subj, study));
        if (g == RV_MAP_NONE) {
            if (groups.n == cap) {
                cap = cap ? 2 * cap : 1024;
                first = rv_xrealloc(first, cap * sizeof *first);
                last = rv_xrealloc(last, cap * sizeof *last);
            }
            g = groups.n;
            rv_imap_put(&groups, KEY(subj, study), g);
            first[g] = last[g] = i;
        } else {
            next[last[g]] = i;
            last[g] = i;
        }
    }
    rv_smap_free(&seen_dicom);

    /* reports by study id ("s50414267" -> 50414267) */
    rv_imap_init(&report_map, t->reports->nrows);
    for (size_t i = 0; i < t->reports->nrows; i++) {
        const char *st = rv_csv_get(t->reports, i, rcol[0]);
        while (*st == 's') st++;
        int64_t id;
        if (!rv_cell_id(st, &id)) {
            if (bad_at(c, err, t->reports, i, "study '%s' is not 's' followed by an integer%s",
                       rv_csv_get(t->reports, i, rcol[0]), "") < 0)
                goto out;
            continue;
        }
        if (rv_imap_put(&report_map, (uint64_t)id, i) != RV_MAP_NONE &&
            bad_at(c, err, t->reports, i, "duplicate study '%s'%s; the first row is used",
                   rv_csv_get(t->reports, i, rcol[0]), "") < 0)
            goto out;
    }

    /* chexpert rows drive the order; each fans out to its DICOMs */
    size_t rcap = 0;
    rv_imap_init(&chex_seen, chex->nrows);
    for (size_t i = 0; i < chex->nrows; i++) {
        int64_t subj, study;
        if (!rv_cell_id(rv_csv_get(chex, i, cc[0]), &subj) || !rv_cell_id(rv_csv_get(chex, i, cc[1]), &study)) {
            if (bad_at(c, err, chex, i, "subject_id '%s' / study_id '%s' must be non-negative integers",
                       rv_csv_get(chex, i, cc[0]), rv_csv_get(chex, i, cc[1])) < 0)
                goto out;
            continue;
        }
        if (rv_imap_put(&chex_seen, KEY(subj, study), i) != RV_MAP_NONE) {
            if (bad_at(c, err, chex, i, "duplicate (subject_id, study_id) (%s, %s); the first row is used",
                       rv_csv_get(chex, i, cc[0]), rv_csv_get(chex, i, cc[1])) < 0)
                goto out;
            continue;
        }
        /* labels are checked on every row, so the bad-record count does not depend on the split */
        uint16_t labels = 0;
        bool ok = true;
        for (int k = 0; k < 13 && ok; k++) {
            double v;
            bool na;
            const char *cell = rv_csv_get(chex, i, lc[k]);
            if (!rv_cell_label(cell, &v, &na)) {
                ok = false;
                if (bad_at(c, err, chex, i, "label '%s' = '%s' is not a number (expected 1.0, 0.0, -1.0 or blank)",
                           rv_chexpert13[k], cell) < 0)
                    goto out;
            } else if (!na && (v == 1.0 || v == -1.0)) {
                labels |= (uint16_t)(1u << k);
            }
        }
        if (!ok) continue;
        size_t g = rv_imap_get(&groups, KEY(subj, study));
        size_t rep = rv_imap_get(&report_map, (uint64_t)study);
        if (g == RV_MAP_NONE || rep == RV_MAP_NONE) continue;
        for (size_t mi = first[g]; mi != RV_MAP_NONE; mi = next[mi]) {
            if (t->n == rcap) {
                rcap = rcap ? 2 * rcap : 1024;
                t->rows = rv_xrealloc(t->rows, rcap * sizeof *t->rows);
            }
            rv_mimic_row *r = &t->rows[t->n++];
            r->dicom_id = rv_csv_get(m, mi, mc[0]);
            r->view = rv_csv_get(m, mi, mc[3]);
            r->rows = rv_csv_get(m, mi, mc[4]);
            r->cols = rv_csv_get(m, mi, mc[5]);
            r->subject_id = subj;
            r->study_id = study;
            r->meta_line = m->line[mi];
            r->report = rep;
            r->labels = labels;
        }
    }
    rc = 0;
    goto out;
out_meta:
    rv_smap_free(&seen_dicom);
out:
    rv_csv_free(split);
    rv_csv_free(chex);
    rv_smap_free(&split_map);
    rv_imap_free(&groups);
    rv_imap_free(&report_map);
    rv_imap_free(&chex_seen);
    free(next);
    free(first);
    free(last);
    if (rc < 0) rv_mimic_table_free(t);
    return rc;
}

char *rv_mimic_image_path(const rv_mimic_table *t, const rv_mimic_row *r) {
    char subj[32], p2[8], ps[40], ss[40], file[4200];
    snprintf(subj, sizeof subj, "%lld", (long long)r->subject_id);
    snprintf(p2, sizeof p2, "p%.2s", subj);
    snprintf(ps, sizeof ps, "p%s", subj);
    snprintf(ss, sizeof ss, "s%lld", (long long)r->study_id);
    snprintf(file, sizeof file, "%s.jpg", r->dicom_id);
    return rv_path_joinv(6, t->dir, "files", p2, ps, ss, file);
}

void rv_mimic_add_labels(rv_item *it, const rv_mimic_row *r) {
    for (int k = 0; k < 13; k++)
        if (r->labels & (1u << k)) rv_item_add_label(it, rv_chexpert13[k]);
}

char *rv_mimic_raw_text(const rv_mimic_table *t, const rv_mimic_row *r) {
    return rv_report_mimic_raw(rv_csv_get(t->reports, r->report, t->rep_col[0]),
                               rv_csv_get(t->reports, r->report, t->rep_col[1]),
                               rv_csv_get(t->reports, r->report, t->rep_col[2]));
}
