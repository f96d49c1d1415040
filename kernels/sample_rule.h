/* The sampling rule of rvk_sample (kernels.h "Sampling") as host code shared by every backend, so
 * that the CPU backend stays the reference and a device backend cannot drift from it:
 * - rvk_sample_row: the whole rule on one row of host probabilities (the CPU backend's algorithm;
 *   a device backend's fallback for rows it cannot finish from small records);
 * - the pieces a device backend combines instead of downloading [V] probabilities:
 *   rvk_sample_stats (order-free integer statistics of a row, which give the row's double sum in
 *   the sampling order without sorting), rvk_sample_total (that sum, or bounds of it), and
 *   rvk_sample_walk (top-p and the draw over the sorted best-M candidates).
 * The sampling order is p descending, id ascending on ties; every sum is a double sum in that
 * order. Why the statistics give the ordered sum: kernels/sample_rule.c, header comment. */
#ifndef RADVLM_KERNELS_SAMPLE_RULE_H
#define RADVLM_KERNELS_SAMPLE_RULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __CUDACC__ /* the per-element classification runs in sample.cu's kernels too */
#define RVK_SR_FN __host__ __device__ static inline
#else
#define RVK_SR_FN static inline
#endif

/* Tail buckets: a probability t in (0, 2^-29) with t in [2^e, 2^(e+1)), e = -30 .. -54, is in
 * bucket b = -30 - e; smaller ones (e < -54) are in no bucket (they never change a sum >= 0.5). */
#define RVK_SAMPLE_NB 25

/* One candidate of the sampling order. */
typedef struct rvk_sample_cand {
    float p;
    int32_t id;
} rvk_sample_cand;

/* Order-free statistics of a row of probabilities (integer sums: the same in any order, so a
 * device may add them with atomics). t = m 2^(e-23) with the 24-bit significand m. */
typedef struct rvk_sample_stats {
    unsigned long long head;                  /* sum of p 2^52 over p >= 2^-29 (integers: p is a multiple of 2^-52) */
    unsigned long long sig[RVK_SAMPLE_NB];    /* per bucket: sum of m (bucket mass = sig 2^(e-23)) */
    unsigned long long rnd[2][RVK_SAMPLE_NB]; /* sum of nearbyint(t / ulp), ulp = 2^-53 ([0]) or 2^-52 ([1]) */
    unsigned int cnt[RVK_SAMPLE_NB];          /* elements per bucket */
    unsigned int tie[2];                      /* bit b: some t of bucket b has t / ulp = k + 1/2 exactly */
    unsigned int ntail;                       /* elements 0 < p < 2^-29, in a bucket or below */
    unsigned int bad;                         /* elements that are NaN, inf, >= 2 or carry the sign bit */
} rvk_sample_stats;

/* The contribution of one probability (its float bits) to the statistics, as plain values (a host
 * adds them, a device adds them with atomics): kind 0 = zero, 1 = head (add head_units to head),
 * 2 = tail in bucket b (cnt, sig += m, rnd[v] += rnd[v], tie bits), 3 = tail below every bucket
 * (ntail only), 4 = bad. */
typedef struct rvk_sample_elem {
    int kind, b;
    unsigned long long head_units;
    unsigned int m, rnd[2], tie[2];
} rvk_sample_elem;

RVK_SR_FN rvk_sample_elem rvk_sample_classify(uint32_t bits) {
    rvk_sample_elem r = {0, 0, 0, 0, {0, 0}, {0, 0}};
    const int E = (int)((bits >> 23) & 0xffu);
    if ((bits >> 31) || E >= 127 + 1) { /* sign bit (also -0), inf, NaN, p >= 2 (not a probability) */
        r.kind = 4;
        return r;
    }
    if (bits == 0) return r;
    const unsigned int m = (bits & 0x7fffffu) | 0x800000u;
    const int e = E - 127; /* p in [2^e, 2^(e+1)) for normal p; subnormals fall below the buckets */
    if (e >= -29) {        /* p = m 2^(e-23), e - 23 >= -52: p 2^52 = m 2^(e+29) */
        r.kind = 1;
        r.head_units = (unsigned long long)m << (e + 29);
        return r;
    }
    if (E == 0 || e < -54) {
        r.kind = 3;
        return r;
    }
    r.kind = 2;
    r.b = -30 - e;
    r.m = m;
    for (int v = 0; v < 2; v++) { /* t / ulp = m 2^-(b + v): shift right by sh = b + v (0 .. 25) */
        const int sh = r.b + v;
        const unsigned int q = m >> sh, rem = m & ((1u << sh) - 1u);
        const unsigned int half = sh ? 1u << (sh - 1) : 0u;
        const int tie = sh > 0 && rem == half;
        r.tie[v] = (unsigned int)tie;
        r.rnd[v] = q + ((rem > half && sh > 0) || (tie && (q & 1u)) ? 1u : 0u); /* to nearest, ties to even */
    }
    return r;
}

