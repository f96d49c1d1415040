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
 * trapezoids cut at their last row). A FlashAttention-2-style fused kernel is open work. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"

/* Host copies of the offsets and the sequence table of one call. */
typedef struct attn_host {
    rvk_attn_seq *seq;
    int span; /* longest key run */
} attn_host;

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
    for (int s = 0; s < a->nseq; s++) h->span = h->seq[s].lk > h->span ? h->seq[s].lk : h->span;
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

/* Dsum[row] = dout[row, :] . out[row, :] over D, one warp per (token, head) row */
__global__ void attn_dsum_k(float *dsum, const float *dout, const float *out, size_t rows, int D) {
    size_t w = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5;
    int l = threadIdx.x & 31;
    if (w >= rows) return;
    const float *a = dout + w * D, *b = out + w * D;
    float s = 0.0f;
    for (int d = l; d < D; d += 32) s += a[d] * b[d];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (l == 0) dsum[w] = s;
}

int rvk_cuda_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                           const rvk_attn *a, rv_err *err) {
    attn_host h;
    if (attn_prepare(k, a, &h, err) != 0) return -1;
    const int Hq = a->Hq, Hkv = a->Hkv, D = a->D, nrep = Hq / Hkv, ldq = Hq * D, ldk = Hkv * D;
    cudaStream_t st = rvk_cu_stream(k);
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
