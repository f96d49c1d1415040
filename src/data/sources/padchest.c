/* PadChest-GR (data.md §7): phrase grounding samples (one per finding with boxes) and
 * per-image grounded conversations. */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "data/sources/reader_util.h"
#include "data/sources/readers.h"
#include "io/json.h"

#define MASTER "master_table.csv"
#define LABELS "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"
#define GROUNDED "grounded_reports_20240819.json"

static const char *split_value(const char *split) { return !strcmp(split, "valid") ? "validation" : split; }

/* ImageIDs in the master table for the split and AP/PA in the labels CSV (P15). */
static int keep_set(const rv_reader_ctx *c, const char *root, const char *split, rv_nameset *keep, rv_err *err) {
    memset(keep, 0, sizeof *keep);
    const char *sv = split_value(split);
    if (strcmp(sv, "train") && strcmp(sv, "validation") && strcmp(sv, "test"))
        return rv_fail(err, "PadChest-GR: split '%s' does not exist (use train, validation or test)", split);
    char *mp = rv_path_join(root, MASTER), *lp = rv_path_join(root, LABELS);
    rv_csv *m = NULL, *l = NULL;
    rv_smap proj;
    rv_smap_init(&proj, 1024);
    int rc = -1;
    static const char *const mcols_n[2] = {"ImageID", "split"};
    static const char *const lcols_n[2] = {"ImageID", "Projection"};
    int mcols[2], lcols[2];
    if (rv_reader_csv(c, mp, "PadChest-GR", &m, err) != 0 || rv_reader_cols(m, mcols_n, mcols, 2, err) != 0) goto out;
    if (rv_reader_csv(c, lp, "PadChest-GR", &l, err) != 0 || rv_reader_cols(l, lcols_n, lcols, 2, err) != 0) goto out;
    for (size_t r = 0; r < l->nrows; r++) {
        const char *p = rv_csv_get(l, r, lcols[1]);
        if (!strcmp(p, "AP") || !strcmp(p, "PA")) rv_smap_put(&proj, rv_csv_get(l, r, lcols[0]), r);
    }
    keep->names = rv_xcalloc(m->nrows ? m->nrows : 1, sizeof *keep->names);
    rv_smap_init(&keep->map, m->nrows ? m->nrows : 1);
    for (size_t r = 0; r < m->nrows; r++) {
        const char *id = rv_csv_get(m, r, mcols[0]);
        if (strcmp(rv_csv_get(m, r, mcols[1]), sv) || rv_smap_get(&proj, id) == RV_MAP_NONE) continue;
        if (rv_smap_get(&keep->map, id) != RV_MAP_NONE) continue;
        keep->names[keep->n] = rv_xstrdup(id);
        rv_smap_put(&keep->map, keep->names[keep->n], keep->n);
        keep->n++;
    }
    rc = 0;
out:
    rv_smap_free(&proj);
    rv_csv_free(m);
    rv_csv_free(l);
    free(mp);
    free(lp);
    if (rc != 0 && keep->names) rv_nameset_free(keep);
    return rc;
}

/* One box [x1, y1, x2, y2] as stored; integer literals remembered for the text (§0.2). */
static int parse_box(const cJSON *a, rv_box *b) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 4) return -1;
    b->int_mask = 0;
    for (int j = 0; j < 4; j++) {
        const cJSON *v = cJSON_GetArrayItem(a, j);
        if (!cJSON_IsNumber(v)) return -1;
        b->v[j] = v->valuedouble;
        if (rv_json_is_int_literal(v)) b->int_mask |= 1u << j;
    }
    return 0;
}

typedef int (*entry_fn)(const rv_reader_ctx *c, const char *gpath, size_t idx, const char *image_id,
                        const cJSON *entry, rv_dataset *d, void *user, rv_err *err);

