/* Scaled dot-product attention over packed variable-length sequences, causal or bidirectional,
 * with grouped-query heads, as blocks of single-threaded OpenBLAS sgemm calls.
 * Forward: per (head, block of QB query rows of one sequence) S = scale Q K^T over the visible
 * keys, an exact row softmax, O = P V, and the row log-sum-exp saved. Backward
 * (FlashAttention-2 style, P recomputed from lse): dq per (head, query block); dk/dv per (KV head,
 * block of KB key rows), summing the group's query heads in increasing order. Every output block
 * is written by one task whose sgemm shapes depend only on its own sequence, so results do not
 * depend on the thread count nor on what else is packed in the batch. Scratch is one [QB, span]
 * pair of score buffers per thread. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include <cblas.h>

#include "kernels/cpu/cpu.h"

#define RVK_MAX_HEAD_DIM 512
#define QB 64 /* query rows per forward / dq task */
#define KB 64 /* key rows per dk / dv task */
#define SMALL_ROWS 4 /* forward blocks with fewer query rows use dot-product loops */

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

/* Row blocks of every sequence: blk[2b] = sequence, blk[2b+1] = first row (within the
 * sequence) of block b; rows are queries (keys = 0) or keys (keys = 1). Returns the count. */
static int make_blocks(const rvk_attn *a, int keys, int bs, int *blk) {
    int nb = 0;
    for (int s = 0; s < a->nseq; s++) {
        int n = keys ? lenk(a, s) : a->cu_q[s + 1] - a->cu_q[s];
        for (int i = 0; i < n; i += bs) blk[2 * nb] = s, blk[2 * nb + 1] = i, nb++;
    }
    return nb;
}

static int count_blocks(const rvk_attn *a, int keys, int bs) {
    int nb = 0;
    for (int s = 0; s < a->nseq; s++) {
        int n = keys ? lenk(a, s) : a->cu_q[s + 1] - a->cu_q[s];
        nb += (n + bs - 1) / bs;
    }
    return nb;
}

/* Longest query and key runs of any sequence (score buffer width). */
static int max_span(const rvk_attn *a) {
    int m = 1;
    for (int s = 0; s < a->nseq; s++) {
        int lq = a->cu_q[s + 1] - a->cu_q[s], lk = lenk(a, s);
        if (lq > m) m = lq;
        if (lk > m) m = lk;
    }
    return m;
}

/* Scratch: the block list (2 ints per block), then per thread two [QB, span] float buffers. */
static float *scratch_layout(rv_kctx *k, int nblk, int span, int nt, int **blk) {
    size_t off = ((size_t)2 * (nblk > 0 ? nblk : 1) * sizeof(int) + 63) / 64 * 64;
    char *ws = rvk_cpu_scratch(k, off + (size_t)nt * 2 * QB * span * sizeof(float));
    *blk = (int *)ws;
    return (float *)(ws + off);
}

