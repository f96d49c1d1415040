/* Anyres tiles (pack.image_mode=anyres -> data/loader): every tile the loader makes equals HF's
 * LlavaOnevisionImageProcessor as transcribed with Pillow in tests/fixtures/gen_anyres_fixtures.py
 * (several aspect ratios, tile 56 with 3x3 grids and tile 384 with 6x6), within one grey level
 * after de-normalising; a hand-worked pad-and-crop; a shard written and read back through
 * rv_loader_read_sample.
 *
 * Also an end-to-end helper for tests/e2e/test_pack.sh:
 *   test_anyres --shards DIR --dump OUT   reads every sample of a packed anyres set through
 *   rv_loader_read_sample with the tiny model's tiling (56 px, 3x3), checks each against the
 *   set (tile count, original size, placeholder run), and writes each image's de-normalised
 *   tiles to OUT/tiles_<row>.pgm ([n_tiles * 56, 56]) and OUT/manifest.txt for check_pack.py. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "check.h"
#include "data/loader/pixels.h"
#include "data/loader/shard_row.h"
#include "io/h5util.h"
#include "io/shard_read.h"
#include "io/shard_write.h"
#include "model/vlm.h"

/* A float tile value back to the grey level it came from: (x * std + mean) / rescale. */
static int denorm(const rv_pixel_norm *n, float x, int ch) {
    return (int)lround(((double)x * n->std[ch] + n->mean[ch]) / n->rescale);
}

/* A model cfg with tile S: the tiny preset (56 px, 3x3 grids) or the 7b one (384 px, 6x6). Ids
 * are set so any small token id is valid. */
static int cfg_for_tile(int S, int grid, rv_model_cfg *c) {
    rv_err e;
    if (rv_model_cfg_preset(S == 56 ? "tiny" : "7b", c, &e) != 0) return -1;
    if (c->vision.image_size != S || c->n_pinpoints != grid * grid) return -1;
    return 0;
}

/* Hand-worked: a 2x4 (HxW) image, S = 2, canvas 4x4. HF get_patch_output_size: scale_w = 4/4 = 1,
 * scale_h = 4/2 = 2, so the width limits: new size 2x4 (no resize); the paste offset is
 * ((4-2)//2, 0) = (1, 0): canvas rows 0 and 3 are black. Tiles 2x2 row-major:
 *   t0 = rows 0-1, cols 0-1 = [0 0; a b]   t1 = rows 0-1, cols 2-3 = [0 0; c d]
 *   t2 = rows 2-3, cols 0-1 = [e f; 0 0]   t3 = rows 2-3, cols 2-3 = [g h; 0 0]   */
static void test_pad_and_crop_by_hand(void) {
    rv_pixel_norm n = rv_pixel_norm_siglip();
    const uint8_t img[8] = {10, 20, 30, 40, 50, 60, 70, 80}; /* a b c d / e f g h */
    float out[4 * 3 * 4];
    rv_err e;
    CHECK(rv_pixels_anyres_grid(&n, img, 2, 4, 2, 4, 4, out, &e) == 0);
    const int want[4][4] = {{0, 0, 10, 20}, {0, 0, 30, 40}, {50, 60, 0, 0}, {70, 80, 0, 0}};
    int ok = 0;
    for (int t = 0; t < 4; t++)
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 4; i++) ok += denorm(&n, out[(t * 3 + ch) * 4 + i], ch) == want[t][i];
    CHECK(ok == 48);
    CHECK(out[0] == -1.0f); /* black padding normalizes to -1 (mean = std = 0.5) */
    /* the canvas must be whole tiles */
    CHECK(rv_pixels_anyres_grid(&n, img, 2, 4, 2, 4, 5, out, &e) != 0);
    CHECK(strstr(e.msg, "multiple of the tile") != NULL);
}

/* The model's counts for upstream's worked examples (train.md A.9): 384x384 -> 1x1 canvas, base +
 * 1 grid tile (HF gives 2 tiles for a 384x384 image), 1485 image tokens; a portrait CXR
 * 2544x3056 (WxH) -> canvas 1920x2304 (WxH), 31 tiles, 7241 tokens. */
