#define _GNU_SOURCE
#include "io/shard_read.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "io/h5util.h"
#include "io/image.h"
#include "io/shard_write.h"
#include "io/utf8.h"

static char *index_path(const char *path) {
    if (rv_is_dir(path)) return rv_path_join(path, "index.h5");
    return rv_xstrdup(path);
}

void rv_shardset_close(rv_shardset *s) {
    if (!s) return;
    if (s->hid >= 0) rv_h5_close_file((hid_t)s->hid);
    free(s->path);
    free(s->tokenizer_hash);
    free(s->config_json);
    free(s->token_off);
    free(s->box_off);
    free(s->image);
    free(s->task);
    free(s->source);
    free(s->split);
    free(s->orig_off);
    free(s->orig_size);
    free(s->orig_codec);
    free(s);
}

/* Reads a 1-D dataset that must have exactly n rows. */
static int read_n(hid_t f, const char *name, hid_t mt, uint64_t n, void **out, const char *where, rv_err *err) {
    uint64_t rows;
    if (rv_h5_read_all(f, name, mt, out, &rows, NULL, where, err) != 0) return -1;
    if (rows != n) {
        free(*out);
        *out = NULL;
        return rv_fail(err, "%s: dataset %s has %llu rows, expected %llu; the file is inconsistent; re-run the pack phase",
                       where, name, (unsigned long long)rows, (unsigned long long)n);
    }
    return 0;
}

