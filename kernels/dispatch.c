/* The public kernel functions of kernels.h: each calls the context's backend table. */
#include "kernels/backend.h"

void rvk_fill(rv_kctx *k, float *x, float value, size_t n) { k->ops->fill(k, x, value, n); }
void rvk_add(rv_kctx *k, float *y, const float *a, const float *b, size_t n) { k->ops->add(k, y, a, b, n); }
void rvk_axpy(rv_kctx *k, float *y, float alpha, const float *x, size_t n) { k->ops->axpy(k, y, alpha, x, n); }
void rvk_scale(rv_kctx *k, float *x, float alpha, size_t n) { k->ops->scale(k, x, alpha, n); }

void rvk_gemm(rv_kctx *k, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *Cm, int ldc) {
    k->ops->gemm(k, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, Cm, ldc);
}

void rvk_matmul_fwd(rv_kctx *k, float *y, const float *x, const float *w, const float *b, int N, int C, int OC) {
    k->ops->matmul_fwd(k, y, x, w, b, N, C, OC);
}

void rvk_matmul_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                    int N, int C, int OC, int accum) {
    k->ops->matmul_bwd(k, dx, dw, db, dy, x, w, N, C, OC, accum);
}

void rvk_matmul_gelu_fwd(rv_kctx *k, float *h, float *pre, const float *x, const float *w, const float *b, int N, int C,
                         int OC, rvk_gelu_kind kind) {
    k->ops->matmul_gelu_fwd(k, h, pre, x, w, b, N, C, OC, kind);
}

void rvk_matmul_bwd_gelu(rv_kctx *k, float *dpre, float *dw, float *db, const float *dy, const float *h,
                         const float *pre, const float *w, int N, int C, int OC, rvk_gelu_kind kind) {
    k->ops->matmul_bwd_gelu(k, dpre, dw, db, dy, h, pre, w, N, C, OC, kind);
}

void rvk_layernorm_fwd(rv_kctx *k, float *y, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int C, float eps) {
    k->ops->layernorm_fwd(k, y, mean, rstd, x, w, b, N, C, eps);
}

void rvk_layernorm_bwd(rv_kctx *k, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                       const float *mean, const float *rstd, int N, int C, int accum) {
    k->ops->layernorm_bwd(k, dx, dw, db, dy, x, w, mean, rstd, N, C, accum);
}

void rvk_rmsnorm_fwd(rv_kctx *k, float *y, float *rstd, const float *x, const float *w, int N, int C, float eps) {
    k->ops->rmsnorm_fwd(k, y, rstd, x, w, N, C, eps);
}

void rvk_rmsnorm_bwd(rv_kctx *k, float *dx, float *dw, const float *dy, const float *x, const float *w,
                     const float *rstd, int N, int C, int accum) {
    k->ops->rmsnorm_bwd(k, dx, dw, dy, x, w, rstd, N, C, accum);
}

void rvk_gelu_fwd(rv_kctx *k, float *y, const float *x, size_t n, rvk_gelu_kind kind) {
    k->ops->gelu_fwd(k, y, x, n, kind);
}

void rvk_gelu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, rvk_gelu_kind kind, int accum) {
    k->ops->gelu_bwd(k, dx, dy, x, n, kind, accum);
}

void rvk_silu_fwd(rv_kctx *k, float *y, const float *x, size_t n) { k->ops->silu_fwd(k, y, x, n); }

void rvk_silu_bwd(rv_kctx *k, float *dx, const float *dy, const float *x, size_t n, int accum) {
    k->ops->silu_bwd(k, dx, dy, x, n, accum);
}

void rvk_swiglu_fwd(rv_kctx *k, float *h, const float *g, const float *u, size_t n) {
    k->ops->swiglu_fwd(k, h, g, u, n);
}

void rvk_swiglu_bwd(rv_kctx *k, float *dg, float *du, const float *dh, const float *g, const float *u, size_t n,
                    int accum) {
    k->ops->swiglu_bwd(k, dg, du, dh, g, u, n, accum);
}

void rvk_rope_fwd(rv_kctx *k, float *y, const float *x, const int32_t *pos, int T, int H, int D, float theta) {
    k->ops->rope_fwd(k, y, x, pos, T, H, D, theta);
}

void rvk_rope_bwd(rv_kctx *k, float *dx, const float *dy, const int32_t *pos, int T, int H, int D, float theta) {
    k->ops->rope_bwd(k, dx, dy, pos, T, H, D, theta);
}

int rvk_attention_fwd(rv_kctx *k, float *out, float *lse, const float *q, const float *kk, const float *v,
                      const rvk_attn *a, rv_err *err) {
    return k->ops->attention_fwd(k, out, lse, q, kk, v, a, err);
}

