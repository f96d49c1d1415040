/* RoBERTa's byte-level BPE (as transformers' RobertaTokenizer): GPT-2's pre-tokenizer split,
 * each piece's UTF-8 bytes through the BPE merges of tokenizer/bpe.h. Files: vocab.json +
 * merges.txt (read as the slow tokenizer reads them), or tokenizer.json (model.type "BPE"). */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/strbuf.h"
#include "io/json.h"
#include "io/utf8.h"
#include "textenc/text_tok_impl.h"
#include "tokenizer/uni_cursor.h"

/* ---- GPT-2 pre-tokenizer ---- */

#define IS_L(c) ((c).len && ((c).fl & RV_UNI_L))
#define IS_N(c) ((c).len && ((c).fl & RV_UNI_N))
#define IS_WS(c) ((c).len && ((c).fl & RV_UNI_WS))
#define IS_OTHER(c) rv_uc_is_other(c)

/* The alternatives in order; the first that matches at pos wins (regex semantics). */
size_t rv_gpt2_next(const char *s, size_t n, size_t pos) {
    rv_uc_char c0 = rv_uc_at(s, n, pos);
    size_t p1 = pos + c0.len;
    rv_uc_char c1 = rv_uc_at(s, n, p1);
    /* 's|'t|'re|'ve|'m|'ll|'d (case-sensitive) */
    if (c0.cp == '\'' && c1.len) {
        if (c1.cp == 's' || c1.cp == 't' || c1.cp == 'm' || c1.cp == 'd') return p1 + 1;
        rv_uc_char c2 = rv_uc_at(s, n, p1 + 1);
        if (((c1.cp == 'r' || c1.cp == 'v') && c2.cp == 'e') || (c1.cp == 'l' && c2.cp == 'l')) return p1 + 2;
    }
    /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' */
    bool sp = c0.cp == ' ';
    rv_uc_char h = sp ? c1 : c0;
    size_t hp = sp ? p1 : pos;
    if (IS_L(h)) return rv_uc_run(s, n, hp, RV_UNI_L);
    if (IS_N(h)) return rv_uc_run(s, n, hp, RV_UNI_N);
    if (IS_OTHER(h)) return rv_uc_run_other(s, n, hp);
    /* '\s+(?!\S)' then '\s+': a whitespace run followed by a non-space keeps its last character
     * for the next piece (unless the run is that one character) */
    size_t end = rv_uc_run(s, n, pos, RV_UNI_WS);
    if (end == n || end == p1) return end;
    size_t last = pos; /* start of the run's last character */
    for (size_t q = pos; q < end;) {
        last = q;
        q += rv_uc_at(s, n, q).len;
    }
    return last;
}

/* ---- encode ---- */

void rv_tt_bytebpe_encode(const rv_text_tok *t, const char *s, size_t n, rv_ids *out) {
    for (size_t pos = 0; pos < n;) {
        size_t end = rv_gpt2_next(s, n, pos);
        rv_bpe_encode_piece(&t->bpe, (const unsigned char *)s + pos, end - pos, out, 0);
        pos = end;
    }
}

/* ---- loading ---- */

static int32_t piece_id(const rv_text_tok *t, const char *s, size_t n) {
    size_t v = rv_smap_getn(&t->map, s, n);
    return v == RV_MAP_NONE ? -1 : (int32_t)v;
}

static int add_vocab(rv_text_tok *t, const char *path, const cJSON *vocab, rv_err *err) {
    if (!cJSON_IsObject(vocab)) return rv_fail(err, "%s: the vocabulary must be a JSON object {token: id}", path);
    for (const cJSON *v = vocab->child; v; v = v->next) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e8 || v->valuedouble != (int32_t)v->valuedouble)
            return rv_fail(err, "%s: vocab['%s'] must be a non-negative integer id", path, v->string);
        rv_tt_set_piece(t, (int32_t)v->valuedouble, v->string, strlen(v->string));
    }
    return 0;
}

