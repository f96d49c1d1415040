/* VinDr-CXR (data.md §5): DICOM -> 8-bit JPEG conversion with the resolution file, and the
 * detection / single-label grounding readers with weighted box fusion. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "data/sources/reader_util.h"
#include "data/sources/readers.h"
#include "data/sources/wbf.h"
#include "io/dicom.h"
#include "io/json.h"
#include "io/resize.h"

#define VINDR_SIZE 512
#define VINDR_QUALITY 75
#define RECIPE_MARKER ".radvlm-recipe"
/* The Pillow release whose resize made the JPEGs ("10" | "13"). JPEGs with a recipe marker but
 * without this one were made before data.pillow_resize existed, with Pillow 13's pass order. */
#define PILLOW_MARKER ".radvlm-pillow"
#define PILLOW_BEFORE_MARKER "13"

static int check_split(const char *split, rv_err *err) {
    if (strcmp(split, "train") && strcmp(split, "test"))
        return rv_fail(err, "VinDr-CXR: split '%s' does not exist; VinDr-CXR has only 'train' and 'test' "
                            "(upstream's 'valid' raises, data.md P20)", split);
    return 0;
}

/* P7: annotations/ holds the CSVs when it exists. */
static char *annotation_dir(const char *root) {
    char *a = rv_path_join(root, "annotations");
    if (rv_is_dir(a)) return a;
    free(a);
    return rv_xstrdup(root);
}

/* ---------------------------------------------------------------- conversion */

/* Upstream recipe (§5.1): raw stored values; 16-bit data min-max scaled to 0..255 in float64
 * and truncated; 8-bit data passed through. max == min gives an all-zero image (upstream: NaN). */
static void convert_minmax(const rv_dicom_info *in, const rv_image *img, uint8_t *out) {
    size_t n = (size_t)img->width * (size_t)img->height;
    if (in->bits_allocated <= 8) {
        for (size_t i = 0; i < n; i++) out[i] = img->u16[i] > 255 ? 255 : (uint8_t)img->u16[i];
        return;
    }
    bool sgn = in->pixel_representation == 1;
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = sgn ? (double)(int16_t)img->u16[i] : (double)img->u16[i];
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
    for (size_t i = 0; i < n; i++) {
        double v = sgn ? (double)(int16_t)img->u16[i] : (double)img->u16[i];
        out[i] = mx > mn ? (uint8_t)((v - mn) / (mx - mn) * 255.0) : 0;
    }
}

/* Display recipe: Modality LUT (rescale slope/intercept), VOI linear window (DICOM PS3.3
 * C.11.2.1.2.1), else min-max of the rescaled values; MONOCHROME1 inverted so that bone is
 * bright as in MONOCHROME2. Rounded to nearest. */
static void convert_voi(const rv_dicom_info *in, const rv_image *img, uint8_t *out) {
    size_t n = (size_t)img->width * (size_t)img->height;
    bool sgn = in->pixel_representation == 1 && in->bits_allocated > 8;
    double slope = in->rescale_slope != 0.0 ? in->rescale_slope : 1.0, icpt = in->rescale_intercept;
    bool win = in->has_window && in->window_width >= 1.0;
    double c = in->window_center, w = in->window_width, mn = INFINITY, mx = -INFINITY;
    if (!win)
        for (size_t i = 0; i < n; i++) {
            double x = (sgn ? (double)(int16_t)img->u16[i] : (double)img->u16[i]) * slope + icpt;
            if (x < mn) mn = x;
            if (x > mx) mx = x;
        }
    for (size_t i = 0; i < n; i++) {
        double x = (sgn ? (double)(int16_t)img->u16[i] : (double)img->u16[i]) * slope + icpt, y;
        if (win) {
            if (x <= c - 0.5 - (w - 1) / 2) y = 0;
            else if (x > c - 0.5 + (w - 1) / 2) y = 255;
            else y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0;
        } else {
            y = mx > mn ? (x - mn) / (mx - mn) * 255.0 : 0;
        }
        long q = lround(y);
        q = q < 0 ? 0 : (q > 255 ? 255 : q);
        out[i] = (uint8_t)(in->monochrome1 ? 255 - q : q);
    }
}

