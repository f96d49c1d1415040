/* BERT WordPiece as transformers' slow BertTokenizer (BasicTokenizer + WordpieceTokenizer):
 *   clean text (drop NUL, U+FFFD and Cc/Cf except \t\n\r; \t\n\r and Zs become ' ')
 *   -> spaces around CJK ideographs -> NFC -> str.split()
 *   -> per word: lower-casing per character (transformers 4.x; no final sigma) and NFD + drop Mn
 *   -> split off every punctuation character -> str.split() again
 *   -> greedy longest-match WordPiece ("##" continuation), [UNK] for an unmatched word or one of
 *      more than max_input_chars_per_word code points.
 * Unicode facts come from textenc_unicode.c (Python's unicodedata), NFC from tokenizer/nfc.h. */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/json.h"
#include "io/utf8.h"
#include "textenc/text_tok_impl.h"
#include "textenc/textenc_unicode.h"
#include "tokenizer/nfc.h"

/* ---- code point vectors ---- */

typedef struct { uint32_t *v; size_t n, cap; } cpv;

static void cp_push(cpv *a, uint32_t c) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = rv_xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = c;
}

static void cp_decode(const char *s, size_t n, cpv *out) {
    out->n = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = rv_utf8_decode((const unsigned char *)s + i, n - i, &c);
        if (!l) { c = 0xFFFD; l = 1; } /* unreachable: the caller validated */
        cp_push(out, c);
        i += l;
    }
}

static void cp_encode(const uint32_t *c, size_t n, rv_sb *out) {
    for (size_t i = 0; i < n; i++) rv_sb_put_cp(out, c[i]);
}

/* ---- character classes (BasicTokenizer's helpers) ---- */

static bool is_bert_ws(uint32_t c) { /* _is_whitespace */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || (rv_tu_flags(c) & RV_TU_ZS);
}
static bool is_bert_ctrl(uint32_t c) { /* _is_control */
    if (c == '\t' || c == '\n' || c == '\r') return false;
    return rv_tu_flags(c) & RV_TU_CTRL;
}
static bool is_bert_punct(uint32_t c) { /* _is_punctuation: ASCII symbols count too */
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
    return rv_tu_flags(c) & RV_TU_PUNCT;
}
static bool is_py_space(uint32_t c) { return rv_tu_flags(c) & RV_TU_SPACE; }
static bool is_cjk(uint32_t c) { /* _is_chinese_char */
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static unsigned ccc_of(uint32_t c) {
    size_t lo = 0, hi = rv_tu_ccc_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rv_tu_ccc[mid].hi < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < rv_tu_ccc_n && rv_tu_ccc[lo].lo <= c ? rv_tu_ccc[lo].ccc : 0;
}

/* Lower-casing as transformers 4.x's slow tokenizer does it (the version bert_score 0.3.13 and
 * upstream run): PreTrainedTokenizer.tokenize lower-cases the text ONE CHARACTER AT A TIME
 * (re.sub over "(.+?)") before BasicTokenizer's per-word str.lower(), so a capital sigma always
 * becomes U+03C3, never the final sigma U+03C2 that str.lower() of a whole word would give
 * (transformers 5's BertTokenizerLegacy differs here; checked with 4.46.3: "ΣΑΣ" -> σ ##α ##σ). */
static void py_lower(const uint32_t *w, size_t n, cpv *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = w[i];
        if (c < 0x80) { cp_push(out, (c >= 'A' && c <= 'Z') ? c + 32 : c); continue; }
        const rv_tu_map *m = rv_tu_find(rv_tu_lower, rv_tu_lower_n, c);
        if (!m) { cp_push(out, c); continue; }
        for (uint32_t k = 0; k < m->len; k++) cp_push(out, rv_tu_lower_pool[m->off + k]);
    }
}

