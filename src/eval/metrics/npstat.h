/* The reductions the Python references use, reproduced bit for bit: numpy's pairwise float sum
 * (np.sum / np.mean of a contiguous float64 array) and np.percentile's default linear method. */
#ifndef RADVLM_EVAL_NPSTAT_H
#define RADVLM_EVAL_NPSTAT_H

#include <stddef.h>

double rv_np_sum(const double *a, size_t n);
double rv_np_mean(const double *a, size_t n); /* 0 for n == 0 (numpy would give nan) */
/* Percentile q in [0,100] of a (sorted in place). n > 0. */
double rv_np_percentile(double *a, size_t n, double q);

#endif
