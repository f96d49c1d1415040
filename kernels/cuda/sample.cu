/* Token sampling. Greedy (temperature <= 0) runs on the device: a block-wide argmax per row, the
 * first index of the maximum (ties go to the lower id, as the CPU's strict > scan).
 * Temperature sampling: "the device selects, the host walks" (docs/kernels.md "Device sampling").
 * 1. p = softmax(logits / T) by rvk_cuda_softmax into device scratch. The token is the shared rule
 *    (kernels/sample_rule.c) applied to THESE probabilities: the CPU backend's own softmax differs
 *    by ulps, so the CUDA token equals the CPU rule on the device's p, not the CPU's token.
 * 2. sample_stats_k: the row's order-free statistics (rvk_sample_stats: integer sums, atomics
 *    allowed, deterministic), several CTAs per row.
 * 3. sample_select_k, one CTA per row: the best M candidates by (p desc, id asc), M = top_k when
 *    0 < top_k < V (up to RVK_CU_SAMPLE_MAX_K), else RVK_CU_SAMPLE_M: a radix select on the
 *    float bits (p >= 0, so the bits order like the values; 4 passes of 8-bit digits with a
 *    256-bin shared histogram) gives the threshold tau and how many ties p == tau to take, then
 *    an index-order compaction (warp ballots + per-warp counts: no order from atomics) keeps every
 *    p > tau and the lowest-id ties.
 * 4. The host downloads [N] statistics and [N, M] candidates (one copy), sorts each row's M
 *    candidates and runs rvk_sample_total + rvk_sample_walk; when the row's total is only bounded,
 *    the walk runs at both bounds and must agree (it is monotone in the total). Rows whose walk
 *    passes the M candidates get rounds of 4096 and 65536 (sample_select_k on a row list). A row
 *    it still cannot finish (sample_rule.h RVK_SAMPLE_FB_*) is downloaded and sampled by
 *    rvk_sample_row; the context's sample_tally counts them. Then the ids are uploaded. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"
#include "kernels/sample_rule.h"

#ifndef SM_LAUNCH /* tests/gpu/sample_emu.cpp runs the kernels as host fibers */
#define SM_LAUNCH(fn, grid, st) fn<<<(grid), RVK_CU_THREADS, 0, (st)>>>
#endif

/* (value, index) pairs: a beats b if larger, or equal with the lower index */
__device__ inline void better(float &bv, int &bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) bv = v, bi = i;
}

__global__ void argmax_k(int32_t *ids, const float *logits, int V) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const float *x = logits + (size_t)blockIdx.x * V;
    float bv = -INFINITY;
    int bi = V; /* "none": any real index beats it at equal value */
    for (int j = threadIdx.x; j < V; j += blockDim.x) better(bv, bi, x[j], j);
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        better(bv, bi, ov, oi);
    }
    int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;
    if (l == 0) sv[w] = bv, si[w] = bi;
    __syncthreads();
    if (w == 0) {
        bv = l < nw ? sv[l] : -INFINITY;
        bi = l < nw ? si[l] : V;
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            better(bv, bi, ov, oi);
        }
        /* all -inf (or NaN) rows: the CPU scan keeps index 0 */
        if (l == 0) ids[blockIdx.x] = bi < V ? bi : 0;
    }
}

/* Elements of a row per CTA of the statistics kernel. */
#define RVK_CU_SAMPLE_CHUNK 8192

/* st: [N] zeroed before the launch; grid (N, chunks of the row). Each CTA adds its chunk into a
 * shared record with shared atomics, then the record's non-zero fields into the row's with
 * global atomics: integer sums, so the result does not depend on the order. */
