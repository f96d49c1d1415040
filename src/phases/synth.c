/* Phase `synth`: writes the phantom demo datasets under DATA_DIR in the layouts of the seven
 * real sources (reference/data.md §0.1, §1-§7). Images and per-item files are written by the
 * rank that owns the item (rv_comm_slice over each source's items); table rows are gathered
 * to rank 0 in rank order, which is item order, so the tree is byte-identical for any rank
 * count. Every item is a pure function of (run.seed, source, index). Then rank 0 trains the
 * demo tokenizer (DATA_DIR/tokenizer.json) on the instruction training set built from it. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/instruct/blocks.h"
#include "data/synth/synth.h"
#include "data/instruct/templates.h"
#include "phases/build_setup.h"
#include "phases/phase.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

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

/* The demo tokenizer's special tokens (ids 0..3): Qwen2's end of text and chat markers, and
 * the image placeholder that the pack phase turns into LLaVA's -200. */
static const char *const demo_specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"};
#define N_DEMO_SPECIALS (sizeof demo_specials / sizeof demo_specials[0])

/* Appends the pieces of text between special tokens, as the encoder will see them (the
 * trainer, like HF's, does not split specials out itself). */
static void add_segments(const char *s, size_t len, rv_sb *all, size_t **off, size_t *n, size_t *cap) {
    const char *end = s + len;
    while (s < end) {
        const char *next = end;
        size_t skip = 0;
        for (size_t k = 0; k < N_DEMO_SPECIALS; k++) {
            const char *q = strstr(s, demo_specials[k]);
            if (q && q < next) { next = q; skip = strlen(demo_specials[k]); }
        }
        if (next > s) {
            if (*n + 2 > *cap) {
                *cap = *cap ? 2 * *cap : 4096;
                *off = rv_xrealloc(*off, *cap * sizeof **off);
            }
            if (*n == 0) (*off)[(*n)++] = 0;
            rv_sb_append(all, s, (size_t)(next - s));
            (*off)[(*n)++] = all->len;
        }
        s = next + skip;
    }
}

/* Rank 0: builds the instruction training cells from the freshly written tree, renders each
 * conversation with the qwen_1_5 chat template (so the role words and the system message are
 * in the corpus as the model will see them) and trains a byte-level BPE of `vocab` ids. */
static int train_demo_tokenizer(rv_phase_ctx *ctx, size_t vocab, rv_err *err) {
    const rv_config *cfg = ctx->cfg;
    rv_reader_ctx rc;
    rv_build_opts o;
    if (rv_build_setup(ctx, &rc, &o, err) != 0) return -1;
    /* Collective: the VinDr JPEGs the builder reads (later phases find them done). */
    if (rv_source_present(&rc, RV_SRC_VINDR) &&
        (rv_vindr_prepare(&rc, "train", err) != 0 || rv_vindr_prepare(&rc, "test", err) != 0))
        return -1;
    bool ok = true;
    rv_err local = {{0}};
    if (ctx->comm->rank == 0) {
        double t0 = rv_now();
        rv_templates *tpl = NULL;
        rv_sources src = {0};
        rv_cellset train = {0};
        rv_sb all, chat;
        rv_sb_init(&all);
        rv_sb_init(&chat);
        size_t *off = NULL, nseg = 0, cap = 0;
        rv_chat_msg *msgs = NULL;
        size_t mcap = 0;
        ok = rv_templates_load(rv_cfg_str(cfg, "data.templates"), &tpl, &local) == 0 &&
             rv_build_train(&rc, &o, &src, &train, &local) == 0;
        for (size_t i = 0; ok && i < train.ncells; i++) {
            cJSON *cell = rv_render_cell(&train, i, tpl, o.seed, &local);
            if (!cell) continue; /* a sample the builder should have dropped: not text we need */
            const cJSON *conv = cJSON_GetObjectItemCaseSensitive(cell, "conversations"), *t;
            size_t nm = 0;
            cJSON_ArrayForEach(t, conv) {
                const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "from"), *v = cJSON_GetObjectItemCaseSensitive(t, "value");
                if (!cJSON_IsString(f) || !cJSON_IsString(v)) continue;
                if (nm == mcap) {
                    mcap = mcap ? 2 * mcap : 16;
                    msgs = rv_xrealloc(msgs, mcap * sizeof *msgs);
                }
                msgs[nm++] = (rv_chat_msg){f->valuestring, v->valuestring};
            }
            rv_sb_clear(&chat);
            rv_chat_render_qwen(msgs, nm, NULL, false, &chat);
            add_segments(chat.s, chat.len, &all, &off, &nseg, &cap);
            cJSON_Delete(cell);
        }
        size_t ntexts = nseg ? nseg - 1 : 0;
        if (ok && ntexts == 0) {
            rv_fail(&local, "the demo data gave no instruction text to train the tokenizer on");
            ok = false;
        }
        char *path = rv_path_join(ctx->data_dir, "tokenizer.json");
        if (ok) {
            const char **texts = rv_xmalloc(ntexts * sizeof *texts);
            size_t *lens = rv_xmalloc(ntexts * sizeof *lens);
            for (size_t k = 0; k < ntexts; k++) {
                texts[k] = all.s + off[k];
                lens[k] = off[k + 1] - off[k];
            }
            ok = rv_bpe_train(texts, lens, ntexts, vocab, demo_specials, N_DEMO_SPECIALS, path, &local) == 0;
            free(texts);
            free(lens);
        }
        rv_tokenizer *check = NULL;
        if (ok) ok = rv_tokenizer_load(path, &check, &local) == 0; /* what pack will load */
        if (ok) {
            size_t got = rv_tokenizer_n_ids(check);
            rv_info0("synth: demo tokenizer %s: %zu ids (synth.tokenizer_vocab = %zu%s), specials <|endoftext|> "
                     "<|im_start|> <|im_end|> <image>, trained on %zu cells (%zu text pieces, %.1f MB) in %.1f s",
                     path, got, vocab, got < vocab ? "; fewer because every word of the corpus is already one token" : "",
                     train.ncells, ntexts, all.len / 1e6, rv_now() - t0);
            rv_tokenizer_free(check);
        }
        free(path);
        free(msgs);
        free(off);
        rv_sb_free(&all);
        rv_sb_free(&chat);
        rv_cellset_free(&train);
        rv_sources_free(&src);
        if (tpl) rv_templates_free(tpl);
    }
    if (!rv_comm_all_ok(ctx->comm, ok)) {
        if (!ok) return rv_fail(err, "synth: demo tokenizer: %s", local.msg);
        return rv_fail(err, "synth: rank 0 could not train the demo tokenizer (see its message above)");
    }
    return 0;
}

