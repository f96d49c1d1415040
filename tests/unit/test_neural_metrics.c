/* The neural metrics' model-free parts, against hand calculations: BERTScore's greedy matching
 * (special tokens weigh 0 on their own side but are matched on the other), its empty-side
 * rules and the baseline rescale (table = data/bertscore_baselines.tsv), CheXbert's heads and
 * argmax, the semb cosine, the text preparation of the reference packages, and the errors of
 * hostile model directories and of metrics without their models. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval/neural/bertscore.h"
#include "eval/neural/chexbert.h"
#include "eval/neural/neural_metrics.h"
#include "eval/neural/semb.h"
#include "eval/neural/text_prep.h"
#include "kernels/kernels.h"

enum { CLS = 101, SEP = 102 };

static void test_greedy(void) {
    /* dim 2. hyp: CLS (1,0), A (3,4) -> unit (0.6,0.8), B (0,2) -> (0,1), SEP (-1,0);
     * ref: CLS (0,1), C (4,3) -> (0.8,0.6), SEP (1,0). Cosines:
     *   A: CLS 0.8, C 0.96, SEP 0.6 -> 0.96;  B: CLS 1, C 0.6, SEP 0 -> 1 (the ref's CLS wins)
     *   column C: hyp CLS 0.8, A 0.96, B 0.6, SEP -0.8 -> 0.96
     * P = (0.96 + 1) / 2 = 0.98 (A, B weigh 1/2; CLS/SEP 0), R = 0.96 (only C weighs),
     * F = 2 * 0.98 * 0.96 / 1.94 = 1.8816 / 1.94. */
    const float hyp[] = {1, 0, 3, 4, 0, 2, -1, 0}, ref[] = {0, 1, 4, 3, 1, 0};
    const int32_t hid[] = {CLS, 5, 6, SEP}, rid[] = {CLS, 7, SEP};
    rv_bertscore_prf o;
    rv_bertscore_greedy(hyp, hid, 4, ref, rid, 3, 2, CLS, SEP, false, false, &o);
    CHECK_NEAR(o.p, 0.98, 1e-12);
    CHECK_NEAR(o.r, 0.96, 1e-12);
    CHECK_NEAR(o.f, 1.8816 / 1.94, 1e-12);
    /* swapping the sides swaps P and R */
    rv_bertscore_prf s;
    rv_bertscore_greedy(ref, rid, 3, hyp, hid, 4, 2, CLS, SEP, false, false, &s);
    CHECK_NEAR(s.p, 0.96, 1e-12);
    CHECK_NEAR(s.r, 0.98, 1e-12);
    /* an empty candidate ([CLS][SEP] only): P = R = F = 0 (bert_score's empty-sentence rule) */
    const float e2[] = {1, 0, 0, 1};
    const int32_t eid[] = {CLS, SEP};
    rv_bertscore_greedy(e2, eid, 2, ref, rid, 3, 2, CLS, SEP, false, false, &o);
    CHECK(o.p == 0 && o.r == 0 && o.f == 0);
    rv_bertscore_greedy(hyp, hid, 4, e2, eid, 2, 2, CLS, SEP, false, false, &o);
    CHECK(o.p == 0 && o.r == 0 && o.f == 0);
    /* opposite single tokens: P = R = -1, F = 2 / -2 = -1 (raw scores may be negative) */
    const float h1[] = {1, 0, 1, 0, 1, 0}, r1[] = {1, 0, -1, 0, 1, 0};
    const int32_t i1[] = {CLS, 9, SEP};
    rv_bertscore_greedy(h1, i1, 3, r1, i1, 3, 2, CLS, SEP, false, false, &o);
    /* token 9 of hyp (1,0) vs ref: CLS 1, tok -1, SEP 1 -> max 1; ref tok (-1,0) vs hyp: all -1 -> -1 */
    CHECK_NEAR(o.p, 1.0, 1e-12);
    CHECK_NEAR(o.r, -1.0, 1e-12);
    /* F = 2 * 1 * -1 / (1 - 1) = -inf: not NaN, so bert_score keeps it (only NaN becomes 0) */
    CHECK(isinf(o.f) && o.f < 0);
    /* the same pair in a padded bert_score batch where the candidate was shorter than the longest:
     * the ref token's recall max also sees a padded 0 -> R = 0, F = 0; P unchanged */
    rv_bertscore_greedy(h1, i1, 3, r1, i1, 3, 2, CLS, SEP, true, false, &o);
    CHECK_NEAR(o.p, 1.0, 1e-12);
    CHECK(o.r == 0.0 && o.f == 0.0);
}

