/* FlashAttention-2-style fused attention (forward and backward) over the rvk_attn descriptor:
 * varlen packed sequences, causal aligned to the end of the keys or bidirectional, GQA, KV cache
 * read through len_k. The scores never leave shared memory: no [rows, keys] matrix in global
 * memory, one launch per pass instead of a few GEMMs per (sequence, head, chunk).
 *
 * Arithmetic: fp32 FMA on CUDA cores everywhere (inner products, softmax, accumulators), whatever
 * RADVLM_CUDA_GEMM says; bf16 tensor-core tiles (WMMA/mma) are open work (docs/kernels.md).
 *
 * Launch shape (all three kernels): 256 threads as a 16 x 16 grid, ty = tid / 16, tx = tid % 16.
 * A [R, C] tile computed by a CTA gives thread (ty, tx) rows ty + 16 i and columns tx + 16 j: a row
 * lives in one half-warp (16 lanes), so row max / sum are __shfl_xor over offsets 8, 4, 2, 1 (a fixed
 * tree: deterministic). Head-dim accumulators [R, D] give thread (ty, tx) rows ty + 16 i and
 * d = tx + 16 jd, jd < 8 (D <= 128): registers.
 * Shared tiles of head-dim rows use a stride of D + 1 floats: reads of one d across 16 different
 * rows fall in 16 different banks.
 *
 * forward   grid (query blocks of FWD_BR rows, Hq): Q tile [64, D] in shared memory, loop over key
 *           blocks of FWD_BC = 64 keys up to the block's widest row's visible count (fully masked
 *           blocks are never loaded): S = scale Q K^T in registers, running max m and sum l per row
 *           (fp32), O [64, D] in registers rescaled by exp(m_old - m_new), P through shared memory
 *           (aliasing the K tile) for O += P V. out = O / l, lse = m + log l; a row that sees no key
 *           gets out 0, lse -INFINITY. Shared: (64 (D+1) + max(64 (D+1), 64 * 64) + 64 D) floats,
 *           99 KiB at D = 128 (two CTAs per H100 SM).
 * backward  (1) Dsum[t, h] = dO . O, one warp per row;
 *           (2) dK/dV grid (key blocks of BWD_KC = 64 keys, Hkv): K, V tiles stay in shared memory,
 *           dK, dV [64, D] in registers; loop over the query heads of the KV group (in order), then
 *           over query blocks of 32 rows from the first query that sees the block's first key:
 *           S^T, dP^T = V dO^T recomputed, P = exp(S - lse), dS = P (dP - Dsum) through shared
 *           memory, dV += P^T dO, dK += dS^T Q (scale at the end). Shared: (2 * 64 + 2 * 32) (D+1)
 *           + 2 * 64 * 32 + 64 floats, 113 KiB at D = 128;
 *           (3) dQ grid (query blocks of 64 rows, Hq): Q, dO tiles, dQ [64, D] in registers, loop
 *           over key blocks of 32: P and dS recomputed, dQ += dS K (scale at the end). Shared:
 *           (2 * 64 + 2 * 32) (D+1) + 64 * 32 + 128 floats, 105 KiB at D = 128.
 * Every output element is written by one thread of one CTA, its sum taken in a fixed order: no
 * atomics, results identical run to run. dK/dV add into buffers cleared first unless accum (key
 * rows outside every sequence stay zero); dQ rows all belong to a sequence and are written
 * (or added to) directly. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_impl.h"

#define FL_THREADS 256
#define FWD_BR 64 /* query rows per forward CTA */
#define FWD_BC 64 /* keys per forward step */
#define KV_BC 64  /* keys per dK/dV CTA */
#define KV_BR 32  /* query rows per dK/dV step */
#define DQ_BR 64  /* query rows per dQ CTA */
#define DQ_BC 32  /* keys per dQ step */
#define FL_DJ (RVK_CU_FLASH_MAX_D / 16) /* head-dim columns per thread */

/* One CTA's work: a block of query rows [r0, r0 + BR) (forward, dQ) or of keys [r0, r0 + BC) (dK/dV)
 * of the sequence with query rows [q0, q0 + lq) and key rows [k0, k0 + lk). */