/* Converts one DICOM; rows/cols are set as soon as the header is read. */
static int vindr_to_jpeg(const char *dicom, const char *jpg, rv_vindr_convert mode, rv_pillow pillow, long long max_pixels,
                         int *rows, int *cols,
                         rv_err *err) {
    rv_dicom_info info;
    rv_image img = {0}, g = {0}, small = {0};
    if (rv_dicom_read_max(dicom, max_pixels, &info, &img, err) != 0) return -1;
    *rows = info.rows;
    *cols = info.columns;
    int rc = -1;
    if (rv_image_alloc(&g, img.width, img.height, 8, err) != 0) goto done;
    if (mode == RV_VINDR_VOI) convert_voi(&info, &img, g.u8);
    else convert_minmax(&info, &img, g.u8);
    /* 512x512 LANCZOS without keeping the aspect ratio, as upstream: normalised boxes stay valid.
     * The Pillow release matters for images taller than wide and taller than 512 (io/resize.h). */
    if (rv_image_resize_as(&g, VINDR_SIZE, VINDR_SIZE, RV_RESAMPLE_LANCZOS, pillow, &small, err) != 0) goto done;
    if (rv_jpeg_write(jpg, &small, VINDR_QUALITY, err) != 0) goto done;
    rc = 0;
done:
    rv_image_free(&img);
    rv_image_free(&g);
    rv_image_free(&small);
    return rc;
}

static bool ends_with_ci(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    if (n < m) return false;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)s[n - m + i]) != suf[i]) return false;
    return true;
}

static const char *recipe_name(rv_vindr_convert m) { return m == RV_VINDR_VOI ? "voi" : "minmax"; }

/* A marker file's text without trailing blanks, or NULL when absent or unreadable. */
static char *read_marker(const char *path) {
    char *txt = NULL;
    size_t len = 0;
    rv_err e = {{0}};
    if (!rv_is_file(path) || rv_read_file(path, &txt, &len, &e) != 0) return NULL;
    while (len && (txt[len - 1] == '\n' || txt[len - 1] == ' ')) txt[--len] = '\0';
    return txt;
}

