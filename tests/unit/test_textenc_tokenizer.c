/* Text tokenizers (textenc/text_tokenizer.h): ids identical to transformers' tokenizers on the
 * radiology corpus (tests/fixtures/textenc/corpus.json; expected ids from
 * gen_textenc_fixtures.py: BertTokenizerLegacy = the slow BertTokenizer, RobertaTokenizer with
 * the slow add_prefix_space rule), hand-worked WordPiece / GPT-2 split cases, truncation, and
 * hostile directories. (The real bert-base-uncased vocabulary: test_textenc_minilm.c.) */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsutil.h"
#include "io/json.h"
#include "textenc/text_tok_impl.h"
#include "textenc/text_tokenizer.h"
#include "textenc_testutil.h"

static void encode_expect(const rv_text_tok *t, const char *text, bool special, int max_len, const int32_t *want,
                          size_t nwant) {
    int32_t *ids;
    size_t n;
    rv_err e;
    CHECK(rv_text_tok_encode(t, text, special, max_len, &ids, &n, &e) == 0);
    CHECK(n == nwant);
    int same = n == nwant;
    for (size_t i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same) {
        fprintf(stderr, "'%s': got", text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
    free(ids);
}

/* A hand-made vocab: ids by line (0-based). */
static const char hand_vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\nx\n##x\n,\nrun\n##ning\n"
                                 "cafe\n\xc3\xa9\n\xcf\x83\n\xcf\x82\n"; /* 14 é, 15 σ, 16 ς */

static void hand_wordpiece(const char *tmp) {
    char *d = rv_path_join(tmp, "wp_hand");
    rv_err e;
    CHECK(rv_mkdir_p(d, &e) == 0);
    te_write_file(d, "vocab.txt", hand_vocab);
    rv_text_tok *t = NULL;
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == 0);
    if (!t) { free(d); return; }
    CHECK(rv_text_tok_cls(t) == 2 && rv_text_tok_sep(t) == 3 && rv_text_tok_pad(t) == 0 && rv_text_tok_unk(t) == 1);
    CHECK(rv_text_tok_vocab(t) == 17);
    CHECK_STR(rv_text_tok_piece(t, 6), "##aff");
    CHECK(rv_text_tok_piece(t, 17) == NULL && rv_text_tok_piece(t, -1) == NULL);
    /* greedy longest match: un ##aff ##able; "UNAFFABLE" lower-cases first (no tokenizer_config:
     * do_lower_case defaults to true) */
    encode_expect(t, "unaffable", false, 0, (const int32_t[]){5, 6, 7}, 3);
    encode_expect(t, "UNAFFABLE,running", true, 0, (const int32_t[]){2, 5, 6, 7, 10, 11, 12, 3}, 8);
    /* "unaffablex" -> un ##aff ##able ##x; "xun": x then "##un" is missing -> the whole word [UNK] */
    encode_expect(t, "unaffablex xun", false, 0, (const int32_t[]){5, 6, 7, 9, 1}, 5);
    /* 100 x's is one word of 100 characters: x ##x * 99; 101 x's is [UNK] (max_input_chars_per_word) */
    char w100[102], w101[103];
    memset(w100, 'x', 100), w100[100] = 0;
    memset(w101, 'x', 101), w101[101] = 0;
    int32_t *ids;
    size_t n;
    CHECK(rv_text_tok_encode(t, w100, false, 0, &ids, &n, &e) == 0 && n == 100 && ids[0] == 8 && ids[99] == 9);
    free(ids);
    encode_expect(t, w101, false, 0, (const int32_t[]){1}, 1);
    /* accents: "Café" -> lower "café" -> NFD strips U+0301 -> "cafe" */
    encode_expect(t, "Caf\xc3\xa9", false, 0, (const int32_t[]){13}, 1);
    /* Greek: "ΣΣ" lowers to "σς" (the second is final) but is one word -> no "σς" piece -> [UNK];
     * alone "Σ" is σ (no cased letter before it) */
    encode_expect(t, "\xce\xa3", false, 0, (const int32_t[]){15}, 1);
    /* truncation (HF truncation=True, max_length=4): [CLS] un ##aff [SEP] */
    encode_expect(t, "unaffable", true, 4, (const int32_t[]){2, 5, 6, 3}, 4);
    encode_expect(t, "", true, 0, (const int32_t[]){2, 3}, 2);
    /* special-token strings inside the text are their ids */
    encode_expect(t, "un[SEP]x", false, 0, (const int32_t[]){5, 3, 8}, 3);
    /* lower_case forced off: "UN" is not in the vocab */
    rv_text_tok_free(t);
    rv_text_tok_opts o = {.add_prefix_space = -1, .lower_case = 0};
    CHECK(rv_text_tok_load(&t, d, &o, &e) == 0);
    if (t) encode_expect(t, "UN un", false, 0, (const int32_t[]){1, 5}, 2);
    rv_text_tok_free(t);
    t = NULL;
    /* tokenizer_config.json: strip_accents without lower-casing ("café" -> "cafe", "Café" stays
     * capitalised -> [UNK]); lower-casing with strip_accents false keeps "é" -> "café" has no piece */
    te_write_file(d, "tokenizer_config.json", "{\"do_lower_case\": false, \"strip_accents\": true}");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == 0);
    if (t) encode_expect(t, "caf\xc3\xa9 Caf\xc3\xa9", false, 0, (const int32_t[]){13, 1}, 2);
    rv_text_tok_free(t);
    t = NULL;
    te_write_file(d, "tokenizer_config.json", "{\"do_lower_case\": true, \"strip_accents\": false}");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == 0);
    if (t) encode_expect(t, "Caf\xc3\xa9 \xc3\x89", false, 0, (const int32_t[]){1, 14}, 2);
    rv_text_tok_free(t);
    t = NULL;
    /* special tokens renamed in tokenizer_config.json: "x" as the unknown token */
    te_write_file(d, "tokenizer_config.json", "{\"unk_token\": {\"content\": \"x\"}}");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == 0);
    if (t) {
        CHECK(rv_text_tok_unk(t) == 8);
        encode_expect(t, "zzz", false, 0, (const int32_t[]){8}, 1);
    }
    /* invalid UTF-8 and max_len 1 with specials are errors */
    CHECK(t && rv_text_tok_encode(t, "a\xff", true, 0, &ids, &n, &e) == -1 && strstr(e.msg, "UTF-8"));
    CHECK(t && rv_text_tok_encode(t, "a", true, 1, &ids, &n, &e) == -1 && strstr(e.msg, "max_len"));
    rv_text_tok_free(t);
    free(d);
}