static void test_rescale(void) {
    const rv_bertscore_baseline *b = rv_bertscore_baseline_find("distilbert-base-uncased", 5);
    CHECK(b && b->f == 0.66620487f);
    /* eval.md §3.5: raw F = 0 rescales to -1.9958 (distilbert L5) and -5.5502 (distilroberta L5) */
    rv_bertscore_prf x = {0, 0, 0};
    rv_bertscore_rescale(b, &x);
    CHECK_NEAR(x.f, -0.66620487 / (1 - 0.66620487), 1e-6);
    CHECK_NEAR(x.f, -1.9958, 1e-4);
    x = (rv_bertscore_prf){0, 0, 0};
    rv_bertscore_rescale(rv_bertscore_baseline_find("distilroberta-base", 5), &x);
    CHECK_NEAR(x.f, -5.5502, 1e-4);
    x = (rv_bertscore_prf){1, 1, 1}; /* a perfect match stays 1 */
    rv_bertscore_rescale(b, &x);
    CHECK_NEAR(x.p, 1, 1e-7);
    CHECK_NEAR(x.f, 1, 1e-7);
    CHECK(rv_bertscore_baseline_find("all-MiniLM-L6-v2", 5) == NULL);
    CHECK(rv_bertscore_baseline_find("distilbert-base-uncased", 7) == NULL);
    /* the table is data/bertscore_baselines.tsv, row for row */
    FILE *f = fopen(RADVLM_SOURCE_DIR "/data/bertscore_baselines.tsv", "r");
    CHECK(f != NULL);
    size_t n, row = 0;
    const rv_bertscore_baseline *t = rv_bertscore_baselines(&n);
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char model[128];
        int layer;
        double p, r, fs;
        CHECK(sscanf(line, "%127s %d %lf %lf %lf", model, &layer, &p, &r, &fs) == 5);
        CHECK(row < n);
        if (row >= n) break;
        CHECK_STR(t[row].model, model);
        CHECK(t[row].layer == layer && t[row].p == (float)p && t[row].r == (float)r && t[row].f == (float)fs);
        row++;
    }
    CHECK(row == n && n == 14);
    if (f) fclose(f);
}

static void test_chexbert_heads(void) {
    /* hidden 2; every head's rows: w_c = (c, -c), bias 0 -> logit c * (x0 - x1); x = (1, 0):
     * logits 0, 1, 2, 3 -> class 3 (uncertain); "No Finding" 0, 1 -> 1 (positive) */
    float w[RV_CHEXBERT_NLOGITS * 2], b[RV_CHEXBERT_NLOGITS] = {0};
    for (int o = 0; o < RV_CHEXBERT_NLOGITS; o++) {
        int c = o < 52 ? o % 4 : o - 52;
        w[2 * o] = (float)c;
        w[2 * o + 1] = (float)-c;
    }
    rv_chexbert_heads h = {2, w, b};
    const float x[2] = {1, 0};
    double l[RV_CHEXBERT_NLOGITS];
    rv_chexbert_logits(&h, x, l);
    CHECK(l[0] == 0 && l[3] == 3 && l[52] == 0 && l[53] == 1);
    int cls[RV_CHX_NLABELS];
    rv_chexbert_classes(l, cls);
    CHECK(cls[0] == RV_CHX_UNC && cls[12] == RV_CHX_UNC && cls[13] == 1);
    /* x = (0, 1): logits 0, -1, -2, -3 -> blank; ties -> the first maximum (torch.argmax) */
    const float y[2] = {0, 1};
    rv_chexbert_logits(&h, y, l);
    rv_chexbert_classes(l, cls);
    CHECK(cls[0] == RV_CHX_BLANK && cls[13] == 0);
    for (int i = 0; i < RV_CHEXBERT_NLOGITS; i++) l[i] = 0.5;
    l[4 * 2 + 2] = 0.5; /* all equal */
    rv_chexbert_classes(l, cls);
    CHECK(cls[2] == 0);
    l[4 * 2 + 1] = 0.7;
    l[4 * 2 + 3] = 0.7; /* tie between positive and uncertain: positive (first) */
    rv_chexbert_classes(l, cls);
    CHECK(cls[2] == RV_CHX_POS);
    /* rrg: positive and uncertain -> 1, negative and blank -> 0 */
    int c4[RV_CHX_NLABELS] = {RV_CHX_POS, RV_CHX_NEG, RV_CHX_UNC, RV_CHX_BLANK};
    CHECK(rv_chx_rrg_bits(c4) == (1u | 4u));
}

static void test_semb(void) {
    const float a[] = {1, 0}, b[] = {1, 1}, z[] = {0, 0}, c[] = {-2, 0};
    CHECK_NEAR(rv_semb_cosine(a, b, 2), 1 / sqrt(2.0), 1e-15);
    CHECK(rv_semb_cosine(a, z, 2) == 0.0);
    CHECK_NEAR(rv_semb_cosine(a, c, 2), -1.0, 1e-15);
}