struct flash_blk {
    int q0, lq, k0, lk, r0;
};

/* dst[r * ld + d] = src[r * sld + d] for r < nvalid, 0 for nvalid <= r < rows; d < D. */
__device__ inline void fl_load(float *dst, int ld, const float *src, size_t sld, int nvalid, int rows, int D) {
    for (int e = threadIdx.x; e < rows * D; e += FL_THREADS) {
        int r = e / D, d = e - r * D;
        dst[r * ld + d] = r < nvalid ? src[(size_t)r * sld + d] : 0.0f;
    }
}

/* max / sum over the 16 lanes of a half-warp (a row), a fixed tree */
__device__ inline float fl_row_max(float x) {
    for (int o = 8; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ inline float fl_row_sum(float x) {
    for (int o = 8; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

__global__ void __launch_bounds__(FL_THREADS)
    flash_fwd_k(float *out, float *lse, const float *q, const float *kk, const float *v, const flash_blk *blks,
                int Hq, int Hkv, int D, float scale, int causal) {
    constexpr int BR = FWD_BR, BC = FWD_BC, MI = BR / 16, NJ = BC / 16;
    extern __shared__ float sm[];
    const flash_blk b = blks[blockIdx.x];
    const int h = blockIdx.y, g = h / (Hq / Hkv), ty = threadIdx.x >> 4, tx = threadIdx.x & 15, ld = D + 1;
    const int nr = min(BR, b.lq - b.r0);
    const size_t ldq = (size_t)Hq * D, ldk = (size_t)Hkv * D;
    float *Qs = sm;                                  /* [BR][ld] */
    float *Ks = Qs + BR * ld;                        /* [BC][ld], then P [BR][BC] */
    float *Vs = Ks + max(BC * ld, BR * BC);          /* [BC][D] */
    fl_load(Qs, ld, q + ((size_t)(b.q0 + b.r0) * Hq + h) * D, ldq, nr, BR, D);
    float o[MI][FL_DJ], m[MI], l[MI];
    int nv[MI];
#pragma unroll
    for (int i = 0; i < MI; i++) {
        int r = ty + 16 * i;
        nv[i] = r < nr ? rvk_attn_visible(causal, b.lq, b.lk, b.r0 + r) : 0;
        m[i] = -INFINITY, l[i] = 0.0f;
#pragma unroll
        for (int jd = 0; jd < FL_DJ; jd++) o[i][jd] = 0.0f;
    }
    /* keys past the widest row's visible count are masked for every row: never loaded */
    const int nk = rvk_attn_visible(causal, b.lq, b.lk, b.r0 + nr - 1);
    const float *kb = kk + ((size_t)b.k0 * Hkv + g) * D, *vb = v + ((size_t)b.k0 * Hkv + g) * D;
    for (int j0 = 0; j0 < nk; j0 += BC) {
        const int nc = min(BC, nk - j0);
        __syncthreads(); /* the previous step's reads of P (in Ks) and Vs are done */
        fl_load(Ks, ld, kb + (size_t)j0 * ldk, ldk, nc, BC, D);
        fl_load(Vs, D, vb + (size_t)j0 * ldk, ldk, nc, BC, D);
        __syncthreads();
        float s[MI][NJ];
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int j = 0; j < NJ; j++) s[i][j] = 0.0f;
        for (int d = 0; d < D; d++) {
            float a[MI], c[NJ];
#pragma unroll
            for (int i = 0; i < MI; i++) a[i] = Qs[(ty + 16 * i) * ld + d];
#pragma unroll
            for (int j = 0; j < NJ; j++) c[j] = Ks[(tx + 16 * j) * ld + d];
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++) s[i][j] = fmaf(a[i], c[j], s[i][j]);
        }
        /* online softmax: masked scores are -inf; ms = 0 while a row has seen nothing, so that
         * exp(-inf - ms) = 0 and never NaN */
        float corr[MI];
#pragma unroll
        for (int i = 0; i < MI; i++) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                s[i][j] = j0 + tx + 16 * j < nv[i] ? scale * s[i][j] : -INFINITY;
                mx = fmaxf(mx, s[i][j]);
            }
            const float mn = fmaxf(m[i], fl_row_max(mx)), ms = mn == -INFINITY ? 0.0f : mn;
            float ps = 0.0f;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                s[i][j] = expf(s[i][j] - ms);
                ps += s[i][j];
            }
            corr[i] = expf(m[i] - ms);
            l[i] = l[i] * corr[i] + fl_row_sum(ps);
            m[i] = mn;
        }
        __syncthreads(); /* every thread is done reading Ks: P overwrites it */
        float *Ps = Ks;
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int j = 0; j < NJ; j++) Ps[(ty + 16 * i) * BC + tx + 16 * j] = s[i][j];
        __syncthreads();
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int jd = 0; jd < FL_DJ; jd++) o[i][jd] *= corr[i];
        for (int c = 0; c < nc; c++) {
            float p[MI];
#pragma unroll
            for (int i = 0; i < MI; i++) p[i] = Ps[(ty + 16 * i) * BC + c];
#pragma unroll
            for (int jd = 0; jd < FL_DJ; jd++) {
                const int d = tx + 16 * jd;
                if (d < D) {
                    const float x = Vs[c * D + d];
#pragma unroll
                    for (int i = 0; i < MI; i++) o[i][jd] = fmaf(p[i], x, o[i][jd]);
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < MI; i++) {
        const int r = ty + 16 * i;
        if (r >= nr) continue;
        const size_t row = (size_t)(b.q0 + b.r0 + r) * Hq + h;
        const float inv = nv[i] > 0 ? 1.0f / l[i] : 0.0f; /* l >= 1 when a key is visible */
#pragma unroll
        for (int jd = 0; jd < FL_DJ; jd++) {
            const int d = tx + 16 * jd;
            if (d < D) out[row * D + d] = o[i][jd] * inv;
        }
        if (tx == 0 && lse) lse[row] = nv[i] > 0 ? m[i] + logf(l[i]) : -INFINITY;
    }
}

/* Dsum[row] = dout[row, :] . out[row, :], one warp per (token, head) row */
__global__ void flash_dsum_k(float *dsum, const float *dout, const float *out, size_t rows, int D) {
    size_t w = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (w >= rows) return;
    const float *a = dout + w * D, *c = out + w * D;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s = fmaf(a[d], c[d], s);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) dsum[w] = s;
}

