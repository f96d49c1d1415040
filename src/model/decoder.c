/* Qwen2 decoder (model.md §7): RMSNorm, q/k/v with bias, RoPE (half-split), causal GQA
 * attention over packed sequences, SwiGLU MLP, final RMSNorm. The lm_head is applied by the
 * caller (fused cross-entropy, or logits for generation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"

int rv_decoder_bind(rv_decoder *d, const rv_text_cfg *c, const rv_weights *w, rv_err *err) {
    memset(d, 0, sizeof *d);
    d->c = *c;
    d->qd = c->heads * c->head_dim;
    d->kvd = c->kv_heads * c->head_dim;
    const size_t D = (size_t)c->hidden, I = (size_t)c->intermediate, V = (size_t)c->vocab;
    const size_t qd = (size_t)d->qd, kvd = (size_t)d->kvd;
    const char *P = "language_model.model.";
    if (rv_pg_bind(&d->embed, w, V * D, err, "%sembed_tokens.weight", P) ||
        rv_pg_bind(&d->norm, w, D, err, "%snorm.weight", P))
        return -1;
    if (c->tie_embeddings) {
        if (rv_weights_find(w, "language_model.lm_head.weight") >= 0)
            return rv_fail(err, "model: tie_word_embeddings is true but the table has language_model.lm_head.weight");
        d->lm_head = d->embed;
    } else if (rv_pg_bind(&d->lm_head, w, V * D, err, "language_model.lm_head.weight")) {
        return -1;
    }
    d->L = rv_xcalloc((size_t)c->layers, sizeof *d->L);
    for (int l = 0; l < c->layers; l++) {
        rv_dec_layer *L = &d->L[l];
        const char *E = "language_model.model.layers";
        if (rv_pg_bind(&L->in_norm, w, D, err, "%s.%d.input_layernorm.weight", E, l) ||
            rv_pg_bind(&L->q_w, w, qd * D, err, "%s.%d.self_attn.q_proj.weight", E, l) ||
            rv_pg_bind(&L->q_b, w, qd, err, "%s.%d.self_attn.q_proj.bias", E, l) ||
            rv_pg_bind(&L->k_w, w, kvd * D, err, "%s.%d.self_attn.k_proj.weight", E, l) ||
            rv_pg_bind(&L->k_b, w, kvd, err, "%s.%d.self_attn.k_proj.bias", E, l) ||
            rv_pg_bind(&L->v_w, w, kvd * D, err, "%s.%d.self_attn.v_proj.weight", E, l) ||
            rv_pg_bind(&L->v_b, w, kvd, err, "%s.%d.self_attn.v_proj.bias", E, l) ||
            rv_pg_bind(&L->o_w, w, D * qd, err, "%s.%d.self_attn.o_proj.weight", E, l) ||
            rv_pg_bind(&L->post_norm, w, D, err, "%s.%d.post_attention_layernorm.weight", E, l) ||
            rv_pg_bind(&L->gate, w, I * D, err, "%s.%d.mlp.gate_proj.weight", E, l) ||
            rv_pg_bind(&L->up, w, I * D, err, "%s.%d.mlp.up_proj.weight", E, l) ||
            rv_pg_bind(&L->down, w, D * I, err, "%s.%d.mlp.down_proj.weight", E, l)) {
            free(d->L);
            d->L = NULL;
            return -1;
        }
    }
    return 0;
}

static float **ptrs(int n) { return rv_xcalloc((size_t)(n > 0 ? n : 1), sizeof(float *)); }

void rv_dec_acts_layout(const rv_decoder *d, rv_dec_acts *a, rv_arena *ar, int maxN, rv_act_mode mode) {
    memset(a, 0, sizeof *a);
    const rv_text_cfg *c = &d->c;
    const int n = c->layers;
    const bool train = mode.train;
    const size_t ND = (size_t)maxN * c->hidden, NQ = (size_t)maxN * d->qd, NKV = (size_t)maxN * d->kvd;
    const size_t NI = (size_t)maxN * c->intermediate, NH = (size_t)maxN * c->heads;
    a->maxN = maxN;
    a->train = train;
    a->recompute = train && mode.recompute;
    float ***const all[] = {&a->a, &a->q, &a->k, &a->v, &a->o, &a->lse, &a->xm, &a->m, &a->gt, &a->up, &a->h,
                            &a->rstd1, &a->rstd2};
    const size_t size[] = {ND, NQ, NKV, NKV, NQ, NH, ND, ND, NI, NI, NI, (size_t)maxN, (size_t)maxN};
    rv_arena_layers(ar, all, size, sizeof all / sizeof *all, &a->x, &a->ck, ND, n, mode);
    a->xf = rv_arena_take(ar, ND);
    a->rstdf = rv_arena_take(ar, (size_t)maxN);
    if (train) {
        a->dt = rv_arena_take(ar, ND > NQ ? ND : NQ);
        a->dq = rv_arena_take(ar, NQ);
        a->dk = rv_arena_take(ar, NKV);
        a->dv = rv_arena_take(ar, NKV);
        a->dg = rv_arena_take(ar, NI);
        a->du = rv_arena_take(ar, NI);
    }
}

void rv_dec_acts_release(rv_dec_acts *a) {
    float ***all[] = {&a->x, &a->a, &a->q, &a->k, &a->v, &a->o, &a->lse, &a->xm, &a->m, &a->gt, &a->up, &a->h,
                      &a->rstd1, &a->rstd2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(*all[i]);
    free(a->ck);
    memset(a, 0, sizeof *a);
}

void rv_kv_cache_layout(rv_kv_cache *c, const rv_text_cfg *t, rv_arena *ar, size_t rows) {
    memset(c, 0, sizeof *c);
    c->layers = t->layers;
    c->rows = rows;
    if (rows == 0) return;
    c->k = ptrs(t->layers);
    c->v = ptrs(t->layers);
    const size_t n = rows * t->kv_heads * t->head_dim;
    for (int l = 0; l < t->layers; l++) {
        c->k[l] = rv_arena_take(ar, n);
        c->v[l] = rv_arena_take(ar, n);
    }
}

void rv_kv_cache_release(rv_kv_cache *c) {
    free(c->k);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* Rounds x (the fp32 stream, [N, D]) to its bf16 checkpoint and widens it back in place, so the
 * next layer reads exactly the value its recomputation will restore. */