/* Walks grounded_reports in file order, calling fn for each kept image. */
static int walk(const rv_reader_ctx *c, const char *split, rv_dataset *d, entry_fn fn, void *user, rv_err *err) {
    char *root = rv_path_join(c->data_dir, "PadChest");
    char *gpath = rv_path_join(root, GROUNDED);
    rv_nameset keep;
    cJSON *g = NULL;
    int rc = -1;
    if (keep_set(c, root, split, &keep, err) != 0) goto out0;
    if (!rv_is_file(gpath)) {
        rv_fail(err, "PadChest-GR: %s not found; it is part of the PadChest-GR download", gpath);
        goto out;
    }
    g = rv_json_parse_file(gpath, err);
    if (!g) goto out;
    if (!cJSON_IsArray(g)) {
        rv_fail(err, "%s: must hold a JSON array of {\"ImageID\", \"findings\"} objects", gpath);
        goto out;
    }
    size_t idx = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, g) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "ImageID");
        if (!cJSON_IsString(id)) {
            char *where = rv_xasprintf("%s: record %zu", gpath, idx);
            int st = rv_badrec_report(c->bad, err, where, "no string \"ImageID\"");
            free(where);
            if (st != 0) goto out;
        } else if (rv_nameset_has(&keep, id->valuestring)) {
            if (fn(c, gpath, idx, id->valuestring, e, d, user, err) != 0) goto out;
        }
        idx++;
    }
    rc = 0;
out:
    rv_nameset_free(&keep);
out0:
    cJSON_Delete(g);
    free(root);
    free(gpath);
    return rc;
}

static char *image_path(const rv_reader_ctx *c, const char *image_id) {
    return rv_path_joinv(4, c->data_dir, "PadChest", "images_grounding", image_id);
}

static int phrase_entry(const rv_reader_ctx *c, const char *gpath, size_t idx, const char *image_id,
                        const cJSON *entry, rv_dataset *d, void *user, rv_err *err) {
    (void)user;
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(entry, "findings");
    if (!cJSON_IsArray(fs)) return 0; /* an image without findings gives no phrase sample */
    size_t fi = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, fs) {
        const cJSON *boxes = cJSON_GetObjectItemCaseSensitive(f, "boxes");
        const cJSON *sent = cJSON_GetObjectItemCaseSensitive(f, "sentence_en");
        fi++;
        if (!cJSON_IsArray(boxes) || cJSON_GetArraySize(boxes) == 0) continue; /* normal sentences */
        rv_box *bx = rv_xmalloc((size_t)cJSON_GetArraySize(boxes) * sizeof *bx);
        size_t nb = 0;
        bool bad = !cJSON_IsString(sent);
        const cJSON *b;
        cJSON_ArrayForEach(b, boxes) {
            if (parse_box(b, &bx[nb]) != 0) bad = true;
            else nb++;
        }
        if (bad) {
            char *where = rv_xasprintf("%s: record %zu (%s), finding %zu", gpath, idx, image_id, fi - 1);
            int st = rv_badrec_report(c->bad, err, where,
                                      "needs a string \"sentence_en\" and boxes of 4 numbers [x1, y1, x2, y2]");
            free(where);
            free(bx);
            if (st != 0) return -1;
            continue;
        }
        rv_item *it = rv_dataset_push(d);
        it->image = image_path(c, image_id);
        it->id = rv_xstrdup(image_id);
        it->text = rv_xstrdup(sent->valuestring);
        for (size_t k = 0; k < nb; k++) rv_item_add_box(it, bx[k]);
        free(bx);
    }
    return 0;
}

int rv_read_padchest_phrases(const rv_reader_ctx *c, const char *split, rv_dataset **out, rv_err *err) {
    char *name = rv_xasprintf("padchest-%s", split_value(split));
    rv_dataset *d = rv_dataset_new(name, RV_TASK_PHRASE);
    free(name);
    if (walk(c, split, d, phrase_entry, NULL, err) != 0) {
        rv_dataset_free(d);
        *out = NULL;
        return -1;
    }
    *out = d;
    return 0;
}

/* Walk state of the grounded conversations: the conversation directory, and the images that
 * already have their sample (upstream aggregates per ImageID in a dict). */
typedef struct conv_walk {
    const char *cdir;
    rv_smap seen; /* ImageID (borrowed from the grounded_reports JSON) -> 0 */
} conv_walk;

