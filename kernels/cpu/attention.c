/* Scaled dot-product attention over packed variable-length sequences, causal or bidirectional,
 * with grouped-query heads. The forward is a one-pass online softmax per query row (no score
 * buffer) and saves the row log-sum-exp; the backward recomputes probabilities from it
 * (FlashAttention-2 style). Each output row is written by exactly one thread, so results do not
 * depend on the thread count: dq by query row, dk/dv by key row (summing over the query heads of
 * its group and then over queries, in increasing order). */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

#define RVK_MAX_HEAD_DIM 512

static inline int cuk(const rvk_attn *a, int s) { return a->cu_k ? a->cu_k[s] : a->cu_q[s]; }
static inline int lenk(const rvk_attn *a, int s) {
    if (a->len_k) return a->len_k[s];
    return cuk(a, s + 1) - cuk(a, s);
}
/* Number of keys visible to query i (0-based in its sequence) of sequence s. */
static inline int visible(const rvk_attn *a, int s, int i) {
    int Lq = a->cu_q[s + 1] - a->cu_q[s], Lk = lenk(a, s);
    if (!a->causal) return Lk;
    int n = i + (Lk - Lq) + 1;
    return n < 0 ? 0 : (n > Lk ? Lk : n);
}

/* Rough work estimate (multiply-adds), to keep tiny calls on one thread. */
static int worth_threads(const rvk_attn *a) {
    double per_seq = a->nseq > 0 ? (double)a->Tk / a->nseq : 0.0;
    return (double)a->Tq * a->Hq * a->D * per_seq > 2e5;
}

static int attn_check(const rvk_attn *a, rv_err *err) {
    if (a->nseq < 0 || a->Hq <= 0 || a->Hkv <= 0 || a->Hq % a->Hkv != 0)
        return rv_fail(err, "attention: bad heads (Hq %d, Hkv %d) or nseq %d; Hq must be a multiple "
                            "of Hkv", a->Hq, a->Hkv, a->nseq);
    if (a->D <= 0 || a->D > RVK_MAX_HEAD_DIM)
        return rv_fail(err, "attention: head dim %d outside 1..%d", a->D, RVK_MAX_HEAD_DIM);
    if (!a->cu_k && a->Tk != a->Tq)
        return rv_fail(err, "attention: self-attention (cu_k NULL) needs Tk == Tq (%d vs %d)", a->Tk, a->Tq);
    if (a->cu_q[0] != 0 || a->cu_q[a->nseq] != a->Tq)
        return rv_fail(err, "attention: cu_q must run from 0 to Tq=%d (got %d..%d)", a->Tq,
                       a->cu_q[0], a->cu_q[a->nseq]);
    for (int s = 0; s < a->nseq; s++)
        if (a->cu_q[s + 1] < a->cu_q[s])
            return rv_fail(err, "attention: cu_q decreases at sequence %d", s);
    for (int s = 0; s < a->nseq; s++) {
        int k0 = cuk(a, s), lk = lenk(a, s);
        if (k0 < 0 || lk < 0 || k0 + lk > a->Tk)
            return rv_fail(err, "attention: keys of sequence %d ([%d, %d)) outside [0, Tk=%d)", s, k0,
                           k0 + lk, a->Tk);
        if (s + 1 < a->nseq && k0 + lk > cuk(a, s + 1))
            return rv_fail(err, "attention: key ranges of sequences %d and %d overlap", s, s + 1);
    }
    return 0;
}

/* rowseq[t] = the sequence owning query row t. */
static void map_rows(const rvk_attn *a, int *rowseq) {
    for (int s = 0; s < a->nseq; s++)
        for (int t = a->cu_q[s]; t < a->cu_q[s + 1]; t++) rowseq[t] = s;
}

int rvk_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk,
                      const float *v, const rvk_attn *a, rv_err *err) {
    if (attn_check(a, err) != 0) return -1;
    const int Hq = a->Hq, Hkv = a->Hkv, D = a->D, nrep = a->Hq / a->Hkv, Tq = a->Tq;
    const float scale = a->scale;
    int *rowseq = rvk_scratch(k, (size_t)(Tq > 0 ? Tq : 1) * sizeof(int));
    map_rows(a, rowseq);
#pragma omp parallel for collapse(2) schedule(dynamic, 8) num_threads(rvk_threads(k)) if (worth_threads(a))
    for (int h = 0; h < Hq; h++) {
        for (int t = 0; t < Tq; t++) {
            int s = rowseq[t], i = t - a->cu_q[s], nv = visible(a, s, i), k0 = cuk(a, s), g = h / nrep;
            const float *qr = q + ((size_t)t * Hq + h) * D;
            float *o = out + ((size_t)t * Hq + h) * D;
            float acc[RVK_MAX_HEAD_DIM];
            for (int d = 0; d < D; d++) acc[d] = 0.0f;
            float m = -INFINITY, l = 0.0f;
            for (int j = 0; j < nv; j++) {
                const float *kr = kk + ((size_t)(k0 + j) * Hkv + g) * D;
                const float *vr = v + ((size_t)(k0 + j) * Hkv + g) * D;
                float sc = rvk_dot(qr, kr, D) * scale;
                if (sc > m) {
                    float corr = expf(m - sc); /* 0 on the first key */
                    l *= corr;
                    for (int d = 0; d < D; d++) acc[d] *= corr;
                    m = sc;
                }
                float p = expf(sc - m);
                l += p;
                for (int d = 0; d < D; d++) acc[d] += p * vr[d];
            }
            if (nv > 0) {
                float inv = 1.0f / l;
                for (int d = 0; d < D; d++) o[d] = acc[d] * inv;
            } else {
                for (int d = 0; d < D; d++) o[d] = 0.0f;
            }
            if (lse) lse[(size_t)t * Hq + h] = nv > 0 ? m + logf(l) : -INFINITY;
        }
    }
    return 0;
}

