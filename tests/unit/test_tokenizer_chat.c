/* qwen_1_5 rendering (train.md A.4's literal sample) and preprocess_qwen's mask (A.5), with
 * the HF-trained fixture tokenizer; HF's ids for the rendered prompt come from corpus.json. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/json.h"
#include "tokenizer/chat_template.h"

#define FIX RADVLM_SOURCE_DIR "/tests/fixtures/tokenizer/"

static size_t count_ones(const rv_mask *m, size_t from, size_t to) {
    size_t c = 0;
    for (size_t i = from; i < to; i++) c += m->v[i];
    return c;
}

int main(void) {
    rv_err err;
    /* A.4: a single-turn training sample is exactly this text */
    rv_chat_msg turn[] = {{"human", "<image>\nWhat is shown?"}, {"gpt", "A normal chest."}};
    rv_sb s;
    rv_sb_init(&s);
    rv_chat_render_qwen(turn, 2, NULL, false, &s);
    CHECK_STR(s.s, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nWhat is shown?"
                   "<|im_end|>\n<|im_start|>assistant\nA normal chest.<|im_end|>\n");
    rv_sb_clear(&s);
    rv_chat_render_qwen(turn, 1, NULL, true, &s);
    CHECK_STR(s.s, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nWhat is shown?"
                   "<|im_end|>\n<|im_start|>assistant\n");
    rv_sb_free(&s);

    rv_tokenizer *t = NULL;
    CHECK(rv_tokenizer_load(FIX "hf_trained.json", &t, &err) == 0);
    cJSON *corpus = rv_json_parse_file(FIX "corpus.json", &err);
    CHECK(t && corpus);
    if (!t || !corpus) return check_summary("test_tokenizer_chat");

    /* ids of system + user equal HF's ids for the whole rendered text (corpus item) */
    const char *prompt = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nDescribe.<|im_end|>\n";
    const cJSON *it, *want = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(corpus, "items"))
        if (!strcmp(cJSON_GetObjectItem(it, "text")->valuestring, prompt)) want = cJSON_GetObjectItem(it, "ids");
    CHECK(want != NULL);
    rv_chat_msg m1[] = {{"human", "<image>\nDescribe."}, {"gpt", "No effusion."}};
    rv_ids ids = {0};
    rv_mask mask = {0};
    CHECK(rv_chat_tokenize_sft(t, m1, 2, NULL, false, &ids, &mask, &err) == 0);
    CHECK(ids.n == mask.n);
    size_t np = want ? (size_t)cJSON_GetArraySize(want) : 0;
    bool same = want && np < ids.n;
    for (size_t i = 0; same && i < np; i++) same = ids.v[i] == (int32_t)cJSON_GetArrayItem(want, (int)i)->valuedouble;
    CHECK(same);
    /* quirk off: exactly the assistant block is supervised, header and trailer included */
    rv_ids a = {0};
    CHECK(rv_tokenizer_encode(t, "<|im_start|>assistant\nNo effusion.<|im_end|>\n", 45, &a, &err) == 0);
    CHECK(ids.n == np + a.n);
    CHECK(count_ones(&mask, 0, np) == 0);
    CHECK(count_ones(&mask, np, ids.n) == a.n);
    rv_ids_free(&a);

    /* quirk on: also every <|im_start|>, <|im_end|> and single "\n" token before it:
     * system block: im_start, "\n", im_end, "\n" (4); user block: im_start, "\n" after user,
     * "\n" after <image>, im_end, "\n" (5). The "\n\n" token and <image> stay masked. */
    rv_chat_msg m2[] = {{"human", "<image>\nDescribe.\n\nBriefly."}, {"gpt", "No effusion."}};
    rv_ids ids2 = {0};
    rv_mask mask2 = {0};
    CHECK(rv_chat_tokenize_sft(t, m2, 2, NULL, true, &ids2, &mask2, &err) == 0);
    int32_t nn = rv_tokenizer_token_id(t, "\xC4\x8A\xC4\x8A"), img = rv_tokenizer_token_id(t, "<image>");
    CHECK(nn >= 0 && img >= 0);
    size_t user_end = 0, n_nn = 0;
    for (size_t i = 0; i < ids2.n; i++) {
        if (ids2.v[i] == nn) { n_nn++; CHECK(mask2.v[i] == 0); }
        if (ids2.v[i] == img) CHECK(mask2.v[i] == 0);
    }
    CHECK(n_nn == 1);
    /* the user block ends at the second <|im_end|> + "\n" */
    int ends = 0;
    for (size_t i = 0; i < ids2.n; i++)
        if (ids2.v[i] == rv_tokenizer_token_id(t, "<|im_end|>") && ++ends == 2) { user_end = i + 2; break; }
    CHECK(count_ones(&mask2, 0, user_end) == 9);
    CHECK(count_ones(&mask2, user_end, ids2.n) == ids2.n - user_end);

    /* a first message that is not from the user is dropped; roles are mapped */
    rv_chat_msg m3[] = {{"gpt", "dropped"}, {"human", "hi"}, {"gpt", "ok"}};
    rv_ids ids3 = {0}, ref = {0};
    rv_mask mask3 = {0}, refm = {0};
    CHECK(rv_chat_tokenize_sft(t, m3, 3, NULL, true, &ids3, &mask3, &err) == 0);
    CHECK(rv_chat_tokenize_sft(t, m3 + 1, 2, NULL, true, &ref, &refm, &err) == 0);
    CHECK(ids3.n == ref.n && memcmp(ids3.v, ref.v, ref.n * sizeof *ref.v) == 0);
    CHECK(memcmp(mask3.v, refm.v, refm.n) == 0);

    /* invalid UTF-8 in a message: error naming it, nothing appended */
    rv_chat_msg m4[] = {{"human", "ok"}, {"gpt", "bad \xFF"}};
    size_t before = ids3.n;
    CHECK(rv_chat_tokenize_sft(t, m4, 2, NULL, true, &ids3, &mask3, &err) == -1);
    CHECK(strstr(err.msg, "chat message 1") != NULL);
    CHECK(ids3.n == before && mask3.n == before);

    rv_ids_free(&ids); rv_ids_free(&ids2); rv_ids_free(&ids3); rv_ids_free(&ref);
    rv_mask_free(&mask); rv_mask_free(&mask2); rv_mask_free(&mask3); rv_mask_free(&refm);
    cJSON_Delete(corpus);
    rv_tokenizer_free(t);
    return check_summary("test_tokenizer_chat");
}
