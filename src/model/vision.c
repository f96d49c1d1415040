/* SigLIP vision tower (model.md §4, train.md A.9): patch embedding as a matmul over im2col
 * rows, learned position embeddings, pre-LN encoder blocks with bidirectional attention per
 * tile, features taken after `nrun` layers, optional post-LN. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"

int rv_pg_bind(rv_pg *pg, const rv_weights *w, size_t numel, rv_err *err, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int h = rv_weights_find(w, name);
    if (h < 0) return rv_fail(err, "model: tensor '%s' is missing from the weights table", name);
    if (w->t[h].numel != numel)
        return rv_fail(err, "model: tensor '%s' has %zu elements, the config implies %zu", name, w->t[h].numel, numel);
    pg->p = w->params + w->t[h].offset;
    pg->g = w->grads ? w->grads + w->t[h].offset : NULL;
    return 0;
}

int rv_vision_bind(rv_kctx *k, rv_vision *v, const rv_vision_cfg *c, const rv_weights *w, rv_err *err) {
    memset(v, 0, sizeof *v);
    v->c = *c;
    if (c->drop_first)
        return rv_fail(err, "model: vision_feature_select_strategy \"default\" drops a CLS token that SigLIP does not "
                            "have; use \"full\"");
    v->nrun = rv_vision_run_layers(c);
    v->grid = rv_vision_grid(c);
    v->npatch = v->grid * v->grid;
    v->kdim = c->channels * c->patch * c->patch;
    const size_t C = (size_t)c->hidden, I = (size_t)c->intermediate;
    const char *P = "vision_tower.vision_model.";
    if (rv_pg_bind(&v->patch_w, w, C * v->kdim, err, "%sembeddings.patch_embedding.weight", P) ||
        rv_pg_bind(&v->patch_b, w, C, err, "%sembeddings.patch_embedding.bias", P) ||
        rv_pg_bind(&v->pos, w, (size_t)v->npatch * C, err, "%sembeddings.position_embedding.weight", P) ||
        rv_pg_bind(&v->post_w, w, C, err, "%spost_layernorm.weight", P) ||
        rv_pg_bind(&v->post_b, w, C, err, "%spost_layernorm.bias", P))
        return -1;
    v->L = rv_xcalloc((size_t)(v->nrun > 0 ? v->nrun : 1), sizeof *v->L);
    for (int l = 0; l < v->nrun; l++) {
        rv_vis_layer *L = &v->L[l];
        const char *E = "vision_tower.vision_model.encoder.layers";
        if (rv_pg_bind(&L->ln1_w, w, C, err, "%s.%d.layer_norm1.weight", E, l) ||
            rv_pg_bind(&L->ln1_b, w, C, err, "%s.%d.layer_norm1.bias", E, l) ||
            rv_pg_bind(&L->q_w, w, C * C, err, "%s.%d.self_attn.q_proj.weight", E, l) ||
            rv_pg_bind(&L->q_b, w, C, err, "%s.%d.self_attn.q_proj.bias", E, l) ||
            rv_pg_bind(&L->k_w, w, C * C, err, "%s.%d.self_attn.k_proj.weight", E, l) ||
            rv_pg_bind(&L->k_b, w, C, err, "%s.%d.self_attn.k_proj.bias", E, l) ||
            rv_pg_bind(&L->v_w, w, C * C, err, "%s.%d.self_attn.v_proj.weight", E, l) ||
            rv_pg_bind(&L->v_b, w, C, err, "%s.%d.self_attn.v_proj.bias", E, l) ||
            rv_pg_bind(&L->o_w, w, C * C, err, "%s.%d.self_attn.out_proj.weight", E, l) ||
            rv_pg_bind(&L->o_b, w, C, err, "%s.%d.self_attn.out_proj.bias", E, l) ||
            rv_pg_bind(&L->ln2_w, w, C, err, "%s.%d.layer_norm2.weight", E, l) ||
            rv_pg_bind(&L->ln2_b, w, C, err, "%s.%d.layer_norm2.bias", E, l) ||
            rv_pg_bind(&L->fc1_w, w, I * C, err, "%s.%d.mlp.fc1.weight", E, l) ||
            rv_pg_bind(&L->fc1_b, w, I, err, "%s.%d.mlp.fc1.bias", E, l) ||
            rv_pg_bind(&L->fc2_w, w, C * I, err, "%s.%d.mlp.fc2.weight", E, l) ||
            rv_pg_bind(&L->fc2_b, w, C, err, "%s.%d.mlp.fc2.bias", E, l)) {
            free(v->L);
            v->L = NULL;
            return -1;
        }
    }
    /* im2col offsets of one tile: patch p = (py, px) row-major, column (ch, ky, kx) as the conv
     * weight [C, ch, ky, kx] flattens; pixels past grid * patch are never read (valid conv) */
    const int S = c->image_size, pt = c->patch;
    int32_t *off = rv_xmalloc((size_t)v->npatch * v->kdim * sizeof *off);
    for (int py = 0; py < v->grid; py++)
        for (int px = 0; px < v->grid; px++) {
            int32_t *row = off + (size_t)(py * v->grid + px) * v->kdim;
            int j = 0;
            for (int ch = 0; ch < c->channels; ch++)
                for (int ky = 0; ky < pt; ky++)
                    for (int kx = 0; kx < pt; kx++)
                        row[j++] = (int32_t)(((size_t)ch * S + (size_t)(py * pt + ky)) * S + (size_t)(px * pt + kx));
        }
    if (rvk_buf_alloc(k, &v->im2col_buf, RVK_MEM_DEVICE, RVK_I32, (size_t)v->npatch * v->kdim, err)) {
        free(off);
        free(v->L);
        v->L = NULL;
        return rv_fail_wrap(err, "model: the vision tower's im2col offsets");
    }
    v->im2col = rvk_buf_i32(&v->im2col_buf);
    rvk_upload_i32(k, v->im2col, off, (size_t)v->npatch * v->kdim);
    free(off);
    return 0;
}

