/* rvk_sample against the sampling algorithm generate.c used before it (copied below as the
 * reference: softmax on the host, qsort of the whole row by (p desc, id asc), top-k, top-p over
 * the renormalised top-k, one draw): the same token for the same uniform draw, on random rows
 * (flat, peaked, very peaked, integer logits with many ties, constant rows), small and
 * Qwen2-sized vocabularies, top_k 0/1/5/50/V/V+3, top_p 1/0.95/0.5/0.999999/0, several
 * temperatures, and draws including 0 and the largest double below 1. Greedy: argmax with the
 * first index on ties. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "kernels_testutil.h"

typedef struct cand {
    float p;
    int32_t id;
} cand;

static int cand_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* generate.c's sample_row before rvk_sample (probs = softmax(logits / T) of one row) */
static int32_t ref_sample(const float *probs, int V, int top_k, float top_p, double r, cand *buf) {
    for (int v = 0; v < V; v++) {
        buf[v].p = probs[v];
        buf[v].id = v;
    }
    qsort(buf, (size_t)V, sizeof *buf, cand_desc);
    int keep = V;
    if (top_k > 0 && top_k < keep) keep = top_k;
    if (top_p > 0 && top_p < 1) {
        double tot = 0;
        for (int i = 0; i < keep; i++) tot += buf[i].p;
        double cum = 0;
        int n = 0;
        for (int i = 0; i < keep; i++) {
            n = i + 1;
            cum += buf[i].p / tot;
            if (cum >= top_p) break;
        }
        keep = n;
    }
    double tot = 0;
    for (int i = 0; i < keep; i++) tot += buf[i].p;
    double u = r * tot, cum = 0;
    for (int i = 0; i < keep; i++) {
        cum += buf[i].p;
        if (u < cum) return buf[i].id;
    }
    return buf[keep - 1].id;
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

int main(void) {
    for (int bi = -1; kt_backend_next(&bi);) { /* every built backend: the conformance loop */
        rv_kctx *k = kt_ctx(1);
        conform(k);
        rvk_destroy(k);
    }
    return check_summary("test_kernels_sample");
}
