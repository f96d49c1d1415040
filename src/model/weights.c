#include "model/weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

const char *rv_module_name(rv_module m) {
    switch (m) {
    case RV_MOD_VISION: return "vision";
    case RV_MOD_PROJECTOR: return "projector";
    case RV_MOD_LM: return "lm";
    }
    return "?";
}

const char *rv_dtype_name(rv_dtype d) {
    switch (d) {
    case RV_DT_F32: return "F32";
    case RV_DT_BF16: return "BF16";
    case RV_DT_F16: return "F16";
    }
    return "?";
}

typedef struct builder {
    rv_weights *w;
    size_t cap;
    rv_module module;
} builder;

/* Adds one tensor; shape dims end at the first 0. Matrices (ndim >= 2) decay; vectors don't. */
static void add(builder *b, unsigned extra_flags, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void add(builder *b, unsigned extra_flags, int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...) {
    rv_weights *w = b->w;
    if (w->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        w->t = rv_xrealloc(w->t, b->cap * sizeof *w->t);
    }
    rv_wtensor *t = &w->t[w->n++];
    memset(t, 0, sizeof *t);
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    t->name = rv_xstrdup(name);
    int64_t d[4] = {d0, d1, d2, d3};
    t->numel = 1;
    for (int i = 0; i < 4 && d[i] > 0; i++) {
        t->shape[t->ndim++] = d[i];
        t->numel *= (size_t)d[i];
    }
    t->dtype = RV_DT_F32;
    t->module = b->module;
    t->flags = RV_WF_TRAINABLE | (t->ndim >= 2 ? RV_WF_DECAY : 0) | extra_flags;
    /* 16-element (64-byte) alignment of every tensor keeps SIMD loads aligned */
    t->offset = w->total;
    w->total += (t->numel + 15) & ~(size_t)15;
}

static int build_index(rv_weights *w, rv_err *err) {
    rv_smap_init(&w->index, w->n);
    for (size_t i = 0; i < w->n; i++)
        if (rv_smap_put(&w->index, w->t[i].name, i) != RV_MAP_NONE)
            return rv_fail(err, "weights: tensor name '%s' appears twice in the table", w->t[i].name);
    return 0;
}

int rv_weights_layout(rv_weights *w, const rv_model_cfg *c, rv_err *err) {
    memset(w, 0, sizeof *w);
    if (rv_model_cfg_validate(c, err)) return -1;
    builder b = {w, 0, RV_MOD_VISION};
    const rv_vision_cfg *v = &c->vision;
    const rv_text_cfg *t = &c->text;
    const int64_t vh = v->hidden, vi = v->intermediate, np = (int64_t)rv_vision_grid(v) * rv_vision_grid(v);
    const int run = rv_vision_run_layers(v);
    const char *VP = "vision_tower.vision_model.";
    add(&b, 0, vh, v->channels, v->patch, v->patch, "%sembeddings.patch_embedding.weight", VP);
    add(&b, 0, vh, 0, 0, 0, "%sembeddings.patch_embedding.bias", VP);
    add(&b, 0, np, vh, 0, 0, "%sembeddings.position_embedding.weight", VP);
    for (int l = 0; l < v->layers; l++) {
        unsigned u = l >= run ? RV_WF_UNUSED : 0;
        add(&b, u, vh, 0, 0, 0, "%sencoder.layers.%d.layer_norm1.weight", VP, l);
        add(&b, u, vh, 0, 0, 0, "%sencoder.layers.%d.layer_norm1.bias", VP, l);
        static const char *proj[4] = {"k_proj", "v_proj", "q_proj", "out_proj"};
        for (int p = 0; p < 4; p++) {
            add(&b, u, vh, vh, 0, 0, "%sencoder.layers.%d.self_attn.%s.weight", VP, l, proj[p]);
            add(&b, u, vh, 0, 0, 0, "%sencoder.layers.%d.self_attn.%s.bias", VP, l, proj[p]);
        }
        add(&b, u, vh, 0, 0, 0, "%sencoder.layers.%d.layer_norm2.weight", VP, l);
        add(&b, u, vh, 0, 0, 0, "%sencoder.layers.%d.layer_norm2.bias", VP, l);
        add(&b, u, vi, vh, 0, 0, "%sencoder.layers.%d.mlp.fc1.weight", VP, l);
        add(&b, u, vi, 0, 0, 0, "%sencoder.layers.%d.mlp.fc1.bias", VP, l);
        add(&b, u, vh, vi, 0, 0, "%sencoder.layers.%d.mlp.fc2.weight", VP, l);
        add(&b, u, vh, 0, 0, 0, "%sencoder.layers.%d.mlp.fc2.bias", VP, l);
    }
    unsigned pu = v->post_ln ? 0 : RV_WF_UNUSED;
    add(&b, pu, vh, 0, 0, 0, "%spost_layernorm.weight", VP);
    add(&b, pu, vh, 0, 0, 0, "%spost_layernorm.bias", VP);

    b.module = RV_MOD_PROJECTOR;
    const int64_t D = t->hidden;
    add(&b, 0, D, vh, 0, 0, "multi_modal_projector.linear_1.weight");
    if (c->proj_bias) add(&b, 0, D, 0, 0, 0, "multi_modal_projector.linear_1.bias");
    add(&b, 0, D, D, 0, 0, "multi_modal_projector.linear_2.weight");
    if (c->proj_bias) add(&b, 0, D, 0, 0, 0, "multi_modal_projector.linear_2.bias");
    /* image_newline sits with the LM in upstream's optimizer groups (A.3) but is part of the
     * image path; it is a vector, so no decay */
    add(&b, 0, D, 0, 0, 0, "image_newline");

    b.module = RV_MOD_LM;
    const int64_t qd = (int64_t)t->heads * t->head_dim, kvd = (int64_t)t->kv_heads * t->head_dim;
    const char *LP = "language_model.model.";
    add(&b, 0, t->vocab, D, 0, 0, "%sembed_tokens.weight", LP);
    for (int l = 0; l < t->layers; l++) {
        add(&b, 0, D, 0, 0, 0, "%slayers.%d.input_layernorm.weight", LP, l);
        add(&b, 0, qd, D, 0, 0, "%slayers.%d.self_attn.q_proj.weight", LP, l);
        add(&b, 0, qd, 0, 0, 0, "%slayers.%d.self_attn.q_proj.bias", LP, l);
        add(&b, 0, kvd, D, 0, 0, "%slayers.%d.self_attn.k_proj.weight", LP, l);
        add(&b, 0, kvd, 0, 0, 0, "%slayers.%d.self_attn.k_proj.bias", LP, l);
        add(&b, 0, kvd, D, 0, 0, "%slayers.%d.self_attn.v_proj.weight", LP, l);
        add(&b, 0, kvd, 0, 0, 0, "%slayers.%d.self_attn.v_proj.bias", LP, l);
        add(&b, 0, D, qd, 0, 0, "%slayers.%d.self_attn.o_proj.weight", LP, l);
        add(&b, 0, D, 0, 0, 0, "%slayers.%d.post_attention_layernorm.weight", LP, l);
        add(&b, 0, t->intermediate, D, 0, 0, "%slayers.%d.mlp.gate_proj.weight", LP, l);
        add(&b, 0, t->intermediate, D, 0, 0, "%slayers.%d.mlp.up_proj.weight", LP, l);
        add(&b, 0, D, t->intermediate, 0, 0, "%slayers.%d.mlp.down_proj.weight", LP, l);
    }
    add(&b, 0, D, 0, 0, 0, "%snorm.weight", LP);
    if (!t->tie_embeddings) add(&b, 0, t->vocab, D, 0, 0, "language_model.lm_head.weight");

    if (build_index(w, err)) {
        rv_weights_free(w);
        return -1;
    }
    return 0;
}

int rv_weights_build(rv_weights *w, const rv_model_cfg *c, rv_kctx *k, rv_err *err) {
    if (rv_weights_layout(w, c, err)) return -1;
    return rv_weights_alloc_params(w, k, err);
}

int rv_weights_alloc_params(rv_weights *w, rv_kctx *k, rv_err *err) {
    w->k = k;
    if (rvk_buf_alloc(k, &w->params_buf, RVK_MEM_DEVICE, RVK_F32, w->total, err)) {
        size_t total = w->total;
        rv_weights_free(w);
        return rv_fail_wrap(err, "weights: cannot hold %zu parameters (%.2f GiB fp32): use a smaller model or a node with "
                                 "more memory", total, (double)total * 4 / (1 << 30));
    }
    w->params = rvk_buf_f32(&w->params_buf);
    /* the weight shadow (kernels.h): a bf16 copy the GEMMs read on a backend that keeps one
     * (CUDA by default; nothing on the CPU). Every writer below refreshes what it wrote. */
    if (rvk_shadow_bind(k, w->params, w->total, err)) {
        size_t total = w->total;
        rv_weights_free(w);
        return rv_fail_wrap(err, "weights: cannot hold the bf16 copy of %zu parameters (%.2f GiB)", total,
                            (double)total * 2 / (1 << 30));
    }
    return 0;
}

void rv_weights_free(rv_weights *w) {
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    if (w->k) {
        rv_err e;
        if (w->params) rvk_shadow_bind(w->k, w->params, 0, &e); /* n = 0: lets go of this table's range only */
        rvk_buf_free(w->k, &w->params_buf);
        rvk_buf_free(w->k, &w->grads_buf);
    }
    rv_smap_free(&w->index);
    memset(w, 0, sizeof *w);
}

int rv_weights_alloc_grads(rv_weights *w, rv_err *err) {
    if (w->grads) return 0;
    if (!w->k) return rv_fail(err, "weights: gradients need a table built on a backend (rv_weights_build)");
    if (rvk_buf_alloc(w->k, &w->grads_buf, RVK_MEM_DEVICE, RVK_F32, w->total, err))
        return rv_fail_wrap(err, "weights: cannot hold gradients for %zu parameters (%.2f GiB fp32)", w->total,
                            (double)w->total * 4 / (1 << 30));
    w->grads = rvk_buf_f32(&w->grads_buf);
    return 0;
}

void rv_weights_zero_grads(rv_weights *w) {
    if (w->grads) rvk_fill(w->k, w->grads, 0.0f, w->total);
}

int rv_weights_find(const rv_weights *w, const char *name) {
    size_t i = rv_smap_get(&w->index, name);
    return i == RV_MAP_NONE ? -1 : (int)i;
}

const rv_wtensor *rv_weights_get(const rv_weights *w, const char *name) {
    int h = rv_weights_find(w, name);
    return h < 0 ? NULL : &w->t[h];
}

int rv_weights_download_tensor(const rv_weights *w, size_t i, float *host, rv_err *err) {
    if (i >= w->n || !w->params) return rv_fail(err, "weights: no parameter values for tensor %zu", i);
    rvk_download_async(w->k, host, &w->params_buf, w->t[i].offset, w->t[i].numel);
    if (rvk_sync(w->k, err)) return rv_fail_wrap(err, "weights: reading tensor '%s'", w->t[i].name);
    return 0;
}

int rv_weights_upload_tensor(rv_weights *w, size_t i, const float *host, rv_err *err) {
    if (i >= w->n || !w->params) return rv_fail(err, "weights: no parameter arena for tensor %zu", i);
    rvk_upload_async(w->k, &w->params_buf, w->t[i].offset, host, w->t[i].numel);
    rvk_shadow_refresh(w->k, w->params + w->t[i].offset, w->t[i].numel);
    if (rvk_sync(w->k, err)) return rv_fail_wrap(err, "weights: writing tensor '%s'", w->t[i].name);
    return 0;
}

float *rv_weights_param(const rv_weights *w, const char *name) {
    int h = rv_weights_find(w, name);
    return (h < 0 || !w->params) ? NULL : w->params + w->t[h].offset;
}

float *rv_weights_grad(const rv_weights *w, const char *name) {
    int h = rv_weights_find(w, name);
    return (h < 0 || !w->grads) ? NULL : w->grads + w->t[h].offset;
}

int rv_weights_need(const rv_weights *w, const char *name, size_t numel, float **out, rv_err *err) {
    int h = rv_weights_find(w, name);
    if (h < 0) return rv_fail(err, "weights: tensor '%s' is not in the table (config and table disagree)", name);
    if (w->t[h].numel != numel)
        return rv_fail(err, "weights: tensor '%s' has %zu elements, the model expects %zu", name, w->t[h].numel, numel);
    *out = w->params + w->t[h].offset;
    return 0;
}

size_t rv_weights_numel(const rv_weights *w, int module, unsigned flags) {
    size_t n = 0;
    for (size_t i = 0; i < w->n; i++)
        if ((module < 0 || (int)w->t[i].module == module) && (w->t[i].flags & flags) == flags) n += w->t[i].numel;
    return n;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

size_t rv_weights_max_numel(const rv_weights *w) {
    size_t most = 1;
    for (size_t i = 0; i < w->n; i++) most = w->t[i].numel > most ? w->t[i].numel : most;
    return most;
}

int rv_weights_init_random(rv_weights *w, uint64_t seed, float std, rv_err *err) {
    if (!w->params) return rv_fail(err, "weights: random init needs a table built on a backend (rv_weights_build)");
    float *p = rv_xmalloc(rv_weights_max_numel(w) * sizeof *p); /* host staging, one tensor at a time */
    int rc = 0;
    for (size_t i = 0; i < w->n && !rc; i++) {
        rv_wtensor *t = &w->t[i];
        bool norm = strstr(t->name, "norm") != NULL; /* layer_norm*, *_layernorm, model.norm */
        if (t->ndim == 1 && norm && ends_with(t->name, ".weight")) {
            for (size_t k = 0; k < t->numel; k++) p[k] = 1.0f;
        } else if (t->ndim == 1 && strcmp(t->name, "image_newline") != 0) {
            memset(p, 0, t->numel * sizeof *p);
        } else {
            rv_rng r;
            rv_rng_init(&r, seed, rv_hash32(t->name), 0);
            for (size_t k = 0; k < t->numel; k++) p[k] = (float)(std * rv_rng_normal(&r));
        }
        rc = rv_weights_upload_tensor(w, i, p, err);
    }
    free(p);
    return rc;
}

static int starts(const char *s, const char *pre, const char **rest) {
    size_t n = strlen(pre);
    if (strncmp(s, pre, n) != 0) return 0;
    *rest = s + n;
    return 1;
}

static int canonical_prefix(const char *name, char *out, size_t out_size);

int rv_weights_canonical_name(const char *name, char *out, size_t out_size) {
    int mapped = canonical_prefix(name, out, out_size);
    if (mapped < 0) return mapped;
    /* transformers 5 saves the SigLIP tower without its vision_model wrapper
     * (vision_tower.embeddings.*, vision_tower.encoder.*): put the wrapper back. */
    const char *r;
    if (starts(out, "vision_tower.", &r) && !starts(r, "vision_model.", &r)) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "vision_tower.vision_model.%s", out + strlen("vision_tower."));
        snprintf(out, out_size, "%s", tmp);
        return 1;
    }
    return mapped;
}

