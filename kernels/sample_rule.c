/* The sampling rule shared by the backends (sample_rule.h): the token that sorting the whole row
 * by (p desc, id asc) and walking it would choose (generate.c's former host algorithm), without
 * sorting the row:
 * - top-k (0 < k < V): only the k best candidates matter; they are selected (the CPU: a k-bounded
 *   min-heap, O(V log k); a device: a radix select) and sorted, and every later sum runs over
 *   them in sorted order.
 * - no top-k: the walks (nucleus, draw) only need the sorted order down to where they stop: the
 *   best M candidates (M = 256, 4096, ... until a walk stops inside the prefix). The kept mass, a
 *   double sum over the whole row in sorted order, comes from order-free statistics:
 *   * head: probabilities >= 2^-29 are multiples of 2^-52 and their partial sums are below 2, so
 *     they add exactly in any order (an integer sum of p 2^52);
 *   * tail (< 2^-29): added after the whole head, bucket by float exponent in decreasing order.
 *     With s >= 0.5 in the binade [top/2, top) (ulp = top 2^-53), adding t rounds s + t to
 *     s + rint(t / ulp) ulp whenever the exact result stays below top and t / ulp is not an exact
 *     half (s is a multiple of ulp, so the rounding only depends on t's fraction). A bucket of n
 *     terms with exact mass W = sum t and no such half stays in the binade for every order when
 *     s + W + (n + 1) ulp < top: every partial sum is at most s + W + n ulp / 2 (rint adds at most
 *     ulp / 2 per term) and the next exact result stays below top - ulp / 2. So the bucket adds
 *     s + (sum of rint(t / ulp)) ulp in ANY order, in particular the sorted one: the fast path.
 *     The condition is evaluated exactly in integers (W / ulp = sig 2^-(b + v), see below). Other
 *     buckets need the order: the CPU sorts that bucket (`ordered`); a device bounds the sum
 *     instead (each addition rounds by at most 2^-53 below 2) and decides the walk when both
 *     bounds give the same outcome (rvk_sample_walk is monotone in the total: see there).
 *   * terms below 2^-54 are under half an ulp of any s >= 0.5 and never change it; s < 0.5 would
 *     need 2^28 tail terms (unreachable for V < 2^28): then the whole tail is added in order.
 * All row arithmetic is sequential (deterministic, independent of threads and devices). */
#include "kernels/sample_rule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a before b in the sampling order: higher probability first, lower id first on ties */
static inline int before(rvk_sample_cand a, rvk_sample_cand b) { return a.p > b.p || (a.p == b.p && a.id < b.id); }

static int cand_desc(const void *x, const void *y) {
    const rvk_sample_cand *a = x, *b = y;
    if (a->p != b->p) return a->p < b->p ? 1 : -1;
    return a->id < b->id ? -1 : (a->id > b->id);
}

void rvk_sample_sort(rvk_sample_cand *c, int n) { qsort(c, (size_t)n, sizeof *c, cand_desc); }

/* The first M (<= V) candidates of the sampling order of p [V], sorted, into h [M]: a min-heap
 * whose root is the worst kept candidate, then a sort of the M survivors. */
static void select_top(const float *p, int V, int M, rvk_sample_cand *h) {
    int n = 0;
    for (int v = 0; v < V; v++) {
        rvk_sample_cand c = {p[v], v};
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
                rvk_sample_cand cw = c;
                if (l < M && before(cw, h[l])) w = l, cw = h[l];
                if (r < M && before(cw, h[r])) w = r;
                if (w == i) break;
                h[i] = h[w];
                i = w;
            }
            h[i] = c;
        }
    }
    rvk_sample_sort(h, n);
}

void rvk_sample_stats_row(const float *p, int V, rvk_sample_stats *st) {
    memset(st, 0, sizeof *st);
    for (int v = 0; v < V; v++) {
        uint32_t bits;
        memcpy(&bits, &p[v], sizeof bits);
        const rvk_sample_elem x = rvk_sample_classify(bits);
        switch (x.kind) {
        case 1: st->head += x.head_units; break;
        case 2:
            st->ntail++, st->cnt[x.b]++, st->sig[x.b] += x.m;
            for (int u = 0; u < 2; u++) st->rnd[u][x.b] += x.rnd[u], st->tie[u] |= x.tie[u] << x.b;
            break;
        case 3: st->ntail++; break;
        case 4: st->bad++; break;
        default: break;
        }
    }
}

