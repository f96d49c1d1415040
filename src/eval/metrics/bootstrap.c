#include "eval/metrics/bootstrap.h"

#include <math.h>
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
        /* a statistic undefined on a resample (NaN: avg_iou of a resample without any box pair)
         * leaves it out, as numpy.nanpercentile; NaN when no resample defines it */
        double *v = vals + k * B;
        size_t m = 0;
        for (size_t b = 0; b < B; b++)
            if (!isnan(v[b])) v[m++] = v[b];
        lo[k] = m ? rv_np_percentile(v, m, plo) : NAN;
        hi[k] = m ? rv_np_percentile(v, m, phi) : NAN;
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
