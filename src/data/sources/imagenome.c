/* Chest ImaGenome anatomical grounding (data.md §4): ImaGenome split rows with a scene graph,
 * matched on (dicom_id, subject_id, study_id, ViewPosition) against the MIMIC official train
 * table (P2 kept), boxes from original_x1..y2 over the metadata Columns/Rows, unclipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "data/sources/mimic_table.h"
#include "data/sources/reader_util.h"
#include "io/json.h"

typedef struct ima_row {
    int64_t subject_id, study_id;
    const char *view;
} ima_row;

/* missing_ids.json when present (upstream's cache), else the scene-graph directory listing:
 * an id is missing when it has no <dicom_id>_SceneGraph.json. Nothing is written. */
typedef struct missing {
    bool from_json;
    cJSON *json;
    rv_smap ids;        /* from_json: listed ids */
    rv_nameset graphs;  /* !from_json: ids with a scene graph */
} missing;

static bool is_missing(const missing *m, const char *id) {
    return m->from_json ? rv_smap_get(&m->ids, id) != RV_MAP_NONE : !rv_nameset_has(&m->graphs, id);
}

static void missing_free(missing *m) {
    if (m->json) cJSON_Delete(m->json);
    rv_smap_free(&m->ids);
    rv_nameset_free(&m->graphs);
}

static int missing_load(const rv_reader_ctx *c, const char *base, const char *graph_dir, missing *m, rv_err *err) {
    memset(m, 0, sizeof *m);
    char *p = rv_path_join(base, "missing_ids.json");
    int rc = 0;
    if (rv_is_file(p)) {
        m->from_json = true;
        m->json = rv_json_parse_file(p, err);
        if (!m->json || !cJSON_IsArray(m->json)) {
            rc = m->json ? rv_fail(err, "%s: expected a JSON array of dicom_id strings (delete the file to let it "
                                        "be recomputed from the scene graphs)", p)
                         : rv_fail_wrap(err, "Chest ImaGenome missing-id list (delete it to recompute)");
        } else {
            rv_smap_init(&m->ids, (size_t)cJSON_GetArraySize(m->json));
            const cJSON *el;
            int k = 0;
            cJSON_ArrayForEach(el, m->json) {
                if (cJSON_IsString(el)) {
                    rv_smap_put(&m->ids, el->valuestring, 0);
                } else {
                    char where[4300];
                    snprintf(where, sizeof where, "%s: element %d", p, k);
                    if ((rc = rv_badrec_report(c->bad, err, where, "not a string")) < 0) break;
                }
                k++;
            }
        }
    } else if (!rv_is_dir(graph_dir)) {
        rc = rv_fail(err, "%s: scene-graph directory not found (Chest ImaGenome silver_dataset/scene_graph is "
                          "required)", graph_dir);
    } else {
        rc = rv_nameset_load(&m->graphs, graph_dir, "_SceneGraph.json", err);
    }
    free(p);
    return rc;
}

/* A coordinate: a JSON number, or a numeric string (upstream applies float()). */
static bool coord(const cJSON *o, const char *key, double *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(x)) { *v = x->valuedouble; return true; }
    return cJSON_IsString(x) && rv_cell_num(x->valuestring, v);
}

/* Returns 0 (objects read; bad ones reported), 1 (the whole file reported as bad) or -1 (fatal). */
static int add_regions(const rv_reader_ctx *c, const char *path, double width, double height, rv_item *it,
                       rv_err *err) {
    rv_err e;
    cJSON *g = rv_json_parse_file(path, &e);
    if (!g) return rv_badrec_report(c->bad, err, path, "scene graph unreadable: %s", e.msg) < 0 ? -1 : 1;
    const cJSON *objs = cJSON_GetObjectItemCaseSensitive(g, "objects");
    int rc = 0;
    if (!cJSON_IsArray(objs)) {
        rc = rv_badrec_report(c->bad, err, path, "no \"objects\" array") < 0 ? -1 : 1;
        cJSON_Delete(g);
        return rc;
    }
    static const char *const keys[4] = {"original_x1", "original_y1", "original_x2", "original_y2"};
    int k = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, objs) {
        char where[4300];
        snprintf(where, sizeof where, "%s: objects[%d]", path, k++);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "bbox_name");
        double v[4];
        int bad = -1;
        for (int q = 0; q < 4 && bad < 0; q++)
            if (!coord(o, keys[q], &v[q])) bad = q;
        if (!cJSON_IsString(name) || bad >= 0) {
            rc = rv_badrec_report(c->bad, err, where, "%s", !cJSON_IsString(name) ? "bbox_name missing or not a string"
                                                                : "original_x1..original_y2 must be numbers");
            if (rc < 0) break;
            continue;
        }
        /* Upstream divides by the metadata's numpy int64 Columns/Rows: numpy.float64 values,
         * rounded the numpy way in the box text. */
        rv_box b = {{v[0] / width, v[1] / height, v[2] / width, v[3] / height}, RV_BOX_NUMPY};
        rv_item_add_region(it, name->valuestring, b);
    }
    cJSON_Delete(g);
    return rc;
}