__global__ void sample_stats_k(rvk_sample_stats *st, const float *p, int V) {
    __shared__ unsigned long long sh_head, sh_sig[RVK_SAMPLE_NB], sh_rnd[2][RVK_SAMPLE_NB];
    __shared__ unsigned int sh_cnt[RVK_SAMPLE_NB], sh_tie[2], sh_ntail, sh_bad;
    const int t = threadIdx.x;
    for (int i = t; i < RVK_SAMPLE_NB; i += blockDim.x) {
        sh_sig[i] = 0, sh_rnd[0][i] = 0, sh_rnd[1][i] = 0, sh_cnt[i] = 0;
    }
    if (t == 0) sh_head = 0, sh_tie[0] = 0, sh_tie[1] = 0, sh_ntail = 0, sh_bad = 0;
    __syncthreads();
    const float *x = p + (size_t)blockIdx.x * V;
    const int j0 = blockIdx.y * RVK_CU_SAMPLE_CHUNK, j1 = min(V, j0 + RVK_CU_SAMPLE_CHUNK);
    unsigned long long head = 0;
    unsigned int ntail = 0, bad = 0;
    for (int j = j0 + t; j < j1; j += blockDim.x) {
        const rvk_sample_elem e = rvk_sample_classify(__float_as_uint(x[j]));
        if (e.kind == 1) head += e.head_units;
        else if (e.kind == 2) {
            ntail++;
            atomicAdd(&sh_cnt[e.b], 1u);
            atomicAdd(&sh_sig[e.b], (unsigned long long)e.m);
            atomicAdd(&sh_rnd[0][e.b], (unsigned long long)e.rnd[0]);
            atomicAdd(&sh_rnd[1][e.b], (unsigned long long)e.rnd[1]);
            if (e.tie[0]) atomicOr(&sh_tie[0], 1u << e.b);
            if (e.tie[1]) atomicOr(&sh_tie[1], 1u << e.b);
        } else if (e.kind == 3) ntail++;
        else if (e.kind == 4) bad++;
    }
    if (head) atomicAdd(&sh_head, head);
    if (ntail) atomicAdd(&sh_ntail, ntail);
    if (bad) atomicAdd(&sh_bad, bad);
    __syncthreads();
    rvk_sample_stats *g = st + blockIdx.x;
    for (int i = t; i < RVK_SAMPLE_NB; i += blockDim.x) {
        if (!sh_cnt[i]) continue;
        atomicAdd(&g->cnt[i], sh_cnt[i]);
        atomicAdd(&g->sig[i], sh_sig[i]);
        atomicAdd(&g->rnd[0][i], sh_rnd[0][i]);
        atomicAdd(&g->rnd[1][i], sh_rnd[1][i]);
    }
    if (t == 0) {
        if (sh_head) atomicAdd(&g->head, sh_head);
        if (sh_tie[0]) atomicOr(&g->tie[0], sh_tie[0]);
        if (sh_tie[1]) atomicOr(&g->tie[1], sh_tie[1]);
        if (sh_ntail) atomicAdd(&g->ntail, sh_ntail);
        if (sh_bad) atomicAdd(&g->bad, sh_bad);
    }
}

/* The best M (<= V) candidates of row rows[i] (rows NULL: row i), i = blockIdx.x, by
 * (p desc, id asc) into out [i, M], in index order; rows with a bad element (st[row].bad, from
 * sample_stats_k) are skipped (the host downloads them). One CTA per row. */
