#define _GNU_SOURCE
#include "io/shard_write.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/temp_files.h"
#include "core/strbuf.h"
#include "io/h5util.h"

const rv_shard_dset rv_shard_dsets[] = {
    {"/images/pixels", NULL},         {"/images/path", NULL},
    {"/images/path_offsets", "/images/path"},
    {"/samples/task", NULL},          {"/samples/source", NULL},
    {"/samples/split", NULL},         {"/samples/image", NULL},
    {"/samples/tokens", NULL},        {"/samples/loss_mask", NULL},
    {"/samples/token_offsets", "/samples/tokens"},
    {"/samples/boxes", NULL},         {"/samples/box_offsets", "/samples/boxes"},
    {"/samples/text", NULL},          {"/samples/text_offsets", "/samples/text"},
    {"/samples/id", NULL},            {"/samples/id_offsets", "/samples/id"},
    {"/samples/labels", NULL},        {"/samples/label_offsets", "/samples/labels"},
};
const size_t rv_shard_ndsets = sizeof rv_shard_dsets / sizeof rv_shard_dsets[0];

const rv_shard_dset rv_shard_anyres_dsets[] = {
    {"/images/original", NULL},
    {"/images/original_offsets", "/images/original"},
    {"/images/original_size", NULL},
    {"/images/original_codec", NULL},
};
const char *const rv_original_codec_names[2] = {"raw", "jpeg"};
const size_t rv_shard_anyres_ndsets = sizeof rv_shard_anyres_dsets / sizeof rv_shard_anyres_dsets[0];

/* /images/original chunk bytes: a read checksums every chunk the image touches, so the waste at
 * the two ends stays small next to a JPEG (~1 MB for a CXR, 20-150 KB on the demo data). No
 * compression filter: JPEG bytes do not deflate, and deflating raw pixels in the one writer
 * thread tripled pack's image loop for a 1.4x smaller file (docs/formats.md "Anyres images"). */
#define ORIGINAL_CHUNK ((hsize_t)1 << 16)

#define CHUNK_ROWS 65536

/* Growable array of fixed-size elements. */
typedef struct vec {
    unsigned char *p;
    size_t n, cap, esz;
} vec;

static void vec_init(vec *v, size_t esz) { *v = (vec){NULL, 0, 0, esz}; }
static void vec_push(vec *v, const void *x, size_t count) {
    if (v->n + count > v->cap) {
        size_t c = v->cap ? v->cap : 256;
        while (c < v->n + count) c *= 2;
        v->p = rv_xrealloc(v->p, c * v->esz);
        v->cap = c;
    }
    if (count) memcpy(v->p + v->n * v->esz, x, count * v->esz);
    v->n += count;
}
static void vec_free(vec *v) { free(v->p); v->p = NULL; v->n = v->cap = 0; }

/* A CSR byte column: bytes + offsets (n+1, starting with 0). */
typedef struct csr {
    vec bytes, off;
} csr;
static void csr_init(csr *c) {
    vec_init(&c->bytes, 1);
    vec_init(&c->off, sizeof(int64_t));
    int64_t z = 0;
    vec_push(&c->off, &z, 1);
}
static void csr_push(csr *c, const char *s) {
    size_t n = s ? strlen(s) : 0;
    vec_push(&c->bytes, s, n);
    int64_t end = (int64_t)c->bytes.n;
    vec_push(&c->off, &end, 1);
}
static void csr_free(csr *c) { vec_free(&c->bytes); vec_free(&c->off); }

struct rv_shard_writer {
    char *path, *tmp;
    hid_t file, pixels;
    rv_shard_meta meta;
    uint64_t nimages, extent; /* images written; current rows of /images/pixels */
    csr paths, text, id, labels;
    vec task, source, split, image, tokens, mask, tok_off, boxes, box_off;
    /* anyres: /images/original grows as originals come (bytes written, current extent) */
    hid_t original;
    uint64_t orig_bytes, orig_extent;
    vec orig_off, orig_size;   /* int64 [I+1] byte offsets; int64 [I, 2] (height, width) */
    vec orig_codec;            /* uint8 [I] rv_original_codec */
};

