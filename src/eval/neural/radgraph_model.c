/* The DyGIE++ span model of RadGraph-XL over word vectors (see radgraph_model.h).
 *
 * The first layer of each feed-forward stack is applied by parts, which is the same linear map
 * as on the concatenated input: for a span (s, e) the NER / pruner input is
 * [x_s, x_e, width_emb[e - s]], so W [x_s, x_e, w] = Wa x_s + Wb x_e + Wc w, computed once per
 * word and per width instead of once per span; for a span pair the relation input is
 * [e_i, e_j, e_i * e_j], so only the product part needs a row per pair (one GEMM over the k^2
 * pairs, in chunks). The sums are in a different order than torch's single GEMM: values agree
 * to fp32 rounding (~1e-6 relative), so a decision can only differ on a near-tie. */
#include "eval/neural/radgraph_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

/* ---- loading ---- */

static int load_tensor(const rv_st_file *f, const char *name, int r, int c, float **out, rv_err *err) {
    const rv_st_tensor *t = rv_st_find(f, name);
    if (!t) return rv_fail(err, "%s: tensor %s missing (convert the archive with tools/convert_radgraph.py)", f->path, name);
    int ok = (r > 0) ? (t->ndim == 2 && t->shape[0] == (uint64_t)r && t->shape[1] == (uint64_t)c)
                     : (t->ndim == 1 && t->shape[0] == (uint64_t)c);
    if (!ok) {
        char got[96];
        rv_st_shape_str(t->shape, t->ndim, got, sizeof got);
        if (r > 0) return rv_fail(err, "%s: tensor %s has shape %s, config.json gives [%d, %d]", f->path, name, got, r, c);
        return rv_fail(err, "%s: tensor %s has shape %s, config.json gives [%d]", f->path, name, got, c);
    }
    *out = rv_xmalloc((size_t)t->numel * sizeof(float));
    if (rv_st_read_f32(f, t, *out, err) != 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* A stack "<prefix><l>.weight" for l < nl and the scorer "<out>.weight/bias". Layer 0's columns
 * are split into parts (the layout of the input concatenation). */
static int load_ffnn(rv_rg_ffnn *m, const rv_st_file *f, const rv_rg_cfg *cfg, const char *prefix, const char *outname,
                     int nparts, const int *parts, int n_out, rv_err *err) {
    memset(m, 0, sizeof *m);
    m->nl = cfg->ffnn_layers;
    m->nparts = nparts;
    int in = 0;
    for (int p = 0; p < nparts; p++) in += (m->part_dim[p] = parts[p]);
    char name[512];
    for (int l = 0; l < m->nl; l++) {
        m->in[l] = l ? m->out[l - 1] : in;
        m->out[l] = cfg->ffnn_hidden[l];
        snprintf(name, sizeof name, "%s%d.weight", prefix, l);
        if (load_tensor(f, name, m->out[l], m->in[l], &m->w[l], err)) return -1;
        snprintf(name, sizeof name, "%s%d.bias", prefix, l);
        if (load_tensor(f, name, 0, m->out[l], &m->b[l], err)) return -1;
    }
    for (int p = 0, off = 0; p < nparts; off += parts[p], p++) {
        m->w0_part[p] = rv_xmalloc((size_t)m->out[0] * (size_t)parts[p] * sizeof(float));
        for (int o = 0; o < m->out[0]; o++)
            memcpy(m->w0_part[p] + (size_t)o * (size_t)parts[p], m->w[0] + (size_t)o * (size_t)in + (size_t)off,
                   (size_t)parts[p] * sizeof(float));
    }
    m->n_out = n_out;
    snprintf(name, sizeof name, "%s.weight", outname);
    if (load_tensor(f, name, n_out, m->out[m->nl - 1], &m->w_out, err)) return -1;
    snprintf(name, sizeof name, "%s.bias", outname);
    return load_tensor(f, name, 0, n_out, &m->b_out, err);
}

static void ffnn_free(rv_rg_ffnn *m) {
    for (int l = 0; l < m->nl; l++) {
        free(m->w[l]);
        free(m->b[l]);
    }
    for (int p = 0; p < m->nparts; p++) free(m->w0_part[p]);
    free(m->w_out);
    free(m->b_out);
    memset(m, 0, sizeof *m);
}

int rv_rg_heads_load(rv_rg_heads *h, const rv_rg_cfg *cfg, int C, const char *path, rv_err *err) {
    memset(h, 0, sizeof *h);
    rv_st_file f;
    if (rv_st_open(&f, path, err) != 0) return rv_fail_wrap(err, "RadGraph span model");
    h->C = C;
    h->D = 2 * C + cfg->feature_size;
    const char *ns = cfg->dataset;
    char p1[512], p2[512];
    int rc = -1;
    const int span_parts[3] = {C, C, cfg->feature_size}, pair_parts[3] = {h->D, h->D, h->D};
    if (load_tensor(&f, "_endpoint_span_extractor._span_width_embedding.weight", cfg->max_span_width, cfg->feature_size,
                    &h->width_emb, err))
        goto done;
    snprintf(p1, sizeof p1, "_ner._ner_scorers.%s__ner_labels.0._module._linear_layers.", ns);
    snprintf(p2, sizeof p2, "_ner._ner_scorers.%s__ner_labels.1._module", ns);
    if (load_ffnn(&h->ner, &f, cfg, p1, p2, 3, span_parts, cfg->n_ner - 1, err)) goto done;
    snprintf(p1, sizeof p1, "_relation._mention_pruners.%s__relation_labels._scorer.0._module._linear_layers.", ns);
    snprintf(p2, sizeof p2, "_relation._mention_pruners.%s__relation_labels._scorer.1._module", ns);
    if (load_ffnn(&h->prune, &f, cfg, p1, p2, 3, span_parts, 1, err)) goto done;
    snprintf(p1, sizeof p1, "_relation._relation_feedforwards.%s__relation_labels._linear_layers.", ns);
    snprintf(p2, sizeof p2, "_relation._relation_scorers.%s__relation_labels", ns);
    if (load_ffnn(&h->rel, &f, cfg, p1, p2, 3, pair_parts, cfg->n_rel, err)) goto done;
    rc = 0;
done:
    rv_st_close(&f);
    if (rc) rv_rg_heads_free(h);
    return rc;
}

void rv_rg_heads_free(rv_rg_heads *h) {
    free(h->width_emb);
    ffnn_free(&h->ner);
    ffnn_free(&h->prune);
    ffnn_free(&h->rel);
    memset(h, 0, sizeof *h);
}

/* ---- forward ---- */

static void relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(x[i] > 0.0f)) x[i] = 0.0f; /* torch.relu keeps NaN; a NaN never wins an argmax here either */
}