int rv_vindr_prepare(const rv_reader_ctx *c, const char *split, rv_err *err) {
    if (check_split(split, err) != 0) return -1;
    char *root = rv_path_join(c->data_dir, "VinDr-CXR");
    char *src = rv_path_join(root, split);
    char *jdir_name = rv_xasprintf("%s_jpg", split);
    char *jdir = rv_path_join(root, jdir_name);
    char *res_name = rv_xasprintf("image_resolutions_%s.json", split);
    char *res_path = rv_path_join(root, res_name);
    char *marker = rv_path_join(jdir, RECIPE_MARKER);
    char *pmarker = rv_path_join(jdir, PILLOW_MARKER);
    const rv_pillow pillow = c->pillow_resize ? c->pillow_resize : RV_PILLOW_DEFAULT;
    char pname[8];
    snprintf(pname, sizeof pname, "%d", (int)pillow);
    char **names = NULL;
    size_t nnames = 0, ndcm = 0;
    cJSON *old = NULL;
    rv_smap oldmap = {0};
    rv_sb mine;
    rv_sb_init(&mine);
    int rc = -1;
    bool ok = true;
    rv_err local = {{0}};

    if (!rv_is_dir(src)) {
        rv_info0("vindr-cxr %s: no DICOM directory %s; using the existing %s_jpg/ and %s", split, src, split, res_name);
        rc = 0;
        goto out;
    }
    /* Every rank lists and reads the same files, so every rank knows the whole work list. */
    if (rv_list_dir(src, &names, &nnames, err) != 0) goto out;
    for (size_t i = 0; i < nnames; i++)
        if (ends_with_ci(names[i], ".dicom")) names[ndcm++] = names[i];
        else free(names[i]);
    if (rv_mkdir_p(jdir, err) != 0) goto out;

    /* A different recipe or Pillow release than the one that made the existing JPEGs converts
     * everything again. */
    bool force = false;
    char *txt = read_marker(marker);
    if (txt) {
        force = strcmp(txt, recipe_name(c->vindr_convert)) != 0;
        if (force)
            rv_warn0("vindr-cxr %s: %s was made with recipe '%s', data.vindr_convert is '%s': converting again",
                     split, jdir, txt, recipe_name(c->vindr_convert));
        char *ptxt = read_marker(pmarker);
        const char *made = ptxt ? ptxt : PILLOW_BEFORE_MARKER;
        if (!force && strcmp(made, pname) != 0) {
            force = true;
            rv_warn0("vindr-cxr %s: %s was resized as Pillow %s does, data.pillow_resize is %s: converting again", split,
                     jdir, made, pname);
        }
        free(ptxt);
        free(txt);
    }
    /* P6 fix: an existing JPEG is skipped only when its resolution is already known. */
    if (rv_is_file(res_path)) {
        old = rv_json_parse_file(res_path, &local);
        if (!cJSON_IsObject(old)) {
            rv_warn0("%s: unreadable (%s); rebuilding it from the DICOM headers", res_path, old ? "not an object" : local.msg);
            cJSON_Delete(old);
            old = NULL;
        }
    }
    rv_smap_init(&oldmap, old ? (size_t)cJSON_GetArraySize(old) : 1);
    if (old) {
        const cJSON *e;
        cJSON_ArrayForEach(e, old) {
            const cJSON *r = cJSON_GetArrayItem(e, 0), *col = cJSON_GetArrayItem(e, 1);
            if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsNumber(r) && cJSON_IsNumber(col))
                rv_smap_put(&oldmap, e->string, (size_t)0);
        }
    }

    size_t b, e;
    rv_comm_slice(c->comm, ndcm, &b, &e);
    uint64_t converted = 0, reused = 0, failed = 0;
    for (size_t i = b; i < e && ok; i++) {
        char *id = rv_xstrndup(names[i], strlen(names[i]) - 6);
        char *jname = rv_xasprintf("%s.jpg", id);
        char *jpg = rv_path_join(jdir, jname);
        const cJSON *known = rv_smap_get(&oldmap, id) != RV_MAP_NONE ? cJSON_GetObjectItemCaseSensitive(old, id) : NULL;
        if (!force && known && rv_is_file(jpg)) {
            rv_sb_printf(&mine, "%s\t%d\t%d\n", id, (int)cJSON_GetArrayItem(known, 0)->valuedouble,
                         (int)cJSON_GetArrayItem(known, 1)->valuedouble);
            reused++;
        } else {
            char *dcm = rv_path_join(src, names[i]);
            int rows = 0, cols = 0;
            rv_err ce = {{0}};
            if (vindr_to_jpeg(dcm, jpg, c->vindr_convert, pillow, c->max_image_pixels, &rows, &cols, &ce) == 0) {
                rv_sb_printf(&mine, "%s\t%d\t%d\n", id, rows, cols);
                converted++;
            } else {
                failed++;
                if (rows > 0) rv_sb_printf(&mine, "%s\t%d\t%d\n", id, rows, cols); /* header was read (as upstream) */
                if (rv_badrec_report(c->bad, &local, dcm, "%s", ce.msg) != 0) ok = false;
            }
            free(dcm);
        }
        free(id);
        free(jname);
        free(jpg);
    }
    if (!rv_comm_all_ok(c->comm, ok)) {
        if (!ok) rv_fail(err, "%s", local.msg);
        else rv_fail(err, "vindr-cxr %s: conversion failed on another rank (see its message)", split);
        goto out;
    }
    char *all = NULL;
    size_t alen = 0;
    rv_comm_gather_bytes(c->comm, mine.s ? mine.s : "", mine.len, 0, &all, &alen);
    bool wok = true;
    if (c->comm->rank == 0) {
        /* Compact json.dump of {"id": [Rows, Columns]} in file-name order. */
        cJSON *obj = cJSON_CreateObject();
        for (char *line = all, *nl; line && *line; line = nl + 1) {
            nl = strchr(line, '\n');
            *nl = '\0';
            char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
            if (!t1 || !t2) break;
            *t1 = *t2 = '\0';
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(atoi(t1 + 1)));
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(atoi(t2 + 1)));
            cJSON_AddItemToObject(obj, line, pair);
        }
        rv_sb js;
        rv_sb_init(&js);
        rv_pyjson_dump(&js, obj, -1, true);
        cJSON_Delete(obj);
        const char *rn = recipe_name(c->vindr_convert);
        if (rv_write_atomic(res_path, js.s, js.len, &local) != 0 ||
            rv_write_atomic(marker, rn, strlen(rn), &local) != 0 ||
            rv_write_atomic(pmarker, pname, strlen(pname), &local) != 0)
            wok = false;
        rv_sb_free(&js);
    }
    free(all);
    if (!rv_comm_all_ok(c->comm, wok)) {
        if (!wok) rv_fail(err, "%s", local.msg);
        else rv_fail(err, "vindr-cxr %s: rank 0 could not write %s", split, res_path);
        goto out;
    }
    converted = rv_comm_sum_u64(c->comm, converted);
    reused = rv_comm_sum_u64(c->comm, reused);
    failed = rv_comm_sum_u64(c->comm, failed);
    rv_info0("vindr-cxr %s: %zu DICOM files: %llu converted (%s, Pillow %s resize), %llu already done, %llu failed; "
             "wrote %s", split, ndcm, (unsigned long long)converted, recipe_name(c->vindr_convert), pname,
             (unsigned long long)reused,
             (unsigned long long)failed, res_path);
    rc = 0;
