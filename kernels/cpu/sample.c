/* Token sampling on backend data (kernels.h "Sampling"): greedy argmax, or softmax(logits / T)
 * -> top-k -> top-p -> one draw, choosing exactly the token that sorting the whole row by
 * (p desc, id asc) and walking it would choose (generate.c's former host algorithm), without
 * sorting the row:
 * - top-k (0 < k < V): a k-bounded min-heap keeps the k best candidates (O(V log k)); only
 *   those k are sorted, and every later sum runs over them in sorted order, as before.
 * - no top-k: the walks (nucleus, draw) only need the sorted order down to where they stop:
 *   the best M candidates are selected with the heap, M = 256, 4096, ... until a walk stops
 *   inside the prefix. The kept mass, a double sum over the whole row in sorted order, is
 *   reproduced bit for bit without sorting: probabilities >= 2^-29 are multiples of 2^-52, so
 *   their partial sums (< 2) are exact in any order; the rest is added by float-exponent bucket
 *   in decreasing order, where a bucket whose additions cannot cross a power of two and holds
 *   no exact rounding tie rounds each term independently of the order (sum of the rounded
 *   terms); other buckets are sorted. Terms below half an ulp of a sum >= 0.5 never change it.
 * All row arithmetic is sequential (deterministic, independent of the thread count). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

typedef struct rvk_cand {
    float p;
    int32_t id;
} rvk_cand;

/* a before b in the sampling order: higher probability first, lower id first on ties */
static inline int before(rvk_cand a, rvk_cand b) { return a.p > b.p || (a.p == b.p && a.id < b.id); }

static int cand_desc(const void *x, const void *y) {
    const rvk_cand *a = x, *b = y;
    if (a->p != b->p) return a->p < b->p ? 1 : -1;
    return a->id < b->id ? -1 : (a->id > b->id);
}

/* The first M (<= V) candidates of the sampling order of p [V], sorted, into h [M]: a min-heap
 * whose root is the worst kept candidate, then a sort of the M survivors. */
