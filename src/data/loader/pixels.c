#include "data/loader/pixels.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/image.h"
#include "io/json.h"
#include "io/resize.h"

rv_pixel_norm rv_pixel_norm_siglip(void) {
    return (rv_pixel_norm){.rescale = 1.0 / 255.0, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}};
}

/* key: absent -> def (3 values); a number -> all channels; an array of 3 numbers. */
static int read_triple(const cJSON *root, const char *key, const char *where, const float def[3], float out[3],
                       rv_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        for (int c = 0; c < 3; c++) out[c] = def[c];
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        for (int c = 0; c < 3; c++) out[c] = (float)v->valuedouble;
        return 0;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return rv_fail(err, "%s: '%s' must be a number or a list of 3 numbers (one per RGB channel)", where, key);
    for (int c = 0; c < 3; c++) {
        const cJSON *x = cJSON_GetArrayItem(v, c);
        if (!cJSON_IsNumber(x)) return rv_fail(err, "%s: '%s'[%d] must be a number", where, key, c);
        out[c] = (float)x->valuedouble;
    }
    return 0;
}

static int read_bool(const cJSON *root, const char *key, const char *where, bool *out, rv_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 0; /* keeps the default */
    if (!cJSON_IsBool(v)) return rv_fail(err, "%s: '%s' must be true or false", where, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

int rv_pixel_norm_from_hf_text(const char *where, const char *json, size_t len, rv_pixel_norm *out, rv_err *err) {
    /* transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD, the class defaults */
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    cJSON *root = rv_json_parse(where, json, len, err);
    if (!root) return -1;
    int rc = -1;
    bool do_rescale = true, do_normalize = true;
    double rescale = 1.0 / 255.0;
    rv_pixel_norm n;
    if (!cJSON_IsObject(root)) {
        rv_fail(err, "%s: a preprocessor config must be a JSON object", where);
        goto out;
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "rescale_factor");
    if (rf && (rv_json_get_num(root, "rescale_factor", where, &rescale, err) < 0)) goto out;
    if (read_bool(root, "do_rescale", where, &do_rescale, err) < 0 ||
        read_bool(root, "do_normalize", where, &do_normalize, err) < 0 ||
        read_triple(root, "image_mean", where, clip_mean, n.mean, err) < 0 ||
        read_triple(root, "image_std", where, clip_std, n.std, err) < 0)
        goto out;
    n.rescale = do_rescale ? rescale : 1.0;
    for (int c = 0; c < 3; c++) {
        if (!do_normalize) {
            n.mean[c] = 0.0f;
            n.std[c] = 1.0f;
        } else if (!(n.std[c] > 0.0f)) {
            rv_fail(err, "%s: image_std[%d] = %g must be positive", where, c, (double)n.std[c]);
            goto out;
        }
    }
    if (!(n.rescale > 0.0)) {
        rv_fail(err, "%s: rescale_factor = %g must be positive", where, n.rescale);
        goto out;
    }
    *out = n;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int rv_pixel_norm_from_hf_file(const char *path, rv_pixel_norm *out, rv_err *err) {
    char *text;
    size_t len;
    if (rv_read_file(path, &text, &len, err) < 0) return -1;
    int rc = rv_pixel_norm_from_hf_text(path, text, len, out, err);
    free(text);
    return rc;
}

void rv_pixels_normalize_tile(const rv_pixel_norm *n, const uint8_t *grey, int S, float *out) {
    /* 256 possible inputs per channel: one table, the same arithmetic as per pixel */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 256; p++) {
            float x = (float)((double)p * n->rescale);
            lut[c][p] = (x - n->mean[c]) / n->std[c];
        }
    const size_t plane = (size_t)S * S;
    for (int c = 0; c < 3; c++) {
        float *o = out + c * plane;
        for (size_t i = 0; i < plane; i++) o[i] = lut[c][grey[i]];
    }
}

int rv_pixels_base_tile(const rv_pixel_norm *n, const uint8_t *grey, int h, int w, int S, float *out, rv_err *err) {
    if (h <= 0 || w <= 0 || S <= 0)
        return rv_fail(err, "base tile: image %dx%d (HxW) and tile size %d must be positive", h, w, S);
    if (h == S && w == S) {
        rv_pixels_normalize_tile(n, grey, S, out);
        return 0;
    }
    /* io's image type, borrowed read-only: the resize only reads src */
    rv_image src = {.width = w, .height = h, .bits = 8, .u8 = (uint8_t *)grey};
    rv_image dst = {0};
    if (rv_image_resize(&src, S, S, RV_RESAMPLE_BICUBIC, &dst, err) < 0) {
        rv_fail_wrap(err, "base tile: resizing a %dx%d image to %dx%d", h, w, S, S);
        return -1;
    }
    rv_pixels_normalize_tile(n, dst.u8, S, out);
    rv_image_free(&dst);
    return 0;
}

int rv_pixels_anyres_grid(const rv_pixel_norm *n, const uint8_t *grey, int h, int w, int S, int ch, int cw, float *out,
                          rv_err *err) {
    if (h <= 0 || w <= 0 || S <= 0 || ch <= 0 || cw <= 0 || ch % S || cw % S)
        return rv_fail(err, "anyres tiles: image %dx%d (HxW), canvas %dx%d, tile %d: sizes must be positive and the "
                            "canvas a multiple of the tile", h, w, ch, cw, S);
    /* HF get_patch_output_size, in float64 as Python computes it */
    double sw = (double)cw / (double)w, sh = (double)ch / (double)h;
    int nh, nw;
    if (sw < sh) {
        nw = cw;
        nh = (int)fmin(ceil((double)h * sw), (double)ch);
    } else {
        nh = ch;
        nw = (int)fmin(ceil((double)w * sh), (double)cw);
    }
    rv_image src = {.width = w, .height = h, .bits = 8, .u8 = (uint8_t *)grey}, fit = {0};
    const uint8_t *fp = grey;
    if (nh != h || nw != w) {
        if (rv_image_resize(&src, nw, nh, RV_RESAMPLE_BICUBIC, &fit, err) < 0) {
            rv_fail_wrap(err, "anyres tiles: resizing a %dx%d image to %dx%d", h, w, nh, nw);
            return -1;
        }
        fp = fit.u8;
    }
    /* the black canvas [ch, cw] with the fitted image at the floor-centred offset */
    uint8_t *canvas = rv_xcalloc((size_t)ch * (size_t)cw, 1);
    const int y0 = (ch - nh) / 2, x0 = (cw - nw) / 2;
    for (int y = 0; y < nh; y++) memcpy(canvas + (size_t)(y0 + y) * cw + x0, fp + (size_t)y * nw, (size_t)nw);
    rv_image_free(&fit);
    uint8_t *tile = rv_xmalloc((size_t)S * S);
    const int nph = ch / S, npw = cw / S;
    for (int ty = 0; ty < nph; ty++)
        for (int tx = 0; tx < npw; tx++) {
            for (int y = 0; y < S; y++)
                memcpy(tile + (size_t)y * S, canvas + (size_t)(ty * S + y) * cw + (size_t)tx * S, (size_t)S);
            rv_pixels_normalize_tile(n, tile, S, out + (size_t)(ty * npw + tx) * 3 * S * S);
        }
    free(tile);
    free(canvas);
    return 0;
}
