/* The pack phase: instruction cells (built from DATA_DIR, or read from LLaVA JSON) -> decoded,
 * resized grey images + qwen_1_5 token ids and loss masks -> one HDF5 shard per rank and
 * index.h5 (docs/formats.md). The logical content does not depend on the rank count: samples
 * are grouped by image (groups in order of first appearance, samples in cell order), each
 * image is stored once, and ranks take contiguous runs of groups. pack.check=true only checks
 * an existing shard directory. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/world.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/strbuf.h"
#include "data/blocks.h"
#include "data/llava_read.h"
#include "data/readers.h"
#include "data/templates.h"
#include "io/dicom.h"
#include "io/h5util.h"
#include "io/image.h"
#include "io/json.h"
#include "io/resize.h"
#include "io/shard_read.h"
#include "io/shard_write.h"
#include "phases/phase.h"
#include "tokenizer/tokenizer.h"

#define IMAGE_TOKEN (-200) /* LLaVA's IMAGE_TOKEN_INDEX: where the model splices the image features */

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
    rv_reader_ctx rc = {
        .data_dir = ctx->data_dir,
        .bad = &ctx->bad,
        .report_filter = strcmp(rv_cfg_str(cfg, "data.report_filter"), "rules") ? RV_REPORT_FILTER_NONE
                                                                                  : RV_REPORT_FILTER_RULES,
        .vindr_convert = strcmp(rv_cfg_str(cfg, "data.vindr_convert"), "voi") ? RV_VINDR_MINMAX : RV_VINDR_VOI,
    };
    rv_build_opts o = {.seed = in->seed};
    long long n = rv_cfg_int(cfg, "instruct.chestima_train_n");
    o.chestima_train_n = n > 0 ? (size_t)n : 0;
    for (int t = 0; t < RV_TASK_COUNT; t++) {
        char key[96];
        snprintf(key, sizeof key, "instruct.test_max.%s", rv_task_name((rv_task)t));
        long long m = rv_cfg_int(cfg, key);
        o.test_max[t] = m > 0 ? (size_t)m : 0;
    }
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
        if (rv_llava_read(path, &ctx->bad, &root, err) != 0) { rc = -1; break; }
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

/* ---- images ---- */

static int load_grey(const char *path, rv_image *img, rv_err *err) {
    unsigned char magic[132] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return rv_fail(err, "%s: cannot open image", path);
    size_t got = fread(magic, 1, sizeof magic, fp);
    fclose(fp);
    if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8) return rv_jpeg_read(path, img, err);
    if (got >= 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8)) return rv_png_read(path, img, err);
    if (got >= 132 && !memcmp(magic + 128, "DICM", 4)) {
        rv_dicom_info info;
        return rv_dicom_read(path, &info, img, err);
    }
    return rv_fail(err, "%s: not a JPEG, PNG or DICOM file", path);
}

/* 16-bit -> 8-bit by the image's own range (as upstream's VinDr conversion, with rounding
 * down): (v - min) * 255 / (max - min). A flat image becomes 0. */
static void to8(rv_image *img) {
    if (img->bits == 8) return;
    size_t n = (size_t)img->width * (size_t)img->height;
    uint16_t lo = 65535, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (img->u16[i] < lo) lo = img->u16[i];
        if (img->u16[i] > hi) hi = img->u16[i];
    }
    uint8_t *o = rv_xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) o[i] = hi > lo ? (uint8_t)(((uint32_t)(img->u16[i] - lo) * 255u) / (hi - lo)) : 0;
    free(img->u16);
    img->u16 = NULL;
    img->u8 = o;
    img->bits = 8;
}

/* ---- text -> tokens (qwen_1_5, upstream preprocess_qwen labels; train.md A.4/A.5) ---- */

typedef struct chat_tok {
    const rv_tokenizer *t;
    int32_t im_start, im_end, newline;
} chat_tok;

typedef struct tokbuf {
    rv_ids ids;
    uint8_t *mask;
    size_t cap;
} tokbuf;

