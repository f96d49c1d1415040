/* Property tests on random and arbitrary inputs: every metric stays in range, never crashes on
 * arbitrary bytes (invalid UTF-8, NULs excluded since inputs are C strings), and is symmetric
 * where the definition is (ROUGE-N/L F, GoogleBLEU). Seeded Philox streams. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "core/rng.h"
#include "eval/metrics/bleu.h"
#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/cider.h"
#include "eval/metrics/classification.h"
#include "eval/metrics/google_bleu.h"
#include "eval/metrics/grounding.h"
#include "eval/tasks/reasoning.h"
#include "eval/metrics/rouge.h"

static const char *const WORDS[] = {"the", "heart", "size", "is", "normal", ".", "no", "effusion", "pleural",
                                    "İ", "\u212a", "\u00a0", "3.5", "-", ",", "[0.1,", "0.2,", "0.3,", "0.4]",
                                    "\\boxed{", "}", "</think>", "\xff", "\xc3", "edema", "Edema"};

static char *random_text(rv_rng *r, int bytes_mode) {
    size_t n = rv_rng_below(r, 60);
    char *s = malloc(n * 12 + 2);
    size_t l = 0;
    for (size_t i = 0; i < n; i++) {
        if (bytes_mode) { unsigned char c = (unsigned char)(1 + rv_rng_below(r, 255)); s[l++] = (char)c; continue; }
        const char *w = WORDS[rv_rng_below(r, sizeof WORDS / sizeof WORDS[0])];
        size_t wl = strlen(w);
        memcpy(s + l, w, wl);
        l += wl;
        if (rv_rng_below(r, 4)) s[l++] = ' ';
    }
    s[l] = '\0';
    return s;
}

static int in01(double x) { return x >= 0.0 && x <= 1.0 + 1e-12 && !isnan(x); }

int main(void) {
    rv_rng r;
    rv_rng_init(&r, 99, 1, 0);
    rv_ngram_ws ws = {0};
    int bad_range = 0, bad_sym = 0;
    enum { N = 600 };
    char *hy[N], *rf[N];
    for (int i = 0; i < N; i++) {
        int mode = (int)rv_rng_below(&r, 3) == 0;
        hy[i] = random_text(&r, mode);
        rf[i] = random_text(&r, mode);
    }
    rv_cider_df *df = rv_cider_df_build((const char *const *)rf, NULL, N);
    for (int i = 0; i < N; i++) {
        const char *h = hy[i], *f = rf[i];
        size_t hl = strlen(h), fl = strlen(f);
        rv_bleu_stats st;
        double b[4];
        rv_bleu_stats_pair(h, hl, f, fl, &st, &ws);
        rv_bleu_score(&st, b);
        for (int k = 0; k < 4; k++) bad_range += !in01(b[k]);
        rv_prf a[3], c[3];
        rv_rouge_pair(h, hl, f, fl, a, &ws);
        rv_rouge_pair(f, fl, h, hl, c, &ws);
        for (int k = 0; k < 3; k++) {
            bad_range += !in01(a[k].p) + !in01(a[k].r) + !in01(a[k].f);
            bad_sym += fabs(a[k].f - c[k].f) > 1e-15 || a[k].p != c[k].r;
        }
        double g1 = rv_google_bleu(h, hl, f, fl, &ws), g2 = rv_google_bleu(f, fl, h, hl, &ws);
        bad_range += !in01(g1);
        bad_sym += g1 != g2;
        double ci = rv_cider_pair(df, h, hl, f, fl, &ws);
        bad_range += !(ci >= 0.0 && ci <= 10.0 + 1e-9);
        int cls[RV_CHX_NLABELS];
        rv_chx_label(h, hl, cls);
        for (int k = 0; k < RV_CHX_NLABELS; k++) bad_range += cls[k] < 0 || cls[k] > 3;
        rv_eval_box *bx;
        size_t nb, bad;
        nb = rv_boxes_parse(h, hl, &bx, &bad);
        rv_ground_sample gs;
        rv_eval_box g0 = {0.1, 0.2, 0.3, 0.4};
        rv_ground_score(bx, nb, &g0, 1, 0.5, &gs);
        bad_range += !in01(gs.ap);
        free(bx);
        bool found;
        rv_span sp = rv_reasoning_answer(h, hl, 4000, &found);
        bad_range += sp.p < h || sp.p + sp.len > h + hl;
        bad_range += rv_cls_parse(h, hl) >> RV_CLS_NLABELS != 0;
    }
    /* identical texts: ROUGE F is 1 when there is any token, GoogleBLEU 1 when any n-gram */
    for (int i = 0; i < N; i++) {
        rv_prf a[3];
        rv_rouge_pair(hy[i], strlen(hy[i]), hy[i], strlen(hy[i]), a, &ws);
        rv_rouge_tokenize(&ws, &ws.hyp, hy[i], strlen(hy[i]));
        if (ws.hyp.n) bad_range += a[0].f != 1.0 || a[2].f != 1.0;
    }
    rv_cider_df_free(df);
    for (int i = 0; i < N; i++) { free(hy[i]); free(rf[i]); }
    rv_ngram_ws_free(&ws);
    CHECK(bad_range == 0);
    CHECK(bad_sym == 0);
    return check_summary("test_eval_fuzz");
}
