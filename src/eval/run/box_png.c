/* Drawing the grounding figure (box_png.h). */
#include "eval/run/box_png.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "eval/metrics/grounding.h"
#include "io/resize.h"

static const uint8_t GREEN[3] = {144, 238, 144}, RED[3] = {255, 0, 0};
enum { BACKGROUND = 32, THICK = 2 };

void rv_eval_box_png_pick(size_t n, size_t *first, size_t *count) {
    *count = n < RV_EVAL_BOX_PNG_MAX ? n : RV_EVAL_BOX_PNG_MAX;
    *first = n - *count;
}

typedef struct canvas {
    uint8_t *rgb;  /* [H, W, 3] */
    int W, H;
} canvas;

static void put(canvas *c, int x, int y, const uint8_t col[3]) {
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->W + (size_t)x) * 3;
    p[0] = col[0]; p[1] = col[1]; p[2] = col[2];
}

/* A THICK-pixel rectangle outline of box b (fractions of a dw x dh image placed at ox, oy),
 * inside the box and clipped to the image. */
static void draw_box(canvas *c, const rv_eval_box *b, int ox, int oy, int dw, int dh, const uint8_t col[3]) {
    double x1 = fmin(b->x1, b->x2), x2 = fmax(b->x1, b->x2), y1 = fmin(b->y1, b->y2), y2 = fmax(b->y1, b->y2);
    if (!(x2 >= 0 && y2 >= 0 && x1 <= 1 && y1 <= 1)) return; /* outside the image (or NaN) */
    int X1 = (int)lround(x1 * dw), X2 = (int)lround(x2 * dw) - 1, Y1 = (int)lround(y1 * dh), Y2 = (int)lround(y2 * dh) - 1;
    if (X1 < 0) X1 = 0;
    if (Y1 < 0) Y1 = 0;
    if (X2 > dw - 1) X2 = dw - 1;
    if (Y2 > dh - 1) Y2 = dh - 1;
    if (X2 < X1) X2 = X1;
    if (Y2 < Y1) Y2 = Y1;
    for (int t = 0; t < THICK; t++) {
        for (int x = X1; x <= X2; x++) {
            if (Y1 + t <= Y2) put(c, ox + x, oy + Y1 + t, col);
            if (Y2 - t >= Y1) put(c, ox + x, oy + Y2 - t, col);
        }
        for (int y = Y1; y <= Y2; y++) {
            if (X1 + t <= X2) put(c, ox + X1 + t, oy + y, col);
            if (X2 - t >= X1) put(c, ox + X2 - t, oy + y, col);
        }
    }
}

/* img scaled to fit cell x cell (aspect kept) at the cell's origin cx, cy; *ox, *oy, *dw, *dh
 * receive where it went. 16-bit images keep their top 8 bits. */
static int draw_image(canvas *c, const rv_image *img, int cx, int cy, int cell, int *ox, int *oy, int *dw, int *dh,
                      rv_err *err) {
    rv_image g8 = {0}, scaled = {0};
    const rv_image *src = img;
    if (img->bits == 16) {
        if (rv_image_alloc(&g8, img->width, img->height, 8, err)) return -1;
        for (size_t k = 0; k < (size_t)img->width * (size_t)img->height; k++) g8.u8[k] = (uint8_t)(img->u16[k] >> 8);
        src = &g8;
    }
    double s = fmin((double)cell / src->width, (double)cell / src->height);
    int w = (int)lround(src->width * s), h = (int)lround(src->height * s);
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    if (w > cell) w = cell;
    if (h > cell) h = cell;
    int rc = rv_image_resize(src, w, h, RV_RESAMPLE_BICUBIC, &scaled, err);
    if (rc == 0) {
        *ox = cx + (cell - w) / 2;
        *oy = cy + (cell - h) / 2;
        *dw = w;
        *dh = h;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t v = scaled.u8[(size_t)y * w + x];
                const uint8_t grey[3] = {v, v, v};
                put(c, *ox + x, *oy + y, grey);
            }
    }
    rv_image_free(&g8);
    rv_image_free(&scaled);
    return rc;
}

int rv_eval_box_grid_render(const rv_eval_item *items, const rv_eval_answer *answers, size_t n, int cell,
                            rv_eval_image_fn get_image, void *ctx, uint8_t **rgb, int *width, int *height,
                            rv_err *err) {
    *rgb = NULL;
    if (n == 0 || cell < 8 || cell > 4096) return rv_fail(err, "box figure: needs samples and a cell size in 8..4096 (got %zu, %d)", n, cell);
    size_t first, k;
    rv_eval_box_png_pick(n, &first, &k);
    int cols = (int)ceil(sqrt((double)k)), rows = (int)((k + (size_t)cols - 1) / (size_t)cols);
    canvas c = {.W = RV_EVAL_BOX_PNG_GAP + cols * (cell + RV_EVAL_BOX_PNG_GAP),
                .H = RV_EVAL_BOX_PNG_GAP + rows * (cell + RV_EVAL_BOX_PNG_GAP)};
    c.rgb = rv_xmalloc((size_t)c.W * (size_t)c.H * 3);
    memset(c.rgb, BACKGROUND, (size_t)c.W * (size_t)c.H * 3);
    for (size_t j = 0; j < k; j++) {
        size_t i = first + j;
        int cx = RV_EVAL_BOX_PNG_GAP + (int)(j % (size_t)cols) * (cell + RV_EVAL_BOX_PNG_GAP);
        int cy = RV_EVAL_BOX_PNG_GAP + (int)(j / (size_t)cols) * (cell + RV_EVAL_BOX_PNG_GAP);
        rv_image img = {0};
        rv_err ierr = {0};
        int ox, oy, dw, dh;
        if (get_image(ctx, i, &img, &ierr) != 0 || (img.bits == 8 ? !img.u8 : img.bits == 16 ? !img.u16 : 1) ||
            img.width < 1 || img.height < 1 || draw_image(&c, &img, cx, cy, cell, &ox, &oy, &dw, &dh, &ierr) != 0) {
            rv_warn("box figure: sample %zu (%s): no image drawn: %s", i, items[i].id ? items[i].id : "?",
                    ierr.msg[0] ? ierr.msg : "the image is empty");
            rv_image_free(&img);
            continue;
        }
        rv_image_free(&img);
        for (size_t b = 0; b < items[i].nboxes; b++) draw_box(&c, &items[i].boxes[b], ox, oy, dw, dh, GREEN);
        const char *o = answers[i].output ? answers[i].output : "";
        rv_eval_box *pred = NULL;
        size_t bad = 0, np = rv_boxes_parse(o, strlen(o), &pred, &bad);
        for (size_t b = 0; b < np; b++) draw_box(&c, &pred[b], ox, oy, dw, dh, RED);
        free(pred);
    }
    *rgb = c.rgb;
    *width = c.W;
    *height = c.H;
    return 0;
}

int rv_eval_box_png_write(const char *path, const rv_eval_item *items, const rv_eval_answer *answers, size_t n,
                          int cell, rv_eval_image_fn get_image, void *ctx, rv_err *err) {
    uint8_t *rgb;
    int w, h;
    if (rv_eval_box_grid_render(items, answers, n, cell, get_image, ctx, &rgb, &w, &h, err) != 0)
        return rv_fail_wrap(err, "%s", path);
    int rc = rv_png_write_rgb(path, rgb, w, h, err);
    free(rgb);
    return rc;
}
