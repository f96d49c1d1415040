/* FlashAttention-2-style fused attention (forward and backward) over the rvk_attn descriptor:
 * varlen packed sequences, causal aligned to the end of the keys or bidirectional, GQA, KV cache
 * read through len_k. The scores never leave shared memory: no [rows, keys] matrix in global
 * memory, one launch per pass instead of a few GEMMs per (sequence, head, chunk).
 *
 * Arithmetic: two variants of each kernel with the same tiles and grids. RADVLM_CUDA_GEMM=bf16
 * (the default): the inner products on bf16 tensor cores (WMMA m16n16k16, fp32 accumulation; see
 * "bf16 tensor-core variants" below); fp32 / tf32: fp32 FMA on CUDA cores throughout (exact fp32,
 * for the 1e-4 parity check). Softmax statistics, P, dS and every accumulator are fp32 in both.
 * The description below is of the fp32 variant; the bf16 one differs where its section says.
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
 *           97 KiB at D = 128 (two CTAs per H100 SM).
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
#include "kernels/cuda/attention_dsum.cuh"
#ifndef FL_LAUNCH /* tests/gpu/flash_emu.cpp brings its own WMMA and bf16 */
#include <cuda_bf16.h>
#include <mma.h>
#endif

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

/* The fp32 variant's paired register-tile products over d < D (the backward kernels need two
 * at once): a1[i][j] = X1[r] . Y1[c], a2[i][j] = X2[r] . Y2[c] for tile row r = ty + 16 i and
 * column c = tx + 16 j (rows of ld floats in shared memory), fmaf in increasing d. */
template <int MI, int NJ>
__device__ inline void fl_dots2(float (&a1)[MI][NJ], float (&a2)[MI][NJ], const float *X1, const float *X2,
                                const float *Y1, const float *Y2, int ld, int D) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NJ; j++) a1[i][j] = a2[i][j] = 0.0f;
    for (int d = 0; d < D; d++) {
        float x1[MI], x2[MI], y1[NJ], y2[NJ];
#pragma unroll
        for (int i = 0; i < MI; i++) x1[i] = X1[(ty + 16 * i) * ld + d], x2[i] = X2[(ty + 16 * i) * ld + d];
#pragma unroll
        for (int j = 0; j < NJ; j++) y1[j] = Y1[(tx + 16 * j) * ld + d], y2[j] = Y2[(tx + 16 * j) * ld + d];
#pragma unroll
        for (int i = 0; i < MI; i++)
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                a1[i][j] = fmaf(x1[i], y1[j], a1[i][j]);
                a2[i][j] = fmaf(x2[i], y2[j], a2[i][j]);
            }
    }
}

/* The fp32 variant's tile-times-rows product: a[i][jd] += sum over c < n of
 * P[r * ldp + c] * X[c * ldx + d] for tile row r = ty + 16 i and head-dim column d = tx + 16 jd < D
 * (P = probabilities or dS in shared memory, X = V or K rows), fmaf in increasing c. */
template <int MI>
__device__ inline void fl_acc_rows(float (&a)[MI][FL_DJ], const float *P, int ldp, const float *X, int ldx, int n,
                                   int D) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    for (int c = 0; c < n; c++) {
        float p[MI];
#pragma unroll
        for (int i = 0; i < MI; i++) p[i] = P[(ty + 16 * i) * ldp + c];
#pragma unroll
        for (int jd = 0; jd < FL_DJ; jd++) {
            const int d = tx + 16 * jd;
            if (d < D) {
                const float x = X[c * ldx + d];
#pragma unroll
                for (int i = 0; i < MI; i++) a[i][jd] = fmaf(p[i], x, a[i][jd]);
            }
        }
    }
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
        fl_acc_rows<MI>(o, Ps, BC, Vs, D, nc, D);
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
            fl_dots2<MI, NJ>(st, dpt, Ks, Vs, Qs, dOs, ld, D);
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
        fl_dots2<MI, NJ>(s, dp, Qs, dOs, Ks, Vs, ld, D);
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
        fl_acc_rows<MI>(a, dSs, BC, Ks, ld, nc, D);
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

