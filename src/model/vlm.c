/* Joins vision tower, projector and decoder: image packing (model.md §5.2: base tile, anyres
 * stitch, unpad, anyres_max cap by bilinear downscale, newline column), placement of image rows
 * at the placeholder positions, packed multi-sample batches, per-token log-probs and the
 * backward pass. */
#include "model/vlm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/plan.h"

/* ---- image packing plan (host arithmetic on sizes, no tensor math) ---- */

typedef struct img_plan {
    int n_tiles, tile0;    /* tile0: index of this image's first tile among all tiles */
    int rows, row0;        /* output rows and first row in the batch's image-row matrix */
    int h, w, h2, w2;      /* unpadded grid map and after the cap (0 when n_tiles == 1) */
    int32_t *grid_src;     /* [h*w] projected-feature row of each map cell */
    int32_t *cell_dst;     /* [h2*w2] output row of each (capped) map cell */
    int32_t *nl_dst;       /* [h2] output row of each newline */
    float *R1, *R2;        /* [h2, h], [w2, w] bilinear weights; NULL without the cap */
} img_plan;

/* Python round(x, 7) followed by int() for x >= 0 (HF unpad_image). */
static int py_int_round7(double x) { return (int)floor(nearbyint(x * 1e7) / 1e7); }

/* Python float floor division a // b (CPython float_floor_div). */
static double py_floordiv(double a, double b) {
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
    double fl = floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return fl;
}

void rv_vlm_best_resolution(const rv_model_cfg *c, int H, int W, int *bh, int *bw) {
    long best_eff = -1, best_waste = 0;
    *bh = c->pinpoints[0][0];
    *bw = c->pinpoints[0][1];
    for (int i = 0; i < c->n_pinpoints; i++) {
        int h = c->pinpoints[i][0], w = c->pinpoints[i][1];
        double s = fmin((double)w / W, (double)h / H);
        long dw = (long)(W * s), dh = (long)(H * s);
        long eff = dw * dh < (long)W * H ? dw * dh : (long)W * H;
        long waste = (long)h * w - eff;
        if (eff > best_eff || (eff == best_eff && waste < best_waste)) {
            best_eff = eff;
            best_waste = waste;
            *bh = h;
            *bw = w;
        }
    }
}

int rv_vlm_image_tiles(const rv_model_cfg *c, int H, int W) {
    int bh, bw;
    rv_vlm_best_resolution(c, H, W, &bh, &bw);
    return 1 + (bh / c->vision.image_size) * (bw / c->vision.image_size);
}

static void plan_free(img_plan *p) {
    free(p->grid_src);
    free(p->cell_dst);
    free(p->nl_dst);
    free(p->R1);
    free(p->R2);
    memset(p, 0, sizeof *p);
}

/* PyTorch bilinear (align_corners=False, no antialias) as an [out, in] matrix, in fp32. */
static float *bilinear_matrix(int in, int out) {
    float *R = rv_xcalloc((size_t)out * in, sizeof *R);
    float scale = (float)in / (float)out;
    for (int i = 0; i < out; i++) {
        float src = scale * ((float)i + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int i0 = (int)floorf(src);
        if (i0 > in - 1) i0 = in - 1;
        float lam = src - (float)i0;
        lam = lam < 0 ? 0 : (lam > 1 ? 1 : lam);
        int i1 = i0 + (i0 < in - 1 ? 1 : 0);
        R[(size_t)i * in + i0] += 1.0f - lam;
        R[(size_t)i * in + i1] += lam;
    }
    return R;
}

/* With tiles == NULL only sizes are computed (rows, h, w, h2, w2). */
static int plan_image(const rv_model_cfg *c, int n_tiles, int H, int W, int tile0, img_plan *p, bool build,
                      rv_err *err) {
    memset(p, 0, sizeof *p);
    const int G = rv_vision_grid(&c->vision), P = G * G, S = c->vision.image_size;
    p->n_tiles = n_tiles;
    p->tile0 = tile0;
    if (n_tiles == 1) {
        p->rows = P + 1;
        return 0;
    }
    if (H <= 0 || W <= 0) return rv_fail(err, "image: original size %dx%d must be positive for anyres packing", H, W);
    int bh, bw;
    rv_vlm_best_resolution(c, H, W, &bh, &bw);
    int nph = bh / S, npw = bw / S;
    if (n_tiles != 1 + nph * npw)
        return rv_fail(err, "image: %d tiles given for a %dx%d (HxW) image, but anyres makes 1 + %dx%d = %d; "
                            "re-run the preprocessing with this model's pinpoints and tile size",
                       n_tiles, H, W, nph, npw, 1 + nph * npw);
    int Hc = G * nph, Wc = G * npw, r0 = 0, r1 = Hc, c0 = 0, c1 = Wc;
    if ((double)W / H > (double)Wc / Hc) {
        int newH = py_int_round7(H * ((double)Wc / W));
        int pad = (Hc - newH) / 2;
        r0 = pad;
        r1 = Hc - pad;
    } else {
        int newW = py_int_round7(W * ((double)Hc / H));
        int pad = (Wc - newW) / 2;
        c0 = pad;
        c1 = Wc - pad;
    }
    p->h = r1 - r0;
    p->w = c1 - c0;
    p->h2 = p->h;
    p->w2 = p->w;
    bool cap = false;
    if (c->anyres_max > 0) {
        double ratio = sqrt((double)p->h * p->w / ((double)c->anyres_max * G * G));
        if (ratio > 1.1) {
            cap = true;
            p->h2 = (int)py_floordiv(p->h, ratio);
            p->w2 = (int)py_floordiv(p->w, ratio);
        }
    }
    p->rows = P + p->h2 * (p->w2 + 1);
    if (!build) return 0;
    p->grid_src = rv_xmalloc((size_t)p->h * p->w * sizeof(int32_t));
    for (int r = 0; r < p->h; r++)
        for (int q = 0; q < p->w; q++) {
            int R = r0 + r, Cc = c0 + q;
            int t = 1 + (R / G) * npw + (Cc / G);
            p->grid_src[r * p->w + q] = (tile0 + t) * P + (R % G) * G + (Cc % G);
        }
    p->cell_dst = rv_xmalloc((size_t)p->h2 * p->w2 * sizeof(int32_t));
    p->nl_dst = rv_xmalloc((size_t)p->h2 * sizeof(int32_t));
    for (int r = 0; r < p->h2; r++) {
        for (int q = 0; q < p->w2; q++) p->cell_dst[r * p->w2 + q] = P + r * (p->w2 + 1) + q;
        p->nl_dst[r] = P + r * (p->w2 + 1) + p->w2;
    }
    if (cap) {
        p->R1 = bilinear_matrix(p->h, p->h2);
        p->R2 = bilinear_matrix(p->w, p->w2);
    }
    return 0;
}

int rv_vlm_image_tokens(const rv_model_cfg *c, int n_tiles, int H, int W) {
    img_plan p;
    rv_err e;
    if (plan_image(c, n_tiles, H, W, 0, &p, false, &e)) return -1;
    return p.rows;
}

/* ---- model ---- */

int rv_vlm_init(rv_vlm *m, rv_kctx *k, const rv_model_cfg *cfg, rv_weights *w, bool want_grads, rv_err *err) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->k = k;
    m->w = w;
    if (rv_model_cfg_validate(cfg, err)) return -1;
    if (want_grads && rv_weights_alloc_grads(w, err)) return -1;
    m->grads = w->grads != NULL;
    if (rv_vision_bind(k, &m->vis, &cfg->vision, w, err)) return -1;
    if (rv_projector_bind(&m->proj, cfg, w, err) || rv_decoder_bind(&m->dec, &cfg->text, w, err)) {
        rv_vision_unbind(k, &m->vis);
        free(m->dec.L);
        return -1;
    }
    return 0;
}