char *rv_shard_path(const char *dir, int rank, int nshards) {
    char name[64];
    snprintf(name, sizeof name, "shard-%05d-of-%05d.h5", rank, nshards);
    return rv_path_join(dir, name);
}

int rv_shard_open(rv_shard_writer **out, const char *dir, const rv_shard_meta *meta, rv_err *err) {
    rv_shard_writer *w = rv_xcalloc(1, sizeof *w);
    w->meta = *meta;
    w->path = rv_shard_path(dir, meta->rank, meta->nshards);
    w->tmp = rv_xasprintf("%s.tmp-%ld", w->path, (long)getpid());
    rv_temp_track(w->tmp); /* removed if a signal ends the process before the commit */
    w->pixels = -1;
    w->original = -1;
    vec_init(&w->orig_off, sizeof(int64_t));
    vec_init(&w->orig_size, sizeof(int64_t));
    vec_init(&w->orig_codec, 1);
    w->file = rv_h5_create(w->tmp, err);
    if (w->file < 0) goto fail;
    if (rv_h5_group(w->file, "/images", w->tmp, err) != 0 || rv_h5_group(w->file, "/samples", w->tmp, err) != 0) goto fail;
    /* Unlimited rows: images that fail to decode are skipped, so the count is known only at the end. */
    {
        hsize_t dims[3] = {0, (hsize_t)meta->height, (hsize_t)meta->width};
        hsize_t maxd[3] = {H5S_UNLIMITED, dims[1], dims[2]}, chunk[3] = {1, dims[1], dims[2]};
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 3, chunk);
        H5Pset_fletcher32(dcpl);
        hid_t sp = H5Screate_simple(3, dims, maxd);
        w->pixels = H5Dcreate2(w->file, "/images/pixels", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Sclose(sp);
        H5Pclose(dcpl);
        if (w->pixels < 0) {
            rv_h5_fail(err, "%s: cannot create /images/pixels", w->tmp);
            goto fail;
        }
    }
    if (meta->anyres) {
        hsize_t dims[1] = {0}, maxd[1] = {H5S_UNLIMITED}, chunk[1] = {ORIGINAL_CHUNK};
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 1, chunk);
        H5Pset_fletcher32(dcpl);
        hid_t sp = H5Screate_simple(1, dims, maxd);
        w->original = H5Dcreate2(w->file, "/images/original", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Sclose(sp);
        H5Pclose(dcpl);
        if (w->original < 0) {
            rv_h5_fail(err, "%s: cannot create /images/original ", w->tmp);
            goto fail;
        }
        int64_t z0 = 0;
        vec_push(&w->orig_off, &z0, 1);
    }
    csr_init(&w->paths);
    csr_init(&w->text);
    csr_init(&w->id);
    csr_init(&w->labels);
    vec_init(&w->task, 1);
    vec_init(&w->source, 1);
    vec_init(&w->split, 1);
    vec_init(&w->image, sizeof(int64_t));
    vec_init(&w->tokens, sizeof(int32_t));
    vec_init(&w->mask, 1);
    vec_init(&w->tok_off, sizeof(int64_t));
    vec_init(&w->boxes, sizeof(float));
    vec_init(&w->box_off, sizeof(int64_t));
    int64_t z = 0;
    vec_push(&w->tok_off, &z, 1);
    vec_push(&w->box_off, &z, 1);
    *out = w;
    return 0;
fail:
    if (w->pixels >= 0) H5Dclose(w->pixels);
    if (w->original >= 0) H5Dclose(w->original);
    vec_free(&w->orig_off);
    vec_free(&w->orig_size);
    vec_free(&w->orig_codec);
    rv_h5_close_file(w->file);
    if (w->file >= 0) unlink(w->tmp);
    rv_temp_forget(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w);
    return -1;
}

