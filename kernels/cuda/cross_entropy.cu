/* Cross-entropy fused with the lm_head matmul, chunked over the vocabulary and blocked over rows
 * (plan: rvk_cuda_xent_plan), so at most a [rb, vc] logits block exists (never [T, V]). Targets
 * (and, in the backward, dloss) are downloaded once per call: they are validated with the CPU
 * backend's message and the rows that carry work are listed on the host, as the CPU backend
 * does; the list is uploaded and the kernels gather those rows. The forward keeps an online
 * (running max, running sum) log-sum-exp per row in fp32 across chunks; the backward recomputes
 * each chunk's logits from the saved lse. Every order is fixed by the plan (deterministic).
 * The lm_head chunks go through rvk_cu_gemm, so a head inside the bf16 weight shadow is read
 * from its bf16 copy (the gathered hidden rows and the dlogits converted to bf16 for it). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_impl.h"

#define XENT_VCHUNK 16384

__global__ void gather_k(float *dst, const float *src, const int32_t *rows, int nb, int C) {
    size_t n = (size_t)nb * C;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        dst[e] = src[(size_t)rows[e / C] * C + e % C];
}

__global__ void online_init_k(float *m, float *s, float *zt, int nb) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < nb) m[r] = -INFINITY, s[r] = 0.0f, zt[r] = 0.0f;
}

/* one block per row r of the block: fold the chunk Z[r, 0:n) (vocabulary v0 ..) into (m, s) */
__global__ void online_chunk_k(float *m, float *s, float *zt, const float *Z, const int32_t *rows,
                               const int32_t *targets, int n, int v0) {
    __shared__ float sh[32];
    int r = blockIdx.x;
    const float *z = Z + (size_t)r * n;
    float cm = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) cm = fmaxf(cm, z[j]);
    cm = rvk_block_max(cm, sh);
    float mo = m[r], mn = fmaxf(mo, cm);
    float part = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) part += expf(z[j] - mn);
    part = rvk_block_sum(part, sh);
    if (threadIdx.x == 0) {
        s[r] = s[r] * expf(mo - mn) + part; /* mo = -inf on the first chunk: s = 0 * 0 + part */
        m[r] = mn;
        int y = targets[rows[r]];
        if (y >= v0 && y < v0 + n) zt[r] = z[y - v0];
    }
}

__global__ void online_finish_k(float *loss, float *lse, const float *m, const float *s, const float *zt,
                                const int32_t *rows, int nb) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= nb) return;
    float l = m[r] + logf(s[r]);
    loss[rows[r]] = l - zt[r];
    if (lse) lse[rows[r]] = l;
}

/* Z[r, j] <- dloss_t (softmax_t,v0+j - [v0 + j == y_t]) from the saved lse */
__global__ void xent_grad_k(float *Z, const int32_t *rows, const int32_t *targets, const float *lse,
                            const float *dloss, int nb, int n, int v0) {
    size_t tot = (size_t)nb * n;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < tot; e += (size_t)gridDim.x * blockDim.x) {
        int r = (int)(e / n), j = (int)(e % n), t = rows[r];
        float dl = dloss[t], g = dl * expf(Z[e] - lse[t]);
        if (targets[t] - v0 == j) g -= dl;
        Z[e] = g;
    }
}

__global__ void scatter_rows_k(float *dhidden, const float *dHc, const int32_t *rows, int nb, int C, int accum) {
    size_t n = (size_t)nb * C;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        float *o = dhidden + (size_t)rows[e / C] * C + e % C;
        *o = accum ? *o + dHc[e] : dHc[e];
    }
}

/* Lists the rows to compute on the host: targets >= 0 (and dloss != 0 when dloss_h != NULL).
 * Returns the count, or -1 with the CPU backend's message for a target >= V. */
static int list_rows(const int32_t *tg, const float *dloss_h, int T, int V, int32_t *rows, rv_err *err) {
    for (int t = 0; t < T; t++)
        if (tg[t] >= V)
            return rv_fail(err, "cross-entropy: target %d at token %d is outside the vocabulary of %d; "
                                "check the tokenizer against the model's lm_head", tg[t], t, V);
    int n = 0;
    for (int t = 0; t < T; t++)
        if (tg[t] >= 0 && (!dloss_h || dloss_h[t] != 0.0f)) rows[n++] = t;
    return n;
}