__global__ void sample_select_k(rvk_sample_cand *out, const rvk_sample_stats *st, const float *p, const int32_t *rows,
                                int V, int M) {
    __shared__ unsigned int hist[256], sh_prefix, sh_need, wg[32], we[32];
    const int t = threadIdx.x, lane = t & 31, w = t >> 5, nw = blockDim.x >> 5;
    const int row = rows ? rows[blockIdx.x] : (int)blockIdx.x;
    if (st[row].bad) return; /* the same for the whole CTA */
    const float *x = p + (size_t)row * V;
    rvk_sample_cand *o = out + (size_t)blockIdx.x * M;
    if (t == 0) sh_prefix = 0, sh_need = (unsigned)M;
    /* radix select, most significant digit first: after pass d, the candidates share the
     * prefix's top 8(d+1) bits and `need` of them are still to take */
    for (int pass = 0; pass < 4; pass++) {
        const int shift = 24 - 8 * pass;
        const unsigned int above = pass ? 0xffffffffu << (shift + 8) : 0u; /* the bits decided */
        for (int i = t; i < 256; i += blockDim.x) hist[i] = 0;
        __syncthreads();
        const unsigned int prefix = sh_prefix;
        for (int j = t; j < V; j += blockDim.x) {
            const unsigned int u = __float_as_uint(x[j]);
            if ((u & above) == prefix) atomicAdd(&hist[(u >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (t == 0) { /* the digit holding the need-th largest, counting down from 255 */
            unsigned int need = sh_need;
            int d = 255;
            for (; d > 0 && hist[d] < need; d--) need -= hist[d];
            sh_prefix = prefix | ((unsigned int)d << shift);
            sh_need = need;
        }
        __syncthreads();
    }
    /* tau: the M-th largest bits; every u > tau (M - need of them) and the first `need` u == tau */
    const unsigned int tau = sh_prefix, need = sh_need;
    const unsigned int below = (1u << lane) - 1u;
    unsigned int gt_run = 0, eq_run = 0; /* counts in the chunks before (the same in every thread) */
    for (int base = 0; base < V; base += blockDim.x) {
        const int j = base + t;
        const unsigned int u = j < V ? __float_as_uint(x[j]) : 0u;
        const int gt = j < V && u > tau, eq = j < V && u == tau;
        const unsigned int bg = __ballot_sync(0xffffffffu, gt), be = __ballot_sync(0xffffffffu, eq);
        if (lane == 0) wg[w] = __popc(bg), we[w] = __popc(be);
        __syncthreads();
        unsigned int gb = gt_run + __popc(bg & below), eb = eq_run + __popc(be & below), tg = 0, te = 0;
        for (int i = 0; i < nw; i++) {
            if (i < w) gb += wg[i], eb += we[i];
            tg += wg[i], te += we[i];
        }
        /* a selected element's slot: the selected elements of lower index (every gt, the first
         * `need` eq) */
        if (gt) o[gb + min(eb, need)] = rvk_sample_cand{x[j], j};
        else if (eq && eb < need) o[gb + eb] = rvk_sample_cand{x[j], j};
        gt_run += tg, eq_run += te;
        __syncthreads(); /* wg / we are rewritten by the next chunk */
        if (gt_run + min(eq_run, need) == (unsigned int)M) break; /* all M placed */
    }
}

/* Top-k above this is not selected on the device (the rows are downloaded). */
#define RVK_CU_SAMPLE_MAX_K 4096
/* Candidates selected per row without top-k: a first round for every row, then rounds of 16x
 * more for the rows whose walk went past them (a flat row, a wide nucleus); a row still short
 * after the last is downloaded. */
#define RVK_CU_SAMPLE_M 256
#define RVK_CU_SAMPLE_ROUNDS 3 /* 256, 4096, 65536 */

/* One row from its records: the token, or -1 with *cause (RVK_SAMPLE_FB_*). c: [M] candidates
 * in any order (sorted here). */
static int32_t finish_row(const rvk_sample_stats *st, rvk_sample_cand *c, int M, int V, int top_k, float top_p,
                          double r, int *cause) {
    if (st->bad) return *cause = RVK_SAMPLE_FB_BAD, -1;
    rvk_sample_sort(c, M);
    int32_t id = 0, id2 = 0;
    int keep = 0, keep2 = 0;
    if (top_k > 0 && top_k < V) { /* the total is not used */
        rvk_sample_walk(c, M, V, top_k, top_p, r, 0.0, &id, &keep);
        return id;
    }
    double lo, hi;
    const int exact = rvk_sample_total(st, NULL, NULL, &lo, &hi);
    if (exact < 0) return *cause = RVK_SAMPLE_FB_SUM, -1;
    const int w = rvk_sample_walk(c, M, V, top_k, top_p, r, lo, &id, &keep);
    if (w != RVK_WALK_DONE) return *cause = w == RVK_WALK_MORE ? RVK_SAMPLE_FB_PREFIX : RVK_SAMPLE_FB_LAST, -1;
    if (exact) return id;
    const int w2 = rvk_sample_walk(c, M, V, top_k, top_p, r, hi, &id2, &keep2);
    if (w2 != RVK_WALK_DONE) return *cause = w2 == RVK_WALK_MORE ? RVK_SAMPLE_FB_PREFIX : RVK_SAMPLE_FB_LAST, -1;
    if (id2 != id || keep2 != keep) return *cause = RVK_SAMPLE_FB_BOUNDS, -1;
    return id;
}

/* The candidate count of round `round` (0, 1, ...) for V tokens. */
static int round_m(int round, int V) {
    long long m = RVK_CU_SAMPLE_M;
    for (int i = 0; i < round; i++) m *= 16;
    return m < V ? (int)m : V;
}

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

void rvk_cuda_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V,
                     float temperature, int top_k, float top_p) {
    if (N <= 0 || V <= 0) return;
    cudaStream_t st = rvk_cu_stream(k);
    if (temperature <= 0) {
        SM_LAUNCH(argmax_k, N, st)(ids, logits, V);
        rvk_cu_launched(k, "greedy argmax");
        return;
    }
    rvk_sample_tally *tally = &rvk_cu(k)->sample_tally;
    const int topk = top_k > 0 && top_k < V;
    const int on_device = !topk || top_k <= RVK_CU_SAMPLE_MAX_K;
    const int M = topk ? top_k : round_m(0, V);
    /* scratch: p [N, V] | stats [N] | candidates [N, M] (these two: one download) | the rows of a
     * later round [N] | their candidates (N rows of round 1, or at least one row of the last) */
    const size_t pb = align256((size_t)N * V * sizeof(float)), sb = (size_t)N * sizeof(rvk_sample_stats);
    const size_t cb = on_device ? align256((size_t)N * M * sizeof(rvk_sample_cand)) : 0;
    const size_t lb = align256((size_t)N * sizeof(int32_t));
    size_t xb = 0;
    if (on_device && !topk && M < V) {
        const size_t r1 = (size_t)N * round_m(1, V), rl = (size_t)round_m(RVK_CU_SAMPLE_ROUNDS - 1, V);
        xb = (r1 > rl ? r1 : rl) * sizeof(rvk_sample_cand);
    }
    char *ws = (char *)rvk_cu_scratch(k, pb + sb + cb + lb + xb);
    if (!ws) return;
    float *dp = (float *)(void *)ws;
    rvk_sample_stats *dst = (rvk_sample_stats *)(void *)(ws + pb);
    rvk_sample_cand *dc = (rvk_sample_cand *)(void *)(ws + pb + sb);
    int32_t *dlist = (int32_t *)(void *)(ws + pb + sb + cb);
    rvk_sample_cand *dx = (rvk_sample_cand *)(void *)(ws + pb + sb + cb + lb);
    rvk_cuda_softmax(k, dp, logits, N, V, temperature);
    char *rec = (char *)rv_xmalloc(sb + cb + xb);
    rvk_sample_stats *hs = (rvk_sample_stats *)(void *)rec;
    rvk_sample_cand *hc = (rvk_sample_cand *)(void *)(rec + sb), *hx = (rvk_sample_cand *)(void *)(rec + sb + cb);
    int32_t *hid = (int32_t *)rv_xmalloc((size_t)N * sizeof(int32_t));
    int32_t *more = (int32_t *)rv_xmalloc((size_t)N * sizeof(int32_t)), nmore = 0;
    int *cause = (int *)rv_xmalloc((size_t)N * sizeof(int));
    rv_err e;
    int rc = 0, recorded = 0; /* recorded: the failure is in the sticky status already */
    for (int n = 0; n < N; n++) hid[n] = -1, cause[n] = RVK_SAMPLE_FB_TOPK;
    if (on_device) {
        if (rvk_cu_check(k, cudaMemsetAsync(dst, 0, sb, st), "sample statistics clear")) rc = -1, recorded = 1;
        else {
            const unsigned chunks = (unsigned)((V + RVK_CU_SAMPLE_CHUNK - 1) / RVK_CU_SAMPLE_CHUNK);
            SM_LAUNCH(sample_stats_k, dim3((unsigned)N, chunks), st)(dst, dp, V);
            rvk_cu_launched(k, "sample statistics");
            SM_LAUNCH(sample_select_k, N, st)(dc, dst, dp, (const int32_t *)NULL, V, M);
            rvk_cu_launched(k, "sample candidate selection");
            rc = rvk_cu_fetch(k, rec, dst, sb + cb, &e);
        }
        for (int n = 0; rc == 0 && n < N; n++) {
            hid[n] = finish_row(&hs[n], hc + (size_t)n * M, M, V, top_k, top_p, u[n], &cause[n]);
            if (hid[n] < 0 && cause[n] == RVK_SAMPLE_FB_PREFIX && M < V) more[nmore++] = n;
        }
        /* later rounds: 16x the candidates for the rows that need them, as many rows per launch as
         * the region holds */
        for (int round = 1; rc == 0 && round < RVK_CU_SAMPLE_ROUNDS && nmore > 0; round++) {
            const int Mr = round_m(round, V);
            const int per = (int)(xb / ((size_t)Mr * sizeof(rvk_sample_cand)));
            int32_t nnext = 0;
            for (int i0 = 0; rc == 0 && i0 < nmore; i0 += per) {
                const int nb = nmore - i0 < per ? nmore - i0 : per;
                rvk_cu_put(k, dlist, more + i0, (size_t)nb * sizeof(int32_t));
                SM_LAUNCH(sample_select_k, nb, st)(dx, dst, dp, dlist, V, Mr);
                rvk_cu_launched(k, "sample candidate selection (more)");
                rc = rvk_cu_fetch(k, hx, dx, (size_t)nb * Mr * sizeof(rvk_sample_cand), &e);
                for (int i = 0; rc == 0 && i < nb; i++) {
                    const int n = more[i0 + i];
                    hid[n] = finish_row(&hs[n], hx + (size_t)i * Mr, Mr, V, top_k, top_p, u[n], &cause[n]);
                    if (hid[n] < 0 && cause[n] == RVK_SAMPLE_FB_PREFIX && Mr < V) more[nnext++] = n; /* nnext <= i0 + i */
                }
            }
            nmore = nnext;
        }
    }
    float *row = NULL;           /* [V] a downloaded row */
    rvk_sample_cand *cs = NULL;  /* [V] and [2V] scratch of rvk_sample_row */
    float *tail = NULL;
    for (int n = 0; rc == 0 && n < N; n++) {
        tally->rows++;
        if (hid[n] >= 0) continue;
        /* rare (see the causes): the rule on the whole row */
        tally->fallback[cause[n]]++;
        if (!row) {
            row = (float *)rv_xmalloc((size_t)V * sizeof(float));
            cs = (rvk_sample_cand *)rv_xmalloc((size_t)V * sizeof(rvk_sample_cand));
            tail = (float *)rv_xmalloc(2 * (size_t)V * sizeof(float));
        }
        rc = rvk_cu_fetch(k, row, dp + (size_t)n * V, (size_t)V * sizeof(float), &e);
        if (rc == 0) hid[n] = rvk_sample_row(row, V, top_k, top_p, u[n], cs, tail);
    }
    if (rc != 0) {
        if (!recorded) rvk_record_error(k, &e);
    } else rvk_cu_put(k, ids, hid, (size_t)N * sizeof(int32_t));
    free(row), free(cs), free(tail), free(rec), free(hid), free(more), free(cause);
}
