#define _GNU_SOURCE
#include "train/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/temp_files.h"
#include "core/strbuf.h"
#include "io/h5util.h"

#define WRITER "radvlm-hpc"

/* ---- writing ---- */

/* A float32 dataset of the tensor's shape: chunks of whole rows (about 1M elements) with a
 * Fletcher32 checksum, so damage is caught on load. */
static int write_tensor(hid_t f, const char *path, const rv_wtensor *t, const float *data, rv_err *err) {
    hsize_t dims[RV_MAX_DIMS], chunk[RV_MAX_DIMS];
    size_t inner = 1;
    for (int i = 0; i < t->ndim; i++) {
        dims[i] = (hsize_t)t->shape[i];
        chunk[i] = dims[i];
        if (i) inner *= (size_t)dims[i];
    }
    size_t rows = (1u << 20) / (inner ? inner : 1);
    chunk[0] = rows < 1 ? 1 : rows > dims[0] ? dims[0] : rows;
    hid_t space = H5Screate_simple(t->ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (t->numel) {
        H5Pset_chunk(dcpl, t->ndim, chunk);
        H5Pset_fletcher32(dcpl);
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, path, H5T_IEEE_F32LE, space, lcpl, dcpl, H5P_DEFAULT);
    int rc = 0;
    if (d < 0) rc = rv_h5_fail(err, "cannot create dataset %s", path);
    else if (t->numel && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = rv_h5_fail(err, "cannot write dataset %s (disk full?)", path);
    if (d >= 0) H5Dclose(d);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

static int write_bytes(hid_t f, const char *path, const void *data, size_t len, rv_err *err) {
    char *grp = rv_path_dirname(path);
    int rc = rv_h5_group(f, grp, "checkpoint", err);
    free(grp);
    if (!rc) rc = rv_h5_write(f, path, H5T_STD_U8LE, H5T_NATIVE_UINT8, data, len, 0, 1u << 20, "checkpoint", err);
    return rc;
}

/* The shard table of the main file: which ranks hold which arena range, and the stored layout
 * (names, arena offsets, sizes in table order) so a loader with another layout maps by name. */
static int write_optim_table(hid_t f, const char *path, const rv_weights *w, int nshards, rv_err *err) {
    if (rv_h5_group(f, "/optim", "checkpoint", err)) return -1;
    hid_t g = H5Gopen2(f, "/optim", H5P_DEFAULT);
    if (g < 0) return rv_h5_fail(err, "cannot open /optim");
    char *dir = rv_ckpt_shard_dir(path);
    int64_t nr = nshards, total = (int64_t)w->total;
    int rc = rv_h5_attr_i64_set(g, "nranks", &nr, 1, "checkpoint", err) ||
                     rv_h5_attr_i64_set(g, "arena_total", &total, 1, "checkpoint", err) ||
                     rv_h5_attr_str_set(g, "dir", rv_path_basename(dir), "checkpoint", err)
                 ? -1
                 : 0;
    H5Gclose(g);
    free(dir);
    if (rc) return -1;
    int64_t *ranges = rv_xmalloc((size_t)nshards * 2 * sizeof *ranges);
    for (int r = 0; r < nshards; r++) {
        rv_range q = rv_partition(w->total, r, nshards);
        ranges[2 * r] = (int64_t)q.off;
        ranges[2 * r + 1] = (int64_t)q.n;
    }
    int64_t *offs = rv_xmalloc((w->n ? w->n : 1) * 2 * sizeof *offs);
    rv_sb names;
    rv_sb_init(&names);
    for (size_t i = 0; i < w->n; i++) {
        offs[2 * i] = (int64_t)w->t[i].offset;
        offs[2 * i + 1] = (int64_t)w->t[i].numel;
        rv_sb_puts(&names, w->t[i].name);
        rv_sb_putc(&names, '\n');
    }
    rc = rv_h5_write(f, "/optim/ranges", H5T_STD_I64LE, H5T_NATIVE_INT64, ranges, (uint64_t)nshards, 2, 4096,
                     "checkpoint", err) ||
                 rv_h5_write(f, "/optim/tensor_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, offs, w->n, 2, 4096,
                             "checkpoint", err) ||
                 write_bytes(f, "/optim/tensor_names", names.s ? names.s : "", names.len, err)
             ? -1
             : 0;
    rv_sb_free(&names);
    free(offs);
    free(ranges);
    return rc;
}

static int write_body(hid_t f, const char *ckpath, const rv_ckpt_data *d, int nshards, rv_err *err) {
    const rv_weights *w = d->w;
    int64_t one = 1, schema = RV_CKPT_SCHEMA;
    if (rv_h5_attr_str_set(f, "format", RV_CKPT_FORMAT, "checkpoint", err) ||
        rv_h5_attr_i64_set(f, "schema_version", &schema, 1, "checkpoint", err) ||
        rv_h5_attr_i64_set(f, "step", &d->step, 1, "checkpoint", err) ||
        rv_h5_attr_str_set(f, "writer", WRITER, "checkpoint", err) ||
        rv_h5_attr_str_set(f, "source_dtype", d->source_dtype ? d->source_dtype : "", "checkpoint", err) ||
        rv_h5_attr_str_set(f, "source", d->source ? d->source : "", "checkpoint", err))
        return -1;
    const char *texts[3][2] = {{"/meta/model_config", d->model_config_json},
                               {"/meta/run_config", d->run_config_json},
                               {"/meta/state", d->state_json}};
    for (int i = 0; i < 3; i++)
        if (texts[i][1] && write_bytes(f, texts[i][0], texts[i][1], strlen(texts[i][1]), err)) return -1;
    char path[600];
    float *host = rv_xmalloc(rv_weights_max_numel(w) * sizeof(float)); /* one tensor staged at a time */
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++) {
        const rv_wtensor *t = &w->t[i];
        snprintf(path, sizeof path, "/weights/%s", t->name);
        rc = rv_weights_download_tensor(w, i, host, err) || write_tensor(f, path, t, host, err) ? -1 : 0;
    }
    free(host);
    if (rc) return -1;
    if (nshards && write_optim_table(f, ckpath, w, nshards, err)) return -1;
    if (d->rng) {
        uint32_t s[11];
        memcpy(s, d->rng->key, 8);
        memcpy(s + 2, d->rng->ctr, 16);
        memcpy(s + 6, d->rng->buf, 16);
        s[10] = (uint32_t)d->rng->pos;
        if (rv_h5_group(f, "/state", "checkpoint", err) ||
            rv_h5_write(f, "/state/rng", H5T_STD_U32LE, H5T_NATIVE_UINT32, s, 11, 0, 11, "checkpoint", err))
            return -1;
    }
    if (d->cursor) {
        const rv_sampler_cursor *c = d->cursor;
        uint64_t v[6] = {c->seed, c->epoch, c->step, c->n, c->global_batch, c->group_factor};
        if (rv_h5_group(f, "/state", "checkpoint", err) ||
            rv_h5_write(f, "/state/cursor", H5T_STD_U64LE, H5T_NATIVE_UINT64, v, 6, 0, 6, "checkpoint", err))
            return -1;
    }
    for (size_t i = 0; i < d->nfiles; i++) {
        const char *nm = d->files[i].name;
        if (!*nm || strchr(nm, '/') || strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            return rv_fail(err, "checkpoint: side file name '%s' must be a plain file name", nm);
        snprintf(path, sizeof path, "/files/%s", nm);
        if (write_bytes(f, path, d->files[i].data, d->files[i].len, err)) return -1;
    }
    /* the completion mark is the last thing written */
    return rv_h5_attr_i64_set(f, "complete", &one, 1, "checkpoint", err);
}

static int fsync_path(const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Closes f (written as tmp), fsyncs it and renames it to path; on failure tmp is removed. */
static int commit_file(hid_t f, const char *tmp, const char *path, int rc, rv_err *err) {
    if (H5Fclose(f) < 0 && !rc) rc = rv_h5_fail(err, "%s: closing the file failed (disk full?)", path);
    if (!rc && fsync_path(tmp, O_RDONLY) != 0)
        rc = rv_fail(err, "%s: fsync failed: %s; check the file system", path, strerror(errno));
    if (!rc && rename(tmp, path) != 0) rc = rv_fail(err, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc) unlink(tmp);
    rv_temp_forget(tmp);
    if (!rc) {
        char *dir = rv_path_dirname(path);
        fsync_path(dir, O_RDONLY | O_DIRECTORY); /* best effort: make the rename durable */
        free(dir);
    }
    return rc;
}

char *rv_ckpt_shard_dir(const char *path) {
    size_t n = strlen(path);
    if (n > 3 && strcmp(path + n - 3, ".h5") == 0) n -= 3;
    return rv_xasprintf("%.*s.optim", (int)n, path);
}

char *rv_ckpt_shard_path(const char *path, int rank, int nranks) {
    char *dir = rv_ckpt_shard_dir(path);
    char *p = rv_xasprintf("%s/rank-%05d-of-%05d.h5", dir, rank, nranks);
    free(dir);
    return p;
}

static int write_shard_body(hid_t f, const rv_weights *w, int64_t step, int rank, int nranks, rv_range q,
                            const float *m, const float *v, rv_err *err) {
    int64_t one = 1, schema = RV_CKPT_SCHEMA, r = rank, nr = nranks, off = (int64_t)q.off, n = (int64_t)q.n,
            total = (int64_t)w->total;
    const char *where = "optimizer shard";
    if (rv_h5_attr_str_set(f, "format", RV_CKPT_SHARD_FORMAT, where, err) ||
        rv_h5_attr_i64_set(f, "schema_version", &schema, 1, where, err) ||
        rv_h5_attr_i64_set(f, "step", &step, 1, where, err) || rv_h5_attr_i64_set(f, "rank", &r, 1, where, err) ||
        rv_h5_attr_i64_set(f, "nranks", &nr, 1, where, err) || rv_h5_attr_i64_set(f, "offset", &off, 1, where, err) ||
        rv_h5_attr_i64_set(f, "count", &n, 1, where, err) ||
        rv_h5_attr_i64_set(f, "arena_total", &total, 1, where, err) || rv_h5_group(f, "/adam", where, err))
        return -1;
    /* 256K-element (1 MiB) chunks: one fits HDF5's default chunk cache when a loader reads pieces */
    if (rv_h5_write(f, "/adam/m", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, m, q.n, 0, 1u << 18, where, err) ||
        rv_h5_write(f, "/adam/v", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, v, q.n, 0, 1u << 18, where, err))
        return -1;
    return rv_h5_attr_i64_set(f, "complete", &one, 1, where, err); /* last */
}

int rv_ckpt_write_shard(const char *path, const rv_weights *w, int64_t step, int rank, int nranks, const float *m,
                        const float *v, rv_err *err) {
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return rv_fail(err, "%s: optimizer shard of rank %d of %d ranks: no such rank", path, rank, nranks);
    rv_range q = rv_partition(w->total, rank, nranks);
    if ((!m || !v) && q.n) return rv_fail(err, "%s: optimizer shard of rank %d needs both AdamW moments", path, rank);
    /* this save supersedes whatever checkpoint has this name until rank 0 completes it */
    if (unlink(path) != 0 && errno != ENOENT)
        return rv_fail(err, "%s: cannot remove the previous checkpoint of this step: %s", path, strerror(errno));
    char *dir = rv_ckpt_shard_dir(path), *sp = rv_ckpt_shard_path(path, rank, nranks);
    char *tmp = rv_xasprintf("%s.tmp-%ld", sp, (long)getpid());
    rv_temp_track(tmp); /* removed if a signal ends the process before the rename */
    int rc = rv_mkdir_p(dir, err);
    hid_t f = rc ? -1 : rv_h5_create(tmp, err);
    if (f < 0) {
        rc = rv_fail_wrap(err, "%s", sp);
        rv_temp_forget(tmp);
    } else {
        rc = write_shard_body(f, w, step, rank, nranks, q, m, v, err);
        if (rc) rv_fail_wrap(err, "%s", sp);
        rc = commit_file(f, tmp, sp, rc, err);
    }
    free(tmp);
    free(sp);
    free(dir);
    return rc;
}

/* Reads the header of a shard file and checks it against what the checkpoint expects. */
static int check_shard_header(hid_t f, const char *sp, int64_t step, int rank, int nranks, int64_t off, int64_t n,
                              int64_t total, rv_err *err) {
    char *fmt = NULL;
    int64_t v[8] = {0};
    const char *names[8] = {"schema_version", "step", "rank", "nranks", "offset", "count", "arena_total", "complete"};
    if (H5Aexists(f, "format") <= 0 || rv_h5_attr_str_get(f, "format", &fmt, sp, err) ||
        strcmp(fmt, RV_CKPT_SHARD_FORMAT) != 0) {
        H5Eclear2(H5E_DEFAULT);
        free(fmt);
        return rv_fail(err, "%s: not a radvlm-hpc optimizer shard", sp);
    }
    free(fmt);
    for (int i = 0; i < 8; i++)
        if (H5Aexists(f, names[i]) <= 0 || rv_h5_attr_i64_get(f, names[i], &v[i], 1, sp, err)) {
            H5Eclear2(H5E_DEFAULT);
            if (i == 7) return rv_fail(err, "%s: the optimizer shard is incomplete (its write was interrupted)", sp);
            return rv_fail(err, "%s: optimizer shard attribute %s is missing; the file is damaged", sp, names[i]);
        }
    const int64_t want[8] = {RV_CKPT_SCHEMA, step, rank, nranks, off, n, total, 1};
    for (int i = 0; i < 8; i++)
        if (v[i] != want[i])
            return rv_fail(err, "%s: optimizer shard has %s %lld, the checkpoint expects %lld (a shard of another save; "
                           "use another checkpoint)", sp, names[i], (long long)v[i], (long long)want[i]);
    return 0;
}

static hid_t open_shard(const char *sp, rv_err *err) {
    if (!rv_is_file(sp))
        return rv_fail(err, "%s: optimizer shard is missing (a rank did not finish its save, or the file was removed)",
                       sp);
    return rv_h5_open_ro(sp, err);
}

int rv_ckpt_write(const char *path, const rv_ckpt_data *d, rv_err *err) {
    if (!d->w || !d->model_config_json) return rv_fail(err, "%s: checkpoint needs the weights and the model config", path);
    if ((d->adam_m == NULL) != (d->adam_v == NULL))
        return rv_fail(err, "%s: checkpoint needs both AdamW moments or neither", path);
    if (d->optim_shards < 0 || (d->adam_m && d->optim_shards))
        return rv_fail(err, "%s: checkpoint takes AdamW moments either as full arrays or as %d shards, not both", path,
                       d->optim_shards);
    int nshards = d->optim_shards;
    if (d->adam_m) {
        if (rv_ckpt_write_shard(path, d->w, d->step, 0, 1, d->adam_m, d->adam_v, err)) return -1;
        nshards = 1;
    }
    for (int r = 0; r < nshards; r++) { /* every shard is there and belongs to this save */
        char *sp = rv_ckpt_shard_path(path, r, nshards);
        rv_range q = rv_partition(d->w->total, r, nshards);
        hid_t f = open_shard(sp, err);
        int rc = f < 0 ? -1 : check_shard_header(f, sp, d->step, r, nshards, (int64_t)q.off, (int64_t)q.n,
                                                 (int64_t)d->w->total, err);
        if (f >= 0) rv_h5_close_file(f);
        free(sp);
        if (rc) return rv_fail_wrap(err, "%s: not saved", path);
    }
    char *tmp = rv_xasprintf("%s.tmp-%ld", path, (long)getpid());
    rv_temp_track(tmp);
    hid_t f = rv_h5_create(tmp, err);
    if (f < 0) {
        rv_temp_forget(tmp);
        free(tmp);
        return rv_fail_wrap(err, "%s", path);
    }
    int rc = write_body(f, path, d, nshards, err);
    if (rc) rv_fail_wrap(err, "%s", path);
    rc = commit_file(f, tmp, path, rc, err);
    free(tmp);
    return rc;
}

int rv_ckpt_remove(const char *path, rv_err *err) {
    if (unlink(path) != 0 && errno != ENOENT) return rv_fail(err, "%s: cannot remove: %s", path, strerror(errno));
    char *dir = rv_ckpt_shard_dir(path);
    int rc = 0;
    if (rv_is_dir(dir)) {
        char **names = NULL;
        size_t n = 0;
        rc = rv_list_dir(dir, &names, &n, err);
        for (size_t i = 0; i < n && !rc; i++) {
            char *p = rv_path_join(dir, names[i]);
            if (unlink(p) != 0 && errno != ENOENT) rc = rv_fail(err, "%s: cannot remove: %s", p, strerror(errno));
            free(p);
        }
        rv_free_strv(names, n);
        if (!rc && rmdir(dir) != 0 && errno != ENOENT) rc = rv_fail(err, "%s: cannot remove: %s", dir, strerror(errno));
    }
    free(dir);
    return rc;
}

/* ---- reading ---- */

/* Schema 2's optimizer state as the main file describes it. */
typedef struct optim_table {
    int nranks;
    int64_t total;             /* the stored arena's size */
    int64_t *ranges;           /* [nranks, 2]: offset, count of each rank's shard */
    hid_t *files;              /* [nranks], opened on first use (-1 until then) */
    char **shard_paths;        /* [nranks] */
    size_t ntensors;
    char **names;              /* [ntensors], stored table order */
    int64_t *tensors;          /* [ntensors, 2]: arena offset, numel */
} optim_table;

struct rv_ckpt {
    char *path;
    hid_t f;
    int64_t step;
    int schema;
    char *model_config, *run_config, *state, *source_dtype, *source;
    bool has_adam;
    optim_table opt;           /* schema 2 with moments */
    bool v1_checked;           /* schema 1: /adam/m and /adam/v were checked against a table */
};

static bool h5_exists(hid_t f, const char *path) {
    /* H5Lexists fails (rather than answering no) when an intermediate group is missing */
    const char *p = path;
    char buf[600];
    while ((p = strchr(p + 1, '/'))) {
        snprintf(buf, sizeof buf, "%.*s", (int)(p - path), path);
        if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) { H5Eclear2(H5E_DEFAULT); return false; }
    }
    htri_t e = H5Lexists(f, path, H5P_DEFAULT);
    if (e < 0) H5Eclear2(H5E_DEFAULT);
    return e > 0;
}

static int read_text(rv_ckpt *c, const char *name, bool required, char **out, size_t *len, rv_err *err) {
    if (!h5_exists(c->f, name)) {
        if (required) return rv_fail(err, "%s: dataset %s is missing; the checkpoint is incomplete", c->path, name);
        *out = rv_xstrdup("");
        return 0;
    }
    void *buf;
    uint64_t rows;
    if (rv_h5_read_all(c->f, name, H5T_NATIVE_UINT8, &buf, &rows, NULL, c->path, err)) return -1;
    char *s = rv_xmalloc(rows + 1);
    memcpy(s, buf, rows);
    s[rows] = 0;
    free(buf);
    *out = s;
    if (len) *len = (size_t)rows;
    return 0;
}

static int attr_str(rv_ckpt *c, const char *name, char **out, rv_err *err) {
    if (H5Aexists(c->f, name) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        *out = rv_xstrdup("");
        return 0;
    }
    return rv_h5_attr_str_get(c->f, name, out, c->path, err);
}

static int read_i64_table(rv_ckpt *c, const char *name, uint64_t rows, int64_t **out, rv_err *err) {
    void *buf;
    uint64_t r, cols;
    if (!h5_exists(c->f, name)) return rv_fail(err, "%s: dataset %s is missing; the checkpoint is damaged", c->path, name);
    if (rv_h5_read_all(c->f, name, H5T_NATIVE_INT64, &buf, &r, &cols, c->path, err)) return -1;
    if (r != rows || cols != 2) {
        free(buf);
        return rv_fail(err, "%s: %s has shape [%llu, %llu], expected [%llu, 2]; the checkpoint is damaged", c->path, name,
                       (unsigned long long)r, (unsigned long long)cols, (unsigned long long)rows);
    }
    *out = buf;
    return 0;
}

/* /optim of a schema-2 file: the shard table and the stored layout, checked for consistency
 * (shards contiguous from 0 to arena_total, tensors inside the arena). */
static int read_optim_table(rv_ckpt *c, rv_err *err) {
    optim_table *o = &c->opt;
    hid_t g = H5Gopen2(c->f, "/optim", H5P_DEFAULT);
    if (g < 0) return rv_h5_fail(err, "%s: cannot open /optim", c->path);
    int64_t nr = 0;
    char *dir = NULL;
    int rc = rv_h5_attr_i64_get(g, "nranks", &nr, 1, c->path, err) ||
                     rv_h5_attr_i64_get(g, "arena_total", &o->total, 1, c->path, err) ||
                     rv_h5_attr_str_get(g, "dir", &dir, c->path, err)
                 ? -1
                 : 0;
    H5Gclose(g);
    if (!rc && (nr < 1 || nr > 1 << 24 || o->total < 0 || !dir[0] || strchr(dir, '/')))
        rc = rv_fail(err, "%s: /optim attributes are invalid (nranks %lld, dir '%s'); the checkpoint is damaged",
                     c->path, (long long)nr, dir);
    if (rc) { free(dir); return -1; }
    o->nranks = (int)nr;
    char *tmp;
    size_t len;
    rc = read_i64_table(c, "/optim/ranges", (uint64_t)nr, &o->ranges, err);
    if (!rc) rc = read_text(c, "/optim/tensor_names", true, &tmp, &len, err);
    if (!rc) {
        for (size_t i = 0; i < len; i++) o->ntensors += tmp[i] == '\n';
        o->names = rv_xcalloc(o->ntensors ? o->ntensors : 1, sizeof *o->names);
        char *p = tmp;
        for (size_t i = 0; i < o->ntensors; i++) {
            char *e = strchr(p, '\n');
            o->names[i] = rv_xstrndup(p, (size_t)(e - p));
            p = e + 1;
        }
        free(tmp);
        rc = read_i64_table(c, "/optim/tensor_offsets", o->ntensors, &o->tensors, err);
    }
    int64_t at = 0;
    for (int r = 0; r < o->nranks && !rc; r++) {
        if (o->ranges[2 * r] != at || o->ranges[2 * r + 1] < 0)
            rc = rv_fail(err, "%s: /optim/ranges row %d does not continue the previous shard; the checkpoint is damaged",
                         c->path, r);
        at += o->ranges[2 * r + 1];
    }
    if (!rc && at != o->total)
        rc = rv_fail(err, "%s: the optimizer shards cover %lld elements, the arena has %lld; the checkpoint is damaged",
                     c->path, (long long)at, (long long)o->total);
    for (size_t i = 0; i < o->ntensors && !rc; i++)
        if (o->tensors[2 * i] < 0 || o->tensors[2 * i + 1] < 0 || o->tensors[2 * i] + o->tensors[2 * i + 1] > o->total)
            rc = rv_fail(err, "%s: /optim/tensor_offsets places '%s' outside the arena; the checkpoint is damaged",
                         c->path, o->names[i]);
    if (!rc) {
        char *ckdir = rv_path_dirname(c->path), *sdir = rv_path_join(ckdir, dir);
        o->files = rv_xmalloc((size_t)o->nranks * sizeof *o->files);
        o->shard_paths = rv_xcalloc((size_t)o->nranks, sizeof *o->shard_paths);
        for (int r = 0; r < o->nranks; r++) {
            o->files[r] = -1;
            o->shard_paths[r] = rv_xasprintf("%s/rank-%05d-of-%05d.h5", sdir, r, o->nranks);
        }
        free(sdir);
        free(ckdir);
    }
    free(dir);
    return rc;
}

int rv_ckpt_open(rv_ckpt **out, const char *path, rv_err *err) {
    *out = NULL;
    rv_h5_quiet();
    if (!rv_is_file(path)) return rv_fail(err, "%s: no such checkpoint file", path);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return rv_fail(err, "%s: not an HDF5 file (truncated, or not a checkpoint); use another checkpoint or import "
                       "the model again", path);
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) return rv_h5_fail(err, "%s: cannot open the checkpoint (damaged or truncated)", path);
    rv_ckpt *c = rv_xcalloc(1, sizeof *c);
    c->path = rv_xstrdup(path);
    c->f = f;
    int rc = 0;
    char *fmt = NULL;
    int64_t schema = 0, complete = 0;
    if (H5Aexists(f, "format") <= 0 || rv_h5_attr_str_get(f, "format", &fmt, path, err) ||
        strcmp(fmt, RV_CKPT_FORMAT) != 0) {
        H5Eclear2(H5E_DEFAULT);
        rc = rv_fail(err, "%s: not a radvlm-hpc checkpoint (root attribute format is '%s', expected '%s')", path,
                     fmt ? fmt : "missing", RV_CKPT_FORMAT);
    } else if (H5Aexists(f, "schema_version") <= 0 || rv_h5_attr_i64_get(f, "schema_version", &schema, 1, path, err) ||
               schema < 1 || schema > RV_CKPT_SCHEMA) {
        H5Eclear2(H5E_DEFAULT);
        rc = rv_fail(err, "%s: checkpoint schema_version %lld is not supported (this build reads 1 to %d; a newer "
                     "radvlm-hpc wrote it)", path, (long long)schema, RV_CKPT_SCHEMA);
    } else if (H5Aexists(f, "complete") <= 0 || rv_h5_attr_i64_get(f, "complete", &complete, 1, path, err) ||
               complete != 1) {
        H5Eclear2(H5E_DEFAULT);
        rc = rv_fail(err, "%s: the checkpoint is incomplete (its write was interrupted); use an earlier checkpoint",
                     path);
    }
    free(fmt);
    if (!rc && H5Aexists(f, "step") > 0) rc = rv_h5_attr_i64_get(f, "step", &c->step, 1, path, err);
    if (!rc) rc = read_text(c, "/meta/model_config", true, &c->model_config, NULL, err);
    if (!rc) rc = read_text(c, "/meta/run_config", false, &c->run_config, NULL, err);
    if (!rc) rc = read_text(c, "/meta/state", false, &c->state, NULL, err);
    if (!rc) rc = attr_str(c, "source_dtype", &c->source_dtype, err);
    if (!rc) rc = attr_str(c, "source", &c->source, err);
    c->schema = (int)schema;
    if (!rc && schema == 1) c->has_adam = h5_exists(f, "/adam/m") && h5_exists(f, "/adam/v");
    if (!rc && schema >= 2 && h5_exists(f, "/optim")) {
        rc = read_optim_table(c, err);
        c->has_adam = rc == 0;
    }
    if (rc) { rv_ckpt_close(c); return -1; }
    *out = c;
    return 0;
}

void rv_ckpt_close(rv_ckpt *c) {
    if (!c) return;
    optim_table *o = &c->opt;
    for (int r = 0; r < o->nranks; r++) {
        if (o->files && o->files[r] >= 0) rv_h5_close_file(o->files[r]);
        if (o->shard_paths) free(o->shard_paths[r]);
    }
    free(o->files);
    free(o->shard_paths);
    free(o->ranges);
    if (o->names) rv_free_strv(o->names, o->ntensors);
    free(o->tensors);
    if (c->f >= 0) H5Fclose(c->f);
    free(c->path);
    free(c->model_config);
    free(c->run_config);
    free(c->state);
    free(c->source_dtype);
    free(c->source);
    free(c);
}

const char *rv_ckpt_path_of(const rv_ckpt *c) { return c->path; }
int64_t rv_ckpt_step(const rv_ckpt *c) { return c->step; }
const char *rv_ckpt_model_config(const rv_ckpt *c) { return c->model_config; }
const char *rv_ckpt_run_config(const rv_ckpt *c) { return c->run_config; }
const char *rv_ckpt_state_json(const rv_ckpt *c) { return c->state; }
const char *rv_ckpt_source_dtype(const rv_ckpt *c) { return c->source_dtype; }
const char *rv_ckpt_source(const rv_ckpt *c) { return c->source; }
int rv_ckpt_schema(const rv_ckpt *c) { return c->schema; }
bool rv_ckpt_has_adam(const rv_ckpt *c) { return c->has_adam; }
int rv_ckpt_adam_nranks(const rv_ckpt *c) { return !c->has_adam ? 0 : c->schema == 1 ? 1 : c->opt.nranks; }

static int read_tensor(rv_ckpt *c, const char *group, const rv_wtensor *t, float *dst, rv_err *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", group, t->name);
    if (!h5_exists(c->f, path))
        return rv_fail(err, "%s: tensor '%s' is missing from %s; the checkpoint belongs to another model config", c->path,
                       t->name, group);
    hid_t d = H5Dopen2(c->f, path, H5P_DEFAULT);
    if (d < 0) return rv_h5_fail(err, "%s: cannot open %s", c->path, path);
    hid_t s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(s);
    hsize_t dims[H5S_MAX_RANK];
    int rc = 0;
    bool same = nd == t->ndim;
    if (nd >= 0 && nd <= H5S_MAX_RANK) H5Sget_simple_extent_dims(s, dims, NULL);
    for (int i = 0; same && i < nd; i++) same = dims[i] == (hsize_t)t->shape[i];
    if (!same) {
        char got[128] = "[", want[128] = "[";
        for (int i = 0; i < nd && i < 8; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        rc = rv_fail(err, "%s: tensor '%s' has shape %s], the model config expects %s]", c->path, path, got, want);
    } else if (t->numel && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        rc = rv_h5_fail(err, "%s: cannot read tensor %s (damaged: checksum or I/O error)", c->path, path);
    }
    H5Sclose(s);
    H5Dclose(d);
    return rc;
}

/* Every link of the group must be a tensor of the table. */
static int check_no_extra(rv_ckpt *c, const char *group, const rv_weights *w, rv_err *err) {
    H5G_info_t info;
    if (H5Gget_info_by_name(c->f, group, &info, H5P_DEFAULT) < 0) return rv_h5_fail(err, "%s: cannot list %s", c->path, group);
    if (info.nlinks == w->n) return 0;
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char name[512];
        if (H5Lget_name_by_idx(c->f, group, H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) break;
        if (rv_weights_find(w, name) < 0)
            return rv_fail(err, "%s: tensor '%s/%s' is not part of the model described by the checkpoint's config", c->path,
                           group, name);
    }
    return rv_fail(err, "%s: %s holds %llu tensors, the model has %zu", c->path, group, (unsigned long long)info.nlinks,
                   w->n);
}

int rv_ckpt_load_weights(rv_ckpt *c, rv_weights *w, rv_err *err) {
    if (!h5_exists(c->f, "/weights")) return rv_fail(err, "%s: group /weights is missing", c->path);
    float *host = rv_xmalloc(rv_weights_max_numel(w) * sizeof(float)); /* one tensor staged at a time */
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++)
        rc = read_tensor(c, "/weights", &w->t[i], host, err) || rv_weights_upload_tensor(w, i, host, err) ? -1 : 0;
    free(host);
    return rc ? -1 : check_no_extra(c, "/weights", w, err);
}

/* ---- optimizer state ---- */

/* Schema 1: the intersection of [off, off + n) with each tensor, from its /adam/{m,v}/<name>. */
static int load_adam_v1(rv_ckpt *c, const rv_weights *w, size_t off, size_t n, float *m, float *v, rv_err *err) {
    if (!c->v1_checked) {
        if (check_no_extra(c, "/adam/m", w, err) || check_no_extra(c, "/adam/v", w, err)) return -1;
        c->v1_checked = true;
    }
    float *host = rv_xmalloc(rv_weights_max_numel(w) * sizeof(float)); /* one tensor staged at a time */
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++) {
        const rv_wtensor *t = &w->t[i];
        size_t a = t->offset > off ? t->offset : off, b = t->offset + t->numel < off + n ? t->offset + t->numel : off + n;
        if (a >= b) continue;
        for (int k = 0; k < 2 && !rc; k++) {
            rc = read_tensor(c, k ? "/adam/v" : "/adam/m", t, host, err);
            if (!rc) memcpy((k ? v : m) + (a - off), host + (a - t->offset), (b - a) * sizeof(float));
        }
    }
    free(host);
    return rc;
}

/* Stored arena elements [soff, soff + len) of one moment ("m" or "v") from the shards that overlap it. */
static int read_stored(rv_ckpt *c, const char *which, int64_t soff, int64_t len, float *dst, rv_err *err) {
    optim_table *o = &c->opt;
    char name[16];
    snprintf(name, sizeof name, "/adam/%s", which);
    for (int r = 0; r < o->nranks; r++) {
        int64_t ro = o->ranges[2 * r], rn = o->ranges[2 * r + 1];
        int64_t a = soff > ro ? soff : ro, b = soff + len < ro + rn ? soff + len : ro + rn;
        if (a >= b) continue;
        if (o->files[r] < 0) {
            hid_t f = open_shard(o->shard_paths[r], err);
            if (f < 0) return rv_fail_wrap(err, "%s", c->path);
            if (check_shard_header(f, o->shard_paths[r], c->step, r, o->nranks, ro, rn, o->total, err)) {
                rv_h5_close_file(f);
                return rv_fail_wrap(err, "%s", c->path);
            }
            o->files[r] = f;
        }
        if (rv_h5_read_rows(o->files[r], name, H5T_NATIVE_FLOAT, (uint64_t)(a - ro), (uint64_t)(b - a),
                            dst + (a - soff), o->shard_paths[r], err))
            return -1;
    }
    return 0;
}

/* Where each of w's tensors sits in the stored arena (matched by name; sizes must agree). */
static int map_stored(rv_ckpt *c, const rv_weights *w, int64_t *soff, rv_err *err) {
    optim_table *o = &c->opt;
    if (o->ntensors != w->n)
        return rv_fail(err, "%s: the optimizer state holds %zu tensors, the model has %zu; the checkpoint belongs to "
                       "another model config", c->path, o->ntensors, w->n);
    for (size_t i = 0; i < w->n; i++) {
        size_t j = i; /* the same table order is the common case */
        if (strcmp(o->names[j], w->t[i].name) != 0)
            for (j = 0; j < o->ntensors && strcmp(o->names[j], w->t[i].name) != 0; j++) {}
        if (j == o->ntensors)
            return rv_fail(err, "%s: tensor '%s' has no optimizer state in the checkpoint; it belongs to another model "
                           "config", c->path, w->t[i].name);
        if (o->tensors[2 * j + 1] != (int64_t)w->t[i].numel)
            return rv_fail(err, "%s: the optimizer state of tensor '%s' has %lld elements, the model expects %zu",
                           c->path, w->t[i].name, (long long)o->tensors[2 * j + 1], w->t[i].numel);
        soff[i] = o->tensors[2 * j];
    }
    return 0;
}

/* Schema 2: runs of consecutive tensors that sit at the same distance in both layouts are read
 * with one hyperslab per shard (the whole range when the layouts agree). */
static int load_adam_v2(rv_ckpt *c, const rv_weights *w, size_t off, size_t n, float *m, float *v, rv_err *err) {
    int64_t *soff = rv_xmalloc((w->n ? w->n : 1) * sizeof *soff);
    int rc = map_stored(c, w, soff, err);
    size_t ra = 0, rb = 0; /* current run [ra, rb) in w's arena */
    int64_t rdelta = 0;
    bool run = false;
    for (size_t i = 0; i <= w->n && !rc; i++) {
        size_t a = 0, b = 0;
        int64_t delta = 0;
        if (i < w->n) {
            const rv_wtensor *t = &w->t[i];
            a = t->offset > off ? t->offset : off;
            b = t->offset + t->numel < off + n ? t->offset + t->numel : off + n;
            delta = soff[i] - (int64_t)t->offset;
            if (a >= b) continue;
            if (run && delta == rdelta) { rb = b; continue; }
        }
        if (run)
            rc = read_stored(c, "m", (int64_t)ra + rdelta, (int64_t)(rb - ra), m + (ra - off), err) ||
                         read_stored(c, "v", (int64_t)ra + rdelta, (int64_t)(rb - ra), v + (ra - off), err)
                     ? -1
                     : 0;
        run = i < w->n;
        ra = a, rb = b, rdelta = delta;
    }
    free(soff);
    return rc;
}

int rv_ckpt_load_adam_range(rv_ckpt *c, const rv_weights *w, size_t off, size_t n, float *m, float *v, rv_err *err) {
    if (!c->has_adam)
        return rv_fail(err, "%s: the checkpoint holds no optimizer state (an import, or saved without it)", c->path);
    if (off > w->total || n > w->total - off)
        return rv_fail(err, "%s: optimizer range [%zu, %zu) is outside the arena of %zu elements", c->path, off, off + n,
                       w->total);
    int rc = c->schema == 1 ? load_adam_v1(c, w, off, n, m, v, err) : load_adam_v2(c, w, off, n, m, v, err);
    if (rc) return -1;
    /* padding between tensors is 0, whatever the shards held there */
    size_t at = 0; /* end of the previous tensor */
    for (size_t i = 0; i <= w->n; i++) {
        size_t next = i < w->n ? w->t[i].offset : w->total;
        size_t a = at > off ? at : off, b = next < off + n ? next : off + n;
        if (a < b) {
            memset(m + (a - off), 0, (b - a) * sizeof(float));
            memset(v + (a - off), 0, (b - a) * sizeof(float));
        }
        if (i < w->n) at = w->t[i].offset + w->t[i].numel;
    }
    return 0;
}

int rv_ckpt_load_adam_shard(rv_ckpt *c, const rv_weights *w, int rank, int nranks, float *m, float *v, rv_err *err) {
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return rv_fail(err, "%s: optimizer shard of rank %d of %d ranks: no such rank", c->path, rank, nranks);
    rv_range q = rv_partition(w->total, rank, nranks);
    return rv_ckpt_load_adam_range(c, w, q.off, q.n, m, v, err);
}

int rv_ckpt_load_adam(rv_ckpt *c, const rv_weights *w, float *m, float *v, rv_err *err) {
    return rv_ckpt_load_adam_range(c, w, 0, w->total, m, v, err);
}

static int read_fixed(rv_ckpt *c, const char *name, hid_t memtype, void *dst, uint64_t n, rv_err *err) {
    if (!h5_exists(c->f, name)) return 0;
    void *buf;
    uint64_t rows;
    if (rv_h5_read_all(c->f, name, memtype, &buf, &rows, NULL, c->path, err)) return -1;
    if (rows != n) {
        free(buf);
        return rv_fail(err, "%s: %s has %llu values, expected %llu", c->path, name, (unsigned long long)rows,
                       (unsigned long long)n);
    }
    memcpy(dst, buf, n * H5Tget_size(memtype));
    free(buf);
    return 1;
}

int rv_ckpt_load_rng(rv_ckpt *c, rv_rng *out, rv_err *err) {
    uint32_t s[11];
    int rc = read_fixed(c, "/state/rng", H5T_NATIVE_UINT32, s, 11, err);
    if (rc != 1) return rc;
    if (s[10] > 4) return rv_fail(err, "%s: /state/rng has an invalid buffer position %u", c->path, s[10]);
    memcpy(out->key, s, 8);
    memcpy(out->ctr, s + 2, 16);
    memcpy(out->buf, s + 6, 16);
    out->pos = (int)s[10];
    return 1;
}

int rv_ckpt_load_cursor(rv_ckpt *c, rv_sampler_cursor *out, rv_err *err) {
    uint64_t v[6];
    int rc = read_fixed(c, "/state/cursor", H5T_NATIVE_UINT64, v, 6, err);
    if (rc != 1) return rc;
    *out = (rv_sampler_cursor){v[0], v[1], v[2], v[3], v[4], v[5]};
    return 1;
}

int rv_ckpt_load_file(rv_ckpt *c, const char *name, char **data, size_t *len, rv_err *err) {
    char path[600];
    if (strchr(name, '/')) return rv_fail(err, "checkpoint side file '%s': not a plain file name", name);
    snprintf(path, sizeof path, "/files/%s", name);
    if (!h5_exists(c->f, path)) return 0;
    if (read_text(c, path, true, data, len, err)) return -1;
    return 1;
}

int rv_ckpt_list_files(rv_ckpt *c, char ***names, size_t *n, rv_err *err) {
    *names = NULL;
    *n = 0;
    if (!h5_exists(c->f, "/files")) return 0;
    H5G_info_t info;
    if (H5Gget_info_by_name(c->f, "/files", &info, H5P_DEFAULT) < 0) return rv_h5_fail(err, "%s: cannot list /files", c->path);
    *names = rv_xcalloc(info.nlinks ? info.nlinks : 1, sizeof **names);
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char name[512];
        if (H5Lget_name_by_idx(c->f, "/files", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) {
            rv_free_strv(*names, *n);
            *names = NULL;
            *n = 0;
            return rv_h5_fail(err, "%s: cannot list /files", c->path);
        }
        (*names)[(*n)++] = rv_xstrdup(name);
    }
    return 0;
}

char *rv_ckpt_path(const char *run_dir, int64_t step) {
    return rv_xasprintf("%s/checkpoints/step-%08lld.h5", run_dir, (long long)step);
}

int rv_ckpt_latest(const char *run_dir, char **path, rv_err *err) {
    *path = NULL;
    char *dir = rv_path_join(run_dir, "checkpoints");
    if (!rv_is_dir(dir)) { free(dir); return 0; }
    char **names;
    size_t n;
    if (rv_list_dir(dir, &names, &n, err)) { free(dir); return -1; }
    long long best = -1;
    for (size_t i = 0; i < n; i++) {
        long long s;
        int used = 0;
        if (sscanf(names[i], "step-%lld.h5%n", &s, &used) == 1 && (size_t)used == strlen(names[i]) && s > best)
            best = s;
    }
    rv_free_strv(names, n);
    free(dir);
    if (best < 0) return 0;
    *path = rv_ckpt_path(run_dir, best);
    return 1;
}