typedef struct xent_ws {
    int32_t *rows;
    float *Hc, *Z, *dHc, *m, *s, *zt;
} xent_ws;

static int carve(rv_kctx *k, xent_ws *w, int nrows, int rb, int vc, int C) {
    size_t a = ((size_t)nrows * sizeof(int32_t) + 255) / 256 * 256;
    size_t hc = ((size_t)rb * C * sizeof(float) + 255) / 256 * 256, z = (size_t)rb * vc * sizeof(float);
    z = (z + 255) / 256 * 256;
    size_t st = ((size_t)rb * sizeof(float) + 255) / 256 * 256;
    char *p = (char *)rvk_cu_scratch(k, a + 2 * hc + z + 3 * st);
    if (!p) return -1;
    w->rows = (int32_t *)p;
    w->Hc = (float *)(p + a);
    w->Z = (float *)(p + a + hc);
    w->dHc = (float *)(p + a + hc + z);
    w->m = (float *)(p + a + 2 * hc + z);
    w->s = (float *)(p + a + 2 * hc + z + st);
    w->zt = (float *)(p + a + 2 * hc + z + 2 * st);
    return 0;
}

int rvk_cuda_xent_fwd(rv_kctx *k, float *loss, float *lse, const float *hidden, const float *w,
                      const int32_t *targets, int T, int C, int V, rv_err *err) {
    if (T <= 0) return 0;
    cudaStream_t s = rvk_cu_stream(k);
    int32_t *tg = (int32_t *)rv_xmalloc((size_t)T * sizeof(int32_t)), *rows = (int32_t *)rv_xmalloc((size_t)T * 4);
    int nrows = rvk_cu_fetch(k, tg, targets, (size_t)T * sizeof(int32_t), err) ? -1
                                                                                : list_rows(tg, NULL, T, V, rows, err);
    free(tg);
    if (nrows < 0) {
        free(rows);
        return -1;
    }
    /* ignored rows: loss = lse = 0 */
    rvk_cu_check(k, cudaMemsetAsync(loss, 0, (size_t)T * sizeof(float), s), "clearing loss");
    if (lse) rvk_cu_check(k, cudaMemsetAsync(lse, 0, (size_t)T * sizeof(float), s), "clearing lse");
    int rb, vc;
    rvk_cuda_xent_plan(nrows, V, XENT_VCHUNK, RVK_CU_CHUNK_FLOATS, &rb, &vc);
    xent_ws ws;
    if (nrows > 0 && carve(k, &ws, nrows, rb, vc, C) == 0) {
        rvk_cu_put(k, ws.rows, rows, (size_t)nrows * sizeof(int32_t));
        for (int b0 = 0; b0 < nrows; b0 += rb) {
            int nb = nrows - b0 < rb ? nrows - b0 : rb;
            const int32_t *rws = ws.rows + b0;
            gather_k<<<rvk_cu_grid((size_t)nb * C), RVK_CU_THREADS, 0, s>>>(ws.Hc, hidden, rws, nb, C);
            online_init_k<<<(nb + RVK_CU_THREADS - 1) / RVK_CU_THREADS, RVK_CU_THREADS, 0, s>>>(ws.m, ws.s, ws.zt, nb);
            for (int v0 = 0; v0 < V; v0 += vc) {
                int n = V - v0 < vc ? V - v0 : vc;
                rvk_cu_gemm(k, 0, 1, nb, n, C, 1.0f, ws.Hc, C, 0, w + (size_t)v0 * C, C, 0, 0.0f, ws.Z, n, 0, 1, NULL);
                online_chunk_k<<<nb, RVK_CU_THREADS, 0, s>>>(ws.m, ws.s, ws.zt, ws.Z, rws, targets, n, v0);
            }
            online_finish_k<<<(nb + RVK_CU_THREADS - 1) / RVK_CU_THREADS, RVK_CU_THREADS, 0, s>>>(
                loss, lse, ws.m, ws.s, ws.zt, rws, nb);
            rvk_cu_launched(k, "cross-entropy forward");
        }
    }
    /* the row list is uploaded from pageable memory: the runtime staged it before returning */
    free(rows);
    return 0;
}

