/* The pack phase: instruction cells (built from DATA_DIR, or read from LLaVA JSON) -> decoded,
 * resized grey images + qwen_1_5 token ids and loss masks -> one HDF5 shard per rank and
 * index.h5 (docs/formats.md). The logical content does not depend on the rank count: samples
 * are grouped by image (groups in order of first appearance, samples in cell order), each
 * image is stored once, and ranks take contiguous runs of groups. Within a rank, threads
 * decode, resize and tokenize a batch of groups and one thread writes it in order, so neither
 * does the thread count. pack.check=true only checks an existing shard directory. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/strbuf.h"
#include "data/instruct/blocks.h"
#include "data/instruct/llava_read.h"
#include "data/sources/readers.h"
#include "data/instruct/templates.h"
#include "eval/metrics/pytext.h"
#include "io/h5util.h"
#include "io/image.h"
#include "io/image_file.h"
#include "io/json.h"
#include "io/resize.h"
#include "io/shard_read.h"
#include "io/shard_set.h"
#include "io/shard_write.h"
#include "phases/build_setup.h"
#include "phases/phase.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

#define GROUP_IMAGE_WEIGHT 32 /* perf on the demo data: an image costs ~34 samples (render + tokenize) */

static const char *const split_names[] = {"train", "valid", "test"};
enum { SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST };

/* One cell to pack: where it comes from and what it is. */
typedef struct prec {
    const char *image;
    const rv_cellset *set;   /* builder cell (rendered on demand) ... */
    size_t global;
    const cJSON *cell;       /* ... or a cell read from LLaVA JSON */
    uint8_t task, source, split;
} prec;

typedef struct pack_in {
    prec *r;
    size_t n, cap;
    rv_sources src;
    rv_cellset train, tests[RV_TASK_COUNT];
    cJSON *llava[16];
    size_t nllava;
    rv_templates *tpl;
    uint64_t seed;
    rv_pillow pillow; /* whose BICUBIC resize the stored pixels reproduce (data.pillow_resize) */
    long long max_pixels; /* pixel budget per image (data.max_image_pixels; io/image.h) */
    size_t max_file_bytes; /* data.max_file_bytes: images and LLaVA JSON larger than this are refused */
} pack_in;

static prec *push(pack_in *in) {
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 1024;
        in->r = rv_xrealloc(in->r, in->cap * sizeof *in->r);
    }
    prec *p = &in->r[in->n++];
    memset(p, 0, sizeof *p);
    return p;
}

static void pack_in_free(pack_in *in) {
    free(in->r);
    rv_cellset_free(&in->train);
    for (int t = 0; t < RV_TASK_COUNT; t++) rv_cellset_free(&in->tests[t]);
    rv_sources_free(&in->src);
    for (size_t i = 0; i < in->nllava; i++) cJSON_Delete(in->llava[i]);
    if (in->tpl) rv_templates_free(in->tpl);
}

static uint8_t code(int v, int unknown) { return (uint8_t)(v < 0 ? unknown : v); }

static void add_cellset(pack_in *in, const rv_cellset *s, uint8_t split) {
    for (size_t i = 0; i < s->ncells; i++) {
        prec *p = push(in);
        const rv_cellref *c = &s->cells[i];
        const rv_block *b = &s->blocks[c->block];
        p->image = c->ds->items[c->item].image;
        p->set = s;
        p->global = i;
        int task, source;
        rv_llava_infer(b->prefix, &task, &source); /* the prefix names the source */
        if (task < 0) rv_llava_infer(rv_task_name(b->task), &task, &source);
        p->task = (uint8_t)b->task;
        p->source = code(source, RV_SRC_COUNT);
        p->split = split;
    }
}

static int from_data_dir(rv_phase_ctx *ctx, pack_in *in, rv_err *err) {
    const rv_config *cfg = ctx->cfg;
    if (!ctx->data_dir)
        return rv_fail(err, "pack: no input; set data.dir or DATA_DIR (build from the sources), or pack.llava_json "
                            "(an existing LLaVA JSON such as upstream's all_train.json)");
    rv_reader_ctx rc;
    rv_build_opts o;
    if (rv_build_setup(ctx, &rc, &o, err) != 0) return -1;
    o.seed = in->seed;
    if (rv_templates_load(rv_cfg_str(cfg, "data.templates"), &in->tpl, err) != 0) return -1;
    if (rv_source_present(&rc, RV_SRC_VINDR)) {
        if (rv_vindr_prepare(&rc, "train", err) != 0 || rv_vindr_prepare(&rc, "test", err) != 0) return -1;
    }
    if (rv_build_train(&rc, &o, &in->src, &in->train, err) != 0) return -1;
    add_cellset(in, &in->train, SPLIT_TRAIN);
    if (rv_cfg_bool(cfg, "pack.tests")) {
        for (int t = 0; t < RV_TASK_COUNT; t++) {
            if (rv_build_test(&rc, &o, (rv_task)t, &in->src, &in->tests[t], err) != 0) return -1;
            add_cellset(in, &in->tests[t], SPLIT_TEST);
        }
    }
    return 0;
}

