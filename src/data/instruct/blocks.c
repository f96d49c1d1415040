#include "data/instruct/blocks.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "data/instruct/instruction.h"
#include "data/instruct/llava.h"

void rv_sources_free(rv_sources *s) {
    for (size_t i = 0; i < s->n; i++) rv_dataset_free(s->ds[i]);
    free(s->ds);
    s->ds = NULL;
    s->n = 0;
}

void rv_cellset_free(rv_cellset *s) {
    for (size_t i = 0; i < s->nblocks; i++) {
        free(s->blocks[i].name);
        free(s->blocks[i].prefix);
        free(s->blocks[i].sources);
    }
    free(s->blocks);
    free(s->cells);
    memset(s, 0, sizeof *s);
}

static void keep_ds(rv_sources *src, rv_dataset *d) {
    src->ds = rv_xrealloc(src->ds, (src->n + 1) * sizeof *src->ds);
    src->ds[src->n++] = d;
}

/* Whether an item can make a cell (P10: no box left; no usable conversation turn). */
static bool usable(const rv_dataset *d, const rv_item *it, size_t *malformed) {
    switch (d->task) {
    case RV_TASK_REPORT: return it->text != NULL;
    case RV_TASK_CLASSIFY: return true;
    case RV_TASK_ANATOMY: return it->nregions > 0;
    case RV_TASK_ABN_GROUND:
    case RV_TASK_PHRASE: return it->text != NULL && it->nboxes > 0;
    case RV_TASK_DETECT: return it->nboxes == 0 || it->nboxes == it->nlabels;
    case RV_TASK_CONV:
    case RV_TASK_GCONV: return it->conversation && rv_llava_count_turns(it->conversation, malformed) > 0;
    default: return false;
    }
}

/* A block's source: the usable items of one or more datasets, concatenated. */
typedef struct pool {
    rv_cellref *r;
    size_t n;
    rv_sb names;
} pool;

static void pool_add(pool *p, const rv_dataset *d, size_t *dropped) {
    if (!d) return;
    if (!p->names.s) rv_sb_init(&p->names);
    if (p->names.len) rv_sb_puts(&p->names, "+");
    rv_sb_puts(&p->names, d->name);
    size_t malformed = 0, drop = 0;
    p->r = rv_xrealloc(p->r, (p->n + d->n + 1) * sizeof *p->r);
    for (size_t i = 0; i < d->n; i++) {
        if (!usable(d, &d->items[i], &malformed)) { drop++; continue; }
        p->r[p->n].ds = d;
        p->r[p->n].item = i;
        p->r[p->n].block = 0;
        p->n++;
    }
    if (drop)
        rv_warn0("%s: %zu of %zu samples dropped (no box left after fusion, or no usable conversation turn; data.md P10/P18)",
                 d->name, drop, d->n);
    if (malformed) rv_warn0("%s: %zu malformed conversation turns skipped", d->name, malformed);
    *dropped += drop;
}

/* Appends one block: a permutation of the pool (or its order when perm is false), truncated to max. */
static void add_block(rv_cellset *s, const char *name, const char *prefix, rv_task task, const pool *p, bool perm,
                      size_t max, uint64_t seed) {
    s->blocks = rv_xrealloc(s->blocks, (s->nblocks + 1) * sizeof *s->blocks);
    rv_block *b = &s->blocks[s->nblocks];
    b->name = rv_xstrdup(name);
    b->prefix = rv_xstrdup(prefix);
    b->task = task;
    b->sources = rv_xstrdup(p->names.len ? p->names.s : "-");
    b->first = s->ncells;
    size_t n = p->n;
    size_t *idx = rv_xmalloc((n ? n : 1) * sizeof *idx);
    if (perm) {
        rv_rng r;
        char *pn = rv_xasprintf("perm:%s", name);
        rv_rng_init(&r, seed, rv_hash32(pn), 0);
        free(pn);
        rv_rng_permutation(&r, idx, n);
    } else {
        for (size_t i = 0; i < n; i++) idx[i] = i;
    }
    size_t cnt = (max && max < n) ? max : n;
    b->count = cnt;
    s->cells = rv_xrealloc(s->cells, (s->ncells + cnt + 1) * sizeof *s->cells);
    for (size_t i = 0; i < cnt; i++) {
        s->cells[s->ncells] = p->r[idx[i]];
        s->cells[s->ncells].block = (uint32_t)s->nblocks;
        s->ncells++;
    }
    free(idx);
    s->nblocks++;
}

