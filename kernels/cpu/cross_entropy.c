/* Cross-entropy fused with the lm_head matmul, chunked over the vocabulary and blocked over rows,
 * so at most [XENT_ROWS, vchunk] logits exist at a time. Only rows that carry a target (and, in
 * the backward, a non-zero dloss) are gathered and computed. The forward keeps an online
 * (running max, running sum) log-sum-exp per row across chunks; the backward recomputes each
 * chunk's logits from the saved lse. The order of every sum is fixed by the chunk size and the
 * row blocking, never by the thread count. The lm_head chunks go through rvk_cpu_gemm, which reads
 * a head inside a bound weight-shadow range (bf16 emulation) from its rounded copy. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

#define XENT_ROWS 512

static int check_targets(const int32_t *targets, int T, int V, rv_err *err) {
    for (int t = 0; t < T; t++)
        if (targets[t] >= V)
            return rv_fail(err, "cross-entropy: target %d at token %d is outside the vocabulary of %d; "
                                "check the tokenizer against the model's lm_head", targets[t], t, V);
    return 0;
}

static int vchunk(const rv_kctx *k, int V) {
    int vc = rvk_cpu_of(k)->o.xent_vchunk > 0 ? rvk_cpu_of(k)->o.xent_vchunk : 4096;
    return vc < V ? vc : V;
}

/* Scratch: rows [T] int | Hc [XENT_ROWS, C] | Z [XENT_ROWS, vc] | dHc [XENT_ROWS, C] | stats. */
typedef struct xent_ws {
    int *rows;
    float *Hc, *Z, *dHc;
    double *m, *s;
    float *zt;
} xent_ws;

static xent_ws ws_carve(rv_kctx *k, int T, int C, int vc) {
    size_t a = ((size_t)(T > 0 ? T : 1) * sizeof(int) + 63) / 64 * 64;
    size_t hc = (size_t)XENT_ROWS * C * sizeof(float), z = (size_t)XENT_ROWS * vc * sizeof(float);
    size_t st = (size_t)XENT_ROWS * (2 * sizeof(double) + sizeof(float));
    char *p = rvk_cpu_scratch(k, a + hc + z + hc + st + 256);
    xent_ws w;
    w.rows = (int *)p;
    w.Hc = (float *)(p + a);
    w.Z = (float *)(p + a + hc);
    w.dHc = (float *)(p + a + hc + z);
    w.m = (double *)(p + a + 2 * hc + z);
    w.s = w.m + XENT_ROWS;
    w.zt = (float *)(w.s + XENT_ROWS);
    return w;
}

static void gather_rows(rv_kctx *k, float *dst, const float *src, const int *rows, int nb, int C) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)nb * C > RVK_PAR_MIN)
    for (int r = 0; r < nb; r++) memcpy(dst + (size_t)r * C, src + (size_t)rows[r] * C, (size_t)C * sizeof(float));
}

