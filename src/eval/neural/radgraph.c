/* RadGraph-XL: load a converted model directory, annotate reports, score report pairs
 * (radgraph.h). The word vectors are those of allennlp's PretrainedTransformerMismatched
 * indexer + embedder: each word is tokenised on its own, the wordpieces of the whole text are
 * folded into segments of max_length - 2 pieces, each wrapped in [CLS] ... [SEP] and encoded
 * independently (the last layer), and a word's vector is the mean of its pieces' rows (a word
 * without pieces gets zeros). */
#include "eval/neural/radgraph.h"

#include <stdlib.h>
#include <string.h>

#include "eval/neural/radgraph_annotate.h"
#include "eval/neural/radgraph_f1.h"
#include "eval/neural/radgraph_model.h"
#include "eval/neural/radgraph_text.h"
#include "textenc/encoder.h"
#include "textenc/text_tokenizer.h"

struct rv_radgraph {
    rv_rg_cfg cfg;
    rv_rg_heads heads;
    rv_encoder *enc;
    rv_text_tok *tok;
    rv_kctx *k;      /* the encoder's backend */
    rv_kctx *kc_own; /* a CPU context for the heads when k is not one (NULL otherwise) */
    int max_tokens;  /* wordpieces per encoder forward (a batch of segments) */
};

int rv_radgraph_load(rv_radgraph **out, const char *dir, rv_kctx *k, rv_err *err) {
    *out = NULL;
    rv_radgraph *g = rv_xcalloc(1, sizeof *g);
    g->k = k;
    g->max_tokens = 8192;
    char *edir = rv_xasprintf("%s/encoder", dir), *heads = rv_xasprintf("%s/radgraph.safetensors", dir);
    int rc = -1;
    if (rv_rg_cfg_load(&g->cfg, dir, err) != 0) goto done;
    if (rv_encoder_load(&g->enc, edir, 0, k, err) != 0 || rv_text_tok_load(&g->tok, edir, NULL, err) != 0) {
        rv_fail_wrap(err, "RadGraph model %s", dir);
        goto done;
    }
    const rv_enc_cfg *ec = rv_encoder_cfg(g->enc);
    int seg = g->cfg.max_length ? g->cfg.max_length : ec->max_pos;
    if (seg > ec->max_pos) {
        rv_fail(err, "%s/config.json: max_length %d exceeds the encoder's max_position_embeddings %d (%s/config.json)", dir,
                g->cfg.max_length, ec->max_pos, edir);
        goto done;
    }
    if (rv_rg_heads_load(&g->heads, &g->cfg, ec->hidden, heads, err) != 0) goto done;
    if (strcmp(rvk_ctx_backend(k), "cpu") != 0) {
        if (rvk_create(&g->kc_own, "cpu", NULL, err) != 0) goto done;
    }
    rc = 0;
done:
    free(edir);
    free(heads);
    if (rc) rv_radgraph_free(g);
    else *out = g;
    return rc;
}

void rv_radgraph_free(rv_radgraph *g) {
    if (!g) return;
    rv_rg_heads_free(&g->heads);
    rv_rg_cfg_free(&g->cfg);
    rv_encoder_free(g->enc);
    rv_text_tok_free(g->tok);
    rvk_destroy(g->kc_own);
    free(g);
}

const rv_rg_cfg *rv_radgraph_cfg(const rv_radgraph *g) { return &g->cfg; }

void rv_radgraph_set_batch_tokens(rv_radgraph *g, int max_tokens) { g->max_tokens = max_tokens > 0 ? max_tokens : 8192; }

/* One text's wordpieces: ids of all words in order, and each word's [first, first + count). */
typedef struct text_pieces {
    char **words;
    size_t n_words;
    int32_t *ids;
    size_t n_ids;
    size_t *first, *count;
} text_pieces;

