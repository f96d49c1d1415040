/* Cost of pack.image_mode=anyres on the loader side (docs/formats.md "Anyres images"): per image,
 * the stored bytes of /images/original (JPEG file bytes or raw 8-bit pixels, by codec) against
 * the raw pixels, and the time to read + decode the original and to cut its tiles, against base mode (read /images/pixels + base tile), for the
 * tiny model's tiling (56 px, 3x3) and SigLIP-384's (6x6); plus the tile cost of one
 * CXR-sized image (3056x2544, 31 tiles at 384). One thread, best of `repeats`. Not a test.
 *
 *   cc -O2 -std=c11 -fopenmp -I src -I . $(pkg-config --cflags hdf5) tests/bench/bench_anyres.c build/libradvlm.a \
 *      $(pkg-config --libs openblas hdf5 libcjson libturbojpeg libpng) -lm -o /tmp/bench_anyres
 *   /tmp/bench_anyres BASE_SHARD_DIR ANYRES_SHARD_DIR [repeats]   (the same input packed twice) */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

#include "core/strbuf.h"
#include "data/loader/pixels.h"
#include "data/loader/shard_row.h"
#include "io/h5util.h"
#include "io/shard_read.h"
#include "io/shard_write.h"
#include "model/vlm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Stored (after filters) and logical bytes of a dataset summed over the shards of dir. */
static void storage(const char *dir, int nshards, const char *name, double *stored, double *logical) {
    *stored = *logical = 0;
    for (int s = 0; s < nshards; s++) {
        char *p = rv_shard_path(dir, s, nshards);
        hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t d = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
        if (d >= 0) {
            *stored += (double)H5Dget_storage_size(d);
            hid_t sp = H5Dget_space(d);
            *logical += (double)H5Sget_simple_extent_npoints(sp);
            H5Sclose(sp);
            H5Dclose(d);
        }
        if (f >= 0) H5Fclose(f);
        free(p);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s BASE_SHARD_DIR ANYRES_SHARD_DIR [repeats]\n", argv[0]);
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    rv_h5_quiet();
    rv_err e;
    rv_shardset *base = NULL, *any = NULL;
    if (rv_shardset_open(argv[1], NULL, &base, &e) || rv_shardset_open(argv[2], NULL, &any, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    if (!any->anyres || base->nimages != any->nimages) {
        fprintf(stderr, "need a base and an anyres pack of the same input\n");
        return 1;
    }
    const double ni = (double)any->nimages;
    double st, lg, stp, lgp;
    storage(argv[2], any->nshards, "/images/original", &st, &lg);
    storage(argv[1], base->nshards, "/images/pixels", &stp, &lgp);
    double px = 0, bytes[2] = {0, 0}, pix[2] = {0, 0}, cnt[2] = {0, 0};
    for (uint64_t r = 0; r < any->nimages; r++) {
        double p = (double)any->orig_size[2 * r] * (double)any->orig_size[2 * r + 1];
        int k = any->orig_codec[r] == RV_ORIGINAL_JPEG;
        px += p;
        pix[k] += p;
        cnt[k]++;
        bytes[k] += (double)(any->orig_off[r + 1] - any->orig_off[r]);
    }
    printf("images: %.0f (%.0f JPEG, %.0f raw), mean original %.0f pixels\n", ni, cnt[1], cnt[0], px / ni);
    printf("bytes/image: /images/original %.0f on disk (%.0f logical; JPEG originals %.0f bytes for %.0f pixels, raw "
           "%.0f), raw 8-bit pixels would be %.0f; /images/pixels %.0f (%dx%d)\n",
           st / ni, lg / ni, cnt[1] ? bytes[1] / cnt[1] : 0, cnt[1] ? pix[1] / cnt[1] : 0, cnt[0] ? bytes[0] / cnt[0] : 0,
           px / ni, stp / ni, base->height, base->width);

    rv_pixel_norm n = rv_pixel_norm_siglip();
    const char *presets[2] = {"tiny", "7b"};
    for (int k = 0; k < 2; k++) {
        rv_model_cfg c;
        rv_model_cfg_preset(presets[k], &c, &e);
        const int S = c.vision.image_size;
        /* best of reps: read (+ JPEG decode) only, then read + tiles, per image */
        double t_rd = 1e30, t_any = 1e30, t_base = 1e30;
        long tiles = 0;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            for (uint64_t i = 0; i < any->nimages; i++) {
                uint8_t *o;
                int h, w;
                if (rv_shardset_original(any, i, &o, &h, &w, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
                free(o);
            }
            double t1 = now();
            tiles = 0;
            for (uint64_t i = 0; i < any->nimages; i++) {
                uint8_t *o;
                int h, w;
                if (rv_shardset_original(any, i, &o, &h, &w, &e)) return 1;
                int bh, bw;
                rv_vlm_best_resolution(&c, h, w, &bh, &bw);
                int nt = 1 + (bh / S) * (bw / S);
                float *out = malloc((size_t)nt * 3 * S * S * sizeof *out);
                if (rv_pixels_base_tile(&n, o, h, w, S, out, &e) ||
                    rv_pixels_anyres_grid(&n, o, h, w, S, bh, bw, out + (size_t)3 * S * S, &e))
                    return fprintf(stderr, "%s\n", e.msg), 1;
                tiles += nt;
                free(out);
                free(o);
            }
            double t2 = now();
            uint8_t *p = malloc((size_t)base->height * base->width);
            float *out = malloc((size_t)3 * S * S * sizeof *out);
            for (uint64_t i = 0; i < base->nimages; i++)
                if (rv_shardset_image(base, i, p, &e) ||
                    rv_pixels_base_tile(&n, p, base->height, base->width, S, out, &e))
                    return fprintf(stderr, "%s\n", e.msg), 1;
            double t3 = now();
            free(p);
            free(out);
            if (t1 - t0 < t_rd) t_rd = t1 - t0;
            if (t2 - t1 < t_any) t_any = t2 - t1;
            if (t3 - t2 < t_base) t_base = t3 - t2;
        }
        printf("tile %d (%s): anyres %.2f ms/image (read+decode %.2f, tiles %.2f; %.1f tiles/image); base %.2f "
               "ms/image (read /images/pixels + base tile)\n",
               S, presets[k], 1e3 * t_any / ni, 1e3 * t_rd / ni, 1e3 * (t_any - t_rd) / ni, (double)tiles / ni,
               1e3 * t_base / ni);
    }
    /* a CXR-sized original: 3056 rows x 2544 columns -> canvas 2304x1920, 31 tiles of 384 */
    {
        rv_model_cfg c;
        rv_model_cfg_preset("7b", &c, &e);
        const int H = 3056, W = 2544, S = 384;
        uint8_t *img = malloc((size_t)H * W);
        for (size_t i = 0; i < (size_t)H * W; i++) img[i] = (uint8_t)((i * 2654435761u) >> 24);
        int bh, bw;
        rv_vlm_best_resolution(&c, H, W, &bh, &bw);
        int nt = 1 + (bh / S) * (bw / S);
        float *out = malloc((size_t)nt * 3 * S * S * sizeof *out);
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            if (rv_pixels_base_tile(&n, img, H, W, S, out, &e) ||
                rv_pixels_anyres_grid(&n, img, H, W, S, bh, bw, out + (size_t)3 * S * S, &e))
                return fprintf(stderr, "%s\n", e.msg), 1;
            if (now() - t0 < best) best = now() - t0;
        }
        printf("CXR %dx%d (HxW): canvas %dx%d, %d tiles of %d in %.1f ms (base + grid, one thread)\n", H, W, bh, bw, nt,
               S, 1e3 * best);
        /* its JPEG decode as the reader does it (TurboJPEG, grey, accurate DCT); a smooth image with
         * mild noise at quality 95 stands in for a CXR JPEG */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                img[(size_t)y * W + x] = (uint8_t)(60 + (x * 120) / W + (y * 50) / H + (((size_t)y * W + x) * 2654435761u >> 31));
        unsigned char *jpg = NULL;
        unsigned long jlen = 0;
        tjhandle tc = tjInitCompress(), td = tjInitDecompress();
        if (tjCompress2(tc, img, W, W, H, TJPF_GRAY, &jpg, &jlen, TJSAMP_GRAY, 95, 0) == 0) {
            double bj = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                tjDecompress2(td, jpg, jlen, img, W, W, H, TJPF_GRAY, TJFLAG_ACCURATEDCT);
                if (now() - t0 < bj) bj = now() - t0;
            }
            printf("CXR %dx%d JPEG (%lu bytes, quality 95): decode %.1f ms (raw pixels would be %d bytes)\n", H, W, jlen,
                   1e3 * bj, H * W);
        }
        tjFree(jpg);
        tjDestroy(tc);
        tjDestroy(td);
        free(out);
        free(img);
    }
    rv_shardset_close(base);
    rv_shardset_close(any);
    return 0;
}
