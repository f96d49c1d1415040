/* Phases `import` (Hugging Face safetensors + config.json + tokenizer.json -> native HDF5
 * checkpoint) and `export` (native checkpoint -> Hugging Face directory that transformers loads).
 * Names follow the llava-hf layout (reference/model.md §9.1); the other spellings of §9.2 are
 * accepted on import. Values go through fp32, which holds F16 and BF16 exactly, so exporting in
 * the imported dtype reproduces the original bits. Only rank 0 works; other ranks return. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "model/config.h"
#include "model/weights.h"
#include "phases/phase.h"

/* Small files of an HF model directory that are carried through a checkpoint unchanged. */
static const char *const side_files[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "generation_config.json", "preprocessor_config.json", "processor_config.json",
    "chat_template.json", "chat_template.jinja",
};
#define N_SIDE (sizeof side_files / sizeof side_files[0])

/* Which config.json keys decide a tensor's shape, for mismatch messages. */
static const char *shape_keys(const char *name) {
    bool lm = strstr(name, "language_model") != NULL, vis = strstr(name, "vision_tower") != NULL;
    if (strstr(name, "embed_tokens") || strstr(name, "lm_head")) return "text_config.vocab_size, text_config.hidden_size";
    if (lm && strstr(name, "self_attn"))
        return "text_config.hidden_size, num_attention_heads, num_key_value_heads (head_dim)";
    if (lm && strstr(name, "mlp.")) return "text_config.intermediate_size, text_config.hidden_size";
    if (lm) return "text_config.hidden_size";
    if (vis && strstr(name, "position_embedding")) return "vision_config.image_size, patch_size, hidden_size";
    if (vis && strstr(name, "patch_embedding")) return "vision_config.patch_size, num_channels, hidden_size";
    if (vis && strstr(name, "mlp.")) return "vision_config.intermediate_size, hidden_size";
    if (vis) return "vision_config.hidden_size";
    if (strstr(name, "projector")) return "vision_config.hidden_size, text_config.hidden_size";
    return "text_config.hidden_size";
}

static void shape_str_w(const rv_wtensor *t, char *buf, size_t cap) {
    uint64_t s[RV_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) s[i] = (uint64_t)t->shape[i];
    rv_st_shape_str(s, t->ndim, buf, cap);
}

/* Fills the table from the safetensors set: every file tensor must map to a table tensor with
 * the same shape, every table tensor must be present. *dtype_out: the common dtype or "mixed". */
static int load_tensors(const rv_st_set *s, rv_weights *w, const rv_model_cfg *mc, const char *cfg_path,
                        const char **dtype_out, rv_err *err) {
    const char **from = rv_xcalloc(w->n ? w->n : 1, sizeof *from);
    int rc = 0, dtype = -1;
    size_t dropped = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        const rv_st_tensor *st = s->t[i];
        const char *src = s->files[st->file].path;
        char canon[512];
        int m = rv_weights_canonical_name(st->name, canon, sizeof canon);
        if (m < 0) { dropped++; continue; }
        int h = rv_weights_find(w, canon);
        if (h < 0) {
            if (strstr(canon, "lm_head") && mc->text.tie_embeddings)
                rc = rv_fail(err, "%s: tensor '%s' is present, but %s says tie_word_embeddings=true (no separate "
                             "lm_head); the config does not match the weights", src, st->name, cfg_path);
            else
                rc = rv_fail(err, "%s: tensor '%s'%s%s%s is not part of the model that %s describes (check %s, or "
                             "whether the config belongs to these weights)", src, st->name, m ? " (read as '" : "",
                             m ? canon : "", m ? "')" : "", cfg_path, strstr(canon, "layers.") ? "num_hidden_layers" :
                             "the architecture");
            break;
        }
        const rv_wtensor *t = &w->t[h];
        if (from[h]) {
            rc = rv_fail(err, "%s: tensors '%s' and '%s' are two spellings of '%s'; keep only one", s->source, from[h],
                         st->name, canon);
            break;
        }
        from[h] = st->name;
        if (st->dtype == RV_ST_OTHER) {
            rc = rv_fail(err, "%s: tensor '%s' has dtype %s; model weights must be F32, F16 or BF16", src, st->name,
                         st->dtype_name);
            break;
        }
        bool same = st->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = st->shape[d] == (uint64_t)t->shape[d];
        if (!same) {
            char got[128], want[128];
            rv_st_shape_str(st->shape, st->ndim, got, sizeof got);
            shape_str_w(t, want, sizeof want);
            rc = rv_fail(err, "%s: tensor '%s' has shape %s, but %s implies %s (keys %s); the config does not match "
                         "the weights", src, st->name, got, cfg_path, want, shape_keys(canon));
            break;
        }
        dtype = dtype < 0 ? (int)st->dtype : dtype == (int)st->dtype ? dtype : 99;
        float *host = rv_xmalloc(t->numel * sizeof(float));
        rc = rv_st_read_f32(&s->files[st->file], st, host, err);
        if (!rc) rc = rv_weights_upload_tensor(w, (size_t)h, host, err);
        free(host);
    }
    for (size_t h = 0; h < w->n && !rc; h++) {
        if (from[h]) continue;
        const char *name = w->t[h].name;
        if (strstr(name, "lm_head"))
            rc = rv_fail(err, "%s: tensor '%s' (or 'lm_head.weight') is missing, and %s says tie_word_embeddings=false; "
                         "the config does not match the weights", s->source, name, cfg_path);
        else
            rc = rv_fail(err, "%s: tensor '%s' is missing (also looked for its other spellings, reference model.md "
                         "§9.2); the download is incomplete or %s describes another model", s->source, name, cfg_path);
    }
    if (dropped) rv_info("import: ignored %zu rotary inv_freq buffer(s) (recomputed from rope_theta)", dropped);
    free(from);
    *dtype_out = dtype == 99 ? "mixed" : dtype < 0 ? "F32" : rv_st_dtype_name((rv_st_dtype)dtype);
    return rc;
}