/* ---- bf16 tensor-core variants (RADVLM_CUDA_GEMM=bf16, the default) ----
 * The same algorithms, tiles and launch grids; the inner products run as WMMA m16n16k16 on bf16
 * copies of the tiles with fp32 accumulation: the K/V/Q/dO tiles are converted to bf16 when they
 * are loaded into shared memory (head dim zero-padded to Dp = D rounded up to 16), score tiles are
 * stored to shared memory in fp32 for the same scalar softmax code (fp32 m, l, P, dS), and P / dS go
 * back to bf16 for the second product. The 8 warps share the 16 x 16 fragments of a product
 * warp-uniformly (fragment f = warp + 8 t). The forward keeps O in shared memory (fp32, rescaled by
 * the row owners between products); dK, dV and dQ stay in accumulator fragments across the whole
 * loop and are staged through shared memory at the end. Every shared buffer starts on a 128-byte
 * boundary and every fragment pointer on a 32-byte one (WMMA's rule): row strides of bf16 tiles
 * are Dp + 8 or 40 / 72 elements, of fp32 tiles 36 / 68 / Dp + 4, all 16-row steps multiples of
 * 32 bytes. */
namespace wm = nvcuda::wmma;
typedef wm::fragment<wm::matrix_a, 16, 16, 16, __nv_bfloat16, wm::row_major> fl_fa;
typedef wm::fragment<wm::matrix_b, 16, 16, 16, __nv_bfloat16, wm::row_major> fl_fb_row;
typedef wm::fragment<wm::matrix_b, 16, 16, 16, __nv_bfloat16, wm::col_major> fl_fb_col;
typedef wm::fragment<wm::accumulator, 16, 16, 16, float> fl_fc;

#define FL_NT (RVK_CU_FLASH_MAX_D / 16 * 4 / 8) /* accumulator fragments per warp of a [64, Dp] tile */

__host__ __device__ inline size_t fl_al(size_t bytes) { return (bytes + 127) / 128 * 128; }
__host__ __device__ inline int fl_dp(int D) { return (D + 15) / 16 * 16; }

/* dst[r * ld + d] = bf16(src[r * sld + d]) for r < nvalid, d < D; 0 elsewhere up to rows x Dp. */
__device__ inline void fl_load_bf(__nv_bfloat16 *dst, int ld, const float *src, size_t sld, int nvalid, int rows,
                                  int D, int Dp) {
    for (int e = threadIdx.x; e < rows * Dp; e += FL_THREADS) {
        int r = e / Dp, d = e - r * Dp;
        dst[r * ld + d] = __float2bfloat16_rn(r < nvalid && d < D ? src[(size_t)r * sld + d] : 0.0f);
    }
}

/* The backward kernels' paired 16 x 16 products over the head dim, for one warp: o1 = A1 B1^T and
 * o2 = A2 B2^T (A*, B* point at the first of 16 bf16 rows with stride ld; Dp columns), stored
 * fp32 row-major with stride lo (S and dP, or their transposes, from the same operands' tiles). */
__device__ inline void fl_wmma_pair(float *o1, float *o2, int lo, const __nv_bfloat16 *A1, const __nv_bfloat16 *B1,
                                    const __nv_bfloat16 *A2, const __nv_bfloat16 *B2, int ld, int Dp) {
    fl_fc c1, c2;
    wm::fill_fragment(c1, 0.0f);
    wm::fill_fragment(c2, 0.0f);
    for (int kd = 0; kd < Dp; kd += 16) {
        fl_fa a;
        fl_fb_col b; /* B(d, n) = B*[n][d] */
        wm::load_matrix_sync(a, A1 + kd, ld);
        wm::load_matrix_sync(b, B1 + kd, ld);
        wm::mma_sync(c1, a, b, c1);
        wm::load_matrix_sync(a, A2 + kd, ld);
        wm::load_matrix_sync(b, B2 + kd, ld);
        wm::mma_sync(c2, a, b, c2);
    }
    wm::store_matrix_sync(o1, c1, lo, wm::mem_row_major);
    wm::store_matrix_sync(o2, c2, lo, wm::mem_row_major);
}