out:
    for (size_t i = 0; i < ndcm; i++) free(names[i]);
    free(names);
    if (oldmap.keys) rv_smap_free(&oldmap);
    cJSON_Delete(old);
    rv_sb_free(&mine);
    free(root);
    free(src);
    free(jdir_name);
    free(jdir);
    free(res_name);
    free(res_path);
    free(marker);
    free(pmarker);
    return rc;
}

/* ---------------------------------------------------------------- readers */

/* qsort has no context argument; rows are sorted through a small array of (row, keys). */
typedef struct {
    const char *img, *cls;
    size_t row;
} rowkey;

static int cmp_rowkey(const void *a, const void *b) {
    const rowkey *x = a, *y = b;
    int c = strcmp(x->img, y->img);
    if (c) return c;
    c = strcmp(x->cls, y->cls);
    if (c) return c;
    return x->row < y->row ? -1 : (x->row > y->row);
}

/* The detection boxes gathered for an image that does not become an item (NULL is fine). */
static void det_free(rv_item *det) {
    if (!det) return;
    for (size_t k = 0; k < det->nlabels; k++) free(det->labels[k]);
    free(det->labels);
    free(det->boxes);
    free(det);
}

static double clip01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

/* A box against its image, as upstream's fusion treats it (data.md 5.3: each coordinate clipped
 * to [0, 1], a box of zero area after that dropped) — the fusion (rv_wbf) does both; here each
 * case is reported with the CSV line: a box that leaves no area (outside the image, or a line) is
 * a bad record, as it is dropped; one that extends beyond the image is kept clipped, as upstream
 * keeps it, and noted. px: the box in pixels; v: normalised. -1 when the policy makes it fatal. */
