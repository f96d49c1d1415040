#include "eval/run/testset.h"

#include <hdf5.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/instruct/llava_read.h"
#include "io/h5util.h"
#include "io/json.h"

/* ---- one cell -> items (shared by both readers) ---- */

/* What both readers know of one cell (borrowed). */
typedef struct cell_in {
    size_t idx;
    const char *id;            /* "" when the cell has none */
    const char *image;
    const cJSON *conv;         /* the "conversations" list */
    char *const *labels;
    size_t nlabels;
    int has_labels;
    const float *boxes;        /* [nboxes, 4] float32 GT, when has_boxes */
    size_t nboxes;
    int has_boxes;
    int64_t shard_sample;
} cell_in;

static bool is_grounding(rv_task t) {
    return t == RV_TASK_ANATOMY || t == RV_TASK_ABN_GROUND || t == RV_TASK_DETECT || t == RV_TASK_PHRASE;
}

static size_t count_sub(const char *s, const char *sub) {
    size_t n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
    return n;
}

/* Why the conversation cannot be asked, or NULL. *nasked: the gpt turns that give items. */
static const char *conv_problem(const cJSON *conv, size_t *nasked) {
    *nasked = 0;
    if (!cJSON_IsArray(conv) || cJSON_GetArraySize(conv) == 0) return "key 'conversations' missing or empty";
    size_t nimg = 0;
    bool prev_human = false, img_ok = false, seen_gpt = false;
    const cJSON *t;
    cJSON_ArrayForEach(t, conv) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "from"), *v = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (!cJSON_IsString(f) || !cJSON_IsString(v)) return "a conversation turn lacks string 'from' and 'value'";
        bool human = !strcmp(f->valuestring, "human"), gpt = !strcmp(f->valuestring, "gpt");
        if (!human && !gpt) return "a turn's 'from' is neither 'human' nor 'gpt'";
        size_t k = count_sub(v->valuestring, "<image>");
        nimg += k;
        if (k && human && !seen_gpt) img_ok = true;
        if (gpt && !prev_human) return "a gpt turn does not follow a human turn";
        if (gpt) {
            (*nasked)++;
            seen_gpt = true;
        }
        prev_human = human;
    }
    if (*nasked == 0) return "no gpt turn (nothing to ask)";
    if (nimg != 1 || !img_ok) return "the turns must hold exactly one <image>, in a human turn before the first answer";
    return NULL;
}

static rv_eval_box *boxes_to_items(const float *b, size_t n) {
    if (n == 0) return NULL;
    rv_eval_box *o = rv_xmalloc(n * sizeof *o);
    for (size_t i = 0; i < n; i++) o[i] = (rv_eval_box){b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]};
    return o;
}

/* The boxes written in an answer (pack's rule), float32 then widened. */
static void answer_boxes(const char *answer, rv_eval_box **out, size_t *n) {
    float *b = NULL;
    size_t cnt = 0, cap = 0;
    rv_llava_answer_boxes(answer, &b, &cnt, &cap);
    *out = boxes_to_items(b, cnt);
    *n = cnt;
    free(b);
}

static void push_item(rv_eval_testset *ts, size_t *cap, rv_eval_item *it) {
    if (ts->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        ts->items = rv_xrealloc(ts->items, *cap * sizeof *ts->items);
    }
    ts->items[ts->n++] = *it;
}