/* Byte-level tokens into the BPE model (spellings outside the byte alphabet, like added
 * tokens, stay pieces only). */
static void build_bpe(rv_text_tok *t, size_t n_merges) {
    rv_bpe_init(&t->bpe, t->n_ids, n_merges);
    rv_sb b;
    rv_sb_init(&b);
    for (size_t id = 0; id < t->n_ids; id++) {
        if (!t->piece[id]) continue;
        rv_sb_clear(&b);
        if (rv_bytelevel_decode(t->piece[id], strlen(t->piece[id]), &b) == 0 && b.len)
            (void)rv_bpe_add_token(&t->bpe, (int32_t)id, (const unsigned char *)b.s, b.len);
    }
    rv_sb_free(&b);
}

static int add_merge(rv_text_tok *t, const char *path, size_t line, const char *a, size_t an, const char *b, size_t bn,
                     rv_err *err) {
    int32_t ia = piece_id(t, a, an), ib = piece_id(t, b, bn);
    if (ia < 0 || ib < 0)
        return rv_fail(err, "%s: merge %zu ('%.*s %.*s'): '%.*s' is not in the vocabulary", path, line, (int)an, a,
                       (int)bn, b, ia < 0 ? (int)an : (int)bn, ia < 0 ? a : b);
    if (rv_bpe_add_merge(&t->bpe, ia, ib))
        return rv_fail(err, "%s: merge %zu ('%.*s %.*s'): the merged token is not in the vocabulary", path, line,
                       (int)an, a, (int)bn, b);
    return 0;
}

/* merges.txt as the slow tokenizer reads it: split("\n")[1:-1] (the first line is the
 * "#version" header, the last is what follows the final newline), each line split on
 * whitespace into exactly two parts. */
static int load_merges_txt(rv_text_tok *t, const char *path, rv_err *err) {
    char *data;
    size_t len;
    if (rv_read_file(path, &data, &len, err)) return -1;
    if (!rv_utf8_valid(data, len)) {
        free(data);
        return rv_fail(err, "%s: not valid UTF-8 (at byte %zu)", path, rv_utf8_first_invalid(data, len));
    }
    size_t nl = 0;
    for (size_t i = 0; i < len; i++) nl += data[i] == '\n';
    build_bpe(t, nl);
    int rc = 0;
    size_t line = 0;
    for (size_t i = 0; i < len && !rc; line++) {
        size_t j = i;
        while (j < len && data[j] != '\n') j++;
        bool last = j == len; /* no newline after it: the [:-1] drops it */
        if (line > 0 && !last) {
            const char *p = data + i, *e = data + j;
            const char *parts[3];
            size_t plen[3];
            int np = 0;
            while (p < e && np < 3) {
                while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' || *p == '\f')) p++;
                if (p == e) break;
                const char *q = p;
                while (q < e && !(*q == ' ' || *q == '\t' || *q == '\r' || *q == '\v' || *q == '\f')) q++;
                parts[np] = p, plen[np] = (size_t)(q - p), np++;
                p = q;
            }
            if (np != 2)
                rc = rv_fail(err, "%s: line %zu: a merge is two tokens separated by a space", path, line + 1);
            else rc = add_merge(t, path, line + 1, parts[0], plen[0], parts[1], plen[1], err);
        }
        i = j + 1;
    }
    free(data);
    return rc;
}

