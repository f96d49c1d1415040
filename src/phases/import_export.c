/* Phases `import` (Hugging Face safetensors + config.json + tokenizer.json -> native HDF5
 * checkpoint) and `export` (native checkpoint -> Hugging Face directory that transformers loads).
 * The HF side is model/hf.h; these phases only connect it to the run's checkpoints and the
 * configuration keys. Only rank 0 works; other ranks return. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/hf.h"
#include "model/weights.h"
#include "phases/phase.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"

/* The tokenizer.json that import copies into the checkpoint and the run is what pack, training and
 * export use later: refuse one that is not JSON, or not a Hugging Face tokenizers document (an
 * object with a "model" object), naming the file, rather than leave a checkpoint that carries
 * garbage. This project's own tokenizer only loads Qwen2-style byte-level BPE files; other valid
 * tokenizers (a test fixture's plain ByteLevel one, a Vicuna one) import fine and export
 * unchanged, so a file that does not load here is a warning, not an error. */
static int check_tokenizer(const char *path, const char *text, size_t len, rv_err *err) {
    cJSON *doc = rv_json_parse(path, text, len, err);
    if (!doc)
        return rv_fail_wrap(err, "import: %s is not valid JSON, so it is not a tokenizer.json; replace it with the "
                            "model's tokenizer.json (or set import.tokenizer=PATH)", path);
    bool obj = cJSON_IsObject(doc), model = obj && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "model"));
    cJSON_Delete(doc);
    if (!obj || !model)
        return rv_fail(err, "import: %s is %s, so it is not a Hugging Face tokenizer.json; replace it with the "
                       "model's tokenizer.json (or set import.tokenizer=PATH)", path,
                       obj ? "a JSON object without a \"model\" object" : "JSON but not an object");
    rv_tokenizer *tok = NULL;
    rv_err why = {{0}};
    if (rv_tokenizer_load_json(path, text, len, &tok, &why) != 0)
        rv_warn("import: %s is carried as is, but this build's tokenizer cannot load it, so pack and training "
                "with it will fail: %s", path, why.msg);
    else
        rv_tokenizer_free(tok);
    return 0;
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
    char *run_cfg = NULL, *latest = NULL;
    rv_hf_file *hfiles = NULL;
    rv_ckpt_file files[RV_HF_N_SIDE_FILES];
    size_t nfiles = 0;
    rv_model_cfg mc;
    rv_weights w = {0};
    rv_hf_info info = {0};
    bool loaded = false;
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
    rv_kctx *k = NULL; /* the weights live on the compute backend; import stages through the host */
    if (!rc) rc = rvk_create(&k, rv_cfg_str(ctx->cfg, "compute.backend"), NULL, err);
    if (!rc) rc = rv_hf_load(from, cfg_path, k, &mc, &w, &info, err);
    loaded = rc == 0;
    if (loaded && info.dropped)
        rv_info("import: ignored %zu rotary inv_freq buffer(s) (recomputed from rope_theta)", info.dropped);
    if (!rc && c_tok[0] && !rv_is_file(c_tok)) rc = rv_fail(err, "import: import.tokenizer=%s does not exist", c_tok);
    if (!rc) rc = rv_hf_read_side_files(dir, c_tok, &hfiles, &nfiles, err);
    for (size_t i = 0; i < nfiles; i++) files[i] = (rv_ckpt_file){hfiles[i].name, hfiles[i].data, hfiles[i].len};
    if (!rc && nfiles && strcmp(files[0].name, "tokenizer.json") == 0) {
        char *tp = c_tok[0] ? rv_xstrdup(c_tok) : rv_path_join(dir, "tokenizer.json");
        rc = check_tokenizer(tp, files[0].data, files[0].len, err);
        free(tp);
    }
    if (!rc && (nfiles == 0 || strcmp(files[0].name, "tokenizer.json") != 0))
        rv_warn("import: %s has no tokenizer.json; the checkpoint will carry none (set import.tokenizer)", dir);
    if (!rc) {
        char *ckdir = rv_path_dirname(out);
        rc = rv_mkdir_p(ckdir, err);
        free(ckdir);
    }
    if (!rc) {
        run_cfg = rv_config_to_json(cfg);
        char *abs = rv_path_abs(from);
        rv_ckpt_data d = {.w = &w, .step = 0, .run_config_json = run_cfg, .model_config_json = info.config_text,
                          .source_dtype = info.dtype, .source = abs, .files = files, .nfiles = nfiles};
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
        rv_info("import: %zu tensors, %zu parameters (%s, %zu file(s)) from %s -> %s", w.n, params, info.dtype,
                info.nfiles, from, out);
    }
    rv_hf_files_free(hfiles, nfiles);
    if (loaded) rv_weights_free(&w);
    rvk_destroy(k);
    rv_hf_info_free(&info);
    free(run_cfg);
    free(latest);
    free(cfg_path);
    free(out);
    free(dir);
    return rc;
}

