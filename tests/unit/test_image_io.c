/* JPEG / PNG (8 and 16-bit) / DICOM (MONOCHROME1 and 2, 12- and 16-bit stored) round trips,
 * and damaged inputs (truncated, garbage, missing) that must fail with a message naming the
 * file instead of crashing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/dicom.h"
#include "io/image.h"

static char dir[256];

static int contains(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return 1;
    return 0;
}

static char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Writes the first n bytes of src to dst. */
static void truncate_copy(const char *src, const char *dst, double frac) {
    char *d = NULL;
    size_t len = 0;
    rv_err err;
    if (rv_read_file(src, &d, &len, &err) != 0) return;
    FILE *f = fopen(dst, "wb");
    fwrite(d, 1, (size_t)(len * frac), f);
    fclose(f);
    free(d);
}

static void write_garbage(const char *path, const char *prefix, size_t n) {
    FILE *f = fopen(path, "wb");
    size_t p = strlen(prefix);
    fwrite(prefix, 1, p, f);
    unsigned x = 12345;
    for (size_t i = p; i < n; i++) {
        x = x * 1103515245u + 12345u;
        fputc((int)(x >> 16) & 0xff, f);
    }
    fclose(f);
}

static void test_jpeg(void) {
    rv_image im;
    rv_err err;
    CHECK(rv_image_alloc(&im, 37, 23, 8, &err) == 0);
    for (int y = 0; y < 23; y++)
        for (int x = 0; x < 37; x++) im.u8[y * 37 + x] = (uint8_t)(x * 6 + y * 2); /* smooth ramp */
    CHECK(rv_jpeg_write(tpath("a.jpg"), &im, 95, &err) == 0);
    int w = 0, h = 0;
    CHECK(rv_jpeg_size(tpath("a.jpg"), &w, &h, &err) == 0);
    CHECK(w == 37 && h == 23);
    rv_image back;
    CHECK(rv_jpeg_read(tpath("a.jpg"), &back, &err) == 0);
    CHECK(back.width == 37 && back.height == 23 && back.bits == 8);
    int maxd = 0;
    for (int i = 0; i < 37 * 23; i++) {
        int d = abs((int)back.u8[i] - (int)im.u8[i]);
        if (d > maxd) maxd = d;
    }
    CHECK(maxd <= 4); /* lossy, but a smooth ramp at q95 stays within a few levels */
    rv_image_free(&back);
    /* Baseline gray: SOF0 marker (FFC0) with 1 component. */
    char *d = NULL;
    size_t len = 0;
    CHECK(rv_read_file(tpath("a.jpg"), &d, &len, &err) == 0);
    int sof0 = 0;
    for (size_t i = 0; i + 9 < len; i++)
        if ((unsigned char)d[i] == 0xFF && (unsigned char)d[i + 1] == 0xC0) { sof0 = d[i + 9] == 1; break; }
    CHECK(sof0);
    free(d);
    /* Truncated: error naming the file. */
    truncate_copy(tpath("a.jpg"), tpath("trunc.jpg"), 0.6);
    CHECK(rv_jpeg_read(tpath("trunc.jpg"), &back, &err) == -1);
    CHECK(strstr(err.msg, "trunc.jpg") != NULL);
    CHECK(back.u8 == NULL);
    truncate_copy(tpath("a.jpg"), tpath("trunc2.jpg"), 0.05);
    CHECK(rv_jpeg_read(tpath("trunc2.jpg"), &back, &err) == -1);
    write_garbage(tpath("garbage.jpg"), "\xFF\xD8\xFF\xE0", 3000);
    CHECK(rv_jpeg_read(tpath("garbage.jpg"), &back, &err) == -1);
    CHECK(strstr(err.msg, "garbage.jpg") != NULL);
    write_garbage(tpath("notjpeg.jpg"), "hello", 100);
    CHECK(rv_jpeg_read(tpath("notjpeg.jpg"), &back, &err) == -1);
    CHECK(strstr(err.msg, "not a JPEG") != NULL);
    CHECK(rv_jpeg_read(tpath("missing.jpg"), &back, &err) == -1);
    CHECK(strstr(err.msg, "missing.jpg") != NULL);
    /* A 16-bit image cannot go to JPEG. */
    rv_image w16;
    CHECK(rv_image_alloc(&w16, 4, 4, 16, &err) == 0);
    CHECK(rv_jpeg_write(tpath("b.jpg"), &w16, 75, &err) == -1);
    CHECK(!rv_exists(tpath("b.jpg")));
    rv_image_free(&w16);
    rv_image_free(&im);
}

