/* Pillow-compatible resampling (see resize.h). Written from the algorithm's description:
 * each output pixel i of a pass samples the input around centre (i + 0.5) * scale with the
 * kernel stretched by max(scale, 1), over the window [centre - support, centre + support)
 * rounded to whole pixels and clamped to the image. */
#include "io/resize.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define RS_PI 3.14159265358979323846
#define RS_FRAC_BITS 22 /* 32 - 8 (pixel) - 2 (headroom for negative lobes / overshoot) */

/* The hot loop multiplies 32-bit integers, which baseline x86-64 (SSE2) cannot vectorise:
 * an AVX2 clone is picked at load time where the CPU has it. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define RS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define RS_CLONES
#endif

static double kernel_bicubic(double x) {
    const double a = -0.5; /* Keys' cubic convolution */
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= RS_PI;
    return sin(x) / x;
}

static double kernel_lanczos(double x) {
    if (x >= -3.0 && x < 3.0) return sinc(x) * sinc(x / 3.0);
    return 0.0;
}

/* Per output pixel: first input index, tap count, and ntaps fixed-point weights. */
typedef struct rs_plan {
    int out, taps;
    int *first, *count;
    int32_t *w;
} rs_plan;

static void rs_plan_free(rs_plan *p) {
    free(p->first);
    free(p->count);
    free(p->w);
}

