/* VinDr-CXR: DICOM conversion (resolution file complete and rerun-safe, recipes, max == min)
 * and the detection / single-label readers (grouping, fusion, "No finding", P7 lookup). Box
 * values are hand calculations (see test_wbf.c for the float32 mean). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "data/instruct/boxtext.h"
#include "data/sources/readers.h"
#include "io/dicom.h"
#include "io/image.h"

static char *P(const char *root, const char *rel) { return rv_path_join(root, rel); }

static void put(const char *root, const char *rel, const char *text) {
    char *p = P(root, rel), *d = rv_path_dirname(p);
    rv_err e;
    CHECK(rv_mkdir_p(d, &e) == 0);
    CHECK(rv_write_atomic(p, text, strlen(text), &e) == 0);
    free(p);
    free(d);
}

/* A 16-bit DICOM: left half lo, right half hi (hi == lo gives a constant image). */
static void dicom(const char *root, const char *rel, int rows, int cols, int lo, int hi, bool mono1, bool window) {
    rv_image img = {0};
    rv_err e;
    CHECK(rv_image_alloc(&img, cols, rows, 16, &e) == 0);
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++) img.u16[y * cols + x] = (uint16_t)(x < cols / 2 ? lo : hi);
    rv_dicom_info info = {.rows = rows, .columns = cols, .bits_allocated = 16, .bits_stored = 12,
                          .monochrome1 = mono1, .has_window = window, .window_center = 500, .window_width = 1000,
                          .rescale_slope = 1.0};
    char *p = P(root, rel), *d = rv_path_dirname(p);
    CHECK(rv_mkdir_p(d, &e) == 0);
    CHECK(rv_dicom_write(p, &img, &info, &e) == 0);
    free(p);
    free(d);
    rv_image_free(&img);
}

static char *slurp(const char *root, const char *rel) {
    char *p = P(root, rel), *t = NULL;
    size_t n;
    rv_err e;
    if (rv_read_file(p, &t, &n, &e) != 0) t = NULL;
    free(p);
    return t;
}

static int px(const char *root, const char *rel, int x, int y) {
    char *p = P(root, rel);
    rv_image img = {0};
    rv_err e;
    int v = -1;
    if (rv_jpeg_read(p, &img, &e) == 0 && img.width == 512 && img.height == 512) v = img.u8[y * 512 + x];
    rv_image_free(&img);
    free(p);
    return v;
}

static bool box_eq(const rv_box *b, double x0, double y0, double x1, double y1) {
    return b->v[0] == x0 && b->v[1] == y0 && b->v[2] == x1 && b->v[3] == y1;
}

static void text_is(const rv_item *it, const char *want) {
    rv_sb b;
    rv_sb_init(&b);
    CHECK(rv_boxtext_list(&b, it->boxes, it->nboxes) == 0);
    CHECK_STR(b.s, want);
    rv_sb_free(&b);
}

/* Box-text rounding (issue K, data.md §0.2): upstream's values are numpy.float64 in the
 * single-label set and in detection images with exactly one fused row, Python floats in
 * detection images with several rows (pandas iterrows). The box [325, 405, 435, 500] of a
 * 1000x1000 image normalises to [0.325, 0.405, 0.435, 0.5], unchanged by the 3-decimal
 * rounding (325.0, 405.0, 435.0 after x1000), and shows as numpy "[0.32, 0.4, 0.44, 0.5]" or
 * Python "[0.33, 0.41, 0.43, 0.5]" (the ties of test_boxtext.c). */