static void test_counts_worked_examples(void) {
    rv_model_cfg c;
    CHECK(cfg_for_tile(384, 6, &c) == 0);
    int bh, bw;
    rv_vlm_best_resolution(&c, 384, 384, &bh, &bw);
    CHECK(bh == 384 && bw == 384);
    CHECK(rv_vlm_image_tiles(&c, 384, 384) == 2);
    CHECK(rv_vlm_image_tokens(&c, 2, 384, 384) == 1485);
    rv_vlm_best_resolution(&c, 3056, 2544, &bh, &bw);
    CHECK(bh == 2304 && bw == 1920);
    CHECK(rv_vlm_image_tiles(&c, 3056, 2544) == 31);
    CHECK(rv_vlm_image_tokens(&c, 31, 3056, 2544) == 7241);
}

/* A fixture PNG as 8-bit grey, read with libpng's simplified API (io/image.h's rv_vlm_image would
 * clash with the model's rv_vlm_image in this file). */
typedef struct grey {
    int width, height;
    uint8_t *u8;
} grey;

static int read_grey_png(const char *path, grey *img) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path)) {
        fprintf(stderr, "%s: %s\n", path, pi.message);
        return -1;
    }
    pi.format = PNG_FORMAT_GRAY;
    img->width = (int)pi.width;
    img->height = (int)pi.height;
    img->u8 = rv_xmalloc(PNG_IMAGE_SIZE(pi));
    if (!png_image_finish_read(&pi, NULL, img->u8, 0, NULL)) {
        fprintf(stderr, "%s: %s\n", path, pi.message);
        free(img->u8);
        img->u8 = NULL;
        return -1;
    }
    return 0;
}

static void grey_free(grey *g) {
    free(g->u8);
    g->u8 = NULL;
}

/* Every fixture case: the loader's tiles of the source equal the Pillow reference's. */
static void test_parity_with_hf_processor(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/anyres/manifest.txt", RADVLM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    rv_pixel_norm n = rv_pixel_norm_siglip();
    char line[256];
    int cases = 0, worst = 0;
    long exact = 0, total = 0;
    while (fgets(line, sizeof line, f)) {
        int H, W, S, grid, ch, cw, nt;
        if (line[0] == '#' || sscanf(line, "%d %d %d %d %d %d %d", &H, &W, &S, &grid, &ch, &cw, &nt) != 7) continue;
        cases++;
        rv_model_cfg c;
        CHECK(cfg_for_tile(S, grid, &c) == 0);
        int bh, bw;
        rv_vlm_best_resolution(&c, H, W, &bh, &bw);
        CHECK(bh == ch && bw == cw); /* the canvas HF's select_best_resolution chose */
        CHECK(rv_vlm_image_tiles(&c, H, W) == nt);
        grey src = {0}, want = {0};
        snprintf(path, sizeof path, "%s/tests/fixtures/anyres/src_%dx%d.png", RADVLM_SOURCE_DIR, H, W);
        int ok = read_grey_png(path, &src) == 0;
        snprintf(path, sizeof path, "%s/tests/fixtures/anyres/tiles_%dx%d_s%d.png", RADVLM_SOURCE_DIR, H, W, S);
        ok = ok && read_grey_png(path, &want) == 0;
        CHECK(ok);
        if (!ok) {
            grey_free(&src);
            continue;
        }
        CHECK(src.height == H && src.width == W && want.width == S && want.height == nt * S);
        const int32_t ids[4] = {7, RV_SHARD_IMAGE_TOKEN, 8, 9};
        rv_shard_row row = {.ids = ids, .len = 4, .orig = src.u8, .orig_h = H, .orig_w = W};
        rv_loader_sample ls;
        rv_err e;
        int rc = rv_loader_sample_from_row(&c, &n, &row, &ls, &e);
        CHECK(rc == 0);
        if (rc != 0) fprintf(stderr, "%dx%d s%d: %s\n", H, W, S, e.msg);
        if (rc == 0) {
            CHECK(ls.image.n_tiles == nt && ls.image.orig_h == H && ls.image.orig_w == W);
            CHECK(ls.len == 3 + rv_vlm_image_tokens(&c, nt, H, W)); /* the placeholder run agrees */
            int d_case = 0;
            if (ls.image.n_tiles == nt && want.height == nt * S)
                for (int t = 0; t < nt; t++)
                    for (int k = 0; k < 3; k++)
                        for (int i = 0; i < S * S; i++) {
                            int got = denorm(&n, ls.tiles[((size_t)t * 3 + k) * S * S + i], k);
                            int d = abs(got - want.u8[(size_t)t * S * S + i]);
                            if (d > d_case) d_case = d;
                            exact += d == 0;
                            total++;
                        }
            if (d_case > 1) fprintf(stderr, "%dx%d s%d: tiles differ from the HF reference by %d grey levels\n", H, W, S, d_case);
            CHECK(d_case <= 1);
            if (d_case > worst) worst = d_case;
            rv_loader_sample_free(&ls);
        }
        grey_free(&src);
        grey_free(&want);
    }
    fclose(f);
    CHECK(cases == 10);
    printf("anyres parity: %d cases, %ld tile values, %ld exact, max difference %d grey level(s)\n", cases, total,
           exact, worst);
}

