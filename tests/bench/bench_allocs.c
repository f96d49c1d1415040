/* Counts backend allocations (rvk_alloc + rvk_alloc_i32) per SFT micro-step and per generated
 * token, by wrapping rvk_alloc, rvk_alloc_i32 and rvk_buf_alloc at link time. Shapes are bench_model's tiny ones (one
 * 56 px image = base + 1 grid tile, 136-token sample with 64 targets; 52-token prompt), at the
 * tiny width, with the tiny depth and with the 7B depth (SigLIP 26 layers, Qwen2 28 layers, untied
 * head). The first step/call is a warm-up (it may size the activation plan); the figure is the
 * steady state (docs/performance.md). Not a test. Build against a built libradvlm.a:
 *
 *   cc -O2 -std=c11 -fopenmp -I src -I . $(pkg-config --cflags openblas) tests/bench/bench_allocs.c \
 *      build/libradvlm.a $(pkg-config --libs openblas hdf5 libcjson libturbojpeg libpng) -lm \
 *      -Wl,--wrap=rvk_alloc -Wl,--wrap=rvk_alloc_i32 -Wl,--wrap=rvk_buf_alloc -o /tmp/bench_allocs && /tmp/bench_allocs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/generate.h"
#include "model/vlm.h"

#include "../unit/alloc_count.h"

static uint32_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static int run(const char *label, int vis_layers, int text_layers) {
    rv_err e;
    rv_model_cfg c;
    if (rv_model_cfg_preset("tiny", &c, &e)) return -1;
    if (vis_layers) c.vision.layers = vis_layers;
    if (text_layers) {
        c.text.layers = text_layers;
        c.text.tie_embeddings = false;
    }
    const int V = c.text.vocab, S = c.vision.image_size, img = 56;
    const int n_tiles = rv_vlm_image_tiles(&c, img, img), n_img = rv_vlm_image_tokens(&c, n_tiles, img, img);
    const int pre = 8, post = 92, tail = 8, L = pre + n_img + post, Lp = pre + n_img + tail;
    uint64_t st = 12345;
    int32_t *ids = malloc((size_t)L * sizeof *ids);
    uint8_t *mask = calloc((size_t)L, 1);
    for (int t = 0; t < L; t++) {
        ids[t] = (t >= pre && t < pre + n_img) ? c.image_token_id : 4 + (int32_t)(lcg(&st) % (uint32_t)(V - 4));
        mask[t] = t >= L - 64;
    }
    size_t npix = (size_t)n_tiles * 3 * S * S;
    float *pix = malloc(npix * sizeof *pix);
    for (size_t i = 0; i < npix; i++) pix[i] = (float)(lcg(&st) % 20000) / 10000.0f - 1.0f;
    rv_vlm_image im = {.tiles = pix, .n_tiles = n_tiles, .orig_h = img, .orig_w = img};
    rv_sample smp = {.ids = ids, .len = L, .mask = mask, .images = &im, .n_images = 1};
    rv_sample prm = {.ids = ids, .len = Lp, .images = &im, .n_images = 1};
    rv_weights w;
    rv_kctx *k = NULL;
    rv_vlm m;
    if (rvk_create(&k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, &e) || rv_weights_build(&w, &c, k, &e) ||
        rv_weights_init_random(&w, 7, 0.02f, &e))
        goto fail;
    if (rv_vlm_init(&m, k, &c, &w, true, &e)) goto fail;
    double loss;
    long a0, a1;
    if (rv_vlm_sft_step(&m, &smp, 1, &loss, &e)) goto fail; /* warm-up */
    a0 = n_alloc;
    if (rv_vlm_sft_step(&m, &smp, 1, &loss, &e)) goto fail;
    a1 = n_alloc;
    printf("%-10s text layers %2d, vision layers %2d: %ld rvk_alloc per SFT micro-step", label, c.text.layers,
           c.vision.layers, a1 - a0);
    long g[2];
    int ns[2] = {1, 33};
    for (int q = 0; q < 2; q++) {
        rv_gen_opts o = {.max_new_tokens = ns[q], .temperature = 0, .top_p = 1};
        rv_gen_out out;
        if (rv_vlm_generate(&m, &prm, 1, &o, &out, &e)) goto fail; /* warm-up */
        rv_gen_out_free(&out, 1);
        a0 = n_alloc;
        if (rv_vlm_generate(&m, &prm, 1, &o, &out, &e)) goto fail;
        g[q] = n_alloc - a0;
        rv_gen_out_free(&out, 1);
    }
    printf(", %ld per generate call (1 token), %.2f per further generated token\n", g[0],
           (double)(g[1] - g[0]) / (ns[1] - ns[0]));
    rv_vlm_free(&m);
    rv_weights_free(&w);
    rvk_destroy(k);
    free(ids), free(mask), free(pix);
    return 0;
fail:
    fprintf(stderr, "%s\n", e.msg);
    return -1;
}

int main(void) {
    if (run("tiny", 0, 0) || run("7B depth", 26, 28)) return 1;
    return 0;
}
