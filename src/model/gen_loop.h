/* Continuous-batching generation over a queue of prompts (model.md "Generation loop"): a fixed
 * number of slots decode together with the KV cache; when a sequence ends (stop token or
 * max_new_tokens) its slot is refilled with the next prompt of the queue, whose prefill runs in
 * the same step as the other slots' next tokens. Sampling draws are keyed by (seed, prompt id,
 * step), and every kernel works row by row, so a prompt's tokens and log-probs do not depend on
 * the slot, the number of slots or the order of the queue (bitwise on CPU). Each generated token
 * comes with its log-prob under the model (log softmax of the raw logits, temperature 1: what
 * GRPO's ratio needs), computed on the device from the step's logits (rvk_token_logp); only
 * the ids and log-probs leave the device. All backend buffers come from the activation plan
 * (slots x (longest prompt + max_new_tokens) KV rows), so a steady-state token allocates nothing.
 * Used by the eval phase (greedy) and GRPO rollouts (sampled). */
#ifndef RADVLM_MODEL_GEN_LOOP_H
#define RADVLM_MODEL_GEN_LOOP_H

#include <stdint.h>

#include "model/vlm.h"

typedef struct rv_gen_result {
    int32_t *tokens;   /* [n] new tokens, a final stop token included */
    float *logp;       /* [n] logp[t] = log softmax(logits at temperature 1)[tokens[t]] */
    int n;
    int stopped;       /* 1: ended on a stop token; 0: hit max_new_tokens */
    double seconds;    /* wall time from the prompt's admission (its prefill) to its last token */
} rv_gen_result;

/* Called when prompt i (queue index) finishes; r and its arrays are valid during the call only. */
typedef void (*rv_gen_done_fn)(void *ctx, int i, const rv_gen_result *r);

typedef struct rv_gen_loop_opts {
    int slots;               /* > 0: sequences decoding together (eval.batch) */
    int max_new_tokens;      /* > 0 */
    float temperature;       /* <= 0: greedy (argmax, first index on ties), the default */
    float top_p;             /* (0, 1]; >= 1 disables */
    int top_k;               /* <= 0 disables */
    const int32_t *stop_ids; /* a sequence ends after emitting one of these (<|im_end|>, EOS) */
    int n_stop;
    uint64_t seed;           /* with the prompt id and the step, names every draw */
    const int32_t *ban_ids;  /* never chosen (their logits are set to -inf first); GRPO bans the image
                                placeholder, since a response holding it cannot be trained on */
    int n_ban;
    rv_gen_done_fn on_done;  /* may be NULL */
    void *ctx;
} rv_gen_loop_opts;

/* prompts: [n] (rv_sample; mask ignored), taken in queue order; ids: [n] stable per-prompt ids
 * (the RNG key; e.g. the sample's dataset index). out: [n] or NULL (callback only); on success
 * out[i] holds malloc'd arrays (rv_gen_results_free). On failure out holds nothing. */
int rv_gen_loop(rv_vlm *m, const rv_sample *prompts, const uint64_t *ids, int n, const rv_gen_loop_opts *o,
                rv_gen_result *out, rv_err *err);
void rv_gen_results_free(rv_gen_result *out, int n);

#endif