static void rounding_per_source(const char *root) {
    put(root, "VinDr-CXR/image_resolutions_test.json", "{\"t1\": [1000, 1000], \"t2\": [1000, 1000], \"t3\": [1000, 1000]}");
    put(root, "VinDr-CXR/annotations/annotations_test.csv",
        "image_id,rad_ID,class_name,x_min,y_min,x_max,y_max\n"
        "t1,R1,Cardiomegaly,325,405,435,500\n"   /* one fused row: numpy */
        "t2,R1,No finding,,,,\n"
        "t2,R2,Cardiomegaly,325,405,435,500\n"   /* box row + "No finding" row: Python */
        "t3,R1,Cardiomegaly,325,405,435,500\n"
        "t3,R1,Nodule/Mass,100,100,200,200\n");  /* two box rows: Python */
    rv_err e = {{0}};
    rv_badrec bad;
    rv_badrec_init(&bad, rv_comm_world(), false);
    rv_reader_ctx c = {.data_dir = root, .bad = &bad, .vindr_convert = RV_VINDR_MINMAX, .comm = rv_comm_world()};
    rv_dataset *d = NULL;
    CHECK(rv_read_vindr(&c, "test", false, &d, &e) == 0);
    CHECK(d && d->n == 3);
    if (d && d->n == 3) {
        CHECK(d->items[0].nboxes == 1 && box_eq(&d->items[0].boxes[0], 0.325, 0.405, 0.435, 0.5));
        text_is(&d->items[0], "[0.32, 0.4, 0.44, 0.5]");
        text_is(&d->items[1], "[0.33, 0.41, 0.43, 0.5]");
        text_is(&d->items[2], "[0.33, 0.41, 0.43, 0.5] and [0.1, 0.1, 0.2, 0.2]");
    }
    rv_dataset_free(d);
    d = NULL;
    CHECK(rv_read_vindr(&c, "test", true, &d, &e) == 0);
    CHECK(d && d->n == 4);
    if (d && d->n == 4) { /* every single-label box is numpy */
        CHECK_STR(d->items[1].id, "t2");
        text_is(&d->items[0], "[0.32, 0.4, 0.44, 0.5]");
        text_is(&d->items[1], "[0.32, 0.4, 0.44, 0.5]");
        text_is(&d->items[2], "[0.32, 0.4, 0.44, 0.5]");
        CHECK_STR(d->items[3].text, "Nodule/Mass");
        text_is(&d->items[3], "[0.1, 0.1, 0.2, 0.2]");
    }
    rv_dataset_free(d);
    CHECK(bad.count == 0);
}


/* stderr of the calls between capture_begin and capture_end, read back (malloc'd). */
static int capture_begin(const char *path) {
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0) return -1;
    dup2(fd, 2);
    close(fd);
    return saved;
}

static char *capture_end(int saved, const char *path) {
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
    char *t = NULL;
    size_t n;
    rv_err e;
    if (rv_read_file(path, &t, &n, &e) != 0) t = NULL;
    fputs(t ? t : "", stderr); /* still shown in the test's output */
    return t;
}

/* Issue L item 11: the committed fixture tests/fixtures/hostile/vindr/ (see its README.md): boxes
 * beyond the image are kept clipped, as upstream's fusion keeps them, and noted with their line;
 * boxes that leave no area and rows with a missing coordinate are dropped, as upstream drops
 * them, and are bad records with their line. */