int rv_shardset_open(const char *path, const char *expect, rv_shardset **out, rv_err *err) {
    rv_shardset *s = rv_xcalloc(1, sizeof *s);
    s->path = index_path(path);
    s->hid = -1;
    const char *wh = s->path;
    hid_t f = rv_h5_open_ro(wh, err);
    if (f < 0) goto fail;
    s->hid = f;
    int64_t schema = 0, size[2], ns = 0, ni = 0, sh[2];
    if (rv_h5_attr_i64_get(f, "schema_version", &schema, 1, wh, err) != 0) goto fail;
    if (schema != RV_SHARD_SCHEMA) {
        rv_fail(err, "%s: shard schema version %lld, this program reads version %d%s; re-run the pack phase with this "
                     "version of radvlm-hpc", wh, (long long)schema, RV_SHARD_SCHEMA,
                schema == 1 ? " (version 1 recorded tokenizer_hash with a wrong FNV-1a offset basis)" : "");
        goto fail;
    }
    if (rv_h5_attr_str_get(f, "tokenizer_hash", &s->tokenizer_hash, wh, err) != 0) goto fail;
    if (expect && strcmp(expect, s->tokenizer_hash) != 0) {
        rv_fail(err, "%s: packed with tokenizer %s, but the model's tokenizer is %s; token ids would not match; re-run "
                     "the pack phase with pack.tokenizer set to the model's tokenizer.json", wh, s->tokenizer_hash,
                expect);
        goto fail;
    }
    if (rv_h5_attr_i64_get(f, "image_size", size, 2, wh, err) != 0 ||
        rv_h5_attr_i64_get(f, "num_samples", &ns, 1, wh, err) != 0 ||
        rv_h5_attr_i64_get(f, "num_images", &ni, 1, wh, err) != 0 ||
        rv_h5_attr_i64_get(f, "shard", sh, 2, wh, err) != 0 ||
        rv_h5_attr_str_get(f, "config", &s->config_json, wh, err) != 0)
        goto fail;
    s->height = (int)size[0];
    s->width = (int)size[1];
    s->nsamples = (uint64_t)ns;
    s->nimages = (uint64_t)ni;
    s->nshards = (int)sh[1];
    uint64_t n = s->nsamples;
    if (read_n(f, "/samples/token_offsets", H5T_NATIVE_INT64, n + 1, (void **)&s->token_off, wh, err) != 0 ||
        read_n(f, "/samples/box_offsets", H5T_NATIVE_INT64, n + 1, (void **)&s->box_off, wh, err) != 0 ||
        read_n(f, "/samples/image", H5T_NATIVE_INT64, n, (void **)&s->image, wh, err) != 0 ||
        read_n(f, "/samples/task", H5T_NATIVE_UINT8, n, (void **)&s->task, wh, err) != 0 ||
        read_n(f, "/samples/source", H5T_NATIVE_UINT8, n, (void **)&s->source, wh, err) != 0 ||
        read_n(f, "/samples/split", H5T_NATIVE_UINT8, n, (void **)&s->split, wh, err) != 0)
        goto fail;
    if (rv_shard_read_image_mode(f, &s->anyres, wh, err) != 0) goto fail;
    if (s->anyres) {
        uint64_t rows, cols;
        if (read_n(f, "/images/original_offsets", H5T_NATIVE_INT64, s->nimages + 1, (void **)&s->orig_off, wh, err) != 0 ||
            read_n(f, "/images/original_codec", H5T_NATIVE_UINT8, s->nimages, (void **)&s->orig_codec, wh, err) != 0)
            goto fail;
        if (rv_h5_read_all(f, "/images/original_size", H5T_NATIVE_INT64, (void **)&s->orig_size, &rows, &cols, wh, err) !=
            0)
            goto fail;
        if (rows != s->nimages || cols != 2) {
            rv_fail(err, "%s: /images/original_size is [%llu, %llu], expected [%llu, 2]; re-run the pack phase", wh,
                    (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)s->nimages);
            goto fail;
        }
        for (uint64_t r = 0; r < s->nimages; r++) {
            int64_t oh = s->orig_size[2 * r], ow = s->orig_size[2 * r + 1], nb = s->orig_off[r + 1] - s->orig_off[r];
            bool raw = s->orig_codec[r] == RV_ORIGINAL_RAW;
            if (oh <= 0 || ow <= 0 || oh > INT32_MAX / ow || s->orig_codec[r] > RV_ORIGINAL_JPEG || nb <= 0 ||
                (raw && nb != oh * ow)) {
                rv_fail(err, "%s: original image %llu: size %lldx%lld does not match its %lld stored bytes; run "
                             "`radvlm-hpc --phase pack --set pack.check=true` for a full report, then re-run the pack phase",
                        wh, (unsigned long long)r, (long long)oh, (long long)ow,
                        (long long)(s->orig_off[r + 1] - s->orig_off[r]));
                goto fail;
            }
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        if (s->token_off[i + 1] < s->token_off[i] || s->box_off[i + 1] < s->box_off[i] || s->image[i] < 0 ||
            (uint64_t)s->image[i] >= s->nimages) {
            rv_fail(err, "%s: sample %llu has inconsistent offsets or image row; run `radvlm-hpc --phase pack --set "
                         "pack.check=true` for a full report, then re-run the pack phase", wh, (unsigned long long)i);
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    rv_shardset_close(s);
    return -1;
}

int rv_shardset_tokens(const rv_shardset *s, uint64_t i, int32_t *ids, uint8_t *mask, rv_err *err) {
    if (i >= s->nsamples) return rv_fail(err, "%s: sample %llu out of range", s->path, (unsigned long long)i);
    uint64_t a = (uint64_t)s->token_off[i], n = (uint64_t)(s->token_off[i + 1] - s->token_off[i]);
    if (rv_h5_read_rows((hid_t)s->hid, "/samples/tokens", H5T_NATIVE_INT32, a, n, ids, s->path, err) != 0) return -1;
    if (mask && rv_h5_read_rows((hid_t)s->hid, "/samples/loss_mask", H5T_NATIVE_UINT8, a, n, mask, s->path, err) != 0)
        return -1;
    return 0;
}

int rv_shardset_image(const rv_shardset *s, uint64_t row, uint8_t *pixels, rv_err *err) {
    if (row >= s->nimages) return rv_fail(err, "%s: image %llu out of range", s->path, (unsigned long long)row);
    return rv_h5_read_rows((hid_t)s->hid, "/images/pixels", H5T_NATIVE_UINT8, row, 1, pixels, s->path, err);
}

int rv_shardset_original(const rv_shardset *s, uint64_t row, uint8_t **pixels, int *h, int *w, rv_err *err) {
    *pixels = NULL;
    if (!s->anyres)
        return rv_fail(err, "%s: no original-resolution images (packed with pack.image_mode=base); anyres tiles need "
                            "them: re-run the pack phase with pack.image_mode=anyres", s->path);
    if (row >= s->nimages) return rv_fail(err, "%s: image %llu out of range", s->path, (unsigned long long)row);
    uint64_t a = (uint64_t)s->orig_off[row], n = (uint64_t)(s->orig_off[row + 1] - s->orig_off[row]);
    uint8_t *px = rv_xmalloc(n ? (size_t)n : 1);
    if (rv_h5_read_rows((hid_t)s->hid, "/images/original", H5T_NATIVE_UINT8, a, n, px, s->path, err) != 0) {
        free(px);
        return -1;
    }
    const int oh = (int)s->orig_size[2 * row], ow = (int)s->orig_size[2 * row + 1];
    if (s->orig_codec[row] == RV_ORIGINAL_JPEG) {
        char where[64];
        snprintf(where, sizeof where, "original image %llu", (unsigned long long)row);
        rv_image img = {0};
        /* the stored size is the budget: a damaged shard cannot make the decoder allocate more */
        const long long budget = oh > 0 && ow > 0 ? (long long)oh * ow : 1;
        int rc = rv_jpeg_decode(where, px, (size_t)n, budget, &img, err);
        free(px);
        if (rc != 0) return rv_fail_wrap(err, "%s", s->path), -1;
        if (img.width != ow || img.height != oh || img.bits != 8) {
            const int dh = img.height, dw = img.width;
            rv_image_free(&img);
            return rv_fail(err, "%s: original image %llu decodes to %dx%d, stored size %dx%d; re-run the pack phase",
                           s->path, (unsigned long long)row, dh, dw, oh, ow);
        }
        px = img.u8;
    }
    *pixels = px;
    *h = oh;
    *w = ow;
    return 0;
}

int rv_shardset_boxes(const rv_shardset *s, uint64_t i, float **boxes, size_t *n, rv_err *err) {
    if (i >= s->nsamples) return rv_fail(err, "%s: sample %llu out of range", s->path, (unsigned long long)i);
    uint64_t a = (uint64_t)s->box_off[i], c = (uint64_t)(s->box_off[i + 1] - s->box_off[i]);
    float *b = rv_xmalloc((size_t)(c ? c : 1) * 4 * sizeof(float));
    if (rv_h5_read_rows((hid_t)s->hid, "/samples/boxes", H5T_NATIVE_FLOAT, a, c, b, s->path, err) != 0) {
        free(b);
        return -1;
    }
    *boxes = b;
    *n = (size_t)c;
    return 0;
}

int rv_shardset_text(const rv_shardset *s, uint64_t i, const char *which, char **out, rv_err *err) {
    if (i >= s->nsamples) return rv_fail(err, "%s: sample %llu out of range", s->path, (unsigned long long)i);
    char flat[64], offs[64];
    snprintf(flat, sizeof flat, "/samples/%s", which);
    snprintf(offs, sizeof offs, "/samples/%s_offsets", strcmp(which, "labels") == 0 ? "label" : which);
    int64_t o[2];
    if (rv_h5_read_rows((hid_t)s->hid, offs, H5T_NATIVE_INT64, i, 2, o, s->path, err) != 0) return -1;
    if (o[1] < o[0]) return rv_fail(err, "%s: %s offsets of sample %llu decrease", s->path, which, (unsigned long long)i);
    char *buf = rv_xmalloc((size_t)(o[1] - o[0]) + 1);
    if (rv_h5_read_rows((hid_t)s->hid, flat, H5T_NATIVE_UINT8, (uint64_t)o[0], (uint64_t)(o[1] - o[0]), buf, s->path,
                        err) != 0) {
        free(buf);
        return -1;
    }
    buf[o[1] - o[0]] = 0;
    *out = buf;
    return 0;
}

/* ---- integrity check ---- */

typedef struct checker {
    rv_sb *report;
    long problems;
} checker;

static void problem(checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(checker *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rv_sb_vprintf(c->report, fmt, ap);
    va_end(ap);
    rv_sb_putc(c->report, '\n');
    c->problems++;
}

/* Reads every row of a dataset in bounded pieces (checksums verified by HDF5); returns rows or -1. */
static int64_t read_through(checker *c, hid_t f, const char *path, const char *name) {
    rv_err e;
    uint64_t dims[3];
    int rank = rv_h5_shape(f, name, dims, path, &e);
    if (rank < 0) {
        problem(c, "%s", e.msg);
        return -1;
    }
    uint64_t rowbytes = dims[1] * dims[2] * 8, step = rowbytes ? (1u << 24) / rowbytes : 1;
    if (step < 1) step = 1;
    void *buf = rv_xmalloc((size_t)(step * rowbytes) + 8);
    hid_t mt = H5T_NATIVE_INT64;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t ft = d >= 0 ? H5Dget_type(d) : -1;
    if (ft >= 0 && H5Tget_class(ft) == H5T_FLOAT) mt = H5T_NATIVE_DOUBLE;
    if (ft >= 0) H5Tclose(ft);
    if (d >= 0) H5Dclose(d);
    int64_t rc = (int64_t)dims[0];
    for (uint64_t r = 0; r < dims[0]; r += step) {
        uint64_t n = dims[0] - r < step ? dims[0] - r : step;
        if (rv_h5_read_rows(f, name, mt, r, n, buf, path, &e) != 0) {
            problem(c, "%s", e.msg);
            rc = -1;
            break;
        }
    }
    free(buf);
    return rc;
}

/* CSR offsets: start at 0, never decrease, end at the flat array's length. */
static void check_offsets(checker *c, hid_t f, const char *path, const char *name, uint64_t nrows, uint64_t flat) {
    rv_err e;
    int64_t *o = NULL;
    uint64_t n;
    if (rv_h5_read_all(f, name, H5T_NATIVE_INT64, (void **)&o, &n, NULL, path, &e) != 0) {
        problem(c, "%s", e.msg);
        return;
    }
    if (n != nrows + 1) problem(c, "%s: %s has %llu entries, expected %llu", path, name, (unsigned long long)n,
                                (unsigned long long)(nrows + 1));
    else if (o[0] != 0 || (uint64_t)o[n - 1] != flat)
        problem(c, "%s: %s runs from %lld to %lld, expected 0 to %llu", path, name, (long long)o[0], (long long)o[n - 1],
                (unsigned long long)flat);
    else
        for (uint64_t i = 0; i + 1 < n; i++)
            if (o[i + 1] < o[i]) {
                problem(c, "%s: %s decreases at row %llu", path, name, (unsigned long long)i);
                break;
            }
    free(o);
}

/* The anyres datasets of a file marked image_mode=anyres: read through, offsets over the flat
 * bytes, one (height, width) per image, each image's byte count = height * width. */
static void check_anyres(checker *c, hid_t f, const char *path, uint64_t ni) {
    rv_err e;
    bool anyres = false;
    if (rv_shard_read_image_mode(f, &anyres, path, &e) != 0) {
        problem(c, "%s", e.msg);
        return;
    }
    if (!anyres) return;
    int64_t rows[4];
    for (size_t k = 0; k < rv_shard_anyres_ndsets; k++) rows[k] = read_through(c, f, path, rv_shard_anyres_dsets[k].name);
    if (rows[0] >= 0) check_offsets(c, f, path, "/images/original_offsets", ni, (uint64_t)rows[0]);
    int64_t *off = NULL, *size = NULL;
    uint8_t *codec = NULL;
    uint64_t no = 0, ns = 0, cols = 0, nc = 0;
    if (rows[1] >= 0 && rows[2] >= 0 && rows[3] >= 0 &&
        rv_h5_read_all(f, "/images/original_offsets", H5T_NATIVE_INT64, (void **)&off, &no, NULL, path, &e) == 0 &&
        rv_h5_read_all(f, "/images/original_size", H5T_NATIVE_INT64, (void **)&size, &ns, &cols, path, &e) == 0 &&
        rv_h5_read_all(f, "/images/original_codec", H5T_NATIVE_UINT8, (void **)&codec, &nc, NULL, path, &e) == 0) {
        if (ns != ni || cols != 2 || nc != ni)
            problem(c, "%s: /images/original_size is [%llu, %llu] and /images/original_codec [%llu], num_images is %llu",
                    path, (unsigned long long)ns, (unsigned long long)cols, (unsigned long long)nc,
                    (unsigned long long)ni);
        else if (no == ni + 1)
            for (uint64_t i = 0; i < ni; i++) {
                int64_t nb = off[i + 1] - off[i];
                /* raw pixels are exactly height*width bytes; a JPEG's size is checked when it is decoded */
                if (size[2 * i] <= 0 || size[2 * i + 1] <= 0 || codec[i] > RV_ORIGINAL_JPEG || nb <= 0 ||
                    (codec[i] == RV_ORIGINAL_RAW && nb != size[2 * i] * size[2 * i + 1])) {
                    problem(c, "%s: original image %llu (%s) is %lldx%lld but has %lld bytes", path,
                            (unsigned long long)i, codec[i] <= RV_ORIGINAL_JPEG ? rv_original_codec_names[codec[i]] : "?",
                            (long long)size[2 * i], (long long)size[2 * i + 1], (long long)nb);
                    break;
                }
            }
    } else if (rows[1] >= 0 && rows[2] >= 0 && rows[3] >= 0) {
        problem(c, "%s", e.msg);
    }
    free(off);
    free(size);
    free(codec);
}

/* ---- value checks (one shard file; the index's virtual datasets are the shards' rows) ---- */

#define VALUE_REPORT_MAX 5               /* problems of one kind listed per file before only counting */
#define VALUE_BATCH ((uint64_t)1 << 22)  /* flat elements read at once (a larger row is read whole) */

/* Problems of one kind in one dataset of one file. */
typedef struct vkind {
    checker *c;
    const char *path, *dset;
    uint64_t n;
} vkind;

static void vbad(vkind *k, const char *row_kind, uint64_t row, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void vbad(vkind *k, const char *row_kind, uint64_t row, const char *fmt, ...) {
    k->n++;
    k->c->problems++;
    if (k->n > VALUE_REPORT_MAX) return;
    rv_sb_printf(k->c->report, "%s: %s %llu: %s: ", k->path, row_kind, (unsigned long long)row, k->dset);
    va_list ap;
    va_start(ap, fmt);
    rv_sb_vprintf(k->c->report, fmt, ap);
    va_end(ap);
    rv_sb_putc(k->c->report, '\n');
}

static void vdone(const vkind *k) {
    if (k->n > VALUE_REPORT_MAX)
        rv_sb_printf(k->c->report, "%s: %s: %llu more problem(s) like the above (%llu in all)\n", k->path, k->dset,
                     (unsigned long long)(k->n - VALUE_REPORT_MAX), (unsigned long long)k->n);
}

/* CSR offsets with nrows + 1 entries running from 0 to the flat dataset's rows, never decreasing;
 * NULL when they are not (the structural check reports why). */
static int64_t *sane_offsets(hid_t f, const char *path, const char *offs, const char *flat, uint64_t nrows) {
    rv_err e;
    uint64_t dims[3], n = 0;
    int64_t *o = NULL;
    if (rv_h5_shape(f, flat, dims, path, &e) < 0 ||
        rv_h5_read_all(f, offs, H5T_NATIVE_INT64, (void **)&o, &n, NULL, path, &e) != 0)
        return NULL;
    bool ok = n == nrows + 1 && o[0] == 0 && (uint64_t)o[n - 1] == dims[0];
    for (uint64_t i = 0; ok && i + 1 < n; i++) ok = o[i + 1] >= o[i];
    if (!ok) {
        free(o);
        return NULL;
    }
    return o;
}

/* Rows [a, end) whose flat ranges hold at most VALUE_BATCH elements together (at least row a). */
static uint64_t batch_end(const int64_t *off, uint64_t a, uint64_t nrows) {
    uint64_t b = a + 1;
    while (b < nrows && (uint64_t)(off[b + 1] - off[a]) <= VALUE_BATCH) b++;
    return b;
}

/* A per-sample enum (task, source, split): every value one of the enum's members 0 .. n-1. */
static void check_enum(checker *c, hid_t f, const char *path, const char *name) {
    rv_err e;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return; /* reported by the structural check */
    hid_t ft = H5Dget_type(d);
    hid_t mt = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_ASCEND) : -1;
    int nm = ft >= 0 && H5Tget_class(ft) == H5T_ENUM ? H5Tget_nmembers(ft) : -1;
    size_t size = mt >= 0 ? H5Tget_size(mt) : 0;
    if (ft >= 0) H5Tclose(ft);
    H5Dclose(d);
    if (nm < 0 || size != 1) {
        problem(c, "%s: %s is not a one-byte HDF5 enum", path, name);
        if (mt >= 0) H5Tclose(mt);
        return;
    }
    uint8_t *v = NULL;
    uint64_t n = 0;
    /* read with the file's own enum type: the stored bytes as they are, member or not */
    int rc = rv_h5_read_all(f, name, mt, (void **)&v, &n, NULL, path, &e);
    H5Tclose(mt);
    if (rc != 0) return; /* reported by the structural check */
    vkind k = {c, path, name, 0};
    for (uint64_t i = 0; i < n; i++)
        if (v[i] >= nm) vbad(&k, "sample", i, "value %u is not one of the enum's %d members", v[i], nm);
    vdone(&k);
    free(v);
}

/* Tokens and loss mask, sample by sample: ids within the vocabulary or the image placeholder,
 * mask values 0/1, and (pack's rule) one placeholder per sample. */
static void check_tokens(checker *c, hid_t f, const char *path, uint64_t ns, const rv_shards_check_opts *o) {
    uint64_t dims[3];
    rv_err e;
    int64_t *off = sane_offsets(f, path, "/samples/token_offsets", "/samples/tokens", ns);
    if (!off) return;
    if (rv_h5_shape(f, "/samples/loss_mask", dims, path, &e) < 0 || dims[0] != (uint64_t)off[ns]) {
        free(off); /* tokens and mask differ in length: reported by the structural check */
        return;
    }
    char range[96];
    if (o->n_vocab > 0)
        snprintf(range, sizeof range, "ids 0 .. %lld of the tokenizer, or %d for <image>", (long long)o->n_vocab - 1,
                 RV_SHARD_IMAGE_TOKEN);
    else
        snprintf(range, sizeof range, "ids >= 0, or %d for <image>", RV_SHARD_IMAGE_TOKEN);
    vkind kid = {c, path, "/samples/tokens", 0}, kmask = {c, path, "/samples/loss_mask", 0},
          kimg = {c, path, "/samples/tokens (<image> placeholders)", 0},
          klen = {c, path, "/samples/token_offsets (length)", 0};
    int32_t *ids = NULL;
    uint8_t *mask = NULL;
    size_t cap = 0;
    for (uint64_t a = 0, b; a < ns; a = b) {
        b = batch_end(off, a, ns);
        uint64_t first = (uint64_t)off[a], cnt = (uint64_t)(off[b] - off[a]);
        if (cnt > cap) {
            cap = (size_t)cnt;
            ids = rv_xrealloc(ids, cap * sizeof *ids);
            mask = rv_xrealloc(mask, cap);
        }
        if (cnt && (rv_h5_read_rows(f, "/samples/tokens", H5T_NATIVE_INT32, first, cnt, ids, path, &e) != 0 ||
                    rv_h5_read_rows(f, "/samples/loss_mask", H5T_NATIVE_UINT8, first, cnt, mask, path, &e) != 0)) {
            problem(c, "%s", e.msg);
            break;
        }
        for (uint64_t s = a; s < b; s++) {
            uint64_t nimg = 0;
            bool bad_id = false, bad_mask = false;
            for (uint64_t j = (uint64_t)off[s]; j < (uint64_t)off[s + 1]; j++) {
                const int32_t id = ids[j - first];
                const unsigned m = mask[j - first];
                const unsigned long long pos = j - (uint64_t)off[s];
                if (!bad_mask && m > 1) {
                    vbad(&kmask, "sample", s, "loss-mask value %u at position %llu (must be 0 or 1)", m, pos);
                    bad_mask = true;
                }
                if (id == RV_SHARD_IMAGE_TOKEN) { /* the loader masks its image rows whatever is stored */
                    nimg++;
                    continue;
                }
                if (!bad_id && (id < 0 || (o->n_vocab > 0 && id >= o->n_vocab))) {
                    vbad(&kid, "sample", s, "token id %d at position %llu is outside the vocabulary (%s)", (int)id, pos,
                         range);
                    bad_id = true;
                }
            }
            const uint64_t len = (uint64_t)(off[s + 1] - off[s]);
            if (o->max_tokens > 0 && len > (uint64_t)o->max_tokens)
                vbad(&klen, "sample", s, "%llu tokens, more than pack.max_tokens = %lld", (unsigned long long)len,
                     (long long)o->max_tokens);
            if (o->one_image_token && nimg != 1)
                vbad(&kimg, "sample", s, "%llu <image> placeholders (%d); a sample holds exactly one for its image",
                     (unsigned long long)nimg, RV_SHARD_IMAGE_TOKEN);
        }
    }
    vdone(&kid);
    vdone(&kmask);
    vdone(&kimg);
    vdone(&klen);
    free(ids);
    free(mask);
    free(off);
}

/* Boxes: every coordinate finite (NaN or inf would poison the IoU scores and the box text). */
static void check_boxes(checker *c, hid_t f, const char *path, uint64_t ns) {
    rv_err e;
    int64_t *off = sane_offsets(f, path, "/samples/box_offsets", "/samples/boxes", ns);
    if (!off) return;
    vkind k = {c, path, "/samples/boxes", 0};
    float *bx = NULL;
    size_t cap = 0;
    for (uint64_t a = 0, b; a < ns; a = b) {
        b = batch_end(off, a, ns);
        uint64_t first = (uint64_t)off[a], cnt = (uint64_t)(off[b] - off[a]);
        if (cnt > cap) {
            cap = (size_t)cnt;
            bx = rv_xrealloc(bx, cap * 4 * sizeof *bx);
        }
        if (cnt && rv_h5_read_rows(f, "/samples/boxes", H5T_NATIVE_FLOAT, first, cnt, bx, path, &e) != 0) {
            problem(c, "%s", e.msg);
            break;
        }
        for (uint64_t s = a; s < b; s++)
            for (uint64_t j = (uint64_t)off[s]; j < (uint64_t)off[s + 1]; j++) {
                const float *q = bx + 4 * (j - first);
                if (isfinite(q[0]) && isfinite(q[1]) && isfinite(q[2]) && isfinite(q[3])) continue;
                vbad(&k, "sample", s, "box %llu is [%g, %g, %g, %g]: a coordinate is not finite",
                     (unsigned long long)(j - (uint64_t)off[s]), (double)q[0], (double)q[1], (double)q[2], (double)q[3]);
                break;
            }
    }
    vdone(&k);
    free(bx);
    free(off);
}

/* A CSR text column: every row valid UTF-8 without NUL (a NUL would cut the string short on read). */
static void check_text(checker *c, hid_t f, const char *path, const char *flat, const char *offs, uint64_t nrows,
                       const char *row_kind) {
    rv_err e;
    int64_t *off = sane_offsets(f, path, offs, flat, nrows);
    if (!off) return;
    vkind k = {c, path, flat, 0};
    char *buf = NULL;
    size_t cap = 0;
    for (uint64_t a = 0, b; a < nrows; a = b) {
        b = batch_end(off, a, nrows);
        uint64_t first = (uint64_t)off[a], cnt = (uint64_t)(off[b] - off[a]);
        if (cnt > cap) {
            cap = (size_t)cnt;
            buf = rv_xrealloc(buf, cap);
        }
        if (cnt && rv_h5_read_rows(f, flat, H5T_NATIVE_UINT8, first, cnt, buf, path, &e) != 0) {
            problem(c, "%s", e.msg);
            break;
        }
        for (uint64_t r = a; r < b; r++) {
            size_t len = (size_t)(off[r + 1] - off[r]);
            if (len == 0) continue; /* an empty string is valid (and buf may still be NULL) */
            const char *t = buf + ((uint64_t)off[r] - first);
            const char *nul = memchr(t, 0, len);
            size_t bad = rv_utf8_first_invalid(t, len);
            if (nul) vbad(&k, row_kind, r, "a NUL byte at byte %zu", (size_t)(nul - t));
            else if (bad < len) vbad(&k, row_kind, r, "not valid UTF-8 at byte %zu", bad);
        }
    }
    vdone(&k);
    free(buf);
    free(off);
}

static void check_values(checker *c, hid_t f, const char *path, uint64_t ns, uint64_t ni,
                         const rv_shards_check_opts *o) {
    check_enum(c, f, path, "/samples/task");
    check_enum(c, f, path, "/samples/source");
    check_enum(c, f, path, "/samples/split");
    check_tokens(c, f, path, ns, o);
    check_boxes(c, f, path, ns);
    check_text(c, f, path, "/samples/text", "/samples/text_offsets", ns, "sample");
    check_text(c, f, path, "/samples/id", "/samples/id_offsets", ns, "sample");
    check_text(c, f, path, "/samples/labels", "/samples/label_offsets", ns, "sample");
    check_text(c, f, path, "/images/path", "/images/path_offsets", ni, "image");
}

/* Everything in one file (a shard or the index). Returns its (samples, images) or -1s. */
static void check_file(checker *c, const char *path, int64_t counts[2], char **hash, int64_t size[2],
                       const rv_shards_check_opts *values) {
    rv_err e;
    counts[0] = counts[1] = -1;
    hid_t f = rv_h5_open_ro(path, &e);
    if (f < 0) {
        problem(c, "%s", e.msg);
        return;
    }
    int64_t schema = 0;
    if (rv_h5_attr_i64_get(f, "schema_version", &schema, 1, path, &e) != 0 ||
        rv_h5_attr_str_get(f, "tokenizer_hash", hash, path, &e) != 0 ||
        rv_h5_attr_i64_get(f, "image_size", size, 2, path, &e) != 0 ||
        rv_h5_attr_i64_get(f, "num_samples", &counts[0], 1, path, &e) != 0 ||
        rv_h5_attr_i64_get(f, "num_images", &counts[1], 1, path, &e) != 0) {
        problem(c, "%s", e.msg);
        rv_h5_close_file(f);
        return;
    }
    if (schema != RV_SHARD_SCHEMA)
        problem(c, "%s: schema version %lld (expected %d); re-run the pack phase", path, (long long)schema, RV_SHARD_SCHEMA);
    check_anyres(c, f, path, (uint64_t)counts[1]);
    int64_t rows[32];
    for (size_t k = 0; k < rv_shard_ndsets; k++) rows[k] = read_through(c, f, path, rv_shard_dsets[k].name);
    uint64_t ns = (uint64_t)counts[0], ni = (uint64_t)counts[1];
    for (size_t k = 0; k < rv_shard_ndsets; k++) {
        const char *nm = rv_shard_dsets[k].name;
        if (rows[k] < 0) continue;
        bool per_sample = strncmp(nm, "/samples/", 9) == 0 && !rv_shard_dsets[k].offsets_of &&
                          (strstr(nm, "task") || strstr(nm, "source") || strstr(nm, "split") || strstr(nm, "image"));
        if (per_sample && (uint64_t)rows[k] != ns)
            problem(c, "%s: %s has %lld rows, num_samples is %llu", path, nm, (long long)rows[k], (unsigned long long)ns);
        if (strcmp(nm, "/images/pixels") == 0 && (uint64_t)rows[k] != ni)
            problem(c, "%s: %s has %lld images, num_images is %llu", path, nm, (long long)rows[k], (unsigned long long)ni);
        if (rv_shard_dsets[k].offsets_of) {
            size_t kf = 0;
            while (kf < rv_shard_ndsets && strcmp(rv_shard_dsets[kf].name, rv_shard_dsets[k].offsets_of)) kf++;
            uint64_t nrows = strncmp(nm, "/images/", 8) == 0 ? ni : ns;
            if (kf < rv_shard_ndsets && rows[kf] >= 0) check_offsets(c, f, path, nm, nrows, (uint64_t)rows[kf]);
        }
    }
    size_t kt = 0, km = 0;
    while (strcmp(rv_shard_dsets[kt].name, "/samples/tokens")) kt++;
    while (strcmp(rv_shard_dsets[km].name, "/samples/loss_mask")) km++;
    if (rows[kt] >= 0 && rows[km] >= 0 && rows[kt] != rows[km])
        problem(c, "%s: %lld tokens but %lld loss-mask entries", path, (long long)rows[kt], (long long)rows[km]);
    int64_t *img = NULL;
    uint64_t n;
    if (rv_h5_read_all(f, "/samples/image", H5T_NATIVE_INT64, (void **)&img, &n, NULL, path, &e) == 0) {
        for (uint64_t i = 0; i < n; i++)
            if (img[i] < 0 || (uint64_t)img[i] >= ni) {
                problem(c, "%s: sample %llu refers to image %lld of %llu", path, (unsigned long long)i, (long long)img[i],
                        (unsigned long long)ni);
                break;
            }
        free(img);
    }
    if (values && counts[0] >= 0 && counts[1] >= 0) check_values(c, f, path, ns, ni, values);
    rv_h5_close_file(f);
}

long rv_shards_check(const char *dir, rv_sb *report, rv_err *err) {
    const rv_shards_check_opts plain = {0, false, 0};
    return rv_shards_check_with(dir, &plain, report, err);
}

long rv_shards_check_with(const char *dir, const rv_shards_check_opts *opts, rv_sb *report, rv_err *err) {
    checker c = {report, 0};
    char *ipath = rv_path_join(dir, "index.h5");
    if (!rv_is_dir(dir)) {
        free(ipath);
        return rv_fail(err, "%s: not a directory; pass the shard directory (pack.out, default RUN/shards)", dir);
    }
    /* The index names the shard count; without it, look at what is there. */
    rv_err e;
    int nshards = -1;
    hid_t f = rv_h5_open_ro(ipath, &e);
    if (f < 0) problem(&c, "%s", e.msg);
    else {
        int64_t sh[2];
        if (rv_h5_attr_i64_get(f, "shard", sh, 2, ipath, &e) == 0) nshards = (int)sh[1];
        else problem(&c, "%s", e.msg);
        rv_h5_close_file(f);
    }
    char **names = NULL;
    size_t nn = 0;
    if (rv_list_dir(dir, &names, &nn, err) != 0) {
        free(ipath);
        return -1;
    }
    for (size_t i = 0; i < nn; i++) {
        int r, n;
        char tail[8] = "";
        if (sscanf(names[i], "shard-%5d-of-%5d.h5%7s", &r, &n, tail) >= 2) {
            if (tail[0]) problem(&c, "%s/%s: unfinished shard (temporary file of a pack that did not complete)", dir, names[i]);
            else if (nshards < 0) nshards = n;
            else if (n != nshards) problem(&c, "%s/%s: belongs to a pack with %d shards, the index has %d", dir, names[i], n, nshards);
        }
    }
    rv_free_strv(names, nn);
    if (nshards < 1) {
        problem(&c, "%s: no shards found", dir);
        free(ipath);
        return c.problems;
    }
    int64_t tot[2] = {0, 0}, size0[2] = {-1, -1};
    char *hash0 = NULL;
    for (int s = 0; s < nshards; s++) {
        char *p = rv_shard_path(dir, s, nshards);
        if (!rv_is_file(p)) problem(&c, "%s: missing", p);
        else {
            int64_t cnt[2], size[2] = {0, 0};
            char *hash = NULL;
            check_file(&c, p, cnt, &hash, size, opts);
            if (cnt[0] >= 0) { tot[0] += cnt[0]; tot[1] += cnt[1]; }
            if (hash) {
                if (!hash0) { hash0 = hash; size0[0] = size[0]; size0[1] = size[1]; hash = NULL; }
                else if (strcmp(hash, hash0) || size[0] != size0[0] || size[1] != size0[1])
                    problem(&c, "%s: tokenizer hash or image size differs from shard 0", p);
            }
            free(hash);
        }
        free(p);
    }
    if (rv_is_file(ipath)) {
        int64_t cnt[2], size[2] = {0, 0};
        char *hash = NULL;
        check_file(&c, ipath, cnt, &hash, size, NULL);
        if (cnt[0] >= 0 && (cnt[0] != tot[0] || cnt[1] != tot[1]))
            problem(&c, "%s: counts %lld samples / %lld images, the shards hold %lld / %lld", ipath, (long long)cnt[0],
                    (long long)cnt[1], (long long)tot[0], (long long)tot[1]);
        if (hash && hash0 && strcmp(hash, hash0)) problem(&c, "%s: tokenizer hash differs from the shards", ipath);
        free(hash);
    }
    free(hash0);
    free(ipath);
    return c.problems;
}

/* The digest is FNV-1a 64 with this seed instead of FNV's offset basis: the seed is the one the
 * digest has always used, so digests printed by earlier versions stay comparable. */
#define SHARDS_DIGEST_SEED 1469598103934665603ull

static void fnv(uint64_t *h, const void *p, size_t n) { *h = rv_fnv1a64_update(*h, p, n); }

int rv_shards_digest(const char *dir, char out[17], rv_err *err) {
    char *ipath = index_path(dir);
    hid_t f = rv_h5_open_ro(ipath, err);
    if (f < 0) {
        free(ipath);
        return -1;
    }
    uint64_t h = SHARDS_DIGEST_SEED;
    bool anyres = false;
    int rc = rv_shard_read_image_mode(f, &anyres, ipath, err);
    size_t nd = rv_shard_ndsets + (anyres ? rv_shard_anyres_ndsets : 0); /* base sets: the digest is unchanged */
    for (size_t k = 0; k < nd && rc == 0; k++) {
        const char *nm = k < rv_shard_ndsets ? rv_shard_dsets[k].name : rv_shard_anyres_dsets[k - rv_shard_ndsets].name;
        uint64_t dims[3];
        int rank = rv_h5_shape(f, nm, dims, ipath, err);
        if (rank < 0) { rc = -1; break; }
        fnv(&h, nm, strlen(nm));
        fnv(&h, dims, sizeof dims);
        hid_t d = H5Dopen2(f, nm, H5P_DEFAULT);
        hid_t ft = H5Dget_type(d);
        hid_t mt = H5Tget_native_type(ft, H5T_DIR_ASCEND);
        size_t rowbytes = H5Tget_size(mt) * dims[1] * dims[2];
        H5Tclose(ft);
        H5Dclose(d);
        uint64_t step = (1u << 24) / (rowbytes ? rowbytes : 1);
        if (step < 1) step = 1;
        unsigned char *buf = rv_xmalloc(rowbytes * step + 1);
        for (uint64_t r = 0; r < dims[0] && rc == 0; r += step) {
            uint64_t n = dims[0] - r < step ? dims[0] - r : step;
            if (rv_h5_read_rows(f, nm, mt, r, n, buf, ipath, err) != 0) rc = -1;
            else fnv(&h, buf, rowbytes * n);
        }
        free(buf);
        H5Tclose(mt);
    }
    rv_h5_close_file(f);
    free(ipath);
    if (rc == 0) snprintf(out, 17, "%016llx", (unsigned long long)h);
    return rc;
}
