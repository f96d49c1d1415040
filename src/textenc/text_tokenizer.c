/* The text tokenizer's common part (textenc/text_tokenizer.h): which kind a model directory
 * holds, special tokens, and encode = split at special-token strings (as HF's added-tokens trie
 * does), tokenize the rest, wrap and truncate. */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/utf8.h"
#include "textenc/text_tok_impl.h"
#include "textenc/textenc_unicode.h"

int rv_text_tok_load(rv_text_tok **out, const char *dir, const rv_text_tok_opts *opts, rv_err *err) {
    *out = NULL;
    if (!rv_is_dir(dir)) return rv_fail(err, "text tokenizer: model directory '%s' does not exist", dir);
    rv_text_tok_opts o = {.add_prefix_space = -1, .lower_case = -1};
    if (opts) o = *opts;
    rv_text_tok *t = rv_xcalloc(1, sizeof *t);
    for (int i = 0; i < RV_TT_NSPEC; i++) t->spec_id[i] = -1;
    char *vt = rv_path_join(dir, "vocab.txt"), *vj = rv_path_join(dir, "vocab.json"),
         *tj = rv_path_join(dir, "tokenizer.json");
    int rc;
    if (rv_is_file(vt)) rc = rv_tt_load_wordpiece(t, dir, &o, err);
    else if (rv_is_file(vj)) rc = rv_tt_load_bytebpe(t, dir, &o, err);
    else if (rv_is_file(tj)) {
        /* tokenizer.json alone: its model type decides */
        char *text;
        size_t len;
        rc = rv_read_file(tj, &text, &len, err);
        if (!rc) {
            bool wp = strstr(text, "\"WordPiece\"") != NULL;
            free(text);
            rc = wp ? rv_tt_load_wordpiece(t, dir, &o, err) : rv_tt_load_bytebpe(t, dir, &o, err);
        }
    } else
        rc = rv_fail(err, "%s: no tokenizer files (vocab.txt for BERT/DistilBERT, vocab.json + merges.txt for RoBERTa, "
                     "or tokenizer.json)", dir);
    free(vt);
    free(vj);
    free(tj);
    if (rc) {
        rv_text_tok_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void rv_text_tok_free(rv_text_tok *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_ids; i++) free(t->piece[i]);
    free(t->piece);
    for (size_t i = 0; i < t->nalias; i++) free(t->alias[i]);
    free(t->alias);
    rv_smap_free(&t->map);
    for (int i = 0; i < RV_TT_NSPEC; i++) free(t->spec[i]);
    if (t->kind == RV_TT_BYTEBPE) rv_bpe_free(&t->bpe);
    free(t->src);
    free(t);
}

int32_t rv_text_tok_cls(const rv_text_tok *t) { return t->spec_id[RV_TT_CLS]; }
int32_t rv_text_tok_sep(const rv_text_tok *t) { return t->spec_id[RV_TT_SEP]; }
int32_t rv_text_tok_pad(const rv_text_tok *t) { return t->spec_id[RV_TT_PAD]; }
int32_t rv_text_tok_unk(const rv_text_tok *t) { return t->spec_id[RV_TT_UNK]; }
size_t rv_text_tok_vocab(const rv_text_tok *t) { return t->n_ids; }

const char *rv_text_tok_piece(const rv_text_tok *t, int32_t id) {
    return id >= 0 && (size_t)id < t->n_ids ? t->piece[id] : NULL;
}

/* The special token (longest spelling) that starts at s, or -1. */
static int special_at(const rv_text_tok *t, const char *s, size_t n, size_t *len) {
    int best = -1;
    size_t bl = 0;
    for (int i = 0; i < RV_TT_NSPEC; i++) {
        if (t->spec_id[i] < 0) continue;
        size_t l = strlen(t->spec[i]);
        if (l && l <= n && l > bl && !memcmp(s, t->spec[i], l)) best = i, bl = l;
    }
    *len = bl;
    return best;
}

static void encode_span(const rv_text_tok *t, const char *s, size_t n, rv_ids *out) {
    if (t->kind == RV_TT_WORDPIECE) rv_tt_wordpiece_encode(t, s, n, out);
    else rv_tt_bytebpe_encode(t, s, n, out);
}

int rv_text_tok_encode(const rv_text_tok *t, const char *text, bool add_special, int max_len, int32_t **ids,
                       size_t *n, rv_err *err) {
    *ids = NULL;
    *n = 0;
    size_t len = strlen(text);
    if (!rv_utf8_valid(text, len))
        return rv_fail(err, "text tokenizer: text is not valid UTF-8 (at byte %zu)", rv_utf8_first_invalid(text, len));
    if (add_special && max_len > 0 && max_len < 2)
        return rv_fail(err, "text tokenizer: max_len %d leaves no room for the two special tokens", max_len);
    /* RoBERTa's add_prefix_space (prepare_for_tokenization): one space before a text that does not
     * start with whitespace (str.isspace), before special tokens are split off */
    char *spaced = NULL;
    if (t->kind == RV_TT_BYTEBPE && t->prefix_space && len) {
        uint32_t c0;
        rv_utf8_decode((const unsigned char *)text, len, &c0);
        if (!(rv_tu_flags(c0) & RV_TU_SPACE)) {
            spaced = rv_xasprintf(" %s", text);
            text = spaced;
            len++;
        }
    }
    rv_ids out = {0};
    if (add_special) rv_ids_push(&out, t->spec_id[RV_TT_CLS]);
    size_t from = 0;
    for (size_t i = 0; i < len;) {
        size_t sl;
        int sp = special_at(t, text + i, len - i, &sl);
        if (sp < 0) { i++; continue; }
        encode_span(t, text + from, i - from, &out);
        rv_ids_push(&out, t->spec_id[sp]);
        i += sl;
        from = i;
    }
    encode_span(t, text + from, len - from, &out);
    free(spaced);
    if (max_len > 0) {
        size_t keep = (size_t)max_len - (add_special ? 1 : 0);
        if (out.n > keep) out.n = keep;
    }
    if (add_special) rv_ids_push(&out, t->spec_id[RV_TT_SEP]);
    if (!out.v) rv_ids_push(&out, 0), out.n = 0; /* a valid pointer even for no ids */
    *ids = out.v;
    *n = out.n;
    return 0;
}