static int report_box_fit(const rv_reader_ctx *c, rv_err *err, const char *cpath, size_t line, const char *img,
                          const char *cls, const rv_box *px, const rv_box *v, double cols, double rows) {
    const double x1 = clip01(v->v[0]), y1 = clip01(v->v[1]), x2 = clip01(v->v[2]), y2 = clip01(v->v[3]);
    const bool beyond = x1 != v->v[0] || y1 != v->v[1] || x2 != v->v[2] || y2 != v->v[3];
    char *where = rv_xasprintf("%s:%zu", cpath, line);
    int rc = 0;
    if ((x2 - x1) * (y2 - y1) == 0.0) /* the fusion's own test (wbf.c), so both drop the same boxes */
        rc = rv_badrec_report(c->bad, err, where,
                              "box [%g, %g, %g, %g] (image %s, class %s) %s the %gx%g image (Columns x Rows); the "
                              "fusion drops it, as upstream's does", px->v[0], px->v[1], px->v[2], px->v[3], img, cls,
                              beyond ? "leaves no area inside" : "has zero area in", cols, rows);
    else if (beyond)
        rv_badrec_note(c->bad, where,
                       "box [%g, %g, %g, %g] (image %s, class %s) extends beyond the %gx%g image (Columns x Rows); "
                       "clipped to it by the fusion, as upstream's is", px->v[0], px->v[1], px->v[2], px->v[3], img, cls,
                       cols, rows);
    free(where);
    return rc;
}

/* Root first (where the converter writes it), then annotations/ (P7). */
static int load_resolutions(const char *root, const char *split, cJSON **out, rv_err *err) {
    char *name = rv_xasprintf("image_resolutions_%s.json", split);
    char *p1 = rv_path_join(root, name), *ad = rv_path_join(root, "annotations"), *p2 = rv_path_join(ad, name);
    const char *p = rv_is_file(p1) ? p1 : (rv_is_file(p2) ? p2 : NULL);
    int rc = -1;
    if (!p) {
        rv_fail(err, "VinDr-CXR: %s not found (looked in %s and %s); put the DICOMs in %s/%s/ and run the "
                     "instruct phase, which writes it", name, root, ad, root, split);
    } else {
        *out = rv_json_parse_file(p, err);
        if (*out && !cJSON_IsObject(*out)) {
            cJSON_Delete(*out);
            rv_fail(err, "%s: must hold an object {\"image_id\": [Rows, Columns]}", p);
        } else if (*out) {
            rc = 0;
        }
    }
    free(name);
    free(p1);
    free(ad);
    free(p2);
    return rc;
}

