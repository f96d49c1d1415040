/* BERT-family encoder over the kernels (textenc/encoder.h): config.json + safetensors into
 * backend buffers, then a packed (varlen) post-LN forward. */
#include "textenc/encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/json.h"
#include "io/safetensors.h"

/* One block's parameters, PyTorch layouts: w [OC, C]. */
typedef struct enc_layer {
    rvk_buf wq, bq, wk, bk, wv, bv; /* [C, C], [C] */
    rvk_buf wo, bo;                 /* [C, C], [C] */
    rvk_buf ln1w, ln1b;             /* [C] (attention output LayerNorm / sa_layer_norm) */
    rvk_buf w1, b1;                 /* [I, C], [I] */
    rvk_buf w2, b2;                 /* [C, I], [C] */
    rvk_buf ln2w, ln2b;             /* [C] (output LayerNorm / output_layer_norm) */
} enc_layer;

struct rv_encoder {
    rv_enc_cfg cfg;
    int use_layers;
    rvk_gelu_kind gelu;
    rv_kctx *k;
    char *dir;
    rv_st_set st;
    char *prefix;                   /* what precedes "embeddings.word_embeddings.weight" in the file */
    rvk_buf word, pos, type;        /* [V, C], [P, C], [TV, C] (type absent for DistilBERT) */
    rvk_buf elnw, elnb;             /* [C] embedding LayerNorm */
    enc_layer *layer;               /* [use_layers] */
    /* scratch, grown to the largest batch seen */
    size_t cap_t;
    rvk_buf x, a, q, kk, v, ctx;    /* [T, C] */
    rvk_buf h;                      /* [T, I] */
    rvk_buf ids, posid, typeid;     /* [T] int32 */
    size_t cap_s;
    rvk_buf cu;                     /* [nseq + 1] int32 */
};

/* ---- config ---- */

