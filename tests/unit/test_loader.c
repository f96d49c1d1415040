/* The loader step (src/data/loader/): pixel normalization against values worked out by hand
 * (and, for a per-channel mean/std, HF's arithmetic in numpy), the base tile, placeholder
 * expansion, one shard row -> rv_sample, and the same through a shard set written to disk. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/h5util.h"
#include "io/shard_read.h"
#include "io/shard_write.h"
#include "data/loader/pixels.h"
#include "data/loader/placeholders.h"
#include "data/loader/shard_row.h"
#include "model/vlm.h"

/* The micro model of test_model_grad: tile 28 px, patch 7 -> a 4x4 grid (16 patches). */
static void micro_cfg(rv_model_cfg *c) {
    rv_err e;
    rv_model_cfg_preset("tiny", c, &e);
    rv_vision_cfg *v = &c->vision;
    v->hidden = 16; v->layers = 3; v->heads = 2; v->intermediate = 24; v->patch = 7; v->image_size = 28;
    v->feature_layer = -2;
    rv_text_cfg *t = &c->text;
    t->hidden = 24; t->layers = 2; t->heads = 4; t->kv_heads = 2; t->head_dim = 8; t->intermediate = 40;
    t->vocab = 40;
    c->image_token_id = 39;
    c->anyres_max = 1;
    c->n_pinpoints = 3;
    int pp[3][2] = {{28, 28}, {28, 56}, {28, 84}};
    memcpy(c->pinpoints, pp, sizeof pp);
}

static float norm1(const rv_pixel_norm *n, uint8_t p, int channel) {
    float out[3];
    rv_pixels_normalize_tile(n, &p, 1, out);
    return out[channel];
}

static void test_normalize_siglip(void) {
    rv_pixel_norm n = rv_pixel_norm_siglip();
    /* y = (float32(p * (1/255)) - 0.5) / 0.5, worked out in float32:
     *   p = 0:   x = 0                                    -> y = -1
     *   p = 255: 255 * (1/255) rounds to 1 (double)       -> y = 1
     *   p = 128: 128/255 = 0.5 + 1/510; in [0.5, 1) float32 steps are 2^-24 and
     *            2^24/510 = 32896.502 -> x = 0.5 + 32897 * 2^-24 -> y = 32897 * 2^-23
     *   p = 1:   1/255 in [2^-8, 2^-7), steps 2^-32: 2^32/255 = 16843009.004 -> x = 16843009 * 2^-32;
     *            x - 0.5 = -(2^31 - 16843009) * 2^-32 = -2130640639 * 2^-32, in [0.25, 0.5) with
     *            steps 2^-25: 2130640639 / 2^7 = 16645629.99 -> -16645630 * 2^-25 -> y = -16645630 * 2^-24
     *   p = 254: 2^24 * 254/255 = 16711422.996 -> x = 16711423 * 2^-24; x - 0.5 = 8322815 * 2^-24
     *            (exact) -> y = 8322815 * 2^-23 */
    for (int c = 0; c < 3; c++) {
        CHECK(norm1(&n, 0, c) == -1.0f);
        CHECK(norm1(&n, 255, c) == 1.0f);
        CHECK(norm1(&n, 128, c) == 32897.0f / 8388608.0f);
        CHECK(norm1(&n, 1, c) == -16645630.0f / 16777216.0f);
        CHECK(norm1(&n, 254, c) == 8322815.0f / 8388608.0f);
    }
    /* not 2 * p / 255 - 1 computed in another order: for p = 128 that gives 0.0039215686 */
    CHECK(norm1(&n, 128, 0) != (float)(2.0 * 128 / 255 - 1));
}

