/* Tokenizer parity with Hugging Face `tokenizers`: fixtures written by
 * tests/fixtures/tokenizer/gen_tokenizer_fixtures.py (HF-trained Qwen2-style tokenizer, its NFC,
 * pre-tokenization and ids for a mixed corpus and for random strings, and the class HF's split
 * regex gives every code point). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/strbuf.h"
#include "io/json.h"
#include "tokenizer/bpe.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pretokenize_qwen2.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_tables.h"

#define FIX RADVLM_SOURCE_DIR "/tests/fixtures/tokenizer/"

static cJSON *load(const char *name) {
    rv_err err;
    cJSON *j = rv_json_parse_file(name, &err);
    if (!j) fprintf(stderr, "%s\n", err.msg);
    return j;
}

static bool ids_equal(const rv_ids *got, const cJSON *want, const char *what) {
    bool ok = (size_t)cJSON_GetArraySize(want) == got->n;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, want) {
        if (!ok || i >= got->n || got->v[i] != (int32_t)e->valuedouble) { ok = false; break; }
        i++;
    }
    if (!ok) {
        fprintf(stderr, "ids differ for %s\n  got :", what);
        for (size_t k = 0; k < got->n; k++) fprintf(stderr, " %d", got->v[k]);
        fprintf(stderr, "\n  want:");
        cJSON_ArrayForEach(e, want) fprintf(stderr, " %d", (int)e->valuedouble);
        fprintf(stderr, "\n");
    }
    return ok;
}

static void test_corpus(const rv_tokenizer *tok) {
    cJSON *c = load(FIX "corpus.json");
    CHECK(c != NULL);
    if (!c) return;
    const cJSON *items = cJSON_GetObjectItem(c, "items"), *it;
    int n = 0;
    cJSON_ArrayForEach(it, items) {
        const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
        const char *nfc = cJSON_GetObjectItem(it, "nfc")->valuestring;
        size_t len = strlen(text);
        /* NFC */
        rv_sb s;
        rv_sb_init(&s);
        rv_nfc_append(text, len, &s);
        CHECK_STR(s.s ? s.s : "", nfc);
        /* pre-tokenization of the normalized text, in ByteLevel spelling */
        const cJSON *pieces = cJSON_GetObjectItem(it, "pieces"), *p = pieces->child;
        size_t nn = strlen(nfc), pos = 0;
        bool pieces_ok = true;
        while (pos < nn) {
            size_t end = rv_qwen2_next(nfc, nn, pos);
            rv_sb_clear(&s);
            rv_bytelevel_encode((const unsigned char *)nfc + pos, end - pos, &s);
            if (!p || strcmp(p->valuestring, s.s)) {
                fprintf(stderr, "piece mismatch in \"%s\": got \"%s\" want \"%s\"\n", text, s.s, p ? p->valuestring : "(end)");
                pieces_ok = false;
                break;
            }
            p = p->next;
            pos = end;
        }
        CHECK(pieces_ok && (!pieces_ok || p == NULL));
        /* ids */
        rv_ids ids = {0};
        rv_err err;
        CHECK(rv_tokenizer_encode(tok, text, len, &ids, &err) == 0);
        CHECK(ids_equal(&ids, cJSON_GetObjectItem(it, "ids"), text));
        /* decode, with and without special tokens */
        rv_sb_clear(&s);
        CHECK(rv_tokenizer_decode(tok, ids.v, ids.n, false, &s, &err) == 0);
        CHECK_STR(s.s ? s.s : "", cJSON_GetObjectItem(it, "decoded")->valuestring);
        rv_sb_clear(&s);
        CHECK(rv_tokenizer_decode(tok, ids.v, ids.n, true, &s, &err) == 0);
        CHECK_STR(s.s ? s.s : "", cJSON_GetObjectItem(it, "decoded_skip")->valuestring);
        rv_ids_free(&ids);
        rv_sb_free(&s);
        n++;
    }
    CHECK(n >= 30);
    cJSON_Delete(c);
}

static void test_fuzz(const rv_tokenizer *tok) {
    cJSON *c = load(FIX "fuzz.json");
    CHECK(c != NULL);
    if (!c) return;
    const cJSON *it;
    int bad = 0, n = 0;
    cJSON_ArrayForEach(it, c) {
        const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
        rv_ids ids = {0};
        rv_err err;
        if (rv_tokenizer_encode(tok, text, strlen(text), &ids, &err) || !ids_equal(&ids, cJSON_GetObjectItem(it, "ids"), text))
            bad++;
        rv_ids_free(&ids);
        n++;
    }
    CHECK(n == 400);
    CHECK(bad == 0);
    cJSON_Delete(c);
}

