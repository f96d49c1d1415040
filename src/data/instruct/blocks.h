/* The SFT block table (data.md §9.1) and the evaluation sets (§10): which reader feeds which
 * block, how often it repeats, and the cell order. Every rank builds the same cell list (the
 * readers are cheap); rendering a cell depends only on (seed, block, global index), never on
 * the rank count. */
#ifndef RADVLM_DATA_INSTRUCT_BLOCKS_H
#define RADVLM_DATA_INSTRUCT_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "core/error.h"
#include "data/sources/readers.h"
#include "data/instruct/templates.h"

typedef struct rv_block {
    char *name;      /* unique, names the RNG streams: "<prefix>" or "<base>/<rep>", "test/<task>" */
    char *prefix;    /* id prefix written into the cells (upstream's, repeated for VinDr mono, P17) */
    rv_task task;
    char *sources;   /* dataset names feeding the block, for the counts table */
    size_t first;    /* global index of the block's first cell */
    size_t count;    /* cells */
} rv_block;

typedef struct rv_cellref {
    const rv_dataset *ds;
    size_t item;
    uint32_t block;
} rv_cellref;

typedef struct rv_cellset {
    rv_block *blocks;
    size_t nblocks;
    rv_cellref *cells;
    size_t ncells;
    /* drops: samples that cannot make a cell (no box left, no usable conversation turn) */
    size_t dropped;
    /* rv_build_test sets it: grounding cells also carry their unrounded ground-truth boxes
     * ("boxes" key, docs/data.md §10), which the answer text shows with 2 decimals only */
    bool gt_boxes;
} rv_cellset;

typedef struct rv_build_opts {
    uint64_t seed;
    size_t chestima_train_n;            /* instruct.chestima_train_n (upstream 80000) */
    size_t test_max[RV_TASK_COUNT];     /* instruct.test_max.<task>; 0 = all */
} rv_build_opts;

/* The datasets the cell sets point into (owned). */
typedef struct rv_sources {
    rv_dataset **ds;
    size_t n;
} rv_sources;
void rv_sources_free(rv_sources *s);

/* Train blocks in upstream order. Absent sources are skipped with a log line (zero cells). */
int rv_build_train(const rv_reader_ctx *c, const rv_build_opts *o, rv_sources *src, rv_cellset *out, rv_err *err);
/* One cell set per evaluation task (upstream RadVLM's `test` choices), each a single block
 * named "test/<task>" with prefix "<task>", in dataset order, capped by test_max. */
int rv_build_test(const rv_reader_ctx *c, const rv_build_opts *o, rv_task task, rv_sources *src, rv_cellset *out,
                  rv_err *err);
void rv_cellset_free(rv_cellset *s);

/* Renders cell `global` of the set: its template draws come from rv_rng(seed,
 * rv_hash32(block name), global). Returns NULL (err set) only for a sample the builders should
 * have dropped. */
cJSON *rv_render_cell(const rv_cellset *s, size_t global, const rv_templates *t, uint64_t seed, rv_err *err);

#endif
