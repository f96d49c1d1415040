/* PNG through libpng: 8/16-bit gray in memory; other colour types are converted to gray.
 * libpng reports errors by longjmp; the handlers below keep its message for rv_err. */
#include "io/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"

typedef struct png_errctx {
    char msg[256];
} png_errctx;

static void png_err_fn(png_structp p, png_const_charp msg) {
    png_errctx *e = png_get_error_ptr(p);
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(p, 1);
}

static void png_warn_fn(png_structp p, png_const_charp msg) {
    (void)p;
    (void)msg;
}

/* The file's bytes, read by libpng through png_mem_read. */
typedef struct png_mem {
    const unsigned char *data;
    size_t len, pos;
} png_mem;

static void png_mem_read(png_structp p, png_bytep out, size_t n) {
    png_mem *m = png_get_io_ptr(p);
    if (n > m->len - m->pos) png_error(p, "unexpected end of file");
    memcpy(out, m->data + m->pos, n);
    m->pos += n;
}

/* Everything touched after setjmp lives in this struct (no volatile locals needed). */
typedef struct png_read_state {
    png_mem mem;
    png_structp png;
    png_infop info;
    png_bytep *rows;
} png_read_state;

/* Ancillary chunks (iCCP, zTXt, ...) may decompress to at most this much: a text bomb is an error. */
#define PNG_CHUNK_MAX ((png_alloc_size_t)8 << 20)