/* ---- activation plan ---- */

static void plan_release(rv_kctx *k, rv_act_plan *P) {
    rv_vision_acts_release(&P->vis);
    rv_dec_acts_release(&P->dec);
    rv_kv_cache_release(&P->cache);
    rvk_buf_free(k, &P->buf);
    int builds = P->builds;
    memset(P, 0, sizeof *P);
    P->builds = builds;
}

/* Largest grid side (in tiles) among the pinpoints: bounds an anyres image's unpadded map. */
static int max_grid_side(const rv_model_cfg *c) {
    int s = 1;
    for (int i = 0; i < c->n_pinpoints; i++)
        for (int j = 0; j < 2; j++)
            if (c->pinpoints[i][j] / c->vision.image_size > s) s = c->pinpoints[i][j] / c->vision.image_size;
    return s;
}

/* Carves every buffer for lim out of ar (sizing pass when ar->base is NULL). The image-packing
 * bounds: an anyres image of t tiles has an unpadded map h x w <= (t - 1) npatch cells with
 * h <= grid (t - 1), and at most max_tiles / 2 images are anyres (>= 2 tiles each). */
static void plan_layout(const rv_vlm *m, rv_act_plan *P, rv_arena *ar, const rv_vlm_limits *lim, bool train) {
    const rv_act_mode mode = {.train = train,
                              .recompute = train && m->mem.recompute == RV_RECOMPUTE_LAYERS,
                              .ckpt_bf16 = train && m->mem.ckpt_bf16};
    const rv_model_cfg *c = &m->cfg;
    const int D = c->text.hidden, V = c->text.vocab, G = rv_vision_grid(&c->vision), NP = G * G;
    const size_t N = (size_t)lim->max_tokens, S = (size_t)lim->max_seqs, T = (size_t)lim->max_tiles;
    const size_t Y = T * NP, tile = (size_t)c->vision.channels * c->vision.image_size * c->vision.image_size;
    const size_t cells = T > 1 ? (T - 1) * NP : 1, side = (size_t)max_grid_side(c) * G;
    P->lim = *lim;
    P->train = train;
    P->actmem = train ? m->mem : (rv_vlm_memory){0};
    rv_dec_acts_layout(&m->dec, &P->dec, ar, lim->max_tokens, mode);
    P->ids_d = rv_arena_take_i32(ar, N);
    P->targets_d = rv_arena_take_i32(ar, N);
    P->pos_d = rv_arena_take_i32(ar, N);
    P->img_pos_d = rv_arena_take_i32(ar, N);
    P->cu_d = rv_arena_take_i32(ar, S + 1);
    P->loss_d = rv_arena_take(ar, N);
    P->lse_d = rv_arena_take(ar, N);
    if (train) {
        P->dloss_d = rv_arena_take(ar, N);
        P->dxf = rv_arena_take(ar, N * D);
        P->dx0 = rv_arena_take(ar, N * D);
    }
    if (T > 0) {
        rv_vision_acts_layout(m->k, &m->vis, &P->vis, ar, lim->max_tiles, mode);
        rv_proj_acts_layout(&m->proj, &P->proj, ar, (int)Y, train);
        P->pixels_d = rv_arena_take(ar, T * tile);
        P->F = rv_arena_take(ar, N * D);
        if (train) {
            P->dY = rv_arena_take(ar, Y * D);
            P->dfeat = rv_arena_take(ar, Y * c->vision.hidden);
        }
        P->pk_idx_cap = T * (2 * (size_t)NP + G);
        P->pk_R_cap = T * side * side;
        P->pk_nl_cap = (int)(T * G + 1);
        P->pk_idx = rv_arena_take_i32(ar, P->pk_idx_cap);
        P->pk_R = rv_arena_take(ar, P->pk_R_cap);
        P->pk_G = rv_arena_take(ar, cells * D);
        P->pk_T1 = rv_arena_take(ar, cells * D);
        P->pk_Gd = rv_arena_take(ar, cells * D);
        P->pk_NL = rv_arena_take(ar, (size_t)P->pk_nl_cap * D);
        P->pk_zeros = rv_arena_take_i32(ar, (size_t)P->pk_nl_cap);
    }
    if (lim->max_cache > 0) {
        rv_kv_cache_layout(&P->cache, &c->text, ar, S * (size_t)lim->max_cache);
        P->g_pos = rv_arena_take_i32(ar, N);
        P->g_rows = rv_arena_take_i32(ar, N);
        P->g_cu = rv_arena_take_i32(ar, S + 1);
        P->g_cuk = rv_arena_take_i32(ar, S + 1);
        P->g_lenk = rv_arena_take_i32(ar, S);
        P->g_last = rv_arena_take_i32(ar, S);
        P->g_ids = rv_arena_take_i32(ar, S);
        P->g_tok = rv_arena_take_i32(ar, S);
        P->g_h = rv_arena_take(ar, S * D);
        P->g_logits = rv_arena_take(ar, S * V);
    }
}