/* Whether bucket b adds rnd ulps in any order to every s in [lo, hi] (see the header comment):
 * one binade, no exact half, and the exact crossing condition at hi:
 * W / ulp + n + 1 < R with R = (top - hi) / ulp (an integer: hi is a multiple of ulp) and
 * W / ulp = sig 2^-sh, sh = b + v; for an integer X, sig 2^-sh < X <=> floor(sig 2^-sh) < X. */
static int order_free(const rvk_sample_stats *st, int b, double lo, double hi, int *variant) {
    const int v = hi >= 1.0;
    if ((lo >= 1.0) != v || lo < 0.5) return 0;
    if ((st->tie[v] >> b) & 1u) return 0;
    const double top = v ? 2.0 : 1.0;
    const unsigned long long R = (unsigned long long)((top - hi) * (v ? 0x1p52 : 0x1p53)); /* exact */
    const unsigned long long need = (st->sig[b] >> (b + v)) + st->cnt[b] + 1ull;
    *variant = v;
    return need < R;
}

int rvk_sample_total(const rvk_sample_stats *st, rvk_sample_ordered_fn ordered, void *ctx, double *lo, double *hi) {
    if (st->bad || st->head >= (1ull << 53)) return -1; /* not a softmax row: no bound here */
    double s = (double)st->head * 0x1p-52;                   /* exact: below 2^53 units */
    double l = s, h = s;
    int exact = 1;
    if (st->ntail > 0 && s < 0.5) { /* no half-ulp bound below: the whole tail in order */
        if (!ordered) return -1;
        s = ordered(ctx, -1, s);
        *lo = *hi = s;
        return 1;
    }
    for (int b = 0; b < RVK_SAMPLE_NB; b++) {
        if (st->cnt[b] == 0) continue;
        int v = 0;
        if (order_free(st, b, l, h, &v)) {
            const double add = (double)st->rnd[v][b] * (v ? 0x1p-52 : 0x1p-53); /* exact: < 2^52 ulps */
            l += add, h += add;
        } else if (exact && ordered) {
            l = h = ordered(ctx, b, l);
        } else {
            /* bounds: every addition rounds by at most half an ulp of a result below 2, 2^-53;
             * W = sig 2^(e-23) = sig 2^(-53-b) is exact for sig < 2^53; the slack covers n
             * roundings and the 3 of these two lines */
            if (st->sig[b] >= (1ull << 53)) return -1;
            const double W = (double)st->sig[b] * ldexp(1.0, -53 - b), slack = ((double)st->cnt[b] + 2.0) * 0x1p-52;
            const double nl = (l + W) - slack;
            l = nl > l ? nl : l; /* a sum of positive terms never decreases */
            h = (h + W) + slack;
            if (h >= 2.0) return -1; /* the 2^-53 rounding bound holds below 2 only */
            exact = 0;
        }
    }
    *lo = l, *hi = h;
    return exact;
}

/* Monotone in `total`: the nucleus terms p / total and their rounded partial sums do not grow as
 * total grows, so keep (the first prefix reaching top_p) does not shrink; with keep < V the draw
 * only depends on keep; with keep = V, u = r total grows with total and the first candidate whose
 * cumulative sum exceeds u moves later or stays. Hence equal (keep, index) at two totals are the
 * outcome at every total between them. */
int rvk_sample_walk(const rvk_sample_cand *c, int M, int V, int top_k, float top_p, double r, double total,
                    int32_t *id, int *keep_out) {
    const int nucleus = top_p > 0 && top_p < 1;
    if (top_k > 0 && top_k < V) { /* c holds the top_k best: the former algorithm on them */
        int keep = top_k;
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
        *keep_out = keep;
        for (int i = 0; i < keep; i++) {
            cum += c[i].p;
            if (u < cum) {
                *id = c[i].id;
                return RVK_WALK_DONE;
            }
        }
        *id = c[keep - 1].id;
        return RVK_WALK_DONE;
    }
    int keep = V;
    if (nucleus) {
        double cum = 0;
        int i = 0;
        for (; i < M; i++) {
            cum += c[i].p / total;
            if (cum >= top_p) break;
        }
        if (i < M) keep = i + 1;
        else if (M < V) return RVK_WALK_MORE; /* else: never reached top_p, keep everything */
    }
    *keep_out = keep;
    double mass = total;
    if (keep < V) {
        mass = 0;
        for (int i = 0; i < keep; i++) mass += c[i].p;
    }
    const double u = r * mass;
    if (!(u < mass)) { /* the walk never stops */
        if (keep == V) return RVK_WALK_LAST;
        *id = c[keep - 1].id;
        return RVK_WALK_DONE;
    }
    double cum = 0;
    int i = 0;
    for (; i < M && i < keep; i++) {
        cum += c[i].p;
        if (u < cum) {
            *id = c[i].id;
            return RVK_WALK_DONE;
        }
    }
    if (i >= keep || M == V) { /* unreachable: u < mass */
        *id = c[keep - 1].id;
        return RVK_WALK_DONE;
    }
    return RVK_WALK_MORE;
}