/* NFD(w) with nonspacing marks (Mn) removed (_run_strip_accents), into out. */
static void strip_accents(const uint32_t *w, size_t n, cpv *tmp, cpv *out) {
    tmp->n = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = w[i];
        if (c >= 0xAC00 && c < 0xAC00 + 11172) { /* Hangul syllable: L V (T) */
            uint32_t s = c - 0xAC00;
            cp_push(tmp, 0x1100 + s / 588);
            cp_push(tmp, 0x1161 + (s % 588) / 28);
            if (s % 28) cp_push(tmp, 0x11A7 + s % 28);
            continue;
        }
        const rv_tu_map *m = c < 0xC0 ? NULL : rv_tu_find(rv_tu_nfd, rv_tu_nfd_n, c);
        if (!m) { cp_push(tmp, c); continue; }
        for (uint32_t k = 0; k < m->len; k++) cp_push(tmp, rv_tu_nfd_pool[m->off + k]);
    }
    /* canonical ordering: stable sort of each run of non-starters by combining class */
    for (size_t i = 1; i < tmp->n; i++) {
        unsigned ci = ccc_of(tmp->v[i]);
        if (!ci) continue;
        size_t j = i;
        uint32_t c = tmp->v[i];
        while (j > 0) {
            unsigned cj = ccc_of(tmp->v[j - 1]);
            if (!cj || cj <= ci) break;
            tmp->v[j] = tmp->v[j - 1];
            j--;
        }
        tmp->v[j] = c;
    }
    for (size_t i = 0; i < tmp->n; i++)
        if (!(rv_tu_flags(tmp->v[i]) & RV_TU_MN)) cp_push(out, tmp->v[i]);
}

/* ---- WordPiece ---- */

static int32_t vocab_get(const rv_text_tok *t, const char *s, size_t n) {
    size_t v = rv_smap_getn(&t->map, s, n);
    return v == RV_MAP_NONE ? -1 : (int32_t)v;
}

/* One word (no whitespace) -> pieces: greedy longest match from the left, "##" + piece for a
 * continuation (looked up in a second buffer); the whole word is [UNK] when a part has no match. */
static void wordpiece(const rv_text_tok *t, const uint32_t *w, size_t n, rv_sb *sb, rv_ids *out) {
    if (!n) return;
    if (n > (size_t)t->max_chars) { rv_ids_push(out, t->spec_id[RV_TT_UNK]); return; }
    size_t mark = out->n, start = 0;
    rv_sb piece;
    rv_sb_init(&piece);
    rv_sb_clear(sb);
    size_t *off = rv_xmalloc((n + 1) * sizeof *off);
    for (size_t i = 0; i < n; i++) { off[i] = sb->len; rv_sb_put_cp(sb, w[i]); }
    off[n] = sb->len;
    while (start < n) {
        int32_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            if (start == 0) id = vocab_get(t, sb->s, off[end]);
            else {
                rv_sb_clear(&piece);
                rv_sb_puts(&piece, "##");
                rv_sb_append(&piece, sb->s + off[start], off[end] - off[start]);
                id = vocab_get(t, piece.s, piece.len);
            }
            if (id >= 0) break;
        }
        if (id < 0) { out->n = mark; rv_ids_push(out, t->spec_id[RV_TT_UNK]); break; }
        rv_ids_push(out, id);
        start = end;
    }
    free(off);
    rv_sb_free(&piece);
}

