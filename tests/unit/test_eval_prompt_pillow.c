/* The eval phase's JSON path resizes an item's image as pack does, in the pass order of
 * data.pillow_resize (rv_eval_prompt_ctx.pillow; 0 = RV_PILLOW_DEFAULT, Pillow 10.3.0): on a tall
 * image, where Pillow 10 and 13 order the passes differently, the base tile equals the
 * normalised rv_image_resize_as result of the chosen release, and the two releases' tiles differ. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "data/loader/pixels.h"
#include "eval/run/prompt.h"
#include "io/image.h"
#include "io/resize.h"

#define FIX RADVLM_SOURCE_DIR "/tests/fixtures/tokenizer/"

/* The tile the JSON path should make: the image resized to S x S by `pillow`, normalised. */
static float *want_tile(const rv_image *img, int S, rv_pillow pillow, const rv_pixel_norm *n) {
    rv_image small;
    rv_err err;
    if (rv_image_resize_as(img, S, S, RV_RESAMPLE_BICUBIC, pillow, &small, &err) != 0) return NULL;
    float *t = rv_xmalloc(sizeof(float) * 3 * (size_t)S * S);
    rv_pixels_normalize_tile(n, small.u8, S, t);
    rv_image_free(&small);
    return t;
}

int main(void) {
    rv_err err;
    rv_tokenizer *t = NULL;
    CHECK(rv_tokenizer_load(FIX "hf_trained.json", &t, &err) == 0);
    rv_model_cfg c;
    CHECK(rv_model_cfg_preset("tiny", &c, &err) == 0);
    if (!t) return check_summary("test_eval_prompt_pillow");
    c.text.vocab = (int)rv_tokenizer_n_ids(t);
    c.image_token_id = 3;
    const int S = c.vision.image_size; /* 56 */
    /* 40 wide, 130 tall -> 56 x 56: the height shrinks by 74 > 2 * (40 - 56), so Pillow 13 runs
     * the vertical pass first; a hard-edged checkerboard over a gradient makes the rounding show. */
    rv_image img;
    CHECK(rv_image_alloc(&img, 40, 130, 8, &err) == 0);
    for (int y = 0; y < 130; y++)
        for (int x = 0; x < 40; x++)
            img.u8[y * 40 + x] = (uint8_t)(x >= 6 && x < 34 && y >= 10 && y < 120 ? ((x / 2 + y / 3) % 2 ? 255 : 0)
                                                                                 : y * 255 / 129);
    char dir[] = "/tmp/rv_eval_pillow_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *png = rv_path_join(dir, "tall.png");
    CHECK(rv_png_write(png, &img, &err) == 0);

    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_eval_msg msg = {"human", "<image>\nDescribe."};
    rv_eval_item it = {.id = "report_generation_0", .img_path = png, .shard_sample = -1, .msgs = &msg, .nmsgs = 1};
    const size_t tl = (size_t)3 * S * S;
    float *got[3] = {NULL, NULL, NULL};
    const rv_pillow asked[3] = {(rv_pillow)0, RV_PILLOW_10, RV_PILLOW_13};
    for (int k = 0; k < 3; k++) {
        rv_eval_prompt_ctx pc = {.tok = t, .cfg = &c, .norm = &n, .set = NULL, .anyres = false, .pillow = asked[k]};
        rv_loader_sample s;
        int rc = rv_eval_prompt_make(&pc, &it, NULL, &s, &err);
        CHECK(rc == 0);
        if (rc) {
            fprintf(stderr, "%s\n", err.msg);
            continue;
        }
        CHECK(s.image.n_tiles == 1);
        got[k] = rv_xmalloc(tl * sizeof(float));
        memcpy(got[k], s.tiles, tl * sizeof(float));
        rv_loader_sample_free(&s);
    }
    float *w10 = want_tile(&img, S, RV_PILLOW_10, &n), *w13 = want_tile(&img, S, RV_PILLOW_13, &n);
    CHECK(w10 && w13);
    if (w10 && w13 && got[0] && got[1] && got[2]) {
        CHECK(memcmp(w10, w13, tl * sizeof(float)) != 0); /* the case tells the releases apart */
        CHECK(memcmp(got[0], w10, tl * sizeof(float)) == 0); /* 0: the default, Pillow 10.3.0 */
        CHECK(memcmp(got[1], w10, tl * sizeof(float)) == 0);
        CHECK(memcmp(got[2], w13, tl * sizeof(float)) == 0);
    }
    for (int k = 0; k < 3; k++) free(got[k]);
    free(w10);
    free(w13);
    unlink(png);
    rmdir(dir);
    free(png);
    rv_image_free(&img);
    rv_tokenizer_free(t);
    return check_summary("test_eval_prompt_pillow");
}
