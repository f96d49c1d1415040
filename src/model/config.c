#include "model/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"

static void set_pinpoints_grid(rv_model_cfg *c, int tile, int max_side) {
    /* all (i x j) tile grids, i (height) varying slowest, as in the llava-hf configs */
    c->n_pinpoints = 0;
    for (int i = 1; i <= max_side; i++)
        for (int j = 1; j <= max_side; j++) {
            c->pinpoints[c->n_pinpoints][0] = i * tile;
            c->pinpoints[c->n_pinpoints][1] = j * tile;
            c->n_pinpoints++;
        }
}

static void siglip_so400m_26(rv_vision_cfg *v) {
    v->hidden = 1152; v->layers = 26; v->heads = 16; v->intermediate = 4304;
    v->patch = 14; v->image_size = 384; v->channels = 3;
    v->ln_eps = 1e-6f; v->act = RV_ACT_GELU_TANH;
    v->feature_layer = -1; v->post_ln = false; v->drop_first = false;
}

int rv_model_cfg_preset(const char *name, rv_model_cfg *c, rv_err *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->proj_act = RV_ACT_GELU_ERF;
    c->proj_bias = true;
    rv_text_cfg *t = &c->text;
    t->rms_eps = 1e-6f; t->rope_theta = 1e6; t->max_pos = 32768;
    t->bos_id = 151643; t->eos_id = 151645; t->pad_id = 151643;
    if (strcmp(name, "tiny") == 0) {
        rv_vision_cfg *v = &c->vision;
        v->hidden = 64; v->layers = 2; v->heads = 2; v->intermediate = 128;
        v->patch = 14; v->image_size = 56; v->channels = 3;
        v->ln_eps = 1e-6f; v->act = RV_ACT_GELU_TANH;
        v->feature_layer = -1; v->post_ln = false; v->drop_first = false;
        t->hidden = 128; t->layers = 2; t->heads = 4; t->kv_heads = 2; t->head_dim = 32;
        t->intermediate = 256; t->vocab = 2048; t->tie_embeddings = true; t->max_pos = 8192;
        t->rope_theta = 10000.0;
        /* ids of a small trained vocabulary: the caller replaces them from its tokenizer */
        t->bos_id = 0; t->eos_id = 2; t->pad_id = 0;
        c->image_token_id = 3;
        c->anyres_max = 9;
        set_pinpoints_grid(c, 56, 3);
    } else if (strcmp(name, "100m") == 0) {
        /* the benchmarks' ~100M model (docs/performance.md): tiny's structure at 768 x 12 layers;
         * ids as in tiny are replaced from the caller's tokenizer */
        if (rv_model_cfg_preset("tiny", c, err)) return -1;
        snprintf(c->name, sizeof c->name, "%s", name);
        rv_vision_cfg *v = &c->vision;
        v->hidden = 384; v->layers = 4; v->heads = 6; v->intermediate = 1536;
        v->patch = 14; v->image_size = 224;
        t->hidden = 768; t->layers = 12; t->heads = 12; t->kv_heads = 2; t->head_dim = 64;
        t->intermediate = 2048; t->vocab = 32000; t->tie_embeddings = true; t->max_pos = 4096;
        t->rope_theta = 1e6; t->bos_id = 1; t->eos_id = 2; t->pad_id = 0;
        c->image_token_id = 31999;
        c->anyres_max = 9;
        c->n_pinpoints = 1;
        c->pinpoints[0][0] = c->pinpoints[0][1] = 224;
    } else if (strcmp(name, "0.5b") == 0) {
        siglip_so400m_26(&c->vision);
        t->hidden = 896; t->layers = 24; t->heads = 14; t->kv_heads = 2; t->head_dim = 64;
        t->intermediate = 4864; t->vocab = 152000; t->tie_embeddings = true;
        c->image_token_id = 151646;
        c->anyres_max = 9;
        set_pinpoints_grid(c, 384, 6);
    } else if (strcmp(name, "7b") == 0) {
        siglip_so400m_26(&c->vision);
        t->hidden = 3584; t->layers = 28; t->heads = 28; t->kv_heads = 4; t->head_dim = 128;
        t->intermediate = 18944; t->vocab = 152128; t->tie_embeddings = false;
        c->image_token_id = 151646;
        c->anyres_max = 9;
        set_pinpoints_grid(c, 384, 6);
    } else {
        return rv_fail(err, "model preset '%s' is unknown: use tiny, 100m, 0.5b or 7b, or point model.config at an HF "
                            "config.json", name);
    }
    return 0;
}