static void test_normalize_per_channel(void) {
    /* OpenAI CLIP's mean/std (not this model's, model.md §3): each channel uses its own pair.
     * Expected: HF's rescale + normalize in numpy, x = (u8.astype(float64) * (1/255)).astype(float32),
     * (x - float32(mean)) / float32(std). */
    rv_pixel_norm n = {.rescale = 1.0 / 255.0,
                       .mean = {0.48145466f, 0.4578275f, 0.40821073f},
                       .std = {0.26862954f, 0.26130258f, 0.27577711f}};
    const float want[3][3] = {/* p = 0, 128, 255 */
                              {-0x1.cad1b8p+0f, 0x1.38ac4p-4f, 0x1.ee2a82p+0f},
                              {-0x1.c0897p+0f, 0x1.59e6d6p-3f, 0x1.0995cap+1f},
                              {-0x1.7aefbp+0f, 0x1.5c1b88p-2f, 0x1.12accp+1f}};
    const uint8_t ps[3] = {0, 128, 255};
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 3; k++) CHECK(norm1(&n, ps[k], c) == want[c][k]);
}

static int from_text(const char *json, rv_pixel_norm *n, rv_err *e) {
    return rv_pixel_norm_from_hf_text("pre.json", json, strlen(json), n, e);
}

static void test_norm_from_hf(void) {
    rv_pixel_norm n;
    rv_err e;
    /* llava-hf/llava-onevision-qwen2-0.5b-ov-hf preprocessor_config.json (the keys that matter) */
    const char *ov = "{\"do_convert_rgb\": true, \"do_normalize\": true, \"do_rescale\": true,"
                     " \"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5], \"resample\": 3,"
                     " \"rescale_factor\": 0.00392156862745098, \"size\": {\"height\": 384, \"width\": 384}}";
    CHECK(from_text(ov, &n, &e) == 0);
    rv_pixel_norm sig = rv_pixel_norm_siglip();
    CHECK(n.rescale == sig.rescale); /* Python's repr(1/255) reads back as 1/255 */
    for (int c = 0; c < 3; c++) CHECK(n.mean[c] == 0.5f && n.std[c] == 0.5f);
    CHECK(norm1(&n, 128, 2) == 32897.0f / 8388608.0f);

    /* nothing given: the processor class defaults (1/255, OpenAI CLIP mean/std) */
    CHECK(from_text("{}", &n, &e) == 0);
    CHECK(n.rescale == 1.0 / 255.0 && n.mean[0] == 0.48145466f && n.mean[2] == 0.40821073f);
    CHECK(n.std[1] == 0.26130258f);
    /* one number for all channels */
    CHECK(from_text("{\"image_mean\": 0.25, \"image_std\": 0.5}", &n, &e) == 0);
    CHECK(n.mean[0] == 0.25f && n.mean[1] == 0.25f && n.mean[2] == 0.25f && n.std[2] == 0.5f);
    /* do_normalize false: x = float32(128/255) = 0.5 + 32897 * 2^-24 = 8421505 * 2^-24 */
    CHECK(from_text("{\"do_normalize\": false, \"image_mean\": [9, 9, 9]}", &n, &e) == 0);
    CHECK(norm1(&n, 128, 0) == 8421505.0f / 16777216.0f);
    /* do_rescale false: (128 - 0.5) / 0.5 = 255 */
    CHECK(from_text("{\"do_rescale\": false, \"image_mean\": 0.5, \"image_std\": 0.5}", &n, &e) == 0);
    CHECK(norm1(&n, 128, 1) == 255.0f);

    /* errors name the file and the key */
    CHECK(from_text("{\"image_mean\": [0.5, 0.5]}", &n, &e) != 0);
    CHECK(strstr(e.msg, "pre.json: 'image_mean' must be a number or a list of 3 numbers") != NULL);
    CHECK(from_text("{\"image_std\": [0.5, 0, 0.5]}", &n, &e) != 0);
    CHECK(strstr(e.msg, "image_std[1] = 0 must be positive") != NULL);
    CHECK(from_text("{\"do_rescale\": 1}", &n, &e) != 0);
    CHECK(strstr(e.msg, "'do_rescale' must be true or false") != NULL);
    CHECK(from_text("[1]", &n, &e) != 0);
    CHECK(strstr(e.msg, "must be a JSON object") != NULL);
    CHECK(rv_pixel_norm_from_hf_file("/nonexistent/preprocessor_config.json", &n, &e) != 0);
    CHECK(strstr(e.msg, "/nonexistent/preprocessor_config.json") != NULL);
}