static int check_limits(const rv_vlm_limits *lim, rv_err *err) {
    if (lim->max_tokens < 1 || lim->max_seqs < 1 || lim->max_tiles < 0 || lim->max_cache < 0)
        return rv_fail(err, "activation plan: limits need max_tokens >= 1, max_seqs >= 1, max_tiles >= 0 and "
                            "max_cache >= 0 (got %d, %d, %d, %d)",
                       lim->max_tokens, lim->max_seqs, lim->max_tiles, lim->max_cache);
    return 0;
}

size_t rv_vlm_plan_bytes(const rv_vlm *m, const rv_vlm_limits *lim) {
    rv_act_plan P;
    memset(&P, 0, sizeof P);
    rv_arena ar = {0};
    plan_layout(m, &P, &ar, lim, m->grads);
    rv_vision_acts_release(&P.vis);
    rv_dec_acts_release(&P.dec);
    rv_kv_cache_release(&P.cache);
    return ar.used * sizeof(float);
}

int rv_vlm_plan(rv_vlm *m, const rv_vlm_limits *lim, rv_err *err) {
    if (check_limits(lim, err)) return -1;
    if (m->plan && m->plan->live)
        return rv_fail(err, "activation plan: a pass is still live; rv_vlm_pass_free it before re-planning");
    if (!m->plan) m->plan = rv_xcalloc(1, sizeof *m->plan);
    rv_act_plan *P = m->plan;
    plan_release(m->k, P);
    rv_arena ar = {0};
    plan_layout(m, P, &ar, lim, m->grads);      /* sizing pass */
    rv_vision_acts_release(&P->vis);
    rv_dec_acts_release(&P->dec);
    rv_kv_cache_release(&P->cache);
    P->floats = ar.used;
    if (rvk_buf_alloc(m->k, &P->buf, RVK_MEM_DEVICE, RVK_F32, P->floats ? P->floats : 1, err))
        return rv_fail_wrap(err, "activation plan (%d tokens, %d tiles, %d sequences, cache %d)", lim->max_tokens,
                            lim->max_tiles, lim->max_seqs, lim->max_cache);
    P->mem = rvk_buf_f32(&P->buf);
    P->builds++;
    ar = (rv_arena){.base = P->mem};
    plan_layout(m, P, &ar, lim, m->grads);
    if (P->pk_zeros) { /* the newline rows' gather ids: written once, never changed */
        int32_t *z = rv_xcalloc((size_t)P->pk_nl_cap, sizeof *z);
        rvk_upload_i32(m->k, P->pk_zeros, z, (size_t)P->pk_nl_cap);
        free(z);
    }
    return 0;
}

