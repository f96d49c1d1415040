/* rv_image_resize against Pillow's Image.resize: fixtures written by
 * tests/fixtures/gen_resize_fixtures.py (sources 37x29, several up/down/mixed sizes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/image.h"
#include "io/resize.h"

/* Binary PGM (P5, maxval 255) as Pillow writes it: "P5\n<w> <h>\n255\n" then pixels. */
static int read_pgm(const char *path, rv_image *img) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int w = 0, h = 0, maxv = 0;
    int rc = -1;
    if (fscanf(f, "P5 %d %d %d", &w, &h, &maxv) == 3 && maxv == 255 && fgetc(f) != EOF) {
        rv_err err;
        if (rv_image_alloc(img, w, h, 8, &err) == 0) {
            if (fread(img->u8, 1, (size_t)w * h, f) == (size_t)w * h) rc = 0;
            else rv_image_free(img);
        }
    }
    fclose(f);
    return rc;
}

int main(void) {
    static const char *srcs[] = {"random", "edges"};
    static const int sizes[][2] = {{16, 11}, {23, 20}, {61, 47}, {50, 13}, {5, 4}, {37, 20}, {30, 8}};
    static const char *fnames[] = {"bicubic", "lanczos"};
    static const rv_resample filters[] = {RV_RESAMPLE_BICUBIC, RV_RESAMPLE_LANCZOS};
    int worst = 0, cases = 0;
    for (int s = 0; s < 2; s++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fixtures/resize/%s.pgm", RADVLM_SOURCE_DIR, srcs[s]);
        rv_image src;
        int ok = read_pgm(path, &src) == 0;
        CHECK(ok);
        if (!ok) continue;
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
            for (int f = 0; f < 2; f++) {
                snprintf(path, sizeof path, "%s/tests/fixtures/resize/%s_%dx%d_%s.pgm", RADVLM_SOURCE_DIR, srcs[s],
                         sizes[z][0], sizes[z][1], fnames[f]);
                rv_image want, got;
                CHECK(read_pgm(path, &want) == 0);
                rv_err err;
                int rc = rv_image_resize(&src, sizes[z][0], sizes[z][1], filters[f], &got, &err);
                CHECK(rc == 0);
                if (rc != 0 || !want.u8) continue;
                CHECK(got.width == want.width && got.height == want.height);
                int maxd = 0;
                for (size_t i = 0; i < (size_t)want.width * want.height; i++) {
                    int d = abs((int)got.u8[i] - (int)want.u8[i]);
                    if (d > maxd) maxd = d;
                }
                if (maxd > 0) fprintf(stderr, "%s: max difference %d\n", path, maxd);
                CHECK(maxd <= 1);
                if (maxd > worst) worst = maxd;
                cases++;
                rv_image_free(&want);
                rv_image_free(&got);
            }
        }
        /* Same size is a copy (Pillow returns a copy too). */
        rv_image same;
        rv_err err;
        CHECK(rv_image_resize(&src, src.width, src.height, RV_RESAMPLE_LANCZOS, &same, &err) == 0);
        CHECK(memcmp(same.u8, src.u8, (size_t)src.width * src.height) == 0);
        rv_image_free(&same);
        rv_image_free(&src);
    }
    printf("resize parity: %d cases, max difference vs Pillow %d grey level(s)\n", cases, worst);
    CHECK(cases == 28);
    /* A 16-bit source is refused with a message, not resampled. */
    rv_image wide;
    rv_err err;
    CHECK(rv_image_alloc(&wide, 4, 4, 16, &err) == 0);
    rv_image out;
    CHECK(rv_image_resize(&wide, 2, 2, RV_RESAMPLE_BICUBIC, &out, &err) == -1);
    CHECK(strstr(err.msg, "8-bit") != NULL);
    rv_image_free(&wide);
    return check_summary("test_resize");
}