/* GPT-2 split, worked out from the regex by hand. */
static void gpt2_split(void) {
    const char *s = "Hello  world's 123 !!\n\n x";
    /* "Hello" | " " (run of 2 spaces keeps its last for " world") | " world" | "'s" | " 123" |
     * " !!" | "\n\n" (then " x": the run "\n\n " ends before a non-space, so it yields "\n\n") | " x" */
    const char *want[] = {"Hello", " ", " world", "'s", " 123", " !!", "\n\n", " x"};
    size_t n = strlen(s), pos = 0;
    int i = 0;
    while (pos < n && i < 8) {
        size_t end = rv_gpt2_next(s, n, pos);
        CHECK(end - pos == strlen(want[i]) && !memcmp(s + pos, want[i], end - pos));
        pos = end;
        i++;
    }
    CHECK(i == 8 && pos == n);
    /* a trailing whitespace run is one piece; 'S (upper) is not a contraction */
    const char *s2 = "it'S  ";
    size_t e1 = rv_gpt2_next(s2, 6, 0), e2 = rv_gpt2_next(s2, 6, e1), e3 = rv_gpt2_next(s2, 6, e2);
    CHECK(e1 == 2 && e2 == 3 && e3 == 4 && rv_gpt2_next(s2, 6, e3) == 6);
}

static void hostile(const char *tmp) {
    rv_err e;
    rv_text_tok *t = NULL;
    char *d = rv_path_join(tmp, "tok_bad");
    CHECK(rv_mkdir_p(d, &e) == 0);
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == -1 && strstr(e.msg, "no tokenizer files") && strstr(e.msg, d));
    /* a vocab without [CLS] */
    te_write_file(d, "vocab.txt", "[PAD]\n[UNK]\n[SEP]\nx\n");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == -1 && strstr(e.msg, "[CLS]") && strstr(e.msg, "vocab.txt"));
    char *p = rv_path_join(d, "vocab.txt");
    unlink(p);
    free(p);
    /* RoBERTa: vocab.json without merges.txt; a merge whose part is not in the vocab; no <s> */
    te_write_file(d, "vocab.json", "{\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3, \"a\": 4, \"b\": 5, \"ab\": 6}");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == -1 && strstr(e.msg, "merges.txt"));
    te_write_file(d, "merges.txt", "#version: 0.2\na c\n");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == -1 && strstr(e.msg, "'c' is not in the vocabulary") &&
          strstr(e.msg, "merges.txt"));
    te_write_file(d, "merges.txt", "#version: 0.2\na b c\n");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == -1 && strstr(e.msg, "line 2"));
    te_write_file(d, "merges.txt", "#version: 0.2\na b\n");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == 0);
    if (t) {
        /* "abba": bytes a b b a -> merge (a, b) -> ab b a; specials around */
        encode_expect(t, "abba", true, 0, (const int32_t[]){0, 6, 5, 4, 2}, 5);
        rv_text_tok_free(t);
        t = NULL;
    }
    /* the merges file's first line is always the header: without one the first merge is lost,
     * as in the slow tokenizer (split("\n")[1:-1]) */
    te_write_file(d, "merges.txt", "a b\n");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == 0);
    if (t) encode_expect(t, "ab", false, 0, (const int32_t[]){4, 5}, 2);
    rv_text_tok_free(t);
    t = NULL;
    te_write_file(d, "vocab.json", "{\"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3, \"a\": 4, \"b\": 5, \"ab\": 6}");
    CHECK(rv_text_tok_load(&t, d, NULL, &e) == -1 && strstr(e.msg, "<s>") && strstr(e.msg, "vocab.json"));
    CHECK(rv_text_tok_load(&t, "/nonexistent/dir", NULL, &e) == -1 && strstr(e.msg, "/nonexistent/dir"));
    free(d);
}

