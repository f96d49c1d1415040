/* Host emulation of the CUDA backend's temperature sampling (kernels/cuda/sample.cu: the
 * statistics and candidate-selection kernels, the host walk and its fallbacks), so the device
 * path is checked on machines without a GPU. The .cu file is compiled as host C++ with the
 * emulation runtime of tests/gpu/cuda_emu.h (every CTA as 256 fibers) and linked with the shared
 * rule kernels/sample_rule.c; device memory is host memory.
 *
 * References, written here: the full sort of the row by (p desc, id asc) and sequential double
 * sums in that order (the contract of rvk_sample in kernels/kernels.h, as generate.c sampled
 * before rvk_sample); the statistics from frexp / nearbyint on doubles (not the bit arithmetic of
 * rvk_sample_classify). The device softmax is replaced by the identity (the rows below are
 * probabilities; rvk_cuda_softmax itself is checked by tests/gpu/kernel_conformance.c on a GPU),
 * except in one case where a host float softmax stands in for it (the scratch layout with logits).
 *
 * Checks:
 * (a) kernels: the statistics equal the reference's field by field; the M selected candidates are
 *     the first M of the full sort (as sets: ties at the threshold go to the lowest ids), values
 *     included, on peaked, Zipf, flat, tied, V not a multiple of 256, V < M, top-k rows;
 * (b) rvk_cuda_sample: the ids equal the full-sort reference for many rows and draws (top-k only,
 *     top-p only, both, neither, u = 0 and u near 1), and rows built to force each fallback take
 *     it (the context's tally counts it) and still give the reference's id;
 * (c) the fallback rate on Zipf-like and Gaussian-logit rows of V = 151936 (the host pieces of
 *     the device path on host statistics and candidates: the same records as the kernels), ids
 *     equal to the reference; printed as MEASURE lines.
 * Exit 0 when all pass, 1 otherwise.
 *
 * Build (tests/e2e/test_sample_emu.sh): cc -c kernels/sample_rule.c, then
 * c++ -std=c++17 -O2 -I<root> -I<root>/src tests/gpu/sample_emu.cpp sample_rule.o */
#include "tests/gpu/cuda_emu.h"

#include <algorithm>
#include <random>
#include <string>

#include "kernels/sample_rule.h"
#include "tests/unit/sample_ref.h"

/* ---- what sample.cu takes from cuda_impl.h beyond cuda_emu.h ---- */
#define RVK_CU_THREADS 256
struct rvk_cuda {
    rvk_sample_tally sample_tally;
};
static rvk_cuda g_cuda;
static rvk_cuda *rvk_cu(rv_kctx *) { return &g_cuda; }
static void rvk_record_error(rv_kctx *, const rv_err *e) {
    printf("FAIL the context recorded an error: %s\n", e->msg);
    g_fail++;
}
static size_t g_fetched; /* bytes downloaded by the host part */
static int rvk_cu_fetch(rv_kctx *, void *h, const void *d, size_t n, rv_err *) {
    memcpy(h, d, n);
    g_fetched += n;
    return 0;
}
static int g_softmax_identity = 1;
static void rvk_cuda_softmax(rv_kctx *, float *p, const float *logits, int N, int V, float T) {
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *o = p + (size_t)n * V;
        if (g_softmax_identity) {
            memcpy(o, z, (size_t)V * sizeof(float));
            continue;
        }
        float m = -INFINITY;
        for (int j = 0; j < V; j++) m = std::max(m, z[j] / T);
        float s = 0;
        for (int j = 0; j < V; j++) s += o[j] = expf(z[j] / T - m);
        for (int j = 0; j < V; j++) o[j] /= s;
    }
}
#define SM_LAUNCH(fn, grid, st) EMU_LAUNCH(fn, grid, 0)

#include "kernels/cuda/sample.cu"

/* ---- references ---- */