static int from_llava(rv_phase_ctx *ctx, pack_in *in, const char *list, rv_err *err) {
    const char *split = rv_cfg_str(ctx->cfg, "pack.llava_split");
    uint8_t sp = !strcmp(split, "test") ? SPLIT_TEST : !strcmp(split, "valid") ? SPLIT_VALID : SPLIT_TRAIN;
    char *copy = rv_xstrdup(list), *save = NULL;
    int rc = 0;
    for (char *path = strtok_r(copy, ",", &save); path && rc == 0; path = strtok_r(NULL, ",", &save)) {
        if (in->nllava == sizeof in->llava / sizeof in->llava[0]) {
            rc = rv_fail(err, "pack.llava_json: at most %zu files", sizeof in->llava / sizeof in->llava[0]);
            break;
        }
        cJSON *root = NULL;
        if (rv_check_input_file(path, in->max_file_bytes, err) != 0 || rv_llava_read(path, &ctx->bad, &root, err) != 0) {
            rc = -1;
            break;
        }
        in->llava[in->nllava++] = root;
        /* test_<task>.json written by the instruct phase are test sets whatever pack.llava_split says. */
        uint8_t fsp = strncmp(rv_path_basename(path), "test_", 5) == 0 ? SPLIT_TEST : sp;
        const cJSON *c;
        cJSON_ArrayForEach(c, root) {
            prec *p = push(in);
            p->image = cJSON_GetObjectItemCaseSensitive(c, "image")->valuestring;
            p->cell = c;
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
            int task, source;
            rv_llava_infer(cJSON_IsString(id) ? id->valuestring : NULL, &task, &source);
            p->task = code(task, RV_TASK_COUNT);
            p->source = code(source, RV_SRC_COUNT);
            p->split = fsp;
        }
    }
    free(copy);
    return rc;
}

/* ---- grouping by image ---- */

typedef struct gkey {
    const char *image;
    size_t idx;
} gkey;

static int cmp_gkey(const void *a, const void *b) {
    const gkey *x = a, *y = b;
    int c = strcmp(x->image, y->image);
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct group {
    size_t first;  /* first cell index (for ordering) */
    size_t start;  /* position in `order` */
    size_t count;
} group;

static int cmp_group(const void *a, const void *b) {
    const group *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* order[]: cell indexes grouped by image; groups[]: in order of first appearance. */
static void group_by_image(const pack_in *in, size_t **order_out, group **groups_out, size_t *ngroups) {
    gkey *k = rv_xmalloc((in->n ? in->n : 1) * sizeof *k);
    for (size_t i = 0; i < in->n; i++) k[i] = (gkey){in->r[i].image, i};
    qsort(k, in->n, sizeof *k, cmp_gkey);
    group *g = rv_xmalloc((in->n ? in->n : 1) * sizeof *g);
    size_t ng = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (i == 0 || strcmp(k[i].image, k[i - 1].image)) g[ng++] = (group){k[i].idx, i, 0};
        g[ng - 1].count++;
    }
    qsort(g, ng, sizeof *g, cmp_group);
    size_t *order = rv_xmalloc((in->n ? in->n : 1) * sizeof *order), pos = 0;
    for (size_t j = 0; j < ng; j++) {
        size_t s = g[j].start;
        g[j].start = pos;
        for (size_t i = 0; i < g[j].count; i++) order[pos++] = k[s + i].idx;
    }
    free(k);
    *order_out = order;
    *groups_out = g;
    *ngroups = ng;
}

/* ---- text -> tokens (qwen_1_5 chat template, preprocess_qwen loss mask; train.md A.4/A.5) ---- */

typedef struct tokctx {
    const rv_tokenizer *t;
    int32_t image;  /* the tokenizer's <image> id, stored as RV_SHARD_IMAGE_TOKEN */
    bool quirk;     /* pack.mask_upstream_quirk */
    size_t max_tokens; /* pack.max_tokens */
} tokctx;

static bool is_image_token(const rv_tokenizer *t, int32_t id) { return id >= 0 && rv_tokenizer_is_special(t, id); }

/* Loads tokenizer.json. When it has no special <image> token (a stock Qwen2 file), one is added
 * with the next free id, as upstream's preprocess_qwen does on its copy of the tokenizer; the
 * file itself is not changed (its hash is what the shards record). */
static int load_tokenizer(const char *path, const char *json, size_t len, rv_tokenizer **out, bool *added,
                          rv_err *err) {
    *added = false;
    if (rv_tokenizer_load_json(path, json, len, out, err) != 0) return -1;
    if (is_image_token(*out, rv_tokenizer_token_id(*out, "<image>"))) return 0;
    size_t next = rv_tokenizer_n_ids(*out);
    rv_tokenizer_free(*out);
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return rv_fail(err, "%s: not valid JSON", path); /* the loader accepted it: cannot happen */
    cJSON *added_tokens = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsArray(added_tokens)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "added_tokens");
        added_tokens = cJSON_AddArrayToObject(root, "added_tokens");
    }
    cJSON *tok = cJSON_CreateObject();
    cJSON_AddNumberToObject(tok, "id", (double)next);
    cJSON_AddStringToObject(tok, "content", "<image>");
    cJSON_AddBoolToObject(tok, "single_word", false);
    cJSON_AddBoolToObject(tok, "lstrip", false);
    cJSON_AddBoolToObject(tok, "rstrip", false);
    cJSON_AddBoolToObject(tok, "normalized", false);
    cJSON_AddBoolToObject(tok, "special", true);
    cJSON_AddItemToArray(added_tokens, tok);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    int rc = rv_tokenizer_load_json(path, txt, strlen(txt), out, err);
    free(txt);
    *added = rc == 0;
    return rc;
}