static int canonical_prefix(const char *name, char *out, size_t out_size) {
    const char *r;
    if (ends_with(name, "rotary_emb.inv_freq")) return -1;
    /* newer transformers layout */
    if (starts(name, "model.vision_tower.vision_tower.", &r)) { /* lmms-lab */
        snprintf(out, out_size, "vision_tower.%s", r);
        return 1;
    }
    if (starts(name, "model.vision_tower.", &r)) {
        snprintf(out, out_size, "vision_tower.%s", r);
        return 1;
    }
    if (starts(name, "model.multi_modal_projector.", &r)) {
        snprintf(out, out_size, "multi_modal_projector.%s", r);
        return 1;
    }
    if (starts(name, "model.language_model.", &r)) {
        snprintf(out, out_size, "language_model.model.%s", r);
        return 1;
    }
    if (strcmp(name, "model.image_newline") == 0) {
        snprintf(out, out_size, "image_newline");
        return 1;
    }
    if (strcmp(name, "lm_head.weight") == 0) {
        snprintf(out, out_size, "language_model.lm_head.weight");
        return 1;
    }
    /* lmms-lab projector and LM */
    if (starts(name, "model.mm_projector.", &r)) {
        if (starts(r, "0.", &r)) snprintf(out, out_size, "multi_modal_projector.linear_1.%s", r);
        else if (starts(r, "2.", &r)) snprintf(out, out_size, "multi_modal_projector.linear_2.%s", r);
        else {
            snprintf(out, out_size, "%s", name);
            return 0;
        }
        return 1;
    }
    if (starts(name, "model.embed_tokens.", &r) || starts(name, "model.layers.", &r) || starts(name, "model.norm.", &r)) {
        snprintf(out, out_size, "language_model.%s", name);
        return 1;
    }
    snprintf(out, out_size, "%s", name);
    return 0;
}
