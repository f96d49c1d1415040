/* LLaVA-OneVision vision-language model: the API the train, GRPO and eval phases call.
 *
 *   rv_vlm m;  rv_vlm_init(&m, &kctx, &cfg, &weights, want_grads, &err);
 *   - training (SFT):  rv_vlm_forward(&m, samples, n, true, &pass) -> per-token log-probs;
 *                      rv_vlm_backward(&m, pass, dlogp) accumulates into weights.grads
 *                      (rv_vlm_sft_dlogp builds dlogp for the masked mean cross-entropy);
 *   - scoring / GRPO:  rv_vlm_forward(..., keep = false / true) and rv_vlm_pass_logp;
 *   - generation:      model/generate.h.
 *
 * Memory: every backend buffer of a forward, backward or generate call comes from one activation
 * plan sized once from the config and the largest batch (rv_vlm_plan; model.md "Activation
 * plan") and reused, so a steady-state micro-step or generated token allocates nothing. Without
 * rv_vlm_plan the first call sizes it, and a larger batch grows it. One pass is live at a time:
 * free it (rv_vlm_pass_free) before the next forward or generate call.
 *
 * A batch is n samples packed into one token stream (attention never crosses samples). Each
 * sample's ids already hold each image's placeholder run: rv_vlm_image_tokens says how long
 * the run is (data/loader/placeholders.h does the expansion). Image rows replace the
 * placeholder positions in order (HF masked_scatter semantics); positions run 0..len-1 over
 * text and image rows alike. */
#ifndef RADVLM_MODEL_VLM_H
#define RADVLM_MODEL_VLM_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "model/config.h"
#include "model/layers.h"
#include "model/weights.h"

typedef struct rv_vlm_image {
    const float *tiles;   /* host memory [n_tiles, channels, S, S], normalized pixels (model.md §3) */
    int n_tiles;          /* 1 (base tile only) or 1 + nph*npw (anyres: base + grid tiles, row-major) */
    int orig_h, orig_w;   /* original image size in pixels (anyres packing); unused when n_tiles == 1 */
} rv_vlm_image;

typedef struct rv_sample {
    const int32_t *ids;   /* host memory [len] */
    int len;
    /* Loss/score mask: mask[t] != 0 means token t is a target (predicted from position t-1);
     * mask[0] is ignored. NULL: every token 1..len-1 is a target. Only targets get log-probs. */
    const uint8_t *mask;
    const rv_vlm_image *images;
    int n_images;
} rv_sample;

/* What the activation plan is sized for. */
typedef struct rv_vlm_limits {
    int max_tokens;  /* packed tokens of one forward (sum of sample lengths) or one generate prefill */
    int max_tiles;   /* image tiles of one forward or prefill (0: text only) */
    int max_seqs;    /* samples of one forward, prompts of one generate call */
    int max_cache;   /* KV-cache rows per sequence (longest prompt + max_new_tokens); 0: no generation */
    bool fixed;      /* true: a batch beyond a limit fails; false: the plan grows to fit it */
} rv_vlm_limits;

/* Activation memory of the training layout (model.md "Activation plan"). Zero = the default:
 * every layer's activations kept, fp32. */
typedef enum rv_recompute {
    RV_RECOMPUTE_NONE = 0,   /* compute.recompute = none */
    RV_RECOMPUTE_LAYERS = 1  /* compute.recompute = layers: keep each layer's input only and re-run
                              * the layer's forward right before its backward (decoder and tower) */
} rv_recompute;
typedef struct rv_vlm_memory {
    rv_recompute recompute;
    bool ckpt_bf16;          /* compute.activation_dtype = bf16: the layer inputs kept as bf16 (half the
                              * bytes); needs RV_RECOMPUTE_LAYERS. The forward then rounds every layer
                              * input to bf16, so the numbers differ from fp32 (within bf16 precision) */
} rv_vlm_memory;

/* Reads the two config values ("none"|"layers", "f32"|"bf16"); an unknown value, or bf16
 * without layers, is an error naming the keys. */
int rv_vlm_memory_parse(const char *recompute, const char *activation_dtype, rv_vlm_memory *out, rv_err *err);

struct rv_act_plan;

typedef struct rv_vlm {
    rv_model_cfg cfg;
    rv_kctx *k;
    rv_weights *w;        /* not owned */
    rv_vision vis;
    rv_projector proj;
    rv_decoder dec;
    bool grads;           /* bound with gradient pointers */
    rv_vlm_memory mem;    /* the training layout's activation memory (rv_vlm_set_memory) */
    struct rv_act_plan *plan; /* activation plan (NULL until the first call or rv_vlm_plan) */
} rv_vlm;

/* Binds the model to a weights table built from cfg (rv_weights_build + import or init).
 * want_grads allocates w->grads (if needed) so backward can run. */