/* An anyres shard written with rv_shard_add_original and read back through rv_loader_read_sample:
 * the 70x50 fixture at tile 56 gives the reference's 3 tiles. */
static void test_shard_round_trip(void) {
    rv_h5_quiet();
    rv_model_cfg c;
    CHECK(cfg_for_tile(56, 3, &c) == 0);
    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_err e;
    grey src = {0}, want = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/anyres/src_70x50.png", RADVLM_SOURCE_DIR);
    int ok = read_grey_png(path, &src) == 0;
    snprintf(path, sizeof path, "%s/tests/fixtures/anyres/tiles_70x50_s56.png", RADVLM_SOURCE_DIR);
    ok = ok && read_grey_png(path, &want) == 0;
    CHECK(ok);
    char tmpl[] = "/tmp/rv_anyres_XXXXXX";
    char *dir = ok ? mkdtemp(tmpl) : NULL;
    if (!dir) {
        grey_free(&src);
        grey_free(&want);
        return;
    }
    static const char *const tasks[] = {"report_generation"}, *const sources[] = {"mimic-cxr"},
                             *const splits[] = {"train"};
    rv_shard_meta m = {.rank = 0, .nshards = 1, .height = 56, .width = 56, .tokenizer_hash = "fnv1a64:00ff",
                       .config_json = "{}", .task_names = tasks, .ntasks = 1, .source_names = sources,
                       .nsources = 1, .split_names = splits, .nsplits = 1, .anyres = true};
    uint8_t base[56 * 56] = {0}; /* /images/pixels is not what anyres reads: any content */
    const int32_t tok[3] = {1, RV_SHARD_IMAGE_TOKEN, 4};
    rv_shard_writer *w;
    int64_t row = -1;
    int wrote = rv_shard_open(&w, dir, &m, &e) == 0 && rv_shard_add_image(w, base, "/d/a.png", &row, &e) == 0 &&
                rv_shard_add_original(w, RV_ORIGINAL_RAW, src.u8, 70 * 50, 70, 50, &e) == 0;
    /* a second original for the same image is refused */
    CHECK(wrote && rv_shard_add_original(w, RV_ORIGINAL_RAW, src.u8, 70 * 50, 70, 50, &e) != 0 &&
          strstr(e.msg, "right after its image"));
    rv_shard_sample s0 = {0, 0, 0, row, tok, NULL, 3, NULL, 0, "[]", "mimic-train_0", ""};
    uint8_t mask[3] = {0, 0, 1};
    s0.mask = mask;
    wrote = wrote && rv_shard_add_sample(w, &s0, &e) == 0 && rv_shard_commit(w, &e) == 0 &&
            rv_shard_write_index(dir, 1, &e) == 0;
    CHECK(wrote);
    if (!wrote) fprintf(stderr, "%s\n", e.msg);
    rv_shardset *set = NULL;
    if (wrote && rv_shardset_open(dir, NULL, &set, &e) == 0) {
        CHECK(set->anyres && set->orig_size[0] == 70 && set->orig_size[1] == 50);
        rv_loader_sample ls;
        CHECK(rv_loader_read_sample(set, 0, &c, &n, &ls, &e) == 0);
        CHECK(ls.image.n_tiles == 3 && ls.image.orig_h == 70 && ls.image.orig_w == 50);
        if (ls.image.n_tiles == 3 && want.height == 3 * 56) {
            int worst = 0;
            for (int i = 0; i < 3 * 56 * 56; i++) {
                int t = i / (56 * 56), p = i % (56 * 56);
                int d = abs(denorm(&n, ls.tiles[(size_t)t * 3 * 56 * 56 + p], 0) - want.u8[i]);
                if (d > worst) worst = d;
            }
            CHECK(worst <= 1);
        }
        CHECK(ls.len == 2 + rv_vlm_image_tokens(&c, 3, 70, 50));
        CHECK(rv_loader_sample_len(set, 0, &c) == ls.len && rv_loader_sample_len(set, 1, &c) == -1);
        rv_loader_sample_free(&ls);
        rv_shardset_close(set);
        rv_sb rep;
        rv_sb_init(&rep);
        CHECK(rv_shards_check(dir, &rep, &e) == 0);
        if (rep.len) fprintf(stderr, "%s", rep.s);
        rv_sb_free(&rep);
    } else {
        CHECK(!"anyres shard set written and opened");
        fprintf(stderr, "%s\n", e.msg);
    }
    char *cmd = rv_xasprintf("rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    free(cmd);
    grey_free(&src);
    grey_free(&want);
}

/* The tiny model (random weights) takes an anyres sample as the loader makes it: the 400x600
 * fixture at tile 56 (canvas 112x168, 7 tiles) goes through rv_vlm_forward with finite log-probs
 * on its targets; one placeholder row fewer is refused by the model's packing (the run length
 * is what it checks). */
static void test_model_takes_anyres_sample(void) {
    rv_model_cfg c;
    CHECK(cfg_for_tile(56, 3, &c) == 0);
    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_err e;
    grey src = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/anyres/src_400x600.png", RADVLM_SOURCE_DIR);
    if (read_grey_png(path, &src) != 0) {
        CHECK(!"fixture read");
        return;
    }
    const int32_t ids[5] = {7, RV_SHARD_IMAGE_TOKEN, 8, 9, 10};
    const uint8_t mask[5] = {0, 0, 1, 1, 1};
    rv_shard_row row = {.ids = ids, .mask = mask, .len = 5, .orig = src.u8, .orig_h = 400, .orig_w = 600};
    rv_loader_sample ls;
    CHECK(rv_loader_sample_from_row(&c, &n, &row, &ls, &e) == 0);
    rv_kctx *k = NULL;
    rv_weights w;
    rv_vlm m;
    CHECK(rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, &e) == 0);
    CHECK(rv_weights_build(&w, &c, k, &e) == 0);
    CHECK(rv_weights_init_random(&w, 5, 0.02f, &e) == 0);
    int ok = rv_vlm_init(&m, k, &c, &w, false, &e) == 0;
    CHECK(ok);
    if (ok && ls.image.n_tiles == 7) {
        rv_sample smp = rv_loader_sample_view(&ls);
        rv_vlm_pass *p = NULL;
        int rc = rv_vlm_forward(&m, &smp, 1, false, &p, &e);
        CHECK(rc == 0);
        if (rc) fprintf(stderr, "forward: %s\n", e.msg);
        if (rc == 0) {
            const float *lp = rv_vlm_pass_logp(p, 0);
            int finite = 0;
            for (int t = ls.len - 3; t < ls.len; t++) finite += isfinite(lp[t]) && lp[t] < 0;
            CHECK(finite == 3);
            rv_vlm_pass_free(&m, p);
        }
        smp.len = ls.len - 1; /* drop the last text token: the run now holds one row too many */
        int32_t *short_ids = malloc((size_t)ls.len * sizeof *short_ids);
        memcpy(short_ids, ls.ids, (size_t)ls.len * sizeof *short_ids);
        memmove(short_ids + 1, short_ids + 2, (size_t)(ls.len - 2) * sizeof *short_ids); /* one placeholder fewer */
        smp.ids = short_ids;
        p = NULL;
        CHECK(rv_vlm_forward(&m, &smp, 1, false, &p, &e) != 0);
        /* 4x4 base rows + the 8x12 grid map (112x168 canvas / 14; 600/400 = 12/8: nothing unpadded, no cap)
         * with a newline per row: 16 + 8 * 13 = 120 */
        CHECK(strstr(e.msg, "but the images need 120 rows") != NULL);
        if (p) rv_vlm_pass_free(&m, p);
        free(short_ids);
        rv_vlm_free(&m);
    }
    rv_weights_free(&w);
    rvk_destroy(k);
    rv_loader_sample_free(&ls);
    grey_free(&src);
}