void rv_vision_unbind(rv_kctx *k, rv_vision *v) {
    rvk_buf_free(k, &v->im2col_buf);
    free(v->L);
    memset(v, 0, sizeof *v);
}

void rv_vision_acts_layout(rv_kctx *k, const rv_vision *v, rv_vis_acts *a, rv_arena *ar, int maxT, rv_act_mode mode) {
    memset(a, 0, sizeof *a);
    const bool train = mode.train;
    const int n = v->nrun, NP = v->npatch;
    const size_t N = (size_t)maxT * NP, NC = N * v->c.hidden, NI = N * v->c.intermediate, NH = N * v->c.heads;
    a->maxT = maxT;
    a->train = train;
    a->recompute = train && mode.recompute;
    a->patches = rv_arena_take(ar, N * v->kdim);
    float ***const all[] = {&a->h1, &a->q, &a->k, &a->v, &a->o, &a->lse, &a->xm, &a->h2, &a->f, &a->g,
                            &a->mean1, &a->rstd1, &a->mean2, &a->rstd2};
    const size_t size[] = {NC, NC, NC, NC, NC, NH, NC, NC, NI, NI, N, N, N, N};
    rv_arena_layers(ar, all, size, sizeof all / sizeof *all, &a->x, &a->ck, NC, n, mode);
    if (v->c.post_ln) {
        a->feat = rv_arena_take(ar, NC);
        a->pmean = rv_arena_take(ar, N);
        a->prstd = rv_arena_take(ar, N);
    } else {
        a->feat = a->x[n];
    }
    a->cu = rv_arena_take_i32(ar, (size_t)maxT + 1);
    if (train) {
        a->dres = rv_arena_take(ar, NC);
        a->dt = rv_arena_take(ar, NC);
        a->dq = rv_arena_take(ar, NC);
        a->dk = rv_arena_take(ar, NC);
        a->dv = rv_arena_take(ar, NC);
        a->dI = rv_arena_take(ar, NI);
    }
    /* tile t's rows start at t * npatch: the same prefix for any T <= maxT */
    a->cu_host = rv_xmalloc(((size_t)maxT + 1) * sizeof *a->cu_host);
    for (int t = 0; t <= maxT; t++) a->cu_host[t] = t * NP;
    if (ar->base) rvk_upload_i32(k, a->cu, a->cu_host, (size_t)maxT + 1);
}