static void full_sort(const float *p, int V, std::vector<rvk_sample_cand> &c) {
    c.resize(V);
    for (int v = 0; v < V; v++) c[v] = rvk_sample_cand{p[v], v};
    std::sort(c.begin(), c.end(), [](const rvk_sample_cand &a, const rvk_sample_cand &b) {
        return a.p > b.p || (a.p == b.p && a.id < b.id);
    });
}

/* the contract, on the sorted row (tests/unit/sample_ref.h) */
static int32_t ref_draw(const std::vector<rvk_sample_cand> &c, int V, int top_k, float top_p, double r) {
    return sample_ref_walk(c.data(), V, top_k, top_p, r);
}

/* the statistics with floating-point arithmetic: frexp for the bucket and significand, the
 * quotient t / ulp in double (exact: a power-of-two scaling) for the rounding and the tie */
static void ref_stats(const float *p, int V, rvk_sample_stats &s) {
    memset(&s, 0, sizeof s);
    for (int v = 0; v < V; v++) {
        const float t = p[v];
        if (std::isnan(t) || std::isinf(t) || std::signbit(t) || t >= 2.0f) {
            s.bad++;
            continue;
        }
        if (t == 0) continue;
        if (t >= 0x1p-29f) {
            s.head += (unsigned long long)((double)t * 0x1p52);
            continue;
        }
        s.ntail++;
        int e;
        const double f = frexp((double)t, &e); /* t = f 2^e, f in [0.5, 1) */
        const int b = -30 - (e - 1);
        if (b >= RVK_SAMPLE_NB) continue;
        s.cnt[b]++;
        s.sig[b] += (unsigned long long)ldexp(f, 24);
        for (int u = 0; u < 2; u++) {
            const double q = (double)t / (u ? 0x1p-52 : 0x1p-53);
            s.rnd[u][b] += (unsigned long long)nearbyint(q);
            if (q - floor(q) == 0.5) s.tie[u] |= 1u << b;
        }
    }
}

static bool same_stats(const rvk_sample_stats &a, const rvk_sample_stats &b) {
    bool ok = a.head == b.head && a.ntail == b.ntail && a.bad == b.bad && a.tie[0] == b.tie[0] && a.tie[1] == b.tie[1];
    for (int i = 0; i < RVK_SAMPLE_NB; i++)
        ok = ok && a.cnt[i] == b.cnt[i] && a.sig[i] == b.sig[i] && a.rnd[0][i] == b.rnd[0][i] && a.rnd[1][i] == b.rnd[1][i];
    return ok;
}

static void pass(bool ok, const char *fmt, const char *what, const char *detail = "") {
    printf("%s %s %s%s\n", ok ? "PASS" : "FAIL", fmt, what, detail);
    g_fail += !ok;
}

/* ---- rows (probabilities, float; normalised in double then rounded, like a softmax) ---- */

enum kind { PEAKED, ZIPF, ZIPF_STEEP, FLAT, TIES, GAUSS, NKIND };
static const char *kind_name[] = {"peaked", "zipf-1.1", "zipf-2", "flat", "ties", "gauss-3"};

static void make_row(float *p, int V, int kind, std::mt19937_64 &g) {
    std::vector<double> w(V);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<int> perm(V);
    for (int v = 0; v < V; v++) perm[v] = v;
    std::shuffle(perm.begin(), perm.end(), g);
    for (int v = 0; v < V; v++) {
        switch (kind) {
        case PEAKED: w[v] = exp(6.0 * nd(g)); break;
        case ZIPF: w[v] = pow(1.0 + perm[v], -1.1); break;
        case ZIPF_STEEP: w[v] = pow(1.0 + perm[v], -2.0); break;
        case FLAT: w[v] = exp(0.1 * nd(g)); break;
        case TIES: w[v] = exp(floor(2.0 * nd(g))); break; /* few distinct values: many exact ties */
        default: w[v] = exp(3.0 * nd(g)); break;
        }
    }
    double s = 0;
    for (int v = 0; v < V; v++) s += w[v];
    for (int v = 0; v < V; v++) p[v] = (float)(w[v] / s);
}

