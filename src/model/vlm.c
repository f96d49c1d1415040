/* Joins vision tower, projector and decoder: image packing (model.md §5.2: base tile, anyres
 * stitch, unpad, anyres_max cap by bilinear downscale, newline column), placement of image rows
 * at the placeholder positions, packed multi-sample batches, per-token log-probs and the
 * backward pass. */
#include "model/vlm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

void rv_vlm_free(rv_vlm *m) {
    rv_vision_unbind(m->k, &m->vis);
    free(m->dec.L);
    memset(m, 0, sizeof *m);
}

struct rv_vlm_pass {
    int n, N;
    bool keep;
    int *off, *len;            /* host [n+1], [n] */
    int32_t *targets_h;        /* host [N] */
    float **logp;              /* host per sample [len] */
    int32_t *ids_d, *targets_d, *pos_d, *cu_d;
    float *loss_d, *lse_d;
    rv_dec_acts dec;
    /* images */
    int n_images, n_tiles, img_rows;
    img_plan *plans;
    int32_t *img_pos_d;        /* [img_rows] stream position of each image row */
    bool has_vis;
    rv_vis_acts vis;
    rv_proj_acts proj;
    float *pixels_d;
};

static int32_t *up_i32(rv_kctx *k, const int32_t *h, size_t n) {
    int32_t *d = rvk_alloc_i32(k, n ? n : 1);
    if (n) rvk_upload_i32(k, d, h, n);
    return d;
}

static float *up_f32(rv_kctx *k, const float *h, size_t n) {
    float *d = rvk_alloc(k, n ? n : 1);
    if (n) rvk_upload(k, d, h, n);
    return d;
}

/* Builds one image's rows Fi [rows, D] from projected features Y. */
static int pack_image_fwd(rv_vlm *m, const img_plan *p, const float *Y, int Yrows, float *Fi, rv_err *err) {
    rv_kctx *k = m->k;
    const int D = m->cfg.text.hidden, P = m->vis.npatch;
    const float *nl = rv_weights_param(m->w, "image_newline");
    rvk_copy(k, Fi, Y + (size_t)p->tile0 * P * D, (size_t)P * D);
    if (p->n_tiles == 1) {
        rvk_copy(k, Fi + (size_t)P * D, nl, (size_t)D);
        return 0;
    }
    int rc = 0;
    int32_t *src = up_i32(k, p->grid_src, (size_t)p->h * p->w);
    int32_t *dst = up_i32(k, p->cell_dst, (size_t)p->h2 * p->w2);
    int32_t *nld = up_i32(k, p->nl_dst, (size_t)p->h2);
    int32_t *zeros = rvk_alloc_i32(k, (size_t)p->h2 + 1);
    float *G = rvk_alloc(k, (size_t)p->h * p->w * D);
    float *Gd = G, *T1 = NULL, *R1 = NULL, *R2 = NULL;
    float *NL = rvk_alloc(k, (size_t)(p->h2 + 1) * D);
    if (rvk_embedding_fwd(k, G, Y, src, p->h * p->w, D, Yrows, err)) rc = -1;
    if (!rc && p->R1) {
        R1 = up_f32(k, p->R1, (size_t)p->h2 * p->h);
        R2 = up_f32(k, p->R2, (size_t)p->w2 * p->w);
        T1 = rvk_alloc(k, (size_t)p->h2 * p->w * D);
        Gd = rvk_alloc(k, (size_t)p->h2 * p->w2 * D);
        /* rows: T1[h2, w*D] = R1 G ; columns: Gd[i] [w2, D] = R2 T1[i] */
        rvk_gemm(k, 0, 0, p->h2, p->w * D, p->h, 1.0f, R1, p->h, G, p->w * D, 0.0f, T1, p->w * D);
        for (int i = 0; i < p->h2; i++)
            rvk_gemm(k, 0, 0, p->w2, D, p->w, 1.0f, R2, p->w, T1 + (size_t)i * p->w * D, D, 0.0f,
                     Gd + (size_t)i * p->w2 * D, D);
    }
    if (!rc && (rvk_rows_scatter(k, Fi, dst, Gd, p->h2 * p->w2, D, p->rows, err) ||
                rvk_embedding_fwd(k, NL, nl, zeros, p->h2, D, 1, err) ||
                rvk_rows_scatter(k, Fi, nld, NL, p->h2, D, p->rows, err)))
        rc = -1;
    if (Gd != G) rvk_free(k, Gd);
    if (T1) rvk_free(k, T1);
    if (R1) rvk_free(k, R1);
    if (R2) rvk_free(k, R2);
    rvk_free(k, G);
    rvk_free(k, NL);
    rvk_free(k, src);
    rvk_free(k, dst);
    rvk_free(k, nld);
    rvk_free(k, zeros);
    return rc;
}