int rvk_cpu_xent_fwd(rv_kctx *k, float *loss, float *lse, const float *hidden, const float *w,
                 const int32_t *targets, int T, int C, int V, rv_err *err) {
    if (check_targets(targets, T, V, err) != 0) return -1;
    int vc = vchunk(k, V);
    xent_ws ws = ws_carve(k, T, C, vc);
    int nrows = 0;
    for (int t = 0; t < T; t++) {
        if (targets[t] >= 0) ws.rows[nrows++] = t;
        else {
            loss[t] = 0.0f;
            if (lse) lse[t] = 0.0f;
        }
    }
    for (int b0 = 0; b0 < nrows; b0 += XENT_ROWS) {
        int nb = nrows - b0 < XENT_ROWS ? nrows - b0 : XENT_ROWS;
        const int *rows = ws.rows + b0;
        gather_rows(k, ws.Hc, hidden, rows, nb, C);
        for (int r = 0; r < nb; r++) {
            ws.m[r] = -INFINITY;
            ws.s[r] = 0.0;
            ws.zt[r] = 0.0f;
        }
        for (int v0 = 0; v0 < V; v0 += vc) {
            int n = V - v0 < vc ? V - v0 : vc;
            rvk_cpu_gemm(k, 0, 1, nb, n, C, 1.0f, ws.Hc, C, w + (size_t)v0 * C, C, 0.0f, ws.Z, n);
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)nb * n > RVK_PAR_MIN)
            for (int r = 0; r < nb; r++) {
                const float *z = ws.Z + (size_t)r * n;
                float cm = -INFINITY;
                for (int j = 0; j < n; j++) cm = z[j] > cm ? z[j] : cm;
                double m = ws.m[r] > cm ? ws.m[r] : cm;
                double s = ws.s[r] * exp(ws.m[r] - m);
                for (int j = 0; j < n; j++) s += exp((double)z[j] - m);
                ws.m[r] = m;
                ws.s[r] = s;
                int y = targets[rows[r]];
                if (y >= v0 && y < v0 + n) ws.zt[r] = z[y - v0];
            }
        }
        for (int r = 0; r < nb; r++) {
            float l = (float)(ws.m[r] + log(ws.s[r]));
            loss[rows[r]] = l - ws.zt[r];
            if (lse) lse[rows[r]] = l;
        }
    }
    return 0;
}

int rvk_cpu_xent_bwd(rv_kctx *k, float *dhidden, float *dw, const float *hidden, const float *w,
                 const int32_t *targets, const float *lse, const float *dloss, int T, int C,
                 int V, int accum, rv_err *err) {
    if (check_targets(targets, T, V, err) != 0) return -1;
    if (!dhidden && !dw) return 0;
    int vc = vchunk(k, V);
    xent_ws ws = ws_carve(k, T, C, vc);
    int nrows = 0;
    for (int t = 0; t < T; t++) {
        if (targets[t] >= 0 && dloss[t] != 0.0f) ws.rows[nrows++] = t;
        else if (dhidden && !accum) memset(dhidden + (size_t)t * C, 0, (size_t)C * sizeof(float));
    }
    for (int b0 = 0; b0 < nrows; b0 += XENT_ROWS) {
        int nb = nrows - b0 < XENT_ROWS ? nrows - b0 : XENT_ROWS;
        const int *rows = ws.rows + b0;
        gather_rows(k, ws.Hc, hidden, rows, nb, C);
        for (int v0 = 0; v0 < V; v0 += vc) {
            int n = V - v0 < vc ? V - v0 : vc;
            const float *wc = w + (size_t)v0 * C;
            rvk_cpu_gemm(k, 0, 1, nb, n, C, 1.0f, ws.Hc, C, wc, C, 0.0f, ws.Z, n);
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)nb * n > RVK_PAR_MIN)
            for (int r = 0; r < nb; r++) {
                float *z = ws.Z + (size_t)r * n;
                int t = rows[r], y = targets[t] - v0;
                float L = lse[t], dl = dloss[t];
                for (int j = 0; j < n; j++) z[j] = dl * expf(z[j] - L);
                if (y >= 0 && y < n) z[y] -= dl;
            }
            if (dhidden) rvk_cpu_gemm(k, 0, 0, nb, C, n, 1.0f, ws.Z, n, wc, C, v0 ? 1.0f : 0.0f, ws.dHc, C);
            if (dw) rvk_cpu_gemm(k, 1, 0, n, C, nb, 1.0f, ws.Z, n, ws.Hc, C, 1.0f, dw + (size_t)v0 * C, C);
        }
        if (dhidden) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if ((size_t)nb * C > RVK_PAR_MIN)
            for (int r = 0; r < nb; r++) {
                float *o = dhidden + (size_t)rows[r] * C;
                const float *g = ws.dHc + (size_t)r * C;
                for (int c = 0; c < C; c++) o[c] = accum ? o[c] + g[c] : g[c];
            }
        }
    }
    return 0;
}