int rv_shard_add_image(rv_shard_writer *w, const uint8_t *pixels, const char *path, int64_t *row, rv_err *err) {
    /* The extent grows geometrically (one H5Dset_extent per doubling, not per image) and is
     * cut to the images written at commit; rows never written take no space. */
    if (w->nimages == w->extent) {
        uint64_t want = w->extent < 64 ? 64 : 2 * w->extent;
        hsize_t dims[3] = {want, (hsize_t)w->meta.height, (hsize_t)w->meta.width};
        if (H5Dset_extent(w->pixels, dims) < 0) return rv_h5_fail(err, "%s: cannot extend /images/pixels", w->tmp);
        w->extent = want;
    }
    if (rv_h5_write_row(w->pixels, w->nimages, pixels, w->meta.height, w->meta.width, w->tmp, err) != 0) return -1;
    csr_push(&w->paths, path);
    *row = (int64_t)w->nimages++;
    return 0;
}

int rv_shard_add_original(rv_shard_writer *w, rv_original_codec codec, const void *data, size_t len, int height,
                          int width, rv_err *err) {
    if (w->original < 0) return rv_fail(err, "%s: an original image given to a shard opened without anyres", w->tmp);
    if (w->orig_size.n / 2 + 1 != w->nimages)
        return rv_fail(err, "%s: original %llu given after %llu image(s); add each original right after its image",
                       w->tmp, (unsigned long long)(w->orig_size.n / 2), (unsigned long long)w->nimages);
    if (height <= 0 || width <= 0)
        return rv_fail(err, "%s: original image %llu has size %dx%d", w->tmp, (unsigned long long)(w->nimages - 1),
                       height, width);
    bool fits = codec == RV_ORIGINAL_JPEG || (codec == RV_ORIGINAL_RAW && len == (size_t)height * (size_t)width);
    if (!fits || len == 0)
        return rv_fail(err, "%s: original image %llu: %zu bytes of codec %d for %dx%d pixels", w->tmp,
                       (unsigned long long)(w->nimages - 1), len, (int)codec, height, width);
    hsize_t n = (hsize_t)len;
    /* geometric growth, cut to the bytes written at commit (as /images/pixels) */
    if (w->orig_bytes + n > w->orig_extent) {
        uint64_t want = w->orig_extent < ORIGINAL_CHUNK ? ORIGINAL_CHUNK : 2 * w->orig_extent;
        while (want < w->orig_bytes + n) want *= 2;
        hsize_t d[1] = {want};
        if (H5Dset_extent(w->original, d) < 0) return rv_h5_fail(err, "%s: cannot extend /images/original", w->tmp);
        w->orig_extent = want;
    }
    hsize_t start[1] = {w->orig_bytes}, count[1] = {n};
    hid_t fs = H5Dget_space(w->original);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(1, count, NULL);
    herr_t st = H5Dwrite(w->original, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, data);
    H5Sclose(ms);
    H5Sclose(fs);
    if (st < 0)
        return rv_h5_fail(err, "%s: cannot write original image %llu (disk full?)", w->tmp,
                          (unsigned long long)(w->nimages - 1));
    w->orig_bytes += n;
    int64_t end = (int64_t)w->orig_bytes, hw[2] = {height, width};
    vec_push(&w->orig_off, &end, 1);
    vec_push(&w->orig_size, hw, 2);
    uint8_t cd = (uint8_t)codec;
    vec_push(&w->orig_codec, &cd, 1);
    return 0;
}

int rv_shard_read_image_mode(int64_t file, bool *anyres, const char *where, rv_err *err) {
    *anyres = false;
    htri_t has = H5Aexists((hid_t)file, "image_mode");
    if (has < 0) return rv_h5_fail(err, "%s: cannot read the root attributes", where);
    if (!has) return 0;
    char *mode = NULL;
    if (rv_h5_attr_str_get((hid_t)file, "image_mode", &mode, where, err) != 0) return -1;
    int rc = 0;
    if (!strcmp(mode, "anyres")) *anyres = true;
    else if (strcmp(mode, "base") != 0)
        rc = rv_fail(err, "%s: image_mode '%s' is unknown (base or anyres); written by a newer radvlm-hpc? re-run the "
                          "pack phase with this version", where, mode);
    free(mode);
    return rc;
}