static void select_top(const float *p, int V, int M, rvk_cand *h) {
    int n = 0;
    for (int v = 0; v < V; v++) {
        rvk_cand c = {p[v], v};
        if (n < M) { /* sift up */
            int i = n++;
            while (i > 0 && before(h[(i - 1) / 2], c)) {
                h[i] = h[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            h[i] = c;
        } else if (before(c, h[0])) { /* replace the worst, sift down */
            int i = 0;
            for (;;) {
                int l = 2 * i + 1, r = l + 1, w = i;
                rvk_cand cw = c;
                if (l < M && before(cw, h[l])) w = l, cw = h[l];
                if (r < M && before(cw, h[r])) w = r;
                if (w == i) break;
                h[i] = h[w];
                i = w;
            }
            h[i] = c;
        }
    }
    qsort(h, (size_t)n, sizeof *h, cand_desc);
}

static int float_desc(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return (a < b) - (a > b);
}

/* Exponent bucket of a tail probability t in (0, 2^-29): b = -30 - e for t in [2^e, 2^(e+1)),
 * e = -30 .. -54; NB for t < 2^-54. */
enum { EHI = -30, ELO = -54, NB = EHI - ELO + 1 };
static inline int tail_bucket(float t) {
    int e;
    frexpf(t, &e); /* t = f 2^e, f in [0.5, 1) */
    e -= 1;
    return e < ELO ? NB : EHI - e;
}

/* sum_v p[v] in double, added in the sampling order (see the header comment) without sorting
 * the row. tail: [2V] scratch. */
static double sorted_sum(const float *p, int V, float *tail) {
    double s = 0.0;
    int nt = 0;
    for (int v = 0; v < V; v++) {
        if (p[v] >= 0x1p-29f) s += p[v]; /* exact: multiples of 2^-52, partial sums below 2 */
        else if (p[v] > 0) tail[nt++] = p[v];
    }
    if (nt == 0) return s;
    if (s < 0.5) { /* no half-ulp bound: add the whole tail in order (unreachable for V < 2^28) */
        qsort(tail, (size_t)nt, sizeof *tail, float_desc);
        for (int i = 0; i < nt; i++) s += tail[i];
        return s;
    }
    int cnt[NB + 1] = {0}, at[NB + 1];
    for (int i = 0; i < nt; i++) cnt[tail_bucket(tail[i])]++;
    at[0] = 0;
    for (int b = 0; b < NB; b++) at[b + 1] = at[b] + cnt[b];
    float *grp = tail + nt; /* grouped by bucket, largest values first */
    int fill[NB + 1];
    memcpy(fill, at, sizeof fill);
    for (int i = 0; i < nt; i++) {
        int b = tail_bucket(tail[i]);
        if (b < NB) grp[fill[b]++] = tail[i];
    }
    /* below 2^-54 (bucket NB): less than half an ulp of s >= 0.5, never changes s */
    for (int b = 0; b < NB; b++) {
        float *t = grp + at[b];
        const int n = cnt[b];
        if (n == 0) continue;
        const double top = s < 1.0 ? 1.0 : 2.0, ulp = s < 1.0 ? 0x1p-53 : 0x1p-52;
        double mass = 0.0;
        int tie = 0;
        for (int i = 0; i < n; i++) {
            double q = (double)t[i] / ulp;
            mass += t[i];
            if (q - floor(q) == 0.5) tie = 1;
        }
        if (!tie && s + mass + (n + 1) * ulp < top) {
            /* s stays in its binade and no addition is a tie: s + t rounds to s + rint(t / ulp) ulp
             * in any order */
            double kk = 0.0;
            for (int i = 0; i < n; i++) kk += nearbyint((double)t[i] / ulp);
            s += kk * ulp;
        } else {
            qsort(t, (size_t)n, sizeof *t, float_desc);
            for (int i = 0; i < n; i++) s += t[i];
        }
    }
    return s;
}

/* The candidate the full sort would put last: lowest probability, highest id among ties. */
static int32_t last_in_order(const float *p, int V) {
    int32_t w = 0;
    for (int v = 1; v < V; v++)
        if (!(p[v] > p[w])) w = v; /* p[v] <= p[w]: v is later (higher id) */
    return w;
}

/* Next prefix size for the no-top-k walks. */
static int grow(int M, int V) { return M >= V / 16 ? V : M * 16; }

/* One row: p [V] probabilities (softmax output), r in [0, 1). c: [V], tail: [2V] scratch. */
static int32_t sample_row(const float *p, int V, int top_k, float top_p, double r, rvk_cand *c, float *tail) {
    const int nucleus = top_p > 0 && top_p < 1;
    if (top_k > 0 && top_k < V) { /* only the k best matter; the former algorithm on them */
        int keep = top_k;
        select_top(p, V, keep, c);
        if (nucleus) { /* renormalise after top-k as transformers does */
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
    /* no top-k: the mass of the whole row, then walks over a growing sorted prefix */
    const double tot = sorted_sum(p, V, tail);
    int M = V < 256 ? V : 256;
    select_top(p, V, M, c);
    int keep = V;
    if (nucleus) {
        double cum = 0;
        int i = 0;
        for (;;) {
            for (; i < M; i++) {
                cum += c[i].p / tot;
                if (cum >= top_p) break;
            }
            if (i < M) {
                keep = i + 1;
                break;
            }
            if (M == V) break; /* never reached top_p: keep everything */
            M = grow(M, V);
            select_top(p, V, M, c); /* the same order: the old prefix is the new one's start */
        }
    }
    double mass = tot;
    if (keep < V) {
        mass = 0;
        for (int i = 0; i < keep; i++) mass += c[i].p;
    }
    const double u = r * mass;
    if (!(u < mass)) return keep < V ? c[keep - 1].id : last_in_order(p, V); /* the walk never stops */
    double cum = 0;
    int i = 0;
    for (;;) {
        for (; i < M && i < keep; i++) {
            cum += c[i].p;
            if (u < cum) return c[i].id;
        }
        if (i >= keep || M == V) return c[keep - 1].id; /* unreachable: u < mass */
        M = grow(M, V);
        select_top(p, V, M, c);
    }
}

void rvk_cpu_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V, float temperature,
                int top_k, float top_p) {
    if (temperature <= 0) { /* greedy: first index of the maximum */
        for (int n = 0; n < N; n++) {
            const float *x = logits + (size_t)n * V;
            int32_t best = 0;
            for (int v = 1; v < V; v++)
                if (x[v] > x[best]) best = v;
            ids[n] = best;
        }
        return;
    }
    const size_t Vs = (size_t)V;
    char *ws = rvk_cpu_scratch(k, Vs * (sizeof(float) + sizeof(rvk_cand) + 2 * sizeof(float)));
    rvk_cand *c = (rvk_cand *)(void *)ws;
    float *prob = (float *)(void *)(ws + Vs * sizeof(rvk_cand));
    float *tail = prob + Vs;
    for (int n = 0; n < N; n++) {
        rvk_cpu_softmax(k, prob, logits + (size_t)n * V, 1, V, temperature);
        ids[n] = sample_row(prob, V, top_k, top_p, u[n], c, tail);
    }
}
