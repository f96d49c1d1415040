/* LLaVA-OneVision model configuration: SigLIP vision tower, projector, Qwen2 decoder
 * (reference/model.md §2). Filled from a preset (tiny, 100m, 0.5b, 7b) or from a Hugging Face
 * llava_onevision config.json. Sizes read from a checkpoint always win over the preset: the
 * importer checks tensor shapes against the table built from this struct. */
#ifndef RADVLM_MODEL_CONFIG_H
#define RADVLM_MODEL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"

typedef enum rv_act {
    RV_ACT_GELU_ERF = 0,  /* HF "gelu": exact erf GELU (projector) */
    RV_ACT_GELU_TANH = 1, /* HF "gelu_pytorch_tanh" / "gelu_new" (SigLIP MLP) */
    RV_ACT_SILU = 2,      /* Qwen2 SwiGLU gate */
} rv_act;

typedef struct rv_vision_cfg {
    int hidden, layers, heads, intermediate;
    int patch, image_size, channels;
    float ln_eps;
    rv_act act;
    /* HF vision_feature_layer: negative counts from the end of hidden_states (-1 = output of
     * the last layer); 0 = the embeddings. run_layers() resolves it. */
    int feature_layer;
    bool post_ln;      /* apply post_layernorm to the features (HF LLaVA-OV never does) */
    bool drop_first;   /* vision_feature_select_strategy "default": drop token 0 (CLS); "full": keep */
} rv_vision_cfg;

typedef struct rv_text_cfg {
    int hidden, layers, heads, kv_heads, head_dim, intermediate, vocab;
    float rms_eps;
    double rope_theta;
    int max_pos;
    bool tie_embeddings;   /* lm_head shares embed_tokens (0.5B); no lm_head tensor then */
    int bos_id, eos_id, pad_id;
} rv_text_cfg;

#define RV_MAX_PINPOINTS 64

typedef struct rv_model_cfg {
    char name[32];             /* preset name or "hf" */
    rv_vision_cfg vision;
    rv_text_cfg text;
    int image_token_id;        /* the expanded <image> placeholder id (151646 in llava-hf) */
    rv_act proj_act;
    bool proj_bias;
    /* Image packing (model.md §5): "anyres_max_N" (tiling, unpad, cap at N tiles' worth of
     * tokens; anyres_max = 0 means plain "anyres", no cap). */
    int anyres_max;
    int n_pinpoints;
    int pinpoints[RV_MAX_PINPOINTS][2]; /* [h, w] in pixels */
} rv_model_cfg;

/* Presets: "tiny" (tests and the demo; vocab and image_token_id are usually replaced by the
 * caller from its tokenizer), "0.5b", "7b" (llava-hf llava-onevision-qwen2-*-hf sizes). */
int rv_model_cfg_preset(const char *name, rv_model_cfg *c, rv_err *err);

/* Parses an HF llava_onevision config.json (text_config / vision_config; both spellings of the
 * renamed keys: image_token_id, rope_parameters.rope_theta). Missing keys take the transformers
 * class defaults. */
int rv_model_cfg_from_hf_file(const char *path, rv_model_cfg *c, rv_err *err);
int rv_model_cfg_from_hf_text(const char *where, const char *json, size_t len, rv_model_cfg *c, rv_err *err);

/* Writes an HF-style config.json (llava-hf layout) that rv_model_cfg_from_hf_* reads back. */
void rv_model_cfg_to_hf_json(const rv_model_cfg *c, rv_sb *out);

/* Consistency checks (divisibility, positivity); the message names the offending key. */
int rv_model_cfg_validate(const rv_model_cfg *c, rv_err *err);

/* Number of SigLIP encoder layers actually run to reach the feature layer. */
int rv_vision_run_layers(const rv_vision_cfg *v);
/* Patches per tile side (image_size / patch) and per tile. */
int rv_vision_grid(const rv_vision_cfg *v);

#endif
