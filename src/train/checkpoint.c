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

static int write_body(hid_t f, const rv_ckpt_data *d, rv_err *err) {
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
    size_t most = 1;
    for (size_t i = 0; i < w->n; i++) most = w->t[i].numel > most ? w->t[i].numel : most;
    float *host = rv_xmalloc(most * sizeof(float)); /* one tensor staged at a time */
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++) {
        const rv_wtensor *t = &w->t[i];
        snprintf(path, sizeof path, "/weights/%s", t->name);
        rc = rv_weights_download_tensor(w, i, host, err) || write_tensor(f, path, t, host, err);
        if (rc) break;
        if (d->adam_m && d->adam_v) {
            snprintf(path, sizeof path, "/adam/m/%s", t->name);
            if (write_tensor(f, path, t, d->adam_m + t->offset, err)) { rc = -1; break; }
            snprintf(path, sizeof path, "/adam/v/%s", t->name);
            if (write_tensor(f, path, t, d->adam_v + t->offset, err)) rc = -1;
        }
    }
    free(host);
    if (rc) return -1;
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

int rv_ckpt_write(const char *path, const rv_ckpt_data *d, rv_err *err) {
    if (!d->w || !d->model_config_json) return rv_fail(err, "%s: checkpoint needs the weights and the model config", path);
    if ((d->adam_m == NULL) != (d->adam_v == NULL))
        return rv_fail(err, "%s: checkpoint needs both AdamW moments or neither", path);
    char *tmp = rv_xasprintf("%s.tmp-%ld", path, (long)getpid());
    hid_t f = rv_h5_create(tmp, err);
    if (f < 0) { free(tmp); return rv_fail_wrap(err, "%s", path); }
    int rc = write_body(f, d, err);
    if (rc) rv_fail_wrap(err, "%s", path);
    if (H5Fclose(f) < 0 && !rc) rc = rv_h5_fail(err, "%s: closing the checkpoint failed (disk full?)", path);
    if (!rc && fsync_path(tmp, O_RDONLY) != 0)
        rc = rv_fail(err, "%s: fsync failed: %s; check the file system", path, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = rv_fail(err, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc) unlink(tmp);
    else {
        char *dir = rv_path_dirname(path);
        fsync_path(dir, O_RDONLY | O_DIRECTORY); /* best effort: make the rename durable */
        free(dir);
    }
    free(tmp);
    return rc;
}

/* ---- reading ---- */

struct rv_ckpt {
    char *path;
    hid_t f;
    int64_t step;
    char *model_config, *run_config, *state, *source_dtype, *source;
    bool has_adam;
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
               schema != RV_CKPT_SCHEMA) {
        H5Eclear2(H5E_DEFAULT);
        rc = rv_fail(err, "%s: checkpoint schema_version %lld is not supported (this build reads %d)", path,
                     (long long)schema, RV_CKPT_SCHEMA);
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
    if (!rc) c->has_adam = h5_exists(f, "/adam/m") && h5_exists(f, "/adam/v");
    if (rc) { rv_ckpt_close(c); return -1; }
    *out = c;
    return 0;
}

void rv_ckpt_close(rv_ckpt *c) {
    if (!c) return;
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
bool rv_ckpt_has_adam(const rv_ckpt *c) { return c->has_adam; }

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
    size_t most = 1;
    for (size_t i = 0; i < w->n; i++) most = w->t[i].numel > most ? w->t[i].numel : most;
    float *host = rv_xmalloc(most * sizeof(float)); /* one tensor staged at a time */
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++)
        rc = read_tensor(c, "/weights", &w->t[i], host, err) || rv_weights_upload_tensor(w, i, host, err) ? -1 : 0;
    free(host);
    return rc ? -1 : check_no_extra(c, "/weights", w, err);
}

int rv_ckpt_load_adam(rv_ckpt *c, const rv_weights *w, float *m, float *v, rv_err *err) {
    if (!c->has_adam)
        return rv_fail(err, "%s: the checkpoint holds no optimizer state (an import, or saved without it)", c->path);
    for (size_t i = 0; i < w->n; i++)
        if (read_tensor(c, "/adam/m", &w->t[i], m + w->t[i].offset, err) ||
            read_tensor(c, "/adam/v", &w->t[i], v + w->t[i].offset, err))
            return -1;
    if (check_no_extra(c, "/adam/m", w, err) || check_no_extra(c, "/adam/v", w, err)) return -1;
    return 0;
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