/* Appends the cell's items (conv_problem has accepted it). */
static void cell_items(rv_eval_testset *ts, size_t *cap, const cell_in *c, size_t nasked) {
    size_t nt = (size_t)cJSON_GetArraySize(c->conv), j = 0;
    const cJSON **turns = rv_xmalloc(nt * sizeof *turns), *t;
    cJSON_ArrayForEach(t, c->conv) turns[j++] = t;
    int turn = 0;
    for (j = 1; j < nt; j++) {
        const char *from = cJSON_GetObjectItemCaseSensitive(turns[j], "from")->valuestring;
        if (strcmp(from, "gpt") != 0) continue;
        rv_eval_item it = {.idx = c->idx, .turn = turn++, .id = rv_xstrdup(c->id), .img_path = rv_xstrdup(c->image),
                           .shard_sample = c->shard_sample, .has_labels = c->has_labels};
        it.nmsgs = j;
        it.msgs = rv_xmalloc(j * sizeof *it.msgs);
        for (size_t k = 0; k < j; k++) {
            it.msgs[k].role = rv_xstrdup(cJSON_GetObjectItemCaseSensitive(turns[k], "from")->valuestring);
            it.msgs[k].content = rv_xstrdup(cJSON_GetObjectItemCaseSensitive(turns[k], "value")->valuestring);
        }
        it.instr = rv_xstrdup(it.msgs[j - 1].content);
        it.answer = rv_xstrdup(cJSON_GetObjectItemCaseSensitive(turns[j], "value")->valuestring);
        if (c->nlabels) {
            it.labels = rv_xmalloc(c->nlabels * sizeof *it.labels);
            for (size_t k = 0; k < c->nlabels; k++) it.labels[k] = rv_xstrdup(c->labels[k]);
            it.nlabels = c->nlabels;
        }
        if (nasked == 1 && c->has_boxes) {
            it.boxes = boxes_to_items(c->boxes, c->nboxes);
            it.nboxes = c->nboxes;
        } else {
            answer_boxes(it.answer, &it.boxes, &it.nboxes);
        }
        push_item(ts, cap, &it);
    }
    free(turns);
    ts->ncells++;
}

static int report_bad(rv_badrec *bad, rv_err *err, const char *file, size_t rec, const char *id, const char *why) {
    char where[1400];
    snprintf(where, sizeof where, "%s: record %zu (id %s)", file, rec, id && id[0] ? id : "?");
    return rv_badrec_report(bad, err, where, "%s; it is not evaluated", why);
}

void rv_eval_testset_free(rv_eval_testset *ts) {
    if (!ts) return;
    for (size_t i = 0; i < ts->n; i++) rv_eval_item_free(&ts->items[i]);
    free(ts->items);
    free(ts->source);
    memset(ts, 0, sizeof *ts);
}

int64_t rv_eval_testset_cost(const rv_eval_item *it) {
    size_t chars = 0;
    for (size_t i = 0; i < it->nmsgs; i++) chars += strlen(it->msgs[i].content);
    return (int64_t)(chars / 4) + (int64_t)(it->answer ? strlen(it->answer) / 4 : 0) + 64;
}

/* ---- LLaVA JSON ---- */

int rv_eval_testset_read_json(const char *path, rv_task task, rv_badrec *bad, rv_eval_testset *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    out->task = task;
    out->source = rv_xstrdup(path);
    cJSON *root = rv_json_parse_file(path, err);
    if (!root) {
        rv_fail_wrap(err, "eval: test set of %s (re-run the instruct phase to rewrite it)", rv_task_name(task));
        rv_eval_testset_free(out);
        return -1;
    }
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        rv_eval_testset_free(out);
        return rv_fail(err, "%s: expected a JSON list of LLaVA cells ({\"image\", \"conversations\", \"id\"}); re-run "
                            "the instruct phase to rewrite it", path);
    }
    size_t cap = 0, rec = 0;
    int rc = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, root) {
        size_t i = rec++;
        const char *why = NULL;
        const cJSON *idj = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "id") : NULL;
        char idbuf[64] = "";
        const char *id = cJSON_IsString(idj) ? idj->valuestring : idbuf;
        if (cJSON_IsNumber(idj)) snprintf(idbuf, sizeof idbuf, "%.17g", idj->valuedouble); /* as pack stores it */
        const cJSON *img = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "image") : NULL;
        const cJSON *lab = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "labels") : NULL, *l;
        size_t nasked = 0, nl = 0;
        double *gt = NULL;
        size_t ngt = 0;
        int has_gt = 0;
        if (!cJSON_IsObject(c)) why = "not a JSON object";
        else if (idj && !cJSON_IsString(idj) && !cJSON_IsNumber(idj)) why = "key 'id' is neither a string nor a number";
        else if (!cJSON_IsString(img) || !img->valuestring[0]) why = "key 'image' missing or not a non-empty string";
        else if (lab && !cJSON_IsArray(lab)) why = "key 'labels' is not a list";
        if (!why && lab) cJSON_ArrayForEach(l, lab) if (!cJSON_IsString(l)) why = "key 'labels' holds a non-string";
        if (!why) why = conv_problem(cJSON_GetObjectItemCaseSensitive(c, "conversations"), &nasked);
        if (!why && (has_gt = rv_llava_cell_boxes(c, &gt, &ngt)) < 0)
            why = "key 'boxes' is not a list of [x1, y1, x2, y2] number lists";
        if (why) {
            out->nbad++;
            if (report_bad(bad, err, path, i, id, why) != 0) {
                rc = -1;
                break;
            }
            continue;
        }
        char **labels = NULL;
        if (lab) {
            labels = rv_xmalloc(((size_t)cJSON_GetArraySize(lab) + 1) * sizeof *labels);
            cJSON_ArrayForEach(l, lab) labels[nl++] = l->valuestring;
        }
        float *gf = NULL; /* float32, as the shards store them */
        if (has_gt) {
            gf = rv_xmalloc((ngt ? ngt : 1) * 4 * sizeof *gf);
            for (size_t k = 0; k < 4 * ngt; k++) gf[k] = (float)gt[k];
        } else if (is_grounding(task) && nasked == 1) {
            out->boxes_from_answer++;
        }
        cell_in ci = {.idx = i, .id = id, .image = img->valuestring,
                      .conv = cJSON_GetObjectItemCaseSensitive(c, "conversations"), .labels = labels, .nlabels = nl,
                      .has_labels = lab != NULL, .boxes = gf, .nboxes = ngt, .has_boxes = has_gt, .shard_sample = -1};
        cell_items(out, &cap, &ci, nasked);
        free(labels);
        free(gf);
        free(gt);
    }
    cJSON_Delete(root);
    if (rc) rv_eval_testset_free(out);
    return rc;
}

