/* Tokenizer pieces against hand-worked values: the ByteLevel table (model.md §11.2 step 4),
 * the Qwen2 split on the spec's examples (§11.2 step 3), NFC on textbook cases, lossy and
 * streaming decoding, and clear errors for bad tokenizer.json files and invalid text. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/strbuf.h"
#include "io/json.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pretokenize_qwen2.h"
#include "tokenizer/tokenizer.h"

static void test_bytelevel(void) {
    CHECK(rv_bytelevel_char(0x20) == 0x120);
    CHECK(rv_bytelevel_char(0x0A) == 0x10A);
    CHECK(rv_bytelevel_char(0x09) == 0x109);
    CHECK(rv_bytelevel_char(0x00) == 0x100);
    CHECK(rv_bytelevel_char(0x7F) == 0x121);
    CHECK(rv_bytelevel_char(0xA0) == 0x142);
    CHECK(rv_bytelevel_char(0xAD) == 0x143);
    CHECK(rv_bytelevel_char('A') == 'A');
    CHECK(rv_bytelevel_char(0xE9) == 0xE9);
    int ok = 1;
    for (int b = 0; b < 256; b++) ok &= rv_bytelevel_byte(rv_bytelevel_char((unsigned char)b)) == b;
    CHECK(ok);
    CHECK(rv_bytelevel_byte(0x20) == -1 && rv_bytelevel_byte(0x144) == -1 && rv_bytelevel_byte(0xAD) == -1);
}

/* pieces joined by '|' */
static void split_str(const char *s, rv_sb *out) {
    size_t n = strlen(s);
    rv_sb_clear(out);
    for (size_t pos = 0; pos < n;) {
        size_t end = rv_qwen2_next(s, n, pos);
        if (pos) rv_sb_putc(out, '|');
        rv_sb_append(out, s + pos, end - pos);
        pos = end;
    }
}