/* c += A B for one warp's 16 x 16 fragment: A's 16 bf16 rows (stride lda) times B's n rows
 * (stride ldb, 16 columns), n a multiple of 16: O += P V, dV += P^T dO, dK += dS^T Q, dQ += dS K. */
__device__ inline void fl_wmma_acc(fl_fc &c, const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B, int ldb, int n) {
    for (int k = 0; k < n; k += 16) {
        fl_fa a;
        fl_fb_row b; /* B(k, col) */
        wm::load_matrix_sync(a, A + k, lda);
        wm::load_matrix_sync(b, B + (size_t)k * ldb, ldb);
        wm::mma_sync(c, a, b, c);
    }
}

/* forward shared layout: Qb, Kb, Vb [64][Dp+8] bf16 | S [64][68] f32 | Pb [64][72] bf16 | O [64][Dp+4] f32 */
struct fl_fwd_lay {
    size_t k, v, s, p, o, total;
};
__host__ __device__ inline fl_fwd_lay fl_fwd_layout(int Dp) {
    fl_fwd_lay L;
    const size_t tb = fl_al((size_t)FWD_BR * (Dp + 8) * 2);
    L.k = tb, L.v = 2 * tb, L.s = 3 * tb;
    L.p = L.s + fl_al((size_t)FWD_BR * 68 * 4);
    L.o = L.p + fl_al((size_t)FWD_BR * 72 * 2);
    L.total = L.o + fl_al((size_t)FWD_BR * (Dp + 4) * 4);
    return L;
}

__global__ void __launch_bounds__(FL_THREADS)
    flash_fwd_bf16_k(float *out, float *lse, const float *q, const float *kk, const float *v, const flash_blk *blks,
                     int Hq, int Hkv, int D, float scale, int causal) {
    constexpr int BR = FWD_BR, BC = FWD_BC, MI = BR / 16, NJ = BC / 16, LS = 68, LP = 72;
    extern __shared__ __align__(128) float sm[];
    const flash_blk b = blks[blockIdx.x];
    const int h = blockIdx.y, g = h / (Hq / Hkv), ty = threadIdx.x >> 4, tx = threadIdx.x & 15, w = threadIdx.x >> 5;
    const int Dp = fl_dp(D), LB = Dp + 8, LO = Dp + 4, nf = 4 * (Dp / 16);
    const int nr = min(BR, b.lq - b.r0);
    const size_t ldq = (size_t)Hq * D, ldk = (size_t)Hkv * D;
    const fl_fwd_lay L = fl_fwd_layout(Dp);
    char *base = (char *)sm;
    __nv_bfloat16 *Qb = (__nv_bfloat16 *)base, *Kb = (__nv_bfloat16 *)(base + L.k), *Vb = (__nv_bfloat16 *)(base + L.v);
    float *Ss = (float *)(base + L.s), *Os = (float *)(base + L.o);
    __nv_bfloat16 *Pb = (__nv_bfloat16 *)(base + L.p);
    fl_load_bf(Qb, LB, q + ((size_t)(b.q0 + b.r0) * Hq + h) * D, ldq, nr, BR, D, Dp);
    for (int e = threadIdx.x; e < BR * LO; e += FL_THREADS) Os[e] = 0.0f;
    float m[MI], l[MI];
    int nv[MI];
#pragma unroll
    for (int i = 0; i < MI; i++) {
        int r = ty + 16 * i;
        nv[i] = r < nr ? rvk_attn_visible(causal, b.lq, b.lk, b.r0 + r) : 0;
        m[i] = -INFINITY, l[i] = 0.0f;
    }
    const int nk = rvk_attn_visible(causal, b.lq, b.lk, b.r0 + nr - 1);
    const float *kb = kk + ((size_t)b.k0 * Hkv + g) * D, *vb = v + ((size_t)b.k0 * Hkv + g) * D;
    for (int j0 = 0; j0 < nk; j0 += BC) {
        const int nc = min(BC, nk - j0), nc16 = (nc + 15) / 16 * 16;
        __syncthreads(); /* the previous step's products are done with Kb, Vb, Pb, Os */
        fl_load_bf(Kb, LB, kb + (size_t)j0 * ldk, ldk, nc, BC, D, Dp);
        fl_load_bf(Vb, LB, vb + (size_t)j0 * ldk, ldk, nc, BC, D, Dp);
        __syncthreads();
        { /* S = Q K^T: warp w computes row block w / 2, column blocks 2 (w % 2) and + 1 */
            const int rb = w >> 1, cb = 2 * (w & 1);
            fl_fc acc[2];
            wm::fill_fragment(acc[0], 0.0f);
            wm::fill_fragment(acc[1], 0.0f);
            for (int kd = 0; kd < Dp; kd += 16) {
                fl_fa a;
                wm::load_matrix_sync(a, Qb + rb * 16 * LB + kd, LB);
#pragma unroll
                for (int t = 0; t < 2; t++) {
                    fl_fb_col bk; /* B(d, key) = K[key][d] */
                    wm::load_matrix_sync(bk, Kb + (cb + t) * 16 * LB + kd, LB);
                    wm::mma_sync(acc[t], a, bk, acc[t]);
                }
            }
#pragma unroll
            for (int t = 0; t < 2; t++) wm::store_matrix_sync(Ss + rb * 16 * LS + (cb + t) * 16, acc[t], LS, wm::mem_row_major);
        }
        __syncthreads();
        float corr[MI];
#pragma unroll
        for (int i = 0; i < MI; i++) {
            const int r = ty + 16 * i;
            float s[NJ], mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                s[j] = j0 + tx + 16 * j < nv[i] ? scale * Ss[r * LS + tx + 16 * j] : -INFINITY;
                mx = fmaxf(mx, s[j]);
            }
            const float mn = fmaxf(m[i], fl_row_max(mx)), ms = mn == -INFINITY ? 0.0f : mn;
            float ps = 0.0f;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                s[j] = expf(s[j] - ms);
                ps += s[j];
                Pb[r * LP + tx + 16 * j] = __float2bfloat16_rn(s[j]);
            }
            corr[i] = expf(m[i] - ms);
            l[i] = l[i] * corr[i] + fl_row_sum(ps);
            m[i] = mn;
            for (int d = tx; d < Dp; d += 16) Os[r * LO + d] *= corr[i]; /* this thread's (row, d) of O */
        }
        __syncthreads();
        /* O += P V: fragment f = w + 8 t of the [64, Dp] tile: row block f % 4, column block f / 4 */
