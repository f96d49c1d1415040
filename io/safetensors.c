#define _GNU_SOURCE
#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/half.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "io/json.h"

/* The file format is little-endian; so is every machine this targets. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif

/* ---- dtypes and conversions ---- */

const char *rv_st_dtype_name(rv_st_dtype t) {
    switch (t) {
    case RV_ST_F32: return "F32";
    case RV_ST_F16: return "F16";
    case RV_ST_BF16: return "BF16";
    default: return "?";
    }
}

size_t rv_st_dtype_size(rv_st_dtype t) { return t == RV_ST_F32 ? 4 : t == RV_ST_OTHER ? 0 : 2; }

int rv_st_dtype_parse(const char *s, rv_st_dtype *out) {
    static const struct { const char *s; rv_st_dtype t; } names[] = {
        {"F32", RV_ST_F32}, {"f32", RV_ST_F32}, {"float32", RV_ST_F32},
        {"F16", RV_ST_F16}, {"f16", RV_ST_F16}, {"float16", RV_ST_F16},
        {"BF16", RV_ST_BF16}, {"bf16", RV_ST_BF16}, {"bfloat16", RV_ST_BF16},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].s) == 0) { *out = names[i].t; return 0; }
    return -1;
}

void rv_st_to_f32(rv_st_dtype src, const void *in, float *out, size_t n) {
    const unsigned char *p = in;
    uint16_t h;
    switch (src) {
    case RV_ST_F32: memmove(out, in, n * 4); break;
    case RV_ST_F16: for (size_t i = 0; i < n; i++) { memcpy(&h, p + 2 * i, 2); out[i] = rv_f16_to_f32(h); } break;
    case RV_ST_BF16: for (size_t i = 0; i < n; i++) { memcpy(&h, p + 2 * i, 2); out[i] = rv_bf16_to_f32(h); } break;
    default: break;
    }
}

void rv_st_from_f32(rv_st_dtype dst, const float *in, void *out, size_t n) {
    unsigned char *p = out;
    uint16_t h;
    switch (dst) {
    case RV_ST_F32: memmove(out, in, n * 4); break;
    case RV_ST_F16: for (size_t i = 0; i < n; i++) { h = rv_f32_to_f16(in[i]); memcpy(p + 2 * i, &h, 2); } break;
    case RV_ST_BF16: for (size_t i = 0; i < n; i++) { h = rv_f32_to_bf16(in[i]); memcpy(p + 2 * i, &h, 2); } break;
    default: break;
    }
}

/* ---- reading ---- */

/* Every dtype of the format, so that files holding other tensors still validate. */
static int dtype_lookup(const char *s, rv_st_dtype *t, size_t *size) {
    static const struct { const char *s; size_t size; } all[] = {
        {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2},
        {"I32", 4}, {"U32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8},
    };
    if (strcmp(s, "F32") == 0 || strcmp(s, "F16") == 0 || strcmp(s, "BF16") == 0) {
        rv_st_dtype_parse(s, t);
        *size = rv_st_dtype_size(*t);
        return 0;
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, all[i].s) == 0) { *t = RV_ST_OTHER; *size = all[i].size; return 0; }
    return -1;
}

/* A non-negative integer literal that fits in uint64 (the JSON text, not a double). */
static bool json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || !v->valuestring || !rv_json_is_int_literal(v) || v->valuestring[0] == '-') return false;
    const char *s = v->valuestring;
    uint64_t r = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (r > (UINT64_MAX - d) / 10) return false;
        r = r * 10 + d;
    }
    *out = r;
    return true;
}

void rv_st_shape_str(const uint64_t *shape, int ndim, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const rv_st_tensor *)a)->name, ((const rv_st_tensor *)b)->name);
}