int rv_vlm_plan_fit(rv_vlm *m, int tokens, int tiles, int seqs, int cache, rv_err *err) {
    rv_act_plan *P = m->plan;
    if (P && P->live)
        return rv_fail(err, "model: a forward pass is still live; rv_vlm_pass_free it before the next forward or "
                            "generate call (the activation plan's buffers are reused)");
    if (P && P->mem && tokens <= P->lim.max_tokens && tiles <= P->lim.max_tiles && seqs <= P->lim.max_seqs &&
        cache <= P->lim.max_cache)
        return 0;
    rv_vlm_limits want = {.max_tokens = tokens, .max_tiles = tiles, .max_seqs = seqs, .max_cache = cache};
    if (P && P->mem) {
        const rv_vlm_limits *h = &P->lim;
        if (h->fixed)
            return rv_fail(err, "model: the batch needs %d tokens, %d image tiles, %d sequences and %d cache rows per "
                                "sequence, but the activation plan is fixed at %d, %d, %d and %d; raise the limits "
                                "given to rv_vlm_plan (or make the batch smaller)",
                           tokens, tiles, seqs, cache, h->max_tokens, h->max_tiles, h->max_seqs, h->max_cache);
        want.max_tokens = tokens > h->max_tokens ? tokens : h->max_tokens;
        want.max_tiles = tiles > h->max_tiles ? tiles : h->max_tiles;
        want.max_seqs = seqs > h->max_seqs ? seqs : h->max_seqs;
        want.max_cache = cache > h->max_cache ? cache : h->max_cache;
    }
    return rv_vlm_plan(m, &want, err);
}

void rv_vlm_plan_get(const rv_vlm *m, rv_vlm_plan_info *out) {
    memset(out, 0, sizeof *out);
    if (!m->plan) return;
    out->lim = m->plan->lim;
    out->bytes = m->plan->floats * sizeof(float);
    out->builds = m->plan->builds;
    out->train = m->plan->train;
    out->mem = m->plan->actmem;
}

int rv_vlm_memory_parse(const char *recompute, const char *dtype, rv_vlm_memory *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    if (!strcmp(recompute, "layers"))
        out->recompute = RV_RECOMPUTE_LAYERS;
    else if (strcmp(recompute, "none"))
        return rv_fail(err, "compute.recompute = '%s': use none or layers", recompute);
    if (!strcmp(dtype, "bf16"))
        out->ckpt_bf16 = true;
    else if (strcmp(dtype, "f32"))
        return rv_fail(err, "compute.activation_dtype = '%s': use f32 or bf16", dtype);
    if (out->ckpt_bf16 && out->recompute != RV_RECOMPUTE_LAYERS)
        return rv_fail(err, "compute.activation_dtype = bf16 stores the layer checkpoints of recomputation: it needs "
                            "compute.recompute = layers (got '%s')", recompute);
    return 0;
}

int rv_vlm_set_memory(rv_vlm *m, const rv_vlm_memory *o, rv_err *err) {
    if (o->recompute != RV_RECOMPUTE_NONE && o->recompute != RV_RECOMPUTE_LAYERS)
        return rv_fail(err, "model: unknown recompute mode %d", (int)o->recompute);
    if (o->ckpt_bf16 && o->recompute != RV_RECOMPUTE_LAYERS)
        return rv_fail(err, "model: bf16 activation checkpoints (compute.activation_dtype = bf16) need "
                            "compute.recompute = layers");
    if (m->plan && m->plan->live)
        return rv_fail(err, "model: a pass is still live; rv_vlm_pass_free it before changing the activation memory");
    m->mem = *o;
    rv_act_plan *P = m->plan;
    if (!P || !P->mem || !P->train || (P->actmem.recompute == o->recompute && P->actmem.ckpt_bf16 == o->ckpt_bf16))
        return 0;
    rv_vlm_limits lim = P->lim; /* the layout changes: rebuild with the same limits */
    return rv_vlm_plan(m, &lim, err);
}

void rv_vlm_free(rv_vlm *m) {
    if (m->plan) {
        plan_release(m->k, m->plan);
        free(m->plan);
    }
    rv_vision_unbind(m->k, &m->vis);
    free(m->dec.L);
    memset(m, 0, sizeof *m);
}

/* ---- passes ---- */

struct rv_vlm_pass {
    int n, N;
    bool keep;
    int *off, *len;            /* host [n+1], [n] */
    int32_t *targets_h;        /* host [N] */
    float **logp;              /* host per sample [len] */
    /* images */
    int n_images, n_tiles, img_rows;
    img_plan *plans;
    const float **R1_d, **R2_d; /* per image: its bilinear matrices in the plan (NULL without the cap) */
    const int32_t **idx_d;     /* per image: grid_src, cell_dst, nl_dst in the plan, back to back */
    int32_t *cu_h;             /* host [n+1] sequence offsets (as uploaded to the plan's cu_d) */
};

/* The decoder's view of the pass's packed sequences (device arrays in the plan, host offsets). */
static rv_dec_seqs pass_seqs(const rv_act_plan *P, const rv_vlm_pass *p) {
    return (rv_dec_seqs){.nseq = p->n, .pos = P->pos_d, .cu = P->cu_d, .host_cu = p->cu_h};
}

/* Image i's index arrays on the device: grid_src [h*w], cell_dst [h2*w2], nl_dst [h2]. */
static const int32_t *img_src_d(const rv_vlm_pass *p, int i) { return p->idx_d[i]; }
static const int32_t *img_dst_d(const rv_vlm_pass *p, int i) {
    return p->idx_d[i] + (size_t)p->plans[i].h * p->plans[i].w;
}
static const int32_t *img_nl_d(const rv_vlm_pass *p, int i) {
    return img_dst_d(p, i) + (size_t)p->plans[i].h2 * p->plans[i].w2;
}

/* Uploads every anyres image's index arrays and bilinear matrices into the plan, once per batch
 * (the backward reuses them). */