/* dK, dV of one key block [r0, r0 + BC) of KV head g: see the file header. dk, dv: cleared or
 * holding what to add to; either may be NULL. */
__global__ void __launch_bounds__(FL_THREADS)
    flash_bwd_dkdv_k(float *dk, float *dv, const float *dout, const float *q, const float *kk, const float *v,
                     const float *lse, const float *dsum, const flash_blk *blks, int Hq, int Hkv, int D, float scale,
                     int causal) {
    constexpr int BR = KV_BR, BC = KV_BC, MI = BC / 16, NJ = BR / 16; /* keys are the rows here */
    extern __shared__ float sm[];
    const flash_blk b = blks[blockIdx.x];
    const int g = blockIdx.y, nrep = Hq / Hkv, ty = threadIdx.x >> 4, tx = threadIdx.x & 15, ld = D + 1;
    const int nc = min(BC, b.lk - b.r0);
    const size_t ldq = (size_t)Hq * D, ldk = (size_t)Hkv * D;
    float *Ks = sm, *Vs = Ks + BC * ld;   /* [BC][ld] each */
    float *Qs = Vs + BC * ld, *dOs = Qs + BR * ld; /* [BR][ld] each */
    float *Pt = dOs + BR * ld, *dSt = Pt + BC * BR; /* [BC][BR] each: P^T, dS^T */
    float *Ls = dSt + BC * BR, *Ds = Ls + BR;        /* [BR] each: lse, Dsum of the query rows */
    const size_t krow0 = (size_t)b.k0 + b.r0;
    fl_load(Ks, ld, kk + (krow0 * Hkv + g) * D, ldk, nc, BC, D);
    fl_load(Vs, ld, v + (krow0 * Hkv + g) * D, ldk, nc, BC, D);
    float ak[MI][FL_DJ], av[MI][FL_DJ];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int jd = 0; jd < FL_DJ; jd++) ak[i][jd] = av[i][jd] = 0.0f;
    /* query i sees key j iff j <= i + (lk - lq) when causal: the first query that sees key r0 */
    int ifirst = causal ? b.r0 - (b.lk - b.lq) : 0;
    ifirst = ifirst < 0 ? 0 : ifirst;
    for (int rr = 0; rr < nrep; rr++) {
        const int h = g * nrep + rr;
        for (int i0 = ifirst; i0 < b.lq; i0 += BR) {
            const int nr = min(BR, b.lq - i0);
            const size_t qrow0 = (size_t)b.q0 + i0;
            __syncthreads(); /* the previous step's reads of Qs, dOs, Pt, dSt, Ls, Ds are done */
            fl_load(Qs, ld, q + (qrow0 * Hq + h) * D, ldq, nr, BR, D);
            fl_load(dOs, ld, dout + (qrow0 * Hq + h) * D, ldq, nr, BR, D);
            for (int r = threadIdx.x; r < BR; r += FL_THREADS) {
                Ls[r] = r < nr ? lse[(qrow0 + r) * Hq + h] : 0.0f;
                Ds[r] = r < nr ? dsum[(qrow0 + r) * Hq + h] : 0.0f;
            }
            __syncthreads();
            /* S^T [c][r] = K_c . Q_r, dP^T [c][r] = V_c . dO_r: key c = ty + 16 i, query r = tx + 16 j */
            float st[MI][NJ], dpt[MI][NJ];
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++) st[i][j] = dpt[i][j] = 0.0f;
            for (int d = 0; d < D; d++) {
                float kc[MI], vc[MI], qr[NJ], dr[NJ];
#pragma unroll
                for (int i = 0; i < MI; i++) kc[i] = Ks[(ty + 16 * i) * ld + d], vc[i] = Vs[(ty + 16 * i) * ld + d];
#pragma unroll
                for (int j = 0; j < NJ; j++) qr[j] = Qs[(tx + 16 * j) * ld + d], dr[j] = dOs[(tx + 16 * j) * ld + d];
#pragma unroll
                for (int i = 0; i < MI; i++)
#pragma unroll
                    for (int j = 0; j < NJ; j++) {
                        st[i][j] = fmaf(kc[i], qr[j], st[i][j]);
                        dpt[i][j] = fmaf(vc[i], dr[j], dpt[i][j]);
                    }
            }
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++) {
                    const int c = ty + 16 * i, r = tx + 16 * j;
                    /* visible: a real query row, a real key, inside the row's causal range (then
                     * lse is finite: the row sees at least this key) */
                    const bool vis = r < nr && c < nc && b.r0 + c < rvk_attn_visible(causal, b.lq, b.lk, i0 + r);
                    const float p = vis ? expf(scale * st[i][j] - Ls[r]) : 0.0f;
                    Pt[c * BR + r] = p;
                    dSt[c * BR + r] = vis ? p * (dpt[i][j] - Ds[r]) : 0.0f;
                }
            __syncthreads();
            for (int r = 0; r < nr; r++) {
                float p[MI], ds[MI];
#pragma unroll
                for (int i = 0; i < MI; i++) p[i] = Pt[(ty + 16 * i) * BR + r], ds[i] = dSt[(ty + 16 * i) * BR + r];
#pragma unroll
                for (int jd = 0; jd < FL_DJ; jd++) {
                    const int d = tx + 16 * jd;
                    if (d < D) {
                        const float xo = dOs[r * ld + d], xq = Qs[r * ld + d];
#pragma unroll
                        for (int i = 0; i < MI; i++) {
                            av[i][jd] = fmaf(p[i], xo, av[i][jd]);
                            ak[i][jd] = fmaf(ds[i], xq, ak[i][jd]);
                        }
                    }
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < MI; i++) {
        const int c = ty + 16 * i;
        if (c >= nc) continue;
        const size_t base = ((krow0 + c) * Hkv + g) * D;
#pragma unroll
        for (int jd = 0; jd < FL_DJ; jd++) {
            const int d = tx + 16 * jd;
            if (d >= D) continue;
            if (dk) dk[base + d] += scale * ak[i][jd];
            if (dv) dv[base + d] += av[i][jd];
        }
    }
}

