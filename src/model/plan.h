/* The activation plan of a rv_vlm (model.md "Activation plan"): every backend buffer a forward,
 * backward or generate call needs, carved once from one backend allocation sized from the model
 * config and the largest batch (rv_vlm_limits), and reused by every later call, as llm.c does.
 * Internal to src/model/ (vlm.c builds it, generate.c uses the generation part). */
#ifndef RADVLM_MODEL_PLAN_H
#define RADVLM_MODEL_PLAN_H

#include "model/layers.h"
#include "model/vlm.h"

typedef struct rv_act_plan {
    rv_vlm_limits lim;     /* what the buffers hold */
    bool train;            /* training layout (per-layer activations + backward scratch) */
    rv_vlm_memory actmem;  /* its activation memory (recompute, checkpoint dtype) */
    rvk_buf buf;           /* the one backend allocation */
    float *mem;            /* rvk_buf_f32(&buf) */
    size_t floats;         /* its size in floats */
    int builds;            /* times mem was (re)allocated */
    bool live;             /* a rv_vlm_pass (or a generate call) is using the buffers */
    /* sub-model activations */
    rv_vis_acts vis;
    rv_proj_acts proj;
    rv_dec_acts dec;       /* dec.x[0]: the embedded token stream */
    /* packed batch: [max_tokens] unless noted */
    int32_t *ids_d, *targets_d, *pos_d, *img_pos_d;
    int32_t *cu_d;         /* [max_seqs + 1] */
    float *loss_d, *lse_d;
    float *pixels_d;       /* [max_tiles, channels, S, S] */
    float *F;              /* [max_tokens, D] image rows (their gradient in backward) */
    float *dloss_d, *dxf, *dx0; /* train: [max_tokens], [max_tokens, D] x 2 */
    float *dY, *dfeat;     /* train: [max_tiles * npatch, D], [max_tiles * npatch, vision hidden] */
    /* image packing (vlm.c): the batch's index arrays and bilinear matrices, uploaded once per
     * forward, and one image's scratch (grid cells, resized cells, newline rows) */
    int32_t *pk_idx;
    size_t pk_idx_cap;
    float *pk_R;
    size_t pk_R_cap;
    float *pk_G, *pk_T1, *pk_Gd; /* [(max_tiles - 1) * npatch, D] each */
    float *pk_NL;          /* [pk_nl_cap, D] */
    int32_t *pk_zeros;     /* [pk_nl_cap] zero ids (uploaded once per plan) */
    int pk_nl_cap;
    /* generation (generate.c): KV cache, per-step index arrays, last hidden rows and logits */
    rv_kv_cache cache;     /* max_seqs * max_cache rows per layer */
    int32_t *g_pos, *g_rows;                   /* [max_tokens] */
    int32_t *g_cu, *g_cuk;                     /* [max_seqs + 1] */
    int32_t *g_lenk, *g_last, *g_ids, *g_tok;  /* [max_seqs] */
    float *g_h, *g_logits;                     /* [max_seqs, D], [max_seqs, V] */
} rv_act_plan;

/* Makes m's plan hold a batch of `tokens` packed tokens, `tiles` image tiles, `seqs` sequences
 * and (generation) `cache` KV rows per sequence: builds it on first use, grows it (a new backend
 * allocation) when the batch exceeds the limits, or fails naming the limit when they are fixed.
 * Fails while a pass is live (the buffers are in use). */
int rv_vlm_plan_fit(rv_vlm *m, int tokens, int tiles, int seqs, int cache, rv_err *err);

/* One decoder step of generation (generate.c, gen_loop.c): uploads the step's host metadata
 * (pos, rows: [T]; cu, cuk: [A + 1]; lenk, last: [A]), runs the decoder over the T new rows of A
 * segments against cache, and leaves each segment's last-row logits in P->g_logits: [A, V]. */
int rv_gen_step_logits(rv_vlm *m, rv_kv_cache *cache, const int32_t *pos, const int32_t *rows, int T,
                       const int32_t *cu, const int32_t *cuk, const int32_t *lenk, const int32_t *last, int A,
                       rv_err *err);

#endif