#pragma unroll
        for (int t = 0; t < FL_NT; t++) {
            const int f = w + 8 * t;
            if (f >= nf) break;
            const int rb = f & 3, cb = f >> 2;
            fl_fc c;
            wm::load_matrix_sync(c, Os + rb * 16 * LO + cb * 16, LO, wm::mem_row_major);
            fl_wmma_acc(c, Pb + rb * 16 * LP, LP, Vb + cb * 16, LB, nc16); /* B(key, d) = V[key][d] */
            wm::store_matrix_sync(Os + rb * 16 * LO + cb * 16, c, LO, wm::mem_row_major);
        }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < MI; i++) {
        const int r = ty + 16 * i;
        if (r >= nr) continue;
        const size_t row = (size_t)(b.q0 + b.r0 + r) * Hq + h;
        const float inv = nv[i] > 0 ? 1.0f / l[i] : 0.0f;
        for (int d = tx; d < D; d += 16) out[row * D + d] = Os[r * LO + d] * inv;
        if (tx == 0 && lse) lse[row] = nv[i] > 0 ? m[i] + logf(l[i]) : -INFINITY;
    }
}

/* dK/dV shared layout: Kb, Vb [64][Dp+8] bf16 | Qb, dOb [32][Dp+8] bf16 | St, dPt [64][36] f32 |
 * Pt, dSt [64][40] bf16 | Ls, Ds [32] f32; at the end dK, dV [64][Dp+4] f32 staged from offset 0 */
