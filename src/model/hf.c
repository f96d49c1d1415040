/* Hugging Face model directories: load into a weights table, save a table as one (model/hf.h). */
#define _GNU_SOURCE
#include "model/hf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/json.h"

const char *const rv_hf_side_files[RV_HF_N_SIDE_FILES] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "generation_config.json", "preprocessor_config.json", "processor_config.json",
    "chat_template.json", "chat_template.jinja",
};

/* ---- load ---- */

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

/* Matches the safetensors set to the table before any parameter memory is taken (w may be a
 * layout from rv_weights_layout): every file tensor must map to a table tensor with the same
 * shape and an F32/F16/BF16 dtype, every table tensor must be present under one spelling. So a
 * config.json that does not describe these weights (even `{}`, whose defaults describe a model of
 * tens of GiB) fails at once with a message, not after allocating the arena. slot[i] = the table
 * tensor of file tensor i, or -1 when it is dropped (rotary inv_freq). *dtype_out: the common
 * dtype or "mixed". */
static int match_tensors(const rv_st_set *s, const rv_weights *w, const rv_model_cfg *mc, const char *cfg_path,
                         long *slot, const char **dtype_out, size_t *dropped_out, rv_err *err) {
    const char **from = rv_xcalloc(w->n ? w->n : 1, sizeof *from);
    int rc = 0, dtype = -1;
    size_t dropped = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        const rv_st_tensor *st = s->t[i];
        const char *src = s->files[st->file].path;
        char canon[512];
        slot[i] = -1;
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
        slot[i] = h;
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
    *dropped_out = dropped;
    free(from);
    *dtype_out = dtype == 99 ? "mixed" : dtype < 0 ? "F32" : rv_st_dtype_name((rv_st_dtype)dtype);
    return rc;
}

/* Reads the matched file tensors into the allocated table, in file order. */
static int fill_tensors(const rv_st_set *s, rv_weights *w, const long *slot, rv_err *err) {
    int rc = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        if (slot[i] < 0) continue;
        const rv_st_tensor *st = s->t[i];
        float *host = rv_xmalloc(w->t[slot[i]].numel * sizeof(float));
        rc = rv_st_read_f32(&s->files[st->file], st, host, err);
        if (!rc) rc = rv_weights_upload_tensor(w, (size_t)slot[i], host, err);
        free(host);
    }
    return rc;
}

int rv_hf_load(const char *from, const char *config_path, rv_kctx *k, rv_model_cfg *cfg, rv_weights *w,
               rv_hf_info *info, rv_err *err) {
    memset(info, 0, sizeof *info);
    memset(w, 0, sizeof *w);
    if (!from[0]) return rv_fail(err, "hf: no model path given (a Hugging Face model directory)");
    if (!rv_exists(from)) return rv_fail(err, "%s does not exist", from);
    char *dir = rv_is_dir(from) ? rv_xstrdup(from) : rv_path_dirname(from);
    info->config_path = config_path && config_path[0] ? rv_xstrdup(config_path) : rv_path_join(dir, "config.json");
    free(dir);
    rv_st_set set = {0};
    bool set_open = false, laid_out = false;
    long *slot = NULL;
    int rc = 0;
    if (!rv_is_file(info->config_path))
        rc = rv_fail(err, "%s is missing; an HF model directory holds config.json next to the weights",
                     info->config_path);
    if (!rc) rc = rv_read_file(info->config_path, &info->config_text, NULL, err);
    if (!rc) rc = rv_model_cfg_from_hf_text(info->config_path, info->config_text, strlen(info->config_text), cfg, err);
    if (!rc) rc = rv_st_set_open(&set, from, err);
    set_open = rc == 0;
    /* check the headers against the config's table first; take the parameter memory after */
    if (!rc) rc = rv_weights_layout(w, cfg, err);
    laid_out = rc == 0;
    const char *dtype = "F32";
    if (!rc) {
        slot = rv_xmalloc((set.n ? set.n : 1) * sizeof *slot);
        rc = match_tensors(&set, w, cfg, info->config_path, slot, &dtype, &info->dropped, err);
    }
    if (!rc) {
        rc = rv_weights_alloc_params(w, k, err);
        if (rc) laid_out = false; /* freed by rv_weights_alloc_params */
    }
    if (!rc) rc = fill_tensors(&set, w, slot, err);
    if (!rc) {
        snprintf(info->dtype, sizeof info->dtype, "%s", dtype);
        info->nfiles = set.nfiles;
    }
    free(slot);
    if (set_open) rv_st_set_close(&set);
    if (rc) {
        if (laid_out) rv_weights_free(w);
        rv_hf_info_free(info);
    }
    return rc;
}

