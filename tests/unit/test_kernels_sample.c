/* rvk_sample against the sampling algorithm generate.c used before it (the reference, sample_ref.h:
 * softmax on the host, qsort of the whole row by (p desc, id asc), top-k, top-p over
 * the renormalised top-k, one draw): the same token for the same uniform draw, on random rows
 * (flat, peaked, very peaked, integer logits with many ties, constant rows), small and
 * Qwen2-sized vocabularies, top_k 0/1/5/50/V/V+3, top_p 1/0.95/0.5/0.999999/0, several
 * temperatures, and draws including 0 and the largest double below 1. Greedy: argmax with the
 * first index on ties. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "kernels/sample_rule.h"
#include "kernels_testutil.h"
#include "sample_ref.h"

typedef rvk_sample_cand cand;

static int cand_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* generate.c's sample_row before rvk_sample (probs = softmax(logits / T) of one row): a qsort of
 * the whole row, then the contract's walk (sample_ref.h) */
static int32_t ref_sample(const float *probs, int V, int top_k, float top_p, double r, cand *buf) {
    for (int v = 0; v < V; v++) {
        buf[v].p = probs[v];
        buf[v].id = v;
    }
    qsort(buf, (size_t)V, sizeof *buf, cand_desc);
    return sample_ref_walk(buf, V, top_k, top_p, r);
}

enum { FLAT, PEAKED, VERY_PEAKED, TIES, CONSTANT, NKINDS };

static void make_row(float *x, int V, int kind, rv_rng *r) {
    for (int v = 0; v < V; v++) {
        double g = rv_rng_normal(r);
        switch (kind) {
        case FLAT: x[v] = (float)g; break;
        case PEAKED: x[v] = (float)(6.0 * g); break;
        case VERY_PEAKED: x[v] = (float)(25.0 * g); break;
        case TIES: x[v] = (float)floor(2.0 * g); break;
        default: x[v] = 0.5f; break;
        }
    }
}

/* One backend: every op goes through upload -> op -> download (kernels_testutil.h). */
static void conform(rv_kctx *k) {
    const int Vs[] = {7, 1000, 40000};
    const float temps[] = {0.3f, 1.0f, 1.7f};
    const float top_ps[] = {1.0f, 0.95f, 0.5f, 0.999999f, 0.0f};
    const int N = 3; /* rows per call: the kernel handles rows independently */
    rv_rng r;
    rv_rng_init(&r, 2024, 7, 0);
    int cases = 0, bad = 0, greedy_cases = 0, greedy_bad = 0;
    for (int vi = 0; vi < 3; vi++) {
        const int V = Vs[vi];
        const int top_ks[] = {0, 1, 5, 50, V, V + 3};
        float *lg = malloc((size_t)N * V * sizeof *lg), *pr = malloc((size_t)V * sizeof *pr);
        cand *buf = malloc((size_t)V * sizeof *buf);
        for (int kind = 0; kind < NKINDS; kind++) {
            for (int n = 0; n < N; n++) make_row(lg + (size_t)n * V, V, kind, &r);
            /* greedy */
            int32_t ids[3];
            kt_sample(k, ids, lg, NULL, N, V, 0.0f, 0, 1.0f);
            for (int n = 0; n < N; n++) {
                const float *x = lg + (size_t)n * V;
                int32_t best = 0;
                for (int v = 1; v < V; v++)
                    if (x[v] > x[best]) best = v;
                greedy_cases++;
                greedy_bad += ids[n] != best;
            }
            if (kind == CONSTANT) CHECK(ids[0] == 0); /* all equal: the first index */
            for (int ti = 0; ti < 3; ti++)
                for (int ki = 0; ki < 6; ki++)
                    for (int pi = 0; pi < 5; pi++) {
                        if (V == 40000 && (ti != 2 || pi == 3)) continue; /* keep the runtime small */
                        double u[3];
                        for (int n = 0; n < N; n++) u[n] = rv_rng_uniform(&r);
                        if (ki == 0 && pi == 0) u[0] = 0.0, u[1] = 1.0 - 0x1p-53; /* the ends of [0, 1) */
                        kt_sample(k, ids, lg, u, N, V, temps[ti], top_ks[ki], top_ps[pi]);
                        for (int n = 0; n < N; n++) {
                            kt_softmax(k, pr, lg + (size_t)n * V, 1, V, temps[ti]);
                            int32_t want = ref_sample(pr, V, top_ks[ki], top_ps[pi], u[n], buf);
                            cases++;
                            if (ids[n] != want) {
                                bad++;
                                fprintf(stderr, "V=%d kind=%d T=%g top_k=%d top_p=%g u=%.17g: got %d, reference %d\n",
                                        V, kind, temps[ti], top_ks[ki], top_ps[pi], u[n], ids[n], want);
                            }
                        }
                    }
        }
        free(lg), free(pr), free(buf);
    }
    /* a Qwen2-sized vocabulary, peaked rows (the long-tail path of the kept mass) */
    {
        const int V = 152064;
        float *lg = malloc((size_t)V * sizeof *lg), *pr = malloc((size_t)V * sizeof *pr);
        cand *buf = malloc((size_t)V * sizeof *buf);
        for (int rep = 0; rep < 6; rep++) {
            make_row(lg, V, rep % 2 ? VERY_PEAKED : PEAKED, &r);
            const int tk = rep < 4 ? 0 : 40;
            const float tp = rep % 3 == 0 ? 1.0f : 0.9f;
            double u = rep == 0 ? 1.0 - 0x1p-53 : rv_rng_uniform(&r);
            int32_t id;
            kt_sample(k, &id, lg, &u, 1, V, 0.8f, tk, tp);
            kt_softmax(k, pr, lg, 1, V, 0.8f);
            cases++;
            if (id != ref_sample(pr, V, tk, tp, u, buf)) {
                bad++;
                fprintf(stderr, "V=%d rep %d: got %d, reference %d\n", V, rep, id, ref_sample(pr, V, tk, tp, u, buf));
            }
        }
        free(lg), free(pr), free(buf);
    }
    printf("sampling: %d draws, %d differ from the full-sort reference; greedy: %d rows, %d differ\n", cases, bad,
           greedy_cases, greedy_bad);
    CHECK(cases > 1500);
    CHECK(bad == 0);
    CHECK(greedy_cases == 3 * NKINDS * N);
    CHECK(greedy_bad == 0);
}