/* Layers 1.. and the scorer over rows of the ReLU'd layer-0 output a0: [rows, out[0]]
 * -> scores: [rows, n_out]. tmp: two buffers of rows * max hidden. */
static void ffnn_tail(rv_kctx *kc, const rv_rg_ffnn *m, float *a0, int rows, float *tmp1, float *tmp2, float *scores) {
    float *cur = a0, *nxt = tmp1;
    for (int l = 1; l < m->nl; l++) {
        rvk_matmul_fwd(kc, nxt, cur, m->w[l], m->b[l], rows, m->in[l], m->out[l]);
        relu(nxt, (size_t)rows * (size_t)m->out[l]);
        cur = nxt;
        nxt = (nxt == tmp1) ? tmp2 : tmp1;
    }
    rvk_matmul_fwd(kc, scores, cur, m->w_out, m->b_out, rows, m->out[m->nl - 1], m->n_out);
}

static int max_hidden(const rv_rg_ffnn *m) {
    int h = 1;
    for (int l = 0; l < m->nl; l++)
        if (m->out[l] > h) h = m->out[l];
    return h;
}

/* Span-level scores of a span stack: out: [S, n_out] for the spans (starts[i], ends[i]). */
static void span_scores(rv_kctx *kc, const rv_rg_heads *h, const rv_rg_ffnn *m, const float *x, int n, int W,
                        const int *starts, const int *ends, int S, float *out) {
    int H0 = m->out[0], C = h->C, F = m->part_dim[2];
    float *pa = rv_xmalloc((size_t)n * (size_t)H0 * sizeof(float)); /* [n, H0] Wa x_s */
    float *pb = rv_xmalloc((size_t)n * (size_t)H0 * sizeof(float)); /* [n, H0] Wb x_e */
    float *pw = rv_xmalloc((size_t)W * (size_t)H0 * sizeof(float)); /* [W, H0] Wc w + b */
    rvk_matmul_fwd(kc, pa, x, m->w0_part[0], NULL, n, C, H0);
    rvk_matmul_fwd(kc, pb, x, m->w0_part[1], NULL, n, C, H0);
    rvk_matmul_fwd(kc, pw, h->width_emb, m->w0_part[2], m->b[0], W, F, H0);
    int Hm = max_hidden(m);
    float *a0 = rv_xmalloc((size_t)S * (size_t)H0 * sizeof(float));
    float *t1 = rv_xmalloc((size_t)S * (size_t)Hm * sizeof(float));
    float *t2 = rv_xmalloc((size_t)S * (size_t)Hm * sizeof(float));
    for (int i = 0; i < S; i++) {
        const float *ra = pa + (size_t)starts[i] * H0, *rb = pb + (size_t)ends[i] * H0,
                    *rw = pw + (size_t)(ends[i] - starts[i]) * H0;
        float *o = a0 + (size_t)i * H0;
        for (int j = 0; j < H0; j++) o[j] = ra[j] + rb[j] + rw[j];
    }
    relu(a0, (size_t)S * (size_t)H0);
    ffnn_tail(kc, m, a0, S, t1, t2, out);
    free(pa);
    free(pb);
    free(pw);
    free(a0);
    free(t1);
    free(t2);
}