int rv_vlm_init(rv_vlm *m, rv_kctx *k, const rv_model_cfg *cfg, rv_weights *w, bool want_grads, rv_err *err);
void rv_vlm_free(rv_vlm *m);

/* Chooses how the training layout keeps activations (before planning, or between passes: an
 * existing plan is rebuilt with the same limits). Fails for bf16 without recomputation or
 * while a pass is live. Models without gradients (inference layout) are unaffected. */
int rv_vlm_set_memory(rv_vlm *m, const rv_vlm_memory *o, rv_err *err);

/* Sizes the activation plan for these limits now (one backend allocation), replacing any plan.
 * A model with gradients gets the training layout (every layer's activations kept for backward,
 * or only the layer inputs with recomputation: rv_vlm_set_memory), otherwise the inference one (one layer's buffers reused by every layer). Fails while a pass is
 * live or when a limit is negative / max_tokens or max_seqs < 1. */
int rv_vlm_plan(rv_vlm *m, const rv_vlm_limits *lim, rv_err *err);
/* Backend bytes a plan with these limits takes for m, with m->mem (the memory formula of model.md). */
size_t rv_vlm_plan_bytes(const rv_vlm *m, const rv_vlm_limits *lim);
typedef struct rv_vlm_plan_info {
    rv_vlm_limits lim;  /* the current limits (all 0 before the first plan) */
    size_t bytes;       /* backend bytes held */
    int builds;         /* backend allocations made for the plan so far (1 after planning once) */
    bool train;         /* training layout */
    rv_vlm_memory mem;  /* how it keeps activations (train) */
} rv_vlm_plan_info;
void rv_vlm_plan_get(const rv_vlm *m, rv_vlm_plan_info *out);

/* ---- images ---- */

/* Best (h, w) canvas among the pinpoints for an orig_h x orig_w image (HF select_best_resolution). */
void rv_vlm_best_resolution(const rv_model_cfg *c, int orig_h, int orig_w, int *best_h, int *best_w);
/* Number of tiles the anyres preprocessing makes for this image (1 + grid tiles). */
int rv_vlm_image_tiles(const rv_model_cfg *c, int orig_h, int orig_w);
/* Number of placeholder tokens one image occupies: with n_tiles == 1, grid^2 + 1 (base +
 * newline); otherwise base + unpadded (and anyres_max-capped) grid rows, each with a newline. */
int rv_vlm_image_tokens(const rv_model_cfg *c, int n_tiles, int orig_h, int orig_w);
/* ---- forward / backward ---- */

typedef struct rv_vlm_pass rv_vlm_pass;

/* Forward over n samples. keep = true saves activations for rv_vlm_backward (needs grads);
 * false keeps only what log-probs and logits need. The pass uses the plan's buffers until
 * rv_vlm_pass_free; a second forward while one is live fails. */
int rv_vlm_forward(rv_vlm *m, const rv_sample *s, int n, bool keep, rv_vlm_pass **out, rv_err *err);
/* logp of sample i: [len] host array; logp[t] = log p(ids[t] | ids[<t]) for targets, 0 elsewhere. */
const float *rv_vlm_pass_logp(const rv_vlm_pass *p, int i);
/* Full logits of sample i, [len, vocab] row t = distribution of token t+1 (host, caller-sized). */
int rv_vlm_pass_logits(rv_vlm *m, const rv_vlm_pass *p, int i, float *out, rv_err *err);
/* dlogp[i]: [len_i] host array, dL/dlogp[t] (only targets are read). Accumulates every
 * parameter's gradient into m->w->grads. The pass stays valid (free it afterwards). */
int rv_vlm_backward(rv_vlm *m, rv_vlm_pass *p, const float *const *dlogp, rv_err *err);
void rv_vlm_pass_free(rv_vlm *m, rv_vlm_pass *p);

/* Masked mean cross-entropy (HF ForCausalLM loss) of one sample scaled by `weight`:
 * loss = weight * sum_t(-logp[t]) / n_targets, dlogp[t] = -weight / n_targets on targets.
 * Returns the sample's unscaled mean loss (0 when it has no targets). dlogp: [len]. */
double rv_vlm_sft_dlogp(const rv_vlm_pass *p, int i, float weight, float *dlogp);

/* Convenience: forward + masked-mean CE + backward for n samples; the objective is the mean
 * over samples of each sample's token-mean loss (train.md A.5). *loss gets that mean. */
int rv_vlm_sft_step(rv_vlm *m, const rv_sample *s, int n, double *loss, rv_err *err);

/* Embeds n samples (token rows + image rows, no decoder) into x0 [sum of len, D] (backend
 * memory, caller-allocated). Used by generation for the prompt prefill. */
int rv_vlm_embed(rv_vlm *m, const rv_sample *s, int n, float *x0, rv_err *err);

#endif