static int tokenize_text(const rv_radgraph *g, const char *text, text_pieces *tp, rv_err *err) {
    memset(tp, 0, sizeof *tp);
    tp->n_words = rv_rg_words(text, &tp->words);
    tp->first = rv_xmalloc((tp->n_words + 1) * sizeof(size_t));
    tp->count = rv_xmalloc((tp->n_words + 1) * sizeof(size_t));
    size_t cap = 64;
    tp->ids = rv_xmalloc(cap * sizeof(int32_t));
    for (size_t w = 0; w < tp->n_words; w++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (rv_text_tok_encode(g->tok, rv_rg_model_word(tp->words[w]), false, 0, &ids, &n, err) != 0)
            return rv_fail_wrap(err, "RadGraph: word %zu", w);
        while (tp->n_ids + n > cap) tp->ids = rv_xrealloc(tp->ids, (cap *= 2) * sizeof(int32_t));
        if (n) memcpy(tp->ids + tp->n_ids, ids, n * sizeof(int32_t));
        tp->first[w] = tp->n_ids;
        tp->count[w] = n;
        tp->n_ids += n;
        free(ids);
    }
    return 0;
}

static void text_pieces_free(text_pieces *tp) {
    rv_rg_words_free(tp->words, tp->n_words);
    free(tp->ids);
    free(tp->first);
    free(tp->count);
    memset(tp, 0, sizeof *tp);
}

/* Segments of one text: ceil(n_ids / eff) of them (at least one), eff = max_length - 2. */
static size_t n_segments(const rv_radgraph *g, const text_pieces *tp) {
    size_t eff = g->cfg.max_length ? (size_t)g->cfg.max_length - 2 : 0;
    if (!eff || tp->n_ids <= eff) return 1;
    return (tp->n_ids + eff - 1) / eff;
}

/* Word vectors of texts [t0, t1) from one packed encoder forward. vec[t]: malloc'd [n_words, C]. */
static int encode_texts(rv_radgraph *g, text_pieces *tps, size_t t0, size_t t1, float **vec, rv_err *err) {
    const int C = rv_encoder_cfg(g->enc)->hidden;
    const int32_t cls = rv_text_tok_cls(g->tok), sep = rv_text_tok_sep(g->tok);
    size_t eff = g->cfg.max_length ? (size_t)g->cfg.max_length - 2 : 0;
    size_t nseq = 0, T = 0;
    for (size_t t = t0; t < t1; t++) {
        size_t ns = n_segments(g, &tps[t]);
        nseq += ns;
        T += tps[t].n_ids + 2 * ns;
    }
    int32_t *ids = rv_xmalloc(T * sizeof(int32_t)), *cu = rv_xmalloc((nseq + 1) * sizeof(int32_t));
    size_t *row0 = rv_xmalloc((t1 - t0) * sizeof(size_t)); /* row of each text's first [CLS] */
    size_t pos = 0, s = 0;
    cu[0] = 0;
    for (size_t t = t0; t < t1; t++) {
        const text_pieces *tp = &tps[t];
        row0[t - t0] = pos;
        size_t ns = n_segments(g, tp), done = 0;
        for (size_t j = 0; j < ns; j++) {
            size_t m = (ns == 1) ? tp->n_ids : (tp->n_ids - done < eff ? tp->n_ids - done : eff);
            ids[pos++] = cls;
            memcpy(ids + pos, tp->ids + done, m * sizeof(int32_t));
            pos += m;
            ids[pos++] = sep;
            done += m;
            cu[++s] = (int32_t)pos;
        }
    }
    float *hid = rv_xmalloc(T * (size_t)C * sizeof(float));
    int rc = rv_encoder_forward(g->enc, ids, cu, (int)nseq, hid, err);
    if (rc == 0) {
        for (size_t t = t0; t < t1; t++) {
            const text_pieces *tp = &tps[t];
            float *v = rv_xcalloc(tp->n_words ? tp->n_words : 1, (size_t)C * sizeof(float));
            for (size_t w = 0; w < tp->n_words; w++) {
                if (!tp->count[w]) continue;
                float *o = v + w * (size_t)C;
                for (size_t p = tp->first[w]; p < tp->first[w] + tp->count[w]; p++) {
                    /* piece p sits after 1 + 2 * (its segment) special tokens of this text */
                    size_t seg = eff && tp->n_ids > eff ? p / eff : 0;
                    const float *r = hid + (row0[t - t0] + p + 1 + 2 * seg) * (size_t)C;
                    for (int c = 0; c < C; c++) o[c] += r[c];
                }
                float nf = (float)tp->count[w];
                for (int c = 0; c < C; c++) o[c] /= nf;
            }
            vec[t] = v;
        }
    } else {
        rv_fail_wrap(err, "RadGraph encoder");
    }
    free(ids);
    free(cu);
    free(row0);
    free(hid);
    return rc;
}