/* ---- the shared rule's pieces (kernels/sample_rule.h) on adversarial rows ----
 * Reference: a full qsort of the row, descending, and a sequential double sum in that order. */
static int desc_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}
static double ref_sorted_sum(const float *p, int V) {
    float *t = malloc((size_t)V * sizeof *t);
    memcpy(t, p, (size_t)V * sizeof *t);
    qsort(t, (size_t)V, sizeof *t, desc_float);
    double s = 0;
    for (int i = 0; i < V; i++)
        if (t[i] > 0) s += t[i];
    free(t);
    return s;
}

/* the test's own ordered addition: bucket b's values (b = -1: all below 2^-29), sorted, added */
typedef struct ord {
    const float *p;
    int V, calls;
} ord;
static double ord_add(void *vctx, int b, double s) {
    ord *o = vctx;
    o->calls++;
    float *t = malloc((size_t)o->V * sizeof *t);
    int n = 0;
    for (int v = 0; v < o->V; v++) {
        const float x = o->p[v];
        if (!(x > 0 && x < 0x1p-29f)) continue;
        int e;
        frexpf(x, &e); /* x in [2^(e-1), 2^e) */
        if (b < 0 || -30 - (e - 1) == b) t[n++] = x;
    }
    qsort(t, (size_t)n, sizeof *t, desc_float);
    for (int i = 0; i < n; i++) s += t[i];
    free(t);
    return s;
}

/* want: 1 (exact from the statistics alone), 0 (bounded), -1 (no bound) */
static void check_total(const char *what, const float *p, int V, int want) {
    rvk_sample_stats st;
    rvk_sample_stats_row(p, V, &st);
    const double ref = ref_sorted_sum(p, V);
    double lo = -1, hi = -1;
    const int got = rvk_sample_total(&st, NULL, NULL, &lo, &hi);
    if (got != want) fprintf(stderr, "%s: rvk_sample_total says %d, expected %d\n", what, got, want);
    CHECK(got == want);
    if (got == 1) CHECK(lo == ref && hi == ref);
    if (got == 0) {
        if (!(lo <= ref && ref <= hi && hi - lo < 1e-9)) fprintf(stderr, "%s: %.17g not in [%.17g, %.17g]\n", what, ref, lo, hi);
        CHECK(lo <= ref && ref <= hi && hi - lo < 1e-9);
    }
    ord o = {p, V, 0};
    double l2 = -1, h2 = -1;
    CHECK(rvk_sample_total(&st, ord_add, &o, &l2, &h2) == 1); /* with the ordered additions: exact */
    if (l2 != ref) fprintf(stderr, "%s: total %.17g, sorted sum %.17g\n", what, l2, ref);
    CHECK(l2 == ref && h2 == ref);
    CHECK((want == 1) == (o.calls == 0)); /* the statistics alone sufficed exactly when expected */
    /* the whole rule on the row: the full-sort walk, several draws and nuclei */
    cand *buf = malloc((size_t)V * sizeof *buf);
    rvk_sample_cand *c = malloc((size_t)V * sizeof *c);
    float *tail = malloc(2 * (size_t)V * sizeof *tail);
    const double us[] = {0.0, 0.25, 0.5, 0.999, 1.0 - 0x1p-53};
    const float tps[] = {1.0f, 0.5f, 0.9999f};
    int bad = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++)
            bad += rvk_sample_row(p, V, 0, tps[j], us[i], c, tail) != ref_sample(p, V, 0, tps[j], us[i], buf);
    if (bad) fprintf(stderr, "%s: %d draws differ from the full-sort reference\n", what, bad);
    CHECK(bad == 0);
    free(buf), free(c), free(tail);
}