/* ---- end-to-end helper (test_pack.sh) ---- */

static int dump_packed(const char *dir, const char *outdir) {
    rv_h5_quiet();
    rv_model_cfg c;
    rv_err e;
    if (cfg_for_tile(56, 3, &c) != 0) return 1;
    c.text.vocab = 1 << 24; /* the demo tokenizer's ids: the tiling is what is checked here */
    c.image_token_id = (1 << 24) - 1;
    const int S = c.vision.image_size;
    rv_pixel_norm n = rv_pixel_norm_siglip();
    rv_shardset *set = NULL;
    if (rv_shardset_open(dir, NULL, &set, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    CHECK(set->anyres);
    char *mpath = rv_xasprintf("%s/manifest.txt", outdir);
    FILE *man = fopen(mpath, "w");
    CHECK(man != NULL);
    uint8_t *done = rv_xcalloc(set->nimages ? set->nimages : 1, 1);
    uint64_t checked = 0;
    for (uint64_t i = 0; man && set->anyres && i < set->nsamples; i++) {
        rv_loader_sample ls;
        if (rv_loader_read_sample(set, i, &c, &n, &ls, &e) != 0) {
            CHECK(!"rv_loader_read_sample");
            fprintf(stderr, "%s\n", e.msg);
            continue;
        }
        int64_t r = set->image[i];
        int oh = (int)set->orig_size[2 * r], ow = (int)set->orig_size[2 * r + 1];
        int nt = rv_vlm_image_tiles(&c, oh, ow);
        CHECK(ls.image.n_tiles == nt && ls.image.orig_h == oh && ls.image.orig_w == ow);
        CHECK((size_t)ls.len == rv_shardset_ntokens(set, i) - 1 + (size_t)rv_vlm_image_tokens(&c, nt, oh, ow));
        CHECK(rv_loader_sample_len(set, i, &c) == ls.len);
        if (!done[r] && ls.image.n_tiles == nt) {
            done[r] = 1;
            char *p = rv_xasprintf("%s/tiles_%lld.pgm", outdir, (long long)r);
            FILE *g = fopen(p, "wb");
            CHECK(g != NULL);
            if (g) {
                fprintf(g, "P5\n%d %d\n255\n", S, nt * S);
                for (int t = 0; t < nt; t++)
                    for (int q = 0; q < S * S; q++) fputc(denorm(&n, ls.tiles[(size_t)t * 3 * S * S + q], 0), g);
                fclose(g);
            }
            fprintf(man, "%lld %d %d %d\n", (long long)r, oh, ow, nt);
            free(p);
        }
        checked++;
        rv_loader_sample_free(&ls);
    }
    if (man) fclose(man);
    printf("anyres e2e: %llu samples read through rv_loader_read_sample, %llu images\n", (unsigned long long)checked,
           (unsigned long long)set->nimages);
    CHECK(checked == set->nsamples && checked > 0);
    free(done);
    free(mpath);
    rv_shardset_close(set);
    return check_summary("test_anyres --shards");
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--shards") && !strcmp(argv[3], "--dump")) return dump_packed(argv[2], argv[4]);
    test_pad_and_crop_by_hand();
    test_counts_worked_examples();
    test_parity_with_hf_processor();
    test_shard_round_trip();
    test_model_takes_anyres_sample();
    return check_summary("test_anyres");
}
