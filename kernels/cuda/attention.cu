/* Scaled dot-product attention over packed variable-length sequences (causal aligned to the end of
 * the keys, or bidirectional; GQA; KV-cache len_k), the "cuBLAS + fused masked softmax" version:
 * - the offsets (cu_q, cu_k, len_k: device arrays) are validated on the host with the CPU
 *   backend's checks (plan.c), which also yields the sequence table: from the caller's host
 *   copies (rvk_attn.host_*) when given, else downloaded once per call (a sync);
 * - per sequence, per query head r within its KV group, per chunk of query rows (sized so the
 *   score matrices fit RVK_CU_CHUNK_FLOATS), strided-batched over the Hkv KV heads (query head
 *   h = g * nrep + r reads KV head g): S = scale Q K^T on cuBLASLt, a masked row softmax that
 *   writes P in place and the row lse, then O = P V;
 * - backward (FlashAttention-2 algebra, P recomputed from lse, never a [T, T] matrix beyond one
 *   chunk): Dsum = rowsum(dO * O), S and dP = dO V^T recomputed, dS = P (dP - Dsum), then
 *   dq += scale dS K, dv += P^T dO, dk += scale dS^T Q. Every output block is summed in a fixed
 *   order (query heads r, then chunks), so results are deterministic; no atomics.
 * Score columns past the chunk's widest visible row are never computed (causal chunks are
 * trapezoids cut at their last row).
 * Decoding (every sequence has at most ROW_MAX_LQ query rows) takes a row-wise kernel instead:
 * one block per (query row, head) with an online softmax over the keys, no GEMM launches per
 * sequence. The FlashAttention-2-style fused kernels (attention_flash.cu) are the third path.
 * RADVLM_CUDA_ATTN=gemm|rowwise|flash forces one (to test each on a GPU; flash needs D <= 128,
 * else the GEMM path runs); auto (the default) takes the row-wise kernel for decoding and the GEMM
 * path otherwise, flash instead of the GEMMs once RVK_CU_FLASH_IN_AUTO (cuda_impl.h) is 1. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"
#include "kernels/cuda/attention_dsum.cuh"

/* Host copies of the offsets and the sequence table of one call. */
typedef struct attn_host {
    rvk_attn_seq *seq;
    int span;  /* longest key run */
    int maxlq; /* longest query run */
} attn_host;

/* Forward path choice (RVK_CU_ATTN_AUTO): the row-wise kernel when no sequence has more query
 * rows than this (decoding), the GEMM path otherwise. */
#define ROW_MAX_LQ 4

/* Whether this call takes the fused kernels (the forward after the row-wise choice). */
static int use_flash(const rv_kctx *k, const rvk_attn *a) {
    rvk_cu_attn_mode m = rvk_cu(k)->attn;
    return a->D <= RVK_CU_FLASH_MAX_D && (m == RVK_CU_ATTN_FLASH || (m == RVK_CU_ATTN_AUTO && RVK_CU_FLASH_IN_AUTO));
}

/* The host copies of the caller (rvk_attn.host_*) when complete, else downloads (a sync). */
static int attn_prepare(rv_kctx *k, const rvk_attn *a, attn_host *h, rv_err *err) {
    h->seq = NULL;
    if (a->nseq < 0) return rv_fail(err, "attention: bad nseq %d", a->nseq);
    size_t n1 = (size_t)a->nseq + 1;
    int mirrored = a->host_cu_q && (!a->cu_k || a->host_cu_k) && (!a->len_k || a->host_len_k);
    int32_t *cq = NULL, *ck = NULL, *lk = NULL;
    int rc = 0;
    if (!mirrored) {
        cq = (int32_t *)rv_xmalloc(n1 * sizeof(int32_t));
        rc = rvk_cu_fetch(k, cq, a->cu_q, n1 * sizeof(int32_t), err);
        if (!rc && a->cu_k) {
            ck = (int32_t *)rv_xmalloc(n1 * sizeof(int32_t));
            rc = rvk_cu_fetch(k, ck, a->cu_k, n1 * sizeof(int32_t), err);
        }
        if (!rc && a->len_k && a->nseq > 0) {
            lk = (int32_t *)rv_xmalloc((size_t)a->nseq * sizeof(int32_t));
            rc = rvk_cu_fetch(k, lk, a->len_k, (size_t)a->nseq * sizeof(int32_t), err);
        }
    }
    if (!rc) {
        h->seq = (rvk_attn_seq *)rv_xmalloc((a->nseq > 0 ? (size_t)a->nseq : 1) * sizeof(rvk_attn_seq));
        rc = mirrored ? rvk_cuda_attn_plan(a, a->host_cu_q, a->cu_k ? a->host_cu_k : NULL,
                                           a->len_k ? a->host_len_k : NULL, h->seq, err)
                      : rvk_cuda_attn_plan(a, cq, ck, a->len_k ? lk : NULL, h->seq, err);
    }
    free(cq), free(ck), free(lk);
    if (rc) {
        free(h->seq);
        h->seq = NULL;
        return -1;
    }
    h->span = 1;
    h->maxlq = 0;
    for (int s = 0; s < a->nseq; s++) {
        h->span = h->seq[s].lk > h->span ? h->seq[s].lk : h->span;
        h->maxlq = h->seq[s].lq > h->maxlq ? h->seq[s].lq : h->maxlq;
    }
    return 0;
}

