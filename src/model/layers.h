/* The three sub-models of LLaVA-OneVision, each bound once to the weights table by name
 * (pointers to parameters and gradients) and each with a forward that can save activations
 * and a backward that consumes them. All numerics go through kernels/kernels.h.
 * Internal to src/model/; phases use model/vlm.h. */
#ifndef RADVLM_MODEL_LAYERS_H
#define RADVLM_MODEL_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "model/config.h"
#include "model/weights.h"

/* A parameter and its gradient (g is NULL when gradients are not allocated). */
typedef struct rv_pg {
    float *p, *g;
} rv_pg;

/* A bump allocator over one backend allocation (the activation plan, vlm.c): every buffer of a
 * forward/backward is carved from it once and reused by every later pass. A first pass with
 * base == NULL only sums the sizes (take returns NULL), so the size and the layout come from the
 * same code. Buffers are rounded up to 16 floats (64 bytes) to keep rows vector-aligned. */
typedef struct rv_arena {
    float *base;   /* NULL: sizing pass */
    size_t used;   /* floats handed out so far */
} rv_arena;

static inline float *rv_arena_take(rv_arena *a, size_t n) {
    n = n ? (n + 15) / 16 * 16 : 16;
    float *p = a->base ? a->base + a->used : NULL;
    a->used += n;
    return p;
}
/* int32 buffers come from the same arena (4-byte elements; each region has one type only). */
static inline int32_t *rv_arena_take_i32(rv_arena *a, size_t n) { return (int32_t *)(void *)rv_arena_take(a, n); }
/* bf16 buffers: n 2-byte elements take ceil(n / 2) floats (then the same 64-byte rounding). */
static inline rvk_bf16 *rv_arena_take_bf16(rv_arena *a, size_t n) {
    return (rvk_bf16 *)(void *)rv_arena_take(a, (n + 1) / 2);
}

/* How a stack's activations are laid out (model.md "Activation plan"):
 * - inference (train false): one set of layer buffers reused by every layer; the residual
 *   stream alternates between two buffers (x[l] = x[l % 2]);
 * - training, recompute false: every layer keeps its own buffers and its input x[l] (the
 *   backward reads them);
 * - training, recompute true: only each layer's input x[l] is kept (the checkpoint) plus ONE
 *   set of layer buffers; the backward re-runs layer l's forward from x[l] into that set right
 *   before layer l's backward. ckpt_bf16 stores the checkpoints as bf16 (ck[l], l < n) and
 *   the fp32 stream alternates between two buffers as in inference (the output x[n] is not a
 *   checkpoint: it stays fp32 in its stream buffer, which the backward never writes). */
typedef struct rv_act_mode {
    bool train, recompute, ckpt_bf16;
} rv_act_mode;

/* The per-layer buffers of an n-layer stack: *bufs[i] becomes a malloc'd [n] pointer array whose
 * entries are carved with size[i] floats each, and x a malloc'd [n + 1] residual stream of xsize
 * floats each (layer l reads x[l] and writes x[l + 1], never the same buffer), laid out as mode
 * says (rv_act_mode). *ck: a malloc'd [n] array of bf16 checkpoints of xsize elements when
 * mode.train && mode.recompute && mode.ckpt_bf16, else NULL. */
void rv_arena_layers(rv_arena *ar, float ***const bufs[], const size_t size[], size_t nbuf, float ***x,
                     rvk_bf16 ***ck, size_t xsize, int n, rv_act_mode mode);