static void test_split(void) {
    rv_sb b;
    rv_sb_init(&b);
    struct { const char *in, *want; } cases[] = {
        {"Hello world", "Hello| world"},
        {"a   b", "a|  | b"},                  /* \s+(?!\S) leaves one space for " b" */
        {"2024", "2|0|2|4"},                   /* one digit per piece */
        {"x 1", "x| |1"},                      /* numbers take no space */
        {"ok?\nNext", "ok|?\n|Next"},          /* punctuation keeps its newlines */
        {"a \n\n b", "a| \n\n| b"},            /* whitespace up to the last newline */
        {"\t!", "\t|!"},                       /* only an ASCII space joins punctuation */
        {" !!", " !!"},
        {"don't IT'S we'LL", "don|'t| IT|'S| we|'LL"},
        {"'x", "'x"},                          /* not a contraction: prefix char + letters */
        {"(left)", "(left|)"},
        {"end  ", "end|  "},                   /* trailing whitespace, all of it */
        {"\xC2\xA0" "ab", "\xC2\xA0" "ab"},    /* NBSP is a valid one-char prefix */
        {"a\r\nb", "a|\r\n|b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        split_str(cases[i].in, &b);
        CHECK_STR(b.s, cases[i].want);
    }
    rv_sb_free(&b);
}

static void nfc_is(const char *in, const char *want) {
    rv_sb b;
    rv_sb_init(&b);
    rv_nfc_append(in, strlen(in), &b);
    CHECK_STR(b.s ? b.s : "", want);
    rv_sb_free(&b);
}

static void test_nfc(void) {
    nfc_is("cafe\xCC\x81", "caf\xC3\xA9");                   /* e + U+0301 -> U+00E9 */
    nfc_is("\xE2\x84\xAB", "\xC3\x85");                      /* U+212B ANGSTROM SIGN -> U+00C5 (singleton) */
    nfc_is("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81"); /* L+V+T jamo -> U+AC01 */
    /* a + acute (230) + dot below (220): reorder to dot below first, compose a+dot -> U+1EA1, acute stays */
    nfc_is("a\xCC\x81\xCC\xA3", "\xE1\xBA\xA1\xCC\x81");
    nfc_is("plain ASCII", "plain ASCII");
    CHECK(rv_nfc_quick_yes("caf\xC3\xA9", 5));
    CHECK(!rv_nfc_quick_yes("cafe\xCC\x81", 6));
}

static rv_tokenizer *byte_tokenizer(void) {
    /* 2 specials + the 256 byte tokens, no merges (vocab_size stops training at once) */
    const char *texts[] = {"x"};
    const char *sp[] = {"<|im_start|>", "<|im_end|>"};
    rv_sb j;
    rv_sb_init(&j);
    rv_err err;
    rv_tokenizer *t = NULL;
    if (rv_bpe_train_json(texts, NULL, 1, 258, sp, 2, &j, &err) == 0) rv_tokenizer_load_json("bytes", j.s, j.len, &t, &err);
    rv_sb_free(&j);
    return t;
}

static void test_decode(void) {
    rv_tokenizer *t = byte_tokenizer();
    CHECK(t != NULL);
    if (!t) return;
    rv_err err;
    int32_t id[256];
    for (int b = 0; b < 256; b++) { char c = (char)b; id[b] = rv_tokenizer_bytes_id(t, &c, 1); }
    CHECK(id[0] >= 2 && id[255] >= 2);
    rv_sb out;
    rv_sb_init(&out);
    int32_t ni[] = {id[0xE4], id[0xBD], id[0xA0]}; /* U+4F60 */
    CHECK(rv_tokenizer_decode(t, ni, 3, false, &out, &err) == 0);
    CHECK_STR(out.s, "\xE4\xBD\xA0");
    rv_sb_clear(&out);
    int32_t trunc[] = {id['A'], id[0xE4], id[0xBD], id['B']}; /* maximal subpart E4 BD -> one U+FFFD */
    CHECK(rv_tokenizer_decode(t, trunc, 4, false, &out, &err) == 0);
    CHECK_STR(out.s, "A\xEF\xBF\xBD" "B");
    rv_sb_clear(&out);
    int32_t bad[] = {id[0xFF], id[0xC0], id[0x80], id[0xED], id[0xA0], id[0x80]}; /* each invalid alone */
    CHECK(rv_tokenizer_decode(t, bad, 6, false, &out, &err) == 0);
    CHECK_STR(out.s, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    /* specials: kept or skipped */
    int32_t sp[] = {0, id['h'], id['i'], 1};
    rv_sb_clear(&out);
    CHECK(rv_tokenizer_decode(t, sp, 4, false, &out, &err) == 0);
    CHECK_STR(out.s, "<|im_start|>hi<|im_end|>");
    rv_sb_clear(&out);
    CHECK(rv_tokenizer_decode(t, sp, 4, true, &out, &err) == 0);
    CHECK_STR(out.s, "hi");
    /* unknown id */
    int32_t unk[] = {999999};
    CHECK(rv_tokenizer_decode(t, unk, 1, false, &out, &err) == -1);
    CHECK(strstr(err.msg, "999999") != NULL);
    /* streaming: nothing until the character is complete */
    rv_tok_stream st;
    rv_tok_stream_init(&st);
    rv_sb_clear(&out);
    CHECK(rv_tok_stream_push(t, &st, id[0xE4], false, &out, &err) == 0);
    CHECK(out.len == 0);
    CHECK(rv_tok_stream_push(t, &st, id[0xBD], false, &out, &err) == 0);
    CHECK(out.len == 0);
    CHECK(rv_tok_stream_push(t, &st, id[0xA0], false, &out, &err) == 0);
    CHECK_STR(out.s, "\xE4\xBD\xA0");
    CHECK(rv_tok_stream_push(t, &st, id[0xE4], false, &out, &err) == 0);
    rv_tok_stream_finish(&st, &out); /* an unfinished tail becomes U+FFFD */
    CHECK_STR(out.s, "\xE4\xBD\xA0\xEF\xBF\xBD");
    /* encoding invalid UTF-8 is an error with the offset */
    rv_ids ids = {0};
    CHECK(rv_tokenizer_encode(t, "ab\xE4\xBD" "c", 5, &ids, &err) == -1);
    CHECK(strstr(err.msg, "byte 2") != NULL);
    CHECK(rv_tokenizer_encode(t, "a\xED\xA0\x80", 4, &ids, &err) == -1); /* UTF-8 surrogate */
    rv_ids_free(&ids);
    rv_sb_free(&out);
    rv_tokenizer_free(t);
}

/* A minimal valid tokenizer.json, then broken variants. */
static const char *GOOD =
    "{\"added_tokens\":[{\"id\":3,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
    "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}";

static int load_variant(const char *from, const char *to, rv_err *err) {
    const char *p = strstr(GOOD, from);
    if (!p) { fprintf(stderr, "variant anchor missing: %s\n", from); return 99; }
    rv_sb b;
    rv_sb_init(&b);
    rv_sb_append(&b, GOOD, (size_t)(p - GOOD));
    rv_sb_puts(&b, to);
    rv_sb_puts(&b, p + strlen(from));
    rv_tokenizer *t = NULL;
    int rc = rv_tokenizer_load_json("t.json", b.s, b.len, &t, err);
    rv_tokenizer_free(t);
    rv_sb_free(&b);
    return rc;
}

static void test_load_errors(void) {
    rv_err err;
    rv_tokenizer *t = NULL;
    CHECK(rv_tokenizer_load_json("t.json", GOOD, strlen(GOOD), &t, &err) == 0);
    if (t) {
        rv_ids ids = {0};
        CHECK(rv_tokenizer_encode(t, "ab<s>ba", 7, &ids, &err) == 0);
        CHECK(ids.n == 4 && ids.v[0] == 2 && ids.v[1] == 3 && ids.v[2] == 1 && ids.v[3] == 0);
        rv_ids_free(&ids);
        rv_tokenizer_free(t);
    }
    /* the pair form of merges gives the same tokenizer */
    CHECK(load_variant("[\"a b\"]", "[[\"a\",\"b\"]]", &err) == 0);
    CHECK(load_variant("\"type\":\"BPE\"", "\"type\":\"WordPiece\"", &err) == -1);
    CHECK(strstr(err.msg, "model.type") && strstr(err.msg, "WordPiece") && strstr(err.msg, "t.json"));
    CHECK(load_variant(",\"merges\":[\"a b\"]", "", &err) == -1);
    CHECK(strstr(err.msg, "model.merges") != NULL);
    CHECK(load_variant("\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},", "", &err) == -1);
    CHECK(strstr(err.msg, "model.vocab") != NULL);
    CHECK(load_variant("\"model\":{", "\"modelx\":{", &err) == -1);
    CHECK(strstr(err.msg, "'model'") != NULL);
    CHECK(load_variant("[\"a b\"]", "[\"a c\"]", &err) == -1);
    CHECK(strstr(err.msg, "merges[0]") && strstr(err.msg, "not in model.vocab"));
    CHECK(load_variant("[\"a b\"]", "[\"b a\"]", &err) == -1); /* "ba" missing */
    CHECK(strstr(err.msg, "'ba'") != NULL);
    CHECK(load_variant("[\"a b\"]", "[\"ab\"]", &err) == -1);
    CHECK(load_variant("{\"type\":\"NFC\"}", "{\"type\":\"Lowercase\"}", &err) == -1);
    CHECK(strstr(err.msg, "normalizer.type") && strstr(err.msg, "Lowercase"));
    CHECK(load_variant("\"Isolated\"", "\"Removed\"", &err) == -1);
    CHECK(load_variant("\\\\p{N}]+", "\\\\p{N}]*", &err) == -1);
    CHECK(strstr(err.msg, "Qwen2 split regex") != NULL);
    /* ids beyond what the program supports name the value and the range (issue L: 2^31 - 1 was
     * called "not non-negative") */
    CHECK(load_variant("\"ab\":2", "\"ab\":2147483647", &err) == -1);
    CHECK(strstr(err.msg, "model.vocab['ab']: 2147483647 is not an integer id in [0, 2000000000]") != NULL);
    CHECK(load_variant("\"ab\":2", "\"ab\":-1", &err) == -1 && strstr(err.msg, "-1 is not an integer id"));
    CHECK(load_variant("{\"id\":3,", "{\"id\":2147483647,", &err) == -1);
    CHECK(strstr(err.msg, "added_tokens[0]: id 2147483647 is not an integer in [0, 2000000000]") != NULL);
    CHECK(load_variant("{\"id\":3,", "{\"id\":3.5,", &err) == -1 && strstr(err.msg, "id 3.5 is not an integer"));
    CHECK(load_variant("\"b\":1", "\"\\u4e2d\":1", &err) == -1);       /* not a ByteLevel character */
    CHECK(strstr(err.msg, "ByteLevel alphabet") != NULL);
    CHECK(load_variant("\"special\":true", "\"special\":true,\"lstrip\":true", &err) == -1);
    CHECK(strstr(err.msg, "lstrip") != NULL);
    CHECK(load_variant("\"model\":{", "\"model\":[", &err) == -1); /* broken JSON */
    CHECK(rv_tokenizer_load("/nonexistent/tokenizer.json", &t, &err) == -1 && t == NULL);
    CHECK(strstr(err.msg, "/nonexistent/tokenizer.json") != NULL);
}

int main(void) {
    test_bytelevel();
    test_split();
    test_nfc();
    test_decode();
    test_load_errors();
    return check_summary("test_tokenizer_unit");
}
