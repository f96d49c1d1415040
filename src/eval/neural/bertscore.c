#include "eval/neural/bertscore.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/neural/text_batch.h"
#include "eval/neural/text_prep.h"
#include "io/json.h"
#include "textenc/encoder.h"
#include "textenc/text_tokenizer.h"

/* ---- the matching ---- */

static void unit_rows(const float *x, int n, int dim, double *out) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < dim; d++) s += (double)x[(size_t)i * dim + d] * x[(size_t)i * dim + d];
        double inv = 1.0 / sqrt(s); /* a zero vector gives NaN, as torch's division */
        for (int d = 0; d < dim; d++) out[(size_t)i * dim + d] = x[(size_t)i * dim + d] * inv;
    }
}

void rv_bertscore_greedy(const float *hyp, const int32_t *hyp_ids, int nh, const float *ref,
                         const int32_t *ref_ids, int nr, int dim, int32_t cls, int32_t sep,
                         bool hyp_padded, bool ref_padded, rv_bertscore_prf *out) {
    double *h = rv_xmalloc(((size_t)nh * dim + 1) * sizeof *h), *r = rv_xmalloc(((size_t)nr * dim + 1) * sizeof *r);
    double *best_h = rv_xmalloc(((size_t)nh + 1) * sizeof *best_h), *best_r = rv_xmalloc(((size_t)nr + 1) * sizeof *best_r);
    unit_rows(hyp, nh, dim, h);
    unit_rows(ref, nr, dim, r);
    /* a padded position of the other side has cosine 0 after bert_score's mask */
    for (int i = 0; i < nh; i++) best_h[i] = ref_padded ? 0.0 : -INFINITY;
    for (int j = 0; j < nr; j++) best_r[j] = hyp_padded ? 0.0 : -INFINITY;
    /* sim [nh, nr]: row max = word precision, column max = word recall */
    for (int i = 0; i < nh; i++)
        for (int j = 0; j < nr; j++) {
            double s = 0;
            for (int d = 0; d < dim; d++) s += h[(size_t)i * dim + d] * r[(size_t)j * dim + d];
            if (s > best_h[i] || isnan(s)) best_h[i] = s;
            if (s > best_r[j] || isnan(s)) best_r[j] = s;
        }
    /* idf off: weight 1 per token, 0 for the cls / sep ids, normalised to sum 1 (0/0 = NaN when
     * a side has no other token, which the empty-side rule below overrides) */
    double wh = 0, wr = 0, P = 0, R = 0;
    for (int i = 0; i < nh; i++) wh += (hyp_ids[i] != cls && hyp_ids[i] != sep);
    for (int j = 0; j < nr; j++) wr += (ref_ids[j] != cls && ref_ids[j] != sep);
    for (int i = 0; i < nh; i++) P += (hyp_ids[i] != cls && hyp_ids[i] != sep) / wh * best_h[i];
    for (int j = 0; j < nr; j++) R += (ref_ids[j] != cls && ref_ids[j] != sep) / wr * best_r[j];
    double F = 2 * P * R / (P + R);
    if (nh == 2 || nr == 2) P = R = 0; /* bert_score: "empty candidate / reference sentence" */
    if (isnan(F)) F = 0;
    out->p = P;
    out->r = R;
    out->f = F;
    free(h); free(r); free(best_h); free(best_r);
}

/* ---- with a model ---- */

struct rv_bertscorer {
    rv_encoder *enc;
    rv_text_tok *tok;
    const rv_bertscore_baseline *baseline;
    int layer;
    char describe[256];
};

/* The model's name for its baseline row: the directory's base name, else config.json's
 * _name_or_path base name. */
static void model_names(const char *dir, char base[128], char named[128]) {
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    size_t s = l;
    while (s > 0 && dir[s - 1] != '/') s--;
    snprintf(base, 128, "%.*s", (int)(l - s), dir + s);
    named[0] = '\0';
    char *path = rv_xasprintf("%s/config.json", dir);
    rv_err e;
    cJSON *c = rv_json_parse_file(path, &e);
    free(path);
    const cJSON *n = c ? cJSON_GetObjectItemCaseSensitive(c, "_name_or_path") : NULL;
    if (cJSON_IsString(n)) {
        const char *v = n->valuestring, *slash = strrchr(v, '/');
        snprintf(named, 128, "%s", slash ? slash + 1 : v);
    }
    cJSON_Delete(c);
}

static int pick_baseline(rv_bertscorer *b, const char *dir, const char *baseline, rv_err *err) {
    if (!baseline || !strcmp(baseline, "none")) { b->baseline = NULL; return 0; }
    char base[128], named[128];
    model_names(dir, base, named);
    if (strcmp(baseline, "auto") != 0) {
        b->baseline = rv_bertscore_baseline_find(baseline, b->layer);
    } else {
        b->baseline = rv_bertscore_baseline_find(base, b->layer);
        if (!b->baseline) b->baseline = rv_bertscore_baseline_find(named, b->layer);
    }
    if (b->baseline) return 0;
    return rv_fail(err, "BERTScore model %s (named \"%s\"%s%s%s) layer %d: no published rescale baseline for %s; set "
                        "metrics.bertscore_baseline to distilbert-base-uncased or distilroberta-base (the rows of "
                        "data/bertscore_baselines.tsv, layers 0-6) when the directory holds one of them, or to none "
                        "for raw scores",
                   dir, base, named[0] ? ", config.json _name_or_path \"" : "", named, named[0] ? "\"" : "", b->layer,
                   strcmp(baseline, "auto") ? baseline : "it");
}