int rv_read_imagenome(const rv_reader_ctx *c, const char *split, rv_dataset **out, rv_err *err) {
    *out = NULL;
    if (!split || (strcmp(split, "train") != 0 && strcmp(split, "valid") != 0 && strcmp(split, "test") != 0))
        return rv_fail(err, "Chest ImaGenome: split '%s' is not one of train, valid, test", split ? split : "(null)");
    char *base = rv_path_join(c->data_dir, "CHEST_IMA/silver_dataset");
    char *graph_dir = rv_path_join(base, "scene_graph");
    char fname[32];
    snprintf(fname, sizeof fname, "%s.csv", split);
    char *csv_path = rv_path_joinv(3, base, "splits", fname);
    rv_csv *csv = NULL;
    missing miss = {0};
    rv_smap ids = {0};
    ima_row *rows = NULL;
    rv_mimic_table t = {0};
    rv_dataset *d = NULL;
    int rc = -1;

    if (rv_reader_csv(c, csv_path, "Chest ImaGenome", &csv, err) < 0) goto out;
    static const char *const names[4] = {"dicom_id", "subject_id", "study_id", "ViewPosition"};
    int col[4];
    if (rv_reader_cols(csv, names, col, 4, err) < 0) goto out;
    if (missing_load(c, base, graph_dir, &miss, err) < 0) goto out;

    rows = rv_xcalloc(csv->nrows + 1, sizeof *rows);
    rv_smap_init(&ids, csv->nrows);
    for (size_t i = 0; i < csv->nrows; i++) {
        const char *dicom = rv_csv_get(csv, i, col[0]);
        if (is_missing(&miss, dicom)) continue;
        if (!rv_cell_id(rv_csv_get(csv, i, col[1]), &rows[i].subject_id) ||
            !rv_cell_id(rv_csv_get(csv, i, col[2]), &rows[i].study_id)) {
            char where[4200];
            snprintf(where, sizeof where, "%s:%zu", csv_path, csv->line[i]);
            if (rv_badrec_report(c->bad, err, where, "subject_id '%s' / study_id '%s' must be non-negative integers",
                                 rv_csv_get(csv, i, col[1]), rv_csv_get(csv, i, col[2])) < 0)
                goto out;
            continue;
        }
        rows[i].view = rv_csv_get(csv, i, col[3]);
        rv_smap_put(&ids, dicom, i); /* isin() semantics: a repeated id neither duplicates nor fails */
    }

    /* P2: the MIMIC side is always the official train split, every view */
    if (rv_mimic_table_load(c, "train", &t, err) < 0) {
        rv_fail_wrap(err, "Chest ImaGenome is read on top of MIMIC-CXR");
        goto out;
    }
    char name[64];
    snprintf(name, sizeof name, "chestima-%s", split);
    d = rv_dataset_new(name, RV_TASK_ANATOMY);
    d->pathologies = true;
    for (size_t i = 0; i < t.n; i++) {
        const rv_mimic_row *r = &t.rows[i];
        size_t k = rv_smap_get(&ids, r->dicom_id);
        if (k == RV_MAP_NONE || rows[k].subject_id != r->subject_id || rows[k].study_id != r->study_id ||
            strcmp(rows[k].view, r->view) != 0)
            continue;
        double width, height;
        if (!rv_cell_num(r->cols, &width) || !rv_cell_num(r->rows, &height) || width <= 0 || height <= 0) {
            char where[4200];
            snprintf(where, sizeof where, "%s/mimic-cxr-2.0.0-metadata.csv:%zu", t.dir, r->meta_line);
            if (rv_badrec_report(c->bad, err, where, "Columns '%s' / Rows '%s' must be positive numbers (dicom_id %s)",
                                 r->cols, r->rows, r->dicom_id) < 0)
                goto out;
            continue;
        }
        char gname[4200];
        snprintf(gname, sizeof gname, "%s_SceneGraph.json", r->dicom_id);
        char *gpath = rv_path_join(graph_dir, gname);
        rv_item tmp = {0};
        int arc = add_regions(c, gpath, width, height, &tmp, err);
        if (arc == 0 && tmp.nregions == 0)
            arc = rv_badrec_report(c->bad, err, gpath, "no usable region: the image is left out") < 0 ? -1 : 1;
        free(gpath);
        if (arc != 0) {
            for (size_t q = 0; q < tmp.nregions; q++) free(tmp.regions[q].name);
            free(tmp.regions);
            if (arc < 0) goto out;
            continue;
        }
        rv_item *it = rv_dataset_push(d);
        it->regions = tmp.regions;
        it->nregions = tmp.nregions;
        it->image = rv_mimic_image_path(&t, r);
        it->id = rv_xstrdup(r->dicom_id);
        rv_mimic_add_labels(it, r); /* aligned; not written (flag_lab=False upstream) */
    }
    rc = 0;
out:
    free(base);
    free(graph_dir);
    free(csv_path);
    rv_csv_free(csv);
    missing_free(&miss);
    rv_smap_free(&ids);
    free(rows);
    rv_mimic_table_free(&t);
    if (rc < 0) {
        rv_dataset_free(d);
        return -1;
    }
    *out = d;
    return 0;
}
