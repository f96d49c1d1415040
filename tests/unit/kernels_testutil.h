/* Helpers for the kernel tests: seeded random tensors, a finite-difference gradient checker and
 * a thread-count comparison. Gradient checks use fp32 central differences of a double-summed
 * scalar L = sum_i r_i y_i (r random), so the analytic backward receives dy = r. */
#ifndef RADVLM_TESTS_KERNELS_TESTUTIL_H
#define RADVLM_TESTS_KERNELS_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "kernels/kernels.h"

static inline float *kt_randn(rv_rng *r, size_t n, float scale) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)rv_rng_normal(r) * scale;
    return x;
}

static inline float *kt_copy(const float *x, size_t n) {
    float *y = malloc((n ? n : 1) * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

static inline double kt_dotd(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static inline double kt_maxdiff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

/* Evaluates the scalar loss for the current contents of the perturbed tensor. */
typedef double (*kt_loss_fn)(void *ud);

/* Compares grad[i] with (L(x_i + h) - L(x_i - h)) / 2h for up to `maxn` elements of x (evenly
 * strided). Passes when |g - fd| <= atol + rtol |fd| for every checked element. */
static inline void kt_fd_check(const char *what, float *x, size_t n, const float *grad,
                               kt_loss_fn loss, void *ud, float h, double atol, double rtol,
                               size_t maxn) {
    size_t step = n > maxn ? (n + maxn - 1) / maxn : 1;
    double worst = 0.0, worst_g = 0.0, worst_fd = 0.0;
    int bad = 0;
    for (size_t i = 0; i < n; i += step) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = loss(ud);
        x[i] = keep - h;
        double lm = loss(ud);
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * (double)h);
        double err = fabs(fd - grad[i]);
        if (err > atol + rtol * fabs(fd)) bad++;
        if (err > worst) { worst = err; worst_g = grad[i]; worst_fd = fd; }
    }
    if (bad) fprintf(stderr, "fd %s: %d elements out of tolerance; worst |g-fd| = %.3g (g %.6g fd %.6g)\n",
                     what, bad, worst, worst_g, worst_fd);
    CHECK(bad == 0);
}

static inline rv_kctx kt_ctx(int nthreads) {
    rv_kctx k;
    rv_err err;
    if (rvk_init(&k, RVK_BACKEND_CPU, nthreads, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return k;
}

#endif