/* dQ of one query block [r0, r0 + BR) of head h: see the file header. accum: add to dq, else
 * overwrite. */
__global__ void __launch_bounds__(FL_THREADS)
    flash_bwd_dq_k(float *dq, const float *dout, const float *q, const float *kk, const float *v, const float *lse,
                   const float *dsum, const flash_blk *blks, int Hq, int Hkv, int D, float scale, int causal,
                   int accum) {
    constexpr int BR = DQ_BR, BC = DQ_BC, MI = BR / 16, NJ = BC / 16;
    extern __shared__ float sm[];
    const flash_blk b = blks[blockIdx.x];
    const int h = blockIdx.y, g = h / (Hq / Hkv), ty = threadIdx.x >> 4, tx = threadIdx.x & 15, ld = D + 1;
    const int nr = min(BR, b.lq - b.r0);
    const size_t ldq = (size_t)Hq * D, ldk = (size_t)Hkv * D, qrow0 = (size_t)b.q0 + b.r0;
    float *Qs = sm, *dOs = Qs + BR * ld;           /* [BR][ld] each */
    float *Ks = dOs + BR * ld, *Vs = Ks + BC * ld; /* [BC][ld] each */
    float *dSs = Vs + BC * ld;                     /* [BR][BC] */
    float *Ls = dSs + BR * BC, *Ds = Ls + BR;      /* [BR] each */
    fl_load(Qs, ld, q + (qrow0 * Hq + h) * D, ldq, nr, BR, D);
    fl_load(dOs, ld, dout + (qrow0 * Hq + h) * D, ldq, nr, BR, D);
    for (int r = threadIdx.x; r < BR; r += FL_THREADS) {
        Ls[r] = r < nr ? lse[(qrow0 + r) * Hq + h] : 0.0f;
        Ds[r] = r < nr ? dsum[(qrow0 + r) * Hq + h] : 0.0f;
    }
    float a[MI][FL_DJ];
    int nv[MI];
#pragma unroll
    for (int i = 0; i < MI; i++) {
        const int r = ty + 16 * i;
        nv[i] = r < nr ? rvk_attn_visible(causal, b.lq, b.lk, b.r0 + r) : 0;
#pragma unroll
        for (int jd = 0; jd < FL_DJ; jd++) a[i][jd] = 0.0f;
    }
    const int nk = rvk_attn_visible(causal, b.lq, b.lk, b.r0 + nr - 1);
    const float *kb = kk + ((size_t)b.k0 * Hkv + g) * D, *vb = v + ((size_t)b.k0 * Hkv + g) * D;
    for (int j0 = 0; j0 < nk; j0 += BC) {
        const int nc = min(BC, nk - j0);
        __syncthreads(); /* the previous step's reads of Ks and dSs are done (and the first: Qs, Ls ready) */
        fl_load(Ks, ld, kb + (size_t)j0 * ldk, ldk, nc, BC, D);
        fl_load(Vs, ld, vb + (size_t)j0 * ldk, ldk, nc, BC, D);
        __syncthreads();
        float s[MI][NJ], dp[MI][NJ];
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int j = 0; j < NJ; j++) s[i][j] = dp[i][j] = 0.0f;
        for (int d = 0; d < D; d++) {
            float xq[MI], xo[MI], xk[NJ], xv[NJ];
#pragma unroll
            for (int i = 0; i < MI; i++) xq[i] = Qs[(ty + 16 * i) * ld + d], xo[i] = dOs[(ty + 16 * i) * ld + d];
#pragma unroll
            for (int j = 0; j < NJ; j++) xk[j] = Ks[(tx + 16 * j) * ld + d], xv[j] = Vs[(tx + 16 * j) * ld + d];
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++) {
                    s[i][j] = fmaf(xq[i], xk[j], s[i][j]);
                    dp[i][j] = fmaf(xo[i], xv[j], dp[i][j]);
                }
        }