static int upload_packing(rv_vlm *m, rv_vlm_pass *p, rv_err *err) {
    rv_kctx *k = m->k;
    rv_act_plan *P = m->plan;
    size_t ni = 0, nr = 0;
    p->idx_d = rv_xcalloc((size_t)p->n_images, sizeof *p->idx_d);
    p->R1_d = rv_xcalloc((size_t)p->n_images, sizeof *p->R1_d);
    p->R2_d = rv_xcalloc((size_t)p->n_images, sizeof *p->R2_d);
    for (int i = 0; i < p->n_images; i++) {
        const img_plan *q = &p->plans[i];
        if (q->n_tiles == 1) continue;
        size_t a = (size_t)q->h * q->w, b = (size_t)q->h2 * q->w2, r1 = (size_t)q->h2 * q->h, r2 = (size_t)q->w2 * q->w;
        if (ni + a + b + q->h2 > P->pk_idx_cap || (q->R1 && nr + r1 + r2 > P->pk_R_cap) || q->h2 + 1 > P->pk_nl_cap ||
            a > (size_t)(P->lim.max_tiles - 1) * m->vis.npatch)
            return rv_fail(err, "image packing: image %d (%dx%d cells) exceeds the activation plan's packing buffers "
                                "(an internal bound is wrong; please report)", i, q->h, q->w);
        int32_t *d = P->pk_idx + ni;
        rvk_upload_i32(k, d, q->grid_src, a);
        rvk_upload_i32(k, d + a, q->cell_dst, b);
        rvk_upload_i32(k, d + a + b, q->nl_dst, (size_t)q->h2);
        p->idx_d[i] = d;
        ni += a + b + q->h2;
        if (q->R1) {
            rvk_upload(k, P->pk_R + nr, q->R1, r1);
            rvk_upload(k, P->pk_R + nr + r1, q->R2, r2);
            p->R1_d[i] = P->pk_R + nr;
            p->R2_d[i] = P->pk_R + nr + r1;
            nr += r1 + r2;
        }
    }
    return 0;
}

/* Builds image q's rows Fi [rows, D] from projected features Y. */
static int pack_image_fwd(rv_vlm *m, const rv_vlm_pass *pp, int q, const float *Y, int Yrows, float *Fi,
                          rv_err *err) {
    rv_kctx *k = m->k;
    rv_act_plan *P = m->plan;
    const img_plan *p = &pp->plans[q];
    const int D = m->cfg.text.hidden, NP = m->vis.npatch;
    const float *nl = rv_weights_param(m->w, "image_newline");
    rvk_copy(k, Fi, Y + (size_t)p->tile0 * NP * D, (size_t)NP * D);
    if (p->n_tiles == 1) {
        rvk_copy(k, Fi + (size_t)NP * D, nl, (size_t)D);
        return 0;
    }
    float *G = P->pk_G, *Gd = G, *T1 = P->pk_T1, *NL = P->pk_NL;
    if (rvk_embedding_fwd(k, G, Y, img_src_d(pp, q), p->h * p->w, D, Yrows, err)) return -1;
    if (p->R1) {
        const float *R1 = pp->R1_d[q], *R2 = pp->R2_d[q];
        Gd = P->pk_Gd;
        /* rows: T1[h2, w*D] = R1 G ; columns: Gd[i] [w2, D] = R2 T1[i] */
        rvk_gemm(k, 0, 0, p->h2, p->w * D, p->h, 1.0f, R1, p->h, G, p->w * D, 0.0f, T1, p->w * D);
        for (int i = 0; i < p->h2; i++)
            rvk_gemm(k, 0, 0, p->w2, D, p->w, 1.0f, R2, p->w, T1 + (size_t)i * p->w * D, D, 0.0f,
                     Gd + (size_t)i * p->w2 * D, D);
    }
    if (rvk_rows_scatter(k, Fi, img_dst_d(pp, q), Gd, p->h2 * p->w2, D, p->rows, err) ||
        rvk_embedding_fwd(k, NL, nl, P->pk_zeros, p->h2, D, 1, err) ||
        rvk_rows_scatter(k, Fi, img_nl_d(pp, q), NL, p->h2, D, p->rows, err))
        return -1;
    return 0;
}

/* dFi [rows, D] of image q -> dY (accumulated) and the image_newline gradient. */
static int pack_image_bwd(rv_vlm *m, const rv_vlm_pass *pp, int q, const float *dFi, float *dY, int Yrows,
                          rv_err *err) {
    rv_kctx *k = m->k;
    rv_act_plan *P = m->plan;
    const img_plan *p = &pp->plans[q];
    const int D = m->cfg.text.hidden, NP = m->vis.npatch;
    float *dnl = rv_weights_grad(m->w, "image_newline");
    rvk_axpy(k, dY + (size_t)p->tile0 * NP * D, 1.0f, dFi, (size_t)NP * D);
    if (p->n_tiles == 1) {
        rvk_axpy(k, dnl, 1.0f, dFi + (size_t)NP * D, (size_t)D);
        return 0;
    }
    float *dGd = P->pk_Gd, *dNL = P->pk_NL, *dG = dGd, *dT1 = P->pk_T1;
    if (rvk_embedding_fwd(k, dGd, dFi, img_dst_d(pp, q), p->h2 * p->w2, D, p->rows, err) ||
        rvk_embedding_fwd(k, dNL, dFi, img_nl_d(pp, q), p->h2, D, p->rows, err) ||
        rvk_embedding_bwd(k, dnl, dNL, P->pk_zeros, p->h2, D, 1, err))
        return -1;
    if (p->R1) {
        const float *R1 = pp->R1_d[q], *R2 = pp->R2_d[q];
        dG = P->pk_G;
        for (int i = 0; i < p->h2; i++)
            rvk_gemm(k, 1, 0, p->w, D, p->w2, 1.0f, R2, p->w, dGd + (size_t)i * p->w2 * D, D, 0.0f,
                     dT1 + (size_t)i * p->w * D, D);
        rvk_gemm(k, 1, 0, p->h, p->w * D, p->h2, 1.0f, R1, p->h, dT1, p->w * D, 0.0f, dG, p->w * D);
    }
    return rvk_embedding_bwd(k, dY, dG, img_src_d(pp, q), p->h * p->w, D, Yrows, err);
}