static int by_offset(const void *a, const void *b) {
    const rv_st_tensor *x = *(rv_st_tensor *const *)a, *y = *(rv_st_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int pread_all(int fd, void *buf, uint64_t n, uint64_t off) {
    unsigned char *p = buf;
    while (n) {
        size_t want = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t got = pread(fd, p, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        p += got;
        off += (uint64_t)got;
        n -= (uint64_t)got;
    }
    return 0;
}

static int parse_entry(const char *path, const cJSON *e, rv_st_tensor *t, uint64_t data_size, rv_err *err) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e))
        return rv_fail(err, "%s: header entry for tensor '%s' is not an object; the file is not valid safetensors", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return rv_fail(err, "%s: tensor '%s': key 'dtype' missing or not a string", path, nm);
    if (!cJSON_IsArray(sh)) return rv_fail(err, "%s: tensor '%s': key 'shape' missing or not an array", path, nm);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return rv_fail(err, "%s: tensor '%s': key 'data_offsets' missing or not [begin, end]", path, nm);
    size_t esize;
    if (dtype_lookup(dt->valuestring, &t->dtype, &esize))
        return rv_fail(err, "%s: tensor '%s': unknown dtype '%s' (supported: F32, F16, BF16)", path, nm, dt->valuestring);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > RV_ST_MAX_DIMS)
        return rv_fail(err, "%s: tensor '%s' has %d dimensions (at most %d supported)", path, nm, nd, RV_ST_MAX_DIMS);
    t->ndim = nd;
    t->numel = 1;
    bool ovf = false;
    for (int i = 0; i < nd; i++) {
        if (!json_u64(cJSON_GetArrayItem(sh, i), &t->shape[i]))
            return rv_fail(err, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, nm, i);
        if (t->shape[i] && t->numel > UINT64_MAX / t->shape[i]) ovf = true;
        else t->numel *= t->shape[i];
    }
    if (ovf || t->numel > UINT64_MAX / esize)
        return rv_fail(err, "%s: tensor '%s': shape is too large (element count overflows)", path, nm);
    uint64_t b, en;
    if (!json_u64(cJSON_GetArrayItem(of, 0), &b) || !json_u64(cJSON_GetArrayItem(of, 1), &en))
        return rv_fail(err, "%s: tensor '%s': data_offsets are not non-negative integers", path, nm);
    if (en < b) return rv_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path, nm,
                                (unsigned long long)b, (unsigned long long)en);
    if (en > data_size)
        return rv_fail(err,
                       "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%llu bytes); the file "
                       "is truncated or its header is wrong; download or export it again",
                       path, nm, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_size);
    t->nbytes = en - b;
    if (t->nbytes != t->numel * esize) {
        char shp[160];
        rv_st_shape_str(t->shape, t->ndim, shp, sizeof shp);
        return rv_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s %s needs %llu; the "
                       "header is corrupt", path, nm, (unsigned long long)b, (unsigned long long)en,
                       (unsigned long long)t->nbytes, t->dtype_name, shp, (unsigned long long)(t->numel * esize));
    }
    t->offset = b; /* relative for now */
    t->name = rv_xstrdup(nm);
    return 0;
}

/* Offsets sorted: the first at 0, each starting where the previous ended, the last at the end. */
static int check_layout(const char *path, rv_st_tensor *t, size_t n, uint64_t data_size, rv_err *err) {
    rv_st_tensor **o = rv_xmalloc((n ? n : 1) * sizeof *o);
    for (size_t i = 0; i < n; i++) o[i] = &t[i];
    qsort(o, n, sizeof *o, by_offset);
    uint64_t pos = 0;
    const char *prev = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (o[i]->offset < pos)
            rc = rv_fail(err, "%s: tensors '%s' and '%s' overlap (data_offsets [%llu, ...] begin before %llu); the "
                         "header is corrupt", path, prev, o[i]->name, (unsigned long long)o[i]->offset,
                         (unsigned long long)pos);
        else if (o[i]->offset > pos)
            rc = rv_fail(err, "%s: %llu unused bytes before tensor '%s' (data_offsets begin at %llu, expected %llu); the "
                         "header is corrupt", path, (unsigned long long)(o[i]->offset - pos), o[i]->name,
                         (unsigned long long)o[i]->offset, (unsigned long long)pos);
        pos = o[i]->offset + o[i]->nbytes;
        prev = o[i]->name;
    }
    if (!rc && pos != data_size)
        rc = rv_fail(err, "%s: the data buffer holds %llu bytes but the tensors cover %llu; the file has trailing "
                     "bytes or a damaged header", path, (unsigned long long)data_size, (unsigned long long)pos);
    free(o);
    return rc;
}