int rvk_cpu_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk,
                      const float *v, const rvk_attn *a, rv_err *err) {
    if (attn_check(a, err) != 0) return -1;
    const int Hq = a->Hq, Hkv = a->Hkv, D = a->D, nrep = a->Hq / a->Hkv;
    const int ldq = Hq * D, ldk = Hkv * D, nt = rvk_threads(k), span = max_span(a);
    const float scale = a->scale;
    int *blk, nblk = count_blocks(a, 0, QB);
    float *bufs = scratch_layout(k, nblk, span, nt, &blk);
    make_blocks(a, 0, QB, blk);
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(nt) if (worth_threads(a))
    for (int h = 0; h < Hq; h++) {
        for (int b = 0; b < nblk; b++) {
            float *S = bufs + (size_t)omp_get_thread_num() * 2 * QB * span;
            int s = blk[2 * b], i0 = blk[2 * b + 1], Lq = a->cu_q[s + 1] - a->cu_q[s];
            int nr = Lq - i0 < QB ? Lq - i0 : QB, k0 = cuk(a, s), g = h / nrep;
            int nk = visible(a, s, i0 + nr - 1); /* the block's widest row (visibility grows with i) */
            size_t t0 = (size_t)a->cu_q[s] + i0;
            float *o = out + (t0 * Hq + h) * D;
            const float *kb = kk + ((size_t)k0 * Hkv + g) * D, *vb = v + ((size_t)k0 * Hkv + g) * D;
            /* a few rows (KV-cache decoding): sgemm would spend its time packing K and V */
            int small = nr < SMALL_ROWS;
            if (nk > 0 && small)
                for (int r = 0; r < nr; r++)
                    for (int j = 0; j < nk; j++)
                        S[(size_t)r * nk + j] = scale * rvk_dot(q + ((t0 + r) * Hq + h) * D, kb + (size_t)j * ldk, D);
            else if (nk > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, D, scale, q + (t0 * Hq + h) * D, ldq,
                            kb, ldk, 0.0f, S, nk);
            float inv[QB];
            for (int r = 0; r < nr; r++) {
                int nv = visible(a, s, i0 + r);
                float *row = S + (size_t)r * nk;
                float m = -INFINITY;
                for (int j = 0; j < nv; j++) m = row[j] > m ? row[j] : m;
                double l = 0;
                for (int j = 0; j < nv; j++) {
                    row[j] = expf(row[j] - m);
                    l += row[j];
                }
                for (int j = nv; j < nk; j++) row[j] = 0.0f;
                inv[r] = nv > 0 ? (float)(1.0 / l) : 0.0f;
                if (lse) lse[(t0 + r) * Hq + h] = nv > 0 ? m + (float)log(l) : -INFINITY;
            }
            if (nk > 0 && small)
                for (int r = 0; r < nr; r++) {
                    float acc[RVK_MAX_HEAD_DIM];
                    for (int d = 0; d < D; d++) acc[d] = 0.0f;
                    for (int j = 0; j < nk; j++) {
                        float pj = S[(size_t)r * nk + j];
                        const float *vr = vb + (size_t)j * ldk;
                        for (int d = 0; d < D; d++) acc[d] += pj * vr[d];
                    }
                    memcpy(o + (size_t)r * ldq, acc, (size_t)D * sizeof(float));
                }
            else if (nk > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, D, nk, 1.0f, S, nk, vb, ldk, 0.0f, o, ldq);
            for (int r = 0; r < nr; r++) {
                float *orow = o + (size_t)r * ldq;
                if (nk > 0)
                    for (int d = 0; d < D; d++) orow[d] *= inv[r];
                else
                    for (int d = 0; d < D; d++) orow[d] = 0.0f;
            }
        }
    }
    return 0;
}

static void zero_rows(rv_kctx *k, float *x, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = 0.0f;
}

int rvk_cpu_attention_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout,
                      const float *q, const float *kk, const float *v, const float *out,
                      const float *lse, const rvk_attn *a, int accum, rv_err *err) {
    if (attn_check(a, err) != 0) return -1;
    const int Hq = a->Hq, Hkv = a->Hkv, D = a->D, nrep = a->Hq / a->Hkv, Tq = a->Tq, Tk = a->Tk;
    const int ldq = Hq * D, ldk = Hkv * D, nt = rvk_threads(k), span = max_span(a);
    const float scale = a->scale;
    int nq = count_blocks(a, 0, QB), nkb = count_blocks(a, 1, KB);
    int *blk, nblk = nq > nkb ? nq : nkb;
    size_t nrow = (size_t)(Tq > 0 ? Tq : 1) * Hq;
    /* dsum [Tq, Hq] (dout . out per row and head) lives after the per-thread buffers */
    float *bufs = scratch_layout(k, nblk + (int)((nrow * sizeof(float) + 2 * sizeof(int) - 1) / (2 * sizeof(int))),
                                 span, nt, &blk);
    float *dsum = (float *)(blk + 2 * nblk);
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);