/* Forward softmax of one chunk. grid (nr, Hkv): row r of the chunk, KV head g (query head
 * h = g * nrep + rr). S_g [nr, nk] (ld nk) holds scaled scores, becomes P. */
__global__ void attn_softmax_k(float *S, float *lse, int nr, int nk, int i0, int lq, int lk, int causal,
                               size_t t0, int Hq, int nrep, int rr) {
    __shared__ float sh[32];
    int r = blockIdx.x, g = blockIdx.y;
    float *row = S + ((size_t)g * nr + r) * nk;
    int nv = rvk_attn_visible(causal, lq, lk, i0 + r);
    float m = -INFINITY;
    for (int j = threadIdx.x; j < nv; j += blockDim.x) m = fmaxf(m, row[j]);
    m = rvk_block_max(m, sh);
    float l = 0.0f;
    for (int j = threadIdx.x; j < nv; j += blockDim.x) {
        float e = expf(row[j] - m);
        row[j] = e;
        l += e;
    }
    l = rvk_block_sum(l, sh);
    float inv = nv > 0 ? 1.0f / l : 0.0f;
    for (int j = threadIdx.x; j < nk; j += blockDim.x) row[j] = j < nv ? row[j] * inv : 0.0f;
    if (threadIdx.x == 0 && lse) lse[(t0 + i0 + r) * Hq + (size_t)g * nrep + rr] = nv > 0 ? m + logf(l) : -INFINITY;
}

/* Backward of one chunk, element-wise: P = exp(S - lse) into S, dS = P (dP - Dsum) into dP, zero
 * past each row's visible keys. grid-stride over Hkv * nr * nk. */
__global__ void attn_dsoftmax_k(float *S, float *dP, const float *lse, const float *dsum, int nr, int nk, int i0,
                                int lq, int lk, int causal, size_t t0, int Hq, int nrep, int rr, int Hkv) {
    size_t n = (size_t)Hkv * nr * nk;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        int j = (int)(e % nk);
        size_t gr = e / nk; /* g * nr + r */
        int r = (int)(gr % nr), g = (int)(gr / nr);
        int nv = rvk_attn_visible(causal, lq, lk, i0 + r);
        size_t row = (t0 + i0 + r) * Hq + (size_t)g * nrep + rr;
        if (j < nv) {
            float p = expf(S[e] - lse[row]);
            S[e] = p;
            dP[e] = p * (dP[e] - dsum[row]);
        } else {
            S[e] = 0.0f;
            dP[e] = 0.0f;
        }
    }
}


/* Row-wise forward for few query rows per sequence (KV-cache decoding): one block per (query row,
 * query head), ROW_WARPS warps; warp w takes keys j = w, w + ROW_WARPS, ... with an online
 * softmax (running max m, sum l, accumulator acc[D] in shared memory, lanes over d), then the
 * warps are merged in warp order: deterministic, memory-bound on K and V like decoding should
 * be, and no [rows, keys] score matrix. seqs: [nseq] (q0, lq, k0, lk), row_seq: [Tq]. */
#define ROW_WARPS 4
#define ROW_MAX_D 1024 /* shared memory: (1 + ROW_WARPS) * D floats */