static void rs_plan_make(rs_plan *p, int in_size, int out_size, rv_resample f) {
    double (*kern)(double) = f == RV_RESAMPLE_LANCZOS ? kernel_lanczos : kernel_bicubic;
    const double base_support = f == RV_RESAMPLE_LANCZOS ? 3.0 : 2.0;
    const double scale = (double)in_size / (double)out_size;
    const double stretch = scale < 1.0 ? 1.0 : scale;
    const double support = base_support * stretch;
    const int taps = (int)ceil(support) * 2 + 1;
    p->out = out_size;
    p->taps = taps;
    p->first = rv_xmalloc(sizeof(int) * (size_t)out_size);
    p->count = rv_xmalloc(sizeof(int) * (size_t)out_size);
    p->w = rv_xcalloc((size_t)out_size * (size_t)taps, sizeof(int32_t));
    double *tmp = rv_xmalloc(sizeof(double) * (size_t)taps);
    for (int i = 0; i < out_size; i++) {
        const double centre = (i + 0.5) * scale;
        int lo = (int)(centre - support + 0.5);
        int hi = (int)(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        const int n = hi - lo;
        double sum = 0.0;
        for (int k = 0; k < n; k++) {
            tmp[k] = kern((k + lo - centre + 0.5) / stretch);
            sum += tmp[k];
        }
        int32_t *w = p->w + (size_t)i * taps;
        for (int k = 0; k < n; k++) {
            double v = sum != 0.0 ? tmp[k] / sum : tmp[k];
            double s = v * (double)(1 << RS_FRAC_BITS);
            w[k] = (int32_t)(v < 0 ? s - 0.5 : s + 0.5); /* round half away from zero */
        }
        p->first[i] = lo;
        p->count[i] = n;
    }
    free(tmp);
}

static inline uint8_t rs_clip(int32_t acc) {
    int32_t v = acc >> RS_FRAC_BITS; /* arithmetic shift: floor, as in Pillow */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* in holds source rows starting at row in_row0 (width w) -> out (w x out_h). Each output row
 * is accumulated a whole source row at a time (contiguous, so the compiler vectorises it);
 * integer sums do not depend on the order, so this equals Pillow's per-pixel loop. */
RS_CLONES static void rs_vertical(const rs_plan *p, const uint8_t *in, int w, int in_row0, uint8_t *out, int out_w, int out_h) {
    int32_t *acc = rv_xmalloc(sizeof(int32_t) * (size_t)(out_w > 0 ? out_w : 1));
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = p->w + (size_t)y * p->taps;
        const uint8_t *base = in + (size_t)(p->first[y] - in_row0) * w;
        uint8_t *o = out + (size_t)y * out_w;
        for (int x = 0; x < out_w; x++) acc[x] = 1 << (RS_FRAC_BITS - 1);
        for (int t = 0; t < p->count[y]; t++) {
            const uint8_t *row = base + (size_t)t * w;
            const int32_t kt = k[t];
#pragma omp simd
            for (int x = 0; x < out_w; x++) acc[x] += (int32_t)row[x] * kt;
        }
#pragma omp simd
        for (int x = 0; x < out_w; x++) o[x] = rs_clip(acc[x]);
    }
    free(acc);
}

#if defined(__SSE2__)
/* 16x16 byte tile: dst[c][r] = src[r][c] (SSE2 unpack network). */
static void rs_tile16(const uint8_t *src, size_t ss, uint8_t *dst, size_t ds) {
    __m128i a[16], b[16];
    for (int i = 0; i < 16; i++) a[i] = _mm_loadu_si128((const __m128i *)(src + (size_t)i * ss));
    for (int i = 0; i < 8; i++) {
        b[2 * i] = _mm_unpacklo_epi8(a[2 * i], a[2 * i + 1]);
        b[2 * i + 1] = _mm_unpackhi_epi8(a[2 * i], a[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++) {
            a[4 * i + j] = _mm_unpacklo_epi16(b[4 * i + j], b[4 * i + j + 2]);
            a[4 * i + j + 2] = _mm_unpackhi_epi16(b[4 * i + j], b[4 * i + j + 2]);
        }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            b[8 * i + j] = _mm_unpacklo_epi32(a[8 * i + j], a[8 * i + j + 4]);
            b[8 * i + j + 4] = _mm_unpackhi_epi32(a[8 * i + j], a[8 * i + j + 4]);
        }
    for (int j = 0; j < 8; j++) {
        a[j] = _mm_unpacklo_epi64(b[j], b[j + 8]);
        a[j + 8] = _mm_unpackhi_epi64(b[j], b[j + 8]);
    }
    /* Four unpack rounds leave the columns in bit-reversed order: a[k] is column rev4(k). */
    static const int col_of[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    for (int k = 0; k < 16; k++) _mm_storeu_si128((__m128i *)(dst + (size_t)col_of[k] * ds), a[k]);
}
#endif

/* dst (cols x rows) = transpose of src (rows x cols). */
static void rs_transpose(const uint8_t *src, int rows, int cols, size_t src_stride, uint8_t *dst) {
    int r0 = 0;
#if defined(__SSE2__)
    for (; r0 + 16 <= rows; r0 += 16) {
        int c0 = 0;
        for (; c0 + 16 <= cols; c0 += 16) rs_tile16(src + (size_t)r0 * src_stride + c0, src_stride, dst + (size_t)c0 * rows + r0, (size_t)rows);
        for (int r = r0; r < r0 + 16; r++)
            for (int c = c0; c < cols; c++) dst[(size_t)c * rows + r] = src[(size_t)r * src_stride + c];
    }
#endif
    for (int r = r0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * rows + r] = src[(size_t)r * src_stride + c];
}

/* Rows [row0, row0+nrows) of in (width in_w) -> out rows 0..nrows-1 of width out_w. Done as
 * the vertical pass on the transposed rows (contiguous, vectorised), which gives the same
 * integers as the per-pixel tap loop. */
static void rs_horizontal(const rs_plan *p, const uint8_t *in, int in_w, int row0, int nrows, uint8_t *out, int out_w) {
    uint8_t *t = rv_xmalloc((size_t)in_w * (size_t)nrows + 1);
    uint8_t *u = rv_xmalloc((size_t)out_w * (size_t)nrows + 1);
    rs_transpose(in + (size_t)row0 * in_w, nrows, in_w, (size_t)in_w, t);
    rs_vertical(p, t, nrows, 0, u, nrows, out_w);
    rs_transpose(u, out_w, nrows, (size_t)nrows, out);
    free(t);
    free(u);
}

int rv_pillow_from_release(long long release, rv_pillow *out, rv_err *err) {
    if (release == 10) *out = RV_PILLOW_10;
    else if (release == 13) *out = RV_PILLOW_13;
    else return rv_fail(err, "data.pillow_resize: %lld is not a Pillow release we reproduce; use 10 (upstream's pinned "
                             "10.3.0; 11 and 12 resize the same) or 13", release);
    return 0;
}

/* Pillow 13.0.0 (libImaging/Resample.c, ImagingResampleInner): "if height is being scaled down
 * more than twice the amount the width is, run the vertical pass first". Pillow 10.3.0 to 12.x
 * always start with the horizontal pass. */
static bool vertical_first(rv_pillow pillow, int sw, int sh, int w, int h) {
    return pillow == RV_PILLOW_13 && h < sh && sh - h > 2 * (sw - w);
}

int rv_image_resize_as(const rv_image *src, int w, int h, rv_resample filter, rv_pillow pillow, rv_image *dst,
                       rv_err *err) {
    memset(dst, 0, sizeof *dst);
    if (!src || src->bits != 8 || !src->u8) return rv_fail(err, "resize: the source must be an 8-bit image");
    if (filter != RV_RESAMPLE_BICUBIC && filter != RV_RESAMPLE_LANCZOS)
        return rv_fail(err, "resize: unknown filter %d", (int)filter);
    if (pillow != RV_PILLOW_10 && pillow != RV_PILLOW_13) return rv_fail(err, "resize: unknown Pillow release %d", (int)pillow);
    if (rv_image_alloc(dst, w, h, 8, err) != 0) return rv_fail_wrap(err, "resize");
    const int sw = src->width, sh = src->height;
    if (w == sw && h == sh) {
        memcpy(dst->u8, src->u8, (size_t)w * h);
        return 0;
    }
    rs_plan px, py;
    rs_plan_make(&px, sw, w, filter);
    rs_plan_make(&py, sh, h, filter);
    if (vertical_first(pillow, sw, sh, w, h)) {
        /* the 8-bit rounding between the passes makes the order visible */
        uint8_t *tmp = rv_xmalloc((size_t)sw * h);
        rs_vertical(&py, src->u8, sw, 0, tmp, sw, h);
        if (w != sw) rs_horizontal(&px, tmp, sw, 0, h, dst->u8, w);
        else memcpy(dst->u8, tmp, (size_t)w * h);
        free(tmp);
    } else if (w != sw) {
        /* Horizontal first, over only the rows the vertical pass reads. */
        const int row0 = py.first[0];
        const int row1 = py.first[h - 1] + py.count[h - 1];
        if (h != sh) {
            uint8_t *tmp = rv_xmalloc((size_t)w * (size_t)(row1 - row0));
            rs_horizontal(&px, src->u8, sw, row0, row1 - row0, tmp, w);
            rs_vertical(&py, tmp, w, row0, dst->u8, w, h);
            free(tmp);
        } else {
            rs_horizontal(&px, src->u8, sw, 0, h, dst->u8, w);
        }
    } else {
        rs_vertical(&py, src->u8, sw, 0, dst->u8, w, h);
    }
    rs_plan_free(&px);
    rs_plan_free(&py);
    return 0;
}

int rv_image_resize(const rv_image *src, int w, int h, rv_resample filter, rv_image *dst, rv_err *err) {
    return rv_image_resize_as(src, w, h, filter, RV_PILLOW_DEFAULT, dst, err);
}
