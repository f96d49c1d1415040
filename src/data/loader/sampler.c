#include "data/loader/sampler.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* RNG stream names: "SMPL" for the epoch shuffle, "SMPB" for the batch order in a window. */
#define STREAM_SHUFFLE 0x534d504cu
#define STREAM_BATCHES 0x534d5042u
/* "SMPM": group_by_modality_length; substreams 0 (image samples), 1 (text samples), 2 (mega-batches). */
#define STREAM_MODALITY 0x534d504du

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
    if (o->text_only) {
        s->text_only = rv_xmalloc(n);
        memcpy(s->text_only, o->text_only, n);
    }
    s->o.text_only = NULL; /* the copy above is the one used */
    s->global_batch = g;
    s->steps_per_epoch = n / g;
    s->order = rv_xmalloc(s->steps_per_epoch * g * sizeof *s->order);
    s->order_epoch = UINT64_MAX;
    return 0;
}

void rv_sampler_free(rv_sampler *s) {
    free(s->items);
    free(s->len);
    free(s->text_only);
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

/* Sort key of a mega-batch: length descending, then permutation position ascending (torch's
 * sort of a mega-batch by length, reverse=True, is stable in Python: ties keep their order). */
static void sort_megabatch(const rv_sampler *s, const size_t *pos, size_t m, key *k, uint64_t *dst) {
    for (size_t i = 0; i < m; i++) k[i] = (key){s->len[pos[i]], i, pos[i]};
    qsort(k, m, sizeof *k, cmp_key);
    for (size_t i = 0; i < m; i++) dst[i] = k[i].item; /* positions, mapped to items by the caller */
}

/* get_length_grouped_indices over the positions sub[0..m): a permutation cut into mega-batches of
 * g, each sorted longest first; out[0..m) receives positions. */
static void length_grouped(const rv_sampler *s, const size_t *sub, size_t m, uint64_t epoch, uint32_t which,
                           uint64_t *out) {
    size_t g = s->global_batch;
    size_t *perm = rv_xmalloc((m ? m : 1) * sizeof *perm), *pos = rv_xmalloc(g * sizeof *pos);
    key *k = rv_xmalloc(g * sizeof *k);
    rv_rng r;
    rv_rng_init(&r, s->o.seed ^ (epoch * 0x9e3779b97f4a7c15ull), STREAM_MODALITY, which);
    rv_rng_permutation(&r, perm, m);
    for (size_t b = 0; b < m; b += g) {
        size_t mb = m - b < g ? m - b : g;
        for (size_t i = 0; i < mb; i++) pos[i] = sub[perm[b + i]];
        sort_megabatch(s, pos, mb, k, out + b);
    }
    free(k);
    free(pos);
    free(perm);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Upstream's group_by_modality_length (sampler.h): positions into the item list, then items. */
static void build_epoch_modality(rv_sampler *s, uint64_t epoch) {
    size_t n = s->n, g = s->global_batch, used = s->steps_per_epoch * g;
    uint64_t *flat = rv_xmalloc(n * sizeof *flat);
    size_t nimg = 0, ntxt = 0;
    for (size_t i = 0; i < n; i++) (s->text_only && s->text_only[i]) ? ntxt++ : nimg++;
    if (ntxt == 0 || nimg == 0) {
        /* One modality: get_length_grouped_indices over everything. */
        size_t *all = rv_xmalloc(n * sizeof *all);
        for (size_t i = 0; i < n; i++) all[i] = i;
        length_grouped(s, all, n, epoch, 0, flat);
        free(all);
    } else {
        size_t *img = rv_xmalloc(nimg * sizeof *img), *txt = rv_xmalloc(ntxt * sizeof *txt);
        nimg = ntxt = 0;
        for (size_t i = 0; i < n; i++) {
            if (s->text_only[i]) txt[ntxt++] = i;
            else img[nimg++] = i;
        }
        uint64_t *oi = rv_xmalloc(nimg * sizeof *oi), *ot = rv_xmalloc(ntxt * sizeof *ot);
        length_grouped(s, img, nimg, epoch, 0, oi);
        length_grouped(s, txt, ntxt, epoch, 1, ot);
        /* Mega-batches of both but each list's last one (full or not) go in a shuffled list; the
         * two last ones merge into an extra batch, sorted by index, appended at the end. */
        size_t mi = (nimg + g - 1) / g, mt = (ntxt + g - 1) / g, nfull = mi - 1 + mt - 1;
        size_t *mperm = rv_xmalloc((nfull ? nfull : 1) * sizeof *mperm);
        rv_rng r;
        rv_rng_init(&r, s->o.seed ^ (epoch * 0x9e3779b97f4a7c15ull), STREAM_MODALITY, 2);
        rv_rng_permutation(&r, mperm, nfull);
        size_t f = 0;
        for (size_t b = 0; b < nfull; b++) {
            size_t q = mperm[b];
            const uint64_t *src = q < mi - 1 ? oi + q * g : ot + (q - (mi - 1)) * g;
            memcpy(flat + f, src, g * sizeof *src);
            f += g;
        }
        size_t li = nimg - (mi - 1) * g, lt = ntxt - (mt - 1) * g;
        memcpy(flat + f, oi + (mi - 1) * g, li * sizeof *oi);
        memcpy(flat + f + li, ot + (mt - 1) * g, lt * sizeof *ot);
        qsort(flat + f, li + lt, sizeof *flat, cmp_u64);
        free(mperm);
        free(oi);
        free(ot);
        free(img);
        free(txt);
    }
    for (size_t i = 0; i < used; i++) s->order[i] = s->items[flat[i]];
    free(flat);
    s->order_epoch = epoch;
}

void rv_sampler_next(rv_sampler *s, uint64_t *out) {
    if (s->order_epoch != s->epoch) {
        if (s->o.order == RV_SAMPLER_MODALITY_LENGTH) build_epoch_modality(s, s->epoch);
        else build_epoch(s, s->epoch);
    }
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
