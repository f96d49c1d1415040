/* MS-CXR (data.md §6): box normalisation, per-image JSON, and the phrase-grounding reader. */
#include "data/sources/mscxr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "data/sources/mimic_table.h"
#include "io/json.h"

static const char *const CSV_NAME = "MS_CXR_Local_Alignment_v1.0.0.csv";

static rv_mscxr_image *image_for(rv_mscxr_index *ix, const char *dicom_id) {
    size_t k = rv_smap_get(&ix->map, dicom_id);
    if (k != RV_MAP_NONE) return &ix->img[k];
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? 2 * ix->cap : 64;
        ix->img = rv_xrealloc(ix->img, ix->cap * sizeof *ix->img);
    }
    rv_mscxr_image *im = &ix->img[ix->n];
    memset(im, 0, sizeof *im);
    im->dicom_id = rv_xstrdup(dicom_id);
    rv_smap_put(&ix->map, im->dicom_id, ix->n); /* key owned by the image, stable across reallocs */
    ix->n++;
    return im;
}

static void image_add(rv_mscxr_image *im, const char *obs, rv_box box) {
    im->e = rv_xrealloc(im->e, (im->n + 1) * sizeof *im->e);
    im->e[im->n].observation = rv_xstrdup(obs);
    im->e[im->n].box = box;
    im->n++;
}

void rv_mscxr_index_free(rv_mscxr_index *ix) {
    for (size_t i = 0; i < ix->n; i++) {
        for (size_t k = 0; k < ix->img[i].n; k++) free(ix->img[i].e[k].observation);
        free(ix->img[i].e);
        free(ix->img[i].dicom_id);
    }
    free(ix->img);
    rv_smap_free(&ix->map);
    memset(ix, 0, sizeof *ix);
}

const rv_mscxr_image *rv_mscxr_find(const rv_mscxr_index *ix, const char *dicom_id) {
    size_t k = rv_smap_get(&ix->map, dicom_id);
    return k == RV_MAP_NONE ? NULL : &ix->img[k];
}

/* ------------------------------------------------------------ CSV normalisation */

typedef struct pending {
    size_t img, group, seq;  /* image, observation group within the image, CSV order */
    const char *obs;
    rv_box box;
} pending;

static int cmp_pending(const void *a, const void *b) {
    const pending *x = a, *y = b;
    if (x->img != y->img) return x->img < y->img ? -1 : 1;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int rv_mscxr_normalize_csv(const rv_reader_ctx *c, const char *csv_path, rv_mscxr_index *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    rv_smap_init(&out->map, 64);
    rv_csv *csv;
    if (rv_reader_csv(c, csv_path, "MS-CXR", &csv, err) < 0) {
        rv_mscxr_index_free(out);
        return -1;
    }
    static const char *const names[8] = {"dicom_id", "label_text", "x", "y", "w", "h", "image_width", "image_height"};
    int col[8];
    if (rv_reader_cols(csv, names, col, 8, err) < 0) {
        rv_csv_free(csv);
        rv_mscxr_index_free(out);
        return -1;
    }
    pending *pend = rv_xmalloc((csv->nrows + 1) * sizeof *pend);
    size_t np = 0;
    /* observation names seen per image, for first-appearance group numbers */
    const char ***groups = NULL;
    size_t *ngroups = NULL, gcap = 0;
    int rc = 0;
    for (size_t i = 0; i < csv->nrows && rc == 0; i++) {
        double v[6];
        int bad_k = -1;
        for (int k = 0; k < 6 && bad_k < 0; k++)
            if (!rv_cell_num(rv_csv_get(csv, i, col[2 + k]), &v[k])) bad_k = k;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", csv_path, csv->line[i]);
        if (bad_k >= 0) {
            rc = rv_badrec_report(c->bad, err, where, "%s = '%s' is not a number", names[2 + bad_k],
                                  rv_csv_get(csv, i, col[2 + bad_k]));
            continue;
        }
        if (v[4] <= 0 || v[5] <= 0) {
            rc = rv_badrec_report(c->bad, err, where, "image_width/image_height must be > 0 (got %g x %g)", v[4], v[5]);
            continue;
        }
        if (v[2] < 0 || v[3] < 0) {
            rc = rv_badrec_report(c->bad, err, where, "box size w/h must be >= 0 (got w=%g h=%g)", v[2], v[3]);
            continue;
        }
        const char *dicom = rv_csv_get(csv, i, col[0]), *obs = rv_csv_get(csv, i, col[1]);
        size_t before = out->n;
        rv_mscxr_image *im = image_for(out, dicom);
        size_t img = (size_t)(im - out->img);
        if (out->n != before) {
            if (out->n > gcap) {
                gcap = out->cap;
                groups = rv_xrealloc(groups, gcap * sizeof *groups);
                ngroups = rv_xrealloc(ngroups, gcap * sizeof *ngroups);
            }
            groups[img] = NULL;
            ngroups[img] = 0;
        }
        size_t g = 0;
        while (g < ngroups[img] && strcmp(groups[img][g], obs) != 0) g++;
        if (g == ngroups[img]) {
            groups[img] = rv_xrealloc(groups[img], (g + 1) * sizeof **groups);
            groups[img][g] = obs;
            ngroups[img]++;
        }
        pending *p = &pend[np];
        p->img = img;
        p->group = g;
        p->seq = np;
        p->obs = obs;
        p->box = (rv_box){{v[0] / v[4], v[1] / v[5], (v[0] + v[2]) / v[4], (v[1] + v[3]) / v[5]}, 0};
        np++;
    }
    if (rc == 0) {
        qsort(pend, np, sizeof *pend, cmp_pending);
        for (size_t i = 0; i < np; i++) image_add(&out->img[pend[i].img], pend[i].obs, pend[i].box);
    }
    for (size_t i = 0; i < out->n && groups; i++) free((void *)groups[i]);
    free(groups);
    free(ngroups);
    free(pend);
    rv_csv_free(csv);
    if (rc < 0) rv_mscxr_index_free(out);
    return rc;
}

void rv_mscxr_image_json(const rv_mscxr_image *im, rv_sb *out) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t k = 0; k < im->n; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "observation", cJSON_CreateString(im->e[k].observation));
        cJSON *box = cJSON_CreateArray();
        for (int j = 0; j < 4; j++)
            cJSON_AddItemToArray(box, (im->e[k].box.int_mask >> j) & 1u ? cJSON_CreateNumber(im->e[k].box.v[j])
                                                                      : rv_json_float(im->e[k].box.v[j]));
        cJSON_AddItemToObject(o, "box", box);
        cJSON_AddItemToArray(arr, o);
    }
    rv_pyjson_dump(out, arr, 4, false);
    cJSON_Delete(arr);
}