__global__ void attn_rowwise_k(float *out, float *lse, const float *q, const float *kk, const float *v,
                               const int4 *seqs, const int32_t *row_seq, int Hq, int Hkv, int D, float scale,
                               int causal) {
    extern __shared__ float smem[];
    float *qs = smem, *acc = smem + D; /* acc: [ROW_WARPS, D] */
    __shared__ float wm[ROW_WARPS], wl[ROW_WARPS];
    const size_t t = blockIdx.x;
    const int h = blockIdx.y, g = h / (Hq / Hkv), w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int4 sq = seqs[row_seq[t]]; /* x = q0, y = lq, z = k0, w = lk */
    const int nv = rvk_attn_visible(causal, sq.y, sq.w, (int)t - sq.x);
    const float *qr = q + (t * Hq + h) * D;
    float *orow = out + (t * Hq + h) * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) qs[d] = qr[d];
    for (int d = lane; d < D; d += 32) acc[w * D + d] = 0.0f;
    __syncthreads();
    float m = -INFINITY, l = 0.0f;
    const size_t ldk = (size_t)Hkv * D;
    for (int j = w; j < nv; j += ROW_WARPS) {
        const float *kr = kk + (size_t)(sq.z + j) * ldk + (size_t)g * D, *vr = v + (size_t)(sq.z + j) * ldk + (size_t)g * D;
        float dot = 0.0f;
        for (int d = lane; d < D; d += 32) dot += qs[d] * kr[d];
        for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        float sc = scale * dot, mn = fmaxf(m, sc);
        float corr = expf(m - mn), p = expf(sc - mn); /* m = -inf on a warp's first key: corr = 0 */
        l = l * corr + p;
        for (int d = lane; d < D; d += 32) acc[w * D + d] = acc[w * D + d] * corr + p * vr[d];
        m = mn;
    }
    if (lane == 0) wm[w] = m, wl[w] = l;
    __syncthreads();
    float M = -INFINITY;
    for (int x = 0; x < ROW_WARPS; x++) M = fmaxf(M, wm[x]);
    float L = 0.0f;
    for (int x = 0; x < ROW_WARPS; x++) L += wm[x] == -INFINITY ? 0.0f : wl[x] * expf(wm[x] - M);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float o = 0.0f;
        for (int x = 0; x < ROW_WARPS; x++)
            if (wm[x] != -INFINITY) o += acc[x * D + d] * expf(wm[x] - M);
        orow[d] = nv > 0 ? o / L : 0.0f;
    }
    if (threadIdx.x == 0 && lse) lse[t * Hq + h] = nv > 0 ? M + logf(L) : -INFINITY;
}

/* Uploads the sequence table and the row -> sequence map for the row-wise kernel, runs it. */
static void attention_rowwise(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                              const rvk_attn *a, const attn_host *h) {
    size_t ns = a->nseq > 0 ? (size_t)a->nseq : 1, nbytes = ns * sizeof(int4) + (size_t)a->Tq * sizeof(int32_t);
    char *host = (char *)rv_xmalloc(nbytes);
    int4 *hs = (int4 *)host;
    int32_t *hr = (int32_t *)(host + ns * sizeof(int4));
    for (int s = 0; s < a->nseq; s++) {
        hs[s] = make_int4(h->seq[s].q0, h->seq[s].lq, h->seq[s].k0, h->seq[s].lk);
        for (int i = 0; i < h->seq[s].lq; i++) hr[h->seq[s].q0 + i] = s;
    }
    char *dev = (char *)rvk_cu_scratch(k, nbytes);
    if (dev) {
        rvk_cu_put(k, dev, host, nbytes); /* pageable source: staged before the call returns */
        size_t shm = (size_t)(1 + ROW_WARPS) * a->D * sizeof(float);
        attn_rowwise_k<<<dim3((unsigned)a->Tq, (unsigned)a->Hq), 32 * ROW_WARPS, shm, rvk_cu_stream(k)>>>(
            out, lse, q, kk, v, (const int4 *)dev, (const int32_t *)(dev + ns * sizeof(int4)), a->Hq, a->Hkv, a->D,
            a->scale, a->causal);
        rvk_cu_launched(k, "attention forward (row-wise)");
    }
    free(host);
}

