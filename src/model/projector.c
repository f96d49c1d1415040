/* Multimodal projector (model.md §4, LN-PROJ mlp2x_gelu): Linear(vision -> D), GELU, Linear(D -> D). */
#include <string.h>

#include "model/layers.h"

int rv_projector_bind(rv_projector *p, const rv_model_cfg *c, const rv_weights *w, rv_err *err) {
    memset(p, 0, sizeof *p);
    p->in = c->vision.hidden;
    p->out = c->text.hidden;
    if (c->proj_act == RV_ACT_SILU) return rv_fail(err, "model: projector_hidden_act must be gelu or gelu_pytorch_tanh");
    p->act = c->proj_act == RV_ACT_GELU_ERF ? RVK_GELU_ERF : RVK_GELU_TANH;
    const size_t in = (size_t)p->in, out = (size_t)p->out;
    if (rv_pg_bind(&p->w1, w, out * in, err, "multi_modal_projector.linear_1.weight") ||
        rv_pg_bind(&p->w2, w, out * out, err, "multi_modal_projector.linear_2.weight"))
        return -1;
    if (c->proj_bias && (rv_pg_bind(&p->b1, w, out, err, "multi_modal_projector.linear_1.bias") ||
                         rv_pg_bind(&p->b2, w, out, err, "multi_modal_projector.linear_2.bias")))
        return -1;
    return 0;
}

void rv_proj_acts_layout(const rv_projector *p, rv_proj_acts *a, rv_arena *ar, int maxN, bool train) {
    memset(a, 0, sizeof *a);
    const size_t NO = (size_t)maxN * p->out;
    a->y1 = rv_arena_take(ar, NO);
    a->g = rv_arena_take(ar, NO);
    a->y = rv_arena_take(ar, NO);
    if (train) a->dg = rv_arena_take(ar, NO);
}

void rv_projector_forward(rv_kctx *k, const rv_projector *p, const float *x, int N, rv_proj_acts *a) {
    a->N = N;
    a->x = x;
    rvk_matmul_gelu_fwd(k, a->g, a->y1, x, p->w1.p, p->b1.p, N, p->in, p->out, p->act);
    rvk_matmul_fwd(k, a->y, a->g, p->w2.p, p->b2.p, N, p->out, p->out);
}

void rv_projector_backward(rv_kctx *k, const rv_projector *p, rv_proj_acts *a, const float *dy, float *dx) {
    float *dg = a->dg;
    rvk_matmul_bwd_gelu(k, dg, p->w2.g, p->b2.g, dy, a->g, a->y1, p->w2.p, a->N, p->out, p->out, p->act);
    rvk_matmul_bwd(k, dx, p->w1.g, p->b1.g, dg, a->x, p->w1.p, a->N, p->in, p->out, 0);
}