void rv_vlm_pass_free(rv_vlm *m, rv_vlm_pass *p) {
    if (!p) return;
    if (m->plan) m->plan->live = false;
    for (int i = 0; p->logp && i < p->n; i++) free(p->logp[i]);
    free(p->logp);
    free(p->off);
    free(p->len);
    free(p->targets_h);
    free(p->cu_h);
    for (int i = 0; p->plans && i < p->n_images; i++) plan_free(&p->plans[i]);
    free(p->plans);
    free(p->idx_d);
    free(p->R1_d);
    free(p->R2_d);
    free(p);
}

/* Tiles of n samples (checked >= 1 per image). */
static int count_tiles(const rv_sample *s, int n, int *tiles, rv_err *err) {
    *tiles = 0;
    for (int i = 0; i < n; i++)
        for (int q = 0; q < s[i].n_images; q++) {
            if (s[i].images[q].n_tiles < 1) return rv_fail(err, "sample %d image %d: n_tiles must be >= 1", i, q);
            *tiles += s[i].images[q].n_tiles;
        }
    return 0;
}

/* Embeds the packed stream into the plan's dec.x[0] [N, D]: token rows, then image rows at the
 * placeholder positions. */
static int embed_stream(rv_vlm *m, rv_vlm_pass *p, const rv_sample *s, rv_err *err) {
    rv_kctx *k = m->k;
    rv_act_plan *P = m->plan;
    float *x0 = P->dec.x[0];
    const int D = m->cfg.text.hidden, V = m->cfg.text.vocab, img_id = m->cfg.image_token_id;
    const int NP = m->vis.npatch;
    const size_t tile = (size_t)m->cfg.vision.channels * m->cfg.vision.image_size * m->cfg.vision.image_size;
    int32_t *ids_emb = rv_xmalloc((size_t)p->N * sizeof *ids_emb);
    int32_t *img_pos = rv_xmalloc((size_t)(p->N > 0 ? p->N : 1) * sizeof *img_pos);
    int n_ph = 0;
    for (int i = 0; i < p->n; i++)
        for (int t = 0; t < s[i].len; t++) {
            int32_t id = s[i].ids[t];
            if (id < 0 || id >= V) {
                free(ids_emb);
                free(img_pos);
                return rv_fail(err, "sample %d position %d: token id %d is outside the vocabulary [0, %d)", i, t, id,
                               V);
            }
            int g = p->off[i] + t;
            if (id == img_id) {
                ids_emb[g] = -1;
                img_pos[n_ph++] = g;
            } else {
                ids_emb[g] = id;
            }
        }
    /* image plans and the expected row count */
    p->n_images = 0;
    p->n_tiles = 0;
    for (int i = 0; i < p->n; i++) p->n_images += s[i].n_images;
    p->plans = rv_xcalloc((size_t)(p->n_images > 0 ? p->n_images : 1), sizeof *p->plans);
    int rc = 0, j = 0;
    p->img_rows = 0;
    for (int i = 0; i < p->n && !rc; i++)
        for (int q = 0; q < s[i].n_images && !rc; q++, j++) {
            const rv_vlm_image *im = &s[i].images[q];
            if (im->n_tiles < 1) {
                rc = rv_fail(err, "sample %d image %d: n_tiles must be >= 1", i, q);
                break;
            }
            if (plan_image(&m->cfg, im->n_tiles, im->orig_h, im->orig_w, p->n_tiles, &p->plans[j], true, err)) {
                rc = rv_fail_wrap(err, "sample %d image %d", i, q);
                break;
            }
            p->plans[j].row0 = p->img_rows;
            p->img_rows += p->plans[j].rows;
            p->n_tiles += im->n_tiles;
        }
    if (!rc && n_ph != p->img_rows)
        rc = rv_fail(err, "batch: %d image placeholder tokens (id %d) but the images need %d rows; expand each "
                          "<image> with rv_loader_expand_placeholders", n_ph, img_id, p->img_rows);
    if (rc) {
        free(ids_emb);
        free(img_pos);
        return -1;
    }
    rvk_upload_i32(k, P->ids_d, ids_emb, (size_t)p->N);
    free(ids_emb);
    if (rvk_embedding_fwd(k, x0, m->dec.embed.p, P->ids_d, p->N, D, V, err)) {
        free(img_pos);
        return -1;
    }
    if (p->n_images == 0) {
        free(img_pos);
        return 0;
    }
    rvk_upload_i32(k, P->img_pos_d, img_pos, (size_t)p->img_rows);
    free(img_pos);
    if (upload_packing(m, p, err)) return -1;
    /* vision + projector over all tiles of the batch */
    size_t at = 0;
    for (int i = 0; i < p->n; i++)
        for (int q = 0; q < s[i].n_images; q++) {
            const rv_vlm_image *im = &s[i].images[q];
            rvk_upload(k, P->pixels_d + at, im->tiles, (size_t)im->n_tiles * tile);
            at += (size_t)im->n_tiles * tile;
        }
    if (rv_vision_forward(k, &m->vis, P->pixels_d, p->n_tiles, &P->vis, err)) return -1;
    const int Yrows = p->n_tiles * NP;
    rv_projector_forward(k, &m->proj, P->vis.feat, Yrows, &P->proj);
    for (int q = 0; q < p->n_images && !rc; q++)
        rc = pack_image_fwd(m, p, q, P->proj.y, Yrows, P->F + (size_t)p->plans[q].row0 * D, err);
    if (!rc) rc = rvk_rows_scatter(k, x0, P->img_pos_d, P->F, p->img_rows, D, p->N, err);
    return rc;
}

