/* Hostile image inputs (issue L items 1 and 3): every reproducer under tests/fixtures/hostile/
 * (made by gen_hostile.py) is refused with a message naming the file and saying what is wrong,
 * never a GDCM assertion, a huge allocation or a crash; the valid files beside them decode to the
 * pixels the generator wrote; the pixel budget is applied from the header, at exactly
 * width x height (x frames). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/dicom.h"
#include "io/dicom_scan.h"
#include "io/image.h"
#include "io/image_file.h"

static const char *fixture(const char *rel) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/tests/fixtures/hostile/%s", RADVLM_SOURCE_DIR, rel);
    return buf[k];
}

/* Each reproducer and a piece of the message it must get (what is wrong, in words). */
static const struct { const char *file, *why; } cases[] = {
    {"dicom/meta_sequence.dcm", "a sequence in the file meta group"},
    {"dicom/meta_undefined_length.dcm", "undefined length in the file meta group"},
    {"dicom/meta_truncated.dcm", "file meta group length (0002,0000) says 92 bytes but its elements take 14"},
    {"dicom/meta_group_length.dcm", "says 28672 bytes but its elements take 92"},
    {"dicom/meta_implicit.dcm", "does not start with its group length (0002,0000) UL"},
    {"dicom/meta_bad_vr.dcm", "unknown value representation in the file meta group (element (0002,0013)"},
    {"dicom/samples_per_pixel_5.dcm", "5 samples per pixel; only grayscale (1)"},
    {"dicom/element_truncated.dcm", "runs past the end of the file"},
    {"dicom/dataset_bad_vr.dcm", "unknown value representation (explicit VR) (element (0010,0010)"},
    {"dicom/implicit_truncated.dcm", "runs past the end of the file (truncated or damaged) (element (7FE0,0010)"},
    /* 40000 columns x 32000 rows: 1.28e9 pixels, 2.56 GB at 16 bits, from a 370-byte file */
    {"dicom/bomb_native.dcm", "40000 x 32000 = 1280000000 pixels, above the pixel budget data.max_image_pixels = 67108864"},
    {"dicom/bomb_jpeg.dcm", "40000 x 32000 = 1280000000 pixels, above the pixel budget"},
    /* 4096 x 4096 x 1000 = 16777216000 */
    {"dicom/bomb_frames.dcm", "4096 x 4096 pixels x 1000 frames = 16777216000 pixels"},
    /* 64 x 64 x 2 bytes = 8192 needed, 32 present */
    {"dicom/pixels_short.dcm", "pixel data holds 32 bytes, Rows x Columns x frames x BitsAllocated needs 8192"},
    {"dicom/sequence_item_overrun.dcm", "a sequence item runs past its end"},
    {"dicom/icon_samples_per_pixel_7.dcm", "SamplesPerPixel out of range 1..4 in a nested image"},
    {"dicom/bits_allocated_0.dcm", "BitsAllocated 0 is not supported"},
    {"dicom/deflated_syntax.dcm", "transfer syntax '1.2.840.10008.1.2.1.99' is not supported"},
    {"dicom/nested_too_deep.dcm", "nested more than 16 deep"},
    {"dicom/item_odd_length.dcm", "odd value length inside a sequence item (element (0008,0104)"},
    /* passes the walk but GDCM asserts on it (gdcmAttribute.h): the child process that runs GDCM
     * dies, this one gets a bad record quoting the assertion */
    {"dicom/rescale_intercept_vr_us.dcm", "the decoder died on signal 6"},
    {"dicom/rescale_intercept_vr_us.dcm", "gdcmAttribute.h"},
    {"dicom/bits_stored_1_of_8.dcm", "BitsStored 1 with BitsAllocated 8 is not supported"},
    {"dicom/repeated_samples_per_pixel.dcm", "elements out of order or repeated (element (0028,0002)"},
    /* 30000 x 30000 = 900000000 */
    {"png/bomb_30000x30000_16bit.png", "PNG image is 30000 x 30000 = 900000000 pixels, above the pixel budget"},
    {"png/truncated_idat.png", "PNG decoding failed"},
    {"png/zero_width.png", "PNG decoding failed"},
    /* 65000 x 65000 = 4225000000 */
    {"jpeg/bomb_65000x65000.jpg", "JPEG image is 65000 x 65000 = 4225000000 pixels, above the pixel budget"},
    {"jpeg/garbage_after_soi.jpg", "unreadable JPEG header"},
};