#pragma unroll
        for (int i = 0; i < MI; i++) {
            const int r = ty + 16 * i;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                const int c = tx + 16 * j;
                const bool vis = j0 + c < nv[i]; /* nv = 0 past the block's rows */
                const float p = vis ? expf(scale * s[i][j] - Ls[r]) : 0.0f;
                dSs[r * BC + c] = vis ? p * (dp[i][j] - Ds[r]) : 0.0f;
            }
        }
        __syncthreads();
        for (int c = 0; c < nc; c++) {
            float ds[MI];
#pragma unroll
            for (int i = 0; i < MI; i++) ds[i] = dSs[(ty + 16 * i) * BC + c];
#pragma unroll
            for (int jd = 0; jd < FL_DJ; jd++) {
                const int d = tx + 16 * jd;
                if (d < D) {
                    const float x = Ks[c * ld + d];
#pragma unroll
                    for (int i = 0; i < MI; i++) a[i][jd] = fmaf(ds[i], x, a[i][jd]);
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < MI; i++) {
        const int r = ty + 16 * i;
        if (r >= nr) continue;
        float *row = dq + (qrow0 + r) * ldq + (size_t)h * D;
#pragma unroll
        for (int jd = 0; jd < FL_DJ; jd++) {
            const int d = tx + 16 * jd;
            if (d < D) row[d] = accum ? row[d] + scale * a[i][jd] : scale * a[i][jd];
        }
    }
}

/* ---- host side ---- */

static size_t fwd_smem(int D) {
    size_t ld = (size_t)D + 1, kp = FWD_BC * ld > (size_t)FWD_BR * FWD_BC ? FWD_BC * ld : (size_t)FWD_BR * FWD_BC;
    return (FWD_BR * ld + kp + (size_t)FWD_BC * D) * sizeof(float);
}
static size_t dkdv_smem(int D) {
    size_t ld = (size_t)D + 1;
    return ((2 * KV_BC + 2 * KV_BR) * ld + 2 * (size_t)KV_BC * KV_BR + 2 * KV_BR) * sizeof(float);
}
static size_t dq_smem(int D) {
    size_t ld = (size_t)D + 1;
    return ((2 * DQ_BR + 2 * DQ_BC) * ld + (size_t)DQ_BR * DQ_BC + 2 * DQ_BR) * sizeof(float);
}

/* Block list over the sequences: rows (queries when keys == 0, else keys) in blocks of bs. Within
 * a sequence the last block comes first: with a causal mask it has the most work, and starting
 * the long CTAs early shortens the tail. Returns the count; *out is malloc'ed. */
static int flash_blocks(const rvk_attn_seq *seq, int nseq, int keys, int bs, flash_blk **out) {
    int n = 0;
    for (int s = 0; s < nseq; s++) n += ((keys ? seq[s].lk : seq[s].lq) + bs - 1) / bs;
    flash_blk *b = (flash_blk *)rv_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *b);
    int x = 0;
    for (int s = 0; s < nseq; s++) {
        const int len = keys ? seq[s].lk : seq[s].lq;
        for (int r0 = (len + bs - 1) / bs * bs - bs; r0 >= 0; r0 -= bs)
            b[x++] = flash_blk{seq[s].q0, seq[s].lq, seq[s].k0, seq[s].lk, r0};
    }
    *out = b;
    return n;
}