/* ---- the phase ---- */

static char *find_tokenizer(rv_phase_ctx *ctx) {
    const char *p = rv_cfg_str(ctx->cfg, "pack.tokenizer");
    return p[0] ? rv_xstrdup(p) : rv_tokenizer_default_path(ctx->data_dir, ctx->run_dir);
}

/* Whether the intact set in dir has no sample (an unreadable index counts as not empty: the
 * structural check has already read it). */
static bool shardset_empty(const char *dir, rv_err *err) {
    rv_shardset *s = NULL;
    if (rv_shardset_open(dir, NULL, &s, err) != 0) return false;
    bool empty = s->nsamples == 0;
    rv_shardset_close(s);
    return empty;
}

/* pack.max_tokens, checked to lie in 16 .. INT32_MAX. */
static int pack_max_tokens(const rv_config *cfg, size_t *out, rv_err *err) {
    long long v = rv_cfg_int(cfg, "pack.max_tokens");
    if (v < 16 || v > INT32_MAX)
        return rv_fail(err, "pack.max_tokens must be between 16 and %d (got %lld); the default 32768 is upstream's "
                       "model_max_length", INT32_MAX, v);
    *out = (size_t)v;
    return 0;
}

/* The id count of the tokenizer at path when its hash is want (the set's), else 0 with *why. */
static int64_t vocab_if_same(const char *path, const char *want, size_t max_file_bytes, char why[1100]) {
    char *json = NULL, hash[40];
    size_t len = 0;
    rv_err e = {{0}};
    rv_tokenizer *tok = NULL;
    int64_t n = 0;
    if (rv_read_file_max(path, max_file_bytes, &json, &len, &e) != 0) {
        snprintf(why, 1100, "%s", e.msg);
        return 0;
    }
    snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)rv_fnv1a64(json, len));
    if (strcmp(hash, want) != 0) snprintf(why, 1100, "%s is not the tokenizer the set was packed with (%s)", path, want);
    else if (rv_tokenizer_load_json(path, json, len, &tok, &e) != 0) snprintf(why, 1100, "%s", e.msg);
    else n = (int64_t)rv_tokenizer_n_ids(tok);
    if (tok) rv_tokenizer_free(tok);
    free(json);
    return n;
}

/* The id count of the tokenizer the set was packed with, for the token-range check: the configured
 * tokenizer (pack.tokenizer or the default path), else the one the set's recorded configuration
 * names, whichever has the set's hash; 0 (ids checked for sign only, with a warning saying why)
 * when neither does. */
static int64_t check_vocab(rv_phase_ctx *ctx, const char *dir, size_t max_file_bytes) {
    char why[1100] = "no tokenizer found (set pack.tokenizer to the one the set was packed with)";
    rv_err e = {{0}};
    rv_shardset *set = NULL;
    int64_t n = 0;
    if (rv_shardset_open(dir, NULL, &set, &e) != 0) {
        snprintf(why, sizeof why, "%s", e.msg); /* the structural check reports it too */
    } else {
        char *path = find_tokenizer(ctx);
        if (path) n = vocab_if_same(path, set->tokenizer_hash, max_file_bytes, why);
        free(path);
        cJSON *rec = n > 0 ? NULL : cJSON_Parse(set->config_json);
        if (rec) {
            const cJSON *pk = cJSON_GetObjectItemCaseSensitive(rec, "pack"), *dt = cJSON_GetObjectItemCaseSensitive(rec, "data");
            const cJSON *tp = cJSON_GetObjectItemCaseSensitive(pk, "tokenizer"), *dd = cJSON_GetObjectItemCaseSensitive(dt, "dir");
            const char *ddir = cJSON_IsString(dd) && dd->valuestring[0] ? dd->valuestring : NULL;
            char *rpath = cJSON_IsString(tp) && tp->valuestring[0] ? rv_xstrdup(tp->valuestring)
                                                                   : rv_tokenizer_default_path(ddir, NULL);
            char why2[1100];
            if (rpath) n = vocab_if_same(rpath, set->tokenizer_hash, max_file_bytes, why2);
            free(rpath);
            cJSON_Delete(rec);
        }
    }
    if (n == 0) rv_warn("pack.check: token ids are checked for sign only, not against the vocabulary: %s", why);
    rv_shardset_close(set);
    return n;
}