/* The row's statistics on the host. */
void rvk_sample_stats_row(const float *p, int V, rvk_sample_stats *st);

/* The ordered addition a backend does itself when the statistics cannot give it: adds the tail
 * values of bucket b (b = -1: every value 0 < p < 2^-29, buckets and below) to s in the sampling
 * order and returns the new s. */
typedef double (*rvk_sample_ordered_fn)(void *ctx, int b, double s);

/* The double sum of the row in the sampling order, from its statistics. Returns 1 with
 * *lo == *hi == that sum when it is determined (every bucket order-free, or `ordered` given:
 * it is called for the buckets that are not); returns 0 with *lo <= sum <= *hi when `ordered`
 * is NULL and some bucket needs the order (a rounding tie or a binade crossing; the interval is a
 * few 1e-11 wide on a 152k vocabulary); returns -1 when no bound is derived (a bad element, a
 * head mass below 0.5 or of 2 or more: impossible for a softmax row of V < 2^28). */
int rvk_sample_total(const rvk_sample_stats *st, rvk_sample_ordered_fn ordered, void *ctx, double *lo, double *hi);

/* Outcomes of rvk_sample_walk. */
enum {
    RVK_WALK_DONE = 0, /* *id chosen */
    RVK_WALK_MORE = 1, /* a walk did not stop inside the M candidates: more are needed */
    RVK_WALK_LAST = 2  /* the draw never stops and nothing is cut: the last token of the whole
                          order is chosen (lowest p, highest id among those) */
};

/* Top-k, top-p and the draw r in [0, 1) over c [M]: the first M candidates of the row's sampling
 * order, sorted (M = top_k when 0 < top_k < V: then `total` is unused). total: the row's ordered
 * sum (rvk_sample_total). On DONE, *id and *keep (tokens kept by top-k/top-p, V when none cut). */
int rvk_sample_walk(const rvk_sample_cand *c, int M, int V, int top_k, float top_p, double r, double total,
                    int32_t *id, int *keep);

/* A device backend's account of its temperature-sampling rows: how many it sampled, and how many
 * of them it finished with rvk_sample_row on the downloaded row instead of from the small records
 * (by cause). */
enum {
    RVK_SAMPLE_FB_BAD = 0, /* a probability is NaN, inf, negative or >= 2 */
    RVK_SAMPLE_FB_TOPK,    /* top_k above what the device selects */
    RVK_SAMPLE_FB_SUM,     /* rvk_sample_total derives no bound */
    RVK_SAMPLE_FB_BOUNDS,  /* the walks at the two bounds of the total disagree */
    RVK_SAMPLE_FB_PREFIX,  /* a walk does not stop inside the M candidates */
    RVK_SAMPLE_FB_LAST,    /* the draw never stops and nothing is cut (the last token is needed) */
    RVK_SAMPLE_FB_N
};
typedef struct rvk_sample_tally {
    long long rows;
    long long fallback[RVK_SAMPLE_FB_N];
} rvk_sample_tally;

/* Sorts c [n] into the sampling order. */
void rvk_sample_sort(rvk_sample_cand *c, int n);

/* The whole rule on one row of host probabilities p [V] (the CPU backend's algorithm: partial
 * selection, no full sort). c: [V], tail: [2V] scratch. */
int32_t rvk_sample_row(const float *p, int V, int top_k, float top_p, double r, rvk_sample_cand *c, float *tail);

#ifdef __cplusplus
}
#endif

#endif