/* ---- HF config.json ---- */

typedef struct jctx {
    const char *where;
    rv_err *err;
    int failed;
} jctx;

static const cJSON *jget(const cJSON *o, const char *key) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

static int jint(jctx *x, const cJSON *o, const char *key, const char *sect, int dflt) {
    const cJSON *v = jget(o, key);
    if (!v) return dflt;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 2e9) {
        if (!x->failed) rv_fail(x->err, "%s: %s%s must be an integer", x->where, sect, key);
        x->failed = 1;
        return dflt;
    }
    return (int)v->valuedouble;
}

static double jnum(jctx *x, const cJSON *o, const char *key, const char *sect, double dflt) {
    const cJSON *v = jget(o, key);
    if (!v) return dflt;
    if (!cJSON_IsNumber(v)) {
        if (!x->failed) rv_fail(x->err, "%s: %s%s must be a number", x->where, sect, key);
        x->failed = 1;
        return dflt;
    }
    return v->valuedouble;
}

static bool jbool(jctx *x, const cJSON *o, const char *key, const char *sect, bool dflt, bool *present) {
    const cJSON *v = jget(o, key);
    if (present) *present = v != NULL;
    if (!v) return dflt;
    if (!cJSON_IsBool(v)) {
        if (!x->failed) rv_fail(x->err, "%s: %s%s must be true or false", x->where, sect, key);
        x->failed = 1;
        return dflt;
    }
    return cJSON_IsTrue(v);
}

static const char *jstr(jctx *x, const cJSON *o, const char *key, const char *sect, const char *dflt) {
    const cJSON *v = jget(o, key);
    if (!v) return dflt;
    if (!cJSON_IsString(v)) {
        if (!x->failed) rv_fail(x->err, "%s: %s%s must be a string", x->where, sect, key);
        x->failed = 1;
        return dflt;
    }
    return v->valuestring;
}