/* Host part of a pass: offsets and lengths of n samples (length 1..max_pos). */
static rv_vlm_pass *pass_new(const rv_vlm *m, const rv_sample *s, int n, bool keep, rv_err *err) {
    rv_vlm_pass *p = rv_xcalloc(1, sizeof *p);
    p->n = n;
    p->keep = keep;
    p->off = rv_xmalloc((size_t)(n + 1) * sizeof *p->off);
    p->len = rv_xmalloc((size_t)n * sizeof *p->len);
    p->off[0] = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].len < 1 || s[i].len > m->cfg.text.max_pos) {
            rv_fail(err, "sample %d: length %d must be in 1..%d (max_position_embeddings)", i, s[i].len,
                    m->cfg.text.max_pos);
            free(p->off);
            free(p->len);
            free(p);
            return NULL;
        }
        p->len[i] = s[i].len;
        p->off[i + 1] = p->off[i] + s[i].len;
    }
    p->N = p->off[n];
    return p;
}

int rv_vlm_forward(rv_vlm *m, const rv_sample *s, int n, bool keep, rv_vlm_pass **out, rv_err *err) {
    rv_kctx *k = m->k;
    *out = NULL;
    if (n <= 0) return rv_fail(err, "model forward: empty batch");
    if (keep && !m->grads) return rv_fail(err, "model forward: keep=true needs a model initialised with gradients");
    int tiles;
    rv_vlm_pass *p = pass_new(m, s, n, keep, err);
    if (!p) return -1;
    if (count_tiles(s, n, &tiles, err) || rv_vlm_plan_fit(m, p->N, tiles, n, 0, err)) {
        rv_vlm_pass_free(m, p);
        return -1;
    }
    rv_act_plan *P = m->plan;
    P->live = true;
    const int N = p->N, D = m->cfg.text.hidden, V = m->cfg.text.vocab;
    int32_t *pos = rv_xmalloc((size_t)N * sizeof *pos);
    p->targets_h = rv_xmalloc((size_t)N * sizeof *p->targets_h);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < s[i].len; t++) {
            int g = p->off[i] + t;
            pos[g] = t;
            int tg = -1;
            if (t + 1 < s[i].len) {
                bool on = s[i].mask ? s[i].mask[t + 1] != 0 : s[i].ids[t + 1] != m->cfg.image_token_id;
                if (on) tg = s[i].ids[t + 1];
            }
            p->targets_h[g] = tg;
        }
    rvk_upload_i32(k, P->pos_d, pos, (size_t)N);
    free(pos);
    rvk_upload_i32(k, P->targets_d, p->targets_h, (size_t)N);
    p->cu_h = rv_xmalloc((size_t)(n + 1) * sizeof *p->cu_h);
    for (int i = 0; i <= n; i++) p->cu_h[i] = p->off[i];
    rvk_upload_i32(k, P->cu_d, p->cu_h, (size_t)n + 1);
    const rv_dec_seqs sq = pass_seqs(P, p);

    if (embed_stream(m, p, s, err) || rv_decoder_forward(k, &m->dec, &sq, N, &P->dec, keep, NULL, err) ||
        rvk_xent_fwd(k, P->loss_d, P->lse_d, P->dec.xf, m->dec.lm_head.p, P->targets_d, N, D, V, err)) {
        rv_vlm_pass_free(m, p);
        return -1;
    }
    float *loss = rv_xmalloc((size_t)N * sizeof *loss);
    rvk_download(k, loss, P->loss_d, (size_t)N);
    p->logp = rv_xcalloc((size_t)n, sizeof *p->logp);
    for (int i = 0; i < n; i++) {
        p->logp[i] = rv_xcalloc((size_t)s[i].len, sizeof(float));
        for (int t = 1; t < s[i].len; t++)
            if (p->targets_h[p->off[i] + t - 1] >= 0) p->logp[i][t] = -loss[p->off[i] + t - 1];
    }
    free(loss);
    *out = p;
    return 0;
}