/* argmax over [0 (the null label), s[0..m)]; the first maximum wins, as torch.max does.
 * Returns 0 for null, else 1 + the index. */
static int argmax_with_null(const float *s, int m) {
    float best = 0.0f;
    int arg = 0;
    for (int j = 0; j < m; j++)
        if (s[j] > best) {
            best = s[j];
            arg = j + 1;
        }
    return arg;
}

typedef struct scored {
    float s;
    int i;
} scored;

/* Higher score first; lower span index first on equal scores (torch.topk leaves ties to its
 * implementation; a tie of fp32 scores at the cut is the only case this order decides). */
static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s > y->s) return -1;
    if (x->s < y->s) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int cmp_int(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    return (i > j) - (i < j);
}

/* Relations among the k kept spans top[] (span indices in position order) with mention scores
 * ms[]: scores [i, j, :] = rel_ffnn([e_i, e_j, e_i * e_j]) + ms_i + ms_j next to a 0 null
 * score; a pair is a relation when a label beats the null. */
static void relations(rv_kctx *kc, const rv_rg_heads *h, const rv_rg_cfg *cfg, const float *x, const int *starts,
                      const int *ends, const int *top, int k, const float *ms, rv_rg_pred *out) {
    const rv_rg_ffnn *m = &h->rel;
    const int C = h->C, F = cfg->feature_size, D = h->D, H0 = m->out[0], R = cfg->n_rel;
    /* e: [k, D] span embeddings [x_s, x_e, width_emb[e - s]]. */
    float *e = rv_xmalloc((size_t)k * (size_t)D * sizeof(float));
    for (int i = 0; i < k; i++) {
        int sp = top[i];
        float *r = e + (size_t)i * D;
        memcpy(r, x + (size_t)starts[sp] * C, (size_t)C * sizeof(float));
        memcpy(r + C, x + (size_t)ends[sp] * C, (size_t)C * sizeof(float));
        memcpy(r + 2 * C, h->width_emb + (size_t)(ends[sp] - starts[sp]) * F, (size_t)F * sizeof(float));
    }
    float *pi = rv_xmalloc((size_t)k * (size_t)H0 * sizeof(float)); /* [k, H0] Wi e_i + b */
    float *pj = rv_xmalloc((size_t)k * (size_t)H0 * sizeof(float)); /* [k, H0] Wj e_j */
    rvk_matmul_fwd(kc, pi, e, m->w0_part[0], m->b[0], k, D, H0);
    rvk_matmul_fwd(kc, pj, e, m->w0_part[1], NULL, k, D, H0);
    /* Pairs in chunks of whole source rows i, so one chunk's product matrix stays ~16 MB. */
    int Hm = max_hidden(m);
    size_t per_row = (size_t)k * (size_t)(D > Hm ? D : Hm);
    int rows_i = (int)((4u << 20) / (per_row ? per_row : 1));
    if (rows_i < 1) rows_i = 1;
    if (rows_i > k) rows_i = k;
    size_t np = (size_t)rows_i * (size_t)k;
    float *prod = rv_xmalloc(np * (size_t)D * sizeof(float));
    float *a0 = rv_xmalloc(np * (size_t)H0 * sizeof(float));
    float *t1 = rv_xmalloc(np * (size_t)Hm * sizeof(float)), *t2 = rv_xmalloc(np * (size_t)Hm * sizeof(float));
    float *sc = rv_xmalloc(np * (size_t)R * sizeof(float));
    size_t cap = 16;
    out->rels = rv_xmalloc(cap * sizeof *out->rels);
    for (int i0 = 0; i0 < k; i0 += rows_i) {
        int ni = (k - i0 < rows_i) ? k - i0 : rows_i, rows = ni * k;
        for (int a = 0; a < ni; a++)
            for (int j = 0; j < k; j++) {
                const float *ei = e + (size_t)(i0 + a) * D, *ej = e + (size_t)j * D;
                float *p = prod + ((size_t)a * k + (size_t)j) * D;
                for (int d = 0; d < D; d++) p[d] = ei[d] * ej[d];
            }
        rvk_matmul_fwd(kc, a0, prod, m->w0_part[2], NULL, rows, D, H0);
        for (int a = 0; a < ni; a++)
            for (int j = 0; j < k; j++) {
                float *o = a0 + ((size_t)a * k + (size_t)j) * H0;
                const float *ri = pi + (size_t)(i0 + a) * H0, *rj = pj + (size_t)j * H0;
                for (int c = 0; c < H0; c++) o[c] += ri[c] + rj[c];
            }
        relu(a0, (size_t)rows * (size_t)H0);
        ffnn_tail(kc, m, a0, rows, t1, t2, sc);
        for (int a = 0; a < ni; a++)
            for (int j = 0; j < k; j++) {
                float *s = sc + ((size_t)a * k + (size_t)j) * R;
                float add = ms[i0 + a] + ms[j];
                for (int r = 0; r < R; r++) s[r] += add;
                int lab = argmax_with_null(s, R);
                if (!lab) continue;
                int si = top[i0 + a], sj = top[j];
                if (out->n_rels == cap) out->rels = rv_xrealloc(out->rels, (cap *= 2) * sizeof *out->rels);
                out->rels[out->n_rels++] = (rv_rg_rel){starts[si], ends[si], starts[sj], ends[sj], lab - 1};
            }
    }
    free(e);
    free(pi);
    free(pj);
    free(prod);
    free(a0);
    free(t1);
    free(t2);
    free(sc);
}

