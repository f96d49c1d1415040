/* Carving an n-layer stack's activations from the plan's arena (layers.h). */
#include <stdbool.h>

#include "core/error.h"
#include "model/layers.h"

static float **ptrs(int n) { return rv_xcalloc((size_t)(n > 0 ? n : 1), sizeof(float *)); }

void rv_arena_layers(rv_arena *ar, float ***const bufs[], const size_t size[], size_t nbuf, float ***x,
                     rvk_bf16 ***ck, size_t xsize, int n, rv_act_mode mode) {
    const bool keep_sets = mode.train && !mode.recompute;
    const bool bf16_ck = mode.train && mode.recompute && mode.ckpt_bf16;
    *x = ptrs(n + 1);
    *ck = NULL;
    for (size_t i = 0; i < nbuf; i++) *bufs[i] = ptrs(n);
    /* layer buffer sets: one per layer, or one shared by all */
    const int nset = keep_sets ? n : (n > 0 ? 1 : 0);
    for (int l = 0; l < nset; l++)
        for (size_t i = 0; i < nbuf; i++) (*bufs[i])[l] = rv_arena_take(ar, size[i]);
    for (int l = nset; l < n; l++)
        for (size_t i = 0; i < nbuf; i++) (*bufs[i])[l] = (*bufs[i])[0];
    /* fp32 residual stream: every layer input kept (training with fp32 checkpoints), or two
     * alternating buffers (inference; bf16 checkpoints keep the inputs in ck instead) */
    const int nres = mode.train && !bf16_ck ? n + 1 : 2;
    for (int l = 0; l < nres && l <= n; l++) (*x)[l] = rv_arena_take(ar, xsize);
    for (int l = nres; l <= n; l++) (*x)[l] = (*x)[l % 2];
    if (bf16_ck) {
        /* the inputs of layers 0..n-1; the stack's output x[n] stays in its fp32 stream buffer
         * (no layer is recomputed from it, and the backward never writes that buffer) */
        *ck = (rvk_bf16 **)(void *)rv_xcalloc((size_t)(n > 0 ? n : 1), sizeof(rvk_bf16 *));
        for (int l = 0; l < n; l++) (*ck)[l] = rv_arena_take_bf16(ar, xsize);
    }
}