int rv_shard_add_sample(rv_shard_writer *w, const rv_shard_sample *s, rv_err *err) {
    if (s->image < 0 || (uint64_t)s->image >= w->nimages)
        return rv_fail(err, "%s: sample %s refers to image row %lld of %llu", w->tmp, s->id ? s->id : "?",
                       (long long)s->image, (unsigned long long)w->nimages);
    vec_push(&w->task, &s->task, 1);
    vec_push(&w->source, &s->source, 1);
    vec_push(&w->split, &s->split, 1);
    vec_push(&w->image, &s->image, 1);
    vec_push(&w->tokens, s->tokens, s->ntok);
    vec_push(&w->mask, s->mask, s->ntok);
    int64_t e = (int64_t)w->tokens.n;
    vec_push(&w->tok_off, &e, 1);
    vec_push(&w->boxes, s->boxes, 4 * s->nbox);
    e = (int64_t)(w->boxes.n / 4);
    vec_push(&w->box_off, &e, 1);
    csr_push(&w->text, s->text);
    csr_push(&w->id, s->id);
    csr_push(&w->labels, s->labels);
    return 0;
}

uint64_t rv_shard_nsamples(const rv_shard_writer *w) { return w->task.n; }
uint64_t rv_shard_nimages(const rv_shard_writer *w) { return w->nimages; }

static void writer_free(rv_shard_writer *w) {
    csr_free(&w->paths);
    csr_free(&w->text);
    csr_free(&w->id);
    csr_free(&w->labels);
    vec *vs[] = {&w->task,    &w->source, &w->split,   &w->image,    &w->tokens,   &w->mask,
                 &w->tok_off, &w->boxes,  &w->box_off, &w->orig_off, &w->orig_size, &w->orig_codec};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) vec_free(vs[i]);
    rv_temp_forget(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w);
}

void rv_shard_abort(rv_shard_writer *w) {
    if (!w) return;
    if (w->pixels >= 0) H5Dclose(w->pixels);
    if (w->original >= 0) H5Dclose(w->original);
    rv_h5_close_file(w->file);
    unlink(w->tmp);
    writer_free(w);
}

/* Root attributes shared by shards and the index. */
static int write_attrs(hid_t f, const rv_shard_meta *m, const int64_t counts[2], const char *where, rv_err *err) {
    int64_t schema = RV_SHARD_SCHEMA, size[2] = {m->height, m->width}, sh[2] = {m->rank, m->nshards};
    if (rv_h5_attr_i64_set(f, "schema_version", &schema, 1, where, err) != 0) return -1;
    if (rv_h5_attr_str_set(f, "format", "radvlm-hpc shards", where, err) != 0) return -1;
    if (rv_h5_attr_str_set(f, "tokenizer_hash", m->tokenizer_hash ? m->tokenizer_hash : "", where, err) != 0) return -1;
    if (rv_h5_attr_i64_set(f, "image_size", size, 2, where, err) != 0) return -1;
    if (rv_h5_attr_str_set(f, "config", m->config_json ? m->config_json : "{}", where, err) != 0) return -1;
    if (rv_h5_attr_i64_set(f, "shard", sh, 2, where, err) != 0) return -1;
    if (rv_h5_attr_i64_set(f, "num_samples", &counts[0], 1, where, err) != 0) return -1;
    if (rv_h5_attr_i64_set(f, "num_images", &counts[1], 1, where, err) != 0) return -1;
    if (m->anyres && rv_h5_attr_str_set(f, "image_mode", "anyres", where, err) != 0) return -1;
#ifdef RADVLM_VERSION
    if (rv_h5_attr_str_set(f, "writer", "radvlm-hpc " RADVLM_VERSION, where, err) != 0) return -1;
#endif
    return 0;
}