void rv_tt_wordpiece_encode(const rv_text_tok *t, const char *s, size_t n, rv_ids *out) {
    cpv in = {0}, a = {0}, b = {0}, tmp = {0};
    cp_decode(s, n, &in);
    /* _clean_text and _tokenize_chinese_chars */
    for (size_t i = 0; i < in.n; i++) {
        uint32_t c = in.v[i];
        if (c == 0 || c == 0xFFFD || is_bert_ctrl(c)) continue;
        if (is_bert_ws(c)) cp_push(&a, ' ');
        else if (t->chinese && is_cjk(c)) { cp_push(&a, ' '); cp_push(&a, c); cp_push(&a, ' '); }
        else cp_push(&a, c);
    }
    /* NFC of the whole text */
    rv_sb sb, nf;
    rv_sb_init(&sb);
    rv_sb_init(&nf);
    bool ascii = true;
    for (size_t i = 0; i < a.n && ascii; i++) ascii = a.v[i] < 0x80;
    if (!ascii) {
        cp_encode(a.v, a.n, &sb);
        if (!rv_nfc_quick_yes(sb.s, sb.len)) {
            rv_nfc_append(sb.s, sb.len, &nf);
            cp_decode(nf.s, nf.len, &a);
        }
    }
    /* words (str.split()), each lower-cased / accent-stripped, then split at punctuation */
    for (size_t i = 0; i < a.n;) {
        while (i < a.n && is_py_space(a.v[i])) i++;
        size_t j = i;
        while (j < a.n && !is_py_space(a.v[j])) j++;
        if (j == i) break;
        const uint32_t *w = a.v + i;
        size_t wn = j - i;
        b.n = 0;
        if (t->lower) {
            cpv lo = {0};
            py_lower(w, wn, &lo);
            if (t->strip_accents) strip_accents(lo.v, lo.n, &tmp, &b);
            else for (size_t k = 0; k < lo.n; k++) cp_push(&b, lo.v[k]);
            free(lo.v);
        } else if (t->strip_accents) strip_accents(w, wn, &tmp, &b);
        else for (size_t k = 0; k < wn; k++) cp_push(&b, w[k]);
        /* punctuation split, then whitespace split of the pieces (" ".join(...).split()) */
        size_t k = 0;
        while (k < b.n) {
            if (is_py_space(b.v[k])) { k++; continue; }
            if (is_bert_punct(b.v[k])) { wordpiece(t, b.v + k, 1, &sb, out); k++; continue; }
            size_t e = k;
            while (e < b.n && !is_bert_punct(b.v[e]) && !is_py_space(b.v[e])) e++;
            wordpiece(t, b.v + k, e - k, &sb, out);
            k = e;
        }
        i = j;
    }
    rv_sb_free(&sb);
    rv_sb_free(&nf);
    free(in.v);
    free(a.v);
    free(b.v);
    free(tmp.v);
}

/* ---- loading ---- */

/* vocab.txt: one token a line, id = line number; Python's universal newlines (\n, \r\n, \r)
 * end a line and only the line end is removed (load_vocab). */
static int load_vocab_txt(rv_text_tok *t, const char *path, rv_err *err) {
    char *data;
    size_t len;
    if (rv_read_file(path, &data, &len, err)) return -1;
    if (!rv_utf8_valid(data, len)) {
        free(data);
        return rv_fail(err, "%s: not valid UTF-8 (at byte %zu)", path, rv_utf8_first_invalid(data, len));
    }
    int32_t id = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r') j++;
        rv_tt_set_piece(t, id++, data + i, j - i);
        if (j < len && data[j] == '\r' && j + 1 < len && data[j + 1] == '\n') j++;
        i = j + 1;
    }
    free(data);
    if (id == 0) return rv_fail(err, "%s: empty vocabulary", path);
    return 0;
}

static int load_vocab_json_wp(rv_text_tok *t, const char *path, cJSON *root, bool *lower, int *strip, bool *chinese,
                              rv_err *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "WordPiece"))
        return rv_fail(err, "%s: model.type must be \"WordPiece\" for a BERT tokenizer", path);
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    if (cJSON_IsString(pre) && strcmp(pre->valuestring, "##"))
        return rv_fail(err, "%s: continuing_subword_prefix '%s' is not supported (\"##\")", path, pre->valuestring);
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (cJSON_IsNumber(mc) && mc->valuedouble >= 1 && mc->valuedouble < 1e6) t->max_chars = (int)mc->valuedouble;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return rv_fail(err, "%s: model.vocab must be an object {token: id}", path);
    for (const cJSON *v = vocab->child; v; v = v->next) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e8 || v->valuedouble != (int32_t)v->valuedouble)
            return rv_fail(err, "%s: model.vocab['%s'] must be a non-negative integer id", path, v->string);
        rv_tt_set_piece(t, (int32_t)v->valuedouble, v->string, strlen(v->string));
    }
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(norm, "type");
    if (cJSON_IsString(nt) && !strcmp(nt->valuestring, "BertNormalizer")) {
        const cJSON *lc = cJSON_GetObjectItemCaseSensitive(norm, "lowercase");
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(norm, "strip_accents");
        const cJSON *hc = cJSON_GetObjectItemCaseSensitive(norm, "handle_chinese_chars");
        if (cJSON_IsBool(lc)) *lower = cJSON_IsTrue(lc);
        if (cJSON_IsBool(sa)) *strip = cJSON_IsTrue(sa);
        if (cJSON_IsBool(hc)) *chinese = cJSON_IsTrue(hc);
    }
    return 0;
}

