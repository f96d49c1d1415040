#include "eval/metrics/bootstrap.h"

#include <stdlib.h>

#include "core/error.h"
#include "core/rng.h"
#include "eval/metrics/npstat.h"

void rv_bootstrap(size_t n, size_t B, uint64_t seed, size_t nstat, rv_boot_stat_fn fn, void *user,
                  double plo, double phi, double *lo, double *hi) {
    if (n == 0 || B == 0) {
        for (size_t k = 0; k < nstat; k++) lo[k] = hi[k] = 0.0;
        return;
    }
    size_t *idx = rv_xmalloc(n * sizeof *idx);
    double *vals = rv_xmalloc(B * nstat * sizeof *vals); /* [k][b] */
    double *one = rv_xmalloc(nstat * sizeof *one);
    for (size_t b = 0; b < B; b++) {
        rv_rng r;
        rv_rng_init(&r, seed, 0x626f6f74u /* "boot" */, (uint32_t)b);
        for (size_t i = 0; i < n; i++) idx[i] = rv_rng_below(&r, (uint32_t)n);
        fn(idx, n, user, one);
        for (size_t k = 0; k < nstat; k++) vals[k * B + b] = one[k];
    }
    for (size_t k = 0; k < nstat; k++) {
        lo[k] = rv_np_percentile(vals + k * B, B, plo);
        hi[k] = rv_np_percentile(vals + k * B, B, phi);
    }
    free(one);
    free(vals);
    free(idx);
}

void rv_boot_mean(const size_t *idx, size_t n, void *user, double *out) {
    const double *v = user;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += v[idx[i]];
    *out = s / (double)n;
}
