/* JPEG through the libjpeg-turbo TurboJPEG API (2.1: tjInitDecompress & co). */
#include "io/image.h"

#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/fsutil.h"

/* A progressive JPEG of thousands of tiny scans costs minutes of CPU (a CPU bomb); libjpeg-turbo
 * refuses more than 500 scans with this flag, which no real image comes near. */
#ifdef TJFLAG_LIMITSCANS
#define JPEG_LIMIT_SCANS TJFLAG_LIMITSCANS
#else
#define JPEG_LIMIT_SCANS 0
#endif

int rv_jpeg_decode(const char *where, const unsigned char *data, size_t len, long long max_pixels, rv_image *img,
                   rv_err *err) {
    memset(img, 0, sizeof *img);
    if (len < 4 || data[0] != 0xFF || data[1] != 0xD8)
        return rv_fail(err, "%s: not a JPEG file (no SOI marker); check the file or re-export it", where);
    if (len > (size_t)0xFFFFFFFFu) return rv_fail(err, "%s: JPEG larger than 4 GiB", where);
    tjhandle h = tjInitDecompress();
    if (!h) return rv_fail(err, "%s: cannot initialise the JPEG decoder", where);
    int w = 0, hgt = 0, sub = 0, cs = 0;
    if (tjDecompressHeader3(h, data, (unsigned long)len, &w, &hgt, &sub, &cs) != 0) {
        rv_fail(err, "%s: unreadable JPEG header (%s); the file is damaged or not a JPEG", where, tjGetErrorStr2(h));
        tjDestroy(h);
        return -1;
    }
    /* the budget, from the SOF header, before the decoder or we allocate anything for the pixels */
    if (rv_image_check_pixels(where, "JPEG", w, hgt, 1, max_pixels, err) != 0) {
        tjDestroy(h);
        return -1;
    }
    if (rv_image_alloc(img, w, hgt, 8, err) != 0) {
        tjDestroy(h);
        return rv_fail_wrap(err, "%s", where);
    }
    /* TJFLAG_STOPONWARNING: a truncated stream is an error, not a grey-padded image. */
    if (tjDecompress2(h, data, (unsigned long)len, img->u8, w, w, hgt, TJPF_GRAY,
                      TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | JPEG_LIMIT_SCANS) != 0) {
        rv_fail(err, "%s: JPEG decoding failed (%s); the file is truncated or damaged", where, tjGetErrorStr2(h));
        tjDestroy(h);
        rv_image_free(img);
        return -1;
    }
    tjDestroy(h);
    return 0;
}

int rv_jpeg_read(const char *path, rv_image *img, rv_err *err) {
    char *data = NULL;
    size_t len = 0;
    memset(img, 0, sizeof *img);
    if (rv_read_file(path, &data, &len, err) != 0) return -1;
    int rc = rv_jpeg_decode(path, (const unsigned char *)data, len, RV_IMAGE_MAX_PIXELS_DEFAULT, img, err);
    free(data);
    return rc;
}

int rv_jpeg_size(const char *path, int *width, int *height, rv_err *err) {
    char *data = NULL;
    size_t len = 0;
    if (rv_read_file(path, &data, &len, err) != 0) return -1;
    int rc = -1;
    const unsigned char *d = (const unsigned char *)data;
    if (len < 4 || d[0] != 0xFF || d[1] != 0xD8) {
        rv_fail(err, "%s: not a JPEG file (no SOI marker)", path);
    } else {
        tjhandle h = tjInitDecompress();
        int sub = 0, cs = 0;
        if (!h) rv_fail(err, "%s: cannot initialise the JPEG decoder", path);
        else if (tjDecompressHeader3(h, d, (unsigned long)len, width, height, &sub, &cs) != 0)
            rv_fail(err, "%s: unreadable JPEG header (%s)", path, tjGetErrorStr2(h));
        else rc = 0;
        if (h) tjDestroy(h);
    }
    free(data);
    return rc;
}

int rv_jpeg_write(const char *path, const rv_image *img, int quality, rv_err *err) {
    if (img->bits != 8 || !img->u8) return rv_fail(err, "%s: JPEG output needs an 8-bit image", path);
    if (quality < 1 || quality > 100) return rv_fail(err, "%s: JPEG quality %d out of range 1..100", path, quality);
    tjhandle h = tjInitCompress();
    if (!h) return rv_fail(err, "%s: cannot initialise the JPEG encoder", path);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    int rc = 0;
    if (tjCompress2(h, img->u8, img->width, img->width, img->height, TJPF_GRAY, &buf, &len, TJSAMP_GRAY,
                    quality, TJFLAG_ACCURATEDCT) != 0) {
        rc = rv_fail(err, "%s: JPEG encoding failed (%s)", path, tjGetErrorStr2(h));
    } else {
        rc = rv_write_atomic(path, buf, len, err);
    }
    tjFree(buf);
    tjDestroy(h);
    return rc;
}
