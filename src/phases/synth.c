/* Phase `synth`: writes the phantom demo datasets under DATA_DIR in the layouts of the seven
 * real sources (reference/data.md §0.1, §1-§7). Images and per-item files are written by the
 * rank that owns the item (rv_world_slice over each source's items); table rows are gathered
 * to rank 0 in rank order, which is item order, so the tree is byte-identical for any rank
 * count. Every item is a pure function of (run.seed, source, index). */
#include <stdlib.h>
#include <string.h>

#include "comm/world.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/synth.h"
#include "phases/phase.h"

typedef int (*syn_items_fn)(syn_ctx *, size_t, size_t, rv_err *);

/* Writes one gathered table on rank 0 (header + rows, or the JSON wrapper). */
static int write_table(const syn_ctx *s, syn_table t, const char *rows, size_t len, rv_err *err) {
    rv_sb b;
    rv_sb_init(&b);
    if (t == SYN_T_MIMIC_GENDERS) { /* compact json.dump of {dicom_id: "F"|"M"} */
        rv_sb_putc(&b, '{');
        if (len >= 2) rv_sb_append(&b, rows + 2, len - 2);
        rv_sb_putc(&b, '}');
    } else if (t == SYN_T_PAD_GROUNDED) { /* json.dump(list, indent=4) */
        if (len >= 2) {
            rv_sb_puts(&b, "[\n");
            rv_sb_append(&b, rows + 2, len - 2);
            rv_sb_puts(&b, "\n]");
        } else {
            rv_sb_puts(&b, "[]");
        }
    } else {
        rv_sb_puts(&b, syn_table_header(t));
        rv_sb_append(&b, rows, len);
    }
    int rc = syn_write_text(s, syn_table_path(t), b.s ? b.s : "", b.len, err);
    rv_sb_free(&b);
    return rc;
}

int rv_phase_synth(rv_phase_ctx *ctx, rv_err *err) {
    if (!ctx->data_dir || !ctx->data_dir[0])
        return rv_fail(err, "synth: no output directory; set data.dir (--set data.dir=PATH) or DATA_DIR");
    long long n = rv_cfg_int(ctx->cfg, "synth.images_per_source");
    if (n < 8 || n > 10000000)
        return rv_fail(err, "synth.images_per_source = %lld is out of range; use 8 .. 10000000 (default 200)", n);
    syn_ctx s;
    memset(&s, 0, sizeof s);
    s.data_dir = ctx->data_dir;
    s.seed = (uint64_t)rv_cfg_int(ctx->cfg, "run.seed");
    s.n = (int)n;
    for (int t = 0; t < SYN_NTABLES; t++) rv_sb_init(&s.tab[t]);

    struct { const char *name; size_t units; syn_items_fn fn; } src[] = {
        {"MIMIC-CXR (+ MS-CXR, Chest ImaGenome)", syn_mimic_units(s.n), syn_mimic_items},
        {"CheXpert (+ CheXpert-Plus)", syn_chexpert_units(s.n), syn_chexpert_items},
        {"VinDr-CXR", (size_t)s.n, syn_vindr_items},
        {"PadChest-GR", (size_t)s.n, syn_padchest_items},
    };
    const int nsrc = (int)(sizeof src / sizeof src[0]);
    uint64_t total = 0;
    for (int k = 0; k < nsrc; k++) total += src[k].units;
    rv_info0("synth: writing phantom datasets to %s (%lld images per source, seed %llu, %d rank(s))", s.data_dir, n,
             (unsigned long long)s.seed, rv_nranks());
    rv_progress *prog = rv_progress_start("synth", total, rv_cfg_num(ctx->cfg, "log.progress_interval_s"));
    double t0 = rv_now();
    int rc = rv_mkdir_p(s.data_dir, err);
    uint64_t done = 0;
    for (int k = 0; k < nsrc && rc == 0; k++) {
        size_t b, e;
        rv_world_slice(src[k].units, &b, &e);
        for (size_t i = b; i < e && rc == 0; i++) { /* one at a time for progress */
            rc = src[k].fn(&s, i, i + 1, err);
            done += (uint64_t)rv_nranks();
            rv_progress_update(prog, done < total ? done : total);
        }
    }
    rv_progress_finish(prog);
    if (!rv_world_all_ok(rc == 0)) {
        for (int t = 0; t < SYN_NTABLES; t++) rv_sb_free(&s.tab[t]);
        if (rc == 0) rv_fail(err, "synth: another rank failed (see its message above)");
        return -1;
    }
    /* tables: gather rows in rank order, rank 0 writes */
    for (int t = 0; t < SYN_NTABLES; t++) {
        char *all = NULL;
        size_t len = 0;
        if (rv_world_gather_bytes(s.tab[t].s ? s.tab[t].s : "", s.tab[t].len, 0, &all, &len) != 0 && rc == 0)
            rc = rv_fail(err, "synth: gathering table %s failed", syn_table_path((syn_table)t));
        if (rc == 0 && rv_rank() == 0) rc = write_table(&s, (syn_table)t, all ? all : "", len, err);
        free(all);
        rv_sb_free(&s.tab[t]);
    }
    uint64_t images = rv_world_sum_u64(s.images);
    rv_world_barrier(); /* the phase ends with every file in place */
    if (!rv_world_all_ok(rc == 0)) {
        if (rc == 0) rv_fail(err, "synth: rank 0 could not write the tables (see its message above)");
        return -1;
    }
    rv_info0("synth: wrote %llu images and their tables in %.1f s", (unsigned long long)images, rv_now() - t0);
    return 0;
}