static void ckpt_round(rv_kctx *k, const rv_dec_acts *a, int l, size_t ND) {
    if (!a->ck) return;
    rvk_f32_to_bf16(k, a->ck[l], a->x[l], ND);
    rvk_bf16_to_f32(k, a->x[l], a->ck[l], ND);
}

static rvk_attn dec_attn(const rv_decoder *d, const rv_dec_seqs *sq, int N) {
    const rv_text_cfg *c = &d->c;
    return (rvk_attn){.nseq = sq->nseq, .cu_q = sq->cu, .Tq = N, .Tk = N, .Hq = c->heads, .Hkv = c->kv_heads,
                      .D = c->head_dim, .scale = 1.0f / sqrtf((float)c->head_dim), .causal = 1,
                      .host_cu_q = sq->host_cu};
}

/* Layer l's forward from a->x[l] into the layer's buffers. out = false stops after the SwiGLU
 * (the recomputation: backward needs every buffer but not the layer output x[l + 1]). */
static int dec_layer_fwd(rv_kctx *k, const rv_decoder *d, int l, rv_dec_acts *a, const rv_dec_seqs *sq, int N,
                         const rvk_attn *at, rv_kv_cache *cache, bool out, rv_err *err) {
    const rv_text_cfg *c = &d->c;
    const int D = c->hidden, I = c->intermediate, hd = c->head_dim;
    const size_t ND = (size_t)N * D, NI = (size_t)N * I;
    const rv_dec_layer *L = &d->L[l];
    rvk_rmsnorm_fwd(k, a->a[l], a->rstd1[l], a->x[l], L->in_norm.p, N, D, c->rms_eps);
    rvk_matmul_fwd(k, a->q[l], a->a[l], L->q_w.p, L->q_b.p, N, D, d->qd);
    rvk_matmul_fwd(k, a->k[l], a->a[l], L->k_w.p, L->k_b.p, N, D, d->kvd);
    rvk_matmul_fwd(k, a->v[l], a->a[l], L->v_w.p, L->v_b.p, N, D, d->kvd);
    rvk_rope_fwd(k, a->q[l], a->q[l], sq->pos, N, c->heads, hd, (float)c->rope_theta);
    rvk_rope_fwd(k, a->k[l], a->k[l], sq->pos, N, c->kv_heads, hd, (float)c->rope_theta);
    const float *kk = a->k[l], *vv = a->v[l];
    if (cache) {
        int R = cache->nseq * cache->cap;
        if (rvk_rows_scatter(k, cache->k[l], sq->cache_rows, a->k[l], N, d->kvd, R, err) ||
            rvk_rows_scatter(k, cache->v[l], sq->cache_rows, a->v[l], N, d->kvd, R, err))
            return rv_fail_wrap(err, "decoder layer %d: KV cache write", l);
        kk = cache->k[l];
        vv = cache->v[l];
    }
    if (rvk_attention_fwd(k, a->o[l], a->lse[l], a->q[l], kk, vv, at, err))
        return rv_fail_wrap(err, "decoder layer %d attention", l);
    rvk_matmul_fwd(k, a->xm[l], a->o[l], L->o_w.p, NULL, N, d->qd, D);
    rvk_axpy(k, a->xm[l], 1.0f, a->x[l], ND);
    rvk_rmsnorm_fwd(k, a->m[l], a->rstd2[l], a->xm[l], L->post_norm.p, N, D, c->rms_eps);
    rvk_matmul_fwd(k, a->gt[l], a->m[l], L->gate.p, NULL, N, D, I);
    rvk_matmul_fwd(k, a->up[l], a->m[l], L->up.p, NULL, N, D, I);
    rvk_swiglu_fwd(k, a->h[l], a->gt[l], a->up[l], NI);
    if (!out) return 0;
    rvk_matmul_fwd(k, a->x[l + 1], a->h[l], L->down.p, NULL, N, I, D);
    rvk_axpy(k, a->x[l + 1], 1.0f, a->xm[l], ND);
    return 0;
}