#pragma omp parallel for schedule(static) num_threads(nt) if ((size_t)Tq * Hq * D > RVK_PAR_MIN)
    for (size_t r = 0; r < (size_t)Tq * Hq; r++) dsum[r] = rvk_dot(dout + r * D, out + r * D, D);

    /* gradients accumulate block by block, so start from zero unless adding was asked for
     * (key rows outside every sequence, e.g. unused KV-cache capacity, stay zero) */
    if (!accum) {
        if (dq) zero_rows(k, dq, (size_t)Tq * ldq);
        if (dk) zero_rows(k, dk, (size_t)Tk * ldk);
        if (dv) zero_rows(k, dv, (size_t)Tk * ldk);
    }
    if (dq) {
        make_blocks(a, 0, QB, blk);
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(nt) if (worth_threads(a))
        for (int h = 0; h < Hq; h++) {
            for (int b = 0; b < nq; b++) {
                float *S = bufs + (size_t)omp_get_thread_num() * 2 * QB * span, *dP = S + (size_t)QB * span;
                int s = blk[2 * b], i0 = blk[2 * b + 1], Lq = a->cu_q[s + 1] - a->cu_q[s];
                int nr = Lq - i0 < QB ? Lq - i0 : QB, k0 = cuk(a, s), g = h / nrep;
                int nk = visible(a, s, i0 + nr - 1);
                if (nk <= 0) continue;
                size_t t0 = (size_t)a->cu_q[s] + i0;
                const float *kb = kk + ((size_t)k0 * Hkv + g) * D;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, D, scale, q + (t0 * Hq + h) * D, ldq,
                            kb, ldk, 0.0f, S, nk);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nk, D, 1.0f, dout + (t0 * Hq + h) * D, ldq,
                            v + ((size_t)k0 * Hkv + g) * D, ldk, 0.0f, dP, nk);
                for (int r = 0; r < nr; r++) {
                    int nv = visible(a, s, i0 + r);
                    size_t row = (t0 + r) * Hq + h;
                    float L = lse[row], Ds = dsum[row], *sr = S + (size_t)r * nk, *pr = dP + (size_t)r * nk;
                    for (int j = 0; j < nv; j++) sr[j] = expf(sr[j] - L) * (pr[j] - Ds);
                    for (int j = nv; j < nk; j++) sr[j] = 0.0f;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, D, nk, scale, S, nk, kb, ldk, 1.0f,
                            dq + (t0 * Hq + h) * D, ldq);
            }
        }
    }
    if (dk || dv) {
        make_blocks(a, 1, KB, blk);
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(nt) if (worth_threads(a))
        for (int g = 0; g < Hkv; g++) {
            for (int b = 0; b < nkb; b++) {
                float *P = bufs + (size_t)omp_get_thread_num() * 2 * QB * span, *dS = P + (size_t)KB * span;
                int s = blk[2 * b], j0 = blk[2 * b + 1], Lk = lenk(a, s), q0 = a->cu_q[s];
                int Lq = a->cu_q[s + 1] - q0, nc = Lk - j0 < KB ? Lk - j0 : KB, off = Lk - Lq;
                /* queries that see key j: i >= j - off when causal */
                int ifirst = a->causal ? j0 - off : 0;
                if (ifirst < 0) ifirst = 0;
                int nqr = Lq - ifirst;
                if (nqr <= 0) continue;
                size_t krow = (size_t)cuk(a, s) + j0;
                const float *kb = kk + (krow * Hkv + g) * D, *vb = v + (krow * Hkv + g) * D;
                for (int h = g * nrep; h < (g + 1) * nrep; h++) {
                    const float *qb = q + (((size_t)q0 + ifirst) * Hq + h) * D;
                    const float *db = dout + (((size_t)q0 + ifirst) * Hq + h) * D;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nc, nqr, D, scale, kb, ldk, qb, ldq, 0.0f,
                                P, nqr);
                    if (dk)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nc, nqr, D, 1.0f, vb, ldk, db, ldq, 0.0f,
                                    dS, nqr);
                    for (int c = 0; c < nc; c++) {
                        int lo = a->causal ? j0 + c - off - ifirst : 0;
                        if (lo < 0) lo = 0;
                        float *pr = P + (size_t)c * nqr, *dr = dS + (size_t)c * nqr;
                        for (int i = 0; i < lo; i++) pr[i] = 0.0f;
                        for (int i = lo; i < nqr; i++) {
                            size_t row = ((size_t)q0 + ifirst + i) * Hq + h;
                            pr[i] = expf(pr[i] - lse[row]);
                        }
                        if (dk) {
                            for (int i = 0; i < lo; i++) dr[i] = 0.0f;
                            for (int i = lo; i < nqr; i++) {
                                size_t row = ((size_t)q0 + ifirst + i) * Hq + h;
                                dr[i] = pr[i] * (dr[i] - dsum[row]);
                            }
                        }
                    }
                    if (dv)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nc, D, nqr, 1.0f, P, nqr, db, ldq, 1.0f,
                                    dv + (krow * Hkv + g) * D, ldk);
                    if (dk)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nc, D, nqr, scale, dS, nqr, qb, ldq,
                                    1.0f, dk + (krow * Hkv + g) * D, ldk);
                }
            }
        }
    }
    return 0;
}