static void hostile_boxes(const char *root) {
    static const char *const files[] = {"annotations_train.csv", "image_resolutions_train.json"};
    for (int i = 0; i < 2; i++) {
        char *src = rv_xasprintf("%s/tests/fixtures/hostile/vindr/%s", RADVLM_SOURCE_DIR, files[i]), *txt = NULL,
             *rel = rv_xasprintf("hostile/VinDr-CXR/%s", files[i]);
        size_t n;
        rv_err e;
        CHECK(rv_read_file(src, &txt, &n, &e) == 0);
        if (txt) put(root, rel, txt);
        free(txt);
        free(src);
        free(rel);
    }
    char *data = P(root, "hostile"), *log = P(root, "hostile/stderr.txt");
    rv_err e = {{0}};
    rv_badrec bad;
    rv_badrec_init(&bad, rv_comm_world(), false);
    rv_reader_ctx c = {.data_dir = data, .bad = &bad, .vindr_convert = RV_VINDR_MINMAX, .comm = rv_comm_world()};
    rv_dataset *d = NULL;
    int saved = capture_begin(log);
    CHECK(rv_read_vindr(&c, "train", false, &d, &e) == 0);
    char *out = capture_end(saved, log);
    CHECK(bad.count == 3 && bad.noted == 2); /* lines 5, 6, 7 dropped; lines 3, 4 clipped */
    CHECK(out && strstr(out, "annotations_train.csv:3: record kept, repaired: box [150, 50, 250, 120] (image img1, "
                             "class Nodule/Mass) extends beyond the 200x100 image (Columns x Rows); clipped to it"));
    CHECK(out && strstr(out, "annotations_train.csv:4: record kept, repaired: box [-20, -10, 40, 30]"));
    CHECK(out && strstr(out, "annotations_train.csv:5: bad record skipped: box [210, 10, 260, 50] (image img1, class "
                             "Pleural effusion) leaves no area inside the 200x100 image"));
    CHECK(out && strstr(out, "annotations_train.csv:6: bad record skipped: box [30, 40, 30, 90] (image img1, class "
                             "ILD) has zero area in the 200x100 image"));
    CHECK(out && strstr(out, "annotations_train.csv:7: bad record skipped: a box coordinate is missing"));
    CHECK(out && !strstr(out, "annotations_train.csv:2:") && !strstr(out, "annotations_train.csv:8:"));
    free(out);
    CHECK(d && d->n == 2);
    if (d && d->n == 2) {
        rv_item *a = &d->items[0];
        /* hand calculation: x by 200 Columns, y by 100 Rows, clipped to [0, 1]; the two Nodule/Mass
         * boxes do not overlap (2 clusters, output in reverse creation order = CSV order) */
        CHECK(a->nboxes == 3 && a->nlabels == 3);
        if (a->nboxes == 3 && a->nlabels == 3) {
            CHECK(box_eq(&a->boxes[0], 0.25, 0.2, 0.75, 0.8));
            CHECK(box_eq(&a->boxes[1], 0.75, 0.5, 1, 1));
            CHECK(box_eq(&a->boxes[2], 0, 0, 0.2, 0.3));
            CHECK_STR(a->labels[0], "Cardiomegaly");
            CHECK_STR(a->labels[1], "Nodule/Mass");
            CHECK_STR(a->labels[2], "Nodule/Mass");
        }
        CHECK(d->items[1].nboxes == 0 && d->items[1].nlabels == 1);
    }
    rv_dataset_free(d);
    /* single label: groups with a box before fusion (Infiltration has none); ILD and Pleural
     * effusion keep no fused box (P10: the builder drops them) */
    d = NULL;
    CHECK(rv_read_vindr(&c, "train", true, &d, &e) == 0);
    CHECK(d && d->n == 4);
    if (d && d->n == 4) {
        CHECK_STR(d->items[1].text, "ILD");
        CHECK(d->items[1].nboxes == 0 && d->items[3].nboxes == 0 && d->items[2].nboxes == 2);
    }
    rv_dataset_free(d);
    /* data.max_file_bytes reaches the source tables: a 10-byte limit refuses the CSV, naming it */
    c.max_file_bytes = 10;
    d = NULL;
    CHECK(rv_read_vindr(&c, "train", false, &d, &e) == -1 && d == NULL);
    CHECK(strstr(e.msg, "annotations_train.csv") && strstr(e.msg, "more than the 10-byte limit") &&
          strstr(e.msg, "data.max_file_bytes"));
    c.max_file_bytes = 0; /* 0: the default */
    /* fail: the first bad record in reading order (ILD, line 6; classes are sorted) stops the read */
    rv_badrec_init(&bad, rv_comm_world(), true);
    d = NULL;
    CHECK(rv_read_vindr(&c, "train", false, &d, &e) == -1 && d == NULL);
    CHECK(strstr(e.msg, "annotations_train.csv:6") && strstr(e.msg, "zero area"));
    free(data);
    free(log);
}

/* data.max_image_pixels reaches the DICOM conversion: a 40 x 60 image (2400 pixels) converts under
 * a budget of 2400 and is a bad record naming its dimensions under 2399 (checked from the header,
 * before GDCM allocates). */
