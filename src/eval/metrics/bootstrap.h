/* Percentile bootstrap: B resamples of n records drawn with replacement from a counter-based
 * Philox stream named (seed, stream, resample index), so intervals do not depend on the rank
 * count; the statistic of each resample is computed by a callback from the resampled indices;
 * the interval is numpy's linear-interpolated 2.5 / 97.5 percentiles. Upstream draws with numpy's
 * PCG64 (default_rng(0)), so its intervals differ from these by resampling noise only. */
#ifndef RADVLM_EVAL_BOOTSTRAP_H
#define RADVLM_EVAL_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

/* Computes nstat statistics of the resample given by idx[0..n) into out[0..nstat). */
typedef void (*rv_boot_stat_fn)(const size_t *idx, size_t n, void *user, double *out);

/* lo[k], hi[k] = percentiles plo / phi (e.g. 2.5, 97.5) of statistic k over B resamples; resamples
 * where a statistic is NaN (undefined) are left out of its percentiles (numpy.nanpercentile). */
void rv_bootstrap(size_t n, size_t B, uint64_t seed, size_t nstat, rv_boot_stat_fn fn, void *user,
                  double plo, double phi, double *lo, double *hi);

/* Convenience statistic: the mean of a column of values (user = const double *). */
void rv_boot_mean(const size_t *idx, size_t n, void *user, double *out);

#endif
