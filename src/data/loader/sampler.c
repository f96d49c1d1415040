#include "data/loader/sampler.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* RNG stream names: "SMPL" for the epoch shuffle, "SMPB" for the batch order in a window. */
#define STREAM_SHUFFLE 0x534d504cu
#define STREAM_BATCHES 0x534d5042u

int rv_sampler_init(rv_sampler *s, const rv_comm *dp, const rv_sampler_opts *o, const uint64_t *items,
                    const uint32_t *lengths, size_t n, rv_err *err) {
    memset(s, 0, sizeof *s);
    if (!dp) return rv_fail(err, "sampler: no data-parallel communicator given (internal error)");
    if (dp->size < 1 || dp->rank < 0 || dp->rank >= dp->size || o->batch_per_rank < 1)
        return rv_fail(err, "sampler: bad layout (rank %d of %d, batch %zu per rank)", dp->rank, dp->size,
                       o->batch_per_rank);
    size_t g = o->batch_per_rank * (size_t)dp->size;
    if (n < g)
        return rv_fail(err, "sampler: %zu samples cannot fill one global batch of %zu (%zu per rank x %d ranks); use "
                            "fewer ranks or a smaller batch, or pack more data", n, g, o->batch_per_rank, dp->size);
    s->o = *o;
    s->rank = dp->rank;
    s->nranks = dp->size;
    s->n = n;
    s->items = rv_xmalloc(n * sizeof *s->items);
    s->len = rv_xmalloc(n * sizeof *s->len);
    memcpy(s->items, items, n * sizeof *items);
    memcpy(s->len, lengths, n * sizeof *lengths);
    s->global_batch = g;
    s->steps_per_epoch = n / g;
    s->order = rv_xmalloc(s->steps_per_epoch * g * sizeof *s->order);
    s->order_epoch = UINT64_MAX;
    return 0;
}

void rv_sampler_free(rv_sampler *s) {
    free(s->items);
    free(s->len);
    free(s->order);
    memset(s, 0, sizeof *s);
}

/* Sort key for a window: length descending, then shuffled position ascending (stable). */
typedef struct key {
    uint32_t len;
    uint64_t pos, item;
} key;

static int cmp_key(const void *a, const void *b) {
    const key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void build_epoch(rv_sampler *s, uint64_t epoch) {
    size_t n = s->n, g = s->global_batch, used = s->steps_per_epoch * g;
    size_t *perm = rv_xmalloc(n * sizeof *perm);
    rv_rng r;
    rv_rng_init(&r, s->o.seed, STREAM_SHUFFLE, (uint32_t)epoch);
    rv_rng_permutation(&r, perm, n);
    size_t gf = s->o.group_factor > 1 ? s->o.group_factor : 1;
    size_t window = gf * g;
    key *k = rv_xmalloc(window * sizeof *k);
    size_t *bperm = rv_xmalloc(gf * sizeof *bperm);
    uint64_t *tmp = rv_xmalloc(window * sizeof *tmp);
    for (size_t w0 = 0, wi = 0; w0 < used; w0 += window, wi++) {
        size_t m = used - w0 < window ? used - w0 : window; /* a multiple of g */
        for (size_t i = 0; i < m; i++) {
            size_t p = perm[w0 + i];
            k[i] = (key){gf > 1 ? s->len[p] : 0, w0 + i, s->items[p]};
        }
        if (gf > 1) {
            qsort(k, m, sizeof *k, cmp_key);
            /* Shuffle whole batches inside the window so long batches do not always come first. */
            size_t nb = m / g;
            rv_rng rb;
            rv_rng_init(&rb, s->o.seed ^ epoch, STREAM_BATCHES, (uint32_t)wi);
            rv_rng_permutation(&rb, bperm, nb);
            for (size_t b = 0; b < nb; b++)
                for (size_t j = 0; j < g; j++) tmp[b * g + j] = k[bperm[b] * g + j].item;
            memcpy(s->order + w0, tmp, m * sizeof *tmp);
        } else {
            for (size_t i = 0; i < m; i++) s->order[w0 + i] = k[i].item;
        }
    }
    free(tmp);
    free(bperm);
    free(k);
    free(perm);
    s->order_epoch = epoch;
}

void rv_sampler_next(rv_sampler *s, uint64_t *out) {
    if (s->order_epoch != s->epoch) build_epoch(s, s->epoch);
    const uint64_t *batch = s->order + s->step * s->global_batch;
    size_t w = (size_t)s->nranks, r = (size_t)s->rank;
    for (size_t j = 0; j < s->o.batch_per_rank; j++) out[j] = batch[r + j * w];
    if (++s->step == s->steps_per_epoch) {
        s->step = 0;
        s->epoch++;
    }
}

void rv_sampler_save(const rv_sampler *s, rv_sampler_cursor *c) {
    *c = (rv_sampler_cursor){s->o.seed, s->epoch, s->step, s->n, s->global_batch, s->o.group_factor};
}

int rv_sampler_restore(rv_sampler *s, const rv_sampler_cursor *c, rv_err *err) {
    if (c->seed != s->o.seed || c->n != s->n || c->global_batch != s->global_batch ||
        c->group_factor != s->o.group_factor)
        return rv_fail(err, "sampler: the saved cursor was made with seed %llu, %llu samples, global batch %llu, "
                            "grouping %llu; this run has seed %llu, %zu samples, global batch %zu, grouping %zu; resume "
                            "with the same data, seed, rank count and batch size",
                       (unsigned long long)c->seed, (unsigned long long)c->n, (unsigned long long)c->global_batch,
                       (unsigned long long)c->group_factor, (unsigned long long)s->o.seed, s->n, s->global_batch,
                       s->o.group_factor);
    if (c->step >= s->steps_per_epoch)
        return rv_fail(err, "sampler: saved step %llu is past the %zu steps of an epoch", (unsigned long long)c->step,
                       s->steps_per_epoch);
    s->epoch = c->epoch;
    s->step = c->step;
    return 0;
}