int rvk_attention_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout,
                      const float *q, const float *kk, const float *v, const float *out,
                      const float *lse, const rvk_attn *a, int accum, rv_err *err) {
    if (attn_check(a, err) != 0) return -1;
    const int Hq = a->Hq, Hkv = a->Hkv, D = a->D, nrep = a->Hq / a->Hkv, Tq = a->Tq, Tk = a->Tk;
    const float scale = a->scale;
    int nt = rvk_threads(k);
    size_t nrow = (size_t)(Tq > 0 ? Tq : 1), nkey = (size_t)(Tk > 0 ? Tk : 1);
    size_t off_key = nrow * sizeof(int), off_ds = off_key + nkey * sizeof(int);
    off_ds = (off_ds + 63) / 64 * 64;
    char *ws = rvk_scratch(k, off_ds + nrow * (size_t)Hq * sizeof(float));
    int *rowseq = (int *)ws, *keyseq = (int *)(ws + off_key);
    float *dsum = (float *)(ws + off_ds); /* [Tq, Hq]: dout . out per row and head */
    map_rows(a, rowseq);
    for (int r = 0; r < Tk; r++) keyseq[r] = -1;
    for (int s = 0; s < a->nseq; s++)
        for (int j = 0; j < lenk(a, s); j++) keyseq[cuk(a, s) + j] = s;

#pragma omp parallel for schedule(static) num_threads(nt) if ((size_t)Tq * Hq * D > RVK_PAR_MIN)
    for (size_t r = 0; r < (size_t)Tq * Hq; r++) dsum[r] = rvk_dot(dout + r * D, out + r * D, D);

    if (dq) {
#pragma omp parallel for collapse(2) schedule(dynamic, 8) num_threads(nt) if (worth_threads(a))
        for (int h = 0; h < Hq; h++) {
            for (int t = 0; t < Tq; t++) {
                int s = rowseq[t], i = t - a->cu_q[s], nv = visible(a, s, i), k0 = cuk(a, s), g = h / nrep;
                size_t row = (size_t)t * Hq + h;
                const float *qr = q + row * D, *dor = dout + row * D;
                float L = lse[row], Ds = dsum[row];
                float acc[RVK_MAX_HEAD_DIM];
                for (int d = 0; d < D; d++) acc[d] = 0.0f;
                for (int j = 0; j < nv; j++) {
                    const float *kr = kk + ((size_t)(k0 + j) * Hkv + g) * D;
                    const float *vr = v + ((size_t)(k0 + j) * Hkv + g) * D;
                    float p = expf(rvk_dot(qr, kr, D) * scale - L);
                    float ds = p * (rvk_dot(dor, vr, D) - Ds);
                    for (int d = 0; d < D; d++) acc[d] += ds * kr[d];
                }
                float *o = dq + row * D;
                for (int d = 0; d < D; d++) o[d] = accum ? o[d] + scale * acc[d] : scale * acc[d];
            }
        }
    }
    if (dk || dv) {
#pragma omp parallel for collapse(2) schedule(dynamic, 8) num_threads(nt) if (worth_threads(a))
        for (int g = 0; g < Hkv; g++) {
            for (int r = 0; r < Tk; r++) {
                size_t krow = (size_t)r * Hkv + g;
                float ak[RVK_MAX_HEAD_DIM], av[RVK_MAX_HEAD_DIM];
                for (int d = 0; d < D; d++) ak[d] = av[d] = 0.0f;
                int s = keyseq[r];
                if (s >= 0) {
                    int j = r - cuk(a, s), q0 = a->cu_q[s], Lq = a->cu_q[s + 1] - q0;
                    int i0 = a->causal ? j - (lenk(a, s) - Lq) : 0;
                    if (i0 < 0) i0 = 0;
                    const float *kr = kk + krow * D, *vr = v + krow * D;
                    for (int h = g * nrep; h < (g + 1) * nrep; h++) {
                        for (int i = i0; i < Lq; i++) {
                            size_t row = (size_t)(q0 + i) * Hq + h;
                            const float *qr = q + row * D, *dor = dout + row * D;
                            float p = expf(rvk_dot(qr, kr, D) * scale - lse[row]);
                            float ds = p * (rvk_dot(dor, vr, D) - dsum[row]);
                            for (int d = 0; d < D; d++) {
                                ak[d] += ds * qr[d];
                                av[d] += p * dor[d];
                            }
                        }
                    }
                }
                if (dk) {
                    float *o = dk + krow * D;
                    for (int d = 0; d < D; d++) o[d] = accum ? o[d] + scale * ak[d] : scale * ak[d];
                }
                if (dv) {
                    float *o = dv + krow * D;
                    for (int d = 0; d < D; d++) o[d] = accum ? o[d] + av[d] : av[d];
                }
            }
        }
    }
    return 0;
}