static void test_reproducers(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = fixture(cases[i].file);
        rv_image img;
        rv_err err = {{0}};
        int rc = rv_image_file_read(p, &img, NULL, NULL, &err);
        CHECK(rc == -1);
        CHECK(img.u8 == NULL && img.u16 == NULL);
        if (!strstr(err.msg, p) || !strstr(err.msg, cases[i].why))
            fprintf(stderr, "%s: got message: %s\n", cases[i].file, err.msg);
        CHECK(strstr(err.msg, p) != NULL);
        CHECK(strstr(err.msg, cases[i].why) != NULL);
        if (rc == 0) rv_image_free(&img);
    }
}

/* The generator's pixels: bytes 0..31 as little-endian uint16, i.e. value k = 2k + 256 (2k + 1)
 * = 514 k + 256, k = 0..15, row-major; GDCM keeps the 12 stored bits (BitsStored 12), so
 * (514 k + 256) mod 4096: 256, 770, ..., 3854, then 4368 - 4096 = 272, ... */
static void test_valid_dicoms(void) {
    const char *names[] = {"dicom/valid_4x4.dcm", "dicom/valid_4x4_implicit.dcm", "dicom/valid_4x4_big_endian.dcm"};
    for (size_t n = 0; n < 3; n++) {
        rv_image img;
        rv_dicom_info info;
        rv_err err = {{0}};
        CHECK(rv_dicom_read(fixture(names[n]), &info, &img, &err) == 0);
        if (img.u16 == NULL) {
            fprintf(stderr, "%s: %s\n", names[n], err.msg);
            continue;
        }
        CHECK(img.width == 4 && img.height == 4 && img.bits == 16);
        CHECK(info.bits_allocated == 16 && info.bits_stored == 12);
        int same = 0;
        for (int k = 0; k < 16; k++) same += img.u16[k] == (514 * k + 256) % 4096;
        CHECK(same == 16);
        rv_image_free(&img);
    }
    /* the budget is exact: 16 pixels pass a budget of 16 and fail one of 15 */
    rv_image img;
    rv_err err = {{0}};
    CHECK(rv_dicom_read_max(fixture("dicom/valid_4x4.dcm"), 16, NULL, &img, &err) == 0);
    rv_image_free(&img);
    CHECK(rv_dicom_read_max(fixture("dicom/valid_4x4.dcm"), 15, NULL, &img, &err) == -1);
    CHECK(strstr(err.msg, "4 x 4 = 16 pixels, above the pixel budget data.max_image_pixels = 15") != NULL);
    CHECK(strstr(err.msg, "valid_4x4.dcm") != NULL);
    /* the scan reports what it read */
    char *d = NULL;
    size_t len = 0;
    CHECK(rv_read_file(fixture("dicom/valid_4x4_big_endian.dcm"), &d, &len, &err) == 0);
    rv_dicom_scan sc;
    CHECK(rv_dicom_scan_bytes("be", (const unsigned char *)d, len, 0, &sc, &err) == 0);
    CHECK(sc.big_endian && sc.explicit_vr && !sc.encapsulated);
    CHECK(sc.rows == 4 && sc.columns == 4 && sc.frames == 1 && sc.bits_allocated == 16 && sc.bits_stored == 12);
    CHECK(sc.pixel_bytes == 32);
    CHECK_STR(sc.transfer_syntax, "1.2.840.10008.1.2.2");
    /* every cut of the file is refused by the walk (a truncated header or pixel data), never a crash */
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) refused += rv_dicom_scan_bytes("cut", (const unsigned char *)d, cut, 0, &sc, &err) == -1;
    CHECK(refused == (int)len);
    free(d);
}

