/* Batched generation with a KV cache: the prompts (with their images) are prefilled together,
 * then one token per live sequence per step. Greedy when temperature <= 0, otherwise
 * temperature -> top-k -> top-p filtering (the transformers order) and a draw from the
 * counter-based RNG: sequence b uses stream (seed, stream, b), so its tokens do not depend on
 * what else is in the batch. The choice runs on the device logits (rvk_sample); only the ids are
 * downloaded. All buffers, the KV cache included, come from the model's activation plan. */
#ifndef RADVLM_MODEL_GENERATE_H
#define RADVLM_MODEL_GENERATE_H

#include <stdint.h>

#include "model/vlm.h"

typedef struct rv_gen_opts {
    int max_new_tokens;      /* > 0 */
    float temperature;       /* <= 0: greedy (argmax, first index on ties) */
    float top_p;             /* (0, 1]; >= 1 disables */
    int top_k;               /* <= 0 disables */
    const int32_t *stop_ids; /* generation of a sequence ends after emitting one of these */
    int n_stop;
    uint64_t seed;
    uint32_t stream;
} rv_gen_opts;

typedef struct rv_gen_out {
    int32_t *tokens;         /* malloc'd new tokens (a final stop token included) */
    int n;
    int stopped;             /* 1: ended on a stop token; 0: hit max_new_tokens */
} rv_gen_out;

/* out: [B], filled on success (free each tokens). Prompts use rv_sample (mask ignored). */
int rv_vlm_generate(rv_vlm *m, const rv_sample *prompts, int B, const rv_gen_opts *o, rv_gen_out *out, rv_err *err);
void rv_gen_out_free(rv_gen_out *out, int B);

#endif