struct fl_kv_lay {
    size_t v, q, o, s, dp, p, ds, ls, total;
};
__host__ __device__ inline fl_kv_lay fl_kv_layout(int Dp) {
    fl_kv_lay L;
    const size_t kt = fl_al((size_t)KV_BC * (Dp + 8) * 2), qt = fl_al((size_t)KV_BR * (Dp + 8) * 2);
    const size_t st = fl_al((size_t)KV_BC * 36 * 4), pt = fl_al((size_t)KV_BC * 40 * 2);
    L.v = kt, L.q = 2 * kt, L.o = L.q + qt, L.s = L.o + qt, L.dp = L.s + st, L.p = L.dp + st, L.ds = L.p + pt;
    L.ls = L.ds + pt;
    L.total = L.ls + fl_al(2 * KV_BR * 4);
    const size_t stage = 2 * fl_al((size_t)KV_BC * (Dp + 4) * 4);
    L.total = L.total > stage ? L.total : stage;
    return L;
}

__global__ void __launch_bounds__(FL_THREADS)
    flash_bwd_dkdv_bf16_k(float *dk, float *dv, const float *dout, const float *q, const float *kk, const float *v,
                          const float *lse, const float *dsum, const flash_blk *blks, int Hq, int Hkv, int D,
                          float scale, int causal) {
    constexpr int BR = KV_BR, BC = KV_BC, MI = BC / 16, NJ = BR / 16, LS = 36, LP = 40;
    extern __shared__ __align__(128) float sm[];
    const flash_blk b = blks[blockIdx.x];
    const int g = blockIdx.y, nrep = Hq / Hkv, ty = threadIdx.x >> 4, tx = threadIdx.x & 15, w = threadIdx.x >> 5;
    const int Dp = fl_dp(D), LB = Dp + 8, LO = Dp + 4, nf = 4 * (Dp / 16);
    const int nc = min(BC, b.lk - b.r0);
    const size_t ldq = (size_t)Hq * D, ldk = (size_t)Hkv * D, krow0 = (size_t)b.k0 + b.r0;
    const fl_kv_lay L = fl_kv_layout(Dp);
    char *base = (char *)sm;
    __nv_bfloat16 *Kb = (__nv_bfloat16 *)base, *Vb = (__nv_bfloat16 *)(base + L.v);
    __nv_bfloat16 *Qb = (__nv_bfloat16 *)(base + L.q), *dOb = (__nv_bfloat16 *)(base + L.o);
    float *St = (float *)(base + L.s), *dPt = (float *)(base + L.dp);
    __nv_bfloat16 *Pt = (__nv_bfloat16 *)(base + L.p), *dSt = (__nv_bfloat16 *)(base + L.ds);
    float *Ls = (float *)(base + L.ls), *Ds = Ls + BR;
    fl_load_bf(Kb, LB, kk + (krow0 * Hkv + g) * D, ldk, nc, BC, D, Dp);
    fl_load_bf(Vb, LB, v + (krow0 * Hkv + g) * D, ldk, nc, BC, D, Dp);
    fl_fc ak[FL_NT], av[FL_NT];
#pragma unroll
    for (int t = 0; t < FL_NT; t++) wm::fill_fragment(ak[t], 0.0f), wm::fill_fragment(av[t], 0.0f);
    int ifirst = causal ? b.r0 - (b.lk - b.lq) : 0;
    ifirst = ifirst < 0 ? 0 : ifirst;
    for (int rr = 0; rr < nrep; rr++) {
        const int h = g * nrep + rr;
        for (int i0 = ifirst; i0 < b.lq; i0 += BR) {
            const int nr = min(BR, b.lq - i0), nr16 = (nr + 15) / 16 * 16;
            const size_t qrow0 = (size_t)b.q0 + i0;
            __syncthreads();
            fl_load_bf(Qb, LB, q + (qrow0 * Hq + h) * D, ldq, nr, BR, D, Dp);
            fl_load_bf(dOb, LB, dout + (qrow0 * Hq + h) * D, ldq, nr, BR, D, Dp);
            for (int r = threadIdx.x; r < BR; r += FL_THREADS) {
                Ls[r] = r < nr ? lse[(qrow0 + r) * Hq + h] : 0.0f;
                Ds[r] = r < nr ? dsum[(qrow0 + r) * Hq + h] : 0.0f;
            }
            __syncthreads();
            { /* S^T = K Q^T, dP^T = V dO^T [64 keys, 32 queries]: warp w: key block w / 2, query block w % 2 */
                const int rb = w >> 1, cb = w & 1;
                fl_wmma_pair(St + rb * 16 * LS + cb * 16, dPt + rb * 16 * LS + cb * 16, LS, Kb + rb * 16 * LB,
                             Qb + cb * 16 * LB, Vb + rb * 16 * LB, dOb + cb * 16 * LB, LB, Dp);
            }
            __syncthreads();
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++) {
                    const int c = ty + 16 * i, r = tx + 16 * j;
                    const bool vis = r < nr && c < nc && b.r0 + c < rvk_attn_visible(causal, b.lq, b.lk, i0 + r);
                    const float p = vis ? expf(scale * St[c * LS + r] - Ls[r]) : 0.0f;
                    Pt[c * LP + r] = __float2bfloat16_rn(p);
                    dSt[c * LP + r] = __float2bfloat16_rn(vis ? p * (dPt[c * LS + r] - Ds[r]) : 0.0f);
                }
            __syncthreads();
            /* dV += P^T dO, dK += dS^T Q: fragment f = w + 8 t of [64 keys, Dp] */
#pragma unroll
            for (int t = 0; t < FL_NT; t++) {
                const int f = w + 8 * t;
                if (f >= nf) break;
                const int rb = f & 3, cb = f >> 2;
                fl_wmma_acc(av[t], Pt + rb * 16 * LP, LP, dOb + cb * 16, LB, nr16); /* B(query, d) */
                fl_wmma_acc(ak[t], dSt + rb * 16 * LP, LP, Qb + cb * 16, LB, nr16);
            }
        }
    }
    __syncthreads(); /* everything is read: stage dK, dV over the tiles */
    float *Sk = (float *)base, *Sv = (float *)(base + fl_al((size_t)BC * LO * 4));