/* dFi [rows, D] -> dY (accumulated) and the image_newline gradient. */
static int pack_image_bwd(rv_vlm *m, const img_plan *p, const float *dFi, float *dY, int Yrows, rv_err *err) {
    rv_kctx *k = m->k;
    const int D = m->cfg.text.hidden, P = m->vis.npatch;
    float *dnl = rv_weights_grad(m->w, "image_newline");
    rvk_axpy(k, dY + (size_t)p->tile0 * P * D, 1.0f, dFi, (size_t)P * D);
    if (p->n_tiles == 1) {
        rvk_axpy(k, dnl, 1.0f, dFi + (size_t)P * D, (size_t)D);
        return 0;
    }
    int rc = 0;
    int32_t *src = up_i32(k, p->grid_src, (size_t)p->h * p->w);
    int32_t *dst = up_i32(k, p->cell_dst, (size_t)p->h2 * p->w2);
    int32_t *nld = up_i32(k, p->nl_dst, (size_t)p->h2);
    int32_t *zeros = rvk_alloc_i32(k, (size_t)p->h2 + 1);
    float *dGd = rvk_alloc(k, (size_t)p->h2 * p->w2 * D);
    float *dNL = rvk_alloc(k, (size_t)(p->h2 + 1) * D);
    float *dG = dGd, *dT1 = NULL, *R1 = NULL, *R2 = NULL;
    if (rvk_embedding_fwd(k, dGd, dFi, dst, p->h2 * p->w2, D, p->rows, err) ||
        rvk_embedding_fwd(k, dNL, dFi, nld, p->h2, D, p->rows, err) ||
        rvk_embedding_bwd(k, dnl, dNL, zeros, p->h2, D, 1, err))
        rc = -1;
    if (!rc && p->R1) {
        R1 = up_f32(k, p->R1, (size_t)p->h2 * p->h);
        R2 = up_f32(k, p->R2, (size_t)p->w2 * p->w);
        dT1 = rvk_alloc(k, (size_t)p->h2 * p->w * D);
        dG = rvk_alloc(k, (size_t)p->h * p->w * D);
        for (int i = 0; i < p->h2; i++)
            rvk_gemm(k, 1, 0, p->w, D, p->w2, 1.0f, R2, p->w, dGd + (size_t)i * p->w2 * D, D, 0.0f,
                     dT1 + (size_t)i * p->w * D, D);
        rvk_gemm(k, 1, 0, p->h, p->w * D, p->h2, 1.0f, R1, p->h, dT1, p->w * D, 0.0f, dG, p->w * D);
    }
    if (!rc && rvk_embedding_bwd(k, dY, dG, src, p->h * p->w, D, Yrows, err)) rc = -1;
    if (dG != dGd) rvk_free(k, dG);
    if (dT1) rvk_free(k, dT1);
    if (R1) rvk_free(k, R1);
    if (R2) rvk_free(k, R2);
    rvk_free(k, dGd);
    rvk_free(k, dNL);
    rvk_free(k, src);
    rvk_free(k, dst);
    rvk_free(k, nld);
    rvk_free(k, zeros);
    return rc;
}

void rv_vlm_pass_free(rv_vlm *m, rv_vlm_pass *p) {
    if (!p) return;
    rv_kctx *k = m->k;
    for (int i = 0; p->logp && i < p->n; i++) free(p->logp[i]);
    free(p->logp);
    free(p->off);
    free(p->len);
    free(p->targets_h);
    int32_t *iv[] = {p->ids_d, p->targets_d, p->pos_d, p->cu_d, p->img_pos_d};
    for (size_t i = 0; i < sizeof iv / sizeof *iv; i++)
        if (iv[i]) rvk_free(k, iv[i]);
    if (p->loss_d) rvk_free(k, p->loss_d);
    if (p->lse_d) rvk_free(k, p->lse_d);
    if (p->pixels_d) rvk_free(k, p->pixels_d);
    rv_dec_acts_free(k, &m->dec, &p->dec);
    if (p->has_vis) {
        rv_vision_acts_free(k, &m->vis, &p->vis);
        rv_proj_acts_free(k, &p->proj);
    }
    for (int i = 0; p->plans && i < p->n_images; i++) plan_free(&p->plans[i]);
    free(p->plans);
    free(p);
}