static int run_check(rv_phase_ctx *ctx, const char *dir, rv_err *err) {
    const rv_comm *comm = ctx->comm;
    bool ok = true;
    rv_err local = {{0}};
    if (comm->rank == 0) {
        rv_sb rep;
        rv_sb_init(&rep);
        size_t maxb = RV_READ_FILE_MAX;
        size_t maxt = 0;
        long np = rv_data_max_file_bytes(ctx->cfg, &maxb, &local);
        if (np == 0) np = pack_max_tokens(ctx->cfg, &maxt, &local);
        rv_shards_check_opts opts = {0, true, (int64_t)maxt};
        if (np == 0) {
            opts.n_vocab = check_vocab(ctx, dir, maxb);
            np = rv_shards_check_with(dir, &opts, &rep, &local);
        }
        if (np < 0) ok = false;
        else if (np == 0 && shardset_empty(dir, &local)) {
            rv_fail(&local, "pack.check: %s is intact but holds 0 samples, so there is nothing to train on; re-run the "
                    "pack phase with usable inputs (it reports each skipped image and cell)", dir);
            ok = false;
        } else if (np > 0) {
            fputs(rep.s, stderr);
            rv_fail(&local, "pack.check: %ld problem(s) in %s (listed above); re-run the pack phase to rewrite the shards",
                    np, dir);
            ok = false;
        } else {
            char dg[17] = "";
            rv_shards_digest(dir, dg, &local);
            rv_info0("pack.check: %s is intact (every dataset read back, checksums verified, values checked: token "
                     "ids %s, loss mask, enums, boxes, UTF-8 text, one <image> per sample, at most pack.max_tokens); content "
                     "digest %s", dir,
                     opts.n_vocab > 0 ? "within the vocabulary" : "non-negative", dg);
            printf("pack.check: OK %s digest %s\n", dir, dg);
        }
        rv_sb_free(&rep);
    }
    if (!rv_comm_all_ok(comm, ok)) {
        if (!ok) return rv_fail(err, "%s", local.msg);
        return rv_fail(err, "pack.check failed on rank 0");
    }
    return 0;
}

/* ---- one image group, packed by a worker thread ---- */

/* Why a cell is not packed: the pack summary counts each kind. */
typedef enum { CELL_OK = 0, CELL_UNTOKENIZABLE, CELL_TOO_LONG, CELL_IMAGE_COUNT } cell_fault;

/* One sample ready to be written (or the reason it cannot be). */
typedef struct sres {
    char *bad;      /* NULL, or why the cell is not packed */
    cell_fault fault;
    char *id;
    rv_ids ids;
    rv_mask mask;
    rv_sb text, labels;
    float *boxes;
    size_t nbox, boxcap;
} sres;

/* One image group: the resized pixels and its samples. */
typedef struct gres {
    uint8_t *pixels;  /* size*size, NULL when the image is unusable */
    /* pack.image_mode=anyres: what /images/original keeps (JPEG file bytes, or the 8-bit grey
     * pixels [oh, ow] of other formats); orig is NULL otherwise */
    rv_original_codec codec;
    uint8_t *orig;
    size_t orig_len;
    int oh, ow;
    char *bad;        /* why the image is unusable */
    sres *s;          /* count entries */
} gres;

static void sres_free(sres *r) {
    free(r->bad);
    free(r->id);
    rv_ids_free(&r->ids);
    rv_mask_free(&r->mask);
    rv_sb_free(&r->text);
    rv_sb_free(&r->labels);
    free(r->boxes);
}

/* Reads and decodes one image (io/image_file.h: JPEG, PNG, DICOM by magic bytes, 8-bit grey) and
 * resizes it. With g (anyres), the original is handed over too: a JPEG's file bytes (the reader
 * decodes them as done here), else the 8-bit pixels. */
static int image_small(const char *path, int size, rv_pillow pillow, long long max_pixels, size_t max_bytes,
                       uint8_t **out, gres *g, rv_err *err) {
    rv_image img = {0}, small = {0};
    uint8_t *jpeg = NULL;
    size_t jlen = 0;
    /* data.max_file_bytes before the decoder reads the file whole (it applies only the 4 GiB default) */
    if (rv_check_input_file(path, max_bytes, err) != 0) return -1;
    if (rv_image_file_read_max(path, max_pixels, &img, g ? &jpeg : NULL, &jlen, err) != 0) return -1;
    int rc = rv_image_resize_as(&img, size, size, RV_RESAMPLE_BICUBIC, pillow, &small, err);
    if (rc == 0 && g) {
        g->oh = img.height;
        g->ow = img.width;
        if (jpeg) {
            g->codec = RV_ORIGINAL_JPEG;
            g->orig = jpeg; /* owned by the caller */
            g->orig_len = jlen;
            jpeg = NULL;
        } else {
            g->codec = RV_ORIGINAL_RAW;
            g->orig = img.u8; /* owned by the caller */
            g->orig_len = (size_t)img.width * (size_t)img.height;
            img.u8 = NULL;
        }
    }
    free(jpeg);
    rv_image_free(&img);
    if (rc != 0) return -1;
    *out = small.u8; /* owned by the caller */
    return 0;
}

static size_t count_id(const rv_ids *ids, int32_t id) {
    size_t n = 0;
    for (size_t j = 0; j < ids->n; j++) n += ids->v[j] == id;
    return n;
}

static size_t count_image_tags(const char *s) {
    size_t n = 0;
    for (const char *at = strstr(s, "<image>"); at; at = strstr(at + 7, "<image>")) n++;
    return n;
}

/* Upstream's preprocess_multimodal (train.md A.4): a turn holding exactly one <image> that does
 * not start with it gets it moved to the front, as "<image>\n" + the rest stripped (Python's
 * str.strip), the whole stripped again. NULL when the turn is left as it is. */