#pragma unroll
    for (int t = 0; t < FL_NT; t++) {
        const int f = w + 8 * t;
        if (f >= nf) break;
        const int rb = f & 3, cb = f >> 2;
        for (int x = 0; x < ak[t].num_elements; x++) ak[t].x[x] *= scale;
        wm::store_matrix_sync(Sk + rb * 16 * LO + cb * 16, ak[t], LO, wm::mem_row_major);
        wm::store_matrix_sync(Sv + rb * 16 * LO + cb * 16, av[t], LO, wm::mem_row_major);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < nc * D; e += FL_THREADS) {
        const int c = e / D, d = e - c * D;
        const size_t at = ((krow0 + c) * Hkv + g) * D + d;
        if (dk) dk[at] += Sk[c * LO + d];
        if (dv) dv[at] += Sv[c * LO + d];
    }
}

/* dQ shared layout: Qb, dOb [64][Dp+8] bf16 | Kb, Vb [32][Dp+8] bf16 | S, dP [64][36] f32 |
 * dSb [64][40] bf16 | Ls, Ds [64] f32; at the end dQ [64][Dp+4] f32 staged from offset 0 */
struct fl_dq_lay {
    size_t o, k, v, s, dp, ds, ls, total;
};
__host__ __device__ inline fl_dq_lay fl_dq_layout(int Dp) {
    fl_dq_lay L;
    const size_t qt = fl_al((size_t)DQ_BR * (Dp + 8) * 2), kt = fl_al((size_t)DQ_BC * (Dp + 8) * 2);
    const size_t st = fl_al((size_t)DQ_BR * 36 * 4);
    L.o = qt, L.k = 2 * qt, L.v = L.k + kt, L.s = L.v + kt, L.dp = L.s + st, L.ds = L.dp + st;
    L.ls = L.ds + fl_al((size_t)DQ_BR * 40 * 2);
    L.total = L.ls + fl_al(2 * DQ_BR * 4);
    const size_t stage = fl_al((size_t)DQ_BR * (Dp + 4) * 4);
    L.total = L.total > stage ? L.total : stage;
    return L;
}