static void pixel_budget(const char *root) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/budget", root);
    dicom(dir, "VinDr-CXR/train/big.dicom", 40, 60, 100, 1100, false, false);
    put(dir, "VinDr-CXR/annotations/annotations_train.csv", "image_id,rad_id,class_name,x_min,y_min,x_max,y_max\n"
                                                            "big,R1,No finding,,,,\n");
    rv_err e = {{0}};
    rv_badrec bad;
    rv_badrec_init(&bad, rv_comm_world(), false);
    rv_reader_ctx c = {.data_dir = dir, .bad = &bad, .vindr_convert = RV_VINDR_MINMAX, .comm = rv_comm_world(),
                       .max_image_pixels = 2399};
    int saved = capture_begin("/tmp/rv_vindr_budget.log");
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    char *log = capture_end(saved, "/tmp/rv_vindr_budget.log");
    CHECK(bad.count == 1);
    CHECK(log && strstr(log, "big.dicom") && strstr(log, "2400") && strstr(log, "2399"));
    if (!(log && strstr(log, "2400"))) fprintf(stderr, "log: %s\n", log ? log : "(none)");
    free(log);
    CHECK(px(dir, "VinDr-CXR/train_jpg/big.jpg", 10, 10) < 0); /* not converted */
    rv_badrec_init(&bad, rv_comm_world(), false);
    c.max_image_pixels = 2400;
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    CHECK(bad.count == 0);
    CHECK(px(dir, "VinDr-CXR/train_jpg/big.jpg", 10, 10) >= 0);
}