/* PNG rows i = 0..3 hold 16 i + j (gen_hostile.py); the budget from IHDR is exact. */
static void test_png_and_jpeg_budget(void) {
    rv_image img;
    rv_err err = {{0}};
    char *d = NULL;
    size_t len = 0;
    CHECK(rv_read_file(fixture("png/valid_4x4.png"), &d, &len, &err) == 0);
    CHECK(rv_png_decode("v.png", (const unsigned char *)d, len, 16, &img, &err) == 0);
    int same = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) same += img.u8 && img.u8[i * 4 + j] == 16 * i + j;
    CHECK(same == 16);
    rv_image_free(&img);
    CHECK(rv_png_decode("v.png", (const unsigned char *)d, len, 15, &img, &err) == -1);
    CHECK(strstr(err.msg, "v.png: PNG image is 4 x 4 = 16 pixels, above the pixel budget data.max_image_pixels = 15") != NULL);
    /* every cut of the PNG is an error */
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) refused += rv_png_decode("c", (const unsigned char *)d, cut, 0, &img, &err) == -1;
    CHECK(refused == (int)len);
    free(d);
    /* an 8 x 6 JPEG: 48 pixels */
    char path[256];
    snprintf(path, sizeof path, "/tmp/rv_test_image_hostile_%d.jpg", (int)getpid());
    rv_image src;
    CHECK(rv_image_alloc(&src, 8, 6, 8, &err) == 0);
    CHECK(rv_jpeg_write(path, &src, 90, &err) == 0);
    rv_image_free(&src);
    CHECK(rv_image_file_read_max(path, 48, &img, NULL, NULL, &err) == 0);
    CHECK(img.width == 8 && img.height == 6);
    rv_image_free(&img);
    CHECK(rv_image_file_read_max(path, 47, &img, NULL, NULL, &err) == -1);
    CHECK(strstr(err.msg, "JPEG image is 8 x 6 = 48 pixels, above the pixel budget data.max_image_pixels = 47") != NULL);
    CHECK(strstr(err.msg, path) != NULL);
    /* 0 = no budget */
    CHECK(rv_image_file_read_max(path, 0, &img, NULL, NULL, &err) == 0);
    rv_image_free(&img);
    unlink(path);
}

/* Compressed pixel data decodes in a child process and comes back intact: the RLE seed of the fuzz
 * corpus (tests/fuzz/gen_seeds.py) is lossless, pixel (x, y) = (20 x + 7 y) mod 256 of 12 x 8;
 * the baseline JPEG seed is the same image at quality 90, so within a few grey levels. */
static void test_compressed_dicoms(void) {
    const char *names[] = {"seed_rle.dcm", "seed_jpeg_baseline.dcm"};
    for (int n = 0; n < 2; n++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/tests/fuzz/corpus/dicom/%s", RADVLM_SOURCE_DIR, names[n]);
        rv_image img;
        rv_dicom_info info;
        rv_err err = {{0}};
        CHECK(rv_dicom_read(p, &info, &img, &err) == 0);
        if (!img.u16) {
            fprintf(stderr, "%s: %s\n", names[n], err.msg);
            continue;
        }
        CHECK(img.width == 12 && img.height == 8 && info.bits_allocated == 8);
        int exact = 0, close = 0;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 12; x++) {
                const int want = (20 * x + 7 * y) & 0xFF, got = img.u16[y * 12 + x];
                exact += got == want;
                close += abs(got - want) <= 24;
            }
        if (n == 0) CHECK(exact == 96);
        else CHECK(close >= 90);
        rv_image_free(&img);
    }
}

static void test_check_pixels(void) {
    rv_err err = {{0}};
    CHECK(rv_image_check_pixels("x", "PNG", 100, 100, 1, 10000, &err) == 0);
    CHECK(rv_image_check_pixels("x", "PNG", 100, 101, 1, 10000, &err) == -1);
    CHECK(strstr(err.msg, "x: PNG image is 100 x 101 = 10100 pixels") != NULL);
    /* a product past 2^63 is over any budget, not wrapped to something small */
    CHECK(rv_image_check_pixels("x", "DICOM", 1LL << 40, 1LL << 40, 1LL << 20, LLONG_MAX - 1, &err) == -1);
    CHECK(rv_image_check_pixels("x", "DICOM", 1LL << 40, 1LL << 40, 1, 0, &err) == 0); /* no budget */
}

int main(void) {
    test_reproducers();
    test_valid_dicoms();
    test_png_and_jpeg_budget();
    test_compressed_dicoms();
    test_check_pixels();
    return check_summary("test_image_hostile");
}