int rv_phase_export(rv_phase_ctx *ctx, rv_err *err) {
    if (ctx->comm->rank != 0) return 0;
    const rv_config *cfg = ctx->cfg;
    const char *to = rv_cfg_str(cfg, "export.to"), *which = rv_cfg_str(cfg, "export.checkpoint");
    const char *dts = rv_cfg_str(cfg, "export.dtype");
    const char *shard_s = rv_cfg_str(cfg, "export.max_shard_size");
    uint64_t max_shard;
    if (!to[0]) return rv_fail(err, "export: export.to is empty; use --set export.to=HF_DIR (a directory to write)");
    if (rv_hf_parse_size(shard_s, &max_shard))
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
    char **names = NULL;
    size_t nnames = 0, nfiles = 0;
    rv_hf_file *files = NULL;
    int rc = rv_ckpt_open(&ck, path, err);
    const char *mcfg = rc ? "" : rv_ckpt_model_config(ck);
    if (!rc) rc = rv_model_cfg_from_hf_text(path, mcfg, strlen(mcfg), &mc, err);
    rv_kctx *k = NULL;
    if (!rc) rc = rvk_create(&k, rv_cfg_str(ctx->cfg, "compute.backend"), NULL, err);
    if (!rc) rc = rv_weights_build(&w, &mc, k, err);
    if (!rc) rc = rv_ckpt_load_weights(ck, &w, err);
    rv_st_dtype dt = RV_ST_F32;
    if (!rc) {
        const char *src = rv_ckpt_source_dtype(ck);
        if (strcmp(dts, "auto") == 0) {
            if (rv_st_dtype_parse(src, &dt) != 0) dt = RV_ST_F32;
        } else {
            rv_st_dtype_parse(dts, &dt);
        }
        rc = rv_ckpt_list_files(ck, &names, &nnames, err);
    }
    bool tok = false;
    if (!rc) files = rv_xcalloc(nnames ? nnames : 1, sizeof *files);
    for (size_t i = 0; i < nnames && !rc; i++) {
        if (rv_ckpt_load_file(ck, names[i], &files[i].data, &files[i].len, err) != 1) { rc = -1; break; }
        files[i].name = rv_xstrdup(names[i]);
        nfiles = i + 1;
        tok = tok || strcmp(names[i], "tokenizer.json") == 0;
    }
    int ns = 0;
    if (!rc) rc = rv_hf_save(to, &w, mcfg, dt, max_shard, files, nfiles, &ns, err);
    if (!rc && !tok) rv_warn("export: %s carries no tokenizer.json; copy one into %s before serving", path, to);
    if (!rc) rv_info("export: %zu tensors (%s, %d file(s)) from %s -> %s", w.n, rv_st_dtype_name(dt), ns, path, to);
    rv_hf_files_free(files, nfiles);
    rv_free_strv(names, nnames);
    rv_weights_free(&w);
    rvk_destroy(k);
    rv_ckpt_close(ck);
    free(path);
    return rc;
}
