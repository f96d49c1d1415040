/* CheXpert + CheXpert-Plus phantom (data.md §2, §3): one unit = one study (two per patient),
 * a frontal view and sometimes a lateral one. train.csv carries the labeler's 1/0/-1/blank;
 * valid.csv and test.csv carry radiologist-style 0/1 labels. CheXpert-Plus adds the report
 * sections, CheXbert JSON Lines labels and filtered reports for train and valid studies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth/synth.h"
#include "io/json.h"

size_t syn_chexpert_units(int n) { return n < 10 ? 10 : (size_t)n * 4 / 5; }

/* CheXpert column order of the 14 labels, as indices into syn_label_names. */
static const int chx_order[SYN_NLABELS] = {
    SYN_L_NO_FINDING, SYN_L_ENLARGED_CM, SYN_L_CARDIOMEGALY, SYN_L_LUNG_OPACITY, SYN_L_LUNG_LESION, SYN_L_EDEMA,
    SYN_L_CONSOLIDATION, SYN_L_PNEUMONIA, SYN_L_ATELECTASIS, SYN_L_PNEUMOTHORAX, SYN_L_EFFUSION,
    SYN_L_PLEURAL_OTHER, SYN_L_FRACTURE, SYN_L_SUPPORT_DEVICES};

static int unit(syn_ctx *s, size_t i, rv_err *err) {
    const size_t j = i / 2;
    const int k = (int)(j % 10);
    const char *split = k <= 6 ? "train" : k <= 8 ? "valid" : "test";
    const long patient = strcmp(split, "train") == 0 ? (long)j + 1 : strcmp(split, "valid") == 0 ? 64541 + (long)j : 64741 + (long)j;
    const int studyno = (int)(i % 2) + 1;
    rv_rng r;
    rv_rng_init(&r, s->seed, SYN_S_CHEXPERT, (uint32_t)i);
    syn_case_shape shape = i % 9 == 4 ? SYN_CASE_DEVICES_ONLY : SYN_CASE_ANY;
    int w = 320 + (int)rv_rng_below(&r, 64), h = 320 + (int)rv_rng_below(&r, 120);
    const char *appa = rv_rng_below(&r, 2) ? "AP" : "PA";
    syn_case c;
    if (syn_case_make(&c, &r, w, h, shape, false, err) != 0) return -1;
    const bool lateral = i % 3 == 1;
    const bool test = strcmp(split, "test") == 0;
    char sdir[96];
    snprintf(sdir, sizeof sdir, "%s/patient%05ld/study%d", split, patient, studyno);

    for (int v = 0; v < (lateral ? 2 : 1); v++) {
        char img[160], rel[192], path[200];
        snprintf(img, sizeof img, "%s/view%d_%s.jpg", sdir, v + 1, v ? "lateral" : "frontal");
        snprintf(rel, sizeof rel, "CheXpert/%s", img);
        snprintf(path, sizeof path, "CheXpert-v1.0-small/%s", img);
        float *px = syn_render(&c, s->seed, 1, (uint32_t)i, v == 1);
        int rc = syn_write_jpeg(s, rel, &c, px, err);
        free(px);
        if (rc != 0) return -1;
        s->images++;
        rv_sb *b = &s->tab[test ? SYN_T_CHX_TEST : strcmp(split, "valid") == 0 ? SYN_T_CHX_VALID : SYN_T_CHX_TRAIN];
        syn_csv(b, path, false);
        if (!test) {
            char age[16];
            snprintf(age, sizeof age, "%d", c.age);
            syn_csv(b, c.female == 'F' ? "Female" : "Male", false);
            syn_csv(b, age, false);
            syn_csv(b, v ? "Lateral" : "Frontal", false);
            syn_csv(b, v ? "" : appa, false);
        }
        for (int l = 0; l < SYN_NLABELS; l++) {
            int val = c.lab[chx_order[l]];
            if (strcmp(split, "train") != 0) val = (val == 1 || val == -1) ? 1 : 0; /* expert labels: 0/1 */
            syn_csv_label(b, val, l == SYN_NLABELS - 1);
        }
        if (test) continue;
        /* CheXpert-Plus row and CheXbert labels for the same image */
        rv_sb f, im;
        rv_sb_init(&f);
        rv_sb_init(&im);
        rv_sb_printf(&f, "\n%s\n", c.raw_findings);
        rv_sb_printf(&im, "\n1.  %s\n", c.impression);
        char dcm[200], pid[32], order[8], age[16];
        snprintf(dcm, sizeof dcm, "%.*s.dcm", (int)(strlen(img) - 4), img);
        snprintf(pid, sizeof pid, "patient%05ld", patient);
        snprintf(order, sizeof order, "%d", studyno);
        snprintf(age, sizeof age, "%d", c.age);
        rv_sb rep;
        rv_sb_init(&rep);
        rv_sb_printf(&rep, "NARRATIVE:\nCHEST RADIOGRAPH\n\nFINDINGS:%s\nIMPRESSION:%s", f.s, im.s);
        b = &s->tab[SYN_T_CHX_PLUS];
        syn_csv(b, img, false);
        syn_csv(b, dcm, false);
        syn_csv(b, v ? "Lateral" : "Frontal", false);
        syn_csv(b, v ? "" : appa, false);
        syn_csv(b, pid, false);
        syn_csv(b, order, false);
        syn_csv(b, rep.s, false);
        syn_csv(b, "CHEST RADIOGRAPH", false);
        syn_csv(b, "", false);
        syn_csv(b, "", false);
        syn_csv(b, c.prior_en[0] ? "Prior radiograph." : "None.", false);
        syn_csv(b, "", false);
        syn_csv(b, "", false);
        syn_csv(b, i % 8 == 3 ? "" : f.s, false);
        syn_csv(b, im.s, false);
        syn_csv(b, i % 4 == 0 ? "I have personally reviewed the images and agree with the report." : "", false);
        for (int e = 0; e < 2; e++) syn_csv(b, "", false);
        syn_csv(b, age, false);
        syn_csv(b, c.female == 'F' ? "Female" : "Male", false);
        for (int e = 0; e < 6; e++) syn_csv(b, "", false);
        syn_csv(b, split, true);
        rv_sb_free(&rep);
        rv_sb_free(&f);
        rv_sb_free(&im);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path_to_image", img);
        for (int l = 0; l < SYN_NLABELS; l++) {
            int val = c.lab[chx_order[l]];
            cJSON_AddItemToObject(o, syn_label_names[chx_order[l]], val == SYN_BLANK ? cJSON_CreateNull() : rv_json_float(val));
        }
        rv_pyjson_dump(&s->tab[SYN_T_CHX_BERT], o, -1, true);
        rv_sb_putc(&s->tab[SYN_T_CHX_BERT], '\n');
        cJSON_Delete(o);
    }
    if (!test && i % 7 != 3) {
        char rel[160];
        snprintf(rel, sizeof rel, "CheXpert/filtered_reports/%s_patient%05ld_study%d.txt", split, patient, studyno);
        if (syn_write_text(s, rel, c.filtered, strlen(c.filtered), err) != 0) return -1;
    }
    return 0;
}

int syn_chexpert_items(syn_ctx *s, size_t begin, size_t end, rv_err *err) {
    for (size_t i = begin; i < end; i++)
        if (unit(s, i, err) != 0) return rv_fail_wrap(err, "synth CheXpert study %zu", i);
    return 0;
}
