/* The DICOM pre-check of io/dicom_scan.h: one pass over the element stream, no allocation. */
#include "io/dicom_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"

#define UNDEFINED_LENGTH 0xFFFFFFFFu
#define MAX_DEPTH 16

typedef struct scanner {
    const unsigned char *d;
    size_t n;
    bool be;              /* the data set's byte order (the meta group is always little endian) */
    bool saw_pixels, pixels_undefined;
    rv_dicom_scan *out;
    char why[200];        /* what is wrong, when a walk fails */
} scanner;

static int bad(scanner *s, const char *what, unsigned g, unsigned e, size_t pos) {
    snprintf(s->why, sizeof s->why, "%s (element (%04X,%04X) at byte %zu)", what, g, e, pos);
    return -1;
}

static uint16_t rd16(const scanner *s, size_t p) {
    const unsigned char *b = s->d + p;
    return s->be ? (uint16_t)(b[0] << 8 | b[1]) : (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t rd32(const scanner *s, size_t p) {
    const unsigned char *b = s->d + p;
    return s->be ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]
                 : (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint16_t le16(const unsigned char *b) { return (uint16_t)(b[0] | b[1] << 8); }
static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The value representations of PS3.5 that GDCM 3.0 reads; *long_form: the 12-byte header with a
 * 32-bit length. OV, SV and UV (2019) are left out: no radiograph uses them. */
static bool known_vr(const unsigned char *vr, bool *long_form) {
    static const char short_vrs[] = "AEASATCSDADSDTFDFLISLOLTPNSHSLSSSTTMUIULUS";
    static const char long_vrs[] = "OBODOFOLOWSQUCUNURUT";
    for (const char *v = long_vrs; *v; v += 2)
        if (vr[0] == (unsigned char)v[0] && vr[1] == (unsigned char)v[1]) return *long_form = true;
    for (const char *v = short_vrs; *v; v += 2)
        if (vr[0] == (unsigned char)v[0] && vr[1] == (unsigned char)v[1]) {
            *long_form = false;
            return true;
        }
    return false;
}

static int elems(scanner *s, size_t *pos, size_t end, bool explicit_vr, int depth, bool *delimited);

/* Items of a sequence, or the fragments of encapsulated pixel data, from *pos: up to the sequence
 * delimiter, which must come before end (undefined length: end is the end of what contains the
 * sequence), or exactly to end (defined length). */
static int items(scanner *s, size_t *pos, size_t end, bool undefined, bool explicit_vr, int depth, bool fragments) {
    if (depth > MAX_DEPTH) return bad(s, "sequences nested more than 16 deep", 0xFFFE, 0xE000, *pos);
    while (undefined || *pos < end) {
        if (end - *pos < 8) return bad(s, "truncated inside a sequence", 0xFFFE, 0xE000, *pos);
        const size_t at = *pos;
        uint16_t g = rd16(s, at), e = rd16(s, at + 2);
        uint32_t len = rd32(s, at + 4);
        *pos += 8;
        if (g == 0xFFFE && e == 0xE0DD) {
            if (!undefined) return bad(s, "sequence delimiter inside a sequence of defined length", g, e, at);
            if (len != 0) return bad(s, "sequence delimiter with a non-zero length", g, e, at);
            return 0;
        }
        if (g != 0xFFFE || e != 0xE000) return bad(s, "malformed sequence: an item tag was expected", g, e, at);
        if (len == UNDEFINED_LENGTH) {
            if (fragments) return bad(s, "pixel data fragment of undefined length", g, e, at);
            bool delimited = false;
            if (elems(s, pos, end, explicit_vr, depth + 1, &delimited) != 0) return -1;
            if (!delimited) return bad(s, "item of undefined length without an item delimiter", g, e, at);
            continue;
        }
        if (len > end - *pos) return bad(s, "a sequence item runs past its end", g, e, at);
        if (len % 2 && !fragments) return bad(s, "odd sequence item length", g, e, at);
        if (!fragments) {
            size_t p = *pos;
            bool delimited = false;
            if (elems(s, &p, *pos + len, explicit_vr, depth + 1, &delimited) != 0) return -1;
            if (delimited) return bad(s, "item delimiter inside an item of defined length", g, e, at);
        }
        *pos += len;
    }
    return 0;
}

/* A defined-length value that starts with an item tag holds a sequence (implicit VR, UN). */
static bool looks_like_items(const scanner *s, size_t pos, uint32_t len) {
    return len >= 8 && rd16(s, pos) == 0xFFFE && rd16(s, pos + 2) == 0xE000;
}

/* One unsigned 16-bit value of the image pixel module. */
static int us_value(scanner *s, size_t pos, uint32_t len, unsigned g, unsigned e, size_t at, int *out) {
    if (len != 2) return bad(s, "image pixel module value is not one 16-bit number", g, e, at);
    *out = rd16(s, pos);
    return 0;
}

/* The top-level (0028,xxxx) values GDCM builds the image from; nested ones (icon images) are
 * only checked against the ranges GDCM asserts on. */
static int pixel_module(scanner *s, unsigned e, size_t pos, uint32_t len, int depth, size_t at) {
    rv_dicom_scan *o = s->out;
    int v = 0;
    if (depth > 0) {
        if (e == 0x0002 || e == 0x0100) {
            if (us_value(s, pos, len, 0x0028, e, at, &v) != 0) return -1;
            if (e == 0x0002 && (v < 1 || v > 4)) return bad(s, "SamplesPerPixel out of range 1..4 in a nested image", 0x0028, e, at);
            if (e == 0x0100 && (v < 1 || v > 64)) return bad(s, "BitsAllocated out of range 1..64 in a nested image", 0x0028, e, at);
        }
        return 0;
    }
    switch (e) {
    case 0x0002: return us_value(s, pos, len, 0x0028, e, at, &o->samples_per_pixel);
    case 0x0010: if (us_value(s, pos, len, 0x0028, e, at, &v) != 0) return -1; o->rows = v; return 0;
    case 0x0011: if (us_value(s, pos, len, 0x0028, e, at, &v) != 0) return -1; o->columns = v; return 0;
    case 0x0100: return us_value(s, pos, len, 0x0028, e, at, &o->bits_allocated);
    case 0x0101: return us_value(s, pos, len, 0x0028, e, at, &o->bits_stored);
    case 0x0102: return us_value(s, pos, len, 0x0028, e, at, &o->high_bit);
    case 0x0103: return us_value(s, pos, len, 0x0028, e, at, &o->pixel_representation);
    case 0x0008: { /* NumberOfFrames, IS: a decimal string of at most 12 characters */
        char buf[16];
        if (len == 0) return 0;
        if (len > 12) return bad(s, "NumberOfFrames is longer than an IS value may be", 0x0028, e, at);
        memcpy(buf, s->d + pos, len);
        buf[len] = '\0';
        char *p = buf, *q;
        while (*p == ' ') p++;
        long long f = strtoll(p, &q, 10);
        while (*q == ' ') q++;
        if (q == p || *q != '\0' || f < 1 || f > 1000000)
            return bad(s, "NumberOfFrames is not a number of frames in 1..1000000", 0x0028, e, at);
        o->frames = f;
        return 0;
    }
    default: return 0;
    }
}

/* Elements from *pos to end (a whole data set, or one item). An item delimiter ends an
 * undefined-length item (*delimited set). */
static int elems(scanner *s, size_t *pos, size_t end, bool explicit_vr, int depth, bool *delimited) {
    if (depth > MAX_DEPTH) return bad(s, "sequences nested more than 16 deep", 0, 0, *pos);
    uint32_t last = 0; /* tags ascend within a data set or item (PS3.5 7.1); GDCM keeps the first of two */
    bool any = false;
    while (*pos < end) {
        const size_t at = *pos;
        if (end - at < 8) return bad(s, "truncated element header", 0, 0, at);
        const uint16_t g = rd16(s, at), e = rd16(s, at + 2);
        const uint32_t tag = (uint32_t)g << 16 | e;
        if (g != 0xFFFE) {
            if (any && tag <= last) return bad(s, "elements out of order or repeated", g, e, at);
            last = tag;
            any = true;
        }
        if (g == 0xFFFE) {
            if (e == 0xE00D && depth > 0) {
                if (rd32(s, at + 4) != 0) return bad(s, "item delimiter with a non-zero length", g, e, at);
                *pos += 8;
                *delimited = true;
                return 0;
            }
            return bad(s, "item or delimiter tag outside a sequence", g, e, at);
        }
        uint32_t len;
        bool sq = false, un = false;
        if (explicit_vr) {
            const unsigned char *vr = s->d + at + 4;
            bool long_form;
            if (!known_vr(vr, &long_form)) return bad(s, "unknown value representation (explicit VR)", g, e, at);
            if (long_form) {
                if (end - at < 12) return bad(s, "truncated element header", g, e, at);
                len = rd32(s, at + 8);
                *pos += 12;
            } else {
                len = rd16(s, at + 6);
                *pos += 8;
            }
            sq = vr[0] == 'S' && vr[1] == 'Q';
            un = vr[0] == 'U' && vr[1] == 'N';
        } else {
            len = rd32(s, at + 4);
            *pos += 8;
        }
        const bool pixels = g == 0x7FE0 && e == 0x0010 && depth == 0;
        if (pixels) {
            if (s->saw_pixels) return bad(s, "a second pixel data element", g, e, at);
            s->saw_pixels = true;
        }
        if (len == UNDEFINED_LENGTH) {
            if (pixels) {
                s->pixels_undefined = true;
                if (items(s, pos, end, true, explicit_vr, depth + 1, true) != 0) return -1;
                continue;
            }
            if (explicit_vr && !sq && !un) return bad(s, "undefined length on an element that is not a sequence", g, e, at);
            /* UN of undefined length holds an implicit VR little endian sequence (PS3.5 6.2.2) */
            if (items(s, pos, end, true, explicit_vr && !un, depth + 1, false) != 0) return -1;
            continue;
        }
        if (len > end - *pos) return bad(s, "an element runs past the end of the file (truncated or damaged)", g, e, at);
        /* values have even length (PS3.5 7.1.1); GDCM asserts on an odd one inside an item */
        if (depth > 0 && len % 2) return bad(s, "odd value length inside a sequence item", g, e, at);
        if (sq || ((!explicit_vr || un) && !pixels && looks_like_items(s, *pos, len))) {
            size_t p = *pos;
            if (items(s, &p, *pos + len, false, explicit_vr && !un, depth + 1, false) != 0) return -1;
        }
        if (pixels) s->out->pixel_bytes = len;
        if (g == 0x0028) {
            /* GDCM asserts when a pixel module element has another VR than the dictionary's */
            const bool is_frames = e == 0x0008, is_us = e == 0x0002 || e == 0x0006 || e == 0x0010 || e == 0x0011 ||
                                                         (e >= 0x0100 && e <= 0x0103);
            const unsigned char *vr = s->d + at + 4;
            if (explicit_vr && ((is_us && !(vr[0] == 'U' && vr[1] == 'S')) || (is_frames && !(vr[0] == 'I' && vr[1] == 'S'))))
                return bad(s, is_us ? "image pixel module element without VR US" : "NumberOfFrames without VR IS", g, e, at);
            if (pixel_module(s, e, *pos, len, depth, at) != 0) return -1;
        }
        *pos += len;
    }
    return 0;
}

/* Transfer syntaxes whose data set this walk understands and GDCM 3.0 decodes. */
static int transfer_syntax(const char *ts, bool *explicit_vr, bool *be, bool *encapsulated) {
    static const char *const compressed[] = {
        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5"};
    *explicit_vr = true;
    *be = false;
    *encapsulated = false;
    if (!strcmp(ts, "1.2.840.10008.1.2")) *explicit_vr = false;
    else if (!strcmp(ts, "1.2.840.10008.1.2.2")) *be = true;
    else if (strcmp(ts, "1.2.840.10008.1.2.1") != 0) {
        for (size_t i = 0; i < sizeof compressed / sizeof compressed[0]; i++)
            if (!strcmp(ts, compressed[i])) return *encapsulated = true, 0;
        return -1;
    }
    return 0;
}

/* The file meta group at 132: explicit VR little endian, (0002,0000) first. Sets *pos past it. */
static int meta_group(scanner *s, size_t *pos) {
    const unsigned char *d = s->d;
    size_t p = 132;
    if (s->n - p < 12 || le16(d + p) != 0x0002 || le16(d + p + 2) != 0x0000 || d[p + 4] != 'U' || d[p + 5] != 'L' ||
        le16(d + p + 6) != 4)
        return bad(s, "the file meta group does not start with its group length (0002,0000) UL", 2, 0, p);
    const uint32_t glen = le32(d + p + 8);
    p += 12;
    const size_t start = p;
    bool have_ts = false;
    while (s->n - p >= 4 && le16(d + p) == 0x0002) {
        const size_t at = p;
        const unsigned e = le16(d + p + 2);
        if (s->n - p < 8) return bad(s, "truncated file meta group", 2, e, at);
        bool long_form;
        if (!known_vr(d + p + 4, &long_form)) return bad(s, "unknown value representation in the file meta group", 2, e, at);
        if (d[p + 4] == 'S' && d[p + 5] == 'Q') return bad(s, "a sequence in the file meta group", 2, e, at);
        uint32_t len;
        if (long_form) {
            if (s->n - p < 12) return bad(s, "truncated file meta group", 2, e, at);
            len = le32(d + p + 8);
            p += 12;
        } else {
            len = le16(d + p + 6);
            p += 8;
        }
        if (len == UNDEFINED_LENGTH) return bad(s, "undefined length in the file meta group", 2, e, at);
        if (len > s->n - p) return bad(s, "a file meta element runs past the end of the file", 2, e, at);
        if (e == 0x0010) {
            if (len >= sizeof s->out->transfer_syntax) return bad(s, "transfer syntax UID longer than 64 characters", 2, e, at);
            memcpy(s->out->transfer_syntax, d + p, len);
            s->out->transfer_syntax[len] = '\0';
            for (size_t k = len; k > 0 && (s->out->transfer_syntax[k - 1] == '\0' || s->out->transfer_syntax[k - 1] == ' '); k--)
                s->out->transfer_syntax[k - 1] = '\0';
            have_ts = true;
        }
        p += len;
    }
    if (p - start != glen) {
        snprintf(s->why, sizeof s->why, "the file meta group length (0002,0000) says %u bytes but its elements take %zu",
                 (unsigned)glen, p - start);
        return -1;
    }
    if (!have_ts) return bad(s, "the file meta group has no transfer syntax", 2, 0x10, start);
    *pos = p;
    return 0;
}

int rv_dicom_scan_bytes(const char *where, const unsigned char *data, size_t len, long long max_pixels,
                        rv_dicom_scan *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    out->frames = 1;
    out->samples_per_pixel = 1;
    out->bits_stored = out->high_bit = -1;
    scanner s = {.d = data, .n = len, .out = out};
    if (len < 132 || memcmp(data + 128, "DICM", 4) != 0)
        return rv_fail(err, "%s: not a DICOM Part 10 file (no 'DICM' marker at byte 128)", where);
    size_t pos = 0;
    if (meta_group(&s, &pos) != 0)
        return rv_fail(err, "%s: damaged DICOM header: %s; re-export or re-download the file", where, s.why);
    bool explicit_vr, encapsulated;
    if (transfer_syntax(out->transfer_syntax, &explicit_vr, &s.be, &encapsulated) != 0)
        return rv_fail(err, "%s: DICOM transfer syntax '%s' is not supported (uncompressed little/big endian, JPEG, "
                            "JPEG-LS, JPEG 2000 and RLE are); convert the file, e.g. with gdcmconv --raw", where,
                       out->transfer_syntax);
    out->explicit_vr = explicit_vr;
    out->big_endian = s.be;
    out->encapsulated = encapsulated;
    bool delimited = false;
    if (elems(&s, &pos, len, explicit_vr, 0, &delimited) != 0)
        return rv_fail(err, "%s: damaged DICOM data set: %s; re-export or re-download the file", where, s.why);
    if (!s.saw_pixels) return rv_fail(err, "%s: DICOM file has no pixel data element (truncated, or not an image)", where);
    if (encapsulated != s.pixels_undefined)
        return rv_fail(err, "%s: DICOM pixel data is %s but the transfer syntax %s says %s; the file is damaged", where,
                       s.pixels_undefined ? "encapsulated" : "not encapsulated", out->transfer_syntax,
                       encapsulated ? "compressed" : "uncompressed");
    if (out->rows <= 0 || out->columns <= 0)
        return rv_fail(err, "%s: DICOM image has no valid Rows x Columns (%lld x %lld)", where, out->rows, out->columns);
    if (out->samples_per_pixel != 1)
        return rv_fail(err, "%s: DICOM image has %d samples per pixel; only grayscale (1) is supported", where,
                       out->samples_per_pixel);
    if (out->bits_allocated != 8 && out->bits_allocated != 16)
        return rv_fail(err, "%s: DICOM BitsAllocated %d is not supported (8 or 16)", where, out->bits_allocated);
    if (out->bits_allocated == 8 && out->bits_stored != -1 && out->bits_stored != 8) /* GDCM asserts on it */
        return rv_fail(err, "%s: DICOM BitsStored %d with BitsAllocated 8 is not supported (8-bit images store 8 bits)",
                       where, out->bits_stored);
    if (out->bits_stored != -1 && (out->bits_stored < 1 || out->bits_stored > out->bits_allocated))
        return rv_fail(err, "%s: DICOM BitsStored %d is out of range 1..BitsAllocated (%d)", where, out->bits_stored,
                       out->bits_allocated);
    if (out->high_bit != -1 && out->high_bit >= out->bits_allocated)
        return rv_fail(err, "%s: DICOM HighBit %d is not below BitsAllocated (%d)", where, out->high_bit, out->bits_allocated);
    if (out->pixel_representation > 1)
        return rv_fail(err, "%s: DICOM PixelRepresentation %d is neither 0 (unsigned) nor 1 (signed)", where,
                       out->pixel_representation);
    if (rv_image_check_pixels(where, "DICOM", out->columns, out->rows, out->frames, max_pixels, err) != 0) return -1;
    const long long pixels = out->rows * out->columns * out->frames; /* <= 65535^2 x 10^6: fits */
    if (!encapsulated) {
        const unsigned long long need = (unsigned long long)pixels * (unsigned long long)(out->bits_allocated / 8);
        if (out->pixel_bytes < need)
            return rv_fail(err, "%s: DICOM pixel data holds %llu bytes, Rows x Columns x frames x BitsAllocated needs %llu; "
                                "the file is truncated or damaged", where, (unsigned long long)out->pixel_bytes, need);
    }
    return 0;
}