int rv_phase_import(rv_phase_ctx *ctx, rv_err *err) {
    if (ctx->comm->rank != 0) return 0;
    const rv_config *cfg = ctx->cfg;
    const char *from = rv_cfg_str(cfg, "import.from");
    if (!from[0]) return rv_fail(err, "import: import.from is empty; use --set import.from=HF_DIR (a Hugging Face model directory)");
    if (!rv_exists(from)) return rv_fail(err, "import: import.from=%s does not exist", from);
    char *dir = rv_is_dir(from) ? rv_xstrdup(from) : rv_path_dirname(from);
    const char *c_cfg = rv_cfg_str(cfg, "import.config"), *c_tok = rv_cfg_str(cfg, "import.tokenizer");
    const char *c_out = rv_cfg_str(cfg, "import.out");
    char *cfg_path = c_cfg[0] ? rv_xstrdup(c_cfg) : rv_path_join(dir, "config.json");
    char *out = c_out[0] ? rv_xstrdup(c_out) : rv_ckpt_path(ctx->run_dir, 0);
    char *cfg_text = NULL, *run_cfg = NULL, *latest = NULL;
    rv_ckpt_file files[N_SIDE];
    size_t nfiles = 0;
    rv_model_cfg mc;
    rv_weights w = {0};
    rv_st_set set = {0};
    bool set_open = false;
    int rc = 0;

    if (!rv_is_file(cfg_path))
        rc = rv_fail(err, "import: %s is missing; an HF model directory holds config.json next to the weights (or set "
                     "import.config)", cfg_path);
    if (!rc && !c_out[0]) {
        int l = rv_ckpt_latest(ctx->run_dir, &latest, err);
        if (l < 0) rc = -1;
        else if (l == 1 && strcmp(latest, out) != 0)
            rc = rv_fail(err, "import: run %s already holds checkpoint %s; import into a new --run directory", ctx->run_dir,
                         latest);
    }
    if (!rc) rc = rv_read_file(cfg_path, &cfg_text, NULL, err);
    if (!rc) rc = rv_model_cfg_from_hf_text(cfg_path, cfg_text, strlen(cfg_text), &mc, err);
    if (!rc) rc = rv_st_set_open(&set, from, err);
    set_open = rc == 0;
    if (!rc) rc = rv_weights_build(&w, &mc, err);
    const char *dtype = "F32";
    if (!rc) rc = load_tensors(&set, &w, &mc, cfg_path, &dtype, err);
    /* side files */
    for (size_t i = 0; i < N_SIDE && !rc; i++) {
        char *p = (i == 0 && c_tok[0]) ? rv_xstrdup(c_tok) : rv_path_join(dir, side_files[i]);
        if (rv_is_file(p)) {
            char *data;
            size_t len;
            rc = rv_read_file(p, &data, &len, err);
            if (!rc) files[nfiles++] = (rv_ckpt_file){side_files[i], data, len};
        } else if (i == 0) {
            if (c_tok[0]) rc = rv_fail(err, "import: import.tokenizer=%s does not exist", c_tok);
            else rv_warn("import: %s has no tokenizer.json; the checkpoint will carry none (set import.tokenizer)", dir);
        }
        free(p);
    }
    if (!rc) {
        char *ckdir = rv_path_dirname(out);
        rc = rv_mkdir_p(ckdir, err);
        free(ckdir);
    }
    if (!rc) {
        run_cfg = rv_config_to_json(cfg);
        char *abs = rv_path_abs(from);
        rv_ckpt_data d = {.w = &w, .step = 0, .run_config_json = run_cfg, .model_config_json = cfg_text,
                          .source_dtype = dtype, .source = abs, .files = files, .nfiles = nfiles};
        rc = rv_ckpt_write(out, &d, err);
        free(abs);
    }
    /* the run's tokenizer.json is where pack and training look for it */
    if (!rc && nfiles && strcmp(files[0].name, "tokenizer.json") == 0) {
        char *tp = rv_path_join(ctx->run_dir, "tokenizer.json");
        rc = rv_write_atomic(tp, files[0].data, files[0].len, err);
        free(tp);
    }
    if (!rc) {
        size_t params = 0;
        for (size_t i = 0; i < w.n; i++) params += w.t[i].numel;
        rv_info("import: %zu tensors, %zu parameters (%s, %zu file(s)) from %s -> %s", w.n, params, dtype, set.nfiles,
                from, out);
    }
    for (size_t i = 0; i < nfiles; i++) free((void *)files[i].data);
    if (set_open) rv_st_set_close(&set);
    rv_weights_free(&w);
    free(run_cfg);
    free(latest);
    free(cfg_text);
    free(cfg_path);
    free(out);
    free(dir);
    return rc;
}