/* Repeated block: reps permutations, block names "<base>/<k>", prefixes from fmt or fixed. */
static void add_reps(rv_cellset *s, const char *base, const char *prefix_fmt, bool numbered, int reps, rv_task task,
                     const pool *p, uint64_t seed) {
    for (int k = 1; k <= reps; k++) {
        char *name = rv_xasprintf("%s/%d", base, k);
        char *prefix = numbered ? rv_xasprintf("%s%d", prefix_fmt, k) : rv_xstrdup(prefix_fmt);
        add_block(s, name, prefix, task, p, true, 0, seed);
        free(name);
        free(prefix);
    }
}

static bool present(const rv_reader_ctx *c, rv_source s, const char *block) {
    if (rv_source_present(c, s)) return true;
    rv_info0("instruct: %s: source %s absent under %s; 0 cells", block, rv_source_name(s), c->data_dir);
    return false;
}

static bool present_mimic(const rv_reader_ctx *c, rv_source s, const char *block) {
    return present(c, RV_SRC_MIMIC, block) && (s == RV_SRC_MIMIC || present(c, s, block));
}

#define READ(call)                                                                                                  \
    do {                                                                                                            \
        if ((call) != 0) goto fail;                                                                                 \
    } while (0)

/* One reader call feeding a block's pool. */
typedef enum reader_id {
    RD_VINDR, RD_VINDR_MONO, RD_MSCXR, RD_PADCHEST_PHRASES, RD_PADCHEST_CONV, RD_MIMIC, RD_CHEXPERT,
    RD_CHEXPERT_PLUS, RD_IMAGENOME,
} reader_id;

typedef struct read_spec {
    reader_id reader;
    const char *split;     /* the reader's split argument (RD_MIMIC: in mimic instead) */
    rv_mimic_query mimic;  /* RD_MIMIC only */
} read_spec;

static int run_read(const rv_reader_ctx *c, const read_spec *r, rv_dataset **out, rv_err *err) {
    switch (r->reader) {
    case RD_VINDR: return rv_read_vindr(c, r->split, false, out, err);
    case RD_VINDR_MONO: return rv_read_vindr(c, r->split, true, out, err);
    case RD_MSCXR: return rv_read_mscxr(c, r->split, out, err);
    case RD_PADCHEST_PHRASES: return rv_read_padchest_phrases(c, r->split, out, err);
    case RD_PADCHEST_CONV: return rv_read_padchest_conversations(c, r->split, out, err);
    case RD_MIMIC: return rv_read_mimic(c, &r->mimic, out, err);
    case RD_CHEXPERT: return rv_read_chexpert(c, r->split, out, err);
    case RD_CHEXPERT_PLUS: return rv_read_chexpert_plus(c, r->split, out, err);
    case RD_IMAGENOME: return rv_read_imagenome(c, r->split, out, err);
    }
    return rv_fail(err, "instruct: unknown reader %d", (int)r->reader);
}

/* One row of the SFT mix (data.md §9.1): the pool read from up to two datasets, then `reps`
 * permutations of it. reps == 1 makes one block named `name`; reps > 1 makes blocks
 * "<name>/1".."<name>/<reps>", with prefix "<prefix><k>" when numbered, else `prefix` for all
 * (VinDr mono keeps one prefix, P17). */
typedef struct mix_row {
    const char *name, *prefix;
    bool numbered;
    int reps;
    rv_task task;
    rv_source source;        /* must be present under DATA_DIR, */
    bool needs_mimic;        /* and MIMIC-CXR first (its table carries the images) */
    const char *present_as;  /* label of the presence check (NULL: name); consecutive rows sharing it check once */
    bool capped;             /* keep the first instruct.chestima_train_n cells of the permutation */
    int nread;
    read_spec read[2];
} mix_row;

#define SPLIT(r, s) {.reader = r, .split = s}
#define MIMIC_TRAIN(frontal, filtered, t, conv)                                                                       \
    {.reader = RD_MIMIC, .mimic = {.split = "train", .only_frontal = frontal, .filtered_reports = filtered, .task = t, \
                                   .conv_split = conv}}