int rvk_cuda_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                           const rvk_attn *a, rv_err *err) {
    attn_host h;
    if (attn_prepare(k, a, &h, err) != 0) return -1;
    const int Hq = a->Hq, Hkv = a->Hkv, D = a->D, nrep = Hq / Hkv, ldq = Hq * D, ldk = Hkv * D;
    cudaStream_t st = rvk_cu_stream(k);
    if (a->Tq > 0 && rvk_cu(k)->attn == RVK_CU_ATTN_FLASH && use_flash(k, a) && a->Hq <= 65535) {
        rvk_cuda_flash_fwd(k, out, lse, q, kk, v, a, h.seq, rvk_cu(k)->gemm == RVK_CU_GEMM_BF16);
        free(h.seq);
        return 0;
    }
    if (a->Tq > 0 && D <= ROW_MAX_D && a->Hq <= 65535 &&
        (rvk_cu(k)->attn == RVK_CU_ATTN_ROWWISE || (rvk_cu(k)->attn == RVK_CU_ATTN_AUTO && h.maxlq <= ROW_MAX_LQ))) {
        attention_rowwise(k, out, lse, q, kk, v, a, &h);
        free(h.seq);
        return 0;
    }
    if (a->Tq > 0 && use_flash(k, a) && a->Hq <= 65535) { /* auto, once flash is measured faster */
        rvk_cuda_flash_fwd(k, out, lse, q, kk, v, a, h.seq, rvk_cu(k)->gemm == RVK_CU_GEMM_BF16);
        free(h.seq);
        return 0;
    }
    int maxq = 0;
    for (int s = 0; s < a->nseq; s++) {
        int qc = rvk_cuda_attn_qchunk(h.seq[s].lq, h.span, Hkv, RVK_CU_CHUNK_FLOATS);
        maxq = qc > maxq ? qc : maxq;
    }
    float *S = maxq ? (float *)rvk_cu_scratch(k, (size_t)Hkv * maxq * h.span * sizeof(float)) : NULL;
    if (maxq && !S) {
        free(h.seq);
        return 0; /* the sticky status has the allocation failure */
    }
    for (int s = 0; s < a->nseq; s++) {
        const rvk_attn_seq sq = h.seq[s];
        int qc = rvk_cuda_attn_qchunk(sq.lq, h.span, Hkv, RVK_CU_CHUNK_FLOATS);
        for (int i0 = 0; i0 < sq.lq; i0 += qc) {
            int nr = sq.lq - i0 < qc ? sq.lq - i0 : qc;
            int nk = rvk_attn_visible(a->causal, sq.lq, sq.lk, i0 + nr - 1); /* the chunk's widest row */
            size_t t0 = (size_t)sq.q0;
            if (nk <= 0) /* no row of the chunk sees a key: out = 0 for all heads (rows are contiguous) */
                rvk_cu_check(k, cudaMemsetAsync(out + (t0 + i0) * ldq, 0, (size_t)nr * ldq * sizeof(float), st),
                             "attention: clearing rows without keys");
            for (int rr = 0; rr < nrep; rr++) {
                /* batch g: query head g * nrep + rr, KV head g */
                const float *qb = q + (t0 + i0) * ldq + (size_t)rr * D;
                const float *kb = kk + (size_t)sq.k0 * ldk, *vb = v + (size_t)sq.k0 * ldk;
                float *ob = out + (t0 + i0) * ldq + (size_t)rr * D;
                long long sS = (long long)nr * (nk > 0 ? nk : 1);
                if (nk > 0)
                    rvk_cu_gemm(k, 0, 1, nr, nk, D, a->scale, qb, ldq, (long long)nrep * D, kb, ldk, D, 0.0f, S, nk, sS,
                                Hkv, NULL);
                attn_softmax_k<<<dim3((unsigned)nr, (unsigned)Hkv), RVK_CU_THREADS, 0, st>>>(
                    S, lse, nr, nk > 0 ? nk : 0, i0, sq.lq, sq.lk, a->causal, t0, Hq, nrep, rr);
                if (nk > 0)
                    rvk_cu_gemm(k, 0, 0, nr, D, nk, 1.0f, S, nk, sS, vb, ldk, D, 0.0f, ob, ldq, (long long)nrep * D, Hkv,
                                NULL);
            }
            rvk_cu_launched(k, "attention forward");
        }
    }
    free(h.seq);
    return 0;
}