int rvk_attention_bwd(rv_kctx *k, float *dq, float *dk, float *dv, const float *dout, const float *q,
                      const float *kk, const float *v, const float *out, const float *lse, const rvk_attn *a,
                      int accum, rv_err *err) {
    return k->ops->attention_bwd(k, dq, dk, dv, dout, q, kk, v, out, lse, a, accum, err);
}

int rvk_embedding_fwd(rv_kctx *k, float *out, const float *table, const int32_t *ids, int T, int C, int V,
                      rv_err *err) {
    return k->ops->embedding_fwd(k, out, table, ids, T, C, V, err);
}

int rvk_embedding_bwd(rv_kctx *k, float *dtable, const float *dout, const int32_t *ids, int T, int C, int V,
                      rv_err *err) {
    return k->ops->embedding_bwd(k, dtable, dout, ids, T, C, V, err);
}

int rvk_rows_scatter(rv_kctx *k, float *dst, const int32_t *idx, const float *src, int n, int C, int R,
                     rv_err *err) {
    return k->ops->rows_scatter(k, dst, idx, src, n, C, R, err);
}

int rvk_xent_fwd(rv_kctx *k, float *loss, float *lse, const float *hidden, const float *w, const int32_t *targets,
                 int T, int C, int V, rv_err *err) {
    return k->ops->xent_fwd(k, loss, lse, hidden, w, targets, T, C, V, err);
}

int rvk_xent_bwd(rv_kctx *k, float *dhidden, float *dw, const float *hidden, const float *w, const int32_t *targets,
                 const float *lse, const float *dloss, int T, int C, int V, int accum, rv_err *err) {
    return k->ops->xent_bwd(k, dhidden, dw, hidden, w, targets, lse, dloss, T, C, V, accum, err);
}

void rvk_softmax(rv_kctx *k, float *p, const float *logits, int N, int V, float temperature) {
    k->ops->softmax(k, p, logits, N, V, temperature);
}

int rvk_token_logp(rv_kctx *k, float *logp, const float *logits, const int32_t *ids, int N, int V, rv_err *err) {
    return k->ops->token_logp(k, logp, logits, ids, N, V, err);
}

void rvk_sample(rv_kctx *k, int32_t *ids, const float *logits, const double *u, int N, int V, float temperature,
                int top_k, float top_p) {
    k->ops->sample(k, ids, logits, u, N, V, temperature, top_k, top_p);
}

void rvk_adamw_step(rv_kctx *k, float *param, const float *grad, float *m, float *v, size_t n,
                    const rvk_adamw_hp *hp, int flags) {
    k->ops->adamw_step(k, param, grad, m, v, n, hp, flags);
}

void rvk_sumsq_acc(rv_kctx *k, double *acc, const float *x, size_t n) { k->ops->sumsq_acc(k, acc, x, n); }

double rvk_sumsq(rv_kctx *k, const float *x, size_t n) {
    /* acc = 0 + s is exactly s, so this is the value rvk_sumsq_acc adds */
    static const double zero = 0.0;
    double s = 0.0;
    rv_err e;
    if (k->ops->copy(k, k->slot, &zero, sizeof zero, RVK_H2D, 0, &e) != 0) rvk_record_error(k, &e);
    k->ops->sumsq_acc(k, k->slot, x, n);
    if (k->ops->copy(k, &s, k->slot, sizeof s, RVK_D2H, 0, &e) != 0) rvk_record_error(k, &e);
    return s;
}

float rvk_clip_scale(double norm, float max_norm) {
    if (max_norm <= 0.0f) return 1.0f;
    double c = (double)max_norm / (norm + 1e-6);
    return c < 1.0 ? (float)c : 1.0f;
}

void rvk_f32_to_bf16(rv_kctx *k, rvk_bf16 *dst, const float *src, size_t n) { k->ops->to_bf16(k, dst, src, n); }
void rvk_bf16_to_f32(rv_kctx *k, float *dst, const rvk_bf16 *src, size_t n) { k->ops->from_bf16(k, dst, src, n); }

int rvk_shadow_bind(rv_kctx *k, const float *params, size_t n, rv_err *err) {
    return k->ops->shadow_bind ? k->ops->shadow_bind(k, params, n, err) : 0;
}
void rvk_shadow_refresh(rv_kctx *k, const float *p, size_t n) {
    if (k->ops->shadow_refresh) k->ops->shadow_refresh(k, p, n);
}
void rvk_shadow_unbind(rv_kctx *k) {
    if (k->ops->shadow_unbind) k->ops->shadow_unbind(k);
}