/* Embeds the packed stream: token rows, then image rows at the placeholder positions. x0 [N, D]. */
static int embed_stream(rv_vlm *m, rv_vlm_pass *p, const rv_sample *s, float *x0, rv_err *err) {
    rv_kctx *k = m->k;
    const int D = m->cfg.text.hidden, V = m->cfg.text.vocab, img_id = m->cfg.image_token_id;
    const int P = m->vis.npatch;
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
            const rv_image *im = &s[i].images[q];
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
    p->ids_d = up_i32(k, ids_emb, (size_t)p->N);
    free(ids_emb);
    if (rvk_embedding_fwd(k, x0, m->dec.embed.p, p->ids_d, p->N, D, V, err)) {
        free(img_pos);
        return -1;
    }
    if (p->n_images == 0) {
        free(img_pos);
        return 0;
    }
    p->img_pos_d = up_i32(k, img_pos, (size_t)p->img_rows);
    free(img_pos);
    /* vision + projector over all tiles of the batch */
    p->pixels_d = rvk_alloc(k, (size_t)p->n_tiles * tile);
    size_t at = 0;
    for (int i = 0; i < p->n; i++)
        for (int q = 0; q < s[i].n_images; q++) {
            const rv_image *im = &s[i].images[q];
            rvk_upload(k, p->pixels_d + at, im->tiles, (size_t)im->n_tiles * tile);
            at += (size_t)im->n_tiles * tile;
        }
    p->has_vis = true;
    if (rv_vision_forward(k, &m->vis, p->pixels_d, p->n_tiles, &p->vis, err)) return -1;
    const int Yrows = p->n_tiles * P;
    rv_projector_forward(k, &m->proj, p->vis.feat, Yrows, &p->proj);
    float *F = rvk_alloc(k, (size_t)p->img_rows * D);
    for (int q = 0; q < p->n_images && !rc; q++)
        rc = pack_image_fwd(m, &p->plans[q], p->proj.y, Yrows, F + (size_t)p->plans[q].row0 * D, err);
    if (!rc) rc = rvk_rows_scatter(k, x0, p->img_pos_d, F, p->img_rows, D, p->N, err);
    rvk_free(k, F);
    if (!p->keep) { /* nothing downstream needs the image activations */
        rv_vision_acts_free(k, &m->vis, &p->vis);
        rv_proj_acts_free(k, &p->proj);
        p->has_vis = false;
    }
    return rc;
}

int rv_vlm_forward(rv_vlm *m, const rv_sample *s, int n, bool keep, rv_vlm_pass **out, rv_err *err) {
    rv_kctx *k = m->k;
    *out = NULL;
    if (n <= 0) return rv_fail(err, "model forward: empty batch");
    if (keep && !m->grads) return rv_fail(err, "model forward: keep=true needs a model initialised with gradients");
    rv_vlm_pass *p = rv_xcalloc(1, sizeof *p);
    p->n = n;
    p->keep = keep;
    p->off = rv_xmalloc((size_t)(n + 1) * sizeof *p->off);
    p->len = rv_xmalloc((size_t)n * sizeof *p->len);
    p->off[0] = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].len < 1 || s[i].len > m->cfg.text.max_pos) {
            rv_vlm_pass_free(m, p);
            return rv_fail(err, "sample %d: length %d must be in 1..%d (max_position_embeddings)", i, s[i].len,
                           m->cfg.text.max_pos);
        }
        p->len[i] = s[i].len;
        p->off[i + 1] = p->off[i] + s[i].len;
    }
    const int N = p->off[n], D = m->cfg.text.hidden, V = m->cfg.text.vocab;
    p->N = N;
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
    p->pos_d = up_i32(k, pos, (size_t)N);
    free(pos);
    p->targets_d = up_i32(k, p->targets_h, (size_t)N);
    int32_t *cu = rv_xmalloc((size_t)(n + 1) * sizeof *cu);
    for (int i = 0; i <= n; i++) cu[i] = p->off[i];
    p->cu_d = up_i32(k, cu, (size_t)n + 1);
    free(cu);

    float *x0 = rvk_alloc(k, (size_t)N * D);
    if (embed_stream(m, p, s, x0, err)) {
        rvk_free(k, x0);
        rv_vlm_pass_free(m, p);
        return -1;
    }
    if (rv_decoder_forward(k, &m->dec, x0, p->pos_d, p->cu_d, n, N, &p->dec, keep, NULL, NULL, NULL, NULL, err)) {
        rv_vlm_pass_free(m, p);
        return -1;
    }
    p->loss_d = rvk_alloc(k, (size_t)N);
    p->lse_d = rvk_alloc(k, (size_t)N);
    if (rvk_xent_fwd(k, p->loss_d, p->lse_d, p->dec.xf, m->dec.lm_head.p, p->targets_d, N, D, V, err)) {
        rv_vlm_pass_free(m, p);
        return -1;
    }
    float *loss = rv_xmalloc((size_t)N * sizeof *loss);
    rvk_download(k, loss, p->loss_d, (size_t)N);
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
    rv_vlm_pass *p = rv_xcalloc(1, sizeof *p);
    p->n = n;
    p->off = rv_xmalloc((size_t)(n + 1) * sizeof *p->off);
    p->len = rv_xmalloc((size_t)n * sizeof *p->len);
    p->off[0] = 0;
    for (int i = 0; i < n; i++) {
        p->len[i] = s[i].len;
        p->off[i + 1] = p->off[i] + s[i].len;
    }
    p->N = p->off[n];
    int rc = embed_stream(m, p, s, x0, err);
    rv_vlm_pass_free(m, p);
    return rc;
}