int rv_vlm_embed(rv_vlm *m, const rv_sample *s, int n, float *x0, rv_err *err) {
    int tiles;
    if (n <= 0) return rv_fail(err, "model embed: empty batch");
    rv_vlm_pass *p = pass_new(m, s, n, false, err);
    if (!p) return -1;
    int rc = count_tiles(s, n, &tiles, err) || rv_vlm_plan_fit(m, p->N, tiles, n, 0, err) ? -1 : 0;
    if (!rc) {
        m->plan->live = true;
        rc = embed_stream(m, p, s, err);
        if (!rc && x0 != m->plan->dec.x[0]) rvk_copy(m->k, x0, m->plan->dec.x[0], (size_t)p->N * m->cfg.text.hidden);
    }
    rv_vlm_pass_free(m, p);
    return rc;
}

const float *rv_vlm_pass_logp(const rv_vlm_pass *p, int i) { return (i >= 0 && i < p->n) ? p->logp[i] : NULL; }

int rv_vlm_pass_logits(rv_vlm *m, const rv_vlm_pass *p, int i, float *out, rv_err *err) {
    if (i < 0 || i >= p->n) return rv_fail(err, "logits: sample %d is not in the batch of %d", i, p->n);
    const int D = m->cfg.text.hidden, V = m->cfg.text.vocab, L = p->len[i];
    /* full [L, V] logits are an inspection/eval tool, not a step: a one-off buffer */
    rvk_buf lg;
    if (rvk_buf_alloc(m->k, &lg, RVK_MEM_DEVICE, RVK_F32, (size_t)L * V, err))
        return rv_fail_wrap(err, "logits of sample %d (%d tokens x %d vocabulary)", i, L, V);
    rvk_matmul_fwd(m->k, rvk_buf_f32(&lg), m->plan->dec.xf + (size_t)p->off[i] * D, m->dec.lm_head.p, NULL, L, D, V);
    rvk_download(m->k, out, rvk_buf_f32(&lg), (size_t)L * V);
    rvk_buf_free(m->k, &lg);
    return 0;
}

int rv_vlm_backward(rv_vlm *m, rv_vlm_pass *p, const float *const *dlogp, rv_err *err) {
    rv_kctx *k = m->k;
    rv_act_plan *P = m->plan;
    if (!p->keep) return rv_fail(err, "model backward: the forward ran with keep=false");
    const int N = p->N, D = m->cfg.text.hidden, V = m->cfg.text.vocab;
    float *dloss = rv_xcalloc((size_t)N, sizeof *dloss);
    for (int i = 0; i < p->n; i++)
        for (int t = 1; t < p->len[i]; t++) {
            int g = p->off[i] + t - 1;
            if (p->targets_h[g] >= 0) dloss[g] = -dlogp[i][t]; /* loss_t = -logp */
        }
    rvk_upload(k, P->dloss_d, dloss, (size_t)N);
    free(dloss);
    float *dxf = P->dxf, *dx0 = P->dx0;
    int rc = rvk_xent_bwd(k, dxf, m->dec.lm_head.g, P->dec.xf, m->dec.lm_head.p, P->targets_d, P->lse_d, P->dloss_d,
                          N, D, V, 0, err);
    const rv_dec_seqs sq = pass_seqs(P, p);
    if (!rc) rc = rv_decoder_backward(k, &m->dec, &P->dec, &sq, dxf, dx0, err);
    if (!rc) rc = rvk_embedding_bwd(k, m->dec.embed.g, dx0, P->ids_d, N, D, V, err);
    if (!rc && p->n_images > 0) {
        const int Yrows = p->n_tiles * m->vis.npatch;
        float *dF = P->F, *dY = P->dY, *dfeat = P->dfeat;
        rvk_fill(k, dY, 0.0f, (size_t)Yrows * D); /* the packing backward accumulates into dY */
        rc = rvk_embedding_fwd(k, dF, dx0, P->img_pos_d, p->img_rows, D, N, err);
        for (int q = 0; q < p->n_images && !rc; q++)
            rc = pack_image_bwd(m, p, q, dF + (size_t)p->plans[q].row0 * D, dY, Yrows, err);
        if (!rc) {
            rv_projector_backward(k, &m->proj, &P->proj, dY, dfeat);
            rc = rv_vision_backward(k, &m->vis, &P->vis, dfeat, err);
        }
    }
    return rc;
}

double rv_vlm_sft_dlogp(const rv_vlm_pass *p, int i, float weight, float *dlogp) {
    int L = p->len[i], nt = 0;
    double sum = 0;
    for (int t = 1; t < L; t++)
        if (p->targets_h[p->off[i] + t - 1] >= 0) {
            nt++;
            sum -= p->logp[i][t];
        }
    memset(dlogp, 0, (size_t)L * sizeof *dlogp);
    if (nt == 0) return 0.0;
    for (int t = 1; t < L; t++)
        if (p->targets_h[p->off[i] + t - 1] >= 0) dlogp[t] = -weight / (float)nt;
    return sum / nt;
}

int rv_vlm_sft_step(rv_vlm *m, const rv_sample *s, int n, double *loss, rv_err *err) {
    rv_vlm_pass *p;
    if (rv_vlm_forward(m, s, n, true, &p, err)) return -1;
    float **d = rv_xmalloc((size_t)n * sizeof *d);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        d[i] = rv_xmalloc((size_t)s[i].len * sizeof(float));
        sum += rv_vlm_sft_dlogp(p, i, 1.0f / (float)n, d[i]);
    }
    int rc = rv_vlm_backward(m, p, (const float *const *)d, err);
    for (int i = 0; i < n; i++) free(d[i]);
    free(d);
    rv_vlm_pass_free(m, p);
    *loss = sum / n;
    return rc;
}