static int fsync_path(const char *path, rv_err *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rv_fail(err, "%s: cannot reopen to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return rv_fail(err, "%s: fsync failed: %s", path, strerror(errno));
    return 0;
}

static int write_csr(hid_t f, const char *name, const char *offname, const csr *c, const char *where, rv_err *err) {
    if (rv_h5_write(f, name, H5T_STD_U8LE, H5T_NATIVE_UINT8, c->bytes.p, c->bytes.n, 0, 1 << 20, where, err) != 0)
        return -1;
    return rv_h5_write(f, offname, H5T_STD_I64LE, H5T_NATIVE_INT64, c->off.p, c->off.n, 0, CHUNK_ROWS, where, err);
}

int rv_shard_commit(rv_shard_writer *w, rv_err *err) {
    const rv_shard_meta *m = &w->meta;
    hid_t f = w->file;
    const char *wh = w->tmp;
    uint64_t n = w->task.n;
    int rc = -1;
    hid_t tt = rv_h5_enum_type(m->task_names, m->ntasks);
    hid_t st = rv_h5_enum_type(m->source_names, m->nsources);
    hid_t pt = rv_h5_enum_type(m->split_names, m->nsplits);
    int64_t counts[2] = {(int64_t)n, (int64_t)w->nimages};
    hsize_t pdims[3] = {w->nimages, (hsize_t)m->height, (hsize_t)m->width};
    if (H5Dset_extent(w->pixels, pdims) < 0) {
        rv_h5_fail(err, "%s: cannot set the final extent of /images/pixels", wh);
        goto out;
    }
    if (write_csr(f, "/images/path", "/images/path_offsets", &w->paths, wh, err) != 0) goto out;
    if (m->anyres) {
        hsize_t od[1] = {w->orig_bytes};
        if (w->orig_size.n / 2 != w->nimages) {
            rv_fail(err, "%s: %llu original image(s) for %llu image(s); the writer was fed inconsistently", wh,
                    (unsigned long long)(w->orig_size.n / 2), (unsigned long long)w->nimages);
            goto out;
        }
        if (H5Dset_extent(w->original, od) < 0) {
            rv_h5_fail(err, "%s: cannot set the final extent of /images/original", wh);
            goto out;
        }
        if (rv_h5_write(f, "/images/original_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, w->orig_off.p, w->orig_off.n, 0,
                        CHUNK_ROWS, wh, err) != 0 ||
            rv_h5_write(f, "/images/original_size", H5T_STD_I64LE, H5T_NATIVE_INT64, w->orig_size.p,
                        w->orig_size.n / 2, 2, CHUNK_ROWS / 2, wh, err) != 0)
            goto out;
        hid_t ct = rv_h5_enum_type(rv_original_codec_names, 2);
        int crc = rv_h5_write(f, "/images/original_codec", ct, ct, w->orig_codec.p, w->orig_codec.n, 0, CHUNK_ROWS, wh, err);
        H5Tclose(ct);
        if (crc != 0) goto out;
    }
    if (rv_h5_write(f, "/samples/task", tt, tt, w->task.p, n, 0, CHUNK_ROWS, wh, err) != 0) goto out;
    if (rv_h5_write(f, "/samples/source", st, st, w->source.p, n, 0, CHUNK_ROWS, wh, err) != 0) goto out;
    if (rv_h5_write(f, "/samples/split", pt, pt, w->split.p, n, 0, CHUNK_ROWS, wh, err) != 0) goto out;
    if (rv_h5_write(f, "/samples/image", H5T_STD_I64LE, H5T_NATIVE_INT64, w->image.p, n, 0, CHUNK_ROWS, wh, err) != 0)
        goto out;
    if (rv_h5_write(f, "/samples/tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, w->tokens.p, w->tokens.n, 0, CHUNK_ROWS, wh,
                    err) != 0)
        goto out;
    if (rv_h5_write(f, "/samples/loss_mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, w->mask.p, w->mask.n, 0, CHUNK_ROWS, wh,
                    err) != 0)
        goto out;
    if (rv_h5_write(f, "/samples/token_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, w->tok_off.p, w->tok_off.n, 0,
                    CHUNK_ROWS, wh, err) != 0)
        goto out;
    if (rv_h5_write(f, "/samples/boxes", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, w->boxes.p, w->boxes.n / 4, 4, CHUNK_ROWS / 4,
                    wh, err) != 0)
        goto out;
    if (rv_h5_write(f, "/samples/box_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, w->box_off.p, w->box_off.n, 0,
                    CHUNK_ROWS, wh, err) != 0)
        goto out;
    if (write_csr(f, "/samples/text", "/samples/text_offsets", &w->text, wh, err) != 0) goto out;
    if (write_csr(f, "/samples/id", "/samples/id_offsets", &w->id, wh, err) != 0) goto out;
    if (write_csr(f, "/samples/labels", "/samples/label_offsets", &w->labels, wh, err) != 0) goto out;
    if (write_attrs(f, m, counts, wh, err) != 0) goto out;
    rc = 0;
out:
    H5Tclose(tt);
    H5Tclose(st);
    H5Tclose(pt);
    H5Dclose(w->pixels);
    w->pixels = -1;
    if (w->original >= 0) H5Dclose(w->original);
    w->original = -1;
    if (H5Fclose(f) < 0 && rc == 0) rc = rv_h5_fail(err, "%s: closing failed (disk full?)", wh);
    w->file = -1;
    if (rc == 0) rc = fsync_path(w->tmp, err);
    if (rc == 0 && rename(w->tmp, w->path) != 0)
        rc = rv_fail(err, "%s: cannot rename to %s: %s", w->tmp, w->path, strerror(errno));
    if (rc != 0) unlink(w->tmp);
    writer_free(w);
    return rc;
}

/* ---- index.h5 ---- */

typedef struct shard_info {
    char *path, *name;
    uint64_t rows[32];   /* rows of each rv_shard_dsets entry */
    uint64_t cols[32];
} shard_info;

/* Entry k of the datasets an index covers: rv_shard_dsets, then (anyres sets) rv_shard_anyres_dsets. */
static const rv_shard_dset *dset_at(size_t k) {
    return k < rv_shard_ndsets ? &rv_shard_dsets[k] : &rv_shard_anyres_dsets[k - rv_shard_ndsets];
}

static int dset_index(const char *name) {
    for (size_t i = 0; i < rv_shard_ndsets + rv_shard_anyres_ndsets; i++)
        if (strcmp(dset_at(i)->name, name) == 0) return (int)i;
    return -1;
}

/* Virtual dataset `name` concatenating the shards along dim 0. */
static int write_virtual(hid_t idx, const char *name, shard_info *sh, int nshards, hid_t ref, const char *where,
                         rv_err *err) {
    int k = dset_index(name);
    hid_t d0 = H5Dopen2(ref, name, H5P_DEFAULT);
    if (d0 < 0) return rv_h5_fail(err, "%s: cannot open %s", sh[0].path, name);
    hid_t type = H5Dget_type(d0);
    hid_t s0 = H5Dget_space(d0);
    int rank = H5Sget_simple_extent_ndims(s0);
    hsize_t dims[3];
    H5Sget_simple_extent_dims(s0, dims, NULL);
    H5Sclose(s0);
    H5Dclose(d0);
    hsize_t total = 0;
    for (int s = 0; s < nshards; s++) total += sh[s].rows[k];
    dims[0] = total;
    hid_t vspace = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t start[3] = {0, 0, 0}, count[3];
    for (int i = 1; i < rank; i++) count[i] = dims[i];
    int rc = 0;
    for (int s = 0; s < nshards && rc == 0; s++) {
        count[0] = sh[s].rows[k];
        if (!count[0]) continue;
        hid_t src = H5Screate_simple(rank, count, NULL);
        H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start, NULL, count, NULL);
        /* Source names relative to index.h5's directory: the shard directory can be moved. */
        if (H5Pset_virtual(dcpl, vspace, sh[s].name, name, src) < 0)
            rc = rv_h5_fail(err, "%s: cannot map %s of %s", where, name, sh[s].name);
        H5Sclose(src);
        start[0] += count[0];
    }
    H5Sselect_all(vspace);
    if (rc == 0) {
        hid_t d = H5Dcreate2(idx, name, type, vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (d < 0) rc = rv_h5_fail(err, "%s: cannot create virtual dataset %s", where, name);
        else H5Dclose(d);
    }
    H5Pclose(dcpl);
    H5Sclose(vspace);
    H5Tclose(type);
    return rc;
}

/* Real dataset: the shards' local offsets (or image rows) rebased to global positions. */
static int write_rebased(hid_t idx, const char *name, const char *base_of, shard_info *sh, int nshards,
                         bool is_offsets, const char *where, rv_err *err) {
    int kb = dset_index(base_of);
    vec all;
    vec_init(&all, sizeof(int64_t));
    int64_t base = 0;
    int rc = 0;
    for (int s = 0; s < nshards && rc == 0; s++) {
        hid_t f = rv_h5_open_ro(sh[s].path, err);
        if (f < 0) { rc = -1; break; }
        int64_t *v = NULL;
        uint64_t n = 0;
        if (rv_h5_read_all(f, name, H5T_NATIVE_INT64, (void **)&v, &n, NULL, sh[s].path, err) != 0) rc = -1;
        rv_h5_close_file(f);
        if (rc) break;
        /* Offsets: drop each shard's leading 0 except the first; image rows: all. */
        for (uint64_t i = (is_offsets && s > 0) ? 1 : 0; i < n; i++) {
            int64_t g = v[i] + base;
            vec_push(&all, &g, 1);
        }
        free(v);
        base += (int64_t)sh[s].rows[kb];
    }
    if (rc == 0)
        rc = rv_h5_write(idx, name, H5T_STD_I64LE, H5T_NATIVE_INT64, all.p, all.n, 0, CHUNK_ROWS, where, err);
    vec_free(&all);
    return rc;
}

int rv_shard_write_index(const char *dir, int nshards, rv_err *err) {
    if (nshards < 1 || rv_shard_ndsets + rv_shard_anyres_ndsets > 32) return rv_fail(err, "index: bad shard count %d", nshards);
    char *path = rv_path_join(dir, "index.h5");
    char *tmp = rv_xasprintf("%s.tmp-%ld", path, (long)getpid());
    rv_temp_track(tmp);
    shard_info *sh = rv_xcalloc((size_t)nshards, sizeof *sh);
    hid_t ref = -1, idx = -1;
    char *hash0 = NULL, *cfg = NULL;
    int64_t size0[2] = {0, 0}, schema = 0;
    bool anyres0 = false;
    size_t ndsets = rv_shard_ndsets; /* + the anyres datasets when the set has them */
    int rc = -1;
    int64_t totals[2] = {0, 0};
    for (int s = 0; s < nshards; s++) {
        sh[s].path = rv_shard_path(dir, s, nshards);
        sh[s].name = rv_xstrdup(rv_path_basename(sh[s].path));
        hid_t f = rv_h5_open_ro(sh[s].path, err);
        if (f < 0) goto out;
        char *hash = NULL;
        int64_t size[2], sc = 0, ns = 0, ni = 0;
        bool anyres = false;
        int frc = 0;
        if (rv_h5_attr_i64_get(f, "schema_version", &sc, 1, sh[s].path, err) != 0 ||
            rv_h5_attr_str_get(f, "tokenizer_hash", &hash, sh[s].path, err) != 0 ||
            rv_h5_attr_i64_get(f, "image_size", size, 2, sh[s].path, err) != 0 ||
            rv_h5_attr_i64_get(f, "num_samples", &ns, 1, sh[s].path, err) != 0 ||
            rv_h5_attr_i64_get(f, "num_images", &ni, 1, sh[s].path, err) != 0)
            frc = -1;
        if (frc == 0 && rv_shard_read_image_mode(f, &anyres, sh[s].path, err) != 0) frc = -1;
        else if (frc == 0 && s == 0 && anyres) {
            anyres0 = true;
            ndsets += rv_shard_anyres_ndsets;
        } else if (frc == 0 && anyres != anyres0) {
            frc = rv_fail(err, "%s: image_mode %s but %s is %s; the directory mixes shards of different pack runs; "
                               "re-run the pack phase into an empty directory",
                          sh[s].path, anyres ? "anyres" : "base", sh[0].path, anyres0 ? "anyres" : "base");
        }
        for (size_t k = 0; frc == 0 && k < ndsets; k++) {
            uint64_t dims[3];
            if (rv_h5_shape(f, dset_at(k)->name, dims, sh[s].path, err) < 0) frc = -1;
            sh[s].rows[k] = dims[0];
            sh[s].cols[k] = dims[1];
        }
        if (frc == 0 && s == 0) {
            hash0 = rv_xstrdup(hash);
            size0[0] = size[0];
            size0[1] = size[1];
            schema = sc;
            frc = rv_h5_attr_str_get(f, "config", &cfg, sh[s].path, err);
        } else if (frc == 0 && (sc != schema || strcmp(hash, hash0) != 0 || size[0] != size0[0] || size[1] != size0[1])) {
            frc = rv_fail(err, "%s: schema/tokenizer/image size differ from %s; the directory mixes shards of "
                               "different pack runs; re-run the pack phase into an empty directory",
                          sh[s].path, sh[0].path);
        }
        totals[0] += ns;
        totals[1] += ni;
        free(hash);
        rv_h5_close_file(f);
        if (frc) goto out;
    }
    ref = rv_h5_open_ro(sh[0].path, err);
    if (ref < 0) goto out;
    idx = rv_h5_create(tmp, err);
    if (idx < 0) goto out;
    if (rv_h5_group(idx, "/images", tmp, err) != 0 || rv_h5_group(idx, "/samples", tmp, err) != 0 ||
        rv_h5_group(idx, "/shards", tmp, err) != 0)
        goto out;
    for (size_t k = 0; k < ndsets; k++) {
        const rv_shard_dset *d = dset_at(k);
        int r;
        if (d->offsets_of) r = write_rebased(idx, d->name, d->offsets_of, sh, nshards, true, tmp, err);
        else if (strcmp(d->name, "/samples/image") == 0)
            r = write_rebased(idx, d->name, "/images/pixels", sh, nshards, false, tmp, err);
        else r = write_virtual(idx, d->name, sh, nshards, ref, tmp, err);
        if (r != 0) goto out;
    }
    /* Where each shard starts, in samples and images (n+1 entries each). */
    {
        int64_t *ss = rv_xcalloc((size_t)nshards + 1, sizeof *ss), *is = rv_xcalloc((size_t)nshards + 1, sizeof *is);
        int ks = dset_index("/samples/task"), ki = dset_index("/images/pixels");
        for (int s = 0; s < nshards; s++) {
            ss[s + 1] = ss[s] + (int64_t)sh[s].rows[ks];
            is[s + 1] = is[s] + (int64_t)sh[s].rows[ki];
        }
        rv_sb names;
        rv_sb_init(&names);
        for (int s = 0; s < nshards; s++) rv_sb_printf(&names, "%s%s", s ? "\n" : "", sh[s].name);
        int r = rv_h5_write(idx, "/shards/sample_start", H5T_STD_I64LE, H5T_NATIVE_INT64, ss, (uint64_t)nshards + 1, 0,
                            CHUNK_ROWS, tmp, err);
        if (r == 0)
            r = rv_h5_write(idx, "/shards/image_start", H5T_STD_I64LE, H5T_NATIVE_INT64, is, (uint64_t)nshards + 1, 0,
                            CHUNK_ROWS, tmp, err);
        hid_t g = r == 0 ? H5Gopen2(idx, "/shards", H5P_DEFAULT) : -1;
        if (g >= 0) {
            r = rv_h5_attr_str_set(g, "files", names.s, tmp, err);
            H5Gclose(g);
        }
        rv_sb_free(&names);
        free(ss);
        free(is);
        if (r != 0) goto out;
    }
    {
        rv_shard_meta m = {.rank = -1, .nshards = nshards, .height = (int)size0[0], .width = (int)size0[1],
                           .tokenizer_hash = hash0, .config_json = cfg, .anyres = anyres0};
        if (write_attrs(idx, &m, totals, tmp, err) != 0) goto out;
    }
    rv_h5_close_file(idx);
    idx = -1;
    if (fsync_path(tmp, err) != 0) goto out;
    if (rename(tmp, path) != 0) {
        rv_fail(err, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (idx >= 0) rv_h5_close_file(idx);
    if (rc != 0) unlink(tmp);
    rv_temp_forget(tmp);
    rv_h5_close_file(ref);
    for (int s = 0; s < nshards; s++) {
        free(sh[s].path);
        free(sh[s].name);
    }
    free(sh);
    free(hash0);
    free(cfg);
    free(tmp);
    free(path);
    return rc;
}
