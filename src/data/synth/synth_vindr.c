/* VinDr-CXR phantom (data.md §5): real DICOM files (GDCM) with a mix of MONOCHROME1/2,
 * 12- and 16-bit stored values and non-square sizes; train images read by 3 radiologists
 * (each box jittered around the drawn one), test images with one consensus reading. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth/synth.h"
#include "core/fsutil.h"
#include "io/dicom.h"

static const char *vindr_class(rv_pf_kind k) {
    switch (k) {
    case RV_PF_CARDIOMEGALY: return "Cardiomegaly";
    case RV_PF_EFFUSION: return "Pleural effusion";
    case RV_PF_PNEUMOTHORAX: return "Pneumothorax";
    case RV_PF_NODULE:
    case RV_PF_MASS: return "Nodule/Mass";
    case RV_PF_CONSOLIDATION: return "Consolidation";
    case RV_PF_ATELECTASIS: return "Atelectasis";
    case RV_PF_EDEMA: return "Edema";
    case RV_PF_RIB_FRACTURE: return "Rib fracture";
    case RV_PF_PLEURAL_THICKENING: return "Pleural thickening";
    case RV_PF_AORTIC_ENLARGEMENT: return "Aortic enlargement";
    default: return NULL;
    }
}

static void put_box(rv_sb *b, const char *id, const char *rad, const char *cls, const double *v) {
    syn_csv(b, id, false);
    syn_csv(b, rad, false);
    syn_csv(b, cls, false);
    for (int k = 0; k < 4; k++) {
        char t[32];
        if (v) snprintf(t, sizeof t, "%.1f", v[k]);
        else t[0] = 0;
        syn_csv(b, t, k == 3);
    }
}

static int unit(syn_ctx *s, size_t i, rv_err *err) {
    rv_rng r;
    rv_rng_init(&r, s->seed, SYN_S_VINDR, (uint32_t)i);
    const bool test = i % 5 == 4;
    char id[40];
    syn_hex(&r, id, 32);
    const bool normal = i == 0 || i == 4 || i % 6 == 0;
    int w = 400 + (int)rv_rng_below(&r, 161), h = 400 + (int)rv_rng_below(&r, 201);
    syn_case c;
    if (syn_case_make(&c, &r, w, h, normal ? SYN_CASE_NORMAL : SYN_CASE_ANY, true, err) != 0) return -1;
    /* DICOM flavour */
    rv_dicom_info info = {0};
    info.bits_stored = i % 2 == 0 ? 12 : 16;
    info.monochrome1 = i % 3 == 0;
    info.has_window = i % 2 == 1;
    const int maxval = info.bits_stored == 12 ? 4095 : 60000;
    info.window_center = maxval / 2.0;
    info.window_width = maxval * 0.9;
    float *px = syn_render(&c, s->seed, 2, (uint32_t)i, false);
    rv_image im;
    int rc = rv_phantom_quantize(&c.ph, px, 16, maxval, info.monochrome1, &im, err);
    free(px);
    if (rc != 0) return -1;
    char rel[128];
    snprintf(rel, sizeof rel, "VinDr-CXR/%s/%s.dicom", test ? "test" : "train", id);
    char *path = syn_path(s, rel);
    char *dir = rv_path_dirname(path);
    rc = rv_mkdir_p(dir, err);
    if (rc == 0) rc = rv_dicom_write(path, &im, &info, err);
    free(dir);
    free(path);
    rv_image_free(&im);
    if (rc != 0) return -1;
    s->images++;

    if (test) {
        rv_sb *b = &s->tab[SYN_T_VINDR_TEST];
        char rad[16];
        snprintf(rad, sizeof rad, "R%d", 11 + (int)rv_rng_below(&r, 7));
        int nb = 0;
        for (int f = 0; f < c.nfind; f++) {
            const char *cls = vindr_class(c.find[f].kind);
            for (int k = 0; cls && k < c.ph.find[f].nbox; k++, nb++) {
                const rv_pbox *x = &c.ph.find[f].box[k];
                double v[4] = {x->x0, x->y0, x->x1, x->y1};
                put_box(b, id, rad, cls, v);
            }
        }
        if (nb == 0) put_box(b, id, rad, "No finding", NULL);
        return 0;
    }
    /* three radiologists, each jittering the drawn boxes by a few percent of their size */
    int rads[3];
    for (int k = 0; k < 3; k++) {
        bool dup;
        do {
            rads[k] = 1 + (int)rv_rng_below(&r, 17);
            dup = false;
            for (int q = 0; q < k; q++) dup |= rads[q] == rads[k];
        } while (dup);
    }
    rv_sb *b = &s->tab[SYN_T_VINDR_TRAIN];
    for (int k = 0; k < 3; k++) {
        char rad[16];
        snprintf(rad, sizeof rad, "R%d", rads[k]);
        int nb = 0;
        bool reader_misses = i % 11 == 5 && k == 0; /* one reader calls it normal */
        for (int f = 0; f < c.nfind && !reader_misses; f++) {
            const char *cls = vindr_class(c.find[f].kind);
            for (int q = 0; cls && q < c.ph.find[f].nbox; q++, nb++) {
                const rv_pbox *x = &c.ph.find[f].box[q];
                double bw = x->x1 - x->x0, bh = x->y1 - x->y0;
                double v[4] = {x->x0 + 0.04 * bw * rv_rng_normal(&r), x->y0 + 0.04 * bh * rv_rng_normal(&r),
                               x->x1 + 0.04 * bw * rv_rng_normal(&r), x->y1 + 0.04 * bh * rv_rng_normal(&r)};
                v[0] = fmax(0, v[0]);
                v[1] = fmax(0, v[1]);
                v[2] = fmin(w, fmax(v[2], v[0] + 1));
                v[3] = fmin(h, fmax(v[3], v[1] + 1));
                put_box(b, id, rad, cls, v);
            }
        }
        if (nb == 0) put_box(b, id, rad, "No finding", NULL);
    }
    return 0;
}

int syn_vindr_items(syn_ctx *s, size_t begin, size_t end, rv_err *err) {
    for (size_t i = begin; i < end; i++)
        if (unit(s, i, err) != 0) return rv_fail_wrap(err, "synth VinDr-CXR image %zu", i);
    return 0;
}