static int parse_act(jctx *x, const char *s, const char *key, rv_act *out) {
    if (strcmp(s, "gelu") == 0) *out = RV_ACT_GELU_ERF;
    else if (strcmp(s, "gelu_pytorch_tanh") == 0 || strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_fast") == 0)
        *out = RV_ACT_GELU_TANH;
    else if (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0) *out = RV_ACT_SILU;
    else {
        if (!x->failed)
            rv_fail(x->err, "%s: %s = \"%s\" is not supported: use gelu, gelu_pytorch_tanh or silu", x->where, key, s);
        x->failed = 1;
        return -1;
    }
    return 0;
}

static const char *act_name(rv_act a) {
    switch (a) {
    case RV_ACT_GELU_ERF: return "gelu";
    case RV_ACT_GELU_TANH: return "gelu_pytorch_tanh";
    case RV_ACT_SILU: return "silu";
    }
    return "?";
}

static int parse_root(jctx *x, const cJSON *root, rv_model_cfg *c) {
    if (!cJSON_IsObject(root)) return rv_fail(x->err, "%s: config.json must hold a JSON object", x->where);
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "hf");
    const char *mt = jstr(x, root, "model_type", "", "llava_onevision");
    if (strcmp(mt, "llava_onevision") != 0 && strcmp(mt, "llava_next") != 0 && strcmp(mt, "llava") != 0)
        return rv_fail(x->err, "%s: model_type \"%s\" is not a LLaVA-OneVision config (expected llava_onevision); "
                               "convert lmms-lab checkpoints with the HF converter first", x->where, mt);

    /* vision_config: defaults of LlavaOnevisionConfig when absent, SiglipVisionConfig per key otherwise */
    const cJSON *vc = jget(root, "vision_config");
    rv_vision_cfg *v = &c->vision;
    if (!vc) {
        siglip_so400m_26(v);
    } else {
        const char *S = "vision_config.";
        v->hidden = jint(x, vc, "hidden_size", S, 768);
        v->layers = jint(x, vc, "num_hidden_layers", S, 12);
        v->heads = jint(x, vc, "num_attention_heads", S, 12);
        v->intermediate = jint(x, vc, "intermediate_size", S, 3072);
        v->patch = jint(x, vc, "patch_size", S, 16);
        v->image_size = jint(x, vc, "image_size", S, 224);
        v->channels = jint(x, vc, "num_channels", S, 3);
        v->ln_eps = (float)jnum(x, vc, "layer_norm_eps", S, 1e-6);
        parse_act(x, jstr(x, vc, "hidden_act", S, "gelu_pytorch_tanh"), "vision_config.hidden_act", &v->act);
        const char *vmt = jstr(x, vc, "model_type", S, "siglip_vision_model");
        if (strcmp(vmt, "siglip_vision_model") != 0 && !x->failed)
            return rv_fail(x->err, "%s: vision_config.model_type \"%s\" is not supported (SigLIP only)", x->where, vmt);
    }
    const cJSON *fl = jget(root, "vision_feature_layer");
    if (fl && cJSON_IsArray(fl))
        return rv_fail(x->err, "%s: vision_feature_layer as a list (multi-layer features) is not supported; use one "
                               "integer", x->where);
    v->feature_layer = jint(x, root, "vision_feature_layer", "", -1);
    const char *strat = jstr(x, root, "vision_feature_select_strategy", "", "full");
    if (strcmp(strat, "full") == 0) v->drop_first = false;
    else if (strcmp(strat, "default") == 0) v->drop_first = true;
    else if (!x->failed)
        return rv_fail(x->err, "%s: vision_feature_select_strategy \"%s\" must be full or default", x->where, strat);
    v->post_ln = false;

    /* text_config (Qwen2Config defaults per key) */
    const cJSON *tc = jget(root, "text_config");
    rv_text_cfg *t = &c->text;
    const char *T = "text_config.";
    const char *tmt = jstr(x, tc, "model_type", T, "qwen2");
    if (strcmp(tmt, "qwen2") != 0 && !x->failed)
        return rv_fail(x->err, "%s: text_config.model_type \"%s\" is not supported (qwen2 only)", x->where, tmt);
    t->hidden = jint(x, tc, "hidden_size", T, 4096);
    t->layers = jint(x, tc, "num_hidden_layers", T, 32);
    t->heads = jint(x, tc, "num_attention_heads", T, 32);
    t->kv_heads = jint(x, tc, "num_key_value_heads", T, t->heads);
    t->head_dim = jint(x, tc, "head_dim", T, t->heads > 0 ? t->hidden / t->heads : 0);
    t->intermediate = jint(x, tc, "intermediate_size", T, 22016);
    t->vocab = jint(x, tc, "vocab_size", T, 151936);
    t->rms_eps = (float)jnum(x, tc, "rms_norm_eps", T, 1e-6);
    double theta = jnum(x, tc, "rope_theta", T, 10000.0);
    const cJSON *rp = jget(tc, "rope_parameters");
    if (rp) {
        theta = jnum(x, rp, "rope_theta", "text_config.rope_parameters.", theta);
        const char *rt = jstr(x, rp, "rope_type", "text_config.rope_parameters.", "default");
        if (strcmp(rt, "default") != 0 && !x->failed)
            return rv_fail(x->err, "%s: text_config.rope_parameters.rope_type \"%s\" is not supported (default only)",
                           x->where, rt);
    }
    const cJSON *rs = jget(tc, "rope_scaling");
    if (rs && !x->failed)
        return rv_fail(x->err, "%s: text_config.rope_scaling is set; RoPE scaling is not supported", x->where);
    t->rope_theta = theta;
    t->max_pos = jint(x, tc, "max_position_embeddings", T, 32768);
    rv_act tact = RV_ACT_SILU;
    parse_act(x, jstr(x, tc, "hidden_act", T, "silu"), "text_config.hidden_act", &tact);
    if (tact != RV_ACT_SILU && !x->failed)
        return rv_fail(x->err, "%s: text_config.hidden_act must be silu (Qwen2 SwiGLU)", x->where);
    bool sw = jbool(x, tc, "use_sliding_window", T, false, NULL);
    if (sw && !x->failed)
        return rv_fail(x->err, "%s: text_config.use_sliding_window is true; sliding-window attention is not "
                               "supported", x->where);
    bool tie_top_present = false, tie_text_present = false;
    bool tie_top = jbool(x, root, "tie_word_embeddings", "", false, &tie_top_present);
    bool tie_text = jbool(x, tc, "tie_word_embeddings", T, false, &tie_text_present);
    t->tie_embeddings = tie_text_present ? tie_text : (tie_top_present ? tie_top : false);
    t->bos_id = jint(x, tc, "bos_token_id", T, 151643);
    t->eos_id = jint(x, tc, "eos_token_id", T, 151645);
    t->pad_id = jint(x, tc, "pad_token_id", T, t->bos_id);

    int img = jint(x, root, "image_token_index", "", -1);
    if (img < 0) img = jint(x, root, "image_token_id", "", 151646);
    c->image_token_id = img;
    parse_act(x, jstr(x, root, "projector_hidden_act", "", "gelu"), "projector_hidden_act", &c->proj_act);
    c->proj_bias = jbool(x, root, "multimodal_projector_bias", "", true, NULL);

    const char *ar = jstr(x, root, "vision_aspect_ratio", "", "anyres_max_9");
    if (strncmp(ar, "anyres_max_", 11) == 0) {
        char *end = NULL;
        long n = strtol(ar + 11, &end, 10);
        if (!end || *end || n <= 0 || n > 1000)
            return rv_fail(x->err, "%s: vision_aspect_ratio \"%s\": expected anyres_max_N with N in 1..1000", x->where,
                           ar);
        c->anyres_max = (int)n;
    } else if (strcmp(ar, "anyres") == 0) {
        c->anyres_max = 0;
    } else if (!x->failed) {
        return rv_fail(x->err, "%s: vision_aspect_ratio \"%s\" is not supported (anyres or anyres_max_N)", x->where, ar);
    }
    const cJSON *pp = jget(root, "image_grid_pinpoints");
    if (!pp) {
        set_pinpoints_grid(c, 384, 6);
    } else {
        if (!cJSON_IsArray(pp) || cJSON_GetArraySize(pp) < 1 || cJSON_GetArraySize(pp) > RV_MAX_PINPOINTS)
            return rv_fail(x->err, "%s: image_grid_pinpoints must be a list of 1..%d [h, w] pairs", x->where,
                           RV_MAX_PINPOINTS);
        const cJSON *e;
        cJSON_ArrayForEach(e, pp) {
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(e, 0)) ||
                !cJSON_IsNumber(cJSON_GetArrayItem(e, 1)))
                return rv_fail(x->err, "%s: image_grid_pinpoints[%d] must be a pair of integers [h, w]", x->where,
                               c->n_pinpoints);
            c->pinpoints[c->n_pinpoints][0] = (int)cJSON_GetArrayItem(e, 0)->valuedouble;
            c->pinpoints[c->n_pinpoints][1] = (int)cJSON_GetArrayItem(e, 1)->valuedouble;
            c->n_pinpoints++;
        }
    }
    if (x->failed) return -1;
    return rv_model_cfg_validate(c, x->err) ? rv_fail_wrap(x->err, "%s", x->where) : 0;
}