int rv_phase_synth(rv_phase_ctx *ctx, rv_err *err) {
    if (!ctx->data_dir || !ctx->data_dir[0])
        return rv_fail(err, "synth: no output directory; set data.dir (--set data.dir=PATH) or DATA_DIR");
    long long n = rv_cfg_int(ctx->cfg, "synth.images_per_source");
    if (n < 8 || n > 10000000)
        return rv_fail(err, "synth.images_per_source = %lld is out of range; use 8 .. 10000000 (default 200)", n);
    long long vocab = rv_cfg_int(ctx->cfg, "synth.tokenizer_vocab");
    if (vocab != 0 && (vocab < 260 || vocab > 1000000))
        return rv_fail(err, "synth.tokenizer_vocab = %lld is out of range; use 260 .. 1000000 (the 4 special and 256 "
                            "byte tokens count), or 0 for no demo tokenizer (default 2048)", vocab);
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
             (unsigned long long)s.seed, ctx->comm->size);
    rv_progress *prog = rv_progress_start("synth", total, rv_cfg_num(ctx->cfg, "log.progress_interval_s"));
    double t0 = rv_now();
    int rc = rv_mkdir_p(s.data_dir, err);
    uint64_t done = 0;
    for (int k = 0; k < nsrc && rc == 0; k++) {
        size_t b, e;
        rv_comm_slice(ctx->comm, src[k].units, &b, &e);
        for (size_t i = b; i < e && rc == 0; i++) { /* one at a time for progress */
            rc = src[k].fn(&s, i, i + 1, err);
            done += (uint64_t)ctx->comm->size;
            rv_progress_update(prog, done < total ? done : total);
        }
    }
    rv_progress_finish(prog);
    if (!rv_comm_all_ok(ctx->comm, rc == 0)) {
        for (int t = 0; t < SYN_NTABLES; t++) rv_sb_free(&s.tab[t]);
        if (rc == 0) rv_fail(err, "synth: another rank failed (see its message above)");
        return -1;
    }
    /* tables: gather rows in rank order, rank 0 writes */
    for (int t = 0; t < SYN_NTABLES; t++) {
        char *all = NULL;
        size_t len = 0;
        rv_comm_gather_bytes(ctx->comm, s.tab[t].s ? s.tab[t].s : "", s.tab[t].len, 0, &all, &len);
        if (rc == 0 && ctx->comm->rank == 0) rc = write_table(&s, (syn_table)t, all ? all : "", len, err);
        free(all);
        rv_sb_free(&s.tab[t]);
    }
    uint64_t images = rv_comm_sum_u64(ctx->comm, s.images);
    rv_comm_barrier(ctx->comm); /* the phase ends with every file in place */
    if (!rv_comm_all_ok(ctx->comm, rc == 0)) {
        if (rc == 0) rv_fail(err, "synth: rank 0 could not write the tables (see its message above)");
        return -1;
    }
    rv_info0("synth: wrote %llu images and their tables in %.1f s", (unsigned long long)images, rv_now() - t0);
    if (vocab > 0 && train_demo_tokenizer(ctx, (size_t)vocab, err) != 0) return -1;
    return 0;
}