int rv_bertscorer_load(rv_bertscorer **out, const char *dir, int layer, const char *baseline, rv_kctx *k,
                       rv_err *err) {
    *out = NULL;
    if (layer < 1) return rv_fail(err, "BERTScore model %s: layer %d; use 1 .. the model's layers (upstream: 5)", dir, layer);
    rv_bertscorer *b = rv_xcalloc(1, sizeof *b);
    b->layer = layer;
    if (rv_encoder_load(&b->enc, dir, layer, k, err)) { free(b); return rv_fail_wrap(err, "BERTScore model"); }
    if (rv_encoder_cfg(b->enc)->layers < layer) {
        int have = rv_encoder_cfg(b->enc)->layers;
        rv_bertscorer_free(b);
        return rv_fail(err, "BERTScore model %s has %d layers; metrics.bertscore_layer = %d is beyond them", dir, have, layer);
    }
    rv_text_tok_opts o = {.add_prefix_space = -1, .lower_case = -1};
    if (rv_encoder_cfg(b->enc)->arch == RV_ENC_ROBERTA) o.add_prefix_space = 1; /* bert_score's sent_encode */
    if (rv_text_tok_load(&b->tok, dir, &o, err)) { rv_bertscorer_free(b); return rv_fail_wrap(err, "BERTScore model"); }
    if (pick_baseline(b, dir, baseline, err)) { rv_bertscorer_free(b); return -1; }
    if (b->baseline) snprintf(b->describe, sizeof b->describe, "%s layer %d, rescaled with the %s baseline", dir, layer, b->baseline->model);
    else snprintf(b->describe, sizeof b->describe, "%s layer %d, not rescaled", dir, layer);
    *out = b;
    return 0;
}

void rv_bertscorer_free(rv_bertscorer *b) {
    if (!b) return;
    rv_encoder_free(b->enc);
    rv_text_tok_free(b->tok);
    free(b);
}

const rv_bertscore_baseline *rv_bertscorer_baseline(const rv_bertscorer *b) { return b->baseline; }
const char *rv_bertscorer_describe(const rv_bertscorer *b) { return b->describe; }

int rv_bertscorer_score(rv_bertscorer *b, const char *const *hyps, const char *const *refs, size_t n, size_t chunk,
                        rv_bertscore_prf *out, rv_err *err) {
    if (chunk < 1) chunk = 1;
    /* texts: hyps then refs, stripped; each distinct one encoded once */
    char **text = rv_xmalloc((2 * n + 1) * sizeof *text);
    for (size_t i = 0; i < n; i++) {
        text[i] = rv_np_strip(hyps[i], strlen(hyps[i]));
        text[n + i] = rv_np_strip(refs[i], strlen(refs[i]));
    }
    const char **uniq = NULL;
    size_t nuniq = 0, *which = NULL;
    rv_text_dedup((const char *const *)text, 2 * n, &uniq, &nuniq, &which);
    rv_text_batch tb;
    int rc = rv_text_batch_tokenize(&tb, b->tok, uniq, nuniq, rv_text_batch_max_len(b->enc), err);
    if (!rc) rc = rv_text_batch_forward(&tb, b->enc, err);
    if (rc) rv_fail_wrap(err, "BERTScore (%s)", b->describe);
    int32_t cls = rv_text_tok_cls(b->tok), sep = rv_text_tok_sep(b->tok);
    for (size_t c = 0; !rc && c < n; c += chunk) {
        size_t end = c + chunk < n ? c + chunk : n, hmax = 0, rmax = 0;
        for (size_t i = c; i < end; i++) {
            if (tb.len[which[i]] > hmax) hmax = tb.len[which[i]];
            if (tb.len[which[n + i]] > rmax) rmax = tb.len[which[n + i]];
        }
        for (size_t i = c; i < end; i++) {
            size_t h = which[i], r = which[n + i];
            rv_bertscore_greedy(tb.hidden + tb.row[h] * (size_t)tb.dim, tb.ids[h], (int)tb.len[h],
                                tb.hidden + tb.row[r] * (size_t)tb.dim, tb.ids[r], (int)tb.len[r], tb.dim, cls, sep,
                                tb.len[h] < hmax, tb.len[r] < rmax, &out[i]);
            rv_bertscore_rescale(b->baseline, &out[i]);
        }
    }
    rv_text_batch_free(&tb);
    for (size_t i = 0; i < 2 * n; i++) free(text[i]);
    free(text);
    free(uniq);
    free(which);
    return rc;
}
