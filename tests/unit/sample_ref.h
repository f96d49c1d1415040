/* The sampling contract of kernels.h (rvk_sample) written out as the tests' reference, on a row
 * already sorted by (p desc, id asc): top-k, top-p over the renormalised top-k (the smallest
 * prefix reaching top_p), then the first candidate whose cumulative probability exceeds r times
 * the kept mass, every sum in double in that order (generate.c's algorithm before rvk_sample).
 * Independent of kernels/sample_rule.c; shared by test_kernels_sample.c and tests/gpu/sample_emu.cpp. */
#ifndef RADVLM_TESTS_SAMPLE_REF_H
#define RADVLM_TESTS_SAMPLE_REF_H

#include "kernels/sample_rule.h"

static inline int32_t sample_ref_walk(const rvk_sample_cand *c, int V, int top_k, float top_p, double r) {
    int keep = V;
    if (top_k > 0 && top_k < keep) keep = top_k;
    if (top_p > 0 && top_p < 1) {
        double tot = 0;
        for (int i = 0; i < keep; i++) tot += c[i].p;
        double cum = 0;
        int n = 0;
        for (int i = 0; i < keep; i++) {
            n = i + 1;
            cum += c[i].p / tot;
            if (cum >= top_p) break;
        }
        keep = n;
    }
    double tot = 0;
    for (int i = 0; i < keep; i++) tot += c[i].p;
    double u = r * tot, cum = 0;
    for (int i = 0; i < keep; i++) {
        cum += c[i].p;
        if (u < cum) return c[i].id;
    }
    return c[keep - 1].id;
}

#endif