static void test_tile_layout(void) {
    /* [3, S, S], channel-major, pixel order kept: a 2x2 tile */
    rv_pixel_norm n = rv_pixel_norm_siglip();
    const uint8_t g[4] = {0, 255, 255, 0};
    float out[12];
    rv_pixels_normalize_tile(&n, g, 2, out);
    for (int c = 0; c < 3; c++) {
        CHECK(out[c * 4 + 0] == -1.0f);
        CHECK(out[c * 4 + 1] == 1.0f);
        CHECK(out[c * 4 + 2] == 1.0f);
        CHECK(out[c * 4 + 3] == -1.0f);
    }
}

static void test_base_tile(void) {
    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_err e;
    /* already S x S: used as is */
    uint8_t g[9] = {0, 1, 128, 254, 255, 0, 0, 0, 128};
    float out[27];
    CHECK(rv_pixels_base_tile(&n, g, 3, 3, 3, out, &e) == 0);
    for (int c = 0; c < 3; c++) {
        CHECK(out[c * 9 + 0] == -1.0f);
        CHECK(out[c * 9 + 2] == 32897.0f / 8388608.0f);
        CHECK(out[c * 9 + 4] == 1.0f);
        CHECK(out[c * 9 + 8] == 32897.0f / 8388608.0f);
    }
    /* another size: resized. A flat image stays flat under bicubic (the weights sum to 1), so a
     * 5x7 image of 128 gives a 4x4 tile of norm(128); a 7x5 image of 0 and 255 halves gives
     * values in [-1, 1] with both ends reached far from the edge between them. */
    uint8_t flat[35];
    memset(flat, 128, sizeof flat);
    float t4[48];
    CHECK(rv_pixels_base_tile(&n, flat, 5, 7, 4, t4, &e) == 0);
    int same = 0;
    for (int i = 0; i < 48; i++) same += t4[i] == 32897.0f / 8388608.0f;
    CHECK(same == 48);
    uint8_t halves[35]; /* 7 rows x 5 cols: rows 0..2 black, 3 grey mid edge, 4..6 white */
    for (int r = 0; r < 7; r++)
        for (int q = 0; q < 5; q++) halves[r * 5 + q] = r < 3 ? 0 : r == 3 ? 128 : 255;
    float t6[3 * 36];
    CHECK(rv_pixels_base_tile(&n, halves, 7, 5, 6, t6, &e) == 0);
    CHECK(t6[0] == -1.0f);         /* top-left, far in the black half */
    CHECK(t6[35] == 1.0f);         /* bottom-right, far in the white half */
    CHECK(t6[2 * 36 + 35] == 1.0f); /* the same in the blue plane */
    CHECK(rv_pixels_base_tile(&n, halves, 0, 5, 6, t6, &e) != 0);
    CHECK(strstr(e.msg, "must be positive") != NULL);
}

