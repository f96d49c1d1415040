/* BPE trainer: (1) a hand-worked example; (2) on the fixture corpus it learns exactly the vocab
 * and merges that HF's BpeTrainer learned (hf_trained.json, gen_tokenizer_fixtures.py);
 * (3) the JSON it writes is byte-identical to ours_trained.json, for which HF's own ids are
 * in ours_ids.json, and our encoder with it gives those ids. Set RV_TOK_WRITE_TRAINED=path to
 * write the trained file for the generator's --ours option. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/json.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"

#define FIX RADVLM_SOURCE_DIR "/tests/fixtures/tokenizer/"

static const char *SPECIALS[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"};

static void test_hand(void) {
    /* pieces "abab" and " ab": counts (a,b)=3, (b,a)=1, (Ġ,a)=1 -> merge "ab" (id 256).
     * Then (ab,ab)=1 and (Ġ,ab)=1 tie; the smaller pair wins: Ġ is U+0120, the 221st character
     * by code point (188 printable bytes < U+0100, then U+0100..U+0120), id 220 < 256. */
    const char *texts[] = {"abab ab"};
    rv_sb j;
    rv_sb_init(&j);
    rv_err err;
    CHECK(rv_bpe_train_json(texts, NULL, 1, 258, NULL, 0, &j, &err) == 0);
    cJSON *root = rv_json_parse("hand", j.s, j.len, &err);
    CHECK(root != NULL);
    if (!root) return;
    cJSON *model = cJSON_GetObjectItem(root, "model");
    cJSON *merges = cJSON_GetObjectItem(model, "merges"), *vocab = cJSON_GetObjectItem(model, "vocab");
    CHECK(cJSON_GetArraySize(merges) == 2);
    CHECK(cJSON_GetArraySize(vocab) == 258);
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetArrayItem(merges, 0), 0)->valuestring, "a");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetArrayItem(merges, 0), 1)->valuestring, "b");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetArrayItem(merges, 1), 0)->valuestring, "\xC4\xA0");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetArrayItem(merges, 1), 1)->valuestring, "ab");
    CHECK(cJSON_GetObjectItem(vocab, "!")->valuedouble == 0);
    CHECK(cJSON_GetObjectItem(vocab, "\xC4\xA0")->valuedouble == 220);
    CHECK(cJSON_GetObjectItem(vocab, "\xC4\xA0" "ab")->valuedouble == 257);
    /* and it loads: "abab ab" -> ab ab Ġab */
    rv_tokenizer *t = NULL;
    CHECK(rv_tokenizer_load_json("hand", j.s, j.len, &t, &err) == 0);
    rv_ids ids = {0};
    CHECK(t && rv_tokenizer_encode(t, "abab ab", 7, &ids, &err) == 0);
    CHECK(ids.n == 3 && ids.v[0] == 256 && ids.v[1] == 256 && ids.v[2] == 257);
    rv_ids_free(&ids);
    rv_tokenizer_free(t);
    cJSON_Delete(root);
    rv_sb_free(&j);
    /* invalid UTF-8 is reported with text index and byte */
    const char *bad[] = {"ok", "x\xFFy"};
    rv_sb_init(&j);
    CHECK(rv_bpe_train_json(bad, NULL, 2, 300, NULL, 0, &j, &err) == -1);
    CHECK(strstr(err.msg, "text 1") && strstr(err.msg, "byte 1"));
    rv_sb_free(&j);
}

static bool same_json(const cJSON *a, const cJSON *b) { return cJSON_Compare(a, b, true); }

int main(void) {
    test_hand();

    rv_err err;
    cJSON *corpus = rv_json_parse_file(FIX "corpus.json", &err);
    cJSON *hf = rv_json_parse_file(FIX "hf_trained.json", &err);
    CHECK(corpus && hf);
    if (!corpus || !hf) return check_summary("test_tokenizer_train");
    const cJSON *tc = cJSON_GetObjectItem(corpus, "train_corpus"), *e;
    size_t n = (size_t)cJSON_GetArraySize(tc), i = 0;
    const char **texts = calloc(n, sizeof *texts);
    cJSON_ArrayForEach(e, tc) texts[i++] = e->valuestring;

    rv_sb j;
    rv_sb_init(&j);
    CHECK(rv_bpe_train_json(texts, NULL, n, 600, SPECIALS, 4, &j, &err) == 0);
    const char *dump = getenv("RV_TOK_WRITE_TRAINED");
    if (dump) CHECK(rv_write_atomic(dump, j.s, j.len, &err) == 0);
    cJSON *ours = rv_json_parse("ours", j.s, j.len, &err);
    CHECK(ours != NULL);
    if (ours) {
        const cJSON *om = cJSON_GetObjectItem(ours, "model"), *hm = cJSON_GetObjectItem(hf, "model");
        CHECK(same_json(cJSON_GetObjectItem(om, "vocab"), cJSON_GetObjectItem(hm, "vocab")));
        CHECK(same_json(cJSON_GetObjectItem(om, "merges"), cJSON_GetObjectItem(hm, "merges")));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(om, "merges")) == 340);
    }

    /* the committed copy of our output, checked by HF */
    char *committed = NULL;
    size_t clen = 0;
    if (rv_read_file(FIX "ours_trained.json", &committed, &clen, &err) == 0) {
        CHECK(clen == j.len && memcmp(committed, j.s, clen) == 0);
        free(committed);
        cJSON *want = rv_json_parse_file(FIX "ours_ids.json", &err);
        CHECK(want != NULL);
        rv_tokenizer *t = NULL;
        CHECK(rv_tokenizer_load_json("ours", j.s, j.len, &t, &err) == 0);
        if (want && t) {
            const cJSON *items = cJSON_GetObjectItem(corpus, "items"), *it;
            const cJSON *w = cJSON_GetObjectItem(want, "corpus_ids")->child;
            int bad = 0, count = 0;
            cJSON_ArrayForEach(it, items) {
                const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
                rv_ids ids = {0};
                CHECK(rv_tokenizer_encode(t, text, strlen(text), &ids, &err) == 0);
                bool ok = w && (size_t)cJSON_GetArraySize(w) == ids.n;
                for (size_t k = 0; ok && k < ids.n; k++) ok = cJSON_GetArrayItem(w, (int)k)->valuedouble == ids.v[k];
                if (!ok) { bad++; fprintf(stderr, "ours_ids mismatch: %s\n", text); }
                rv_ids_free(&ids);
                w = w ? w->next : NULL;
                count++;
            }
            CHECK(count > 30 && bad == 0);
        }
        rv_tokenizer_free(t);
        cJSON_Delete(want);
    } else {
        CHECK(!"tests/fixtures/tokenizer/ours_trained.json missing: run the generator with --ours");
    }
    cJSON_Delete(ours);
    rv_sb_free(&j);
    free(texts);
    cJSON_Delete(corpus);
    cJSON_Delete(hf);
    return check_summary("test_tokenizer_train");
}
