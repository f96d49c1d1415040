/* Carving an n-layer stack's activations from the plan's arena (layers.h). */
#include <stdbool.h>

#include "core/error.h"
#include "model/layers.h"

static float **ptrs(int n) { return rv_xcalloc((size_t)(n > 0 ? n : 1), sizeof(float *)); }

void rv_arena_layers(rv_arena *ar, float ***const bufs[], const size_t size[], size_t nbuf, float ***x, size_t xsize,
                     int n, bool train) {
    *x = ptrs(n + 1);
    for (size_t i = 0; i < nbuf; i++) *bufs[i] = ptrs(n);
    const int nset = train ? n : (n > 0 ? 1 : 0), nres = train ? n + 1 : 2;
    for (int l = 0; l < nset; l++)
        for (size_t i = 0; i < nbuf; i++) (*bufs[i])[l] = rv_arena_take(ar, size[i]);
    for (int l = nset; l < n; l++)
        for (size_t i = 0; i < nbuf; i++) (*bufs[i])[l] = (*bufs[i])[0];
    for (int l = 0; l < nres && l <= n; l++) (*x)[l] = rv_arena_take(ar, xsize);
    for (int l = nres; l <= n; l++) (*x)[l] = (*x)[l % 2];
}
