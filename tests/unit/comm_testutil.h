/* Helpers of the communicator tests (test_comm.c, test_comm_device.c): per-rank values whose sums
 * depend on the association, and the rank-order sum comm.h defines as the SUM. */
#ifndef RADVLM_TESTS_COMM_TESTUTIL_H
#define RADVLM_TESTS_COMM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A value of rank r at index i that rounds: sums of these depend on the association. */
static inline float noisy(int r, size_t i) {
    uint32_t h = (uint32_t)(r * 2654435761u) ^ (uint32_t)(i * 2246822519u);
    h ^= h >> 15;
    h *= 2654435761u;
    return (float)((double)(h % 100000) * 1e-3 * (i % 3 == 0 ? 1e5 : 1.0)) * ((h >> 7) & 1 ? -1.0f : 1.0f);
}

/* The rank-order sum (((x_0 + x_1) + x_2) ...) of noisy over n ranks, as one process computes it. */
static inline float rank_order_sum(int n, size_t i) {
    float s = noisy(0, i);
    for (int r = 1; r < n; r++) s += noisy(r, i);
    return s;
}

#endif