int rvk_cuda_attention_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *kk, const float *v, const float *out, const float *lse, const rvk_attn *a,
                           int accum, rv_err *err) {
    attn_host h;
    if (attn_prepare(k, a, &h, err) != 0) return -1;
    const int Hq = a->Hq, Hkv = a->Hkv, D = a->D, nrep = Hq / Hkv, ldq = Hq * D, ldk = Hkv * D;
    const int Tq = a->Tq, Tk = a->Tk;
    cudaStream_t st = rvk_cu_stream(k);
    if (use_flash(k, a) && Hq <= 65535) {
        rvk_cuda_flash_bwd(k, dq, dk, dv, dout, q, kk, v, out, lse, a, h.seq, accum,
                           rvk_cu(k)->gemm == RVK_CU_GEMM_BF16);
        free(h.seq);
        return 0;
    }
    /* outputs accumulate chunk by chunk: start from zero unless adding was asked for (key rows
     * outside every sequence, e.g. unused KV-cache capacity, stay zero) */
    if (!accum) {
        if (dq) rvk_cu_check(k, cudaMemsetAsync(dq, 0, (size_t)Tq * ldq * sizeof(float), st), "clearing dq");
        if (dk) rvk_cu_check(k, cudaMemsetAsync(dk, 0, (size_t)Tk * ldk * sizeof(float), st), "clearing dk");
        if (dv) rvk_cu_check(k, cudaMemsetAsync(dv, 0, (size_t)Tk * ldk * sizeof(float), st), "clearing dv");
    }
    if ((!dq && !dk && !dv) || Tq <= 0) {
        free(h.seq);
        return 0;
    }
    int maxq = 0;
    for (int s = 0; s < a->nseq; s++) {
        int qc = rvk_cuda_attn_qchunk(h.seq[s].lq, h.span, Hkv, RVK_CU_CHUNK_FLOATS);
        maxq = qc > maxq ? qc : maxq;
    }
    /* scratch: Dsum [Tq * Hq] | S [Hkv, qc, span] | dP [Hkv, qc, span] */
    size_t nrow = (size_t)Tq * Hq, ndsum = (nrow + 63) / 64 * 64, nS = (size_t)Hkv * (maxq ? maxq : 1) * h.span;
    float *dsum = (float *)rvk_cu_scratch(k, (ndsum + 2 * nS) * sizeof(float));
    if (!dsum) {
        free(h.seq);
        return 0;
    }
    float *S = dsum + ndsum, *dP = S + nS;
    attn_dsum_k<<<(unsigned)((nrow * 32 + RVK_CU_THREADS - 1) / RVK_CU_THREADS), RVK_CU_THREADS, 0, st>>>(
        dsum, dout, out, nrow, D);
    for (int s = 0; s < a->nseq; s++) {
        const rvk_attn_seq sq = h.seq[s];
        int qc = rvk_cuda_attn_qchunk(sq.lq, h.span, Hkv, RVK_CU_CHUNK_FLOATS);
        size_t t0 = (size_t)sq.q0;
        for (int rr = 0; rr < nrep; rr++) {
            for (int i0 = 0; i0 < sq.lq; i0 += qc) {
                int nr = sq.lq - i0 < qc ? sq.lq - i0 : qc;
                int nk = rvk_attn_visible(a->causal, sq.lq, sq.lk, i0 + nr - 1);
                if (nk <= 0) continue;
                long long sS = (long long)nr * nk, sQ = (long long)nrep * D;
                const float *qb = q + (t0 + i0) * ldq + (size_t)rr * D, *dob = dout + (t0 + i0) * ldq + (size_t)rr * D;
                const float *kb = kk + (size_t)sq.k0 * ldk, *vb = v + (size_t)sq.k0 * ldk;
                rvk_cu_gemm(k, 0, 1, nr, nk, D, a->scale, qb, ldq, sQ, kb, ldk, D, 0.0f, S, nk, sS, Hkv, NULL);
                rvk_cu_gemm(k, 0, 1, nr, nk, D, 1.0f, dob, ldq, sQ, vb, ldk, D, 0.0f, dP, nk, sS, Hkv, NULL);
                attn_dsoftmax_k<<<rvk_cu_grid((size_t)Hkv * nr * nk), RVK_CU_THREADS, 0, st>>>(
                    S, dP, lse, dsum, nr, nk, i0, sq.lq, sq.lk, a->causal, t0, Hq, nrep, rr, Hkv);
                if (dq) /* dq_h [nr, D] += scale dS [nr, nk] K_g [nk, D] */
                    rvk_cu_gemm(k, 0, 0, nr, D, nk, a->scale, dP, nk, sS, kb, ldk, D, 1.0f,
                                dq + (t0 + i0) * ldq + (size_t)rr * D, ldq, sQ, Hkv, NULL);
                if (dv) /* dv_g [nk, D] += P^T [nk, nr] dO_h [nr, D] */
                    rvk_cu_gemm(k, 1, 0, nk, D, nr, 1.0f, S, nk, sS, dob, ldq, sQ, 1.0f, dv + (size_t)sq.k0 * ldk, ldk,
                                D, Hkv, NULL);
                if (dk) /* dk_g [nk, D] += scale dS^T [nk, nr] Q_h [nr, D] */
                    rvk_cu_gemm(k, 1, 0, nk, D, nr, a->scale, dP, nk, sS, qb, ldq, sQ, 1.0f, dk + (size_t)sq.k0 * ldk,
                                ldk, D, Hkv, NULL);
                rvk_cu_launched(k, "attention backward");
            }
        }
    }
    free(h.seq);
    return 0;
}