static void test_png(void) {
    rv_err err;
    for (int bits = 8; bits <= 16; bits += 8) {
        rv_image im, back;
        CHECK(rv_image_alloc(&im, 41, 17, bits, &err) == 0);
        for (int i = 0; i < 41 * 17; i++) {
            if (bits == 8) im.u8[i] = (uint8_t)(i * 7);
            else im.u16[i] = (uint16_t)(i * 977u + 3u); /* uses both bytes */
        }
        const char *p = bits == 8 ? tpath("a8.png") : tpath("a16.png");
        CHECK(rv_png_write(p, &im, &err) == 0);
        CHECK(rv_png_read(p, &back, &err) == 0);
        CHECK(back.bits == bits && back.width == 41 && back.height == 17);
        if (bits == 8) CHECK(back.u8 && memcmp(back.u8, im.u8, 41 * 17) == 0);
        else CHECK(back.u16 && memcmp(back.u16, im.u16, 41 * 17 * 2) == 0);
        /* Big-endian on disk: the first pixel's high byte comes first after the IDAT filter. */
        rv_image_free(&back);
        truncate_copy(p, tpath("t.png"), 0.5);
        CHECK(rv_png_read(tpath("t.png"), &back, &err) == -1);
        CHECK(strstr(err.msg, "t.png") != NULL);
        CHECK(back.u8 == NULL && back.u16 == NULL);
        rv_image_free(&im);
    }
    rv_image back;
    write_garbage(tpath("g.png"), "\x89PNG\r\n\x1a\n", 500);
    CHECK(rv_png_read(tpath("g.png"), &back, &err) == -1);
    CHECK(strstr(err.msg, "g.png") != NULL);
    write_garbage(tpath("n.png"), "GIF89a", 500);
    CHECK(rv_png_read(tpath("n.png"), &back, &err) == -1);
    CHECK(strstr(err.msg, "not a PNG") != NULL);
}