static void tb_mask(tokbuf *b, size_t from, uint8_t m) {
    if (b->ids.n > b->cap) {
        b->cap = b->ids.n * 2;
        b->mask = rv_xrealloc(b->mask, b->cap);
    }
    for (size_t i = from; i < b->ids.n; i++) b->mask[i] = m;
}

/* Encodes text with every literal "<image>" replaced by IMAGE_TOKEN (never trained). */
static int encode_seg(const chat_tok *ct, tokbuf *b, const char *s, uint8_t m, rv_err *err) {
    const char *p = s;
    for (;;) {
        const char *img = strstr(p, "<image>");
        size_t n = img ? (size_t)(img - p) : strlen(p), from = b->ids.n;
        if (n && rv_tokenizer_encode(ct->t, p, n, &b->ids, err) != 0) return -1;
        tb_mask(b, from, m);
        if (!img) return 0;
        rv_ids_push(&b->ids, IMAGE_TOKEN);
        tb_mask(b, b->ids.n - 1, 0);
        p = img + 7;
    }
}

static int tokenize_conv(const chat_tok *ct, const cJSON *conv, tokbuf *b, rv_err *err) {
    b->ids.n = 0;
    rv_sb seg;
    rv_sb_init(&seg);
    int rc = encode_seg(ct, b, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n", 0, err);
    const cJSON *t;
    bool first = true;
    cJSON_ArrayForEach(t, conv) {
        if (rc) break;
        const char *from = cJSON_GetObjectItemCaseSensitive(t, "from")->valuestring;
        const char *val = cJSON_GetObjectItemCaseSensitive(t, "value")->valuestring;
        bool user = strcmp(from, "human") == 0;
        if (first && !user) continue; /* upstream drops a leading non-human turn */
        first = false;
        rv_sb_clear(&seg);
        rv_sb_printf(&seg, "<|im_start|>%s\n%s<|im_end|>\n", user ? "user" : "assistant", val);
        rc = encode_seg(ct, b, seg.s, user ? 0 : 1, err);
    }
    rv_sb_free(&seg);
    if (rc) return -1;
    /* Upstream quirk: "\n", <|im_start|> and <|im_end|> are trained everywhere. */
    for (size_t i = 0; i < b->ids.n; i++) {
        int32_t id = b->ids.v[i];
        if (id == ct->newline || id == ct->im_start || id == ct->im_end) b->mask[i] = 1;
    }
    return 0;
}

/* Boxes written in the answers: "[a, b, c, d]" with plain decimals (negative allowed, as
 * P11 boxes may be). */
static void parse_boxes(const char *s, float **boxes, size_t *n, size_t *cap) {
    for (const char *p = strchr(s, '['); p; p = strchr(p + 1, '[')) {
        double v[4];
        const char *q = p + 1;
        int k = 0;
        for (; k < 4; k++) {
            while (k && (*q == ' ' || *q == '\t' || *q == '\n')) q++;
            const char *st = q;
            if (*q == '-') q++;
            while ((*q >= '0' && *q <= '9') || *q == '.') q++;
            if (q == st || (q == st + 1 && *st == '-')) break;
            v[k] = strtod(st, NULL);
            if (k < 3) {
                if (*q != ',') break;
                q++;
            }
        }
        if (k < 4 || *q != ']') continue;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 8;
            *boxes = rv_xrealloc(*boxes, *cap * 4 * sizeof **boxes);
        }
        for (int j = 0; j < 4; j++) (*boxes)[*n * 4 + j] = (float)v[j];
        (*n)++;
    }
}

/* ---- the phase ---- */