/* Placeholder expansion (was rv_vlm_expand_placeholders in model/vlm.c). */
static void test_expand(void) {
    rv_model_cfg c;
    micro_cfg(&c);
    const int IMG = c.image_token_id;
    rv_err e;
    /* single tile: 4x4 patches + 1 newline = 17 rows */
    rv_vlm_image one = {.tiles = NULL, .n_tiles = 1};
    /* 14x70 (HxW) -> best canvas 28x84 = 3 grid tiles (+1 base); map 4x12, unpad:
     * newH = int(14*12/70) = 2, pad 1 -> rows 1..2 (2x12); cap anyres_max_1: ratio
     * sqrt(24/16) = 1.22 > 1.1 -> bilinear 1x9; rows 16 + 1*10 = 26 */
    rv_vlm_image wide = {.tiles = NULL, .n_tiles = rv_vlm_image_tiles(&c, 14, 70), .orig_h = 14, .orig_w = 70};
    CHECK(wide.n_tiles == 4);

    int32_t ids[5] = {5, IMG, 7, 8, 9};
    uint8_t mask[5] = {0, 0, 1, 1, 0};
    int32_t *xi = NULL;
    uint8_t *xm = NULL;
    int len = 0;
    CHECK(rv_loader_expand_placeholders(&c, ids, mask, 5, &one, 1, &xi, &xm, &len, &e) == 0);
    CHECK(len == 1 + 17 + 3);
    if (len == 21) {
        CHECK(xi[0] == 5 && xm[0] == 0);
        int run = 0;
        for (int t = 1; t <= 17; t++) run += xi[t] == IMG && xm[t] == 0;
        CHECK(run == 17);
        CHECK(xi[18] == 7 && xm[18] == 1);
        CHECK(xi[19] == 8 && xm[19] == 1);
        CHECK(xi[20] == 9 && xm[20] == 0);
    }
    free(xi);
    free(xm);

    /* the anyres image of test_model_grad: 26 rows; mask NULL -> 1 on text, 0 on the run */
    CHECK(rv_loader_expand_placeholders(&c, ids, NULL, 5, &wide, 1, &xi, &xm, &len, &e) == 0);
    CHECK(len == 1 + 26 + 3);
    if (len == 30) {
        CHECK(xm[0] == 1 && xm[27] == 1 && xm[29] == 1);
        CHECK(xm[1] == 0 && xm[26] == 0);
        CHECK(xi[26] == IMG && xi[27] == 7);
    }
    free(xi);
    free(xm);

    /* two images, expanded in order: wide first (26), then one (17) */
    int32_t two[4] = {IMG, 3, IMG, 4};
    rv_vlm_image imgs[2] = {wide, one};
    CHECK(rv_loader_expand_placeholders(&c, two, NULL, 4, imgs, 2, &xi, &xm, &len, &e) == 0);
    CHECK(len == 26 + 1 + 17 + 1);
    if (len == 45) {
        CHECK(xi[25] == IMG && xi[26] == 3 && xi[27] == IMG && xi[43] == IMG && xi[44] == 4);
    }
    free(xi);
    free(xm);

    /* no image, no placeholder: a copy */
    int32_t text[3] = {1, 2, 3};
    CHECK(rv_loader_expand_placeholders(&c, text, NULL, 3, NULL, 0, &xi, &xm, &len, &e) == 0);
    CHECK(len == 3 && xi[0] == 1 && xi[2] == 3 && xm[1] == 1);
    free(xi);
    free(xm);

    /* errors: count mismatch; tiles inconsistent with the size */
    xi = NULL;
    CHECK(rv_loader_expand_placeholders(&c, text, NULL, 3, &one, 1, &xi, &xm, &len, &e) != 0);
    CHECK(strstr(e.msg, "0 <image> tokens") != NULL && xi == NULL);
    CHECK(rv_loader_expand_placeholders(&c, two, NULL, 4, &one, 1, &xi, &xm, &len, &e) != 0);
    CHECK(strstr(e.msg, "2 <image> tokens") != NULL);
    rv_vlm_image bad = {.n_tiles = 2, .orig_h = 14, .orig_w = 70}; /* needs 4 */
    CHECK(rv_loader_expand_placeholders(&c, ids, NULL, 5, &bad, 1, &xi, &xm, &len, &e) != 0);
    CHECK(strstr(e.msg, "inconsistent with its size 14x70") != NULL);
}

