/* The instruct phase: every instruction task from DATA_DIR as LLaVA JSON (data.md §9, §10).
 * Every rank reads the sources and builds the same cell list; each renders its contiguous
 * slice, rank 0 concatenates in rank order and writes the files. A cell depends only on the
 * seed, its block and its global index, so the files are byte-identical for any rank count. */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/instruct/blocks.h"
#include "data/instruct/llava.h"
#include "data/sources/readers.h"
#include "data/instruct/templates.h"
#include "phases/build_setup.h"
#include "phases/phase.h"

/* Renders this rank's slice, gathers on rank 0, writes path there. Collective over comm. */
static int write_cells(const rv_comm *comm, const rv_cellset *s, const rv_templates *t, uint64_t seed, const char *path,
                       rv_err *err) {
    size_t b, e;
    rv_comm_slice(comm, s->ncells, &b, &e);
    rv_sb mine;
    rv_sb_init(&mine);
    bool ok = true;
    rv_err local = {{0}};
    for (size_t i = b; i < e; i++) {
        cJSON *cell = rv_render_cell(s, i, t, seed, &local);
        if (!cell) { ok = false; break; }
        rv_llava_append_cell(&mine, cell);
        cJSON_Delete(cell);
    }
    if (!rv_comm_all_ok(comm, ok)) {
        rv_sb_free(&mine);
        if (!ok) return rv_fail(err, "instruct: %s", local.msg);
        return rv_fail(err, "instruct: rendering %s failed on another rank (see its message)", path);
    }
    char *all = NULL;
    size_t alen = 0;
    rv_comm_gather_bytes(comm, mine.s ? mine.s : "", mine.len, 0, &all, &alen);
    rv_sb_free(&mine);
    bool wok = true;
    if (comm->rank == 0) {
        rv_sb file;
        rv_sb_init(&file);
        rv_llava_finish(&file, all, alen);
        if (rv_write_atomic(path, file.s, file.len, &local) != 0) wok = false;
        rv_sb_free(&file);
    }
    free(all);
    if (!rv_comm_all_ok(comm, wok)) {
        if (!wok) return rv_fail(err, "instruct: %s", local.msg);
        return rv_fail(err, "instruct: rank 0 could not write %s", path);
    }
    return 0;
}

static void log_blocks(const rv_cellset *s) {
    for (size_t i = 0; i < s->nblocks; i++) {
        const rv_block *b = &s->blocks[i];
        rv_info0("  %-32s %-28s %-40s %9zu", b->name, rv_task_name(b->task), b->sources, b->count);
    }
}

int rv_phase_instruct(rv_phase_ctx *ctx, rv_err *err) {
    const rv_config *cfg = ctx->cfg;
    if (!ctx->data_dir) return rv_fail(err, "instruct: no data directory; set data.dir or DATA_DIR");
    double t0 = rv_now();
    rv_reader_ctx rc;
    rv_build_opts o;
    if (rv_build_setup(ctx, &rc, &o, err) != 0) return -1;
    if (o.chestima_train_n == 0) rv_warn0("instruct.chestima_train_n = 0: the chestima-train block keeps every record");
    for (int t = 0; t < RV_TASK_COUNT; t++) {
        char key[96];
        snprintf(key, sizeof key, "instruct.test_max.%s", rv_task_name((rv_task)t));
        long long m = rv_cfg_int(cfg, key);
        if (m < 0) return rv_fail(err, "%s must be >= 0 (got %lld)", key, m);
        o.test_max[t] = (size_t)m;
    }

    rv_templates *tpl = NULL;
    if (rv_templates_load(rv_cfg_str(cfg, "data.templates"), &tpl, err) != 0) return -1;
    rv_info0("instruct: templates from %s", tpl->source);

    rv_sources src = {0};
    rv_cellset train = {0};
    char *dir = rv_path_join(ctx->run_dir, "llava");
    char *path = NULL;
    int ret = -1;
    size_t total = 0;

    /* VinDr JPEGs and resolution files first (collective; skips work already done). */
    if (rv_source_present(&rc, RV_SRC_VINDR)) {
        if (rv_vindr_prepare(&rc, "train", err) != 0 || rv_vindr_prepare(&rc, "test", err) != 0) goto out;
    }
    bool dok = ctx->comm->rank != 0 || rv_mkdir_p(dir, err) == 0;
    if (!rv_comm_all_ok(ctx->comm, dok)) {
        if (dok) rv_fail(err, "instruct: rank 0 could not create %s", dir);
        goto out;
    }

    /* Readers fail identically on every rank (same files), so no rank waits alone; their bad
     * records are the same on every rank, so they are logged and counted once. */
    ctx->bad.replicated = true;
    if (rv_build_train(&rc, &o, &src, &train, err) != 0) goto out;
    path = rv_path_join(dir, "train.json");
    if (write_cells(ctx->comm, &train, tpl, o.seed, path, err) != 0) goto out;
    rv_info0("instruct: %s: %zu cells in %zu blocks", path, train.ncells, train.nblocks);
    rv_info0("  %-32s %-28s %-40s %9s", "block", "task", "source datasets", "cells");
    log_blocks(&train);
    total += train.ncells;
    size_t dropped = train.dropped;

    if (rv_cfg_bool(cfg, "instruct.tests")) {
        rv_info0("instruct: test sets (upstream RadVLM `test` splits, data.md §10)");
        for (int t = 0; t < RV_TASK_COUNT; t++) {
            rv_cellset ts = {0};
            if (rv_build_test(&rc, &o, (rv_task)t, &src, &ts, err) != 0) goto out;
            char *name = rv_xasprintf("test_%s.json", rv_task_name((rv_task)t));
            free(path);
            path = rv_path_join(dir, name);
            free(name);
            int wrc = write_cells(ctx->comm, &ts, tpl, o.seed, path, err);
            if (wrc == 0) log_blocks(&ts);
            total += ts.ncells;
            dropped += ts.dropped;
            rv_cellset_free(&ts);
            if (wrc != 0) goto out;
        }
    }
    double dt = rv_now() - t0;
    rv_info0("instruct: %zu cells written to %s in %.2f s (%.0f records/s); %zu samples dropped", total, dir, dt,
             dt > 0 ? (double)total / dt : 0.0, dropped);
    ret = 0;
out:
    ctx->bad.replicated = false;
    rv_cellset_free(&train);
    rv_sources_free(&src);
    rv_templates_free(tpl);
    free(dir);
    free(path);
    return ret;
}