int rv_model_cfg_from_hf_text(const char *where, const char *json, size_t len, rv_model_cfg *c, rv_err *err) {
    cJSON *root = rv_json_parse(where, json, len, err);
    if (!root) return -1;
    jctx x = {where, err, 0};
    int rc = parse_root(&x, root, c);
    cJSON_Delete(root);
    return rc;
}

int rv_model_cfg_from_hf_file(const char *path, rv_model_cfg *c, rv_err *err) {
    cJSON *root = rv_json_parse_file(path, err);
    if (!root) return -1;
    jctx x = {path, err, 0};
    int rc = parse_root(&x, root, c);
    cJSON_Delete(root);
    return rc;
}

void rv_model_cfg_to_hf_json(const rv_model_cfg *c, rv_sb *o) {
    const rv_vision_cfg *v = &c->vision;
    const rv_text_cfg *t = &c->text;
    rv_sb_printf(o, "{\n  \"architectures\": [\"LlavaOnevisionForConditionalGeneration\"],\n");
    rv_sb_printf(o, "  \"model_type\": \"llava_onevision\",\n");
    rv_sb_printf(o, "  \"image_token_index\": %d,\n", c->image_token_id);
    rv_sb_printf(o, "  \"projector_hidden_act\": \"%s\",\n", act_name(c->proj_act));
    rv_sb_printf(o, "  \"multimodal_projector_bias\": %s,\n", c->proj_bias ? "true" : "false");
    rv_sb_printf(o, "  \"vision_feature_layer\": %d,\n", v->feature_layer);
    rv_sb_printf(o, "  \"vision_feature_select_strategy\": \"%s\",\n", v->drop_first ? "default" : "full");
    if (c->anyres_max > 0) rv_sb_printf(o, "  \"vision_aspect_ratio\": \"anyres_max_%d\",\n", c->anyres_max);
    else rv_sb_printf(o, "  \"vision_aspect_ratio\": \"anyres\",\n");
    rv_sb_printf(o, "  \"image_grid_pinpoints\": [");
    for (int i = 0; i < c->n_pinpoints; i++)
        rv_sb_printf(o, "%s[%d, %d]", i ? ", " : "", c->pinpoints[i][0], c->pinpoints[i][1]);
    rv_sb_printf(o, "],\n");
    rv_sb_printf(o, "  \"tie_word_embeddings\": %s,\n", t->tie_embeddings ? "true" : "false");
    rv_sb_printf(o, "  \"torch_dtype\": \"float32\",\n");
    rv_sb_printf(o, "  \"text_config\": {\n    \"model_type\": \"qwen2\",\n");
    rv_sb_printf(o, "    \"hidden_size\": %d,\n    \"num_hidden_layers\": %d,\n", t->hidden, t->layers);
    rv_sb_printf(o, "    \"num_attention_heads\": %d,\n    \"num_key_value_heads\": %d,\n", t->heads, t->kv_heads);
    rv_sb_printf(o, "    \"head_dim\": %d,\n    \"intermediate_size\": %d,\n", t->head_dim, t->intermediate);
    rv_sb_printf(o, "    \"vocab_size\": %d,\n    \"rms_norm_eps\": %.9g,\n", t->vocab, (double)t->rms_eps);
    rv_sb_printf(o, "    \"rope_theta\": %.17g,\n    \"max_position_embeddings\": %d,\n", t->rope_theta, t->max_pos);
    rv_sb_printf(o, "    \"hidden_act\": \"silu\",\n    \"use_sliding_window\": false,\n");
    rv_sb_printf(o, "    \"tie_word_embeddings\": %s,\n", t->tie_embeddings ? "true" : "false");
    rv_sb_printf(o, "    \"bos_token_id\": %d,\n    \"eos_token_id\": %d,\n    \"pad_token_id\": %d\n  },\n", t->bos_id,
                 t->eos_id, t->pad_id);
    rv_sb_printf(o, "  \"vision_config\": {\n    \"model_type\": \"siglip_vision_model\",\n");
    rv_sb_printf(o, "    \"hidden_size\": %d,\n    \"num_hidden_layers\": %d,\n", v->hidden, v->layers);
    rv_sb_printf(o, "    \"num_attention_heads\": %d,\n    \"intermediate_size\": %d,\n", v->heads, v->intermediate);
    rv_sb_printf(o, "    \"patch_size\": %d,\n    \"image_size\": %d,\n    \"num_channels\": %d,\n", v->patch,
                 v->image_size, v->channels);
    rv_sb_printf(o, "    \"layer_norm_eps\": %.9g,\n    \"hidden_act\": \"%s\",\n    \"vision_use_head\": false\n  }\n}\n",
                 (double)v->ln_eps, act_name(v->act));
}