/* (a) the kernels on N rows of p [N, V] with M candidates */
static void check_kernels(const char *tag, const std::vector<float> &p, int N, int V, int M) {
    std::vector<rvk_sample_stats> st(N);
    memset(st.data(), 0, N * sizeof(rvk_sample_stats));
    const unsigned chunks = (unsigned)((V + RVK_CU_SAMPLE_CHUNK - 1) / RVK_CU_SAMPLE_CHUNK);
    EMU_LAUNCH(sample_stats_k, dim3((unsigned)N, chunks), 0)(st.data(), p.data(), V);
    /* all rows in one launch, then each row alone (through the row list) into its own buffer with
     * a guard after it: a write past a row's M slots shows up there (in the shared buffer the next
     * row's CTA would overwrite it) */
    std::vector<rvk_sample_cand> out((size_t)N * M, rvk_sample_cand{NAN, -1});
    EMU_LAUNCH(sample_select_k, dim3((unsigned)N), 0)(out.data(), (const rvk_sample_stats *)st.data(), p.data(),
                                                      (const int32_t *)nullptr, V, M);
    bool alone_ok = true;
    for (int n = 0; n < N; n++) {
        const int G = 64;
        std::vector<rvk_sample_cand> one((size_t)M + G, rvk_sample_cand{NAN, -1});
        const int32_t list[1] = {n};
        EMU_LAUNCH(sample_select_k, dim3(1u), 0)(one.data(), (const rvk_sample_stats *)st.data(), p.data(), list, V, M);
        for (int i = 0; i < G; i++) alone_ok = alone_ok && one[(size_t)M + i].id == -1;
        if (!st[n].bad)
            for (int i = 0; i < M; i++) {
                const rvk_sample_cand &a = one[i], &b = out[(size_t)n * M + i];
                alone_ok = alone_ok && a.id == b.id && a.p == b.p;
            }
    }
    bool stats_ok = true, cand_ok = true;
    std::vector<rvk_sample_cand> c;
    for (int n = 0; n < N; n++) {
        const float *row = p.data() + (size_t)n * V;
        rvk_sample_stats want;
        ref_stats(row, V, want);
        stats_ok = stats_ok && same_stats(st[n], want);
        if (want.bad) continue;
        full_sort(row, V, c);
        std::vector<rvk_sample_cand> a(c.begin(), c.begin() + M), b(out.begin() + (size_t)n * M, out.begin() + (size_t)(n + 1) * M);
        auto by_id = [](const rvk_sample_cand &x, const rvk_sample_cand &y) { return x.id < y.id; };
        std::sort(a.begin(), a.end(), by_id), std::sort(b.begin(), b.end(), by_id);
        for (int i = 0; i < M; i++) cand_ok = cand_ok && a[i].id == b[i].id && a[i].p == b[i].p;
    }
    char d[128];
    snprintf(d, sizeof d, " (N %d, V %d, M %d)", N, V, M);
    pass(stats_ok, "kernels", tag, (std::string(": statistics == reference") + d).c_str());
    pass(cand_ok, "kernels", tag, (std::string(": candidates == first M of the full sort") + d).c_str());
    pass(alone_ok, "kernels", tag, (std::string(": a row alone: the same candidates, nothing past its M slots") + d).c_str());
}