static void test_dicom(void) {
    rv_err err;
    struct { bool mono1; int stored; int w, h; } cases[] = {{true, 12, 33, 21}, {false, 16, 20, 31}, {false, 12, 8, 8}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rv_image im, back;
        int w = cases[c].w, h = cases[c].h;
        CHECK(rv_image_alloc(&im, w, h, 16, &err) == 0);
        uint32_t maxv = (1u << cases[c].stored) - 1u;
        for (int i = 0; i < w * h; i++) im.u16[i] = (uint16_t)((i * 2654435761u) % (maxv + 1));
        im.u16[0] = (uint16_t)maxv;
        rv_dicom_info info = {0};
        info.bits_stored = cases[c].stored;
        info.monochrome1 = cases[c].mono1;
        info.has_window = c == 0;
        info.window_center = 2047.5;
        info.window_width = 3000;
        char name[32];
        snprintf(name, sizeof name, "d%zu.dicom", c);
        CHECK(rv_dicom_write(tpath(name), &im, &info, &err) == 0);
        rv_dicom_info got;
        CHECK(rv_dicom_read(tpath(name), &got, &back, &err) == 0);
        CHECK(got.rows == h && got.columns == w);
        CHECK(got.bits_allocated == 16 && got.bits_stored == cases[c].stored);
        CHECK(got.pixel_representation == 0);
        CHECK(got.monochrome1 == cases[c].mono1);
        CHECK(got.has_window == (c == 0));
        if (c == 0) {
            CHECK_NEAR(got.window_center, 2047.5, 1e-9);
            CHECK_NEAR(got.window_width, 3000, 1e-9);
        }
        CHECK_NEAR(got.rescale_slope, 1.0, 0);
        CHECK_NEAR(got.rescale_intercept, 0.0, 0);
        CHECK(back.bits == 16 && back.width == w && back.height == h);
        CHECK(back.u16 && memcmp(back.u16, im.u16, (size_t)w * h * 2) == 0);
        rv_image_free(&back);
        /* "DICM" magic at 128, explicit VR little endian transfer syntax in the meta header. */
        char *d = NULL;
        size_t len = 0;
        CHECK(rv_read_file(tpath(name), &d, &len, &err) == 0);
        CHECK(len > 132 && memcmp(d + 128, "DICM", 4) == 0);
        CHECK(contains(d, len < 600 ? len : 600, "1.2.840.10008.1.2.1"));
        CHECK(contains(d, len, cases[c].mono1 ? "MONOCHROME1" : "MONOCHROME2"));
        /* Same pixels -> byte-identical file (UIDs come from the content). */
        CHECK(rv_dicom_write(tpath("again.dicom"), &im, &info, &err) == 0);
        char *d2 = NULL;
        size_t len2 = 0;
        CHECK(rv_read_file(tpath("again.dicom"), &d2, &len2, &err) == 0);
        CHECK(len == len2 && memcmp(d, d2, len) == 0);
        free(d2);
        free(d);
        /* Truncated in the pixel data and in the header. */
        truncate_copy(tpath(name), tpath("tr.dicom"), 0.7);
        CHECK(rv_dicom_read(tpath("tr.dicom"), &got, &back, &err) == -1);
        CHECK(strstr(err.msg, "tr.dicom") != NULL);
        CHECK(back.u16 == NULL);
        truncate_copy(tpath(name), tpath("tr2.dicom"), 0.1);
        CHECK(rv_dicom_read(tpath("tr2.dicom"), &got, &back, &err) == -1);
        /* Every cut inside the header and a sample inside the pixels: an error, never a crash. */
        if (c == 0) {
            CHECK(rv_read_file(tpath(name), &d, &len, &err) == 0);
            int bad_ok = 0, tries = 0;
            for (size_t cut = 0; cut < len; cut += cut < 800 ? 1 : 131) {
                FILE *f = fopen(tpath("cut.dicom"), "wb");
                fwrite(d, 1, cut, f);
                fclose(f);
                tries++;
                if (rv_dicom_read(tpath("cut.dicom"), &got, &back, &err) == -1 && back.u16 == NULL) bad_ok++;
                else rv_image_free(&back);
            }
            CHECK(bad_ok == tries);
            free(d);
        }
        rv_image_free(&im);
    }
    /* Value above BitsStored is refused. */
    rv_image im, back;
    CHECK(rv_image_alloc(&im, 4, 4, 16, &err) == 0);
    im.u16[5] = 5000;
    rv_dicom_info info = {0};
    info.bits_stored = 12;
    CHECK(rv_dicom_write(tpath("big.dicom"), &im, &info, &err) == -1);
    CHECK(strstr(err.msg, "BitsStored") != NULL);
    rv_image_free(&im);
    rv_dicom_info got;
    write_garbage(tpath("g.dicom"), "", 2000);
    CHECK(rv_dicom_read(tpath("g.dicom"), &got, &back, &err) == -1);
    CHECK(strstr(err.msg, "g.dicom") != NULL);
    CHECK(rv_dicom_read(tpath("absent.dicom"), &got, &back, &err) == -1);
    CHECK(strstr(err.msg, "absent.dicom") != NULL);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/rv_test_image_io_%d", (int)getpid());
    rv_err err;
    if (rv_mkdir_p(dir, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_jpeg();
    test_png();
    test_dicom();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_image_io");
}