int rvk_cuda_xent_bwd(rv_kctx *k, float *dhidden, float *dw, const float *hidden, const float *w,
                      const int32_t *targets, const float *lse, const float *dloss, int T, int C, int V, int accum,
                      rv_err *err) {
    if (T <= 0) return 0;
    cudaStream_t s = rvk_cu_stream(k);
    int32_t *tg = (int32_t *)rv_xmalloc((size_t)T * sizeof(int32_t)), *rows = (int32_t *)rv_xmalloc((size_t)T * 4);
    float *dl = (float *)rv_xmalloc((size_t)T * sizeof(float));
    int nrows = -1;
    if (rvk_cu_fetch(k, tg, targets, (size_t)T * sizeof(int32_t), err) == 0) {
        /* targets are checked first (as the CPU backend), dloss is only needed when there is work */
        nrows = list_rows(tg, NULL, T, V, rows, err);
        if (nrows >= 0 && (dhidden || dw))
            nrows = rvk_cu_fetch(k, dl, dloss, (size_t)T * sizeof(float), err) ? -1 : list_rows(tg, dl, T, V, rows, err);
    }
    free(tg);
    free(dl);
    if (nrows < 0 || (!dhidden && !dw)) {
        free(rows);
        return nrows < 0 ? -1 : 0;
    }
    /* rows without work get a zero gradient (overwrite) or are left as they are (accum) */
    if (dhidden && !accum) rvk_cu_check(k, cudaMemsetAsync(dhidden, 0, (size_t)T * C * sizeof(float), s), "clearing dhidden");
    int rb, vc;
    rvk_cuda_xent_plan(nrows, V, XENT_VCHUNK, RVK_CU_CHUNK_FLOATS, &rb, &vc);
    xent_ws ws;
    if (nrows > 0 && carve(k, &ws, nrows, rb, vc, C) == 0) {
        rvk_cu_put(k, ws.rows, rows, (size_t)nrows * sizeof(int32_t));
        for (int b0 = 0; b0 < nrows; b0 += rb) {
            int nb = nrows - b0 < rb ? nrows - b0 : rb;
            const int32_t *rws = ws.rows + b0;
            gather_k<<<rvk_cu_grid((size_t)nb * C), RVK_CU_THREADS, 0, s>>>(ws.Hc, hidden, rws, nb, C);
            for (int v0 = 0; v0 < V; v0 += vc) {
                int n = V - v0 < vc ? V - v0 : vc;
                const float *wc = w + (size_t)v0 * C;
                rvk_cu_gemm(k, 0, 1, nb, n, C, 1.0f, ws.Hc, C, 0, wc, C, 0, 0.0f, ws.Z, n, 0, 1, NULL);
                xent_grad_k<<<rvk_cu_grid((size_t)nb * n), RVK_CU_THREADS, 0, s>>>(ws.Z, rws, targets, lse, dloss, nb,
                                                                                  n, v0);
                if (dhidden)
                    rvk_cu_gemm(k, 0, 0, nb, C, n, 1.0f, ws.Z, n, 0, wc, C, 0, v0 ? 1.0f : 0.0f, ws.dHc, C, 0, 1, NULL);
                if (dw)
                    rvk_cu_gemm(k, 1, 0, n, C, nb, 1.0f, ws.Z, n, 0, ws.Hc, C, 0, 1.0f, dw + (size_t)v0 * C, C, 0, 1,
                                NULL);
            }
            if (dhidden)
                scatter_rows_k<<<rvk_cu_grid((size_t)nb * C), RVK_CU_THREADS, 0, s>>>(dhidden, ws.dHc, rws, nb, C,
                                                                                      accum);
            rvk_cu_launched(k, "cross-entropy backward");
        }
    }
    free(rows);
    return 0;
}