/* Our tables' class for every code point equals what HF's split regex does with it. */
static void test_classes(void) {
    cJSON *c = load(FIX "classes.json");
    CHECK(c != NULL);
    if (!c) return;
    const cJSON *runs = cJSON_GetObjectItem(c, "runs"), *r;
    long mismatches = 0, checked = 0;
    cJSON_ArrayForEach(r, runs) {
        uint32_t start = (uint32_t)r->child->valuedouble;
        char cls = r->child->next->valuestring[0];
        uint32_t end = r->next ? (uint32_t)r->next->child->valuedouble : 0x110000;
        if (cls == 'S') continue;
        for (uint32_t cp = start; cp < end; cp++) {
            unsigned f = rv_uni_flags(cp);
            char mine = (f & RV_UNI_L) ? 'L' : (f & RV_UNI_N) ? 'N' : (cp == '\r' || cp == '\n') ? 'C' : (f & RV_UNI_WS) ? 'W' : 'O';
            if (mine != cls) {
                if (mismatches < 10) fprintf(stderr, "U+%04X: ours %c, HF %c\n", cp, mine, cls);
                mismatches++;
            }
            checked++;
        }
    }
    CHECK(checked == 0x110000 - 0x800);
    CHECK(mismatches == 0);
    cJSON_Delete(c);
}

/* NFC of every character with a decomposition or combining class, in context. */
static void test_nfc(void) {
    cJSON *c = load(FIX "nfc.json");
    CHECK(c != NULL);
    if (!c) return;
    const cJSON *it;
    long n = 0, bad = 0;
    rv_sb s;
    rv_sb_init(&s);
    cJSON_ArrayForEach(it, c) {
        const char *in = it->child->valuestring, *want = it->child->next->valuestring;
        rv_sb_clear(&s);
        rv_nfc_append(in, strlen(in), &s);
        if (strcmp(s.s, want)) {
            if (bad < 5) fprintf(stderr, "NFC mismatch: got \"%s\", want \"%s\"\n", s.s, want);
            bad++;
        }
        n++;
    }
    rv_sb_free(&s);
    CHECK(n > 3000);
    CHECK(bad == 0);
    cJSON_Delete(c);
}

/* Batch encoding over threads gives the same ids as one at a time. */
static void test_batch(const rv_tokenizer *tok) {
    cJSON *c = load(FIX "fuzz.json");
    if (!c) return;
    size_t n = (size_t)cJSON_GetArraySize(c), i = 0;
    const char **texts = calloc(n, sizeof *texts);
    size_t *lens = calloc(n, sizeof *lens);
    rv_ids *outs = calloc(n, sizeof *outs);
    const cJSON *it;
    cJSON_ArrayForEach(it, c) {
        texts[i] = cJSON_GetObjectItem(it, "text")->valuestring;
        lens[i] = strlen(texts[i]);
        i++;
    }
    rv_err err;
    CHECK(rv_tokenizer_encode_batch(tok, texts, lens, n, 3, outs, &err) == 0);
    int bad = 0;
    i = 0;
    cJSON_ArrayForEach(it, c) {
        if (!ids_equal(&outs[i], cJSON_GetObjectItem(it, "ids"), texts[i])) bad++;
        rv_ids_free(&outs[i]);
        i++;
    }
    CHECK(bad == 0);
    /* an invalid text is reported by its index */
    const char *two[2] = {"fine", "bad \xC3"};
    size_t two_len[2] = {4, 5};
    rv_ids two_out[2] = {{0}, {0}};
    CHECK(rv_tokenizer_encode_batch(tok, two, two_len, 2, 2, two_out, &err) == -1);
    CHECK(strstr(err.msg, "text 1") != NULL && strstr(err.msg, "byte 4") != NULL);
    rv_ids_free(&two_out[0]);
    rv_ids_free(&two_out[1]);
    free(texts); free(lens); free(outs);
    cJSON_Delete(c);
}

int main(void) {
    rv_err err;
    rv_tokenizer *tok = NULL;
    CHECK(rv_tokenizer_load(FIX "hf_trained.json", &tok, &err) == 0);
    if (!tok) { fprintf(stderr, "%s\n", err.msg); return check_summary("test_tokenizer_parity"); }
    CHECK(rv_tokenizer_n_ids(tok) == 601);
    CHECK(rv_tokenizer_token_id(tok, "<|im_end|>") == 2);
    CHECK(rv_tokenizer_is_special(tok, 3));
    CHECK(!rv_tokenizer_is_special(tok, 600));
    test_corpus(tok);
    test_fuzz(tok);
    test_batch(tok);
    test_classes();
    test_nfc();
    rv_tokenizer_free(tok);
    return check_summary("test_tokenizer_parity");
}