/* config.json with torch_dtype (and dtype, when the file uses the newer key) set to what the
 * tensors are stored as, everywhere it appears. */
static int export_config(const char *model_cfg, const char *path, rv_st_dtype dt, rv_err *err) {
    cJSON *root = rv_json_parse("checkpoint model config", model_cfg, strlen(model_cfg), err);
    if (!root) return -1;
    const char *tn = dt == RV_ST_F16 ? "float16" : dt == RV_ST_BF16 ? "bfloat16" : "float32";
    cJSON *objs[3] = {root, cJSON_GetObjectItemCaseSensitive(root, "text_config"),
                      cJSON_GetObjectItemCaseSensitive(root, "vision_config")};
    for (int i = 0; i < 3; i++) {
        if (!cJSON_IsObject(objs[i])) continue;
        if (cJSON_HasObjectItem(objs[i], "torch_dtype"))
            cJSON_ReplaceItemInObjectCaseSensitive(objs[i], "torch_dtype", cJSON_CreateString(tn));
        else if (i == 0)
            cJSON_AddItemToObject(objs[i], "torch_dtype", cJSON_CreateString(tn));
        if (cJSON_HasObjectItem(objs[i], "dtype"))
            cJSON_ReplaceItemInObjectCaseSensitive(objs[i], "dtype", cJSON_CreateString(tn));
    }
    rv_sb sb;
    rv_sb_init(&sb);
    rv_pyjson_dump(&sb, root, 2, false);
    rv_sb_putc(&sb, '\n');
    cJSON_Delete(root);
    int rc = rv_write_atomic(path, sb.s, sb.len, err);
    rv_sb_free(&sb);
    return rc;
}

/* transformers' convert_file_size_to_int: "5GB" = 5*10^9, "2GiB" = 2*2^30, plain digits = bytes. */
static int parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0) || v > 1e18) return -1;
    static const struct { const char *u; double m; } units[] = {
        {"", 1}, {"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
        {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].u) == 0) { *out = (uint64_t)(v * units[i].m); return 0; }
    return -1;
}