int rv_read_vindr(const rv_reader_ctx *c, const char *split, bool single_label, rv_dataset **out, rv_err *err) {
    *out = NULL;
    if (check_split(split, err) != 0) return -1;
    char *root = rv_path_join(c->data_dir, "VinDr-CXR");
    char *adir = annotation_dir(root);
    char *cname = rv_xasprintf("annotations_%s.csv", split);
    char *cpath = rv_path_join(adir, cname);
    char *jdir = rv_xasprintf("%s_jpg", split);
    rv_csv *csv = NULL;
    cJSON *res = NULL;
    rowkey *keys = NULL;
    rv_smap rmap = {0};
    rv_dataset *d = NULL;
    int rc = -1;

    if (rv_reader_csv(c, cpath, "VinDr-CXR", &csv, err) != 0) goto out;
    static const char *const cols_needed[6] = {"image_id", "class_name", "x_min", "y_min", "x_max", "y_max"};
    int cols[6];
    if (rv_reader_cols(csv, cols_needed, cols, 6, err) != 0) goto out;
    if (load_resolutions(root, split, &res, err) != 0) goto out;
    rv_smap_init(&rmap, (size_t)cJSON_GetArraySize(res));
    {
        size_t k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, res) rv_smap_put(&rmap, e->string, k++);
    }

    keys = rv_xmalloc((csv->nrows ? csv->nrows : 1) * sizeof *keys);
    for (size_t r = 0; r < csv->nrows; r++) {
        keys[r].img = rv_csv_get(csv, r, cols[0]);
        keys[r].cls = rv_csv_get(csv, r, cols[1]);
        keys[r].row = r;
    }
    /* pandas groupby sorts the (image_id, class_name) keys; rows keep CSV order inside a group. */
    qsort(keys, csv->nrows, sizeof *keys, cmp_rowkey);

    char *dname = rv_xasprintf(single_label ? "vindr-cxr-mono-%s" : "vindr-cxr-%s", split);
    d = rv_dataset_new(dname, single_label ? RV_TASK_ABN_GROUND : RV_TASK_DETECT);
    free(dname);
    rv_box *raw = rv_xmalloc((csv->nrows ? csv->nrows : 1) * sizeof *raw);
    rv_box *fused = rv_xmalloc((csv->nrows ? csv->nrows : 1) * sizeof *fused);
    size_t *raw_row = rv_xmalloc((csv->nrows ? csv->nrows : 1) * sizeof *raw_row); /* CSV row of raw[k] */
    size_t i = 0;
    while (i < csv->nrows) {
        const char *img = keys[i].img;
        size_t iend = i;
        while (iend < csv->nrows && !strcmp(keys[iend].img, img)) iend++;
        double rows = 0, cols_px = 0;
        bool have_res = false, res_failed = false, has_row = false, no_finding_row = false;
        rv_item *det = NULL;
        char *jname = rv_xasprintf("%s.jpg", img);
        char *path = rv_path_joinv(4, c->data_dir, "VinDr-CXR", jdir, jname);
        free(jname);
        for (size_t g = i; g < iend && !res_failed;) {
            const char *cls = keys[g].cls;
            size_t gend = g;
            while (gend < iend && !strcmp(keys[gend].cls, cls)) gend++;
            if (!strcmp(cls, "No finding")) {
                has_row = true;
                no_finding_row = true;
                g = gend;
                continue;
            }
            size_t nb = 0;
            for (size_t k = g; k < gend; k++) {
                size_t r = keys[k].row;
                rv_box bx = {{0, 0, 0, 0}, 0};
                bool isna = false, bad = false;
                for (int j = 0; j < 4; j++) {
                    const char *cell = rv_csv_get(csv, r, cols[2 + j]);
                    if (rv_cell_isna(cell)) isna = true;
                    else if (!rv_cell_num(cell, &bx.v[j])) bad = true;
                }
                if (bad && !isna) {
                    char *where = rv_xasprintf("%s:%zu", cpath, csv->line[r]);
                    int fatal = rv_badrec_report(c->bad, err, where, "box coordinate is not a number (image %s, class %s)", img, cls);
                    free(where);
                    if (fatal) { free(path); free(raw); free(fused); free(raw_row); det_free(det); goto out; }
                    continue;
                }
                if (isna) { /* dropped before fusion, as upstream's pandas drops them; only "No finding" has none */
                    char *where = rv_xasprintf("%s:%zu", cpath, csv->line[r]);
                    int fatal = rv_badrec_report(c->bad, err, where, "a box coordinate is missing (empty or nan) (image "
                                                 "%s, class %s); the row is dropped, as upstream does", img, cls);
                    free(where);
                    if (fatal) { free(path); free(raw); free(fused); free(raw_row); det_free(det); goto out; }
                    continue;
                }
                const char *why = NULL;
                for (int j = 0; j < 4; j++)
                    if (!isfinite(bx.v[j])) why = "a box coordinate is not finite";
                if (!why && (bx.v[2] < bx.v[0] || bx.v[3] < bx.v[1])) why = "the box is inverted (x_max < x_min or y_max < y_min)";
                if (why) { /* fused as is, it would give a nonsense box: report it like any bad row */
                    char *where = rv_xasprintf("%s:%zu", cpath, csv->line[r]);
                    int fatal = rv_badrec_report(c->bad, err, where, "%s (image %s, class %s); the row is skipped", why,
                                                 img, cls);
                    free(where);
                    if (fatal) { free(path); free(raw); free(fused); free(raw_row); det_free(det); goto out; }
                    continue;
                }
                raw_row[nb] = r;
                raw[nb++] = bx;
            }
            if (nb > 0 && !have_res) {
                size_t ri = rv_smap_get(&rmap, img);
                const cJSON *pair = ri != RV_MAP_NONE ? cJSON_GetObjectItemCaseSensitive(res, img) : NULL;
                if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 ||
                    !cJSON_IsNumber(cJSON_GetArrayItem(pair, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(pair, 1)) ||
                    cJSON_GetArrayItem(pair, 0)->valuedouble <= 0 || cJSON_GetArrayItem(pair, 1)->valuedouble <= 0) {
                    /* Upstream falls back to 1024x1024 silently (P6), which gives wrong boxes. */
                    char *where = rv_xasprintf("%s:%zu", cpath, csv->line[keys[g].row]);
                    int fatal = rv_badrec_report(c->bad, err, where,
                                                 "image %s has no valid [Rows, Columns] in image_resolutions_%s.json; "
                                                 "its boxes cannot be normalised (re-run instruct with its DICOM present)",
                                                 img, split);
                    free(where);
                    if (fatal) { free(path); free(raw); free(fused); free(raw_row); det_free(det); goto out; }
                    res_failed = true;
                    break;
                }
                rows = cJSON_GetArrayItem(pair, 0)->valuedouble;
                cols_px = cJSON_GetArrayItem(pair, 1)->valuedouble;
                have_res = true;
            }
            size_t nf = 0;
            if (nb > 0) {
                for (size_t k = 0; k < nb; k++) {
                    const rv_box px = raw[k];
                    raw[k].v[0] /= cols_px;
                    raw[k].v[1] /= rows;
                    raw[k].v[2] /= cols_px;
                    raw[k].v[3] /= rows;
                    if (report_box_fit(c, err, cpath, csv->line[raw_row[k]], img, cls, &px, &raw[k], cols_px, rows) != 0) {
                        free(path); free(raw); free(fused); free(raw_row); det_free(det);
                        goto out;
                    }
                }
                rv_wbf(raw, nb, 0.1, fused, &nf);
            }
            if (single_label && nb > 0) {
                /* Kept even when fusion left no box (P10); the builder drops and counts it. */
                rv_item *it = rv_dataset_push(d);
                it->image = rv_xstrdup(path);
                it->id = rv_xstrdup(img);
                it->text = rv_xstrdup(cls);
                /* Upstream keeps apply_wbf's numpy.float64 values here: numpy's round(v, 2). */
                for (size_t k = 0; k < nf; k++) {
                    fused[k].int_mask |= RV_BOX_NUMPY;
                    rv_item_add_box(it, fused[k]);
                }
            } else if (!single_label && nf > 0) {
                if (!det) det = rv_xcalloc(1, sizeof *det);
                for (size_t k = 0; k < nf; k++) {
                    rv_item_add_box(det, fused[k]);
                    rv_item_add_label(det, cls);
                }
                has_row = true;
            }
            g = gend;
        }
        if (!single_label && has_row && !res_failed) {
            rv_item *it = rv_dataset_push(d);
            if (det) *it = *det;
            it->image = rv_xstrdup(path);
            it->id = rv_xstrdup(img);
            it->has_labels_field = true;
            if (it->nboxes == 0) rv_item_add_label(it, "No finding");
            /* The fused table goes through a pandas DataFrame: iterrows() over several rows of an
             * image yields Python floats, but an image with exactly one row (one fused box, no
             * "No finding" row) comes back from .loc as a Series holding numpy.float64. */
            if (it->nboxes == 1 && !no_finding_row) it->boxes[0].int_mask |= RV_BOX_NUMPY;
            free(det);
        } else {
            det_free(det);
        }
        free(path);
        i = iend;
    }
    free(raw);
    free(fused);
    free(raw_row);
    rc = 0;
out:
    if (rc != 0) {
        rv_dataset_free(d);
        d = NULL;
    }
    *out = d;
    free(keys);
    if (rmap.keys) rv_smap_free(&rmap);
    cJSON_Delete(res);
    rv_csv_free(csv);
    free(root);
    free(adir);
    free(cname);
    free(cpath);
    free(jdir);
    return rc;
}
