/* Model config and weights table against the numbers of reference/model.md and train.md:
 * parameter totals (§9.1), image token counts (§5.5, train.md A.9), HF config.json parsing
 * (both spellings of renamed keys), the writer round trip, name aliases (§9.2), errors. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model/vlm.h"

static size_t total_params(const char *preset, size_t *vision) {
    rv_model_cfg c;
    rv_weights w;
    rv_err e;
    if (rv_model_cfg_preset(preset, &c, &e) || rv_weights_layout(&w, &c, &e)) return 0;
    size_t n = rv_weights_numel(&w, -1, 0);
    *vision = rv_weights_numel(&w, RV_MOD_VISION, 0);
    rv_weights_free(&w);
    return n;
}

int main(void) {
    rv_err e;
    size_t vis;
    /* model.md §9.1 totals (checkpoint tensors, post_layernorm included, 0.5B tied) */
    CHECK(total_params("0.5b", &vis) == 893675552u);
    CHECK(vis == 397747744u);
    CHECK(total_params("7b", &vis) == 8030807584u);

    rv_model_cfg c;
    CHECK(rv_model_cfg_preset("0.5b", &c, &e) == 0);
    /* model.md §5.5 and train.md A.9 worked examples; sizes are H x W */
    CHECK(rv_vlm_image_tiles(&c, 384, 384) == 2);
    CHECK(rv_vlm_image_tokens(&c, 2, 384, 384) == 1485);
    CHECK(rv_vlm_image_tiles(&c, 899, 1024) == 10);
    CHECK(rv_vlm_image_tokens(&c, 10, 899, 1024) == 6551);
    CHECK(rv_vlm_image_tokens(&c, rv_vlm_image_tiles(&c, 2304, 2304), 2304, 2304) == 7371);
    CHECK(rv_vlm_image_tiles(&c, 3056, 2544) == 31);
    CHECK(rv_vlm_image_tokens(&c, 31, 3056, 2544) == 7241);
    CHECK(rv_vlm_image_tokens(&c, rv_vlm_image_tiles(&c, 2544, 3056), 2544, 3056) == 7226);
    CHECK(rv_vlm_image_tokens(&c, rv_vlm_image_tiles(&c, 1024, 1024), 1024, 1024) == 7371);
    CHECK(rv_vlm_image_tokens(&c, rv_vlm_image_tiles(&c, 512, 512), 512, 512) == 3699);
    CHECK(rv_vlm_image_tokens(&c, 1, 0, 0) == 729 + 1);
    CHECK(rv_vlm_image_tokens(&c, 3, 384, 384) == -1); /* tile count inconsistent with the size */
    int bh, bw;
    rv_vlm_best_resolution(&c, 899, 1024, &bh, &bw);
    CHECK(bh == 1152 && bw == 1152);

    /* weights table: names, flags, tying */
    rv_weights w;
    rv_kctx *k;
    CHECK(rvk_create(&k, "cpu", NULL, &e) == 0);
    CHECK(rv_model_cfg_preset("tiny", &c, &e) == 0);
    CHECK(rv_weights_build(&w, &c, k, &e) == 0);
    const rv_wtensor *t = rv_weights_get(&w, "language_model.model.layers.1.self_attn.k_proj.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 * 32 && t->shape[1] == 128 && t->module == RV_MOD_LM);
    CHECK(t && (t->flags & RV_WF_DECAY));
    t = rv_weights_get(&w, "vision_tower.vision_model.post_layernorm.weight");
    CHECK(t && (t->flags & RV_WF_UNUSED) && !(t->flags & RV_WF_DECAY) && t->module == RV_MOD_VISION);
    CHECK(rv_weights_get(&w, "language_model.lm_head.weight") == NULL); /* tied */
    CHECK(rv_weights_get(&w, "image_newline")->module == RV_MOD_PROJECTOR);
    CHECK(rv_weights_find(&w, "no.such.tensor") < 0);
    for (size_t i = 0; i < w.n; i++) CHECK(w.t[i].offset % 16 == 0 && w.t[i].offset + w.t[i].numel <= w.total);
    CHECK(rv_weights_init_random(&w, 5, 0.02f, &e) == 0);
    float v[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* parameters live on the backend: read them by download */
    rvk_download(k, v, rv_weights_param(&w, "language_model.model.norm.weight"), 4);
    CHECK(v[3] == 1.0f);
    v[0] = 9.0f;
    rvk_download(k, v, rv_weights_param(&w, "language_model.model.layers.0.self_attn.q_proj.bias"), 1);
    CHECK(v[0] == 0.0f);
    rv_weights_free(&w);
    rvk_destroy(k);

    /* aliases (model.md §9.2) */
    char nm[256];
    CHECK(rv_weights_canonical_name("model.language_model.layers.3.mlp.up_proj.weight", nm, sizeof nm) == 1);
    CHECK_STR(nm, "language_model.model.layers.3.mlp.up_proj.weight");
    CHECK(rv_weights_canonical_name("model.mm_projector.2.bias", nm, sizeof nm) == 1);
    CHECK_STR(nm, "multi_modal_projector.linear_2.bias");
    CHECK(rv_weights_canonical_name("model.vision_tower.vision_tower.vision_model.post_layernorm.bias", nm, sizeof nm) == 1);
    CHECK_STR(nm, "vision_tower.vision_model.post_layernorm.bias");
    CHECK(rv_weights_canonical_name("model.layers.0.self_attn.rotary_emb.inv_freq", nm, sizeof nm) == -1);
    CHECK(rv_weights_canonical_name("lm_head.weight", nm, sizeof nm) == 1);
    CHECK_STR(nm, "language_model.lm_head.weight");
    CHECK(rv_weights_canonical_name("image_newline", nm, sizeof nm) == 0);
    /* transformers 5.x save_pretrained drops SigLIP's vision_model wrapper */
    CHECK(rv_weights_canonical_name("vision_tower.embeddings.patch_embedding.bias", nm, sizeof nm) == 1);
    CHECK_STR(nm, "vision_tower.vision_model.embeddings.patch_embedding.bias");
    CHECK(rv_weights_canonical_name("model.vision_tower.encoder.layers.1.mlp.fc1.weight", nm, sizeof nm) == 1);
    CHECK_STR(nm, "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight");
    CHECK(rv_weights_canonical_name("vision_tower.vision_model.post_layernorm.bias", nm, sizeof nm) == 0);

    /* HF config.json: newer spellings (image_token_id, rope_parameters), SigLIP defaults */
    const char *js = "{\"model_type\":\"llava_onevision\",\"image_token_id\":151646,"
                     "\"vision_aspect_ratio\":\"anyres_max_9\",\"vision_feature_layer\":-1,"
                     "\"text_config\":{\"model_type\":\"qwen2\",\"hidden_size\":896,\"num_hidden_layers\":24,"
                     "\"num_attention_heads\":14,\"num_key_value_heads\":2,\"intermediate_size\":4864,"
                     "\"vocab_size\":152000,\"rope_parameters\":{\"rope_theta\":1000000.0,\"rope_type\":\"default\"},"
                     "\"tie_word_embeddings\":true},"
                     "\"vision_config\":{\"model_type\":\"siglip_vision_model\",\"hidden_size\":1152,"
                     "\"image_size\":384,\"intermediate_size\":4304,\"num_attention_heads\":16,"
                     "\"num_hidden_layers\":26,\"patch_size\":14}}";
    CHECK(rv_model_cfg_from_hf_text("t.json", js, strlen(js), &c, &e) == 0);
    CHECK(c.image_token_id == 151646 && c.text.rope_theta == 1e6 && c.text.head_dim == 64 && c.text.tie_embeddings);
    CHECK(c.vision.act == RV_ACT_GELU_TANH && c.vision.ln_eps == 1e-6f && c.anyres_max == 9 && c.n_pinpoints == 36);
    CHECK(c.pinpoints[1][0] == 384 && c.pinpoints[1][1] == 768 && c.proj_act == RV_ACT_GELU_ERF && c.proj_bias);
    CHECK(total_params("0.5b", &vis) > 0);
    /* writer round trip */
    rv_sb sb;
    rv_sb_init(&sb);
    rv_model_cfg_to_hf_json(&c, &sb);
    rv_model_cfg c2;
    CHECK(rv_model_cfg_from_hf_text("round.json", sb.s, sb.len, &c2, &e) == 0);
    CHECK(memcmp(&c.vision, &c2.vision, sizeof c.vision) == 0);
    CHECK(memcmp(&c.text, &c2.text, sizeof c.text) == 0);
    CHECK(c2.n_pinpoints == 36 && c2.image_token_id == c.image_token_id && c2.anyres_max == 9);
    rv_sb_free(&sb);

    /* errors name the key */
    const char *bad1 = "{\"text_config\":{\"num_attention_heads\":14,\"num_key_value_heads\":3,\"hidden_size\":896}}";
    CHECK(rv_model_cfg_from_hf_text("b.json", bad1, strlen(bad1), &c, &e) == -1);
    CHECK(strstr(e.msg, "num_key_value_heads") != NULL);
    const char *bad2 = "{\"vision_aspect_ratio\":\"pad\"}";
    CHECK(rv_model_cfg_from_hf_text("b.json", bad2, strlen(bad2), &c, &e) == -1);
    CHECK(strstr(e.msg, "vision_aspect_ratio") != NULL);
    const char *bad3 = "{\"text_config\":{\"hidden_size\":\"big\"}}";
    CHECK(rv_model_cfg_from_hf_text("b.json", bad3, strlen(bad3), &c, &e) == -1);
    CHECK(strstr(e.msg, "text_config.hidden_size") != NULL);
    /* The benchmarks' 100m preset, counted by hand (tied 32000 x 768 embedding):
     *   per Qwen2 layer: q 768*768+768 + k,v 2*(768*128+128) + o 768*768 + MLP 3*768*2048 + 2 norms
     *                    = 590592 + 196864 + 589824 + 4718592 + 1536 = 6097408; x 12 = 73168896
     *   LM = 24576000 + 73168896 + final norm 768 = 97745664
     *   projector 384*768+768 + 768*768+768 = 886272, image_newline 768 */
    size_t vis100 = 0;
    CHECK(total_params("100m", &vis100) - vis100 == 97745664u + 886272u + 768u);
    CHECK(rv_model_cfg_preset("13b", &c, &e) == -1);
    return check_summary("test_model_config");
}