static void test_text_prep(void) {
    char *s = rv_np_strip(" \t a  b \n\u3000", strlen(" \t a  b \n\u3000"));
    CHECK_STR(s, "a  b");
    free(s);
    const char *raw = "  Stable   post-operative\nchanges.\x1c x ";
    s = rv_np_squash_space(raw, strlen(raw)); /* re \s also matches \x1c (a Python str.isspace char) */
    CHECK_STR(s, "Stable post-operative changes. x");
    free(s);
    s = rv_np_lower_prefix("ÉCHO Σ ĲK", strlen("ÉCHO Σ ĲK"), 0);
    CHECK_STR(s, "écho σ ĳk");
    free(s);
    s = rv_np_lower_prefix("ABCDEF", 6, 4); /* [:4].lower() */
    CHECK_STR(s, "abcd");
    free(s);
    s = rv_np_lower_prefix("ÀÉÎ", strlen("ÀÉÎ"), 2); /* code points, not bytes */
    CHECK_STR(s, "àé");
    free(s);
    s = rv_np_lower_prefix("İ", strlen("İ"), 0); /* Python: 'i' + U+0307 */
    CHECK_STR(s, "i\xcc\x87");
    free(s);
    CHECK(rv_np_codepoints("héllo", strlen("héllo")) == 5);
    /* invalid bytes (a rollout cut inside a character) become U+FFFD; valid text is unchanged */
    s = rv_np_utf8_fix("a\xe2\x82" "b\xff\xef\xbf\xbd", 8);
    CHECK_STR(s, "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    s = rv_np_lower_prefix("A\xc3", 2, 0);
    CHECK_STR(s, "a\xef\xbf\xbd");
    free(s);
}

static void test_errors(void) {
    rv_kctx *k = NULL;
    rv_err e;
    CHECK(rvk_create(&k, "cpu", NULL, &e) == 0);
    /* no model configured: nothing is computed, and the reasons name the keys */
    CHECK(!rv_neural_has(NULL, RV_NEURAL_BERTSCORE));
    CHECK(strstr(rv_neural_unavailable(NULL, RV_NEURAL_BERTSCORE), "metrics.bertscore_model"));
    CHECK(strstr(rv_neural_unavailable(NULL, RV_NEURAL_RADCLIQ), "metrics.chexbert_model"));
    /* a BERT directory without CheXbert's heads */
    rv_chexbert *c = NULL;
    CHECK(rv_chexbert_load(&c, RADVLM_SOURCE_DIR "/tests/fixtures/textenc/bert_tiny", k, &e) == -1 && !c);
    CHECK(strstr(e.msg, "linear_heads") && strstr(e.msg, "convert_pth.py"));
    /* a model without a published baseline under "auto", a layer beyond the model, a missing dir */
    rv_bertscorer *b = NULL;
    CHECK(rv_bertscorer_load(&b, RADVLM_SOURCE_DIR "/tests/fixtures/textenc/bert_tiny", 2, "auto", k, &e) == -1 && !b);
    CHECK(strstr(e.msg, "bert_tiny") && strstr(e.msg, "metrics.bertscore_baseline"));
    CHECK(rv_bertscorer_load(&b, RADVLM_SOURCE_DIR "/tests/fixtures/textenc/bert_tiny", 9, "none", k, &e) == -1 && !b);
    CHECK(strstr(e.msg, "9") && strstr(e.msg, "bert_tiny"));
    CHECK(rv_bertscorer_load(&b, "/nonexistent/model", 5, "none", k, &e) == -1);
    CHECK(strstr(e.msg, "/nonexistent/model") != NULL);
    /* the radcliq reward without its models */
    rv_span a = {"abcdefg", 7};
    double v;
    CHECK(rv_neural_reward(NULL, RV_NEURAL_RADCLIQ, &a, &a, 1, &v, &e) == -1 && strstr(e.msg, "metrics.radgraph_model"));
    /* loading through the options: an explicit baseline row, shared by the RadCliQ role */
    rv_neural_opts o = {.bertscore_model = RADVLM_SOURCE_DIR "/tests/fixtures/textenc/bert_tiny", .bertscore_layer = 2,
                        .bertscore_baseline = "distilbert-base-uncased", .radcliq_bertscore_model = "",
                        .chexbert_model = "", .radgraph_model = ""};
    rv_neural *nm = NULL;
    CHECK(rv_neural_load(&nm, &o, k, &e) == 0);
    CHECK(rv_neural_has(nm, RV_NEURAL_BERTSCORE) && !rv_neural_has(nm, RV_NEURAL_RADCLIQ) &&
          !rv_neural_has(nm, RV_NEURAL_CHEXBERT));
    /* reward rules: <= 5 code points -> 0.0 without the model; identical texts -> 1 */
    rv_span h[2] = {{"ÉÉÉÉÉ", strlen("ÉÉÉÉÉ")}, {"Small left pleural effusion.", 28}};
    rv_span t[2] = {{"Mild cardiomegaly.", 18}, {"SMALL LEFT PLEURAL EFFUSION.", 28}};
    double r[2];
    CHECK(rv_neural_reward(nm, RV_NEURAL_BERTSCORE, h, t, 2, r, &e) == 0);
    CHECK(r[0] == 0.0 && !signbit(r[0]));
    CHECK_NEAR(r[1], 1.0, 1e-6); /* lower-cased prefixes: the same text */
    rv_neural_free(nm);
    rvk_destroy(k);
}

int main(void) {
    test_greedy();
    test_rescale();
    test_chexbert_heads();
    test_semb();
    test_text_prep();
    test_errors();
    return check_summary("test_neural_metrics");
}
