#include "eval/metrics/npstat.h"

#include <math.h>
#include <stdlib.h>

/* numpy's pairwise summation: blocks of 8 partial sums up to 128 elements, halving above. */
double rv_np_sum(const double *a, size_t n) {
    if (n < 8) {
        double r = -0.0;
        for (size_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + (size_t)j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return rv_np_sum(a, n2) + rv_np_sum(a + n2, n - n2);
}

double rv_np_mean(const double *a, size_t n) { return n ? rv_np_sum(a, n) / (double)n : 0.0; }

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double rv_np_percentile(double *a, size_t n, double q) {
    qsort(a, n, sizeof *a, cmp_double);
    double vi = (q / 100.0) * (double)(n - 1);
    double lo = floor(vi);
    size_t i = (size_t)lo;
    if (i >= n - 1) return a[n - 1];
    double t = vi - lo, x = a[i], y = a[i + 1], d = y - x;
    /* numpy's _lerp: a + d*t, computed from the upper end when t >= 0.5 */
    return t >= 0.5 ? y - d * (1.0 - t) : x + d * t;
}
