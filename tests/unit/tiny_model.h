/* Test helper: the tiny preset with random weights on a one-thread CPU context, and random
 * text-only prompts — the setup the generation and GRPO tests share. */
#ifndef RADVLM_TESTS_TINY_MODEL_H
#define RADVLM_TESTS_TINY_MODEL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "model/config.h"
#include "model/vlm.h"
#include "model/weights.h"

typedef struct tiny_model {
    rv_model_cfg cfg;
    rv_kctx *k;
    rv_weights w;
    rv_vlm m;
} tiny_model;

/* layers: decoder layers (0 = the preset's); weights ~ N(0, std) from seed. Exits on failure. */
static inline void tiny_model_open(tiny_model *t, int layers, uint64_t seed, float std, bool want_grads) {
    rv_err e;
    if (rv_model_cfg_preset("tiny", &t->cfg, &e) || (layers > 0 && (t->cfg.text.layers = layers, 0)) ||
        rvk_create(&t->k, "cpu", &(rvk_cpu_opts){.nthreads = 1}, &e) || rv_weights_build(&t->w, &t->cfg, t->k, &e) ||
        rv_weights_init_random(&t->w, seed, std, &e) || rv_vlm_init(&t->m, t->k, &t->cfg, &t->w, want_grads, &e)) {
        fprintf(stderr, "tiny model: %s\n", e.msg);
        exit(1);
    }
}

static inline void tiny_model_close(tiny_model *t) {
    rv_vlm_free(&t->m);
    rv_weights_free(&t->w);
    rvk_destroy(t->k);
}

/* n text-only prompts; prompt i has len0 + i * step tokens, drawn from ids 4..2003 with seed.
 * ids must hold n * (len0 + (n - 1) * step) ints. */
static inline void tiny_text_prompts(rv_sample *s, int32_t *ids, int n, int len0, int step, uint64_t seed) {
    rv_rng r;
    rv_rng_init(&r, seed, 0, 0);
    int32_t *at = ids;
    for (int i = 0; i < n; i++) {
        int len = len0 + i * step;
        for (int t = 0; t < len; t++) at[t] = 4 + (int32_t)rv_rng_below(&r, 2000);
        s[i] = (rv_sample){.ids = at, .len = len};
        at += len;
    }
}

#endif