int main(void) {
    rv_err e;
    cJSON *corpus = rv_json_parse_file(TEXTENC_FIX "corpus.json", &e);
    cJSON *exp = rv_json_parse_file(TEXTENC_FIX "tok_expected.json", &e);
    CHECK(corpus && exp && cJSON_GetArraySize(corpus) >= 200);
    char tmp[] = "/tmp/rv_textenc_tok_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);

    rv_text_tok *t = NULL;
    CHECK(rv_text_tok_load(&t, TEXTENC_FIX "wp", NULL, &e) == 0);
    if (t && corpus && exp) te_corpus_parity(t, corpus, exp, "wp_lower", 512);
    rv_text_tok_free(t);
    rv_text_tok_opts cased = {.add_prefix_space = -1, .lower_case = 0};
    CHECK(rv_text_tok_load(&t, TEXTENC_FIX "wp", &cased, &e) == 0);
    if (t && corpus && exp) te_corpus_parity(t, corpus, exp, "wp_cased", 512);
    rv_text_tok_free(t);
    CHECK(rv_text_tok_load(&t, TEXTENC_FIX "bpe", NULL, &e) == 0);
    if (t && corpus && exp) te_corpus_parity(t, corpus, exp, "bpe_noprefix", 512);
    rv_text_tok_free(t);
    rv_text_tok_opts pre = {.add_prefix_space = 1, .lower_case = -1};
    CHECK(rv_text_tok_load(&t, TEXTENC_FIX "bpe", &pre, &e) == 0);
    if (t && corpus && exp) te_corpus_parity(t, corpus, exp, "bpe_prefix", 512);
    rv_text_tok_free(t);
    /* roberta_tiny's tokenizer_config.json says add_prefix_space: true */
    CHECK(rv_text_tok_load(&t, TEXTENC_FIX "roberta_tiny", NULL, &e) == 0);
    if (t && corpus && exp) te_corpus_parity(t, corpus, exp, "bpe_prefix", 512);
    rv_text_tok_free(t);

    /* the same vocabularies given as tokenizer.json alone (tokenizers' BertWordPieceTokenizer and
     * ByteLevelBPETokenizer files; no tokenizer_config.json: lower-casing from the
     * BertNormalizer, the prefix space forced) */
    const char *tj[2] = {"wp", "bpe"}, *key[2] = {"wp_lower", "bpe_prefix"};
    for (int i = 0; i < 2 && corpus && exp; i++) {
        char *d = rv_path_join(tmp, tj[i]), *dst = rv_path_join(d, "tokenizer.json");
        char src[512], cmd[2048];
        snprintf(src, sizeof src, TEXTENC_FIX "%s/tokenizer.json", tj[i]);
        CHECK(rv_mkdir_p(d, &e) == 0);
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
        CHECK(system(cmd) == 0);
        CHECK(rv_text_tok_load(&t, d, &pre, &e) == 0);
        if (t) {
            CHECK(t->src && strstr(t->src, "tokenizer.json"));
            te_corpus_parity(t, corpus, exp, key[i], 512);
        }
        rv_text_tok_free(t);
        t = NULL;
        free(d);
        free(dst);
    }

    hand_wordpiece(tmp);
    gpt2_split();
    hostile(tmp);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);

    int rc = check_summary("test_textenc_tokenizer");
    cJSON_Delete(corpus);
    cJSON_Delete(exp);
    return rc;
}