static char *image_to_front(const char *v) {
    if (count_image_tags(v) != 1 || strncmp(v, "<image>", 7) == 0) return NULL;
    const char *at = strstr(v, "<image>");
    char *rest = rv_xasprintf("%.*s%s", (int)(at - v), v, at + 7);
    rv_span sp = rv_py_strip(rest, strlen(rest));
    char *out = sp.len ? rv_xasprintf("<image>\n%.*s", (int)sp.len, sp.p) : rv_xstrdup("<image>");
    free(rest);
    return out;
}

static void pack_sample(const pack_in *in, const prec *p, const tokctx *tc, sres *r) {
    memset(r, 0, sizeof *r);
    rv_sb_init(&r->text);
    rv_sb_init(&r->labels);
    rv_err ce;
    cJSON *owned = NULL;
    const cJSON *cell = p->cell;
    if (!cell) cell = owned = rv_render_cell(p->set, p->global, in->tpl, in->seed, &ce);
    const cJSON *id = cell ? cJSON_GetObjectItemCaseSensitive(cell, "id") : NULL;
    if (cJSON_IsString(id)) r->id = rv_xstrdup(id->valuestring);
    else if (cJSON_IsNumber(id)) r->id = rv_xasprintf("%.17g", id->valuedouble);
    if (!cell) {
        r->bad = rv_xstrdup(ce.msg);
        r->fault = CELL_UNTOKENIZABLE;
        return;
    }
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(cell, "conversations"), *t;
    /* A test cell's unrounded ground truth ("boxes") is stored instead of the answer's 2 decimals. */
    double *gt = NULL;
    size_t ngt = 0;
    int has_gt = rv_llava_cell_boxes(cell, &gt, &ngt);
    if (has_gt < 0) {
        r->bad = rv_xstrdup("key 'boxes' is not a list of [x1, y1, x2, y2] number lists");
        r->fault = CELL_UNTOKENIZABLE;
        cJSON_Delete(owned);
        return;
    }
    if (has_gt) {
        r->boxes = rv_xmalloc((ngt ? ngt : 1) * 4 * sizeof *r->boxes);
        for (size_t j = 0; j < 4 * ngt; j++) r->boxes[j] = (float)gt[j];
        r->nbox = r->boxcap = ngt;
    }
    free(gt);
    size_t n = 0, k = 0;
    cJSON_ArrayForEach(t, conv) n++;
    rv_chat_msg *msgs = rv_xmalloc((n ? n : 1) * sizeof *msgs);
    char **moved = rv_xcalloc(n ? n : 1, sizeof *moved);
    cJSON_ArrayForEach(t, conv) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "from"), *v = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (!cJSON_IsString(f) || !cJSON_IsString(v)) continue; /* the LLaVA reader has refused such cells */
        moved[k] = image_to_front(v->valuestring);
        msgs[k] = (rv_chat_msg){f->valuestring, moved[k] ? moved[k] : v->valuestring};
        k++;
        if (!has_gt && !strcmp(f->valuestring, "gpt")) rv_llava_answer_boxes(v->valuestring, &r->boxes, &r->nbox, &r->boxcap);
    }
    size_t nimg = 0;
    if (rv_chat_tokenize_sft(tc->t, msgs, k, NULL, tc->quirk, &r->ids, &r->mask, &ce) != 0) {
        r->bad = rv_xstrdup(ce.msg);
        r->fault = CELL_UNTOKENIZABLE;
    } else if (r->ids.n > tc->max_tokens) {
        /* upstream's collator would cut it at model_max_length; a cut answer trains a wrong target */
        r->bad = rv_xasprintf("%zu tokens, more than pack.max_tokens = %zu (the cell is not truncated; raise "
                              "pack.max_tokens if it is genuine)", r->ids.n, tc->max_tokens);
        r->fault = CELL_TOO_LONG;
    } else if ((nimg = count_id(&r->ids, tc->image)) != 1) {
        /* One image per cell needs one placeholder: with none upstream's model trains the text without
         * its image, with two it takes a second image that is not there (train.md A.4, model.md 5.2). */
        r->bad = rv_xasprintf("%zu <image> placeholders for its one image; a cell needs exactly one (upstream puts "
                              "\"<image>\\n\" before the first question)", nimg);
        r->fault = CELL_IMAGE_COUNT;
    } else {
        for (size_t j = 0; j < r->ids.n; j++)
            if (r->ids.v[j] == tc->image) r->ids.v[j] = RV_SHARD_IMAGE_TOKEN; /* its mask is already 0 */
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(cell, "labels");
        cJSON_ArrayForEach(t, lab) if (cJSON_IsString(t)) rv_sb_printf(&r->labels, "%s%s", r->labels.len ? "\n" : "", t->valuestring);
        rv_pyjson_dump(&r->text, conv, -1, false);
    }
    for (size_t j = 0; j < k; j++) free(moved[j]);
    free(moved);
    free(msgs);
    cJSON_Delete(owned);
}

static void pack_group(const pack_in *in, const size_t *order, const group *G, const tokctx *tc, int size,
                       bool anyres, gres *out) {
    rv_err ie;
    memset(out, 0, sizeof *out);
    if (image_small(in->r[order[G->start]].image, size, in->pillow, in->max_pixels, in->max_file_bytes, &out->pixels,
                    anyres ? out : NULL, &ie) != 0) {
        out->bad = rv_xstrdup(ie.msg);
        return;
    }
    out->s = rv_xcalloc(G->count, sizeof *out->s);
    for (size_t k = 0; k < G->count; k++) pack_sample(in, &in->r[order[G->start + k]], tc, &out->s[k]);
}