static void shared_rule(void) {
    enum { V = 4000 };
    float *p = malloc(V * sizeof *p);
    /* (1) exact halves: head 0.75 (ulp 2^-53 there); tail values 3 2^-54 = 1.5 ulp (bucket 23)
     * interleaved with 5 2^-55 = 1.25 ulp: the rounding of each half depends on the parity of the
     * running sum, i.e. on the order */
    for (int v = 0; v < V; v++) p[v] = 0;
    p[0] = 0.5f, p[1] = 0.25f;
    for (int v = 2; v < 1000; v++) p[v] = v % 3 ? 0x3p-54f : 0x5p-55f;
    check_total("exact halves", p, V, 0);
    /* (2) binade crossings. First a bucket whose mass (~1.4e-7) carries the sum far over 1; then
     * one just over: head s = 1 - 6 ulp (ulp = 2^-53 below 1), three tail terms t = 3.4 ulp
     * (bucket 22, no halves): in order s -> 1 - 3 ulp -> 1 (1 + 0.4 ulp rounds to 1 on the grid
     * of 2 ulp above 1) -> 1 + 4 ulp (1 + 3.4 ulp = 1 + 1.7 grid steps); the fast path's per-term
     * roundings on the grid below 1 do not hold across 1, so the crossing test must refuse it (the
     * exact condition: floor(W / ulp) + n + 1 = 10 + 4 >= R = 6) and the statistics only bound
     * the sum. */
    for (int v = 0; v < V; v++) p[v] = 0;
    p[0] = 0.5f, p[1] = 0.5f - 0x1p-25f, p[2] = 0x1p-25f - 0x1p-49f;
    for (int v = 3; v < 103; v++) p[v] = 0x1.8p-30f + (float)v * 0x1p-52f;
    check_total("binade crossing (large)", p, V, 0);
    for (int v = 0; v < V; v++) p[v] = 0;
    p[0] = 0.5f, p[1] = 0.5f - 0x1p-25f;
    for (int v = 2; v < 16; v++) p[v] = 0x1p-29f;
    p[16] = 0x1p-28f - 0x3p-52f; /* head: 1 - 2^-25 + 2^-25 - 3 2^-52 = 1 - 6 2^-53 */
    for (int v = 17; v < 20; v++) p[v] = 0x1.b33334p-52f; /* 3.4 2^-53 */
    CHECK(ref_sorted_sum(p, V) == 1.0 + 0x4p-53);        /* the hand calculation above */
    check_total("binade crossing (by a few ulps)", p, V, 0);
    /* (3) head below 0.5: only tail terms (not a softmax row): no bound */
    for (int v = 0; v < V; v++) p[v] = 1e-10f * (1 + v % 7);
    check_total("all tail", p, V, -1);
    /* (4) order-free: head only, and a bucket without halves far from the binade edge */
    for (int v = 0; v < V; v++) p[v] = v < 4 ? 0.2f : 0;
    check_total("head only", p, V, 1);
    p[4] = 0x1p-30f, p[5] = 0x1.2p-30f; /* bucket 0: t / ulp integers (no halves) */
    check_total("integral tail", p, V, 1);
    /* (5) softmax rows with long tails (tail terms down to 1e-11 in several buckets: these have
     * halves, so only bounds come from the statistics), and steep random logits */
    rv_rng r;
    rv_rng_init(&r, 77, 1, 0);
    double z = 0;
    for (int v = 0; v < V; v++) z += pow(v + 1.0, -3.0);
    for (int v = 0; v < V; v++) p[(v * 7919) % V] = (float)(pow(v + 1.0, -3.0) / z);
    check_total("zipf-3 row", p, V, 0);
    double m = 0, s = 0;
    double *w = malloc(V * sizeof *w);
    for (int v = 0; v < V; v++) w[v] = 40.0 * rv_rng_normal(&r), m = w[v] > m ? w[v] : m;
    for (int v = 0; v < V; v++) s += exp(w[v] - m);
    for (int v = 0; v < V; v++) p[v] = (float)(exp(w[v] - m) / s);
    rvk_sample_stats st;
    rvk_sample_stats_row(p, V, &st);
    double lo, hi;
    const int kind = rvk_sample_total(&st, NULL, NULL, &lo, &hi);
    check_total("steep row", p, V, kind); /* whichever it is, exact or a true bound */
    free(w), free(p);
}

int main(void) {
    shared_rule();
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(1);
        conform(k);
        rvk_destroy(k);
    }
    return check_summary("test_kernels_sample");
}