int rv_st_open(rv_st_file *f, const char *path, rv_err *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rv_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rv_fail(err, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char lenb[8];
    if (size < 8 || pread_all(fd, lenb, 8, 0)) {
        close(fd);
        return rv_fail(err, "%s: only %llu bytes, shorter than the 8-byte header length; the file is truncated", path,
                       (unsigned long long)size);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lenb[i];
    if (hlen > RV_ST_MAX_HEADER) {
        close(fd);
        return rv_fail(err, "%s: header length %llu exceeds the %u-byte limit; not a safetensors file or damaged", path,
                       (unsigned long long)hlen, RV_ST_MAX_HEADER);
    }
    if (hlen < 2 || hlen > size - 8) {
        close(fd);
        return rv_fail(err, "%s: header length %llu does not fit in the file (%llu bytes); the file is truncated or not "
                       "safetensors", path, (unsigned long long)hlen, (unsigned long long)size);
    }
    char *h = rv_xmalloc(hlen + 1);
    if (pread_all(fd, h, hlen, 8)) {
        free(h);
        close(fd);
        return rv_fail(err, "%s: cannot read the %llu-byte header", path, (unsigned long long)hlen);
    }
    h[hlen] = 0;
    f->path = rv_xstrdup(path);
    f->fd = fd;
    f->size = size;
    f->data_start = 8 + hlen;
    uint64_t data_size = size - f->data_start;
    int rc = 0;
    cJSON *root = NULL;
    const char *end = NULL;
    if (h[0] != '{') {
        rc = rv_fail(err, "%s: the header does not start with '{'; not a safetensors file", path);
    } else {
        cJSON *probe = cJSON_ParseWithLengthOpts(h, hlen, &end, 0);
        bool trailing = false;
        if (probe && end)
            for (const char *p = end; p < h + hlen; p++)
                if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') trailing = true;
        cJSON_Delete(probe);
        if (trailing) rc = rv_fail(err, "%s: unexpected bytes after the JSON header; the header is corrupt", path);
        else {
            char *where = rv_xasprintf("%s (header)", path);
            root = rv_json_parse_all_keys(where, h, hlen, err); /* a name given twice is reported below */
            free(where);
            if (!root) rc = -1;
            else if (!cJSON_IsObject(root)) rc = rv_fail(err, "%s: the header is not a JSON object", path);
        }
    }
    free(h);
    if (!rc) {
        size_t cap = (size_t)cJSON_GetArraySize(root);
        f->t = rv_xcalloc(cap ? cap : 1, sizeof *f->t);
        for (const cJSON *e = root->child; e && !rc; e = e->next) {
            if (strcmp(e->string, "__metadata__") == 0) {
                if (!cJSON_IsObject(e)) { rc = rv_fail(err, "%s: __metadata__ is not an object", path); break; }
                for (const cJSON *m = e->child; m; m = m->next)
                    if (!cJSON_IsString(m)) rc = rv_fail(err, "%s: __metadata__ key '%s' is not a string", path, m->string);
                free(f->metadata_json);
                f->metadata_json = cJSON_PrintUnformatted(e);
                continue;
            }
            rc = parse_entry(path, e, &f->t[f->n], data_size, err);
            if (!rc) f->n++;
        }
    }
    cJSON_Delete(root);
    if (!rc) {
        qsort(f->t, f->n, sizeof *f->t, by_name);
        for (size_t i = 1; i < f->n && !rc; i++)
            if (strcmp(f->t[i - 1].name, f->t[i].name) == 0)
                rc = rv_fail(err, "%s: tensor '%s' appears twice in the header", path, f->t[i].name);
    }
    if (!rc) rc = check_layout(path, f->t, f->n, data_size, err);
    if (rc) { rv_st_close(f); return -1; }
    for (size_t i = 0; i < f->n; i++) f->t[i].offset += f->data_start;
    return 0;
}

void rv_st_close(rv_st_file *f) {
    if (f->fd >= 0) close(f->fd);
    for (size_t i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    free(f->path);
    free(f->metadata_json);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

const rv_st_tensor *rv_st_find(const rv_st_file *f, const char *name) {
    rv_st_tensor key = {.name = (char *)name};
    return f->n ? bsearch(&key, f->t, f->n, sizeof *f->t, by_name) : NULL;
}

int rv_st_read_raw(const rv_st_file *f, const rv_st_tensor *t, void *dst, rv_err *err) {
    /* Checked again here: the tensor must lie inside the file as it was validated. */
    if (t->offset < f->data_start || t->offset > f->size || t->nbytes > f->size - t->offset)
        return rv_fail(err, "%s: tensor '%s' lies outside the file", f->path, t->name);
    if (pread_all(f->fd, dst, t->nbytes, t->offset))
        return rv_fail(err, "%s: cannot read tensor '%s' (%llu bytes at offset %llu): %s; the file changed or is "
                       "damaged", f->path, t->name, (unsigned long long)t->nbytes, (unsigned long long)t->offset,
                       errno ? strerror(errno) : "short read");
    return 0;
}

int rv_st_read_f32(const rv_st_file *f, const rv_st_tensor *t, float *dst, rv_err *err) {
    if (t->dtype == RV_ST_OTHER)
        return rv_fail(err, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 can be loaded", f->path, t->name,
                       t->dtype_name);
    if (t->dtype == RV_ST_F32) return rv_st_read_raw(f, t, dst, err);
    enum { CHUNK = 1 << 18 };
    uint16_t *buf = rv_xmalloc((size_t)(t->numel < CHUNK ? (t->numel ? t->numel : 1) : CHUNK) * 2);
    int rc = 0;
    for (uint64_t i = 0; i < t->numel && !rc; i += CHUNK) {
        uint64_t k = t->numel - i < CHUNK ? t->numel - i : CHUNK;
        rv_st_tensor part = *t;
        part.offset = t->offset + 2 * i;
        part.nbytes = 2 * k;
        rc = rv_st_read_raw(f, &part, buf, err);
        if (!rc) rv_st_to_f32(t->dtype, buf, dst + i, (size_t)k);
    }
    free(buf);
    return rc;
}

/* ---- sets (single file or sharded) ---- */

static int by_name_ptr(const void *a, const void *b) {
    return strcmp((*(rv_st_tensor *const *)a)->name, (*(rv_st_tensor *const *)b)->name);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int set_add_file(rv_st_set *s, const char *path, rv_err *err) {
    s->files = rv_xrealloc(s->files, (s->nfiles + 1) * sizeof *s->files);
    if (rv_st_open(&s->files[s->nfiles], path, err)) return -1;
    s->nfiles++;
    return 0;
}

static int set_finish(rv_st_set *s, rv_err *err) {
    qsort(s->t, s->n, sizeof *s->t, by_name_ptr);
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->t[i - 1]->name, s->t[i]->name) == 0)
            return rv_fail(err, "%s: tensor '%s' appears twice (in %s and %s)", s->source, s->t[i]->name,
                           s->files[s->t[i - 1]->file].path, s->files[s->t[i]->file].path);
    return 0;
}

static int open_index(rv_st_set *s, const char *index, rv_err *err) {
    cJSON *root = rv_json_parse_file(index, err);
    if (!root) return -1;
    int rc = 0;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    char *dir = rv_path_dirname(index);
    char **shards = NULL;
    size_t nsh = 0;
    if (!cJSON_IsObject(wm)) rc = rv_fail(err, "%s: key 'weight_map' missing or not an object", index);
    /* distinct shard names, in order of first appearance */
    for (const cJSON *e = wm ? wm->child : NULL; e && !rc; e = e->next) {
        if (!cJSON_IsString(e)) { rc = rv_fail(err, "%s: weight_map['%s'] is not a string", index, e->string); break; }
        const char *fn = e->valuestring;
        if (!*fn || strchr(fn, '/') || strcmp(fn, ".") == 0 || strcmp(fn, "..") == 0) {
            rc = rv_fail(err, "%s: weight_map['%s'] = '%s' is not a plain file name in the index's directory", index,
                         e->string, fn);
            break;
        }
        size_t k = 0;
        while (k < nsh && strcmp(shards[k], fn) != 0) k++;
        if (k == nsh) { shards = rv_xrealloc(shards, (nsh + 1) * sizeof *shards); shards[nsh++] = (char *)fn; }
    }
    for (size_t k = 0; k < nsh && !rc; k++) {
        char *p = rv_path_join(dir, shards[k]);
        rc = set_add_file(s, p, err);
        if (rc) rv_fail_wrap(err, "%s lists shard %s", index, shards[k]);
        free(p);
    }
    size_t listed = 0;
    for (const cJSON *e = wm ? wm->child : NULL; e && !rc; e = e->next) {
        size_t k = 0;
        while (strcmp(shards[k], e->valuestring) != 0) k++;
        const rv_st_tensor *t = rv_st_find(&s->files[k], e->string);
        if (!t) {
            rc = rv_fail(err, "%s: tensor '%s' is listed in shard %s, which does not hold it; the download is incomplete "
                         "or the index is stale", index, e->string, shards[k]);
            break;
        }
        s->t = rv_xrealloc(s->t, (s->n + 1) * sizeof *s->t);
        s->t[s->n++] = (rv_st_tensor *)t;
        listed++;
    }
    if (!rc) {
        for (size_t k = 0; k < s->nfiles; k++)
            for (size_t i = 0; i < s->files[k].n; i++) s->files[k].t[i].file = (int)k;
        size_t total = 0;
        for (size_t k = 0; k < s->nfiles; k++) total += s->files[k].n;
        if (total > listed)
            rv_warn("%s: %zu tensor(s) in the shards are not in weight_map and are ignored", index, total - listed);
        rc = set_finish(s, err);
    }
    free(shards);
    free(dir);
    cJSON_Delete(root);
    return rc;
}

static int open_single(rv_st_set *s, const char *path, rv_err *err) {
    if (set_add_file(s, path, err)) return -1;
    rv_st_file *f = &s->files[0];
    s->n = f->n;
    s->t = rv_xmalloc((f->n ? f->n : 1) * sizeof *s->t);
    for (size_t i = 0; i < f->n; i++) { f->t[i].file = 0; s->t[i] = &f->t[i]; }
    return set_finish(s, err);
}

int rv_st_set_open(rv_st_set *s, const char *path, rv_err *err) {
    memset(s, 0, sizeof *s);
    s->source = rv_xstrdup(path);
    int rc;
    if (rv_is_dir(path)) {
        char *idx = rv_path_join(path, "model.safetensors.index.json");
        char *one = rv_path_join(path, "model.safetensors");
        if (rv_is_file(idx)) rc = open_index(s, idx, err);
        else if (rv_is_file(one)) rc = open_single(s, one, err);
        else {
            char **names = NULL;
            size_t nn = 0, found = 0, which = 0;
            rc = rv_list_dir(path, &names, &nn, err);
            for (size_t i = 0; !rc && i < nn; i++)
                if (ends_with(names[i], ".safetensors")) { found++; which = i; }
            if (!rc && found == 1) {
                char *p = rv_path_join(path, names[which]);
                rc = open_single(s, p, err);
                free(p);
            } else if (!rc) {
                rc = rv_fail(err, "%s: %s; expected model.safetensors or model.safetensors.index.json", path,
                             found ? "several .safetensors files but no index" : "no .safetensors file");
            }
            rv_free_strv(names, nn);
        }
        free(idx);
        free(one);
    } else if (ends_with(path, ".json")) {
        rc = open_index(s, path, err);
    } else {
        rc = open_single(s, path, err);
    }
    if (rc) rv_st_set_close(s);
    return rc;
}

void rv_st_set_close(rv_st_set *s) {
    for (size_t i = 0; i < s->nfiles; i++) rv_st_close(&s->files[i]);
    free(s->files);
    free(s->t);
    free(s->source);
    memset(s, 0, sizeof *s);
}

const rv_st_tensor *rv_st_set_find(const rv_st_set *s, const char *name) {
    rv_st_tensor key = {.name = (char *)name}, *kp = &key;
    rv_st_tensor **r = s->n ? bsearch(&kp, s->t, s->n, sizeof *s->t, by_name_ptr) : NULL;
    return r ? *r : NULL;
}

/* ---- writing ---- */

static uint64_t out_numel(const rv_st_out *t) {
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static uint64_t out_bytes(const rv_st_out *t) { return out_numel(t) * rv_st_dtype_size(t->dtype); }

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int write_data(FILE *fp, const rv_st_out *t) {
    uint64_t n = out_numel(t);
    if (t->dtype == t->src_dtype) {
        uint64_t nb = n * rv_st_dtype_size(t->dtype);
        return nb && fwrite(t->data, 1, (size_t)nb, fp) != nb ? -1 : 0;
    }
    enum { CHUNK = 1 << 16 };
    float *f = rv_xmalloc(CHUNK * sizeof *f);
    unsigned char *o = rv_xmalloc(CHUNK * 4);
    size_t ssz = rv_st_dtype_size(t->src_dtype), dsz = rv_st_dtype_size(t->dtype);
    int rc = 0;
    for (uint64_t i = 0; i < n && !rc; i += CHUNK) {
        size_t k = (size_t)(n - i < CHUNK ? n - i : CHUNK);
        rv_st_to_f32(t->src_dtype, (const unsigned char *)t->data + i * ssz, f, k);
        rv_st_from_f32(t->dtype, f, o, k);
        if (fwrite(o, dsz, k, fp) != k) rc = -1;
    }
    free(f);
    free(o);
    return rc;
}

int rv_st_write(const char *path, const rv_st_out *t, size_t n, rv_err *err) {
    char **names = rv_xmalloc((n ? n : 1) * sizeof *names);
    for (size_t i = 0; i < n; i++) names[i] = (char *)t[i].name;
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            int rc = rv_fail(err, "%s: tensor '%s' given twice", path, names[i]);
            free(names);
            return rc;
        }
    free(names);
    for (size_t i = 0; i < n; i++)
        if (t[i].dtype == RV_ST_OTHER || t[i].src_dtype == RV_ST_OTHER || t[i].ndim < 0 || t[i].ndim > RV_ST_MAX_DIMS)
            return rv_fail(err, "%s: tensor '%s': unsupported dtype or rank", path, t[i].name);
    rv_sb h;
    rv_sb_init(&h);
    rv_sb_puts(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        rv_sb_putc(&h, ',');
        rv_pyjson_string(&h, t[i].name, false);
        rv_sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", rv_st_dtype_name(t[i].dtype));
        for (int d = 0; d < t[i].ndim; d++) rv_sb_printf(&h, "%s%llu", d ? "," : "", (unsigned long long)t[i].shape[d]);
        uint64_t nb = out_bytes(&t[i]);
        rv_sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    rv_sb_putc(&h, '}');
    while ((8 + h.len) % 8) rv_sb_putc(&h, ' ');
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    rv_afile a;
    if (rv_afile_open(&a, path, err)) { rv_sb_free(&h); return -1; }
    int bad = fwrite(lenb, 1, 8, a.fp) != 8 || fwrite(h.s, 1, h.len, a.fp) != h.len;
    rv_sb_free(&h);
    for (size_t i = 0; i < n && !bad; i++) bad = write_data(a.fp, &t[i]) != 0;
    if (bad) {
        int e = errno;
        rv_afile_abort(&a);
        return rv_fail(err, "%s: write failed: %s; check free disk space", path, strerror(e));
    }
    return rv_afile_commit(&a, err);
}

/* model.safetensors, model.safetensors.index.json or model-NNNNN-of-NNNNN.safetensors */
static bool is_export_file(const char *nm) {
    if (strcmp(nm, "model.safetensors") == 0 || strcmp(nm, "model.safetensors.index.json") == 0) return true;
    unsigned a, b;
    int used = 0;
    return sscanf(nm, "model-%5u-of-%5u.safetensors%n", &a, &b, &used) == 2 && (size_t)used == strlen(nm);
}

int rv_st_write_dir(const char *dir, const rv_st_out *t, size_t n, uint64_t max_shard_bytes, int *nshards,
                    rv_err *err) {
    if (rv_mkdir_p(dir, err)) return -1;
    /* shard boundaries: start[k] .. start[k+1] */
    size_t *start = rv_xmalloc((n + 2) * sizeof *start);
    size_t ns = 0;
    uint64_t cur = 0, total = 0;
    start[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = out_bytes(&t[i]);
        if (max_shard_bytes && cur && cur + b > max_shard_bytes) { start[++ns] = i; cur = 0; }
        cur += b;
        total += b;
    }
    start[++ns] = n;
    char **written = rv_xcalloc(ns + 1, sizeof *written);
    int rc = 0;
    for (size_t k = 0; k < ns && !rc; k++) {
        written[k] = ns == 1 ? rv_xstrdup("model.safetensors")
                             : rv_xasprintf("model-%05zu-of-%05zu.safetensors", k + 1, ns);
        char *p = rv_path_join(dir, written[k]);
        rc = rv_st_write(p, t + start[k], start[k + 1] - start[k], err);
        free(p);
    }
    if (!rc && ns > 1) {
        cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata");
        cJSON_AddItemToObject(meta, "total_size", cJSON_CreateNumber((double)total));
        cJSON *wm = cJSON_AddObjectToObject(root, "weight_map");
        /* sorted by name, as transformers writes it */
        size_t *ord = rv_xmalloc(n * sizeof *ord);
        const char **nm = rv_xmalloc(n * sizeof *nm);
        for (size_t i = 0; i < n; i++) nm[i] = t[i].name;
        for (size_t i = 0; i < n; i++) ord[i] = i;
        for (size_t i = 1; i < n; i++) /* insertion sort on indices; n is a few thousand at most */
            for (size_t j = i; j > 0 && strcmp(nm[ord[j - 1]], nm[ord[j]]) > 0; j--) {
                size_t x = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = x;
            }
        for (size_t i = 0; i < n; i++) {
            size_t k = 0;
            while (ord[i] >= start[k + 1]) k++;
            cJSON_AddItemToObject(wm, nm[ord[i]], cJSON_CreateString(written[k]));
        }
        free(ord);
        free(nm);
        rv_sb sb;
        rv_sb_init(&sb);
        rv_pyjson_dump(&sb, root, 2, true);
        rv_sb_putc(&sb, '\n');
        char *p = rv_path_join(dir, "model.safetensors.index.json");
        written[ns] = rv_xstrdup("model.safetensors.index.json");
        rc = rv_write_atomic(p, sb.s, sb.len, err);
        free(p);
        rv_sb_free(&sb);
        cJSON_Delete(root);
    }
    if (!rc) {
        char **names = NULL;
        size_t nn = 0;
        if (rv_list_dir(dir, &names, &nn, err) == 0) {
            for (size_t i = 0; i < nn; i++) {
                if (!is_export_file(names[i])) continue;
                bool keep = false;
                for (size_t k = 0; k <= ns && !keep; k++) keep = written[k] && strcmp(written[k], names[i]) == 0;
                if (keep) continue;
                char *p = rv_path_join(dir, names[i]);
                if (unlink(p) != 0) rv_warn("%s: cannot remove stale file: %s", p, strerror(errno));
                free(p);
            }
            rv_free_strv(names, nn);
        } else {
            rc = -1;
        }
    }
    if (nshards) *nshards = (int)ns;
    for (size_t k = 0; k <= ns; k++) free(written[k]);
    free(written);
    free(start);
    return rc;
}