int rv_decoder_forward(rv_kctx *k, const rv_decoder *d, const rv_dec_seqs *sq, int N, rv_dec_acts *a, bool keep,
                       rv_kv_cache *cache, rv_err *err) {
    const rv_text_cfg *c = &d->c;
    const int D = c->hidden, n = c->layers;
    const size_t ND = (size_t)N * D;
    if (N > a->maxN)
        return rv_fail(err, "decoder: %d rows exceed the activation plan's %d (a caller bug: plan first)", N, a->maxN);
    if (keep && (cache || !a->train))
        return rv_fail(err, "decoder: keep needs a training layout and no KV cache");
    a->N = N;
    rvk_attn at = dec_attn(d, sq, N);
    if (cache) {
        at.cu_k = sq->cu_cache;
        at.len_k = sq->len_k;
        at.Tk = cache->nseq * cache->cap;
        at.host_cu_k = sq->host_cu_cache;
        at.host_len_k = sq->host_len_k;
    }
    if (!at.host_cu_q || (cache && (!at.host_cu_k || !at.host_len_k)))
        at.host_cu_q = at.host_cu_k = at.host_len_k = NULL; /* all or none (kernels.h) */
    ckpt_round(k, a, 0, ND);
    for (int l = 0; l < n; l++) {
        if (dec_layer_fwd(k, d, l, a, sq, N, &at, cache, true, err)) return -1;
        if (l + 1 < n) ckpt_round(k, a, l + 1, ND);
    }
    rvk_rmsnorm_fwd(k, a->xf, a->rstdf, a->x[n], d->norm.p, N, D, c->rms_eps);
    return 0;
}

