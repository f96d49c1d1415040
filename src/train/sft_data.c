#include "train/sft_data.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

/* /samples/split values (docs/formats.md). */
enum { SPLIT_TRAIN = 0, SPLIT_VALID = 1 };

int rv_sft_data_open(rv_sft_data *d, const char *dir, double holdout, uint64_t seed, rv_err *err) {
    memset(d, 0, sizeof *d);
    if (rv_shardset_open(dir, NULL, &d->set, err))
        return rv_fail_wrap(err, "sft.shards = %s (pack the data first: radvlm-hpc --phase pack)", dir);
    const rv_shardset *s = d->set;
    size_t nvalid = 0;
    for (uint64_t i = 0; i < s->nsamples; i++) nvalid += s->split[i] == SPLIT_VALID;
    d->train = rv_xmalloc((s->nsamples + 1) * sizeof *d->train);
    d->train_len = rv_xmalloc((s->nsamples + 1) * sizeof *d->train_len);
    d->held = rv_xmalloc((s->nsamples + 1) * sizeof *d->held);
    /* A held-out image: hash of (seed, image row) below holdout * 2^64. */
    uint64_t cut = holdout > 0 ? (uint64_t)(holdout * 18446744073709551616.0) : 0;
    for (uint64_t i = 0; i < s->nsamples; i++) {
        if (s->split[i] == SPLIT_VALID) {
            d->held[d->nheld++] = i;
        } else if (s->split[i] == SPLIT_TRAIN) {
            if (nvalid == 0 && cut && rv_hash_mix64(seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)s->image[i]) < cut) {
                d->held[d->nheld++] = i;
                continue;
            }
            size_t n = rv_shardset_ntokens(s, i);
            d->train[d->ntrain] = i;
            d->train_len[d->ntrain++] = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        }
    }
    d->held_from = nvalid ? "valid split" : "held-out train images";
    if (d->ntrain == 0) {
        rv_fail(err, "sft.shards = %s: no train samples (%llu samples, none in the train split%s)", dir,
                (unsigned long long)s->nsamples, nvalid ? "" : " after the held-out slice");
        rv_sft_data_close(d);
        return -1;
    }
    return 0;
}

void rv_sft_data_close(rv_sft_data *d) {
    if (d->set) rv_shardset_close(d->set);
    free(d->train);
    free(d->train_len);
    free(d->held);
    memset(d, 0, sizeof *d);
}