int rv_mscxr_write_dir(const rv_mscxr_index *ix, const char *dir, rv_err *err) {
    if (rv_mkdir_p(dir, err) < 0) return -1;
    rv_sb b;
    rv_sb_init(&b);
    for (size_t i = 0; i < ix->n; i++) {
        rv_sb_clear(&b);
        rv_mscxr_image_json(&ix->img[i], &b);
        char name[4200];
        snprintf(name, sizeof name, "%s.json", ix->img[i].dicom_id);
        char *p = rv_path_join(dir, name);
        int rc = rv_write_atomic(p, b.s, b.len, err);
        free(p);
        if (rc < 0) {
            rv_sb_free(&b);
            return -1;
        }
    }
    rv_sb_free(&b);
    return 0;
}

/* ------------------------------------------------------------ per-image directory */

static int load_image_file(const rv_reader_ctx *c, const char *path, rv_mscxr_image *im, rv_err *err) {
    rv_err e;
    cJSON *j = rv_json_parse_file(path, &e);
    if (!j) return rv_badrec_report(c->bad, err, path, "MS-CXR file unreadable: %s", e.msg);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return rv_badrec_report(c->bad, err, path, "expected a JSON array of {\"observation\", \"box\"} objects");
    }
    int k = 0, rc = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, j) {
        char where[4300];
        snprintf(where, sizeof where, "%s: element %d", path, k++);
        const cJSON *obs = cJSON_GetObjectItemCaseSensitive(el, "observation");
        const cJSON *box = cJSON_GetObjectItemCaseSensitive(el, "box");
        if (!cJSON_IsString(obs) || !cJSON_IsArray(box) || cJSON_GetArraySize(box) != 4) {
            if ((rc = rv_badrec_report(c->bad, err, where,
                                       "needs \"observation\" (string) and \"box\" (4 numbers)")) < 0)
                break;
            continue;
        }
        rv_box b = {{0, 0, 0, 0}, 0};
        bool ok = true;
        for (int q = 0; q < 4; q++) {
            const cJSON *v = cJSON_GetArrayItem(box, q);
            if (!cJSON_IsNumber(v)) { ok = false; break; }
            b.v[q] = v->valuedouble;
            if (rv_json_is_int_literal(v)) b.int_mask |= 1u << q;
        }
        if (!ok) {
            if ((rc = rv_badrec_report(c->bad, err, where, "box values must be numbers")) < 0) break;
            continue;
        }
        image_add(im, obs->valuestring, b);
    }
    cJSON_Delete(j);
    return rc;
}