static uint64_t fnv64(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static char *find_tokenizer(rv_phase_ctx *ctx) {
    const char *p = rv_cfg_str(ctx->cfg, "pack.tokenizer");
    if (p[0]) return rv_xstrdup(p);
    const char *cands[3][2] = {{ctx->data_dir, "tokenizer.json"}, {ctx->data_dir, "tokenizer/tokenizer.json"},
                               {ctx->run_dir, "tokenizer.json"}};
    for (int i = 0; i < 3; i++) {
        if (!cands[i][0]) continue;
        char *c = rv_path_join(cands[i][0], cands[i][1]);
        if (rv_is_file(c)) return c;
        free(c);
    }
    return NULL;
}

static int run_check(const char *dir, rv_err *err) {
    bool ok = true;
    rv_err local = {{0}};
    if (rv_rank() == 0) {
        rv_sb rep;
        rv_sb_init(&rep);
        long np = rv_shards_check(dir, &rep, &local);
        if (np < 0) ok = false;
        else if (np > 0) {
            fputs(rep.s, stderr);
            rv_fail(&local, "pack.check: %ld problem(s) in %s (listed above); re-run the pack phase to rewrite the shards",
                    np, dir);
            ok = false;
        } else {
            char dg[17] = "";
            rv_shards_digest(dir, dg, &local);
            rv_info0("pack.check: %s is intact (every dataset read back, checksums verified); content digest %s", dir, dg);
            printf("pack.check: OK %s digest %s\n", dir, dg);
        }
        rv_sb_free(&rep);
    }
    if (!rv_world_all_ok(ok)) {
        if (!ok) return rv_fail(err, "%s", local.msg);
        return rv_fail(err, "pack.check failed on rank 0");
    }
    return 0;
}

/* Rank 0 removes what an earlier pack left in dir (old index first, so no stale index ever
 * points at a mix of shards). */
static int clear_dir(const char *dir, rv_err *err) {
    if (rv_mkdir_p(dir, err) != 0) return -1;
    char *idx = rv_path_join(dir, "index.h5");
    unlink(idx);
    free(idx);
    char **names = NULL;
    size_t n = 0;
    if (rv_list_dir(dir, &names, &n, err) != 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (!strncmp(names[i], "shard-", 6) || !strncmp(names[i], "index.h5", 8)) {
            char *p = rv_path_join(dir, names[i]);
            unlink(p);
            free(p);
        }
    rv_free_strv(names, n);
    return 0;
}

int rv_phase_pack(rv_phase_ctx *ctx, rv_err *err) {
    const rv_config *cfg = ctx->cfg;
    rv_h5_quiet();
    const char *outc = rv_cfg_str(cfg, "pack.out");
    char *out = outc[0] ? rv_xstrdup(outc) : rv_path_join(ctx->run_dir, "shards");
    if (rv_cfg_bool(cfg, "pack.check")) {
        int rc = run_check(out, err);
        free(out);
        return rc;
    }
    double t0 = rv_now();
    long long size = rv_cfg_int(cfg, "pack.image_size");
    if (size < 8 || size > 4096) {
        free(out);
        return rv_fail(err, "pack.image_size must be between 8 and 4096 (got %lld)", size);
    }
    pack_in in = {.seed = (uint64_t)rv_cfg_int(cfg, "run.seed")};
    rv_tokenizer *tok = NULL;
    char *tokpath = find_tokenizer(ctx), *tokjson = NULL, hash[40];
    size_t toklen = 0;
    size_t *order = NULL;
    group *groups = NULL;
    size_t ngroups = 0;
    rv_shard_writer *w = NULL;
    tokbuf tb;
    memset(&tb, 0, sizeof tb);
    float *boxes = NULL;
    size_t boxcap = 0;
    rv_sb text, labels;
    rv_sb_init(&text);
    rv_sb_init(&labels);
    uint8_t *pix = NULL;
    char *cfgjson = NULL;
    int ret = -1;

    if (!tokpath) {
        rv_fail(err, "pack: no tokenizer; set pack.tokenizer to a Hugging Face tokenizer.json (the model's), or put "
                     "one at DATA_DIR/tokenizer.json");
        goto out;
    }
    if (rv_read_file(tokpath, &tokjson, &toklen, err) != 0 ||
        rv_tokenizer_load_json(tokpath, tokjson, toklen, &tok, err) != 0) {
        rv_fail_wrap(err, "pack.tokenizer");
        goto out;
    }
    snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)fnv64(tokjson, toklen));
    chat_tok ct = {tok, rv_tokenizer_token_id(tok, "<|im_start|>"), rv_tokenizer_token_id(tok, "<|im_end|>"),
                   rv_tokenizer_bytes_id(tok, "\n", 1)};
    if (ct.im_start < 0 || ct.im_end < 0) {
        rv_fail(err, "%s: the qwen_1_5 chat template needs the added tokens <|im_start|> and <|im_end|>; this "
                     "tokenizer.json has %s", tokpath, ct.im_start < 0 ? "no <|im_start|>" : "no <|im_end|>");
        goto out;
    }

    /* Every rank reads the same input (cheap next to decoding images). */
    const char *lj = rv_cfg_str(cfg, "pack.llava_json");
    if ((lj[0] ? from_llava(ctx, &in, lj, err) : from_data_dir(ctx, &in, err)) != 0) goto out;
    long long maxs = rv_cfg_int(cfg, "pack.max_samples");
    if (maxs > 0 && (size_t)maxs < in.n) in.n = (size_t)maxs;
    if (in.n == 0) {
        rv_fail(err, "pack: no cells to pack (%s); check the input", lj[0] ? lj : ctx->data_dir);
        goto out;
    }
    group_by_image(&in, &order, &groups, &ngroups);

    /* Contiguous runs of image groups, balanced by sample count: group g goes to the rank whose
     * share [r*N/R, (r+1)*N/R) holds its first sample. */
    int R = rv_nranks(), me = rv_rank();
    size_t gb = ngroups, ge = ngroups;
    for (size_t g = 0; g < ngroups; g++) {
        int r = (int)((unsigned __int128)groups[g].start * (unsigned)R / in.n);
        if (r == me && gb == ngroups) gb = g;
        if (r > me) { ge = g; break; }
    }
    if (gb == ngroups) ge = ngroups;

    bool ok = me != 0 || clear_dir(out, err) == 0;
    if (!rv_world_all_ok(ok)) {
        if (ok) rv_fail(err, "pack: rank 0 could not prepare %s", out);
        goto out;
    }
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

    rv_info0("pack: %zu cells, %zu unique images, %d shard(s) -> %s (images %lldx%lld, tokenizer %s)", in.n, ngroups, R,
             out, size, size, hash);
    rv_err local = {{0}};
    bool wok = rv_shard_open(&w, out, &meta, &local) == 0;
    size_t nimg = 0, nsamp = 0, bad_img = 0, bad_cell = 0;
    rv_progress *prog = rv_progress_start("pack images", ge - gb, rv_cfg_num(cfg, "log.progress_interval_s"));
    for (size_t g = gb; wok && g < ge; g++) {
        rv_progress_update(prog, g - gb);
        const group *G = &groups[g];
        const char *ipath = in.r[order[G->start]].image;
        rv_image img = {0}, small = {0};
        rv_err ie;
        int64_t row = -1;
        if (load_grey(ipath, &img, &ie) != 0 ||
            (to8(&img), rv_image_resize(&img, (int)size, (int)size, RV_RESAMPLE_BICUBIC, &small, &ie)) != 0) {
            rv_image_free(&img);
            bad_img++;
            if (rv_badrec_report(&ctx->bad, &local, ipath, "image unusable (%zu sample(s) skipped): %s", G->count,
                                 ie.msg) != 0)
                wok = false;
            continue;
        }
        rv_image_free(&img);
        if (rv_shard_add_image(w, small.u8, ipath, &row, &local) != 0) wok = false;
        rv_image_free(&small);
        nimg++;
        for (size_t k = 0; wok && k < G->count; k++) {
            const prec *p = &in.r[order[G->start + k]];
            cJSON *owned = NULL;
            const cJSON *cell = p->cell;
            rv_err ce;
            if (!cell) cell = owned = rv_render_cell(p->set, p->global, in.tpl, in.seed, &ce);
            const cJSON *conv = cell ? cJSON_GetObjectItemCaseSensitive(cell, "conversations") : NULL;
            const cJSON *id = cell ? cJSON_GetObjectItemCaseSensitive(cell, "id") : NULL;
            char idbuf[64];
            const char *ids = cJSON_IsString(id) ? id->valuestring : NULL;
            if (!ids && cJSON_IsNumber(id)) {
                snprintf(idbuf, sizeof idbuf, "%.17g", id->valuedouble);
                ids = idbuf;
            }
            if (!cell || tokenize_conv(&ct, conv, &tb, &ce) != 0) {
                bad_cell++;
                char where[1200];
                snprintf(where, sizeof where, "%s: cell %s", lj[0] ? lj : "DATA_DIR", ids ? ids : "?");
                if (rv_badrec_report(&ctx->bad, &local, where, "cannot tokenize: %s", ce.msg) != 0) wok = false;
                cJSON_Delete(owned);
                continue;
            }
            size_t nb = 0;
            rv_sb_clear(&labels);
            const cJSON *t;
            cJSON_ArrayForEach(t, conv) {
                const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "from");
                if (cJSON_IsString(f) && !strcmp(f->valuestring, "gpt"))
                    parse_boxes(cJSON_GetObjectItemCaseSensitive(t, "value")->valuestring, &boxes, &nb, &boxcap);
            }
            const cJSON *lab = cJSON_GetObjectItemCaseSensitive(cell, "labels");
            cJSON_ArrayForEach(t, lab) if (cJSON_IsString(t)) rv_sb_printf(&labels, "%s%s", labels.len ? "\n" : "", t->valuestring);
            rv_sb_clear(&text);
            rv_pyjson_dump(&text, conv, -1, false);
            rv_shard_sample s = {p->task, p->source, p->split, row, tb.ids.v, tb.mask, tb.ids.n, boxes, nb,
                                 text.s, ids ? ids : "", labels.s ? labels.s : ""};
            if (rv_shard_add_sample(w, &s, &local) != 0) wok = false;
            nsamp++;
            cJSON_Delete(owned);
        }
    }
    rv_progress_finish(prog);
    if (wok) wok = rv_shard_commit(w, &local) == 0;
    else rv_shard_abort(w);
    w = NULL;
    if (!rv_world_all_ok(wok)) {
        if (!wok) rv_fail(err, "pack: %s", local.msg);
        else rv_fail(err, "pack: another rank failed (see its message); no index written");
        goto out;
    }
    bool iok = me != 0 || rv_shard_write_index(out, R, &local) == 0;
    if (!rv_world_all_ok(iok)) {
        if (!iok) rv_fail(err, "pack: %s", local.msg);
        else rv_fail(err, "pack: rank 0 could not write the index");
        goto out;
    }
    uint64_t tot_img = rv_world_sum_u64(nimg), tot_s = rv_world_sum_u64(nsamp);
    uint64_t tot_bi = rv_world_sum_u64(bad_img), tot_bc = rv_world_sum_u64(bad_cell);
    double dt = rv_now() - t0;
    rv_info0("pack: %llu samples, %llu images in %d shard(s) + index.h5 under %s in %.2f s (%.1f images/s); skipped: "
             "%llu unusable image(s), %llu cell(s) that could not be tokenized",
             (unsigned long long)tot_s, (unsigned long long)tot_img, R, out, dt, dt > 0 ? (double)tot_img / dt : 0.0,
             (unsigned long long)tot_bi, (unsigned long long)tot_bc);
    ret = 0;
out:
    if (w) rv_shard_abort(w);
    free(pix);
    free(cfgjson);
    rv_sb_free(&text);
    rv_sb_free(&labels);
    free(boxes);
    rv_ids_free(&tb.ids);
    free(tb.mask);
    free(order);
    free(groups);
    pack_in_free(&in);
    if (tok) rv_tokenizer_free(tok);
    free(tokjson);
    free(tokpath);
    free(out);
    return ret;
}