/* A launch of FL_THREADS threads. tests/gpu/flash_emu.cpp compiles this file on the host with its
 * own FL_LAUNCH (every CTA run as 256 fibers), so the kernels' indexing is checked without a GPU. */
#ifndef FL_LAUNCH
#define FL_LAUNCH(fn, grid, shm, st) fn<<<(grid), FL_THREADS, (shm), (st)>>>
#endif

/* Raises a kernel's dynamic shared-memory limit to what this launch needs. */
template <typename F> static int flash_smem(rv_kctx *k, F *fn, size_t bytes, const char *what) {
    return rvk_cu_check(k, cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes), what);
}

int rvk_cuda_flash_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                       const rvk_attn *a, const rvk_attn_seq *seq) {
    flash_blk *hb;
    const int nb = flash_blocks(seq, a->nseq, 0, FWD_BR, &hb);
    if (nb > 0) {
        flash_blk *db = (flash_blk *)rvk_cu_scratch(k, (size_t)nb * sizeof *db);
        const size_t shm = fwd_smem(a->D);
        if (db && !flash_smem(k, flash_fwd_k, shm, "attention forward (flash): shared memory")) {
            rvk_cu_put(k, db, hb, (size_t)nb * sizeof *db);
            FL_LAUNCH(flash_fwd_k, dim3((unsigned)nb, (unsigned)a->Hq), shm, rvk_cu_stream(k))(
                out, lse, q, kk, v, db, a->Hq, a->Hkv, a->D, a->scale, a->causal);
            rvk_cu_launched(k, "attention forward (flash)");
        }
    }
    free(hb);
    return 0;
}