int rv_phase_export(rv_phase_ctx *ctx, rv_err *err) {
    if (ctx->comm->rank != 0) return 0;
    const rv_config *cfg = ctx->cfg;
    const char *to = rv_cfg_str(cfg, "export.to"), *which = rv_cfg_str(cfg, "export.checkpoint");
    const char *dts = rv_cfg_str(cfg, "export.dtype");
    const char *shard_s = rv_cfg_str(cfg, "export.max_shard_size");
    uint64_t max_shard;
    if (!to[0]) return rv_fail(err, "export: export.to is empty; use --set export.to=HF_DIR (a directory to write)");
    if (parse_size(shard_s, &max_shard))
        return rv_fail(err, "export: export.max_shard_size='%s' is not a size such as 5GB, 500MB, 2GiB or 0", shard_s);
    char *path = NULL;
    if (which[0]) path = rv_xstrdup(which);
    else {
        int l = rv_ckpt_latest(ctx->run_dir, &path, err);
        if (l < 0) return -1;
        if (l == 0)
            return rv_fail(err, "export: %s/checkpoints holds no checkpoint; run --phase import or train first, or set "
                           "export.checkpoint", ctx->run_dir);
    }
    rv_ckpt *ck = NULL;
    rv_model_cfg mc;
    rv_weights w = {0};
    rv_st_out *outs = NULL;
    float *host = NULL;
    char **names = NULL;
    size_t nnames = 0;
    int rc = rv_ckpt_open(&ck, path, err);
    const char *mcfg = rc ? "" : rv_ckpt_model_config(ck);
    if (!rc) rc = rv_model_cfg_from_hf_text(path, mcfg, strlen(mcfg), &mc, err);
    if (!rc) rc = rv_weights_build(&w, &mc, err);
    if (!rc) rc = rv_ckpt_load_weights(ck, &w, err);
    rv_st_dtype dt = RV_ST_F32;
    if (!rc) {
        const char *src = rv_ckpt_source_dtype(ck);
        if (strcmp(dts, "auto") == 0) {
            if (rv_st_dtype_parse(src, &dt) != 0) dt = RV_ST_F32;
        } else {
            rv_st_dtype_parse(dts, &dt);
        }
        outs = rv_xcalloc(w.n ? w.n : 1, sizeof *outs);
        host = rv_xmalloc((w.total ? w.total : 1) * sizeof(float)); /* the whole model staged on the host */
        for (size_t i = 0; i < w.n && !rc; i++) {
            const rv_wtensor *t = &w.t[i];
            rc = rv_weights_download_tensor(&w, i, host + t->offset, err);
            outs[i] = (rv_st_out){.name = t->name, .dtype = dt, .ndim = t->ndim, .data = host + t->offset,
                                  .src_dtype = RV_ST_F32};
            for (int d = 0; d < t->ndim; d++) outs[i].shape[d] = (uint64_t)t->shape[d];
        }
        int ns = 0;
        if (!rc) rc = rv_st_write_dir(to, outs, w.n, max_shard, &ns, err);
        if (!rc) {
            char *p = rv_path_join(to, "config.json");
            rc = export_config(mcfg, p, dt, err);
            free(p);
        }
        if (!rc) rc = rv_ckpt_list_files(ck, &names, &nnames, err);
        bool tok = false;
        for (size_t i = 0; i < nnames && !rc; i++) {
            char *data;
            size_t len;
            if (rv_ckpt_load_file(ck, names[i], &data, &len, err) != 1) { rc = -1; break; }
            char *p = rv_path_join(to, names[i]);
            rc = rv_write_atomic(p, data, len, err);
            tok = tok || strcmp(names[i], "tokenizer.json") == 0;
            free(p);
            free(data);
        }
        if (!rc && !tok) rv_warn("export: %s carries no tokenizer.json; copy one into %s before serving", path, to);
        if (!rc)
            rv_info("export: %zu tensors (%s, %d file(s)) from %s -> %s", w.n, rv_st_dtype_name(dt), ns, path, to);
    }
    rv_free_strv(names, nnames);
    free(outs);
    free(host);
    rv_weights_free(&w);
    rv_ckpt_close(ck);
    free(path);
    return rc;
}
