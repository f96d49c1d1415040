/* Chest ImaGenome phantom (data.md §4): split rows and scene graphs whose objects are the
 * phantom's anatomical regions (original_* in pixels). A subset of regions per image, as in
 * the silver dataset; the abdomen box sometimes runs past the image edge (not clipped, P11). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/synth/synth.h"

static const char *const core_regions[] = {"right lung", "left lung", "cardiac silhouette", "mediastinum",
                                           "right costophrenic angle", "left costophrenic angle", "trachea"};

static bool is_core(const char *name) {
    for (size_t k = 0; k < sizeof core_regions / sizeof core_regions[0]; k++)
        if (strcmp(core_regions[k], name) == 0) return true;
    return false;
}

/* The region a finding is reported in (for the scene graph's attributes). */
static const char *finding_region(const rv_pfinding *f) {
    bool r = f->side == RV_SIDE_RIGHT;
    static const char *const zones[2][3] = {{"left upper lung zone", "left mid lung zone", "left lower lung zone"},
                                            {"right upper lung zone", "right mid lung zone", "right lower lung zone"}};
    switch (f->kind) {
    case RV_PF_EFFUSION: return r ? "right costophrenic angle" : "left costophrenic angle";
    case RV_PF_PNEUMOTHORAX: return r ? "right apical zone" : "left apical zone";
    case RV_PF_CARDIOMEGALY: return "cardiac silhouette";
    case RV_PF_AORTIC_ENLARGEMENT: return "aortic arch";
    case RV_PF_EDEMA: return "right lung";
    case RV_PF_ETT: return "trachea";
    case RV_PF_CENTRAL_LINE: return "svc";
    case RV_PF_RIB_FRACTURE: return r ? "right lung" : "left lung";
    case RV_PF_PLEURAL_THICKENING: return r ? "right lung" : "left lung";
    default: return zones[r][f->zone < 0 || f->zone > 2 ? 1 : f->zone];
    }
}

int syn_imagenome_image(syn_ctx *s, const syn_case *c, rv_rng *r, const char *dicom_id, long subject, long study,
                        const char *view, const char *jpg_rel, int ima_split, bool write_graph, rv_err *err) {
    static const syn_table tabs[3] = {SYN_T_IMA_TRAIN, SYN_T_IMA_VALID, SYN_T_IMA_TEST};
    rv_sb *t = &s->tab[tabs[ima_split]];
    char num[32];
    syn_csv(t, dicom_id, false);
    snprintf(num, sizeof num, "%ld", subject);
    syn_csv(t, num, false);
    snprintf(num, sizeof num, "%ld", study);
    syn_csv(t, num, false);
    syn_csv(t, view, false);
    syn_csv(t, jpg_rel, true);
    if (!write_graph) return 0; /* listed in the split but without a scene graph (missing id) */

    const rv_phantom *p = &c->ph;
    const double W = c->width, H = c->height;
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "image_id", dicom_id);
    cJSON_AddStringToObject(g, "viewpoint", view);
    snprintf(num, sizeof num, "%ld", subject);
    cJSON_AddStringToObject(g, "patient_id", num);
    snprintf(num, sizeof num, "%ld", study);
    cJSON_AddStringToObject(g, "study_id", num);
    cJSON_AddStringToObject(g, "gender", c->female == 'F' ? "F" : "M");
    snprintf(num, sizeof num, "%d-%d", c->age / 10 * 10, c->age / 10 * 10 + 10);
    cJSON_AddStringToObject(g, "age_decile", num);
    cJSON *objs = cJSON_AddArrayToObject(g, "objects");
    bool long_abdomen = rv_rng_below(r, 3) == 0;
    int kept = 0;
    for (int k = 0; k < p->nregion; k++) {
        const rv_pregion *rg = &p->region[k];
        bool keep = is_core(rg->name) || rv_rng_below(r, 10) < 6 || p->nregion - k <= 15 - kept;
        if (!keep) continue;
        kept++;
        double x1 = rg->box.x0, y1 = rg->box.y0, x2 = rg->box.x1, y2 = rg->box.y1;
        if (long_abdomen && strcmp(rg->name, "abdomen") == 0) y2 = floor(H * 1.06); /* continues below the film */
        cJSON *o = cJSON_CreateObject();
        char oid[128], nm[64];
        snprintf(oid, sizeof oid, "%s_%s", dicom_id, rg->name);
        cJSON_AddStringToObject(o, "object_id", oid);
        int sx1 = (int)lround(x1 * 224 / W), sy1 = (int)lround(y1 * 224 / H);
        int sx2 = (int)lround(x2 * 224 / W), sy2 = (int)lround(y2 * 224 / H);
        cJSON_AddNumberToObject(o, "x1", sx1);
        cJSON_AddNumberToObject(o, "y1", sy1);
        cJSON_AddNumberToObject(o, "x2", sx2);
        cJSON_AddNumberToObject(o, "y2", sy2);
        cJSON_AddNumberToObject(o, "width", sx2 - sx1);
        cJSON_AddNumberToObject(o, "height", sy2 - sy1);
        cJSON_AddStringToObject(o, "bbox_name", rg->name);
        snprintf(nm, sizeof nm, "%s", rg->name);
        nm[0] = (char)toupper((unsigned char)nm[0]);
        cJSON_AddStringToObject(o, "name", nm);
        cJSON_AddNumberToObject(o, "original_x1", (int)x1);
        cJSON_AddNumberToObject(o, "original_y1", (int)y1);
        cJSON_AddNumberToObject(o, "original_x2", (int)x2);
        cJSON_AddNumberToObject(o, "original_y2", (int)y2);
        cJSON_AddNumberToObject(o, "original_width", (int)(x2 - x1));
        cJSON_AddNumberToObject(o, "original_height", (int)(y2 - y1));
        cJSON_AddItemToArray(objs, o);
    }
    cJSON *attrs = cJSON_AddArrayToObject(g, "attributes");
    for (int i = 0; i < c->nfind; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "bbox_name", finding_region(&p->find[i]));
        cJSON *lists = cJSON_AddArrayToObject(a, "attributes");
        cJSON *one = cJSON_CreateArray();
        char at[160];
        snprintf(at, sizeof at, "anatomicalfinding|yes|%s", rv_pf_kind_name(p->find[i].kind));
        cJSON_AddItemToArray(one, cJSON_CreateString(at));
        cJSON_AddItemToArray(lists, one);
        cJSON *ph = cJSON_AddArrayToObject(a, "phrases");
        cJSON_AddItemToArray(ph, cJSON_CreateString(c->find[i].en));
        cJSON_AddItemToArray(attrs, a);
    }
    cJSON_AddArrayToObject(g, "relationships");
    char rel[192];
    snprintf(rel, sizeof rel, "CHEST_IMA/silver_dataset/scene_graph/%s_SceneGraph.json", dicom_id);
    int rc = syn_write_json(s, rel, g, -1, true, err);
    cJSON_Delete(g);
    return rc;
}