/* The 24 train blocks in upstream order (comments: block numbers). */
static const mix_row train_mix[] = {
    /* 1-2: VinDr-CXR detection; 3-5: single-label grounding (one source check for both). */
    {.name = "vindr-cxr-train", .prefix = "vindr-cxr-train", .numbered = true, .reps = 2, .task = RV_TASK_DETECT,
     .source = RV_SRC_VINDR, .nread = 1, .read = {SPLIT(RD_VINDR, "train")}},
    {.name = "vindr-cxr-mono-train", .prefix = "vindr-cxr-mono-train1", .numbered = false, .reps = 3,
     .task = RV_TASK_ABN_GROUND, .source = RV_SRC_VINDR, .present_as = "vindr-cxr-train", .nread = 1,
     .read = {SPLIT(RD_VINDR_MONO, "train")}},
    /* 6-8: MS-CXR phrase grounding on MIMIC train + validate. */
    {.name = "mscxr-train", .prefix = "mscxr-train", .numbered = true, .reps = 3, .task = RV_TASK_PHRASE,
     .source = RV_SRC_MSCXR, .needs_mimic = true, .nread = 2,
     .read = {SPLIT(RD_MSCXR, "train"), SPLIT(RD_MSCXR, "validate")}},
    /* 9-10: PadChest-GR phrase grounding, train + validation. */
    {.name = "padchest-train", .prefix = "padchest-train", .numbered = true, .reps = 2, .task = RV_TASK_PHRASE,
     .source = RV_SRC_PADCHEST, .nread = 2,
     .read = {SPLIT(RD_PADCHEST_PHRASES, "train"), SPLIT(RD_PADCHEST_PHRASES, "validation")}},
    /* 11: MIMIC report generation (train, frontal, filtered reports). */
    {.name = "mimic-train", .prefix = "mimic-train", .reps = 1, .task = RV_TASK_REPORT, .source = RV_SRC_MIMIC,
     .nread = 1, .read = {MIMIC_TRAIN(true, true, RV_TASK_REPORT, NULL)}},
    /* 12: CheXpert-Plus report generation. */
    {.name = "chexpertplus-train", .prefix = "chexpertplus-train", .reps = 1, .task = RV_TASK_REPORT,
     .source = RV_SRC_CHEXPERT_PLUS, .nread = 1, .read = {SPLIT(RD_CHEXPERT_PLUS, "train")}},
    /* 13: Chest ImaGenome anatomical grounding, the first N of one shuffled pass. */
    {.name = "chestima-train", .prefix = "chestima-train", .reps = 1, .task = RV_TASK_ANATOMY,
     .source = RV_SRC_IMAGENOME, .needs_mimic = true, .capped = true, .nread = 1,
     .read = {SPLIT(RD_IMAGENOME, "train")}},
    /* 14: MIMIC classification (train, frontal, every study with a reports.csv row). */
    {.name = "mimic-labels-train", .prefix = "mimic-labels-train", .reps = 1, .task = RV_TASK_CLASSIFY,
     .source = RV_SRC_MIMIC, .nread = 1, .read = {MIMIC_TRAIN(true, false, RV_TASK_CLASSIFY, NULL)}},
    /* 15: CheXpert classification. */
    {.name = "chexpert-train", .prefix = "chexpert-train", .reps = 1, .task = RV_TASK_CLASSIFY,
     .source = RV_SRC_CHEXPERT, .nread = 1, .read = {SPLIT(RD_CHEXPERT, "train")}},
    /* 16: MIMIC standard conversations (all views, P16). */
    {.name = "conv-train", .prefix = "conv-train", .reps = 1, .task = RV_TASK_CONV, .source = RV_SRC_MIMIC,
     .nread = 1, .read = {MIMIC_TRAIN(false, true, RV_TASK_CONV, "train")}},
    /* 17-20: MIMIC grounded conversations (MS-CXR images). */
    {.name = "conv-grounded-train", .prefix = "conv-grounded-train", .numbered = true, .reps = 4,
     .task = RV_TASK_GCONV, .source = RV_SRC_MSCXR, .needs_mimic = true, .nread = 1,
     .read = {MIMIC_TRAIN(true, true, RV_TASK_GCONV, "train")}},
    /* 21-24: PadChest-GR grounded conversations, train + validation. */
    {.name = "conv-grounded-padchest-train", .prefix = "conv-grounded-padchest-train", .numbered = true, .reps = 4,
     .task = RV_TASK_GCONV, .source = RV_SRC_PADCHEST, .nread = 2,
     .read = {SPLIT(RD_PADCHEST_CONV, "train"), SPLIT(RD_PADCHEST_CONV, "validation")}},
};
#undef SPLIT
#undef MIMIC_TRAIN