/* ---- shards ---- */

/* The value of enum member `name` of dataset dset's type (pack writes task, source and split as
 * HDF5 enums, docs/formats.md); -1 when absent. */
static int enum_code(const rv_shardset *s, const char *dset, const char *name) {
    hid_t d = H5Dopen2((hid_t)s->hid, dset, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t t = H5Dget_type(d);
    int code = -1;
    unsigned char v[8] = {0};
    if (t >= 0 && H5Tget_class(t) == H5T_ENUM && H5Tget_size(t) == 1 && H5Tenum_valueof(t, name, v) >= 0) code = v[0];
    if (t >= 0) H5Tclose(t);
    H5Dclose(d);
    return code;
}

/* The image path of image row r (/images/path, CSR bytes). */
static int image_path(const rv_shardset *s, uint64_t r, char **out, rv_err *err) {
    int64_t o[2];
    if (rv_h5_read_rows((hid_t)s->hid, "/images/path_offsets", H5T_NATIVE_INT64, r, 2, o, s->path, err) != 0) return -1;
    if (o[1] < o[0]) return rv_fail(err, "%s: path offsets of image %llu decrease", s->path, (unsigned long long)r);
    char *buf = rv_xmalloc((size_t)(o[1] - o[0]) + 1);
    if (rv_h5_read_rows((hid_t)s->hid, "/images/path", H5T_NATIVE_UINT8, (uint64_t)o[0], (uint64_t)(o[1] - o[0]), buf,
                        s->path, err) != 0) {
        free(buf);
        return -1;
    }
    buf[o[1] - o[0]] = 0;
    *out = buf;
    return 0;
}

/* A sample of the task and its cell number N from the id "<task>_<N>" (-1 when the id has
 * another form). */
typedef struct tsample {
    uint64_t i;
    long long n;
} tsample;

static int cmp_tsample(const void *a, const void *b) {
    const tsample *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static long long id_number(const char *id, const char *task) {
    size_t tl = strlen(task);
    if (strncmp(id, task, tl) != 0 || id[tl] != '_' || !id[tl + 1]) return -1;
    long long v = 0;
    for (const char *p = id + tl + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > 1000000000000LL) return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* Splits the stored "\n"-joined labels (pack writes them so) into ls. */
static size_t split_labels(char *s, char ***ls) {
    size_t n = 0;
    *ls = NULL;
    if (!s[0]) return 0;
    n = count_sub(s, "\n") + 1;
    *ls = rv_xmalloc(n * sizeof **ls);
    size_t k = 0;
    for (char *p = s;; p++) {
        char *e = strchr(p, '\n');
        (*ls)[k++] = p;
        if (!e) break;
        *e = 0;
        p = e;
    }
    return n;
}

int rv_eval_testset_read_shards(const rv_shardset *set, rv_task task, rv_badrec *bad, rv_eval_testset *out,
                                rv_err *err) {
    return rv_eval_testset_read_shards_split(set, task, "test", bad, out, err);
}

int rv_eval_testset_read_shards_split(const rv_shardset *set, rv_task task, const char *split, rv_badrec *bad,
                                      rv_eval_testset *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    out->task = task;
    const char *tn = rv_task_name(task);
    out->source = rv_xasprintf("%s (split %s, task %s)", set->path, split, tn);
    int tcode = enum_code(set, "/samples/task", tn), scode = enum_code(set, "/samples/split", split);
    if (tcode < 0 || scode < 0) {
        rv_eval_testset_free(out);
        return rv_fail(err, "%s: /samples/task or /samples/split has no member '%s': not a set written by this "
                            "project's pack phase; re-run pack", set->path, tcode < 0 ? tn : split);
    }
    /* The task's test samples, in cell order: pack groups samples by image, so the ids'
     * numbers (the instruct phase's "<task>_<N>") give the order back when all have one. */
    tsample *ts = NULL;
    size_t nts = 0;
    bool numbered = true;
    int rc = 0;
    for (uint64_t i = 0; i < set->nsamples; i++) {
        if (set->task[i] != tcode || set->split[i] != scode) continue;
        char *id = NULL;
        if (rv_shardset_text(set, i, "id", &id, err) != 0) {
            rc = -1;
            break;
        }
        ts = rv_xrealloc(ts, (nts + 1) * sizeof *ts);
        ts[nts] = (tsample){i, id_number(id, tn)};
        if (ts[nts].n < 0) numbered = false;
        nts++;
        free(id);
    }
    if (rc == 0 && numbered && nts) qsort(ts, nts, sizeof *ts, cmp_tsample);
    for (size_t k = 1; rc == 0 && numbered && k < nts; k++)
        if (ts[k].n == ts[k - 1].n) numbered = false; /* a repeated number: keep sample order */
    if (rc == 0 && !numbered && nts) { /* back to sample order */
        for (size_t k = 0; k < nts; k++) ts[k].n = (long long)ts[k].i;
        qsort(ts, nts, sizeof *ts, cmp_tsample);
    }
    size_t cap = 0;
    for (size_t k = 0; rc == 0 && k < nts; k++) {
        uint64_t i = ts[k].i;
        char *text = NULL, *id = NULL, *labs = NULL, *ipath = NULL;
        float *boxes = NULL;
        size_t nb = 0;
        if (rv_shardset_text(set, i, "text", &text, err) != 0 || rv_shardset_text(set, i, "id", &id, err) != 0 ||
            rv_shardset_text(set, i, "labels", &labs, err) != 0 ||
            image_path(set, (uint64_t)set->image[i], &ipath, err) != 0 || rv_shardset_boxes(set, i, &boxes, &nb, err) != 0) {
            rc = -1;
        } else {
            cJSON *conv = cJSON_Parse(text);
            size_t nasked = 0;
            const char *why = conv ? conv_problem(conv, &nasked) : "/samples/text is not a JSON list of turns";
            if (why) {
                out->nbad++;
                char where[1400];
                snprintf(where, sizeof where, "%s: sample %llu (id %s)", set->path, (unsigned long long)i,
                         id[0] ? id : "?");
                if (rv_badrec_report(bad, err, where, "%s; it is not evaluated", why) != 0) rc = -1;
            } else {
                char **labels = NULL;
                size_t nl = split_labels(labs, &labels);
                /* pack keeps no trace of an absent "labels" key: the tasks whose test cells carry
                 * it (other splits: as before, the tasks whose every train cell does) */
                int has_labels = nl > 0 || (strcmp(split, "test") == 0 ? rv_task_test_labels(task)
                                                                       : task == RV_TASK_CLASSIFY || task == RV_TASK_DETECT);
                cell_in ci = {.idx = numbered ? (size_t)ts[k].n : k, .id = id, .image = ipath, .conv = conv,
                              .labels = labels, .nlabels = nl, .has_labels = has_labels, .boxes = boxes, .nboxes = nb,
                              .has_boxes = 1, .shard_sample = (int64_t)i};
                cell_items(out, &cap, &ci, nasked);
                free(labels);
            }
            cJSON_Delete(conv);
        }
        free(text);
        free(id);
        free(labs);
        free(ipath);
        free(boxes);
    }
    free(ts);
    if (rc) {
        rv_fail_wrap(err, "eval: reading the %s test samples", tn);
        rv_eval_testset_free(out);
    }
    return rc;
}