int rv_rg_predict(const rv_rg_heads *h, const rv_rg_cfg *cfg, rv_kctx *kc, const float *x, int n, rv_rg_pred *out,
                  rv_err *err) {
    memset(out, 0, sizeof *out);
    if (n <= 0) return 0;
    const int W = cfg->max_span_width;
    if (n > (1 << 20)) return rv_fail(err, "RadGraph: %d words in one text is more than this port handles", n);
    /* Spans in enumerate_spans order: by start, then end. */
    int S = 0;
    for (int s = 0; s < n; s++) S += (n - s < W) ? n - s : W;
    int *starts = rv_xmalloc((size_t)S * sizeof(int)), *ends = rv_xmalloc((size_t)S * sizeof(int));
    for (int s = 0, i = 0; s < n; s++)
        for (int e = s; e < n && e < s + W; e++, i++) {
            starts[i] = s;
            ends[i] = e;
        }

    /* NER: [S, n_ner - 1] logits next to the fixed 0 of the null label. */
    const int nl = cfg->n_ner - 1;
    float *ner = rv_xmalloc((size_t)S * (size_t)nl * sizeof(float));
    span_scores(kc, h, &h->ner, x, n, W, starts, ends, S, ner);
    size_t cap = 16;
    out->ents = rv_xmalloc(cap * sizeof *out->ents);
    for (int i = 0; i < S; i++) {
        int lab = argmax_with_null(ner + (size_t)i * nl, nl);
        if (!lab) continue;
        if (out->n_ents == cap) out->ents = rv_xrealloc(out->ents, (cap *= 2) * sizeof *out->ents);
        out->ents[out->n_ents++] = (rv_rg_ent){starts[i], ends[i], lab};
    }
    free(ner);

    /* Mention pruning: the top k = ceil(words * spans_per_word) spans by the pruner's score
     * (the product in fp32, as torch forms it), then back in span order. */
    float *ms = rv_xmalloc((size_t)S * sizeof(float));
    span_scores(kc, h, &h->prune, x, n, W, starts, ends, S, ms);
    int k = (int)ceilf((float)n * cfg->spans_per_word);
    if (k > S) k = S;
    if (k > 0) {
        scored *o = rv_xmalloc((size_t)S * sizeof *o);
        for (int i = 0; i < S; i++) o[i] = (scored){ms[i], i};
        qsort(o, (size_t)S, sizeof *o, cmp_scored);
        int *top = rv_xmalloc((size_t)k * sizeof(int));
        for (int i = 0; i < k; i++) top[i] = o[i].i;
        qsort(top, (size_t)k, sizeof(int), cmp_int);
        float *tms = rv_xmalloc((size_t)k * sizeof(float));
        for (int i = 0; i < k; i++) tms[i] = ms[top[i]];
        relations(kc, h, cfg, x, starts, ends, top, k, tms, out);
        free(o);
        free(top);
        free(tms);
    }
    free(ms);
    free(starts);
    free(ends);
    return 0;
}

void rv_rg_pred_free(rv_rg_pred *p) {
    free(p->ents);
    free(p->rels);
    memset(p, 0, sizeof *p);
}