int rv_build_train(const rv_reader_ctx *c, const rv_build_opts *o, rv_sources *src, rv_cellset *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    const char *checked = NULL; /* label of the last presence check, and its answer */
    bool have = false;
    for (size_t i = 0; i < sizeof train_mix / sizeof *train_mix; i++) {
        const mix_row *m = &train_mix[i];
        const char *label = m->present_as ? m->present_as : m->name;
        if (!checked || strcmp(checked, label) != 0) {
            checked = label;
            have = m->needs_mimic ? present_mimic(c, m->source, label) : present(c, m->source, label);
        }
        if (!have) continue;
        rv_dataset *ds[2] = {NULL, NULL};
        for (int r = 0; r < m->nread; r++) {
            if (run_read(c, &m->read[r], &ds[r], err) != 0) {
                rv_cellset_free(out);
                return -1;
            }
            keep_ds(src, ds[r]);
        }
        pool p = {0};
        for (int r = 0; r < m->nread; r++) pool_add(&p, ds[r], &out->dropped);
        if (m->reps == 1)
            add_block(out, m->name, m->prefix, m->task, &p, true, m->capped ? o->chestima_train_n : 0, o->seed);
        else
            add_reps(out, m->name, m->prefix, m->numbered, m->reps, m->task, &p, o->seed);
        free(p.r);
        rv_sb_free(&p.names);
    }
    return 0;
}

/* The keys upstream's evaluation datasets give their cells (rv_task_test_labels/_pathologies):
 * beyond the SFT blocks', the MIMIC test sets (report generation, both conversation sets) are
 * built with flag_lab=True, so their cells carry "labels", the row's positive CheXpert names (for
 * conversations aligned with the row: P3 fixed, docs/data.md), and MS-CXR's test set is
 * used alone rather than inside a ConcatDataset, so it keeps the MIMIC class's "pathologies". */
static void add_test_fields(rv_task task, rv_dataset *d) {
    for (size_t i = 0; i < d->n; i++) d->items[i].has_labels_field = rv_task_test_labels(task);
    d->pathologies = rv_task_test_pathologies(task);
}

int rv_build_test(const rv_reader_ctx *c, const rv_build_opts *o, rv_task task, rv_sources *src, rv_cellset *out,
                  rv_err *err) {
    memset(out, 0, sizeof *out);
    rv_dataset *a = NULL;
    const char *tn = rv_task_name(task);
    bool have = false;
    switch (task) {
    case RV_TASK_REPORT:
        if ((have = present(c, RV_SRC_MIMIC, tn))) {
            rv_mimic_query q = {.split = "test", .only_frontal = true, .filtered_reports = true, .task = RV_TASK_REPORT};
            READ(rv_read_mimic(c, &q, &a, err));
        }
        break;
    case RV_TASK_CLASSIFY:
        if ((have = present(c, RV_SRC_CHEXPERT, tn))) READ(rv_read_chexpert(c, "test", &a, err));
        break;
    case RV_TASK_ANATOMY:
        if ((have = present_mimic(c, RV_SRC_IMAGENOME, tn))) READ(rv_read_imagenome(c, "test", &a, err));
        break;
    case RV_TASK_ABN_GROUND:
    case RV_TASK_DETECT:
        if ((have = present(c, RV_SRC_VINDR, tn))) READ(rv_read_vindr(c, "test", task == RV_TASK_ABN_GROUND, &a, err));
        break;
    case RV_TASK_PHRASE:
        if ((have = present_mimic(c, RV_SRC_MSCXR, tn))) READ(rv_read_mscxr(c, "test", &a, err));
        break;
    case RV_TASK_CONV:
    case RV_TASK_GCONV:
        if ((have = present_mimic(c, task == RV_TASK_GCONV ? RV_SRC_MSCXR : RV_SRC_MIMIC, tn))) {
            rv_mimic_query q = {.split = "test", .only_frontal = true, .filtered_reports = true, .task = task,
                                .conv_split = "test"};
            READ(rv_read_mimic(c, &q, &a, err));
        }
        break;
    default:
        return rv_fail(err, "instruct: no test set for task %d", (int)task);
    }
    pool p = {0};
    if (have) {
        add_test_fields(task, a);
        keep_ds(src, a);
        pool_add(&p, a, &out->dropped);
    }
    char *name = rv_xasprintf("test/%s", tn);
    /* Evaluation iterates the test sets unshuffled (data.md §10); the cap keeps the first N. */
    add_block(out, name, tn, task, &p, false, o->test_max[task], o->seed);
    out->gt_boxes = true;
    free(name);
    free(p.r);
    if (p.names.s) rv_sb_free(&p.names);
    return 0;
fail:
    rv_cellset_free(out);
    return -1;
}