static void test_shard_row(void) {
    rv_model_cfg c;
    micro_cfg(&c);
    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_err e;
    enum { S = 28 };
    uint8_t px[S * S];
    for (int i = 0; i < S * S; i++) px[i] = (uint8_t)(i % 3 == 0 ? 0 : i % 3 == 1 ? 128 : 255);
    const int32_t ids[6] = {1, 2, RV_SHARD_IMAGE_TOKEN, 3, 4, 5};
    const uint8_t mask[6] = {0, 0, 0, 1, 1, 1};
    rv_shard_row row = {.ids = ids, .mask = mask, .len = 6, .pixels = px, .h = S, .w = S};
    rv_loader_sample ls;
    CHECK(rv_loader_sample_from_row(&c, &n, &row, &ls, &e) == 0);
    CHECK(ls.len == 5 + 17); /* the sentinel becomes the 17 rows of one base tile */
    CHECK(ls.image.n_tiles == 1 && ls.image.orig_h == S && ls.image.orig_w == S);
    if (ls.len == 22) {
        CHECK(ls.ids[0] == 1 && ls.ids[1] == 2 && ls.ids[19] == 3 && ls.ids[21] == 5);
        int run = 0;
        for (int t = 2; t < 19; t++) run += ls.ids[t] == c.image_token_id && ls.mask[t] == 0;
        CHECK(run == 17);
        CHECK(ls.mask[0] == 0 && ls.mask[19] == 1 && ls.mask[21] == 1);
    }
    /* tiles [1, 3, 28, 28]: pixel i of every plane is norm(px[i]) */
    int ok = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < S * S; i++) {
            float want = px[i] == 0 ? -1.0f : px[i] == 255 ? 1.0f : 32897.0f / 8388608.0f;
            ok += ls.image.tiles[ch * S * S + i] == want;
        }
    CHECK(ok == 3 * S * S);
    rv_sample s = rv_loader_sample_view(&ls);
    CHECK(s.ids == ls.ids && s.len == ls.len && s.mask == ls.mask && s.n_images == 1 && s.images == &ls.image);
    rv_loader_sample_free(&ls);
    CHECK(ls.ids == NULL && ls.tiles == NULL);

    /* a stored image of another size goes through the base-tile resize */
    uint8_t big[40 * 30];
    memset(big, 255, sizeof big);
    rv_shard_row row2 = {.ids = ids, .mask = NULL, .len = 6, .pixels = big, .h = 40, .w = 30};
    CHECK(rv_loader_sample_from_row(&c, &n, &row2, &ls, &e) == 0);
    CHECK(ls.len == 22 && ls.mask[0] == 1 && ls.mask[2] == 0 && ls.image.tiles[3 * S * S - 1] == 1.0f);
    CHECK(ls.image.orig_h == 40 && ls.image.orig_w == 30);
    rv_loader_sample_free(&ls);

    /* errors, each naming the problem */
    const int32_t clash[3] = {1, 39, RV_SHARD_IMAGE_TOKEN}; /* 39 is the model's image_token_id */
    rv_shard_row r3 = {.ids = clash, .len = 3, .pixels = px, .h = S, .w = S};
    CHECK(rv_loader_sample_from_row(&c, &n, &r3, &ls, &e) != 0);
    CHECK(strstr(e.msg, "token 1 is id 39, the model's image id but not an image placeholder") != NULL);
    CHECK(ls.ids == NULL && ls.tiles == NULL);
    const int32_t big_id[3] = {1, 40, RV_SHARD_IMAGE_TOKEN}; /* vocab 40: ids 0..39 */
    r3.ids = big_id;
    CHECK(rv_loader_sample_from_row(&c, &n, &r3, &ls, &e) != 0);
    CHECK(strstr(e.msg, "outside the model's vocabulary") != NULL);
    const int32_t none[3] = {1, 2, 3};
    r3.ids = none;
    CHECK(rv_loader_sample_from_row(&c, &n, &r3, &ls, &e) != 0);
    CHECK(strstr(e.msg, "0 <image> tokens") != NULL);
    const int32_t twice[3] = {RV_SHARD_IMAGE_TOKEN, 2, RV_SHARD_IMAGE_TOKEN};
    r3.ids = twice;
    CHECK(rv_loader_sample_from_row(&c, &n, &r3, &ls, &e) != 0);
    CHECK(strstr(e.msg, "2 <image> tokens") != NULL);
    r3.ids = ids;
    r3.len = 6;
    r3.pixels = NULL;
    CHECK(rv_loader_sample_from_row(&c, &n, &r3, &ls, &e) != 0);
    CHECK(strstr(e.msg, "no image") != NULL);
}

