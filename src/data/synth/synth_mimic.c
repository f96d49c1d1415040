/* MIMIC-CXR-JPG phantom (data.md §1): one unit = one study of one subject (two studies per
 * subject), a frontal image and sometimes a lateral one. The MIMIC unit also writes the
 * MS-CXR and Chest ImaGenome records of its frontal image, since those sources annotate
 * MIMIC images. Edge cases come from fixed index patterns so small demos still have them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth/synth.h"
#include "io/json.h"

size_t syn_mimic_units(int n) { return n < 10 ? 10 : (size_t)n * 4 / 5; }

static const char *mimic_split(size_t subj) {
    int k = (int)(subj % 10);
    return k <= 5 ? "train" : k == 6 ? "validate" : "test";
}

static void put_long(rv_sb *b, long v, bool last) {
    char t[32];
    snprintf(t, sizeof t, "%ld", v);
    syn_csv(b, t, last);
}

static int mimic_unit(syn_ctx *s, size_t i, rv_err *err) {
    const size_t j = i / 2;
    rv_rng rs, r;
    rv_rng_init(&rs, s->seed, SYN_S_MIMIC_SUBJ, (uint32_t)j);
    const long subject = 10000000L + (long)j * 97 + (long)rv_rng_below(&rs, 97);
    const char sex = rv_rng_below(&rs, 2) ? 'F' : 'M';
    const char *split = mimic_split(j);
    rv_rng_init(&r, s->seed, SYN_S_MIMIC, (uint32_t)i);
    const long study = 50000000L + (long)i * 113 + (long)rv_rng_below(&r, 113);
    syn_case_shape shape = i % 3 == 0 ? SYN_CASE_GROUNDABLE : i % 41 == 20 ? SYN_CASE_DEVICES_ONLY : SYN_CASE_ANY;
    int w = 320 + (int)rv_rng_below(&r, 193);
    int h = (int)(w * rv_rng_range(&r, 0.9, 1.25));
    if (h < 320) h = 320;
    if (h > 600) h = 600;
    const char *view = i % 29 == 11 ? "" : rv_rng_below(&r, 10) < 6 ? "PA" : "AP";
    char frontal_id[45], lateral_id[45];
    syn_dicom_id(&r, frontal_id);
    syn_dicom_id(&r, lateral_id);
    const bool has_lateral = i % 4 == 1;
    const char *lat_view = i % 8 == 5 ? "LL" : "LATERAL";
    syn_case c;
    if (syn_case_make(&c, &r, w, h, shape, false, err) != 0) return -1;
    c.female = sex;

    char dir[96], rel[192], lrel[192];
    snprintf(dir, sizeof dir, "files/p%.2ld/p%ld/s%ld", subject / 1000000, subject, study);
    snprintf(rel, sizeof rel, "MIMIC-CXR-JPG/%s/%s.jpg", dir, frontal_id);
    snprintf(lrel, sizeof lrel, "MIMIC-CXR-JPG/%s/%s.jpg", dir, lateral_id);
    float *px = syn_render(&c, s->seed, 0, (uint32_t)i, false);
    int rc = syn_write_jpeg(s, rel, &c, px, err);
    free(px);
    if (rc != 0) return -1;
    s->images++;
    if (has_lateral) {
        px = syn_render(&c, s->seed, 0, (uint32_t)i, true);
        rc = syn_write_jpeg(s, lrel, &c, px, err);
        free(px);
        if (rc != 0) return -1;
        s->images++;
    }

    /* split + metadata + genders, per image */
    for (int k = 0; k < (has_lateral ? 2 : 1); k++) {
        const char *id = k ? lateral_id : frontal_id, *v = k ? lat_view : view;
        rv_sb *b = &s->tab[SYN_T_MIMIC_SPLIT];
        syn_csv(b, id, false);
        put_long(b, study, false);
        put_long(b, subject, false);
        syn_csv(b, split, true);
        b = &s->tab[SYN_T_MIMIC_META];
        syn_csv(b, id, false);
        put_long(b, subject, false);
        put_long(b, study, false);
        syn_csv(b, "CHEST (PA AND LAT)", false);
        syn_csv(b, v, false);
        put_long(b, h, false);
        put_long(b, w, false);
        put_long(b, 21800101 + (long)(i % 28), false);
        char tm[32];
        snprintf(tm, sizeof tm, "%02d%02d%02d.%03d", (int)(i % 24), (int)(i % 60), (int)(j % 60), (int)(i % 1000));
        syn_csv(b, tm, false);
        syn_csv(b, "CHEST (PA AND LAT)", false);
        syn_csv(b, k ? "lateral" : strcmp(v, "PA") == 0 ? "postero-anterior" : strcmp(v, "AP") == 0 ? "antero-posterior" : "", false);
        syn_csv(b, "Erect", true);
        rv_sb_printf(&s->tab[SYN_T_MIMIC_GENDERS], ", \"%s\": \"%c\"", id, sex);
    }
    /* chexpert labels (one study absent now and then: it then drops out of every MIMIC set) */
    if (i % 23 != 9) {
        rv_sb *b = &s->tab[SYN_T_MIMIC_CHEX];
        put_long(b, subject, false);
        put_long(b, study, false);
        for (int l = 0; l < SYN_NLABELS; l++) syn_csv_label(b, c.lab[l], l == SYN_NLABELS - 1);
    }
    /* reports.csv (sectioned raw report) */
    if (i % 17 != 5) {
        rv_sb f, im, lp;
        rv_sb_init(&f);
        rv_sb_init(&im);
        rv_sb_init(&lp);
        syn_wrap_mimic(&f, c.raw_findings);
        syn_wrap_mimic(&im, c.impression);
        rv_sb *b = &s->tab[SYN_T_MIMIC_REPORTS];
        char st[32];
        snprintf(st, sizeof st, "s%ld", study);
        syn_csv(b, st, false);
        if (i % 19 == 7) { /* only a last paragraph */
            syn_csv(b, "", false);
            syn_csv(b, "", false);
            syn_csv(b, f.s, false);
        } else {
            syn_csv(b, im.s, false);
            syn_csv(b, i % 11 == 3 ? "" : f.s, false);
            syn_csv(b, im.s, false);
        }
        syn_csv(b, i % 3 == 0 ? "" : " ___", true);
        rv_sb_free(&f);
        rv_sb_free(&im);
        rv_sb_free(&lp);
    }
    const bool filtered = i % 13 != 4 && c.filtered[0];
    if (filtered) {
        char frel[96];
        snprintf(frel, sizeof frel, "MIMIC-CXR-JPG/filtered_reports/%ld.txt", study);
        if (syn_write_text(s, frel, c.filtered, strlen(c.filtered), err) != 0) return -1;
    }
    if (!view[0]) return 0; /* blank view: no MS-CXR / ImaGenome / conversations */

    const char *jpg_rel = rel + strlen("MIMIC-CXR-JPG/");
    cJSON *sbb = NULL;
    if (i % 3 == 0 && syn_mscxr_image(s, &c, frontal_id, jpg_rel, &sbb, err) != 0) return -1;
    int ima_split = i % 5 <= 2 ? 0 : i % 5 == 3 ? 1 : 2;
    if (syn_imagenome_image(s, &c, &r, frontal_id, subject, study, view, jpg_rel, ima_split, i % 31 != 30, err) != 0) {
        cJSON_Delete(sbb);
        return -1;
    }
    /* conversations (the GPT step's stored output, generated by rules here) */
    const char *conv_split = strcmp(split, "train") == 0 ? "train" : strcmp(split, "test") == 0 ? "test" : NULL;
    if (filtered && conv_split) {
        const char *gender = sex == 'F' ? "female" : "male";
        char crel[192];
        if (i % 5 != 2 || strcmp(conv_split, "test") == 0) {
            cJSON *conv = syn_conversation(&c, view, gender, NULL, &r);
            snprintf(crel, sizeof crel, "MIMIC-CXR-JPG/conversations/%s/standard/%s.json", conv_split, frontal_id);
            rc = syn_write_json(s, crel, conv, 4, true, err);
            cJSON_Delete(conv);
            if (rc != 0) { cJSON_Delete(sbb); return -1; }
        }
        if (sbb && cJSON_GetArraySize(sbb) > 0) {
            cJSON *conv = syn_conversation(&c, view, gender, sbb, &r);
            snprintf(crel, sizeof crel, "MIMIC-CXR-JPG/conversations/%s/grounding/%s.json", conv_split, frontal_id);
            rc = syn_write_json(s, crel, conv, 4, true, err);
            cJSON_Delete(conv);
            if (rc != 0) { cJSON_Delete(sbb); return -1; }
        }
    }
    cJSON_Delete(sbb);
    return 0;
}

int syn_mimic_items(syn_ctx *s, size_t begin, size_t end, rv_err *err) {
    for (size_t i = begin; i < end; i++)
        if (mimic_unit(s, i, err) != 0) return rv_fail_wrap(err, "synth MIMIC-CXR study %zu", i);
    return 0;
}