cJSON *rv_render_cell(const rv_cellset *s, size_t global, const rv_templates *t, uint64_t seed, rv_err *err) {
    const rv_cellref *cr = &s->cells[global];
    const rv_block *b = &s->blocks[cr->block];
    const rv_dataset *d = cr->ds;
    const rv_item *it = &d->items[cr->item];
    rv_rng r;
    rv_rng_init(&r, seed, rv_hash32(b->name), (uint32_t)global);
    char *id = rv_xasprintf("%s_%zu", b->prefix, global);
    rv_qa qa = {0};
    int rc = 0;
    cJSON *cell = NULL;
    const rv_box *gt = NULL; /* the grounding cell's boxes (the region drawn, or the item's) */
    size_t ngt = 0;
    bool grounding = false;
    switch (d->task) {
    case RV_TASK_REPORT: rc = rv_instr_report(t, &r, it->text, &qa, err); break;
    case RV_TASK_CLASSIFY: rc = rv_instr_classify(t, &r, it->labels, it->nlabels, &qa, err); break;
    case RV_TASK_ANATOMY: {
        /* Upstream picks one region per __getitem__, before the template draws. */
        const rv_region *reg = &it->regions[rv_rng_below(&r, (uint32_t)it->nregions)];
        rc = rv_instr_location(t, &r, &reg->box, 1, reg->name, &qa, err);
        gt = &reg->box;
        ngt = 1;
        grounding = true;
        break;
    }
    case RV_TASK_ABN_GROUND: rc = rv_instr_location(t, &r, it->boxes, it->nboxes, it->text, &qa, err); break;
    case RV_TASK_DETECT: rc = rv_instr_detect(t, &r, it->boxes, it->nboxes, it->labels, it->nlabels, &qa, err); break;
    case RV_TASK_PHRASE: rc = rv_instr_phrase(t, &r, it->boxes, it->nboxes, it->text, &qa, err); break;
    case RV_TASK_CONV:
    case RV_TASK_GCONV:
        cell = rv_llava_cell_conv(it->image, it->conversation, id, it->labels, it->nlabels, it->has_labels_field,
                                  d->pathologies);
        if (!cell) rc = rv_fail(err, "no usable conversation turn");
        break;
    default: rc = rv_fail(err, "unknown task"); break;
    }
    if (d->task == RV_TASK_ABN_GROUND || d->task == RV_TASK_DETECT || d->task == RV_TASK_PHRASE) {
        gt = it->boxes;
        ngt = it->nboxes;
        grounding = true;
    }
    if (rc == 0 && !cell)
        cell = rv_llava_cell_qa(it->image, qa.question, qa.answer, id, it->labels, it->nlabels, it->has_labels_field,
                                d->pathologies);
    if (cell && grounding && s->gt_boxes) rv_llava_add_boxes(cell, gt, ngt);
    if (rc != 0) rv_fail_wrap(err, "%s (%s, record %s)", id, d->name, it->id ? it->id : "?");
    rv_qa_free(&qa);
    free(id);
    return rc == 0 ? cell : NULL;
}