__global__ void __launch_bounds__(FL_THREADS)
    flash_bwd_dq_bf16_k(float *dq, const float *dout, const float *q, const float *kk, const float *v,
                        const float *lse, const float *dsum, const flash_blk *blks, int Hq, int Hkv, int D,
                        float scale, int causal, int accum) {
    constexpr int BR = DQ_BR, BC = DQ_BC, MI = BR / 16, NJ = BC / 16, LS = 36, LP = 40;
    extern __shared__ __align__(128) float sm[];
    const flash_blk b = blks[blockIdx.x];
    const int h = blockIdx.y, g = h / (Hq / Hkv), ty = threadIdx.x >> 4, tx = threadIdx.x & 15, w = threadIdx.x >> 5;
    const int Dp = fl_dp(D), LB = Dp + 8, LO = Dp + 4, nf = 4 * (Dp / 16);
    const int nr = min(BR, b.lq - b.r0);
    const size_t ldq = (size_t)Hq * D, ldk = (size_t)Hkv * D, qrow0 = (size_t)b.q0 + b.r0;
    const fl_dq_lay L = fl_dq_layout(Dp);
    char *base = (char *)sm;
    __nv_bfloat16 *Qb = (__nv_bfloat16 *)base, *dOb = (__nv_bfloat16 *)(base + L.o);
    __nv_bfloat16 *Kb = (__nv_bfloat16 *)(base + L.k), *Vb = (__nv_bfloat16 *)(base + L.v);
    float *Ss = (float *)(base + L.s), *dPs = (float *)(base + L.dp);
    __nv_bfloat16 *dSb = (__nv_bfloat16 *)(base + L.ds);
    float *Ls = (float *)(base + L.ls), *Ds = Ls + BR;
    fl_load_bf(Qb, LB, q + (qrow0 * Hq + h) * D, ldq, nr, BR, D, Dp);
    fl_load_bf(dOb, LB, dout + (qrow0 * Hq + h) * D, ldq, nr, BR, D, Dp);
    for (int r = threadIdx.x; r < BR; r += FL_THREADS) {
        Ls[r] = r < nr ? lse[(qrow0 + r) * Hq + h] : 0.0f;
        Ds[r] = r < nr ? dsum[(qrow0 + r) * Hq + h] : 0.0f;
    }
    int nv[MI];
#pragma unroll
    for (int i = 0; i < MI; i++) {
        const int r = ty + 16 * i;
        nv[i] = r < nr ? rvk_attn_visible(causal, b.lq, b.lk, b.r0 + r) : 0;
    }
    fl_fc acc[FL_NT];
#pragma unroll
    for (int t = 0; t < FL_NT; t++) wm::fill_fragment(acc[t], 0.0f);
    const int nk = rvk_attn_visible(causal, b.lq, b.lk, b.r0 + nr - 1);
    const float *kb = kk + ((size_t)b.k0 * Hkv + g) * D, *vb = v + ((size_t)b.k0 * Hkv + g) * D;
    for (int j0 = 0; j0 < nk; j0 += BC) {
        const int nc = min(BC, nk - j0), nc16 = (nc + 15) / 16 * 16;
        __syncthreads();
        fl_load_bf(Kb, LB, kb + (size_t)j0 * ldk, ldk, nc, BC, D, Dp);
        fl_load_bf(Vb, LB, vb + (size_t)j0 * ldk, ldk, nc, BC, D, Dp);
        __syncthreads();
        { /* S = Q K^T, dP = dO V^T [64 queries, 32 keys]: warp w: query block w / 2, key block w % 2 */
            const int rb = w >> 1, cb = w & 1;
            fl_wmma_pair(Ss + rb * 16 * LS + cb * 16, dPs + rb * 16 * LS + cb * 16, LS, Qb + rb * 16 * LB,
                         Kb + cb * 16 * LB, dOb + rb * 16 * LB, Vb + cb * 16 * LB, LB, Dp);
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < MI; i++) {
            const int r = ty + 16 * i;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                const int c = tx + 16 * j;
                const bool vis = j0 + c < nv[i];
                const float p = vis ? expf(scale * Ss[r * LS + c] - Ls[r]) : 0.0f;
                dSb[r * LP + c] = __float2bfloat16_rn(vis ? p * (dPs[r * LS + c] - Ds[r]) : 0.0f);
            }
        }
        __syncthreads();
        /* dQ += dS K: fragment f = w + 8 t of [64 queries, Dp] */
#pragma unroll
        for (int t = 0; t < FL_NT; t++) {
            const int f = w + 8 * t;
            if (f >= nf) break;
            const int rb = f & 3, cb = f >> 2;
            fl_wmma_acc(acc[t], dSb + rb * 16 * LP, LP, Kb + cb * 16, LB, nc16); /* B(key, d) = K[key][d] */
        }
    }
    __syncthreads();
    float *Sq = (float *)base;