void rv_vision_acts_release(rv_vis_acts *a) {
    float ***all[] = {&a->x, &a->h1, &a->q, &a->k, &a->v, &a->o, &a->lse, &a->xm, &a->h2, &a->f, &a->g,
                      &a->mean1, &a->rstd1, &a->mean2, &a->rstd2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(*all[i]);
    free(a->ck);
    free(a->cu_host);
    memset(a, 0, sizeof *a);
}

static rvk_gelu_kind gelu_kind(rv_act a) { return a == RV_ACT_GELU_ERF ? RVK_GELU_ERF : RVK_GELU_TANH; }

/* Rounds the stream x[l] ([N, C]) to its bf16 checkpoint and widens it back (see the decoder). */
static void ckpt_round(rv_kctx *k, const rv_vis_acts *a, int l, size_t NC) {
    if (!a->ck) return;
    rvk_f32_to_bf16(k, a->ck[l], a->x[l], NC);
    rvk_bf16_to_f32(k, a->x[l], a->ck[l], NC);
}

static rvk_attn vis_attn(const rv_vision *v, const rv_vis_acts *a) {
    const int C = v->c.hidden, H = v->c.heads;
    return (rvk_attn){.nseq = a->T, .cu_q = a->cu, .Tq = a->N, .Tk = a->N, .Hq = H, .Hkv = H, .D = C / H,
                      .scale = 1.0f / sqrtf((float)(C / H)), .causal = 0, .host_cu_q = a->cu_host};
}

/* Layer l's forward from a->x[l] into its buffers; out = false stops before fc2 (the
 * recomputation: backward needs every buffer but not x[l + 1]). */
static int vis_layer_fwd(rv_kctx *k, const rv_vision *v, int l, rv_vis_acts *a, const rvk_attn *at, bool out,
                         rv_err *err) {
    const int C = v->c.hidden, I = v->c.intermediate, N = a->N;
    const size_t NC = (size_t)N * C;
    const rv_vis_layer *Lw = &v->L[l];
    float *x = a->x[l];
    rvk_layernorm_fwd(k, a->h1[l], a->mean1[l], a->rstd1[l], x, Lw->ln1_w.p, Lw->ln1_b.p, N, C, v->c.ln_eps);
    rvk_matmul_fwd(k, a->q[l], a->h1[l], Lw->q_w.p, Lw->q_b.p, N, C, C);
    rvk_matmul_fwd(k, a->k[l], a->h1[l], Lw->k_w.p, Lw->k_b.p, N, C, C);
    rvk_matmul_fwd(k, a->v[l], a->h1[l], Lw->v_w.p, Lw->v_b.p, N, C, C);
    if (rvk_attention_fwd(k, a->o[l], a->lse[l], a->q[l], a->k[l], a->v[l], at, err))
        return rv_fail_wrap(err, "vision layer %d attention", l);
    rvk_matmul_fwd(k, a->xm[l], a->o[l], Lw->o_w.p, Lw->o_b.p, N, C, C);
    rvk_axpy(k, a->xm[l], 1.0f, x, NC);
    rvk_layernorm_fwd(k, a->h2[l], a->mean2[l], a->rstd2[l], a->xm[l], Lw->ln2_w.p, Lw->ln2_b.p, N, C, v->c.ln_eps);
    rvk_matmul_gelu_fwd(k, a->g[l], a->f[l], a->h2[l], Lw->fc1_w.p, Lw->fc1_b.p, N, C, I, gelu_kind(v->c.act));
    if (!out) return 0;
    rvk_matmul_fwd(k, a->x[l + 1], a->g[l], Lw->fc2_w.p, Lw->fc2_b.p, N, I, C);
    rvk_axpy(k, a->x[l + 1], 1.0f, a->xm[l], NC);
    return 0;
}

int rv_vision_forward(rv_kctx *k, const rv_vision *v, const float *pixels, int T, rv_vis_acts *a, rv_err *err) {
    const int C = v->c.hidden, NP = v->npatch, n = v->nrun;
    const int N = T * NP;
    const size_t NC = (size_t)N * C, tile = (size_t)v->c.channels * v->c.image_size * v->c.image_size;
    if (v->c.act == RV_ACT_SILU) return rv_fail(err, "model: the vision MLP activation must be a GELU");
    if (T > a->maxT)
        return rv_fail(err, "vision: %d tiles exceed the activation plan's %d (a caller bug: plan first)", T, a->maxT);
    a->T = T;
    a->N = N;
    for (int t = 0; t < T; t++)
        if (rvk_embedding_fwd(k, a->patches + (size_t)t * NP * v->kdim, pixels + t * tile, v->im2col, NP * v->kdim, 1,
                              (int)tile, err))
            return rv_fail_wrap(err, "vision im2col");

    /* embeddings: patches W^T + b, + position row p of every tile */
    rvk_matmul_fwd(k, a->x[0], a->patches, v->patch_w.p, v->patch_b.p, N, v->kdim, C);
    for (int t = 0; t < T; t++) rvk_axpy(k, a->x[0] + (size_t)t * NP * C, 1.0f, v->pos.p, (size_t)NP * C);

    rvk_attn at = vis_attn(v, a);
    ckpt_round(k, a, 0, NC);
    for (int l = 0; l < n; l++) {
        if (vis_layer_fwd(k, v, l, a, &at, true, err)) return -1;
        if (l + 1 < n) ckpt_round(k, a, l + 1, NC);
    }
    if (v->c.post_ln)
        rvk_layernorm_fwd(k, a->feat, a->pmean, a->prstd, a->x[n], v->post_w.p, v->post_b.p, N, C, v->c.ln_eps);
    return 0;
}

int rv_vision_backward(rv_kctx *k, const rv_vision *v, rv_vis_acts *a, const float *dfeat, rv_err *err) {
    const int C = v->c.hidden, I = v->c.intermediate, n = v->nrun, N = a->N;
    const size_t NC = (size_t)N * C;
    if (!v->patch_w.g) return rv_fail(err, "model: vision backward without gradient buffers");
    if (!a->train) return rv_fail(err, "model: vision backward needs a training layout of the activations");
    float *dres = a->dres;   /* gradient of the residual stream */
    float *dt = a->dt;       /* scratch [N, C] */
    float *dq = a->dq, *dk = a->dk, *dv = a->dv, *dI = a->dI;
    if (v->c.post_ln)
        rvk_layernorm_bwd(k, dres, v->post_w.g, v->post_b.g, dfeat, a->x[n], v->post_w.p, a->pmean, a->prstd, N, C, 0);
    else
        rvk_copy(k, dres, dfeat, NC);
    rvk_attn at = vis_attn(v, a);
    int rc = 0;
    for (int l = n - 1; l >= 0; l--) {
        const rv_vis_layer *Lw = &v->L[l];
        if (a->recompute) { /* layer l's buffers again, from its checkpoint */
            if (a->ck) rvk_bf16_to_f32(k, a->x[l], a->ck[l], NC);
            if (vis_layer_fwd(k, v, l, a, &at, false, err)) {
                rc = rv_fail_wrap(err, "vision layer %d recomputation", l);
                break;
            }
        }
        /* MLP: x[l+1] = xm + fc2(gelu(fc1(LN2(xm)))) */
        rvk_matmul_bwd_gelu(k, dI, Lw->fc2_w.g, Lw->fc2_b.g, dres, a->g[l], a->f[l], Lw->fc2_w.p, N, I, C,
                            gelu_kind(v->c.act));
        rvk_matmul_bwd(k, dt, Lw->fc1_w.g, Lw->fc1_b.g, dI, a->h2[l], Lw->fc1_w.p, N, C, I, 0);
        rvk_layernorm_bwd(k, dres, Lw->ln2_w.g, Lw->ln2_b.g, dt, a->xm[l], Lw->ln2_w.p, a->mean2[l], a->rstd2[l], N, C,
                          1);
        /* attention: xm = x + out_proj(attn(q, k, v)) */
        rvk_matmul_bwd(k, dt, Lw->o_w.g, Lw->o_b.g, dres, a->o[l], Lw->o_w.p, N, C, C, 0);
        if (rvk_attention_bwd(k, dq, dk, dv, dt, a->q[l], a->k[l], a->v[l], a->o[l], a->lse[l], &at, 0, err)) {
            rc = rv_fail_wrap(err, "vision layer %d attention backward", l);
            break;
        }
        rvk_matmul_bwd(k, dt, Lw->q_w.g, Lw->q_b.g, dq, a->h1[l], Lw->q_w.p, N, C, C, 0);
        rvk_matmul_bwd(k, dt, Lw->k_w.g, Lw->k_b.g, dk, a->h1[l], Lw->k_w.p, N, C, C, 1);
        rvk_matmul_bwd(k, dt, Lw->v_w.g, Lw->v_b.g, dv, a->h1[l], Lw->v_w.p, N, C, C, 1);
        rvk_layernorm_bwd(k, dres, Lw->ln1_w.g, Lw->ln1_b.g, dt, a->x[l], Lw->ln1_w.p, a->mean1[l], a->rstd1[l], N, C,
                          1);
    }
    if (!rc) {
        /* embeddings: position rows get the sum over tiles; the patch matmul its usual grads */
        for (int t = 0; t < a->T; t++)
            rvk_axpy(k, v->pos.g, 1.0f, dres + (size_t)t * v->npatch * C, (size_t)v->npatch * C);
        rvk_matmul_bwd(k, NULL, v->patch_w.g, v->patch_b.g, dres, a->patches, v->patch_w.p, N, v->kdim, C, 0);
    }
    return rc;
}
