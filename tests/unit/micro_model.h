/* Test helper: a micro LLaVA-OneVision config (the tiny preset shrunk so a full model with anyres
 * images runs in milliseconds): 28 x 28 tiles of 7 x 7 patches, three pinpoints, vocabulary 40. */
#ifndef RADVLM_TESTS_MICRO_MODEL_H
#define RADVLM_TESTS_MICRO_MODEL_H

#include <string.h>

#include "model/config.h"

static inline void micro_model_cfg(rv_model_cfg *c) {
    rv_err e;
    rv_model_cfg_preset("tiny", c, &e);
    rv_vision_cfg *v = &c->vision;
    v->hidden = 16; v->layers = 3; v->heads = 2; v->intermediate = 24; v->patch = 7; v->image_size = 28;
    rv_text_cfg *t = &c->text;
    t->hidden = 24; t->layers = 3; t->heads = 4; t->kv_heads = 2; t->head_dim = 8; t->intermediate = 40;
    t->vocab = 40; t->tie_embeddings = false; t->rope_theta = 10000.0;
    c->image_token_id = 39;
    c->anyres_max = 1;
    c->n_pinpoints = 3;
    int pp[3][2] = {{28, 28}, {28, 56}, {28, 84}};
    memcpy(c->pinpoints, pp, sizeof pp);
}

#endif