/* Upstream's PadChest_grounding_per_image: an image is a sample only when one of its findings
 * has a non-empty "boxes" list. */
static bool has_boxed_finding(const cJSON *entry) {
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(entry, "findings"), *f;
    if (!cJSON_IsArray(fs)) return false;
    cJSON_ArrayForEach(f, fs) {
        const cJSON *boxes = cJSON_GetObjectItemCaseSensitive(f, "boxes");
        if (cJSON_IsArray(boxes) && cJSON_GetArraySize(boxes) > 0) return true;
    }
    return false;
}

static int conv_entry(const rv_reader_ctx *c, const char *gpath, size_t idx, const char *image_id,
                      const cJSON *entry, rv_dataset *d, void *user, rv_err *err) {
    (void)gpath;
    (void)idx;
    conv_walk *w = user;
    const char *cdir = w->cdir;
    /* Images without any boxed finding (normal reports) have no sample upstream, even when a
     * conversation file exists for them; a repeated ImageID joins its first sample. */
    if (!has_boxed_finding(entry) || rv_smap_get(&w->seen, image_id) != RV_MAP_NONE) return 0;
    rv_smap_put(&w->seen, image_id, 0);
    /* File name: the ImageID without its extension. */
    const char *dot = strrchr(image_id, '.');
    char *stem = dot ? rv_xstrndup(image_id, (size_t)(dot - image_id)) : rv_xstrdup(image_id);
    char *fname = rv_xasprintf("%s.json", stem);
    char *path = rv_path_join(cdir, fname);
    free(stem);
    free(fname);
    if (!rv_is_file(path)) {
        free(path);
        return 0;
    }
    rv_err pe = {{0}};
    cJSON *conv = rv_json_parse_file(path, &pe);
    if (!conv || !(cJSON_IsArray(conv) || cJSON_IsObject(conv))) {
        int st = rv_badrec_report(c->bad, err, path, "%s", conv ? "a conversation must be a JSON array of turns" : pe.msg);
        cJSON_Delete(conv);
        free(path);
        return st;
    }
    rv_item *it = rv_dataset_push(d);
    it->image = image_path(c, image_id);
    it->id = rv_xstrdup(image_id);
    it->conversation = conv;
    free(path);
    return 0;
}

int rv_read_padchest_conversations(const rv_reader_ctx *c, const char *split, rv_dataset **out, rv_err *err) {
    *out = NULL;
    const char *sv = split_value(split);
    /* P8: the generator writes conversations/<split>/padchest/, upstream's builder reads
     * conversations/train/grounding/ for every split. We read the split's own directory
     * (grounding, else padchest) and fall back to the train directory as upstream did. */
    char *base = rv_path_joinv(3, c->data_dir, "PadChest", "conversations");
    char *cands[3] = {rv_path_joinv(3, base, sv, "grounding"), rv_path_joinv(3, base, sv, "padchest"),
                      rv_path_joinv(3, base, "train", "grounding")};
    const char *cdir = NULL;
    for (int i = 0; i < 3 && !cdir; i++)
        if (rv_is_dir(cands[i])) cdir = cands[i];
    int rc = 0;
    char *name = rv_xasprintf("padchest-conv-%s", sv);
    rv_dataset *d = rv_dataset_new(name, RV_TASK_GCONV);
    free(name);
    if (!cdir) {
        rv_info0("padchest %s: no conversation directory under %s; no grounded conversations", sv, base);
    } else {
        if (cdir == cands[2] && strcmp(sv, "train"))
            rv_info0("padchest %s: reading conversations from %s (upstream's layout, P8)", sv, cdir);
        conv_walk w = {.cdir = cdir};
        rc = walk(c, split, d, conv_entry, &w, err);
        rv_smap_free(&w.seen);
    }
    for (int i = 0; i < 3; i++) free(cands[i]);
    free(base);
    if (rc != 0) {
        rv_dataset_free(d);
        return -1;
    }
    *out = d;
    return 0;
}