static void gres_free(gres *g, size_t count) {
    free(g->pixels);
    free(g->orig);
    free(g->bad);
    if (g->s)
        for (size_t k = 0; k < count; k++) sres_free(&g->s[k]);
    free(g->s);
    memset(g, 0, sizeof *g);
}

int rv_phase_pack(rv_phase_ctx *ctx, rv_err *err) {
    const rv_config *cfg = ctx->cfg;
    rv_h5_quiet();
    const char *outc = rv_cfg_str(cfg, "pack.out");
    char *out = outc[0] ? rv_xstrdup(outc) : rv_path_join(ctx->run_dir, "shards");
    if (rv_cfg_bool(cfg, "pack.check")) {
        int rc = run_check(ctx, out, err);
        free(out);
        return rc;
    }
    double t0 = rv_now();
    long long size = rv_cfg_int(cfg, "pack.image_size");
    if (size < 8 || size > 4096) {
        free(out);
        return rv_fail(err, "pack.image_size must be between 8 and 4096 (got %lld)", size);
    }
    long long nthr = rv_cfg_int(cfg, "pack.threads");
    if (nthr < 0 || nthr > 4096) {
        free(out);
        return rv_fail(err, "pack.threads must be between 0 (all cores of the rank) and 4096 (got %lld)", nthr);
    }
    int threads = nthr > 0 ? (int)nthr : omp_get_max_threads();
    bool anyres = !strcmp(rv_cfg_str(cfg, "pack.image_mode"), "anyres");
    pack_in in = {.seed = (uint64_t)rv_cfg_int(cfg, "run.seed"), .max_pixels = rv_cfg_int(cfg, "data.max_image_pixels")};
    if (in.max_pixels < 0) {
        free(out);
        return rv_fail(err, "pack: data.max_image_pixels=%lld must be >= 0 (0 = no pixel budget)", in.max_pixels);
    }
    if (rv_pillow_from_release(rv_cfg_int(cfg, "data.pillow_resize"), &in.pillow, err) != 0 ||
        rv_data_max_file_bytes(cfg, &in.max_file_bytes, err) != 0) {
        free(out);
        return -1;
    }
    size_t max_tokens = 0;
    if (pack_max_tokens(cfg, &max_tokens, err) != 0) {
        free(out);
        return -1;
    }
    rv_tokenizer *tok = NULL;
    char *tokpath = find_tokenizer(ctx), *tokjson = NULL, hash[40];
    size_t toklen = 0;
    size_t *order = NULL;
    group *groups = NULL;
    size_t ngroups = 0;
    rv_shard_writer *w = NULL;
    gres *batch = NULL;
    char *cfgjson = NULL, *staging = NULL;
    long long kill_at = rv_cfg_int(cfg, "pack.test_kill_after");
    int ret = -1;

    if (!tokpath) {
        rv_fail(err, "pack: no tokenizer; set pack.tokenizer to a Hugging Face tokenizer.json (the model's), or put "
                     "one at DATA_DIR/tokenizer.json (the synth phase writes the demo one there)");
        goto out;
    }
    bool img_added = false;
    if (rv_read_file_max(tokpath, in.max_file_bytes, &tokjson, &toklen, err) != 0 ||
        load_tokenizer(tokpath, tokjson, toklen, &tok, &img_added, err) != 0) {
        rv_fail_wrap(err, "pack.tokenizer");
        goto out;
    }
    snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)rv_fnv1a64(tokjson, toklen));
    if (rv_tokenizer_token_id(tok, "<|im_start|>") < 0 || rv_tokenizer_token_id(tok, "<|im_end|>") < 0) {
        rv_fail(err, "%s: the qwen_1_5 chat template needs the added tokens <|im_start|> and <|im_end|>; this "
                     "tokenizer.json has %s", tokpath,
                rv_tokenizer_token_id(tok, "<|im_start|>") < 0 ? "no <|im_start|>" : "no <|im_end|>");
        goto out;
    }
    tokctx tc = {tok, rv_tokenizer_token_id(tok, "<image>"), rv_cfg_bool(cfg, "pack.mask_upstream_quirk"),
                 max_tokens};
    if (img_added)
        rv_info0("pack: %s has no <image> token; added as id %d for packing (as upstream's preprocess_qwen), stored as %d",
                 tokpath, (int)tc.image, RV_SHARD_IMAGE_TOKEN);

    /* Every rank reads the same input: the cell list is small next to the images, and ranks
     * need all of it to agree on the grouping. */
    const char *lj = rv_cfg_str(cfg, "pack.llava_json");
    ctx->bad.replicated = true;
    int irc = lj[0] ? from_llava(ctx, &in, lj, err) : from_data_dir(ctx, &in, err);
    ctx->bad.replicated = false;
    if (irc != 0) goto out;
    long long maxs = rv_cfg_int(cfg, "pack.max_samples");
    if (maxs > 0 && (size_t)maxs < in.n) in.n = (size_t)maxs;
    if (in.n == 0) {
        rv_fail(err, "pack: no cells to pack (%s); check the input", lj[0] ? lj : ctx->data_dir);
        goto out;
    }
    group_by_image(&in, &order, &groups, &ngroups);

    /* Contiguous runs of image groups, balanced by estimated work: an image (read, decode,
     * resize) costs about as much as tokenizing GROUP_IMAGE_WEIGHT samples. Group g goes to
     * the rank whose share [r*W/R, (r+1)*W/R) of the total work W holds its start. */
    int R = ctx->comm->size, me = ctx->comm->rank;
    size_t gb = ngroups, ge = ngroups;
    {
        unsigned __int128 total = 0, at = 0;
        for (size_t g = 0; g < ngroups; g++) total += GROUP_IMAGE_WEIGHT + groups[g].count;
        for (size_t g = 0; g < ngroups; g++) {
            int r = (int)(at * (unsigned)R / total);
            at += GROUP_IMAGE_WEIGHT + groups[g].count;
            if (r == me && gb == ngroups) gb = g;
            if (r > me) { ge = g; break; }
        }
        if (gb == ngroups) ge = ngroups;
    }

    /* The new set is written beside the old one and swapped in at the end (io/shard_set.h):
     * until then OUT keeps the previous complete set, whatever happens to this pack. */
    staging = rv_shard_set_staging(out);
    bool ok = me != 0 || rv_shard_set_begin(out, staging, err) == 0;
    if (!rv_comm_all_ok(ctx->comm, ok)) {
        if (ok) rv_fail(err, "pack: rank 0 could not prepare %s", staging);
        goto out;
    }
    double t_in = rv_now() - t0;
    cfgjson = rv_config_to_json(cfg);
    rv_shard_meta meta = {.rank = me, .nshards = R, .height = (int)size, .width = (int)size, .tokenizer_hash = hash,
                          .tokenizer_path = tokpath, .config_json = cfgjson, .split_names = split_names, .nsplits = 3};
    const char *tn[RV_TASK_COUNT + 1], *sn[RV_SRC_COUNT + 1];
    for (int t = 0; t < RV_TASK_COUNT; t++) tn[t] = rv_task_name((rv_task)t);
    tn[RV_TASK_COUNT] = "unknown";
    for (int s = 0; s < RV_SRC_COUNT; s++) sn[s] = rv_source_name((rv_source)s);
    sn[RV_SRC_COUNT] = "unknown";
    meta.task_names = tn;
    meta.ntasks = RV_TASK_COUNT + 1;
    meta.source_names = sn;
    meta.nsources = RV_SRC_COUNT + 1;
    meta.anyres = anyres;
    if (anyres)
        rv_info0("pack: pack.image_mode=anyres: each image is also stored at its original resolution in "
                 "/images/original (JPEG sources as their file bytes, others as 8-bit grey) for the anyres tiles");

    rv_info0("pack: %zu cells, %zu unique images, %d shard(s) x %d thread(s) -> %s (images %lldx%lld, tokenizer %s, "
             "loss mask %s)", in.n, ngroups, R, threads, out, size, size, hash,
             tc.quirk ? "with upstream's quirk" : "assistant turns only");
    rv_err local = {{0}};
    bool wok = rv_shard_open(&w, staging, &meta, &local) == 0;
    size_t nimg = 0, nsamp = 0, bad_img = 0, bad_cell = 0, long_cell = 0, imgtag_cell = 0;
    double t1 = rv_now();
    rv_progress *prog = rv_progress_start("pack images", ge - gb, rv_cfg_num(cfg, "log.progress_interval_s"));
    /* Batches of image groups: threads decode, resize and tokenize a batch, then this thread
     * writes it in order (so the shard does not depend on the thread count). The batch is
     * capped at about 256 MB of resized pixels. */
    size_t per = (size_t)size * (size_t)size, bmax = (size_t)threads * 8;
    if (anyres) per += (size_t)3056 * 2544; /* a CXR original held until written (raw; a JPEG is less) */
    if (bmax * per > ((size_t)256 << 20)) bmax = ((size_t)256 << 20) / per;
    if (bmax < 1) bmax = 1;
    batch = rv_xcalloc(bmax, sizeof *batch);
    for (size_t g0 = gb; wok && g0 < ge; g0 += bmax) {
        size_t nb = ge - g0 < bmax ? ge - g0 : bmax;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (size_t b = 0; b < nb; b++) pack_group(&in, order, &groups[g0 + b], &tc, (int)size, anyres, &batch[b]);
        for (size_t b = 0; b < nb; b++) {
            const group *G = &groups[g0 + b];
            gres *r = &batch[b];
            const char *ipath = in.r[order[G->start]].image;
            int64_t row = -1;
            if (!wok) {
                /* an earlier group failed: only free this one */
            } else if (!r->pixels) {
                bad_img++;
                if (rv_badrec_report(&ctx->bad, &local, ipath, "image unusable (%zu sample(s) skipped): %s", G->count,
                                     r->bad) != 0)
                    wok = false;
            } else if (rv_shard_add_image(w, r->pixels, ipath, &row, &local) != 0 ||
                       (anyres && rv_shard_add_original(w, r->codec, r->orig, r->orig_len, r->oh, r->ow, &local) != 0)) {
                wok = false;
            } else {
                nimg++;
                for (size_t k = 0; wok && k < G->count; k++) {
                    const prec *p = &in.r[order[G->start + k]];
                    sres *q = &r->s[k];
                    if (q->bad) {
                        char where[1200];
                        snprintf(where, sizeof where, "%s: cell %s", lj[0] ? lj : "DATA_DIR", q->id ? q->id : "?");
                        if (q->fault == CELL_TOO_LONG) long_cell++;
                        else if (q->fault == CELL_IMAGE_COUNT) imgtag_cell++;
                        else bad_cell++;
                        if (rv_badrec_report(&ctx->bad, &local, where, "%s%s",
                                             q->fault == CELL_UNTOKENIZABLE ? "cannot tokenize: " : "", q->bad) != 0)
                            wok = false;
                        continue;
                    }
                    rv_shard_sample s = {p->task, p->source, p->split, row, q->ids.v, q->mask.v, q->ids.n, q->boxes,
                                         q->nbox, q->text.s ? q->text.s : "", q->id ? q->id : "",
                                         q->labels.s ? q->labels.s : ""};
                    if (rv_shard_add_sample(w, &s, &local) != 0) wok = false;
                    nsamp++;
                }
            }
            gres_free(r, G->count);
            if (kill_at > 0 && (long long)(g0 + b - gb + 1) == kill_at) raise(SIGKILL); /* tests: a crash mid-way */
        }
        rv_progress_update(prog, g0 + nb - gb);
    }
    rv_progress_finish(prog);
    double t_img = rv_now() - t1;
    double t2 = rv_now();
    if (wok) wok = rv_shard_commit(w, &local) == 0;
    else rv_shard_abort(w);
    w = NULL;
    if (!rv_comm_all_ok(ctx->comm, wok)) {
        if (!wok) rv_fail(err, "pack: %s", local.msg);
        else rv_fail(err, "pack: another rank failed (see its message); no index written");
        goto out;
    }
    uint64_t tot_img = rv_comm_sum_u64(ctx->comm, nimg), tot_s = rv_comm_sum_u64(ctx->comm, nsamp);
    uint64_t tot_bi = rv_comm_sum_u64(ctx->comm, bad_img), tot_bc = rv_comm_sum_u64(ctx->comm, bad_cell);
    uint64_t tot_long = rv_comm_sum_u64(ctx->comm, long_cell), tot_tag = rv_comm_sum_u64(ctx->comm, imgtag_cell);
    /* a set without samples trains nothing: fail before the index would make it look finished, and
     * before the swap, so a previous set in OUT stays as it was */
    if (tot_s == 0) {
        if (me != 0) { ret = 0; goto out; } /* rank 0 says it once; the phase fails on every rank through it */
        rv_fail(err, "pack: no sample was packed from %zu cell(s): %llu unusable image(s), %llu cell(s) that could "
                "not be tokenized, %llu cell(s) over pack.max_tokens and %llu cell(s) without exactly one <image> were "
                "skipped (each is named in a bad-record report above); no new shard set was "
                "committed to %s (a previous one there is unchanged). Fix those inputs (image paths under the data "
                "directory, image files, the tokenizer) and re-run the pack phase",
                in.n, (unsigned long long)tot_bi, (unsigned long long)tot_bc, (unsigned long long)tot_long,
                (unsigned long long)tot_tag, out);
        goto out;
    }
    if (kill_at == -2) raise(SIGKILL); /* tests: a crash between the shards' commit and the index */
    bool iok = me != 0 || rv_shard_write_index(staging, R, &local) == 0;
    if (iok && me == 0 && kill_at == -3) raise(SIGKILL); /* tests: the new set complete, not yet swapped in */
    if (iok && me == 0) iok = rv_shard_set_commit(out, staging, &local) == 0;
    if (!rv_comm_all_ok(ctx->comm, iok)) {
        if (!iok) rv_fail(err, "pack: %s", local.msg);
        else rv_fail(err, "pack: rank 0 could not write the index");
        goto out;
    }
    double t_out = rv_now() - t2;
    /* the slowest rank's times */
    double img_max = rv_comm_max_f64(ctx->comm, t_img), in_max = rv_comm_max_f64(ctx->comm, t_in);
    double dt = rv_now() - t0;
    rv_info0("pack: %llu samples, %llu images in %d shard(s) + index.h5 under %s in %.2f s (%.1f images/s); skipped: "
             "%llu unusable image(s), %llu cell(s) that could not be tokenized, %llu cell(s) over pack.max_tokens (%zu), "
             "%llu cell(s) without exactly one <image>",
             (unsigned long long)tot_s, (unsigned long long)tot_img, R, out, dt, dt > 0 ? (double)tot_img / dt : 0.0,
             (unsigned long long)tot_bi, (unsigned long long)tot_bc, (unsigned long long)tot_long, tc.max_tokens,
             (unsigned long long)tot_tag);
    rv_info0("pack: timings (slowest rank): read sources + build cells %.2f s, image loop (decode, resize, tokenize, "
             "write) %.2f s = %.1f images/s, commit + index %.2f s",
             in_max, img_max, img_max > 0 ? (double)tot_img / img_max : 0.0, t_out);
    ret = 0;
out:
    if (w) rv_shard_abort(w);
    free(batch); /* its entries are freed as they are written */
    free(cfgjson);
    free(staging);
    free(order);
    free(groups);
    pack_in_free(&in);
    if (tok) rv_tokenizer_free(tok);
    free(tokjson);
    free(tokpath);
    free(out);
    return ret;
}