int rv_radgraph_annotate(rv_radgraph *g, const char *const *texts, size_t n, rv_rg_annot *out, rv_err *err) {
    memset(out, 0, n * sizeof *out);
    text_pieces *tps = rv_xcalloc(n ? n : 1, sizeof *tps);
    float **vec = rv_xcalloc(n ? n : 1, sizeof *vec);
    rv_kctx *kc = g->kc_own ? g->kc_own : g->k;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) rc = tokenize_text(g, texts[i], &tps[i], err);
    /* Batches of whole texts up to max_tokens wordpieces per forward (a longer text alone). */
    for (size_t t0 = 0; t0 < n && !rc;) {
        size_t t1 = t0, tokens = 0;
        while (t1 < n) {
            size_t tt = tps[t1].n_ids + 2 * n_segments(g, &tps[t1]);
            if (t1 > t0 && tokens + tt > (size_t)g->max_tokens) break;
            tokens += tt;
            t1++;
        }
        rc = encode_texts(g, tps, t0, t1, vec, err);
        for (size_t t = t0; t < t1 && !rc; t++) {
            rv_rg_pred p;
            rc = rv_rg_predict(&g->heads, &g->cfg, kc, vec[t], (int)tps[t].n_words, &p, err);
            if (!rc) rv_rg_annot_build(&out[t], &g->cfg, tps[t].words, &p);
            rv_rg_pred_free(&p);
        }
        t0 = t1;
    }
    for (size_t i = 0; i < n; i++) {
        text_pieces_free(&tps[i]);
        free(vec[i]);
    }
    free(tps);
    free(vec);
    if (rc)
        for (size_t i = 0; i < n; i++) rv_rg_annot_free(&out[i]);
    return rc;
}

static int cmp_strp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Index of s in the sorted unique array u[0..n). */
static size_t find_text(const char *const *u, size_t n, const char *s) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(u[mid], s) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int rv_radgraph_score(rv_radgraph *g, const char *const *hyps, const char *const *refs, size_t n,
                      rv_radgraph_pair *out, rv_err *err) {
    /* Each distinct text once. An empty text is annotated as "None" (RadGraph.forward's
     * substitution), which only the RadCliQ feature uses: rewards.py gives empty pairs zeros. */
    const char **all = rv_xmalloc((2 * n + 1) * sizeof *all);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        all[m++] = hyps[i][0] ? hyps[i] : "None";
        all[m++] = refs[i][0] ? refs[i] : "None";
    }
    qsort(all, m, sizeof *all, cmp_strp);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (!u || strcmp(all[i], all[u - 1]) != 0) all[u++] = all[i];
    rv_rg_annot *ann = rv_xcalloc(u ? u : 1, sizeof *ann);
    int rc = rv_radgraph_annotate(g, all, u, ann, err);
    for (size_t i = 0; i < n && !rc; i++) {
        const rv_rg_annot *h = &ann[find_text(all, u, hyps[i][0] ? hyps[i] : "None")];
        const rv_rg_annot *r = &ann[find_text(all, u, refs[i][0] ? refs[i] : "None")];
        double f[3] = {0, 0, 0};
        if (hyps[i][0] && refs[i][0]) rv_rg_rewards(h, r, f);
        out[i].simple = f[0];
        out[i].partial = f[1];
        out[i].complete = f[2];
        out[i].rcq = rv_rg_radcliq_feature(h, r);
    }
    for (size_t i = 0; i < u; i++) rv_rg_annot_free(&ann[i]);
    free(ann);
    free(all);
    return rc;
}