void rv_hf_info_free(rv_hf_info *info) {
    free(info->config_text);
    free(info->config_path);
    memset(info, 0, sizeof *info);
}

int rv_hf_read_side_files(const char *dir, const char *tokenizer_path, rv_hf_file **files, size_t *n, rv_err *err) {
    *files = rv_xcalloc(RV_HF_N_SIDE_FILES, sizeof **files);
    *n = 0;
    bool tok_given = tokenizer_path && tokenizer_path[0];
    int rc = 0;
    for (size_t i = 0; i < RV_HF_N_SIDE_FILES && !rc; i++) {
        char *p = (i == 0 && tok_given) ? rv_xstrdup(tokenizer_path) : rv_path_join(dir, rv_hf_side_files[i]);
        if (rv_is_file(p)) {
            rv_hf_file *f = &(*files)[*n];
            rc = rv_read_file(p, &f->data, &f->len, err);
            if (!rc) f->name = rv_xstrdup(rv_hf_side_files[i]), (*n)++;
        } else if (i == 0 && tok_given) {
            rc = rv_fail(err, "tokenizer %s does not exist", tokenizer_path);
        }
        free(p);
    }
    if (rc) {
        rv_hf_files_free(*files, *n);
        *files = NULL;
        *n = 0;
    }
    return rc;
}

void rv_hf_files_free(rv_hf_file *files, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(files[i].name);
        free(files[i].data);
    }
    free(files);
}

/* ---- save ---- */

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
int rv_hf_parse_size(const char *s, uint64_t *out) {
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

int rv_hf_save(const char *to, const rv_weights *w, const char *model_config_json, rv_st_dtype dt, uint64_t max_shard,
               const rv_hf_file *files, size_t nfiles, int *nshards, rv_err *err) {
    rv_st_out *outs = rv_xcalloc(w->n ? w->n : 1, sizeof *outs);
    float *host = rv_xmalloc((w->total ? w->total : 1) * sizeof(float)); /* the whole model staged on the host */
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++) {
        const rv_wtensor *t = &w->t[i];
        rc = rv_weights_download_tensor(w, i, host + t->offset, err);
        outs[i] = (rv_st_out){.name = t->name, .dtype = dt, .ndim = t->ndim, .data = host + t->offset,
                              .src_dtype = RV_ST_F32};
        for (int d = 0; d < t->ndim; d++) outs[i].shape[d] = (uint64_t)t->shape[d];
    }
    int ns = 0;
    if (!rc) rc = rv_st_write_dir(to, outs, w->n, max_shard, &ns, err);
    if (!rc) {
        char *p = rv_path_join(to, "config.json");
        rc = export_config(model_config_json, p, dt, err);
        free(p);
    }
    for (size_t i = 0; i < nfiles && !rc; i++) {
        if (!files[i].name[0] || strchr(files[i].name, '/'))
            rc = rv_fail(err, "hf: side file name '%s' must be a plain file name", files[i].name);
        char *p = rc ? NULL : rv_path_join(to, files[i].name);
        if (!rc) rc = rv_write_atomic(p, files[i].data, files[i].len, err);
        free(p);
    }
    if (!rc && nshards) *nshards = ns;
    free(outs);
    free(host);
    return rc;
}