#pragma unroll
    for (int t = 0; t < FL_NT; t++) {
        const int f = w + 8 * t;
        if (f >= nf) break;
        const int rb = f & 3, cb = f >> 2;
        wm::store_matrix_sync(Sq + rb * 16 * LO + cb * 16, acc[t], LO, wm::mem_row_major);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < nr * D; e += FL_THREADS) {
        const int r = e / D, d = e - r * D;
        float *x = dq + (qrow0 + r) * ldq + (size_t)h * D + d;
        const float y = scale * Sq[r * LO + d];
        *x = accum ? *x + y : y;
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

/* Raises fn's dynamic shared-memory limit to shm and launches it on grid (errors: sticky status). */
template <typename... P, typename... A>
static void flash_go(rv_kctx *k, void (*fn)(P...), dim3 grid, size_t shm, const char *what, A... args) {
    if (rvk_cu_check(k, cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shm), what)) return;
    FL_LAUNCH(fn, grid, shm, rvk_cu_stream(k))(args...);
    rvk_cu_launched(k, what);
}

int rvk_cuda_flash_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                       const rvk_attn *a, const rvk_attn_seq *seq, int bf16) {
    flash_blk *hb;
    const int nb = flash_blocks(seq, a->nseq, 0, FWD_BR, &hb);
    flash_blk *db = nb > 0 ? (flash_blk *)rvk_cu_scratch(k, (size_t)nb * sizeof *db) : NULL;
    if (db) {
        rvk_cu_put(k, db, hb, (size_t)nb * sizeof *db);
        flash_go(k, bf16 ? flash_fwd_bf16_k : flash_fwd_k, dim3((unsigned)nb, (unsigned)a->Hq),
                 bf16 ? fl_fwd_layout(fl_dp(a->D)).total : fwd_smem(a->D), "attention forward (flash)", out, lse, q,
                 kk, v, (const flash_blk *)db, a->Hq, a->Hkv, a->D, a->scale, a->causal);
    }
    free(hb);
    return 0;
}

int rvk_cuda_flash_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                       const float *kk, const float *v, const float *out, const float *lse, const rvk_attn *a,
                       const rvk_attn_seq *seq, int accum, int bf16) {
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
        const flash_blk *dqb = (const flash_blk *)(ws + ndsum * sizeof(float)), *dkb = dqb + nq;
        if (nq) rvk_cu_put(k, (void *)dqb, hq, bq);
        if (nk) rvk_cu_put(k, (void *)dkb, hk, bk);
        flash_go(k, attn_dsum_k, dim3((unsigned)((nrow * 32 + FL_THREADS - 1) / FL_THREADS)), 0,
                 "attention backward (flash): Dsum", dsum, dout, out, nrow, D);
        const float *ds = dsum;
        if ((dk || dv) && nk > 0)
            flash_go(k, bf16 ? flash_bwd_dkdv_bf16_k : flash_bwd_dkdv_k, dim3((unsigned)nk, (unsigned)Hkv),
                     bf16 ? fl_kv_layout(fl_dp(D)).total : dkdv_smem(D), "attention backward (flash): dK/dV", dk, dv,
                     dout, q, kk, v, lse, ds, dkb, Hq, Hkv, D, a->scale, a->causal);
        if (dq && nq > 0)
            flash_go(k, bf16 ? flash_bwd_dq_bf16_k : flash_bwd_dq_k, dim3((unsigned)nq, (unsigned)Hq),
                     bf16 ? fl_dq_layout(fl_dp(D)).total : dq_smem(D), "attention backward (flash): dQ", dq, dout, q,
                     kk, v, lse, ds, dqb, Hq, Hkv, D, a->scale, a->causal, accum);
    }
    free(hq);
    free(hk);
    return 0;
}
