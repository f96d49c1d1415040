/* PadChest / PadChest-GR phantom (data.md §7): 16-bit PNGs, the master table, the 160K
 * labels CSV with Spanish reports and projections (some not AP/PA), the grounded reports
 * JSON with normalised boxes (0 and 1 as integer literals where a box meets the image edge;
 * some films are cropped so that happens), normal sentences without boxes, and rule-based
 * grounded conversations for train/validation images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "data/synth/synth.h"
#include "io/json.h"

static cJSON *coord(double px, double size) {
    if (px <= 0) return cJSON_CreateNumber(0);
    if (px >= size) return cJSON_CreateNumber(1);
    return rv_json_float(px / size);
}

static int unit(syn_ctx *s, size_t i, rv_err *err) {
    rv_rng r;
    rv_rng_init(&r, s->seed, SYN_S_PADCHEST, (uint32_t)i);
    const int k = (int)(i % 10);
    const char *split = k <= 6 ? "train" : k == 7 ? "validation" : "test";
    const char *proj = i % 9 == 5 ? "L" : i % 13 == 6 ? "AP_horizontal" : i % 17 == 8 ? "COSTAL" : rv_rng_below(&r, 3) ? "PA" : "AP";
    const bool lateral = strcmp(proj, "L") == 0;
    char digits[40], stem[80], image_id[96], study[40], patient[40];
    for (int d = 0; d < 20; d++) digits[d] = (char)('0' + rv_rng_below(&r, 10));
    digits[20] = 0;
    snprintf(stem, sizeof stem, "2168401113669640130%s_%02d-%03d-%03d", digits, (int)rv_rng_below(&r, 100),
             (int)rv_rng_below(&r, 1000), (int)rv_rng_below(&r, 1000));
    snprintf(image_id, sizeof image_id, "%s.png", stem);
    syn_hex(&r, study, 32);
    syn_hex(&r, patient, 32);
    int w = 360 + (int)rv_rng_below(&r, 161), h = 360 + (int)rv_rng_below(&r, 161);
    const bool crop = i % 4 == 2 && !lateral; /* film cut at the patient's left side */
    int full_w = crop ? (int)(w * 1.15) : w;
    syn_case c;
    if (syn_case_make(&c, &r, full_w, h, lateral || i % 7 == 0 ? SYN_CASE_NORMAL : SYN_CASE_ANY, false, err) != 0) return -1;

    float *full = syn_render(&c, s->seed, 3, (uint32_t)i, lateral);
    float *px = rv_xmalloc(sizeof(float) * (size_t)w * h);
    for (int y = 0; y < h; y++) memcpy(px + (size_t)y * w, full + (size_t)y * full_w, sizeof(float) * (size_t)w);
    free(full);
    rv_image im;
    rv_phantom view = c.ph; /* quantise at the cropped size */
    view.width = w;
    int rc = rv_phantom_quantize(&view, px, 16, i % 2 ? 4095 : 65535, false, &im, err);
    free(px);
    if (rc != 0) return -1;
    char rel[192];
    snprintf(rel, sizeof rel, "PadChest/images_grounding/%s", image_id);
    char *path = syn_path(s, rel);
    char *dir = rv_path_dirname(path);
    rc = rv_mkdir_p(dir, err);
    if (rc == 0) rc = rv_png_write(path, &im, err);
    free(dir);
    free(path);
    rv_image_free(&im);
    if (rc != 0) return -1;
    s->images++;

    /* Spanish report and label list */
    rv_sb rep, labs;
    rv_sb_init(&rep);
    rv_sb_init(&labs);
    rv_sb_putc(&rep, ' ');
    syn_join_sentences(&rep, &c, true);
    rv_sb_putc(&labs, '[');
    for (int f = 0; f < c.nfind; f++) rv_sb_printf(&labs, "%s'%s'", f ? ", " : "", rv_pf_kind_name(c.find[f].kind));
    if (c.nfind == 0) rv_sb_puts(&labs, "'normal'");
    rv_sb_putc(&labs, ']');
    char rows[16], cols[16];
    snprintf(rows, sizeof rows, "%d", h);
    snprintf(cols, sizeof cols, "%d", w);
    const char *sex = c.female == 'F' ? "F" : "M";
    const char *vp = lateral ? "LATERAL" : strcmp(proj, "PA") == 0 ? "POSTEROANTERIOR" : strcmp(proj, "AP") == 0 ? "ANTEROPOSTERIOR" : "";
    for (int extra = 0; extra < (k == 9 ? 2 : 1); extra++) { /* k == 9: also an image outside PadChest-GR */
        rv_sb *b = &s->tab[SYN_T_PAD_LABELS];
        char other[100];
        snprintf(other, sizeof other, "%s_x.png", stem);
        syn_csv(b, extra ? other : image_id, false);
        syn_csv(b, "0", false);
        syn_csv(b, "20150101", false);
        syn_csv(b, study, false);
        syn_csv(b, patient, false);
        syn_csv(b, "1950", false);
        syn_csv(b, sex, false);
        syn_csv(b, vp, false);
        syn_csv(b, proj, false);
        syn_csv(b, "Manual review of DICOM fields", false);
        syn_csv(b, rows, false);
        syn_csv(b, cols, false);
        syn_csv(b, extra ? "1" : "0", false);
        syn_csv(b, rep.s, false);
        syn_csv(b, "Physician", false);
        syn_csv(b, labs.s, true);
    }
    rv_sb_free(&rep);
    rv_sb_free(&labs);
    rv_sb *b = &s->tab[SYN_T_PAD_MASTER];
    syn_csv(b, image_id, false);
    syn_csv(b, study, false);
    syn_csv(b, patient, false);
    syn_csv(b, sex, false);
    syn_csv(b, "20150101", false);
    syn_csv(b, proj, false);
    syn_csv(b, split, true);

    /* grounded report: abnormal sentences with boxes, normal sentences with none */
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "ImageID", image_id);
    cJSON *finds = cJSON_AddArrayToObject(entry, "findings");
    cJSON *sbb = cJSON_CreateArray();
    for (int f = 0; f < c.nfind; f++) {
        cJSON *o = cJSON_CreateObject();
        char en[160];
        snprintf(en, sizeof en, "%s.", c.find[f].phrase);
        cJSON_AddStringToObject(o, "sentence_en", en);
        cJSON_AddStringToObject(o, "sentence_es", c.find[f].es);
        cJSON_AddBoolToObject(o, "abnormal", 1);
        cJSON *boxes = cJSON_AddArrayToObject(o, "boxes");
        for (int q = 0; q < c.ph.find[f].nbox; q++) {
            const rv_pbox *x = &c.ph.find[f].box[q];
            if (x->x0 >= w) continue; /* cropped away */
            cJSON *bx = cJSON_CreateArray();
            cJSON_AddItemToArray(bx, coord(x->x0, w));
            cJSON_AddItemToArray(bx, coord(x->y0, h));
            cJSON_AddItemToArray(bx, coord(fmin(x->x1, w), w));
            cJSON_AddItemToArray(bx, coord(x->y1, h));
            cJSON *sb = cJSON_CreateObject();
            cJSON_AddStringToObject(sb, "observation", en);
            cJSON_AddItemToObject(sb, "box", cJSON_Duplicate(bx, 1));
            cJSON_AddItemToArray(sbb, sb);
            cJSON_AddItemToArray(boxes, bx);
        }
        cJSON_AddArrayToObject(o, "extra_boxes");
        cJSON *l = cJSON_AddArrayToObject(o, "labels");
        cJSON_AddItemToArray(l, cJSON_CreateString(rv_pf_kind_name(c.find[f].kind)));
        cJSON_AddArrayToObject(o, "locations");
        cJSON_AddNullToObject(o, "progression");
        cJSON_AddItemToArray(finds, o);
    }
    for (int q = 0; q < c.nneg; q++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "sentence_en", c.neg_en[q]);
        cJSON_AddStringToObject(o, "sentence_es", c.neg_es[q]);
        cJSON_AddBoolToObject(o, "abnormal", 0);
        cJSON_AddArrayToObject(o, "boxes");
        cJSON_AddArrayToObject(o, "extra_boxes");
        cJSON_AddArrayToObject(o, "labels");
        cJSON_AddArrayToObject(o, "locations");
        cJSON_AddNullToObject(o, "progression");
        cJSON_AddItemToArray(finds, o);
    }
    /* one array element of json.dump(list, indent=4): each line indented one more level */
    rv_sb e;
    rv_sb_init(&e);
    rv_pyjson_dump(&e, entry, 4, false);
    rv_sb *g = &s->tab[SYN_T_PAD_GROUNDED];
    rv_sb_puts(g, ",\n    ");
    for (size_t q = 0; q < e.len; q++) {
        rv_sb_putc(g, e.s[q]);
        if (e.s[q] == '\n') rv_sb_puts(g, "    ");
    }
    rv_sb_free(&e);
    cJSON_Delete(entry);

    rc = 0;
    if (strcmp(split, "test") != 0 && i % 3 != 2 && !lateral) {
        cJSON *conv = syn_conversation(&c, proj, c.female == 'F' ? "female" : "male", sbb, &r);
        char crel[160];
        snprintf(crel, sizeof crel, "PadChest/conversations/train/grounding/%s.json", stem);
        rc = syn_write_json(s, crel, conv, 4, true, err);
        cJSON_Delete(conv);
    }
    cJSON_Delete(sbb);
    return rc;
}

int syn_padchest_items(syn_ctx *s, size_t begin, size_t end, rv_err *err) {
    for (size_t i = begin; i < end; i++)
        if (unit(s, i, err) != 0) return rv_fail_wrap(err, "synth PadChest image %zu", i);
    return 0;
}
