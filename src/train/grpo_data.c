#include "train/grpo_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

typedef struct keyed {
    const char *id;
    size_t i;
} keyed;

static int by_id(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

void rv_grpo_split(const char *const *ids, size_t n, uint64_t seed, double train_frac, size_t val_n, size_t *train,
                   size_t *ntrain, size_t *val, size_t *nval) {
    keyed *k = rv_xmalloc((n ? n : 1) * sizeof *k);
    for (size_t i = 0; i < n; i++) k[i] = (keyed){ids[i], i};
    qsort(k, n, sizeof *k, by_id);
    size_t *perm = rv_xmalloc((n ? n : 1) * sizeof *perm);
    rv_rng r;
    rv_rng_init(&r, seed, rv_hash32("grpo-data"), 0);
    rv_rng_permutation(&r, perm, n);
    size_t nt = (size_t)floor(train_frac * (double)n);
    if (nt > n) nt = n;
    size_t nv = n - nt < val_n ? n - nt : val_n;
    for (size_t j = 0; j < nt; j++) train[j] = k[perm[j]].i;
    for (size_t j = 0; j < nv; j++) val[j] = k[perm[nt + j]].i;
    *ntrain = nt;
    *nval = nv;
    free(perm);
    free(k);
}