static int load_tokenizer_json(rv_text_tok *t, const char *path, bool *prefix_space, rv_err *err) {
    cJSON *root = rv_json_parse_file(path, err);
    if (!root) return -1;
    int rc = 0;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE"))
        rc = rv_fail(err, "%s: model.type must be \"BPE\" for a RoBERTa tokenizer", path);
    if (!rc) rc = add_vocab(t, path, cJSON_GetObjectItemCaseSensitive(model, "vocab"), err);
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; !rc && a; a = a->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id"), *ct = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (cJSON_IsNumber(id) && cJSON_IsString(ct) && id->valuedouble >= 0 && id->valuedouble < 1e8)
            rv_tt_set_piece(t, (int32_t)id->valuedouble, ct->valuestring, strlen(ct->valuestring));
    }
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!rc && !cJSON_IsArray(merges)) rc = rv_fail(err, "%s: model.merges must be an array", path);
    if (!rc) build_bpe(t, (size_t)cJSON_GetArraySize(merges));
    size_t line = 0;
    for (const cJSON *m = rc ? NULL : merges->child; m && !rc; m = m->next, line++) {
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' '))
                rc = rv_fail(err, "%s: model.merges[%zu] '%s' is not two tokens separated by one space", path, line, s);
            else rc = add_merge(t, path, line, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), err);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            rc = add_merge(t, path, line, a, strlen(a), b, strlen(b), err);
        } else rc = rv_fail(err, "%s: model.merges[%zu] must be \"a b\" or [\"a\", \"b\"]", path, line);
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *aps = cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space");
    if (cJSON_IsBool(aps)) *prefix_space = cJSON_IsTrue(aps);
    cJSON_Delete(root);
    return rc;
}

int rv_tt_load_bytebpe(rv_text_tok *t, const char *dir, const rv_text_tok_opts *o, rv_err *err) {
    char *vj = rv_path_join(dir, "vocab.json"), *mt = rv_path_join(dir, "merges.txt"),
         *tj = rv_path_join(dir, "tokenizer.json"), *tc = rv_path_join(dir, "tokenizer_config.json");
    cJSON *cfg = NULL;
    int rc = 0;
    bool prefix = false;
    t->kind = RV_TT_BYTEBPE;
    if (rv_is_file(tc) && !(cfg = rv_json_parse_file(tc, err))) rc = -1;
    if (!rc) {
        if (rv_is_file(vj)) {
            t->src = rv_xstrdup(vj);
            cJSON *v = rv_json_parse_file(vj, err);
            rc = v ? add_vocab(t, vj, v, err) : -1;
            cJSON_Delete(v);
            if (!rc && !rv_is_file(mt)) rc = rv_fail(err, "%s: missing (vocab.json needs its merges.txt)", mt);
            if (!rc) rc = load_merges_txt(t, mt, err);
        } else if (rv_is_file(tj)) {
            t->src = rv_xstrdup(tj);
            rc = load_tokenizer_json(t, tj, &prefix, err);
        } else rc = rv_fail(err, "%s: no vocab.json + merges.txt or tokenizer.json (a RoBERTa tokenizer needs one)", dir);
    }
    const cJSON *aps = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "add_prefix_space") : NULL;
    if (cJSON_IsBool(aps)) prefix = cJSON_IsTrue(aps);
    if (o && o->add_prefix_space >= 0) prefix = o->add_prefix_space != 0;
    t->prefix_space = prefix;
    static const char *const keys[RV_TT_NSPEC] = {"cls_token", "sep_token", "pad_token", "unk_token", "mask_token"};
    static const char *const defs[RV_TT_NSPEC] = {"<s>", "</s>", "<pad>", "<unk>", "<mask>"};
    for (int i = 0; !rc && i < RV_TT_NSPEC; i++) {
        const cJSON *v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, keys[i]) : NULL;
        const cJSON *c = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : v;
        t->spec[i] = rv_xstrdup(cJSON_IsString(c) ? c->valuestring : defs[i]);
        t->spec_id[i] = piece_id(t, t->spec[i], strlen(t->spec[i]));
        if (t->spec_id[i] < 0 && i != RV_TT_MASK)
            rc = rv_fail(err, "%s: the vocabulary has no %s '%s' (a RoBERTa vocabulary has <s>, </s>, <pad> and <unk>)",
                         t->src, keys[i], t->spec[i]);
    }
    if (!rc && !t->bpe.n_ids) rc = rv_fail(err, "%s: empty vocabulary", t->src);
    cJSON_Delete(cfg);
    free(vj);
    free(mt);
    free(tj);
    free(tc);
    return rc;
}