static int load_dir(const rv_reader_ctx *c, const char *dir, rv_mscxr_index *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    rv_smap_init(&out->map, 1024);
    rv_nameset ns;
    if (rv_nameset_load(&ns, dir, ".json", err) < 0) {
        rv_mscxr_index_free(out);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < ns.n && rc == 0; i++) {
        char name[4200];
        snprintf(name, sizeof name, "%s.json", ns.names[i]);
        char *p = rv_path_join(dir, name);
        rv_mscxr_image *im = image_for(out, ns.names[i]);
        rc = load_image_file(c, p, im, err);
        free(p);
    }
    rv_nameset_free(&ns);
    if (rc < 0) rv_mscxr_index_free(out);
    return rc;
}

int rv_mscxr_load(const rv_reader_ctx *c, rv_mscxr_index *out, bool *found, rv_err *err) {
    memset(out, 0, sizeof *out);
    *found = false;
    char *base = rv_path_join(c->data_dir, "MS-CXR");
    if (!rv_is_dir(base)) {
        free(base);
        return 0;
    }
    char *d1 = rv_path_join(base, "sentences_and_BBox_mscxr");
    char *d2 = rv_path_join(base, "sentences_BBox_mscxr");
    char *csv = rv_path_join(base, CSV_NAME);
    int rc;
    if (rv_is_dir(d1)) {
        rc = load_dir(c, d1, out, err);
    } else if (rv_is_dir(d2)) {
        rv_info("MS-CXR: reading %s (the normaliser's output name; upstream readers expect sentences_and_BBox_mscxr)", d2);
        rc = load_dir(c, d2, out, err);
    } else if (rv_is_file(csv)) {
        rv_info("MS-CXR: no per-image directory; normalising %s in memory", csv);
        rc = rv_mscxr_normalize_csv(c, csv, out, err);
    } else {
        rc = rv_fail(err, "%s: none of sentences_and_BBox_mscxr/, sentences_BBox_mscxr/ or %s exists "
                          "(install MS-CXR there, or remove the empty MS-CXR directory)", base, CSV_NAME);
    }
    if (rc == 0) *found = true;
    free(base);
    free(d1);
    free(d2);
    free(csv);
    return rc;
}

/* ------------------------------------------------------------ phrase grounding reader */

int rv_read_mscxr(const rv_reader_ctx *c, const char *mimic_split, rv_dataset **out, rv_err *err) {
    *out = NULL;
    const char *split_value = rv_mimic_split_value(mimic_split);
    if (!split_value)
        return rv_fail(err, "MS-CXR: MIMIC split '%s' is not one of train, validate (valid), test",
                       mimic_split ? mimic_split : "(null)");
    rv_mscxr_index ms;
    bool found;
    if (rv_mscxr_load(c, &ms, &found, err) < 0) return -1;
    if (!found)
        return rv_fail(err, "%s/MS-CXR: directory not found (install MS-CXR or leave its tasks out)", c->data_dir);
    rv_mimic_table t;
    if (rv_mimic_table_load(c, split_value, &t, err) < 0) {
        rv_mscxr_index_free(&ms);
        return rv_fail_wrap(err, "MS-CXR is read on top of MIMIC-CXR");
    }
    char name[64];
    snprintf(name, sizeof name, "mscxr-%s", mimic_split);
    rv_dataset *d = rv_dataset_new(name, RV_TASK_PHRASE);
    for (size_t i = 0; i < t.n; i++) {
        const rv_mimic_row *r = &t.rows[i];
        if (strcmp(r->view, "PA") != 0 && strcmp(r->view, "AP") != 0) continue;
        const rv_mscxr_image *im = rv_mscxr_find(&ms, r->dicom_id);
        if (!im) continue;
        char *path = rv_mimic_image_path(&t, r);
        /* one record per distinct observation, first-appearance order, all its boxes */
        for (size_t k = 0; k < im->n; k++) {
            bool seen = false;
            for (size_t j = 0; j < k && !seen; j++) seen = strcmp(im->e[j].observation, im->e[k].observation) == 0;
            if (seen) continue;
            rv_item *it = rv_dataset_push(d);
            it->image = rv_xstrdup(path);
            it->id = rv_xstrdup(r->dicom_id);
            it->text = rv_xstrdup(im->e[k].observation);
            for (size_t j = k; j < im->n; j++)
                if (strcmp(im->e[j].observation, im->e[k].observation) == 0) rv_item_add_box(it, im->e[j].box);
        }
        free(path);
    }
    rv_mimic_table_free(&t);
    rv_mscxr_index_free(&ms);
    *out = d;
    return 0;
}