int rv_vision_grid(const rv_vision_cfg *v) { return v->patch > 0 ? v->image_size / v->patch : 0; }

int rv_vision_run_layers(const rv_vision_cfg *v) {
    return v->feature_layer >= 0 ? v->feature_layer : v->layers + 1 + v->feature_layer;
}

int rv_model_cfg_validate(const rv_model_cfg *c, rv_err *err) {
    const rv_vision_cfg *v = &c->vision;
    const rv_text_cfg *t = &c->text;
#define NEED(cond, ...) \
    do {                \
        if (!(cond)) return rv_fail(err, __VA_ARGS__); \
    } while (0)
    NEED(v->hidden > 0 && v->layers > 0 && v->heads > 0 && v->intermediate > 0,
         "vision_config: hidden_size, num_hidden_layers, num_attention_heads, intermediate_size must be > 0");
    NEED(v->hidden % v->heads == 0, "vision_config.hidden_size %d is not a multiple of num_attention_heads %d",
         v->hidden, v->heads);
    NEED(v->patch > 0 && v->image_size >= v->patch && v->channels > 0,
         "vision_config: patch_size %d / image_size %d / num_channels %d are inconsistent", v->patch, v->image_size,
         v->channels);
    int run = rv_vision_run_layers(v);
    NEED(run >= 0 && run <= v->layers, "vision_feature_layer %d is outside the %d-layer vision tower",
         v->feature_layer, v->layers);
    NEED(t->hidden > 0 && t->layers > 0 && t->heads > 0 && t->kv_heads > 0 && t->intermediate > 0 && t->vocab > 0,
         "text_config: sizes must be > 0");
    NEED(t->heads % t->kv_heads == 0, "text_config.num_attention_heads %d is not a multiple of num_key_value_heads %d",
         t->heads, t->kv_heads);
    NEED(t->head_dim > 0 && t->head_dim % 2 == 0, "text_config.head_dim %d must be even and > 0 (RoPE pairs)",
         t->head_dim);
    NEED(t->rope_theta > 0, "text_config.rope_theta must be > 0");
    NEED(c->image_token_id >= 0 && c->image_token_id < t->vocab,
         "image_token_index %d is outside the vocabulary (vocab_size %d)", c->image_token_id, t->vocab);
    NEED(c->n_pinpoints >= 1, "image_grid_pinpoints is empty");
    for (int i = 0; i < c->n_pinpoints; i++)
        NEED(c->pinpoints[i][0] > 0 && c->pinpoints[i][1] > 0 && c->pinpoints[i][0] % v->image_size == 0 &&
                 c->pinpoints[i][1] % v->image_size == 0,
             "image_grid_pinpoints[%d] = [%d, %d] is not a multiple of the tile size %d", i, c->pinpoints[i][0],
             c->pinpoints[i][1], v->image_size);
#undef NEED
    return 0;
}