int main(void) {
    char tmpl[] = "/tmp/rv_vindr_XXXXXX";
    char *root = mkdtemp(tmpl);
    CHECK(root != NULL);
    if (!root) return check_summary("test_reader_vindr");
    rv_err e = {{0}};
    rv_badrec bad;
    rv_badrec_init(&bad, rv_comm_world(), false);
    rv_reader_ctx c = {.data_dir = root, .bad = &bad, .vindr_convert = RV_VINDR_MINMAX, .comm = rv_comm_world()};

    dicom(root, "VinDr-CXR/train/aaa.dicom", 40, 60, 100, 1100, false, false);
    dicom(root, "VinDr-CXR/train/bbb.DICOM", 30, 20, 700, 700, false, false); /* max == min */
    dicom(root, "VinDr-CXR/train/ccc.dicom", 50, 50, 0, 1000, true, true);
    put(root, "VinDr-CXR/train/notes.txt", "not a dicom");
    /* P7: CSVs under annotations/. */
    put(root, "VinDr-CXR/annotations/annotations_train.csv",
        "image_id,rad_id,class_name,x_min,y_min,x_max,y_max\n"
        "aaa,R1,No finding,,,,\n"
        "aaa,R2,Cardiomegaly,6,4,30,20\n"
        "aaa,R3,Cardiomegaly,7.5,4,30,20\n"
        "aaa,R1,Aortic enlargement,30,0,36,4\n"
        "bbb,R1,No finding,,,,\n"
        "ccc,R1,ILD,0,0,0,10\n"
        "ddd,R1,Nodule/Mass,1,1,2,2\n"
        /* issue L: a non-finite and an inverted box are reported (they used to pass silently) */
        "eee,R1,Nodule/Mass,1,1,inf,2\n"
        "fff,R1,Nodule/Mass,5,1,2,2\n");

    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    const char *want_res = "{\"aaa\": [40, 60], \"bbb\": [30, 20], \"ccc\": [50, 50]}";
    char *res = slurp(root, "VinDr-CXR/image_resolutions_train.json");
    CHECK_STR(res, want_res);
    free(res);
    /* Min-max recipe: left half min -> 0, right half max -> 255; no inversion for MONOCHROME1. */
    int l = px(root, "VinDr-CXR/train_jpg/aaa.jpg", 60, 256), r = px(root, "VinDr-CXR/train_jpg/aaa.jpg", 450, 256);
    CHECK(l >= 0 && l <= 2 && r >= 253);
    int b0 = px(root, "VinDr-CXR/train_jpg/bbb.jpg", 10, 10), b1 = px(root, "VinDr-CXR/train_jpg/bbb.jpg", 400, 300);
    CHECK(b0 >= 0 && b0 <= 1 && b1 >= 0 && b1 <= 1); /* constant image -> all zeros */
    CHECK(px(root, "VinDr-CXR/train_jpg/ccc.jpg", 60, 256) <= 2 && px(root, "VinDr-CXR/train_jpg/ccc.jpg", 450, 256) >= 253);

    /* P6: a rerun with the JSON gone and the JPEGs present rebuilds the complete JSON. */
    char *rp = P(root, "VinDr-CXR/image_resolutions_train.json");
    unlink(rp);
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    res = slurp(root, "VinDr-CXR/image_resolutions_train.json");
    CHECK_STR(res, want_res);
    free(res);
    /* A missing JPEG is made again. */
    char *ap = P(root, "VinDr-CXR/train_jpg/aaa.jpg");
    unlink(ap);
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    CHECK(rv_is_file(ap));
    res = slurp(root, "VinDr-CXR/image_resolutions_train.json");
    CHECK_STR(res, want_res);
    free(res);

    /* VOI recipe: a different recipe converts again; window 500/1000 maps 0 -> 0 and 1000 -> 255,
     * then MONOCHROME1 is inverted: left bright, right dark. */
    c.vindr_convert = RV_VINDR_VOI;
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    CHECK(px(root, "VinDr-CXR/train_jpg/ccc.jpg", 60, 256) >= 253 && px(root, "VinDr-CXR/train_jpg/ccc.jpg", 450, 256) <= 2);
    /* MONOCHROME2 without window: min-max of the rescaled values, not inverted. */
    CHECK(px(root, "VinDr-CXR/train_jpg/aaa.jpg", 60, 256) <= 2);
    char *mk = slurp(root, "VinDr-CXR/train_jpg/.radvlm-recipe");
    CHECK_STR(mk, "voi");
    free(mk);

    /* data.pillow_resize: the JPEGs record the Pillow release whose resize made them (default 10,
     * upstream's pin); another release converts everything again, the same one reuses them. A
     * garbage aaa.jpg shows which: it stays when reused and is a decodable JPEG when converted. */
    mk = slurp(root, "VinDr-CXR/train_jpg/.radvlm-pillow");
    CHECK_STR(mk, "10");
    free(mk);
    put(root, "VinDr-CXR/train_jpg/aaa.jpg", "garbage");
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0); /* same recipe, same release: reused */
    CHECK(px(root, "VinDr-CXR/train_jpg/aaa.jpg", 60, 256) < 0);
    c.pillow_resize = RV_PILLOW_13;
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    CHECK(px(root, "VinDr-CXR/train_jpg/aaa.jpg", 60, 256) >= 0 && px(root, "VinDr-CXR/train_jpg/aaa.jpg", 60, 256) <= 2);
    mk = slurp(root, "VinDr-CXR/train_jpg/.radvlm-pillow");
    CHECK_STR(mk, "13");
    free(mk);
    /* JPEGs from before the key (a recipe marker, no release marker) were made in Pillow 13's
     * order: release 13 reuses them, the default 10 converts them again. */
    char *pm = P(root, "VinDr-CXR/train_jpg/.radvlm-pillow");
    unlink(pm);
    put(root, "VinDr-CXR/train_jpg/aaa.jpg", "garbage");
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    CHECK(px(root, "VinDr-CXR/train_jpg/aaa.jpg", 60, 256) < 0);
    unlink(pm);
    c.pillow_resize = RV_PILLOW_10;
    CHECK(rv_vindr_prepare(&c, "train", &e) == 0);
    CHECK(px(root, "VinDr-CXR/train_jpg/aaa.jpg", 60, 256) >= 0 && px(root, "VinDr-CXR/train_jpg/aaa.jpg", 60, 256) <= 2);
    mk = slurp(root, "VinDr-CXR/train_jpg/.radvlm-pillow");
    CHECK_STR(mk, "10");
    free(mk);
    free(pm);

    /* Detection reader. */
    rv_dataset *d = NULL;
    CHECK(rv_read_vindr(&c, "train", false, &d, &e) == 0);
    /* ccc: a zero-area box (dropped by the fusion, reported since issue L); ddd: no resolution;
     * eee: x_max inf; fff: x_max < x_min */
    CHECK(bad.count == 4);
    if (d) {
        CHECK(d->task == RV_TASK_DETECT);
        CHECK(d->n == 2); /* aaa, bbb; ccc has no box left and no "No finding" row */
        if (d->n == 2) {
            rv_item *a = &d->items[0], *b = &d->items[1];
            CHECK_STR(a->id, "aaa");
            char *ip = rv_path_join(root, "VinDr-CXR/train_jpg/aaa.jpg");
            CHECK_STR(a->image, ip);
            free(ip);
            CHECK(a->has_labels_field);
            CHECK(a->nboxes == 2 && a->nlabels == 2);
            if (a->nboxes == 2 && a->nlabels == 2) {
                CHECK_STR(a->labels[0], "Aortic enlargement");
                CHECK_STR(a->labels[1], "Cardiomegaly");
                CHECK(box_eq(&a->boxes[0], 0.5, 0, 0.6, 0.1));
                /* R3 then R2: f32(f32(0.125) + 0.1) / 2 = 0.1124999970 -> 0.112 */
                CHECK(box_eq(&a->boxes[1], 0.112, 0.1, 0.5, 0.5));
            }
            CHECK_STR(b->id, "bbb");
            CHECK(b->nboxes == 0 && b->nlabels == 1 && b->has_labels_field);
            if (b->nlabels == 1) CHECK_STR(b->labels[0], "No finding");
        }
        rv_dataset_free(d);
    }
    /* Single-label reader: (image, class) groups with a box before fusion. */
    d = NULL;
    CHECK(rv_read_vindr(&c, "train", true, &d, &e) == 0);
    if (d) {
        CHECK(d->task == RV_TASK_ABN_GROUND);
        CHECK(d->n == 3);
        if (d->n == 3) {
            CHECK_STR(d->items[0].text, "Aortic enlargement");
            CHECK_STR(d->items[1].text, "Cardiomegaly");
            CHECK(d->items[1].nboxes == 1 && box_eq(&d->items[1].boxes[0], 0.112, 0.1, 0.5, 0.5));
            CHECK_STR(d->items[2].text, "ILD");
            CHECK(d->items[2].nboxes == 0); /* P10: all boxes zero-area; the builder drops it */
            CHECK(!d->items[0].has_labels_field);
        }
        rv_dataset_free(d);
    }
    /* Only train and test exist. */
    d = NULL;
    CHECK(rv_read_vindr(&c, "valid", false, &d, &e) == -1 && d == NULL);
    CHECK(strstr(e.msg, "only 'train' and 'test'") != NULL);
    /* Missing annotations for test: error names the file. */
    CHECK(rv_read_vindr(&c, "test", false, &d, &e) == -1);
    CHECK(strstr(e.msg, "annotations_test.csv") != NULL);
    /* Fatal policy stops at the first bad record: ccc's zero-area box (line 7) since issue L, which
     * comes before ddd's record without a resolution (line 8). */
    rv_badrec_init(&bad, rv_comm_world(), true);
    CHECK(rv_read_vindr(&c, "train", false, &d, &e) == -1);
    CHECK(strstr(e.msg, "annotations_train.csv:7") != NULL && strstr(e.msg, "zero area") != NULL);
    /* ... and with ccc's box given an area, at the record without a resolution (line 8), as before */
    put(root, "VinDr-CXR/annotations/annotations_train.csv",
        "image_id,rad_id,class_name,x_min,y_min,x_max,y_max\n"
        "aaa,R1,No finding,,,,\n"
        "aaa,R2,Cardiomegaly,6,4,30,20\n"
        "aaa,R3,Cardiomegaly,7.5,4,30,20\n"
        "aaa,R1,Aortic enlargement,30,0,36,4\n"
        "bbb,R1,No finding,,,,\n"
        "ccc,R1,ILD,0,0,5,10\n"
        "ddd,R1,Nodule/Mass,1,1,2,2\n"
        "eee,R1,Nodule/Mass,1,1,inf,2\n"
        "fff,R1,Nodule/Mass,5,1,2,2\n");
    rv_badrec_init(&bad, rv_comm_world(), true);
    CHECK(rv_read_vindr(&c, "train", false, &d, &e) == -1);
    CHECK(strstr(e.msg, "annotations_train.csv:8") != NULL);

    rounding_per_source(root);
    hostile_boxes(root);
    pixel_budget(root);

    free(rp);
    free(ap);
    char *cmd = rv_xasprintf("rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    free(cmd);
    return check_summary("test_reader_vindr");
}