/* (b) rvk_cuda_sample on rows p [N, V] against the reference */
static void check_path(const char *tag, const std::vector<float> &p, int N, int V, float T, int top_k, float top_p,
                       const std::vector<double> &u, int expect_cause = -1) {
    rvk_sample_tally before = g_cuda.sample_tally;
    std::vector<int32_t> ids(N, -7);
    rvk_cuda_sample(nullptr, ids.data(), p.data(), u.data(), N, V, T, top_k, top_p);
    std::vector<float> prob(p.size());
    rvk_cuda_softmax(nullptr, prob.data(), p.data(), N, V, T);
    std::vector<rvk_sample_cand> c;
    int bad = 0;
    for (int n = 0; n < N; n++) {
        full_sort(prob.data() + (size_t)n * V, V, c);
        const int32_t want = ref_draw(c, V, top_k, top_p, u[n]);
        if (ids[n] != want) {
            if (bad < 5) printf("  %s row %d u %.17g: got %d, reference %d\n", tag, n, u[n], ids[n], want);
            bad++;
        }
    }
    long long fb = 0;
    for (int i = 0; i < RVK_SAMPLE_FB_N; i++) fb += g_cuda.sample_tally.fallback[i] - before.fallback[i];
    char d[160];
    snprintf(d, sizeof d, ": %d rows (V %d, T %g, top_k %d, top_p %g) == reference, %lld host fallback(s)", N, V, T,
             top_k, top_p, fb);
    pass(bad == 0 && g_cuda.sample_tally.rows - before.rows == N, "path", tag, d);
    if (expect_cause >= 0) {
        const long long got = g_cuda.sample_tally.fallback[expect_cause] - before.fallback[expect_cause];
        snprintf(d, sizeof d, ": fallback cause %d taken %lld time(s)", expect_cause, got);
        pass(got > 0, "path", tag, d);
    }
}

static std::vector<double> draws(int N, std::mt19937_64 &g) {
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    std::vector<double> u(N);
    for (int n = 0; n < N; n++) u[n] = ud(g);
    if (N > 1) u[0] = 0.0, u[1] = 1.0 - 0x1p-53; /* the ends of [0, 1) */
    return u;
}