/* A special token's spelling from tokenizer_config.json: a string or {"content": ...}. */
static const char *special_of(const cJSON *cfg, const char *key, const char *def) {
    const cJSON *v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : NULL;
    return cJSON_IsString(c) ? c->valuestring : def;
}

int rv_tt_load_wordpiece(rv_text_tok *t, const char *dir, const rv_text_tok_opts *o, rv_err *err) {
    char *vt = rv_path_join(dir, "vocab.txt"), *tj = rv_path_join(dir, "tokenizer.json"),
         *tc = rv_path_join(dir, "tokenizer_config.json");
    cJSON *cfg = NULL, *root = NULL;
    int rc = 0, strip = -1; /* strip_accents: -1 = None (follow lower-casing) */
    bool lower = true, chinese = true;
    t->kind = RV_TT_WORDPIECE;
    t->max_chars = 100;
    if (rv_is_file(tc)) {
        cfg = rv_json_parse_file(tc, err);
        if (!cfg) rc = -1;
    }
    if (!rc && cfg) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "do_lower_case");
        if (cJSON_IsBool(v)) lower = cJSON_IsTrue(v);
        v = cJSON_GetObjectItemCaseSensitive(cfg, "strip_accents");
        if (cJSON_IsBool(v)) strip = cJSON_IsTrue(v);
        v = cJSON_GetObjectItemCaseSensitive(cfg, "tokenize_chinese_chars");
        if (cJSON_IsBool(v)) chinese = cJSON_IsTrue(v);
    }
    if (!rc) {
        if (rv_is_file(vt)) {
            t->src = rv_xstrdup(vt);
            rc = load_vocab_txt(t, vt, err);
        } else if (rv_is_file(tj)) {
            t->src = rv_xstrdup(tj);
            root = rv_json_parse_file(tj, err);
            rc = root ? load_vocab_json_wp(t, tj, root, &lower, &strip, &chinese, err) : -1;
        } else rc = rv_fail(err, "%s: no vocab.txt or tokenizer.json (a BERT tokenizer needs one)", dir);
    }
    if (!rc && o && o->lower_case >= 0) lower = o->lower_case != 0;
    t->lower = lower;
    t->strip_accents = strip < 0 ? lower : strip != 0;
    t->chinese = chinese;
    static const char *const keys[RV_TT_NSPEC] = {"cls_token", "sep_token", "pad_token", "unk_token", "mask_token"};
    static const char *const defs[RV_TT_NSPEC] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};
    for (int i = 0; !rc && i < RV_TT_NSPEC; i++) {
        t->spec[i] = rv_xstrdup(special_of(cfg, keys[i], defs[i]));
        t->spec_id[i] = vocab_get(t, t->spec[i], strlen(t->spec[i]));
        if (t->spec_id[i] < 0 && i != RV_TT_MASK)
            rc = rv_fail(err, "%s: the vocabulary has no %s token '%s' (a BERT vocabulary has [CLS], [SEP], [PAD] "
                         "and [UNK])", t->src, keys[i], t->spec[i]);
    }
    cJSON_Delete(cfg);
    cJSON_Delete(root);
    free(vt);
    free(tj);
    free(tc);
    return rc;
}