static int cfg_int(const cJSON *o, const char *key, int def, int required, const char *path, int *out,
                   rv_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return rv_fail(err, "%s: key '%s' missing (an HF config.json of this model_type has it)", path, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 1e9)
        return rv_fail(err, "%s: key '%s' must be a non-negative integer", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int parse_cfg(const char *path, rv_enc_cfg *c, rvk_gelu_kind *gelu, rv_err *err) {
    cJSON *j = rv_json_parse_file(path, err);
    if (!j) return -1;
    int rc = 0;
    const char *mt = NULL;
    memset(c, 0, sizeof *c);
    if (rv_json_get_str(j, "model_type", path, &mt, err)) { rc = -1; goto out; }
    const char *act_key = "hidden_act";
    if (!strcmp(mt, "bert")) c->arch = RV_ENC_BERT;
    else if (!strcmp(mt, "distilbert")) c->arch = RV_ENC_DISTILBERT, act_key = "activation";
    else if (!strcmp(mt, "roberta")) c->arch = RV_ENC_ROBERTA;
    else {
        rc = rv_fail(err, "%s: model_type '%s' is not a supported text encoder (bert, distilbert, roberta)", path, mt);
        goto out;
    }
    int distil = c->arch == RV_ENC_DISTILBERT;
    rc = cfg_int(j, "vocab_size", 0, 1, path, &c->vocab, err);
    if (!rc) rc = cfg_int(j, distil ? "dim" : "hidden_size", 0, 1, path, &c->hidden, err);
    if (!rc) rc = cfg_int(j, distil ? "n_layers" : "num_hidden_layers", 0, 1, path, &c->layers, err);
    if (!rc) rc = cfg_int(j, distil ? "n_heads" : "num_attention_heads", 0, 1, path, &c->heads, err);
    if (!rc) rc = cfg_int(j, distil ? "hidden_dim" : "intermediate_size", 0, 1, path, &c->intermediate, err);
    if (!rc) rc = cfg_int(j, "max_position_embeddings", 512, 0, path, &c->max_pos, err);
    if (!rc) rc = cfg_int(j, "type_vocab_size", distil ? 0 : 2, 0, path, &c->type_vocab, err);
    if (!rc) rc = cfg_int(j, "pad_token_id", c->arch == RV_ENC_ROBERTA ? 1 : 0, 0, path, &c->pad_id, err);
    if (rc) goto out;
    if (distil) c->type_vocab = 0;
    c->ln_eps = 1e-12f; /* BERT's default; DistilBERT hard-codes it */
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    if (!distil && eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1) {
            rc = rv_fail(err, "%s: layer_norm_eps must be a positive number", path);
            goto out;
        }
        c->ln_eps = (float)eps->valuedouble;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, act_key);
    const char *as = cJSON_IsString(act) ? act->valuestring : "gelu";
    if (!strcmp(as, "gelu")) *gelu = RVK_GELU_ERF;
    else if (!strcmp(as, "gelu_new") || !strcmp(as, "gelu_pytorch_tanh")) *gelu = RVK_GELU_TANH;
    else {
        rc = rv_fail(err, "%s: %s '%s' is not supported (gelu, gelu_new, gelu_pytorch_tanh)", path, act_key, as);
        goto out;
    }
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(j, "position_embedding_type");
    if (cJSON_IsString(pet) && strcmp(pet->valuestring, "absolute")) {
        rc = rv_fail(err, "%s: position_embedding_type '%s' is not supported (only absolute)", path, pet->valuestring);
        goto out;
    }
    const cJSON *sin = cJSON_GetObjectItemCaseSensitive(j, "sinusoidal_pos_embds");
    if (cJSON_IsTrue(sin)) {
        rc = rv_fail(err, "%s: sinusoidal_pos_embds=true is not supported (the table must be learned)", path);
        goto out;
    }
    if (!c->vocab || !c->hidden || !c->layers || !c->heads || !c->intermediate || !c->max_pos) {
        rc = rv_fail(err, "%s: vocab, hidden, layer, head, intermediate and position sizes must be positive", path);
        goto out;
    }
    if (c->hidden % c->heads) {
        rc = rv_fail(err, "%s: hidden size %d is not a multiple of the %d attention heads", path, c->hidden, c->heads);
        goto out;
    }
    if (c->pad_id >= c->vocab) {
        rc = rv_fail(err, "%s: pad_token_id %d is outside the vocabulary (%d)", path, c->pad_id, c->vocab);
        goto out;
    }
    if (c->arch == RV_ENC_ROBERTA && c->pad_id + 2 > c->max_pos) {
        rc = rv_fail(err, "%s: max_position_embeddings %d leaves no position after padding_idx %d", path, c->max_pos,
                     c->pad_id);
        goto out;
    }
out:
    cJSON_Delete(j);
    return rc;
}

/* ---- weights ---- */

/* name under the encoder's prefix, else under each shorter prefix ending at a '.' (so a head
 * beside the encoder is found: "module.linear_heads.0.weight" next to "module.bert."), else as
 * given. */
static const rv_st_tensor *find_t(const rv_encoder *e, const char *name) {
    const char *pre = e->prefix ? e->prefix : "";
    char full[768];
    for (size_t l = strlen(pre);; l--) {
        if (l == 0 || pre[l - 1] == '.') {
            snprintf(full, sizeof full, "%.*s%s", (int)l, pre, name);
            const rv_st_tensor *t = rv_st_set_find(&e->st, full);
            if (t) return t;
        }
        if (l == 0) return NULL;
    }
}

/* The prefix of the model's tensors: what stands before the one "embeddings.word_embeddings.weight"
 * ("bert.", "roberta.", "" ... or a wrapper's module path). */
static int find_prefix(rv_encoder *e, rv_err *err) {
    static const char tail[] = "embeddings.word_embeddings.weight";
    size_t tl = strlen(tail);
    const char *hit = NULL;
    for (size_t i = 0; i < e->st.n; i++) {
        const char *nm = e->st.t[i]->name;
        size_t l = strlen(nm);
        if (l < tl || strcmp(nm + l - tl, tail) || (l > tl && nm[l - tl - 1] != '.')) continue;
        if (hit)
            return rv_fail(err, "%s: two encoders in one file ('%s' and '%s'); the text encoder loader needs one",
                           e->st.source, hit, nm);
        hit = nm;
    }
    if (!hit)
        return rv_fail(err, "%s: no tensor named '[prefix.]%s'; is this a BERT/DistilBERT/RoBERTa checkpoint?",
                       e->st.source, tail);
    e->prefix = rv_xstrndup(hit, strlen(hit) - tl);
    return 0;
}

/* Reads tensor `name` (under the prefix) of shape [d0] or [d0, d1] onto the backend. */
static int load_w(rv_encoder *e, rvk_buf *b, const char *name, int d0, int d1, const char *keys, rv_err *err) {
    const rv_st_tensor *t = find_t(e, name);
    if (!t)
        return rv_fail(err, "%s: tensor '%s%s' missing (the config.json of %s describes a model that has it)",
                       e->st.source, e->prefix, name, e->dir);
    int nd = d1 ? 2 : 1;
    uint64_t want[2] = {(uint64_t)d0, (uint64_t)d1};
    if (t->ndim != nd || t->shape[0] != want[0] || (nd == 2 && t->shape[1] != want[1])) {
        char got[96], exp[96];
        rv_st_shape_str(t->shape, t->ndim, got, sizeof got);
        rv_st_shape_str(want, nd, exp, sizeof exp);
        return rv_fail(err, "%s: tensor '%s' has shape %s but config.json (%s) gives %s; the config does not belong "
                       "to these weights", e->st.files[t->file].path, t->name, got, keys, exp);
    }
    if (t->dtype == RV_ST_OTHER)
        return rv_fail(err, "%s: tensor '%s' has dtype %s; encoder weights must be F32, F16 or BF16",
                       e->st.files[t->file].path, t->name, t->dtype_name);
    float *host = rv_xmalloc(t->numel * sizeof *host);
    int rc = rv_st_read_f32(&e->st.files[t->file], t, host, err);
    if (!rc) rc = rvk_buf_alloc(e->k, b, RVK_MEM_DEVICE, RVK_F32, t->numel, err);
    if (!rc) {
        rvk_upload_async(e->k, b, 0, host, t->numel);
        rc = rvk_sync(e->k, err);
    }
    free(host);
    if (rc) rv_fail_wrap(err, "%s: loading tensor '%s'", e->dir, t->name);
    return rc;
}

static int load_layer(rv_encoder *e, int i, enc_layer *L, rv_err *err) {
    const rv_enc_cfg *c = &e->cfg;
    int C = c->hidden, I = c->intermediate;
    const char *hk = e->cfg.arch == RV_ENC_DISTILBERT ? "dim" : "hidden_size";
    const char *ik = e->cfg.arch == RV_ENC_DISTILBERT ? "dim, hidden_dim" : "hidden_size, intermediate_size";
    /* name templates (%d = layer): BERT/RoBERTa, then DistilBERT */
    static const char *const bert[16] = {
        "encoder.layer.%d.attention.self.query.weight", "encoder.layer.%d.attention.self.query.bias",
        "encoder.layer.%d.attention.self.key.weight", "encoder.layer.%d.attention.self.key.bias",
        "encoder.layer.%d.attention.self.value.weight", "encoder.layer.%d.attention.self.value.bias",
        "encoder.layer.%d.attention.output.dense.weight", "encoder.layer.%d.attention.output.dense.bias",
        "encoder.layer.%d.attention.output.LayerNorm.weight", "encoder.layer.%d.attention.output.LayerNorm.bias",
        "encoder.layer.%d.intermediate.dense.weight", "encoder.layer.%d.intermediate.dense.bias",
        "encoder.layer.%d.output.dense.weight", "encoder.layer.%d.output.dense.bias",
        "encoder.layer.%d.output.LayerNorm.weight", "encoder.layer.%d.output.LayerNorm.bias"};
    static const char *const distil[16] = {
        "transformer.layer.%d.attention.q_lin.weight", "transformer.layer.%d.attention.q_lin.bias",
        "transformer.layer.%d.attention.k_lin.weight", "transformer.layer.%d.attention.k_lin.bias",
        "transformer.layer.%d.attention.v_lin.weight", "transformer.layer.%d.attention.v_lin.bias",
        "transformer.layer.%d.attention.out_lin.weight", "transformer.layer.%d.attention.out_lin.bias",
        "transformer.layer.%d.sa_layer_norm.weight", "transformer.layer.%d.sa_layer_norm.bias",
        "transformer.layer.%d.ffn.lin1.weight", "transformer.layer.%d.ffn.lin1.bias",
        "transformer.layer.%d.ffn.lin2.weight", "transformer.layer.%d.ffn.lin2.bias",
        "transformer.layer.%d.output_layer_norm.weight", "transformer.layer.%d.output_layer_norm.bias"};
    const char *const *nm = e->cfg.arch == RV_ENC_DISTILBERT ? distil : bert;
    rvk_buf *dst[16] = {&L->wq, &L->bq, &L->wk, &L->bk, &L->wv, &L->bv, &L->wo, &L->bo,
                        &L->ln1w, &L->ln1b, &L->w1, &L->b1, &L->w2, &L->b2, &L->ln2w, &L->ln2b};
    int d0[16] = {C, C, C, C, C, C, C, C, C, C, I, I, C, C, C, C};
    int d1[16] = {C, 0, C, 0, C, 0, C, 0, 0, 0, C, 0, I, 0, 0, 0};
    for (int j = 0; j < 16; j++) {
        char name[160];
        snprintf(name, sizeof name, nm[j], i);
        if (load_w(e, dst[j], name, d0[j], d1[j], (j >= 10 && j < 14) ? ik : hk, err)) return -1;
    }
    return 0;
}

static void free_layer(rv_kctx *k, enc_layer *L) {
    rvk_buf *b[16] = {&L->wq, &L->bq, &L->wk, &L->bk, &L->wv, &L->bv, &L->wo, &L->bo,
                      &L->ln1w, &L->ln1b, &L->w1, &L->b1, &L->w2, &L->b2, &L->ln2w, &L->ln2b};
    for (int j = 0; j < 16; j++) rvk_buf_free(k, b[j]);
}

int rv_encoder_load(rv_encoder **out, const char *dir, int use_layers, rv_kctx *k, rv_err *err) {
    *out = NULL;
    if (!rv_is_dir(dir)) return rv_fail(err, "text encoder: model directory '%s' does not exist", dir);
    rv_encoder *e = rv_xcalloc(1, sizeof *e);
    e->k = k;
    e->dir = rv_xstrdup(dir);
    char *cfg_path = rv_path_join(dir, "config.json");
    int rc = 0;
    if (!rv_is_file(cfg_path))
        rc = rv_fail(err, "%s: missing; a text encoder directory needs HF's config.json next to the weights", cfg_path);
    if (!rc) rc = parse_cfg(cfg_path, &e->cfg, &e->gelu, err);
    if (!rc && (use_layers < 0 || use_layers > e->cfg.layers))
        rc = rv_fail(err, "%s: %d layers asked for, but the model has %d (%s)", dir, use_layers, e->cfg.layers,
                     cfg_path);
    e->use_layers = use_layers ? use_layers : e->cfg.layers;
    if (!rc) {
        char *ps = rv_path_join(dir, "model.safetensors"), *pidx = rv_path_join(dir, "model.safetensors.index.json");
        if (!rv_is_file(ps) && !rv_is_file(pidx)) {
            char *pb = rv_path_join(dir, "pytorch_model.bin");
            rc = rv_fail(err, "%s: no model.safetensors%s; convert PyTorch weights with tools/convert_pth.py "
                         "(docs/metrics.md)", dir, rv_is_file(pb) ? " (only pytorch_model.bin)" : "");
            free(pb);
        }
        free(ps);
        free(pidx);
    }
    if (!rc) rc = rv_st_set_open(&e->st, dir, err);
    if (!rc) rc = find_prefix(e, err);
    const rv_enc_cfg *c = &e->cfg;
    int C = c->hidden;
    const char *hk = c->arch == RV_ENC_DISTILBERT ? "dim" : "hidden_size";
    char keys[128];
    snprintf(keys, sizeof keys, "vocab_size, %s", hk);
    if (!rc) rc = load_w(e, &e->word, "embeddings.word_embeddings.weight", c->vocab, C, keys, err);
    snprintf(keys, sizeof keys, "max_position_embeddings, %s", hk);
    if (!rc) rc = load_w(e, &e->pos, "embeddings.position_embeddings.weight", c->max_pos, C, keys, err);
    snprintf(keys, sizeof keys, "type_vocab_size, %s", hk);
    if (!rc && c->type_vocab) rc = load_w(e, &e->type, "embeddings.token_type_embeddings.weight", c->type_vocab, C, keys, err);
    if (!rc) rc = load_w(e, &e->elnw, "embeddings.LayerNorm.weight", C, 0, hk, err);
    if (!rc) rc = load_w(e, &e->elnb, "embeddings.LayerNorm.bias", C, 0, hk, err);
    e->layer = rv_xcalloc((size_t)e->use_layers, sizeof *e->layer);
    for (int i = 0; !rc && i < e->use_layers; i++) rc = load_layer(e, i, &e->layer[i], err);
    free(cfg_path);
    if (rc) {
        rv_encoder_free(e);
        return -1;
    }
    *out = e;
    return 0;
}

void rv_encoder_free(rv_encoder *e) {
    if (!e) return;
    if (e->layer)
        for (int i = 0; i < e->use_layers; i++) free_layer(e->k, &e->layer[i]);
    free(e->layer);
    rvk_buf *b[] = {&e->word, &e->pos, &e->type, &e->elnw, &e->elnb, &e->x, &e->a, &e->q, &e->kk, &e->v,
                    &e->ctx, &e->h, &e->ids, &e->posid, &e->typeid, &e->cu};
    for (size_t j = 0; j < sizeof b / sizeof b[0]; j++) rvk_buf_free(e->k, b[j]);
    if (e->st.files) rv_st_set_close(&e->st);
    free(e->prefix);
    free(e->dir);
    free(e);
}

const rv_enc_cfg *rv_encoder_cfg(const rv_encoder *e) { return &e->cfg; }
int rv_encoder_layers_used(const rv_encoder *e) { return e->use_layers; }

/* ---- forward ---- */

static int grow(rv_encoder *e, size_t T, size_t nseq, rv_err *err) {
    if (T > e->cap_t) {
        size_t cap = e->cap_t ? e->cap_t : 256;
        while (cap < T) cap *= 2;
        size_t C = (size_t)e->cfg.hidden, I = (size_t)e->cfg.intermediate;
        rvk_buf *f[] = {&e->x, &e->a, &e->q, &e->kk, &e->v, &e->ctx};
        rvk_buf *i32[] = {&e->ids, &e->posid, &e->typeid};
        for (int j = 0; j < 6; j++) {
            rvk_buf_free(e->k, f[j]);
            if (rvk_buf_alloc(e->k, f[j], RVK_MEM_DEVICE, RVK_F32, cap * C, err)) goto fail;
        }
        rvk_buf_free(e->k, &e->h);
        if (rvk_buf_alloc(e->k, &e->h, RVK_MEM_DEVICE, RVK_F32, cap * I, err)) goto fail;
        for (int j = 0; j < 3; j++) {
            rvk_buf_free(e->k, i32[j]);
            if (rvk_buf_alloc(e->k, i32[j], RVK_MEM_DEVICE, RVK_I32, cap, err)) goto fail;
        }
        e->cap_t = cap; /* typeid stays all 0: BERT/RoBERTa token type row 0 */
    }
    if (nseq + 1 > e->cap_s) {
        size_t cap = e->cap_s ? e->cap_s : 64;
        while (cap < nseq + 1) cap *= 2;
        rvk_buf_free(e->k, &e->cu);
        if (rvk_buf_alloc(e->k, &e->cu, RVK_MEM_DEVICE, RVK_I32, cap, err)) {
            e->cap_s = 0;
            return rv_fail_wrap(err, "text encoder: batch of %zu sequences", nseq);
        }
        e->cap_s = cap;
    }
    return 0;
fail:
    e->cap_t = 0; /* every scratch buffer is reallocated next time */
    return rv_fail_wrap(err, "text encoder: scratch for %zu tokens", T);
}

int rv_encoder_forward(rv_encoder *e, const int32_t *ids, const int32_t *cu, int nseq, float *out, rv_err *err) {
    const rv_enc_cfg *c = &e->cfg;
    if (nseq < 0 || !cu || cu[0] != 0) return rv_fail(err, "text encoder: cu must start at 0 (nseq %d)", nseq);
    int maxlen = c->arch == RV_ENC_ROBERTA ? c->max_pos - c->pad_id - 1 : c->max_pos;
    for (int s = 0; s < nseq; s++) {
        int len = cu[s + 1] - cu[s];
        if (len < 0) return rv_fail(err, "text encoder: cu decreases at sequence %d", s);
        if (len > maxlen)
            return rv_fail(err, "text encoder: sequence %d has %d tokens, more than the model's %d positions "
                           "(truncate when tokenizing)", s, len, maxlen);
    }
    int T = cu[nseq];
    if (T == 0) return 0;
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab)
            return rv_fail(err, "text encoder: token %d has id %d, outside the vocabulary [0, %d)", t, ids[t], c->vocab);
    if (grow(e, (size_t)T, (size_t)nseq, err)) return -1;

    /* positions: BERT/DistilBERT count from 0; RoBERTa from padding_idx + 1 over non-pad tokens,
     * a pad token itself getting padding_idx (create_position_ids_from_input_ids) */
    int32_t *pos = rv_xmalloc((size_t)T * sizeof *pos);
    for (int s = 0; s < nseq; s++) {
        int run = 0;
        for (int t = cu[s]; t < cu[s + 1]; t++) {
            if (c->arch != RV_ENC_ROBERTA) pos[t] = t - cu[s];
            else if (ids[t] == c->pad_id) pos[t] = c->pad_id;
            else pos[t] = c->pad_id + ++run;
        }
    }
    rv_kctx *k = e->k;
    size_t TC = (size_t)T * (size_t)c->hidden;
    int C = c->hidden, I = c->intermediate, H = c->heads, D = C / H;
    rvk_upload_async(k, &e->ids, 0, ids, (size_t)T);
    rvk_upload_async(k, &e->posid, 0, pos, (size_t)T);
    rvk_upload_async(k, &e->cu, 0, cu, (size_t)nseq + 1);
    int rc = rvk_sync(k, err);
    free(pos);
    if (rc) return rv_fail_wrap(err, "text encoder: uploading the batch");

    float *x = rvk_buf_f32(&e->x), *a = rvk_buf_f32(&e->a), *q = rvk_buf_f32(&e->q), *kk = rvk_buf_f32(&e->kk),
          *v = rvk_buf_f32(&e->v), *ctx = rvk_buf_f32(&e->ctx), *h = rvk_buf_f32(&e->h);
    /* embeddings: x [T, C] = LN(word[ids] + pos[posid] (+ type[0])) */
    if (rvk_embedding_fwd(k, x, rvk_buf_f32(&e->word), rvk_buf_i32(&e->ids), T, C, c->vocab, err)) return -1;
    if (rvk_embedding_fwd(k, a, rvk_buf_f32(&e->pos), rvk_buf_i32(&e->posid), T, C, c->max_pos, err)) return -1;
    rvk_add(k, x, x, a, TC);
    if (c->type_vocab) {
        if (rvk_embedding_fwd(k, a, rvk_buf_f32(&e->type), rvk_buf_i32(&e->typeid), T, C, c->type_vocab, err))
            return -1;
        rvk_add(k, x, x, a, TC);
    }
    rvk_layernorm_fwd(k, x, NULL, NULL, x, rvk_buf_f32(&e->elnw), rvk_buf_f32(&e->elnb), T, C, c->ln_eps);

    rvk_attn at = {.nseq = nseq, .cu_q = rvk_buf_i32(&e->cu), .host_cu_q = cu, .Tq = T, .Tk = T, .Hq = H, .Hkv = H, .D = D,
                   .scale = 1.0f / sqrtf((float)D), .causal = 0};
    for (int l = 0; l < e->use_layers; l++) {
        const enc_layer *L = &e->layer[l];
        /* attention sub-block (post-LN): x = LN(x + out(attn(q, k, v))) */
        rvk_matmul_fwd(k, q, x, rvk_buf_f32(&L->wq), rvk_buf_f32(&L->bq), T, C, C);
        rvk_matmul_fwd(k, kk, x, rvk_buf_f32(&L->wk), rvk_buf_f32(&L->bk), T, C, C);
        rvk_matmul_fwd(k, v, x, rvk_buf_f32(&L->wv), rvk_buf_f32(&L->bv), T, C, C);
        if (rvk_attention_fwd(k, ctx, NULL, q, kk, v, &at, err)) return rv_fail_wrap(err, "text encoder layer %d", l);
        rvk_matmul_fwd(k, a, ctx, rvk_buf_f32(&L->wo), rvk_buf_f32(&L->bo), T, C, C);
        rvk_add(k, a, a, x, TC);
        rvk_layernorm_fwd(k, x, NULL, NULL, a, rvk_buf_f32(&L->ln1w), rvk_buf_f32(&L->ln1b), T, C, c->ln_eps);
        /* feed-forward sub-block: x = LN(x + W2 gelu(W1 x)); h [T, I] */
        rvk_matmul_fwd(k, h, x, rvk_buf_f32(&L->w1), rvk_buf_f32(&L->b1), T, C, I);
        rvk_gelu_fwd(k, h, h, (size_t)T * (size_t)I, e->gelu);
        rvk_matmul_fwd(k, a, h, rvk_buf_f32(&L->w2), rvk_buf_f32(&L->b2), T, I, C);
        rvk_add(k, a, a, x, TC);
        rvk_layernorm_fwd(k, x, NULL, NULL, a, rvk_buf_f32(&L->ln2w), rvk_buf_f32(&L->ln2b), T, C, c->ln_eps);
    }
    rvk_download_async(k, out, &e->x, 0, TC);
    if (rvk_sync(k, err)) return rv_fail_wrap(err, "text encoder: forward of %d tokens", T);
    return 0;
}

int rv_encoder_extra(const rv_encoder *e, const char *name, float **data, int64_t shape[4], int *ndim,
                     rv_err *err) {
    *data = NULL;
    const rv_st_tensor *t = find_t(e, name);
    if (!t) return rv_fail(err, "%s: tensor '%s' missing (is this the right model directory?)", e->st.source, name);
    if (t->ndim > 4)
        return rv_fail(err, "%s: tensor '%s' has %d dimensions (at most 4 expected)", e->st.source, t->name, t->ndim);
    if (t->dtype == RV_ST_OTHER)
        return rv_fail(err, "%s: tensor '%s' has dtype %s; F32, F16 or BF16 expected", e->st.source, t->name,
                       t->dtype_name);
    float *d = rv_xmalloc((t->numel ? t->numel : 1) * sizeof *d);
    if (rv_st_read_f32(&e->st.files[t->file], t, d, err)) {
        free(d);
        return -1;
    }
    for (int i = 0; i < 4; i++) shape[i] = i < t->ndim ? (int64_t)t->shape[i] : 1;
    *ndim = t->ndim;
    *data = d;
    return 0;
}