static int float_desc(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return (a < b) - (a > b);
}

/* The CPU's ordered additions: the tail grouped by bucket once (on the first call), then the
 * values of a bucket (or the whole tail) sorted and added. */
typedef struct ordered_ctx {
    const float *p;
    int V;
    float *tail; /* [2V]: [0, V) the whole tail, [V, 2V) grouped by bucket, largest values first */
    int grouped, ntail, at[RVK_SAMPLE_NB + 1];
} ordered_ctx;

static int tail_bucket(float t) { /* the bucket of 0 < t < 2^-29, RVK_SAMPLE_NB below them */
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    const rvk_sample_elem x = rvk_sample_classify(bits);
    return x.kind == 2 ? x.b : RVK_SAMPLE_NB;
}

static double add_sorted(float *t, int n, double s) {
    qsort(t, (size_t)n, sizeof *t, float_desc);
    for (int i = 0; i < n; i++) s += t[i];
    return s;
}

static double add_in_order(void *vctx, int b, double s) {
    ordered_ctx *o = vctx;
    float *all = o->tail, *grp = o->tail + o->V;
    if (!o->grouped) {
        int n = 0, cnt[RVK_SAMPLE_NB + 1] = {0}, fill[RVK_SAMPLE_NB + 1];
        for (int v = 0; v < o->V; v++)
            if (o->p[v] > 0 && o->p[v] < 0x1p-29f) all[n++] = o->p[v];
        for (int i = 0; i < n; i++) cnt[tail_bucket(all[i])]++;
        o->at[0] = 0;
        for (int k = 0; k < RVK_SAMPLE_NB; k++) o->at[k + 1] = o->at[k] + cnt[k];
        memcpy(fill, o->at, sizeof fill);
        for (int i = 0; i < n; i++) {
            const int k = tail_bucket(all[i]);
            if (k < RVK_SAMPLE_NB) grp[fill[k]++] = all[i];
        }
        o->ntail = n;
        o->grouped = 1;
    }
    if (b < 0) return add_sorted(all, o->ntail, s);
    return add_sorted(grp + o->at[b], o->at[b + 1] - o->at[b], s);
}

/* sum_v p[v] in double in the sampling order, without sorting the row (header comment). */
static double sorted_sum(const float *p, int V, float *tail) {
    rvk_sample_stats st;
    rvk_sample_stats_row(p, V, &st);
    ordered_ctx o = {p, V, tail, 0, 0, {0}};
    double lo, hi;
    if (rvk_sample_total(&st, add_in_order, &o, &lo, &hi) >= 0) return lo;
    /* not a softmax row (NaN, inf, negative, >= 2): the head in index order, the tail in order
     * (what the sorted sum is: NaN and negatives are in no sum, inf stays inf) */
    double s = 0.0;
    for (int v = 0; v < V; v++)
        if (p[v] >= 0x1p-29f) s += p[v];
    return add_in_order(&o, -1, s);
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

int32_t rvk_sample_row(const float *p, int V, int top_k, float top_p, double r, rvk_sample_cand *c, float *tail) {
    int32_t id = 0;
    int keep;
    if (top_k > 0 && top_k < V) {
        select_top(p, V, top_k, c);
        rvk_sample_walk(c, top_k, V, top_k, top_p, r, 0.0, &id, &keep);
        return id;
    }
    const double tot = sorted_sum(p, V, tail);
    int M = V < 256 ? V : 256;
    for (;;) {
        select_top(p, V, M, c); /* the same order: the old prefix is the new one's start */
        const int w = rvk_sample_walk(c, M, V, top_k, top_p, r, tot, &id, &keep);
        if (w == RVK_WALK_DONE) return id;
        if (w == RVK_WALK_LAST) return last_in_order(p, V);
        M = grow(M, V);
    }
}
