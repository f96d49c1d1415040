/* MS-CXR phantom (data.md §6): phrase boxes for MIMIC frontal images. The CSV holds pixel
 * x, y, w, h; the per-image JSON is what upstream's normaliser writes from it (indent 4,
 * ensure_ascii=False, full-precision floats), under both directory names of pitfall P5. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/synth/synth.h"
#include "io/json.h"

static const char *mscxr_category(const syn_finding *f) {
    switch (f->kind) {
    case RV_PF_EFFUSION: return "Pleural effusion";
    case RV_PF_PNEUMOTHORAX: return "Pneumothorax";
    case RV_PF_CONSOLIDATION: return f->uncertain ? "Pneumonia" : "Consolidation";
    case RV_PF_ATELECTASIS: return "Atelectasis";
    case RV_PF_EDEMA: return "Edema";
    case RV_PF_CARDIOMEGALY: return "Cardiomegaly";
    case RV_PF_NODULE:
    case RV_PF_MASS: return "Lung Opacity";
    default: return NULL;
    }
}

int syn_mscxr_image(syn_ctx *s, const syn_case *c, const char *dicom_id, const char *jpg_rel, cJSON **sbb, rv_err *err) {
    *sbb = cJSON_CreateArray();
    const int W = c->width, H = c->height;
    for (int i = 0; i < c->nfind; i++) {
        const char *cat = mscxr_category(&c->find[i]);
        if (!cat) continue;
        const rv_pfinding *pf = &c->ph.find[i];
        for (int b = 0; b < pf->nbox; b++) {
            int x = (int)floor(pf->box[b].x0), y = (int)floor(pf->box[b].y0);
            int bw = (int)ceil(pf->box[b].x1) - x, bh = (int)ceil(pf->box[b].y1) - y;
            rv_sb *t = &s->tab[SYN_T_MSCXR];
            char num[32];
            syn_csv(t, dicom_id, false);
            syn_csv(t, cat, false);
            syn_csv(t, c->find[i].phrase, false);
            syn_csv(t, jpg_rel, false);
            int vals[6] = {x, y, bw, bh, W, H};
            for (int k = 0; k < 6; k++) {
                snprintf(num, sizeof num, "%d", vals[k]);
                syn_csv(t, num, k == 5);
            }
            /* observations come grouped by label_text in first-appearance order; each phrase
             * is unique within an image here, so CSV order is already grouped */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "observation", c->find[i].phrase);
            cJSON *box = cJSON_CreateArray();
            cJSON_AddItemToArray(box, rv_json_float((double)x / W));
            cJSON_AddItemToArray(box, rv_json_float((double)y / H));
            cJSON_AddItemToArray(box, rv_json_float((double)(x + bw) / W));
            cJSON_AddItemToArray(box, rv_json_float((double)(y + bh) / H));
            cJSON_AddItemToObject(o, "box", box);
            cJSON_AddItemToArray(*sbb, o);
        }
    }
    if (cJSON_GetArraySize(*sbb) == 0) return 0;
    char rel[160];
    snprintf(rel, sizeof rel, "MS-CXR/sentences_and_BBox_mscxr/%s.json", dicom_id);
    if (syn_write_json(s, rel, *sbb, 4, false, err) != 0) return -1;
    snprintf(rel, sizeof rel, "MS-CXR/sentences_BBox_mscxr/%s.json", dicom_id);
    return syn_write_json(s, rel, *sbb, 4, false, err);
}