int main() {
    std::mt19937_64 g(20261203);
    /* (a) kernels */
    {
        const int shapes[][3] = {{4, 1000, 256}, {3, 3001, 256}, {2, 100, 100}, {2, 257, 50}, {2, 40000, 256},
                                 {2, 40000, 4096}, {1, 151936, 256}};
        for (auto &s : shapes) {
            const int N = s[0], V = s[1], M = s[2];
            for (int kind = 0; kind < NKIND; kind++) {
                if (V == 151936 && kind != ZIPF_STEEP && kind != TIES) continue; /* emulation time */
                std::vector<float> p((size_t)N * V);
                for (int n = 0; n < N; n++) make_row(p.data() + (size_t)n * V, V, kind, g);
                char tag[64];
                snprintf(tag, sizeof tag, "%s", kind_name[kind]);
                check_kernels(tag, p, N, V, M);
            }
        }
        /* exact ties across the threshold: 600 equal values, M = 256 takes the lowest ids */
        std::vector<float> p(2000, 1e-4f);
        for (int v = 0; v < 2000; v += 3) p[v] = 2e-4f;
        check_kernels("ties at the threshold", p, 1, 2000, 256);
        /* ties after every larger value, the (need+1)-th in the chunk of the need-th: a wrong tie
         * rank writes it one slot past the row */
        std::vector<float> t(300, 1e-3f);
        for (int v = 0; v < 10; v++) t[v] = 2e-3f;
        check_kernels("ties after the larger values", t, 1, 300, 20);
        /* a bad row (NaN) next to a good one: statistics flag it, the selection skips it */
        std::vector<float> q(2 * 1000);
        make_row(q.data(), 1000, PEAKED, g), make_row(q.data() + 1000, 1000, PEAKED, g);
        q[1500] = NAN;
        check_kernels("NaN row", q, 2, 1000, 256);
    }
    { /* greedy: the first index of the maximum */
        const int N = 3, V = 3001;
        std::vector<float> z((size_t)N * V);
        std::normal_distribution<double> nd(0.0, 1.0);
        for (float &x : z) x = (float)floor(2 * nd(g)); /* many ties at the maximum */
        z[2 * V + 2999] = 100.0f;
        std::vector<int32_t> ids(N, -7);
        rvk_cuda_sample(nullptr, ids.data(), z.data(), nullptr, N, V, 0.0f, 0, 1.0f);
        bool ok = true;
        for (int n = 0; n < N; n++) {
            int best = 0;
            for (int v = 1; v < V; v++)
                if (z[(size_t)n * V + v] > z[(size_t)n * V + best]) best = v;
            ok = ok && ids[n] == best;
        }
        pass(ok, "path", "greedy", ": argmax ids == the first index of the maximum");
    }
    /* (b) the whole path */
    const int Vs[] = {7, 1000, 3001, 40000};
    const int top_ks[] = {0, 1, 5, 50, 300};
    const float top_ps[] = {1.0f, 0.95f, 0.5f, 0.0f};
    for (int V : Vs)
        for (int kind = 0; kind < NKIND; kind++) {
            const int N = V >= 40000 ? 3 : 6;
            std::vector<float> p((size_t)N * V);
            for (int n = 0; n < N; n++) make_row(p.data() + (size_t)n * V, V, kind, g);
            for (int tk : top_ks)
                for (float tp : top_ps) {
                    if (V >= 40000 && tk != 0 && tk != 50) continue;
                    char tag[64];
                    snprintf(tag, sizeof tag, "%s", kind_name[kind]);
                    check_path(tag, p, N, V, 1.0f, tk, tp, draws(N, g));
                }
        }
    { /* logits through the (stand-in) softmax: p in scratch, T != 1 */
        g_softmax_identity = 0;
        const int N = 4, V = 5000;
        std::vector<float> z((size_t)N * V);
        std::normal_distribution<double> nd(0.0, 3.0);
        for (float &x : z) x = (float)nd(g);
        check_path("logits T 0.7", z, N, V, 0.7f, 0, 0.9f, draws(N, g));
        check_path("logits T 0.7 top-k", z, N, V, 0.7f, 20, 1.0f, draws(N, g));
        g_softmax_identity = 1;
    }
    { /* the fallbacks, each forced */
        std::vector<float> p(3 * 1000);
        for (int n = 0; n < 3; n++) make_row(p.data() + n * 1000, 1000, PEAKED, g);
        p[1000 + 17] = -0.0f; /* sign bit: a bad element (sorts as 0 in the reference) */
        check_path("bad element (-0)", p, 3, 1000, 1.0f, 0, 1.0f, draws(3, g), RVK_SAMPLE_FB_BAD);
        std::vector<float> f(2 * 20000);
        for (int n = 0; n < 2; n++) make_row(f.data() + n * 20000, 20000, FLAT, g);
        check_path("top-k above the device cap", f, 2, 20000, 1.0f, 5000, 1.0f, draws(2, g), RVK_SAMPLE_FB_TOPK);
        { /* flat rows: the draw and the nucleus pass 256 candidates; the second round (4096) finishes
           * the first two rows, the third (all 20000) the others */
            const rvk_sample_tally b0 = g_cuda.sample_tally;
            check_path("flat rows: walks past 256 candidates", f, 2, 20000, 1.0f, 0, 1.0f, {0.05, 0.9});
            check_path("flat rows: nucleus past 256 candidates", f, 2, 20000, 1.0f, 0, 0.9f, {0.5, 0.1});
            pass(g_cuda.sample_tally.fallback[RVK_SAMPLE_FB_PREFIX] == b0.fallback[RVK_SAMPLE_FB_PREFIX], "path",
                 "flat rows", ": finished by the later rounds, no download");
            std::vector<float> w(100000);
            make_row(w.data(), 100000, FLAT, g);
            check_path("flat row of 100000: the draw passes 65536 candidates", w, 1, 100000, 1.0f, 0, 1.0f, {0.9},
                       RVK_SAMPLE_FB_PREFIX);
        }
        std::vector<float> t(1000, 1e-10f); /* head mass 0: no bound (not a softmax row) */
        t[3] = 3e-10f;
        check_path("all-tail row", t, 1, 1000, 1.0f, 0, 1.0f, {0.3}, RVK_SAMPLE_FB_SUM);
        std::vector<float> l(1000);
        make_row(l.data(), 1000, PEAKED, g);
        check_path("u = 1: the draw never stops", l, 1, 1000, 1.0f, 0, 1.0f, {1.0}, RVK_SAMPLE_FB_LAST);
        /* the draw placed between the walks at the two bounds of a tail-heavy row's total */
        const int V = 151936;
        std::vector<float> z(V);
        make_row(z.data(), V, ZIPF_STEEP, g);
        rvk_sample_stats st;
        rvk_sample_stats_row(z.data(), V, &st);
        double lo = 0, hi = 0;
        const int exact = rvk_sample_total(&st, NULL, NULL, &lo, &hi);
        pass(exact == 0 && lo < hi, "path", "zipf-2 row of V 151936", ": its total is only bounded (a tie bucket)");
        std::vector<rvk_sample_cand> c;
        full_sort(z.data(), V, c);
        double cum = 0;
        for (int i = 0; i < 5; i++) cum += c[i].p;
        /* u = r lo just below cum, u = r hi at or above: the walks stop at candidates 4 and 5 */
        double r = cum / hi;
        while (r * hi < cum) r = nextafter(r, 2.0);
        pass(r * lo < cum && r < 1, "path", "zipf-2 row of V 151936", ": a draw between the bounds exists");
        check_path("draw between the bounds", z, 1, V, 1.0f, 0, 1.0f, {r}, RVK_SAMPLE_FB_BOUNDS);
    }
    /* (c) fallback rate on realistic rows (host records: what the kernels produce, checked in (a)) */
    {
        const int V = 151936, R = 40, D = 25;
        const float tps[] = {1.0f, 0.95f, 0.9f};
        const int kinds[] = {ZIPF, ZIPF_STEEP, GAUSS, PEAKED};
        std::vector<float> p(V);
        std::vector<rvk_sample_cand> c;
        std::uniform_real_distribution<double> ud(0.0, 1.0);
        for (int kind : kinds)
            for (float tp : tps) {
                long long rows = 0, fb[RVK_SAMPLE_FB_N] = {0}, wrong = 0, bounded = 0, at[RVK_CU_SAMPLE_ROUNDS] = {0};
                for (int rr = 0; rr < R; rr++) {
                    make_row(p.data(), V, kind, g);
                    full_sort(p.data(), V, c);
                    rvk_sample_stats st;
                    rvk_sample_stats_row(p.data(), V, &st);
                    double lo, hi;
                    bounded += rvk_sample_total(&st, NULL, NULL, &lo, &hi) == 0;
                    for (int d = 0; d < D; d++) {
                        const double r = ud(g);
                        int cause = -1, round = 0;
                        int32_t id = -1;
                        for (; round < RVK_CU_SAMPLE_ROUNDS; round++) { /* as rvk_cuda_sample's rounds */
                            const int M = round_m(round, V);
                            std::vector<rvk_sample_cand> top(c.begin(), c.begin() + M);
                            std::reverse(top.begin(), top.end()); /* any order: finish_row sorts */
                            id = finish_row(&st, top.data(), M, V, 0, tp, r, &cause);
                            if (id >= 0 || cause != RVK_SAMPLE_FB_PREFIX || M == V) break;
                        }
                        rows++;
                        if (id < 0) fb[cause]++;
                        else at[round]++, wrong += id != ref_draw(c, V, 0, tp, r);
                    }
                }
                long long tot = 0;
                for (long long x : fb) tot += x;
                printf("MEASURE V=%d %-9s top_p=%.2f: %lld draws (%d rows, %lld with only bounds of the total): finished "
                       "with 256 / 4096 / 65536 candidates %lld / %lld / %lld, downloaded %.1f%% (prefix %lld, bounds "
                       "%lld, last %lld, sum %lld)\n",
                       V, kind_name[kind], tp, rows, R, bounded, at[0], at[1], at[2], 100.0 * tot / rows,
                       fb[RVK_SAMPLE_FB_PREFIX], fb[RVK_SAMPLE_FB_BOUNDS], fb[RVK_SAMPLE_FB_LAST], fb[RVK_SAMPLE_FB_SUM]);
                char d[96];
                snprintf(d, sizeof d, " %s top_p %.2f: ids of the finished draws == reference", kind_name[kind], tp);
                pass(wrong == 0, "rate", "V 151936", d);
            }
    }
    printf("sample_emu: %d failure(s)\n", g_fail);
    return g_fail ? 1 : 0;
}