/* A one-shard set: image 0 is a 28x28 ramp, sample 0 = {1, <image>, 3, 4}, mask {0, 0, 1, 1}. */
static void test_read_sample(void) {
    rv_h5_quiet();
    rv_model_cfg c;
    micro_cfg(&c);
    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_err e;
    char tmpl[] = "/tmp/rv_loader_XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir) return;
    static const char *const tasks[] = {"report_generation"}, *const sources[] = {"mimic-cxr"},
                             *const splits[] = {"train"};
    rv_shard_meta m = {.rank = 0, .nshards = 1, .height = 28, .width = 28, .tokenizer_hash = "fnv1a64:00ff",
                       .config_json = "{}", .task_names = tasks, .ntasks = 1, .source_names = sources,
                       .nsources = 1, .split_names = splits, .nsplits = 1};
    uint8_t px[28 * 28];
    for (int i = 0; i < 28 * 28; i++) px[i] = (uint8_t)(i & 1 ? 255 : 0);
    const int32_t tok[4] = {1, RV_SHARD_IMAGE_TOKEN, 3, 4};
    const uint8_t msk[4] = {0, 0, 1, 1};
    rv_shard_writer *w;
    int64_t row = -1;
    int wrote = rv_shard_open(&w, dir, &m, &e) == 0 && rv_shard_add_image(w, px, "/d/a.jpg", &row, &e) == 0;
    rv_shard_sample s0 = {0, 0, 0, row, tok, msk, 4, NULL, 0, "[]", "mimic-train_0", ""};
    wrote = wrote && rv_shard_add_sample(w, &s0, &e) == 0 && rv_shard_commit(w, &e) == 0 &&
            rv_shard_write_index(dir, 1, &e) == 0;
    CHECK(wrote);
    rv_shardset *set = NULL;
    if (wrote && rv_shardset_open(dir, NULL, &set, &e) == 0) {
        rv_loader_sample ls;
        CHECK(rv_loader_read_sample(set, 0, &c, &n, &ls, &e) == 0);
        CHECK(ls.len == 3 + 17 && ls.image.n_tiles == 1);
        CHECK(rv_loader_sample_len(set, 0, &c) == 20); /* 4 ids, the placeholder -> 17 rows */
        if (ls.len == 20) {
            CHECK(ls.ids[0] == 1 && ls.ids[1] == c.image_token_id && ls.ids[17] == c.image_token_id);
            CHECK(ls.ids[18] == 3 && ls.ids[19] == 4);
            CHECK(ls.mask[0] == 0 && ls.mask[17] == 0 && ls.mask[18] == 1 && ls.mask[19] == 1);
            /* pixel 0 is black, pixel 1 white, in each of the three planes */
            CHECK(ls.image.tiles[0] == -1.0f && ls.image.tiles[1] == 1.0f);
            CHECK(ls.image.tiles[2 * 784] == -1.0f && ls.image.tiles[2 * 784 + 783] == 1.0f);
        }
        rv_loader_sample_free(&ls);
        CHECK(rv_loader_read_sample(set, 1, &c, &n, &ls, &e) != 0);
        CHECK(strstr(e.msg, "sample 1 out of range (1 samples)") != NULL);
        rv_model_cfg small = c;
        small.text.vocab = 4; /* id 4 is now outside the vocabulary: the message names file and sample */
        small.image_token_id = 2;
        CHECK(rv_loader_read_sample(set, 0, &small, &n, &ls, &e) != 0);
        CHECK(strstr(e.msg, "index.h5: sample 0: shard row: token 3 is id 4") != NULL);
        rv_shardset_close(set);
    } else {
        CHECK(!"shard set written and opened");
        fprintf(stderr, "%s\n", e.msg);
    }
    char *cmd = rv_xasprintf("rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(cmd);
}

int main(void) {
    test_normalize_siglip();
    test_normalize_per_channel();
    test_norm_from_hf();
    test_tile_layout();
    test_base_tile();
    test_expand();
    test_shard_row();
    test_read_sample();
    return check_summary("test_loader");
}
