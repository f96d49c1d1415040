/* Parity of the text and statistics metrics with the Python reference packages, through the
 * fixtures written by tests/fixtures/eval/gen_eval_fixtures.py (pycocoevalcap, rouge-score,
 * nltk, sacrebleu's 13a tokenizer, scikit-learn, numpy). Tolerance: 1e-9 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "core/fsutil.h"
#include "eval/metrics/bleu.h"
#include "eval/metrics/cider.h"
#include "eval/metrics/classification.h"
#include "eval/metrics/google_bleu.h"
#include "eval/metrics/npstat.h"
#include "eval/metrics/porter.h"
#include "eval/metrics/rouge.h"
#include "io/json.h"

static int rel_ok(double g, double w) {
    if (g == w) return 1;
    return fabs(g - w) <= 1e-9 * fabs(w);
}

#define CHECK_REL(g, w, what, i)                                                                 \
    do {                                                                                         \
        double g__ = (g), w__ = (w);                                                             \
        if (rel_ok(g__, w__)) check_passed_++;                                                   \
        else { check_failed_++; fprintf(stderr, "%s[%d]: got %.17g want %.17g\n", what, (int)(i), g__, w__); } \
    } while (0)

static cJSON *load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/eval/%s", RADVLM_SOURCE_DIR, name);
    rv_err err;
    cJSON *j = rv_json_parse_file(path, &err);
    if (!j) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    return j;
}

static double num(const cJSON *a, int i) { return cJSON_GetArrayItem(a, i)->valuedouble; }

static void test_text(void) {
    cJSON *root = load("text_metrics.json");
    cJSON *pairs = cJSON_GetObjectItem(root, "pairs");
    int n = cJSON_GetArraySize(pairs);
    CHECK(n >= 250);
    const char **hyps = calloc((size_t)n, sizeof *hyps), **refs = calloc((size_t)n, sizeof *refs);
    rv_ngram_ws ws = {0};
    rv_bleu_stats tot = {0};
    double *r1 = calloc((size_t)n, sizeof(double)), *r2 = calloc((size_t)n, sizeof(double)),
           *rl = calloc((size_t)n, sizeof(double)), *ci = calloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) {
        cJSON *p = cJSON_GetArrayItem(pairs, i);
        hyps[i] = cJSON_GetObjectItem(p, "hyp")->valuestring;
        refs[i] = cJSON_GetObjectItem(p, "ref")->valuestring;
        rv_bleu_stats st;
        rv_bleu_stats_pair(hyps[i], strlen(hyps[i]), refs[i], strlen(refs[i]), &st, &ws);
        rv_bleu_stats_add(&tot, &st);
        double b[4];
        rv_bleu_score(&st, b);
        for (int k = 0; k < 4; k++) CHECK_REL(b[k], num(cJSON_GetObjectItem(p, "bleu"), k), "bleu", i);
        double g = rv_google_bleu(hyps[i], strlen(hyps[i]), refs[i], strlen(refs[i]), &ws);
        CHECK_REL(g, cJSON_GetObjectItem(p, "google_bleu")->valuedouble, "google_bleu", i);
        rv_prf rg[3];
        rv_rouge_pair(hyps[i], strlen(hyps[i]), refs[i], strlen(refs[i]), rg, &ws);
        cJSON *rw = cJSON_GetObjectItem(p, "rouge");
        for (int k = 0; k < 3; k++) {
            cJSON *t = cJSON_GetArrayItem(rw, k);
            CHECK_REL(rg[k].p, num(t, 0), "rouge.p", i);
            CHECK_REL(rg[k].r, num(t, 1), "rouge.r", i);
            CHECK_REL(rg[k].f, num(t, 2), "rouge.f", i);
        }
        r1[i] = rg[0].f; r2[i] = rg[1].f; rl[i] = rg[2].f;
    }
    cJSON *corp = cJSON_GetObjectItem(root, "corpus");
    double b[4];
    rv_bleu_score(&tot, b);
    for (int k = 0; k < 4; k++) CHECK_REL(b[k], num(cJSON_GetObjectItem(corp, "bleu"), k), "corpus bleu", k);
    CHECK_REL(rv_np_mean(r1, (size_t)n), cJSON_GetObjectItem(corp, "rouge1")->valuedouble, "rouge1 mean", 0);
    CHECK_REL(rv_np_mean(r2, (size_t)n), cJSON_GetObjectItem(corp, "rouge2")->valuedouble, "rouge2 mean", 0);
    CHECK_REL(rv_np_mean(rl, (size_t)n), cJSON_GetObjectItem(corp, "rougel")->valuedouble, "rougel mean", 0);

    rv_cider_df *df = rv_cider_df_build(refs, NULL, (size_t)n);
    for (int i = 0; i < n; i++) {
        ci[i] = rv_cider_pair(df, hyps[i], strlen(hyps[i]), refs[i], strlen(refs[i]), &ws);
        CHECK_REL(ci[i], cJSON_GetObjectItem(cJSON_GetArrayItem(pairs, i), "cider")->valuedouble, "cider", i);
    }
    CHECK_REL(rv_np_mean(ci, (size_t)n), cJSON_GetObjectItem(corp, "cider")->valuedouble, "corpus cider", 0);
    rv_cider_df_free(df);

    cJSON *sm = cJSON_GetObjectItem(root, "small_corpus");
    cJSON *idx = cJSON_GetObjectItem(sm, "idx");
    int m = cJSON_GetArraySize(idx);
    const char **sr = calloc((size_t)m, sizeof *sr);
    for (int k = 0; k < m; k++) sr[k] = refs[(int)num(idx, k)];
    df = rv_cider_df_build(sr, NULL, (size_t)m);
    for (int k = 0; k < m; k++) {
        int i = (int)num(idx, k);
        double c = rv_cider_pair(df, hyps[i], strlen(hyps[i]), refs[i], strlen(refs[i]), &ws);
        CHECK_REL(c, num(cJSON_GetObjectItem(sm, "cider_each"), k), "small cider", k);
    }
    rv_cider_df_free(df);
    free(sr);
    free(r1); free(r2); free(rl); free(ci);
    free(hyps); free(refs);
    rv_ngram_ws_free(&ws);
    cJSON_Delete(root);
}

static void test_porter(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/eval/porter.tsv", RADVLM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[512], out[512];
    int bad = 0, n = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        char *want = tab + 1;
        want[strcspn(want, "\n")] = '\0';
        rv_porter_stem(line, strlen(line), out);
        n++;
        if (strcmp(out, want) != 0) { bad++; if (bad < 20) fprintf(stderr, "stem(%s) = %s, want %s\n", line, out, want); }
    }
    fclose(f);
    CHECK(n > 3000);
    CHECK(bad == 0);
}

static unsigned row_bits(const cJSON *row) {
    unsigned b = 0;
    for (int i = 0; i < cJSON_GetArraySize(row); i++) if (num(row, i) != 0) b |= 1u << i;
    return b;
}

static void test_stats(void) {
    cJSON *root = load("stats_metrics.json");
    cJSON *cls = cJSON_GetObjectItem(root, "classification");
    cJSON *c;
    cJSON_ArrayForEach(c, cls) {
        cJSON *yt = cJSON_GetObjectItem(c, "true"), *yp = cJSON_GetObjectItem(c, "pred");
        int nl = cJSON_GetArraySize(cJSON_GetArrayItem(yt, 0));
        rv_prf_counts cnt;
        rv_prf_counts_init(&cnt, nl);
        for (int i = 0; i < cJSON_GetArraySize(yt); i++)
            rv_prf_counts_add(&cnt, row_bits(cJSON_GetArrayItem(yt, i)), row_bits(cJSON_GetArrayItem(yp, i)));
        rv_prf_report r;
        rv_prf_report_compute(&cnt, &r);
        cJSON *mi = cJSON_GetObjectItem(c, "micro"), *ma = cJSON_GetObjectItem(c, "macro");
        CHECK_REL(r.p_micro, num(mi, 0), c->string, 0);
        CHECK_REL(r.r_micro, num(mi, 1), c->string, 1);
        CHECK_REL(r.f_micro, num(mi, 2), c->string, 2);
        CHECK_REL(r.p_macro, num(ma, 0), c->string, 3);
        CHECK_REL(r.r_macro, num(ma, 1), c->string, 4);
        CHECK_REL(r.f_macro, num(ma, 2), c->string, 5);
        CHECK_REL(r.f_micro, cJSON_GetObjectItem(c, "cr_micro_f1")->valuedouble, c->string, 6);
        CHECK_REL(r.f_macro, cJSON_GetObjectItem(c, "cr_macro_f1")->valuedouble, c->string, 7);
        for (int l = 0; l < nl; l++) CHECK_REL(r.f[l], num(cJSON_GetObjectItem(c, "f1"), l), c->string, 10 + l);
    }
    cJSON *arrs = cJSON_GetObjectItem(root, "numpy");
    cJSON_ArrayForEach(c, arrs) {
        cJSON *a = cJSON_GetObjectItem(c, "a");
        int n = cJSON_GetArraySize(a);
        double *v = malloc((size_t)n * sizeof *v);
        for (int i = 0; i < n; i++) v[i] = num(a, i);
        /* the mean must be bit-identical: same pairwise order */
        CHECK(rv_np_mean(v, (size_t)n) == cJSON_GetObjectItem(c, "mean")->valuedouble);
        CHECK(rv_np_percentile(v, (size_t)n, 2.5) == cJSON_GetObjectItem(c, "p2_5")->valuedouble);
        CHECK(rv_np_percentile(v, (size_t)n, 97.5) == cJSON_GetObjectItem(c, "p97_5")->valuedouble);
        CHECK(rv_np_percentile(v, (size_t)n, 50) == cJSON_GetObjectItem(c, "p50")->valuedouble);
        free(v);
    }
    cJSON_Delete(root);
}

int main(void) {
    test_porter();
    test_text();
    test_stats();
    return check_summary("test_eval_parity");
}