/* Resolves name (printf format) to p/g, checking the element count. */
int rv_pg_bind(rv_pg *pg, const rv_weights *w, size_t numel, rv_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- SigLIP vision tower ---- */

typedef struct rv_vis_layer {
    rv_pg ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} rv_vis_layer;

typedef struct rv_vision {
    rv_vision_cfg c;
    int nrun;          /* layers run (feature layer) */
    int grid, npatch;  /* patches per side / per tile */
    int kdim;          /* channels * patch * patch */
    rv_pg patch_w, patch_b, pos, post_w, post_b;
    rv_vis_layer *L;
    rvk_buf im2col_buf;
    int32_t *im2col;   /* [npatch * kdim] pixel offsets inside one tile (backend memory, im2col_buf) */
} rv_vision;

/* Activations of one forward over T tiles (N = T * npatch rows), carved once from the plan for
 * up to maxT tiles. train: every layer has its own buffers (saved for backward) plus the backward
 * scratch; otherwise one set of layer buffers serves every layer and the residual stream
 * alternates between two buffers (x[l] = x[l % 2]). */
typedef struct rv_vis_acts {
    int T, N, maxT;
    bool train;
    bool recompute;    /* train layout with recomputation (rv_act_mode) */
    float *patches;    /* [N, kdim] */
    float **x;         /* [nrun + 1][N, C] residual stream at each layer input (x[nrun] = output) */
    rvk_bf16 **ck;     /* [nrun][N, C] bf16 checkpoints of the layer inputs, or NULL (rv_act_mode) */
    float **h1, **q, **k, **v, **o, **lse, **xm, **h2, **f, **g;
    float **mean1, **rstd1, **mean2, **rstd2;
    float *feat;       /* [N, C] the features (x[nrun] or post-LN of it) */
    float *pmean, *prstd;
    int32_t *cu;       /* [maxT + 1] tile offsets t * npatch (uploaded once) */
    int32_t *cu_host;  /* the same offsets on the host (rvk_attn.host_cu_q) */
    float *dres, *dt, *dq, *dk, *dv, *dI; /* backward scratch [N, C] ([N, I] for dI); train only */
} rv_vis_acts;

int rv_vision_bind(rv_kctx *k, rv_vision *v, const rv_vision_cfg *c, const rv_weights *w, rv_err *err);
void rv_vision_unbind(rv_kctx *k, rv_vision *v);
/* Carves a's buffers for up to maxT tiles from ar (sizing pass when ar->base is NULL; then
 * nothing is written). With memory, uploads the tile offsets. Host pointer arrays are malloc'd:
 * release them with rv_vision_acts_release. */
void rv_vision_acts_layout(rv_kctx *k, const rv_vision *v, rv_vis_acts *a, rv_arena *ar, int maxT, rv_act_mode mode);
void rv_vision_acts_release(rv_vis_acts *a);
/* pixels: [T, channels, S, S] (backend memory), T <= a->maxT. Fills a->feat. With bf16
 * checkpoints every layer input is rounded to bf16 (as the decoder). */
int rv_vision_forward(rv_kctx *k, const rv_vision *v, const float *pixels, int T, rv_vis_acts *a, rv_err *err);
/* dfeat: [N, C]. Accumulates parameter gradients. Needs a train layout; with recomputation,
 * re-runs each layer's forward from its checkpoint first. */
int rv_vision_backward(rv_kctx *k, const rv_vision *v, rv_vis_acts *a, const float *dfeat, rv_err *err);

/* ---- projector: linear -> GELU -> linear ---- */

typedef struct rv_projector {
    int in, out;
    rvk_gelu_kind act;
    rv_pg w1, b1, w2, b2; /* b1/b2 .p NULL without bias */
} rv_projector;

typedef struct rv_proj_acts {
    int N;
    const float *x;  /* [N, in] (not owned) */
    float *y1, *g;   /* [N, out] */
    float *y;        /* [N, out] output */
    float *dg;       /* [N, out] backward scratch (train only) */
} rv_proj_acts;

int rv_projector_bind(rv_projector *p, const rv_model_cfg *c, const rv_weights *w, rv_err *err);
/* Carves a's buffers for up to maxN rows from ar (see rv_arena). */
void rv_proj_acts_layout(const rv_projector *p, rv_proj_acts *a, rv_arena *ar, int maxN, bool train);
void rv_projector_forward(rv_kctx *k, const rv_projector *p, const float *x, int N, rv_proj_acts *a);
/* dx may be NULL (frozen vision tower). */
void rv_projector_backward(rv_kctx *k, const rv_projector *p, rv_proj_acts *a, const float *dy, float *dx);

/* ---- Qwen2 decoder ---- */

typedef struct rv_dec_layer {
    rv_pg in_norm, q_w, q_b, k_w, k_b, v_w, v_b, o_w, post_norm, gate, up, down;
} rv_dec_layer;

typedef struct rv_decoder {
    rv_text_cfg c;
    int qd, kvd;       /* heads * head_dim, kv_heads * head_dim */
    rv_pg embed, norm, lm_head; /* lm_head aliases embed when tied */
    rv_dec_layer *L;
} rv_decoder;

/* Decoder activations for up to maxN rows, carved once from the plan (train / inference layouts
 * as rv_vis_acts). x[0] is the input: the caller writes the embeddings there. */
typedef struct rv_dec_acts {
    int N, maxN;
    bool train;
    bool recompute;             /* train layout with recomputation (rv_act_mode) */
    float **x;                  /* [layers + 1][N, D] */
    rvk_bf16 **ck;              /* [layers][N, D] bf16 checkpoints of the layer inputs, or NULL (rv_act_mode) */
    float **a, **q, **k, **v, **o, **lse, **xm, **m, **gt, **up, **h, **rstd1, **rstd2;
    float *xf, *rstdf;          /* final RMSNorm output [N, D] and its rstd */
    float *dt, *dq, *dk, *dv, *dg, *du; /* backward scratch (train only) */
} rv_dec_acts;

/* KV cache for generation: per layer [nseq * cap, kv_heads, head_dim] for K and V, carved from the
 * plan for up to `rows` rows per layer; a generate call views it as nseq slots of cap rows
 * (nseq * cap <= rows). Rows past a sequence's length are never read, so the cache is not cleared
 * between calls. */
typedef struct rv_kv_cache {
    int nseq, cap, layers;
    size_t rows;
    float **k, **v;
} rv_kv_cache;

int rv_decoder_bind(rv_decoder *d, const rv_text_cfg *c, const rv_weights *w, rv_err *err);
/* Carves a's buffers for up to maxN rows from ar (see rv_arena); host pointer arrays are malloc'd
 * (rv_dec_acts_release). */
void rv_dec_acts_layout(const rv_decoder *d, rv_dec_acts *a, rv_arena *ar, int maxN, rv_act_mode mode);
void rv_dec_acts_release(rv_dec_acts *a);
/* The packed sequences of a decoder call: device arrays for the kernels and the same values on
 * the host (rvk_attn.host_*: a device backend then plans attention without a download). */
typedef struct rv_dec_seqs {
    int nseq;
    const int32_t *pos, *cu;           /* device [N], [nseq + 1] */
    const int32_t *host_cu;            /* host [nseq + 1] */
    /* with a KV cache only: */
    const int32_t *cache_rows;         /* device [N] */
    const int32_t *cu_cache, *len_k;   /* device [nseq + 1], [nseq] */
    const int32_t *host_cu_cache, *host_len_k;
} rv_dec_seqs;

/* Input: a->x[0] [N, D] (the embeddings, written by the caller), N <= a->maxN. Without a cache:
 * self-attention within each sequence; keep (needs a train layout) leaves the activations
 * backward needs (every layer's, or with recomputation the layer inputs). With a cache: the N new
 * rows of sequence s are written at cache rows s*cap + len_before[s] ... and attend to the whole
 * cache (len_after = len_k). With bf16 checkpoints every layer input is rounded to bf16 (stored,
 * then widened back), so the backward's recomputation reads exactly what the forward read.
 * Output: a->xf. */
int rv_decoder_forward(rv_kctx *k, const rv_decoder *d, const rv_dec_seqs *sq, int N, rv_dec_acts *a, bool keep,
                       rv_kv_cache *cache, rv_err *err);
/* dxf: [N, D] gradient at the final-norm output (dt is [N, max(D, qd)] inside). dx0: [N, D] gradient of the input embeddings
 * (written). With recomputation, re-runs each layer's forward from its checkpoint first. */
int rv_decoder_backward(rv_kctx *k, const rv_decoder *d, rv_dec_acts *a, const rv_dec_seqs *sq, const float *dxf,
                        float *dx0, rv_err *err);

/* Carves K and V for `rows` rows per layer from ar (host pointer arrays: rv_kv_cache_release). */
void rv_kv_cache_layout(rv_kv_cache *c, const rv_text_cfg *t, rv_arena *ar, size_t rows);
void rv_kv_cache_release(rv_kv_cache *c);

#endif