static int png_read_impl(const char *path, png_read_state *st, png_errctx *ec, long long max_pixels, rv_image *img,
                         rv_err *err) {
    if (st->mem.len < 8 || png_sig_cmp(st->mem.data, 0, 8) != 0)
        return rv_fail(err, "%s: not a PNG file (bad signature); check the file", path);
    st->mem.pos = 8;
    st->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ec, png_err_fn, png_warn_fn);
    if (!st->png) return rv_fail(err, "%s: cannot initialise libpng", path);
    st->info = png_create_info_struct(st->png);
    if (!st->info) return rv_fail(err, "%s: cannot initialise libpng", path);
    if (setjmp(png_jmpbuf(st->png))) {
        rv_image_free(img);
        return rv_fail(err, "%s: PNG decoding failed (%s); the file is truncated or damaged", path, ec->msg);
    }
    png_set_read_fn(st->png, &st->mem, png_mem_read);
    png_set_sig_bytes(st->png, 8);
    png_set_user_limits(st->png, 65535, 65535);
    png_set_chunk_malloc_max(st->png, PNG_CHUNK_MAX);
    png_read_info(st->png, st->info);
    png_uint_32 w = png_get_image_width(st->png, st->info);
    png_uint_32 h = png_get_image_height(st->png, st->info);
    /* the budget, from IHDR, before libpng or we allocate a row */
    if (rv_image_check_pixels(path, "PNG", (long long)w, (long long)h, 1, max_pixels, err) != 0) return -1;
    int depth = png_get_bit_depth(st->png, st->info);
    int ct = png_get_color_type(st->png, st->info);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st->png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(st->png);
    if (png_get_valid(st->png, st->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(st->png);
    if (ct & PNG_COLOR_MASK_COLOR) png_set_rgb_to_gray_fixed(st->png, 1, -1, -1);
    png_set_strip_alpha(st->png);
    int bits = depth == 16 ? 16 : 8;
    if (bits == 16) png_set_swap(st->png); /* PNG is big-endian; our u16 is host order */
    png_read_update_info(st->png, st->info);
    if (w == 0 || h == 0 || w > 65535 || h > 65535)
        return rv_fail(err, "%s: PNG size %ux%u is out of range", path, (unsigned)w, (unsigned)h);
    if (png_get_channels(st->png, st->info) != 1)
        return rv_fail(err, "%s: PNG could not be converted to one gray channel", path);
    if (rv_image_alloc(img, (int)w, (int)h, bits, err) != 0) return rv_fail_wrap(err, "%s", path);
    st->rows = rv_xmalloc(sizeof(png_bytep) * h);
    for (png_uint_32 y = 0; y < h; y++)
        st->rows[y] = bits == 8 ? (png_bytep)(img->u8 + (size_t)y * w) : (png_bytep)(img->u16 + (size_t)y * w);
    png_read_image(st->png, st->rows);
    png_read_end(st->png, NULL);
    return 0;
}

int rv_png_decode(const char *where, const unsigned char *data, size_t len, long long max_pixels, rv_image *img,
                  rv_err *err) {
    memset(img, 0, sizeof *img);
    png_read_state st = {.mem = {.data = data, .len = len}};
    png_errctx ec = {{0}};
    int rc = png_read_impl(where, &st, &ec, max_pixels, img, err);
    if (st.png) png_destroy_read_struct(&st.png, st.info ? &st.info : NULL, NULL);
    free(st.rows);
    return rc;
}

int rv_png_read(const char *path, rv_image *img, rv_err *err) {
    memset(img, 0, sizeof *img);
    char *data = NULL;
    size_t len = 0;
    if (rv_read_file(path, &data, &len, err) != 0) return rv_fail_wrap(err, "cannot read the PNG image");
    int rc = rv_png_decode(path, (const unsigned char *)data, len, RV_IMAGE_MAX_PIXELS_DEFAULT, img, err);
    free(data);
    return rc;
}

static void png_sb_write(png_structp p, png_bytep data, size_t n) {
    rv_sb *b = png_get_io_ptr(p);
    rv_sb_append(b, data, n);
}

static void png_sb_flush(png_structp p) { (void)p; }

typedef struct png_write_state {
    png_structp png;
    png_infop info;
    png_bytep *rows;
    rv_sb buf;
} png_write_state;

/* color = PNG_COLOR_TYPE_GRAY (img: 8/16-bit grey) or PNG_COLOR_TYPE_RGB (img->u8 holds
 * width*height RGB triplets, bits 8) */
static int png_encode(const char *path, const rv_image *img, int color, png_write_state *st, png_errctx *ec,
                      rv_err *err) {
    st->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ec, png_err_fn, png_warn_fn);
    if (!st->png) return rv_fail(err, "%s: cannot initialise libpng", path);
    st->info = png_create_info_struct(st->png);
    if (!st->info) return rv_fail(err, "%s: cannot initialise libpng", path);
    if (setjmp(png_jmpbuf(st->png))) return rv_fail(err, "%s: PNG encoding failed (%s)", path, ec->msg);
    png_set_write_fn(st->png, &st->buf, png_sb_write, png_sb_flush);
    png_set_IHDR(st->png, st->info, (png_uint_32)img->width, (png_uint_32)img->height, img->bits,
                 color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(st->png, 6);
    png_write_info(st->png, st->info);
    if (img->bits == 16) png_set_swap(st->png);
    st->rows = rv_xmalloc(sizeof(png_bytep) * (size_t)img->height);
    size_t chans = color == PNG_COLOR_TYPE_RGB ? 3 : 1;
    for (int y = 0; y < img->height; y++)
        st->rows[y] = img->bits == 8 ? (png_bytep)(img->u8 + (size_t)y * img->width * chans)
                                     : (png_bytep)(img->u16 + (size_t)y * img->width);
    png_write_image(st->png, st->rows);
    png_write_end(st->png, NULL);
    return 0;
}

int rv_png_write(const char *path, const rv_image *img, rv_err *err) {
    if ((img->bits != 8 || !img->u8) && (img->bits != 16 || !img->u16))
        return rv_fail(err, "%s: PNG output needs an 8- or 16-bit image with pixels", path);
    png_write_state st = {0};
    png_errctx ec = {{0}};
    rv_sb_init(&st.buf);
    int rc = png_encode(path, img, PNG_COLOR_TYPE_GRAY, &st, &ec, err);
    if (st.png) png_destroy_write_struct(&st.png, st.info ? &st.info : NULL);
    if (rc == 0) rc = rv_write_atomic(path, st.buf.s, st.buf.len, err);
    free(st.rows);
    rv_sb_free(&st.buf);
    return rc;
}

int rv_png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, rv_err *err) {
    if (!rgb || width < 1 || height < 1) return rv_fail(err, "%s: PNG output needs an RGB image with pixels", path);
    rv_image img = {.width = width, .height = height, .bits = 8, .u8 = (uint8_t *)rgb};
    png_write_state st = {0};
    png_errctx ec = {{0}};
    rv_sb_init(&st.buf);
    int rc = png_encode(path, &img, PNG_COLOR_TYPE_RGB, &st, &ec, err);
    if (st.png) png_destroy_write_struct(&st.png, st.info ? &st.info : NULL);
    if (rc == 0) rc = rv_write_atomic(path, st.buf.s, st.buf.len, err);
    free(st.rows);
    rv_sb_free(&st.buf);
    return rc;
}