const float *rv_vlm_pass_logp(const rv_vlm_pass *p, int i) { return (i >= 0 && i < p->n) ? p->logp[i] : NULL; }

int rv_vlm_pass_logits(rv_vlm *m, const rv_vlm_pass *p, int i, float *out, rv_err *err) {
    if (i < 0 || i >= p->n) return rv_fail(err, "logits: sample %d is not in the batch of %d", i, p->n);
    const int D = m->cfg.text.hidden, V = m->cfg.text.vocab, L = p->len[i];
    float *lg = rvk_alloc(m->k, (size_t)L * V);
    rvk_matmul_fwd(m->k, lg, p->dec.xf + (size_t)p->off[i] * D, m->dec.lm_head.p, NULL, L, D, V);
    rvk_download(m->k, out, lg, (size_t)L * V);
    rvk_free(m->k, lg);
    return 0;
}

int rv_vlm_backward(rv_vlm *m, rv_vlm_pass *p, const float *const *dlogp, rv_err *err) {
    rv_kctx *k = m->k;
    if (!p->keep) return rv_fail(err, "model backward: the forward ran with keep=false");
    const int N = p->N, D = m->cfg.text.hidden, V = m->cfg.text.vocab;
    float *dloss = rv_xcalloc((size_t)N, sizeof *dloss);
    for (int i = 0; i < p->n; i++)
        for (int t = 1; t < p->len[i]; t++) {
            int g = p->off[i] + t - 1;
            if (p->targets_h[g] >= 0) dloss[g] = -dlogp[i][t]; /* loss_t = -logp */
        }
    float *dloss_d = up_f32(k, dloss, (size_t)N);
    free(dloss);
    float *dxf = rvk_alloc(k, (size_t)N * D), *dx0 = rvk_alloc(k, (size_t)N * D);
    int rc = rvk_xent_bwd(k, dxf, m->dec.lm_head.g, p->dec.xf, m->dec.lm_head.p, p->targets_d, p->lse_d, dloss_d, N,
                          D, V, 0, err);
    if (!rc) rc = rv_decoder_backward(k, &m->dec, &p->dec, p->pos_d, p->cu_d, p->n, dxf, dx0, err);
    if (!rc) rc = rvk_embedding_bwd(k, m->dec.embed.g, dx0, p->ids_d, N, D, V, err);
    if (!rc && p->n_images > 0) {
        const int Yrows = p->n_tiles * m->vis.npatch;
        float *dF = rvk_alloc(k, (size_t)p->img_rows * D);
        float *dY = rvk_alloc(k, (size_t)Yrows * D);
        float *dfeat = rvk_alloc(k, (size_t)Yrows * m->cfg.vision.hidden);
        rc = rvk_embedding_fwd(k, dF, dx0, p->img_pos_d, p->img_rows, D, N, err);
        for (int q = 0; q < p->n_images && !rc; q++)
            rc = pack_image_bwd(m, &p->plans[q], dF + (size_t)p->plans[q].row0 * D, dY, Yrows, err);
        if (!rc) {
            rv_projector_backward(k, &m->proj, &p->proj, dY, dfeat);
            rc = rv_vision_backward(k, &m->vis, &p->vis, dfeat, err);
        }
        rvk_free(k, dF);
        rvk_free(k, dY);
        rvk_free(k, dfeat);
    }
    rvk_free(k, dloss_d);
    rvk_free(k, dxf);
    rvk_free(k, dx0);
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
