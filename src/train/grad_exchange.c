#include "train/grad_exchange.h"

#include <stdlib.h>
#include <string.h>

int rv_gx_init(rv_grad_exchange *gx, const rv_weights *w, const bool *exchange, const rv_comm *dp,
               size_t bucket_elems, rv_err *err) {
    memset(gx, 0, sizeof *gx);
    if (!dp || dp->size < 1) return rv_fail(err, "grad_exchange: no data-parallel communicator given (internal error)");
    gx->dp = dp;
    gx->bucket = bucket_elems ? bucket_elems : RV_GX_DEFAULT_BUCKET;
    gx->spans = rv_xcalloc(w->n ? w->n : 1, sizeof *gx->spans);
    size_t prev_end = 0;
    bool open = false;
    for (size_t i = 0; i < w->n; i++) {
        const rv_wtensor *t = &w->t[i];
        if (t->offset < prev_end) {
            rv_gx_free(gx);
            return rv_fail(err, "grad_exchange: tensor '%s' starts at arena element %zu, before the end of the previous "
                                "one (%zu); the exchange needs tensors in ascending arena order (internal error)",
                           t->name, t->offset, prev_end);
        }
        prev_end = t->offset + t->numel;
        if (!exchange[i] || t->numel == 0) {
            if (!exchange[i]) open = false; /* a frozen tensor ends the run */
            continue;
        }
        if (open) gx->spans[gx->nspans - 1].n = t->offset + t->numel - gx->spans[gx->nspans - 1].off;
        else gx->spans[gx->nspans++] = (rv_range){t->offset, t->numel};
        open = true;
    }
    for (size_t s = 0; s < gx->nspans; s++) {
        gx->elems += gx->spans[s].n;
        gx->nbuckets += (gx->spans[s].n + gx->bucket - 1) / gx->bucket;
    }
    gx->parts = rv_xcalloc((size_t)dp->size, sizeof *gx->parts);
    gx->counts = rv_xcalloc((size_t)dp->size, sizeof *gx->counts);
    for (int r = 0; r < dp->size; r++) gx->parts[r] = rv_partition(w->total, r, dp->size);
    return 0;
}

void rv_gx_free(rv_grad_exchange *gx) {
    free(gx->spans);
    free(gx->parts);
    free(gx->counts);
    memset(gx, 0, sizeof *gx);
}

void rv_gx_allreduce(const rv_grad_exchange *gx, float *grads) {
    if (gx->dp->size == 1) return;
    for (size_t s = 0; s < gx->nspans; s++)
        for (size_t b = 0; b < gx->spans[s].n; b += gx->bucket) {
            size_t len = gx->spans[s].n - b < gx->bucket ? gx->spans[s].n - b : gx->bucket;
            float *p = grads + gx->spans[s].off + b;
            rv_comm_allreduce_f32(gx->dp, p, p, len, RV_COMM_SUM);
        }
}

/* counts[r] = elements of [b0, b1) inside partition r; returns the elements before this rank's. */
static size_t split_bucket(const rv_grad_exchange *gx, size_t b0, size_t b1) {
    size_t before = 0;
    for (int r = 0; r < gx->dp->size; r++) {
        size_t lo = gx->parts[r].off, hi = lo + gx->parts[r].n;
        if (lo < b0) lo = b0;
        if (hi > b1) hi = b1;
        gx->counts[r] = hi > lo ? hi - lo : 0;
        if (r < gx->dp->rank) before += gx->counts[r];
    }
    return before;
}

void rv_gx_reduce_scatter(const rv_grad_exchange *gx, float *grads) {
    if (gx->dp->size == 1) return;
    for (size_t s = 0; s < gx->nspans; s++)
        for (size_t b = 0; b < gx->spans[s].n; b += gx->bucket) {
            size_t len = gx->spans[s].n - b < gx->bucket ? gx->spans[s].n - b : gx->bucket;
            float *p = grads + gx->spans[s].off + b;
            size_t before = split_bucket(gx, gx->spans[s].off + b, gx->spans[s].off + b + len);
            rv_comm_reduce_scatter_f32v(gx->dp, p, p + before, gx->counts);
        }
}

void rv_gx_allgather(const rv_grad_exchange *gx, float *params) {
    if (gx->dp->size == 1) return;
    for (size_t s = 0; s < gx->nspans; s++)
        for (size_t b = 0; b < gx->spans[s].n; b += gx->bucket) {
            size_t len = gx->spans[s].n - b < gx->bucket ? gx->spans[s].n - b : gx->bucket;
            float *p = params + gx->spans[s].off + b;
            size_t before = split_bucket(gx, gx->spans[s].off + b, gx->spans[s].off + b + len);
            rv_comm_allgather_f32v(gx->dp, p + before, p, gx->counts);
        }
}