int rvk_cuda_flash_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                       const float *kk, const float *v, const float *out, const float *lse, const rvk_attn *a,
                       const rvk_attn_seq *seq, int accum) {
    const int Hq = a->Hq, Hkv = a->Hkv, D = a->D, Tq = a->Tq, Tk = a->Tk;
    cudaStream_t st = rvk_cu_stream(k);
    /* dk, dv are added to block by block: start from zero unless adding was asked for (key rows
     * outside every sequence, e.g. unused KV-cache capacity, stay zero); every dq row is written */
    if (!accum) {
        if (dk) rvk_cu_check(k, cudaMemsetAsync(dk, 0, (size_t)Tk * Hkv * D * sizeof(float), st), "clearing dk");
        if (dv) rvk_cu_check(k, cudaMemsetAsync(dv, 0, (size_t)Tk * Hkv * D * sizeof(float), st), "clearing dv");
    }
    if ((!dq && !dk && !dv) || Tq <= 0) return 0;
    flash_blk *hq, *hk;
    const int nq = flash_blocks(seq, a->nseq, 0, DQ_BR, &hq), nk = flash_blocks(seq, a->nseq, 1, KV_BC, &hk);
    /* scratch: Dsum [Tq * Hq] (padded to 64 floats) | query blocks [nq] | key blocks [nk] */
    const size_t nrow = (size_t)Tq * Hq, ndsum = (nrow + 63) / 64 * 64;
    const size_t bq = (size_t)nq * sizeof(flash_blk), bk = (size_t)nk * sizeof(flash_blk);
    char *ws = (char *)rvk_cu_scratch(k, ndsum * sizeof(float) + bq + bk);
    if (ws) {
        float *dsum = (float *)ws;
        flash_blk *dqb = (flash_blk *)(ws + ndsum * sizeof(float)), *dkb = (flash_blk *)((char *)dqb + bq);
        if (nq) rvk_cu_put(k, dqb, hq, bq);
        if (nk) rvk_cu_put(k, dkb, hk, bk);
        FL_LAUNCH(flash_dsum_k, dim3((unsigned)((nrow * 32 + FL_THREADS - 1) / FL_THREADS)), 0, st)(dsum, dout, out,
                                                                                                   nrow, D);
        rvk_cu_launched(k, "attention backward (flash): Dsum");
        const size_t skv = dkdv_smem(D), sq = dq_smem(D);
        if ((dk || dv) && nk > 0 &&
            !flash_smem(k, flash_bwd_dkdv_k, skv, "attention backward (flash): dK/dV shared memory")) {
            FL_LAUNCH(flash_bwd_dkdv_k, dim3((unsigned)nk, (unsigned)Hkv), skv, st)(
                dk, dv, dout, q, kk, v, lse, dsum, dkb, Hq, Hkv, D, a->scale, a->causal);
            rvk_cu_launched(k, "attention backward (flash): dK/dV");
        }
        if (dq && nq > 0 &&
            !flash_smem(k, flash_bwd_dq_k, sq, "attention backward (flash): dQ shared memory")) {
            FL_LAUNCH(flash_bwd_dq_k, dim3((unsigned)nq, (unsigned)Hq), sq, st)(
                dq, dout, q, kk, v, lse, dsum, dqb, Hq, Hkv, D, a->scale, a->causal, accum);
            rvk_cu_launched(k, "attention backward (flash): dQ");
        }
    }
    free(hq);
    free(hk);
    return 0;
}