int rv_decoder_backward(rv_kctx *k, const rv_decoder *d, rv_dec_acts *a, const rv_dec_seqs *sq, const float *dxf,
                        float *dx0, rv_err *err) {
    const rv_text_cfg *c = &d->c;
    const int D = c->hidden, I = c->intermediate, n = c->layers, hd = c->head_dim, N = a->N;
    const size_t NI = (size_t)N * I, ND = (size_t)N * D;
    const int32_t *pos = sq->pos;
    if (!d->norm.g) return rv_fail(err, "model: decoder backward without gradient buffers");
    if (!a->train) return rv_fail(err, "model: decoder backward needs a training layout of the activations");
    float *dres = dx0;
    float *dt = a->dt, *dq = a->dq, *dk = a->dk, *dv = a->dv, *dg = a->dg, *du = a->du;
    rvk_rmsnorm_bwd(k, dres, d->norm.g, dxf, a->x[n], d->norm.p, a->rstdf, N, D, 0);
    rvk_attn at = dec_attn(d, sq, N);
    int rc = 0;
    for (int l = n - 1; l >= 0; l--) {
        const rv_dec_layer *L = &d->L[l];
        if (a->recompute) { /* layer l's buffers again, from its checkpoint: the same ops on the same input */
            if (a->ck) rvk_bf16_to_f32(k, a->x[l], a->ck[l], ND);
            if (dec_layer_fwd(k, d, l, a, sq, N, &at, NULL, false, err)) {
                rc = rv_fail_wrap(err, "decoder layer %d recomputation", l);
                break;
            }
        }
        /* MLP: x[l+1] = xm + down(silu(gate(m)) * up(m)), m = RMSNorm(xm) */
        rvk_matmul_bwd(k, dg, L->down.g, NULL, dres, a->h[l], L->down.p, N, I, D, 0);
        rvk_swiglu_bwd(k, dg, du, dg, a->gt[l], a->up[l], NI, 0);
        rvk_matmul_bwd(k, dt, L->gate.g, NULL, dg, a->m[l], L->gate.p, N, D, I, 0);
        rvk_matmul_bwd(k, dt, L->up.g, NULL, du, a->m[l], L->up.p, N, D, I, 1);
        rvk_rmsnorm_bwd(k, dres, L->post_norm.g, dt, a->xm[l], L->post_norm.p, a->rstd2[l], N, D, 1);
        /* attention: xm = x + o_proj(attn(rope(q), rope(k), v)) */
        rvk_matmul_bwd(k, dt, L->o_w.g, NULL, dres, a->o[l], L->o_w.p, N, d->qd, D, 0);
        if (rvk_attention_bwd(k, dq, dk, dv, dt, a->q[l], a->k[l], a->v[l], a->o[l], a->lse[l], &at, 0, err)) {
            rc = rv_fail_wrap(err, "decoder layer %d attention backward", l);
            break;
        }
        rvk_rope_bwd(k, dq, dq, pos, N, c->heads, hd, (float)c->rope_theta);
        rvk_rope_bwd(k, dk, dk, pos, N, c->kv_heads, hd, (float)c->rope_theta);
        rvk_matmul_bwd(k, dt, L->q_w.g, L->q_b.g, dq, a->a[l], L->q_w.p, N, D, d->qd, 0);
        rvk_matmul_bwd(k, dt, L->k_w.g, L->k_b.g, dk, a->a[l], L->k_w.p, N, D, d->kvd, 1);
        rvk_matmul_bwd(k, dt, L->v_w.g, L->v_b.g, dv, a->a[l], L->v_w.p, N, D, d->kvd, 1);
        rvk_rmsnorm_bwd(k, dres, L->in_norm.g, dt, a->x[l], L->in_norm.p, a->rstd1[l], N, D, 1);
    }
    return rc;
}
