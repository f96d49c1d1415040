#include "eval/neural/chexbert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/neural/text_batch.h"
#include "eval/neural/text_prep.h"
#include "textenc/encoder.h"
#include "textenc/text_tokenizer.h"

struct rv_chexbert {
    rv_encoder *enc;
    rv_text_tok *tok;
    rv_chexbert_heads heads;
    char *dir;
};

void rv_chexbert_logits(const rv_chexbert_heads *h, const float *x, double *logits) {
    for (int o = 0; o < RV_CHEXBERT_NLOGITS; o++) {
        const float *w = h->w + (size_t)o * h->hidden;
        double s = h->b[o];
        for (int d = 0; d < h->hidden; d++) s += (double)w[d] * x[d];
        logits[o] = s;
    }
}

void rv_chexbert_classes(const double *logits, int cls[RV_CHX_NLABELS]) {
    for (int i = 0; i < RV_CHX_NLABELS; i++) {
        const double *l = logits + 4 * i;
        int n = i < 13 ? 4 : 2, best = 0;
        for (int c = 1; c < n; c++)
            if (l[c] > l[best]) best = c; /* first maximum wins ties, as torch.argmax */
        cls[i] = best;
    }
}

/* Head i's weight [rows, hidden] and bias [rows] into the packed tables. */
static int load_head(rv_chexbert *c, int i, rv_err *err) {
    int rows = i < 13 ? 4 : 2, hidden = c->heads.hidden;
    char name[64];
    for (int part = 0; part < 2; part++) {
        snprintf(name, sizeof name, "linear_heads.%d.%s", i, part ? "bias" : "weight");
        float *data = NULL;
        int64_t shape[4];
        int nd = 0;
        if (rv_encoder_extra(c->enc, name, &data, shape, &nd, err))
            return rv_fail_wrap(err, "CheXbert model %s: the 14 heads (linear_heads.0-13) are part of the model; was it "
                                     "converted with tools/convert_pth.py from chexbert.pth?", c->dir);
        bool ok = part ? (nd == 1 && shape[0] == rows) : (nd == 2 && shape[0] == rows && shape[1] == hidden);
        if (!ok) {
            free(data);
            return rv_fail(err, "CheXbert model %s: tensor %s has shape [%lld%s%lld], expected [%d%s%d]", c->dir, name,
                           (long long)shape[0], nd > 1 ? ", " : "", nd > 1 ? (long long)shape[1] : 0LL, rows,
                           part ? "" : ", ", part ? 0 : hidden);
        }
        if (part) memcpy(c->heads.b + 4 * i, data, (size_t)rows * sizeof *data);
        else memcpy(c->heads.w + (size_t)4 * i * hidden, data, (size_t)rows * hidden * sizeof *data);
        free(data);
    }
    return 0;
}

int rv_chexbert_load(rv_chexbert **out, const char *dir, rv_kctx *k, rv_err *err) {
    *out = NULL;
    rv_chexbert *c = rv_xcalloc(1, sizeof *c);
    c->dir = rv_xstrdup(dir);
    if (rv_encoder_load(&c->enc, dir, 0, k, err)) { rv_chexbert_free(c); return rv_fail_wrap(err, "CheXbert model"); }
    if (rv_encoder_cfg(c->enc)->arch != RV_ENC_BERT) {
        rv_chexbert_free(c);
        return rv_fail(err, "CheXbert model %s: config.json model_type is not bert (CheXbert is BERT-base)", dir);
    }
    if (rv_text_tok_load(&c->tok, dir, NULL, err)) { rv_chexbert_free(c); return rv_fail_wrap(err, "CheXbert model"); }
    c->heads.hidden = rv_encoder_cfg(c->enc)->hidden;
    c->heads.w = rv_xcalloc((size_t)RV_CHEXBERT_NLOGITS * c->heads.hidden, sizeof *c->heads.w);
    c->heads.b = rv_xcalloc(RV_CHEXBERT_NLOGITS, sizeof *c->heads.b);
    for (int i = 0; i < RV_CHX_NLABELS; i++)
        if (load_head(c, i, err)) { rv_chexbert_free(c); return -1; }
    *out = c;
    return 0;
}

void rv_chexbert_free(rv_chexbert *c) {
    if (!c) return;
    rv_encoder_free(c->enc);
    rv_text_tok_free(c->tok);
    free(c->heads.w);
    free(c->heads.b);
    free(c->dir);
    free(c);
}

int rv_chexbert_hidden_size(const rv_chexbert *c) { return c->heads.hidden; }
const char *rv_chexbert_dir(const rv_chexbert *c) { return c->dir; }

/* [CLS] rows of the final layer for texts[n]: out[n, hidden]. */
static int cls_vectors(rv_chexbert *c, const char *const *texts, size_t n, float *out, rv_err *err) {
    rv_text_batch tb;
    int rc = rv_text_batch_tokenize(&tb, c->tok, texts, n, rv_text_batch_max_len(c->enc), err);
    if (!rc) rc = rv_text_batch_forward(&tb, c->enc, err);
    for (size_t i = 0; !rc && i < n; i++)
        memcpy(out + i * (size_t)tb.dim, tb.hidden + tb.row[i] * (size_t)tb.dim, (size_t)tb.dim * sizeof *out);
    rv_text_batch_free(&tb);
    if (rc) rv_fail_wrap(err, "CheXbert model %s", c->dir);
    return rc;
}

int rv_chexbert_label(rv_chexbert *c, const char *const *texts, size_t n, int (*classes)[RV_CHX_NLABELS],
                      double *logits, rv_err *err) {
    char **prep = rv_xmalloc((n ? n : 1) * sizeof *prep);
    for (size_t i = 0; i < n; i++) prep[i] = rv_np_squash_space(texts[i], strlen(texts[i]));
    int hidden = c->heads.hidden;
    float *cls = rv_xmalloc((n ? n : 1) * (size_t)hidden * sizeof *cls);
    int rc = cls_vectors(c, (const char *const *)prep, n, cls, err);
    double l[RV_CHEXBERT_NLOGITS];
    for (size_t i = 0; !rc && i < n; i++) {
        rv_chexbert_logits(&c->heads, cls + i * (size_t)hidden, l);
        rv_chexbert_classes(l, classes[i]);
        if (logits) memcpy(logits + i * RV_CHEXBERT_NLOGITS, l, sizeof l);
    }
    for (size_t i = 0; i < n; i++) free(prep[i]);
    free(prep);
    free(cls);
    return rc;
}

int rv_chexbert_embed(rv_chexbert *c, const char *const *texts, size_t n, float *out, rv_err *err) {
    return cls_vectors(c, texts, n, out, err);
}
